#include "strnum.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
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

/* "00" to "99": two digits per division. */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

size_t strnum_fmt_i64(char buf[STRNUM_I64_MAX], int64_t v)
{
    char tmp[STRNUM_I64_MAX];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = sizeof(tmp); /* written backwards from the end */
    while (u >= 100) {
        const char *d = digit_pairs + 2 * (u % 100);
        u /= 100;
        tmp[--n] = d[1];
        tmp[--n] = d[0];
    }
    if (u >= 10) {
        tmp[--n] = digit_pairs[2 * u + 1];
        tmp[--n] = digit_pairs[2 * u];
    } else {
        tmp[--n] = (char)('0' + u);
    }
    size_t len = 0;
    if (v < 0)
        buf[len++] = '-';
    memcpy(buf + len, tmp + n, sizeof(tmp) - n);
    len += sizeof(tmp) - n;
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
