-- Catalog, carts, wishlists and orders. Users live in auth-service: a
-- user id here is auth-service's id, with no foreign key across services.
create extension if not exists pg_trgm;

create table markets (
    code     text primary key,
    currency text not null,
    name     text not null,
    constraint markets_code_check check (code ~ '^[a-z]{2,8}$'),
    constraint markets_currency_check check (currency ~ '^[A-Z]{3}$')
);

create table products (
    id          bigint generated always as identity primary key,
    slug        text not null,
    name        text not null,
    description text not null default '',
    is_active   boolean not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint products_slug_key unique (slug),
    constraint products_slug_check check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    constraint products_name_check check (length(name) between 1 and 200)
);
-- `q` search is a substring match on the name, served by a trigram index.
create index products_name_trgm on products using gin (name gin_trgm_ops);

create table skus (
    id         bigint generated always as identity primary key,
    product_id bigint not null references products (id),
    code       text not null,
    attributes jsonb not null default '{}',
    stock      integer not null,
    is_active  boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint skus_code_key unique (code),
    constraint skus_stock_check check (stock >= 0),
    constraint skus_attributes_check check (jsonb_typeof(attributes) = 'object')
);
create index skus_product_id on skus (product_id);

create table prices (
    sku_id       bigint not null references skus (id),
    market       text not null references markets (code),
    amount_minor bigint not null,
    primary key (sku_id, market),
    constraint prices_amount_check check (amount_minor >= 0)
);
create index prices_market on prices (market, sku_id);

create table carts (
    id         bigint generated always as identity primary key,
    user_id    bigint not null,
    market     text not null references markets (code),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint carts_user_market_key unique (user_id, market)
);

create table cart_items (
    cart_id  bigint not null references carts (id) on delete cascade,
    sku_id   bigint not null references skus (id),
    quantity integer not null,
    added_at timestamptz not null default now(),
    primary key (cart_id, sku_id),
    constraint cart_items_quantity_check check (quantity between 1 and 99)
);

create table wishlists (
    id         bigint generated always as identity primary key,
    user_id    bigint not null,
    created_at timestamptz not null default now(),
    constraint wishlists_user_key unique (user_id)
);

create table wishlist_items (
    wishlist_id bigint not null references wishlists (id) on delete cascade,
    product_id  bigint not null references products (id),
    added_at    timestamptz not null default now(),
    primary key (wishlist_id, product_id)
);

create sequence order_number_seq;

create table orders (
    id               bigint generated always as identity primary key,
    order_number     text not null,
    user_id          bigint not null,
    market           text not null references markets (code),
    currency         text not null,
    status           text not null default 'pending',
    subtotal_minor   bigint not null,
    total_minor      bigint not null,
    note             text,
    shipping_address jsonb,
    confirm_by       timestamptz not null,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint orders_order_number_key unique (order_number),
    constraint orders_status_check check (status in ('pending', 'confirmed', 'processing', 'shipped', 'delivered', 'cancelled')),
    constraint orders_totals_check check (subtotal_minor >= 0 and total_minor >= 0)
);
create index orders_user_id on orders (user_id, id desc);
create index orders_status on orders (status, id desc);
create index orders_pending_deadline on orders (confirm_by) where status = 'pending';

create table order_lines (
    order_id         bigint not null references orders (id),
    sku_id           bigint not null references skus (id),
    product_id       bigint not null references products (id),
    name             text not null,
    quantity         integer not null,
    unit_price_minor bigint not null,
    line_total_minor bigint not null,
    primary key (order_id, sku_id),
    constraint order_lines_quantity_check check (quantity between 1 and 99),
    constraint order_lines_total_check check (line_total_minor = unit_price_minor * quantity)
);

create table order_status_history (
    id       bigint generated always as identity primary key,
    order_id bigint not null references orders (id),
    status   text not null,
    at       timestamptz not null default clock_timestamp()
);
create index order_status_history_order on order_status_history (order_id, id);

-- A committed checkout binds its key; kept at least 24 h (not pruned yet).
create table idempotency_keys (
    user_id    bigint not null,
    key        text not null,
    order_id   bigint not null references orders (id),
    created_at timestamptz not null default now(),
    primary key (user_id, key),
    constraint idempotency_keys_key_check check (length(key) between 1 and 255)
);
