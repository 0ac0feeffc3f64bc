/*
 * csat.h - the customer's satisfaction rating: when staff solve or close a
 * request, its user is asked to rate the help with five buttons (1-5). A
 * press stores the rating (a second press changes it) and opens a window
 * of ten minutes in which the user's next text message is taken as a
 * comment on it (message.c does that, in its one statement) instead of
 * opening a new request. CSAT=off asks nobody.
 *
 * Internal to internal/desk/. Each function writes inside the caller's
 * transaction and returns 0 or DESK_PROCESSED, -ENOMEM, or -EIO with the
 * SQLSTATE in x->sqlstate.
 */
#ifndef TGDESK_DESK_CSAT_H
#define TGDESK_DESK_CSAT_H

#include <stdint.h>

#include "store.h"
#include "tg/update.h"

/* Minutes after a first rating in which the user's next text is its comment. */
#define DESK_CSAT_COMMENT_MINUTES     10
#define DESK_CSAT_COMMENT_MINUTES_TXT "10"

/*
 * Asks user_id, in their language lang, to rate request_id (nothing when
 * CSAT is off). Returns 0 or -ENOMEM.
 */
int desk_csat_prompt(struct desk_ctx *x, int64_t user_id, int64_t request_id,
                     const struct i18n_lang *lang);

/* A press of a rating button ("rate:N:S"); always answered, forged data audited. */
int desk_csat_callback(struct desk_ctx *x, const struct tg_callback_query *cq);

/*
 * What the desk says about a comment the user wrote (text, their first
 * message in the window) on their rating score of request_id: thanks to
 * the user, and the comment to the staff chats unless the user is banned.
 */
int desk_csat_commented(struct desk_ctx *x, const struct tg_message *m, int64_t request_id,
                        int score, bool banned, const struct desk_staff_chats *chats);

#endif
