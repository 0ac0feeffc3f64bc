#include "topics.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chats.h"
#include "send.h"
#include "staff.h"
#include "util/strnum.h"

/* Longest text built here (a message is at most 4096 characters). */
#define TEXT_CAP (64 * 1024)

/*
 * The request the topic of user u is about: their active request, else
 * their newest one. (A reopened old request can be older than a closed one.)
 */
#define U_TOPIC_REQUEST                                                    \
    "coalesce((SELECT a.id FROM requests a WHERE a.user_id = u.user_id"    \
    " AND a.status IN ('open', 'assigned')), (SELECT n.id FROM requests n" \
    " WHERE n.user_id = u.user_id ORDER BY n.created_at DESC, n.id DESC LIMIT 1))"

const struct pool_stmt desk_topic_statements[] = {
    /* A staff message in topic $2 of chat $1: whose topic, and its request. */
    {"desk_topic_of_message",
     "SELECT u.user_id, " U_TOPIC_REQUEST " FROM users u"
     " WHERE u.topic_chat_id = $1 AND u.topic_thread_id = $2",
     2},
    /* A request of user $1, for a row about their topic. */
    {"desk_topic_any_request", "SELECT id FROM requests WHERE user_id = $1 LIMIT 1", 1},
    /* Whether request $1 is user $2's. */
    {"desk_topic_owns", "SELECT 1 FROM requests WHERE id = $1 AND user_id = $2", 2},
    /* Before a row about request $1 is sent: the user's topic as Telegram
     * has it, and what it should be called now. */
    {"desk_topic_resolve",
     "SELECT u.user_id, u.topic_chat_id, u.topic_thread_id, u.topic_name, u.topic_closed,"
     " u.first_name, u.last_name, u.username, t.id, t.status"
     " FROM requests q JOIN users u ON u.user_id = q.user_id"
     " JOIN requests t ON t.id = " U_TOPIC_REQUEST " WHERE q.id = $1",
     1},
    /* Topic $2 of chat $1 was made anew for someone else: nobody else has it. */
    {"desk_topic_free",
     "UPDATE users SET topic_thread_id = NULL WHERE topic_chat_id = $1 AND topic_thread_id = $2"
     " AND user_id <> (SELECT user_id FROM requests WHERE id = $3)",
     3},
    /* Thread $3 of chat $2, named $4, is now the topic of request $1's user. */
    {"desk_topic_created",
     "UPDATE users SET topic_chat_id = $2, topic_thread_id = $3, topic_name = $4,"
     " topic_closed = false WHERE user_id = (SELECT user_id FROM requests WHERE id = $1)",
     4},
    /* Telegram now has topic $2 of chat $1 named $3 (NULL: as it was) and
     * closed or not ($4, NULL: as it was). */
    {"desk_topic_applied",
     "UPDATE users SET topic_name = coalesce($3, topic_name),"
     " topic_closed = coalesce($4::boolean, topic_closed)"
     " WHERE topic_chat_id = $1 AND topic_thread_id = $2",
     4},
    /* Topic $2 of chat $1 is gone: its user's next row makes a new one. */
    {"desk_topic_gone",
     "UPDATE users SET topic_thread_id = NULL, topic_name = NULL, topic_closed = false"
     " WHERE topic_chat_id = $1 AND topic_thread_id = $2",
     2},
    /* The staff answer $2 in chat $1 reached the user as message $4 of chat $3. */
    {"desk_topic_copied",
     "UPDATE messages SET copy_chat_id = $3, copy_message_id = $4"
     " WHERE chat_id = $1 AND tg_message_id = $2 AND sender_type = 'admin'",
     4},
};
const size_t desk_topic_statements_count =
    sizeof(desk_topic_statements) / sizeof(desk_topic_statements[0]);

/* The colours Telegram allows for a topic's icon; a user keeps one. */
static const int64_t icon_colors[] = {7322096, 16766590, 13338331, 9367192, 16749490, 16478047};

/* ---- names and notes ---------------------------------------------------- */

void desk_topic_name(struct buf *b, int64_t request_id, const char *first, const char *last,
                     const char *username, int64_t user_id, const char *status)
{
    char head[32], tail[48];
    snprintf(head, sizeof(head), "#%" PRId64 " ", request_id);
    snprintf(tail, sizeof(tail), " · %s", status);
    struct buf who;
    buf_init(&who, 1024);
    if (first && *first) {
        buf_add(&who, first);
        if (last && *last)
            buf_addf(&who, " %s", last);
    } else if (last && *last) {
        buf_add(&who, last);
    } else if (username && *username) {
        buf_addf(&who, "@%s", username);
    } else {
        buf_addf(&who, "user %" PRId64, user_id);
    }
    /* (A cut name ends in "…": one code point more than the preview keeps.) */
    size_t fixed =
        desk_text_codepoints(head, strlen(head)) + desk_text_codepoints(tail, strlen(tail)) + 1;
    buf_add(b, head);
    desk_fmt_preview(b, buf_str(&who),
                     fixed < DESK_TOPIC_NAME_MAX ? DESK_TOPIC_NAME_MAX - fixed : 1);
    buf_add(b, tail);
    buf_free(&who);
}

bool desk_topic_is_note(const char *text, const char **ret_text)
{
    if (!text || strncmp(text, "//", 2) != 0)
        return false;
    text += 2;
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    *ret_text = text;
    return true;
}

/* ---- the sender's hooks ---------------------------------------------------- */

/* True when s holds needle, compared without case. */
static bool contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (strncasecmp(s, needle, n) == 0)
            return true;
    return false;
}

/* The calls that only change a topic (rename, close, reopen, delete). */
static bool manages(const char *method)
{
    return strcmp(method, "editForumTopic") == 0 || strcmp(method, "closeForumTopic") == 0 ||
           strcmp(method, "reopenForumTopic") == 0 || strcmp(method, "deleteForumTopic") == 0;
}

/* Sets the members of a JSON payload: message_thread_id, and name unless
 * NULL. Returns a new string, or NULL. */
static char *payload_set(const char *payload, int64_t thread, const char *name)
{
    json_t *root = json_loads(payload, 0, NULL);
    char *out = NULL;
    if (json_is_object(root) &&
        json_object_set_new(root, "message_thread_id", json_integer((json_int_t)thread)) == 0 &&
        (!name || json_object_set_new(root, "name", json_string(name)) == 0))
        out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

/* An integer member of a JSON object (0 when absent or not an integer). */
static int64_t payload_i64(const json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Replaces m's payload with it set to thread (and name); SEND, or LATER
 * without memory. */
static int rewrite(struct outbox_msg *m, int64_t thread, const char *name)
{
    char *p = payload_set(m->payload, thread, name);
    if (!p)
        return SENDER_TOPIC_LATER;
    free(m->payload);
    m->payload = p;
    return SENDER_TOPIC_SEND;
}

/* The createForumTopic of the topic for chat, called name, in the user's
 * colour, into *ret. */
static int create_call(int64_t chat, const char *name, int64_t user, struct sender_call *ret)
{
    json_t *p = json_pack(
        "{sI ss sI}", "chat_id", (json_int_t)chat, "name", name, "icon_color",
        (json_int_t)icon_colors[(uint64_t)user % (sizeof(icon_colors) / sizeof(icon_colors[0]))]);
    ret->payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    snprintf(ret->method, sizeof(ret->method), "%s", "createForumTopic");
    return ret->payload ? SENDER_TOPIC_FIRST : SENDER_TOPIC_LATER;
}

int desk_topic_prepare(void *ud, struct pool_conn *c, struct outbox_msg *m,
                       struct sender_call *ret_first)
{
    (void)ud;
    if (m->chat_id > 0 || m->request_id == 0)
        return SENDER_TOPIC_SEND; /* a copy for a user: learnt from afterwards */
    enum {
        C_USER,
        C_CHAT,
        C_THREAD,
        C_NAME,
        C_CLOSED,
        C_FIRST,
        C_LAST,
        C_USERNAME,
        C_ID,
        C_STATUS
    };
    char rid[24];
    const char *p[1] = {desk_i64(rid, m->request_id)};
    PGresult *res;
    if (pool_run(c, "desk_topic_resolve", 1, p, &res, NULL) < 0)
        return SENDER_TOPIC_LATER;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return SENDER_TOPIC_DROP; /* no such request any more */
    }
    int64_t user = desk_col_i64(res, 0, C_USER, 0);
    int64_t thread = desk_col_i64(res, 0, C_THREAD, 0);
    bool has = thread != 0 && desk_col_i64(res, 0, C_CHAT, 0) == m->chat_id;
    const char *applied = desk_col_str(res, 0, C_NAME);
    bool closed = PQgetvalue(res, 0, C_CLOSED)[0] == 't';
    enum desk_status status = DESK_OPEN;
    desk_status_parse(PQgetvalue(res, 0, C_STATUS), &status);
    bool active = status == DESK_OPEN || status == DESK_ASSIGNED;
    struct buf name;
    buf_init(&name, 1024);
    desk_topic_name(&name, desk_col_i64(res, 0, C_ID, 0), desk_col_str(res, 0, C_FIRST),
                    desk_col_str(res, 0, C_LAST), desk_col_str(res, 0, C_USERNAME), user,
                    desk_status_name(status));
    int step;
    if (buf_error(&name))
        step = SENDER_TOPIC_LATER;
    else if (strcmp(m->method, "editForumTopic") == 0)
        step = !has || (applied && strcmp(applied, buf_str(&name)) == 0)
                   ? SENDER_TOPIC_DROP
                   : rewrite(m, thread, buf_str(&name));
    else if (strcmp(m->method, "closeForumTopic") == 0)
        step = !has || closed || active ? SENDER_TOPIC_DROP : rewrite(m, thread, NULL);
    else if (strcmp(m->method, "reopenForumTopic") == 0)
        step = !has || !closed ? SENDER_TOPIC_DROP : rewrite(m, thread, NULL);
    else if (strcmp(m->method, "deleteForumTopic") == 0)
        step = !has ? SENDER_TOPIC_DROP : rewrite(m, thread, NULL);
    else if (has)
        step = rewrite(m, thread, NULL);
    else
        step = create_call(m->chat_id, buf_str(&name), user, ret_first);
    buf_free(&name);
    PQclear(res);
    return step;
}

/* Runs a statement of the hooks; failures are the sender's to log. */
static int run(struct pool_conn *c, const char *name, int n, const char *const *p)
{
    return pool_run(c, name, n, p, NULL, NULL);
}

/* A topic was made for the row's request: it is its user's from now on. */
static void created(struct pool_conn *c, const struct outbox_msg *m,
                    const struct sender_call *first, const struct tg_api_result *r)
{
    int64_t thread = payload_i64(r->result, "message_thread_id");
    json_t *call = json_loads(first->payload, 0, NULL);
    const char *name = json_string_value(json_object_get(call, "name"));
    if (thread > 0 && name) {
        char chat[24], th[24], rid[24];
        const char *p[4] = {desk_i64(rid, m->request_id), desk_i64(chat, m->chat_id),
                            desk_i64(th, thread), name};
        const char *f[3] = {p[1], p[2], p[0]};
        if (run(c, "desk_topic_free", 3, f) == 0)
            run(c, "desk_topic_created", 4, p);
    }
    json_decref(call);
}

int desk_topic_result(void *ud, struct pool_conn *c, const struct outbox_msg *m,
                      const struct sender_call *first, const struct tg_api_result *r)
{
    (void)ud;
    if (first) {
        if (r->outcome == TG_SENT)
            created(c, m, first, r);
        return SENDER_TOPIC_AS_USUAL;
    }
    json_t *root = json_loads(m->payload, 0, NULL);
    char a[24], b[24], d[24], e[24];
    int verdict = SENDER_TOPIC_AS_USUAL;
    if (m->chat_id > 0) {
        /* A staff answer copied to its user: where the copy is. */
        if (r->outcome == TG_SENT && r->message_id > 0 && strcmp(m->method, "copyMessage") == 0) {
            const char *p[4] = {desk_i64(a, payload_i64(root, "from_chat_id")),
                                desk_i64(b, payload_i64(root, "message_id")),
                                desk_i64(d, m->chat_id), desk_i64(e, r->message_id)};
            run(c, "desk_topic_copied", 4, p);
        }
        json_decref(root);
        return verdict;
    }
    int64_t thread = payload_i64(root, "message_thread_id");
    bool failed = r->outcome == TG_PERMANENT;
    const char *p[4] = {desk_i64(a, m->chat_id), desk_i64(b, thread), NULL, NULL};
    bool deleting = strcmp(m->method, "deleteForumTopic") == 0;
    if (thread && ((deleting && r->outcome == TG_SENT) ||
                   (failed && (contains_ci(r->description, "thread not found") ||
                               contains_ci(r->description, "TOPIC_ID_INVALID") ||
                               contains_ci(r->description, "TOPIC_DELETED"))))) {
        /* Deleted by staff: made again right away for a message; a rename
         * or close is moot - the new topic gets the name and state of now. */
        run(c, "desk_topic_gone", 2, p);
        verdict = r->outcome == TG_SENT ? SENDER_TOPIC_AS_USUAL
                  : manages(m->method)  ? SENDER_TOPIC_DONE
                                        : SENDER_TOPIC_AGAIN;
    } else if (thread && manages(m->method) &&
               (r->outcome == TG_SENT ||
                (failed && contains_ci(r->description, "TOPIC_NOT_MODIFIED")))) {
        /* Telegram has it so now (TOPIC_NOT_MODIFIED: had it so already). */
        bool edit = strcmp(m->method, "editForumTopic") == 0;
        p[2] = edit ? json_string_value(json_object_get(root, "name")) : NULL;
        p[3] = edit ? NULL : strcmp(m->method, "closeForumTopic") == 0 ? "true" : "false";
        run(c, "desk_topic_applied", 4, p);
        verdict = r->outcome == TG_SENT ? SENDER_TOPIC_AS_USUAL : SENDER_TOPIC_DONE;
    }
    json_decref(root);
    return verdict;
}

/* ---- the desk's side --------------------------------------------------------- */

int desk_topic_status(struct desk_ctx *x, int64_t request_id, enum desk_status status,
                      int64_t group)
{
    if (!x->d->topics)
        return 0;
    int rc = 0;
    if (group == 0)
        rc = desk_chats_current(x->c, x->d->staff_chat_id, &group, x->sqlstate);
    bool closing = status == DESK_SOLVED || status == DESK_CLOSED;
    /* Renamed before it is closed, reopened before it is renamed. */
    if (rc == 0 && !closing)
        rc = desk_send_call(x, group, "reopenForumTopic", SENDER_PURPOSE_TOPIC, request_id);
    if (rc == 0)
        rc = desk_send_call(x, group, "editForumTopic", SENDER_PURPOSE_TOPIC, request_id);
    if (rc == 0 && closing)
        rc = desk_send_call(x, group, "closeForumTopic", SENDER_PURPOSE_TOPIC, request_id);
    return rc;
}

int desk_topic_forget(struct desk_ctx *x, int64_t user_id)
{
    if (!x->d->topics)
        return 0;
    int64_t request, group = 0;
    int rc = desk_query_ids(x, "desk_topic_any_request", &user_id, 1, &request, 1);
    if (request == 0 ||
        (rc = desk_chats_current(x->c, x->d->staff_chat_id, &group, x->sqlstate)) < 0)
        return rc;
    return desk_send_call(x, group, "deleteForumTopic", SENDER_PURPOSE_TOPIC, request);
}

int desk_topic_user_message(struct desk_ctx *x, const struct tg_message *m, int64_t request_id,
                            bool opened, int64_t group)
{
    if (opened)
        return desk_topic_status(x, request_id, DESK_OPEN, group);
    if (m->media != TG_MEDIA_NONE) {
        int rc = desk_send_copy(x, group, m->chat.id, m->message_id, NULL, SENDER_PURPOSE_TOPIC,
                                request_id);
        return rc < 0 ? rc : 1;
    }
    struct buf b;
    buf_init(&b, TEXT_CAP);
    desk_fmt_content(&b, m->text, NULL);
    int rc = buf_error(&b) == -ENOMEM
                 ? -ENOMEM
                 : desk_send_text(x, group, buf_str(&b), NULL, SENDER_PURPOSE_TOPIC, request_id);
    buf_free(&b);
    return rc < 0 ? rc : 1;
}

int desk_topic_staff_edit(struct desk_ctx *x, const struct tg_message *m, int64_t request_id,
                          int64_t copy_chat, int64_t copy_message_id)
{
    if (copy_chat == 0 || copy_message_id == 0)
        return DESK_PROCESSED; /* not an answer that reached a user (yet: a copy made later
                                  is made of the edited message) */
    bool caption = m->media != TG_MEDIA_NONE;
    const char *text = m->text ? m->text : "";
    if (!caption && desk_text_blank(text, strlen(text)))
        return DESK_PROCESSED;
    int rc = desk_send_edit(x, copy_chat, copy_message_id, text, caption, request_id);
    return rc < 0 ? rc : DESK_PROCESSED;
}

/* True for the commands whose arguments start with a request, which a
 * topic can supply (as rules.h parses them); *ret_text: a text follows. */
static bool takes_request(enum desk_cmd cmd, bool *ret_text)
{
    struct desk_args a;
    *ret_text = desk_cmd_parse_args(cmd, "1", &a) < 0;
    return desk_cmd_parse_args(cmd, *ret_text ? "1 x" : "1", &a) == 0 && a.request_id == 1;
}

/*
 * Whether a command in the topic of user names its request itself: a
 * number - for /reply, /solve and /note only a request of that user, so
 * "/solve 3 screws were loose" is a solution, not request #3. Returns 1,
 * 0, or < 0.
 */
static int names_request(struct desk_ctx *x, enum desk_cmd cmd, bool text, const char *args,
                         int64_t user)
{
    struct desk_args a;
    if (!text)
        return !desk_text_blank(args, strlen(args));
    if (desk_cmd_parse_args(cmd, args, &a) < 0)
        return 0;
    int64_t ids[2] = {a.request_id, user}, one;
    return desk_query_ids(x, "desk_topic_owns", ids, 2, &one, 1);
}

int desk_topic_staff(struct desk_ctx *x, const struct tg_message *m, bool is_staff,
                     enum desk_cmd cmd, bool *ret_handled)
{
    *ret_handled = false;
    int64_t topic[2] = {m->chat.id, m->message_thread_id}, found[2];
    int rc = desk_query_ids(x, "desk_topic_of_message", topic, 2, found, 2);
    int64_t user = found[0], request = found[1];
    if (rc <= 0 || user == 0 || request == 0)
        return rc; /* a topic of staff's own */

    if (cmd != DESK_CMD_NONE) {
        const char *args = m->command_args ? m->command_args : "";
        bool text;
        if (!is_staff || !takes_request(cmd, &text))
            return 0;
        if ((rc = names_request(x, cmd, text, args, user)) != 0)
            return rc < 0 ? rc : 0;
        /* "/solve Replaced it" here is "/solve N Replaced it" for the topic's request. */
        struct buf a;
        buf_init(&a, TEXT_CAP);
        buf_addf(&a, "%" PRId64 " %s", request, args);
        if (buf_error(&a) == -ENOMEM) {
            buf_free(&a);
            return -ENOMEM;
        }
        struct tg_message mm = *m;
        mm.command_args = buf_str(&a);
        *ret_handled = true;
        rc = desk_staff_command(x, &mm, cmd);
        buf_free(&a);
        return rc;
    }

    *ret_handled = true;
    if (!is_staff)
        return desk_staff_refuse(x, m, "reply", DESK_STAFF_GROUP);
    return desk_staff_answer(x, m, request);
}
