#!/usr/bin/env python3
"""Prints one Telegram Update as JSON, for the desk's integration tests.

  desk_update.py message  UPDATE_ID CHAT FROM TEXT [options]
  desk_update.py edited   UPDATE_ID CHAT FROM TEXT --mid M --edit-date D [options]
  desk_update.py callback UPDATE_ID FROM DATA [--chat C --mid M]

Options: --mid M (message_id; default UPDATE_ID), --name FIRST, --last LAST,
--username U, --reply-to M (a reply to bot message M in the same chat),
--photo FILE_ID / --document FILE_ID / --media KIND:FILE_ID (voice, video,
sticker, audio, animation, video_note; TEXT becomes the caption; "" for none),
--title T (group title), --migrate-to C (the service message of a group
that became supergroup C; TEXT is ignored), --lang L (the sender's
language_code; default en, "" for none), --thread T (a message in forum
topic T; for a callback, its message is), --forum-event KIND (the service
message forum_topic_KIND in topic --thread; TEXT is ignored). A chat id
below 0 is a group.
"""
import argparse
import json


def chat_obj(chat, title):
    if chat > 0:
        return {"id": chat, "type": "private", "first_name": "X"}
    kind = "supergroup" if chat <= -1000000000000 else "group"
    return {"id": chat, "type": kind, "title": title}


def user_obj(uid, a):
    u = {"id": uid, "is_bot": False, "first_name": a.name or "U%d" % uid}
    if a.lang:
        u["language_code"] = a.lang
    if a.last:
        u["last_name"] = a.last
    if a.username:
        u["username"] = a.username
    return u


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["message", "edited", "callback"])
    p.add_argument("update_id", type=int)
    p.add_argument("rest", nargs="+")
    p.add_argument("--mid", type=int)
    p.add_argument("--name")
    p.add_argument("--last")
    p.add_argument("--username")
    p.add_argument("--reply-to", type=int)
    p.add_argument("--photo")
    p.add_argument("--document")
    p.add_argument("--media")
    p.add_argument("--edit-date", type=int, default=1767229000)
    p.add_argument("--chat", type=int)
    p.add_argument("--title", default="Acme Support Staff")
    p.add_argument("--migrate-to", type=int)
    p.add_argument("--lang", default="en")
    p.add_argument("--thread", type=int)
    p.add_argument("--forum-event")
    a = p.parse_args()
    topic = {"message_thread_id": a.thread, "is_topic_message": True} if a.thread else {}

    if a.kind == "callback":
        uid, data = int(a.rest[0]), a.rest[1]
        cq = {"id": "cq%d" % a.update_id, "from": user_obj(uid, a), "chat_instance": "1",
              "data": data}
        if a.chat is not None:
            cq["message"] = {"message_id": a.mid or 1, "date": 1767225600,
                             "chat": chat_obj(a.chat, a.title),
                             "from": {"id": 123456789, "is_bot": True, "first_name": "Desk"},
                             "text": "notification", **topic}
        print(json.dumps({"update_id": a.update_id, "callback_query": cq}))
        return

    chat, uid, text = int(a.rest[0]), int(a.rest[1]), a.rest[2]
    m = {"message_id": a.mid or a.update_id, "from": user_obj(uid, a),
         "chat": chat_obj(chat, a.title), "date": 1767225600 + a.update_id % 100000}
    if a.photo:
        m["photo"] = [{"file_id": a.photo + "-small", "file_unique_id": "s", "width": 90,
                       "height": 90},
                      {"file_id": a.photo, "file_unique_id": "l", "width": 1280, "height": 960}]
    if a.document:
        m["document"] = {"file_id": a.document, "file_unique_id": "d", "file_name": "f.pdf"}
    if a.media:
        kind, fid = a.media.split(":", 1)
        m[kind] = {"file_id": fid, "file_unique_id": "u" + fid}
    if a.photo or a.document or a.media:
        if text:
            m["caption"] = text
    elif a.migrate_to is not None:
        m["migrate_to_chat_id"] = a.migrate_to
    elif a.forum_event:
        m["forum_topic_" + a.forum_event] = {"name": "renamed"} if a.forum_event == "edited" else {}
    else:
        m["text"] = text
    if a.reply_to is not None:
        m["reply_to_message"] = {"message_id": a.reply_to, "date": 1767225600,
                                 "chat": chat_obj(chat, a.title),
                                 "from": {"id": 123456789, "is_bot": True, "first_name": "Desk"},
                                 "text": "notification"}
    m.update(topic)
    if a.kind == "edited":
        m["edit_date"] = a.edit_date
        print(json.dumps({"update_id": a.update_id, "edited_message": m}))
    else:
        print(json.dumps({"update_id": a.update_id, "message": m}))


main()
