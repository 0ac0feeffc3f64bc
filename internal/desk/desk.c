#include "desk.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/strnum.h"

const struct db_stmt desk_statements[] = {
    /* Creates or refreshes the user; returns whether they are banned. A user
     * who writes again is reachable again. */
    {"user_upsert",
     "WITH up AS ("
     " INSERT INTO users (user_id, username, first_name, last_name, language_code)"
     " VALUES ($1, $2, $3, $4, $5)"
     " ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username,"
     " first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,"
     " language_code = EXCLUDED.language_code, is_unreachable = false, unreachable_reason = NULL"
     " WHERE (users.username, users.first_name, users.last_name, users.language_code)"
     " IS DISTINCT FROM (EXCLUDED.username, EXCLUDED.first_name, EXCLUDED.last_name,"
     " EXCLUDED.language_code) OR users.is_unreachable"
     " RETURNING is_banned)"
     " SELECT is_banned FROM up"
     " UNION ALL SELECT is_banned FROM users WHERE user_id = $1 AND NOT EXISTS (SELECT 1 FROM up)",
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
};
const size_t desk_statements_count = sizeof(desk_statements) / sizeof(desk_statements[0]);

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

static int fail(const PGresult *res, char *sqlstate)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(sqlstate, 6, "%s", s ? s : "08000");
    return -EIO;
}

/* Builds {"chat_id":chat,"text":text} and queues it. */
static int send_text(struct pool_conn *c, struct outbox_batch *out, int64_t chat, const char *text,
                     const char *purpose, int64_t request_id, char *sqlstate)
{
    json_t *body = json_pack("{sI ss}", "chat_id", (json_int_t)chat, "text", text);
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!payload)
        return -ENOMEM;
    int rc = outbox_add(c, out, chat, "sendMessage", payload, purpose, request_id, sqlstate);
    free(payload);
    return rc;
}

bool desk_wants(const struct config *cfg, const struct tg_update *u)
{
    switch (u->kind) {
    case TG_UPDATE_MESSAGE:
        return u->message.chat.type == TG_CHAT_PRIVATE && u->message.has_from &&
               !u->message.from.is_bot;
    case TG_UPDATE_MY_CHAT_MEMBER:
        return u->member.chat.type == TG_CHAT_PRIVATE;
    default:
        return false;
    }
}

/* A user's message: appended to the active request or opening a new one. */
static int user_message(struct pool_conn *c, const struct tg_message *m, struct outbox_batch *out,
                        char *sqlstate)
{
    char uid[24], chat[24], mid[24], date[24], reqid[24];
    snprintf(uid, sizeof(uid), "%" PRId64, m->from.id);
    snprintf(chat, sizeof(chat), "%" PRId64, m->chat.id);
    snprintf(mid, sizeof(mid), "%" PRId64, m->message_id);
    snprintf(date, sizeof(date), "%" PRId64, m->date);

    const char *up[5] = {uid, m->from.username, m->from.first_name, m->from.last_name,
                         m->from.language_code};
    PGresult *res = db_exec(c, "user_upsert", 5, up);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = fail(res, sqlstate);
        PQclear(res);
        return rc;
    }
    PQclear(res);

    const char *media = tg_media_name(m->media);
    char placeholder[32];
    const char *text = m->text;
    if (!text || !*text) {
        snprintf(placeholder, sizeof(placeholder), "[%s]", media ? media : "message");
        text = placeholder;
    }

    const char *rq[2] = {uid, text};
    res = db_exec(c, "request_open_or_get", 2, rq);
    int64_t request_id = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
        strnum_i64(PQgetvalue(res, 0, 0), 1, INT64_MAX, &request_id) < 0) {
        int rc = fail(res, sqlstate);
        PQclear(res);
        return rc;
    }
    bool created = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    snprintf(reqid, sizeof(reqid), "%" PRId64, request_id);

    const char *mp[9] = {reqid, uid,   "user",     m->text ? m->text : "",   chat,
                         mid,   media, m->file_id, m->date > 0 ? date : NULL};
    res = db_exec(c, "message_insert", 9, mp);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = fail(res, sqlstate);
        PQclear(res);
        return rc;
    }
    PQclear(res);

    if (!created)
        return DESK_PROCESSED;
    char reply[256];
    snprintf(reply, sizeof(reply),
             "Request #%" PRId64 " created. Our support team will answer you here soon; "
             "anything you send until then is added to it. /status shows your requests, "
             "/cancel closes this one.",
             request_id);
    int rc = send_text(c, out, m->chat.id, reply, "reply", request_id, sqlstate);
    return rc < 0 ? rc : DESK_PROCESSED;
}

static int user_command(struct pool_conn *c, const struct tg_message *m, struct outbox_batch *out,
                        char *sqlstate)
{
    if (strcmp(m->command, "start") == 0 || strcmp(m->command, "help") == 0) {
        int rc = send_text(c, out, m->chat.id, greeting, "reply", 0, sqlstate);
        return rc < 0 ? rc : DESK_PROCESSED;
    }
    return DESK_IGNORED;
}

static int member_update(struct pool_conn *c, const struct tg_chat_member_update *mu,
                         char *sqlstate)
{
    if (!mu->new_status || strcmp(mu->new_status, "kicked") != 0)
        return DESK_IGNORED;
    char uid[24];
    snprintf(uid, sizeof(uid), "%" PRId64, mu->chat.id);
    const char *p[2] = {uid, "blocked the bot"};
    PGresult *res = db_exec(c, "user_mark_unreachable", 2, p);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? DESK_PROCESSED : fail(res, sqlstate);
    PQclear(res);
    return rc;
}

int desk_apply(const struct config *cfg, struct pool_conn *c, const struct tg_update *u,
               struct outbox_batch *out, char *sqlstate)
{
    (void)cfg;
    switch (u->kind) {
    case TG_UPDATE_MESSAGE:
        if (u->message.command[0])
            return user_command(c, &u->message, out, sqlstate);
        return user_message(c, &u->message, out, sqlstate);
    case TG_UPDATE_MY_CHAT_MEMBER:
        return member_update(c, &u->member, sqlstate);
    default:
        return DESK_IGNORED;
    }
}
