/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include "db/sqlsplit.h"

/* Splits sql and joins the statements with " | " into out. Returns the count. */
static int split(const char *sql, char *out, size_t cap)
{
    size_t pos = 0, start, len, used = 0;
    int n = 0;
    out[0] = '\0';
    while (sqlsplit_next(sql, &pos, &start, &len)) {
        int w = snprintf(out + used, cap - used, "%s%.*s", n ? " | " : "", (int)len, sql + start);
        used += (size_t)w;
        n++;
    }
    return n;
}

static void test_plain(void **state)
{
    char out[512];
    assert_int_equal(split("SELECT 1; SELECT 2;\n  SELECT 3", out, sizeof(out)), 3);
    assert_string_equal(out, "SELECT 1 | SELECT 2 | SELECT 3");
    assert_int_equal(split("", out, sizeof(out)), 0);
    assert_int_equal(split(" ;;\n -- only a comment\n/* and another */ ;", out, sizeof(out)), 0);
}

static void test_quotes_and_comments(void **state)
{
    char out[1024];
    assert_int_equal(split("-- tgdesk:no-transaction\n"
                           "INSERT INTO t VALUES ('a;b', 'it''s; fine');\n"
                           "SELECT \"we;ird\" FROM x; -- trailing; comment\n"
                           "SELECT E'back\\';slash';\n"
                           "/* block; /* nested; */ still; */ SELECT 4;",
                           out, sizeof(out)),
                     4);
    assert_string_equal(out, "INSERT INTO t VALUES ('a;b', 'it''s; fine') | "
                             "SELECT \"we;ird\" FROM x | SELECT E'back\\';slash' | SELECT 4");
}

static void test_dollar_quotes(void **state)
{
    char out[1024];
    assert_int_equal(split("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
                           "DO $body$ BEGIN PERFORM 1; END $body$;\n"
                           "PREPARE p AS SELECT $1::int; SELECT 2",
                           out, sizeof(out)),
                     4);
    assert_string_equal(out, "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$ | "
                             "DO $body$ BEGIN PERFORM 1; END $body$ | "
                             "PREPARE p AS SELECT $1::int | SELECT 2");
}

static void test_unterminated(void **state)
{
    char out[256];
    /* An unterminated quote swallows the rest: the server reports the error. */
    assert_int_equal(split("SELECT 'abc; SELECT 2", out, sizeof(out)), 1);
    assert_string_equal(out, "SELECT 'abc; SELECT 2");
    assert_int_equal(split("SELECT $$ never closed; x", out, sizeof(out)), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_quotes_and_comments),
        cmocka_unit_test(test_dollar_quotes),
        cmocka_unit_test(test_unterminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
