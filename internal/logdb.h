/*
 * logdb.h - the `logs` table writer.
 *
 * Installed as the log sink (log_set_sink()), it copies every event at or
 * above LOG_DB_LEVEL into a bounded in-memory buffer, and never blocks the
 * thread that logged: when the buffer is full the event is dropped, counted
 * (tgdesk_log_rows_dropped_total{reason="buffer_full"}) and reported at error
 * level by the writer thread. Its rows have audit = false: the desk writes
 * its audit rows itself, in the transaction of the change they describe.
 *
 * A background thread inserts the buffered events in batches - every
 * flush_ms (200 ms) or as soon as batch_rows are waiting - with one
 * prepared multi-row INSERT (unnest of arrays) on a pooled connection. While
 * the database is unreachable the events stay buffered (retried with
 * back-off); a batch the database refuses for its content is retried row by
 * row and only the offending rows are dropped (reason="db_error"). On stop,
 * what is buffered is written within a deadline.
 *
 * Retention: about once every retention_interval_ms (1 min) events older
 * than LOG_RETENTION_DAYS - and audit rows older than AUDIT_RETENTION_DAYS,
 * kept for ever by default - are deleted retention_batch (1000) rows per
 * statement, so no statement holds locks for long, under the cluster's
 * retention lock (db/locks.h), so that several instances do it once.
 */
#ifndef TGDESK_LOGDB_H
#define TGDESK_LOGDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"
#include "log.h"

struct logdb;

/* Statements the writer needs; register them with the pool. */
extern const struct pool_stmt logdb_statements[];
extern const size_t logdb_statements_count;

struct logdb_options {
    enum log_level min_level;      /* LOG_DB_LEVEL; LOG_OFF: no events, retention only */
    int retention_days;            /* LOG_RETENTION_DAYS: events; 0: keep forever */
    int audit_retention_days;      /* AUDIT_RETENTION_DAYS: audit rows; 0: keep forever */
    size_t capacity;               /* events buffered at most; 0: 4096 */
    size_t max_bytes;              /* text buffered at most; 0: 4 MiB */
    int64_t flush_ms;              /* 0: 200 */
    size_t batch_rows;             /* rows per INSERT; 0: 256 */
    int64_t retention_interval_ms; /* 0: 60000 */
    size_t retention_batch;        /* rows per DELETE; 0: 1000 */
    bool no_sink;                  /* do not install as the log sink (tests call logdb_push) */
};

/* Counters of one writer (logdb_stats()). */
struct logdb_stats {
    uint64_t written;  /* rows inserted */
    uint64_t dropped;  /* events lost */
    uint64_t buffered; /* events waiting now */
    uint64_t deleted;  /* rows removed by retention */
};

/*
 * Starts the writer thread over pool (borrowed; must outlive the writer,
 * and must have logdb_statements registered) and installs the log sink
 * unless opt->no_sink or opt->min_level is LOG_OFF. Returns NULL when out
 * of memory or the thread cannot start. Stop with logdb_stop().
 */
struct logdb *logdb_start(struct pool *pool, const struct logdb_options *opt);

/*
 * Removes the sink, writes what is buffered for at most deadline_ms (the
 * rest is dropped and counted), stops the thread and frees. Accepts NULL.
 */
void logdb_stop(struct logdb *l, int64_t deadline_ms);

/*
 * Buffers one event (what the sink does): context_json must be a JSON object
 * text (NULL: {}). Never blocks beyond a short mutex; never logs. Thread-safe.
 */
void logdb_push(struct logdb *l, enum log_level level, const char *msg, const char *context_json);

/*
 * Waits until every event buffered before the call has been written (or
 * dropped), for at most timeout_ms. Returns 0 or -ETIMEDOUT. Thread-safe.
 */
int logdb_flush(struct logdb *l, int64_t timeout_ms);

/*
 * Runs the retention now on the calling thread (the writer also runs it on
 * its own). Returns the number of rows deleted, or a negative errno code.
 * Thread-safe.
 */
int64_t logdb_retention_run(struct logdb *l);

/* A snapshot of the counters. Thread-safe. */
void logdb_stats(struct logdb *l, struct logdb_stats *ret);

#endif
