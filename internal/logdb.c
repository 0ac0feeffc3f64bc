/*
 * logdb.c - the `logs` table writer (see logdb.h).
 *
 * The buffer is a ring of entries under one mutex held only to append or to
 * advance the head: the text is copied into a fresh allocation before the
 * lock is taken. The writer thread is the only consumer: it peeks a batch
 * (the entries stay in the ring, so the bound holds while they are being
 * written), inserts it without the lock, then drops it from the head.
 */
#include "logdb.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/array.h"
#include "db/conn.h"
#include "db/locks.h"
#include "db/sqlstate.h"
#include "metrics/tgm.h"
#include "util/clock.h"

#define STMT_INSERT    "logdb_insert"
#define STMT_RETENTION "logdb_retention"

const struct pool_stmt logdb_statements[] = {
    {STMT_INSERT,
     "INSERT INTO logs (timestamp, level, message, context, audit)"
     " SELECT to_timestamp(t), l, m, c::jsonb, false"
     " FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[]) AS u(t, l, m, c)",
     4},
    /* Events, and audit rows (kept apart: $3, NULL keeps them for ever),
     * once per cluster: under the retention lock. */
    {STMT_RETENTION,
     DB_RETENTION_LOCK_CTE
     "DELETE FROM logs WHERE (SELECT got FROM lock) AND id IN (SELECT id FROM logs"
     " WHERE (NOT audit AND timestamp < now() - make_interval(days => $1::int))"
     " OR (audit AND timestamp < now() - make_interval(days => $3::int))"
     " ORDER BY timestamp LIMIT $2::int)",
     3},
};
const size_t logdb_statements_count = sizeof(logdb_statements) / sizeof(logdb_statements[0]);

/* Back-off while the database cannot be reached. */
#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 10000
/* Drops are reported at most this often. */
#define DROP_REPORT_MS 10000
/* Retention statements per round, so that a huge backlog does not stall the writer. */
#define RETENTION_ROUNDS 50

struct entry {
    double ts; /* seconds since the epoch */
    enum log_level level;
    char *msg; /* one allocation: msg, then ctx */
    char *ctx;
    size_t bytes;
};

struct logdb {
    struct pool *pool;
    struct logdb_options opt;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* the writer: work or stop */
    pthread_cond_t done; /* flushers: the head moved */
    struct entry *ring;
    size_t head, count, bytes;
    uint64_t taken;    /* entries removed from the head so far */
    uint64_t appended; /* entries ever appended */
    bool flush_wanted;
    bool stop;
    int64_t stop_deadline_ms;

    atomic_uint_fast64_t written, dropped, deleted;
    atomic_int sinks_running;
    pthread_t thread;
    bool started;
    bool sink_installed;
};

static void count_drop(struct logdb *l, const char *reason, uint64_t n)
{
    atomic_fetch_add(&l->dropped, n);
    tgm_log_dropped(reason, n);
}

void logdb_push(struct logdb *l, enum log_level level, const char *msg, const char *context_json)
{
    if (!l || (unsigned)level >= LOG_OFF)
        return;
    if (!msg)
        msg = "";
    if (!context_json || !*context_json)
        context_json = "{}";
    size_t ml = strlen(msg), cl = strlen(context_json);
    char *mem = malloc(ml + cl + 2);
    if (!mem) {
        count_drop(l, "buffer_full", 1);
        return;
    }
    memcpy(mem, msg, ml + 1);
    memcpy(mem + ml + 1, context_json, cl + 1);
    struct entry e = {.ts = clock_wall_s(),
                      .level = level,
                      .msg = mem,
                      .ctx = mem + ml + 1,
                      .bytes = ml + cl + 2};

    pthread_mutex_lock(&l->mu);
    bool full = l->stop || l->count >= l->opt.capacity || l->bytes + e.bytes > l->opt.max_bytes;
    if (!full) {
        l->ring[(l->head + l->count) % l->opt.capacity] = e;
        l->count++;
        l->bytes += e.bytes;
        l->appended++;
        if (l->count >= l->opt.batch_rows)
            pthread_cond_signal(&l->wake);
    }
    pthread_mutex_unlock(&l->mu);
    if (full) {
        free(mem);
        count_drop(l, "buffer_full", 1);
    }
}

static void sink(void *userdata, enum log_level level, const char *msg, const char *context_json)
{
    struct logdb *l = userdata;
    atomic_fetch_add(&l->sinks_running, 1);
    logdb_push(l, level, msg, context_json);
    atomic_fetch_sub(&l->sinks_running, 1);
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

enum insert_result { INSERT_OK, INSERT_UNAVAILABLE, INSERT_REFUSED };

/* The batch's text, escaped, fits well below this. */
#define ARRAY_MAX (64 * 1024 * 1024)

/* Inserts n entries in one statement. */
static enum insert_result insert_rows(struct pool_conn *c, const struct entry *e, size_t n)
{
    struct buf a[4];
    for (int k = 0; k < 4; k++) {
        buf_init(&a[k], ARRAY_MAX);
        db_array_open(&a[k]);
    }
    for (size_t i = 0; i < n; i++) {
        char ts[64];
        /* Whole seconds and microseconds: a wall clock fits, whatever the compiler fears. */
        long long sec = (long long)e[i].ts;
        int usec = (int)((e[i].ts - (double)sec) * 1e6);
        snprintf(ts, sizeof(ts), "%lld.%06d", sec, usec < 0 || usec > 999999 ? 0 : usec);
        db_array_text(&a[0], ts);
        db_array_text(&a[1], level_names[e[i].level]);
        db_array_text(&a[2], e[i].msg);
        db_array_text(&a[3], e[i].ctx);
    }
    const char *params[4];
    bool ok = true;
    for (int k = 0; k < 4; k++) {
        params[k] = db_array_close(&a[k]);
        ok = ok && params[k];
    }
    enum insert_result rc = INSERT_REFUSED;
    if (ok) {
        PGresult *r = pool_exec(c, STMT_INSERT, 4, params);
        if (r && PQresultStatus(r) == PGRES_COMMAND_OK) {
            rc = INSERT_OK;
        } else {
            char state[DB_SQLSTATE_LEN];
            db_sqlstate_copy(r, state);
            /* A lost connection, a shutdown, too many clients: not the rows' fault. */
            bool down = PQstatus(pool_conn_pg(c)) != CONNECTION_OK ||
                        strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
                        strncmp(state, "53", 2) == 0;
            rc = down ? INSERT_UNAVAILABLE : INSERT_REFUSED;
        }
        PQclear(r);
    }
    for (int k = 0; k < 4; k++)
        buf_free(&a[k]);
    return rc;
}

/*
 * Writes the batch; rows the database refuses one by one are dropped.
 * Returns false when the database could not be reached (nothing written).
 */
static bool write_batch(struct logdb *l, const struct entry *e, size_t n)
{
    struct pool_conn *c = NULL;
    if (pool_acquire(l->pool, 1000, &c) < 0)
        return false;
    enum insert_result rc = insert_rows(c, e, n);
    if (rc == INSERT_REFUSED) {
        uint64_t ok = 0;
        for (size_t i = 0; i < n && rc != INSERT_UNAVAILABLE; i++) {
            rc = insert_rows(c, &e[i], 1);
            if (rc == INSERT_OK)
                ok++;
            else if (rc == INSERT_REFUSED)
                count_drop(l, "db_error", 1);
        }
        atomic_fetch_add(&l->written, ok);
        tgm_log_written(ok);
    } else if (rc == INSERT_OK) {
        atomic_fetch_add(&l->written, n);
        tgm_log_written(n);
    }
    pool_release(l->pool, c);
    /* A row-by-row pass cut short by a lost connection may repeat a few rows: rare, harmless. */
    return rc != INSERT_UNAVAILABLE;
}

/* Drops n entries from the head (the writer's batch) and wakes flushers. */
static void advance(struct logdb *l, size_t n)
{
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < n; i++) {
        struct entry *e = &l->ring[(l->head + i) % l->opt.capacity];
        l->bytes -= e->bytes;
        free(e->msg);
        e->msg = NULL;
    }
    l->head = (l->head + n) % l->opt.capacity;
    l->count -= n;
    l->taken += n;
    pthread_cond_broadcast(&l->done);
    pthread_mutex_unlock(&l->mu);
}

int64_t logdb_retention_run(struct logdb *l)
{
    if (l->opt.retention_days <= 0 && l->opt.audit_retention_days <= 0)
        return 0;
    struct pool_conn *c = NULL;
    int rc = pool_acquire(l->pool, 1000, &c);
    if (rc < 0)
        return rc;
    char days[16], limit[24], audit[16];
    /* 0 keeps for ever: a window of 1000 centuries */
    snprintf(days, sizeof(days), "%d",
             l->opt.retention_days > 0 ? l->opt.retention_days : 36500000);
    snprintf(limit, sizeof(limit), "%zu", l->opt.retention_batch);
    snprintf(audit, sizeof(audit), "%d", l->opt.audit_retention_days);
    const char *params[3] = {days, limit, l->opt.audit_retention_days > 0 ? audit : NULL};
    int64_t total = 0;
    for (int round = 0; round < RETENTION_ROUNDS; round++) {
        int64_t n = pool_run_rows(c, STMT_RETENTION, 3, params, NULL);
        if (n < 0) {
            char err[256];
            LOG(LOG_WARN, "logs retention failed",
                LOG_STR("error", db_errmsg(pool_conn_pg(c), NULL, err, sizeof(err))));
            total = total ? total : -EIO;
            break;
        }
        total += n;
        if ((size_t)n < l->opt.retention_batch)
            break;
    }
    pool_release(l->pool, c);
    if (total > 0) {
        atomic_fetch_add(&l->deleted, (uint64_t)total);
        LOG(LOG_INFO, "logs retention deleted old rows", LOG_INT("rows", total),
            LOG_INT("retention_days", l->opt.retention_days));
    }
    return total;
}

/* Reports drops since the last report at error level (from the writer thread only). */
static void report_drops(struct logdb *l, uint64_t *seen, int64_t *last)
{
    uint64_t d = atomic_load(&l->dropped);
    if (d == *seen || clock_mono_ms() - *last < DROP_REPORT_MS)
        return;
    LOG(LOG_ERROR, "log events could not be stored in the logs table",
        LOG_INT("dropped", (int64_t)(d - *seen)), LOG_INT("dropped_total", (int64_t)d));
    *seen = d;
    *last = clock_mono_ms();
}

static void *writer_main(void *arg)
{
    struct logdb *l = arg;
    size_t max = l->opt.batch_rows;
    struct entry *batch = calloc(max, sizeof(*batch));
    int64_t retry_ms = 0, retry_at = 0;
    int64_t next_retention = clock_mono_ms() + l->opt.retention_interval_ms / 10;
    uint64_t seen = 0;
    int64_t last_report = 0;
    bool was_down = false;

    for (;;) {
        pthread_mutex_lock(&l->mu);
        for (;;) {
            int64_t now = clock_mono_ms();
            bool can_write = l->count > 0 && now >= retry_at;
            if (l->stop && (l->count == 0 || now >= l->stop_deadline_ms))
                break;
            if (can_write && (l->count >= max || l->flush_wanted || l->stop))
                break;
            int64_t wait = l->opt.flush_ms;
            if (retry_at > now && retry_at - now > wait)
                wait = retry_at - now;
            if (l->stop && l->stop_deadline_ms - now < wait)
                wait = l->stop_deadline_ms - now > 0 ? l->stop_deadline_ms - now : 1;
            struct timespec ts;
            ts = clock_deadline(CLOCK_REALTIME, wait);
            if (pthread_cond_timedwait(&l->wake, &l->mu, &ts) == ETIMEDOUT) {
                now = clock_mono_ms();
                if (l->count > 0 && now >= retry_at)
                    break; /* the flush interval passed */
                if (now >= next_retention)
                    break;
            }
        }
        bool stopping = l->stop;
        if (stopping && (l->count == 0 || clock_mono_ms() >= l->stop_deadline_ms)) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        size_t n = l->count < max ? l->count : max;
        for (size_t i = 0; i < n && batch; i++)
            batch[i] = l->ring[(l->head + i) % l->opt.capacity];
        l->flush_wanted = false;
        pthread_mutex_unlock(&l->mu);

        if (n > 0 && batch && clock_mono_ms() >= retry_at) {
            if (write_batch(l, batch, n)) {
                advance(l, n);
                retry_ms = 0;
                retry_at = 0;
                if (was_down)
                    LOG(LOG_INFO, "the logs table is reachable again", LOG_STR("table", "logs"));
                was_down = false;
            } else {
                retry_ms = retry_ms ? retry_ms * 2 : RETRY_MIN_MS;
                if (retry_ms > RETRY_MAX_MS)
                    retry_ms = RETRY_MAX_MS;
                retry_at = clock_mono_ms() + retry_ms;
                if (!was_down)
                    LOG(LOG_WARN, "cannot write to the logs table: keeping events buffered",
                        LOG_INT("retry_ms", retry_ms));
                was_down = true;
            }
        }
        if (!stopping && clock_mono_ms() >= next_retention) {
            next_retention = clock_mono_ms() + l->opt.retention_interval_ms;
            logdb_retention_run(l);
        }
        report_drops(l, &seen, &last_report);
    }

    /* What could not be written before the deadline is lost: count it. */
    pthread_mutex_lock(&l->mu);
    size_t left = l->count;
    pthread_mutex_unlock(&l->mu);
    if (left > 0) {
        count_drop(l, "db_error", left);
        advance(l, left);
    }
    report_drops(l, &seen, &(int64_t){0});
    free(batch);
    return NULL;
}

struct logdb *logdb_start(struct pool *pool, const struct logdb_options *opt)
{
    struct logdb *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->pool = pool;
    if (opt)
        l->opt = *opt;
    if (l->opt.capacity == 0)
        l->opt.capacity = 4096;
    if (l->opt.max_bytes == 0)
        l->opt.max_bytes = 4 * 1024 * 1024;
    if (l->opt.flush_ms <= 0)
        l->opt.flush_ms = 200;
    if (l->opt.batch_rows == 0)
        l->opt.batch_rows = 256;
    if (l->opt.retention_interval_ms <= 0)
        l->opt.retention_interval_ms = 60000;
    if (l->opt.retention_batch == 0)
        l->opt.retention_batch = 1000;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->wake, NULL);
    pthread_cond_init(&l->done, NULL);
    l->ring = calloc(l->opt.capacity, sizeof(*l->ring));
    if (!l->ring || pthread_create(&l->thread, NULL, writer_main, l) != 0) {
        free(l->ring);
        pthread_cond_destroy(&l->done);
        pthread_cond_destroy(&l->wake);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return NULL;
    }
    l->started = true;
    /* LOG_DB_LEVEL=off: no sink; the writer still runs the retention. */
    if (!l->opt.no_sink && (unsigned)l->opt.min_level < LOG_OFF) {
        log_set_sink(l->opt.min_level, sink, l);
        l->sink_installed = true;
    }
    return l;
}

void logdb_stop(struct logdb *l, int64_t deadline_ms)
{
    if (!l)
        return;
    if (l->sink_installed) {
        log_set_sink(LOG_OFF, NULL, NULL);
        /*
         * log.h: an event already being logged may still reach the sink after
         * log_set_sink() returns. Wait for running calls, and a grace period
         * for a call that has read the old sink but not entered it yet.
         */
        struct timespec grace = {.tv_nsec = 20 * 1000000L};
        nanosleep(&grace, NULL);
        while (atomic_load(&l->sinks_running) > 0)
            nanosleep(&(struct timespec){.tv_nsec = 1000000L}, NULL);
    }
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    l->stop_deadline_ms = clock_mono_ms() + (deadline_ms > 0 ? deadline_ms : 0);
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);

    for (size_t i = 0; i < l->count; i++)
        free(l->ring[(l->head + i) % l->opt.capacity].msg);
    free(l->ring);
    pthread_cond_destroy(&l->done);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int logdb_flush(struct logdb *l, int64_t timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    uint64_t target = l->appended;
    l->flush_wanted = true;
    pthread_cond_signal(&l->wake);
    while (l->taken < target) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        struct timespec ts;
        ts = clock_deadline(CLOCK_REALTIME, left < 50 ? left : 50);
        pthread_cond_timedwait(&l->done, &l->mu, &ts);
        if (l->taken < target) {
            l->flush_wanted = true;
            pthread_cond_signal(&l->wake);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void logdb_stats(struct logdb *l, struct logdb_stats *ret)
{
    pthread_mutex_lock(&l->mu);
    ret->buffered = l->count;
    pthread_mutex_unlock(&l->mu);
    ret->written = atomic_load(&l->written);
    ret->dropped = atomic_load(&l->dropped);
    ret->deleted = atomic_load(&l->deleted);
}
