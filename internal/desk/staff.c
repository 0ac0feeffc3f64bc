#include "staff.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "business.h"
#include "canned.h"
#include "chats.h"
#include "csat.h"
#include "export.h"
#include "forget.h"
#include "outbox/prune.h"
#include "search.h"
#include "send.h"
#include "topics.h"
#include "user.h"

/* Longest reply or notification the desk builds (then split into messages). */
#define TEXT_CAP (64 * 1024)
/* /history: the newest messages shown, and the transcript's size at most. */
#define HISTORY_MAX     500
#define HISTORY_MAX_TXT "500"
#define HISTORY_CAP     (1024 * 1024)
/* /list: requests shown (one more is fetched to tell that there are more). */
#define LIST_MAX       50
#define LIST_FETCH_TXT "51"

static const char staff_help[] =
    "Support staff commands:\n"
    "/list - open and assigned requests, oldest first\n"
    "/take N - assign request N to yourself\n"
    "/reply N text - send text to the user of request N\n"
    "/solve N solution - mark request N solved and send the user the solution\n"
    "/close N - close request N\n"
    "/reopen N - reopen a solved or closed request\n"
    "/history N - the whole conversation of request N\n"
    "/ban N, /unban N - stop or resume forwarding the messages of request N's user (supervisors)\n"
    "/stats - requests by status, median first response and resolution times\n"
    "/export N - the whole conversation of request N as files (supervisors)\n"
    "/forget USER_ID - erase the personal data of a user (supervisors; asks first)\n"
    "/canned - canned answers: write !NAME in any answer to send one; /canned add NAME text "
    "saves one, /canned del NAME deletes it (supervisors)\n"
    "/search words - requests whose text, messages or solution hold the words, best first\n"
    "\n"
    "To answer a user, simply reply to any notification about their request: text is sent "
    "as you wrote it, photos and files are copied. The first answer to an open request "
    "assigns it to you.";

/* The help's last part in topics mode. */
static const char staff_help_topics[] =
    "\n\nEach user has a topic here: everything you write in it goes to them (text as you "
    "wrote it, photos and files copied), and commands there need no number (/solve text, "
    "/close, /reopen, /take, /history, /ban). A message starting with // or /note is an "
    "internal note: stored and shown in /history, never sent to the user. /note N text adds "
    "one anywhere.";

static const char staff_hint[] =
    "You are on the support staff, so your messages here do not open requests. To answer a "
    "user, reply to a notification about their request or use /reply N text. /help lists the "
    "commands.";

/* A request locked for a change, with its user. */
struct req {
    int64_t id;
    enum desk_status status;
    int64_t user_id;
    int64_t assigned; /* 0: nobody */
    bool banned, unreachable;
    const struct i18n_lang *lang; /* the user's */
    struct buf user;              /* "First Last (@username)" */
    struct buf assignee;          /* the same for the assigned staff member, "" when none */
    /* where the user is answered (filled by act() for what tells them) */
    struct desk_business_route route;
};

/* What a staff action came to. */
struct outcome {
    bool found;   /* the request exists */
    bool changed; /* something changed (feedback then goes to the staff chat too) */
};

static void req_free(struct req *r)
{
    buf_free(&r->user);
    buf_free(&r->assignee);
    desk_business_route_free(&r->route);
}

/* Locks request id. Returns 1 (found, *r filled: req_free() it), 0 (no such request) or < 0. */
static int lock_request(struct desk_ctx *x, int64_t id, struct req *r)
{
    char rid[24];
    const char *p[1] = {desk_i64(rid, id)};
    PGresult *res;
    int rc = desk_exec(x, "desk_request_lock", 1, p, &res);
    if (rc < 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    memset(r, 0, sizeof(*r));
    r->id = id;
    desk_status_parse(PQgetvalue(res, 0, 0), &r->status);
    r->user_id = desk_col_i64(res, 0, 1, 0);
    r->assigned = desk_col_i64(res, 0, 2, 0);
    r->banned = PQgetvalue(res, 0, 6)[0] == 't';
    r->unreachable = PQgetvalue(res, 0, 7)[0] == 't';
    r->lang = desk_lang(x->d, desk_col_str(res, 0, 11));
    buf_init(&r->user, 1024);
    desk_fmt_user(&r->user, desk_col_str(res, 0, 3), desk_col_str(res, 0, 4),
                  desk_col_str(res, 0, 5), r->user_id);
    buf_init(&r->assignee, 1024);
    if (r->assigned)
        desk_fmt_user(&r->assignee, desk_col_str(res, 0, 8), desk_col_str(res, 0, 9),
                      desk_col_str(res, 0, 10), r->assigned);
    PQclear(res);
    if (buf_error(&r->user) == -ENOMEM || buf_error(&r->assignee) == -ENOMEM) {
        req_free(r);
        return -ENOMEM;
    }
    return 1;
}

/* Sets the status (assigned 0: NULL; solution NULL: unchanged). */
static int set_status(struct desk_ctx *x, const struct req *r, enum desk_status to,
                      int64_t assigned, const char *solution, bool first_response)
{
    char rid[24], adm[24];
    const char *p[5] = {desk_i64(rid, r->id), desk_status_name(to),
                        assigned ? desk_i64(adm, assigned) : NULL, solution,
                        first_response ? "true" : "false"};
    return desk_exec_timed(x, "desk_request_set_status", 5, p);
}

/* The audit row of a status change: request, actor, old and new status. */
static int audit_status(struct desk_ctx *x, const struct req *r, int64_t actor, const char *action,
                        enum desk_status to)
{
    json_t *ctx =
        json_pack("{sI sI sI ss ss ss}", "request_id", (json_int_t)r->id, "actor_id",
                  (json_int_t)actor, "user_id", (json_int_t)r->user_id, "action", action,
                  "old_status", desk_status_name(r->status), "new_status", desk_status_name(to));
    if (ctx && r->assigned && r->assigned != actor)
        json_object_set_new(ctx, "previous_admin_id", json_integer(r->assigned));
    int rc = ctx ? desk_audit(x, "info", "request status changed", ctx) : -ENOMEM;
    json_decref(ctx);
    return rc;
}

/* Stores what staff sent the user (or wrote as an internal note) as an
 * admin message of the request. */
static int store_admin_message(struct desk_ctx *x, int64_t request_id, const struct tg_message *m,
                               const char *text, bool note)
{
    if (m->business_connection_id) { /* the business account answering itself */
        int rc = desk_business_store(x, request_id, m, "admin", text);
        return rc < 0 ? rc : 0;
    }
    char rid[24], sid[24], chat[24], mid[24], date[24];
    const char *p[10] = {desk_i64(rid, request_id),
                         desk_i64(sid, m->from.id),
                         "admin",
                         text ? text : "",
                         desk_i64(chat, m->chat.id),
                         desk_i64(mid, m->message_id),
                         tg_media_name(m->media),
                         m->file_id,
                         m->date > 0 ? desk_i64(date, m->date) : NULL,
                         note ? "true" : "false"};
    return desk_exec(x, "message_insert", 10, p, NULL);
}

/*
 * Tells the request's user something the desk wrote - unless they wrote to
 * a business account: they talk to a person there, whose words the desk's
 * texts would seem to be.
 */
static int tell_user(struct desk_ctx *x, const struct req *r, struct buf *b)
{
    if (r->route.business) {
        buf_free(b);
        return 0;
    }
    return desk_send_buf(x, r->user_id, b, "reply", r->id);
}

/*
 * Sends feedback to a staff chat. About an existing request it is a
 * notification too, so a Telegram reply to it answers the user.
 */
static int feedback(struct desk_ctx *x, int64_t chat, struct buf *b, int64_t request_id)
{
    /* (In a forum topic it stays in the topic, in order.) */
    return desk_send_buf(x, chat, b, request_id && !x->thread_id ? "notify" : "reply", request_id);
}

/*
 * A staff member who is not a supervisor tried what only supervisors may
 * (command; request_id 0 when none): an audit row, and the reason in fb.
 */
static int refuse_role(struct desk_ctx *x, int64_t actor, const char *command, int64_t request_id,
                       int64_t chat, struct buf *fb)
{
    json_t *ctx = json_pack("{sI ss sI ss}", "user_id", (json_int_t)actor, "command", command,
                            "chat_id", (json_int_t)chat, "role", "agent");
    if (ctx && request_id)
        json_object_set_new(ctx, "request_id", json_integer(request_id));
    int rc = ctx ? desk_audit(x, "warn", "refused supervisor command", ctx) : -ENOMEM;
    json_decref(ctx);
    if (strcmp(command, "take") == 0)
        buf_addf(fb,
                 "Request #%" PRId64 " is assigned to a colleague; only supervisors can take it "
                 "over.",
                 request_id);
    else
        buf_addf(fb, "Sorry, /%s is only for supervisors.", command);
    return rc;
}

/*
 * Applies take, solve, close, reopen, ban or unban of request id by staff
 * member actor; writes the confirmation or the reason it was refused into
 * fb. src is the command message (/solve stores the solution as a message)
 * or NULL for a button. Returns 0 with *ret filled, or < 0.
 */
static int act(struct desk_ctx *x, const struct tg_user *actor, enum desk_cmd cmd, int64_t id,
               const char *text, const struct tg_message *src, int64_t chat, struct buf *fb,
               struct outcome *ret)
{
    struct req r;
    memset(ret, 0, sizeof(*ret));
    int rc = lock_request(x, id, &r);
    if (rc <= 0) {
        if (rc == 0)
            buf_addf(fb, "There is no request #%" PRId64 ".", id);
        return rc;
    }
    ret->found = true;
    if (cmd != DESK_CMD_BAN && cmd != DESK_CMD_UNBAN &&
        (rc = desk_business_route(x, r.id, &r.route)) < 0) {
        req_free(&r);
        return rc;
    }

    struct buf me, msg;
    buf_init(&me, 1024);
    desk_fmt_user(&me, actor->first_name, actor->last_name, actor->username, actor->id);
    buf_init(&msg, TEXT_CAP);
    const char *status = desk_status_name(r.status);
    enum desk_status to = r.status;

    if (cmd == DESK_CMD_BAN || cmd == DESK_CMD_UNBAN) {
        bool ban = cmd == DESK_CMD_BAN;
        char uid[24];
        const char *p[2] = {desk_i64(uid, r.user_id), ban ? "true" : "false"};
        PGresult *res;
        if ((rc = desk_exec(x, "desk_user_set_banned", 2, p, &res)) < 0)
            goto out;
        bool changed = PQntuples(res) == 1;
        PQclear(res);
        if (!changed) {
            buf_addf(fb, "%s is %s.", buf_str(&r.user), ban ? "already banned" : "not banned");
            goto out;
        }
        json_t *ctx = json_pack("{sI sI sI ss}", "request_id", (json_int_t)r.id, "actor_id",
                                (json_int_t)actor->id, "user_id", (json_int_t)r.user_id, "action",
                                ban ? "ban" : "unban");
        rc = ctx ? desk_audit(x, "info", ban ? "user banned" : "user unbanned", ctx) : -ENOMEM;
        json_decref(ctx);
        /* Staff stop hearing of them at once: what is still queued goes too. */
        if (rc == 0 && ban && outbox_drop_notifications(x->c, r.user_id, x->sqlstate) < 0)
            rc = -EIO;
        if (rc < 0)
            goto out;
        ret->changed = true;
        if (ban)
            buf_addf(fb,
                     "%s (request #%" PRId64 ") is banned by %s: their messages are still "
                     "stored but no longer forwarded. /unban %" PRId64 " undoes it.",
                     buf_str(&r.user), r.id, buf_str(&me), r.id);
        else
            buf_addf(fb, "%s (request #%" PRId64 ") is unbanned by %s.", buf_str(&r.user), r.id,
                     buf_str(&me));
        goto out;
    }

    rc = desk_transition(cmd, r.status, r.assigned, actor->id, &to);
    if (rc == 0 && cmd == DESK_CMD_TAKE && r.assigned && r.assigned != actor->id &&
        !desk_is_supervisor(x->d, actor->id)) {
        rc = refuse_role(x, actor->id, "take", r.id, chat, fb);
        goto out;
    }
    if (rc == -EALREADY) {
        rc = 0;
        if (cmd == DESK_CMD_TAKE)
            buf_addf(fb, "Request #%" PRId64 " is already assigned to you.", r.id);
        else
            buf_addf(fb, "Request #%" PRId64 " is already %s.", r.id, status);
        goto out;
    }
    if (rc < 0) {
        rc = 0;
        buf_addf(fb, "Request #%" PRId64 " is %s; /reopen %" PRId64 " first.", r.id, status, r.id);
        goto out;
    }

    switch (cmd) {
    case DESK_CMD_TAKE:
        rc = set_status(x, &r, to, actor->id, NULL, false);
        if (rc == 0 && r.status == DESK_OPEN) {
            buf_addf(&msg, _(r.lang, "Request #%lld was taken by our support team."),
                     (long long)r.id);
            rc = tell_user(x, &r, &msg);
        }
        buf_addf(fb, "Request #%" PRId64 " taken by %s", r.id, buf_str(&me));
        if (r.assigned && r.assigned != actor->id)
            buf_addf(fb, " (it was assigned to %s)", buf_str(&r.assignee));
        buf_add(fb, ".");
        break;
    case DESK_CMD_SOLVE:
        rc = set_status(x, &r, to, r.assigned ? r.assigned : actor->id, text, true);
        if (rc == 0 && src)
            rc = store_admin_message(x, r.id, src, text, false);
        if (rc == 0) {
            buf_addf(&msg,
                     _(r.lang, "Request #%lld is solved: %s\n\nIf you need anything else, just "
                               "write to us again."),
                     (long long)r.id, text);
            rc = tell_user(x, &r, &msg);
        }
        /* a business account's customer gets the solution as written */
        if (rc == 0 && r.route.business && desk_business_usable(&r.route))
            rc = desk_send_business_text(x, r.user_id, text, r.route.id, "reply", r.id);
        if (rc == 0 && !r.route.business)
            rc = desk_csat_prompt(x, r.user_id, r.id, r.lang);
        buf_addf(fb, "Request #%" PRId64 " solved by %s.", r.id, buf_str(&me));
        if (!desk_business_usable(&r.route)) {
            buf_add(fb, "\n");
            desk_business_why(fb, &r.route, r.id);
        }
        break;
    case DESK_CMD_CLOSE:
        rc = set_status(x, &r, to, r.assigned, NULL, false);
        if (rc == 0 && r.status != DESK_SOLVED) {
            buf_addf(&msg,
                     _(r.lang, "Request #%lld was closed by our support team. If you need "
                               "anything else, just write to us again."),
                     (long long)r.id);
            rc = tell_user(x, &r, &msg);
            if (rc == 0 && !r.route.business)
                rc = desk_csat_prompt(x, r.user_id, r.id, r.lang);
        }
        buf_addf(fb, "Request #%" PRId64 " closed by %s.", r.id, buf_str(&me));
        break;
    case DESK_CMD_REOPEN: {
        char uid[24], rid[24];
        const char *p[2] = {desk_i64(uid, r.user_id), desk_i64(rid, r.id)};
        PGresult *res;
        if ((rc = desk_exec(x, "desk_request_other_active", 2, p, &res)) < 0)
            goto out;
        if (PQntuples(res) > 0) {
            buf_addf(fb, "%s already has request #%s open; continue there or close it first.",
                     buf_str(&r.user), PQgetvalue(res, 0, 0));
            PQclear(res);
            goto out;
        }
        PQclear(res);
        rc = set_status(x, &r, to, 0, NULL, false);
        if (rc == 0) {
            buf_addf(&msg,
                     _(r.lang, "Request #%lld was reopened; our support team will get back to "
                               "you here."),
                     (long long)r.id);
            rc = tell_user(x, &r, &msg);
        }
        buf_addf(fb, "Request #%" PRId64 " reopened by %s.", r.id, buf_str(&me));
        break;
    }
    default:
        goto out;
    }
    if (rc == 0)
        rc = audit_status(x, &r, actor->id, desk_cmd_name(cmd), to);
    if (rc == 0)
        rc = desk_topic_status(x, r.id, to, 0);
    ret->changed = rc == 0;

out:
    buf_free(&msg);
    buf_free(&me);
    req_free(&r);
    return rc;
}

/*
 * What staff member m->from sent request r's user (m, with text) is
 * stored, and the first answer to an open request assigns it to them
 * (written into fb); later ones record the first response. Returns 0 or < 0.
 */
static int answered(struct desk_ctx *x, const struct req *r, const struct tg_message *m,
                    const char *text, struct buf *fb)
{
    enum desk_status to = r->status;
    int rc = store_admin_message(x, r->id, m, text, false);
    if (rc == 0)
        desk_transition(DESK_CMD_REPLY, r->status, r->assigned, m->from.id, &to);
    if (rc == 0 && to != r->status) {
        rc = set_status(x, r, to, m->from.id, NULL, true);
        if (rc == 0)
            rc = audit_status(x, r, m->from.id, "reply", to);
        if (rc == 0)
            rc = desk_topic_status(x, r->id, to, 0);
        struct buf me;
        buf_init(&me, 1024);
        desk_fmt_user(&me, m->from.first_name, m->from.last_name, m->from.username, m->from.id);
        buf_addf(fb, "Request #%" PRId64 " is now assigned to %s.", r->id, buf_str(&me));
        buf_free(&me);
    } else if (rc == 0) {
        char rid[24];
        const char *p[1] = {desk_i64(rid, r->id)};
        rc = desk_exec_timed(x, "desk_request_first_response", 1, p);
    }
    return rc;
}

/*
 * Expands the canned answers (!name) of an answer to a user into body, which
 * the caller initialised with TEXT_CAP. Returns as desk_canned_expand(): 0
 * (none), 1 (expanded), -ENOENT with the reason nothing may be sent in fb
 * (an unknown name, or a text too long with them), or < 0.
 */
static int expand(struct desk_ctx *x, const char *text, struct buf *body, struct buf *fb)
{
    int rc = desk_canned_expand(x, text, body, fb);
    if (rc != -E2BIG)
        return rc;
    buf_add(fb, "Nothing was sent: with its canned answers the text is too long.");
    return -ENOENT;
}

/*
 * Sends what staff member m->from wrote (text, or the media of m) to the
 * user of request id - through the business account they wrote to, if
 * that is where they last wrote - stores it, and assigns an open request to
 * them. caption: for /reply with media, the caption the user gets. Canned
 * answers in the text are expanded. Feedback (a refusal, the assignment, a
 * warning) goes to m's chat.
 */
static int staff_reply(struct desk_ctx *x, const struct tg_message *m, int64_t id, const char *text,
                       bool is_command)
{
    struct buf fb, body;
    buf_init(&fb, TEXT_CAP);
    struct req r;
    int rc = lock_request(x, id, &r);
    if (rc <= 0) {
        if (rc < 0) {
            buf_free(&fb);
            return rc;
        }
        buf_addf(&fb, "There is no request #%" PRId64 ".", id);
        rc = feedback(x, m->chat.id, &fb, 0);
        return rc < 0 ? rc : DESK_PROCESSED;
    }
    struct desk_business_route route = {0}; /* zeroed: freeing it is harmless */
    buf_init(&body, TEXT_CAP);
    int expanded = expand(x, text, &body, &fb);
    rc = expanded == -ENOENT ? 0 : expanded;
    if (expanded < 0)
        goto send_feedback;
    text = buf_str(&body);
    rc = 0;

    enum desk_status to;
    if (expanded && m->media != TG_MEDIA_NONE &&
        desk_text_codepoints(text, strlen(text)) > DESK_CAPTION_MAX) {
        buf_addf(&fb,
                 "Nothing was sent: a caption holds at most %d characters; send the canned "
                 "answer as a message of its own.",
                 DESK_CAPTION_MAX);
        goto send_feedback;
    }
    if (m->media == TG_MEDIA_NONE && desk_text_blank(text, strlen(text))) {
        buf_add(&fb, "Nothing was sent: only text, photos, documents, voice messages, "
                     "videos and stickers reach the user.");
        goto send_feedback;
    }
    if (desk_transition(DESK_CMD_REPLY, r.status, r.assigned, m->from.id, &to) < 0) {
        buf_addf(&fb,
                 "Request #%" PRId64 " is %s, so nothing was sent; /reopen %" PRId64
                 " to continue it.",
                 r.id, desk_status_name(r.status), r.id);
        goto send_feedback;
    }
    if ((rc = desk_business_route(x, r.id, &route)) < 0)
        goto send_feedback;
    if (!desk_business_usable(&route)) {
        desk_business_why(&fb, &route, r.id);
        goto send_feedback;
    }

    if (route.business) {
        rc = desk_business_answer(x, &route, r.user_id, m, text,
                                  is_command || expanded ? text : m->text, r.id);
        if (rc == -ENOTSUP) {
            rc = 0;
            buf_addf(&fb,
                     "Nothing was sent: a [%s] cannot go out through a business account. Text, "
                     "photos, files, voice and video messages, stickers, locations, contacts, "
                     "polls and dice can.",
                     tg_media_name(m->media));
            goto send_feedback;
        }
    } else if (x->thread_id && m->chat.id == x->thread_chat && !is_command && !expanded) {
        /* From a forum topic everything is copied, and where the copy went
         * is kept (topics.h): an edit of the answer then edits the copy.
         * With canned answers in it, the text is sent instead (below). */
        rc = desk_send_copy(x, r.user_id, m->chat.id, m->message_id, NULL, SENDER_PURPOSE_TOPIC,
                            r.id);
    } else if (m->media != TG_MEDIA_NONE) {
        rc = desk_send_message_copy(x, r.user_id, m, is_command || expanded ? text : NULL, "reply",
                                    r.id);
    } else {
        rc = desk_send_text(x, r.user_id, text, NULL, "reply", r.id);
    }
    if (rc == 0)
        rc = answered(x, &r, m, text, &fb);
    if (rc == 0 && r.unreachable && !route.business)
        buf_addf(&fb, "%sNote: %s has blocked the bot, so the answer may not arrive.",
                 buf_len(&fb) ? "\n" : "", buf_str(&r.user));

send_feedback:
    if (rc == 0 && buf_len(&fb) > 0)
        rc = feedback(x, m->chat.id, &fb, r.id);
    buf_free(&fb);
    buf_free(&body);
    desk_business_route_free(&route);
    req_free(&r);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_staff_owner_answer(struct desk_ctx *x, const struct tg_message *m, int64_t id)
{
    struct req r;
    int rc = lock_request(x, id, &r);
    if (rc <= 0)
        return rc < 0 ? rc : DESK_IGNORED;
    struct buf b, fb;
    buf_init(&b, TEXT_CAP);
    buf_init(&fb, TEXT_CAP);
    if ((rc = answered(x, &r, m, m->text, &fb)) == 0) {
        buf_addf(&b, "Request #%" PRId64 " - ", r.id);
        desk_fmt_user(&b, m->from.first_name, m->from.last_name, m->from.username, m->from.id);
        buf_add(&b, " answered from the business account:\n");
        desk_fmt_content(&b, m->text, tg_media_name(m->media));
        if (buf_len(&fb))
            buf_addf(&b, "\n%s", buf_str(&fb));
        rc = buf_error(&b) == -ENOMEM ? -ENOMEM : desk_notify_staff(x, r.id, buf_str(&b), false);
    }
    buf_free(&b);
    buf_free(&fb);
    req_free(&r);
    return rc < 0 ? rc : DESK_PROCESSED;
}

static int staff_list(struct desk_ctx *x, const struct tg_message *m)
{
    const char *p[1] = {LIST_FETCH_TXT};
    PGresult *res;
    int rc = desk_exec(x, "desk_list", 1, p, &res);
    if (rc < 0)
        return rc;
    struct buf b;
    buf_init(&b, TEXT_CAP);
    int rows = PQntuples(res);
    if (rows == 0)
        buf_add(&b, "No open or assigned requests.");
    else
        buf_add(&b, "Open and assigned requests, oldest first:");
    for (int i = 0; i < rows && i < LIST_MAX; i++) {
        buf_addf(&b, "\n#%s · ", PQgetvalue(res, i, 0));
        if (desk_col_i64(res, i, 10, 0) != 0) {
            buf_add(&b, "assigned to ");
            desk_fmt_user(&b, desk_col_str(res, i, 7), desk_col_str(res, i, 8),
                          desk_col_str(res, i, 9), desk_col_i64(res, i, 10, 0));
        } else {
            buf_add(&b, PQgetvalue(res, i, 1));
        }
        buf_add(&b, " · ");
        desk_fmt_age(&b, desk_col_i64(res, i, 2, 0));
        buf_add(&b, " · ");
        desk_fmt_user(&b, desk_col_str(res, i, 3), desk_col_str(res, i, 4), desk_col_str(res, i, 5),
                      desk_col_i64(res, i, 6, 0));
        buf_add(&b, "\n    ");
        desk_fmt_preview(&b, PQgetvalue(res, i, 11), 80);
    }
    if (rows > LIST_MAX)
        buf_addf(&b, "\n… and more: these are the oldest %d.", LIST_MAX);
    PQclear(res);
    rc = feedback(x, m->chat.id, &b, 0);
    return rc < 0 ? rc : DESK_PROCESSED;
}

/* "12m (4 requests)" or "- (none yet)". */
static void fmt_median(struct buf *b, int64_t seconds, const char *count)
{
    if (seconds < 0) {
        buf_add(b, "- (none yet)");
        return;
    }
    desk_fmt_age(b, seconds);
    buf_addf(b, " (%s request%s)", count, strcmp(count, "1") == 0 ? "" : "s");
}

static int staff_stats(struct desk_ctx *x, const struct tg_message *m)
{
    PGresult *res;
    int rc = desk_exec(x, "desk_stats", 0, NULL, &res);
    if (rc < 0)
        return rc;
    struct buf b;
    buf_init(&b, TEXT_CAP);
    buf_addf(&b, "Requests: %s open, %s assigned, %s solved, %s closed.\n", PQgetvalue(res, 0, 0),
             PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
    buf_add(&b, "Median first response: ");
    fmt_median(&b, desk_col_i64(res, 0, 4, -1), PQgetvalue(res, 0, 5));
    buf_add(&b, "\nMedian resolution: ");
    fmt_median(&b, desk_col_i64(res, 0, 6, -1), PQgetvalue(res, 0, 7));
    if (x->d->csat)
        for (int days = 7, col = 8; col <= 10; days = 30, col += 2) {
            buf_addf(&b, "\nSatisfaction, last %d days: ", days);
            if (PQgetisnull(res, 0, col))
                buf_add(&b, "- (no ratings)");
            else
                buf_addf(&b, "%s of 5 (%s rating%s)", PQgetvalue(res, 0, col),
                         PQgetvalue(res, 0, col + 1),
                         strcmp(PQgetvalue(res, 0, col + 1), "1") == 0 ? "" : "s");
        }
    PQclear(res);
    rc = feedback(x, m->chat.id, &b, 0);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_staff_head(struct desk_ctx *x, const struct tg_message *m, int64_t id, PGresult **ret)
{
    char rid[24];
    const char *p[1] = {desk_i64(rid, id)};
    PGresult *head;
    int rc = desk_exec(x, "desk_history_head", 1, p, &head);
    if (rc < 0)
        return rc;
    if (PQntuples(head) == 1) {
        *ret = head;
        return 1;
    }
    PQclear(head);
    struct buf b;
    buf_init(&b, TEXT_CAP);
    buf_addf(&b, "There is no request #%" PRId64 ".", id);
    rc = feedback(x, m->chat.id, &b, 0);
    return rc < 0 ? rc : 0;
}

static int staff_history(struct desk_ctx *x, const struct tg_message *m, int64_t id)
{
    char rid[24];
    const char *p[2] = {desk_i64(rid, id), HISTORY_MAX_TXT};
    PGresult *head, *res;
    int rc = desk_staff_head(x, m, id, &head);
    if (rc <= 0)
        return rc < 0 ? rc : DESK_PROCESSED;
    struct buf b;
    buf_init(&b, HISTORY_CAP);
    if ((rc = desk_exec(x, "desk_history", 2, p, &res)) < 0) {
        PQclear(head);
        buf_free(&b);
        return rc;
    }

    buf_addf(&b, "Request #%" PRId64 " · %s", id, PQgetvalue(head, 0, 0));
    if (desk_col_i64(head, 0, 11, 0) != 0) {
        buf_add(&b, " (");
        desk_fmt_user(&b, desk_col_str(head, 0, 8), desk_col_str(head, 0, 9),
                      desk_col_str(head, 0, 10), desk_col_i64(head, 0, 11, 0));
        buf_add(&b, ")");
    }
    buf_add(&b, " · ");
    desk_fmt_user(&b, desk_col_str(head, 0, 2), desk_col_str(head, 0, 3), desk_col_str(head, 0, 4),
                  desk_col_i64(head, 0, 1, 0));
    buf_addf(&b, " · opened %s UTC\n", PQgetvalue(head, 0, 5));
    int rows = PQntuples(res);
    if (rows >= HISTORY_MAX)
        buf_addf(&b, "(only the last %d messages are shown)\n", HISTORY_MAX);
    for (int i = 0; i < rows; i++) {
        bool admin = strcmp(PQgetvalue(res, i, 1), "admin") == 0;
        buf_addf(&b, "\n[%s] ", PQgetvalue(res, i, 5));
        desk_fmt_user(&b, desk_col_str(res, i, 3), desk_col_str(res, i, 4), NULL,
                      desk_col_i64(res, i, 2, 0));
        buf_add(&b, !admin                             ? ": "
                    : PQgetvalue(res, i, 10)[0] == 't' ? " (staff, note): "
                                                       : " (staff): ");
        const char *kind = desk_col_str(res, i, 7);
        const char *text = PQgetvalue(res, i, 6);
        if (kind)
            buf_addf(&b, "[%s]%s", kind, *text ? " " : "");
        buf_add(&b, text);
        const char *latest = desk_col_str(res, i, 9);
        if (latest)
            buf_addf(&b, "\n    (edited %s×, now: %s)", PQgetvalue(res, i, 8), latest);
    }
    const char *solution = desk_col_str(head, 0, 7);
    if (solution)
        buf_addf(&b, "\n\nSolution: %s", solution);
    if (buf_error(&b) == -E2BIG)
        buf_add(&b, "\n(transcript cut: too long)");
    PQclear(res);
    PQclear(head);
    rc = feedback(x, m->chat.id, &b, id);
    return rc < 0 ? rc : DESK_PROCESSED;
}

/* /canned: parsed here; adding and deleting refused to agents (audited). */
static int staff_canned(struct desk_ctx *x, const struct tg_message *m)
{
    struct desk_canned_args a;
    struct buf fb;
    buf_init(&fb, TEXT_CAP);
    int rc = 0;
    if (desk_canned_parse(m->command_args, &a) < 0) {
        buf_addf(&fb, "Usage: %s", desk_cmd_usage(DESK_CMD_CANNED));
    } else if ((a.op == DESK_CANNED_ADD || a.op == DESK_CANNED_DEL) &&
               !desk_is_supervisor(x->d, m->from.id)) {
        rc = refuse_role(x, m->from.id, a.op == DESK_CANNED_ADD ? "canned add" : "canned del", 0,
                         m->chat.id, &fb);
    } else {
        buf_free(&fb);
        return desk_canned_command(x, m, &a);
    }
    if (rc == 0)
        rc = feedback(x, m->chat.id, &fb, 0);
    else
        buf_free(&fb);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_staff_command(struct desk_ctx *x, const struct tg_message *m, enum desk_cmd cmd)
{
    bool banned;
    int rc = desk_user_upsert(x, &m->from, &banned);
    if (rc < 0)
        return rc;

    struct desk_args args;
    struct buf fb;
    buf_init(&fb, TEXT_CAP);
    int prc = desk_cmd_parse_args(cmd, m->command_args, &args);
    /* "/reply N" as the caption of a photo or file: the media is the answer. */
    if (prc < 0 && cmd == DESK_CMD_REPLY && m->media != TG_MEDIA_NONE &&
        desk_cmd_parse_args(DESK_CMD_HISTORY, m->command_args, &args) == 0) {
        args.text = "";
        prc = 0;
    }
    if (prc < 0) {
        buf_addf(&fb, "Usage: %s", desk_cmd_usage(cmd));
        rc = feedback(x, m->chat.id, &fb, 0);
        return rc < 0 ? rc : DESK_PROCESSED;
    }

    if (desk_cmd_is_supervisor(cmd) && !desk_is_supervisor(x->d, m->from.id)) {
        rc = refuse_role(x, m->from.id, desk_cmd_name(cmd), args.request_id, m->chat.id, &fb);
        if (rc == 0)
            rc = feedback(x, m->chat.id, &fb, 0);
        else
            buf_free(&fb);
        return rc < 0 ? rc : DESK_PROCESSED;
    }

    struct outcome o = {0};
    switch (cmd) {
    case DESK_CMD_LIST:
        buf_free(&fb);
        return staff_list(x, m);
    case DESK_CMD_STATS:
        buf_free(&fb);
        return staff_stats(x, m);
    case DESK_CMD_HISTORY:
        buf_free(&fb);
        return staff_history(x, m, args.request_id);
    case DESK_CMD_EXPORT:
        buf_free(&fb);
        return desk_export(x, m, args.request_id);
    case DESK_CMD_FORGET:
        if (args.user_id == 0) {
            buf_addf(&fb, "Usage: %s", desk_cmd_usage(cmd));
            rc = feedback(x, m->chat.id, &fb, 0);
            return rc < 0 ? rc : DESK_PROCESSED;
        }
        buf_free(&fb);
        return desk_forget_ask(x, m, args.user_id);
    case DESK_CMD_REPLY:
        buf_free(&fb);
        return staff_reply(x, m, args.request_id, args.text, true);
    case DESK_CMD_NOTE:
        buf_free(&fb);
        return desk_staff_note(x, m, args.request_id, args.text);
    case DESK_CMD_CANNED:
        buf_free(&fb);
        return staff_canned(x, m);
    case DESK_CMD_SEARCH:
        buf_free(&fb);
        return desk_search_command(x, m, args.text);
    default: {
        /* a solution is an answer too: canned answers in it are expanded */
        struct buf body;
        buf_init(&body, TEXT_CAP);
        rc = cmd == DESK_CMD_SOLVE ? expand(x, args.text, &body, &fb) : 0;
        if (rc >= 0)
            rc = act(x, &m->from, cmd, args.request_id,
                     cmd == DESK_CMD_SOLVE ? buf_str(&body) : args.text, m, m->chat.id, &fb, &o);
        buf_free(&body);
        if (rc < 0 && rc != -ENOENT) {
            buf_free(&fb);
            return rc;
        }
        rc = feedback(x, m->chat.id, &fb, o.found ? args.request_id : 0);
        return rc < 0 ? rc : DESK_PROCESSED;
    }
    }
}

int desk_staff_help(struct desk_ctx *x, const struct tg_message *m, bool unknown)
{
    struct buf b;
    buf_init(&b, TEXT_CAP);
    if (unknown)
        buf_addf(&b, "Unknown command /%s.\n\n", m->command);
    buf_add(&b, staff_help);
    if (x->d->topics)
        buf_add(&b, staff_help_topics);
    int rc = feedback(x, m->chat.id, &b, 0);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_staff_refuse(struct desk_ctx *x, const struct tg_message *m, const char *command,
                      enum desk_place place)
{
    json_t *ctx = json_pack("{sI ss sI}", "user_id", (json_int_t)m->from.id, "command", command,
                            "chat_id", (json_int_t)m->chat.id);
    int rc = ctx ? desk_audit(x, "warn", "refused staff command", ctx) : -ENOMEM;
    json_decref(ctx);
    if (rc < 0)
        return rc;
    /* Whoever is refused is no staff member: they read their own language. */
    const struct i18n_lang *l = desk_lang(x->d, m->from.language_code);
    struct buf b;
    buf_init(&b, TEXT_CAP);
    if (strcmp(command, "reply") == 0)
        buf_add(&b, _(l, "Sorry, only support staff can answer requests."));
    else if (place == DESK_PRIVATE)
        buf_addf(&b,
                 _(l, "Sorry, /%s is only for our support staff. If you need help, just describe "
                      "your problem in a message here."),
                 command);
    else
        buf_addf(&b, _(l, "Sorry, /%s is only for support staff."), command);
    rc = feedback(x, m->chat.id, &b, 0);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_staff_answer(struct desk_ctx *x, const struct tg_message *m, int64_t id)
{
    bool banned;
    int rc = desk_user_upsert(x, &m->from, &banned);
    if (rc < 0)
        return rc;
    const char *note;
    if (desk_topic_is_note(m->text, &note))
        return desk_staff_note(x, m, id, note);
    return staff_reply(x, m, id, m->text ? m->text : "", false);
}

int desk_staff_note(struct desk_ctx *x, const struct tg_message *m, int64_t id, const char *text)
{
    struct req r;
    int rc = lock_request(x, id, &r);
    if (rc < 0)
        return rc;
    bool found = rc > 0;
    if (found) {
        req_free(&r);
        if ((rc = store_admin_message(x, id, m, text, true)) < 0)
            return rc;
        /* In a topic the note stays where staff see it; elsewhere a word. */
        if (x->thread_id && m->chat.id == x->thread_chat)
            return DESK_PROCESSED;
    }
    struct buf fb;
    buf_init(&fb, TEXT_CAP);
    if (found)
        buf_addf(&fb,
                 "Note added to request #%" PRId64 " (for staff only: the user does not see it).",
                 id);
    else
        buf_addf(&fb, "There is no request #%" PRId64 ".", id);
    rc = feedback(x, m->chat.id, &fb, found ? id : 0);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_staff_message(struct desk_ctx *x, const struct tg_message *m, bool is_staff,
                       enum desk_place place)
{
    if (m->has_reply_to) {
        int64_t key[2] = {m->chat.id, m->reply_to_message_id}, id;
        int rc = desk_query_ids(x, "desk_notification_find", key, 2, &id, 1);
        if (rc < 0)
            return rc;
        if (id > 0 && !is_staff)
            return desk_staff_refuse(x, m, "reply", place);
        if (id > 0)
            return desk_staff_answer(x, m, id);
    }
    if (place == DESK_PRIVATE && is_staff) {
        int rc = desk_send_text(x, m->chat.id, staff_hint, NULL, "reply", 0);
        return rc < 0 ? rc : DESK_PROCESSED;
    }
    return DESK_IGNORED;
}

int desk_staff_callback(struct desk_ctx *x, const struct tg_callback_query *cq)
{
    int64_t chat = cq->has_message ? cq->message_chat_id : 0;
    enum desk_cmd cmd = DESK_CMD_NONE;
    int64_t id = 0;
    const char *refusal = NULL;
    bool staff = desk_is_staff(x->d, cq->from.id);
    if (!staff)
        refusal = "refused callback query";
    else if (desk_callback_parse(cq->data, &cmd, &id) < 0)
        refusal = "rejected callback data";
    if (refusal) {
        int rc =
            desk_refuse_callback(x, cq, refusal,
                                 staff ? "This button is not valid."
                                       : _(desk_lang(x->d, cq->from.language_code),
                                           "Sorry, only support staff can use these buttons."));
        return rc < 0 ? rc : DESK_PROCESSED;
    }

    bool banned;
    int rc = desk_user_upsert(x, &cq->from, &banned);
    if (rc < 0)
        return rc;
    struct buf fb;
    buf_init(&fb, TEXT_CAP);
    struct outcome o;
    if ((rc = act(x, &cq->from, cmd, id, NULL, NULL, chat, &fb, &o)) < 0)
        goto out;
    if (!o.found) {
        json_t *ctx =
            json_pack("{sI ss sI sI}", "user_id", (json_int_t)cq->from.id, "data", cq->data,
                      "chat_id", (json_int_t)chat, "request_id", (json_int_t)id);
        rc = ctx ? desk_audit(x, "warn", "rejected callback data", ctx) : -ENOMEM;
        json_decref(ctx);
        if (rc < 0)
            goto out;
    }
    if (buf_error(&fb) == -ENOMEM) {
        rc = -ENOMEM;
        goto out;
    }
    /* An alert for what did not happen; a toast for what did. */
    rc = desk_answer_callback(x, cq->from.id, cq->id, buf_str(&fb), !o.changed);
    if (rc == 0 && o.changed && chat != 0)
        rc = feedback(x, chat, &fb, id);
out:
    buf_free(&fb);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_staff_group_migrated(struct desk_ctx *x, int64_t old_chat, int64_t new_chat)
{
    int rc = desk_chats_migrated(x->c, old_chat, new_chat, x->sqlstate);
    return rc < 0 ? rc : DESK_PROCESSED;
}
