-- tgdesk:no-transaction
-- requests_active_created and requests_one_active_per_user index the same
-- rows (open and assigned requests). With both, the planner could pick the
-- one on created_at to find a user's active request - a walk over every
-- active request - whenever the statistics lagged behind a growing backlog
-- (seen with a million stored requests). /list sorts the active requests
-- itself; a user's lookup now has one index to take.
DROP INDEX CONCURRENTLY IF EXISTS requests_active_created;
