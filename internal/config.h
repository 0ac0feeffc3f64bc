/*
 * config.h - the whole configuration of tgdesk.
 *
 * Values come from the environment and from a .env file (the environment
 * wins). Everything is validated before any connection is attempted; a bad
 * value yields one line naming the variable, the value (secrets masked) and
 * what is allowed.
 */
#ifndef TGDESK_CONFIG_H
#define TGDESK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define CONFIG_MAX_ADMINS 1024

struct config {
    char *database_url;       /* required */
    char *telegram_bot_token; /* NULL when unset */
    char *telegram_api_url;   /* no trailing slash */
    char *webhook_path;       /* starts with '/' */
    char *webhook_secret;     /* NULL when unset */
    bool webhook_insecure;    /* serve may run without webhook_secret */
    char *metrics_token;      /* /metrics wants it as a bearer token; NULL: open */
    char *listen_addr;
    int port;            /* 0 = any free port (tests) */
    char *tls_cert_file; /* both NULL or both set */
    char *tls_key_file;
    int64_t *admin_ids; /* n_admin_ids entries, sorted, unique */
    size_t n_admin_ids;
    int64_t *supervisor_ids; /* n_supervisor_ids entries, sorted, unique; staff too */
    size_t n_supervisor_ids;
    bool has_admin_chat_id;
    int64_t admin_chat_id;
    int workers;
    int queue_capacity;
    int64_t max_body_bytes;
    int http_max_connections;
    int http_max_per_ip;
    int http_timeout_s;
    int http_req_timeout_s;      /* a request must arrive whole within it of its start */
    char *webhook_allowed_cidrs; /* NULL: every source may post to the webhook */
    char *trusted_proxies;       /* NULL: no X-Forwarded-For is believed */
    char *ops_listen_addr;       /* where OPS_PORT listens */
    int ops_port;                /* 0: no operations listener */
    int db_pool_max;
    int db_pool_min;
    int64_t db_pool_timeout_ms;
    int64_t drain_ms;                /* after SIGTERM: /health 503 while still serving, then stop */
    int64_t db_pool_recycle_ms;      /* 0 = never */
    int64_t db_pool_idle_timeout_ms; /* 0 = never */
    bool db_pool_pre_ping;
    int db_connect_timeout_s;
    int64_t db_statement_timeout_ms; /* 0 = none */
    int64_t db_slow_query_ms;
    bool db_prepared_statements; /* false: unnamed statements, for PgBouncer (transaction mode) */
    int db_init_retries;         /* attempts at start, >= 1 */
    int64_t db_init_retry_delay_ms;
    bool migrate_on_start;
    enum log_level log_level;
    enum log_format log_format;
    enum log_level log_db_level; /* LOG_OFF = no events in the logs table */
    int log_retention_days;      /* 0 = keep forever */
    int audit_retention_days;    /* audit rows of logs; 0 = keep forever */
    int dedup_retention_hours;   /* processed_updates rows */
    int outbox_retention_days;   /* failed outbox rows; 0 = keep forever */
    int outbox_max_attempts;
    int telegram_global_rps;
    int64_t telegram_api_timeout_ms;
    char *migrate_database_url;    /* migrate, adopt, migrate-on-start; DATABASE_URL when unset */
    char *database_password_file;  /* read for every new connection; NULL: none */
    char *migrate_backup_dir;      /* pg_dump before migrating; NULL: no backup */
    char *adopt_timezone;          /* how `adopt` reads the old bot's naive times */
    bool csat;                     /* ask users to rate solved and closed requests */
    int64_t first_response_sla_ms; /* 0: no reminders */
    int64_t auto_close_solved_ms;  /* 0: solved requests stay solved */
    char *business_hours;          /* as given; NULL: always open */
    char *business_zone;           /* its tz database zone, e.g. "Europe/Berlin" */
    unsigned business_days;        /* bit d set: ISO weekday d (1 Monday .. 7 Sunday) is open */
    int business_open_min, business_close_min; /* minutes after local midnight */
    char *default_language; /* users whose language has no catalog read this one */
    char *locale_dir;       /* the catalogs; NULL: the build tree's or the installed ones */
    bool staff_topics;      /* STAFF_MODE=topics: a forum topic per user */
    int telegram_group_rpm; /* messages a minute to one group chat */
    char *search_language;  /* text-search configuration; the database checks it at start */
};

/*
 * One entry per variable, in documentation order: name, default (NULL when
 * none) and what is allowed. Used by --help and the README table test.
 */
struct config_var {
    const char *name;
    const char *default_value;
    const char *allowed;
    bool secret;
};
extern const struct config_var config_vars[];
extern const size_t config_vars_count;

/*
 * Loads and validates the configuration from the environment and from the
 * file at dotenv_path (NULL: no file; a missing file is not an error).
 * Every problem is written to err as one line ("config: NAME=value: ...")
 * and then -EINVAL is returned; *ret is untouched on failure. On success
 * returns 0 and *ret owns its strings: release with config_free().
 */
int config_load(const char *dotenv_path, FILE *err, struct config *ret);

/* Releases what config_load() allocated. Accepts NULL. */
void config_free(struct config *cfg);

/*
 * Writes value with secrets masked into dst (capacity cap, NUL-terminated):
 * a secret variable becomes "***"; a DATABASE_URL keeps everything but its
 * password (URI "user:***@" or key/value "password=***"). Returns dst.
 */
char *config_mask_value(const char *name, const char *value, char *dst, size_t cap);

#endif
