-- Revocation is recorded here before it is acknowledged; Redis stays the
-- fast path. A Redis that loses its last writes (a crash between fsyncs,
-- a failover to a replica that lagged) can bring a session record back,
-- but never past these rows: every token check and every refresh reads
-- them in the query it already makes.

-- Tokens issued before this time (unix seconds) are refused: logout-all,
-- deactivation, account deletion.
alter table users add column tokens_not_before bigint;

-- Sessions that ended (logout, session deleted, refresh reuse, password
-- change, logout-all), kept until no token of theirs could still be
-- presented; a periodic job prunes the rest.
create table revoked_sessions (
    session_id uuid primary key,
    user_id    bigint not null references users (id),
    revoked_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index revoked_sessions_expiry on revoked_sessions (expires_at);
