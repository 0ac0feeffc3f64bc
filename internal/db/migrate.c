#include "migrate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "conn.h"
#include "log.h"
#include "sqlsplit.h"
#include "sqlstate.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/strnum.h"

/* Longest wait for another instance's migration run. */
#define MIGRATE_LOCK_WAIT_MS (15 * 60 * 1000)

struct applied {
    int64_t version;
    char *name;
    char *checksum;
    char *applied_at; /* "" while dirty */
    char *error;      /* "" when none */
    bool dirty;
};

struct state {
    PGresult *res; /* owns the strings the rows point into */
    struct applied *rows;
    size_t n;
};

/* Runs a statement without parameters; logs and returns -EIO on failure. */
static int exec_simple(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char err[512];
        LOG(LOG_ERROR, "migration step failed", LOG_STR("step", what),
            LOG_STR("error", db_errmsg(conn, res, err, sizeof(err))));
        rc = -EIO;
    }
    PQclear(res);
    return rc;
}

/* Runs a parameterised statement; returns -EIO (logged) on failure. */
static int exec_params(PGconn *conn, const char *sql, int n, const char *const *params,
                       const char *what)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char err[512];
        LOG(LOG_ERROR, "migration step failed", LOG_STR("step", what),
            LOG_STR("error", db_errmsg(conn, res, err, sizeof(err))));
        rc = -EIO;
    }
    PQclear(res);
    return rc;
}

static void rollback_quietly(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK"));
}

/*
 * Takes the advisory lock by polling pg_try_advisory_lock: a session blocked
 * inside pg_advisory_lock() holds a snapshot, and CREATE INDEX CONCURRENTLY in
 * the session that owns the lock would wait for it - a deadlock.
 */
int migrate_lock(PGconn *conn)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%" PRId64 ")", MIGRATE_LOCK_KEY);
    int64_t start = clock_mono_ms(), logged = start;
    for (;;) {
        PGresult *res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            char err[512];
            LOG(LOG_ERROR, "cannot take the migration lock",
                LOG_STR("error", db_errmsg(conn, res, err, sizeof(err))));
            PQclear(res);
            return -EIO;
        }
        bool got = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (got)
            break;
        int64_t now = clock_mono_ms();
        if (now - start > MIGRATE_LOCK_WAIT_MS) {
            LOG(LOG_ERROR, "gave up waiting for another instance's migration",
                LOG_INT("waited_ms", now - start));
            return -ETIMEDOUT;
        }
        if (now - logged >= 10000) {
            LOG(LOG_INFO, "waiting for another instance's migration",
                LOG_INT("waited_ms", now - start));
            logged = now;
        }
        nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000L}, NULL);
    }
    return 0;
}

int migrate_prepare_table(PGconn *conn)
{
    /* Created under the lock: concurrent CREATE ... IF NOT EXISTS can race. */
    return exec_simple(conn,
                       "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version bigint PRIMARY KEY,"
                       " name text NOT NULL,"
                       " checksum text NOT NULL,"
                       " applied_at timestamptz,"
                       " dirty boolean NOT NULL DEFAULT false,"
                       " error text)",
                       "create schema_migrations");
}

void migrate_unlock(PGconn *conn)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%" PRId64 ")", MIGRATE_LOCK_KEY);
    PQclear(PQexec(conn, sql));
}

static void state_free(struct state *st)
{
    free(st->rows);
    PQclear(st->res);
    memset(st, 0, sizeof(*st));
}

/* Reads schema_migrations; a missing table reads as empty. */
static int state_load(PGconn *conn, struct state *ret)
{
    PGresult *res = PQexec(conn, "SELECT version, name, checksum,"
                                 " coalesce(to_char(applied_at AT TIME ZONE 'UTC',"
                                 " 'YYYY-MM-DD HH24:MI:SS'), ''), coalesce(error, ''), dirty"
                                 " FROM schema_migrations ORDER BY version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char code[DB_SQLSTATE_LEN];
        db_sqlstate_copy(res, code);
        if (strcmp(code, "42P01") == 0) { /* undefined_table */
            PQclear(res);
            memset(ret, 0, sizeof(*ret));
            return 0;
        }
        char err[512];
        LOG(LOG_ERROR, "cannot read schema_migrations",
            LOG_STR("error", db_errmsg(conn, res, err, sizeof(err))));
        PQclear(res);
        return -EIO;
    }
    size_t n = (size_t)PQntuples(res);
    struct applied *rows = calloc(n ? n : 1, sizeof(*rows));
    if (!rows) {
        PQclear(res);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (strnum_i64(PQgetvalue(res, (int)i, 0), INT64_MIN, INT64_MAX, &rows[i].version) < 0)
            rows[i].version = -1;
        rows[i].name = PQgetvalue(res, (int)i, 1);
        rows[i].checksum = PQgetvalue(res, (int)i, 2);
        rows[i].applied_at = PQgetvalue(res, (int)i, 3);
        rows[i].error = PQgetvalue(res, (int)i, 4);
        rows[i].dirty = PQgetvalue(res, (int)i, 5)[0] == 't';
    }
    ret->res = res;
    ret->rows = rows;
    ret->n = n;
    return 0;
}

static const struct applied *find_applied(const struct state *st, int64_t version)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->rows[i].version == version)
            return &st->rows[i];
    return NULL;
}

static const struct migration *find_migration(const struct migration *set, size_t n,
                                              int64_t version)
{
    for (size_t i = 0; i < n; i++)
        if (set[i].version == version)
            return &set[i];
    return NULL;
}

/*
 * Refuses to go on when a migration is dirty or an applied file changed.
 * Versions the binary does not know (a newer release ran) only warn.
 */
static int state_check(const struct state *st, const struct migration *set, size_t n)
{
    for (size_t i = 0; i < st->n; i++) {
        const struct applied *a = &st->rows[i];
        const struct migration *m = find_migration(set, n, a->version);
        char file[160];
        snprintf(file, sizeof(file), "%04" PRId64 "_%s.up.sql", a->version, a->name);
        if (a->dirty) {
            LOG(LOG_ERROR,
                "migration is dirty: it failed half-way; repair the schema by hand, then "
                "delete its row from schema_migrations (or set dirty = false if it did complete)",
                LOG_STR("file", file), LOG_STR("error", a->error));
            return -EBUSY;
        }
        if (!m) {
            LOG(LOG_WARN, "database has a migration this binary does not know (newer release?)",
                LOG_STR("file", file));
            continue;
        }
        if (strcmp(m->checksum, a->checksum) != 0) {
            LOG(LOG_ERROR,
                "applied migration file was changed: write a new migration instead of editing "
                "an applied one",
                LOG_STR("file", file), LOG_STR("recorded_checksum", a->checksum),
                LOG_STR("file_checksum", m->checksum));
            return -EBADMSG;
        }
    }
    return 0;
}

/* Runs each statement of sql on its own (outside any transaction). */
static int exec_statements(PGconn *conn, const char *sql, char *err, size_t cap)
{
    size_t pos = 0, start, len;
    int index = 0;
    while (sqlsplit_next(sql, &pos, &start, &len)) {
        index++;
        char *stmt = strndup(sql + start, len);
        if (!stmt)
            return -ENOMEM;
        PGresult *res = PQexec(conn, stmt);
        free(stmt);
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            char msg[400];
            snprintf(err, cap, "statement %d: %s", index, db_errmsg(conn, res, msg, sizeof(msg)));
            PQclear(res);
            return -EIO;
        }
        PQclear(res);
    }
    return 0;
}

int migrate_apply_in_tx(PGconn *conn, const struct migration *m)
{
    char version[24], file[160];
    snprintf(version, sizeof(version), "%" PRId64, m->version);
    snprintf(file, sizeof(file), "%04" PRId64 "_%s.up.sql", m->version, m->name);
    const char *params[3] = {version, m->name, m->checksum};
    if (exec_simple(conn, m->up_sql, file) < 0 ||
        exec_params(conn,
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at, dirty)"
                    " VALUES ($1, $2, $3, now(), false)",
                    3, params, file) < 0)
        return -EIO;
    return 0;
}

/*
 * Runs one direction of one migration. In a transaction the schema_migrations
 * change (record_sql) commits with it; without one, the row is marked dirty
 * first and cleared after, so a failure half-way stays visible.
 */
/*
 * Fingerprints of the tables of the current schema (but schema_migrations),
 * "oid=md5" comma-separated: the md5 covers the storage (a rewrite), the
 * columns and the indexes, so a migration that changed any of them changes
 * it.
 */
#define FINGERPRINTS                                                                            \
    "WITH fp AS (SELECT c.oid, c.oid::text || '=' || md5(c.relfilenode::text || ':' ||"         \
    " coalesce((SELECT string_agg(a.attname || ' ' || a.atttypid::text, ',' ORDER BY a.attnum)" \
    " FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),"   \
    " '') || ':' || coalesce((SELECT string_agg(i.indexrelid::text, ',' ORDER BY i.indexrelid)" \
    " FROM pg_index i WHERE i.indrelid = c.oid), '')) AS f FROM pg_class c"                     \
    " WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace"        \
    " AND c.relname <> 'schema_migrations') "

/*
 * Appends the one value of a one-row query (param: $1, or NULL for none) to
 * b, comma-separated. 0 or -EIO (logged).
 */
static int append_value(PGconn *conn, const char *sql, const char *param, struct buf *b)
{
    PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL, &param, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        char err[512];
        LOG(LOG_ERROR, "cannot read table statistics",
            LOG_STR("error", db_errmsg(conn, res, err, sizeof(err))));
        rc = -EIO;
    } else if (*PQgetvalue(res, 0, 0)) {
        if (buf_len(b) > 0)
            buf_addc(b, ',');
        buf_add(b, PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

/*
 * Rows changed per table so far, "oid=n" comma-separated. Read at the start
 * and the end of a migration's transaction: PostgreSQL's per-transaction
 * counters also hold earlier transactions of the session not yet reported,
 * but nothing is reported inside a transaction block, so the difference is
 * this transaction's.
 */
#define CHANGED_ROWS                                                  \
    "WITH x AS (SELECT relid, n_tup_ins + n_tup_upd + n_tup_del AS n" \
    " FROM pg_stat_xact_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0) "

/* Adds the oids of the tables whose rows changed since mark to touched. */
static int note_changed_rows(PGconn *conn, const char *mark, struct buf *touched)
{
    return append_value(conn,
                        CHANGED_ROWS "SELECT coalesce(string_agg(relid::text, ','), '')"
                                     " FROM x WHERE relid::text || '=' || n"
                                     " <> ALL (string_to_array($1, ','))",
                        mark, touched);
}

/*
 * ANALYZE of every table whose fingerprint differs from before (new,
 * rewritten, columns or indexes changed) or whose rows a migration changed
 * (oids in touched): fresh statistics for the planner instead of waiting for
 * autovacuum. Names them on out. 0 or -EIO (logged).
 */
static int analyze_changed(PGconn *conn, const char *before, const char *touched, FILE *out)
{
    const char *params[2] = {before, touched};
    PGresult *res = PQexecParams(conn,
                                 FINGERPRINTS "SELECT coalesce(string_agg(fp.oid::regclass::text,"
                                              " ', ' ORDER BY fp.oid::regclass::text), '') FROM fp"
                                              " WHERE fp.f <> ALL (string_to_array($1, ','))"
                                              " OR fp.oid = ANY (string_to_array($2, ',')::oid[])",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char err[512];
        LOG(LOG_ERROR, "cannot find the tables migrations changed",
            LOG_STR("error", db_errmsg(conn, res, err, sizeof(err))));
        PQclear(res);
        return -EIO;
    }
    const char *tables = PQgetvalue(res, 0, 0);
    int rc = 0;
    if (*tables) {
        struct buf sql;
        buf_init(&sql, SIZE_MAX);
        buf_addf(&sql, "ANALYZE %s", tables);
        int64_t t0 = clock_mono_ms();
        rc = buf_error(&sql) ? -ENOMEM : exec_simple(conn, buf_str(&sql), "analyze");
        buf_free(&sql);
        if (rc == 0) {
            LOG(LOG_INFO, "analyzed the tables migrations changed", LOG_STR("tables", tables),
                LOG_INT("duration_ms", clock_mono_ms() - t0));
            if (out)
                fprintf(out, "analyzed %s\n", tables);
        }
    }
    PQclear(res);
    return rc;
}

static int run_one(PGconn *conn, const struct migration *m, bool up, struct buf *touched)
{
    const char *sql = up ? m->up_sql : m->down_sql;
    bool no_tx = up ? m->up_no_tx : m->down_no_tx;
    char version[24];
    snprintf(version, sizeof(version), "%" PRId64, m->version);
    const char *params[3] = {version, m->name, m->checksum};
    const char *record_sql =
        up ? "INSERT INTO schema_migrations (version, name, checksum, applied_at, dirty)"
             " VALUES ($1, $2, $3, now(), false)"
           : "DELETE FROM schema_migrations WHERE version = $1";
    int record_n = up ? 3 : 1;
    char file[160];
    snprintf(file, sizeof(file), "%04" PRId64 "_%s.%s.sql", m->version, m->name,
             up ? "up" : "down");

    if (!no_tx) {
        if (exec_simple(conn, "BEGIN", file) < 0)
            return -EIO;
        struct buf mark;
        buf_init(&mark, SIZE_MAX);
        if (touched &&
            append_value(conn,
                         CHANGED_ROWS "SELECT coalesce(string_agg(relid || '=' || n, ','), '')"
                                      " FROM x",
                         NULL, &mark) < 0) {
            buf_free(&mark);
            rollback_quietly(conn);
            return -EIO;
        }
        int r = up ? migrate_apply_in_tx(conn, m)
                : exec_simple(conn, sql, file) < 0 ||
                        exec_params(conn, record_sql, record_n, params, file) < 0
                    ? -EIO
                    : 0;
        if (r == 0 && touched)
            r = note_changed_rows(conn, buf_str(&mark), touched);
        buf_free(&mark);
        if (r < 0 || exec_simple(conn, "COMMIT", file) < 0) {
            rollback_quietly(conn);
            return -EIO;
        }
        return 0;
    }

    const char *mark_sql =
        up ? "INSERT INTO schema_migrations (version, name, checksum, dirty, error)"
             " VALUES ($1, $2, $3, true, 'running')"
           : "UPDATE schema_migrations SET dirty = true, error = 'reverting' WHERE version = $1";
    if (exec_params(conn, mark_sql, record_n, params, file) < 0)
        return -EIO;

    char err[512];
    int rc = exec_statements(conn, sql, err, sizeof(err));
    if (rc < 0) {
        LOG(LOG_ERROR, "migration failed half-way; marked dirty", LOG_STR("file", file),
            LOG_STR("error", err));
        const char *fail[2] = {version, err};
        exec_params(conn, "UPDATE schema_migrations SET error = $2 WHERE version = $1", 2, fail,
                    "record failure");
        return rc;
    }
    const char *done_sql =
        up ? "UPDATE schema_migrations SET dirty = false, error = NULL, applied_at = now()"
             " WHERE version = $1"
           : record_sql;
    return exec_params(conn, done_sql, 1, params, file);
}

/*
 * With the lock held: makes sure schema_migrations exists, reads it and
 * refuses dirty or changed migrations. Returns 0 or a negative code.
 */
static int load_checked(PGconn *conn, const struct migration *set, size_t n, struct state *st)
{
    int rc = migrate_prepare_table(conn);
    if (rc == 0)
        rc = state_load(conn, st);
    if (rc == 0)
        rc = state_check(st, set, n);
    return rc;
}

/* The one value of a one-row query ("" on error, logged). Caller clears res. */
static const char *value_of(PGconn *conn, const char *sql, PGresult **res)
{
    *res = PQexec(conn, sql);
    if (PQresultStatus(*res) == PGRES_TUPLES_OK && PQntuples(*res) == 1)
        return PQgetvalue(*res, 0, 0);
    char err[512];
    LOG(LOG_ERROR, "cannot read the database's tables",
        LOG_STR("error", db_errmsg(conn, *res, err, sizeof(err))));
    return NULL;
}

/*
 * A database with a requests table where no migration was ever recorded was
 * not made by tgdesk (the Python bot's, most likely): CREATE TABLE would
 * fail on it, and the operator should be told what to run instead. (An
 * empty schema_migrations counts as none: older releases created it before
 * failing.)
 */
static int refuse_foreign_tables(PGconn *conn)
{
    PGresult *res;
    const char *v = value_of(conn,
                             "SELECT CASE WHEN to_regclass('requests') IS NULL THEN 'none'"
                             " WHEN to_regclass('schema_migrations') IS NULL THEN 'foreign'"
                             " ELSE 'check' END",
                             &res);
    int rc = v ? 0 : -EIO;
    bool foreign = v && strcmp(v, "foreign") == 0;
    if (v && strcmp(v, "check") == 0) {
        PQclear(res);
        v = value_of(conn, "SELECT count(*) = 0 FROM schema_migrations", &res);
        rc = v ? 0 : -EIO;
        foreign = v && v[0] == 't';
    }
    PQclear(res);
    if (foreign) {
        LOG(LOG_ERROR,
            "the database already has a requests table that tgdesk's migrations did not create"
            " (the Python bot's?): run `tgdesk adopt --dry-run` to see what adopting it would do,"
            " then `tgdesk adopt`",
            LOG_STR("table", "requests"));
        rc = -EEXIST;
    }
    return rc;
}

int migrate_up(PGconn *conn, const struct migration *set, size_t n, int limit, FILE *out)
{
    return migrate_up_backup(conn, set, n, limit, NULL, out);
}

int migrate_up_backup(PGconn *conn, const struct migration *set, size_t n, int limit,
                      const char *backup_dir, FILE *out)
{
    struct state st = {0};
    struct buf before, touched; /* fingerprints before, oids of changed rows */
    buf_init(&before, SIZE_MAX);
    buf_init(&touched, SIZE_MAX);
    int rc = migrate_lock(conn);
    if (rc < 0)
        goto out_unlocked;
    rc = refuse_foreign_tables(conn);
    if (rc == 0)
        rc = load_checked(conn, set, n, &st);
    if (rc < 0)
        goto out;

    int applied = 0;
    for (size_t i = 0; i < n && (limit <= 0 || applied < limit); i++) {
        const struct migration *m = &set[i];
        if (find_applied(&st, m->version))
            continue;
        if (applied == 0 && backup_dir) {
            char label[40];
            snprintf(label, sizeof(label), "before-%04" PRId64, m->version);
            rc = db_backup(conn, backup_dir, label, out);
            if (rc < 0)
                goto out;
        }
        if (applied == 0 &&
            append_value(conn, FINGERPRINTS "SELECT coalesce(string_agg(f, ','), '') FROM fp", NULL,
                         &before) < 0) {
            rc = -EIO;
            goto out;
        }
        int64_t t0 = clock_mono_ms();
        rc = run_one(conn, m, true, &touched);
        if (rc < 0)
            goto out;
        int64_t ms = clock_mono_ms() - t0;
        LOG(LOG_INFO, "migration applied", LOG_INT("version", m->version), LOG_STR("name", m->name),
            LOG_INT("duration_ms", ms));
        if (out)
            fprintf(out, "applied %04" PRId64 "_%s (%" PRId64 " ms)\n", m->version, m->name, ms);
        applied++;
    }
    rc = applied;
    /* The migrations stand even when this fails (logged); autovacuum catches up. */
    if (applied > 0 && buf_error(&before) == 0 && buf_error(&touched) == 0)
        analyze_changed(conn, buf_str(&before), buf_str(&touched), out);
out:
    state_free(&st);
    migrate_unlock(conn);
out_unlocked:
    buf_free(&before);
    buf_free(&touched);
    return rc;
}

int migrate_down(PGconn *conn, const struct migration *set, size_t n, int steps, FILE *out)
{
    struct state st = {0};
    int rc = migrate_lock(conn);
    if (rc < 0)
        return rc;
    rc = load_checked(conn, set, n, &st);
    if (rc < 0)
        goto out;

    int reverted = 0;
    for (size_t i = st.n; i > 0 && reverted < steps; i--) {
        const struct applied *a = &st.rows[i - 1];
        const struct migration *m = find_migration(set, n, a->version);
        if (!m || !m->down_sql) {
            LOG(LOG_ERROR, m ? "migration has no down file" : "migration is unknown to this binary",
                LOG_INT("version", a->version), LOG_STR("name", a->name));
            rc = -ENOTSUP;
            goto out;
        }
        int64_t t0 = clock_mono_ms();
        rc = run_one(conn, m, false, NULL);
        if (rc < 0)
            goto out;
        int64_t ms = clock_mono_ms() - t0;
        LOG(LOG_INFO, "migration reverted", LOG_INT("version", m->version),
            LOG_STR("name", m->name), LOG_INT("duration_ms", ms));
        if (out)
            fprintf(out, "reverted %04" PRId64 "_%s (%" PRId64 " ms)\n", m->version, m->name, ms);
        reverted++;
    }
    rc = reverted;
out:
    state_free(&st);
    migrate_unlock(conn);
    return rc;
}

int migrate_status(PGconn *conn, const struct migration *set, size_t n, FILE *out)
{
    struct state st = {0};
    int rc = state_load(conn, &st);
    if (rc < 0)
        return rc;

    bool clean = true;
    fprintf(out, "%-8s %-24s %-8s %s\n", "VERSION", "NAME", "STATE", "DETAIL");
    size_t i = 0, j = 0;
    while (i < n || j < st.n) {
        const struct migration *m = i < n ? &set[i] : NULL;
        const struct applied *a = j < st.n ? &st.rows[j] : NULL;
        if (a && (!m || a->version < m->version)) {
            fprintf(out, "%04" PRId64 "     %-24s %-8s %s\n", a->version, a->name,
                    a->dirty ? "dirty" : "unknown",
                    a->dirty ? a->error : "applied by a newer release; not in this binary");
            if (a->dirty)
                clean = false;
            j++;
            continue;
        }
        if (!a || m->version < a->version) {
            fprintf(out, "%04" PRId64 "     %-24s %-8s\n", m->version, m->name, "pending");
            clean = false;
            i++;
            continue;
        }
        if (a->dirty) {
            fprintf(out, "%04" PRId64 "     %-24s %-8s %s\n", m->version, m->name, "dirty",
                    a->error);
            clean = false;
        } else if (strcmp(a->checksum, m->checksum) != 0) {
            fprintf(out, "%04" PRId64 "     %-24s %-8s file changed since it was applied\n",
                    m->version, m->name, "changed");
            clean = false;
        } else {
            fprintf(out, "%04" PRId64 "     %-24s %-8s %s UTC\n", m->version, m->name, "applied",
                    a->applied_at);
        }
        i++;
        j++;
    }
    state_free(&st);
    return clean ? 0 : 1;
}

int migrate_grants(PGconn *conn, const char *role, FILE *out)
{
    /* The serving role reads and writes rows; the owner keeps the DDL. Tables
     * a later migration creates get the same through the default privileges
     * of the role that runs migrations. */
    static const char sql[] =
        "WITH rel AS (SELECT c.relname, c.relkind FROM pg_class c"
        "  WHERE c.relnamespace = current_schema()::regnamespace"
        "  AND c.relname NOT IN ('schema_migrations', 'alembic_version'))"
        " SELECT line FROM ("
        " SELECT 1, format('GRANT USAGE ON SCHEMA %I TO %I;', current_schema(), $1::text)"
        " UNION ALL SELECT 2, format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %s TO %I;',"
        "  string_agg(quote_ident(relname), ', ' ORDER BY relname), $1::text)"
        "  FROM rel WHERE relkind IN ('r', 'p') HAVING count(*) > 0"
        " UNION ALL SELECT 3, format('GRANT USAGE ON SEQUENCE %s TO %I;',"
        "  string_agg(quote_ident(relname), ', ' ORDER BY relname), $1::text)"
        "  FROM rel WHERE relkind = 'S' HAVING count(*) > 0"
        " UNION ALL SELECT 4, format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I"
        "  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I;', current_schema(), $1::text)"
        " UNION ALL SELECT 5, format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I"
        "  GRANT USAGE ON SEQUENCES TO %I;', current_schema(), $1::text)"
        " ) AS g(n, line) ORDER BY n";
    const char *params[1] = {role};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char err[512];
        LOG(LOG_ERROR, "cannot list tgdesk's tables",
            LOG_STR("error", db_errmsg(conn, res, err, sizeof(err))));
        PQclear(res);
        return -EIO;
    }
    int rc = 0;
    if (PQntuples(res) < 5) {
        LOG(LOG_ERROR, "the schema has no tables yet: run `tgdesk migrate up` first",
            LOG_STR("role", role));
        rc = -ENOENT;
    }
    for (int r = 0; rc == 0 && r < PQntuples(res); r++)
        fprintf(out, "%s\n", PQgetvalue(res, r, 0));
    PQclear(res);
    return rc;
}
