/*
 * lease.h - one sender per chat across the cluster, and the cluster's rate.
 *
 * Chats are spread over LEASE_SLOTS slots (the chat id modulo the count); a
 * slot is leased to one instance at a time in the chat_leases table, and
 * only the holder sends the messages of the slot's chats. So per-chat order
 * and pacing hold whatever the number of instances, with at most
 * LEASE_SLOTS lease rows however many chats there are.
 *
 * The lease is the instance's, not the slot's: one row in sender_instances
 * runs LEASE_MS from clock_timestamp() when it was last renewed, and every
 * slot row naming the instance is its own while it runs. The keeper thread
 * renews it about once a second on a connection reserved for it - one row
 * however many slots are held - and gives back slots idle for a few
 * seconds. Another instance takes a slot only once its holder's lease has
 * run out, under a lock on the holder's row; the holder's next renewal then
 * finds its lease had lapsed and gives up every slot. Locally the slots
 * count as held until the monotonic time the last renewal was SENT plus
 * LEASE_MS minus a margin: never later than the database's expiry, so an
 * instance that was paused (SIGSTOP, a VM stall) past its lease sends
 * nothing when it resumes until a renewal has said whether it kept them.
 * Only a call already on the wire when the process froze can be repeated
 * by the next holder (counted).
 *
 * The renewal is also the heartbeat: the live instances share
 * TELEGRAM_GLOBAL_RPS (leases_live(), leases_rank()).
 */
#ifndef TGDESK_OUTBOX_LEASE_H
#define TGDESK_OUTBOX_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

#define LEASE_SLOTS 1024
/* A lease's length; it is renewed every LEASE_RENEW_MS. */
#define LEASE_MS       10000
#define LEASE_RENEW_MS 1000
/* The global limit's window: each instance starts at most its share of
 * TELEGRAM_GLOBAL_RPS in any window this long (a second, and a little for
 * a call's way to Telegram). */
#define LEASE_RATE_WINDOW_MS 1025

struct leases;

/* Statements of this module; registered with the pool. */
extern const struct pool_stmt lease_statements[];
extern const size_t lease_statements_count;

/* The slot of a chat. */
int lease_slot(int64_t chat_id);

/* Starts the keeper (pool borrowed). NULL on failure (logged). */
struct leases *leases_start(struct pool *pool);

/* Gives back every slot held, removes the heartbeat, joins the keeper and
 * frees. Accepts NULL. */
void leases_stop(struct leases *l);

/* This instance's name (host:pid:random), for logs and metrics. */
const char *leases_instance(const struct leases *l);

/* What leases_check() says of a slot. */
enum lease_state {
    LEASE_HELD,  /* send; *until is when the local lease ends (monotonic ms) */
    LEASE_WANT,  /* not held: the caller acquires it (leases_acquire()) */
    LEASE_WAIT,  /* being taken, renewed or given back: try again shortly */
    LEASE_OTHER, /* held by another instance: leave its messages to it */
};

/* Where a slot stands at monotonic time now; marks it used. Thread-safe. */
enum lease_state leases_check(struct leases *l, int slot, int64_t now, int64_t *until);

/* Takes the n slots leases_check() answered LEASE_WANT for (one round trip);
 * returns how many were taken. Thread-safe. */
int leases_acquire(struct leases *l, const int *slots, size_t n);

/* Live instances (this one included, >= 1). */
int leases_live(struct leases *l);
/* How many live instances sort before this one (0-based; for sharing out
 * what does not divide evenly). */
int leases_rank(struct leases *l);
/*
 * 0 when this instance may start calls at monotonic time now, else
 * milliseconds to wait: it may not before every other live instance has
 * counted it in (after it joined, or came back from a pause), nor once its
 * last heartbeat is so old that the others may stop counting it.
 */
int64_t leases_may_send(struct leases *l, int64_t now);

#endif
