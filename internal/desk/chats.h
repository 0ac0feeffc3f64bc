/*
 * chats.h - what the desk knows about chats beyond requests: a user who
 * blocked the bot (a 403 from the Bot API, or a my_chat_member update)
 * cannot be reached until they write or unblock it, and a group that
 * became a supergroup (a service message, or a 400 with migrate_to_chat_id)
 * lives on under a new chat id, kept in bot_state under
 * 'chat_migrated:<old id>'. The one owner of these statements: the desk and
 * the sender (through callbacks main.c wires) both come here.
 *
 * The statements are registered with the pool; each function runs one of
 * them on the caller's connection, in whatever transaction it has open, and
 * on failure returns -EIO with the SQLSTATE in sqlstate (6 bytes; may be
 * NULL).
 */
#ifndef TGDESK_DESK_CHATS_H
#define TGDESK_DESK_CHATS_H

#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

/* Statements of the chats; registered with the pool. */
extern const struct pool_stmt desk_chats_statements[];
extern const size_t desk_chats_statements_count;

/*
 * Marks the user of private chat `chat` unreachable, keeping reason (the
 * Bot API's description; NULL: none) unless it was marked already. Returns
 * 0, or -EIO.
 */
int desk_chats_unreachable(struct pool_conn *c, int64_t chat, const char *reason, char *sqlstate);

/* Marks the user of private chat `chat` reachable again. Returns 0, or -EIO. */
int desk_chats_reachable(struct pool_conn *c, int64_t chat, char *sqlstate);

/*
 * Records that chat old_chat moved to new_chat (the latest move wins).
 * Returns 0, or -EIO.
 */
int desk_chats_migrated(struct pool_conn *c, int64_t old_chat, int64_t new_chat, char *sqlstate);

/* Sets *ret to the id chat lives under now (itself unless it moved). Returns 0, or -EIO. */
int desk_chats_current(struct pool_conn *c, int64_t chat, int64_t *ret, char *sqlstate);

#endif
