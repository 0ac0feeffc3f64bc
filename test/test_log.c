/*
 * test_log.c - unit tests for internal/log.c.
 *
 * Every test logs into an unlinked temporary file (or a pipe) given to
 * log_init() and reads back what an operator would see on stderr; JSON lines
 * are checked by parsing them with jansson, which rejects invalid UTF-8.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define LINE_MAX_BYTES 8192

static int g_out = -1;

/* ---- helpers ---------------------------------------------------------- */

static int tmpfile_fd(void)
{
    char path[] = "/tmp/tgdesk-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

static int setup(void **state)
{
    (void)state;
    log_reset();
    g_out = tmpfile_fd();
    log_init(LOG_INFO, LOG_FORMAT_JSON, g_out);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_reset();
    log_init(LOG_INFO, LOG_FORMAT_JSON, 2);
    if (g_out >= 0)
        close(g_out);
    g_out = -1;
    return 0;
}

/* Everything written to fd so far, NUL-terminated; caller frees. */
static char *read_all(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    assert_non_null(buf);
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    buf[size] = '\0';
    return buf;
}

/* Reads the output, empties the file and returns the text; caller frees. */
static char *take_output(void)
{
    char *text = read_all(g_out);
    assert_int_equal(ftruncate(g_out, 0), 0);
    assert_int_equal(lseek(g_out, 0, SEEK_SET), 0);
    return text;
}

/* Number of '\n'-terminated lines; the text must end with a newline if not empty. */
static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            n++;
    }
    if (*text)
        assert_int_equal(text[strlen(text) - 1], '\n');
    return n;
}

/* Takes the output, which must be exactly one line, and parses it as JSON. */
static json_t *take_json_line(char **ret_raw)
{
    char *text = take_output();
    assert_int_equal(count_lines(text), 1);
    json_error_t err;
    json_t *obj = json_loads(text, 0, &err);
    if (!obj)
        fail_msg("invalid JSON (%s): %s", err.text, text);
    assert_true(json_is_object(obj));
    if (ret_raw)
        *ret_raw = text;
    else
        free(text);
    return obj;
}

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("field %s is not a string", key);
    return json_string_value(v);
}

static void assert_no_output(void)
{
    char *text = take_output();
    assert_string_equal(text, "");
    free(text);
}

/* Checks "2026-11-28T06:00:00.123Z" and that it is within a minute of now. */
static void assert_timestamp_now(const char *ts)
{
    int y, mo, d, h, mi, s, ms;
    char z = 0;
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z),
                     8);
    assert_int_equal(z, 'Z');
    assert_true(ts[4] == '-' && ts[7] == '-' && ts[10] == 'T' && ts[19] == '.');
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    time_t t = timegm(&tm);
    time_t now = time(NULL);
    assert_true(t <= now + 1 && t >= now - 60);
    assert_in_range(ms, 0, 999);
}

/* ---- levels ----------------------------------------------------------- */

static void test_level_parse_and_name(void **state)
{
    (void)state;
    enum log_level lv = LOG_ERROR;

    assert_int_equal(log_level_parse("debug", false, &lv), 0);
    assert_int_equal(lv, LOG_DEBUG);
    assert_int_equal(log_level_parse("INFO", false, &lv), 0);
    assert_int_equal(lv, LOG_INFO);
    assert_int_equal(log_level_parse("Warn", false, &lv), 0);
    assert_int_equal(lv, LOG_WARN);
    assert_int_equal(log_level_parse("WARNING", false, &lv), 0);
    assert_int_equal(lv, LOG_WARN);
    assert_int_equal(log_level_parse("error", false, &lv), 0);
    assert_int_equal(lv, LOG_ERROR);

    /* off only when allowed; failures leave *ret alone. */
    assert_int_equal(log_level_parse("off", false, &lv), -EINVAL);
    assert_int_equal(lv, LOG_ERROR);
    assert_int_equal(log_level_parse("OFF", true, &lv), 0);
    assert_int_equal(lv, LOG_OFF);
    lv = LOG_INFO;
    assert_int_equal(log_level_parse("", true, &lv), -EINVAL);
    assert_int_equal(log_level_parse("inf", true, &lv), -EINVAL);
    assert_int_equal(log_level_parse("info ", true, &lv), -EINVAL);
    assert_int_equal(log_level_parse("trace", true, &lv), -EINVAL);
    assert_int_equal(log_level_parse(NULL, true, &lv), -EINVAL);
    assert_int_equal(lv, LOG_INFO);

    assert_string_equal(log_level_name(LOG_DEBUG), "debug");
    assert_string_equal(log_level_name(LOG_INFO), "info");
    assert_string_equal(log_level_name(LOG_WARN), "warn");
    assert_string_equal(log_level_name(LOG_ERROR), "error");
    assert_string_equal(log_level_name(LOG_OFF), "off");
}

static int g_evaluated;

static int side_effect(void)
{
    g_evaluated++;
    return 7;
}

static void test_level_filtering(void **state)
{
    (void)state;

    assert_false(log_enabled(LOG_DEBUG));
    assert_true(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
    assert_false(log_enabled(LOG_OFF));

    g_evaluated = 0;
    LOG(LOG_DEBUG, "hidden", LOG_INT("n", side_effect()));
    assert_int_equal(g_evaluated, 0);
    log_printf(LOG_DEBUG, "hidden %d", 1);
    log_emit(LOG_DEBUG, "hidden", NULL, 0);
    log_emit(LOG_OFF, "not a level to log at", NULL, 0);
    assert_no_output();

    LOG(LOG_INFO, "shown", LOG_INT("n", side_effect()));
    assert_int_equal(g_evaluated, 1);
    log_emit(LOG_WARN, "w", NULL, 0);
    log_emit(LOG_ERROR, "e", NULL, 0);
    char *text = take_output();
    assert_int_equal(count_lines(text), 3);
    assert_non_null(strstr(text, "\"level\":\"info\",\"msg\":\"shown\",\"n\":7}\n"));
    assert_non_null(strstr(text, "\"level\":\"warn\",\"msg\":\"w\"}\n"));
    assert_non_null(strstr(text, "\"level\":\"error\",\"msg\":\"e\"}\n"));
    free(text);

    log_init(LOG_DEBUG, LOG_FORMAT_JSON, g_out);
    assert_true(log_enabled(LOG_DEBUG));
    log_emit(LOG_DEBUG, "now visible", NULL, 0);
    json_t *obj = take_json_line(NULL);
    assert_string_equal(jstr(obj, "level"), "debug");
    json_decref(obj);

    log_init(LOG_OFF, LOG_FORMAT_JSON, g_out);
    for (int lv = LOG_DEBUG; lv <= LOG_OFF; lv++)
        assert_false(log_enabled((enum log_level)lv));
    log_emit(LOG_ERROR, "silenced", NULL, 0);
    log_printf(LOG_ERROR, "silenced %s", "too");
    assert_no_output();
}

/* ---- JSON format ------------------------------------------------------ */

static void test_json_fields(void **state)
{
    (void)state;
    char *raw;

    LOG(LOG_INFO, "hello", LOG_STR("user", "alice"), LOG_INT("n", -42), LOG_INT("min", INT64_MIN),
        LOG_INT("max", INT64_MAX), LOG_DBL("d", 0.25), LOG_DBL("big", 1e300), LOG_DBL("nan", NAN),
        LOG_DBL("inf", -INFINITY), LOG_BOOL("yes", true), LOG_BOOL("no", false),
        LOG_STR("none", NULL));
    json_t *obj = take_json_line(&raw);

    /* Fixed member order: ts, level, msg, then the fields as given. */
    assert_memory_equal(raw, "{\"ts\":\"", 7);
    assert_string_equal(raw + 7 + 24,
                        "\",\"level\":\"info\",\"msg\":\"hello\",\"user\":\"alice\",\"n\":-42,"
                        "\"min\":-9223372036854775808,\"max\":9223372036854775807,\"d\":0.25,"
                        "\"big\":1e+300,\"nan\":null,\"inf\":null,\"yes\":true,\"no\":false,"
                        "\"none\":null}\n");

    assert_timestamp_now(jstr(obj, "ts"));
    assert_string_equal(jstr(obj, "level"), "info");
    assert_string_equal(jstr(obj, "msg"), "hello");
    assert_string_equal(jstr(obj, "user"), "alice");
    assert_true(json_integer_value(json_object_get(obj, "n")) == -42);
    assert_true(json_integer_value(json_object_get(obj, "min")) == INT64_MIN);
    assert_true(json_integer_value(json_object_get(obj, "max")) == INT64_MAX);
    assert_true(json_number_value(json_object_get(obj, "d")) == 0.25);
    assert_true(json_is_null(json_object_get(obj, "nan")));
    assert_true(json_is_true(json_object_get(obj, "yes")));
    assert_true(json_is_false(json_object_get(obj, "no")));
    assert_null(json_object_get(obj, "truncated"));
    json_decref(obj);
    free(raw);

    /* No fields at all, and a NULL message. */
    log_emit(LOG_WARN, NULL, NULL, 0);
    obj = take_json_line(&raw);
    assert_string_equal(jstr(obj, "msg"), "");
    assert_int_equal(json_object_size(obj), 3);
    json_decref(obj);
    free(raw);
}

static void test_json_escaping(void **state)
{
    (void)state;
    const char *nasty = "q\"uote b\\ack nl\n cr\r tab\t bs\b ff\f \x01\x1f\x7f esc\x1b[31m "
                        "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8 end";
    char *raw;

    LOG(LOG_INFO, nasty, LOG_STR("v", nasty), LOG_STR("k\"ey\n", "x"));
    json_t *obj = take_json_line(&raw);
    assert_string_equal(jstr(obj, "msg"), nasty);
    assert_string_equal(jstr(obj, "v"), nasty);
    assert_string_equal(jstr(obj, "k\"ey\n"), "x");
    /* Control characters are escaped, never raw. */
    assert_non_null(strstr(raw, "q\\\"uote b\\\\ack nl\\n cr\\r tab\\t bs\\b ff\\f "
                                "\\u0001\\u001f\\u007f esc\\u001b[31m"));
    for (const char *p = raw; *p; p++) {
        if (p[1] != '\0')
            assert_true((unsigned char)*p >= 0x20);
    }
    json_decref(obj);
    free(raw);
}

static void test_json_invalid_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a\xff"
         "b",
         "a\xef\xbf\xbd"
         "b"},
        {"\xfe\xff", "\xef\xbf\xbd\xef\xbf\xbd"},
        /* Truncated sequences: one U+FFFD for the maximal subpart. */
        {"x\xc3", "x\xef\xbf\xbd"},
        {"x\xe2\x82y", "x\xef\xbf\xbdy"},
        {"x\xf0\x9f\x98", "x\xef\xbf\xbd"},
        /* Overlong, surrogate, beyond U+10FFFF, stray continuation. */
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\x80", "\xef\xbf\xbd"},
        /* Valid edges stay as they are. */
        {"\xed\x9f\xbf \xee\x80\x80 \xf4\x8f\xbf\xbf \xc2\x80",
         "\xed\x9f\xbf \xee\x80\x80 \xf4\x8f\xbf\xbf \xc2\x80"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        LOG(LOG_INFO, cases[i].in, LOG_STR("v", cases[i].in));
        json_t *obj = take_json_line(NULL);
        assert_string_equal(jstr(obj, "msg"), cases[i].out);
        assert_string_equal(jstr(obj, "v"), cases[i].out);
        json_decref(obj);
    }
}

/* ---- text format ------------------------------------------------------ */

static void test_text_format(void **state)
{
    (void)state;
    log_init(LOG_INFO, LOG_FORMAT_TEXT, g_out);

    LOG(LOG_INFO, "hello world", LOG_STR("user", "alice"), LOG_STR("q", "has space"),
        LOG_STR("eq", "a=b"), LOG_STR("quote", "say \"hi\""), LOG_STR("nl", "a\nb"),
        LOG_STR("bs", "c:\\x"), LOG_STR("empty", ""), LOG_STR("none", NULL), LOG_INT("n", 42),
        LOG_BOOL("ok", true), LOG_DBL("d", 0.5), LOG_DBL("nan", NAN), LOG_DBL("inf", INFINITY));
    char *text = take_output();
    assert_int_equal(count_lines(text), 1);
    assert_true(strlen(text) > 25);
    assert_int_equal(text[24], ' ');
    text[24] = '\0';
    assert_timestamp_now(text);
    assert_string_equal(text + 25,
                        "INFO  hello world user=alice q=\"has space\" eq=\"a=b\" "
                        "quote=\"say \\\"hi\\\"\" nl=\"a\\nb\" bs=\"c:\\\\x\" empty=\"\" none=null "
                        "n=42 ok=true d=0.5 nan=NaN inf=+Inf\n");
    free(text);

    /* A multi-line message stays on one line; invalid UTF-8 is replaced. */
    log_emit(LOG_ERROR, "line1\nline2\ttab \xff", NULL, 0);
    LOG(LOG_WARN, "w", LOG_INT("n", 1));
    text = take_output();
    assert_int_equal(count_lines(text), 2);
    assert_non_null(strstr(text, " ERROR line1\\nline2\\ttab \xef\xbf\xbd\n"));
    assert_non_null(strstr(text, " WARN  w n=1\n"));
    free(text);

    log_init(LOG_DEBUG, LOG_FORMAT_TEXT, g_out);
    log_printf(LOG_DEBUG, "count=%d", 3);
    text = take_output();
    assert_non_null(strstr(text, "Z DEBUG count=3\n"));
    free(text);
}

/* ---- secrets ---------------------------------------------------------- */

static void test_redact(void **state)
{
    (void)state;
    char out[128];

    /* Nothing registered: a plain bounded copy. */
    assert_int_equal(log_redact("plain", out, sizeof out), 5);
    assert_string_equal(out, "plain");

    assert_int_equal(log_add_secret(NULL), 0);
    assert_int_equal(log_add_secret(""), 0);
    /* The short one first: longest-first must not depend on the order of registration. */
    assert_int_equal(log_add_secret("abc"), 0);
    assert_int_equal(log_add_secret("abcdef"), 0);
    assert_int_equal(log_add_secret("aa"), 0);

    assert_int_equal(log_redact("xabcdefyabcz", out, sizeof out), 9);
    assert_string_equal(out, "x***y***z");
    assert_int_equal(log_redact("abcabc", out, sizeof out), 6);
    assert_string_equal(out, "******");
    assert_int_equal(log_redact("abcdefabc|abcde", out, sizeof out), 12);
    assert_string_equal(out, "******|***de");
    /* Overlapping occurrences: the first match wins, the rest is plain text. */
    assert_int_equal(log_redact("aaa", out, sizeof out), 4);
    assert_string_equal(out, "***a");
    assert_int_equal(log_redact("aaaa", out, sizeof out), 6);
    assert_string_equal(out, "******");
    assert_int_equal(log_redact("ab", out, sizeof out), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(log_redact("", out, sizeof out), 0);
    assert_string_equal(out, "");

    /* Bounded output, always terminated, never a piece of a secret. */
    assert_int_equal(log_redact("abcdef-tail", out, 5), 4);
    assert_string_equal(out, "***-");
    assert_int_equal(log_redact("xy abcdef", out, 5), 4);
    assert_string_equal(out, "xy *");
    assert_int_equal(log_redact("xyz", out, 1), 0);
    assert_string_equal(out, "");
    out[0] = 'Z';
    assert_int_equal(log_redact("xyz", out, 0), 0);
    assert_int_equal(out[0], 'Z');

    /* Duplicates are ignored and take no slot; the table holds 16. */
    assert_int_equal(log_add_secret("abc"), 0);
    char name[32];
    for (int i = 3; i < 16; i++) {
        snprintf(name, sizeof name, "secret-%02d", i);
        assert_int_equal(log_add_secret(name), 0);
    }
    assert_int_equal(log_add_secret("one-too-many"), -ENOSPC);
    assert_int_equal(log_add_secret("secret-15"), 0);
    assert_int_equal(log_redact("k=secret-15;one-too-many", out, sizeof out), 18);
    assert_string_equal(out, "k=***;one-too-many");

    /* log_reset forgets them. */
    log_reset();
    assert_int_equal(log_redact("abc", out, sizeof out), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(log_add_secret("one-too-many"), 0);
}

#define TOKEN      "123456:AAH-token"
#define TOKEN_LONG "123456:AAH-token-longer"

static void assert_no_secret_in(const char *text)
{
    assert_null(strstr(text, "123456"));
    assert_null(strstr(text, "AAH"));
}

static void log_with_secrets(void)
{
    LOG(LOG_ERROR, "curl: https://api/bot" TOKEN "/send failed; " TOKEN_LONG " " TOKEN,
        LOG_STR("url", "https://api/bot" TOKEN "/sendMessage"),
        LOG_STR("detail", TOKEN TOKEN_LONG "x"), LOG_INT("n", 1));
    log_printf(LOG_WARN, "token=%s twice=%s%s", TOKEN, TOKEN_LONG, TOKEN);
}

static void test_redaction_in_output(void **state)
{
    (void)state;
    assert_int_equal(log_add_secret(TOKEN), 0);
    assert_int_equal(log_add_secret(TOKEN_LONG), 0);

    log_with_secrets();
    char *text = take_output();
    assert_int_equal(count_lines(text), 2);
    assert_no_secret_in(text);
    char *nl = strchr(text, '\n');
    *nl = '\0';
    json_t *obj = json_loads(text, 0, NULL);
    assert_non_null(obj);
    assert_string_equal(jstr(obj, "msg"), "curl: https://api/bot***/send failed; *** ***");
    assert_string_equal(jstr(obj, "url"), "https://api/bot***/sendMessage");
    assert_string_equal(jstr(obj, "detail"), "******x");
    json_decref(obj);
    obj = json_loads(nl + 1, 0, NULL);
    assert_non_null(obj);
    assert_string_equal(jstr(obj, "msg"), "token=*** twice=******");
    json_decref(obj);
    free(text);

    log_init(LOG_INFO, LOG_FORMAT_TEXT, g_out);
    log_with_secrets();
    text = take_output();
    assert_int_equal(count_lines(text), 2);
    assert_no_secret_in(text);
    assert_non_null(strstr(text, " ERROR curl: https://api/bot***/send failed; *** *** "
                                 "url=https://api/bot***/sendMessage detail=******x n=1\n"));
    assert_non_null(strstr(text, " WARN  token=*** twice=******\n"));
    free(text);
}

/* ---- truncation ------------------------------------------------------- */

static void assert_one_bounded_json_line(json_t **ret)
{
    char *raw;
    json_t *obj = take_json_line(&raw);
    assert_true(strlen(raw) <= LINE_MAX_BYTES);
    assert_true(json_is_true(json_object_get(obj, "truncated")));
    free(raw);
    *ret = obj;
}

static void test_truncation_json(void **state)
{
    (void)state;
    size_t big = 20 * 1024;
    char *msg = malloc(big + 1);
    assert_non_null(msg);
    for (size_t i = 0; i < big; i++)
        msg[i] = (char)('a' + i % 26);
    msg[big] = '\0';
    json_t *obj;

    /* A long message is clipped but the fields behind it survive. */
    LOG(LOG_ERROR, msg, LOG_INT("update_id", 123456789), LOG_STR("request_id", "r-1"));
    assert_one_bounded_json_line(&obj);
    const char *m = jstr(obj, "msg");
    assert_true(strlen(m) > 4000);
    assert_memory_equal(m, msg, strlen(m));
    assert_true(json_integer_value(json_object_get(obj, "update_id")) == 123456789);
    assert_string_equal(jstr(obj, "request_id"), "r-1");
    json_decref(obj);

    /* No fields: the message takes nearly all of the line. */
    log_emit(LOG_INFO, msg, NULL, 0);
    assert_one_bounded_json_line(&obj);
    assert_true(strlen(jstr(obj, "msg")) > 8000);
    json_decref(obj);

    /* A huge string field, then one that no longer fits. */
    LOG(LOG_INFO, "short", LOG_STR("body", msg), LOG_INT("after", 1));
    assert_one_bounded_json_line(&obj);
    assert_string_equal(jstr(obj, "msg"), "short");
    assert_true(strlen(jstr(obj, "body")) > 4000);
    assert_null(json_object_get(obj, "after"));
    json_decref(obj);

    /* Characters that grow when escaped, and multi-byte ones, are never split. */
    for (size_t i = 0; i < big; i++)
        msg[i] = (i % 3 == 0) ? '"' : '\x01';
    log_emit(LOG_INFO, msg, NULL, 0);
    assert_one_bounded_json_line(&obj);
    json_decref(obj);
    for (size_t i = 0; i + 4 <= big; i += 4)
        memcpy(msg + i, "\xf0\x9f\x98\x80", 4);
    log_emit(LOG_INFO, msg, NULL, 0);
    assert_one_bounded_json_line(&obj);
    json_decref(obj);

    /* Very many fields. */
    struct log_kv *kv = calloc(2000, sizeof *kv);
    assert_non_null(kv);
    for (size_t i = 0; i < 2000; i++)
        kv[i] = LOG_INT("field_number", i);
    log_emit(LOG_WARN, "many", kv, 2000);
    assert_one_bounded_json_line(&obj);
    json_decref(obj);
    free(kv);

    /* log_printf beyond the buffer. */
    log_printf(LOG_INFO, "%s", msg);
    assert_one_bounded_json_line(&obj);
    json_decref(obj);

    free(msg);
}

static void test_truncation_text(void **state)
{
    (void)state;
    log_init(LOG_INFO, LOG_FORMAT_TEXT, g_out);
    size_t big = 20 * 1024;
    char *msg = malloc(big + 1);
    assert_non_null(msg);
    memset(msg, 'x', big);
    msg[big] = '\0';

    LOG(LOG_INFO, msg, LOG_STR("v", "with space"), LOG_STR("body", msg));
    char *text = take_output();
    assert_int_equal(count_lines(text), 1);
    assert_true(strlen(text) <= LINE_MAX_BYTES);
    assert_non_null(strstr(text, " v=\"with space\" body=xxx"));
    size_t len = strlen(text);
    const char *tail = " truncated=true\n";
    assert_string_equal(text + len - strlen(tail), tail);
    free(text);
    free(msg);
}

/* ---- sink ------------------------------------------------------------- */

#define MAX_EVENTS 16

struct sink_event {
    enum log_level level;
    char *msg;
    char *context;
};

struct sink_log {
    struct sink_event ev[MAX_EVENTS];
    size_t n;
};

static void record_sink(void *userdata, enum log_level level, const char *msg,
                        const char *context_json)
{
    struct sink_log *sl = userdata;
    assert_true(sl->n < MAX_EVENTS);
    sl->ev[sl->n++] =
        (struct sink_event){.level = level, .msg = strdup(msg), .context = strdup(context_json)};
}

static void sink_log_clear(struct sink_log *sl)
{
    for (size_t i = 0; i < sl->n; i++) {
        free(sl->ev[i].msg);
        free(sl->ev[i].context);
    }
    sl->n = 0;
}

static json_t *parse_context(const char *text)
{
    json_error_t err;
    json_t *obj = json_loads(text, 0, &err);
    if (!obj)
        fail_msg("invalid context JSON (%s): %s", err.text, text);
    assert_true(json_is_object(obj));
    return obj;
}

static void test_sink(void **state)
{
    (void)state;
    struct sink_log sl = {0};

    assert_int_equal(log_add_secret("hunter2"), 0);
    log_init(LOG_ERROR, LOG_FORMAT_JSON, g_out);
    log_set_sink(LOG_WARN, record_sink, &sl);

    /* The sink lowers what LOG() evaluates, but not what is printed. */
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));

    log_emit(LOG_DEBUG, "debug", NULL, 0);
    LOG(LOG_INFO, "info", LOG_INT("n", 1));
    LOG(LOG_WARN, "slow query", LOG_STR("query", "ticket_take"), LOG_DBL("seconds", 0.5));
    LOG(LOG_ERROR, "db failed: password hunter2 rejected", LOG_STR("dsn", "password=hunter2"),
        LOG_STR("bad", "\xff"));
    LOG(LOG_WARN, "ticket closed", LOG_INT("ticket_id", 42), LOG_STR("by", "admin \"bob\""));
    log_emit(LOG_WARN, "no context", NULL, 0);
    log_printf(LOG_WARN, "printf %s", "hunter2");

    assert_int_equal(sl.n, 5);

    assert_int_equal(sl.ev[0].level, LOG_WARN);
    assert_string_equal(sl.ev[0].msg, "slow query");
    json_t *ctx = parse_context(sl.ev[0].context);
    assert_int_equal(json_object_size(ctx), 2);
    assert_string_equal(jstr(ctx, "query"), "ticket_take");
    assert_true(json_number_value(json_object_get(ctx, "seconds")) == 0.5);
    json_decref(ctx);

    assert_int_equal(sl.ev[1].level, LOG_ERROR);
    assert_string_equal(sl.ev[1].msg, "db failed: password *** rejected");
    ctx = parse_context(sl.ev[1].context);
    assert_string_equal(jstr(ctx, "dsn"), "password=***");
    assert_string_equal(jstr(ctx, "bad"), "\xef\xbf\xbd");
    json_decref(ctx);

    assert_int_equal(sl.ev[2].level, LOG_WARN);
    assert_string_equal(sl.ev[2].msg, "ticket closed");
    ctx = parse_context(sl.ev[2].context);
    assert_true(json_integer_value(json_object_get(ctx, "ticket_id")) == 42);
    assert_string_equal(jstr(ctx, "by"), "admin \"bob\"");
    json_decref(ctx);

    assert_int_equal(sl.ev[3].level, LOG_WARN);
    assert_string_equal(sl.ev[3].msg, "no context");
    assert_string_equal(sl.ev[3].context, "{}");

    assert_int_equal(sl.ev[4].level, LOG_WARN);
    assert_string_equal(sl.ev[4].msg, "printf ***");
    assert_string_equal(sl.ev[4].context, "{}");

    /* Only the error reached the fd. */
    json_t *obj = take_json_line(NULL);
    assert_string_equal(jstr(obj, "msg"), "db failed: password *** rejected");
    json_decref(obj);
    sink_log_clear(&sl);

    /* A sink at off is no sink: it gets nothing, even an error, with the fd at off too. */
    log_init(LOG_OFF, LOG_FORMAT_JSON, g_out);
    log_set_sink(LOG_OFF, record_sink, &sl);
    assert_false(log_enabled(LOG_ERROR));
    log_emit(LOG_ERROR, "dropped", NULL, 0);
    LOG(LOG_ERROR, "dropped too", LOG_BOOL("ok", true));
    assert_int_equal(sl.n, 0);
    assert_no_output();

    /* A sink at debug sees debug events the fd filters out. */
    log_set_sink(LOG_DEBUG, record_sink, &sl);
    assert_true(log_enabled(LOG_DEBUG));
    LOG(LOG_DEBUG, "checkout", LOG_INT("conn", 3));
    assert_int_equal(sl.n, 1);
    assert_string_equal(sl.ev[0].context, "{\"conn\":3}");
    sink_log_clear(&sl);

    /* Removed: no more calls. */
    log_set_sink(LOG_DEBUG, NULL, &sl);
    assert_false(log_enabled(LOG_ERROR));
    log_emit(LOG_ERROR, "after removal", NULL, 0);
    assert_int_equal(sl.n, 0);

    /* log_reset drops the sink too. */
    log_set_sink(LOG_DEBUG, record_sink, &sl);
    log_reset();
    log_emit(LOG_ERROR, "after reset", NULL, 0);
    assert_int_equal(sl.n, 0);
}

/*
 * A log_printf message longer than the buffer is cut; a secret before the cut,
 * across it or right at it must not leak a single character.
 */
static void test_printf_cut_inside_secret(void **state)
{
    (void)state;
    struct sink_log sl = {0};
    const char *secret = "SuperSecretValue";
    char trailer[65];

    memset(trailer, '-', 64);
    trailer[64] = '\0';
    assert_int_equal(log_add_secret(secret), 0);
    log_set_sink(LOG_INFO, record_sink, &sl);
    for (size_t pad = LINE_MAX_BYTES - 40; pad < LINE_MAX_BYTES; pad++) {
        char *padding = malloc(pad + 1);
        assert_non_null(padding);
        memset(padding, '.', pad);
        padding[pad] = '\0';
        log_printf(LOG_INFO, "%s%s%s", padding, secret, trailer);
        free(padding);

        assert_int_equal(sl.n, 1);
        const char *m = sl.ev[0].msg;
        assert_true(strlen(m) < LINE_MAX_BYTES);
        assert_true(strlen(m) > LINE_MAX_BYTES - 40);
        assert_int_equal(strspn(m, ".*-"), strlen(m));
        if (pad + 3 < LINE_MAX_BYTES)
            assert_non_null(strstr(m, "***"));
        else if (pad < LINE_MAX_BYTES - 1)
            assert_int_equal(m[strlen(m) - 1], '*');
        sink_log_clear(&sl);

        char *raw;
        json_t *obj = take_json_line(&raw);
        assert_true(json_is_true(json_object_get(obj, "truncated")));
        assert_null(strstr(raw, "Su"));
        assert_true(strlen(raw) <= LINE_MAX_BYTES);
        json_decref(obj);
        free(raw);
    }
}

/* ---- errno ------------------------------------------------------------ */

static void test_errno_preserved(void **state)
{
    (void)state;
    struct sink_log sl = {0};

    errno = EXDEV;
    LOG(LOG_INFO, "hello", LOG_INT("n", 1));
    assert_int_equal(errno, EXDEV);
    log_printf(LOG_INFO, "x %d", 2);
    assert_int_equal(errno, EXDEV);
    char *text = take_output();
    assert_int_equal(count_lines(text), 2);
    free(text);

    /* Even when the write itself fails. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    close(p[1]);
    log_init(LOG_INFO, LOG_FORMAT_JSON, p[0]);
    log_set_sink(LOG_INFO, record_sink, &sl);
    errno = ENOTTY;
    log_emit(LOG_ERROR, "to a closed fd", NULL, 0);
    assert_int_equal(errno, ENOTTY);
    assert_int_equal(sl.n, 1);
    sink_log_clear(&sl);
    log_init(LOG_INFO, LOG_FORMAT_JSON, g_out);
}

/* ---- partial writes ----------------------------------------------- */

static void on_alarm(int sig)
{
    (void)sig;
}

struct slow_reader {
    int fd;
    size_t lines, bad;
    char line[LINE_MAX_BYTES + 1];
    size_t len;
};

/* Reads in small bites, slowly, so the writer sees a full pipe. */
static void *slow_drain(void *arg)
{
    struct slow_reader *r = arg;
    char buf[512];
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (r->len < LINE_MAX_BYTES)
                    r->line[r->len++] = buf[i];
                continue;
            }
            r->line[r->len] = '\0';
            json_t *obj = json_loads(r->line, 0, NULL);
            if (!obj || strlen(json_string_value(json_object_get(obj, "payload"))) != 6000)
                r->bad++;
            json_decref(obj);
            r->lines++;
            r->len = 0;
        }
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/*
 * Lines bigger than the pipe can take at once: on a non-blocking pipe write()
 * returns short counts and EAGAIN, on a blocking one signals interrupt it.
 * Either way every line must arrive whole.
 */
static void test_partial_writes(void **state)
{
    (void)state;
    char payload[6001];
    memset(payload, 'p', 6000);
    payload[6000] = '\0';

    struct sigaction sa = {.sa_handler = on_alarm}; /* No SA_RESTART: EINTR. */
    struct sigaction old_sa;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old_sa), 0);

    for (int nonblocking = 0; nonblocking <= 1; nonblocking++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
        if (nonblocking)
            assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
        struct slow_reader *r = calloc(1, sizeof *r);
        assert_non_null(r);
        r->fd = p[0];
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, slow_drain, r), 0);

        struct itimerval it = {{0, 500}, {0, 500}};
        if (!nonblocking)
            assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
        log_init(LOG_INFO, LOG_FORMAT_JSON, p[1]);
        for (int i = 0; i < 200; i++)
            LOG(LOG_INFO, "big", LOG_INT("i", i), LOG_STR("payload", payload));
        log_init(LOG_INFO, LOG_FORMAT_JSON, g_out);
        struct itimerval off = {{0, 0}, {0, 0}};
        assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);

        close(p[1]);
        assert_int_equal(pthread_join(t, NULL), 0);
        close(p[0]);
        assert_int_equal(r->bad, 0);
        assert_int_equal(r->lines, 200);
        assert_int_equal(r->len, 0);
        free(r);
    }
    assert_int_equal(sigaction(SIGALRM, &old_sa, NULL), 0);
}

/* ---- concurrency ------------------------------------------------------ */

#define N_THREADS 8
#define N_LINES   2000

static atomic_int g_sink_calls;

static void counting_sink(void *userdata, enum log_level level, const char *msg,
                          const char *context_json)
{
    (void)userdata;
    (void)msg;
    assert_int_equal(level, LOG_WARN);
    assert_non_null(strstr(context_json, "\"seq\":"));
    atomic_fetch_add(&g_sink_calls, 1);
}

static const char *g_payload; /* Long enough for lines beyond PIPE_BUF. */

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < N_LINES; i++) {
        size_t plen = (i % 50 == 0) ? 6000 : (size_t)(i % 97);
        char payload[6001];
        memcpy(payload, g_payload, plen);
        payload[plen] = '\0';
        LOG(i % 2 ? LOG_WARN : LOG_INFO, "concurrent line", LOG_INT("thread", id),
            LOG_INT("seq", i), LOG_STR("payload", payload));
    }
    return NULL;
}

struct reader {
    int fd;
    char *buf;
    size_t len, cap;
};

static void *drain(void *arg)
{
    struct reader *r = arg;
    for (;;) {
        if (r->cap - r->len < 65536) {
            r->cap = r->cap * 2 + 65536;
            r->buf = realloc(r->buf, r->cap + 1);
            if (!r->buf)
                abort();
        }
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    r->buf[r->len] = '\0';
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    char *payload = malloc(6001);
    assert_non_null(payload);
    for (int i = 0; i < 6000; i++)
        payload[i] = (i % 10 == 9) ? '"' : (char)('a' + i % 26);
    payload[6000] = '\0';
    g_payload = payload;

    int p[2];
    assert_int_equal(pipe(p), 0);
    struct reader rd = {.fd = p[0]};
    pthread_t reader_thread, threads[N_THREADS];
    assert_int_equal(pthread_create(&reader_thread, NULL, drain, &rd), 0);

    atomic_store(&g_sink_calls, 0);
    log_init(LOG_INFO, LOG_FORMAT_JSON, p[1]);
    log_set_sink(LOG_WARN, counting_sink, NULL);
    for (intptr_t t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, writer, (void *)t), 0);
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    log_init(LOG_INFO, LOG_FORMAT_JSON, g_out);
    close(p[1]);
    assert_int_equal(pthread_join(reader_thread, NULL), 0);
    close(p[0]);

    assert_int_equal(atomic_load(&g_sink_calls), N_THREADS * N_LINES / 2);
    assert_int_equal(count_lines(rd.buf), N_THREADS * N_LINES);

    static bool seen[N_THREADS][N_LINES];
    memset(seen, 0, sizeof seen);
    char *line = rd.buf;
    for (size_t k = 0; k < (size_t)N_THREADS * N_LINES; k++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_true(strlen(line) < LINE_MAX_BYTES);
        json_error_t err;
        json_t *obj = json_loads(line, 0, &err);
        if (!obj)
            fail_msg("line %zu is not JSON (%s): %.200s", k, err.text, line);
        json_int_t t = json_integer_value(json_object_get(obj, "thread"));
        json_int_t i = json_integer_value(json_object_get(obj, "seq"));
        assert_in_range(t, 0, N_THREADS - 1);
        assert_in_range(i, 0, N_LINES - 1);
        assert_false(seen[t][i]);
        seen[t][i] = true;
        size_t plen = (i % 50 == 0) ? 6000 : (size_t)(i % 97);
        assert_int_equal(strlen(jstr(obj, "payload")), plen);
        assert_memory_equal(jstr(obj, "payload"), payload, plen);
        assert_string_equal(jstr(obj, "level"), i % 2 ? "warn" : "info");
        assert_null(json_object_get(obj, "truncated"));
        json_decref(obj);
        line = nl + 1;
    }
    assert_string_equal(line, "");
    free(rd.buf);
    free(payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_level_parse_and_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filtering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redaction_in_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_printf_cut_inside_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
