/*
 * i18n.h - message catalogs: the texts users read, in their language.
 *
 * The texts are marked in the source with _(lang, "...") (and N_("...") for
 * a text kept in a table, P_(lang, "one", "many", n) for a count), extracted
 * by xgettext into po/tgdesk.pot, translated in po/LANG.po and compiled by
 * msgfmt into GNU .mo files (po/meson.build). This module reads those .mo
 * files itself, once, at start, and looks texts up in memory: no
 * setlocale(), no LANGUAGE, no system locale needed - the Docker image and
 * CI machines have only C.UTF-8, and every worker thread may need another
 * language for each update (docs/i18n.md says why).
 *
 * English is the language of the source: it needs no catalog (an en.mo, if
 * there is one, is used like any other). A text missing from a catalog is
 * given in English.
 *
 * Thread-safety: i18n_load() and i18n_free() only while no other thread
 * uses the catalogs; everything else only reads and may run on any number
 * of threads at once.
 */
#ifndef TGDESK_UTIL_I18N_H
#define TGDESK_UTIL_I18N_H

#include <stddef.h>

/* The text domain: the catalogs are DIR/LANG/LC_MESSAGES/tgdesk.mo. */
#define I18N_DOMAIN "tgdesk"

/* Every catalog, loaded once. */
struct i18n;
/* One language's catalog (English: none, texts stay as written). */
struct i18n_lang;

/*
 * Loads the catalog of each of the n languages langs[] from dir ("en"
 * needs none) and picks default_lang for users whose language has no
 * catalog. Returns 0 and *ret (free with i18n_free()), -ENOENT when a
 * catalog is missing or default_lang is not one of langs[], -EINVAL when
 * a catalog is not a valid .mo file, -ENOMEM. On failure err (cap bytes)
 * says which file or language and why; *ret untouched.
 */
int i18n_load(const char *dir, const char *const *langs, size_t n, const char *default_lang,
              struct i18n **ret, char *err, size_t cap);

/* Releases the catalogs. Accepts NULL. */
void i18n_free(struct i18n *i);

/*
 * The catalog for a Telegram language_code ("ru", "ru-RU", "pt-br", any
 * case; '-' and '_' alike): the language itself, else its base language
 * ("ru" for "ru-RU"), else the default. NULL when i is NULL (English).
 */
const struct i18n_lang *i18n_find(const struct i18n *i, const char *code);

/* The name of a catalog's language ("ru"); "en" for NULL. */
const char *i18n_name(const struct i18n_lang *l);

/*
 * The translation of msgid in l, or msgid itself when l is NULL or has
 * none. The result lives as long as the catalogs (or msgid). A binary
 * search over the catalog's sorted texts.
 */
const char *i18n_text(const struct i18n_lang *l, const char *msgid) __attribute__((format_arg(2)));

/*
 * The form of a text for the count n: one or many in English, the form the
 * catalog's Plural-Forms expression picks for n otherwise.
 */
const char *i18n_plural(const struct i18n_lang *l, const char *one, const char *many,
                        unsigned long n) __attribute__((format_arg(2)))
__attribute__((format_arg(3)));

/*
 * Evaluates a Plural-Forms expression ("n%10==1 && n%100!=11 ? 0 : ...",
 * C syntax) for n. Returns the form's index, or -EINVAL for a malformed
 * expression (a division by zero counts as 0). Pure; exported for tests.
 */
long i18n_plural_eval(const char *expr, unsigned long n);

/* The marks xgettext looks for (po/meson.build gives it the keywords). */
#define _(lang, msgid)         i18n_text((lang), (msgid))
#define N_(msgid)              (msgid)
#define P_(lang, one, many, n) i18n_plural((lang), (one), (many), (n))

#endif
