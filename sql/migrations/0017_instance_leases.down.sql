-- Back to a lease per slot: every slot row gets its holder's expiry.
ALTER TABLE chat_leases
    DROP COLUMN taken_at,
    ADD COLUMN expires_at timestamptz;
UPDATE chat_leases l SET expires_at = coalesce(
    (SELECT i.expires_at FROM sender_instances i WHERE i.instance = l.instance), clock_timestamp());
ALTER TABLE chat_leases ALTER COLUMN expires_at SET NOT NULL;

ALTER TABLE sender_instances
    DROP COLUMN joined_at,
    DROP COLUMN prev_expires_at,
    DROP COLUMN expires_at;
