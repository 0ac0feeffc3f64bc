/*
 * prune.h - outbox rows that outlive their use: calls that failed for good
 * (and rows an older build marked sent) older than OUTBOX_RETENTION_DAYS,
 * the notifications about a user staff banned, and everything about a
 * person who asked to be forgotten. A delivered call's row
 * is deleted when it is delivered.
 *
 * One statement, its own transaction, under the cluster's retention lock
 * (db/locks.h): several instances do the work once.
 */
#ifndef TGDESK_OUTBOX_PRUNE_H
#define TGDESK_OUTBOX_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

extern const struct pool_stmt outbox_prune_statements[];
extern const size_t outbox_prune_statements_count;

/* Deletes at most limit such rows older than days; the rows deleted (0 while another instance holds
 * the lock), or -EIO. */
int64_t outbox_prune(struct pool_conn *c, int days, int limit);

/*
 * Drops the staff notifications still queued about the requests of user_id
 * (a ban: staff stop hearing of them at once), inside the caller's
 * transaction. Calls the sender already holds in memory, a few seconds'
 * worth of a chat's pace at most, still go out. Returns the rows dropped, or
 * -EIO with the SQLSTATE in sqlstate (6 bytes; may be NULL).
 */
int64_t outbox_drop_notifications(struct pool_conn *c, int64_t user_id, char *sqlstate);

/*
 * Erases what the outbox holds of a person (the desk's /forget): every row
 * to private chat user_id, about one of their requests, or whose payload
 * matches one of the LIKE patterns (a PostgreSQL text[] literal such as
 * `{"%Alice%"}`; NULL: none), whatever its status, inside the caller's
 * transaction. As with a ban, calls the sender already holds in memory may
 * still go out. Returns the rows deleted, or -EIO with the SQLSTATE in
 * sqlstate (6 bytes; may be NULL).
 */
int64_t outbox_forget(struct pool_conn *c, int64_t user_id, const char *patterns, char *sqlstate);

#endif
