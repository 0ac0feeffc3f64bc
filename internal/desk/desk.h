/*
 * desk.h - what the support desk does with one update (SPEC §5).
 *
 * desk_wants() decides, without I/O, whether an update needs the database at
 * all; what it refuses is acknowledged and ignored. desk_apply() writes the
 * update's effects - users, requests, messages and outbox rows - inside the
 * caller's transaction (a savepoint of the worker's group commit), so they
 * commit or vanish together with the update's processed_updates row.
 */
#ifndef TGDESK_DESK_H
#define TGDESK_DESK_H

#include <stdbool.h>
#include <stddef.h>

#include "db/pool.h"
#include "outbox/outbox.h"
#include "tg/update.h"

struct config;

/* Outcomes of desk_apply() (negative values are errors). */
enum desk_outcome { DESK_PROCESSED = 0, DESK_IGNORED = 1 };

/* Statements desk_apply() needs; registered with the pool. */
extern const struct db_stmt desk_statements[];
extern const size_t desk_statements_count;

/* True when u is of a kind and from a chat the desk acts on. Pure. */
bool desk_wants(const struct config *cfg, const struct tg_update *u);

/*
 * Applies u inside the caller's transaction, appending the Bot API calls it
 * causes to out. Returns DESK_PROCESSED or DESK_IGNORED, -ENOMEM, or -EIO
 * with the failed statement's SQLSTATE in sqlstate (6 bytes) - the caller
 * rolls back to its savepoint and decides between retry and dead letter.
 * Thread-safe (cfg is read-only).
 */
int desk_apply(const struct config *cfg, struct pool_conn *c, const struct tg_update *u,
               struct outbox_batch *out, char *sqlstate);

#endif
