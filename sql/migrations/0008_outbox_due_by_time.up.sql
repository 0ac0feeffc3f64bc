-- tgdesk:no-transaction
-- outbox_due was (next_attempt_at, id). With id in it, a generic plan made
-- while the outbox looked empty (a fresh database, before its first ANALYZE)
-- looked up "id = ANY(...)" - the sender marking rows sent - through this
-- index: one walk over every pending entry, dead ones included, per id.
-- Under load that was a third of PostgreSQL's time. The recovery scan needs
-- the time only; ids are found through the primary key.
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_due_at ON outbox (next_attempt_at)
    WHERE status = 'pending';
DROP INDEX CONCURRENTLY IF EXISTS outbox_due;
