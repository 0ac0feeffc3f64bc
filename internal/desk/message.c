#include "message.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csat.h"
#include "db/array.h"
#include "rules.h"
#include "search.h"
#include "send.h"
#include "topics.h"

/* The statement is one string; C99 only promises 4095 characters, gcc and clang take more. */
#pragma GCC diagnostic ignored "-Woverlength-strings"

/* Largest array literal one parameter may grow to. */
#define ARRAY_MAX (64u * 1024 * 1024)
/* Longest reply or notification built here (a message is at most 4096 characters). */
#define TEXT_CAP (64 * 1024)
/* Most updates one statement takes (the pipeline's batches are smaller). */
#define MESSAGES_MAX 1024
/* New requests of one batch whose notification lists similar solved ones:
 * a burst of new requests is not held up by looking them all up. */
#define SIMILAR_MAX 10

/*
 * $1..$13: one array element per message (update_id, user_id, username,
 * first_name, last_name, language_code, text, issue, chat_id, message_id,
 * media, file_id, date); $14 the staff group, NULL when there is none;
 * $15..$18 the business hours (days, opening and closing minute, zone),
 * NULL when always open.
 * One result row per message whose update_id was new, in order: its
 * position (1-based), its request, whether it opened that request, whether
 * it was stored (a Telegram message stored before, under another update_id,
 * is not), whether its user is banned, the score of the rating it is a
 * comment on (NULL for a message of a request), the staff group's
 * current id, and - outside business hours, when the batch opened a
 * request - when they begin again ("ID DD MM HH24:MI" in their zone, for
 * desk_fmt_when()).
 */
const char desk_messages_sql[] =
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
    " news AS (SELECT i.* FROM input i WHERE i.update_id IN (SELECT update_id FROM claimed)),"
    /* a user's first text in the comment window of their rating is its
     * comment (csat.h), not a message of a request */
    " commented AS ("
    " UPDATE ratings g SET comment = c.body, comment_until = NULL"
    " FROM (SELECT DISTINCT ON (user_id) user_id, body, ord FROM news"
    " WHERE media IS NULL AND body <> '' ORDER BY user_id, ord) c"
    " WHERE g.user_id = c.user_id AND g.comment_until IS NOT NULL AND g.comment_until > now()"
    " RETURNING g.request_id, g.score, g.user_id, c.ord),"
    " fresh AS (SELECT * FROM news WHERE ord NOT IN (SELECT ord FROM commented)),"
    /* users: created or refreshed from their newest message; writing again
     * makes a user reachable again. (CTEs carry only the columns read from
     * them: every column costs at executor start, for every node it passes.) */
    " latest AS (SELECT DISTINCT ON (user_id) user_id, username, first_name, last_name,"
    " language_code FROM fresh ORDER BY user_id, ord DESC),"
    " inserted AS ("
    " INSERT INTO users (user_id, username, first_name, last_name, language_code)"
    " SELECT user_id, username, first_name, last_name, language_code FROM latest ORDER BY user_id"
    " ON CONFLICT (user_id) DO NOTHING),"
    /* an unchanged user is not even locked (see desk_user_upsert); users
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
    /* the active request of each user, or a new one from their first message
     * (a correlated subquery: one index probe per user, whatever the
     * statistics say - as a join, the generic plan walked every active
     * request once the partial index outgrew its last ANALYZE; OFFSET 0
     * keeps it from being pulled up into the outer WHERE, which probed twice) */
    " existing AS ("
    " SELECT user_id, id FROM (SELECT l.user_id, (SELECT r.id FROM requests r"
    " WHERE r.user_id = l.user_id AND r.status IN ('open', 'assigned')) AS id FROM latest l"
    " OFFSET 0) e WHERE id IS NOT NULL),"
    " opening AS ("
    " SELECT DISTINCT ON (f.user_id) f.user_id, f.issue, f.ord"
    " FROM fresh f WHERE f.user_id NOT IN (SELECT user_id FROM existing)"
    " ORDER BY f.user_id, f.ord),"
    " created AS ("
    " INSERT INTO requests (user_id, issue) SELECT user_id, issue FROM opening ORDER BY ord"
    " RETURNING id, user_id),"
    " req AS ("
    " SELECT user_id, id, 0::bigint AS opened_by FROM existing"
    " UNION ALL SELECT c.user_id, c.id, o.ord FROM created c JOIN opening o USING (user_id)),"
    " msgs AS ("
    " INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id,"
    " tg_message_id, attachment_kind, attachment_file_id, timestamp)"
    " SELECT r.id, f.user_id, 'user', f.body, f.chat_id, f.tg_message_id, f.media, f.file_id,"
    " coalesce(to_timestamp(f.date), now())"
    " FROM fresh f JOIN req r USING (user_id) ORDER BY f.ord"
    " ON CONFLICT (chat_id, tg_message_id) WHERE tg_message_id IS NOT NULL DO NOTHING"
    " RETURNING chat_id, tg_message_id)"
    " SELECT x.*,"
    /* the staff group, followed where it became a supergroup */
    " (SELECT coalesce((SELECT b.value::bigint FROM bot_state b"
    " WHERE b.key = 'chat_migrated:' || $14::bigint), $14::bigint)),"
    /* outside business hours, in a batch that opened a request: when they
     * begin again, in their time zone. tgdesk_business_next_open() is an SQL
     * function, parsed and planned again by every statement that calls it
     * (nearly a tenth of this statement's work), so it is asked only when
     * today's hours do not hold now (an initplan runs only once the CASE
     * reaches it); while they hold, its answer is NULL too, as no later
     * day's hours begin earlier. */
    " (SELECT CASE WHEN extract(isodow FROM h.d)::int = ANY($15::int[])"
    " AND (h.d + make_interval(mins => $16::int)) AT TIME ZONE $18::text <= now()"
    " AND (h.d + make_interval(mins => $17::int)) AT TIME ZONE $18::text > now() THEN NULL"
    " ELSE (SELECT to_char(o AT TIME ZONE $18::text, 'ID DD MM HH24:MI')"
    " FROM tgdesk_business_next_open(now(), $15::int[], $16::int, $17::int, $18::text) o) END"
    " FROM (SELECT (now() AT TIME ZONE $18::text)::date::timestamp AS d) h"
    " WHERE $18::text IS NOT NULL AND EXISTS (SELECT 1 FROM created))"
    " FROM (SELECT f.ord, r.id, r.opened_by = f.ord,"
    " (f.chat_id, f.tg_message_id) IN (SELECT chat_id, tg_message_id FROM msgs), p.is_banned,"
    " NULL::smallint"
    " FROM fresh f JOIN req r USING (user_id) JOIN people p USING (user_id)"
    " UNION ALL SELECT c.ord, c.request_id, false, true,"
    " coalesce((SELECT u.is_banned FROM users u WHERE u.user_id = c.user_id), false), c.score"
    " FROM commented c) x ORDER BY 1";

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
    A_COUNT
};

/* Result columns. */
enum { R_ORD, R_REQUEST, R_OPENED, R_STORED, R_BANNED, R_COMMENT_ON, R_STAFF_GROUP, R_BACK };

bool desk_message_is(const struct desk *d, const struct tg_update *u)
{
    const struct tg_message *m = &u->message;
    if (u->kind != TG_UPDATE_MESSAGE || m->chat.type != TG_CHAT_PRIVATE || !m->has_from ||
        m->from.is_bot || m->migrate_to_chat_id || m->is_service || desk_is_staff(d, m->from.id))
        return false;
    enum desk_cmd cmd = desk_cmd_lookup(m->command);
    return cmd == DESK_CMD_NONE || desk_route(cmd, false, DESK_PRIVATE) == DESK_ROUTE_UNKNOWN;
}

/* The statement's parameters for the messages u[]. Returns 0 or -ENOMEM; frees nothing. */
static int build(const struct desk *d, const struct tg_update *const *u, const size_t *pick,
                 size_t n, struct buf *a, const char **params, char *staff, size_t staff_cap)
{
    for (int i = 0; i < A_COUNT; i++) {
        buf_init(&a[i], ARRAY_MAX);
        db_array_open(&a[i]);
    }
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        const struct tg_message *m = &u[pick[k]]->message;
        const char *media = tg_media_name(m->media);
        struct buf issue; /* "[video_note]" when there is no text */
        buf_init(&issue, 64);
        if (!m->text || !*m->text)
            desk_fmt_content(&issue, m->text, media);
        db_array_i64(&a[A_UPDATE], u[pick[k]]->update_id);
        db_array_i64(&a[A_USER], m->from.id);
        db_array_text(&a[A_USERNAME], m->from.username);
        db_array_text(&a[A_FIRST], m->from.first_name);
        db_array_text(&a[A_LAST], m->from.last_name);
        db_array_text(&a[A_LANG], m->from.language_code);
        db_array_text(&a[A_TEXT], m->text ? m->text : "");
        db_array_text(&a[A_ISSUE], m->text && *m->text ? m->text : buf_str(&issue));
        db_array_i64(&a[A_CHAT], m->chat.id);
        db_array_i64(&a[A_MSG], m->message_id);
        db_array_text(&a[A_MEDIA], media);
        db_array_text(&a[A_FILE], m->file_id);
        if (m->date > 0)
            db_array_i64(&a[A_DATE], m->date);
        else
            db_array_null(&a[A_DATE]);
        if (buf_error(&issue) == -ENOMEM)
            rc = -ENOMEM;
        buf_free(&issue);
    }
    for (int i = 0; i < A_COUNT; i++)
        if (!(params[i] = db_array_close(&a[i])))
            rc = -ENOMEM;
    params[A_COUNT] = NULL;
    desk_hours_params(d, &params[A_COUNT + 1]);
    if (d->has_staff_chat) {
        snprintf(staff, staff_cap, "%lld", (long long)d->staff_chat_id);
        params[A_COUNT] = staff;
    }
    return rc;
}

int desk_message_notify(struct desk_ctx *x, const struct tg_message *m, int64_t request_id,
                        bool opened, const char *via, const struct desk_staff_chats *chats,
                        const struct desk_similar *similar, size_t similar_i)
{
    if (chats->n == 0)
        return 0;
    /* a business chat's message is sent anew; some kinds cannot be */
    bool passed = !m->business_connection_id || desk_media_resendable(m->media);
    struct buf b;
    buf_init(&b, TEXT_CAP);
    buf_addf(&b, opened ? "New request #%lld from " : "Request #%lld - ", (long long)request_id);
    desk_fmt_user(&b, m->from.first_name, m->from.last_name, m->from.username, m->from.id);
    if (via)
        buf_add(&b, via);
    buf_add(&b, opened ? ":\n" : " writes:\n");
    desk_fmt_content(&b, m->text, tg_media_name(m->media));
    if (m->media != TG_MEDIA_NONE && !passed)
        buf_add(&b, "\n(Telegram does not let bots pass this kind of message on from a business "
                    "chat: it is in the chat itself.)");
    if (opened)
        desk_similar_fmt(similar, similar_i, &b);
    int rc = buf_error(&b) == -ENOMEM ? -ENOMEM
                                      : desk_notify_chats(x, chats, request_id, buf_str(&b), true);
    buf_free(&b);
    if (rc == 0 && m->media != TG_MEDIA_NONE && passed) {
        rc = desk_notify_media(x, chats, request_id, m);
        if (rc == -ENOTSUP)
            rc = 0; /* content too damaged to send anew: the text says what it was */
    }
    return rc;
}

/*
 * What the desk says about one stored message: the reply to a message that
 * opened a request, and the staff notifications (text with buttons, a copy
 * of any media) unless its user is banned; a new request's notification
 * lists similar solved requests (similar, its text's position in them).
 */
static int texts(struct desk_ctx *x, const struct tg_message *m, int64_t request_id, bool opened,
                 bool banned, const char *back, const struct desk_staff_chats *chats,
                 const struct desk_similar *similar, size_t similar_i)
{
    struct buf b;
    int rc;
    if (opened) {
        const struct i18n_lang *l = desk_lang(x->d, m->from.language_code);
        buf_init(&b, TEXT_CAP);
        buf_addf(&b,
                 _(l, "Request #%lld created. Our support team will answer you here soon; "
                      "anything you send until then is added to it. /status shows your requests, "
                      "/cancel closes this one."),
                 (long long)request_id);
        if (back) {
            struct buf when;
            buf_init(&when, 256);
            desk_fmt_when(&when, l, back);
            buf_addf(&b, _(l, "\n\nOur team is away now and back on %s (%s)."), buf_str(&when),
                     x->d->hours_zone);
            buf_free(&when);
        }
        if ((rc = desk_send_buf(x, m->chat.id, &b, "reply", request_id)) < 0)
            return rc;
    }
    if (banned)
        return 0;
    if (x->d->topics && chats->n > 0 &&
        (rc = desk_topic_user_message(x, m, request_id, opened, chats->ids[0])) != 0)
        return rc < 0 ? rc : 0;
    return desk_message_notify(x, m, request_id, opened, NULL, chats, similar, similar_i);
}

/* True when result row `row` opened a request whose staff notification is written. */
static bool announces_request(const PGresult *res, int row, const struct desk_staff_chats *chats)
{
    return chats->n > 0 && PQgetisnull(res, row, R_COMMENT_ON) &&
           PQgetvalue(res, row, R_STORED)[0] == 't' && PQgetvalue(res, row, R_OPENED)[0] == 't' &&
           PQgetvalue(res, row, R_BANNED)[0] != 't';
}

int desk_messages_apply(struct desk_ctx *x, const struct tg_update *const *u, size_t n,
                        enum desk_verdict *ret)
{
    if (n == 0)
        return 0;
    if (n > MESSAGES_MAX)
        return -ENOMEM;
    /* One row per update_id: a redelivery racing its original in one batch acts once. */
    size_t pick[MESSAGES_MAX], m = 0;
    for (size_t i = 0; i < n; i++) {
        ret[i] = DESK_DUPLICATE;
        bool seen = false;
        for (size_t k = 0; k < m && !seen; k++)
            seen = u[pick[k]]->update_id == u[i]->update_id;
        if (!seen)
            pick[m++] = i;
    }

    struct buf arrays[A_COUNT];
    const char *params[DESK_MESSAGES_NPARAMS];
    char staff[24];
    int rc = build(x->d, u, pick, m, arrays, params, staff, sizeof(staff));
    PGresult *res = NULL;
    if (rc == 0)
        rc = desk_exec(x, DESK_MESSAGES_STATEMENT, DESK_MESSAGES_NPARAMS, params, &res);
    for (int i = 0; i < A_COUNT; i++)
        buf_free(&arrays[i]);
    if (rc < 0)
        return rc;

    struct desk_staff_chats chats; /* 8 KiB: not zeroed */
    chats.n = 0;
    int rows = PQntuples(res);
    if (rows > 0)
        desk_staff_chats_known(x->d, desk_col_i64(res, 0, R_STAFF_GROUP, x->d->staff_chat_id),
                               &chats);
    /* The similar solved requests of the requests announced: one look-up. */
    const char *asked[SIMILAR_MAX];
    size_t n_asked = 0, asked_i = 0;
    struct desk_similar *similar = NULL;
    for (int row = 0; chats.n > 0 && row < rows && n_asked < SIMILAR_MAX; row++) {
        int64_t ord = desk_col_i64(res, row, R_ORD, 0);
        if (ord >= 1 && (size_t)ord <= m && announces_request(res, row, &chats)) {
            const char *text = u[pick[ord - 1]]->message.text;
            asked[n_asked++] = text ? text : "";
        }
    }
    if (n_asked > 0)
        n_asked = desk_search_rate_take(x->d->search_rate, n_asked);
    if (n_asked > 0)
        rc = desk_search_similar(x, asked, n_asked, &similar);
    for (int row = 0; rc == 0 && row < rows; row++) {
        int64_t ord = desk_col_i64(res, row, R_ORD, 0);
        if (ord < 1 || (size_t)ord > m) {
            snprintf(x->sqlstate, DB_SQLSTATE_LEN, "%s", "XX000");
            rc = -EIO;
            break;
        }
        size_t i = pick[ord - 1];
        ret[i] = DESK_PROCESSED;
        if (!PQgetisnull(res, row, R_COMMENT_ON)) {
            rc = desk_csat_commented(x, &u[i]->message, desk_col_i64(res, row, R_REQUEST, 0),
                                     (int)desk_col_i64(res, row, R_COMMENT_ON, 0),
                                     PQgetvalue(res, row, R_BANNED)[0] == 't', &chats);
            continue;
        }
        if (PQgetvalue(res, row, R_STORED)[0] != 't')
            continue; /* the same Telegram message again, under another update_id */
        rc = texts(x, &u[i]->message, desk_col_i64(res, row, R_REQUEST, 0),
                   PQgetvalue(res, row, R_OPENED)[0] == 't',
                   PQgetvalue(res, row, R_BANNED)[0] == 't', desk_col_str(res, row, R_BACK), &chats,
                   similar, announces_request(res, row, &chats) ? asked_i++ : 0);
    }
    desk_similar_free(similar);
    PQclear(res);
    return rc;
}
