/*
 * store.h - what the desk's flows share: the desk itself, the context of one
 * update, running the desk's statements, audit rows, and where staff are.
 * (The statements are in store.c; the Bot API calls the desk queues are in
 * send.h.)
 *
 * Internal to internal/desk/. Nothing here commits: every row is written in
 * the caller's transaction (a savepoint of the worker's group commit), so an
 * update's messages, status changes, audit rows and outgoing calls commit
 * exactly once, together, or not at all.
 */
#ifndef TGDESK_DESK_STORE_H
#define TGDESK_DESK_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/pool.h"
#include "outbox/outbox.h"
#include "tg/update.h"

#include "desk.h"

struct desk {
    int64_t *staff_ids; /* sorted, unique: agents and supervisors */
    size_t n_staff_ids;
    int64_t *supervisor_ids; /* sorted, unique; n 0: every staff member */
    size_t n_supervisor_ids;
    bool has_staff_chat;
    int64_t staff_chat_id;
    bool csat;                            /* ask users to rate solved and closed requests */
    struct desk_search_rate *search_rate; /* similar look-ups per second (search.h) */
    int64_t sla_ms, auto_close_ms;
    /* Business hours as statement parameters: days "{1,2,3,4,5}", opening
     * and closing minutes, zone; all NULL when always open. */
    char *hours_days, *hours_zone;
    char hours_open[12], hours_close[12];
    const struct i18n *i18n; /* borrowed; NULL: English */
    bool topics;             /* STAFF_MODE=topics (topics.h) */
};

/*
 * The catalog for a user's Telegram language_code (NULL, or a language
 * without a catalog: DEFAULT_LANGUAGE's). Texts for users go through
 * _(lang, ...); staff texts are English. Thread-safe.
 */
const struct i18n_lang *desk_lang(const struct desk *d, const char *language_code);

/* The four business-hours parameters of a statement (NULL when always open). */
void desk_hours_params(const struct desk *d, const char *ret[4]);

/* One update being applied. */
struct desk_ctx {
    const struct desk *d;
    struct pool_conn *c;
    struct outbox_batch *out;
    char *sqlstate; /* DB_SQLSTATE_LEN bytes: the SQLSTATE of a failed statement */
    /* The forum topic the update came from (topics mode): what the desk
     * sends to thread_chat goes into topic thread_id. 0: none. */
    int64_t thread_chat, thread_id;
};

/* Where staff are notified: the staff group, or each admin privately. */
#define DESK_STAFF_CHATS_MAX 1024
struct desk_staff_chats {
    int64_t ids[DESK_STAFF_CHATS_MAX];
    size_t n;
};

/*
 * Runs prepared statement name. Returns 0 and *ret (caller PQclear()s; pass
 * NULL to discard) when it returned rows or completed, else -EIO with the
 * SQLSTATE in x->sqlstate.
 */
int desk_exec(struct desk_ctx *x, const char *name, int n, const char *const *params,
              PGresult **ret);

/* desk_exec() of a statement that returns one row or none: 1, 0, or < 0. */
int desk_exec_one(struct desk_ctx *x, const char *name, int n, const char *const *params);

/*
 * Like desk_exec, for a statement returning (seconds to resolution,
 * seconds to first response), each NULL unless this change set it: both are
 * noted in x->out and reach the metrics once the transaction commits.
 */
int desk_exec_timed(struct desk_ctx *x, const char *name, int n, const char *const *params);

/*
 * Writes an audit row to `logs` (audit = true) in the caller's transaction.
 * level is "info" or "warn"; context is a JSON object (borrowed). Returns 0,
 * -ENOMEM or -EIO.
 */
int desk_audit(struct desk_ctx *x, const char *level, const char *message, const json_t *context);

/*
 * Fills *ret with the chats staff notifications go to: the staff group (or
 * the supergroup it became, remembered in bot_state), else every staff
 * member privately; n == 0 when neither is configured. Returns 0 or -EIO.
 */
int desk_staff_chats(struct desk_ctx *x, struct desk_staff_chats *ret);

/*
 * The same when the staff group's current id is known already (group: the
 * id bot_state gives; ignored without a staff group). Pure.
 */
void desk_staff_chats_known(const struct desk *d, int64_t group, struct desk_staff_chats *ret);

/*
 * Claims u's update_id in processed_updates. Returns 1 when it is new, 0
 * when it was claimed before, -EIO (x->sqlstate set).
 */
int desk_claim(struct desk_ctx *x, const struct tg_update *u);

/* True when chat is the staff group (configured id or the supergroup it became). */
int desk_is_staff_group(struct desk_ctx *x, int64_t chat, bool *ret);

/*
 * Runs statement name with the n ids as its parameters. Returns 1 with the
 * first ncols columns of its first row in ret (NULL or unparsable: 0), 0
 * when it returned no row (ret zeroed), or -EIO.
 */
int desk_query_ids(struct desk_ctx *x, const char *name, const int64_t *ids, int n, int64_t *ret,
                   int ncols);

/* Formats an int64 into buf (24 bytes) and returns buf, for statement parameters. */
const char *desk_i64(char buf[24], int64_t v);

/* Parses column col of row 0 (NULL or unparsable: fallback). */
int64_t desk_col_i64(const PGresult *res, int row, int col, int64_t fallback);

/* The text of a column, NULL when SQL NULL. */
const char *desk_col_str(const PGresult *res, int row, int col);

#endif
