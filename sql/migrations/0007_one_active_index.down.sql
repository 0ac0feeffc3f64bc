-- tgdesk:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS requests_active_created ON requests (created_at)
    WHERE status IN ('open', 'assigned');
