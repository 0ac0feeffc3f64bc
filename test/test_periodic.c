/* util/periodic: runs, waits, and stops without waiting out an interval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "util/clock.h"
#include "util/periodic.h"

struct counter {
    atomic_int runs;
    int64_t wait_ms;
};

static int64_t count(void *ud)
{
    struct counter *c = ud;
    atomic_fetch_add(&c->runs, 1);
    return c->wait_ms;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs first after first_ms, then after every wait the job returns. */
static void test_runs_again_and_again(void **state)
{
    struct counter c = {.wait_ms = 10};
    struct periodic *p = periodic_start(0, count, &c);
    assert_non_null(p);
    int64_t t0 = clock_mono_ms();
    while (atomic_load(&c.runs) < 5 && clock_mono_ms() - t0 < 5000)
        sleep_ms(5);
    assert_true(atomic_load(&c.runs) >= 5);
    assert_false(periodic_stopping(p));
    periodic_stop(p);
}

/* A stop during a long wait (the first, and a later one) ends it at once. */
static void test_stop_does_not_wait_out_the_interval(void **state)
{
    struct counter c = {.wait_ms = 60000};
    struct periodic *p = periodic_start(60000, count, &c);
    assert_non_null(p);
    int64_t t0 = clock_mono_ms();
    periodic_stop(p);
    assert_true(clock_mono_ms() - t0 < 2000);
    assert_int_equal(atomic_load(&c.runs), 0);

    p = periodic_start(0, count, &c);
    assert_non_null(p);
    while (atomic_load(&c.runs) < 1)
        sleep_ms(5);
    t0 = clock_mono_ms();
    periodic_stop(p);
    assert_true(clock_mono_ms() - t0 < 2000);
    assert_int_equal(atomic_load(&c.runs), 1);
    periodic_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_again_and_again),
        cmocka_unit_test(test_stop_does_not_wait_out_the_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
