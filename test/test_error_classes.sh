#!/usr/bin/env bash
# What a database error means for an update: only a data error of the update
# itself (SQLSTATE classes 22 and 23) makes it a dead letter; every other
# error - here a half-applied deployment that renamed a column the desk uses -
# is answered 503, so that Telegram delivers the update again, and once the
# operator fixes the schema the redelivered updates are processed: none lost.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

BOB=5550000001 ALICE=6300000001 DAVE=6300000002
db=$(new_db)
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
metric() { curl -s "$base/metrics" | awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print 0}'; }
# code_of ARGS...: the status code of the update desk_update.py builds (body kept in $scratch/u.<id>).
code_of() {
    /usr/bin/python3 "$U" "$@" >"$scratch/u.$2"
    post "$scratch/u.$2"
}

say message 3001 $ALICE $ALICE 'First, before the deployment' --name Alice
R=$(q "SELECT id FROM requests WHERE user_id = $ALICE")
settle

# The deployment renames a column the desk writes (SQLSTATE 42703: an
# undefined column - the schema's fault, not the updates').
q "ALTER TABLE messages RENAME COLUMN message TO message_renamed" >/dev/null
deferred0=$(metric 'tgdesk_updates_deferred_total{reason="db_error"}')
codes="$(code_of message 3002 $ALICE $ALICE 'Written during the broken deployment' --name Alice)"
codes="$codes $(code_of message 3003 $DAVE $DAVE 'A new user, during it' --name Dave)"
codes="$codes $(code_of message 3004 $BOB $BOB "/reply $R We are on it" --name Bob)"
expect_eq "schema error: every update answered 503" "503 503 503" "$codes"
expect_eq "schema error: no dead letter, no update claimed" "0|0" \
    "$(q "SELECT count(*) FILTER (WHERE outcome = 'dead') || '|' || count(*) FILTER (WHERE update_id IN (3002, 3003, 3004)) FROM processed_updates")"
expect_eq "schema error: counted as the operator's error" "3" \
    "$(( $(metric 'tgdesk_updates_deferred_total{reason="db_error"}') - deferred0 ))"
expect_contains "schema error: logged with its SQLSTATE" "$(cat "$scratch/tgdesk.log")" '"sqlstate":"42703"'

# The operator fixes it; Telegram's redeliveries are processed, none lost.
q "ALTER TABLE messages RENAME COLUMN message_renamed TO message" >/dev/null
mark
codes=""
for id in 3002 3003 3004; do codes="$codes $(post "$scratch/u.$id")"; done
expect_eq "fixed: the redeliveries answered 200" " 200 200 200" "$codes"
R2=$(q "SELECT id FROM requests WHERE user_id = $DAVE")
expect_eq "fixed: every message stored, in its request" \
    "$R:user:Written during the broken deployment|$R2:user:A new user, during it|$R:admin:We are on it" \
    "$(q "SELECT string_agg(request_id || ':' || sender_type || ':' || message, '|' ORDER BY tg_message_id) FROM messages WHERE tg_message_id IN (3002, 3003, 3004)")"
expect_calls "fixed: the texts of the redelivered updates" \
    "sendMessage $BOB Request #$R - Alice writes:⏎Written during the broken deployment [take:$R,close:$R]" \
    "sendMessage $DAVE Request #$R2 created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one." \
    "sendMessage $BOB New request #$R2 from Dave:⏎A new user, during it [take:$R2,close:$R2]" \
    "sendMessage $ALICE We are on it" \
    "sendMessage $BOB Request #$R is now assigned to Bob."
expect_eq "fixed: no dead letter" "0" "$(q "SELECT count(*) FROM processed_updates WHERE outcome = 'dead'")"

# A data error of one update stays a dead letter (class 23: a constraint it can never meet).
q "ALTER TABLE messages ADD CONSTRAINT no_poison CHECK (message NOT LIKE '%poison%')" >/dev/null
expect_eq "data error: acknowledged" "200" "$(code_of message 3005 $ALICE $ALICE 'poison pill' --name Alice)"
expect_eq "data error: dead-lettered with its SQLSTATE" "dead|SQLSTATE 23514" \
    "$(q "SELECT outcome || '|' || error FROM processed_updates WHERE update_id = 3005")"

finish
