/*
 * outbox.h - the transactional outbox (SPEC §8).
 *
 * Every Bot API call tgdesk makes is first an outbox row written in the same
 * transaction as the change that caused it. The row is written already
 * leased to this process for OUTBOX_LEASE_S seconds (next_attempt_at in the
 * future): after the commit the worker hands it to the sender in memory (the
 * fast path). Should the process die first, the lease runs out and the
 * recovery path of any instance picks the row up.
 */
#ifndef TGDESK_OUTBOX_H
#define TGDESK_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"

/* Seconds a freshly written row belongs to the fast path of its writer. */
#define OUTBOX_LEASE_S 10

/* One outgoing call, as written and as handed to the sender. */
struct outbox_msg {
    int64_t id;
    int64_t chat_id;
    int64_t request_id; /* 0 when none */
    int attempts;       /* delivery attempts so far */
    char method[32];
    char purpose[16]; /* "reply", "notify", "answer", ... */
    char *payload;    /* JSON body of the Bot API call, owned */
};

/* Support times a transaction measured, for the metrics once it commits. */
#define OUTBOX_OBS_MAX 64
struct outbox_obs {
    bool resolution; /* else: a first response */
    double seconds;  /* since the request was opened */
};

/*
 * What one transaction produced for after its commit: the rows it wrote, in
 * order (handed to the sender), and the support times it measured (recorded
 * in the metrics) - neither may take effect if it rolls back.
 */
struct outbox_batch {
    struct outbox_msg *msgs;
    size_t n;
    size_t cap;
    struct outbox_obs obs[OUTBOX_OBS_MAX];
    size_t nobs;
};

/* A point to roll a batch back to (a savepoint's worth). */
struct outbox_mark {
    size_t n;
    size_t nobs;
};

/* Statements outbox_add needs; registered with the pool. */
extern const struct db_stmt outbox_statements[];
extern const size_t outbox_statements_count;

/*
 * Inserts an outbox row for method with the JSON payload (copied) addressed
 * to chat_id, inside the caller's transaction, and appends it to out.
 * Returns 0, -ENOMEM, or -EIO with the statement's SQLSTATE in sqlstate
 * (6 bytes).
 */
int outbox_add(struct pool_conn *c, struct outbox_batch *out, int64_t chat_id, const char *method,
               const char *payload, const char *purpose, int64_t request_id, char *sqlstate);

/* Drops the rows from index keep on (after a rolled-back savepoint). */
void outbox_batch_truncate(struct outbox_batch *b, size_t keep);

/* The batch's current end, and rolling back to it (rows and observations). */
struct outbox_mark outbox_batch_mark(const struct outbox_batch *b);
void outbox_batch_rewind(struct outbox_batch *b, struct outbox_mark m);

/* Notes a support time (seconds since the request opened); beyond OUTBOX_OBS_MAX it is dropped. */
void outbox_observe(struct outbox_batch *b, bool resolution, double seconds);

/* Frees every message and the array; leaves b empty. Accepts NULL. */
void outbox_batch_clear(struct outbox_batch *b);

/* Frees one message's payload. Accepts NULL. */
void outbox_msg_clear(struct outbox_msg *m);

#endif
