/*
 * migrate.h - schema migrations.
 *
 * Migrations are SQL files sql/migrations/NNNN_name.up.sql and .down.sql,
 * embedded in the binary at build time (scripts/embed_migrations.py) with the
 * SHA-256 of each up file. They are recorded in schema_migrations(version,
 * name, checksum, applied_at, dirty, error).
 *
 * Every run holds a PostgreSQL advisory lock, so instances started together
 * migrate once. A file runs in one transaction together with its
 * schema_migrations row, unless its first line is
 * "-- tgdesk:no-transaction": then its statements run one by one with a dirty
 * mark set before and cleared after, so a failure half-way stays visible and
 * blocks later runs until an operator repairs the schema and clears it.
 * An applied migration whose checksum changed stops every run.
 */
#ifndef TGDESK_DB_MIGRATE_H
#define TGDESK_DB_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct migration {
    int64_t version;
    const char *name; /* "core" for 0001_core.up.sql */
    const char *up_sql;
    const char *down_sql; /* NULL: irreversible */
    const char *checksum; /* hex SHA-256 of the up file */
    bool up_no_tx;
    bool down_no_tx;
};

/* The migrations built into this binary, ascending by version. */
extern const struct migration migrations_builtin[];
extern const size_t migrations_builtin_count;

/* Advisory lock key shared by every tgdesk instance ("tgdesk" in ASCII). */
#define MIGRATE_LOCK_KEY INT64_C(0x74676465736b)

/*
 * Takes the migration lock (an advisory lock of the session, so the calls
 * nest), waiting up to 15 minutes for another instance. Returns 0, -ETIMEDOUT
 * or -EIO (logged). Release with migrate_unlock().
 */
int migrate_lock(PGconn *conn);
void migrate_unlock(PGconn *conn);

/* Creates schema_migrations when missing (call with the lock held). 0 or -EIO. */
int migrate_prepare_table(PGconn *conn);

/*
 * Runs m's up file and records it in schema_migrations, inside the caller's
 * transaction (m must not be a no-transaction file). 0 or -EIO (logged).
 */
int migrate_apply_in_tx(PGconn *conn, const struct migration *m);

/*
 * Applies pending migrations of set (n entries, ascending), at most limit of
 * them (0: all). Progress lines go to out (may be NULL). Returns the number
 * applied (>= 0), -EBADMSG when an applied file changed, -EBUSY when a dirty
 * mark blocks, -ETIMEDOUT when another instance held the migration lock for
 * 15 minutes, -EEXIST when nothing was ever applied but the database
 * already has tables of its own (the Python bot's: `tgdesk adopt` is what
 * to run), -EIO on a database error. Details are logged.
 */
int migrate_up(PGconn *conn, const struct migration *set, size_t n, int limit, FILE *out);

/*
 * migrate_up(), but when backup_dir is not NULL and something is pending,
 * pg_dump of the database goes into it first (see backup.h); when the dump
 * fails nothing is applied and -ECHILD is returned.
 */
int migrate_up_backup(PGconn *conn, const struct migration *set, size_t n, int limit,
                      const char *backup_dir, FILE *out);

/*
 * Reverts the last steps applied migrations (newest first). Returns the
 * number reverted, or a negative code as migrate_up; -ENOTSUP when one has no
 * down file.
 */
int migrate_down(PGconn *conn, const struct migration *set, size_t n, int steps, FILE *out);

/*
 * Prints one line per migration (applied with date, pending, dirty with its
 * error, changed, or unknown to this binary) to out. Returns 0 when nothing
 * is pending, dirty or changed, 1 when something is, -EIO on a database
 * error.
 */
int migrate_status(PGconn *conn, const struct migration *set, size_t n, FILE *out);

/*
 * Prints, one per line to out, the statements that let role serve and no
 * more: USAGE on the schema, SELECT/INSERT/UPDATE/DELETE on every table of
 * the current schema but schema_migrations and alembic_version, USAGE on its
 * sequences, and the same as default privileges for what the connected role
 * (the one running migrations) creates later. Returns 0, -ENOENT when there
 * are no tables yet, -EIO (logged).
 */
int migrate_grants(PGconn *conn, const char *role, FILE *out);

#endif
