/*
 * rules.h - the support desk's pure rules: commands and their arguments,
 * callback data, who may do what, status transitions, and the texts the
 * desk writes
 *
 * Nothing here does I/O or keeps state, so every function is thread-safe and
 * unit-tested without a database (test/test_desk_rules.c).
 */
#ifndef TGDESK_DESK_RULES_H
#define TGDESK_DESK_RULES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/i18n.h"

/* Longest text of one sendMessage, in Unicode code points (Bot API). */
#define DESK_TEXT_MAX 4096
/* Longest caption of a photo or file, in code points (Bot API). */
#define DESK_CAPTION_MAX 1024

/* ---- splitting ---------------------------------------------------------- */

/*
 * Length in bytes of the first part of text when it is sent in messages of
 * at most max code points: the whole rest when it fits, else a cut after the
 * last line break that fits, else after the last space, else after exactly
 * max code points - never inside a UTF-8 sequence. The parts of a text,
 * taken one after another, concatenate to the text. text is valid UTF-8;
 * returns 0 only for "".
 */
size_t desk_text_part_len(const char *text, size_t max);

/* Number of code points in the first n bytes of UTF-8 text. */
size_t desk_text_codepoints(const char *text, size_t n);

/* True when the n bytes of text are only spaces, tabs and line breaks. */
bool desk_text_blank(const char *text, size_t n);

/* text from its first byte that is not a space, tab or line break; NULL when there is none. */
const char *desk_text_after_blanks(const char *text);

/* ---- statuses and commands --------------------------------------------- */

enum desk_status { DESK_OPEN = 0, DESK_ASSIGNED, DESK_SOLVED, DESK_CLOSED };

/* Parses "open", "assigned", "solved", "closed". Returns 0 or -EINVAL. */
int desk_status_parse(const char *s, enum desk_status *ret);

/* "open", "assigned", "solved" or "closed". */
const char *desk_status_name(enum desk_status s);

enum desk_cmd {
    DESK_CMD_NONE = 0, /* not a command */
    DESK_CMD_START,
    DESK_CMD_HELP,
    DESK_CMD_STATUS,
    DESK_CMD_CANCEL,
    DESK_CMD_FORGET, /* a user for themselves; a supervisor for anyone */
    /* staff commands */
    DESK_CMD_LIST,
    DESK_CMD_TAKE,
    DESK_CMD_REPLY,
    DESK_CMD_SOLVE,
    DESK_CMD_CLOSE,
    DESK_CMD_REOPEN,
    DESK_CMD_HISTORY,
    DESK_CMD_BAN,
    DESK_CMD_UNBAN,
    DESK_CMD_STATS,
    DESK_CMD_EXPORT, /* supervisors */
    DESK_CMD_CANNED, /* adding and deleting: supervisors (canned.h) */
    DESK_CMD_SEARCH,
    DESK_CMD_NOTE,    /* an internal note: stored, never sent to the user */
    DESK_CMD_UNKNOWN, /* a command the desk does not know */
};

/* The command named name (lower-case, without '/' and '@bot'); "" is NONE. */
enum desk_cmd desk_cmd_lookup(const char *name);

/* "take", "reply", ...; "" for NONE and UNKNOWN. */
const char *desk_cmd_name(enum desk_cmd c);

/* True for the commands only staff may use (/list ... /search, /note). */
bool desk_cmd_is_staff(enum desk_cmd c);

/* True for the staff commands only supervisors may use (/ban, /unban, ...). */
bool desk_cmd_is_supervisor(enum desk_cmd c);

/* One usage line, e.g. "/reply N text - send text to the user of request N". */
const char *desk_cmd_usage(enum desk_cmd c);

/* The arguments of a staff command. */
struct desk_args {
    int64_t request_id; /* 0 when the command takes none */
    const char *text;   /* /reply, /solve, /search: the rest, borrowed from args; else NULL */
    int64_t user_id;    /* /forget USER_ID; 0 when none was given */
};

/*
 * Parses the arguments of command c (args as the update parser gives them:
 * leading spaces skipped, "" when none). /take, /close, /reopen, /history,
 * /ban, /unban, /export: exactly one request number ("12" or "#12"); /forget:
 * nothing or one user id (positive, digits only); /reply, /solve, /note:
 * a number, then whitespace, then non-blank text kept verbatim; /search:
 * non-blank text; other commands ignore their arguments (/canned parses its
 * own: canned.h). Returns 0 and fills *ret, or -EINVAL
 * (answer with desk_cmd_usage()); *ret untouched on failure.
 */
int desk_cmd_parse_args(enum desk_cmd c, const char *args, struct desk_args *ret);

/*
 * Parses inline-button data "take:N" or "close:N". Returns 0 with the
 * command (DESK_CMD_TAKE or DESK_CMD_CLOSE) and N > 0, else -EINVAL. The
 * data may be forged: the caller still checks the sender and the request.
 */
int desk_callback_parse(const char *data, enum desk_cmd *ret_cmd, int64_t *ret_id);

/* The callback data of an inline button for cmd and request id (cap >= 32). */
void desk_callback_data(enum desk_cmd cmd, int64_t id, char *buf, size_t cap);

/*
 * Parses a rating button's data "rate:N:S" (request N > 0, score S 1..5).
 * Returns 0 with both, else -EINVAL; the caller checks who pressed it.
 */
int desk_rate_parse(const char *data, int64_t *ret_id, int *ret_score);

/* Parses an erasure button's data "forget:USER_ID". Returns 0 or -EINVAL. */
int desk_forget_parse(const char *data, int64_t *ret_user);

/* True when data is meant as an erasure button ("forget:..."), valid or not. */
bool desk_forget_is(const char *data);

/* True when data is meant as a rating button ("rate:..."), valid or not. */
bool desk_rate_is(const char *data);

/* The data of the rating button for request id and score (cap >= 40). */
void desk_rate_data(int64_t id, int score, char *buf, size_t cap);

/* ---- who may do what ------------------------------------------------- */

/* Where a message was written, as far as the desk cares. */
enum desk_place { DESK_PRIVATE = 0, DESK_STAFF_GROUP };

/* What to do with a command. */
enum desk_route {
    DESK_ROUTE_IGNORE = 0, /* not for us (e.g. another bot's command in the staff group) */
    DESK_ROUTE_USER,       /* a user command: /start, /help, /status, /cancel */
    DESK_ROUTE_STAFF,      /* a staff command from staff */
    DESK_ROUTE_STAFF_HELP, /* staff asking for help (or using a user command) */
    DESK_ROUTE_REFUSE,     /* a staff command from someone else: refuse and audit */
    DESK_ROUTE_UNKNOWN,    /* a command nobody knows, in a private chat */
};

/* Decides what a command does, given who wrote it and where. Pure. */
enum desk_route desk_route(enum desk_cmd c, bool is_staff, enum desk_place place);

/*
 * The status request goes to when `action` (TAKE, SOLVE, CLOSE, REOPEN,
 * CANCEL, or REPLY - a staff answer) is applied by actor to a request in
 * status `from` assigned to `assigned` (0: nobody):
 *   TAKE:   open/assigned -> assigned (taking over from a colleague is allowed)
 *   REPLY:  open -> assigned (the first answer takes the request);
 *           assigned stays assigned
 *   SOLVE:  open/assigned -> solved
 *   CLOSE:  open/assigned/solved -> closed
 *   REOPEN: solved/closed -> open
 *   CANCEL: open/assigned -> closed (the user gives up)
 * Returns 0 and sets *ret_to (which may equal from for REPLY), -EALREADY when
 * there is nothing to do (taking one's own request, closing a closed one,
 * reopening an open one), or -EPERM when the action makes no sense from that
 * status (answering, taking or solving a closed request).
 */
int desk_transition(enum desk_cmd action, enum desk_status from, int64_t assigned, int64_t actor,
                    enum desk_status *ret_to);

/* ---- texts -------------------------------------------------------------- */

/* Appends "First Last (@username)", or "user <id>" when there is no name. */
void desk_fmt_user(struct buf *b, const char *first, const char *last, const char *username,
                   int64_t id);

/* Appends an age: "45s", "12m", "3h 05m", "2d 04h". Negative counts as 0. */
void desk_fmt_age(struct buf *b, int64_t seconds);

/* desk_fmt_age() in the language of l (NULL: English). */
void desk_fmt_age_in(struct buf *b, const struct i18n_lang *l, int64_t seconds);

/*
 * Appends a moment given as "ID DD MM HH24:MI" (PostgreSQL's to_char: ISO
 * weekday, day, month, time) in words in the language of l, e.g. "Monday
 * 09 Mar at 09:00"; any other text as it is.
 */
void desk_fmt_when(struct buf *b, const struct i18n_lang *l, const char *when);

/* Appends a waiting time: "45 s", "17 min", "3 h 05 min", "2 d 04 h". Negative counts as 0. */
void desk_fmt_wait(struct buf *b, int64_t seconds);

/*
 * Appends a one-line preview of text: line breaks become spaces and text
 * longer than max code points is cut with "…".
 */
void desk_fmt_preview(struct buf *b, const char *text, size_t max);

/*
 * Appends what a message says: its text (or caption), or "[photo]" - the
 * media kind's name (NULL: "[message]") - when it has none.
 */
void desk_fmt_content(struct buf *b, const char *text, const char *media);

#endif
