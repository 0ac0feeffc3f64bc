#include "jsonw.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util/strnum.h"

/* What a byte becomes inside a JSON string: 0 itself, 'u' \u00XX, else \ and that letter. */
static const char escape[256] = {
    ['\b'] = 'b',  ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't', ['"'] = '"',
    ['\\'] = '\\', [0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',
    [0x05] = 'u',  [0x06] = 'u', [0x07] = 'u', [0x0B] = 'u', [0x0E] = 'u', [0x0F] = 'u',
    [0x10] = 'u',  [0x11] = 'u', [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u',
    [0x16] = 'u',  [0x17] = 'u', [0x18] = 'u', [0x19] = 'u', [0x1A] = 'u', [0x1B] = 'u',
    [0x1C] = 'u',  [0x1D] = 'u', [0x1E] = 'u', [0x1F] = 'u',
};

/*
 * Whether one of the 8 bytes at p is a control character, '"' or '\\'
 * (the bytes escape[] escapes). Each test is exact for "any byte of the
 * word": bytes of 0x80 and above (UTF-8) never count.
 */
static bool needs_escape8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t below_space = (w - ones * 0x20) & ~w;
    uint64_t zero_q = (quote - ones) & ~quote, zero_b = (backslash - ones) & ~backslash;
    return ((below_space | zero_q | zero_b) & highs) != 0;
}

void jsonw_strn(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    buf_reserve(b, n + 2);
    buf_addc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        /* Eight bytes at a time while none of them needs escaping. */
        while (i + 8 <= n && !needs_escape8(u + i))
            i += 8;
        if (i >= n)
            break;
        char e = escape[u[i]];
        if (!e)
            continue;
        buf_addn(b, s + run, i - run);
        run = i + 1;
        if (e == 'u') {
            char x[6] = {'\\', 'u', '0', '0', hex[u[i] >> 4], hex[u[i] & 15]};
            buf_addn(b, x, sizeof(x));
        } else {
            char x[2] = {'\\', e};
            buf_addn(b, x, sizeof(x));
        }
    }
    buf_addn(b, s + run, n - run);
    buf_addc(b, '"');
}

void jsonw_str(struct buf *b, const char *s)
{
    jsonw_strn(b, s, strlen(s));
}

void jsonw_key(struct buf *b, const char *name)
{
    size_t n = buf_len(b);
    char last = n ? buf_str(b)[n - 1] : '{';
    if (last != '{' && last != '[')
        buf_addc(b, ',');
    buf_addc(b, '"');
    buf_add(b, name); /* names are the caller's own: nothing to escape */
    buf_add(b, "\":");
}

void jsonw_i64(struct buf *b, int64_t v)
{
    char num[STRNUM_I64_MAX];
    buf_addn(b, num, strnum_fmt_i64(num, v));
}
