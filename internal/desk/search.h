/*
 * search.h - full-text search of requests: /search for staff, the similar
 * solved requests a new request's notification lists, the text-search
 * configuration (SEARCH_LANGUAGE) and the background indexer.
 *
 * What is searched: a finished (solved or closed) request by a document made
 * when it finishes - its issue, its solution and the text of its messages
 * (requests.search, kept by a trigger, in a partial GIN index) - and an open
 * request by its issue alone, read as it is searched. So a user's messages
 * and new requests, the hot path, cost search nothing: no document, no index
 * entry. The documents use the configuration stored in bot_state
 * ('search_language'); changing SEARCH_LANGUAGE makes them again in the
 * background (desk_search_indexer_start()).
 *
 * Queries cost little at any size: a word in many requests is sampled by
 * the index rather than read whole (gin_fuzzy_search_limit), and the
 * similar-requests query leaves out the words found in most requests
 * (PostgreSQL's own statistics of the column say which). docs/search.md has
 * the figures with a million requests.
 */
#ifndef TGDESK_DESK_SEARCH_H
#define TGDESK_DESK_SEARCH_H

#include <libpq-fe.h>
#include <stddef.h>

#include "db/pool.h"
#include "store.h"
#include "tg/update.h"
#include "util/buf.h"

/* Statements of search; registered with the pool. */
extern const struct pool_stmt desk_search_statements[];
extern const size_t desk_search_statements_count;

/*
 * /search words from staff member m->from: up to 10 matching requests, best
 * first, each with its status, age and a snippet with the matching words
 * marked; the answer goes to m's chat. words as web search engines take
 * them: every word must match; "a phrase"; or; -word excludes. Returns
 * DESK_PROCESSED, -ENOMEM or -EIO (x->sqlstate).
 */
int desk_search_command(struct desk_ctx *x, const struct tg_message *m, const char *words);

/* Solved requests similar to some new requests (desk_search_similar()). */
struct desk_similar;

/* How many similar look-ups one instance makes per second at most. */
#define DESK_SIMILAR_PER_SECOND 20

/*
 * The look-ups left this second, shared by every worker: a burst of new
 * requests costs the database at most DESK_SIMILAR_PER_SECOND look-ups a
 * second (the rest are notified without the list). Free with
 * desk_search_rate_free() (accepts NULL); NULL when out of memory.
 */
struct desk_search_rate;
struct desk_search_rate *desk_search_rate_new(void);
void desk_search_rate_free(struct desk_search_rate *r);

/* Takes up to want look-ups from this second's budget; returns how many. Thread-safe. */
size_t desk_search_rate_take(struct desk_search_rate *r, size_t want);

/*
 * Looks up, with one statement, up to three solved requests most similar
 * to each of the n texts (a new request's first message each). Returns 0
 * with *ret (free with desk_similar_free()), -ENOMEM or -EIO (x->sqlstate).
 */
int desk_search_similar(struct desk_ctx *x, const char *const *texts, size_t n,
                        struct desk_similar **ret);

/*
 * Appends to b what a notification says about the similar requests of
 * texts[i] ("\n\nSimilar solved requests:\n#12 · ..."); nothing when there
 * are none or s is NULL.
 */
void desk_similar_fmt(const struct desk_similar *s, size_t i, struct buf *b);

/* Frees s. Accepts NULL. */
void desk_similar_free(struct desk_similar *s);

/*
 * At start, on the connection that migrated: checks that the database has
 * the text-search configuration language (SEARCH_LANGUAGE) and stores it
 * for the documents; when it differs from the one stored, the documents are
 * made again in the background. Returns 0, 1 (it changed: re-indexing
 * scheduled), -EINVAL when the database has no such configuration (err, of
 * cap bytes, then lists the ones it has), or -EIO (err: the server's
 * message). Does nothing (0) on a database the search migration has not
 * reached yet.
 */
int desk_search_language(PGconn *conn, const char *language, char *err, size_t cap);

struct desk_search_indexer;

/*
 * Starts the background indexer: while bot_state holds a re-indexing
 * cursor ('search_reindex_from', set by the migration and by a change of
 * language), it makes the documents of the finished requests from there on
 * in batches, one short transaction each, and moves the cursor; several
 * instances share the work (the cursor row is locked). Then it looks again
 * once a minute. pool is borrowed. Returns NULL when the thread could not
 * start. Stop with desk_search_indexer_stop().
 */
struct desk_search_indexer *desk_search_indexer_start(struct pool *pool);

/*
 * Runs one batch now on the calling thread. Returns the requests indexed
 * (0: nothing to do), or -EIO.
 */
int64_t desk_search_indexer_run(struct desk_search_indexer *s);

/* Stops and joins the thread, frees s. Accepts NULL. */
void desk_search_indexer_stop(struct desk_search_indexer *s);

#endif
