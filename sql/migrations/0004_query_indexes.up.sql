-- tgdesk:no-transaction
-- Indexes for staff queries, built without locking writers out: CREATE INDEX
-- CONCURRENTLY cannot run inside a transaction, so this file opts out.

-- /stats: counts by status and resolution times.
CREATE INDEX CONCURRENTLY IF NOT EXISTS requests_status_updated
    ON requests (status, updated_at);

-- Audit trail of one request (/history, investigations).
CREATE INDEX CONCURRENTLY IF NOT EXISTS logs_request_id
    ON logs ((context ->> 'request_id'))
    WHERE context ? 'request_id';

-- Requests a staff member holds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS requests_assigned_admin
    ON requests (assigned_admin)
    WHERE status = 'assigned';
