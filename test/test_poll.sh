#!/usr/bin/env bash
# `tgdesk webhook set|info|delete` and `tgdesk poll` against the fake Bot API:
# what setWebhook is sent, how info is printed, getUpdates through the same
# pipeline with the offset kept in the database - each update takes effect
# exactly once across restarts and redeliveries, also when one answer holds
# more updates than tgdesk takes at once.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg
U="$TGDESK_SOURCE_ROOT/test/desk_update.py"

db=$(new_db)
start_fake
SECRET=s3cret-token_ABC
# tg VAR=VALUE... -- ARGS: runs tgdesk with the test's environment.
tg() {
    local vars=()
    while [ "$1" != "--" ]; do vars+=("$1"); shift; done
    shift
    run env DATABASE_URL="$db" TELEGRAM_API_URL="$fake_url" TELEGRAM_BOT_TOKEN="$TOKEN" \
        LOG_FORMAT=text "${vars[@]}" "$TGDESK_BIN" "$@"
}

# ---- webhook set / info / delete ---------------------------------------------

tg WEBHOOK_SECRET=$SECRET -- webhook set https://desk.example.com/webhook
expect_eq "webhook set: exit 0" 0 "$rc"
expect_contains "webhook set: prints the URL" "$out" "webhook set: https://desk.example.com/webhook"
expect_contains "webhook set: prints Telegram's answer" "$out" "Telegram: Webhook was set"
call=$(fake_calls setWebhook | pyq 'd[-1]["body"]["url"], d[-1]["body"]["secret_token"], d[-1]["body"]["allowed_updates"], d[-1]["body"]["max_connections"]')
expect_eq "setWebhook: url, secret_token, exactly the kinds handled, max_connections" \
    "https://desk.example.com/webhook $SECRET ['message', 'edited_message', 'callback_query', 'my_chat_member', 'business_connection', 'business_message', 'edited_business_message', 'deleted_business_messages'] 100" "$call"
expect_not_contains "the secret is not printed" "$out$err" "$SECRET"

n0=$(fake_count setWebhook)
tg HTTP_MAX_PER_IP=50 -- webhook set https://desk.example.com/webhook
expect_eq "webhook set without a secret: exit 2" 2 "$rc"
expect_contains "...naming WEBHOOK_SECRET" "$err" "WEBHOOK_SECRET is not set"
expect_eq "...and Telegram is not called" "$n0" "$(fake_count setWebhook)"
tg HTTP_MAX_PER_IP=50 WEBHOOK_INSECURE=true -- webhook set https://desk.example.com/webhook
expect_eq "webhook set without a secret, WEBHOOK_INSECURE=true: exit 0" 0 "$rc"
expect_contains "...with a warning" "$out" "NOT set"
expect_eq "...no secret_token, max_connections within HTTP_MAX_PER_IP" "False 50" \
    "$(fake_calls setWebhook | pyq '"secret_token" in d[-1]["body"], d[-1]["body"]["max_connections"]')"

curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d '{"last_error_date":1767225600,"last_error_message":"Wrong response from the webhook: 502 Bad Gateway","pending_update_count":7}' \
    "$fake_url/control/webhook_info"
tg -- webhook info
expect_eq "webhook info: exit 0" 0 "$rc"
expect_contains "webhook info: url" "$out" "url:                 https://desk.example.com/webhook"
expect_contains "webhook info: pending updates" "$out" "pending updates:     7"
expect_contains "webhook info: last error with ISO time" "$out" "last error:          2026-01-01T00:00:00Z  Wrong response from the webhook: 502 Bad Gateway"
expect_contains "webhook info: max connections" "$out" "max connections:     50"
expect_contains "webhook info: allowed updates" "$out" "allowed updates:     message, edited_message, callback_query, my_chat_member, business_connection, business_message, edited_business_message, deleted_business_messages"
curl -s -o /dev/null -X POST "$fake_url/control/reset"

tg WEBHOOK_SECRET=$SECRET -- webhook set https://desk.example.com/webhook
t0=$(date +%s%N)
tg -- poll
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "poll while a webhook is set: exit 1" 1 "$rc"
expect_contains "...telling the operator what to do" "$err" "tgdesk webhook delete"
if [ "$ms" -lt 10000 ]; then ok "...at once (${ms} ms)"; else not_ok "...at once" "took ${ms} ms"; fi

tg -- webhook delete
expect_eq "webhook delete: exit 0" 0 "$rc"
expect_contains "webhook delete: says so" "$out" "webhook deleted"
expect_eq "deleteWebhook called" 1 "$(fake_count deleteWebhook)"

tg WEBHOOK_SECRET=$SECRET -- webhook set https://desk.example.com:8444/webhook
expect_eq "Telegram refuses the URL: exit 1" 1 "$rc"
expect_contains "...with Telegram's reason" "$err" "Webhook can be set up only on ports"

tg -- webhook
expect_eq "webhook without a subcommand: exit 2" 2 "$rc"
tg -- webhook set
expect_eq "webhook set without a URL: exit 2" 2 "$rc"
tg -- webhook set http://desk.example.com/webhook
expect_eq "webhook set with http://: exit 2" 2 "$rc"
expect_contains "...saying why" "$err" "https://"
tg -- webhook frob
expect_eq "unknown webhook subcommand: exit 2" 2 "$rc"
tg -- webhook info extra
expect_eq "webhook info with an argument: exit 2" 2 "$rc"
tg TELEGRAM_BOT_TOKEN= -- webhook info
expect_eq "webhook without TELEGRAM_BOT_TOKEN: exit 2" 2 "$rc"
expect_contains "...naming it" "$err" "TELEGRAM_BOT_TOKEN"
tg TELEGRAM_BOT_TOKEN= -- poll
expect_eq "poll without TELEGRAM_BOT_TOKEN: exit 2" 2 "$rc"
tg -- poll now
expect_eq "poll with an argument: exit 2" 2 "$rc"

# ---- poll ---------------------------------------------------------------------

# queue JSON...: queues updates for getUpdates.
queue() {
    local u
    for u in "$@"; do
        curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$u" "$fake_url/control/updates"
    done
}
start_poll() {
    env DATABASE_URL="$db" TELEGRAM_API_URL="$fake_url" TELEGRAM_BOT_TOKEN="$TOKEN" \
        TELEGRAM_GLOBAL_RPS=10000 LOG_FORMAT=text "$TGDESK_BIN" poll 2>>"$scratch/poll.log" &
    poll_pid=$!
    t_cleanups+=("kill -9 $poll_pid 2>/dev/null")
}
stop_poll() {
    kill -TERM "$poll_pid"
    set +e
    wait "$poll_pid"
    poll_rc=$?
    set -e
}
created_replies() {
    fake_calls sendMessage | pyq 'len([c for c in d if c["body"]["text"].startswith("Request #")])'
}

queue "$(python3 "$U" message 5001 6200000001 6200000001 'Poll one' --name Ann)" \
      "$(python3 "$U" message 5002 6200000001 6200000001 'Poll two' --name Ann)" \
      "$(python3 "$U" message 5003 6200000002 6200000002 'Poll three' --name Ben)"
start_poll
if wait_for 20 sql_is "$db" "SELECT count(*) FROM messages" 3; then ok "poll: three updates processed"; else
    not_ok "poll: three updates processed" "$(tail -5 "$scratch/poll.log")"; fi
wait_for 10 sql_is "$db" "SELECT value FROM bot_state WHERE key = 'poll_offset'" 5004 || true
expect_eq "poll: offset stored in bot_state" 5004 "$(sql "$db" "SELECT value FROM bot_state WHERE key = 'poll_offset'")"
expect_eq "poll: two requests, Ann's two messages in one" "2|2,1" \
    "$(sql "$db" "SELECT count(*) || '|' || string_agg(n::text, ',' ORDER BY n DESC) FROM (SELECT count(*) n FROM messages GROUP BY request_id) x")"
wait_for 10 calls_ge sendMessage 2 || true
expect_eq "poll: each new request answered once" 2 "$(created_replies)"
expect_eq "poll: getUpdates asks for exactly the kinds handled, long polling" \
    "['message', 'edited_message', 'callback_query', 'my_chat_member', 'business_connection', 'business_message', 'edited_business_message', 'deleted_business_messages'] 25" \
    "$(fake_calls getUpdates | pyq 'd[0]["body"]["allowed_updates"], d[0]["body"]["timeout"]')"

# SIGTERM during a long poll: out within about a second, exit 0.
sleep 1
t0=$(date +%s%N)
stop_poll
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "poll: SIGTERM exits 0" 0 "$poll_rc"
if [ "$ms" -lt 5000 ]; then ok "poll: SIGTERM ends the long poll at once (${ms} ms)"; else
    not_ok "poll: SIGTERM ends the long poll at once" "took ${ms} ms"; fi

# Restart: the stored offset is where getUpdates resumes; nothing twice.
since=$(curl -s "$fake_url/control/calls" | pyq 'max([c["seq"] for c in d] or [0])')
queue "$(python3 "$U" message 5004 6200000002 6200000002 'Poll four' --name Ben)" \
      "$(python3 "$U" message 5005 6200000003 6200000003 'Poll five' --name Cid)"
start_poll
wait_for 20 sql_is "$db" "SELECT count(*) FROM messages" 5 || true
expect_eq "restart: the new updates processed" 5 "$(sql "$db" "SELECT count(*) FROM messages")"
expect_eq "restart: the first getUpdates resumes at the stored offset" 5004 \
    "$(curl -s "$fake_url/control/calls?method=getUpdates&since=$since" | pyq 'd[0]["body"]["offset"]')"
wait_for 10 sql_is "$db" "SELECT value FROM bot_state WHERE key = 'poll_offset'" 5006 || true
expect_eq "restart: offset moved on" 5006 "$(sql "$db" "SELECT value FROM bot_state WHERE key = 'poll_offset'")"

# Telegram sends updates again (e.g. the offset was lost in a crash): no second effect.
sql "$db" "UPDATE bot_state SET value = '5003' WHERE key = 'poll_offset'" >/dev/null
queue "$(python3 "$U" message 5003 6200000002 6200000002 'Poll three' --name Ben)" \
      "$(python3 "$U" message 5004 6200000002 6200000002 'Poll four' --name Ben)" \
      "$(python3 "$U" message 5006 6200000003 6200000003 'Poll six' --name Cid)"
wait_for 20 sql_is "$db" "SELECT count(*) FROM messages" 6 || true
wait_for 10 sql_is "$db" "SELECT value FROM bot_state WHERE key = 'poll_offset'" 5007 || true
expect_eq "redelivered updates: no second effect, the new one processed" "6|3|6" \
    "$(sql "$db" "SELECT (SELECT count(*) FROM messages) || '|' || (SELECT count(*) FROM requests) || '|' || (SELECT count(*) FROM processed_updates)")"
sleep 0.5
expect_eq "redelivered updates: still one reply per request" 3 "$(created_replies)"
stop_poll
expect_eq "poll: second SIGTERM exits 0" 0 "$poll_rc"

# One getUpdates answer with more updates than POLL_LIMIT (100): the first
# 100 are processed and the offset moves past them; the bot asks again from
# there and gets the other 50. Each update takes effect exactly once.
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"max":150}' \
    "$fake_url/control/get_updates"
bulk=$(/usr/bin/python3 -c '
import json
print(json.dumps([{"update_id": 5100 + i, "message": {"message_id": 1, "date": 1767225600,
    "from": {"id": 6300000000 + i, "is_bot": False, "first_name": "B%d" % i},
    "chat": {"id": 6300000000 + i, "type": "private", "first_name": "B%d" % i},
    "text": "Bulk %d" % i}} for i in range(1, 151)]))')
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$bulk" "$fake_url/control/updates"
since=$(curl -s "$fake_url/control/calls" | pyq 'max([c["seq"] for c in d] or [0])')
start_poll
if wait_for 60 sql_is "$db" "SELECT value FROM bot_state WHERE key = 'poll_offset'" 5251; then
    ok "150 in one answer: the offset moved past all of them"; else
    not_ok "150 in one answer: the offset moved past all of them" \
        "$(sql "$db" "SELECT value FROM bot_state WHERE key = 'poll_offset'")" "$(tail -5 "$scratch/poll.log")"; fi
expect_eq "150 in one answer: each processed exactly once" "150|150|150|150" \
    "$(sql "$db" "SELECT (SELECT count(*) FROM processed_updates WHERE update_id BETWEEN 5101 AND 5250) || '|' || (SELECT count(*) FROM messages WHERE message LIKE 'Bulk %') || '|' || (SELECT count(DISTINCT message) FROM messages WHERE message LIKE 'Bulk %') || '|' || (SELECT count(*) FROM requests WHERE user_id > 6300000000)")"
# (the fake records a long poll when it answers: one more update ends it)
queue "$(python3 "$U" message 5251 6300000151 6300000151 'After the bulk' --name Bea)"
wait_for 10 sql_is "$db" "SELECT value FROM bot_state WHERE key = 'poll_offset'" 5252 || true
expect_eq "150 in one answer: asked from 5007, then from past the first 100, then past all" \
    "5007 5201 5251" \
    "$(curl -s "$fake_url/control/calls?method=getUpdates&since=$since" | pyq '" ".join(str(o) for i, o in enumerate([c["body"]["offset"] for c in d]) if i == 0 or o != [c["body"]["offset"] for c in d][i - 1])')"
if kill -0 "$poll_pid" 2>/dev/null; then ok "150 in one answer: poll still running"; else
    not_ok "150 in one answer: poll still running" "$(tail -5 "$scratch/poll.log")"; fi
stop_poll
expect_eq "150 in one answer: SIGTERM exits 0" 0 "$poll_rc"
expect_not_contains "the token never appears in the log" "$(cat "$scratch/poll.log")" "${TOKEN#*:}"

finish
