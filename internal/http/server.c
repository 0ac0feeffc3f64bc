#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
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
#include "net/cidr.h"
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
#define FORWARDED_FOR "X-Forwarded-For"

/* X-Forwarded-For lines looked at; a request with more is refused (403). */
#define FORWARDED_MAX 8

/* Connections the operations listener takes at once (health checks, scrapes). */
#define OPS_MAX_CONNECTIONS 64

/*
 * How often the deadline sweep looks at the connections: a tenth of
 * HTTP_REQUEST_TIMEOUT, within these bounds, so that a connection is closed
 * at most a tenth (at most a second) past its deadline.
 */
#define SWEEP_MIN_MS 100
#define SWEEP_MAX_MS 1000

/*
 * A connection idle after a request counts as busy again once data arrived
 * more than this margin after the previous request was completed (TCP_INFO's
 * clock is the kernel's jiffies: a few milliseconds coarse, so the last bytes
 * of the previous request may seem to come up to a jiffy or two later).
 */
#define IDLE_MARGIN_MS 20

enum method { M_GET = 1, M_HEAD = 2, M_POST = 4, M_OPTIONS = 8 };

/* Answers built once and shared by every connection (MHD counts references). */
enum canned {
    ANS_OK,
    ANS_LIVEZ,
    ANS_BAD_REQUEST,
    ANS_UNAUTHORIZED,
    ANS_METRICS_AUTH, /* 401 for /metrics, with WWW-Authenticate */
    ANS_FORBIDDEN,    /* 403 for a source outside WEBHOOK_ALLOWED_CIDRS; closes */
    ANS_NOT_FOUND,
    ANS_TOO_LARGE,
    ANS_UNSUPPORTED,
    ANS_BUSY,     /* 503, queue full or draining */
    ANS_DB_DOWN,  /* 503, database trouble */
    ANS_INTERNAL, /* 500, out of memory */
    ANS_COUNT
};

/*
 * One connection from accept to close, for the request deadline. The HTTP
 * thread of its listener creates and frees it and counts its requests; the
 * sweep thread reads the counts and keeps the rest, under conn_lock. A
 * connection is in the list exactly while MHD owns its socket (libmicrohttpd
 * reports the close before it closes the descriptor), so the sweep never
 * touches a descriptor that was closed or reused.
 */
struct conn {
    struct conn *prev, *next;
    MHD_socket fd;
    atomic_uint done;        /* requests completed */
    atomic_uint started;     /* done + 1: the headers of the current request arrived */
    atomic_uint received;    /* done + 1: the current request arrived whole, is being answered */
    _Atomic int64_t done_ms; /* when the last request was completed (clock_mono_ms()) */
    /* The sweep's, under conn_lock. */
    unsigned seen_done;
    /* When the current request began, or while idle when the previous one was
     * completed; 0: not seen yet. */
    int64_t phase_ms;
    bool idle; /* between requests: HTTP_TIMEOUT applies, not the deadline */
    bool shut; /* closed by the sweep */
};

/* One libmicrohttpd daemon: the public port, or the operations port. */
struct listener {
    struct http_server *srv;
    struct MHD_Daemon *daemon;
    MHD_socket listen_fd; /* ours once quiesced */
    uint16_t port;
    bool ops;
};

struct http_server {
    struct listener pub, ops; /* ops.daemon NULL: everything on the public port */
    bool has_ops;             /* OPS_PORT set: set before either listener starts */
    struct http_server_options opt;
    const struct http_app *app;
    char *tls_cert;
    char *tls_key;
    atomic_bool draining;
    atomic_long inflight; /* requests begun and not yet completed */
    struct MHD_Response *canned[ANS_COUNT];
    struct cidr_list allowed; /* WEBHOOK_ALLOWED_CIDRS; empty: everyone */
    struct cidr_list proxies; /* TRUSTED_PROXIES */
    /* The deadline sweep. */
    pthread_mutex_t conn_lock;
    pthread_cond_t sweep_wake;
    struct conn *conns; /* under conn_lock */
    bool stopping;      /* under conn_lock */
    bool sweep_running;
    bool lock_ready;
    pthread_t sweeper;
    int64_t deadline_ms;
    int64_t sweep_ms;
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
    bool ops;           /* on the operations listener when there is one */
};

/* Marks a connection whose request was answered without keeping state. */
static char no_state;

/* The route being answered, for the HTTP metrics (one per listener's thread). */
static _Thread_local const char *current_route __attribute__((tls_model("initial-exec"))) = "other";

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

/* The deadline state of a connection (NULL when it could not be allocated). */
static struct conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/*
 * The current request of conn reached a step: its headers arrived (it is
 * busy, not idle), or it arrived whole and waits for its answer (its deadline
 * stops).
 */
static void mark_request(struct MHD_Connection *conn, bool whole)
{
    struct conn *c = conn_of(conn);
    if (c)
        atomic_store_explicit(whole ? &c->received : &c->started,
                              atomic_load_explicit(&c->done, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

/* The X-Forwarded-For lines of a request, in order. */
struct forwarded {
    const char *v[FORWARDED_MAX];
    size_t n; /* FORWARDED_MAX + 1: too many */
};

static enum MHD_Result collect_forwarded(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    struct forwarded *fw = cls;
    if (strcasecmp(key, FORWARDED_FOR) != 0 || !value)
        return MHD_YES;
    if (fw->n == FORWARDED_MAX) {
        fw->n++;
        return MHD_NO;
    }
    fw->v[fw->n++] = value;
    return MHD_YES;
}

/*
 * Whether the request's client may post to the webhook: WEBHOOK_ALLOWED_CIDRS
 * unset, or the client in it. The client is the peer, or, when the peer is
 * one of TRUSTED_PROXIES, the address its X-Forwarded-For names.
 */
static bool source_allowed(const struct http_server *srv, struct MHD_Connection *conn)
{
    if (srv->allowed.n == 0)
        return true;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    uint8_t peer[16], client[16];
    if (!ci || cidr_addr_of(ci->client_addr, peer) < 0)
        return false;
    struct forwarded fw = {.n = 0};
    if (cidr_list_match(&srv->proxies, peer))
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_forwarded, &fw);
    if (fw.n > FORWARDED_MAX || cidr_client(&srv->proxies, peer, fw.v, fw.n, client) < 0)
        return false;
    return cidr_list_match(&srv->allowed, client);
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
        if (!source_allowed(srv, conn))
            return queue_canned(srv, conn, MHD_HTTP_FORBIDDEN, ANS_FORBIDDEN);
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
    mark_request(conn, true);
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
    {NULL, M_POST, "POST", handle_webhook, "webhook", false},
    {"/health", M_GET | M_HEAD | M_OPTIONS, "GET, HEAD, OPTIONS", handle_health, "health", true},
    {"/livez", M_GET | M_HEAD, "GET, HEAD", handle_livez, "livez", true},
    {"/metrics", M_GET | M_HEAD, "GET, HEAD", handle_metrics, "metrics", true},
    /* HAProxy's default check is OPTIONS / over HTTP/1.0. */
    {"/", M_OPTIONS, "OPTIONS", handle_health, "health", true},
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
    const struct listener *l = cls;
    struct http_server *srv = l->srv;
    if (*con_cls == &no_state) {
        /* Answered already; swallow the rest of an unwanted body. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*con_cls == NULL) {
        atomic_fetch_add(&srv->inflight, 1);
        mark_request(conn, false);
    }

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        /* With an operations listener, each route is served on one port only. */
        if (srv->has_ops && r->ops != l->ops)
            continue;
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
    const struct listener *l = cls;
    struct http_server *srv = l->srv;
    struct conn *c = conn_of(conn);
    if (c) {
        /* The time first: the sweep reads it after the count. */
        atomic_store_explicit(&c->done_ms, clock_mono_ms(), memory_order_relaxed);
        atomic_store_explicit(&c->done, atomic_load_explicit(&c->done, memory_order_relaxed) + 1,
                              memory_order_release);
    }
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

/* ---- connections: the request deadline ---------------------------------- */

/* True when data arrived on fd less than ms milliseconds ago (TCP_INFO). */
static bool data_within(MHD_socket fd, int64_t ms)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    if (ms <= 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return false;
    return (int64_t)ti.tcpi_last_data_recv < ms;
}

/* True when the peer of fd has not closed its side (nothing to read, no end of stream). */
static bool peer_still_there(MHD_socket fd)
{
    char b;
    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
           (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection was accepted or is being closed. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct listener *l = cls;
    struct http_server *srv = l->srv;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn *c = ci ? calloc(1, sizeof(*c)) : NULL;
        if (!c)
            return; /* no deadline for this one; HTTP_TIMEOUT still applies */
        c->fd = ci->connect_fd;
        pthread_mutex_lock(&srv->conn_lock);
        c->next = srv->conns;
        if (c->next)
            c->next->prev = c;
        srv->conns = c;
        pthread_mutex_unlock(&srv->conn_lock);
        *socket_context = c;
        return;
    }
    struct conn *c = *socket_context;
    if (!c)
        return;
    pthread_mutex_lock(&srv->conn_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    /* Closed by libmicrohttpd between requests while the client is still
     * there: HTTP_TIMEOUT ran out. */
    bool idle_timeout = c->idle && !c->shut && !srv->stopping;
    pthread_mutex_unlock(&srv->conn_lock);
    if (idle_timeout && peer_still_there(c->fd))
        tgm_http_closed("idle_timeout");
    free(c);
    *socket_context = NULL;
}

/*
 * One connection at one sweep (under conn_lock). A request runs from the
 * connection's start, or on a kept-alive connection from when the sweep first
 * sees the next one begun, until it has arrived whole (mark_request()) or been
 * answered; past deadline_ms the socket is shut down, and libmicrohttpd,
 * finding it closed, drops the connection on its own thread.
 *
 * After an answer the connection is idle until its next request shows: its
 * headers reached on_request(), or (headers still trickling) TCP_INFO says
 * data arrived after the answer's completion time (not the sweep's: the bytes
 * may have come in between). Only a partial header that arrived within
 * IDLE_MARGIN_MS of the answer and then nothing more escapes both; it holds
 * the connection no longer than an idle client can (HTTP_TIMEOUT), and any
 * later byte shows it.
 */
static void sweep_one(struct http_server *srv, struct conn *c, int64_t now)
{
    unsigned done = atomic_load_explicit(&c->done, memory_order_acquire);
    if (c->phase_ms == 0)
        c->phase_ms = now;
    if (done != c->seen_done) {
        c->seen_done = done;
        c->idle = true;
        c->phase_ms = atomic_load_explicit(&c->done_ms, memory_order_relaxed);
    }
    if (c->shut || atomic_load_explicit(&c->received, memory_order_relaxed) == done + 1)
        return;
    if (c->idle) {
        if (atomic_load_explicit(&c->started, memory_order_relaxed) == done + 1 ||
            data_within(c->fd, now - c->phase_ms - IDLE_MARGIN_MS)) {
            c->idle = false;
            c->phase_ms = now;
        }
        return;
    }
    if (now - c->phase_ms >= srv->deadline_ms) {
        shutdown(c->fd, SHUT_RDWR);
        c->shut = true;
        tgm_http_closed("request_timeout");
    }
}

static void *sweep_main(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->conn_lock);
    while (!srv->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(srv->sweep_ms % 1000) * 1000000L;
        until.tv_sec += srv->sweep_ms / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&srv->sweep_wake, &srv->conn_lock, &until);
        int64_t now = clock_mono_ms();
        for (struct conn *c = srv->conns; c && !srv->stopping; c = c->next)
            sweep_one(srv, c, now);
    }
    pthread_mutex_unlock(&srv->conn_lock);
    return NULL;
}

/*
 * MHD_OPTION_ACCEPT_POLICY_CALLBACK of the public port when
 * WEBHOOK_ALLOWED_CIDRS is set: a source that is neither allowed nor a
 * trusted proxy is closed at once and never holds a connection slot.
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    const struct http_server *srv = cls;
    uint8_t a[16];
    if (cidr_addr_of(addr, a) == 0 &&
        (cidr_list_match(&srv->allowed, a) || cidr_list_match(&srv->proxies, a)))
        return MHD_YES;
    tgm_http_closed("not_allowed");
    return MHD_NO;
}

/* libmicrohttpd's message when it turns a connection away (global or per-IP cap). */
static const char limit_msg[] = "Server reached connection limit";

/* At most one log line a second about connections turned away at the caps. */
static atomic_llong last_limit_log_ms;

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    if (strncmp(fmt, limit_msg, sizeof(limit_msg) - 1) == 0) {
        tgm_http_closed("limit");
        int64_t now = clock_mono_ms(), last = atomic_load(&last_limit_log_ms);
        if (now - last < 1000 || !atomic_compare_exchange_strong(&last_limit_log_ms, &last, now))
            return;
    }
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
    srv->canned[ANS_FORBIDDEN] = make_canned("source not allowed\n", text, NULL);
    if (srv->canned[ANS_FORBIDDEN])
        MHD_add_response_header(srv->canned[ANS_FORBIDDEN], MHD_HTTP_HEADER_CONNECTION, "close");
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

/* Fills ss with addr:port; sets *v6 for an IPv6 address. -EINVAL when addr is not an address. */
static int make_sockaddr(const char *addr, int port, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    *v6 = false;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return 0;
    }
    return -EINVAL;
}

/*
 * Starts one listener: the public port (ops false: TLS when configured, the
 * configured caps, the allow-list at accept) or the operations port (plain
 * HTTP, OPS_MAX_CONNECTIONS).
 */
static int start_listener(struct http_server *srv, struct listener *l, bool ops, char *err,
                          size_t cap)
{
    const struct http_server_options *opt = &srv->opt;
    const char *addr = ops ? opt->ops_listen_addr : opt->listen_addr;
    int port = ops ? opt->ops_port : opt->port;
    int max_conn = ops ? OPS_MAX_CONNECTIONS : opt->max_connections;
    l->srv = srv;
    l->ops = ops;
    l->listen_fd = MHD_INVALID_SOCKET;

    struct sockaddr_storage ss;
    bool v6;
    if (make_sockaddr(addr, port, &ss, &v6) < 0) {
        snprintf(err, cap, "%s %s is not an IP address", ops ? "OPS_LISTEN_ADDR" : "LISTEN_ADDR",
                 addr);
        return -EINVAL;
    }
    /* poll(2) up to POLL_MAX_CONNECTIONS: epoll costs two epoll_ctl calls per
     * request, as MHD suspends and resumes each webhook while its commit is
     * under way; one poll() of the whole set per wake-up is cheaper at a
     * hundred connections (A/B runs: tgdesk CPU per update -8 %, throughput +2..9 %). */
    unsigned flags = (max_conn > POLL_MAX_CONNECTIONS ? MHD_USE_EPOLL_INTERNAL_THREAD
                                                      : MHD_USE_POLL_INTERNAL_THREAD) |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    if (v6)
        flags |= MHD_USE_IPv6;
    bool tls = !ops && srv->tls_cert;
    if (tls)
        flags |= MHD_USE_TLS;
    bool screen = !ops && srv->allowed.n > 0;

    /* The logger goes first so that no message escapes to MHD's own. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_error, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)max_conn, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)(ops ? 0 : opt->max_per_ip), NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)opt->timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)CONN_MEMORY_LIMIT, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, l},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, l},
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert},
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, srv->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    /* MHD_OPTION_END ends the array: move the ones left out to its end. */
    size_t n = 0;
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (opts[i].option != MHD_OPTION_END)
            opts[n++] = opts[i];
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    errno = 0;
    l->daemon = MHD_start_daemon(flags, 0, screen ? on_accept : NULL, srv, on_request, l,
                                 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!l->daemon) {
        snprintf(err, cap, "cannot listen on %s:%d: %s", addr, port,
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
        return -EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_BIND_PORT);
    l->port = info ? info->port : (uint16_t)port;
    return 0;
}

struct http_server *http_server_start(const struct http_server_options *opt,
                                      const struct http_app *app, char *err, size_t cap)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (srv) {
        srv->pub.listen_fd = srv->ops.listen_fd = MHD_INVALID_SOCKET;
        srv->opt = *opt;
        srv->app = app;
        srv->has_ops = opt->ops_port > 0;
    }
    if (!srv || !make_all_canned(srv)) {
        snprintf(err, cap, "out of memory");
        goto fail;
    }
    char detail[160] = "";
    if (cidr_list_parse(opt->allowed_cidrs ? opt->allowed_cidrs : "", &srv->allowed, detail,
                        sizeof(detail)) < 0 ||
        cidr_list_parse(opt->trusted_proxies ? opt->trusted_proxies : "", &srv->proxies, detail,
                        sizeof(detail)) < 0) {
        snprintf(err, cap, "WEBHOOK_ALLOWED_CIDRS or TRUSTED_PROXIES: %s",
                 detail[0] ? detail : "out of memory");
        goto fail;
    }

    /* The deadline sweep: a tenth of the deadline, within bounds. */
    srv->deadline_ms = (int64_t)(opt->request_timeout_s > 0 ? opt->request_timeout_s : 10) * 1000;
    srv->sweep_ms = srv->deadline_ms / 10;
    srv->sweep_ms = srv->sweep_ms < SWEEP_MIN_MS   ? SWEEP_MIN_MS
                    : srv->sweep_ms > SWEEP_MAX_MS ? SWEEP_MAX_MS
                                                   : srv->sweep_ms;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    bool cond_ok = pthread_cond_init(&srv->sweep_wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cond_ok || pthread_mutex_init(&srv->conn_lock, NULL) != 0) {
        if (cond_ok)
            pthread_cond_destroy(&srv->sweep_wake);
        snprintf(err, cap, "cannot create the connection lock");
        goto fail;
    }
    srv->lock_ready = true;

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
    }
    if (start_listener(srv, &srv->pub, false, err, cap) < 0)
        goto fail;
    if (srv->has_ops && start_listener(srv, &srv->ops, true, err, cap) < 0)
        goto fail;
    if (pthread_create(&srv->sweeper, NULL, sweep_main, srv) != 0) {
        snprintf(err, cap, "cannot start the connection deadline thread");
        goto fail;
    }
    srv->sweep_running = true;
    return srv;

fail:
    http_server_stop(srv);
    return NULL;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->pub.port;
}

uint16_t http_server_ops_port(const struct http_server *srv)
{
    return srv->ops.daemon ? srv->ops.port : 0;
}

static void quiesce(struct listener *l)
{
    if (l->daemon)
        l->listen_fd = MHD_quiesce_daemon(l->daemon);
}

void http_server_drain(struct http_server *srv)
{
    if (atomic_exchange(&srv->draining, true))
        return;
    quiesce(&srv->pub);
    quiesce(&srv->ops);
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

/* Stops a listener's daemon; after quiescing, the listening socket is ours to
 * close - but only once the daemon's threads are gone. */
static void stop_listener(struct listener *l)
{
    if (!l->daemon)
        return;
    MHD_stop_daemon(l->daemon);
    if (l->listen_fd != MHD_INVALID_SOCKET)
        close(l->listen_fd);
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->lock_ready) {
        pthread_mutex_lock(&srv->conn_lock);
        srv->stopping = true;
        pthread_cond_signal(&srv->sweep_wake);
        pthread_mutex_unlock(&srv->conn_lock);
    }
    if (srv->sweep_running)
        pthread_join(srv->sweeper, NULL);
    if (srv->pub.daemon || srv->ops.daemon)
        http_server_drain(srv);
    stop_listener(&srv->pub);
    stop_listener(&srv->ops);
    if (srv->lock_ready) {
        pthread_cond_destroy(&srv->sweep_wake);
        pthread_mutex_destroy(&srv->conn_lock);
    }
    for (int i = 0; i < ANS_COUNT; i++)
        if (srv->canned[i])
            MHD_destroy_response(srv->canned[i]);
    cidr_list_free(&srv->allowed);
    cidr_list_free(&srv->proxies);
    free(srv->tls_cert);
    free(srv->tls_key);
    free(srv);
}
