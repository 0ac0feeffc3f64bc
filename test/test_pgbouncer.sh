#!/usr/bin/env bash
# Behind PgBouncer in transaction mode: with DB_PREPARED_STATEMENTS=false the
# desk's traffic goes through a pgbouncer that multiplexes tgdesk's
# connections over fewer server connections - updates processed, replies at
# the fake Bot API, rows right, no statement prepared on the server.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg
command -v pgbouncer >/dev/null || PATH=$PATH:/usr/sbin
command -v pgbouncer >/dev/null || { echo "# pgbouncer is not installed: skipping"; exit 77; }
sim() { /usr/bin/python3 "$TGDESK_SOURCE_ROOT/test/tgsim.py" "$@"; }

BOB=5550000001
N=300

private_pg
direct=$db

# pgbouncer refuses to run as root: then it runs as the postgres user.
pgb="$scratch/pgbouncer"
mkdir -p "$pgb"
[ "$(id -u)" -ne 0 ] || chown postgres: "$pgb"
as_pgb() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
pgb_port=$(freeport)
echo '"postgres" ""' >"$pgb/users.txt"
# Three server connections for up to eight of tgdesk's: each transaction may
# run on another server connection than the last, so a statement prepared
# on one would be missing on the next. The options startup parameter
# (statement_timeout, plan_cache_mode) is not one pgbouncer 1.18 passes on.
cat >"$pgb/pgbouncer.ini" <<INI
[databases]
tgdesk = host=127.0.0.1 port=$ppg_port dbname=tgdesk user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = trust
auth_file = $pgb/users.txt
pool_mode = transaction
default_pool_size = 3
max_client_conn = 100
ignore_startup_parameters = options
logfile = $pgb/pgbouncer.log
pidfile = $pgb/pgbouncer.pid
INI
as_pgb pgbouncer "$pgb/pgbouncer.ini" >"$scratch/pgbouncer.out" 2>&1 &
pgb_pid=$!
# runuser does not pass the signal on: stop pgbouncer itself, by its pid file
t_cleanups+=("kill \$(cat '$pgb/pgbouncer.pid' 2>/dev/null) $pgb_pid 2>/dev/null")
bounced="host=127.0.0.1 port=$pgb_port user=postgres dbname=tgdesk"
if wait_for 10 sql_is "$bounced" "SELECT 1" 1; then ok "pgbouncer answers"; else
    not_ok "pgbouncer answers" "$(cat "$scratch/pgbouncer.out" "$pgb/pgbouncer.log" 2>/dev/null | tail -5)"
    finish
    exit 1
fi

# Migrations take a session lock: they go to PostgreSQL directly.
run env DATABASE_URL="$direct" "$TGDESK_BIN" migrate up
expect_eq "migrate up, directly" 0 "$rc"

start_fake
db=$bounced
start_tgdesk DB_PREPARED_STATEMENTS=false MIGRATE_ON_START=false DB_POOL_MAX=8 \
    TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB || {
    not_ok "tgdesk starts behind pgbouncer" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
db=$direct

# 1. Many users write at once (ten clients): every update processed once.
sim post-many "$base/webhook" --secret "$secret" --count $N --concurrency 10 --first-id 800000000 \
    --user-base 6200000000 --acked "$scratch/acked" --deadline 60 >"$scratch/sim.out" || true
expect_eq "every update answered 200" "$N" "$(wc -l <"$scratch/acked")"
expect_not_contains "never an error answer on the way" "$(cat "$scratch/sim.out")" '"503"'
expect_eq "one processed update, request and message per update" "$N|$N|$N" \
    "$(q "SELECT (SELECT count(*) FROM processed_updates WHERE update_id >= 800000000) || '|' ||
                 (SELECT count(*) FROM requests WHERE user_id >= 6200000000) || '|' ||
                 (SELECT count(*) FROM messages m JOIN requests r ON r.id = m.request_id
                   WHERE r.user_id >= 6200000000)")"
sent_to() { # the distinct chats that got a sendMessage, among user ids >= $1
    fake_calls sendMessage | pyq "len({c['body']['chat_id'] for c in d if c['status'] == 200 and c['body']['chat_id'] >= $1})"
}
all_answered() { [ "$(sent_to 6200000000)" = "$N" ]; }
wait_for 60 all_answered || true
expect_eq "every user got the desk's answer" "$N" "$(sent_to 6200000000)"
# The staff chat is paced (about one message a second): its first notification.
wait_for 20 sql_ge "$db" "SELECT count(*) FROM notifications WHERE chat_id = $BOB" 1 || true
expect_eq "staff notified, the rest queued at the chat's pace" "$N" \
    "$(q "SELECT count(DISTINCT r.id) FROM requests r WHERE r.user_id >= 6200000000 AND
          (EXISTS (SELECT 1 FROM notifications n WHERE n.request_id = r.id AND n.chat_id = $BOB) OR
           EXISTS (SELECT 1 FROM outbox o WHERE o.chat_id = $BOB AND o.request_id = r.id
                   AND o.status = 'pending'))")"

# 2. Staff answer one of them by replying to its notification.
R=$(q "SELECT request_id FROM notifications WHERE chat_id = $BOB ORDER BY message_id LIMIT 1")
NMID=$(q "SELECT min(message_id) FROM notifications WHERE chat_id = $BOB AND request_id = $R")
echo "# replying to notification $NMID of request $R"
USER_ID=$(q "SELECT user_id FROM requests WHERE id = $R")
mark
say message 900 $BOB $BOB 'We are on it' --name Bob --reply-to "$NMID"
copied() { calls | grep -q "sendMessage $USER_ID We are on it"; }
wait_for 20 copied || true
expect_contains "the staff reply reaches the user" "$(calls)" "sendMessage $USER_ID We are on it"
expect_eq "request assigned, staff message stored" "$BOB|2" \
    "$(q "SELECT assigned_admin || '|' || (SELECT count(*) FROM messages WHERE request_id = $R) FROM requests WHERE id = $R")"

# 3. Through pgbouncer indeed, with nothing prepared on the server.
expect_eq "tgdesk's connections shared pgbouncer's three to the server" 1 \
    "$(q "SELECT (count(*) <= 3)::int FROM pg_stat_activity WHERE datname = 'tgdesk' AND pid <> pg_backend_pid()")"
expect_eq "no statement prepared on the server" 0 \
    "$(sql "$bounced" "SELECT count(*) FROM pg_prepared_statements")"
expect_eq "no statement failed" "" \
    "$(grep -E '"level":"(error)"|prepared statement' "$scratch/tgdesk.log" | head -3)"
stop_tgdesk TERM
expect_eq "SIGTERM: exit 0" 0 "$stop_rc"

finish
