#!/usr/bin/env bash
# Nothing acknowledged is lost, nothing is processed twice: the database
# stopped under load, tgdesk killed with SIGKILL under load, SIGTERM under
# load. A simulator plays Telegram: it sends every update again until 2xx.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg
sim() { /usr/bin/python3 "$TGDESK_SOURCE_ROOT/test/tgsim.py" "$@"; }

private_pg
start_fake
start_tgdesk DB_POOL_TIMEOUT=2 DB_CONNECT_TIMEOUT=2 TELEGRAM_GLOBAL_RPS=20000 || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

# check_exactly_once ACKED_FILE FIRST_ID COUNT LABEL
check_exactly_once() {
    local acked=$1 first=$2 count=$3 label=$4
    local n_acked in_db
    n_acked=$(wc -l <"$acked")
    in_db=$(sql "$db" "SELECT count(*) FROM processed_updates WHERE update_id BETWEEN $first AND $((first + count - 1))")
    expect_eq "$label: every update acknowledged" "$count" "$n_acked"
    missing=$(sql "$db" "SELECT count(*) FROM unnest('{$(paste -sd, "$acked")}'::bigint[]) a(id)
                         WHERE NOT EXISTS (SELECT 1 FROM processed_updates p WHERE p.update_id = a.id)")
    expect_eq "$label: no acknowledged update missing" 0 "$missing"
    expect_eq "$label: one request and one message per update" "$in_db|$in_db" \
        "$(sql "$db" "SELECT count(DISTINCT r.id) || '|' || count(m.id) FROM requests r JOIN messages m ON m.request_id = r.id
                      WHERE r.user_id BETWEEN $first + 2500000000 AND $first + 2500000000 + $count - 1")"
}

# 1. The database stops in the middle of a load and comes back.
sim post-many "$base/webhook" --secret "$secret" --count 3000 --concurrency 10 --first-id 500000000 \
    --user-base 3000000000 --acked "$scratch/a1" --deadline 90 --rate 500 >"$scratch/sim1.out" &
sim_pid=$!
wait_for 10 sql_ge "$db" "SELECT count(*) FROM processed_updates" 100 || true
"$TGDESK_SOURCE_ROOT/scripts/pg.sh" stop "$ppg_dir"
sleep 3
code=$(post_json '{"update_id":1,"message":{"message_id":1,"from":{"id":5,"is_bot":false,"first_name":"A"},"chat":{"id":5,"type":"private"},"date":1,"text":"x"}}')
expect_eq "database down: 503" 503 "$code"
retry=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
    -H "X-Telegram-Bot-Api-Secret-Token: $secret" --data-binary @"$scratch/body.json" "$base/webhook" | sed -n 's/^Retry-After: \([0-9]*\).*/\1/p')
if [ -n "$retry" ]; then ok "database down: Retry-After $retry"; else not_ok "database down: Retry-After"; fi
"$TGDESK_SOURCE_ROOT/scripts/pg.sh" start "$ppg_dir" "$ppg_port" --fast
wait "$sim_pid" || true
expect_contains "database down: the simulator saw 503s" "$(cat "$scratch/sim1.out")" '"503"'
check_exactly_once "$scratch/a1" 500000000 3000 "database restart"
expect_eq "database restart: no request without its message" 0 \
    "$(sql "$db" "SELECT count(*) FROM requests r WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.request_id = r.id)")"

# 2. SIGKILL in the middle of a load, restarted on the same port.
sim post-many "$base/webhook" --secret "$secret" --count 2000 --concurrency 10 --first-id 500010000 \
    --user-base 3000010000 --acked "$scratch/a2" --deadline 90 --rate 1000 >"$scratch/sim2.out" &
sim_pid=$!
wait_for 10 sql_ge "$db" "SELECT count(*) FROM processed_updates WHERE update_id >= 500010000" 100 || true
stop_tgdesk KILL
keep_port=$tg_port
start_tgdesk DB_POOL_TIMEOUT=2 TELEGRAM_GLOBAL_RPS=20000 || not_ok "restart after SIGKILL" "$(tail -5 "$scratch/tgdesk.log")"
wait "$sim_pid" || true
check_exactly_once "$scratch/a2" 500010000 2000 "SIGKILL"
# Every request got its reply, at least once (leases expire after 10 s).
want=$(sql "$db" "SELECT count(*) FROM requests")
if wait_for 30 sh -c "[ \"\$(curl -s '$fake_url/control/calls?method=sendMessage' | /usr/bin/python3 -c 'import json,sys; print(len({c[\"body\"][\"chat_id\"] for c in json.load(sys.stdin) if c[\"status\"] == 200}))')\" -ge $want ]"; then
    ok "SIGKILL: every request got its reply"
else
    not_ok "SIGKILL: every request got its reply" "pending: $(sql "$db" "SELECT count(*) FROM outbox")"
fi

# 3. SIGTERM under load: what was acknowledged is committed; exit 0.
sim post-many "$base/webhook" --secret "$secret" --count 2000 --concurrency 10 --first-id 500020000 \
    --user-base 3000020000 --acked "$scratch/a3" --deadline 6 --rate 1000 >"$scratch/sim3.out" &
sim_pid=$!
wait_for 10 sql_ge "$db" "SELECT count(*) FROM processed_updates WHERE update_id >= 500020000" 100 || true
stop_tgdesk TERM
expect_eq "SIGTERM under load: exit 0" 0 "$stop_rc"
wait "$sim_pid" || true
acked=$(wc -l <"$scratch/a3")
missing=$(sql "$db" "SELECT count(*) FROM unnest('{$(paste -sd, "$scratch/a3")}'::bigint[]) a(id)
                     WHERE NOT EXISTS (SELECT 1 FROM processed_updates p WHERE p.update_id = a.id)")
expect_eq "SIGTERM under load: all $acked acknowledged updates committed" 0 "$missing"

finish
