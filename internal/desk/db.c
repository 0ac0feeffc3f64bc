#include "db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "desk.h"
#include "text.h"
#include "util/strnum.h"

/*
 * Every statement of the desk, prepared on each pooled connection. Telegram
 * ids travel as text parameters and are bigint columns.
 */
const struct db_stmt desk_statements[] = {
    /* Creates a user (or a staff member acting), or refreshes what changed;
     * returns whether they are banned. A user who writes again is reachable
     * again. An existing row whose profile is unchanged is not even locked
     * (ON CONFLICT DO UPDATE would lock it, even when its WHERE fails):
     * concurrent updates of one user - a staff member answering many
     * requests - must not queue or deadlock on it. */
    {"user_upsert",
     "WITH ins AS ("
     " INSERT INTO users (user_id, username, first_name, last_name, language_code)"
     " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO NOTHING RETURNING is_banned),"
     " upd AS ("
     " UPDATE users SET username = $2, first_name = $3, last_name = $4, language_code = $5,"
     " is_unreachable = false, unreachable_reason = NULL"
     " WHERE user_id = $1 AND ((username, first_name, last_name, language_code)"
     " IS DISTINCT FROM ($2::text, $3::text, $4::text, $5::text) OR is_unreachable)"
     " RETURNING is_banned)"
     " SELECT is_banned FROM ins UNION ALL SELECT is_banned FROM upd"
     " UNION ALL SELECT is_banned FROM users WHERE user_id = $1"
     " AND NOT EXISTS (SELECT 1 FROM ins) AND NOT EXISTS (SELECT 1 FROM upd)",
     5},
    /* The user's active request, or a new one with this issue text. */
    {"request_open_or_get",
     "WITH existing AS ("
     " SELECT id FROM requests WHERE user_id = $1 AND status IN ('open', 'assigned')),"
     " created AS ("
     " INSERT INTO requests (user_id, issue) SELECT $1, $2"
     " WHERE NOT EXISTS (SELECT 1 FROM existing) RETURNING id)"
     " SELECT id, false FROM existing UNION ALL SELECT id, true FROM created",
     2},
    /* A message of a request; nothing when this Telegram message is stored. */
    {"message_insert",
     "INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id, tg_message_id,"
     " attachment_kind, attachment_file_id, timestamp)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce(to_timestamp($9::bigint), now()))"
     " ON CONFLICT (chat_id, tg_message_id) WHERE tg_message_id IS NOT NULL DO NOTHING"
     " RETURNING id",
     9},
    {"user_mark_unreachable",
     "UPDATE users SET is_unreachable = true, unreachable_reason = $2"
     " WHERE user_id = $1 AND NOT is_unreachable",
     2},
    {"desk_user_reachable",
     "UPDATE users SET is_unreachable = false, unreachable_reason = NULL"
     " WHERE user_id = $1 AND is_unreachable",
     1},
    /* The supergroup the staff group became, when Telegram said so. */
    {"desk_staff_chat", "SELECT value FROM bot_state WHERE key = 'chat_migrated:' || $1", 1},
    {"desk_chat_migrated",
     "INSERT INTO bot_state (key, value) VALUES ('chat_migrated:' || $1, $2)"
     " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
     2},
    /* Audit rows commit with the change they describe. */
    {"desk_audit",
     "INSERT INTO logs (level, message, context, audit) VALUES ($1, $2, $3::jsonb, true)", 3},
    /* Which request a bot message in a staff chat is about. */
    {"desk_notification_find",
     "SELECT request_id FROM notifications WHERE chat_id = $1 AND message_id = $2", 2},
    /* A request and its user, locked for a status change. */
    {"desk_request_lock",
     "SELECT r.status, r.user_id, coalesce(r.assigned_admin, 0), u.first_name, u.last_name,"
     " u.username, u.is_banned, u.is_unreachable, a.first_name, a.last_name, a.username"
     " FROM requests r JOIN users u ON u.user_id = r.user_id"
     " LEFT JOIN users a ON a.user_id = r.assigned_admin WHERE r.id = $1 FOR NO KEY UPDATE OF r",
     1},
    /* A status change; resolved_at keeps the first resolution, first_response_at
     * the first staff answer. updated_at is also set by the trigger. */
    /* Returns the seconds from opening to a resolution or first response
     * that this change set (NULL when it set none), for the metrics. */
    {"desk_request_set_status",
     "WITH old AS (SELECT resolved_at, first_response_at FROM requests WHERE id = $1)"
     " UPDATE requests SET status = $2, assigned_admin = $3::bigint,"
     " solution = coalesce($4, solution),"
     " resolved_at = CASE WHEN $2 IN ('solved', 'closed') THEN coalesce(resolved_at, now())"
     " ELSE NULL END,"
     " first_response_at = CASE WHEN $5::boolean THEN coalesce(first_response_at, now())"
     " ELSE first_response_at END,"
     " updated_at = now()"
     " WHERE id = $1"
     " RETURNING CASE WHEN (SELECT resolved_at FROM old) IS NULL AND resolved_at IS NOT NULL"
     " THEN extract(epoch FROM resolved_at - created_at) END,"
     " CASE WHEN (SELECT first_response_at FROM old) IS NULL AND first_response_at IS NOT NULL"
     " THEN extract(epoch FROM first_response_at - created_at) END",
     5},
    {"desk_request_first_response",
     "UPDATE requests SET first_response_at = now() WHERE id = $1 AND first_response_at IS NULL"
     " RETURNING NULL, extract(epoch FROM first_response_at - created_at)",
     1},
    {"desk_request_other_active",
     "SELECT id FROM requests WHERE user_id = $1 AND status IN ('open', 'assigned') AND id <> $2",
     2},
    {"desk_active_request",
     "SELECT id, status, coalesce(assigned_admin, 0) FROM requests"
     " WHERE user_id = $1 AND status IN ('open', 'assigned') FOR NO KEY UPDATE",
     1},
    /* /status */
    {"desk_user_requests",
     "SELECT id, status, extract(epoch FROM now() - created_at)::bigint, issue FROM requests"
     " WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
     2},
    /* /list: oldest first; banned users' requests are left out. */
    {"desk_list",
     "SELECT r.id, r.status, extract(epoch FROM now() - r.created_at)::bigint,"
     " u.first_name, u.last_name, u.username, r.user_id,"
     " a.first_name, a.last_name, a.username, coalesce(r.assigned_admin, 0), left(r.issue, 300)"
     " FROM requests r JOIN users u ON u.user_id = r.user_id"
     " LEFT JOIN users a ON a.user_id = r.assigned_admin"
     " WHERE r.status IN ('open', 'assigned') AND NOT u.is_banned"
     " ORDER BY r.created_at, r.id LIMIT $1",
     1},
    /* /history */
    {"desk_history_head",
     "SELECT r.status, r.user_id, u.first_name, u.last_name, u.username,"
     " to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), r.issue, r.solution,"
     " a.first_name, a.last_name, a.username, coalesce(r.assigned_admin, 0)"
     " FROM requests r JOIN users u ON u.user_id = r.user_id"
     " LEFT JOIN users a ON a.user_id = r.assigned_admin WHERE r.id = $1",
     1},
    {"desk_history",
     "SELECT * FROM (SELECT m.id, m.sender_type, m.sender_id, u.first_name, u.last_name,"
     " to_char(m.timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), m.message,"
     " m.attachment_kind, m.edit_count,"
     " (SELECT e.message FROM message_edits e WHERE e.message_id = m.id"
     " ORDER BY e.version DESC LIMIT 1)"
     " FROM messages m LEFT JOIN users u ON u.user_id = m.sender_id"
     " WHERE m.request_id = $1 ORDER BY m.id DESC LIMIT $2) h ORDER BY 1",
     2},
    /* /stats: medians over every request that got there. */
    {"desk_stats",
     "SELECT count(*) FILTER (WHERE status = 'open'), count(*) FILTER (WHERE status = 'assigned'),"
     " count(*) FILTER (WHERE status = 'solved'), count(*) FILTER (WHERE status = 'closed'),"
     " coalesce(extract(epoch FROM percentile_cont(0.5) WITHIN GROUP"
     " (ORDER BY first_response_at - created_at))::bigint, -1),"
     " count(first_response_at),"
     " coalesce(extract(epoch FROM percentile_cont(0.5) WITHIN GROUP"
     " (ORDER BY resolved_at - created_at))::bigint, -1),"
     " count(resolved_at)"
     " FROM requests",
     0},
    {"desk_user_set_banned",
     "UPDATE users SET is_banned = $2::boolean WHERE user_id = $1"
     " AND is_banned IS DISTINCT FROM $2::boolean RETURNING user_id",
     2},
    /* An edit: the next version goes to message_edits; messages.message keeps
     * the original. Nothing when the message is unknown. */
    {"desk_message_edit",
     "WITH m AS (UPDATE messages SET edit_count = edit_count + 1,"
     " edited_at = coalesce(to_timestamp($3::bigint), now())"
     " WHERE chat_id = $1 AND tg_message_id = $2"
     " RETURNING id, request_id, sender_type, edit_count, edited_at),"
     " e AS (INSERT INTO message_edits (message_id, version, message, edited_at)"
     " SELECT id, edit_count, $4, edited_at FROM m)"
     " SELECT m.request_id, m.sender_type, r.status, u.is_banned"
     " FROM m JOIN requests r ON r.id = m.request_id JOIN users u ON u.user_id = r.user_id",
     4},
};
const size_t desk_statements_count = sizeof(desk_statements) / sizeof(desk_statements[0]);

const char *desk_i64(char buf[24], int64_t v)
{
    strnum_fmt_i64(buf, v);
    return buf;
}

int64_t desk_col_i64(const PGresult *res, int row, int col, int64_t fallback)
{
    int64_t v;
    if (PQgetisnull(res, row, col) ||
        strnum_i64(PQgetvalue(res, row, col), INT64_MIN, INT64_MAX, &v) < 0)
        return fallback;
    return v;
}

const char *desk_col_str(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int desk_db_exec(struct desk_ctx *x, const char *name, int n, const char *const *params,
                 PGresult **ret)
{
    PGresult *res = db_exec(x->c, name, n, params);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (ret)
            *ret = res;
        else
            PQclear(res);
        return 0;
    }
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(x->sqlstate, 6, "%s", s ? s : "08000");
    PQclear(res);
    return -EIO;
}

int desk_db_exec_timed(struct desk_ctx *x, const char *name, int n, const char *const *params)
{
    PGresult *res;
    int rc = desk_db_exec(x, name, n, params, &res);
    if (rc < 0)
        return rc;
    for (int row = 0; row < PQntuples(res) && PQnfields(res) >= 2; row++) {
        for (int col = 0; col < 2; col++) {
            if (PQgetisnull(res, row, col))
                continue;
            char *end = NULL;
            double s = strtod(PQgetvalue(res, row, col), &end);
            if (end && *end == '\0')
                outbox_observe(x->out, col == 0, s);
        }
    }
    PQclear(res);
    return 0;
}

/* Serialises body and queues it as one outbox row; takes body. */
static int queue(struct desk_ctx *x, int64_t chat, const char *method, json_t *body,
                 const char *purpose, int64_t request_id)
{
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!payload)
        return -ENOMEM;
    int rc = outbox_add(x->c, x->out, chat, method, payload, purpose, request_id, x->sqlstate);
    free(payload);
    return rc;
}

int desk_send_text(struct desk_ctx *x, int64_t chat, const char *text, json_t *markup,
                   const char *purpose, int64_t request_id)
{
    /* The last part that is not blank carries the markup. */
    const char *last = NULL;
    for (const char *p = text; *p;) {
        size_t n = desk_text_part_len(p, DESK_TEXT_MAX);
        if (!desk_text_blank(p, n))
            last = p;
        p += n;
    }
    for (const char *p = text; *p;) {
        size_t n = desk_text_part_len(p, DESK_TEXT_MAX);
        if (!desk_text_blank(p, n)) {
            json_t *body = json_object();
            if (!body || json_object_set_new(body, "chat_id", json_integer(chat)) < 0 ||
                json_object_set_new(body, "text", json_stringn(p, n)) < 0 ||
                (p == last && markup && json_object_set(body, "reply_markup", markup) < 0)) {
                json_decref(body);
                return -ENOMEM;
            }
            int rc = queue(x, chat, "sendMessage", body, purpose, request_id);
            if (rc < 0)
                return rc;
        }
        p += n;
    }
    return 0;
}

int desk_send_copy(struct desk_ctx *x, int64_t chat, int64_t from_chat, int64_t message_id,
                   const char *caption, const char *purpose, int64_t request_id)
{
    json_t *body = json_pack("{sI sI sI}", "chat_id", (json_int_t)chat, "from_chat_id",
                             (json_int_t)from_chat, "message_id", (json_int_t)message_id);
    if (body && caption && json_object_set_new(body, "caption", json_string(caption)) < 0) {
        json_decref(body);
        return -ENOMEM;
    }
    return queue(x, chat, "copyMessage", body, purpose, request_id);
}

int desk_answer_callback(struct desk_ctx *x, int64_t chat, const char *id, const char *text,
                         bool alert)
{
    /* Telegram shows at most 200 characters. */
    struct desk_buf t;
    desk_buf_init(&t, 1024);
    desk_fmt_preview(&t, text, 199);
    json_t *body = t.oom ? NULL
                         : json_pack("{ss ss sb}", "callback_query_id", id, "text",
                                     desk_buf_str(&t), "show_alert", alert ? 1 : 0);
    desk_buf_free(&t);
    return queue(x, chat, "answerCallbackQuery", body, "answer", 0);
}

int desk_audit(struct desk_ctx *x, const char *level, const char *message, const json_t *context)
{
    char *ctx = context ? json_dumps(context, JSON_COMPACT) : NULL;
    if (!ctx)
        return -ENOMEM;
    const char *p[3] = {level, message, ctx};
    int rc = desk_db_exec(x, "desk_audit", 3, p, NULL);
    free(ctx);
    return rc;
}

/* The staff group's id now: ADMIN_CHAT_ID or the supergroup it became. */
static int staff_group(struct desk_ctx *x, int64_t *ret)
{
    char id[24];
    const char *p[1] = {desk_i64(id, x->cfg->admin_chat_id)};
    PGresult *res;
    int rc = desk_db_exec(x, "desk_staff_chat", 1, p, &res);
    if (rc < 0)
        return rc;
    *ret = PQntuples(res) == 1 ? desk_col_i64(res, 0, 0, x->cfg->admin_chat_id)
                               : x->cfg->admin_chat_id;
    PQclear(res);
    return 0;
}

int desk_is_staff_group(struct desk_ctx *x, int64_t chat, bool *ret)
{
    if (!x->cfg->has_admin_chat_id) {
        *ret = false;
        return 0;
    }
    if (chat == x->cfg->admin_chat_id) {
        *ret = true;
        return 0;
    }
    int64_t now;
    int rc = staff_group(x, &now);
    if (rc < 0)
        return rc;
    *ret = chat == now;
    return 0;
}

int desk_staff_chats(struct desk_ctx *x, struct desk_staff_chats *ret)
{
    ret->n = 0;
    if (x->cfg->has_admin_chat_id) {
        int rc = staff_group(x, &ret->ids[0]);
        if (rc < 0)
            return rc;
        ret->n = 1;
        return 0;
    }
    for (size_t i = 0; i < x->cfg->n_admin_ids && i < DESK_STAFF_CHATS_MAX; i++)
        ret->ids[ret->n++] = x->cfg->admin_ids[i];
    return 0;
}

/* The inline keyboard of a notification: [Take #N] [Close #N]. New reference. */
static json_t *buttons(int64_t request_id)
{
    char take[32], close[32], take_label[40], close_label[40];
    desk_callback_data(DESK_CMD_TAKE, request_id, take, sizeof(take));
    desk_callback_data(DESK_CMD_CLOSE, request_id, close, sizeof(close));
    snprintf(take_label, sizeof(take_label), "Take #%" PRId64, request_id);
    snprintf(close_label, sizeof(close_label), "Close #%" PRId64, request_id);
    return json_pack("{s[[{ssss}{ssss}]]}", "inline_keyboard", "text", take_label, "callback_data",
                     take, "text", close_label, "callback_data", close);
}

int desk_notify_staff(struct desk_ctx *x, int64_t request_id, const char *text, bool with_buttons)
{
    struct desk_staff_chats chats;
    int rc = desk_staff_chats(x, &chats);
    if (rc < 0 || chats.n == 0)
        return rc;
    json_t *markup = with_buttons ? buttons(request_id) : NULL;
    if (with_buttons && !markup)
        return -ENOMEM;
    for (size_t i = 0; rc == 0 && i < chats.n; i++)
        rc = desk_send_text(x, chats.ids[i], text, markup, "notify", request_id);
    json_decref(markup);
    return rc;
}

int desk_notify_staff_copy(struct desk_ctx *x, int64_t request_id, int64_t from_chat,
                           int64_t message_id)
{
    struct desk_staff_chats chats;
    int rc = desk_staff_chats(x, &chats);
    for (size_t i = 0; rc == 0 && i < chats.n; i++)
        rc = desk_send_copy(x, chats.ids[i], from_chat, message_id, NULL, "notify", request_id);
    return rc;
}
