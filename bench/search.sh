#!/usr/bin/env bash
# Full-text search with many requests (docs/search.md): what search costs the
# hot path, and how fast /search and the similar-requests look-up are with a
# million requests.
#
#   bench/search.sh [--requests N] [--seconds S]
#
# 1. hot path, PostgreSQL's side: the instructions a backend spends on the
#    rows of a "new conversation" (an update id, a user, a request, a
#    message, an outbox row), counted by callgrind, on four schemas in turn:
#    without search (the triggers and the index dropped), as tgdesk has it
#    (documents made when a request finishes), and two designs left out - a
#    GIN expression index over every request's issue, and a trigger keeping
#    a document for every request from its first message;
# 2. loads N requests (bench/search_corpus.sql: realistic words, 90 % solved
#    or closed) and lets tgdesk's background indexer make their documents,
#    as after an upgrade or a change of SEARCH_LANGUAGE (timed);
# 3. /search and the similar-requests look-up: pgbench's average latency
#    (one client, S seconds each), then EXPLAIN ANALYZE of each kind of
#    query (the best of three runs);
# 4. what a request's document costs when it is solved.
# The cluster runs with fsync off (scripts/pg.sh --fast): the figures are
# CPU and reading, the same for durable commits.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

requests=1000000
seconds=10
while [ $# -gt 0 ]; do
    case $1 in
    --requests) requests=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "usage: bench/search.sh [--requests N] [--seconds S]" >&2; exit 2 ;;
    esac
done

scripts/deps.sh bench
echo "== build (release)"
[ -f build/bench/build.ninja ] || meson setup build/bench -Dbuildtype=release >/dev/null
meson compile -C build/bench tgdesk test/fake-tg >build/bench-compile.log 2>&1 ||
    { cat build/bench-compile.log; exit 1; }
pgbench=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pgbench

bench_cluster search --fast
q() { psql "$db" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
DATABASE_URL="$db" build/bench/tgdesk migrate up >/dev/null 2>&1
echo "== PostgreSQL $(q 'SHOW server_version'), $(nproc) cores, fsync=$(q 'SHOW fsync')"

# ---- 1. the hot path ------------------------------------------------------------
# Instructions PostgreSQL spends (callgrind of a single-user backend: a count
# that a busy machine does not change) on the same 1000 new conversations,
# written as tgdesk writes them - a batch of 25 per statement - each schema
# starting from the same copy of the data directory, minus what the backend
# spends on nothing. The statements are planned each time here (tgdesk
# prepares its own), so the totals are above tgdesk's; the differences
# between the schemas are what search costs.
pgbin=$(dirname "$pgbench")
owner() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
single_opts=(-c fsync=off -c full_page_writes=off)
single() { owner "$pgbin/postgres" --single -D "$work/data" "${single_opts[@]}" tgdesk >/dev/null; }
# instructions FILE: what a single-user backend spends running the lines of FILE.
instructions() {
    owner valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$pgbin/postgres" --single -D "$work/data" "${single_opts[@]}" tgdesk <"$1" >/dev/null 2>&1
    callgrind_annotate "$work/cg.out" 2>/dev/null | sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
}
hot_n=1000
batch=25
for ((i = 1; i <= hot_n; i += batch)); do
    echo "WITH p AS (INSERT INTO processed_updates (update_id, kind) SELECT g, 'message' FROM generate_series($i, $((i + batch - 1))) g), u AS (INSERT INTO users (user_id, username, first_name) SELECT 3000000000 + g, 'bench', 'Bench' FROM generate_series($i, $((i + batch - 1))) g RETURNING user_id), r AS (INSERT INTO requests (user_id, issue) SELECT user_id, 'Hi, my order still has not arrived' FROM u RETURNING id, user_id), m AS (INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id, tg_message_id) SELECT id, user_id, 'user', 'Hi, my order still has not arrived', user_id, 1 FROM r) INSERT INTO outbox (chat_id, method, payload, purpose, request_id) SELECT user_id, 'sendMessage', jsonb_build_object('chat_id', user_id, 'text', 'Request #' || id || ' created.'), 'reply', id FROM r"
done >"$work/hot.sql"
: >"$work/none.sql"
# per_update LABEL DDL: from the copy, runs DDL, then prints the instructions
# per new conversation.
per_update() {
    owner rm -rf "$work/data"
    owner cp -a "$work/data.copy" "$work/data"
    [ -z "$2" ] || printf '%s\n' "$2" | single
    local with without
    with=$(instructions "$work/hot.sql")
    without=$(instructions "$work/none.sql")
    printf '%-56s %8d instructions per new conversation\n' "$1" $(((with - without) / hot_n))
}
no_search="DROP TRIGGER requests_search_insert ON requests; DROP TRIGGER requests_search_update ON requests; DROP INDEX requests_search"
echo "== 1. hot path: PostgreSQL's instructions for the rows of a new conversation ($hot_n in batches of $batch, callgrind)"
scripts/pg.sh stop "$work"
owner cp -a "$work/data" "$work/data.copy"
per_update "without search" "$no_search"
per_update "search as built (documents when a request finishes)" "SELECT 1"
per_update "left out: GIN expression index on every issue" \
    "$no_search; CREATE INDEX bench_issue ON requests USING gin (to_tsvector('simple', issue))"
per_update "left out: a trigger-kept document for every request" \
    "$no_search; CREATE FUNCTION bench_doc() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN NEW.search := to_tsvector(''simple'', NEW.issue); RETURN NEW; END'; CREATE TRIGGER bench_doc BEFORE INSERT ON requests FOR EACH ROW EXECUTE FUNCTION bench_doc(); CREATE INDEX bench_search ON requests USING gin (search)"
owner rm -rf "$work/data"
owner mv "$work/data.copy" "$work/data"
scripts/pg.sh start "$work" "$pgport" --fast

# ---- 2. a million requests ------------------------------------------------------
echo "== 2. $requests requests"
t0=$(date +%s.%N)
psql "$db" -qX -v ON_ERROR_STOP=1 -v requests="$requests" -f bench/search_corpus.sql
t1=$(date +%s.%N)
printf 'loaded in %.0f s: %s requests, %s messages\n' "$(echo "$t1 - $t0" | bc)" \
    "$(q 'SELECT count(*) FROM requests')" "$(q 'SELECT count(*) FROM messages')"
# The load's insert trigger made documents of issue and solution only (the
# messages came after): the indexer makes them again, as after an upgrade.
q "INSERT INTO bot_state (key, value) VALUES ('search_reindex_from', '0')
   ON CONFLICT (key) DO UPDATE SET value = '0'"
fport=$(scripts/freeport.sh)
build/bench/test/fake-tg --port "$fport" >/dev/null 2>&1 &
pids+=($!)
tport=$(scripts/freeport.sh)
t0=$(date +%s.%N)
DATABASE_URL="$db" PORT="$tport" LISTEN_ADDR=127.0.0.1 LOG_LEVEL=warn WEBHOOK_INSECURE=true \
    TELEGRAM_API_URL="http://127.0.0.1:$fport" build/bench/tgdesk serve 2>"$work/tgdesk.log" &
tg=$!
pids+=($tg)
until [ "$(q "SELECT count(*) FROM bot_state WHERE key = 'search_reindex_from'")" = 0 ]; do sleep 1; done
t1=$(date +%s.%N)
kill -TERM "$tg"
wait "$tg" || true
printf 'background indexer: %s documents in %.0f s\n' \
    "$(q 'SELECT count(*) FROM requests WHERE search IS NOT NULL')" "$(echo "$t1 - $t0" | bc)"
q "VACUUM ANALYZE requests" >/dev/null
q "VACUUM ANALYZE messages" >/dev/null
echo "requests table $(q "SELECT pg_size_pretty(pg_table_size('requests'))"), search index $(q "SELECT pg_size_pretty(pg_relation_size('requests_search'))"), $(q "SELECT count(*) FROM requests WHERE status IN ('open', 'assigned')") open requests"

# ---- 3. the queries ---------------------------------------------------------------
echo "== 3. queries (pgbench: one client, ${seconds}s each; then EXPLAIN ANALYZE, the best of 3 runs)"
# latency LABEL SQL: pgbench's average latency of SQL, which may use :r (1..8).
latency() {
    printf '\\set r random(1, 8)\n%s;\n' "$2" >"$work/query.sql"
    printf '%-46s %8s ms average\n' "$1" "$("$pgbench" -n -f "$work/query.sql" -c 1 -T "$seconds" "$db" 2>&1 |
        sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')"
}
# explain LABEL SQL: the shortest execution time of three runs.
explain() {
    local i t best=""
    for i in 1 2 3; do
        t=$(q "EXPLAIN (ANALYZE, TIMING OFF) $2" | sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p')
        best=$(printf '%s\n' $best "$t" | sort -g | head -n 1)
    done
    printf '%-46s %8s ms\n' "$1" "$best"
}
search="SELECT * FROM tgdesk_search"
similar="SELECT * FROM tgdesk_search_similar"
SENTENCES="ARRAY['Hi, I forgot my password and the reset link does not work',
    'my parcel is late, where is my delivery? order a123456',
    'the app crashes on my android phone after the update',
    'Hello! I was charged twice for my order, please refund',
    'how do I cancel my premium subscription before it renews',
    'I need an invoice with our company VAT number',
    'promo code SPRING20 says invalid at checkout',
    'someone logged in to my account from an unknown device']"
latency "/search one common word" "$search((ARRAY['refund','password','delivery','app','invoice','promo','account','security'])[:r], 10, 1000)"
latency "/search two words" "$search((ARRAY['refund card','password reset','parcel late','app crash','invoice vat','promo code','delete data','login code'])[:r], 10, 1000)"
latency "/search an order number" "$search('a' || (100000 + :r * 7919)::text, 10, 1000)"
latency "similar solved requests of a new request" "$similar((${SENTENCES})[:r], 3)"
latency "similar, eight new requests in one statement" \
    "SELECT count(*) FROM unnest(${SENTENCES}) t(b), LATERAL tgdesk_search_similar(t.b, 3) s"
for w in refund 'refund card twice' '"reset link" expired' a123456 'the'; do
    explain "/search $w" "$search('${w//\'/\'\'}', 10, 1000)"
done
for i in 1 2 3 4 5 6 7 8; do
    explain "similar: sentence $i" "$similar((${SENTENCES})[$i], 3)"
done

# Instructions per query, as for the hot path: a busy machine changes the
# milliseconds above, not these.
echo "== 3b. instructions per query (callgrind of a single-user backend, each query twice)"
scripts/pg.sh stop "$work"
# per_query LABEL SQL...: the instructions of one query, from running each SQL twice.
per_query() {
    local label=$1 with without n=0
    shift
    : >"$work/q.sql"
    for sql in "$@" "$@"; do
        printf '%s\n' "$sql" | tr '\n' ' ' >>"$work/q.sql"
        printf '\n' >>"$work/q.sql"
        n=$((n + 1))
    done
    with=$(instructions "$work/q.sql")
    without=$(instructions "$work/none.sql")
    printf '%-46s %10d instructions\n' "$label" $(((with - without) / n))
}
words=(refund password delivery app invoice promo account security)
common=() orders=() sims=()
for i in 1 2 3 4 5 6 7 8; do
    common+=("$search('${words[$((i - 1))]}', 10, 1000)")
    orders+=("$search('a$((100000 + i * 7919))', 10, 1000)")
    sims+=("$similar((${SENTENCES})[$i], 3)")
done
per_query "/search one common word" "${common[@]}"
per_query "/search an order number" "${orders[@]}"
per_query "similar solved requests of a new request" "${sims[@]}"
scripts/pg.sh start "$work" "$pgport" --fast

# ---- 4. solving ---------------------------------------------------------------------
echo "== 4. solving: the document made by the trigger"
ids=$(q "SELECT count(*) FROM requests WHERE status = 'open'")
t=$(q "EXPLAIN (ANALYZE, TIMING OFF) UPDATE requests SET status = 'solved', assigned_admin = 5550000001,
         solution = 'use the reset link on the login page' WHERE status = 'open'" |
    sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p')
printf 'solving %s open requests in one statement: %s ms, %.1f us each\n' "$ids" "$t" "$(echo "$t * 1000 / $ids" | bc -l)"
