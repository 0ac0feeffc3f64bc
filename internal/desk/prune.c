#include "desk/prune.h"

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
     " AND r.resolved_at < now() - make_interval(days => $1::int) LIMIT $2::int)",
     2},
};
const size_t desk_prune_statements_count =
    sizeof(desk_prune_statements) / sizeof(desk_prune_statements[0]);

int64_t desk_prune_updates(struct pool_conn *c, int hours, int limit)
{
    return pool_run_rows_ints(c, "desk_prune_updates", (const int64_t[]){hours, limit}, 2, NULL);
}

int64_t desk_prune_notifications(struct pool_conn *c, int limit)
{
    return pool_run_rows_ints(c, "desk_prune_notifications",
                              (const int64_t[]){DESK_NOTIFICATIONS_KEEP_DAYS, limit}, 2, NULL);
}
