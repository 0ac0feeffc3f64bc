/*
 * buf.h - the project's one growable byte buffer, with a hard cap.
 *
 * Modelled on curl's dynbuf: the cap is set when the buffer is created and
 * the fields are private to this API. Appending past the cap keeps what fits
 * (cut at a UTF-8 character boundary, so text stays valid) and marks the
 * buffer too big; an allocation failure marks it out of memory. Either mark
 * is sticky: later appends are dropped, and buf_error() tells which, so a
 * caller may append many pieces and check once at the end.
 *
 * The text is always NUL-terminated. A buffer is not thread-safe; it belongs
 * to whoever declared it. The memory is released with buf_free() (or handed
 * over with buf_take()).
 */
#ifndef TGDESK_UTIL_BUF_H
#define TGDESK_UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
    /* private: use the functions below */
    char *priv_s;
    size_t priv_len, priv_cap, priv_max;
    int priv_err; /* 0, -E2BIG, -ENOMEM or -EINVAL */
};

/*
 * Starts an empty buffer that will hold at most max bytes (plus the NUL);
 * SIZE_MAX means no cap but memory.
 */
void buf_init(struct buf *b, size_t max);

/*
 * Appends n bytes of s. Returns 0, -E2BIG when they did not all fit under
 * the cap (what fits is kept, cut at a UTF-8 boundary), or -ENOMEM. After
 * either error every later append is dropped and returns the same error.
 * s must not point into b's own text (growing may move it).
 */
int buf_addn(struct buf *b, const void *s, size_t n);

/*
 * Makes room for n more bytes (at most up to the cap) in one allocation, so
 * that appending them costs no further one: for a caller that knows the
 * size ahead. Returns 0 or -ENOMEM (sticky, as for buf_addn()).
 */
int buf_reserve(struct buf *b, size_t n);

/* Appends the string s (NULL appends nothing). Returns as buf_addn(). */
int buf_add(struct buf *b, const char *s);

/* Appends one byte. Returns as buf_addn(). */
int buf_addc(struct buf *b, char c);

/*
 * Appends printf-formatted text. Returns as buf_addn(), or -EINVAL (sticky
 * too) when the text cannot be formatted (e.g. %ls of an invalid character).
 */
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The text so far; "" when empty. Borrowed: valid until the next change. */
const char *buf_str(const struct buf *b);

/* Bytes held, without the NUL. */
size_t buf_len(const struct buf *b);

/* 0, -E2BIG (something was cut at the cap), -ENOMEM or -EINVAL (see buf_addf()). */
int buf_error(const struct buf *b);

/* Cuts the text back to its first len bytes (len <= buf_len()); keeps any error mark. */
void buf_truncate(struct buf *b, size_t len);

/* Empties the buffer and clears its error mark, keeping the memory. */
void buf_reset(struct buf *b);

/*
 * Hands the text over: returns it (caller frees; "" is returned as a fresh
 * empty string) and leaves b empty, as after buf_init() with the same cap.
 * Returns NULL when b has an error mark or memory runs out (b is then freed).
 */
char *buf_take(struct buf *b);

/* Releases the memory; b may be reused after buf_init(). Accepts NULL. */
void buf_free(struct buf *b);

#endif
