#include "search.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/array.h"
#include "log.h"
#include "rules.h"
#include "send.h"
#include "util/clock.h"
#include "util/periodic.h"

/* The array of texts one similar-requests look-up takes. */
#define TEXTS_CAP (16 * 1024 * 1024)
/* Longest /search answer (then split into messages). */
#define TEXT_CAP (64 * 1024)
/* /search: requests shown, and finished requests ranked at most. */
#define SEARCH_SHOWN_TXT  "10"
#define SEARCH_RANKED     1000
#define SEARCH_RANKED_TXT "1000"
/* Documents one indexer statement makes; pauses between statements. */
#define INDEX_BATCH_TXT "500"
#define INDEX_BUSY_MS   100
#define INDEX_IDLE_MS   60000

const struct pool_stmt desk_search_statements[] = {
    {"desk_search",
     "SELECT id, status, age_seconds, user_id, first_name, last_name, username, snippet, capped"
     " FROM tgdesk_search($1, " SEARCH_SHOWN_TXT ", " SEARCH_RANKED_TXT ")",
     1},
    /* the similar solved requests of each text of $1, by its position */
    {"desk_search_similar",
     "SELECT t.ord, s.id, s.status, s.issue, s.solution"
     " FROM unnest($1::text[]) WITH ORDINALITY AS t(body, ord)"
     " CROSS JOIN LATERAL tgdesk_search_similar(t.body, 3) s"
     " ORDER BY t.ord, s.score DESC, s.id DESC",
     1},
    /* One batch of the background indexer: the documents of up to $1
     * finished requests from the cursor on, and the cursor moved past them;
     * the cursor row goes once nothing is left. An instance that finds the
     * cursor locked by another does nothing. Returns the documents made and
     * whether there was a cursor. */
    {"desk_search_reindex",
     "WITH cur AS (SELECT value::bigint AS next FROM bot_state"
     " WHERE key = 'search_reindex_from' FOR UPDATE SKIP LOCKED),"
     " batch AS (SELECT r.id FROM requests r WHERE r.id >= (SELECT next FROM cur)"
     " AND r.status IN ('solved', 'closed') ORDER BY r.id LIMIT $1),"
     " done AS (UPDATE requests r SET search = tgdesk_search_document(r.id, r.issue, r.solution,"
     " tgdesk_search_config()) WHERE r.id IN (SELECT id FROM batch) RETURNING r.id),"
     " moved AS (UPDATE bot_state SET value = ((SELECT max(id) FROM batch) + 1)::text,"
     " updated_at = now() WHERE key = 'search_reindex_from' AND EXISTS (SELECT 1 FROM batch)"
     " RETURNING 1),"
     " ended AS (DELETE FROM bot_state WHERE key = 'search_reindex_from'"
     " AND EXISTS (SELECT 1 FROM cur) AND NOT EXISTS (SELECT 1 FROM batch) RETURNING 1)"
     " SELECT (SELECT count(*) FROM done), EXISTS (SELECT 1 FROM cur),"
     " (SELECT count(*) FROM moved) + (SELECT count(*) FROM ended)",
     1},
};
const size_t desk_search_statements_count =
    sizeof(desk_search_statements) / sizeof(desk_search_statements[0]);

/* ---- /search ------------------------------------------------------------ */

int desk_search_command(struct desk_ctx *x, const struct tg_message *m, const char *words)
{
    const char *p[1] = {words};
    PGresult *res;
    int rc = desk_exec(x, "desk_search", 1, p, &res);
    if (rc < 0)
        return rc;
    struct buf b;
    buf_init(&b, TEXT_CAP);
    int rows = PQntuples(res);
    buf_add(&b, rows ? "Requests matching \"" : "No requests match \"");
    desk_fmt_preview(&b, words, 100);
    buf_add(&b, rows ? "\", best first:" : "\".");
    for (int i = 0; i < rows; i++) {
        buf_addf(&b, "\n\n#%s · %s · ", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        desk_fmt_age(&b, desk_col_i64(res, i, 2, 0));
        buf_add(&b, " · ");
        desk_fmt_user(&b, desk_col_str(res, i, 4), desk_col_str(res, i, 5), desk_col_str(res, i, 6),
                      desk_col_i64(res, i, 3, 0));
        buf_add(&b, "\n");
        desk_fmt_preview(&b, PQgetvalue(res, i, 7), 300);
    }
    if (rows > 0 && PQgetvalue(res, 0, 8)[0] == 't')
        buf_addf(&b,
                 "\n\nMore than %d requests match: these are the best of the first %d found. "
                 "More words narrow it down.",
                 SEARCH_RANKED, SEARCH_RANKED);
    PQclear(res);
    rc = desk_send_buf(x, m->chat.id, &b, "reply", 0);
    return rc < 0 ? rc : DESK_PROCESSED;
}

/* ---- similar solved requests ------------------------------------------ */

struct desk_search_rate {
    _Atomic int64_t second; /* the second (monotonic) the count is of */
    _Atomic int64_t used;
};

struct desk_search_rate *desk_search_rate_new(void)
{
    return calloc(1, sizeof(struct desk_search_rate));
}

void desk_search_rate_free(struct desk_search_rate *r)
{
    free(r);
}

size_t desk_search_rate_take(struct desk_search_rate *r, size_t want)
{
    int64_t now = clock_mono_ms() / 1000, was = atomic_load(&r->second);
    /* A new second: the one worker that moves the window starts the count
     * again (a look-up counted in between is forgiven: this is a budget). */
    if (was != now && atomic_compare_exchange_strong(&r->second, &was, now))
        atomic_store(&r->used, 0);
    int64_t used = atomic_fetch_add(&r->used, (int64_t)want);
    if (used >= DESK_SIMILAR_PER_SECOND)
        return 0;
    return want < (size_t)(DESK_SIMILAR_PER_SECOND - used)
               ? want
               : (size_t)(DESK_SIMILAR_PER_SECOND - used);
}

struct desk_similar {
    PGresult *res; /* rows ordered by text */
    size_t n;
    int first[]; /* n + 1 entries: the rows of text i are first[i] .. first[i + 1] - 1 */
};

int desk_search_similar(struct desk_ctx *x, const char *const *texts, size_t n,
                        struct desk_similar **ret)
{
    struct buf arr;
    buf_init(&arr, TEXTS_CAP);
    db_array_open(&arr);
    for (size_t i = 0; i < n; i++)
        db_array_text(&arr, texts[i] ? texts[i] : "");
    const char *p[1] = {db_array_close(&arr)};
    PGresult *res = NULL;
    int rc = p[0] ? desk_exec(x, "desk_search_similar", 1, p, &res) : -ENOMEM;
    buf_free(&arr);
    if (rc < 0)
        return rc;
    struct desk_similar *s = malloc(sizeof(*s) + (n + 1) * sizeof(s->first[0]));
    if (!s) {
        PQclear(res);
        return -ENOMEM;
    }
    s->res = res;
    s->n = n;
    int rows = PQntuples(res), row = 0;
    for (size_t i = 0; i <= n; i++) {
        /* ord is 1-based: text i's rows have ord i + 1 */
        while (row < rows && desk_col_i64(res, row, 0, 0) <= (int64_t)i)
            row++;
        s->first[i] = row;
    }
    *ret = s;
    return 0;
}

void desk_similar_fmt(const struct desk_similar *s, size_t i, struct buf *b)
{
    if (!s || i >= s->n || s->first[i] == s->first[i + 1])
        return;
    buf_add(b, "\n\nSimilar solved requests:");
    for (int row = s->first[i]; row < s->first[i + 1]; row++) {
        buf_addf(b, "\n#%s · %s · ", PQgetvalue(s->res, row, 1), PQgetvalue(s->res, row, 2));
        desk_fmt_preview(b, PQgetvalue(s->res, row, 3), 60);
        buf_add(b, "\n    → ");
        desk_fmt_preview(b, PQgetvalue(s->res, row, 4), 100);
    }
}

void desk_similar_free(struct desk_similar *s)
{
    if (!s)
        return;
    PQclear(s->res);
    free(s);
}

/* ---- the configuration ------------------------------------------------- */

/* Runs sql with the parameter value; the result, or NULL with err set. */
static PGresult *exec1(PGconn *conn, const char *sql, const char *value, char *err, size_t cap)
{
    const char *p[1] = {value};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        return res;
    const char *msg = PQresultErrorMessage(res);
    snprintf(err, cap, "%s", msg && *msg ? msg : "unexpected answer");
    err[strcspn(err, "\n")] = '\0';
    PQclear(res);
    return NULL;
}

int desk_search_language(PGconn *conn, const char *language, char *err, size_t cap)
{
    PGresult *res = exec1(conn,
                          "SELECT EXISTS (SELECT 1 FROM pg_ts_config c WHERE c.cfgname = $1"
                          " AND pg_ts_config_is_visible(c.oid)),"
                          " (SELECT string_agg(cfgname, ', ' ORDER BY cfgname) FROM pg_ts_config c"
                          " WHERE pg_ts_config_is_visible(c.oid)),"
                          " to_regproc('tgdesk_search_config') IS NOT NULL",
                          language, err, cap);
    if (!res)
        return -EIO;
    bool exists = PQgetvalue(res, 0, 0)[0] == 't', schema = PQgetvalue(res, 0, 2)[0] == 't';
    if (!exists)
        snprintf(err, cap, "the database has no text-search configuration \"%s\" (it has: %s)",
                 language, PQgetvalue(res, 0, 1));
    PQclear(res);
    if (!exists)
        return -EINVAL;
    if (!schema)
        return 0;
    /* Stored; a change makes every document again (from the first request). */
    res = exec1(conn,
                "WITH old AS (SELECT value FROM bot_state WHERE key = 'search_language'),"
                " stored AS (INSERT INTO bot_state (key, value) VALUES ('search_language', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"
                " WHERE bot_state.value IS DISTINCT FROM EXCLUDED.value RETURNING 1),"
                " again AS (INSERT INTO bot_state (key, value) SELECT 'search_reindex_from', '0'"
                " WHERE EXISTS (SELECT 1 FROM stored)"
                " AND coalesce((SELECT value FROM old), 'simple') <> $1"
                " ON CONFLICT (key) DO UPDATE SET value = '0', updated_at = now() RETURNING 1)"
                " SELECT EXISTS (SELECT 1 FROM again)",
                language, err, cap);
    if (!res)
        return -EIO;
    int changed = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return changed;
}

/* ---- the background indexer -------------------------------------------- */

struct desk_search_indexer {
    struct pool *pool;
    struct periodic *thread;
    bool busy; /* a re-indexing is under way (for the log); the thread's own */
};

int64_t desk_search_indexer_run(struct desk_search_indexer *s)
{
    struct pool_conn *c;
    if (pool_acquire(s->pool, 1000, &c) < 0)
        return -EIO;
    const char *p[1] = {INDEX_BATCH_TXT};
    PGresult *res;
    char sqlstate[DB_SQLSTATE_LEN];
    int rc = pool_run(c, "desk_search_reindex", 1, p, &res, sqlstate);
    pool_release(s->pool, c);
    if (rc < 0) {
        LOG(LOG_WARN, "search index: a batch failed; it is tried again",
            LOG_STR("sqlstate", sqlstate));
        return -EIO;
    }
    int64_t done = desk_col_i64(res, 0, 0, 0);
    bool cursor = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    if (cursor && done > 0 && !s->busy)
        LOG(LOG_INFO, "search index: making the documents of finished requests",
            LOG_STR("table", "requests"));
    if (cursor && done == 0 && s->busy)
        LOG(LOG_INFO, "search index: every finished request has its document",
            LOG_STR("table", "requests"));
    s->busy = cursor && done > 0;
    return done;
}

static int64_t indexer_round(void *ud)
{
    struct desk_search_indexer *s = ud;
    return desk_search_indexer_run(s) > 0 ? INDEX_BUSY_MS : INDEX_IDLE_MS;
}

struct desk_search_indexer *desk_search_indexer_start(struct pool *pool)
{
    struct desk_search_indexer *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->pool = pool;
    s->thread = periodic_start(1000, indexer_round, s);
    if (!s->thread) {
        free(s);
        return NULL;
    }
    return s;
}

void desk_search_indexer_stop(struct desk_search_indexer *s)
{
    if (!s)
        return;
    periodic_stop(s->thread);
    free(s);
}
