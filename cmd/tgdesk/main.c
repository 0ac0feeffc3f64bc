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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db/adopt.h"
#include "db/conn.h"
#include "db/migrate.h"
#include "db/password.h"
#include "db/pool.h"
#include "db/sslcheck.h"
#include "desk/business.h"
#include "desk/canned.h"
#include "desk/chats.h"
#include "desk/desk.h"
#include "desk/prune.h"
#include "desk/search.h"
#include "desk/timers.h"
#include "desk/topics.h"
#include "http/health.h"
#include "http/healthcheck.h"
#include "http/server.h"
#include "log.h"
#include "logdb.h"
#include "metrics/tgm.h"
#include "outbox/admin.h"
#include "outbox/lease.h"
#include "outbox/outbox.h"
#include "outbox/prune.h"
#include "outbox/sender.h"
#include "pipeline/pipeline.h"
#include "poll/poll.h"
#include "retention.h"
#include "tg/api.h"
#include "tg/webhook.h"
#include "util/clock.h"
#include "util/i18n.h"
#include "util/strnum.h"
#include "version.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/*
 * After the drain, a stop takes at most STOP_MS: every wait on the database
 * ends after STOP_DB_MS (pool_stop_by), and the sender and the log writer
 * get what is left. With the default DRAIN_SECONDS of 5 that is 8 s from
 * SIGTERM to exit, whatever the database does.
 */
#define STOP_DB_MS 2000
#define STOP_MS    3000

static void usage(FILE *f)
{
    fprintf(f, "Usage: tgdesk [COMMAND] [ARGS]\n"
               "\n"
               "A Telegram customer-support desk: a webhook service backed by PostgreSQL.\n"
               "\n"
               "Commands:\n"
               "  serve                 apply pending migrations (unless MIGRATE_ON_START=false)\n"
               "                        and serve HTTP (the default command); needs\n"
               "                        WEBHOOK_SECRET (or WEBHOOK_INSECURE=true, local tests)\n"
               "  migrate up            apply every pending migration\n"
               "  migrate down [N]      revert the last N applied migrations (default 1)\n"
               "  migrate redo          revert the last migration and apply it again\n"
               "  migrate status        list migrations; exit 0 only when none is pending,\n"
               "                        dirty or changed\n"
               "  adopt [--dry-run]     take over the Python bot's database: convert its\n"
               "                        requests, messages and logs to tgdesk's schema in one\n"
               "                        transaction (--dry-run: do it, print it, roll back)\n"
               "  db grants ROLE        print the GRANT statements that let ROLE serve (rows\n"
               "                        of tgdesk's tables, its sequences; no DDL)\n"
               "  healthcheck           GET the local /health once; exit 0 when healthy\n"
               "                        (for a container HEALTHCHECK)\n"
               "  poll                  fetch updates by getUpdates long polling instead of a\n"
               "                        webhook (for machines without a public HTTPS address)\n"
               "  webhook set URL       point Telegram's webhook at URL, with WEBHOOK_SECRET\n"
               "                        (required), the update kinds tgdesk handles and\n"
               "                        max_connections\n"
               "  webhook info          show Telegram's webhook: URL, pending updates, last error\n"
               "  webhook delete        remove the webhook (needed before `poll`)\n"
               "  outbox failed         list the Bot API calls that failed for good, newest\n"
               "                        first, with their reason\n"
               "  outbox retry ID...    queue those failed calls again (attempts from 0); the\n"
               "  outbox retry --all    running instance sends them; exit 1 when an ID is not\n"
               "                        a failed call (the others are still queued)\n"
               "\n"
               "Options:\n"
               "  -h, --help            show this help and exit\n"
               "  -V, --version         show the version and exit\n"
               "\n"
               "Configuration comes from the environment and from ./.env (the environment\n"
               "wins). Variables:\n");
    for (size_t i = 0; i < config_vars_count; i++) {
        const struct config_var *v = &config_vars[i];
        fprintf(f, "  %-22s %s%s%s\n", v->name, v->allowed, v->default_value ? "; default " : "",
                v->default_value ? v->default_value : "");
    }
    fprintf(f, "\nExit status: 0 ok, 1 runtime failure, 2 usage or configuration error.\n");
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
    log_add_secret(cfg->metrics_token);
    if (cfg->database_password_file) {
        /* Rotated passwords are read later; libpq does not print them. */
        char pw[DB_PASSWORD_MAX];
        if (db_password_read(cfg->database_password_file, pw, sizeof(pw)) == 0)
            log_add_secret(pw);
        explicit_bzero(pw, sizeof(pw));
    }
    return 0;
}

/* ---- Each module's options, from the configuration ---- */

/* How connections are opened; statement_timeout_ms 0: none (migrations). */
static struct db_conn_options conn_options(const struct config *cfg, int64_t statement_timeout_ms)
{
    return (struct db_conn_options){
        .database_url = cfg->database_url,
        .connect_timeout_s = cfg->db_connect_timeout_s,
        .statement_timeout_ms = statement_timeout_ms,
        .password_file = cfg->database_password_file,
    };
}

static struct pool_options pool_options(const struct config *cfg)
{
    return (struct pool_options){
        .max = cfg->db_pool_max,
        .min = cfg->db_pool_min,
        .timeout_ms = cfg->db_pool_timeout_ms,
        .recycle_ms = cfg->db_pool_recycle_ms,
        .idle_timeout_ms = cfg->db_pool_idle_timeout_ms,
        .pre_ping = cfg->db_pool_pre_ping,
        .slow_query_ms = cfg->db_slow_query_ms,
        /* The server's own statement_timeout ends a statement first while it
         * answers at all; the pool gives up a little later. */
        .deadline_ms = cfg->db_statement_timeout_ms > 0
                           ? cfg->db_statement_timeout_ms + POOL_DEADLINE_GRACE_MS
                           : 0,
        .connect_timeout_ms = (int64_t)cfg->db_connect_timeout_s * 1000,
        .unnamed = !cfg->db_prepared_statements,
    };
}

/* What the sender learns about chats goes to the desk, which owns them. */
static int chat_unreachable(void *ud, struct pool_conn *c, int64_t chat, const char *reason)
{
    return desk_chats_unreachable(c, chat, reason, NULL);
}

static int chat_migrated(void *ud, struct pool_conn *c, int64_t from, int64_t to)
{
    return desk_chats_migrated(c, from, to, NULL);
}

static struct sender_options sender_options(const struct config *cfg)
{
    return (struct sender_options){
        .api_url = cfg->telegram_api_url,
        .bot_token = cfg->telegram_bot_token,
        .api_timeout_ms = cfg->telegram_api_timeout_ms,
        .global_rps = cfg->telegram_global_rps,
        .max_attempts = cfg->outbox_max_attempts,
        .chat_unreachable = chat_unreachable,
        .chat_migrated = chat_migrated,
        .group_rpm = cfg->telegram_group_rpm,
        /* Rows of forum topics are completed and learnt from by the desk. */
        .topic_prepare = desk_topic_prepare,
        .topic_result = desk_topic_result,
    };
}

static struct http_server_options http_options(const struct config *cfg)
{
    return (struct http_server_options){
        .listen_addr = cfg->listen_addr,
        .port = cfg->port,
        .tls_cert_file = cfg->tls_cert_file,
        .tls_key_file = cfg->tls_key_file,
        .webhook_path = cfg->webhook_path,
        .webhook_secret = cfg->webhook_secret,
        .metrics_token = cfg->metrics_token,
        .max_body_bytes = cfg->max_body_bytes,
        .max_connections = cfg->http_max_connections,
        .max_per_ip = cfg->http_max_per_ip,
        .timeout_s = cfg->http_timeout_s,
        .request_timeout_s = cfg->http_req_timeout_s,
        .allowed_cidrs = cfg->webhook_allowed_cidrs,
        .trusted_proxies = cfg->trusted_proxies,
        .ops_listen_addr = cfg->ops_listen_addr,
        .ops_port = cfg->ops_port,
    };
}

static struct poll_options poll_options(const struct config *cfg)
{
    return (struct poll_options){
        .api_url = cfg->telegram_api_url,
        .bot_token = cfg->telegram_bot_token,
        .api_timeout_ms = cfg->telegram_api_timeout_ms,
    };
}

/*
 * How migrations (migrate, adopt, migrate-on-start) connect: as
 * MIGRATE_DATABASE_URL, the schema's owner, without statement_timeout.
 */
static struct db_conn_options migrate_conn_options(const struct config *cfg)
{
    struct db_conn_options opt = conn_options(cfg, 0);
    /* DATABASE_PASSWORD_FILE is the serving role's password. */
    if (strcmp(cfg->migrate_database_url, cfg->database_url) != 0)
        opt.password_file = NULL;
    opt.database_url = cfg->migrate_database_url;
    return opt;
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

/* A remote database reached without TLS (or without checking whom): say so at start. */
static void warn_weak_tls(const struct config *cfg)
{
    const struct {
        const char *name, *url;
    } urls[] = {{"DATABASE_URL", cfg->database_url},
                {"MIGRATE_DATABASE_URL", cfg->migrate_database_url}};
    for (size_t i = 0; i < 2; i++) {
        char host[256], mode[256];
        if (i == 1 && strcmp(urls[1].url, urls[0].url) == 0)
            break;
        if (db_sslcheck_weak(urls[i].url, host, mode, sizeof(host)))
            LOG(LOG_WARN,
                "the database is remote but the connection may go unencrypted: add "
                "sslmode=verify-full (with sslrootcert) or at least sslmode=require",
                LOG_STR("variable", urls[i].name), LOG_STR("host", host), LOG_STR("sslmode", mode));
    }
}

/*
 * Checks SEARCH_LANGUAGE against the database and stores it. Returns 0,
 * -EINVAL when the database has no such configuration (logged, naming the
 * variable: a configuration error), or -EIO.
 */
static int search_language(PGconn *conn, const char *language)
{
    char err[1024];
    int rc = desk_search_language(conn, language, err, sizeof(err));
    if (rc == -EINVAL)
        LOG(LOG_ERROR, "SEARCH_LANGUAGE is not a text-search configuration of the database",
            LOG_STR("variable", "SEARCH_LANGUAGE"), LOG_STR("value", language),
            LOG_STR("error", err));
    else if (rc < 0)
        LOG(LOG_ERROR, "cannot check SEARCH_LANGUAGE", LOG_STR("error", err));
    else if (rc == 1)
        LOG(LOG_INFO,
            "SEARCH_LANGUAGE changed: the search documents are made again in the background",
            LOG_STR("value", language));
    return rc < 0 ? rc : 0;
}

/*
 * The original design's init_db: connect and migrate, DB_INIT_RETRIES
 * attempts DB_INIT_RETRY_DELAY apart. Returns 0, -ECANCELED when a stop
 * signal arrived, or another negative code when giving up.
 */
static int init_db(const struct config *cfg, const sigset_t *sigs)
{
    warn_weak_tls(cfg);
    struct db_conn_options conn_opt = migrate_conn_options(cfg);
    struct db_params *params = db_params_new(&conn_opt);
    if (!params)
        return -ENOMEM;
    int rc = -EIO;
    for (int attempt = 1; attempt <= cfg->db_init_retries; attempt++) {
        PGconn *conn = db_connect(params);
        if (conn && PQstatus(conn) == CONNECTION_OK) {
            rc = 0;
            if (cfg->migrate_on_start) {
                rc = migrate_up_backup(conn, migrations_builtin, migrations_builtin_count, 0,
                                       cfg->migrate_backup_dir, NULL);
                rc = rc < 0 ? rc : 0;
            }
            if (rc == 0)
                rc = search_language(conn, cfg->search_language);
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

/* The exit status of a start-up that init_db() ended with rc < 0 (logged). */
static int init_db_exit(const struct config *cfg, int rc)
{
    if (rc == -ECANCELED) {
        LOG(LOG_INFO, "stopped during start-up", LOG_STR("phase", "database"));
        return EXIT_OK;
    }
    if (rc == -EINVAL)
        return EXIT_USAGE; /* SEARCH_LANGUAGE: logged */
    LOG(LOG_ERROR, "giving up: the database could not be reached or migrated",
        LOG_INT("attempts", cfg->db_init_retries));
    return EXIT_RUNTIME;
}

/* Every prepared statement the serving process uses, for the pool. */
static struct pool_stmt *all_statements(size_t *ret_n)
{
    const struct {
        const struct pool_stmt *list;
        size_t n;
    } parts[] = {
        {desk_statements, desk_statements_count},
        {desk_chats_statements, desk_chats_statements_count},
        {desk_topic_statements, desk_topic_statements_count},
        {desk_business_statements, desk_business_statements_count},
        {desk_prune_statements, desk_prune_statements_count},
        {outbox_prune_statements, outbox_prune_statements_count},
        {outbox_statements, outbox_statements_count},
        {sender_statements, sender_statements_count},
        {lease_statements, lease_statements_count},
        {logdb_statements, logdb_statements_count},
        {poll_statements, poll_statements_count},
        {desk_canned_statements, desk_canned_statements_count},
        {desk_search_statements, desk_search_statements_count},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        n += parts[i].n;
    struct pool_stmt *all = calloc(n, sizeof(*all));
    if (!all)
        return NULL;
    n = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (size_t j = 0; j < parts[i].n; j++)
            all[n++] = parts[i].list[j];
    *ret_n = n;
    return all;
}

/* What serves updates however they arrive (webhook or getUpdates). */
struct core {
    struct pool_stmt *stmts;
    struct db_params *params;
    bool curl_ready;
    struct pool *pool;
    struct logdb *logdb;
    struct sender *sender;
    struct desk *desk;
    struct pipeline *pipeline;
    struct retention *retention;
    struct desk_timers *timers;
    struct desk_search_indexer *indexer;
};

/* ---- What the metrics and the health check read, for the modules below them ---- */

static size_t queue_depth(void *pipeline)
{
    return pipeline_queue_depth(pipeline);
}

static size_t queue_capacity(void *pipeline)
{
    return pipeline_queue_capacity(pipeline);
}

static size_t sender_backlog_of(void *sender)
{
    return sender_backlog(sender);
}

static void pool_stats_of(void *pool, struct pool_stats *ret)
{
    pool_stats(pool, ret);
}

static void pool_query_stats_of(void *pool, pool_query_stat_fn fn, void *fn_ud)
{
    pool_query_stats(pool, fn, fn_ud);
}

/*
 * Starts the modules in order - pool, sender (when there is a token),
 * workers. Returns 0, or -1 when one could not start (logged); call
 * core_stop() in either case.
 */
static int core_start(const struct config *cfg, const struct i18n *i18n, struct core *core)
{
    memset(core, 0, sizeof(*core));
    size_t nstmts = 0;
    core->stmts = all_statements(&nstmts);
    struct db_conn_options conn_opt = conn_options(cfg, cfg->db_statement_timeout_ms);
    struct pool_options pool_opt = pool_options(cfg);
    struct sender_options sender_opt = sender_options(cfg);
    core->params = db_params_new(&conn_opt);
    if (!core->stmts || !core->params || tg_api_global_init() < 0)
        return -1;
    core->curl_ready = true;
    if (tgm_init() < 0)
        LOG(LOG_WARN, "metrics registry incomplete", LOG_STR("route", "/metrics"));
    core->pool = pool_new(&pool_opt, core->params, core->stmts, nstmts);
    if (!core->pool)
        return -1;
    core->logdb = logdb_start(core->pool, &(struct logdb_options){
                                              .min_level = cfg->log_db_level,
                                              .retention_days = cfg->log_retention_days,
                                              .audit_retention_days = cfg->audit_retention_days,
                                          });
    if (!core->logdb)
        LOG(LOG_WARN, "the logs table writer did not start: events go to stderr only",
            LOG_STR("table", "logs"));
    if (cfg->telegram_bot_token) {
        core->sender = sender_start(&sender_opt, core->pool);
        if (!core->sender)
            return -1;
    }
    core->retention = retention_start(core->pool, &(struct retention_options){
                                                      .dedup_hours = cfg->dedup_retention_hours,
                                                      .outbox_days = cfg->outbox_retention_days,
                                                  });
    if (!core->retention)
        return -1;
    core->desk = desk_new(&(struct desk_options){
        .staff_ids = cfg->admin_ids,
        .n_staff_ids = cfg->n_admin_ids,
        .supervisor_ids = cfg->supervisor_ids,
        .n_supervisor_ids = cfg->n_supervisor_ids,
        .has_staff_chat = cfg->has_admin_chat_id,
        .staff_chat_id = cfg->admin_chat_id,
        .csat = cfg->csat,
        .first_response_sla_ms = cfg->first_response_sla_ms,
        .auto_close_solved_ms = cfg->auto_close_solved_ms,
        .business_zone = cfg->business_hours ? cfg->business_zone : NULL,
        .business_days = cfg->business_days,
        .business_open_min = cfg->business_open_min,
        .business_close_min = cfg->business_close_min,
        .i18n = i18n,
        .topics = cfg->staff_topics,
    });
    if (!core->desk)
        return -1;
    core->timers = desk_timers_start(core->desk, core->pool, core->sender);
    if (!core->timers)
        return -1;
    core->indexer = desk_search_indexer_start(core->pool);
    if (!core->indexer)
        return -1;
    core->pipeline = pipeline_start(
        &(struct pipeline_options){.workers = cfg->workers, .queue_capacity = cfg->queue_capacity},
        core->pool, core->desk, core->sender);
    if (!core->pipeline)
        return -1;
    tgm_watch(&(struct tgm_sources){
        .queue_depth = queue_depth,
        .queue_capacity = queue_capacity,
        .queue_ud = core->pipeline,
        .outbox_in_memory = core->sender ? sender_backlog_of : NULL,
        .outbox_ud = core->sender,
        .pool_stats = pool_stats_of,
        .pool_query_stats = pool_query_stats_of,
        .pool_ud = core->pool,
    });
    return 0;
}

/* What is left until end_ms (monotonic; 0: no end, dflt_ms), at least 0. */
static int64_t left_ms(int64_t end_ms, int64_t dflt_ms)
{
    if (end_ms == 0)
        return dflt_ms;
    int64_t left = end_ms - clock_mono_ms();
    return left < 0 ? 0 : left < dflt_ms ? left : dflt_ms;
}

/*
 * Stops them in reverse: every queued update answered after its commit,
 * outbox flushed - by end_ms (monotonic) when it is not 0. What the sender
 * could not finish stays in the outbox for the next start.
 */
static void core_stop(struct core *core, int64_t end_ms)
{
    tgm_unwatch();
    pipeline_free(core->pipeline);
    desk_search_indexer_stop(core->indexer);
    desk_timers_stop(core->timers);
    desk_free(core->desk);
    retention_stop(core->retention);
    sender_stop(core->sender, left_ms(end_ms, 5000));
    logdb_stop(core->logdb, left_ms(end_ms, 2000));
    pool_free(core->pool);
    db_params_free(core->params);
    free(core->stmts);
    if (core->curl_ready)
        tg_api_global_cleanup();
}

/*
 * Starts the core and the HTTP server, waits for a stop signal and stops
 * them in reverse: no new connections, every queued update answered after
 * its commit, answers sent, outbox flushed.
 */
static int serve(const struct config *cfg, const struct i18n *i18n, const sigset_t *sigs)
{
    int rc = EXIT_RUNTIME;
    struct core core;
    struct health *health = NULL;
    struct http_server *http = NULL;
    char err[256];
    int64_t stop_end_ms = 0;

    if (core_start(cfg, i18n, &core) < 0)
        goto out;
    health = health_start(core.pool, &(struct health_options){
                                         .version = TGDESK_VERSION,
                                         .queue_depth = queue_depth,
                                         .queue_capacity = queue_capacity,
                                         .queue_ud = core.pipeline,
                                         .webhook_insecure = !cfg->webhook_secret,
                                     });
    struct http_app app = {.pipeline = core.pipeline, .health = health};
    struct http_server_options http_opt = http_options(cfg);
    http = http_server_start(&http_opt, &app, err, sizeof(err));
    if (!http) {
        LOG(LOG_ERROR, "cannot start the HTTP server", LOG_STR("error", err));
        goto out;
    }
    LOG(LOG_INFO, "listening", LOG_STR("addr", cfg->listen_addr),
        LOG_INT("port", http_server_port(http)), LOG_STR("webhook_path", cfg->webhook_path),
        LOG_BOOL("tls", cfg->tls_cert_file != NULL));
    if (cfg->ops_port)
        LOG(LOG_INFO, "operations listener: /health, /livez and /metrics",
            LOG_STR("addr", cfg->ops_listen_addr), LOG_INT("port", http_server_ops_port(http)));

    int sig = wait_signal(sigs, -1);
    LOG(LOG_INFO, "stopping", LOG_STR("signal", strsignal(sig)));
    health_set_draining(health);
    /* Draining: /health answers 503 so that the load balancer takes the
     * instance out, while it still serves what it is sent; a second signal
     * cuts this short. */
    if (cfg->drain_ms > 0) {
        LOG(LOG_INFO, "draining: /health answers 503 while still serving",
            LOG_INT("drain_ms", cfg->drain_ms));
        if (wait_signal(sigs, cfg->drain_ms) > 0)
            LOG(LOG_INFO, "a second signal: stopping now", LOG_INT("drain_ms", cfg->drain_ms));
    }
    http_server_drain(http);
    /* Whatever the database does, the stop ends soon: every wait on it ends
     * by this deadline (the exit status stays 0: what it cut short is
     * answered 503 and redelivered, or waits in the outbox for the next start). */
    stop_end_ms = clock_mono_ms() + STOP_MS;
    pool_stop_by(core.pool, STOP_DB_MS);
    pipeline_stop(core.pipeline);
    int64_t idle_ms = left_ms(stop_end_ms, 5000);
    if (http_server_wait_idle(http, idle_ms) < 0)
        LOG(LOG_WARN, "some HTTP answers were still being sent at stop",
            LOG_INT("waited_ms", idle_ms));
    rc = EXIT_OK;

out:
    /* The HTTP thread may still submit (and be refused) until it is stopped. */
    http_server_stop(http);
    health_stop(health);
    core_stop(&core, stop_end_ms);
    return rc;
}

/*
 * The message catalogs of every language tgdesk was built with (po/LINGUAS)
 * from LOCALE_DIR; unset, from the build tree when this binary is the build
 * tree's (tests, scripts/run.sh), else from where `meson install` puts them.
 * NULL, said on stderr, when one is missing or DEFAULT_LANGUAGE has none.
 */
static struct i18n *load_catalogs(const struct config *cfg)
{
    const char *dir = cfg->locale_dir;
    char exe[4096], build[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
    if (slash)
        *slash = '\0';
    if (!dir)
        dir = slash && realpath(TGDESK_BUILD_DIR, build) && strcmp(exe, build) == 0
                  ? TGDESK_BUILD_LOCALEDIR
                  : TGDESK_LOCALEDIR;
    char names[] = TGDESK_LANGUAGES, *save = NULL;
    const char *langs[64];
    size_t count = 0;
    for (char *t = strtok_r(names, " ", &save); t && count < 64; t = strtok_r(NULL, " ", &save))
        langs[count++] = t;
    struct i18n *i18n = NULL;
    char err[1024];
    int rc = i18n_load(dir, langs, count, cfg->default_language, &i18n, err, sizeof(err));
    if (rc < 0) {
        bool lang = rc == -ENOENT && strstr(err, "no catalog for language");
        fprintf(stderr, "tgdesk: %s%s%s: %s%s\n", lang ? "DEFAULT_LANGUAGE=" : "",
                lang ? cfg->default_language : "message catalogs in ", lang ? "" : dir, err,
                lang || cfg->locale_dir ? "" : " (set LOCALE_DIR to where they are)");
        return NULL;
    }
    LOG(LOG_INFO, "message catalogs", LOG_STR("dir", dir), LOG_STR("languages", TGDESK_LANGUAGES),
        LOG_STR("default_language", cfg->default_language));
    return i18n;
}

/* No secret, no service: without WEBHOOK_SECRET anyone who finds the URL
 * could post updates as anyone, staff included. */
static const char no_secret_msg[] =
    "tgdesk: WEBHOOK_SECRET is not set: set it (1-256 of A-Z a-z 0-9 _ -) and pass it to "
    "Telegram with `tgdesk webhook set URL`, or set WEBHOOK_INSECURE=true for a local test\n";

static int cmd_serve(const struct config *cfg)
{
    if (!cfg->webhook_secret && !cfg->webhook_insecure) {
        fputs(no_secret_msg, stderr);
        return EXIT_USAGE;
    }
    sigset_t sigs;
    block_signals(&sigs);

    LOG(LOG_INFO, "tgdesk starting", LOG_STR("version", TGDESK_VERSION),
        LOG_INT("workers", cfg->workers), LOG_BOOL("migrate_on_start", cfg->migrate_on_start));
    if (!cfg->webhook_secret)
        LOG(LOG_WARN,
            "WEBHOOK_SECRET is not set and WEBHOOK_INSECURE=true: anyone who finds the webhook "
            "URL can post updates; for a local test only",
            LOG_STR("path", cfg->webhook_path));
    if (!cfg->telegram_bot_token)
        LOG(LOG_WARN, "TELEGRAM_BOT_TOKEN is not set: replies cannot be sent",
            LOG_STR("api", cfg->telegram_api_url));

    struct i18n *i18n = load_catalogs(cfg);
    if (!i18n)
        return EXIT_USAGE;
    int rc = init_db(cfg, &sigs);
    if (rc < 0) {
        i18n_free(i18n);
        return init_db_exit(cfg, rc);
    }

    rc = serve(cfg, i18n, &sigs);
    i18n_free(i18n);
    LOG(LOG_INFO, "stopped", LOG_STR("version", TGDESK_VERSION));
    return rc;
}

/* One GET of the local /health, for container health checks: exit 0 when healthy. */
static int cmd_healthcheck(const struct config *cfg)
{
    if (tg_api_global_init() < 0)
        return EXIT_RUNTIME;
    int rc = healthcheck_run(
        &(struct healthcheck_options){
            /* With an operations listener, /health is served there only. */
            .listen_addr = cfg->ops_port ? cfg->ops_listen_addr : cfg->listen_addr,
            .port = cfg->ops_port ? cfg->ops_port : cfg->port,
            .tls = !cfg->ops_port && cfg->tls_cert_file != NULL,
        },
        2000, stdout);
    tg_api_global_cleanup();
    return rc == 0 ? EXIT_OK : EXIT_RUNTIME;
}

/* The connection of migrate, adopt and db grants; NULL when it failed (logged). */
static PGconn *connect_migrate(const struct config *cfg)
{
    struct db_conn_options conn_opt = migrate_conn_options(cfg);
    struct db_params *params = db_params_new(&conn_opt);
    PGconn *conn = params ? connect_once(params) : NULL;
    db_params_free(params);
    return conn;
}

static int cmd_adopt(const struct config *cfg, int argc, char **argv)
{
    bool dry_run = argc >= 1 && strcmp(argv[0], "--dry-run") == 0;
    if (argc > (dry_run ? 1 : 0))
        return usage_error("unexpected argument '%s'", argv[dry_run ? 1 : 0]);
    PGconn *conn = connect_migrate(cfg);
    if (!conn)
        return EXIT_RUNTIME;
    struct adopt_options opt = {
        .timezone = cfg->adopt_timezone,
        .dry_run = dry_run,
        .backup_dir = cfg->migrate_backup_dir,
    };
    int rc = adopt_run(conn, migrations_builtin, migrations_builtin_count, &opt, stdout, stderr);
    PQfinish(conn);
    if (rc == 1)
        printf("nothing to adopt: the database already has tgdesk's schema\n");
    return rc < 0 ? EXIT_RUNTIME : EXIT_OK;
}

static int cmd_db(const struct config *cfg, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "grants") != 0)
        return usage_error("db needs a subcommand: grants ROLE");
    if (argc != 2)
        return usage_error(argc < 2 ? "db grants needs the role that will serve"
                                    : "unexpected argument '%s'",
                           argv[argc < 2 ? 0 : 2]);
    PGconn *conn = connect_migrate(cfg);
    if (!conn)
        return EXIT_RUNTIME;
    int rc = migrate_grants(conn, argv[1], stdout);
    PQfinish(conn);
    return rc < 0 ? EXIT_RUNTIME : EXIT_OK;
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

    PGconn *conn = connect_migrate(cfg);
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
        rc = migrate_up_backup(conn, set, n, 0, cfg->migrate_backup_dir, stdout);
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

/* The getUpdates loop runs on its own thread; the main thread waits for signals. */
struct poller {
    const struct config *cfg;
    struct core *core;
    pthread_t main_thread;
    atomic_bool stop;
    int rc;
};

static void *poller_main(void *arg)
{
    struct poller *p = arg;
    struct poll_options opt = poll_options(p->cfg);
    p->rc = poll_run(&opt, p->core->pool, p->core->pipeline, &p->stop);
    /* Wake the main thread (SIGUSR1 is blocked and waited for there). */
    pthread_kill(p->main_thread, SIGUSR1);
    return NULL;
}

static int cmd_poll(const struct config *cfg)
{
    if (!cfg->telegram_bot_token) {
        fprintf(stderr, "tgdesk: poll needs TELEGRAM_BOT_TOKEN to call getUpdates\n");
        return EXIT_USAGE;
    }
    sigset_t sigs;
    block_signals(&sigs);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    LOG(LOG_INFO, "tgdesk starting", LOG_STR("version", TGDESK_VERSION), LOG_STR("mode", "poll"),
        LOG_INT("workers", cfg->workers), LOG_BOOL("migrate_on_start", cfg->migrate_on_start));
    struct i18n *i18n = load_catalogs(cfg);
    if (!i18n)
        return EXIT_USAGE;
    int rc = init_db(cfg, &sigs);
    if (rc < 0) {
        i18n_free(i18n);
        return init_db_exit(cfg, rc);
    }

    struct core core;
    struct poller p = {.cfg = cfg, .core = &core, .main_thread = pthread_self()};
    atomic_init(&p.stop, false);
    pthread_t thread;
    if (core_start(cfg, i18n, &core) < 0 || pthread_create(&thread, NULL, poller_main, &p) != 0) {
        core_stop(&core, 0);
        i18n_free(i18n);
        return EXIT_RUNTIME;
    }
    int sig = wait_signal(&sigs, -1);
    if (sig != SIGUSR1)
        LOG(LOG_INFO, "stopping", LOG_STR("signal", strsignal(sig)));
    atomic_store(&p.stop, true);
    int64_t stop_end_ms = clock_mono_ms() + STOP_MS;
    pool_stop_by(core.pool, STOP_DB_MS);
    pthread_join(thread, NULL);
    core_stop(&core, stop_end_ms);
    i18n_free(i18n);
    if (p.rc == -EEXIST)
        fprintf(stderr, "tgdesk: a webhook is set for this bot, so Telegram refuses getUpdates; "
                        "run `tgdesk webhook delete` first\n");
    else if (p.rc == -EACCES)
        fprintf(stderr, "tgdesk: the Bot API refused TELEGRAM_BOT_TOKEN\n");
    LOG(LOG_INFO, "stopped", LOG_STR("version", TGDESK_VERSION));
    return p.rc == 0 ? EXIT_OK : EXIT_RUNTIME;
}

static int cmd_webhook(const struct config *cfg, int argc, char **argv)
{
    if (argc < 1)
        return usage_error("webhook needs a subcommand: set URL, info or delete");
    const char *sub = argv[0];
    bool is_set = strcmp(sub, "set") == 0, is_info = strcmp(sub, "info") == 0;
    bool is_delete = strcmp(sub, "delete") == 0;
    if (!is_set && !is_info && !is_delete)
        return usage_error("unknown webhook subcommand '%s'", sub);
    if (is_set && argc < 2)
        return usage_error("webhook set needs the URL Telegram should post updates to");
    if (argc > (is_set ? 2 : 1))
        return usage_error("unexpected argument '%s'", argv[is_set ? 2 : 1]);
    const char *url = is_set ? argv[1] : NULL;
    if (url && strncasecmp(url, "https://", 8) != 0)
        return usage_error("webhook set: the URL must start with https:// (Telegram posts "
                           "over HTTPS only), got '%s'",
                           url);
    if (!cfg->telegram_bot_token) {
        fprintf(stderr, "tgdesk: webhook %s needs TELEGRAM_BOT_TOKEN\n", sub);
        return EXIT_USAGE;
    }
    /* serve refuses to run without the secret: setting a webhook without it
     * would point Telegram at a service that cannot start. */
    if (is_set && !cfg->webhook_secret && !cfg->webhook_insecure) {
        fputs(no_secret_msg, stderr);
        return EXIT_USAGE;
    }
    if (tg_api_global_init() < 0)
        return EXIT_RUNTIME;
    struct tg_api *api = tg_api_new(cfg->telegram_api_url, cfg->telegram_bot_token,
                                    (long)cfg->telegram_api_timeout_ms);
    int rc = -EIO;
    if (api)
        tg_api_want_result(api, true); /* getWebhookInfo's answer is printed */
    if (!api) {
        fprintf(stderr, "tgdesk: cannot create a Bot API client for TELEGRAM_API_URL\n");
    } else if (is_set) {
        /* Telegram's connections all come from one address: stay within HTTP_MAX_PER_IP. */
        int max = cfg->http_max_per_ip < TG_WEBHOOK_MAX_CONNECTIONS ? cfg->http_max_per_ip
                                                                    : TG_WEBHOOK_MAX_CONNECTIONS;
        rc = tg_webhook_set(api, url, cfg->webhook_secret, max < 1 ? 1 : max, stdout, stderr);
    } else if (is_info) {
        rc = tg_webhook_info(api, stdout, stderr);
    } else {
        rc = tg_webhook_delete(api, stdout, stderr);
    }
    tg_api_free(api);
    tg_api_global_cleanup();
    return rc == 0 ? EXIT_OK : EXIT_RUNTIME;
}

static int cmd_outbox(const struct config *cfg, int argc, char **argv)
{
    if (argc < 1)
        return usage_error("outbox needs a subcommand: failed, or retry ID... | --all");
    const char *sub = argv[0];
    bool is_failed = strcmp(sub, "failed") == 0, is_retry = strcmp(sub, "retry") == 0;
    if (!is_failed && !is_retry)
        return usage_error("unknown outbox subcommand '%s'", sub);
    if (is_failed && argc > 1)
        return usage_error("unexpected argument '%s'", argv[1]);
    if (is_retry && argc < 2)
        return usage_error("outbox retry needs the ids of failed calls, or --all");
    bool all = is_retry && strcmp(argv[1], "--all") == 0;
    if (all && argc > 2)
        return usage_error("outbox retry --all takes no ids, got '%s'", argv[2]);
    size_t n = is_retry && !all ? (size_t)(argc - 1) : 0;
    int64_t *ids = calloc(n ? n : 1, sizeof(*ids));
    if (!ids)
        return EXIT_RUNTIME;
    for (size_t i = 0; i < n; i++) {
        if (strnum_i64(argv[1 + i], 1, INT64_MAX, &ids[i]) < 0) {
            free(ids);
            return usage_error("outbox retry: an id is a whole number from 1, not '%s'",
                               argv[1 + i]);
        }
    }

    struct db_conn_options conn_opt = conn_options(cfg, cfg->db_statement_timeout_ms);
    struct db_params *params = db_params_new(&conn_opt);
    PGconn *conn = params ? connect_once(params) : NULL;
    db_params_free(params);
    if (!conn) {
        free(ids);
        return EXIT_RUNTIME;
    }
    int rc = EXIT_RUNTIME;
    if (is_failed) {
        rc = outbox_admin_list_failed(conn, stdout) < 0 ? EXIT_RUNTIME : EXIT_OK;
    } else if (all) {
        int64_t queued = outbox_admin_retry_all(conn);
        if (queued >= 0) {
            printf("%" PRId64 " failed call(s) queued again\n", queued);
            rc = EXIT_OK;
        }
    } else {
        int64_t queued = 0;
        int r = outbox_admin_retry(conn, ids, n, stderr, &queued);
        if (r >= 0) {
            printf("%" PRId64 " failed call(s) queued again\n", queued);
            rc = r == 0 ? EXIT_OK : EXIT_RUNTIME;
        }
    }
    PQfinish(conn);
    free(ids);
    return rc;
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
        /* `outbox retry --all`: the one option after a command. */
        bool retry_all = strcmp(argv[i], "--all") == 0 && strcmp(cmd, "outbox") == 0;
        bool dry_run = strcmp(argv[i], "--dry-run") == 0 && strcmp(cmd, "adopt") == 0;
        if (argv[i][0] == '-' && !retry_all && !dry_run)
            return usage_error("unknown option '%s'", argv[i]);
    }

    bool is_serve = strcmp(cmd, "serve") == 0, is_migrate = strcmp(cmd, "migrate") == 0;
    bool is_poll = strcmp(cmd, "poll") == 0, is_webhook = strcmp(cmd, "webhook") == 0;
    bool is_check = strcmp(cmd, "healthcheck") == 0, is_outbox = strcmp(cmd, "outbox") == 0;
    bool is_adopt = strcmp(cmd, "adopt") == 0, is_db = strcmp(cmd, "db") == 0;
    if (!is_serve && !is_migrate && !is_poll && !is_webhook && !is_check && !is_outbox &&
        !is_adopt && !is_db)
        return usage_error("unknown command '%s'", cmd);
    if ((is_serve || is_poll || is_check) && argc > first)
        return usage_error("%s takes no arguments, got '%s'", cmd, argv[first]);

    struct config cfg;
    if (load_config(&cfg) < 0)
        return EXIT_USAGE;

    int rc = is_serve     ? cmd_serve(&cfg)
             : is_check   ? cmd_healthcheck(&cfg)
             : is_poll    ? cmd_poll(&cfg)
             : is_webhook ? cmd_webhook(&cfg, argc - first, argv + first)
             : is_outbox  ? cmd_outbox(&cfg, argc - first, argv + first)
             : is_adopt   ? cmd_adopt(&cfg, argc - first, argv + first)
             : is_db      ? cmd_db(&cfg, argc - first, argv + first)
                          : cmd_migrate(&cfg, argc - first, argv + first);
    config_free(&cfg);
    return rc;
}
