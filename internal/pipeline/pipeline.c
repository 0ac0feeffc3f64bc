#include "pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db/conn.h"
#include "db/pool.h"
#include "desk/batch.h"
#include "desk/desk.h"
#include "log.h"
#include "metrics/tgdesk_metrics.h"
#include "outbox/outbox.h"
#include "outbox/sender.h"
#include "queue.h"
#include "tg/update.h"
#include "util/clock.h"

/* Most updates one transaction carries. */
#define BATCH_MAX 64
/* Attempts of one update within its batch after a unique-index race. */
#define RACE_RETRIES 2

struct pipeline {
    const struct config *cfg;
    struct pool *pool;
    struct sender *sender;
    struct queue *queue;
    pthread_t *threads;
    int nthreads;
    /* Transactions in flight: a worker takes a slot, then its batch. */
    pthread_mutex_t slot_mu;
    pthread_cond_t slot_cv;
    int slots;
};

/*
 * A worker holds a slot from taking its batch until that batch's commit.
 * With more transactions in flight than the database has cores, each one
 * carries fewer updates and the per-transaction work (executor start-up,
 * commit) is paid more often for the same load: measured on 2 cores, four
 * concurrent transactions cost PostgreSQL twice the CPU per update of two.
 * With slots, the updates arriving meanwhile wait in the queue and the next
 * batch takes them all; the workers without a slot answer and hand over
 * what the last commit produced.
 */
static int slots_for(int workers)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cpus > 2 ? (int)(cpus < 1024 ? cpus : 1024) : 2;
    return n < workers ? n : workers;
}

static void slot_take(struct pipeline *p)
{
    pthread_mutex_lock(&p->slot_mu);
    while (p->slots == 0)
        pthread_cond_wait(&p->slot_cv, &p->slot_mu);
    p->slots--;
    pthread_mutex_unlock(&p->slot_mu);
}

static void slot_give(struct pipeline *p)
{
    pthread_mutex_lock(&p->slot_mu);
    p->slots++;
    pthread_cond_signal(&p->slot_cv);
    pthread_mutex_unlock(&p->slot_mu);
}

/*
 * A body parsed on the HTTP thread when it is queued: the worker then holds
 * its transaction slot only for the database work, not for parsing the
 * whole batch (about 5 us an update) while the other slot waits.
 */
struct parsed {
    struct job *job;
    int rc; /* of tg_update_parse() */
    struct tg_update update;
    char err[128];
};

static void parse(struct parsed *pp, const struct job *job)
{
    pp->rc = tg_update_parse(job->body, job->len, &pp->update, pp->err, sizeof(pp->err));
}

/* One job being processed, with its parsed update. */
struct item {
    struct job *job;
    struct tg_update update;
    bool parsed;
    bool done; /* status decided before the transaction (400, ignored) */
    struct outbox_mark mark;
};

static void finish(struct job *job, enum pipeline_verdict v)
{
    job->verdict = v;
}

const char *pipeline_verdict_name(enum pipeline_verdict v)
{
    static const char *const names[] = {
        [PIPELINE_PROCESSED] = "processed", [PIPELINE_DUPLICATE] = "duplicate",
        [PIPELINE_IGNORED] = "ignored",     [PIPELINE_REJECTED] = "rejected",
        [PIPELINE_DEAD] = "failed",         [PIPELINE_RETRY] = "retry",
    };
    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "retry";
}

bool pipeline_verdict_final(enum pipeline_verdict v)
{
    return v != PIPELINE_RETRY;
}

/* SQLSTATEs worth a redelivery: the same update may well succeed later. */
static bool transient(const char *sqlstate)
{
    static const char *const codes[] = {"40001", "40P01", "55P03", "57014",
                                        "57P01", "57P02", "57P03", "25P02"};
    if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
        strncmp(sqlstate, "58", 2) == 0)
        return true;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(sqlstate, codes[i]) == 0)
            return true;
    return false;
}

static int cmp_items(const void *a, const void *b)
{
    const struct item *x = *(struct item *const *)a, *y = *(struct item *const *)b;
    return (x->update.update_id > y->update.update_id) -
           (x->update.update_id < y->update.update_id);
}

/* Runs a statement without parameters; true when it succeeded. */
static bool run(struct pool_conn *c, const char *label, const char *sql)
{
    PGresult *res = db_exec_sql(c, label, sql);
    ExecStatusType st = PQresultStatus(res);
    PQclear(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/*
 * Records the update id. Returns 1 when new, 0 when already processed, -EIO
 * (sqlstate set) on failure.
 */
static int dedup(struct pool_conn *c, const struct tg_update *u, char *sqlstate)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, u->update_id);
    const char *p[2] = {id, tg_update_kind_name(u->kind)};
    PGresult *res = db_exec(c, "update_claim", 2, p);
    int rc;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        rc = PQntuples(res) == 1;
    } else {
        const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(sqlstate, 6, "%s", s ? s : "08000");
        rc = -EIO;
    }
    PQclear(res);
    return rc;
}

/* Stores an update that can never succeed, so that it is acknowledged. */
static bool dead_letter(struct pool_conn *c, const struct item *it, const char *error)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, it->update.update_id);
    char *body = strndup(it->job->body, it->job->len);
    if (!body)
        return false;
    const char *p[4] = {id, tg_update_kind_name(it->update.kind), error, body};
    PGresult *res = db_exec(c, "update_dead_letter", 4, p);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    free(body);
    return ok;
}

/*
 * Processes one update under a savepoint. Returns false when the connection
 * or transaction is beyond saving (the whole batch then fails).
 */
static bool process_one(struct pipeline *p, struct pool_conn *c, struct item *it,
                        struct outbox_batch *out)
{
    struct job *job = it->job;
    for (int attempt = 0;; attempt++) {
        if (!run(c, "savepoint", "SAVEPOINT u"))
            return false;
        it->mark = outbox_batch_mark(out);
        char sqlstate[6] = "";
        int rc;
        if (desk_batch_wants(p->cfg, &it->update)) {
            const struct tg_update *one = &it->update;
            bool fresh = false;
            rc = desk_batch_run(p->cfg, c, &one, 1, &fresh, out, sqlstate);
            if (rc == 0 && !fresh) {
                finish(job, PIPELINE_DUPLICATE);
                return run(c, "release", "RELEASE SAVEPOINT u");
            }
        } else {
            rc = dedup(c, &it->update, sqlstate);
            if (rc == 0) {
                finish(job, PIPELINE_DUPLICATE);
                return run(c, "release", "RELEASE SAVEPOINT u");
            }
            if (rc > 0)
                rc = desk_apply(p->cfg, c, &it->update, out, sqlstate);
        }
        if (rc >= 0) {
            finish(job, rc == DESK_IGNORED ? PIPELINE_IGNORED : PIPELINE_PROCESSED);
            return run(c, "release", "RELEASE SAVEPOINT u");
        }

        outbox_batch_rewind(out, it->mark);
        if (!run(c, "rollback_to", "ROLLBACK TO SAVEPOINT u"))
            return false;
        if (rc == -ENOMEM) {
            finish(job, PIPELINE_RETRY);
            return true;
        }
        /* A concurrent update of the same user opened the request first. */
        if (strcmp(sqlstate, "23505") == 0 && attempt + 1 < RACE_RETRIES)
            continue;
        if (transient(sqlstate)) {
            LOG(LOG_WARN, "update failed, will be redelivered",
                LOG_INT("update_id", it->update.update_id), LOG_STR("sqlstate", sqlstate));
            finish(job, PIPELINE_RETRY);
            return true;
        }
        char error[64];
        snprintf(error, sizeof(error), "SQLSTATE %s", sqlstate);
        LOG(LOG_ERROR, "update can never be processed: dead-lettered",
            LOG_INT("update_id", it->update.update_id), LOG_STR("sqlstate", sqlstate),
            LOG_STR("kind", tg_update_kind_name(it->update.kind)));
        if (!dead_letter(c, it, error))
            return false;
        finish(job, PIPELINE_DEAD);
        return true;
    }
}

/*
 * The fast path: one statement for every user message of the batch, in one
 * round trip. When nothing else is in the batch, the statement is its own
 * transaction, committed at the pipeline's sync (no BEGIN and COMMIT for
 * the server to parse and run: about 30 us of its time per batch); else it
 * runs after a BEGIN, and the transaction stays open for the rest.
 * Returns 1 when that committed everything, 0 when the transaction is open
 * for the rest (done[] marks what the statement handled), -EAGAIN when the
 * statement failed and the transaction was rolled back and begun again (do
 * everything one by one), -EIO when the connection failed.
 */
static int fast_path(struct pipeline *p, struct pool_conn *c, struct item **items, size_t n,
                     bool *done, struct outbox_batch *out)
{
    const struct tg_update *ups[BATCH_MAX];
    size_t idx[BATCH_MAX], m = 0;
    for (size_t i = 0; i < n; i++)
        if (desk_batch_wants(p->cfg, &items[i]->update)) {
            idx[m] = i;
            ups[m++] = &items[i]->update;
        }
    if (m == 0)
        return run(c, "begin", "BEGIN") ? 0 : -EIO;

    struct desk_batch_args args;
    if (desk_batch_args_build(p->cfg, ups, m, &args) < 0) {
        desk_batch_args_free(&args);
        return run(c, "begin", "BEGIN") ? 0 : -EIO;
    }
    const struct db_step steps[2] = {
        {.name = "begin", .sql = "BEGIN"},
        {.name = DESK_BATCH_STATEMENT, .nparams = DESK_BATCH_NPARAMS, .values = args.params},
    };
    bool alone = m == n;
    size_t first = alone ? 1 : 0, nsteps = 2 - first;
    PGresult *res[2] = {NULL, NULL};
    /* Alone, success here means committed: db_exec_steps() returns 0 only
     * once the sync came back, which the server sends after the commit. */
    int rc = db_exec_steps(c, steps + first, nsteps, res + first);
    desk_batch_args_free(&args);

    bool fresh[BATCH_MAX];
    char sqlstate[6] = "";
    if (rc == 0 && !alone && PQresultStatus(res[0]) != PGRES_COMMAND_OK)
        rc = -EIO;
    if (rc == 0 && desk_batch_read(res[1], ups, m, fresh, out, sqlstate) < 0) {
        LOG(LOG_INFO, "batch statement failed; processing one by one",
            LOG_STR("sqlstate", sqlstate), LOG_INT("updates", (int64_t)m));
        /* alone, the failed statement's transaction is over already */
        rc = (alone || run(c, "rollback", "ROLLBACK")) && run(c, "begin", "BEGIN") ? -EAGAIN : -EIO;
    } else if (rc == 0) {
        for (size_t k = 0; k < m; k++) {
            done[idx[k]] = true;
            finish(items[idx[k]]->job, fresh[k] ? PIPELINE_PROCESSED : PIPELINE_DUPLICATE);
        }
        rc = alone ? 1 : 0;
    }
    for (size_t i = 0; i < 2; i++)
        PQclear(res[i]);
    return rc;
}

/* Runs the batch in one transaction. On failure every job answers 503. */
static void commit_batch(struct pipeline *p, struct item **items, size_t n)
{
    struct pool_conn *c = NULL;
    int rc = pool_acquire(p->pool, -1, &c);
    if (rc < 0) {
        LOG(LOG_WARN, "no database connection: answering 503",
            LOG_STR("reason", rc == -ETIMEDOUT ? "pool exhausted" : "database unavailable"),
            LOG_INT("updates", (int64_t)n));
        for (size_t i = 0; i < n; i++)
            finish(items[i]->job, PIPELINE_RETRY);
        return;
    }

    struct outbox_batch out = {0};
    bool done[BATCH_MAX] = {false};
    rc = fast_path(p, c, items, n, done, &out);
    if (rc == -EAGAIN) {
        outbox_batch_clear(&out);
        memset(done, 0, sizeof(done));
    }
    bool ok = rc != -EIO;
    for (size_t i = 0; ok && rc != 1 && i < n; i++)
        if (!done[i])
            ok = process_one(p, c, items[i], &out);
    if (ok && rc != 1)
        ok = run(c, "commit", "COMMIT");
    metrics_transaction(ok ? "commit" : "rollback", n);
    if (!ok) {
        char err[256];
        LOG(LOG_WARN, "batch failed: answering 503",
            LOG_STR("error", db_errmsg(pool_conn_pg(c), NULL, err, sizeof(err))),
            LOG_INT("updates", (int64_t)n));
        for (size_t i = 0; i < n; i++)
            finish(items[i]->job, PIPELINE_RETRY);
        outbox_batch_clear(&out);
    }
    pool_release(p->pool, c);

    if (ok) {
        for (size_t i = 0; i < out.nobs; i++) {
            if (out.obs[i].resolution)
                metrics_resolution(out.obs[i].seconds);
            else
                metrics_first_response(out.obs[i].seconds);
        }
        if (out.n > 0 && p->sender)
            sender_submit(p->sender, &out);
    }
    outbox_batch_clear(&out);
}

static void handle_batch(struct pipeline *p, struct parsed **entries, size_t n)
{
    struct timespec popped;
    clock_gettime(CLOCK_MONOTONIC, &popped);
    struct item items[BATCH_MAX];
    struct item *db[BATCH_MAX];
    size_t ndb = 0;

    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[i];
        memset(it, 0, sizeof(*it));
        struct parsed *pp = entries[i];
        it->job = pp->job;
        it->job->kind = "invalid";
        int rc = pp->rc;
        if (rc == 0)
            it->update = pp->update; /* the strings stay where they are */
        else
            LOG(LOG_INFO, "webhook body is not an Update", LOG_STR("reason", pp->err));
        free(pp);
        if (rc < 0) {
            finish(it->job, PIPELINE_REJECTED);
            continue;
        }
        it->parsed = true;
        it->job->update_id = it->update.update_id;
        it->job->kind = tg_update_kind_name(it->update.kind);
        if (!desk_wants(p->cfg, &it->update)) {
            finish(it->job, PIPELINE_IGNORED);
            continue;
        }
        db[ndb++] = it;
    }

    if (ndb > 0) {
        /* One lock order for every batch: no deadlocks on processed_updates. */
        qsort(db, ndb, sizeof(db[0]), cmp_items);
        commit_batch(p, db, ndb);
    }
    slot_give(p); /* the next batch may start while these are answered */

    double seconds = clock_since_s(&popped);
    for (size_t i = 0; i < n; i++) {
        struct job *job = items[i].job;
        if (items[i].parsed)
            tg_update_free(&items[i].update);
        if (job->verdict == PIPELINE_RETRY)
            metrics_update_deferred("database");
        else
            metrics_update(job->kind, pipeline_verdict_name(job->verdict), seconds);
        job->complete(job);
    }
}

static void *worker_main(void *arg)
{
    struct pipeline *p = arg;
    void *batch[BATCH_MAX];
    for (;;) {
        slot_take(p);
        size_t n = queue_pop_batch(p->queue, batch, BATCH_MAX, -1);
        if (n == 0) {
            slot_give(p);
            break; /* closed and drained */
        }
        handle_batch(p, (struct parsed **)batch, n); /* gives the slot back */
    }
    return NULL;
}

struct pipeline *pipeline_start(const struct config *cfg, struct pool *pool, struct sender *sender)
{
    struct pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->cfg = cfg;
    p->pool = pool;
    p->sender = sender;
    pthread_mutex_init(&p->slot_mu, NULL);
    pthread_cond_init(&p->slot_cv, NULL);
    p->slots = slots_for(cfg->workers);
    p->queue = queue_new((size_t)cfg->queue_capacity);
    p->threads = calloc((size_t)cfg->workers, sizeof(*p->threads));
    if (!p->queue || !p->threads)
        goto fail;
    for (int i = 0; i < cfg->workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            LOG(LOG_ERROR, "cannot start a worker thread", LOG_INT("started", i));
            goto fail;
        }
        p->nthreads++;
    }
    return p;

fail:
    pipeline_free(p);
    return NULL;
}

int pipeline_submit(struct pipeline *p, struct job *job)
{
    struct parsed *pp = malloc(sizeof(*pp));
    if (!pp)
        return -ENOMEM;
    pp->job = job;
    parse(pp, job);
    int rc = queue_push(p->queue, pp);
    if (rc < 0) {
        if (pp->rc == 0)
            tg_update_free(&pp->update);
        free(pp);
    }
    return rc;
}

size_t pipeline_queue_depth(struct pipeline *p)
{
    return queue_depth(p->queue);
}

size_t pipeline_queue_capacity(struct pipeline *p)
{
    return queue_capacity(p->queue);
}

void pipeline_stop(struct pipeline *p)
{
    if (!p)
        return;
    if (p->queue)
        queue_close(p->queue);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    pipeline_stop(p);
    queue_free(p->queue);
    free(p->threads);
    pthread_cond_destroy(&p->slot_cv);
    pthread_mutex_destroy(&p->slot_mu);
    free(p);
}

const struct db_stmt pipeline_statements[] = {
    {"update_claim",
     "INSERT INTO processed_updates (update_id, kind) VALUES ($1, $2)"
     " ON CONFLICT (update_id) DO NOTHING RETURNING 1",
     2},
    {"update_dead_letter",
     "INSERT INTO processed_updates (update_id, kind, outcome, error, payload)"
     " VALUES ($1, $2, 'dead', $3, convert_to($4, 'UTF8'))"
     " ON CONFLICT (update_id) DO NOTHING",
     4},
};
const size_t pipeline_statements_count =
    sizeof(pipeline_statements) / sizeof(pipeline_statements[0]);
