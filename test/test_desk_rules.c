/* Unit tests of the desk's pure logic (internal/desk/text.c). */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/canned.h"
#include "desk/rules.h"
#include "desk/search.h"
#include "desk/topics.h"

/* Splits text with max and checks every part; returns the number of parts. */
static size_t check_split(const char *text, size_t max)
{
    size_t parts = 0, total = strlen(text);
    char *joined = calloc(total + 1, 1);
    assert_non_null(joined);
    size_t at = 0;
    const char *p = text;
    while (*p) {
        size_t n = desk_text_part_len(p, max);
        assert_true(n > 0);
        assert_true(desk_text_codepoints(p, n) <= max);
        /* never inside a UTF-8 sequence: the next part starts at a lead byte */
        assert_true(((unsigned char)p[n] & 0xC0) != 0x80);
        memcpy(joined + at, p, n);
        at += n;
        p += n;
        parts++;
    }
    assert_string_equal(joined, text);
    free(joined);
    return parts;
}

static void test_split_short(void **state)
{
    assert_int_equal(desk_text_part_len("", 10), 0);
    assert_int_equal(desk_text_part_len("hello", 10), 5);
    assert_int_equal(desk_text_part_len("helloworld", 10), 10);
    assert_int_equal(check_split("helloworld", 10), 1);
}

static void test_split_prefers_lines_then_spaces(void **state)
{
    /* "aaaa\nbbbb cc" with max 10: the cut is after the line break */
    assert_int_equal(desk_text_part_len("aaaa\nbbbb cccc", 10), 5);
    /* no line break in the window: after the last space */
    assert_int_equal(desk_text_part_len("aaaa bbbb cccc", 10), 10);
    assert_int_equal(desk_text_part_len("aaa bbbbbbbbbbbbb", 10), 4);
    /* neither: exactly max code points */
    assert_int_equal(desk_text_part_len("abcdefghijklmnop", 10), 10);
    assert_int_equal(check_split("aaaa\nbbbb cccc dddd\neeeeeeeeeeeeeeeeeeeeeee", 10), 6);
}

static void test_split_utf8(void **state)
{
    /* 12 two-byte letters and 12 four-byte emoji, no spaces */
    char text[256] = "";
    size_t len = 0;
    for (int i = 0; i < 12; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s", "é");
    for (int i = 0; i < 12; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s", "📦");
    assert_int_equal(desk_text_codepoints(text, strlen(text)), 24);
    size_t n = desk_text_part_len(text, 10);
    assert_int_equal(n, 20); /* 10 × 2 bytes */
    n = desk_text_part_len(text + 20, 10);
    assert_int_equal(n, 2 * 2 + 8 * 4);
    assert_int_equal(check_split(text, 10), 3);
    assert_int_equal(check_split(text, 1), 24);
}

static void test_split_transcript(void **state)
{
    /* A transcript of 30 lines of 500 code points: parts of at most 4096. */
    size_t cap = 30 * 1100 + 1;
    char *t = calloc(cap, 1);
    assert_non_null(t);
    size_t len = 0;
    for (int i = 0; i < 30; i++) {
        for (int j = 0; j < 250; j++) {
            memcpy(t + len, "ä ", 3);
            len += 3;
        }
        t[len++] = '\n';
    }
    size_t parts = check_split(t, DESK_TEXT_MAX);
    assert_int_equal(parts, 4); /* 8 lines (4008 code points) per part */
    /* every part but the last ends at a line break */
    const char *p = t;
    for (size_t i = 0; i + 1 < parts; i++) {
        size_t n = desk_text_part_len(p, DESK_TEXT_MAX);
        assert_int_equal(p[n - 1], '\n');
        p += n;
    }
    free(t);
}

static void test_blank(void **state)
{
    assert_true(desk_text_blank(" \n\t\r", 4));
    assert_true(desk_text_blank("", 0));
    assert_false(desk_text_blank(" x ", 3));
}

static void test_status(void **state)
{
    enum desk_status s = DESK_CLOSED;
    assert_int_equal(desk_status_parse("open", &s), 0);
    assert_int_equal(s, DESK_OPEN);
    assert_int_equal(desk_status_parse("assigned", &s), 0);
    assert_int_equal(s, DESK_ASSIGNED);
    assert_int_equal(desk_status_parse("Open", &s), -EINVAL);
    assert_int_equal(desk_status_parse(NULL, &s), -EINVAL);
    assert_string_equal(desk_status_name(DESK_SOLVED), "solved");
}

static void test_commands(void **state)
{
    assert_int_equal(desk_cmd_lookup(""), DESK_CMD_NONE);
    assert_int_equal(desk_cmd_lookup("take"), DESK_CMD_TAKE);
    assert_int_equal(desk_cmd_lookup("history"), DESK_CMD_HISTORY);
    assert_int_equal(desk_cmd_lookup("ticket"), DESK_CMD_UNKNOWN);
    assert_string_equal(desk_cmd_name(DESK_CMD_UNBAN), "unban");
    assert_true(desk_cmd_is_staff(DESK_CMD_LIST));
    assert_true(desk_cmd_is_staff(DESK_CMD_STATS));
    assert_false(desk_cmd_is_staff(DESK_CMD_CANCEL));
    assert_false(desk_cmd_is_staff(DESK_CMD_UNKNOWN));
    assert_true(desk_cmd_is_supervisor(DESK_CMD_BAN));
    assert_true(desk_cmd_is_supervisor(DESK_CMD_UNBAN));
    assert_false(desk_cmd_is_supervisor(DESK_CMD_TAKE));
    assert_false(desk_cmd_is_supervisor(DESK_CMD_STATS));
    assert_non_null(strstr(desk_cmd_usage(DESK_CMD_REPLY), "/reply N text"));
    assert_int_equal(desk_cmd_lookup("canned"), DESK_CMD_CANNED);
    assert_int_equal(desk_cmd_lookup("search"), DESK_CMD_SEARCH);
    assert_true(desk_cmd_is_staff(DESK_CMD_CANNED));
    assert_true(desk_cmd_is_staff(DESK_CMD_SEARCH));
    assert_false(desk_cmd_is_supervisor(DESK_CMD_CANNED)); /* only add and del are */
    assert_int_equal(desk_route(DESK_CMD_SEARCH, false, DESK_PRIVATE), DESK_ROUTE_REFUSE);
    assert_int_equal(desk_route(DESK_CMD_CANNED, true, DESK_STAFF_GROUP), DESK_ROUTE_STAFF);
}

static void test_search_args(void **state)
{
    struct desk_args a = {0};
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_SEARCH, "  password \"reset link\"", &a), 0);
    assert_string_equal(a.text, "password \"reset link\"");
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_SEARCH, " \n ", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_SEARCH, "", &a), -EINVAL);
}

static void test_canned_parse(void **state)
{
    struct desk_canned_args a;
    assert_int_equal(desk_canned_parse("", &a), 0);
    assert_int_equal(a.op, DESK_CANNED_LIST);
    assert_int_equal(desk_canned_parse(" list ", &a), 0);
    assert_int_equal(a.op, DESK_CANNED_LIST);
    assert_int_equal(desk_canned_parse(NULL, &a), 0);
    assert_int_equal(a.op, DESK_CANNED_LIST);

    /* the text: from its first character that is not blank, kept as written */
    const char *args = "add Refund_2 \n  Dear customer,\n\nour refund policy: 14 days. ";
    assert_int_equal(desk_canned_parse(args, &a), 0);
    assert_int_equal(a.op, DESK_CANNED_ADD);
    assert_string_equal(a.name, "refund_2");
    assert_string_equal(a.text, "Dear customer,\n\nour refund policy: 14 days. ");
    assert_int_equal(desk_canned_parse("add reset\tUse the link.", &a), 0);
    assert_string_equal(a.text, "Use the link.");

    assert_int_equal(desk_canned_parse("del refund", &a), 0);
    assert_int_equal(a.op, DESK_CANNED_DEL);
    assert_string_equal(a.name, "refund");
    assert_null(a.text);
    assert_int_equal(desk_canned_parse("delete REFUND", &a), 0);
    assert_int_equal(a.op, DESK_CANNED_DEL);
    assert_string_equal(a.name, "refund");
    assert_int_equal(desk_canned_parse("refund", &a), 0);
    assert_int_equal(a.op, DESK_CANNED_SHOW);
    assert_string_equal(a.name, "refund");

    a.op = DESK_CANNED_LIST;
    assert_int_equal(desk_canned_parse("add refund", &a), -EINVAL);     /* no text */
    assert_int_equal(desk_canned_parse("add refund \n ", &a), -EINVAL); /* blank text */
    assert_int_equal(desk_canned_parse("add", &a), -EINVAL);
    assert_int_equal(desk_canned_parse("add 1st text", &a), -EINVAL); /* a letter first */
    assert_int_equal(desk_canned_parse("add re!fund text", &a), -EINVAL);
    assert_int_equal(desk_canned_parse("add list text", &a), -EINVAL); /* reserved */
    assert_int_equal(desk_canned_parse("del", &a), -EINVAL);
    assert_int_equal(desk_canned_parse("del a b", &a), -EINVAL);
    assert_int_equal(desk_canned_parse("refund extra", &a), -EINVAL);
    assert_int_equal(desk_canned_parse("list more", &a), -EINVAL);
    assert_int_equal(desk_canned_parse("add abcdefghijabcdefghijabcdefghijabc text", &a),
                     -EINVAL);                /* 33 characters */
    assert_int_equal(a.op, DESK_CANNED_LIST); /* untouched on failure */
    assert_int_equal(desk_canned_parse("add abcdefghijabcdefghijabcdefghijab text", &a), 0);
}

/* The words desk_canned_next() finds in text, as "name" or "!name" (escaped), space-separated. */
static char *canned_words(const char *text)
{
    static char out[256];
    size_t pos = 0, start, name, len, at = 0;
    bool escaped;
    out[0] = '\0';
    while (desk_canned_next(text, &pos, &start, &name, &len, &escaped)) {
        assert_int_equal(name, start + (escaped ? 2 : 1));
        assert_int_equal(pos, name + len);
        at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s%.*s", at ? " " : "",
                               escaped ? "!" : "", (int)len, text + name);
    }
    assert_int_equal(pos, strlen(text));
    return out;
}

static void test_similar_rate(void **state)
{
    struct desk_search_rate *r = desk_search_rate_new();
    assert_non_null(r);
    /* one second's budget (a test may cross a second: then it starts again) */
    size_t a = desk_search_rate_take(r, 15), b = desk_search_rate_take(r, 10);
    assert_int_equal(a, 15);
    assert_true(b == 5 || b == 10);
    if (b == 5)
        assert_true(desk_search_rate_take(r, 1) <= 1);
    desk_search_rate_free(r);
    desk_search_rate_free(NULL);
}

static void test_canned_words(void **state)
{
    assert_string_equal(canned_words("!refund"), "refund");
    assert_string_equal(canned_words("Hi!\n!refund.\nBye !reset-pw, ok"), "refund reset-pw");
    assert_string_equal(canned_words("Hello!refund wow! !5 ! !!"), ""); /* not at a word's start */
    assert_string_equal(canned_words("write !!refund for it"), "!refund");
    assert_string_equal(canned_words("!!!refund"), "");
    assert_string_equal(canned_words("(!refund) \t!Refund_2?"), "Refund_2");
    assert_string_equal(canned_words(""), "");
}

static void test_args(void **state)
{
    struct desk_args a = {.request_id = -1};
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_TAKE, "12", &a), 0);
    assert_int_equal(a.request_id, 12);
    assert_null(a.text);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_CLOSE, "#7  ", &a), 0);
    assert_int_equal(a.request_id, 7);

    a.request_id = -1;
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_TAKE, "", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_TAKE, "abc", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_TAKE, "12 13", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_TAKE, "0", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_TAKE, "-3", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_TAKE, "+3", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_BAN, "99999999999999999999", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_HISTORY, NULL, &a), -EINVAL);
    assert_int_equal(a.request_id, -1); /* untouched on failure */

    const char *args = "42 Hello!\n  Second line, kept verbatim.  ";
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_REPLY, args, &a), 0);
    assert_int_equal(a.request_id, 42);
    assert_string_equal(a.text, "Hello!\n  Second line, kept verbatim.  ");
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_SOLVE, "#9\nReplaced the router", &a), 0);
    assert_int_equal(a.request_id, 9);
    assert_string_equal(a.text, "Replaced the router");
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_REPLY, "42", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_REPLY, "42   \n ", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_REPLY, "hello there", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_SOLVE, "42x done", &a), -EINVAL);

    assert_int_equal(desk_cmd_parse_args(DESK_CMD_LIST, "whatever", &a), 0);
    assert_int_equal(a.request_id, 0);
}

static void test_callback(void **state)
{
    enum desk_cmd c = DESK_CMD_NONE;
    int64_t id = 0;
    assert_int_equal(desk_callback_parse("take:12", &c, &id), 0);
    assert_int_equal(c, DESK_CMD_TAKE);
    assert_int_equal(id, 12);
    assert_int_equal(desk_callback_parse("close:1042", &c, &id), 0);
    assert_int_equal(c, DESK_CMD_CLOSE);
    assert_int_equal(id, 1042);
    c = DESK_CMD_NONE;
    id = 0;
    assert_int_equal(desk_callback_parse("reopen:1042", &c, &id), -EINVAL);
    assert_int_equal(desk_callback_parse("take:", &c, &id), -EINVAL);
    assert_int_equal(desk_callback_parse("take:#3", &c, &id), -EINVAL);
    assert_int_equal(desk_callback_parse("take:3 ", &c, &id), -EINVAL);
    assert_int_equal(desk_callback_parse("take:0", &c, &id), -EINVAL);
    assert_int_equal(desk_callback_parse("take:-1", &c, &id), -EINVAL);
    assert_int_equal(desk_callback_parse("take:1; DROP TABLE requests", &c, &id), -EINVAL);
    assert_int_equal(desk_callback_parse(NULL, &c, &id), -EINVAL);
    assert_int_equal(c, DESK_CMD_NONE);

    char buf[32];
    desk_callback_data(DESK_CMD_TAKE, 1042, buf, sizeof(buf));
    assert_string_equal(buf, "take:1042");
    desk_callback_data(DESK_CMD_CLOSE, 7, buf, sizeof(buf));
    assert_string_equal(buf, "close:7");
}

static void test_rate(void **state)
{
    (void)state;
    int64_t id = 0;
    int score = 0;
    char data[40];
    desk_rate_data(12, 4, data, sizeof(data));
    assert_string_equal(data, "rate:12:4");
    assert_int_equal(desk_rate_parse(data, &id, &score), 0);
    assert_true(id == 12 && score == 4);
    assert_int_equal(desk_rate_parse("rate:9223372036854775807:1", &id, &score), 0);
    assert_true(id == INT64_MAX && score == 1);
    static const char *const bad[] = {
        "rate:12:0", "rate:12:6", "rate:12:45", "rate::3",    "rate:#12:3", "rate:0:3",
        "rate:-1:3", "rate:12",   "rate:12:",   "rate:1 2:3", "take:12",    "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(desk_rate_parse(bad[i], &id, &score), -EINVAL);
    assert_int_equal(desk_rate_parse(NULL, &id, &score), -EINVAL);
    assert_true(desk_rate_is("rate:x"));
    assert_false(desk_rate_is("take:1"));
    assert_false(desk_rate_is(NULL));
}

static void test_wait(void **state)
{
    (void)state;
    static const struct {
        int64_t s;
        const char *want;
    } cases[] = {{-5, "0 s"},
                 {59, "59 s"},
                 {60, "1 min"},
                 {1020, "17 min"},
                 {3599, "59 min"},
                 {3600, "1 h 00 min"},
                 {86399, "23 h 59 min"},
                 {2 * 86400 + 4 * 3600, "2 d 04 h"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b;
        buf_init(&b, 64);
        desk_fmt_wait(&b, cases[i].s);
        assert_string_equal(buf_str(&b), cases[i].want);
        buf_free(&b);
    }
}

static void test_forget(void **state)
{
    (void)state;
    int64_t id = 0;
    assert_int_equal(desk_forget_parse("forget:6100000001", &id), 0);
    assert_true(id == INT64_C(6100000001));
    static const char *const bad[] = {"forget:",   "forget:#1", "forget:0", "forget:-1",
                                      "forget:1x", "forget",    "take:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(desk_forget_parse(bad[i], &id), -EINVAL);
    assert_true(desk_forget_is("forget:x"));
    assert_false(desk_forget_is(NULL));

    /* /forget: a user for themselves, a supervisor with an id; never in a group from users. */
    assert_int_equal(desk_route(DESK_CMD_FORGET, false, DESK_PRIVATE), DESK_ROUTE_USER);
    assert_int_equal(desk_route(DESK_CMD_FORGET, true, DESK_PRIVATE), DESK_ROUTE_STAFF);
    assert_int_equal(desk_route(DESK_CMD_FORGET, true, DESK_STAFF_GROUP), DESK_ROUTE_STAFF);
    assert_int_equal(desk_route(DESK_CMD_FORGET, false, DESK_STAFF_GROUP), DESK_ROUTE_IGNORE);
    assert_true(desk_cmd_is_supervisor(DESK_CMD_FORGET));
    assert_true(desk_cmd_is_supervisor(DESK_CMD_EXPORT));
    struct desk_args a;
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_FORGET, "", &a), 0);
    assert_true(a.user_id == 0);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_FORGET, " 42 ", &a), 0);
    assert_true(a.user_id == 42);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_FORGET, "#42", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_FORGET, "42 43", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_EXPORT, "#7", &a), 0);
    assert_true(a.request_id == 7);
}

static void test_route(void **state)
{
    /* users in private */
    assert_int_equal(desk_route(DESK_CMD_START, false, DESK_PRIVATE), DESK_ROUTE_USER);
    assert_int_equal(desk_route(DESK_CMD_CANCEL, false, DESK_PRIVATE), DESK_ROUTE_USER);
    assert_int_equal(desk_route(DESK_CMD_TAKE, false, DESK_PRIVATE), DESK_ROUTE_REFUSE);
    assert_int_equal(desk_route(DESK_CMD_STATS, false, DESK_PRIVATE), DESK_ROUTE_REFUSE);
    assert_int_equal(desk_route(DESK_CMD_UNKNOWN, false, DESK_PRIVATE), DESK_ROUTE_UNKNOWN);
    assert_int_equal(desk_route(DESK_CMD_NONE, false, DESK_PRIVATE), DESK_ROUTE_IGNORE);
    /* staff in private */
    assert_int_equal(desk_route(DESK_CMD_TAKE, true, DESK_PRIVATE), DESK_ROUTE_STAFF);
    assert_int_equal(desk_route(DESK_CMD_HELP, true, DESK_PRIVATE), DESK_ROUTE_STAFF_HELP);
    assert_int_equal(desk_route(DESK_CMD_STATUS, true, DESK_PRIVATE), DESK_ROUTE_STAFF_HELP);
    assert_int_equal(desk_route(DESK_CMD_UNKNOWN, true, DESK_PRIVATE), DESK_ROUTE_UNKNOWN);
    /* the staff group */
    assert_int_equal(desk_route(DESK_CMD_LIST, true, DESK_STAFF_GROUP), DESK_ROUTE_STAFF);
    assert_int_equal(desk_route(DESK_CMD_LIST, false, DESK_STAFF_GROUP), DESK_ROUTE_REFUSE);
    assert_int_equal(desk_route(DESK_CMD_HELP, true, DESK_STAFF_GROUP), DESK_ROUTE_STAFF_HELP);
    assert_int_equal(desk_route(DESK_CMD_HELP, false, DESK_STAFF_GROUP), DESK_ROUTE_IGNORE);
    assert_int_equal(desk_route(DESK_CMD_CANCEL, true, DESK_STAFF_GROUP), DESK_ROUTE_IGNORE);
    assert_int_equal(desk_route(DESK_CMD_UNKNOWN, true, DESK_STAFF_GROUP), DESK_ROUTE_IGNORE);
}

static void test_transition(void **state)
{
    enum desk_status to = DESK_CLOSED;
    /* take */
    assert_int_equal(desk_transition(DESK_CMD_TAKE, DESK_OPEN, 0, 5, &to), 0);
    assert_int_equal(to, DESK_ASSIGNED);
    assert_int_equal(desk_transition(DESK_CMD_TAKE, DESK_ASSIGNED, 5, 5, &to), -EALREADY);
    to = DESK_OPEN;
    assert_int_equal(desk_transition(DESK_CMD_TAKE, DESK_ASSIGNED, 6, 5, &to), 0);
    assert_int_equal(to, DESK_ASSIGNED);
    assert_int_equal(desk_transition(DESK_CMD_TAKE, DESK_SOLVED, 5, 5, &to), -EPERM);
    assert_int_equal(desk_transition(DESK_CMD_TAKE, DESK_CLOSED, 0, 5, &to), -EPERM);
    /* reply */
    assert_int_equal(desk_transition(DESK_CMD_REPLY, DESK_OPEN, 0, 5, &to), 0);
    assert_int_equal(to, DESK_ASSIGNED);
    assert_int_equal(desk_transition(DESK_CMD_REPLY, DESK_ASSIGNED, 6, 5, &to), 0);
    assert_int_equal(to, DESK_ASSIGNED);
    assert_int_equal(desk_transition(DESK_CMD_REPLY, DESK_SOLVED, 6, 5, &to), -EPERM);
    /* solve */
    assert_int_equal(desk_transition(DESK_CMD_SOLVE, DESK_OPEN, 0, 5, &to), 0);
    assert_int_equal(to, DESK_SOLVED);
    assert_int_equal(desk_transition(DESK_CMD_SOLVE, DESK_SOLVED, 5, 5, &to), -EALREADY);
    assert_int_equal(desk_transition(DESK_CMD_SOLVE, DESK_CLOSED, 5, 5, &to), -EPERM);
    /* close */
    assert_int_equal(desk_transition(DESK_CMD_CLOSE, DESK_SOLVED, 5, 5, &to), 0);
    assert_int_equal(to, DESK_CLOSED);
    assert_int_equal(desk_transition(DESK_CMD_CLOSE, DESK_CLOSED, 5, 5, &to), -EALREADY);
    /* reopen */
    assert_int_equal(desk_transition(DESK_CMD_REOPEN, DESK_CLOSED, 5, 5, &to), 0);
    assert_int_equal(to, DESK_OPEN);
    assert_int_equal(desk_transition(DESK_CMD_REOPEN, DESK_ASSIGNED, 5, 5, &to), -EALREADY);
    /* cancel */
    assert_int_equal(desk_transition(DESK_CMD_CANCEL, DESK_ASSIGNED, 5, 9, &to), 0);
    assert_int_equal(to, DESK_CLOSED);
    assert_int_equal(desk_transition(DESK_CMD_CANCEL, DESK_SOLVED, 5, 9, &to), -EALREADY);
    /* not an action */
    assert_int_equal(desk_transition(DESK_CMD_LIST, DESK_OPEN, 0, 5, &to), -EPERM);
}

static char *fmt_user(const char *first, const char *last, const char *user, int64_t id)
{
    static char out[128];
    struct buf b;
    buf_init(&b, 100);
    desk_fmt_user(&b, first, last, user, id);
    snprintf(out, sizeof(out), "%s", buf_str(&b));
    buf_free(&b);
    return out;
}

static char *fmt_age(int64_t s)
{
    static char out[64];
    struct buf b;
    buf_init(&b, 60);
    desk_fmt_age(&b, s);
    snprintf(out, sizeof(out), "%s", buf_str(&b));
    buf_free(&b);
    return out;
}

static char *fmt_preview(const char *text, size_t max)
{
    static char out[256];
    struct buf b;
    buf_init(&b, 200);
    desk_fmt_preview(&b, text, max);
    snprintf(out, sizeof(out), "%s", buf_str(&b));
    buf_free(&b);
    return out;
}

static void test_formatting(void **state)
{
    assert_string_equal(fmt_user("Alice", "Novak", "alice_n", 1), "Alice Novak (@alice_n)");
    assert_string_equal(fmt_user("Alice", NULL, NULL, 1), "Alice");
    assert_string_equal(fmt_user("", "", "zed", 77), "user 77 @zed");
    assert_string_equal(fmt_user(NULL, NULL, NULL, 6123456789), "user 6123456789");

    assert_string_equal(fmt_age(-5), "0s");
    assert_string_equal(fmt_age(45), "45s");
    assert_string_equal(fmt_age(60), "1m");
    assert_string_equal(fmt_age(3599), "59m");
    assert_string_equal(fmt_age(3600 + 5 * 60), "1h 05m");
    assert_string_equal(fmt_age(2 * 86400 + 4 * 3600 + 59), "2d 04h");

    assert_string_equal(fmt_preview("short", 10), "short");
    assert_string_equal(fmt_preview("two\nlines\there", 40), "two lines here");
    assert_string_equal(fmt_preview("ééééééééééé", 4), "éééé…");
}

static void test_notes_and_topics(void **state)
{
    /* /note: staff only, a request and a text, like /solve */
    assert_int_equal(desk_cmd_lookup("note"), DESK_CMD_NOTE);
    assert_true(desk_cmd_is_staff(DESK_CMD_NOTE));
    assert_false(desk_cmd_is_supervisor(DESK_CMD_NOTE));
    assert_int_equal(desk_route(DESK_CMD_NOTE, false, DESK_STAFF_GROUP), DESK_ROUTE_REFUSE);
    struct desk_args a;
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_NOTE, "12 call back\nat 5", &a), 0);
    assert_int_equal(a.request_id, 12);
    assert_string_equal(a.text, "call back\nat 5");
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_NOTE, "12", &a), -EINVAL);
    assert_int_equal(desk_cmd_parse_args(DESK_CMD_NOTE, "call back", &a), -EINVAL);

    /* "//" starts a note */
    const char *t = NULL;
    assert_true(desk_topic_is_note("// she is upset", &t));
    assert_string_equal(t, "she is upset");
    assert_true(desk_topic_is_note("//x", &t));
    assert_string_equal(t, "x");
    assert_false(desk_topic_is_note(" // indented", &t));
    assert_false(desk_topic_is_note("/note x", &t));
    assert_false(desk_topic_is_note("http://x", &t));
    assert_false(desk_topic_is_note(NULL, &t));

    /* topic names: request, name, status; cut to 128 code points */
    struct buf b;
    buf_init(&b, 4096);
    desk_topic_name(&b, 12, "Alice", "Novak", "alice", 1, "open");
    assert_string_equal(buf_str(&b), "#12 Alice Novak · open");
    buf_reset(&b);
    desk_topic_name(&b, 3, NULL, NULL, "zed", 77, "solved");
    assert_string_equal(buf_str(&b), "#3 @zed · solved");
    buf_reset(&b);
    desk_topic_name(&b, 3, "", NULL, NULL, 6123456789, "closed");
    assert_string_equal(buf_str(&b), "#3 user 6123456789 · closed");
    buf_reset(&b);
    char longname[600];
    memset(longname, 'e', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    desk_topic_name(&b, 123456, longname, "Line\nbreak", NULL, 1, "assigned");
    assert_int_equal(desk_text_codepoints(buf_str(&b), buf_len(&b)), DESK_TOPIC_NAME_MAX);
    assert_true(strncmp(buf_str(&b), "#123456 eeee", 12) == 0);
    assert_non_null(strstr(buf_str(&b), "e… · assigned"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_short),  cmocka_unit_test(test_split_prefers_lines_then_spaces),
        cmocka_unit_test(test_split_utf8),   cmocka_unit_test(test_split_transcript),
        cmocka_unit_test(test_blank),        cmocka_unit_test(test_status),
        cmocka_unit_test(test_commands),     cmocka_unit_test(test_args),
        cmocka_unit_test(test_callback),     cmocka_unit_test(test_rate),
        cmocka_unit_test(test_wait),         cmocka_unit_test(test_forget),
        cmocka_unit_test(test_route),        cmocka_unit_test(test_transition),
        cmocka_unit_test(test_formatting),   cmocka_unit_test(test_notes_and_topics),
        cmocka_unit_test(test_split_short),  cmocka_unit_test(test_split_prefers_lines_then_spaces),
        cmocka_unit_test(test_split_utf8),   cmocka_unit_test(test_split_transcript),
        cmocka_unit_test(test_blank),        cmocka_unit_test(test_status),
        cmocka_unit_test(test_commands),     cmocka_unit_test(test_args),
        cmocka_unit_test(test_callback),     cmocka_unit_test(test_rate),
        cmocka_unit_test(test_wait),         cmocka_unit_test(test_forget),
        cmocka_unit_test(test_route),        cmocka_unit_test(test_transition),
        cmocka_unit_test(test_formatting),   cmocka_unit_test(test_search_args),
        cmocka_unit_test(test_canned_parse), cmocka_unit_test(test_canned_words),
        cmocka_unit_test(test_similar_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
