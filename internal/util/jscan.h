/*
 * jscan.h - reading a few fields out of a JSON text without building a tree.
 *
 * jansson's json_loadb() builds every object, key and value of a document
 * and json_decref() frees them again: for a Bot API answer, of which the
 * sender needs "ok", an error code and a message_id, that was about 60,000
 * instructions per message. js_check() judges a text as jansson's
 * json_loadb() does - flags, quirks and error included - and js_valid() is
 * its yes or no for any one value; the other calls then pick members out of
 * the validated text and convert single values.
 *
 * Every other function takes spans of a text that js_valid() or js_check()
 * accepted; they do not re-check it.
 */
#ifndef TGDESK_UTIL_JSCAN_H
#define TGDESK_UTIL_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The text of one JSON value; p is NULL when there is none. */
struct js_span {
    const char *p;
    size_t n;
};

enum js_type { JS_NONE, JS_OBJECT, JS_ARRAY, JS_STRING, JS_NUMBER, JS_TRUE, JS_FALSE, JS_NULL };

/*
 * True when [p, p + n) is exactly one JSON value, optionally surrounded by
 * whitespace, as json_loadb(p, n, JSON_DECODE_ANY) accepts it: js_check()
 * with JS_DECODE_ANY. *ret (may be NULL) is then that value without the
 * whitespace.
 */
bool js_valid(const char *p, size_t n, struct js_span *ret);

/* The type of a value; JS_NONE for an absent one. */
enum js_type js_type(struct js_span v);

/*
 * For an object: out[i] is the value of the member named keys[i] (the last
 * one when a name repeats, as jansson keeps it), or {NULL, 0}. The keys are
 * distinct (a member is matched with one key at most). Returns false, every
 * out[i] absent, when v is not an object.
 */
bool js_members(struct js_span v, const char *const *keys, size_t nkeys, struct js_span *out);

/*
 * The elements of an array, one per call: *it starts as {NULL, 0} and is then
 * the previous element. Returns false, *it {NULL, 0}, after the last one or
 * when arr is not an array.
 */
bool js_next(struct js_span arr, struct js_span *it);

/* A number written as an integer that fits int64_t (as json_is_integer). */
bool js_int64(struct js_span v, int64_t *ret);

/*
 * A string, unescaped into buf (always NUL-terminated when cap > 0, cut at
 * cap - 1 bytes). Returns the full unescaped length, or -1 when v is not a
 * string.
 */
long js_string(struct js_span v, char *buf, size_t cap);

/* Flags of js_check(): jansson's JSON_DECODE_ANY, JSON_ALLOW_NUL and
 * JSON_REJECT_DUPLICATES. */
#define JS_DECODE_ANY        0x1u /* any value at the top, not only an object or an array */
#define JS_ALLOW_NUL         0x2u /* \u0000 in strings (never in member names) */
#define JS_REJECT_DUPLICATES 0x4u /* a name twice in one object, at any depth, is an error */

/* Deepest nesting js_check() accepts: jansson's JSON_PARSER_MAX_DEPTH. It
 * counts scalars too: in 2048 nested arrays the innermost must be empty. */
#define JS_CHECK_MAX_DEPTH 2048

/* Why js_check() refuses a text: jansson's json_error_code for it. */
enum js_error {
    JS_OK = 0,
    JS_ESYNTAX,    /* json_error_invalid_syntax */
    JS_ETRUNCATED, /* json_error_premature_end_of_input */
    JS_ETRAILING,  /* json_error_end_of_input_expected */
    JS_EUTF8,      /* json_error_invalid_utf8 */
    JS_EDEPTH,     /* json_error_stack_overflow */
    JS_ERANGE,     /* json_error_numeric_overflow */
    JS_EDUPLICATE, /* json_error_duplicate_key */
    JS_ENULKEY,    /* json_error_null_byte_in_key */
    JS_ENUL,       /* json_error_null_character: \u0000 without JS_ALLOW_NUL */
    JS_ENOMEM,     /* json_error_out_of_memory */
    JS_EARGUMENT,  /* json_error_invalid_argument: p is NULL */
};

/*
 * What jansson 2.14's json_loadb(p, n, flags, &error) makes of a text, without
 * building a tree: JS_OK with *ret (may be NULL) the value without the
 * whitespace around it, or the error jansson reports; *ret_pos (may be NULL)
 * is its error.position either way, a count of bytes read. Its quirks are
 * kept: a NUL byte right after a number or true/false/null is dropped ("[1\0]"
 * is [1]) and not counted, and invalid UTF-8 is an error as soon as it is
 * read, in a string or not. Allocates only for reals of over 127 characters
 * and for objects with many names under JS_REJECT_DUPLICATES (JS_ENOMEM when
 * that fails).
 */
enum js_error js_check(const char *p, size_t n, unsigned flags, struct js_span *ret,
                       size_t *ret_pos);

#endif
