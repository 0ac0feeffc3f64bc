# Helpers for the shell integration tests (TAP output, one process per file).
# Each test runs tgdesk in a scratch directory with a clean environment, so a
# developer's .env or exported variables cannot change the outcome.
set -u

: "${TGDESK_BIN:?TGDESK_BIN is set by meson test}"
: "${TGDESK_SOURCE_ROOT:?TGDESK_SOURCE_ROOT is set by meson test}"

t_n=0
t_fail=0
scratch=$(mktemp -d /tmp/tgdesk-t.XXXXXX)
chmod 755 "$scratch"
cd "$scratch"
t_cleanups=()
t_exit() {
    local c
    for c in "${t_cleanups[@]}"; do eval "$c" || true; done
    # TGDESK_KEEP_SCRATCH=1: left for a post-mortem (logs, the fake's calls)
    if [ -n "${TGDESK_KEEP_SCRATCH:-}" ]; then echo "# scratch kept: $scratch" >&2; else rm -rf "$scratch"; fi
}
trap t_exit EXIT

# Forget every tgdesk variable the caller's environment may hold.
for v in $("$TGDESK_BIN" --help | awk '/^  [A-Z][A-Z0-9_]+ /{print $1}'); do unset "$v"; done

ok() { t_n=$((t_n + 1)); echo "ok $t_n - $1"; }
not_ok() {
    t_n=$((t_n + 1)); t_fail=$((t_fail + 1))
    echo "not ok $t_n - $1"
    shift
    local l
    for l in "$@"; do printf '#   %s\n' "$l"; done
}
expect_eq() { # DESC EXPECTED ACTUAL
    if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2" "actual:   $3"; fi
}
expect_contains() { # DESC HAYSTACK NEEDLE
    if [[ "$2" == *"$3"* ]]; then ok "$1"; else not_ok "$1" "missing: $3" "in: ${2:0:2000}"; fi
}
expect_not_contains() { # DESC HAYSTACK NEEDLE
    if [[ "$2" != *"$3"* ]]; then ok "$1"; else not_ok "$1" "unexpected: $3" "in: ${2:0:2000}"; fi
}
finish() {
    echo "1..$t_n"
    [ "$t_fail" -eq 0 ]
}

# run CMD...: sets $out, $err and $rc.
run() {
    set +e
    "$@" >"$scratch/out" 2>"$scratch/err"
    rc=$?
    set -e
    out=$(cat "$scratch/out")
    err=$(cat "$scratch/err")
}

need_pg() {
    if [ -z "${TGDESK_TEST_PG:-}" ]; then
        echo "# TGDESK_TEST_PG is not set: skipping"
        exit 77
    fi
}

# new_db: creates an empty database and prints its conninfo; dropped at exit.
new_db() {
    local name=tgdesk_s_$$_${RANDOM}${RANDOM}
    psql "$TGDESK_TEST_PG" -qAtc "CREATE DATABASE $name" >/dev/null
    t_cleanups+=("psql '$TGDESK_TEST_PG' -qAtc 'DROP DATABASE IF EXISTS $name WITH (FORCE)' >/dev/null 2>&1")
    echo "$TGDESK_TEST_PG dbname=$name"
}

# sql CONNINFO QUERY: prints the unaligned, tuples-only result.
sql() { psql "$1" -qAtX -v ON_ERROR_STOP=1 -c "$2"; }

freeport() { "$TGDESK_SOURCE_ROOT/scripts/freeport.sh"; }

# wait_http URL [SECONDS]: waits until URL answers at all.
wait_http() {
    local i
    for i in $(seq 1 $((${2:-10} * 20))); do
        curl -s -k -o /dev/null "$1" && return 0
        sleep 0.05
    done
    return 1
}

# ---- tgdesk with the fake Bot API -----------------------------------------

TOKEN=123456789:test-token-of-the-fake-bot-api

# pyq EXPR: evaluates EXPR on the JSON read from stdin (bound to d).
pyq() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# wait_for SECONDS CMD...: polls CMD until it succeeds. CMD is run anew each
# time: pass a function such as sql_ge, not a "$(...)" computed once.
wait_for() {
    local limit=$1 i
    shift
    for i in $(seq 1 $((limit * 20))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# sql_ge CONNINFO QUERY N: the query's number is at least N.
sql_ge() { [ "$(sql "$1" "$2" 2>/dev/null)" -ge "$3" ] 2>/dev/null; }

# sql_is CONNINFO QUERY VALUE: the query prints VALUE.
sql_is() { [ "$(sql "$1" "$2" 2>/dev/null)" = "$3" ]; }

# calls_ge METHOD N: the fake recorded at least N calls of METHOD.
calls_ge() { [ "$(fake_count "$1")" -ge "$2" ] 2>/dev/null; }

# start_fake [OPTION...]: starts the fake Bot API; sets $fake_url and $fake_pid.
start_fake() {
    : "${TGDESK_FAKE_TG:?TGDESK_FAKE_TG is set by meson test}"
    # Made here: the background shell may not have opened them when sed looks.
    : >"$scratch/fake.out"
    : >"$scratch/fake.err"
    "$TGDESK_FAKE_TG" --port 0 "$@" >"$scratch/fake.out" 2>"$scratch/fake.err" &
    fake_pid=$!
    t_cleanups+=("kill $fake_pid 2>/dev/null")
    local i
    for i in $(seq 1 200); do
        fake_url=$(sed -n 's/^fake-tg listening on //p' "$scratch/fake.out")
        [ -n "$fake_url" ] && return 0
        sleep 0.05
    done
    echo "# fake-tg did not start: $(cat "$scratch/fake.err")"
    return 1
}

# The webhook's secret: start_tgdesk gives it to tgdesk (a WEBHOOK_SECRET=...
# argument replaces it) and post sends it; `secret=nope post ...` sends
# another one, `secret= post ...` none.
secret=t_${RANDOM}${RANDOM}_${RANDOM}${RANDOM}

# start_tgdesk [VAR=VALUE...]: runs `tgdesk serve` on $db against the fake;
# sets $base and $tg_pid; its log goes to $scratch/tgdesk.log.
start_tgdesk() {
    local a
    for a in "$@"; do
        case $a in WEBHOOK_SECRET=*) secret=${a#WEBHOOK_SECRET=} ;; esac
    done
    tg_port=${keep_port:-$(freeport)}
    env DATABASE_URL="$db" PORT="$tg_port" LISTEN_ADDR=0.0.0.0 TELEGRAM_API_URL="$fake_url" \
        TELEGRAM_BOT_TOKEN="$TOKEN" WEBHOOK_SECRET="$secret" DRAIN_SECONDS=0 "$@" "$TGDESK_BIN" serve \
        2>>"$scratch/tgdesk.log" &
    tg_pid=$!
    t_cleanups+=("kill -9 $tg_pid 2>/dev/null")
    base="http://127.0.0.1:$tg_port"
    wait_http "$base/livez" 20
}

# stop_tgdesk [SIGNAL]: stops it and sets $stop_rc.
stop_tgdesk() {
    kill -"${1:-TERM}" "$tg_pid" 2>/dev/null || true
    set +e
    wait "$tg_pid"
    stop_rc=$?
    set -e
}

# post FILE [CURL ARGS...]: posts a webhook body with $secret, prints the
# status code.
post() {
    local h=()
    [ -z "${secret:-}" ] || h=(-H "X-Telegram-Bot-Api-Secret-Token: $secret")
    curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' "${h[@]}" \
        --data-binary @"$1" "${@:2}" "$base/webhook"
}

# post_json JSON [CURL ARGS...]
post_json() {
    printf '%s' "$1" >"$scratch/body.json"
    post "$scratch/body.json" "${@:2}"
}

# fake_calls METHOD: the calls the fake recorded, as a JSON array.
fake_calls() { curl -s "$fake_url/control/calls?method=$1"; }

# fake_count METHOD
fake_count() { curl -s "$fake_url/control/count?method=$1" | pyq 'd["count"]'; }

# fake_fail JSON: installs a failure rule at the fake.
fake_fail() { curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$1" "$fake_url/control/fail"; }

# private_pg: a PostgreSQL cluster of this test's own, which the test may
# stop and start; sets $ppg_dir, $ppg_port and $db (call it directly, not in $()).
private_pg() {
    ppg_dir="$scratch/pg"
    ppg_port=$(freeport)
    mkdir -p "$ppg_dir"
    chmod 755 "$ppg_dir"
    "$TGDESK_SOURCE_ROOT/scripts/pg.sh" start "$ppg_dir" "$ppg_port" --fast
    t_cleanups+=("'$TGDESK_SOURCE_ROOT/scripts/pg.sh' stop '$ppg_dir'")
    psql "host=127.0.0.1 port=$ppg_port user=postgres dbname=postgres" -qAtc \
        "CREATE DATABASE tgdesk" >/dev/null
    db="host=127.0.0.1 port=$ppg_port user=postgres dbname=tgdesk"
}
