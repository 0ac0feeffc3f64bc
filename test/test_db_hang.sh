#!/usr/bin/env bash
# A database that stops answering: tgdesk talks to PostgreSQL through a proxy
# that can freeze (it forwards nothing but keeps every socket open, as a hung
# server does). Under a steady load of webhook posts: frozen, every post is
# answered 503 (with Retry-After) within DB_STATEMENT_TIMEOUT and a few
# seconds and /health fails within 2 s; thawed, 200s come back within 5 s
# without a restart; nothing answered 200 is lost (checked in PostgreSQL
# directly, not through the proxy); frozen again, SIGTERM stops tgdesk within
# 10 s (with the default DRAIN_SECONDS of 5 and the log writer on) with exit
# status 0.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg

# The issue-sized freeze: a minute (TGDESK_FREEZE_SECONDS shortens it for a quick run).
FREEZE_S=${TGDESK_FREEZE_SECONDS:-60}
STMT_MS=2000
# The bound of one post while frozen: DB_STATEMENT_TIMEOUT plus a few seconds.
BOUND_S=$((STMT_MS / 1000 + 5))

private_pg
direct=$db
"$TGDESK_SOURCE_ROOT/test/freeze_proxy.py" "$ppg_port" >"$scratch/proxy.out" 2>"$scratch/proxy.err" &
proxy_pid=$!
t_cleanups+=("kill $proxy_pid 2>/dev/null")
proxy_port=
for i in $(seq 1 100); do
    proxy_port=$(sed -n 's/^freeze-proxy listening on //p' "$scratch/proxy.out")
    [ -n "$proxy_port" ] && break
    sleep 0.05
done
[ -n "$proxy_port" ] || { not_ok "the proxy starts" "$(cat "$scratch/proxy.err")"; finish; exit 1; }

# freeze | thaw: waits until the proxy says it is in force.
proxy() {
    local want=thawed sig=USR2 n
    [ "$1" = freeze ] && want=frozen sig=USR1
    n=$(grep -c "^$want\$" "$scratch/proxy.out" || true)
    kill -"$sig" "$proxy_pid"
    wait_for 5 sh -c "[ \$(grep -c '^$want\$' '$scratch/proxy.out') -gt $n ]"
}

now() { date +%s.%N; }

start_fake
db="host=127.0.0.1 port=$proxy_port user=postgres dbname=tgdesk"
start_tgdesk DB_STATEMENT_TIMEOUT=$STMT_MS DB_CONNECT_TIMEOUT=2 DB_POOL_TIMEOUT=5 DRAIN_SECONDS=5 \
    LOG_DB_LEVEL=off || { not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

# Steady load: 4 clients, about 20 posts a second in all, each a new user's
# message; every post logged as "start end status retry_after update_id".
cat >"$scratch/load.py" <<'EOF'
import http.client, json, os, sys, threading, time
port, secret, first, logf, stopf = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
lock = threading.Lock()
out = open(logf, "w", buffering=1)
def worker(k):
    uid = first + k
    conn = None
    while not os.path.exists(stopf):
        body = json.dumps({"update_id": uid, "message": {"message_id": 1, "date": 1, "text": "hello",
            "from": {"id": uid, "is_bot": False, "first_name": "U"},
            "chat": {"id": uid, "type": "private"}}}).encode()
        t0 = time.time()
        status, retry = "conn", ""
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/webhook", body, {"Content-Type": "application/json",
                         "X-Telegram-Bot-Api-Secret-Token": secret})
            r = conn.getresponse()
            r.read()
            status, retry = r.status, r.getheader("Retry-After") or "-"
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
        with lock:
            out.write(f"{t0:.3f} {time.time():.3f} {status} {retry} {uid}\n")
        uid += 4
        time.sleep(0.2)
threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
EOF
# load FIRST_ID LOGFILE: starts the load; stop it with load_stop.
load() {
    rm -f "$scratch/stop"
    /usr/bin/python3 "$scratch/load.py" "$tg_port" "$secret" "$1" "$2" "$scratch/stop" &
    load_pid=$!
    t_cleanups+=("touch '$scratch/stop'")
}
load_stop() { touch "$scratch/stop"; wait "$load_pid" || true; }

# /health every 0.1 s, logged as "time status".
health_watch() {
    while [ ! -e "$scratch/hstop" ]; do
        echo "$(now) $(curl -s -o /dev/null -m 5 -w '%{http_code}' "$base/health")" >>"$scratch/health.log"
        sleep 0.1
    done
}

load 700000000 "$scratch/load1.log"
wait_for 15 sql_ge "$direct" "SELECT count(*) FROM processed_updates" 40 || true
health_watch &
hw_pid=$!
t_cleanups+=("touch '$scratch/hstop'")

proxy freeze
t_freeze=$(now)
sleep "$FREEZE_S"
proxy thaw
t_thaw=$(now)
sleep 8
load_stop
touch "$scratch/hstop"
wait "$hw_pid" || true

# Posts made entirely inside the freeze.
inside=$(awk -v f="$t_freeze" -v t="$t_thaw" '$1 >= f + 0.5 && $2 <= t' "$scratch/load1.log")
n_inside=$(printf '%s\n' "$inside" | grep -c . || true)
if [ "$n_inside" -ge 20 ]; then ok "frozen: $n_inside posts made while frozen"; else
    not_ok "frozen: enough posts made while frozen" "got $n_inside"; fi
expect_eq "frozen: every post answered 503" "" \
    "$(printf '%s\n' "$inside" | awk '$3 != 503' | head -5)"
expect_eq "frozen: every 503 with Retry-After" "" \
    "$(printf '%s\n' "$inside" | awk '$3 == 503 && $4 == "-"' | head -5)"
# Every post that overlapped the freeze was answered within the bound.
slow=$(awk -v f="$t_freeze" -v t="$t_thaw" -v b="$BOUND_S" '$2 >= f && $1 <= t && $2 - $1 > b' "$scratch/load1.log")
expect_eq "frozen: every post answered within ${BOUND_S} s (DB_STATEMENT_TIMEOUT + 5 s)" "" "$slow"
longest=$(awk -v f="$t_freeze" -v t="$t_thaw" 'BEGIN{m=0} $2 >= f && $1 <= t && $2 - $1 > m {m=$2-$1} END{printf "%.1f", m}' "$scratch/load1.log")
echo "# longest post across the freeze: $longest s"

# A check starts every second and one running over a second is a failure:
# 2 s at most, plus this loop's 0.1 s step and the answer's own time.
health_fail=$(awk -v f="$t_freeze" '$1 >= f && $2 != 200 {printf "%.2f", $1 - f; exit}' "$scratch/health.log")
if [ -n "$health_fail" ] && awk -v d="$health_fail" 'BEGIN{exit !(d <= 2.4)}'; then
    ok "frozen: /health fails ${health_fail} s after the freeze (2 s and the polling step)"
else
    not_ok "frozen: /health fails within 2 s (and the polling step)" "after: ${health_fail:-never}"
fi
expect_eq "frozen: /health stays failed until the thaw" "" \
    "$(awk -v f="$t_freeze" -v t="$t_thaw" -v d="${health_fail:-0}" '$1 >= f + d + 0.5 && $1 <= t && $2 == 200' "$scratch/health.log" | head -3)"

back=$(awk -v t="$t_thaw" '$1 >= t && $3 == 200 {printf "%.2f\n", $2 - t}' "$scratch/load1.log" | sort -n | head -1)
if [ -n "$back" ] && awk -v d="$back" 'BEGIN{exit !(d <= 5.0)}'; then
    ok "thawed: a post answered 200 ${back} s after the thaw, no restart"
else
    not_ok "thawed: 200 again within 5 s" "first 200 after: ${back:-never}"
fi
expect_eq "thawed: the posts of the last 3 s all answered 200" "" \
    "$(awk -v t="$t_thaw" '$1 >= t + 5 && $3 != 200' "$scratch/load1.log" | head -3)"
expect_eq "thawed: /health passes again" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")"

# check_acked LOG LABEL: every update answered 200 is in PostgreSQL (directly).
check_acked() {
    local acked missing
    acked=$(awk '$3 == 200 {print $5}' "$1" | paste -sd,)
    missing=$(sql "$direct" "SELECT count(*) FROM unnest('{$acked}'::bigint[]) a(id)
                             WHERE NOT EXISTS (SELECT 1 FROM processed_updates p WHERE p.update_id = a.id)")
    expect_eq "$2: none of the $(awk '$3 == 200' "$1" | wc -l) updates answered 200 is missing" 0 "$missing"
}
check_acked "$scratch/load1.log" "freeze"

# Frozen again, then SIGTERM: the stop does not wait for the database, even
# with statements that would wait a minute for it.
stop_tgdesk TERM
expect_eq "thawed, SIGTERM: exit status 0" 0 "$stop_rc"
keep_port=$tg_port
start_tgdesk DB_STATEMENT_TIMEOUT=60000 DB_CONNECT_TIMEOUT=60 DB_POOL_TIMEOUT=60 DRAIN_SECONDS=5 ||
    not_ok "tgdesk starts again" "$(tail -5 "$scratch/tgdesk.log")"
load 710000000 "$scratch/load2.log"
wait_for 15 sql_ge "$direct" "SELECT count(*) FROM processed_updates WHERE update_id >= 710000000" 20 || true
proxy freeze
sleep 1
t0=$(now)
kill -TERM "$tg_pid"
set +e
wait "$tg_pid"
stop_rc=$?
set -e
took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b - a}')
load_stop
if awk -v d="$took" 'BEGIN{exit !(d <= 10.0)}'; then ok "frozen, SIGTERM: stopped in $took s"; else
    not_ok "frozen, SIGTERM: stopped within 10 s" "took $took s" "$(tail -5 "$scratch/tgdesk.log")"; fi
expect_eq "frozen, SIGTERM: exit status 0" 0 "$stop_rc"
expect_contains "frozen, SIGTERM: the stop's deadline ended the waits" "$(cat "$scratch/tgdesk.log")" \
    '"deadline":"stop"'
proxy thaw
sleep 1
check_acked "$scratch/load2.log" "SIGTERM while frozen"

finish
