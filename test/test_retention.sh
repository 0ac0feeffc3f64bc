#!/usr/bin/env bash
# Retention: rows older than their window go, younger ones stay, dead letters
# and audit rows are kept; an update id older than the window is processed
# again; and while another instance holds the retention lock this one
# deletes nothing (several instances do the work once).
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

ALICE=6400000001 BEN=6400000002 CARL=6400000003 STAFF=5550000001
LOCK=7467100001
db=$(new_db)
start_fake
start_tgdesk ADMIN_IDS=$STAFF || { not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
stop_tgdesk

q "INSERT INTO users (user_id, first_name) VALUES ($ALICE, 'Alice'), ($BEN, 'Ben'), ($CARL, 'Carl')" >/dev/null
q "INSERT INTO processed_updates (update_id, received_at, kind) SELECT g, now() - interval '200 hours', 'message' FROM generate_series(9001, 9005) g" >/dev/null
q "INSERT INTO processed_updates (update_id, received_at, kind, outcome, error) VALUES (9006, now() - interval '200 hours', 'message', 'dead', 'SQLSTATE 23514'), (9010, now() - interval '100 hours', 'message', 'processed', NULL)" >/dev/null
old=$(q "INSERT INTO requests (user_id, issue, status, created_at, resolved_at) VALUES ($ALICE, 'old', 'closed', now() - interval '50 days', now() - interval '40 days') RETURNING id")
recent=$(q "INSERT INTO requests (user_id, issue, status, created_at, resolved_at) VALUES ($BEN, 'recent', 'solved', now() - interval '20 days', now() - interval '10 days') RETURNING id")
active=$(q "INSERT INTO requests (user_id, issue, status, created_at) VALUES ($CARL, 'active', 'open', now() - interval '60 days') RETURNING id")
q "INSERT INTO notifications (chat_id, message_id, request_id) VALUES ($STAFF, 1, $old), ($STAFF, 2, $old), ($STAFF, 3, $recent), ($STAFF, 4, $active)" >/dev/null
q "INSERT INTO outbox (chat_id, method, payload, purpose, status, created_at, next_attempt_at) VALUES
   ($ALICE, 'sendMessage', '{}', 'reply', 'failed', now() - interval '40 days', now()),
   ($ALICE, 'sendMessage', '{}', 'reply', 'failed', now() - interval '5 days', now()),
   ($ALICE, 'sendMessage', '{}', 'reply', 'pending', now() - interval '40 days', now() + interval '1 hour')" >/dev/null
q "INSERT INTO logs (timestamp, level, message, context, audit) VALUES
   (now() - interval '40 days', 'warn', 'old event', '{}', false),
   (now() - interval '400 days', 'info', 'old audit', '{}', true),
   (now() - interval '1 day', 'warn', 'young event', '{}', false)" >/dev/null
snapshot() {
    q "SELECT (SELECT string_agg(update_id::text, ',' ORDER BY update_id) FROM processed_updates) || ' | ' ||
              (SELECT string_agg(message_id::text, ',' ORDER BY message_id) FROM notifications) || ' | ' ||
              (SELECT string_agg(status || extract(day FROM now() - created_at)::int, ',' ORDER BY id) FROM outbox) || ' | ' ||
              (SELECT string_agg(message, ',' ORDER BY id) FROM logs WHERE message IN ('old event', 'old audit', 'young event'))"
}
before=$(snapshot)

# Another instance holds the retention lock: this one deletes nothing.
psql "$db" -qAtX -c "SELECT pg_advisory_lock($LOCK), pg_sleep(8)" >/dev/null &
holder=$!
sleep 1
start_tgdesk ADMIN_IDS=$STAFF || { not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
sleep 5 # the first round runs 2 s after start, the logs table's after 6 s
expect_eq "lock held elsewhere: nothing deleted" "$before" "$(snapshot)"
wait "$holder"
stop_tgdesk

# Lock free: the old rows go, the young ones, the dead letter and the audit row stay.
start_tgdesk ADMIN_IDS=$STAFF || { not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
pruned() { sql_is "$db" "SELECT count(*) FROM processed_updates WHERE update_id < 9006" 0 &&
    sql_is "$db" "SELECT count(*) FROM logs WHERE message = 'old event'" 0; }
wait_for 20 pruned || not_ok "retention ran" "$(snapshot)"
expect_eq "old rows gone, young ones, dead letters and audit rows kept" \
    "9006,9010 | 3,4 | failed5,pending40 | old audit,young event" "$(snapshot)"
expect_contains "retention logged" "$(cat "$scratch/tgdesk.log")" '"msg":"retention deleted old rows","table":"processed_updates","rows":5'

# An update id older than the window is processed again (Telegram restarts
# its ids at random after a week without updates).
q "DELETE FROM outbox" >/dev/null # the rows made up above are not for the fake
mark
say message 9001 $ALICE $ALICE 'A new message under a recycled id' --name Alice
expect_eq "recycled update id: processed again" "1" \
    "$(q "SELECT count(*) FROM messages WHERE tg_message_id = 9001 AND message = 'A new message under a recycled id'")"
R=$(q "SELECT id FROM requests WHERE user_id = $ALICE AND status = 'open'")
expect_calls "recycled update id: the usual texts" \
    "sendMessage $ALICE Request #$R created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one." \
    "sendMessage $STAFF New request #$R from Alice:⏎A new message under a recycled id [take:$R,close:$R]"

finish
