#include "business.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "rules.h"
#include "send.h"
#include "staff.h"
#include "user.h"

/* Longest text built here (then split into messages). */
#define TEXT_CAP (64 * 1024)
/* Active requests named in a text about a connection. */
#define REQUESTS_SHOWN     20
#define REQUESTS_FETCH_TXT "21"

const struct pool_stmt desk_business_statements[] = {
    /* A business_connection update: the connection as Telegram describes it
     * now. Returns whether the bot could answer through it before (NULL: a
     * connection not seen before) and whether it can now. */
    {"desk_business_connection_set",
     "WITH old AS (SELECT is_enabled AND can_reply AS usable FROM business_connections"
     " WHERE id = $1),"
     " up AS (INSERT INTO business_connections (id, user_id, user_chat_id, can_reply, is_enabled,"
     " rights, connected_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, to_timestamp($7::bigint))"
     " ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id,"
     " user_chat_id = EXCLUDED.user_chat_id, can_reply = EXCLUDED.can_reply,"
     " is_enabled = EXCLUDED.is_enabled, rights = EXCLUDED.rights,"
     " connected_at = EXCLUDED.connected_at RETURNING is_enabled AND can_reply AS usable)"
     " SELECT (SELECT usable FROM old), (SELECT usable FROM up)",
     7},
    /* The connection of a business message, stored as usable the first time
     * it is seen (its business_connection update never came): its account
     * (0: unknown), whether it is enabled and may reply, the account's names.
     * No row when it was stored just now. */
    {"desk_business_connection_get",
     "WITH ins AS (INSERT INTO business_connections (id) VALUES ($1)"
     " ON CONFLICT (id) DO NOTHING RETURNING id)"
     " SELECT coalesce(c.user_id, 0), c.is_enabled, c.can_reply, u.first_name, u.last_name,"
     " u.username FROM business_connections c LEFT JOIN users u ON u.user_id = c.user_id"
     " WHERE c.id = $1",
     1},
    /* Where request $1's user last wrote: the connection of their latest
     * message (no row: the chat with the bot), whether it is enabled and may
     * reply, and its account. */
    {"desk_business_route",
     "SELECT c.id, c.is_enabled, c.can_reply, coalesce(c.user_id, 0), u.first_name, u.last_name,"
     " u.username FROM (SELECT m.business_connection_id FROM messages m WHERE m.request_id = $1"
     " AND m.sender_type = 'user' ORDER BY m.id DESC LIMIT 1) l"
     " JOIN business_connections c ON c.id = l.business_connection_id"
     " LEFT JOIN users u ON u.user_id = c.user_id",
     1},
    /* The active requests whose users are reached through connection $1, at
     * most $2. */
    {"desk_business_requests",
     "SELECT r.id FROM requests r WHERE r.status IN ('open', 'assigned')"
     " AND r.id IN (SELECT m.request_id FROM messages m WHERE m.business_connection_id = $1"
     " AND m.business_message_id IS NOT NULL AND m.sender_type = 'user')"
     " AND (SELECT l.business_connection_id FROM messages l WHERE l.request_id = r.id"
     " AND l.sender_type = 'user' ORDER BY l.id DESC LIMIT 1) = $1"
     " ORDER BY r.id LIMIT $2",
     2},
    /* A customer's active request, or a new one with issue $2 opened
     * through connection $3. Returns its id and whether it is new; no row
     * when another transaction opened one meanwhile (ask again). */
    {"desk_business_request",
     "WITH found AS (SELECT id FROM requests WHERE user_id = $1"
     " AND status IN ('open', 'assigned')),"
     " ins AS (INSERT INTO requests (user_id, issue, business_connection_id)"
     " SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM found)"
     " ON CONFLICT (user_id) WHERE status IN ('open', 'assigned') DO NOTHING RETURNING id)"
     " SELECT id, true FROM ins UNION ALL SELECT id, false FROM found",
     3},
    /* A message of a business chat; nothing when it was stored before. */
    {"desk_business_message_insert",
     "INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id,"
     " business_connection_id, business_message_id, attachment_kind, attachment_file_id,"
     " timestamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
     " coalesce(to_timestamp($10::bigint), now()))"
     " ON CONFLICT (business_connection_id, chat_id, business_message_id)"
     " WHERE business_message_id IS NOT NULL DO NOTHING RETURNING id",
     10},
    /* An edit (as desk_message_edit, found by connection, chat and id). */
    {"desk_business_message_edit",
     "WITH m AS (UPDATE messages SET edit_count = edit_count + 1,"
     " edited_at = coalesce(to_timestamp($4::bigint), now())"
     " WHERE business_connection_id = $1 AND chat_id = $2 AND business_message_id = $3"
     " RETURNING id, request_id, sender_type, edit_count, edited_at),"
     " e AS (INSERT INTO message_edits (message_id, version, message, edited_at)"
     " SELECT id, edit_count, $5, edited_at FROM m)"
     " SELECT m.request_id, m.sender_type, r.status, u.is_banned"
     " FROM m JOIN requests r ON r.id = m.request_id JOIN users u ON u.user_id = r.user_id",
     5},
    /* Messages deleted in a business chat: marked, the text kept. Returns
     * each one's request, sender type, request status, whether its user is
     * banned, what it said last (its latest edit, else its text and kind)
     * and its user's names. */
    {"desk_business_messages_deleted",
     "WITH d AS (UPDATE messages SET deleted_at = now() WHERE business_connection_id = $1"
     " AND chat_id = $2 AND business_message_id = ANY($3::bigint[]) AND deleted_at IS NULL"
     " RETURNING id, request_id, sender_type, message, attachment_kind, business_message_id)"
     " SELECT d.request_id, d.sender_type, r.status, u.is_banned,"
     " (SELECT e.message FROM message_edits e WHERE e.message_id = d.id"
     " ORDER BY e.version DESC LIMIT 1), d.message, d.attachment_kind,"
     " u.first_name, u.last_name, u.username, r.user_id"
     " FROM d JOIN requests r ON r.id = d.request_id JOIN users u ON u.user_id = r.user_id"
     " ORDER BY d.business_message_id",
     3},
};
const size_t desk_business_statements_count =
    sizeof(desk_business_statements) / sizeof(desk_business_statements[0]);

/* The account of a connection as the desk names it: "First Last (@user)". */
static void fmt_account(struct buf *b, int64_t user_id, const char *first, const char *last,
                        const char *username)
{
    if (user_id)
        desk_fmt_user(b, first, last, username, user_id);
    else
        buf_add(b, "a business account");
}

/* ---- where a request's user is answered ------------------------------------- */

int desk_business_route(struct desk_ctx *x, int64_t request_id, struct desk_business_route *ret)
{
    char rid[24];
    const char *p[1] = {desk_i64(rid, request_id)};
    PGresult *res;
    memset(ret, 0, sizeof(*ret));
    buf_init(&ret->account, 1024);
    int rc = desk_exec(x, "desk_business_route", 1, p, &res);
    if (rc < 0)
        return rc;
    if (PQntuples(res) == 1) {
        ret->business = true;
        snprintf(ret->id, sizeof(ret->id), "%s", PQgetvalue(res, 0, 0));
        /* An id too long to keep whole cannot be used to send. */
        bool whole = strlen(PQgetvalue(res, 0, 0)) < sizeof(ret->id);
        ret->enabled = whole && PQgetvalue(res, 0, 1)[0] == 't';
        ret->can_reply = whole && PQgetvalue(res, 0, 2)[0] == 't';
        ret->named = desk_col_i64(res, 0, 3, 0) != 0;
        fmt_account(&ret->account, desk_col_i64(res, 0, 3, 0), desk_col_str(res, 0, 4),
                    desk_col_str(res, 0, 5), desk_col_str(res, 0, 6));
    }
    PQclear(res);
    return buf_error(&ret->account) == -ENOMEM ? -ENOMEM : 0;
}

void desk_business_route_free(struct desk_business_route *r)
{
    if (r)
        buf_free(&r->account);
}

bool desk_business_usable(const struct desk_business_route *r)
{
    return !r->business || (r->enabled && r->can_reply);
}

void desk_business_why(struct buf *b, const struct desk_business_route *r, int64_t request_id)
{
    buf_addf(b, "Nothing was sent: request #%" PRId64 " came through %s%s, ", request_id,
             r->named ? "the business account of " : "", buf_str(&r->account));
    if (!r->enabled)
        buf_add(b, "which has disconnected or paused the bot. Answers can go out again once it "
                   "connects the bot anew (Settings > Telegram Business > Chatbots).");
    else
        buf_add(b, "which does not let the bot reply. Answers can go out once it allows replies "
                   "(Settings > Telegram Business > Chatbots).");
}

int desk_business_answer(struct desk_ctx *x, const struct desk_business_route *r, int64_t user,
                         const struct tg_message *m, const char *text, const char *caption,
                         int64_t request_id)
{
    if (m->media == TG_MEDIA_NONE)
        return desk_send_business_text(x, user, text, r->id, "reply", request_id);
    return desk_send_content(x, user, m, caption, r->id, "reply", request_id);
}

/* ---- connections --------------------------------------------------------------- */

/* Appends " #12, #15" - the active requests reached through connection id - or "". */
static int add_requests(struct desk_ctx *x, const char *id, struct buf *b, int *ret_n)
{
    const char *p[2] = {id, REQUESTS_FETCH_TXT};
    PGresult *res;
    int rc = desk_exec(x, "desk_business_requests", 2, p, &res);
    if (rc < 0)
        return rc;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && i < REQUESTS_SHOWN; i++)
        buf_addf(b, "%s#%s", i ? ", " : " ", PQgetvalue(res, i, 0));
    if (rows > REQUESTS_SHOWN)
        buf_add(b, " and more");
    *ret_n = rows;
    PQclear(res);
    return 0;
}

/* Sends text to every staff chat (not as a notification of one request). */
static int tell_staff(struct desk_ctx *x, struct buf *b)
{
    struct desk_staff_chats chats; /* 8 KiB: not zeroed */
    int rc = buf_error(b) == -ENOMEM ? -ENOMEM : desk_staff_chats(x, &chats);
    for (size_t i = 0; rc == 0 && i < chats.n; i++)
        rc = desk_send_text(x, chats.ids[i], buf_str(b), NULL, "reply", 0);
    buf_free(b);
    return rc;
}

static int on_connection(struct desk_ctx *x, const struct tg_business_connection *bc)
{
    bool banned;
    int rc = desk_user_upsert(x, &bc->user, &banned); /* the account: its names for the texts */
    if (rc < 0)
        return rc;
    char uid[24], chat[24], date[24];
    const char *p[7] = {bc->id,
                        desk_i64(uid, bc->user.id),
                        desk_i64(chat, bc->user_chat_id),
                        bc->can_reply ? "true" : "false",
                        bc->is_enabled ? "true" : "false",
                        bc->rights,
                        bc->date > 0 ? desk_i64(date, bc->date) : NULL};
    PGresult *res;
    if ((rc = desk_exec(x, "desk_business_connection_set", 7, p, &res)) < 0)
        return rc;
    bool known = !PQgetisnull(res, 0, 0);
    bool was = known && PQgetvalue(res, 0, 0)[0] == 't';
    bool now = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);

    json_t *ctx = json_pack("{ss sI sb sb}", "business_connection_id", bc->id, "user_id",
                            (json_int_t)bc->user.id, "is_enabled", bc->is_enabled, "can_reply",
                            bc->can_reply);
    rc = ctx ? desk_audit(x, "info", "business connection changed", ctx) : -ENOMEM;
    json_decref(ctx);
    if (rc < 0 || (known && was == now))
        return rc < 0 ? rc : DESK_PROCESSED; /* nothing staff need to hear */

    struct buf b, account;
    buf_init(&b, TEXT_CAP);
    buf_init(&account, 1024);
    fmt_account(&account, bc->user.id, bc->user.first_name, bc->user.last_name, bc->user.username);
    const char *name = buf_str(&account);
    int n = 0;
    if (now && !known) {
        buf_addf(&b,
                 "The business account of %s connected the bot: its customers' messages reach "
                 "you here as requests, and your answers go out as %s.",
                 name, name);
    } else if (!now && !known && bc->is_enabled) {
        buf_addf(&b,
                 "The business account of %s connected the bot without letting it reply: its "
                 "customers' messages reach you here, but answers cannot go out until it allows "
                 "replies (Settings > Telegram Business > Chatbots).",
                 name);
    } else if (!now) {
        buf_addf(&b,
                 "The business account of %s %s: answers to its customers cannot go out until "
                 "it %s.",
                 name,
                 bc->is_enabled ? "no longer lets the bot reply" : "disconnected or paused the bot",
                 bc->is_enabled ? "allows replies again" : "connects the bot again");
        buf_add(&b, "\nRequests waiting for an answer through it:");
        if ((rc = add_requests(x, bc->id, &b, &n)) == 0 && n == 0)
            buf_add(&b, " none");
    } else {
        buf_addf(&b, "The business account of %s lets the bot answer again.", name);
        struct buf list;
        buf_init(&list, TEXT_CAP);
        if ((rc = add_requests(x, bc->id, &list, &n)) == 0 && n > 0)
            buf_addf(&b, "\nRequests that can be answered now:%s", buf_str(&list));
        buf_free(&list);
    }
    buf_free(&account);
    if (rc < 0) {
        buf_free(&b);
        return rc;
    }
    rc = tell_staff(x, &b);
    return rc < 0 ? rc : DESK_PROCESSED;
}

/* ---- messages ------------------------------------------------------------------- */

int desk_business_store(struct desk_ctx *x, int64_t request_id, const struct tg_message *m,
                        const char *sender_type, const char *text)
{
    char rid[24], sid[24], chat[24], mid[24], date[24];
    const char *p[10] = {desk_i64(rid, request_id),
                         desk_i64(sid, m->from.id),
                         sender_type,
                         text ? text : "",
                         desk_i64(chat, m->chat.id),
                         m->business_connection_id,
                         desk_i64(mid, m->message_id),
                         tg_media_name(m->media),
                         m->file_id,
                         m->date > 0 ? desk_i64(date, m->date) : NULL};
    return desk_exec_one(x, "desk_business_message_insert", 10, p);
}

int desk_business_edit(struct desk_ctx *x, const struct tg_message *m, const char *text,
                       PGresult **ret)
{
    char chat[24], mid[24], date[24];
    const char *p[5] = {m->business_connection_id, desk_i64(chat, m->chat.id),
                        desk_i64(mid, m->message_id),
                        m->edit_date > 0 ? desk_i64(date, m->edit_date) : NULL, text};
    return desk_exec(x, "desk_business_message_edit", 5, p, ret);
}

/* The connection of m as stored: its account (0: unknown) and names in *account. */
struct conn {
    int64_t user_id;
    bool usable;
};

static int get_connection(struct desk_ctx *x, const char *id, struct conn *ret, struct buf *account)
{
    const char *p[1] = {id};
    PGresult *res;
    int rc = desk_exec(x, "desk_business_connection_get", 1, p, &res);
    if (rc < 0)
        return rc;
    /* first seen just now: stored as usable, its account unknown */
    *ret = (struct conn){.user_id = 0, .usable = true};
    if (PQntuples(res) == 1) {
        ret->user_id = desk_col_i64(res, 0, 0, 0);
        ret->usable = PQgetvalue(res, 0, 1)[0] == 't' && PQgetvalue(res, 0, 2)[0] == 't';
        fmt_account(account, ret->user_id, desk_col_str(res, 0, 3), desk_col_str(res, 0, 4),
                    desk_col_str(res, 0, 5));
    } else {
        fmt_account(account, 0, NULL, NULL, NULL);
    }
    PQclear(res);
    return buf_error(account) == -ENOMEM ? -ENOMEM : 0;
}

/* A customer's message: the request it joins or opens, stored, staff notified. */
static int on_customer(struct desk_ctx *x, const struct tg_message *m, const struct conn *c,
                       const char *account)
{
    bool banned;
    int rc = desk_user_upsert(x, &m->from, &banned);
    if (rc < 0)
        return rc;
    struct buf issue;
    buf_init(&issue, TEXT_CAP);
    desk_fmt_content(&issue, m->text, tg_media_name(m->media));
    char uid[24];
    const char *p[3] = {desk_i64(uid, m->from.id), buf_str(&issue), m->business_connection_id};
    PGresult *res = NULL;
    /* twice at most: a request another transaction opened meanwhile is
     * found by the second statement, which sees it committed */
    for (int attempt = 0; rc == 0 && attempt < 2; attempt++) {
        PQclear(res);
        res = NULL;
        rc = buf_error(&issue) == -ENOMEM ? -ENOMEM
                                          : desk_exec(x, "desk_business_request", 3, p, &res);
        if (rc == 0 && PQntuples(res) == 1)
            break;
    }
    buf_free(&issue);
    if (rc < 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(x->sqlstate, DB_SQLSTATE_LEN, "%s", "40001"); /* try the update again */
        return -EIO;
    }
    int64_t request_id = desk_col_i64(res, 0, 0, 0);
    bool opened = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);

    if ((rc = desk_business_store(x, request_id, m, "user", m->text)) <= 0 || banned)
        return rc < 0 ? rc : DESK_PROCESSED; /* the same message again, or a banned user */
    struct buf via;
    buf_init(&via, 1024);
    buf_addf(&via, " via %s", account);
    if (!c->usable)
        buf_add(&via, ", whose connection does not let the bot answer");
    struct desk_staff_chats chats; /* 8 KiB: not zeroed */
    rc = buf_error(&via) == -ENOMEM ? -ENOMEM : desk_staff_chats(x, &chats);
    if (rc == 0)
        rc = desk_message_notify(x, m, request_id, opened, buf_str(&via), &chats, NULL, 0);
    buf_free(&via);
    return rc < 0 ? rc : DESK_PROCESSED;
}

/* The account's own message: a staff answer to the customer's active request. */
static int on_owner(struct desk_ctx *x, const struct tg_message *m)
{
    bool banned;
    int rc = desk_user_upsert(x, &m->from, &banned);
    if (rc < 0)
        return rc;
    char uid[24];
    const char *p[1] = {desk_i64(uid, m->chat.id)};
    PGresult *res;
    if ((rc = desk_exec(x, "desk_active_request", 1, p, &res)) < 0)
        return rc;
    int64_t request_id = PQntuples(res) == 1 ? desk_col_i64(res, 0, 0, 0) : 0;
    PQclear(res);
    if (request_id == 0)
        return DESK_IGNORED; /* the account writing first, or after a request ended */
    return desk_staff_owner_answer(x, m, request_id);
}

static int on_message(struct desk_ctx *x, const struct tg_message *m)
{
    struct conn c;
    struct buf account;
    buf_init(&account, 1024);
    int rc = get_connection(x, m->business_connection_id, &c, &account);
    if (rc == 0) {
        /* In a private chat the chat is the customer: anyone else writing
         * there is the account (its owner, or someone it lets write). */
        bool owner = c.user_id ? m->from.id == c.user_id : m->from.id != m->chat.id;
        rc = owner ? on_owner(x, m) : on_customer(x, m, &c, buf_str(&account));
    }
    buf_free(&account);
    return rc;
}

/* Deleted messages: marked; staff hear of a customer's in an active request. */
static int on_deleted(struct desk_ctx *x, const struct tg_business_deleted *bd)
{
    struct buf ids;
    buf_init(&ids, 64 + bd->n_message_ids * 24);
    buf_addc(&ids, '{');
    for (size_t i = 0; i < bd->n_message_ids; i++)
        buf_addf(&ids, "%s%" PRId64, i ? "," : "", bd->message_ids[i]);
    buf_addc(&ids, '}');
    char chat[24];
    const char *p[3] = {bd->connection_id, desk_i64(chat, bd->chat.id), buf_str(&ids)};
    PGresult *res;
    int rc = buf_error(&ids) == -ENOMEM
                 ? -ENOMEM
                 : desk_exec(x, "desk_business_messages_deleted", 3, p, &res);
    buf_free(&ids);
    if (rc < 0)
        return rc;
    int rows = PQntuples(res);
    for (int i = 0; rc == 0 && i < rows; i++) {
        enum desk_status status = DESK_CLOSED;
        desk_status_parse(PQgetvalue(res, i, 2), &status);
        if (strcmp(PQgetvalue(res, i, 1), "user") != 0 || PQgetvalue(res, i, 3)[0] == 't' ||
            (status != DESK_OPEN && status != DESK_ASSIGNED))
            continue;
        int64_t request_id = desk_col_i64(res, i, 0, 0);
        struct buf b;
        buf_init(&b, TEXT_CAP);
        buf_addf(&b, "Request #%" PRId64 ": ", request_id);
        desk_fmt_user(&b, desk_col_str(res, i, 7), desk_col_str(res, i, 8), desk_col_str(res, i, 9),
                      desk_col_i64(res, i, 10, 0));
        buf_add(&b, " deleted a message: ");
        const char *latest = desk_col_str(res, i, 4);
        if (latest)
            buf_add(&b, latest);
        else
            desk_fmt_content(&b, PQgetvalue(res, i, 5), desk_col_str(res, i, 6));
        rc = buf_error(&b) == -ENOMEM ? -ENOMEM
                                      : desk_notify_staff(x, request_id, buf_str(&b), false);
        buf_free(&b);
    }
    PQclear(res);
    if (rc < 0)
        return rc;
    return rows > 0 ? DESK_PROCESSED : DESK_IGNORED;
}

int desk_business_apply(struct desk_ctx *x, const struct tg_update *u)
{
    switch (u->kind) {
    case TG_UPDATE_BUSINESS_CONNECTION:
        return on_connection(x, &u->business);
    case TG_UPDATE_BUSINESS_MESSAGE:
        return on_message(x, &u->message);
    case TG_UPDATE_EDITED_BUSINESS_MESSAGE:
        return desk_user_edit(x, &u->message);
    case TG_UPDATE_DELETED_BUSINESS_MESSAGES:
        return on_deleted(x, &u->deleted);
    default:
        return DESK_IGNORED;
    }
}
