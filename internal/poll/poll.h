/*
 * poll.h - `tgdesk poll`: getUpdates long polling, a second source of
 * updates beside the HTTP server's webhook. It feeds the same pipeline, for
 * machines without a public HTTPS address.
 *
 * Each batch of updates is submitted to the pipeline as jobs and waited for.
 * Only when every update of the batch has been committed (status 200; a body
 * that is not an Update, 400, can never succeed and is passed too) does the
 * offset move past it; the new offset is stored in bot_state 'poll_offset'
 * BEFORE Telegram is asked for more (which is what confirms the batch at
 * Telegram). A 503 (database trouble, full queue) leaves the offset where it
 * was, and the same updates come again after a pause: those already
 * committed are duplicates the pipeline recognises. So each update takes
 * effect exactly once, across restarts and crashes.
 */
#ifndef TGDESK_POLL_POLL_H
#define TGDESK_POLL_POLL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

struct pipeline;

/* Seconds one getUpdates waits for updates (Telegram's long poll). */
#define POLL_TIMEOUT_S 25

/* Updates one getUpdates returns at most (Telegram's maximum). */
#define POLL_LIMIT 100

/* Where and how the poller calls the Bot API. */
struct poll_options {
    const char *api_url;    /* TELEGRAM_API_URL */
    const char *bot_token;  /* TELEGRAM_BOT_TOKEN */
    int64_t api_timeout_ms; /* TELEGRAM_API_TIMEOUT, on top of the long poll's wait */
};

/* Statements the poller needs; registered with the pool. */
extern const struct pool_stmt poll_statements[];
extern const size_t poll_statements_count;

/*
 * The offset after a batch: update ids[i] was answered statuses[i]. Walking
 * the ids in ascending order, the offset moves past every update answered 200
 * or 400 and stops at the first other answer (it must come again). Returns
 * the new offset (never below offset). ids need not be sorted; only the
 * first POLL_LIMIT are looked at. Pure.
 */
int64_t poll_next_offset(int64_t offset, const int64_t *ids, const int *statuses, size_t n);

/*
 * Polls until *stop becomes true (set by another thread; an in-flight long
 * poll is cancelled within about a second), then finishes the batch in hand.
 * opt is read at the start; pool and pipeline are borrowed. Returns 0 when stopped, -EEXIST when a
 * webhook is set (Telegram answers getUpdates with 409: run `tgdesk webhook
 * delete`), -EACCES when Telegram refuses the token, -ENOMEM. Logs why.
 */
int poll_run(const struct poll_options *opt, struct pool *pool, struct pipeline *pipeline,
             atomic_bool *stop);

#endif
