/*
 * update.c - Telegram Update parsing (see update.h).
 *
 * util/jscan judges the body as jansson's json_loadb() with JSON_ALLOW_NUL |
 * JSON_REJECT_DUPLICATES did, to the error and its byte, and then the walk
 * reads the members it needs straight out of the text: no tree is built and
 * freed for the ten or so values a desk reads. (jansson cost ~59,000
 * instructions per update, almost all building and freeing its tree.)
 *
 * Strings in the body are escaped and not terminated, so every one exposed is
 * copied: the walk records them as pending, and after it one allocation, the
 * arena, receives each unescaped and cleaned (NUL bytes removed, invalid
 * UTF-8 replaced by U+FFFD), plus the bot name of a "/cmd@bot" command.
 *
 * Known fields of the wrong type make the update malformed; entities are only
 * hints for finding a command, so malformed entities are skipped instead.
 * The checks run in a fixed order, which decides the reason given when an
 * update has several faults.
 */
#include "update.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jscan.h"

/* Telegram's update ids are below 2^53 (they must survive a JavaScript double). */
#define UPDATE_ID_MAX (INT64_C(1) << 53)
/* Bot usernames are at most 32 characters. */
#define BOT_NAME_MAX 32
/* More than the strings any one kind exposes (a business message exposes 12). */
#define PENDING_MAX 16

/* A string to copy into the arena. */
struct pending {
    const char **field;
    struct js_span v;
    bool esc;    /* has escapes: unescaped into scratch space, then cleaned */
    bool raw;    /* a JSON value copied as its text, not a string unescaped */
    bool *dirty; /* where to note that cleaning changed it, or NULL */
};

struct parse_ctx {
    const char *root; /* path prefix for error reasons: "message", ... */
    char *err;
    size_t cap;
    struct pending pending[PENDING_MAX];
    size_t npending;
    size_t arena_size;   /* room for the pending strings, each terminated */
    size_t scratch_size; /* room to unescape the longest one with escapes */
    /* the message text (or caption) and the entities to find a command by */
    bool has_text;
    struct js_span entities;
    /* deleted_business_messages: the message_ids array, copied to the arena */
    struct js_span ids;
    size_t nids;
    const int64_t **ids_field;
};

/* A bot command found at the start of a text; offsets are bytes. */
struct command {
    size_t name_len; /* 0: not a command; the name starts at offset 1 */
    size_t bot_off;
    size_t bot_len; /* 0: no "@bot" */
    size_t args_off;
};

static const char REPLACEMENT_CHAR[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* ---- errors ------------------------------------------------------------ */

/* Formats a reason into the caller's buffer, when there is one. */
__attribute__((format(printf, 2, 3))) static void set_err(struct parse_ctx *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->err || c->cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(c->err, c->cap, fmt, ap);
    va_end(ap);
}

/*
 * Writes "<root><obj>.<key>: <problem>" into the caller's buffer and returns
 * -EINVAL. obj is "" or starts with '.'; every part is a literal of this
 * file, so the reason never carries text from the update.
 */
static int malformed(struct parse_ctx *c, const char *obj, const char *key, const char *problem)
{
    bool has_path = c->root[0] || obj[0];
    const char *sep = has_path && key[0] ? "." : "";
    const char *colon = has_path || key[0] ? ": " : "";

    set_err(c, "%s%s%s%s%s%s", c->root, obj, sep, key, colon, problem);
    return -EINVAL;
}

/* Maps a load error to a fixed reason, with the byte jansson would name. */
static int load_error(struct parse_ctx *c, enum js_error e, size_t pos)
{
    const char *what;
    int r = -EINVAL;

    switch (e) {
    case JS_ENOMEM:
        what = "out of memory";
        r = -ENOMEM;
        break;
    case JS_EDEPTH:
        what = "JSON nested too deeply";
        break;
    case JS_EUTF8:
        what = "invalid UTF-8";
        break;
    case JS_ETRUNCATED:
        what = "truncated JSON";
        break;
    case JS_ETRAILING:
        what = "data after the JSON value";
        break;
    case JS_EDUPLICATE:
        what = "duplicate object key";
        break;
    case JS_ERANGE:
        what = "number out of range";
        break;
    case JS_ENULKEY:
        what = "NUL byte in an object key";
        break;
    default:
        what = "not JSON";
        break;
    }
    set_err(c, "%s (byte %zu)", what, pos);
    return r;
}

/* ---- strings ----------------------------------------------------------- */

/*
 * Copies src[0..len) into dst (when dst is not NULL) without NUL bytes and
 * with every maximal ill-formed subsequence replaced by U+FFFD (Unicode's
 * recommended practice, Table 3-7 for well-formed sequences). Returns the
 * length of the result, which is not terminated; *ret_dirty is set when it
 * differs from the input.
 */
static size_t clean_utf8(const char *src, size_t len, char *dst, bool *ret_dirty)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, out = 0;
    bool dirty = false;

    while (i < len) {
        unsigned char b = s[i];
        unsigned char lo = 0x80, hi = 0xBF;
        size_t need = 0, k;

        if (b != 0 && b < 0x80) {
            if (dst)
                dst[out] = (char)b;
            out++;
            i++;
            continue;
        }
        if (b == 0) {
            dirty = true;
            i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            if (b == 0xE0)
                lo = 0xA0; /* overlong */
            else if (b == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            if (b == 0xF0)
                lo = 0x90; /* overlong */
            else if (b == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        }
        for (k = 1; k <= need && i + k < len; k++) {
            unsigned char cb = s[i + k];
            if (cb < (k == 1 ? lo : 0x80) || cb > (k == 1 ? hi : 0xBF))
                break;
        }
        if (need > 0 && k == need + 1) {
            if (dst)
                memcpy(dst + out, s + i, need + 1);
            out += need + 1;
            i += need + 1;
            continue;
        }
        /* the lead byte and the k - 1 continuation bytes that fitted */
        dirty = true;
        if (dst)
            memcpy(dst + out, REPLACEMENT_CHAR, 3);
        out += 3;
        i += k;
    }
    *ret_dirty = dirty;
    return out;
}

/* Records the string v for a copy in the arena; *field is set then. */
static int take_string(struct parse_ctx *c, struct js_span v, const char **field, bool *dirty)
{
    size_t room = v.n - 1; /* unescaping never lengthens the text between the quotes */
    bool esc = memchr(v.p + 1, '\\', v.n - 2) != NULL;

    if (c->npending == PENDING_MAX)
        return malformed(c, "", "", "too many strings to clean"); /* a bug, not bad input */
    c->pending[c->npending++] =
        (struct pending){.field = field, .v = v, .esc = esc, .dirty = dirty};
    c->arena_size += room;
    if (esc && room > c->scratch_size)
        c->scratch_size = room;
    return 0;
}

/* Records the JSON text of value v (an object, say) for a copy in the arena. */
static int take_raw(struct parse_ctx *c, struct js_span v, const char **field)
{
    if (c->npending == PENDING_MAX)
        return malformed(c, "", "", "too many strings to clean"); /* a bug, not bad input */
    c->pending[c->npending++] = (struct pending){.field = field, .v = v, .raw = true};
    c->arena_size += v.n + 1;
    return 0;
}

/* true when v is a JSON string equal to lit (embedded NUL bytes never match). */
static bool str_eq(struct js_span v, const char *lit)
{
    size_t n = strlen(lit);
    char buf[16];

    if (js_type(v) != JS_STRING || v.n - 2 < n)
        return false;
    if (v.n - 2 == n && memcmp(v.p + 1, lit, n) == 0)
        return true;
    /* escaped: "\u0070rivate" is "private"; an escape is at most 6 bytes */
    if (n >= sizeof(buf) || v.n - 2 > 6 * n || !memchr(v.p + 1, '\\', v.n - 2))
        return false;
    return js_string(v, buf, sizeof(buf)) == (long)n && memcmp(buf, lit, n) == 0;
}

/* ---- typed members ------------------------------------------------------ */

/*
 * The members keys[] of obj into out[], absent (p NULL) when missing or JSON
 * null; all absent when obj is absent. obj was checked to be an object.
 */
static void members(struct js_span obj, const char *const *keys, size_t n, struct js_span *out)
{
    size_t i;

    js_members(obj, keys, n, out);
    for (i = 0; i < n; i++)
        if (js_type(out[i]) == JS_NULL)
            out[i] = (struct js_span){NULL, 0};
}

static int get_int(struct parse_ctx *c, struct js_span v, const char *where, const char *key,
                   bool required, int64_t *ret)
{
    if (!v.p)
        return required ? malformed(c, where, key, "missing") : 0;
    if (!js_int64(v, ret))
        return malformed(c, where, key, "not an integer");
    return 0;
}

static int get_bool(struct parse_ctx *c, struct js_span v, const char *where, const char *key,
                    bool *ret)
{
    enum js_type t = js_type(v);

    if (!v.p)
        return 0;
    if (t != JS_TRUE && t != JS_FALSE)
        return malformed(c, where, key, "not a boolean");
    *ret = t == JS_TRUE;
    return 0;
}

static int get_string(struct parse_ctx *c, struct js_span v, const char *where, const char *key,
                      bool required, const char **field)
{
    if (!v.p)
        return required ? malformed(c, where, key, "missing") : 0;
    if (js_type(v) != JS_STRING)
        return malformed(c, where, key, "not a string");
    return take_string(c, v, field, NULL);
}

/* Checks that v, member key of an object at where, is an object when present. */
static int get_object(struct parse_ctx *c, struct js_span v, const char *where, const char *key,
                      bool required)
{
    if (!v.p)
        return required ? malformed(c, where, key, "missing") : 0;
    if (js_type(v) != JS_OBJECT)
        return malformed(c, where, key, "not an object");
    return 0;
}

/* ---- Telegram objects --------------------------------------------------- */

enum { USER_ID, USER_IS_BOT, USER_FIRST, USER_LAST, USER_USERNAME, USER_LANGUAGE, USER_KEYS };
static const char *const user_keys[USER_KEYS] = {
    "id", "is_bot", "first_name", "last_name", "username", "language_code",
};

/*
 * The User v, member key of an object at parent; where is the path of the
 * user, for error reasons. Reads the names only when wanted.
 */
static int parse_user(struct parse_ctx *c, struct js_span v, const char *parent, const char *key,
                      const char *where, bool required, bool names, struct tg_user *user,
                      bool *ret_present)
{
    struct js_span m[USER_KEYS];
    int r;

    if ((r = get_object(c, v, parent, key, required)) < 0)
        return r;
    if (ret_present)
        *ret_present = v.p != NULL;
    if (!v.p)
        return 0;
    members(v, user_keys, names ? USER_KEYS : 1, m);
    if ((r = get_int(c, m[USER_ID], where, "id", true, &user->id)) < 0)
        return r;
    if (!names)
        return 0;
    if ((r = get_bool(c, m[USER_IS_BOT], where, "is_bot", &user->is_bot)) < 0 ||
        (r = get_string(c, m[USER_FIRST], where, "first_name", false, &user->first_name)) < 0 ||
        (r = get_string(c, m[USER_LAST], where, "last_name", false, &user->last_name)) < 0 ||
        (r = get_string(c, m[USER_USERNAME], where, "username", false, &user->username)) < 0 ||
        (r = get_string(c, m[USER_LANGUAGE], where, "language_code", false, &user->language_code)) <
            0)
        return r;
    return 0;
}

static enum tg_chat_type chat_type(struct js_span v)
{
    if (str_eq(v, "private"))
        return TG_CHAT_PRIVATE;
    if (str_eq(v, "group"))
        return TG_CHAT_GROUP;
    if (str_eq(v, "supergroup"))
        return TG_CHAT_SUPERGROUP;
    if (str_eq(v, "channel"))
        return TG_CHAT_CHANNEL;
    return TG_CHAT_UNKNOWN;
}

enum { CHAT_ID, CHAT_TYPE, CHAT_TITLE, CHAT_USERNAME, CHAT_KEYS };
static const char *const chat_keys[CHAT_KEYS] = {"id", "type", "title", "username"};

/* The Chat v, member "chat" of an object; where is the path of "chat" itself. */
static int parse_chat(struct parse_ctx *c, struct js_span v, const char *where,
                      struct tg_chat *chat)
{
    struct js_span m[CHAT_KEYS];
    int r;

    if ((r = get_object(c, v, "", "chat", true)) < 0)
        return r;
    members(v, chat_keys, CHAT_KEYS, m);
    if ((r = get_int(c, m[CHAT_ID], where, "id", true, &chat->id)) < 0)
        return r;
    if (!m[CHAT_TYPE].p)
        return malformed(c, where, "type", "missing");
    if (js_type(m[CHAT_TYPE]) != JS_STRING)
        return malformed(c, where, "type", "not a string");
    chat->type = chat_type(m[CHAT_TYPE]);
    if ((r = get_string(c, m[CHAT_TITLE], where, "title", false, &chat->title)) < 0 ||
        (r = get_string(c, m[CHAT_USERNAME], where, "username", false, &chat->username)) < 0)
        return r;
    return 0;
}

enum { PHOTO_WIDTH, PHOTO_HEIGHT, PHOTO_FILE_ID, PHOTO_KEYS };
static const char *const photo_keys[PHOTO_KEYS] = {"width", "height", "file_id"};

/* Area of a photo size, for choosing the largest; absurd sizes are clamped. */
static int photo_area(struct parse_ctx *c, const struct js_span *m, uint64_t *ret)
{
    int64_t w = 0, h = 0;
    int r;

    if ((r = get_int(c, m[PHOTO_WIDTH], ".photo[]", "width", false, &w)) < 0 ||
        (r = get_int(c, m[PHOTO_HEIGHT], ".photo[]", "height", false, &h)) < 0)
        return r;
    w = w < 0 ? 0 : w > INT32_MAX ? INT32_MAX : w;
    h = h < 0 ? 0 : h > INT32_MAX ? INT32_MAX : h;
    *ret = (uint64_t)w * (uint64_t)h;
    return 0;
}

static int parse_photo(struct parse_ctx *c, struct js_span photo, struct tg_message *msg)
{
    struct js_span size = {NULL, 0}, best = {NULL, 0}, best_file_id = {NULL, 0};
    uint64_t best_area = 0;
    int r;

    if (js_type(photo) != JS_ARRAY)
        return malformed(c, "", "photo", "not an array");
    while (js_next(photo, &size)) {
        struct js_span m[PHOTO_KEYS];
        uint64_t area;

        if (js_type(size) != JS_OBJECT)
            return malformed(c, ".photo[]", "", "not an object");
        members(size, photo_keys, PHOTO_KEYS, m);
        if ((r = photo_area(c, m, &area)) < 0)
            return r;
        /* >=: Telegram lists sizes smallest first, so ties go to the later one */
        if (!best.p || area >= best_area) {
            best = size;
            best_file_id = m[PHOTO_FILE_ID];
            best_area = area;
        }
    }
    if (!best.p)
        return 0; /* no sizes: treated as no photo */
    if ((r = get_string(c, best_file_id, ".photo[]", "file_id", true, &msg->file_id)) < 0)
        return r;
    msg->media = TG_MEDIA_PHOTO;
    return 0;
}

/* The members of a Message this file reads. */
enum {
    MSG_MESSAGE_ID,
    MSG_DATE,
    MSG_EDIT_DATE,
    MSG_MIGRATE_TO,
    MSG_CHAT,
    MSG_FROM,
    MSG_TEXT,
    MSG_CAPTION,
    MSG_ENTITIES,
    MSG_CAPTION_ENTITIES,
    MSG_PHOTO,
    MSG_ANIMATION, /* media_keys[] in its order */
    MSG_DOCUMENT,
    MSG_VOICE,
    MSG_VIDEO,
    MSG_STICKER,
    MSG_AUDIO,
    MSG_VIDEO_NOTE,
    MSG_MEDIA_GROUP_ID,
    MSG_REPLY_TO,
    MSG_THREAD_ID,
    MSG_IS_TOPIC,
    MSG_KEYS,
};
static const char *const message_keys[MSG_KEYS] = {
    "message_id",
    "date",
    "edit_date",
    "migrate_to_chat_id",
    "chat",
    "from",
    "text",
    "caption",
    "entities",
    "caption_entities",
    "photo",
    "animation",
    "document",
    "voice",
    "video",
    "sticker",
    "audio",
    "video_note",
    "media_group_id",
    "reply_to_message",
    "message_thread_id",
    "is_topic_message",
};

/* Service messages about forum topics; looked for in topic messages only
 * (general_forum_topic_* arrive in the General topic, where a message
 * without text or media is nothing to the desk anyway). */
static const char *const forum_service_keys[] = {
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
};
#define FORUM_SERVICE_KEYS (sizeof(forum_service_keys) / sizeof(forum_service_keys[0]))

/* Keys of the media objects carrying a file_id; animation before document
 * because an animation message carries both. */
static const struct {
    const char *key;
    const char *where;
    enum tg_media media;
} media_keys[] = {
    {"animation", ".animation", TG_MEDIA_ANIMATION},
    {"document", ".document", TG_MEDIA_DOCUMENT},
    {"voice", ".voice", TG_MEDIA_VOICE},
    {"video", ".video", TG_MEDIA_VIDEO},
    {"sticker", ".sticker", TG_MEDIA_STICKER},
    {"audio", ".audio", TG_MEDIA_AUDIO},
    {"video_note", ".video_note", TG_MEDIA_VIDEO_NOTE},
};

static const char *const file_id_key[] = {"file_id"};

/* m: the members of the message. */
static int parse_media(struct parse_ctx *c, const struct js_span *m, struct tg_message *msg)
{
    size_t i;
    int r;

    if (m[MSG_PHOTO].p) {
        if ((r = parse_photo(c, m[MSG_PHOTO], msg)) < 0)
            return r;
        if (msg->media != TG_MEDIA_NONE)
            return 0;
    }
    for (i = 0; i < sizeof(media_keys) / sizeof(media_keys[0]); i++) {
        struct js_span v = m[MSG_ANIMATION + i], file_id;

        if ((r = get_object(c, v, "", media_keys[i].key, false)) < 0)
            return r;
        if (!v.p)
            continue;
        members(v, file_id_key, 1, &file_id);
        if ((r = get_string(c, file_id, media_keys[i].where, "file_id", true, &msg->file_id)) < 0)
            return r;
        msg->media = media_keys[i].media;
        return 0;
    }
    return 0;
}

/*
 * What a message without text and without a file may hold, looked for only
 * then (so an ordinary message pays nothing for the list): first the
 * content a person can send, each a JSON object (venue before location: a
 * venue carries both), then the fields of service messages, which nobody
 * wrote. (Bot API 9.x; a field newer than this list makes a message of kind
 * OTHER, which is copied to staff rather than lost.)
 */
static const struct {
    const char *key;
    enum tg_media media;
} content_keys[] = {
    {"venue", TG_MEDIA_VENUE},       {"location", TG_MEDIA_LOCATION},
    {"contact", TG_MEDIA_CONTACT},   {"poll", TG_MEDIA_POLL},
    {"dice", TG_MEDIA_DICE},         {"story", TG_MEDIA_STORY},
    {"game", TG_MEDIA_GAME},         {"checklist", TG_MEDIA_CHECKLIST},
    {"invoice", TG_MEDIA_INVOICE},   {"paid_media", TG_MEDIA_PAID_MEDIA},
    {"giveaway", TG_MEDIA_GIVEAWAY}, {"giveaway_winners", TG_MEDIA_GIVEAWAY_WINNERS},
};
#define CONTENT_KEYS (sizeof(content_keys) / sizeof(content_keys[0]))

/* content_keys[] in its order, then the service fields. */
static const char *const extra_keys[] = {
    "venue",
    "location",
    "contact",
    "poll",
    "dice",
    "story",
    "game",
    "checklist",
    "invoice",
    "paid_media",
    "giveaway",
    "giveaway_winners",
    /* service messages */
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "successful_payment",
    "refunded_payment",
    "users_shared",
    "chat_shared",
    "gift",
    "unique_gift",
    "connected_website",
    "write_access_allowed",
    "passport_data",
    "proximity_alert_triggered",
    "boost_added",
    "chat_background_set",
    "checklist_tasks_done",
    "checklist_tasks_added",
    "direct_message_price_changed",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "giveaway_created",
    "giveaway_completed",
    "paid_message_price_changed",
    "suggested_post_approved",
    "suggested_post_approval_failed",
    "suggested_post_declined",
    "suggested_post_paid",
    "suggested_post_refunded",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
    "web_app_data",
};
#define EXTRA_KEYS (sizeof(extra_keys) / sizeof(extra_keys[0]))

/*
 * A message with no text and no file (a caption may be there: paid media
 * has one): its content kind and the JSON of that content, or that it is a
 * service message, or else kind OTHER.
 */
static int parse_content(struct parse_ctx *c, struct js_span v, struct tg_message *msg)
{
    struct js_span m[EXTRA_KEYS];
    size_t i;
    int r;

    members(v, extra_keys, EXTRA_KEYS, m);
    for (i = 0; i < CONTENT_KEYS; i++) {
        if (!m[i].p)
            continue;
        if ((r = get_object(c, m[i], "", content_keys[i].key, false)) < 0 ||
            (r = take_raw(c, m[i], &msg->content)) < 0)
            return r;
        msg->media = content_keys[i].media;
        return 0;
    }
    for (; i < EXTRA_KEYS; i++)
        if (m[i].p) {
            msg->is_service = true;
            return 0;
        }
    /* A group's migrate_to_chat_id of 0 (or null) is no service field. */
    msg->media = TG_MEDIA_OTHER;
    return 0;
}

enum { REPLY_MESSAGE_ID, REPLY_FROM, REPLY_KEYS };
static const char *const reply_keys[REPLY_KEYS] = {"message_id", "from"};

static int parse_reply_to(struct parse_ctx *c, struct js_span v, struct tg_message *msg)
{
    struct js_span m[REPLY_KEYS];
    struct tg_user from = {0};
    int r;

    if ((r = get_object(c, v, "", "reply_to_message", false)) < 0)
        return r;
    if (!v.p)
        return 0;
    members(v, reply_keys, REPLY_KEYS, m);
    if ((r = get_int(c, m[REPLY_MESSAGE_ID], ".reply_to_message", "message_id", true,
                     &msg->reply_to_message_id)) < 0 ||
        (r = parse_user(c, m[REPLY_FROM], ".reply_to_message", "from", ".reply_to_message.from",
                        false, false, &from, NULL)) < 0)
        return r;
    msg->has_reply_to = true;
    msg->reply_to_from_id = from.id;
    return 0;
}

/* A Message (also an edited message or a channel post). */
static int parse_message(struct parse_ctx *c, struct js_span v, struct tg_message *msg)
{
    struct js_span m[MSG_KEYS], text;
    int r;

    if (js_type(v) != JS_OBJECT)
        return malformed(c, "", "", "not an object");
    members(v, message_keys, MSG_KEYS, m);
    if ((r = get_int(c, m[MSG_MESSAGE_ID], "", "message_id", true, &msg->message_id)) < 0 ||
        (r = get_int(c, m[MSG_DATE], "", "date", true, &msg->date)) < 0 ||
        (r = get_int(c, m[MSG_EDIT_DATE], "", "edit_date", false, &msg->edit_date)) < 0 ||
        (r = get_int(c, m[MSG_MIGRATE_TO], "", "migrate_to_chat_id", false,
                     &msg->migrate_to_chat_id)) < 0 ||
        (r = parse_chat(c, m[MSG_CHAT], ".chat", &msg->chat)) < 0 ||
        (r = parse_user(c, m[MSG_FROM], "", "from", ".from", false, true, &msg->from,
                        &msg->has_from)) < 0)
        return r;

    text = m[MSG_TEXT];
    if (!text.p && (text = m[MSG_CAPTION]).p != NULL)
        msg->text_is_caption = true;
    if (text.p) {
        if (js_type(text) != JS_STRING)
            return malformed(c, "", msg->text_is_caption ? "caption" : "text", "not a string");
        if ((r = take_string(c, text, &msg->text, &msg->text_was_cleaned)) < 0)
            return r;
        c->has_text = true;
        c->entities = m[msg->text_is_caption ? MSG_CAPTION_ENTITIES : MSG_ENTITIES];
        if (js_type(c->entities) != JS_ARRAY)
            c->entities = (struct js_span){NULL, 0}; /* a hint only: unusable means absent */
    }

    if ((r = parse_media(c, m, msg)) < 0 ||
        (r = get_string(c, m[MSG_MEDIA_GROUP_ID], "", "media_group_id", false,
                        &msg->media_group_id)) < 0 ||
        (r = parse_reply_to(c, m[MSG_REPLY_TO], msg)) < 0 ||
        (r = get_bool(c, m[MSG_IS_TOPIC], "", "is_topic_message", &msg->is_topic_message)) < 0 ||
        (r = get_int(c, m[MSG_THREAD_ID], "", "message_thread_id", false,
                     &msg->message_thread_id)) < 0)
        return r;
    if (!msg->is_topic_message) {
        msg->message_thread_id = 0; /* a reply thread, not a topic */
    } else {
        struct js_span f[FORUM_SERVICE_KEYS];
        members(v, forum_service_keys, FORUM_SERVICE_KEYS, f);
        for (size_t i = 0; i < FORUM_SERVICE_KEYS; i++)
            msg->forum_service = msg->forum_service || f[i].p != NULL;
    }
    if (!m[MSG_TEXT].p && msg->media == TG_MEDIA_NONE)
        return parse_content(c, v, msg);
    return 0;
}

/* ---- Telegram Business -------------------------------------------------- */

enum { BM_CONNECTION, BM_SENDER_BOT, BM_KEYS };
static const char *const business_message_keys[BM_KEYS] = {
    "business_connection_id",
    "sender_business_bot",
};

/* What a business_message adds to a Message: its connection, and the bot
 * that sent it for the business account (an outgoing message). */
static int parse_business_message(struct parse_ctx *c, struct js_span v, struct tg_message *msg)
{
    struct js_span m[BM_KEYS];
    struct tg_user bot = {0};
    int r;

    members(v, business_message_keys, BM_KEYS, m);
    if ((r = get_string(c, m[BM_CONNECTION], "", "business_connection_id", true,
                        &msg->business_connection_id)) < 0 ||
        (r = parse_user(c, m[BM_SENDER_BOT], "", "sender_business_bot", ".sender_business_bot",
                        false, false, &bot, NULL)) < 0)
        return r;
    msg->sender_business_bot_id = bot.id;
    return 0;
}

enum { BC_ID, BC_USER, BC_USER_CHAT_ID, BC_DATE, BC_IS_ENABLED, BC_CAN_REPLY, BC_RIGHTS, BC_KEYS };
static const char *const business_connection_keys[BC_KEYS] = {
    "id", "user", "user_chat_id", "date", "is_enabled", "can_reply", "rights",
};
static const char *const can_reply_key[] = {"can_reply"};

static int parse_business_connection(struct parse_ctx *c, struct js_span v,
                                     struct tg_business_connection *bc)
{
    struct js_span m[BC_KEYS], can_reply;
    int r;

    if (js_type(v) != JS_OBJECT)
        return malformed(c, "", "", "not an object");
    members(v, business_connection_keys, BC_KEYS, m);
    if ((r = get_string(c, m[BC_ID], "", "id", true, &bc->id)) < 0 ||
        (r = parse_user(c, m[BC_USER], "", "user", ".user", true, true, &bc->user, NULL)) < 0 ||
        (r = get_int(c, m[BC_USER_CHAT_ID], "", "user_chat_id", true, &bc->user_chat_id)) < 0 ||
        (r = get_int(c, m[BC_DATE], "", "date", true, &bc->date)) < 0)
        return r;
    if (!m[BC_IS_ENABLED].p)
        return malformed(c, "", "is_enabled", "missing");
    if ((r = get_bool(c, m[BC_IS_ENABLED], "", "is_enabled", &bc->is_enabled)) < 0 ||
        (r = get_bool(c, m[BC_CAN_REPLY], "", "can_reply", &bc->can_reply)) < 0 ||
        (r = get_object(c, m[BC_RIGHTS], "", "rights", false)) < 0)
        return r;
    if (!m[BC_RIGHTS].p)
        return 0;
    /* Since Bot API 9.0 the rights say it; an absent right is not granted. */
    bc->can_reply = false;
    members(m[BC_RIGHTS], can_reply_key, 1, &can_reply);
    if ((r = get_bool(c, can_reply, ".rights", "can_reply", &bc->can_reply)) < 0 ||
        (r = take_raw(c, m[BC_RIGHTS], &bc->rights)) < 0)
        return r;
    return 0;
}

enum { BD_CONNECTION, BD_CHAT, BD_MESSAGE_IDS, BD_KEYS };
static const char *const business_deleted_keys[BD_KEYS] = {
    "business_connection_id",
    "chat",
    "message_ids",
};

static int parse_business_deleted(struct parse_ctx *c, struct js_span v,
                                  struct tg_business_deleted *bd)
{
    struct js_span m[BD_KEYS], id = {NULL, 0};
    int64_t n;
    int r;

    if (js_type(v) != JS_OBJECT)
        return malformed(c, "", "", "not an object");
    members(v, business_deleted_keys, BD_KEYS, m);
    if ((r = get_string(c, m[BD_CONNECTION], "", "business_connection_id", true,
                        &bd->connection_id)) < 0 ||
        (r = parse_chat(c, m[BD_CHAT], ".chat", &bd->chat)) < 0)
        return r;
    if (!m[BD_MESSAGE_IDS].p)
        return malformed(c, "", "message_ids", "missing");
    if (js_type(m[BD_MESSAGE_IDS]) != JS_ARRAY)
        return malformed(c, "", "message_ids", "not an array");
    while (js_next(m[BD_MESSAGE_IDS], &id)) {
        if (!js_int64(id, &n))
            return malformed(c, ".message_ids[]", "", "not an integer");
        bd->n_message_ids++;
    }
    c->ids = m[BD_MESSAGE_IDS];
    c->nids = bd->n_message_ids;
    c->ids_field = &bd->message_ids;
    return 0;
}

enum { CB_ID, CB_FROM, CB_DATA, CB_MESSAGE, CB_KEYS };
static const char *const callback_keys[CB_KEYS] = {"id", "from", "data", "message"};
enum { CBM_MESSAGE_ID, CBM_CHAT, CBM_THREAD_ID, CBM_IS_TOPIC, CBM_KEYS };
static const char *const callback_message_keys[CBM_KEYS] = {
    "message_id", "chat", "message_thread_id", "is_topic_message"};
static const char *const id_key[] = {"id"};

static int parse_callback(struct parse_ctx *c, struct js_span v, struct tg_callback_query *cb)
{
    struct js_span q[CB_KEYS], m[CBM_KEYS], chat_id;
    int r;

    if (js_type(v) != JS_OBJECT)
        return malformed(c, "", "", "not an object");
    members(v, callback_keys, CB_KEYS, q);
    if ((r = get_string(c, q[CB_ID], "", "id", true, &cb->id)) < 0 ||
        (r = parse_user(c, q[CB_FROM], "", "from", ".from", true, true, &cb->from, NULL)) < 0 ||
        (r = get_string(c, q[CB_DATA], "", "data", false, &cb->data)) < 0 ||
        (r = get_object(c, q[CB_MESSAGE], "", "message", false)) < 0)
        return r;
    if (!q[CB_MESSAGE].p)
        return 0; /* a button under an inline-mode message */
    members(q[CB_MESSAGE], callback_message_keys, CBM_KEYS, m);
    if ((r = get_int(c, m[CBM_MESSAGE_ID], ".message", "message_id", true, &cb->message_id)) < 0 ||
        (r = get_object(c, m[CBM_CHAT], ".message", "chat", true)) < 0)
        return r;
    members(m[CBM_CHAT], id_key, 1, &chat_id);
    if ((r = get_int(c, chat_id, ".message.chat", "id", true, &cb->message_chat_id)) < 0)
        return r;
    bool topic = false;
    if ((r = get_bool(c, m[CBM_IS_TOPIC], ".message", "is_topic_message", &topic)) < 0 ||
        (topic && (r = get_int(c, m[CBM_THREAD_ID], ".message", "message_thread_id", false,
                               &cb->message_thread_id)) < 0))
        return r;
    cb->has_message = true;
    return 0;
}

enum { MEMBER_CHAT, MEMBER_FROM, MEMBER_NEW, MEMBER_OLD, MEMBER_KEYS };
static const char *const member_keys[MEMBER_KEYS] = {
    "chat",
    "from",
    "new_chat_member",
    "old_chat_member",
};
static const char *const status_key[] = {"status"};

static int parse_member(struct parse_ctx *c, struct js_span v, struct tg_chat_member_update *mu)
{
    struct js_span m[MEMBER_KEYS], status;
    int r;

    if (js_type(v) != JS_OBJECT)
        return malformed(c, "", "", "not an object");
    members(v, member_keys, MEMBER_KEYS, m);
    if ((r = parse_chat(c, m[MEMBER_CHAT], ".chat", &mu->chat)) < 0 ||
        (r = parse_user(c, m[MEMBER_FROM], "", "from", ".from", true, true, &mu->from, NULL)) < 0 ||
        (r = get_object(c, m[MEMBER_NEW], "", "new_chat_member", true)) < 0)
        return r;
    members(m[MEMBER_NEW], status_key, 1, &status);
    if ((r = get_string(c, status, ".new_chat_member", "status", true, &mu->new_status)) < 0 ||
        (r = get_object(c, m[MEMBER_OLD], "", "old_chat_member", false)) < 0)
        return r;
    if (m[MEMBER_OLD].p) {
        members(m[MEMBER_OLD], status_key, 1, &status);
        if ((r = get_string(c, status, ".old_chat_member", "status", false, &mu->old_status)) < 0)
            return r;
    }
    return 0;
}

/* ---- commands ----------------------------------------------------------- */

static bool is_word(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static bool is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/*
 * Matches "/name" or "/name@bot" (name and bot: 1-32 of [A-Za-z0-9_]) at the
 * start of t[0..lim). Returns the number of bytes matched, 0 when t does not
 * start with a command. A word longer than 32 is not a command, and neither
 * is "/name@" followed by a name too long to be a bot's.
 */
static size_t match_command(const char *t, size_t lim, struct command *cmd)
{
    size_t i = 1, j;

    if (lim < 2 || t[0] != '/')
        return 0;
    while (i < lim && is_word((unsigned char)t[i]))
        i++;
    if (i - 1 == 0 || i - 1 > TG_COMMAND_MAX)
        return 0;
    cmd->name_len = i - 1;
    cmd->bot_off = cmd->bot_len = 0;
    if (i < lim && t[i] == '@') {
        j = i + 1;
        while (j < lim && is_word((unsigned char)t[j]))
            j++;
        if (j - i - 1 > BOT_NAME_MAX)
            return 0;
        if (j - i - 1 > 0) {
            cmd->bot_off = i + 1;
            cmd->bot_len = j - i - 1;
            i = j;
        }
    }
    return i;
}

enum { ENTITY_TYPE, ENTITY_OFFSET, ENTITY_LENGTH, ENTITY_KEYS };
static const char *const entity_keys[ENTITY_KEYS] = {"type", "offset", "length"};

/*
 * Finds the bot command at the start of text[0..len): the one named by a
 * bot_command entity at offset 0 when the message has entities, else a
 * leading "/name". Entity lengths count UTF-16 code units; the command is
 * ASCII, so they equal bytes there, and the match is checked, not trusted.
 */
static bool find_command(const char *text, size_t len, struct js_span entities, struct command *cmd)
{
    struct js_span e = {NULL, 0};
    size_t end = 0;

    if (entities.p) {
        while (js_next(entities, &e)) {
            struct js_span m[ENTITY_KEYS];
            int64_t off, elen;

            js_members(e, entity_keys, ENTITY_KEYS, m); /* none when e is no object */
            if (!str_eq(m[ENTITY_TYPE], "bot_command") || !js_int64(m[ENTITY_OFFSET], &off) ||
                off != 0 || !js_int64(m[ENTITY_LENGTH], &elen))
                continue;
            if (elen < 2 || (uint64_t)elen > len)
                return false;
            end = (size_t)elen;
            /* the entity must cover exactly one whole command token */
            if (match_command(text, end, cmd) != end ||
                (end < len && (is_word((unsigned char)text[end]) || text[end] == '@')))
                return false;
            break;
        }
        if (end == 0)
            return false;
    } else if ((end = match_command(text, len, cmd)) == 0) {
        return false;
    }
    while (end < len && is_space((unsigned char)text[end]))
        end++;
    cmd->args_off = end;
    return true;
}

/* ---- assembly ----------------------------------------------------------- */

/*
 * Copies pending string p into the arena at dst, with scratch space for
 * unescaping; returns the length written (and terminated), or -1 when the
 * cleaned copy would not fit (jscan let invalid UTF-8 through: a bug).
 */
static long copy_string(const struct pending *p, char *dst, char *scratch)
{
    size_t room = p->v.n - 2, n;
    bool dirty = false;

    if (p->raw) {
        /* JSON text js_check() passed is valid UTF-8; jansson lets a NUL
         * byte follow a number, which goes (the text stays JSON). */
        n = clean_utf8(p->v.p, p->v.n, dst, &dirty);
    } else if (!p->esc) {
        /* raw text js_check() passed: valid UTF-8 without NUL bytes */
        memcpy(dst, p->v.p + 1, room);
        n = room;
    } else {
        size_t raw = (size_t)js_string(p->v, scratch, room + 1);

        if (clean_utf8(scratch, raw, NULL, &dirty) > room)
            return -1;
        n = clean_utf8(scratch, raw, dst, &dirty);
    }
    dst[n] = '\0';
    if (p->dirty)
        *p->dirty = dirty;
    return (long)n;
}

/*
 * Allocates the arena, copies the pending strings into it and resolves the
 * command (whose bot name also lives in the arena); deleted message ids go
 * first, aligned as malloc() aligns. On failure *ret_arena is NULL; on
 * success the caller owns it.
 */
static int finish(struct parse_ctx *c, struct tg_message *msg, char **ret_arena)
{
    struct command cmd = {0};
    bool is_cmd = false;
    char *arena = NULL, *p = NULL;
    size_t i, ids_size = c->nids * sizeof(int64_t);

    *ret_arena = NULL;
    if (c->has_text)
        c->arena_size += BOT_NAME_MAX + 1;
    if (c->arena_size + ids_size > 0) {
        arena = malloc(ids_size + c->arena_size + c->scratch_size);
        if (!arena) {
            set_err(c, "out of memory");
            return -ENOMEM;
        }
        if (c->nids > 0) {
            int64_t *ids = (int64_t *)(void *)arena;
            struct js_span id = {NULL, 0};

            for (i = 0; i < c->nids && js_next(c->ids, &id); i++)
                js_int64(id, &ids[i]); /* checked by parse_business_deleted() */
            *c->ids_field = ids;
        }
        p = arena + ids_size;
        for (i = 0; i < c->npending; i++) {
            long n = copy_string(&c->pending[i], p, arena + ids_size + c->arena_size);

            if (n < 0) {
                free(arena);
                return malformed(c, "", "", "string not UTF-8"); /* a bug, not bad input */
            }
            *c->pending[i].field = p;
            p += n + 1;
        }
        if (c->has_text)
            is_cmd = find_command(msg->text, strlen(msg->text), c->entities, &cmd);
    }
    if (is_cmd) {
        for (i = 0; i < cmd.name_len; i++) {
            char ch = msg->text[1 + i];
            msg->command[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        }
        msg->command[cmd.name_len] = '\0';
        if (cmd.bot_len > 0) {
            memcpy(p, msg->text + cmd.bot_off, cmd.bot_len);
            p[cmd.bot_len] = '\0';
            msg->command_bot = p;
        }
        msg->command_args = msg->text + cmd.args_off;
    }
    *ret_arena = arena;
    return 0;
}

static const struct {
    const char *key;
    enum tg_update_kind kind;
} kind_keys[] = {
    {"message", TG_UPDATE_MESSAGE},
    {"edited_message", TG_UPDATE_EDITED_MESSAGE},
    {"callback_query", TG_UPDATE_CALLBACK_QUERY},
    {"my_chat_member", TG_UPDATE_MY_CHAT_MEMBER},
    {"channel_post", TG_UPDATE_CHANNEL_POST},
    {"edited_channel_post", TG_UPDATE_EDITED_CHANNEL_POST},
    {"business_connection", TG_UPDATE_BUSINESS_CONNECTION},
    {"business_message", TG_UPDATE_BUSINESS_MESSAGE},
    {"edited_business_message", TG_UPDATE_EDITED_BUSINESS_MESSAGE},
    {"deleted_business_messages", TG_UPDATE_DELETED_BUSINESS_MESSAGES},
};
#define KINDS (sizeof(kind_keys) / sizeof(kind_keys[0]))

/* "update_id" and kind_keys[] in its order. */
static const char *const root_keys[1 + KINDS] = {
    "update_id",
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
};

int tg_update_parse(const char *body, size_t len, struct tg_update *ret, char *err, size_t cap)
{
    struct parse_ctx c = {.root = "", .err = err, .cap = cap};
    struct tg_update u = {.kind = TG_UPDATE_OTHER};
    struct js_span doc, top[1 + KINDS], v = {NULL, 0};
    enum js_error e;
    char *arena = NULL;
    size_t i, pos;
    int r;

    if (!ret || (!body && len > 0))
        return malformed(&c, "", "", "no body");
    /* Telegram never repeats a key; a repeated one could smuggle a second
     * update_id past a proxy that reads the first. */
    e = js_check(body ? body : "", len, JS_ALLOW_NUL | JS_REJECT_DUPLICATES, &doc, &pos);
    if (e != JS_OK)
        return load_error(&c, e, pos);
    if (js_type(doc) != JS_OBJECT)
        return malformed(&c, "", "", "not a JSON object");

    js_members(doc, root_keys, 1 + KINDS, top);
    /* JSON null is no integer here, not an absent update_id */
    if (!top[0].p)
        return malformed(&c, "", "update_id", "missing");
    if (!js_int64(top[0], &u.update_id))
        return malformed(&c, "", "update_id", "not an integer");
    if (u.update_id < 0 || u.update_id > UPDATE_ID_MAX)
        return malformed(&c, "", "update_id", "out of range");

    for (i = 0; i < KINDS; i++) {
        v = top[1 + i];
        if (v.p && js_type(v) != JS_NULL) {
            u.kind = kind_keys[i].kind;
            c.root = kind_keys[i].key;
            break;
        }
    }
    switch (u.kind) {
    case TG_UPDATE_MESSAGE:
    case TG_UPDATE_EDITED_MESSAGE:
    case TG_UPDATE_CHANNEL_POST:
    case TG_UPDATE_EDITED_CHANNEL_POST:
        r = parse_message(&c, v, &u.message);
        break;
    case TG_UPDATE_CALLBACK_QUERY:
        r = parse_callback(&c, v, &u.callback);
        break;
    case TG_UPDATE_MY_CHAT_MEMBER:
        r = parse_member(&c, v, &u.member);
        break;
    case TG_UPDATE_BUSINESS_MESSAGE:
    case TG_UPDATE_EDITED_BUSINESS_MESSAGE:
        if ((r = parse_message(&c, v, &u.message)) == 0)
            r = parse_business_message(&c, v, &u.message);
        break;
    case TG_UPDATE_BUSINESS_CONNECTION:
        r = parse_business_connection(&c, v, &u.business);
        break;
    case TG_UPDATE_DELETED_BUSINESS_MESSAGES:
        r = parse_business_deleted(&c, v, &u.deleted);
        break;
    default:
        r = 0;
        break;
    }
    if (r < 0)
        return r;
    if ((r = finish(&c, &u.message, &arena)) < 0)
        return r;

    u.priv_arena = arena;
    *ret = u;
    return 0;
}

void tg_update_free(struct tg_update *u)
{
    if (!u)
        return;
    free(u->priv_arena);
    memset(u, 0, sizeof(*u));
}

const char *tg_update_kind_name(enum tg_update_kind kind)
{
    switch (kind) {
    case TG_UPDATE_MESSAGE:
        return "message";
    case TG_UPDATE_EDITED_MESSAGE:
        return "edited_message";
    case TG_UPDATE_CALLBACK_QUERY:
        return "callback_query";
    case TG_UPDATE_MY_CHAT_MEMBER:
        return "my_chat_member";
    case TG_UPDATE_CHANNEL_POST:
        return "channel_post";
    case TG_UPDATE_EDITED_CHANNEL_POST:
        return "edited_channel_post";
    case TG_UPDATE_BUSINESS_CONNECTION:
        return "business_connection";
    case TG_UPDATE_BUSINESS_MESSAGE:
        return "business_message";
    case TG_UPDATE_EDITED_BUSINESS_MESSAGE:
        return "edited_business_message";
    case TG_UPDATE_DELETED_BUSINESS_MESSAGES:
        return "deleted_business_messages";
    case TG_UPDATE_OTHER:
        break;
    }
    return "other";
}

const char *tg_media_name(enum tg_media media)
{
    switch (media) {
    case TG_MEDIA_PHOTO:
        return "photo";
    case TG_MEDIA_DOCUMENT:
        return "document";
    case TG_MEDIA_VOICE:
        return "voice";
    case TG_MEDIA_VIDEO:
        return "video";
    case TG_MEDIA_STICKER:
        return "sticker";
    case TG_MEDIA_AUDIO:
        return "audio";
    case TG_MEDIA_ANIMATION:
        return "animation";
    case TG_MEDIA_VIDEO_NOTE:
        return "video_note";
    case TG_MEDIA_LOCATION:
        return "location";
    case TG_MEDIA_VENUE:
        return "venue";
    case TG_MEDIA_CONTACT:
        return "contact";
    case TG_MEDIA_POLL:
        return "poll";
    case TG_MEDIA_DICE:
        return "dice";
    case TG_MEDIA_STORY:
        return "story";
    case TG_MEDIA_GAME:
        return "game";
    case TG_MEDIA_CHECKLIST:
        return "checklist";
    case TG_MEDIA_INVOICE:
        return "invoice";
    case TG_MEDIA_PAID_MEDIA:
        return "paid_media";
    case TG_MEDIA_GIVEAWAY:
        return "giveaway";
    case TG_MEDIA_GIVEAWAY_WINNERS:
        return "giveaway_winners";
    case TG_MEDIA_OTHER:
        return "message";
    case TG_MEDIA_NONE:
        break;
    }
    return NULL;
}
