/*
 * pipeline.h - updates in, committed effects out.
 *
 * A source of updates (the HTTP server, poll mode) submits a job per update;
 * a worker takes a batch of queued jobs and runs the updates the desk acts
 * on in ONE transaction (group commit): the desk's statement for many users'
 * messages at once, every other update under a savepoint of its own, then
 * the queued Bot API calls written and the COMMIT in one round trip. An
 * update's update_id is claimed with its effects, so a redelivered update
 * changes nothing. Each job's verdict is set only after the COMMIT that
 * holds it (or after the failure that sank it), then its completion
 * callback runs.
 *
 * The pipeline owns the transaction mechanics only: BEGIN, savepoints,
 * COMMIT (whose answer is checked), and what an error means - a data error
 * of one update (it can never succeed) makes it a dead letter, anything
 * else a retry. What an update means is the desk's.
 */
#ifndef TGDESK_PIPELINE_H
#define TGDESK_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

struct desk;
struct pool;
struct sender;
struct pipeline;

struct pipeline_options {
    int workers;        /* worker threads, >= 1 */
    int queue_capacity; /* updates waiting for a worker at most */
};

/*
 * What became of an update. The pipeline decides it; each source of updates
 * maps it to its own answer (the HTTP server: 200, 400 or 503; poll mode:
 * move the offset past it, or fetch it again).
 */
enum pipeline_verdict {
    PIPELINE_PROCESSED = 0, /* its effects are committed */
    PIPELINE_DUPLICATE,     /* its update_id was committed before: nothing changed */
    PIPELINE_IGNORED,       /* a kind or a chat the desk does not act on */
    PIPELINE_REJECTED,      /* not an Update at all: it will never be one */
    PIPELINE_DEAD,          /* can never succeed: stored as a dead letter */
    PIPELINE_RETRY,         /* transient trouble: it must come again */
};

/*
 * The outcome label of tgdesk_updates_total for v: "processed", "duplicate",
 * "ignored", "rejected", "failed" (a dead letter); "retry" for RETRY.
 */
const char *pipeline_verdict_name(enum pipeline_verdict v);

/* True when the update is settled for good (every verdict but RETRY). */
bool pipeline_verdict_final(enum pipeline_verdict v);

/* One update handed to the pipeline. The submitter owns it. */
struct job {
    /* set by the submitter */
    const char *body; /* borrowed until complete() */
    size_t len;
    void (*complete)(struct job *job); /* called once, from a worker thread */
    void *userdata;
    /* set by the worker before complete() */
    enum pipeline_verdict verdict;
    const char *kind;  /* update kind name, or "invalid" */
    int64_t update_id; /* 0 when unparsed */
};

/*
 * Starts o->workers worker threads over a queue of o->queue_capacity jobs.
 * pool, desk and sender (may be NULL: rows then wait for the recovery path)
 * are borrowed and must outlive the pipeline. Returns NULL on failure.
 */
struct pipeline *pipeline_start(const struct pipeline_options *o, struct pool *pool,
                                struct desk *desk, struct sender *sender);

/*
 * Queues a job. Returns 0 (complete() will be called exactly once), or
 * -EAGAIN when the queue is full, -ESHUTDOWN when stopping, -ENOMEM
 * (complete() is NOT called; the update must come again). Never blocks.
 * Thread-safe.
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
