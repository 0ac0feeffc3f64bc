#!/usr/bin/env bash
# WEBHOOK_ALLOWED_CIDRS and TRUSTED_PROXIES on loopback addresses: a direct
# source outside the list is closed at accept (no answer, nothing stored,
# counted as not_allowed); through a trusted proxy (127.0.0.3) the address
# its X-Forwarded-For names decides: 403 before the body is read, nothing
# stored; an untrusted client's X-Forwarded-For is ignored.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg
U="$TGDESK_SOURCE_ROOT/test/desk_update.py"

db=$(new_db)
start_fake
ops_port=$(freeport)
ops="http://127.0.0.1:$ops_port"
start_tgdesk OPS_PORT=$ops_port TELEGRAM_GLOBAL_RPS=10000 \
    WEBHOOK_ALLOWED_CIDRS="127.0.0.1/32, 203.0.113.0/24, 2001:db8::/32" \
    TRUSTED_PROXIES="127.0.0.3, 127.0.0.4/32" || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
wait_http "$ops/livez" 20

stored() { sql "$db" "SELECT count(*) FROM processed_updates WHERE update_id = $1"; }
metric() {
    curl -s "$ops/metrics" | awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print 0}'
}
# from ADDRESS UPDATE_ID [CURL ARGS...]: posts a user's message from a source
# address; prints the status (000: no answer).
from() {
    /usr/bin/python3 "$U" message "$2" 7100001 7100001 "hello from $1" >"$scratch/from.json"
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 --interface "$1" \
        -H 'Content-Type: application/json' -H "X-Telegram-Bot-Api-Secret-Token: $secret" \
        --data-binary @"$scratch/from.json" "${@:3}" "$base/webhook" || true
}

expect_eq "an allowed source: 200" 200 "$(from 127.0.0.1 1)"
expect_eq "an allowed source: stored" 1 "$(stored 1)"

before=$(metric 'tgdesk_http_connections_closed_total{reason="not_allowed"}')
expect_eq "a direct source outside the list is closed at accept (no answer)" 000 \
    "$(from 127.0.0.9 2)"
expect_eq "... even when it names an allowed address in X-Forwarded-For" 000 \
    "$(from 127.0.0.9 3 -H 'X-Forwarded-For: 203.0.113.7')"
expect_eq "... and /health on the public port is refused to it as well" 000 \
    "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.9 "$base/health" || true)"
after=$(metric 'tgdesk_http_connections_closed_total{reason="not_allowed"}')
expect_eq "tgdesk_http_connections_closed_total{reason=\"not_allowed\"} counts them" 3 \
    "$((${after%.*} - ${before%.*}))"

expect_eq "a trusted proxy forwarding an allowed address: 200" 200 \
    "$(from 127.0.0.3 4 -H 'X-Forwarded-For: 203.0.113.7')"
expect_eq "a chain of trusted proxies: the right-most untrusted address decides: 200" 200 \
    "$(from 127.0.0.3 5 -H 'X-Forwarded-For: 198.51.100.1, 203.0.113.8, 127.0.0.4')"
expect_eq "a forged X-Forwarded-For line before the proxy's own: the proxy's decides: 403" 403 \
    "$(from 127.0.0.3 6 -H 'X-Forwarded-For: 203.0.113.9' -H 'X-Forwarded-For: 198.51.100.2')"
expect_eq "a trusted proxy forwarding an address outside the list: 403" 403 \
    "$(from 127.0.0.3 7 -H 'X-Forwarded-For: 198.51.100.1')"
expect_eq "a trusted proxy forwarding an IPv6 address in the list: 200" 200 \
    "$(from 127.0.0.4 8 -H 'X-Forwarded-For: 2001:db8::77')"
expect_eq "a trusted proxy without X-Forwarded-For: the proxy itself decides: 403" 403 \
    "$(from 127.0.0.3 9)"
expect_eq "a trusted proxy forwarding garbage: 403" 403 \
    "$(from 127.0.0.3 10 -H 'X-Forwarded-For: 203.0.113.7, not-an-address')"
expect_eq "an allowed but untrusted client's X-Forwarded-For is ignored: 200" 200 \
    "$(from 127.0.0.1 11 -H 'X-Forwarded-For: 198.51.100.1')"
for id in 6 7 9 10; do
    expect_eq "refused update $id: nothing stored" 0 "$(stored $id)"
done
for id in 2 3; do
    expect_eq "turned-away update $id: nothing stored" 0 "$(stored $id)"
done
for id in 4 5 8 11; do
    expect_eq "admitted update $id: stored" 1 "$(stored $id)"
done

# 403 comes before the body is read: a body that never arrives does not delay it.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface 127.0.0.3 \
    -H 'Content-Type: application/json' -H "X-Telegram-Bot-Api-Secret-Token: $secret" \
    -H 'X-Forwarded-For: 198.51.100.1' -H 'Content-Length: 100000' -H 'Expect:' \
    --data-binary @/dev/null "$base/webhook" 2>/dev/null || true)
expect_eq "403 before the body is read (the body never comes)" 403 "$code"

log=$(cat "$scratch/tgdesk.log")
expect_not_contains "no error in the log" "$log" '"level":"error"'
stop_tgdesk
expect_eq "SIGTERM: exit 0" 0 "$stop_rc"
finish
