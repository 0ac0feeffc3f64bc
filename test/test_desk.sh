#!/usr/bin/env bash
# The support desk end to end: a whole conversation with staff in
# private chats, then again through a staff group; media both ways, edits,
# buttons, bans, refusals, /history split into parts, the reply-to mapping
# across a restart, a staff group that became a supergroup. Every row,
# status, timestamp and audit row is checked, and every call the fake Bot API
# received (method, chat, text, buttons; never a parse_mode). Ratings
# (CSAT) are off here: test_csat.sh covers them.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

ALICE=6100000001 DAVE=6100000002 FRANK=6100000004 MALLORY=6100000099
BOB=5550000001 CAROL=5550000002
GROUP=-1002000000001 NEWGROUP=-1009000000001 OTHERGROUP=-1003000000001

db=$(new_db)
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=off ADMIN_IDS=$BOB,$CAROL || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

# audit_rows [MIN_ID]: the audit rows in order, one per line.
audit_rows() {
    q "SELECT level || '|' || message || '|' || coalesce(context->>'action', context->>'command', context->>'data', '') || '|' || coalesce(context->>'request_id', '') || '|' || coalesce(context->>'actor_id', context->>'user_id', '') || '|' || coalesce(context->>'old_status', '') || '>' || coalesce(context->>'new_status', '') FROM logs WHERE audit AND id > ${1:-0} ORDER BY id"
}
last_log() { q "SELECT coalesce(max(id), 0) FROM logs"; }
# nmid CHAT REQUEST [N]: the message id of the N-th (0-based) notification in CHAT about REQUEST.
nmid() { q "SELECT message_id FROM notifications WHERE chat_id = $1 AND request_id = $2 ORDER BY message_id LIMIT 1 OFFSET ${3:-0}"; }
CREATED='created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one.'
A=(--name Alice --last Smith --username alice)

# ---- staff in private chats (no ADMIN_CHAT_ID) ----------------------------------

# 1. The user writes: a request, a reply, a notification to each admin.
mark
say message 101 $ALICE $ALICE 'My printer is on fire' "${A[@]}"
R1=$(q "SELECT id FROM requests WHERE user_id = $ALICE")
expect_eq "user writes: request open, with the issue" "open||My printer is on fire" \
    "$(q "SELECT status || '|' || coalesce(assigned_admin::text, '') || '|' || issue FROM requests WHERE id = $R1")"
expect_eq "user writes: message stored" "user|$ALICE|My printer is on fire|$ALICE|101" \
    "$(q "SELECT sender_type || '|' || sender_id || '|' || message || '|' || chat_id || '|' || tg_message_id FROM messages WHERE request_id = $R1")"
expect_calls "user writes: 'created' reply; each admin notified with take/close buttons" \
    "sendMessage $ALICE Request #$R1 $CREATED" \
    "sendMessage $BOB New request #$R1 from Alice Smith (@alice):⏎My printer is on fire [take:$R1,close:$R1]" \
    "sendMessage $CAROL New request #$R1 from Alice Smith (@alice):⏎My printer is on fire [take:$R1,close:$R1]"
expect_eq "notifications mapped to the request" "2" "$(q "SELECT count(*) FROM notifications WHERE request_id = $R1")"

# 2. /take
mark
log0=$(last_log)
say message 102 $BOB $BOB "/take $R1" --name Bob
expect_calls "/take: the user is told, staff confirmed" \
    "sendMessage $ALICE Request #$R1 was taken by our support team." \
    "sendMessage $BOB Request #$R1 taken by Bob."
expect_eq "/take: assigned to Bob, updated_at moved" "assigned|$BOB|true" \
    "$(q "SELECT status || '|' || assigned_admin || '|' || (updated_at > created_at) FROM requests WHERE id = $R1")"
expect_eq "/take: audit row" "info|request status changed|take|$R1|$BOB|open>assigned" "$(audit_rows "$log0")"

# 3. A Telegram reply to the notification reaches the user, exactly as written.
mark
say message 103 $BOB $BOB 'Have you tried turning it off and on again? <b>*no markup*</b>' --name Bob --reply-to "$(nmid $BOB $R1)"
expect_calls "reply-to: the staff text reaches the user verbatim, no parse_mode" \
    "sendMessage $ALICE Have you tried turning it off and on again? <b>*no markup*</b>"
expect_eq "reply-to: stored as an admin message; first response recorded" "admin|$BOB|Have you tried turning it off and on again? <b>*no markup*</b>|true" \
    "$(q "SELECT m.sender_type || '|' || m.sender_id || '|' || m.message || '|' || (r.first_response_at IS NOT NULL) FROM messages m JOIN requests r ON r.id = m.request_id WHERE m.tg_message_id = 103 AND m.chat_id = $BOB")"

# 4. /reply
mark
say message 104 $BOB $BOB "/reply $R1 Also: unplug it _now_." --name Bob
expect_calls "/reply: the text reaches the user" "sendMessage $ALICE Also: unplug it _now_."

# 5. The user answers: staff are notified, the user gets no second 'created'.
mark
say message 105 $ALICE $ALICE 'Unplugged. Still smoking.' "${A[@]}"
expect_calls "user answers: both admins notified" \
    "sendMessage $BOB Request #$R1 - Alice Smith (@alice) writes:⏎Unplugged. Still smoking. [take:$R1,close:$R1]" \
    "sendMessage $CAROL Request #$R1 - Alice Smith (@alice) writes:⏎Unplugged. Still smoking. [take:$R1,close:$R1]"

# 6. /list
mark
say message 106 $CAROL $CAROL '/list' --name Carol
settle
expect_contains "/list: assigned request with age and user" "$(calls)" \
    "sendMessage $CAROL Open and assigned requests, oldest first:⏎#$R1 · assigned to Bob · "
expect_contains "/list: the issue" "$(calls)" "· Alice Smith (@alice)⏎    My printer is on fire"

# 7. /solve
mark
log0=$(last_log)
say message 107 $BOB $BOB "/solve $R1 Replaced the fuser unit." --name Bob
expect_calls "/solve: the user gets the solution" \
    "sendMessage $ALICE Request #$R1 is solved: Replaced the fuser unit.⏎⏎If you need anything else, just write to us again." \
    "sendMessage $BOB Request #$R1 solved by Bob."
expect_eq "/solve: status, solution, timestamps" "solved|Replaced the fuser unit.|true|true" \
    "$(q "SELECT status || '|' || solution || '|' || (resolved_at IS NOT NULL) || '|' || (first_response_at <= resolved_at) FROM requests WHERE id = $R1")"
expect_eq "/solve: audit row" "info|request status changed|solve|$R1|$BOB|assigned>solved" "$(audit_rows "$log0")"
expect_eq "the conversation, in order" \
    "user:My printer is on fire
admin:Have you tried turning it off and on again? <b>*no markup*</b>
admin:Also: unplug it _now_.
user:Unplugged. Still smoking.
admin:Replaced the fuser unit." \
    "$(q "SELECT sender_type || ':' || message FROM messages WHERE request_id = $R1 ORDER BY id")"

# 8. /stats and /status
mark
say message 108 $BOB $BOB '/stats' --name Bob
say message 109 $ALICE $ALICE '/status' "${A[@]}"
settle
expect_contains "/stats: counts by status" "$(calls)" "sendMessage $BOB Requests: 0 open, 0 assigned, 1 solved, 0 closed.⏎Median first response: "
expect_contains "/stats: medians" "$(calls)" "(1 request)⏎Median resolution: "
expect_contains "/status: the user's requests" "$(calls)" "sendMessage $ALICE Your recent requests:⏎#$R1 · solved · opened "

# 9. A staff command from someone else: refused, audited, nothing changes.
mark
log0=$(last_log)
say message 110 $MALLORY $MALLORY "/take $R1" --name Mallory
expect_calls "non-staff /take: a polite refusal" \
    "sendMessage $MALLORY Sorry, /take is only for our support staff. If you need help, just describe your problem in a message here."
expect_eq "non-staff /take: audited with user, command and chat" "warn|refused staff command|take|$MALLORY|$MALLORY|true" \
    "$(q "SELECT level || '|' || message || '|' || (context->>'command') || '|' || (context->>'user_id') || '|' || (context->>'chat_id') || '|' || audit FROM logs WHERE id > $log0")"
expect_eq "non-staff /take: nothing changed" "solved|$BOB" "$(q "SELECT status || '|' || assigned_admin FROM requests WHERE id = $R1")"

# 10. /cancel, usage errors, /reopen, /close
# (a new request's notification lists the solved requests it shares words with)
SIMILAR1="⏎⏎Similar solved requests:⏎#$R1 · solved · My printer is on fire⏎    → Replaced the fuser unit."
mark
log0=$(last_log)
say message 111 $ALICE $ALICE 'One more thing: the scanner' "${A[@]}"
R2=$(q "SELECT id FROM requests WHERE user_id = $ALICE AND status = 'open'")
say message 112 $ALICE $ALICE '/cancel' "${A[@]}"
say message 113 $ALICE $ALICE '/cancel' "${A[@]}"
expect_calls "/cancel: closes the open request; staff told; a second /cancel finds none" \
    "sendMessage $ALICE Request #$R2 $CREATED" \
    "sendMessage $BOB New request #$R2 from Alice Smith (@alice):⏎One more thing: the scanner$SIMILAR1 [take:$R2,close:$R2]" \
    "sendMessage $CAROL New request #$R2 from Alice Smith (@alice):⏎One more thing: the scanner$SIMILAR1 [take:$R2,close:$R2]" \
    "sendMessage $ALICE Request #$R2 is closed. Write to us again any time to open a new one." \
    "sendMessage $BOB Request #$R2 was cancelled by Alice Smith (@alice)." \
    "sendMessage $CAROL Request #$R2 was cancelled by Alice Smith (@alice)." \
    "sendMessage $ALICE You have no open request. Write a message to open one."
expect_eq "/cancel: closed with resolved_at" "closed|true" "$(q "SELECT status || '|' || (resolved_at IS NOT NULL) FROM requests WHERE id = $R2")"
expect_eq "/cancel: audit row names the user as actor" "info|request status changed|cancel|$R2|$ALICE|open>closed" "$(audit_rows "$log0")"

mark
log0=$(last_log)
say message 114 $BOB $BOB '/take' --name Bob
say message 115 $BOB $BOB '/take 99999' --name Bob
say message 116 $BOB $BOB "/solve $R1" --name Bob
say message 117 $BOB $BOB "/reopen $R1" --name Bob
say message 118 $BOB $BOB "/reopen $R1" --name Bob
say message 119 $BOB $BOB "/close $R1" --name Bob
say message 120 $BOB $BOB '/frobnicate' --name Bob
expect_calls "usage errors, unknown requests, reopen and close" \
    "sendMessage $BOB Usage: /take N - assign request N to yourself" \
    "sendMessage $BOB There is no request #99999." \
    "sendMessage $BOB Usage: /solve N solution - mark request N solved and send the solution" \
    "sendMessage $ALICE Request #$R1 was reopened; our support team will get back to you here." \
    "sendMessage $BOB Request #$R1 reopened by Bob." \
    "sendMessage $BOB Request #$R1 is already open." \
    "sendMessage $ALICE Request #$R1 was closed by our support team. If you need anything else, just write to us again." \
    "sendMessage $BOB Request #$R1 closed by Bob." \
    "sendMessage $BOB Unknown command /frobnicate.⏎⏎$(sed 's/$/⏎/' <<'EOF' | tr -d '\n' | sed 's/⏎$//'
Support staff commands:
/list - open and assigned requests, oldest first
/take N - assign request N to yourself
/reply N text - send text to the user of request N
/solve N solution - mark request N solved and send the user the solution
/close N - close request N
/reopen N - reopen a solved or closed request
/history N - the whole conversation of request N
/ban N, /unban N - stop or resume forwarding the messages of request N's user (supervisors)
/stats - requests by status, median first response and resolution times
/export N - the whole conversation of request N as files (supervisors)
/forget USER_ID - erase the personal data of a user (supervisors; asks first)
/canned - canned answers: write !NAME in any answer to send one; /canned add NAME text saves one, /canned del NAME deletes it (supervisors)
/search words - requests whose text, messages or solution hold the words, best first

To answer a user, simply reply to any notification about their request: text is sent as you wrote it, photos and files are copied. The first answer to an open request assigns it to you.
EOF
)"
expect_eq "reopen and close: audited" \
    "info|request status changed|reopen|$R1|$BOB|solved>open
info|request status changed|close|$R1|$BOB|open>closed" "$(audit_rows "$log0")"
expect_eq "reopen cleared the assignee; close set resolved_at again" "closed|true|false" \
    "$(q "SELECT status || '|' || (resolved_at IS NOT NULL) || '|' || (assigned_admin IS NOT NULL) FROM requests WHERE id = $R1")"

# 11. Media both ways: the user's photo is copied to staff; staff answer the
# copy with a document, which is copied to the user.
mark
log0=$(last_log)
say message 121 $ALICE $ALICE 'The display after the fire' "${A[@]}" --photo AgACphoto121
R4=$(q "SELECT id FROM requests WHERE user_id = $ALICE AND status = 'open'")
expect_eq "photo: opens a request with the caption as issue; file id of the largest size" \
    "The display after the fire|photo|AgACphoto121|The display after the fire" \
    "$(q "SELECT r.issue || '|' || m.attachment_kind || '|' || m.attachment_file_id || '|' || m.message FROM requests r JOIN messages m ON m.request_id = r.id WHERE r.id = $R4")"
expect_calls "photo: a text notification and a copy to each admin" \
    "sendMessage $ALICE Request #$R4 $CREATED" \
    "sendMessage $BOB New request #$R4 from Alice Smith (@alice):⏎The display after the fire${SIMILAR1/· solved ·/· closed ·} [take:$R4,close:$R4]" \
    "sendMessage $CAROL New request #$R4 from Alice Smith (@alice):⏎The display after the fire${SIMILAR1/· solved ·/· closed ·} [take:$R4,close:$R4]" \
    "copyMessage $BOB from $ALICE:121" \
    "copyMessage $CAROL from $ALICE:121"
copy=$(nmid $BOB $R4 1)
expect_eq "photo: the copy is a notification too" "copyMessage" \
    "$(curl -s "$fake_url/control/calls" | pyq "' '.join(c['method'] for c in d if c.get('message_id') == $copy and c['body'].get('chat_id') == $BOB)")"
mark
say message 122 $BOB $BOB '' --name Bob --document BQACmanual122 --reply-to "$copy"
expect_calls "document from staff (a reply to the copy): copied to the user; the open request becomes Bob's" \
    "copyMessage $ALICE from $BOB:122" \
    "sendMessage $BOB Request #$R4 is now assigned to Bob."
expect_eq "document from staff: stored as an admin message with its file" "admin|document|BQACmanual122" \
    "$(q "SELECT sender_type || '|' || attachment_kind || '|' || attachment_file_id FROM messages WHERE chat_id = $BOB AND tg_message_id = 122")"
expect_eq "the first answer assigns the request: audited" "info|request status changed|reply|$R4|$BOB|open>assigned" "$(audit_rows "$log0")"

# 12. An edit keeps both versions; staff are told.
mark
say message 123 $ALICE $ALICE 'Model XJ-9' "${A[@]}"
say edited 124 $ALICE $ALICE 'Model XJ-900' "${A[@]}" --mid 123 --edit-date 1767229999
say edited 125 $ALICE $ALICE 'never stored' "${A[@]}" --mid 99999
expect_eq "edit: the original stays, the edit is version 1" "Model XJ-9|1|1|Model XJ-900|2026-01-01 01:13:19" \
    "$(q "SELECT m.message || '|' || m.edit_count || '|' || e.version || '|' || e.message || '|' || to_char(e.edited_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM messages m JOIN message_edits e ON e.message_id = m.id WHERE m.chat_id = $ALICE AND m.tg_message_id = 123")"
expect_calls "edit: staff told; an edit of an unknown message is ignored" \
    "sendMessage $BOB Request #$R4 - Alice Smith (@alice) writes:⏎Model XJ-9 [take:$R4,close:$R4]" \
    "sendMessage $CAROL Request #$R4 - Alice Smith (@alice) writes:⏎Model XJ-9 [take:$R4,close:$R4]" \
    "sendMessage $BOB Request #$R4: Alice Smith (@alice) edited a message: Model XJ-900" \
    "sendMessage $CAROL Request #$R4: Alice Smith (@alice) edited a message: Model XJ-900"
expect_eq "edit of an unknown message: no rows" "1" "$(q "SELECT count(*) FROM message_edits")"

# 13. /ban stops forwarding (the user notices nothing); /unban resumes it.
mark
log0=$(last_log)
say message 126 $BOB $BOB "/ban $R4" --name Bob
say message 127 $ALICE $ALICE 'hello? anyone?' "${A[@]}"
expect_calls "/ban: confirmed; the banned user's message is not forwarded" \
    "sendMessage $BOB Alice Smith (@alice) (request #$R4) is banned by Bob: their messages are still stored but no longer forwarded. /unban $R4 undoes it."
expect_eq "/ban: flag set, message still stored" "true|1" \
    "$(q "SELECT (SELECT is_banned FROM users WHERE user_id = $ALICE) || '|' || (SELECT count(*) FROM messages WHERE tg_message_id = 127)")"
mark
say message 128 $BOB $BOB "/unban $R4" --name Bob
say message 129 $ALICE $ALICE 'hello again' "${A[@]}"
expect_calls "/unban: forwarding resumes" \
    "sendMessage $BOB Alice Smith (@alice) (request #$R4) is unbanned by Bob." \
    "sendMessage $BOB Request #$R4 - Alice Smith (@alice) writes:⏎hello again [take:$R4,close:$R4]" \
    "sendMessage $CAROL Request #$R4 - Alice Smith (@alice) writes:⏎hello again [take:$R4,close:$R4]"
expect_eq "/ban, /unban: audited" "info|user banned|ban|$R4|$BOB|>
info|user unbanned|unban|$R4|$BOB|>" "$(audit_rows "$log0")"

# /reply N as the caption of a photo: the photo is the answer, the rest its caption.
mark
say message 140 $BOB $BOB "/reply $R4 See the attached diagram." --name Bob --photo AgACbob140
say message 141 $BOB $BOB "/reply $R4" --name Bob --photo AgACbob141
expect_calls "/reply with a photo: copied with the caption after N (or none)" \
    "copyMessage $ALICE from $BOB:140 caption=See the attached diagram." \
    "copyMessage $ALICE from $BOB:141 caption="
expect_eq "/reply with a photo: stored" "photo|See the attached diagram.
photo|" "$(q "SELECT attachment_kind || '|' || message FROM messages WHERE chat_id = $BOB AND tg_message_id IN (140, 141) ORDER BY tg_message_id")"

# 14. /history of a long conversation arrives in parts of at most 4096 characters.
for i in 1 2 3; do
    say message $((130 + i)) $FRANK $FRANK "$(/usr/bin/python3 -c "print(' '.join('part$i-word%04d' % k for k in range(220)))")" --name Frank
done
R3=$(q "SELECT id FROM requests WHERE user_id = $FRANK")
settle
mark
say message 134 $BOB $BOB "/history $R3" --name Bob
settle
hist=$(curl -s "$fake_url/control/calls?method=sendMessage&since=$seq0" | /usr/bin/python3 -c "
import json, sys
d = [c['body']['text'] for c in json.load(sys.stdin) if c['body']['chat_id'] == $BOB]
print(len(d), max(len(t) for t in d), all(t.endswith('\n') for t in d[:-1]))
print(''.join(d))")
expect_eq "/history: split into parts of at most 4096 characters, at line ends" "3 True" \
    "$(head -1 <<<"$hist" | awk '{print $1, ($2 <= 4096 ? "True" : "False") }')"
expect_eq "/history: every part but the last ends a line" "True" "$(head -1 <<<"$hist" | awk '{print $3}')"
transcript=$(tail -n +2 <<<"$hist")
expect_contains "/history: header" "$transcript" "Request #$R3 · open · Frank · opened "
for i in 1 2 3; do
    expect_contains "/history: message $i complete" "$transcript" \
        "] Frank: $(/usr/bin/python3 -c "print(' '.join('part$i-word%04d' % k for k in range(220)))")"
done

# ---- restart: the reply-to mapping lives in the database -------------------------

settle
stop_tgdesk TERM
expect_eq "SIGTERM: exit 0" 0 "$stop_rc"
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=off ADMIN_IDS=$BOB,$CAROL ADMIN_CHAT_ID=$GROUP || {
    not_ok "tgdesk restarts" "$(tail -5 "$scratch/tgdesk.log")"; finish; exit 1; }
mark
say message 135 $CAROL $CAROL 'Frank, we are on it.' --name Carol --reply-to "$(nmid $CAROL $R3)"
expect_calls "after a restart, a reply to an old notification still reaches the user" \
    "sendMessage $FRANK Frank, we are on it." \
    "sendMessage $CAROL Request #$R3 is now assigned to Carol."

# ---- the staff group (ADMIN_CHAT_ID) -------------------------------------------

D=(--name Dave)
mark
say message 201 $DAVE $DAVE 'Cannot log in' "${D[@]}"
R5=$(q "SELECT id FROM requests WHERE user_id = $DAVE")
expect_calls "group: the notification goes to the staff group only" \
    "sendMessage $DAVE Request #$R5 $CREATED" \
    "sendMessage $GROUP New request #$R5 from Dave:⏎Cannot log in [take:$R5,close:$R5]"
n5=$(nmid $GROUP $R5)

mark
log0=$(last_log)
say callback 202 $MALLORY "take:$R5" --name Mallory --chat $GROUP --mid "$n5"
expect_calls "callback from a non-staff user: refused, answered" \
    "answerCallbackQuery cq202 alert Sorry, only support staff can use these buttons."
expect_eq "callback from a non-staff user: audited, nothing changed" "warn|refused callback query|take:$R5||$MALLORY|>
open" "$(audit_rows "$log0")
$(q "SELECT status FROM requests WHERE id = $R5")"

mark
log0=$(last_log)
say callback 203 $BOB "take:$R5" --name Bob --chat $GROUP --mid "$n5"
expect_calls "callback take from staff: assigned, the user told, the group told, answered" \
    "answerCallbackQuery cq203 toast Request #$R5 taken by Bob." \
    "sendMessage $DAVE Request #$R5 was taken by our support team." \
    "sendMessage $GROUP Request #$R5 taken by Bob."
expect_eq "callback take: assigned to Bob, audited" "assigned|$BOB
info|request status changed|take|$R5|$BOB|open>assigned" \
    "$(q "SELECT status || '|' || assigned_admin FROM requests WHERE id = $R5")
$(audit_rows "$log0")"

mark
log0=$(last_log)
say callback 204 $BOB "take:99999" --name Bob --chat $GROUP --mid "$n5"
say callback 205 $BOB "reopen:$R5" --name Bob --chat $GROUP --mid "$n5"
expect_calls "forged callback data: answered with an error, nothing changed" \
    "answerCallbackQuery cq204 alert There is no request #99999." \
    "answerCallbackQuery cq205 alert This button is not valid."
expect_eq "forged callback data: audited" "warn|rejected callback data|take:99999|99999|$BOB|>
warn|rejected callback data|reopen:$R5||$BOB|>" "$(audit_rows "$log0")"

mark
say message 206 $GROUP $CAROL "/reply@tgdesk_sandbox_bot $R5 Please try resetting your password." --name Carol
say message 207 $GROUP $BOB 'The reset link is on the login page.' --name Bob --reply-to "$n5"
expect_calls "group: /reply@bot and a reply to the notification both reach the user" \
    "sendMessage $DAVE Please try resetting your password." \
    "sendMessage $DAVE The reset link is on the login page."
expect_eq "group: staff answers stored with the group as their chat" "admin|$CAROL|$GROUP|Please try resetting your password.
admin|$BOB|$GROUP|The reset link is on the login page." \
    "$(q "SELECT sender_type || '|' || sender_id || '|' || chat_id || '|' || message FROM messages WHERE request_id = $R5 AND sender_type = 'admin' ORDER BY id")"

mark
say message 208 $DAVE $DAVE 'this is what I see' "${D[@]}" --photo AgACdave208
expect_calls "group: the user's photo is copied to the group" \
    "sendMessage $GROUP Request #$R5 - Dave writes:⏎this is what I see [take:$R5,close:$R5]" \
    "copyMessage $GROUP from $DAVE:208"
mark
say message 209 $GROUP $BOB 'Like this?' --name Bob --photo AgACbob209 --reply-to "$(nmid $GROUP $R5 2)"
expect_calls "group: a staff photo answering the copy is copied to the user" \
    "copyMessage $DAVE from $GROUP:209"

mark
log0=$(last_log)
say message 210 $GROUP $MALLORY "/take $R5" --name Mallory
say message 211 $GROUP $MALLORY 'I can answer that!' --name Mallory --reply-to "$n5"
say message 212 $GROUP $CAROL 'coffee, anyone?' --name Carol
say message 213 $OTHERGROUP $DAVE "/take $R5" "${D[@]}"
expect_calls "group: a non-staff member is refused; chatter and other groups are ignored" \
    "sendMessage $GROUP Sorry, /take is only for support staff." \
    "sendMessage $GROUP Sorry, only support staff can answer requests."
expect_eq "group: refusals audited" "warn|refused staff command|take||$MALLORY|>
warn|refused staff command|reply||$MALLORY|>" "$(audit_rows "$log0")"
expect_eq "another group's message leaves no trace" 0 "$(q "SELECT count(*) FROM processed_updates WHERE update_id = 213")"

mark
say message 214 $GROUP $BOB "/solve $R5 Password reset; you are back in." --name Bob
expect_calls "group: /solve" \
    "sendMessage $DAVE Request #$R5 is solved: Password reset; you are back in.⏎⏎If you need anything else, just write to us again." \
    "sendMessage $GROUP Request #$R5 solved by Bob."

expect_eq "group: the request solved with both timestamps, in order" "solved|$BOB|Password reset; you are back in.|true" \
    "$(q "SELECT status || '|' || assigned_admin || '|' || solution || '|' || (created_at <= first_response_at AND first_response_at <= resolved_at AND updated_at >= resolved_at) FROM requests WHERE id = $R5")"
expect_eq "group: the whole conversation" \
    "user|$DAVE|Cannot log in|
admin|$CAROL|Please try resetting your password.|
admin|$BOB|The reset link is on the login page.|
user|$DAVE|this is what I see|photo
admin|$BOB|Like this?|photo
admin|$BOB|Password reset; you are back in.|" \
    "$(q "SELECT sender_type || '|' || sender_id || '|' || message || '|' || coalesce(attachment_kind, '') FROM messages WHERE request_id = $R5 ORDER BY id")"

# The staff group becomes a supergroup: notifications follow it, commands work there.
say message 215 $GROUP $BOB '' --name Bob --migrate-to $NEWGROUP
expect_eq "group migrated: remembered" "$NEWGROUP" "$(q "SELECT value FROM bot_state WHERE key = 'chat_migrated:$GROUP'")"
mark
say message 216 $DAVE $DAVE 'One more question' "${D[@]}"
R6=$(q "SELECT id FROM requests WHERE user_id = $DAVE AND status = 'open'")
say message 217 $NEWGROUP $CAROL "/take $R6" --name Carol
expect_calls "group migrated: notifications and commands in the supergroup" \
    "sendMessage $DAVE Request #$R6 $CREATED" \
    "sendMessage $NEWGROUP New request #$R6 from Dave:⏎One more question [take:$R6,close:$R6]" \
    "sendMessage $DAVE Request #$R6 was taken by our support team." \
    "sendMessage $NEWGROUP Request #$R6 taken by Carol."

# Nothing tgdesk sent carried a parse_mode; nothing failed.
expect_eq "no call carried a parse_mode" 0 \
    "$(curl -s "$fake_url/control/calls" | pyq 'len([c for c in d if "parse_mode" in (c["body"] or {})])')"
expect_eq "every outbox row delivered (none left)" 0 "$(q "SELECT count(*) FROM outbox")"
expect_eq "no update dead-lettered" 0 "$(q "SELECT count(*) FROM processed_updates WHERE outcome = 'dead'")"

stop_tgdesk TERM
expect_eq "SIGTERM: exit 0" 0 "$stop_rc"
finish
