#include "user.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "business.h"
#include "chats.h"
#include "forget.h"
#include "send.h"
#include "topics.h"

/* Requests /status shows. */
#define STATUS_MAX "5"
/* Longest text the desk builds for one reply or notification (then split). */
#define TEXT_CAP (64 * 1024)

static const char *const greeting =
    N_("Hello! This is the support desk.\n"
       "\n"
       "Describe your problem in a message - text, a photo or a document - and it becomes a "
       "support request. Our staff answer you right here. Everything you send while the request "
       "is open is added to it.\n"
       "\n"
       "/status - your recent requests\n"
       "/cancel - close your open request\n"
       "/forget - erase everything you wrote to us\n"
       "/help - this message");

int desk_user_upsert(struct desk_ctx *x, const struct tg_user *u, bool *ret_banned)
{
    char uid[24];
    const char *p[5] = {desk_i64(uid, u->id), u->username, u->first_name, u->last_name,
                        u->language_code};
    PGresult *res;
    int rc = desk_exec(x, "user_upsert", 5, p, &res);
    if (rc < 0)
        return rc;
    *ret_banned = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return 0;
}

static int user_status(struct desk_ctx *x, const struct tg_message *m)
{
    char uid[24];
    const char *p[2] = {desk_i64(uid, m->from.id), STATUS_MAX};
    PGresult *res;
    int rc = desk_exec(x, "desk_user_requests", 2, p, &res);
    if (rc < 0)
        return rc;
    const struct i18n_lang *l = desk_lang(x->d, m->from.language_code);
    struct buf b, age;
    buf_init(&b, TEXT_CAP);
    int rows = PQntuples(res);
    if (rows == 0) {
        buf_add(&b, _(l, "You have no requests yet. Describe your problem in a message and it "
                         "becomes one."));
    } else {
        buf_add(&b, _(l, "Your recent requests:"));
        for (int i = 0; i < rows; i++) {
            enum desk_status st = DESK_OPEN;
            desk_status_parse(PQgetvalue(res, i, 1), &st);
            buf_init(&age, 64);
            desk_fmt_age_in(&age, l, desk_col_i64(res, i, 2, 0));
            /* TRANSLATORS: request number, status, age ("3h 05m") */
            buf_addf(&b, _(l, "\n#%s · %s · opened %s ago\n    "), PQgetvalue(res, i, 0),
                     _(l, desk_status_name(st)), buf_str(&age));
            buf_free(&age);
            desk_fmt_preview(&b, PQgetvalue(res, i, 3), 80);
        }
    }
    PQclear(res);
    rc = desk_send_buf(x, m->chat.id, &b, "reply", 0);
    return rc < 0 ? rc : DESK_PROCESSED;
}

static int user_cancel(struct desk_ctx *x, const struct tg_message *m, bool banned)
{
    char uid[24];
    const char *p[1] = {desk_i64(uid, m->from.id)};
    PGresult *res;
    int rc = desk_exec(x, "desk_active_request", 1, p, &res);
    if (rc < 0)
        return rc;
    struct buf b;
    buf_init(&b, TEXT_CAP);
    if (PQntuples(res) == 0) {
        PQclear(res);
        buf_add(&b, _(desk_lang(x->d, m->from.language_code),
                      "You have no open request. Write a message to open one."));
        rc = desk_send_buf(x, m->chat.id, &b, "reply", 0);
        return rc < 0 ? rc : DESK_PROCESSED;
    }
    int64_t request_id = desk_col_i64(res, 0, 0, 0);
    enum desk_status from = DESK_OPEN, to = DESK_CLOSED;
    desk_status_parse(PQgetvalue(res, 0, 1), &from);
    int64_t assigned = desk_col_i64(res, 0, 2, 0);
    PQclear(res);
    if (desk_transition(DESK_CMD_CANCEL, from, assigned, m->from.id, &to) < 0) {
        buf_free(&b);
        return DESK_PROCESSED;
    }

    char rid[24], adm[24];
    const char *sp[5] = {desk_i64(rid, request_id), desk_status_name(to),
                         assigned ? desk_i64(adm, assigned) : NULL, NULL, "false"};
    if ((rc = desk_exec_timed(x, "desk_request_set_status", 5, sp)) < 0)
        goto out;
    json_t *ctx = json_pack("{sI sI ss ss ss}", "request_id", (json_int_t)request_id, "actor_id",
                            (json_int_t)m->from.id, "action", "cancel", "old_status",
                            desk_status_name(from), "new_status", desk_status_name(to));
    rc = ctx ? desk_audit(x, "info", "request status changed", ctx) : -ENOMEM;
    json_decref(ctx);
    if (rc == 0)
        rc = desk_topic_status(x, request_id, to, 0);
    if (rc < 0)
        goto out;

    buf_addf(&b,
             _(desk_lang(x->d, m->from.language_code),
               "Request #%lld is closed. Write to us again any time to open a new one."),
             (long long)request_id);
    if ((rc = desk_send_buf(x, m->chat.id, &b, "reply", request_id)) < 0 || banned)
        return rc < 0 ? rc : DESK_PROCESSED;

    buf_init(&b, TEXT_CAP);
    buf_addf(&b, "Request #%" PRId64 " was cancelled by ", request_id);
    desk_fmt_user(&b, m->from.first_name, m->from.last_name, m->from.username, m->from.id);
    buf_add(&b, ".");
    rc = buf_error(&b) == -ENOMEM ? -ENOMEM : desk_notify_staff(x, request_id, buf_str(&b), false);
out:
    buf_free(&b);
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
        rc = desk_send_text(x, m->chat.id, _(desk_lang(x->d, m->from.language_code), greeting),
                            NULL, "reply", 0);
        return rc < 0 ? rc : DESK_PROCESSED;
    case DESK_CMD_STATUS:
        return user_status(x, m);
    case DESK_CMD_CANCEL:
        return user_cancel(x, m, banned);
    case DESK_CMD_FORGET:
        return desk_forget_ask(x, m, m->from.id);
    default:
        return DESK_IGNORED;
    }
}

int desk_user_edit(struct desk_ctx *x, const struct tg_message *m)
{
    char chat[24], mid[24], date[24];
    struct buf text;
    buf_init(&text, TEXT_CAP);
    desk_fmt_content(&text, m->text, tg_media_name(m->media));
    if (buf_error(&text) == -ENOMEM) {
        buf_free(&text);
        return -ENOMEM;
    }
    const char *p[4] = {desk_i64(chat, m->chat.id), desk_i64(mid, m->message_id),
                        m->edit_date > 0 ? desk_i64(date, m->edit_date) : NULL, buf_str(&text)};
    PGresult *res;
    int rc = m->business_connection_id ? desk_business_edit(x, m, buf_str(&text), &res)
                                       : desk_exec(x, "desk_message_edit", 4, p, &res);
    buf_free(&text);
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
    int64_t copy_chat = desk_col_i64(res, 0, 4, 0), copy_id = desk_col_i64(res, 0, 5, 0);
    PQclear(res);
    if (!from_user)
        return desk_topic_staff_edit(x, m, request_id, copy_chat, copy_id);
    if (banned || (status != DESK_OPEN && status != DESK_ASSIGNED))
        return DESK_PROCESSED;

    struct buf b;
    buf_init(&b, TEXT_CAP);
    buf_addf(&b, "Request #%" PRId64 ": ", request_id);
    desk_fmt_user(&b, m->from.first_name, m->from.last_name, m->from.username, m->from.id);
    buf_add(&b, " edited a message: ");
    desk_fmt_content(&b, m->text, tg_media_name(m->media));
    rc = buf_error(&b) == -ENOMEM ? -ENOMEM : desk_notify_staff(x, request_id, buf_str(&b), false);
    buf_free(&b);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_user_member(struct desk_ctx *x, const struct tg_chat_member_update *mu)
{
    if (!mu->new_status)
        return DESK_IGNORED;
    int rc;
    if (strcmp(mu->new_status, "kicked") == 0) {
        rc = desk_chats_unreachable(x->c, mu->chat.id, "blocked the bot", x->sqlstate);
    } else if (strcmp(mu->new_status, "member") == 0) {
        rc = desk_chats_reachable(x->c, mu->chat.id, x->sqlstate);
    } else {
        return DESK_IGNORED;
    }
    return rc < 0 ? rc : DESK_PROCESSED;
}
