#!/usr/bin/env python3
"""limits_client - SMTP clients from the Linux stack for test_limits.sh.

Prints "key value" lines for the shell to check; never decides pass/fail.

  conc GATE PORT N WORKERS SRC[,SRC...] [OTHER]
      N sessions held at once from the SRC addresses (in turn), their source
      ports chosen so that the gate's flow owners (lc_flow_owner: CRC32-C of
      the ports and address, as in dataplane/lcore.c) alternate over WORKERS
      lcores; then one more from the first SRC (expect 421, then EOF) on
      the last lcore; one from OTHER if given (another client: expect 220)
      on the first; then one held session QUITs and, once it is gone, a new
      one from the first SRC on the first lcore.
  burst GATE PORT SRC COUNT
      COUNT sessions one after the other (banner, QUIT): their reply codes.
  full GATE PORT SRC N EXTRA
      N sessions held (the gate's flow table is that small), EXTRA more that
      find it full, then each held session does a transaction (EHLO, MAIL,
      RCPT, RSET, NOOP), then one
      QUITs and a new one is tried.
"""
import socket
import sys
import time

TIMEOUT = 15


def crc32c(crc, data):
    """CRC32-C as the SSE4.2 crc32 instruction computes it: no inversions."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc


def owner(src, sport, dport, workers):
    """The worker index that owns the flow, as lc_flow_owner() computes it."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    addr = socket.inet_pton(fam, src).ljust(16, b"\0")
    h = crc32c(0, ((sport << 16) | dport).to_bytes(4, "little"))
    h = crc32c(h, addr)
    return (h * workers) >> 32


class Client:
    def __init__(self, gate, port, src, sport=0):
        fam = socket.AF_INET6 if ":" in gate else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.settimeout(TIMEOUT)
        self.s.bind((src, sport))
        self.s.connect((gate, port))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise EOFError(self.buf.decode(errors="replace"))
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode(errors="replace")

    def reply(self):
        """A whole (multiline) reply: its last line."""
        while True:
            ln = self.line()
            if len(ln) < 4 or ln[3] != "-":
                return ln

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()

    def eof(self):
        """Whether the gate closes the connection now (nothing more is said)."""
        try:
            return self.s.recv(4096) == b"" and self.buf == b""
        except OSError:
            return False

    def quit(self):
        try:
            r = self.cmd("QUIT")
        except (OSError, EOFError):
            r = "error"
        self.s.close()
        return r


def code(reply):
    return reply.split(" ", 1)[0] if reply else "none"


def banner(gate, port, src, sport=0):
    """(client, its banner) or (None, what went wrong)."""
    try:
        c = Client(gate, port, src, sport)
        return c, c.reply()
    except (OSError, EOFError) as e:
        return None, "error %s" % type(e).__name__


def pick_ports(wanted, dport, workers):
    """For each (src, worker) a source port whose flow that worker owns."""
    out, used, p = [], set(), 20000 + int(time.time() * 1000) % 20000
    for src, want in wanted:
        while owner(src, p, dport, workers) != want or p in used:
            p = 20000 + (p - 19999) % 40000
        used.add(p)
        out.append(p)
    return out


def conc(gate, port, n, workers, srcs, other=None):
    """The held sessions alternate over the workers; the refused one goes to
    the last worker, the other client's and the one after the close to worker
    0, so that the gate's per-lcore session counts are known exactly."""
    held, owners = [], [0] * workers
    wanted = [(srcs[i % len(srcs)], i % workers) for i in range(n)]
    wanted += [(srcs[0], workers - 1), (other or srcs[0], 0), (srcs[0], 0)]
    ports = pick_ports(wanted, port, workers)
    for (src, w), sport in zip(wanted[:n], ports):
        c, b = banner(gate, port, src, sport)
        print("held %s %s %s" % (src, w, code(b)))
        if c is not None and code(b) == "220":
            held.append(c)
            owners[w] += 1
    print("held_ok %d" % len(held))
    print("owners %s" % " ".join(str(o) for o in owners))
    c, b = banner(gate, port, srcs[0], ports[n])
    print("over %s" % b)
    print("over_eof %s" % ("yes" if c is not None and code(b) == "421" and c.eof() else "no"))
    if c is not None and code(b) != "421":
        held.append(c)
    if other:
        c, b = banner(gate, port, other, ports[n + 1])
        print("other %s" % code(b))
        if c is not None:
            c.quit()
    print("quit %s" % code(held.pop(0).quit()))
    time.sleep(1.0)  # the gate releases the count when the flow ends
    c, b = banner(gate, port, srcs[0], ports[n + 2])
    print("after %s" % code(b))
    if c is not None:
        held.append(c)
    for c in held:
        c.quit()


def burst(gate, port, src, count):
    codes = []
    for _ in range(count):
        c, b = banner(gate, port, src)
        codes.append(code(b))
        if code(b) != "220":
            print("refused %s" % b)
        if c is not None:
            c.quit()
    print("codes %s" % " ".join(codes))


def full(gate, port, src, n, extra):
    held = []
    for _ in range(n):
        c, b = banner(gate, port, src)
        if c is not None and code(b) == "220":
            held.append(c)
    print("held_ok %d" % len(held))
    for _ in range(extra):
        c, b = banner(gate, port, src)
        print("extra %s eof %s" % (b, "yes" if c is not None and c.eof() else "no"))
    good = 0
    for i, c in enumerate(held):
        try:
            # RSET: the sender's 512-byte chunk goes back (the engine's pool
            # has 1.5 chunks per flow, not 2 for each session mid-transaction)
            r = [c.cmd("EHLO c%d.remote.example" % i), c.cmd("MAIL FROM:<a%d@remote.example>" % i),
                 c.cmd("RCPT TO:<u%d@local.example>" % i), c.cmd("RSET"), c.cmd("NOOP")]
            good += all(code(x) == "250" for x in r)
            if not all(code(x) == "250" for x in r):
                print("held session %d: %s" % (i, " | ".join(r)))
        except (OSError, EOFError) as e:
            print("held session %d: %s" % (i, type(e).__name__))
    print("unharmed %d" % good)
    print("quit %s" % code(held.pop(0).quit()))
    time.sleep(1.0)
    c, b = banner(gate, port, src)
    print("after %s" % code(b))
    if c is not None:
        held.append(c)
    for c in held:
        c.quit()


def main(a):
    if a[0] == "conc":
        conc(a[1], int(a[2]), int(a[3]), int(a[4]), a[5].split(","), a[6] if len(a) > 6 else None)
    elif a[0] == "burst":
        burst(a[1], int(a[2]), a[3], int(a[4]))
    elif a[0] == "full":
        full(a[1], int(a[2]), a[3], int(a[4]), int(a[5]))
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main(sys.argv[1:])
