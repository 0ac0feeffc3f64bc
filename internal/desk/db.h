/*
 * db.h - what the desk's flows share: the statements, the context of one
 * update, and the helpers that write inside the worker's transaction -
 * outgoing calls (outbox rows), audit rows, staff chats.
 *
 * Internal to internal/desk/. Nothing here commits: every row is written in
 * the caller's transaction (a savepoint of the worker's group commit), so an
 * update's messages, status changes, audit rows and outgoing calls commit
 * exactly once, together, or not at all.
 */
#ifndef TGDESK_DESK_DB_H
#define TGDESK_DESK_DB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/pool.h"
#include "outbox/outbox.h"

struct config;

/* One update being applied. */
struct desk_ctx {
    const struct config *cfg;
    struct pool_conn *c;
    struct outbox_batch *out;
    char *sqlstate; /* 6 bytes: the SQLSTATE of a failed statement */
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
int desk_db_exec(struct desk_ctx *x, const char *name, int n, const char *const *params,
                 PGresult **ret);

/*
 * Like desk_db_exec, for a statement returning (seconds to resolution,
 * seconds to first response), each NULL unless this change set it: both are
 * noted in x->out and reach the metrics once the transaction commits.
 */
int desk_db_exec_timed(struct desk_ctx *x, const char *name, int n, const char *const *params);

/*
 * Queues text for chat as sendMessage calls - split into parts of at most
 * DESK_TEXT_MAX code points, without parse_mode (the text is sent exactly as
 * given). markup (borrowed; may be NULL) goes with the last part. Blank
 * parts are skipped. purpose and request_id as for outbox_add(). Returns 0,
 * -ENOMEM or -EIO.
 */
int desk_send_text(struct desk_ctx *x, int64_t chat, const char *text, json_t *markup,
                   const char *purpose, int64_t request_id);

/*
 * Queues a copyMessage of message_id in from_chat to chat. caption (may be
 * NULL: keep the original) replaces the caption. Returns 0, -ENOMEM or -EIO.
 */
int desk_send_copy(struct desk_ctx *x, int64_t chat, int64_t from_chat, int64_t message_id,
                   const char *caption, const char *purpose, int64_t request_id);

/*
 * Queues answerCallbackQuery for callback id (text shown to the person who
 * pressed; alert: as a dialog). chat orders it with the presser's other
 * messages. Returns 0, -ENOMEM or -EIO.
 */
int desk_answer_callback(struct desk_ctx *x, int64_t chat, const char *id, const char *text,
                         bool alert);

/*
 * Writes an audit row to `logs` (audit = true) in the caller's transaction.
 * level is "info" or "warn"; context is a JSON object (borrowed). Returns 0,
 * -ENOMEM or -EIO.
 */
int desk_audit(struct desk_ctx *x, const char *level, const char *message, const json_t *context);

/*
 * Fills *ret with the chats staff notifications go to: ADMIN_CHAT_ID (or
 * the supergroup it became, remembered in bot_state), else every ADMIN_IDS
 * entry; n == 0 when neither is configured. Returns 0 or -EIO.
 */
int desk_staff_chats(struct desk_ctx *x, struct desk_staff_chats *ret);

/* True when chat is the staff group (configured id or the supergroup it became). */
int desk_is_staff_group(struct desk_ctx *x, int64_t chat, bool *ret);

/*
 * Sends text to every staff chat as a notification about request_id
 * (purpose "notify": a Telegram reply to it reaches the request's user),
 * with the take/close buttons when buttons is set. Returns 0, -ENOMEM or -EIO.
 */
int desk_notify_staff(struct desk_ctx *x, int64_t request_id, const char *text, bool buttons);

/*
 * Copies a user's media message to every staff chat as a notification about
 * request_id. Returns 0, -ENOMEM or -EIO.
 */
int desk_notify_staff_copy(struct desk_ctx *x, int64_t request_id, int64_t from_chat,
                           int64_t message_id);

/* Formats an int64 into buf (24 bytes) and returns buf, for statement parameters. */
const char *desk_i64(char buf[24], int64_t v);

/* Parses column col of row 0 (NULL or unparsable: fallback). */
int64_t desk_col_i64(const PGresult *res, int row, int col, int64_t fallback);

/* The text of a column, NULL when SQL NULL. */
const char *desk_col_str(const PGresult *res, int row, int col);

#endif
