/*
 * fake_tg.c - a fake Telegram Bot API server: the integration tests' and the
 * Quickstart's local "Telegram sandbox".
 *
 *   fake-tg [--port N] [--listen ADDR] [--record FILE] [--token TOKEN] [--verbose]
 *
 * Once it listens it prints one line "fake-tg listening on http://ADDR:PORT"
 * (port 0 picks a free port) and stops cleanly, exit 0, on SIGTERM/SIGINT.
 *
 * Bot API: POST (or GET) /bot<TOKEN>/<method> with a JSON body (or query
 * arguments, or a multipart/form-data upload: a file is recorded as
 * {"filename","content_type","content","size"}), answered the way Telegram answers:
 * {"ok":true,"result":...} or
 * {"ok":false,"error_code":N,"description":"..."}. Every call is recorded in
 * memory (and appended as one JSON line to --record FILE):
 *   {"seq":n,"ts":unix_seconds (answered),"arrived":unix_seconds,"token":"...","method":"...",
 *    "body":{...}|null,"status":http,"message_id":n (when the answer was a message)}
 * status 0 means no answer was sent (modes "hang" and "close").
 *
 * Control API (tests): see usage() below or GET /control; each answer is JSON.
 *
 * Threads: libmicrohttpd runs a thread per connection, so a "hang", the
 * configured latency and a getUpdates long poll simply block that
 * connection's thread and never delay another connection. All shared state
 * is behind one mutex; per-call work under it is a memcpy and an append.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/jscan.h"
#include "util/strnum.h"

/* Largest request body accepted (Telegram's JSON limit is of this order). */
#define BODY_MAX (1024 * 1024)
/* Calls kept in memory; later ones are only counted (and still written to --record). */
#define RECORD_CAP 1000000
/* Longest "hang", long poll or latency, in milliseconds. */
#define WAIT_MAX_MS 300000
/* The first message_id in every chat. */
#define FIRST_MESSAGE_ID 1000
/* sendMessage and editMessageText limit, in Unicode code points. */
#define TEXT_MAX       4096
#define CAPTION_MAX    1024
#define DEFAULT_BOT_ID INT64_C(1234567890)

enum fail_kind { FAIL_STATUS, FAIL_MIGRATE, FAIL_HANG, FAIL_CLOSE };

/* One "the next N matching calls fail" rule of POST /control/fail. */
struct rule {
    char method[64]; /* "*" for any */
    bool has_chat;
    int64_t chat_id;
    enum fail_kind kind;
    int status;        /* FAIL_STATUS */
    int64_t remaining; /* -1: until cleared */
    int64_t retry_after;
    int64_t migrate_to;
    char description[256]; /* empty: the default for the status */
};

/* A recorded call: one allocation holds the JSON line, then the method name. */
struct call {
    int64_t seq;
    int status;
    const char *method;
    char *line;
    size_t len;
};

/* message_id counters per chat (open addressing, key 0 never used). */
struct counter {
    int64_t chat;
    int64_t next;
};

struct fake {
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a call was recorded, updates were queued, or stop */
    atomic_bool stop;

    struct call *calls;
    size_t ncalls, calls_cap;
    int64_t next_seq;
    int64_t total_calls; /* recorded or not since start */
    int64_t dropped;     /* over RECORD_CAP since the last reset */
    uint64_t generation; /* bumped by reset */

    struct rule *rules;
    size_t nrules;

    json_t *updates; /* queued for getUpdates, in arrival order */
    int64_t next_update_id;
    int64_t updates_max; /* > 0: what one getUpdates answers, whatever its limit */

    struct counter *counters;
    size_t ncounters, counters_cap;

    json_t *webhook;       /* url and options last set, or NULL */
    json_t *webhook_extra; /* merged into getWebhookInfo */
    int64_t latency_ms;

    atomic_llong conns_total;
    atomic_llong conns_open;

    int record_fd;
    bool verbose;
    const char *required_token;
    /* --bench: calls are counted by method (unknown methods last), not kept,
     * and one thread serves every connection. */
    bool bench;
    int64_t *method_calls;

    /* forum topics made with createForumTopic (see "forum topics" below) */
    struct topic *topics;
    size_t ntopics, topics_cap;
    /* Telegram Business: the connections a test declared (see below) */
    json_t *business; /* id -> {"enabled":bool,"can_reply":bool} */
};

/* Per-request state: the body collected so far (capped at BODY_MAX). */
struct req {
    struct buf body;
};

/* Whether the body was cut at BODY_MAX. */
static bool too_big(const struct req *r)
{
    return buf_error(&r->body) == -E2BIG;
}

/* ---- small helpers ------------------------------------------------------ */

/* Sleeps ms milliseconds in short slices, returning early on stop. */
static void sleep_ms(struct fake *f, int64_t ms)
{
    int64_t end = clock_mono_ms() + ms;
    for (int64_t now = clock_mono_ms(); now < end && !atomic_load(&f->stop);
         now = clock_mono_ms()) {
        int64_t slice = end - now < 50 ? end - now : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)slice * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Code points in a valid UTF-8 string. */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* An integer field, also given as a decimal string (form-style clients). */
static bool get_int(const json_t *obj, const char *key, int64_t *ret)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        *ret = json_integer_value(v);
        return true;
    }
    if (json_is_string(v))
        return strnum_i64(json_string_value(v), INT64_MIN, INT64_MAX, ret) == 0;
    return false;
}

static const char *get_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A chat_id: an integer, a decimal string or "@username" (hashed to a key). */
static bool chat_key(const json_t *p, const char *field, int64_t *ret)
{
    if (get_int(p, field, ret))
        return true;
    const char *s = get_str(p, field);
    if (!s || s[0] != '@' || !s[1])
        return false;
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    *ret = (int64_t)((h >> 2) | (UINT64_C(1) << 62));
    return true;
}

/* ---- answers ------------------------------------------------------------ */

static enum MHD_Result respond_raw(struct MHD_Connection *c, unsigned status, char *body,
                                   size_t len, const char *type, int64_t retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (retry_after > 0) {
        char v[32];
        snprintf(v, sizeof(v), "%" PRId64, retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends j (a reference is taken over) as the JSON answer. */
static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *j,
                                    int64_t retry_after)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return MHD_NO;
    return respond_raw(c, status, s, strlen(s), "application/json", retry_after);
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    char *s = strdup(text);
    if (!s)
        return MHD_NO;
    return respond_raw(c, status, s, strlen(s), "text/plain; charset=utf-8", 0);
}

static enum MHD_Result control_error(struct MHD_Connection *c, unsigned status, const char *desc)
{
    return respond_json(c, status, json_pack("{s:b,s:s}", "ok", 0, "description", desc), 0);
}

static const char *default_description(int status)
{
    switch (status) {
    case 400:
        return "Bad Request: chat not found";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden: bot was blocked by the user";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict: terminated by other getUpdates request; make sure that only one bot "
               "instance is running";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status >= 500 ? "Internal Server Error" : "Bad Request";
    }
}

/* ---- state -------------------------------------------------------------- */

/* Next message_id of a chat. Called with f->mu held. */
static int64_t next_message_id(struct fake *f, int64_t chat)
{
    if (chat == 0)
        chat = INT64_MIN;
    if ((f->ncounters + 1) * 10 > f->counters_cap * 7) {
        size_t cap = f->counters_cap ? f->counters_cap * 2 : 64;
        struct counter *n = calloc(cap, sizeof(*n));
        if (!n)
            return 0;
        for (size_t i = 0; i < f->counters_cap; i++) {
            if (!f->counters[i].chat)
                continue;
            size_t j = (uint64_t)f->counters[i].chat * 0x9E3779B97F4A7C15ULL % cap;
            while (n[j].chat)
                j = (j + 1) % cap;
            n[j] = f->counters[i];
        }
        free(f->counters);
        f->counters = n;
        f->counters_cap = cap;
    }
    size_t j = (uint64_t)chat * 0x9E3779B97F4A7C15ULL % f->counters_cap;
    while (f->counters[j].chat && f->counters[j].chat != chat)
        j = (j + 1) % f->counters_cap;
    if (!f->counters[j].chat) {
        f->counters[j].chat = chat;
        f->counters[j].next = FIRST_MESSAGE_ID;
        f->ncounters++;
    }
    return f->counters[j].next++;
}

static size_t method_index(const char *name);

static void clear_calls(struct fake *f)
{
    if (f->method_calls)
        memset(f->method_calls, 0, (method_index(NULL) + 1) * sizeof(*f->method_calls));
    for (size_t i = 0; i < f->ncalls; i++)
        free(f->calls[i].line);
    free(f->calls);
    f->calls = NULL;
    f->ncalls = f->calls_cap = 0;
    f->dropped = 0;
    f->generation++;
}

/* When the Bot API call this thread answers arrived (before any latency
 * set): recorded as "arrived", so that rates are measured as Telegram would. */
static _Thread_local double t_arrived;

/*
 * Records one Bot API call. body may be NULL. The line is built outside the
 * lock; seq is assigned and the line appended under it, so seq order is the
 * order of the in-memory list and of the --record file.
 */
static void record_call(struct fake *f, const char *token, const char *method, const json_t *body,
                        int status, const json_t *result)
{
    if (f->bench) {
        size_t i = method_index(method);
        pthread_mutex_lock(&f->mu);
        f->next_seq++;
        f->total_calls++;
        f->method_calls[i]++;
        pthread_cond_broadcast(&f->changed);
        pthread_mutex_unlock(&f->mu);
        return;
    }
    json_t *j = json_object();
    double now = clock_wall_s();
    json_object_set_new(j, "ts", json_real(now));
    json_object_set_new(j, "arrived", json_real(t_arrived > 0 ? t_arrived : now));
    json_object_set_new(j, "token", json_string(token));
    json_object_set_new(j, "method", json_string(method));
    json_object_set(j, "body", body ? (json_t *)body : json_null());
    json_object_set_new(j, "status", json_integer(status));
    json_t *mid = json_is_object(result) ? json_object_get(result, "message_id") : NULL;
    if (mid)
        json_object_set(j, "message_id", mid);
    char *tail = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!tail)
        return;
    size_t tail_len = strlen(tail), mlen = strlen(method);
    /* "{\"seq\":" + up to 20 digits + "," + tail without its "{" + "\n" + method */
    size_t cap = 8 + 21 + 1 + tail_len + 1 + mlen + 1;
    char *line = malloc(cap);
    if (!line) {
        free(tail);
        return;
    }

    pthread_mutex_lock(&f->mu);
    int64_t seq = ++f->next_seq;
    int n = snprintf(line, cap, "{\"seq\":%" PRId64 ",", seq);
    memcpy(line + n, tail + 1, tail_len - 1);
    size_t len = (size_t)n + tail_len - 1;
    line[len] = '\n';
    line[len + 1] = '\0';
    memcpy(line + len + 2, method, mlen + 1);
    if (f->record_fd >= 0 && write(f->record_fd, line, len + 1) < 0)
        fprintf(stderr, "fake-tg: cannot write the record file: %s\n", strerror(errno));
    if (f->verbose)
        fprintf(stderr, "fake-tg: %.*s\n", (int)len, line);
    line[len] = '\0';
    f->total_calls++;
    bool kept = false;
    if (f->ncalls < RECORD_CAP) {
        if (f->ncalls == f->calls_cap) {
            size_t c2 = f->calls_cap ? f->calls_cap * 2 : 1024;
            struct call *nc = realloc(f->calls, c2 * sizeof(*nc));
            if (nc) {
                f->calls = nc;
                f->calls_cap = c2;
            }
        }
        if (f->ncalls < f->calls_cap) {
            f->calls[f->ncalls++] = (struct call){
                .seq = seq, .status = status, .method = line + len + 2, .line = line, .len = len};
            kept = true;
        }
    }
    if (!kept)
        f->dropped++;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->mu);
    if (!kept)
        free(line);
    free(tail);
}

/* Takes the first rule matching the call, if any. Called with f->mu held. */
static bool take_rule(struct fake *f, const char *method, const json_t *params, struct rule *ret)
{
    int64_t chat = 0;
    bool has_chat = chat_key(params, "chat_id", &chat);
    for (size_t i = 0; i < f->nrules; i++) {
        struct rule *r = &f->rules[i];
        if (strcmp(r->method, "*") != 0 && strcasecmp(r->method, method) != 0)
            continue;
        if (r->has_chat && (!has_chat || chat != r->chat_id))
            continue;
        *ret = *r;
        if (r->remaining > 0 && --r->remaining == 0) {
            memmove(r, r + 1, (f->nrules - i - 1) * sizeof(*r));
            f->nrules--;
        }
        return true;
    }
    return false;
}

/* ---- Bot API methods ------------------------------------------------------ */

/*
 * Every method gets the parameters and returns the HTTP status; on 200 it
 * sets *ret_result (a new reference), else *ret_desc. A description given with
 * 200 is added to the success answer (setWebhook does that).
 */
typedef int (*method_fn)(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                         const char **ret_desc);

#define BOT_NAME     "tgdesk sandbox"
#define BOT_USERNAME "tgdesk_sandbox_bot"

/* The bot's user id: the digits before the token's ':'. */
static int64_t bot_id(const char *token)
{
    int64_t id = DEFAULT_BOT_ID;
    char digits[24];
    size_t n = strcspn(token, ":");
    if (n > 0 && n < sizeof(digits)) {
        memcpy(digits, token, n);
        digits[n] = '\0';
        if (strnum_i64(digits, 1, INT64_MAX, &id) != 0)
            id = DEFAULT_BOT_ID;
    }
    return id;
}

static json_t *bot_user(const char *token)
{
    return json_pack("{s:I,s:b,s:s,s:s}", "id", (json_int_t)bot_id(token), "is_bot", 1,
                     "first_name", BOT_NAME, "username", BOT_USERNAME);
}

static const char *chat_type(int64_t id)
{
    return id > 0 ? "private" : id <= INT64_C(-1000000000000) ? "supergroup" : "group";
}

static json_t *chat_object(const json_t *p, const char *field)
{
    int64_t id;
    if (get_int(p, field, &id))
        return json_pack("{s:I,s:s}", "id", (json_int_t)id, "type", chat_type(id));
    return json_pack("{s:O,s:s}", "id", json_object_get(p, field), "type", "channel");
}

/* ---- forum topics ---------------------------------------------------------
 *
 * createForumTopic, editForumTopic, closeForumTopic, reopenForumTopic and
 * deleteForumTopic keep the topics of each supergroup. A call with a
 * message_thread_id that names no live topic of its chat answers 400 "Bad
 * Request: message thread not found", as Telegram does for a deleted topic;
 * a rename, close or reopen that changes nothing answers 400 "Bad Request:
 * TOPIC_NOT_MODIFIED". Tests delete a topic as staff would with POST
 * /control/topics/delete {"chat_id":C,"message_thread_id":T} and look at
 * them all with GET /control/topics.
 */

#define TOPIC_NAME_MAX 128

struct topic {
    int64_t chat, thread, icon_color;
    char name[TOPIC_NAME_MAX * 4 + 1];
    bool closed, deleted;
};

/* The live topic thread of chat, or NULL. Called with f->mu held. */
static struct topic *topic_find(struct fake *f, int64_t chat, int64_t thread)
{
    for (size_t i = 0; i < f->ntopics; i++)
        if (f->topics[i].chat == chat && f->topics[i].thread == thread && !f->topics[i].deleted)
            return &f->topics[i];
    return NULL;
}

static const char thread_not_found[] = "Bad Request: message thread not found";

/*
 * A message_thread_id given to a sending method must name a live topic of
 * the chat. Returns 200 and the thread (0: none given) or 400.
 */
static int topic_check(struct fake *f, const json_t *p, int64_t *ret_thread, const char **ret_desc)
{
    int64_t chat = 0, thread = 0;
    *ret_thread = 0;
    if (!get_int(p, "message_thread_id", &thread) || thread == 0)
        return 200;
    chat_key(p, "chat_id", &chat);
    pthread_mutex_lock(&f->mu);
    bool live = topic_find(f, chat, thread) != NULL;
    pthread_mutex_unlock(&f->mu);
    if (!live) {
        *ret_desc = thread_not_found;
        return 400;
    }
    *ret_thread = thread;
    return 200;
}

static json_t *topic_json(const struct topic *t)
{
    return json_pack("{s:I,s:I,s:s,s:I,s:b,s:b}", "chat_id", (json_int_t)t->chat,
                     "message_thread_id", (json_int_t)t->thread, "name", t->name, "icon_color",
                     (json_int_t)t->icon_color, "closed", t->closed, "deleted", t->deleted);
}

/* A topic name of 1..128 code points into out, else 400. */
static int topic_name(const json_t *p, char *out, size_t cap, const char **ret_desc)
{
    const char *name = get_str(p, "name");
    if (!name || !*name) {
        *ret_desc = "Bad Request: TOPIC_NAME_EMPTY";
        return 400;
    }
    if (utf8_length(name) > TOPIC_NAME_MAX || strlen(name) >= cap) {
        *ret_desc = "Bad Request: TOPIC_NAME_INVALID";
        return 400;
    }
    copy_str(out, cap, name);
    return 200;
}

static int m_create_forum_topic(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                                const char **ret_desc)
{
    static const int64_t colors[] = {7322096, 16766590, 13338331, 9367192, 16749490, 16478047};
    int64_t chat, color = colors[0];
    if (!chat_key(p, "chat_id", &chat)) {
        *ret_desc = "Bad Request: chat_id is empty";
        return 400;
    }
    if (strcmp(chat_type(chat), "supergroup") != 0) {
        *ret_desc = "Bad Request: the chat is not a forum";
        return 400;
    }
    struct topic t = {.chat = chat};
    int st = topic_name(p, t.name, sizeof(t.name), ret_desc);
    if (st != 200)
        return st;
    if (get_int(p, "icon_color", &color)) {
        bool known = false;
        for (size_t i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
            known = known || colors[i] == color;
        if (!known) {
            *ret_desc = "Bad Request: TOPIC_ICON_COLOR_INVALID";
            return 400;
        }
    }
    t.icon_color = color;
    pthread_mutex_lock(&f->mu);
    if (f->ntopics == f->topics_cap) {
        size_t cap = f->topics_cap ? f->topics_cap * 2 : 16;
        struct topic *n = realloc(f->topics, cap * sizeof(*n));
        if (!n) {
            pthread_mutex_unlock(&f->mu);
            return 500;
        }
        f->topics = n;
        f->topics_cap = cap;
    }
    t.thread = next_message_id(f, chat); /* the id of its service message, as in Telegram */
    f->topics[f->ntopics++] = t;
    pthread_mutex_unlock(&f->mu);
    *ret_result = json_pack("{s:I,s:s,s:I}", "message_thread_id", (json_int_t)t.thread, "name",
                            t.name, "icon_color", (json_int_t)t.icon_color);
    return 200;
}

/* editForumTopic, closeForumTopic, reopenForumTopic and deleteForumTopic. */
static int topic_change(struct fake *f, json_t *p, const char *method, json_t **ret_result,
                        const char **ret_desc)
{
    int64_t chat, thread;
    if (!chat_key(p, "chat_id", &chat)) {
        *ret_desc = "Bad Request: chat_id is empty";
        return 400;
    }
    if (!get_int(p, "message_thread_id", &thread)) {
        *ret_desc = "Bad Request: message thread identifier is not specified";
        return 400;
    }
    char name[sizeof(((struct topic *)0)->name)] = "";
    bool edit = strcmp(method, "edit") == 0;
    if (edit && get_str(p, "name")) {
        int st = topic_name(p, name, sizeof(name), ret_desc);
        if (st != 200)
            return st;
    }
    pthread_mutex_lock(&f->mu);
    struct topic *t = topic_find(f, chat, thread);
    int st = 200;
    if (!t) {
        *ret_desc = thread_not_found;
        st = 400;
    } else if (strcmp(method, "delete") == 0) {
        t->deleted = true;
    } else if ((edit && (!*name || strcmp(name, t->name) == 0)) ||
               (strcmp(method, "close") == 0 && t->closed) ||
               (strcmp(method, "reopen") == 0 && !t->closed)) {
        *ret_desc = "Bad Request: TOPIC_NOT_MODIFIED";
        st = 400;
    } else if (edit) {
        copy_str(t->name, sizeof(t->name), name);
    } else {
        t->closed = strcmp(method, "close") == 0;
    }
    pthread_mutex_unlock(&f->mu);
    if (st == 200)
        *ret_result = json_true();
    return st;
}

#define TOPIC_METHOD(fn, what)                                                       \
    static int fn(struct fake *f, const char *token, json_t *p, json_t **ret_result, \
                  const char **ret_desc)                                             \
    {                                                                                \
        return topic_change(f, p, what, ret_result, ret_desc);                       \
    }
TOPIC_METHOD(m_edit_forum_topic, "edit")
TOPIC_METHOD(m_close_forum_topic, "close")
TOPIC_METHOD(m_reopen_forum_topic, "reopen")
TOPIC_METHOD(m_delete_forum_topic, "delete")

/* GET /control/topics */
static enum MHD_Result control_topics(struct fake *f, struct MHD_Connection *c)
{
    json_t *list = json_array();
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->ntopics; i++)
        json_array_append_new(list, topic_json(&f->topics[i]));
    pthread_mutex_unlock(&f->mu);
    return respond_json(c, 200, json_pack("{s:b,s:o}", "ok", 1, "topics", list), 0);
}

/* POST /control/topics/delete {"chat_id":C,"message_thread_id":T} */
static enum MHD_Result control_topic_delete(struct fake *f, struct MHD_Connection *c,
                                            const json_t *b)
{
    int64_t chat, thread;
    if (!get_int(b, "chat_id", &chat) || !get_int(b, "message_thread_id", &thread))
        return control_error(c, 400, "chat_id and message_thread_id must be integers");
    pthread_mutex_lock(&f->mu);
    struct topic *t = topic_find(f, chat, thread);
    if (t)
        t->deleted = true;
    pthread_mutex_unlock(&f->mu);
    return t ? respond_json(c, 200, json_pack("{s:b}", "ok", 1), 0)
             : control_error(c, 404, "no such topic");
}

/* chat_id present, and a message_id allocated in that chat. */
static int new_message(struct fake *f, const char *token, json_t *p, json_t **ret_msg,
                       const char **ret_desc)
{
    int64_t chat, thread;
    if (!chat_key(p, "chat_id", &chat)) {
        *ret_desc = "Bad Request: chat_id is empty";
        return 400;
    }
    int st = topic_check(f, p, &thread, ret_desc);
    if (st != 200)
        return st;
    pthread_mutex_lock(&f->mu);
    int64_t id = next_message_id(f, chat);
    pthread_mutex_unlock(&f->mu);
    *ret_msg = json_pack("{s:I,s:o,s:o,s:I}", "message_id", (json_int_t)id, "from", bot_user(token),
                         "chat", chat_object(p, "chat_id"), "date", (json_int_t)time(NULL));
    if (*ret_msg && thread) {
        json_object_set_new(*ret_msg, "message_thread_id", json_integer((json_int_t)thread));
        json_object_set_new(*ret_msg, "is_topic_message", json_true());
    }
    return *ret_msg ? 200 : 500;
}

static int check_text(const json_t *p, const char *field, size_t max, const char **ret_desc)
{
    const char *text = get_str(p, field);
    if (!text || blank(text)) {
        *ret_desc = "Bad Request: message text is empty";
        return 400;
    }
    if (utf8_length(text) > max) {
        *ret_desc = "Bad Request: message is too long";
        return 400;
    }
    const char *mode = get_str(p, "parse_mode");
    if (mode && *mode && strcasecmp(mode, "HTML") != 0 && strcasecmp(mode, "Markdown") != 0 &&
        strcasecmp(mode, "MarkdownV2") != 0) {
        *ret_desc = "Bad Request: unsupported parse_mode";
        return 400;
    }
    return 200;
}

static int check_caption(const json_t *p, const char **ret_desc)
{
    const char *caption = get_str(p, "caption");
    if (caption && utf8_length(caption) > CAPTION_MAX) {
        *ret_desc = "Bad Request: message caption is too long";
        return 400;
    }
    return 200;
}

static int m_send_message(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                          const char **ret_desc)
{
    int64_t chat;
    if (!chat_key(p, "chat_id", &chat)) {
        *ret_desc = "Bad Request: chat_id is empty";
        return 400;
    }
    int st = check_text(p, "text", TEXT_MAX, ret_desc);
    if (st != 200)
        return st;
    json_t *msg;
    st = new_message(f, token, p, &msg, ret_desc);
    if (st != 200)
        return st;
    json_object_set(msg, "text", json_object_get(p, "text"));
    json_t *markup = json_object_get(p, "reply_markup");
    if (json_is_object(markup))
        json_object_set(msg, "reply_markup", markup);
    *ret_result = msg;
    return 200;
}

/* The file field each media method carries. */
static const struct {
    const char *method;
    const char *field;
    const char *missing;
} media[] = {
    {"sendPhoto", "photo", "Bad Request: there is no photo in the request"},
    {"sendDocument", "document", "Bad Request: there is no document in the request"},
    {"sendVoice", "voice", "Bad Request: there is no voice in the request"},
    {"sendVideo", "video", "Bad Request: there is no video in the request"},
    {"sendAudio", "audio", "Bad Request: there is no audio in the request"},
    {"sendAnimation", "animation", "Bad Request: there is no animation in the request"},
    {"sendSticker", "sticker", "Bad Request: there is no sticker in the request"},
    {"sendVideoNote", "video_note", "Bad Request: there is no video_note in the request"},
};

static int m_send_media(struct fake *f, const char *token, const char *method, json_t *p,
                        json_t **ret_result, const char **ret_desc)
{
    size_t k = 0;
    while (strcasecmp(media[k].method, method) != 0)
        k++;
    int64_t chat;
    if (!chat_key(p, "chat_id", &chat)) {
        *ret_desc = "Bad Request: chat_id is empty";
        return 400;
    }
    const char *file = get_str(p, media[k].field);
    if (json_is_object(json_object_get(p, media[k].field)))
        file = "BQACAgFakeUploadedFile"; /* a file uploaded with the call (multipart) */
    if (!file || !*file) {
        *ret_desc = media[k].missing;
        return 400;
    }
    int st = check_caption(p, ret_desc);
    if (st != 200)
        return st;
    json_t *msg;
    st = new_message(f, token, p, &msg, ret_desc);
    if (st != 200)
        return st;
    json_t *fobj = json_pack("{s:s,s:s}", "file_id", file, "file_unique_id", "AgADfake");
    if (strcmp(media[k].field, "photo") == 0)
        json_object_set_new(msg, "photo", json_pack("[o]", fobj));
    else
        json_object_set_new(msg, media[k].field, fobj);
    if (json_object_get(p, "caption"))
        json_object_set(msg, "caption", json_object_get(p, "caption"));
    *ret_result = msg;
    return 200;
}

#define MEDIA_METHOD(fn, name)                                                       \
    static int fn(struct fake *f, const char *token, json_t *p, json_t **ret_result, \
                  const char **ret_desc)                                             \
    {                                                                                \
        return m_send_media(f, token, name, p, ret_result, ret_desc);                \
    }
MEDIA_METHOD(m_send_photo, "sendPhoto")
MEDIA_METHOD(m_send_document, "sendDocument")
MEDIA_METHOD(m_send_voice, "sendVoice")
MEDIA_METHOD(m_send_video, "sendVideo")
MEDIA_METHOD(m_send_audio, "sendAudio")
MEDIA_METHOD(m_send_animation, "sendAnimation")
MEDIA_METHOD(m_send_sticker, "sendSticker")
MEDIA_METHOD(m_send_video_note, "sendVideoNote")

static int m_copy_message(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                          const char **ret_desc)
{
    int64_t chat, from, id;
    if (!chat_key(p, "chat_id", &chat)) {
        *ret_desc = "Bad Request: chat_id is empty";
        return 400;
    }
    if (!chat_key(p, "from_chat_id", &from)) {
        *ret_desc = "Bad Request: from_chat_id is empty";
        return 400;
    }
    if (!get_int(p, "message_id", &id) || id <= 0) {
        *ret_desc = "Bad Request: message to copy not found";
        return 400;
    }
    int64_t thread;
    int st = check_caption(p, ret_desc);
    if (st == 200)
        st = topic_check(f, p, &thread, ret_desc);
    if (st != 200)
        return st;
    pthread_mutex_lock(&f->mu);
    int64_t mid = next_message_id(f, chat);
    pthread_mutex_unlock(&f->mu);
    *ret_result = json_pack("{s:I}", "message_id", (json_int_t)mid);
    return 200;
}

static int m_forward_message(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                             const char **ret_desc)
{
    int64_t from, id;
    if (!chat_key(p, "from_chat_id", &from)) {
        *ret_desc = "Bad Request: from_chat_id is empty";
        return 400;
    }
    if (!get_int(p, "message_id", &id) || id <= 0) {
        *ret_desc = "Bad Request: message to forward not found";
        return 400;
    }
    return new_message(f, token, p, ret_result, ret_desc);
}

/* Identifies the edited message: chat_id and message_id, or inline_message_id. */
static int check_edit_target(const json_t *p, const char **ret_desc)
{
    int64_t v;
    if (get_str(p, "inline_message_id"))
        return 200;
    if (!chat_key(p, "chat_id", &v)) {
        *ret_desc = "Bad Request: chat_id is empty";
        return 400;
    }
    if (!get_int(p, "message_id", &v)) {
        *ret_desc = "Bad Request: message identifier is not specified";
        return 400;
    }
    return 200;
}

static int m_edit_message_text(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                               const char **ret_desc)
{
    int st = check_edit_target(p, ret_desc);
    if (st == 200)
        st = check_text(p, "text", TEXT_MAX, ret_desc);
    if (st == 200)
        *ret_result = json_true();
    return st;
}

static int m_edit_other(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                        const char **ret_desc)
{
    int st = check_edit_target(p, ret_desc);
    if (st == 200)
        st = check_caption(p, ret_desc);
    if (st == 200)
        *ret_result = json_true();
    return st;
}

static int m_delete_message(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                            const char **ret_desc)
{
    int st = check_edit_target(p, ret_desc);
    if (st == 200)
        *ret_result = json_true();
    return st;
}

static int m_answer_callback_query(struct fake *f, const char *token, json_t *p,
                                   json_t **ret_result, const char **ret_desc)
{
    const char *id = get_str(p, "callback_query_id");
    if (!id || !*id) {
        *ret_desc = "Bad Request: query is too old and response timeout expired or query ID is "
                    "invalid";
        return 400;
    }
    *ret_result = json_true();
    return 200;
}

static int m_chat_true(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                       const char **ret_desc)
{
    int64_t chat;
    if (!chat_key(p, "chat_id", &chat)) {
        *ret_desc = "Bad Request: chat_id is empty";
        return 400;
    }
    *ret_result = json_true();
    return 200;
}

static int m_true(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                  const char **ret_desc)
{
    *ret_result = json_true();
    return 200;
}

static int m_get_my_commands(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                             const char **ret_desc)
{
    *ret_result = json_array();
    return 200;
}

static int m_get_me(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                    const char **ret_desc)
{
    json_t *u = bot_user(token);
    json_object_set_new(u, "can_join_groups", json_true());
    json_object_set_new(u, "can_read_all_group_messages", json_false());
    json_object_set_new(u, "supports_inline_queries", json_false());
    *ret_result = u;
    return 200;
}

static int m_get_chat(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                      const char **ret_desc)
{
    int64_t chat;
    if (!chat_key(p, "chat_id", &chat)) {
        *ret_desc = "Bad Request: chat_id is empty";
        return 400;
    }
    *ret_result = chat_object(p, "chat_id");
    return 200;
}

/* "https://host[:port]/..." with a port Telegram allows. */
static const char *check_webhook_url(const char *url)
{
    if (strncasecmp(url, "https://", 8) != 0)
        return "Bad Request: bad webhook: An HTTPS URL must be provided for webhook";
    const char *host = url + 8;
    size_t hlen = strcspn(host, "/?#");
    const char *colon = NULL;
    for (const char *s = host; s < host + hlen; s++)
        if (*s == ':' || *s == ']')
            colon = *s == ':' ? s : NULL;
    if (hlen == 0 || colon == host)
        return "Bad Request: bad webhook: Failed to resolve host: Name or service not known";
    if (colon) {
        char port[8];
        size_t n = (size_t)(host + hlen - colon - 1);
        int64_t v = 0;
        if (n == 0 || n >= sizeof(port))
            return "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 "
                   "or 8443";
        memcpy(port, colon + 1, n);
        port[n] = '\0';
        if (strnum_i64(port, 1, 65535, &v) != 0 || (v != 80 && v != 88 && v != 443 && v != 8443))
            return "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 "
                   "or 8443";
    }
    return NULL;
}

/* allowed_updates: a JSON array, or its text (form-style clients). New reference or NULL. */
static json_t *allowed_updates(const json_t *p)
{
    json_t *v = json_object_get(p, "allowed_updates");
    if (json_is_array(v))
        return json_incref(v);
    if (json_is_string(v)) {
        json_t *a = json_loads(json_string_value(v), 0, NULL);
        if (json_is_array(a))
            return a;
        json_decref(a);
    }
    return NULL;
}

static int m_set_webhook(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                         const char **ret_desc)
{
    const char *url = get_str(p, "url");
    const char *secret = get_str(p, "secret_token");
    if (url && *url) {
        const char *bad = check_webhook_url(url);
        if (bad) {
            *ret_desc = bad;
            return 400;
        }
    }
    if (secret) {
        size_t n = strlen(secret);
        bool good = n >= 1 && n <= 256;
        for (const char *s = secret; good && *s; s++)
            good = isalnum((unsigned char)*s) || *s == '_' || *s == '-';
        if (!good) {
            *ret_desc = "Bad Request: secret token contains unallowed characters";
            return 400;
        }
    }
    json_t *au = allowed_updates(p);
    json_t *dpu = json_object_get(p, "drop_pending_updates");
    pthread_mutex_lock(&f->mu);
    if (!url || !*url) {
        *ret_desc = f->webhook ? "Webhook was deleted" : "Webhook is already deleted";
        json_decref(f->webhook);
        f->webhook = NULL;
    } else {
        const char *old = f->webhook ? get_str(f->webhook, "url") : NULL;
        *ret_desc = old && strcmp(old, url) == 0 ? "Webhook is already set" : "Webhook was set";
        json_t *w = json_pack("{s:s}", "url", url);
        int64_t maxc = 40;
        if (get_int(p, "max_connections", &maxc))
            maxc = maxc < 1 ? 1 : maxc > 100 ? 100 : maxc;
        else if (f->webhook && json_object_get(f->webhook, "max_connections"))
            maxc = json_integer_value(json_object_get(f->webhook, "max_connections"));
        json_object_set_new(w, "max_connections", json_integer(maxc));
        if (au)
            json_object_set(w, "allowed_updates", au);
        else if (f->webhook && json_object_get(f->webhook, "allowed_updates"))
            json_object_set(w, "allowed_updates", json_object_get(f->webhook, "allowed_updates"));
        if (get_str(p, "ip_address"))
            json_object_set(w, "ip_address", json_object_get(p, "ip_address"));
        json_decref(f->webhook);
        f->webhook = w;
    }
    if (json_is_true(dpu) || (json_is_string(dpu) && strcmp(json_string_value(dpu), "true") == 0))
        json_array_clear(f->updates);
    pthread_mutex_unlock(&f->mu);
    json_decref(au);
    *ret_result = json_true();
    return 200;
}

static int m_delete_webhook(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                            const char **ret_desc)
{
    json_t *empty = json_object();
    int st = m_set_webhook(f, token, empty, ret_result, ret_desc);
    json_decref(empty);
    json_t *dpu = json_object_get(p, "drop_pending_updates");
    if (json_is_true(dpu)) {
        pthread_mutex_lock(&f->mu);
        json_array_clear(f->updates);
        pthread_mutex_unlock(&f->mu);
    }
    return st;
}

static int m_get_webhook_info(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                              const char **ret_desc)
{
    pthread_mutex_lock(&f->mu);
    json_t *info = json_pack("{s:s,s:b,s:I}", "url", "", "has_custom_certificate", 0,
                             "pending_update_count", (json_int_t)json_array_size(f->updates));
    if (f->webhook)
        json_object_update(info, f->webhook);
    json_object_update(info, f->webhook_extra);
    pthread_mutex_unlock(&f->mu);
    *ret_result = info;
    return 200;
}

/* Drops the updates getUpdates' offset confirms. Called with f->mu held. */
static void confirm_updates(struct fake *f, int64_t offset)
{
    size_t n = json_array_size(f->updates);
    if (offset < 0) {
        uint64_t keep = (uint64_t)(-(offset + 1)) + 1;
        while (n > keep) {
            json_array_remove(f->updates, 0);
            n--;
        }
        return;
    }
    for (size_t i = 0; i < json_array_size(f->updates);) {
        int64_t id =
            json_integer_value(json_object_get(json_array_get(f->updates, i), "update_id"));
        if (id < offset)
            json_array_remove(f->updates, i);
        else
            i++;
    }
}

static int m_get_updates(struct fake *f, const char *token, json_t *p, json_t **ret_result,
                         const char **ret_desc)
{
    int64_t offset = 0, limit = 100, timeout = 0;
    get_int(p, "offset", &offset);
    if (get_int(p, "limit", &limit))
        limit = limit < 1 ? 1 : limit > 100 ? 100 : limit;
    if (get_int(p, "timeout", &timeout))
        timeout = timeout < 0 ? 0 : timeout > WAIT_MAX_MS / 1000 ? WAIT_MAX_MS / 1000 : timeout;

    pthread_mutex_lock(&f->mu);
    if (f->webhook) {
        pthread_mutex_unlock(&f->mu);
        *ret_desc = "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first";
        return 409;
    }
    if (offset != 0)
        confirm_updates(f, offset);
    struct timespec until;
    until = clock_deadline(CLOCK_MONOTONIC, timeout * 1000);
    while (json_array_size(f->updates) == 0 && timeout > 0 && !atomic_load(&f->stop)) {
        if (pthread_cond_timedwait(&f->changed, &f->mu, &until) == ETIMEDOUT)
            break;
        if (offset > 0)
            confirm_updates(f, offset);
    }
    if (f->updates_max > 0)
        limit = f->updates_max;
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(f->updates) && (int64_t)json_array_size(out) < limit;
         i++)
        json_array_append(out, json_array_get(f->updates, i));
    pthread_mutex_unlock(&f->mu);
    *ret_result = out;
    return 200;
}

/* ---- content without a file, and Telegram Business --------------------------
 *
 * sendLocation, sendVenue, sendContact, sendPoll and sendDice answer a
 * message holding what they were given. A call with business_connection_id
 * goes through business_call(): the connection must have been declared with
 * POST /control/business {"id":ID,"enabled":bool,"can_reply":bool}, be
 * enabled and allow replies, else 400 as Telegram answers (an unknown or
 * disabled connection: BUSINESS_CONNECTION_INVALID); the message answered
 * carries the business_connection_id.
 */

/* The fields each content method requires, and the field of the message it answers. */
static const struct {
    const char *method;
    const char *field;
    const char *required[4];
} contents[] = {
    {"sendLocation", "location", {"latitude", "longitude"}},
    {"sendVenue", "venue", {"latitude", "longitude", "title", "address"}},
    {"sendContact", "contact", {"phone_number", "first_name"}},
    {"sendPoll", "poll", {"question", "options"}},
    {"sendDice", "dice", {NULL}},
};

static int m_send_content(struct fake *f, const char *token, const char *method, json_t *p,
                          json_t **ret_result, const char **ret_desc)
{
    size_t k = 0;
    while (strcasecmp(contents[k].method, method) != 0)
        k++;
    for (size_t i = 0; i < 4 && contents[k].required[i]; i++)
        if (!json_object_get(p, contents[k].required[i])) {
            *ret_desc = "Bad Request: not enough arguments";
            return 400;
        }
    json_t *options = json_object_get(p, "options");
    if (options && (!json_is_array(options) || json_array_size(options) < 2)) {
        *ret_desc = "Bad Request: poll must have at least 2 option";
        return 400;
    }
    json_t *msg;
    int st = new_message(f, token, p, &msg, ret_desc);
    if (st != 200)
        return st;
    json_t *content = json_deep_copy(p);
    json_object_del(content, "chat_id");
    json_object_del(content, "business_connection_id");
    json_object_set_new(msg, contents[k].field, content);
    *ret_result = msg;
    return 200;
}

#define CONTENT_METHOD(fn, name)                                                     \
    static int fn(struct fake *f, const char *token, json_t *p, json_t **ret_result, \
                  const char **ret_desc)                                             \
    {                                                                                \
        return m_send_content(f, token, name, p, ret_result, ret_desc);              \
    }
CONTENT_METHOD(m_send_location, "sendLocation")
CONTENT_METHOD(m_send_venue, "sendVenue")
CONTENT_METHOD(m_send_contact, "sendContact")
CONTENT_METHOD(m_send_poll, "sendPoll")
CONTENT_METHOD(m_send_dice, "sendDice")

/* fn, on behalf of the business connection the call names (if it names one). */
static int business_call(struct fake *f, method_fn fn, const char *token, json_t *p,
                         json_t **ret_result, const char **ret_desc)
{
    const char *id = get_str(p, "business_connection_id");
    if (!id)
        return fn(f, token, p, ret_result, ret_desc);
    pthread_mutex_lock(&f->mu);
    json_t *conn = json_object_get(f->business, id);
    bool enabled = json_is_true(json_object_get(conn, "enabled"));
    bool can_reply = json_is_true(json_object_get(conn, "can_reply"));
    pthread_mutex_unlock(&f->mu);
    if (!enabled) {
        *ret_desc = "Bad Request: BUSINESS_CONNECTION_INVALID";
        return 400;
    }
    if (!can_reply) {
        *ret_desc = "Bad Request: not enough rights to send messages on behalf of the business "
                    "account";
        return 400;
    }
    int st = fn(f, token, p, ret_result, ret_desc);
    if (st == 200 && json_is_object(*ret_result))
        json_object_set_new(*ret_result, "business_connection_id", json_string(id));
    return st;
}

/* POST /control/business: declares (or changes) a connection. */
static enum MHD_Result control_business(struct fake *f, struct MHD_Connection *c, const json_t *b)
{
    const char *id = get_str(b, "id");
    if (!id || !*id)
        return control_error(c, 400, "expected {\"id\":ID,\"enabled\":bool,\"can_reply\":bool}");
    json_t *conn = json_pack("{s:b,s:b}", "enabled", !json_is_false(json_object_get(b, "enabled")),
                             "can_reply", !json_is_false(json_object_get(b, "can_reply")));
    pthread_mutex_lock(&f->mu);
    json_object_set_new(f->business, id, conn);
    pthread_mutex_unlock(&f->mu);
    return respond_json(c, 200, json_pack("{s:b}", "ok", 1), 0);
}

/* ---- the method table ------------------------------------------------------ */

static const struct {
    const char *name;
    method_fn fn;
} methods[] = {
    {"sendMessage", m_send_message},
    {"copyMessage", m_copy_message},
    {"forwardMessage", m_forward_message},
    {"sendPhoto", m_send_photo},
    {"sendDocument", m_send_document},
    {"sendVoice", m_send_voice},
    {"sendVideo", m_send_video},
    {"sendAudio", m_send_audio},
    {"sendAnimation", m_send_animation},
    {"sendSticker", m_send_sticker},
    {"sendVideoNote", m_send_video_note},
    {"sendLocation", m_send_location},
    {"sendVenue", m_send_venue},
    {"sendContact", m_send_contact},
    {"sendPoll", m_send_poll},
    {"sendDice", m_send_dice},
    {"editMessageText", m_edit_message_text},
    {"editMessageReplyMarkup", m_edit_other},
    {"editMessageCaption", m_edit_other},
    {"deleteMessage", m_delete_message},
    {"answerCallbackQuery", m_answer_callback_query},
    {"sendChatAction", m_chat_true},
    {"leaveChat", m_chat_true},
    {"getChat", m_get_chat},
    {"getMe", m_get_me},
    {"getUpdates", m_get_updates},
    {"setWebhook", m_set_webhook},
    {"deleteWebhook", m_delete_webhook},
    {"getWebhookInfo", m_get_webhook_info},
    {"setMyCommands", m_true},
    {"deleteMyCommands", m_true},
    {"getMyCommands", m_get_my_commands},
    {"createForumTopic", m_create_forum_topic},
    {"editForumTopic", m_edit_forum_topic},
    {"closeForumTopic", m_close_forum_topic},
    {"reopenForumTopic", m_reopen_forum_topic},
    {"deleteForumTopic", m_delete_forum_topic},
    {"logOut", m_true},
    {"close", m_true},
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* The index of a method in methods[], NMETHODS for an unknown one (or NULL). */
static size_t method_index(const char *name)
{
    size_t i = 0;
    while (name && i < NMETHODS && strcasecmp(methods[i].name, name) != 0)
        i++;
    return name ? i : NMETHODS;
}

/* ---- the Bot API endpoint --------------------------------------------------- */

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    json_t *obj = cls;
    int64_t n;
    json_t *v;
    if (!value)
        v = json_string("");
    else if (strnum_i64(value, INT64_MIN, INT64_MAX, &n) == 0)
        v = json_integer(n);
    else if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
        v = json_boolean(value[0] == 't');
    else if ((value[0] == '[' || value[0] == '{') && (v = json_loads(value, 0, NULL)) != NULL)
        ;
    else
        v = json_string(value);
    if (v)
        json_object_set_new(obj, key, v);
    return MHD_YES;
}

/* The value of parameter name (e.g. "boundary") in a header value, into out. */
static bool header_param(const char *value, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = value; (p = strchr(p, ';')) != NULL;) {
        p++;
        while (*p == ' ')
            p++;
        if (strncasecmp(p, name, n) != 0 || p[n] != '=')
            continue;
        p += n + 1;
        bool quoted = *p == '"';
        p += quoted;
        size_t len = quoted ? strcspn(p, "\"") : strcspn(p, "; ");
        if (len == 0 || len >= cap)
            return false;
        memcpy(out, p, len);
        out[len] = '\0';
        return true;
    }
    return false;
}

/* Finds needle (n bytes) in the len bytes at hay; NULL when absent. */
static const char *find_bytes(const char *hay, size_t len, const char *needle, size_t n)
{
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

/*
 * A multipart/form-data body (an upload, as sendDocument takes it) as
 * parameters: a field is a string; a file is {"filename", "content_type",
 * "content" (its bytes as text), "size"}. NULL when it does not parse.
 */
static json_t *multipart_params(const char *type, const char *body, size_t len)
{
    char boundary[128], delim[136];
    if (!header_param(type, "boundary", boundary, sizeof(boundary)))
        return NULL;
    int dn = snprintf(delim, sizeof(delim), "--%s", boundary);
    json_t *out = json_object();
    const char *end = body + len;
    const char *p = find_bytes(body, len, delim, (size_t)dn);
    while (out && p) {
        p += dn;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return out; /* the closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            break;
        p += 2;
        const char *hend = find_bytes(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend)
            break;
        char name[128] = "", filename[256] = "", ctype[128] = "";
        for (const char *line = p; line < hend;) {
            const char *eol = find_bytes(line, (size_t)(hend - line), "\r\n", 2);
            if (!eol)
                eol = hend;
            char h[1024];
            size_t hl = (size_t)(eol - line) < sizeof(h) - 1 ? (size_t)(eol - line) : sizeof(h) - 1;
            memcpy(h, line, hl);
            h[hl] = '\0';
            if (strncasecmp(h, "Content-Disposition:", 20) == 0) {
                header_param(h, "name", name, sizeof(name));
                header_param(h, "filename", filename, sizeof(filename));
            } else if (strncasecmp(h, "Content-Type:", 13) == 0) {
                const char *v = h + 13;
                while (*v == ' ')
                    v++;
                size_t vl = strlen(v) < sizeof(ctype) - 1 ? strlen(v) : sizeof(ctype) - 1;
                memcpy(ctype, v, vl);
                ctype[vl] = '\0';
            }
            line = eol + 2;
        }
        const char *data = hend + 4;
        char next[140];
        int nn = snprintf(next, sizeof(next), "\r\n%s", delim);
        const char *dend = find_bytes(data, (size_t)(end - data), next, (size_t)nn);
        if (!dend || !name[0])
            break;
        json_t *v = filename[0]
                        ? json_pack("{s:s,s:s,s:s%,s:I}", "filename", filename, "content_type",
                                    ctype, "content", data, (size_t)(dend - data), "size",
                                    (json_int_t)(dend - data))
                        : json_stringn(data, (size_t)(dend - data));
        if (!v)
            break;
        json_object_set_new(out, name, v);
        p = dend + 2;
    }
    json_decref(out);
    return NULL;
}

/*
 * The call's parameters, as Telegram reads them: a JSON object body when the
 * Content-Type says JSON, a multipart/form-data body's fields and files,
 * else the query arguments. *ret_bad_json is set for
 * a JSON body that does not parse or is not an object.
 */
static json_t *call_params(struct MHD_Connection *c, const struct req *r, bool *ret_bad_json)
{
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    *ret_bad_json = false;
    if (buf_len(&r->body) > 0 && type && strncasecmp(type, "application/json", 16) == 0) {
        json_t *j = json_loadb(buf_str(&r->body), buf_len(&r->body), 0, NULL);
        if (json_is_object(j))
            return j;
        json_decref(j);
        *ret_bad_json = true;
        return NULL;
    }
    if (buf_len(&r->body) > 0 && type && strncasecmp(type, "multipart/form-data", 19) == 0) {
        json_t *j = multipart_params(type, buf_str(&r->body), buf_len(&r->body));
        *ret_bad_json = j == NULL;
        return j;
    }
    json_t *q = json_object();
    if (q)
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_query_arg, q);
    if (q && json_object_size(q) == 0) {
        json_decref(q);
        return NULL;
    }
    return q;
}

/* Waits, with the connection open, until the client closes it, the stop or WAIT_MAX_MS. */
static void hang(struct fake *f, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    int64_t end = clock_mono_ms() + WAIT_MAX_MS;
    while (!atomic_load(&f->stop) && clock_mono_ms() < end) {
        if (fd < 0) {
            sleep_ms(f, 100);
            continue;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
        int n = poll(&pfd, 1, 100);
        if (n > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
            return;
    }
}

/*
 * --bench: a plain sendMessage ({"chat_id": integer, "text": string}, no
 * failure rule or latency set) answered without building JSON trees - the
 * same checks and the same answer as m_send_message(), at a fraction of the
 * fake's CPU. Returns false, nothing sent, for anything else.
 */
static bool bench_send_message(struct fake *f, struct MHD_Connection *c, const struct req *r,
                               const char *token, enum MHD_Result *ret)
{
    static const char *const keys[] = {"chat_id", "text", "parse_mode", "reply_markup"};
    struct js_span doc, v[4];
    int64_t chat;
    char text[4 * TEXT_MAX + 1];
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (too_big(r) || buf_len(&r->body) == 0 || !type ||
        strncasecmp(type, "application/json", 16) != 0 ||
        !js_valid(buf_str(&r->body), buf_len(&r->body), &doc) || !js_members(doc, keys, 4, v) ||
        !js_int64(v[0], &chat) || v[2].p || v[3].p)
        return false;
    long tlen = js_string(v[1], text, sizeof(text));
    if (tlen < 0 || (size_t)tlen >= sizeof(text) || memchr(text, '\0', (size_t)tlen) ||
        blank(text) || utf8_length(text) > TEXT_MAX)
        return false; /* m_send_message() says what is wrong */
    pthread_mutex_lock(&f->mu);
    bool plain = f->nrules == 0 && f->latency_ms == 0;
    int64_t id = plain ? next_message_id(f, chat) : 0;
    pthread_mutex_unlock(&f->mu);
    if (!plain)
        return false;
    record_call(f, token, "sendMessage", NULL, 200, NULL);
    size_t cap = v[1].n + 512;
    char *answer = malloc(cap);
    if (!answer) {
        *ret = MHD_NO;
        return true;
    }
    int n = snprintf(
        answer, cap,
        "{\"ok\":true,\"result\":{\"message_id\":%" PRId64 ",\"from\":{\"id\":%" PRId64
        ",\"is_bot\":true,\"first_name\":\"" BOT_NAME "\",\"username\":\"" BOT_USERNAME
        "\"},\"chat\":{\"id\":%" PRId64 ",\"type\":\"%s\"},\"date\":%lld,\"text\":%.*s}}",
        id, bot_id(token), chat, chat_type(chat), (long long)time(NULL), (int)v[1].n, v[1].p);
    *ret = respond_raw(c, 200, answer, (size_t)n, "application/json", 0);
    return true;
}

static enum MHD_Result handle_bot(struct fake *f, struct MHD_Connection *c, struct req *r,
                                  const char *path)
{
    t_arrived = clock_wall_s();
    /* path is "<token>/<method>" */
    const char *slash = strchr(path, '/');
    if (!slash || slash == path || !slash[1] || strchr(slash + 1, '/'))
        return respond_json(
            c, 404,
            json_pack("{s:b,s:i,s:s}", "ok", 0, "error_code", 404, "description", "Not Found"), 0);
    char token[256], mname[128];
    size_t tlen = (size_t)(slash - path);
    if (tlen >= sizeof(token) || strlen(slash + 1) >= sizeof(mname))
        return respond_json(
            c, 404,
            json_pack("{s:b,s:i,s:s}", "ok", 0, "error_code", 404, "description", "Not Found"), 0);
    memcpy(token, path, tlen);
    token[tlen] = '\0';
    copy_str(mname, sizeof(mname), slash + 1);

    method_fn fn = NULL;
    size_t mi = method_index(mname);
    if (mi < NMETHODS) {
        fn = methods[mi].fn;
        copy_str(mname, sizeof(mname), methods[mi].name);
    }
    enum MHD_Result fast;
    if (f->bench && fn == m_send_message &&
        (!f->required_token || strcmp(token, f->required_token) == 0) &&
        bench_send_message(f, c, r, token, &fast))
        return fast;

    bool bad_json = false;
    json_t *body = too_big(r) ? NULL : call_params(c, r, &bad_json);
    json_t *params = body ? json_incref(body) : json_object();

    int status = 200;
    const char *desc = NULL;
    char desc_buf[300];
    json_t *result = NULL, *parameters = NULL;
    int64_t retry_after = 0;
    struct rule rule;
    bool failing = false;

    if (f->required_token && strcmp(token, f->required_token) != 0) {
        status = 401;
        desc = "Unauthorized";
    } else {
        pthread_mutex_lock(&f->mu);
        failing = take_rule(f, mname, params, &rule);
        pthread_mutex_unlock(&f->mu);
    }

    if (failing && (rule.kind == FAIL_HANG || rule.kind == FAIL_CLOSE)) {
        record_call(f, token, mname, body, 0, NULL);
        json_decref(body);
        json_decref(params);
        if (rule.kind == FAIL_HANG)
            hang(f, c);
        return MHD_NO;
    }

    if (failing && rule.kind == FAIL_MIGRATE) {
        status = 400;
        desc = rule.description[0] ? rule.description
                                   : "Bad Request: group chat was upgraded to a supergroup chat";
        parameters = json_pack("{s:I}", "migrate_to_chat_id", (json_int_t)rule.migrate_to);
    } else if (failing) {
        status = rule.status;
        if (rule.description[0]) {
            desc = rule.description;
        } else if (status == 429) {
            snprintf(desc_buf, sizeof(desc_buf), "Too Many Requests: retry after %" PRId64,
                     rule.retry_after);
            desc = desc_buf;
        } else {
            desc = default_description(status);
        }
        if (status == 429) {
            retry_after = rule.retry_after;
            parameters = json_pack("{s:I}", "retry_after", (json_int_t)rule.retry_after);
        }
    } else if (status != 200) {
        /* unauthorized: desc is set */
    } else if (too_big(r)) {
        status = 413;
        desc = "Request Entity Too Large";
    } else if (bad_json) {
        status = 400;
        desc = "Bad Request: can't parse JSON object";
    } else if (!fn) {
        status = 404;
        desc = "Not Found";
    } else {
        status = business_call(f, fn, token, params, &result, &desc);
    }
    json_decref(params);

    int64_t latency;
    pthread_mutex_lock(&f->mu);
    latency = f->latency_ms;
    pthread_mutex_unlock(&f->mu);
    if (latency > 0)
        sleep_ms(f, latency);

    record_call(f, token, mname, body, status, status == 200 ? result : NULL);
    json_decref(body);

    if (failing && rule.kind == FAIL_STATUS && (status == 502 || status == 504) &&
        !rule.description[0]) {
        /* Telegram's front end answers these with an nginx HTML page, not JSON. */
        char page[256];
        int n = snprintf(page, sizeof(page),
                         "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d "
                         "%s</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n"
                         "</html>\r\n",
                         status, desc, status, desc);
        json_decref(parameters);
        char *s = strndup(page, (size_t)n);
        if (!s)
            return MHD_NO;
        return respond_raw(c, (unsigned)status, s, strlen(s), "text/html", 0);
    }

    json_t *answer;
    if (status == 200) {
        answer = json_pack("{s:b,s:o}", "ok", 1, "result", result ? result : json_true());
        if (desc)
            json_object_set_new(answer, "description", json_string(desc));
    } else {
        json_decref(result);
        answer = json_pack("{s:b,s:i,s:s}", "ok", 0, "error_code", status, "description",
                           desc ? desc : default_description(status));
        if (parameters)
            json_object_set_new(answer, "parameters", parameters);
    }
    return respond_json(c, (unsigned)status, answer, retry_after);
}

/* ---- the control API ------------------------------------------------------ */

static const char *usage_text =
    "fake-tg: a fake Telegram Bot API for tests and the local sandbox.\n"
    "\n"
    "Bot API:  POST /bot<TOKEN>/<method>  (JSON body, or GET with query arguments)\n"
    "\n"
    "Control API (JSON in and out):\n"
    "  GET  /control/calls[?method=M][&since=SEQ][&status=S]   recorded calls, oldest first\n"
    "  GET  /control/count[?method=M][&since=SEQ][&status=S][&min=N&timeout_ms=T]\n"
    "                                   {\"count\":n}; with min, waits until count >= min\n"
    "  GET  /control/stats              calls, connections, rules, queued updates, latency\n"
    "  POST /control/fail   "
    "{\"method\":\"sendMessage\"|\"*\",\"chat_id\":ID,\"mode\":\"429\"|\"500\"|\n"
    "                        "
    "\"502\"|\"403\"|\"400\"|\"migrate\"|\"hang\"|\"close\"|\"<4xx/5xx>\",\n"
    "                        \"count\":N|-1,\"retry_after\":S,\"migrate_to_chat_id\":ID,\n"
    "                        \"description\":\"...\"}\n"
    "  POST /control/fail/clear         forget every failure rule\n"
    "  POST /control/updates  [Update, ...] or Update   queue updates for getUpdates\n"
    "  POST /control/get_updates {\"max\":N}   one getUpdates answers up to N updates\n"
    "                        whatever limit it asked for (N up to 1000, beyond Telegram's\n"
    "                        100); 0, the default: the limit asked for, at most 100\n"
    "  POST /control/latency  {\"ms\":N}   delay every Bot API answer\n"
    "  POST /control/webhook_info {...}  fields merged into getWebhookInfo's result\n"
    "  POST /control/business {\"id\":ID,\"enabled\":bool,\"can_reply\":bool}   a business\n"
    "                        connection send* calls may name in business_connection_id\n"
    "  POST /control/reset              forget calls, rules, updates, latency, webhook,\n"
    "                                   get_updates max, forum topics,\n"
    "                                   business connections\n"
    "  GET  /control/topics             the forum topics made, deleted ones too\n"
    "  POST /control/topics/delete {\"chat_id\":C,\"message_thread_id\":T}   delete a\n"
    "                                   topic as staff would\n";

static enum MHD_Result add_filter_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    json_t *obj = cls;
    if (value)
        json_object_set_new(obj, key, json_string(value));
    return MHD_YES;
}

struct filter {
    const char *method;
    int64_t since;
    int64_t status; /* -1: any */
};

/* Reads method, since and status from the query; returns NULL or an error text. */
static const char *parse_filter(const json_t *q, struct filter *ret)
{
    ret->method = get_str(q, "method");
    ret->since = 0;
    ret->status = -1;
    const char *s = get_str(q, "since");
    if (s && strnum_i64(s, 0, INT64_MAX, &ret->since) != 0)
        return "since must be a sequence number";
    s = get_str(q, "status");
    if (s && strnum_i64(s, 0, 999, &ret->status) != 0)
        return "status must be an HTTP status";
    return NULL;
}

static bool filter_match(const struct filter *flt, const struct call *c)
{
    return c->seq > flt->since && (flt->status < 0 || c->status == flt->status) &&
           (!flt->method || strcasecmp(flt->method, c->method) == 0);
}

/* Calls of a method (all calls for NULL) counted with --bench. Called with f->mu held. */
static int64_t counted_calls(const struct fake *f, const char *method)
{
    if (method)
        return f->method_calls[method_index(method)];
    int64_t n = 0;
    for (size_t i = 0; i <= NMETHODS; i++)
        n += f->method_calls[i];
    return n;
}

static enum MHD_Result control_calls(struct fake *f, struct MHD_Connection *c, const json_t *q)
{
    if (f->bench)
        return control_error(c, 400, "fake-tg runs with --bench: it keeps no calls");
    struct filter flt;
    const char *bad = parse_filter(q, &flt);
    if (bad)
        return control_error(c, 400, bad);
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    buf_addc(&b, '[');
    pthread_mutex_lock(&f->mu);
    bool first = true;
    for (size_t i = 0; i < f->ncalls; i++) {
        if (!filter_match(&flt, &f->calls[i]))
            continue;
        if (!first)
            buf_addc(&b, ',');
        buf_addn(&b, f->calls[i].line, f->calls[i].len);
        first = false;
    }
    pthread_mutex_unlock(&f->mu);
    buf_addc(&b, ']');
    size_t len = buf_len(&b);
    char *text = buf_take(&b);
    if (!text)
        return control_error(c, 500, "out of memory");
    return respond_raw(c, 200, text, len, "application/json", 0);
}

static enum MHD_Result control_count(struct fake *f, struct MHD_Connection *c, const json_t *q)
{
    struct filter flt;
    const char *bad = parse_filter(q, &flt);
    int64_t min = -1, timeout_ms = 5000;
    const char *s = get_str(q, "min");
    if (!bad && s && strnum_i64(s, 0, INT64_MAX, &min) != 0)
        bad = "min must be a count";
    s = get_str(q, "timeout_ms");
    if (!bad && s && strnum_i64(s, 0, WAIT_MAX_MS, &timeout_ms) != 0)
        bad = "timeout_ms must be 0..300000";
    if (!bad && f->bench && (flt.since > 0 || flt.status >= 0 || min >= 0))
        bad = "fake-tg runs with --bench: calls are counted by method only, without waiting";
    if (bad)
        return control_error(c, 400, bad);

    struct timespec until;
    until = clock_deadline(CLOCK_MONOTONIC, timeout_ms);
    int64_t count = 0;
    size_t scanned = 0;
    pthread_mutex_lock(&f->mu);
    uint64_t gen = f->generation;
    for (;;) {
        if (gen != f->generation) {
            gen = f->generation;
            count = 0;
            scanned = 0;
        }
        if (f->bench)
            count = counted_calls(f, flt.method);
        for (; scanned < f->ncalls; scanned++)
            count += filter_match(&flt, &f->calls[scanned]);
        if (min < 0 || count >= min || atomic_load(&f->stop))
            break;
        if (pthread_cond_timedwait(&f->changed, &f->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&f->mu);
    return respond_json(c, 200, json_pack("{s:I}", "count", (json_int_t)count), 0);
}

static enum MHD_Result control_stats(struct fake *f, struct MHD_Connection *c)
{
    pthread_mutex_lock(&f->mu);
    json_t *j = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "calls_total", (json_int_t)f->total_calls,
        "calls_recorded", (json_int_t)f->ncalls, "calls_dropped", (json_int_t)f->dropped,
        "last_seq", (json_int_t)f->next_seq, "rules", (json_int_t)f->nrules, "queued_updates",
        (json_int_t)json_array_size(f->updates), "latency_ms", (json_int_t)f->latency_ms,
        "connections_total", (json_int_t)atomic_load(&f->conns_total));
    json_object_set_new(j, "connections_open", json_integer(atomic_load(&f->conns_open)));
    pthread_mutex_unlock(&f->mu);
    return respond_json(c, 200, j, 0);
}

static enum MHD_Result control_fail(struct fake *f, struct MHD_Connection *c, const json_t *b)
{
    struct rule r = {.remaining = 1, .retry_after = 1, .migrate_to = INT64_C(-1001234567890)};
    const char *method = get_str(b, "method");
    copy_str(r.method, sizeof(r.method), method && *method ? method : "*");
    if (json_object_get(b, "chat_id")) {
        if (!chat_key(b, "chat_id", &r.chat_id))
            return control_error(c, 400, "chat_id must be an integer or @username");
        r.has_chat = true;
    }
    json_t *mode = json_object_get(b, "mode");
    char mbuf[32] = "";
    if (json_is_integer(mode))
        snprintf(mbuf, sizeof(mbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(mode));
    else if (json_is_string(mode))
        copy_str(mbuf, sizeof(mbuf), json_string_value(mode));
    int64_t code;
    if (strcmp(mbuf, "migrate") == 0)
        r.kind = FAIL_MIGRATE;
    else if (strcmp(mbuf, "hang") == 0 && f->bench)
        return control_error(c, 400, "fake-tg runs with --bench: one thread, so no hang");
    else if (strcmp(mbuf, "hang") == 0)
        r.kind = FAIL_HANG;
    else if (strcmp(mbuf, "close") == 0)
        r.kind = FAIL_CLOSE;
    else if (strnum_i64(mbuf, 400, 599, &code) == 0)
        r.status = (int)code;
    else
        return control_error(c, 400,
                             "mode must be 429, 500, 502, 403, 400 (or another 4xx/5xx), "
                             "migrate, hang or close");
    if (json_object_get(b, "count") &&
        (!get_int(b, "count", &r.remaining) || r.remaining == 0 || r.remaining < -1))
        return control_error(c, 400, "count must be a positive integer or -1 (until cleared)");
    if (json_object_get(b, "retry_after") &&
        (!get_int(b, "retry_after", &r.retry_after) || r.retry_after < 0))
        return control_error(c, 400, "retry_after must be a number of seconds");
    if (json_object_get(b, "migrate_to_chat_id") &&
        !get_int(b, "migrate_to_chat_id", &r.migrate_to))
        return control_error(c, 400, "migrate_to_chat_id must be an integer");
    copy_str(r.description, sizeof(r.description), get_str(b, "description"));

    pthread_mutex_lock(&f->mu);
    struct rule *n = realloc(f->rules, (f->nrules + 1) * sizeof(*n));
    if (n) {
        f->rules = n;
        f->rules[f->nrules++] = r;
    }
    size_t count = f->nrules;
    pthread_mutex_unlock(&f->mu);
    if (!n)
        return control_error(c, 500, "out of memory");
    return respond_json(c, 200, json_pack("{s:b,s:I}", "ok", 1, "rules", (json_int_t)count), 0);
}

static enum MHD_Result control_updates(struct fake *f, struct MHD_Connection *c, json_t *b)
{
    json_t *list = json_is_array(b) ? json_incref(b) : json_pack("[O]", b);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *u = json_array_get(list, i);
        json_t *id = json_object_get(u, "update_id");
        if (!json_is_object(u) || (id && !json_is_integer(id))) {
            json_decref(list);
            return control_error(c, 400,
                                 "expected an Update object or an array of them (update_id, "
                                 "when given, an integer)");
        }
    }
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *u = json_deep_copy(json_array_get(list, i));
        json_t *id = json_object_get(u, "update_id");
        if (!id) {
            json_object_set_new(u, "update_id", json_integer(f->next_update_id++));
        } else if (json_integer_value(id) >= f->next_update_id) {
            f->next_update_id = json_integer_value(id) + 1;
        }
        json_array_append_new(f->updates, u);
    }
    size_t queued = json_array_size(f->updates);
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->mu);
    json_decref(list);
    return respond_json(c, 200, json_pack("{s:b,s:I}", "ok", 1, "queued", (json_int_t)queued), 0);
}

static void reset(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    clear_calls(f);
    free(f->rules);
    f->rules = NULL;
    f->nrules = 0;
    json_array_clear(f->updates);
    f->updates_max = 0;
    json_decref(f->webhook);
    f->webhook = NULL;
    json_object_clear(f->webhook_extra);
    f->latency_ms = 0;
    f->ntopics = 0;
    json_object_clear(f->business);
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->mu);
}

static enum MHD_Result handle_control(struct fake *f, struct MHD_Connection *c, struct req *r,
                                      const char *method, const char *what)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (get && (strcmp(what, "") == 0 || strcmp(what, "/") == 0))
        return respond_text(c, 200, usage_text);
    if (get && (strcmp(what, "/calls") == 0 || strcmp(what, "/count") == 0)) {
        json_t *q = json_object();
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_filter_arg, q);
        enum MHD_Result ret =
            strcmp(what, "/calls") == 0 ? control_calls(f, c, q) : control_count(f, c, q);
        json_decref(q);
        return ret;
    }
    if (get && strcmp(what, "/stats") == 0)
        return control_stats(f, c);
    if (get && strcmp(what, "/topics") == 0)
        return control_topics(f, c);
    if (!post)
        return control_error(c, 404, "not found: see GET /control");
    if (strcmp(what, "/reset") == 0) {
        reset(f);
        return respond_json(c, 200, json_pack("{s:b}", "ok", 1), 0);
    }
    if (strcmp(what, "/fail/clear") == 0) {
        pthread_mutex_lock(&f->mu);
        f->nrules = 0;
        pthread_mutex_unlock(&f->mu);
        return respond_json(c, 200, json_pack("{s:b}", "ok", 1), 0);
    }
    if (too_big(r))
        return control_error(c, 413, "body too large");
    json_error_t jerr;
    json_t *b = json_loadb(buf_str(&r->body), buf_len(&r->body), 0, &jerr);
    if (!b) {
        char msg[300];
        snprintf(msg, sizeof(msg), "body is not JSON: %s", jerr.text);
        return control_error(c, 400, msg);
    }
    enum MHD_Result ret;
    if (strcmp(what, "/updates") == 0) {
        ret = json_is_object(b) || json_is_array(b)
                  ? control_updates(f, c, b)
                  : control_error(c, 400, "expected an Update object or an array of them");
    } else if (!json_is_object(b)) {
        ret = control_error(c, 400, "expected a JSON object");
    } else if (strcmp(what, "/fail") == 0) {
        ret = control_fail(f, c, b);
    } else if (strcmp(what, "/topics/delete") == 0) {
        ret = control_topic_delete(f, c, b);
    } else if (strcmp(what, "/latency") == 0) {
        int64_t ms;
        if (!get_int(b, "ms", &ms) || ms < 0 || ms > WAIT_MAX_MS) {
            ret = control_error(c, 400, "ms must be 0..300000");
        } else {
            pthread_mutex_lock(&f->mu);
            f->latency_ms = ms;
            pthread_mutex_unlock(&f->mu);
            ret = respond_json(c, 200, json_pack("{s:b}", "ok", 1), 0);
        }
    } else if (strcmp(what, "/get_updates") == 0) {
        int64_t max;
        if (!get_int(b, "max", &max) || max < 0 || max > 1000) {
            ret = control_error(c, 400, "max must be 0..1000");
        } else {
            pthread_mutex_lock(&f->mu);
            f->updates_max = max;
            pthread_mutex_unlock(&f->mu);
            ret = respond_json(c, 200, json_pack("{s:b}", "ok", 1), 0);
        }
    } else if (strcmp(what, "/business") == 0) {
        ret = control_business(f, c, b);
    } else if (strcmp(what, "/webhook_info") == 0) {
        pthread_mutex_lock(&f->mu);
        json_object_update(f->webhook_extra, b);
        pthread_mutex_unlock(&f->mu);
        ret = respond_json(c, 200, json_pack("{s:b}", "ok", 1), 0);
    } else {
        ret = control_error(c, 404, "not found: see GET /control");
    }
    json_decref(b);
    return ret;
}

/* ---- libmicrohttpd glue ----------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct fake *f = cls;
    struct req *r = *con_cls;
    if (!r) {
        r = malloc(sizeof(*r));
        if (!r)
            return MHD_NO;
        buf_init(&r->body, BODY_MAX);
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        /* Past BODY_MAX the rest is read and dropped: the answer says too big. */
        return buf_addn(&r->body, upload_data, n) == -ENOMEM ? MHD_NO : MHD_YES;
    }

    if (strncmp(url, "/bot", 4) == 0)
        return handle_bot(f, c, r, url + 4);
    if (strncmp(url, "/control", 8) == 0 && (url[8] == '\0' || url[8] == '/'))
        return handle_control(f, c, r, method, url + 8);
    if (strcmp(url, "/") == 0)
        return respond_text(c, 200, usage_text);
    return respond_json(
        c, 404, json_pack("{s:b,s:i,s:s}", "ok", 0, "error_code", 404, "description", "Not Found"),
        0);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;
    if (r) {
        buf_free(&r->body);
        free(r);
        *con_cls = NULL;
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct fake *f = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&f->conns_total, 1);
        atomic_fetch_add(&f->conns_open, 1);
    } else {
        atomic_fetch_sub(&f->conns_open, 1);
    }
}

/* libmicrohttpd's messages, without the one every "hang" and "close" causes. */
static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (strncmp(msg, "Application reported internal error", 35) == 0)
        return;
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    fprintf(stderr, "fake-tg: libmicrohttpd: %s\n", msg);
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fake-tg [--port N] [--listen ADDR] [--record FILE] [--token TOKEN] "
            "[--verbose] [--bench]\n"
            "  --port N        TCP port, 0 (default) for any free port\n"
            "  --listen ADDR   IPv4 or IPv6 address to listen on (default 127.0.0.1)\n"
            "  --record FILE   also append every Bot API call to FILE as a JSON line\n"
            "  --token TOKEN   accept only this bot token (others get 401 Unauthorized)\n"
            "  --verbose       print every call on stderr\n"
            "  --bench         for the benchmark: one thread serves every connection,\n"
            "                  calls are counted by method, not kept (/control/count\n"
            "                  takes only ?method=, /control/calls is off), no hang\n"
            "\n%s",
            usage_text);
}

int main(int argc, char **argv)
{
    int64_t port = 0;
    const char *listen_addr = "127.0.0.1", *record = NULL, *token = NULL;
    bool verbose = false, bench = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            verbose = true;
        } else if (strcmp(a, "--bench") == 0) {
            bench = true;
        } else if (strcmp(a, "--port") == 0 && has_value) {
            if (strnum_i64(argv[++i], 0, 65535, &port) != 0) {
                fprintf(stderr, "fake-tg: --port must be 0..65535, not %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--listen") == 0 && has_value) {
            listen_addr = argv[++i];
        } else if (strcmp(a, "--record") == 0 && has_value) {
            record = argv[++i];
        } else if (strcmp(a, "--token") == 0 && has_value) {
            token = argv[++i];
        } else {
            fprintf(stderr, "fake-tg: unknown or incomplete option %s (see --help)\n", a);
            return 2;
        }
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (bench)
        flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    bool v6 = false;
    if (inet_pton(AF_INET, listen_addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, listen_addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
        v6 = true;
    } else {
        fprintf(stderr, "fake-tg: --listen %s is not an IP address\n", listen_addr);
        return 2;
    }

    struct fake f = {.record_fd = -1, .verbose = verbose, .required_token = token, .bench = bench};
    if (bench && (record || verbose)) {
        fprintf(stderr, "fake-tg: --bench keeps no calls to --record or print (--verbose)\n");
        return 2;
    }
    if (bench && !(f.method_calls = calloc(NMETHODS + 1, sizeof(*f.method_calls)))) {
        fprintf(stderr, "fake-tg: out of memory\n");
        return 1;
    }
    if (record) {
        f.record_fd = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (f.record_fd < 0) {
            fprintf(stderr, "fake-tg: cannot open %s: %s\n", record, strerror(errno));
            return 1;
        }
    }
    json_object_seed(0);
    pthread_mutex_init(&f.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f.changed, &ca);
    pthread_condattr_destroy(&ca);
    f.updates = json_array();
    f.webhook_extra = json_object();
    f.business = json_object();
    f.next_update_id = 1;

    /* The signals are taken by sigwait below; every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &f, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
        MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &f,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, &f, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)1000, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake-tg: cannot listen on %s port %" PRId64 "\n", listen_addr, port);
        rc = 1;
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("fake-tg listening on http://%s%s%s:%u\n", v6 ? "[" : "", listen_addr, v6 ? "]" : "",
           info ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);

    int sig;
    while (sigwait(&sigs, &sig) != 0)
        ;
    atomic_store(&f.stop, true);
    pthread_mutex_lock(&f.mu);
    pthread_cond_broadcast(&f.changed);
    pthread_mutex_unlock(&f.mu);
    MHD_stop_daemon(d);

out:
    clear_calls(&f);
    free(f.rules);
    free(f.counters);
    free(f.method_calls);
    free(f.topics);
    json_decref(f.updates);
    json_decref(f.webhook);
    json_decref(f.webhook_extra);
    json_decref(f.business);
    pthread_cond_destroy(&f.changed);
    pthread_mutex_destroy(&f.mu);
    if (f.record_fd >= 0)
        close(f.record_fd);
    return rc;
}
