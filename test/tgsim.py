#!/usr/bin/env python3
"""Plays Telegram for the integration tests.

  tgsim.py post-many URL --count N [--concurrency C] [--first-id ID] [--acked FILE]
                         [--deadline S] [--secret S] [--user-base ID] [--same-user] [--rate R]
      Posts N unique "new conversation" updates (a private text from a new
      user each, ids above 2^31) from C connections, and like Telegram sends
      each again until it is answered 2xx - after a refused connection, a
      timeout, 5xx or 503 (honouring Retry-After, capped at 1 s here) - until
      the deadline. Writes every acknowledged update_id to FILE and prints a
      summary line: "acked=N statuses={...} gave_up=N".

  tgsim.py slow URL --count N --source ADDR --hold S
      Opens N connections from ADDR that send part of their headers and never
      finish, holds them S seconds, then closes them.
"""
import argparse
import http.client
import json
import socket
import sys
import threading
import time
import urllib.parse


def update_for(update_id, user_id, text=None):
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,  # distinct, also for --same-user
            "from": {"id": user_id, "is_bot": False, "first_name": "Load",
                     "username": f"u{user_id}"},
            "chat": {"id": user_id, "first_name": "Load", "type": "private"},
            "date": int(time.time()),
            "text": text or f"help me with order {update_id}",
        },
    }


def post_many(args):
    url = urllib.parse.urlsplit(args.url)
    ids = list(range(args.first_id, args.first_id + args.count))
    lock = threading.Lock()
    acked, statuses, gave_up = [], {}, [0]
    deadline = time.monotonic() + args.deadline
    start = time.monotonic()
    interval = args.concurrency / args.rate if args.rate else 0

    def worker(mine):
        conn = None
        for n, uid in enumerate(mine):
            if interval:
                delay = start + n * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            user = args.user_base if args.same_user else args.user_base + (uid - args.first_id)
            body = json.dumps(update_for(uid, user)).encode()
            headers = {"Content-Type": "application/json"}
            if args.secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = args.secret
            while True:
                if time.monotonic() > deadline:
                    with lock:
                        gave_up[0] += 1
                    break
                status, retry_after = None, 0.05
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                    conn.request("POST", url.path, body, headers)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                    if resp.getheader("Retry-After"):
                        retry_after = min(1.0, float(resp.getheader("Retry-After")))
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException):
                    status = "conn"
                    if conn is not None:
                        conn.close()
                    conn = None
                with lock:
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                if isinstance(status, int) and 200 <= status < 300:
                    with lock:
                        acked.append(uid)
                    break
                time.sleep(retry_after)
        if conn is not None:
            conn.close()

    threads = []
    for i in range(args.concurrency):
        t = threading.Thread(target=worker, args=(ids[i::args.concurrency],))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    if args.acked:
        with open(args.acked, "w") as f:
            for uid in sorted(acked):
                f.write(f"{uid}\n")
    print(f"acked={len(acked)} statuses={json.dumps(statuses, sort_keys=True)} "
          f"gave_up={gave_up[0]}")
    return 0


def slow(args):
    url = urllib.parse.urlsplit(args.url)
    socks = []
    for _ in range(args.count):
        try:
            s = socket.create_connection((url.hostname, url.port), timeout=2,
                                         source_address=(args.source, 0))
            s.sendall(b"POST " + url.path.encode() + b" HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        except OSError:
            pass
    print(f"opened={len(socks)}", flush=True)
    time.sleep(args.hold)
    for s in socks:
        s.close()
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("post-many")
    p.add_argument("url")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--first-id", type=int, default=500000000)
    p.add_argument("--user-base", type=int, default=3000000000)
    p.add_argument("--same-user", action="store_true")
    p.add_argument("--acked")
    p.add_argument("--deadline", type=float, default=60)
    p.add_argument("--secret")
    p.add_argument("--rate", type=float, default=0, help="updates per second in all, 0 = as fast as possible")
    s = sub.add_parser("slow")
    s.add_argument("url")
    s.add_argument("--count", type=int, default=300)
    s.add_argument("--source", default="127.0.0.2")
    s.add_argument("--hold", type=float, default=5)
    args = ap.parse_args()
    return post_many(args) if args.cmd == "post-many" else slow(args)


if __name__ == "__main__":
    sys.exit(main())
