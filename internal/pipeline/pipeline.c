#include "pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/conn.h"
#include "db/pool.h"
#include "db/sqlstate.h"
#include "desk/desk.h"
#include "log.h"
#include "metrics/tgm.h"
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
    struct pool *pool;
    struct desk *desk;
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
    const char *deferred; /* with PIPELINE_RETRY: why (a tgdesk_updates_deferred_total reason) */
    struct tg_update update;
    bool parsed;
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

static enum pipeline_verdict from_desk(int v)
{
    return v == DESK_DUPLICATE ? PIPELINE_DUPLICATE
           : v == DESK_IGNORED ? PIPELINE_IGNORED
                               : PIPELINE_PROCESSED;
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
    PGresult *res = pool_exec_sql(c, label, sql);
    ExecStatusType st = PQresultStatus(res);
    PQclear(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/*
 * Processes one update under a savepoint. write_rows: its Bot API calls are
 * written before the savepoint is released (else they wait for the COMMIT).
 * Returns false when the connection or transaction is beyond saving (the
 * whole batch then fails).
 */
static bool process_one(struct pipeline *p, struct pool_conn *c, struct item *it,
                        struct outbox_batch *out, bool write_rows)
{
    struct job *job = it->job;
    for (int attempt = 0;; attempt++) {
        if (!run(c, "savepoint", "SAVEPOINT u"))
            return false;
        struct outbox_mark mark = outbox_batch_mark(out);
        char sqlstate[DB_SQLSTATE_LEN] = "";
        int v = desk_apply(p->desk, c, &it->update, out, sqlstate);
        int rc = v < 0 ? v : write_rows ? outbox_write(c, out, sqlstate) : 0;
        if (rc == 0) {
            finish(job, from_desk(v));
            return run(c, "release", "RELEASE SAVEPOINT u");
        }

        outbox_batch_rewind(out, mark);
        if (!run(c, "rollback_to", "ROLLBACK TO SAVEPOINT u"))
            return false;
        if (rc == -ENOMEM) {
            it->deferred = "memory";
            finish(job, PIPELINE_RETRY);
            return true;
        }
        /* A concurrent update of the same user opened the request first: that
         * one is a race, not this update's data, and goes again. */
        bool race = strcmp(sqlstate, "23505") == 0;
        if (race && attempt + 1 < RACE_RETRIES)
            continue;
        if (!db_sqlstate_data_error(sqlstate) || race) {
            bool transient = race || db_sqlstate_transient(sqlstate);
            /* Schema, permissions, resources, anything unknown: Telegram
             * redelivers, so the update succeeds once the operator fixes it. */
            LOG(transient ? LOG_WARN : LOG_ERROR,
                transient ? "update failed, will be redelivered"
                          : "update failed with an error the operator must fix; answering 503 "
                            "so that Telegram delivers it again",
                LOG_INT("update_id", it->update.update_id), LOG_STR("sqlstate", sqlstate),
                LOG_STR("kind", tg_update_kind_name(it->update.kind)));
            it->deferred = transient ? "database" : "db_error";
            finish(job, PIPELINE_RETRY);
            return true;
        }
        char error[64];
        snprintf(error, sizeof(error), "SQLSTATE %s", sqlstate);
        LOG(LOG_ERROR, "update can never be processed: dead-lettered",
            LOG_INT("update_id", it->update.update_id), LOG_STR("sqlstate", sqlstate),
            LOG_STR("kind", tg_update_kind_name(it->update.kind)));
        if (desk_dead_letter(c, &it->update, job->body, job->len, error) < 0)
            return false;
        finish(job, PIPELINE_DEAD);
        return true;
    }
}

/*
 * Writes the rows still in memory and commits, in one round trip. Returns
 * 0 when committed, -EAGAIN when the write failed (the transaction is
 * rolled back), -EIO when the commit did not happen.
 */
static int commit(struct pool_conn *c, struct outbox_batch *out)
{
    struct outbox_write w;
    struct pool_step steps[2];
    int rc = outbox_write_begin(out, &w, &steps[0]);
    if (rc < 0)
        return rc == -ENOMEM ? -EAGAIN : rc;
    size_t first = rc == 0 ? 0 : 1;
    steps[1] = (struct pool_step){.name = "commit", .sql = "COMMIT"};
    PGresult *res[2] = {NULL, NULL};
    int io = pool_exec_steps(c, steps + first, 2 - first, res + first);
    char sqlstate[DB_SQLSTATE_LEN] = "";
    if (first == 0 && outbox_write_end(out, &w, io == 0 ? res[0] : NULL, sqlstate) < 0 && io == 0) {
        LOG(LOG_INFO, "outbox rows of a batch not written; processing one by one",
            LOG_STR("sqlstate", sqlstate));
        rc = run(c, "rollback", "ROLLBACK") ? -EAGAIN : -EIO;
    } else {
        /* COMMIT of a transaction that failed answers ROLLBACK: not committed. */
        rc = io == 0 && PQresultStatus(res[1]) == PGRES_COMMAND_OK &&
                     strcmp(PQcmdStatus(res[1]), "COMMIT") == 0
                 ? 0
                 : -EIO;
    }
    PQclear(res[0]);
    PQclear(res[1]);
    return rc;
}

/*
 * One transaction for the batch. bulk: the users' messages go through the
 * desk's one statement for many, the rest one by one, and every outbox row
 * is written with the COMMIT; else every update goes one by one with its
 * rows written under its own savepoint, so that what one update cannot
 * write sinks only that update. Returns 0 when committed, -EAGAIN when the
 * bulk attempt failed and was rolled back (try again one by one), -EIO.
 */
static int run_tx(struct pipeline *p, struct pool_conn *c, struct item **items, size_t n, bool bulk,
                  struct outbox_batch *out)
{
    pool_begin(c); /* sent with the first statement */
    bool done[BATCH_MAX] = {false};
    if (bulk) {
        const struct tg_update *ups[BATCH_MAX];
        size_t idx[BATCH_MAX], m = 0;
        for (size_t i = 0; i < n; i++)
            if (desk_bulk(p->desk, &items[i]->update)) {
                idx[m] = i;
                ups[m++] = &items[i]->update;
            }
        enum desk_verdict v[BATCH_MAX];
        char sqlstate[DB_SQLSTATE_LEN] = "";
        int rc = m ? desk_apply_bulk(p->desk, c, ups, m, v, out, sqlstate) : 0;
        if (rc < 0) {
            LOG(LOG_INFO, "batch statement failed; processing one by one",
                LOG_STR("sqlstate", sqlstate), LOG_INT("updates", (int64_t)m));
            return run(c, "rollback", "ROLLBACK") ? -EAGAIN : -EIO;
        }
        for (size_t k = 0; k < m; k++) {
            done[idx[k]] = true;
            finish(items[idx[k]]->job, from_desk(v[k]));
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!done[i] && !process_one(p, c, items[i], out, !bulk))
            return -EIO;
    return commit(c, out);
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
    rc = run_tx(p, c, items, n, true, &out);
    if (rc == -EAGAIN) {
        tgm_transaction("retry", n);
        outbox_batch_clear(&out);
        rc = run_tx(p, c, items, n, false, &out);
    }
    bool ok = rc == 0;
    tgm_transaction(ok ? "commit" : "rollback", n);
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
            switch (out.obs[i].kind) {
            case OUTBOX_OBS_FIRST_RESPONSE:
                tgm_first_response(out.obs[i].value);
                break;
            case OUTBOX_OBS_RESOLUTION:
                tgm_resolution(out.obs[i].value);
                break;
            case OUTBOX_OBS_RATING:
                tgm_csat_rating((int)out.obs[i].value);
                break;
            }
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
            /* Out of memory says nothing about the body: it must come again. */
            if (rc == -ENOMEM)
                it->deferred = "memory";
            finish(it->job, rc == -ENOMEM ? PIPELINE_RETRY : PIPELINE_REJECTED);
            continue;
        }
        it->parsed = true;
        it->job->update_id = it->update.update_id;
        it->job->kind = tg_update_kind_name(it->update.kind);
        if (!desk_wants(p->desk, &it->update)) {
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
            tgm_update_deferred(items[i].deferred ? items[i].deferred : "database");
        else
            tgm_update(job->kind, pipeline_verdict_name(job->verdict), seconds);
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

struct pipeline *pipeline_start(const struct pipeline_options *o, struct pool *pool,
                                struct desk *desk, struct sender *sender)
{
    struct pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->pool = pool;
    p->desk = desk;
    p->sender = sender;
    pthread_mutex_init(&p->slot_mu, NULL);
    pthread_cond_init(&p->slot_cv, NULL);
    p->slots = slots_for(o->workers);
    p->queue = queue_new((size_t)o->queue_capacity);
    p->threads = calloc((size_t)o->workers, sizeof(*p->threads));
    if (!p->queue || !p->threads)
        goto fail;
    for (int i = 0; i < o->workers; i++) {
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
