#include "outbox/admin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "db/array.h"
#include "db/conn.h"
#include "log.h"
#include "util/buf.h"
#include "util/strnum.h"

#define SQL_LIST_FAILED                                                                      \
    "SELECT id, method, chat_id, attempts,"                                                  \
    " greatest(extract(epoch FROM now() - created_at), 0)::bigint, coalesce(last_error, '')" \
    " FROM outbox WHERE status = 'failed' ORDER BY created_at DESC, id DESC"

/* One row per id asked for that is not a failed row; the count of the queued ones in each. */
#define SQL_RETRY                                                                     \
    "WITH want AS (SELECT DISTINCT unnest($1::bigint[]) AS id),"                      \
    " queued AS (UPDATE outbox o SET status = 'pending', attempts = 0,"               \
    " next_attempt_at = now() FROM want WHERE o.id = want.id AND o.status = 'failed'" \
    " RETURNING o.id)"                                                                \
    " SELECT (SELECT count(*) FROM queued),"                                          \
    " (SELECT string_agg(id::text, ' ' ORDER BY id) FROM want"                        \
    " WHERE id NOT IN (SELECT id FROM queued))"

#define SQL_RETRY_ALL                                                             \
    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now()" \
    " WHERE status = 'failed'"

static int failed(PGconn *conn, PGresult *r, const char *what)
{
    char err[512];
    LOG(LOG_ERROR, "outbox statement failed", LOG_STR("statement", what),
        LOG_STR("error", db_errmsg(conn, r, err, sizeof(err))));
    PQclear(r);
    return -EIO;
}

char *outbox_admin_age(int64_t secs, char *buf, size_t cap)
{
    if (secs < 0)
        secs = 0;
    if (secs < 60)
        snprintf(buf, cap, "%" PRId64 "s", secs);
    else if (secs < 3600)
        snprintf(buf, cap, "%" PRId64 "m %02" PRId64 "s", secs / 60, secs % 60);
    else if (secs < 86400)
        snprintf(buf, cap, "%" PRId64 "h %02" PRId64 "m", secs / 3600, secs % 3600 / 60);
    else
        snprintf(buf, cap, "%" PRId64 "d %02" PRId64 "h", secs / 86400, secs % 86400 / 3600);
    return buf;
}

/* Prints s on one line: control characters (newlines in an error) become spaces. */
static void put_one_line(FILE *out, const char *s)
{
    for (; *s; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, out);
}

int outbox_admin_list_failed(PGconn *conn, FILE *out)
{
    PGresult *r = PQexec(conn, SQL_LIST_FAILED);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) != 6)
        return failed(conn, r, "outbox_admin_list_failed");
    int n = PQntuples(r);
    if (n == 0) {
        fprintf(out, "no failed calls\n");
        PQclear(r);
        return 0;
    }
    fprintf(out, "%-10s %-22s %-16s %8s %-8s %s\n", "ID", "METHOD", "CHAT", "ATTEMPTS", "AGE",
            "REASON");
    for (int i = 0; i < n; i++) {
        int64_t age = 0;
        char agebuf[32];
        strnum_i64(PQgetvalue(r, i, 4), INT64_MIN, INT64_MAX, &age);
        fprintf(out, "%-10s %-22s %-16s %8s %-8s ", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                outbox_admin_age(age, agebuf, sizeof(agebuf)));
        put_one_line(out, PQgetvalue(r, i, 5));
        fputc('\n', out);
    }
    PQclear(r);
    return n;
}

int outbox_admin_retry(PGconn *conn, const int64_t *ids, size_t n, FILE *err, int64_t *ret_queued)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    db_array_open(&b);
    for (size_t i = 0; i < n; i++)
        db_array_i64(&b, ids[i]);
    const char *p[1] = {db_array_close(&b)};
    if (!p[0]) {
        buf_free(&b);
        return -ENOMEM;
    }
    PGresult *r = PQexecParams(conn, SQL_RETRY, 1, NULL, p, NULL, NULL, 0);
    buf_free(&b);
    int64_t queued = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 2 ||
        strnum_i64(PQgetvalue(r, 0, 0), 0, INT64_MAX, &queued) < 0)
        return failed(conn, r, "outbox_admin_retry");
    int rc = 0;
    if (!PQgetisnull(r, 0, 1)) {
        /* The ids are digits and spaces: one line per id. */
        const char *s = PQgetvalue(r, 0, 1);
        while (*s) {
            size_t len = strcspn(s, " ");
            fprintf(err, "tgdesk: outbox retry: %.*s is not a failed call\n", (int)len, s);
            s += len;
            s += *s == ' ';
        }
        rc = 1;
    }
    PQclear(r);
    *ret_queued = queued;
    return rc;
}

int64_t outbox_admin_retry_all(PGconn *conn)
{
    PGresult *r = PQexec(conn, SQL_RETRY_ALL);
    int64_t n = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK || strnum_i64(PQcmdTuples(r), 0, INT64_MAX, &n) < 0)
        return failed(conn, r, "outbox_admin_retry_all");
    PQclear(r);
    return n;
}
