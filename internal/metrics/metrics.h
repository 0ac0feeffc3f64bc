/*
 * metrics.h - a small Prometheus metrics registry, the one GET /metrics
 * serves.
 *
 * A registry holds metric families - counters, gauges and histograms with
 * fixed buckets - each with a fixed list of label names. The label values of
 * a family's series are added on first use, up to the family's max_series:
 * beyond it every new combination is collapsed into one overflow series whose
 * label values are all "other", so a bug can never make the output (or the
 * memory) grow without bound.
 *
 * Updates are lock-free: each series is a set of atomics (a counter's value,
 * a histogram's per-bucket counts and its sum as an atomic double updated by
 * compare-and-swap). Finding an existing series scans the family's published
 * series without a lock; only creating a new series takes the family's mutex,
 * once per label combination.
 *
 * Collectors are callbacks that run at the start of every render, to fill
 * gauges from state owned elsewhere (pool statistics, queue depth, values a
 * background thread cached from the database).
 *
 * The renderer writes text format 0.0.4: per family one # HELP and one
 * # TYPE line, then all its samples; label values escaped (\\ \" \n), HELP
 * text escaped (\\ \n); histograms as cumulative ascending _bucket{le}
 * lines ending with le="+Inf" (always equal to _count), then _sum and
 * _count.
 *
 * Globals: metrics_global() is the process-wide registry (STYLE.md allows the
 * metrics registry as a global); tests make private ones.
 */
#ifndef TGDESK_METRICS_H
#define TGDESK_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Content-Type of the rendered text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Label names per family, at most. */
#define METRICS_MAX_LABELS 4
/* Buckets per histogram (without +Inf), at most. */
#define METRICS_MAX_BUCKETS 32
/* Series per family when the spec says 0. */
#define METRICS_DEFAULT_SERIES 64
/* Longest label value kept; a longer one goes to the overflow series. */
#define METRICS_MAX_VALUE_LEN 128
/* Label value of the overflow series. */
#define METRICS_OVERFLOW_VALUE "other"

enum metrics_type { METRICS_COUNTER = 0, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_registry;
struct metrics_family;
struct metrics_series;

/* What a family is. Every string is copied by metrics_register(). */
struct metrics_spec {
    const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*; counters should end in _total */
    const char *help; /* one line, any text */
    enum metrics_type type;
    const char *labels[METRICS_MAX_LABELS]; /* label names, NULL-terminated when fewer */
    const double *bounds;                   /* histograms: upper bounds, strictly ascending */
    size_t nbounds;                         /* 1..METRICS_MAX_BUCKETS for histograms */
    size_t max_series;                      /* 0: METRICS_DEFAULT_SERIES; overflow included */
};

/*
 * Creates an empty registry. Returns NULL when out of memory. Free with
 * metrics_registry_free().
 */
struct metrics_registry *metrics_registry_new(void);

/*
 * Frees a registry with its families and series. No other thread may use it
 * or any of its families any more. Accepts NULL.
 */
void metrics_registry_free(struct metrics_registry *r);

/*
 * The process-wide registry, created on first use (thread-safe). Never freed
 * (returns NULL only when that first allocation failed).
 */
struct metrics_registry *metrics_global(void);

/*
 * Adds a family. Returns it (owned by the registry, valid until
 * metrics_registry_free()) or NULL with errno EINVAL (bad name, label name,
 * bounds, or a name already registered), ENOSPC (too many families) or
 * ENOMEM. Thread-safe.
 */
struct metrics_family *metrics_register(struct metrics_registry *r,
                                        const struct metrics_spec *spec);

/*
 * The series of family f for n label values (n must equal the number of
 * label names; values are copied on first use). A combination beyond
 * max_series, a value that is not valid UTF-8 or longer than
 * METRICS_MAX_VALUE_LEN, goes to the overflow series. Returns NULL only for
 * a NULL family, a wrong n, or out of memory; every update function accepts
 * a NULL series and does nothing. Lock-free when the series exists already.
 * Thread-safe.
 */
struct metrics_series *metrics_get(struct metrics_family *f, const char *const *values, size_t n);

/* metrics_get(f, {"a", "b"}) without spelling the array and its length. */
#define METRICS_GET(f, ...)                              \
    metrics_get((f), (const char *const[]){__VA_ARGS__}, \
                sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* The only series of a family without labels. */
struct metrics_series *metrics_get0(struct metrics_family *f);

/* Counters: adds n (counters only; lock-free, thread-safe). */
void metrics_add(struct metrics_series *s, uint64_t n);
static inline void metrics_inc(struct metrics_series *s)
{
    metrics_add(s, 1);
}

/*
 * Sets the value of a gauge - or of a counter that mirrors a total kept
 * elsewhere (a collector copying pool statistics). Lock-free, thread-safe.
 */
void metrics_set(struct metrics_series *s, double v);

/* Adds d (may be negative) to a gauge. Lock-free, thread-safe. */
void metrics_gauge_add(struct metrics_series *s, double d);

/* Histograms: records one observation. NaN is ignored. Lock-free, thread-safe. */
void metrics_observe(struct metrics_series *s, double v);

/*
 * Histograms: replaces the whole state by a snapshot kept elsewhere. counts
 * has nbounds + 1 entries, NOT cumulative: counts[i] observations fell into
 * bucket i, counts[nbounds] above the last bound. Meant for collectors; a
 * concurrent metrics_observe() on the same series may be lost.
 */
void metrics_histogram_set(struct metrics_series *s, const uint64_t *counts, size_t n, double sum);

/* The current value of a counter or gauge (tests, health). */
double metrics_value(const struct metrics_series *s);

/*
 * Histograms: the total count, and the cumulative count of observations
 * <= bounds[i] (i == nbounds: +Inf). For tests.
 */
uint64_t metrics_hist_count(const struct metrics_series *s);
uint64_t metrics_hist_bucket(const struct metrics_series *s, size_t i);
double metrics_hist_sum(const struct metrics_series *s);

/*
 * Registers fn(r, ud) to run at the start of every render, in registration
 * order, one render at a time. Returns 0, -ENOSPC or -EINVAL. Thread-safe.
 */
typedef void (*metrics_collector_fn)(struct metrics_registry *r, void *ud);
int metrics_add_collector(struct metrics_registry *r, metrics_collector_fn fn, void *ud);

/*
 * Removes the collector (fn, ud). When this returns the collector is not
 * running and will not run again, so ud may be freed. Thread-safe; must not
 * be called from a collector.
 */
void metrics_remove_collector(struct metrics_registry *r, metrics_collector_fn fn, void *ud);

/*
 * Runs the collectors, then appends the whole registry to b in text format
 * 0.0.4. Returns 0, or b's error mark: -E2BIG when the text would exceed b's
 * cap (b then holds a cut text that must not be served) or -ENOMEM.
 * Thread-safe: renders are serialised with each other, never with updates.
 */
int metrics_render(struct metrics_registry *r, struct buf *b);

/*
 * Registers the standard process metrics, read from /proc/self at render
 * time: process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds. Returns 0 or a negative errno code.
 */
int metrics_register_process(struct metrics_registry *r);

/*
 * Formats v the way the text format wants it (shortest text that reads back
 * as the same double; "+Inf", "-Inf", "NaN"), NUL-terminated, into buf (at
 * least 32 bytes). Returns the length. Pure.
 */
size_t metrics_format_double(double v, char *buf, size_t cap);

#endif
