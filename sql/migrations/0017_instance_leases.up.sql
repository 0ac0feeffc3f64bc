-- One lease per sender instance instead of one per chat slot: the
-- instance's row runs until expires_at (renewed about once a second), and
-- every chat_leases row naming it is its own while it runs. So the renewal
-- is one row however many chats an instance sends to.
--
-- prev_expires_at: the expiry a renewal replaced, so that the renewal can
-- tell in the same statement whether the lease had lapsed (and another
-- instance may have taken its slots). joined_at: when the instance (re)joined
-- the instances that share TELEGRAM_GLOBAL_RPS; it sends only once every
-- other live instance has renewed since, and so counts it.

-- Slot rows whose old per-slot lease ran out were free in the old meaning.
DELETE FROM chat_leases WHERE expires_at <= clock_timestamp();

ALTER TABLE sender_instances
    ADD COLUMN expires_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    ADD COLUMN prev_expires_at timestamptz,
    ADD COLUMN joined_at timestamptz NOT NULL DEFAULT clock_timestamp();

-- A rolling deploy across this migration: an instance of the older build
-- can no longer renew, and keeps sending until its slot leases run out
-- locally. So its instance lease runs as long as the latest of them (every
-- holder gets a row, so that its slots can be taken once that has passed).
INSERT INTO sender_instances (instance, expires_at)
SELECT instance, max(expires_at) FROM chat_leases GROUP BY instance
ON CONFLICT (instance) DO UPDATE
    SET expires_at = greatest(sender_instances.expires_at, excluded.expires_at);

ALTER TABLE chat_leases
    DROP COLUMN expires_at,
    ADD COLUMN taken_at timestamptz NOT NULL DEFAULT clock_timestamp();
