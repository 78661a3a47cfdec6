-- Guest carts and cart versions.
--
-- A guest cart is a cart owned by a token instead of a user: only the
-- SHA-256 of the token is kept. It expires after an idle time (pushed on
-- every use) and is swept by a periodic job; a merge consumes it (its lines
-- move to the customer's cart, the row stays until it expires so that a
-- repeated merge is recognised).
alter table carts alter column user_id drop not null;
alter table carts
    add column guest_token_hash bytea,
    add column expires_at       timestamptz,
    add column consumed_at      timestamptz,
    add constraint carts_guest_token_hash_key unique (guest_token_hash),
    add constraint carts_owner_check
        check ((user_id is null) <> (guest_token_hash is null)),
    add constraint carts_guest_expiry_check
        check ((guest_token_hash is null) = (expires_at is null));
create index carts_guest_expires_at on carts (expires_at) where guest_token_hash is not null;

-- The version a cart answer carries (cart/version.rs): it moves whenever
-- what the cart shows moves. The digests are of the last answer's content,
-- split in what is money (unit prices) and what is not (lines, names,
-- availability), and `lines_version` is the version at which the non-money
-- part last changed, so that a checkout can tell `price_changed` from
-- `cart_changed`.
alter table carts
    add column version       bigint not null default 0,
    add column lines_version bigint not null default 0,
    add column lines_digest  bytea,
    add column money_digest  bytea;

-- Guest carts created per client address and fixed window: the creation
-- limit, shared by every replica and written in the creating statement.
-- The sweeper removes past windows.
create table guest_cart_quota (
    client       text not null,
    window_start timestamptz not null,
    created      integer not null,
    primary key (client, window_start)
);
create index guest_cart_quota_window on guest_cart_quota (window_start);
