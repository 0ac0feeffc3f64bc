#!/usr/bin/env bash
# Roles: ADMIN_IDS are agents, SUPERVISOR_IDS supervisors. An agent's /ban,
# /unban and take-over of a colleague's request (command or button) are
# refused politely, change nothing and are audited; a supervisor's work.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

ALICE=6200000001 BOB=5560000001 CAROL=5560000002 SUE=5560000009

db=$(new_db)
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB,$CAROL SUPERVISOR_IDS=$SUE || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
refusals() { q "SELECT message || '|' || (context->>'command') || '|' || (context->>'user_id') || '|' || coalesce(context->>'request_id', '') FROM logs WHERE audit AND level = 'warn' ORDER BY id"; }

say message 1 $ALICE $ALICE 'Help me' --name Alice
R=$(q "SELECT id FROM requests WHERE user_id = $ALICE")
say message 2 $BOB $BOB "/take $R" --name Bob
settle

# An agent may not ban.
mark
say message 3 $CAROL $CAROL "/ban $R" --name Carol
expect_calls "agent /ban: refused" "sendMessage $CAROL Sorry, /ban is only for supervisors."
expect_eq "agent /ban: nobody banned" f "$(q "SELECT is_banned FROM users WHERE user_id = $ALICE")"

# An agent may not take over Bob's request, neither by command nor by button.
mark
say message 4 $CAROL $CAROL "/take $R" --name Carol
say callback 5 $CAROL "take:$R" --name Carol --chat $CAROL --mid 77
expect_calls "agent take-over: refused (command and button)" \
    "sendMessage $CAROL Request #$R is assigned to a colleague; only supervisors can take it over." \
    "answerCallbackQuery cq5 alert Request #$R is assigned to a colleague; only supervisors can take it over."
expect_eq "agent take-over: still Bob's" "assigned|$BOB" \
    "$(q "SELECT status || '|' || assigned_admin FROM requests WHERE id = $R")"
expect_eq "refusals audited" "refused supervisor command|ban|$CAROL|$R
refused supervisor command|take|$CAROL|$R
refused supervisor command|take|$CAROL|$R" "$(refusals)"

# The supervisor takes over and bans; the supervisor is staff without being in ADMIN_IDS.
mark
say message 7 $SUE $SUE "/take $R" --name Sue
expect_calls "supervisor take-over" \
    "sendMessage $SUE Request #$R taken by Sue (it was assigned to Bob)."
mark
say message 8 $SUE $SUE "/ban $R" --name Sue
say message 9 $SUE $SUE "/unban $R" --name Sue
expect_calls "supervisor /ban and /unban" \
    "sendMessage $SUE Alice (request #$R) is banned by Sue: their messages are still stored but no longer forwarded. /unban $R undoes it." \
    "sendMessage $SUE Alice (request #$R) is unbanned by Sue."
expect_eq "ban and unban audited with the supervisor as actor" "ban|$SUE
unban|$SUE" "$(q "SELECT (context->>'action') || '|' || (context->>'actor_id') FROM logs WHERE audit AND message LIKE 'user %banned' ORDER BY id")"

# A user trying a supervisor command is refused as for any staff command.
mark
say message 10 $ALICE $ALICE "/ban $R" --name Alice
expect_calls "user /ban: refused as staff-only" \
    "sendMessage $ALICE Sorry, /ban is only for our support staff. If you need help, just describe your problem in a message here."

stop_tgdesk TERM
finish
