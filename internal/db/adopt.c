#include "adopt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "conn.h"
#include "log.h"
#include "sqlstate.h"
#include "util/buf.h"

/* The schema the old tables are moved into while their rows are copied. */
#define OLD "tgdesk_adopt_old"

/* What a column of the Python bot's tables may be. */
enum kind { K_INT, K_TEXT, K_TIME, K_CONTEXT };

static const char *const kind_text[] = {
    [K_INT] = "integer or bigint",
    [K_TEXT] = "text or character varying",
    [K_TIME] = "timestamp with or without time zone",
    [K_CONTEXT] = "text, character varying, json or jsonb",
};

static const struct column {
    const char *table, *column;
    enum kind kind;
    bool widened; /* an id fix_bigint_columns made bigint */
} columns[] = {
    {"requests", "id", K_INT, false},
    {"requests", "user_id", K_INT, true},
    {"requests", "issue", K_TEXT, false},
    {"requests", "assigned_admin", K_INT, true},
    {"requests", "status", K_TEXT, false},
    {"requests", "solution", K_TEXT, false},
    {"requests", "created_at", K_TIME, false},
    {"requests", "updated_at", K_TIME, false},
    {"messages", "id", K_INT, false},
    {"messages", "request_id", K_INT, false},
    {"messages", "sender_id", K_INT, true},
    {"messages", "sender_type", K_TEXT, false},
    {"messages", "message", K_TEXT, false},
    {"messages", "timestamp", K_TIME, false},
    {"logs", "id", K_INT, false},
    {"logs", "timestamp", K_TIME, false},
    {"logs", "level", K_TEXT, false},
    {"logs", "message", K_TEXT, false},
    {"logs", "context", K_CONTEXT, false},
};
#define N_COLUMNS (sizeof(columns) / sizeof(columns[0]))

static const char *const old_tables[] = {"requests", "messages", "logs"};

/* Tables of tgdesk's that must not exist yet (besides the three above). */
static const char *const new_tables[] = {"users",  "message_edits", "processed_updates",
                                         "outbox", "notifications", "bot_state"};

/* Old values (compared lower-case, trimmed) and what they become. */
#define STATUS_MAP                                                                     \
    "(VALUES ('open', 'open'), ('in_progress', 'assigned'), ('assigned', 'assigned')," \
    " ('solved', 'solved'), ('resolved', 'solved'), ('closed', 'closed')) AS map(old, new)"
#define LEVEL_MAP                                                                          \
    "(VALUES ('debug', 'debug'), ('info', 'info'), ('warning', 'warn'), ('warn', 'warn')," \
    " ('error', 'error'), ('critical', 'error'), ('fatal', 'error')) AS map(old, new)"

static bool kind_has(enum kind k, const char *type)
{
    switch (k) {
    case K_INT:
        return strcmp(type, "integer") == 0 || strcmp(type, "bigint") == 0;
    case K_TEXT:
        return strcmp(type, "text") == 0 || strcmp(type, "character varying") == 0;
    case K_TIME:
        return strcmp(type, "timestamp without time zone") == 0 ||
               strcmp(type, "timestamp with time zone") == 0;
    case K_CONTEXT:
        return kind_has(K_TEXT, type) || strcmp(type, "json") == 0 || strcmp(type, "jsonb") == 0;
    }
    return false;
}

/* Runs sql (n parameters); NULL (logged) unless it returned rows or completed. */
static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params,
                       const char *what)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    char err[512];
    LOG(LOG_ERROR, "adopt step failed", LOG_STR("step", what),
        LOG_STR("error", db_errmsg(conn, res, err, sizeof(err))));
    PQclear(res);
    return NULL;
}

static int exec(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = query(conn, sql, 0, NULL, what);
    PQclear(res);
    return res ? 0 : -EIO;
}

/*
 * Locks the old tables so that the old bot (if still running) cannot write
 * while the rows move, waiting a minute at most (a session of it idle in a
 * transaction would make this wait). Says on err why not: lock_not_available
 * is most likely the old bot at work, anything else the server's message.
 * Returns 0 or -EIO.
 */
static int lock_old_tables(PGconn *conn, FILE *err)
{
    static const char *const steps[] = {
        "SET LOCAL lock_timeout = '1min'",
        "LOCK TABLE requests, messages, logs IN ACCESS EXCLUSIVE MODE",
        "SET LOCAL lock_timeout = 0",
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        PGresult *res = PQexec(conn, steps[i]);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok) {
            char state[DB_SQLSTATE_LEN], msg[512];
            db_sqlstate_copy(res, state);
            db_errmsg(conn, res, msg, sizeof(msg));
            LOG(LOG_ERROR, "adopt step failed", LOG_STR("step", "lock"), LOG_STR("error", msg));
            if (strcmp(state, "55P03") == 0)
                fprintf(err, "tgdesk adopt: cannot lock the old tables within a minute (is the"
                             " Python bot still running?); nothing was changed\n");
            else
                fprintf(err, "tgdesk adopt: cannot lock the old tables: %s; nothing was changed\n",
                        msg);
        }
        PQclear(res);
        if (!ok)
            return -EIO;
    }
    return 0;
}

/* The first value of a one-row query, as a number; -1 on error (logged). */
static int64_t number(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = query(conn, sql, 0, NULL, what);
    int64_t v = res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
                    ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                    : -1;
    PQclear(res);
    return v;
}

/* Is version 1 recorded (tgdesk's schema)? 1 yes, 0 no, -EIO. */
static int has_tgdesk_schema(PGconn *conn)
{
    int64_t v =
        number(conn, "SELECT count(*) FROM pg_class WHERE oid = to_regclass('schema_migrations')",
               "look for schema_migrations");
    if (v > 0)
        v = number(conn, "SELECT count(*) FROM schema_migrations WHERE version = 1",
                   "read schema_migrations");
    return v < 0 ? -EIO : v > 0;
}

/*
 * Compares the tables with the Python bot's. Writes one line per difference
 * to err and counts them in *ret_diffs; the widened (integer) ids go to
 * widen as "table.column" words. 0 or -EIO.
 */
static int compare_schema(PGconn *conn, FILE *err, struct buf *widen, int *ret_diffs)
{
    PGresult *res =
        query(conn,
              "SELECT table_name, column_name, data_type FROM information_schema.columns"
              " WHERE table_schema = current_schema()"
              " AND table_name IN ('requests', 'messages', 'logs')",
              0, NULL, "read columns");
    if (!res)
        return -EIO;
    int diffs = 0;
    int nrows = PQntuples(res);
    for (size_t t = 0; t < sizeof(old_tables) / sizeof(old_tables[0]); t++) {
        bool found = false;
        for (int r = 0; r < nrows && !found; r++)
            found = strcmp(PQgetvalue(res, r, 0), old_tables[t]) == 0;
        if (!found) {
            fprintf(err, "  table %s is missing\n", old_tables[t]);
            diffs++;
        }
    }
    for (size_t c = 0; c < N_COLUMNS; c++) {
        const struct column *col = &columns[c];
        int row = -1;
        bool table_found = false;
        for (int r = 0; r < nrows; r++) {
            if (strcmp(PQgetvalue(res, r, 0), col->table) != 0)
                continue;
            table_found = true;
            if (strcmp(PQgetvalue(res, r, 1), col->column) == 0)
                row = r;
        }
        if (!table_found)
            continue;
        if (row < 0) {
            fprintf(err, "  column %s.%s is missing\n", col->table, col->column);
            diffs++;
            continue;
        }
        const char *type = PQgetvalue(res, row, 2);
        if (!kind_has(col->kind, type)) {
            fprintf(err, "  column %s.%s is %s, expected %s\n", col->table, col->column, type,
                    kind_text[col->kind]);
            diffs++;
        } else if (col->widened && strcmp(type, "integer") == 0) {
            buf_addf(widen, " %s.%s", col->table, col->column);
        }
    }
    for (int r = 0; r < nrows; r++) {
        bool known = false;
        for (size_t c = 0; c < N_COLUMNS && !known; c++)
            known = strcmp(PQgetvalue(res, r, 0), columns[c].table) == 0 &&
                    strcmp(PQgetvalue(res, r, 1), columns[c].column) == 0;
        if (!known) {
            fprintf(err, "  column %s.%s is not the Python bot's (its values would be lost)\n",
                    PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
            diffs++;
        }
    }
    PQclear(res);

    for (size_t t = 0; t < sizeof(new_tables) / sizeof(new_tables[0]); t++) {
        const char *params[1] = {new_tables[t]};
        res = query(conn, "SELECT to_regclass($1) IS NOT NULL", 1, params, "look for tables");
        if (!res)
            return -EIO;
        if (PQgetvalue(res, 0, 0)[0] == 't') {
            fprintf(err, "  table %s exists already (tgdesk would create it)\n", new_tables[t]);
            diffs++;
        }
        PQclear(res);
    }
    *ret_diffs = diffs;
    return 0;
}

/*
 * Lists the rows tgdesk cannot keep as they are (unknown statuses, sender
 * types or levels, missing ids, users with several active requests), one
 * line each to err. Returns how many kinds of problem were found, or -EIO.
 */
static int check_rows(PGconn *conn, FILE *err)
{
    /* Each query returns one line per problem; nothing when all is well. */
    static const char *const checks[] = {
        "SELECT format('requests.status %L has no tgdesk status (%s rows); known: open,"
        " in_progress or assigned, solved or resolved, closed', coalesce(status, '(null)'),"
        " count(*)) FROM requests"
        " WHERE status IS NULL OR lower(btrim(status)) NOT IN (SELECT old FROM " STATUS_MAP ")"
        " GROUP BY status ORDER BY status",
        "SELECT format('messages.sender_type %L is neither user nor admin (%s rows)',"
        " coalesce(sender_type, '(null)'), count(*)) FROM messages"
        " WHERE sender_type IS NULL OR lower(btrim(sender_type)) NOT IN ('user', 'admin')"
        " GROUP BY sender_type ORDER BY sender_type",
        "SELECT format('logs.level %L is not a level tgdesk knows (%s rows); known: debug, info,"
        " warning, error, critical', coalesce(level, '(null)'), count(*)) FROM logs"
        " WHERE level IS NULL OR lower(btrim(level)) NOT IN (SELECT old FROM " LEVEL_MAP ")"
        " GROUP BY level ORDER BY level",
        "SELECT format('requests without a user_id: %s rows', count(*)) FROM requests"
        " WHERE user_id IS NULL HAVING count(*) > 0",
        "SELECT format('messages without a sender_id or an existing request: %s rows', count(*))"
        " FROM messages m WHERE sender_id IS NULL"
        " OR NOT EXISTS (SELECT FROM requests r WHERE r.id = m.request_id) HAVING count(*) > 0",
        "SELECT format('user %s has several active requests (%s); tgdesk keeps one per user:"
        " close all but one first', user_id, string_agg(id::text, ', ' ORDER BY id))"
        " FROM requests WHERE lower(btrim(status)) IN ('open', 'in_progress', 'assigned')"
        " GROUP BY user_id HAVING count(*) > 1 ORDER BY user_id LIMIT 50",
        "SELECT format('table %s has a foreign key to %s: adopting would drop the table it"
        " points at', c.conrelid::regclass, c.confrelid::regclass) FROM pg_constraint c"
        " WHERE c.contype = 'f' AND c.confrelid IN ('requests'::regclass, 'messages'::regclass,"
        " 'logs'::regclass) AND c.conrelid NOT IN ('requests'::regclass, 'messages'::regclass,"
        " 'logs'::regclass)",
    };
    int problems = 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        PGresult *res = query(conn, checks[i], 0, NULL, "check rows");
        if (!res)
            return -EIO;
        for (int r = 0; r < PQntuples(res); r++)
            fprintf(err, "  %s\n", PQgetvalue(res, r, 0));
        problems += PQntuples(res) > 0;
        PQclear(res);
    }
    return problems;
}

/*
 * The next value the old bot's sequence of table.id would hand out minus
 * one (0 when it has none or never handed one out), read before the table
 * moves. -1 on error.
 */
static int64_t old_sequence_last(PGconn *conn, const char *table)
{
    const char *params[1] = {table};
    PGresult *res =
        query(conn, "SELECT pg_get_serial_sequence($1, 'id')", 1, params, "find the id sequence");
    if (!res)
        return -1;
    int64_t last = 0;
    if (!PQgetisnull(res, 0, 0)) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM %s",
                 PQgetvalue(res, 0, 0));
        last = number(conn, sql, "read the id sequence");
    }
    PQclear(res);
    return last;
}

/* The conversion itself: old tables aside, new ones created, rows copied. */
static const char *const copy_steps[] = {
    /* Context that is a JSON object stays one; other text is kept under "text". */
    "CREATE FUNCTION pg_temp.tgdesk_adopt_context(t text) RETURNS jsonb LANGUAGE plpgsql AS $$"
    " DECLARE j jsonb;"
    " BEGIN"
    "  IF t IS NULL OR btrim(t) = '' THEN RETURN '{}'; END IF;"
    "  BEGIN j := t::jsonb; EXCEPTION WHEN others THEN RETURN jsonb_build_object('text', t); END;"
    "  IF jsonb_typeof(j) <> 'object' THEN RETURN jsonb_build_object('value', j); END IF;"
    "  RETURN j;"
    " END $$",
    "INSERT INTO users (user_id, created_at, updated_at)"
    " SELECT user_id, min(coalesce(created_at::timestamptz, updated_at::timestamptz, now())),"
    " max(coalesce(updated_at::timestamptz, created_at::timestamptz, now()))"
    " FROM " OLD ".requests GROUP BY user_id",
    "INSERT INTO requests (id, user_id, issue, assigned_admin, status, solution, created_at,"
    " updated_at, first_response_at, resolved_at)"
    " SELECT r.id, r.user_id, coalesce(r.issue, ''), r.assigned_admin,"
    " CASE WHEN map.new = 'assigned' AND r.assigned_admin IS NULL THEN 'open' ELSE map.new END,"
    " r.solution, coalesce(r.created_at::timestamptz, r.updated_at::timestamptz, now()),"
    " coalesce(r.updated_at::timestamptz, r.created_at::timestamptz, now()),"
    " (SELECT min(m.timestamp::timestamptz) FROM " OLD ".messages m"
    "  WHERE m.request_id = r.id AND lower(btrim(m.sender_type)) = 'admin'),"
    " CASE WHEN map.new IN ('solved', 'closed')"
    "  THEN coalesce(r.updated_at::timestamptz, r.created_at::timestamptz, now()) END"
    " FROM " OLD ".requests r JOIN " STATUS_MAP " ON map.old = lower(btrim(r.status))",
    "INSERT INTO messages (id, request_id, sender_id, sender_type, message, timestamp)"
    " SELECT id, request_id, sender_id, lower(btrim(sender_type)), coalesce(message, ''),"
    " coalesce(timestamp::timestamptz, now()) FROM " OLD ".messages",
    "INSERT INTO logs (id, timestamp, level, message, context)"
    " SELECT l.id, coalesce(l.timestamp::timestamptz, now()), map.new, coalesce(l.message, ''),"
    " pg_temp.tgdesk_adopt_context(l.context::text)"
    " FROM " OLD ".logs l JOIN " LEVEL_MAP " ON map.old = lower(btrim(l.level))",
};

/* Writes "N name" counts of one query's (name, count) rows to out, comma-separated. */
static int print_counts(PGconn *conn, const char *sql, FILE *out)
{
    PGresult *res = query(conn, sql, 0, NULL, "count rows");
    if (!res)
        return -EIO;
    for (int r = 0; r < PQntuples(res); r++)
        fprintf(out, "%s%s %s", r ? ", " : "", PQgetvalue(res, r, 1), PQgetvalue(res, r, 0));
    PQclear(res);
    return 0;
}

/*
 * The transaction's work after the checks: returns 0 or -EIO (logged). The
 * caller commits or rolls back.
 */
static int convert(PGconn *conn, const struct migration *set, size_t n_tx, const char *revision,
                   bool dry_run, FILE *out)
{
    int64_t seq_last[3];
    for (size_t t = 0; t < 3; t++) {
        seq_last[t] = old_sequence_last(conn, old_tables[t]);
        if (seq_last[t] < 0)
            return -EIO;
    }
    if (exec(conn, "CREATE SCHEMA " OLD, "move the old tables aside") < 0)
        return -EIO;
    for (size_t t = 0; t < 3; t++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "ALTER TABLE %s SET SCHEMA " OLD, old_tables[t]);
        if (exec(conn, sql, "move the old tables aside") < 0)
            return -EIO;
    }
    if (migrate_prepare_table(conn) < 0)
        return -EIO;
    for (size_t i = 0; i < n_tx; i++) {
        if (migrate_apply_in_tx(conn, &set[i]) < 0)
            return -EIO;
        fprintf(out, "%s %04" PRId64 "_%s\n", dry_run ? "would apply" : "applied", set[i].version,
                set[i].name);
    }
    for (size_t i = 0; i < sizeof(copy_steps) / sizeof(copy_steps[0]); i++)
        if (exec(conn, copy_steps[i], "copy the rows") < 0)
            return -EIO;

    /* Every row made it, or nothing commits. */
    int64_t counts[2][3];
    for (size_t t = 0; t < 3; t++) {
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM " OLD ".%s", old_tables[t]);
        counts[0][t] = number(conn, sql, "count the old rows");
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", old_tables[t]);
        counts[1][t] = number(conn, sql, "count the new rows");
        if (counts[0][t] < 0 || counts[0][t] != counts[1][t]) {
            LOG(LOG_ERROR, "adopt: rows went missing in the copy; rolled back",
                LOG_STR("table", old_tables[t]), LOG_INT("old", counts[0][t]),
                LOG_INT("new", counts[1][t]));
            return -EIO;
        }
        /* Ids continue past the highest the old bot kept or handed out. */
        snprintf(sql, sizeof(sql),
                 "SELECT setval(pg_get_serial_sequence('%s', 'id'),"
                 " greatest(coalesce(max(id), 0), %" PRId64 ", 1),"
                 " greatest(coalesce(max(id), 0), %" PRId64 ") > 0) FROM %s",
                 old_tables[t], seq_last[t], seq_last[t], old_tables[t]);
        if (number(conn, sql, "continue the id sequence") < 0)
            return -EIO;
    }
    int64_t users = number(conn, "SELECT count(*) FROM users", "count users");
    if (users < 0)
        return -EIO;
    fprintf(out, "kept %" PRId64 " requests (", counts[1][0]);
    if (print_counts(conn, "SELECT status, count(*) FROM requests GROUP BY 1 ORDER BY 1", out) < 0)
        return -EIO;
    fprintf(out,
            "), %" PRId64 " messages, %" PRId64 " logs, with their ids; derived %" PRId64
            " users from the requests\n",
            counts[1][1], counts[1][2], users);

    if (exec(conn, "DROP TABLE " OLD ".messages, " OLD ".requests, " OLD ".logs",
             "drop the old tables") < 0 ||
        exec(conn, "DROP SCHEMA " OLD, "drop the old tables") < 0)
        return -EIO;

    if (revision) {
        /* COMMENT takes a literal only: build it in SQL first. */
        PGresult *res =
            query(conn,
                  "SELECT format('COMMENT ON TABLE alembic_version IS %L', 'Adopted by tgdesk on '"
                  " || now()::date || ' from Alembic revision ' || $1 || ': the Python bot''s"
                  " tables were converted to tgdesk''s schema (see schema_migrations); Alembic no"
                  " longer manages this database.')",
                  1, (const char *const[]){revision}, "note on alembic_version");
        if (!res)
            return -EIO;
        int rc = exec(conn, PQgetvalue(res, 0, 0), "note on alembic_version");
        PQclear(res);
        if (rc < 0)
            return rc;
        fprintf(out, "alembic_version (revision %s) stays, with a comment that tgdesk took over\n",
                revision);
    }
    return 0;
}

/* The Alembic revision, "(none)" when alembic_version is empty, NULL when it is absent. */
static char *alembic_revision(PGconn *conn, int *ret_rc)
{
    int64_t exists = number(conn,
                            "SELECT count(*) FROM pg_class"
                            " WHERE oid = to_regclass('alembic_version')",
                            "look for alembic_version");
    *ret_rc = exists < 0 ? -EIO : 0;
    if (exists <= 0)
        return NULL;
    PGresult *res =
        query(conn, "SELECT coalesce(string_agg(version_num::text, ', '), '') FROM alembic_version",
              0, NULL, "read alembic_version");
    *ret_rc = res ? 0 : -EIO;
    const char *v = res ? PQgetvalue(res, 0, 0) : NULL;
    char *rev = v ? strdup(*v ? v : "(none)") : NULL;
    PQclear(res);
    return rev;
}

int adopt_run(PGconn *conn, const struct migration *set, size_t n, const struct adopt_options *opt,
              FILE *out, FILE *err)
{
    int rc = migrate_lock(conn);
    if (rc < 0)
        return rc;
    char *revision = NULL;
    struct buf widen;
    buf_init(&widen, 4096);
    bool in_tx = false;
    rc = has_tgdesk_schema(conn);
    if (rc != 0)
        goto out; /* 1: nothing to do */

    /* The transactional head of the migrations creates the tables. */
    size_t n_tx = 0;
    while (n_tx < n && !set[n_tx].up_no_tx)
        n_tx++;

    /* Before the transaction: pg_dump would wait for the locks it takes. */
    if (opt->backup_dir && !opt->dry_run) {
        rc = db_backup(conn, opt->backup_dir, "before-adopt", out);
        if (rc < 0)
            goto out;
    }
    rc = exec(conn, "BEGIN", "begin");
    if (rc < 0)
        goto out;
    in_tx = true;
    const char *tz[1] = {opt->timezone};
    PGresult *res = query(conn, "SELECT set_config('TimeZone', $1, true)", 1, tz, "time zone");
    PQclear(res);
    if (!res) {
        fprintf(err, "tgdesk adopt: ADOPT_TIMEZONE=%s is not a time zone PostgreSQL knows\n",
                opt->timezone);
        rc = -EINVAL;
        goto out;
    }
    revision = alembic_revision(conn, &rc);
    if (rc < 0)
        goto out;

    int diffs = 0;
    rc = compare_schema(conn, err, &widen, &diffs);
    if (rc < 0)
        goto out;
    if (diffs > 0) {
        fprintf(err,
                "tgdesk adopt: this database is not the Python bot's (%d difference%s above);"
                " nothing was changed\n",
                diffs, diffs == 1 ? "" : "s");
        rc = -EINVAL;
        goto out;
    }
    rc = lock_old_tables(conn, err);
    if (rc < 0)
        goto out;
    int problems = check_rows(conn, err);
    if (problems != 0) {
        if (problems > 0)
            fprintf(err, "tgdesk adopt: rows tgdesk cannot keep as they are (listed above);"
                         " nothing was changed\n");
        rc = problems < 0 ? -EIO : -EINVAL;
        goto out;
    }

    fprintf(out, "%s the Python bot's schema (Alembic revision %s); old times read as %s\n",
            opt->dry_run ? "dry run: adopting" : "adopting",
            revision ? revision : "none: no alembic_version", opt->timezone);
    if (buf_len(&widen) > 0)
        fprintf(out, "widening to bigint:%s\n", buf_str(&widen));
    int64_t orphan_assigned = number(conn,
                                     "SELECT count(*) FROM requests WHERE assigned_admin IS NULL"
                                     " AND lower(btrim(status)) IN ('in_progress', 'assigned')",
                                     "count requests");
    if (orphan_assigned > 0)
        fprintf(out, "%" PRId64 " in-progress requests have no assigned admin: they become open\n",
                orphan_assigned);
    rc = convert(conn, set, n_tx, revision, opt->dry_run, out);
    if (rc < 0)
        goto out;
    if (opt->dry_run) {
        rc = exec(conn, "ROLLBACK", "roll back the dry run");
        in_tx = false;
        fprintf(out, "dry run: rolled back, nothing was changed");
        for (size_t i = n_tx; i < n; i++)
            fprintf(out, "%s%04" PRId64 "_%s",
                    i == n_tx ? "; then `migrate up` would apply " : ", ", set[i].version,
                    set[i].name);
        fputc('\n', out);
        goto out;
    }
    rc = exec(conn, "COMMIT", "commit");
    in_tx = false;
    if (rc < 0)
        goto out;
    fprintf(out, "committed\n");
    /* Fresh tables have no statistics: the planner would guess until autovacuum came. */
    rc = exec(conn, "ANALYZE users, requests, messages, logs", "analyze");
    bool analyzed = rc == 0;
    if (analyzed)
        rc = migrate_up(conn, set, n, 0, out);
    if (rc < 0) {
        /* A rerun of adopt would find tgdesk's schema and do nothing. */
        fprintf(err,
                "tgdesk adopt: the adoption is committed, but %s failed (logged above);"
                " run `tgdesk migrate up` to finish the rest\n",
                analyzed ? "applying the later migrations" : "analyzing the adopted tables");
        goto out;
    }
    rc = 0;

out:
    if (in_tx)
        PQclear(PQexec(conn, "ROLLBACK"));
    migrate_unlock(conn);
    free(revision);
    buf_free(&widen);
    return rc;
}
