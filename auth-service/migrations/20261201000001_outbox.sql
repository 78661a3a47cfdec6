-- The transactional outbox (common::events::outbox): an event is written
-- in the transaction of the change it announces, and a relay in every
-- replica publishes unsent rows to JetStream and marks them sent. The same
-- table exists in commerce-service's database.
create table outbox (
    id         bigint generated always as identity primary key,
    -- JetStream's Nats-Msg-Id: a row published twice is stored once.
    event_id   uuid not null constraint outbox_event_id_key unique,
    -- Before the deployment's namespace, e.g. auth.session.ended.
    subject    text not null,
    -- The whole envelope: {"v":1,"id":...,"occurred_at":...,"type":...,"data":...}.
    payload    jsonb not null,
    -- clock_timestamp(): a row's time is when it was written, not when its
    -- transaction began, so the relay's watermark never runs ahead of it.
    created_at timestamptz not null default clock_timestamp(),
    sent_at    timestamptz
);
create index outbox_unsent on outbox (id) where sent_at is null;
create index outbox_sent on outbox (sent_at) where sent_at is not null;
