#include "canned.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "db/array.h"
#include "rules.h"
#include "send.h"

/* Longest /canned answer built here (then split into messages). */
#define TEXT_CAP (64 * 1024)
/* The array of names one expansion looks up (a text is at most 4096 characters). */
#define NAMES_CAP (64 * 1024)
/* /canned: the start of each answer shown. */
#define PREVIEW_CHARS 60

const struct pool_stmt desk_canned_statements[] = {
    {"desk_canned_list", "SELECT name, body FROM canned_answers ORDER BY name", 0},
    /* the answers of the names $1 (duplicates and unknown names allowed) */
    {"desk_canned_get", "SELECT name, body FROM canned_answers WHERE name = ANY ($1::text[])", 1},
    /* saves $2 as $1 for staff member $3; returns whether it is new */
    {"desk_canned_save",
     "INSERT INTO canned_answers AS c (name, body, created_by, updated_by) VALUES ($1, $2, $3, $3)"
     " ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body, updated_by = EXCLUDED.updated_by,"
     " updated_at = now() RETURNING c.created_at = c.updated_at",
     3},
    {"desk_canned_delete", "DELETE FROM canned_answers WHERE name = $1 RETURNING name", 1},
};
const size_t desk_canned_statements_count =
    sizeof(desk_canned_statements) / sizeof(desk_canned_statements[0]);

/* ---- pure: parsing ------------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_name_char(char c)
{
    return is_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Copies the n bytes of name s lower-cased into out; false when n is out of range. */
static bool name_copy(const char *s, size_t n, char out[DESK_CANNED_NAME_MAX + 1])
{
    if (n == 0 || n > DESK_CANNED_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = lower(s[i]);
    out[n] = '\0';
    return true;
}

/* Reads one word of args at *p (after spaces) into [*ret, *ret + *ret_n). */
static void next_word(const char **p, const char **ret, size_t *ret_n)
{
    const char *s = *p;
    while (is_space(*s))
        s++;
    size_t n = 0;
    while (s[n] && !is_space(s[n]))
        n++;
    *ret = s;
    *ret_n = n;
    *p = s + n;
}

static bool word_is(const char *w, size_t n, const char *s)
{
    return n == strlen(s) && strncmp(w, s, n) == 0;
}

static bool reserved(const char *name)
{
    return strcmp(name, "add") == 0 || strcmp(name, "del") == 0 || strcmp(name, "delete") == 0 ||
           strcmp(name, "list") == 0;
}

/* A valid name of n bytes at s: a letter, then letters, digits, '_', '-'. */
static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > DESK_CANNED_NAME_MAX || !is_letter(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_name_char(s[i]))
            return false;
    return true;
}

int desk_canned_parse(const char *args, struct desk_canned_args *ret)
{
    struct desk_canned_args a = {.op = DESK_CANNED_LIST};
    const char *p = args ? args : "";
    const char *w;
    size_t n;
    next_word(&p, &w, &n);
    if (n == 0 || word_is(w, n, "list")) {
        next_word(&p, &w, &n);
        if (n != 0)
            return -EINVAL;
        *ret = a;
        return 0;
    }
    if (word_is(w, n, "add") || word_is(w, n, "del") || word_is(w, n, "delete")) {
        a.op = w[0] == 'a' ? DESK_CANNED_ADD : DESK_CANNED_DEL;
        next_word(&p, &w, &n);
    } else {
        a.op = DESK_CANNED_SHOW;
    }
    if (!valid_name(w, n) || !name_copy(w, n, a.name) || reserved(a.name))
        return -EINVAL;
    /* ADD: whitespace, then the text; the others: nothing more */
    const char *rest = desk_text_after_blanks(p);
    if (a.op == DESK_CANNED_ADD ? !is_space(*p) || !rest : rest != NULL)
        return -EINVAL;
    a.text = a.op == DESK_CANNED_ADD ? rest : NULL;
    *ret = a;
    return 0;
}

bool desk_canned_next(const char *text, size_t *pos, size_t *ret_start, size_t *ret_name,
                      size_t *ret_len, bool *ret_escaped)
{
    size_t i = *pos;
    for (; text[i]; i++) {
        if (text[i] != '!' || (i > 0 && !is_space(text[i - 1])))
            continue;
        bool escaped = text[i + 1] == '!';
        size_t name = i + (escaped ? 2 : 1);
        if (!is_letter(text[name]))
            continue;
        size_t end = name;
        while (is_name_char(text[end]))
            end++;
        *ret_start = i;
        *ret_name = name;
        *ret_len = end - name;
        *ret_escaped = escaped;
        *pos = end;
        return true;
    }
    *pos = i;
    return false;
}

/* ---- expansion ---------------------------------------------------------- */

/* The answer of name (lower case) among the rows of res, or NULL. */
static const char *find_answer(const PGresult *res, const char *name)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), name) == 0)
            return PQgetvalue(res, i, 1);
    return NULL;
}

/* Looks up every name text refers to (not the escaped ones) into *ret; 0 or < 0. */
static int lookup(struct desk_ctx *x, const char *text, PGresult **ret)
{
    struct buf names;
    buf_init(&names, NAMES_CAP);
    db_array_open(&names);
    size_t pos = 0, start, name, len;
    bool escaped;
    while (desk_canned_next(text, &pos, &start, &name, &len, &escaped)) {
        char n[DESK_CANNED_NAME_MAX + 1];
        if (!escaped && name_copy(text + name, len, n))
            db_array_text(&names, n);
    }
    const char *arr = db_array_close(&names);
    int rc = -ENOMEM;
    if (arr) {
        const char *p[1] = {arr};
        rc = desk_exec(x, "desk_canned_get", 1, p, ret);
    }
    buf_free(&names);
    return rc;
}

int desk_canned_expand(struct desk_ctx *x, const char *text, struct buf *ret, struct buf *fb)
{
    if (!strchr(text, '!')) {
        buf_add(ret, text);
        return buf_error(ret);
    }
    size_t pos = 0, start, name, len;
    bool escaped, any = false, refs = false;
    while (desk_canned_next(text, &pos, &start, &name, &len, &escaped)) {
        any = true;
        refs = refs || !escaped;
    }
    if (!any) {
        buf_add(ret, text);
        return buf_error(ret);
    }
    PGresult *res = NULL;
    int rc;
    if (refs && (rc = lookup(x, text, &res)) < 0)
        return rc;

    size_t done = 0, unknown = 0, fb_start = buf_len(fb);
    pos = 0;
    while (desk_canned_next(text, &pos, &start, &name, &len, &escaped)) {
        buf_addn(ret, text + done, start - done);
        done = pos;
        if (escaped) {
            buf_addn(ret, text + start + 1, pos - start - 1);
            continue;
        }
        char n[DESK_CANNED_NAME_MAX + 1];
        const char *answer = name_copy(text + name, len, n) ? find_answer(res, n) : NULL;
        if (answer) {
            buf_add(ret, answer);
            continue;
        }
        /* each unknown name once, as written (cut at the longest name) */
        char word[DESK_CANNED_NAME_MAX + 3] = " !";
        size_t shown = len > DESK_CANNED_NAME_MAX ? DESK_CANNED_NAME_MAX : len;
        memcpy(word + 2, text + name, shown);
        word[2 + shown] = '\0';
        if (!strstr(buf_str(fb) + fb_start, word)) {
            buf_add(fb, unknown ? "," : "");
            buf_add(fb, word);
            unknown++;
        }
    }
    PQclear(res);
    if (unknown) {
        /* "Nothing was sent: there is no canned answer !refnd, !x. ..." */
        struct buf names;
        buf_init(&names, TEXT_CAP);
        buf_add(&names, buf_str(fb) + fb_start);
        buf_truncate(fb, fb_start);
        buf_addf(fb,
                 "Nothing was sent: there %s%s. /canned lists them; write !!name for the word "
                 "itself.",
                 unknown > 1 ? "are no canned answers" : "is no canned answer", buf_str(&names));
        buf_free(&names);
        buf_reset(ret);
        return buf_error(fb) == -ENOMEM ? -ENOMEM : -ENOENT;
    }
    buf_add(ret, text + done);
    rc = buf_error(ret);
    return rc < 0 ? rc : 1;
}

/* ---- /canned ------------------------------------------------------------ */

/* The audit row of a change: who, what, which name. */
static int audit(struct desk_ctx *x, const struct tg_message *m, const char *message,
                 const char *action, const char *name)
{
    json_t *ctx = json_pack("{sI ss ss sI}", "actor_id", (json_int_t)m->from.id, "action", action,
                            "name", name, "chat_id", (json_int_t)m->chat.id);
    int rc = ctx ? desk_audit(x, "info", message, ctx) : -ENOMEM;
    json_decref(ctx);
    return rc;
}

static int list(struct desk_ctx *x, struct buf *b)
{
    PGresult *res;
    int rc = desk_exec(x, "desk_canned_list", 0, NULL, &res);
    if (rc < 0)
        return rc;
    int rows = PQntuples(res);
    if (rows == 0)
        buf_add(b, "No canned answers yet. A supervisor saves one with /canned add NAME text.");
    else
        buf_add(b, "Canned answers - write !name in an answer to use one:");
    for (int i = 0; i < rows; i++) {
        buf_addf(b, "\n!%s - ", PQgetvalue(res, i, 0));
        desk_fmt_preview(b, PQgetvalue(res, i, 1), PREVIEW_CHARS);
    }
    PQclear(res);
    return 0;
}

static int show(struct desk_ctx *x, const char *name, struct buf *b)
{
    struct buf arr;
    buf_init(&arr, 256);
    db_array_open(&arr);
    db_array_text(&arr, name);
    const char *p[1] = {db_array_close(&arr)};
    PGresult *res;
    int rc = p[0] ? desk_exec(x, "desk_canned_get", 1, p, &res) : -ENOMEM;
    buf_free(&arr);
    if (rc < 0)
        return rc;
    if (PQntuples(res) == 1)
        buf_addf(b, "!%s:\n%s", name, PQgetvalue(res, 0, 1));
    else
        buf_addf(b, "There is no canned answer !%s. /canned lists them.", name);
    PQclear(res);
    return 0;
}

static int save(struct desk_ctx *x, const struct tg_message *m, const struct desk_canned_args *a,
                struct buf *b)
{
    char actor[24];
    const char *p[3] = {a->name, a->text, desk_i64(actor, m->from.id)};
    PGresult *res;
    int rc = desk_exec(x, "desk_canned_save", 3, p, &res);
    if (rc < 0)
        return rc;
    bool added = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if ((rc = audit(x, m, "canned answer saved", "canned add", a->name)) < 0)
        return rc;
    buf_addf(b, "Canned answer !%s %s; write !%s in an answer to send it.", a->name,
             added ? "saved" : "replaced", a->name);
    return 0;
}

static int delete (struct desk_ctx *x, const struct tg_message *m, const char *name, struct buf *b)
{
    const char *p[1] = {name};
    PGresult *res;
    int rc = desk_exec(x, "desk_canned_delete", 1, p, &res);
    if (rc < 0)
        return rc;
    bool gone = PQntuples(res) == 1;
    PQclear(res);
    if (!gone) {
        buf_addf(b, "There is no canned answer !%s.", name);
        return 0;
    }
    if ((rc = audit(x, m, "canned answer deleted", "canned del", name)) < 0)
        return rc;
    buf_addf(b, "Canned answer !%s deleted.", name);
    return 0;
}

int desk_canned_command(struct desk_ctx *x, const struct tg_message *m,
                        const struct desk_canned_args *a)
{
    struct buf b;
    buf_init(&b, TEXT_CAP);
    int rc;
    switch (a->op) {
    case DESK_CANNED_ADD:
        rc = save(x, m, a, &b);
        break;
    case DESK_CANNED_DEL:
        rc = delete (x, m, a->name, &b);
        break;
    case DESK_CANNED_SHOW:
        rc = show(x, a->name, &b);
        break;
    default:
        rc = list(x, &b);
        break;
    }
    if (rc < 0) {
        buf_free(&b);
        return rc;
    }
    rc = desk_send_buf(x, m->chat.id, &b, "reply", 0);
    return rc < 0 ? rc : DESK_PROCESSED;
}
