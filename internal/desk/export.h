/*
 * export.h - /export N: the whole conversation of request N - every
 * message and edit, the status changes and bans from the audit trail, the
 * rating and its comment, each with its time (UTC) - sent to the staff
 * member who asked as two files: plain text and an HTML page (everything a
 * person wrote escaped, readable in a browser). Supervisors only; audited.
 *
 * Internal to internal/desk/; writes inside the caller's transaction.
 */
#ifndef TGDESK_DESK_EXPORT_H
#define TGDESK_DESK_EXPORT_H

#include <stdint.h>

#include "store.h"
#include "tg/update.h"

/* Sends the transcript of request id to m's chat. Returns DESK_PROCESSED, -ENOMEM or -EIO. */
int desk_export(struct desk_ctx *x, const struct tg_message *m, int64_t id);

#endif
