#include "desk/chats.h"

#include <errno.h>

#include "db/sqlstate.h"
#include "util/strnum.h"

const struct pool_stmt desk_chats_statements[] = {
    {"desk_chats_unreachable",
     "UPDATE users SET is_unreachable = true, unreachable_reason = $2"
     " WHERE user_id = $1 AND NOT is_unreachable",
     2},
    {"desk_chats_reachable",
     "UPDATE users SET is_unreachable = false, unreachable_reason = NULL"
     " WHERE user_id = $1 AND is_unreachable",
     1},
    {"desk_chats_migrated",
     "INSERT INTO bot_state (key, value) VALUES ('chat_migrated:' || $1, $2)"
     " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
     2},
    {"desk_chats_current", "SELECT value FROM bot_state WHERE key = 'chat_migrated:' || $1", 1},
};
const size_t desk_chats_statements_count =
    sizeof(desk_chats_statements) / sizeof(desk_chats_statements[0]);

int desk_chats_unreachable(struct pool_conn *c, int64_t chat, const char *reason, char *sqlstate)
{
    char id[STRNUM_I64_MAX];
    strnum_fmt_i64(id, chat);
    const char *p[2] = {id, reason};
    return pool_run(c, "desk_chats_unreachable", 2, p, NULL, sqlstate);
}

int desk_chats_reachable(struct pool_conn *c, int64_t chat, char *sqlstate)
{
    char id[STRNUM_I64_MAX];
    strnum_fmt_i64(id, chat);
    const char *p[1] = {id};
    return pool_run(c, "desk_chats_reachable", 1, p, NULL, sqlstate);
}

int desk_chats_migrated(struct pool_conn *c, int64_t old_chat, int64_t new_chat, char *sqlstate)
{
    char from[STRNUM_I64_MAX], to[STRNUM_I64_MAX];
    strnum_fmt_i64(from, old_chat);
    strnum_fmt_i64(to, new_chat);
    const char *p[2] = {from, to};
    return pool_run(c, "desk_chats_migrated", 2, p, NULL, sqlstate);
}

int desk_chats_current(struct pool_conn *c, int64_t chat, int64_t *ret, char *sqlstate)
{
    char id[STRNUM_I64_MAX];
    strnum_fmt_i64(id, chat);
    const char *p[1] = {id};
    PGresult *r;
    int rc = pool_run(c, "desk_chats_current", 1, p, &r, sqlstate);
    if (rc < 0)
        return rc;
    int64_t now = chat;
    if (PQntuples(r) == 1 && strnum_i64(PQgetvalue(r, 0, 0), INT64_MIN, INT64_MAX, &now) < 0)
        now = chat;
    PQclear(r);
    *ret = now;
    return 0;
}
