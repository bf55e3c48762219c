"""slow - slow and stalled clients against the gate, with real sessions beside them

  slow.py HOST --drip N --stall N --real M [--sources A,B,...] [--every S]
          [--timeout S] [--concurrency C] [--hold S]

Opens N "drip" clients, each sending one byte of "NOOP\\r\\n" every --every
seconds from its banner on (always talking, never finishing a line), and N
"stall" clients, each with a tiny receive buffer, pipelining thousands of
NOOPs from its banner on and never reading a reply (the gate's output to it fills up: a zero
window forever). While all of them are held, M real sessions (EHLO, MAIL,
RCPT, QUIT, one at a time) must get their exact replies at once. Then
every slow client must be reclaimed by the gate's timeouts: a drip client
gets "421 4.4.2 HOST Error: timeout exceeded" and the close, a stall client is
dropped by the gate (its 421 cannot pass a closed window); the stall
clients keep their sockets till --hold seconds after all were open, so the caller
can see in the gate's metrics that the gate let go of them first. Prints
one "NAME VALUE" line per counter; the shell script asserts them. Every
wait is bounded by --timeout. Plain Python 3 asyncio over the kernel's TCP.
"""
import argparse
import asyncio
import resource
import socket
import time

HOST_NAME = "mx.gate.example"
CLOCK = {"go": None}  # when every slow client was open
TIMEOUT_421 = "421 4.4.2 %s Error: timeout exceeded" % HOST_NAME


async def connect(host, source, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    await asyncio.get_running_loop().sock_connect(s, (host, 25))
    return await asyncio.open_connection(sock=s)


async def drip(host, source, every, timeout, stats, sem):
    """one byte every `every` seconds until the gate ends it"""
    stage = "connect"  # where an error struck, for the report
    try:
        async with sem:  # a bounded number of opens at once
            r, w = await connect(host, source)
            stage = "banner"
            banner = await asyncio.wait_for(r.readline(), timeout)
            stage = "drip"
        if not banner.startswith(b"220 "):
            stats["drip_bad_banner"] += 1
            return
        stats["drip_open"] += 1
        # it drips from its banner on: the command timeout runs from there
        start = time.monotonic()
        text = b"NOOP\r\n"
        i = 0
        reply = b""

        async def reader():
            return await r.readline()

        rd = asyncio.ensure_future(reader())
        while time.monotonic() - start < timeout:
            if i < len(text) - 1:  # never the LF: the line never ends
                w.write(text[i:i + 1])
                i += 1
            try:
                reply = await asyncio.wait_for(asyncio.shield(rd), every)
                break
            except asyncio.TimeoutError:
                continue
            except (ConnectionError, OSError):
                break
        took = time.monotonic() - start
        if reply.rstrip(b"\r\n").decode(errors="replace") == TIMEOUT_421:
            stats["drip_421"] += 1
            eof = await asyncio.wait_for(r.read(), timeout)
            if eof == b"":
                stats["drip_closed"] += 1
                stats["drip_max_s"] = max(stats["drip_max_s"], took)
                stats["drip_min_s"] = min(stats["drip_min_s"], took)
        else:
            stats["drip_other"] += 1
            if stats["drip_other"] == 1:
                print("drip_first_other", repr(reply)[:200].replace(" ", "_"), round(took, 2))
        w.close()
    except (asyncio.TimeoutError, ConnectionError, OSError) as e:
        stats["drip_error"] += 1
        stats["drip_error_" + stage] += 1
        stats["error " + type(e).__name__] += 1


async def stall(host, source, timeout, hold, stats, sem, big):
    """pipelined NOOPs, never a reply read after the banner: the gate must
    give up on it. A raw socket: asyncio's streams would read on their own."""
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        s.bind((source, 0))
        async with sem:
            await asyncio.wait_for(loop.sock_connect(s, (host, 25)), timeout)
            banner = await asyncio.wait_for(loop.sock_recv(s, 512), timeout)
        if not banner.startswith(b"220 "):
            stats["stall_bad_banner"] += 1
            return
        stats["stall_open"] += 1
        # it stalls from its banner on, as a drip client drips
        # half of them leave the gate room for its replies and its 421 (which
        # then wait behind the shut window), half fill its output up
        data = b"NOOP\r\n" * (4000 if big == 0 else 20000)
        sent = 0
        try:
            while sent < len(data):
                sent += s.send(data[sent:])
        except BlockingIOError:
            pass  # the windows are full: that is the point
        stats["stall_bytes_sent"] += sent
        start = time.monotonic()
        # read nothing; look at the socket's state for the gate's end, and
        # keep the socket open till `hold` seconds after all were open, so that
        # the gate's own accounting can be read while the client is still there
        seen = False
        while CLOCK["go"] is None or time.monotonic() - CLOCK["go"] < hold:
            await asyncio.sleep(1.0)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            if not seen and (err != 0 or state in (7, 8)):  # TCP_CLOSE (reset), TCP_CLOSE_WAIT (FIN)
                seen = True
                stats["stall_reclaimed"] += 1
                stats["stall_max_s"] = max(stats["stall_max_s"], time.monotonic() - start)
        if not seen:
            stats["stall_unseen"] += 1
    except (asyncio.TimeoutError, ConnectionError, OSError) as e:
        stats["stall_error"] += 1
        stats["error " + type(e).__name__] += 1
    finally:
        s.close()


async def real(host, source, m, timeout, stats):
    """m real sessions, one after the other, every reply checked"""
    want = [b"220 ", b"250 ", b"250 2.1.0 Ok", b"250 2.1.5 Ok", b"221 2.0.0 Bye"]
    for _ in range(m):
        start = time.monotonic()
        try:
            r, w = await connect(host, source)
            got = [await asyncio.wait_for(r.readline(), timeout)]
            for cmd in (b"HELO real.remote.example", b"MAIL FROM:<a@remote.example>",
                        b"RCPT TO:<u@local.example>", b"QUIT"):
                w.write(cmd + b"\r\n")
                got.append(await asyncio.wait_for(r.readline(), timeout))
            w.close()
            if all(g.startswith(x) for g, x in zip(got, want)):
                stats["real_ok"] += 1
                stats["real_max_s"] = max(stats["real_max_s"], time.monotonic() - start)
            else:
                stats["real_bad"] += 1
                if stats["real_bad"] == 1:
                    print("real_first_bad", repr(b"|".join(got))[:300].replace(" ", "_"))
        except (asyncio.TimeoutError, ConnectionError, OSError) as e:
            stats["real_error"] += 1
            stats["error " + type(e).__name__] += 1


class Stats(dict):
    def __missing__(self, k):
        return 0


async def main(a):
    stats = Stats(drip_min_s=1e9, drip_max_s=0.0, stall_max_s=0.0, real_max_s=0.0)
    sources = a.sources.split(",")
    go = asyncio.Event()
    sem = asyncio.Semaphore(a.concurrency)
    tasks = []
    t0 = time.monotonic()
    for i in range(a.drip):
        tasks.append(drip(host_, sources[i % len(sources)], a.every, a.timeout, stats, sem))
    for i in range(a.stall):
        tasks.append(stall(host_, sources[i % len(sources)], a.timeout, a.hold, stats, sem, i % 2))
    running = [asyncio.ensure_future(t) for t in tasks]
    # all open (or failed) before the slow part starts
    while (stats["drip_open"] + stats["stall_open"] + stats["drip_error"] + stats["stall_error"]
           + stats["drip_bad_banner"] + stats["stall_bad_banner"] < a.drip + a.stall and time.monotonic() - t0 < a.timeout):
        await asyncio.sleep(0.2)
    stats["open_s"] = round(time.monotonic() - t0, 1)
    go.set()
    CLOCK["go"] = time.monotonic()
    print("go", flush=True)  # the shell times its look at the gate from here
    await asyncio.sleep(1.0)  # the slow clients are at it
    await real(host_, sources[0], a.real, a.timeout, stats)
    await asyncio.gather(*running)
    stats["total_s"] = round(time.monotonic() - t0, 1)
    if stats["drip_min_s"] == 1e9:
        stats["drip_min_s"] = 0.0
    for k in sorted(stats):
        v = stats[k]
        print(k.replace(" ", "_"), round(v, 2) if isinstance(v, float) else v)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("--drip", type=int, default=100)
    p.add_argument("--stall", type=int, default=100)
    p.add_argument("--real", type=int, default=20)
    p.add_argument("--sources", default="0.0.0.0")
    p.add_argument("--every", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--hold", type=float, default=30.0)
    a = p.parse_args()
    host_ = a.host
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(a))
