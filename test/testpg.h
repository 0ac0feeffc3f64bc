/*
 * testpg.h - a fresh PostgreSQL database per test, on the throwaway cluster
 * that scripts/test.sh starts (TGDESK_TEST_PG: key/value conninfo of a
 * superuser). Without TGDESK_TEST_PG the tests are skipped (exit 77).
 */
#ifndef TGDESK_TESTPG_H
#define TGDESK_TESTPG_H

#include <libpq-fe.h>

/* Exits 77 (meson: skipped) when no test server is configured. */
void testpg_require(void);

/* Creates an empty database; returns its conninfo (caller frees). Aborts on error. */
char *testpg_create_db(void);

/* Drops a database made by testpg_create_db (terminating its sessions). */
void testpg_drop_db(const char *conninfo);

/* Connects or aborts the test. */
PGconn *testpg_connect(const char *conninfo);

/* Runs sql and returns the first column of the first row (caller frees), or NULL. */
char *testpg_value(PGconn *conn, const char *sql);

/* Runs sql; returns the SQLSTATE of a failure ("" on success, static storage per call). */
const char *testpg_exec(PGconn *conn, const char *sql);

/*
 * A private cluster, for tests that stop, restart or freeze their server
 * (the shared one must stay up for the others). One per test program.
 */
struct testpg_cluster {
    char dir[64];
    char pgdir[128];
    int port;
    char conninfo[256]; /* TCP: a stopped server refuses at once */
};
extern struct testpg_cluster testpg_cluster;

/*
 * Starts it in a fresh /tmp/tgdesk_<tag>_XXXXXX (scripts/pg.sh, fsync off)
 * on a free port; it is stopped and removed at exit, also after an abort.
 * on_cleanup (may be NULL) runs first then (e.g. to resume a frozen
 * backend). Needs TGDESK_SOURCE_ROOT; exits 1 when the cluster cannot start.
 */
void testpg_cluster_start(const char *tag, void (*on_cleanup)(void));

/* "start" or "stop" the private cluster; returns the script's status. */
int testpg_cluster_ctl(const char *action);

/* The private cluster's postmaster (from its postmaster.pid), or -1. */
int testpg_postmaster_pid(void);

#endif
