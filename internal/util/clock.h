/*
 * clock.h - the few time helpers every module needs, in one place.
 *
 * Durations and timeouts use CLOCK_BOOTTIME through clock_mono_*()
 * (immune to clock changes, and counting a suspend, so that a database
 * lease held across one is seen to have run out); condition-variable
 * deadlines use whichever clock the condvar was made with, from a
 * relative wait. All functions are thread-safe and never fail in practice.
 */
#ifndef TGDESK_UTIL_CLOCK_H
#define TGDESK_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic time in nanoseconds / milliseconds. */
int64_t clock_mono_ns(void);
int64_t clock_mono_ms(void);

/* Seconds elapsed on the monotonic clock since t0 (taken with clock_gettime). */
double clock_since_s(const struct timespec *t0);

/* Wall-clock time in seconds since the epoch, with fractions. */
double clock_wall_s(void);

/* The time ms milliseconds from now on clock clk, for pthread_cond_timedwait. */
struct timespec clock_deadline(clockid_t clk, int64_t ms);

#endif
