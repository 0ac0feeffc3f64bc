/*
 * canned.h - canned answers: named texts staff save once and use in any
 * answer to a user by writing !name.
 *
 *   /canned                  every canned answer, with the start of its text
 *   /canned NAME             the whole text of one
 *   /canned add NAME TEXT    saves TEXT (several lines too, kept exactly as
 *                            written) under NAME, replacing what was there
 *   /canned del NAME         deletes it
 *
 * Listing and using them is for every staff member; adding and deleting for
 * supervisors (staff.c refuses and audits anyone else). Names are a letter
 * then letters, digits, '_' or '-', at most DESK_CANNED_NAME_MAX, and are
 * case-insensitive (kept in lower case). They live in the table
 * canned_answers, so every instance sharing the database sees the same ones
 * at once; nothing is cached.
 *
 * Expansion (desk_canned_expand(), called by every path that answers a
 * user): a word "!name" anywhere in the text - at its start or after a space,
 * tab or line break, and ending at the end of the text or at any character
 * that cannot be part of a name, such as punctuation - is replaced by that
 * answer's text. "!!name" is written as "!name" itself. A "!name" that is not
 * a saved answer refuses the whole answer: nothing reaches the user, and the
 * staff member is told which names are unknown, so a typo never reaches a
 * customer.
 */
#ifndef TGDESK_DESK_CANNED_H
#define TGDESK_DESK_CANNED_H

#include <stdbool.h>
#include <stddef.h>

#include "db/pool.h"
#include "store.h"
#include "tg/update.h"
#include "util/buf.h"

/* Longest name of a canned answer, in characters. */
#define DESK_CANNED_NAME_MAX 32

/* Statements of canned answers; registered with the pool. */
extern const struct pool_stmt desk_canned_statements[];
extern const size_t desk_canned_statements_count;

/* What a /canned command asks for. */
enum desk_canned_op {
    DESK_CANNED_LIST = 0, /* "/canned" or "/canned list" */
    DESK_CANNED_SHOW,     /* "/canned NAME" */
    DESK_CANNED_ADD,      /* "/canned add NAME TEXT" (supervisors) */
    DESK_CANNED_DEL,      /* "/canned del NAME" (supervisors) */
};

struct desk_canned_args {
    enum desk_canned_op op;
    char name[DESK_CANNED_NAME_MAX + 1]; /* lower case; "" for LIST */
    const char *text;                    /* ADD: the text, borrowed from args; else NULL */
};

/*
 * Parses the arguments of /canned (args as the update parser gives them,
 * "" when none). The text of ADD starts at its first character that is not
 * a space or a line break and is kept as written to the end. Returns 0 and
 * fills *ret, or -EINVAL (a missing or malformed name, ADD without text, a
 * reserved name - add, del, delete, list - as the name); *ret untouched on
 * failure. Pure.
 */
int desk_canned_parse(const char *args, struct desk_canned_args *ret);

/*
 * Finds the next "!name" or "!!name" word in text at or after byte *pos (see
 * above). Returns true with the word's first byte (the '!') in *ret_start,
 * the name's first byte and length in *ret_name and *ret_len, and *ret_escaped
 * set for "!!name" (meant literally); *pos is moved past the word. Returns
 * false when there is none (*pos is then the text's end). The name found may
 * be longer than DESK_CANNED_NAME_MAX (no answer has it). Pure.
 */
bool desk_canned_next(const char *text, size_t *pos, size_t *ret_start, size_t *ret_name,
                      size_t *ret_len, bool *ret_escaped);

/*
 * The /canned command of staff member m->from, already parsed and, for ADD
 * and DEL, already checked to come from a supervisor. Saves or deletes
 * (audited: who, which name), or lists; the answer goes to m's chat. Returns
 * DESK_PROCESSED, -ENOMEM or -EIO (x->sqlstate).
 */
int desk_canned_command(struct desk_ctx *x, const struct tg_message *m,
                        const struct desk_canned_args *a);

/*
 * Writes text with its canned answers expanded into ret (which the caller
 * initialised; its cap bounds the result). Returns 0 when text has no
 * "!name" word (ret holds text as it is), 1 when at least one was expanded
 * or unescaped, -ENOENT when a name is unknown - ret is then empty and fb
 * (appended to) says which names and that nothing was sent; the caller
 * sends the user nothing - -E2BIG when the result does not fit ret, or
 * -ENOMEM / -EIO (x->sqlstate). A text without '!' costs no statement.
 * Thread-safe (one statement on the caller's connection).
 */
int desk_canned_expand(struct desk_ctx *x, const char *text, struct buf *ret, struct buf *fb);

#endif
