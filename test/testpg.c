#include "testpg.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
