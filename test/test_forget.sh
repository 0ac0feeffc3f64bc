#!/usr/bin/env bash
# Forgetting a person: /forget USER_ID is refused to an agent, asks a
# supervisor for confirmation, a forged press is refused; the press erases
# the person's names, texts, captions, edits, file ids, staff answers,
# solution, rating comment, the logs contexts naming them, their dead letter
# and a failed outbox call holding their words - checked by searching every
# column of every table (information_schema) for their strings - while the
# anonymous counts stay. A user forgets themselves with /forget too.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

ZELDA=6600000001 OTTO=6600000002 MALLORY=6600000099 BOB=5600000001 SUE=5600000009
Z=(--name Zelda --last Quixotic --username zq_secret_handle)

db=$(new_db)
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB SUPERVISOR_IDS=$SUE OUTBOX_MAX_ATTEMPTS=1 || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

# leaks REGEX: "table.column=rows" for every column holding a match, "" when none.
leaks() {
    local union
    union=$(q "SELECT string_agg(format('SELECT %L AS t, %L AS c, count(*) AS n FROM %I WHERE %s ~* %L',
        table_name, column_name, table_name,
        CASE WHEN data_type = 'bytea' THEN format('convert_from(%I, ''UTF8'')', column_name)
             ELSE format('%I::text', column_name) END, '$1'), ' UNION ALL ')
        FROM information_schema.columns WHERE table_schema = 'public'")
    q "SELECT coalesce(string_agg(t || '.' || c || '=' || n, ' ' ORDER BY t, c), '') FROM ($union) x WHERE n > 0"
}
SECRETS='zelda|quixotic|zq_secret|SECRET-|FILEIDSECRET'

# Zelda leaves traces everywhere.
say message 1 $ZELDA $ZELDA 'SECRET-TEXT-ONE my phone is 555-0199' "${Z[@]}"
R1=$(q "SELECT id FROM requests WHERE user_id = $ZELDA")
say message 2 $ZELDA $ZELDA 'SECRET-CAPTION-TWO' --photo FILEIDSECRET3 "${Z[@]}"
say edited 3 $ZELDA $ZELDA 'SECRET-EDIT-FOUR' --mid 1 "${Z[@]}"
say message 4 $BOB $BOB "/reply $R1 Dear Zelda, SECRET-REPLY-FIVE" --name Bob
say message 5 $BOB $BOB "/solve $R1 SECRET-SOLUTION-SIX" --name Bob
say callback 6 $ZELDA "rate:$R1:5" "${Z[@]}" --chat $ZELDA --mid 70
say message 7 $ZELDA $ZELDA 'SECRET-COMMENT-SEVEN' "${Z[@]}"
settle
# A notification that fails for good stays in the outbox with her words.
fake_fail '{"method":"sendMessage","chat_id":'$BOB',"mode":"400","count":1}'
say message 8 $ZELDA $ZELDA 'SECRET-FAILED-EIGHT' "${Z[@]}"
R2=$(q "SELECT id FROM requests WHERE user_id = $ZELDA AND status = 'open'")
settle
# An update that can never be stored is a dead letter with its body.
q "ALTER TABLE messages ADD CONSTRAINT no_poison CHECK (message NOT LIKE '%poison%')" >/dev/null
say message 9 $ZELDA $ZELDA 'poison SECRET-DEAD-NINE' "${Z[@]}"
q "ALTER TABLE messages DROP CONSTRAINT no_poison" >/dev/null
# A forged button with her words lands in an audit row's context.
say callback 10 $ZELDA "take:SECRET-DATA-TEN" "${Z[@]}" --chat $ZELDA --mid 71
say message 11 $OTTO $OTTO 'OTTO-WROTE-THIS' --name Otto
settle
before=$(leaks "$SECRETS")
expect_contains "before: her strings are stored in many places" "$before" "outbox.payload="
expect_contains "before: a dead letter holds her words" "$before" "processed_updates.payload="
counts() { q "SELECT (SELECT count(*) FROM requests WHERE user_id = $ZELDA) || '|' || (SELECT count(*) FROM messages m JOIN requests r ON r.id = m.request_id WHERE r.user_id = $ZELDA) || '|' || (SELECT string_agg(score::text, ',') FROM ratings WHERE user_id = $ZELDA) || '|' || (SELECT count(*) FROM requests WHERE user_id = $ZELDA AND resolved_at IS NOT NULL)"; }
counts0=$(counts)

# An agent may not; the supervisor is asked first; a forged press is refused.
mark
say message 12 $BOB $BOB "/forget $ZELDA" --name Bob
say message 13 $SUE $SUE "/forget $ZELDA" --name Sue
say message 14 $SUE $SUE "/forget 42" --name Sue
expect_calls "agent refused; supervisor asked to confirm; unknown user" \
    "sendMessage $BOB Sorry, /forget is only for supervisors." \
    "sendMessage $SUE Erase the personal data of Zelda Quixotic (@zq_secret_handle) (user $ZELDA, 2 requests)? Names, texts and files go for good; counts and times stay. [forget:$ZELDA]" \
    "sendMessage $SUE There is no user 42."
mark
say callback 15 $MALLORY "forget:$ZELDA" --name Mallory --chat $MALLORY --mid 5
expect_calls "forged press refused" "answerCallbackQuery cq15 alert This button is not valid."
expect_eq "nothing erased yet" "Zelda" "$(q "SELECT first_name FROM users WHERE user_id = $ZELDA")"

# The supervisor confirms.
mark
log0=$(q "SELECT max(id) FROM logs")
say callback 16 $SUE "forget:$ZELDA" --name Sue --chat $SUE --mid 6
expect_calls "erased: the supervisor is told, without her data" \
    "answerCallbackQuery cq16 toast Erased." \
    "sendMessage $SUE The personal data of user $ZELDA is erased: 5 messages in 2 requests. Counts and times are kept."
expect_eq "no trace of her strings in any table or column" "" "$(leaks "$SECRETS")"
expect_eq "the anonymous counts stay (requests, messages, scores, resolutions)" "$counts0" "$(counts)"
expect_eq "Otto's data is untouched" "messages.message=1 requests.issue=1" "$(leaks 'OTTO-WROTE-THIS')"
expect_eq "the erasure is audited with counts only" "personal data erased|forget|$ZELDA|$SUE|2|5" \
    "$(q "SELECT message || '|' || (context->>'action') || '|' || (context->>'user_id') || '|' || (context->>'actor_id') || '|' || (context->>'requests') || '|' || (context->>'messages') FROM logs WHERE audit AND id > $log0")"

# A user forgets themselves.
mark
say message 17 $OTTO $OTTO '/forget' --name Otto
expect_calls "a user's /forget asks first" \
    "sendMessage $OTTO This erases for good everything you wrote to us, and your name. Your requests stay only as anonymous numbers. Press the button to go ahead. [forget:$OTTO]"
mark
say callback 18 $OTTO "forget:$OTTO" --name Otto --chat $OTTO --mid 9
expect_calls "the user's own erasure" \
    "answerCallbackQuery cq18 toast Erased." \
    "sendMessage $OTTO Done: everything you wrote to us and your name are erased."
expect_eq "no trace of Otto either" "" "$(leaks 'OTTO-WROTE|otto')"

stop_tgdesk TERM
finish
