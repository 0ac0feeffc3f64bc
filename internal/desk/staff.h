/*
 * staff.h - what the desk does for support staff: commands,
 * answers by Telegram reply to a notification, inline buttons, and the
 * refusal (audited) of anyone else who tries.
 *
 * Internal to internal/desk/. Each function writes inside the caller's
 * transaction and returns DESK_PROCESSED or DESK_IGNORED, -ENOMEM, or -EIO
 * with the SQLSTATE in x->sqlstate. Staff identity is ADMIN_IDS; the caller
 * passes whether the sender is staff and where the message was written.
 */
#ifndef TGDESK_DESK_STAFF_H
#define TGDESK_DESK_STAFF_H

#include "rules.h"
#include "store.h"
#include "tg/update.h"

/* A staff command (DESK_ROUTE_STAFF) from staff. */
int desk_staff_command(struct desk_ctx *x, const struct tg_message *m, enum desk_cmd cmd);

/* The staff help (DESK_ROUTE_STAFF_HELP), or "unknown command" when unknown is set. */
int desk_staff_help(struct desk_ctx *x, const struct tg_message *m, bool unknown);

/*
 * Someone who is not staff used staff command `command` (or answered a
 * notification: "reply"): a polite refusal, no change, an audit row.
 */
int desk_staff_refuse(struct desk_ctx *x, const struct tg_message *m, const char *command,
                      enum desk_place place);

/*
 * A message that is not a command in a staff chat (the staff group, or a
 * staff member's private chat). A reply to a bot notification answers that
 * request's user - from staff; anyone else is refused. Anything else:
 * ignored in the group, a short hint in private.
 */
int desk_staff_message(struct desk_ctx *x, const struct tg_message *m, bool is_staff,
                       enum desk_place place);

/*
 * What staff member m->from wrote as an answer to request id (a Telegram
 * reply to a notification, or a message in the request's forum topic): an
 * internal note when it starts with "//" (topics.h), else sent to the user
 * - text as written, media copied; from a topic everything is copied - and
 * stored, and an open request is assigned to them. Feedback goes to m's
 * chat.
 */
int desk_staff_answer(struct desk_ctx *x, const struct tg_message *m, int64_t id);

/*
 * Stores text (with m's media, if any) as an internal note of staff member
 * m->from on request id: shown to staff in /history and /export, never sent
 * to the user. m's chat gets a confirmation, unless m is in a forum topic.
 */
int desk_staff_note(struct desk_ctx *x, const struct tg_message *m, int64_t id, const char *text);

/* A callback query (take:N / close:N); always answered. */
int desk_staff_callback(struct desk_ctx *x, const struct tg_callback_query *cq);

/* A basic staff group became a supergroup: remember its new id. */
int desk_staff_group_migrated(struct desk_ctx *x, int64_t old_chat, int64_t new_chat);

/*
 * The business account answered the customer of request id itself (m,
 * written in the business chat, say from its owner's phone): stored as a
 * staff answer by m's sender, the first one assigning the request, and
 * staff are told. DESK_IGNORED when there is no such request.
 */
int desk_staff_owner_answer(struct desk_ctx *x, const struct tg_message *m, int64_t id);

/*
 * Looks up request id for a transcript (the columns of desk_history_head):
 * 1 with *ret (caller PQclear()s), 0 when there is none - m's chat was told
 * so - or < 0.
 */
int desk_staff_head(struct desk_ctx *x, const struct tg_message *m, int64_t id, PGresult **ret);

#endif
