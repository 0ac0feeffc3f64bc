/*
 * sqlstate.h - the SQLSTATE of a failed statement, and what it means for the
 * update that ran it.
 */
#ifndef TGDESK_DB_SQLSTATE_H
#define TGDESK_DB_SQLSTATE_H

#include <libpq-fe.h>
#include <stdbool.h>

/* Room for a SQLSTATE and its NUL. */
#define DB_SQLSTATE_LEN 6

/*
 * Copies res's SQLSTATE into ret; "08000" (connection exception) when there
 * is no result or it carries none - the connection is what failed then.
 */
void db_sqlstate_copy(const PGresult *res, char ret[DB_SQLSTATE_LEN]);

/*
 * True when a statement that failed with this SQLSTATE may well succeed if
 * the same update comes again (connection, resources, serialization,
 * cancellation, shutdown).
 */
bool db_sqlstate_transient(const char *sqlstate);

/*
 * True when the SQLSTATE says the statement's own data is at fault - class
 * 22 (data exception: a value out of range, bad encoding) or 23 (integrity
 * constraint violation) - so that the same update would fail the same way
 * every time. Every other error (schema, permissions, resources, anything
 * unknown) is the operator's to fix, after which the update can succeed.
 */
bool db_sqlstate_data_error(const char *sqlstate);

#endif
