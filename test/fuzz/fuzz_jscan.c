/*
 * fuzz_jscan.c - differential libFuzzer target: util/jscan against jansson.
 *
 * js_check() must say what json_loadb() says, with the matching flags, for
 * every input: the same error at the same position, or success. Each flag
 * set below is tried, and each accepted text read as for js_valid() below
 * (NUL bytes jansson lost and all).
 *
 * js_valid() must accept exactly what json_loadb(..., JSON_DECODE_ANY, NULL)
 * accepts (jansson 2.14 loses a NUL byte right after a number or a literal:
 * "[1\0]" loads as [1], and js_valid() agrees). For an accepted text every value
 * of every object (the top level and each object nested in it) is compared
 * with jansson's: its type, an integer's value, a string's length and bytes
 * (also cut with a small buffer), and members that are not there. Any
 * disagreement aborts.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/jscan_jansson.h"
#include "util/jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static enum js_type expected_type(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return JS_OBJECT;
    case JSON_ARRAY:
        return JS_ARRAY;
    case JSON_STRING:
        return JS_STRING;
    case JSON_INTEGER:
    case JSON_REAL:
        return JS_NUMBER;
    case JSON_TRUE:
        return JS_TRUE;
    case JSON_FALSE:
        return JS_FALSE;
    case JSON_NULL:
        return JS_NULL;
    }
    abort();
}

static void check_string(struct js_span v, const json_t *j)
{
    size_t n = json_string_length(j);
    const char *s = json_string_value(j);
    char *buf = malloc(n + 1);
    char small[8];
    size_t cut = n / 2 + 1 < sizeof(small) ? n / 2 + 1 : sizeof(small);

    if (!buf)
        abort();
    memset(buf, 0x5A, n + 1);
    if (js_string(v, buf, n + 1) != (long)n || memcmp(buf, s, n) != 0 || buf[n] != '\0')
        abort();
    free(buf);
    /* Cut short: still NUL-terminated, the full length returned. */
    memset(small, 0x5A, sizeof(small));
    if (js_string(v, small, cut) != (long)n || small[cut - 1] != '\0' ||
        memcmp(small, s, cut - 1) != 0)
        abort();
    if (cut < sizeof(small) && small[cut] != 0x5A)
        abort();
    memset(small, 0x5A, sizeof(small));
    if (js_string(v, small, 0) != (long)n || small[0] != 0x5A)
        abort();
}

static void check_value(struct js_span v, const json_t *j);

/* Every member of object j through one js_members() call, plus names that
 * are not members. */
static void check_object(struct js_span v, const json_t *j)
{
    static const char *const probes[] = {"ok", "result", "", "message_id", "\xc3\xa9"};
    size_t nprobes = sizeof(probes) / sizeof(probes[0]);
    size_t n = json_object_size(j) + nprobes, i = 0;
    const char **keys = malloc(n * sizeof(*keys));
    struct js_span *out = malloc(n * sizeof(*out));
    const char *key;
    json_t *member;

    if (!keys || !out)
        abort();
    json_object_foreach((json_t *)j, key, member) keys[i++] = key;
    for (size_t k = 0; k < nprobes; k++)
        if (!json_object_get(j, probes[k])) /* js_members() wants distinct keys */
            keys[i++] = probes[k];
    n = i;
    memset(out, 0x5A, n * sizeof(*out));
    if (!js_members(v, keys, n, out))
        abort();
    for (i = 0; i < n; i++) {
        member = json_object_get(j, keys[i]);
        if (!member) {
            if (out[i].p != NULL || out[i].n != 0 || js_type(out[i]) != JS_NONE)
                abort();
            continue;
        }
        if (!out[i].p || out[i].p < v.p || out[i].p + out[i].n > v.p + v.n)
            abort();
        check_value(out[i], member);
    }
    free(keys);
    free(out);
}

static void check_value(struct js_span v, const json_t *j)
{
    enum js_type t = js_type(v);
    int64_t x = INT64_C(0x5A5A5A5A);

    if (t != expected_type(j))
        abort();
    if (js_int64(v, &x) != json_is_integer(j))
        abort();
    if (json_is_integer(j) && x != json_integer_value(j))
        abort();
    if (!json_is_integer(j) && x != INT64_C(0x5A5A5A5A))
        abort();
    if (json_is_string(j))
        check_string(v, j);
    else if (js_string(v, (char[1]){'x'}, 1) != -1)
        abort();
    if (json_is_object(j)) {
        check_object(v, j);
    } else {
        const char *key = "ok";
        struct js_span out = {"x", 1};
        if (js_members(v, &key, 1, &out) || out.p != NULL || out.n != 0)
            abort();
    }
    /* An array's elements one by one; nothing else has any. */
    struct js_span it = {NULL, 0};
    size_t i = 0;
    while (js_next(v, &it)) {
        if (!json_is_array(j) || i >= json_array_size(j) || it.p < v.p || it.p + it.n > v.p + v.n)
            abort();
        check_value(it, json_array_get(j, i++));
    }
    if (it.p || it.n || (json_is_array(j) && i != json_array_size(j)))
        abort();
}

/* js_check() against json_loadb() with the same flags. */
static void check_like_jansson(const char *p, size_t size, unsigned flags)
{
    json_error_t je;
    json_t *j = json_loadb(p, size, jansson_flags(flags), &je);
    struct js_span doc = {NULL, 0};
    size_t pos = 0;
    enum js_error e = js_check(p, size, flags, &doc, &pos);

    enum js_error want = JS_OK;
    if (!j && !jansson_error(&je, &want))
        abort();
    if (e != want || pos != (size_t)je.position)
        abort();
    if (j) {
        if (!doc.p || doc.n == 0 || doc.p < p || doc.p + doc.n > p + size || is_ws(doc.p[0]) ||
            is_ws(doc.p[doc.n - 1]) || doc.p[doc.n - 1] == '\0')
            abort();
        check_value(doc, j);
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct js_span doc = {NULL, 0};
    json_t *j;
    bool valid;

    check_like_jansson(p, size, 0);
    check_like_jansson(p, size, JS_DECODE_ANY);
    check_like_jansson(p, size, JS_ALLOW_NUL | JS_REJECT_DUPLICATES);
    check_like_jansson(p, size, JS_DECODE_ANY | JS_ALLOW_NUL | JS_REJECT_DUPLICATES);

    valid = js_valid(p, size, &doc);
    j = json_loadb(p, size, JSON_DECODE_ANY, NULL);
    if (valid != (j != NULL))
        abort();
    if (!j)
        return 0;
    /* doc is the value without the whitespace around it. */
    if (!doc.p || doc.n == 0 || doc.p < p || doc.p + doc.n > p + size || is_ws(doc.p[0]) ||
        is_ws(doc.p[doc.n - 1]))
        abort();
    for (const char *q = p; q < doc.p; q++)
        if (!is_ws(*q))
            abort();
    for (const char *q = doc.p + doc.n; q < p + size; q++)
        if (!is_ws(*q) && !(*q == '\0' && q == doc.p + doc.n)) /* the NUL jansson loses */
            abort();
    check_value(doc, j);
    json_decref(j);
    return 0;
}
