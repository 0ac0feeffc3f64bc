/*
 * retention.h - tables that would otherwise grow for ever, trimmed in the
 * background: processed update ids older than DEDUP_RETENTION_HOURS, the
 * notifications of requests finished over 30 days ago, failed outbox calls
 * older than OUTBOX_RETENTION_DAYS. (The logs table trims itself: logdb.h.)
 *
 * A thread of its own runs the owners' prune functions (desk/prune.h,
 * outbox/prune.h) shortly after start and then every interval, each in
 * statements of at most `batch` rows until a statement deletes fewer, every
 * statement its own short transaction under the cluster's retention lock -
 * several instances do the work once, and none holds locks for long.
 */
#ifndef TGDESK_RETENTION_H
#define TGDESK_RETENTION_H

#include <stdint.h>

struct pool;
struct retention;

struct retention_options {
    int dedup_hours;        /* DEDUP_RETENTION_HOURS */
    int outbox_days;        /* OUTBOX_RETENTION_DAYS; 0: keep failed calls */
    int64_t interval_ms;    /* 0: 10 minutes */
    int64_t first_delay_ms; /* 0: 2 s */
    int batch;              /* rows per statement; 0: 1000 */
};

/* Totals since start, for tests and logs. */
struct retention_stats {
    uint64_t rounds;
    uint64_t updates, notifications, outbox;
};

/*
 * Starts the thread (pool borrowed; must outlive it). Returns NULL when out
 * of memory or the thread cannot start.
 */
struct retention *retention_start(struct pool *pool, const struct retention_options *o);

/* Runs one round now on the calling thread. Returns the rows deleted or -EIO. */
int64_t retention_run(struct retention *r);

/* A snapshot of the totals. Thread-safe. */
void retention_stats(struct retention *r, struct retention_stats *ret);

/* Stops the thread (a running statement finishes) and frees. Accepts NULL. */
void retention_stop(struct retention *r);

#endif
