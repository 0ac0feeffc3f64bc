ALTER TABLE chat_leases
    DROP COLUMN taken_at,
    ADD COLUMN expires_at timestamptz NOT NULL DEFAULT clock_timestamp();

ALTER TABLE sender_instances
    DROP COLUMN prev_expires_at,
    DROP COLUMN expires_at;
