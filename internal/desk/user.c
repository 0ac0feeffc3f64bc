#include "user.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "desk.h"

/* Requests /status shows. */
#define STATUS_MAX "5"
/* Longest text the desk builds for one reply or notification (then split). */
#define TEXT_CAP (64 * 1024)

static const char greeting[] =
    "Hello! This is the support desk.\n"
    "\n"
    "Describe your problem in a message - text, a photo or a document - and it becomes a "
    "support request. Our staff answer you right here. Everything you send while the request "
    "is open is added to it.\n"
    "\n"
    "/status - your recent requests\n"
    "/cancel - close your open request\n"
    "/help - this message";

int desk_user_upsert(struct desk_ctx *x, const struct tg_user *u, bool *ret_banned)
{
    char uid[24];
    const char *p[5] = {desk_i64(uid, u->id), u->username, u->first_name, u->last_name,
                        u->language_code};
    PGresult *res;
    int rc = desk_db_exec(x, "user_upsert", 5, p, &res);
    if (rc < 0)
        return rc;
    *ret_banned = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return 0;
}

/* Sends text built in b to chat; -ENOMEM when building it failed. */
static int send_buf(struct desk_ctx *x, int64_t chat, struct desk_buf *b, const char *purpose,
                    int64_t request_id)
{
    int rc = b->oom ? -ENOMEM : desk_send_text(x, chat, desk_buf_str(b), NULL, purpose, request_id);
    desk_buf_free(b);
    return rc;
}

/* The text or caption; "[photo]" (the media kind) when there is none. */
static void fmt_content(struct desk_buf *b, const struct tg_message *m)
{
    const char *media = tg_media_name(m->media);
    if (m->text && *m->text)
        desk_buf_add(b, m->text);
    else
        desk_buf_addf(b, "[%s]", media ? media : "message");
}

int desk_user_message(struct desk_ctx *x, const struct tg_message *m)
{
    bool banned = false;
    int rc = desk_user_upsert(x, &m->from, &banned);
    if (rc < 0)
        return rc;

    char uid[24], chat[24], mid[24], date[24], reqid[24];
    const char *media = tg_media_name(m->media);
    char placeholder[32];
    const char *issue = m->text;
    if (!issue || !*issue) {
        snprintf(placeholder, sizeof(placeholder), "[%s]", media ? media : "message");
        issue = placeholder;
    }

    const char *rq[2] = {desk_i64(uid, m->from.id), issue};
    PGresult *res;
    if ((rc = desk_db_exec(x, "request_open_or_get", 2, rq, &res)) < 0)
        return rc;
    int64_t request_id = PQntuples(res) == 1 ? desk_col_i64(res, 0, 0, 0) : 0;
    bool created = request_id > 0 && PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    if (request_id <= 0) {
        snprintf(x->sqlstate, 6, "%s", "XX000");
        return -EIO;
    }

    const char *mp[9] = {desk_i64(reqid, request_id),
                         uid,
                         "user",
                         m->text ? m->text : "",
                         desk_i64(chat, m->chat.id),
                         desk_i64(mid, m->message_id),
                         media,
                         m->file_id,
                         m->date > 0 ? desk_i64(date, m->date) : NULL};
    if ((rc = desk_db_exec(x, "message_insert", 9, mp, &res)) < 0)
        return rc;
    bool stored = PQntuples(res) == 1;
    PQclear(res);
    /* The same Telegram message again (a second update for it). */
    if (!stored)
        return DESK_PROCESSED;

    struct desk_buf b;
    if (created) {
        desk_buf_init(&b, TEXT_CAP);
        desk_buf_addf(&b,
                      "Request #%" PRId64 " created. Our support team will answer you here soon; "
                      "anything you send until then is added to it. /status shows your requests, "
                      "/cancel closes this one.",
                      request_id);
        if ((rc = send_buf(x, m->chat.id, &b, "reply", request_id)) < 0)
            return rc;
    }

    /* A banned user notices nothing; staff just do not hear of them. */
    if (banned)
        return DESK_PROCESSED;
    desk_buf_init(&b, TEXT_CAP);
    desk_buf_addf(&b, created ? "New request #%" PRId64 " from " : "Request #%" PRId64 " - ",
                  request_id);
    desk_fmt_user(&b, m->from.first_name, m->from.last_name, m->from.username, m->from.id);
    desk_buf_add(&b, created ? ":\n" : " writes:\n");
    fmt_content(&b, m);
    rc = b.oom ? -ENOMEM : desk_notify_staff(x, request_id, desk_buf_str(&b), true);
    desk_buf_free(&b);
    if (rc == 0 && m->media != TG_MEDIA_NONE)
        rc = desk_notify_staff_copy(x, request_id, m->chat.id, m->message_id);
    return rc < 0 ? rc : DESK_PROCESSED;
}

static int user_status(struct desk_ctx *x, const struct tg_message *m)
{
    char uid[24];
    const char *p[2] = {desk_i64(uid, m->from.id), STATUS_MAX};
    PGresult *res;
    int rc = desk_db_exec(x, "desk_user_requests", 2, p, &res);
    if (rc < 0)
        return rc;
    struct desk_buf b;
    desk_buf_init(&b, TEXT_CAP);
    int rows = PQntuples(res);
    if (rows == 0) {
        desk_buf_add(&b, "You have no requests yet. Describe your problem in a message and it "
                         "becomes one.");
    } else {
        desk_buf_add(&b, "Your recent requests:");
        for (int i = 0; i < rows; i++) {
            desk_buf_addf(&b, "\n#%s · %s · opened ", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
            desk_fmt_age(&b, desk_col_i64(res, i, 2, 0));
            desk_buf_add(&b, " ago\n    ");
            desk_fmt_preview(&b, PQgetvalue(res, i, 3), 80);
        }
    }
    PQclear(res);
    rc = send_buf(x, m->chat.id, &b, "reply", 0);
    return rc < 0 ? rc : DESK_PROCESSED;
}

static int user_cancel(struct desk_ctx *x, const struct tg_message *m, bool banned)
{
    char uid[24];
    const char *p[1] = {desk_i64(uid, m->from.id)};
    PGresult *res;
    int rc = desk_db_exec(x, "desk_active_request", 1, p, &res);
    if (rc < 0)
        return rc;
    struct desk_buf b;
    desk_buf_init(&b, TEXT_CAP);
    if (PQntuples(res) == 0) {
        PQclear(res);
        desk_buf_add(&b, "You have no open request. Write a message to open one.");
        rc = send_buf(x, m->chat.id, &b, "reply", 0);
        return rc < 0 ? rc : DESK_PROCESSED;
    }
    int64_t request_id = desk_col_i64(res, 0, 0, 0);
    enum desk_status from = DESK_OPEN, to = DESK_CLOSED;
    desk_status_parse(PQgetvalue(res, 0, 1), &from);
    int64_t assigned = desk_col_i64(res, 0, 2, 0);
    PQclear(res);
    if (desk_transition(DESK_CMD_CANCEL, from, assigned, m->from.id, &to) < 0) {
        desk_buf_free(&b);
        return DESK_PROCESSED;
    }

    char rid[24], adm[24];
    const char *sp[5] = {desk_i64(rid, request_id), desk_status_name(to),
                         assigned ? desk_i64(adm, assigned) : NULL, NULL, "false"};
    if ((rc = desk_db_exec_timed(x, "desk_request_set_status", 5, sp)) < 0)
        goto out;
    json_t *ctx = json_pack("{sI sI ss ss ss}", "request_id", (json_int_t)request_id, "actor_id",
                            (json_int_t)m->from.id, "action", "cancel", "old_status",
                            desk_status_name(from), "new_status", desk_status_name(to));
    rc = ctx ? desk_audit(x, "info", "request status changed", ctx) : -ENOMEM;
    json_decref(ctx);
    if (rc < 0)
        goto out;

    desk_buf_addf(&b,
                  "Request #%" PRId64 " is closed. Write to us again any time to open a new one.",
                  request_id);
    if ((rc = send_buf(x, m->chat.id, &b, "reply", request_id)) < 0 || banned)
        return rc < 0 ? rc : DESK_PROCESSED;

    desk_buf_init(&b, TEXT_CAP);
    desk_buf_addf(&b, "Request #%" PRId64 " was cancelled by ", request_id);
    desk_fmt_user(&b, m->from.first_name, m->from.last_name, m->from.username, m->from.id);
    desk_buf_add(&b, ".");
    rc = b.oom ? -ENOMEM : desk_notify_staff(x, request_id, desk_buf_str(&b), false);
out:
    desk_buf_free(&b);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_user_command(struct desk_ctx *x, const struct tg_message *m, enum desk_cmd cmd)
{
    bool banned = false;
    int rc = desk_user_upsert(x, &m->from, &banned);
    if (rc < 0)
        return rc;
    /* A banned user gets the usual answers: only staff stop hearing of them. */
    switch (cmd) {
    case DESK_CMD_START:
    case DESK_CMD_HELP:
        rc = desk_send_text(x, m->chat.id, greeting, NULL, "reply", 0);
        return rc < 0 ? rc : DESK_PROCESSED;
    case DESK_CMD_STATUS:
        return user_status(x, m);
    case DESK_CMD_CANCEL:
        return user_cancel(x, m, banned);
    default:
        return DESK_IGNORED;
    }
}

int desk_user_edit(struct desk_ctx *x, const struct tg_message *m)
{
    char chat[24], mid[24], date[24];
    const char *media = tg_media_name(m->media);
    char placeholder[32];
    const char *text = m->text;
    if (!text || !*text) {
        snprintf(placeholder, sizeof(placeholder), "[%s]", media ? media : "message");
        text = placeholder;
    }
    const char *p[4] = {desk_i64(chat, m->chat.id), desk_i64(mid, m->message_id),
                        m->edit_date > 0 ? desk_i64(date, m->edit_date) : NULL, text};
    PGresult *res;
    int rc = desk_db_exec(x, "desk_message_edit", 4, p, &res);
    if (rc < 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return DESK_IGNORED; /* a message the desk never stored */
    }
    int64_t request_id = desk_col_i64(res, 0, 0, 0);
    bool from_user = strcmp(PQgetvalue(res, 0, 1), "user") == 0;
    enum desk_status status = DESK_CLOSED;
    desk_status_parse(PQgetvalue(res, 0, 2), &status);
    bool banned = PQgetvalue(res, 0, 3)[0] == 't';
    PQclear(res);
    if (!from_user || banned || (status != DESK_OPEN && status != DESK_ASSIGNED))
        return DESK_PROCESSED;

    struct desk_buf b;
    desk_buf_init(&b, TEXT_CAP);
    desk_buf_addf(&b, "Request #%" PRId64 ": ", request_id);
    desk_fmt_user(&b, m->from.first_name, m->from.last_name, m->from.username, m->from.id);
    desk_buf_add(&b, " edited a message: ");
    fmt_content(&b, m);
    rc = b.oom ? -ENOMEM : desk_notify_staff(x, request_id, desk_buf_str(&b), false);
    desk_buf_free(&b);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_user_member(struct desk_ctx *x, const struct tg_chat_member_update *mu)
{
    if (!mu->new_status)
        return DESK_IGNORED;
    char uid[24];
    desk_i64(uid, mu->chat.id);
    int rc;
    if (strcmp(mu->new_status, "kicked") == 0) {
        const char *p[2] = {uid, "blocked the bot"};
        rc = desk_db_exec(x, "user_mark_unreachable", 2, p, NULL);
    } else if (strcmp(mu->new_status, "member") == 0) {
        const char *p[1] = {uid};
        rc = desk_db_exec(x, "desk_user_reachable", 1, p, NULL);
    } else {
        return DESK_IGNORED;
    }
    return rc < 0 ? rc : DESK_PROCESSED;
}
