#include "i18n.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest catalog read (ours are a few KiB). */
#define MO_MAX (16 * 1024 * 1024)
/* Longest language name ("sr@latin", "zh_Hant"). */
#define NAME_MAX_LEN 15
/* Deepest nesting of a Plural-Forms expression. */
#define PLURAL_DEPTH 64

/* One translated text: its msgid, and its forms (NUL-separated, len bytes in all). */
struct entry {
    const char *id;
    const char *str;
    uint32_t len;
};

struct i18n_lang {
    char name[NAME_MAX_LEN + 1];
    char *data; /* the .mo file: id and str point into it */
    struct entry *e;
    size_t n;
    unsigned long nplurals;
    char *plural; /* the Plural-Forms expression; NULL: English's n != 1 */
};

struct i18n {
    struct i18n_lang *langs;
    size_t n;
    const struct i18n_lang *def;
};

/* ---- Plural-Forms ------------------------------------------------------- */

/* A parser that evaluates as it goes (every branch: there are no side effects). */
struct pe {
    const char *p;
    unsigned long n;
    int depth;
    bool bad;
};

static void pe_skip(struct pe *e)
{
    while (*e->p == ' ' || *e->p == '\t' || *e->p == '\n' || *e->p == '\r')
        e->p++;
}

/* Takes the token tok (one or two characters) when it comes next. */
static bool pe_eat(struct pe *e, const char *tok)
{
    pe_skip(e);
    if (e->p[0] != tok[0] || (tok[1] && e->p[1] != tok[1]))
        return false;
    e->p += tok[1] ? 2 : 1;
    return true;
}

static unsigned long pe_ternary(struct pe *e);

static unsigned long pe_primary(struct pe *e)
{
    pe_skip(e);
    if (pe_eat(e, "(")) {
        unsigned long v = pe_ternary(e);
        if (!pe_eat(e, ")"))
            e->bad = true;
        return v;
    }
    if (*e->p == 'n') {
        e->p++;
        return e->n;
    }
    if (*e->p >= '0' && *e->p <= '9') {
        unsigned long v = 0;
        while (*e->p >= '0' && *e->p <= '9' && v < 1000000000UL)
            v = v * 10 + (unsigned long)(*e->p++ - '0');
        return v;
    }
    e->bad = true;
    return 0;
}

static unsigned long pe_unary(struct pe *e)
{
    pe_skip(e);
    if (e->p[0] == '!' && e->p[1] != '=') {
        e->p++;
        if (++e->depth > PLURAL_DEPTH) {
            e->bad = true;
            return 0;
        }
        unsigned long v = !pe_unary(e);
        e->depth--;
        return v;
    }
    return pe_primary(e);
}

static unsigned long pe_mul(struct pe *e)
{
    unsigned long v = pe_unary(e);
    for (;;) {
        if (pe_eat(e, "*")) {
            v *= pe_unary(e);
        } else if (pe_eat(e, "/")) {
            unsigned long r = pe_unary(e);
            v = r ? v / r : 0;
        } else if (pe_eat(e, "%")) {
            unsigned long r = pe_unary(e);
            v = r ? v % r : 0;
        } else {
            return v;
        }
    }
}

static unsigned long pe_add(struct pe *e)
{
    unsigned long v = pe_mul(e);
    for (;;) {
        if (pe_eat(e, "+"))
            v += pe_mul(e);
        else if (pe_eat(e, "-"))
            v -= pe_mul(e);
        else
            return v;
    }
}

static unsigned long pe_rel(struct pe *e)
{
    unsigned long v = pe_add(e);
    for (;;) {
        if (pe_eat(e, "<="))
            v = v <= pe_add(e);
        else if (pe_eat(e, ">="))
            v = v >= pe_add(e);
        else if (pe_eat(e, "<"))
            v = v < pe_add(e);
        else if (pe_eat(e, ">"))
            v = v > pe_add(e);
        else
            return v;
    }
}

static unsigned long pe_eq(struct pe *e)
{
    unsigned long v = pe_rel(e);
    for (;;) {
        if (pe_eat(e, "=="))
            v = v == pe_rel(e);
        else if (pe_eat(e, "!="))
            v = v != pe_rel(e);
        else
            return v;
    }
}

static unsigned long pe_and(struct pe *e)
{
    unsigned long v = pe_eq(e);
    while (pe_eat(e, "&&")) {
        unsigned long r = pe_eq(e);
        v = v && r;
    }
    return v;
}

static unsigned long pe_or(struct pe *e)
{
    unsigned long v = pe_and(e);
    while (pe_eat(e, "||")) {
        unsigned long r = pe_and(e);
        v = v || r;
    }
    return v;
}

static unsigned long pe_ternary(struct pe *e)
{
    if (++e->depth > PLURAL_DEPTH) {
        e->bad = true;
        return 0;
    }
    unsigned long v = pe_or(e);
    if (pe_eat(e, "?")) {
        unsigned long a = pe_ternary(e);
        if (!pe_eat(e, ":"))
            e->bad = true;
        unsigned long b = pe_ternary(e);
        v = v ? a : b;
    }
    e->depth--;
    return v;
}

long i18n_plural_eval(const char *expr, unsigned long n)
{
    struct pe e = {.p = expr ? expr : "", .n = n};
    unsigned long v = pe_ternary(&e);
    pe_skip(&e);
    if (e.bad || (*e.p && *e.p != ';') || v > 1000)
        return -EINVAL;
    return (long)v;
}

/* ---- reading a .mo file ------------------------------------------------- */

/* A 32-bit word of the file at off, in the file's byte order. */
static uint32_t word(const unsigned char *d, size_t off, bool big)
{
    const unsigned char *p = d + off;
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The value of "Name: value" in a catalog's header, up to the end of its line (not copied). */
static const char *header_field(const char *header, const char *name, size_t *ret_len)
{
    size_t k = strlen(name);
    for (const char *line = header; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > k && strncasecmp(line, name, k) == 0 && line[k] == ':') {
            const char *v = line + k + 1;
            while (*v == ' ')
                v++;
            *ret_len = (size_t)(line + len - v);
            return v;
        }
        line += len + (end ? 1 : 0);
    }
    return NULL;
}

/* Reads the Plural-Forms and the charset of the header into l. Returns 0 or a reason. */
static const char *read_header(struct i18n_lang *l, const char *header)
{
    size_t len;
    const char *ct = header_field(header, "Content-Type", &len);
    if (ct) {
        const char *cs = strstr(ct, "charset=");
        if (cs && cs < ct + len && strncasecmp(cs + 8, "UTF-8", 5) != 0)
            return "its charset is not UTF-8";
    }
    const char *pf = header_field(header, "Plural-Forms", &len);
    if (!pf)
        return NULL;
    char *copy = strndup(pf, len);
    if (!copy)
        return "out of memory";
    const char *np = strstr(copy, "nplurals=");
    const char *ex = strstr(copy, "; plural=");
    if (!ex)
        ex = strstr(copy, ";plural=");
    if (!np || !ex) {
        free(copy);
        return "its Plural-Forms lacks nplurals= or plural=";
    }
    l->nplurals = strtoul(np + 9, NULL, 10);
    ex = strstr(ex, "plural=") + 7;
    memmove(copy, ex, strlen(ex) + 1);
    l->plural = copy;
    if (l->nplurals < 1 || l->nplurals > 6)
        return "its nplurals is not 1..6";
    /* Every evaluation parses the whole expression, so one finds a syntax
     * error; a few counts catch a form beyond nplurals (msgfmt --check, run
     * by the catalogs test, tries more). */
    for (unsigned long n = 0; n < 130; n += n < 30 ? 1 : 11) {
        long k = i18n_plural_eval(l->plural, n);
        if (k < 0 || (unsigned long)k >= l->nplurals)
            return "its plural= expression is malformed or picks a form beyond nplurals";
    }
    return NULL;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->id, ((const struct entry *)b)->id);
}

/* Makes l's table from the size bytes of the .mo file in l->data. Returns NULL or a reason. */
static const char *parse_mo(struct i18n_lang *l, size_t size)
{
    const unsigned char *d = (const unsigned char *)l->data;
    if (size < 28)
        return "it is too short for a .mo file";
    bool big;
    if (d[0] == 0xde && d[1] == 0x12 && d[2] == 0x04 && d[3] == 0x95)
        big = false;
    else if (d[0] == 0x95 && d[1] == 0x04 && d[2] == 0x12 && d[3] == 0xde)
        big = true;
    else
        return "it is not a GNU .mo file (bad magic number)";
    if (word(d, 4, big) >> 16 > 1)
        return "its format revision is unknown";
    uint64_t n = word(d, 8, big), orig = word(d, 12, big), trans = word(d, 16, big);
    if (orig + n * 8 > size || trans + n * 8 > size)
        return "its string tables go beyond its end";
    l->e = calloc(n ? n : 1, sizeof(*l->e));
    if (!l->e)
        return "out of memory";
    const char *header = NULL;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t olen = word(d, orig + i * 8, big), ooff = word(d, orig + i * 8 + 4, big);
        uint64_t tlen = word(d, trans + i * 8, big), toff = word(d, trans + i * 8 + 4, big);
        if (ooff + olen >= size || toff + tlen >= size || d[ooff + olen] || d[toff + tlen])
            return "a string goes beyond its end or is not terminated";
        if (olen == 0) {
            header = l->data + toff;
            continue;
        }
        if (tlen == 0)
            continue; /* not translated: English */
        l->e[l->n++] = (struct entry){l->data + ooff, l->data + toff, (uint32_t)tlen};
    }
    qsort(l->e, l->n, sizeof(*l->e), cmp_entry);
    return header ? read_header(l, header) : NULL;
}

/* Reads the whole file at path into *ret (NUL-terminated). Returns 0, or -errno. */
static int read_file(const char *path, char **ret, size_t *ret_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int bad = fstat(fd, &st) < 0     ? errno
              : !S_ISREG(st.st_mode) ? EINVAL
              : st.st_size > MO_MAX  ? EFBIG
                                     : 0;
    if (bad) {
        close(fd);
        return -bad;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *data = malloc(size + 1);
    if (!data) {
        close(fd);
        return -ENOMEM;
    }
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(data);
            close(fd);
            return -e;
        }
        got += (size_t)r;
    }
    close(fd);
    data[size] = '\0';
    *ret = data;
    *ret_size = size;
    return 0;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '@'))
            return false;
    return true;
}

/* Loads language name's catalog from dir into l ("en" may have none). */
static int load_lang(struct i18n_lang *l, const char *dir, const char *name, char *err, size_t cap)
{
    snprintf(l->name, sizeof(l->name), "%s", name);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/LC_MESSAGES/%s.mo", dir, name, I18N_DOMAIN);
    size_t size = 0;
    int rc = read_file(path, &l->data, &size);
    if (rc == -ENOENT && strcmp(name, "en") == 0)
        return 0; /* the source's own language */
    if (rc < 0) {
        snprintf(err, cap, "catalog %s: %s", path, strerror(-rc));
        return rc == -ENOMEM ? rc : -ENOENT;
    }
    const char *why = parse_mo(l, size);
    if (why) {
        snprintf(err, cap, "catalog %s: %s", path, why);
        return strcmp(why, "out of memory") == 0 ? -ENOMEM : -EINVAL;
    }
    return 0;
}

/* True when language tags a and b are the same (case and '-'/'_' aside), in their first n bytes. */
static bool same_tag(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
        if (!x)
            return true;
    }
    return true;
}

/* The catalog for code, or NULL when neither it nor its base language has one. */
static const struct i18n_lang *lookup(const struct i18n *i, const char *code)
{
    /* Names start with a lower-case letter: most catalogs differ there. */
    char c0 = code[0] >= 'A' && code[0] <= 'Z' ? (char)(code[0] - 'A' + 'a') : code[0];
    const struct i18n_lang *base = NULL;
    size_t n = strcspn(code, "-_");
    for (size_t k = 0; k < i->n; k++) {
        const struct i18n_lang *l = &i->langs[k];
        if (l->name[0] != c0)
            continue;
        if (strcmp(l->name, code) == 0 || same_tag(l->name, code, NAME_MAX_LEN + 1))
            return l;
        if (!base && n < sizeof(l->name) && l->name[n] == '\0' && same_tag(l->name, code, n))
            base = l;
    }
    return base;
}

int i18n_load(const char *dir, const char *const *langs, size_t n, const char *default_lang,
              struct i18n **ret, char *err, size_t cap)
{
    struct i18n *i = calloc(1, sizeof(*i));
    if (!i || !(i->langs = calloc(n + 1, sizeof(*i->langs)))) {
        free(i);
        snprintf(err, cap, "out of memory");
        return -ENOMEM;
    }
    int rc = 0;
    bool have_en = false;
    for (size_t k = 0; k <= n && rc == 0; k++) {
        const char *name = k < n ? langs[k] : "en"; /* English always */
        if (k == n && have_en)
            break;
        if (!valid_name(name)) {
            snprintf(err, cap, "bad language name \"%s\"", name);
            rc = -EINVAL;
            break;
        }
        have_en = have_en || strcmp(name, "en") == 0;
        rc = load_lang(&i->langs[i->n], dir, name, err, cap);
        i->n++; /* freed below on failure */
    }
    if (rc == 0 && !(i->def = default_lang ? lookup(i, default_lang) : NULL)) {
        snprintf(err, cap,
                 "no catalog for language \"%s\" (have:", default_lang ? default_lang : "");
        for (size_t k = 0; k < i->n; k++) {
            size_t used = strlen(err);
            snprintf(err + used, cap - used, " %s", i->langs[k].name);
        }
        size_t used = strlen(err);
        snprintf(err + used, cap - used, ")");
        rc = -ENOENT;
    }
    if (rc < 0) {
        i18n_free(i);
        return rc;
    }
    *ret = i;
    return 0;
}

void i18n_free(struct i18n *i)
{
    if (!i)
        return;
    for (size_t k = 0; k < i->n; k++) {
        free(i->langs[k].data);
        free(i->langs[k].e);
        free(i->langs[k].plural);
    }
    free(i->langs);
    free(i);
}

const struct i18n_lang *i18n_find(const struct i18n *i, const char *code)
{
    if (!i)
        return NULL;
    if (!code || !*code)
        return i->def;
    const struct i18n_lang *l = lookup(i, code);
    return l ? l : i->def;
}

const char *i18n_name(const struct i18n_lang *l)
{
    return l ? l->name : "en";
}

/* The entry of msgid in l, or NULL. */
static const struct entry *find(const struct i18n_lang *l, const char *msgid)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(msgid, l->e[mid].id);
        if (c == 0)
            return &l->e[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *i18n_text(const struct i18n_lang *l, const char *msgid)
{
    if (!l || l->n == 0)
        return msgid;
    const struct entry *e = find(l, msgid);
    return e ? e->str : msgid;
}

const char *i18n_plural(const struct i18n_lang *l, const char *one, const char *many,
                        unsigned long n)
{
    const struct entry *e = l && l->n ? find(l, one) : NULL;
    if (!e)
        return n == 1 ? one : many;
    long k = l->plural ? i18n_plural_eval(l->plural, n) : n != 1;
    /* the k-th of the NUL-separated forms, if the catalog has that many */
    const char *s = e->str, *end = e->str + e->len;
    for (; k > 0 && s < end; k--)
        s += strlen(s) + 1;
    return k == 0 && s < end ? s : n == 1 ? one : many;
}
