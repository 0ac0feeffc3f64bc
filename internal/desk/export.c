#include "export.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "rules.h"
#include "send.h"
#include "staff.h"

/* Largest file of a transcript; a longer one is cut with a note. */
#define FILE_CAP (2 * 1024 * 1024)
#define TEXT_CAP (64 * 1024)

/* Columns of desk_export. */
enum {
    E_TIME,
    E_KIND,
    E_SENDER_TYPE,
    E_ACTOR,
    E_FIRST,
    E_LAST,
    E_USERNAME,
    E_TEXT,
    E_MEDIA,
    E_EXTRA
};

/* Appends s with &, <, >, " and ' escaped for HTML. */
static void add_html(struct buf *b, const char *s)
{
    for (const char *p = s; *p;) {
        size_t run = strcspn(p, "&<>\"'");
        buf_addn(b, p, run);
        p += run;
        if (!*p)
            break;
        switch (*p++) {
        case '&':
            buf_add(b, "&amp;");
            break;
        case '<':
            buf_add(b, "&lt;");
            break;
        case '>':
            buf_add(b, "&gt;");
            break;
        case '"':
            buf_add(b, "&quot;");
            break;
        default:
            buf_add(b, "&#39;");
            break;
        }
    }
}

/* One event of the transcript in words: who, and what (into who and what). */
static void describe(const PGresult *res, int i, struct buf *who, struct buf *what)
{
    const char *kind = PQgetvalue(res, i, E_KIND);
    int64_t actor = desk_col_i64(res, i, E_ACTOR, 0);
    if (actor)
        desk_fmt_user(who, desk_col_str(res, i, E_FIRST), desk_col_str(res, i, E_LAST),
                      desk_col_str(res, i, E_USERNAME), actor);
    else
        buf_add(who, "tgdesk");
    const char *text = PQgetvalue(res, i, E_TEXT);
    const char *media = desk_col_str(res, i, E_MEDIA);
    const char *extra = PQgetvalue(res, i, E_EXTRA);
    if (strcmp(kind, "message") == 0 || strcmp(kind, "note") == 0) {
        if (strcmp(kind, "note") == 0)
            buf_add(who, " (staff, internal note)");
        else if (strcmp(PQgetvalue(res, i, E_SENDER_TYPE), "admin") == 0)
            buf_add(who, " (staff)");
        if (media)
            buf_addf(what, "[%s]%s", media, *text ? " " : "");
        buf_add(what, text);
    } else if (strcmp(kind, "edit") == 0) {
        buf_addf(what, "edited a message (version %s): %s", extra, text);
    } else if (strcmp(kind, "status") == 0) {
        buf_addf(what, "%s", extra);
    } else { /* rating */
        buf_addf(what, "rated the help %s/5", extra);
        if (*text)
            buf_addf(what, ", commenting: %s", text);
    }
}

int desk_export(struct desk_ctx *x, const struct tg_message *m, int64_t id)
{
    char rid[24];
    const char *p[1] = {desk_i64(rid, id)};
    PGresult *head, *res;
    int rc = desk_staff_head(x, m, id, &head);
    if (rc <= 0)
        return rc < 0 ? rc : DESK_PROCESSED;
    if ((rc = desk_exec(x, "desk_export", 1, p, &res)) < 0) {
        PQclear(head);
        return rc;
    }

    struct buf title, txt, html, who, what;
    buf_init(&title, TEXT_CAP);
    buf_init(&txt, FILE_CAP);
    buf_init(&html, FILE_CAP);
    buf_init(&who, TEXT_CAP);
    buf_init(&what, TEXT_CAP);
    buf_addf(&title, "Request #%" PRId64 " · %s · ", id, PQgetvalue(head, 0, 0));
    desk_fmt_user(&title, desk_col_str(head, 0, 2), desk_col_str(head, 0, 3),
                  desk_col_str(head, 0, 4), desk_col_i64(head, 0, 1, 0));
    buf_addf(&title, " · opened %s UTC", PQgetvalue(head, 0, 5));

    buf_addf(&txt, "%s\n\n", buf_str(&title));
    buf_add(&html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    add_html(&html, buf_str(&title));
    buf_add(&html, "</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
                   "td{vertical-align:top;padding:.2em .6em}td.t{white-space:nowrap;color:#666}"
                   "td.x{white-space:pre-wrap}</style></head>\n<body>\n<h1>");
    add_html(&html, buf_str(&title));
    buf_add(&html, "</h1>\n<table>\n");
    for (int i = 0; i < PQntuples(res); i++) {
        buf_reset(&who);
        buf_reset(&what);
        describe(res, i, &who, &what);
        const char *time = PQgetvalue(res, i, E_TIME);
        buf_addf(&txt, "[%s] %s: %s\n", time, buf_str(&who), buf_str(&what));
        buf_addf(&html, "<tr class=\"%s\"><td class=\"t\">%s</td><td>", PQgetvalue(res, i, E_KIND),
                 time);
        add_html(&html, buf_str(&who));
        buf_add(&html, "</td><td class=\"x\">");
        add_html(&html, buf_str(&what));
        buf_add(&html, "</td></tr>\n");
    }
    buf_add(&html, "</table>\n</body></html>\n");
    if (buf_error(&txt) == -E2BIG)
        buf_add(&txt, "\n(transcript cut: too long)\n");
    PQclear(res);
    PQclear(head);

    char name[64], caption[96];
    rc = buf_error(&txt) == -ENOMEM || buf_error(&html) == -ENOMEM ? -ENOMEM : 0;
    if (rc == 0) {
        snprintf(name, sizeof(name), "request-%" PRId64 ".txt", id);
        snprintf(caption, sizeof(caption), "Transcript of request #%" PRId64 " (text)", id);
        rc = desk_send_document(x, m->chat.id, name, "text/plain; charset=utf-8", buf_str(&txt),
                                buf_len(&txt), caption, id);
    }
    if (rc == 0) {
        snprintf(name, sizeof(name), "request-%" PRId64 ".html", id);
        snprintf(caption, sizeof(caption), "Transcript of request #%" PRId64 " (web page)", id);
        rc = desk_send_document(x, m->chat.id, name, "text/html; charset=utf-8", buf_str(&html),
                                buf_len(&html), caption, id);
    }
    if (rc == 0) {
        json_t *ctx = json_pack("{sI sI ss}", "request_id", (json_int_t)id, "actor_id",
                                (json_int_t)m->from.id, "action", "export");
        rc = ctx ? desk_audit(x, "info", "transcript exported", ctx) : -ENOMEM;
        json_decref(ctx);
    }
    buf_free(&title);
    buf_free(&txt);
    buf_free(&html);
    buf_free(&who);
    buf_free(&what);
    return rc < 0 ? rc : DESK_PROCESSED;
}
