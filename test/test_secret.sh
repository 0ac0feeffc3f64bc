#!/usr/bin/env bash
# The webhook's secret: a forged staff command without the right
# X-Telegram-Bot-Api-Secret-Token is refused with 401 before anything is
# read - no processed update, no outbox row, no Bot API call - while the same
# update with the secret works.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg
U="$TGDESK_SOURCE_ROOT/test/desk_update.py"

BOB=5550000001 ALICE=6100000001
db=$(new_db)
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

# A request of Alice's, so that /history 1 has something to show.
expect_eq "with the secret: a user's message is taken" 200 \
    "$(post_json "$(/usr/bin/python3 "$U" message 1001 $ALICE $ALICE 'my order is late')")"
wait_for 10 calls_ge sendMessage 1 || true
wait_for 10 sql_is "$db" "SELECT count(*) FROM outbox WHERE status = 'pending'" 0 || true
rows() { sql "$db" "SELECT (SELECT count(*) FROM processed_updates) || '|' || (SELECT count(*) FROM outbox)"; }
before=$(rows)
calls=$(fake_count sendMessage)
all_calls() { curl -s "$fake_url/control/calls" | pyq 'len(d)'; }
calls_all=$(all_calls)

# Bob's /history 1, forged: wrong secret, no secret, an empty one, another case.
forged=$(/usr/bin/python3 "$U" message 2001 $BOB $BOB '/history 1')
expect_eq "forged staff command, wrong secret: 401" 401 "$(secret=nope post_json "$forged")"
expect_eq "forged staff command, no secret: 401" 401 "$(secret= post_json "$forged")"
expect_eq "forged staff command, empty secret: 401" 401 \
    "$(secret= post_json "$forged" -H 'X-Telegram-Bot-Api-Secret-Token;')"
expect_eq "forged staff command, the secret in another case: 401" 401 \
    "$(secret=${secret^^} post_json "$forged")"
expect_eq "forged staff command, the secret with more after it: 401" 401 \
    "$(secret=${secret}x post_json "$forged")"
sleep 1
expect_eq "forged: no processed update, no outbox row" "$before" "$(rows)"
expect_eq "forged: update 2001 not recorded" 0 \
    "$(sql "$db" "SELECT count(*) FROM processed_updates WHERE update_id = 2001")"
expect_eq "forged: nothing sent to the Bot API" "$calls_all" "$(all_calls)"
log=$(cat "$scratch/tgdesk.log")
expect_not_contains "the secret is never logged" "$log" "$secret"

# The same update with the secret: answered and acted on.
expect_eq "the staff command with the secret: 200" 200 "$(post_json "$forged")"
if wait_for 10 calls_ge sendMessage $((calls + 1)); then ok "with the secret: /history answered"; else
    not_ok "with the secret: /history answered" "$(fake_calls sendMessage)"; fi
expect_eq "with the secret: update 2001 recorded" 1 \
    "$(sql "$db" "SELECT count(*) FROM processed_updates WHERE update_id = 2001")"

stop_tgdesk
expect_eq "SIGTERM: exit 0" 0 "$stop_rc"
finish
