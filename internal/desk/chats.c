#include "desk/chats.h"

#include <errno.h>

#include "util/strnum.h"

const struct db_stmt desk_chats_statements[] = {
    {"desk_chats_unreachable",
     "UPDATE users SET is_unreachable = true, unreachable_reason = $2"
     " WHERE user_id = $1 AND NOT is_unreachable",
     2},
    {"desk_chats_migrated",
     "INSERT INTO bot_state (key, value) VALUES ('chat_migrated:' || $1, $2)"
     " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
     2},
};
const size_t desk_chats_statements_count =
    sizeof(desk_chats_statements) / sizeof(desk_chats_statements[0]);

/* Runs statement name with two parameters; 0 when it succeeded. */
static int run(struct pool_conn *c, const char *name, const char *a, const char *b)
{
    const char *p[2] = {a, b};
    PGresult *r = db_exec(c, name, 2, p);
    int rc = r && PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -EIO;
    PQclear(r);
    return rc;
}

int desk_chats_unreachable(struct pool_conn *c, int64_t chat, const char *reason)
{
    char id[STRNUM_I64_MAX];
    strnum_fmt_i64(id, chat);
    return run(c, "desk_chats_unreachable", id, reason);
}

int desk_chats_migrated(struct pool_conn *c, int64_t old_chat, int64_t new_chat)
{
    char from[STRNUM_I64_MAX], to[STRNUM_I64_MAX];
    strnum_fmt_i64(from, old_chat);
    strnum_fmt_i64(to, new_chat);
    return run(c, "desk_chats_migrated", from, to);
}
