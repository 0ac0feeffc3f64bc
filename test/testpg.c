#include "testpg.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static _Atomic int counter;

static const char *base(void)
{
    return getenv("TGDESK_TEST_PG");
}

void testpg_require(void)
{
    if (!base() || !*base()) {
        fprintf(stderr, "TGDESK_TEST_PG is not set: skipping (scripts/test.sh sets it)\n");
        exit(77);
    }
}

PGconn *testpg_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "testpg: cannot connect (%s): %s", conninfo, PQerrorMessage(c));
        abort();
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static char *dbname_of(const char *conninfo)
{
    /* The database a test made is the last dbname= of its conninfo. */
    const char *last = NULL;
    for (const char *p = conninfo; (p = strstr(p, " dbname=")) != NULL; p++)
        last = p;
    return last ? strdup(last + 8) : NULL;
}

char *testpg_create_db(void)
{
    testpg_require();
    char name[64], sql[128];
    snprintf(name, sizeof(name), "tgdesk_t_%d_%d", (int)getpid(), atomic_fetch_add(&counter, 1));
    PGconn *admin = testpg_connect(base());
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
    PQclear(PQexec(admin, sql));
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    PGresult *r = PQexec(admin, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "testpg: %s", PQresultErrorMessage(r));
        abort();
    }
    PQclear(r);
    PQfinish(admin);
    size_t len = strlen(base()) + strlen(name) + 16;
    char *ci = malloc(len);
    snprintf(ci, len, "%s dbname=%s", base(), name);
    return ci;
}

void testpg_drop_db(const char *conninfo)
{
    char *name = dbname_of(conninfo);
    if (!name)
        return;
    char sql[160];
    PGconn *admin = testpg_connect(base());
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    PQclear(PQexec(admin, sql));
    PQfinish(admin);
    free(name);
}

char *testpg_value(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    char *v = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "testpg: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

const char *testpg_exec(PGconn *conn, const char *sql)
{
    static _Thread_local char state[8];
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    state[0] = '\0';
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(state, sizeof(state), "%s", s ? s : "?????");
    }
    PQclear(r);
    return state;
}

/* ---- the private cluster ---- */

struct testpg_cluster testpg_cluster;
static bool cluster_up;
static void (*cluster_hook)(void);

int testpg_cluster_ctl(const char *action)
{
    const char *root = getenv("TGDESK_SOURCE_ROOT");
    char cmd[512];
    if (strcmp(action, "start") == 0)
        snprintf(cmd, sizeof(cmd), "bash '%s/scripts/pg.sh' start '%s' %d --fast >/dev/null", root,
                 testpg_cluster.pgdir, testpg_cluster.port);
    else
        snprintf(cmd, sizeof(cmd), "bash '%s/scripts/pg.sh' stop '%s' >/dev/null", root,
                 testpg_cluster.pgdir);
    return system(cmd);
}

int testpg_postmaster_pid(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/data/postmaster.pid", testpg_cluster.pgdir);
    FILE *f = fopen(path, "r");
    int pid = -1;
    if (f && fscanf(f, "%d", &pid) != 1)
        pid = -1;
    if (f)
        fclose(f);
    return pid;
}

static void cluster_cleanup(void)
{
    if (cluster_hook)
        cluster_hook();
    if (!cluster_up)
        return;
    cluster_up = false;
    testpg_cluster_ctl("stop");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", testpg_cluster.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "testpg: could not remove %s\n", testpg_cluster.dir);
}

/* A failed assertion that aborts must not leave a server running. */
static void on_crash(int sig)
{
    cluster_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

void testpg_cluster_start(const char *tag, void (*on_cleanup)(void))
{
    struct testpg_cluster *c = &testpg_cluster;
    const char *root = getenv("TGDESK_SOURCE_ROOT");
    snprintf(c->dir, sizeof(c->dir), "/tmp/tgdesk_%s_XXXXXX", tag);
    if (!root || !mkdtemp(c->dir) || chmod(c->dir, 0755) != 0) {
        perror("testpg: mkdtemp");
        exit(1);
    }
    size_t dl = strnlen(c->dir, sizeof(c->dir) - 1); /* < sizeof(pgdir) - 4 */
    memcpy(c->pgdir, c->dir, dl);
    memcpy(c->pgdir + dl, "/pg", 4);

    char cmd[512];
    snprintf(cmd, sizeof(cmd), "bash '%s/scripts/freeport.sh'", root);
    FILE *f = popen(cmd, "r");
    if (!f || fscanf(f, "%d", &c->port) != 1) {
        fprintf(stderr, "testpg: freeport.sh failed\n");
        exit(1);
    }
    pclose(f);

    cluster_hook = on_cleanup;
    cluster_up = true;
    atexit(cluster_cleanup);
    signal(SIGABRT, on_crash);
    signal(SIGSEGV, on_crash);
    if (testpg_cluster_ctl("start") != 0) {
        fprintf(stderr, "testpg: pg.sh start failed\n");
        exit(1);
    }
    snprintf(c->conninfo, sizeof(c->conninfo),
             "host=127.0.0.1 port=%d user=postgres dbname=postgres", c->port);
}
