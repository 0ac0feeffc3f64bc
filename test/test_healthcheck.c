/*
 * `tgdesk healthcheck` (internal/http/healthcheck.c): the URL it builds from
 * the configuration, and its verdict against a small local HTTP server that
 * answers /health with 200 or 503, and against a port nobody listens on.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/healthcheck.h"

static void test_url(void **state)
{
    char buf[128];
    struct healthcheck_options opt = {.listen_addr = "0.0.0.0", .port = 8080};
    assert_int_equal(healthcheck_url(&opt, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "http://127.0.0.1:8080/health");
    opt.listen_addr = "::";
    assert_int_equal(healthcheck_url(&opt, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "http://[::1]:8080/health");
    opt.listen_addr = "10.1.2.3";
    opt.tls = true;
    assert_int_equal(healthcheck_url(&opt, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "https://10.1.2.3:8080/health");
    opt.listen_addr = "fe80::1";
    opt.tls = false;
    assert_int_equal(healthcheck_url(&opt, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "http://[fe80::1]:8080/health");
    opt.port = 0;
    assert_int_equal(healthcheck_url(&opt, buf, sizeof(buf)), -EINVAL);
    opt.port = 8080;
    assert_int_equal(healthcheck_url(&opt, buf, 10), -ENAMETOOLONG);
}

static atomic_int g_status = 200;
static atomic_int g_hits;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    static const char pass[] = "{\"status\":\"pass\"}";
    static const char fail[] = "{\"status\":\"fail\"}";
    int status = strcmp(url, "/health") == 0 ? atomic_load(&g_status) : 404;
    atomic_fetch_add(&g_hits, 1);
    const char *body = status == 200 ? pass : fail;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void test_verdicts(void **state)
{
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer,
                                            NULL, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    assert_non_null(d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    struct healthcheck_options opt = {.listen_addr = "0.0.0.0", .port = info->port};

    atomic_store(&g_status, 200);
    assert_int_equal(healthcheck_run(&opt, 2000, stderr), 0);
    atomic_store(&g_status, 503);
    assert_int_equal(healthcheck_run(&opt, 2000, stderr), -EIO);
    assert_int_equal(atomic_load(&g_hits), 2);
    MHD_stop_daemon(d);

    /* Nobody listens there any more. */
    assert_int_equal(healthcheck_run(&opt, 2000, stderr), -ECONNREFUSED);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_verdicts),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
