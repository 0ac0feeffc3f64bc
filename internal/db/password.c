#include "password.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* Longest keyword/value list: conn.c's parameters plus the password. */
#define MAX_PAIRS 80

int db_password_read(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    int rc = 0;
    if (!fgets(buf, (int)cap, f)) {
        rc = ferror(f) ? -EIO : -EINVAL;
    } else {
        size_t len = strcspn(buf, "\r\n");
        /* A line longer than the buffer: no newline and more of it to read
         * (a line of exactly cap - 1 bytes has its line end still unread). */
        if (buf[len] == '\0' && len == cap - 1) {
            int next = fgetc(f);
            if (next != EOF && next != '\n' && next != '\r')
                rc = -E2BIG;
        }
        buf[len] = '\0';
        if (rc == 0 && len == 0)
            rc = -EINVAL;
    }
    fclose(f);
    if (rc < 0)
        explicit_bzero(buf, cap);
    return rc;
}

static PGconn *open_with(const char *const *keys, const char *const *vals, bool nonblocking)
{
    return nonblocking ? PQconnectStartParams(keys, vals, 0) : PQconnectdbParams(keys, vals, 0);
}

/* Did the server refuse the credentials (rather than not answer)? */
static bool auth_failed(const PGconn *conn)
{
    if (!conn || PQstatus(conn) != CONNECTION_BAD)
        return false;
    return PQconnectionUsedPassword(conn) ||
           strstr(PQerrorMessage(conn), "password authentication failed");
}

bool db_password_refused(const char *path, const PGconn *conn)
{
    if (!auth_failed(conn))
        return false;
    char now[DB_PASSWORD_MAX];
    const char *used = PQpass(conn);
    bool other =
        db_password_read(path, now, sizeof(now)) == 0 && strcmp(now, used ? used : "") != 0;
    explicit_bzero(now, sizeof(now));
    if (other)
        LOG(LOG_INFO, "password refused; DATABASE_PASSWORD_FILE changed meanwhile: trying it",
            LOG_STR("file", path));
    return other;
}

PGconn *db_password_connect(const char *path, const char *const *keys, const char *const *vals,
                            size_t n, bool nonblocking)
{
    const char *k[MAX_PAIRS + 2], *v[MAX_PAIRS + 2];
    char password[DB_PASSWORD_MAX];
    int rc = n <= MAX_PAIRS ? db_password_read(path, password, sizeof(password)) : -E2BIG;
    if (rc < 0) {
        LOG(LOG_ERROR, "cannot read DATABASE_PASSWORD_FILE", LOG_STR("file", path),
            LOG_STR("error", strerror(-rc)));
        return open_with(keys, vals, nonblocking);
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i], "password") == 0)
            continue;
        k[j] = keys[i];
        v[j++] = vals[i];
    }
    k[j] = "password";
    v[j] = password;
    k[j + 1] = v[j + 1] = NULL;

    PGconn *conn = open_with(k, v, nonblocking);
    explicit_bzero(password, sizeof(password));
    return conn;
}
