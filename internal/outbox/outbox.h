/*
 * outbox.h - the transactional outbox.
 *
 * Every Bot API call tgdesk makes is first an outbox row written in the same
 * transaction as the change that caused it, and this module is the only
 * writer of new rows. A transaction queues its calls in memory
 * (outbox_queue()) while it works, and writes all of them in ONE statement
 * (outbox_write(), or its two halves around a round trip shared with the
 * COMMIT) before it commits.
 *
 * A row is written already leased to this process for OUTBOX_LEASE_S seconds
 * from clock_timestamp() at the INSERT (next_attempt_at in the future; the
 * transaction's start, now(), could be long past by its commit): after the commit the worker hands
 * it to the sender in memory (the fast path). Should the process die first, the lease runs out and
 * the recovery path of any instance picks the row up.
 */
#ifndef TGDESK_OUTBOX_H
#define TGDESK_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"
#include "util/buf.h"

/* Seconds a freshly written row belongs to the fast path of its writer. */
#define OUTBOX_LEASE_S 10

/* One outgoing call, as queued and written, and as handed to the sender. */
struct outbox_msg {
    int64_t id; /* 0 until written */
    int64_t chat_id;
    int64_t request_id; /* 0 when none */
    int attempts;       /* delivery attempts so far */
    char method[32];
    char purpose[16]; /* "reply", "notify", "answer", ... */
    char *payload;    /* JSON body of the Bot API call, owned */
};

/* A method or purpose name into its field of cap bytes, cut to fit (no
 * snprintf per row). */
void outbox_copy_name(char *dst, size_t cap, const char *src);

/* What a transaction measured, for the metrics once it commits. */
#define OUTBOX_OBS_MAX 256 /* a batch's updates (64 at most) make two at most each */
enum outbox_obs_kind {
    OUTBOX_OBS_FIRST_RESPONSE, /* value: seconds since the request was opened */
    OUTBOX_OBS_RESOLUTION,     /* value: seconds since the request was opened */
    OUTBOX_OBS_RATING,         /* value: the score a user gave, 1-5 */
};
struct outbox_obs {
    enum outbox_obs_kind kind;
    double value;
};

/*
 * What one transaction produced for after its commit: the calls it queued,
 * in order (rows [0, written) are in the database and have their ids), and
 * what it measured (support times, ratings: recorded in the metrics) - neither may
 * take effect if it rolls back. Start it zeroed; outbox_batch_clear() frees.
 */
struct outbox_batch {
    struct outbox_msg *msgs;
    size_t n, cap;
    size_t written;
    struct outbox_obs obs[OUTBOX_OBS_MAX];
    size_t nobs;
};

/* A point to roll a batch back to (a savepoint's worth). */
struct outbox_mark {
    size_t n;
    size_t nobs;
};

/* Statements of this module; registered with the pool. */
extern const struct pool_stmt outbox_statements[];
extern const size_t outbox_statements_count;

/*
 * Queues a call of method with the JSON payload (taken: freed here on
 * failure too) to chat_id, in memory: it reaches the database with the next
 * outbox_write(). purpose is at most 15 bytes ("reply", "notify",
 * "answer"); request_id 0 means none. Returns 0 or -ENOMEM.
 */
int outbox_queue(struct outbox_batch *b, int64_t chat_id, const char *method, char *payload,
                 const char *purpose, int64_t request_id);

/*
 * Writes every queued row not written yet in one INSERT, inside the
 * caller's transaction, and gives them their ids. Returns 0 (also when
 * there was nothing to write), -ENOMEM, or -EIO with the SQLSTATE in
 * sqlstate (6 bytes).
 */
int outbox_write(struct pool_conn *c, struct outbox_batch *b, char *sqlstate);

/*
 * outbox_write() in two halves, so that the INSERT can share a round trip
 * with other statements (the COMMIT): outbox_write_begin() fills *ret_step
 * and returns 0, or returns 1 when there is nothing to write, or -ENOMEM;
 * outbox_write_end() reads the step's result. w holds the parameters in
 * between; outbox_write_end() releases it whatever happened (call it after
 * a successful begin even when the round trip failed, with res NULL).
 */
struct outbox_write {
    struct buf rows;
    const char *params[1];
};
int outbox_write_begin(struct outbox_batch *b, struct outbox_write *w, struct pool_step *ret_step);
int outbox_write_end(struct outbox_batch *b, struct outbox_write *w, const PGresult *res,
                     char *sqlstate);

/* The batch's current end, and rolling back to it (rows and observations). */
struct outbox_mark outbox_batch_mark(const struct outbox_batch *b);
void outbox_batch_rewind(struct outbox_batch *b, struct outbox_mark m);

/* Notes a measurement (negative values are not); beyond OUTBOX_OBS_MAX it is dropped. */
void outbox_observe(struct outbox_batch *b, enum outbox_obs_kind kind, double value);

/* Frees every message and the array; leaves b empty. Accepts NULL. */
void outbox_batch_clear(struct outbox_batch *b);

/* Frees one message's payload. Accepts NULL. */
void outbox_msg_clear(struct outbox_msg *m);

#endif
