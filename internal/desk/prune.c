#include "desk/prune.h"

#include <stdio.h>

#include "db/locks.h"

const struct pool_stmt desk_prune_statements[] = {
    {"desk_prune_updates",
     DB_RETENTION_LOCK_CTE
     "DELETE FROM processed_updates WHERE (SELECT got FROM lock) AND update_id IN ("
     " SELECT update_id FROM processed_updates"
     " WHERE received_at < now() - make_interval(hours => $1::int) AND outcome <> 'dead'"
     " LIMIT $2::int)",
     2},
    {"desk_prune_notifications",
     DB_RETENTION_LOCK_CTE
     "DELETE FROM notifications WHERE (SELECT got FROM lock) AND (chat_id, message_id) IN ("
     " SELECT n.chat_id, n.message_id FROM notifications n JOIN requests r ON r.id = n.request_id"
     " WHERE r.status IN ('solved', 'closed')"
     " AND r.resolved_at < now() - make_interval(days => " DB_STR(
         DESK_NOTIFICATIONS_KEEP_DAYS) ")"
                                       " LIMIT $1::int)",
     1},
};
const size_t desk_prune_statements_count =
    sizeof(desk_prune_statements) / sizeof(desk_prune_statements[0]);

int64_t desk_prune_updates(struct pool_conn *c, int hours, int limit)
{
    char h[16], l[16];
    snprintf(h, sizeof(h), "%d", hours);
    snprintf(l, sizeof(l), "%d", limit);
    const char *p[2] = {h, l};
    return pool_run_rows(c, "desk_prune_updates", 2, p, NULL);
}

int64_t desk_prune_notifications(struct pool_conn *c, int limit)
{
    char l[16];
    snprintf(l, sizeof(l), "%d", limit);
    const char *p[1] = {l};
    return pool_run_rows(c, "desk_prune_notifications", 1, p, NULL);
}
