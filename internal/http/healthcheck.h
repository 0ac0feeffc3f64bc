/*
 * healthcheck.h - `tgdesk healthcheck`: one GET of the local /health, for a
 * container HEALTHCHECK. Exit 0 when the answer is 2xx.
 */
#ifndef TGDESK_HTTP_HEALTHCHECK_H
#define TGDESK_HTTP_HEALTHCHECK_H

#include <stdio.h>

#include <stdbool.h>

/* Where the serving process listens. */
struct healthcheck_options {
    const char *listen_addr; /* LISTEN_ADDR; NULL: 127.0.0.1 */
    int port;                /* PORT */
    bool tls;                /* TLS_CERT_FILE is set: the server speaks HTTPS */
};

/*
 * Writes the URL of the local /health into buf (capacity cap):
 * http://HOST:PORT/health, https:// when opt->tls. HOST is listen_addr,
 * except that the wildcard addresses 0.0.0.0 and :: become 127.0.0.1 and
 * [::1]; IPv6 addresses are bracketed. Returns 0, -EINVAL when the port is 0
 * (a random port cannot be reached from outside the process) or
 * -ENAMETOOLONG. Pure.
 */
int healthcheck_url(const struct healthcheck_options *opt, char *buf, size_t cap);

/*
 * GETs url with libcurl within timeout_ms (connect included). A TLS
 * certificate is not verified: the check talks to its own process on a
 * loopback address, where the certificate's name cannot match. Writes one
 * line to out (NULL: nothing): "healthy: HTTP 200 {body}" or the reason.
 * Returns 0 for a 2xx answer, -EIO for another status, -ECONNREFUSED when
 * nothing answered (refused, timeout, ...), -ENOMEM. libcurl must have been
 * initialised (tg_api_global_init()). Not thread-safe only in the sense of
 * libcurl's global state; otherwise reentrant.
 */
int healthcheck_get(const char *url, long timeout_ms, FILE *out);

/* healthcheck_url() then healthcheck_get(); -EINVAL when no URL can be built. */
int healthcheck_run(const struct healthcheck_options *opt, long timeout_ms, FILE *out);

#endif
