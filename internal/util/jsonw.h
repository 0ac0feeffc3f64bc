/*
 * jsonw.h - writing JSON text into a struct buf without building a tree:
 * the Bot API payloads tgdesk queues, written once each, on the hot path.
 * (Reading JSON without trees is util/jscan.)
 */
#ifndef TGDESK_UTIL_JSONW_H
#define TGDESK_UTIL_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/*
 * Appends s (n bytes of UTF-8) as a JSON string, quotes included: '"' and
 * '\' escaped, control characters as \b, \f, \n, \r, \t or \u00XX. Bytes are copied
 * as they are otherwise, so s must be valid UTF-8 (the update parser
 * cleans what users send). Errors are the buffer's (buf_error()).
 */
void jsonw_strn(struct buf *b, const char *s, size_t n);

/* jsonw_strn() of a NUL-terminated string. */
void jsonw_str(struct buf *b, const char *s);

/*
 * Appends "name": after a comma unless it opens an object or an array. name
 * is written as it is: a name of the caller's own, with nothing to escape.
 */
void jsonw_key(struct buf *b, const char *name);

/* Appends an integer. */
void jsonw_i64(struct buf *b, int64_t v);

#endif
