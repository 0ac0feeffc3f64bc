-- tgdesk:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS requests_resolved;
CREATE INDEX CONCURRENTLY IF NOT EXISTS requests_status_updated ON requests (status, updated_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_chat_pending ON outbox (chat_id, id)
    WHERE status = 'pending';
