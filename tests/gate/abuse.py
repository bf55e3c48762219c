"""abuse - protocol abuse at the command level, against the gate on a raw socket

  abuse.py replies HOST     : command sequences with NUL and 8-bit bytes, overlong
                              addresses, source routes; every reply checked exactly
  abuse.py pipeline HOST N  : N NOOPs in one write from a client that reads nothing
                              for 2 s: the gate must stop reading while its output
                              is full, then answer all N, in order
  abuse.py errors HOST N    : N bad commands in one write: max_errors ends it

Each prints one line per check: "0<TAB>description" when it held,
"1<TAB>description<TAB>why" when it did not. Plain Python 3, no packages.
"""
import socket
import sys
import threading
import time

HOST_NAME = "mx.gate.example"
HELO = "250 " + HOST_NAME
SYNB = "500 5.5.2 Error: bad syntax"
BADS = "501 5.1.7 Bad sender address syntax"
BADR = "501 5.1.3 Bad recipient address syntax"
MOK = "250 2.1.0 Ok"
ROK = "250 2.1.5 Ok"
BYE = "221 2.0.0 Bye"
L64 = "l" * 64
D253 = ".".join(["d" * 63] * 4)[:253]  # a domain of 253 octets in labels of 63
D252 = D253[:252]
D256 = D253 + "ddd"


def denied(addr):
    return "554 5.7.1 <%s>: Relay access denied" % addr


def route(hops):
    """a well-formed source route of that many hops to a local mailbox"""
    return ",".join(["@a"] * hops) + ":u@local.example"


# (description, bytes after the banner, every reply line that must follow,
# up to the gate's close). Each case is one session ending in QUIT.
CASES = [
    ("NUL bytes in commands: 500 5.5.2 for each line, the session goes on",
     b"HELO h\r\nNO\0OP\r\nMAIL FROM:<a\0@remote.example>\r\n\0\r\nNOOP\r\n",
     [HELO, SYNB, SYNB, SYNB, "250 2.0.0 Ok"]),
    ("8-bit bytes in commands (no SMTPUTF8 offered): 500 5.5.2",
     b"HELO h\xc3\xa9.example\r\nHELO h\r\nMAIL FROM:<\xe9t\xe9@remote.example>\r\n"
     b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<u@l\xf6cal.example>\r\nNOOP caf\xc3\xa9\r\n"
     b"RCPT TO:<u@local.example>\r\n",
     [SYNB, HELO, SYNB, MOK, SYNB, SYNB, ROK]),
    ("local part of 64 octets accepted, of 65 refused (RFC 5321 4.5.3.1.1)",
     ("HELO h\r\nMAIL FROM:<%s@remote.example>\r\nRCPT TO:<%s@local.example>\r\n"
      "RCPT TO:<%sx@local.example>\r\nRSET\r\nMAIL FROM:<%sx@remote.example>\r\n"
      % (L64, L64, L64, L64)).encode(),
     [HELO, MOK, ROK, BADR + ": local part over 64 octets", "250 2.0.0 Ok",
      BADS + ": local part over 64 octets"]),
    ("domain over 255 octets, path over 256 (RFC 5321 4.5.3.1.2-3)",
     ("HELO h\r\nMAIL FROM:<a@%s>\r\nMAIL FROM:<ab@%s>\r\nMAIL FROM:<a@remote.example>\r\n"
      "RCPT TO:<u@%s>\r\nRCPT TO:<uv@%s>\r\n" % (D256, D253, D256, D253)).encode(),
     [HELO, BADS + ": domain over 255 octets", BADS + ": path over 256 octets", MOK,
      BADR + ": domain over 255 octets", BADR + ": path over 256 octets"]),
    ("a path of exactly 256 octets goes to the policy (the domain is not ours: relay denied)",
     ("HELO h\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<u@%s>\r\n" % D252).encode(),
     [HELO, MOK, denied("u@" + D252)]),
    ("source routes: well-formed ones are relay attempts, however deep; malformed: 501 5.1.3",
     ("HELO h\r\nMAIL FROM:<a@remote.example>\r\n"
      "RCPT TO:<@a.example,@b.example:u@local.example>\r\n"
      "RCPT TO:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<%s>\r\n"
      "RCPT TO:<@a.example@b.example:u@local.example>\r\nRCPT TO:<@:u@local.example>\r\n"
      "RCPT TO:<@a.example,:u@local.example>\r\nRCPT TO:<@a.example,@b.example>\r\n"
      "RCPT TO:<@a.example:>\r\nRCPT TO:<@@a.example:u@local.example>\r\n"
      "RCPT TO:<@[192.0.2.1:u@local.example>\r\nRCPT TO:<@local.example>\r\n"
      % (route(70), route(100), route(200))).encode(),
     [HELO, MOK, denied("@a.example,@b.example:u@local.example"), denied(route(70)),
      BADR + ": path over 256 octets", "500 5.5.6 Error: line too long",
      BADR, BADR, BADR, BADR, BADR, BADR, BADR, BADR]),
    ("a 1 MB line: one 500 5.5.6, nothing kept, the session goes on",
     b"HELO h\r\nNOOP " + b"x" * 1000000 + b"\r\nNOOP\r\n",
     [HELO, "500 5.5.6 Error: line too long", "250 2.0.0 Ok"]),
]


class Client:
    def __init__(self, host, rcvbuf=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, rcvbuf)
        self.s.settimeout(20)
        self.s.connect((host, 25))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            try:
                got = self.s.recv(262144)
            except (ConnectionResetError, socket.timeout):
                got = b""
            if not got:
                rest, self.buf = self.buf, b""
                return rest.decode(errors="replace") + "EOF"
            self.buf += got
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l.decode(errors="replace")

    def rest(self):
        """every reply line up to the gate's close"""
        out = []
        while True:
            l = self.line()
            if l.endswith("EOF"):
                if l != "EOF":
                    out.append(l)
                return out
            out.append(l)


def report(good, what, why=""):
    print("%d\t%s%s" % (0 if good else 1, what, "" if good else "\t" + why), flush=True)


def replies(host):
    for what, data, want in CASES:
        c = Client(host)
        banner = c.line()
        c.s.sendall(data + b"\r\nQUIT\r\n" if not data.endswith(b"\r\n") else data + b"QUIT\r\n")
        got = c.rest()
        want = want + [BYE]
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
        report(banner.startswith("220 ") and got == want, what,
               "%d replies, %d wanted; first difference at %s: got %r want %r"
               % (len(got), len(want), first,
                  got[first][:120] if first is not None else None,
                  want[first][:120] if first is not None else None))


def pipeline(host, n):
    """n NOOPs in one write; the client reads nothing for 2 s (its socket
    buffers small), so the gate's output fills up and it must stop reading:
    the client's write stalls. Then every reply must come, in order."""
    c = Client(host, rcvbuf=4096)
    c.line()
    data = b"NOOP\r\n" * n + b"QUIT\r\n"
    sent = [0]

    def writer():
        view = memoryview(data)
        try:
            while sent[0] < len(data):
                sent[0] += c.s.send(view[sent[0]:sent[0] + 8192])
        except OSError:
            pass

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    time.sleep(2.0)
    stalled = sent[0]
    report(stalled < len(data) // 2,
           "%d NOOPs (%d bytes) in one write to a client that does not read: the gate "
           "stopped taking them after %d bytes" % (n, len(data), stalled),
           "the gate took %d of %d bytes without its replies being read" % (stalled, len(data)))
    start = time.monotonic()
    got = c.rest()
    took = time.monotonic() - start
    t.join(5)
    oks = 0
    for l in got:
        if l != "250 2.0.0 Ok":
            break
        oks += 1
    report(oks == n and got[n:] == [BYE] and sent[0] == len(data),
           "then every reply, in order: %d x 250 and 221 (%.1f s)" % (oks, took),
           "%d replies, %d leading 250s, then %r" % (len(got), oks, got[oks:oks + 2]))


def errors(host, n):
    """n bad commands of each kind in one write: max_errors (20) ends it"""
    kinds = [("unknown commands", b"XXXX\r\n", "502 5.5.2 Error: command not recognized"),
             ("NUL in commands", b"NO\0OP\r\n", SYNB),
             ("8-bit commands", b"N\xd6OP\r\n", SYNB),
             ("overlong lines", b"NOOP " + b"x" * 600 + b"\r\n", "500 5.5.6 Error: line too long")]
    for what, line, reply in kinds:
        c = Client(host)
        c.line()
        start = time.monotonic()
        try:
            c.s.sendall(line * n)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gate hung up while the client was still writing: fine
        got = c.rest()
        took = time.monotonic() - start
        want = [reply] * 20 + ["421 4.7.0 %s Error: too many errors" % HOST_NAME]
        report(got == want,
               "%d %s in one write: 20 replies, 421 4.7.0 too many errors, hang-up (%.2f s)"
               % (n, what, took),
               "%d replies: %r ... %r" % (len(got), got[:1], got[-2:]))


if __name__ == "__main__":
    if sys.argv[1] == "replies":
        replies(sys.argv[2])
    elif sys.argv[1] == "pipeline":
        pipeline(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "errors":
        errors(sys.argv[2], int(sys.argv[3]))
