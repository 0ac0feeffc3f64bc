/*
 * backup.h - a pg_dump of the database before its schema changes.
 *
 * MIGRATE_BACKUP_DIR names a directory; before migrations are applied (and
 * before `adopt`), `pg_dump --format=custom` of the database the migration
 * connection is connected to is written there as
 * tgdesk-DBNAME-YYYYMMDDTHHMMSSZ-LABEL.dump (LABEL says what follows, e.g.
 * "before-0009"). pg_dump connects exactly as that connection did (its
 * parameters, the password passed through the environment rather than the
 * command line). The file appears under its name only once pg_dump
 * succeeded; restore with pg_restore (see the README).
 */
#ifndef TGDESK_DB_BACKUP_H
#define TGDESK_DB_BACKUP_H

#include <libpq-fe.h>
#include <stdio.h>

/*
 * Runs pg_dump (from PATH) of conn's database into dir and waits for it.
 * The path of the dump is written to out (may be NULL). Returns 0, -ECHILD
 * when pg_dump could not run or failed (logged with its exit status; no file
 * is left behind), -ENOMEM. Not thread-safe with respect to other code
 * changing the environment.
 */
int db_backup(PGconn *conn, const char *dir, const char *label, FILE *out);

#endif
