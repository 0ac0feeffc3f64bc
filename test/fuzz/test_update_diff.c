/*
 * test_update_diff.c - every fixture ($TGDESK_FIXTURES/updates and .../bad),
 * and bodies written for the corners where jscan had to copy jansson, parsed
 * by tg_update_parse() and by the jansson-based reference (update_ref.c):
 * the results must not differ (see update_diff()).
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fixtures.h"
#include "update_ref.h"

static void expect_same(const char *name, const char *body, size_t len)
{
    char why[768];

    /* a copy of its own, so that ASan sees a read past len */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, body, len);
    if (update_diff(copy, len, why, sizeof(why)))
        fail_msg("%s: %s", name, why);
    free(copy);
}

static void same_fixture(const char *name, const char *body, size_t len, void *userdata)
{
    (void)userdata;
    expect_same(name, body, len);
}

static void test_fixtures(void **state)
{
    assert_true(fixtures_each("updates", same_fixture, NULL) >= 13);
    assert_true(fixtures_each("bad", same_fixture, NULL) >= 10);
}

/* A literal, embedded NULs included. */
#define BODY(s)          \
    {                    \
        s, sizeof(s) - 1 \
    }
#define MSG(extra)                                               \
    "{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1," \
    "\"chat\":{\"id\":42,\"type\":\"private\"}" extra "}}"

static void test_corners(void **state)
{
    static const struct {
        const char *body;
        size_t len;
    } bodies[] = {
        /* the framing */
        BODY(""),
        BODY(" "),
        BODY("\0"),
        BODY("x"),
        BODY("42"),
        BODY("null"),
        BODY("[]"),
        BODY("\xc3\xa9"),
        BODY("\xff{}"),
        BODY("{}\xff"),
        BODY("{} x"),
        BODY("{}\0"),
        BODY("{\"update_id\":1}\0"),
        BODY("{\"update_id\":1"),
        BODY("{\"update_id\":1,"),
        BODY("{\"update_id\":1,}"),
        BODY("{\"update_id\" 1}"),
        BODY("{\"update_id\":}"),
        BODY("{\"update_id\":\0}"),
        BODY("{\"update_id\":1\xff}"),
        BODY("{\"update_id\":1\xc3}"),
        BODY("{\"update_id\":12345678901234567890}"),
        BODY("{\"update_id\":1e400}"),
        BODY("{\"update_id\":-}"),
        BODY("{\"update_id\":01}"),
        BODY("{\"update_id\":1.}"),
        BODY("{\"update_id\":1.5e}"),
        BODY("{\"update_id\":tru}"),
        BODY("{\"update_id\":truex}"),
        /* a NUL right after a number or literal: jansson drops it */
        BODY("{\"update_id\":1\0}"),
        BODY("{\"update_id\":1\0\0}"),
        BODY("{\"update_id\":1\0,\"message\":null\0}"),
        BODY("{\"update_id\":7,\"x\":[true\0,false\0,null\0,1.5\0,-2e3\0]}"),
        BODY(MSG(",\"edit_date\":5\0,\"text\":\"/take 1\",\"entities\":[{\"offset\":0\0,"
                 "\"length\":5\0,\"type\":\"bot_command\"}]")),
        BODY("{\"update_id\":1,\"x\":\"a\0\"}"),
        BODY("{\"update_id\":1,\"x\":-\0}"),
        BODY("{\"update_id\":1,\"x\":tr\0ue}"),
        /* strings */
        BODY("{\"update_id\":1,\"x\":\"\\ud800\"}"),
        BODY("{\"update_id\":1,\"x\":\"\\udc00\\ud800\"}"),
        BODY("{\"update_id\":1,\"x\":\"\\ud800\\u0041\"}"),
        BODY("{\"update_id\":1,\"x\":\"\\ud800\\\\u0041\"}"),
        BODY("{\"update_id\":1,\"x\":\"\\u00G0\"}"),
        BODY("{\"update_id\":1,\"x\":\"\\x\"}"),
        BODY("{\"update_id\":1,\"x\":\"\\"),
        BODY("{\"update_id\":1,\"x\":\"abc"),
        BODY("{\"update_id\":1,\"x\":\"a\nb\"}"),
        BODY("{\"update_id\":1,\"x\":\"\xe2\x82\"}"),
        BODY("{\"update_id\":1,\"x\":\"\xed\xa0\x80\"}"),
        BODY("{\"update_id\":1,\"\\u0000\":1}"),
        BODY("{\"update_id\":1,\"a\\u0000b\":1}"),
        /* names */
        BODY("{\"update_id\":1,\"update_id\":2}"),
        BODY("{\"update_id\":1,\"\\u0075pdate_id\":2}"),
        BODY("{\"\\u0075pdate_id\":1}"),
        BODY("{\"update_id\":1,\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":1,\"a\":2}}"),
        BODY("{\"update_id\":1,\"a\":[{\"k\":1},{\"k\":2}],\"a\":3}"),
        BODY("{\"update_id\":1,\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}"),
        BODY("{\"update_id\":1,\"\\\"\":1,\"\\u0022\":2}"),
        BODY("{\"update_id\":1,\"\\/\":1,\"/\":2}"),
        /* members Telegram sends, with escapes and nulls */
        BODY("{\"update_id\":1,\"\\u006dessage\":{\"message_id\":7,\"date\":1,\"chat\":{\"id\":42,"
             "\"type\":\"priv\\u0061te\"},\"te\\u0078t\":\"/St\\u0061rt@B\\u006ft x\"}}"),
        BODY(MSG(",\"text\":null,\"caption\":\"c\",\"from\":null")),
        BODY(MSG(",\"text\":\"\\u0000\\u0000/x\",\"caption\":\"c\"")),
        BODY(MSG(",\"text\":\"\\u002ftake 1\",\"entities\":[{\"offset\":-0,\"length\":5,"
                 "\"type\":\"bot_\\u0063ommand\"}]")),
        BODY(MSG(",\"text\":\"/take 1\",\"entities\":[{\"offset\":0,\"length\":5,"
                 "\"type\":\"bot_command\\u0000\"}]")),
        BODY(MSG(",\"text\":\"/take 1\",\"entities\":[null,[],\"x\",{\"offset\":null}]")),
        BODY(MSG(
            ",\"photo\":[{\"file_id\":\"a\\u0000\",\"width\":2},{\"file_id\":\"b\",\"width\":1}]")),
        BODY(MSG(",\"photo\":[],\"voice\":null,\"video\":{\"file_id\":\"v\"}")),
        BODY(MSG(",\"photo\":null,\"audio\":{\"file_id\":null}")),
        BODY(MSG(",\"reply_to_message\":{\"message_id\":3,\"from\":null}")),
        BODY(MSG(",\"from\":{\"id\":1,\"is_bot\":null,\"first_name\":\"\\ud83d\\udce6\\t\\\"\"}")),
        BODY("{\"update_id\":null}"),
        BODY("{\"update_id\":1,\"message\":null,\"callback_query\":{\"id\":\"\\u0000\","
             "\"from\":{\"id\":1},\"message\":{\"message_id\":1,\"chat\":{\"id\":null}}}}"),
        BODY("{\"update_id\":1,\"my_chat_member\":{\"chat\":{\"id\":1,\"type\":\"group\"},"
             "\"from\":{\"id\":1},\"new_chat_member\":{\"status\":\"a\\u0000\"},"
             "\"old_chat_member\":null}}"),
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "bodies[%zu]", i);
        expect_same(name, bodies[i].body, bodies[i].len);
    }
}

/* Arrays in an unknown member, around jansson's limit of 2048 values deep. */
static void test_depth(void **state)
{
    static const char head[] = "{\"update_id\":1,\"x\":";
    static const char *const inners[] = {"", "1", "{\"a\":[]}", "\"\\u0000\""};
    static char body[sizeof(head) + 2 * 2060 + 16];

    for (size_t arrays = 2040; arrays <= 2052; arrays++) {
        for (size_t k = 0; k < sizeof(inners) / sizeof(inners[0]); k++) {
            size_t n = sizeof(head) - 1, inner = strlen(inners[k]);

            memcpy(body, head, n);
            memset(body + n, '[', arrays);
            n += arrays;
            memcpy(body + n, inners[k], inner);
            n += inner;
            memset(body + n, ']', arrays);
            n += arrays;
            body[n++] = '}';
            expect_same("deep", body, n);
            expect_same("deep, cut", body, n - 1 - arrays / 2);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_corners),
        cmocka_unit_test(test_depth),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
