#!/usr/bin/env bash
# The outbox sender against a misbehaving Bot API: 429, 5xx, 403, 400,
# migrate_to_chat_id, a hanging server; order per chat; attempts.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg

db=$(new_db)
start_fake
start_tgdesk TELEGRAM_API_TIMEOUT=0.5 OUTBOX_MAX_ATTEMPTS=3 || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

# say USER UPDATE_ID TEXT: a private message from USER.
say() {
    post_json "{\"update_id\":$2,\"message\":{\"message_id\":$2,\"from\":{\"id\":$1,\"is_bot\":false,\"first_name\":\"U$1\"},\"chat\":{\"id\":$1,\"type\":\"private\"},\"date\":1767225600,\"text\":\"$3\"}}"
}
# calls_to CHAT: "status:text-start" of every sendMessage to CHAT, in order.
calls_to() {
    fake_calls sendMessage | pyq "' '.join(str(c['status']) + ':' + c['body']['text'][:8].replace(' ', '_') for c in d if c['body'].get('chat_id') == $1)"
}
outbox_of() { sql "$db" "SELECT status || '|' || attempts || '|' || coalesce(last_error, '') FROM outbox WHERE chat_id = $1 ORDER BY id"; }

# 429 with retry_after: waits, then succeeds.
fake_fail '{"method":"sendMessage","chat_id":4000000001,"mode":"429","retry_after":1}'
t0=$(date +%s%N)
expect_eq "429: webhook 200" 200 "$(say 4000000001 700001 'help')"
wait_for 10 sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id = 4000000001" 0 || true
expect_eq "429: delivered on the second call" "429:Request_ 200:Request_" "$(calls_to 4000000001)"
gap=$(fake_calls sendMessage | pyq "(lambda t: round(t[1] - t[0], 2))([c['ts'] for c in d if c['body'].get('chat_id') == 4000000001])")
if /usr/bin/python3 -c "import sys; sys.exit(0 if $gap >= 0.9 else 1)"; then ok "429: waited retry_after (${gap}s)"; else
    not_ok "429: waited retry_after" "gap ${gap}s"; fi
expect_eq "429: delivered, the outbox row is gone" "" "$(outbox_of 4000000001)"

# 500 twice: backs off and delivers.
fake_fail '{"method":"sendMessage","chat_id":4000000002,"mode":"500","count":2}'
say 4000000002 700002 'help' >/dev/null
wait_for 15 sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id = 4000000002" 0 || true
expect_eq "500 twice: third call delivers" "500:Request_ 500:Request_ 200:Request_" "$(calls_to 4000000002)"

# 429 more often than OUTBOX_MAX_ATTEMPTS (3): a 429 is Telegram pacing the
# bot, not a failed attempt, so the call waits and is still delivered.
fake_fail '{"method":"sendMessage","chat_id":4000000017,"mode":"429","retry_after":1,"count":4}'
say 4000000017 700017 'help' >/dev/null
wait_for 20 sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id = 4000000017" 0 || true
expect_eq "429 four times (more than OUTBOX_MAX_ATTEMPTS): delivered on the fifth call" \
    "429:Request_ 429:Request_ 429:Request_ 429:Request_ 200:Request_" "$(calls_to 4000000017)"

# 5xx beyond OUTBOX_MAX_ATTEMPTS: failed with the reason kept.
fake_fail '{"method":"sendMessage","chat_id":4000000003,"mode":"502","count":10}'
say 4000000003 700003 'help' >/dev/null
wait_for 20 sql_is "$db" "SELECT status FROM outbox WHERE chat_id = 4000000003" failed || true
expect_eq "502 always: three attempts" "502:Request_ 502:Request_ 502:Request_" "$(calls_to 4000000003)"
expect_contains "502 always: failed with the reason" "$(outbox_of 4000000003)" "failed|3|502"

# 403: not retried, the user is unreachable.
fake_fail '{"method":"sendMessage","chat_id":4000000004,"mode":"403"}'
say 4000000004 700004 'help' >/dev/null
wait_for 10 sql_is "$db" "SELECT status FROM outbox WHERE chat_id = 4000000004" failed || true
expect_eq "403: one call only" "403:Request_" "$(calls_to 4000000004)"
expect_contains "403: failed with the reason" "$(outbox_of 4000000004)" "blocked"
expect_eq "403: user unreachable" "t" "$(sql "$db" "SELECT is_unreachable FROM users WHERE user_id = 4000000004")"

# 400: permanent.
fake_fail '{"method":"sendMessage","chat_id":4000000005,"mode":"400"}'
say 4000000005 700005 'help' >/dev/null
wait_for 10 sql_is "$db" "SELECT status FROM outbox WHERE chat_id = 4000000005" failed || true
expect_eq "400: one call only" "400:Request_" "$(calls_to 4000000005)"
expect_contains "400: reason kept" "$(outbox_of 4000000005)" "chat not found"

# migrate_to_chat_id: moved and resent.
fake_fail '{"method":"sendMessage","chat_id":4000000006,"mode":"migrate","migrate_to_chat_id":-1009999999999}'
say 4000000006 700006 'help' >/dev/null
wait_for 10 sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id IN (4000000006, -1009999999999)" 0 || true
expect_eq "migrate: resent to the new chat" "200:Request_" "$(calls_to -1009999999999)"
expect_eq "migrate: remembered" "-1009999999999" \
    "$(sql "$db" "SELECT value FROM bot_state WHERE key = 'chat_migrated:4000000006'")"

# A hanging Bot API: the call times out and is retried.
fake_fail '{"method":"sendMessage","chat_id":4000000007,"mode":"hang"}'
say 4000000007 700007 'help' >/dev/null
wait_for 15 sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id = 4000000007" 0 || true
expect_eq "hang: delivered after a timeout (the row is gone)" "" "$(outbox_of 4000000007)"
expect_eq "hang: two calls (the hung one, then the retry)" 2 \
    "$(fake_calls sendMessage | pyq "len([c for c in d if c['body'].get('chat_id') == 4000000007])")"

# Order per chat survives a failure of the first message.
fake_fail '{"method":"sendMessage","chat_id":4000000008,"mode":"500","count":1}'
say 4000000008 700008 '/start' >/dev/null
say 4000000008 700009 '/help' >/dev/null
say 4000000008 700010 'my printer is on fire' >/dev/null
wait_for 15 sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id = 4000000008" 0 || true
expect_eq "order per chat kept" "500:Hello!_T 200:Hello!_T 200:Hello!_T 200:Request_" "$(calls_to 4000000008)"

# About one message a second per private chat, after a burst of three.
for i in 1 2 3 4 5; do say 4000000009 $((700020 + i)) '/start' >/dev/null; done
wait_for 15 sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id = 4000000009" 0 || true
span=$(fake_calls sendMessage | pyq "(lambda t: round(t[-1] - t[0], 2))([c['ts'] for c in d if c['body'].get('chat_id') == 4000000009])")
if /usr/bin/python3 -c "import sys; sys.exit(0 if $span >= 1.7 else 1)"; then ok "per-chat limit: 5 messages took ${span}s"; else
    not_ok "per-chat limit: 5 messages to one chat take about 2 s" "took ${span}s"; fi

# More than one chat holds in memory (8: its burst and half a lease at one a
# second): the rest wait in the database, due when the chat can take them,
# and still arrive in order at the chat's pace.
for i in $(seq 1 16); do say 4000000010 $((700040 + i)) "/$([ $((i % 4)) = 0 ] && echo status || echo start)" >/dev/null; done
sleep 0.3
deferred=$(sql "$db" "SELECT count(*) FROM outbox WHERE chat_id = 4000000010 AND next_attempt_at > now() + interval '10.5 seconds'")
if [ "$deferred" -ge 3 ]; then ok "deferred: rows beyond what the chat holds are due later ($deferred)"; else
    not_ok "deferred: rows beyond what the chat holds are due later" "$deferred rows"; fi
wait_for 30 sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id = 4000000010" 0 || true
expect_eq "deferred: all sixteen delivered, in order" "SSSTSSSTSSSTSSST" \
    "$(fake_calls sendMessage | pyq "''.join('S' if c['body']['text'].startswith('Hello') else 'T' for c in d if c['body'].get('chat_id') == 4000000010 and c['status'] == 200)")"
span=$(fake_calls sendMessage | pyq "(lambda t: round(t[-1] - t[0], 2))([c['ts'] for c in d if c['body'].get('chat_id') == 4000000010])")
if /usr/bin/python3 -c "import sys; sys.exit(0 if $span >= 12 else 1)"; then ok "deferred: still one a second after the burst (${span}s)"; else
    not_ok "deferred: 16 messages to one chat take about 13 s" "took ${span}s"; fi

stop_tgdesk TERM
expect_eq "SIGTERM: exit 0" 0 "$stop_rc"

# TELEGRAM_GLOBAL_RPS bounds all chats together: 15 replies at 5/s.
start_tgdesk TELEGRAM_GLOBAL_RPS=5
since=$(curl -s "$fake_url/control/calls" | pyq 'max([c["seq"] for c in d] or [0])')
for i in $(seq 1 15); do say $((4100000000 + i)) $((700100 + i)) 'hello' >/dev/null; done
wait_for 15 sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id > 4100000000" 0 || true
span=$(curl -s "$fake_url/control/calls?method=sendMessage&since=$since" | pyq "(lambda t: round(t[-1] - t[0], 2))([c['ts'] for c in d])")
if /usr/bin/python3 -c "import sys; sys.exit(0 if $span >= 1.6 else 1)"; then ok "global limit: 15 replies at 5/s took ${span}s"; else
    not_ok "global limit: 15 replies at 5/s take about 2 s" "took ${span}s"; fi
stop_tgdesk TERM
expect_not_contains "the token never appears in the log" "$(cat "$scratch/tgdesk.log")" "${TOKEN#*:}"

finish
