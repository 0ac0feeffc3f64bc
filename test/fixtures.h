/*
 * fixtures.h - the Telegram fixtures under $TGDESK_FIXTURES (updates/, bad/)
 * for cmocka tests: reading one, and walking a directory of them. A file that
 * cannot be read fails the test.
 */
#ifndef TGDESK_TEST_FIXTURES_H
#define TGDESK_TEST_FIXTURES_H

#include <stddef.h>

/* The whole of dir/name, NUL-terminated beyond *ret_len. Caller frees. */
char *fixture_read(const char *dir, const char *name, size_t *ret_len);

/* Calls fn for every file of dir (dot files aside) with its name and body;
 * returns how many there were. */
typedef void (*fixture_fn)(const char *name, const char *body, size_t len, void *userdata);
size_t fixtures_each(const char *dir, fixture_fn fn, void *userdata);

#endif
