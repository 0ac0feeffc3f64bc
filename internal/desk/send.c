#include "send.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "outbox/sender.h"
#include "rules.h"
#include "util/jscan.h"
#include "util/jsonw.h"

/* Largest payload the desk writes: a part of 4096 code points, escaped, and its buttons. */
#define PAYLOAD_MAX (64 * 1024)
/* Telegram shows at most 200 characters of a callback answer. */
#define ANSWER_MAX 199

/* Starts a payload {"chat_id":chat - in the update's forum topic when it
 * came from one of chat (store.h). */
static void payload_open(const struct desk_ctx *x, struct buf *b, int64_t chat, size_t cap)
{
    buf_init(b, cap);
    buf_addc(b, '{');
    jsonw_key(b, "chat_id");
    jsonw_i64(b, chat);
    if (x->thread_id && chat == x->thread_chat) {
        jsonw_key(b, "message_thread_id");
        jsonw_i64(b, x->thread_id);
    }
}

/* Closes the payload and queues it as one call. */
static int payload_queue(struct desk_ctx *x, struct buf *b, int64_t chat, const char *method,
                         const char *purpose, int64_t request_id)
{
    buf_addc(b, '}');
    return outbox_queue(x->out, chat, method, buf_take(b), purpose, request_id);
}

/* On behalf of a business account: "business_connection_id" (none when NULL). */
static void payload_business(struct buf *b, const char *business)
{
    if (business) {
        jsonw_key(b, "business_connection_id");
        jsonw_str(b, business);
    }
}

/* One sendMessage of n bytes of text, with markup (may be NULL), on behalf
 * of business connection business (NULL: as the bot). */
static int queue_part(struct desk_ctx *x, int64_t chat, const char *text, size_t n,
                      const char *markup, const char *business, const char *purpose,
                      int64_t request_id)
{
    struct buf b;
    payload_open(x, &b, chat, PAYLOAD_MAX);
    payload_business(&b, business);
    jsonw_key(&b, "text");
    jsonw_strn(&b, text, n);
    if (markup) {
        jsonw_key(&b, "reply_markup");
        buf_add(&b, markup);
    }
    return payload_queue(x, &b, chat, "sendMessage", purpose, request_id);
}

/* desk_send_text() and desk_send_business_text(). */
static int send_text(struct desk_ctx *x, int64_t chat, const char *text, const char *markup,
                     const char *business, const char *purpose, int64_t request_id)
{
    /* The last part that is not blank carries the markup. (A text of at
     * most DESK_TEXT_MAX bytes is one part: it cannot hold more code points.) */
    size_t len = strlen(text);
    if (len <= DESK_TEXT_MAX)
        return desk_text_blank(text, len)
                   ? 0
                   : queue_part(x, chat, text, len, markup, business, purpose, request_id);
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
            int rc =
                queue_part(x, chat, p, n, p == last ? markup : NULL, business, purpose, request_id);
            if (rc < 0)
                return rc;
        }
        p += n;
    }
    return 0;
}

int desk_send_text(struct desk_ctx *x, int64_t chat, const char *text, const char *markup,
                   const char *purpose, int64_t request_id)
{
    return send_text(x, chat, text, markup, NULL, purpose, request_id);
}

int desk_send_business_text(struct desk_ctx *x, int64_t chat, const char *text,
                            const char *business, const char *purpose, int64_t request_id)
{
    return send_text(x, chat, text, NULL, business, purpose, request_id);
}

int desk_send_buf(struct desk_ctx *x, int64_t chat, struct buf *b, const char *purpose,
                  int64_t request_id)
{
    int rc = buf_error(b) == -ENOMEM
                 ? -ENOMEM
                 : desk_send_text(x, chat, buf_str(b), NULL, purpose, request_id);
    buf_free(b);
    return rc;
}

int desk_send_copy(struct desk_ctx *x, int64_t chat, int64_t from_chat, int64_t message_id,
                   const char *caption, const char *purpose, int64_t request_id)
{
    struct buf b;
    payload_open(x, &b, chat, PAYLOAD_MAX);
    jsonw_key(&b, "from_chat_id");
    jsonw_i64(&b, from_chat);
    jsonw_key(&b, "message_id");
    jsonw_i64(&b, message_id);
    if (caption) {
        jsonw_key(&b, "caption");
        jsonw_str(&b, caption);
    }
    return payload_queue(x, &b, chat, "copyMessage", purpose, request_id);
}

int desk_send_call(struct desk_ctx *x, int64_t chat, const char *method, const char *purpose,
                   int64_t request_id)
{
    struct buf b;
    payload_open(x, &b, chat, PAYLOAD_MAX);
    return payload_queue(x, &b, chat, method, purpose, request_id);
}

int desk_send_edit(struct desk_ctx *x, int64_t chat, int64_t message_id, const char *text,
                   bool caption, int64_t request_id)
{
    struct buf b;
    payload_open(x, &b, chat, PAYLOAD_MAX);
    jsonw_key(&b, "message_id");
    jsonw_i64(&b, message_id);
    jsonw_key(&b, caption ? "caption" : "text");
    jsonw_str(&b, text);
    return payload_queue(x, &b, chat, caption ? "editMessageCaption" : "editMessageText", "reply",
                         request_id);
}

int desk_send_message_copy(struct desk_ctx *x, int64_t chat, const struct tg_message *m,
                           const char *caption, const char *purpose, int64_t request_id)
{
    switch (m->media) {
    case TG_MEDIA_INVOICE:
    case TG_MEDIA_PAID_MEDIA:
    case TG_MEDIA_GIVEAWAY:
    case TG_MEDIA_GIVEAWAY_WINNERS: {
        /* copyMessage refuses these; a forward shows them as they are */
        struct buf b;
        payload_open(x, &b, chat, PAYLOAD_MAX);
        jsonw_key(&b, "from_chat_id");
        jsonw_i64(&b, m->chat.id);
        jsonw_key(&b, "message_id");
        jsonw_i64(&b, m->message_id);
        return payload_queue(x, &b, chat, "forwardMessage", purpose, request_id);
    }
    default:
        return desk_send_copy(x, chat, m->chat.id, m->message_id, caption, purpose, request_id);
    }
}

/* The send* method of each kind with a file, the field its file_id goes in,
 * and whether it takes a caption. */
static const struct {
    enum tg_media media;
    const char *method, *field;
    bool caption;
} file_methods[] = {
    {TG_MEDIA_PHOTO, "sendPhoto", "photo", true},
    {TG_MEDIA_DOCUMENT, "sendDocument", "document", true},
    {TG_MEDIA_VOICE, "sendVoice", "voice", true},
    {TG_MEDIA_VIDEO, "sendVideo", "video", true},
    {TG_MEDIA_STICKER, "sendSticker", "sticker", false},
    {TG_MEDIA_AUDIO, "sendAudio", "audio", true},
    {TG_MEDIA_ANIMATION, "sendAnimation", "animation", true},
    {TG_MEDIA_VIDEO_NOTE, "sendVideoNote", "video_note", false},
};

/*
 * Copies the members keys[] of the JSON object o that are there into the
 * payload under the same names (values as Telegram wrote them, so valid
 * JSON). Returns false when one of the first `required` is missing.
 */
static bool copy_members(struct buf *b, struct js_span o, const char *const *keys, size_t n,
                         size_t required)
{
    struct js_span v[8];
    js_members(o, keys, n, v);
    for (size_t i = 0; i < n; i++) {
        if (!v[i].p || js_type(v[i]) == JS_NULL) {
            if (i < required)
                return false;
            continue;
        }
        jsonw_key(b, keys[i]);
        buf_addn(b, v[i].p, v[i].n);
    }
    return true;
}

/* A poll anew: its question, the texts of its options, how it is answered. */
static bool poll_payload(struct buf *b, struct js_span poll)
{
    enum { P_QUESTION, P_OPTIONS, P_ANONYMOUS, P_TYPE, P_MULTIPLE, P_CORRECT, P_KEYS };
    static const char *const keys[P_KEYS] = {
        "question",         "options", "is_anonymous", "type", "allows_multiple_answers",
        "correct_option_id"};
    static const char *const text_key[1] = {"text"};
    struct js_span v[P_KEYS], opt = {NULL, 0}, text;
    js_members(poll, keys, P_KEYS, v);
    if (js_type(v[P_QUESTION]) != JS_STRING || js_type(v[P_OPTIONS]) != JS_ARRAY)
        return false;
    jsonw_key(b, "question");
    buf_addn(b, v[P_QUESTION].p, v[P_QUESTION].n);
    jsonw_key(b, "options");
    buf_addc(b, '[');
    for (int k = 0; js_next(v[P_OPTIONS], &opt); k++) {
        js_members(opt, text_key, 1, &text);
        if (js_type(text) != JS_STRING)
            return false;
        buf_add(b, k ? ",{" : "{");
        jsonw_key(b, "text");
        buf_addn(b, text.p, text.n);
        buf_addc(b, '}');
    }
    buf_addc(b, ']');
    /* a quiz needs its answer, which the bot knows only for some polls */
    bool quiz = js_type(v[P_CORRECT]) == JS_NUMBER;
    for (int i = P_ANONYMOUS; i <= P_CORRECT; i++) {
        if (!v[i].p || js_type(v[i]) == JS_NULL || (i == P_TYPE && !quiz))
            continue;
        jsonw_key(b, keys[i]);
        buf_addn(b, v[i].p, v[i].n);
    }
    return true;
}

/* The method and fields of content without a file; false when it cannot be sent anew. */
static bool content_payload(struct buf *b, const struct tg_message *m, const char **ret_method)
{
    static const char *const location[] = {"latitude", "longitude", "horizontal_accuracy"};
    static const char *const venue[] = {"title",           "address",         "foursquare_id",
                                        "foursquare_type", "google_place_id", "google_place_type"};
    static const char *const venue_location[] = {"location"};
    static const char *const contact[] = {"phone_number", "first_name", "last_name", "vcard"};
    static const char *const dice[] = {"emoji"};
    struct js_span o, where;
    if (!m->content || !js_valid(m->content, strlen(m->content), &o) || js_type(o) != JS_OBJECT)
        return false;
    switch (m->media) {
    case TG_MEDIA_LOCATION:
        *ret_method = "sendLocation";
        return copy_members(b, o, location, 3, 2);
    case TG_MEDIA_VENUE:
        *ret_method = "sendVenue";
        js_members(o, venue_location, 1, &where);
        return js_type(where) == JS_OBJECT && copy_members(b, where, location, 2, 2) &&
               copy_members(b, o, venue, 6, 2);
    case TG_MEDIA_CONTACT:
        *ret_method = "sendContact";
        return copy_members(b, o, contact, 4, 2);
    case TG_MEDIA_POLL:
        *ret_method = "sendPoll";
        return poll_payload(b, o);
    case TG_MEDIA_DICE:
        *ret_method = "sendDice";
        return copy_members(b, o, dice, 1, 0);
    default:
        return false;
    }
}

int desk_send_content(struct desk_ctx *x, int64_t chat, const struct tg_message *m,
                      const char *caption, const char *business, const char *purpose,
                      int64_t request_id)
{
    const char *method = NULL;
    struct buf b;
    payload_open(x, &b, chat, PAYLOAD_MAX);
    payload_business(&b, business);
    for (size_t i = 0; i < sizeof(file_methods) / sizeof(file_methods[0]); i++) {
        if (file_methods[i].media != m->media)
            continue;
        if (!m->file_id)
            break;
        method = file_methods[i].method;
        jsonw_key(&b, file_methods[i].field);
        jsonw_str(&b, m->file_id);
        if (caption && *caption && file_methods[i].caption) {
            jsonw_key(&b, "caption");
            jsonw_str(&b, caption);
        }
        break;
    }
    if (!method && !content_payload(&b, m, &method)) {
        buf_free(&b);
        return -ENOTSUP;
    }
    return payload_queue(x, &b, chat, method, purpose, request_id);
}

bool desk_media_resendable(enum tg_media media)
{
    switch (media) {
    case TG_MEDIA_LOCATION:
    case TG_MEDIA_VENUE:
    case TG_MEDIA_CONTACT:
    case TG_MEDIA_POLL:
    case TG_MEDIA_DICE:
        return true;
    default:
        for (size_t i = 0; i < sizeof(file_methods) / sizeof(file_methods[0]); i++)
            if (file_methods[i].media == media)
                return true;
        return false;
    }
}

int desk_answer_callback(struct desk_ctx *x, int64_t chat, const char *id, const char *text,
                         bool alert)
{
    struct buf t, b;
    buf_init(&t, 1024);
    desk_fmt_preview(&t, text, ANSWER_MAX);
    buf_init(&b, PAYLOAD_MAX);
    buf_addc(&b, '{');
    jsonw_key(&b, "callback_query_id");
    jsonw_str(&b, id);
    jsonw_key(&b, "text");
    jsonw_str(&b, buf_str(&t));
    jsonw_key(&b, "show_alert");
    buf_add(&b, alert ? "true" : "false");
    int rc = buf_error(&t) == -ENOMEM ? -ENOMEM : 0;
    buf_free(&t);
    if (rc < 0) {
        buf_free(&b);
        return rc;
    }
    return payload_queue(x, &b, chat, "answerCallbackQuery", "answer", 0);
}

void desk_markup(struct buf *b, const char *const *labels, const char *const *data, size_t n)
{
    buf_add(b, "{\"inline_keyboard\":[[");
    for (size_t i = 0; i < n; i++) {
        buf_add(b, i ? ",{" : "{");
        jsonw_key(b, "text");
        jsonw_str(b, labels[i]);
        jsonw_key(b, "callback_data");
        jsonw_str(b, data[i]);
        buf_addc(b, '}');
    }
    buf_add(b, "]]}");
}

/* The reply_markup of a notification: [Take #N] [Close #N]. */
static void buttons(struct buf *b, int64_t request_id)
{
    char take[32], close[32], take_label[40], close_label[40];
    desk_callback_data(DESK_CMD_TAKE, request_id, take, sizeof(take));
    desk_callback_data(DESK_CMD_CLOSE, request_id, close, sizeof(close));
    snprintf(take_label, sizeof(take_label), "Take #%" PRId64, request_id);
    snprintf(close_label, sizeof(close_label), "Close #%" PRId64, request_id);
    const char *labels[2] = {take_label, close_label}, *data[2] = {take, close};
    desk_markup(b, labels, data, 2);
}

/* A notification about request_id: in topics mode it goes into the request's
 * topic (the sender finds or makes it), else it is mapped for replies. */
static const char *notify_purpose(const struct desk_ctx *x, int64_t request_id)
{
    return x->d->topics && request_id ? SENDER_PURPOSE_TOPIC : "notify";
}

int desk_notify_chats(struct desk_ctx *x, const struct desk_staff_chats *chats, int64_t request_id,
                      const char *text, bool with_buttons)
{
    if (chats->n == 0)
        return 0;
    struct buf markup;
    buf_init(&markup, 1024);
    if (with_buttons)
        buttons(&markup, request_id);
    int rc = buf_error(&markup) ? -ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < chats->n; i++)
        rc = desk_send_text(x, chats->ids[i], text, with_buttons ? buf_str(&markup) : NULL,
                            notify_purpose(x, request_id), request_id);
    buf_free(&markup);
    return rc;
}

int desk_notify_staff(struct desk_ctx *x, int64_t request_id, const char *text, bool with_buttons)
{
    struct desk_staff_chats chats;
    int rc = desk_staff_chats(x, &chats);
    return rc < 0 ? rc : desk_notify_chats(x, &chats, request_id, text, with_buttons);
}

int desk_notify_media(struct desk_ctx *x, const struct desk_staff_chats *chats, int64_t request_id,
                      const struct tg_message *m)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < chats->n; i++)
        rc = m->business_connection_id
                 ? desk_send_content(x, chats->ids[i], m, NULL, NULL, notify_purpose(x, request_id),
                                     request_id)
                 : desk_send_message_copy(x, chats->ids[i], m, NULL, notify_purpose(x, request_id),
                                          request_id);
    return rc;
}

int desk_send_document(struct desk_ctx *x, int64_t chat, const char *filename, const char *type,
                       const char *content, size_t len, const char *caption, int64_t request_id)
{
    struct buf b;
    payload_open(x, &b, chat, len * 6 + PAYLOAD_MAX); /* JSON escapes a byte in at most 6 */
    jsonw_key(&b, "caption");
    jsonw_str(&b, caption);
    jsonw_key(&b, "document");
    buf_addc(&b, '{');
    jsonw_key(&b, "filename");
    jsonw_str(&b, filename);
    jsonw_key(&b, "content_type");
    jsonw_str(&b, type);
    jsonw_key(&b, "content");
    jsonw_strn(&b, content, len);
    buf_addc(&b, '}');
    if (buf_error(&b) < 0) {
        buf_free(&b);
        return -ENOMEM;
    }
    return payload_queue(x, &b, chat, "sendDocument", "reply", request_id);
}

int desk_refuse_callback(struct desk_ctx *x, const struct tg_callback_query *cq,
                         const char *message, const char *text)
{
    int64_t chat = cq->has_message ? cq->message_chat_id : 0;
    json_t *ctx = json_pack("{sI ss sI}", "user_id", (json_int_t)cq->from.id, "data",
                            cq->data ? cq->data : "", "chat_id", (json_int_t)chat);
    int rc = ctx ? desk_audit(x, "warn", message, ctx) : -ENOMEM;
    json_decref(ctx);
    return rc < 0 ? rc : desk_answer_callback(x, cq->from.id, cq->id, text, true);
}
