#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First allocation; the buffer doubles from there. */
#define BUF_FIRST 256

void buf_init(struct buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->priv_max = max < SIZE_MAX ? max : SIZE_MAX - 1; /* room for the NUL */
}

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Makes room for need more bytes and the NUL. */
static int grow(struct buf *b, size_t need)
{
    /* need <= priv_max - priv_len and priv_max < SIZE_MAX: no overflow. */
    size_t want = b->priv_len + need + 1;
    if (want <= b->priv_cap)
        return 0;
    size_t cap = b->priv_cap ? b->priv_cap : BUF_FIRST;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    if (cap > b->priv_max + 1)
        cap = b->priv_max + 1;
    char *p = realloc(b->priv_s, cap);
    if (!p)
        return -ENOMEM;
    b->priv_s = p;
    b->priv_cap = cap;
    return 0;
}

int buf_reserve(struct buf *b, size_t n)
{
    if (b->priv_err)
        return b->priv_err;
    if (n > b->priv_max - b->priv_len)
        n = b->priv_max - b->priv_len;
    if (grow(b, n) < 0) {
        b->priv_err = -ENOMEM;
        return -ENOMEM;
    }
    return 0;
}

int buf_addn(struct buf *b, const void *s, size_t n)
{
    if (b->priv_err)
        return b->priv_err;
    if (n == 0)
        return 0;
    int err = 0;
    const char *src = s;
    if (n > b->priv_max - b->priv_len) {
        size_t room = b->priv_max - b->priv_len;
        /* Cut before the character that does not fit whole. */
        while (room > 0 && is_cont((unsigned char)src[room]))
            room--;
        n = room;
        err = -E2BIG;
    }
    if (grow(b, n) < 0) {
        b->priv_err = -ENOMEM;
        return -ENOMEM;
    }
    memcpy(b->priv_s + b->priv_len, src, n);
    b->priv_len += n;
    b->priv_s[b->priv_len] = '\0';
    b->priv_err = err;
    return err;
}

int buf_add(struct buf *b, const char *s)
{
    return s ? buf_addn(b, s, strlen(s)) : b->priv_err;
}

int buf_addc(struct buf *b, char c)
{
    if (!b->priv_err && b->priv_len < b->priv_max && b->priv_len + 1 < b->priv_cap) {
        b->priv_s[b->priv_len++] = c; /* the common case: room already there */
        b->priv_s[b->priv_len] = '\0';
        return 0;
    }
    return buf_addn(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    if (b->priv_err)
        return b->priv_err;
    char small[256];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0) {
        va_end(again);
        b->priv_err = -EINVAL;
        return -EINVAL;
    }
    if ((size_t)n < sizeof(small)) {
        va_end(again);
        return buf_addn(b, small, (size_t)n);
    }
    /*
     * Past the cap only room + 1 bytes matter (buf_addn() looks at the first
     * byte that does not fit), so a long text never costs more than the cap.
     */
    size_t room = b->priv_max - b->priv_len;
    size_t keep = (size_t)n <= room ? (size_t)n : room + 1;
    char *big = malloc(keep + 1);
    if (!big) {
        va_end(again);
        b->priv_err = -ENOMEM;
        return -ENOMEM;
    }
    vsnprintf(big, keep + 1, fmt, again);
    va_end(again);
    int rc = buf_addn(b, big, keep);
    free(big);
    return rc;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_str(const struct buf *b)
{
    return b->priv_s ? b->priv_s : "";
}

size_t buf_len(const struct buf *b)
{
    return b->priv_len;
}

int buf_error(const struct buf *b)
{
    return b->priv_err;
}

void buf_truncate(struct buf *b, size_t len)
{
    if (len < b->priv_len) {
        b->priv_len = len;
        b->priv_s[len] = '\0';
    }
}

void buf_reset(struct buf *b)
{
    b->priv_len = 0;
    b->priv_err = 0;
    if (b->priv_s)
        b->priv_s[0] = '\0';
}

char *buf_take(struct buf *b)
{
    size_t max = b->priv_max;
    char *s = NULL;
    if (!b->priv_err)
        s = b->priv_s ? b->priv_s : strdup("");
    else
        free(b->priv_s);
    buf_init(b, max);
    return s;
}

void buf_free(struct buf *b)
{
    if (!b)
        return;
    free(b->priv_s);
    buf_init(b, b->priv_max);
}
