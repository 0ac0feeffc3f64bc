/*
 * array.h - PostgreSQL array literals ({1,2,NULL}, {"a","b\"c"}) built in a
 * struct buf, for statements that take one array parameter per column and
 * unnest() them: one statement for many rows.
 *
 * The text is sent as a text parameter, so the connection's client_encoding
 * must be UTF8 (every pooled connection sets it): quoting works on bytes and
 * assumes no multi-byte character contains a backslash or a quote.
 */
#ifndef TGDESK_DB_ARRAY_H
#define TGDESK_DB_ARRAY_H

#include <stdint.h>

#include "util/buf.h"

/* Starts an array: empties b and writes "{". */
void db_array_open(struct buf *b);

/* Appends a text element, quoted; NULL appends SQL NULL. */
void db_array_text(struct buf *b, const char *s);

/* Appends n bytes of s as a quoted text element. */
void db_array_textn(struct buf *b, const char *s, size_t n);

/* Appends an integer element. */
void db_array_i64(struct buf *b, int64_t v);

/* Appends SQL NULL. */
void db_array_null(struct buf *b);

/*
 * Closes the array ("}") and returns its text (borrowed from b), or NULL
 * when b hit its cap or ran out of memory.
 */
const char *db_array_close(struct buf *b);

#endif
