#include "desk/counts.h"

#include "db/locks.h"
#include "db/pool.h"

#define SQL_ACTIVE                                    \
    "SELECT count(*) FILTER (WHERE status = 'open')," \
    " count(*) FILTER (WHERE status = 'assigned')"    \
    " FROM requests WHERE status IN ('open', 'assigned')"
/*
 * The finished requests are counted once for the whole cluster: whoever
 * finds the shared figures (bot_state 'requests_finished') older than
 * FINISHED_MAX_AGE_S and gets the key counts them and stores them; everyone
 * else takes the stored ones. With no stored figures and the key taken
 * elsewhere the answer is NULL: -EIO, tried again next round.
 */
#define FINISHED_MAX_AGE_S 300
#define SQL_FINISHED                                                                               \
    "WITH lock AS (SELECT pg_try_advisory_xact_lock(" DB_STR(                                      \
        DB_LOCK_COUNTS) ") AS got),"                                                               \
                        " cached AS (SELECT split_part(value, ' ', 1)::bigint AS solved,"          \
                        "   split_part(value, ' ', 2)::bigint AS closed,"                          \
                        "   updated_at > now() - interval '" DB_STR(                               \
                            FINISHED_MAX_AGE_S) " seconds' AS fresh"                               \
                                                "   FROM bot_state WHERE key = "                   \
                                                "'requests_finished'),"                            \
                                                " todo AS (SELECT NOT coalesce((SELECT fresh "     \
                                                "FROM cached), false) AND (SELECT got FROM lock)"  \
                                                "   AS count_now),"                                \
                                                " counted AS (SELECT count(*) FILTER (WHERE "      \
                                                "status = 'solved') AS solved,"                    \
                                                "   count(*) FILTER (WHERE status = 'closed') AS " \
                                                "closed"                                           \
                                                "   FROM requests WHERE status IN ('solved', "     \
                                                "'closed') AND (SELECT count_now FROM todo)),"     \
                                                " saved AS (INSERT INTO bot_state (key, value, "   \
                                                "updated_at)"                                      \
                                                "   SELECT 'requests_finished', solved || ' ' || " \
                                                "closed, now() FROM counted"                       \
                                                "   WHERE (SELECT count_now FROM todo)"            \
                                                "   ON CONFLICT (key) DO UPDATE SET value = "      \
                                                "excluded.value, updated_at = "                    \
                                                "excluded.updated_at)"                             \
                                                " SELECT CASE WHEN (SELECT count_now FROM todo) "  \
                                                "THEN (SELECT solved FROM counted)"                \
                                                "   ELSE (SELECT solved FROM cached) END,"         \
                                                " CASE WHEN (SELECT count_now FROM todo) THEN "    \
                                                "(SELECT closed FROM counted)"                     \
                                                "   ELSE (SELECT closed FROM cached) END"

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
