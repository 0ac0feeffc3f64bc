/*
 * update.h - a Telegram Update parsed into typed C structs.
 *
 * Pure: no I/O, no globals; safe to call from any thread. Every string field
 * is NULL when absent, else NUL-terminated valid UTF-8 without NUL bytes
 * (they are removed, and invalid UTF-8 replaced by U+FFFD): a copy in the one
 * allocation the update owns, so the body may go once parsed.
 *
 * Ids are 64-bit: user ids exceed 2^31, group ids are negative, supergroup
 * ids are below -10^12. A non-integer id (string, float, out of range) makes
 * the update malformed.
 */
#ifndef TGDESK_TG_UPDATE_H
#define TGDESK_TG_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tg_update_kind {
    TG_UPDATE_MESSAGE = 0,
    TG_UPDATE_EDITED_MESSAGE,
    TG_UPDATE_CALLBACK_QUERY,
    TG_UPDATE_MY_CHAT_MEMBER,
    TG_UPDATE_CHANNEL_POST,        /* acknowledged and ignored */
    TG_UPDATE_EDITED_CHANNEL_POST, /* acknowledged and ignored */
    TG_UPDATE_OTHER,               /* any other kind: acknowledged and ignored */
    /* Telegram Business (Bot API 7.2+): a business account connected to the bot */
    TG_UPDATE_BUSINESS_CONNECTION,       /* connected, changed or disconnected */
    TG_UPDATE_BUSINESS_MESSAGE,          /* a message in one of its private chats */
    TG_UPDATE_EDITED_BUSINESS_MESSAGE,   /* an edit there */
    TG_UPDATE_DELETED_BUSINESS_MESSAGES, /* messages deleted there */
};

enum tg_chat_type {
    TG_CHAT_UNKNOWN = 0,
    TG_CHAT_PRIVATE,
    TG_CHAT_GROUP,
    TG_CHAT_SUPERGROUP,
    TG_CHAT_CHANNEL,
};

enum tg_media {
    TG_MEDIA_NONE = 0,
    TG_MEDIA_PHOTO, /* file_id of the largest size */
    TG_MEDIA_DOCUMENT,
    TG_MEDIA_VOICE,
    TG_MEDIA_VIDEO,
    TG_MEDIA_STICKER,
    TG_MEDIA_AUDIO,
    TG_MEDIA_ANIMATION,
    TG_MEDIA_VIDEO_NOTE,
    /* Content without a file_id: message.content holds the object's JSON. */
    TG_MEDIA_LOCATION,
    TG_MEDIA_VENUE,
    TG_MEDIA_CONTACT,
    TG_MEDIA_POLL,
    TG_MEDIA_DICE,
    TG_MEDIA_STORY,
    TG_MEDIA_GAME,
    TG_MEDIA_CHECKLIST,
    /* Telegram copies none of these four; they can be forwarded. */
    TG_MEDIA_INVOICE,
    TG_MEDIA_PAID_MEDIA,
    TG_MEDIA_GIVEAWAY,
    TG_MEDIA_GIVEAWAY_WINNERS,
    /* A message with neither text nor any content this file knows, and no
     * service field either: a kind newer than this parser ("message"). */
    TG_MEDIA_OTHER,
};

struct tg_user {
    int64_t id; /* 0 when absent */
    bool is_bot;
    const char *first_name;
    const char *last_name;
    const char *username;
    const char *language_code;
};

struct tg_chat {
    int64_t id;
    enum tg_chat_type type;
    const char *title;
    const char *username;
};

#define TG_COMMAND_MAX 32

struct tg_message {
    int64_t message_id;
    bool has_from;
    struct tg_user from;
    struct tg_chat chat;
    int64_t date;      /* unix seconds */
    int64_t edit_date; /* 0 unless edited */
    /* text, or the caption of a media message; NULL when neither */
    const char *text;
    bool text_is_caption;
    bool text_was_cleaned; /* NUL bytes or invalid UTF-8 were removed */
    /*
     * A bot command at offset 0 ("/take 12" or "/take@desk_bot 12"):
     * command is "take" (lower-case, without '/' and '@bot'), command_bot is
     * "desk_bot" or NULL, command_args points at the text after the command
     * with leading spaces skipped ("" when none). command[0] == '\0' when the
     * message is not a command; command_bot and command_args are then NULL.
     */
    char command[TG_COMMAND_MAX + 1];
    const char *command_bot;
    const char *command_args;
    enum tg_media media;
    const char *file_id;
    const char *media_group_id;
    /* the message this one replies to, in the same chat */
    bool has_reply_to;
    int64_t reply_to_message_id;
    int64_t reply_to_from_id; /* 0 when unknown */
    /* a basic group became a supergroup (service message) */
    int64_t migrate_to_chat_id;
    /* Forum topics: the topic of a message in one (is_topic_message), else
     * 0; forum_service: a service message about a topic (created, edited,
     * closed, reopened; the General topic hidden or shown). */
    int64_t message_thread_id;
    bool is_topic_message;
    bool forum_service;
    /*
     * Content without a file (media LOCATION ... OTHER): the JSON text of
     * its object as Telegram sent it ({"latitude":...}), NULL otherwise.
     * Read only for messages without text and without a file.
     */
    const char *content;
    /* A service message (members joined, a message pinned, a topic created,
     * a payment, ...): nobody wrote it. */
    bool is_service;
    /* Telegram Business: the connection of a business_message (NULL for any
     * other message), and the bot that sent it on the business account's
     * behalf (0 when a person did). */
    const char *business_connection_id;
    int64_t sender_business_bot_id;
};

struct tg_callback_query {
    const char *id;
    struct tg_user from;
    const char *data; /* 1-64 bytes; may be forged: check everything it names */
    bool has_message;
    int64_t message_chat_id;
    int64_t message_id;
    int64_t message_thread_id; /* the message's forum topic, 0 when none */
};

struct tg_chat_member_update {
    struct tg_chat chat;
    struct tg_user from;
    const char *old_status; /* "member", "kicked", ... */
    const char *new_status;
};

/* business_connection: the bot was connected to a business account, or the
 * connection changed or ended. */
struct tg_business_connection {
    const char *id;
    struct tg_user user; /* the business account */
    int64_t user_chat_id;
    int64_t date;
    bool is_enabled;
    /* Whether the bot may answer for the account: rights.can_reply (Bot API
     * 9.0), else the older can_reply; false when neither says so. */
    bool can_reply;
    const char *rights; /* the JSON text of rights, NULL when absent */
};

/* deleted_business_messages */
struct tg_business_deleted {
    const char *connection_id;
    struct tg_chat chat;
    const int64_t *message_ids; /* in the update's arena */
    size_t n_message_ids;
};

struct tg_update {
    int64_t update_id;
    enum tg_update_kind kind;
    /* kind MESSAGE, EDITED_MESSAGE, CHANNEL_POST, EDITED_CHANNEL_POST,
     * BUSINESS_MESSAGE, EDITED_BUSINESS_MESSAGE */
    struct tg_message message;
    /* kind CALLBACK_QUERY */
    struct tg_callback_query callback;
    /* kind MY_CHAT_MEMBER */
    struct tg_chat_member_update member;
    /* owned: every string above, NULL when there is none */
    char *priv_arena;
    /* kind BUSINESS_CONNECTION */
    struct tg_business_connection business;
    /* kind DELETED_BUSINESS_MESSAGES */
    struct tg_business_deleted deleted;
};

/*
 * Parses one webhook body (len bytes, not necessarily NUL-terminated).
 * Returns 0 and fills *ret (release with tg_update_free()), or -EINVAL when
 * the body is not JSON, not an object, or not an Update (update_id missing,
 * not an integer or outside 0..2^53; a known kind whose required fields -
 * chat id, message id, callback id and sender; a business connection's id,
 * user, user_chat_id, date and is_enabled; a business message's
 * connection; deleted message ids - are missing or of the wrong type; a
 * content object such as "location" that is not an object), with a short
 * reason in err (capacity cap; never contains message
 * text), or -ENOMEM. Unknown fields and unknown update kinds are accepted.
 * *ret is untouched on failure.
 */
int tg_update_parse(const char *body, size_t len, struct tg_update *ret, char *err, size_t cap);

/* Releases what tg_update_parse() allocated. Accepts NULL. */
void tg_update_free(struct tg_update *u);

/* "message", "edited_message", "callback_query", ... for logs and metrics. */
const char *tg_update_kind_name(enum tg_update_kind kind);

/* "photo", "document", "location", ... (the messages.attachment_kind
 * values; "message" for OTHER); NULL for NONE. */
const char *tg_media_name(enum tg_media media);

#endif
