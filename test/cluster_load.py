#!/usr/bin/env python3
"""Steady webhook traffic for the cluster tests, posted the way Telegram posts.

New conversations (a first message from a new user) and staff answers
(`/reply N text` from a staff member's private chat, N a request the
database already has) at a fixed rate for a while. A post that is not
answered 200 is posted again a second later, as Telegram redelivers, until it
is answered 200 or the grace time after the load is over. Prints a JSON
summary: the update ids answered 200, those never answered 200, every status
seen (with "error" for a connection that failed or timed out), and the staff
answers (update id, request, the unique word each carries).

  cluster_load.py URL --secret S --db CONNINFO --seconds 80 --rate 10
"""
import argparse
import http.client
import json
import queue
import random
import subprocess
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--secret", required=True)
    ap.add_argument("--db", required=True, help="conninfo, to find requests to answer")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=10, help="updates per second")
    ap.add_argument("--answers", type=float, default=0.3, help="share of staff answers")
    ap.add_argument("--staff", default="", help="comma-separated staff ids")
    ap.add_argument("--first-id", type=int, default=700000000)
    ap.add_argument("--user-base", type=int, default=5100000000)
    ap.add_argument("--grace", type=float, default=60)
    ap.add_argument("--workers", type=int, default=8)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    staff = [int(s) for s in a.staff.split(",") if s]

    lock = threading.Lock()
    statuses = {}
    acked, answers = set(), []
    pending = {}  # update_id -> body
    work = queue.Queue()
    stop_at = [None]  # set when the load is over: retries until then + grace

    def post(conn, body):
        try:
            if conn[0] is None:
                conn[0] = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            conn[0].request("POST", u.path, body=body, headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": a.secret})
            r = conn[0].getresponse()
            r.read()
            if r.getheader("Connection", "").lower() == "close":
                conn[0].close()
                conn[0] = None
            return str(r.status)
        except (OSError, http.client.HTTPException):
            if conn[0] is not None:
                conn[0].close()
            conn[0] = None
            return "error"

    def worker():
        conn = [None]
        while True:
            item = work.get()
            if item is None:
                return
            due, uid, body = item
            if due > time.time():
                time.sleep(min(due - time.time(), 1.0))
            st = post(conn, body)
            with lock:
                statuses[st] = statuses.get(st, 0) + 1
                if st == "200":
                    acked.add(uid)
                    pending.pop(uid, None)
                    continue
                retry = stop_at[0] is None or time.time() < stop_at[0]
            if retry:  # Telegram tries again later
                work.put((time.time() + 1.0, uid, body))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.workers)]
    for t in threads:
        t.start()

    known = []  # request ids of open requests, refreshed from the database
    last_refresh = [0.0]

    def refresh():
        if time.time() - last_refresh[0] < 2:
            return
        last_refresh[0] = time.time()
        try:
            out = subprocess.run(
                ["psql", a.db, "-qAtX", "-c",
                 "SELECT id FROM requests WHERE status IN ('open', 'assigned') ORDER BY id DESC LIMIT 200"],
                capture_output=True, text=True, timeout=5).stdout
            ids = [int(x) for x in out.split()]
            if ids:
                known[:] = ids
        except (OSError, subprocess.SubprocessError, ValueError):
            pass  # the database may be restarting: keep the old list

    start = time.time()
    k = 0
    while time.time() - start < a.seconds:
        due = start + k / a.rate
        if due > time.time():
            time.sleep(due - time.time())
        uid = a.first_id + k
        refresh()
        if staff and known and random.random() < a.answers:
            req = random.choice(known)
            word = "w%dx" % uid
            sender = random.choice(staff)
            text = "/reply %d Thanks, checking it: %s" % (req, word)
            msg = {"message_id": 100000 + k, "from": {"id": sender, "is_bot": False, "first_name": "Staff"},
                   "chat": {"id": sender, "type": "private"}, "date": int(time.time()), "text": text,
                   "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}
            with lock:
                answers.append([uid, req, word])
        else:
            user = a.user_base + k
            msg = {"message_id": 10 + k % 1000, "from": {"id": user, "is_bot": False, "first_name": "User%d" % k},
                   "chat": {"id": user, "type": "private"}, "date": int(time.time()),
                   "text": "Order %d has not arrived" % k}
        body = json.dumps({"update_id": uid, "message": msg}).encode()
        with lock:
            pending[uid] = body
        work.put((0, uid, body))
        k += 1

    with lock:
        stop_at[0] = time.time() + a.grace
    while time.time() < stop_at[0]:
        with lock:
            if not pending:
                break
        time.sleep(0.2)
    for _ in threads:
        work.put(None)
    with lock:
        print(json.dumps({"sent": k, "acked": sorted(acked), "unacked": sorted(pending),
                          "statuses": statuses, "answers": answers}))


if __name__ == "__main__":
    main()
