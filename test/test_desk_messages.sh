#!/usr/bin/env bash
# A user's message, whatever its length, kind or "/word", gets exactly the
# texts below - the reply to the user, the staff notification with its
# buttons, a copy of any media - and the very same texts whether it is
# processed alone or in a batch with many others (one desk path).
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

BOB=5550000001
CREATED='created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one.'

db=$(new_db)
start_fake
# Staff in private chats (the staff group's pace, 20 a minute, would make
# this slow; test_desk.sh covers the group). One worker: updates posted at
# once queue up and are committed in batches.
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=off ADMIN_IDS=$BOB WORKERS=1 || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

req() { q "SELECT id FROM requests WHERE user_id = $1 ORDER BY id DESC LIMIT 1"; }

# ---- each kind of message, alone ---------------------------------------------

U1=6200000001
mark
say message 1001 $U1 $U1 'Hello, my "router" \ blinks' --name Ann --username ann
R=$(req $U1)
expect_calls "short text: 'created' reply; staff notified with buttons" \
    "sendMessage $U1 Request #$R $CREATED" \
    "sendMessage $BOB New request #$R from Ann (@ann):⏎Hello, my \"router\" \\ blinks [take:$R,close:$R]"

mark
say message 1002 $U1 $U1 'Still blinking' --name Ann --username ann
expect_calls "second message: no second reply; 'writes' notification" \
    "sendMessage $BOB Request #$R - Ann (@ann) writes:⏎Still blinking [take:$R,close:$R]"

# A message to an assigned request reads the same.
mark
say message 1003 $BOB $BOB "/take $R" --name Bob
expect_calls "/take in the group" \
    "sendMessage $U1 Request #$R was taken by our support team." \
    "sendMessage $BOB Request #$R taken by Bob."
mark
say message 1004 $U1 $U1 'Thanks for taking it' --name Ann --username ann
expect_calls "message to an assigned request: 'writes' notification" \
    "sendMessage $BOB Request #$R - Ann (@ann) writes:⏎Thanks for taking it [take:$R,close:$R]"

# A text over 4096 characters: the notification is split at a line end, in
# order, the buttons on the last part; the user's words are stored whole.
U2=6200000002
long=$(/usr/bin/python3 -c 'print("\n".join("line %03d " % i + "x" * 40 for i in range(110)), end="")')
mark
say message 1005 $U2 $U2 "$long" --name Lena
R=$(req $U2)
settle
parts=$(curl -s "$fake_url/control/calls?since=$seq0" | R=$R G=$BOB L="$long" /usr/bin/python3 -c '
import json, os, sys
r, g, text = os.environ["R"], int(os.environ["G"]), os.environ["L"]
calls = [c for c in json.load(sys.stdin) if c["method"] == "sendMessage" and c["body"]["chat_id"] == g]
texts = [c["body"]["text"] for c in sorted(calls, key=lambda c: c["seq"])]
marks = [bool(c["body"].get("reply_markup")) for c in sorted(calls, key=lambda c: c["seq"])]
whole = "".join(texts) == "New request #%s from Lena:\n%s" % (r, text)
print(len(texts), whole, all(len(t) <= 4096 for t in texts), texts[0].endswith("\n"), marks)')
expect_eq "long text: two parts, whole and in order, at a line end, buttons on the last" \
    "2 True True True [False, True]" "$parts"
expect_eq "long text: stored whole" "${#long}" "$(q "SELECT length(message) FROM messages WHERE request_id = $R")"

# A caption, and each kind of media without one: the notification, then a copy.
U3=6200000003
mark
say message 1006 $U3 $U3 'Screenshot of the error' --name Pia --photo PHOTO1
R=$(req $U3)
expect_calls "photo with caption: the caption is the text; the photo is copied" \
    "sendMessage $U3 Request #$R $CREATED" \
    "sendMessage $BOB New request #$R from Pia:⏎Screenshot of the error [take:$R,close:$R]" \
    "copyMessage $BOB from $U3:1006"
expect_eq "photo: stored with its kind and largest file" "Screenshot of the error|photo|PHOTO1" \
    "$(q "SELECT message || '|' || attachment_kind || '|' || attachment_file_id FROM messages WHERE request_id = $R")"
k=0
for kind in photo document voice video sticker audio animation video_note; do
    k=$((k + 1))
    uid=$((6200000100 + k)) upd=$((1100 + k))
    case $kind in
    photo) media=(--photo F$k) ;;
    document) media=(--document F$k) ;;
    *) media=(--media "$kind:F$k") ;;
    esac
    mark
    say message $upd $uid $uid '' --name "M$k" "${media[@]}"
    R=$(req $uid)
    expect_calls "$kind without caption: [$kind] in the notification, then a copy" \
        "sendMessage $uid Request #$R $CREATED" \
        "sendMessage $BOB New request #$R from M$k:⏎[$kind] [take:$R,close:$R]" \
        "copyMessage $BOB from $uid:$upd"
    expect_eq "$kind: issue and stored kind" "[$kind]|$kind|F$k" \
        "$(q "SELECT r.issue || '|' || m.attachment_kind || '|' || m.attachment_file_id FROM requests r JOIN messages m ON m.request_id = r.id WHERE r.id = $R")"
done

# A "/word" the desk does not know is a message like any other.
U4=6200000004
mark
say message 1201 $U4 $U4 '/ticket refund please' --name Uwe
R=$(req $U4)
expect_calls "unknown /word: kept as the user's message" \
    "sendMessage $U4 Request #$R $CREATED" \
    "sendMessage $BOB New request #$R from Uwe:⏎/ticket refund please [take:$R,close:$R]"

# A banned user: stored and answered as usual, staff no longer hear of them.
U5=6200000005
say message 1301 $U5 $U5 'first' --name Ben
R=$(req $U5)
say message 1302 $BOB $BOB "/ban $R" --name Bob
settle
mark
say message 1303 $U5 $U5 'are you there?' --name Ben
say message 1304 $BOB $BOB "/close $R" --name Bob
say message 1305 $U5 $U5 'new problem' --name Ben
R2=$(req $U5)
expect_calls "banned user: no notification; a new request still gets its reply" \
    "sendMessage $BOB Request #$R closed by Bob." \
    "sendMessage $U5 Request #$R was closed by our support team. If you need anything else, just write to us again." \
    "sendMessage $U5 Request #$R2 $CREATED"
expect_eq "banned user: both messages stored" "are you there?|new problem" \
    "$(q "SELECT string_agg(message, '|' ORDER BY id) FROM messages WHERE sender_id = $U5 AND id > (SELECT min(id) FROM messages WHERE sender_id = $U5)")"

# The same update posted 20 times at once (redeliveries racing the original):
# one request, one message, one reply, one notification.
U6=6200000006
mark
/usr/bin/python3 "$U" message 1401 $U6 $U6 'Posted twenty times' --name Rita >"$scratch/dup.json"
pids=()
for i in $(seq 1 20); do
    post "$scratch/dup.json" >"$scratch/dup.$i" &
    pids+=($!)
done
wait "${pids[@]}"
expect_eq "same update 20 times at once: every post answered 200" "20" "$(for i in $(seq 1 20); do cat "$scratch/dup.$i"; echo; done | grep -c '^200$')"
R=$(req $U6)
expect_eq "same update 20 times at once: one request, one message" "1|1" \
    "$(q "SELECT count(DISTINCT r.id) || '|' || count(m.id) FROM requests r JOIN messages m ON m.request_id = r.id WHERE r.user_id = $U6")"
expect_calls "same update 20 times at once: one reply, one notification" \
    "sendMessage $U6 Request #$R $CREATED" \
    "sendMessage $BOB New request #$R from Rita:⏎Posted twenty times [take:$R,close:$R]"

# A ban drops what staff were still to hear of that user: one user sends 30
# messages at once, far more than a private chat's pace (about one a second)
# lets through; /ban right after. What the sender already held in memory (a
# few seconds' worth) still goes out; the rest never does.
U7=6200000007
mark
/usr/bin/python3 "$U" message 1501 $U7 $U7 'the first of many' --name Ronja >"$scratch/r.1501"
post "$scratch/r.1501" >/dev/null
R=$(req $U7)
pids=()
for i in $(seq 2 30); do
    /usr/bin/python3 "$U" message $((1500 + i)) $U7 $U7 "message $i" --name Ronja >"$scratch/r.$i"
    post "$scratch/r.$i" >/dev/null &
    pids+=($!)
done
wait "${pids[@]}"
expect_eq "30 messages: stored" "30" "$(q "SELECT count(*) FROM messages WHERE request_id = $R")"
queued=$(q "SELECT count(*) FROM outbox WHERE request_id = $R AND purpose = 'notify' AND status = 'pending'")
heard0=$(calls | grep -c "Ronja writes\|New request #$R from Ronja" || true)
say message 1599 $BOB $BOB "/ban $R" --name Bob
expect_eq "ban: no notification about the user left in the queue (only the confirmation)" "0" \
    "$(q "SELECT count(*) FROM outbox WHERE request_id = $R AND purpose = 'notify' AND status = 'pending' AND payload->>'text' NOT LIKE '%is banned by Bob%'")"
settle
sleep 3
heard=$(calls | grep -c "Ronja writes\|New request #$R from Ronja" || true)
# (Pending notifications about one request go merged into one message, so
# the 30 may all have gone before the ban: what it still finds goes at most
# as the one message in flight.)
expect_eq "ban: of the $queued notifications queued, at most the one message in flight still sent" "yes" \
    "$([ $((heard - heard0)) -le 1 ] && echo yes || echo "no: $heard0 messages before, $heard after")"
expect_contains "ban: confirmed to staff" "$(calls)" "sendMessage $BOB Ronja (request #$R) is banned by Bob"

# ---- the same messages alone and in batches: the same texts -------------------

# What the desk queued, read from the outbox before anything is sent: this
# part runs without a bot token, so every call stays there.
stop_tgdesk
start_tgdesk TELEGRAM_BOT_TOKEN= CSAT=off ADMIN_IDS=$BOB WORKERS=1 || {
    not_ok "tgdesk starts without a token" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

# say_to FILE ARGS...: like say, with a body file of its own (for posts at once).
say_to() {
    local f=$1 code
    shift
    /usr/bin/python3 "$U" "$@" >"$f"
    code=$(post "$f")
    [ "$code" = 200 ] || not_ok "update $2 answered 200" "got $code"
}
# scenario BASE UPDATE0 [&]: twelve users, each writes a first message (long
# text, media, a caption with a /word, short text) and then a second one;
# with "&" each round is posted all at once.
scenario() {
    local ub=$1 upd=$2 bg=${3:-} round k uid args pids
    for round in 1 2; do
        pids=()
        for k in $(seq 1 12); do
            uid=$((ub + k))
            args=(message $((upd + round * 100 + k)) $uid $uid)
            case $((k % 4)):$round in
            0:1) args+=("$long") ;;
            1:1) args+=('' --media "voice:V$k") ;;
            2:1) args+=("/ticket $k" --photo "P$k") ;;
            3:1) args+=("Problem $k") ;;
            *) args+=("More from $k") ;;
            esac
            args+=(--name "User$k")
            if [ -n "$bg" ]; then
                say_to "$scratch/b$k.json" "${args[@]}" &
                pids+=($!)
            else
                say_to "$scratch/b.json" "${args[@]}"
            fi
        done
        [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
    done
}
# queued BASE: every outbox row about these users (method, chat, payload),
# user and request ids made neutral, sorted.
queued() {
    q "SELECT method || ' ' || chat_id || ' ' || payload::text FROM outbox" | B=$1 D="$db" /usr/bin/python3 -c '
import os, re, subprocess, sys
base = int(os.environ["B"])
rows = subprocess.run(["psql", os.environ["D"], "-qAtXc",
    "SELECT id, user_id FROM requests WHERE user_id > %d AND user_id <= %d" % (base, base + 12)],
    capture_output=True, text=True, check=True).stdout.split()
who = {int(r.split("|")[0]): int(r.split("|")[1]) - base for r in rows}
def user(m):
    v = int(m.group(0))
    return "U%d" % (v - base) if base < v <= base + 12 else m.group(0)
def req(m):
    return m.group(1) + ("R%d" % who[int(m.group(2))] if int(m.group(2)) in who else m.group(2))
def msg(m):
    return m.group(1) + str(int(m.group(2)) % 1000)
out = []
for s in sys.stdin.read().splitlines():
    t = re.sub(r"(#|take:|close:)([0-9]+)", req, re.sub(r"[0-9]{6,}", user, s))
    if t == s:
        continue  # about none of these users or their requests
    out.append(re.sub(r"(\"message_id\": )([0-9]+)", msg, t))
print("\n".join(sorted(out)))'
}
scrape() { curl -s "$base/metrics"; }
batches() { scrape | awk '/^tgdesk_pipeline_batch_size_(sum|count) /{s = s $2 " "} END {print s}'; }
scenario 6300000000 2000
alone=$(queued 6300000000)
b0=$(batches)
# Each round waits behind a lock on processed_updates while it is posted, so
# the one worker's next transaction takes the whole round at once.
blocked_scenario() {
    psql "$db" -qAtX -c "BEGIN; LOCK TABLE processed_updates IN EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT" >/dev/null &
    local locker=$!
    sleep 0.5
    scenario "$@"
    wait "$locker"
}
blocked_scenario 6400000000 4000 '&'
together=$(queued 6400000000)
b1=$(batches)
expect_eq "alone: 12 users, 24 messages: 12 replies, 24 notifications (3 split in two), 6 copies" \
    "45" "$(wc -l <<<"$alone")"
expect_eq "the same texts whether alone or in batches" "$alone" "$together"
expect_eq "the second round really ran in batches (more updates than transactions)" "yes" \
    "$(B0="$b0" B1="$b1" /usr/bin/python3 -c '
import os
s0, c0 = map(float, os.environ["B0"].split()); s1, c1 = map(float, os.environ["B1"].split())
print("yes" if s1 - s0 > c1 - c0 else "no: %d updates in %d transactions" % (s1 - s0, c1 - c0))')"

finish
