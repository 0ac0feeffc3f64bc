/*
 * password.h - the database password from a file (DATABASE_PASSWORD_FILE),
 * the container-secret convention.
 *
 * The file is read for every new connection, so a rotated password (the
 * file rewritten, the role's password changed) is used by the next
 * connection opened, without a restart; connections already open keep
 * working until the pool recycles them. Its first line is the password (a
 * trailing newline or carriage return is not part of it).
 */
#ifndef TGDESK_DB_PASSWORD_H
#define TGDESK_DB_PASSWORD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Longest password read from the file. */
#define DB_PASSWORD_MAX 1024

/*
 * Reads the password from path into buf (capacity cap, NUL-terminated).
 * Returns 0, -E2BIG when it does not fit, -EINVAL when the file is empty, or
 * -errno when it cannot be read. Thread-safe.
 */
int db_password_read(const char *path, char *buf, size_t cap);

/*
 * Opens a connection with the NULL-terminated keys/vals (n pairs), the
 * password read from path now replacing any given: blocking
 * (PQconnectdbParams) or not (PQconnectStartParams: the caller drives the
 * connection). When the file cannot be read, the connection is tried with
 * the parameters as given (and the failure logged). Returns what libpq
 * returns (NULL only when out of memory). Thread-safe.
 */
PGconn *db_password_connect(const char *path, const char *const *keys, const char *const *vals,
                            size_t n, bool nonblocking);

/*
 * True when conn failed because the server refused its password and the
 * file at path now holds another one (rotated while conn was opening): the
 * caller then opens a new connection at once, before backing off (logged).
 * Thread-safe.
 */
bool db_password_refused(const char *path, const PGconn *conn);

#endif
