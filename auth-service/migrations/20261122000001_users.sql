-- Users of the shop. Sessions, refresh tokens, codes and limits live in
-- Redis; PostgreSQL holds who a user is and whether they are active.
create table users (
    id            bigint generated always as identity primary key,
    phone         text,
    email         text,
    password_hash text,
    role          text not null default 'customer',
    market        text not null,
    is_active     boolean not null default true,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    deleted_at    timestamptz,
    constraint users_role_check check (role in ('customer', 'admin')),
    constraint users_phone_e164_check check (phone is null or phone ~ '^\+[1-9][0-9]{6,14}$'),
    constraint users_email_lower_check check (email is null or email = lower(email)),
    constraint users_identity_check check (phone is not null or email is not null or deleted_at is not null)
);

-- One account per number and per email; erased accounts free theirs.
create unique index users_phone_key on users (phone);
create unique index users_email_key on users (email);
