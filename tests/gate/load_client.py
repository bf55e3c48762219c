#!/usr/bin/env python3
"""load_client - SMTP load from the Linux stack against the gate, for test_load.sh

Two modes, both plain asyncio streams over the kernel's TCP:

  hold  open COUNT connections (round robin over --sources as client
        addresses, at most --concurrency opening at once), read each 220
        banner, keep them all open, then send NOOP on every one (250 proves it
        is still held by the gate), then QUIT on every one (221, then the
        gate's close). Prints one "NAME VALUE" line per counter.

  mix   COUNT sessions, --parallel at a time, each EHLO, MAIL, RCPT, QUIT,
        with a mix of outcomes (accepted, relay denied, blacklisted HELO,
        sender, recipient, a sender claiming to be local). Every reply line
        that ends a reply is compared with the one expected for that kind of
        session. Prints the counters and the first mismatches.

The shell script asserts the counters; this program only counts. Every wait
is bounded by --timeout, so a stalled gate ends the run instead of hanging it.
"""

import argparse
import asyncio
import resource
import sys
import time

BANNER = "220 mx.gate.example ESMTP"
HOSTNAME = "mx.gate.example"


class Mismatch(Exception):
    pass


async def read_reply(reader, timeout):
    """read_reply - the lines of one SMTP reply (up to the one without '-')"""
    lines = []
    while True:
        line = await asyncio.wait_for(reader.readline(), timeout)
        if not line:
            raise Mismatch("connection closed after %r" % lines)
        if not line.endswith(b"\r\n"):
            raise Mismatch("line without CRLF %r" % line)
        text = line[:-2].decode("latin-1")
        lines.append(text)
        if len(text) < 4 or text[3] != "-":
            return lines


async def expect(reader, writer, cmd, want, timeout):
    """expect - send cmd (if any) and check the last line of the reply"""
    if cmd is not None:
        writer.write(cmd.encode() + b"\r\n")
    got = await read_reply(reader, timeout)
    if got[-1] != want:
        raise Mismatch("%s: want %r, got %r" % (cmd or "greeting", want, got))
    return got


async def open_from(server, port, source, timeout):
    """open_from - a TCP connection to the gate from a given client address"""
    return await asyncio.wait_for(
        asyncio.open_connection(server, port, local_addr=(source, 0) if source else None),
        timeout)


def raise_nofile(need):
    """raise_nofile - enough descriptors for every connection at once"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(need, hard) if hard != resource.RLIM_INFINITY else need)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def hold(args):
    """hold - COUNT connections held open at once, then NOOP and QUIT on each"""
    sources = args.sources.split(",") if args.sources else [None]
    conns = [None] * args.count
    errors = []
    counts = {"banner": 0, "noop": 0, "quit": 0, "closed": 0}
    gate = asyncio.Semaphore(args.concurrency)

    def note(err):
        if len(errors) < 10:
            errors.append(err)

    async def opener(i):
        async with gate:
            try:
                r, w = await open_from(args.server, args.port, sources[i % len(sources)],
                                       args.timeout)
            except (OSError, asyncio.TimeoutError) as e:
                note("connect %d: %r" % (i, e))
                return
            conns[i] = (r, w)
            try:
                await expect(r, w, None, BANNER, args.timeout)
                counts["banner"] += 1
            except (Mismatch, OSError, asyncio.TimeoutError) as e:
                note("banner %d: %r" % (i, e))

    async def command(i, cmd, want, key):
        async with gate:
            if conns[i] is None:
                return
            r, w = conns[i]
            try:
                await expect(r, w, cmd, want, args.timeout)
                counts[key] += 1
                if cmd == "QUIT":
                    # the gate closes after 221: EOF, nothing more
                    if await asyncio.wait_for(r.read(1), args.timeout) == b"":
                        counts["closed"] += 1
            except (Mismatch, OSError, asyncio.TimeoutError) as e:
                note("%s %d: %r" % (cmd, i, e))

    t0 = time.monotonic()
    await asyncio.gather(*(opener(i) for i in range(args.count)))
    t1 = time.monotonic()
    # every connection is open now: count those with no EOF or error pending
    counts["held"] = sum(1 for c in conns if c is not None and not c[0].at_eof()
                         and c[0].exception() is None)
    if args.pause > 0:
        await asyncio.sleep(args.pause)
    await asyncio.gather(*(command(i, "NOOP", "250 2.0.0 Ok", "noop")
                           for i in range(args.count)))
    t2 = time.monotonic()
    await asyncio.gather(*(command(i, "QUIT", "221 2.0.0 Bye", "quit")
                           for i in range(args.count)))
    t3 = time.monotonic()
    for c in conns:
        if c is not None:
            c[1].close()
    for k, v in counts.items():
        print("%s %d" % (k, v))
    print("open_seconds %.2f" % (t1 - t0))
    print("noop_seconds %.2f" % (t2 - t1))
    print("quit_seconds %.2f" % (t3 - t2))
    print("total_seconds %.2f" % (t3 - t0))
    for e in errors:
        print("error %s" % e)


def session_plan(i):
    """session_plan - the kind of session i and its (command, expected last line) steps"""
    kinds = ["accept", "relay", "helo", "sender", "recipient", "spoof"]
    kind = kinds[i % len(kinds)]
    helo = "h%d.remote.example" % i
    sender = "a%d@remote.example" % i
    rcpt = "u%d@local.example" % i
    ehlo_ok = "250 ENHANCEDSTATUSCODES"
    mail_ok = "250 2.1.0 Ok"
    rcpt_ok = "250 2.1.5 Ok"
    need_mail = "503 5.5.1 Error: need MAIL command"
    if kind == "relay":
        rcpt = "x%d@elsewhere.example" % i
        rcpt_ok = "554 5.7.1 <%s>: Relay access denied" % rcpt
    elif kind == "helo":
        helo = "host%d.dyn.example" % i
        ehlo_ok = "550 5.7.1 <%s>: Helo command rejected: Access denied" % helo
        mail_ok = "503 5.5.1 Error: send HELO/EHLO first"
        rcpt_ok = need_mail
    elif kind == "sender":
        sender = "boss%d@spam.example" % i
        mail_ok = "550 5.7.1 <%s>: Sender address rejected: Access denied" % sender
        rcpt_ok = need_mail
    elif kind == "recipient":
        rcpt = "trap@local.example"
        rcpt_ok = "550 5.7.1 <%s>: Recipient address rejected: Access denied" % rcpt
    elif kind == "spoof":
        sender = "ceo%d@local.example" % i
        mail_ok = ("550 5.7.1 <%s>: Sender address rejected: Non-local sender claiming "
                   "to be local" % sender)
        rcpt_ok = need_mail
    return kind, [
        (None, BANNER),
        ("EHLO " + helo, ehlo_ok),
        ("MAIL FROM:<%s>" % sender, mail_ok),
        ("RCPT TO:<%s>" % rcpt, rcpt_ok),
        ("QUIT", "221 2.0.0 Bye"),
    ]


async def mix(args):
    """mix - COUNT full sessions, PARALLEL at a time, each reply checked exactly"""
    sources = args.sources.split(",") if args.sources else [None]
    gate = asyncio.Semaphore(args.parallel)
    done = {}
    errors = []
    slowest = [0.0]

    async def one(i):
        kind, steps = session_plan(i)
        async with gate:
            t = time.monotonic()
            w = None
            try:
                r, w = await open_from(args.server, args.port, sources[i % len(sources)],
                                       args.timeout)
                for cmd, want in steps:
                    got = await expect(r, w, cmd, want, args.timeout)
                    if cmd is not None and cmd.startswith("EHLO") and want.startswith("250"):
                        if got[0] != "250-" + HOSTNAME:
                            raise Mismatch("EHLO first line %r" % got[0])
                if await asyncio.wait_for(r.read(1), args.timeout) != b"":
                    raise Mismatch("data after 221")
                done[kind] = done.get(kind, 0) + 1
            except (Mismatch, OSError, asyncio.TimeoutError) as e:
                if len(errors) < 10:
                    errors.append("session %d (%s): %r" % (i, kind, e))
            finally:
                if w is not None:
                    w.close()
            slowest[0] = max(slowest[0], time.monotonic() - t)

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.count)))
    print("completed %d" % sum(done.values()))
    for k in sorted(done):
        print("kind_%s %d" % (k, done[k]))
    print("seconds %.2f" % (time.monotonic() - t0))
    print("slowest_session %.2f" % slowest[0])
    for e in errors:
        print("error %s" % e)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["hold", "mix"])
    p.add_argument("--server", default="192.0.2.25")
    p.add_argument("--port", type=int, default=25)
    p.add_argument("--sources", default="", help="client addresses, comma separated")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=256, help="hold: opens in flight")
    p.add_argument("--parallel", type=int, default=50, help="mix: sessions at once")
    p.add_argument("--pause", type=float, default=0.0, help="hold: seconds held idle")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds for any one step")
    args = p.parse_args()
    nofile = raise_nofile(args.count + 64)
    if args.mode == "hold" and nofile < args.count + 16:
        print("error only %d descriptors for %d connections" % (nofile, args.count))
        return 2
    asyncio.run(hold(args) if args.mode == "hold" else mix(args))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
