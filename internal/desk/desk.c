/*
 * desk.c - which updates the desk acts on, and who handles each: a user's
 * message (message.c), a user's commands and edits (user.c), staff
 * (staff.c), Telegram Business (business.c), decided by the pure rules of
 * rules.c. The statements and the
 * update context are in store.c; the calls the desk queues in send.c.
 */
#include "desk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "business.h"
#include "csat.h"
#include "forget.h"
#include "message.h"
#include "rules.h"
#include "search.h"
#include "staff.h"
#include "store.h"
#include "topics.h"
#include "user.h"
#include "util/strnum.h"

/* A sorted, unique copy of the n ids a and the m ids b into *ret (NULL when empty). */
static int merge_ids(const int64_t *a, size_t n, const int64_t *b, size_t m, int64_t **ret,
                     size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    if (n + m == 0)
        return 0;
    int64_t *ids = malloc((n + m) * sizeof(*ids));
    if (!ids)
        return -ENOMEM;
    if (n)
        memcpy(ids, a, n * sizeof(*ids));
    if (m)
        memcpy(ids + n, b, m * sizeof(*ids));
    qsort(ids, n + m, sizeof(*ids), strnum_cmp_i64);
    size_t unique = 0;
    for (size_t i = 0; i < n + m; i++)
        if (unique == 0 || ids[i] != ids[unique - 1])
            ids[unique++] = ids[i];
    *ret = ids;
    *ret_n = unique;
    return 0;
}

struct desk *desk_new(const struct desk_options *o)
{
    struct desk *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    if (merge_ids(o->staff_ids, o->n_staff_ids, o->supervisor_ids, o->n_supervisor_ids,
                  &d->staff_ids, &d->n_staff_ids) < 0 ||
        merge_ids(o->supervisor_ids, o->n_supervisor_ids, NULL, 0, &d->supervisor_ids,
                  &d->n_supervisor_ids) < 0) {
        desk_free(d);
        return NULL;
    }
    d->has_staff_chat = o->has_staff_chat;
    d->staff_chat_id = o->staff_chat_id;
    d->csat = o->csat;
    if (!(d->search_rate = desk_search_rate_new())) {
        desk_free(d);
        return NULL;
    }
    d->sla_ms = o->first_response_sla_ms;
    d->auto_close_ms = o->auto_close_solved_ms;
    d->i18n = o->i18n;
    d->topics = o->topics && o->has_staff_chat;
    if (o->business_zone) {
        char days[16] = "{"; /* "{1,2,3,4,5,6,7}" */
        size_t n = 1;
        for (int day = 1; day <= 7; day++)
            if (o->business_days & (1u << day)) {
                if (n > 1)
                    days[n++] = ',';
                days[n++] = (char)('0' + day);
            }
        days[n++] = '}';
        days[n] = '\0';
        snprintf(d->hours_open, sizeof(d->hours_open), "%d", o->business_open_min);
        snprintf(d->hours_close, sizeof(d->hours_close), "%d", o->business_close_min);
        d->hours_days = strdup(days);
        d->hours_zone = strdup(o->business_zone);
        if (!d->hours_days || !d->hours_zone) {
            desk_free(d);
            return NULL;
        }
    }
    return d;
}

void desk_free(struct desk *d)
{
    if (!d)
        return;
    free(d->staff_ids);
    free(d->supervisor_ids);
    free(d->hours_days);
    free(d->hours_zone);
    desk_search_rate_free(d->search_rate);
    free(d);
}

static bool in_ids(const int64_t *ids, size_t n, int64_t id)
{
    return n > 0 && bsearch(&id, ids, n, sizeof(*ids), strnum_cmp_i64) != NULL;
}

bool desk_is_staff(const struct desk *d, int64_t id)
{
    return in_ids(d->staff_ids, d->n_staff_ids, id);
}

bool desk_is_supervisor(const struct desk *d, int64_t id)
{
    return d->n_supervisor_ids > 0 ? in_ids(d->supervisor_ids, d->n_supervisor_ids, id)
                                   : desk_is_staff(d, id);
}

/*
 * Messages nobody wrote (service messages; a group that became a
 * supergroup still counts: the staff group follows it), and the updates a
 * live location sends while it moves: edits the desk would only record.
 */
static bool desk_message_skipped(const struct tg_update *u)
{
    const struct tg_message *m = &u->message;
    bool edit = u->kind == TG_UPDATE_EDITED_MESSAGE || u->kind == TG_UPDATE_EDITED_BUSINESS_MESSAGE;
    return (m->is_service && !m->migrate_to_chat_id) || (edit && m->media == TG_MEDIA_LOCATION);
}

bool desk_wants(const struct desk *d, const struct tg_update *u)
{
    const struct tg_message *m = &u->message;
    switch (u->kind) {
    case TG_UPDATE_MESSAGE:
    case TG_UPDATE_EDITED_MESSAGE:
        if (!m->has_from || m->from.is_bot || m->forum_service || desk_message_skipped(u))
            return false;
        if (m->chat.type == TG_CHAT_PRIVATE)
            return true;
        if (m->chat.type != TG_CHAT_GROUP && m->chat.type != TG_CHAT_SUPERGROUP)
            return false;
        /* The staff group; or, from staff, possibly the supergroup it became
         * (desk_apply checks that against bot_state). */
        return (d->has_staff_chat && m->chat.id == d->staff_chat_id) ||
               desk_is_staff(d, m->from.id);
    case TG_UPDATE_CALLBACK_QUERY:
        return true; /* always answered, forged or not */
    case TG_UPDATE_MY_CHAT_MEMBER:
        return u->member.chat.type == TG_CHAT_PRIVATE;
    case TG_UPDATE_BUSINESS_MESSAGE:
    case TG_UPDATE_EDITED_BUSINESS_MESSAGE:
        /* a business account's private chats; what the bot sent for the
         * account comes back too, and was stored when staff wrote it */
        return m->has_from && !m->from.is_bot && m->chat.type == TG_CHAT_PRIVATE &&
               !m->sender_business_bot_id && !desk_message_skipped(u);
    case TG_UPDATE_BUSINESS_CONNECTION:
    case TG_UPDATE_DELETED_BUSINESS_MESSAGES:
        return true;
    default:
        return false;
    }
}

bool desk_bulk(const struct desk *d, const struct tg_update *u)
{
    return desk_message_is(d, u);
}

/*
 * Where a message was written: a private chat or a staff group (into
 * *ret_place); DESK_IGNORED for any other chat, a negative errno when the
 * database could not say.
 */
static int place_of(struct desk_ctx *x, const struct tg_message *m, enum desk_place *ret_place)
{
    *ret_place = DESK_PRIVATE;
    if (m->chat.type == TG_CHAT_PRIVATE)
        return 0;
    bool group = false;
    int rc = desk_is_staff_group(x, m->chat.id, &group);
    if (rc < 0)
        return rc;
    if (!group)
        return DESK_IGNORED;
    *ret_place = DESK_STAFF_GROUP;
    return 0;
}

static int on_message(struct desk_ctx *x, const struct tg_message *m)
{
    bool staff = desk_is_staff(x->d, m->from.id);
    enum desk_place place;
    int rc = place_of(x, m, &place);
    if (rc != 0)
        return rc;
    if (place == DESK_STAFF_GROUP && m->migrate_to_chat_id != 0)
        return desk_staff_group_migrated(x, m->chat.id, m->migrate_to_chat_id);

    enum desk_cmd cmd = desk_cmd_lookup(m->command);
    if (place == DESK_STAFF_GROUP && x->d->topics && m->message_thread_id) {
        /* In a forum topic: what is sent back stays there; a user's topic
         * has a meaning of its own (topics.h). */
        x->thread_chat = m->chat.id;
        x->thread_id = m->message_thread_id;
        bool handled;
        rc = desk_topic_staff(x, m, staff, cmd, &handled);
        if (rc < 0 || handled)
            return rc;
    }
    switch (desk_route(cmd, staff, place)) {
    case DESK_ROUTE_USER:
        return desk_user_command(x, m, cmd);
    case DESK_ROUTE_STAFF:
        return desk_staff_command(x, m, cmd);
    case DESK_ROUTE_STAFF_HELP:
        return desk_staff_help(x, m, false);
    case DESK_ROUTE_REFUSE:
        return desk_staff_refuse(x, m, desk_cmd_name(cmd), place);
    case DESK_ROUTE_UNKNOWN:
        if (staff)
            return desk_staff_help(x, m, true);
        break; /* a user's "/ticket refund" is a message: desk_message_is() */
    case DESK_ROUTE_IGNORE:
        if (cmd != DESK_CMD_NONE)
            return DESK_IGNORED; /* e.g. another bot's command in the staff group */
        if (place == DESK_STAFF_GROUP || staff)
            return desk_staff_message(x, m, staff, place);
        break;
    }
    return DESK_IGNORED; /* desk_apply() sends users' messages to message.c first */
}

static int on_edit(struct desk_ctx *x, const struct tg_message *m)
{
    enum desk_place place;
    int rc = place_of(x, m, &place);
    return rc != 0 ? rc : desk_user_edit(x, m);
}

int desk_apply(struct desk *d, struct pool_conn *c, const struct tg_update *u,
               struct outbox_batch *out, char sqlstate[DB_SQLSTATE_LEN])
{
    struct desk_ctx x = {.d = d, .c = c, .out = out, .sqlstate = sqlstate};
    if (desk_message_is(d, u)) {
        enum desk_verdict v;
        int rc = desk_messages_apply(&x, &u, 1, &v);
        return rc < 0 ? rc : (int)v;
    }
    int rc = desk_claim(&x, u);
    if (rc <= 0)
        return rc < 0 ? rc : DESK_DUPLICATE;
    switch (u->kind) {
    case TG_UPDATE_MESSAGE:
        return on_message(&x, &u->message);
    case TG_UPDATE_EDITED_MESSAGE:
        return on_edit(&x, &u->message);
    case TG_UPDATE_CALLBACK_QUERY:
        if (d->topics && u->callback.message_thread_id) {
            x.thread_chat = u->callback.message_chat_id;
            x.thread_id = u->callback.message_thread_id;
        }
        if (desk_forget_is(u->callback.data))
            return desk_forget_callback(&x, &u->callback);
        return desk_rate_is(u->callback.data) ? desk_csat_callback(&x, &u->callback)
                                              : desk_staff_callback(&x, &u->callback);
    case TG_UPDATE_MY_CHAT_MEMBER:
        return desk_user_member(&x, &u->member);
    case TG_UPDATE_BUSINESS_CONNECTION:
    case TG_UPDATE_BUSINESS_MESSAGE:
    case TG_UPDATE_EDITED_BUSINESS_MESSAGE:
    case TG_UPDATE_DELETED_BUSINESS_MESSAGES:
        return desk_business_apply(&x, u);
    default:
        return DESK_IGNORED;
    }
}

int desk_apply_bulk(struct desk *d, struct pool_conn *c, const struct tg_update *const *u, size_t n,
                    enum desk_verdict *ret, struct outbox_batch *out,
                    char sqlstate[DB_SQLSTATE_LEN])
{
    struct desk_ctx x = {.d = d, .c = c, .out = out, .sqlstate = sqlstate};
    return desk_messages_apply(&x, u, n, ret);
}
