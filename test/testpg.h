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

#endif
