/*
 * send.h - the Bot API calls the desk queues: texts (split at Telegram's
 * limit), copies of media, answers to button presses, and the notifications
 * staff get with their Take/Close buttons.
 *
 * Internal to internal/desk/. Every call is queued in the update's outbox
 * batch (outbox_queue()) and written with the transaction, so it is sent
 * exactly when the change that caused it commits. Payloads are written as
 * JSON text directly (util/jsonw), without parse_mode: what a person wrote
 * is sent exactly as written.
 */
#ifndef TGDESK_DESK_SEND_H
#define TGDESK_DESK_SEND_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "util/buf.h"

/*
 * Queues text for chat as sendMessage calls - split into parts of at most
 * DESK_TEXT_MAX code points - with markup (JSON text of a reply_markup, or
 * NULL) on the last part that is not blank. Blank parts are skipped.
 * purpose and request_id as for outbox_queue(). Returns 0 or -ENOMEM.
 */
int desk_send_text(struct desk_ctx *x, int64_t chat, const char *text, const char *markup,
                   const char *purpose, int64_t request_id);

/*
 * desk_send_text() of the text built in b, then frees b. A text cut at b's
 * cap is sent as it is; -ENOMEM when building it ran out of memory.
 */
int desk_send_buf(struct desk_ctx *x, int64_t chat, struct buf *b, const char *purpose,
                  int64_t request_id);

/*
 * Queues a copyMessage of message_id in from_chat to chat; caption (NULL:
 * keep the original) replaces the caption. Returns 0 or -ENOMEM.
 */
int desk_send_copy(struct desk_ctx *x, int64_t chat, int64_t from_chat, int64_t message_id,
                   const char *caption, const char *purpose, int64_t request_id);

/*
 * Queues a call of method whose payload is just the chat (and the update's
 * topic, store.h): closeForumTopic and the like, completed by the sender
 * (topics.h). Returns 0 or -ENOMEM.
 */
int desk_send_call(struct desk_ctx *x, int64_t chat, const char *method, const char *purpose,
                   int64_t request_id);

/*
 * Queues an edit of a message the bot sent: editMessageText with text, or
 * editMessageCaption (caption set) with text as the new caption. Returns 0
 * or -ENOMEM.
 */
int desk_send_edit(struct desk_ctx *x, int64_t chat, int64_t message_id, const char *text,
                   bool caption, int64_t request_id);

/*
 * Queues a copy of m - a message of a private chat with the bot or of a
 * staff chat, of any kind - for chat: copyMessage (caption NULL keeps m's
 * own), or forwardMessage for the kinds Telegram refuses to copy
 * (invoices, paid media, giveaways). Returns 0 or -ENOMEM.
 */
int desk_send_message_copy(struct desk_ctx *x, int64_t chat, const struct tg_message *m,
                           const char *caption, const char *purpose, int64_t request_id);

/*
 * Queues m's content anew rather than as a copy - for what copyMessage
 * cannot reach or carry: a business chat's messages, answers on behalf of a
 * business account. A file goes by its file_id with the matching send*
 * method (caption, NULL for none, on those that take one); a location,
 * venue, contact, poll or dice with sendLocation ... sendDice. business:
 * the connection to send on behalf of, NULL for the bot itself. Returns 0,
 * -ENOMEM, or -ENOTSUP (nothing queued) for a kind no send* method takes
 * (stories, games, ...) or content too damaged to send.
 */
int desk_send_content(struct desk_ctx *x, int64_t chat, const struct tg_message *m,
                      const char *caption, const char *business, const char *purpose,
                      int64_t request_id);

/* True for the kinds desk_send_content() can send (files and the five above). Pure. */
bool desk_media_resendable(enum tg_media media);

/*
 * desk_send_text() on behalf of business connection business: what staff
 * answer a customer of a business account. Returns 0 or -ENOMEM.
 */
int desk_send_business_text(struct desk_ctx *x, int64_t chat, const char *text,
                            const char *business, const char *purpose, int64_t request_id);

/*
 * Queues answerCallbackQuery for callback id (text shown to whoever pressed,
 * cut to Telegram's 200 characters; alert: as a dialog). chat orders it with
 * the presser's other messages. Returns 0 or -ENOMEM.
 */
int desk_answer_callback(struct desk_ctx *x, int64_t chat, const char *id, const char *text,
                         bool alert);

/*
 * Sends text to the staff chats as a notification about request_id (purpose
 * "notify": a Telegram reply to it reaches the request's user; in topics
 * mode it goes into the request's topic instead, topics.h), with the
 * buttons [Take #N] [Close #N] when buttons is set. desk_notify_chats() is
 * given the chats, desk_notify_staff() looks them up. Return 0, -ENOMEM, or
 * -EIO (the look-up).
 */
int desk_notify_chats(struct desk_ctx *x, const struct desk_staff_chats *chats, int64_t request_id,
                      const char *text, bool buttons);
int desk_notify_staff(struct desk_ctx *x, int64_t request_id, const char *text, bool buttons);

/*
 * The media or content of m, a user's message, for the given staff chats as
 * a notification about request_id: a copy (desk_send_message_copy()), or,
 * from a business chat, which bots cannot copy from, sent anew
 * (desk_send_content()). Returns 0, -ENOMEM or -ENOTSUP.
 */
int desk_notify_media(struct desk_ctx *x, const struct desk_staff_chats *chats, int64_t request_id,
                      const struct tg_message *m);

/*
 * Queues a sendDocument of a file made here: filename, its MIME type and
 * its len bytes of content (text), with caption. The payload carries the
 * file as {"document":{"filename","content_type","content"}}; the Bot API
 * client sends it as a multipart upload. Returns 0 or -ENOMEM.
 */
int desk_send_document(struct desk_ctx *x, int64_t chat, const char *filename, const char *type,
                       const char *content, size_t len, const char *caption, int64_t request_id);

/*
 * Refuses a button press (forged data, or not for the presser): an audit
 * row `message` naming the presser, the data and the chat, and an alert
 * with text. Returns 0, -ENOMEM or -EIO.
 */
int desk_refuse_callback(struct desk_ctx *x, const struct tg_callback_query *cq,
                         const char *message, const char *text);

/* Appends the reply_markup of one row of n inline buttons: labels[i] sends data[i]. */
void desk_markup(struct buf *b, const char *const *labels, const char *const *data, size_t n);

#endif
