/*
 * healthcheck.c - one GET of the local /health (see healthcheck.h).
 */
#include "http/healthcheck.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Longest part of the answer kept for the one-line report. */
#define BODY_MAX 512

struct body {
    char data[BODY_MAX + 1];
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t n = size * nmemb;
    size_t room = BODY_MAX - b->len;
    size_t take = n < room ? n : room;
    memcpy(b->data + b->len, ptr, take);
    b->len += take;
    b->data[b->len] = '\0';
    return n; /* the rest is read and dropped */
}

int healthcheck_url(const struct healthcheck_options *opt, char *buf, size_t cap)
{
    if (opt->port <= 0 || opt->port > 65535)
        return -EINVAL;
    const char *host = opt->listen_addr ? opt->listen_addr : "127.0.0.1";
    struct in6_addr a6;
    bool v6 = inet_pton(AF_INET6, host, &a6) == 1;
    if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (v6 && IN6_IS_ADDR_UNSPECIFIED(&a6))
        host = "::1";
    int n = snprintf(buf, cap, "%s://%s%s%s:%d/health", opt->tls ? "https" : "http", v6 ? "[" : "",
                     host, v6 ? "]" : "", opt->port);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    return 0;
}

/* The body on one line: control characters become spaces. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            *s = ' ';
}

int healthcheck_get(const char *url, long timeout_ms, FILE *out)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return -ENOMEM;
    struct body body = {.len = 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tgdesk-healthcheck");

    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);

    one_line(body.data);
    if (cc != CURLE_OK) {
        if (out)
            fprintf(out, "unhealthy: no answer from %s: %s\n", url,
                    errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return -ECONNREFUSED;
    }
    bool ok = status >= 200 && status < 300;
    if (out)
        fprintf(out, "%s: HTTP %ld %s\n", ok ? "healthy" : "unhealthy", status, body.data);
    return ok ? 0 : -EIO;
}

int healthcheck_run(const struct healthcheck_options *opt, long timeout_ms, FILE *out)
{
    char url[320];
    int rc = healthcheck_url(opt, url, sizeof(url));
    if (rc < 0) {
        if (out)
            fprintf(out, "unhealthy: cannot build the /health URL (PORT=%d)\n", opt->port);
        return -EINVAL;
    }
    return healthcheck_get(url, timeout_ms, out);
}
