#include "timers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "business.h"
#include "db/sqlstate.h"
#include "log.h"
#include "metrics/tgm.h"
#include "rules.h"
#include "send.h"
#include "store.h"
#include "topics.h"
#include "util/periodic.h"

/* Requests one statement handles per round; the rest wait for the next round. */
#define ROUND_LIMIT "100"
/* Longest text built here. */
#define TEXT_CAP (16 * 1024)

struct desk_timers {
    struct desk *d;
    struct pool *pool;
    struct sender *sender;
    int64_t interval_ms;
    struct periodic *thread; /* NULL: no timer configured */
};

/* Seconds as statement text ("900.000"). */
static const char *seconds_txt(char buf[32], int64_t ms)
{
    snprintf(buf, 32, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
    return buf;
}

/* Reminders about unanswered requests; the first of each is a breach. */
static int remind(struct desk_ctx *x, int *ret_sent, int *ret_breaches)
{
    char sla[32];
    const char *p[6] = {seconds_txt(sla, x->d->sla_ms), NULL, NULL, NULL, NULL, ROUND_LIMIT};
    desk_hours_params(x->d, &p[1]);
    PGresult *res;
    int rc = desk_exec(x, "desk_sla_remind", 6, p, &res);
    if (rc < 0)
        return rc;
    struct desk_staff_chats chats;
    int rows = PQntuples(res);
    if (rows > 0 && (rc = desk_staff_chats(x, &chats)) < 0) {
        PQclear(res);
        return rc;
    }
    for (int i = 0; rc == 0 && i < rows; i++) {
        int64_t id = desk_col_i64(res, i, 0, 0);
        struct buf b;
        buf_init(&b, TEXT_CAP);
        buf_addf(&b, "⏰ #%" PRId64 " waiting ", id);
        desk_fmt_wait(&b, desk_col_i64(res, i, 2, 0));
        buf_add(&b, " — ");
        desk_fmt_user(&b, desk_col_str(res, i, 4), desk_col_str(res, i, 5), desk_col_str(res, i, 6),
                      desk_col_i64(res, i, 1, 0));
        rc = buf_error(&b) == -ENOMEM ? -ENOMEM
                                      : desk_notify_chats(x, &chats, id, buf_str(&b), true);
        buf_free(&b);
        (*ret_sent)++;
        if (PQgetvalue(res, i, 3)[0] == 't')
            (*ret_breaches)++;
    }
    PQclear(res);
    return rc;
}

/* Solved requests whose user stayed silent: closed, the user told, audited. */
static int auto_close(struct desk_ctx *x, int *ret_closed)
{
    char after[32];
    const char *p[2] = {seconds_txt(after, x->d->auto_close_ms), ROUND_LIMIT};
    PGresult *res;
    int rc = desk_exec(x, "desk_auto_close", 2, p, &res);
    if (rc < 0)
        return rc;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        int64_t id = desk_col_i64(res, i, 0, 0), user = desk_col_i64(res, i, 1, 0);
        json_t *ctx =
            json_pack("{sI sI ss ss ss}", "request_id", (json_int_t)id, "user_id", (json_int_t)user,
                      "action", "auto_close", "old_status", "solved", "new_status", "closed");
        rc = ctx ? desk_audit(x, "info", "request status changed", ctx) : -ENOMEM;
        json_decref(ctx);
        if (rc < 0)
            break;
        (*ret_closed)++;
        if ((rc = desk_topic_status(x, id, DESK_CLOSED, 0)) < 0)
            break;
        /* not to a business account's customer: they talk to a person there */
        struct desk_business_route route;
        if ((rc = desk_business_route(x, id, &route)) < 0 || route.business) {
            desk_business_route_free(&route);
            continue;
        }
        desk_business_route_free(&route);
        struct buf b;
        buf_init(&b, TEXT_CAP);
        buf_addf(&b,
                 _(desk_lang(x->d, desk_col_str(res, i, 2)),
                   "Request #%lld is now closed, as we have not heard from you since it was "
                   "solved. Write to us any time to open a new one."),
                 (long long)id);
        rc = desk_send_buf(x, user, &b, "reply", id);
    }
    PQclear(res);
    return rc;
}

int desk_timers_run(struct desk_timers *t)
{
    struct pool_conn *c = NULL;
    if (pool_acquire(t->pool, 1000, &c) < 0)
        return -EIO;
    struct outbox_batch out;
    memset(&out, 0, sizeof(out));
    char sqlstate[DB_SQLSTATE_LEN] = "";
    struct desk_ctx x = {.d = t->d, .c = c, .out = &out, .sqlstate = sqlstate};
    int sent = 0, breaches = 0, closed = 0;
    pool_begin(c);
    int rc = t->d->sla_ms > 0 ? remind(&x, &sent, &breaches) : 0;
    if (rc == 0 && t->d->auto_close_ms > 0)
        rc = auto_close(&x, &closed);
    if (rc == 0)
        rc = outbox_write(c, &out, sqlstate);
    PGresult *res = pool_exec_sql(c, "desk_timers_end", rc == 0 ? "COMMIT" : "ROLLBACK");
    bool committed = rc == 0 && res && PQresultStatus(res) == PGRES_COMMAND_OK &&
                     strcmp(PQcmdStatus(res), "COMMIT") == 0;
    PQclear(res);
    pool_release(t->pool, c);
    if (!committed) {
        LOG(LOG_WARN, "desk timers round failed", LOG_STR("sqlstate", sqlstate));
        outbox_batch_clear(&out);
        return rc < 0 ? rc : -EIO;
    }
    for (int i = 0; i < breaches; i++)
        tgm_sla_breach();
    if (t->sender && out.n > 0)
        sender_submit(t->sender, &out);
    outbox_batch_clear(&out);
    if (sent + closed > 0)
        LOG(LOG_INFO, "desk timers", LOG_INT("reminders", sent), LOG_INT("closed", closed));
    return sent + closed;
}

static int64_t timers_round(void *arg)
{
    struct desk_timers *t = arg;
    desk_timers_run(t);
    return t->interval_ms;
}

struct desk_timers *desk_timers_start(struct desk *d, struct pool *pool, struct sender *sender)
{
    struct desk_timers *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->d = d;
    t->pool = pool;
    t->sender = sender;
    /* A fifth of the shortest delay, between 1 and 5 s: a reminder is at
     * most that late. A round reads every stored request not yet answered
     * and more (docs/benchmark.md: 29-85 ms at 232k stored), so not more
     * often. */
    int64_t shortest = d->sla_ms > 0 && (d->auto_close_ms <= 0 || d->sla_ms < d->auto_close_ms)
                           ? d->sla_ms
                           : d->auto_close_ms;
    t->interval_ms = shortest / 5 < 1000 ? 1000 : shortest / 5 > 5000 ? 5000 : shortest / 5;
    if (shortest <= 0)
        return t;
    t->thread = periodic_start(t->interval_ms, timers_round, t);
    if (!t->thread) {
        free(t);
        return NULL;
    }
    return t;
}

void desk_timers_stop(struct desk_timers *t)
{
    if (!t)
        return;
    periodic_stop(t->thread);
    free(t);
}
