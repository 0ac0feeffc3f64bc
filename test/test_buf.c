/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "util/buf.h"

/* Checks that b holds exactly the text want, NUL-terminated. */
static void assert_holds(const struct buf *b, const char *want)
{
    assert_int_equal(buf_len(b), strlen(want));
    assert_memory_equal(buf_str(b), want, strlen(want) + 1);
}

static void test_empty(void **state)
{
    struct buf b;
    buf_init(&b, 100);
    assert_non_null(buf_str(&b));
    assert_holds(&b, "");
    assert_int_equal(buf_error(&b), 0);
    assert_int_equal(buf_add(&b, NULL), 0);
    assert_int_equal(buf_add(&b, ""), 0);
    assert_int_equal(buf_addn(&b, "x", 0), 0);
    assert_holds(&b, "");
    buf_free(&b);
    buf_free(&b); /* twice is harmless */
    buf_free(NULL);
}

static void test_append(void **state)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_add(&b, "abc"), 0);
    assert_int_equal(buf_addc(&b, '-'), 0);
    assert_int_equal(buf_addn(&b, "defXXX", 3), 0);
    assert_int_equal(buf_addf(&b, "[%d|%s]", 42, "x"), 0);
    assert_holds(&b, "abc-def[42|x]");

    /* Bytes, not strings: a NUL inside is kept and the text still ends in one. */
    assert_int_equal(buf_addn(&b, "a\0b", 3), 0);
    assert_int_equal(buf_len(&b), 16);
    assert_memory_equal(buf_str(&b) + 13, "a\0b\0", 4);

    /* Growing far past the first allocation keeps every byte. */
    buf_reset(&b);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_addc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(buf_len(&b), 10000);
    assert_int_equal(strlen(buf_str(&b)), 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_str(&b)[i], 'a' + i % 26);
    buf_free(&b);
}

static void test_cap_exact(void **state)
{
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_add(&b, "0123456789"), 0); /* exactly the cap fits */
    assert_int_equal(buf_error(&b), 0);
    assert_holds(&b, "0123456789");
    assert_int_equal(buf_addc(&b, 'x'), -E2BIG);
    assert_holds(&b, "0123456789");
    buf_free(&b);

    /* One append over the cap keeps what fits. */
    buf_init(&b, 10);
    assert_int_equal(buf_add(&b, "abc"), 0);
    assert_int_equal(buf_add(&b, "0123456789"), -E2BIG);
    assert_holds(&b, "abc0123456");
    buf_free(&b);

    /* Byte by byte: the fast path of buf_addc() stops at the cap too. */
    buf_init(&b, 300);
    for (int i = 0; i < 300; i++)
        assert_int_equal(buf_addc(&b, 'z'), 0);
    assert_int_equal(buf_addc(&b, 'z'), -E2BIG);
    assert_int_equal(buf_len(&b), 300);
    assert_int_equal(strlen(buf_str(&b)), 300);
    buf_free(&b);
}

static void test_cap_zero(void **state)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_add(&b, ""), 0);
    assert_int_equal(buf_error(&b), 0);
    assert_int_equal(buf_addc(&b, 'x'), -E2BIG);
    assert_holds(&b, "");
    assert_int_equal(buf_add(&b, "more"), -E2BIG);
    assert_int_equal(buf_addf(&b, "%d", 1), -E2BIG);
    assert_holds(&b, "");
    assert_null(buf_take(&b)); /* marked: nothing to hand over */

    /* Without a mark an empty buffer hands over an empty string. */
    char *s = buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    buf_free(&b);
}

static void test_no_cap(void **state)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    assert_int_equal(buf_add(&b, "no cap"), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_add(&b, "0123456789"), 0);
    assert_int_equal(buf_len(&b), 6 + 10000);
    assert_int_equal(strncmp(buf_str(&b), "no cap0123", 10), 0);
    buf_free(&b);
}

static void test_utf8_cut(void **state)
{
    struct buf b;
    /* "é" is C3 A9, "€" E2 82 AC, U+1F600 F0 9F 98 80. */
    buf_init(&b, 5);
    assert_int_equal(buf_add(&b, "abc\xC3\xA9"), 0); /* five bytes: fits whole */
    assert_holds(&b, "abc\xC3\xA9");
    buf_free(&b);

    buf_init(&b, 4);
    assert_int_equal(buf_add(&b, "abc\xC3\xA9"), -E2BIG);
    assert_holds(&b, "abc");
    buf_free(&b);

    for (size_t cap = 0; cap <= 9; cap++) {
        /* "a" + U+1F600 + "€": 1 + 4 + 3 bytes; every cut lands between characters. */
        static const char text[] = "a\xF0\x9F\x98\x80\xE2\x82\xAC";
        static const size_t whole[] = {0, 1, 1, 1, 1, 5, 5, 5, 8, 8};
        buf_init(&b, cap);
        assert_int_equal(buf_add(&b, text), cap >= 8 ? 0 : -E2BIG);
        assert_int_equal(buf_len(&b), whole[cap]);
        assert_memory_equal(buf_str(&b), text, whole[cap]);
        assert_int_equal(buf_str(&b)[whole[cap]], '\0');
        buf_free(&b);
    }

    /* The cut also holds when earlier appends filled part of the buffer. */
    buf_init(&b, 5);
    assert_int_equal(buf_add(&b, "ab"), 0);
    assert_int_equal(buf_add(&b, "\xC3\xA9\xE2\x82\xAC"), -E2BIG);
    assert_holds(&b, "ab\xC3\xA9");
    buf_free(&b);

    /* And through buf_addf(), short and long. */
    buf_init(&b, 4);
    assert_int_equal(buf_addf(&b, "%s", "ab\xE2\x82\xAC"), -E2BIG);
    assert_holds(&b, "ab");
    buf_free(&b);
    char big[400];
    memset(big, 'x', sizeof(big));
    memcpy(big + 298, "\xE2\x82\xAC", 3); /* bytes 298..300 */
    big[sizeof(big) - 1] = '\0';
    buf_init(&b, 300);
    assert_int_equal(buf_addf(&b, "%s", big), -E2BIG);
    assert_int_equal(buf_len(&b), 298);
    assert_memory_equal(buf_str(&b), big, 298);
    assert_int_equal(buf_str(&b)[298], '\0');
    buf_free(&b);
}

static void test_sticky(void **state)
{
    struct buf b;
    buf_init(&b, 4);
    assert_int_equal(buf_add(&b, "abcdef"), -E2BIG);
    assert_int_equal(buf_error(&b), -E2BIG);
    /* Later appends are dropped even when they would fit. */
    buf_truncate(&b, 1);
    assert_int_equal(buf_addc(&b, 'x'), -E2BIG);
    assert_int_equal(buf_add(&b, "y"), -E2BIG);
    assert_int_equal(buf_addn(&b, "z", 1), -E2BIG);
    assert_int_equal(buf_addf(&b, "%s", "w"), -E2BIG);
    assert_int_equal(buf_add(&b, NULL), -E2BIG);
    assert_int_equal(buf_add(&b, ""), -E2BIG);
    assert_holds(&b, "a");
    assert_int_equal(buf_error(&b), -E2BIG);
    /* Only buf_reset() clears the mark. */
    buf_reset(&b);
    assert_int_equal(buf_error(&b), 0);
    assert_holds(&b, "");
    assert_int_equal(buf_add(&b, "ok"), 0);
    assert_holds(&b, "ok");
    buf_free(&b);
}

static void test_addf_long(void **state)
{
    struct buf b;
    char want[1001];
    memset(want, 'q', 1000);
    want[1000] = '\0';

    buf_init(&b, 4096);
    assert_int_equal(buf_add(&b, "<"), 0);
    assert_int_equal(buf_addf(&b, "%s|%d", want, 7), 0);
    assert_int_equal(buf_len(&b), 1 + 1000 + 2);
    assert_memory_equal(buf_str(&b) + 1, want, 1000);
    assert_string_equal(buf_str(&b) + 1001, "|7");
    buf_free(&b);

    /* Exactly 255 and 256 bytes: either side of the formatter's first try. */
    for (int n = 254; n <= 258; n++) {
        buf_init(&b, 4096);
        assert_int_equal(buf_addf(&b, "%.*s", n, want), 0);
        assert_int_equal(buf_len(&b), n);
        assert_memory_equal(buf_str(&b), want, (size_t)n);
        assert_int_equal(buf_str(&b)[n], '\0');
        buf_free(&b);
    }

    /* A long text over the cap is cut at the cap exactly. */
    buf_init(&b, 300);
    assert_int_equal(buf_addc(&b, '>'), 0);
    assert_int_equal(buf_addf(&b, "%s", want), -E2BIG);
    assert_int_equal(buf_len(&b), 300);
    assert_int_equal(buf_str(&b)[0], '>');
    assert_memory_equal(buf_str(&b) + 1, want, 299);
    assert_int_equal(buf_str(&b)[300], '\0');
    buf_free(&b);

    /* vaddf through a caller's own va_list. */
    buf_init(&b, 100);
    assert_int_equal(buf_addf(&b, "%s %s %lld", "a", "b", (long long)INT64_MIN), 0);
    assert_holds(&b, "a b -9223372036854775808");
    buf_free(&b);
}

static void test_addf_invalid(void **state)
{
    /* In the C locale a wide character beyond ASCII cannot be converted. */
    setlocale(LC_ALL, "C");
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_add(&b, "kept"), 0);
    assert_int_equal(buf_addf(&b, "%ls", L"\u00e9"), -EINVAL);
    assert_int_equal(buf_error(&b), -EINVAL);
    assert_int_equal(buf_add(&b, "x"), -EINVAL);
    assert_holds(&b, "kept");
    assert_null(buf_take(&b));
    buf_free(&b);
}

static void test_truncate(void **state)
{
    struct buf b;
    buf_init(&b, 100);
    buf_truncate(&b, 0); /* on an empty buffer: nothing */
    assert_holds(&b, "");
    assert_int_equal(buf_add(&b, "hello world"), 0);
    buf_truncate(&b, 50); /* longer than the text: nothing */
    assert_holds(&b, "hello world");
    buf_truncate(&b, 5);
    assert_holds(&b, "hello");
    assert_int_equal(buf_add(&b, "!"), 0);
    assert_holds(&b, "hello!");
    buf_truncate(&b, 0);
    assert_holds(&b, "");
    buf_free(&b);
}

static void test_take_reset(void **state)
{
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_add(&b, "abc"), 0);
    char *s = buf_take(&b);
    assert_string_equal(s, "abc");
    /* b is empty again, with the same cap. */
    assert_holds(&b, "");
    assert_int_equal(buf_error(&b), 0);
    assert_int_equal(buf_add(&b, "12345678"), 0);
    assert_int_equal(buf_addc(&b, '9'), -E2BIG);
    assert_holds(&b, "12345678");
    assert_string_equal(s, "abc"); /* the taken text is the caller's */
    free(s);

    /* A marked buffer hands over nothing and is left empty and clean. */
    assert_null(buf_take(&b));
    assert_holds(&b, "");
    assert_int_equal(buf_error(&b), 0);
    assert_int_equal(buf_add(&b, "again"), 0);

    /* buf_reset() keeps the cap and the memory. */
    buf_reset(&b);
    assert_holds(&b, "");
    assert_int_equal(buf_add(&b, "123456789"), -E2BIG);
    assert_holds(&b, "12345678");
    buf_free(&b);

    /* buf_free() keeps the cap as well: b can be used again at once. */
    assert_int_equal(buf_add(&b, "123456789"), -E2BIG);
    assert_holds(&b, "12345678");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),        cmocka_unit_test(test_append),
        cmocka_unit_test(test_cap_exact),    cmocka_unit_test(test_cap_zero),
        cmocka_unit_test(test_no_cap),       cmocka_unit_test(test_utf8_cut),
        cmocka_unit_test(test_sticky),       cmocka_unit_test(test_addf_long),
        cmocka_unit_test(test_addf_invalid), cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_take_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
