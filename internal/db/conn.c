#include "conn.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "password.h"

/*
 * Keys tgdesk always sets itself; a value from DATABASE_URL is replaced.
 * client_encoding among them: array literals and JSON are built by hand as
 * UTF-8, so neither PGCLIENTENCODING in the environment nor a
 * client_encoding in DATABASE_URL may change it (the URL's value is
 * silently replaced, like the other keys here).
 */
static const char *const overridden[] = {
    "connect_timeout",     "application_name", "keepalives",      "keepalives_idle",
    "keepalives_interval", "keepalives_count", "client_encoding", "options",
};

#define DB_MAX_PARAMS 64

/* NULL-terminated keyword/value arrays for PQconnectdbParams; all owned. */
struct db_params {
    char *keys[DB_MAX_PARAMS + 1];
    char *vals[DB_MAX_PARAMS + 1];
    size_t n;
    char *password_file; /* read for every connection; NULL: none */
};

static bool is_overridden(const char *key)
{
    for (size_t i = 0; i < sizeof(overridden) / sizeof(overridden[0]); i++)
        if (strcmp(key, overridden[i]) == 0)
            return true;
    return false;
}

static int params_add(struct db_params *p, const char *key, const char *val)
{
    if (p->n >= DB_MAX_PARAMS)
        return -E2BIG;
    char *k = strdup(key), *v = strdup(val);
    if (!k || !v) {
        free(k);
        free(v);
        return -ENOMEM;
    }
    p->keys[p->n] = k;
    p->vals[p->n] = v;
    p->n++;
    return 0;
}

struct db_params *db_params_new(const struct db_conn_options *opt)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(opt->database_url, &errmsg);
    if (!opts) {
        PQfreemem(errmsg);
        return NULL;
    }

    struct db_params *p = calloc(1, sizeof(*p));
    if (!p)
        goto fail;

    const char *user_options = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "password") == 0)
            log_add_secret(o->val);
        if (strcmp(o->keyword, "options") == 0)
            user_options = o->val;
        if (is_overridden(o->keyword))
            continue;
        if (params_add(p, o->keyword, o->val) < 0)
            goto fail;
    }

    int64_t st = opt->statement_timeout_ms > 0 ? opt->statement_timeout_ms : 0;
    char connect_timeout[24], options[1024];
    snprintf(connect_timeout, sizeof(connect_timeout), "%d", opt->connect_timeout_s);
    /* Generic plans: our statements do not depend on their parameters, and a
     * custom plan for the batch statement costs more to plan than to run. */
    int len = snprintf(options, sizeof(options),
                       "%s%s-c statement_timeout=%lld -c plan_cache_mode=force_generic_plan",
                       user_options ? user_options : "", user_options ? " " : "", (long long)st);
    if (len < 0 || (size_t)len >= sizeof(options))
        goto fail;

    if (params_add(p, "connect_timeout", connect_timeout) < 0 ||
        params_add(p, "application_name", "tgdesk") < 0 ||
        params_add(p, "client_encoding", "UTF8") < 0 || params_add(p, "keepalives", "1") < 0 ||
        params_add(p, "keepalives_idle", "30") < 0 ||
        params_add(p, "keepalives_interval", "10") < 0 ||
        params_add(p, "keepalives_count", "3") < 0 || params_add(p, "options", options) < 0)
        goto fail;

    if (opt->password_file && !(p->password_file = strdup(opt->password_file)))
        goto fail;
    PQconninfoFree(opts);
    return p;

fail:
    PQconninfoFree(opts);
    db_params_free(p);
    return NULL;
}

void db_params_free(struct db_params *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->vals[i]);
    }
    free(p->password_file);
    free(p);
}

/*
 * Every connection starts here, blocking or not: the one place where what
 * is sent at connect time (a password read now, say) can be added to the
 * parameter set.
 */
static PGconn *open_conn(const struct db_params *p, bool nonblocking)
{
    const char *const *keys = (const char *const *)p->keys;
    const char *const *vals = (const char *const *)p->vals;
    if (p->password_file)
        return db_password_connect(p->password_file, keys, vals, p->n, nonblocking);
    return nonblocking ? PQconnectStartParams(keys, vals, 0) : PQconnectdbParams(keys, vals, 0);
}

bool db_connect_again(const struct db_params *p, const PGconn *failed)
{
    return p->password_file && db_password_refused(p->password_file, failed);
}

PGconn *db_connect(const struct db_params *p)
{
    PGconn *conn = open_conn(p, false);
    if (conn && db_connect_again(p, conn)) {
        PQfinish(conn);
        conn = open_conn(p, false);
    }
    return conn;
}

PGconn *db_connect_start(const struct db_params *p)
{
    return open_conn(p, true);
}

char *db_errmsg(const PGconn *conn, const PGresult *res, char *buf, size_t cap)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = conn ? PQerrorMessage(conn) : "no connection";
    if (!msg || !*msg)
        msg = "unknown error";

    char line[1024];
    size_t j = 0;
    for (size_t i = 0; msg[i] && j + 1 < sizeof(line); i++) {
        char c = msg[i];
        if (c == '\n' || c == '\r' || c == '\t') {
            if (j > 0 && line[j - 1] != ' ')
                line[j++] = ' ';
            continue;
        }
        line[j++] = c;
    }
    while (j > 0 && line[j - 1] == ' ')
        j--;
    line[j] = '\0';
    log_redact(line, buf, cap);
    return buf;
}
