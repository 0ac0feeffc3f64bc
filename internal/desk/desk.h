/*
 * desk.h - what the support desk does with an update.
 *
 * The desk owns what an update means: which updates it acts on, the
 * deduplication on update_id, what a user's or a staff member's message
 * changes in the tables, and every text the bot sends - decided and written
 * here, in C, on one path whatever the message's length or kind. The caller
 * (the pipeline) owns the transaction: it calls the functions below inside
 * it, under a savepoint per update for desk_apply(), and writes the queued
 * Bot API calls (outbox_write()) before it commits.
 *
 * Users' messages - by far the commonest update - may also be applied many
 * at once (desk_apply_bulk()): one statement stores the whole batch, then
 * the texts are written for each update exactly as desk_apply() writes
 * them for one, because desk_apply() runs the same code with one update.
 */
#ifndef TGDESK_DESK_H
#define TGDESK_DESK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"
#include "db/sqlstate.h"
#include "outbox/outbox.h"
#include "tg/update.h"
#include "util/i18n.h"

/* Who the staff are and where they are notified. */
struct desk_options {
    const int64_t *staff_ids; /* sorted, unique; copied by desk_new() */
    size_t n_staff_ids;
    /* Supervisors (staff too, whether or not in staff_ids): they alone may
     * ban, unban, take over a colleague's request, export and forget. None
     * given: every staff member is a supervisor. Copied by desk_new(). */
    const int64_t *supervisor_ids;
    size_t n_supervisor_ids;
    bool has_staff_chat;
    int64_t staff_chat_id;         /* the staff group; else each staff member privately */
    bool csat;                     /* ask users to rate solved and closed requests (csat.h) */
    int64_t first_response_sla_ms; /* 0: no reminders (timers.h) */
    int64_t auto_close_solved_ms;  /* 0: solved requests stay solved */
    /* Business hours: business_zone NULL means always open. Copied. */
    const char *business_zone;
    unsigned business_days; /* bit d: ISO weekday d is open */
    int business_open_min, business_close_min;
    /* The catalogs users' texts come from (borrowed: they outlive the
     * desk); NULL: every text in English. */
    const struct i18n *i18n;
    /* STAFF_MODE=topics: a forum topic per user in the staff group (a
     * supergroup with topics; has_staff_chat is set). */
    bool topics;
};

struct desk;

/* What desk_apply() and desk_apply_bulk() made of an update. */
enum desk_verdict {
    DESK_PROCESSED = 0, /* its effects are written */
    DESK_DUPLICATE,     /* its update_id was claimed before: nothing changed */
    DESK_IGNORED,       /* nothing for the desk to do (the update_id is claimed) */
};

/* Every statement of the desk; registered with the pool. */
extern const struct pool_stmt desk_statements[];
extern const size_t desk_statements_count;

/* Creates the desk (options copied). Returns NULL when out of memory. Free with desk_free(). */
struct desk *desk_new(const struct desk_options *o);

/* Releases the desk. Accepts NULL. */
void desk_free(struct desk *d);

/* True when id is a staff member (an agent or a supervisor). Pure; thread-safe. */
bool desk_is_staff(const struct desk *d, int64_t id);

/* True when id is a supervisor (any staff member when none are configured). Pure. */
bool desk_is_supervisor(const struct desk *d, int64_t id);

/*
 * True when u is of a kind and from a chat the desk acts on; what it
 * refuses is acknowledged without touching the database. Pure.
 */
bool desk_wants(const struct desk *d, const struct tg_update *u);

/* True when u is a user's message that desk_apply_bulk() takes. Pure. */
bool desk_bulk(const struct desk *d, const struct tg_update *u);

/*
 * Applies u inside the caller's transaction (a savepoint of it): claims its
 * update_id, writes its effects and queues the Bot API calls it causes in
 * out. Returns a desk_verdict, -ENOMEM, or -EIO with the failed statement's
 * SQLSTATE in sqlstate - the caller rolls back to its savepoint and decides
 * between a redelivery and a dead letter. Thread-safe.
 */
int desk_apply(struct desk *d, struct pool_conn *c, const struct tg_update *u,
               struct outbox_batch *out, char sqlstate[DB_SQLSTATE_LEN]);

/*
 * Applies the n updates u[] (each desk_bulk()) with one statement inside
 * the caller's transaction and fills ret[i] with each one's verdict (an
 * update_id twice in u[] counts once: the later ones are duplicates).
 * Returns 0, -ENOMEM (nothing changed), or -EIO with the SQLSTATE in
 * sqlstate: the statement failed and the transaction is aborted - the
 * caller rolls back and applies the updates one by one. Thread-safe.
 */
int desk_apply_bulk(struct desk *d, struct pool_conn *c, const struct tg_update *const *u, size_t n,
                    enum desk_verdict *ret, struct outbox_batch *out,
                    char sqlstate[DB_SQLSTATE_LEN]);

/*
 * Stores u as a dead letter - an update that can never be processed - with
 * its error and its body, so that it is acknowledged and never blocks its
 * chat. Inside the caller's transaction (after rolling back the update's
 * savepoint). Returns 0, -ENOMEM or -EIO.
 */
int desk_dead_letter(struct pool_conn *c, const struct tg_update *u, const char *body, size_t len,
                     const char *error);

#endif
