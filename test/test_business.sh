#!/usr/bin/env bash
# Telegram Business, as staff and the business account's customers see it:
# the account connects the bot; a customer writing to the account opens a
# request (no desk texts go to them); staff answers go out through the
# connection (text, photos by file_id, locations); the account's owner
# answering from the phone counts as a staff answer; edits and deletions
# are recorded and announced; when the connection is disabled staff are
# told and an answer is refused with the reason, nothing sent; a refusal by
# Telegram itself (a connection the desk did not know was gone) fails the
# call for good; re-enabled, answers go out again.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

# fake_business ID ENABLED CAN_REPLY: what the fake Bot API holds of a connection.
fake_business() {
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d "{\"id\":\"$1\",\"enabled\":$2,\"can_reply\":$3}" "$fake_url/control/business"
}

BOB=5550000001
OWNER=7012345678
CARL=6234567890
DORA=6234567891
CONN=AQADBizConnMarta1
OTHER=AQADBizConnUnseen2
ACC='Marta (@marta_flowers)'

db=$(new_db)
start_fake
fake_business $CONN true true
# CSAT on: a business account's customer must not get the rating prompt.
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 CSAT=on ADMIN_IDS=$BOB || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }

req() { q "SELECT id FROM requests WHERE user_id = $1 ORDER BY id DESC LIMIT 1"; }
nmid() { q "SELECT message_id FROM notifications WHERE chat_id = $BOB AND request_id = $1 ORDER BY message_id LIMIT 1"; }

# ---- connect; a customer writes; staff answer through the connection ----------

mark
more connection 3001 $CONN $OWNER --name Marta --username marta_flowers
more business 3002 $CONN $CARL $CARL 'Do you deliver on Sundays?' --name Carl --username carl_k
R=$(req $CARL)
expect_calls "connected: staff told; the customer's message is a request, nothing to the customer" \
    "sendMessage $BOB The business account of $ACC connected the bot: its customers' messages reach you here as requests, and your answers go out as $ACC." \
    "sendMessage $BOB New request #$R from Carl (@carl_k) via $ACC:⏎Do you deliver on Sundays? [take:$R,close:$R]"
expect_eq "the connection is stored: account, its chat, rights, enabled" \
    "$OWNER|$OWNER|true|true|true" \
    "$(q "SELECT user_id || '|' || user_chat_id || '|' || can_reply || '|' || is_enabled || '|' || (rights->>'can_read_messages') FROM business_connections WHERE id = '$CONN'")"
expect_eq "the request and its message are marked with the connection" \
    "$CONN|$CONN|3002||$CARL" \
    "$(q "SELECT r.business_connection_id || '|' || m.business_connection_id || '|' || m.business_message_id || '|' || coalesce(m.tg_message_id::text, '') || '|' || m.chat_id FROM requests r JOIN messages m ON m.request_id = r.id WHERE r.id = $R")"

N=$(nmid "$R")
mark
say message 3003 $BOB $BOB 'Yes, from 10 to 14.' --name Bob --reply-to "$N"
say message 3004 $BOB $BOB 'Our opening hours' --name Bob --photo PHOTO9 --reply-to "$N"
more content 3005 $BOB $BOB location --name Bob --reply-to "$N"
expect_calls "staff answers go out through the connection: text, a photo by file_id, a location" \
    "sendMessage $CARL Yes, from 10 to 14. AS:$CONN" \
    "sendPhoto {\"business_connection_id\": \"$CONN\", \"caption\": \"Our opening hours\", \"chat_id\": $CARL, \"photo\": \"PHOTO9\"} AS:$CONN" \
    "sendLocation {\"business_connection_id\": \"$CONN\", \"chat_id\": $CARL, \"horizontal_accuracy\": 12.5, \"latitude\": 52.520008, \"longitude\": 13.404954} AS:$CONN" \
    "sendMessage $BOB Request #$R is now assigned to Bob."
expect_eq "staff answers stored, the request assigned" "3|assigned|$BOB" \
    "$(q "SELECT (SELECT count(*) FROM messages WHERE request_id = $R AND sender_type = 'admin') || '|' || status || '|' || assigned_admin FROM requests WHERE id = $R")"

# ---- the customer's media; another connection; the owner answering ------------

mark
more business 3006 $CONN $CARL $CARL 'the receipt' --name Carl --username carl_k --photo RECEIPT1
more business 3007 $OTHER $DORA $DORA 'Are the tulips fresh?' --name Dora
R2=$(req $DORA)
more business 3008 $OTHER $DORA $OWNER 'Cut this morning!' --name Marta --username marta_flowers
# what the bot sent for the account comes back: nothing to do
more business 3009 $CONN $CARL $OWNER 'Yes, from 10 to 14.' --name Marta --bot 123456789
expect_calls "media sent anew to staff; an unseen connection; the owner's answer told to staff" \
    "sendMessage $BOB Request #$R - Carl (@carl_k) via $ACC writes:⏎the receipt [take:$R,close:$R]" \
    "sendPhoto {\"chat_id\": $BOB, \"photo\": \"RECEIPT1\"}" \
    "sendMessage $BOB New request #$R2 from Dora via a business account:⏎Are the tulips fresh? [take:$R2,close:$R2]" \
    "sendMessage $BOB Request #$R2 - Marta (@marta_flowers) answered from the business account:⏎Cut this morning!⏎Request #$R2 is now assigned to Marta (@marta_flowers)."
expect_eq "the owner's answer: a staff answer, stored once, the request assigned to them" \
    "admin|$OWNER|Cut this morning!|3008|assigned|$OWNER" \
    "$(q "SELECT m.sender_type || '|' || m.sender_id || '|' || m.message || '|' || m.business_message_id || '|' || r.status || '|' || r.assigned_admin FROM messages m JOIN requests r ON r.id = m.request_id WHERE r.id = $R2 AND m.sender_type = 'admin'")"
expect_eq "an unseen connection is stored as usable, its account unknown" "|true|true" \
    "$(q "SELECT coalesce(user_id::text, '') || '|' || is_enabled || '|' || can_reply FROM business_connections WHERE id = '$OTHER'")"
expect_eq "the bot's own message coming back is not stored" 0 \
    "$(q "SELECT count(*) FROM processed_updates WHERE update_id = 3009")"

# ---- edits and deletions --------------------------------------------------------

mark
more business 3010 $CONN $CARL $CARL 'Do you deliver on Saturdays?' --name Carl --username carl_k --mid 3002 --edit-date 1767229000
more deleted 3011 $CONN $CARL 3002
expect_calls "a customer's edit and deletion are announced" \
    "sendMessage $BOB Request #$R: Carl (@carl_k) edited a message: Do you deliver on Saturdays?" \
    "sendMessage $BOB Request #$R: Carl (@carl_k) deleted a message: Do you deliver on Saturdays?"
expect_eq "the edit and the deletion are recorded, the original kept" \
    "Do you deliver on Sundays?|1|Do you deliver on Saturdays?|true" \
    "$(q "SELECT m.message || '|' || m.edit_count || '|' || e.message || '|' || (m.deleted_at IS NOT NULL) FROM messages m JOIN message_edits e ON e.message_id = m.id WHERE m.business_message_id = 3002")"

# ---- the connection goes away ---------------------------------------------------

# Telegram refuses before the desk has heard: the call fails for good.
fake_business $CONN false true
mark
say message 3012 $BOB $BOB 'Anything else?' --name Bob --reply-to "$N"
expect_calls "Telegram refuses a disabled connection: 400, nothing else sent" \
    "sendMessage $CARL Anything else? AS:$CONN HTTP400"
expect_eq "...the call failed for good with Telegram's reason" "failed|400 Bad Request: BUSINESS_CONNECTION_INVALID" \
    "$(q "SELECT status || '|' || last_error FROM outbox WHERE chat_id = $CARL ORDER BY id DESC LIMIT 1")"

mark
more connection 3013 $CONN $OWNER --name Marta --username marta_flowers --disabled
say message 3014 $BOB $BOB 'Hello?' --name Bob --reply-to "$N"
expect_calls "disabled: staff told which requests wait; an answer is refused with the reason, nothing sent" \
    "sendMessage $BOB The business account of $ACC disconnected or paused the bot: answers to its customers cannot go out until it connects the bot again.⏎Requests waiting for an answer through it: #$R" \
    "sendMessage $BOB Nothing was sent: request #$R came through the business account of $ACC, which has disconnected or paused the bot. Answers can go out again once it connects the bot anew (Settings > Telegram Business > Chatbots)."
expect_eq "the connection is stored disabled; the refused answer is not stored" "false|4" \
    "$(q "SELECT is_enabled || '|' || (SELECT count(*) FROM messages WHERE request_id = $R AND sender_type = 'admin') FROM business_connections WHERE id = '$CONN'")"

# ---- back again; solved through it; replies not allowed --------------------------

fake_business $CONN true true
mark
more connection 3015 $CONN $OWNER --name Marta --username marta_flowers
say message 3016 $BOB $BOB "/solve $R Delivery on Sundays from 10 to 14." --name Bob
say message 3018 $BOB $BOB 'One more thing' --name Bob --reply-to "$N"
expect_calls "enabled again: staff told; /solve sends the solution as written, no rating prompt" \
    "sendMessage $BOB The business account of $ACC lets the bot answer again.⏎Requests that can be answered now: #$R" \
    "sendMessage $CARL Delivery on Sundays from 10 to 14. AS:$CONN" \
    "sendMessage $BOB Request #$R solved by Bob." \
    "sendMessage $BOB Request #$R is solved, so nothing was sent; /reopen $R to continue it."

mark
more connection 3017 $CONN $OWNER --name Marta --username marta_flowers --no-reply
expect_calls "replies no longer allowed: staff told" \
    "sendMessage $BOB The business account of $ACC no longer lets the bot reply: answers to its customers cannot go out until it allows replies again.⏎Requests waiting for an answer through it: none"
expect_eq "audit rows for each change of the connection" 4 \
    "$(q "SELECT count(*) FROM logs WHERE audit AND message = 'business connection changed' AND context->>'business_connection_id' = '$CONN'")"

stop_tgdesk
expect_eq "tgdesk stops cleanly" 0 "$stop_rc"
finish
