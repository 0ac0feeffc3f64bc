#include "jscan.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- validation ---------------------------------------------------------- */

struct scan {
    const char *p, *end;
};

static void ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at p (end checked by the caller); -1 when not hex. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Length of the UTF-8 sequence at p (< end), or 0 when it is not valid
 * UTF-8: overlong forms, surrogates and code points above U+10FFFF are not. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* A string at s->p (which is '"'); leaves s->p after the closing quote. */
static bool check_string(struct scan *s)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (s->end - s->p < 2)
                return false;
            char e = s->p[1];
            if (e == 'u') {
                if (s->end - s->p < 6)
                    return false;
                long u = hex4(s->p + 2);
                if (u <= 0) /* not hex, or \u0000: jansson refuses NUL */
                    return false;
                s->p += 6;
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return false; /* a low surrogate alone */
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
                        return false;
                    long lo = hex4(s->p + 2);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                    s->p += 6;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return false;
            s->p += 2;
            continue;
        }
        size_t n = utf8_len((const unsigned char *)s->p, (const unsigned char *)s->end);
        if (n == 0)
            return false;
        s->p += n;
    }
    return false;
}

static bool digits(struct scan *s)
{
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

/* A number, checked as jansson checks it: integers must fit long long, reals
 * must not overflow a double. */
static bool check_number(struct scan *s)
{
    const char *start = s->p;
    bool real = false;
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        real = true;
        if (!digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        real = true;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return false;
    }
    struct js_span v = {start, (size_t)(s->p - start)};
    if (!real) {
        int64_t x;
        return js_int64(v, &x);
    }
    char small[128];
    char *buf = v.n < sizeof(small) ? small : malloc(v.n + 1);
    if (!buf)
        return false;
    memcpy(buf, v.p, v.n);
    buf[v.n] = '\0';
    errno = 0;
    double d = strtod(buf, NULL);
    bool ok = !(errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL));
    if (buf != small)
        free(buf);
    return ok;
}

static bool literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool check_value(struct scan *s, int depth)
{
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '"':
        return check_string(s);
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    case '{':
    case '[': {
        char close = *s->p == '{' ? '}' : ']';
        bool object = close == '}';
        if (depth >= JS_MAX_DEPTH)
            return false;
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return true;
        }
        for (;;) {
            if (object) {
                if (s->p >= s->end || *s->p != '"' || !check_string(s))
                    return false;
                ws(s);
                if (s->p >= s->end || *s->p != ':')
                    return false;
                s->p++;
                ws(s);
            }
            if (!check_value(s, depth + 1))
                return false;
            ws(s);
            if (s->p >= s->end)
                return false;
            if (*s->p == close) {
                s->p++;
                return true;
            }
            if (*s->p != ',')
                return false;
            s->p++;
            ws(s);
        }
    }
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return check_number(s);
        return false;
    }
}

bool js_valid(const char *p, size_t n, struct js_span *ret)
{
    if (!p)
        return false;
    struct scan s = {p, p + n};
    ws(&s);
    const char *start = s.p;
    if (!check_value(&s, 0))
        return false;
    const char *stop = s.p;
    ws(&s);
    if (s.p != s.end)
        return false;
    if (ret)
        *ret = (struct js_span){start, (size_t)(stop - start)};
    return true;
}

/* ---- reading validated text ---------------------------------------------- */

enum js_type js_type(struct js_span v)
{
    if (!v.p || v.n == 0)
        return JS_NONE;
    switch (v.p[0]) {
    case '{':
        return JS_OBJECT;
    case '[':
        return JS_ARRAY;
    case '"':
        return JS_STRING;
    case 't':
        return JS_TRUE;
    case 'f':
        return JS_FALSE;
    case 'n':
        return JS_NULL;
    default:
        return JS_NUMBER;
    }
}

/* Skips a string of valid text at p ('"'); returns what follows it. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return end;
}

/* Skips one value of valid text at p; returns what follows it. */
static const char *skip_value(const char *p, const char *end)
{
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p;
}

/* Encodes code point cp as UTF-8 into out; returns how many bytes. */
static size_t utf8_encode(unsigned long cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Unescapes what starts at *p, inside a string of valid text that ends at
 * end (its closing quote), into out: one byte as it is, or the UTF-8 of one
 * escape (a surrogate pair is one). Returns how many bytes; moves *p on.
 */
static size_t unescape(const char **p, const char *end, char out[4])
{
    const char *q = *p;
    if (*q != '\\') {
        *p = q + 1;
        out[0] = *q;
        return 1;
    }
    char e = q[1];
    *p = q + 2;
    switch (e) {
    case 'b':
        out[0] = '\b';
        return 1;
    case 'f':
        out[0] = '\f';
        return 1;
    case 'n':
        out[0] = '\n';
        return 1;
    case 'r':
        out[0] = '\r';
        return 1;
    case 't':
        out[0] = '\t';
        return 1;
    case 'u': {
        unsigned long cp = (unsigned long)hex4(q + 2);
        q += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF && end - q >= 6) {
            unsigned long lo = (unsigned long)hex4(q + 2);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            q += 6;
        }
        *p = q;
        return utf8_encode(cp, out);
    }
    default: /* " \ / */
        out[0] = e;
        return 1;
    }
}

/* Whether the string k of valid text (quotes included) unescapes to the len
 * bytes at key; names of any length, compared without a buffer. */
static bool name_is(struct js_span k, const char *key, size_t len)
{
    const char *p = k.p + 1, *end = k.p + k.n - 1; /* between the quotes */
    if (!memchr(p, '\\', (size_t)(end - p)))
        return (size_t)(end - p) == len && memcmp(p, key, len) == 0;
    size_t i = 0;
    while (p < end) {
        char c[4];
        size_t m = unescape(&p, end, c);
        if (m > len - i || memcmp(key + i, c, m) != 0)
            return false;
        i += m;
    }
    return i == len;
}

bool js_members(struct js_span v, const char *const *keys, size_t nkeys, struct js_span *out)
{
    for (size_t i = 0; i < nkeys; i++)
        out[i] = (struct js_span){NULL, 0};
    if (js_type(v) != JS_OBJECT)
        return false;
    struct scan s = {v.p + 1, v.p + v.n};
    for (;;) {
        ws(&s);
        if (s.p >= s.end || *s.p != '"')
            return true; /* '}' */
        const char *kstart = s.p;
        s.p = skip_string(s.p, s.end);
        struct js_span k = {kstart, (size_t)(s.p - kstart)};
        ws(&s);
        s.p++; /* ':' */
        ws(&s);
        const char *vstart = s.p;
        s.p = skip_value(s.p, s.end);
        struct js_span val = {vstart, (size_t)(s.p - vstart)};
        for (size_t i = 0; i < nkeys; i++)
            if (name_is(k, keys[i], strlen(keys[i])))
                out[i] = val;
        ws(&s);
        if (s.p >= s.end || *s.p != ',')
            return true;
        s.p++;
    }
}

bool js_int64(struct js_span v, int64_t *ret)
{
    if (js_type(v) != JS_NUMBER)
        return false;
    const char *p = v.p, *end = v.p + v.n;
    bool neg = p < end && *p == '-';
    if (neg)
        p++;
    if (p == end)
        return false;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t x = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (x > (limit - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *ret = neg ? (int64_t)(0 - x) : (int64_t)x;
    return true;
}

long js_string(struct js_span v, char *buf, size_t cap)
{
    if (js_type(v) != JS_STRING)
        return -1;
    size_t len = 0;
    const char *p = v.p + 1, *end = v.p + v.n - 1; /* between the quotes */
    while (p < end) {
        char c[4];
        size_t m = unescape(&p, end, c);
        /* Bytes that fit before the terminator. */
        for (size_t i = 0; i < m; i++, len++)
            if (len + 1 < cap)
                buf[len] = c[i];
    }
    if (cap > 0)
        buf[len < cap ? len : cap - 1] = '\0';
    return (long)len;
}
