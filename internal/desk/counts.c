#include "desk/counts.h"

#include "db/pool.h"

#define SQL_ACTIVE                                    \
    "SELECT count(*) FILTER (WHERE status = 'open')," \
    " count(*) FILTER (WHERE status = 'assigned')"    \
    " FROM requests WHERE status IN ('open', 'assigned')"
#define SQL_FINISHED                                    \
    "SELECT count(*) FILTER (WHERE status = 'solved')," \
    " count(*) FILTER (WHERE status = 'closed')"        \
    " FROM requests WHERE status IN ('solved', 'closed')"

/* Runs sql, which answers two counts, into *ret_a and *ret_b. */
static int two_counts(struct pool_conn *c, const char *name, const char *sql, int64_t *ret_a,
                      int64_t *ret_b)
{
    int64_t v[2];
    int rc = pool_exec_counts(c, name, sql, 2, v);
    if (rc == 0) {
        *ret_a = v[0];
        *ret_b = v[1];
    }
    return rc;
}

int desk_counts_active(struct pool_conn *c, int64_t *ret_open, int64_t *ret_assigned)
{
    return two_counts(c, "desk_counts_active", SQL_ACTIVE, ret_open, ret_assigned);
}

int desk_counts_finished(struct pool_conn *c, int64_t *ret_solved, int64_t *ret_closed)
{
    return two_counts(c, "desk_counts_finished", SQL_FINISHED, ret_solved, ret_closed);
}
