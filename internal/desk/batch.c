#include "batch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "desk/text.h"
#include "util/strnum.h"

/* The statement is one string; C99 only promises 4095 characters, gcc and clang take more. */
#pragma GCC diagnostic ignored "-Woverlength-strings"

#define STR_(x) #x
#define STR(x)  STR_(x)
#define LEASE   "interval '" STR(OUTBOX_LEASE_S) " seconds'"

/* Largest array literal one parameter may grow to. */
#define ARRAY_MAX (64u * 1024 * 1024)

/* Reply to the user when their message opened a request; %s is its number. */
static const char created_fmt[] =
    "Request #%s created. Our support team will answer you here soon; anything you send "
    "until then is added to it. /status shows your requests, /cancel closes this one.";
/* Staff notifications: %1$s request number, %2$s who, %3$s what they wrote. */
static const char notify_new_fmt[] = "New request #%1$s from %2$s:\n%3$s";
static const char notify_more_fmt[] = "Request #%1$s - %2$s writes:\n%3$s";

/*
 * $1..$13: one array element per update (update_id, user_id, username,
 * first_name, last_name, language_code, text, issue, chat_id, message_id,
 * media, file_id, date); $14 the reply format; $15 the staff chats; $16, $17
 * the notification formats; $18 the take button's label.
 * Result rows: ('o', outbox row...) for every Bot API call queued, then
 * ('c', update_id) for every update that was new.
 */
static const char user_messages_sql[] =
    "WITH input AS ("
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::text[], $12::text[],"
    " $13::bigint[]) WITH ORDINALITY AS t(update_id, user_id, username, first_name, last_name,"
    " language_code, body, issue, chat_id, tg_message_id, media, file_id, date, ord)),"
    /* the update ids not seen before; the others change nothing */
    " claimed AS ("
    " INSERT INTO processed_updates (update_id, kind)"
    " SELECT update_id, 'message' FROM input ORDER BY update_id"
    " ON CONFLICT (update_id) DO NOTHING RETURNING update_id),"
    " fresh AS (SELECT i.* FROM input i WHERE i.update_id IN (SELECT update_id FROM claimed)),"
    /* users: created or refreshed from their newest message; writing again
     * makes a user reachable again. (CTEs carry only the columns read from
     * them: every column costs at executor start, for every node it passes.) */
    " latest AS (SELECT DISTINCT ON (user_id) user_id, username, first_name, last_name,"
    " language_code FROM fresh ORDER BY user_id, ord DESC),"
    " inserted AS ("
    " INSERT INTO users (user_id, username, first_name, last_name, language_code)"
    " SELECT user_id, username, first_name, last_name, language_code FROM latest ORDER BY user_id"
    " ON CONFLICT (user_id) DO NOTHING),"
    /* an unchanged user is not even locked (see user_upsert in db.c); users
     * are found by key, never by a join: a generic plan made while the table
     * was small joined by scanning all of it, and kept doing so as it grew */
    " updated AS ("
    " UPDATE users u SET username = l.username, first_name = l.first_name,"
    " last_name = l.last_name, language_code = l.language_code, is_unreachable = false,"
    " unreachable_reason = NULL FROM latest l"
    " WHERE u.user_id = ANY(ARRAY(SELECT user_id FROM latest)) AND u.user_id = l.user_id"
    " AND ((u.username, u.first_name, u.last_name, u.language_code) IS DISTINCT FROM"
    " (l.username, l.first_name, l.last_name, l.language_code) OR u.is_unreachable)"
    "),"
    /* a user this statement created is not visible to it, and not banned */
    " people AS ("
    " SELECT l.user_id, coalesce((SELECT u.is_banned FROM users u WHERE u.user_id = l.user_id),"
    " false) AS is_banned FROM latest l),"
    /* the active request of each user, or a new one from their first message */
    /* (a correlated subquery: one index probe per user, whatever the
     * statistics say - as a join, the generic plan walked every active
     * request once the partial index outgrew its last ANALYZE; OFFSET 0
     * keeps it from being pulled up into the outer WHERE, which probed twice) */
    " existing AS ("
    " SELECT user_id, id FROM (SELECT l.user_id, (SELECT r.id FROM requests r"
    " WHERE r.user_id = l.user_id AND r.status IN ('open', 'assigned')) AS id FROM latest l"
    " OFFSET 0) e WHERE id IS NOT NULL),"
    " opening AS ("
    " SELECT DISTINCT ON (f.user_id) f.user_id, f.issue, f.chat_id, f.tg_message_id, f.ord"
    " FROM fresh f WHERE f.user_id NOT IN (SELECT user_id FROM existing)"
    " ORDER BY f.user_id, f.ord),"
    " created AS ("
    " INSERT INTO requests (user_id, issue) SELECT user_id, issue FROM opening ORDER BY ord"
    " RETURNING id, user_id),"
    " req AS ("
    " SELECT user_id, id, false AS created FROM existing"
    " UNION ALL SELECT user_id, id, true FROM created),"
    " msgs AS ("
    " INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id,"
    " tg_message_id, attachment_kind, attachment_file_id, timestamp)"
    " SELECT r.id, f.user_id, 'user', f.body, f.chat_id, f.tg_message_id, f.media, f.file_id,"
    " coalesce(to_timestamp(f.date), now())"
    " FROM fresh f JOIN req r USING (user_id) ORDER BY f.ord"
    " ON CONFLICT (chat_id, tg_message_id) WHERE tg_message_id IS NOT NULL DO NOTHING"
    " RETURNING chat_id, tg_message_id),"
    /* a Telegram message stored before (under another update) says nothing */
    " said AS (SELECT f.* FROM fresh f WHERE (f.chat_id, f.tg_message_id) IN"
    " (SELECT chat_id, tg_message_id FROM msgs)),"
    /* staff chats, followed where a group became a supergroup (looked up
     * once, not once per reader) */
    " staff AS MATERIALIZED ("
    " SELECT coalesce((SELECT b.value::bigint FROM bot_state b"
    " WHERE b.key = 'chat_migrated:' || s.chat), s.chat) AS chat, s.n"
    " FROM unnest($15::bigint[]) WITH ORDINALITY AS s(chat, n)),"
    /* every Bot API call in one INSERT (one more table to set up at
     * executor start costs as much as a dozen updates): first the replies,
     * by update, then the notifications by update, staff chat and kind */
    " box AS ("
    " INSERT INTO outbox (chat_id, method, payload, purpose, request_id, next_attempt_at)"
    " SELECT z.chat_id, z.method, z.payload, z.purpose, z.request_id, now() + " LEASE " FROM ("
    /* the reply to whoever opened a request (an opening row is one of
     * fresh, so "in said" is "in msgs") */
    " SELECT 0 AS g, o.ord AS a, 0::bigint AS b, 0 AS k, o.chat_id, 'sendMessage'::text AS method,"
    " jsonb_build_object('chat_id', o.chat_id, 'text', format($14, c.id)) AS payload,"
    " 'reply'::text AS purpose, c.id AS request_id"
    " FROM created c JOIN opening o USING (user_id)"
    " WHERE (o.chat_id, o.tg_message_id) IN (SELECT chat_id, tg_message_id FROM msgs)"
    " UNION ALL"
    /* every message of a user who is not banned, to every staff chat: the
     * text with take/close buttons (k 1), and a copy of any media (k 2) */
    " SELECT 1, f.ord, s.n, x.k, s.chat,"
    " CASE WHEN x.k = 1 THEN 'sendMessage' ELSE 'copyMessage' END,"
    " CASE WHEN x.k = 1 THEN jsonb_build_object('chat_id', s.chat,"
    " 'text', format(CASE WHEN r.created AND f.ord = (SELECT o.ord FROM opening o"
    " WHERE o.user_id = f.user_id) THEN $16 ELSE $17 END, r.id,"
    /* who: as desk_fmt_user() writes it */
    " CASE WHEN coalesce(f.first_name, '') <> '' THEN f.first_name"
    " || CASE WHEN coalesce(f.last_name, '') <> '' THEN ' ' || f.last_name ELSE '' END"
    " WHEN coalesce(f.last_name, '') <> '' THEN f.last_name ELSE 'user ' || f.user_id END"
    " || CASE WHEN coalesce(f.username, '') = '' THEN ''"
    " WHEN coalesce(f.first_name, '') <> '' OR coalesce(f.last_name, '') <> ''"
    " THEN ' (@' || f.username || ')' ELSE ' @' || f.username END,"
    " CASE WHEN f.body = '' THEN '[' || coalesce(f.media, 'message') || ']' ELSE f.body END),"
    " 'reply_markup', jsonb_build_object('inline_keyboard', jsonb_build_array(jsonb_build_array("
    " jsonb_build_object('text', $18 || ' #' || r.id, 'callback_data', 'take:' || r.id),"
    " jsonb_build_object('text', 'Close #' || r.id, 'callback_data', 'close:' || r.id)))))"
    " ELSE jsonb_build_object('chat_id', s.chat, 'from_chat_id', f.chat_id,"
    " 'message_id', f.tg_message_id) END,"
    " 'notify', r.id"
    " FROM said f JOIN req r USING (user_id) JOIN people p USING (user_id) CROSS JOIN staff s"
    " CROSS JOIN (VALUES (1), (2)) x(k)"
    " WHERE NOT p.is_banned AND (x.k = 1 OR f.media IS NOT NULL)) z"
    " ORDER BY z.g, z.a, z.b, z.k"
    " RETURNING id, chat_id, method, payload, purpose, request_id)"
    " SELECT 'o', id, chat_id, method, payload::text, purpose, request_id FROM box"
    " UNION ALL SELECT 'c', update_id, NULL, NULL, NULL, NULL, NULL FROM claimed";

const struct db_stmt desk_batch_statements[] = {
    {DESK_BATCH_STATEMENT, user_messages_sql, DESK_BATCH_NPARAMS},
};
const size_t desk_batch_statements_count =
    sizeof(desk_batch_statements) / sizeof(desk_batch_statements[0]);

/* Longest text taken here: a notification must fit one message with its header. */
#define BATCH_TEXT_MAX 3500

bool desk_batch_wants(const struct config *cfg, const struct tg_update *u)
{
    const struct tg_message *m = &u->message;
    return u->kind == TG_UPDATE_MESSAGE && m->chat.type == TG_CHAT_PRIVATE && m->has_from &&
           !m->from.is_bot && !m->command[0] && !m->migrate_to_chat_id &&
           !config_is_admin(cfg, m->from.id) &&
           (!m->text || desk_text_codepoints(m->text, strlen(m->text)) <= BATCH_TEXT_MAX);
}

/* Array literals: {"a","b",NULL}. */
static void arr_sep(struct desk_buf *b)
{
    desk_buf_add(b, b->len > 1 ? "," : "");
}

static void arr_text(struct desk_buf *b, const char *s)
{
    arr_sep(b);
    if (!s) {
        desk_buf_add(b, "NULL");
        return;
    }
    desk_buf_add(b, "\"");
    for (const char *p = s; *p;) {
        size_t run = strcspn(p, "\"\\");
        desk_buf_addn(b, p, run);
        p += run;
        if (*p) {
            char esc[2] = {'\\', *p++};
            desk_buf_addn(b, esc, 2);
        }
    }
    desk_buf_add(b, "\"");
}

static void arr_int(struct desk_buf *b, int64_t v, bool null)
{
    arr_sep(b);
    char num[STRNUM_I64_MAX];
    if (null)
        desk_buf_add(b, "NULL");
    else
        desk_buf_addn(b, num, strnum_fmt_i64(num, v));
}

static const char *arr_done(struct desk_buf *b)
{
    desk_buf_add(b, "}");
    return b->oom || b->truncated ? NULL : desk_buf_str(b);
}

enum {
    A_UPDATE,
    A_USER,
    A_USERNAME,
    A_FIRST,
    A_LAST,
    A_LANG,
    A_TEXT,
    A_ISSUE,
    A_CHAT,
    A_MSG,
    A_MEDIA,
    A_FILE,
    A_DATE,
    A_STAFF,
    A_COUNT
};

static int parse_row(const PGresult *res, int row, struct outbox_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (strnum_i64(PQgetvalue(res, row, 1), 1, INT64_MAX, &m->id) < 0 ||
        strnum_i64(PQgetvalue(res, row, 2), INT64_MIN, INT64_MAX, &m->chat_id) < 0 ||
        strnum_i64(PQgetvalue(res, row, 6), 1, INT64_MAX, &m->request_id) < 0)
        return -EIO;
    snprintf(m->method, sizeof(m->method), "%s", PQgetvalue(res, row, 3));
    snprintf(m->purpose, sizeof(m->purpose), "%s", PQgetvalue(res, row, 5));
    m->payload = strdup(PQgetvalue(res, row, 4));
    return m->payload ? 0 : -ENOMEM;
}

int desk_batch_args_build(const struct config *cfg, const struct tg_update *const *u, size_t n,
                          struct desk_batch_args *ret)
{
    struct desk_buf *a = ret->arrays;
    for (int i = 0; i < A_COUNT; i++) {
        desk_buf_init(&a[i], ARRAY_MAX);
        desk_buf_add(&a[i], "{");
    }
    for (size_t i = 0; i < n; i++) {
        const struct tg_message *m = &u[i]->message;
        const char *media = tg_media_name(m->media);
        char placeholder[32];
        const char *issue = m->text && *m->text ? m->text : NULL;
        if (!issue) {
            snprintf(placeholder, sizeof(placeholder), "[%s]", media ? media : "message");
            issue = placeholder;
        }
        arr_int(&a[A_UPDATE], u[i]->update_id, false);
        arr_int(&a[A_USER], m->from.id, false);
        arr_text(&a[A_USERNAME], m->from.username);
        arr_text(&a[A_FIRST], m->from.first_name);
        arr_text(&a[A_LAST], m->from.last_name);
        arr_text(&a[A_LANG], m->from.language_code);
        arr_text(&a[A_TEXT], m->text ? m->text : "");
        arr_text(&a[A_ISSUE], issue);
        arr_int(&a[A_CHAT], m->chat.id, false);
        arr_int(&a[A_MSG], m->message_id, false);
        arr_text(&a[A_MEDIA], media);
        arr_text(&a[A_FILE], m->file_id);
        arr_int(&a[A_DATE], m->date, m->date <= 0);
    }
    if (cfg->has_admin_chat_id)
        arr_int(&a[A_STAFF], cfg->admin_chat_id, false);
    else
        for (size_t i = 0; i < cfg->n_admin_ids; i++)
            arr_int(&a[A_STAFF], cfg->admin_ids[i], false);

    int rc = 0;
    for (int i = 0; i < A_STAFF; i++)
        if (!(ret->params[i] = arr_done(&a[i])))
            rc = -ENOMEM;
    ret->params[13] = created_fmt;
    if (!(ret->params[14] = arr_done(&a[A_STAFF])))
        rc = -ENOMEM;
    ret->params[15] = notify_new_fmt;
    ret->params[16] = notify_more_fmt;
    ret->params[17] = "Take"; /* the button reads "Take #N" */
    return rc;
}

void desk_batch_args_free(struct desk_batch_args *a)
{
    for (int i = 0; i < A_COUNT; i++)
        desk_buf_free(&a->arrays[i]);
}

int desk_batch_read(const PGresult *res, const struct tg_update *const *u, size_t n,
                    bool *processed, struct outbox_batch *out, char *sqlstate)
{
    for (size_t i = 0; i < n; i++)
        processed[i] = false;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        snprintf(sqlstate, 6, "%s", s ? s : "08000");
        return -EIO;
    }
    /* A row the fast path cannot take (out of memory) is still written: the
     * recovery path delivers it once its lease runs out. */
    for (int row = 0; row < PQntuples(res); row++) {
        if (PQgetvalue(res, row, 0)[0] == 'c') {
            int64_t id = 0;
            if (strnum_i64(PQgetvalue(res, row, 1), INT64_MIN, INT64_MAX, &id) < 0)
                continue;
            for (size_t i = 0; i < n; i++)
                if (u[i]->update_id == id)
                    processed[i] = true;
            continue;
        }
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            struct outbox_msg *grown = realloc(out->msgs, cap * sizeof(*grown));
            if (!grown)
                continue;
            out->msgs = grown;
            out->cap = cap;
        }
        if (parse_row(res, row, &out->msgs[out->n]) == 0)
            out->n++;
    }
    return 0;
}

int desk_batch_run(const struct config *cfg, struct pool_conn *c, const struct tg_update *const *u,
                   size_t n, bool *processed, struct outbox_batch *out, char *sqlstate)
{
    struct desk_batch_args args;
    int rc = desk_batch_args_build(cfg, u, n, &args);
    if (rc == 0) {
        PGresult *res = db_exec(c, DESK_BATCH_STATEMENT, DESK_BATCH_NPARAMS, args.params);
        rc = desk_batch_read(res, u, n, processed, out, sqlstate);
        PQclear(res);
    }
    desk_batch_args_free(&args);
    return rc;
}
