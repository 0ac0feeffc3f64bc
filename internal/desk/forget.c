#include "forget.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "outbox/prune.h"
#include "rules.h"
#include "send.h"
#include "topics.h"

#define TEXT_CAP (16 * 1024)

/* The reply_markup of the one confirmation button. */
static void confirm_button(struct buf *b, const char *label, int64_t user_id)
{
    char data[40];
    snprintf(data, sizeof(data), "forget:%" PRId64, user_id);
    const char *d = data;
    desk_markup(b, &label, &d, 1);
}

int desk_forget_ask(struct desk_ctx *x, const struct tg_message *m, int64_t user_id)
{
    bool self = user_id == m->from.id;
    const struct i18n_lang *l = desk_lang(x->d, m->from.language_code);
    struct buf text, markup;
    buf_init(&text, TEXT_CAP);
    buf_init(&markup, 1024);
    int rc = 0;
    if (self) {
        buf_add(&text, _(l, "This erases for good everything you wrote to us, and your name. "
                            "Your requests stay only as anonymous numbers. Press the button to go "
                            "ahead."));
        confirm_button(&markup, _(l, "Erase my data"), user_id);
    } else {
        char uid[24];
        const char *p[1] = {desk_i64(uid, user_id)};
        PGresult *res;
        if ((rc = desk_exec(x, "desk_forget_user", 1, p, &res)) < 0)
            goto out;
        if (PQntuples(res) != 1) {
            buf_addf(&text, "There is no user %" PRId64 ".", user_id);
        } else {
            buf_add(&text, "Erase the personal data of ");
            desk_fmt_user(&text, desk_col_str(res, 0, 0), desk_col_str(res, 0, 1),
                          desk_col_str(res, 0, 2), user_id);
            buf_addf(&text,
                     " (user %" PRId64 ", %s request%s)? Names, texts and files go for good; "
                     "counts and times stay.",
                     user_id, PQgetvalue(res, 0, 3), strcmp(PQgetvalue(res, 0, 3), "1") ? "s" : "");
            char label[48];
            snprintf(label, sizeof(label), "Erase user %" PRId64, user_id);
            confirm_button(&markup, label, user_id);
        }
        PQclear(res);
    }
    rc = buf_error(&text) == -ENOMEM || buf_error(&markup) == -ENOMEM
             ? -ENOMEM
             : desk_send_text(x, m->chat.id, buf_str(&text),
                              buf_len(&markup) ? buf_str(&markup) : NULL, "reply", 0);
out:
    buf_free(&text);
    buf_free(&markup);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_forget_callback(struct desk_ctx *x, const struct tg_callback_query *cq)
{
    int64_t user_id = 0;
    bool valid = desk_forget_parse(cq->data, &user_id) == 0;
    bool self = valid && user_id == cq->from.id;
    int rc;
    /* Erasing oneself is a user's text; erasing someone else, a supervisor's. */
    const struct i18n_lang *l =
        self || !desk_is_staff(x->d, cq->from.id) ? desk_lang(x->d, cq->from.language_code) : NULL;
    if (!valid || (!self && !desk_is_supervisor(x->d, cq->from.id))) {
        rc = desk_refuse_callback(x, cq, "rejected callback data",
                                  _(l, "This button is not valid."));
        return rc < 0 ? rc : DESK_PROCESSED;
    }

    char uid[24];
    const char *p[1] = {desk_i64(uid, user_id)};
    PGresult *res;
    if ((rc = desk_exec(x, "desk_forget_erase", 1, p, &res)) < 0)
        return rc;
    int64_t requests = desk_col_i64(res, 0, 0, 0), messages = desk_col_i64(res, 0, 1, 0);
    int64_t outbox_rows = outbox_forget(x->c, user_id, desk_col_str(res, 0, 4), x->sqlstate);
    if (outbox_rows < 0) {
        PQclear(res);
        return -EIO;
    }
    json_t *ctx = json_pack(
        "{sI sI ss sI sI sI sI sI}", "user_id", (json_int_t)user_id, "actor_id",
        (json_int_t)cq->from.id, "action", "forget", "requests", (json_int_t)requests, "messages",
        (json_int_t)messages, "log_rows", (json_int_t)desk_col_i64(res, 0, 2, 0), "dead_letters",
        (json_int_t)desk_col_i64(res, 0, 3, 0), "outbox_rows", (json_int_t)outbox_rows);
    PQclear(res);
    rc = ctx ? desk_audit(x, "info", "personal data erased", ctx) : -ENOMEM;
    json_decref(ctx);
    if (rc == 0)
        rc = desk_topic_forget(x, user_id);
    if (rc == 0)
        rc = desk_answer_callback(x, cq->from.id, cq->id, _(l, "Erased."), false);
    struct buf b;
    buf_init(&b, TEXT_CAP);
    if (self)
        buf_add(&b, _(l, "Done: everything you wrote to us and your name are erased."));
    else
        buf_addf(&b,
                 "The personal data of user %" PRId64 " is erased: %" PRId64
                 " message%s in %" PRId64 " request%s. Counts and times are kept.",
                 user_id, messages, messages == 1 ? "" : "s", requests, requests == 1 ? "" : "s");
    if (rc == 0)
        rc = desk_send_buf(x, cq->from.id, &b, "reply", 0);
    else
        buf_free(&b);
    return rc < 0 ? rc : DESK_PROCESSED;
}
