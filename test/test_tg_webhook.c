/* Unit tests of the pure parts of `webhook` and `poll`
 * (internal/tg/webhook.c, internal/poll/poll.c). */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poll/poll.h"
#include "tg/webhook.h"

static void test_set_body(void **state)
{
    json_t *b = tg_webhook_set_body("https://desk.example.com/webhook", "s3cret_A-b", 100);
    assert_non_null(b);
    char *s = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(s,
                        "{\"allowed_updates\":[\"message\",\"edited_message\",\"callback_query\","
                        "\"my_chat_member\",\"business_connection\",\"business_message\","
                        "\"edited_business_message\",\"deleted_business_messages\"],"
                        "\"max_connections\":100,\"secret_token\":"
                        "\"s3cret_A-b\",\"url\":\"https://desk.example.com/webhook\"}");
    free(s);
    json_decref(b);

    b = tg_webhook_set_body("https://x.example/", NULL, 40);
    assert_null(json_object_get(b, "secret_token"));
    assert_int_equal(json_integer_value(json_object_get(b, "max_connections")), 40);
    json_decref(b);
}

/* Prints info (JSON text) and returns what was printed; caller frees. */
static char *print_info(const char *json)
{
    json_t *info = json_loads(json, 0, NULL);
    assert_non_null(info);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    tg_webhook_print_info(f, info);
    fclose(f);
    json_decref(info);
    return buf;
}

static void test_print_info(void **state)
{
    char *out =
        print_info("{\"url\":\"https://desk.example.com/webhook\",\"has_custom_certificate\":false,"
                   "\"pending_update_count\":17,\"last_error_date\":1767225600,"
                   "\"last_error_message\":\"Wrong response from the webhook: 502 Bad Gateway\","
                   "\"max_connections\":100,\"ip_address\":\"203.0.113.7\",\"allowed_updates\":"
                   "[\"message\",\"edited_message\",\"callback_query\",\"my_chat_member\","
                   "\"business_connection\",\"business_message\",\"edited_business_message\","
                   "\"deleted_business_messages\"]}");
    assert_non_null(strstr(out, "url:                 https://desk.example.com/webhook\n"));
    assert_non_null(strstr(out, "pending updates:     17\n"));
    assert_non_null(strstr(out, "last error:          2026-01-01T00:00:00Z  Wrong response from "
                                "the webhook: 502 Bad Gateway\n"));
    assert_non_null(strstr(out, "max connections:     100\n"));
    assert_non_null(strstr(out, "allowed updates:     message, edited_message, callback_query, "
                                "my_chat_member, business_connection, business_message, "
                                "edited_business_message, deleted_business_messages\n"));
    assert_non_null(strstr(out, "ip address:          203.0.113.7\n"));
    assert_null(strstr(out, "note:"));
    free(out);

    out = print_info("{\"url\":\"\",\"pending_update_count\":3}");
    assert_non_null(strstr(out, "url:                 (none"));
    assert_non_null(strstr(out, "pending updates:     3\n"));
    assert_non_null(strstr(out, "last error:          none\n"));
    assert_non_null(strstr(out, "Telegram's default"));
    free(out);

    /* a webhook set by something else, with other kinds: a note says how to fix it */
    out = print_info("{\"url\":\"https://a.example/\",\"pending_update_count\":0,"
                     "\"allowed_updates\":[\"message\",\"chat_member\"]}");
    assert_non_null(strstr(out, "allowed updates:     message, chat_member\n"));
    assert_non_null(strstr(out, "note:"));
    free(out);
}

static void test_next_offset(void **state)
{
    int64_t ids[] = {105, 103, 104};
    int all_ok[] = {200, 200, 200};
    assert_int_equal(poll_next_offset(0, ids, all_ok, 3), 106);
    assert_int_equal(poll_next_offset(103, ids, all_ok, 3), 106);

    /* 104 must come again: the offset stops before it, whatever the order */
    int middle_failed[] = {200, 200, 503};
    assert_int_equal(poll_next_offset(103, ids, middle_failed, 3), 104);
    int first_failed[] = {200, 503, 200};
    assert_int_equal(poll_next_offset(103, ids, first_failed, 3), 103);

    /* a body that is not an Update can never succeed: passed */
    int rejected[] = {200, 400, 200};
    assert_int_equal(poll_next_offset(0, ids, rejected, 3), 106);

    /* never backwards */
    assert_int_equal(poll_next_offset(500, ids, all_ok, 3), 500);
    assert_int_equal(poll_next_offset(42, ids, all_ok, 0), 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_body),
        cmocka_unit_test(test_print_info),
        cmocka_unit_test(test_next_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
