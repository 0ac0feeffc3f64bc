/*
 * update_ref.h - the jansson-based tg_update_parse() kept as a reference
 * (update_ref.c), and update_diff(), which holds the two side by side.
 */
#ifndef TGDESK_TEST_UPDATE_REF_H
#define TGDESK_TEST_UPDATE_REF_H

#include <stddef.h>

#include "tg/update.h"

/* A parsed update and the jansson document its strings point into. */
struct tg_update_ref {
    struct tg_update u;
    void *priv_json;
};

/* tg_update_parse(), tg_update_free(), ... as they were (see update_ref.c). */
int tg_update_parse_ref(const char *body, size_t len, struct tg_update_ref *ret, char *err,
                        size_t cap);
void tg_update_free_ref(struct tg_update_ref *u);
const char *tg_update_kind_name_ref(enum tg_update_kind kind);
const char *tg_media_name_ref(enum tg_media media);

/*
 * Parses body with tg_update_parse() and with the reference. Returns NULL
 * when they agree: the same return value, and then either the same update
 * (every field, strings compared by content) or the same reason, byte
 * position included, with *ret untouched by both. Else returns why, which
 * names the first difference ("message.from.username", ...).
 */
const char *update_diff(const char *body, size_t len, char *why, size_t cap);

#endif
