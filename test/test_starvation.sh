#!/usr/bin/env bash
# One user cannot starve the staff group: the pending notifications about
# one request are merged into one message when sent (oldest first, at most
# 4096 characters, a Telegram reply to it still reaches the user), a new
# request is notified before the follow-ups of requests already notified,
# and a /ban drops the banned user's queued notifications.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

BOB=5560000001
GROUP=-1005560000000
CAROL=5560000002 # a few messages in a row
ANN=5560000003   # the flood
DAN=5560000004   # a new request during the flood

db=$(new_db)
start_fake
start_tgdesk ADMIN_IDS=$BOB ADMIN_CHAT_ID=$GROUP || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
req() { q "SELECT id FROM requests WHERE user_id = $1 ORDER BY id DESC LIMIT 1"; }
# group_texts: the texts the group got since the mark, in order, one JSON string a line.
group_texts() {
    curl -s "$fake_url/control/calls?method=sendMessage&since=$seq0" |
        pyq "'\n'.join(json.dumps(c['body']['text']) for c in d if c['body'].get('chat_id') == $GROUP)"
}

# ---- merging: follow-ups written while the group's pace holds them back -------
mark
say message 1001 $CAROL $CAROL 'one' --name Carol
R=$(req $CAROL)
wait_for 10 calls_ge sendMessage 2 || true
say message 1002 $CAROL $CAROL 'two' --name Carol
say message 1003 $CAROL $CAROL 'three' --name Carol
settle
expect_eq "merge: the follow-ups go as one message, oldest first, one blank line apart" \
    "$(printf '%s\n' "\"New request #$R from Carol:\\none\"" \
        "\"Request #$R - Carol writes:\\ntwo\\n\\nRequest #$R - Carol writes:\\nthree\"")" \
    "$(group_texts)"
merged=$(curl -s "$fake_url/control/calls?method=sendMessage&since=$seq0" |
    pyq "[c for c in d if c['body'].get('chat_id') == $GROUP][-1]['message_id']")
expect_eq "merge: the merged message keeps the buttons" "take:$R,close:$R" \
    "$(curl -s "$fake_url/control/calls?method=sendMessage&since=$seq0" |
        pyq "','.join(x['callback_data'] for x in [c for c in d if c['body'].get('chat_id') == $GROUP][-1]['body']['reply_markup']['inline_keyboard'][0])")"
expect_eq "merge: the merged message maps to the request" "$R" \
    "$(q "SELECT string_agg(request_id::text, ',') FROM notifications WHERE chat_id = $GROUP AND message_id = $merged")"
mark
say message 1004 $GROUP $BOB 'Try the other port.' --name Bob --reply-to "$merged"
settle
expect_contains "merge: a reply to the merged message reaches the user" "$(calls)" \
    "sendMessage $CAROL Try the other port."

# ---- the flood: 300 messages in 30 s from one user ---------------------------
mark
# Each message is long (about 900 characters), so that a merged message
# holds four of them and the 300 take the group much longer than the test.
/usr/bin/python3 - "$base/webhook" "$secret" $ANN >"$scratch/flood.out" 2>&1 <<'EOF' &
import os, sys, time
sys.path.insert(0, os.environ["TGDESK_SOURCE_ROOT"] + "/test")
from webhook_post import post
url, secret, ann = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.time()
for i in range(300):
    text = "message %03d " % i + "x" * 890
    u = {"update_id": 2000 + i, "message": {"message_id": 2000 + i, "date": 1767225600,
         "from": {"id": ann, "is_bot": False, "first_name": "Ann"},
         "chat": {"id": ann, "type": "private", "first_name": "Ann"}, "text": text}}
    code = post(url, secret, u)
    if code != 200:
        print("update %d: %s" % (i, code))
    time.sleep(max(0, t0 + (i + 1) * 0.1 - time.time()))
EOF
flood=$!
sleep 12
RA=$(req $ANN)
t_dan=$(date +%s.%N)
say message 3001 $DAN $DAN 'My order is missing' --name Dan
RD=$(req $DAN)
dan_in_group() {
    curl -s "$fake_url/control/calls?method=sendMessage&since=$seq0" |
        pyq "any(c['body'].get('chat_id') == $GROUP and c['body']['text'].startswith('New request #$RD ') for c in d)" |
        grep -q True
}
wait_for 60 dan_in_group || true
calls_json=$(curl -s "$fake_url/control/calls?method=sendMessage&since=$seq0")
info=$(printf '%s' "$calls_json" | T=$t_dan /usr/bin/python3 -c "
import json, os, sys
g = [c for c in json.load(sys.stdin) if c['body'].get('chat_id') == $GROUP]
k = [i for i, c in enumerate(g) if c['body']['text'].startswith('New request #$RD ')]
print('%d %.1f' % (k[0] + 1, g[k[0]]['ts'] - float(os.environ['T'])) if k else 'none')")
echo "# Dan's new request: group message number and seconds after it was posted: $info"
if [ "$info" != none ] && [ "${info% *}" -le 20 ] &&
    /usr/bin/python3 -c "import sys; sys.exit(0 if ${info#* } < 12 else 1)"; then
    ok "new request during the flood: in the group within the first minute's 20 and seconds"
else
    not_ok "new request during the flood: in the group within the first minute's 20" "$info"
fi
wait "$flood" || true
expect_eq "flood: every update answered 200" "" "$(cat "$scratch/flood.out")"

# /ban drops Ann's notifications still queued; at most the one in flight still comes.
pending=$(q "SELECT count(*) FROM outbox WHERE status = 'pending' AND purpose = 'notify' AND request_id = $RA AND payload->>'text' LIKE 'Request #$RA - Ann writes:%'")
echo "# Ann's notifications pending before the ban: $pending"
[ "$pending" -gt 100 ] && ok "flood: notifications still queued behind the group's pace" ||
    not_ok "flood: notifications still queued behind the group's pace" "$pending"
say message 3002 $GROUP $BOB "/ban $RA" --name Bob
expect_eq "ban: Ann's queued notifications are dropped" 0 \
    "$(q "SELECT count(*) FROM outbox WHERE status = 'pending' AND purpose = 'notify' AND request_id = $RA AND payload->>'text' LIKE 'Request #$RA - Ann writes:%'")"
n_before=$(printf '%s' "$(group_texts)" | grep -c "Request #$RA - Ann" || true)
sleep 8
n_after=$(printf '%s' "$(group_texts)" | grep -c "Request #$RA - Ann" || true)
if [ $((n_after - n_before)) -le 1 ]; then ok "ban: at most the message in flight reaches the group after it"; else
    not_ok "ban: at most the message in flight reaches the group after it" "$n_before then $n_after"; fi

# What the group got of Ann: her messages in order, none twice, each message
# at most 4096 characters, four of hers to a message.
check=$(curl -s "$fake_url/control/calls?method=sendMessage&since=$seq0" | /usr/bin/python3 -c "
import json, re, sys
g = [c['body']['text'] for c in json.load(sys.stdin) if c['body'].get('chat_id') == $GROUP]
seen = [int(n) for t in g for n in re.findall(r'message (\d{3}) ', t)]
bad = [len(t) for t in g if len(t) > 4096]
print('order' if seen != sorted(seen) or len(set(seen)) != len(seen) else
      'long %s' % bad if bad else 'ok %d %d' % (len(seen), max(t.count('message ') for t in g)))")
expect_eq "flood: Ann's messages in order, none twice, at most 4096 characters, four to a message" \
    "ok 4" "$(printf '%s' "$check" | sed 's/^ok [0-9]* /ok /')"
echo "# group messages with Ann's text, messages of hers in them: $check"

# The group's pace held: never more than 20 messages in 60 s.
max60=$(curl -s "$fake_url/control/calls?method=sendMessage" | /usr/bin/python3 -c "
import json, sys
ts = sorted(c['ts'] for c in json.load(sys.stdin) if c['body'].get('chat_id') == $GROUP)
print(max([sum(1 for u in ts if t <= u < t + 60) for t in ts] or [0]))")
[ "$max60" -le 20 ] && ok "group pace: at most 20 messages in any 60 s ($max60)" ||
    not_ok "group pace: at most 20 messages in any 60 s" "$max60"
finish
