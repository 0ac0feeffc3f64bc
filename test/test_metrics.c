/*
 * The metrics registry and its text renderer (internal/metrics/metrics.c):
 * exact output of a small registry, escaping, histogram buckets, the series
 * cap, the bounded buffer, the process metrics, and exact counts under
 * concurrent updates (this test also runs under ThreadSanitizer).
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"

static char *render(struct metrics_registry *r)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    int rc = metrics_render(r, &b);
    assert_int_equal(rc, 0);
    char *text = buf_take(&b);
    assert_non_null(text);
    return text; /* caller frees */
}

static const double small_bounds[] = {0.1, 0.5, 1};

static void test_exact_text(void **state)
{
    struct metrics_registry *r = metrics_registry_new();
    struct metrics_spec c = {.name = "t_requests_total",
                             .help = "Requests.",
                             .type = METRICS_COUNTER,
                             .labels = {"route", "code"}};
    struct metrics_spec g = {.name = "t_depth", .help = "Depth.", .type = METRICS_GAUGE};
    struct metrics_spec h = {.name = "t_seconds",
                             .help = "Durations.",
                             .type = METRICS_HISTOGRAM,
                             .labels = {"route"},
                             .bounds = small_bounds,
                             .nbounds = 3};
    struct metrics_spec unused = {
        .name = "t_unused_total", .help = "Never used.", .type = METRICS_COUNTER, .labels = {"x"}};
    struct metrics_family *fc = metrics_register(r, &c);
    struct metrics_family *fg = metrics_register(r, &g);
    struct metrics_family *fh = metrics_register(r, &h);
    assert_non_null(metrics_register(r, &unused));
    assert_non_null(fc);
    assert_non_null(fg);
    assert_non_null(fh);

    metrics_inc(METRICS_GET(fc, "webhook", "200"));
    metrics_add(METRICS_GET(fc, "webhook", "200"), 2);
    metrics_inc(METRICS_GET(fc, "health", "503"));
    metrics_set(metrics_get0(fg), 7);
    metrics_gauge_add(metrics_get0(fg), -2.5);
    struct metrics_series *s = METRICS_GET(fh, "webhook");
    metrics_observe(s, 0.05);
    metrics_observe(s, 0.5); /* on a bound: counts in that bucket */
    metrics_observe(s, 3);
    metrics_observe(s, NAN); /* ignored */

    char *text = render(r);
    const char *want = "# HELP t_requests_total Requests.\n"
                       "# TYPE t_requests_total counter\n"
                       "t_requests_total{route=\"webhook\",code=\"200\"} 3\n"
                       "t_requests_total{route=\"health\",code=\"503\"} 1\n"
                       "# HELP t_depth Depth.\n"
                       "# TYPE t_depth gauge\n"
                       "t_depth 4.5\n"
                       "# HELP t_seconds Durations.\n"
                       "# TYPE t_seconds histogram\n"
                       "t_seconds_bucket{route=\"webhook\",le=\"0.1\"} 1\n"
                       "t_seconds_bucket{route=\"webhook\",le=\"0.5\"} 2\n"
                       "t_seconds_bucket{route=\"webhook\",le=\"1\"} 2\n"
                       "t_seconds_bucket{route=\"webhook\",le=\"+Inf\"} 3\n"
                       "t_seconds_sum{route=\"webhook\"} 3.55\n"
                       "t_seconds_count{route=\"webhook\"} 3\n";
    assert_string_equal(text, want);
    free(text);
    metrics_registry_free(r);
}

static void test_escaping(void **state)
{
    struct metrics_registry *r = metrics_registry_new();
    struct metrics_spec c = {.name = "t_total",
                             .help = "Back\\slash and\nnewline \"quoted\".",
                             .type = METRICS_COUNTER,
                             .labels = {"v"}};
    struct metrics_family *f = metrics_register(r, &c);
    metrics_inc(METRICS_GET(f, "a\\b\"c\nd"));
    char *text = render(r);
    assert_string_equal(text, "# HELP t_total Back\\\\slash and\\nnewline \"quoted\".\n"
                              "# TYPE t_total counter\n"
                              "t_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
    free(text);
    metrics_registry_free(r);
}

static void test_histogram_cumulative(void **state)
{
    static const double bounds[] = {1, 2, 4, 8};
    struct metrics_registry *r = metrics_registry_new();
    struct metrics_spec h = {
        .name = "t_h", .help = "H.", .type = METRICS_HISTOGRAM, .bounds = bounds, .nbounds = 4};
    struct metrics_series *s = metrics_get0(metrics_register(r, &h));
    assert_non_null(s);
    double sum = 0;
    for (int i = 0; i < 100; i++) {
        double v = (double)(i % 10);
        metrics_observe(s, v);
        sum += v;
    }
    /* Per 10: 0,1 -> le 1 (2); 2 -> le 2 (1); 3,4 -> le 4 (2); 5..8 -> le 8 (4); 9 -> +Inf. */
    assert_int_equal(metrics_hist_bucket(s, 0), 20);
    assert_int_equal(metrics_hist_bucket(s, 1), 30);
    assert_int_equal(metrics_hist_bucket(s, 2), 50);
    assert_int_equal(metrics_hist_bucket(s, 3), 90);
    assert_int_equal(metrics_hist_bucket(s, 4), 100);
    assert_int_equal(metrics_hist_count(s), 100);
    assert_true(fabs(metrics_hist_sum(s) - sum) < 1e-9);

    /* A snapshot from elsewhere (per-bucket counts) renders cumulatively too. */
    const uint64_t counts[5] = {1, 0, 2, 0, 3};
    metrics_histogram_set(s, counts, 5, 42.25);
    char *text = render(r);
    assert_non_null(strstr(text, "t_h_bucket{le=\"1\"} 1\n"
                                 "t_h_bucket{le=\"2\"} 1\n"
                                 "t_h_bucket{le=\"4\"} 3\n"
                                 "t_h_bucket{le=\"8\"} 3\n"
                                 "t_h_bucket{le=\"+Inf\"} 6\n"
                                 "t_h_sum 42.25\n"
                                 "t_h_count 6\n"));
    free(text);
    metrics_registry_free(r);
}

static void test_series_cap(void **state)
{
    struct metrics_registry *r = metrics_registry_new();
    struct metrics_spec c = {.name = "t_total",
                             .help = "T.",
                             .type = METRICS_COUNTER,
                             .labels = {"id"},
                             .max_series = 3};
    struct metrics_family *f = metrics_register(r, &c);
    char id[16];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "%d", i);
        metrics_inc(METRICS_GET(f, id));
    }
    /* Too long and invalid UTF-8 values are collapsed too. */
    char longv[METRICS_MAX_VALUE_LEN + 2];
    memset(longv, 'x', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    metrics_inc(METRICS_GET(f, longv));
    metrics_inc(METRICS_GET(f, "\xff\xfe"));
    metrics_inc(METRICS_GET(f, "0"));
    char *text = render(r);
    assert_string_equal(text, "# HELP t_total T.\n"
                              "# TYPE t_total counter\n"
                              "t_total{id=\"0\"} 2\n"
                              "t_total{id=\"1\"} 1\n"
                              "t_total{id=\"other\"} 100\n");
    free(text);
    /* The wrong number of values is refused. */
    assert_null(metrics_get(f, (const char *const[]){"a", "b"}, 2));
    metrics_registry_free(r);
}

static void test_bad_specs(void **state)
{
    static const double bad_bounds[] = {1, 1};
    static const double ok_bounds[] = {1};
    struct metrics_registry *r = metrics_registry_new();
    struct metrics_spec s = {.name = "9bad", .type = METRICS_COUNTER};
    assert_null(metrics_register(r, &s));
    assert_int_equal(errno, EINVAL);
    s = (struct metrics_spec){.name = "t_ok", .type = METRICS_COUNTER, .labels = {"__x"}};
    assert_null(metrics_register(r, &s));
    s = (struct metrics_spec){.name = "t_ok", .type = METRICS_COUNTER, .labels = {"a", "a"}};
    assert_null(metrics_register(r, &s));
    s = (struct metrics_spec){.name = "t_h",
                              .type = METRICS_HISTOGRAM,
                              .labels = {"le"},
                              .bounds = ok_bounds,
                              .nbounds = 1};
    assert_null(metrics_register(r, &s));
    s = (struct metrics_spec){
        .name = "t_h", .type = METRICS_HISTOGRAM, .bounds = bad_bounds, .nbounds = 2};
    assert_null(metrics_register(r, &s));
    s = (struct metrics_spec){.name = "t_h", .type = METRICS_HISTOGRAM};
    assert_null(metrics_register(r, &s));
    s = (struct metrics_spec){.name = "t_ok", .type = METRICS_COUNTER};
    assert_non_null(metrics_register(r, &s));
    assert_null(metrics_register(r, &s)); /* duplicate name */
    assert_int_equal(errno, EINVAL);
    metrics_registry_free(r);
}

static void test_bounded_buffer(void **state)
{
    struct metrics_registry *r = metrics_registry_new();
    struct metrics_spec c = {
        .name = "t_total", .help = "T.", .type = METRICS_COUNTER, .labels = {"id"}};
    struct metrics_family *f = metrics_register(r, &c);
    char id[16];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof(id), "%d", i);
        metrics_inc(METRICS_GET(f, id));
    }
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(metrics_render(r, &b), -E2BIG);
    assert_true(buf_len(&b) <= 100);
    buf_free(&b);
    buf_init(&b, 1 << 16);
    assert_int_equal(metrics_render(r, &b), 0);
    assert_int_equal(buf_len(&b), strlen(buf_str(&b)));
    assert_true(buf_str(&b)[buf_len(&b) - 1] == '\n');
    buf_free(&b);

    /* An empty registry renders an empty text, not NULL. */
    struct metrics_registry *empty = metrics_registry_new();
    buf_init(&b, 10);
    assert_int_equal(metrics_render(empty, &b), 0);
    char *text = buf_take(&b);
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);
    buf_free(&b);
    metrics_registry_free(empty);
    metrics_registry_free(r);
}

static void test_format_double(void **state)
{
    char buf[40];
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},           {1, "1"},
        {-3, "-3"},         {0.1, "0.1"},
        {0.005, "0.005"},   {2.5, "2.5"},
        {1e20, "1e+20"},    {123456789, "123456789"},
        {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
        {NAN, "NaN"},       {0.30000000000000004, "0.30000000000000004"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        metrics_format_double(cases[i].v, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
}

struct counted {
    int runs;
};

static void count_runs(struct metrics_registry *r, void *ud)
{
    ((struct counted *)ud)->runs++;
}

static void test_collectors(void **state)
{
    struct metrics_registry *r = metrics_registry_new();
    struct counted c = {0};
    assert_int_equal(metrics_add_collector(r, count_runs, &c), 0);
    free(render(r));
    free(render(r));
    assert_int_equal(c.runs, 2);
    metrics_remove_collector(r, count_runs, &c);
    free(render(r));
    assert_int_equal(c.runs, 2);
    metrics_registry_free(r);
}

/* Value of the sample line starting with name (followed by a space), or -1. */
static double sample(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

static void test_process_metrics(void **state)
{
    struct metrics_registry *r = metrics_registry_new();
    assert_int_equal(metrics_register_process(r), 0);
    /* Burn a little CPU so the counter is above zero. */
    volatile double x = 0;
    for (int i = 0; i < 20000000; i++)
        x += i * 0.5;
    char *text = render(r);
    assert_true(sample(text, "process_cpu_seconds_total") >= 0);
    assert_true(sample(text, "process_resident_memory_bytes") > 1024 * 1024);
    assert_true(sample(text, "process_virtual_memory_bytes") >=
                sample(text, "process_resident_memory_bytes"));
    assert_true(sample(text, "process_open_fds") >= 3);
    assert_true(sample(text, "process_max_fds") >= sample(text, "process_open_fds"));
    double start = sample(text, "process_start_time_seconds");
    assert_true(fabs(start - (double)time(NULL)) < 120);
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    free(text);
    metrics_registry_free(r);
}

/* ---- 8 threads x 100k updates ---- */

#define THREADS 8
#define ROUNDS  100000

struct worker {
    struct metrics_family *counter;
    struct metrics_family *hist;
    struct metrics_family *gauge;
    int id;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char own[16];
    snprintf(own, sizeof(own), "t%d", w->id);
    struct metrics_series *shared = METRICS_GET(w->counter, "shared");
    for (int i = 0; i < ROUNDS; i++) {
        metrics_inc(shared);
        /* Looked up every time: finds (or, once, creates) the series concurrently. */
        metrics_inc(METRICS_GET(w->counter, own));
        metrics_observe(METRICS_GET(w->hist, "h"), (i % 4) * 0.5);
        metrics_gauge_add(metrics_get0(w->gauge), 1);
    }
    return NULL;
}

static void *renderer(void *arg)
{
    struct metrics_registry *r = arg;
    for (int i = 0; i < 50; i++)
        free(render(r));
    return NULL;
}

static void test_concurrent_exact(void **state)
{
    static const double bounds[] = {0.25, 0.75, 1.25};
    struct metrics_registry *r = metrics_registry_new();
    struct metrics_spec c = {
        .name = "t_total", .help = "T.", .type = METRICS_COUNTER, .labels = {"who"}};
    struct metrics_spec h = {.name = "t_h",
                             .help = "H.",
                             .type = METRICS_HISTOGRAM,
                             .labels = {"k"},
                             .bounds = bounds,
                             .nbounds = 3};
    struct metrics_spec g = {.name = "t_g", .help = "G.", .type = METRICS_GAUGE};
    struct worker w[THREADS];
    pthread_t t[THREADS], rt;
    struct metrics_family *fc = metrics_register(r, &c);
    struct metrics_family *fh = metrics_register(r, &h);
    struct metrics_family *fg = metrics_register(r, &g);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){fc, fh, fg, i};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&rt, NULL, renderer, r), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_join(rt, NULL);

    assert_int_equal((uint64_t)metrics_value(METRICS_GET(fc, "shared")),
                     (uint64_t)THREADS * ROUNDS);
    char own[16];
    for (int i = 0; i < THREADS; i++) {
        snprintf(own, sizeof(own), "t%d", i);
        assert_int_equal((uint64_t)metrics_value(METRICS_GET(fc, own)), ROUNDS);
    }
    struct metrics_series *hs = METRICS_GET(fh, "h");
    assert_int_equal(metrics_hist_count(hs), (uint64_t)THREADS * ROUNDS);
    /* Values 0, 0.5, 1, 1.5 in turn: one quarter in each bucket. */
    assert_int_equal(metrics_hist_bucket(hs, 0), (uint64_t)THREADS * ROUNDS / 4);
    assert_int_equal(metrics_hist_bucket(hs, 1), (uint64_t)THREADS * ROUNDS / 2);
    assert_int_equal(metrics_hist_bucket(hs, 2), (uint64_t)THREADS * ROUNDS * 3 / 4);
    /* Sums of multiples of 0.5 are exact in binary floating point. */
    assert_true(metrics_hist_sum(hs) == (double)THREADS * ROUNDS / 4 * 3.0);
    assert_true(metrics_value(metrics_get0(fg)) == (double)THREADS * ROUNDS);

    char *text = render(r);
    char line[64];
    snprintf(line, sizeof(line), "t_total{who=\"shared\"} %d\n", THREADS * ROUNDS);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "t_h_bucket{k=\"h\",le=\"+Inf\"} %d\n", THREADS * ROUNDS);
    assert_non_null(strstr(text, line));
    free(text);
    metrics_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_bounded_buffer),
        cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_collectors),
        cmocka_unit_test(test_process_metrics),
        cmocka_unit_test(test_concurrent_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
