/*
 * counts.h - support requests counted by status, for monitoring.
 *
 * The statements are plain SQL (no preparation), so any pooled connection
 * can run them; each is timed under its own label.
 */
#ifndef TGDESK_DESK_COUNTS_H
#define TGDESK_DESK_COUNTS_H

#include <stdint.h>

struct pool_conn;

/*
 * Counts the open and the assigned requests, through their partial index:
 * as many rows as the desk has open work, however many requests it has
 * ever had. Returns 0, or -EIO.
 */
int desk_counts_active(struct pool_conn *c, int64_t *ret_open, int64_t *ret_assigned);

/*
 * Counts the solved and the closed requests: every row but the active
 * ones, so worth reading seldom (at a million requests this took 180 ms of
 * a core), and once for the whole cluster: figures another instance stored
 * less than five minutes ago are taken as they are. Returns 0, or -EIO.
 */
int desk_counts_finished(struct pool_conn *c, int64_t *ret_solved, int64_t *ret_closed);

#endif
