#include "sqlsplit.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

/* Skips whitespace and comments; returns the new position. */
static size_t skip_space(const char *s, size_t i)
{
    for (;;) {
        while (s[i] && isspace((unsigned char)s[i]))
            i++;
        if (s[i] == '-' && s[i + 1] == '-') {
            while (s[i] && s[i] != '\n')
                i++;
            continue;
        }
        if (s[i] == '/' && s[i + 1] == '*') {
            int depth = 0;
            do {
                if (s[i] == '/' && s[i + 1] == '*') {
                    depth++;
                    i += 2;
                } else if (s[i] == '*' && s[i + 1] == '/') {
                    depth--;
                    i += 2;
                } else {
                    i++;
                }
            } while (s[i] && depth > 0);
            continue;
        }
        return i;
    }
}

/* Length of a dollar-quote tag ($tag$ or $$) at s[i], 0 when none. */
static size_t dollar_tag(const char *s, size_t i)
{
    if (s[i] != '$')
        return 0;
    size_t j = i + 1;
    if (isdigit((unsigned char)s[j]))
        return 0; /* $1 is a parameter, not a quote */
    while (isalnum((unsigned char)s[j]) || s[j] == '_')
        j++;
    return s[j] == '$' ? j - i + 1 : 0;
}

int sqlsplit_next(const char *sql, size_t *pos, size_t *ret_start, size_t *ret_len)
{
    size_t i = skip_space(sql, *pos);
    while (sql[i] == ';')
        i = skip_space(sql, i + 1);
    if (!sql[i]) {
        *pos = i;
        return 0;
    }

    size_t start = i, end = i;
    while (sql[i] && sql[i] != ';') {
        char c = sql[i];
        if (c == '\'' || c == '"') {
            /* E'...' strings allow backslash escapes. */
            bool backslash = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e');
            i++;
            while (sql[i]) {
                if (backslash && sql[i] == '\\' && sql[i + 1]) {
                    i += 2;
                    continue;
                }
                if (sql[i] == c) {
                    if (sql[i + 1] == c) { /* doubled quote */
                        i += 2;
                        continue;
                    }
                    break;
                }
                i++;
            }
            if (sql[i])
                i++;
            end = i;
            continue;
        }
        size_t tag = dollar_tag(sql, i);
        if (tag) {
            const char *close = NULL;
            for (size_t j = i + tag; sql[j]; j++) {
                if (strncmp(sql + j, sql + i, tag) == 0) {
                    close = sql + j;
                    break;
                }
            }
            i = close ? (size_t)(close - sql) + tag : strlen(sql);
            end = i;
            continue;
        }
        if ((c == '-' && sql[i + 1] == '-') || (c == '/' && sql[i + 1] == '*')) {
            i = skip_space(sql, i);
            continue;
        }
        i++;
        if (!isspace((unsigned char)c))
            end = i;
    }

    *ret_start = start;
    *ret_len = end - start;
    *pos = sql[i] == ';' ? i + 1 : i;
    return 1;
}
