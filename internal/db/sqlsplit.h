/*
 * sqlsplit.h - splits an SQL script into statements.
 *
 * Needed for migrations that run outside a transaction: PostgreSQL runs a
 * multi-statement string as one implicit transaction, where e.g. CREATE INDEX
 * CONCURRENTLY is refused. Understands '...' and E'...' strings, "..."
 * identifiers, -- and nested block comments, and $tag$ dollar quotes. Pure.
 */
#ifndef TGDESK_DB_SQLSPLIT_H
#define TGDESK_DB_SQLSPLIT_H

#include <stddef.h>

/*
 * Finds the next statement in sql starting at *pos. On return *ret_start and
 * *ret_len describe it (without the terminating ';', leading whitespace and
 * comments skipped) and *pos points past it. Returns 1 when a statement was
 * found, 0 at the end of the script.
 */
int sqlsplit_next(const char *sql, size_t *pos, size_t *ret_start, size_t *ret_len);

#endif
