#include "tg/api.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util/buf.h"
#include "util/jscan.h"
#include "util/strnum.h"
#include "version.h"

/* Longest method name accepted ("editMessageReplyMarkup" is 22). */
#define METHOD_MAX 64
#define TOKEN_MAX  256
#define BASE_MAX   1024
/* The connect phase never takes longer than this, whatever the total timeout. */
#define CONNECT_TIMEOUT_MAX_MS 10000L
/* The memory of an answer longer than this is released after the call. */
#define KEEP_BUFFER_MAX (256 * 1024)
/* Methods whose parsed URL a client keeps (a support desk calls about five). */
#define URL_CACHE 8

struct tg_api {
    CURL *curl;
    struct curl_slist *headers;
    struct curl_slist *mime_headers; /* an upload's: libcurl writes its Content-Type */
    curl_mime *mime;                 /* the upload under way, else NULL */
    bool as_mime;                    /* the handle is set up for an upload */
    char *token;
    char *url; /* base + "/bot" + token + "/"; method_url() appends the method */
    size_t url_prefix_len;
    size_t url_cap;
    /*
     * The URL of each method called, parsed once (CURLOPT_CURLU): given a
     * string, libcurl parses and re-assembles it for every call, a fifth of
     * its instructions per call (callgrind).
     */
    struct {
        char method[METHOD_MAX + 1];
        CURLU *url;
    } urls[URL_CACHE];
    unsigned urls_next; /* the slot taken next when all are used */

    struct buf body; /* the answer being read, capped at TG_API_MAX_RESPONSE */
    int64_t header_retry_after;

    char method[METHOD_MAX + 1]; /* of the call under way */
    bool in_multi;               /* a tg_multi call is under way */
    bool want_result;            /* tg_api_want_result() */
    json_t *answer;              /* the last "result" value parsed for the caller */
    char errbuf[CURL_ERROR_SIZE];
    atomic_bool *cancel; /* tg_api_set_cancel(); NULL when none */
};

int tg_api_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void tg_api_global_cleanup(void)
{
    curl_global_cleanup();
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct tg_api *a = userdata;
    size_t n = size * nmemb;
    /* Past the cap (or out of memory) 0 aborts the transfer with CURLE_WRITE_ERROR. */
    return buf_addn(&a->body, data, n) == 0 ? n : 0;
}

/* Picks up Retry-After (delta seconds; an HTTP date is ignored). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct tg_api *a = userdata;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        a->header_retry_after = 0; /* a new response (after a 1xx) starts */
        return n;
    }
    if (n <= sizeof(name) - 1 || strncasecmp(data, name, sizeof(name) - 1) != 0)
        return n;
    char value[32];
    size_t i = sizeof(name) - 1, len = 0;
    while (i < n && (data[i] == ' ' || data[i] == '\t'))
        i++;
    while (i < n && data[i] != '\r' && data[i] != '\n' && len + 1 < sizeof(value))
        value[len++] = data[i++];
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    value[len] = '\0';
    int64_t v;
    if (strnum_i64(value, 0, INT32_MAX, &v) == 0)
        a->header_retry_after = v;
    return n;
}

static bool valid_token(const char *token)
{
    size_t n = strlen(token);
    if (n == 0 || n > TOKEN_MAX)
        return false;
    for (const char *s = token; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != ':' && *s != '_' && *s != '-')
            return false;
    return true;
}

static bool valid_base(const char *base)
{
    size_t n = strlen(base);
    if (n == 0 || n > BASE_MAX)
        return false;
    if (strncasecmp(base, "http://", 7) != 0 && strncasecmp(base, "https://", 8) != 0)
        return false;
    for (const char *s = base; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

static bool valid_method(const char *method)
{
    size_t n = strlen(method);
    if (n == 0 || n > METHOD_MAX)
        return false;
    for (const char *s = method; *s; s++)
        if (!isalnum((unsigned char)*s))
            return false;
    return true;
}

/* Whether the environment names a proxy libcurl would use (see libcurl-env). */
static bool proxy_in_env(void)
{
    static const char *const vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                       "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

struct tg_api *tg_api_new(const char *base_url, const char *token, long timeout_ms)
{
    if (!base_url || !token || timeout_ms <= 0 || !valid_base(base_url) || !valid_token(token)) {
        errno = EINVAL;
        return NULL;
    }
    struct tg_api *a = calloc(1, sizeof(*a));
    if (!a)
        goto fail_nomem;
    buf_init(&a->body, TG_API_MAX_RESPONSE);
    size_t base_len = strlen(base_url);
    while (base_len > 0 && base_url[base_len - 1] == '/')
        base_len--;
    a->token = strdup(token);
    a->url_cap = base_len + 4 + strlen(token) + 1 + METHOD_MAX + 1;
    a->url = malloc(a->url_cap);
    if (!a->token || !a->url)
        goto fail_nomem;
    /* base + "/bot" + token + "/"; the method goes after it per call. */
    size_t tlen = strlen(token), o = 0;
    memcpy(a->url + o, base_url, base_len);
    o += base_len;
    memcpy(a->url + o, "/bot", 4);
    o += 4;
    memcpy(a->url + o, token, tlen);
    o += tlen;
    a->url[o++] = '/';
    a->url[o] = '\0';
    a->url_prefix_len = o;

    a->curl = curl_easy_init();
    if (!a->curl)
        goto fail_nomem;
    /*
     * "Accept:" with no value drops the header libcurl would add: the Bot API
     * answers JSON whatever is asked, and libcurl writes every request header
     * through its printf a byte at a time (about 120 instructions a byte).
     */
    const char *headers[] = {
        "Content-Type: application/json",
        "Accept:", "Expect:", /* no 100-continue round trip for larger bodies */
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        struct curl_slist *l = curl_slist_append(a->headers, headers[i]);
        if (!l)
            goto fail_nomem;
        a->headers = l;
    }
    for (size_t i = 1; i < sizeof(headers) / sizeof(headers[0]); i++) {
        struct curl_slist *l = curl_slist_append(a->mime_headers, headers[i]);
        if (!l)
            goto fail_nomem;
        a->mime_headers = l;
    }

    CURL *c = a->curl;
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val)                            \
    do {                                            \
        if (rc == CURLE_OK)                         \
            rc = curl_easy_setopt(c, (opt), (val)); \
    } while (0)
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
           timeout_ms < CONNECT_TIMEOUT_MAX_MS ? timeout_ms : CONNECT_TIMEOUT_MAX_MS);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_TCP_KEEPIDLE, 30L);
    SETOPT(CURLOPT_TCP_KEEPINTVL, 15L);
    SETOPT(CURLOPT_TCP_NODELAY, 1L);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_HTTPHEADER, a->headers);
    SETOPT(CURLOPT_USERAGENT, "tgdesk/" TGDESK_VERSION);
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TG_API_MAX_RESPONSE);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, a);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, a);
    SETOPT(CURLOPT_ERRORBUFFER, a->errbuf);
    SETOPT(CURLOPT_PRIVATE, (void *)a); /* tg_multi_done() finds the client by it */
    if (!proxy_in_env()) {
        /* No proxy: said once here, libcurl skips looking for one in the
         * environment (five getenv() per call). With one, its rules apply. */
        SETOPT(CURLOPT_PROXY, "");
        SETOPT(CURLOPT_NOPROXY, "");
    }
#undef SETOPT
    if (rc != CURLE_OK) {
        /* An option this libcurl does not know: a build problem, not a bad argument. */
        LOG(LOG_ERROR, "libcurl refused an option", LOG_STR("error", curl_easy_strerror(rc)));
        tg_api_free(a);
        errno = EINVAL;
        return NULL;
    }
    return a;

fail_nomem:
    tg_api_free(a);
    errno = ENOMEM;
    return NULL;
}

/* libcurl calls this about once a second, and more often while data flows. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const struct tg_api *a = userdata;
    return a->cancel && atomic_load(a->cancel) ? 1 : 0; /* non-zero aborts the transfer */
}

int tg_api_set_cancel(struct tg_api *a, atomic_bool *flag)
{
    a->cancel = flag;
    if (curl_easy_setopt(a->curl, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK ||
        curl_easy_setopt(a->curl, CURLOPT_XFERINFODATA, a) != CURLE_OK ||
        curl_easy_setopt(a->curl, CURLOPT_NOPROGRESS, flag ? 0L : 1L) != CURLE_OK)
        return -EINVAL;
    return 0;
}

void tg_api_free(struct tg_api *a)
{
    if (!a)
        return;
    if (a->curl)
        curl_easy_cleanup(a->curl);
    curl_mime_free(a->mime);
    curl_slist_free_all(a->headers);
    curl_slist_free_all(a->mime_headers);
    for (size_t i = 0; i < URL_CACHE; i++)
        curl_url_cleanup(a->urls[i].url);
    json_decref(a->answer);
    buf_free(&a->body);
    if (a->url) {
        /* The URL holds the token: do not leave it in freed memory. */
        memset(a->url, 0, a->url_cap);
        free(a->url);
    }
    if (a->token) {
        memset(a->token, 0, strlen(a->token));
        free(a->token);
    }
    free(a);
}

/* Copies src into dst (cap bytes), cutting at a UTF-8 character boundary. */
static void copy_utf8(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Copies src into dst (cap bytes) with every occurrence of token replaced by "***". */
static void copy_scrubbed(char *dst, size_t cap, const char *src, const char *token)
{
    size_t tlen = strlen(token), o = 0;
    while (*src && o + 1 < cap) {
        if (tlen && strncmp(src, token, tlen) == 0) {
            for (const char *m = "***"; *m && o + 1 < cap; m++)
                dst[o++] = *m;
            src += tlen;
        } else {
            dst[o++] = *src++;
        }
    }
    dst[o] = '\0';
}

enum tg_outcome tg_api_classify(int http_status, bool ok, int curl_code, int64_t migrate_to_chat_id)
{
    if (curl_code != 0)
        return TG_RETRY;
    if (http_status >= 200 && http_status <= 299)
        return ok ? TG_SENT : TG_RETRY;
    if (http_status == 429)
        return TG_RETRY_AFTER;
    if (http_status == 400 && migrate_to_chat_id != 0)
        return TG_MIGRATE;
    if (http_status == 403)
        return TG_FORBIDDEN;
    if (http_status >= 400 && http_status <= 499)
        return TG_PERMANENT;
    return TG_RETRY;
}

const char *tg_outcome_name(enum tg_outcome outcome)
{
    switch (outcome) {
    case TG_SENT:
        return "sent";
    case TG_RETRY_AFTER:
        return "retry_after";
    case TG_RETRY:
        return "retry";
    case TG_MIGRATE:
        return "migrate";
    case TG_FORBIDDEN:
        return "forbidden";
    case TG_PERMANENT:
        return "permanent";
    }
    return "unknown";
}

int64_t tg_backoff_ceiling_ms(int attempt)
{
    if (attempt < 1)
        attempt = 1;
    /* 1000 * 2^9 = 512 s is past the cap already: no shift can overflow. */
    if (attempt > 10)
        return TG_BACKOFF_MAX_MS;
    int64_t ms = INT64_C(1000) << (attempt - 1);
    return ms < TG_BACKOFF_MAX_MS ? ms : TG_BACKOFF_MAX_MS;
}

int64_t tg_backoff_ms(int attempt, uint64_t random)
{
    uint64_t ceiling = (uint64_t)tg_backoff_ceiling_ms(attempt);
    return (int64_t)(random % (ceiling + 1));
}

/*
 * Reads an answer into r, and its "result" as *result. Returns false, r
 * untouched, when it is not Telegram's (not JSON, or no boolean "ok").
 * Scanned, not parsed into a tree: the sender reads a few fields of every
 * answer, and building (and freeing) all of a Message cost far more.
 */
static bool read_answer(const char *body, size_t len, struct tg_api_result *r,
                        struct js_span *result)
{
    enum { OK, ERROR_CODE, DESCRIPTION, PARAMETERS, RESULT, NKEYS };
    static const char *const keys[NKEYS] = {"ok", "error_code", "description", "parameters",
                                            "result"};
    struct js_span doc, v[NKEYS];
    if (!js_valid(body, len, &doc) || !js_members(doc, keys, NKEYS, v))
        return false;
    enum js_type ok = js_type(v[OK]);
    if (ok != JS_TRUE && ok != JS_FALSE)
        return false;
    r->ok = ok == JS_TRUE;
    int64_t x;
    if (js_int64(v[ERROR_CODE], &x) && x >= 0 && x <= 999)
        r->error_code = (int)x;
    char desc[1024];
    if (js_string(v[DESCRIPTION], desc, sizeof(desc)) >= 0)
        copy_utf8(r->description, sizeof(r->description), desc);
    static const char *const pkeys[] = {"retry_after", "migrate_to_chat_id"};
    struct js_span pv[2];
    js_members(v[PARAMETERS], pkeys, 2, pv);
    if (js_int64(pv[0], &x) && x >= 0)
        r->retry_after = x;
    if (js_int64(pv[1], &x))
        r->migrate_to_chat_id = x;
    r->result_true = js_type(v[RESULT]) == JS_TRUE;
    static const char *const rkeys[] = {"message_id"};
    struct js_span mid;
    js_members(v[RESULT], rkeys, 1, &mid);
    if (js_int64(mid, &x))
        r->message_id = x;
    *result = v[RESULT];
    return true;
}

void tg_api_want_result(struct tg_api *a, bool want)
{
    a->want_result = want;
}

/* The parsed URL of method (a valid name, mlen bytes), or NULL without memory. */
static CURLU *method_url(struct tg_api *a, const char *method, size_t mlen)
{
    for (size_t i = 0; i < URL_CACHE && a->urls[i].url; i++)
        if (strcmp(a->urls[i].method, method) == 0)
            return a->urls[i].url;
    size_t i = a->urls_next++ % URL_CACHE;
    if (!a->urls[i].url && !(a->urls[i].url = curl_url()))
        return NULL;
    memcpy(a->url + a->url_prefix_len, method, mlen + 1);
    if (curl_url_set(a->urls[i].url, CURLUPART_URL, a->url, 0) != CURLUE_OK) {
        a->urls[i].method[0] = '\0';
        return NULL;
    }
    memcpy(a->urls[i].method, method, mlen + 1);
    return a->urls[i].url;
}

/*
 * The upload of a sendDocument whose "document" is an object
 * {"filename", "content", "content_type"}: every other field becomes a form
 * field (strings as they are, anything else as JSON text) and the document
 * a file part. Returns 1 when the body is such a call and the handle is set
 * up for it, 0 when it is not, -ENOMEM.
 */
static int set_upload(struct tg_api *a, const char *method, const char *json_body, size_t len)
{
    if (strcmp(method, "sendDocument") != 0 || !json_body || len == 0)
        return 0;
    json_t *root = json_loadb(json_body, len, 0, NULL);
    json_t *doc = json_object_get(root, "document");
    json_t *content = json_object_get(doc, "content");
    if (!json_is_string(content)) {
        json_decref(root);
        return 0;
    }
    curl_mime *mime = curl_mime_init(a->curl);
    bool ok = mime != NULL;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        curl_mimepart *part = ok ? curl_mime_addpart(mime) : NULL;
        ok = part && curl_mime_name(part, key) == CURLE_OK;
        if (!ok)
            break;
        if (v == doc) {
            const char *name = json_string_value(json_object_get(doc, "filename"));
            const char *type = json_string_value(json_object_get(doc, "content_type"));
            ok = curl_mime_data(part, json_string_value(content), json_string_length(content)) ==
                     CURLE_OK &&
                 curl_mime_filename(part, name ? name : "file") == CURLE_OK &&
                 curl_mime_type(part, type ? type : "application/octet-stream") == CURLE_OK;
        } else if (json_is_string(v)) {
            ok = curl_mime_data(part, json_string_value(v), json_string_length(v)) == CURLE_OK;
        } else {
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            ok = text && curl_mime_data(part, text, CURL_ZERO_TERMINATED) == CURLE_OK;
            free(text);
        }
    }
    json_decref(root);
    if (!ok || curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, a->mime_headers) != CURLE_OK ||
        curl_easy_setopt(a->curl, CURLOPT_MIMEPOST, mime) != CURLE_OK) {
        curl_mime_free(mime);
        return -ENOMEM;
    }
    a->mime = mime;
    a->as_mime = true;
    return 1;
}

/* Sets up a call on the client's handle: 0, -EINVAL or -ENOMEM. */
static int call_prepare(struct tg_api *a, const char *method, const char *json_body, size_t len)
{
    if (!a || a->in_multi || !method || (!json_body && len > 0) || !valid_method(method))
        return -EINVAL;
    size_t mlen = strlen(method);
    memcpy(a->method, method, mlen + 1);
    CURLU *url = method_url(a, method, mlen);

    CURL *c = a->curl;
    if (!url || curl_easy_setopt(c, CURLOPT_CURLU, url) != CURLE_OK)
        return -ENOMEM;
    /* The previous call's upload is done: back to JSON bodies first. */
    if (a->as_mime) {
        if (curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, a->headers) != CURLE_OK)
            return -ENOMEM;
        curl_mime_free(a->mime);
        a->mime = NULL;
        a->as_mime = false;
    }
    int up = set_upload(a, method, json_body, len);
    if (up < 0)
        return up;
    if (up == 0 &&
        (curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
         curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body ? json_body : "") != CURLE_OK))
        return -ENOMEM;

    buf_reset(&a->body);
    a->header_retry_after = 0;
    a->errbuf[0] = '\0';
    json_decref(a->answer);
    a->answer = NULL;
    return 0;
}

/* Reads the answer of a call that libcurl finished with code into *ret. */
static void call_finish(struct tg_api *a, CURLcode code, struct tg_api_result *ret)
{
    CURL *c = a->curl;
    struct tg_api_result r;
    memset(&r, 0, sizeof(r));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    r.http_status = status > 0 && status < 1000 ? (int)status : 0;
    r.curl_code = (int)code;

    if (code == CURLE_OK) {
        struct js_span result = {NULL, 0};
        if (!read_answer(buf_str(&a->body), buf_len(&a->body), &r, &result))
            snprintf(r.error, sizeof(r.error), "HTTP %d answer is not Bot API JSON", r.http_status);
        else if (a->want_result && result.p)
            r.result = a->answer = json_loadb(result.p, result.n, JSON_DECODE_ANY, NULL);
        if (r.retry_after == 0)
            r.retry_after = a->header_retry_after;
    } else if (buf_error(&a->body) == -E2BIG || code == CURLE_FILESIZE_EXCEEDED) {
        snprintf(r.error, sizeof(r.error), "answer larger than %d bytes", TG_API_MAX_RESPONSE);
    } else {
        copy_scrubbed(r.error, sizeof(r.error), a->errbuf[0] ? a->errbuf : curl_easy_strerror(code),
                      a->token);
    }
    r.outcome = tg_api_classify(r.http_status, r.ok, r.curl_code, r.migrate_to_chat_id);

    if (buf_len(&a->body) > KEEP_BUFFER_MAX)
        buf_free(&a->body);

    if (log_enabled(LOG_DEBUG)) {
        curl_off_t us = 0;
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &us);
        LOG(LOG_DEBUG, "bot api call", LOG_STR("method", a->method),
            LOG_INT("status", r.http_status), LOG_STR("outcome", tg_outcome_name(r.outcome)),
            LOG_DBL("seconds", (double)us / 1e6),
            LOG_STR("error", r.error[0] ? r.error : r.description));
    }
    *ret = r;
}

int tg_api_call(struct tg_api *a, const char *method, const char *json_body, size_t len,
                struct tg_api_result *ret)
{
    if (!ret)
        return -EINVAL;
    int rc = call_prepare(a, method, json_body, len);
    if (rc < 0)
        return rc;
    call_finish(a, curl_easy_perform(a->curl), ret);
    return 0;
}

/* ---- Several calls at once ---------------------------------------------- */

struct tg_multi {
    CURLM *m;
    int active; /* calls started and not yet done or cancelled */
};

struct tg_multi *tg_multi_new(int max_calls)
{
    struct tg_multi *t = calloc(1, sizeof(*t));
    /* libcurl keeps 4 connections per call added at the moment and closes
     * the rest: with calls coming and going, it closed and reopened a
     * connection every few dozen calls. */
    if (t && (!(t->m = curl_multi_init()) ||
              curl_multi_setopt(t->m, CURLMOPT_MAXCONNECTS, (long)max_calls) != CURLM_OK)) {
        curl_multi_cleanup(t->m);
        free(t);
        t = NULL;
    }
    if (!t)
        errno = ENOMEM;
    return t;
}

void tg_multi_free(struct tg_multi *t)
{
    if (!t)
        return;
    curl_multi_cleanup(t->m);
    free(t);
}

int tg_multi_start(struct tg_multi *t, struct tg_api *a, const char *method, const char *json_body,
                   size_t len)
{
    if (!t)
        return -EINVAL;
    int rc = call_prepare(a, method, json_body, len);
    if (rc < 0)
        return rc;
    if (curl_multi_add_handle(t->m, a->curl) != CURLM_OK)
        return -ENOMEM;
    a->in_multi = true;
    t->active++;
    return 0;
}

void tg_multi_cancel(struct tg_multi *t, struct tg_api *a)
{
    if (!a->in_multi)
        return;
    if (curl_multi_remove_handle(t->m, a->curl) == CURLM_OK)
        t->active--;
    a->in_multi = false;
}

int tg_multi_run(struct tg_multi *t, int timeout_ms)
{
    int running = 0;
    if (curl_multi_perform(t->m, &running) != CURLM_OK)
        return -EIO;
    /* A call that just finished is read before anything waits. */
    if (timeout_ms > 0 && running == t->active) {
        if (curl_multi_poll(t->m, NULL, 0, timeout_ms, NULL) != CURLM_OK)
            return -EIO;
        if (curl_multi_perform(t->m, &running) != CURLM_OK)
            return -EIO;
    }
    return 0;
}

struct tg_api *tg_multi_done(struct tg_multi *t, struct tg_api_result *ret)
{
    int left = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(t->m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *c = msg->easy_handle;
        CURLcode code = msg->data.result; /* msg is invalid once the handle is removed */
        struct tg_api *a = NULL;
        curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&a);
        if (curl_multi_remove_handle(t->m, c) == CURLM_OK)
            t->active--;
        if (!a)
            continue;
        a->in_multi = false;
        call_finish(a, code, ret);
        return a;
    }
    return NULL;
}

int tg_multi_wakeup(struct tg_multi *t)
{
    return curl_multi_wakeup(t->m) == CURLM_OK ? 0 : -EIO;
}

int tg_api_get_updates(struct tg_api *a, int64_t offset, int limit, int timeout_s,
                       json_t *allowed_updates, struct tg_api_result *ret)
{
    json_t *b = json_pack("{si si}", "timeout", timeout_s, "limit", limit);
    bool ok = b &&
              (!allowed_updates || json_object_set(b, "allowed_updates", allowed_updates) == 0) &&
              (offset <= 0 || json_object_set_new(b, "offset", json_integer(offset)) == 0);
    char *body = ok ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!body)
        return -ENOMEM;
    int rc = tg_api_call(a, "getUpdates", body, strlen(body), ret);
    free(body);
    return rc;
}
