/*
 * health.c - the /health logic (see health.h): a checker thread, a stats
 * thread, a cached result read without waiting, and the health+json body.
 */
#include "http/health.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/conn.h"
#include "db/pool.h"
#include "desk/counts.h"
#include "log.h"
#include "metrics/tgm.h"
#include "outbox/stats.h"
#include "util/clock.h"

#define SQL_PING "SELECT 1"

struct health {
    struct pool *pool;
    struct health_options opt;
    char *version;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    bool draining;

    /* the last completed check */
    bool db_known;
    bool db_ok;
    double db_ms;
    int64_t db_done_ms;
    int64_t db_started_ms; /* a check in progress since, or 0 */
    char db_error[160];    /* the public reason: our own words, never a library's */
    char db_logged[160];   /* the detail last logged, to log each change once */

    /* the last stats read (the finished requests by the stats thread only) */
    bool finished_known;
    int64_t requests_solved, requests_closed;
    bool outbox_known;
    int64_t outbox_pending;
    double outbox_oldest_s;

    pthread_t checker;
    pthread_t stats;
    bool checker_started;
    bool stats_started;
};

static void options_defaults(struct health_options *o)
{
    if (o->check_interval_ms <= 0)
        o->check_interval_ms = 1000;
    if (o->check_timeout_ms <= 0)
        o->check_timeout_ms = 1000;
    if (o->stats_interval_ms == 0)
        o->stats_interval_ms = 5000;
    if (o->slow_stats_interval_ms <= 0)
        o->slow_stats_interval_ms = 30000;
    if (o->finished_stats_interval_ms <= 0)
        o->finished_stats_interval_ms = 600000;
    if (o->pool_warn_ratio <= 0)
        o->pool_warn_ratio = 0.9;
    if (o->outbox_warn_pending <= 0)
        o->outbox_warn_pending = 1000;
    if (o->outbox_warn_age_s <= 0)
        o->outbox_warn_age_s = 300;
}

/* Sleeps on the condition until deadline (monotonic ms) or stop. Returns false on stop. */
static bool wait_until(struct health *h, int64_t deadline)
{
    pthread_mutex_lock(&h->mu);
    while (!h->stop && clock_mono_ms() < deadline) {
        struct timespec ts = clock_deadline(CLOCK_REALTIME, deadline - clock_mono_ms());
        pthread_cond_timedwait(&h->cond, &h->mu, &ts);
    }
    bool go_on = !h->stop;
    pthread_mutex_unlock(&h->mu);
    return go_on;
}

static const char *acquire_error(int rc)
{
    switch (rc) {
    case -ETIMEDOUT:
        return "no database connection within the check budget (busy or not answering)";
    case -ECONNREFUSED:
        return "the database cannot be reached";
    case -ESHUTDOWN:
        return "the pool is shutting down";
    default:
        return "cannot get a database connection";
    }
}

/* One readiness check: a pooled SELECT 1 within the budget - the wait for a
 * connection, its check or opening, and the SELECT all end by then, even
 * against a server that stopped answering. The public reason (err) is our
 * own text; libpq's message (detail) goes to the log only. */
static void check_once(struct health *h)
{
    char err[160] = "";
    char detail[160] = "";
    double t0 = (double)clock_mono_ns() / 1e9;

    pthread_mutex_lock(&h->mu);
    h->db_started_ms = clock_mono_ms();
    pthread_mutex_unlock(&h->mu);

    struct pool_conn *c = NULL;
    int rc = pool_acquire_bounded(h->pool, h->opt.check_timeout_ms, &c);
    bool ok = false;
    if (rc < 0) {
        snprintf(err, sizeof(err), "%s", acquire_error(rc));
    } else {
        PGresult *r = pool_exec_sql(c, "health_ping", SQL_PING);
        ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok) {
            snprintf(err, sizeof(err), "SELECT 1 failed");
            db_errmsg(pool_conn_pg(c), r, detail, sizeof(detail));
        }
        PQclear(r);
        pool_release(h->pool, c);
    }
    double ms = ((double)clock_mono_ns() / 1e9 - t0) * 1000.0;
    if (ok && ms > (double)h->opt.check_timeout_ms) {
        ok = false;
        snprintf(err, sizeof(err), "SELECT 1 took %lld ms, more than %lld ms", (long long)ms,
                 (long long)h->opt.check_timeout_ms);
    }
    if (!ok && !detail[0])
        memcpy(detail, err, sizeof(detail));

    pthread_mutex_lock(&h->mu);
    bool was_ok = h->db_ok || !h->db_known;
    h->db_known = true;
    h->db_ok = ok;
    h->db_ms = ms;
    h->db_done_ms = clock_mono_ms();
    h->db_started_ms = 0;
    memcpy(h->db_error, err, sizeof(err));
    /* Changes only: a down database must not write a line a second. */
    bool log_fail = !ok && (was_ok || strcmp(h->db_logged, detail) != 0);
    memcpy(h->db_logged, ok ? "" : detail, ok ? 1 : sizeof(detail));
    pthread_mutex_unlock(&h->mu);

    if (log_fail)
        LOG(LOG_WARN, "health: database check failed", LOG_STR("error", detail), LOG_DBL("ms", ms));
    else if (!was_ok && ok)
        LOG(LOG_INFO, "health: database check passes again", LOG_DBL("ms", ms));
}

static void *checker_main(void *arg)
{
    struct health *h = arg;
    int64_t next = clock_mono_ms();
    while (wait_until(h, next)) {
        next = clock_mono_ms() + h->opt.check_interval_ms;
        check_once(h);
    }
    return NULL;
}

/* Reads the counts; slow adds the failed outbox rows and the active requests
 * by status, finished the solved and closed ones (kept in between). */
static void stats_once(struct health *h, bool slow, bool finished)
{
    struct tgm_db_stats st = {0};
    struct pool_conn *c = NULL;
    if (pool_acquire(h->pool, h->opt.check_timeout_ms, &c) < 0) {
        tgm_db_stats_failed();
        return;
    }
    struct outbox_backlog backlog;
    if (outbox_stats_backlog(c, &backlog) == 0) {
        st.outbox_ok = true;
        st.outbox_pending = backlog.pending;
        st.outbox_oldest_pending_s = backlog.oldest_pending_s;
    }
    if (finished && desk_counts_finished(c, &h->requests_solved, &h->requests_closed) == 0)
        h->finished_known = true;
    if (slow) {
        st.counts_ok = h->finished_known && outbox_stats_failed(c, &st.outbox_failed) == 0 &&
                       desk_counts_active(c, &st.requests_open, &st.requests_assigned) == 0;
        st.requests_solved = h->requests_solved;
        st.requests_closed = h->requests_closed;
    }
    pool_release(h->pool, c);

    if (!st.outbox_ok || (slow && !st.counts_ok))
        tgm_db_stats_failed();
    if (st.outbox_ok) {
        pthread_mutex_lock(&h->mu);
        h->outbox_known = true;
        h->outbox_pending = st.outbox_pending;
        h->outbox_oldest_s = st.outbox_oldest_pending_s;
        pthread_mutex_unlock(&h->mu);
    }
    tgm_db_stats(&st);
}

static void *stats_main(void *arg)
{
    struct health *h = arg;
    int64_t next = clock_mono_ms(), next_slow = next, next_finished = next;
    while (wait_until(h, next)) {
        int64_t now = clock_mono_ms();
        bool slow = now >= next_slow;
        /* until the finished requests were read once, every slow round tries */
        bool finished = slow && (now >= next_finished || !h->finished_known);
        next = now + h->opt.stats_interval_ms;
        if (slow)
            next_slow = now + h->opt.slow_stats_interval_ms;
        if (finished)
            next_finished = now + h->opt.finished_stats_interval_ms;
        stats_once(h, slow, finished);
    }
    return NULL;
}

struct health *health_start(struct pool *pool, const struct health_options *opt)
{
    struct health *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    if (opt)
        h->opt = *opt;
    options_defaults(&h->opt);
    h->pool = pool;
    h->version = strdup(h->opt.version ? h->opt.version : "");
    h->opt.version = h->version;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cond, NULL);
    if (!h->version)
        goto fail;
    if (pthread_create(&h->checker, NULL, checker_main, h) != 0)
        goto fail;
    h->checker_started = true;
    if (h->opt.stats_interval_ms > 0) {
        if (pthread_create(&h->stats, NULL, stats_main, h) != 0)
            goto fail;
        h->stats_started = true;
    }
    return h;
fail:
    LOG(LOG_ERROR, "health: cannot start", LOG_STR("error", "out of memory or threads"));
    health_stop(h);
    return NULL;
}

void health_stop(struct health *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
    if (h->checker_started)
        pthread_join(h->checker, NULL);
    if (h->stats_started)
        pthread_join(h->stats, NULL);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->mu);
    free(h->version);
    free(h);
}

void health_set_draining(struct health *h)
{
    pthread_mutex_lock(&h->mu);
    h->draining = true;
    pthread_mutex_unlock(&h->mu);
}

void health_report(struct health *h, struct health_report *ret)
{
    struct health_report r = {.version = h->version, .webhook_insecure = h->opt.webhook_insecure};
    int64_t now = clock_mono_ms();

    pthread_mutex_lock(&h->mu);
    r.draining = h->draining;
    r.db_known = h->db_known;
    r.db_ok = h->db_ok;
    r.db_ms = h->db_ms;
    r.db_age_ms = h->db_known ? now - h->db_done_ms : 0;
    r.db_inflight_ms = h->db_started_ms ? now - h->db_started_ms : 0;
    memcpy(r.db_error, h->db_error, sizeof(r.db_error));
    r.outbox_known = h->outbox_known;
    r.outbox_pending = h->outbox_pending;
    r.outbox_oldest_s = h->outbox_oldest_s;
    pthread_mutex_unlock(&h->mu);

    struct pool_stats ps;
    pool_stats(h->pool, &ps);
    r.pool_max = ps.max;
    r.pool_in_use = ps.in_use;
    r.pool_idle = ps.idle;
    r.pool_waiting = ps.waiting;

    if (h->opt.queue_depth && h->opt.queue_capacity) {
        r.queue_known = true;
        r.queue_depth = h->opt.queue_depth(h->opt.queue_ud);
        r.queue_capacity = h->opt.queue_capacity(h->opt.queue_ud);
    }
    health_evaluate(&r, &h->opt);
    *ret = r;
}

static enum health_status worst(enum health_status a, enum health_status b)
{
    return a > b ? a : b;
}

void health_evaluate(struct health_report *r, const struct health_options *opt)
{
    struct health_options o = {0};
    if (opt)
        o = *opt;
    options_defaults(&o);

    r->db_status = HEALTH_PASS;
    if (!r->db_known) {
        r->db_status = HEALTH_FAIL;
        if (!r->db_error[0])
            snprintf(r->db_error, sizeof(r->db_error), "no database check has completed yet");
    } else if (r->db_inflight_ms > o.check_timeout_ms) {
        r->db_status = HEALTH_FAIL;
        snprintf(r->db_error, sizeof(r->db_error), "SELECT 1 has not answered for %lld ms",
                 (long long)r->db_inflight_ms);
    } else if (!r->db_ok) {
        r->db_status = HEALTH_FAIL;
    } else if (r->db_age_ms > 3 * o.check_interval_ms + o.check_timeout_ms) {
        r->db_status = HEALTH_FAIL;
        snprintf(r->db_error, sizeof(r->db_error), "the last database check is %lld ms old",
                 (long long)r->db_age_ms);
    }
    if (r->db_status == HEALTH_PASS)
        r->db_error[0] = '\0';

    r->pool_status = HEALTH_PASS;
    if (r->pool_max > 0 &&
        ((double)r->pool_in_use > o.pool_warn_ratio * r->pool_max || r->pool_waiting > 0))
        r->pool_status = HEALTH_WARN;

    r->queue_status = HEALTH_PASS;
    if (r->queue_known && r->queue_capacity > 0) {
        if (r->queue_depth >= r->queue_capacity)
            r->queue_status = HEALTH_FAIL;
        else if ((double)r->queue_depth >= 0.9 * (double)r->queue_capacity)
            r->queue_status = HEALTH_WARN;
    }

    r->outbox_status = HEALTH_PASS;
    if (r->outbox_known &&
        (r->outbox_pending >= o.outbox_warn_pending || r->outbox_oldest_s >= o.outbox_warn_age_s))
        r->outbox_status = HEALTH_WARN;

    r->status =
        worst(worst(r->db_status, r->pool_status), worst(r->queue_status, r->outbox_status));
    if (r->draining)
        r->status = HEALTH_FAIL;
}

int health_http_status(const struct health_report *r)
{
    return r->status == HEALTH_FAIL ? 503 : 200;
}

const char *health_status_name(enum health_status s)
{
    switch (s) {
    case HEALTH_PASS:
        return "pass";
    case HEALTH_WARN:
        return "warn";
    default:
        return "fail";
    }
}

/* Appends one check: "name":[obj], obj gets "status" (and "output" when given). */
static int add_check(json_t *checks, const char *name, json_t *obj, enum health_status st,
                     const char *output)
{
    if (!obj)
        return -ENOMEM;
    json_object_set_new(obj, "status", json_string(health_status_name(st)));
    if (output && *output)
        json_object_set_new(obj, "output", json_string(output));
    json_t *arr = json_array();
    if (!arr || json_array_append_new(arr, obj) < 0) {
        json_decref(arr);
        return -ENOMEM;
    }
    return json_object_set_new(checks, name, arr) == 0 ? 0 : -ENOMEM;
}

char *health_render_json(const struct health_report *r, size_t *ret_len)
{
    json_t *root = json_object();
    json_t *checks = json_object();
    char *out = NULL;
    if (!root || !checks)
        goto done;
    json_object_set_new(root, "status", json_string(health_status_name(r->status)));
    json_object_set_new(root, "version", json_string(r->version ? r->version : ""));
    json_object_set_new(root, "description", json_string("tgdesk readiness"));
    if (r->draining)
        json_object_set_new(root, "output", json_string("draining: the instance is stopping"));
    if (r->webhook_insecure)
        json_object_set_new(root, "notes",
                            json_pack("[s]",
                                      "the webhook is unauthenticated: WEBHOOK_INSECURE=true "
                                      "and no WEBHOOK_SECRET"));

    int rc = add_check(checks, "postgres:responseTime",
                       r->db_known ? json_pack("{s:s,s:f,s:s}", "componentType", "datastore",
                                               "observedValue", r->db_ms, "observedUnit", "ms")
                                   : json_pack("{s:s}", "componentType", "datastore"),
                       r->db_status, r->db_error);

    char out_pool[96] = "";
    if (r->pool_status != HEALTH_PASS)
        snprintf(out_pool, sizeof(out_pool), "%d of %d connections in use, %d waiting",
                 r->pool_in_use, r->pool_max, r->pool_waiting);
    if (rc == 0)
        rc = add_check(checks, "postgres:connections",
                       json_pack("{s:s,s:i,s:s,s:i,s:i,s:i}", "componentType", "datastore",
                                 "observedValue", r->pool_in_use, "observedUnit", "connections",
                                 "max", r->pool_max, "idle", r->pool_idle, "waiting",
                                 r->pool_waiting),
                       r->pool_status, out_pool);

    if (rc == 0 && r->queue_known) {
        double pct =
            r->queue_capacity ? 100.0 * (double)r->queue_depth / (double)r->queue_capacity : 0;
        rc = add_check(checks, "queue:utilization",
                       json_pack("{s:s,s:f,s:s,s:I,s:I}", "componentType", "component",
                                 "observedValue", pct, "observedUnit", "percent", "depth",
                                 (json_int_t)r->queue_depth, "capacity",
                                 (json_int_t)r->queue_capacity),
                       r->queue_status,
                       r->queue_status == HEALTH_FAIL   ? "the webhook queue is full"
                       : r->queue_status == HEALTH_WARN ? "the webhook queue is almost full"
                                                        : NULL);
    }
    if (rc == 0 && r->outbox_known)
        rc = add_check(checks, "outbox:backlog",
                       json_pack("{s:s,s:I,s:s,s:f}", "componentType", "component", "observedValue",
                                 (json_int_t)r->outbox_pending, "observedUnit", "messages",
                                 "oldestAgeSeconds", r->outbox_oldest_s),
                       r->outbox_status,
                       r->outbox_status != HEALTH_PASS ? "outgoing messages are piling up" : NULL);
    if (rc == 0 && json_object_set(root, "checks", checks) == 0)
        out = json_dumps(root, JSON_COMPACT);
done:
    json_decref(checks);
    json_decref(root);
    if (out && ret_len)
        *ret_len = strlen(out);
    return out;
}
