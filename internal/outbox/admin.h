/*
 * admin.h - the operator's view of the calls that failed for good:
 * `tgdesk outbox failed` lists them, `tgdesk outbox retry` queues them again.
 *
 * A failed row (status 'failed') keeps its reason in last_error. Queueing it
 * again makes it pending with attempts 0, due now: the recovery pass of a
 * running instance's sender claims and delivers it like any other due row.
 * last_error is kept (it says why the previous attempts failed) until the
 * row is delivered and deleted, or a new failure replaces it.
 *
 * Each function runs on a plain connection of its own (the command line's),
 * not on the pool.
 */
#ifndef TGDESK_OUTBOX_ADMIN_H
#define TGDESK_OUTBOX_ADMIN_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Prints the failed calls to out, newest first, one per line under a header
 * (id, method, chat, attempts, age, reason), or "no failed calls". Returns
 * how many there were, or -EIO (logged).
 */
int outbox_admin_list_failed(PGconn *conn, FILE *out);

/*
 * Queues the failed rows among ids[0..n-1] again (duplicates count once),
 * naming on err every id that is not a failed row. Sets *ret_queued to how
 * many were queued. Returns 0 when every id was a failed row, 1 when some
 * were not (the others are still queued), or -EIO (logged; nothing queued).
 */
int outbox_admin_retry(PGconn *conn, const int64_t *ids, size_t n, FILE *err, int64_t *ret_queued);

/* Queues every failed row again. Returns how many, or -EIO (logged). */
int64_t outbox_admin_retry_all(PGconn *conn);

/*
 * Writes an age of secs seconds as two units ("45s", "12m 03s", "3h 05m",
 * "2d 04h") into buf. Returns buf.
 */
char *outbox_admin_age(int64_t secs, char *buf, size_t cap);

#endif
