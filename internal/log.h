/*
 * log.h - levelled, thread-safe event log on stderr.
 *
 * Every event is one line: a JSON object by default
 * ({"ts":"2026-11-28T06:00:00.123Z","level":"info","msg":"...","key":value,...})
 * or "ts LEVEL msg key=value ..." in text format. A line is formatted into a
 * bounded buffer and written with one write(2), so lines of concurrent threads
 * never interleave.
 *
 * Secrets registered with log_add_secret() (the bot token, the database
 * password, the webhook secret) are replaced by "***" wherever they appear in
 * the message or in a string value, so an error text from libpq or libcurl
 * that happens to contain one is safe to log.
 *
 * Events at or above the sink level are also handed to an optional sink (the
 * `logs` table writer) with their context as JSON.
 */
#ifndef TGDESK_LOG_H
#define TGDESK_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

enum log_format { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT };

enum log_kv_type { LOG_KV_STR, LOG_KV_INT, LOG_KV_DBL, LOG_KV_BOOL };

/* One context field of an event. Strings are borrowed for the call only. */
struct log_kv {
    const char *key;
    enum log_kv_type type;
    union {
        const char *s;
        int64_t i;
        double d;
        bool b;
    } v;
};

#define LOG_STR(k, x)  ((struct log_kv){.key = (k), .type = LOG_KV_STR, .v.s = (x)})
#define LOG_INT(k, x)  ((struct log_kv){.key = (k), .type = LOG_KV_INT, .v.i = (int64_t)(x)})
#define LOG_DBL(k, x)  ((struct log_kv){.key = (k), .type = LOG_KV_DBL, .v.d = (double)(x)})
#define LOG_BOOL(k, x) ((struct log_kv){.key = (k), .type = LOG_KV_BOOL, .v.b = (x)})

/*
 * Sink for events that must also be stored in the database (the logs table):
 * called with the level, the redacted message and the context as a JSON
 * object text. It runs on the logging thread and must not block; it must not
 * call the log functions.
 */
typedef void (*log_sink_fn)(void *userdata, enum log_level level, const char *msg,
                            const char *context_json);

/*
 * Sets the minimum level, the format and the file descriptor lines go to
 * (normally 2). Call before other threads start. Defaults: info, json, fd 2.
 */
void log_init(enum log_level min_level, enum log_format format, int fd);

/*
 * Registers a secret that must never be printed. The text is copied. Empty or
 * NULL secrets and duplicates are ignored. Returns 0, -ENOSPC when the fixed
 * table (16 secrets) is full, or -ENOMEM. Not thread-safe against concurrent
 * logging: call at start.
 */
int log_add_secret(const char *secret);

/* Forgets every registered secret and the sink; for tests. */
void log_reset(void);

/*
 * Installs the sink for events at or above min_level; fn NULL or min_level
 * LOG_OFF removes it. Thread-safe, but
 * an event already being logged on another thread may still reach the
 * previous sink after this returns.
 */
void log_set_sink(enum log_level min_level, log_sink_fn fn, void *userdata);

/*
 * True when an event of this level would be printed or handed to the sink,
 * so that LOG() also builds the events only the sink wants. Thread-safe.
 */
bool log_enabled(enum log_level level);

/*
 * Emits one event with n context fields. Thread-safe. Values are escaped for
 * JSON (or quoted in text format) and redacted; over-long lines are truncated
 * (8 KiB), never split.
 */
void log_emit(enum log_level level, const char *msg, const struct log_kv *kv, size_t n);

/* Emits an event whose message is formatted with printf rules. Thread-safe. */
void log_printf(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * LOG(level, "message", LOG_STR("k", v), LOG_INT("n", 3)) - at least one field.
 * Fields are evaluated only when the level is enabled.
 */
#define LOG_NKV(...) (sizeof((const struct log_kv[]){__VA_ARGS__}) / sizeof(struct log_kv))
#define LOG(level, msg, ...)                                                                      \
    do {                                                                                          \
        if (log_enabled(level))                                                                   \
            log_emit((level), (msg), (const struct log_kv[]){__VA_ARGS__}, LOG_NKV(__VA_ARGS__)); \
    } while (0)

/*
 * Parses "debug", "info", "warn" (or "warning"), "error" and, when allow_off,
 * "off". Case-insensitive. Returns 0 or -EINVAL; *ret untouched on failure.
 */
int log_level_parse(const char *s, bool allow_off, enum log_level *ret);

/* Returns "debug", "info", "warn", "error" or "off". */
const char *log_level_name(enum log_level level);

/*
 * Copies src into dst (capacity cap, always NUL-terminated) with every
 * registered secret replaced by "***". Returns the length written. Thread-safe.
 */
size_t log_redact(const char *src, char *dst, size_t cap);

#endif
