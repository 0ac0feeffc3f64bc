#!/usr/bin/env bash
# The fake Bot API's --bench mode (bench/run.sh): calls are counted by
# method, not kept, and everything that would need a thread per connection or
# the kept calls is refused with 400 rather than answered wrongly.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"

run "$TGDESK_FAKE_TG" --bench --record "$scratch/calls.jsonl"
expect_eq "--bench with --record: exit 2" 2 "$rc"
expect_contains "--bench with --record: says why" "$err" "--bench keeps no calls"

start_fake --bench
api="$fake_url/bot123456789:fake-bench-token"
send() { # CHAT TEXT: the status and message_id of one sendMessage
    curl -s -w ' %{http_code}' -H 'Content-Type: application/json' \
        -d "{\"chat_id\":$1,\"text\":\"$2\"}" "$api/sendMessage"
}
out=$(send 4000000001 hello)
expect_eq "sendMessage: 200" 200 "${out##* }"
expect_eq "sendMessage: the message sent" "True 4000000001 hello" \
    "$(pyq '" ".join(str(x) for x in (d["ok"], d["result"]["chat"]["id"], d["result"]["text"]))' <<<"${out% *}")"
first=$(pyq 'd["result"]["message_id"]' <<<"${out% *}")
second=$(send 4000000001 again | sed 's/ [0-9]*$//' | pyq 'd["result"]["message_id"]')
expect_eq "message_ids of one chat count up" "$((first + 1))" "$second"
out=$(send 4000000002 "")
expect_eq "an empty text is still refused" "400" "${out##* }"
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{}' "$api/getMe"
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{}' "$api/noSuchMethod"

expect_eq "count by method: every sendMessage, whatever its status" 3 "$(fake_count sendMessage)"
expect_eq "count by method: method names ignore case" 1 "$(fake_count getme)"
expect_eq "count of all calls" 5 "$(curl -s "$fake_url/control/count" | pyq 'd["count"]')"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect_eq "count since a sequence number: 400" 400 "$(code "$fake_url/control/count?method=sendMessage&since=1")"
expect_eq "count by status: 400" 400 "$(code "$fake_url/control/count?status=200")"
expect_eq "count waiting for a minimum: 400" 400 "$(code "$fake_url/control/count?min=10")"
expect_eq "the calls themselves: 400" 400 "$(code "$fake_url/control/calls")"
expect_eq "a hanging failure rule: 400" 400 \
    "$(code -X POST -H 'Content-Type: application/json' -d '{"mode":"hang"}' "$fake_url/control/fail")"
fake_fail '{"method":"sendMessage","mode":"429","retry_after":3,"count":1}'
out=$(send 4000000003 limited)
expect_eq "a 429 rule still applies" "429 3" "${out##* } $(pyq 'd["parameters"]["retry_after"]' <<<"${out% *}")"
curl -s -o /dev/null -X POST "$fake_url/control/reset"
expect_eq "reset forgets the counts" 0 "$(fake_count sendMessage)"

# The answers of --bench are those of the normal fake (its date aside), for
# plain calls and for those it hands to the normal path.
bench_url=$fake_url
start_fake
answer() { # URL BODY
    curl -s -H 'Content-Type: application/json' -d "$2" "$1/bot123456789:fake-bench-token/sendMessage" |
        pyq 'json.dumps([d, d.get("result", {}).pop("date", None) is not None], sort_keys=True)'
}
for body in '{"chat_id":4000000009,"text":"caf\u00e9 \"quoted\" \\ \/ line\nnext \ud83d\ude00"}' \
    '{"chat_id":-1001234567890,"text":"to a supergroup"}' '{"chat_id":-4567,"text":"to a group"}' \
    '{"chat_id":"4000000009","text":"chat_id as a string"}' \
    '{"chat_id":4000000009,"text":"<b>bold</b>","parse_mode":"HTML"}' \
    '{"chat_id":4000000009,"text":"   "}' '{"chat_id":4000000009}' '{"text":"no chat"}' \
    '{"chat_id":4000000009,"text":"x",}'; do
    expect_eq "--bench answers $body as the normal fake does" "$(answer "$fake_url" "$body")" \
        "$(answer "$bench_url" "$body")"
done
finish
