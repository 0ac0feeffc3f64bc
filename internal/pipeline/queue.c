#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "util/clock.h"

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    size_t cap;
    size_t head; /* next to pop */
    size_t len;
    bool closed;
    void **ring;
};

struct queue *queue_new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    struct queue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->ring = calloc(capacity, sizeof(*q->ring));
    if (!q->ring) {
        free(q);
        return NULL;
    }
    q->cap = capacity;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->nonempty, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&q->lock, NULL);
    return q;
}

void queue_free(struct queue *q)
{
    if (!q)
        return;
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
    free(q);
}

int queue_push(struct queue *q, void *item)
{
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        rc = -ESHUTDOWN;
    } else if (q->len == q->cap) {
        rc = -EAGAIN;
    } else {
        q->ring[(q->head + q->len) % q->cap] = item;
        q->len++;
        /* Only the first item wakes a worker: that worker takes what has
         * come by the time it runs (and wakes another for what it leaves),
         * so a wake-up per item - a futex call per update on the HTTP
         * thread - bought nothing. */
        if (q->len == 1)
            pthread_cond_signal(&q->nonempty);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

size_t queue_pop_batch(struct queue *q, void **items, size_t max, int64_t timeout_ms)
{
    struct timespec deadline = {0};
    if (timeout_ms >= 0)
        deadline = clock_deadline(CLOCK_MONOTONIC, timeout_ms);

    pthread_mutex_lock(&q->lock);
    while (q->len == 0 && !q->closed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->nonempty, &q->lock);
        } else if (pthread_cond_timedwait(&q->nonempty, &q->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    size_t n = q->len < max ? q->len : max;
    for (size_t i = 0; i < n; i++) {
        items[i] = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
    }
    q->len -= n;
    /* Another worker may take what is left. */
    if (q->len > 0)
        pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
    return n;
}

void queue_close(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}

size_t queue_depth(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t queue_capacity(const struct queue *q)
{
    return q->cap;
}
