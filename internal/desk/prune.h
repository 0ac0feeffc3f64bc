/*
 * prune.h - the desk's rows that outlive their use: processed update ids
 * older than any redelivery (Telegram redelivers for 24 hours at most), and
 * the notification -> request mapping of requests finished long ago.
 *
 * Each function deletes at most limit rows in one statement, its own
 * transaction, under the cluster's retention lock (db/locks.h): several
 * instances do the work once. Returns the rows deleted (0 also while another
 * instance holds the lock), or -EIO.
 */
#ifndef TGDESK_DESK_PRUNE_H
#define TGDESK_DESK_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

/* Days after a request was solved or closed that its notifications are kept. */
#define DESK_NOTIFICATIONS_KEEP_DAYS 30

extern const struct pool_stmt desk_prune_statements[];
extern const size_t desk_prune_statements_count;

/* processed_updates rows older than hours (dead letters stay: they are evidence). */
int64_t desk_prune_updates(struct pool_conn *c, int hours, int limit);

/* Notifications of requests solved or closed over DESK_NOTIFICATIONS_KEEP_DAYS ago. */
int64_t desk_prune_notifications(struct pool_conn *c, int limit);

#endif
