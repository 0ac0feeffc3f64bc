/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define GOOD_DB    "postgresql://tgdesk@localhost/tgdesk"
#define GOOD_TOKEN "123456789:fake-token-for-unit-tests-only"

static char tmpdir[] = "/tmp/test_config.XXXXXX";

/* ---- helpers ----------------------------------------------------------- */

static void clear_env(void)
{
    for (size_t i = 0; i < config_vars_count; i++)
        unsetenv(config_vars[i].name);
}

static int setup(void **state)
{
    clear_env();
    return 0;
}

static char *path_in_tmp(const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
    return p;
}

/* Writes a file in the temp dir; returns its path (caller frees). */
static char *write_tmp(const char *name, const char *content)
{
    char *path = path_in_tmp(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
    return path;
}

static int group_setup(void **state)
{
    if (!mkdtemp(tmpdir))
        return -1;
    free(write_tmp("cert.pem", "-----BEGIN CERTIFICATE-----\n"));
    free(write_tmp("key.pem", "-----BEGIN PRIVATE KEY-----\n"));
    return 0;
}

static int group_teardown(void **state)
{
    static const char *const files[] = {"cert.pem", "key.pem", ".env"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *p = path_in_tmp(files[i]);
        unlink(p);
        free(p);
    }
    return rmdir(tmpdir);
}

/* Sets name to value, with a leading "$DIR" replaced by the temp dir. */
static void set_var(const char *name, const char *value)
{
    char buf[512];
    if (strncmp(value, "$DIR", 4) == 0) {
        snprintf(buf, sizeof(buf), "%s%s", tmpdir, value + 4);
        value = buf;
    }
    assert_int_equal(setenv(name, value, 1), 0);
}

/* Runs config_load; *ret_err receives everything written to err (caller frees). */
static int load(const char *dotenv, struct config *cfg, char **ret_err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    int rc = config_load(dotenv, f, cfg);
    assert_int_equal(fclose(f), 0);
    *ret_err = buf;
    return rc;
}

/* Loads and expects success; prints the error text otherwise. */
static void load_ok(const char *dotenv, struct config *cfg)
{
    char *err = NULL;
    int rc = load(dotenv, cfg, &err);
    if (rc != 0 || *err)
        fail_msg("config_load returned %d: %s", rc, err);
    free(err);
}

/* Loads and expects -EINVAL; returns the error text (caller frees). */
static char *load_bad(const char *dotenv)
{
    struct config cfg;
    char *err = NULL;
    int rc = load(dotenv, &cfg, &err);
    if (rc != -EINVAL) {
        if (rc == 0)
            config_free(&cfg);
        fail_msg("config_load returned %d, want -EINVAL (err: \"%s\")", rc, err);
    }
    return err;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" not found in \"%s\"", needle, haystack);
}

static void assert_lacks(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle))
        fail_msg("\"%s\" must not appear in \"%s\"", needle, haystack);
}

static const struct config_var *find_var(const char *name)
{
    for (size_t i = 0; i < config_vars_count; i++) {
        if (strcmp(config_vars[i].name, name) == 0)
            return &config_vars[i];
    }
    fail_msg("unknown variable %s", name);
    return NULL;
}

/* ---- the table of variables --------------------------------------------- */

/* True when id is one of the parsed ADMIN_IDS. */
static bool is_admin(const struct config *cfg, int64_t id)
{
    for (size_t i = 0; cfg && i < cfg->n_admin_ids; i++)
        if (cfg->admin_ids[i] == id)
            return true;
    return false;
}

static void test_vars_table(void **state)
{
    static const char *const names[] = {
        "DATABASE_URL",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_URL",
        "WEBHOOK_PATH",
        "WEBHOOK_SECRET",
        "METRICS_TOKEN",
        "WEBHOOK_INSECURE",
        "LISTEN_ADDR",
        "PORT",
        "TLS_CERT_FILE",
        "TLS_KEY_FILE",
        "ADMIN_IDS",
        "SUPERVISOR_IDS",
        "ADMIN_CHAT_ID",
        "WORKERS",
        "QUEUE_CAPACITY",
        "MAX_BODY_BYTES",
        "HTTP_MAX_CONNECTIONS",
        "HTTP_MAX_PER_IP",
        "HTTP_TIMEOUT",
        "HTTP_REQUEST_TIMEOUT",
        "WEBHOOK_ALLOWED_CIDRS",
        "TRUSTED_PROXIES",
        "OPS_LISTEN_ADDR",
        "OPS_PORT",
        "DB_POOL_MAX",
        "DB_POOL_MIN",
        "DB_POOL_TIMEOUT",
        "DB_POOL_RECYCLE",
        "DB_POOL_IDLE_TIMEOUT",
        "DB_POOL_PRE_PING",
        "DB_CONNECT_TIMEOUT",
        "DB_STATEMENT_TIMEOUT",
        "DB_SLOW_QUERY_MS",
        "DB_PREPARED_STATEMENTS",
        "DB_INIT_RETRIES",
        "DB_INIT_RETRY_DELAY",
        "DRAIN_SECONDS",
        "MIGRATE_ON_START",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "LOG_DB_LEVEL",
        "LOG_RETENTION_DAYS",
        "AUDIT_RETENTION_DAYS",
        "DEDUP_RETENTION_HOURS",
        "OUTBOX_RETENTION_DAYS",
        "OUTBOX_MAX_ATTEMPTS",
        "TELEGRAM_GLOBAL_RPS",
        "TELEGRAM_API_TIMEOUT",
        "MIGRATE_DATABASE_URL",
        "DATABASE_PASSWORD_FILE",
        "MIGRATE_BACKUP_DIR",
        "ADOPT_TIMEZONE",
        "CSAT",
        "FIRST_RESPONSE_SLA",
        "AUTO_CLOSE_SOLVED_AFTER",
        "BUSINESS_HOURS",
        "DEFAULT_LANGUAGE",
        "LOCALE_DIR",
        "STAFF_MODE",
        "TELEGRAM_GROUP_RPM",
        "SEARCH_LANGUAGE",
    };

    assert_int_equal(config_vars_count, sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < config_vars_count; i++) {
        assert_string_equal(config_vars[i].name, names[i]);
        assert_non_null(config_vars[i].allowed);
        assert_true(strlen(config_vars[i].allowed) > 5);
        bool secret = strcmp(names[i], "TELEGRAM_BOT_TOKEN") == 0 ||
                      strcmp(names[i], "WEBHOOK_SECRET") == 0 ||
                      strcmp(names[i], "METRICS_TOKEN") == 0;
        assert_int_equal(config_vars[i].secret, secret);
    }
    assert_null(find_var("DATABASE_URL")->default_value);
    assert_null(find_var("TELEGRAM_BOT_TOKEN")->default_value);
    assert_string_equal(find_var("PORT")->default_value, "8080");
    assert_string_equal(find_var("DB_POOL_RECYCLE")->default_value, "1800");
    assert_string_equal(find_var("LOG_DB_LEVEL")->default_value, "warn");
    assert_string_equal(find_var("PORT")->allowed, "integer 0..65535 (0 = any free port)");
    assert_string_equal(find_var("DB_POOL_TIMEOUT")->allowed,
                        "seconds (decimals allowed) 0.001..3600");
}

static void test_defaults(void **state)
{
    struct config cfg;

    set_var("DATABASE_URL", GOOD_DB);
    load_ok(NULL, &cfg);

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = cpus > 0 ? (int)(2 * cpus) : 2;
    if (workers > 1024)
        workers = 1024;

    assert_string_equal(cfg.database_url, GOOD_DB);
    assert_null(cfg.telegram_bot_token);
    assert_string_equal(cfg.telegram_api_url, "https://api.telegram.org");
    assert_string_equal(cfg.webhook_path, "/webhook");
    assert_null(cfg.webhook_secret);
    assert_string_equal(cfg.listen_addr, "0.0.0.0");
    assert_int_equal(cfg.port, 8080);
    assert_null(cfg.tls_cert_file);
    assert_null(cfg.tls_key_file);
    assert_null(cfg.admin_ids);
    assert_int_equal(cfg.n_admin_ids, 0);
    assert_false(cfg.has_admin_chat_id);
    assert_int_equal(cfg.workers, workers);
    assert_int_equal(cfg.queue_capacity, 1024);
    assert_int_equal(cfg.max_body_bytes, 1048576);
    assert_int_equal(cfg.http_max_connections, 1024);
    assert_int_equal(cfg.http_max_per_ip, 256);
    assert_int_equal(cfg.http_timeout_s, 30);
    assert_int_equal(cfg.db_pool_max, 100);
    assert_int_equal(cfg.db_pool_min, 0);
    assert_int_equal(cfg.db_pool_timeout_ms, 30000);
    assert_int_equal(cfg.db_pool_recycle_ms, 1800000);
    assert_int_equal(cfg.db_pool_idle_timeout_ms, 600000);
    assert_true(cfg.db_pool_pre_ping);
    assert_int_equal(cfg.db_connect_timeout_s, 5);
    assert_int_equal(cfg.db_statement_timeout_ms, 5000);
    assert_int_equal(cfg.db_slow_query_ms, 200);
    assert_int_equal(cfg.db_init_retries, 3);
    assert_int_equal(cfg.db_init_retry_delay_ms, 5000);
    assert_true(cfg.migrate_on_start);
    assert_false(cfg.webhook_insecure);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    assert_int_equal(cfg.log_db_level, LOG_WARN);
    assert_int_equal(cfg.log_retention_days, 30);
    assert_int_equal(cfg.outbox_max_attempts, 10);
    assert_int_equal(cfg.telegram_global_rps, 30);
    assert_int_equal(cfg.telegram_api_timeout_ms, 10000);
    assert_false(is_admin(&cfg, 1));

    config_free(&cfg);
    assert_null(cfg.database_url);
    config_free(NULL);
}

static void test_parsed_values(void **state)
{
    struct config cfg;

    set_var("DATABASE_URL", GOOD_DB);
    set_var("TELEGRAM_BOT_TOKEN", GOOD_TOKEN);
    set_var("TELEGRAM_API_URL", "http://127.0.0.1:8081/fake//");
    set_var("WEBHOOK_PATH", "/tg/hook");
    set_var("WEBHOOK_SECRET", "s3cret_-X");
    set_var("LISTEN_ADDR", "::1");
    set_var("PORT", "0");
    set_var("ADMIN_CHAT_ID", "-1001234567890");
    set_var("WORKERS", "7");
    set_var("MAX_BODY_BYTES", "67108864");
    set_var("DB_POOL_MAX", "10");
    set_var("DB_POOL_MIN", "10");
    set_var("DB_POOL_TIMEOUT", "0.25");
    set_var("DB_POOL_RECYCLE", "0");
    set_var("DB_POOL_IDLE_TIMEOUT", "1.5");
    set_var("DB_POOL_PRE_PING", "off");
    set_var("DB_INIT_RETRY_DELAY", "0.001");
    set_var("DB_STATEMENT_TIMEOUT", "86400000");
    set_var("MIGRATE_ON_START", "no");
    set_var("LOG_LEVEL", "DEBUG");
    set_var("LOG_FORMAT", "text");
    set_var("LOG_DB_LEVEL", "off");
    load_ok(NULL, &cfg);

    assert_string_equal(cfg.telegram_bot_token, GOOD_TOKEN);
    assert_string_equal(cfg.telegram_api_url, "http://127.0.0.1:8081/fake");
    assert_string_equal(cfg.webhook_path, "/tg/hook");
    assert_string_equal(cfg.webhook_secret, "s3cret_-X");
    assert_string_equal(cfg.listen_addr, "::1");
    assert_int_equal(cfg.port, 0);
    assert_true(cfg.has_admin_chat_id);
    assert_true(cfg.admin_chat_id == INT64_C(-1001234567890));
    assert_int_equal(cfg.workers, 7);
    assert_int_equal(cfg.max_body_bytes, 67108864);
    assert_int_equal(cfg.db_pool_max, 10);
    assert_int_equal(cfg.db_pool_min, 10);
    assert_int_equal(cfg.db_pool_timeout_ms, 250);
    assert_int_equal(cfg.db_pool_recycle_ms, 0);
    assert_int_equal(cfg.db_pool_idle_timeout_ms, 1500);
    assert_false(cfg.db_pool_pre_ping);
    assert_int_equal(cfg.db_init_retry_delay_ms, 1);
    assert_int_equal(cfg.db_statement_timeout_ms, 86400000);
    assert_false(cfg.migrate_on_start);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(cfg.log_db_level, LOG_OFF);
    config_free(&cfg);
}

/*
 * Good and bad values of every variable. want: NULL for a good value; for a
 * bad one, a text the single error line must contain ("" = the variable's
 * allowed text).
 */
struct row {
    const char *name;
    const char *value;
    const char *want;
    const char *also_name; /* another variable the row needs, or NULL */
    const char *also_value;
};

#define GOOD(n, v)             \
    {                          \
        n, v, NULL, NULL, NULL \
    }
#define BAD(n, v)            \
    {                        \
        n, v, "", NULL, NULL \
    }
#define BADW(n, v, w)       \
    {                       \
        n, v, w, NULL, NULL \
    }

/* 255 and 256 characters */
#define A255                                                                                \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A256 A255 "a"

static const struct row rows[] = {
    GOOD("DATABASE_URL", "postgresql://tgdesk:pw@localhost:5432/tgdesk?sslmode=require"),
    GOOD("DATABASE_URL", "postgres://localhost"),
    GOOD("DATABASE_URL", "host=/tmp dbname=tgdesk user=tgdesk"),
    GOOD("DATABASE_URL", "dbname='my db' password='a b'"),
    BADW("DATABASE_URL", "nonsense", "missing \"=\" after \"nonsense\""),
    BADW("DATABASE_URL", "host=localhost bogus=1", "invalid connection option \"bogus\""),
    BAD("DATABASE_URL", "postgresql://u@[::1/db"),
    BAD("DATABASE_URL", "postgresql://h/db?nosuchoption=1"),

    GOOD("TELEGRAM_BOT_TOKEN", GOOD_TOKEN),
    GOOD("TELEGRAM_BOT_TOKEN", "1:abcdefghijklmnopqrst"),
    BAD("TELEGRAM_BOT_TOKEN", "1:abcdefghijklmnopqrs"),
    BAD("TELEGRAM_BOT_TOKEN", "123456789"),
    BAD("TELEGRAM_BOT_TOKEN", ":abcdefghijklmnopqrstuv"),
    BAD("TELEGRAM_BOT_TOKEN", "12a:abcdefghijklmnopqrstuv"),
    BAD("TELEGRAM_BOT_TOKEN", "123:abcdefghijklmnopqrst!"),
    BAD("TELEGRAM_BOT_TOKEN", "123:abcdefghijklmnopqrstu v"),

    GOOD("TELEGRAM_API_URL", "http://127.0.0.1:8081"),
    GOOD("TELEGRAM_API_URL", "https://api.telegram.org/"),
    BAD("TELEGRAM_API_URL", "ftp://api.telegram.org"),
    BAD("TELEGRAM_API_URL", "api.telegram.org"),
    BAD("TELEGRAM_API_URL", "https://api telegram.org"),
    BAD("TELEGRAM_API_URL", "https://"),
    BAD("TELEGRAM_API_URL", "https:///"),

    GOOD("WEBHOOK_PATH", "/"),
    GOOD("WEBHOOK_PATH", "/tg/hook-1_x.y~z"),
    GOOD("WEBHOOK_PATH", "/" A255),
    BAD("WEBHOOK_PATH", "webhook"),
    BAD("WEBHOOK_PATH", "/a b"),
    BAD("WEBHOOK_PATH", "/a?b"),
    BAD("WEBHOOK_PATH", "/a#b"),
    BAD("WEBHOOK_PATH", "/a\tb"),
    BAD("WEBHOOK_PATH", "/caf\xc3\xa9"),
    BAD("WEBHOOK_PATH", "/" A256),

    GOOD("WEBHOOK_SECRET", "a"),
    GOOD("WEBHOOK_SECRET", "Az09_-"),
    GOOD("WEBHOOK_SECRET", A256),
    BAD("WEBHOOK_SECRET", A256 "b"),
    BAD("WEBHOOK_SECRET", "has space"),
    BAD("WEBHOOK_SECRET", "dot.ted"),
    BAD("WEBHOOK_SECRET", "sl/ash"),
    GOOD("METRICS_TOKEN", "prom_scrape-Token1"),
    BAD("METRICS_TOKEN", "has space"),
    BAD("METRICS_TOKEN", A256 "b"),

    GOOD("LISTEN_ADDR", "127.0.0.1"),
    GOOD("LISTEN_ADDR", "::"),
    GOOD("LISTEN_ADDR", "fe80::1"),
    BAD("LISTEN_ADDR", "localhost"),
    BAD("LISTEN_ADDR", "1.2.3"),
    BAD("LISTEN_ADDR", "256.1.1.1"),
    BAD("LISTEN_ADDR", "[::1]"),

    GOOD("PORT", "0"),
    GOOD("PORT", "443"),
    GOOD("PORT", "65535"),
    BAD("PORT", "-1"),
    BAD("PORT", "65536"),
    BAD("PORT", "80x"),
    BAD("PORT", "0x50"),
    BAD("PORT", " 80"),

    {"TLS_CERT_FILE", "$DIR/cert.pem", NULL, "TLS_KEY_FILE", "$DIR/key.pem"},
    {"TLS_CERT_FILE", "$DIR/missing.pem", "No such file or directory", "TLS_KEY_FILE",
     "$DIR/key.pem"},
    {"TLS_CERT_FILE", "$DIR", "not a regular file", "TLS_KEY_FILE", "$DIR/key.pem"},
    {"TLS_KEY_FILE", "$DIR/key.pem", NULL, "TLS_CERT_FILE", "$DIR/cert.pem"},
    {"TLS_KEY_FILE", "$DIR/missing.pem", "No such file or directory", "TLS_CERT_FILE",
     "$DIR/cert.pem"},
    {"TLS_KEY_FILE", "$DIR/", "not a regular file", "TLS_CERT_FILE", "$DIR/cert.pem"},

    GOOD("ADMIN_IDS", "1"),
    GOOD("ADMIN_IDS", "1, 2 ,3"),
    GOOD("ADMIN_IDS", "9223372036854775807"),
    BAD("ADMIN_IDS", "0"),
    BADW("ADMIN_IDS", "5,-5", "\"-5\" is not a positive 64-bit integer"),
    BAD("ADMIN_IDS", "1,,2"),
    BAD("ADMIN_IDS", "1,"),
    BAD("ADMIN_IDS", "abc"),
    BAD("ADMIN_IDS", "9223372036854775808"),
    BAD("ADMIN_IDS", "1;2"),

    GOOD("SUPERVISOR_IDS", "7, 8"),
    BADW("SUPERVISOR_IDS", "7,x", "\"x\" is not a positive 64-bit integer"),
    BAD("SUPERVISOR_IDS", "0"),

    GOOD("ADMIN_CHAT_ID", "-1001234567890"),
    GOOD("ADMIN_CHAT_ID", "42"),
    GOOD("ADMIN_CHAT_ID", "-9223372036854775808"),
    BAD("ADMIN_CHAT_ID", "0"),
    BAD("ADMIN_CHAT_ID", "x"),
    BAD("ADMIN_CHAT_ID", "9223372036854775808"),
    BAD("ADMIN_CHAT_ID", "-"),

    GOOD("WORKERS", "1"),
    GOOD("WORKERS", "1024"),
    BAD("WORKERS", "0"),
    BAD("WORKERS", "1025"),
    BAD("WORKERS", "two"),

    GOOD("QUEUE_CAPACITY", "1"),
    GOOD("QUEUE_CAPACITY", "1000000"),
    BAD("QUEUE_CAPACITY", "0"),
    BAD("QUEUE_CAPACITY", "1000001"),

    GOOD("MAX_BODY_BYTES", "1024"),
    GOOD("MAX_BODY_BYTES", "67108864"),
    BAD("MAX_BODY_BYTES", "1023"),
    BAD("MAX_BODY_BYTES", "67108865"),
    BAD("MAX_BODY_BYTES", "1M"),

    GOOD("HTTP_MAX_CONNECTIONS", "1"),
    GOOD("HTTP_MAX_CONNECTIONS", "65536"),
    BAD("HTTP_MAX_CONNECTIONS", "0"),
    BAD("HTTP_MAX_CONNECTIONS", "65537"),

    GOOD("HTTP_MAX_PER_IP", "1"),
    GOOD("HTTP_MAX_PER_IP", "65536"),
    BAD("HTTP_MAX_PER_IP", "0"),
    BAD("HTTP_MAX_PER_IP", "65537"),

    GOOD("HTTP_TIMEOUT", "1"),
    GOOD("HTTP_TIMEOUT", "3600"),
    BAD("HTTP_TIMEOUT", "0"),
    BAD("HTTP_TIMEOUT", "3601"),
    BAD("HTTP_TIMEOUT", "1.5"),

    GOOD("HTTP_REQUEST_TIMEOUT", "1"),
    GOOD("HTTP_REQUEST_TIMEOUT", "3600"),
    BAD("HTTP_REQUEST_TIMEOUT", "0"),
    BAD("HTTP_REQUEST_TIMEOUT", "3601"),

    GOOD("WEBHOOK_ALLOWED_CIDRS", "149.154.160.0/20, 91.108.4.0/22"),
    GOOD("WEBHOOK_ALLOWED_CIDRS", "127.0.0.1,2001:db8::/32"),
    BADW("WEBHOOK_ALLOWED_CIDRS", "149.154.160.0/33", "prefix length must be 0..32"),
    BADW("WEBHOOK_ALLOWED_CIDRS", "149.154.160.1/20", "bits set past its prefix"),
    BADW("WEBHOOK_ALLOWED_CIDRS", "telegram.org", "not an IPv4 or IPv6 address"),
    BAD("WEBHOOK_ALLOWED_CIDRS", "10.0.0.0/8,"),

    GOOD("TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8"),
    BAD("TRUSTED_PROXIES", "10.0.0.0/8;10.1.0.0/16"),

    GOOD("OPS_LISTEN_ADDR", "0.0.0.0"),
    GOOD("OPS_LISTEN_ADDR", "::1"),
    BAD("OPS_LISTEN_ADDR", "localhost"),

    GOOD("OPS_PORT", "1"),
    GOOD("OPS_PORT", "65535"),
    BAD("OPS_PORT", "0"),
    BAD("OPS_PORT", "65536"),

    GOOD("DB_POOL_MAX", "1"),
    GOOD("DB_POOL_MAX", "10000"),
    BAD("DB_POOL_MAX", "0"),
    BAD("DB_POOL_MAX", "10001"),

    GOOD("DB_POOL_MIN", "0"),
    GOOD("DB_POOL_MIN", "100"),
    {"DB_POOL_MIN", "10000", NULL, "DB_POOL_MAX", "10000"},
    BAD("DB_POOL_MIN", "-1"),
    BAD("DB_POOL_MIN", "10001"),
    BADW("DB_POOL_MIN", "101", "must be <= DB_POOL_MAX=100"),
    {"DB_POOL_MIN", "6", "must be <= DB_POOL_MAX=5", "DB_POOL_MAX", "5"},

    GOOD("DB_POOL_TIMEOUT", "0.001"),
    GOOD("DB_POOL_TIMEOUT", "2.5"),
    GOOD("DB_POOL_TIMEOUT", "3600"),
    BAD("DB_POOL_TIMEOUT", "0"),
    BAD("DB_POOL_TIMEOUT", "3600.001"),
    BAD("DB_POOL_TIMEOUT", "1.2345"),
    BAD("DB_POOL_TIMEOUT", "-1"),
    BAD("DB_POOL_TIMEOUT", "1e3"),
    BAD("DB_POOL_TIMEOUT", "30s"),

    GOOD("DB_POOL_RECYCLE", "0"),
    GOOD("DB_POOL_RECYCLE", "604800"),
    BAD("DB_POOL_RECYCLE", "604800.001"),
    BAD("DB_POOL_RECYCLE", "-1"),

    GOOD("DB_POOL_IDLE_TIMEOUT", "0"),
    GOOD("DB_POOL_IDLE_TIMEOUT", "0.5"),
    GOOD("DB_POOL_IDLE_TIMEOUT", "604800"),
    BAD("DB_POOL_IDLE_TIMEOUT", "604801"),
    BAD("DB_POOL_IDLE_TIMEOUT", "x"),

    GOOD("WEBHOOK_INSECURE", "true"),
    GOOD("WEBHOOK_INSECURE", "no"),
    BAD("WEBHOOK_INSECURE", "maybe"),

    GOOD("DB_POOL_PRE_PING", "true"),
    GOOD("DB_POOL_PRE_PING", "off"),
    GOOD("DB_POOL_PRE_PING", "YES"),
    BAD("DB_POOL_PRE_PING", "maybe"),
    GOOD("DB_PREPARED_STATEMENTS", "false"),
    BAD("DB_PREPARED_STATEMENTS", "sometimes"),
    BAD("DB_POOL_PRE_PING", "2"),

    GOOD("DB_CONNECT_TIMEOUT", "2"),
    GOOD("DB_CONNECT_TIMEOUT", "300"),
    BAD("DB_CONNECT_TIMEOUT", "1"),
    BAD("DB_CONNECT_TIMEOUT", "301"),
    BAD("DB_CONNECT_TIMEOUT", "2.5"),

    GOOD("DB_STATEMENT_TIMEOUT", "0"),
    GOOD("DB_STATEMENT_TIMEOUT", "86400000"),
    BAD("DB_STATEMENT_TIMEOUT", "-1"),
    BAD("DB_STATEMENT_TIMEOUT", "86400001"),

    GOOD("DB_SLOW_QUERY_MS", "0"),
    GOOD("DB_SLOW_QUERY_MS", "3600000"),
    BAD("DB_SLOW_QUERY_MS", "-1"),
    BAD("DB_SLOW_QUERY_MS", "3600001"),

    GOOD("DB_INIT_RETRIES", "1"),
    GOOD("DB_INIT_RETRIES", "1000"),
    BAD("DB_INIT_RETRIES", "0"),
    BAD("DB_INIT_RETRIES", "1001"),

    GOOD("DB_INIT_RETRY_DELAY", "0"),
    GOOD("DB_INIT_RETRY_DELAY", "0.25"),
    GOOD("DB_INIT_RETRY_DELAY", "3600"),
    BAD("DB_INIT_RETRY_DELAY", "3600.5"),
    BAD("DB_INIT_RETRY_DELAY", "-1"),
    BAD("DB_INIT_RETRY_DELAY", "x"),

    GOOD("DRAIN_SECONDS", "0"),
    GOOD("DRAIN_SECONDS", "2.5"),
    BAD("DRAIN_SECONDS", "-1"),
    BAD("DRAIN_SECONDS", "301"),
    GOOD("MIGRATE_ON_START", "false"),
    GOOD("MIGRATE_ON_START", "on"),
    BAD("MIGRATE_ON_START", "2"),
    BAD("MIGRATE_ON_START", "ja"),

    GOOD("LOG_LEVEL", "debug"),
    GOOD("LOG_LEVEL", "WARNING"),
    GOOD("LOG_LEVEL", "error"),
    BAD("LOG_LEVEL", "off"),
    BAD("LOG_LEVEL", "trace"),

    GOOD("LOG_FORMAT", "text"),
    GOOD("LOG_FORMAT", "JSON"),
    BAD("LOG_FORMAT", "xml"),
    BAD("LOG_FORMAT", "logfmt"),

    GOOD("LOG_DB_LEVEL", "off"),
    GOOD("LOG_DB_LEVEL", "debug"),
    BAD("LOG_DB_LEVEL", "verbose"),
    BAD("LOG_DB_LEVEL", "none"),

    GOOD("LOG_RETENTION_DAYS", "0"),
    GOOD("LOG_RETENTION_DAYS", "36500"),
    BAD("LOG_RETENTION_DAYS", "-1"),
    BAD("LOG_RETENTION_DAYS", "36501"),
    GOOD("AUDIT_RETENTION_DAYS", "0"),
    GOOD("AUDIT_RETENTION_DAYS", "3650"),
    BAD("AUDIT_RETENTION_DAYS", "-1"),
    BAD("AUDIT_RETENTION_DAYS", "36501"),
    GOOD("DEDUP_RETENTION_HOURS", "25"),
    GOOD("DEDUP_RETENTION_HOURS", "87600"),
    BAD("DEDUP_RETENTION_HOURS", "24"),
    BAD("DEDUP_RETENTION_HOURS", "1.5"),
    GOOD("OUTBOX_RETENTION_DAYS", "0"),
    GOOD("OUTBOX_RETENTION_DAYS", "36500"),
    BAD("OUTBOX_RETENTION_DAYS", "-1"),
    BAD("OUTBOX_RETENTION_DAYS", "x"),

    GOOD("OUTBOX_MAX_ATTEMPTS", "1"),
    GOOD("OUTBOX_MAX_ATTEMPTS", "1000"),
    BAD("OUTBOX_MAX_ATTEMPTS", "0"),
    BAD("OUTBOX_MAX_ATTEMPTS", "1001"),

    GOOD("TELEGRAM_GLOBAL_RPS", "1"),
    GOOD("TELEGRAM_GLOBAL_RPS", "100000"),
    BAD("TELEGRAM_GLOBAL_RPS", "0"),
    BAD("TELEGRAM_GLOBAL_RPS", "100001"),
    GOOD("TELEGRAM_API_TIMEOUT", "0.1"),
    GOOD("TELEGRAM_API_TIMEOUT", "300"),
    BAD("TELEGRAM_API_TIMEOUT", "0.05"),
    BAD("TELEGRAM_API_TIMEOUT", "301"),
    BAD("TELEGRAM_API_TIMEOUT", "ten"),

    GOOD("MIGRATE_DATABASE_URL", "postgresql://owner:pw@localhost/tgdesk"),
    BAD("MIGRATE_DATABASE_URL", "nonsense"),
    GOOD("DATABASE_PASSWORD_FILE", "/etc/passwd"),
    BAD("DATABASE_PASSWORD_FILE", "/nonexistent/password"),
    BAD("DATABASE_PASSWORD_FILE", "/tmp"),
    GOOD("MIGRATE_BACKUP_DIR", "/tmp"),
    BAD("MIGRATE_BACKUP_DIR", "/nonexistent/backups"),
    BAD("MIGRATE_BACKUP_DIR", "/etc/passwd"),
    GOOD("ADOPT_TIMEZONE", "UTC"),
    GOOD("ADOPT_TIMEZONE", "Europe/Berlin"),
    GOOD("ADOPT_TIMEZONE", "Etc/GMT+3"),
    BAD("ADOPT_TIMEZONE", "Europe/Berlin'; DROP TABLE x"),
    BAD("ADOPT_TIMEZONE", A255),

    GOOD("CSAT", "off"),
    GOOD("CSAT", "on"),
    BAD("CSAT", "maybe"),

    GOOD("FIRST_RESPONSE_SLA", "5s"),
    GOOD("FIRST_RESPONSE_SLA", "15m"),
    GOOD("FIRST_RESPONSE_SLA", "30d"),
    BAD("FIRST_RESPONSE_SLA", "4s"),
    BAD("FIRST_RESPONSE_SLA", "31d"),
    BAD("FIRST_RESPONSE_SLA", "15"),
    BAD("FIRST_RESPONSE_SLA", "m"),
    BAD("FIRST_RESPONSE_SLA", "-5m"),
    BAD("FIRST_RESPONSE_SLA", "1.5h"),
    BAD("FIRST_RESPONSE_SLA", "10w"),

    GOOD("AUTO_CLOSE_SOLVED_AFTER", "72h"),
    GOOD("AUTO_CLOSE_SOLVED_AFTER", "365d"),
    BAD("AUTO_CLOSE_SOLVED_AFTER", "366d"),
    BAD("AUTO_CLOSE_SOLVED_AFTER", "0s"),

    GOOD("BUSINESS_HOURS", "Mon-Fri 09:00-18:00 Europe/Berlin"),
    GOOD("BUSINESS_HOURS", "sat-mon,Wed 00:00-24:00 UTC"),
    GOOD("BUSINESS_HOURS", "Sun 08:30-12:00 America/New_York"),
    BADW("BUSINESS_HOURS", "Mon-Fry 09:00-18:00 UTC", "days are Mon"),
    BADW("BUSINESS_HOURS", "Mon-Fri 9:00-18:00 UTC", "hours are HH:MM-HH:MM"),
    BADW("BUSINESS_HOURS", "Mon-Fri 18:00-09:00 UTC", "opening must come before closing"),
    BADW("BUSINESS_HOURS", "Mon-Fri 09:00-24:30 UTC", "hours are HH:MM-HH:MM"),
    BADW("BUSINESS_HOURS", "Mon-Fri 09:00-18:00 Mars/Olympus", "no time zone"),
    BADW("BUSINESS_HOURS", "Mon-Fri 09:00-18:00 ../../etc/passwd", "no time zone"),
    BAD("BUSINESS_HOURS", "Mon-Fri 09:00-18:00"),

    GOOD("DEFAULT_LANGUAGE", "ru"),
    GOOD("DEFAULT_LANGUAGE", "pt-BR"),
    GOOD("DEFAULT_LANGUAGE", "sr_RS@latin"),
    BAD("DEFAULT_LANGUAGE", "r"),
    BAD("DEFAULT_LANGUAGE", "russian"),
    BAD("DEFAULT_LANGUAGE", "../ru"),
    BAD("DEFAULT_LANGUAGE", "ru/LC_MESSAGES"),
    BAD("DEFAULT_LANGUAGE", "ru RU"),

    GOOD("LOCALE_DIR", "/"),
    BADW("LOCALE_DIR", "/nonexistent/locale", "No such file or directory"),
    BAD("LOCALE_DIR", "/etc/passwd"),
    GOOD("STAFF_MODE", "flat"),
    {"STAFF_MODE", "topics", NULL, "ADMIN_CHAT_ID", "-1001234567890"},
    {"STAFF_MODE", "Topics", NULL, "ADMIN_CHAT_ID", "-1000000000000"},
    BAD("STAFF_MODE", "forum"),
    BADW("STAFF_MODE", "topics", "needs ADMIN_CHAT_ID of a supergroup with topics"),
    {"STAFF_MODE", "topics", "needs ADMIN_CHAT_ID of a supergroup", "ADMIN_CHAT_ID", "-4567"},

    GOOD("TELEGRAM_GROUP_RPM", "1"),
    GOOD("TELEGRAM_GROUP_RPM", "100000"),
    BAD("TELEGRAM_GROUP_RPM", "0"),
    BAD("TELEGRAM_GROUP_RPM", "100001"),
    GOOD("SEARCH_LANGUAGE", "simple"),
    GOOD("SEARCH_LANGUAGE", "english"),
    GOOD("SEARCH_LANGUAGE", "my_config_2"),
    BAD("SEARCH_LANGUAGE", "English"),
    BAD("SEARCH_LANGUAGE", "2english"),
    BAD("SEARCH_LANGUAGE", "english; DROP TABLE x"),
    BAD("SEARCH_LANGUAGE", "pg_catalog.english"),
    BAD("SEARCH_LANGUAGE", A255),
};

static void check_row(size_t idx, const struct row *r)
{
    const struct config_var *var = find_var(r->name);
    struct config cfg;
    char *err = NULL;

    clear_env();
    if (strcmp(r->name, "DATABASE_URL") != 0)
        set_var("DATABASE_URL", GOOD_DB);
    if (r->also_name)
        set_var(r->also_name, r->also_value);
    set_var(r->name, r->value);

    int rc = load(NULL, &cfg, &err);
    if (!r->want) {
        if (rc != 0 || *err)
            fail_msg("row %zu: %s=\"%s\" refused (%d): %s", idx, r->name, r->value, rc, err);
        config_free(&cfg);
        free(err);
        return;
    }

    if (rc == 0) {
        config_free(&cfg);
        fail_msg("row %zu: %s=\"%s\" accepted", idx, r->name, r->value);
    }
    assert_int_equal(rc, -EINVAL);
    if (count_lines(err) != 1)
        fail_msg("row %zu: want one line, got \"%s\"", idx, err);

    char prefix[64];
    snprintf(prefix, sizeof(prefix), "config: %s=\"", r->name);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("row %zu: \"%s\" does not start with \"%s\"", idx, err, prefix);

    char want[512];
    if (*r->want)
        snprintf(want, sizeof(want), "%s", r->want);
    else
        snprintf(want, sizeof(want), "must be %s", var->allowed);
    assert_contains(err, want);

    if (var->secret) {
        snprintf(prefix, sizeof(prefix), "config: %s=\"***\": ", r->name);
        assert_int_equal(strncmp(err, prefix, strlen(prefix)), 0);
        assert_lacks(err, r->value);
    }
    free(err);
}

static void test_every_variable(void **state)
{
    size_t n_rows = sizeof(rows) / sizeof(rows[0]);

    /* The table itself must cover every variable both ways. */
    for (size_t i = 0; i < config_vars_count; i++) {
        bool good = false, bad = false;
        for (size_t j = 0; j < n_rows; j++) {
            if (strcmp(rows[j].name, config_vars[i].name) != 0)
                continue;
            good = good || !rows[j].want;
            bad = bad || rows[j].want;
        }
        if (!good || !bad)
            fail_msg("%s lacks a good or a bad row", config_vars[i].name);
    }

    for (size_t j = 0; j < n_rows; j++)
        check_row(j, &rows[j]);
}

/* ---- exact messages, several errors, cross-checks ------------------------ */

static void test_exact_lines(void **state)
{
    char *err;

    err = load_bad(NULL);
    assert_string_equal(
        err,
        "config: DATABASE_URL is required: libpq URI (postgresql://...) or key=value conninfo\n");
    free(err);

    set_var("DATABASE_URL", GOOD_DB);
    set_var("PORT", "70000");
    err = load_bad(NULL);
    assert_string_equal(err,
                        "config: PORT=\"70000\": must be integer 0..65535 (0 = any free port)\n");
    free(err);

    clear_env();
    set_var("DATABASE_URL", GOOD_DB);
    set_var("DB_POOL_MAX", "4");
    set_var("DB_POOL_MIN", "5");
    err = load_bad(NULL);
    assert_string_equal(err, "config: DB_POOL_MIN=\"5\": must be <= DB_POOL_MAX=4\n");
    free(err);

    /* A control character in a value cannot break the one-line rule. */
    clear_env();
    set_var("DATABASE_URL", GOOD_DB);
    set_var("LOG_LEVEL", "in\nfo\"");
    err = load_bad(NULL);
    assert_string_equal(err,
                        "config: LOG_LEVEL=\"in\\nfo\\\"\": must be debug, info, warn or error\n");
    free(err);
}

static void test_empty_is_unset(void **state)
{
    struct config cfg;
    char *err;

    set_var("DATABASE_URL", "");
    err = load_bad(NULL);
    assert_contains(err, "DATABASE_URL is required");
    free(err);

    set_var("DATABASE_URL", GOOD_DB);
    set_var("PORT", "");
    set_var("LOG_LEVEL", "");
    set_var("TLS_CERT_FILE", "");
    load_ok(NULL, &cfg);
    assert_int_equal(cfg.port, 8080);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_null(cfg.tls_cert_file);
    config_free(&cfg);
}

static void test_multiple_errors(void **state)
{
    set_var("PORT", "x");
    set_var("WORKERS", "0");
    set_var("LOG_LEVEL", "loud");
    set_var("TELEGRAM_BOT_TOKEN", "nope");

    char *err = load_bad(NULL);
    assert_int_equal(count_lines(err), 5);
    /* One line each, in documentation order. */
    const char *db = strstr(err, "config: DATABASE_URL is required");
    const char *token = strstr(err, "config: TELEGRAM_BOT_TOKEN=\"***\": must be");
    const char *port = strstr(err, "config: PORT=\"x\": must be");
    const char *workers = strstr(err, "config: WORKERS=\"0\": must be integer 1..1024\n");
    const char *level = strstr(err, "config: LOG_LEVEL=\"loud\": must be");
    assert_true(db && token && port && workers && level);
    assert_true(db < token && token < port && port < workers && workers < level);
    free(err);

    /* err may be NULL: the result is the same, nothing is written. */
    struct config cfg;
    assert_int_equal(config_load(NULL, NULL, &cfg), -EINVAL);
}

static void test_failure_leaves_ret_untouched(void **state)
{
    struct config cfg, before;
    char *err;

    memset(&cfg, 0xa5, sizeof(cfg));
    memcpy(&before, &cfg, sizeof(cfg));
    set_var("DATABASE_URL", GOOD_DB);
    set_var("TELEGRAM_API_URL", "http://x");
    set_var("ADMIN_IDS", "1,2,3");
    set_var("PORT", "-2");
    assert_int_equal(load(NULL, &cfg, &err), -EINVAL);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    free(err);
}

static void test_tls_pairing(void **state)
{
    struct config cfg;
    char *err;

    set_var("DATABASE_URL", GOOD_DB);
    set_var("TLS_CERT_FILE", "$DIR/cert.pem");
    err = load_bad(NULL);
    assert_string_equal(
        err, "config: TLS_KEY_FILE: must be set when TLS_CERT_FILE is set (HTTPS needs both)\n");
    free(err);

    clear_env();
    set_var("DATABASE_URL", GOOD_DB);
    set_var("TLS_KEY_FILE", "$DIR/key.pem");
    err = load_bad(NULL);
    assert_string_equal(
        err, "config: TLS_CERT_FILE: must be set when TLS_KEY_FILE is set (HTTPS needs both)\n");
    free(err);

    /* A missing file and the pairing are both reported. */
    clear_env();
    set_var("DATABASE_URL", GOOD_DB);
    set_var("TLS_KEY_FILE", "$DIR/nokey.pem");
    err = load_bad(NULL);
    assert_int_equal(count_lines(err), 2);
    assert_contains(err, "nokey.pem\": must be readable private key file");
    assert_contains(err, "config: TLS_CERT_FILE: must be set when TLS_KEY_FILE is set");
    free(err);

    set_var("TLS_KEY_FILE", "$DIR/key.pem");
    set_var("TLS_CERT_FILE", "$DIR/cert.pem");
    load_ok(NULL, &cfg);
    char *want = path_in_tmp("cert.pem");
    assert_string_equal(cfg.tls_cert_file, want);
    free(want);
    want = path_in_tmp("key.pem");
    assert_string_equal(cfg.tls_key_file, want);
    free(want);
    config_free(&cfg);
}

static void test_admin_ids(void **state)
{
    struct config cfg;

    set_var("DATABASE_URL", GOOD_DB);
    set_var("ADMIN_IDS", "5000000000, 42 ,5000000000,7,4294967297,\t42");
    load_ok(NULL, &cfg);
    assert_int_equal(cfg.n_admin_ids, 4);
    assert_true(cfg.admin_ids[0] == 7);
    assert_true(cfg.admin_ids[1] == 42);
    assert_true(cfg.admin_ids[2] == INT64_C(4294967297));
    assert_true(cfg.admin_ids[3] == INT64_C(5000000000));
    assert_true(is_admin(&cfg, 7));
    assert_true(is_admin(&cfg, 42));
    assert_true(is_admin(&cfg, INT64_C(4294967297)));
    assert_true(is_admin(&cfg, INT64_C(5000000000)));
    assert_false(is_admin(&cfg, 1));         /* 4294967297 truncated to 32 bits */
    assert_false(is_admin(&cfg, 705032704)); /* 5000000000 truncated to 32 bits */
    assert_false(is_admin(&cfg, INT64_C(5000000001)));
    assert_false(is_admin(&cfg, -7));
    assert_false(is_admin(&cfg, 0));
    assert_false(is_admin(NULL, 7));
    assert_null(cfg.supervisor_ids);
    config_free(&cfg);

    /* SUPERVISOR_IDS is a list of its own, kept apart from ADMIN_IDS. */
    set_var("SUPERVISOR_IDS", "9, 3,9");
    load_ok(NULL, &cfg);
    assert_int_equal(cfg.n_supervisor_ids, 2);
    assert_true(cfg.supervisor_ids[0] == 3 && cfg.supervisor_ids[1] == 9);
    assert_int_equal(cfg.n_admin_ids, 4);
    config_free(&cfg);

    /* Exactly CONFIG_MAX_ADMINS ids are fine, one more is not. */
    char *list = calloc(CONFIG_MAX_ADMINS + 1, 24);
    assert_non_null(list);
    size_t len = 0;
    for (int64_t i = 1; i <= CONFIG_MAX_ADMINS; i++)
        len += (size_t)snprintf(list + len, 24, "%s%lld", i > 1 ? "," : "",
                                (long long)(INT64_C(10000000000) - i));
    set_var("ADMIN_IDS", list);
    load_ok(NULL, &cfg);
    assert_int_equal(cfg.n_admin_ids, CONFIG_MAX_ADMINS);
    assert_true(cfg.admin_ids[0] == INT64_C(10000000000) - CONFIG_MAX_ADMINS);
    assert_true(is_admin(&cfg, INT64_C(9999999999)));
    config_free(&cfg);

    snprintf(list + len, 24, ",1");
    set_var("ADMIN_IDS", list);
    char *err = load_bad(NULL);
    assert_int_equal(count_lines(err), 1);
    assert_contains(err, "at most 1024: 1025 ids given");
    assert_contains(err, "...\"");
    free(err);
    free(list);
}

/* ---- secrets ------------------------------------------------------------- */

static void test_mask_value(void **state)
{
    static const struct {
        const char *name, *value, *want;
    } cases[] = {
        {"TELEGRAM_BOT_TOKEN", GOOD_TOKEN, "***"},
        {"WEBHOOK_SECRET", "abc", "***"},
        {"PORT", "8080", "8080"},
        {"DATABASE_URL", "postgresql://u:s3cr3t@h:5432/db", "postgresql://u:***@h:5432/db"},
        {"DATABASE_URL", "postgres://:s3cr3t@h/db", "postgres://:***@h/db"},
        {"DATABASE_URL", "postgres://u:p@ss:w@h/db", "postgres://u:***@h/db"},
        {"DATABASE_URL", "postgres://u:pa/ss@h/db", "postgres://u:***@h/db"},
        {"DATABASE_URL", "postgresql://u@h/db", "postgresql://u@h/db"},
        {"DATABASE_URL", "postgresql://h/db", "postgresql://h/db"},
        {"DATABASE_URL", "postgresql://h/db?user=u&password=s3cr3t&sslmode=require",
         "postgresql://h/db?user=u&password=***&sslmode=require"},
        {"DATABASE_URL", "postgresql://u:s3cr3t@h/db?password=s3cr3t",
         "postgresql://u:***@h/db?password=***"},
        {"DATABASE_URL", "postgresql://h?pass%77ord=s3cr3t&Password=s3cr3t&passwordx=1",
         "postgresql://h?pass%77ord=***&Password=***&passwordx=1"},
        {"DATABASE_URL", "postgresql://[::1]:5432/db?user=a@b", "postgresql://[:***@b"},
        {"DATABASE_URL", "host=h password=s3cr3t dbname=d", "host=h password=*** dbname=d"},
        {"DATABASE_URL", "password=s3cr3t", "password=***"},
        {"DATABASE_URL", "host=h password='s3 cr3t' dbname=d", "host=h password=*** dbname=d"},
        {"DATABASE_URL", "host=h password = 's3\\'cr3t' dbname=d",
         "host=h password = *** dbname=d"},
        {"DATABASE_URL", "host=h password=s3\\ cr3t", "host=h password=***"},
        {"DATABASE_URL", "host=h PASSWORD='s3cr3t", "host=h PASSWORD=***"},
        {"DATABASE_URL", "host=h passwordx=1", "host=h passwordx=1"},
    };
    char buf[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_mask_value(cases[i].name, cases[i].value, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("mask %s=\"%s\": got \"%s\", want \"%s\"", cases[i].name, cases[i].value, buf,
                     cases[i].want);
    }

    /* Truncation keeps the string terminated and still hides the password. */
    assert_ptr_equal(config_mask_value("DATABASE_URL", "postgresql://u:s3cr3t@h", buf, 18), buf);
    assert_string_equal(buf, "postgresql://u:**");
    config_mask_value("PORT", NULL, buf, sizeof(buf));
    assert_string_equal(buf, "");
}

static void test_secrets_not_in_errors(void **state)
{
    static const struct {
        const char *name, *value, *secret, *shown;
    } cases[] = {
        {"TELEGRAM_BOT_TOKEN", "123456:short-secret-xyz", "short-secret", "=\"***\": must be"},
        {"TELEGRAM_BOT_TOKEN", "123456:" A256 "!", "123456", "=\"***\": must be"},
        {"WEBHOOK_SECRET", "has spaces s3cretword", "s3cretword", "=\"***\": must be"},
        /* libpq quotes the whole URI in this message */
        {"DATABASE_URL", "postgresql://alice:hunter2@[::1/db", "hunter2", "alice:***@"},
        {"DATABASE_URL", "postgresql://alice:hunter2@[::1]x/db", "hunter2", "alice:***@"},
        {"DATABASE_URL", "postgresql://alice:hun%zzter2@h/db", "zzter2",
         "password part is malformed"},
        {"DATABASE_URL", "postgresql://h/db?password=hunter2&bogus=1", "hunter2",
         "password=***&bogus=1"},
        {"DATABASE_URL", "host=h password=hunter2 bogus", "hunter2", "password=*** bogus"},
        {"DATABASE_URL", "host=h password='hunter 2' nokey", "hunter", "password=*** nokey"},
        {"DATABASE_URL", "password='hunter2", "hunter2", "password=***"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        clear_env();
        if (strcmp(cases[i].name, "DATABASE_URL") != 0)
            set_var("DATABASE_URL", GOOD_DB);
        set_var(cases[i].name, cases[i].value);
        char *err = load_bad(NULL);
        assert_int_equal(count_lines(err), 1);
        assert_lacks(err, cases[i].secret);
        assert_contains(err, cases[i].shown);
        free(err);
    }
}

/* ---- .env ---------------------------------------------------------------- */

static void test_dotenv_values(void **state)
{
    struct config cfg;
    char *path = write_tmp(".env", "# tgdesk settings\n"
                                   "\n"
                                   "   # indented comment\n"
                                   "DATABASE_URL=\"host=/tmp\\ndbname=a\\\"b "
                                   "application_name='x\\\\y'\"  # quoted\n"
                                   "export PORT=9001\n"
                                   "export\tQUEUE_CAPACITY = 77   # trailing comment\n"
                                   "WEBHOOK_PATH='/a\\nb'\n"
                                   "TELEGRAM_API_URL=http://h/#frag\n"
                                   "LOG_FORMAT=text\r\n"
                                   "LOG_LEVEL = 'debug' # single quotes\n"
                                   "WORKERS= # only a comment: unset\n"
                                   "OTHER_THING=1\n"
                                   "lowercase_key=ignored too\n"
                                   "export=1\n"
                                   "OUTBOX_MAX_ATTEMPTS=1\n"
                                   "OUTBOX_MAX_ATTEMPTS=3\n"
                                   "DB_SLOW_QUERY_MS=5\n"
                                   "DB_SLOW_QUERY_MS=\n"
                                   "ADMIN_IDS=\"1, 2\"");
    load_ok(path, &cfg);
    assert_string_equal(cfg.database_url, "host=/tmp\ndbname=a\"b application_name='x\\y'");
    assert_int_equal(cfg.port, 9001);
    assert_int_equal(cfg.queue_capacity, 77);
    assert_string_equal(cfg.webhook_path, "/a\\nb");
    assert_string_equal(cfg.telegram_api_url, "http://h/#frag");
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_true(cfg.workers >= 1);
    assert_int_equal(cfg.outbox_max_attempts, 3);
    assert_int_equal(cfg.db_slow_query_ms, 200);
    assert_int_equal(cfg.n_admin_ids, 2);
    config_free(&cfg);
    free(path);
}

static void test_dotenv_precedence(void **state)
{
    struct config cfg;
    char *path = write_tmp(".env", "DATABASE_URL=" GOOD_DB "\n"
                                   "PORT=9001\n"
                                   "WORKERS=3\n"
                                   "LOG_LEVEL=error\n"
                                   "QUEUE_CAPACITY=\n");

    /* The file is used where the environment says nothing. */
    load_ok(path, &cfg);
    assert_string_equal(cfg.database_url, GOOD_DB);
    assert_int_equal(cfg.port, 9001);
    assert_int_equal(cfg.workers, 3);
    assert_int_equal(cfg.queue_capacity, 1024);
    config_free(&cfg);

    /* The environment wins; an empty environment value counts as unset. */
    set_var("PORT", "7000");
    set_var("WORKERS", "");
    set_var("LOG_LEVEL", "warn");
    set_var("QUEUE_CAPACITY", "5");
    load_ok(path, &cfg);
    assert_int_equal(cfg.port, 7000);
    assert_int_equal(cfg.workers, 3);
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_int_equal(cfg.queue_capacity, 5);
    config_free(&cfg);

    /* A bad value in the file is reported like one from the environment. */
    clear_env();
    free(write_tmp(".env", "DATABASE_URL=" GOOD_DB "\nPORT=99999\n"));
    char *err = load_bad(path);
    assert_string_equal(err,
                        "config: PORT=\"99999\": must be integer 0..65535 (0 = any free port)\n");
    free(err);

    /* A missing file is no error; a NULL path reads no file. */
    unlink(path);
    set_var("DATABASE_URL", GOOD_DB);
    load_ok(path, &cfg);
    assert_int_equal(cfg.port, 8080);
    config_free(&cfg);
    load_ok(NULL, &cfg);
    config_free(&cfg);
    free(path);
}

static void test_dotenv_malformed(void **state)
{
    char *path = write_tmp(".env", "# ok\n"
                                   "DATABASE_URL=" GOOD_DB "\n"
                                   "NOEQUALS\n"
                                   "\n"
                                   "1BAD=x\n"
                                   "BAD-KEY=x\n"
                                   "PORT=\"8080\n"
                                   "LOG_LEVEL='info\n"
                                   "WORKERS=\"3\" junk\n"
                                   "= value\n"
                                   "WEBHOOK_SECRET=fine\n"
                                   "export\n"
                                   "TELEGRAM_BOT_TOKEN=\"123:hunter2hunter2hunter2hunter2\n"
                                   "postgresql://alice:hunter2@h/db\n"
                                   "LISTEN_ADDR=nope\n");
    char *err = load_bad(path);

    assert_int_equal(count_lines(err), 11);
    assert_contains(err, "/.env:3: expected KEY=VALUE\n");
    assert_contains(err, "/.env:5: invalid variable name");
    assert_contains(err, "/.env:6: invalid variable name");
    assert_contains(err, "/.env:7: unterminated double quote\n");
    assert_contains(err, "/.env:8: unterminated single quote\n");
    assert_contains(err, "/.env:9: unexpected text after the closing quote\n");
    assert_contains(err, "/.env:10: invalid variable name");
    assert_contains(err, "/.env:12: expected KEY=VALUE\n");
    assert_contains(err, "/.env:13: unterminated double quote\n");
    assert_contains(err, "/.env:14: expected KEY=VALUE\n");
    /* Values are still checked after a syntax error. */
    assert_contains(err, "config: LISTEN_ADDR=\"nope\": must be IPv4 or IPv6 address literal\n");
    assert_lacks(err, "hunter2");
    assert_lacks(err, "WEBHOOK_SECRET");

    /* Every line starts with "config: <path>:". */
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "config: %s:", path);
    for (const char *line = err; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, "config: LISTEN_ADDR", 19) != 0)
            assert_int_equal(strncmp(line, prefix, strlen(prefix)), 0);
    }
    free(err);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_vars_table, setup),
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_parsed_values, setup),
        cmocka_unit_test_setup(test_every_variable, setup),
        cmocka_unit_test_setup(test_exact_lines, setup),
        cmocka_unit_test_setup(test_empty_is_unset, setup),
        cmocka_unit_test_setup(test_multiple_errors, setup),
        cmocka_unit_test_setup(test_failure_leaves_ret_untouched, setup),
        cmocka_unit_test_setup(test_tls_pairing, setup),
        cmocka_unit_test_setup(test_admin_ids, setup),
        cmocka_unit_test_setup(test_mask_value, setup),
        cmocka_unit_test_setup(test_secrets_not_in_errors, setup),
        cmocka_unit_test_setup(test_dotenv_values, setup),
        cmocka_unit_test_setup(test_dotenv_precedence, setup),
        cmocka_unit_test_setup(test_dotenv_malformed, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
