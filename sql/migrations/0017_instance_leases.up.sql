-- One lease per sender instance instead of one per chat slot: the
-- instance's row runs until expires_at (renewed about once a second), and
-- every chat_leases row naming it is its own while it runs. So the renewal
-- is one row however many chats an instance sends to.
--
-- prev_expires_at: the expiry a renewal replaced, so that the renewal can
-- tell whether the lease had lapsed (and another instance may have taken
-- its slots) in the same statement.
--
-- A rolling deploy across this migration: instances of the older build can
-- no longer renew and stop sending when their slot leases run out locally
-- (10 s at most); the new ones take the slots once the old instances'
-- rows have expired (the new column's default makes them expired at once).
ALTER TABLE sender_instances
    ADD COLUMN expires_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    ADD COLUMN prev_expires_at timestamptz;

ALTER TABLE chat_leases
    DROP COLUMN expires_at,
    ADD COLUMN taken_at timestamptz NOT NULL DEFAULT clock_timestamp();
