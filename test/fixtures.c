/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "fixtures.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

/* $TGDESK_FIXTURES/dir[/name] into path. */
static void fixture_path(char *path, size_t cap, const char *dir, const char *name)
{
    const char *root = getenv("TGDESK_FIXTURES");
    assert_non_null(root);
    int n = name ? snprintf(path, cap, "%s/%s/%s", root, dir, name)
                 : snprintf(path, cap, "%s/%s", root, dir);
    assert_true(n > 0 && (size_t)n < cap);
}

char *fixture_read(const char *dir, const char *name, size_t *ret_len)
{
    char path[2048];
    fixture_path(path, sizeof(path), dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *ret_len = (size_t)n;
    return buf;
}

size_t fixtures_each(const char *dir, fixture_fn fn, void *userdata)
{
    char path[2048];
    fixture_path(path, sizeof(path), dir, NULL);
    DIR *dp = opendir(path);
    assert_non_null(dp);
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t len;
        char *body = fixture_read(dir, e->d_name, &len);
        fn(e->d_name, body, len, userdata);
        free(body);
        count++;
    }
    closedir(dp);
    return count;
}
