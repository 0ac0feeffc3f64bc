#!/usr/bin/env python3
"""Slow HTTP clients (slowloris) against tgdesk, for test_slowclients.sh and
test_allowlist.sh.

  slowclient.py PORT --sources N --per-source M --seconds S [--interval I]
                [--first 2] [--path /webhook] [--pause P]

Opens M connections from each of N loopback source addresses (127.0.0.FIRST,
127.0.0.FIRST+1, ...) to 127.0.0.1:PORT. Each connection sends a POST to PATH
one byte every I seconds (jittered) and never finishes it; when the server
closes it (or refuses it), it waits P seconds and connects again, until S
seconds have passed. Prints one JSON object:

  connects   connections made
  failed     connection attempts that failed outright (refused, reset, timeout)
  refused    connections closed within 1 s without a byte answered: turned away
             at accept
  answered   connections on which the server sent bytes (an HTTP answer)
  lifetimes  sorted lifetimes (seconds) of the connections the server closed
             later than 1 s after connecting
  open_at_end connections still open when the time was up
  max_open   most connections open at once
"""
import argparse
import asyncio
import json
import random
import time

REQUEST = (
    b"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"X-Telegram-Bot-Api-Secret-Token: slow\r\nContent-Length: 1000000\r\n\r\n" + b"{" * 4096
)


class Stats:
    def __init__(self):
        self.connects = self.failed = self.refused = self.answered = 0
        self.lifetimes = []
        self.open = self.max_open = self.open_at_end = 0


async def one(st, port, src, a, end):
    request = REQUEST.replace(b"{path}", a.path.encode())
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0)), 5)
        except (OSError, asyncio.TimeoutError):
            st.failed += 1
            await asyncio.sleep(a.pause + random.random() * a.pause)
            continue
        st.connects += 1
        st.open += 1
        st.max_open = max(st.max_open, st.open)
        got = b""
        closed_at = None

        async def read():
            nonlocal got, closed_at
            try:
                while True:
                    b = await reader.read(4096)
                    if not b:
                        break
                    got += b
            except OSError:
                pass
            closed_at = time.monotonic()

        reader_task = asyncio.ensure_future(read())
        # Stagger the first byte so that not every connection writes at once;
        # any wait ends early when the server closes the connection.
        await asyncio.wait([reader_task], timeout=random.random() * a.interval)
        i = 0
        while closed_at is None and time.monotonic() < end and i < len(request):
            try:
                writer.write(request[i:i + 1])
                await writer.drain()
            except OSError:
                break
            i += 1
            await asyncio.wait([reader_task],
                               timeout=a.interval * (0.75 + random.random() * 0.5))
        if closed_at is None and time.monotonic() >= end:
            st.open_at_end += 1
            reader_task.cancel()
        else:
            await asyncio.wait([reader_task], timeout=5)
            if closed_at is None:
                reader_task.cancel()
                closed_at = time.monotonic()
            if got:
                st.answered += 1
            elif closed_at - t0 < 1.0:
                st.refused += 1
            else:
                st.lifetimes.append(round(closed_at - t0, 3))
        now = time.monotonic()
        writer.close()
        st.open -= 1
        if now < end:
            await asyncio.sleep(a.pause + random.random() * a.pause)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("--sources", type=int, default=16)
    p.add_argument("--first", type=int, default=2)
    p.add_argument("--per-source", type=int, default=60)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--pause", type=float, default=0.2)
    p.add_argument("--path", default="/webhook")
    a = p.parse_args()
    st = Stats()
    end = time.monotonic() + a.seconds
    tasks = []
    for s in range(a.sources):
        src = "127.0.0.%d" % (a.first + s)
        for _ in range(a.per_source):
            tasks.append(asyncio.ensure_future(one(st, a.port, src, a, end)))
    await asyncio.gather(*tasks)
    st.lifetimes.sort()
    print(json.dumps({
        "connects": st.connects, "failed": st.failed, "refused": st.refused,
        "answered": st.answered, "lifetimes": st.lifetimes,
        "open_at_end": st.open_at_end, "max_open": st.max_open,
    }))


asyncio.run(main())
