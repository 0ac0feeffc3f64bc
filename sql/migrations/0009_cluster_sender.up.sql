-- Several instances, one sender per chat.

-- The instances that send: each writes its heartbeat about once a second;
-- the live ones (a heartbeat in the last 3 seconds) share
-- TELEGRAM_GLOBAL_RPS between them.
CREATE TABLE sender_instances (
    instance     text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Which instance sends the messages of a chat slot (the chat id modulo
-- 1024): it holds the slot until expires_at (clock_timestamp() when taken
-- or renewed, plus the lease; renewed about once a second while it has work
-- there, deleted once it has none). Another instance takes the slot only
-- once the lease has expired.
CREATE TABLE chat_leases (
    slot       integer PRIMARY KEY CHECK (slot >= 0 AND slot < 1024),
    instance   text NOT NULL,
    expires_at timestamptz NOT NULL
);
