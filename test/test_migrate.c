/*
 * Migrations against a real PostgreSQL: the built-in schema, round trips with
 * data, concurrent runners, changed files, failures half-way.
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
#include <unistd.h>

#include "db/migrate.h"
#include "log.h"
#include "testpg.h"

struct ctx {
    char *conninfo;
    PGconn *conn;
    char logpath[64];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    c->conninfo = testpg_create_db();
    c->conn = testpg_connect(c->conninfo);
    snprintf(c->logpath, sizeof(c->logpath), "/tmp/tgdesk_migrate_log_XXXXXX");
    int fd = mkstemp(c->logpath);
    assert_true(fd >= 0);
    log_init(LOG_INFO, LOG_FORMAT_JSON, fd);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    PQfinish(c->conn);
    testpg_drop_db(c->conninfo);
    free(c->conninfo);
    unlink(c->logpath);
    free(c);
    return 0;
}

/* Everything the log file holds so far. */
static char *log_text(struct ctx *c)
{
    FILE *f = fopen(c->logpath, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int64_t count(PGconn *conn, const char *sql)
{
    char *v = testpg_value(conn, sql);
    assert_non_null(v);
    int64_t n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

static int status_of(PGconn *conn, const struct migration *set, size_t n, char *out, size_t cap)
{
    FILE *f = fmemopen(out, cap, "w");
    int rc = migrate_status(conn, set, n, f);
    fclose(f);
    return rc;
}

static void test_builtin_up_on_empty_database(void **state)
{
    struct ctx *c = *state;
    char out[4096];
    assert_int_equal(
        status_of(c->conn, migrations_builtin, migrations_builtin_count, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "pending"));

    int applied = migrate_up(c->conn, migrations_builtin, migrations_builtin_count, 0, NULL);
    assert_int_equal(applied, (int)migrations_builtin_count);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM schema_migrations WHERE NOT dirty"),
                     (int64_t)migrations_builtin_count);
    for (const char *const *t =
             (const char *const[]){"users", "requests", "messages", "message_edits",
                                   "processed_updates", "outbox", "notifications", "logs",
                                   "bot_state", NULL};
         *t; t++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_tables WHERE tablename = '%s'", *t);
        assert_int_equal(count(c->conn, sql), 1);
    }
    /* Telegram ids are bigint everywhere. */
    assert_int_equal(count(c->conn, "SELECT count(*) FROM information_schema.columns"
                                    " WHERE column_name IN ('user_id', 'sender_id', 'chat_id',"
                                    " 'assigned_admin', 'update_id', 'tg_message_id')"
                                    " AND table_schema = 'public' AND data_type <> 'bigint'"),
                     0);

    assert_int_equal(
        status_of(c->conn, migrations_builtin, migrations_builtin_count, out, sizeof(out)), 0);
    assert_null(strstr(out, "pending"));
    assert_non_null(strstr(out, "0001     core"));
    /* A second run applies nothing. */
    assert_int_equal(migrate_up(c->conn, migrations_builtin, migrations_builtin_count, 0, NULL), 0);
}

static void test_one_active_request_per_user(void **state)
{
    struct ctx *c = *state;
    assert_true(migrate_up(c->conn, migrations_builtin, migrations_builtin_count, 0, NULL) > 0);
    assert_string_equal(testpg_exec(c->conn, "INSERT INTO users (user_id) VALUES (6123456789)"),
                        "");
    assert_string_equal(
        testpg_exec(c->conn, "INSERT INTO requests (user_id, issue) VALUES (6123456789, 'a')"), "");
    /* unique_violation: a second open request for the same user. */
    assert_string_equal(
        testpg_exec(c->conn, "INSERT INTO requests (user_id, issue) VALUES (6123456789, 'b')"),
        "23505");
    assert_string_equal(testpg_exec(c->conn, "INSERT INTO requests (user_id, issue, status,"
                                             " assigned_admin) VALUES (6123456789, 'b',"
                                             " 'assigned', 1)"),
                        "23505");
    /* Once solved, the user may open a new one. */
    assert_string_equal(testpg_exec(c->conn, "UPDATE requests SET status = 'solved'"), "");
    assert_string_equal(
        testpg_exec(c->conn, "INSERT INTO requests (user_id, issue) VALUES (6123456789, 'c')"), "");
    /* Status is checked, and updated_at moves on every change. */
    assert_string_equal(testpg_exec(c->conn, "UPDATE requests SET status = 'lost'"), "23514");
    assert_int_equal(count(c->conn, "SELECT count(*) FROM requests WHERE updated_at > created_at"
                                    " AND status = 'solved'"),
                     1);
}

static void test_down_up_round_trip_keeps_rows(void **state)
{
    struct ctx *c = *state;
    int n = (int)migrations_builtin_count;
    assert_int_equal(migrate_up(c->conn, migrations_builtin, migrations_builtin_count, 0, NULL), n);
    assert_string_equal(testpg_exec(c->conn,
                                    "INSERT INTO users (user_id, username) VALUES"
                                    " (6123456789, 'alice_n');"
                                    "INSERT INTO requests (id, user_id, issue) VALUES"
                                    " (7, 6123456789, 'order A-1042');"
                                    "INSERT INTO messages (request_id, sender_id, sender_type,"
                                    " message, chat_id, tg_message_id) VALUES"
                                    " (7, 6123456789, 'user', 'hi', -1001234567890, 41)"),
                        "");

    assert_int_equal(
        migrate_down(c->conn, migrations_builtin, migrations_builtin_count, n - 1, NULL), n - 1);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM schema_migrations"), 1);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'outbox'"),
                     0);
    assert_int_equal(migrate_up(c->conn, migrations_builtin, migrations_builtin_count, 0, NULL),
                     n - 1);

    char *v = testpg_value(c->conn, "SELECT user_id || ' ' || chat_id || ' ' || message"
                                    " FROM messages JOIN requests r ON r.id = request_id");
    assert_non_null(v);
    assert_string_equal(v, "6123456789 -1001234567890 hi");
    free(v);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM requests WHERE id = 7"), 1);

    /* All the way down and up again. */
    assert_int_equal(migrate_down(c->conn, migrations_builtin, migrations_builtin_count, n, NULL),
                     n);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                                    " AND tablename <> 'schema_migrations'"),
                     0);
    assert_int_equal(migrate_up(c->conn, migrations_builtin, migrations_builtin_count, 0, NULL), n);
}

static const struct migration set_a[] = {
    {.version = 1,
     .name = "first",
     .up_sql = "CREATE TABLE t1 (x int)",
     .down_sql = "DROP TABLE t1",
     .checksum = "aaaa"},
    {.version = 2,
     .name = "second",
     .up_sql = "CREATE TABLE t2 (x int)",
     .down_sql = NULL,
     .checksum = "bbbb"},
};

static void test_changed_file_is_refused(void **state)
{
    struct ctx *c = *state;
    assert_int_equal(migrate_up(c->conn, set_a, 1, 0, NULL), 1);

    struct migration edited[2] = {set_a[0], set_a[1]};
    edited[0].checksum = "cccc";
    edited[0].up_sql = "CREATE TABLE t1 (x bigint)";
    assert_int_equal(migrate_up(c->conn, edited, 2, 0, NULL), -EBADMSG);
    /* Nothing after it ran. */
    assert_int_equal(count(c->conn, "SELECT count(*) FROM pg_tables WHERE tablename = 't2'"), 0);
    char *log = log_text(c);
    assert_non_null(strstr(log, "0001_first.up.sql"));
    assert_non_null(strstr(log, "changed"));
    free(log);

    char out[2048];
    assert_int_equal(status_of(c->conn, edited, 2, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "changed"));
}

static void test_no_down_file(void **state)
{
    struct ctx *c = *state;
    assert_int_equal(migrate_up(c->conn, set_a, 2, 0, NULL), 2);
    assert_int_equal(migrate_down(c->conn, set_a, 2, 1, NULL), -ENOTSUP);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM schema_migrations"), 2);
}

static void test_failure_half_way_leaves_dirty_mark(void **state)
{
    struct ctx *c = *state;
    const struct migration set[] = {
        set_a[0],
        {.version = 2,
         .name = "broken",
         .checksum = "dddd",
         .up_no_tx = true,
         .up_sql = "-- tgdesk:no-transaction\n"
                   "CREATE TABLE half (x int);\n"
                   "CREATE INDEX CONCURRENTLY half_x ON half (x);\n"
                   "CREATE TABLE half (x int);\n"
                   "CREATE TABLE never (x int);\n"},
        {.version = 3, .name = "after", .checksum = "eeee", .up_sql = "CREATE TABLE t3 (x int)"},
    };
    assert_int_equal(migrate_up(c->conn, set, 3, 0, NULL), -EIO);
    /* The first statements ran (no transaction), the rest did not. */
    assert_int_equal(count(c->conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'"), 1);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'half_x'"),
                     1);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'never'"), 0);
    assert_int_equal(
        count(c->conn, "SELECT count(*) FROM schema_migrations WHERE version = 2 AND dirty"), 1);
    char *err = testpg_value(c->conn, "SELECT error FROM schema_migrations WHERE version = 2");
    assert_non_null(err);
    assert_non_null(strstr(err, "statement 3"));
    assert_non_null(strstr(err, "already exists"));
    free(err);

    char out[2048];
    assert_int_equal(status_of(c->conn, set, 3, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "dirty"));

    /* The mark blocks further runs until an operator clears it. */
    assert_int_equal(migrate_up(c->conn, set, 3, 0, NULL), -EBUSY);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM pg_tables WHERE tablename = 't3'"), 0);
    assert_string_equal(testpg_exec(c->conn, "CREATE TABLE never (x int);"
                                             "UPDATE schema_migrations SET dirty = false"),
                        "");
    assert_int_equal(migrate_up(c->conn, set, 3, 0, NULL), 1);
}

static void test_failing_transactional_migration_changes_nothing(void **state)
{
    struct ctx *c = *state;
    const struct migration set[] = {
        {.version = 1,
         .name = "bad",
         .checksum = "ffff",
         .up_sql = "CREATE TABLE good (x int); SELECT 1/0;"},
    };
    assert_int_equal(migrate_up(c->conn, set, 1, 0, NULL), -EIO);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'good'"), 0);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM schema_migrations"), 0);
    char out[1024];
    assert_int_equal(status_of(c->conn, set, 1, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "pending"));
}

static void test_unknown_applied_version_only_warns(void **state)
{
    struct ctx *c = *state;
    assert_int_equal(migrate_up(c->conn, set_a, 2, 0, NULL), 2);
    /* An older binary knows only the first migration. */
    assert_int_equal(migrate_up(c->conn, set_a, 1, 0, NULL), 0);
    char out[1024];
    assert_int_equal(status_of(c->conn, set_a, 1, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "unknown"));
}

/* How often table was analysed (ANALYZE updates the shared statistics at once). */
static int64_t analyze_count(PGconn *conn, const char *table)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = '%s'",
             table);
    return count(conn, sql);
}

static void test_changed_tables_are_analyzed(void **state)
{
    struct ctx *c = *state;
    const struct migration set[] = {
        {.version = 1,
         .name = "two",
         .checksum = "1",
         .up_sql = "CREATE TABLE t1 (x int); CREATE TABLE t2 (x int);"
                   " INSERT INTO t2 SELECT generate_series(1, 100);"},
        {.version = 2,
         .name = "rows",
         .checksum = "2",
         .up_sql = "INSERT INTO t1 SELECT generate_series(1, 1000);"},
        {.version = 3,
         .name = "index",
         .checksum = "3",
         .up_sql = "CREATE INDEX CONCURRENTLY t2_x ON t2 (x);",
         .up_no_tx = true},
        {.version = 4, .name = "nothing", .checksum = "4", .up_sql = "SELECT 1;"},
    };
    char out[1024];
    FILE *f = fmemopen(out, sizeof(out), "w");
    assert_int_equal(migrate_up(c->conn, set, 1, 0, f), 1);
    fclose(f);
    assert_non_null(strstr(out, "analyzed t1, t2"));
    assert_int_equal(analyze_count(c->conn, "t1"), 1);
    assert_int_equal(analyze_count(c->conn, "t2"), 1);
    assert_int_equal(count(c->conn, "SELECT reltuples FROM pg_class WHERE relname = 't2'"), 100);

    /* Rows changed by a transactional migration: only that table. */
    assert_int_equal(migrate_up(c->conn, set, 2, 0, NULL), 1);
    assert_int_equal(analyze_count(c->conn, "t1"), 2);
    assert_int_equal(analyze_count(c->conn, "t2"), 1);
    assert_int_equal(count(c->conn, "SELECT reltuples FROM pg_class WHERE relname = 't1'"), 1000);

    /* A new index (outside a transaction): its table. */
    assert_int_equal(migrate_up(c->conn, set, 3, 0, NULL), 1);
    assert_int_equal(analyze_count(c->conn, "t1"), 2);
    assert_int_equal(analyze_count(c->conn, "t2"), 2);

    /* A migration that changed no table analyses none; nothing pending, nothing at all. */
    f = fmemopen(out, sizeof(out), "w");
    assert_int_equal(migrate_up(c->conn, set, 4, 0, f), 1);
    assert_int_equal(migrate_up(c->conn, set, 4, 0, f), 0);
    fclose(f);
    assert_null(strstr(out, "analyzed"));
    assert_int_equal(analyze_count(c->conn, "t1"), 2);
    assert_int_equal(analyze_count(c->conn, "t2"), 2);
}

struct runner {
    const char *conninfo;
    int result;
};

static void *run_up(void *arg)
{
    struct runner *r = arg;
    PGconn *conn = testpg_connect(r->conninfo);
    r->result = migrate_up(conn, migrations_builtin, migrations_builtin_count, 0, NULL);
    PQfinish(conn);
    return NULL;
}

static void test_concurrent_runners_apply_each_file_once(void **state)
{
    struct ctx *c = *state;
    enum { N = 6 };
    pthread_t t[N];
    struct runner r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct runner){.conninfo = c->conninfo, .result = -1};
        assert_int_equal(pthread_create(&t[i], NULL, run_up, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_true(r[i].result >= 0);
        total += r[i].result;
    }
    assert_int_equal(total, (int)migrations_builtin_count);
    assert_int_equal(count(c->conn, "SELECT count(*) FROM schema_migrations WHERE NOT dirty"),
                     (int64_t)migrations_builtin_count);
}

int main(void)
{
    testpg_require();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_builtin_up_on_empty_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_active_request_per_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_down_up_round_trip_keeps_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_down_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_half_way_leaves_dirty_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_transactional_migration_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_applied_version_only_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_tables_are_analyzed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_runners_apply_each_file_once, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
