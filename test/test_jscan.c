/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/jscan_jansson.h"
#include "util/jscan.h"

/*
 * util/jscan must accept exactly what jansson's json_loadb(..., JSON_DECODE_ANY)
 * accepts, and read values as jansson
 * reads them: every case below is judged against jansson, and against what we
 * expect jansson to say, so that a change of either shows.
 */

struct doc {
    const char *text;
    size_t len;
    bool valid; /* what jansson 2.14 says */
};

/* A literal, embedded NULs included. */
#define DOC(s, v)           \
    {                       \
        s, sizeof(s) - 1, v \
    }
/* Only the first n bytes of a literal: what follows must not be read. */
#define DOCN(s, n, v) \
    {                 \
        s, n, v       \
    }

static const struct doc docs[] = {
    /* nothing, or nothing but whitespace */
    DOC("", false),
    DOC(" ", false),
    DOC(" \t\r\n", false),
    DOC("\v1", false),
    DOC("\f1", false),
    DOC("\xc2\xa0"
        "1",
        false),                   /* U+00A0 is not JSON whitespace */
    DOC("\xef\xbb\xbf{}", false), /* a BOM */

    /* literals */
    DOC("true", true),
    DOC("false", true),
    DOC("null", true),
    DOC(" \t\r\nnull\n\r\t ", true),
    DOC("tru", false),
    DOC("True", false),
    DOC("NULL", false),
    DOC("nul", false),
    DOC("nulll", false),
    DOC("truefalse", false),
    DOC("true false", false),
    DOC("nan", false),
    DOC("NaN", false),
    DOC("Infinity", false),
    DOC("-Infinity", false),
    DOC("undefined", false),
    DOCN("truex", 4, true),
    DOCN("true", 3, false),

    /* trailing and leading garbage */
    DOC("1 2", false),
    DOC("1,", false),
    DOC("{}x", false),
    DOC("{}{}", false),
    DOC("[]]", false),
    DOC("[1]]", false),
    DOC("{\"a\":1}}", false),
    DOC("\"a\"\"b\"", false),
    DOC("x1", false),
    DOC("\0"
        "1",
        false),
    DOC("{}\0", false),
    DOC("[1] \xc3\xa9", false),
    DOC("/* c */ 1", false),
    DOC("// c\n1", false),
    DOC("1 // c", false),
    DOC("1 #", false),

    /* numbers */
    DOC("0", true),
    DOC("-0", true),
    DOC("1", true),
    DOC("-1", true),
    DOC("1234567890", true),
    DOC("0.5", true),
    DOC("-0.0", true),
    DOC("1.5", true),
    DOC("1e5", true),
    DOC("1E5", true),
    DOC("1e+5", true),
    DOC("1e-5", true),
    DOC("-1.5e-10", true),
    DOC("0e0", true),
    DOC("1e-400", true), /* underflow is fine */
    DOC("1.7976931348623157e308", true),
    DOC("-", false),
    DOC("--1", false),
    DOC("- 1", false),
    DOC("+1", false),
    DOC("01", false),
    DOC("-01", false),
    DOC("00", false),
    DOC("0x10", false),
    DOC("1.", false),
    DOC("-1.", false),
    DOC(".5", false),
    DOC("-.5", false),
    DOC("1.e5", false),
    DOC("1.5.5", false),
    DOC("1e", false),
    DOC("1E", false),
    DOC("1e+", false),
    DOC("1E-", false),
    DOC("1ee5", false),
    DOC("1e5.0", false),
    DOC("1e400", false), /* a real that overflows */
    DOC("-1e400", false),
    DOC("1e309", false),
    DOC("1.8e308", false),
    DOC("[1e400]", false),
    DOC("9223372036854775807", true),
    DOC("9223372036854775808", false), /* an integer beyond long long */
    DOC("-9223372036854775808", true),
    DOC("-9223372036854775809", false),
    DOC("18446744073709551616", false),
    DOC("99999999999999999999999", false),
    DOC("9223372036854775808.0", true), /* a real, that fits */
    DOC("9223372036854775808e0", true),
    DOC("[9223372036854775807,-9223372036854775808]", true),
    DOC("{\"a\":9223372036854775808}", false),
    DOC("00000000000000000000001", false),
    DOCN("123", 2, true),
    DOCN("1.5", 2, false),
    DOCN("1e5", 2, false),

    /* strings and escapes */
    DOC("\"\"", true),
    DOC("\"abc\"", true),
    DOC("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", true),
    DOC("\"\\u0041\\u00e9\\u20AC\\uFFFF\\uFFFE\\u0001\"", true),
    DOC("\"", false),
    DOC("\"abc", false),
    DOC("\"\\\"", false),
    DOC("\"\\", false),
    DOC("\"\\x\"", false),
    DOC("\"\\a\"", false),
    DOC("\"\\'\"", false),
    DOC("\"\\0\"", false),
    DOC("\"\\U0041\"", false),
    DOC("\"\\u\"", false),
    DOC("\"\\u004\"", false),
    DOC("\"\\u00G1\"", false),
    DOC("\"\\u 041\"", false),
    DOC("\"\\u004", false),
    DOC("\"\\\0\"", false),
    DOC("'a'", false),
    DOCN("\"ab\"", 3, false),

    /* NUL, raw or escaped */
    DOC("\"\\u0000\"", false),
    DOC("\"a\\u0000b\"", false),
    DOC("{\"\\u0000\":1}", false),
    DOC("{\"a\\u0000\":1}", false),
    DOC("[\"\\u0000\"]", false),
    DOC("\"a\0b\"", false),
    DOC("\"\\u0100\"", true),

    /* surrogates */
    DOC("\"\\uD83D\\uDE00\"", true),
    DOC("\"\\ud83d\\ude00\"", true),
    DOC("\"\\uD800\\uDC00\"", true),
    DOC("\"\\uDBFF\\uDFFF\"", true),
    DOC("\"x\\uD834\\uDD1Ey\"", true),
    DOC("\"\\uD800\"", false),
    DOC("\"\\uDBFF\"", false),
    DOC("\"\\uDC00\"", false),
    DOC("\"\\uDFFF\"", false),
    DOC("\"\\uD800x\"", false),
    DOC("\"\\uD800\\n\"", false),
    DOC("\"\\uD800\\u0041\"", false),
    DOC("\"\\uD800\\uD800\"", false),
    DOC("\"\\uD800\\uD800\\uDC00\"", false),
    DOC("\"\\uDC00\\uD800\"", false),
    DOC("\"\\uD800\\uDC0\"", false),
    DOC("\"\\uD800\\uDC0G\"", false),
    DOC("\"\\uD800\\u", false),
    DOC("\"\\uD800\\", false),
    DOC("\"\\uD800", false),
    DOC("\"\\uD800\\uDC00", false),
    DOC("\"\\uDE00\\uD83D\"", false),
    DOC("{\"\\uD800\":1}", false),

    /* control characters in strings */
    DOC("\"a\tb\"", false),
    DOC("\"a\nb\"", false),
    DOC("\"a\rb\"", false),
    DOC("\"\x01\"", false),
    DOC("\"\x1f\"", false),
    DOC("\"\x7f\"", true), /* DEL is not a control character to JSON */
    DOC("\" \"", true),

    /* UTF-8 */
    DOC("\"\xc3\xa9\"", true),         /* U+00E9 */
    DOC("\"\xc2\x80\"", true),         /* U+0080 */
    DOC("\"\xdf\xbf\"", true),         /* U+07FF */
    DOC("\"\xe0\xa0\x80\"", true),     /* U+0800 */
    DOC("\"\xe2\x82\xac\"", true),     /* U+20AC */
    DOC("\"\xed\x9f\xbf\"", true),     /* U+D7FF */
    DOC("\"\xee\x80\x80\"", true),     /* U+E000 */
    DOC("\"\xef\xbf\xbf\"", true),     /* U+FFFF */
    DOC("\"\xf0\x90\x80\x80\"", true), /* U+10000 */
    DOC("\"\xf0\x9f\x98\x80\"", true), /* U+1F600 */
    DOC("\"\xf4\x8f\xbf\xbf\"", true), /* U+10FFFF */
    DOC("{\"\xc3\xa9\":\"\xe2\x82\xac\"}", true),
    DOC("\"\xc0\x80\"", false),                 /* overlong NUL */
    DOC("\"\xc0\xaf\"", false),                 /* overlong '/' */
    DOC("\"\xc1\xbf\"", false),                 /* overlong */
    DOC("\"\xe0\x80\x80\"", false),             /* overlong, 3 bytes */
    DOC("\"\xe0\x9f\xbf\"", false),             /* overlong U+07FF */
    DOC("\"\xf0\x80\x80\x80\"", false),         /* overlong, 4 bytes */
    DOC("\"\xf0\x8f\xbf\xbf\"", false),         /* overlong U+FFFF */
    DOC("\"\xed\xa0\x80\"", false),             /* U+D800 encoded */
    DOC("\"\xed\xbf\xbf\"", false),             /* U+DFFF encoded */
    DOC("\"\xed\xa0\xbd\xed\xb8\x80\"", false), /* CESU-8 pair */
    DOC("\"\xf4\x90\x80\x80\"", false),         /* U+110000 */
    DOC("\"\xf5\x80\x80\x80\"", false),
    DOC("\"\xf5\"", false),
    DOC("\"\xf8\x88\x80\x80\x80\"", false),
    DOC("\"\xfe\"", false),
    DOC("\"\xff\"", false),
    DOC("\"\x80\"", false), /* a continuation byte alone */
    DOC("\"\xbf\"", false),
    DOC("\"\xc3\"", false), /* cut short by the quote */
    DOC("\"\xc3\x28\"", false),
    DOC("\"\xe2\x82\"", false),
    DOC("\"\xe2\x28\xa1\"", false),
    DOC("\"\xf0\x9f\x98\"", false),
    DOC("\"\xc3", false), /* cut short by the end */
    DOC("\"\xf0\x9f", false),
    DOC("\xc3\xa9", false), /* outside a string */
    DOC("[\xc3\xa9]", false),
    DOC("[\"a\"\xff]", false),

    /* arrays and objects */
    DOC("[]", true),
    DOC("{}", true),
    DOC("[ ]", true),
    DOC("{ }", true),
    DOC(" \n[\t1 , 2 ,3 ]\r\n", true),
    DOC("[1,\"a\",true,false,null,[],{},-0.5e1]", true),
    DOC("{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":{}}}", true),
    DOC("{ \"a\" : 1 , \"b\" : 2 }", true),
    DOC("{\"\":0}", true),
    DOC("{\"a\":1,\"a\":2}", true),
    DOC("[", false),
    DOC("]", false),
    DOC("{", false),
    DOC("}", false),
    DOC("[1", false),
    DOC("[1,", false),
    DOC("[1,]", false),
    DOC("[,1]", false),
    DOC("[,]", false),
    DOC("[1 2]", false),
    DOC("[1;2]", false),
    DOC("[1:2]", false),
    DOC("[[1]", false),
    DOC("[}", false),
    DOC("{]", false),
    DOC("{\"a\"", false),
    DOC("{\"a\"}", false),
    DOC("{\"a\":}", false),
    DOC("{\"a\" 1}", false),
    DOC("{\"a\"::1}", false),
    DOC("{\"a\":1,}", false),
    DOC("{\"a\":1 \"b\":2}", false),
    DOC("{\"a\":1,,\"b\":2}", false),
    DOC("{,}", false),
    DOC("{1:2}", false),
    DOC("{a:1}", false),
    DOC("{'a':1}", false),
    DOC("{null:1}", false),
    DOC("{[]:1}", false),
    DOC("{\"a\":1", false),
    DOC("{\"a\":[1}", false),
    DOC("{\"a\":{\"b\":1}", false),
    DOC("{\"a\":\"}\"", false),
    DOC("[\"]\"", false),
    DOC("{\"a\":1}\0", false),
    DOCN("[1,2]", 4, false),
};

/* text, with NULs and other bytes that do not print escaped, for messages */
static const char *show(const char *p, size_t n)
{
    static char buf[512];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < sizeof(buf); i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
    }
    buf[o] = '\0';
    return buf;
}

static void check_like_jansson(const char *what, const char *text, size_t len, unsigned flags);

static bool jansson_valid(const char *p, size_t n)
{
    json_t *j = json_loadb(p, n, JSON_DECODE_ANY, NULL);
    json_decref(j);
    return j != NULL;
}

static void test_valid_like_jansson(void **state)
{
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        const struct doc *d = &docs[i];
        /* Copied, so that ASan sees any read past the length given. */
        char *copy = malloc(d->len ? d->len : 1);
        assert_non_null(copy);
        memcpy(copy, d->text, d->len);
        bool js = js_valid(copy, d->len, NULL);
        bool jansson = jansson_valid(copy, d->len);
        if (js != jansson || jansson != d->valid)
            fail_msg("docs[%zu] '%s': js_valid %d, jansson %d, expected %d", i,
                     show(d->text, d->len), js, jansson, d->valid);
        free(copy);
    }
    assert_false(js_valid(NULL, 0, NULL));
}

/*
 * jansson 2.14 loses one NUL byte that directly follows a number or a
 * literal: its lexer reads a character past those and puts it back, and a
 * NUL put back reads as "buffer empty" (stream_get() in load.c), so it loads
 * "[1\0]" as [1]. js_valid() answers as jansson does, and the readers skip
 * the lost NUL.
 */
static void test_nul_after_token(void **state)
{
    static const struct doc quirks[] = {
        DOC("1\0", false),          DOC("-0\0", false),     DOC("1.5\0", false),
        DOC("1e5\0", false),        DOC("true\0", false),   DOC("null\0 ", false),
        DOC("[1\0,2]", false),      DOC("[true\0]", false), DOC("{\"a\":false\0}", false),
        DOC("{\"a\":7\0 }", false),
    };
    for (size_t i = 0; i < sizeof(quirks) / sizeof(quirks[0]); i++) {
        bool js = js_valid(quirks[i].text, quirks[i].len, NULL);
        if (js != jansson_valid(quirks[i].text, quirks[i].len))
            fail_msg("quirks[%zu] '%s': js_valid %d, not as jansson", i,
                     show(quirks[i].text, quirks[i].len), js);
    }
    struct js_span v, m;
    static const char *const keys[] = {"a"};
    int64_t x = 0;
    assert_true(js_valid("{\"a\":7\0 }", 9, &v));
    assert_true(js_members(v, keys, 1, &m));
    assert_true(js_int64(m, &x));
    assert_int_equal(x, 7);
}

/* The value without the whitespace around it. */
static void test_valid_span(void **state)
{
    struct js_span v = {NULL, 0};
    const char *text = " \t\r\n[ 1 , 2 ]\n ";
    assert_true(js_valid(text, strlen(text), &v));
    assert_ptr_equal(v.p, text + 4);
    assert_int_equal(v.n, strlen("[ 1 , 2 ]"));

    assert_true(js_valid("-12.5e3", 7, &v));
    assert_int_equal(v.n, 7);
    assert_int_equal(js_type(v), JS_NUMBER);

    assert_false(js_valid(" [1", 3, &v));
}

/* Nesting around jansson's limit (2048 values deep), and far beyond it. */
static char *nested(int levels, bool objects, bool closed)
{
    char *s = malloc((size_t)levels * 6 + 8);
    size_t o = 0;
    assert_non_null(s);
    for (int i = 0; i < levels; i++) {
        if (objects) {
            memcpy(s + o, "{\"a\":", 5);
            o += 5;
        } else {
            s[o++] = '[';
        }
    }
    s[o++] = '1';
    for (int i = 0; i < levels - (closed ? 0 : 1); i++)
        s[o++] = objects ? '}' : ']';
    s[o] = '\0';
    return s;
}

static void test_nesting(void **state)
{
    static const int depths[] = {1, 256, 257, 2046, 2047, 2048, 2049, 100000};
    for (int objects = 0; objects <= 1; objects++) {
        for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
            for (int closed = 0; closed <= 1; closed++) {
                char *s = nested(depths[i], objects, closed);
                bool js = js_valid(s, strlen(s), NULL);
                if (js != jansson_valid(s, strlen(s)))
                    fail_msg("%d levels of %s, %s: js_valid %d, not as jansson", depths[i],
                             objects ? "objects" : "arrays", closed ? "closed" : "open", js);
                free(s);
            }
        }
    }
    /* Depth is nesting, not the number of containers. */
    char many[4096] = "[";
    size_t len = 1;
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "[],");
    snprintf(many + len, sizeof(many) - len, "{}]");
    assert_true(js_valid(many, strlen(many), NULL));
    assert_true(jansson_valid(many, strlen(many)));
}

/* Reals longer than the scanner's stack buffer for strtod(). */
static void test_long_numbers(void **state)
{
    char s[1024];
    memset(s, '0', sizeof(s));
    struct {
        const char *head;
        size_t zeros;
        const char *tail;
        bool valid;
    } cases[] = {
        {"1", 300, ".0", true},    {"1", 308, ".5", true},    {"1", 309, ".0", false},
        {"-1", 400, ".0", false},  {"0.", 500, "1", true},    {"1.", 900, "e308", true},
        {"1", 200, "", false},     {"-1", 19, "", false},     {"1", 18, "", true},
        {"1", 200, "e-300", true}, {"1", 200, "e200", false}, {"-1", 18, "", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t h = strlen(cases[i].head), t = strlen(cases[i].tail);
        size_t n = h + cases[i].zeros + t;
        assert_true(n < sizeof(s));
        memcpy(s, cases[i].head, h);
        memset(s + h, '0', cases[i].zeros);
        memcpy(s + h + cases[i].zeros, cases[i].tail, t);
        bool js = js_valid(s, n, NULL), jansson = jansson_valid(s, n);
        if (js != jansson || jansson != cases[i].valid)
            fail_msg("long number %zu: js_valid %d, jansson %d, expected %d", i, js, jansson,
                     cases[i].valid);
        check_like_jansson("long number", s, n, JS_DECODE_ANY);
    }
}

/* ---- reading values ------------------------------------------------------ */

/* Parses text with both; fails unless both accept it. */
static struct js_span both(const char *text, json_t **j)
{
    struct js_span v = {NULL, 0};
    assert_true(js_valid(text, strlen(text), &v));
    *j = json_loadb(text, strlen(text), JSON_DECODE_ANY, NULL);
    assert_non_null(*j);
    return v;
}

/* v is the same string as jansson's j, in full and in every cut. */
static void assert_same_string(struct js_span v, const json_t *j)
{
    assert_true(json_is_string(j));
    size_t n = json_string_length(j);
    char buf[512];
    assert_true(n < sizeof(buf));
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(js_string(v, buf, sizeof(buf)), n);
    assert_memory_equal(buf, json_string_value(j), n + 1);
    for (size_t cap = 1; cap <= n + 1; cap++) {
        memset(buf, 'Z', sizeof(buf));
        assert_int_equal(js_string(v, buf, cap), n);
        assert_memory_equal(buf, json_string_value(j), cap - 1);
        assert_int_equal(buf[cap - 1], '\0');
        assert_int_equal(buf[cap], 'Z');
    }
}

static struct js_span member(struct js_span obj, const char *key)
{
    struct js_span out = {"garbage", 7};
    assert_true(js_members(obj, &key, 1, &out));
    return out;
}

static int64_t int_member(struct js_span obj, const char *key)
{
    int64_t x = 0;
    assert_true(js_int64(member(obj, key), &x));
    return x;
}

static void test_error_answer(void **state)
{
    json_t *j;
    struct js_span doc = both("{\"ok\":false,\"error_code\":429,\"description\":\"Too Many "
                              "Requests: retry after 7\",\"parameters\":{\"retry_after\":7}}",
                              &j);
    enum { OK, ERROR_CODE, DESCRIPTION, PARAMETERS, RESULT, NKEYS };
    const char *const keys[NKEYS] = {"ok", "error_code", "description", "parameters", "result"};
    struct js_span v[NKEYS];
    int64_t x = -1;

    assert_true(js_members(doc, keys, NKEYS, v));
    assert_int_equal(js_type(v[OK]), JS_FALSE);
    assert_true(json_is_false(json_object_get(j, "ok")));
    assert_true(js_int64(v[ERROR_CODE], &x));
    assert_int_equal(x, 429);
    assert_int_equal(x, json_integer_value(json_object_get(j, "error_code")));
    assert_same_string(v[DESCRIPTION], json_object_get(j, "description"));
    char desc[64];
    assert_int_equal(js_string(v[DESCRIPTION], desc, sizeof(desc)),
                     strlen("Too Many Requests: retry after 7"));
    assert_string_equal(desc, "Too Many Requests: retry after 7");
    assert_int_equal(js_type(v[PARAMETERS]), JS_OBJECT);
    assert_int_equal(int_member(v[PARAMETERS], "retry_after"), 7);
    assert_null(v[RESULT].p);
    assert_int_equal(v[RESULT].n, 0);
    assert_int_equal(js_type(v[RESULT]), JS_NONE);
    assert_null(json_object_get(j, "result"));
    json_decref(j);
}

static void test_send_message_answer(void **state)
{
    json_t *j;
    struct js_span doc = both(
        "{\"ok\":true,\"result\":{\"message_id\":4321,\"from\":{\"id\":123456789,\"is_bot\":true,"
        "\"first_name\":\"Desk\",\"username\":\"desk_bot\"},\"chat\":{\"id\":-1001234567890,"
        "\"title\":\"Support \\\"staff\\\" {1}\",\"type\":\"supergroup\"},\"date\":1700000000,"
        "\"reply_to_message\":{\"message_id\":99,\"text\":\"\\\"message_id\\\":1\"},"
        "\"text\":\"Hello, {world} [1]\\n\\u2714 done \\ud83d\\udce6\",\"entities\":[{"
        "\"offset\":0,\"length\":5,\"type\":\"bold\"}]}}",
        &j);
    json_t *jr = json_object_get(j, "result");

    assert_int_equal(js_type(member(doc, "ok")), JS_TRUE);
    struct js_span result = member(doc, "result");
    assert_int_equal(js_type(result), JS_OBJECT);
    assert_int_equal(result.p[result.n - 1], '}');
    assert_int_equal(int_member(result, "message_id"), 4321);
    assert_int_equal(int_member(result, "date"), 1700000000);
    struct js_span chat = member(result, "chat");
    assert_int_equal(int_member(chat, "id"), INT64_C(-1001234567890));
    assert_int_equal(int_member(chat, "id"),
                     json_integer_value(json_object_get(json_object_get(jr, "chat"), "id")));
    assert_same_string(member(chat, "title"),
                       json_object_get(json_object_get(jr, "chat"), "title"));
    assert_same_string(member(result, "text"), json_object_get(jr, "text"));
    assert_int_equal(js_type(member(result, "entities")), JS_ARRAY);
    assert_int_equal(js_type(member(member(result, "from"), "is_bot")), JS_TRUE);
    assert_int_equal(int_member(member(result, "reply_to_message"), "message_id"), 99);
    /* Not a member of the top level, only of nested objects. */
    assert_null(member(doc, "message_id").p);
    assert_null(member(doc, "id").p);
    json_decref(j);
}

/* The last of repeated names wins, as in jansson. */
static void test_duplicate_keys(void **state)
{
    const char *texts[] = {
        "{\"a\":1,\"b\":2,\"a\":3}",
        "{\"ok\":true,\"ok\":false}",
        "{\"ok\":1,\"\\u006fk\":2}",
        "{\"\\u006f\\u006b\":1,\"ok\":2,\"o\\u006B\":3}",
        "{\"a\":{\"a\":1},\"a\":[2],\"a\":\"three\"}",
    };
    const char *const keys[] = {"a", "b", "ok"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        json_t *j;
        struct js_span doc = both(texts[i], &j), out[3];
        assert_true(js_members(doc, keys, 3, out));
        for (size_t k = 0; k < 3; k++) {
            json_t *jm = json_object_get(j, keys[k]);
            if (!jm) {
                assert_null(out[k].p);
                continue;
            }
            assert_non_null(out[k].p);
            if (json_is_integer(jm)) {
                int64_t x = 0;
                assert_true(js_int64(out[k], &x));
                assert_int_equal(x, json_integer_value(jm));
            } else if (json_is_string(jm)) {
                assert_same_string(out[k], jm);
            } else {
                assert_int_equal(js_type(out[k]), json_is_true(jm)    ? JS_TRUE
                                                  : json_is_false(jm) ? JS_FALSE
                                                                      : JS_ARRAY);
            }
        }
        json_decref(j);
    }
}

/* Names are compared unescaped; a name must match whole. */
static void test_key_names(void **state)
{
    json_t *j;
    struct js_span doc =
        both("{\"\\u006fk\":true,\"\\\"q\\\"\":1,\"a\\\\b\":2,\"\\ud83d\\ude00\":3,"
             "\"\\u00e9\":4,\"okay\":5,\"o\":6,\"x\":{\"y\":7},\"s\":\"\\\"y\\\":8\","
             "\"\\/\":9,\"tab\\t\":10}",
             &j);
    assert_int_equal(js_type(member(doc, "ok")), JS_TRUE);
    assert_int_equal(int_member(doc, "\"q\""), 1);
    assert_int_equal(int_member(doc, "a\\b"), 2);
    assert_int_equal(int_member(doc, "\xf0\x9f\x98\x80"), 3);
    assert_int_equal(int_member(doc, "\xc3\xa9"), 4);
    assert_int_equal(int_member(doc, "okay"), 5);
    assert_int_equal(int_member(doc, "o"), 6);
    assert_int_equal(int_member(doc, "/"), 9);
    assert_int_equal(int_member(doc, "tab\t"), 10);
    assert_null(member(doc, "y").p);
    assert_null(member(doc, "\\u006fk").p);
    assert_null(member(doc, "q").p);
    assert_null(member(doc, "").p);
    assert_null(member(doc, "oka").p);
    assert_null(member(doc, "okayy").p);
    json_decref(j);

    doc = both("{\"\":1,\"\\u0020\":2}", &j);
    assert_int_equal(int_member(doc, ""), 1);
    assert_int_equal(int_member(doc, " "), 2);
    json_decref(j);

    /* One call, several names; each may appear anywhere. */
    doc = both(" { \"c\" : 3 ,\n\"a\" : \"A\" , \"b\" : [ 1 , { \"a\" : 0 } ] } ", &j);
    const char *const keys[] = {"a", "b", "c", "d"};
    struct js_span out[4];
    assert_true(js_members(doc, keys, 4, out));
    assert_int_equal(out[0].n, 3);
    assert_memory_equal(out[0].p, "\"A\"", 3);
    assert_int_equal(out[1].n, strlen("[ 1 , { \"a\" : 0 } ]"));
    assert_memory_equal(out[1].p, "[ 1 , { \"a\" : 0 } ]", out[1].n);
    assert_int_equal(out[2].n, 1);
    assert_memory_equal(out[2].p, "3", 1);
    assert_null(out[3].p);
    assert_true(js_members(doc, keys, 0, NULL));
    json_decref(j);
}

/* Names of any length: the header promises no limit. */
static void test_long_key_names(void **state)
{
    char text[2048], key[600];
    int lens[] = {62, 63, 64, 65, 100, 500};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        int n = lens[i];
        memset(key, 'k', (size_t)n);
        key[n] = '\0';
        /* raw, and with the first letter escaped */
        snprintf(text, sizeof(text), "{\"%s\":%d,\"\\u006b%s\":[%d]}", key, n, key + 1, n);
        json_t *j;
        struct js_span doc = both(text, &j);
        struct js_span v = member(doc, key);
        bool jansson_array = json_is_array(json_object_get(j, key));
        json_decref(j);
        if (!v.p)
            fail_msg("a %d-byte member name is not found", n);
        assert_int_equal(js_type(v), JS_ARRAY); /* the last one */
        assert_true(jansson_array);
        key[n - 1] = '\0';
        assert_null(member(doc, key).p);

        snprintf(text, sizeof(text), "{\"%s\":%d}", key, n);
        doc = both(text, &j);
        assert_int_equal(int_member(doc, key), n);
        json_decref(j);
    }
}

static void test_strings(void **state)
{
    static const struct {
        const char *json;
        const char *want;
    } cases[] = {
        {"\"\"", ""},
        {"\"plain\"", "plain"},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"},
        {"\"\\u0041\\u00e9\\u00E9\\u20ac\\uFFFF\\u0001\\u007f\\u0080\\u07ff\\u0800\"",
         "A\xc3\xa9\xc3\xa9\xe2\x82\xac\xef\xbf\xbf\x01\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80"},
        {"\"\\ud83d\\ude00\\uD834\\uDD1E\\uD800\\uDC00\\uDBFF\\uDFFF\"",
         "\xf0\x9f\x98\x80\xf0\x9d\x84\x9e\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"},
        {"\"raw \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \x7f\"",
         "raw \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \x7f"},
        {"\"a\\\\u0041\"", "a\\u0041"},
        {"\"\\\\\\\"\"", "\\\""},
        {"\"x\\ud83d\\udce6y\\n\"", "x\xf0\x9f\x93\xa6y\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j;
        struct js_span v = both(cases[i].json, &j);
        assert_int_equal(js_type(v), JS_STRING);
        assert_same_string(v, j);
        assert_int_equal(json_string_length(j), strlen(cases[i].want));
        assert_string_equal(json_string_value(j), cases[i].want);
        json_decref(j);
    }
}

/* A small buffer: cut at cap - 1 bytes, NUL-terminated, the full length returned. */
static void test_string_truncation(void **state)
{
    struct js_span v;
    char buf[16];

    assert_true(js_valid("\"abcdef\"", 8, &v));
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(js_string(v, buf, 4), 6);
    assert_string_equal(buf, "abc");
    assert_int_equal(buf[4], 'Z');
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(js_string(v, buf, 1), 6);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'Z');
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(js_string(v, buf, 0), 6); /* nothing written */
    assert_int_equal(buf[0], 'Z');
    assert_int_equal(js_string(v, buf, 7), 6);
    assert_string_equal(buf, "abcdef");

    /* Cut inside escapes and inside a character: a byte cut, as documented. */
    const char *text = "\"\\n\\u00e9\\ud83d\\ude00\"";
    assert_true(js_valid(text, strlen(text), &v));
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(js_string(v, buf, 3), 7);
    assert_memory_equal(buf, "\n\xc3\0Z", 4);
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(js_string(v, buf, 6), 7);
    assert_memory_equal(buf, "\n\xc3\xa9\xf0\x9f\0Z", 7);
    assert_int_equal(js_string(v, buf, sizeof(buf)), 7);
    assert_string_equal(buf, "\n\xc3\xa9\xf0\x9f\x98\x80");

    /* Not a string. */
    memset(buf, 'Z', sizeof(buf));
    assert_true(js_valid("123", 3, &v));
    assert_int_equal(js_string(v, buf, sizeof(buf)), -1);
    assert_int_equal(js_string((struct js_span){NULL, 0}, buf, sizeof(buf)), -1);
}

static void test_int64(void **state)
{
    static const struct {
        const char *json;
        bool integer;
        int64_t want;
    } cases[] = {
        {"0", true, 0},
        {"-0", true, 0},
        {"7", true, 7},
        {"-42", true, -42},
        {"9007199254740993", true, INT64_C(9007199254740993)},
        {"9223372036854775807", true, INT64_MAX},
        {"9223372036854775806", true, INT64_MAX - 1},
        {"-9223372036854775808", true, INT64_MIN},
        {"-9223372036854775807", true, INT64_MIN + 1},
        {"1.0", false, 0},
        {"1e2", false, 0},
        {"-0.0", false, 0},
        {"9223372036854775808.0", false, 0},
        {"\"5\"", false, 0},
        {"true", false, 0},
        {"null", false, 0},
        {"[1]", false, 0},
        {"{\"a\":1}", false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j;
        struct js_span v = both(cases[i].json, &j);
        int64_t x = 12345;
        assert_int_equal(json_is_integer(j), cases[i].integer);
        assert_int_equal(js_int64(v, &x), cases[i].integer);
        if (cases[i].integer) {
            assert_true(x == cases[i].want);
            assert_true(x == json_integer_value(j));
        } else {
            assert_int_equal(x, 12345); /* untouched */
        }
        json_decref(j);
    }
    int64_t x = 12345;
    assert_false(js_int64((struct js_span){NULL, 0}, &x));
    /* The text js_valid() hands it for integers beyond the range. */
    assert_false(js_int64((struct js_span){"9223372036854775808", 19}, &x));
    assert_false(js_int64((struct js_span){"-9223372036854775809", 20}, &x));
    assert_false(js_int64((struct js_span){"92233720368547758070", 20}, &x));
    assert_false(js_int64((struct js_span){"-", 1}, &x));
    assert_int_equal(x, 12345);
}

static void test_types(void **state)
{
    static const struct {
        const char *json;
        enum js_type type;
    } cases[] = {
        {"{}", JS_OBJECT},  {" {\"a\":[]} ", JS_OBJECT}, {"[]", JS_ARRAY},
        {"[{}]", JS_ARRAY}, {"\"\"", JS_STRING},         {"\"{\"", JS_STRING},
        {"0", JS_NUMBER},   {"-1", JS_NUMBER},           {"1.5e3", JS_NUMBER},
        {"true", JS_TRUE},  {"false", JS_FALSE},         {"\nnull\n", JS_NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct js_span v;
        assert_true(js_valid(cases[i].json, strlen(cases[i].json), &v));
        assert_int_equal(js_type(v), cases[i].type);
    }
    assert_int_equal(js_type((struct js_span){NULL, 0}), JS_NONE);
    assert_int_equal(js_type((struct js_span){"1", 0}), JS_NONE);

    /* Each kind as a member too. */
    json_t *j;
    struct js_span doc =
        both("{\"o\":{},\"a\":[],\"s\":\"\",\"n\":-1.5,\"t\":true,\"f\":false,\"z\":null}", &j);
    const char *const keys[] = {"o", "a", "s", "n", "t", "f", "z", "missing"};
    const enum js_type want[] = {JS_OBJECT, JS_ARRAY, JS_STRING, JS_NUMBER,
                                 JS_TRUE,   JS_FALSE, JS_NULL,   JS_NONE};
    struct js_span out[8];
    assert_true(js_members(doc, keys, 8, out));
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(js_type(out[i]), want[i]);
    json_decref(j);
}

static void test_members_of_non_objects(void **state)
{
    const char *texts[] = {"[]", "[{\"ok\":true}]", "\"ok\"", "1", "true", "false", "null"};
    const char *const keys[] = {"ok", "result"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct js_span v, out[2] = {{"x", 1}, {"y", 1}};
        assert_true(js_valid(texts[i], strlen(texts[i]), &v));
        assert_false(js_members(v, keys, 2, out));
        assert_null(out[0].p);
        assert_int_equal(out[0].n, 0);
        assert_null(out[1].p);
        assert_int_equal(out[1].n, 0);
    }
    struct js_span out[2] = {{"x", 1}, {"y", 1}};
    assert_false(js_members((struct js_span){NULL, 0}, keys, 2, out));
    assert_null(out[0].p);
    assert_null(out[1].p);

    /* An empty object has no members, and that is no failure. */
    struct js_span v;
    assert_true(js_valid("{ }", 3, &v));
    out[0] = (struct js_span){"x", 1};
    assert_true(js_members(v, keys, 2, out));
    assert_null(out[0].p);
    assert_null(out[1].p);
}

/* ---- js_check(): jansson's verdict ---------------------------------------- */

/* The flag sets tried, and jansson's flags for each. */
static const unsigned check_flags[] = {
    0,
    JS_DECODE_ANY,
    JS_ALLOW_NUL | JS_REJECT_DUPLICATES,
    JS_DECODE_ANY | JS_ALLOW_NUL | JS_REJECT_DUPLICATES,
};

/* js_check() says what jansson says of text: the error and its position. */
static void check_like_jansson(const char *what, const char *text, size_t len, unsigned flags)
{
    /* Copied, so that ASan sees any read past the length given. */
    char *copy = malloc(len ? len : 1);
    json_error_t je;
    size_t pos = 12345;

    assert_non_null(copy);
    memcpy(copy, text, len);
    json_t *j = json_loadb(copy, len, jansson_flags(flags), &je);
    enum js_error e = js_check(copy, len, flags, NULL, &pos);
    enum js_error want = JS_OK;
    if (!j && !jansson_error(&je, &want))
        fail_msg("jansson error code %d", (int)json_error_code(&je));
    if (e != want || pos != (size_t)je.position)
        fail_msg("%s '%s', flags %u: js_check %d at %zu, jansson %d at %d (%s)", what,
                 show(text, len), flags, e, pos, want, je.position, j ? "ok" : je.text);
    json_decref(j);
    free(copy);
}

static void test_check_like_jansson(void **state)
{
    for (size_t f = 0; f < sizeof(check_flags) / sizeof(check_flags[0]); f++) {
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
            check_like_jansson("docs[]", docs[i].text, docs[i].len, check_flags[f]);
    }
    size_t pos = 1;
    assert_int_equal(js_check(NULL, 0, 0, NULL, &pos), JS_EARGUMENT);
    assert_int_equal(pos, 0);
}

/* What jansson says of these is written out too, so that a change shows. */
static void test_check_errors(void **state)
{
    static const struct {
        const char *text;
        size_t len;
        unsigned flags;
        enum js_error e;
        size_t pos;
    } cases[] = {
#define CASE(s, f, e, pos) {s, sizeof(s) - 1, f, e, pos}
        /* the top level: an object or an array unless JS_DECODE_ANY */
        CASE("", 0, JS_ETRUNCATED, 0),
        CASE("  ", 0, JS_ETRUNCATED, 2),
        CASE("1", 0, JS_ESYNTAX, 1),
        CASE("1", JS_DECODE_ANY, JS_OK, 1),
        CASE("\"a\"", 0, JS_ESYNTAX, 3),
        CASE("null x", JS_DECODE_ANY, JS_ETRAILING, 6),
        CASE("{} x", 0, JS_ETRAILING, 4),
        CASE("{}]", 0, JS_ETRAILING, 3),
        CASE("\0", 0, JS_ETRUNCATED, 1), /* a NUL token has no text for jansson */
        CASE("[\0]", 0, JS_ETRUNCATED, 2),
        CASE("[1,", 0, JS_ETRUNCATED, 3),
        CASE("[1,]", 0, JS_ESYNTAX, 4),
        CASE("{\"a\"", 0, JS_ETRUNCATED, 4),
        CASE("{\"a\" 1}", 0, JS_ESYNTAX, 6),
        CASE("{1:2}", 0, JS_ESYNTAX, 2),
        CASE("[-]", 0, JS_ESYNTAX, 2),
        CASE("[01]", 0, JS_ESYNTAX, 2),
        CASE("[1.]", 0, JS_ESYNTAX, 3),
        CASE("[1e+]", 0, JS_ESYNTAX, 4),
        CASE("[truex]", 0, JS_ESYNTAX, 6),
        CASE("[nul]", 0, JS_ESYNTAX, 4),
        /* a NUL right after a number or a literal is lost, and not counted */
        CASE("[1\0]", 0, JS_OK, 3),
        CASE("[1\0,true\0,null\0]", 0, JS_OK, 13),
        CASE("{\"a\":-1.5e3\0}", 0, JS_OK, 12),
        CASE("1\0", JS_DECODE_ANY, JS_OK, 1),
        CASE("[1\0\0]", 0, JS_ETRUNCATED, 3),
        CASE("[1\0x]", 0, JS_ESYNTAX, 3),
        CASE("[\"a\"\0]", 0, JS_ETRUNCATED, 5),
        CASE("[-\0]", 0, JS_ESYNTAX, 2),
        CASE("[1.\0]", 0, JS_ESYNTAX, 3),
        /* strings */
        CASE("[\"a", 0, JS_ETRUNCATED, 3),
        CASE("[\"a\x01\"]", 0, JS_ESYNTAX, 3),
        CASE("[\"a\0\"]", 0, JS_ESYNTAX, 3),
        CASE("[\"\\x\"]", 0, JS_ESYNTAX, 4),
        CASE("[\"\\u12x4\"]", 0, JS_ESYNTAX, 7),
        CASE("[\"\\ud800\"]", 0, JS_ESYNTAX, 9),
        CASE("[\"\\ud800\\u0041\"]", 0, JS_ESYNTAX, 15),
        CASE("[\"\\udc00\"]", 0, JS_ESYNTAX, 9),
        CASE("[\"\\u0000\"]", 0, JS_ENUL, 9),
        CASE("[\"\\u0000\"]", JS_ALLOW_NUL, JS_OK, 10),
        CASE("{\"\\u0000\":1}", JS_ALLOW_NUL, JS_ENULKEY, 9),
        /* UTF-8, checked as it is read */
        CASE("\xff", 0, JS_EUTF8, 0),
        CASE("[1,\xc3\xa9]", 0, JS_ESYNTAX, 5),
        CASE("[1\xc3\xa9]", 0, JS_ESYNTAX, 4),
        CASE("[\"\xc3(\"]", 0, JS_EUTF8, 2),
        CASE("[\"\xe2\x82\"]", 0, JS_EUTF8, 2),
        CASE("[1 x \xff]", 0, JS_ESYNTAX, 4),
        CASE("[1 \xff x]", 0, JS_EUTF8, 3),
        CASE("[1\xff]", 0, JS_EUTF8, 2),
        CASE("{}\xff", 0, JS_EUTF8, 2),
        /* numbers jansson cannot hold */
        CASE("[9223372036854775807]", 0, JS_OK, 21),
        CASE("[9223372036854775808]", 0, JS_ERANGE, 20),
        CASE("[-9223372036854775809]", 0, JS_ERANGE, 21),
        CASE("[1e309]", 0, JS_ERANGE, 6),
        /* names */
        CASE("{\"a\":1,\"a\":2}", 0, JS_OK, 13),
        CASE("{\"a\":1,\"a\":2}", JS_REJECT_DUPLICATES, JS_EDUPLICATE, 10),
        CASE("{\"a\":1,\"\\u0061\":2}", JS_REJECT_DUPLICATES, JS_EDUPLICATE, 15),
        CASE("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}", JS_REJECT_DUPLICATES, JS_OK, 31),
        CASE("[{\"a\":1},{\"a\":2}]", JS_REJECT_DUPLICATES, JS_OK, 17),
        CASE("{\"a\":{\"b\":1},\"b\":2,\"a\":3}", JS_REJECT_DUPLICATES, JS_EDUPLICATE, 22),
#undef CASE
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t pos = 12345;
        check_like_jansson("cases[]", cases[i].text, cases[i].len, cases[i].flags);
        enum js_error e = js_check(cases[i].text, cases[i].len, cases[i].flags, NULL, &pos);
        if (e != cases[i].e || pos != cases[i].pos)
            fail_msg("cases[%zu] '%s': %d at %zu, expected %d at %zu", i,
                     show(cases[i].text, cases[i].len), e, pos, cases[i].e, cases[i].pos);
    }
}

/* jansson's depth: every value counts, and it stops at 2048. */
static void test_check_depth(void **state)
{
    for (int objects = 0; objects <= 1; objects++) {
        for (int levels = JS_CHECK_MAX_DEPTH - 2; levels <= JS_CHECK_MAX_DEPTH + 1; levels++) {
            for (int closed = 0; closed <= 1; closed++) {
                char *s = nested(levels, objects, closed);
                check_like_jansson("nested", s, strlen(s), 0);
                /* the innermost container empty: one value less deep */
                s[strlen(s) - (size_t)(levels - !closed) - 1] = ' ';
                check_like_jansson("nested, empty", s, strlen(s), 0);
                free(s);
            }
        }
    }
    char *s = nested(JS_CHECK_MAX_DEPTH - 1, false, true);
    size_t pos;
    assert_int_equal(js_check(s, strlen(s), 0, NULL, &pos), JS_OK);
    free(s);
    s = nested(JS_CHECK_MAX_DEPTH, false, true);
    assert_int_equal(js_check(s, strlen(s), 0, NULL, &pos), JS_EDEPTH);
    assert_int_equal(pos, JS_CHECK_MAX_DEPTH + 1); /* the '1' is read */
    free(s);
    s = nested(100000, true, true);
    assert_int_equal(js_check(s, strlen(s), 0, NULL, &pos), JS_EDEPTH); /* no recursion */
    free(s);
}

/* Names compared unescaped, per object, also past what is held on the stack. */
static void test_check_duplicates(void **state)
{
    static const char *const texts[] = {
        "{\"\\/\":1,\"/\":2}",
        "{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
        "{\"\\u00e9\":1,\"\xc3\xa9\":2}",
        "{\"\\\"\":1,\"\\u0022\":2}",
        "{\"ab\":1,\"a\":2,\"abc\":3,\"\":4,\"b\":5}",
        "{\"\":1,\"\":2}",
        "{\"x\":[{\"x\":1,\"y\":{\"x\":2}}],\"y\":{\"x\":3},\"z\":[{\"x\":4},{\"x\":5,\"x\":6}]}",
        "{\"k\\u0000\":1}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        check_like_jansson("texts[]", texts[i], strlen(texts[i]), JS_REJECT_DUPLICATES);
        check_like_jansson("texts[]", texts[i], strlen(texts[i]), JS_ALLOW_NUL);
    }

    /* Many names in one object, and in objects nested in it. */
    size_t cap = 400000;
    char *big = malloc(cap);
    assert_non_null(big);
    for (int variant = 0; variant < 4; variant++) {
        size_t n = 0;
        big[n++] = '{';
        for (int k = 0; k < 5000; k++) {
            /* escaped, some of them: the same names all the same */
            n += (size_t)snprintf(big + n, cap - n, k % 7 ? "\"k%d\":" : "\"\\u006b%d\":", k);
            if (k % 1000 == 500)
                n += (size_t)snprintf(big + n, cap - n, "{\"k1\":1,\"k%d\":[{\"k1\":2}]},", k);
            else
                n += (size_t)snprintf(big + n, cap - n, "%d,", k);
        }
        if (variant == 1)
            n += (size_t)snprintf(big + n, cap - n, "\"k4999x\":0,\"k0\":1,");
        if (variant == 2)
            n += (size_t)snprintf(big + n, cap - n, "\"k4998\":1,");
        if (variant == 3)
            n += (size_t)snprintf(big + n, cap - n, "\"x\":{\"a\":1,\"a\":2},");
        big[n - 1] = '}';
        check_like_jansson("many names", big, n, JS_REJECT_DUPLICATES);
        size_t pos;
        assert_int_equal(js_check(big, n, JS_REJECT_DUPLICATES, NULL, &pos),
                         variant == 0 ? JS_OK : JS_EDUPLICATE);
    }
    free(big);
}

/* Objects of 1 to 30 names with a duplicate of every earlier name at every
 * place, escaped or not, and with objects inside that open and close between
 * (the first names of an object are compared one by one, the rest hashed):
 * judged as jansson judges them. */
static void test_check_duplicates_every_size(void **state)
{
    char text[2048];
    for (int names = 1; names <= 30; names++) {
        for (int dup = -1; dup < names; dup++) {
            for (int at = 0; at <= names; at++) {
                size_t n = 0;
                text[n++] = '{';
                for (int k = 0; k <= names; k++) {
                    if (k == at && dup >= 0)
                        n += (size_t)snprintf(text + n, sizeof(text) - n,
                                              dup % 2 ? "\"\\u006e%d\":0," : "\"n%d\":0,", dup);
                    if (k == names)
                        break;
                    n += (size_t)snprintf(
                        text + n, sizeof(text) - n,
                        k % 5 == 3 ? "\"n%d\":{\"n%d\":1,\"x\":{}}," : "\"n%d\":%d,", k, k);
                }
                text[n - 1] = '}';
                check_like_jansson("every size", text, n, JS_REJECT_DUPLICATES);
                assert_int_equal(js_check(text, n, JS_REJECT_DUPLICATES, NULL, NULL),
                                 dup < 0 ? JS_OK : JS_EDUPLICATE);
            }
        }
    }
}

/* 20,000 distinct names in one object: the keyed hash keeps the check
 * linear, and a duplicate anywhere (first and last, escaped or not) is found. */
static void test_check_many_names(void **state)
{
    size_t cap = 20000 * 24 + 64;
    char *big = malloc(cap);
    assert_non_null(big);
    for (int variant = 0; variant < 3; variant++) {
        size_t n = 0;
        big[n++] = '{';
        for (int k = 0; k < 20000; k++)
            n += (size_t)snprintf(big + n, cap - n, "\"name-%05d\":%d,", k, k);
        if (variant == 1)
            n += (size_t)snprintf(big + n, cap - n, "\"name-00000\":0,");
        if (variant == 2)
            n += (size_t)snprintf(big + n, cap - n, "\"\\u006eame-19999\":0,");
        big[n - 1] = '}';
        size_t pos = 0;
        assert_int_equal(js_check(big, n, JS_REJECT_DUPLICATES, NULL, &pos),
                         variant == 0 ? JS_OK : JS_EDUPLICATE);
        if (variant != 0)
            assert_true(pos > n - 24 && pos < n);
    }
    free(big);
}

/* The value without the whitespace around it, nor a NUL jansson lost. */
static void test_check_span(void **state)
{
    struct js_span v = {NULL, 0};
    const char *text = " \t\r\n[ 1 , 2 ]\n ";
    assert_int_equal(js_check(text, strlen(text), 0, &v, NULL), JS_OK);
    assert_ptr_equal(v.p, text + 4);
    assert_int_equal(v.n, strlen("[ 1 , 2 ]"));
    assert_int_equal(js_check("-12.5e3\0 ", 9, JS_DECODE_ANY, &v, NULL), JS_OK);
    assert_int_equal(v.n, 7);
    assert_int_equal(js_check(" true\0", 6, JS_DECODE_ANY, &v, NULL), JS_OK);
    assert_int_equal(v.n, 4);
    assert_int_equal(js_type(v), JS_TRUE);
    v = (struct js_span){"x", 1};
    assert_int_equal(js_check(" [1", 3, 0, &v, NULL), JS_ETRUNCATED);
    assert_memory_equal(v.p, "x", 1); /* untouched */
}

/* The readers take what js_check() accepts: NULs after numbers and literals. */
static void test_read_checked(void **state)
{
    static const char text[] = "{\"a\":1\0,\"b\":[true\0,-2\0 ,{\"c\":null\0}],\"d\":\"x\"}";
    struct js_span doc, v[4], it = {NULL, 0};
    const char *const keys[] = {"a", "b", "c", "d"};
    int64_t x = 0;

    assert_int_equal(js_check(text, sizeof(text) - 1, 0, &doc, NULL), JS_OK);
    assert_true(js_members(doc, keys, 4, v));
    assert_true(js_int64(v[0], &x));
    assert_int_equal(x, 1);
    assert_null(v[2].p);
    assert_int_equal(js_string(v[3], NULL, 0), 1);
    assert_true(js_next(v[1], &it));
    assert_int_equal(js_type(it), JS_TRUE);
    assert_int_equal(it.n, 4);
    assert_true(js_next(v[1], &it));
    assert_true(js_int64(it, &x));
    assert_int_equal(x, -2);
    assert_true(js_next(v[1], &it));
    assert_int_equal(js_type(member(it, "c")), JS_NULL);
    assert_int_equal(member(it, "c").n, 4);
    assert_false(js_next(v[1], &it));
    assert_null(it.p);
}

static void test_next(void **state)
{
    static const struct {
        const char *json;
        const char *elements[4];
    } cases[] = {
        {"[]", {NULL}},
        {"[ ]", {NULL}},
        {"[1]", {"1"}},
        {" [ 1 , \"a,]\" ,{\"x\":[1,2]} , [3] ] ", {"1", "\"a,]\"", "{\"x\":[1,2]}", "[3]"}},
        {"[[],{},\"\\\"]\",null]", {"[]", "{}", "\"\\\"]\"", "null"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct js_span v, it = {NULL, 0};
        size_t k = 0;
        assert_true(js_valid(cases[i].json, strlen(cases[i].json), &v));
        while (js_next(v, &it)) {
            assert_true(k < 4);
            assert_non_null(cases[i].elements[k]);
            assert_int_equal(it.n, strlen(cases[i].elements[k]));
            assert_memory_equal(it.p, cases[i].elements[k], it.n);
            k++;
        }
        assert_true(k == 4 || cases[i].elements[k] == NULL);
        assert_null(it.p);
        assert_int_equal(it.n, 0);
    }
    /* Not an array: no elements. */
    const char *texts[] = {"{\"a\":[1]}", "\"[1]\"", "1", "null"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct js_span v, it = {"x", 1};
        assert_true(js_valid(texts[i], strlen(texts[i]), &v));
        assert_false(js_next(v, &it));
        assert_null(it.p);
    }
    struct js_span it = {"x", 1};
    assert_false(js_next((struct js_span){NULL, 0}, &it));
    assert_null(it.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_like_jansson),
        cmocka_unit_test(test_nul_after_token),
        cmocka_unit_test(test_valid_span),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_long_numbers),
        cmocka_unit_test(test_error_answer),
        cmocka_unit_test(test_send_message_answer),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_key_names),
        cmocka_unit_test(test_long_key_names),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_string_truncation),
        cmocka_unit_test(test_int64),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_members_of_non_objects),
        cmocka_unit_test(test_check_like_jansson),
        cmocka_unit_test(test_check_errors),
        cmocka_unit_test(test_check_depth),
        cmocka_unit_test(test_check_duplicates),
        cmocka_unit_test(test_check_duplicates_every_size),
        cmocka_unit_test(test_check_many_names),
        cmocka_unit_test(test_check_span),
        cmocka_unit_test(test_read_checked),
        cmocka_unit_test(test_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
