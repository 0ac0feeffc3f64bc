#include "retention.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "db/pool.h"
#include "desk/prune.h"
#include "log.h"
#include "outbox/prune.h"
#include "util/periodic.h"

/* Statements per table and round, so that a huge backlog does not hold the thread. */
#define ROUND_STATEMENTS 100

struct retention {
    struct pool *pool;
    struct retention_options opt;
    struct periodic *thread;
    _Atomic uint64_t rounds, updates, notifications, outbox;
};

enum table { T_UPDATES, T_NOTIFICATIONS, T_OUTBOX, T_COUNT };

/* One statement for table t; the rows deleted or -EIO. */
static int64_t prune(struct retention *r, struct pool_conn *c, enum table t)
{
    switch (t) {
    case T_UPDATES:
        return desk_prune_updates(c, r->opt.dedup_hours, r->opt.batch);
    case T_NOTIFICATIONS:
        return desk_prune_notifications(c, r->opt.batch);
    case T_OUTBOX:
        return r->opt.outbox_days > 0 ? outbox_prune(c, r->opt.outbox_days, r->opt.batch) : 0;
    default:
        return 0;
    }
}

int64_t retention_run(struct retention *r)
{
    static const char *const names[T_COUNT] = {"processed_updates", "notifications", "outbox"};
    _Atomic uint64_t *totals[T_COUNT] = {&r->updates, &r->notifications, &r->outbox};
    struct pool_conn *c = NULL;
    if (pool_acquire(r->pool, 1000, &c) < 0)
        return -EIO;
    int64_t all = 0;
    for (int t = 0; t < T_COUNT; t++) {
        int64_t sum = 0;
        for (int i = 0; i < ROUND_STATEMENTS; i++) {
            int64_t n = prune(r, c, (enum table)t);
            if (n < 0) {
                LOG(LOG_WARN, "retention failed", LOG_STR("table", names[t]));
                sum = sum ? sum : n;
                break;
            }
            sum += n;
            if (n < r->opt.batch)
                break;
        }
        if (sum > 0) {
            atomic_fetch_add(totals[t], (uint64_t)sum);
            LOG(LOG_INFO, "retention deleted old rows", LOG_STR("table", names[t]),
                LOG_INT("rows", sum));
            all += sum;
        } else if (sum < 0 && all == 0) {
            all = sum;
        }
    }
    pool_release(r->pool, c);
    atomic_fetch_add(&r->rounds, 1);
    return all;
}

static int64_t retention_round(void *arg)
{
    struct retention *r = arg;
    retention_run(r);
    return r->opt.interval_ms;
}

struct retention *retention_start(struct pool *pool, const struct retention_options *o)
{
    struct retention *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->pool = pool;
    r->opt = *o;
    if (r->opt.interval_ms <= 0)
        r->opt.interval_ms = 600000;
    if (r->opt.first_delay_ms <= 0)
        r->opt.first_delay_ms = 2000;
    if (r->opt.batch <= 0)
        r->opt.batch = 1000;
    r->thread = periodic_start(r->opt.first_delay_ms, retention_round, r);
    if (!r->thread) {
        free(r);
        return NULL;
    }
    return r;
}

void retention_stats(struct retention *r, struct retention_stats *ret)
{
    ret->rounds = atomic_load(&r->rounds);
    ret->updates = atomic_load(&r->updates);
    ret->notifications = atomic_load(&r->notifications);
    ret->outbox = atomic_load(&r->outbox);
}

void retention_stop(struct retention *r)
{
    if (!r)
        return;
    periodic_stop(r->thread);
    free(r);
}
