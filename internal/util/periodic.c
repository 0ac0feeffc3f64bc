#include "periodic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "util/clock.h"

struct periodic {
    periodic_fn *fn;
    void *ud;
    int64_t first_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    bool stop;
};

/* Waits ms unless stopped; true when stopped. */
static bool wait_ms(struct periodic *p, int64_t ms)
{
    pthread_mutex_lock(&p->mu);
    if (ms > 0) {
        struct timespec until = clock_deadline(CLOCK_MONOTONIC, ms);
        while (!p->stop && pthread_cond_timedwait(&p->cond, &p->mu, &until) == 0)
            ;
    }
    bool stop = p->stop;
    pthread_mutex_unlock(&p->mu);
    return stop;
}

static void *periodic_main(void *arg)
{
    struct periodic *p = arg;
    int64_t wait = p->first_ms;
    while (!wait_ms(p, wait))
        wait = p->fn(p->ud);
    return NULL;
}

struct periodic *periodic_start(int64_t first_ms, periodic_fn *fn, void *ud)
{
    struct periodic *p = calloc(1, sizeof(*p));
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->fn = fn;
    p->ud = ud;
    p->first_ms = first_ms;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&p->thread, NULL, periodic_main, p);
    if (rc != 0) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mu);
        free(p);
        errno = rc;
        return NULL;
    }
    return p;
}

bool periodic_stopping(struct periodic *p)
{
    pthread_mutex_lock(&p->mu);
    bool stop = p->stop;
    pthread_mutex_unlock(&p->mu);
    return stop;
}

void periodic_stop(struct periodic *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
