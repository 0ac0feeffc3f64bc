/*
 * stats.h - figures about the outbox table for monitoring: the backlog of
 * messages waiting to be sent, and the messages that failed for good.
 *
 * The statements are plain SQL (no preparation), so any pooled connection
 * can run them; each is timed under its own label.
 */
#ifndef TGDESK_OUTBOX_STATS_H
#define TGDESK_OUTBOX_STATS_H

#include <stdint.h>

struct pool_conn;

/* The messages waiting to be sent. */
struct outbox_backlog {
    int64_t pending;         /* rows still pending */
    double oldest_pending_s; /* age of the oldest of them; 0 when none */
};

/*
 * Reads the backlog (on the partial index of the pending rows, so cheap
 * enough to read every few seconds). Returns 0, or -EIO.
 */
int outbox_stats_backlog(struct pool_conn *c, struct outbox_backlog *ret);

/* Counts the messages that failed for good. Returns 0, or -EIO. */
int outbox_stats_failed(struct pool_conn *c, int64_t *ret);

#endif
