/* util/jsonw: JSON text written without a tree, checked by reading it back with jansson. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/jsonw.h"

/* Writes {"s": <s as n bytes>} and reads the string back. */
static void roundtrip(const char *s, size_t n)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_addc(&b, '{');
    jsonw_key(&b, "s");
    jsonw_strn(&b, s, n);
    buf_addc(&b, '}');
    assert_int_equal(buf_error(&b), 0);
    json_error_t err;
    json_t *doc = json_loads(buf_str(&b), JSON_ALLOW_NUL, &err);
    if (!doc)
        fail_msg("not JSON: %s: %s", err.text, buf_str(&b));
    json_t *v = json_object_get(doc, "s");
    assert_non_null(v);
    assert_int_equal(json_string_length(v), n);
    assert_memory_equal(json_string_value(v), s, n);
    json_decref(doc);
    buf_free(&b);
}

static void test_escapes(void **state)
{
    struct buf b;
    buf_init(&b, 1024);
    jsonw_str(&b, "a\"b\\c\nd\te\r\b\f\x01\x1f/é€😀");
    assert_string_equal(buf_str(&b), "\"a\\\"b\\\\c\\nd\\te\\r\\b\\f\\u0001\\u001f/é€😀\"");
    buf_free(&b);
}

static void test_every_byte_below_0x80_round_trips(void **state)
{
    char all[128];
    for (int i = 0; i < 128; i++)
        all[i] = (char)i;
    roundtrip(all, sizeof(all));
    roundtrip("", 0);
    roundtrip("plain text, nothing to escape", 29);
    roundtrip("Привет, 世界 👋 \"quoted\" back\\slash",
              strlen("Привет, 世界 👋 \"quoted\" back\\slash"));
}

/* Every byte value at every place of texts of 1 to 40 bytes, among plain
 * ASCII and UTF-8 (the writer skips eight bytes at a time when none needs
 * escaping): each reads back as written. */
static void test_every_byte_at_every_place(void **state)
{
    char s[40];
    for (size_t n = 1; n <= sizeof(s); n++) {
        for (size_t at = 0; at < n; at++) {
            for (int c = 0; c < 256; c++) {
                for (size_t i = 0; i < n; i++)
                    s[i] = (char)(i % 3 ? 'a' + (char)(i % 26) : ' ');
                if (c >= 0x80) {
                    /* a whole two-byte sequence where there is room for it */
                    if (at + 1 >= n)
                        continue;
                    s[at] = (char)(0xC2 + (c & 1));
                    s[at + 1] = (char)(0x80 | (c & 0x3F));
                } else {
                    s[at] = (char)c;
                }
                roundtrip(s, n);
            }
        }
    }
}

static void test_keys_and_numbers(void **state)
{
    struct buf b;
    buf_init(&b, 1024);
    buf_addc(&b, '{');
    jsonw_key(&b, "chat_id");
    jsonw_i64(&b, INT64_MIN);
    jsonw_key(&b, "list");
    buf_addc(&b, '[');
    buf_addc(&b, '{');
    jsonw_key(&b, "a");
    jsonw_i64(&b, 1);
    buf_addc(&b, '}');
    buf_addc(&b, ']');
    jsonw_key(&b, "id");
    jsonw_i64(&b, -1001234567890);
    buf_addc(&b, '}');
    assert_string_equal(
        buf_str(&b),
        "{\"chat_id\":-9223372036854775808,\"list\":[{\"a\":1}],\"id\":-1001234567890}");
    buf_free(&b);
}

static void test_cap_marks_the_buffer(void **state)
{
    struct buf b;
    buf_init(&b, 8);
    jsonw_str(&b, "more than eight bytes");
    assert_int_equal(buf_error(&b), -E2BIG);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_every_byte_below_0x80_round_trips),
        cmocka_unit_test(test_every_byte_at_every_place),
        cmocka_unit_test(test_keys_and_numbers),
        cmocka_unit_test(test_cap_marks_the_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
