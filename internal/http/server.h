/*
 * server.h - the HTTP listener (libmicrohttpd), SPEC §4.
 *
 * One event-loop thread (epoll) serves every connection; handlers never
 * block it. Connection caps overall and per IP, an idle timeout and a
 * per-connection memory cap keep slow or abusive clients from starving the
 * server. Unknown paths answer 404, a wrong method on a known path 405 with
 * Allow.
 */
#ifndef TGDESK_HTTP_SERVER_H
#define TGDESK_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct http_server;

/*
 * Starts listening on LISTEN_ADDR:PORT (HTTPS when TLS files are set).
 * Returns the server, or NULL with a one-line reason in err (capacity cap).
 * Stop and free with http_server_stop().
 */
struct http_server *http_server_start(const struct config *cfg, char *err, size_t cap);

/* The port actually bound (useful with PORT=0). */
uint16_t http_server_port(const struct http_server *srv);

/*
 * Stops accepting new connections, lets the event loop finish what it is
 * answering, and frees the server. Accepts NULL.
 */
void http_server_stop(struct http_server *srv);

#endif
