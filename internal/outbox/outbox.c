#include "outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strnum.h"

#define STR_(x)           #x
#define STR(x)            STR_(x)
#define OUTBOX_LEASE_TEXT STR(OUTBOX_LEASE_S) " seconds"

const struct db_stmt outbox_statements[] = {
    {"outbox_insert",
     "INSERT INTO outbox (chat_id, method, payload, purpose, request_id, next_attempt_at)"
     " VALUES ($1, $2, $3::jsonb, $4, $5, now() + interval '" OUTBOX_LEASE_TEXT "'"
     ") RETURNING id",
     5},
};
const size_t outbox_statements_count = sizeof(outbox_statements) / sizeof(outbox_statements[0]);

static void copy_state(const PGresult *res, char *sqlstate)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(sqlstate, 6, "%s", s ? s : "08000");
}

int outbox_add(struct pool_conn *c, struct outbox_batch *out, int64_t chat_id, const char *method,
               const char *payload, const char *purpose, int64_t request_id, char *sqlstate)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        struct outbox_msg *m = realloc(out->msgs, cap * sizeof(*m));
        if (!m)
            return -ENOMEM;
        out->msgs = m;
        out->cap = cap;
    }
    struct outbox_msg *m = &out->msgs[out->n];
    memset(m, 0, sizeof(*m));
    m->payload = strdup(payload);
    if (!m->payload)
        return -ENOMEM;

    char chat[24], req[24];
    snprintf(chat, sizeof(chat), "%" PRId64, chat_id);
    snprintf(req, sizeof(req), "%" PRId64, request_id);
    const char *params[5] = {chat, method, payload, purpose, request_id ? req : NULL};
    PGresult *res = db_exec(c, "outbox_insert", 5, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
        strnum_i64(PQgetvalue(res, 0, 0), 1, INT64_MAX, &m->id) < 0) {
        copy_state(res, sqlstate);
        PQclear(res);
        free(m->payload);
        m->payload = NULL;
        return -EIO;
    }
    PQclear(res);
    m->chat_id = chat_id;
    m->request_id = request_id;
    snprintf(m->method, sizeof(m->method), "%s", method);
    snprintf(m->purpose, sizeof(m->purpose), "%s", purpose);
    out->n++;
    return 0;
}

void outbox_msg_clear(struct outbox_msg *m)
{
    if (!m)
        return;
    free(m->payload);
    m->payload = NULL;
}

void outbox_batch_truncate(struct outbox_batch *b, size_t keep)
{
    while (b->n > keep)
        outbox_msg_clear(&b->msgs[--b->n]);
}

struct outbox_mark outbox_batch_mark(const struct outbox_batch *b)
{
    return (struct outbox_mark){.n = b->n, .nobs = b->nobs};
}

void outbox_batch_rewind(struct outbox_batch *b, struct outbox_mark m)
{
    outbox_batch_truncate(b, m.n);
    if (b->nobs > m.nobs)
        b->nobs = m.nobs;
}

void outbox_observe(struct outbox_batch *b, bool resolution, double seconds)
{
    if (b->nobs < OUTBOX_OBS_MAX && seconds >= 0)
        b->obs[b->nobs++] = (struct outbox_obs){.resolution = resolution, .seconds = seconds};
}

void outbox_batch_clear(struct outbox_batch *b)
{
    if (!b)
        return;
    outbox_batch_truncate(b, 0);
    b->nobs = 0;
    free(b->msgs);
    b->msgs = NULL;
    b->cap = 0;
}
