#!/usr/bin/env bash
# Response-time targets, auto-close and business hours, with times moved in
# the database rather than waited for: a reminder when the target ran out,
# a second at twice it, never a third nor a repeat after a restart; a solved
# request closed when its user stayed silent (told once), left alone when
# they wrote again; business time across a weekend and a daylight-saving
# change; the "created" answer outside business hours (also on an open day
# before or after its hours); no reminder while the team is away.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

ALICE=6400000001 DAVE=6400000002 ERIN=6400000003 BOB=5580000001
CREATED='created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one.'

db=$(new_db)
start_fake
run_desk() {
    start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=off ADMIN_IDS=$BOB FIRST_RESPONSE_SLA=10m \
        AUTO_CLOSE_SOLVED_AFTER=72h "$@" || {
        not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
}
run_desk
metric() { curl -s "$base/metrics" | awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print 0}'; }
reminders() { fake_calls sendMessage | pyq 'len([c for c in d if c["body"]["text"].startswith("⏰")])'; }
reminders_are() { [ "$(reminders)" = "$1" ]; }
# two_rounds: long enough for a whole round of the timers (every 5 s with
# these targets) to have run since the call.
two_rounds() { sleep 6; }

say message 1 $ALICE $ALICE 'Nobody answers me' --name Alice --last Novak
R1=$(q "SELECT id FROM requests WHERE user_id = $ALICE")
settle

# Nothing before the target.
two_rounds
expect_eq "before the target: no reminder" 0 "$(reminders)"

# The target ran out: one reminder, with the Take/Close buttons.
mark
q "UPDATE requests SET created_at = now() - interval '11 minutes' WHERE id = $R1" >/dev/null
wait_for 20 reminders_are 1 || true
expect_calls "target ran out: one reminder" \
    "sendMessage $BOB ⏰ #$R1 waiting 11 min — Alice Novak [take:$R1,close:$R1]"
expect_eq "breach counted" 1 "$(metric tgdesk_sla_breaches_total)"

# Twice the target: the second; then never a third, not even after a restart.
mark
q "UPDATE requests SET created_at = now() - interval '21 minutes' WHERE id = $R1" >/dev/null
wait_for 20 reminders_are 2 || true
expect_calls "twice the target: the second reminder" \
    "sendMessage $BOB ⏰ #$R1 waiting 21 min — Alice Novak [take:$R1,close:$R1]"
q "UPDATE requests SET created_at = now() - interval '5 hours' WHERE id = $R1" >/dev/null
stop_tgdesk TERM
run_desk
two_rounds
expect_eq "no third reminder, none again after a restart" "2|1 2" \
    "$(reminders)|$(q "SELECT string_agg(n::text, ' ' ORDER BY n) FROM sla_reminders WHERE request_id = $R1")"
expect_eq "the second is no new breach" 0 "$(metric tgdesk_sla_breaches_total)"

# An answered request gets no reminder.
say message 2 $DAVE $DAVE 'Quick one' --name Dave
R2=$(q "SELECT id FROM requests WHERE user_id = $DAVE")
say message 3 $BOB $BOB "/reply $R2 Here you are" --name Bob
q "UPDATE requests SET created_at = now() - interval '30 minutes' WHERE id = $R2" >/dev/null
two_rounds
expect_eq "answered: no reminder" 0 "$(q "SELECT count(*) FROM sla_reminders WHERE request_id = $R2")"

# Auto-close: solved 73 hours ago and silent since - closed, told once.
say message 4 $BOB $BOB "/solve $R2 Done." --name Bob
say message 5 $ERIN $ERIN 'First problem' --name Erin
R3=$(q "SELECT id FROM requests WHERE user_id = $ERIN")
say message 6 $BOB $BOB "/solve $R3 Done too." --name Bob
settle
say message 7 $ERIN $ERIN 'Something else now' --name Erin
settle
mark
log0=$(q "SELECT coalesce(max(id), 0) FROM logs")
q "UPDATE requests SET resolved_at = now() - interval '73 hours' WHERE id IN ($R2, $R3)" >/dev/null
wait_for 20 sql_is "$db" "SELECT status FROM requests WHERE id = $R2" closed || true
sleep 2
expect_calls "auto-close: the silent user is told" \
    "sendMessage $DAVE Request #$R2 is now closed, as we have not heard from you since it was solved. Write to us any time to open a new one."
expect_eq "auto-close: closed and audited; the user who wrote again keeps theirs solved" "closed|solved
request status changed|auto_close|$R2|solved>closed" \
    "$(q "SELECT (SELECT status FROM requests WHERE id = $R2) || '|' || (SELECT status FROM requests WHERE id = $R3)")
$(q "SELECT message || '|' || (context->>'action') || '|' || (context->>'request_id') || '|' || (context->>'old_status') || '>' || (context->>'new_status') FROM logs WHERE audit AND id > $log0")"

# ---- business hours -----------------------------------------------------------

# Business time across a weekend with the clocks going forward (Europe/Berlin,
# Sunday 29 March 2026): Friday 17:00 to Monday 10:00 is two business hours.
bs() { q "SELECT tgdesk_business_seconds('$1', '$2', '{1,2,3,4,5}', 540, 1080, 'Europe/Berlin')"; }
expect_eq "weekend and DST: Fri 17:00 CET to Mon 10:00 CEST = 2 h" 7200 "$(bs '2026-03-27 17:00+01' '2026-03-30 10:00+02')"
expect_eq "a whole week of 9 hours a day" 162000 "$(bs '2026-03-23 00:00+01' '2026-03-30 00:00+02')"
expect_eq "the DST night itself counts 23 h when every hour is open" 82800 \
    "$(q "SELECT tgdesk_business_seconds('2026-03-29 00:00+01', '2026-03-30 00:00+02', '{7}', 0, 1440, 'Europe/Berlin')")"
expect_eq "autumn back: Sun 25 Oct 2026 counts 25 h" 90000 \
    "$(q "SELECT tgdesk_business_seconds('2026-10-25 00:00+02', '2026-10-26 00:00+01', '{7}', 0, 1440, 'Europe/Berlin')")"
expect_eq "next opening after Friday closing: Monday 09:00 CEST" "2026-03-30 07:00:00+00" \
    "$(q "SET TIME ZONE 'UTC'; SELECT tgdesk_business_next_open('2026-03-27 18:30+01', '{1,2,3,4,5}', 540, 1080, 'Europe/Berlin')")"
expect_eq "while open: no next opening" "" \
    "$(q "SELECT tgdesk_business_next_open('2026-03-27 12:00+01', '{1,2,3,4,5}', 540, 1080, 'Europe/Berlin')")"

# berlin CODE: runs python CODE with `now` the time in Berlin.
berlin() {
    /usr/bin/python3 -c "import datetime, zoneinfo
now = datetime.datetime.now(zoneinfo.ZoneInfo('Europe/Berlin'))
$1"
}
# away HOURS UPDATE_ID USER NAME BACK LABEL: tgdesk restarted with
# BUSINESS_HOURS=HOURS answers USER's first message with when the team is
# back (BACK); $req is the request it opened.
away() {
    stop_tgdesk TERM
    run_desk BUSINESS_HOURS="$1"
    mark
    say message "$2" "$3" "$3" 'Anyone there?' --name "$4"
    req=$(q "SELECT id FROM requests WHERE user_id = $3")
    settle
    expect_contains "$6" "$(calls)" \
        "sendMessage $3 Request #$req $CREATED⏎⏎Our team is away now and back on $5 (Europe/Berlin)."
}

# The desk outside its hours: only the day after tomorrow (Berlin) is open.
read -r day back <<<"$(berlin 'd = now.date() + datetime.timedelta(days=2)
print(d.strftime("%a"), d.strftime("%A %d %b at 09:00"))')"
away "$day 09:00-18:00 Europe/Berlin" 8 6400000004 Frank "$back" \
    "outside hours: the answer says when the team is back"
R4=$req
q "UPDATE requests SET created_at = now() - interval '2 hours' WHERE id = $R4" >/dev/null
two_rounds
expect_eq "outside hours: two hours of wall time are no business time, no reminder" 0 \
    "$(q "SELECT count(*) FROM sla_reminders WHERE request_id = $R4")"

# Every day open around the clock: the same request is now overdue.
stop_tgdesk TERM
run_desk BUSINESS_HOURS="Mon-Sun 00:00-24:00 Europe/Berlin"
wait_for 20 sql_is "$db" "SELECT count(*) FROM sla_reminders WHERE request_id = $R4" 2 || true
expect_eq "open hours: the overdue request is reminded of" 2 \
    "$(q "SELECT count(*) FROM sla_reminders WHERE request_id = $R4")"
mark
say message 9 6400000005 6400000005 'Hello' --name Gina
settle
expect_not_contains "open hours: no 'away' note" "$(calls)" "away now"

# Today is an open day, but its hours do not hold now (later today, or over
# already): the answer still says when they begin.
read -r day hours back <<<"$(berlin 'if now.hour < 12:
    print(now.strftime("%a"), "23:00-23:30", now.strftime("%A %d %b at 23:00"))
else:
    print(now.strftime("%a"), "00:00-00:30", (now + datetime.timedelta(days=7)).strftime("%A %d %b at 00:00"))')"
away "$day $hours Europe/Berlin" 10 6400000006 Hana "$back" \
    "open day, outside its hours: the answer says when they begin"

stop_tgdesk TERM
finish
