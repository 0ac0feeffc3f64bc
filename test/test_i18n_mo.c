/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "desk/rules.h"
#include "util/buf.h"
#include "util/i18n.h"

static const char *const shipped[] = {"de", "es", "ru"};

/* The catalogs meson built (po/LANG/LC_MESSAGES/tgdesk.mo of the build tree). */
static const char *locale_dir(void)
{
    const char *d = getenv("TGDESK_LOCALE_DIR");
    assert_non_null(d);
    return d;
}

static struct i18n *load_shipped(const char *def)
{
    struct i18n *i = NULL;
    char err[512] = "";
    int rc = i18n_load(locale_dir(), shipped, 3, def, &i, err, sizeof(err));
    if (rc != 0)
        fail_msg("i18n_load: %d %s", rc, err);
    return i;
}

static void test_shipped(void **state)
{
    struct i18n *i = load_shipped("en");
    const struct i18n_lang *ru = i18n_find(i, "ru");
    assert_string_equal(i18n_name(ru), "ru");
    assert_string_equal(_(ru, "Thank you!"), "Спасибо!");
    assert_string_equal(_(i18n_find(i, "es"), "Thank you!"), "¡Gracias!");
    assert_string_equal(_(i18n_find(i, "de"), "Thank you!"), "Vielen Dank!");
    assert_string_equal(_(ru, "Request #%lld created. Our support team will answer you here "
                              "soon; anything you send until then is added to it. /status shows "
                              "your requests, /cancel closes this one."),
                        "Запрос #%lld создан. Наша служба поддержки скоро ответит вам здесь; всё, "
                        "что вы отправите до этого, будет добавлено к нему. /status показывает "
                        "ваши запросы, /cancel закрывает этот.");
    /* a text the catalog lacks: English, the very pointer */
    const char *missing = "No such text in any catalog";
    assert_ptr_equal(_(ru, missing), missing);
    /* English: no catalog, nothing looked up */
    const struct i18n_lang *en = i18n_find(i, "en");
    assert_string_equal(i18n_name(en), "en");
    const char *thanks = "Thank you!";
    assert_ptr_equal(_(en, thanks), thanks);
    assert_ptr_equal(_(NULL, thanks), thanks);
    i18n_free(i);
}

static void test_find(void **state)
{
    struct i18n *i = load_shipped("en");
    const struct {
        const char *code, *want;
    } cases[] = {
        {"ru", "ru"},    {"ru-RU", "ru"}, {"RU", "ru"},      {"ru_UA", "ru"}, {"es-419", "es"},
        {"de-AT", "de"}, {"pt-br", "en"}, {"pt", "en"},      {"", "en"},      {"r", "en"},
        {"rus", "en"},   {"en-GB", "en"}, {"zh-hans", "en"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        assert_string_equal(i18n_name(i18n_find(i, cases[k].code)), cases[k].want);
    assert_string_equal(i18n_name(i18n_find(i, NULL)), "en");
    i18n_free(i);

    /* another default */
    i = load_shipped("de");
    assert_string_equal(i18n_name(i18n_find(i, "pt-br")), "de");
    assert_string_equal(i18n_name(i18n_find(i, NULL)), "de");
    assert_string_equal(i18n_name(i18n_find(i, "en")), "en");
    assert_string_equal(i18n_name(i18n_find(i, "es")), "es");
    i18n_free(i);
    i = load_shipped("es-MX"); /* a default with a region: its base language */
    assert_string_equal(i18n_name(i18n_find(i, "fr")), "es");
    i18n_free(i);

    /* no catalogs at all: English */
    assert_null(i18n_find(NULL, "ru"));
    i18n_free(NULL);
}

static void test_refused(void **state)
{
    struct i18n *i = (struct i18n *)&i; /* untouched on failure */
    char err[512] = "";
    assert_int_equal(i18n_load(locale_dir(), shipped, 3, "fr", &i, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "no catalog for language \"fr\" (have: de es ru en)");
    assert_ptr_equal(i, (struct i18n *)&i);

    const char *pt[] = {"pt"};
    assert_int_equal(i18n_load(locale_dir(), pt, 1, "en", &i, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/pt/LC_MESSAGES/tgdesk.mo: No such file or directory"));

    const char *bad[] = {"../ru"};
    assert_int_equal(i18n_load(locale_dir(), bad, 1, "en", &i, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "bad language name \"../ru\"");
    assert_ptr_equal(i, (struct i18n *)&i);
}

/* A little-endian .mo of n sorted (id, str) pairs (lengths exclude the final NUL). */
struct pair {
    const char *id;
    size_t id_len;
    const char *str;
    size_t str_len;
};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static size_t make_mo(unsigned char *out, const struct pair *p, size_t n)
{
    size_t orig = 28, trans = orig + n * 8, data = trans + n * 8;
    memset(out, 0, data);
    put32(out, 0x950412de);
    put32(out + 8, (uint32_t)n);
    put32(out + 12, (uint32_t)orig);
    put32(out + 16, (uint32_t)trans);
    for (size_t k = 0; k < n; k++) {
        put32(out + orig + k * 8, (uint32_t)p[k].id_len);
        put32(out + orig + k * 8 + 4, (uint32_t)data);
        memcpy(out + data, p[k].id, p[k].id_len + 1);
        data += p[k].id_len + 1;
        put32(out + trans + k * 8, (uint32_t)p[k].str_len);
        put32(out + trans + k * 8 + 4, (uint32_t)data);
        memcpy(out + data, p[k].str, p[k].str_len + 1);
        data += p[k].str_len + 1;
    }
    return data;
}

/* Writes bytes as DIR/xx/LC_MESSAGES/tgdesk.mo and loads language xx from it. */
static int load_bytes(const char *dir, const unsigned char *bytes, size_t len, struct i18n **ret,
                      char *err, size_t cap)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/xx", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/xx/LC_MESSAGES", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/xx/LC_MESSAGES/tgdesk.mo", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
    const char *xx[] = {"xx"};
    return i18n_load(dir, xx, 1, "xx", ret, err, cap);
}

#define HEADER_RU                                                                         \
    "Content-Type: text/plain; charset=UTF-8\n"                                           \
    "Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && " \
    "(n%100<10 || n%100>=20) ? 1 : 2);\n"
#define MINUTES    "%lu minute\0%lu minutes"
#define MINUTES_RU "%lu минута\0%lu минуты\0%lu минут"

static void test_plural_catalog(void **state)
{
    char dir[] = "/tmp/test-i18n.XXXXXX";
    assert_non_null(mkdtemp(dir));
    static unsigned char mo[4096];
    const struct pair pairs[] = {
        {"", 0, HEADER_RU, sizeof(HEADER_RU) - 1},
        {MINUTES, sizeof(MINUTES) - 1, MINUTES_RU, sizeof(MINUTES_RU) - 1},
        {"Yes", 3, "Да", strlen("Да")},
    };
    size_t len = make_mo(mo, pairs, 3);
    struct i18n *i = NULL;
    char err[512] = "";
    assert_int_equal(load_bytes(dir, mo, len, &i, err, sizeof(err)), 0);
    const struct i18n_lang *l = i18n_find(i, "xx");
    assert_string_equal(_(l, "Yes"), "Да");
    const struct {
        unsigned long n;
        const char *want;
    } forms[] = {
        {0, "%lu минут"},   {1, "%lu минута"}, {2, "%lu минуты"},   {4, "%lu минуты"},
        {5, "%lu минут"},   {11, "%lu минут"}, {12, "%lu минут"},   {21, "%lu минута"},
        {22, "%lu минуты"}, {25, "%lu минут"}, {101, "%lu минута"}, {111, "%lu минут"},
    };
    for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++)
        assert_string_equal(P_(l, "%lu minute", "%lu minutes", forms[k].n), forms[k].want);
    /* English, and a text the catalog lacks */
    assert_string_equal(P_(NULL, "%lu minute", "%lu minutes", 1), "%lu minute");
    assert_string_equal(P_(NULL, "%lu minute", "%lu minutes", 5), "%lu minutes");
    assert_string_equal(P_(l, "%lu hour", "%lu hours", 0), "%lu hours");
    i18n_free(i);

    /* broken files: each refused with a reason, nothing loaded */
    unsigned char bad[4096];
    memcpy(bad, mo, len);
    bad[0] = 0; /* magic */
    assert_int_equal(load_bytes(dir, bad, len, &i, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad magic number"));
    assert_int_equal(load_bytes(dir, mo, 20, &i, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "too short"));
    assert_int_equal(load_bytes(dir, mo, len - 3, &i, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "beyond its end or is not terminated"));
    memcpy(bad, mo, len);
    put32(bad + 8, 1000000); /* the count */
    assert_int_equal(load_bytes(dir, bad, len, &i, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "tables go beyond its end"));
    memcpy(bad, mo, len);
    put32(bad + 4, 2u << 16); /* revision 2.0 */
    assert_int_equal(load_bytes(dir, bad, len, &i, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "revision"));
    const char latin1[] = "Content-Type: text/plain; charset=ISO-8859-1\n";
    struct pair p2[] = {{"", 0, latin1, sizeof(latin1) - 1}};
    len = make_mo(bad, p2, 1);
    assert_int_equal(load_bytes(dir, bad, len, &i, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not UTF-8"));
    const char beyond[] = "Plural-Forms: nplurals=2; plural=n%3;\n";
    p2[0] = (struct pair){"", 0, beyond, sizeof(beyond) - 1};
    len = make_mo(bad, p2, 1);
    assert_int_equal(load_bytes(dir, bad, len, &i, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "beyond nplurals"));

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_plural_eval(void **state)
{
    const char *ru = "(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || "
                     "n%100>=20) ? 1 : 2)";
    assert_int_equal(i18n_plural_eval(ru, 1), 0);
    assert_int_equal(i18n_plural_eval(ru, 3), 1);
    assert_int_equal(i18n_plural_eval(ru, 14), 2);
    assert_int_equal(i18n_plural_eval("(n != 1)", 1), 0);
    assert_int_equal(i18n_plural_eval("(n != 1)", 0), 1);
    assert_int_equal(i18n_plural_eval("n > 1", 1), 0);
    assert_int_equal(i18n_plural_eval("0", 7), 0);
    assert_int_equal(i18n_plural_eval("n==1 ? 0 : n==2 ? 1 : n<=10 ? 2 : 3", 2), 1);
    assert_int_equal(i18n_plural_eval("n==1 ? 0 : n==2 ? 1 : n<=10 ? 2 : 3", 7), 2);
    assert_int_equal(i18n_plural_eval("n==1 ? 0 : n==2 ? 1 : n<=10 ? 2 : 3", 70), 3);
    assert_int_equal(i18n_plural_eval("!(n - 1) + 2 * (n >= 5) - 1 + 1", 5), 2);
    assert_int_equal(i18n_plural_eval("n / 0 + n % 0", 5), 0); /* no crash */
    assert_int_equal(i18n_plural_eval("n != 1;", 2), 1);       /* as the header ends */
    assert_int_equal(i18n_plural_eval("n +", 1), -EINVAL);
    assert_int_equal(i18n_plural_eval("(n", 1), -EINVAL);
    assert_int_equal(i18n_plural_eval("n ? 1", 1), -EINVAL);
    assert_int_equal(i18n_plural_eval("x", 1), -EINVAL);
    assert_int_equal(i18n_plural_eval("", 1), -EINVAL);
    assert_int_equal(i18n_plural_eval(NULL, 1), -EINVAL);
    assert_int_equal(i18n_plural_eval("n 1", 1), -EINVAL);
    char deep[400];
    memset(deep, '(', 200);
    memcpy(deep + 200, "n", 2);
    assert_int_equal(i18n_plural_eval(deep, 1), -EINVAL);
    memset(deep, '!', 200);
    memcpy(deep + 200, "n", 2);
    assert_int_equal(i18n_plural_eval(deep, 1), -EINVAL);
}

/* The desk's texts in words of a language: dates and ages. */
static void test_desk_words(void **state)
{
    struct i18n *i = load_shipped("en");
    struct buf b;
    buf_init(&b, 256);
    desk_fmt_when(&b, NULL, "1 09 03 09:00");
    assert_string_equal(buf_str(&b), "Monday 09 Mar at 09:00");
    buf_reset(&b);
    desk_fmt_when(&b, i18n_find(i, "ru"), "7 01 12 18:30");
    assert_string_equal(buf_str(&b), "воскресенье, 1 декабря, в 18:30");
    buf_reset(&b);
    desk_fmt_when(&b, i18n_find(i, "de"), "3 15 05 08:00");
    assert_string_equal(buf_str(&b), "Mittwoch, 15. Mai um 08:00");
    buf_reset(&b);
    desk_fmt_when(&b, i18n_find(i, "es"), "6 28 02 10:15");
    assert_string_equal(buf_str(&b), "sábado 28 de febrero a las 10:15");
    buf_reset(&b);
    desk_fmt_when(&b, i18n_find(i, "ru"), "8 01 12 18:30"); /* not a weekday: as it is */
    assert_string_equal(buf_str(&b), "8 01 12 18:30");
    buf_reset(&b);
    desk_fmt_age_in(&b, i18n_find(i, "ru"), 3 * 3600 + 5 * 60);
    buf_add(&b, "|");
    desk_fmt_age_in(&b, i18n_find(i, "de"), 2 * 86400 + 4 * 3600);
    buf_add(&b, "|");
    desk_fmt_age_in(&b, i18n_find(i, "es"), 45);
    buf_add(&b, "|");
    desk_fmt_age_in(&b, NULL, 12 * 60);
    assert_string_equal(buf_str(&b), "3 ч 05 мин|2 Tg. 04 Std.|45 s|12m");
    buf_free(&b);
    i18n_free(i);
}

/* Many threads, each reading in another language: the catalogs are only read. */
static struct i18n *shared;

static void *reader(void *arg)
{
    const char *code = arg;
    const struct i18n_lang *l = i18n_find(shared, code);
    const char *want = _(l, "Thank you!");
    for (int k = 0; k < 20000; k++)
        if (strcmp(_(i18n_find(shared, code), "Thank you!"), want) != 0)
            return (void *)1;
    return NULL;
}

static void test_threads(void **state)
{
    shared = load_shipped("en");
    const char *codes[] = {"ru", "es-AR", "de", "pt", "ru-RU", "en"};
    pthread_t t[6];
    for (int k = 0; k < 6; k++)
        assert_int_equal(pthread_create(&t[k], NULL, reader, (void *)codes[k]), 0);
    for (int k = 0; k < 6; k++) {
        void *r;
        assert_int_equal(pthread_join(t[k], &r), 0);
        assert_null(r);
    }
    i18n_free(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped),     cmocka_unit_test(test_find),
        cmocka_unit_test(test_refused),     cmocka_unit_test(test_plural_catalog),
        cmocka_unit_test(test_plural_eval), cmocka_unit_test(test_desk_words),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
