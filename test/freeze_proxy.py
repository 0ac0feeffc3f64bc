#!/usr/bin/env python3
"""A TCP proxy that can play a hung server, for the tests.

    freeze_proxy.py TARGET_PORT [--host 127.0.0.1]

Listens on a free port of 127.0.0.1 (printed as "freeze-proxy listening on
PORT") and relays every connection to TARGET_PORT. SIGUSR1 freezes it: it
forwards nothing any more, in either direction, but keeps every socket open
and still accepts connections (as the kernel does for a stopped server), so
a client sees a server that stopped answering, not one that went away.
SIGUSR2 thaws it: what waited is forwarded and relaying goes on. Each change
prints "frozen" or "thawed" once it is in force.
"""
import argparse
import selectors
import signal
import socket
import sys

want_frozen = False


def on_signal(signum, _frame):
    global want_frozen
    want_frozen = signum == signal.SIGUSR1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target_port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()

    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGUSR2, on_signal)
    sel = selectors.DefaultSelector()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    sel.register(lsock, selectors.EVENT_READ, None)
    print(f"freeze-proxy listening on {lsock.getsockname()[1]}", flush=True)

    peers = {}  # socket -> the socket it relays to
    frozen = False

    def close_pair(s):
        other = peers.pop(s, None)
        for x in (s, other):
            if x is None:
                continue
            peers.pop(x, None)
            if not frozen:
                try:
                    sel.unregister(x)
                except (KeyError, ValueError):
                    pass
            x.close()

    while True:
        if want_frozen != frozen:
            frozen = want_frozen
            for s in list(peers):
                if frozen:
                    sel.unregister(s)
                else:
                    sel.register(s, selectors.EVENT_READ, "data")
            print("frozen" if frozen else "thawed", flush=True)
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            if key.data is None:
                client, _ = lsock.accept()
                try:
                    upstream = socket.create_connection((args.host, args.target_port), timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                peers[client] = upstream
                peers[upstream] = client
                if not frozen:
                    sel.register(client, selectors.EVENT_READ, "data")
                    sel.register(upstream, selectors.EVENT_READ, "data")
                continue
            if s not in peers:
                continue
            try:
                data = s.recv(65536)
                if data:
                    peers[s].sendall(data)
            except OSError:
                data = b""
            if not data:
                close_pair(s)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
