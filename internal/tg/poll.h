/*
 * poll.h - `tgdesk poll`: getUpdates long polling through the same pipeline
 * as the webhook (SPEC §2, §8), for machines without a public HTTPS address.
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
#ifndef TGDESK_TG_POLL_H
#define TGDESK_TG_POLL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

struct config;
struct pipeline;

/* Seconds one getUpdates waits for updates (Telegram's long poll). */
#define TG_POLL_TIMEOUT_S 25

/* Statements the poller needs; registered with the pool. */
extern const struct db_stmt poll_statements[];
extern const size_t poll_statements_count;

/*
 * The offset after a batch: update ids[i] was answered statuses[i]. Walking
 * the ids in ascending order, the offset moves past every update answered 200
 * or 400 and stops at the first other answer (it must come again). Returns
 * the new offset (never below offset). ids need not be sorted; n <= 100.
 * Pure.
 */
int64_t tg_poll_next_offset(int64_t offset, const int64_t *ids, const int *statuses, size_t n);

/*
 * Polls until *stop becomes true (set by another thread; an in-flight long
 * poll is cancelled within about a second), then finishes the batch in hand.
 * pool and pipeline are borrowed. Returns 0 when stopped, -EEXIST when a
 * webhook is set (Telegram answers getUpdates with 409: run `tgdesk webhook
 * delete`), -EACCES when Telegram refuses the token, -ENOMEM. Logs why.
 */
int tg_poll_run(const struct config *cfg, struct pool *pool, struct pipeline *pipeline,
                atomic_bool *stop);

#endif
