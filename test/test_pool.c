/*
 * The connection pool against a real PostgreSQL of its own: this test stops,
 * restarts and kills backends, so it starts a private cluster
 * (scripts/pg.sh) instead of sharing the suite's one.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db/conn.h"
#include "db/password.h"
#include "db/pool.h"
#include "log.h"
#include "testpg.h"
#include "util/clock.h"

static const struct pool_stmt stmts[] = {
    {"one", "SELECT 1", 0},
    {"echo", "SELECT $1::text", 1},
    {"sleep", "SELECT pg_sleep($1::float8)", 1},
};
#define NSTMTS (sizeof(stmts) / sizeof(stmts[0]))

/* A test that failed half-way may have left the server stopped. */
static int server_up(void **state)
{
    return testpg_cluster_ctl("start") == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

struct tpool {
    struct db_conn_options conn;
    struct pool_options opt;
    struct db_params *params;
    struct pool *pool;
};

static void tpool_config(struct tpool *t, int max)
{
    memset(t, 0, sizeof(*t));
    t->conn.database_url = testpg_cluster.conninfo;
    t->opt.max = max;
    t->opt.min = 0;
    t->opt.timeout_ms = 10000;
    t->opt.pre_ping = true;
    t->conn.connect_timeout_s = 2;
    t->conn.statement_timeout_ms = 5000;
    t->opt.slow_query_ms = 0;
}

static void tpool_open(struct tpool *t)
{
    t->params = db_params_new(&t->conn);
    assert_non_null(t->params);
    t->pool = pool_new(&t->opt, t->params, stmts, NSTMTS);
    assert_non_null(t->pool);
}

static void tpool_close(struct tpool *t)
{
    pool_free(t->pool);
    db_params_free(t->params);
    t->pool = NULL;
    t->params = NULL;
}

static PGconn *admin(void)
{
    return testpg_connect(testpg_cluster.conninfo);
}

static int64_t value_int(PGconn *conn, const char *sql)
{
    char *v = testpg_value(conn, sql);
    assert_non_null(v);
    int64_t n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

static int64_t tgdesk_backends(PGconn *conn)
{
    return value_int(conn, "SELECT count(*) FROM pg_stat_activity"
                           " WHERE application_name = 'tgdesk'");
}

/* Waits until the server shows n tgdesk backends; backends exit asynchronously. */
static void wait_backends(PGconn *conn, int64_t n)
{
    int64_t deadline = clock_mono_ms() + 10000;
    while (tgdesk_backends(conn) != n) {
        assert_true(clock_mono_ms() < deadline);
        sleep_ms(20);
    }
}

static struct pool_stats stats(struct pool *p)
{
    struct pool_stats s;
    pool_stats(p, &s);
    return s;
}

/* The background maintenance thread may be between steps: wait for size n. */
static void wait_size(struct pool *p, int n)
{
    int64_t deadline = clock_mono_ms() + 5000;
    while (stats(p).size != n) {
        assert_true(clock_mono_ms() < deadline);
        sleep_ms(10);
    }
}

/* Runs "echo" with text and asserts the connection answers it. */
static void assert_echo(struct pool_conn *c, const char *text)
{
    const char *params[] = {text};
    PGresult *r = pool_exec(c, "echo", 1, params);
    assert_non_null(r);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("echo failed: %s", PQresultErrorMessage(r));
    assert_string_equal(PQgetvalue(r, 0, 0), text);
    PQclear(r);
}

static int terminate_tgdesk(PGconn *conn)
{
    return (int)value_int(conn, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                " WHERE application_name = 'tgdesk'");
}

struct qfind {
    const char *name;
    struct pool_query_stat found;
    bool ok;
};

static void qfind_cb(const struct pool_query_stat *s, void *ud)
{
    struct qfind *q = ud;
    if (strcmp(s->name, q->name) == 0) {
        q->found = *s;
        q->ok = true;
    }
}

static struct pool_query_stat query_stat(struct pool *p, const char *name)
{
    struct qfind q = {.name = name};
    pool_query_stats(p, qfind_cb, &q);
    if (!q.ok)
        fail_msg("no query stats for %s", name);
    return q.found;
}

/* ---- 64 threads x 2000 checkouts on a pool of 8 ---- */

#define STRESS_THREADS 64
#define STRESS_ROUNDS  2000
#define STRESS_MAX     8

struct stress {
    struct pool *pool;
    atomic_int failures;
    atomic_int bad_results;
    atomic_bool stop;
    int64_t peak;
    int samples;
};

static void *stress_worker(void *arg)
{
    struct stress *s = arg;
    for (int i = 0; i < STRESS_ROUNDS; i++) {
        struct pool_conn *c;
        if (pool_acquire(s->pool, -1, &c) != 0) {
            atomic_fetch_add(&s->failures, 1);
            continue;
        }
        PGresult *r = pool_exec(c, "one", 0, NULL);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || strcmp(PQgetvalue(r, 0, 0), "1") != 0)
            atomic_fetch_add(&s->bad_results, 1);
        PQclear(r);
        pool_release(s->pool, c);
    }
    return NULL;
}

/* Samples pg_stat_activity from a connection of its own (not a tgdesk one). */
static void *stress_monitor(void *arg)
{
    struct stress *s = arg;
    PGconn *conn = admin();
    while (!atomic_load(&s->stop)) {
        char *v = testpg_value(conn, "SELECT count(*) FROM pg_stat_activity"
                                     " WHERE application_name = 'tgdesk'");
        if (v) {
            int64_t n = strtoll(v, NULL, 10);
            if (n > s->peak)
                s->peak = n;
            s->samples++;
            free(v);
        }
        sleep_ms(2);
    }
    PQfinish(conn);
    return NULL;
}

static void test_many_threads_never_exceed_max(void **state)
{
    PGconn *adm = admin();
    wait_backends(adm, 0);

    struct tpool t;
    tpool_config(&t, STRESS_MAX);
    t.opt.timeout_ms = 60000;
    tpool_open(&t);

    struct stress s = {.pool = t.pool};
    pthread_t mon, th[STRESS_THREADS];
    assert_int_equal(pthread_create(&mon, NULL, stress_monitor, &s), 0);
    for (int i = 0; i < STRESS_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, stress_worker, &s), 0);
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&s.stop, true);
    pthread_join(mon, NULL);

    assert_int_equal(atomic_load(&s.failures), 0);
    assert_int_equal(atomic_load(&s.bad_results), 0);
    assert_true(s.samples > 0);
    assert_true(s.peak >= 1);
    assert_true(s.peak <= STRESS_MAX);
    /* After the run too: every connection is still the pool's. */
    assert_true(tgdesk_backends(adm) <= STRESS_MAX);

    struct pool_stats st = stats(t.pool);
    const uint64_t total = (uint64_t)STRESS_THREADS * STRESS_ROUNDS;
    assert_int_equal(st.acquires, total);
    assert_int_equal(st.acquire.count, total);
    uint64_t sum = 0;
    for (int i = 0; i < POOL_HIST_BUCKETS; i++)
        sum += st.acquire.buckets[i];
    assert_true(sum <= st.acquire.count);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.timeouts, 0);
    assert_int_equal(st.unavailable, 0);
    assert_int_equal(st.max, STRESS_MAX);
    assert_true(st.size >= 1 && st.size <= STRESS_MAX);
    assert_int_equal(st.idle, st.size);
    assert_int_equal(st.connects, (uint64_t)st.size + st.recycled_lifetime + st.recycled_idle +
                                      st.recycled_broken + st.recycled_dirty);
    assert_int_equal(st.connect_failures, 0);

    struct pool_query_stat q = query_stat(t.pool, "one");
    assert_int_equal(q.duration.count, total);
    assert_int_equal(q.errors, 0);
    assert_true(q.duration.sum_seconds > 0);

    tpool_close(&t);
    PQfinish(adm);
}

/* ---- exhaustion ---- */

struct waiter_arg {
    struct pool *pool;
    struct pool_conn *got;
    int rc;
};

static void *waiting_acquire(void *arg)
{
    struct waiter_arg *w = arg;
    w->rc = pool_acquire(w->pool, 5000, &w->got);
    return NULL;
}

static void test_exhausted_pool_times_out(void **state)
{
    struct tpool t;
    tpool_config(&t, 2);
    t.opt.timeout_ms = 300;
    tpool_open(&t);

    struct pool_conn *a, *b, *c = NULL;
    assert_int_equal(pool_acquire(t.pool, -1, &a), 0);
    assert_int_equal(pool_acquire(t.pool, -1, &b), 0);

    int64_t t0 = clock_mono_ms();
    assert_int_equal(pool_acquire(t.pool, -1, &c), -ETIMEDOUT);
    int64_t waited = clock_mono_ms() - t0;
    assert_null(c);
    assert_true(waited >= 250);
    assert_true(waited < 2000);
    struct pool_stats st = stats(t.pool);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.in_use, 2);
    assert_int_equal(st.waiting, 0);

    /* timeout 0: do not wait at all. */
    t0 = clock_mono_ms();
    assert_int_equal(pool_acquire(t.pool, 0, &c), -ETIMEDOUT);
    assert_true(clock_mono_ms() - t0 < 100);
    assert_int_equal(stats(t.pool).timeouts, 2);

    /* A waiter gets the connection that comes back. */
    struct waiter_arg w = {.pool = t.pool, .rc = 1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waiting_acquire, &w), 0);
    int64_t deadline = clock_mono_ms() + 5000;
    while (stats(t.pool).waiting != 1) {
        assert_true(clock_mono_ms() < deadline);
        sleep_ms(5);
    }
    pool_release(t.pool, a);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    assert_ptr_equal(w.got, a);
    assert_echo(w.got, "handed over");
    pool_release(t.pool, w.got);
    pool_release(t.pool, b);

    st = stats(t.pool);
    assert_int_equal(st.timeouts, 2);
    assert_int_equal(st.acquires, 3);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.idle, 2);
    tpool_close(&t);
}

/* ---- server down, restarted, backends killed ---- */

static void test_server_stopped_fails_fast_then_recovers(void **state)
{
    struct tpool t;
    tpool_config(&t, 4);
    t.opt.timeout_ms = 10000;
    tpool_open(&t);

    struct pool_conn *a, *b, *c = NULL;
    assert_int_equal(pool_acquire(t.pool, -1, &a), 0);
    assert_int_equal(pool_acquire(t.pool, -1, &b), 0);
    assert_echo(a, "a");
    assert_echo(b, "b");
    pool_release(t.pool, a);
    pool_release(t.pool, b);

    assert_int_equal(testpg_cluster_ctl("stop"), 0);

    int64_t t0 = clock_mono_ms();
    assert_int_equal(pool_acquire(t.pool, -1, &c), -ECONNREFUSED);
    int64_t took = clock_mono_ms() - t0;
    assert_true(took < 1000);
    /* Within the back-off window: no connect attempt at all. */
    t0 = clock_mono_ms();
    assert_int_equal(pool_acquire(t.pool, -1, &c), -ECONNREFUSED);
    assert_true(clock_mono_ms() - t0 < 1000);
    assert_int_equal(pool_acquire(t.pool, -1, &c), -ECONNREFUSED);
    assert_null(c);

    struct pool_stats st = stats(t.pool);
    assert_int_equal(st.unavailable, 3);
    assert_true(st.connect_failures >= 1);
    assert_true(st.connect_failures <= 2);
    assert_int_equal(st.recycled_broken, 2);
    assert_int_equal(st.size, 0);
    assert_int_equal(st.timeouts, 0);

    assert_int_equal(testpg_cluster_ctl("start"), 0);

    /* Once the back-off window has passed the pool connects again. */
    int64_t deadline = clock_mono_ms() + 15000;
    int rc;
    while ((rc = pool_acquire(t.pool, -1, &c)) != 0) {
        assert_int_equal(rc, -ECONNREFUSED);
        assert_true(clock_mono_ms() < deadline);
        sleep_ms(50);
    }
    assert_echo(c, "back");
    pool_release(t.pool, c);

    struct pool_conn *held[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pool_acquire(t.pool, -1, &held[i]), 0);
        assert_echo(held[i], "after restart");
    }
    for (int i = 0; i < 4; i++)
        pool_release(t.pool, held[i]);
    assert_int_equal(stats(t.pool).in_use, 0);
    tpool_close(&t);
}

static void test_restart_replaces_idle_connections(void **state)
{
    struct tpool t;
    tpool_config(&t, 4);
    tpool_open(&t);

    struct pool_conn *held[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pool_acquire(t.pool, -1, &held[i]), 0);
    for (int i = 0; i < 4; i++)
        pool_release(t.pool, held[i]);
    struct pool_stats before = stats(t.pool);
    assert_int_equal(before.idle, 4);

    /* pg_ctl restart: every idle connection of the pool is now dead. */
    assert_int_equal(testpg_cluster_ctl("stop"), 0);
    assert_int_equal(testpg_cluster_ctl("start"), 0);

    for (int i = 0; i < 4; i++) {
        assert_int_equal(pool_acquire(t.pool, -1, &held[i]), 0);
        assert_int_equal(PQstatus(pool_conn_pg(held[i])), CONNECTION_OK);
        assert_echo(held[i], "fresh");
    }
    for (int i = 0; i < 4; i++)
        pool_release(t.pool, held[i]);

    struct pool_stats after = stats(t.pool);
    assert_int_equal(after.recycled_broken - before.recycled_broken, 4);
    assert_int_equal(after.connects - before.connects, 4);
    assert_int_equal(after.connect_failures, 0);
    tpool_close(&t);
}

static void test_killed_backends_are_replaced(void **state)
{
    PGconn *adm = admin();
    wait_backends(adm, 0);

    struct tpool t;
    tpool_config(&t, 4);
    tpool_open(&t);

    struct pool_conn *held[4];
    int pids[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pool_acquire(t.pool, -1, &held[i]), 0);
        pids[i] = PQbackendPID(pool_conn_pg(held[i]));
    }
    for (int i = 0; i < 4; i++)
        pool_release(t.pool, held[i]);
    struct pool_stats before = stats(t.pool);

    assert_int_equal(terminate_tgdesk(adm), 4);
    wait_backends(adm, 0);

    /* Right away, well within the pre-ping idle second. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pool_acquire(t.pool, -1, &held[i]), 0);
        int pid = PQbackendPID(pool_conn_pg(held[i]));
        for (int j = 0; j < 4; j++)
            assert_int_not_equal(pid, pids[j]);
        /* Prepared statements were prepared again on the new connection. */
        assert_echo(held[i], "re-prepared");
    }
    for (int i = 0; i < 4; i++)
        pool_release(t.pool, held[i]);
    struct pool_stats after = stats(t.pool);
    assert_int_equal(after.recycled_broken - before.recycled_broken, 4);
    assert_int_equal(after.connects - before.connects, 4);

    /* Killed while checked out: the failing statement marks it broken. */
    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(pool_conn_pg(c)));
    char *v = testpg_value(adm, sql);
    assert_string_equal(v, "t");
    free(v);
    wait_backends(adm, 3);
    PGresult *r = pool_exec(c, "one", 0, NULL);
    assert_true(PQresultStatus(r) != PGRES_TUPLES_OK);
    PQclear(r);
    pool_release(t.pool, c);
    assert_int_equal(stats(t.pool).recycled_broken - after.recycled_broken, 1);

    struct pool_conn *all[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pool_acquire(t.pool, -1, &all[i]), 0);
        assert_echo(all[i], "still fine");
    }
    for (int i = 0; i < 4; i++)
        pool_release(t.pool, all[i]);
    assert_int_equal(query_stat(t.pool, "one").errors, 1);

    tpool_close(&t);
    PQfinish(adm);
}

/* ---- recycle and idle timeout ---- */

static void test_recycle_after_lifetime(void **state)
{
    struct tpool t;
    tpool_config(&t, 4);
    t.opt.min = 1;
    t.opt.recycle_ms = 200;
    tpool_open(&t);
    /* DB_POOL_MIN is opened in the background. */
    wait_size(t.pool, 1);

    struct pool_conn *held[3];
    int pids[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pool_acquire(t.pool, -1, &held[i]), 0);
        pids[i] = PQbackendPID(pool_conn_pg(held[i]));
    }
    for (int i = 0; i < 3; i++)
        pool_release(t.pool, held[i]);

    /* Whether at check-in, at checkout or here, all three go for age. */
    sleep_ms(350);
    pool_maintain(t.pool);
    wait_size(t.pool, 1);
    struct pool_stats st = stats(t.pool);
    assert_true(st.recycled_lifetime >= 3);
    assert_int_equal(st.recycled_idle, 0);
    assert_int_equal(st.recycled_broken, 0);

    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    int pid = PQbackendPID(pool_conn_pg(c));
    for (int i = 0; i < 3; i++)
        assert_int_not_equal(pid, pids[i]);
    assert_echo(c, "young");
    pool_release(t.pool, c);
    tpool_close(&t);
}

static void test_idle_timeout_down_to_min(void **state)
{
    struct tpool t;
    tpool_config(&t, 4);
    t.opt.min = 1;
    t.opt.idle_timeout_ms = 200;
    tpool_open(&t);

    struct pool_conn *held[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pool_acquire(t.pool, -1, &held[i]), 0);
    for (int i = 0; i < 3; i++)
        pool_release(t.pool, held[i]);
    assert_int_equal(stats(t.pool).size, 3);

    sleep_ms(350);
    pool_maintain(t.pool);
    wait_size(t.pool, 1);
    struct pool_stats st = stats(t.pool);
    assert_int_equal(st.recycled_idle, 2);
    assert_int_equal(st.recycled_lifetime, 0);
    assert_int_equal(st.idle, 1);

    /* And the minimum is kept however long it stays idle. */
    sleep_ms(300);
    pool_maintain(t.pool);
    assert_int_equal(stats(t.pool).size, 1);
    assert_int_equal(stats(t.pool).recycled_idle, 2);

    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_echo(c, "kept");
    pool_release(t.pool, c);
    tpool_close(&t);
}

/* ---- dirty check-in ---- */

static void exec_ok(struct pool_conn *c, const char *sql)
{
    PGresult *r = pool_exec_sql(c, "test", sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static void assert_clean(struct pool_conn *c, const char *table)
{
    PGconn *pg = pool_conn_pg(c);
    assert_int_equal(PQtransactionStatus(pg), PQTRANS_IDLE);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT to_regclass('pg_temp.%s') IS NULL", table);
    PGresult *r = pool_exec_sql(c, "test", sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
}

static void test_dirty_checkin_is_cleaned(void **state)
{
    struct tpool t;
    tpool_config(&t, 1);
    tpool_open(&t);

    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    int pid = PQbackendPID(pool_conn_pg(c));

    /* Returned inside an open transaction. */
    exec_ok(c, "BEGIN");
    exec_ok(c, "CREATE TEMP TABLE t_open (x int)");
    exec_ok(c, "INSERT INTO t_open VALUES (1)");
    assert_int_equal(PQtransactionStatus(pool_conn_pg(c)), PQTRANS_INTRANS);
    pool_release(t.pool, c);
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_int_equal(PQbackendPID(pool_conn_pg(c)), pid);
    assert_clean(c, "t_open");

    /* Returned inside a failed transaction. */
    exec_ok(c, "BEGIN");
    exec_ok(c, "CREATE TEMP TABLE t_failed (x int)");
    PGresult *r = pool_exec_sql(c, "test", "SELECT 1/0");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22012");
    PQclear(r);
    assert_int_equal(PQtransactionStatus(pool_conn_pg(c)), PQTRANS_INERROR);
    pool_release(t.pool, c);
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_int_equal(PQbackendPID(pool_conn_pg(c)), pid);
    assert_clean(c, "t_failed");

    /* Returned with a statement still running: cancelled, not waited for. */
    assert_int_equal(PQsendQuery(pool_conn_pg(c), "SELECT pg_sleep(5)"), 1);
    int64_t t0 = clock_mono_ms();
    pool_release(t.pool, c);
    /* (a cancel needs a fresh backend for the request: slow on a loaded machine) */
    assert_true(clock_mono_ms() - t0 < 4500);
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_int_equal(PQbackendPID(pool_conn_pg(c)), pid);
    assert_echo(c, "after cancel");

    /* Returned with results unread. */
    assert_int_equal(PQsendQuery(pool_conn_pg(c), "BEGIN; SELECT 1"), 1);
    pool_release(t.pool, c);
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_int_equal(PQtransactionStatus(pool_conn_pg(c)), PQTRANS_IDLE);
    assert_echo(c, "after drain");

    struct pool_stats st = stats(t.pool);
    assert_int_equal(st.recycled_dirty, 0);
    assert_int_equal(st.connects, 1);

    /* In the middle of a COPY: cannot be cleaned cheaply, so it is closed. */
    r = pool_exec_sql(c, "test", "COPY (SELECT 1) TO STDOUT");
    assert_int_equal(PQresultStatus(r), PGRES_COPY_OUT);
    PQclear(r);
    pool_release(t.pool, c);
    st = stats(t.pool);
    assert_int_equal(st.recycled_dirty, 1);
    assert_int_equal(st.size, 0);
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_int_not_equal(PQbackendPID(pool_conn_pg(c)), pid);
    assert_echo(c, "new");
    pool_release(t.pool, c);
    tpool_close(&t);
}

/* ---- statement timeout, labels ---- */

static void test_statement_timeout(void **state)
{
    struct tpool t;
    tpool_config(&t, 2);
    t.conn.statement_timeout_ms = 200;
    tpool_open(&t);

    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    const char *params[] = {"2"};
    int64_t t0 = clock_mono_ms();
    PGresult *r = pool_exec(c, "sleep", 1, params);
    int64_t took = clock_mono_ms() - t0;
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57014");
    assert_non_null(strstr(PQresultErrorMessage(r), "statement timeout"));
    PQclear(r);
    assert_true(took >= 150);
    assert_true(took < 1500);
    pool_release(t.pool, c);

    /* The connection survives and is reused. */
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_echo(c, "alive");
    r = pool_exec_sql(c, "custom_label", "SELECT 2");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    /* An unknown statement name is refused without reaching the server. */
    assert_null(pool_exec(c, "no_such_statement", 0, NULL));
    pool_release(t.pool, c);

    struct pool_stats st = stats(t.pool);
    assert_int_equal(st.size, 1);
    assert_int_equal(st.connects, 1);
    struct pool_query_stat q = query_stat(t.pool, "sleep");
    assert_int_equal(q.errors, 1);
    assert_int_equal(q.duration.count, 1);
    assert_true(q.duration.sum_seconds >= 0.15);
    q = query_stat(t.pool, "custom_label");
    assert_int_equal(q.duration.count, 1);
    assert_int_equal(q.errors, 0);
    tpool_close(&t);
}

/*
 * pool_begin() sends BEGIN with the next statement, in one round trip: what
 * that statement and the next ones do is undone by a ROLLBACK, and the
 * "begin" label counts one BEGIN per transaction.
 */
static void test_begin_with_next_statement(void **state)
{
    struct tpool t;
    tpool_config(&t, 1);
    tpool_open(&t);
    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);

    pool_begin(c);
    assert_int_equal(PQtransactionStatus(pool_conn_pg(c)), PQTRANS_IDLE); /* nothing sent yet */
    PGresult *r = pool_exec_sql(c, "create", "CREATE TEMP TABLE begun (a int)");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    assert_int_equal(PQtransactionStatus(pool_conn_pg(c)), PQTRANS_INTRANS);
    r = pool_exec_sql(c, "rollback", "ROLLBACK");
    PQclear(r);
    r = pool_exec_sql(c, "probe", "SELECT to_regclass('pg_temp.begun') IS NULL");
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    PQclear(r);

    /* With steps: BEGIN goes first, the results are the steps' own. */
    pool_begin(c);
    const struct pool_step steps[2] = {{.name = "create", .sql = "CREATE TEMP TABLE begun (a int)"},
                                       {.name = "probe", .sql = "SELECT 7"}};
    PGresult *res[2];
    assert_int_equal(pool_exec_steps(c, steps, 2, res), 0);
    assert_int_equal(PQresultStatus(res[0]), PGRES_COMMAND_OK);
    assert_string_equal(PQgetvalue(res[1], 0, 0), "7");
    PQclear(res[0]);
    PQclear(res[1]);
    assert_int_equal(PQtransactionStatus(pool_conn_pg(c)), PQTRANS_INTRANS);
    PQclear(pool_exec_sql(c, "rollback", "ROLLBACK"));

    /* A pending BEGIN is forgotten when the connection goes back unused. */
    pool_begin(c);
    pool_release(t.pool, c);
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    PQclear(pool_exec_sql(c, "probe", "SELECT 1"));
    assert_int_equal(PQtransactionStatus(pool_conn_pg(c)), PQTRANS_IDLE);
    pool_release(t.pool, c);

    assert_int_equal(query_stat(t.pool, "begin").duration.count, 2);
    tpool_close(&t);
}

/* ---- logging ---- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_lines_with(const char *text, const char *needle, const char **ret_line)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++) {
        const char *start = p;
        while (start > text && start[-1] != '\n')
            start--;
        if (ret_line)
            *ret_line = start;
        n++;
    }
    return n;
}

static void test_slow_query_logged_without_parameters(void **state)
{
    char path[] = "/tmp/tgdesk_pool_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    log_init(LOG_DEBUG, LOG_FORMAT_JSON, fd);

    struct tpool t;
    tpool_config(&t, 1);
    t.opt.slow_query_ms = 50;
    tpool_open(&t);
    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    const char *params[] = {"0.10000042"};
    PGresult *r = pool_exec(c, "sleep", 1, params);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    assert_echo(c, "fast-and-secret-4242");
    pool_release(t.pool, c);
    tpool_close(&t);

    log_init(LOG_WARN, LOG_FORMAT_JSON, 2);
    close(fd);
    char *text = read_file(path);
    unlink(path);

    const char *line = NULL;
    assert_int_equal(count_lines_with(text, "\"slow query\"", &line), 1);
    const char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    char *slow = strndup(line, len);
    assert_non_null(strstr(slow, "\"level\":\"warn\""));
    assert_non_null(strstr(slow, "\"query\":\"sleep\""));
    assert_non_null(strstr(slow, "\"duration_ms\":"));
    free(slow);
    /* Never the parameters, not even at debug level. */
    assert_null(strstr(text, "0.10000042"));
    assert_null(strstr(text, "fast-and-secret-4242"));
    /* Debug lines on checkout and checkin. */
    assert_int_equal(count_lines_with(text, "\"db checkout\"", NULL), 1);
    assert_int_equal(count_lines_with(text, "\"db checkin\"", NULL), 1);
    free(text);
}

/* ---- client encoding ---- */

/*
 * Every connection speaks UTF-8, whatever PGCLIENTENCODING or DATABASE_URL
 * say: multi-byte text goes in and comes out byte for byte.
 */
static void test_client_encoding_is_utf8(void **state)
{
    const char *text = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xd0\x9f\xd1\x80\xd0\xb8 "
                       "\xf0\x9f\x94\xa5 caf\xc3\xa9";
    char url[512];
    snprintf(url, sizeof(url), "%s client_encoding=LATIN1", testpg_cluster.conninfo);
    const char *const urls[] = {testpg_cluster.conninfo, url};
    assert_int_equal(setenv("PGCLIENTENCODING", "SJIS", 1), 0);
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct tpool t;
        tpool_config(&t, 1);
        t.conn.database_url = urls[i];
        tpool_open(&t);
        struct pool_conn *c;
        assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
        assert_string_equal(PQparameterStatus(pool_conn_pg(c), "client_encoding"), "UTF8");
        PGresult *r = pool_exec_sql(c, "test", "SHOW client_encoding");
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(r, 0, 0), "UTF8");
        PQclear(r);
        exec_ok(c, "CREATE TEMP TABLE t_text (body text)");
        r = PQexecParams(pool_conn_pg(c), "INSERT INTO t_text VALUES ($1)", 1, NULL,
                         (const char *const[]){text}, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);
        r = pool_exec_sql(c, "test", "SELECT body, length(body), octet_length(body) FROM t_text");
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(r, 0, 0), text);
        assert_string_equal(PQgetvalue(r, 0, 1), "14");
        assert_int_equal(strtol(PQgetvalue(r, 0, 2), NULL, 10), (long)strlen(text));
        PQclear(r);
        exec_ok(c, "DROP TABLE t_text");
        pool_release(t.pool, c);
        tpool_close(&t);
    }
    unsetenv("PGCLIENTENCODING");
}

/* ---- deadlines: a backend stopped with SIGSTOP plays a hung server ---- */

static volatile pid_t g_stopped_pid;

static void freeze(pid_t pid)
{
    g_stopped_pid = pid;
    assert_int_equal(kill(pid, SIGSTOP), 0);
}

static void thaw(void)
{
    if (g_stopped_pid > 0)
        kill(g_stopped_pid, SIGCONT);
    g_stopped_pid = 0;
}

/* A statement the server never answers ends at the client's deadline. */
static void test_deadline_drops_connection_of_hung_server(void **state)
{
    struct tpool t;
    tpool_config(&t, 3);
    t.conn.statement_timeout_ms = 200;
    t.opt.deadline_ms = 700;
    tpool_open(&t);

    struct pool_conn *c, *idle;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_int_equal(pool_acquire(t.pool, -1, &idle), 0);
    pool_release(t.pool, idle);
    int pid = PQbackendPID(pool_conn_pg(c));
    freeze(pid);
    int64_t t0 = clock_mono_ms();
    PGresult *r = pool_exec(c, "one", 0, NULL);
    int64_t took = clock_mono_ms() - t0;
    assert_null(r);
    assert_true(took >= 650);
    assert_true(took < 3000);
    /* Every later call on it fails at once. */
    t0 = clock_mono_ms();
    assert_null(pool_exec_sql(c, "test", "SELECT 1"));
    assert_true(clock_mono_ms() - t0 < 100);
    pool_release(t.pool, c);
    thaw();

    struct pool_stats st = stats(t.pool);
    assert_int_equal(st.deadlines, 1);
    /* The idle connection went with it (same server), and nothing is open. */
    assert_int_equal(st.size, 0);
    assert_int_equal(st.recycled_broken, 2);

    /* The server is back: a fresh connection, after the short back-off. */
    sleep_ms(300);
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_int_not_equal(PQbackendPID(pool_conn_pg(c)), pid);
    assert_echo(c, "after the hang");
    pool_release(t.pool, c);
    tpool_close(&t);
}

/* A bounded checkout ends its calls by its own deadline, without marking the server down. */
static void test_acquire_bounded(void **state)
{
    struct tpool t;
    tpool_config(&t, 2);
    tpool_open(&t);

    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    int pid = PQbackendPID(pool_conn_pg(c));
    pool_release(t.pool, c);
    freeze(pid);
    int64_t t0 = clock_mono_ms();
    assert_int_equal(pool_acquire_bounded(t.pool, 400, &c), 0);
    assert_int_equal(PQbackendPID(pool_conn_pg(c)), pid);
    assert_null(pool_exec_sql(c, "probe", "SELECT 1"));
    int64_t took = clock_mono_ms() - t0;
    pool_release(t.pool, c);
    thaw();
    assert_true(took >= 350);
    assert_true(took < 2000);

    /* Not taken for a server that stopped answering: the next checkout connects at once. */
    assert_int_equal(pool_acquire(t.pool, 0, &c), 0);
    assert_echo(c, "unbounded");
    pool_release(t.pool, c);
    assert_int_equal(stats(t.pool).unavailable, 0);
    tpool_close(&t);
}

/* pool_stop_by() ends a wait that would last the whole deadline, and later checkouts. */
static void test_stop_by_ends_waits(void **state)
{
    struct tpool t;
    tpool_config(&t, 2);
    t.conn.statement_timeout_ms = 0;
    t.opt.deadline_ms = 60000;
    tpool_open(&t);

    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    freeze(PQbackendPID(pool_conn_pg(c)));
    pool_stop_by(t.pool, 300);
    int64_t t0 = clock_mono_ms();
    assert_null(pool_exec(c, "one", 0, NULL));
    int64_t took = clock_mono_ms() - t0;
    pool_release(t.pool, c);
    thaw();
    assert_true(took >= 250);
    assert_true(took < 2000);
    assert_int_equal(pool_acquire(t.pool, -1, &c), -ESHUTDOWN);
    tpool_close(&t);
}

/* A connect the server never completes ends at the connect deadline. */
static void test_connect_deadline(void **state)
{
    struct tpool t;
    tpool_config(&t, 1);
    t.opt.connect_timeout_ms = 500;
    tpool_open(&t);

    int pm = testpg_postmaster_pid();
    assert_true(pm > 0);
    freeze(pm);
    struct pool_conn *c;
    int64_t t0 = clock_mono_ms();
    int rc = pool_acquire(t.pool, -1, &c);
    int64_t took = clock_mono_ms() - t0;
    thaw();
    assert_int_equal(rc, -ECONNREFUSED);
    assert_true(took >= 450);
    assert_true(took < 2500);
    sleep_ms(300);
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_echo(c, "connected");
    pool_release(t.pool, c);
    tpool_close(&t);
}

/* ---- a server that completes the start-up, then never answers ---- */

struct mute_server {
    int fd;
    int port;
    atomic_bool stop;
    pthread_t thread;
};

static bool send_all(int fd, const void *buf, size_t n)
{
    return send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* One message: type, length, then the body. */
static void put_msg(int fd, char type, const void *body, uint32_t n)
{
    char buf[128];
    buf[0] = type;
    uint32_t len = htonl(n + 4);
    memcpy(buf + 1, &len, 4);
    memcpy(buf + 5, body, n);
    send_all(fd, buf, n + 5);
}

static void put_param(int fd, const char *name, const char *value)
{
    char body[96];
    size_t a = strlen(name) + 1, b = strlen(value) + 1;
    memcpy(body, name, a);
    memcpy(body + a, value, b);
    put_msg(fd, 'S', body, (uint32_t)(a + b));
}

/* Answers a start-up packet (SSL and GSS requests: no); true once started. */
static bool mute_startup(int fd)
{
    unsigned char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 8)
        return false;
    uint32_t code;
    memcpy(&code, buf + 4, 4);
    code = ntohl(code);
    if (code == 80877103 || code == 80877104) {
        send_all(fd, "N", 1);
        return false;
    }
    uint32_t zero = 0, key[2] = {htonl(4242), htonl(1)};
    put_msg(fd, 'R', &zero, 4);
    put_param(fd, "server_version", "16.0");
    put_param(fd, "server_encoding", "UTF8");
    put_param(fd, "client_encoding", "UTF8");
    put_param(fd, "standard_conforming_strings", "on");
    put_param(fd, "integer_datetimes", "on");
    put_param(fd, "DateStyle", "ISO, MDY");
    put_msg(fd, 'K', key, 8);
    put_msg(fd, 'Z', "I", 1);
    return true;
}

/* Accepts connections, starts them up, then reads and ignores what they send. */
static void *mute_main(void *arg)
{
    struct mute_server *m = arg;
    struct pollfd fds[17] = {{.fd = m->fd, .events = POLLIN}};
    bool started[17] = {false};
    int n = 1;
    while (!atomic_load(&m->stop)) {
        if (poll(fds, (nfds_t)n, 50) <= 0)
            continue;
        if ((fds[0].revents & POLLIN) && n < 17) {
            int cfd = accept(m->fd, NULL, NULL);
            if (cfd >= 0) {
                fds[n] = (struct pollfd){.fd = cfd, .events = POLLIN};
                started[n++] = false;
            }
        }
        for (int i = 1; i < n; i++) {
            if (!fds[i].revents)
                continue;
            char buf[4096];
            if (!started[i]) {
                started[i] = mute_startup(fds[i].fd);
                if (started[i] || recv(fds[i].fd, buf, 0, MSG_DONTWAIT) == 0)
                    continue;
            }
            if (started[i] && recv(fds[i].fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                continue;
            if (!started[i] && fds[i].revents == POLLIN)
                continue;
            close(fds[i].fd);
            fds[i] = fds[--n];
            started[i] = started[n];
            i--;
        }
    }
    for (int i = 0; i < n; i++)
        close(fds[i].fd);
    return NULL;
}

static void mute_start(struct mute_server *m)
{
    m->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(m->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(m->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(m->fd, 16), 0);
    assert_int_equal(getsockname(m->fd, (struct sockaddr *)&a, &len), 0);
    m->port = ntohs(a.sin_port);
    atomic_store(&m->stop, false);
    assert_int_equal(pthread_create(&m->thread, NULL, mute_main, m), 0);
}

static void mute_stop(struct mute_server *m)
{
    atomic_store(&m->stop, true);
    pthread_join(m->thread, NULL);
}

/* A pool of the tests' statements on the mute server. */
static void tpool_mute(struct tpool *t, struct mute_server *m, char *url, size_t cap, int max)
{
    tpool_config(t, max);
    snprintf(url, cap, "host=127.0.0.1 port=%d user=u dbname=d sslmode=disable gssencmode=disable",
             m->port);
    t->conn.database_url = url;
}

/* Preparing the statements is part of the connect: it gets DB_CONNECT_TIMEOUT,
 * not a statement's deadline, and a failure backs off once. */
static void test_prepare_on_connect_deadline(void **state)
{
    struct mute_server m;
    mute_start(&m);
    struct tpool t;
    char url[256];
    tpool_mute(&t, &m, url, sizeof(url), 1);
    t.opt.deadline_ms = 300;
    t.opt.connect_timeout_ms = 1500;
    tpool_open(&t);

    struct pool_conn *c;
    int64_t t0 = clock_mono_ms();
    assert_int_equal(pool_acquire(t.pool, -1, &c), -ECONNREFUSED);
    int64_t took = clock_mono_ms() - t0;
    assert_true(took >= 1400);
    assert_true(took < 5000);
    struct pool_stats st = stats(t.pool);
    assert_int_equal(st.connect_failures, 1);
    assert_int_equal(st.deadlines, 1);
    /* One failure: the first back-off (250 ms) only. A checkout after it
     * connects again (and is cut short by its own deadline) rather than
     * failing fast. */
    sleep_ms(400);
    assert_int_equal(pool_acquire_bounded(t.pool, 100, &c), -ETIMEDOUT);
    tpool_close(&t);
    mute_stop(&m);
}

/* A checkout on a thread of its own: bounded_ms > 0 for pool_acquire_bounded. */
struct checkout {
    struct pool *pool;
    int64_t bounded_ms;
    int rc;
    int64_t took_ms;
    atomic_bool done;
    pthread_t thread;
};

static void *checkout_main(void *arg)
{
    struct checkout *k = arg;
    struct pool_conn *c = NULL;
    int64_t t0 = clock_mono_ms();
    k->rc = k->bounded_ms > 0 ? pool_acquire_bounded(k->pool, k->bounded_ms, &c)
                              : pool_acquire(k->pool, 20000, &c);
    k->took_ms = clock_mono_ms() - t0;
    if (k->rc == 0)
        pool_release(k->pool, c);
    atomic_store(&k->done, true);
    return NULL;
}

static void checkout_start(struct checkout *k, struct pool *p, int64_t bounded_ms)
{
    *k = (struct checkout){.pool = p, .bounded_ms = bounded_ms};
    assert_int_equal(pthread_create(&k->thread, NULL, checkout_main, k), 0);
}

/* A bounded checkout cut short while preparing says nothing about the
 * server: it is not marked down and the queued caller keeps its turn; the
 * stop's deadline ends such a connect with -ESHUTDOWN. */
static void test_bounded_prepare_cut_short(void **state)
{
    struct mute_server m;
    mute_start(&m);
    struct tpool t;
    char url[256];
    tpool_mute(&t, &m, url, sizeof(url), 1);
    t.opt.connect_timeout_ms = 10000;
    tpool_open(&t);

    struct checkout probe, queued;
    checkout_start(&probe, t.pool, 600);
    sleep_ms(150);
    checkout_start(&queued, t.pool, 0);
    pthread_join(probe.thread, NULL);
    assert_int_equal(probe.rc, -ETIMEDOUT);
    assert_true(probe.took_ms >= 550);
    assert_true(probe.took_ms < 3000);
    sleep_ms(300);
    assert_false(atomic_load(&queued.done));
    struct pool_stats st = stats(t.pool);
    assert_int_equal(st.unavailable, 0);
    assert_int_equal(st.connect_failures, 0);

    pool_stop_by(t.pool, 200);
    pthread_join(queued.thread, NULL);
    assert_int_equal(queued.rc, -ESHUTDOWN);
    assert_int_equal(stats(t.pool).connect_failures, 0);
    tpool_close(&t);
    mute_stop(&m);
}

/* A password of the longest length, line end included, is read whole. */
static void test_password_longest(void **state)
{
    char path[] = "/tmp/tgdesk-pwXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char pw[DB_PASSWORD_MAX + 2], buf[DB_PASSWORD_MAX];
    const char *ends[] = {"\n", "\r\n", ""};
    for (size_t len = DB_PASSWORD_MAX - 1; len <= DB_PASSWORD_MAX; len++) {
        for (size_t e = 0; e < sizeof(ends) / sizeof(ends[0]); e++) {
            memset(pw, 'p', len);
            pw[len] = '\0';
            FILE *f = fopen(path, "w");
            assert_non_null(f);
            fprintf(f, "%s%s", pw, ends[e]);
            fclose(f);
            int rc = db_password_read(path, buf, sizeof(buf));
            if (len < DB_PASSWORD_MAX) {
                assert_int_equal(rc, 0);
                assert_int_equal(strlen(buf), len);
            } else {
                assert_int_equal(rc, -E2BIG);
            }
        }
    }
    unlink(path);
}

/* Unnamed statements: the same results, nothing prepared on the server. */
static void test_unnamed_statements(void **state)
{
    struct tpool t;
    tpool_config(&t, 1);
    t.opt.unnamed = true;
    tpool_open(&t);

    struct pool_conn *c;
    assert_int_equal(pool_acquire(t.pool, -1, &c), 0);
    assert_echo(c, "unnamed");
    PGresult *res[2];
    const char *v[] = {"two"};
    struct pool_step steps[] = {{.name = "one"}, {.name = "echo", .nparams = 1, .values = v}};
    pool_begin(c);
    assert_int_equal(pool_exec_steps(c, steps, 2, res), 0);
    assert_string_equal(PQgetvalue(res[0], 0, 0), "1");
    assert_string_equal(PQgetvalue(res[1], 0, 0), "two");
    PQclear(res[0]);
    PQclear(res[1]);
    PGresult *r = pool_exec_sql(c, "count", "SELECT count(*) FROM pg_prepared_statements");
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    pool_release(t.pool, c);
    tpool_close(&t);
}

int main(void)
{
    const char *root = getenv("TGDESK_SOURCE_ROOT");
    if (!root || !*root) {
        fprintf(stderr, "TGDESK_SOURCE_ROOT is not set: skipping\n");
        return 77;
    }
    log_init(LOG_WARN, LOG_FORMAT_JSON, 2);
    testpg_cluster_start("pool", thaw);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_many_threads_never_exceed_max, server_up),
        cmocka_unit_test_setup(test_exhausted_pool_times_out, server_up),
        cmocka_unit_test_setup(test_server_stopped_fails_fast_then_recovers, server_up),
        cmocka_unit_test_setup(test_restart_replaces_idle_connections, server_up),
        cmocka_unit_test_setup(test_killed_backends_are_replaced, server_up),
        cmocka_unit_test_setup(test_recycle_after_lifetime, server_up),
        cmocka_unit_test_setup(test_idle_timeout_down_to_min, server_up),
        cmocka_unit_test_setup(test_dirty_checkin_is_cleaned, server_up),
        cmocka_unit_test_setup(test_statement_timeout, server_up),
        cmocka_unit_test_setup(test_begin_with_next_statement, server_up),
        cmocka_unit_test_setup(test_slow_query_logged_without_parameters, server_up),
        cmocka_unit_test_setup(test_client_encoding_is_utf8, server_up),
        cmocka_unit_test_setup(test_deadline_drops_connection_of_hung_server, server_up),
        cmocka_unit_test_setup(test_acquire_bounded, server_up),
        cmocka_unit_test_setup(test_stop_by_ends_waits, server_up),
        cmocka_unit_test_setup(test_connect_deadline, server_up),
        cmocka_unit_test_setup(test_unnamed_statements, server_up),
        cmocka_unit_test(test_prepare_on_connect_deadline),
        cmocka_unit_test(test_bounded_prepare_cut_short),
        cmocka_unit_test(test_password_longest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
