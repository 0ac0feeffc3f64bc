#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/health.h"
#include "log.h"
#include "metrics/metrics.h"
#include "metrics/tgm.h"
#include "pipeline/pipeline.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/strnum.h"

/* Largest certificate or key file accepted for HTTPS. */
#define TLS_FILE_MAX (256 * 1024)

/*
 * Header and read-buffer memory per connection (the webhook body is copied
 * out as it arrives, so a body of any allowed size passes through). MHD clears
 * this pool for every request: at 64 KiB that was a quarter of all
 * instructions per update, at 8 KiB still 6 % (callgrind). 4 KiB takes
 * request headers of up to about 3 KB (Telegram sends about 300 bytes, a
 * proxy adds a few forwarding headers); larger ones get 431.
 */
#define CONN_MEMORY_LIMIT (4 * 1024)

/* Above this many connections allowed, the HTTP thread waits with epoll, not poll. */
#define POLL_MAX_CONNECTIONS 4096

#define SECRET_HEADER "X-Telegram-Bot-Api-Secret-Token"

enum method { M_GET = 1, M_HEAD = 2, M_POST = 4, M_OPTIONS = 8 };

/* Answers built once and shared by every connection (MHD counts references). */
enum canned {
    ANS_OK,
    ANS_LIVEZ,
    ANS_BAD_REQUEST,
    ANS_UNAUTHORIZED,
    ANS_METRICS_AUTH, /* 401 for /metrics, with WWW-Authenticate */
    ANS_NOT_FOUND,
    ANS_TOO_LARGE,
    ANS_UNSUPPORTED,
    ANS_BUSY,     /* 503, queue full or draining */
    ANS_DB_DOWN,  /* 503, database trouble */
    ANS_INTERNAL, /* 500, out of memory */
    ANS_COUNT
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_options opt;
    const struct http_app *app;
    char *tls_cert;
    char *tls_key;
    uint16_t port;
    atomic_bool draining;
    MHD_socket listen_fd; /* ours once quiesced */
    atomic_long inflight; /* requests begun and not yet completed */
    struct MHD_Response *canned[ANS_COUNT];
};

/* State of one webhook request, from its headers to its answer. */
struct webhook_req {
    struct http_server *srv;
    struct job job;
    struct buf body; /* capped at max_body_bytes */
    bool too_large;
    bool submitted;
    bool queue_full; /* refused by the queue: 503 with the short Retry-After */
    atomic_bool done;
    struct MHD_Connection *conn;
    struct timespec start;
};

struct route;
typedef enum MHD_Result (*route_fn)(struct http_server *srv, const struct route *r,
                                    struct MHD_Connection *conn, const char *method,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls);

struct route {
    const char *path; /* NULL: the configured webhook path */
    unsigned methods;
    const char *allow; /* Allow header for 405 */
    route_fn handler;
    const char *metric; /* route label of tgdesk_http_* */
};

/* Marks a connection whose request was answered without keeping state. */
static char no_state;

/* The route being answered, for the HTTP metrics (one event-loop thread). */
static const char *current_route = "other";

static enum MHD_Result queue_counted(struct MHD_Connection *conn, unsigned status,
                                     struct MHD_Response *r, const struct timespec *t0)
{
    tgm_http(current_route, (int)status, t0 ? clock_since_s(t0) : 0.0);
    return MHD_queue_response(conn, status, r);
}

static enum MHD_Result queue_canned(struct http_server *srv, struct MHD_Connection *conn,
                                    unsigned status, enum canned which)
{
    return queue_counted(conn, status, srv->canned[which], NULL);
}

static enum MHD_Result handle_livez(struct http_server *srv, const struct route *r,
                                    struct MHD_Connection *conn, const char *method,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    return queue_canned(srv, conn, MHD_HTTP_OK, ANS_LIVEZ);
}

/* Constant-time comparison: the time taken does not depend on where they differ. */
static bool secret_equal(const char *given, const char *want)
{
    size_t gl = given ? strlen(given) : 0, wl = strlen(want);
    unsigned char diff = gl != wl;
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? given[i] : 0);
    return diff == 0;
}

static bool is_json(const char *ctype)
{
    if (!ctype)
        return false;
    size_t n = strlen("application/json");
    return strncasecmp(ctype, "application/json", n) == 0 &&
           (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

/* Called by a worker thread once the job's fate is sealed. */
static void webhook_complete(struct job *job)
{
    struct webhook_req *req = job->userdata;
    atomic_store(&req->done, true);
    MHD_resume_connection(req->conn);
}

static enum MHD_Result webhook_answer(struct http_server *srv, struct webhook_req *req)
{
    /* Any 2xx is "delivered" to Telegram; anything else comes again. */
    switch (req->job.verdict) {
    case PIPELINE_PROCESSED:
    case PIPELINE_DUPLICATE:
    case PIPELINE_IGNORED:
    case PIPELINE_DEAD:
        return queue_counted(req->conn, MHD_HTTP_OK, srv->canned[ANS_OK], &req->start);
    case PIPELINE_REJECTED:
        return queue_counted(req->conn, MHD_HTTP_BAD_REQUEST, srv->canned[ANS_BAD_REQUEST],
                             &req->start);
    case PIPELINE_RETRY:
        break;
    }
    return queue_counted(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                         srv->canned[req->queue_full ? ANS_BUSY : ANS_DB_DOWN], &req->start);
}

static enum MHD_Result handle_webhook(struct http_server *srv, const struct route *r,
                                      struct MHD_Connection *conn, const char *method,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    const struct http_server_options *opt = &srv->opt;
    struct webhook_req *req = *con_cls;

    if (!req) {
        if (opt->webhook_secret &&
            !secret_equal(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, SECRET_HEADER),
                          opt->webhook_secret))
            return queue_canned(srv, conn, MHD_HTTP_UNAUTHORIZED, ANS_UNAUTHORIZED);
        if (!is_json(
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
            return queue_canned(srv, conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, ANS_UNSUPPORTED);
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t n = 0;
        if (cl && strnum_i64(cl, 0, opt->max_body_bytes, &n) < 0)
            return queue_canned(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, ANS_TOO_LARGE);
        if (atomic_load(&srv->draining) || !srv->app->pipeline)
            return queue_canned(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, ANS_BUSY);
        req = calloc(1, sizeof(*req));
        if (!req)
            return queue_canned(srv, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, ANS_INTERNAL);
        buf_init(&req->body, (size_t)opt->max_body_bytes);
        req->srv = srv;
        req->conn = conn;
        clock_gettime(CLOCK_MONOTONIC, &req->start);
        *con_cls = req;
        return MHD_YES;
    }

    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large)
            return MHD_YES;
        int rc = buf_addn(&req->body, upload_data, n);
        if (rc == -ENOMEM)
            return MHD_NO;
        if (rc < 0) {
            /* No Content-Length (chunked) and too big: read on, keep nothing. */
            req->too_large = true;
            buf_free(&req->body);
        }
        return MHD_YES;
    }

    if (req->submitted) {
        if (!atomic_load(&req->done))
            return MHD_YES; /* spurious call while suspended */
        return webhook_answer(srv, req);
    }
    if (req->too_large)
        return queue_canned(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, ANS_TOO_LARGE);

    req->job.body = buf_str(&req->body);
    req->job.len = buf_len(&req->body);
    req->job.complete = webhook_complete;
    req->job.userdata = req;
    req->submitted = true;
    /* Suspend first: a worker may resume the connection before submit returns. */
    MHD_suspend_connection(conn);
    if (pipeline_submit(srv->app->pipeline, &req->job) < 0) {
        LOG(LOG_WARN, "queue full or stopping: answering 503",
            LOG_INT("capacity", (int64_t)pipeline_queue_capacity(srv->app->pipeline)));
        req->job.verdict = PIPELINE_RETRY;
        req->queue_full = true;
        tgm_update_deferred("queue_full");
        atomic_store(&req->done, true);
        MHD_resume_connection(conn);
    }
    return MHD_YES;
}

/* Readiness from the health module's cached verdict: never blocks this thread. */
static enum MHD_Result handle_health(struct http_server *srv, const struct route *r,
                                     struct MHD_Connection *conn, const char *method,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    struct health_report rep;
    if (!srv->app->health)
        return queue_canned(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE, ANS_BUSY);
    health_report(srv->app->health, &rep);
    size_t len = 0;
    char *body = health_render_json(&rep, &len);
    if (!body)
        return queue_canned(srv, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, ANS_INTERNAL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, HEALTH_CONTENT_TYPE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = queue_counted(conn, (unsigned)health_http_status(&rep), resp, NULL);
    MHD_destroy_response(resp);
    return ret;
}

/* True when the request carries "Authorization: Bearer <METRICS_TOKEN>" (or none is set). */
static bool metrics_allowed(const struct http_server *srv, struct MHD_Connection *conn)
{
    const char *want = srv->opt.metrics_token;
    if (!want)
        return true;
    const char *given =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    static const char bearer[] = "Bearer ";
    if (!given || strncasecmp(given, bearer, sizeof(bearer) - 1) != 0)
        return false;
    return secret_equal(given + sizeof(bearer) - 1, want);
}

static enum MHD_Result handle_metrics(struct http_server *srv, const struct route *r,
                                      struct MHD_Connection *conn, const char *method,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    if (!metrics_allowed(srv, conn))
        return queue_canned(srv, conn, MHD_HTTP_UNAUTHORIZED, ANS_METRICS_AUTH);
    struct buf b;
    buf_init(&b, TGM_MAX_BODY);
    size_t len = 0;
    char *text = NULL;
    if (tgm_render(&b) == 0) {
        len = buf_len(&b);
        text = buf_take(&b);
    }
    buf_free(&b);
    if (!text)
        return queue_canned(srv, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, ANS_INTERNAL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
    enum MHD_Result ret = queue_counted(conn, MHD_HTTP_OK, resp, NULL);
    MHD_destroy_response(resp);
    return ret;
}

static const struct route routes[] = {
    {NULL, M_POST, "POST", handle_webhook, "webhook"},
    {"/health", M_GET | M_HEAD | M_OPTIONS, "GET, HEAD, OPTIONS", handle_health, "health"},
    {"/livez", M_GET | M_HEAD, "GET, HEAD", handle_livez, "livez"},
    {"/metrics", M_GET | M_HEAD, "GET, HEAD", handle_metrics, "metrics"},
    /* HAProxy's default check is OPTIONS / over HTTP/1.0. */
    {"/", M_OPTIONS, "OPTIONS", handle_health, "health"},
};

static unsigned method_bit(const char *method)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return M_GET;
    if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
        return M_HEAD;
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
        return M_POST;
    if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0)
        return M_OPTIONS;
    return 0;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *body,
                                    const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = queue_counted(conn, status, r, NULL);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    if (*con_cls == &no_state) {
        /* Answered already; swallow the rest of an unwanted body. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*con_cls == NULL)
        atomic_fetch_add(&srv->inflight, 1);

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        if (strcmp(url, r->path ? r->path : srv->opt.webhook_path) != 0)
            continue;
        current_route = r->metric;
        if (!(method_bit(method) & r->methods)) {
            *con_cls = &no_state;
            return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
                                r->allow);
        }
        void *state = *con_cls;
        enum MHD_Result ret =
            r->handler(srv, r, conn, method, upload_data, upload_data_size, &state);
        *con_cls = state ? state : &no_state;
        return ret;
    }
    *con_cls = &no_state;
    current_route = "other";
    return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    if (*con_cls == NULL)
        return;
    if (*con_cls != &no_state) {
        struct webhook_req *req = *con_cls;
        buf_free(&req->body);
        free(req);
    }
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    LOG(LOG_WARN, "http server", LOG_STR("detail", msg));
}

static char *read_file(const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(TLS_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, TLS_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n > TLS_FILE_MAX || n == 0) {
        snprintf(err, cap, "%s is empty, unreadable or larger than %d bytes", path, TLS_FILE_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static struct MHD_Response *make_canned(const char *body, const char *ctype,
                                        const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return NULL;
    if (ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (retry_after)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    return r;
}

static bool make_all_canned(struct http_server *srv)
{
    const char *text = "text/plain; charset=utf-8";
    srv->canned[ANS_OK] = make_canned("", NULL, NULL);
    srv->canned[ANS_LIVEZ] = make_canned("ok\n", text, NULL);
    srv->canned[ANS_BAD_REQUEST] = make_canned("not a Telegram Update\n", text, NULL);
    srv->canned[ANS_UNAUTHORIZED] = make_canned("missing or wrong secret token\n", text, NULL);
    srv->canned[ANS_METRICS_AUTH] = make_canned("missing or wrong bearer token\n", text, NULL);
    if (srv->canned[ANS_METRICS_AUTH])
        MHD_add_response_header(srv->canned[ANS_METRICS_AUTH], MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer");
    srv->canned[ANS_NOT_FOUND] = make_canned("not found\n", text, NULL);
    srv->canned[ANS_TOO_LARGE] = make_canned("body too large\n", text, NULL);
    srv->canned[ANS_UNSUPPORTED] =
        make_canned("expected Content-Type: application/json\n", text, NULL);
    srv->canned[ANS_BUSY] = make_canned("busy, retry later\n", text, "1");
    srv->canned[ANS_DB_DOWN] = make_canned("temporarily unavailable, retry later\n", text, "5");
    srv->canned[ANS_INTERNAL] = make_canned("internal error\n", text, NULL);
    for (int i = 0; i < ANS_COUNT; i++)
        if (!srv->canned[i])
            return false;
    return true;
}

struct http_server *http_server_start(const struct http_server_options *opt,
                                      const struct http_app *app, char *err, size_t cap)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (srv) {
        srv->listen_fd = MHD_INVALID_SOCKET;
        srv->opt = *opt;
        srv->app = app;
    }
    if (!srv || !make_all_canned(srv)) {
        snprintf(err, cap, "out of memory");
        goto fail;
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    /* poll(2) up to POLL_MAX_CONNECTIONS: epoll costs two epoll_ctl calls per
     * request, as MHD suspends and resumes each webhook while its commit is
     * under way; one poll() of the whole set per wake-up is cheaper at a
     * hundred connections (A/B runs: tgdesk CPU per update -8 %, throughput +2..9 %). */
    unsigned flags = (opt->max_connections > POLL_MAX_CONNECTIONS ? MHD_USE_EPOLL_INTERNAL_THREAD
                                                                  : MHD_USE_POLL_INTERNAL_THREAD) |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, opt->listen_addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)opt->port);
    } else if (inet_pton(AF_INET6, opt->listen_addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)opt->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, cap, "LISTEN_ADDR %s is not an IP address", opt->listen_addr);
        goto fail;
    }

    if (opt->tls_cert_file) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, cap, "this libmicrohttpd was built without TLS support");
            goto fail;
        }
        srv->tls_cert = read_file(opt->tls_cert_file, err, cap);
        if (!srv->tls_cert)
            goto fail;
        srv->tls_key = read_file(opt->tls_key_file, err, cap);
        if (!srv->tls_key)
            goto fail;
        flags |= MHD_USE_TLS;
    }

    /* The logger goes first so that no message escapes to MHD's own. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_error, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)opt->max_connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)opt->max_per_ip, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)opt->timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)CONN_MEMORY_LIMIT, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {srv->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert},
        {srv->tls_key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, srv->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };

    errno = 0;
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY, opts,
                                   MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, cap, "cannot listen on %s:%d: %s", opt->listen_addr, opt->port,
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : (uint16_t)opt->port;
    return srv;

fail:
    http_server_stop(srv);
    return NULL;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_drain(struct http_server *srv)
{
    if (atomic_exchange(&srv->draining, true))
        return;
    srv->listen_fd = MHD_quiesce_daemon(srv->daemon);
}

int http_server_wait_idle(struct http_server *srv, int64_t timeout_ms)
{
    for (int64_t waited = 0; atomic_load(&srv->inflight) > 0; waited += 10) {
        if (waited >= timeout_ms)
            return -ETIMEDOUT;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
    }
    return 0;
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon) {
        /* After quiescing, the listening socket is ours to close - but only
         * once the daemon's threads are gone. */
        http_server_drain(srv);
        MHD_stop_daemon(srv->daemon);
        if (srv->listen_fd != MHD_INVALID_SOCKET)
            close(srv->listen_fd);
    }
    for (int i = 0; i < ANS_COUNT; i++)
        if (srv->canned[i])
            MHD_destroy_response(srv->canned[i]);
    free(srv->tls_cert);
    free(srv->tls_key);
    free(srv);
}
