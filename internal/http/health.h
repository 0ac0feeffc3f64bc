/*
 * health.h - readiness for load balancers: the logic behind GET /health.
 *
 * Design: the HTTP layer must never wait for the database on
 * libmicrohttpd's event-loop thread, so the database is checked by a
 * background thread of this module, and health_report() only copies the
 * last result (a mutex held for a memcpy; never a query):
 *
 *   - the checker thread runs `SELECT 1` on a pooled connection every
 *     check_interval_ms (1 s), acquiring with a check_timeout_ms (1 s)
 *     budget. Polling /health 1000 times a second therefore costs one query
 *     a second, and the answer is never older than about a second. A check
 *     still running after check_timeout_ms, or a result older than three
 *     intervals (a stuck checker), counts as failed - so a hung server turns
 *     /health to 503 within ~1 s even while the query itself hangs;
 *   - the stats thread reads the outbox backlog (pending count and the age
 *     of the oldest, every stats_interval_ms, 5 s, on the outbox_due partial
 *     index) and, less often (slow_stats_interval_ms, 30 s), the failed
 *     outbox rows and the open and assigned requests (on their partial
 *     index), and least often (finished_stats_interval_ms, 10 min) the
 *     solved and closed requests, a read of every row but the active ones.
 *     It asks the modules that own those tables (outbox/stats.h,
 *     desk/counts.h) and publishes the figures to the metrics
 *     (tgm_db_stats()) and to the report. It has its own thread so
 *     that a slow count never delays the readiness check.
 *
 * Verdict (health_evaluate(), pure): fail (503) when the last check did not
 * answer within 1 s, no check has completed yet, the queue is saturated
 * (depth >= capacity) or the instance is draining; warn (still 200) when the
 * pool is more than 90 % in use or has waiters, the queue is more than 90 %
 * full, or the outbox backlog is large (outbox_warn_pending rows or the
 * oldest older than outbox_warn_age_s); pass otherwise.
 *
 * Body: application/health+json (IETF draft "Health Check Response Format
 * for HTTP APIs"), see health_render_json().
 */
#ifndef TGDESK_HTTP_HEALTH_H
#define TGDESK_HTTP_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;
struct health;

#define HEALTH_CONTENT_TYPE "application/health+json"

enum health_status { HEALTH_PASS = 0, HEALTH_WARN, HEALTH_FAIL };

struct health_options {
    const char *version;                /* copied; "version" of the body */
    int64_t check_interval_ms;          /* 0: 1000 */
    int64_t check_timeout_ms;           /* 0: 1000 */
    int64_t stats_interval_ms;          /* 0: 5000; < 0: no stats thread */
    int64_t slow_stats_interval_ms;     /* 0: 30000 */
    int64_t finished_stats_interval_ms; /* 0: 600000 (solved and closed requests) */
    double pool_warn_ratio;             /* 0: 0.9 */
    int64_t outbox_warn_pending;        /* 0: 1000 */
    double outbox_warn_age_s;           /* 0: 300 */
    /* The webhook queue; NULL functions: no queue check. */
    size_t (*queue_depth)(void *ud);
    size_t (*queue_capacity)(void *ud);
    void *queue_ud;
    /* The webhook runs without a secret (WEBHOOK_INSECURE=true): the body
     * says so in "notes"; the status is not changed by it. */
    bool webhook_insecure;
};

/* Everything one answer is built from. */
struct health_report {
    enum health_status status; /* overall: the worst of the checks */
    const char *version;       /* borrowed from the struct health */
    bool draining;
    bool webhook_insecure; /* the webhook accepts unauthenticated updates */

    /* postgres:responseTime */
    enum health_status db_status;
    bool db_known;          /* a check has completed */
    bool db_ok;             /* ... and it answered */
    double db_ms;           /* its response time (acquire + SELECT 1) */
    int64_t db_age_ms;      /* how long ago it completed */
    int64_t db_inflight_ms; /* a check running for this long, or 0 */
    char db_error[160];     /* why it failed, in our words: never a library's text */

    /* postgres:connections */
    enum health_status pool_status;
    int pool_max, pool_in_use, pool_idle, pool_waiting;

    /* queue:utilization */
    enum health_status queue_status;
    bool queue_known;
    size_t queue_depth, queue_capacity;

    /* outbox:backlog */
    enum health_status outbox_status;
    bool outbox_known;
    int64_t outbox_pending;
    double outbox_oldest_s;
};

/*
 * Starts the checker (and stats) thread over pool (borrowed: must outlive
 * the struct health). The first check starts at once. Returns NULL when out
 * of memory or a thread cannot start. Stop and free with health_stop().
 */
struct health *health_start(struct pool *pool, const struct health_options *opt);

/*
 * Stops the threads (waiting for a query in progress to end) and frees.
 * Accepts NULL.
 */
void health_stop(struct health *h);

/* From now on every report fails (SIGTERM: take this instance out of rotation). */
void health_set_draining(struct health *h);

/*
 * Fills *ret from the cached results, the pool's statistics and the queue,
 * and evaluates it. Never runs a query nor waits for one: safe on the HTTP
 * event-loop thread. Thread-safe.
 */
void health_report(struct health *h, struct health_report *ret);

/*
 * Sets the statuses of r from its observations (pure). Options as in
 * health_start(); opt may be NULL for the defaults.
 */
void health_evaluate(struct health_report *r, const struct health_options *opt);

/* 200 for pass and warn, 503 for fail. */
int health_http_status(const struct health_report *r);

/* "pass", "warn" or "fail". */
const char *health_status_name(enum health_status s);

/*
 * The application/health+json body of r, e.g.
 *   {"status":"pass","version":"0.1.0","checks":{
 *     "postgres:responseTime":[{"componentType":"datastore","observedValue":0.4,
 *                               "observedUnit":"ms","status":"pass"}],
 *     "postgres:connections":[{"componentType":"datastore","observedValue":3,
 *                              "observedUnit":"connections","max":100,"idle":2,
 *                              "waiting":0,"status":"pass"}],
 *     "queue:utilization":[{"componentType":"component","observedValue":0.5,
 *                           "observedUnit":"percent","depth":5,"capacity":1024,
 *                           "status":"pass"}],
 *     "outbox:backlog":[{"componentType":"component","observedValue":0,
 *                        "observedUnit":"messages","oldestAgeSeconds":0,"status":"pass"}]}}
 * with "output" naming the reason of a warn or fail. Returns a
 * NUL-terminated string the caller frees with free() and sets *ret_len, or
 * NULL when out of memory.
 */
char *health_render_json(const struct health_report *r, size_t *ret_len);

#endif
