#!/usr/bin/env bash
# Satisfaction ratings end to end: the question with five buttons after
# /solve and /close, a press, a changed press, the comment (the user's next
# text within the window, not a new request), a window that ran out (times
# moved in the database), forged and early presses, /stats over 7 and 30
# days, tgdesk_csat_ratings_total, and CSAT=off.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

ALICE=6300000001 MALLORY=6300000099 BOB=5570000001

db=$(new_db)
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
metric() { curl -s "$base/metrics" | awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print 0}'; }
buttons() { echo "[rate:$1:1,rate:$1:2,rate:$1:3,rate:$1:4,rate:$1:5]"; }
ASK='How would you rate our help with request'

say message 1 $ALICE $ALICE 'The printer jams' --name Alice
R1=$(q "SELECT id FROM requests WHERE user_id = $ALICE")
settle

# /solve: the solution, then the question with five buttons.
mark
say message 2 $BOB $BOB "/solve $R1 Removed the paper clip." --name Bob
expect_calls "/solve: the user is asked to rate" \
    "sendMessage $ALICE Request #$R1 is solved: Removed the paper clip.⏎⏎If you need anything else, just write to us again." \
    "sendMessage $ALICE $ASK #$R1? 1 is poor, 5 is excellent. $(buttons "$R1")" \
    "sendMessage $BOB Request #$R1 solved by Bob."

# A press: stored, thanked, the comment invited, staff told.
mark
say callback 3 $ALICE "rate:$R1:4" --name Alice --chat $ALICE --mid 50
expect_calls "press 4: answered, comment invited, staff told" \
    "answerCallbackQuery cq3 toast Thank you! You rated request #$R1: 4/5." \
    "sendMessage $ALICE Thank you for rating request #$R1: 4/5. If you like, tell us in your next message what was good or what we could do better." \
    "sendMessage $BOB Request #$R1 was rated 4/5 by Alice."
expect_eq "press 4: stored, comment window open" "4|$ALICE|true" \
    "$(q "SELECT score || '|' || user_id || '|' || (comment_until > now()) FROM ratings WHERE request_id = $R1")"

# A second press changes it.
mark
say callback 4 $ALICE "rate:$R1:5" --name Alice --chat $ALICE --mid 50
expect_calls "press 5: the rating changes" \
    "answerCallbackQuery cq4 toast Your rating of request #$R1 is now 5/5." \
    "sendMessage $BOB Request #$R1 was rated 5/5 by Alice (changed)."
expect_eq "press 5: one rating, score 5" "1|5" "$(q "SELECT count(*) || '|' || max(score) FROM ratings")"

# The next text is the comment, not a new request.
mark
say message 5 $ALICE $ALICE 'Quick and friendly, thanks!' --name Alice
expect_calls "comment: thanked, staff get it" \
    "sendMessage $ALICE Thank you for your feedback on request #$R1." \
    "sendMessage $BOB Request #$R1 (rated 5/5) - Alice comments:⏎Quick and friendly, thanks!"
expect_eq "comment: stored on the rating, window closed, no request opened" "Quick and friendly, thanks!|true|1" \
    "$(q "SELECT comment || '|' || (comment_until IS NULL) || '|' || (SELECT count(*) FROM requests) FROM ratings WHERE request_id = $R1")"

# After the comment, a message is a message again.
mark
say message 6 $ALICE $ALICE 'Now the scanner' --name Alice
R2=$(q "SELECT id FROM requests WHERE user_id = $ALICE AND status = 'open'")
expect_eq "after the comment: a new request" "2" "$(q "SELECT count(*) FROM requests")"

# /close asks too; a comment window that ran out takes no comment.
say message 7 $BOB $BOB "/close $R2" --name Bob
say callback 8 $ALICE "rate:$R2:2" --name Alice --chat $ALICE --mid 51
settle
q "UPDATE ratings SET comment_until = now() - interval '1 second' WHERE request_id = $R2" >/dev/null
mark
say message 9 $ALICE $ALICE 'And the fax' --name Alice
R3=$(q "SELECT id FROM requests WHERE user_id = $ALICE AND status = 'open'")
expect_eq "window over: the text opened request #3" "3|" "$(q "SELECT count(*) FROM requests")|$(q "SELECT coalesce(comment, '') FROM ratings WHERE request_id = $R2")"

# Forged and early presses.
settle
mark
log0=$(q "SELECT coalesce(max(id), 0) FROM logs")
say callback 10 $MALLORY "rate:$R1:1" --name Mallory --chat $MALLORY --mid 9
say callback 11 $ALICE "rate:$R3:3" --name Alice --chat $ALICE --mid 52
say callback 12 $ALICE "rate:$R1:9" --name Alice --chat $ALICE --mid 52
expect_calls "forged, early and malformed presses answered" \
    "answerCallbackQuery cq10 alert This button is not valid." \
    "answerCallbackQuery cq11 alert You can rate request #$R3 once it is solved." \
    "answerCallbackQuery cq12 alert This button is not valid."
expect_eq "forged presses audited, nothing changed" "rejected callback data|$MALLORY
rejected callback data|$ALICE
5|2" "$(q "SELECT message || '|' || (context->>'user_id') FROM logs WHERE audit AND id > $log0 ORDER BY id")
$(q "SELECT string_agg(score::text, '|' ORDER BY request_id) FROM ratings")"

# /stats: average and count over 7 and 30 days.
q "UPDATE ratings SET rated_at = now() - interval '10 days' WHERE request_id = $R1" >/dev/null
mark
say message 13 $BOB $BOB "/stats" --name Bob
settle
expect_contains "/stats: satisfaction over 7 and 30 days" "$(calls)" \
    "Satisfaction, last 7 days: 2.0 of 5 (1 rating)⏎Satisfaction, last 30 days: 3.5 of 5 (2 ratings)"

expect_eq "metric by score" "0 1 0 1 1" \
    "$(for s in 1 2 3 4 5; do printf '%s ' "$(metric "tgdesk_csat_ratings_total{score=\"$s\"}")"; done | sed 's/ $//')"

# CSAT=off: nobody is asked, /stats says nothing of ratings.
stop_tgdesk TERM
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB CSAT=off
mark
say message 14 $BOB $BOB "/solve $R3 Fax fixed." --name Bob
say message 15 $BOB $BOB "/stats" --name Bob
settle
expect_not_contains "CSAT=off: no question" "$(calls)" "$ASK"
expect_not_contains "CSAT=off: no satisfaction in /stats" "$(calls)" "Satisfaction"

stop_tgdesk TERM
finish
