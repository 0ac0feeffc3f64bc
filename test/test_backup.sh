#!/usr/bin/env bash
# MIGRATE_BACKUP_DIR: `migrate up` and the migrations at start dump the
# database (pg_dump --format=custom) before applying anything, nothing when
# nothing is pending, and refuse to migrate when the dump fails. The dump
# restores with pg_restore, rows and all.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg
export LOG_LEVEL=warn

db=$(new_db)
bk=$scratch/backups
mkdir -p "$bk"
export DATABASE_URL="$db"
dumps() { find "$bk" -type f | sort; }

run "$TGDESK_BIN" migrate up
total=$(sql "$db" "SELECT count(*) FROM schema_migrations")
sql "$db" "INSERT INTO users (user_id, username) VALUES (6123456789, 'zoë');
           INSERT INTO requests (id, user_id, issue) VALUES (41, 6123456789, 'order A-1042')" >/dev/null
run "$TGDESK_BIN" migrate down 1
expect_eq "setup: one migration pending" "$((total - 1))" "$(sql "$db" "SELECT count(*) FROM schema_migrations")"

# pg_dump failing (here: a pg_dump that exits 1; then none in PATH): nothing applied.
mkdir -p "$scratch/bin"
printf '#!/bin/sh\necho "pg_dump: error: disk full" >&2\nexit 1\n' >"$scratch/bin/pg_dump"
chmod +x "$scratch/bin/pg_dump"
run env PATH="$scratch/bin:$PATH" MIGRATE_BACKUP_DIR="$bk" "$TGDESK_BIN" migrate up
expect_eq "a failed dump: migrate up exits 1" 1 "$rc"
expect_contains "a failed dump: said so" "$err" "pg_dump failed: the backup before migrating was not made"
expect_eq "a failed dump: nothing applied" "$((total - 1))" "$(sql "$db" "SELECT count(*) FROM schema_migrations")"
expect_eq "a failed dump: no file left behind" "" "$(dumps)"
run env PATH=/nonexistent MIGRATE_BACKUP_DIR="$bk" "$TGDESK_BIN" migrate up
expect_eq "no pg_dump: migrate up exits 1" 1 "$rc"
expect_contains "no pg_dump: said so" "$err" "cannot run pg_dump"
expect_eq "no pg_dump: nothing applied" "$((total - 1))" "$(sql "$db" "SELECT count(*) FROM schema_migrations")"

# serve: the migrations at start refuse too, and serve exits.
run env PATH="$scratch/bin:$PATH" MIGRATE_BACKUP_DIR="$bk" WEBHOOK_INSECURE=true PORT=0 \
    DB_INIT_RETRIES=3 DB_INIT_RETRY_DELAY=10 "$TGDESK_BIN" serve
expect_eq "a failed dump at start: serve exits 1 at once" 1 "$rc"
expect_eq "a failed dump at start: nothing applied" "$((total - 1))" "$(sql "$db" "SELECT count(*) FROM schema_migrations")"

# The real pg_dump: a dump, then the migration.
run env MIGRATE_BACKUP_DIR="$bk" "$TGDESK_BIN" migrate up
expect_eq "migrate up with a backup exits 0" 0 "$rc"
expect_contains "the backup is reported before the migration" "$(head -n 1 <<<"$out")" "backup $bk/tgdesk-"
file=$(dumps)
expect_eq "one dump, named after the database and the first pending version" 1 \
    "$(grep -cE "/tgdesk-${db##*dbname=}-[0-9]{8}T[0-9]{6}Z-before-[0-9]{4}\.dump$" <<<"$file")"
expect_eq "the dump is readable by its owner only" 600 "$(stat -c %a "$file")"
expect_eq "then the migration was applied" "$total" "$(sql "$db" "SELECT count(*) FROM schema_migrations")"

run env MIGRATE_BACKUP_DIR="$bk" "$TGDESK_BIN" migrate up
expect_contains "nothing pending: nothing to apply" "$out" "nothing to apply"
expect_eq "nothing pending: no dump" "$file" "$(dumps)"

# Restoring it (as the README says) gives the rows and the schema of then.
restored=$(new_db)
run pg_restore --no-owner --dbname="$restored" "$file"
expect_eq "pg_restore exits 0" 0 "$rc"
expect_eq "the restored database has the rows" "41|6123456789|order A-1042|zoë" \
    "$(sql "$restored" "SELECT r.id || '|' || r.user_id || '|' || r.issue || '|' || u.username FROM requests r JOIN users u USING (user_id)")"
expect_eq "the restored database is at the version before the migration" "$((total - 1))" \
    "$(sql "$restored" "SELECT count(*) FROM schema_migrations")"

# Migrations at start: a dump before them too.
rm -f "$bk"/*
run "$TGDESK_BIN" migrate down 1
port=$(freeport)
env MIGRATE_BACKUP_DIR="$bk" WEBHOOK_INSECURE=true PORT="$port" DRAIN_SECONDS=0 "$TGDESK_BIN" serve 2>"$scratch/serve.log" &
pid=$!
t_cleanups+=("kill -9 $pid 2>/dev/null")
if wait_http "http://127.0.0.1:$port/livez" 20; then ok "serve starts after its backup"; else
    not_ok "serve starts after its backup" "$(cat "$scratch/serve.log")"; fi
kill -TERM $pid
wait $pid || true
expect_eq "serve made one dump before migrating" 1 "$(dumps | grep -c 'before-')"
expect_eq "and migrated" "$total" "$(sql "$db" "SELECT count(*) FROM schema_migrations")"

# adopt: a dump of the Python bot's database before converting it.
old=$(new_db)
sql "$old" "CREATE TABLE requests (id serial PRIMARY KEY, user_id bigint NOT NULL, issue text NOT NULL,
    assigned_admin bigint, status varchar(20) NOT NULL, solution text, created_at timestamp, updated_at timestamp);
CREATE TABLE messages (id serial PRIMARY KEY, request_id integer REFERENCES requests (id), sender_id bigint NOT NULL,
    sender_type varchar(10) NOT NULL, message text NOT NULL, timestamp timestamp);
CREATE TABLE logs (id serial PRIMARY KEY, timestamp timestamp, level varchar(20), message text, context text);
INSERT INTO requests (user_id, issue, status, created_at) VALUES (6500000001, 'old one', 'open', now())" >/dev/null
rm -f "$bk"/*
run env DATABASE_URL="$old" MIGRATE_BACKUP_DIR="$bk" "$TGDESK_BIN" adopt
expect_eq "adopt with a backup exits 0" 0 "$rc"
expect_eq "adopt dumped the old tables first" 1 "$(dumps | grep -c 'before-adopt\.dump$')"
expect_contains "the dump holds the old requests table" "$(pg_restore --list "$(dumps)")" "TABLE public requests"

finish
