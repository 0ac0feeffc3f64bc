#!/usr/bin/env python3
"""Prints one Telegram Update as JSON: the kinds desk_update.py does not make.

  more_updates.py content    UPDATE_ID CHAT FROM KIND [options]
        a message of content KIND (location, venue, contact, poll, dice,
        story, game, checklist, invoice, giveaway, giveaway_winners,
        paid_media, or "unknown": a field no Bot API version has)
  more_updates.py service    UPDATE_ID CHAT FROM FIELD
        a service message (pinned_message, new_chat_members, ...)
  more_updates.py connection UPDATE_ID CONN OWNER [--disabled] [--no-reply] [--old]
        business_connection: CONN connected by business account OWNER;
        --old: can_reply on the connection (before Bot API 9.0), not rights
  more_updates.py business   UPDATE_ID CONN CHAT FROM TEXT [options]
        business_message (edited_business_message with --edit-date) in the
        business chat with customer CHAT, written by FROM (the customer, or
        the business account); --bot ID: sent by bot ID for the account
  more_updates.py deleted    UPDATE_ID CONN CHAT MESSAGE_ID...
        deleted_business_messages

Options: --mid M (message_id; default UPDATE_ID), --name FIRST, --username U,
--reply-to M (a reply to bot message M in the same chat), --photo FILE_ID,
--kind KIND (business: content instead of TEXT), --edit-date D.
"""
import argparse
import json

CONTENT = {
    "location": {"latitude": 52.520008, "longitude": 13.404954, "horizontal_accuracy": 12.5},
    "venue": {"location": {"latitude": 48.858093, "longitude": 2.294694}, "title": "Tour Eiffel",
              "address": "Champ de Mars, Paris", "foursquare_id": "4adcda09f964a520dd3321e3"},
    "contact": {"phone_number": "+49301234567", "first_name": "Bernd", "last_name": "Schmidt",
                "user_id": 6999999999},
    "poll": {"id": "5123456789012345678", "question": "Which plan do you use?",
             "options": [{"text": "Basic", "voter_count": 0}, {"text": "Pro", "voter_count": 0}],
             "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
             "allows_multiple_answers": False},
    "dice": {"emoji": "\U0001F3B2", "value": 4},
    "story": {"chat": {"id": -1001987654321, "title": "Acme News", "type": "channel"}, "id": 12},
    "game": {"title": "Snake", "description": "eat", "photo": [{"file_id": "G", "file_unique_id": "g",
                                                                 "width": 9, "height": 9}]},
    "checklist": {"title": "Moving", "tasks": [{"id": 1, "text": "Boxes"}]},
    "invoice": {"title": "Order 12", "description": "Roses", "start_parameter": "o12",
                "currency": "EUR", "total_amount": 1999},
    "giveaway": {"chats": [{"id": -1001987654321, "title": "Acme News", "type": "channel"}],
                 "winners_selection_date": 1767300000, "winner_count": 3},
    "giveaway_winners": {"chat": {"id": -1001987654321, "title": "Acme News", "type": "channel"},
                         "giveaway_message_id": 5, "winners_selection_date": 1767300000,
                         "winner_count": 1, "winners": [{"id": 1, "is_bot": False, "first_name": "W"}]},
    "paid_media": {"star_count": 5, "paid_media": [{"type": "preview"}]},
    "unknown": {"hologram": {"depth": 3}},
}

SERVICE = {
    "pinned_message": lambda chat: {"message_id": 1, "date": 1767225600, "chat": chat, "text": "pin"},
    "new_chat_members": lambda chat: [{"id": 6999999998, "is_bot": False, "first_name": "Nina"}],
    "write_access_allowed": lambda chat: {"from_request": True},
    "chat_background_set": lambda chat: {"type": {"type": "fill"}},
    "message_auto_delete_timer_changed": lambda chat: {"message_auto_delete_time": 86400},
    "forum_topic_created": lambda chat: {"name": "#1", "icon_color": 7322096},
}


def chat_obj(chat, name="X"):
    if chat > 0:
        return {"id": chat, "type": "private", "first_name": name}
    kind = "supergroup" if chat <= -1000000000000 else "group"
    return {"id": chat, "type": kind, "title": "Acme Support Staff"}


def user_obj(uid, a):
    u = {"id": uid, "is_bot": False, "first_name": a.name or "U%d" % uid, "language_code": "en"}
    if a.username:
        u["username"] = a.username
    return u


def message(a, chat, uid):
    return {"message_id": a.mid or a.update_id, "from": user_obj(uid, a),
            "chat": chat_obj(chat, a.name or "X"), "date": 1767225600 + a.update_id % 100000}


def add_content(m, kind):
    if kind == "unknown":
        m.update(CONTENT[kind])
    else:
        m[kind] = CONTENT[kind]
        if kind == "venue":
            m["location"] = CONTENT[kind]["location"]


def reply_to(m, a, chat):
    if a.reply_to is not None:
        m["reply_to_message"] = {"message_id": a.reply_to, "date": 1767225600,
                                 "chat": chat_obj(chat),
                                 "from": {"id": 123456789, "is_bot": True, "first_name": "Desk"},
                                 "text": "notification"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["content", "service", "connection", "business", "deleted"])
    p.add_argument("update_id", type=int)
    p.add_argument("rest", nargs="+")
    p.add_argument("--mid", type=int)
    p.add_argument("--name")
    p.add_argument("--username")
    p.add_argument("--reply-to", type=int)
    p.add_argument("--photo")
    p.add_argument("--kind", dest="content")
    p.add_argument("--edit-date", type=int)
    p.add_argument("--bot", type=int)
    p.add_argument("--disabled", action="store_true")
    p.add_argument("--no-reply", action="store_true")
    p.add_argument("--old", action="store_true")
    a = p.parse_args()
    r = a.rest

    if a.kind == "content":
        chat, uid, kind = int(r[0]), int(r[1]), r[2]
        m = message(a, chat, uid)
        add_content(m, kind)
        reply_to(m, a, chat)
        out = {"update_id": a.update_id, "message": m}
    elif a.kind == "service":
        chat, uid, field = int(r[0]), int(r[1]), r[2]
        m = message(a, chat, uid)
        m[field] = SERVICE[field](chat_obj(chat))
        out = {"update_id": a.update_id, "message": m}
    elif a.kind == "connection":
        conn, owner = r[0], int(r[1])
        c = {"id": conn, "user": user_obj(owner, a), "user_chat_id": owner, "date": 1767225000,
             "is_enabled": not a.disabled}
        if a.old:
            c["can_reply"] = not a.no_reply
        else:
            c["rights"] = {"can_read_messages": True, "can_delete_sent_messages": True}
            if not a.no_reply:
                c["rights"]["can_reply"] = True
        out = {"update_id": a.update_id, "business_connection": c}
    elif a.kind == "business":
        conn, chat, uid, text = r[0], int(r[1]), int(r[2]), r[3]
        m = message(a, chat, uid)
        m["chat"] = chat_obj(chat, "Customer")
        m["business_connection_id"] = conn
        if a.bot:
            m["sender_business_bot"] = {"id": a.bot, "is_bot": True, "first_name": "Desk"}
        if a.photo:
            m["photo"] = [{"file_id": a.photo + "-small", "file_unique_id": "s", "width": 90,
                           "height": 90},
                          {"file_id": a.photo, "file_unique_id": "l", "width": 1280, "height": 960}]
            if text:
                m["caption"] = text
        elif a.content:
            add_content(m, a.content)
        else:
            m["text"] = text
        key = "business_message"
        if a.edit_date:
            m["edit_date"] = a.edit_date
            key = "edited_business_message"
        out = {"update_id": a.update_id, key: m}
    else:
        conn, chat = r[0], int(r[1])
        out = {"update_id": a.update_id,
               "deleted_business_messages": {"business_connection_id": conn,
                                             "chat": chat_obj(chat, "Customer"),
                                             "message_ids": [int(x) for x in r[2:]]}}
    print(json.dumps(out))


main()
