#!/usr/bin/env bash
# The operations listener (OPS_LISTEN_ADDR/OPS_PORT): /health, /livez and
# /metrics are served there only, the public port serves the webhook only
# (404 for the rest); /metrics keeps METRICS_TOKEN (401 without, 200 and
# promtool-clean with); webhook traffic that fills the public port's
# connection cap cannot starve it; `tgdesk healthcheck` asks it. Also the
# reasons of tgdesk_http_connections_closed_total that the slow-client test
# does not reach: limit and idle_timeout.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg
U="$TGDESK_SOURCE_ROOT/test/desk_update.py"
SLOW="$TGDESK_SOURCE_ROOT/test/slowclient.py"

db=$(new_db)
start_fake
ops_port=$(freeport)
ops="http://127.0.0.1:$ops_port"
TOKEN_M=ops_scrape-Token1
start_tgdesk OPS_PORT=$ops_port METRICS_TOKEN=$TOKEN_M HTTP_MAX_CONNECTIONS=20 HTTP_MAX_PER_IP=10 \
    HTTP_TIMEOUT=2 HTTP_REQUEST_TIMEOUT=30 || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
wait_http "$ops/livez" 20
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true; }
metric() {
    curl -s -H "Authorization: Bearer $TOKEN_M" "$ops/metrics" |
        awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print 0}'
}

expect_eq "public port: the webhook is served" 200 \
    "$(post_json "$(/usr/bin/python3 "$U" message 1 7200001 7200001 'hi')")"
for p in /health /livez /metrics; do
    expect_eq "public port: GET $p is 404" 404 "$(code "$base$p")"
done
expect_eq "public port: OPTIONS / is 404" 404 "$(code -X OPTIONS "$base/")"
expect_eq "ops port: the webhook is 404" 404 \
    "$(code -X POST -H 'Content-Type: application/json' -H "X-Telegram-Bot-Api-Secret-Token: $secret" \
        -d '{"update_id": 2}' "$ops/webhook")"
wait_for 10 sh -c "curl -s '$ops/health' | grep -q '\"status\":\"pass\"'" || true
expect_eq "ops port: /health is 200" 200 "$(code "$ops/health")"
expect_eq "ops port: /livez is 200" 200 "$(code "$ops/livez")"
expect_eq "ops port: OPTIONS / (HAProxy's check) is 200" 200 "$(code -X OPTIONS "$ops/")"

hdr=$(curl -s -D - -o /dev/null "$ops/metrics")
expect_contains "ops port: /metrics without the token is 401" "$hdr" "401"
expect_contains "ops port: the 401 names the scheme" "$hdr" "WWW-Authenticate: Bearer"
expect_eq "ops port: /metrics with a wrong token is 401" 401 \
    "$(code -H 'Authorization: Bearer nope' "$ops/metrics")"
body=$(curl -s -H "Authorization: Bearer $TOKEN_M" "$ops/metrics")
expect_eq "ops port: /metrics with the token is 200" 200 \
    "$(code -H "Authorization: Bearer $TOKEN_M" "$ops/metrics")"
expect_contains "the connection counter is exported" "$body" \
    'tgdesk_http_connections_closed_total{reason="request_timeout"} 0'
if command -v promtool >/dev/null; then
    if out=$(promtool check metrics <<<"$body" 2>&1) && [ -z "$out" ]; then
        ok "promtool check metrics: no complaint"
    else
        not_ok "promtool check metrics: no complaint" "$out"
    fi
else
    echo "# promtool not installed: metrics syntax not checked"
fi

run env DATABASE_URL="$db" PORT="$tg_port" OPS_PORT="$ops_port" "$TGDESK_BIN" healthcheck
# The public port's /health is 404: exit 0 means it asked the ops port.
expect_eq "tgdesk healthcheck asks the ops port: exit 0" 0 "$rc"

# A keep-alive connection left idle is closed after HTTP_TIMEOUT (2 s).
/usr/bin/python3 - "$tg_port" "$secret" <<'PY'
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.request("POST", "/webhook", body=b'{"update_id": 3}',
          headers={"Content-Type": "application/json",
                   "X-Telegram-Bot-Api-Secret-Token": sys.argv[2]})
c.getresponse().read()
time.sleep(4.5)
PY
expect_eq "an idle keep-alive connection: counted as idle_timeout" 1 \
    "$(metric 'tgdesk_http_connections_closed_total{reason="idle_timeout"}')"

# Fill the public port's 20 connections with slow clients (two addresses, 10
# each; 5 more each are past HTTP_MAX_PER_IP): the ops port still answers.
/usr/bin/python3 "$SLOW" "$tg_port" --sources 2 --per-source 15 --seconds 6 --interval 0.5 \
    >"$scratch/slow.json" 2>"$scratch/slow.err" &
slow_pid=$!
t_cleanups+=("kill $slow_pid 2>/dev/null")
sleep 3
expect_eq "the public port is full: a webhook post gets no connection" 000 \
    "$(code --max-time 2 -X POST "$base/webhook")"
expect_eq "the public port is full: ops port /health still 200" 200 "$(code "$ops/health")"
expect_eq "the public port is full: ops port /metrics still 200" 200 \
    "$(code -H "Authorization: Bearer $TOKEN_M" "$ops/metrics")"
limit=$(metric 'tgdesk_http_connections_closed_total{reason="limit"}')
expect_eq "connections past HTTP_MAX_PER_IP: counted as limit ($limit)" 1 \
    "$([ "${limit%.*}" -ge 1 ] && echo 1 || echo 0)"
wait $slow_pid || true
stop_tgdesk
expect_eq "SIGTERM: exit 0" 0 "$stop_rc"
finish
