#include "outbox/prune.h"

#include <stdio.h>

#include "db/locks.h"

const struct pool_stmt outbox_prune_statements[] = {
    {"outbox_prune",
     DB_RETENTION_LOCK_CTE
     "DELETE FROM outbox WHERE (SELECT got FROM lock) AND id IN ("
     " SELECT id FROM outbox WHERE status IN ('failed', 'sent')"
     " AND created_at < now() - make_interval(days => $1::int) LIMIT $2::int)",
     2},
    /* A user's requests, found through their user id (the desk's table). */
    {"outbox_drop_notifications",
     "DELETE FROM outbox WHERE status = 'pending' AND purpose = 'notify'"
     " AND request_id IN (SELECT id FROM requests WHERE user_id = $1)",
     1},
};
const size_t outbox_prune_statements_count =
    sizeof(outbox_prune_statements) / sizeof(outbox_prune_statements[0]);

int64_t outbox_prune(struct pool_conn *c, int days, int limit)
{
    char d[16], l[16];
    snprintf(d, sizeof(d), "%d", days);
    snprintf(l, sizeof(l), "%d", limit);
    const char *p[2] = {d, l};
    return pool_run_rows(c, "outbox_prune", 2, p, NULL);
}

int64_t outbox_drop_notifications(struct pool_conn *c, int64_t user_id, char *sqlstate)
{
    char u[24];
    snprintf(u, sizeof(u), "%lld", (long long)user_id);
    const char *p[1] = {u};
    return pool_run_rows(c, "outbox_drop_notifications", 1, p, sqlstate);
}
