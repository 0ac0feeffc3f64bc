/*
 * user.h - what the desk does for the people who ask for help (SPEC §5):
 * their messages, edits and commands in the private chat with the bot.
 *
 * Internal to internal/desk/. Each function writes inside the caller's
 * transaction and returns DESK_PROCESSED or DESK_IGNORED, -ENOMEM, or -EIO
 * with the SQLSTATE in x->sqlstate.
 */
#ifndef TGDESK_DESK_USER_H
#define TGDESK_DESK_USER_H

#include "db.h"
#include "text.h"
#include "tg/update.h"

/*
 * A user's text or media: appended to the active request or opening a new
 * one ("Request #N created ..." the first time); staff are notified, media
 * copied to them. A banned user notices nothing: their messages are stored
 * and answered as usual, but staff are not notified. The common case - a
 * private message that is not a command - takes the one-statement path of
 * batch.h instead, with the same texts; this one serves the rest (a user's
 * "/unknown command", which is kept as a message).
 */
int desk_user_message(struct desk_ctx *x, const struct tg_message *m);

/* /start, /help, /status, /cancel. */
int desk_user_command(struct desk_ctx *x, const struct tg_message *m, enum desk_cmd cmd);

/*
 * An edited message (of a user, or of staff in a staff chat): the new text
 * becomes the next version in message_edits, the original stays. Staff are
 * told about a user's edit while the request is active. Unknown messages
 * are ignored.
 */
int desk_user_edit(struct desk_ctx *x, const struct tg_message *m);

/* my_chat_member in a private chat: kicked marks the user unreachable. */
int desk_user_member(struct desk_ctx *x, const struct tg_chat_member_update *mu);

/* Creates or refreshes the sender in `users`; *ret_banned says whether they are banned. */
int desk_user_upsert(struct desk_ctx *x, const struct tg_user *u, bool *ret_banned);

#endif
