/*
 * desk.c - which updates the desk acts on, and who handles each: the user
 * flow (user.c), the staff flow (staff.c), decided by the pure rules of
 * text.c. The statements live in db.c.
 */
#include "desk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "staff.h"
#include "text.h"
#include "user.h"

bool desk_wants(const struct config *cfg, const struct tg_update *u)
{
    const struct tg_message *m = &u->message;
    switch (u->kind) {
    case TG_UPDATE_MESSAGE:
    case TG_UPDATE_EDITED_MESSAGE:
        if (!m->has_from || m->from.is_bot)
            return false;
        if (m->chat.type == TG_CHAT_PRIVATE)
            return true;
        if (m->chat.type != TG_CHAT_GROUP && m->chat.type != TG_CHAT_SUPERGROUP)
            return false;
        /* The staff group; or, from staff, possibly the supergroup it became
         * (desk_apply checks that against bot_state). */
        return (cfg->has_admin_chat_id && m->chat.id == cfg->admin_chat_id) ||
               config_is_admin(cfg, m->from.id);
    case TG_UPDATE_CALLBACK_QUERY:
        return true; /* always answered, forged or not */
    case TG_UPDATE_MY_CHAT_MEMBER:
        return u->member.chat.type == TG_CHAT_PRIVATE;
    default:
        return false;
    }
}

static int on_message(struct desk_ctx *x, const struct tg_message *m)
{
    bool staff = config_is_admin(x->cfg, m->from.id);
    enum desk_place place = DESK_PRIVATE;
    if (m->chat.type != TG_CHAT_PRIVATE) {
        bool group = false;
        int rc = desk_is_staff_group(x, m->chat.id, &group);
        if (rc < 0)
            return rc;
        if (!group)
            return DESK_IGNORED;
        place = DESK_STAFF_GROUP;
        if (m->migrate_to_chat_id != 0)
            return desk_staff_group_migrated(x, m->chat.id, m->migrate_to_chat_id);
    }

    enum desk_cmd cmd = desk_cmd_lookup(m->command);
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
        /* A user's words are never lost to a slash: "/ticket refund" is a message. */
        return staff ? desk_staff_help(x, m, true) : desk_user_message(x, m);
    case DESK_ROUTE_IGNORE:
        break;
    }
    if (cmd != DESK_CMD_NONE)
        return DESK_IGNORED; /* e.g. another bot's command in the staff group */
    if (place == DESK_PRIVATE && !staff)
        return desk_user_message(x, m);
    return desk_staff_message(x, m, staff, place);
}

static int on_edit(struct desk_ctx *x, const struct tg_message *m)
{
    if (m->chat.type != TG_CHAT_PRIVATE) {
        bool group = false;
        int rc = desk_is_staff_group(x, m->chat.id, &group);
        if (rc < 0)
            return rc;
        if (!group)
            return DESK_IGNORED;
    }
    return desk_user_edit(x, m);
}

int desk_apply(const struct config *cfg, struct pool_conn *c, const struct tg_update *u,
               struct outbox_batch *out, char *sqlstate)
{
    struct desk_ctx x = {.cfg = cfg, .c = c, .out = out, .sqlstate = sqlstate};
    switch (u->kind) {
    case TG_UPDATE_MESSAGE:
        return on_message(&x, &u->message);
    case TG_UPDATE_EDITED_MESSAGE:
        return on_edit(&x, &u->message);
    case TG_UPDATE_CALLBACK_QUERY:
        return desk_staff_callback(&x, &u->callback);
    case TG_UPDATE_MY_CHAT_MEMBER:
        return desk_user_member(&x, &u->member);
    default:
        return DESK_IGNORED;
    }
}
