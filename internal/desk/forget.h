/*
 * forget.h - erasing a person: /forget USER_ID (supervisors) or /forget (a
 * user, for themselves) asks for confirmation with a button; the press
 * erases the person's personal data wherever tgdesk keeps it - their name,
 * username and language; the texts, captions, edits and file ids of every
 * message of their requests (theirs and staff's); the requests' issues and
 * solutions; rating comments; in `logs` every context naming them (reduced
 * to ids, actions and statuses) or their names; dead-letter bodies of their
 * updates; outbox rows to them, about their requests or holding their
 * words. What stays is anonymous: the user id as the key of their
 * requests, statuses, times, counts and scores. The erasure is audited
 * with counts only.
 *
 * Internal to internal/desk/; writes inside the caller's transaction.
 */
#ifndef TGDESK_DESK_FORGET_H
#define TGDESK_DESK_FORGET_H

#include <stdint.h>

#include "store.h"
#include "tg/update.h"

/* Asks m's sender to confirm erasing user_id (their own id for a user). */
int desk_forget_ask(struct desk_ctx *x, const struct tg_message *m, int64_t user_id);

/* A press of "forget:USER_ID": erases when pressed by that user or a supervisor. */
int desk_forget_callback(struct desk_ctx *x, const struct tg_callback_query *cq);

#endif
