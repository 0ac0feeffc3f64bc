/*
 * jscan.h - reading a few fields out of a JSON text without building a tree.
 *
 * jansson's json_loadb() builds every object, key and value of a document
 * and json_decref() frees them again: for a Bot API answer, of which the
 * sender needs "ok", an error code and a message_id, that was about 60,000
 * instructions per message. js_valid() checks the whole text as strictly as
 * jansson does (RFC 8259, UTF-8, no NUL in strings); the other calls then
 * pick members out of the validated text and convert single values.
 *
 * Every function takes spans of a text that js_valid() accepted; they do not
 * re-check it.
 */
#ifndef TGDESK_UTIL_JSCAN_H
#define TGDESK_UTIL_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting js_valid() accepts. */
#define JS_MAX_DEPTH 256

/* The text of one JSON value; p is NULL when there is none. */
struct js_span {
    const char *p;
    size_t n;
};

enum js_type { JS_NONE, JS_OBJECT, JS_ARRAY, JS_STRING, JS_NUMBER, JS_TRUE, JS_FALSE, JS_NULL };

/*
 * True when [p, p + n) is exactly one JSON value, optionally surrounded by
 * whitespace; *ret (may be NULL) is then that value without the whitespace.
 */
bool js_valid(const char *p, size_t n, struct js_span *ret);

/* The type of a value; JS_NONE for an absent one. */
enum js_type js_type(struct js_span v);

/*
 * For an object: out[i] is the value of the member named keys[i] (the last
 * one when a name repeats, as jansson keeps it), or {NULL, 0}. Returns false,
 * every out[i] absent, when v is not an object.
 */
bool js_members(struct js_span v, const char *const *keys, size_t nkeys, struct js_span *out);

/* A number written as an integer that fits int64_t (as json_is_integer). */
bool js_int64(struct js_span v, int64_t *ret);

/*
 * A string, unescaped into buf (always NUL-terminated when cap > 0, cut at
 * cap - 1 bytes). Returns the full unescaped length, or -1 when v is not a
 * string.
 */
long js_string(struct js_span v, char *buf, size_t cap);

#endif
