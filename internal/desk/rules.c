#include "rules.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strnum.h"

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* ---- splitting ---------------------------------------------------------- */

size_t desk_text_codepoints(const char *text, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_cont((unsigned char)text[i]))
            count++;
    return count;
}

bool desk_text_blank(const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
            return false;
    return true;
}

const char *desk_text_after_blanks(const char *text)
{
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    return *text ? text : NULL;
}

size_t desk_text_part_len(const char *text, size_t max)
{
    size_t count = 0, after_nl = 0, after_sp = 0, i;
    for (i = 0; text[i]; i++) {
        if (is_cont((unsigned char)text[i]))
            continue;
        if (count == max)
            break; /* text[i] starts the first code point that does not fit */
        count++;
        if (text[i] == '\n')
            after_nl = i + 1;
        else if (text[i] == ' ')
            after_sp = i + 1;
    }
    if (!text[i])
        return i;
    if (after_nl > 0)
        return after_nl;
    if (after_sp > 0)
        return after_sp;
    return i;
}

/* ---- statuses and commands --------------------------------------------- */

/* TRANSLATORS: the status of a request, as /status shows it to users. */
static const char *const status_names[] = {N_("open"), N_("assigned"), N_("solved"), N_("closed")};

int desk_status_parse(const char *s, enum desk_status *ret)
{
    for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
        if (s && strcmp(s, status_names[i]) == 0) {
            *ret = (enum desk_status)i;
            return 0;
        }
    return -EINVAL;
}

const char *desk_status_name(enum desk_status s)
{
    return (size_t)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s] : "?";
}

static const struct {
    enum desk_cmd cmd;
    const char *name;
    const char *usage;
} commands[] = {
    {DESK_CMD_START, "start", "/start - how this desk works"},
    {DESK_CMD_HELP, "help", "/help - how this desk works"},
    {DESK_CMD_STATUS, "status", "/status - your recent requests"},
    {DESK_CMD_CANCEL, "cancel", "/cancel - close your open request"},
    {DESK_CMD_FORGET, "forget",
     "/forget USER_ID - erase the personal data of a user (supervisors; asks first)"},
    {DESK_CMD_LIST, "list", "/list - open and assigned requests, oldest first"},
    {DESK_CMD_TAKE, "take", "/take N - assign request N to yourself"},
    {DESK_CMD_REPLY, "reply",
     "/reply N text - send text to the user of request N (or just reply to a notification)"},
    {DESK_CMD_SOLVE, "solve", "/solve N solution - mark request N solved and send the solution"},
    {DESK_CMD_CLOSE, "close", "/close N - close request N"},
    {DESK_CMD_REOPEN, "reopen", "/reopen N - reopen a solved or closed request"},
    {DESK_CMD_HISTORY, "history", "/history N - the whole conversation of request N"},
    {DESK_CMD_BAN, "ban",
     "/ban N - stop forwarding the messages of the user of request N (they are still stored)"},
    {DESK_CMD_UNBAN, "unban", "/unban N - forward that user's messages again"},
    {DESK_CMD_STATS, "stats", "/stats - requests by status, median response and resolution times"},
    {DESK_CMD_EXPORT, "export",
     "/export N - the whole conversation of request N as a text file and a web page "
     "(supervisors)"},
    {DESK_CMD_NOTE, "note",
     "/note N text - an internal note on request N for staff: stored, never sent to the user"},
    {DESK_CMD_CANNED, "canned",
     "/canned - list canned answers; /canned NAME - show one; /canned add NAME text - save one; "
     "/canned del NAME - delete one (add and del: supervisors). Write !NAME in an answer to "
     "send it"},
    {DESK_CMD_SEARCH, "search",
     "/search words - requests whose text, messages or solution hold all the words, best "
     "first"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

enum desk_cmd desk_cmd_lookup(const char *name)
{
    if (!name || !*name)
        return DESK_CMD_NONE;
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].cmd;
    return DESK_CMD_UNKNOWN;
}

const char *desk_cmd_name(enum desk_cmd c)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].cmd == c)
            return commands[i].name;
    return "";
}

const char *desk_cmd_usage(enum desk_cmd c)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].cmd == c)
            return commands[i].usage;
    return "";
}

bool desk_cmd_is_staff(enum desk_cmd c)
{
    return (c >= DESK_CMD_LIST && c <= DESK_CMD_SEARCH) || c == DESK_CMD_NOTE;
}

bool desk_cmd_is_supervisor(enum desk_cmd c)
{
    return c == DESK_CMD_BAN || c == DESK_CMD_UNBAN || c == DESK_CMD_EXPORT || c == DESK_CMD_FORGET;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses "12" or "#12" at *p up to whitespace or the end; advances *p. */
static int parse_number(const char **p, int64_t *ret)
{
    const char *s = *p;
    if (*s == '#')
        s++;
    size_t n = 0;
    while (s[n] && !is_space(s[n]))
        n++;
    char digits[24];
    if (n == 0 || n >= sizeof(digits))
        return -EINVAL;
    memcpy(digits, s, n);
    digits[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (digits[i] < '0' || digits[i] > '9')
            return -EINVAL;
    if (strnum_i64(digits, 1, INT64_MAX, ret) < 0)
        return -EINVAL;
    *p = s + n;
    return 0;
}

int desk_cmd_parse_args(enum desk_cmd c, const char *args, struct desk_args *ret)
{
    struct desk_args a = {0};
    const char *p = args ? args : "";
    switch (c) {
    case DESK_CMD_TAKE:
    case DESK_CMD_CLOSE:
    case DESK_CMD_REOPEN:
    case DESK_CMD_HISTORY:
    case DESK_CMD_BAN:
    case DESK_CMD_UNBAN:
    case DESK_CMD_EXPORT:
    case DESK_CMD_FORGET: {
        /* one number: a request ("#12" too), or for /forget an optional user id */
        bool user = c == DESK_CMD_FORGET;
        while (is_space(*p))
            p++;
        if (user ? *p == '#' || (*p && parse_number(&p, &a.user_id) < 0)
                 : parse_number(&p, &a.request_id) < 0)
            return -EINVAL;
        while (is_space(*p))
            p++;
        if (*p)
            return -EINVAL;
        break;
    }
    case DESK_CMD_REPLY:
    case DESK_CMD_SOLVE:
    case DESK_CMD_NOTE:
    case DESK_CMD_SEARCH: /* no number */
        while (is_space(*p))
            p++;
        if (c != DESK_CMD_SEARCH && (parse_number(&p, &a.request_id) < 0 || !is_space(*p)))
            return -EINVAL;
        if (!(a.text = desk_text_after_blanks(p)))
            return -EINVAL;
        break;
    default:
        break;
    }
    *ret = a;
    return 0;
}

int desk_callback_parse(const char *data, enum desk_cmd *ret_cmd, int64_t *ret_id)
{
    if (!data)
        return -EINVAL;
    enum desk_cmd cmd;
    const char *p;
    if (strncmp(data, "take:", 5) == 0) {
        cmd = DESK_CMD_TAKE;
        p = data + 5;
    } else if (strncmp(data, "close:", 6) == 0) {
        cmd = DESK_CMD_CLOSE;
        p = data + 6;
    } else {
        return -EINVAL;
    }
    int64_t id;
    if (!*p || *p == '#' || parse_number(&p, &id) < 0 || *p)
        return -EINVAL;
    *ret_cmd = cmd;
    *ret_id = id;
    return 0;
}

void desk_callback_data(enum desk_cmd cmd, int64_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%" PRId64, desk_cmd_name(cmd), id);
}

bool desk_forget_is(const char *data)
{
    return data && strncmp(data, "forget:", 7) == 0;
}

int desk_forget_parse(const char *data, int64_t *ret_user)
{
    if (!desk_forget_is(data))
        return -EINVAL;
    const char *p = data + 7;
    int64_t id;
    if (!*p || *p == '#' || parse_number(&p, &id) < 0 || *p)
        return -EINVAL;
    *ret_user = id;
    return 0;
}

bool desk_rate_is(const char *data)
{
    return data && strncmp(data, "rate:", 5) == 0;
}

int desk_rate_parse(const char *data, int64_t *ret_id, int *ret_score)
{
    if (!desk_rate_is(data))
        return -EINVAL;
    const char *p = data + 5;
    const char *colon = strchr(p, ':');
    if (!colon || colon == p || *p == '#' || colon - p >= 24)
        return -EINVAL;
    char num[24];
    memcpy(num, p, (size_t)(colon - p));
    num[colon - p] = '\0';
    const char *q = num;
    int64_t id;
    if (parse_number(&q, &id) < 0 || *q)
        return -EINVAL;
    if (colon[1] < '1' || colon[1] > '5' || colon[2])
        return -EINVAL;
    *ret_id = id;
    *ret_score = colon[1] - '0';
    return 0;
}

void desk_rate_data(int64_t id, int score, char *buf, size_t cap)
{
    snprintf(buf, cap, "rate:%" PRId64 ":%d", id, score);
}

/* ---- who may do what ------------------------------------------------- */

enum desk_route desk_route(enum desk_cmd c, bool is_staff, enum desk_place place)
{
    if (c == DESK_CMD_NONE)
        return DESK_ROUTE_IGNORE;
    if (c == DESK_CMD_FORGET) /* staff: someone's data; a user: their own */
        return is_staff                ? DESK_ROUTE_STAFF
               : place == DESK_PRIVATE ? DESK_ROUTE_USER
                                       : DESK_ROUTE_IGNORE;
    if (desk_cmd_is_staff(c))
        return is_staff ? DESK_ROUTE_STAFF : DESK_ROUTE_REFUSE;
    if (place == DESK_STAFF_GROUP)
        return is_staff && (c == DESK_CMD_START || c == DESK_CMD_HELP) ? DESK_ROUTE_STAFF_HELP
                                                                       : DESK_ROUTE_IGNORE;
    if (c == DESK_CMD_UNKNOWN)
        return DESK_ROUTE_UNKNOWN;
    return is_staff ? DESK_ROUTE_STAFF_HELP : DESK_ROUTE_USER;
}

int desk_transition(enum desk_cmd action, enum desk_status from, int64_t assigned, int64_t actor,
                    enum desk_status *ret_to)
{
    bool active = from == DESK_OPEN || from == DESK_ASSIGNED;
    enum desk_status to;
    switch (action) {
    case DESK_CMD_TAKE:
        if (!active)
            return -EPERM;
        if (from == DESK_ASSIGNED && assigned == actor)
            return -EALREADY;
        to = DESK_ASSIGNED;
        break;
    case DESK_CMD_REPLY:
        if (!active)
            return -EPERM;
        to = DESK_ASSIGNED;
        break;
    case DESK_CMD_SOLVE:
        if (from == DESK_SOLVED)
            return -EALREADY;
        if (!active)
            return -EPERM;
        to = DESK_SOLVED;
        break;
    case DESK_CMD_CLOSE:
        if (from == DESK_CLOSED)
            return -EALREADY;
        to = DESK_CLOSED;
        break;
    case DESK_CMD_REOPEN:
        if (active)
            return -EALREADY;
        to = DESK_OPEN;
        break;
    case DESK_CMD_CANCEL:
        if (!active)
            return -EALREADY;
        to = DESK_CLOSED;
        break;
    default:
        return -EPERM;
    }
    *ret_to = to;
    return 0;
}

/* ---- texts -------------------------------------------------------------- */

void desk_fmt_user(struct buf *b, const char *first, const char *last, const char *username,
                   int64_t id)
{
    bool named = first && *first;
    if (named) {
        buf_add(b, first);
        if (last && *last) {
            buf_add(b, " ");
            buf_add(b, last);
        }
    } else if (last && *last) {
        buf_add(b, last);
        named = true;
    } else {
        buf_addf(b, "user %" PRId64, id);
    }
    if (username && *username)
        buf_addf(b, named ? " (@%s)" : " @%s", username);
}

/*
 * Appends seconds s in the largest two units that fit, by the formats f
 * (seconds; minutes; hours and minutes; days and hours) translated into l.
 * The formats are this file's own, checked like literals where they are
 * written (and msgfmt -c checks their translations).
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void fmt_span(struct buf *b, const struct i18n_lang *l, int64_t s, const char *const f[4])
{
    long long v = s < 0 ? 0 : (long long)s;
    if (v < 60)
        buf_addf(b, _(l, f[0]), v);
    else if (v < 3600)
        buf_addf(b, _(l, f[1]), v / 60);
    else if (v < 86400)
        buf_addf(b, _(l, f[2]), v / 3600, v % 3600 / 60);
    else
        buf_addf(b, _(l, f[3]), v / 86400, v % 86400 / 3600);
}
#pragma GCC diagnostic pop

void desk_fmt_age_in(struct buf *b, const struct i18n_lang *l, int64_t s)
{
    /* TRANSLATORS: a short age, e.g. "45s", "12m", "3h 05m", "2d 04h" */
    static const char *const f[4] = {N_("%llds"), N_("%lldm"), N_("%lldh %02lldm"),
                                     N_("%lldd %02lldh")};
    fmt_span(b, l, s, f);
}

void desk_fmt_age(struct buf *b, int64_t s)
{
    desk_fmt_age_in(b, NULL, s);
}

void desk_fmt_wait(struct buf *b, int64_t s)
{
    static const char *const f[4] = {"%lld s", "%lld min", "%lld h %02lld min", "%lld d %02lld h"};
    fmt_span(b, NULL, s, f);
}

void desk_fmt_when(struct buf *b, const struct i18n_lang *l, const char *when)
{
    /* TRANSLATORS: a day of the week, in "Monday 09 Mar at 09:00" */
    static const char *const days[7] = {N_("Monday"),   N_("Tuesday"), N_("Wednesday"),
                                        N_("Thursday"), N_("Friday"),  N_("Saturday"),
                                        N_("Sunday")};
    /* TRANSLATORS: a month after the day's number, in "Monday 09 Mar at 09:00" */
    static const char *const months[12] = {N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"),
                                           N_("May"), N_("Jun"), N_("Jul"), N_("Aug"),
                                           N_("Sep"), N_("Oct"), N_("Nov"), N_("Dec")};
    int dow, day, month;
    char time[6];
    if (!when || sscanf(when, "%1d %2d %2d %5s", &dow, &day, &month, time) != 4 || dow < 1 ||
        dow > 7 || day < 1 || day > 31 || month < 1 || month > 12) {
        buf_add(b, when ? when : "");
        return;
    }
    /* TRANSLATORS: weekday, day of the month, month, time: "Monday 09 Mar at 09:00" */
    buf_addf(b, _(l, "%s %02d %s at %s"), _(l, days[dow - 1]), day, _(l, months[month - 1]), time);
}

void desk_fmt_preview(struct buf *b, const char *text, size_t max)
{
    size_t count = 0;
    const char *run = text;
    const char *p = text;
    for (; *p; p++) {
        if (is_cont((unsigned char)*p))
            continue;
        if (count == max) {
            buf_addn(b, run, (size_t)(p - run));
            buf_add(b, "…");
            return;
        }
        count++;
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            buf_addn(b, run, (size_t)(p - run));
            buf_add(b, " ");
            run = p + 1;
        }
    }
    buf_addn(b, run, (size_t)(p - run));
}

void desk_fmt_content(struct buf *b, const char *text, const char *media)
{
    if (text && *text)
        buf_add(b, text);
    else
        buf_addf(b, "[%s]", media ? media : "message");
}
