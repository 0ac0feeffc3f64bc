#!/usr/bin/env bash
# `tgdesk outbox failed` and `tgdesk outbox retry ID...|--all`: a call that
# failed for good is listed with its reason, queued again by hand and
# delivered by the running instance's recovery pass.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg

db=$(new_db)
start_fake
start_tgdesk OUTBOX_MAX_ATTEMPTS=3 || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

# tg ARGS...: runs a tgdesk command on the test's database.
tg() { run env DATABASE_URL="$db" LOG_FORMAT=text "$TGDESK_BIN" "$@"; }
# say USER UPDATE_ID TEXT: a private message from USER.
say() {
    post_json "{\"update_id\":$2,\"message\":{\"message_id\":$2,\"from\":{\"id\":$1,\"is_bot\":false,\"first_name\":\"U$1\"},\"chat\":{\"id\":$1,\"type\":\"private\"},\"date\":1767225600,\"text\":\"$3\"}}"
}
sends_to() { fake_calls sendMessage | pyq "len([c for c in d if c['body'].get('chat_id') == $1 and c['status'] == 200])"; }

tg outbox failed
expect_eq "failed, none yet: exit 0" 0 "$rc"
expect_eq "failed, none yet: says so" "no failed calls" "$out"

# Two calls fail for good: a 400 for one chat, a 403 for another.
fake_fail '{"method":"sendMessage","chat_id":4200000001,"mode":"400","count":-1}'
fake_fail '{"method":"sendMessage","chat_id":4200000002,"mode":"403","count":-1}'
say 4200000001 800001 'help' >/dev/null
wait_for 10 sql_is "$db" "SELECT status FROM outbox WHERE chat_id = 4200000001" failed || true
say 4200000002 800002 'help' >/dev/null
wait_for 10 sql_is "$db" "SELECT status FROM outbox WHERE chat_id = 4200000002" failed || true
id1=$(sql "$db" "SELECT id FROM outbox WHERE chat_id = 4200000001")
id2=$(sql "$db" "SELECT id FROM outbox WHERE chat_id = 4200000002")
expect_eq "both calls failed" "failed failed" \
    "$(sql "$db" "SELECT string_agg(status, ' ') FROM outbox WHERE id IN ($id1, $id2)")"

tg outbox failed
expect_eq "failed: exit 0" 0 "$rc"
expect_eq "failed: a header and one line per call" 3 "$(wc -l <<<"$out")"
expect_contains "failed: a header" "$(head -n 1 <<<"$out")" "ID"
line2=$(sed -n 2p <<<"$out")
line3=$(sed -n 3p <<<"$out")
expect_eq "failed: newest first" "$id2 $id1" "$(awk '{print $1}' <<<"$line2") $(awk '{print $1}' <<<"$line3")"
expect_eq "failed: id, method, chat, attempts" "$id1 sendMessage 4200000001 1" \
    "$(awk '{print $1, $2, $3, $4}' <<<"$line3")"
expect_contains "failed: the reason" "$line3" "chat not found"
expect_contains "failed: the 403's reason" "$line2" "blocked"
if [[ "$(awk '{print $5}' <<<"$line3")" =~ ^[0-9]+s$ ]]; then ok "failed: the age"; else
    not_ok "failed: the age" "$line3"; fi

sql "$db" "UPDATE outbox SET created_at = now() - interval '3 hours 5 minutes 7 seconds' WHERE id = $id1" >/dev/null
sql "$db" "UPDATE outbox SET created_at = now() - interval '2 days 4 hours' WHERE id = $id2" >/dev/null
tg outbox failed
expect_eq "failed: ages as two units, newest first" "3h 05m|2d 04h" \
    "$(awk '{print $5, $6}' <<<"$out" | sed -n '2p;3p' | paste -sd '|')"

# The fake answers again; retry the 400 one by id (and an unknown id).
curl -s -o /dev/null -X POST "$fake_url/control/fail/clear"
before=$(sends_to 4200000001)
tg outbox retry "$id1" 999999999
expect_eq "retry with an unknown id: exit 1" 1 "$rc"
expect_contains "...naming it" "$err" "999999999"
expect_not_contains "...not the failed one" "$err" "$id1 "
expect_eq "...the failed one still queued" "1 failed call(s) queued again" "$out"
# (the recovery pass may have delivered it already: then the row is gone)
st=$(sql "$db" "SELECT status || '|' || attempts || '|' || (last_error IS NOT NULL)::int FROM outbox WHERE id = $id1")
if [ "$st" = "pending|0|1" ] || [ -z "$st" ]; then ok "retried row: pending, attempts 0, reason kept"; else
    not_ok "retried row: pending, attempts 0, reason kept" "$st"; fi
if wait_for 15 sql_is "$db" "SELECT count(*) FROM outbox WHERE id = $id1" 0; then
    ok "retried call delivered: the row left the outbox"; else
    not_ok "retried call delivered: the row left the outbox" \
        "$(sql "$db" "SELECT status || '|' || attempts || '|' || coalesce(last_error, '') FROM outbox WHERE id = $id1")"; fi
expect_eq "the fake received it" "$((before + 1))" "$(sends_to 4200000001)"

tg outbox retry "$id1"
expect_eq "retry of a delivered id: exit 1" 1 "$rc"
expect_contains "...naming it" "$err" "$id1"
tg outbox failed
expect_eq "failed: only the 403 left" 2 "$(wc -l <<<"$out")"

# --all
before=$(sends_to 4200000002)
tg outbox retry --all
expect_eq "retry --all: exit 0" 0 "$rc"
expect_eq "retry --all: how many" "1 failed call(s) queued again" "$out"
wait_for 15 sql_is "$db" "SELECT count(*) FROM outbox" 0 || true
expect_eq "retry --all: delivered" "0 $((before + 1))" \
    "$(sql "$db" "SELECT count(*) FROM outbox") $(sends_to 4200000002)"
tg outbox failed
expect_eq "failed: none left" "no failed calls" "$out"
tg outbox retry --all
expect_eq "retry --all, none failed: exit 0" "0 0 failed call(s) queued again" "$rc $out"

# Usage errors: exit 2.
tg outbox retry
expect_eq "retry without ids: exit 2" 2 "$rc"
expect_contains "...a usage line" "$err" "--help"
tg outbox retry 12x
expect_eq "retry with a non-number: exit 2" 2 "$rc"
tg outbox retry 0
expect_eq "retry with id 0: exit 2" 2 "$rc"
tg outbox retry --all 5
expect_eq "retry --all with an id: exit 2" 2 "$rc"
tg outbox failed extra
expect_eq "failed with an argument: exit 2" 2 "$rc"
tg outbox
expect_eq "outbox without a subcommand: exit 2" 2 "$rc"
tg outbox frob
expect_eq "unknown outbox subcommand: exit 2" 2 "$rc"
tg migrate up --all
expect_eq "--all elsewhere: exit 2" 2 "$rc"

# The database unreachable: exit 1.
run env DATABASE_URL="host=127.0.0.1 port=$(freeport) user=postgres dbname=x connect_timeout=2" \
    "$TGDESK_BIN" outbox failed
expect_eq "database unreachable: exit 1" 1 "$rc"

stop_tgdesk TERM
finish
