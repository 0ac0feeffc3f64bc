#!/usr/bin/env bash
# Canned answers: a supervisor saves them (several lines, kept as written),
# an agent may not (refused and audited); every staff member lists them and
# uses them as !name in /reply N, in a Telegram reply to a notification (a
# caption too) and in /solve; !!name is the word itself; an unknown !name
# refuses the whole answer and nothing reaches the user. Two instances share
# one database: what one saves or deletes, the other uses at once.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

ALICE=6300000001 BOB=5570000001 SUE=5570000009

db=$(new_db)
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=off ADMIN_IDS=$BOB SUPERVISOR_IDS=$SUE || {
    not_ok "tgdesk A starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
base_a=$base pid_a=$tg_pid
# B runs without a sender: what it queues is read from the outbox (and taken
# out of it), so that only A sends and every call the fake sees is A's.
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=off ADMIN_IDS=$BOB SUPERVISOR_IDS=$SUE \
    TELEGRAM_BOT_TOKEN= || { not_ok "tgdesk B starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
# b_queued CHAT: the texts B queued for CHAT, oldest first, one per line.
b_queued() { q "WITH d AS (DELETE FROM outbox WHERE status = 'pending' AND chat_id = $1 RETURNING id, payload) SELECT string_agg(payload->>'text', E'\n' ORDER BY id) FROM d"; }
base_b=$base
on_a() { base=$base_a; }
on_b() { base=$base_b; }
on_a

audit() { q "SELECT message || '|' || coalesce(context->>'action', context->>'command') || '|' || coalesce(context->>'name', '') || '|' || coalesce(context->>'actor_id', context->>'user_id') FROM logs WHERE audit AND message NOT LIKE 'request status%' AND id > $1 ORDER BY id"; }
last_log() { q "SELECT coalesce(max(id), 0) FROM logs"; }
nmid() { q "SELECT message_id FROM notifications WHERE chat_id = $1 AND request_id = $2 ORDER BY message_id LIMIT 1"; }
admin_msgs() { q "SELECT count(*) FROM messages WHERE sender_type = 'admin'"; }

say message 1 $ALICE $ALICE 'I want my money back' --name Alice
R=$(q "SELECT id FROM requests WHERE user_id = $ALICE")
settle

# ---- saving: supervisors only ------------------------------------------------
mark
log0=$(last_log)
say message 10 $BOB $BOB '/canned add refund We refund within 14 days.' --name Bob
expect_calls "an agent may not save a canned answer" \
    "sendMessage $BOB Sorry, /canned add is only for supervisors."
expect_eq "... nothing saved, the refusal audited" "0|refused supervisor command|canned add||$BOB" \
    "$(q "SELECT count(*) FROM canned_answers")|$(audit "$log0")"

REFUND=$'Our refund policy:\n  - refunds within 14 days,\n  - keep the receipt.\n\nThank you!'
mark
log0=$(last_log)
say message 11 $SUE $SUE "/canned add Refund
$REFUND" --name Sue
expect_calls "a supervisor saves one (the name in lower case)" \
    "sendMessage $SUE Canned answer !refund saved; write !refund in an answer to send it."
expect_eq "... kept exactly as written, with who saved it" "$REFUND|$SUE" \
    "$(q "SELECT body || '|' || created_by FROM canned_answers WHERE name = 'refund'")"
expect_eq "... audited" "canned answer saved|canned add|refund|$SUE" "$(audit "$log0")"

# Saved on instance B, used on A below.
on_b
say message 12 $SUE $SUE '/canned add thanks Thank you for your patience!' --name Sue
say message 13 $SUE $SUE '/canned add thanks Thanks for waiting!' --name Sue
expect_eq "saved on the other instance; saving again replaces it" \
    "Canned answer !thanks saved; write !thanks in an answer to send it.
Canned answer !thanks replaced; write !thanks in an answer to send it." "$(b_queued $SUE)"
on_a

# ---- listing: every staff member --------------------------------------------
mark
say message 20 $BOB $BOB '/canned' --name Bob
say message 21 $BOB $BOB '/canned REFUND' --name Bob
expect_calls "an agent lists them, and sees one whole" \
    "sendMessage $BOB Canned answers - write !name in an answer to use one:⏎!refund - Our refund policy:   - refunds within 14 days,   - keep the …⏎!thanks - Thanks for waiting!" \
    "sendMessage $BOB !refund:⏎${REFUND//$'\n'/⏎}"
mark
say message 22 $BOB $BOB '/canned add' --name Bob
say message 23 $BOB $BOB '/canned nosuch' --name Bob
expect_calls "usage; an unknown name" \
    "sendMessage $BOB Usage: /canned - list canned answers; /canned NAME - show one; /canned add NAME text - save one; /canned del NAME - delete one (add and del: supervisors). Write !NAME in an answer to send it" \
    "sendMessage $BOB There is no canned answer !nosuch. /canned lists them."

# ---- using them ---------------------------------------------------------------
mark
say message 30 $BOB $BOB "/reply $R Hello Alice! !refund
!Thanks" --name Bob
expect_calls "/reply N: each !name replaced (saved on the other instance too)" \
    "sendMessage $ALICE Hello Alice! ${REFUND//$'\n'/⏎}⏎Thanks for waiting!" \
    "sendMessage $BOB Request #$R is now assigned to Bob."
expect_eq "... stored as sent" "Hello Alice! $REFUND
Thanks for waiting!" "$(q "SELECT message FROM messages WHERE sender_type = 'admin' ORDER BY id DESC LIMIT 1")"

n0=$(admin_msgs)
mark
say message 31 $BOB $BOB "/reply $R Sorry! !refnd and !thanx, !refund" --name Bob
say message 32 $BOB $BOB '!refnd !refnd' --name Bob --reply-to "$(nmid $BOB $R)"
expect_calls "an unknown name: nothing reaches the user, staff are told which" \
    "sendMessage $BOB Nothing was sent: there are no canned answers !refnd, !thanx. /canned lists them; write !!name for the word itself." \
    "sendMessage $BOB Nothing was sent: there is no canned answer !refnd. /canned lists them; write !!name for the word itself."
expect_eq "... and nothing stored" "$n0" "$(admin_msgs)"

mark
say message 33 $BOB $BOB '!thanks' --name Bob --reply-to "$(nmid $BOB $R)"
say message 34 $BOB $BOB 'Type !!refund to see it; wow! !thanks' --name Bob --reply-to "$(nmid $BOB $R)"
expect_calls "a reply to a notification: expanded; !!name is the word itself" \
    "sendMessage $ALICE Thanks for waiting!" \
    "sendMessage $ALICE Type !refund to see it; wow! Thanks for waiting!"

mark
say message 35 $BOB $BOB '!thanks' --name Bob --photo AgACbob35 --reply-to "$(nmid $BOB $R)"
say message 36 $BOB $BOB 'As promised' --name Bob --photo AgACbob36 --reply-to "$(nmid $BOB $R)"
expect_calls "a caption: expanded; one too long for a caption is refused" \
    "copyMessage $ALICE from $BOB:35 caption=Thanks for waiting!" \
    "copyMessage $ALICE from $BOB:36"
mark
q "UPDATE canned_answers SET body = repeat('x', 1100) WHERE name = 'refund'" >/dev/null
say message 38 $BOB $BOB '!refund' --name Bob --photo AgACbob38 --reply-to "$(nmid $BOB $R)"
expect_calls "... a caption holds at most 1024 characters" \
    "sendMessage $BOB Nothing was sent: a caption holds at most 1024 characters; send the canned answer as a message of its own."
q "UPDATE canned_answers SET body = \$x\$$REFUND\$x\$ WHERE name = 'refund'" >/dev/null

# ---- deleting: supervisors only, shared at once -------------------------------
mark
log0=$(last_log)
say message 40 $BOB $BOB '/canned del thanks' --name Bob
on_b
say message 41 $SUE $SUE '/canned del thanks' --name Sue
say message 42 $SUE $SUE '/canned del thanks' --name Sue
expect_eq "delete: a supervisor on B deletes" "Canned answer !thanks deleted.
There is no canned answer !thanks." "$(b_queued $SUE)"
on_a
say message 43 $BOB $BOB "/reply $R !thanks" --name Bob
expect_calls "... an agent may not; A no longer knows it" \
    "sendMessage $BOB Sorry, /canned del is only for supervisors." \
    "sendMessage $BOB Nothing was sent: there is no canned answer !thanks. /canned lists them; write !!name for the word itself."
expect_eq "... audited" "refused supervisor command|canned del||$BOB
canned answer deleted|canned del|thanks|$SUE" "$(audit "$log0")"

# ---- a solution is an answer too ------------------------------------------------
mark
say message 50 $BOB $BOB "/solve $R !nope" --name Bob
say message 51 $BOB $BOB "/solve $R !refund" --name Bob
expect_calls "/solve: an unknown name refused, then expanded" \
    "sendMessage $BOB Nothing was sent: there is no canned answer !nope. /canned lists them; write !!name for the word itself." \
    "sendMessage $ALICE Request #$R is solved: ${REFUND//$'\n'/⏎}⏎⏎If you need anything else, just write to us again." \
    "sendMessage $BOB Request #$R solved by Bob."
expect_eq "... the solution stored expanded" "solved|$REFUND" \
    "$(q "SELECT status || '|' || solution FROM requests WHERE id = $R")"

stop_tgdesk TERM
tg_pid=$pid_a
stop_tgdesk TERM
finish
