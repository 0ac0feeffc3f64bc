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
        /* Names are compared unescaped; the ones asked for are short. */
        char name[64];
        long len;
        if (memchr(k.p, '\\', k.n)) {
            len = js_string(k, name, sizeof(name));
        } else {
            len = (long)k.n - 2;
            if ((size_t)len < sizeof(name)) {
                memcpy(name, k.p + 1, (size_t)len);
                name[len] = '\0';
            }
        }
        if (len >= 0 && (size_t)len < sizeof(name))
            for (size_t i = 0; i < nkeys; i++)
                if (strlen(keys[i]) == (size_t)len && memcmp(keys[i], name, (size_t)len) == 0)
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

/* Appends byte c at buf[*len] while it fits (the terminator keeps a byte). */
static void put(char *buf, size_t cap, size_t *len, char c)
{
    if (*len + 1 < cap)
        buf[*len] = c;
    (*len)++;
}

static void put_utf8(char *buf, size_t cap, size_t *len, unsigned long cp)
{
    if (cp < 0x80) {
        put(buf, cap, len, (char)cp);
    } else if (cp < 0x800) {
        put(buf, cap, len, (char)(0xC0 | (cp >> 6)));
        put(buf, cap, len, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        put(buf, cap, len, (char)(0xE0 | (cp >> 12)));
        put(buf, cap, len, (char)(0x80 | ((cp >> 6) & 0x3F)));
        put(buf, cap, len, (char)(0x80 | (cp & 0x3F)));
    } else {
        put(buf, cap, len, (char)(0xF0 | (cp >> 18)));
        put(buf, cap, len, (char)(0x80 | ((cp >> 12) & 0x3F)));
        put(buf, cap, len, (char)(0x80 | ((cp >> 6) & 0x3F)));
        put(buf, cap, len, (char)(0x80 | (cp & 0x3F)));
    }
}

long js_string(struct js_span v, char *buf, size_t cap)
{
    if (js_type(v) != JS_STRING)
        return -1;
    size_t len = 0;
    const char *p = v.p + 1, *end = v.p + v.n - 1; /* between the quotes */
    while (p < end) {
        if (*p != '\\') {
            put(buf, cap, &len, *p++);
            continue;
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case 'b':
            put(buf, cap, &len, '\b');
            break;
        case 'f':
            put(buf, cap, &len, '\f');
            break;
        case 'n':
            put(buf, cap, &len, '\n');
            break;
        case 'r':
            put(buf, cap, &len, '\r');
            break;
        case 't':
            put(buf, cap, &len, '\t');
            break;
        case 'u': {
            unsigned long cp = (unsigned long)hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6) {
                unsigned long lo = (unsigned long)hex4(p + 2);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            put_utf8(buf, cap, &len, cp);
            break;
        }
        default: /* " \ / */
            put(buf, cap, &len, e);
        }
    }
    if (cap > 0)
        buf[len < cap ? len : cap - 1] = '\0';
    return (long)len;
}
