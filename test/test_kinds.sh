#!/usr/bin/env bash
# Every kind of message a person can send - locations, venues, contacts,
# polls, dice, stories, giveaways... - reaches staff as a copy (a forward for
# the kinds Telegram does not copy), with "[kind]" in the notification and
# the stored issue; staff answer with any kind and the user gets a copy.
# Service messages (a pin, members joining, a background set) are nobody's
# words: no request, no Bot API call, not even an update_id stored.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

BOB=5550000001
CREATED='created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one.'

db=$(new_db)
start_fake
# Staff in a private chat: its pace (a burst, then one a second) bounds how
# long this takes, so each kind costs the staff chat two messages at most.
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=off ADMIN_IDS=$BOB || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

req() { q "SELECT id FROM requests WHERE user_id = $1 ORDER BY id DESC LIMIT 1"; }

# The request staff will answer with every kind.
ANN=6300000001
mark
say message 2001 $ANN $ANN 'Where do I find you?' --name Ann
RA=$(req $ANN)
notified() { sql_ge "$db" "SELECT count(*) FROM notifications WHERE chat_id = $BOB AND request_id = $RA" 1; }
wait_for 20 notified || not_ok "the first notification is sent"
NA=$(q "SELECT message_id FROM notifications WHERE chat_id = $BOB AND request_id = $RA ORDER BY message_id LIMIT 1")

# ---- users send every kind; staff answer with every kind, all at once --------

# (A forward, for what Telegram does not copy, is tested with staff's giveaway.)
kinds=(location venue contact poll dice story)
k=0
for kind in "${kinds[@]}"; do
    k=$((k + 1))
    more content $((2100 + k)) $((6300000100 + k)) $((6300000100 + k)) "$kind" --name "K$k"
done
answers=(location venue contact poll dice story giveaway animation video_note)
k=0
for kind in "${answers[@]}"; do
    k=$((k + 1))
    case $kind in
    animation | video_note) say message $((2200 + k)) $BOB $BOB '' --name Bob --media "$kind:A$k" --reply-to "$NA" ;;
    *) more content $((2200 + k)) $BOB $BOB "$kind" --name Bob --reply-to "$NA" ;;
    esac
done
# service messages: a user's, staff's, a group's
more service 2301 6300000201 6300000201 pinned_message --name Sam
more service 2302 6300000201 6300000201 write_access_allowed --name Sam
more service 2303 6300000201 6300000201 chat_background_set --name Sam
more service 2304 $BOB $BOB pinned_message --name Bob
more service 2305 -4001234567 6300000201 new_chat_members --name Sam
settle

expected=("sendMessage $ANN Request #$RA $CREATED"
    "sendMessage $BOB New request #$RA from Ann:⏎Where do I find you? [take:$RA,close:$RA]")
k=0
for kind in "${kinds[@]}"; do
    k=$((k + 1))
    uid=$((6300000100 + k))
    R=$(req "$uid")
    expected+=("sendMessage $uid Request #$R $CREATED"
        "sendMessage $BOB New request #$R from K$k:⏎[$kind] [take:$R,close:$R]")
    expected+=("copyMessage $BOB from $uid:$((2100 + k))")
    expect_eq "$kind from a user: stored with its kind, [$kind] as the issue" "[$kind]||$kind" \
        "$(q "SELECT r.issue || '|' || m.message || '|' || m.attachment_kind FROM requests r JOIN messages m ON m.request_id = r.id WHERE r.id = $R")"
done
k=0
for kind in "${answers[@]}"; do
    k=$((k + 1))
    if [ "$kind" = giveaway ]; then
        expected+=("forwardMessage {\"chat_id\": $ANN, \"from_chat_id\": $BOB, \"message_id\": $((2200 + k))}")
    else
        expected+=("copyMessage $ANN from $BOB:$((2200 + k))")
    fi
done
expected+=("sendMessage $BOB Request #$RA is now assigned to Bob.")
expect_eq "every kind copied both ways (forwarded where Telegram does not copy); service messages: no call" \
    "$(printf '%s\n' "${expected[@]}" | LC_ALL=C sort)" "$(calls)"

expect_eq "staff answers stored with their kinds, in order" \
    "$(printf '%s\n' "${answers[@]}" | paste -sd,)" \
    "$(q "SELECT string_agg(attachment_kind, ',' ORDER BY id) FROM messages WHERE request_id = $RA AND sender_type = 'admin'")"
expect_eq "service messages: not even their update_ids are stored" 0 \
    "$(q "SELECT count(*) FROM processed_updates WHERE update_id BETWEEN 2301 AND 2305")"
expect_eq "service messages: no request, no user" "0|0" \
    "$(q "SELECT (SELECT count(*) FROM requests WHERE user_id = 6300000201) || '|' || (SELECT count(*) FROM users WHERE user_id = 6300000201)")"

# A live location moving: its edits are not even stored.
mark
code=$(post_json "$(/usr/bin/python3 "$M" content 2501 $ANN $ANN location --name Ann --mid 77 |
    sed 's/"message"/"edited_message"/; s/"date"/"edit_date": 1767229999, "date"/')")
expect_eq "live location edit: 200" 200 "$code"
settle
expect_eq "live location edit: ignored, no call" "0|" \
    "$(q "SELECT count(*) FROM processed_updates WHERE update_id = 2501")|$(calls)"

stop_tgdesk
expect_eq "tgdesk stops cleanly" 0 "$stop_rc"
finish
