#!/usr/bin/env bash
# `tgdesk serve`: migrates at start, answers HTTP, stops cleanly on SIGTERM.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg

db=$(new_db)
port=$(freeport)
export DATABASE_URL="$db" PORT="$port" LISTEN_ADDR=127.0.0.1 DRAIN_SECONDS=0
base="http://127.0.0.1:$port"

# No secret, no service: exit 2 naming WEBHOOK_SECRET, nothing migrated.
run "$TGDESK_BIN" serve
expect_eq "no WEBHOOK_SECRET: exit 2" 2 "$rc"
expect_contains "...naming WEBHOOK_SECRET" "$err" "WEBHOOK_SECRET is not set"
expect_contains "...and what to do" "$err" "tgdesk webhook set"
expect_contains "...or how to test locally" "$err" "WEBHOOK_INSECURE=true"
expect_eq "...in one line" 1 "$(printf '%s\n' "$err" | wc -l)"
expect_eq "...before touching the database" "" "$(sql "$db" "SELECT to_regclass('schema_migrations')")"
run env WEBHOOK_INSECURE=maybe "$TGDESK_BIN" serve
expect_eq "WEBHOOK_INSECURE=maybe: exit 2" 2 "$rc"
expect_contains "...naming it" "$err" "WEBHOOK_INSECURE"

# WEBHOOK_INSECURE=true: it starts, warns, and /health says so.
WEBHOOK_INSECURE=true "$TGDESK_BIN" serve 2>"$scratch/serve.err" &
pid=$!
t_cleanups+=("kill -9 $pid 2>/dev/null")
if wait_http "$base/livez" 15; then ok "serve answers HTTP"; else
    not_ok "serve answers HTTP" "$(cat "$scratch/serve.err")"; fi

expect_eq "migrated at start" "0" "$(sql "$db" "SELECT count(*) FROM schema_migrations WHERE dirty")"
expect_eq "every migration applied at start" 1 \
    "$(sql "$db" "SELECT (count(*) > 3)::int FROM schema_migrations")"
expect_eq "GET /livez is 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$base/livez")"
expect_eq "GET /livez body" "ok" "$(curl -s "$base/livez")"
expect_eq "HEAD /livez is 200" 200 "$(curl -s -I -o /dev/null -w '%{http_code}' "$base/livez")"
expect_eq "HTTP/1.0 /livez is 200" 200 "$(curl -s -0 -o /dev/null -w '%{http_code}' "$base/livez")"
expect_eq "unknown path is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$base/nope")"
hdrs=$(curl -s -D - -o /dev/null -X POST -d x "$base/livez")
expect_contains "POST /livez is 405" "$hdrs" "405"
expect_contains "405 carries Allow" "$hdrs" "Allow: GET, HEAD"

run "$TGDESK_BIN" healthcheck
expect_eq "healthcheck against a healthy instance: exit 0" 0 "$rc"
wait_for 5 sh -c "curl -s '$base/health' | grep -q '\"status\":\"pass\"'" || true
health=$(curl -s "$base/health")
expect_contains "WEBHOOK_INSECURE: /health notes the unauthenticated webhook" "$health" \
    '"notes":["the webhook is unauthenticated'
expect_contains "...and still passes" "$health" '"status":"pass"'
expect_eq "WEBHOOK_INSECURE: a webhook without a secret is taken" 200 "$(secret= post_json \
    '{"update_id":1,"message":{"message_id":1,"from":{"id":3200000001,"is_bot":false,"first_name":"I"},"chat":{"id":3200000001,"type":"private"},"date":1767225600,"text":"hi"}}')"

kill -TERM "$pid"
set +e
wait "$pid"
rc=$?
set -e
expect_eq "SIGTERM: exit 0" 0 "$rc"
run "$TGDESK_BIN" healthcheck
expect_eq "healthcheck with nothing listening: exit 1" 1 "$rc"
log=$(cat "$scratch/serve.err")
expect_contains "start is logged" "$log" '"msg":"listening"'
expect_contains "stop is logged" "$log" '"msg":"stopped"'
expect_contains "WEBHOOK_INSECURE=true warns loudly" "$log" "WEBHOOK_SECRET is not set and WEBHOOK_INSECURE=true"
expect_contains "...at warn" "$log" '"level":"warn","msg":"WEBHOOK_SECRET is not set'

# The rest run with a secret.
export WEBHOOK_SECRET="$secret"

# MIGRATE_ON_START=false leaves a fresh database alone.
db2=$(new_db)
port2=$(freeport)
DATABASE_URL="$db2" PORT="$port2" MIGRATE_ON_START=false "$TGDESK_BIN" serve 2>"$scratch/s2.err" &
pid2=$!
t_cleanups+=("kill -9 $pid2 2>/dev/null")
wait_http "http://127.0.0.1:$port2/livez" 15 || true
expect_eq "MIGRATE_ON_START=false: no schema_migrations" "" \
    "$(sql "$db2" "SELECT to_regclass('schema_migrations')")"
kill -INT "$pid2"
set +e
wait "$pid2"
rc=$?
set -e
expect_eq "SIGINT: exit 0" 0 "$rc"

# Above 4096 connections the HTTP thread waits with epoll instead of poll:
# webhooks held until their commit are answered the same way.
db3=$(new_db)
ep_port=$(freeport)
DATABASE_URL="$db3" PORT="$ep_port" HTTP_MAX_CONNECTIONS=5000 "$TGDESK_BIN" serve 2>"$scratch/epoll.err" &
ep_pid=$!
t_cleanups+=("kill -9 $ep_pid 2>/dev/null")
wait_http "http://127.0.0.1:$ep_port/livez" 15 || true
codes=$(for i in $(seq 1 20); do
    curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
        -H "X-Telegram-Bot-Api-Secret-Token: $secret" --data-binary \
        "{\"update_id\":$((700000000 + i)),\"message\":{\"message_id\":$i,\"from\":{\"id\":$((3100000000 + i)),\"is_bot\":false,\"first_name\":\"E\"},\"chat\":{\"id\":$((3100000000 + i)),\"type\":\"private\"},\"date\":1767225600,\"text\":\"epoll $i\"}}" \
        "http://127.0.0.1:$ep_port/webhook" &
done | sort | uniq -c | awk '{print $1"x"$2}')
expect_eq "HTTP_MAX_CONNECTIONS=5000 (epoll): 20 webhooks at once, all 200" "20x200" "$codes"
expect_eq "HTTP_MAX_CONNECTIONS=5000 (epoll): 20 requests stored" 20 \
    "$(sql "$db3" "SELECT count(*) FROM requests WHERE user_id > 3100000000")"
kill -TERM "$ep_pid"
wait "$ep_pid" || true

# HTTPS with TLS_CERT_FILE and TLS_KEY_FILE.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$scratch/key.pem" -out "$scratch/cert.pem" \
    -days 1 -subj /CN=localhost >/dev/null 2>&1
tls_port=$(freeport)
DATABASE_URL="$db" PORT="$tls_port" TLS_CERT_FILE="$scratch/cert.pem" TLS_KEY_FILE="$scratch/key.pem" \
    "$TGDESK_BIN" serve 2>"$scratch/tls.err" &
tls_pid=$!
t_cleanups+=("kill -9 $tls_pid 2>/dev/null")
wait_http "https://127.0.0.1:$tls_port/livez" 15 || true
expect_eq "HTTPS: /livez is 200" 200 \
    "$(curl -s -k -o /dev/null -w '%{http_code}' "https://127.0.0.1:$tls_port/livez")"
expect_eq "HTTPS: plain HTTP is not served" 000 \
    "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$tls_port/livez")"
kill -TERM "$tls_pid"
wait "$tls_pid" || true

# Draining for deploys: after SIGTERM /health answers 503 for DRAIN_SECONDS
# while webhooks are still served, then the instance stops as usual; a second
# signal cuts the wait short.
dr_port=$(freeport)
DATABASE_URL="$db" PORT="$dr_port" DRAIN_SECONDS=3 WEBHOOK_SECRET=drain-secret \
    "$TGDESK_BIN" serve 2>"$scratch/drain.err" &
dr_pid=$!
t_cleanups+=("kill -9 $dr_pid 2>/dev/null")
dr="http://127.0.0.1:$dr_port"
wait_http "$dr/livez" 15 || true
wait_for 5 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$dr/health')\" = 200 ]" || true
expect_eq "drain: /health 200 before the signal" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$dr/health")"
t0=$(date +%s%N)
kill -TERM "$dr_pid"
sleep 0.5
expect_eq "drain: /health 503 right after SIGTERM" 503 "$(curl -s -o /dev/null -w '%{http_code}' "$dr/health")"
expect_contains "drain: /health says why" "$(curl -s "$dr/health")" "draining"
expect_eq "drain: a webhook is still served" 200 "$(curl -s -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: application/json' -H 'X-Telegram-Bot-Api-Secret-Token: drain-secret' \
    --data-binary '{"update_id":77,"message":{"message_id":77,"from":{"id":3200000077,"is_bot":false,"first_name":"D"},"chat":{"id":3200000077,"type":"private"},"date":1767225600,"text":"during the drain"}}' \
    "$dr/webhook")"
expect_eq "drain: the update is stored" 1 "$(sql "$db" "SELECT count(*) FROM processed_updates WHERE update_id = 77")"
set +e
wait "$dr_pid"
rc=$?
set -e
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "drain: exit 0 after the drain" 0 "$rc"
expect_eq "drain: stopped after about DRAIN_SECONDS (3 s)" "yes" \
    "$([ "$ms" -ge 2900 ] && [ "$ms" -lt 10000 ] && echo yes || echo "no: ${ms} ms")"
DATABASE_URL="$db" PORT="$dr_port" DRAIN_SECONDS=30 WEBHOOK_SECRET=drain-secret \
    "$TGDESK_BIN" serve 2>"$scratch/drain2.err" &
dr_pid=$!
t_cleanups+=("kill -9 $dr_pid 2>/dev/null")
wait_http "$dr/livez" 15 || true
t0=$(date +%s%N)
kill -TERM "$dr_pid"
sleep 0.5
kill -TERM "$dr_pid"
set +e
wait "$dr_pid"
rc=$?
set -e
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "drain: a second SIGTERM stops at once (exit 0)" "0 yes" \
    "$rc $([ "$ms" -lt 8000 ] && echo yes || echo "no: ${ms} ms")"

# Port already taken: a clear error and exit 1.
nc_port=$(freeport)
DATABASE_URL="$db" PORT="$nc_port" "$TGDESK_BIN" serve 2>"$scratch/s3.err" &
pid3=$!
t_cleanups+=("kill -9 $pid3 2>/dev/null")
wait_http "http://127.0.0.1:$nc_port/livez" 15 || true
run env DATABASE_URL="$db" PORT="$nc_port" "$TGDESK_BIN" serve
expect_eq "port in use: exit 1" 1 "$rc"
expect_contains "port in use: says so" "$err" "cannot listen"
kill -TERM "$pid3"
wait "$pid3" || true

finish
