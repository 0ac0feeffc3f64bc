-- tgdesk:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_due ON outbox (next_attempt_at, id)
    WHERE status = 'pending';
DROP INDEX CONCURRENTLY IF EXISTS outbox_due_at;
