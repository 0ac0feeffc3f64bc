/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/strnum.h"

static void test_i64(void **state)
{
    int64_t v = 42;
    assert_int_equal(strnum_i64("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(strnum_i64("6123456789", 1, INT64_MAX, &v), 0);
    assert_int_equal(v, INT64_C(6123456789));
    assert_int_equal(strnum_i64("-1001234567890", INT64_MIN, INT64_MAX, &v), 0);
    assert_int_equal(v, INT64_C(-1001234567890));
    assert_int_equal(strnum_i64("+7", 0, 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(strnum_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(strnum_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MIN);

    v = 42;
    assert_int_equal(strnum_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v), -ERANGE);
    assert_int_equal(strnum_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v), -ERANGE);
    assert_int_equal(strnum_i64("99999999999999999999999", INT64_MIN, INT64_MAX, &v), -ERANGE);
    assert_int_equal(strnum_i64("11", 0, 10, &v), -ERANGE);
    assert_int_equal(strnum_i64("-1", 0, 10, &v), -ERANGE);
    assert_int_equal(strnum_i64("", 0, 10, &v), -EINVAL);
    assert_int_equal(strnum_i64(NULL, 0, 10, &v), -EINVAL);
    assert_int_equal(strnum_i64(" 1", 0, 10, &v), -EINVAL);
    assert_int_equal(strnum_i64("1 ", 0, 10, &v), -EINVAL);
    assert_int_equal(strnum_i64("1.0", 0, 10, &v), -EINVAL);
    assert_int_equal(strnum_i64("0x10", 0, 100, &v), -EINVAL);
    assert_int_equal(strnum_i64("-", 0, 10, &v), -EINVAL);
    assert_int_equal(strnum_i64("1e3", 0, 10000, &v), -EINVAL);
    assert_int_equal(v, 42); /* untouched on failure */
}

static void test_seconds(void **state)
{
    int64_t ms = -1;
    assert_int_equal(strnum_seconds_ms("30", 0, INT64_MAX, &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(strnum_seconds_ms("0.25", 0, INT64_MAX, &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(strnum_seconds_ms("1.5", 0, INT64_MAX, &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(strnum_seconds_ms("0.001", 1, 10, &ms), 0);
    assert_int_equal(ms, 1);

    ms = -1;
    assert_int_equal(strnum_seconds_ms("0.0001", 0, 10, &ms), -EINVAL);
    assert_int_equal(strnum_seconds_ms("1.", 0, 10000, &ms), -EINVAL);
    assert_int_equal(strnum_seconds_ms(".5", 0, 10000, &ms), -EINVAL);
    assert_int_equal(strnum_seconds_ms("-1", -10000, 10000, &ms), -EINVAL);
    assert_int_equal(strnum_seconds_ms("5s", 0, 10000, &ms), -EINVAL);
    assert_int_equal(strnum_seconds_ms("", 0, 10000, &ms), -EINVAL);
    assert_int_equal(strnum_seconds_ms("0", 1, 10000, &ms), -ERANGE);
    assert_int_equal(strnum_seconds_ms("3601", 0, 3600000, &ms), -ERANGE);
    assert_int_equal(strnum_seconds_ms("99999999999999999999", 0, INT64_MAX, &ms), -ERANGE);
    assert_int_equal(ms, -1);
}

static void test_bool(void **state)
{
    bool b = false;
    const char *yes[] = {"true", "TRUE", "yes", "On", "1"};
    const char *no[] = {"false", "False", "no", "OFF", "0"};
    for (size_t i = 0; i < 5; i++) {
        b = false;
        assert_int_equal(strnum_bool(yes[i], &b), 0);
        assert_true(b);
        assert_int_equal(strnum_bool(no[i], &b), 0);
        assert_false(b);
    }
    b = true;
    assert_int_equal(strnum_bool("maybe", &b), -EINVAL);
    assert_int_equal(strnum_bool("", &b), -EINVAL);
    assert_int_equal(strnum_bool("2", &b), -EINVAL);
    assert_true(b);
}

/* What snprintf("%" PRId64) writes, for the edges and a spread between. */
static void test_fmt_i64(void **state)
{
    (void)state;
    int64_t vals[] = {0,
                      1,
                      -1,
                      9,
                      10,
                      -10,
                      99,
                      100,
                      123456789,
                      -987654321,
                      INT64_MAX,
                      INT64_MIN,
                      INT64_MAX - 1,
                      INT64_MIN + 1,
                      INT64_C(6123456789),
                      INT64_C(-1001234567890)};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char want[32], got[STRNUM_I64_MAX];
        int n = snprintf(want, sizeof(want), "%" PRId64, vals[i]);
        assert_int_equal(strnum_fmt_i64(got, vals[i]), (size_t)n);
        assert_string_equal(got, want);
    }
    for (int64_t v = -100000; v <= 100000; v += 7) {
        char want[32], got[STRNUM_I64_MAX];
        snprintf(want, sizeof(want), "%" PRId64, v);
        strnum_fmt_i64(got, v);
        assert_string_equal(got, want);
    }
}

/* Every byte: the 22 hex digits have their value, everything else is -1. */
static void test_hexdigit(void **state)
{
    const char *digits = "0123456789abcdef";
    for (int c = 0; c < 256; c++) {
        const char *hit = c ? strchr(digits, tolower(c)) : NULL;
        int want = hit ? (int)(hit - digits) : -1;
        assert_int_equal(strnum_hexdigit((char)c), want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i64),      cmocka_unit_test(test_seconds),
        cmocka_unit_test(test_bool),     cmocka_unit_test(test_fmt_i64),
        cmocka_unit_test(test_hexdigit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
