/*
 * periodic.h - a background thread that runs one job now and then until it
 * is stopped: retention, the desk's timers and the sender's lease keeper.
 * The wait between runs ends early when the thread is stopped, so a stop
 * never waits out an interval.
 */
#ifndef TGDESK_UTIL_PERIODIC_H
#define TGDESK_UTIL_PERIODIC_H

#include <stdbool.h>
#include <stdint.h>

struct periodic;

/*
 * What the thread runs: returns how long to wait before the next run (ms;
 * 0 or less: at once). ud is the caller's.
 */
typedef int64_t periodic_fn(void *ud);

/*
 * Starts the thread: first_ms after now it runs fn, then again after each
 * wait fn returns. Returns NULL (errno set) when the thread cannot start.
 */
struct periodic *periodic_start(int64_t first_ms, periodic_fn *fn, void *ud);

/* Whether periodic_stop() was called: a long run may look and end early. */
bool periodic_stopping(struct periodic *p);

/* Stops the thread (a run under way finishes first), joins it and frees p. NULL: nothing. */
void periodic_stop(struct periodic *p);

#endif
