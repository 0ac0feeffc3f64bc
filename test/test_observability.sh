#!/usr/bin/env bash
# /metrics and /health on the running binary: promtool accepts the metrics
# after traffic of every kind, the counters move, and a real HAProxy in front
# takes tgdesk out of rotation while its database is down and back after.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg
fx=$TGDESK_FIXTURES

private_pg
start_fake
start_tgdesk ADMIN_IDS=5550000001 ADMIN_CHAT_ID=-1002000000001 TELEGRAM_GLOBAL_RPS=10000 \
    DB_POOL_TIMEOUT=1 || { not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
metric() { # NAME{LABELS} → value (0 when absent)
    curl -s "$base/metrics" | awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print 0}'
}

# Traffic of every kind, a duplicate, a malformed body, a 429 at the Bot API.
fake_fail '{"method":"sendMessage","chat_id":6123456789,"mode":"429","retry_after":1}'
for f in "$fx"/updates/*.json; do post "$f" >/dev/null; done
post "$fx/updates/private_text.json" >/dev/null
post "$fx/bad/not_json.txt" >/dev/null
wait_for 10 calls_ge sendMessage 2 || true
sleep 1.5

body=$(curl -s -D "$scratch/metrics.hdr" "$base/metrics")
expect_contains "metrics: content type 0.0.4" "$(cat "$scratch/metrics.hdr")" "text/plain; version=0.0.4"
if out=$(promtool check metrics <<<"$body" 2>&1) && [ -z "$out" ]; then
    ok "promtool check metrics: no complaint"
else
    not_ok "promtool check metrics: no complaint" "$out"
fi
for name in tgdesk_build_info tgdesk_http_requests_total tgdesk_http_request_duration_seconds_bucket \
    tgdesk_updates_total tgdesk_update_processing_seconds_bucket tgdesk_db_pool_connections \
    tgdesk_db_pool_acquire_seconds_bucket tgdesk_telegram_api_requests_total tgdesk_outbox_pending \
    process_cpu_seconds_total process_resident_memory_bytes process_open_fds process_start_time_seconds; do
    expect_contains "metrics: $name" "$body" "$name"
done
dup=$(metric 'tgdesk_updates_total{type="message",outcome="duplicate"}')
if [ "${dup%.*}" -ge 1 ]; then ok "a duplicate counts as duplicate ($dup)"; else not_ok "a duplicate counts as duplicate" "got $dup"; fi
rej=$(metric 'tgdesk_updates_total{type="invalid",outcome="rejected"}')
if [ "${rej%.*}" -ge 1 ]; then ok "a malformed body counts as rejected ($rej)"; else not_ok "a malformed body counts as rejected" "got $rej"; fi
ra=$(metric 'tgdesk_telegram_api_requests_total{method="sendMessage",result="retry_after"}')
if [ "${ra%.*}" -ge 1 ]; then ok "a 429 counts as retry_after ($ra)"; else not_ok "a 429 counts as retry_after" "got $ra"; fi
ok200=$(metric 'tgdesk_http_requests_total{route="webhook",code="200"}')
if [ "${ok200%.*}" -ge 10 ]; then ok "webhook 200s counted ($ok200)"; else not_ok "webhook 200s counted" "got $ok200"; fi

# A staff answer and a solution move the support-time histograms, once each.
rid=$(sql "$db" "SELECT id FROM requests WHERE user_id = 6123456789 AND status IN ('open', 'assigned')")
staff_says() {
    post_json "{\"update_id\":$1,\"message\":{\"message_id\":$1,\"from\":{\"id\":5550000001,\"is_bot\":false,\"first_name\":\"Bob\"},\"chat\":{\"id\":5550000001,\"type\":\"private\"},\"date\":1767226000,\"text\":\"$2\",\"entities\":[{\"offset\":0,\"length\":$3,\"type\":\"bot_command\"}]}}"
}
fr0=$(metric 'tgdesk_support_first_response_seconds_count')
rs0=$(metric 'tgdesk_support_resolution_seconds_count')
expect_eq "staff /reply: 200" 200 "$(staff_says 990001 "/reply $rid on its way" 6)"
expect_eq "staff /solve: 200" 200 "$(staff_says 990002 "/solve $rid shipped today" 6)"
expect_eq "staff /solve again (redelivered): 200" 200 "$(staff_says 990002 "/solve $rid shipped today" 6)"
expect_eq "first response observed once" "$((${fr0%.*} + 1))" "$(metric 'tgdesk_support_first_response_seconds_count')"
expect_eq "resolution observed once" "$((${rs0%.*} + 1))" "$(metric 'tgdesk_support_resolution_seconds_count')"
expect_eq "request solved in the database" "solved" "$(sql "$db" "SELECT status FROM requests WHERE id = $rid")"

# /health: the shape, the methods, HTTP/1.0.
h=$(curl -s -D "$scratch/h.hdr" "$base/health")
expect_contains "health: health+json" "$(cat "$scratch/h.hdr")" "application/health+json"
expect_eq "health: pass" "pass" "$(pyq 'd["status"]' <<<"$h")"
expect_contains "health: database response time" "$h" "postgres:responseTime"
expect_eq "HEAD /health: 200" 200 "$(curl -s -I -o /dev/null -w '%{http_code}' "$base/health")"
expect_eq "OPTIONS /health over HTTP/1.0: 200" 200 "$(curl -s -0 -X OPTIONS -o /dev/null -w '%{http_code}' "$base/health")"
expect_eq "OPTIONS / over HTTP/1.0: 200" 200 "$(curl -s -0 -X OPTIONS -o /dev/null -w '%{http_code}' "$base/")"

# A real HAProxy with option httpchk GET /health.
hp=$(freeport)
sp=$(freeport)
cat >"$scratch/haproxy.cfg" <<CFG
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$hp
    default_backend be
backend be
    option httpchk GET /health
    http-check expect status 200
    default-server inter 250ms fall 2 rise 2
    server tg 127.0.0.1:$tg_port check
listen stats
    bind 127.0.0.1:$sp
    stats enable
    stats uri /stats
CFG
haproxy -f "$scratch/haproxy.cfg" -db >"$scratch/haproxy.log" 2>&1 &
t_cleanups+=("kill $! 2>/dev/null")
hstate() { curl -s "http://127.0.0.1:$sp/stats;csv" | awk -F, '$1 == "be" && $2 == "tg" {print $18}'; }
is_state() { [ "$(hstate)" = "$1" ]; }
if wait_for 10 is_state UP; then ok "haproxy: backend UP"; else not_ok "haproxy: backend UP" "$(hstate)"; fi
expect_eq "through haproxy: webhook 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H "X-Telegram-Bot-Api-Secret-Token: $secret" --data-binary @"$fx/updates/sticker.json" "http://127.0.0.1:$hp/webhook")"

"$TGDESK_SOURCE_ROOT/scripts/pg.sh" stop "$ppg_dir"
t0=$(date +%s%N)
health_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")" = "$1" ]; }
if wait_for 5 health_is 503; then
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ "$ms" -le 2000 ]; then ok "database down: /health 503 after ${ms} ms"; else not_ok "database down: /health 503 within 2 s" "${ms} ms"; fi
else
    not_ok "database down: /health 503"
fi
if wait_for 10 is_state DOWN; then ok "haproxy: backend DOWN while the database is down"; else not_ok "haproxy: backend DOWN" "$(hstate)"; fi

"$TGDESK_SOURCE_ROOT/scripts/pg.sh" start "$ppg_dir" "$ppg_port" --fast
t0=$(date +%s%N)
if wait_for 10 health_is 200; then
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ "$ms" -le 2000 ]; then ok "database back: /health 200 after ${ms} ms"; else not_ok "database back: /health 200 within 2 s" "${ms} ms"; fi
else
    not_ok "database back: /health 200"
fi
if wait_for 10 is_state UP; then ok "haproxy: backend UP again"; else not_ok "haproxy: backend UP again" "$(hstate)"; fi

# Draining: /health fails while tgdesk stops (checked from the log: the
# listener is gone at once, so the answer is seen only in flight).
stop_tgdesk TERM
expect_eq "SIGTERM: exit 0" 0 "$stop_rc"

# /metrics behind a bearer token (METRICS_TOKEN, Prometheus's authorization
# setting): 401 without it or with a wrong one, 200 and promtool-clean with it.
stop_tgdesk
start_tgdesk METRICS_TOKEN=prom_scrape-Token1 || {
    not_ok "tgdesk starts with METRICS_TOKEN" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
hdr=$(curl -s -D - -o /dev/null "$base/metrics")
expect_contains "METRICS_TOKEN: no token, 401" "$hdr" " 401"
expect_contains "METRICS_TOKEN: 401 says Bearer" "$hdr" "WWW-Authenticate: Bearer"
expect_eq "METRICS_TOKEN: a wrong token, 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer prom_scrape-Token2' "$base/metrics")"
expect_eq "METRICS_TOKEN: the webhook secret is no metrics token, 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $secret" "$base/metrics")"
body=$(curl -s -H 'Authorization: Bearer prom_scrape-Token1' "$base/metrics")
expect_contains "METRICS_TOKEN: with it, the metrics" "$body" "tgdesk_build_info"
if out=$(promtool check metrics <<<"$body" 2>&1) && [ -z "$out" ]; then
    ok "METRICS_TOKEN: promtool check metrics: no complaint"
else
    not_ok "METRICS_TOKEN: promtool check metrics: no complaint" "$out"
fi
expect_eq "METRICS_TOKEN: /health stays open" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")"
expect_not_contains "METRICS_TOKEN: never in the log" "$(cat "$scratch/tgdesk.log")" "prom_scrape-Token1"

finish
