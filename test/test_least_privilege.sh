#!/usr/bin/env bash
# Least privilege: the schema's owner migrates (MIGRATE_DATABASE_URL), and the
# whole desk serves as a role that has only what `tgdesk db grants ROLE`
# printed - rows of tgdesk's tables and its sequences. That role cannot drop
# or create a table.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg
export LOG_LEVEL=warn

admin_db=$(new_db)
owner=tgdesk_owner_$$ app=tgdesk_app_$$
dbname=${admin_db##*dbname=}
sql "$TGDESK_TEST_PG" "CREATE ROLE $owner LOGIN; CREATE ROLE $app LOGIN;
                       ALTER DATABASE $dbname OWNER TO $owner" >/dev/null
t_cleanups+=("psql '$TGDESK_TEST_PG' -qAtc 'DROP DATABASE IF EXISTS $dbname WITH (FORCE)' >/dev/null 2>&1; psql '$TGDESK_TEST_PG' -qAtc 'DROP ROLE IF EXISTS $app; DROP ROLE IF EXISTS $owner' >/dev/null 2>&1")
owner_db="$admin_db user=$owner"
app_db="$admin_db user=$app"
# PostgreSQL 15 and later: only the database owner creates in public.
sql "$admin_db" "REVOKE CREATE ON SCHEMA public FROM PUBLIC" >/dev/null

# Migrations as the owner, even when DATABASE_URL names the serving role.
run env DATABASE_URL="$app_db" MIGRATE_DATABASE_URL="$owner_db" "$TGDESK_BIN" migrate up
expect_eq "migrate up as MIGRATE_DATABASE_URL exits 0" 0 "$rc"
expect_eq "the owner owns every table" "$owner" \
    "$(sql "$admin_db" "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'")"

run env DATABASE_URL="$app_db" MIGRATE_DATABASE_URL="$owner_db" "$TGDESK_BIN" db grants "$app"
expect_eq "db grants exits 0" 0 "$rc"
# every table the migrations made but their own bookkeeping, in name order
tables=$(sql "$admin_db" "SELECT string_agg(tablename, ', ' ORDER BY tablename) FROM pg_tables
    WHERE schemaname = 'public' AND tablename <> 'schema_migrations'")
expect_contains "db grants: row rights on the tables ($tables)" "$out" \
    "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE $tables TO $app;"
expect_contains "... the desk's tables among them" "$tables" "bot_state, "
expect_contains "db grants: the sequences" "$out" "GRANT USAGE ON SEQUENCE "
expect_not_contains "db grants: not schema_migrations" "$out" "schema_migrations"
expect_not_contains "db grants: no DDL, no ALL" "$out" "ALL"
psql "$owner_db" -qAtX -v ON_ERROR_STOP=1 <<<"$out" >/dev/null
ok "the owner applies the printed statements"

run env DATABASE_URL="$app_db" "$TGDESK_BIN" db grants
expect_eq "db grants without a role is a usage error" 2 "$rc"

# The app role cannot change the schema.
run psql "$app_db" -qAtX -c "DROP TABLE requests"
expect_contains "DROP TABLE is refused to the serving role" "$err" "must be owner of table requests"
run psql "$app_db" -qAtX -c "CREATE TABLE sneaky (x int)"
expect_contains "CREATE TABLE is refused to the serving role" "$err" "permission denied for schema public"
run psql "$app_db" -qAtX -c "SELECT count(*) FROM schema_migrations"
expect_contains "schema_migrations is the owner's" "$err" "permission denied"

# Migrate-on-start as the owner, serving as the app role: the whole desk.
db=$app_db
start_fake
start_tgdesk DATABASE_URL="$app_db" MIGRATE_DATABASE_URL="$owner_db" TELEGRAM_GLOBAL_RPS=10000 \
    ADMIN_IDS=5550000001 LOG_DB_LEVEL=info LOG_LEVEL=info || {
    not_ok "tgdesk serves as the app role" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
ok "tgdesk serves as the app role"
U1=6200000001 STAFF=5550000001
mark
say message 301 $U1 $U1 'Hello from a least-privileged desk' --name Uma
R=$(q "SELECT id FROM requests WHERE user_id = $U1")
expect_calls "a request is opened and staff told" \
    "sendMessage $U1 Request #$R created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one." \
    "sendMessage $STAFF New request #$R from Uma:⏎Hello from a least-privileged desk [take:$R,close:$R]"
mark
say message 302 $STAFF $STAFF "/take $R" --name Sid
say message 303 $STAFF $STAFF "/reply $R On it" --name Sid
say message 304 $U1 $U1 'Thanks' --name Uma --mid 304
say edited 305 $U1 $U1 'Thanks a lot' --mid 304 --edit-date 1700000000 --name Uma
say message 306 $STAFF $STAFF "/solve $R Fixed" --name Sid
say message 307 $STAFF $STAFF "/stats" --name Sid
say message 308 $STAFF $STAFF "/history $R" --name Sid
settle
expect_eq "the request went through every status" "solved|$STAFF" \
    "$(q "SELECT status || '|' || assigned_admin FROM requests WHERE id = $R")"
expect_eq "the edit was recorded" "1" "$(q "SELECT count(*) FROM message_edits")"
if wait_for 20 sql_ge "$app_db" "SELECT count(*) FROM logs WHERE audit" 2; then ok "audit rows were written"
else not_ok "audit rows were written" "$(q "SELECT count(*) FROM logs WHERE audit")"; fi
r=$(curl -s "$base/health")
expect_contains "/health is healthy as the app role" "$r" '{"status":"pass"'
expect_not_contains "no permission error in the log" "$(cat "$scratch/tgdesk.log")" "permission denied"
stop_tgdesk
expect_eq "tgdesk stops cleanly" 0 "$stop_rc"

# A migration of a later release creates a table: the default privileges
# printed by db grants give the app role its rows too.
sql "$owner_db" "CREATE TABLE later_table (x int)" >/dev/null
expect_eq "tables the owner creates later are open to the app role" "0" \
    "$(sql "$app_db" "SELECT count(*) FROM later_table")"

finish
