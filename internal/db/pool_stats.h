/*
 * pool_stats.h - the figures a connection pool reports about itself: the
 * counters of pool_stats() and the per-statement timings of
 * pool_query_stats(). Types only, so that a module that shows them (the
 * metrics) needs no knowledge of the pool.
 */
#ifndef TGDESK_DB_POOL_STATS_H
#define TGDESK_DB_POOL_STATS_H

#include <stdint.h>

/* Upper bounds (seconds) of the duration histograms, ascending; +Inf implied. */
#define POOL_HIST_BUCKETS 12
extern const double pool_hist_bounds[POOL_HIST_BUCKETS];

struct pool_hist {
    uint64_t buckets[POOL_HIST_BUCKETS]; /* not cumulative: count per bucket */
    uint64_t count;                      /* includes those above the last bound */
    double sum_seconds;
};

/* A consistent snapshot of the pool's counters (pool_stats()). */
struct pool_stats {
    int max;
    int size;    /* open connections: in_use + idle */
    int in_use;  /* checked out */
    int idle;    /* open and free */
    int waiting; /* callers blocked in pool_acquire */
    uint64_t acquires;
    uint64_t timeouts;         /* pool exhausted */
    uint64_t unavailable;      /* fail-fast: server unreachable */
    uint64_t connects;         /* successful connects */
    uint64_t connect_failures; /* failed connects */
    uint64_t recycled_lifetime;
    uint64_t recycled_idle;
    uint64_t recycled_broken; /* failed pre-ping or released broken */
    uint64_t recycled_dirty;  /* released dirty and could not be cleaned */
    uint64_t deadlines;       /* calls given up at their client-side deadline */
    struct pool_hist acquire; /* wait of each success: count == acquires */
};

/* Per-statement timing (pool_query_stats()). */
struct pool_query_stat {
    const char *name;
    struct pool_hist duration;
    uint64_t errors;
};

/* What pool_query_stats() calls once per statement. */
typedef void (*pool_query_stat_fn)(const struct pool_query_stat *s, void *ud);

#endif
