/*
 * test_tg_api.c - tests of internal/tg/api.c against the fake Bot API.
 *
 * The group setup starts test/fake_tg.c (the path is in TGDESK_FAKE_TG, set by
 * meson) on a free port and every test resets it first; the teardown stops it
 * with SIGTERM and checks that it exits 0 (under ASan, also that it leaked
 * nothing). The classifier and the backoff are tested as pure functions.
 */

/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tg/api.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/strnum.h"

#define TOKEN     "123456:TEST-sekret_token"
#define TOKEN_KEY "sekret"

struct fake {
    pid_t pid;
    char base[64];
};

static struct fake g_fake;

/* ---- helpers ------------------------------------------------------------ */

/*
 * Starts fake-tg with extra arguments (NULL-terminated) on a free port and
 * reads its "listening" line. Returns 0 or -1.
 */
static int fake_start(struct fake *f, const char *const *extra)
{
    const char *path = getenv("TGDESK_FAKE_TG");
    if (!path || !*path) {
        fprintf(stderr, "TGDESK_FAKE_TG is not set (run through meson test)\n");
        return -1;
    }
    int p[2];
    if (pipe(p) != 0)
        return -1;
    const char *argv[16] = {"fake-tg", "--port", "0"};
    size_t n = 3;
    for (; extra && *extra && n < 15; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    char line[256];
    size_t len = 0;
    int64_t end = clock_mono_ms() + 10000;
    while (len + 1 < sizeof(line) && (len == 0 || line[len - 1] != '\n')) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int64_t left = end - clock_mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t r = read(p[0], line + len, sizeof(line) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(p[0]);
    line[len] = '\0';
    const char *prefix = "fake-tg listening on http://127.0.0.1:";
    char *nl = strchr(line, '\n');
    int64_t port;
    if (!nl || strncmp(line, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "unexpected first line from fake-tg: '%s'\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    *nl = '\0';
    if (strnum_i64(line + strlen(prefix), 1, 65535, &port) != 0)
        return -1;
    f->pid = pid;
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", (int)port);
    return 0;
}

/* Stops fake-tg with SIGTERM; returns its exit status (0 expected) or -1. */
static int fake_stop(struct fake *f)
{
    if (f->pid <= 0)
        return -1;
    kill(f->pid, SIGTERM);
    int st = 0;
    if (waitpid(f->pid, &st, 0) != f->pid)
        return -1;
    f->pid = 0;
    if (!WIFEXITED(st)) {
        fprintf(stderr, "fake-tg died of signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
        return -1;
    }
    return WEXITSTATUS(st);
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    size_t n = size * nmemb;
    return buf_addn(userdata, data, n) == 0 ? n : 0;
}

/*
 * One plain HTTP request to the fake (control API or raw Bot API calls).
 * Returns the parsed JSON answer (NULL if it is not JSON); *ret_status gets
 * the HTTP status.
 */
static json_t *http(const char *base, const char *method, const char *path, const char *body,
                    const char *content_type, long *ret_status)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct buf b;
    buf_init(&b, 64 << 20); /* far above any answer of the fake */
    struct curl_slist *h = NULL;
    if (content_type) {
        char line[128];
        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        h = curl_slist_append(h, line);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "request %s %s failed: %s\n", method, path, curl_easy_strerror(rc));
    assert_int_equal(rc, CURLE_OK);
    if (ret_status)
        *ret_status = status;
    json_t *j = buf_len(&b) ? json_loadb(buf_str(&b), buf_len(&b), 0, NULL) : NULL;
    buf_free(&b);
    return j;
}

/* A control POST that must succeed. */
static void ctl(const char *path, const char *body)
{
    long status = 0;
    json_t *j = http(g_fake.base, "POST", path, body, "application/json", &status);
    if (status != 200)
        fprintf(stderr, "control %s %s: %ld\n", path, body, status);
    assert_int_equal(status, 200);
    json_decref(j);
}

static json_t *ctl_get(const char *path)
{
    long status = 0;
    json_t *j = http(g_fake.base, "GET", path, NULL, NULL, &status);
    assert_int_equal(status, 200);
    assert_non_null(j);
    return j;
}

static int64_t stat_value(const char *key)
{
    json_t *j = ctl_get("/control/stats");
    int64_t v = json_integer_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

static int call(struct tg_api *a, const char *method, const char *body, struct tg_api_result *r)
{
    memset(r, 0x5a, sizeof(*r));
    return tg_api_call(a, method, body, body ? strlen(body) : 0, r);
}

static struct tg_api *new_api(long timeout_ms)
{
    struct tg_api *a = tg_api_new(g_fake.base, TOKEN, timeout_ms);
    assert_non_null(a);
    tg_api_want_result(a, true);
    return a;
}

/* Each test starts with a fake that has forgotten everything. */
static int reset_fake(void **state)
{
    ctl("/control/reset", "{}");
    return 0;
}

static int group_setup(void **state)
{
    if (tg_api_global_init() != 0)
        return -1;
    return fake_start(&g_fake, NULL);
}

static int group_teardown(void **state)
{
    int rc = fake_stop(&g_fake);
    tg_api_global_cleanup();
    if (rc != 0)
        fprintf(stderr, "fake-tg exited with %d, expected 0\n", rc);
    return rc == 0 ? 0 : -1;
}

/* ---- calls through the fake ---------------------------------------------------- */

static void test_send_message(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    const char *text =
        "Request #7 created \xe2\x80\x94 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1"
        "\x82 *not markdown* <b>";
    json_t *body = json_pack("{s:I,s:s}", "chat_id", (json_int_t)INT64_C(6123456789), "text", text);
    char *s = json_dumps(body, JSON_COMPACT);

    assert_int_equal(call(a, "sendMessage", s, &r), 0);
    assert_string_equal(tg_outcome_name(r.outcome), "sent");
    assert_int_equal(r.http_status, 200);
    assert_true(r.ok);
    assert_int_equal(r.error_code, 0);
    assert_string_equal(r.description, "");
    assert_string_equal(r.error, "");
    assert_int_equal(r.curl_code, 0);
    assert_false(r.result_true);
    int64_t first = r.message_id;
    assert_true(first >= 1000);
    assert_non_null(r.result);
    assert_string_equal(json_string_value(json_object_get(r.result, "text")), text);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.result, "chat"), "id")),
                     INT64_C(6123456789));

    assert_int_equal(call(a, "sendMessage", s, &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_int_equal(r.message_id, first + 1);

    /* Without a tree (the sender's way): the same fields, no result. */
    tg_api_want_result(a, false);
    assert_int_equal(call(a, "sendMessage", s, &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_true(r.ok);
    assert_int_equal(r.message_id, first + 2);
    assert_null(r.result);
    tg_api_want_result(a, true);

    json_t *calls = ctl_get("/control/calls?method=sendMessage");
    assert_int_equal(json_array_size(calls), 3);
    json_t *c0 = json_array_get(calls, 0), *c1 = json_array_get(calls, 1);
    assert_string_equal(json_string_value(json_object_get(c0, "method")), "sendMessage");
    assert_string_equal(json_string_value(json_object_get(c0, "token")), TOKEN);
    assert_int_equal(json_integer_value(json_object_get(c0, "status")), 200);
    assert_true(json_integer_value(json_object_get(c1, "seq")) >
                json_integer_value(json_object_get(c0, "seq")));
    assert_true(json_is_real(json_object_get(c0, "ts")));
    json_t *b0 = json_object_get(c0, "body");
    assert_true(json_equal(b0, body));
    assert_null(json_object_get(b0, "parse_mode"));
    json_decref(calls);

    json_t *count = ctl_get("/control/count?method=sendMessage&status=200");
    assert_int_equal(json_integer_value(json_object_get(count, "count")), 3);
    json_decref(count);

    free(s);
    json_decref(body);
    tg_api_free(a);
}

/* A sendDocument carrying its file goes as a multipart upload; the client then goes back to JSON.
 */
static void test_upload(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    const char *content =
        "line 1 \"quoted\" <b>&amp;</b>\n\xd0\xbf\xd1\x80\xd0\xb8\n--not-a-boundary\n";
    json_t *body =
        json_pack("{s:I,s:s,s:{s:[[{s:s,s:s}]]},s:{s:s,s:s,s:s}}", "chat_id", (json_int_t)42,
                  "caption", "Transcript", "reply_markup", "inline_keyboard", "text", "1",
                  "callback_data", "rate:1:1", "document", "filename", "request-1.txt",
                  "content_type", "text/plain; charset=utf-8", "content", content);
    char *s = json_dumps(body, JSON_COMPACT);
    assert_int_equal(call(a, "sendDocument", s, &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_true(r.message_id > 0);
    /* The same client sends JSON again, and a document by file id stays JSON. */
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":42,\"text\":\"after\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_int_equal(call(a, "sendDocument", "{\"chat_id\":42,\"document\":\"BQAD\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);

    json_t *calls = ctl_get("/control/calls");
    assert_int_equal(json_array_size(calls), 3);
    json_t *up = json_object_get(json_array_get(calls, 0), "body");
    json_t *doc = json_object_get(up, "document");
    /* "size" is only recorded for a file part of a multipart body. */
    assert_int_equal(json_integer_value(json_object_get(doc, "size")), (json_int_t)strlen(content));
    assert_string_equal(json_string_value(json_object_get(doc, "content")), content);
    assert_string_equal(json_string_value(json_object_get(doc, "filename")), "request-1.txt");
    assert_string_equal(json_string_value(json_object_get(doc, "content_type")),
                        "text/plain; charset=utf-8");
    assert_string_equal(json_string_value(json_object_get(up, "chat_id")), "42");
    assert_string_equal(json_string_value(json_object_get(up, "caption")), "Transcript");
    json_t *markup = json_loads(json_string_value(json_object_get(up, "reply_markup")), 0, NULL);
    assert_true(json_equal(markup, json_object_get(body, "reply_markup")));
    json_decref(markup);
    json_t *after = json_object_get(json_array_get(calls, 1), "body");
    assert_string_equal(json_string_value(json_object_get(after, "text")), "after");
    json_t *byid = json_object_get(json_array_get(calls, 2), "body");
    assert_string_equal(json_string_value(json_object_get(byid, "document")), "BQAD");
    json_decref(calls);
    free(s);
    json_decref(body);
    tg_api_free(a);
}

static void test_429_retry_after(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    ctl("/control/fail", "{\"method\":\"sendMessage\",\"mode\":\"429\",\"retry_after\":7}");

    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
    assert_string_equal(tg_outcome_name(r.outcome), "retry_after");
    assert_int_equal(r.http_status, 429);
    assert_false(r.ok);
    assert_int_equal(r.error_code, 429);
    assert_int_equal(r.retry_after, 7);
    assert_string_equal(r.description, "Too Many Requests: retry after 7");
    assert_int_equal(r.message_id, 0);
    assert_null(r.result);

    /* count defaults to 1: the next call goes through. */
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_int_equal(r.retry_after, 0);

    json_t *calls = ctl_get("/control/calls?method=sendMessage");
    assert_int_equal(json_array_size(calls), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(calls, 0), "status")), 429);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(calls, 1), "status")), 200);
    json_decref(calls);
    tg_api_free(a);
}

static void test_server_errors_retry(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    ctl("/control/fail", "{\"method\":\"*\",\"mode\":\"500\"}");
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
    assert_string_equal(tg_outcome_name(r.outcome), "retry");
    assert_int_equal(r.http_status, 500);
    assert_int_equal(r.error_code, 500);
    assert_string_equal(r.description, "Internal Server Error");

    /* Telegram's front end answers 502 with an HTML page: still a retry. */
    ctl("/control/fail", "{\"method\":\"sendMessage\",\"mode\":502,\"count\":2}");
    for (int i = 0; i < 2; i++) {
        assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
        assert_int_equal(r.outcome, TG_RETRY);
        assert_int_equal(r.http_status, 502);
        assert_false(r.ok);
        assert_int_equal(r.curl_code, 0);
        assert_string_equal(r.error, "HTTP 502 answer is not Bot API JSON");
    }
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    tg_api_free(a);
}

static void test_403_forbidden(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    ctl("/control/fail", "{\"method\":\"sendMessage\",\"mode\":\"403\"}");
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":5,\"text\":\"hi\"}", &r), 0);
    assert_string_equal(tg_outcome_name(r.outcome), "forbidden");
    assert_int_equal(r.http_status, 403);
    assert_int_equal(r.error_code, 403);
    assert_string_equal(r.description, "Forbidden: bot was blocked by the user");
    tg_api_free(a);
}

static void test_400_permanent(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    ctl("/control/fail", "{\"method\":\"sendMessage\",\"mode\":\"400\"}");
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":5,\"text\":\"hi\"}", &r), 0);
    assert_string_equal(tg_outcome_name(r.outcome), "permanent");
    assert_int_equal(r.http_status, 400);
    assert_string_equal(r.description, "Bad Request: chat not found");
    assert_int_equal(r.migrate_to_chat_id, 0);

    ctl("/control/fail",
        "{\"mode\":\"400\",\"description\":\"Bad Request: can't parse entities\"}");
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":5,\"text\":\"hi\"}", &r), 0);
    assert_int_equal(r.outcome, TG_PERMANENT);
    assert_string_equal(r.description, "Bad Request: can't parse entities");
    tg_api_free(a);
}

static void test_migrate(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    ctl("/control/fail", "{\"method\":\"sendMessage\",\"chat_id\":-4001,\"mode\":\"migrate\","
                         "\"migrate_to_chat_id\":-1009876543210}");
    /* Another chat is not affected by the rule. */
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":-4002,\"text\":\"hi\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);

    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":-4001,\"text\":\"hi\"}", &r), 0);
    assert_string_equal(tg_outcome_name(r.outcome), "migrate");
    assert_int_equal(r.http_status, 400);
    assert_int_equal(r.migrate_to_chat_id, INT64_C(-1009876543210));
    assert_string_equal(r.description, "Bad Request: group chat was upgraded to a supergroup chat");
    tg_api_free(a);
}

static void test_hang_times_out(void **state)
{
    struct tg_api *a = new_api(300);
    struct tg_api_result r;
    ctl("/control/fail", "{\"method\":\"sendMessage\",\"mode\":\"hang\"}");
    int64_t t0 = clock_mono_ms();
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
    int64_t took = clock_mono_ms() - t0;
    assert_true(took >= 250);
    assert_true(took < 1000);
    assert_string_equal(tg_outcome_name(r.outcome), "retry");
    assert_int_equal(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(r.http_status, 0);
    assert_true(strlen(r.error) > 0);
    assert_null(strstr(r.error, TOKEN_KEY));
    assert_null(strstr(r.error, "/bot"));

    /* The fake saw the call (status 0: no answer) and the handle still works. */
    json_t *count = ctl_get("/control/count?method=sendMessage&status=0");
    assert_int_equal(json_integer_value(json_object_get(count, "count")), 1);
    json_decref(count);
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_string_equal(r.error, "");
    tg_api_free(a);
}

static void test_closed_connection_retries(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    ctl("/control/fail", "{\"mode\":\"close\"}");
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
    assert_int_equal(r.outcome, TG_RETRY);
    assert_int_not_equal(r.curl_code, 0);
    assert_null(strstr(r.error, TOKEN_KEY));
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    tg_api_free(a);
}

static void test_connection_refused(void **state)
{
    /* A port that was free a moment ago: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
    close(fd);
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/", ntohs(sin.sin_port));

    struct tg_api *a = tg_api_new(base, TOKEN, 2000);
    assert_non_null(a);
    struct tg_api_result r;
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"hi\"}", &r), 0);
    assert_string_equal(tg_outcome_name(r.outcome), "retry");
    assert_int_equal(r.curl_code, CURLE_COULDNT_CONNECT);
    assert_int_equal(r.http_status, 0);
    assert_true(strlen(r.error) > 0);
    assert_null(strstr(r.error, TOKEN_KEY));
    tg_api_free(a);
}

static void test_keep_alive(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    int64_t before = stat_value("connections_total");
    for (int i = 0; i < 50; i++) {
        assert_int_equal(call(a, "sendMessage", "{\"chat_id\":77,\"text\":\"again\"}", &r), 0);
        assert_int_equal(r.outcome, TG_SENT);
    }
    int64_t opened = stat_value("connections_total") - before;
    /* One connection for the 50 calls, plus the ones the stats requests opened. */
    assert_true(opened <= 3);
    tg_api_free(a);
}

static void test_text_length(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    /* 4096 two-byte characters: 8192 bytes but within Telegram's limit. */
    char *text = malloc(4097 * 2 + 1);
    for (int i = 0; i < 4097; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2);
    text[4096 * 2] = '\0';
    json_t *body = json_pack("{s:i,s:s}", "chat_id", 9, "text", text);
    char *s = json_dumps(body, JSON_COMPACT);
    assert_int_equal(call(a, "sendMessage", s, &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    free(s);
    json_decref(body);

    memcpy(text + 4096 * 2, "\xc3\xa9", 2);
    text[4097 * 2] = '\0';
    body = json_pack("{s:i,s:s}", "chat_id", 9, "text", text);
    s = json_dumps(body, JSON_COMPACT);
    assert_int_equal(call(a, "sendMessage", s, &r), 0);
    assert_string_equal(tg_outcome_name(r.outcome), "permanent");
    assert_int_equal(r.http_status, 400);
    assert_string_equal(r.description, "Bad Request: message is too long");
    free(s);
    json_decref(body);
    free(text);

    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":9,\"text\":\"  \"}", &r), 0);
    assert_int_equal(r.outcome, TG_PERMANENT);
    assert_string_equal(r.description, "Bad Request: message text is empty");
    assert_int_equal(call(a, "sendMessage", "{\"text\":\"hi\"}", &r), 0);
    assert_int_equal(r.outcome, TG_PERMANENT);
    assert_string_equal(r.description, "Bad Request: chat_id is empty");
    tg_api_free(a);
}

/* A client keeps the parsed URLs of eight methods: calls to more methods
 * than that, in turn, still each reach their own method. */
static void test_many_methods(void **state)
{
    static const char *const names[] = {
        "getMe",         "sendChatAction",   "leaveChat",     "getChat",
        "getMyCommands", "deleteMyCommands", "setMyCommands", "logOut",
        "close",         "getWebhookInfo",   "sendMessage",
    };
    enum { N = sizeof(names) / sizeof(names[0]), ROUNDS = 3 };
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    for (int round = 0; round < ROUNDS; round++)
        for (size_t i = 0; i < N; i++)
            assert_int_equal(call(a, names[i], "{\"chat_id\":5,\"text\":\"hi\"}", &r), 0);
    json_t *calls = ctl_get("/control/calls");
    assert_int_equal(json_array_size(calls), N * ROUNDS);
    for (size_t k = 0; k < N * ROUNDS; k++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(calls, k), "method")),
                            names[k % N]);
    json_decref(calls);
    tg_api_free(a);
}

/* A proxy named in the environment is used (here one that refuses every
 * connection); without one, calls go straight to the Bot API. */
static void test_proxy_from_environment(void **state)
{
    struct tg_api_result r;
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    struct tg_api *a = new_api(5000);
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":5,\"text\":\"via proxy\"}", &r), 0);
    unsetenv("http_proxy");
    assert_int_not_equal(r.outcome, TG_SENT);
    assert_int_equal(r.curl_code, CURLE_COULDNT_CONNECT);
    tg_api_free(a);

    a = new_api(5000);
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":5,\"text\":\"direct\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    tg_api_free(a);
}

static void test_unknown_method(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;
    assert_int_equal(call(a, "sendTelepathy", "{\"chat_id\":1}", &r), 0);
    assert_int_equal(r.outcome, TG_PERMANENT);
    assert_int_equal(r.http_status, 404);
    assert_int_equal(r.error_code, 404);
    assert_string_equal(r.description, "Not Found");
    tg_api_free(a);
}

static void test_other_methods(void **state)
{
    struct tg_api *a = new_api(5000);
    struct tg_api_result r;

    assert_int_equal(call(a, "answerCallbackQuery", "{\"callback_query_id\":\"42\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_true(r.result_true);
    assert_int_equal(r.message_id, 0);

    assert_int_equal(
        call(a, "copyMessage", "{\"chat_id\":-1001,\"from_chat_id\":5,\"message_id\":17}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_true(r.message_id >= 1000);
    assert_int_equal(json_object_size(r.result), 1);

    assert_int_equal(call(a, "sendPhoto", "{\"chat_id\":5,\"photo\":\"AgACfile\"}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_true(r.message_id >= 1000);

    assert_int_equal(call(a, "editMessageReplyMarkup", "{\"chat_id\":5,\"message_id\":1000}", &r),
                     0);
    assert_true(r.result_true);

    assert_int_equal(call(a, "getMe", NULL, &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_true(json_is_true(json_object_get(r.result, "is_bot")));
    assert_int_equal(json_integer_value(json_object_get(r.result, "id")), 123456);

    const char *set = "{\"url\":\"https://desk.example.com/webhook\",\"secret_token\":\"s3cr_t-x\","
                      "\"allowed_updates\":[\"message\",\"callback_query\"],\"max_connections\":"
                      "40}";
    assert_int_equal(call(a, "setWebhook", set, &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_true(r.result_true);
    assert_string_equal(r.description, "Webhook was set");

    assert_int_equal(call(a, "getWebhookInfo", "{}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_string_equal(json_string_value(json_object_get(r.result, "url")),
                        "https://desk.example.com/webhook");
    assert_int_equal(json_integer_value(json_object_get(r.result, "max_connections")), 40);
    assert_int_equal(json_integer_value(json_object_get(r.result, "pending_update_count")), 0);
    assert_int_equal(json_array_size(json_object_get(r.result, "allowed_updates")), 2);
    assert_null(json_object_get(r.result, "secret_token"));

    /* The secret reached the fake; it is in the recorded body. */
    json_t *calls = ctl_get("/control/calls?method=setWebhook");
    assert_int_equal(json_array_size(calls), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(calls, 0), "body"), "secret_token")),
                        "s3cr_t-x");
    json_decref(calls);

    assert_int_equal(call(a, "setWebhook", "{\"url\":\"http://insecure.example.com/\"}", &r), 0);
    assert_int_equal(r.outcome, TG_PERMANENT);
    assert_string_equal(r.description,
                        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook");

    assert_int_equal(call(a, "deleteWebhook", NULL, &r), 0);
    assert_true(r.result_true);
    assert_string_equal(r.description, "Webhook was deleted");
    assert_int_equal(call(a, "getWebhookInfo", NULL, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r.result, "url")), "");
    tg_api_free(a);
}

static void *post_update_later(void *arg)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
    nanosleep(&ts, NULL);
    long status = 0;
    json_t *j = http(g_fake.base, "POST", "/control/updates",
                     "{\"update_id\":900,\"message\":{\"message_id\":3,\"text\":\"late\"}}",
                     "application/json", &status);
    json_decref(j);
    return NULL;
}

static void test_get_updates(void **state)
{
    struct tg_api *a = new_api(10000);
    struct tg_api_result r;
    ctl("/control/updates", "[{\"message\":{\"message_id\":1,\"text\":\"one\"}},"
                            "{\"message\":{\"message_id\":2,\"text\":\"two\"}}]");
    assert_int_equal(call(a, "getUpdates", "{\"offset\":0,\"timeout\":1}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_int_equal(json_array_size(r.result), 2);
    int64_t id1 = json_integer_value(json_object_get(json_array_get(r.result, 0), "update_id"));
    int64_t id2 = json_integer_value(json_object_get(json_array_get(r.result, 1), "update_id"));
    assert_true(id2 == id1 + 1);

    /* offset confirms the first one only. */
    char body[128];
    snprintf(body, sizeof(body), "{\"offset\":%lld,\"limit\":10}", (long long)id2);
    assert_int_equal(call(a, "getUpdates", body, &r), 0);
    assert_int_equal(json_array_size(r.result), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(r.result, 0), "message"), "text")),
                        "two");

    /* Nothing left: the long poll lasts its timeout, then answers []. */
    snprintf(body, sizeof(body), "{\"offset\":%lld,\"timeout\":1}", (long long)(id2 + 1));
    int64_t t0 = clock_mono_ms();
    assert_int_equal(call(a, "getUpdates", body, &r), 0);
    int64_t took = clock_mono_ms() - t0;
    assert_int_equal(r.outcome, TG_SENT);
    assert_true(json_is_array(r.result));
    assert_int_equal(json_array_size(r.result), 0);
    assert_true(took >= 900);

    /* An update queued during the long poll ends it at once. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, post_update_later, NULL), 0);
    snprintf(body, sizeof(body), "{\"offset\":%lld,\"timeout\":5}", (long long)(id2 + 1));
    t0 = clock_mono_ms();
    assert_int_equal(call(a, "getUpdates", body, &r), 0);
    took = clock_mono_ms() - t0;
    pthread_join(th, NULL);
    assert_int_equal(json_array_size(r.result), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.result, 0), "update_id")),
                     900);
    assert_true(took < 3000);

    /* While a webhook is set, getUpdates is refused like Telegram does. */
    assert_int_equal(call(a, "setWebhook", "{\"url\":\"https://x.example.com/w\"}", &r), 0);
    assert_int_equal(call(a, "getUpdates", NULL, &r), 0);
    assert_int_equal(r.http_status, 409);
    assert_int_equal(r.outcome, TG_PERMANENT);
    tg_api_free(a);
}

static void test_answer_cap(void **state)
{
    /* 100 queued updates of ~50 KB: getUpdates answers ~5 MB, over the 4 MiB cap. */
    char *text = malloc(50001);
    memset(text, 'a', 50000);
    text[50000] = '\0';
    for (int k = 0; k < 10; k++) {
        json_t *list = json_array();
        for (int i = 0; i < 10; i++)
            json_array_append_new(
                list, json_pack("{s:{s:i,s:s}}", "message", "message_id", i, "text", text));
        char *s = json_dumps(list, JSON_COMPACT);
        ctl("/control/updates", s);
        free(s);
        json_decref(list);
    }
    free(text);
    struct tg_api *a = new_api(10000);
    struct tg_api_result r;
    assert_int_equal(call(a, "getUpdates", "{\"limit\":100}", &r), 0);
    assert_string_equal(tg_outcome_name(r.outcome), "retry");
    assert_int_not_equal(r.curl_code, 0);
    assert_string_equal(r.error, "answer larger than 4194304 bytes");
    assert_null(r.result);
    /* A smaller answer on the same handle is fine again. */
    assert_int_equal(call(a, "getUpdates", "{\"limit\":10}", &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    assert_int_equal(json_array_size(r.result), 10);
    tg_api_free(a);
}

struct par {
    int64_t took;
    enum tg_outcome outcome;
};

static void *parallel_call(void *arg)
{
    struct par *p = arg;
    struct tg_api *a = tg_api_new(g_fake.base, TOKEN, 5000);
    struct tg_api_result r;
    int64_t t0 = clock_mono_ms();
    const char *body = "{\"chat_id\":3,\"text\":\"x\"}";
    if (a && tg_api_call(a, "sendMessage", body, strlen(body), &r) == 0)
        p->outcome = r.outcome;
    else
        p->outcome = TG_PERMANENT;
    p->took = clock_mono_ms() - t0;
    tg_api_free(a);
    return NULL;
}

static void test_latency_does_not_serialise(void **state)
{
    ctl("/control/latency", "{\"ms\":400}");
    pthread_t th[6];
    struct par p[6];
    int64_t t0 = clock_mono_ms();
    for (int i = 0; i < 6; i++)
        assert_int_equal(pthread_create(&th[i], NULL, parallel_call, &p[i]), 0);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    int64_t took = clock_mono_ms() - t0;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(p[i].outcome, TG_SENT);
        assert_true(p[i].took >= 350);
    }
    /* Six calls of 400 ms in parallel, not 2.4 s one after the other. */
    assert_true(took < 1500);
}

/* Six calls of 400 ms from one thread over tg_multi: all in flight at once,
 * each answer read by its own client, a failure kept apart; a cancelled call
 * is not reported; a wake-up from another thread ends a wait early. */
static void *wake_later(void *arg)
{
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
    tg_multi_wakeup(arg);
    return NULL;
}

static void test_multi(void **state)
{
    struct tg_multi *t = tg_multi_new(7);
    assert_non_null(t);
    struct tg_api *a[7];
    for (int i = 0; i < 7; i++)
        a[i] = new_api(5000);
    ctl("/control/latency", "{\"ms\":400}");
    ctl("/control/fail", "{\"method\":\"sendMessage\",\"chat_id\":3,\"mode\":\"403\"}");
    char body[7][64];
    int64_t t0 = clock_mono_ms();
    for (int i = 0; i < 7; i++) {
        snprintf(body[i], sizeof(body[i]), "{\"chat_id\":%d,\"text\":\"call %d\"}", i + 1, i);
        assert_int_equal(tg_multi_start(t, a[i], "sendMessage", body[i], strlen(body[i])), 0);
    }
    /* The same client twice at once, and a bad method: refused. */
    assert_int_equal(tg_multi_start(t, a[0], "sendMessage", body[0], strlen(body[0])), -EINVAL);
    assert_int_equal(tg_multi_start(t, a[0], "send/Message", body[0], strlen(body[0])), -EINVAL);
    tg_multi_cancel(t, a[6]);
    /* A client with a call in flight takes no blocking call either. */
    struct tg_api_result busy;
    assert_int_equal(call(a[1], "sendMessage", body[1], &busy), -EINVAL);

    int seen[7] = {0}, got = 0;
    while (got < 6 && clock_mono_ms() - t0 < 3000) {
        assert_int_equal(tg_multi_run(t, 1000), 0);
        struct tg_api_result r;
        struct tg_api *done;
        while ((done = tg_multi_done(t, &r))) {
            int i = 0;
            while (i < 7 && a[i] != done)
                i++;
            assert_true(i < 6);
            seen[i]++;
            got++;
            if (i == 2) {
                assert_int_equal(r.outcome, TG_FORBIDDEN);
                assert_int_equal(r.http_status, 403);
            } else {
                assert_int_equal(r.outcome, TG_SENT);
                assert_int_equal(
                    json_integer_value(json_object_get(json_object_get(r.result, "chat"), "id")),
                    i + 1);
            }
        }
    }
    int64_t took = clock_mono_ms() - t0;
    for (int i = 0; i < 6; i++)
        assert_int_equal(seen[i], 1);
    /* In flight together: not 2.4 s one after the other. */
    assert_true(took >= 350);
    assert_true(took < 1500);

    /* Nothing in flight: a wait ends at the wake-up, not after 5 s. */
    pthread_t th;
    t0 = clock_mono_ms();
    assert_int_equal(pthread_create(&th, NULL, wake_later, t), 0);
    assert_int_equal(tg_multi_run(t, 5000), 0);
    pthread_join(th, NULL);
    assert_true(clock_mono_ms() - t0 < 2000);

    /* A client works on its own again afterwards. */
    ctl("/control/latency", "{\"ms\":0}");
    struct tg_api_result r;
    assert_int_equal(call(a[6], "sendMessage", body[6], &r), 0);
    assert_int_equal(r.outcome, TG_SENT);
    for (int i = 0; i < 7; i++)
        tg_api_free(a[i]);
    tg_multi_free(t);
}

static void test_fake_raw_requests(void **state)
{
    long status = 0;
    char path[256];

    /* GET with query arguments: recorded as the call's parameters. */
    snprintf(path, sizeof(path), "/bot%s/sendMessage?chat_id=12&text=from%%20query", TOKEN);
    json_t *j = http(g_fake.base, "GET", path, NULL, NULL, &status);
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);

    /* A body that is not JSON: 400, recorded with body null. */
    snprintf(path, sizeof(path), "/bot%s/sendMessage", TOKEN);
    j = http(g_fake.base, "POST", path, "{not json", "application/json", &status);
    assert_int_equal(status, 400);
    assert_false(json_is_true(json_object_get(j, "ok")));
    json_decref(j);

    /* A path that is no Bot API call. */
    j = http(g_fake.base, "GET", "/nothing/here", NULL, NULL, &status);
    assert_int_equal(status, 404);
    assert_int_equal(json_integer_value(json_object_get(j, "error_code")), 404);
    json_decref(j);

    json_t *calls = ctl_get("/control/calls");
    assert_int_equal(json_array_size(calls), 2);
    json_t *b0 = json_object_get(json_array_get(calls, 0), "body");
    assert_int_equal(json_integer_value(json_object_get(b0, "chat_id")), 12);
    assert_string_equal(json_string_value(json_object_get(b0, "text")), "from query");
    assert_true(json_is_null(json_object_get(json_array_get(calls, 1), "body")));
    int64_t seq = json_integer_value(json_object_get(json_array_get(calls, 0), "seq"));
    json_decref(calls);

    snprintf(path, sizeof(path), "/control/calls?since=%lld", (long long)seq);
    calls = ctl_get(path);
    assert_int_equal(json_array_size(calls), 1);
    json_decref(calls);

    /* A bad control request says what is wrong. */
    j = http(g_fake.base, "POST", "/control/fail", "{\"mode\":\"sometimes\"}", "application/json",
             &status);
    assert_int_equal(status, 400);
    assert_non_null(json_string_value(json_object_get(j, "description")));
    json_decref(j);

    /* count with min waits for calls still to come, and gives up at timeout_ms. */
    int64_t t0 = clock_mono_ms();
    j = ctl_get("/control/count?method=sendMessage&min=5&timeout_ms=300");
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 2);
    assert_true(clock_mono_ms() - t0 >= 250);
    json_decref(j);
}

static void test_fake_record_file(void **state)
{
    char path[] = "/tmp/tgdesk-fake-record-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct fake f2 = {0};
    const char *extra[] = {"--record", path, NULL};
    assert_int_equal(fake_start(&f2, extra), 0);

    struct tg_api *a = tg_api_new(f2.base, TOKEN, 5000);
    assert_non_null(a);
    struct tg_api_result r;
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"one\"}", &r), 0);
    assert_int_equal(call(a, "sendMessage", "{\"chat_id\":1,\"text\":\"two\"}", &r), 0);
    tg_api_free(a);
    assert_int_equal(fake_stop(&f2), 0);

    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), fp)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "seq")), n + 1);
        assert_string_equal(json_string_value(json_object_get(j, "method")), "sendMessage");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "body"), "text")),
                            n == 0 ? "one" : "two");
        json_decref(j);
        n++;
    }
    fclose(fp);
    unlink(path);
    assert_int_equal(n, 2);
}

static void test_invalid_arguments(void **state)
{
    errno = 0;
    assert_null(tg_api_new(g_fake.base, "12:ab/../x", 1000));
    assert_int_equal(errno, EINVAL);
    assert_null(tg_api_new("ftp://example.com", TOKEN, 1000));
    assert_null(tg_api_new("https://exa mple.com", TOKEN, 1000));
    assert_null(tg_api_new(g_fake.base, "", 1000));
    assert_null(tg_api_new(g_fake.base, TOKEN, 0));
    assert_null(tg_api_new(NULL, TOKEN, 1000));

    struct tg_api *a = new_api(1000);
    struct tg_api_result r, untouched;
    memset(&r, 0x5a, sizeof(r));
    memcpy(&untouched, &r, sizeof(r));
    assert_int_equal(tg_api_call(a, "send/Message", "{}", 2, &r), -EINVAL);
    assert_int_equal(tg_api_call(a, "", "{}", 2, &r), -EINVAL);
    assert_int_equal(tg_api_call(a, "sendMessage?x=1", "{}", 2, &r), -EINVAL);
    assert_int_equal(tg_api_call(a, "sendMessage", NULL, 2, &r), -EINVAL);
    assert_int_equal(tg_api_call(a, NULL, "{}", 2, &r), -EINVAL);
    assert_int_equal(tg_api_call(a, "sendMessage", "{}", 2, NULL), -EINVAL);
    assert_memory_equal(&r, &untouched, sizeof(r));
    tg_api_free(a);
    tg_api_free(NULL);
}

/* ---- pure functions -------------------------------------------------------- */

static void test_classify(void **state)
{
    static const struct {
        int status;
        bool ok;
        int curl;
        int64_t migrate;
        enum tg_outcome want;
    } cases[] = {
        {200, true, 0, 0, TG_SENT},
        {204, true, 0, 0, TG_SENT},
        {200, false, 0, 0, TG_RETRY}, /* 200 that is not Telegram's answer */
        {200, true, 28, 0, TG_RETRY}, /* timeout after the status line */
        {0, false, 7, 0, TG_RETRY},   /* connection refused */
        {0, false, 28, 0, TG_RETRY},  /* timeout */
        {0, false, 6, 0, TG_RETRY},   /* DNS */
        {0, false, 23, 0, TG_RETRY},  /* answer too large */
        {429, false, 0, 0, TG_RETRY_AFTER},
        {400, false, 0, -100123, TG_MIGRATE},
        {400, false, 0, 0, TG_PERMANENT},
        {404, false, 0, 0, TG_PERMANENT},
        {401, false, 0, 0, TG_PERMANENT},
        {409, false, 0, 0, TG_PERMANENT},
        {403, false, 0, 0, TG_FORBIDDEN},
        {403, false, 0, -100123, TG_FORBIDDEN}, /* migrate only on 400 */
        {500, false, 0, 0, TG_RETRY},
        {502, false, 0, 0, TG_RETRY},
        {503, false, 0, 0, TG_RETRY},
        {504, false, 0, 0, TG_RETRY},
        {302, false, 0, 0, TG_RETRY},
        {100, false, 0, 0, TG_RETRY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum tg_outcome got =
            tg_api_classify(cases[i].status, cases[i].ok, cases[i].curl, cases[i].migrate);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu: status %d ok %d curl %d migrate %lld\n", i, cases[i].status,
                    cases[i].ok, cases[i].curl, (long long)cases[i].migrate);
        assert_string_equal(tg_outcome_name(got), tg_outcome_name(cases[i].want));
    }
    assert_string_equal(tg_outcome_name(TG_SENT), "sent");
    assert_string_equal(tg_outcome_name(TG_PERMANENT), "permanent");
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_backoff(void **state)
{
    assert_int_equal(tg_backoff_ceiling_ms(1), 1000);
    assert_int_equal(tg_backoff_ceiling_ms(2), 2000);
    assert_int_equal(tg_backoff_ceiling_ms(3), 4000);
    assert_int_equal(tg_backoff_ceiling_ms(9), 256000);
    assert_int_equal(tg_backoff_ceiling_ms(10), TG_BACKOFF_MAX_MS);
    assert_int_equal(tg_backoff_ceiling_ms(64), TG_BACKOFF_MAX_MS);
    assert_int_equal(tg_backoff_ceiling_ms(INT_MAX), TG_BACKOFF_MAX_MS);
    assert_int_equal(tg_backoff_ceiling_ms(0), 1000);
    assert_int_equal(tg_backoff_ceiling_ms(-7), 1000);
    assert_int_equal(tg_backoff_ceiling_ms(INT_MIN), 1000);

    int64_t prev = 0;
    for (int attempt = 1; attempt <= 200; attempt++) {
        int64_t c = tg_backoff_ceiling_ms(attempt);
        assert_true(c >= prev);
        assert_true(c <= TG_BACKOFF_MAX_MS);
        prev = c;
    }

    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    const int attempts[] = {INT_MIN, -1, 0, 1, 2, 5, 9, 10, 11, 30, 1000, INT_MAX};
    for (size_t k = 0; k < sizeof(attempts) / sizeof(attempts[0]); k++) {
        int64_t ceiling = tg_backoff_ceiling_ms(attempts[k]);
        assert_int_equal(tg_backoff_ms(attempts[k], 0), 0);
        assert_int_equal(tg_backoff_ms(attempts[k], (uint64_t)ceiling), ceiling);
        int64_t v = tg_backoff_ms(attempts[k], UINT64_MAX);
        assert_true(v >= 0 && v <= ceiling);
        double sum = 0;
        int64_t lo = INT64_MAX, hi = -1;
        for (int i = 0; i < 20000; i++) {
            v = tg_backoff_ms(attempts[k], xorshift(&seed));
            assert_true(v >= 0 && v <= ceiling);
            sum += (double)v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        /* Full jitter: uniform over [0, ceiling], so the mean is near the middle. */
        double mean = sum / 20000;
        assert_true(mean > (double)ceiling * 0.45 && mean < (double)ceiling * 0.55);
        assert_true(lo < ceiling / 20);
        assert_true(hi > ceiling - ceiling / 20);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_send_message, reset_fake),
        cmocka_unit_test_setup(test_upload, reset_fake),
        cmocka_unit_test_setup(test_429_retry_after, reset_fake),
        cmocka_unit_test_setup(test_server_errors_retry, reset_fake),
        cmocka_unit_test_setup(test_403_forbidden, reset_fake),
        cmocka_unit_test_setup(test_400_permanent, reset_fake),
        cmocka_unit_test_setup(test_migrate, reset_fake),
        cmocka_unit_test_setup(test_hang_times_out, reset_fake),
        cmocka_unit_test_setup(test_closed_connection_retries, reset_fake),
        cmocka_unit_test_setup(test_connection_refused, reset_fake),
        cmocka_unit_test_setup(test_keep_alive, reset_fake),
        cmocka_unit_test_setup(test_text_length, reset_fake),
        cmocka_unit_test_setup(test_many_methods, reset_fake),
        cmocka_unit_test_setup(test_proxy_from_environment, reset_fake),
        cmocka_unit_test_setup(test_unknown_method, reset_fake),
        cmocka_unit_test_setup(test_other_methods, reset_fake),
        cmocka_unit_test_setup(test_get_updates, reset_fake),
        cmocka_unit_test_setup(test_answer_cap, reset_fake),
        cmocka_unit_test_setup(test_latency_does_not_serialise, reset_fake),
        cmocka_unit_test_setup(test_multi, reset_fake),
        cmocka_unit_test_setup(test_fake_raw_requests, reset_fake),
        cmocka_unit_test_setup(test_fake_record_file, reset_fake),
        cmocka_unit_test_setup(test_invalid_arguments, reset_fake),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
