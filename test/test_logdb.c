/*
 * The logs-table writer (internal/logdb.c) against a real PostgreSQL: events
 * from the log sink land in `logs` with level, message and context, never as
 * audit rows; at LOG_OFF nothing does; retention deletes old rows in batches;
 * a full buffer drops and counts without ever blocking the caller; stop
 * writes what is buffered.
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/conn.h"
#include "db/migrate.h"
#include "db/pool.h"
#include "log.h"
#include "logdb.h"
#include "testpg.h"
#include "util/clock.h"

struct fixture {
    char *conninfo;
    PGconn *admin;
    struct db_params *params;
    struct pool *pool;
};

static void open_pool(struct fixture *f, const char *conninfo)
{
    struct db_conn_options conn = {
        .database_url = conninfo,
        .connect_timeout_s = 2,
        .statement_timeout_ms = 5000,
    };
    struct pool_options opt = {
        .max = 4,
        .timeout_ms = 2000,
        .pre_ping = true,
        .slow_query_ms = 1000,
    };
    f->params = db_params_new(&conn);
    assert_non_null(f->params);
    f->pool = pool_new(&opt, f->params, logdb_statements, logdb_statements_count);
    assert_non_null(f->pool);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->conninfo = testpg_create_db();
    f->admin = testpg_connect(f->conninfo);
    assert_true(migrate_up(f->admin, migrations_builtin, migrations_builtin_count, 0, NULL) >= 0);
    open_pool(f, f->conninfo);
    /* Printed lines only from warn up: the sink level is what these tests set. */
    log_init(LOG_ERROR, LOG_FORMAT_JSON, 2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    log_set_sink(LOG_OFF, NULL, NULL);
    pool_free(f->pool);
    db_params_free(f->params);
    PQfinish(f->admin);
    testpg_drop_db(f->conninfo);
    free(f->conninfo);
    free(f);
    return 0;
}

static int64_t count(PGconn *c, const char *sql)
{
    char *v = testpg_value(c, sql);
    assert_non_null(v);
    int64_t n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

/* Inserts n rows with this message, days_ago old, straight into the table. */
static void add_old_rows(PGconn *c, int days_ago, const char *message, int n)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO logs (timestamp, level, message)"
             " SELECT now() - make_interval(days => %d), 'warn', '%s' FROM generate_series(1, %d)",
             days_ago, message, n);
    assert_string_equal(testpg_exec(c, sql), "");
}

static void test_rows_land(void **state)
{
    struct fixture *f = *state;
    struct logdb_options opt = {.min_level = LOG_WARN, .retention_days = 30};
    struct logdb *l = logdb_start(f->pool, &opt);
    assert_non_null(l);

    LOG(LOG_INFO, "below the level: not stored", LOG_INT("n", 1));
    LOG(LOG_WARN, "slow query", LOG_STR("query", "desk_take"), LOG_INT("ms", 250));
    LOG(LOG_ERROR, "quote \" backslash \\ brace { comma , Ünïcode", LOG_STR("text", "a\"b\\c{d,e}"),
        LOG_INT("request_id", 42));
    assert_int_equal(logdb_flush(l, 5000), 0);

    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs"), 2);
    char *v = testpg_value(f->admin, "SELECT level || '|' || (context->>'query') || '|' ||"
                                     " (context->>'ms') || '|' || audit FROM logs"
                                     " WHERE message = 'slow query'");
    assert_non_null(v);
    assert_string_equal(v, "warn|desk_take|250|false");
    free(v);
    v = testpg_value(f->admin, "SELECT message || '|' || (context->>'text') || '|' ||"
                               " (context->>'request_id') FROM logs WHERE level = 'error'");
    assert_non_null(v);
    assert_string_equal(v, "quote \" backslash \\ brace { comma , Ünïcode|a\"b\\c{d,e}|42");
    free(v);
    /* Audit rows are the desk's own: none of the writer's rows is one. */
    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs WHERE audit"), 0);
    /* The event's own time, not the insert's. */
    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs"
                                     " WHERE timestamp > now() - interval '1 minute'"),
                     2);

    struct logdb_stats st;
    logdb_stats(l, &st);
    assert_int_equal(st.written, 2);
    assert_int_equal(st.dropped, 0);
    logdb_stop(l, 1000);
}

/* LOG_DB_LEVEL=off: no event reaches the table, not even an error; retention still runs. */
static void test_level_off(void **state)
{
    struct fixture *f = *state;
    add_old_rows(f->admin, 40, "old", 5);
    struct logdb_options opt = {.min_level = LOG_OFF, .retention_days = 30};
    struct logdb *l = logdb_start(f->pool, &opt);
    assert_non_null(l);

    /* The fd is at error: without a sink, LOG() builds nothing below it. */
    assert_false(log_enabled(LOG_WARN));
    LOG(LOG_WARN, "not stored", LOG_INT("n", 1));
    log_emit(LOG_ERROR, "not stored either", NULL, 0);
    assert_int_equal(logdb_flush(l, 5000), 0);
    assert_int_equal(logdb_retention_run(l), 5);
    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs"), 0);

    struct logdb_stats st;
    logdb_stats(l, &st);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.deleted, 5);
    logdb_stop(l, 1000);
}

static void test_batches_and_stop_flush(void **state)
{
    struct fixture *f = *state;
    struct logdb_options opt = {
        .min_level = LOG_WARN, .no_sink = true, .batch_rows = 50, .flush_ms = 10000};
    struct logdb *l = logdb_start(f->pool, &opt);
    char msg[32];
    for (int i = 0; i < 1234; i++) {
        snprintf(msg, sizeof(msg), "event %d", i);
        logdb_push(l, LOG_WARN, msg, "{\"i\":1}");
    }
    /* No flush: full batches go without waiting for the interval; stop writes the rest. */
    logdb_stop(l, 5000);
    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs"), 1234);
    assert_int_equal(count(f->admin, "SELECT count(DISTINCT message) FROM logs"), 1234);
}

static void test_bad_row_dropped_alone(void **state)
{
    struct fixture *f = *state;
    struct logdb_options opt = {.min_level = LOG_WARN, .no_sink = true};
    struct logdb *l = logdb_start(f->pool, &opt);
    logdb_push(l, LOG_WARN, "good 1", "{}");
    logdb_push(l, LOG_WARN, "bad context", "{not json");
    logdb_push(l, LOG_WARN, "good 2", "{\"request_id\":1}");
    assert_int_equal(logdb_flush(l, 5000), 0);
    struct logdb_stats st;
    logdb_stats(l, &st);
    assert_int_equal(st.written, 2);
    assert_int_equal(st.dropped, 1);
    logdb_stop(l, 1000);
    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs WHERE message LIKE 'good%'"), 2);
}

static void test_retention(void **state)
{
    struct fixture *f = *state;
    add_old_rows(f->admin, 40, "old", 25);
    add_old_rows(f->admin, 29, "recent", 3);
    struct logdb_options opt = {
        .min_level = LOG_WARN, .no_sink = true, .retention_days = 30, .retention_batch = 10};
    struct logdb *l = logdb_start(f->pool, &opt);
    assert_int_equal(logdb_retention_run(l), 25);
    assert_int_equal(logdb_retention_run(l), 0);
    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs WHERE message = 'old'"), 0);
    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs WHERE message = 'recent'"), 3);
    struct logdb_stats st;
    logdb_stats(l, &st);
    assert_int_equal(st.deleted, 25);
    logdb_stop(l, 1000);

    /* 0 days: keep forever. */
    opt.retention_days = 0;
    l = logdb_start(f->pool, &opt);
    assert_int_equal(logdb_retention_run(l), 0);
    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs WHERE message = 'recent'"), 3);
    logdb_stop(l, 1000);
}

/* A database that is not there: everything stays buffered, the buffer fills. */
static void test_full_buffer_drops_and_never_blocks(void **state)
{
    struct fixture *f = *state;
    struct fixture dead = {0};
    open_pool(&dead, "host=127.0.0.1 port=1 dbname=nothing user=nobody");
    struct logdb_options opt = {.min_level = LOG_WARN, .no_sink = true, .capacity = 8};
    struct logdb *l = logdb_start(dead.pool, &opt);

    /* Events take the 8 slots; the rest are dropped. */
    for (int i = 0; i < 10; i++)
        logdb_push(l, LOG_WARN, "event", "{}");
    struct logdb_stats st;
    logdb_stats(l, &st);
    assert_int_equal(st.buffered, 8);
    assert_int_equal(st.dropped, 2);

    /* Never blocks: 200k events into a full buffer take well under a second. */
    int64_t t0 = clock_mono_ms();
    for (int i = 0; i < 200000; i++)
        logdb_push(l, LOG_WARN, "flood", "{}");
    int64_t took = clock_mono_ms() - t0;
    fprintf(stderr, "200000 pushes into a full buffer: %lld ms\n", (long long)took);
    assert_true(took < 2000);
    logdb_stats(l, &st);
    assert_int_equal(st.dropped, 2 + 200000);

    /* Stop with a short deadline: what is left is dropped and counted. */
    int64_t t1 = clock_mono_ms();
    logdb_stop(l, 300);
    assert_true(clock_mono_ms() - t1 < 3000);
    pool_free(dead.pool);
    db_params_free(dead.params);
    (void)f;
}

/* The sink path under many threads: nothing lost while the buffer has room. */
#define SINK_THREADS 8
#define SINK_EVENTS  500

static void *sink_worker(void *arg)
{
    for (int i = 0; i < SINK_EVENTS; i++)
        LOG(LOG_WARN, "threaded", LOG_INT("i", i));
    return NULL;
}

static void test_sink_threads(void **state)
{
    struct fixture *f = *state;
    struct logdb_options opt = {.min_level = LOG_WARN, .capacity = 100000};
    struct logdb *l = logdb_start(f->pool, &opt);
    pthread_t t[SINK_THREADS];
    for (int i = 0; i < SINK_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sink_worker, NULL), 0);
    for (int i = 0; i < SINK_THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(logdb_flush(l, 10000), 0);
    logdb_stop(l, 1000);
    assert_int_equal(count(f->admin, "SELECT count(*) FROM logs WHERE message = 'threaded'"),
                     SINK_THREADS * SINK_EVENTS);
}

int main(void)
{
    testpg_require();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rows_land, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_and_stop_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_row_dropped_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_buffer_drops_and_never_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
