#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util/buf.h"
#include "util/clock.h"

extern char **environ;

/* Appends key='value' with libpq's quoting (backslash and quote escaped). */
static void add_param(struct buf *b, const char *key, const char *val)
{
    if (buf_len(b) > 0)
        buf_addc(b, ' ');
    buf_add(b, key);
    buf_add(b, "='");
    for (const char *p = val; *p; p++) {
        if (*p == '\'' || *p == '\\')
            buf_addc(b, '\\');
        buf_addc(b, *p);
    }
    buf_addc(b, '\'');
}

/*
 * The connection's parameters as a conninfo for pg_dump, without the
 * password (returned in *ret_password, owned by the caller, NULL when none).
 */
static char *conninfo_of(PGconn *conn, char **ret_password)
{
    PQconninfoOption *opts = PQconninfo(conn);
    if (!opts)
        return NULL;
    struct buf b;
    buf_init(&b, SIZE_MAX);
    char *password = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "password") == 0)
            password = strdup(o->val);
        else
            add_param(&b, o->keyword, o->val);
    }
    PQconninfoFree(opts);
    *ret_password = password;
    return buf_take(&b);
}

/* environ with PGPASSWORD replaced by password (when not NULL). */
static char **child_environ(const char *password, char **ret_pw_entry)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof(*env));
    if (!env)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "PGPASSWORD=", 11) != 0)
            env[j++] = environ[i];
    *ret_pw_entry = NULL;
    if (password) {
        char *entry = NULL;
        if (asprintf(&entry, "PGPASSWORD=%s", password) < 0) {
            free(env);
            return NULL;
        }
        env[j++] = entry;
        *ret_pw_entry = entry;
    }
    return env;
}

int db_backup(PGconn *conn, const char *dir, const char *label, FILE *out)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    const char *dbname = PQdb(conn) ? PQdb(conn) : "db";

    char *path = NULL, *partial = NULL;
    if (asprintf(&path, "%s/tgdesk-%s-%s-%s.dump", dir, dbname, stamp, label) < 0)
        return -ENOMEM;
    if (asprintf(&partial, "%s.partial", path) < 0) {
        free(path);
        return -ENOMEM;
    }

    char *password = NULL, *pw_entry = NULL;
    char *conninfo = conninfo_of(conn, &password);
    char **env = conninfo ? child_environ(password, &pw_entry) : NULL;
    char *file_arg = NULL, *db_arg = NULL;
    int rc = -ENOMEM;
    if (!env || asprintf(&file_arg, "--file=%s", partial) < 0 ||
        asprintf(&db_arg, "--dbname=%s", conninfo) < 0)
        goto out;

    /* The dump holds every user's messages: readable by the owner only
     * (pg_dump truncates the file and keeps its mode). */
    int fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        LOG(LOG_ERROR, "cannot create the backup file", LOG_STR("error", strerror(errno)),
            LOG_STR("file", partial));
        rc = -ECHILD;
        goto out;
    }
    close(fd);
    char *argv[] = {"pg_dump", "--format=custom", "--no-password", file_arg, db_arg, NULL};
    int64_t t0 = clock_mono_ms();
    pid_t pid;
    int err = posix_spawnp(&pid, "pg_dump", NULL, NULL, argv, env);
    int status = 0;
    if (err != 0) {
        LOG(LOG_ERROR, "cannot run pg_dump for the backup before migrating",
            LOG_STR("error", strerror(err)), LOG_STR("dir", dir));
        unlink(partial);
        rc = -ECHILD;
        goto out;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        LOG(LOG_ERROR, "pg_dump failed: the backup before migrating was not made",
            LOG_INT("exit_status", WIFEXITED(status) ? WEXITSTATUS(status) : -1),
            LOG_STR("file", partial));
        unlink(partial);
        rc = -ECHILD;
        goto out;
    }
    if (rename(partial, path) < 0) {
        LOG(LOG_ERROR, "cannot name the backup", LOG_STR("error", strerror(errno)),
            LOG_STR("file", path));
        unlink(partial);
        rc = -ECHILD;
        goto out;
    }
    LOG(LOG_INFO, "backup made before migrating", LOG_STR("file", path),
        LOG_INT("duration_ms", clock_mono_ms() - t0));
    if (out)
        fprintf(out, "backup %s\n", path);
    rc = 0;
out:
    free(path);
    free(partial);
    free(file_arg);
    free(db_arg);
    free(env);
    if (pw_entry) {
        explicit_bzero(pw_entry, strlen(pw_entry));
        free(pw_entry);
    }
    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    free(conninfo);
    return rc;
}
