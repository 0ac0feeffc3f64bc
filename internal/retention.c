#include "retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "db/pool.h"
#include "desk/prune.h"
#include "log.h"
#include "outbox/prune.h"
#include "util/clock.h"

/* Statements per table and round, so that a huge backlog does not hold the thread. */
#define ROUND_STATEMENTS 100

struct retention {
    struct pool *pool;
    struct retention_options opt;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
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

/* Waits ms unless stopped; true when stopped. */
static bool wait_ms(struct retention *r, int64_t ms)
{
    struct timespec until = clock_deadline(CLOCK_MONOTONIC, ms);
    pthread_mutex_lock(&r->mu);
    while (!r->stop && pthread_cond_timedwait(&r->cond, &r->mu, &until) == 0)
        ;
    bool stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

static void *retention_main(void *arg)
{
    struct retention *r = arg;
    int64_t wait = r->opt.first_delay_ms;
    while (!wait_ms(r, wait)) {
        retention_run(r);
        wait = r->opt.interval_ms;
    }
    return NULL;
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
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->mu);
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
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
