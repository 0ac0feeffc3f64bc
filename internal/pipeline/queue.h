/*
 * queue.h - a bounded FIFO of pointers shared by threads.
 *
 * The HTTP thread pushes without ever blocking (a full queue is an immediate
 * -EAGAIN, which becomes 503 + Retry-After); workers pop in batches, which is
 * what makes group commit possible. One mutex, two condition variables; the
 * ring is allocated once with the capacity.
 */
#ifndef TGDESK_PIPELINE_QUEUE_H
#define TGDESK_PIPELINE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct queue;

/* Creates a queue for capacity items (>= 1). Returns NULL when out of memory. */
struct queue *queue_new(size_t capacity);

/* Frees the queue (items still in it are not touched). Accepts NULL. */
void queue_free(struct queue *q);

/*
 * Appends item. Returns 0, -EAGAIN when the queue is full, or -ESHUTDOWN
 * after queue_close(). Never blocks. Thread-safe.
 */
int queue_push(struct queue *q, void *item);

/*
 * Waits up to timeout_ms (< 0: forever) for at least one item, then takes up
 * to max items in FIFO order into items. Returns how many were taken: 0 on
 * timeout, or when the queue is closed and empty. Thread-safe.
 */
size_t queue_pop_batch(struct queue *q, void **items, size_t max, int64_t timeout_ms);

/*
 * Refuses further pushes and wakes every waiter; items already queued can
 * still be popped. Thread-safe.
 */
void queue_close(struct queue *q);

/* Items waiting now, and the capacity. Thread-safe. */
size_t queue_depth(struct queue *q);
size_t queue_capacity(const struct queue *q);

#endif
