/*
 * chats.h - what the desk learns about chats from the Bot API's answers: a
 * user who blocked the bot (403) cannot be reached any more, and a group
 * that became a supergroup (400 with migrate_to_chat_id) lives on under a
 * new chat id, kept in bot_state under 'chat_migrated:<old id>'.
 *
 * The statements are registered with the pool; each function runs one of
 * them on the caller's connection, in whatever transaction it has open.
 */
#ifndef TGDESK_DESK_CHATS_H
#define TGDESK_DESK_CHATS_H

#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

/* Statements of the chats; registered with the pool. */
extern const struct db_stmt desk_chats_statements[];
extern const size_t desk_chats_statements_count;

/*
 * Marks the user of private chat `chat` unreachable, keeping reason (the
 * Bot API's description; NULL: none) unless it was marked already. Returns
 * 0, or -EIO.
 */
int desk_chats_unreachable(struct pool_conn *c, int64_t chat, const char *reason);

/*
 * Records that chat old_chat moved to new_chat (the latest move wins).
 * Returns 0, or -EIO.
 */
int desk_chats_migrated(struct pool_conn *c, int64_t old_chat, int64_t new_chat);

#endif
