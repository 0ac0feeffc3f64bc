/*
 * tgm.h - the metrics tgdesk exports, in the global registry
 * (metrics_global()).
 *
 * Modules call the small functions below at the moment something happens;
 * state owned elsewhere (pool statistics, queue depth, the sender's memory
 * backlog) is read at render time through the callbacks that
 * tgm_watch() registers, so this module includes none of its owners;
 * counts that live in the database (outbox backlog, requests by
 * status) are pushed by the health module's background thread
 * (tgm_db_stats()), which caches them for a few seconds.
 *
 * Every function is thread-safe and lock-free on the hot path, and does
 * nothing until tgm_init() has run (so commands and tests that never
 * call it pay nothing).
 *
 * Families (all seconds and bytes in base units):
 *   tgdesk_build_info{version}                          gauge, 1
 *   tgdesk_http_requests_total{route,code}              counter
 *   tgdesk_http_request_duration_seconds{route}         histogram
 *   tgdesk_updates_total{type,outcome}                  counter; outcome is one of
 *       processed, duplicate, ignored, rejected, failed
 *   tgdesk_updates_deferred_total{reason}               counter; 503 answers that
 *       make Telegram redeliver: reason queue_full, database (unreachable,
 *       pool exhausted, serialization, a lost connection), db_error (an
 *       error the operator must fix: schema, permissions, resources) or
 *       memory. They are not an outcome: the update is counted once, when it
 *       is finally handled.
 *   tgdesk_update_processing_seconds                    histogram
 *   tgdesk_queue_depth, tgdesk_queue_capacity           gauges
 *   tgdesk_pipeline_batch_size                          histogram (updates per transaction)
 *   tgdesk_db_transactions_total{result}                counter; commit, rollback, retry
 *   tgdesk_db_pool_connections{state}                   gauge; in_use, idle
 *   tgdesk_db_pool_max_connections, tgdesk_db_pool_waiting   gauges
 *   tgdesk_db_pool_acquires_total, _timeouts_total, _unavailable_total,
 *   _connects_total, _connect_failures_total            counters (tgdesk_db_pool_ prefix)
 *   tgdesk_db_pool_recycled_total{reason}               counter; lifetime, idle, broken, dirty
 *   tgdesk_db_pool_acquire_seconds                      histogram
 *   tgdesk_db_query_duration_seconds{query}             histogram
 *   tgdesk_db_query_errors_total{query}                 counter
 *   tgdesk_telegram_api_requests_total{method,result}   counter; result as tg_outcome_name()
 *   tgdesk_telegram_api_request_duration_seconds{method} histogram
 *   tgdesk_outbox_pending, tgdesk_outbox_oldest_pending_age_seconds,
 *   tgdesk_outbox_failed                                gauges (from the database)
 *   tgdesk_outbox_in_memory                             gauge (sender's memory backlog)
 *   tgdesk_support_requests{status}                     gauge; open, assigned, solved, closed
 *   tgdesk_support_first_response_seconds               histogram
 *   tgdesk_support_resolution_seconds                   histogram
 *   tgdesk_log_rows_written_total                       counter
 *   tgdesk_log_rows_dropped_total{reason}               counter; buffer_full or db_error
 *   tgdesk_db_stats_refresh_failures_total              counter
 *   tgdesk_http_connections_closed_total{reason}        counter; connections the HTTP
 *       server closed or turned away: request_timeout (HTTP_REQUEST_TIMEOUT),
 *       idle_timeout (HTTP_TIMEOUT between requests), not_allowed (outside
 *       WEBHOOK_ALLOWED_CIDRS, at accept), limit (HTTP_MAX_PER_IP reached, at
 *       accept; at HTTP_MAX_CONNECTIONS libmicrohttpd stops accepting and new
 *       connections wait in the kernel's queue instead)
 *   tgdesk_csat_ratings_total{score}                    counter; 1..5
 *   tgdesk_sla_breaches_total                           counter
 *   process_* (metrics_register_process())
 */
#ifndef TGDESK_METRICS_TGM_H
#define TGDESK_METRICS_TGM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool_stats.h"
#include "metrics/metrics.h"

/*
 * Registers every family above in metrics_global(). Idempotent and
 * thread-safe (runs once). Returns 0, or a negative errno code when the
 * registry could not be built (the functions below then do nothing).
 */
int tgm_init(void);

/* One HTTP request answered: route (webhook, health, livez, metrics, other), status, duration. */
void tgm_http(const char *route, int code, double seconds);

/*
 * One update finished by a worker: type is the update kind (job->kind),
 * outcome job->outcome. The outcome "retry" (a 503) is counted in
 * tgdesk_updates_deferred_total{reason="database"} instead. seconds >= 0 is
 * also observed in tgdesk_update_processing_seconds.
 */
void tgm_update(const char *type, const char *outcome, double seconds);

/* An update answered 503 before reaching a worker: reason "queue_full" (or "database"). */
void tgm_update_deferred(const char *reason);

/* One group-commit transaction of n updates ended: result commit, rollback or retry. */
void tgm_transaction(const char *result, size_t n);

/* One Bot API call: method, result (tg_outcome_name()), duration. */
void tgm_api_call(const char *method, const char *result, double seconds);

/* A request got its first staff answer / was solved or closed, seconds after it was created. */
void tgm_first_response(double seconds);
void tgm_resolution(double seconds);

/* Rows the logs-table writer inserted, and rows it had to drop. */
void tgm_log_written(uint64_t n);
void tgm_log_dropped(const char *reason, uint64_t n);

/*
 * Counts read from the database; a false *_ok leaves the previous values.
 * The pending backlog is cheap and read often; the failed rows and the
 * requests by status are read less often (counts_ok).
 */
struct tgm_db_stats {
    bool outbox_ok;
    int64_t outbox_pending;
    double outbox_oldest_pending_s; /* 0 when nothing is pending */
    bool counts_ok;
    int64_t outbox_failed;
    int64_t requests_open;
    int64_t requests_assigned;
    int64_t requests_solved;
    int64_t requests_closed;
};

/* Publishes counts read from the database (the health module's refresher). */
void tgm_db_stats(const struct tgm_db_stats *s);

/* A failed read of the database counts. */
void tgm_db_stats_failed(void);

/*
 * Where the gauges owned by other modules are read at render time. Each
 * callback gets its own userdata; a NULL callback leaves its families
 * alone. The callbacks run under the registry's render lock and must not
 * call back into the metrics.
 */
struct tgm_sources {
    /* tgdesk_queue_depth and tgdesk_queue_capacity. */
    size_t (*queue_depth)(void *ud);
    size_t (*queue_capacity)(void *ud);
    void *queue_ud;
    /* tgdesk_outbox_in_memory: messages held in the sender's memory. */
    size_t (*outbox_in_memory)(void *ud);
    void *outbox_ud;
    /* tgdesk_db_pool_*: fills a snapshot of the pool's counters. */
    void (*pool_stats)(void *ud, struct pool_stats *ret);
    /* tgdesk_db_query_*: calls fn once per statement with its timing. */
    void (*pool_query_stats)(void *ud, pool_query_stat_fn fn, void *fn_ud);
    void *pool_ud;
};

/*
 * Registers the collector that reads the gauges of src (copied; the
 * userdata it points to are borrowed: call tgm_unwatch() before freeing
 * them). src may be NULL. Returns 0 or a negative errno code.
 */
int tgm_watch(const struct tgm_sources *src);

/* Removes the collectors; when it returns none of them runs any more. */
void tgm_unwatch(void);

/*
 * Renders the global registry into b (see metrics_render()); the body of
 * GET /metrics, with METRICS_CONTENT_TYPE.
 */
int tgm_render(struct buf *b);

/* One connection closed or refused by the HTTP server; reason as in the list above. */
void tgm_http_closed(const char *reason);

/* Largest /metrics body rendered (a hard cap; the real size is ~30 KiB). */
#define TGM_MAX_BODY (4 * 1024 * 1024)

/* n staff notifications went inside an earlier one's message (the sender merged them). */
void tgm_outbox_merged(int64_t n);

/* The sender's cluster figures: this instance's name, the chat slots it
 * holds, slots lost to another instance, calls on the wire when their lease ran out. */
void tgm_instance_info(const char *instance);
void tgm_outbox_slots_held(int64_t n);
void tgm_outbox_leases_lost(int64_t n);
void tgm_outbox_sends_after_freeze(int64_t n);

/* A user pressed a satisfaction rating (1..5; other values are ignored). */
void tgm_csat_rating(int score);

/* A request's first-response target ran out before anyone answered (one reminder sent). */
void tgm_sla_breach(void);

#endif
