/*
 * topics.h - the forum-topic mode (STAFF_MODE=topics).
 *
 * The staff group is a supergroup with topics, and every user has one topic
 * in it, named after them and their request ("#12 Alice Novak · open") and
 * kept for all their requests. What the user sends is copied into it; what
 * staff write there goes to the user (text as written, media copied) unless
 * it starts with "//" or /note - an internal note, stored and never sent.
 * Commands in a topic need no request number. Solving or closing renames
 * the topic and closes it; a new request or /reopen reopens it.
 *
 * The desk writes its calls in the update's transaction like every other
 * call, but it cannot know a topic's thread id before Telegram made it: a
 * row about a topic is written to the staff group with purpose
 * SENDER_PURPOSE_TOPIC and its request, and the sender asks this module
 * right before sending it (desk_topic_prepare()): the user's topic is
 * filled in, or made first (createForumTopic) when there is none yet or it
 * was deleted; a rename or close that would change nothing is dropped. What
 * comes back (desk_topic_result()) is stored: the new thread, the name and
 * state Telegram now has, where the copy of a staff answer went (so that
 * staff editing the answer edit the copy), and a topic found deleted -
 * made again at once for the message that found it, which is not lost.
 * Rows of one chat go one at a time, in order, so the topic is made before
 * the first row that needs it and only once.
 */
#ifndef TGDESK_DESK_TOPICS_H
#define TGDESK_DESK_TOPICS_H

#include <stdbool.h>
#include <stdint.h>

#include "db/pool.h"
#include "outbox/sender.h"
#include "rules.h"
#include "store.h"
#include "tg/api.h"
#include "tg/update.h"
#include "util/buf.h"

/* Longest topic name Telegram takes, in code points. */
#define DESK_TOPIC_NAME_MAX 128

/* Statements of this module; registered with the pool. */
extern const struct pool_stmt desk_topic_statements[];
extern const size_t desk_topic_statements_count;

/*
 * The sender's hooks (struct sender_options: topic_prepare, topic_result);
 * ud is the struct desk. They run on a delivery thread with a pooled
 * connection and no transaction, and only read what the desk stored.
 */
int desk_topic_prepare(void *ud, struct pool_conn *c, struct outbox_msg *m,
                       struct sender_call *ret_first);
int desk_topic_result(void *ud, struct pool_conn *c, const struct outbox_msg *m,
                      const struct sender_call *first, const struct tg_api_result *r);

/*
 * Appends a topic's name: "#12 Alice Novak · open" - the request, the
 * user's first and last name (else @username, else "user <id>") and the
 * status; the user's part is cut so the whole fits DESK_TOPIC_NAME_MAX
 * code points. Pure.
 */
void desk_topic_name(struct buf *b, int64_t request_id, const char *first, const char *last,
                     const char *username, int64_t user_id, const char *status);

/*
 * True when text (NULL: none) is an internal note written as "//text";
 * *ret_text is then the note without the slashes and the spaces after
 * them. Pure.
 */
bool desk_topic_is_note(const char *text, const char **ret_text);

/* ---- internal to internal/desk/ -------------------------------------- */

/*
 * A user's stored message in topics mode, after the user's reply: a new
 * request reopens and renames the topic - then the usual notification
 * follows (return 0: it goes into the topic, send.h); a message of a
 * running request is copied into the topic as it is (return 1). group: the
 * staff group's current id. Returns 1, 0, or -ENOMEM.
 */
int desk_topic_user_message(struct desk_ctx *x, const struct tg_message *m, int64_t request_id,
                            bool opened, int64_t group);

/*
 * Queues the rename of request_id's topic after a change to status, and
 * closes it (solved, closed) or reopens it (open, assigned). Nothing
 * outside topics mode. group: the staff group's current id, 0 to look it
 * up. Returns 0, -ENOMEM or -EIO.
 */
int desk_topic_status(struct desk_ctx *x, int64_t request_id, enum desk_status status,
                      int64_t group);

/*
 * user_id's personal data was erased (forget.h): their topic, which holds
 * their name and copies of what they wrote, is deleted. Nothing outside
 * topics mode. Returns 0, -ENOMEM or -EIO.
 */
int desk_topic_forget(struct desk_ctx *x, int64_t user_id);

/*
 * A message in a forum topic of the staff group (topics mode): when the
 * topic is a user's, a staff member's message is an answer or a note, and
 * a command without a request number means the topic's request; someone
 * else is refused. *ret_handled false: the desk goes on as anywhere else
 * in the staff group (another topic, or a command that names its request).
 * Returns a desk verdict, -ENOMEM or -EIO.
 */
int desk_topic_staff(struct desk_ctx *x, const struct tg_message *m, bool is_staff,
                     enum desk_cmd cmd, bool *ret_handled);

/*
 * Staff edited m, an answer of request_id whose copy the user got as
 * message copy_message_id of copy_chat (0: none known): the copy is
 * edited to match. Returns DESK_PROCESSED or -ENOMEM.
 */
int desk_topic_staff_edit(struct desk_ctx *x, const struct tg_message *m, int64_t request_id,
                          int64_t copy_chat, int64_t copy_message_id);

#endif
