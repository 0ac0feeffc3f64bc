/*
 * message.h - a user's message: text or media in the private chat with the
 * bot, including a "/word" the desk does not know (kept as a message, so
 * nothing a user writes is lost to a slash).
 *
 * The message joins the user's active request or opens a new one, and is
 * stored; the user gets "Request #N created ..." the first time; staff are
 * notified ("New request #N from ...:" or "Request #N - ... writes:", then
 * the text as written, with Take/Close buttons) and media are copied to
 * them. A banned user notices nothing: their messages are stored and
 * answered as usual, staff just do not hear of them.
 *
 * One path for one message or many: one statement stores the rows for all
 * of them (users, requests, messages and the update_ids), and this module
 * then writes every text in C from what the statement returns.
 *
 * Internal to internal/desk/.
 */
#ifndef TGDESK_DESK_MESSAGE_H
#define TGDESK_DESK_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* The statement, registered with the desk's statements. */
#define DESK_MESSAGES_STATEMENT "desk_user_messages"
#define DESK_MESSAGES_NPARAMS   18
extern const char desk_messages_sql[];

/*
 * The staff notification about m, a user's message stored in request_id
 * (opened: it opened the request): "New request #N from ...:" or "Request
 * #N - ... writes:" with via (NULL: nothing) after the name, the text as
 * written, the similar solved requests of a new one (similar, its position
 * i in them; NULL: none - search.h), Take/Close buttons, then the media -
 * copied, or from a business chat sent anew. Returns 0 or -ENOMEM.
 */
struct desk_similar;
int desk_message_notify(struct desk_ctx *x, const struct tg_message *m, int64_t request_id,
                        bool opened, const char *via, const struct desk_staff_chats *chats,
                        const struct desk_similar *similar, size_t similar_i);

/* True when u is a user's message in the sense above. Pure. */
bool desk_message_is(const struct desk *d, const struct tg_update *u);

/*
 * Applies the n messages u[] (each desk_message_is()) inside x's
 * transaction, claiming their update_ids, and fills ret[i]. Returns 0,
 * -ENOMEM or -EIO (x->sqlstate set; the transaction is aborted).
 */
int desk_messages_apply(struct desk_ctx *x, const struct tg_update *const *u, size_t n,
                        enum desk_verdict *ret);

#endif
