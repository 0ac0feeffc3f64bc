/*
 * tgdesk - a Telegram customer-support desk as one small webhook service.
 *
 * This file only wires things: parse the command line, load the
 * configuration, start the modules in order, wait for a signal, stop them in
 * reverse order.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "db/conn.h"
#include "db/migrate.h"
#include "db/pool.h"
#include "desk/batch.h"
#include "desk/desk.h"
#include "http/health.h"
#include "http/healthcheck.h"
#include "http/server.h"
#include "log.h"
#include "logdb.h"
#include "metrics/tgdesk_metrics.h"
#include "outbox/outbox.h"
#include "outbox/sender.h"
#include "pipeline/pipeline.h"
#include "tg/api.h"
#include "util/strnum.h"
#include "version.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
    fprintf(f, "Usage: tgdesk [COMMAND] [ARGS]\n"
               "\n"
               "A Telegram customer-support desk: a webhook service backed by "
               "PostgreSQL.\n"
               "\n"
               "Commands:\n"
               "  serve                 apply pending migrations (unless "
               "MIGRATE_ON_START=false)\n"
               "                        and serve HTTP (the default command)\n"
               "  migrate up            apply every pending migration\n"
               "  migrate down [N]      revert the last N applied migrations (default "
               "1)\n"
               "  migrate redo          revert the last migration and apply it again\n"
               "  migrate status        list migrations; exit 0 only when none is "
               "pending,\n"
               "                        dirty or changed\n"
               "  healthcheck           GET the local /health once; exit 0 when "
               "healthy\n"
               "                        (for a container HEALTHCHECK)\n"
               "\n"
               "Options:\n"
               "  -h, --help            show this help and exit\n"
               "  -V, --version         show the version and exit\n"
               "\n"
               "Configuration comes from the environment and from ./.env (the "
               "environment\n"
               "wins). Variables:\n");
    for (size_t i = 0; i < config_vars_count; i++) {
        const struct config_var *v = &config_vars[i];
        fprintf(f, "  %-22s %s%s%s\n", v->name, v->allowed, v->default_value ? "; default " : "",
                v->default_value ? v->default_value : "");
    }
    fprintf(f, "\nExit status: 0 ok, 1 runtime failure, 2 usage or configuration "
               "error.\n");
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tgdesk: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (try 'tgdesk --help')\n");
    va_end(ap);
    return EXIT_USAGE;
}

/* Signals handled by sigwait in the main thread; blocked in every thread. */
static void block_signals(sigset_t *ret)
{
    sigemptyset(ret);
    sigaddset(ret, SIGTERM);
    sigaddset(ret, SIGINT);
    pthread_sigmask(SIG_BLOCK, ret, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/*
 * Waits up to ms for a stop signal. Returns the signal number, or 0 when the
 * time ran out.
 */
static int wait_signal(const sigset_t *set, int64_t ms)
{
    int sig = 0;
    if (ms < 0) {
        while (sigwait(set, &sig) != 0)
            ;
        return sig;
    }
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    for (;;) {
        sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            return 0;
        /* EINTR: wait again; the remaining time is approximate. */
    }
}

static int load_config(struct config *cfg)
{
    if (config_load(".env", stderr, cfg) < 0)
        return -EINVAL;
    log_init(cfg->log_level, cfg->log_format, 2);
    log_add_secret(cfg->telegram_bot_token);
    log_add_secret(cfg->webhook_secret);
    return 0;
}

/* Opens the connection migrations use (no statement_timeout). */
static PGconn *connect_once(const struct db_params *params)
{
    PGconn *conn = db_connect(params);
    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;
    char err[512];
    LOG(LOG_ERROR, "cannot connect to the database",
        LOG_STR("error", db_errmsg(conn, NULL, err, sizeof(err))));
    PQfinish(conn);
    return NULL;
}

/*
 * The original design's init_db: connect and migrate, DB_INIT_RETRIES
 * attempts DB_INIT_RETRY_DELAY apart. Returns 0, -ECANCELED when a stop
 * signal arrived, or another negative code when giving up.
 */
static int init_db(const struct config *cfg, const sigset_t *sigs)
{
    struct db_params *params = db_params_new(cfg, 0);
    if (!params)
        return -ENOMEM;
    int rc = -EIO;
    for (int attempt = 1; attempt <= cfg->db_init_retries; attempt++) {
        PGconn *conn = db_connect(params);
        if (conn && PQstatus(conn) == CONNECTION_OK) {
            rc = 0;
            if (cfg->migrate_on_start) {
                rc = migrate_up(conn, migrations_builtin, migrations_builtin_count, 0, NULL);
                rc = rc < 0 ? rc : 0;
            }
            PQfinish(conn);
            if (rc == 0 || rc != -EIO)
                break;
        } else {
            char err[512];
            LOG(LOG_WARN, "database not reachable", LOG_INT("attempt", attempt),
                LOG_INT("attempts", cfg->db_init_retries),
                LOG_STR("error", db_errmsg(conn, NULL, err, sizeof(err))));
            PQfinish(conn);
        }
        if (attempt < cfg->db_init_retries && wait_signal(sigs, cfg->db_init_retry_delay_ms) > 0) {
            rc = -ECANCELED;
            break;
        }
    }
    db_params_free(params);
    return rc;
}

/* Every prepared statement the serving process uses, for the pool. */
static struct db_stmt *all_statements(size_t *ret_n)
{
    const struct {
        const struct db_stmt *list;
        size_t n;
    } parts[] = {
        {pipeline_statements, pipeline_statements_count},
        {desk_statements, desk_statements_count},
        {desk_batch_statements, desk_batch_statements_count},
        {outbox_statements, outbox_statements_count},
        {sender_statements, sender_statements_count},
        {logdb_statements, logdb_statements_count},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        n += parts[i].n;
    struct db_stmt *all = calloc(n, sizeof(*all));
    if (!all)
        return NULL;
    n = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (size_t j = 0; j < parts[i].n; j++)
            all[n++] = parts[i].list[j];
    *ret_n = n;
    return all;
}

static size_t queue_depth(void *pipeline)
{
    return pipeline_queue_depth(pipeline);
}

static size_t queue_capacity(void *pipeline)
{
    return pipeline_queue_capacity(pipeline);
}

/*
 * Starts the modules in order - pool, sender, workers, HTTP - waits for a
 * stop signal and stops them in reverse: no new connections, every queued
 * update answered after its commit, answers sent, outbox flushed.
 */
static int serve(const struct config *cfg, const sigset_t *sigs)
{
    int rc = EXIT_RUNTIME;
    size_t nstmts = 0;
    struct db_stmt *stmts = all_statements(&nstmts);
    struct db_params *params = db_params_new(cfg, -1);
    struct pool *pool = NULL;
    struct logdb *logdb = NULL;
    struct health *health = NULL;
    struct sender *sender = NULL;
    struct pipeline *pipeline = NULL;
    struct http_server *http = NULL;
    char err[256];

    if (!stmts || !params || tg_api_global_init() < 0)
        goto out;
    if (metrics_init() < 0)
        LOG(LOG_WARN, "metrics registry incomplete", LOG_STR("route", "/metrics"));
    pool = pool_new(cfg, params, stmts, nstmts);
    if (!pool)
        goto out;
    logdb = logdb_start(pool, &(struct logdb_options){
                                  .min_level = cfg->log_db_level,
                                  .retention_days = cfg->log_retention_days,
                              });
    if (!logdb)
        LOG(LOG_WARN, "the logs table writer did not start: events go to stderr only",
            LOG_STR("table", "logs"));
    if (cfg->telegram_bot_token) {
        sender = sender_start(cfg, pool);
        if (!sender)
            goto out;
    }
    pipeline = pipeline_start(cfg, pool, sender);
    if (!pipeline)
        goto out;
    metrics_watch(pool, pipeline, sender);
    health = health_start(pool, &(struct health_options){
                                    .version = TGDESK_VERSION,
                                    .queue_depth = queue_depth,
                                    .queue_capacity = queue_capacity,
                                    .queue_ud = pipeline,
                                });
    struct http_app app = {.cfg = cfg, .pipeline = pipeline, .health = health};
    http = http_server_start(&app, err, sizeof(err));
    if (!http) {
        LOG(LOG_ERROR, "cannot start the HTTP server", LOG_STR("error", err));
        goto out;
    }
    LOG(LOG_INFO, "listening", LOG_STR("addr", cfg->listen_addr),
        LOG_INT("port", http_server_port(http)), LOG_STR("webhook_path", cfg->webhook_path),
        LOG_BOOL("tls", cfg->tls_cert_file != NULL));

    int sig = wait_signal(sigs, -1);
    LOG(LOG_INFO, "stopping", LOG_STR("signal", strsignal(sig)));
    health_set_draining(health);
    http_server_drain(http);
    pipeline_stop(pipeline);
    if (http_server_wait_idle(http, 5000) < 0)
        LOG(LOG_WARN, "some HTTP answers were still being sent at stop",
            LOG_INT("waited_ms", 5000));
    rc = EXIT_OK;

out:
    /* The HTTP thread may still submit (and be refused) until it is stopped. */
    http_server_stop(http);
    health_stop(health);
    metrics_unwatch();
    pipeline_free(pipeline);
    sender_stop(sender, 5000);
    logdb_stop(logdb, 2000);
    pool_free(pool);
    db_params_free(params);
    free(stmts);
    tg_api_global_cleanup();
    return rc;
}

static int cmd_serve(const struct config *cfg)
{
    sigset_t sigs;
    block_signals(&sigs);

    LOG(LOG_INFO, "tgdesk starting", LOG_STR("version", TGDESK_VERSION),
        LOG_INT("workers", cfg->workers), LOG_BOOL("migrate_on_start", cfg->migrate_on_start));
    if (!cfg->webhook_secret)
        LOG(LOG_WARN,
            "WEBHOOK_SECRET is not set: anyone who finds the webhook URL can post "
            "updates; set it and pass it to setWebhook",
            LOG_STR("path", cfg->webhook_path));
    if (!cfg->telegram_bot_token)
        LOG(LOG_WARN, "TELEGRAM_BOT_TOKEN is not set: replies cannot be sent",
            LOG_STR("api", cfg->telegram_api_url));

    int rc = init_db(cfg, &sigs);
    if (rc == -ECANCELED) {
        LOG(LOG_INFO, "stopped during start-up", LOG_STR("phase", "database"));
        return EXIT_OK;
    }
    if (rc < 0) {
        LOG(LOG_ERROR, "giving up: the database could not be reached or migrated",
            LOG_INT("attempts", cfg->db_init_retries));
        return EXIT_RUNTIME;
    }

    rc = serve(cfg, &sigs);
    LOG(LOG_INFO, "stopped", LOG_STR("version", TGDESK_VERSION));
    return rc;
}

/* One GET of the local /health, for container health checks: exit 0 when
 * healthy. */
static int cmd_healthcheck(const struct config *cfg)
{
    if (tg_api_global_init() < 0)
        return EXIT_RUNTIME;
    int rc = healthcheck_run(cfg, 2000, stdout);
    tg_api_global_cleanup();
    return rc == 0 ? EXIT_OK : EXIT_RUNTIME;
}

static int cmd_migrate(const struct config *cfg, int argc, char **argv)
{
    if (argc < 1)
        return usage_error("migrate needs a subcommand: up, down [N], redo or status");
    const char *sub = argv[0];
    int64_t steps = 1;
    bool is_up = strcmp(sub, "up") == 0, is_down = strcmp(sub, "down") == 0;
    bool is_redo = strcmp(sub, "redo") == 0, is_status = strcmp(sub, "status") == 0;
    if (!is_up && !is_down && !is_redo && !is_status)
        return usage_error("unknown migrate subcommand '%s'", sub);
    if (is_down && argc == 2 && strnum_i64(argv[1], 1, 100000, &steps) < 0)
        return usage_error("migrate down: N must be a whole number from 1 to 100000, not '%s'",
                           argv[1]);
    if (argc > (is_down ? 2 : 1))
        return usage_error("unexpected argument '%s'", argv[is_down ? 2 : 1]);

    struct db_params *params = db_params_new(cfg, 0);
    if (!params)
        return EXIT_RUNTIME;
    PGconn *conn = connect_once(params);
    db_params_free(params);
    if (!conn)
        return EXIT_RUNTIME;

    const struct migration *set = migrations_builtin;
    size_t n = migrations_builtin_count;
    int rc;
    if (is_status) {
        rc = migrate_status(conn, set, n, stdout);
        PQfinish(conn);
        return rc == 0 ? EXIT_OK : EXIT_RUNTIME;
    }
    if (is_up) {
        rc = migrate_up(conn, set, n, 0, stdout);
        if (rc == 0)
            printf("nothing to apply\n");
    } else {
        rc = migrate_down(conn, set, n, (int)steps, stdout);
        if (rc == 0)
            printf("nothing to revert\n");
        if (is_redo && rc > 0)
            rc = migrate_up(conn, set, n, 1, stdout);
    }
    PQfinish(conn);
    return rc < 0 ? EXIT_RUNTIME : EXIT_OK;
}

int main(int argc, char **argv)
{
    const char *cmd = "serve";
    int first = 1;
    if (argc > 1) {
        const char *a = argv[1];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("tgdesk %s\n", TGDESK_VERSION);
            return EXIT_OK;
        }
        if (a[0] == '-')
            return usage_error("unknown option '%s'", a);
        cmd = a;
        first = 2;
    }
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
        if (argv[i][0] == '-')
            return usage_error("unknown option '%s'", argv[i]);
    }

    bool is_serve = strcmp(cmd, "serve") == 0, is_migrate = strcmp(cmd, "migrate") == 0;
    bool is_check = strcmp(cmd, "healthcheck") == 0;
    if (!is_serve && !is_migrate && !is_check)
        return usage_error("unknown command '%s'", cmd);
    if ((is_serve || is_check) && argc > first)
        return usage_error("%s takes no arguments, got '%s'", cmd, argv[first]);

    struct config cfg;
    if (load_config(&cfg) < 0)
        return EXIT_USAGE;

    int rc = is_serve   ? cmd_serve(&cfg)
             : is_check ? cmd_healthcheck(&cfg)
                        : cmd_migrate(&cfg, argc - first, argv + first);
    config_free(&cfg);
    return rc;
}
