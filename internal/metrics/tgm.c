/*
 * tgm.c - the families of tgm.h and their collectors.
 *
 * The family pointers are set once by tgm_init() (under pthread_once)
 * and never change afterwards; the series they lead to are atomics. The
 * watched sources (struct tgm_sources) are read by the collector only,
 * under its own lock, which tgm_watch()/tgm_unwatch() also take.
 */
#include "metrics/tgm.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "util/strnum.h"
#include "version.h"

static const double http_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const double api_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
/* 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 1 d, 2 d, 1 week */
static const double support_bounds[] = {60,    300,   900,   1800,   3600,  7200,
                                        14400, 28800, 86400, 172800, 604800};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static struct {
    struct metrics_family *build_info;
    struct metrics_family *http_requests, *http_duration;
    struct metrics_family *updates, *updates_deferred, *update_seconds;
    struct metrics_family *queue_depth, *queue_capacity, *batch_size, *transactions;
    struct metrics_family *pool_connections, *pool_max, *pool_waiting, *pool_acquires;
    struct metrics_family *pool_timeouts, *pool_unavailable, *pool_connects, *pool_connect_failures;
    struct metrics_family *pool_recycled, *pool_acquire_seconds;
    struct metrics_family *query_seconds, *query_errors;
    struct metrics_family *api_requests, *api_duration;
    struct metrics_family *outbox_pending, *outbox_oldest, *outbox_failed, *outbox_in_memory;
    struct metrics_family *support_requests, *first_response, *resolution;
    struct metrics_family *log_written, *log_dropped, *db_stats_failures;
    struct metrics_family *http_closed;
    struct metrics_family *outbox_merged;
    struct metrics_family *instance_info, *slots_held, *leases_lost, *sends_after_freeze;
    struct metrics_family *csat_ratings, *sla_breaches;
} m;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc = -EAGAIN;
static atomic_bool g_ready;

struct family_def {
    struct metrics_family **slot;
    struct metrics_spec spec;
};

#define HIST(b) .bounds = (b), .nbounds = NELEMS(b)

static void init_once(void)
{
    struct metrics_registry *r = metrics_global();
    const struct family_def defs[] = {
        {&m.build_info,
         {.name = "tgdesk_build_info",
          .help = "Version of the running tgdesk; always 1.",
          .type = METRICS_GAUGE,
          .labels = {"version"}}},
        {&m.http_requests,
         {.name = "tgdesk_http_requests_total",
          .help = "HTTP requests answered, by route and status code.",
          .type = METRICS_COUNTER,
          .labels = {"route", "code"},
          .max_series = 128}},
        {&m.http_duration,
         {.name = "tgdesk_http_request_duration_seconds",
          .help = "Time from a request's headers to its answer being queued, by route.",
          .type = METRICS_HISTOGRAM,
          .labels = {"route"},
          HIST(http_bounds),
          .max_series = 16}},
        {&m.updates,
         {.name = "tgdesk_updates_total",
          .help = "Telegram updates handled, by update type and outcome (processed, duplicate, "
                  "ignored, rejected, failed).",
          .type = METRICS_COUNTER,
          .labels = {"type", "outcome"},
          .max_series = 256}},
        {&m.updates_deferred,
         {.name = "tgdesk_updates_deferred_total",
          .help = "Updates answered 503 so that Telegram redelivers them, by reason.",
          .type = METRICS_COUNTER,
          .labels = {"reason"},
          .max_series = 8}},
        {&m.update_seconds,
         {.name = "tgdesk_update_processing_seconds",
          .help = "Time a worker spent on an update, from taking its batch to the commit.",
          .type = METRICS_HISTOGRAM,
          HIST(http_bounds)}},
        {&m.queue_depth,
         {.name = "tgdesk_queue_depth",
          .help = "Updates waiting for a worker.",
          .type = METRICS_GAUGE}},
        {&m.queue_capacity,
         {.name = "tgdesk_queue_capacity",
          .help = "Updates that may wait for a worker before 503.",
          .type = METRICS_GAUGE}},
        {&m.batch_size,
         {.name = "tgdesk_pipeline_batch_size",
          .help = "Updates per group-commit transaction.",
          .type = METRICS_HISTOGRAM,
          HIST(batch_bounds)}},
        {&m.transactions,
         {.name = "tgdesk_db_transactions_total",
          .help = "Group-commit transactions, by result.",
          .type = METRICS_COUNTER,
          .labels = {"result"},
          .max_series = 8}},
        {&m.pool_connections,
         {.name = "tgdesk_db_pool_connections",
          .help = "Open pooled database connections, by state.",
          .type = METRICS_GAUGE,
          .labels = {"state"},
          .max_series = 4}},
        {&m.pool_max,
         {.name = "tgdesk_db_pool_max_connections",
          .help = "Most connections the pool may open (DB_POOL_MAX).",
          .type = METRICS_GAUGE}},
        {&m.pool_waiting,
         {.name = "tgdesk_db_pool_waiting",
          .help = "Callers waiting for a pooled connection.",
          .type = METRICS_GAUGE}},
        {&m.pool_acquires,
         {.name = "tgdesk_db_pool_acquires_total",
          .help = "Connections handed out by the pool.",
          .type = METRICS_COUNTER}},
        {&m.pool_timeouts,
         {.name = "tgdesk_db_pool_timeouts_total",
          .help = "Checkouts that gave up after DB_POOL_TIMEOUT (pool exhausted).",
          .type = METRICS_COUNTER}},
        {&m.pool_unavailable,
         {.name = "tgdesk_db_pool_unavailable_total",
          .help = "Checkouts that failed fast because the database could not be reached.",
          .type = METRICS_COUNTER}},
        {&m.pool_connects,
         {.name = "tgdesk_db_pool_connects_total",
          .help = "Database connections opened.",
          .type = METRICS_COUNTER}},
        {&m.pool_connect_failures,
         {.name = "tgdesk_db_pool_connect_failures_total",
          .help = "Failed attempts to open a connection.",
          .type = METRICS_COUNTER}},
        {&m.pool_recycled,
         {.name = "tgdesk_db_pool_recycled_total",
          .help = "Connections closed by the pool, by reason.",
          .type = METRICS_COUNTER,
          .labels = {"reason"},
          .max_series = 8}},
        {&m.pool_acquire_seconds,
         {.name = "tgdesk_db_pool_acquire_seconds",
          .help = "Wait for a pooled connection.",
          .type = METRICS_HISTOGRAM,
          .bounds = pool_hist_bounds,
          .nbounds = POOL_HIST_BUCKETS}},
        {&m.query_seconds,
         {.name = "tgdesk_db_query_duration_seconds",
          .help = "Duration of database statements, by name.",
          .type = METRICS_HISTOGRAM,
          .labels = {"query"},
          .bounds = pool_hist_bounds,
          .nbounds = POOL_HIST_BUCKETS,
          .max_series = 128}},
        {&m.query_errors,
         {.name = "tgdesk_db_query_errors_total",
          .help = "Database statements that failed, by name.",
          .type = METRICS_COUNTER,
          .labels = {"query"},
          .max_series = 128}},
        {&m.api_requests,
         {.name = "tgdesk_telegram_api_requests_total",
          .help = "Telegram Bot API calls, by method and result.",
          .type = METRICS_COUNTER,
          .labels = {"method", "result"},
          .max_series = 128}},
        {&m.api_duration,
         {.name = "tgdesk_telegram_api_request_duration_seconds",
          .help = "Duration of Telegram Bot API calls, by method.",
          .type = METRICS_HISTOGRAM,
          .labels = {"method"},
          HIST(api_bounds),
          .max_series = 32}},
        {&m.outbox_pending,
         {.name = "tgdesk_outbox_pending",
          .help = "Outgoing messages waiting to be sent (database).",
          .type = METRICS_GAUGE}},
        {&m.outbox_oldest,
         {.name = "tgdesk_outbox_oldest_pending_age_seconds",
          .help = "Age of the oldest outgoing message still waiting (database).",
          .type = METRICS_GAUGE}},
        {&m.outbox_failed,
         {.name = "tgdesk_outbox_failed",
          .help = "Outgoing messages that failed for good (database).",
          .type = METRICS_GAUGE}},
        {&m.outbox_in_memory,
         {.name = "tgdesk_outbox_in_memory",
          .help = "Outgoing messages held in the sender's memory.",
          .type = METRICS_GAUGE}},
        {&m.support_requests,
         {.name = "tgdesk_support_requests",
          .help = "Support requests, by status (database).",
          .type = METRICS_GAUGE,
          .labels = {"status"},
          .max_series = 8}},
        {&m.first_response,
         {.name = "tgdesk_support_first_response_seconds",
          .help = "Time from a request's creation to the first staff answer.",
          .type = METRICS_HISTOGRAM,
          HIST(support_bounds)}},
        {&m.resolution,
         {.name = "tgdesk_support_resolution_seconds",
          .help = "Time from a request's creation to its solution or closing.",
          .type = METRICS_HISTOGRAM,
          HIST(support_bounds)}},
        {&m.log_written,
         {.name = "tgdesk_log_rows_written_total",
          .help = "Rows written to the logs table.",
          .type = METRICS_COUNTER}},
        {&m.log_dropped,
         {.name = "tgdesk_log_rows_dropped_total",
          .help = "Log events that could not be written to the logs table, by reason.",
          .type = METRICS_COUNTER,
          .labels = {"reason"},
          .max_series = 4}},
        {&m.db_stats_failures,
         {.name = "tgdesk_db_stats_refresh_failures_total",
          .help = "Failed reads of the database counts behind the outbox and support gauges.",
          .type = METRICS_COUNTER}},
        {&m.http_closed,
         {.name = "tgdesk_http_connections_closed_total",
          .help = "Connections the HTTP server closed or turned away, by reason.",
          .type = METRICS_COUNTER,
          .labels = {"reason"},
          .max_series = 8}},
        {&m.outbox_merged,
         {.name = "tgdesk_outbox_notifications_merged_total",
          .help = "Staff notifications delivered inside an earlier one's message (merged).",
          .type = METRICS_COUNTER}},
        {&m.instance_info,
         {.name = "tgdesk_instance_info",
          .help = "This sender instance's name (host:pid:random) among those sharing the "
                  "database; always 1.",
          .type = METRICS_GAUGE,
          .labels = {"instance"},
          .max_series = 4}},
        {&m.slots_held,
         {.name = "tgdesk_outbox_chat_slots_held",
          .help = "Chat slots (chat id modulo 1024) this instance holds: it alone sends to "
                  "their chats.",
          .type = METRICS_GAUGE}},
        {&m.leases_lost,
         {.name = "tgdesk_outbox_leases_lost_total",
          .help = "Chat slots found taken by another instance at renewal (this one was "
                  "paused or cut off past its lease).",
          .type = METRICS_COUNTER}},
        {&m.sends_after_freeze,
         {.name = "tgdesk_outbox_sends_after_freeze_total",
          .help = "Calls on the wire when their chat's lease ran out (the instance was "
                  "paused): the next holder may send them again.",
          .type = METRICS_COUNTER}},
        {&m.csat_ratings,
         {.name = "tgdesk_csat_ratings_total",
          .help =
              "Satisfaction ratings pressed by users (a changed rating counts again), by score.",
          .type = METRICS_COUNTER,
          .labels = {"score"},
          .max_series = 6}},
        {&m.sla_breaches,
         {.name = "tgdesk_sla_breaches_total",
          .help = "Requests still unanswered when their first-response target ran out.",
          .type = METRICS_COUNTER}},
    };

    if (!r) {
        g_init_rc = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < NELEMS(defs); i++) {
        *defs[i].slot = metrics_register(r, &defs[i].spec);
        if (!*defs[i].slot) {
            g_init_rc = -errno;
            return;
        }
    }
    int rc = metrics_register_process(r);
    if (rc < 0) {
        g_init_rc = rc;
        return;
    }

    /* Known label values exist from the start, so rate() sees them from 0. */
    metrics_set(METRICS_GET(m.build_info, TGDESK_VERSION), 1);
    static const char *const statuses[] = {"open", "assigned", "solved", "closed"};
    for (size_t i = 0; i < NELEMS(statuses); i++)
        METRICS_GET(m.support_requests, statuses[i]);
    METRICS_GET(m.log_dropped, "buffer_full");
    METRICS_GET(m.log_dropped, "db_error");
    METRICS_GET(m.updates_deferred, "queue_full");
    METRICS_GET(m.updates_deferred, "database");
    METRICS_GET(m.updates_deferred, "db_error");
    METRICS_GET(m.updates_deferred, "memory");
    METRICS_GET(m.pool_connections, "in_use");
    METRICS_GET(m.pool_connections, "idle");
    static const char *const recycled[] = {"lifetime", "idle", "broken", "dirty"};
    for (size_t i = 0; i < NELEMS(recycled); i++)
        METRICS_GET(m.pool_recycled, recycled[i]);
    METRICS_GET(m.transactions, "commit");
    METRICS_GET(m.transactions, "rollback");
    static const char *const closed[] = {"request_timeout", "idle_timeout", "not_allowed", "limit"};
    for (size_t i = 0; i < NELEMS(closed); i++)
        METRICS_GET(m.http_closed, closed[i]);
    static const char *const scores[] = {"1", "2", "3", "4", "5"};
    for (size_t i = 0; i < NELEMS(scores); i++)
        METRICS_GET(m.csat_ratings, scores[i]);
    g_init_rc = 0;
    atomic_store_explicit(&g_ready, true, memory_order_release);
}

int tgm_init(void)
{
    pthread_once(&g_once, init_once);
    return g_init_rc;
}

static bool ready(void)
{
    return atomic_load_explicit(&g_ready, memory_order_acquire);
}

void tgm_http(const char *route, int code, double seconds)
{
    if (!ready())
        return;
    char c[STRNUM_I64_MAX];
    strnum_fmt_i64(c, code);
    metrics_inc(METRICS_GET(m.http_requests, route ? route : "other", c));
    if (seconds >= 0)
        metrics_observe(METRICS_GET(m.http_duration, route ? route : "other"), seconds);
}

void tgm_update(const char *type, const char *outcome, double seconds)
{
    if (!ready() || !outcome)
        return;
    if (strcmp(outcome, "retry") == 0) {
        metrics_inc(METRICS_GET(m.updates_deferred, "database"));
        return;
    }
    metrics_inc(METRICS_GET(m.updates, type ? type : "invalid", outcome));
    if (seconds >= 0)
        metrics_observe(metrics_get0(m.update_seconds), seconds);
}

void tgm_update_deferred(const char *reason)
{
    if (ready())
        metrics_inc(METRICS_GET(m.updates_deferred, reason ? reason : "other"));
}

void tgm_transaction(const char *result, size_t n)
{
    if (!ready())
        return;
    metrics_inc(METRICS_GET(m.transactions, result ? result : "other"));
    metrics_observe(metrics_get0(m.batch_size), (double)n);
}

void tgm_api_call(const char *method, const char *result, double seconds)
{
    if (!ready())
        return;
    method = method ? method : "other";
    metrics_inc(METRICS_GET(m.api_requests, method, result ? result : "other"));
    if (seconds >= 0)
        metrics_observe(METRICS_GET(m.api_duration, method), seconds);
}

void tgm_first_response(double seconds)
{
    if (ready() && seconds >= 0)
        metrics_observe(metrics_get0(m.first_response), seconds);
}

void tgm_resolution(double seconds)
{
    if (ready() && seconds >= 0)
        metrics_observe(metrics_get0(m.resolution), seconds);
}

void tgm_log_written(uint64_t n)
{
    if (ready())
        metrics_add(metrics_get0(m.log_written), n);
}

void tgm_log_dropped(const char *reason, uint64_t n)
{
    if (ready())
        metrics_add(METRICS_GET(m.log_dropped, reason ? reason : "other"), n);
}

void tgm_db_stats(const struct tgm_db_stats *s)
{
    if (!ready() || !s)
        return;
    if (s->outbox_ok) {
        metrics_set(metrics_get0(m.outbox_pending), (double)s->outbox_pending);
        metrics_set(metrics_get0(m.outbox_oldest), s->outbox_oldest_pending_s);
    }
    if (s->counts_ok) {
        metrics_set(metrics_get0(m.outbox_failed), (double)s->outbox_failed);
        metrics_set(METRICS_GET(m.support_requests, "open"), (double)s->requests_open);
        metrics_set(METRICS_GET(m.support_requests, "assigned"), (double)s->requests_assigned);
        metrics_set(METRICS_GET(m.support_requests, "solved"), (double)s->requests_solved);
        metrics_set(METRICS_GET(m.support_requests, "closed"), (double)s->requests_closed);
    }
}

void tgm_db_stats_failed(void)
{
    if (ready())
        metrics_inc(metrics_get0(m.db_stats_failures));
}

/* ---- collectors ---- */

/* What the collector reads; it holds the lock for its whole run. */
static pthread_mutex_t g_watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tgm_sources g_src;
static bool g_registered;

static void hist_from_pool(struct metrics_series *s, const struct pool_hist *h)
{
    uint64_t counts[POOL_HIST_BUCKETS + 1];
    uint64_t in_buckets = 0;
    for (size_t i = 0; i < POOL_HIST_BUCKETS; i++) {
        counts[i] = h->buckets[i];
        in_buckets += h->buckets[i];
    }
    counts[POOL_HIST_BUCKETS] = h->count > in_buckets ? h->count - in_buckets : 0;
    metrics_histogram_set(s, counts, POOL_HIST_BUCKETS + 1, h->sum_seconds);
}

static void query_stat(const struct pool_query_stat *q, void *ud)
{
    hist_from_pool(METRICS_GET(m.query_seconds, q->name), &q->duration);
    metrics_set(METRICS_GET(m.query_errors, q->name), (double)q->errors);
}

static void collect(struct metrics_registry *r, void *ud)
{
    pthread_mutex_lock(&g_watch_lock);
    if (g_src.pool_stats) {
        struct pool_stats st;
        g_src.pool_stats(g_src.pool_ud, &st);
        metrics_set(METRICS_GET(m.pool_connections, "in_use"), st.in_use);
        metrics_set(METRICS_GET(m.pool_connections, "idle"), st.idle);
        metrics_set(metrics_get0(m.pool_max), st.max);
        metrics_set(metrics_get0(m.pool_waiting), st.waiting);
        metrics_set(metrics_get0(m.pool_acquires), (double)st.acquires);
        metrics_set(metrics_get0(m.pool_timeouts), (double)st.timeouts);
        metrics_set(metrics_get0(m.pool_unavailable), (double)st.unavailable);
        metrics_set(metrics_get0(m.pool_connects), (double)st.connects);
        metrics_set(metrics_get0(m.pool_connect_failures), (double)st.connect_failures);
        metrics_set(METRICS_GET(m.pool_recycled, "lifetime"), (double)st.recycled_lifetime);
        metrics_set(METRICS_GET(m.pool_recycled, "idle"), (double)st.recycled_idle);
        metrics_set(METRICS_GET(m.pool_recycled, "broken"), (double)st.recycled_broken);
        metrics_set(METRICS_GET(m.pool_recycled, "dirty"), (double)st.recycled_dirty);
        hist_from_pool(metrics_get0(m.pool_acquire_seconds), &st.acquire);
    }
    if (g_src.pool_query_stats)
        g_src.pool_query_stats(g_src.pool_ud, query_stat, NULL);
    if (g_src.queue_depth)
        metrics_set(metrics_get0(m.queue_depth), (double)g_src.queue_depth(g_src.queue_ud));
    if (g_src.queue_capacity)
        metrics_set(metrics_get0(m.queue_capacity), (double)g_src.queue_capacity(g_src.queue_ud));
    if (g_src.outbox_in_memory)
        metrics_set(metrics_get0(m.outbox_in_memory),
                    (double)g_src.outbox_in_memory(g_src.outbox_ud));
    pthread_mutex_unlock(&g_watch_lock);
}

int tgm_watch(const struct tgm_sources *src)
{
    int rc = tgm_init();
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&g_watch_lock);
    g_src = src ? *src : (struct tgm_sources){0};
    bool registered = g_registered;
    g_registered = true;
    pthread_mutex_unlock(&g_watch_lock);
    if (!registered)
        rc = metrics_add_collector(metrics_global(), collect, NULL);
    return rc;
}

void tgm_unwatch(void)
{
    /* The collector stays registered; with nothing to watch it does nothing. */
    pthread_mutex_lock(&g_watch_lock);
    g_src = (struct tgm_sources){0};
    pthread_mutex_unlock(&g_watch_lock);
}

int tgm_render(struct buf *b)
{
    int rc = tgm_init();
    if (rc < 0)
        return rc;
    return metrics_render(metrics_global(), b);
}

void tgm_http_closed(const char *reason)
{
    if (ready())
        metrics_inc(METRICS_GET(m.http_closed, reason));
}

void tgm_outbox_merged(int64_t n)
{
    if (ready() && n > 0)
        metrics_add(metrics_get0(m.outbox_merged), (uint64_t)n);
}

void tgm_instance_info(const char *instance)
{
    if (ready() && instance)
        metrics_set(METRICS_GET(m.instance_info, instance), 1);
}

void tgm_outbox_slots_held(int64_t n)
{
    if (ready())
        metrics_set(metrics_get0(m.slots_held), (double)n);
}

void tgm_outbox_leases_lost(int64_t n)
{
    if (ready() && n > 0)
        metrics_add(metrics_get0(m.leases_lost), (uint64_t)n);
}

void tgm_outbox_sends_after_freeze(int64_t n)
{
    if (ready() && n > 0)
        metrics_add(metrics_get0(m.sends_after_freeze), (uint64_t)n);
}

void tgm_csat_rating(int score)
{
    static const char *const scores[] = {"1", "2", "3", "4", "5"};
    if (ready() && score >= 1 && score <= 5)
        metrics_inc(METRICS_GET(m.csat_ratings, scores[score - 1]));
}

void tgm_sla_breach(void)
{
    if (ready())
        metrics_inc(metrics_get0(m.sla_breaches));
}
