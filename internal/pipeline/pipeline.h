/*
 * pipeline.h - webhook bodies in, committed effects out (SPEC §8).
 *
 * The HTTP layer submits a job per update and suspends its connection; a
 * worker takes a batch of queued jobs, parses them, and processes every one
 * that needs the database in ONE transaction with a savepoint each (group
 * commit): the update_id goes into processed_updates with the update's
 * effects, so a redelivered update changes nothing. Each job's status is set
 * only after the COMMIT that holds it, then its completion callback runs.
 *
 * Answers: 200 processed / duplicate / ignored / dead-lettered (an update
 * that can never succeed is stored with its error and acknowledged, never
 * left to block its chat); 400 not an Update; 503 + Retry-After for
 * transient trouble (database unreachable, pool exhausted, serialization
 * failures, lost connection) so that Telegram redelivers.
 */
#ifndef TGDESK_PIPELINE_H
#define TGDESK_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

struct config;
struct pool;
struct sender;
struct pipeline;

/* Statements the workers need besides the desk's; registered with the pool. */
extern const struct db_stmt pipeline_statements[];
extern const size_t pipeline_statements_count;

struct job {
    /* set by the submitter */
    const char *body; /* borrowed until complete() */
    size_t len;
    void (*complete)(struct job *job); /* called once, from a worker thread */
    void *userdata;
    /* set by the worker before complete() */
    int status;          /* HTTP status to answer */
    int retry_after;     /* seconds, for 503 */
    const char *outcome; /* "processed", "duplicate", "ignored", "rejected", "failed", "retry" */
    const char *kind;    /* update kind name, or "invalid" */
    int64_t update_id;   /* 0 when unparsed */
    /* the pipeline's own, from pipeline_submit() until complete() */
    void *parsed;
};

/*
 * Starts cfg->workers worker threads over a queue of cfg->queue_capacity
 * jobs. pool and sender (may be NULL: rows then wait for the recovery path)
 * are borrowed and must outlive the pipeline. Returns NULL on failure.
 */
struct pipeline *pipeline_start(const struct config *cfg, struct pool *pool, struct sender *sender);

/*
 * Queues a job. Returns 0 (complete() will be called exactly once), or
 * -EAGAIN when the queue is full / -ESHUTDOWN when stopping (complete() is
 * NOT called; answer 503 yourself). Never blocks. Thread-safe.
 */
int pipeline_submit(struct pipeline *p, struct job *job);

/* Jobs waiting for a worker, and the queue's capacity. Thread-safe. */
size_t pipeline_queue_depth(struct pipeline *p);
size_t pipeline_queue_capacity(struct pipeline *p);

/*
 * Stops taking jobs (pipeline_submit then returns -ESHUTDOWN), lets the
 * workers finish and answer every job already queued, and joins them. The
 * pipeline stays allocated so that a late pipeline_submit() from the HTTP
 * thread is safe; free it with pipeline_free() once that thread is gone.
 * Accepts NULL; idempotent.
 */
void pipeline_stop(struct pipeline *p);

/* Stops the pipeline if needed and frees it. Accepts NULL. */
void pipeline_free(struct pipeline *p);

#endif
