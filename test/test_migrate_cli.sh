#!/usr/bin/env bash
# `tgdesk migrate` against a real PostgreSQL, as an operator runs it.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg

db=$(new_db)
export DATABASE_URL="$db" LOG_LEVEL=warn

run "$TGDESK_BIN" migrate status
expect_eq "status on an empty database exits 1" 1 "$rc"
expect_contains "status lists pending migrations" "$out" "0001     core                     pending"

run "$TGDESK_BIN" migrate up
expect_eq "migrate up exits 0" 0 "$rc"
expect_contains "migrate up reports what it applied" "$out" "applied 0001_core"
total=$(sql "$db" "SELECT count(*) FROM schema_migrations")
expect_eq "every migration recorded" "$(grep -c '^applied' <<<"$out")" "$total"

run "$TGDESK_BIN" migrate status
expect_eq "status after up exits 0" 0 "$rc"
expect_not_contains "nothing pending" "$out" "pending"
expect_contains "applied with a date" "$out" "applied  20"

run "$TGDESK_BIN" migrate up
expect_eq "a second up exits 0" 0 "$rc"
expect_contains "a second up applies nothing" "$out" "nothing to apply"

# Rows with a user id above 2^31 and a supergroup id below -10^12 survive
# reverting every migration but the first, and applying them again.
sql "$db" "INSERT INTO users (user_id, username) VALUES (6123456789, 'alice_n');
           INSERT INTO requests (id, user_id, issue) VALUES (41, 6123456789, 'order A-1042');
           INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id, tg_message_id)
           VALUES (41, 6123456789, 'user', 'where is it?', -1001234567890, 7)" >/dev/null
steps=$((total - 1))
run "$TGDESK_BIN" migrate down "$steps"
expect_eq "migrate down N exits 0" 0 "$rc"
expect_eq "migrate down N reverts N" "$steps" "$(grep -c '^reverted' <<<"$out")"
run "$TGDESK_BIN" migrate status
expect_eq "status with pending migrations exits 1" 1 "$rc"
run "$TGDESK_BIN" migrate up
expect_eq "up after down exits 0" 0 "$rc"
expect_eq "rows survive the round trip" "6123456789|-1001234567890|where is it?" \
    "$(sql "$db" "SELECT r.user_id, m.chat_id, m.message FROM requests r JOIN messages m ON m.request_id = r.id")"

run "$TGDESK_BIN" migrate redo
expect_eq "redo exits 0" 0 "$rc"
expect_contains "redo reverts the last one" "$out" "reverted"
expect_contains "redo applies it again" "$out" "applied"
run "$TGDESK_BIN" migrate status
expect_eq "status after redo exits 0" 0 "$rc"

# An applied migration edited in place: simulate by changing its recorded
# checksum (the binary's copy is fixed at build time).
orig=$(sql "$db" "SELECT checksum FROM schema_migrations WHERE version = 1")
sql "$db" "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1" >/dev/null
run "$TGDESK_BIN" migrate up
expect_eq "changed migration: up exits 1" 1 "$rc"
expect_contains "changed migration: the file is named" "$err" "0001_core.up.sql"
run "$TGDESK_BIN" migrate status
expect_eq "changed migration: status exits 1" 1 "$rc"
expect_contains "changed migration: status shows it" "$out" "changed"
run env DB_INIT_RETRIES=2 DB_INIT_RETRY_DELAY=0 PORT=0 WEBHOOK_SECRET="$secret" "$TGDESK_BIN" serve
expect_eq "changed migration: serve refuses to start" 1 "$rc"
expect_eq "changed migration: not retried" 0 "$(grep -c 'database not reachable' <<<"$err" || true)"

# A dirty mark (a no-transaction migration that failed half-way) blocks.
sql "$db" "UPDATE schema_migrations SET checksum = '$orig' WHERE version = 1" >/dev/null
sql "$db" "UPDATE schema_migrations SET dirty = true, error = 'statement 2: boom'
           WHERE version = (SELECT max(version) FROM schema_migrations)" >/dev/null
run "$TGDESK_BIN" migrate status
expect_eq "dirty: status exits 1" 1 "$rc"
expect_contains "dirty: status shows the error" "$out" "statement 2: boom"
run "$TGDESK_BIN" migrate up
expect_eq "dirty: up exits 1" 1 "$rc"
expect_contains "dirty: up explains" "$err" "dirty"

# Two instances starting at the same moment migrate once.
db2=$(new_db)
DATABASE_URL="$db2" "$TGDESK_BIN" migrate up >"$scratch/a.out" 2>"$scratch/a.err" &
pa=$!
DATABASE_URL="$db2" "$TGDESK_BIN" migrate up >"$scratch/b.out" 2>"$scratch/b.err" &
pb=$!
set +e
wait $pa; ra=$?
wait $pb; rb=$?
set -e
expect_eq "concurrent up: both exit 0" "0 0" "$ra $rb"
expect_eq "concurrent up: each file applied once" "$total" \
    "$(cat "$scratch/a.out" "$scratch/b.out" | grep -c '^applied')"
expect_eq "concurrent up: recorded once" "$total" "$(sql "$db2" "SELECT count(*) FROM schema_migrations")"

finish
