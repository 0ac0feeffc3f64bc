#!/usr/bin/env bash
# Full-text search: /search lists finished requests (by issue, messages and
# solution) and open ones (by issue) with status and a snippet, best first;
# the notification of a new request lists the most similar solved requests
# (the password ones for a password question); a reopened or erased request
# leaves the index; SEARCH_LANGUAGE is checked against the database at start
# and a change makes every document again in the background.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

BOB=5580000001 MALLORY=6400000099
U1=6400000001 U2=6400000002 U3=6400000003 U4=6400000004 U5=6400000005 U6=6400000006
U7=6400000007

db=$(new_db)
start_fake
run env DATABASE_URL="$db" SEARCH_LANGUAGE=klingon DB_INIT_RETRIES=1 WEBHOOK_INSECURE=true PORT=0 "$TGDESK_BIN" serve
expect_eq "an unknown SEARCH_LANGUAGE: exit 2" 2 "$rc"
expect_contains "... naming the variable and what the database has" "$err" \
    '"variable":"SEARCH_LANGUAGE","value":"klingon"'
expect_contains "... (the configurations it has)" "$err" "english, "

start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=off ADMIN_IDS=$BOB || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

# The solved corpus: four requests as an import would bring them (their
# documents made by the insert trigger), one solved through the desk.
q "INSERT INTO users (user_id, first_name) SELECT u, 'User' || (u - 6400000000)
       FROM unnest(ARRAY[$U1, $U2, $U4, $U5]::bigint[]) u;
   INSERT INTO requests (user_id, issue, status, assigned_admin, solution) VALUES
       ($U1, 'I was charged twice, I want a refund', 'solved', $BOB, 'Refunded the second charge to your card.'),
       ($U2, 'Please refund my order, it arrived broken', 'closed', $BOB, 'Refund issued; no need to send it back.'),
       ($U4, 'The password reset email never arrives', 'solved', $BOB, 'Check the spam folder; we sent the reset email again.'),
       ($U5, 'My delivery is late, where is my parcel?', 'closed', $BOB, 'The courier delivers tomorrow; the tracking number is in your email.')" >/dev/null
rid() { q "SELECT id FROM requests WHERE user_id = $1 ORDER BY id DESC LIMIT 1"; }
R1=$(rid $U1) R2=$(rid $U2) R4=$(rid $U4) R5=$(rid $U5)
# (the first pass of the background indexer, which a new database starts with, done)
wait_for 20 sql_is "$db" "SELECT count(*) FROM bot_state WHERE key = 'search_reindex_from'" 0 ||
    not_ok "the first pass of the indexer ended" "$(q "SELECT * FROM bot_state")"
say message 1 $U3 $U3 'I forgot my password and cannot log in' --name User3
R3=$(rid $U3)
expect_eq "an open request has no document" "" "$(q "SELECT search FROM requests WHERE id = $R3")"
say message 2 $BOB $BOB "/solve $R3 Use the reset link on the login page." --name Bob
expect_eq "solving it makes its document: issue, solution, messages, weighted" \
    "'and':5A,21 'cannot':6A,22 'forgot':2A,18 'i':1A,17 'in':8A,24 'link':12B 'log':7A,23 'login':15B 'my':3A,19 'on':13B 'page':16B 'password':4A,20 'reset':11B 'the':10B,14B 'use':9B" \
    "$(q "SELECT search FROM requests WHERE id = $R3")"
say message 3 $U6 $U6 'Parcel tracking number does not work' --name User6
R6=$(rid $U6)
settle

# ---- similar solved requests in a new request's notification ---------------------
mark
say message 4 $U7 $U7 'Hi, how do I reset my password? I forgot it.' --name User7
R7=$(rid $U7)
settle
note=$(curl -s "$fake_url/control/calls?since=$seq0" | pyq "[c['body']['text'] for c in d if c['body'].get('chat_id') == $BOB][0]")
expect_eq "the new request's notification lists the password requests first" "New request #$R7 from User7:
Hi, how do I reset my password? I forgot it.

Similar solved requests:
#$R3 · solved · I forgot my password and cannot log in
    → Use the reset link on the login page.
#$R4 · solved · The password reset email never arrives
    → Check the spam folder; we sent the reset email again." "$(printf '%s\n' "$note" | head -n 8)"
expect_eq "... three at most" 3 "$(printf '%s\n' "$note" | grep -c '^#')"
# Any text is a query: quotes, backslashes, operators, a word too long to index.
U8=6400000008
long=$(printf 'x%.0s' $(seq 1 3000))
say message 5 $U8 $U8 "It's \"broken\" & | ! ( C:\\path\\x 'quoted' : * <-> $long spam" --name User8
expect_eq "... a new request with any text is stored and its notification written" "1|1" \
    "$(q "SELECT count(*) FROM requests WHERE user_id = $U8")|$(q "SELECT count(*) FROM outbox WHERE chat_id = $BOB AND payload->>'text' LIKE 'New request #% from User8:%Similar solved requests:%'")"
expect_not_contains "... and PostgreSQL's notices stay out of the log" "$(cat "$scratch/tgdesk.log")" "too long to be indexed"

# ---- /search ------------------------------------------------------------------
ages() { sed -E 's/ · [0-9]+[smhd]( [0-9]+[smhd])? · / · AGE · /g'; }
mark
say message 10 $BOB $BOB '/search password' --name Bob
settle
expect_eq "/search: matching requests with status, age, user and the words marked" \
    "Requests matching \"password\", best first:

#$R3 · solved · AGE · User3
I forgot my «password» and cannot log in Use the reset link on the login page

#$R7 · open · AGE · User7
Hi, how do I reset my «password»? I forgot it

#$R4 · solved · AGE · User4
The «password» reset email never arrives Check the spam folder; we sent the reset email again" \
    "$(curl -s "$fake_url/control/calls?since=$seq0" | pyq "d[-1]['body']['text']" | ages)"

search_ids() {
    mark
    say message "$1" $BOB $BOB "/search $2" --name Bob
    settle
    curl -s "$fake_url/control/calls?since=$seq0" | pyq "d[-1]['body']['text']" | sed -n 's/^#\([0-9]*\) · \([a-z]*\) .*/\1 \2/p' | tr '\n' ' '
}
expect_eq "/search refund: the two refunds (twice in one)" "$R2 closed $R1 solved " "$(search_ids 11 refund)"
expect_eq "/search parcel: a closed request and an open one (by its issue)" \
    "$R6 open $R5 closed " "$(search_ids 12 parcel)"
mark
say message 15 $BOB $BOB '/search zebra' --name Bob
say message 16 $BOB $BOB '/search' --name Bob
say message 17 $MALLORY $MALLORY '/search refund' --name Mallory
expect_calls "no match; no words; not staff" \
    "sendMessage $BOB No requests match \"zebra\"." \
    "sendMessage $BOB Usage: /search words - requests whose text, messages or solution hold all the words, best first" \
    "sendMessage $MALLORY Sorry, /search is only for our support staff. If you need help, just describe your problem in a message here."

# ---- leaving the index (test_forget.sh: /forget leaves no word in it) -----------
q "UPDATE requests SET status = 'open', assigned_admin = NULL WHERE id = $R1" >/dev/null
expect_eq "a reopened request leaves the index" "" "$(q "SELECT search FROM requests WHERE id = $R1")"
q "UPDATE requests SET issue = '', solution = NULL WHERE id = $R2" >/dev/null
expect_eq "an erased request (what /forget leaves) has no document" "" \
    "$(q "SELECT search FROM requests WHERE id = $R2")"

# ---- another language: every document made again --------------------------------
# A second instance, without a sender: its answer is read from the outbox.
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=off ADMIN_IDS=$BOB SEARCH_LANGUAGE=english \
    TELEGRAM_BOT_TOKEN= LOG_LEVEL=info || {
    not_ok "tgdesk starts in english" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
wait_for 30 sql_is "$db" "SELECT count(*) FROM bot_state WHERE key = 'search_reindex_from'" 0 ||
    not_ok "the indexer finished" "$(q "SELECT * FROM bot_state")"
expect_eq "SEARCH_LANGUAGE=english: stored; the documents stemmed" \
    "english|'courier':10B 'deliv':11B 'deliveri':2A" \
    "$(q "SELECT (SELECT value FROM bot_state WHERE key = 'search_language') || '|' || (SELECT string_agg(x, ' ') FROM unnest(string_to_array(search::text, ' ')) x WHERE x LIKE '''deliv%' OR x LIKE '''courier%') FROM requests WHERE id = $R5")"
expect_contains "... said so in the log" "$(cat "$scratch/tgdesk.log")" \
    "SEARCH_LANGUAGE changed: the search documents are made again in the background"
say message 30 $BOB $BOB '/search deliveries' --name Bob
expect_eq "/search deliveries finds \"delivery\" now" "#$R5 · closed" \
    "$(q "SELECT payload->>'text' FROM outbox WHERE status = 'pending' AND chat_id = $BOB ORDER BY id DESC LIMIT 1" | sed -n 's/^\(#[0-9]* · [a-z]*\) .*/\1/p')"

stop_tgdesk TERM
finish
