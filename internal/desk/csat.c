#include "csat.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "rules.h"
#include "send.h"

/* Longest text built here. */
#define TEXT_CAP (64 * 1024)

int desk_csat_prompt(struct desk_ctx *x, int64_t user_id, int64_t request_id,
                     const struct i18n_lang *lang)
{
    if (!x->d->csat)
        return 0;
    struct buf markup, text;
    buf_init(&markup, 4096);
    char data[5][40], labels[5][2];
    const char *l[5], *d[5];
    for (int i = 0; i < 5; i++) {
        desk_rate_data(request_id, i + 1, data[i], sizeof(data[i]));
        labels[i][0] = (char)('1' + i);
        labels[i][1] = '\0';
        l[i] = labels[i];
        d[i] = data[i];
    }
    desk_markup(&markup, l, d, 5);
    buf_init(&text, TEXT_CAP);
    buf_addf(&text,
             _(lang, "How would you rate our help with request #%lld? 1 is poor, 5 is excellent."),
             (long long)request_id);
    int rc =
        buf_error(&markup) == -ENOMEM || buf_error(&text) == -ENOMEM
            ? -ENOMEM
            : desk_send_text(x, user_id, buf_str(&text), buf_str(&markup), "reply", request_id);
    buf_free(&markup);
    buf_free(&text);
    return rc;
}

/* An invalid rating button: audited like any rejected button, and answered. */
static int reject(struct desk_ctx *x, const struct tg_callback_query *cq)
{
    int rc = desk_refuse_callback(
        x, cq, "rejected callback data",
        _(desk_lang(x->d, cq->from.language_code), "This button is not valid."));
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_csat_callback(struct desk_ctx *x, const struct tg_callback_query *cq)
{
    int64_t id;
    int score;
    if (desk_rate_parse(cq->data, &id, &score) < 0)
        return reject(x, cq);
    const struct i18n_lang *l = desk_lang(x->d, cq->from.language_code);
    if (!x->d->csat) {
        int rc = desk_answer_callback(x, cq->from.id, cq->id, _(l, "Thank you!"), false);
        return rc < 0 ? rc : DESK_PROCESSED;
    }

    char rid[24], uid[24], sc[2] = {(char)('0' + score), '\0'};
    const char *p[3] = {desk_i64(rid, id), desk_i64(uid, cq->from.id), sc};
    PGresult *res;
    int rc = desk_exec(x, "desk_rating_set", 3, p, &res);
    if (rc < 0)
        return rc;
    /* No such request, or not this user's: a forged button. */
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        PQclear(res);
        return reject(x, cq);
    }
    bool rated = !PQgetisnull(res, 0, 2);
    bool first = rated && PQgetvalue(res, 0, 2)[0] == 't';
    bool banned = PQgetvalue(res, 0, 3)[0] == 't';
    PQclear(res);

    struct buf b;
    buf_init(&b, TEXT_CAP);
    if (!rated) {
        buf_addf(&b, _(l, "You can rate request #%lld once it is solved."), (long long)id);
        rc = buf_error(&b) == -ENOMEM
                 ? -ENOMEM
                 : desk_answer_callback(x, cq->from.id, cq->id, buf_str(&b), true);
        buf_free(&b);
        return rc < 0 ? rc : DESK_PROCESSED;
    }
    outbox_observe(x->out, OUTBOX_OBS_RATING, score); /* counted once it commits */
    if (first)
        buf_addf(&b, _(l, "Thank you! You rated request #%lld: %d/5."), (long long)id, score);
    else
        buf_addf(&b, _(l, "Your rating of request #%lld is now %d/5."), (long long)id, score);
    rc = buf_error(&b) == -ENOMEM
             ? -ENOMEM
             : desk_answer_callback(x, cq->from.id, cq->id, buf_str(&b), false);
    buf_reset(&b);
    if (rc == 0 && first) {
        buf_addf(&b,
                 _(l, "Thank you for rating request #%lld: %d/5. If you like, tell us in your "
                      "next message what was good or what we could do better."),
                 (long long)id, score);
        rc = desk_send_buf(x, cq->from.id, &b, "reply", id);
        buf_init(&b, TEXT_CAP);
    }
    if (rc == 0 && !banned) {
        buf_addf(&b, "Request #%" PRId64 " was rated %d/5 by ", id, score);
        desk_fmt_user(&b, cq->from.first_name, cq->from.last_name, cq->from.username, cq->from.id);
        buf_add(&b, first ? "." : " (changed).");
        rc = buf_error(&b) == -ENOMEM ? -ENOMEM : desk_notify_staff(x, id, buf_str(&b), false);
    }
    buf_free(&b);
    return rc < 0 ? rc : DESK_PROCESSED;
}

int desk_csat_commented(struct desk_ctx *x, const struct tg_message *m, int64_t request_id,
                        int score, bool banned, const struct desk_staff_chats *chats)
{
    struct buf b;
    buf_init(&b, TEXT_CAP);
    buf_addf(
        &b,
        _(desk_lang(x->d, m->from.language_code), "Thank you for your feedback on request #%lld."),
        (long long)request_id);
    int rc = desk_send_buf(x, m->chat.id, &b, "reply", request_id);
    if (rc < 0 || banned || chats->n == 0)
        return rc;
    buf_init(&b, TEXT_CAP);
    buf_addf(&b, "Request #%" PRId64 " (rated %d/5) - ", request_id, score);
    desk_fmt_user(&b, m->from.first_name, m->from.last_name, m->from.username, m->from.id);
    buf_add(&b, " comments:\n");
    buf_add(&b, m->text);
    rc = buf_error(&b) == -ENOMEM ? -ENOMEM
                                  : desk_notify_chats(x, chats, request_id, buf_str(&b), false);
    buf_free(&b);
    return rc;
}
