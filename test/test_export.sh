#!/usr/bin/env bash
# /export N end to end: refused to an agent (audited), "no such request",
# and for a supervisor two files through sendDocument - sent as a
# multipart upload (the fake records the file part with its size) - with
# every message, edit, status change and the rating with its comment, in
# time order (the messages carry Telegram's dates of January 2026, the
# status changes the database's time, so those come last here); the HTML page escapes what people wrote.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

ALICE=6500000001 BOB=5590000001 SUE=5590000009

db=$(new_db)
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB SUPERVISOR_IDS=$SUE || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

say message 1 $ALICE $ALICE 'Printer <b>on fire</b> & "smoking"' --name Alice --last Novak
R=$(q "SELECT id FROM requests WHERE user_id = $ALICE")
say edited 2 $ALICE $ALICE 'Printer <b>on fire</b> & "smoking" - help!' --mid 1 --name Alice --last Novak --edit-date 1767225602
say message 3 $BOB $BOB "/take $R" --name Bob
say message 4 $BOB $BOB "/reply $R Unplug it <now>" --name Bob
say message 5 $BOB $BOB "/solve $R Replaced the fuser." --name Bob
say callback 6 $ALICE "rate:$R:4" --name Alice --chat $ALICE --mid 90
say message 7 $ALICE $ALICE 'Fast & kind' --name Alice --last Novak
settle

# Agents may not export; an unknown request is said so.
mark
say message 8 $BOB $BOB "/export $R" --name Bob
say message 9 $SUE $SUE "/export 999" --name Sue
expect_calls "agent refused; unknown request" \
    "sendMessage $BOB Sorry, /export is only for supervisors." \
    "sendMessage $SUE There is no request #999."
expect_eq "refusal audited" "refused supervisor command|export|$BOB" \
    "$(q "SELECT message || '|' || (context->>'command') || '|' || (context->>'user_id') FROM logs WHERE audit AND message = 'refused supervisor command'")"

# The supervisor gets both files.
mark
say message 10 $SUE $SUE "/export $R" --name Sue
settle
docs=$(curl -s "$fake_url/control/calls?method=sendDocument&since=$seq0")
expect_eq "two uploads to the supervisor, as multipart files" \
    "$SUE|request-$R.txt|text/plain; charset=utf-8|Transcript of request #$R (text)|upload
$SUE|request-$R.html|text/html; charset=utf-8|Transcript of request #$R (web page)|upload" \
    "$(pyq 'chr(10).join("%s|%s|%s|%s|%s" % (c["body"]["chat_id"], c["body"]["document"]["filename"], c["body"]["document"]["content_type"], c["body"]["caption"], "upload" if c["body"]["document"].get("size") == len(c["body"]["document"]["content"].encode()) else "json") for c in d)' <<<"$docs")"
txt=$(pyq 'd[0]["body"]["document"]["content"]' <<<"$docs" | sed -E 's/^\[[0-9-]{10} [0-9:]{8}\]/[T]/')
html=$(pyq 'd[1]["body"]["document"]["content"]' <<<"$docs")
expect_eq "the text file: every event in order" \
    "Request #$R · solved · Alice Novak · opened $(q "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM requests WHERE id = $R") UTC

[T] Alice Novak: Printer <b>on fire</b> & \"smoking\"
[T] Alice Novak: edited a message (version 1): Printer <b>on fire</b> & \"smoking\" - help!
[T] Bob (staff): Unplug it <now>
[T] Bob (staff): Replaced the fuser.
[T] Bob: take: open -> assigned
[T] Bob: solve: assigned -> solved
[T] Alice Novak: rated the help 4/5, commenting: Fast & kind" \
    "$txt"
expect_contains "HTML: escaped" "$html" "Printer &lt;b&gt;on fire&lt;/b&gt; &amp; &quot;smoking&quot;"
expect_contains "HTML: staff text escaped" "$html" "Unplug it &lt;now&gt;"
expect_not_contains "HTML: nothing a person wrote as markup" "$html" "<b>on fire"
expect_contains "HTML: a page" "$html" "<!DOCTYPE html>"
expect_eq "export audited" "transcript exported|$R|$SUE" \
    "$(q "SELECT message || '|' || (context->>'request_id') || '|' || (context->>'actor_id') FROM logs WHERE audit AND message = 'transcript exported'")"

stop_tgdesk TERM
finish
