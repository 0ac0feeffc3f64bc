/*
 * metrics.c - the metrics registry and its text renderer (see metrics.h).
 *
 * Memory layout: a family owns a fixed array of max_series series pointers,
 * filled in creation order and published with a release store of nseries, so
 * a reader that loads nseries with acquire sees every series before it
 * without a lock. Series are never removed until the registry is freed. A
 * double value lives in an _Atomic uint64_t (its bits) and is updated with a
 * compare-and-swap loop.
 *
 * A histogram keeps one counter per bucket (not cumulative) and no separate
 * count: the renderer sums the buckets, so +Inf always equals _count even
 * while observations race with the render.
 */
#include "metrics/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_FAMILIES   160
#define MAX_COLLECTORS 32

struct metrics_series {
    const struct metrics_family *fam;
    char *values[METRICS_MAX_LABELS];
    _Atomic uint64_t count;    /* counters: the integer total added */
    _Atomic uint64_t bits;     /* gauges, set counters: the double value's bits */
    _Atomic uint64_t sum;      /* histograms: the double sum's bits */
    _Atomic uint64_t *buckets; /* histograms: nbounds + 1 counters */
};

struct metrics_family {
    char *name;
    char *help;
    enum metrics_type type;
    char *labels[METRICS_MAX_LABELS];
    size_t nlabels;
    double bounds[METRICS_MAX_BUCKETS];
    size_t nbounds;
    size_t max_series;
    struct metrics_series **series; /* max_series slots; the last is kept for overflow */
    _Atomic size_t nseries;
    _Atomic(struct metrics_series *) overflow;
    pthread_mutex_t lock; /* creating a series */
};

struct collector {
    metrics_collector_fn fn;
    void *ud;
    bool owned; /* ud is freed with the registry */
};

struct metrics_registry {
    pthread_mutex_t lock; /* registering a family */
    struct metrics_family *families[MAX_FAMILIES];
    _Atomic size_t nfamilies;
    pthread_mutex_t render_lock; /* one render at a time; guards the collectors */
    struct collector collectors[MAX_COLLECTORS];
    size_t ncollectors;
};

/* ---- doubles in atomics ---- */

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void atomic_dbl_add(_Atomic uint64_t *a, double d)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, dbl_bits(bits_dbl(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- names ---- */

static bool valid_metric_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static bool valid_label_name(const char *s)
{
    if (!valid_metric_name(s) || strchr(s, ':') || strncmp(s, "__", 2) == 0)
        return false;
    return true;
}

/* True when s[0..n) is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned char c = p[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return false;
        }
        if (n - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if (p[i + k] < lo || p[i + k] > hi)
                return false;
            lo = 0x80;
            hi = 0xBF;
        }
        i += need + 1;
    }
    return true;
}

/* ---- registry ---- */

static void series_free(struct metrics_series *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

static void family_free(struct metrics_family *f)
{
    if (!f)
        return;
    size_t n = atomic_load(&f->nseries);
    for (size_t i = 0; i < n; i++)
        series_free(f->series[i]);
    series_free(atomic_load(&f->overflow));
    free(f->series);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

struct metrics_registry *metrics_registry_new(void)
{
    struct metrics_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->render_lock, NULL);
    return r;
}

void metrics_registry_free(struct metrics_registry *r)
{
    if (!r)
        return;
    size_t n = atomic_load(&r->nfamilies);
    for (size_t i = 0; i < n; i++)
        family_free(r->families[i]);
    for (size_t i = 0; i < r->ncollectors; i++)
        if (r->collectors[i].owned)
            free(r->collectors[i].ud);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->render_lock);
    free(r);
}

static struct metrics_registry *g_registry;
static pthread_once_t g_registry_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    g_registry = metrics_registry_new();
}

struct metrics_registry *metrics_global(void)
{
    pthread_once(&g_registry_once, global_init);
    return g_registry;
}

static struct metrics_series *series_new(const struct metrics_family *f, const char *const *values)
{
    struct metrics_series *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->fam = f;
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] = strdup(values[i]);
        if (!s->values[i])
            goto fail;
    }
    if (f->type == METRICS_HISTOGRAM) {
        s->buckets = calloc(f->nbounds + 1, sizeof(*s->buckets));
        if (!s->buckets)
            goto fail;
    }
    return s;
fail:
    series_free(s);
    return NULL;
}

struct metrics_family *metrics_register(struct metrics_registry *r, const struct metrics_spec *spec)
{
    if (!r || !spec || !valid_metric_name(spec->name) || (unsigned)spec->type > METRICS_HISTOGRAM) {
        errno = EINVAL;
        return NULL;
    }
    size_t nlabels = 0;
    while (nlabels < METRICS_MAX_LABELS && spec->labels[nlabels]) {
        const char *l = spec->labels[nlabels];
        if (!valid_label_name(l) || (spec->type == METRICS_HISTOGRAM && strcmp(l, "le") == 0)) {
            errno = EINVAL;
            return NULL;
        }
        for (size_t j = 0; j < nlabels; j++)
            if (strcmp(spec->labels[j], l) == 0) {
                errno = EINVAL;
                return NULL;
            }
        nlabels++;
    }
    if (spec->type == METRICS_HISTOGRAM) {
        if (!spec->bounds || spec->nbounds < 1 || spec->nbounds > METRICS_MAX_BUCKETS) {
            errno = EINVAL;
            return NULL;
        }
        for (size_t i = 0; i < spec->nbounds; i++)
            if (!isfinite(spec->bounds[i]) || (i > 0 && spec->bounds[i] <= spec->bounds[i - 1])) {
                errno = EINVAL;
                return NULL;
            }
    }

    struct metrics_family *f = calloc(1, sizeof(*f));
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&f->lock, NULL);
    f->type = spec->type;
    f->nlabels = nlabels;
    f->max_series = nlabels == 0 ? 1 : spec->max_series ? spec->max_series : METRICS_DEFAULT_SERIES;
    if (f->max_series < 2 && nlabels > 0)
        f->max_series = 2;
    if (spec->type == METRICS_HISTOGRAM) {
        memcpy(f->bounds, spec->bounds, spec->nbounds * sizeof(double));
        f->nbounds = spec->nbounds;
    }
    f->name = strdup(spec->name);
    f->help = strdup(spec->help ? spec->help : "");
    f->series = calloc(f->max_series, sizeof(*f->series));
    bool ok = f->name && f->help && f->series;
    for (size_t i = 0; ok && i < nlabels; i++) {
        f->labels[i] = strdup(spec->labels[i]);
        ok = f->labels[i] != NULL;
    }
    /* A family without labels has its one series from the start, so it shows as 0. */
    if (ok && nlabels == 0) {
        f->series[0] = series_new(f, NULL);
        ok = f->series[0] != NULL;
        if (ok)
            atomic_store(&f->nseries, 1);
    }
    if (!ok) {
        family_free(f);
        errno = ENOMEM;
        return NULL;
    }

    pthread_mutex_lock(&r->lock);
    size_t n = atomic_load(&r->nfamilies);
    int err = n == MAX_FAMILIES ? ENOSPC : 0;
    for (size_t i = 0; !err && i < n; i++)
        if (strcmp(r->families[i]->name, f->name) == 0)
            err = EINVAL;
    if (!err) {
        r->families[n] = f;
        atomic_store_explicit(&r->nfamilies, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&r->lock);
    if (err) {
        family_free(f);
        errno = err;
        return NULL;
    }
    return f;
}

static bool same_values(const struct metrics_series *s, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], values[i]) != 0)
            return false;
    return true;
}

static struct metrics_series *find(struct metrics_family *f, const char *const *values)
{
    size_t n = atomic_load_explicit(&f->nseries, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (same_values(f->series[i], values, f->nlabels))
            return f->series[i];
    return NULL;
}

static struct metrics_series *get_overflow(struct metrics_family *f)
{
    struct metrics_series *s = atomic_load_explicit(&f->overflow, memory_order_acquire);
    if (s)
        return s;
    const char *values[METRICS_MAX_LABELS];
    for (size_t i = 0; i < f->nlabels; i++)
        values[i] = METRICS_OVERFLOW_VALUE;
    pthread_mutex_lock(&f->lock);
    s = atomic_load_explicit(&f->overflow, memory_order_acquire);
    if (!s) {
        s = series_new(f, values);
        if (s)
            atomic_store_explicit(&f->overflow, s, memory_order_release);
    }
    pthread_mutex_unlock(&f->lock);
    return s;
}

struct metrics_series *metrics_get(struct metrics_family *f, const char *const *values, size_t n)
{
    if (!f || n != f->nlabels)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!values[i])
            return get_overflow(f);
    /* A series found has these values, which were checked when it was made. */
    struct metrics_series *s = find(f, values);
    if (s)
        return s;
    for (size_t i = 0; i < n; i++) {
        size_t len = strnlen(values[i], METRICS_MAX_VALUE_LEN + 1);
        if (len > METRICS_MAX_VALUE_LEN || !valid_utf8(values[i], len))
            return get_overflow(f);
    }

    pthread_mutex_lock(&f->lock);
    s = find(f, values);
    size_t count = atomic_load_explicit(&f->nseries, memory_order_relaxed);
    if (!s && count < f->max_series - 1) {
        s = series_new(f, values);
        if (s) {
            f->series[count] = s;
            atomic_store_explicit(&f->nseries, count + 1, memory_order_release);
        }
        pthread_mutex_unlock(&f->lock);
        return s;
    }
    pthread_mutex_unlock(&f->lock);
    return s ? s : get_overflow(f);
}

struct metrics_series *metrics_get0(struct metrics_family *f)
{
    if (!f || f->nlabels != 0)
        return NULL;
    return f->series[0];
}

/* ---- updates ---- */

void metrics_add(struct metrics_series *s, uint64_t n)
{
    if (s)
        atomic_fetch_add_explicit(&s->count, n, memory_order_relaxed);
}

void metrics_set(struct metrics_series *s, double v)
{
    if (!s)
        return;
    atomic_store_explicit(&s->count, 0, memory_order_relaxed);
    atomic_store_explicit(&s->bits, dbl_bits(v), memory_order_relaxed);
}

void metrics_gauge_add(struct metrics_series *s, double d)
{
    if (s)
        atomic_dbl_add(&s->bits, d);
}

/* The bucket index of v: the first bound >= v, or nbounds for +Inf. */
static size_t bucket_of(const double *bounds, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void metrics_observe(struct metrics_series *s, double v)
{
    if (!s || !s->buckets || isnan(v))
        return;
    const struct metrics_family *f = s->fam;
    atomic_fetch_add_explicit(&s->buckets[bucket_of(f->bounds, f->nbounds, v)], 1,
                              memory_order_relaxed);
    atomic_dbl_add(&s->sum, v);
}

void metrics_histogram_set(struct metrics_series *s, const uint64_t *counts, size_t n, double sum)
{
    if (!s || !s->buckets || !counts)
        return;
    size_t nb = s->fam->nbounds + 1;
    for (size_t i = 0; i < nb; i++)
        atomic_store_explicit(&s->buckets[i], i < n ? counts[i] : 0, memory_order_relaxed);
    atomic_store_explicit(&s->sum, dbl_bits(sum), memory_order_relaxed);
}

double metrics_value(const struct metrics_series *s)
{
    if (!s)
        return 0;
    return (double)atomic_load_explicit(&s->count, memory_order_relaxed) +
           bits_dbl(atomic_load_explicit(&s->bits, memory_order_relaxed));
}

uint64_t metrics_hist_bucket(const struct metrics_series *s, size_t i)
{
    if (!s || !s->buckets)
        return 0;
    uint64_t c = 0;
    for (size_t k = 0; k <= i && k <= s->fam->nbounds; k++)
        c += atomic_load_explicit(&s->buckets[k], memory_order_relaxed);
    return c;
}

uint64_t metrics_hist_count(const struct metrics_series *s)
{
    return s && s->buckets ? metrics_hist_bucket(s, s->fam->nbounds) : 0;
}

double metrics_hist_sum(const struct metrics_series *s)
{
    return s && s->buckets ? bits_dbl(atomic_load_explicit(&s->sum, memory_order_relaxed)) : 0;
}

/* ---- collectors ---- */

static int add_collector(struct metrics_registry *r, metrics_collector_fn fn, void *ud, bool owned)
{
    if (!r || !fn)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&r->render_lock);
    if (r->ncollectors == MAX_COLLECTORS)
        rc = -ENOSPC;
    else
        r->collectors[r->ncollectors++] = (struct collector){fn, ud, owned};
    pthread_mutex_unlock(&r->render_lock);
    return rc;
}

int metrics_add_collector(struct metrics_registry *r, metrics_collector_fn fn, void *ud)
{
    return add_collector(r, fn, ud, false);
}

void metrics_remove_collector(struct metrics_registry *r, metrics_collector_fn fn, void *ud)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->render_lock);
    for (size_t i = 0; i < r->ncollectors; i++) {
        if (r->collectors[i].fn != fn || r->collectors[i].ud != ud)
            continue;
        memmove(&r->collectors[i], &r->collectors[i + 1],
                (r->ncollectors - i - 1) * sizeof(r->collectors[0]));
        r->ncollectors--;
        break;
    }
    pthread_mutex_unlock(&r->render_lock);
}

/* ---- the text ---- */

/*
 * The renderers append without checking: the buffer's error mark is sticky,
 * so metrics_render() checks once at the end.
 */

/* Appends s escaped: backslash and newline always, '"' when quotes (label values). */
static void put_escaped(struct buf *b, const char *s, bool quotes)
{
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (quotes && *p == '"')
            rep = "\\\"";
        if (!rep)
            continue;
        buf_addn(b, run, (size_t)(p - run));
        buf_add(b, rep);
        run = p + 1;
    }
    buf_add(b, run);
}

size_t metrics_format_double(double v, char *buf, size_t cap)
{
    char tmp[40];
    int n;

    if (isnan(v)) {
        n = snprintf(tmp, sizeof(tmp), "NaN");
    } else if (isinf(v)) {
        n = snprintf(tmp, sizeof(tmp), "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
        /* Whole numbers print as integers. */
        n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    } else {
        /* Others as the shortest text that reads back as the same double. */
        n = snprintf(tmp, sizeof(tmp), "%.15g", v);
        if (strtod(tmp, NULL) != v)
            n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    }
    if (n < 0 || (size_t)n >= sizeof(tmp))
        n = snprintf(tmp, sizeof(tmp), "NaN");
    /* A locale with a decimal comma must not leak into the format. */
    for (int i = 0; i < n; i++)
        if (tmp[i] == ',')
            tmp[i] = '.';
    if (cap == 0)
        return 0;
    size_t len = (size_t)n < cap ? (size_t)n : cap - 1;
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return len;
}

static void put_double(struct buf *b, double v)
{
    char tmp[40];
    buf_addn(b, tmp, metrics_format_double(v, tmp, sizeof(tmp)));
}

static void put_u64(struct buf *b, uint64_t v)
{
    buf_addf(b, "%llu", (unsigned long long)v);
}

/* name{l1="v1",...,extra="xv"} with a trailing space; extra may be NULL. */
static void put_name_labels(struct buf *b, const struct metrics_family *f, const char *suffix,
                            const struct metrics_series *s, const char *extra,
                            const char *extra_value)
{
    buf_add(b, f->name);
    buf_add(b, suffix);
    if (f->nlabels > 0 || extra) {
        buf_addc(b, '{');
        for (size_t i = 0; i < f->nlabels; i++) {
            if (i > 0)
                buf_addc(b, ',');
            buf_add(b, f->labels[i]);
            buf_add(b, "=\"");
            put_escaped(b, s->values[i], true);
            buf_addc(b, '"');
        }
        if (extra) {
            if (f->nlabels > 0)
                buf_addc(b, ',');
            buf_add(b, extra);
            buf_add(b, "=\"");
            buf_add(b, extra_value);
            buf_addc(b, '"');
        }
        buf_addc(b, '}');
    }
    buf_addc(b, ' ');
}

static void render_series(struct buf *b, const struct metrics_family *f,
                          const struct metrics_series *s)
{
    if (f->type != METRICS_HISTOGRAM) {
        put_name_labels(b, f, NULL, s, NULL, NULL);
        uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
        double d = bits_dbl(atomic_load_explicit(&s->bits, memory_order_relaxed));
        if (d == 0)
            put_u64(b, count);
        else
            put_double(b, (double)count + d);
        buf_addc(b, '\n');
        return;
    }

    uint64_t cum = 0;
    for (size_t i = 0; i <= f->nbounds && !buf_error(b); i++) {
        char le[40];
        cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        if (i < f->nbounds)
            metrics_format_double(f->bounds[i], le, sizeof(le));
        else
            memcpy(le, "+Inf", sizeof("+Inf"));
        put_name_labels(b, f, "_bucket", s, "le", le);
        put_u64(b, cum);
        buf_addc(b, '\n');
    }
    put_name_labels(b, f, "_sum", s, NULL, NULL);
    put_double(b, bits_dbl(atomic_load_explicit(&s->sum, memory_order_relaxed)));
    buf_addc(b, '\n');
    put_name_labels(b, f, "_count", s, NULL, NULL);
    put_u64(b, cum);
    buf_addc(b, '\n');
}

static void render_family(struct buf *b, const struct metrics_family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    size_t n = atomic_load_explicit(&f->nseries, memory_order_acquire);
    const struct metrics_series *over = atomic_load_explicit(&f->overflow, memory_order_acquire);
    if (n == 0 && !over)
        return; /* no samples yet: nothing to announce */

    buf_add(b, "# HELP ");
    buf_add(b, f->name);
    buf_addc(b, ' ');
    put_escaped(b, f->help, false);
    buf_add(b, "\n# TYPE ");
    buf_add(b, f->name);
    buf_addc(b, ' ');
    buf_add(b, type_names[f->type]);
    buf_addc(b, '\n');
    for (size_t i = 0; i < n && !buf_error(b); i++)
        render_series(b, f, f->series[i]);
    if (over)
        render_series(b, f, over);
}

int metrics_render(struct metrics_registry *r, struct buf *b)
{
    if (!r || !b)
        return -EINVAL;
    pthread_mutex_lock(&r->render_lock);
    for (size_t i = 0; i < r->ncollectors; i++)
        r->collectors[i].fn(r, r->collectors[i].ud);
    size_t n = atomic_load_explicit(&r->nfamilies, memory_order_acquire);
    for (size_t i = 0; i < n && !buf_error(b); i++)
        render_family(b, r->families[i]);
    pthread_mutex_unlock(&r->render_lock);
    return buf_error(b);
}

/* ---- process metrics ---- */

struct process_metrics {
    struct metrics_series *cpu, *rss, *vsize, *open_fds, *max_fds, *start;
};

/* Parses the unsigned decimal at *p and moves *p past it. Returns false if none. */
static bool parse_u64(const char **p, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *p = s;
    *ret = v;
    return true;
}

static ssize_t read_small_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (ssize_t)n;
}

/*
 * Fields of /proc/self/stat after the command name (which may hold spaces
 * and parentheses, hence the last ')'): field 3 is the first. Fills
 * utime, stime, starttime (clock ticks), vsize (bytes) and rss (pages).
 */
static bool proc_stat(uint64_t *utime, uint64_t *stime, uint64_t *start, uint64_t *vsize,
                      uint64_t *rss)
{
    char buf[1024];
    if (read_small_file("/proc/self/stat", buf, sizeof(buf)) <= 0)
        return false;
    const char *p = strrchr(buf, ')');
    if (!p)
        return false;
    p++;
    uint64_t want[5] = {0};
    static const int fields[5] = {14, 15, 22, 23, 24};
    int k = 0;
    for (int field = 3; *p && k < 5; field++) {
        while (*p == ' ')
            p++;
        if (field == fields[k]) {
            if (!parse_u64(&p, &want[k]))
                return false;
            k++;
        }
        while (*p && *p != ' ')
            p++;
    }
    if (k < 5)
        return false;
    *utime = want[0];
    *stime = want[1];
    *start = want[2];
    *vsize = want[3];
    *rss = want[4];
    return true;
}

static bool boot_time(uint64_t *ret)
{
    char buf[8192];
    if (read_small_file("/proc/stat", buf, sizeof(buf)) <= 0)
        return false;
    const char *p = strstr(buf, "\nbtime ");
    if (!p)
        return false;
    p += strlen("\nbtime ");
    return parse_u64(&p, ret);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the one opendir used */
}

static void process_collect(struct metrics_registry *r, void *ud)
{
    struct process_metrics *pm = ud;
    uint64_t utime, stime, start, vsize, rss;
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (ticks > 0 && page > 0 && proc_stat(&utime, &stime, &start, &vsize, &rss)) {
        metrics_set(pm->cpu, (double)(utime + stime) / (double)ticks);
        metrics_set(pm->vsize, (double)vsize);
        metrics_set(pm->rss, (double)rss * (double)page);
    }
    int fds = count_fds();
    if (fds >= 0)
        metrics_set(pm->open_fds, fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        metrics_set(pm->max_fds, rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
}

int metrics_register_process(struct metrics_registry *r)
{
    static const struct {
        const char *name, *help;
        enum metrics_type type;
    } defs[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
         METRICS_COUNTER},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", METRICS_GAUGE},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", METRICS_GAUGE},
        {"process_open_fds", "Number of open file descriptors.", METRICS_GAUGE},
        {"process_max_fds", "Maximum number of open file descriptors.", METRICS_GAUGE},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
         METRICS_GAUGE},
    };
    struct metrics_series *s[6];
    for (size_t i = 0; i < 6; i++) {
        struct metrics_spec spec = {
            .name = defs[i].name, .help = defs[i].help, .type = defs[i].type};
        struct metrics_family *f = metrics_register(r, &spec);
        if (!f)
            return -errno;
        s[i] = metrics_get0(f);
    }
    struct process_metrics *pm = malloc(sizeof(*pm));
    if (!pm)
        return -ENOMEM;
    *pm = (struct process_metrics){s[0], s[1], s[2], s[3], s[4], s[5]};

    uint64_t utime, stime, start, vsize, rss, btime;
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks > 0 && proc_stat(&utime, &stime, &start, &vsize, &rss) && boot_time(&btime)) {
        metrics_set(pm->start, (double)btime + (double)start / (double)ticks);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        metrics_set(pm->start, (double)now.tv_sec);
    }
    int rc = add_collector(r, process_collect, pm, true);
    if (rc < 0)
        free(pm);
    return rc;
}
