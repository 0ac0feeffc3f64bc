/*
 * log.c - levelled, thread-safe event log (see log.h).
 *
 * An event is formatted into a fixed 8 KiB stack buffer and written with a
 * single write(2) under a mutex that covers only that write, so lines never
 * interleave. Every step is bounded: strings are clipped at a character
 * boundary and a line that does not fit ends with "truncated":true (JSON) or
 * truncated=true (text) while staying one complete, valid line.
 *
 * Redaction always runs on the whole source text before it is clipped or
 * escaped, so a clip can never leave the first bytes of a secret behind.
 */
#include "log.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Longest line written, newline included; also the size of the other buffers. */
#define LOG_LINE_MAX     8192
#define LOG_MAX_SECRETS  16
#define LOG_REDACTED     "***"
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"
#define JSON_TRUNC_TAIL  ",\"truncated\":true}"
#define TEXT_TRUNC_TAIL  " truncated=true"
/* Longest time a line waits for a non-blocking fd to become writable. */
#define LOG_WRITE_POLL_MS 1000

static atomic_int g_level = LOG_INFO;
static atomic_int g_format = LOG_FORMAT_JSON;
static atomic_int g_fd = 2;
static atomic_int g_sink_level = LOG_OFF; /* LOG_OFF: no sink */

/* Serialises write(2) calls so that a line goes out whole. */
static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER;

/* Guards the sink pair so a reader never sees fn of one and userdata of another. */
static pthread_mutex_t g_sink_lock = PTHREAD_MUTEX_INITIALIZER;
static log_sink_fn g_sink_fn;
static void *g_sink_userdata;

/* Set up before logging threads start (see log.h); sorted longest first. */
struct log_secret {
    char *text;
    size_t len;
};
static struct log_secret g_secrets[LOG_MAX_SECRETS];
static size_t g_nsecrets;
static size_t g_secret_maxlen;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};
static const char *const level_text[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

/*
 * Bounded appender. len never exceeds cap; the buffer behind it may be larger
 * than cap so that a reserved tail (closing brace, truncation marker,
 * newline) can always be added by raising cap at the end.
 */
struct out {
    char *buf;
    size_t len;
    size_t cap;
};

static bool out_mem(struct out *o, const char *s, size_t n)
{
    if (n > o->cap - o->len)
        return false;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return true;
}

static bool out_str(struct out *o, const char *s)
{
    return out_mem(o, s, strlen(s));
}

static bool out_chr(struct out *o, char c)
{
    return out_mem(o, &c, 1);
}

static bool out_uint(struct out *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;

    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && n < (int)sizeof tmp);
    while (n < width && n < (int)sizeof tmp)
        tmp[sizeof tmp - 1 - n++] = '0';
    return out_mem(o, tmp + sizeof tmp - n, (size_t)n);
}

static bool out_i64(struct out *o, int64_t v)
{
    if (v < 0)
        return out_chr(o, '-') && out_uint(o, (uint64_t)0 - (uint64_t)v, 1);
    return out_uint(o, (uint64_t)v, 1);
}

/* JSON has no NaN or infinity: those become null there, NaN/+Inf/-Inf in text. */
static bool out_dbl(struct out *o, double d, bool json)
{
    char tmp[32];
    int n;

    if (!isfinite(d)) {
        if (json)
            return out_str(o, "null");
        return out_str(o, isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
    }
    n = snprintf(tmp, sizeof tmp, "%.6g", d);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return out_str(o, json ? "null" : "NaN");
    /* A locale with a decimal comma must not break the JSON. */
    for (int i = 0; i < n; i++) {
        if (tmp[i] == ',')
            tmp[i] = '.';
    }
    return out_mem(o, tmp, (size_t)n);
}

/* ts as 2026-11-28T06:00:00.123Z (UTC, milliseconds). */
static void out_timestamp(struct out *o)
{
    struct timespec now;
    struct tm tm;

    if (clock_gettime(CLOCK_REALTIME, &now) < 0) {
        now.tv_sec = 0;
        now.tv_nsec = 0;
    }
    time_t t = now.tv_sec;
    if (!gmtime_r(&t, &tm)) {
        memset(&tm, 0, sizeof tm);
        tm.tm_year = 70;
        tm.tm_mday = 1;
    }
    int year = tm.tm_year + 1900;
    out_uint(o, (uint64_t)(year < 0 ? 0 : year), 4);
    out_chr(o, '-');
    out_uint(o, (uint64_t)(tm.tm_mon + 1), 2);
    out_chr(o, '-');
    out_uint(o, (uint64_t)tm.tm_mday, 2);
    out_chr(o, 'T');
    out_uint(o, (uint64_t)tm.tm_hour, 2);
    out_chr(o, ':');
    out_uint(o, (uint64_t)tm.tm_min, 2);
    out_chr(o, ':');
    out_uint(o, (uint64_t)tm.tm_sec, 2);
    out_chr(o, '.');
    out_uint(o, (uint64_t)(now.tv_nsec / 1000000), 3);
    out_chr(o, 'Z');
}

/*
 * Returns the length of the UTF-8 sequence at s (n > 0 bytes available) and
 * sets *valid. An invalid sequence yields its maximal invalid subpart (at
 * least one byte), which the caller replaces by one U+FFFD, as Unicode
 * recommends. Overlongs, surrogates and code points above U+10FFFF are
 * invalid.
 */
static size_t utf8_next(const unsigned char *s, size_t n, bool *valid)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;

    if (c < 0x80) {
        *valid = true;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c == 0xE0) {
        need = 2;
        lo = 0xA0;
    } else if (c == 0xED) {
        need = 2;
        hi = 0x9F;
    } else if (c >= 0xE1 && c <= 0xEF) {
        need = 2;
    } else if (c == 0xF0) {
        need = 3;
        lo = 0x90;
    } else if (c == 0xF4) {
        need = 3;
        hi = 0x8F;
    } else if (c >= 0xF1 && c <= 0xF3) {
        need = 3;
    } else {
        *valid = false;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *valid = false;
            return i;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    *valid = true;
    return need + 1;
}

/*
 * Appends s[0..n) escaped, whole characters only, without going past limit.
 * Control characters and DEL are always escaped (\n, \t, ..., \u00XX) so an
 * event stays on one line and cannot drive a terminal; '"' and '\' are
 * escaped when quotes is set (JSON strings, quoted text values); invalid
 * UTF-8 becomes U+FFFD. Returns false when not everything fit.
 */
static bool out_escaped(struct out *o, const char *s, size_t n, size_t limit, bool quotes)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    if (limit > o->cap)
        limit = o->cap;
    if (limit < o->len)
        return n == 0;
    while (i < n) {
        unsigned char c = p[i];
        char esc[6];
        const char *rep = s + i;
        size_t rlen = 1, adv = 1;

        if (c >= 0x80) {
            bool valid;
            adv = utf8_next(p + i, n - i, &valid);
            rlen = adv;
            if (!valid) {
                rep = UTF8_REPLACEMENT;
                rlen = sizeof UTF8_REPLACEMENT - 1;
            }
        } else if (c < 0x20 || c == 0x7F || (quotes && (c == '"' || c == '\\'))) {
            rep = esc;
            esc[0] = '\\';
            rlen = 2;
            switch (c) {
            case '"':
            case '\\':
                esc[1] = (char)c;
                break;
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 0xF];
                rlen = 6;
                break;
            }
        }
        if (rlen > limit - o->len)
            return false;
        memcpy(o->buf + o->len, rep, rlen);
        o->len += rlen;
        i += adv;
    }
    return true;
}

/* Length of the registered secret starting at p, longest first, or 0. */
static size_t secret_at(const char *p)
{
    for (size_t i = 0; i < g_nsecrets; i++) {
        const struct log_secret *sec = &g_secrets[i];
        if (p[0] == sec->text[0] && strncmp(p, sec->text, sec->len) == 0)
            return sec->len;
    }
    return 0;
}

/* r when the last r bytes, at p, are the beginning of a longer secret; else 0. */
static size_t secret_head_at(const char *p, size_t r)
{
    for (size_t i = 0; i < g_nsecrets; i++) {
        const struct log_secret *sec = &g_secrets[i];
        if (sec->len > r && memcmp(p, sec->text, r) == 0)
            return r;
    }
    return 0;
}

/*
 * Redacts src into dst (cap > 0). Matching runs over the whole source even
 * when dst fills up, so a clipped result never ends in part of a secret.
 * When cut is set, src was itself cut short (log_printf): a tail that is the
 * beginning of a secret is redacted too, since the rest of it was lost.
 */
static size_t redact(const char *src, char *dst, size_t cap, bool cut)
{
    size_t len = 0, room = cap - 1;
    size_t n = cut ? strlen(src) : 0;
    const char *p = src;

    while (*p && len < room) {
        size_t m = secret_at(p);
        if (m == 0 && cut && n - (size_t)(p - src) < g_secret_maxlen)
            m = secret_head_at(p, n - (size_t)(p - src));
        if (m > 0) {
            size_t k = sizeof LOG_REDACTED - 1;
            if (k > room - len)
                k = room - len;
            memcpy(dst + len, LOG_REDACTED, k);
            len += k;
            p += m;
            continue;
        }
        dst[len++] = *p++;
    }
    dst[len] = '\0';
    return len;
}

/* The text to print for a string: redacted into tmp when secrets exist. */
static const char *redacted_view(const char *s, bool cut, char *tmp, size_t *ret_len)
{
    if (g_nsecrets == 0) {
        *ret_len = strlen(s);
        return s;
    }
    *ret_len = redact(s, tmp, LOG_LINE_MAX, cut);
    return tmp;
}

/* Rough size of the fields, used to keep room for them behind a long message. */
static size_t fields_estimate(const struct log_kv *kv, size_t n)
{
    size_t est = 0;

    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key)
            continue;
        est += strlen(kv[i].key) + 8;
        if (kv[i].type == LOG_KV_STR && kv[i].v.s)
            est += strnlen(kv[i].v.s, LOG_LINE_MAX);
        else
            est += 24;
    }
    return est;
}

/* A text value needs quotes when it is empty or would not read back as one token. */
static bool text_needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7F)
            return true;
    }
    return false;
}

/*
 * Appends the fields: as JSON members when json ("key":value, comma-separated;
 * with a leading comma when lead is set), else as text (" key=value" each,
 * the value quoted only when it needs to be). Stops at the first field that
 * does not fit: a string value is clipped and closed, any other field is left
 * out. Returns true when something was clipped or left out.
 */
static bool put_fields(struct out *o, const struct log_kv *kv, size_t n, bool json, bool lead,
                       char *tmp)
{
    bool sep = lead;

    for (size_t i = 0; i < n; i++) {
        const struct log_kv *f = &kv[i];
        size_t save = o->len;
        bool ok;

        if (!f->key)
            continue;
        if (json)
            ok = (!sep || out_chr(o, ',')) && out_chr(o, '"') &&
                 out_escaped(o, f->key, strlen(f->key), o->cap, true) && out_str(o, "\":");
        else
            ok = out_chr(o, ' ') && out_escaped(o, f->key, strlen(f->key), o->cap, false) &&
                 out_chr(o, '=');
        if (ok) {
            switch (f->type) {
            case LOG_KV_STR:
                if (!f->v.s) {
                    ok = out_str(o, "null");
                } else {
                    size_t len;
                    const char *s = redacted_view(f->v.s, false, tmp, &len);
                    if (!json && !text_needs_quotes(s, len)) {
                        if (!out_escaped(o, s, len, o->cap, false))
                            return true;
                    } else if (o->cap - o->len < 2) {
                        ok = false;
                    } else {
                        out_chr(o, '"');
                        bool whole = out_escaped(o, s, len, o->cap - 1, true);
                        out_chr(o, '"');
                        if (!whole)
                            return true;
                    }
                }
                break;
            case LOG_KV_INT:
                ok = out_i64(o, f->v.i);
                break;
            case LOG_KV_DBL:
                ok = out_dbl(o, f->v.d, json);
                break;
            case LOG_KV_BOOL:
                ok = out_str(o, f->v.b ? "true" : "false");
                break;
            default:
                ok = out_str(o, "null");
                break;
            }
        }
        if (!ok) {
            o->len = save;
            return true;
        }
        sep = true;
    }
    return false;
}

/* Room for the message: what is left, minus up to half of it kept for the fields. */
static size_t msg_limit(const struct out *o, const struct log_kv *kv, size_t n)
{
    size_t avail = o->cap - o->len;
    size_t reserve = fields_estimate(kv, n);

    if (reserve > avail / 2)
        reserve = avail / 2;
    return o->cap - reserve;
}

static size_t format_json(char *buf, enum log_level level, const char *m, size_t mlen, bool clipped,
                          const struct log_kv *kv, size_t n, char *tmp)
{
    struct out o = {buf, 0, LOG_LINE_MAX - 1 - (sizeof JSON_TRUNC_TAIL - 1)};

    out_str(&o, "{\"ts\":\"");
    out_timestamp(&o);
    out_str(&o, "\",\"level\":\"");
    out_str(&o, level_names[level]);
    out_str(&o, "\",\"msg\":\"");
    /* The limit keeps one byte for the closing quote. */
    if (!out_escaped(&o, m, mlen, msg_limit(&o, kv, n) - 1, true))
        clipped = true;
    out_chr(&o, '"');
    if (put_fields(&o, kv, n, true, true, tmp))
        clipped = true;
    o.cap = LOG_LINE_MAX - 1;
    if (clipped)
        out_str(&o, JSON_TRUNC_TAIL);
    else
        out_chr(&o, '}');
    o.cap = LOG_LINE_MAX;
    out_chr(&o, '\n');
    return o.len;
}

static size_t format_text(char *buf, enum log_level level, const char *m, size_t mlen, bool clipped,
                          const struct log_kv *kv, size_t n, char *tmp)
{
    struct out o = {buf, 0, LOG_LINE_MAX - 1 - (sizeof TEXT_TRUNC_TAIL - 1)};

    out_timestamp(&o);
    out_chr(&o, ' ');
    out_str(&o, level_text[level]);
    out_chr(&o, ' ');
    if (!out_escaped(&o, m, mlen, msg_limit(&o, kv, n), false))
        clipped = true;
    if (put_fields(&o, kv, n, false, false, tmp))
        clipped = true;
    o.cap = LOG_LINE_MAX - 1;
    if (clipped)
        out_str(&o, TEXT_TRUNC_TAIL);
    o.cap = LOG_LINE_MAX;
    out_chr(&o, '\n');
    return o.len;
}

/* The fields as a NUL-terminated JSON object for the sink. */
static void format_context(char *buf, const struct log_kv *kv, size_t n, char *tmp)
{
    struct out o = {buf, 0, LOG_LINE_MAX - 1 - (sizeof JSON_TRUNC_TAIL - 1)};

    out_chr(&o, '{');
    bool clipped = put_fields(&o, kv, n, true, false, tmp);
    o.cap = LOG_LINE_MAX - 1;
    if (clipped)
        out_str(&o, o.len > 1 ? JSON_TRUNC_TAIL : &JSON_TRUNC_TAIL[1]);
    else
        out_chr(&o, '}');
    buf[o.len] = '\0';
}

/* Copies s as valid UTF-8 (U+FFFD for invalid bytes), clipped to whole characters. */
static void utf8_sanitize(const char *s, size_t n, char *dst, size_t cap)
{
    struct out o = {dst, 0, cap - 1};
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        bool valid;
        size_t adv = utf8_next(p + i, n - i, &valid);
        if (!(valid ? out_mem(&o, s + i, adv) : out_str(&o, UTF8_REPLACEMENT)))
            break;
        i += adv;
    }
    dst[o.len] = '\0';
}

/* One write(2) per line under the lock; partial writes and EINTR are resumed. */
static void write_line(int fd, const char *buf, size_t len)
{
    pthread_mutex_lock(&g_write_lock);
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w > 0) {
            buf += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int r = poll(&pfd, 1, LOG_WRITE_POLL_MS);
            if (r > 0 || (r < 0 && errno == EINTR))
                continue;
        }
        break; /* Nowhere to report it: the line is lost. */
    }
    pthread_mutex_unlock(&g_write_lock);
}

/*
 * The common path. The caller saves and restores errno. clipped tells that
 * msg itself was already cut (log_printf).
 */
static void emit(enum log_level level, const char *msg, bool clipped, const struct log_kv *kv,
                 size_t n)
{
    if ((unsigned)level >= LOG_OFF)
        return;

    int fd = atomic_load_explicit(&g_fd, memory_order_relaxed);
    bool print = fd >= 0 && (int)level >= atomic_load_explicit(&g_level, memory_order_relaxed);
    int sink_level = atomic_load_explicit(&g_sink_level, memory_order_relaxed);
    bool to_sink = (int)level >= sink_level;
    if (!print && !to_sink)
        return;
    if (!msg)
        msg = "";
    if (!kv)
        n = 0;

    char redacted[LOG_LINE_MAX], tmp[LOG_LINE_MAX], line[LOG_LINE_MAX];
    size_t mlen;
    const char *m = redacted_view(msg, clipped, redacted, &mlen);

    if (print) {
        size_t len;
        if (atomic_load_explicit(&g_format, memory_order_relaxed) == LOG_FORMAT_TEXT)
            len = format_text(line, level, m, mlen, clipped, kv, n, tmp);
        else
            len = format_json(line, level, m, mlen, clipped, kv, n, tmp);
        write_line(fd, line, len);
    }

    if (to_sink) {
        pthread_mutex_lock(&g_sink_lock);
        log_sink_fn fn = g_sink_fn;
        void *userdata = g_sink_userdata;
        sink_level = atomic_load_explicit(&g_sink_level, memory_order_relaxed);
        pthread_mutex_unlock(&g_sink_lock);

        if (fn && (int)level >= sink_level) {
            /* line is free again; tmp is needed by format_context first. */
            format_context(line, kv, n, tmp);
            utf8_sanitize(m, mlen, tmp, sizeof tmp);
            fn(userdata, level, tmp, line);
        }
    }
}

void log_init(enum log_level min_level, enum log_format format, int fd)
{
    if ((unsigned)min_level > LOG_OFF)
        min_level = LOG_OFF;
    atomic_store(&g_level, (int)min_level);
    atomic_store(&g_format, format == LOG_FORMAT_TEXT ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON);
    atomic_store(&g_fd, fd);
}

int log_add_secret(const char *secret)
{
    if (!secret || !*secret)
        return 0;
    for (size_t i = 0; i < g_nsecrets; i++) {
        if (strcmp(g_secrets[i].text, secret) == 0)
            return 0;
    }
    if (g_nsecrets == LOG_MAX_SECRETS)
        return -ENOSPC;

    char *copy = strdup(secret);
    if (!copy)
        return -ENOMEM;
    size_t len = strlen(copy);

    /* Longest first, so that a secret that is a prefix of another never wins. */
    size_t pos = g_nsecrets;
    while (pos > 0 && g_secrets[pos - 1].len < len) {
        g_secrets[pos] = g_secrets[pos - 1];
        pos--;
    }
    g_secrets[pos] = (struct log_secret){.text = copy, .len = len};
    g_nsecrets++;
    if (len > g_secret_maxlen)
        g_secret_maxlen = len;
    return 0;
}

void log_reset(void)
{
    for (size_t i = 0; i < g_nsecrets; i++) {
        free(g_secrets[i].text);
        g_secrets[i] = (struct log_secret){0};
    }
    g_nsecrets = 0;
    g_secret_maxlen = 0;
    log_set_sink(LOG_OFF, NULL, NULL);
}

void log_set_sink(enum log_level min_level, log_sink_fn fn, void *userdata)
{
    if ((unsigned)min_level >= LOG_OFF)
        fn = NULL;
    pthread_mutex_lock(&g_sink_lock);
    g_sink_fn = fn;
    g_sink_userdata = fn ? userdata : NULL;
    atomic_store(&g_sink_level, fn ? (int)min_level : LOG_OFF);
    pthread_mutex_unlock(&g_sink_lock);
}

bool log_enabled(enum log_level level)
{
    if ((unsigned)level >= LOG_OFF)
        return false;
    return (int)level >= atomic_load_explicit(&g_level, memory_order_relaxed) ||
           (int)level >= atomic_load_explicit(&g_sink_level, memory_order_relaxed);
}

void log_emit(enum log_level level, const char *msg, const struct log_kv *kv, size_t n)
{
    int saved = errno;
    emit(level, msg, false, kv, n);
    errno = saved;
}

void log_printf(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;

    int saved = errno;
    char msg[LOG_LINE_MAX];
    bool clipped = false;
    va_list ap;

    va_start(ap, fmt);
    int r = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r < 0) {
        msg[0] = '\0';
    } else if ((size_t)r >= sizeof msg) {
        clipped = true; /* emit() then also redacts a secret cut in half. */
    }
    errno = saved;
    emit(level, msg, clipped, NULL, 0);
    errno = saved;
}

int log_level_parse(const char *s, bool allow_off, enum log_level *ret)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {
        {"debug", LOG_DEBUG},  {"info", LOG_INFO},   {"warn", LOG_WARN},
        {"warning", LOG_WARN}, {"error", LOG_ERROR}, {"off", LOG_OFF},
    };

    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) != 0)
            continue;
        if (names[i].level == LOG_OFF && !allow_off)
            return -EINVAL;
        *ret = names[i].level;
        return 0;
    }
    return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
    if ((unsigned)level > LOG_OFF)
        return "unknown";
    return level_names[level];
}

size_t log_redact(const char *src, char *dst, size_t cap)
{
    if (!dst || cap == 0)
        return 0;
    if (!src) {
        dst[0] = '\0';
        return 0;
    }
    return redact(src, dst, cap, false);
}
