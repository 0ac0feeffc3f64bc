/*
 * user.h - what the desk does for the people who ask for help: their
 * commands and edits in the private chat with the bot (their messages are
 * message.h), and their blocking or unblocking the bot.
 *
 * Internal to internal/desk/. Each function writes inside the caller's
 * transaction and returns DESK_PROCESSED or DESK_IGNORED, -ENOMEM, or -EIO
 * with the SQLSTATE in x->sqlstate.
 */
#ifndef TGDESK_DESK_USER_H
#define TGDESK_DESK_USER_H

#include "rules.h"
#include "store.h"
#include "tg/update.h"

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
