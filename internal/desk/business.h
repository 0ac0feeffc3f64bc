/*
 * business.h - Telegram Business: a business account (a person's Telegram
 * account with Telegram Business) that connected the bot lets the desk see
 * its private chats with customers and answer them on its behalf.
 *
 * - business_connection: the connection is stored (business_connections:
 *   id, account, its chat with the bot, rights, enabled). When the bot loses
 *   the right to answer - the account disconnected or paused it, or no
 *   longer lets it reply - or gets it back, staff are told which active
 *   requests that concerns.
 * - A customer's message in a business chat is a request like any user's,
 *   marked with its connection: stored, staff notified (its media sent
 *   anew: bots cannot copy out of a business chat). The customer gets none
 *   of the desk's own texts ("Request #N created", "taken", ratings...):
 *   they write to a person, and those texts would read as that person's.
 * - The account's own message in that chat (its owner answering from the
 *   phone) is stored as a staff answer to the customer's active request and
 *   assigns it as a staff answer does; staff are told. A message the bot
 *   sent for the account comes back the same way and is ignored: it was
 *   stored when staff wrote it.
 * - Edits are recorded and a customer's announced (user.h); deletions are
 *   recorded (messages.deleted_at) and a customer's announced.
 *
 * A request's user is answered where they last wrote: the connection of
 * their latest message, or the chat with the bot (desk_business_route()).
 * Staff answers through a connection go out with business_connection_id
 * (text, media by file_id, locations, contacts, ...) while it is enabled
 * and allows replies; otherwise the staff member is told why nothing went.
 *
 * Internal to internal/desk/ (but for the statements, which main.c
 * registers with the pool). Everything runs in the caller's transaction.
 */
#ifndef TGDESK_DESK_BUSINESS_H
#define TGDESK_DESK_BUSINESS_H

#include <stdbool.h>
#include <stdint.h>

#include "db/pool.h"
#include "store.h"
#include "tg/update.h"
#include "util/buf.h"

/* The statements of this module; registered with the pool. */
extern const struct pool_stmt desk_business_statements[];
extern const size_t desk_business_statements_count;

/* Longest connection id kept (Telegram's are a few dozen characters). */
#define DESK_BUSINESS_ID_MAX 256

/* How a request's user is reached. */
struct desk_business_route {
    bool business;                 /* false: the chat with the bot */
    char id[DESK_BUSINESS_ID_MAX]; /* the connection */
    bool enabled, can_reply;
    bool named;         /* the account is known: account names its owner */
    struct buf account; /* "Marta Flowers (@marta_flowers)", or "a business account" */
};

/*
 * Fills *ret with where request_id's user last wrote. Returns 0 (free with
 * desk_business_route_free()), -ENOMEM or -EIO.
 */
int desk_business_route(struct desk_ctx *x, int64_t request_id, struct desk_business_route *ret);

/* Releases a route. Accepts one that was never filled only when zeroed. */
void desk_business_route_free(struct desk_business_route *r);

/* True when staff can answer through the route: the chat with the bot, or a
 * connection that is enabled and allows replies. */
bool desk_business_usable(const struct desk_business_route *r);

/* Appends why nothing can go to request_id's user through r (not usable). */
void desk_business_why(struct buf *b, const struct desk_business_route *r, int64_t request_id);

/*
 * Queues m, a staff member's answer to request_id, for user through
 * connection r: text as sendMessage, anything else anew (desk_send_content())
 * with caption. Returns 0, -ENOMEM, or -ENOTSUP when no send* method takes
 * m's kind (a story, a game...): nothing was queued.
 */
int desk_business_answer(struct desk_ctx *x, const struct desk_business_route *r, int64_t user,
                         const struct tg_message *m, const char *text, const char *caption,
                         int64_t request_id);

/* Applies a business update (its update_id claimed): a desk_verdict or < 0. */
int desk_business_apply(struct desk_ctx *x, const struct tg_update *u);

/*
 * Stores m, written in a business chat, as a message of request_id from
 * sender_type "user" or "admin" with text. Returns 1, 0 when this message
 * was stored before, or < 0.
 */
int desk_business_store(struct desk_ctx *x, int64_t request_id, const struct tg_message *m,
                        const char *sender_type, const char *text);

/*
 * Records an edit of m, a message of a business chat, with text: what
 * user.c runs for an edit, with the same result columns (request, sender
 * type, status, banned). Returns 0 with *ret (caller PQclear()s) or < 0.
 */
int desk_business_edit(struct desk_ctx *x, const struct tg_message *m, const char *text,
                       PGresult **ret);

#endif
