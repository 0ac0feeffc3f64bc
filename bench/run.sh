#!/usr/bin/env bash
# tgdesk's benchmark (docs/benchmark.md): one run on this machine, figures as ratios
# to the machine's own ceilings measured in the same run.
#
#   bench/run.sh [--duration S] [--warmup S] [--ceiling-duration S]
#                [--prefill N] [--connections C] [--no-ceilings]
#                [--workload new|conversation] [--statements prepared|unnamed|both]
#                [--env NAME=VALUE]... [--pg-stat-statements]
#
# 1. a throwaway PostgreSQL with durable settings (fsync, synchronous_commit
#    on), the fake Bot API and a release build of tgdesk (no staff: each
#    update costs exactly one reply);
# 2. wrk posts unique "new conversation" updates (bench/new_conversation.lua)
#    at C connections (default 100, Telegram's largest max_connections) for S
#    seconds after a warm-up;
# 3. prints updates/s, latency percentiles, non-2xx, replies received by the
#    fake Bot API and tgdesk's peak resident memory;
# 4. checks that every update answered 200 is in the database and was
#    replied to ("LOST n" and exit 1 otherwise);
# 5. measures the ceilings and prints tgdesk's ratio to each:
#    (a) pgbench, the same rows with one commit per update, 4/16/100 clients;
#    (b) pgbench, the same rows 32 updates per transaction, 2/4/8 clients;
#    (c) wrk against a trivial libmicrohttpd server answering 200.
# --prefill N first loads N requests (with users, messages and processed
# updates) so the run shows whether cost stays flat as data grows.
# --workload conversation: 2000 users who already have an open request keep
# writing (each message stored and notified to a staff member), and every
# fifth update is the staff member's "/reply N text" (bench/conversation.lua).
# Staff notifications are rate-limited per chat as Telegram requires, so
# there the replies check is skipped: the sender's backlog is expected.
# --statements: tgdesk with named prepared statements (the default), with
# unnamed ones (DB_PREPARED_STATEMENTS=false, as behind PgBouncer), or both:
# the tgdesk measurement twice in this run, prepared then unnamed, on the
# same database (the second run finds the first one's rows).
# --env NAME=VALUE (repeatable): one more variable in tgdesk's environment,
# e.g. --env CSAT=off or --env FIRST_RESPONSE_SLA=15m.
# --pg-stat-statements: the cluster loads pg_stat_statements (a restart
# after set-up), resets it after the warm-up and prints, after the measured
# run, the statements that took most of PostgreSQL's execution time: calls,
# mean time, and execution time per update.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. bench/lib.sh

duration=30
warmup=5
ceiling_duration=10
prefill=0
conns=100
ceilings=1
workload=new
conv_users=2000
modes=(prepared)
extra_env=()
pgss=0
while [ $# -gt 0 ]; do
    case $1 in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --ceiling-duration) ceiling_duration=$2; shift 2 ;;
    --prefill) prefill=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --no-ceilings) ceilings=0; shift ;;
    --workload) workload=$2; shift 2 ;;
    --statements) bench_modes "${2:-}"; shift 2 ;;
    --env) [[ ${2:-} == [A-Z]*=* ]] || { echo "--env: NAME=VALUE" >&2; exit 2; }; extra_env+=("$2"); shift 2 ;;
    --pg-stat-statements) pgss=1; shift ;;
    *) echo "usage: bench/run.sh [--duration S] [--warmup S] [--ceiling-duration S] [--prefill N] [--connections C] [--no-ceilings] [--workload new|conversation] [--statements prepared|unnamed|both] [--env NAME=VALUE]... [--pg-stat-statements]" >&2; exit 2 ;;
    esac
done

scripts/deps.sh bench

echo "== build (release)"
[ -f build/bench/build.ninja ] || meson setup build/bench -Dbuildtype=release >/dev/null
meson compile -C build/bench tgdesk test/fake-tg bench/bench-trivial >build/bench-compile.log 2>&1 ||
    { cat build/bench-compile.log; exit 1; }
bin=$root/build/bench

bench_cluster bench
q() { psql "$db" -qAtX -c "$1"; }
# A fresh cluster has to create (and zero-fill) every WAL segment it writes,
# which stalls commits; a running server recycles them. Write ~400 MB of WAL
# once and checkpoint, so every measurement below - tgdesk's and the
# ceilings' alike - runs on recycled segments, as in production.
q "ALTER SYSTEM SET min_wal_size = '2GB'; ALTER SYSTEM SET max_wal_size = '4GB'" >/dev/null 2>&1 ||
    { q "ALTER SYSTEM SET min_wal_size = '2GB'" >/dev/null; q "ALTER SYSTEM SET max_wal_size = '4GB'" >/dev/null; }
# Statements over 100 ms are logged: the run reports how many there were.
q "ALTER SYSTEM SET log_min_duration_statement = 100" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
if [ "$pgss" = 1 ]; then
    q "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
    scripts/pg.sh stop "$work" && scripts/pg.sh start "$work" "$pgport"
    q "CREATE EXTENSION pg_stat_statements" >/dev/null
fi
q "CREATE TABLE bench_prime AS SELECT g, repeat('x', 600) AS pad FROM generate_series(1, 600000) g" >/dev/null
q "DROP TABLE bench_prime" >/dev/null
q "CHECKPOINT" >/dev/null
echo "== PostgreSQL $(q 'SHOW server_version'): fsync=$(q 'SHOW fsync')" \
    "synchronous_commit=$(q 'SHOW synchronous_commit') wal_sync_method=$(q 'SHOW wal_sync_method')" \
    "full_page_writes=$(q 'SHOW full_page_writes') shared_buffers=$(q 'SHOW shared_buffers')"

fport=$(scripts/freeport.sh)
# --bench: the fake serves every connection from one thread and only counts
# calls. Keeping every call as JSON and a thread per connection cost it a
# sixth of the machine, which Telegram's own servers do not take from us.
"$bin/test/fake-tg" --port "$fport" --bench >"$work/fake.out" 2>&1 &
pids+=($!)
# The webhook's secret, sent by wrk with every update as Telegram does (and to
# the trivial server too, so the ratio compares the same requests).
export BENCH_SECRET=bench_$(date +%s%N)_$$
# start_tgdesk MODE: tgdesk with prepared or unnamed statements; sets $tport, $tg_pid.
start_tgdesk() {
    local prepared=true
    [ "$1" = unnamed ] && prepared=false
    tport=$(scripts/freeport.sh)
    staff_env=()
    [ "$workload" = conversation ] && staff_env=(ADMIN_IDS=5550000001)
    env "${staff_env[@]}" DATABASE_URL="$db" PORT="$tport" LISTEN_ADDR=127.0.0.1 LOG_LEVEL=warn \
        TELEGRAM_API_URL="http://127.0.0.1:$fport" TELEGRAM_BOT_TOKEN=123456789:bench-token-for-the-fake-bot-api \
        TELEGRAM_GLOBAL_RPS=100000 QUEUE_CAPACITY=4096 WEBHOOK_SECRET="$BENCH_SECRET" \
        DB_PREPARED_STATEMENTS=$prepared "${extra_env[@]}" \
        "$bin/tgdesk" serve 2>"$work/tgdesk.log" &
    tg_pid=$!
    pids+=($tg_pid)
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$tport/livez" && break; sleep 0.1; done
}

start_tgdesk "${modes[0]}"

if [ "$prefill" -gt 0 ]; then
    echo "== prefill: $prefill requests"
    q "INSERT INTO users (user_id, username, first_name)
         SELECT 7000000000 + g, 'old' || g, 'Old' FROM generate_series(1, $prefill) g;
       INSERT INTO requests (user_id, issue, status, created_at, updated_at)
         SELECT 7000000000 + g, 'old problem ' || g, 'closed', now() - interval '30 days', now() - interval '29 days'
         FROM generate_series(1, $prefill) g;
       INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id, tg_message_id)
         SELECT r.id, r.user_id, 'user', r.issue, r.user_id, 1 FROM requests r WHERE r.user_id > 7000000000;
       INSERT INTO processed_updates (update_id, kind, received_at)
         SELECT 8000000000000 + g, 'message', now() - interval '30 days' FROM generate_series(1, $prefill) g;" >/dev/null
    # Settle the load first: the checkpoint it triggers would otherwise land
    # in the measured run.
    q "VACUUM ANALYZE" >/dev/null
    q "CHECKPOINT" >/dev/null
fi

lua=bench/new_conversation.lua
if [ "$workload" = conversation ]; then
    echo "== conversation workload: $conv_users users with open requests, staff replies"
    q "INSERT INTO users (user_id, username, first_name)
         SELECT 6000000000 + g, 'user_' || g, 'User' FROM generate_series(1, $conv_users) g;
       INSERT INTO requests (id, user_id, issue)
         SELECT g, 6000000000 + g, 'my order ' || g FROM generate_series(1, $conv_users) g;
       SELECT setval(pg_get_serial_sequence('requests', 'id'), (SELECT max(id) FROM requests));
       INSERT INTO users (user_id, username, first_name) VALUES (5550000001, 'bob_support', 'Bob')
         ON CONFLICT DO NOTHING;" >/dev/null
    lua=bench/conversation.lua
    export BENCH_USERS=$conv_users BENCH_STAFF=5550000001
fi
status=0
run_no=0
for mode in "${modes[@]}"; do
    [ "$run_no" -gt 0 ] && start_tgdesk "$mode"
    run_no=$((run_no + 1))
    url="http://127.0.0.1:$tport/webhook"
    # Every commit waits for an fdatasync of the WAL: with gigabytes of dirty
    # pages from the set-up (or from an earlier run) being written back, those
    # took 0.3 to 2 s here (PostgreSQL logged COMMITs that long). Start clean.
    sync
    echo "== warm-up ${warmup}s"
    BENCH_BASE=$((100000000000 + run_no * 10000000000)) wrk -t2 -c"$conns" -d"${warmup}s" -s "$lua" "$url" >/dev/null
    replies_before=$(curl -s "http://127.0.0.1:$fport/control/count?method=sendMessage" | sed 's/[^0-9]//g')

    # CPU time (clock ticks) of tgdesk and of the whole PostgreSQL cluster: with
    # 2 noisy cores, CPU per update is steadier than updates per second.
    ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
    pg_ticks() {
        local pm t=0 c
        pm=$(head -n 1 "$work/data/postmaster.pid")
        for c in "$pm" $(pgrep -P "$pm"); do t=$((t + $(ticks "$c"))); done
        echo "$t"
    }
    echo "== tgdesk: ${duration}s at $conns connections"
    base=$((200000000000 + run_no * 10000000000))
    tg_t0=$(ticks "$tg_pid")
    pg_t0=$(pg_ticks)
    log_lines=$(wc -l <"$work/postgres.log")
    [ "$pgss" = 1 ] && q "SELECT pg_stat_statements_reset()" >/dev/null
    BENCH_BASE=$base wrk -t2 -c"$conns" -d"${duration}s" --timeout 10s -s "$lua" "$url" >"$work/wrk.out"
    tg_cpu=$(($(ticks "$tg_pid") - tg_t0))
    # A commit waits for its WAL to reach the disk; on a virtual disk that
    # stalls now and then, every update in flight waits with it.
    tail -n +"$((log_lines + 1))" "$work/postgres.log" | grep 'duration: ' | cut -c1-300 >"$work/slow.log" || true
    cp "$work/slow.log" build/bench-slow.log
    slow=$(sed -n 's/.*duration: \([0-9]*\)\.[0-9]* ms.*/\1/p' "$work/slow.log" |
        awk '{n++; if ($1 > m) m = $1} END {printf "%d, longest %d ms", n, m}')
    slow_kinds=$(sed -n -e 's/.* ms  \(execute\|bind\|parse\) \([A-Za-z_0-9]*\).*/\2/p' \
        -e 's/.* ms  statement: \([A-Za-z]*\).*/\1/p' "$work/slow.log" |
        sort | uniq -c | sort -rn | head -n 4 | awk '{printf "%s%s x%d", s, $2, $1; s = ", "}')
    pg_cpu=$(($(pg_ticks) - pg_t0))
    line=$(grep '^BENCH ' "$work/wrk.out")
    val() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
    requests=$(val requests); dur_us=$(val duration_us); non2xx=$(val non2xx)
    if [ "$pgss" = 1 ]; then
        # The statements of the measured run (and of the sender's backlog up
        # to here), by execution time; "us/update" is per update answered.
        echo "== pg_stat_statements: calls, mean ms, execution us per update, share"
        q "WITH s AS (SELECT calls, total_exec_time AS t, mean_exec_time AS m,
                             left(regexp_replace(query, '\s+', ' ', 'g'), 70) AS q
                      FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'),
                r AS (SELECT sum(calls) AS calls, sum(t) AS t, NULL::float8 AS m, '(all)' AS q, 0 AS k FROM s
                      UNION ALL (SELECT calls, t, m, q, 1 FROM s ORDER BY t DESC LIMIT 8))
           SELECT format('%9s %8s %8s %6s %%  %s', calls, coalesce(round(m::numeric, 3)::text, '-'),
                         round((t * 1000 / $requests)::numeric, 1),
                         round((100 * t / (SELECT sum(t) FROM s))::numeric, 1), q)
           FROM r ORDER BY k, t DESC"
    fi
    errors=$(($(val connect_err) + $(val read_err) + $(val write_err) + $(val timeouts)))
    ok=$((requests - non2xx))
    rps=$((requests * 1000000 / dur_us))
    rss_kb=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$tg_pid/status")

    # Every acknowledged update is committed; every committed one is replied to.
    lo=$base
    hi=$((base + 2 * 1000000000))
    drain_steps=600
    [ "$workload" = conversation ] && drain_steps=0
    for _ in $(seq 1 "$drain_steps"); do
        [ "$(q "SELECT count(*) FROM outbox WHERE status = 'pending'")" = 0 ] && break
        sleep 0.1
    done
    in_db=$(q "SELECT count(*) FROM processed_updates WHERE update_id > $lo AND update_id < $hi")
    replied=$(($(curl -s "http://127.0.0.1:$fport/control/count?method=sendMessage" | sed 's/[^0-9]//g') - replies_before))
    lost=$((ok > in_db ? ok - in_db : 0))
    unreplied=$((in_db > replied ? in_db - replied : 0))
    kill -TERM "$tg_pid"
    wait "$tg_pid" || true

    printf '%-34s %s\n' "workload" "$workload" \
        "statements" "$mode" \
        "tgdesk updates/s" "$rps" \
        "latency p50 / p90 / p99 (ms)" "$(awk -v a="$(val p50_us)" -v b="$(val p90_us)" -v c="$(val p99_us)" 'BEGIN{printf "%.1f / %.1f / %.1f", a/1000, b/1000, c/1000}')" \
        "answered / non-2xx / socket errors" "$requests / $non2xx / $errors" \
        "committed (in the database)" "$in_db" \
        "replies received by the fake Bot API" "$replied" \
        "peak resident memory (MB)" "$(awk -v k="$rss_kb" 'BEGIN{printf "%.1f", k/1024}')" \
        "PostgreSQL statements over 100 ms" "$slow${slow_kinds:+ (}${slow_kinds}${slow_kinds:+)}" \
        "CPU per update: tgdesk / PostgreSQL" "$(awk -v t="$tg_cpu" -v p="$pg_cpu" -v n="$requests" -v hz="$(getconf CLK_TCK)" \
            'BEGIN{printf "%.0f us / %.0f us", t * 1e6 / hz / n, p * 1e6 / hz / n}')"
    if [ "$lost" -gt 0 ]; then echo "LOST $lost"; status=1; else echo "LOST 0"; fi
    if [ "$workload" = new ] && [ "$unreplied" -gt 0 ]; then echo "UNREPLIED $unreplied"; status=1; fi
    [ "$run_no" -gt 1 ] || rps_first=$rps
done

if [ "$ceilings" = 1 ]; then
    q "CREATE SEQUENCE IF NOT EXISTS bench_update START 5000000000000;
       CREATE SEQUENCE IF NOT EXISTS bench_user START 5000000000000" >/dev/null
    pgb=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pgbench
    sync
    best_a=0
    for c in 4 16 100; do
        t=$("$pgb" -n -c "$c" -j 2 -T "$ceiling_duration" -f bench/one_commit.sql "$db" 2>/dev/null |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p' | cut -d. -f1)
        echo "ceiling (a) pgbench one commit per update, $c clients: $t updates/s"
        [ "${t:-0}" -gt "$best_a" ] && best_a=$t
    done
    sync
    best_b=0
    for c in 2 4 8; do
        t=$("$pgb" -n -c "$c" -j 2 -T "$ceiling_duration" -f bench/batch32.sql "$db" 2>/dev/null |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p' | cut -d. -f1)
        t=$((${t:-0} * 32))
        echo "ceiling (b) pgbench 32 updates per transaction, $c clients: $t updates/s"
        [ "$t" -gt "$best_b" ] && best_b=$t
    done
    kill "${pids[0]}" 2>/dev/null || true # the fake Bot API is not needed any more
    hport=$(scripts/freeport.sh)
    "$bin/bench/bench-trivial" "$hport" &
    pids+=($!)
    sleep 0.3
    BENCH_BASE=0 wrk -t2 -c"$conns" -d"${ceiling_duration}s" -s "$lua" "http://127.0.0.1:$hport/webhook" >"$work/wrk-trivial.out"
    tl=$(grep '^BENCH ' "$work/wrk-trivial.out")
    best_c=$(($(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$tl") * 1000000 / $(sed -n 's/.* duration_us=\([0-9]*\).*/\1/p' <<<"$tl")))
    echo "ceiling (c) trivial HTTP server: $best_c requests/s"
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }'; }
    echo "== ratios (tgdesk with ${modes[0]} statements)"
    printf '%-44s %8s   target %s\n' \
        "tgdesk / (a) one commit per update" "$(ratio "$rps_first" "$best_a")x" ">= 4x" \
        "tgdesk / (b) 32 per transaction" "$(ratio "$((rps_first * 100))" "$best_b")%" ">= 30%" \
        "tgdesk / (c) trivial HTTP" "$(ratio "$((rps_first * 100))" "$best_c")%" ">= 15%"
fi
echo "p99 target <= 50 ms, peak RSS target <= 32 MB"
exit $status
