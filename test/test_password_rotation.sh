#!/usr/bin/env bash
# DATABASE_PASSWORD_FILE: the password is read for every new connection, so
# rotating it (the role's password changed, then the file) while the desk
# serves under load loses no update; the connections opened afterwards use
# the new password and the old ones age out by recycling. A cluster of the
# test's own, with password authentication over TCP.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg
export LOG_LEVEL=info

private_pg
admin="host=$ppg_dir port=$ppg_port user=postgres dbname=tgdesk"
sql "$admin" "CREATE ROLE rot LOGIN PASSWORD 'first-Pa55'; ALTER DATABASE tgdesk OWNER TO rot" >/dev/null
# TCP wants a password; the socket (the test's own admin) stays trusted.
printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$ppg_dir/data/pg_hba.conf"
sql "$admin" "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
db="host=127.0.0.1 port=$ppg_port user=rot dbname=tgdesk"
# The test's own queries go through the socket.
q() { sql "$admin" "$1"; }
pending_none() { sql_is "$admin" "SELECT count(*) FROM outbox WHERE status = 'pending'" 0; }
pwfile=$scratch/db_password
printf 'first-Pa55\n' >"$pwfile"

run env DATABASE_URL="$db" "$TGDESK_BIN" migrate status
expect_contains "without the file the password is missing" "$err" "password"
run env DATABASE_URL="$db" DATABASE_PASSWORD_FILE="$pwfile" "$TGDESK_BIN" migrate up
expect_eq "with the file: migrate up exits 0" 0 "$rc"

start_fake
start_tgdesk DATABASE_URL="$db" DATABASE_PASSWORD_FILE="$pwfile" TELEGRAM_GLOBAL_RPS=10000 \
    DB_POOL_RECYCLE=2 DB_POOL_IDLE_TIMEOUT=1 DB_POOL_MIN=2 || {
    not_ok "tgdesk serves with DATABASE_PASSWORD_FILE" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
ok "tgdesk serves with DATABASE_PASSWORD_FILE"
expect_not_contains "the password is never logged" "$(cat "$scratch/tgdesk.log")" "first-Pa55"

# Load: N users write one message each, a few posts at a time; an update
# that is not answered 200 is posted again, as Telegram redelivers.
N=${ROT_N:-400}
load() {
    local i code
    for i in $(seq 1 $N); do
        printf '%s' "$(/usr/bin/python3 "$U" message $((70000 + i)) $((6300000000 + i)) $((6300000000 + i)) "hello $i")" \
            >"$scratch/u$((i % 8)).json"
        for _ in $(seq 1 50); do
            code=$(post "$scratch/u$((i % 8)).json")
            [ "$code" = 200 ] && break
            echo "redeliver $i after $code" >>"$scratch/load.log"
            sleep 0.2
        done
        [ "$code" = 200 ] || echo "LOST $i" >>"$scratch/load.log"
        [ $((i % 4)) = 0 ] && sleep 0.02
    done
}
: >"$scratch/load.log"
load &
load_pid=$!
t_cleanups+=("kill $load_pid 2>/dev/null")

# Rotate mid-way: the role first (new connections now fail until the file
# follows), then the file.
wait_for 30 sql_ge "$admin" "SELECT count(*) FROM processed_updates" 100 || true
rotated_at=$(sql "$admin" "SELECT now()")
sql "$admin" "ALTER ROLE rot PASSWORD 'second-Pa55'" >/dev/null
# Longer than DB_POOL_RECYCLE: connections replaced meanwhile are refused.
sleep 3
printf 'second-Pa55\n' >"$pwfile.new"
mv "$pwfile.new" "$pwfile"
wait "$load_pid" || true

settle
expect_eq "no update lost: every one processed once" "$N|$N" \
    "$(q "SELECT count(*) || '|' || count(DISTINCT update_id) FROM processed_updates WHERE update_id > 70000")"
expect_eq "no update lost: every user has their request" "$N" \
    "$(q "SELECT count(*) FROM requests WHERE user_id > 6300000000")"
expect_eq "the poster gave up on nothing" "" "$(grep LOST "$scratch/load.log" || true)"

# The old connections age out (DB_POOL_RECYCLE=2); what is open now was
# opened after the rotation, hence with the new password.
sleep 3
say message 79999 6399999999 6399999999 'after the rotation'
settle
new_conns() { sql_is "$admin" "SELECT count(*) > 0 AND bool_and(backend_start > '$rotated_at') FROM pg_stat_activity WHERE application_name = 'tgdesk' AND usename = 'rot'" t; }
if wait_for 20 new_conns; then ok "every open connection was opened after the rotation"; else
    not_ok "every open connection was opened after the rotation" \
        "$(sql "$admin" "SELECT backend_start, '$rotated_at' FROM pg_stat_activity WHERE application_name = 'tgdesk'")"; fi
expect_eq "the message after the rotation was served" "1" \
    "$(q "SELECT count(*) FROM requests WHERE user_id = 6399999999")"
log=$(cat "$scratch/tgdesk.log")
expect_not_contains "neither password is ever logged" "$log" "-Pa55"
echo "# $(grep -c redeliver "$scratch/load.log" || true) redeliveries during the rotation"
expect_contains "connections opened between the two steps were refused (the window was exercised)" \
    "$log" "password authentication failed"

# The re-read on refusal, made observable: with auth_delay the server takes
# three seconds to refuse a password, and the file changes meanwhile; the
# same connect then succeeds with the new password at once.
stop_tgdesk
printf "shared_preload_libraries = 'auth_delay'\nauth_delay.milliseconds = 3000\n" >>"$ppg_dir/data/postgresql.conf"
"$TGDESK_SOURCE_ROOT/scripts/pg.sh" stop "$ppg_dir"
"$TGDESK_SOURCE_ROOT/scripts/pg.sh" start "$ppg_dir" "$ppg_port" --fast
sql "$admin" "ALTER ROLE rot PASSWORD 'third-Pa55'" >/dev/null
env DATABASE_URL="$db" DATABASE_PASSWORD_FILE="$pwfile" LOG_LEVEL=info "$TGDESK_BIN" migrate status \
    >"$scratch/status.out" 2>"$scratch/status.err" &
status_pid=$!
sleep 1
printf 'third-Pa55\n' >"$pwfile.new"
mv "$pwfile.new" "$pwfile"
set +e
wait $status_pid
rc=$?
set -e
expect_eq "refused, read again, connected: migrate status exits 0" 0 "$rc"
expect_contains "the re-read is logged" "$(cat "$scratch/status.err")" \
    "password refused; DATABASE_PASSWORD_FILE changed meanwhile: trying it"

# The serving pool too (it connects without blocking, driving libpq itself):
# the role's password changes and tgdesk's connections are ended; an update
# needs a new connection, whose password is refused three seconds later,
# while the file changed after one. The same connect reads it again and
# succeeds: the update is answered 200 and nothing backs off.
log_mark=$(wc -l <"$scratch/tgdesk.log")
start_tgdesk DATABASE_URL="$db" DATABASE_PASSWORD_FILE="$pwfile" TELEGRAM_GLOBAL_RPS=10000 \
    DB_CONNECT_TIMEOUT=20 || {
    not_ok "tgdesk serves after the restart" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
say message 80001 6388888888 6388888888 'before the fourth password'
settle
sql "$admin" "ALTER ROLE rot PASSWORD 'fourth-Pa55'" >/dev/null
sql "$admin" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'tgdesk'" >/dev/null
printf '%s' "$(/usr/bin/python3 "$U" message 80002 6388888888 6388888888 'during the fourth password')" \
    >"$scratch/u_fourth.json"
post "$scratch/u_fourth.json" >"$scratch/fourth.code" &
post_pid=$!
sleep 1
printf 'fourth-Pa55\n' >"$pwfile.new"
mv "$pwfile.new" "$pwfile"
wait $post_pid || true
expect_eq "refused, read again, connected: the serving pool answers the update 200" 200 \
    "$(cat "$scratch/fourth.code")"
expect_contains "the serving pool's re-read is logged" "$(tail -n +$((log_mark + 1)) "$scratch/tgdesk.log")" \
    "password refused; DATABASE_PASSWORD_FILE changed meanwhile: trying it"
settle
expect_eq "the update during the rotation was served" "2" \
    "$(q "SELECT count(*) FROM messages WHERE message LIKE '% the fourth password'")"

# A password file that cannot be read: said so, by name.
stop_tgdesk
run env DATABASE_URL="$db" DATABASE_PASSWORD_FILE="$scratch/nope" "$TGDESK_BIN" migrate status
expect_eq "a missing password file is a configuration error" 2 "$rc"
expect_contains "a missing password file is named" "$err" "DATABASE_PASSWORD_FILE"

finish
