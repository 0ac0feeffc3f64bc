/*
 * fuzz_update_diff.c - differential libFuzzer target: tg_update_parse()
 * against the jansson-based parser it replaced (update_ref.c). Any difference
 * in the return value, in a field of the update or in the reason given,
 * byte position included, aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "update_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[768];

    if (update_diff((const char *)data, size, why, sizeof(why))) {
        fprintf(stderr, "fuzz_update_diff: %s\n", why);
        abort();
    }
    return 0;
}
