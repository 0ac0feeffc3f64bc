#include "jsonw.h"

#include <string.h>

#include "util/strnum.h"

void jsonw_strn(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    buf_addc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_addn(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            buf_addn(b, "\\\"", 2);
            break;
        case '\\':
            buf_addn(b, "\\\\", 2);
            break;
        case '\n':
            buf_addn(b, "\\n", 2);
            break;
        case '\r':
            buf_addn(b, "\\r", 2);
            break;
        case '\t':
            buf_addn(b, "\\t", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_addn(b, u, sizeof(u));
        }
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
    jsonw_str(b, name);
    buf_addc(b, ':');
}

void jsonw_i64(struct buf *b, int64_t v)
{
    char num[STRNUM_I64_MAX];
    buf_addn(b, num, strnum_fmt_i64(num, v));
}
