/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db/array.h"
#include "db/sqlstate.h"
#include "testpg.h"
#include "util/strnum.h"

static void test_empty(void **state)
{
    struct buf b;
    buf_init(&b, 100);
    db_array_open(&b);
    assert_string_equal(db_array_close(&b), "{}");
    /* open empties what was there, so one buffer serves many arrays */
    db_array_open(&b);
    db_array_i64(&b, 1);
    assert_string_equal(db_array_close(&b), "{1}");
    db_array_open(&b);
    assert_string_equal(db_array_close(&b), "{}");
    buf_free(&b);
}

static void test_text(void **state)
{
    struct buf b;
    buf_init(&b, 1000);
    db_array_open(&b);
    db_array_text(&b, "plain");
    db_array_text(&b, "");
    db_array_text(&b, NULL);
    db_array_text(&b, "NULL"); /* the word, not SQL NULL: quoted */
    db_array_text(&b, "say \"hi\"");
    db_array_text(&b, "back\\slash");
    db_array_text(&b, "\\\"");
    db_array_text(&b, "{a,b} c");
    db_array_textn(&b, "abcdef", 3);
    db_array_textn(&b, "", 0);
    assert_string_equal(db_array_close(&b), "{\"plain\",\"\",NULL,\"NULL\",\"say \\\"hi\\\"\","
                                            "\"back\\\\slash\",\"\\\\\\\"\",\"{a,b} c\","
                                            "\"abc\",\"\"}");
    buf_free(&b);
}

static void test_integers(void **state)
{
    struct buf b;
    buf_init(&b, 1000);
    db_array_open(&b);
    db_array_i64(&b, 0);
    db_array_i64(&b, -1);
    db_array_null(&b);
    db_array_i64(&b, INT64_MAX);
    db_array_i64(&b, INT64_MIN);
    assert_string_equal(db_array_close(&b), "{0,-1,NULL,9223372036854775807,-9223372036854775808}");

    /* A NULL first, then elements: the separator does not depend on the kind. */
    db_array_open(&b);
    db_array_null(&b);
    db_array_null(&b);
    db_array_text(&b, "x");
    assert_string_equal(db_array_close(&b), "{NULL,NULL,\"x\"}");
    buf_free(&b);
}

static void test_cap(void **state)
{
    struct buf b;
    buf_init(&b, 9);
    db_array_open(&b);
    db_array_text(&b, "abc");
    db_array_i64(&b, 1);
    assert_string_equal(db_array_close(&b), "{\"abc\",1}"); /* 9 bytes: fits exactly */
    buf_free(&b);

    buf_init(&b, 9);
    db_array_open(&b);
    db_array_text(&b, "abcd");
    db_array_i64(&b, 1);
    assert_null(db_array_close(&b)); /* 10 bytes do not fit */
    assert_int_equal(buf_error(&b), -E2BIG);
    /* the next array starts clean */
    db_array_open(&b);
    db_array_i64(&b, 12);
    assert_string_equal(db_array_close(&b), "{12}");
    buf_free(&b);

    buf_init(&b, 0);
    db_array_open(&b);
    assert_null(db_array_close(&b));
    buf_free(&b);
}

/* ---- read back by PostgreSQL ---- */

static const char *const texts[] = {
    "",
    "plain",
    "NULL",
    "null",
    "say \"hi\"",
    "back\\slash",
    "\\",
    "\"",
    "\\\"\\\\\"\"",
    "{a,b}",
    " spaces around ",
    "tab\tnew\nline",
    "comma,semicolon;",
    "\xC3\xBC\xC3\xB1\xC3\xAF\xC3\xA7\xC3\xB6\x64\xC3\xA9",         /* Latin with accents */
    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",             /* Cyrillic */
    "\xE2\x82\xAC \"\xE2\x82\xAC\" \\\xE2\x82\xAC",                 /* euro signs quoted */
    "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\\\"",                         /* emoji and escapes */
    "\xE6\xBC\xA2\xE5\xAD\x97\xE3\x81\xA8\xE3\x81\x8B\xE3\x81\xAA", /* CJK */
};
#define NTEXTS (sizeof(texts) / sizeof(texts[0]))

static void test_round_trip(void **state)
{
    const char *ci = getenv("TGDESK_TEST_PG");
    if (!ci || !*ci)
        skip();
    PGconn *conn = testpg_connect(ci);
    assert_int_equal(PQsetClientEncoding(conn, "UTF8"), 0);

    struct buf b;
    buf_init(&b, 1 << 16);
    db_array_open(&b);
    for (size_t i = 0; i < NTEXTS; i++) {
        db_array_text(&b, texts[i]);
        if (i == 2)
            db_array_null(&b); /* a real NULL next to the word */
    }
    const char *lit = db_array_close(&b);
    assert_non_null(lit);

    const char *params[1] = {lit};
    PGresult *res = PQexecParams(conn,
                                 "SELECT e IS NULL, coalesce(e, '') FROM"
                                 " unnest($1::text[]) WITH ORDINALITY AS t(e, i) ORDER BY i",
                                 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), NTEXTS + 1);
    for (int row = 0, i = 0; row < PQntuples(res); row++) {
        if (row == 3) {
            assert_string_equal(PQgetvalue(res, row, 0), "t");
            continue;
        }
        assert_string_equal(PQgetvalue(res, row, 0), "f");
        assert_string_equal(PQgetvalue(res, row, 1), texts[i]);
        i++;
    }
    PQclear(res);

    /* Integers, the extremes included, and NULL. */
    static const int64_t nums[] = {0, 1, -1, 42, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    db_array_open(&b);
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        db_array_i64(&b, nums[i]);
    db_array_null(&b);
    lit = db_array_close(&b);
    assert_non_null(lit);
    params[0] = lit;
    res = PQexecParams(conn,
                       "SELECT coalesce(e::text, 'null') FROM"
                       " unnest($1::int8[]) WITH ORDINALITY AS t(e, i) ORDER BY i",
                       1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), sizeof(nums) / sizeof(nums[0]) + 1);
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        int64_t v;
        assert_int_equal(strnum_i64(PQgetvalue(res, (int)i, 0), INT64_MIN, INT64_MAX, &v), 0);
        assert_true(v == nums[i]);
    }
    assert_string_equal(PQgetvalue(res, (int)(sizeof(nums) / sizeof(nums[0])), 0), "null");
    PQclear(res);

    /* The empty array is an array with no elements, not NULL. */
    db_array_open(&b);
    params[0] = db_array_close(&b);
    res = PQexecParams(conn, "SELECT cardinality($1::text[])", 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "0");
    PQclear(res);

    /* A literal the server refuses, and what db/sqlstate makes of it. */
    params[0] = "{\"unterminated";
    res = PQexecParams(conn, "SELECT $1::text[]", 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    char code[DB_SQLSTATE_LEN];
    db_sqlstate_copy(res, code);
    assert_string_equal(code, "22P02"); /* invalid_text_representation */
    assert_false(db_sqlstate_transient(code));
    PQclear(res);

    buf_free(&b);
    PQfinish(conn);
}

static void test_sqlstate(void **state)
{
    char code[DB_SQLSTATE_LEN];
    db_sqlstate_copy(NULL, code); /* no result: the connection failed */
    assert_string_equal(code, "08000");
    assert_true(db_sqlstate_transient(code));
    assert_true(db_sqlstate_transient("08006"));
    assert_true(db_sqlstate_transient("53300"));
    assert_true(db_sqlstate_transient("58030"));
    assert_true(db_sqlstate_transient("40001"));
    assert_true(db_sqlstate_transient("40P01"));
    assert_true(db_sqlstate_transient("57P01"));
    assert_false(db_sqlstate_transient("23505"));
    assert_false(db_sqlstate_transient("42P01"));
    assert_false(db_sqlstate_transient("40002"));
    assert_false(db_sqlstate_transient(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),    cmocka_unit_test(test_text),
        cmocka_unit_test(test_integers), cmocka_unit_test(test_cap),
        cmocka_unit_test(test_sqlstate), cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
