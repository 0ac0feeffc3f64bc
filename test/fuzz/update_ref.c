/*
 * update_ref.c - the reference for tg_update_parse(): internal/tg/update.c as
 * it was before it scanned the body with util/jscan (commit 28f00ab), when it
 * parsed it with jansson. Verbatim but for the names of its external
 * functions (suffixed _ref), the header it includes and where it keeps the
 * jansson document: struct tg_update lost priv_json, so struct tg_update_ref
 * (update_ref.h) holds it. fuzz_update_diff and test_update_diff compare the
 * two parsers; the comments below are the old file's.
 *
 * Added since, in the same jansson way, so that the new fields have a second
 * implementation to be held against: the Telegram Business kinds, content
 * without a file (location, poll, ...) with its JSON, and service messages
 * (issue 17). A JSON text the reference exposes (content, rights) is
 * jansson's compact dump of the object, so update_diff() compares those as
 * JSON values, not as bytes.
 *
 * update.c - Telegram Update parsing (see update.h).
 *
 * One walk over the jansson document fills a struct tg_update on the stack.
 * A string that is already clean (no NUL byte, valid UTF-8) is borrowed from
 * the document. Any other string is recorded as pending together with the
 * size of its cleaned copy; after the walk one allocation, the arena,
 * receives every cleaned copy plus the bot name of a "/cmd@bot" command. A
 * well-behaved update thus costs no allocation beyond jansson's own, and a
 * hostile one costs exactly one more.
 *
 * Known fields of the wrong type make the update malformed; entities are only
 * hints for finding a command, so malformed entities are skipped instead.
 */
#include "update_ref.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Telegram's update ids are below 2^53 (they must survive a JavaScript double). */
#define UPDATE_ID_MAX (INT64_C(1) << 53)
/* Bot usernames are at most 32 characters. */
#define BOT_NAME_MAX 32
/* More than the strings any one kind exposes (a message exposes 9). */
#define PENDING_MAX 16

/* A string that needs a cleaned copy in the arena. */
struct pending {
    const char **field;
    const char *src;
    size_t len;
    char *owned; /* a JSON dump src points into, freed once copied */
};

struct parse_ctx {
    const char *root; /* path prefix for error reasons: "message", ... */
    char *err;
    size_t cap;
    struct pending pending[PENDING_MAX];
    size_t npending;
    size_t arena_size;
    /* the message text (or caption) and what is needed to find a command */
    bool has_text;
    size_t text_len; /* valid while the text is borrowed */
    const json_t *entities;
    /* deleted_business_messages: the message_ids, copied to the arena */
    const json_t *ids;
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

/* Maps a jansson load error to a fixed reason (jansson's own text quotes input). */
static int load_error(struct parse_ctx *c, const json_error_t *jerr)
{
    const char *what;
    int r = -EINVAL;

    switch (json_error_code(jerr)) {
    case json_error_out_of_memory:
        what = "out of memory";
        r = -ENOMEM;
        break;
    case json_error_stack_overflow:
        what = "JSON nested too deeply";
        break;
    case json_error_invalid_utf8:
        what = "invalid UTF-8";
        break;
    case json_error_premature_end_of_input:
        what = "truncated JSON";
        break;
    case json_error_end_of_input_expected:
        what = "data after the JSON value";
        break;
    case json_error_duplicate_key:
        what = "duplicate object key";
        break;
    case json_error_numeric_overflow:
        what = "number out of range";
        break;
    case json_error_null_byte_in_key:
        what = "NUL byte in an object key";
        break;
    default:
        what = "not JSON";
        break;
    }
    set_err(c, "%s (byte %d)", what, jerr->position);
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

/*
 * Points *field at the string v: borrowed when clean, else recorded for a
 * cleaned copy in the arena (*field stays NULL until then).
 */
static int take_string(struct parse_ctx *c, const json_t *v, const char **field, bool *ret_dirty)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    bool dirty;
    size_t out = clean_utf8(s, len, NULL, &dirty);

    if (ret_dirty)
        *ret_dirty = dirty;
    if (!dirty) {
        *field = s;
        return 0;
    }
    if (c->npending == PENDING_MAX)
        return malformed(c, "", "", "too many strings to clean"); /* a bug, not bad input */
    c->pending[c->npending++] = (struct pending){.field = field, .src = s, .len = len};
    c->arena_size += out + 1;
    return 0;
}

/* Records jansson's compact dump of v for a copy in the arena. */
static int take_dump(struct parse_ctx *c, const json_t *v, const char **field)
{
    char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);

    if (!dump) {
        set_err(c, "out of memory");
        return -ENOMEM;
    }
    if (c->npending == PENDING_MAX) {
        free(dump);
        return malformed(c, "", "", "too many strings to clean"); /* a bug, not bad input */
    }
    c->pending[c->npending++] =
        (struct pending){.field = field, .src = dump, .len = strlen(dump), .owned = dump};
    c->arena_size += strlen(dump) + 1;
    return 0;
}

/* true when v is a JSON string equal to lit (embedded NUL bytes never match). */
static bool json_str_eq(const json_t *v, const char *lit)
{
    size_t n = strlen(lit);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), lit, n) == 0;
}

/* ---- typed members ------------------------------------------------------ */

/* Member key of obj, or NULL when absent or JSON null. */
static json_t *member(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int get_int(struct parse_ctx *c, const json_t *obj, const char *where, const char *key,
                   bool required, int64_t *ret)
{
    const json_t *v = member(obj, key);

    if (!v)
        return required ? malformed(c, where, key, "missing") : 0;
    if (!json_is_integer(v))
        return malformed(c, where, key, "not an integer");
    *ret = (int64_t)json_integer_value(v);
    return 0;
}

static int get_bool(struct parse_ctx *c, const json_t *obj, const char *where, const char *key,
                    bool *ret)
{
    const json_t *v = member(obj, key);

    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return malformed(c, where, key, "not a boolean");
    *ret = json_is_true(v);
    return 0;
}

static int get_string(struct parse_ctx *c, const json_t *obj, const char *where, const char *key,
                      bool required, const char **field, bool *ret_dirty)
{
    const json_t *v = member(obj, key);

    if (!v)
        return required ? malformed(c, where, key, "missing") : 0;
    if (!json_is_string(v))
        return malformed(c, where, key, "not a string");
    return take_string(c, v, field, ret_dirty);
}

/* Stores member key of obj, which must be an object, in *ret (NULL when absent). */
static int get_object(struct parse_ctx *c, const json_t *obj, const char *where, const char *key,
                      bool required, const json_t **ret)
{
    const json_t *v = member(obj, key);

    if (!v) {
        *ret = NULL;
        return required ? malformed(c, where, key, "missing") : 0;
    }
    if (!json_is_object(v))
        return malformed(c, where, key, "not an object");
    *ret = v;
    return 0;
}

/* ---- Telegram objects --------------------------------------------------- */

/*
 * The User in member key of obj; parent is the path of obj and where the path
 * of the user, for error reasons. Reads the names only when wanted.
 */
static int parse_user(struct parse_ctx *c, const json_t *obj, const char *parent, const char *key,
                      const char *where, bool required, bool names, struct tg_user *user,
                      bool *ret_present)
{
    const json_t *v;
    int r;

    if ((r = get_object(c, obj, parent, key, required, &v)) < 0)
        return r;
    if (ret_present)
        *ret_present = v != NULL;
    if (!v)
        return 0;
    if ((r = get_int(c, v, where, "id", true, &user->id)) < 0)
        return r;
    if (!names)
        return 0;
    if ((r = get_bool(c, v, where, "is_bot", &user->is_bot)) < 0 ||
        (r = get_string(c, v, where, "first_name", false, &user->first_name, NULL)) < 0 ||
        (r = get_string(c, v, where, "last_name", false, &user->last_name, NULL)) < 0 ||
        (r = get_string(c, v, where, "username", false, &user->username, NULL)) < 0 ||
        (r = get_string(c, v, where, "language_code", false, &user->language_code, NULL)) < 0)
        return r;
    return 0;
}

static enum tg_chat_type chat_type(const json_t *v)
{
    if (json_str_eq(v, "private"))
        return TG_CHAT_PRIVATE;
    if (json_str_eq(v, "group"))
        return TG_CHAT_GROUP;
    if (json_str_eq(v, "supergroup"))
        return TG_CHAT_SUPERGROUP;
    if (json_str_eq(v, "channel"))
        return TG_CHAT_CHANNEL;
    return TG_CHAT_UNKNOWN;
}

/* The Chat in member "chat" of obj; where is the path of "chat" itself. */
static int parse_chat(struct parse_ctx *c, const json_t *obj, const char *where,
                      struct tg_chat *chat)
{
    const json_t *v, *type;
    int r;

    if ((r = get_object(c, obj, "", "chat", true, &v)) < 0)
        return r;
    if ((r = get_int(c, v, where, "id", true, &chat->id)) < 0)
        return r;
    type = member(v, "type");
    if (!type)
        return malformed(c, where, "type", "missing");
    if (!json_is_string(type))
        return malformed(c, where, "type", "not a string");
    chat->type = chat_type(type);
    if ((r = get_string(c, v, where, "title", false, &chat->title, NULL)) < 0 ||
        (r = get_string(c, v, where, "username", false, &chat->username, NULL)) < 0)
        return r;
    return 0;
}

/* Area of a photo size, for choosing the largest; absurd sizes are clamped. */
static int photo_area(struct parse_ctx *c, const json_t *size, uint64_t *ret)
{
    int64_t w = 0, h = 0;
    int r;

    if ((r = get_int(c, size, ".photo[]", "width", false, &w)) < 0 ||
        (r = get_int(c, size, ".photo[]", "height", false, &h)) < 0)
        return r;
    w = w < 0 ? 0 : w > INT32_MAX ? INT32_MAX : w;
    h = h < 0 ? 0 : h > INT32_MAX ? INT32_MAX : h;
    *ret = (uint64_t)w * (uint64_t)h;
    return 0;
}

static int parse_photo(struct parse_ctx *c, const json_t *photo, struct tg_message *msg)
{
    const json_t *best = NULL;
    uint64_t best_area = 0;
    size_t i;
    int r;

    if (!json_is_array(photo))
        return malformed(c, "", "photo", "not an array");
    for (i = 0; i < json_array_size(photo); i++) {
        const json_t *size = json_array_get(photo, i);
        uint64_t area;

        if (!json_is_object(size))
            return malformed(c, ".photo[]", "", "not an object");
        if ((r = photo_area(c, size, &area)) < 0)
            return r;
        /* >=: Telegram lists sizes smallest first, so ties go to the later one */
        if (!best || area >= best_area) {
            best = size;
            best_area = area;
        }
    }
    if (!best)
        return 0; /* no sizes: treated as no photo */
    if ((r = get_string(c, best, ".photo[]", "file_id", true, &msg->file_id, NULL)) < 0)
        return r;
    msg->media = TG_MEDIA_PHOTO;
    return 0;
}

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

static int parse_media(struct parse_ctx *c, const json_t *m, struct tg_message *msg)
{
    const json_t *v;
    size_t i;
    int r;

    if ((v = member(m, "photo")) != NULL) {
        if ((r = parse_photo(c, v, msg)) < 0)
            return r;
        if (msg->media != TG_MEDIA_NONE)
            return 0;
    }
    for (i = 0; i < sizeof(media_keys) / sizeof(media_keys[0]); i++) {
        if ((r = get_object(c, m, "", media_keys[i].key, false, &v)) < 0)
            return r;
        if (!v)
            continue;
        if ((r = get_string(c, v, media_keys[i].where, "file_id", true, &msg->file_id, NULL)) < 0)
            return r;
        msg->media = media_keys[i].media;
        return 0;
    }
    return 0;
}

/* Content without a file (added with issue 17); venue before location. */
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

/* The fields of service messages. */
static const char *const service_keys[] = {
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

static int parse_content(struct parse_ctx *c, const json_t *m, struct tg_message *msg)
{
    const json_t *v;
    size_t i;
    int r;

    for (i = 0; i < sizeof(content_keys) / sizeof(content_keys[0]); i++) {
        if ((r = get_object(c, m, "", content_keys[i].key, false, &v)) < 0)
            return r;
        if (!v)
            continue;
        if ((r = take_dump(c, v, &msg->content)) < 0)
            return r;
        msg->media = content_keys[i].media;
        return 0;
    }
    for (i = 0; i < sizeof(service_keys) / sizeof(service_keys[0]); i++)
        if (member(m, service_keys[i])) {
            msg->is_service = true;
            return 0;
        }
    msg->media = TG_MEDIA_OTHER;
    return 0;
}

static int parse_reply_to(struct parse_ctx *c, const json_t *m, struct tg_message *msg)
{
    const json_t *v;
    struct tg_user from = {0};
    int r;

    if ((r = get_object(c, m, "", "reply_to_message", false, &v)) < 0)
        return r;
    if (!v)
        return 0;
    if ((r = get_int(c, v, ".reply_to_message", "message_id", true, &msg->reply_to_message_id)) <
            0 ||
        (r = parse_user(c, v, ".reply_to_message", "from", ".reply_to_message.from", false, false,
                        &from, NULL)) < 0)
        return r;
    msg->has_reply_to = true;
    msg->reply_to_from_id = from.id;
    return 0;
}

/* A Message (also an edited message or a channel post). */
static int parse_message(struct parse_ctx *c, const json_t *m, struct tg_message *msg)
{
    const json_t *text;
    bool dirty = false;
    int r;

    if (!json_is_object(m))
        return malformed(c, "", "", "not an object");
    if ((r = get_int(c, m, "", "message_id", true, &msg->message_id)) < 0 ||
        (r = get_int(c, m, "", "date", true, &msg->date)) < 0 ||
        (r = get_int(c, m, "", "edit_date", false, &msg->edit_date)) < 0 ||
        (r = get_int(c, m, "", "migrate_to_chat_id", false, &msg->migrate_to_chat_id)) < 0 ||
        (r = parse_chat(c, m, ".chat", &msg->chat)) < 0 ||
        (r = parse_user(c, m, "", "from", ".from", false, true, &msg->from, &msg->has_from)) < 0)
        return r;

    text = member(m, "text");
    if (!text && (text = member(m, "caption")) != NULL)
        msg->text_is_caption = true;
    if (text) {
        if (!json_is_string(text))
            return malformed(c, "", msg->text_is_caption ? "caption" : "text", "not a string");
        if ((r = take_string(c, text, &msg->text, &dirty)) < 0)
            return r;
        c->has_text = true;
        c->text_len = json_string_length(text);
        msg->text_was_cleaned = dirty;
        c->entities = member(m, msg->text_is_caption ? "caption_entities" : "entities");
        if (!json_is_array(c->entities))
            c->entities = NULL; /* a hint only: unusable means absent */
    }

    if ((r = parse_media(c, m, msg)) < 0 ||
        (r = get_string(c, m, "", "media_group_id", false, &msg->media_group_id, NULL)) < 0 ||
        (r = parse_reply_to(c, m, msg)) < 0 ||
        (r = get_bool(c, m, "", "is_topic_message", &msg->is_topic_message)) < 0 ||
        (r = get_int(c, m, "", "message_thread_id", false, &msg->message_thread_id)) < 0)
        return r;
    if (!msg->is_topic_message)
        msg->message_thread_id = 0;
    else
        msg->forum_service = member(m, "forum_topic_created") || member(m, "forum_topic_edited") ||
                             member(m, "forum_topic_closed") || member(m, "forum_topic_reopened");
    if (!member(m, "text") && msg->media == TG_MEDIA_NONE)
        return parse_content(c, m, msg);
    return 0;
}

/* ---- Telegram Business (added with issue 17) ------------------------------ */

static int parse_business_message(struct parse_ctx *c, const json_t *m, struct tg_message *msg)
{
    struct tg_user bot = {0};
    int r;

    if ((r = get_string(c, m, "", "business_connection_id", true, &msg->business_connection_id,
                        NULL)) < 0 ||
        (r = parse_user(c, m, "", "sender_business_bot", ".sender_business_bot", false, false, &bot,
                        NULL)) < 0)
        return r;
    msg->sender_business_bot_id = bot.id;
    return 0;
}

static int parse_business_connection(struct parse_ctx *c, const json_t *b,
                                     struct tg_business_connection *bc)
{
    const json_t *rights;
    int r;

    if (!json_is_object(b))
        return malformed(c, "", "", "not an object");
    if ((r = get_string(c, b, "", "id", true, &bc->id, NULL)) < 0 ||
        (r = parse_user(c, b, "", "user", ".user", true, true, &bc->user, NULL)) < 0 ||
        (r = get_int(c, b, "", "user_chat_id", true, &bc->user_chat_id)) < 0 ||
        (r = get_int(c, b, "", "date", true, &bc->date)) < 0)
        return r;
    if (!member(b, "is_enabled"))
        return malformed(c, "", "is_enabled", "missing");
    if ((r = get_bool(c, b, "", "is_enabled", &bc->is_enabled)) < 0 ||
        (r = get_bool(c, b, "", "can_reply", &bc->can_reply)) < 0 ||
        (r = get_object(c, b, "", "rights", false, &rights)) < 0)
        return r;
    if (!rights)
        return 0;
    bc->can_reply = false;
    if ((r = get_bool(c, rights, ".rights", "can_reply", &bc->can_reply)) < 0 ||
        (r = take_dump(c, rights, &bc->rights)) < 0)
        return r;
    return 0;
}

static int parse_business_deleted(struct parse_ctx *c, const json_t *d,
                                  struct tg_business_deleted *bd)
{
    const json_t *ids;
    size_t i;
    int r;

    if (!json_is_object(d))
        return malformed(c, "", "", "not an object");
    if ((r = get_string(c, d, "", "business_connection_id", true, &bd->connection_id, NULL)) < 0 ||
        (r = parse_chat(c, d, ".chat", &bd->chat)) < 0)
        return r;
    ids = member(d, "message_ids");
    if (!ids)
        return malformed(c, "", "message_ids", "missing");
    if (!json_is_array(ids))
        return malformed(c, "", "message_ids", "not an array");
    for (i = 0; i < json_array_size(ids); i++)
        if (!json_is_integer(json_array_get(ids, i)))
            return malformed(c, ".message_ids[]", "", "not an integer");
    bd->n_message_ids = json_array_size(ids);
    c->ids = ids;
    c->ids_field = &bd->message_ids;
    return 0;
}

static int parse_callback(struct parse_ctx *c, const json_t *q, struct tg_callback_query *cb)
{
    const json_t *m, *chat;
    int r;

    if (!json_is_object(q))
        return malformed(c, "", "", "not an object");
    if ((r = get_string(c, q, "", "id", true, &cb->id, NULL)) < 0 ||
        (r = parse_user(c, q, "", "from", ".from", true, true, &cb->from, NULL)) < 0 ||
        (r = get_string(c, q, "", "data", false, &cb->data, NULL)) < 0 ||
        (r = get_object(c, q, "", "message", false, &m)) < 0)
        return r;
    if (!m)
        return 0; /* a button under an inline-mode message */
    if ((r = get_int(c, m, ".message", "message_id", true, &cb->message_id)) < 0 ||
        (r = get_object(c, m, ".message", "chat", true, &chat)) < 0 ||
        (r = get_int(c, chat, ".message.chat", "id", true, &cb->message_chat_id)) < 0)
        return r;
    bool topic = false;
    if ((r = get_bool(c, m, ".message", "is_topic_message", &topic)) < 0 ||
        (topic &&
         (r = get_int(c, m, ".message", "message_thread_id", false, &cb->message_thread_id)) < 0))
        return r;
    cb->has_message = true;
    return 0;
}

static int parse_member(struct parse_ctx *c, const json_t *u, struct tg_chat_member_update *mu)
{
    const json_t *old_m, *new_m;
    int r;

    if (!json_is_object(u))
        return malformed(c, "", "", "not an object");
    if ((r = parse_chat(c, u, ".chat", &mu->chat)) < 0 ||
        (r = parse_user(c, u, "", "from", ".from", true, true, &mu->from, NULL)) < 0 ||
        (r = get_object(c, u, "", "new_chat_member", true, &new_m)) < 0 ||
        (r = get_string(c, new_m, ".new_chat_member", "status", true, &mu->new_status, NULL)) < 0 ||
        (r = get_object(c, u, "", "old_chat_member", false, &old_m)) < 0)
        return r;
    if (old_m &&
        (r = get_string(c, old_m, ".old_chat_member", "status", false, &mu->old_status, NULL)) < 0)
        return r;
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

/*
 * Finds the bot command at the start of text[0..len): the one named by a
 * bot_command entity at offset 0 when the message has entities, else a
 * leading "/name". Entity lengths count UTF-16 code units; the command is
 * ASCII, so they equal bytes there, and the match is checked, not trusted.
 */
static bool find_command(const char *text, size_t len, const json_t *entities, struct command *cmd)
{
    size_t end = 0, i;

    if (entities) {
        for (i = 0; i < json_array_size(entities); i++) {
            const json_t *e = json_array_get(entities, i);
            const json_t *off = json_object_get(e, "offset");
            const json_t *n = json_object_get(e, "length");
            json_int_t elen;

            if (!json_str_eq(json_object_get(e, "type"), "bot_command") || !json_is_integer(off) ||
                json_integer_value(off) != 0 || !json_is_integer(n))
                continue;
            elen = json_integer_value(n);
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
 * Allocates the arena, writes the cleaned strings into it and resolves the
 * command (whose bot name also lives in the arena). On failure *ret_arena is
 * NULL; on success the caller owns it.
 */
static int finish(struct parse_ctx *c, struct tg_message *msg, char **ret_arena)
{
    struct command cmd = {0};
    bool is_cmd = false;
    char *arena = NULL, *p = NULL;
    size_t i;

    *ret_arena = NULL;
    size_t ids_size = c->ids ? json_array_size(c->ids) * sizeof(int64_t) : 0;
    if (c->has_text) {
        if (!msg->text_was_cleaned) {
            is_cmd = find_command(msg->text, c->text_len, c->entities, &cmd);
            if (is_cmd && cmd.bot_len > 0)
                c->arena_size += cmd.bot_len + 1;
        } else {
            c->arena_size += BOT_NAME_MAX + 1; /* found once the text is clean */
        }
    }
    if (c->arena_size + ids_size > 0) {
        arena = malloc(ids_size + c->arena_size);
        if (!arena) {
            set_err(c, "out of memory");
            return -ENOMEM;
        }
        if (ids_size > 0) {
            int64_t *ids = (int64_t *)(void *)arena;
            for (i = 0; i < json_array_size(c->ids); i++)
                ids[i] = (int64_t)json_integer_value(json_array_get(c->ids, i));
            *c->ids_field = ids;
        }
        p = arena + ids_size;
        for (i = 0; i < c->npending; i++) {
            bool dirty;
            size_t n = clean_utf8(c->pending[i].src, c->pending[i].len, p, &dirty);
            p[n] = '\0';
            *c->pending[i].field = p;
            p += n + 1;
            free(c->pending[i].owned);
            c->pending[i].owned = NULL;
        }
        if (c->has_text && msg->text_was_cleaned)
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

int tg_update_parse_ref(const char *body, size_t len, struct tg_update_ref *ret, char *err,
                        size_t cap)
{
    struct parse_ctx c = {.root = "", .err = err, .cap = cap};
    struct tg_update u = {.kind = TG_UPDATE_OTHER};
    const json_t *v = NULL, *id;
    json_error_t jerr;
    json_t *root;
    char *arena = NULL;
    size_t i;
    int r;

    if (!ret || (!body && len > 0))
        return malformed(&c, "", "", "no body");
    /* Telegram never repeats a key; a repeated one could smuggle a second
     * update_id past a proxy that reads the first. */
    root = json_loadb(body ? body : "", len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return load_error(&c, &jerr);
    if (!json_is_object(root)) {
        r = malformed(&c, "", "", "not a JSON object");
        goto fail;
    }

    id = json_object_get(root, "update_id");
    if (!id) {
        r = malformed(&c, "", "update_id", "missing");
        goto fail;
    }
    if (!json_is_integer(id)) {
        r = malformed(&c, "", "update_id", "not an integer");
        goto fail;
    }
    if (json_integer_value(id) < 0 || json_integer_value(id) > UPDATE_ID_MAX) {
        r = malformed(&c, "", "update_id", "out of range");
        goto fail;
    }
    u.update_id = (int64_t)json_integer_value(id);

    for (i = 0; i < sizeof(kind_keys) / sizeof(kind_keys[0]); i++) {
        if ((v = member(root, kind_keys[i].key)) != NULL) {
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
        goto fail;
    if ((r = finish(&c, &u.message, &arena)) < 0)
        goto fail;

    u.priv_arena = arena;
    ret->u = u;
    ret->priv_json = root;
    return 0;

fail:
    for (i = 0; i < c.npending; i++)
        free(c.pending[i].owned);
    json_decref(root);
    return r;
}

void tg_update_free_ref(struct tg_update_ref *u)
{
    if (!u)
        return;
    json_decref(u->priv_json);
    free(u->u.priv_arena);
    memset(u, 0, sizeof(*u));
}

const char *tg_update_kind_name_ref(enum tg_update_kind kind)
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

const char *tg_media_name_ref(enum tg_media media)
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
    case TG_MEDIA_OTHER:
        return "message";
    case TG_MEDIA_NONE:
        break;
    default: /* content without a file: its key */
        for (size_t i = 0; i < sizeof(content_keys) / sizeof(content_keys[0]); i++)
            if (content_keys[i].media == media)
                return content_keys[i].key;
        break;
    }
    return NULL;
}
