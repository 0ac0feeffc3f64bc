/*
 * strnum.h - range-checked number parsing (kore's kore_strtonum, in spirit).
 *
 * Every parser takes the whole string: leading/trailing garbage, an empty
 * string, a sign where none is allowed or a value outside [min, max] is an
 * error. On error *ret is not touched. All functions are pure and thread-safe.
 */
#ifndef TGDESK_STRNUM_H
#define TGDESK_STRNUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses a decimal integer (optional leading '-' or '+', no spaces) in
 * [min, max]. Returns 0, -EINVAL (not a number) or -ERANGE (out of range).
 */
int strnum_i64(const char *s, int64_t min, int64_t max, int64_t *ret);

/*
 * Parses a duration given in seconds with up to three decimals ("30",
 * "0.25") into milliseconds, in [min_ms, max_ms]. Returns 0, -EINVAL or
 * -ERANGE.
 */
int strnum_seconds_ms(const char *s, int64_t min_ms, int64_t max_ms, int64_t *ret);

/*
 * Parses a boolean: true/false, yes/no, on/off, 1/0 (case-insensitive).
 * Returns 0 or -EINVAL.
 */
int strnum_bool(const char *s, bool *ret);

/* Longest decimal int64_t, with its sign and terminator. */
#define STRNUM_I64_MAX 21

/*
 * Writes v in decimal into buf (NUL-terminated) and returns its length: what
 * snprintf("%" PRId64) writes, without the cost of a format string (it ran
 * for every id of every batch).
 */
size_t strnum_fmt_i64(char buf[STRNUM_I64_MAX], int64_t v);

/* Orders two int64_t for qsort() and bsearch(). */
int strnum_cmp_i64(const void *a, const void *b);

/* The value of one hexadecimal digit (either case), or -1. */
int strnum_hexdigit(char c);

#endif
