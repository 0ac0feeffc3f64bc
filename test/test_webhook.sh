#!/usr/bin/env bash
# The webhook end to end: HTTP status codes, rows in PostgreSQL, replies at
# the fake Bot API, duplicates, hostile input, slow clients.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg
fx=$TGDESK_FIXTURES

db=$(new_db)
start_fake
if start_tgdesk WEBHOOK_SECRET=s3cret-token_ABC; then ok "tgdesk starts"; else
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; fi
S=(-H 'X-Telegram-Bot-Api-Secret-Token: s3cret-token_ABC')

# A private text opens a request, stores the message and gets a reply.
expect_eq "private text: 200" 200 "$(post "$fx/updates/private_text.json" "${S[@]}")"
req=$(sql "$db" "SELECT id || '|' || user_id || '|' || status || '|' || issue FROM requests")
expect_eq "private text: request row" "${req%%|*}|6123456789|open|Hi, my order A-1042 still hasn't arrived 📦" "$req"
rid=${req%%|*}
expect_eq "private text: message row" "6123456789|user|6123456789|41" \
    "$(sql "$db" "SELECT sender_id, sender_type, chat_id, tg_message_id FROM messages WHERE request_id = $rid")"
expect_eq "private text: update recorded" "processed" \
    "$(sql "$db" "SELECT outcome FROM processed_updates WHERE update_id = 412345678")"
if wait_for 10 calls_ge sendMessage 1; then ok "reply reaches the Bot API"; else
    not_ok "reply reaches the Bot API" "$(tail -5 "$scratch/tgdesk.log")"; fi
reply=$(fake_calls sendMessage | pyq 'd[0]["body"]["chat_id"], "|", d[0]["body"]["text"], "|", "parse_mode" in d[0]["body"], "|", d[0]["token"]')
expect_contains "reply goes to the user" "$reply" "6123456789 |"
expect_contains "reply names the request" "$reply" "Request #$rid created"
expect_contains "reply has no parse_mode" "$reply" "| False |"
expect_contains "reply uses the bot token" "$reply" "$TOKEN"
wait_for 5 sql_is "$db" "SELECT count(*) FROM outbox" 0 || true
expect_eq "outbox row deleted once delivered" 0 "$(sql "$db" "SELECT count(*) FROM outbox")"

# The same update again, and 50 times at once: 200 each, nothing changes.
expect_eq "duplicate: 200" 200 "$(post "$fx/updates/private_text.json" "${S[@]}")"
# (the pipe ends when the last of the 50 background posts has answered)
codes=$(for i in $(seq 1 50); do echo "$(post "$fx/updates/private_text.json" "${S[@]}" --max-time 10)" & done | sort | uniq -c | awk '{print $1"x"$2}')
expect_eq "50 concurrent duplicates: all 200" "50x200" "$codes"
expect_eq "duplicates: one request, one message" "1|1" \
    "$(sql "$db" "SELECT (SELECT count(*) FROM requests) || '|' || (SELECT count(*) FROM messages)")"
sleep 0.3
expect_eq "duplicates: one reply" 1 "$(fake_count sendMessage)"

# 50 concurrent copies of a NEW update: exactly one takes effect.
printf '%s' '{"update_id":900000001,"message":{"message_id":5,"from":{"id":3000000001,"is_bot":false,"first_name":"Zed"},"chat":{"id":3000000001,"type":"private"},"date":1767225600,"text":"race"}}' >"$scratch/race.json"
for i in $(seq 1 50); do echo "$(post "$scratch/race.json" "${S[@]}" --max-time 10)" & done | cat >"$scratch/race"
expect_eq "50 concurrent copies of a new update: all 200" "50" "$(grep -c 200 "$scratch/race" || true)"
expect_eq "...and one request, one message" "1|1" \
    "$(sql "$db" "SELECT count(DISTINCT r.id) || '|' || count(m.id) FROM requests r JOIN messages m ON m.request_id = r.id WHERE r.user_id = 3000000001")"

# One new user writes 150 messages over 15 connections at once: however the
# batches race to open their request (a batch whose statement loses on the
# unique index goes one by one), one request holds all 150, with one reply.
/usr/bin/python3 "$TGDESK_SOURCE_ROOT/test/tgsim.py" post-many "$base/webhook" --count 150 --concurrency 15 \
    --first-id 910000000 --user-base 3000000777 --same-user --secret s3cret-token_ABC --deadline 30 >"$scratch/same.out"
expect_contains "one user, 150 at once: all 200" "$(cat "$scratch/same.out")" '{"200": 150}'
expect_eq "one user, 150 at once: one request, 150 messages" "1|150" \
    "$(sql "$db" "SELECT count(DISTINCT r.id) || '|' || count(m.id) FROM requests r JOIN messages m ON m.request_id = r.id WHERE r.user_id = 3000000777")"
wait_for 10 sh -c "[ \"\$(curl -s '$fake_url/control/calls?method=sendMessage' | grep -o '\"chat_id\": *3000000777' | wc -l)\" -ge 1 ]" || true
sleep 0.3
expect_eq "one user, 150 at once: one reply" 1 \
    "$(curl -s "$fake_url/control/calls?method=sendMessage" | /usr/bin/python3 -c 'import json,sys; print(sum(1 for c in json.load(sys.stdin) if c["body"]["chat_id"] == 3000000777))')"

# A second message of the same user joins the request, without a new reply.
before=$(fake_count sendMessage)
expect_eq "follow-up: 200" 200 "$(post_json '{"update_id":412345699,"message":{"message_id":42,"from":{"id":6123456789,"is_bot":false,"first_name":"Alice"},"chat":{"id":6123456789,"type":"private"},"date":1767225700,"text":"any news?"}}' "${S[@]}")"
expect_eq "follow-up: same request" "2" "$(sql "$db" "SELECT count(*) FROM messages WHERE request_id = $rid")"
sleep 0.5
expect_eq "follow-up: no second 'created' reply" "$before" "$(fake_count sendMessage)"

# Photos keep their largest size.
expect_eq "photo: 200" 200 "$(post "$fx/updates/private_photo_caption.json" "${S[@]}")"
expect_eq "photo: attachment stored" "photo|AgACAgIAAxkBAAIBQ2Xlarge|This is the damaged box" \
    "$(sql "$db" "SELECT attachment_kind, attachment_file_id, message FROM messages WHERE tg_message_id = 44")"

# Hostile text: NUL removed, everything else verbatim, and answered.
expect_eq "hostile text: 200" 200 "$(post "$fx/updates/text_with_nul_and_rtl.json" "${S[@]}")"
expect_eq "hostile text: stored cleaned" \
    "$(printf 'zerobyte and \u202eRTL override; '"'"'); DROP TABLE requests;--')" \
    "$(sql "$db" "SELECT message FROM messages WHERE tg_message_id = 47")"

# Kinds tgdesk ignores: 200 and no trace.
expect_eq "channel post: 200" 200 "$(post "$fx/updates/channel_post_ignored.json" "${S[@]}")"
expect_eq "group message: 200" 200 "$(post "$fx/updates/group_command_with_botname.json" "${S[@]}")"
expect_eq "ignored kinds leave no rows" 0 \
    "$(sql "$db" "SELECT count(*) FROM processed_updates WHERE update_id IN (412345679, $(/usr/bin/python3 -c 'import json;print(json.load(open("'"$fx"'/updates/channel_post_ignored.json"))["update_id"])'))")"

# A user who blocks the bot is marked unreachable.
expect_eq "my_chat_member kicked: 200" 200 "$(post "$fx/updates/my_chat_member_kicked.json" "${S[@]}")"
expect_eq "my_chat_member kicked: unreachable" "t" \
    "$(sql "$db" "SELECT is_unreachable FROM users WHERE user_id = 6123456789")"

# An update that can never be processed (here: a constraint it cannot meet)
# is dead-lettered with its body and acknowledged, never left to block its chat.
sql "$db" "ALTER TABLE messages ADD CONSTRAINT no_poison CHECK (message NOT LIKE '%poison%')" >/dev/null
expect_eq "dead letter: 200" 200 "$(post_json '{"update_id":412345701,"message":{"message_id":48,"from":{"id":6123456789,"is_bot":false,"first_name":"Alice"},"chat":{"id":6123456789,"type":"private"},"date":1767225900,"text":"poison pill"}}' "${S[@]}")"
expect_eq "dead letter: stored with its error and body" "dead|SQLSTATE 23514|t" \
    "$(sql "$db" "SELECT outcome, error, convert_from(payload, 'UTF8') LIKE '%poison pill%' FROM processed_updates WHERE update_id = 412345701")"
expect_eq "dead letter: no partial rows" 0 "$(sql "$db" "SELECT count(*) FROM messages WHERE tg_message_id = 48")"
expect_eq "dead letter: redelivery changes nothing" 200 "$(post "$scratch/body.json" "${S[@]}")"
expect_eq "dead letter: still one row" "1" "$(sql "$db" "SELECT count(*) FROM processed_updates WHERE update_id = 412345701")"
sql "$db" "ALTER TABLE messages DROP CONSTRAINT no_poison" >/dev/null

# Malformed bodies: 400 each; nothing stored.
for f in "$fx"/bad/*; do
    expect_eq "bad body $(basename "$f"): 400" 400 "$(post "$f" "${S[@]}")"
done

# Secret, size, content type, method.
expect_eq "wrong secret: 401" 401 "$(secret=nope post "$fx/updates/private_text.json")"
expect_eq "missing secret: 401" 401 "$(secret= post "$fx/updates/private_text.json")"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$scratch/big.json"
expect_eq "2 MiB body with Content-Length: 413" 413 "$(post "$scratch/big.json" "${S[@]}")"
expect_eq "2 MiB body, chunked: 413" 413 "$(post "$scratch/big.json" "${S[@]}" -H 'Transfer-Encoding: chunked')"
# Headers: 2.5 KB of them still fit a connection's 4 KiB, 12 KB get 431.
pad=$(head -c 2500 /dev/zero | tr '\0' a)
expect_eq "2.5 KB of headers: 200" 200 "$(post "$fx/updates/private_text.json" "${S[@]}" -H "X-Pad: $pad")"
pad=$(head -c 12000 /dev/zero | tr '\0' a)
expect_eq "12 KB of headers: 431" 431 "$(post "$fx/updates/private_text.json" "${S[@]}" -H "X-Pad: $pad")"
# A body three times that size passes through in pieces (4,000 two-byte characters).
python3 -c 'import json; print(json.dumps({"update_id": 412345901, "message": {"message_id": 77, "from": {"id": 6123456790, "is_bot": False, "first_name": "Long"}, "chat": {"id": 6123456790, "type": "private"}, "date": 1767225600, "text": "\u00e9" * 4000}}))' >"$scratch/long.json"
expect_eq "24 KB body: 200" 200 "$(post "$scratch/long.json" "${S[@]}")"
expect_eq "24 KB body: whole text stored" 4000 "$(sql "$db" "SELECT length(message) FROM messages WHERE sender_id = 6123456790")"
expect_eq "text/plain: 415" 415 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' "${S[@]}" --data-binary @"$fx/updates/private_text.json" "$base/webhook")"
expect_eq "GET /webhook: 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' "$base/webhook")"
expect_eq "Allow: POST" "POST" "$(curl -s -D - -o /dev/null "$base/webhook" | sed -n 's/^Allow: \(.*\)\r$/\1/p')"

# 300 connections that never finish their headers (from another address:
# the per-IP cap protects the rest) do not delay a normal webhook.
/usr/bin/python3 "$TGDESK_SOURCE_ROOT/test/tgsim.py" slow "$base/webhook" --count 300 --source 127.0.0.2 --hold 4 >"$scratch/slow.out" &
slow_pid=$!
sleep 1
start_ms=$(date +%s%N)
code=$(post_json '{"update_id":412345700,"message":{"message_id":43,"from":{"id":6123456789,"is_bot":false,"first_name":"Alice"},"chat":{"id":6123456789,"type":"private"},"date":1767225800,"text":"still there?"}}' "${S[@]}" --max-time 5)
ms=$((($(date +%s%N) - start_ms) / 1000000))
expect_eq "under 300 slow connections: 200" 200 "$code"
if [ "$ms" -lt 1000 ]; then ok "under 300 slow connections: answered in ${ms} ms"; else
    not_ok "under 300 slow connections: answered quickly" "took ${ms} ms"; fi
wait "$slow_pid" || true

# SIGTERM: exit 0.
stop_tgdesk TERM
expect_eq "SIGTERM: exit 0" 0 "$stop_rc"
expect_not_contains "the token never appears in the log" "$(cat "$scratch/tgdesk.log")" "${TOKEN#*:}"

finish
