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
struct tg_api_result;
struct pool_conn;
struct sender;

/* The purpose of rows topic_prepare() and topic_result() see. */
#define SENDER_PURPOSE_TOPIC "topic"

/* A call the sender makes before a row (topic_prepare()). */
struct sender_call {
    char method[32];
    char *payload; /* JSON, owned */
};

/* What topic_prepare() decided. */
enum sender_topic_step {
    SENDER_TOPIC_SEND = 0, /* send the row (its payload may be rewritten) */
    SENDER_TOPIC_FIRST,    /* make the call of ret_first, then prepare the row again */
    SENDER_TOPIC_DROP,     /* nothing to send any more: the row is done */
    SENDER_TOPIC_LATER,    /* undecided (no database): try again in a second */
};

/* What topic_result() decided (0: as for any other row). */
enum sender_topic_verdict {
    SENDER_TOPIC_AS_USUAL = 0,
    SENDER_TOPIC_DONE,  /* the row is done, whatever the answer said */
    SENDER_TOPIC_AGAIN, /* send the row again at once, counted as an attempt */
};

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
    /* TELEGRAM_GROUP_RPM: messages a minute to one group chat (0: Telegram's 20). */
    int group_rpm;
    /*
     * Rows whose purpose is SENDER_PURPOSE_TOPIC belong to a forum topic the
     * writer could not name yet (its thread is made when first needed), or
     * teach something when they succeed. Right before such a row is sent,
     * topic_prepare() may rewrite m->payload (a new string; the old one is
     * freed by it) and says what to do (enum sender_topic_step); for
     * SENDER_TOPIC_FIRST it puts the call to make first in *ret_first, whose
     * payload the sender frees. Every result - of a first call (first is
     * that call) or of the row itself (first NULL) - goes to topic_result(),
     * with r->result holding the answer's "result" for a first call; it
     * returns a SENDER_TOPIC_* verdict (0: as any other row). Called on a
     * delivery thread with a pooled connection c (no transaction open).
     * NULL: such rows are sent as they are.
     */
    int (*topic_prepare)(void *ud, struct pool_conn *c, struct outbox_msg *m,
                         struct sender_call *ret_first);
    int (*topic_result)(void *ud, struct pool_conn *c, const struct outbox_msg *m,
                        const struct sender_call *first, const struct tg_api_result *r);
    void *topic_ud;
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
