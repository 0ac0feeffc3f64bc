/*
 * adopt.h - taking over the database of the Python support bot tgdesk
 * replaces (SQLAlchemy + Alembic).
 *
 * That bot keeps requests, messages and logs tables (ids from sequences,
 * user ids integer before its fix_bigint_columns migration and bigint after,
 * times without time zone) and its Alembic revision in alembic_version.
 * adopt_run() recognises those tables, refuses anything else with the
 * differences named, and converts them to tgdesk's schema in one
 * transaction under the migration lock: the old tables move aside, tgdesk's
 * transactional migrations create its tables (and are recorded in
 * schema_migrations), every row is copied with its id (times read in the
 * given time zone, statuses mapped, users derived from the requests), the
 * identity sequences continue past the highest id the old bot handed out,
 * the counts are compared, the old tables are dropped and alembic_version
 * stays with a comment saying so. After the commit the changed tables are
 * analysed and the remaining migrations run as `migrate up` runs them.
 */
#ifndef TGDESK_DB_ADOPT_H
#define TGDESK_DB_ADOPT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "migrate.h"

struct adopt_options {
    const char *timezone;   /* ADOPT_TIMEZONE: how the old naive times are read */
    bool dry_run;           /* do everything, then roll back */
    const char *backup_dir; /* MIGRATE_BACKUP_DIR: pg_dump before adopting; NULL: none */
};

/*
 * Adopts the database conn is connected to (see above), using the
 * migrations set (n entries, ascending). What it does (or, dry, would do)
 * goes to out; why it refuses goes to err, one line per difference or
 * problem. Returns 0 when adopted (or when the dry run went through), 1 when
 * the database already has tgdesk's schema (nothing done), -EINVAL when the
 * database is not the Python bot's or holds rows tgdesk cannot keep (nothing
 * done), another negative code on a database error (logged; rolled back).
 */
int adopt_run(PGconn *conn, const struct migration *set, size_t n, const struct adopt_options *opt,
              FILE *out, FILE *err);

#endif
