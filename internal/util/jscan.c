#include "jscan.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/strnum.h"

/* ---- characters ---------------------------------------------------------- */

/* Reads 4 hex digits at p (end checked by the caller); -1 when not hex. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = strnum_hexdigit(p[i]);
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

/* Whether the real number text [p, p + n) does not overflow a double, as
 * jansson's jsonp_strtod() judges it. */
static bool real_fits(const char *p, size_t n)
{
    char small[128];
    char *buf = n < sizeof(small) ? small : malloc(n + 1);
    if (!buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    errno = 0;
    double d = strtod(buf, NULL);
    bool ok = !(errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL));
    if (buf != small)
        free(buf);
    return ok;
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

/* Skips whitespace, and the NUL byte js_check() lets follow a number or a
 * literal; returns what follows. */
static const char *gap(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\0'))
        p++;
    return p;
}

/* Skips a string of valid text at p ('"'); returns what follows it. */
static const char *skip_string(const char *p, const char *end)
{
    /* memchr() takes long strings in strides; a quote ends the string unless
     * an odd number of backslashes escapes it */
    for (p++; p < end;) {
        const char *q = memchr(p, '"', (size_t)(end - p)), *b;
        if (!q)
            break;
        for (b = q; b > p && b[-1] == '\\'; b--)
            ;
        if ((q - b) % 2 == 0)
            return q + 1;
        p = q + 1;
    }
    return end;
}

/* What skip_value() stops at in a container: strings and the nesting. */
static const bool structural[256] = {
    ['"'] = true, ['{'] = true, ['['] = true, ['}'] = true, [']'] = true,
};

/* Skips one value of valid text at p; returns what follows it. */
static const char *skip_value(const char *p, const char *end)
{
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        for (;;) {
            while (p < end && !structural[(unsigned char)*p])
                p++;
            if (p >= end)
                return end;
            if (*p == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if (--depth == 0)
                return p + 1;
            p++;
        }
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r' && *p != '\0')
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

/* Skips a member name of valid text at p ('"'); returns what follows it and
 * whether the name has escapes. */
static const char *skip_name(const char *p, const char *end, bool *ret_esc)
{
    bool esc = false;
    for (p++; p < end; p++) {
        if (*p == '\\') {
            esc = true;
            p++;
        } else if (*p == '"') {
            break;
        }
    }
    *ret_esc = esc;
    return p < end ? p + 1 : end;
}

/* Whether the len bytes of a name without escapes (so without NUL) are key:
 * compared as they come, no key's length taken. */
static bool raw_name_is(const char *name, size_t len, const char *key)
{
    size_t i = 0;
    /* a key shorter than the name stops at its NUL, which no name byte is */
    while (i < len && key[i] == name[i])
        i++;
    return i == len && key[len] == '\0';
}

bool js_members(struct js_span v, const char *const *keys, size_t nkeys, struct js_span *out)
{
    for (size_t i = 0; i < nkeys; i++)
        out[i] = (struct js_span){NULL, 0};
    if (js_type(v) != JS_OBJECT)
        return false;
    const char *p = v.p + 1, *end = v.p + v.n;
    for (;;) {
        p = gap(p, end);
        if (p >= end || *p != '"')
            return true; /* '}' */
        const char *k = p;
        bool esc;
        p = skip_name(p, end, &esc);
        size_t len = (size_t)(p - k) - 2; /* between the quotes */
        p = gap(p, end);
        p++; /* ':' */
        p = gap(p, end);
        const char *vstart = p;
        p = skip_value(p, end);
        for (size_t i = 0; i < nkeys; i++) {
            /* A name without escapes is its bytes: no unescaping to compare. */
            if (esc ? name_is((struct js_span){k, len + 2}, keys[i], strlen(keys[i]))
                    : raw_name_is(k + 1, len, keys[i])) {
                out[i] = (struct js_span){vstart, (size_t)(p - vstart)};
                break; /* the keys are distinct */
            }
        }
        p = gap(p, end);
        if (p >= end || *p != ',')
            return true;
        p++;
    }
}

bool js_next(struct js_span arr, struct js_span *it)
{
    const char *p = NULL, *end = NULL;

    if (js_type(arr) == JS_ARRAY) {
        end = arr.p + arr.n;
        if (!it->p) {
            p = gap(arr.p + 1, end);
            if (p < end && *p == ']')
                p = NULL;
        } else {
            p = gap(it->p + it->n, end);
            p = p < end && *p == ',' ? gap(p + 1, end) : NULL;
        }
    }
    if (!p || p >= end) {
        *it = (struct js_span){NULL, 0};
        return false;
    }
    *it = (struct js_span){p, (size_t)(skip_value(p, end) - p)};
    return true;
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
    bool check = end - p > 18; /* 18 digits always fit */
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (check && x > (limit - d) / 10)
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

/* ---- jansson's verdict --------------------------------------------------- */

/*
 * js_check() is jansson 2.14's load.c redone over the text in place: its
 * stream, lexer and parser take the same steps in the same order, so that it
 * stops at the same byte for the same reason. What that takes:
 *  - the stream checks a UTF-8 sequence when it reads the first byte;
 *  - the lexer reads one character past a number or a literal and puts it
 *    back; a NUL put back is lost, as jansson's buffer then reads as empty;
 *  - the position counts the bytes read and not put back, so not lost NULs;
 *  - a syntax error about a token whose text is empty or starts with NUL
 *    (the end of input, or a NUL byte) is "premature end of input";
 *  - the first error is reported and jansson fails after any error, so the
 *    port stops at the first one.
 * Tokens are spans of the text: nothing is copied.
 */

enum { STREAM_EOF = -1, STREAM_ERROR = -2 };

enum {
    TOK_INVALID = -1,
    TOK_EOF = 0,
    /* '{', '}', '[', ']', ':' and ',' stand for themselves */
    TOK_STRING = 256,
    TOK_INTEGER,
    TOK_REAL,
    TOK_TRUE,
    TOK_FALSE,
    TOK_NULL,
};

struct lex {
    const char *p;
    size_t n;
    size_t i;       /* the next byte to read */
    size_t seq_end; /* the end of the UTF-8 sequence being read, checked whole */
    size_t lost;    /* NUL bytes lost before i */
    int state;      /* 0, STREAM_EOF or STREAM_ERROR, which stay */
    int token;
    size_t tok_start, tok_end;
    bool tok_blank; /* the token's text is empty or starts with NUL */
    bool str_esc;   /* a string token has escapes */
    bool str_nul;   /* a string token has \u0000 */
    enum js_error err;
    size_t err_pos;
};

/* jansson's error_set(): the first error stands. */
static void fail(struct lex *l, enum js_error e)
{
    if (l->err != JS_OK)
        return;
    if (e == JS_ESYNTAX && l->tok_blank)
        e = JS_ETRUNCATED;
    l->err = e;
    l->err_pos = l->i - l->lost;
}

/* jansson's stream_get(): a byte, STREAM_EOF or STREAM_ERROR. */
static inline int get(struct lex *l)
{
    if (l->state)
        return l->state;
    if (l->i == l->seq_end) {
        if (l->i >= l->n) {
            l->state = STREAM_EOF;
            return STREAM_EOF;
        }
        if ((unsigned char)l->p[l->i] < 0x80) {
            l->seq_end = l->i + 1;
            return (unsigned char)l->p[l->i++];
        }
        size_t k = utf8_len((const unsigned char *)l->p + l->i, (const unsigned char *)l->p + l->n);
        if (k == 0) {
            fail(l, JS_EUTF8);
            l->state = STREAM_ERROR;
            return STREAM_ERROR;
        }
        l->seq_end = l->i + k;
    }
    return (unsigned char)l->p[l->i++];
}

/* jansson's stream_unget() of the c get() just returned. */
static void unget(struct lex *l, int c)
{
    if (c < 0)
        return;
    if (c == 0)
        l->lost++; /* jansson reads on after it */
    else
        l->i--;
}

/* Where the c get() just returned is: the end of the token before it. */
static size_t at(const struct lex *l, int c)
{
    return c < 0 ? l->i : l->i - 1;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_xdigit(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Bytes of a string: 0 printable ASCII but '"' and '\\'; 1 a control
 * character, '"' or '\\'; 2 not ASCII. */
static const unsigned char string_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xA0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xB0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xC0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xD0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xE0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xF0 */
};

/* Reads on over what get() would hand a string one byte at a time with
 * nothing to do: printable ASCII but '"' and '\\', and whole valid UTF-8. */
static void string_run(struct lex *l)
{
    if (l->state || l->i != l->seq_end)
        return;
    const unsigned char *s = (const unsigned char *)l->p + l->i;
    const unsigned char *end = (const unsigned char *)l->p + l->n;
    while (s < end) {
        while (s < end && string_class[*s] == 0)
            s++;
        if (s == end || string_class[*s] == 1)
            break;
        size_t k = utf8_len(s, end);
        if (k == 0)
            break;
        s += k;
    }
    l->i = l->seq_end = (size_t)((const char *)s - l->p);
}

/* jansson's second look at a string with escapes: every surrogate in a pair
 * (false otherwise); notes a \u0000. */
static bool check_escapes(struct lex *l)
{
    const char *p = l->p + l->tok_start + 1, *end = l->p + l->tok_end - 1;
    while (p < end) {
        if (*p != '\\') {
            p++;
            continue;
        }
        if (p[1] != 'u') {
            p += 2;
            continue;
        }
        long u = hex4(p + 2);
        p += 6;
        if (u == 0)
            l->str_nul = true;
        if (u >= 0xDC00 && u <= 0xDFFF)
            return false;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (p >= end || p[0] != '\\' || p[1] != 'u')
                return false;
            long lo = hex4(p + 2);
            p += 6;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return false;
        }
    }
    return true;
}

/* jansson's lex_scan_string(), the opening quote read. */
static void scan_string(struct lex *l)
{
    int c;

    l->token = TOK_INVALID;
    l->str_esc = l->str_nul = false;
    string_run(l);
    c = get(l);
    while (c != '"') {
        if (c == STREAM_ERROR)
            return;
        if (c == STREAM_EOF) {
            fail(l, JS_ETRUNCATED);
            return;
        }
        if (c <= 0x1F) {
            unget(l, c);
            fail(l, JS_ESYNTAX);
            return;
        }
        if (c == '\\') {
            l->str_esc = true;
            c = get(l);
            if (c == 'u') {
                c = get(l);
                for (int k = 0; k < 4; k++) {
                    if (!is_xdigit(c)) {
                        fail(l, JS_ESYNTAX);
                        return;
                    }
                    c = get(l);
                }
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                       c == 'r' || c == 't') {
                c = get(l);
            } else {
                fail(l, JS_ESYNTAX);
                return;
            }
        } else {
            string_run(l);
            c = get(l);
        }
    }
    l->tok_end = l->i;
    if (l->str_esc && !check_escapes(l)) {
        fail(l, JS_ESYNTAX);
        return;
    }
    l->token = TOK_STRING;
}

/* get() until a character that is no digit: the digits in one stride. */
static int digits_then_get(struct lex *l)
{
    if (!l->state && l->i == l->seq_end) {
        while (l->i < l->n && l->p[l->i] >= '0' && l->p[l->i] <= '9')
            l->i++;
        l->seq_end = l->i;
    }
    int c;
    do
        c = get(l);
    while (is_digit(c));
    return c;
}

/* jansson's lex_scan_number(), c its first character. */
static void scan_number(struct lex *l, int c)
{
    int64_t x;

    l->token = TOK_INVALID;
    if (c == '-')
        c = get(l);
    if (c == '0') {
        c = get(l);
        if (is_digit(c)) {
            unget(l, c);
            return;
        }
    } else if (is_digit(c)) {
        c = digits_then_get(l);
    } else {
        unget(l, c);
        return;
    }
    if (c != '.' && c != 'E' && c != 'e') {
        l->tok_end = at(l, c);
        unget(l, c);
        /* up to 18 digits always fit long long */
        if (l->tok_end - l->tok_start > 18 &&
            !js_int64((struct js_span){l->p + l->tok_start, l->tok_end - l->tok_start}, &x)) {
            fail(l, JS_ERANGE);
            return;
        }
        l->token = TOK_INTEGER;
        return;
    }
    if (c == '.') {
        c = get(l);
        if (!is_digit(c)) {
            unget(l, c);
            return;
        }
        c = digits_then_get(l);
    }
    if (c == 'E' || c == 'e') {
        c = get(l);
        if (c == '+' || c == '-')
            c = get(l);
        if (!is_digit(c)) {
            unget(l, c);
            return;
        }
        c = digits_then_get(l);
    }
    l->tok_end = at(l, c);
    unget(l, c);
    if (!real_fits(l->p + l->tok_start, l->tok_end - l->tok_start)) {
        fail(l, JS_ERANGE);
        return;
    }
    l->token = TOK_REAL;
}

static bool token_is(const struct lex *l, const char *word)
{
    size_t n = strlen(word);
    return l->tok_end - l->tok_start == n && memcmp(l->p + l->tok_start, word, n) == 0;
}

/* The rest of a word, its first letter read: the whole word, as jansson
 * reads it, is true, false, null or an invalid token. */
static void scan_word(struct lex *l)
{
    int c;

    do
        c = get(l);
    while (is_alpha(c));
    l->tok_end = at(l, c);
    unget(l, c);
    l->token = token_is(l, "true")    ? TOK_TRUE
               : token_is(l, "false") ? TOK_FALSE
               : token_is(l, "null")  ? TOK_NULL
                                      : TOK_INVALID;
}

/* jansson's lex_scan(): the next token. */
static int scan(struct lex *l)
{
    int c;

    l->tok_blank = true;
    do
        c = get(l);
    while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
    if (c == STREAM_EOF)
        return l->token = TOK_EOF;
    if (c == STREAM_ERROR)
        return l->token = TOK_INVALID;
    l->tok_start = l->i - 1;
    l->tok_blank = c == 0;
    if (c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',') {
        l->token = c;
        l->tok_end = l->i;
    } else if (c == '"') {
        scan_string(l);
    } else if (is_digit(c) || c == '-') {
        scan_number(l, c);
    } else if (is_alpha(c)) {
        scan_word(l);
    } else {
        l->i = l->seq_end; /* jansson takes in the rest of a UTF-8 sequence */
        l->token = TOK_INVALID;
    }
    return l->token;
}

/*
 * scan(), with what JSON is mostly made of done inline: whitespace, then a
 * one-byte token or the first byte of a string, number or word.
 */
static inline int scan_next(struct lex *l)
{
    /* the next byte is read afresh, or was put back (a single byte then) */
    if (!l->state && (l->i == l->seq_end || l->i + 1 == l->seq_end)) {
        size_t i = l->i;
        while (i < l->n &&
               (l->p[i] == ' ' || l->p[i] == '\t' || l->p[i] == '\n' || l->p[i] == '\r'))
            i++;
        l->i = l->seq_end = i;
        int c = i < l->n ? (unsigned char)l->p[i] : -1;
        bool punct = c == ',' || c == ':' || c == '{' || c == '}' || c == '[' || c == ']';
        if (punct || c == '"' || c == '-' || is_digit(c) || is_alpha(c)) {
            l->tok_blank = false;
            l->tok_start = l->i++;
            l->seq_end = l->i;
            if (punct) {
                l->token = c;
                l->tok_end = l->i;
            } else if (c == '"') {
                scan_string(l);
            } else if (is_alpha(c)) {
                scan_word(l);
            } else {
                scan_number(l, c);
            }
            return l->token;
        }
    }
    return scan(l);
}

/* ---- names, for JS_REJECT_DUPLICATES ---- */

/* A member name of an object still open. */
struct name {
    size_t off, len; /* between the quotes */
    uint32_t hash;
    uint32_t level; /* its object's: one object is open per level */
    uint32_t first; /* where its object's first name is in names.v */
    uint32_t slot;  /* where the table has it, when hashed */
    bool esc;
    bool hashed;
};

/* Names held without allocating: more than a Telegram update has open. */
#define NAMES_LOCAL 32

/*
 * An object's first names are compared with each other one by one: for a
 * few short names that is cheaper than hashing them. From this many names on,
 * the object's names go into the hash table, so that a large object is
 * checked in linear time (a pair of names compared costs at most the
 * shorter one, and each name meets at most this many before).
 */
#define NAMES_LINEAR 12

/*
 * The names of the open objects, outer ones first, and a linear-probing
 * table over the names of the objects that have many. An object's names are
 * the last ones when it closes, so they leave in the reverse order of their
 * coming, which leaves the table as it was before them: clearing their slots
 * is enough.
 */
struct names {
    struct name *v;
    size_t n, cap;
    size_t hashed;    /* how many of v are in the table */
    uint32_t *table;  /* index + 1 in v; 0 when free */
    size_t size;      /* a power of two, over twice hashed */
    bool table_clear; /* local_table zeroed (done when first needed) */
    struct name local[NAMES_LOCAL];
    uint32_t local_table[4 * NAMES_LOCAL];
};

static void names_init(struct names *s)
{
    s->v = s->local;
    s->n = 0;
    s->cap = NAMES_LOCAL;
    s->hashed = 0;
    s->table = s->local_table;
    s->size = 4 * NAMES_LOCAL;
    s->table_clear = false;
}

static void names_free(struct names *s)
{
    if (s->v != s->local)
        free(s->v);
    if (s->table != s->local_table)
        free(s->table);
}

/*
 * The names are hashed with SipHash-1-3 under a key drawn once per process,
 * so that names crafted to collide in one process collide nowhere else: an
 * object's check stays linear whatever its names.
 */
static uint64_t name_key[2];
static pthread_once_t name_key_once = PTHREAD_ONCE_INIT;

static void name_key_init(void)
{
    unsigned char k[16];
    size_t got = 0;
    while (got < sizeof(k)) {
        ssize_t n = getrandom(k + got, sizeof(k) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof(k)) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        while (fd >= 0 && got < sizeof(k)) {
            ssize_t n = read(fd, k + got, sizeof(k) - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (fd >= 0)
            close(fd);
    }
    if (got < sizeof(k)) {
        /* No randomness at all: the clock and an address, better than nothing. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
        uint64_t b = (uint64_t)(uintptr_t)&got ^ ((uint64_t)getpid() << 32);
        memcpy(k, &a, 8);
        memcpy(k + 8, &b, 8);
    }
    memcpy(&name_key[0], k, 8);
    memcpy(&name_key[1], k + 8, 8);
}

struct sip {
    uint64_t v0, v1, v2, v3;
    uint64_t m;    /* the bytes of the word being filled */
    unsigned fill; /* how many */
    uint64_t len;  /* bytes in all */
};

static inline uint64_t rotl64(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline void sip_round(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13) ^ s->v0;
    s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16) ^ s->v2;
    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21) ^ s->v0;
    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17) ^ s->v2;
    s->v2 = rotl64(s->v2, 32);
}

static void sip_init(struct sip *s)
{
    pthread_once(&name_key_once, name_key_init);
    s->v0 = name_key[0] ^ 0x736f6d6570736575ull;
    s->v1 = name_key[1] ^ 0x646f72616e646f6dull;
    s->v2 = name_key[0] ^ 0x6c7967656e657261ull;
    s->v3 = name_key[1] ^ 0x7465646279746573ull;
    s->m = 0;
    s->fill = 0;
    s->len = 0;
}

static inline void sip_byte(struct sip *s, unsigned char c)
{
    s->m |= (uint64_t)c << (8 * s->fill);
    s->len++;
    if (++s->fill == 8) {
        s->v3 ^= s->m;
        sip_round(s);
        s->v0 ^= s->m;
        s->m = 0;
        s->fill = 0;
    }
}

static uint64_t sip_final(struct sip *s)
{
    uint64_t b = (s->len << 56) | s->m;
    s->v3 ^= b;
    sip_round(s);
    s->v0 ^= b;
    s->v2 ^= 0xff;
    sip_round(s);
    sip_round(s);
    sip_round(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* The keyed hash of a name unescaped, and of its level. */
static uint32_t name_hash(const char *p, size_t len, bool esc, uint32_t level)
{
    struct sip s;
    sip_init(&s);
    for (int i = 0; i < 4; i++)
        sip_byte(&s, (unsigned char)(level >> (8 * i)));
    const char *end = p + len;
    if (!esc) {
        for (; p < end; p++)
            sip_byte(&s, (unsigned char)*p);
    } else {
        while (p < end) {
            char c[4];
            size_t m = unescape(&p, end, c);
            for (size_t i = 0; i < m; i++)
                sip_byte(&s, (unsigned char)c[i]);
        }
    }
    uint64_t h = sip_final(&s);
    return (uint32_t)(h ^ (h >> 32));
}

/* Whether two names (between their quotes) unescape to the same bytes. */
static bool same_name(const char *a, size_t an, bool aesc, const char *b, size_t bn, bool besc)
{
    if (!aesc && !besc)
        return an == bn && memcmp(a, b, an) == 0;
    const char *aend = a + an, *bend = b + bn;
    char ca[4], cb[4];
    size_t na = 0, ia = 0, nb = 0, ib = 0;
    for (;;) {
        if (ia == na) {
            if (a == aend)
                break;
            na = unescape(&a, aend, ca);
            ia = 0;
        }
        if (ib == nb) {
            if (b == bend)
                return false;
            nb = unescape(&b, bend, cb);
            ib = 0;
        }
        if (ca[ia++] != cb[ib++])
            return false;
    }
    return ib == nb && b == bend;
}

/* Where name h goes: the first free slot on its way. */
static size_t free_slot(const struct names *s, uint32_t h)
{
    size_t mask = s->size - 1, i = h & mask;
    while (s->table[i])
        i = (i + 1) & mask;
    return i;
}

/* Twice the table, its names put back in their order. */
static int grow_table(struct names *s)
{
    if (s->size > UINT32_MAX / 2)
        return -1;
    uint32_t *t = calloc(s->size * 2, sizeof(*t));
    if (!t)
        return -1;
    if (s->table != s->local_table)
        free(s->table);
    s->table = t;
    s->size *= 2;
    for (size_t k = 0; k < s->n; k++) {
        if (!s->v[k].hashed)
            continue;
        size_t i = free_slot(s, s->v[k].hash);
        s->v[k].slot = (uint32_t)i;
        t[i] = (uint32_t)(k + 1);
    }
    return 0;
}

/* Puts name k of v into the table (its hash known); -1 when out of memory. */
static int table_put(struct names *s, size_t k)
{
    if (!s->table_clear) {
        memset(s->local_table, 0, sizeof(s->local_table));
        s->table_clear = true;
    }
    if (2 * (s->hashed + 1) > s->size && grow_table(s) < 0)
        return -1;
    size_t i = free_slot(s, s->v[k].hash);
    s->v[k].slot = (uint32_t)i;
    s->v[k].hashed = true;
    s->table[i] = (uint32_t)(k + 1);
    s->hashed++;
    return 0;
}

/* Adds the name token of an object at level; 1 when the object has it
 * already, -1 when out of memory. */
static int names_add(struct names *s, const struct lex *l, uint32_t level)
{
    size_t off = l->tok_start + 1, len = l->tok_end - l->tok_start - 2;
    const char *name = l->p + off;
    bool esc = l->str_esc;
    /* The object's names are the last ones: names of objects inside it are
     * gone when it gets its next name. */
    size_t first = s->n > 0 && s->v[s->n - 1].level == level ? s->v[s->n - 1].first : s->n;
    uint32_t h = 0;

    if (s->n - first < NAMES_LINEAR) {
        for (size_t k = first; k < s->n; k++) {
            const struct name *e = &s->v[k];
            if ((e->esc || esc || e->len == len) &&
                same_name(l->p + e->off, e->len, e->esc, name, len, esc))
                return 1;
        }
    } else {
        h = name_hash(name, len, esc, level);
        if (!s->v[first].hashed) {
            /* The object has grown large: its names go into the table. */
            for (size_t k = first; k < s->n; k++) {
                struct name *e = &s->v[k];
                e->hash = name_hash(l->p + e->off, e->len, e->esc, level);
                if (table_put(s, k) < 0)
                    return -1;
            }
        }
        size_t mask = s->size - 1;
        for (size_t i = h & mask; s->table[i]; i = (i + 1) & mask) {
            const struct name *e = &s->v[s->table[i] - 1];
            if (e->hash == h && e->level == level &&
                same_name(l->p + e->off, e->len, e->esc, name, len, esc))
                return 1;
        }
    }
    if (s->n == s->cap) {
        struct name *v;
        if (s->cap > UINT32_MAX / 4)
            return -1;
        if (s->v == s->local) {
            v = malloc(2 * s->cap * sizeof(*v));
            if (v)
                memcpy(v, s->local, sizeof(s->local));
        } else {
            v = realloc(s->v, 2 * s->cap * sizeof(*v));
        }
        if (!v)
            return -1;
        s->v = v;
        s->cap *= 2;
    }
    s->v[s->n] = (struct name){off, len, h, level, (uint32_t)first, 0, esc, false};
    s->n++;
    if (s->n - first > NAMES_LINEAR && table_put(s, s->n - 1) < 0)
        return -1;
    return 0;
}

/* Forgets the names of the object at level, which closes. */
static void names_pop(struct names *s, uint32_t level)
{
    while (s->n > 0 && s->v[s->n - 1].level == level) {
        const struct name *e = &s->v[s->n - 1];
        if (e->hashed) {
            s->table[e->slot] = 0;
            s->hashed--;
        }
        s->n--;
    }
}

/* ---- the parser ---- */

/* Which open containers are objects, by level. */
struct levels {
    unsigned char object[JS_CHECK_MAX_DEPTH / 8];
};

static void level_set(struct levels *lv, size_t level, bool object)
{
    unsigned char bit = (unsigned char)(1u << (level % 8));
    if (object)
        lv->object[level / 8] |= bit;
    else
        lv->object[level / 8] &= (unsigned char)~bit;
}

static bool level_object(const struct levels *lv, size_t level)
{
    return lv->object[level / 8] & (1u << (level % 8));
}

/*
 * jansson's parse_json(), parse_value(), parse_object() and parse_array(),
 * with a stack of levels instead of recursion. open counts the containers
 * open; a value parsed is at jansson's depth open + 1.
 */
enum js_error js_check(const char *p, size_t n, unsigned flags, struct js_span *ret,
                       size_t *ret_pos)
{
    struct lex l = {.p = p, .n = n};
    struct levels lv;
    struct names names;
    size_t open = 0, start = 0, stop = 0;
    bool object;
    int r;

    if (!p) {
        if (ret_pos)
            *ret_pos = 0;
        return JS_EARGUMENT;
    }
    names_init(&names);
    if (scan_next(&l), l.err)
        goto out;
    if (!(flags & JS_DECODE_ANY) && l.token != '[' && l.token != '{') {
        fail(&l, JS_ESYNTAX);
        goto out;
    }
    start = l.tok_start;

value:
    if (open >= JS_CHECK_MAX_DEPTH) {
        fail(&l, JS_EDEPTH);
        goto out;
    }
    switch (l.token) {
    case TOK_STRING:
        if (l.str_nul && !(flags & JS_ALLOW_NUL)) {
            fail(&l, JS_ENUL);
            goto out;
        }
        break;
    case TOK_INTEGER:
    case TOK_REAL:
    case TOK_TRUE:
    case TOK_FALSE:
    case TOK_NULL:
        break;
    case '{':
    case '[':
        object = l.token == '{';
        level_set(&lv, open++, object);
        if (scan_next(&l), l.err)
            goto out;
        if (l.token == (object ? '}' : ']')) {
            open--;
            break;
        }
        if (object)
            goto name;
        if (l.token == TOK_EOF) { /* "']' expected" */
            fail(&l, JS_ESYNTAX);
            goto out;
        }
        goto value;
    default: /* "invalid token", "unexpected token" */
        fail(&l, JS_ESYNTAX);
        goto out;
    }

done: /* a value is complete */
    stop = l.tok_end;
    if (open == 0)
        goto end;
    object = level_object(&lv, open - 1);
    if (scan_next(&l), l.err)
        goto out;
    if (l.token == ',') {
        if (scan_next(&l), l.err)
            goto out;
        if (object)
            goto name;
        if (l.token == TOK_EOF) { /* "']' expected" */
            fail(&l, JS_ESYNTAX);
            goto out;
        }
        goto value;
    }
    if (l.token != (object ? '}' : ']')) {
        fail(&l, JS_ESYNTAX);
        goto out;
    }
    if (object)
        names_pop(&names, (uint32_t)(open - 1));
    open--;
    goto done;

name:
    if (l.token != TOK_STRING) {
        fail(&l, JS_ESYNTAX);
        goto out;
    }
    if (l.str_nul) {
        fail(&l, JS_ENULKEY);
        goto out;
    }
    if (flags & JS_REJECT_DUPLICATES) {
        r = names_add(&names, &l, (uint32_t)(open - 1));
        if (r != 0) {
            fail(&l, r > 0 ? JS_EDUPLICATE : JS_ENOMEM);
            goto out;
        }
    }
    if (scan_next(&l), l.err)
        goto out;
    if (l.token != ':') {
        fail(&l, JS_ESYNTAX);
        goto out;
    }
    if (scan_next(&l), l.err)
        goto out;
    goto value;

end:
    if (scan_next(&l), l.err)
        goto out;
    if (l.token != TOK_EOF)
        fail(&l, JS_ETRAILING);

out:
    names_free(&names);
    if (ret_pos)
        *ret_pos = l.err ? l.err_pos : l.i - l.lost;
    if (l.err)
        return l.err;
    if (ret)
        *ret = (struct js_span){p + start, stop - start};
    return JS_OK;
}

bool js_valid(const char *p, size_t n, struct js_span *ret)
{
    return js_check(p, n, JS_DECODE_ANY, ret, NULL) == JS_OK;
}
