/*
 * batch.h - users' messages, many at once, in ONE statement (SPEC §10).
 *
 * The commonest update by far is a user writing to the bot: it claims its
 * update_id, creates or refreshes the user, opens a request or joins the
 * active one, stores the message, and queues the reply ("Request #N
 * created") and the staff notifications (text with take/close buttons, and a
 * copy of any media). One data-modifying statement does all of that for a
 * whole batch: arrays in, outbox rows out. The worker runs it for every such
 * update of a batch in one round trip; the desk runs the very same statement
 * for a single update, so there is one implementation of this behaviour.
 */
#ifndef TGDESK_DESK_BATCH_H
#define TGDESK_DESK_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "db/pool.h"
#include "desk/text.h"
#include "outbox/outbox.h"
#include "tg/update.h"

struct config;

/* The statement; registered with the pool. */
extern const struct db_stmt desk_batch_statements[];
extern const size_t desk_batch_statements_count;

/*
 * True when u is what the statement handles: a message in a private chat
 * from a user who is not staff, that is not a command, whose text leaves
 * room for a notification header in one message (longer ones go through
 * desk_user_message(), which splits). Pure.
 */
bool desk_batch_wants(const struct config *cfg, const struct tg_update *u);

/* Name of the statement, for db_exec_steps(). */
#define DESK_BATCH_STATEMENT "user_messages"
#define DESK_BATCH_NPARAMS   18

/* The statement's parameters for one batch (array literals). */
struct desk_batch_args {
    struct desk_buf arrays[14];
    const char *params[DESK_BATCH_NPARAMS];
};

/*
 * Builds the parameters for the n updates (each desk_batch_wants()).
 * Returns 0 or -ENOMEM; release with desk_batch_args_free() either way.
 */
int desk_batch_args_build(const struct config *cfg, const struct tg_update *const *u, size_t n,
                          struct desk_batch_args *ret);

/* Releases the parameters. */
void desk_batch_args_free(struct desk_batch_args *a);

/*
 * Reads the statement's result: processed[i] is set to true when update i
 * was new and applied, false when its update_id had been processed before;
 * the outbox rows written are appended to out, in order. Returns 0, or -EIO
 * with the SQLSTATE in sqlstate (6 bytes) when the statement failed - it then
 * changed nothing, but the transaction is aborted.
 */
int desk_batch_read(const PGresult *res, const struct tg_update *const *u, size_t n,
                    bool *processed, struct outbox_batch *out, char *sqlstate);

/*
 * Build, run and read for the n updates inside the caller's transaction (the
 * one-update path). Returns as desk_batch_read(), or -ENOMEM.
 */
int desk_batch_run(const struct config *cfg, struct pool_conn *c, const struct tg_update *const *u,
                   size_t n, bool *processed, struct outbox_batch *out, char *sqlstate);

#endif
