/*
 * jscan_jansson.h - jansson as the oracle of util/jscan: its flags and error
 * codes in js_check()'s terms. Shared by test_jscan.c and fuzz_jscan.c.
 */
#ifndef TGDESK_TEST_JSCAN_JANSSON_H
#define TGDESK_TEST_JSCAN_JANSSON_H

#include <jansson.h>
#include <stdbool.h>

#include "util/jscan.h"

/* json_loadb() flags for js_check() flags. */
static inline size_t jansson_flags(unsigned flags)
{
    return (flags & JS_DECODE_ANY ? JSON_DECODE_ANY : 0) |
           (flags & JS_ALLOW_NUL ? JSON_ALLOW_NUL : 0) |
           (flags & JS_REJECT_DUPLICATES ? JSON_REJECT_DUPLICATES : 0);
}

/* jansson's error code as js_check() names it; false for one it has no name for. */
static inline bool jansson_error(const json_error_t *e, enum js_error *ret)
{
    switch (json_error_code(e)) {
    case json_error_invalid_syntax:
        *ret = JS_ESYNTAX;
        return true;
    case json_error_premature_end_of_input:
        *ret = JS_ETRUNCATED;
        return true;
    case json_error_end_of_input_expected:
        *ret = JS_ETRAILING;
        return true;
    case json_error_invalid_utf8:
        *ret = JS_EUTF8;
        return true;
    case json_error_stack_overflow:
        *ret = JS_EDEPTH;
        return true;
    case json_error_numeric_overflow:
        *ret = JS_ERANGE;
        return true;
    case json_error_duplicate_key:
        *ret = JS_EDUPLICATE;
        return true;
    case json_error_null_byte_in_key:
        *ret = JS_ENULKEY;
        return true;
    case json_error_null_character:
        *ret = JS_ENUL;
        return true;
    case json_error_out_of_memory:
        *ret = JS_ENOMEM;
        return true;
    case json_error_invalid_argument:
        *ret = JS_EARGUMENT;
        return true;
    default:
        return false;
    }
}

#endif
