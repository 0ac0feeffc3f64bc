#include "outbox/prune.h"

#include "db/locks.h"
#include "util/strnum.h"

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
    {"outbox_forget",
     "DELETE FROM outbox WHERE chat_id = $1"
     " OR request_id IN (SELECT id FROM requests WHERE user_id = $1)"
     " OR payload::text LIKE ANY (coalesce($2::text[], '{}'))",
     2},
};
const size_t outbox_prune_statements_count =
    sizeof(outbox_prune_statements) / sizeof(outbox_prune_statements[0]);

int64_t outbox_prune(struct pool_conn *c, int days, int limit)
{
    return pool_run_rows_ints(c, "outbox_prune", (const int64_t[]){days, limit}, 2, NULL);
}

int64_t outbox_drop_notifications(struct pool_conn *c, int64_t user_id, char *sqlstate)
{
    return pool_run_rows_ints(c, "outbox_drop_notifications", (const int64_t[]){user_id}, 1,
                              sqlstate);
}

int64_t outbox_forget(struct pool_conn *c, int64_t user_id, const char *patterns, char *sqlstate)
{
    char uid[STRNUM_I64_MAX];
    strnum_fmt_i64(uid, user_id);
    return pool_run_rows(c, "outbox_forget", 2, (const char *[]){uid, patterns}, sqlstate);
}
