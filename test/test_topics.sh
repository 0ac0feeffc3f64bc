#!/usr/bin/env bash
# Forum-topic mode (STAFF_MODE=topics) end to end against the fake Bot API:
# two users get a topic each in the staff forum; staff write in the topics
# and each user gets only their own answers (text and a photo, copied);
# notes (// and /note) stay internal and show in /history and /export;
# commands without a number; /solve renames and closes the topic; a staff
# edit edits the user's copy, a user's edit is announced; a restart in the
# middle changes nothing (the topic is reused); a topic deleted by staff is
# made again for the message that found it gone, which is not lost.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

ALICE=6200000001 DAVE=6200000002 MALLORY=6200000099
BOB=5560000001 CAROL=5560000002
FORUM=-1004000000001

db=$(new_db)
start_fake
# A group takes 20 messages a minute from Telegram; the fake takes more.
ENV=(TELEGRAM_GLOBAL_RPS=10000 TELEGRAM_GROUP_RPM=60000 CSAT=off STAFF_MODE=topics
    ADMIN_IDS=$BOB,$CAROL ADMIN_CHAT_ID=$FORUM)
start_tgdesk "${ENV[@]}" || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

CREATED='created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one.'
A=(--name Alice --last Novak --username alice)
thread_of() { q "SELECT coalesce(topic_thread_id::text, '') FROM users WHERE user_id = $1"; }
# topic THREAD: the fake's topic as "name|closed|deleted".
topic() {
    curl -s "$fake_url/control/topics" | pyq "'\n'.join('%s|%s|%s' % (t['name'], t['closed'], t['deleted']) for t in d['topics'] if t['message_thread_id'] == $1)"
}
fake_delete_topic() {
    curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "{\"chat_id\":$FORUM,\"message_thread_id\":$1}" "$fake_url/control/topics/delete"
}

# ---- two users, two topics ---------------------------------------------------

mark
say message 101 $ALICE $ALICE 'My printer is on fire' "${A[@]}"
R1=$(q "SELECT id FROM requests WHERE user_id = $ALICE")
settle
T1=$(thread_of $ALICE)
expect_calls "a first message: the topic is made, the request's first message in it with buttons" \
    "sendMessage $ALICE Request #$R1 $CREATED" \
    "createForumTopic $FORUM #$R1 Alice Novak · open" \
    "sendMessage $FORUM/$T1 New request #$R1 from Alice Novak (@alice):⏎My printer is on fire [take:$R1,close:$R1]"
expect_eq "the topic is stored with the user" "#$R1 Alice Novak · open|False|False" "$(topic "$T1")"

mark
say message 102 $DAVE $DAVE 'Broken screen' --name Dave --photo PH-DAVE
R2=$(q "SELECT id FROM requests WHERE user_id = $DAVE")
settle
T2=$(thread_of $DAVE)
expect_calls "a second user: a topic of their own; media copied into it" \
    "sendMessage $DAVE Request #$R2 $CREATED" \
    "createForumTopic $FORUM #$R2 Dave · open" \
    "sendMessage $FORUM/$T2 New request #$R2 from Dave:⏎Broken screen [take:$R2,close:$R2]" \
    "copyMessage $FORUM/$T2 from $DAVE:102"
expect_eq "two topics" 1 "$([ -n "$T1" ] && [ -n "$T2" ] && [ "$T1" != "$T2" ] && echo 1 || echo 0)"

mark
say message 103 $ALICE $ALICE 'It smells of smoke' "${A[@]}"
expect_calls "later messages: into the topic as written" "sendMessage $FORUM/$T1 It smells of smoke"

# ---- staff write in the topics ---------------------------------------------

mark
say message 201 $FORUM $BOB 'Turn it off, <b>please</b>.' --name Bob --thread "$T1"
expect_calls "staff write in a topic: copied to that user only; the first answer assigns" \
    "copyMessage $ALICE from $FORUM:201" \
    "editForumTopic $FORUM/$T1 #$R1 Alice Novak · assigned" \
    "sendMessage $FORUM/$T1 Request #$R1 is now assigned to Bob."
expect_eq "the answer is stored, and where its copy went" "admin|$BOB|Turn it off, <b>please</b>.|$ALICE|true" \
    "$(q "SELECT sender_type || '|' || sender_id || '|' || message || '|' || copy_chat_id || '|' || (copy_message_id > 0) FROM messages WHERE chat_id = $FORUM AND tg_message_id = 201")"
expect_eq "assigned to Bob" "assigned|$BOB" "$(q "SELECT status || '|' || assigned_admin FROM requests WHERE id = $R1")"

mark
say message 202 $FORUM $CAROL '' --name Carol --thread "$T2" --photo PH-CAROL
expect_calls "a photo in the other topic reaches the other user" \
    "copyMessage $DAVE from $FORUM:202" \
    "editForumTopic $FORUM/$T2 #$R2 Dave · assigned" \
    "sendMessage $FORUM/$T2 Request #$R2 is now assigned to Carol."

# ---- notes --------------------------------------------------------------------

mark
say message 203 $FORUM $BOB '// she sounds upset' --name Bob --thread "$T1"
say message 204 $FORUM $BOB '/note check the warranty' --name Bob --thread "$T1"
expect_calls "notes in a topic: nothing is sent"
say message 205 $FORUM $CAROL "/note $R2 Customer is a VIP" --name Carol
expect_calls "/note N elsewhere: stored and confirmed" \
    "sendMessage $FORUM Note added to request #$R2 (for staff only: the user does not see it)."
expect_eq "notes are stored as notes" \
    "$R1|she sounds upset|true
$R1|check the warranty|true
$R2|Customer is a VIP|true" \
    "$(q "SELECT request_id || '|' || message || '|' || is_note FROM messages WHERE is_note ORDER BY id")"

mark
say message 206 $FORUM $BOB '/history' --name Bob --thread "$T1"
settle
h=$(calls)
expect_contains "/history in a topic: the topic's request, in the topic" "$h" "sendMessage $FORUM/$T1 Request #$R1 · assigned (Bob) · Alice Novak (@alice)"
expect_contains "/history: an answer" "$h" "Bob (staff): Turn it off, <b>please</b>."
expect_contains "/history: notes marked as notes" "$h" "Bob (staff, note): she sounds upset"
expect_contains "/history: the /note" "$h" "Bob (staff, note): check the warranty"

mark
say message 207 $FORUM $BOB '/export' --name Bob --thread "$T1"
settle
doc=$(curl -s "$fake_url/control/calls?method=sendDocument&since=$seq0" | pyq '"\n".join("%s|%s|%s" % (c["body"].get("message_thread_id"), c["body"]["document"]["filename"], c["body"]["document"]["content"]) for c in d)')
expect_contains "/export in a topic: the files come into the topic" "$doc" "$T1|request-$R1.txt|"
expect_contains "/export: notes marked as notes" "$doc" "Bob (staff, internal note): she sounds upset"

# ---- edits, buttons, forum service messages ---------------------------------

COPY=$(q "SELECT copy_message_id FROM messages WHERE chat_id = $FORUM AND tg_message_id = 201")
mark
say edited 208 $FORUM $BOB 'Turn it OFF, please!' --mid 201 --name Bob --thread "$T1"
say edited 209 $ALICE $ALICE 'It smells of burning plastic' --mid 103 "${A[@]}"
expect_calls "a staff edit edits the user's copy; a user's edit is announced in the topic" \
    "editMessageText $ALICE:$COPY Turn it OFF, please!" \
    "sendMessage $FORUM/$T1 Request #$R1: Alice Novak (@alice) edited a message: It smells of burning plastic"

mark
say message 210 $FORUM $BOB '' --name Bob --thread "$T1" --forum-event edited
say message 211 $FORUM $BOB '' --name Bob --thread "$T1" --forum-event closed
expect_calls "forum service messages are ignored"
expect_eq "... and not stored" 0 "$(q "SELECT count(*) FROM processed_updates WHERE update_id IN (210, 211)")"

mark
say callback 212 $BOB "take:$R2" --name Bob --chat $FORUM --mid 1 --thread "$T2"
expect_calls "a button in a topic: the confirmation stays in the topic" \
    "answerCallbackQuery cq212 toast Request #$R2 taken by Bob (it was assigned to Carol)." \
    "sendMessage $FORUM/$T2 Request #$R2 taken by Bob (it was assigned to Carol)."

mark
say message 213 $FORUM $MALLORY 'I am not staff' --name Mallory --thread "$T1"
expect_calls "someone else writing in a topic is refused; nothing reaches the user" \
    "sendMessage $FORUM/$T1 Sorry, only support staff can answer requests."

mark
say message 214 $FORUM $BOB '/list' --name Bob
settle
expect_contains "the General topic works as before" "$(calls)" "sendMessage $FORUM Open and assigned requests, oldest first:"

# ---- /solve in a topic, a restart, the user writes again -------------------

mark
say message 215 $FORUM $BOB '/solve Replaced the fuser unit.' --name Bob --thread "$T1"
expect_calls "/solve in a topic: solution sent; the topic renamed and closed" \
    "sendMessage $ALICE Request #$R1 is solved: Replaced the fuser unit.⏎⏎If you need anything else, just write to us again." \
    "editForumTopic $FORUM/$T1 #$R1 Alice Novak · solved" \
    "closeForumTopic $FORUM/$T1" \
    "sendMessage $FORUM/$T1 Request #$R1 solved by Bob."
expect_eq "the fake's topic: renamed and closed" "#$R1 Alice Novak · solved|True|False" "$(topic "$T1")"
expect_eq "solved with the solution" "solved|Replaced the fuser unit." "$(q "SELECT status || '|' || solution FROM requests WHERE id = $R1")"

stop_tgdesk
expect_eq "tgdesk stops cleanly" 0 "$stop_rc"
start_tgdesk "${ENV[@]}" || not_ok "tgdesk starts again" "$(tail -5 "$scratch/tgdesk.log")"

mark
say message 104 $ALICE $ALICE 'Scanner jams now' "${A[@]}"
R3=$(q "SELECT id FROM requests WHERE user_id = $ALICE AND status = 'open'")
expect_calls "after a restart, a new request reopens and renames the same topic" \
    "sendMessage $ALICE Request #$R3 $CREATED" \
    "reopenForumTopic $FORUM/$T1" \
    "editForumTopic $FORUM/$T1 #$R3 Alice Novak · open" \
    "sendMessage $FORUM/$T1 New request #$R3 from Alice Novak (@alice):⏎Scanner jams now [take:$R3,close:$R3]"
expect_eq "one topic for all of a user's requests" "$T1|#$R3 Alice Novak · open|False|False" "$(thread_of $ALICE)|$(topic "$T1")"

# ---- a topic deleted by staff ---------------------------------------------

expect_eq "staff delete Dave's topic" 200 "$(fake_delete_topic "$T2")"
mark
say message 105 $DAVE $DAVE 'Hello? Anyone?' --name Dave
settle
T2B=$(thread_of $DAVE)
expect_calls "the message that finds the topic gone: a new topic, the message in it" \
    "sendMessage $FORUM/$T2 Hello? Anyone? HTTP400" \
    "createForumTopic $FORUM #$R2 Dave · assigned" \
    "sendMessage $FORUM/$T2B Hello? Anyone?"
expect_eq "the new topic is stored" 1 "$([ -n "$T2B" ] && [ "$T2B" != "$T2" ] && echo 1 || echo 0)"
expect_eq "nothing failed in the outbox" 0 "$(q "SELECT count(*) FROM outbox WHERE status = 'failed'")"

mark
say message 216 $FORUM $CAROL '/solve 7 screws were loose' --name Carol --thread "$T2B"
expect_calls "in a topic, a number that is no request of its user is part of the text" \
    "sendMessage $DAVE Request #$R2 is solved: 7 screws were loose⏎⏎If you need anything else, just write to us again." \
    "editForumTopic $FORUM/$T2B #$R2 Dave · solved" \
    "closeForumTopic $FORUM/$T2B" \
    "sendMessage $FORUM/$T2B Request #$R2 solved by Carol."

expect_eq "every call of the conversation went out; none was refused but the deleted topic's" \
    "1" "$(curl -s "$fake_url/control/count?status=400" | pyq 'd["count"]')"

# ---- forgetting a user deletes their topic ---------------------------------

say message 217 $FORUM $CAROL "/forget $DAVE" --name Carol
settle
mark
say callback 218 $CAROL "forget:$DAVE" --name Carol --chat $FORUM --mid 1
settle
expect_contains "/forget: the user's topic, with their name and words, is deleted" "$(calls)" \
    "deleteForumTopic $FORUM/$T2B"
expect_eq "... at the fake and in the database" "#$R2 Dave · solved|True|True|" \
    "$(topic "$T2B")|$(thread_of $DAVE)"

stop_tgdesk
finish
