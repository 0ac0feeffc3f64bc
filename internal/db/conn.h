/*
 * conn.h - how tgdesk opens a PostgreSQL connection.
 *
 * DATABASE_URL (URI or key/value conninfo; sslmode and friends honoured) is
 * parsed once into a parameter set, to which tgdesk adds what every
 * connection needs: connect_timeout, application_name=tgdesk,
 * client_encoding=UTF8 (whatever PGCLIENTENCODING or the URL say), TCP
 * keepalives and statement_timeout (appended to any `options` the URL
 * already has).
 */
#ifndef TGDESK_DB_CONN_H
#define TGDESK_DB_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db_params;

/* What a parameter set is built from. */
struct db_conn_options {
    const char *database_url;     /* DATABASE_URL: URI or key/value conninfo */
    int connect_timeout_s;        /* DB_CONNECT_TIMEOUT */
    int64_t statement_timeout_ms; /* 0: none (migrations) */
    const char *password_file;    /* DATABASE_PASSWORD_FILE, read per connection; NULL: none */
};

/*
 * Builds the parameter set from opt (read only during the call). Registers
 * the password from the URL as a log secret. Returns NULL when the URL
 * cannot be parsed or memory runs out. Free with db_params_free(). The
 * result is immutable and safe to share between threads.
 */
struct db_params *db_params_new(const struct db_conn_options *opt);

/* Releases a parameter set. Accepts NULL. */
void db_params_free(struct db_params *p);

/*
 * Opens a connection (blocking, bounded by connect_timeout). When the
 * server refuses the password and DATABASE_PASSWORD_FILE holds another one
 * by then (db_connect_again), it opens one more at once. Returns the
 * connection even when it failed: check PQstatus() and release with
 * PQfinish(). Returns NULL only when out of memory. Thread-safe.
 */
PGconn *db_connect(const struct db_params *p);

/*
 * Starts opening a connection without blocking (PQconnectStartParams): the
 * caller drives it with PQconnectPoll() and bounds it itself (libpq's
 * connect_timeout applies to blocking connects only), and asks
 * db_connect_again() when it fails. Same result rules as db_connect().
 * Thread-safe.
 */
PGconn *db_connect_start(const struct db_params *p);

/*
 * True when failed (a connect that ended CONNECTION_BAD) was refused its
 * password and DATABASE_PASSWORD_FILE now holds another one (rotated
 * meanwhile): the caller should open a new connection at once rather than
 * back off (logged). Thread-safe.
 */
bool db_connect_again(const struct db_params *p, const PGconn *failed);

/*
 * Copies the connection's last error (or res's, when res is not NULL) into
 * buf as one line: newlines folded, secrets redacted. Returns buf.
 */
char *db_errmsg(const PGconn *conn, const PGresult *res, char *buf, size_t cap);

#endif
