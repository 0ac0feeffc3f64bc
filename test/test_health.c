/*
 * The /health logic (internal/http/health.c): the verdict and the
 * health+json body (pure), then against a real PostgreSQL of its own - this
 * test stops, starts and freezes the server, so it starts a private cluster
 * (scripts/pg.sh) like test_pool does:
 *   - 1000 polls a second cost about one SELECT 1 a second;
 *   - the database stopped: 503 within 2 s; started again: 200 within 2 s;
 *   - a server that stops answering (SIGSTOP): 503 within 2 s while
 *     health_report() itself never waits;
 *   - the outbox backlog is read, reported and exported as a metric.
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
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db/conn.h"
#include "db/migrate.h"
#include "db/pool.h"
#include "http/health.h"
#include "log.h"
#include "metrics/tgm.h"
#include "testpg.h"
#include "util/clock.h"

/* Backends the hung-server test stopped (SIGCONT on the way out, whatever happens). */
#define STOPPED_MAX 16
static int g_stopped_pids[STOPPED_MAX];
static int g_nstopped;

static void resume_stopped(void)
{
    for (int i = 0; i < g_nstopped; i++)
        kill(g_stopped_pids[i], SIGCONT);
    g_nstopped = 0;
}

/* ---- helpers ---- */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- pure: the verdict and the body ---- */

static struct health_report healthy(void)
{
    struct health_report r = {.version = "9.9.9",
                              .db_known = true,
                              .db_ok = true,
                              .db_ms = 0.8,
                              .db_age_ms = 300,
                              .pool_max = 10,
                              .pool_in_use = 2,
                              .pool_idle = 1,
                              .queue_known = true,
                              .queue_depth = 5,
                              .queue_capacity = 100,
                              .outbox_known = true,
                              .outbox_pending = 2,
                              .outbox_oldest_s = 1.5};
    return r;
}

static json_t *body_of(const struct health_report *r)
{
    size_t len = 0;
    char *text = health_render_json(r, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %s", err.text, text);
    free(text);
    return j;
}

static const char *check_field(json_t *j, const char *check, const char *field)
{
    json_t *v = json_object_get(
        json_array_get(json_object_get(json_object_get(j, "checks"), check), 0), field);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static double check_number(json_t *j, const char *check, const char *field)
{
    json_t *v = json_object_get(
        json_array_get(json_object_get(json_object_get(j, "checks"), check), 0), field);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_verdict_and_body(void **state)
{
    struct health_report r = healthy();
    health_evaluate(&r, NULL);
    assert_int_equal(r.status, HEALTH_PASS);
    assert_int_equal(health_http_status(&r), 200);
    json_t *j = body_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "pass");
    assert_string_equal(json_string_value(json_object_get(j, "version")), "9.9.9");
    assert_string_equal(check_field(j, "postgres:responseTime", "observedUnit"), "ms");
    assert_string_equal(check_field(j, "postgres:responseTime", "status"), "pass");
    assert_true(check_number(j, "postgres:responseTime", "observedValue") == 0.8);
    assert_true(check_number(j, "postgres:connections", "observedValue") == 2);
    assert_true(check_number(j, "postgres:connections", "max") == 10);
    assert_true(check_number(j, "queue:utilization", "observedValue") == 5);
    assert_true(check_number(j, "outbox:backlog", "observedValue") == 2);
    json_decref(j);

    /* Pool almost used up: warn, still 200, with the reason. */
    r = healthy();
    r.pool_in_use = 10;
    health_evaluate(&r, NULL);
    assert_int_equal(r.status, HEALTH_WARN);
    assert_int_equal(health_http_status(&r), 200);
    j = body_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "warn");
    assert_non_null(check_field(j, "postgres:connections", "output"));
    json_decref(j);

    /* Outbox backlog: warn from the threshold on. */
    struct health_options o = {.outbox_warn_pending = 3};
    r = healthy();
    r.outbox_pending = 3;
    health_evaluate(&r, &o);
    assert_int_equal(r.outbox_status, HEALTH_WARN);
    assert_int_equal(health_http_status(&r), 200);

    /* Queue saturated: fail. */
    r = healthy();
    r.queue_depth = 100;
    health_evaluate(&r, NULL);
    assert_int_equal(r.queue_status, HEALTH_FAIL);
    assert_int_equal(health_http_status(&r), 503);

    /* Database: failed, never checked, stuck, stale. */
    r = healthy();
    r.db_ok = false;
    snprintf(r.db_error, sizeof(r.db_error), "SELECT 1 failed");
    health_evaluate(&r, NULL);
    assert_int_equal(health_http_status(&r), 503);
    j = body_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "fail");
    assert_string_equal(check_field(j, "postgres:responseTime", "output"), "SELECT 1 failed");
    json_decref(j);
    r = healthy();
    r.db_known = false;
    health_evaluate(&r, NULL);
    assert_int_equal(health_http_status(&r), 503);
    r = healthy();
    r.db_inflight_ms = 1500;
    health_evaluate(&r, NULL);
    assert_int_equal(health_http_status(&r), 503);
    r = healthy();
    r.db_age_ms = 10000;
    health_evaluate(&r, NULL);
    assert_int_equal(health_http_status(&r), 503);

    /* Draining: fail whatever else. */
    r = healthy();
    r.draining = true;
    health_evaluate(&r, NULL);
    assert_int_equal(health_http_status(&r), 503);
}

/* WEBHOOK_INSECURE: a note in the body, the status as it was. */
static void test_insecure_note(void **state)
{
    struct health_report r = healthy();
    health_evaluate(&r, NULL);
    json_t *j = body_of(&r);
    assert_null(json_object_get(j, "notes"));
    json_decref(j);

    r.webhook_insecure = true;
    health_evaluate(&r, NULL);
    assert_int_equal(health_http_status(&r), 200);
    j = body_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "pass");
    const char *note = json_string_value(json_array_get(json_object_get(j, "notes"), 0));
    assert_non_null(note);
    assert_non_null(strstr(note, "unauthenticated"));
    assert_non_null(strstr(note, "WEBHOOK_INSECURE"));
    json_decref(j);
}

/* ---- the private cluster ---- */

/* A test that failed half-way may have left a backend frozen. */
static void resume_frozen(void)
{
    resume_stopped();
}

static void cluster_start(void)
{
    testpg_cluster_start("health", resume_frozen);
    PGconn *c = testpg_connect(testpg_cluster.conninfo);
    if (migrate_up(c, migrations_builtin, migrations_builtin_count, 0, NULL) < 0) {
        fprintf(stderr, "test_health: migrations failed\n");
        exit(1);
    }
    PQfinish(c);
}

static int server_up(void **state)
{
    return testpg_cluster_ctl("start") == 0 ? 0 : -1;
}

/* The connection parameters of every pool of these tests (statement_timeout 5 s). */
static struct db_params *params_new(void)
{
    const struct db_conn_options o = {
        .database_url = testpg_cluster.conninfo,
        .connect_timeout_s = 2,
        .statement_timeout_ms = 5000,
    };
    return db_params_new(&o);
}

/* The pool's figures for the metrics' collector. */
static void pool_stats_of(void *pool, struct pool_stats *ret)
{
    pool_stats(pool, ret);
}

static void pool_query_stats_of(void *pool, pool_query_stat_fn fn, void *fn_ud)
{
    pool_query_stats(pool, fn, fn_ud);
}

struct thealth {
    struct db_params *params;
    struct pool *pool;
    struct health *health;
    size_t depth, capacity;
};

static size_t q_depth(void *ud)
{
    return ((struct thealth *)ud)->depth;
}

static size_t q_capacity(void *ud)
{
    return ((struct thealth *)ud)->capacity;
}

static void th_open(struct thealth *t, const struct health_options *extra)
{
    memset(t, 0, sizeof(*t));
    struct pool_options opt = {
        .max = 4,
        .timeout_ms = 5000,
        .pre_ping = true,
        .slow_query_ms = 1000,
    };
    t->capacity = 100;
    t->params = params_new();
    assert_non_null(t->params);
    t->pool = pool_new(&opt, t->params, NULL, 0);
    assert_non_null(t->pool);
    struct health_options o = {0};
    if (extra)
        o = *extra;
    o.version = "1.2.3";
    o.queue_depth = q_depth;
    o.queue_capacity = q_capacity;
    o.queue_ud = t;
    t->health = health_start(t->pool, &o);
    assert_non_null(t->health);
}

static void th_close(struct thealth *t)
{
    health_stop(t->health);
    pool_free(t->pool);
    db_params_free(t->params);
}

static int status_now(struct thealth *t)
{
    struct health_report r;
    health_report(t->health, &r);
    return health_http_status(&r);
}

/* Polls until the status is want; returns how long it took, or -1 after limit_ms. */
static int64_t wait_status(struct thealth *t, int want, int64_t limit_ms)
{
    int64_t t0 = clock_mono_ms();
    while (clock_mono_ms() - t0 <= limit_ms) {
        if (status_now(t) == want)
            return clock_mono_ms() - t0;
        sleep_ms(10);
    }
    return -1;
}

struct qfind {
    const char *name;
    uint64_t count;
};

static void qfind_cb(const struct pool_query_stat *s, void *ud)
{
    struct qfind *q = ud;
    if (strcmp(s->name, q->name) == 0)
        q->count = s->duration.count;
}

static uint64_t pings(struct pool *p)
{
    struct qfind q = {.name = "health_ping"};
    pool_query_stats(p, qfind_cb, &q);
    return q.count;
}

/* ---- with the database ---- */

static void test_polling_costs_one_query_a_second(void **state)
{
    struct thealth t;
    th_open(&t, &(struct health_options){.stats_interval_ms = -1});
    assert_true(wait_status(&t, 200, 3000) >= 0);

    uint64_t before = pings(t.pool);
    int64_t t0 = clock_mono_ms(), slowest = 0;
    int polls = 0, ok = 0;
    while (clock_mono_ms() - t0 < 2000) {
        int64_t a = clock_mono_ms();
        struct health_report r;
        health_report(t.health, &r);
        int64_t took = clock_mono_ms() - a;
        slowest = took > slowest ? took : slowest;
        ok += health_http_status(&r) == 200;
        polls++;
        sleep_ms(1);
    }
    uint64_t queries = pings(t.pool) - before;
    fprintf(stderr, "%d polls in 2 s: %llu SELECT 1, slowest report %lld ms\n", polls,
            (unsigned long long)queries, (long long)slowest);
    assert_true(polls >= 1000);
    assert_int_equal(ok, polls);
    assert_true(queries >= 1 && queries <= 3);
    assert_true(slowest < 50);
    th_close(&t);
}

static void test_database_down_and_back(void **state)
{
    struct thealth t;
    th_open(&t, &(struct health_options){.stats_interval_ms = -1});
    assert_true(wait_status(&t, 200, 3000) >= 0);

    assert_int_equal(testpg_cluster_ctl("stop"), 0);
    int64_t down = wait_status(&t, 503, 5000);
    fprintf(stderr, "database stopped: 503 after %lld ms\n", (long long)down);
    assert_true(down >= 0 && down <= 2000);
    /* The body says fail, never libpq's words: two rounds, the first
     * failing on the pooled connection, the next on a new one. */
    for (int round = 0; round < 2; round++) {
        struct health_report r;
        health_report(t.health, &r);
        assert_int_equal(r.db_status, HEALTH_FAIL);
        assert_true(r.db_error[0] != '\0');
        char *body = health_render_json(&r, NULL);
        assert_non_null(body);
        fprintf(stderr, "database stopped: %s\n", body);
        assert_non_null(strstr(body, "\"fail\""));
        static const char *const libpq[] = {"connection refused",
                                            "could not connect",
                                            "server closed",
                                            "terminating",
                                            "FATAL",
                                            "ERROR",
                                            "socket",
                                            "/tmp",
                                            "Is the server"};
        for (size_t i = 0; i < sizeof(libpq) / sizeof(libpq[0]); i++)
            if (strcasestr(body, libpq[i]))
                fail_msg("/health shows libpq's text (%s): %s", libpq[i], body);
        free(body);
        sleep_ms(1200);
    }

    assert_int_equal(testpg_cluster_ctl("start"), 0);
    int64_t up = wait_status(&t, 200, 10000);
    fprintf(stderr, "database started: 200 after %lld ms\n", (long long)up);
    assert_true(up >= 0 && up <= 2000);
    th_close(&t);
}

static void test_hung_server(void **state)
{
    struct thealth t;
    th_open(&t, &(struct health_options){.stats_interval_ms = -1});
    assert_true(wait_status(&t, 200, 3000) >= 0);

    /* Freeze every backend of the pool (it may hold more than one
     * connection by now): SELECT 1 will hang on whichever the check takes. */
    PGconn *admin = testpg_connect(testpg_cluster.conninfo);
    PGresult *pids = PQexec(admin, "SELECT pid FROM pg_stat_activity"
                                   " WHERE application_name = 'tgdesk'");
    assert_int_equal(PQresultStatus(pids), PGRES_TUPLES_OK);
    assert_true(PQntuples(pids) >= 1 && PQntuples(pids) < STOPPED_MAX);
    for (int i = 0; i < PQntuples(pids); i++) {
        int pid = (int)strtol(PQgetvalue(pids, i, 0), NULL, 10);
        assert_int_equal(kill(pid, SIGSTOP), 0);
        g_stopped_pids[g_nstopped++] = pid;
    }
    PQclear(pids);
    PQfinish(admin);
    /* and the postmaster: a new connection hangs too, as on a stuck server
     * (with only the backends stopped, the pool would rightly drop the hung
     * connection and answer from a new one) */
    int pm = testpg_postmaster_pid();
    assert_true(pm > 0);
    assert_int_equal(kill(pm, SIGSTOP), 0);
    g_stopped_pids[g_nstopped++] = pm;

    int64_t t0 = clock_mono_ms(), slowest = 0;
    int64_t failed_after = -1;
    while (clock_mono_ms() - t0 < 4000 && failed_after < 0) {
        int64_t a = clock_mono_ms();
        int st = status_now(&t);
        slowest = clock_mono_ms() - a > slowest ? clock_mono_ms() - a : slowest;
        if (st == 503)
            failed_after = clock_mono_ms() - t0;
        sleep_ms(5);
    }
    resume_stopped();
    fprintf(stderr, "server frozen: 503 after %lld ms, slowest report %lld ms\n",
            (long long)failed_after, (long long)slowest);
    /* Worst case: one check interval (1 s) before the check starts, then its
     * 1 s budget; measured 1.65-1.98 s. The margin is for a loaded machine
     * (sanitizer builds beside other tests), where the timer threads run
     * late: a regression that waits for the database shows as 5 s and more. */
    assert_true(failed_after >= 0 && failed_after <= 3000);
    assert_true(slowest < 50);
    assert_true(wait_status(&t, 200, 5000) >= 0);
    th_close(&t);
}

static void test_queue_and_draining(void **state)
{
    struct thealth t;
    th_open(&t, &(struct health_options){.stats_interval_ms = -1});
    assert_true(wait_status(&t, 200, 3000) >= 0);
    t.depth = t.capacity;
    assert_int_equal(status_now(&t), 503);
    t.depth = 0;
    assert_int_equal(status_now(&t), 200);
    health_set_draining(t.health);
    assert_int_equal(status_now(&t), 503);
    th_close(&t);
}

static void test_outbox_backlog(void **state)
{
    assert_int_equal(tgm_init(), 0);
    PGconn *admin = testpg_connect(testpg_cluster.conninfo);
    assert_string_equal(testpg_exec(admin,
                                    "INSERT INTO outbox (chat_id, method, payload, created_at)"
                                    " SELECT 42, 'sendMessage', '{}', now() - interval '60 seconds'"
                                    " FROM generate_series(1, 5)"),
                        "");
    assert_string_equal(testpg_exec(admin, "INSERT INTO outbox (chat_id, method, payload, status)"
                                           " VALUES (42, 'sendMessage', '{}', 'failed')"),
                        "");

    struct thealth t;
    th_open(&t, &(struct health_options){.stats_interval_ms = 100, .outbox_warn_pending = 3});
    int64_t t0 = clock_mono_ms();
    struct health_report r;
    do {
        sleep_ms(20);
        health_report(t.health, &r);
    } while ((!r.outbox_known || !r.db_known) && clock_mono_ms() - t0 < 3000);
    assert_true(r.outbox_known);
    assert_int_equal(r.outbox_pending, 5);
    assert_true(r.outbox_oldest_s >= 59 && r.outbox_oldest_s < 120);
    assert_int_equal(r.outbox_status, HEALTH_WARN);
    assert_int_equal(r.status, HEALTH_WARN);
    assert_int_equal(health_http_status(&r), 200);

    struct buf b;
    buf_init(&b, TGM_MAX_BODY);
    assert_int_equal(tgm_render(&b), 0);
    assert_non_null(strstr(buf_str(&b), "\ntgdesk_outbox_pending 5\n"));
    assert_non_null(strstr(buf_str(&b), "\ntgdesk_outbox_failed 1\n"));
    assert_non_null(strstr(buf_str(&b), "\ntgdesk_support_requests{status=\"open\"} 0\n"));
    buf_free(&b);

    th_close(&t);
    testpg_exec(admin, "DELETE FROM outbox");
    PQfinish(admin);
}

/* The support_requests gauge of status (from a fresh rendering), -1 when absent. */
static long requests_gauge(const char *status)
{
    struct buf b;
    buf_init(&b, TGM_MAX_BODY);
    assert_int_equal(tgm_render(&b), 0);
    char key[96];
    snprintf(key, sizeof(key), "\ntgdesk_support_requests{status=\"%s\"} ", status);
    const char *at = strstr(buf_str(&b), key);
    long v = at ? strtol(at + strlen(key), NULL, 10) : -1;
    buf_free(&b);
    return v;
}

static bool gauge_is(const char *status, long want, int64_t within_ms)
{
    int64_t t0 = clock_mono_ms();
    while (requests_gauge(status) != want && clock_mono_ms() - t0 < within_ms)
        sleep_ms(20);
    return requests_gauge(status) == want;
}

/* An open request of user id and a solved one of user id + 1. */
static void add_requests(PGconn *admin, int id)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO users (user_id) VALUES (%d), (%d) ON CONFLICT DO NOTHING;"
             " INSERT INTO requests (user_id, issue, status) VALUES (%d, 'a', 'open'),"
             " (%d, 'b', 'solved')",
             id, id + 1, id, id + 1);
    assert_string_equal(testpg_exec(admin, sql), "");
}

/* Open and assigned requests are counted every slow round (on their partial
 * index); solved and closed ones, a read of the whole table, only every
 * finished_stats_interval_ms. */
/* The solved and closed counts the cluster shares, as stored. */
static void expect_finished(PGconn *admin, const char *want)
{
    char *v = testpg_value(admin, "SELECT value FROM bot_state WHERE key = 'requests_finished'");
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static void test_requests_by_status(void **state)
{
    assert_int_equal(tgm_init(), 0);
    PGconn *admin = testpg_connect(testpg_cluster.conninfo);
    /* what the health checks of the tests before stored for the cluster */
    testpg_exec(admin, "DELETE FROM bot_state WHERE key = 'requests_finished'");
    add_requests(admin, 901);
    struct thealth t;
    th_open(&t, &(struct health_options){.stats_interval_ms = 50,
                                         .slow_stats_interval_ms = 100,
                                         .finished_stats_interval_ms = 600000});
    assert_true(gauge_is("open", 1, 3000));
    assert_true(gauge_is("solved", 1, 3000));
    assert_int_equal(requests_gauge("closed"), 0);

    add_requests(admin, 903);
    assert_true(gauge_is("open", 2, 3000));
    /* the open count moved, so a round ran after the insert; the solved
     * count waits for its own interval */
    assert_int_equal(requests_gauge("solved"), 1);
    th_close(&t);

    /* A new instance takes the figures the cluster counted less than five
     * minutes ago, without counting again ... */
    expect_finished(admin, "1 0");
    th_open(&t, &(struct health_options){.stats_interval_ms = 50,
                                         .slow_stats_interval_ms = 100,
                                         .finished_stats_interval_ms = 600000});
    assert_true(gauge_is("open", 2, 3000));
    assert_true(gauge_is("solved", 1, 3000));
    th_close(&t);
    /* ... and counts when they are older, storing them for the others. */
    testpg_exec(admin, "UPDATE bot_state SET updated_at = now() - interval '6 minutes'"
                       " WHERE key = 'requests_finished'");
    th_open(&t, &(struct health_options){.stats_interval_ms = 50,
                                         .slow_stats_interval_ms = 100,
                                         .finished_stats_interval_ms = 600000});
    assert_true(gauge_is("solved", 2, 3000));
    th_close(&t);
    expect_finished(admin, "2 0");
    testpg_exec(admin, "DELETE FROM requests; DELETE FROM users; DELETE FROM bot_state");
    PQfinish(admin);
}

/* The pool collector: a checkout that times out shows in tgdesk_db_pool_timeouts_total. */
static void test_pool_metrics(void **state)
{
    assert_int_equal(tgm_init(), 0);
    struct pool_options opt = {
        .max = 1,
        .timeout_ms = 50,
        .slow_query_ms = 1000,
    };
    struct db_params *params = params_new();
    struct pool *pool = pool_new(&opt, params, NULL, 0);
    assert_non_null(pool);
    struct pool_conn *c = NULL, *c2 = NULL;
    assert_int_equal(pool_acquire(pool, -1, &c), 0);
    PQclear(pool_exec_sql(c, "metrics_probe", "SELECT 1"));
    assert_int_equal(pool_acquire(pool, 50, &c2), -ETIMEDOUT);
    assert_int_equal(tgm_watch(&(struct tgm_sources){
                         .pool_stats = pool_stats_of,
                         .pool_query_stats = pool_query_stats_of,
                         .pool_ud = pool,
                     }),
                     0);

    struct buf b;
    buf_init(&b, TGM_MAX_BODY);
    assert_int_equal(tgm_render(&b), 0);
    assert_non_null(strstr(buf_str(&b), "\ntgdesk_db_pool_timeouts_total 1\n"));
    assert_non_null(strstr(buf_str(&b), "\ntgdesk_db_pool_connections{state=\"in_use\"} 1\n"));
    assert_non_null(strstr(buf_str(&b), "\ntgdesk_db_pool_max_connections 1\n"));
    assert_non_null(strstr(buf_str(&b), "\ntgdesk_db_pool_acquires_total 1\n"));
    assert_non_null(strstr(
        buf_str(&b), "\ntgdesk_db_query_duration_seconds_count{query=\"metrics_probe\"} 1\n"));
    buf_free(&b);

    tgm_unwatch();
    pool_release(pool, c);
    pool_free(pool);
    db_params_free(params);
}

int main(void)
{
    const char *root = getenv("TGDESK_SOURCE_ROOT");
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_verdict_and_body),
        cmocka_unit_test(test_insecure_note),
    };
    int failed = cmocka_run_group_tests_name("health verdict", pure, NULL, NULL);
    if (!root || !getenv("TGDESK_TEST_PG")) {
        fprintf(stderr, "TGDESK_SOURCE_ROOT or TGDESK_TEST_PG not set: database tests skipped\n");
        return failed ? failed : 77;
    }
    log_init(LOG_ERROR, LOG_FORMAT_JSON, 2);
    cluster_start();
    const struct CMUnitTest db[] = {
        cmocka_unit_test_setup(test_polling_costs_one_query_a_second, server_up),
        cmocka_unit_test_setup(test_database_down_and_back, server_up),
        cmocka_unit_test_setup(test_hung_server, server_up),
        cmocka_unit_test_setup(test_queue_and_draining, server_up),
        cmocka_unit_test_setup(test_outbox_backlog, server_up),
        cmocka_unit_test_setup(test_requests_by_status, server_up),
        cmocka_unit_test_setup(test_pool_metrics, server_up),
    };
    failed += cmocka_run_group_tests_name("health with PostgreSQL", db, NULL, NULL);
    return failed;
}
