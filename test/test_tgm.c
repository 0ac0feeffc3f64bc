/*
 * The tgdesk metrics (internal/metrics/tgm.c): every family
 * registered, each function moving the series it should, the pool collector,
 * and the whole rendered text accepted by `promtool check metrics` without a
 * single complaint (Debian package prometheus).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/conn.h"
#include "db/pool.h"
#include "metrics/tgm.h"

static char *render_all(void)
{
    struct buf b;
    buf_init(&b, TGM_MAX_BODY);
    assert_int_equal(tgm_render(&b), 0);
    return buf_take(&b);
}

/* The value of the sample line that starts with `series ` exactly, or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return -1;
}

static double now_sample(const char *series)
{
    char *text = render_all();
    double v = sample(text, series);
    free(text);
    return v;
}

static void test_counters_move(void **state)
{
    assert_int_equal(tgm_init(), 0);
    assert_int_equal(tgm_init(), 0); /* idempotent */

    const char *dup = "tgdesk_updates_total{type=\"message\",outcome=\"duplicate\"}";
    assert_true(now_sample(dup) < 0); /* no such series yet */
    tgm_update("message", "duplicate", 0.001);
    assert_true(now_sample(dup) == 1);
    tgm_update("message", "duplicate", 0.001);
    assert_true(now_sample(dup) == 2);

    /* A 503 is not an outcome: it is deferred, and counted apart. */
    double before = now_sample("tgdesk_updates_deferred_total{reason=\"database\"}");
    tgm_update("message", "retry", 0.002);
    assert_true(now_sample("tgdesk_updates_deferred_total{reason=\"database\"}") == before + 1);
    assert_true(now_sample("tgdesk_updates_total{type=\"message\",outcome=\"retry\"}") < 0);

    tgm_api_call("sendMessage", "retry_after", 0.02);
    assert_true(
        now_sample(
            "tgdesk_telegram_api_requests_total{method=\"sendMessage\",result=\"retry_after\"}") ==
        1);

    tgm_resolution(600);
    assert_true(now_sample("tgdesk_support_resolution_seconds_count") == 1);
    assert_true(now_sample("tgdesk_support_resolution_seconds_bucket{le=\"300\"}") == 0);
    assert_true(now_sample("tgdesk_support_resolution_seconds_bucket{le=\"900\"}") == 1);
    tgm_first_response(30);
    assert_true(now_sample("tgdesk_support_first_response_seconds_bucket{le=\"60\"}") == 1);

    tgm_http("webhook", 200, 0.003);
    assert_true(now_sample("tgdesk_http_requests_total{route=\"webhook\",code=\"200\"}") == 1);
    assert_true(now_sample("tgdesk_http_request_duration_seconds_count{route=\"webhook\"}") == 1);

    tgm_log_dropped("buffer_full", 3);
    assert_true(now_sample("tgdesk_log_rows_dropped_total{reason=\"buffer_full\"}") == 3);

    char *text = render_all();
    assert_non_null(strstr(text, "tgdesk_build_info{version=\""));
    assert_non_null(strstr(text, "# TYPE tgdesk_db_pool_acquire_seconds histogram\n"));
    free(text);
}

/* The pool's figures for the collector, as the program wires them. */
static void pool_stats_of(void *pool, struct pool_stats *ret)
{
    pool_stats(pool, ret);
}

static void pool_query_stats_of(void *pool, pool_query_stat_fn fn, void *fn_ud)
{
    pool_query_stats(pool, fn, fn_ud);
}

static void test_pool_collector(void **state)
{
    /* A pool whose server does not exist: acquires fail fast and are counted. */
    const struct db_conn_options conn = {
        .database_url = "host=127.0.0.1 port=1 dbname=nothing user=nobody connect_timeout=2",
        .connect_timeout_s = 2,
    };
    const struct pool_options opt = {.max = 7, .timeout_ms = 100};
    static const struct pool_stmt stmts[] = {{"one", "SELECT 1", 0}};
    struct db_params *params = db_params_new(&conn);
    assert_non_null(params);
    struct pool *pool = pool_new(&opt, params, stmts, 1);
    assert_non_null(pool);
    struct pool_conn *c = NULL;
    assert_int_equal(pool_acquire(pool, 100, &c), -ECONNREFUSED);

    assert_int_equal(tgm_watch(&(struct tgm_sources){
                         .pool_stats = pool_stats_of,
                         .pool_query_stats = pool_query_stats_of,
                         .pool_ud = pool,
                     }),
                     0);
    char *text = render_all();
    assert_true(sample(text, "tgdesk_db_pool_max_connections") == 7);
    assert_true(sample(text, "tgdesk_db_pool_connect_failures_total") >= 1);
    assert_true(sample(text, "tgdesk_db_pool_unavailable_total") >= 1);
    assert_true(sample(text, "tgdesk_db_pool_connections{state=\"in_use\"}") == 0);
    assert_non_null(strstr(text, "tgdesk_db_query_duration_seconds_count{query=\"one\"} 0\n"));
    free(text);

    tgm_unwatch();
    pool_free(pool);
    db_params_free(params);
    /* With nothing watched the collector is harmless. */
    free(render_all());
}

/* Observations in every family, then the whole text through promtool. */
static void test_promtool(void **state)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        fprintf(stderr, "promtool not installed (Debian package prometheus): skipping\n");
        skip();
    }
    tgm_http("health", 503, 0.0001);
    tgm_http("metrics", 200, 0.01);
    tgm_http("other", 404, 0.0001);
    tgm_update("callback_query", "processed", 0.004);
    tgm_update("edited_message", "ignored", 0.0);
    tgm_update("invalid", "rejected", 0.0001);
    tgm_update("message", "failed", 0.05);
    tgm_update_deferred("queue_full");
    tgm_transaction("commit", 12);
    tgm_transaction("rollback", 3);
    tgm_api_call("copyMessage", "sent", 0.1);
    tgm_api_call("sendMessage", "forbidden", 0.2);
    tgm_log_written(10);
    tgm_log_dropped("db_error", 1);
    struct tgm_db_stats st = {.outbox_ok = true,
                              .outbox_pending = 4,
                              .outbox_oldest_pending_s = 12.5,
                              .counts_ok = true,
                              .outbox_failed = 1,
                              .requests_open = 3,
                              .requests_assigned = 2,
                              .requests_solved = 10,
                              .requests_closed = 5};
    tgm_db_stats(&st);
    tgm_db_stats_failed();
    /* Label values that need escaping must still pass. */
    tgm_update("weird\"type\\\n", "processed", 0.001);

    char *text = render_all();
    assert_true(sample(text, "tgdesk_outbox_pending") == 4);
    assert_true(sample(text, "tgdesk_support_requests{status=\"solved\"}") == 10);

    char path[] = "/tmp/tgdesk_promtool_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "promtool check metrics > '%s' 2>&1", path);
    FILE *p = popen(cmd, "w");
    assert_non_null(p);
    fwrite(text, 1, strlen(text), p);
    int status = pclose(p);

    FILE *f = fopen(path, "r");
    char out[4096] = "";
    size_t n = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    unlink(path);
    if (n > 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "---- rendered ----\n%s---- promtool said ----\n%s\n", text, out);
        fail_msg("promtool check metrics: exit %d, %zu bytes of complaints", WEXITSTATUS(status),
                 n);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_move),
        cmocka_unit_test(test_pool_collector),
        cmocka_unit_test(test_promtool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
