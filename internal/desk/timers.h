/*
 * timers.h - what the desk does when time passes: a reminder in the staff
 * chats about a request nobody answered within FIRST_RESPONSE_SLA (one at
 * the target, one at twice it; counted in business time when
 * BUSINESS_HOURS is set), and closing a request solved more than
 * AUTO_CLOSE_SOLVED_AFTER ago whose user has not written since (the user is
 * told, once).
 *
 * A background thread runs a round every few seconds. A round is one
 * transaction: it takes the cluster-wide advisory lock DB_LOCK_DESK_TIMERS
 * (an instance that does not get it does nothing), records what it does in
 * the database (sla_reminders rows, the status change) with the messages it
 * queues in the outbox, and commits; so each reminder and each closing
 * happens once, across restarts and however many instances run.
 */
#ifndef TGDESK_DESK_TIMERS_H
#define TGDESK_DESK_TIMERS_H

#include "db/pool.h"
#include "desk.h"
#include "outbox/sender.h"

struct desk_timers;

/*
 * Starts the thread when the desk has a response target or an auto-close
 * delay, else returns a stopped handle. d and pool are borrowed, sender may
 * be NULL (rows then wait for a sender's recovery path). Returns NULL when
 * the thread could not be made. Stop with desk_timers_stop().
 */
struct desk_timers *desk_timers_start(struct desk *d, struct pool *pool, struct sender *sender);

/*
 * Runs one round now, on the calling thread. Returns the reminders sent
 * plus the requests closed, or a negative errno (-EIO: database trouble,
 * the round rolled back; it is tried again next time). Thread-safe.
 */
int desk_timers_run(struct desk_timers *t);

/* Stops and joins the thread, frees t. Accepts NULL. */
void desk_timers_stop(struct desk_timers *t);

#endif
