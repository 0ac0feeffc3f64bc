/*
 * sslcheck.h - is a connection string about to talk to a remote PostgreSQL
 * without TLS?
 */
#ifndef TGDESK_DB_SSLCHECK_H
#define TGDESK_DB_SSLCHECK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when url (a libpq URI or key/value conninfo) names a host (in host,
 * PGHOST when it has none, or hostaddr) other than a Unix socket or the
 * loopback (localhost, 127.0.0.0/8, ::1) and its
 * sslmode (or PGSSLMODE when the url has none) is weaker than require:
 * such a connection may travel unencrypted, or encrypted to anyone. The
 * offending host and sslmode are written to host and mode (capacity cap
 * each). False when url cannot be parsed.
 */
bool db_sslcheck_weak(const char *url, char *host, char *mode, size_t cap);

#endif
