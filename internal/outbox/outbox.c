#include "outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/sqlstate.h"
#include "util/jsonw.h"
#include "util/strnum.h"

#define STR_(x)           #x
#define STR(x)            STR_(x)
#define OUTBOX_LEASE_TEXT STR(OUTBOX_LEASE_S) " seconds"

/* Largest parameter of one write (the calls of one transaction). */
#define ROWS_MAX (256u * 1024 * 1024)

/*
 * The rows as one JSON array of objects, in order: each payload is already
 * JSON text and goes in as it is, without quoting. The ids come from the
 * table's sequence in insertion order, so the ids returned, sorted, belong
 * to the rows in the order given.
 */
const struct pool_stmt outbox_statements[] = {
    {"outbox_insert",
     "INSERT INTO outbox (chat_id, method, payload, purpose, request_id, next_attempt_at)"
     " SELECT chat_id, method, payload, purpose, request_id,"
     " clock_timestamp() + interval '" OUTBOX_LEASE_TEXT "'"
     " FROM ROWS FROM (jsonb_to_recordset($1::jsonb)"
     " AS (chat_id bigint, method text, payload jsonb, purpose text, request_id bigint))"
     " WITH ORDINALITY AS t(chat_id, method, payload, purpose, request_id, ord)"
     " ORDER BY ord RETURNING id",
     1},
};
const size_t outbox_statements_count = sizeof(outbox_statements) / sizeof(outbox_statements[0]);

void outbox_copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int outbox_queue(struct outbox_batch *b, int64_t chat_id, const char *method, char *payload,
                 const char *purpose, int64_t request_id)
{
    if (!payload)
        return -ENOMEM;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct outbox_msg *m = realloc(b->msgs, cap * sizeof(*m));
        if (!m) {
            free(payload);
            return -ENOMEM;
        }
        b->msgs = m;
        b->cap = cap;
    }
    struct outbox_msg *m = &b->msgs[b->n++];
    memset(m, 0, sizeof(*m));
    m->chat_id = chat_id;
    m->request_id = request_id;
    m->payload = payload;
    outbox_copy_name(m->method, sizeof(m->method), method);
    outbox_copy_name(m->purpose, sizeof(m->purpose), purpose);
    return 0;
}

int outbox_write_begin(struct outbox_batch *b, struct outbox_write *w, struct pool_step *ret_step)
{
    if (b->written >= b->n)
        return 1;
    buf_init(&w->rows, ROWS_MAX);
    size_t size = 2;
    for (size_t i = b->written; i < b->n; i++)
        size += strlen(b->msgs[i].payload) + 128; /* the payload and the row around it */
    buf_reserve(&w->rows, size);
    buf_addc(&w->rows, '[');
    for (size_t i = b->written; i < b->n; i++) {
        const struct outbox_msg *m = &b->msgs[i];
        buf_add(&w->rows, i > b->written ? ",{" : "{");
        jsonw_key(&w->rows, "chat_id");
        jsonw_i64(&w->rows, m->chat_id);
        jsonw_key(&w->rows, "method");
        jsonw_str(&w->rows, m->method);
        jsonw_key(&w->rows, "payload");
        buf_add(&w->rows, m->payload);
        jsonw_key(&w->rows, "purpose");
        jsonw_str(&w->rows, m->purpose);
        if (m->request_id) {
            jsonw_key(&w->rows, "request_id");
            jsonw_i64(&w->rows, m->request_id);
        }
        buf_addc(&w->rows, '}');
    }
    buf_addc(&w->rows, ']');
    if (buf_error(&w->rows)) {
        buf_free(&w->rows);
        return -ENOMEM;
    }
    w->params[0] = buf_str(&w->rows);
    *ret_step = (struct pool_step){.name = "outbox_insert", .nparams = 1, .values = w->params};
    return 0;
}

int outbox_write_end(struct outbox_batch *b, struct outbox_write *w, const PGresult *res,
                     char *sqlstate)
{
    buf_free(&w->rows);
    size_t n = b->n - b->written;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || (size_t)PQntuples(res) != n) {
        db_sqlstate_copy(res, sqlstate);
        return -EIO;
    }
    int64_t *ids = malloc(n * sizeof(*ids));
    if (!ids)
        return -ENOMEM; /* the rows are written: the recovery path sends them */
    for (size_t i = 0; i < n; i++)
        if (strnum_i64(PQgetvalue(res, (int)i, 0), 1, INT64_MAX, &ids[i]) < 0) {
            free(ids);
            snprintf(sqlstate, DB_SQLSTATE_LEN, "%s", "XX000");
            return -EIO;
        }
    qsort(ids, n, sizeof(*ids), strnum_cmp_i64);
    for (size_t i = 0; i < n; i++)
        b->msgs[b->written + i].id = ids[i];
    b->written = b->n;
    free(ids);
    return 0;
}

int outbox_write(struct pool_conn *c, struct outbox_batch *b, char *sqlstate)
{
    struct outbox_write w;
    struct pool_step step;
    int rc = outbox_write_begin(b, &w, &step);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    PGresult *res = pool_exec(c, step.name, step.nparams, step.values);
    rc = outbox_write_end(b, &w, res, sqlstate);
    PQclear(res);
    return rc;
}

void outbox_msg_clear(struct outbox_msg *m)
{
    if (!m)
        return;
    free(m->payload);
    m->payload = NULL;
}

struct outbox_mark outbox_batch_mark(const struct outbox_batch *b)
{
    return (struct outbox_mark){.n = b->n, .nobs = b->nobs};
}

void outbox_batch_rewind(struct outbox_batch *b, struct outbox_mark m)
{
    while (b->n > m.n)
        outbox_msg_clear(&b->msgs[--b->n]);
    if (b->written > b->n)
        b->written = b->n;
    if (b->nobs > m.nobs)
        b->nobs = m.nobs;
}

void outbox_observe(struct outbox_batch *b, enum outbox_obs_kind kind, double value)
{
    if (b->nobs < OUTBOX_OBS_MAX && value >= 0)
        b->obs[b->nobs++] = (struct outbox_obs){.kind = kind, .value = value};
}

void outbox_batch_clear(struct outbox_batch *b)
{
    if (!b)
        return;
    outbox_batch_rewind(b, (struct outbox_mark){0});
    free(b->msgs);
    b->msgs = NULL;
    b->cap = 0;
}
