#include "outbox/stats.h"

#include <errno.h>
#include <stdlib.h>

#include "db/pool.h"
#include "util/strnum.h"

#define SQL_BACKLOG                                                             \
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)" \
    " FROM outbox WHERE status = 'pending'"
#define SQL_FAILED "SELECT count(*) FROM outbox WHERE status = 'failed'"

int outbox_stats_backlog(struct pool_conn *c, struct outbox_backlog *ret)
{
    PGresult *r = pool_exec_sql(c, "outbox_stats_backlog", SQL_BACKLOG);
    int rc = -EIO;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 2 &&
        strnum_i64(PQgetvalue(r, 0, 0), 0, INT64_MAX, &ret->pending) == 0) {
        char *end = NULL;
        ret->oldest_pending_s = strtod(PQgetvalue(r, 0, 1), &end);
        rc = end && *end == '\0' ? 0 : -EIO;
    }
    PQclear(r);
    return rc;
}

int outbox_stats_failed(struct pool_conn *c, int64_t *ret)
{
    return pool_exec_counts(c, "outbox_stats_failed", SQL_FAILED, 1, ret);
}
