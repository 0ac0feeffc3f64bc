/*
 * server.h - the HTTP listener (libmicrohttpd): the webhook, one of the two
 * sources of updates (the other is poll mode), and the monitoring routes.
 *
 * One event-loop thread (epoll) serves every connection and never blocks: a
 * webhook body is read into a buffer capped at max_body_bytes, handed to the
 * pipeline as a job, and the connection is suspended until a worker has
 * committed the update (or decided it cannot); then it is resumed and
 * answered. Connection caps overall and per IP, an idle timeout and a
 * per-connection memory cap keep slow or abusive clients from starving the
 * server. Unknown paths answer 404, a wrong method on a known path 405 with
 * Allow.
 *
 * Routes: POST webhook_path; GET/HEAD/OPTIONS /health (and OPTIONS /, HAProxy's
 * default check) from the health module's cached verdict - never a database
 * round trip on this thread; GET /livez; GET /metrics.
 *
 * Exposed to the internet, it also holds against hostile clients:
 * - A request deadline: a connection must deliver each request whole
 *   (headers and body) within request_timeout_s of its start, however slowly
 *   it trickles; a small thread sweeps the connections and shuts the late
 *   ones down (tgdesk_http_connections_closed_total{reason="request_timeout"}).
 *   A request starts when the connection is accepted or, on a kept-alive
 *   connection, when the first data after the previous answer arrives (seen
 *   through TCP_INFO by the sweep: the HTTP thread only counts requests); it
 *   ends when it has arrived whole (the webhook: when it is queued) or when
 *   it is answered. Between requests only timeout_s (idle) applies.
 * - An allow-list (allowed_cidrs): a peer that is neither allowed nor a
 *   trusted proxy is closed at accept, before it holds a connection slot;
 *   a request a trusted proxy forwards for a client outside the list gets
 *   403 on the webhook path before its body is read.
 * - An operations listener (ops_port): when set, /health, /livez and
 *   /metrics are served there only, with a connection cap of their own, and
 *   the public port serves the webhook only (404 for the rest).
 */
#ifndef TGDESK_HTTP_SERVER_H
#define TGDESK_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct health;
struct http_server;
struct pipeline;

/* Where and how the server listens. */
struct http_server_options {
    const char *listen_addr;     /* LISTEN_ADDR: an IPv4 or IPv6 address */
    int port;                    /* PORT; 0: any free port (http_server_port() tells) */
    const char *tls_cert_file;   /* TLS_CERT_FILE and TLS_KEY_FILE: PEM files; */
    const char *tls_key_file;    /* NULL: plain HTTP */
    const char *webhook_path;    /* WEBHOOK_PATH: starts with '/' */
    const char *webhook_secret;  /* WEBHOOK_SECRET; NULL: not checked */
    const char *metrics_token;   /* METRICS_TOKEN: /metrics wants "Bearer <it>"; NULL: open */
    int64_t max_body_bytes;      /* MAX_BODY_BYTES: larger webhook bodies answer 413 */
    int max_connections;         /* HTTP_MAX_CONNECTIONS */
    int max_per_ip;              /* HTTP_MAX_PER_IP */
    int timeout_s;               /* HTTP_TIMEOUT: an idle connection is closed after it */
    int request_timeout_s;       /* HTTP_REQUEST_TIMEOUT: a request must arrive whole within it */
    const char *allowed_cidrs;   /* WEBHOOK_ALLOWED_CIDRS; NULL: every source */
    const char *trusted_proxies; /* TRUSTED_PROXIES: whose X-Forwarded-For is believed */
    const char *ops_listen_addr; /* OPS_LISTEN_ADDR */
    int ops_port;                /* OPS_PORT; 0: no operations listener */
};

/* What the routes serve; borrowed, must outlive the server. */
struct http_app {
    struct pipeline *pipeline; /* NULL: the webhook answers 503 */
    struct health *health;     /* NULL: /health answers 503 */
};

/*
 * Starts listening on opt's address and port (HTTPS when TLS files are
 * set). opt is copied, its strings borrowed: they must outlive the server.
 * Returns the server, or NULL with a one-line reason in err (capacity cap).
 * Stop and free with http_server_stop().
 */
struct http_server *http_server_start(const struct http_server_options *opt,
                                      const struct http_app *app, char *err, size_t cap);

/* The port actually bound (useful with PORT=0). */
uint16_t http_server_port(const struct http_server *srv);

/* The operations port, or 0 when there is no operations listener. */
uint16_t http_server_ops_port(const struct http_server *srv);

/*
 * Starts draining: no new connections are accepted, and requests arriving
 * on open connections answer 503 (the webhook with Retry-After). Thread-safe.
 */
void http_server_drain(struct http_server *srv);

/*
 * Waits until no request is in flight (read, queued, or being answered), at
 * most timeout_ms. Returns 0, or -ETIMEDOUT. Thread-safe.
 */
int http_server_wait_idle(struct http_server *srv, int64_t timeout_ms);

/* Stops the event loop, closes every connection and frees the server. Accepts NULL. */
void http_server_stop(struct http_server *srv);

#endif
