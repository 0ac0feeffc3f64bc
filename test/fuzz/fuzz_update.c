/*
 * fuzz_update.c - libFuzzer target for tg_update_parse().
 *
 * Beyond "no crash, no leak" it checks what the header promises, so a wrong
 * result is a finding too: every exposed string is NUL-terminated valid UTF-8
 * (jansson's json_string() is the independent judge), a command is lower-case
 * [a-z0-9_]{1,32} with its arguments inside the text, a media kind comes
 * with a file_id and content without a file with its JSON (a JSON object,
 * as jansson judges), a business message with its connection, deleted ids
 * are there to read, and a failure leaves *ret alone and explains itself.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tg/update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless s is NULL or valid UTF-8; returns its length for the checksum. */
static size_t check_string(const char *s)
{
    json_t *j;
    size_t n;

    if (!s)
        return 0;
    n = strlen(s);
    j = json_stringn(s, n);
    if (!j)
        abort();
    json_decref(j);
    return n;
}

/* Aborts unless s is NULL or the text of a JSON object; returns its length. */
static size_t check_json_object(const char *s)
{
    json_t *j;
    size_t n = check_string(s);

    if (!s)
        return 0;
    j = json_loads(s, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(j))
        abort();
    json_decref(j);
    return n;
}

static size_t check_user(const struct tg_user *u)
{
    return check_string(u->first_name) + check_string(u->last_name) + check_string(u->username) +
           check_string(u->language_code);
}

static size_t check_chat(const struct tg_chat *c)
{
    if (c->type > TG_CHAT_CHANNEL)
        abort();
    return check_string(c->title) + check_string(c->username);
}

static size_t check_message(const struct tg_message *m)
{
    size_t sum = check_user(&m->from) + check_chat(&m->chat) + check_string(m->text) +
                 check_string(m->file_id) + check_string(m->media_group_id);
    size_t i, n;

    if (m->command[0] != '\0') {
        if (!m->text || m->text[0] != '/' || !m->command_args)
            abort();
        n = strlen(m->command);
        if (n > TG_COMMAND_MAX)
            abort();
        for (i = 0; i < n; i++) {
            char ch = m->command[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
                abort();
        }
        if (m->command_args < m->text || m->command_args > m->text + strlen(m->text))
            abort();
        if (m->command_bot && (m->command_bot[0] == '\0' || strlen(m->command_bot) > 32))
            abort();
        sum += check_string(m->command_bot) + check_string(m->command_args);
    } else if (m->command_bot || m->command_args) {
        abort();
    }
    if ((m->media == TG_MEDIA_NONE) != (tg_media_name(m->media) == NULL))
        abort();
    if (m->media >= TG_MEDIA_PHOTO && m->media <= TG_MEDIA_VIDEO_NOTE && !m->file_id)
        abort();
    if ((m->media >= TG_MEDIA_LOCATION && m->media <= TG_MEDIA_GIVEAWAY_WINNERS) !=
        (m->content != NULL))
        abort();
    if (m->is_service && (m->media != TG_MEDIA_NONE || m->text))
        abort();
    sum += check_json_object(m->content);
    if (m->text_was_cleaned && !m->text)
        abort();
    return sum + (size_t)m->message_id + (size_t)m->reply_to_message_id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tg_update u, untouched;
    char err[128] = "";
    volatile size_t sum = 0;
    int r;

    memset(&u, 0xA5, sizeof(u));
    memcpy(&untouched, &u, sizeof(u));
    r = tg_update_parse((const char *)data, size, &u, err, sizeof(err));
    if (r < 0) {
        if (err[0] == '\0' || memcmp(&u, &untouched, sizeof(u)) != 0)
            abort();
        return 0;
    }
    if (r != 0 || u.update_id < 0 || u.update_id > (INT64_C(1) << 53))
        abort();
    sum += strlen(tg_update_kind_name(u.kind));
    switch (u.kind) {
    case TG_UPDATE_MESSAGE:
    case TG_UPDATE_EDITED_MESSAGE:
    case TG_UPDATE_CHANNEL_POST:
    case TG_UPDATE_EDITED_CHANNEL_POST:
        sum += check_message(&u.message);
        break;
    case TG_UPDATE_CALLBACK_QUERY:
        if (!u.callback.id)
            abort();
        sum += check_string(u.callback.id) + check_user(&u.callback.from) +
               check_string(u.callback.data);
        break;
    case TG_UPDATE_MY_CHAT_MEMBER:
        if (!u.member.new_status)
            abort();
        sum += check_chat(&u.member.chat) + check_user(&u.member.from) +
               check_string(u.member.old_status) + check_string(u.member.new_status);
        break;
    case TG_UPDATE_BUSINESS_MESSAGE:
    case TG_UPDATE_EDITED_BUSINESS_MESSAGE:
        if (!u.message.business_connection_id)
            abort();
        sum += check_message(&u.message) + check_string(u.message.business_connection_id);
        break;
    case TG_UPDATE_BUSINESS_CONNECTION:
        if (!u.business.id)
            abort();
        sum += check_string(u.business.id) + check_user(&u.business.user) +
               check_json_object(u.business.rights);
        break;
    case TG_UPDATE_DELETED_BUSINESS_MESSAGES:
        if (!u.deleted.connection_id || (u.deleted.n_message_ids > 0 && !u.deleted.message_ids))
            abort();
        sum += check_string(u.deleted.connection_id) + check_chat(&u.deleted.chat);
        for (size_t i = 0; i < u.deleted.n_message_ids; i++)
            sum += (size_t)u.deleted.message_ids[i];
        break;
    case TG_UPDATE_OTHER:
        break;
    default:
        abort();
    }
    (void)sum;
    tg_update_free(&u);
    tg_update_free(&u); /* freeing a freed (zeroed) update is harmless */
    return 0;
}
