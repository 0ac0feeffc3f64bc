/*
 * trivial.c - the HTTP ceiling of the benchmark: a libmicrohttpd server,
 * configured like tgdesk's listener, that reads the body and answers 200 with
 * no work at all.  bench-trivial PORT
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strnum.h"

static struct MHD_Response *ok;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    static int state;
    if (*con_cls == NULL) {
        *con_cls = &state;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, ok);
}

int main(int argc, char **argv)
{
    int64_t port = 0;
    if (argc != 2 || strnum_i64(argv[1], 1, 65535, &port) < 0) {
        fprintf(stderr, "usage: bench-trivial PORT\n");
        return 2;
    }
    ok = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD, (uint16_t)port, NULL, NULL, on_request, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)30, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench-trivial: cannot listen on port %d\n", (int)port);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(ok);
    return 0;
}
