#!/usr/bin/env bash
# Instruction counts of tgdesk for N updates (default 1000), under
# valgrind --tool=callgrind: repeatable on a noisy machine where timings are
# not. Posts N "new conversation" updates one at a time (so every update takes
# the same path), waits for every reply, stops tgdesk, and prints the total,
# the count per update and the top functions.
#   bench/callgrind.sh [N] [--statements prepared|unnamed|both]
# --statements: named prepared statements (the default), unnamed ones
# (DB_PREPARED_STATEMENTS=false, for PgBouncer), or both one after the
# other on the same database.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. bench/lib.sh
n=1000
modes=(prepared)
while [ $# -gt 0 ]; do
    case $1 in
    --statements) bench_modes "${2:-}"; shift 2 ;;
    *) n=$1; shift ;;
    esac
done

scripts/deps.sh bench
[ -f build/callgrind/build.ninja ] || meson setup build/callgrind -Dbuildtype=debugoptimized >/dev/null
meson compile -C build/callgrind tgdesk test/fake-tg >/dev/null

bench_cluster callgrind --fast
DATABASE_URL="$db" build/callgrind/tgdesk migrate up >/dev/null 2>&1

fport=$(scripts/freeport.sh)
build/callgrind/test/fake-tg --port "$fport" >/dev/null 2>&1 &
pids+=($!)
secret=callgrind_$$ # sent with every update, as Telegram does

# measure MODE FIRST_ID: one tgdesk under callgrind, N updates, its figures.
measure() {
    local mode=$1 first=$2 prepared=true tport out tg total
    [ "$mode" = unnamed ] && prepared=false
    tport=$(scripts/freeport.sh)
    out=$root/build/callgrind.out
    [ "$mode" = unnamed ] && out=$root/build/callgrind-unnamed.out
    DATABASE_URL="$db" PORT="$tport" LISTEN_ADDR=127.0.0.1 LOG_LEVEL=warn MIGRATE_ON_START=false \
        TELEGRAM_API_URL="http://127.0.0.1:$fport" TELEGRAM_BOT_TOKEN=123456789:bench-token-for-the-fake-bot-api \
        TELEGRAM_GLOBAL_RPS=100000 WEBHOOK_SECRET="$secret" DB_PREPARED_STATEMENTS=$prepared \
        valgrind --tool=callgrind --callgrind-out-file="$out" build/callgrind/tgdesk serve 2>"$work/tgdesk-$mode.log" &
    tg=$!
    pids+=($tg)
    for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$tport/livez" && break; sleep 0.2; done

    /usr/bin/python3 test/tgsim.py post-many "http://127.0.0.1:$tport/webhook" --count "$n" --concurrency 1 \
        --first-id "$first" --user-base $((first + 3000000000)) --deadline 600 --secret "$secret"
    for _ in $(seq 1 600); do
        [ "$(psql "$db" -qAtX -c "SELECT count(*) FROM outbox WHERE status = 'pending'")" = 0 ] && break
        sleep 0.2
    done
    kill -TERM "$tg"
    wait "$tg" || true

    total=$(callgrind_annotate "$out" 2>/dev/null | sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    echo "instructions ($mode statements): $total for $n updates = $((total / n)) per update (whole process: HTTP, parsing, database client, sender, background threads)"
    callgrind_annotate --inclusive=no "$out" 2>/dev/null | sed -n '/^-\+$/,$p' | grep -E '^ *[0-9,]+ ' | head -25  || true
}

first=900000000
for mode in "${modes[@]}"; do
    measure "$mode" "$first"
    first=$((first + 10000000))
done
