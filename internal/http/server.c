#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

/* Largest certificate or key file accepted for HTTPS. */
#define TLS_FILE_MAX (256 * 1024)

/* Header and small-body memory per connection (the webhook body is separate). */
#define CONN_MEMORY_LIMIT (64 * 1024)

enum method { M_GET = 1, M_HEAD = 2, M_POST = 4, M_OPTIONS = 8 };

struct http_server {
    struct MHD_Daemon *daemon;
    char *tls_cert;
    char *tls_key;
    uint16_t port;
};

typedef enum MHD_Result (*route_fn)(struct http_server *srv, struct MHD_Connection *conn);

struct route {
    const char *path;
    unsigned methods;
    const char *allow; /* Allow header for 405 */
    route_fn handler;
};

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle_livez(struct http_server *srv, struct MHD_Connection *conn)
{
    return respond_text(conn, MHD_HTTP_OK, "ok\n");
}

static const struct route routes[] = {
    {"/livez", M_GET | M_HEAD, "GET, HEAD", handle_livez},
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    /* Bodies of routes that take none are ignored, never buffered. */
    if (*con_cls == NULL) {
        *con_cls = srv;
    } else if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        if (!(method_bit(method) & routes[i].methods)) {
            struct MHD_Response *r = MHD_create_response_from_buffer(
                19, (void *)"method not allowed\n", MHD_RESPMEM_PERSISTENT);
            if (!r)
                return MHD_NO;
            MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, routes[i].allow);
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
            enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
            MHD_destroy_response(r);
            return ret;
        }
        return routes[i].handler(srv, conn);
    }
    return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
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

struct http_server *http_server_start(const struct config *cfg, char *err, size_t cap)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->listen_addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->listen_addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, cap, "LISTEN_ADDR %s is not an IP address", cfg->listen_addr);
        goto fail;
    }

    if (cfg->tls_cert_file) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, cap, "this libmicrohttpd was built without TLS support");
            goto fail;
        }
        srv->tls_cert = read_file(cfg->tls_cert_file, err, cap);
        if (!srv->tls_cert)
            goto fail;
        srv->tls_key = read_file(cfg->tls_key_file, err, cap);
        if (!srv->tls_key)
            goto fail;
        flags |= MHD_USE_TLS;
    }

    /* The logger goes first so that no message escapes to MHD's own. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_error, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->http_max_connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)cfg->http_max_per_ip, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->http_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)CONN_MEMORY_LIMIT, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
        {srv->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert},
        {srv->tls_key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, srv->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };

    errno = 0;
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY, opts,
                                   MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, cap, "cannot listen on %s:%d: %s", cfg->listen_addr, cfg->port,
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : (uint16_t)cfg->port;
    return srv;

fail:
    http_server_stop(srv);
    return NULL;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon) {
        /* After quiescing, the listening socket is ours to close - but only
         * once the daemon's threads are gone. */
        MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
        MHD_stop_daemon(srv->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    free(srv->tls_cert);
    free(srv->tls_key);
    free(srv);
}
