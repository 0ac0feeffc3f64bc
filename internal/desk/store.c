#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chats.h"
#include "csat.h"
#include "db/locks.h"
#include "db/sqlstate.h"
#include "message.h"
#include "rules.h"
#include "util/strnum.h"

/*
 * Every statement of the desk, prepared on each pooled connection. Telegram
 * ids travel as text parameters and are bigint columns.
 */
const struct pool_stmt desk_statements[] = {
    /* Deduplication: an update_id is claimed with the update's effects. */
    {"desk_update_claim",
     "INSERT INTO processed_updates (update_id, kind) VALUES ($1, $2)"
     " ON CONFLICT (update_id) DO NOTHING RETURNING 1",
     2},
    {"desk_update_dead_letter",
     "INSERT INTO processed_updates (update_id, kind, outcome, error, payload)"
     " VALUES ($1, $2, 'dead', $3, convert_to($4, 'UTF8'))"
     " ON CONFLICT (update_id) DO NOTHING",
     4},
    /* Users' messages, many at once (message.c). */
    {DESK_MESSAGES_STATEMENT, desk_messages_sql, DESK_MESSAGES_NPARAMS},
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
    /* A message of a request ($10: an internal note of staff); nothing when
     * this Telegram message is stored. */
    {"message_insert",
     "INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id, tg_message_id,"
     " attachment_kind, attachment_file_id, timestamp, is_note)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce(to_timestamp($9::bigint), now()),"
     " $10::boolean)"
     " ON CONFLICT (chat_id, tg_message_id) WHERE tg_message_id IS NOT NULL DO NOTHING"
     " RETURNING id",
     10},
    /* Audit rows commit with the change they describe. */
    {"desk_audit",
     "INSERT INTO logs (level, message, context, audit) VALUES ($1, $2, $3::jsonb, true)", 3},
    /* Which request a bot message in a staff chat is about. */
    {"desk_notification_find",
     "SELECT request_id FROM notifications WHERE chat_id = $1 AND message_id = $2", 2},
    /* A request and its user, locked for a status change. */
    {"desk_request_lock",
     "SELECT r.status, r.user_id, coalesce(r.assigned_admin, 0), u.first_name, u.last_name,"
     " u.username, u.is_banned, u.is_unreachable, a.first_name, a.last_name, a.username,"
     " u.language_code"
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
     " ORDER BY e.version DESC LIMIT 1), m.is_note"
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
     " count(resolved_at),"
     /* satisfaction: average and count over 7 and 30 days */
     " (SELECT to_char(avg(score), 'FM0.0') FROM ratings WHERE rated_at > now() - interval '7 "
     "days'),"
     " (SELECT count(*) FROM ratings WHERE rated_at > now() - interval '7 days'),"
     " (SELECT to_char(avg(score), 'FM0.0') FROM ratings WHERE rated_at > now() - interval '30 "
     "days'),"
     " (SELECT count(*) FROM ratings WHERE rated_at > now() - interval '30 days')"
     " FROM requests",
     0},
    /* A rating button pressed by user $2 for request $1, score $3: stored
     * when the request is theirs and solved or closed (a second press
     * changes the score); a first rating opens the comment window and closes
     * any other of the user's. Returns whether the request is the user's,
     * its status, whether this was the first rating (NULL: not stored) and
     * whether the user is banned; no row when there is no such request. */
    {"desk_rating_set",
     "WITH r AS (SELECT id, user_id, status FROM requests WHERE id = $1),"
     " ok AS (SELECT id FROM r WHERE user_id = $2 AND status IN ('solved', 'closed')),"
     " other AS (UPDATE ratings SET comment_until = NULL WHERE user_id = $2"
     " AND comment_until IS NOT NULL AND request_id <> $1"
     " AND EXISTS (SELECT 1 FROM ok) AND NOT EXISTS (SELECT 1 FROM ratings WHERE request_id = $1)),"
     " up AS (INSERT INTO ratings (request_id, user_id, score, comment_until)"
     " SELECT id, $2, $3::smallint, now() + interval '" DESK_CSAT_COMMENT_MINUTES_TXT " minutes'"
     " FROM ok ON CONFLICT (request_id) DO UPDATE SET score = EXCLUDED.score, rated_at = now()"
     " RETURNING xmax = 0 AS first)"
     " SELECT r.user_id = $2, r.status, (SELECT first FROM up),"
     " coalesce((SELECT is_banned FROM users WHERE user_id = $2), false) FROM r",
     3},
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
     " RETURNING id, request_id, sender_type, edit_count, edited_at, copy_chat_id,"
     " copy_message_id),"
     " e AS (INSERT INTO message_edits (message_id, version, message, edited_at)"
     " SELECT id, edit_count, $4, edited_at FROM m)"
     " SELECT m.request_id, m.sender_type, r.status, u.is_banned, m.copy_chat_id,"
     " m.copy_message_id"
     " FROM m JOIN requests r ON r.id = m.request_id JOIN users u ON u.user_id = r.user_id",
     4},
    /* Reminders about unanswered requests (timers.c): $1 the target in
     * seconds, $2..$5 business hours (NULL: always open), $6 how many. A
     * reminder row is claimed for every threshold passed (the target, twice
     * it); a row claimed before stops it firing again. Banned users'
     * requests are left out. Returns the requests reminded of, the seconds
     * they waited, whether this was their first reminder, and the user. */
    {"desk_sla_remind",
     "WITH lock AS (SELECT pg_try_advisory_xact_lock(" DB_STR(
         DB_LOCK_DESK_TIMERS) ") AS got),"
                              " cand AS (SELECT r.id, r.user_id, r.created_at,"
                              " (SELECT count(*) FROM sla_reminders s WHERE s.request_id = "
                              "r.id)::int AS sent"
                              " FROM requests r JOIN users u ON u.user_id = r.user_id"
                              " WHERE (SELECT got FROM lock) AND r.status IN ('open', 'assigned')"
                              " AND r.first_response_at IS NULL AND NOT u.is_banned"
                              " AND r.created_at <= now() - make_interval(secs => $1::double "
                              "precision)),"
                              " timed AS (SELECT c.*, CASE WHEN $5::text IS NULL"
                              " THEN extract(epoch FROM now() - c.created_at)::double precision"
                              " ELSE tgdesk_business_seconds(c.created_at, now(), $2::int[], "
                              "$3::int, $4::int, $5::text)"
                              " END AS waited FROM cand c WHERE c.sent < 2),"
                              " due AS (SELECT t.*, least(2, floor(t.waited / $1::double "
                              "precision))::int AS reach"
                              " FROM timed t WHERE t.waited >= $1::double precision * (t.sent + 1)"
                              " ORDER BY t.created_at LIMIT $6),"
                              " ins AS (INSERT INTO sla_reminders (request_id, n)"
                              " SELECT d.id, g FROM due d, generate_series(d.sent + 1, d.reach) g"
                              " ON CONFLICT DO NOTHING RETURNING request_id, n)"
                              " SELECT d.id, d.user_id, d.waited::bigint, d.sent = 0, "
                              "u.first_name, u.last_name,"
                              " u.username FROM due d JOIN users u ON u.user_id = d.user_id"
                              " WHERE d.id IN (SELECT request_id FROM ins) ORDER BY d.created_at",
     6},
    /* Closes requests solved more than $1 seconds ago whose user has not
     * written since (a message after the solution opens a new request), at
     * most $2 of them. */
    {"desk_auto_close",
     "WITH lock AS (SELECT pg_try_advisory_xact_lock(" DB_STR(
         DB_LOCK_DESK_TIMERS) ") AS got),"
                              " due AS (SELECT r.id FROM requests r WHERE (SELECT got FROM lock) "
                              "AND r.status = 'solved'"
                              " AND r.resolved_at <= now() - make_interval(secs => $1::double "
                              "precision)"
                              " AND NOT EXISTS (SELECT 1 FROM requests n WHERE n.user_id = "
                              "r.user_id AND n.id > r.id"
                              " AND n.created_at > r.resolved_at)"
                              " ORDER BY r.resolved_at LIMIT $2 FOR NO KEY UPDATE OF r SKIP LOCKED)"
                              " UPDATE requests r SET status = 'closed', updated_at = now() FROM "
                              "due"
                              " WHERE r.id = due.id AND r.status = 'solved' RETURNING r.id, "
                              "r.user_id,"
                              " (SELECT u.language_code FROM users u WHERE u.user_id = r.user_id)",
     2},
    /* /export: every event of request $1 in time order - messages, edits,
     * status changes and bans from the audit trail, the rating. */
    {"desk_export",
     "SELECT to_char(x.t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), x.kind, x.sender_type,"
     " x.actor, u.first_name, u.last_name, u.username, x.body, x.media, x.extra"
     " FROM (SELECT m.timestamp AS t, 1 AS k, m.id AS ord,"
     " CASE WHEN m.is_note THEN 'note' ELSE 'message' END AS kind, m.sender_type,"
     " m.sender_id AS actor, m.message AS body, m.attachment_kind AS media, '' AS extra"
     " FROM messages m WHERE m.request_id = $1"
     " UNION ALL SELECT e.edited_at, 2, e.id, 'edit', m.sender_type, m.sender_id, e.message,"
     " NULL, e.version::text FROM message_edits e JOIN messages m ON m.id = e.message_id"
     " WHERE m.request_id = $1"
     " UNION ALL SELECT l.timestamp, 3, l.id, 'status', NULL,"
     " (coalesce(l.context->>'actor_id', '0'))::bigint, '', NULL,"
     " CASE WHEN l.message = 'request status changed' THEN (l.context->>'action') || ': '"
     " || (l.context->>'old_status') || ' -> ' || (l.context->>'new_status')"
     " ELSE l.context->>'action' END"
     " FROM logs l WHERE l.audit AND (l.context->>'request_id') = $1::bigint::text"
     " AND l.message IN ('request status changed', 'user banned', 'user unbanned')"
     " UNION ALL SELECT g.rated_at, 4, g.request_id, 'rating', NULL, g.user_id,"
     " coalesce(g.comment, ''), NULL, g.score::text FROM ratings g WHERE g.request_id = $1) x"
     " LEFT JOIN users u ON u.user_id = x.actor ORDER BY x.t, x.k, x.ord",
     1},
    /* /forget USER_ID: who it is, and how many requests they have. */
    {"desk_forget_user",
     "SELECT u.first_name, u.last_name, u.username,"
     " (SELECT count(*) FROM requests r WHERE r.user_id = u.user_id)"
     " FROM users u WHERE u.user_id = $1",
     1},
    /* Erases user $1 everywhere (forget.h says what and why). Every CTE
     * reads the rows as they were before, so the words to look for are
     * gathered from the very rows being erased. Returns the requests, the
     * messages, the log rows and the dead letters it touched, and the
     * patterns of their words for the outbox (outbox_forget()). */
    {"desk_forget_erase",
     "WITH reqs AS (SELECT id FROM requests WHERE user_id = $1),"
     " msgs AS (SELECT id, message, attachment_file_id FROM messages"
     " WHERE request_id IN (SELECT id FROM reqs)),"
     /* their names and file ids, and everything they or staff wrote */
     " names AS (SELECT s FROM (SELECT unnest(ARRAY[first_name, last_name, username]) AS s"
     " FROM users WHERE user_id = $1 UNION SELECT attachment_file_id FROM msgs) n"
     " WHERE length(s) >= 3),"
     " words AS (SELECT s FROM (SELECT s FROM names UNION SELECT message FROM msgs"
     " UNION SELECT e.message FROM message_edits e WHERE e.message_id IN (SELECT id FROM msgs)"
     " UNION SELECT issue FROM requests WHERE id IN (SELECT id FROM reqs)"
     " UNION SELECT solution FROM requests WHERE id IN (SELECT id FROM reqs)"
     " UNION SELECT comment FROM ratings WHERE request_id IN (SELECT id FROM reqs)) w"
     " WHERE length(s) >= 3),"
     " name_pats AS (SELECT '%' || replace(replace(replace(s, '\\', '\\\\'), '%', '\\%'),"
     " '_', '\\_') || '%' AS p FROM names),"
     " word_pats AS (SELECT '%' || replace(replace(replace(s, '\\', '\\\\'), '%', '\\%'),"
     " '_', '\\_') || '%' AS p FROM words),"
     " u AS (UPDATE users SET username = NULL, first_name = NULL, last_name = NULL,"
     " language_code = NULL, unreachable_reason = NULL WHERE user_id = $1 RETURNING 1),"
     " m AS (UPDATE messages SET message = '', attachment_file_id = NULL"
     " WHERE id IN (SELECT id FROM msgs) RETURNING 1),"
     " e AS (UPDATE message_edits SET message = '' WHERE message_id IN (SELECT id FROM msgs)"
     " RETURNING 1),"
     " r AS (UPDATE requests SET issue = '', solution = NULL WHERE id IN (SELECT id FROM reqs)"
     " RETURNING 1),"
     " g AS (UPDATE ratings SET comment = NULL, comment_until = NULL"
     " WHERE request_id IN (SELECT id FROM reqs) RETURNING 1),"
     /* logs: rows naming them keep only ids, actions and statuses */
     " l AS (UPDATE logs SET context = (SELECT coalesce(jsonb_object_agg(k, v), '{}'::jsonb)"
     " FROM jsonb_each(logs.context) AS j(k, v) WHERE k IN ('request_id', 'actor_id', 'user_id',"
     " 'action', 'old_status', 'new_status', 'command', 'chat_id', 'previous_admin_id', 'role',"
     " 'requests', 'messages'))"
     " WHERE context->>'user_id' = $1::bigint::text OR context->>'actor_id' = $1::bigint::text"
     " OR context->>'chat_id' = $1::bigint::text OR context->>'request_id' IN (SELECT id::text "
     "FROM reqs)"
     " OR context::text LIKE ANY (ARRAY(SELECT p FROM name_pats)) RETURNING 1),"
     /* dead letters: updates from them, or holding their words */
     " d AS (UPDATE processed_updates SET payload = NULL, error = 'erased'"
     " WHERE payload IS NOT NULL AND (position(convert_to('\"id\":' || $1::bigint::text || ',', "
     "'UTF8')"
     " IN payload) > 0 OR convert_from(payload, 'UTF8') LIKE ANY (ARRAY(SELECT p FROM word_pats)))"
     " RETURNING 1)"
     " SELECT (SELECT count(*) FROM reqs), (SELECT count(*) FROM m), (SELECT count(*) FROM l),"
     " (SELECT count(*) FROM d), ARRAY(SELECT p FROM word_pats)",
     1},
};
const size_t desk_statements_count = sizeof(desk_statements) / sizeof(desk_statements[0]);

const struct i18n_lang *desk_lang(const struct desk *d, const char *language_code)
{
    return i18n_find(d->i18n, language_code);
}

void desk_hours_params(const struct desk *d, const char *ret[4])
{
    bool on = d->hours_zone != NULL;
    ret[0] = on ? d->hours_days : NULL;
    ret[1] = on ? d->hours_open : NULL;
    ret[2] = on ? d->hours_close : NULL;
    ret[3] = d->hours_zone;
}

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

int desk_exec(struct desk_ctx *x, const char *name, int n, const char *const *params,
              PGresult **ret)
{
    return pool_run(x->c, name, n, params, ret, x->sqlstate);
}

int desk_query_ids(struct desk_ctx *x, const char *name, const int64_t *ids, int n, int64_t *ret,
                   int ncols)
{
    char text[4][24];
    const char *p[4];
    for (int i = 0; i < n && i < 4; i++)
        p[i] = desk_i64(text[i], ids[i]);
    PGresult *res;
    int rc = desk_exec(x, name, n < 4 ? n : 4, p, &res);
    if (rc < 0)
        return rc;
    bool found = PQntuples(res) > 0;
    for (int i = 0; i < ncols; i++)
        ret[i] = found && i < PQnfields(res) ? desk_col_i64(res, 0, i, 0) : 0;
    PQclear(res);
    return found;
}

int desk_exec_timed(struct desk_ctx *x, const char *name, int n, const char *const *params)
{
    PGresult *res;
    int rc = desk_exec(x, name, n, params, &res);
    if (rc < 0)
        return rc;
    for (int row = 0; row < PQntuples(res) && PQnfields(res) >= 2; row++) {
        for (int col = 0; col < 2; col++) {
            if (PQgetisnull(res, row, col))
                continue;
            char *end = NULL;
            double s = strtod(PQgetvalue(res, row, col), &end);
            if (end && *end == '\0')
                outbox_observe(x->out, col == 0 ? OUTBOX_OBS_RESOLUTION : OUTBOX_OBS_FIRST_RESPONSE,
                               s);
        }
    }
    PQclear(res);
    return 0;
}

int desk_audit(struct desk_ctx *x, const char *level, const char *message, const json_t *context)
{
    char *ctx = context ? json_dumps(context, JSON_COMPACT) : NULL;
    if (!ctx)
        return -ENOMEM;
    const char *p[3] = {level, message, ctx};
    int rc = desk_exec(x, "desk_audit", 3, p, NULL);
    free(ctx);
    return rc;
}

/* The staff group's id now: the configured one or the supergroup it became. */
static int staff_group(struct desk_ctx *x, int64_t *ret)
{
    return desk_chats_current(x->c, x->d->staff_chat_id, ret, x->sqlstate);
}

int desk_is_staff_group(struct desk_ctx *x, int64_t chat, bool *ret)
{
    if (!x->d->has_staff_chat) {
        *ret = false;
        return 0;
    }
    if (chat == x->d->staff_chat_id) {
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
    if (x->d->has_staff_chat) {
        int rc = staff_group(x, &ret->ids[0]);
        if (rc < 0)
            return rc;
        ret->n = 1;
        return 0;
    }
    desk_staff_chats_known(x->d, 0, ret);
    return 0;
}

void desk_staff_chats_known(const struct desk *d, int64_t group, struct desk_staff_chats *ret)
{
    ret->n = 0;
    if (d->has_staff_chat) {
        ret->ids[ret->n++] = group;
        return;
    }
    for (size_t i = 0; i < d->n_staff_ids && i < DESK_STAFF_CHATS_MAX; i++)
        ret->ids[ret->n++] = d->staff_ids[i];
}

int desk_exec_one(struct desk_ctx *x, const char *name, int n, const char *const *params)
{
    PGresult *res;
    int rc = desk_exec(x, name, n, params, &res);
    if (rc < 0)
        return rc;
    rc = PQntuples(res) == 1;
    PQclear(res);
    return rc;
}

int desk_claim(struct desk_ctx *x, const struct tg_update *u)
{
    char id[24];
    const char *p[2] = {desk_i64(id, u->update_id), tg_update_kind_name(u->kind)};
    return desk_exec_one(x, "desk_update_claim", 2, p);
}

int desk_dead_letter(struct pool_conn *c, const struct tg_update *u, const char *body, size_t len,
                     const char *error)
{
    char id[24];
    char *copy = strndup(body, len);
    if (!copy)
        return -ENOMEM;
    const char *p[4] = {desk_i64(id, u->update_id), tg_update_kind_name(u->kind), error, copy};
    PGresult *res = pool_exec(c, "desk_update_dead_letter", 4, p);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;
    PQclear(res);
    free(copy);
    return rc;
}
