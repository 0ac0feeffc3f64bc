/*
 * update_diff.c - tg_update_parse() against the jansson-based reference
 * (see update_ref.h). Shared by fuzz_update_diff and test_update_diff.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "update_ref.h"

/* Both NULL, or both strings with the same bytes. */
static bool same_str(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* Both NULL, or both JSON texts of equal values (the reference's is jansson's
 * dump of what the other holds as Telegram wrote it). */
static bool same_json(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    json_t *ja = json_loads(a, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL),
           *jb = json_loads(b, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    bool same = ja && jb && json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return same;
}

/* For the diff_*() below: each returns the first field that differs, or NULL. */
#define SAME(f)           \
    do {                  \
        if (a->f != b->f) \
            return #f;    \
    } while (0)
#define SAME_STR(f)                \
    do {                           \
        if (!same_str(a->f, b->f)) \
            return #f;             \
    } while (0)

static const char *diff_user(const struct tg_user *a, const struct tg_user *b)
{
    SAME(id);
    SAME(is_bot);
    SAME_STR(first_name);
    SAME_STR(last_name);
    SAME_STR(username);
    SAME_STR(language_code);
    return NULL;
}

static const char *diff_chat(const struct tg_chat *a, const struct tg_chat *b)
{
    SAME(id);
    SAME(type);
    SAME_STR(title);
    SAME_STR(username);
    return NULL;
}

static const char *diff_message(const struct tg_message *a, const struct tg_message *b)
{
    SAME(message_id);
    SAME(has_from);
    SAME(date);
    SAME(edit_date);
    SAME_STR(text);
    SAME(text_is_caption);
    SAME(text_was_cleaned);
    if (strcmp(a->command, b->command) != 0)
        return "command";
    SAME_STR(command_bot);
    SAME_STR(command_args);
    /* the arguments are the rest of the text, in both */
    if (a->command_args && a->command_args - a->text != b->command_args - b->text)
        return "command_args offset";
    SAME(media);
    SAME_STR(file_id);
    SAME_STR(media_group_id);
    SAME(has_reply_to);
    SAME(reply_to_message_id);
    SAME(reply_to_from_id);
    SAME(migrate_to_chat_id);
    SAME(message_thread_id);
    SAME(is_topic_message);
    SAME(forum_service);
    if (!same_json(a->content, b->content))
        return "content";
    SAME(is_service);
    SAME_STR(business_connection_id);
    SAME(sender_business_bot_id);
    return NULL;
}

static const char *diff_business(const struct tg_business_connection *a,
                                 const struct tg_business_connection *b)
{
    SAME_STR(id);
    SAME(user_chat_id);
    SAME(date);
    SAME(is_enabled);
    SAME(can_reply);
    if (!same_json(a->rights, b->rights))
        return "rights";
    return NULL;
}

static const char *diff_deleted(const struct tg_business_deleted *a,
                                const struct tg_business_deleted *b)
{
    SAME_STR(connection_id);
    SAME(n_message_ids);
    for (size_t i = 0; i < a->n_message_ids; i++)
        if (a->message_ids[i] != b->message_ids[i])
            return "message_ids";
    return NULL;
}

static const char *diff_callback(const struct tg_callback_query *a,
                                 const struct tg_callback_query *b)
{
    SAME_STR(id);
    SAME_STR(data);
    SAME(has_message);
    SAME(message_chat_id);
    SAME(message_id);
    SAME(message_thread_id);
    return NULL;
}

static const char *diff_member(const struct tg_chat_member_update *a,
                               const struct tg_chat_member_update *b)
{
    SAME_STR(old_status);
    SAME_STR(new_status);
    return NULL;
}

/* The reason without its " (byte N)" suffix, if it has one. */
static size_t reason_len(const char *err)
{
    const char *p = strstr(err, " (byte ");
    return p ? (size_t)(p - err) : strlen(err);
}

const char *update_diff(const char *body, size_t len, char *why, size_t cap)
{
    struct tg_update u, u_before;
    struct tg_update_ref ref, ref_before;
    char err[256], err_ref[256];
    const char *d = NULL, *what = NULL;
    int r, r_ref;

    /* Filled, so that a failure that writes *ret shows. */
    memset(&u, 0xA5, sizeof(u));
    memcpy(&u_before, &u, sizeof(u));
    memset(&ref, 0xA5, sizeof(ref));
    memcpy(&ref_before, &ref, sizeof(ref));
    memset(err, 0, sizeof(err));
    memset(err_ref, 0, sizeof(err_ref));
    r = tg_update_parse(body, len, &u, err, sizeof(err));
    r_ref = tg_update_parse_ref(body, len, &ref, err_ref, sizeof(err_ref));

    if (r != r_ref) {
        snprintf(why, cap, "returned %d, the reference %d (%s | %s)", r, r_ref, err, err_ref);
        return why;
    }
    if (r < 0) {
        if (reason_len(err) != reason_len(err_ref) || memcmp(err, err_ref, reason_len(err)) != 0)
            snprintf(why, cap, "reason \"%s\", the reference's \"%s\"", err, err_ref);
        else if (strcmp(err, err_ref) != 0)
            snprintf(why, cap, "byte in \"%s\", the reference's \"%s\"", err, err_ref);
        else if (memcmp(&u, &u_before, sizeof(u)) != 0 ||
                 memcmp(&ref, &ref_before, sizeof(ref)) != 0)
            snprintf(why, cap, "*ret written on failure");
        else
            return NULL;
        return why;
    }

    if (u.update_id != ref.u.update_id)
        d = "update_id";
    else if (u.kind != ref.u.kind)
        d = "kind";
    else if ((d = diff_message(&u.message, &ref.u.message)) != NULL)
        what = "message";
    else if ((d = diff_user(&u.message.from, &ref.u.message.from)) != NULL)
        what = "message.from";
    else if ((d = diff_chat(&u.message.chat, &ref.u.message.chat)) != NULL)
        what = "message.chat";
    else if ((d = diff_callback(&u.callback, &ref.u.callback)) != NULL)
        what = "callback";
    else if ((d = diff_user(&u.callback.from, &ref.u.callback.from)) != NULL)
        what = "callback.from";
    else if ((d = diff_member(&u.member, &ref.u.member)) != NULL)
        what = "member";
    else if ((d = diff_chat(&u.member.chat, &ref.u.member.chat)) != NULL)
        what = "member.chat";
    else if ((d = diff_user(&u.member.from, &ref.u.member.from)) != NULL)
        what = "member.from";
    else if ((d = diff_business(&u.business, &ref.u.business)) != NULL)
        what = "business";
    else if ((d = diff_user(&u.business.user, &ref.u.business.user)) != NULL)
        what = "business.user";
    else if ((d = diff_deleted(&u.deleted, &ref.u.deleted)) != NULL)
        what = "deleted";
    else if ((d = diff_chat(&u.deleted.chat, &ref.u.deleted.chat)) != NULL)
        what = "deleted.chat";
    if (d)
        snprintf(why, cap, "%s%s%s differs", what ? what : "", what ? "." : "", d);
    tg_update_free(&u);
    tg_update_free_ref(&ref);
    return d ? why : NULL;
}
