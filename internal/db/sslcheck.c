#include "sslcheck.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_local(const char *h, size_t len)
{
    if (len == 0 || h[0] == '/' || h[0] == '@') /* a socket directory or abstract socket */
        return true;
    if ((len == 9 && strncmp(h, "localhost", 9) == 0) || (len == 3 && strncmp(h, "::1", 3) == 0))
        return true;
    return len >= 4 && strncmp(h, "127.", 4) == 0;
}

bool db_sslcheck_weak(const char *url, char *host, char *mode, size_t cap)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    if (!opts) {
        PQfreemem(err);
        return false;
    }
    const char *hosts = NULL, *addrs = NULL, *sslmode = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            hosts = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            addrs = o->val;
        else if (strcmp(o->keyword, "sslmode") == 0)
            sslmode = o->val;
    }
    if (!sslmode)
        sslmode = getenv("PGSSLMODE");
    if (!sslmode || !*sslmode)
        sslmode = "prefer";
    bool strong = strcmp(sslmode, "require") == 0 || strcmp(sslmode, "verify-ca") == 0 ||
                  strcmp(sslmode, "verify-full") == 0;

    /* A remote name counts even when hostaddr points at the loopback: the
     * URL names that host (a tunnel's far end, say). */
    const char *lists[2] = {hosts ? hosts : getenv("PGHOST"), addrs};
    bool weak = false;
    for (size_t l = 0; l < 2; l++)
        for (const char *p = lists[l]; !strong && p && *p && !weak;) {
            size_t len = strcspn(p, ",");
            if (!is_local(p, len)) {
                weak = true;
                size_t n = len < cap - 1 ? len : cap - 1;
                memcpy(host, p, n);
                host[n] = '\0';
                snprintf(mode, cap, "%s", sslmode);
            }
            p += len + (p[len] == ',');
        }
    PQconninfoFree(opts);
    return weak;
}
