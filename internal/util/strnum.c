#include "strnum.h"

#include <errno.h>
#include <stddef.h>
#include <strings.h>

int strnum_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    if (!s || !*s)
        return -EINVAL;

    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (*p < '0' || *p > '9')
        return -EINVAL;

    /* Accumulate as a negative number so INT64_MIN is representable. */
    int64_t acc = 0;
    bool overflow = false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        int d = *p - '0';
        if (acc < (INT64_MIN + d) / 10)
            overflow = true;
        else
            acc = acc * 10 - d;
    }
    if (overflow)
        return -ERANGE;
    if (!neg) {
        if (acc == INT64_MIN)
            return -ERANGE;
        acc = -acc;
    }
    if (acc < min || acc > max)
        return -ERANGE;
    *ret = acc;
    return 0;
}

int strnum_seconds_ms(const char *s, int64_t min_ms, int64_t max_ms, int64_t *ret)
{
    if (!s || !*s)
        return -EINVAL;

    int64_t whole = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > (INT64_MAX / 1000 - 9) / 10)
            return -ERANGE;
        whole = whole * 10 + (*p - '0');
    }
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++digits > 3)
                return -EINVAL;
            frac = frac * 10 + (*p - '0');
        }
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (*p)
        return -EINVAL;

    int64_t ms = whole * 1000 + frac;
    if (ms < min_ms || ms > max_ms)
        return -ERANGE;
    *ret = ms;
    return 0;
}

int strnum_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

size_t strnum_fmt_i64(char buf[STRNUM_I64_MAX], int64_t v)
{
    char tmp[STRNUM_I64_MAX];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    size_t len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n > 0)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

int strnum_hexdigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int strnum_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}
