#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/cidr.h"
#include "util/buf.h"
#include "util/strnum.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

/* A .env file larger than this is refused rather than read into memory. */
#define DOTENV_MAX_BYTES (1024 * 1024)

/* Values longer than this are cut ("...") in error lines. */
#define SHOWN_VALUE_MAX 200

enum {
    F_SECRET = 1 << 0,   /* printed as "***" */
    F_REQUIRED = 1 << 1, /* no default: unset is an error */
    F_COMPUTED = 1 << 2, /* the default text is prose; parse() gets NULL and computes it */
};

/* How a parser stores into the field, derived from the field's C type. */
enum field_type { FT_OTHER, FT_STRING, FT_INT, FT_I64, FT_BOOL };

struct spec;

/*
 * Parses value (never empty; NULL only for F_COMPUTED variables that are
 * unset) into its field of cfg. Returns 0, -EINVAL (and may write a detail
 * that is appended to the error line; it must never contain a secret) or
 * -ENOMEM.
 */
typedef int parse_fn(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                     size_t cap);

static parse_fn parse_int, parse_duration, parse_bool, parse_log_level, parse_log_db_level,
    parse_log_format, parse_database_url, parse_bot_token, parse_api_url, parse_webhook_path,
    parse_token, parse_listen_addr, parse_file, parse_admin_ids, parse_chat_id, parse_workers,
    parse_cidrs, parse_migrate_url, parse_timezone, parse_dir, parse_span, parse_business_hours,
    parse_language, parse_locale_dir, parse_staff_mode, parse_identifier;

/*
 * The configuration variables in documentation order (the README's table),
 * one entry each:
 *
 *   X(NAME, default text or NULL, allowed text, flags, parser, field, min, max)
 *
 * The list expands into config_vars[] (what --help and the README show), an
 * index enum and the parse table, so they cannot drift apart. The default
 * text goes through the same parser as a user's value. min and max are in
 * the unit of the field (milliseconds for durations, characters for texts)
 * and must agree with the allowed text; the unit test checks both ends.
 */
#define CONFIG_VARS(X)                                                                            \
    X(DATABASE_URL, NULL, "libpq URI (postgresql://...) or key=value conninfo", F_REQUIRED,       \
      parse_database_url, database_url, 0, 0)                                                     \
    X(TELEGRAM_BOT_TOKEN, NULL,                                                                   \
      "bot token from @BotFather: digits, ':', then 20 or more of A-Z a-z 0-9 _ -", F_SECRET,     \
      parse_bot_token, telegram_bot_token, 20, 0)                                                 \
    X(TELEGRAM_API_URL, "https://api.telegram.org", "http:// or https:// URL without spaces", 0,  \
      parse_api_url, telegram_api_url, 0, 0)                                                      \
    X(WEBHOOK_PATH, "/webhook",                                                                   \
      "path starting with '/', printable ASCII without spaces, '?' or '#', at most 256 chars", 0, \
      parse_webhook_path, webhook_path, 1, 256)                                                   \
    X(WEBHOOK_SECRET, NULL, "1..256 chars of A-Z a-z 0-9 _ -", F_SECRET, parse_token,             \
      webhook_secret, 1, 256)                                                                     \
    X(METRICS_TOKEN, NULL, "1..256 chars of A-Z a-z 0-9 _ -", F_SECRET, parse_token,              \
      metrics_token, 1, 256)                                                                      \
    X(WEBHOOK_INSECURE, "false", "true or false (also yes/no, on/off, 1/0)", 0, parse_bool,       \
      webhook_insecure, 0, 0)                                                                     \
    X(LISTEN_ADDR, "0.0.0.0", "IPv4 or IPv6 address literal", 0, parse_listen_addr, listen_addr,  \
      0, 0)                                                                                       \
    X(PORT, "8080", "integer 0..65535 (0 = any free port)", 0, parse_int, port, 0, 65535)         \
    X(TLS_CERT_FILE, NULL, "readable certificate file (PEM), set together with TLS_KEY_FILE", 0,  \
      parse_file, tls_cert_file, 0, 0)                                                            \
    X(TLS_KEY_FILE, NULL, "readable private key file (PEM), set together with TLS_CERT_FILE", 0,  \
      parse_file, tls_key_file, 0, 0)                                                             \
    X(ADMIN_IDS, NULL,                                                                            \
      "comma-separated positive Telegram user ids, at most " STR(CONFIG_MAX_ADMINS), 0,           \
      parse_admin_ids, admin_ids, 1, INT64_MAX)                                                   \
    X(SUPERVISOR_IDS, NULL,                                                                       \
      "comma-separated positive Telegram user ids, at most " STR(CONFIG_MAX_ADMINS), 0,           \
      parse_admin_ids, supervisor_ids, 1, INT64_MAX)                                              \
    X(ADMIN_CHAT_ID, NULL, "nonzero integer chat id (groups are negative)", 0, parse_chat_id,     \
      admin_chat_id, INT64_MIN, INT64_MAX)                                                        \
    X(WORKERS, "2 x online CPUs", "integer 1..1024", F_COMPUTED, parse_workers, workers, 1, 1024) \
    X(QUEUE_CAPACITY, "1024", "integer 1..1000000", 0, parse_int, queue_capacity, 1, 1000000)     \
    X(MAX_BODY_BYTES, "1048576", "integer bytes 1024..67108864", 0, parse_int, max_body_bytes,    \
      1024, 67108864)                                                                             \
    X(HTTP_MAX_CONNECTIONS, "1024", "integer 1..65536", 0, parse_int, http_max_connections, 1,    \
      65536)                                                                                      \
    X(HTTP_MAX_PER_IP, "256", "integer 1..65536", 0, parse_int, http_max_per_ip, 1, 65536)        \
    X(HTTP_TIMEOUT, "30", "integer seconds 1..3600", 0, parse_int, http_timeout_s, 1, 3600)       \
    X(HTTP_REQUEST_TIMEOUT, "10", "integer seconds 1..3600", 0, parse_int, http_req_timeout_s, 1, \
      3600)                                                                                       \
    X(WEBHOOK_ALLOWED_CIDRS, NULL,                                                                \
      "comma-separated IPv4/IPv6 networks (CIDR) or addresses, at most " STR(CIDR_MAX), 0,        \
      parse_cidrs, webhook_allowed_cidrs, 0, 0)                                                   \
    X(TRUSTED_PROXIES, NULL,                                                                      \
      "comma-separated IPv4/IPv6 networks (CIDR) or addresses, at most " STR(CIDR_MAX), 0,        \
      parse_cidrs, trusted_proxies, 0, 0)                                                         \
    X(OPS_LISTEN_ADDR, "127.0.0.1", "IPv4 or IPv6 address literal", 0, parse_listen_addr,         \
      ops_listen_addr, 0, 0)                                                                      \
    X(OPS_PORT, NULL, "integer 1..65535 (unset: no operations listener)", 0, parse_int, ops_port, \
      1, 65535)                                                                                   \
    X(DB_POOL_MAX, "100", "integer 1..10000", 0, parse_int, db_pool_max, 1, 10000)                \
    X(DB_POOL_MIN, "0", "integer 0..DB_POOL_MAX", 0, parse_int, db_pool_min, 0, 10000)            \
    X(DB_POOL_TIMEOUT, "30", "seconds (decimals allowed) 0.001..3600", 0, parse_duration,         \
      db_pool_timeout_ms, 1, 3600000)                                                             \
    X(DB_POOL_RECYCLE, "1800", "seconds (decimals allowed) 0..604800, 0 = never", 0,              \
      parse_duration, db_pool_recycle_ms, 0, 604800000)                                           \
    X(DB_POOL_IDLE_TIMEOUT, "600", "seconds (decimals allowed) 0..604800, 0 = never", 0,          \
      parse_duration, db_pool_idle_timeout_ms, 0, 604800000)                                      \
    X(DB_POOL_PRE_PING, "true", "true or false (also yes/no, on/off, 1/0)", 0, parse_bool,        \
      db_pool_pre_ping, 0, 0)                                                                     \
    X(DB_CONNECT_TIMEOUT, "5", "integer seconds 2..300", 0, parse_int, db_connect_timeout_s, 2,   \
      300)                                                                                        \
    X(DB_STATEMENT_TIMEOUT, "5000", "integer milliseconds 0..86400000, 0 = none", 0, parse_int,   \
      db_statement_timeout_ms, 0, 86400000)                                                       \
    X(DB_SLOW_QUERY_MS, "200", "integer milliseconds 0..3600000", 0, parse_int, db_slow_query_ms, \
      0, 3600000)                                                                                 \
    X(DB_PREPARED_STATEMENTS, "true", "true or false (also yes/no, on/off, 1/0)", 0, parse_bool,  \
      db_prepared_statements, 0, 0)                                                               \
    X(DB_INIT_RETRIES, "3", "integer 1..1000 (attempts)", 0, parse_int, db_init_retries, 1, 1000) \
    X(DB_INIT_RETRY_DELAY, "5", "seconds (decimals allowed) 0..3600", 0, parse_duration,          \
      db_init_retry_delay_ms, 0, 3600000)                                                         \
    X(DRAIN_SECONDS, "5", "seconds (decimals allowed) 0..300", 0, parse_duration, drain_ms, 0,    \
      300000)                                                                                     \
    X(MIGRATE_ON_START, "true", "true or false (also yes/no, on/off, 1/0)", 0, parse_bool,        \
      migrate_on_start, 0, 0)                                                                     \
    X(LOG_LEVEL, "info", "debug, info, warn or error", 0, parse_log_level, log_level, 0, 0)       \
    X(LOG_FORMAT, "json", "json or text", 0, parse_log_format, log_format, 0, 0)                  \
    X(LOG_DB_LEVEL, "warn", "debug, info, warn, error or off", 0, parse_log_db_level,             \
      log_db_level, 0, 0)                                                                         \
    X(LOG_RETENTION_DAYS, "30", "integer days 0..36500, 0 = forever", 0, parse_int,               \
      log_retention_days, 0, 36500)                                                               \
    X(AUDIT_RETENTION_DAYS, "0", "integer days 0..36500, 0 = forever", 0, parse_int,              \
      audit_retention_days, 0, 36500)                                                             \
    X(DEDUP_RETENTION_HOURS, "168", "integer hours 25..87600", 0, parse_int,                      \
      dedup_retention_hours, 25, 87600)                                                           \
    X(OUTBOX_RETENTION_DAYS, "30", "integer days 0..36500, 0 = forever", 0, parse_int,            \
      outbox_retention_days, 0, 36500)                                                            \
    X(OUTBOX_MAX_ATTEMPTS, "10", "integer 1..1000", 0, parse_int, outbox_max_attempts, 1, 1000)   \
    X(TELEGRAM_GLOBAL_RPS, "30", "integer calls per second 1..100000", 0, parse_int,              \
      telegram_global_rps, 1, 100000)                                                             \
    X(TELEGRAM_API_TIMEOUT, "10", "seconds (decimals allowed) 0.1..300", 0, parse_duration,       \
      telegram_api_timeout_ms, 100, 300000)                                                       \
    X(MIGRATE_DATABASE_URL, "DATABASE_URL",                                                       \
      "libpq URI or key=value conninfo of the schema's owner, for migrate, adopt and "            \
      "migrate-on-start",                                                                         \
      F_COMPUTED, parse_migrate_url, migrate_database_url, 0, 0)                                  \
    X(DATABASE_PASSWORD_FILE, NULL,                                                               \
      "readable file holding the database password, read again for every new connection", 0,      \
      parse_file, database_password_file, 0, 0)                                                   \
    X(MIGRATE_BACKUP_DIR, NULL,                                                                   \
      "writable directory: pg_dump --format=custom into it before migrations are applied", 0,     \
      parse_dir, migrate_backup_dir, 0, 0)                                                        \
    X(ADOPT_TIMEZONE, "UTC",                                                                      \
      "time zone name PostgreSQL knows (UTC, Europe/Berlin, ...): how `adopt` reads the old "     \
      "bot's times",                                                                              \
      0, parse_timezone, adopt_timezone, 1, 64)                                                   \
    X(CSAT, "on", "on or off (also true/false, yes/no, 1/0)", 0, parse_bool, csat, 0, 0)          \
    X(FIRST_RESPONSE_SLA, NULL, "duration: a number and s, m, h or d (5s..30d), e.g. 15m", 0,     \
      parse_span, first_response_sla_ms, 5000, 2592000000)                                        \
    X(AUTO_CLOSE_SOLVED_AFTER, NULL, "duration: a number and s, m, h or d (5s..365d), e.g. 72h",  \
      0, parse_span, auto_close_solved_ms, 5000, 31536000000)                                     \
    X(BUSINESS_HOURS, NULL,                                                                       \
      "DAYS HH:MM-HH:MM ZONE, e.g. Mon-Fri 09:00-18:00 Europe/Berlin (days Mon..Sun, ranges and " \
      "commas; opening before closing; a zone of the system's tz database)",                      \
      0, parse_business_hours, business_hours, 0, 0)                                              \
    X(DEFAULT_LANGUAGE, "en",                                                                     \
      "language of users whose Telegram language has no catalog: en or one of the catalogs "      \
      "built (de, es, ru, ...)",                                                                  \
      0, parse_language, default_language, 2, 15)                                                 \
    X(LOCALE_DIR, NULL,                                                                           \
      "readable directory of the message catalogs (LANG/LC_MESSAGES/tgdesk.mo); unset: the "      \
      "build tree's po/ for a binary run from there, else the installed ones",                    \
      0, parse_locale_dir, locale_dir, 0, 0)                                                      \
    X(STAFF_MODE, "flat",                                                                         \
      "flat (notifications in the staff chat) or topics (a forum topic per user in "              \
      "ADMIN_CHAT_ID, a supergroup with topics)",                                                 \
      0, parse_staff_mode, staff_topics, 0, 0)                                                    \
    X(TELEGRAM_GROUP_RPM, "20", "integer messages a minute to one group chat 1..100000", 0,       \
      parse_int, telegram_group_rpm, 1, 100000)                                                   \
    X(SEARCH_LANGUAGE, "simple",                                                                  \
      "a text-search configuration of the database (simple, english, german, russian, ...): "     \
      "1..63 of a-z 0-9 _, starting with a letter; checked against the database at start",        \
      0, parse_identifier, search_language, 1, 63)

#define AS_PUBLIC(name, def, allowed, flags, parse, field, min, max) \
    {#name, def, allowed, ((flags)&F_SECRET) != 0},
const struct config_var config_vars[] = {CONFIG_VARS(AS_PUBLIC)};
const size_t config_vars_count = sizeof(config_vars) / sizeof(config_vars[0]);

#define AS_INDEX(name, ...) V_##name,
enum { CONFIG_VARS(AS_INDEX) V_COUNT };

struct spec {
    parse_fn *parse;
    unsigned flags;
    size_t offset;
    enum field_type type;
    int64_t min, max;
};

#define FIELD_TYPE(field) \
    _Generic((struct config){0}.field,                                                             \
        char *: FT_STRING,                                                                         \
        int: FT_INT,                                                                               \
        int64_t: FT_I64,                                                                           \
        bool: FT_BOOL,                                                                             \
        default: FT_OTHER)
#define AS_SPEC(name, def, allowed, flags_, parse_, field, min_, max_) \
    {.parse = parse_,                                                  \
     .flags = flags_,                                                  \
     .offset = offsetof(struct config, field),                         \
     .type = FIELD_TYPE(field),                                        \
     .min = min_,                                                      \
     .max = max_},
static const struct spec specs[] = {CONFIG_VARS(AS_SPEC)};

_Static_assert(sizeof(specs) / sizeof(specs[0]) == V_COUNT, "one spec per variable");

/* ---- small helpers ---------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void errline(FILE *err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
}

static void *field_of(struct config *cfg, const struct spec *sp)
{
    return (char *)cfg + sp->offset;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Telegram's alphabet for bot token secrets and webhook secrets. */
static bool is_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
}

/* Printable ASCII other than space. */
static bool is_graph(char c)
{
    return c > ' ' && c < 0x7f;
}

static int set_string(const struct spec *sp, struct config *cfg, const char *value)
{
    char **dst = field_of(cfg, sp);
    char *copy = strdup(value);

    if (!copy)
        return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

/* ---- masking ---------------------------------------------------------- */

/* Length of a libpq key/value conninfo value: 'quoted' or up to whitespace, with \ escapes. */
static size_t conninfo_value_len(const char *s)
{
    const char *p = s;

    if (*p == '\'') {
        for (p++; *p && *p != '\''; p++) {
            if (*p == '\\' && p[1])
                p++;
        }
        if (*p == '\'')
            p++;
        return (size_t)(p - s);
    }
    for (; *p && !is_space(*p); p++) {
        if (*p == '\\' && p[1])
            p++;
    }
    return (size_t)(p - s);
}

/*
 * Copies a key/value conninfo, replacing the value of every "password"
 * keyword (spaces allowed around '=', as libpq does) by "***".
 */
static void mask_conninfo_password(struct buf *b, const char *s)
{
    const char *p = s;

    while (*p) {
        if ((p == s || is_space(p[-1])) && strncasecmp(p, "password", 8) == 0) {
            const char *q = p + 8;
            while (is_space(*q))
                q++;
            if (*q == '=') {
                for (q++; is_space(*q); q++)
                    ;
                buf_addn(b, p, (size_t)(q - p));
                buf_add(b, "***");
                p = q + conninfo_value_len(q);
                continue;
            }
        }
        buf_addc(b, *p++);
    }
}

/* True when the URI parameter name k (n bytes, percent-encoded) is "password". */
static bool uri_key_is_password(const char *k, size_t n)
{
    static const char want[] = "password";
    size_t j = 0;

    for (size_t i = 0; i < n; i++, j++) {
        int c = (unsigned char)k[i];
        if (c == '%' && i + 2 < n && strnum_hexdigit(k[i + 1]) >= 0 &&
            strnum_hexdigit(k[i + 2]) >= 0) {
            c = strnum_hexdigit(k[i + 1]) * 16 + strnum_hexdigit(k[i + 2]);
            i += 2;
        }
        if (j >= sizeof(want) - 1 || (c | 0x20) != want[j])
            return false;
    }
    return j == sizeof(want) - 1;
}

/* Copies the rest of a URI, replacing the value of a "password" parameter by "***". */
static void mask_uri_password(struct buf *b, const char *s)
{
    const char *p = s;

    while (*p) {
        if (p > s && (p[-1] == '?' || p[-1] == '&')) {
            size_t klen = strcspn(p, "=&");
            if (p[klen] == '=' && uri_key_is_password(p, klen)) {
                buf_addn(b, p, klen + 1);
                buf_add(b, "***");
                p += klen + 1;
                p += strcspn(p, "&");
                continue;
            }
        }
        buf_addc(b, *p++);
    }
}

static void mask_database_url(struct buf *b, const char *v)
{
    const char *sep = strstr(v, "://");

    if (!sep) {
        mask_conninfo_password(b, v);
        return;
    }

    const char *auth = sep + 3;
    const char *at = strchr(auth, '@');
    if (!at) {
        buf_addn(b, v, (size_t)(auth - v));
        mask_uri_password(b, auth);
        return;
    }
    /*
     * libpq ends the user info at the first '@' before any '/'. A password
     * with a stray '@' or '/' is malformed but must not leak either, so mask
     * up to the last '@' before the next '/'.
     */
    for (const char *p = at + 1; *p && *p != '/'; p++) {
        if (*p == '@')
            at = p;
    }
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon) {
        buf_addn(b, v, (size_t)(colon + 1 - v));
        buf_add(b, "***");
    } else {
        buf_addn(b, v, (size_t)(at - v));
    }
    mask_uri_password(b, at);
}

/* Appends value with secrets masked (see config_mask_value()). */
static void mask_value(struct buf *b, const char *name, const char *value)
{
    if (!value)
        return;
    if (name && (strcmp(name, "DATABASE_URL") == 0 || strcmp(name, "MIGRATE_DATABASE_URL") == 0)) {
        mask_database_url(b, value);
        return;
    }
    for (size_t i = 0; name && i < config_vars_count; i++) {
        if (config_vars[i].secret && strcmp(config_vars[i].name, name) == 0) {
            buf_add(b, "***");
            return;
        }
    }
    buf_add(b, value);
}

/*
 * Copies b's text into dst, whose capacity is more than b's cap, and frees b.
 * A text cut at the cap is kept; after any other error dst is "".
 */
static void copy_out(struct buf *b, char *dst)
{
    int err = buf_error(b);
    size_t n = err == 0 || err == -E2BIG ? buf_len(b) : 0;
    memcpy(dst, buf_str(b), n);
    dst[n] = '\0';
    buf_free(b);
}

char *config_mask_value(const char *name, const char *value, char *dst, size_t cap)
{
    if (!dst || cap == 0)
        return dst;
    struct buf b;
    buf_init(&b, cap - 1);
    mask_value(&b, name, value);
    copy_out(&b, dst);
    return dst;
}

/* Masks value, then quotes and escapes it for a one-line message, cut when long. */
static void show_value(const char *name, const char *value, char *dst, size_t cap)
{
    struct buf masked, b;
    buf_init(&masked, SHOWN_VALUE_MAX + 64);
    mask_value(&masked, name, value);
    buf_init(&b, cap - 1);
    buf_addc(&b, '"');
    size_t n = 0;
    for (const char *p = buf_str(&masked); *p; p++, n++) {
        if (n == SHOWN_VALUE_MAX) {
            buf_add(&b, "...");
            break;
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf_addc(&b, '\\');
            buf_addc(&b, (char)c);
        } else if (c == '\n') {
            buf_add(&b, "\\n");
        } else if (c < ' ' || c == 0x7f) {
            buf_addf(&b, "\\x%02x", c);
        } else {
            buf_addc(&b, (char)c);
        }
    }
    buf_addc(&b, '"');
    buf_free(&masked);
    copy_out(&b, dst);
}

/* ---- parsers ---------------------------------------------------------- */

static void store_int(const struct spec *sp, struct config *cfg, int64_t v)
{
    if (sp->type == FT_INT)
        *(int *)field_of(cfg, sp) = (int)v;
    else
        *(int64_t *)field_of(cfg, sp) = v;
}

static int parse_int(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                     size_t cap)
{
    int64_t v;

    if (strnum_i64(value, sp->min, sp->max, &v) < 0)
        return -EINVAL;
    store_int(sp, cfg, v);
    return 0;
}

static int parse_workers(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                         size_t cap)
{
    if (value)
        return parse_int(sp, value, cfg, detail, cap);

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t n = cpus > 0 ? 2 * (int64_t)cpus : 2;
    store_int(sp, cfg, n < sp->min ? sp->min : n > sp->max ? sp->max : n);
    return 0;
}

static int parse_duration(const struct spec *sp, const char *value, struct config *cfg,
                          char *detail, size_t cap)
{
    int64_t ms;

    if (strnum_seconds_ms(value, sp->min, sp->max, &ms) < 0)
        return -EINVAL;
    *(int64_t *)field_of(cfg, sp) = ms;
    return 0;
}

static int parse_bool(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                      size_t cap)
{
    return strnum_bool(value, (bool *)field_of(cfg, sp)) < 0 ? -EINVAL : 0;
}

static int parse_log_level(const struct spec *sp, const char *value, struct config *cfg,
                           char *detail, size_t cap)
{
    return log_level_parse(value, false, (enum log_level *)field_of(cfg, sp)) < 0 ? -EINVAL : 0;
}

static int parse_log_db_level(const struct spec *sp, const char *value, struct config *cfg,
                              char *detail, size_t cap)
{
    return log_level_parse(value, true, (enum log_level *)field_of(cfg, sp)) < 0 ? -EINVAL : 0;
}

static int parse_log_format(const struct spec *sp, const char *value, struct config *cfg,
                            char *detail, size_t cap)
{
    static const struct {
        const char *name;
        enum log_format format;
    } formats[] = {{"json", LOG_FORMAT_JSON}, {"text", LOG_FORMAT_TEXT}};

    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcasecmp(value, formats[i].name) == 0) {
            *(enum log_format *)field_of(cfg, sp) = formats[i].format;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_staff_mode(const struct spec *sp, const char *value, struct config *cfg,
                            char *detail, size_t cap)
{
    bool *topics = field_of(cfg, sp);
    if (strcasecmp(value, "flat") == 0)
        *topics = false;
    else if (strcasecmp(value, "topics") == 0)
        *topics = true;
    else
        return -EINVAL;
    return 0;
}

/*
 * libpq's error text may quote the whole URI, password included. It is taken
 * from parsing the masked value instead, which holds no password; when only
 * the original fails, the password part itself is what libpq refused.
 */
static void conninfo_error(const char *value, char *detail, size_t cap)
{
    char masked[4096];
    char *msg = NULL;

    config_mask_value("DATABASE_URL", value, masked, sizeof(masked));
    PQconninfoOption *opts = PQconninfoParse(masked, &msg);
    if (opts) {
        PQconninfoFree(opts);
        snprintf(detail, cap, "the password part is malformed");
        return;
    }
    if (!msg)
        return;
    snprintf(detail, cap, "%s", msg);
    PQfreemem(msg);
    /* libpq ends its messages with a newline; an error line is one line. */
    for (char *p = detail; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    for (size_t n = strlen(detail); n > 0 && detail[n - 1] == ' '; n--)
        detail[n - 1] = '\0';
}

static int parse_database_url(const struct spec *sp, const char *value, struct config *cfg,
                              char *detail, size_t cap)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(value, &msg);

    if (!opts) {
        /* NULL without a message means libpq ran out of memory. */
        if (!msg)
            return -ENOMEM;
        PQfreemem(msg);
        conninfo_error(value, detail, cap);
        return -EINVAL;
    }
    PQconninfoFree(opts);
    return set_string(sp, cfg, value);
}

/* Unset: migrations use DATABASE_URL (parsed before it: the list's order). */
static int parse_migrate_url(const struct spec *sp, const char *value, struct config *cfg,
                             char *detail, size_t cap)
{
    if (!value)
        return cfg->database_url ? set_string(sp, cfg, cfg->database_url) : 0;
    return parse_database_url(sp, value, cfg, detail, cap);
}

/* A time zone name as PostgreSQL spells them; whether it knows it is checked there. */
static int parse_timezone(const struct spec *sp, const char *value, struct config *cfg,
                          char *detail, size_t cap)
{
    size_t n = strlen(value);
    if (n < (size_t)sp->min || n > (size_t)sp->max)
        return -EINVAL;
    for (const char *p = value; *p; p++)
        if (!is_token_char(*p) && !strchr("/+:.", *p))
            return -EINVAL;
    return set_string(sp, cfg, value);
}

/* A lower-case SQL identifier (a text-search configuration's name). */
static int parse_identifier(const struct spec *sp, const char *value, struct config *cfg,
                            char *detail, size_t cap)
{
    size_t n = strlen(value);
    if (n < (size_t)sp->min || n > (size_t)sp->max || value[0] < 'a' || value[0] > 'z')
        return -EINVAL;
    for (const char *p = value; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return -EINVAL;
    return set_string(sp, cfg, value);
}

static int parse_bot_token(const struct spec *sp, const char *value, struct config *cfg,
                           char *detail, size_t cap)
{
    const char *p = value;

    while (is_digit(*p))
        p++;
    if (p == value || *p != ':')
        return -EINVAL;
    const char *secret = ++p;
    while (is_token_char(*p))
        p++;
    if (*p || p - secret < sp->min)
        return -EINVAL;
    return set_string(sp, cfg, value);
}

static int parse_api_url(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                         size_t cap)
{
    size_t scheme;

    if (strncasecmp(value, "http://", 7) == 0)
        scheme = 7;
    else if (strncasecmp(value, "https://", 8) == 0)
        scheme = 8;
    else
        return -EINVAL;
    for (const char *p = value; *p; p++) {
        if (!is_graph(*p))
            return -EINVAL;
    }
    size_t len = strlen(value);
    while (len > scheme && value[len - 1] == '/')
        len--;
    if (len == scheme) {
        snprintf(detail, cap, "no host");
        return -EINVAL;
    }

    char *copy = strndup(value, len);
    if (!copy)
        return -ENOMEM;
    free(cfg->telegram_api_url);
    cfg->telegram_api_url = copy;
    return 0;
}

static int parse_webhook_path(const struct spec *sp, const char *value, struct config *cfg,
                              char *detail, size_t cap)
{
    size_t len = strlen(value);

    if (value[0] != '/' || len < (size_t)sp->min || len > (size_t)sp->max)
        return -EINVAL;
    for (const char *p = value; *p; p++) {
        if (!is_graph(*p) || *p == '?' || *p == '#')
            return -EINVAL;
    }
    return set_string(sp, cfg, value);
}

static int parse_token(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                       size_t cap)
{
    size_t len = strlen(value);

    if (len < (size_t)sp->min || len > (size_t)sp->max)
        return -EINVAL;
    for (const char *p = value; *p; p++) {
        if (!is_token_char(*p))
            return -EINVAL;
    }
    return set_string(sp, cfg, value);
}

static int parse_listen_addr(const struct spec *sp, const char *value, struct config *cfg,
                             char *detail, size_t cap)
{
    unsigned char addr[sizeof(struct in6_addr)];

    if (inet_pton(AF_INET, value, addr) != 1 && inet_pton(AF_INET6, value, addr) != 1)
        return -EINVAL;
    return set_string(sp, cfg, value);
}

/* A list of networks: checked here, parsed again by the HTTP server. */
static int parse_cidrs(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                       size_t cap)
{
    struct cidr_list l;
    int rc = cidr_list_parse(value, &l, detail, cap);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        return -EINVAL;
    bool empty = l.n == 0;
    cidr_list_free(&l);
    return empty ? 0 : set_string(sp, cfg, value);
}

/* A path that access(2) allows for mode and whose type is want (S_IFREG or S_IFDIR). */
static int parse_path(const struct spec *sp, const char *value, struct config *cfg, int mode,
                      mode_t want, char *detail, size_t cap)
{
    struct stat st;

    if (access(value, mode) < 0 || stat(value, &st) < 0) {
        snprintf(detail, cap, "%s", strerror(errno));
        return -EINVAL;
    }
    if ((st.st_mode & S_IFMT) != want) {
        snprintf(detail, cap, "%s", want == S_IFDIR ? "not a directory" : "not a regular file");
        return -EINVAL;
    }
    return set_string(sp, cfg, value);
}

static int parse_file(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                      size_t cap)
{
    return parse_path(sp, value, cfg, R_OK, S_IFREG, detail, cap);
}

static int parse_dir(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                     size_t cap)
{
    return parse_path(sp, value, cfg, W_OK | X_OK, S_IFDIR, detail, cap);
}

static int parse_locale_dir(const struct spec *sp, const char *value, struct config *cfg,
                            char *detail, size_t cap)
{
    return parse_path(sp, value, cfg, R_OK | X_OK, S_IFDIR, detail, cap);
}

/* A language tag ("de", "pt-BR", "sr_RS@latin"): whether it has a catalog is checked at start. */
static int parse_language(const struct spec *sp, const char *value, struct config *cfg,
                          char *detail, size_t cap)
{
    size_t n = strlen(value), letters = 0;
    while ((value[letters] >= 'a' && value[letters] <= 'z') ||
           (value[letters] >= 'A' && value[letters] <= 'Z'))
        letters++;
    if (n < (size_t)sp->min || n > (size_t)sp->max || letters < 2 || letters > 3 ||
        (value[letters] && !strchr("-_", value[letters])))
        return -EINVAL;
    for (const char *p = value; *p; p++)
        if (!is_token_char(*p) && *p != '@')
            return -EINVAL;
    return set_string(sp, cfg, value);
}

static int parse_admin_ids(const struct spec *sp, const char *value, struct config *cfg,
                           char *detail, size_t cap)
{
    size_t n_items = 1;

    for (const char *p = value; *p; p++)
        n_items += *p == ',';
    if (n_items > CONFIG_MAX_ADMINS) {
        snprintf(detail, cap, "%zu ids given", n_items);
        return -EINVAL;
    }

    int64_t *ids = calloc(n_items, sizeof(*ids));
    if (!ids)
        return -ENOMEM;

    size_t n = 0;
    for (const char *p = value;;) {
        const char *sep = p + strcspn(p, ",");
        const char *end = sep;
        char item[32];

        while (p < end && is_space(*p))
            p++;
        while (end > p && is_space(end[-1]))
            end--;
        if (end == p) {
            snprintf(detail, cap, "id %zu is empty", n + 1);
            goto invalid;
        }
        if ((size_t)(end - p) >= sizeof(item)) {
            snprintf(detail, cap, "id %zu is too long", n + 1);
            goto invalid;
        }
        memcpy(item, p, (size_t)(end - p));
        item[end - p] = '\0';
        if (strnum_i64(item, sp->min, sp->max, &ids[n]) < 0) {
            snprintf(detail, cap, "\"%s\" is not a positive 64-bit integer", item);
            goto invalid;
        }
        n++;
        if (!*sep)
            break;
        p = sep + 1;
    }

    qsort(ids, n, sizeof(*ids), strnum_cmp_i64);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++) {
        if (unique == 0 || ids[i] != ids[unique - 1])
            ids[unique++] = ids[i];
    }
    /* ADMIN_IDS or SUPERVISOR_IDS: the list, then its count. */
    bool sup = sp->offset == offsetof(struct config, supervisor_ids);
    int64_t **list = sup ? &cfg->supervisor_ids : &cfg->admin_ids;
    free(*list);
    *list = ids;
    *(sup ? &cfg->n_supervisor_ids : &cfg->n_admin_ids) = unique;
    return 0;

invalid:
    free(ids);
    return -EINVAL;
}

static int parse_chat_id(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                         size_t cap)
{
    int64_t id;

    if (strnum_i64(value, sp->min, sp->max, &id) < 0 || id == 0)
        return -EINVAL;
    cfg->admin_chat_id = id;
    cfg->has_admin_chat_id = true;
    return 0;
}

/* "90s", "15m", "72h", "2d": a positive whole number and its unit, in ms. */
static int parse_span(const struct spec *sp, const char *value, struct config *cfg, char *detail,
                      size_t cap)
{
    size_t n = strlen(value);
    char digits[24];
    if (n < 2 || n - 1 >= sizeof(digits))
        return -EINVAL;
    int64_t unit;
    switch (value[n - 1]) {
    case 's':
        unit = 1000;
        break;
    case 'm':
        unit = 60000;
        break;
    case 'h':
        unit = 3600000;
        break;
    case 'd':
        unit = 86400000;
        break;
    default:
        return -EINVAL;
    }
    memcpy(digits, value, n - 1);
    digits[n - 1] = '\0';
    int64_t v;
    if (!is_digit(digits[0]) || strnum_i64(digits, 1, sp->max / unit, &v) < 0 || v * unit < sp->min)
        return -EINVAL;
    *(int64_t *)field_of(cfg, sp) = v * unit;
    return 0;
}

/* "Mon".."Sun" at p (3 letters, any case) as 1..7 (ISO), else 0. */
static int weekday_at(const char *p)
{
    static const char *const names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    for (int i = 0; i < 7; i++)
        if (strncasecmp(p, names[i], 3) == 0)
            return i + 1;
    return 0;
}

/* "HH:MM" (00:00..24:00) at p as minutes, else -1. */
static int clock_at(const char *p)
{
    if (!is_digit(p[0]) || !is_digit(p[1]) || p[2] != ':' || !is_digit(p[3]) || !is_digit(p[4]))
        return -1;
    int h = (p[0] - '0') * 10 + (p[1] - '0'), m = (p[3] - '0') * 10 + (p[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

/* True when zone names a file of the tz database (TZDIR or /usr/share/zoneinfo). */
static bool zone_known(const char *zone)
{
    size_t n = strlen(zone);
    if (n == 0 || n > 64 || zone[0] == '/' || strstr(zone, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_token_char(zone[i]) && zone[i] != '/' && zone[i] != '+')
            return false;
    const char *dir = getenv("TZDIR");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int parse_business_hours(const struct spec *sp, const char *value, struct config *cfg,
                                char *detail, size_t cap)
{
    const char *p = value;
    unsigned days = 0;
    for (;;) {
        int from = weekday_at(p), to;
        if (!from) {
            snprintf(detail, cap, "days are Mon, Tue, Wed, Thu, Fri, Sat, Sun");
            return -EINVAL;
        }
        p += 3;
        to = from;
        if (*p == '-') {
            if (!(to = weekday_at(p + 1))) {
                snprintf(detail, cap, "days are Mon, Tue, Wed, Thu, Fri, Sat, Sun");
                return -EINVAL;
            }
            p += 4;
        }
        for (int d = from;; d = d % 7 + 1) { /* Sat-Mon wraps over Sunday */
            days |= 1u << d;
            if (d == to)
                break;
        }
        if (*p != ',')
            break;
        p++;
    }
    while (*p == ' ')
        p++;
    int open = clock_at(p), close = open < 0 || p[5] != '-' ? -1 : clock_at(p + 6);
    if (open < 0 || close < 0) {
        snprintf(detail, cap, "hours are HH:MM-HH:MM");
        return -EINVAL;
    }
    if (open >= close) {
        snprintf(detail, cap, "opening must come before closing");
        return -EINVAL;
    }
    p += 11;
    if (*p != ' ')
        return -EINVAL;
    while (*p == ' ')
        p++;
    if (!zone_known(p)) {
        snprintf(detail, cap, "no time zone \"%.64s\" in the tz database", p);
        return -EINVAL;
    }
    char *zone = strdup(p);
    if (!zone || set_string(sp, cfg, value) < 0) {
        free(zone);
        return -ENOMEM;
    }
    free(cfg->business_zone);
    cfg->business_zone = zone;
    cfg->business_days = days;
    cfg->business_open_min = open;
    cfg->business_close_min = close;
    return 0;
}

/* ---- .env ------------------------------------------------------------- */

static ssize_t var_index(const char *name)
{
    for (size_t i = 0; i < V_COUNT; i++) {
        if (strcmp(config_vars[i].name, name) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* True when nothing but spaces, tabs and perhaps a comment follows a closing quote. */
static bool only_comment_left(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0' || *p == '#';
}

/*
 * Parses one line in place. Returns 0 for a blank or comment line, 1 with
 * *ret_key and *ret_value pointing into line, or -EINVAL with *ret_why set.
 * The reason never quotes the line, which may hold a secret.
 */
static int dotenv_parse_line(char *line, char **ret_key, char **ret_value, const char **ret_why)
{
    char *p = line;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
        p += 6;
        while (*p == ' ' || *p == '\t')
            p++;
    }

    char *eq = strchr(p, '=');
    if (!eq) {
        *ret_why = "expected KEY=VALUE";
        return -EINVAL;
    }
    char *key_end = eq;
    while (key_end > p && (key_end[-1] == ' ' || key_end[-1] == '\t'))
        key_end--;
    bool key_ok = key_end > p && !is_digit(*p);
    for (const char *k = p; key_ok && k < key_end; k++)
        key_ok = is_token_char(*k) && *k != '-';
    if (!key_ok) {
        *ret_why = "invalid variable name before '=' (letters, digits and '_')";
        return -EINVAL;
    }
    *key_end = '\0';

    char *v = eq + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v == '"') {
        char *out = ++v;
        char *in = v;
        for (; *in && *in != '"'; in++) {
            if (*in == '\\' && (in[1] == 'n' || in[1] == '"' || in[1] == '\\')) {
                in++;
                *out++ = *in == 'n' ? '\n' : *in;
            } else {
                *out++ = *in;
            }
        }
        if (*in != '"') {
            *ret_why = "unterminated double quote";
            return -EINVAL;
        }
        if (!only_comment_left(in + 1)) {
            *ret_why = "unexpected text after the closing quote";
            return -EINVAL;
        }
        *out = '\0';
    } else if (*v == '\'') {
        char *close = strchr(++v, '\'');
        if (!close) {
            *ret_why = "unterminated single quote";
            return -EINVAL;
        }
        if (!only_comment_left(close + 1)) {
            *ret_why = "unexpected text after the closing quote";
            return -EINVAL;
        }
        *close = '\0';
    } else {
        char *end = v;
        for (; *end; end++) {
            if (*end == '#' && (end[-1] == ' ' || end[-1] == '\t'))
                break;
        }
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = '\0';
    }
    *ret_key = p;
    *ret_value = v;
    return 1;
}

/* Reads the whole file into a NUL-terminated buffer of at most DOTENV_MAX_BYTES. */
static int read_file(const char *path, char **ret_buf, size_t *ret_len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;

    char *buf = malloc(DOTENV_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    size_t len = fread(buf, 1, DOTENV_MAX_BYTES + 1, f);
    int r = ferror(f) ? -EIO : len > DOTENV_MAX_BYTES ? -EFBIG : 0;
    fclose(f);
    if (r < 0) {
        free(buf);
        return r;
    }
    buf[len] = '\0';
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

/*
 * Reads the .env file into values[] (one strdup'd value per tgdesk variable,
 * NULL when absent or empty). Returns the number of errors reported, or
 * -ENOMEM.
 */
static int dotenv_load(const char *path, FILE *err, char *values[V_COUNT])
{
    char *buf = NULL;
    size_t len = 0;
    int n_errors = 0;

    int r = read_file(path, &buf, &len);
    if (r == -ENOENT)
        return 0;
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        errline(err, "config: %s: cannot read: %s\n", path,
                r == -EFBIG ? "larger than " STR(DOTENV_MAX_BYTES) " bytes" : strerror(-r));
        return 1;
    }

    size_t lineno = 0;
    for (char *line = buf; line < buf + len;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        char *end = nl ? nl : buf + len;
        char *next = nl ? nl + 1 : buf + len;
        char *key, *value;
        const char *why = NULL;

        lineno++;
        if (end > line && end[-1] == '\r')
            end--;
        if (memchr(line, '\0', (size_t)(end - line))) {
            errline(err, "config: %s:%zu: contains a NUL byte\n", path, lineno);
            n_errors++;
            line = next;
            continue;
        }
        *end = '\0';
        r = dotenv_parse_line(line, &key, &value, &why);
        line = next;
        if (r < 0) {
            errline(err, "config: %s:%zu: %s\n", path, lineno, why);
            n_errors++;
            continue;
        }
        ssize_t i = r == 1 ? var_index(key) : -1;
        if (i < 0)
            continue;
        free(values[i]);
        values[i] = NULL;
        if (*value && !(values[i] = strdup(value))) {
            free(buf);
            return -ENOMEM;
        }
    }
    free(buf);
    return n_errors;
}

/* ---- loading ---------------------------------------------------------- */

static void report_bad(FILE *err, size_t i, const char *value, const char *detail)
{
    char shown[SHOWN_VALUE_MAX * 4 + 16];

    show_value(config_vars[i].name, value, shown, sizeof(shown));
    errline(err, "config: %s=%s: must be %s%s%s\n", config_vars[i].name, shown,
            config_vars[i].allowed, *detail ? ": " : "", detail);
}

/* Returns 0, -EINVAL (reported) or -ENOMEM. */
static int load_var(size_t i, const char *value, struct config *cfg, FILE *err)
{
    const struct spec *sp = &specs[i];
    char detail[512] = "";

    if (!value) {
        if (sp->flags & F_REQUIRED) {
            errline(err, "config: %s is required: %s\n", config_vars[i].name,
                    config_vars[i].allowed);
            return -EINVAL;
        }
        if (!(sp->flags & F_COMPUTED)) {
            value = config_vars[i].default_value;
            if (!value)
                return 0;
        }
    }
    int r = sp->parse(sp, value, cfg, detail, sizeof(detail));
    if (r == -EINVAL)
        report_bad(err, i, value, detail);
    return r;
}

/* Checks between variables; only those that parsed. Returns the number of errors. */
static int cross_check(const struct config *cfg, const char *values[V_COUNT],
                       const bool bad[V_COUNT], FILE *err)
{
    int n_errors = 0;

    if (!bad[V_DB_POOL_MIN] && !bad[V_DB_POOL_MAX] && cfg->db_pool_min > cfg->db_pool_max) {
        char shown[SHOWN_VALUE_MAX * 4 + 16];
        show_value("DB_POOL_MIN", values[V_DB_POOL_MIN], shown, sizeof(shown));
        errline(err, "config: DB_POOL_MIN=%s: must be <= DB_POOL_MAX=%d\n", shown,
                cfg->db_pool_max);
        n_errors++;
    }

    /* Topics live in a forum, and forums are supergroups (ids below -10^12). */
    if (!bad[V_STAFF_MODE] && !bad[V_ADMIN_CHAT_ID] && cfg->staff_topics &&
        (!cfg->has_admin_chat_id || cfg->admin_chat_id > INT64_C(-1000000000000))) {
        char shown[SHOWN_VALUE_MAX * 4 + 16];
        show_value("STAFF_MODE", values[V_STAFF_MODE], shown, sizeof(shown));
        errline(err,
                "config: STAFF_MODE=%s: needs ADMIN_CHAT_ID of a supergroup with topics (an id "
                "below -1000000000000)\n",
                shown);
        n_errors++;
    }

    bool cert = values[V_TLS_CERT_FILE] != NULL;
    bool key = values[V_TLS_KEY_FILE] != NULL;
    if (cert != key) {
        errline(err, "config: %s: must be set when %s is set (HTTPS needs both)\n",
                cert ? "TLS_KEY_FILE" : "TLS_CERT_FILE", cert ? "TLS_CERT_FILE" : "TLS_KEY_FILE");
        n_errors++;
    }
    return n_errors;
}

int config_load(const char *dotenv_path, FILE *err, struct config *ret)
{
    struct config cfg = {0};
    char *file_values[V_COUNT] = {0};
    const char *values[V_COUNT] = {0};
    bool bad[V_COUNT] = {0};
    int n_errors = 0;
    int r = 0;

    if (dotenv_path) {
        r = dotenv_load(dotenv_path, err, file_values);
        if (r < 0)
            goto out;
        n_errors = r;
    }

    for (size_t i = 0; i < V_COUNT; i++) {
        const char *v = getenv(config_vars[i].name);

        /* An empty value counts as unset, in the environment as in the file. */
        values[i] = v && *v ? v : file_values[i];
        r = load_var(i, values[i], &cfg, err);
        if (r == -ENOMEM)
            goto out;
        if (r < 0) {
            bad[i] = true;
            n_errors++;
        }
    }
    n_errors += cross_check(&cfg, values, bad, err);

    if (n_errors > 0) {
        r = -EINVAL;
        goto out;
    }
    *ret = cfg;
    memset(&cfg, 0, sizeof(cfg));
    r = 0;

out:
    if (r == -ENOMEM)
        errline(err, "config: out of memory\n");
    config_free(&cfg);
    for (size_t i = 0; i < V_COUNT; i++)
        free(file_values[i]);
    return r;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < V_COUNT; i++) {
        if (specs[i].type == FT_STRING)
            free(*(char **)field_of(cfg, &specs[i]));
    }
    free(cfg->admin_ids);
    free(cfg->supervisor_ids);
    free(cfg->business_zone);
    memset(cfg, 0, sizeof(*cfg));
}
