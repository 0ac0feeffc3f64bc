#include "array.h"

#include <string.h>

#include "util/strnum.h"

void db_array_open(struct buf *b)
{
    buf_reset(b);
    buf_addc(b, '{');
}

static void sep(struct buf *b)
{
    if (buf_len(b) > 1)
        buf_addc(b, ',');
}

void db_array_textn(struct buf *b, const char *s, size_t n)
{
    sep(b);
    buf_addc(b, '"');
    const char *end = s + n;
    while (s < end) {
        size_t run = 0;
        while (s + run < end && s[run] != '"' && s[run] != '\\')
            run++;
        buf_addn(b, s, run);
        s += run;
        if (s < end) {
            char esc[2] = {'\\', *s++};
            buf_addn(b, esc, 2);
        }
    }
    buf_addc(b, '"');
}

void db_array_text(struct buf *b, const char *s)
{
    if (!s) {
        db_array_null(b);
        return;
    }
    /* strcspn() finds the next quote or backslash many bytes at a time. */
    sep(b);
    buf_addc(b, '"');
    for (;;) {
        size_t run = strcspn(s, "\"\\");
        buf_addn(b, s, run);
        s += run;
        if (!*s)
            break;
        char esc[2] = {'\\', *s++};
        buf_addn(b, esc, 2);
    }
    buf_addc(b, '"');
}

void db_array_i64(struct buf *b, int64_t v)
{
    sep(b);
    char num[STRNUM_I64_MAX];
    buf_addn(b, num, strnum_fmt_i64(num, v));
}

void db_array_null(struct buf *b)
{
    sep(b);
    buf_add(b, "NULL");
}

const char *db_array_close(struct buf *b)
{
    buf_addc(b, '}');
    return buf_error(b) ? NULL : buf_str(b);
}
