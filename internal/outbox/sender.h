/*
 * sender.h - delivers outbox rows to the Telegram Bot API.
 *
 * Fast path: workers hand over the rows a transaction wrote right after its
 * COMMIT. Recovery path: about once a second the due rows of any instance
 * (an expired lease: a crash, a restart, a full in-memory queue) are claimed
 * with FOR UPDATE SKIP LOCKED, so several instances can share one database.
 * Rows held in memory have their lease extended, so nobody else sends them.
 * Across instances a chat has one sender: only the holder of its slot's
 * lease (lease.h) sends to it; the others hand its rows over.
 *
 * Messages to one chat keep their order: a chat belongs to one delivery
 * thread, which sends its messages one at a time, oldest first. Rates: about
 * one message a second per private chat (short bursts allowed), 20 a minute
 * per group, TELEGRAM_GLOBAL_RPS overall. Staff notifications (purpose
 * "notify") are the exception: when one is due, the chat's next one is
 * picked from the database - a new request first - and the pending
 * notifications of user messages about the same request go with it as one
 * message (so one busy user cannot starve a staff chat).
 *
 * Outcomes: 2xx marks the row sent and stores the message_id Telegram gave
 * it (a staff notification's id also goes to `notifications`); 429 waits
 * retry_after; 5xx, timeouts and network errors back off exponentially with
 * jitter up to OUTBOX_MAX_ATTEMPTS; 400 with migrate_to_chat_id moves the
 * chat and resends; other 400/404 fail at once with the reason kept; 403
 * fails and marks the user unreachable. The sender knows neither users nor
 * chats: what it learns about them goes to the callbacks of its options.
 */
#ifndef TGDESK_OUTBOX_SENDER_H
#define TGDESK_OUTBOX_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "outbox.h"

struct pool;
struct pool_conn;
struct sender;

/* How the sender calls the Bot API, and whom it tells what it learns. */
struct sender_options {
    const char *api_url;    /* TELEGRAM_API_URL */
    const char *bot_token;  /* TELEGRAM_BOT_TOKEN */
    int64_t api_timeout_ms; /* TELEGRAM_API_TIMEOUT: one call at most */
    int global_rps;         /* TELEGRAM_GLOBAL_RPS: calls a second overall, >= 1 */
    int max_attempts;       /* OUTBOX_MAX_ATTEMPTS: tries of a message that keeps failing */
    /*
     * A 403 for private chat `chat` (the user blocked the bot; reason is
     * the Bot API's description), and a group that became supergroup `to`.
     * Called on a delivery thread with a pooled connection c (no
     * transaction open) that they may use; they return 0 or a negative
     * errno code (logged). NULL: not recorded.
     */
    int (*chat_unreachable)(void *ud, struct pool_conn *c, int64_t chat, const char *reason);
    int (*chat_migrated)(void *ud, struct pool_conn *c, int64_t from, int64_t to);
    void *chats_ud;
};

/* Statements the sender needs; registered with the pool. */
extern const struct pool_stmt sender_statements[];
extern const size_t sender_statements_count;

/*
 * Starts the delivery threads and the recovery thread. opt is copied (its
 * strings are read during the call only; chats_ud is borrowed); pool is
 * borrowed. Both must outlive the sender. Returns NULL on failure (logged).
 */
struct sender *sender_start(const struct sender_options *opt, struct pool *pool);

/*
 * Takes the messages of b (b is left empty). Never blocks: beyond the
 * in-memory capacity messages are dropped from memory and wait in the
 * database for the recovery path. Thread-safe.
 */
void sender_submit(struct sender *s, struct outbox_batch *b);

/* Messages held in memory now. Thread-safe. */
size_t sender_backlog(struct sender *s);

/*
 * Stops taking messages, delivers what is due for at most deadline_ms,
 * records every result, joins the threads and frees the sender. What is left
 * stays in the database for the next start. Accepts NULL.
 */
void sender_stop(struct sender *s, int64_t deadline_ms);

#endif
