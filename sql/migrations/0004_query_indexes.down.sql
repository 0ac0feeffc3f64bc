-- tgdesk:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS requests_assigned_admin;
DROP INDEX CONCURRENTLY IF EXISTS logs_request_id;
DROP INDEX CONCURRENTLY IF EXISTS requests_status_updated;
