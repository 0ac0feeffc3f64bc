/*
 * pool.h - a thread-safe pool of PostgreSQL connections.
 *
 * Every connection the serving process holds comes from here - workers,
 * sender, log writer, health check - so DB_POOL_MAX bounds what one instance
 * takes from the server's max_connections.
 *
 * - Connections are opened lazily up to max; min are kept when idle.
 * - pool_acquire() waits at most DB_POOL_TIMEOUT for a free connection and
 *   then fails with -ETIMEDOUT ("pool exhausted"). When the server cannot be
 *   reached it fails fast with -ECONNREFUSED, and for a short back-off window
 *   after a failed connect it does not try again (no hammering a down server).
 * - A connection idle for more than a second is pre-pinged (empty query)
 *   before it is handed out; broken ones are replaced transparently.
 * - Connections older than DB_POOL_RECYCLE (with jitter) are replaced; idle
 *   ones above DB_POOL_MIN are closed after DB_POOL_IDLE_TIMEOUT.
 * - A connection released inside a transaction, with a failed transaction or
 *   with unread results is rolled back, or destroyed when that fails; the
 *   next caller never gets it dirty.
 * - Every new connection gets statement_timeout, application_name, keepalives
 *   (db/conn.h) and every registered prepared statement (unless the pool
 *   runs its statements unnamed, for PgBouncer in transaction mode).
 * - Every network wait has a client-side deadline, because a hung server
 *   (stopped, stuck on a disk, packets dropped) keeps its TCP connections
 *   alive: connections are opened with PQconnectStart/PQconnectPoll, and
 *   statements are sent with libpq's asynchronous calls on a non-blocking
 *   connection, then waited for with poll() on PQsocket. A statement gets
 *   the server's statement_timeout plus a grace period (the server's own
 *   error comes first while it answers at all); a connect gets
 *   DB_CONNECT_TIMEOUT, preparing the statements included. At the deadline the connection is
 * dropped, not cancelled (a cancel request opens a connection of its own and would hang against a
 * hung server too), and a statement that ran out of time marks the server as not answering: idle
 * connections are closed, and until a connect succeeds again only one caller at a time tries one
 *   while the others fail fast with -ECONNREFUSED.
 */
#ifndef TGDESK_DB_POOL_H
#define TGDESK_DB_POOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool_stats.h"

struct db_params;
struct pool;
struct pool_conn;

/* A named statement prepared on every connection of the pool. */
struct pool_stmt {
    const char *name; /* also the label of its duration histogram */
    const char *sql;
    int nparams;
};

/* How a pool is sized and timed (from the DB_POOL_* and DB_SLOW_QUERY_MS settings). */
struct pool_options {
    int max;                 /* connections at most; < 1: 1 */
    int min;                 /* kept open when idle; clamped to 0..max */
    int64_t timeout_ms;      /* longest wait of pool_acquire() for a free connection */
    int64_t recycle_ms;      /* a connection's lifetime (with jitter); 0: never recycled */
    int64_t idle_timeout_ms; /* idle connections above min are closed after it; 0: never */
    bool pre_ping;           /* ping a connection idle for more than a second before use */
    int64_t slow_query_ms;   /* statements slower than this log at warn; 0: none */
    /* Client-side deadline of one statement (the server's statement_timeout
     * plus a grace period); 0: POOL_DEADLINE_DEFAULT_MS. */
    int64_t deadline_ms;
    int64_t connect_timeout_ms; /* a connect, start-up and preparing included; 0:
                                   POOL_CONNECT_DEFAULT_MS */
    bool unnamed; /* no prepared statements: each one sent with its text (PgBouncer) */
};

#define POOL_DEADLINE_DEFAULT_MS 32000
#define POOL_CONNECT_DEFAULT_MS  10000
/* What a statement's client-side deadline adds to the server's statement_timeout. */
#define POOL_DEADLINE_GRACE_MS 2000

/*
 * Creates a pool for the connection parameters (borrowed: must outlive the
 * pool) sized and timed by opt (copied), with n statements (copied by
 * reference: the array and its strings must outlive the pool) prepared on
 * each connection. Opens opt->min connections in the background, not here.
 * Returns NULL on out-of-memory. Free with pool_free().
 */
struct pool *pool_new(const struct pool_options *opt, const struct db_params *params,
                      const struct pool_stmt *stmts, size_t n);

/*
 * Closes every idle connection and frees the pool. Connections still checked
 * out must have been released before. Accepts NULL.
 */
void pool_free(struct pool *p);

/*
 * Checks a connection out. Returns 0 and sets *ret_conn, or:
 *   -ETIMEDOUT     no connection became free within DB_POOL_TIMEOUT
 *                  ("pool exhausted");
 *   -ECONNREFUSED  the server cannot be reached (fails fast);
 *   -ESHUTDOWN     the pool is being freed.
 * timeout_ms < 0 means DB_POOL_TIMEOUT; 0 means do not wait. Thread-safe.
 */
int pool_acquire(struct pool *p, int64_t timeout_ms, struct pool_conn **ret_conn);

/*
 * pool_acquire() for a caller that must know the outcome within timeout_ms
 * (a health probe): the wait for a connection, its check or its opening,
 * and every statement run on it before pool_release() all end by then; one
 * cut short drops the connection without marking the server down or
 * failing the other callers waiting for a connection. A connect cut short
 * returns -ETIMEDOUT (-ESHUTDOWN when pool_stop_by's deadline did it).
 */
int pool_acquire_bounded(struct pool *p, int64_t timeout_ms, struct pool_conn **ret_conn);

/*
 * Bounds what is left of the pool's work, for a stop: ms from now, every
 * wait on the database ends (the call fails and its connection is
 * dropped), and pool_acquire() fails with -ESHUTDOWN. Thread-safe; the
 * earliest call wins.
 */
void pool_stop_by(struct pool *p, int64_t ms);

/*
 * Returns a connection. A dirty one (open or failed transaction, busy) is
 * rolled back or destroyed; a broken one is destroyed. Accepts NULL.
 * Thread-safe.
 */
void pool_release(struct pool *p, struct pool_conn *c);

/* The libpq connection of a checked-out pool connection. */
PGconn *pool_conn_pg(struct pool_conn *c);

/*
 * Whether c has outlived its lifetime (DB_POOL_RECYCLE): a holder that
 * keeps a connection for long gives it back then, so that it is replaced
 * (and a rotated password or a moved server reaches it too).
 */
bool pool_conn_expired(const struct pool_conn *c);

/*
 * Begins a transaction without a round trip of its own: BEGIN is sent with
 * the next statement (pool_exec, pool_exec_sql or pool_exec_steps), in the
 * same round trip. Should BEGIN fail, that statement does not run and its
 * result is BEGIN's error. Not thread-safe (as the connection).
 */
void pool_begin(struct pool_conn *c);

/*
 * Runs registered statement `name` (prepared, or sent with its text when the
 * pool runs unnamed statements) with text parameters (NULL = SQL NULL),
 * timing it into its histogram and logging at warn when it is slower than
 * DB_SLOW_QUERY_MS (name and duration, never parameters). Returns the result
 * (caller PQclear()s; check PQresultStatus), or NULL when out of memory,
 * the name is unknown, the deadline passed or the connection failed (the
 * connection is then dropped at release, and every later call on it
 * returns NULL at once).
 */
PGresult *pool_exec(struct pool_conn *c, const char *name, int nparams, const char *const *values);

/*
 * pool_exec() for callers that only need to know whether it worked: returns
 * 0 and the result in *ret (caller PQclear()s; pass NULL to discard) when
 * the statement returned rows or completed, else -EIO with its SQLSTATE in
 * sqlstate (6 bytes; may be NULL).
 */
int pool_run(struct pool_conn *c, const char *name, int nparams, const char *const *values,
             PGresult **ret, char *sqlstate);

/*
 * Runs a statement that changes rows (INSERT, UPDATE, DELETE) and returns
 * how many it changed, or -EIO with its SQLSTATE in sqlstate (6 bytes; may
 * be NULL) when it failed.
 */
int64_t pool_run_rows(struct pool_conn *c, const char *name, int nparams, const char *const *values,
                      char *sqlstate);

/* pool_run_rows() with n (at most POOL_INTS_MAX) integer parameters; -EINVAL beyond. */
#define POOL_INTS_MAX 4
int64_t pool_run_rows_ints(struct pool_conn *c, const char *name, const int64_t *vals, int n,
                           char *sqlstate);

/*
 * Runs a statement that needs no preparation (BEGIN, SAVEPOINT, ...), timed
 * under the label `name`. Same result rules as pool_exec.
 */
PGresult *pool_exec_sql(struct pool_conn *c, const char *name, const char *sql);

/*
 * Runs a statement that needs no preparation (as pool_exec_sql) and that
 * answers one row of n non-negative integers (counts), into ret[0..n-1].
 * Returns 0, or -EIO when it failed or answered anything else.
 */
int pool_exec_counts(struct pool_conn *c, const char *name, const char *sql, size_t n,
                     int64_t *ret);

/* One step of pool_exec_steps(): a registered statement, or plain SQL. */
struct pool_step {
    const char *name;          /* statement name, or the timing label of sql */
    const char *sql;           /* NULL: run the prepared statement `name` */
    int nparams;               /* for a prepared statement */
    const char *const *values; /* text parameters (NULL = SQL NULL) */
};

/*
 * Sends the n steps in ONE round trip (libpq pipeline mode) and collects
 * their results into ret_res[0..n-1] (caller PQclear()s each; a step after a
 * failed one answers PGRES_PIPELINE_ABORTED). Each step is timed under its
 * name with the duration of the whole round trip. Returns 0 when every
 * result arrived (check each status), or -EIO when the connection failed
 * (ret_res entries are then NULL or partial results, still to be cleared).
 */
int pool_exec_steps(struct pool_conn *c, const struct pool_step *steps, size_t n,
                    PGresult **ret_res);

/* Fills a snapshot of the counters. Thread-safe. */
void pool_stats(struct pool *p, struct pool_stats *ret);

/*
 * Calls fn once per registered statement (and per pool_exec_sql label) with a
 * snapshot of its timing. Thread-safe; fn must not call into the pool.
 */
void pool_query_stats(struct pool *p, pool_query_stat_fn fn, void *ud);

/*
 * Closes idle connections past their lifetime or idle timeout and opens
 * connections up to DB_POOL_MIN. The pool runs this itself from a
 * maintenance thread about once a second; exposed for tests.
 */
void pool_maintain(struct pool *p);

#endif
