-- tgdesk:no-transaction
-- Every index costs each insert. Measured on the hot path (bench/run.sh),
-- two earned nothing back:
--  * outbox_chat_pending: the sender keeps per-chat order in memory and the
--    recovery path reads due rows through outbox_due; no query used it.
--  * requests_status_updated: every new request paid for it, while /stats
--    counts statuses rarely. Resolution times read only resolved requests, so
--    a partial index on those serves the same queries for a fraction.

DROP INDEX CONCURRENTLY IF EXISTS outbox_chat_pending;
DROP INDEX CONCURRENTLY IF EXISTS requests_status_updated;
CREATE INDEX CONCURRENTLY IF NOT EXISTS requests_resolved
    ON requests (resolved_at) WHERE resolved_at IS NOT NULL;
