"""smuggle - SMTP smuggling attempts against the gate, with smtp-sink behind it

  smuggle.py table                 : the variants and what Postfix and the gate do, as text
  smuggle.py run HOST[:PORT] DUMPDIR : every variant in a session of its own; prints one
                                     line per check, "0<TAB>description" when it held,
                                     "1<TAB>description<TAB>why" when it did not

Each session sends a first, clean message A (the gate must answer 250, the
backend's), then a message B whose end-of-data is one of the variants
below, followed at once, in the same write, by a whole hidden transaction
(MAIL FROM:<hidden@evil.example> ... DATA ... "." CRLF) and QUIT: what a
smuggler sends so that a backend that takes the variant for the end of B
delivers the hidden message as a separate one. After each session the
checks are: the replies the client got, in order, exactly; that the gate
hung up right after its refusal (EOF, soon, not by a timeout); and that
smtp-sink's dump directory holds exactly the messages the gate
acknowledged with 250, byte for byte (as smtp-sink stores them: dot
unstuffed, lines ended by LF), and never the hidden one on its own.

Raw sockets, so the bytes on the wire are exactly the table's. Plain
Python 3, no packages.
"""
import os
import socket
import sys
import time

HOST_NAME = "mx.gate.example"  # the gate's hostname in the test's policy
BARE_LF = "521 5.5.2 %s Error: bare <LF> received" % HOST_NAME
BARE_CR = "521 5.5.2 %s Error: bare <CR> received" % HOST_NAME

HIDDEN = (b"MAIL FROM:<hidden@evil.example>\r\nRCPT TO:<victim@local.example>\r\nDATA\r\n"
          b"X-Test-Id: hidden\r\nSubject: smuggled\r\n\r\nthe hidden message\r\n.\r\n")

# What each end-of-data variant does. Postfix's columns are its documented
# behaviour (postconf(5), smtpd_forbid_bare_newline, Postfix >= 3.9 and the
# back-ports 3.8.5, 3.7.10, 3.6.14, 3.5.24; this machine's 3.7.11 has it):
#   no        (the default before 3.9) a bare LF ends a line as CRLF does,
#             so "<LF>.<LF>" ends the message: the hidden one is delivered
#   normalize (the default from 3.9) lines may end in a bare LF, but only
#             <CR><LF>.<CR><LF> ends DATA: the variant is message content
#   reject    a line with a bare LF gets "550 5.5.2 HOST Error: bare <LF>
#             received" (smtpd_forbid_bare_newline_reject_code, 521 to
#             disconnect); only <CR><LF>.<CR><LF> ends DATA
# A bare CR is not a line end in any Postfix mode: it is message content.
# The gate (README "Relaying", DESIGN invariant 5): nothing but CRLF ends a
# line and nothing but CRLF "." CRLF ends DATA; any bare LF or bare CR in a
# message is refused with Postfix's reply and the code that hangs up
# ("521 5.5.2 HOST Error: bare <LF> received", or <CR>), at once, before
# the backend sees the message end: B is never delivered, the hidden
# message neither. Variants with no bare CR or LF are message content.
#
# Fields: name, the bytes between B's text and the hidden transaction,
# where the client splits its write (None: one write), Postfix no /
# normalize / reject, and the gate's reply to B (None: B is content and
# gets the backend's 250; the hidden text is inside B).
PIPELINED = "two"  # the gate's column of the control row: B ends, the next transaction is real
VARIANTS = [
    ("<CR><LF>.<CR><LF>, the real end (control: the next one is no secret)", b"\r\n.\r\n", None,
     "ends DATA", "ends DATA", "ends DATA", PIPELINED),
    ("<LF>.<LF>", b"\n.\n", None,
     "ends DATA: smuggled", "content", "550 bare <LF>", BARE_LF),
    ("<CR><LF>.<LF>", b"\r\n.\n", None,
     "ends DATA: smuggled", "content", "550 bare <LF>", BARE_LF),
    ("<LF>.<CR><LF>", b"\n.\r\n", None,
     "ends DATA: smuggled", "content", "550 bare <LF>", BARE_LF),
    ("<CR><LF>.<LF> split before the LF", b"\r\n.\n", 3,
     "ends DATA: smuggled", "content", "550 bare <LF>", BARE_LF),
    ("<CR>.<CR>", b"\r.\r", None,
     "content", "content", "content", BARE_CR),
    ("<CR>.<CR> split after the first CR", b"\r.\r", 1,
     "content", "content", "content", BARE_CR),
    ("<CR><LF>.<CR>", b"\r\n.\r", None,
     "content", "content", "content", BARE_CR),
    ("<CR>.<CR><LF>", b"\r.\r\n", None,
     "content", "content", "content", BARE_CR),
    ("<CR><LF>.<CR><CR><LF>", b"\r\n.\r\r\n", None,
     "content", "content", "content", BARE_CR),
    ("<CR><LF>.<CR> split after the CR", b"\r\n.\r", 4,
     "content", "content", "content", BARE_CR),
    ("<LF><CR><LF>.<CR><LF>", b"\n\r\n.\r\n", None,
     "ends DATA after a bare LF", "ends DATA", "550 bare <LF>", BARE_LF),
    ("<CR><LF>..<CR><LF> (a stuffed dot)", b"\r\n..\r\n", None,
     "content", "content", "content", None),
    ("<CR><LF>.<SP><CR><LF>", b"\r\n. \r\n", None,
     "content", "content", "content", None),
    ("<CR><LF><NUL>.<CR><LF>", b"\r\n\0.\r\n", None,
     "content", "content", "content", None),
    ("<CR><LF>.<NUL><CR><LF>", b"\r\n.\0\r\n", None,
     "content", "content", "content", None),
]


def table():
    """the variants as a text table, for the log and the reader"""
    rows = [("variant", "Postfix no", "Postfix normalize", "Postfix reject", "the gate")]
    for name, _, _, no, norm, rej, gate in VARIANTS:
        rows.append((name, no, norm, rej, "ends DATA: two messages" if gate == PIPELINED
                     else gate or "content: 250, one message"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


class Client:
    """one SMTP session on a raw socket: exact bytes out, reply lines in"""

    def __init__(self, host):
        name, _, port = host.partition(":")
        self.s = socket.create_connection((name, int(port or 25)), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        """one reply line without CRLF, or "EOF" when the gate closed"""
        while b"\r\n" not in self.buf:
            try:
                got = self.s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                got = b""
            if not got:
                rest, self.buf = self.buf, b""
                return rest.decode(errors="replace") + "EOF"
            self.buf += got
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l.decode(errors="replace")

    def reply(self):
        """a whole reply's last line"""
        while True:
            l = self.line()
            if len(l) < 4 or l[3] != "-":
                return l

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.s.close()


def stored(data):
    """a DATA stream (up to its CRLF "." CRLF) as smtp-sink stores the
    message: lines unstuffed, each ended by LF"""
    lines = data.split(b"\r\n")
    assert lines[-2:] == [b".", b""], "not a whole message"
    out = []
    for l in lines[:-2]:
        out.append(l[1:] if l.startswith(b".") else l)
    return b"".join(l + b"\n" for l in out)


def dumped(path):
    """(sender, message) of one smtp-sink dump file: the message follows
    the three lines of smtp-sink's Received header"""
    data = open(path, "rb").read()
    sender = None
    for l in data.split(b"\n"):
        if l.startswith(b"X-Mail-Args: "):
            sender = l[13:].split(b" ")[0].decode(errors="replace")
            break
    i = data.find(b"\nReceived: ")
    if i < 0:
        return sender, None
    j = i + 1
    for _ in range(3):
        j = data.index(b"\n", j) + 1
    msg = data[j:]
    if msg.endswith(b"\n\n"):
        msg = msg[:-1]
    return sender, msg


def dumps(dumpdir):
    return sorted(os.listdir(dumpdir))


def session(host, ident, tail, split):
    """one session: clean message A, then B ending in tail followed by the
    hidden transaction and QUIT. Returns (replies, acknowledged messages,
    seconds from the last write to EOF or None)"""
    c = Client(host)
    replies = [c.reply(), c.cmd("EHLO client.remote.example")]
    acked = []
    a = b"X-Test-Id: %s-A\r\nSubject: clean\r\n\r\nmessage A\r\n.\r\n" % ident.encode()
    for text in ("MAIL FROM:<a@remote.example>", "RCPT TO:<u@local.example>", "DATA"):
        replies.append(c.cmd(text))
    c.s.sendall(a)
    replies.append(c.reply())
    if replies[-1].startswith("250"):
        acked.append(stored(a))
    for text in ("MAIL FROM:<b@remote.example>", "RCPT TO:<u@local.example>", "DATA"):
        replies.append(c.cmd(text))
    head = b"X-Test-Id: %s-B\r\nSubject: carrier\r\n\r\nmessage B" % ident.encode()
    payload = head + tail + HIDDEN + b"QUIT\r\n"
    try:
        if split is None:
            c.s.sendall(payload)
        else:
            cut = len(head) + split
            c.s.sendall(payload[:cut])
            time.sleep(0.3)  # its own segment: the gate sees the first part alone
            c.s.sendall(payload[cut:])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the gate may hang up before the write is done: that is the point
    sent = time.monotonic()
    eof = None
    while True:
        r = c.reply()
        replies.append(r)
        if r.endswith("EOF"):
            eof = time.monotonic() - sent
            break
    c.close()
    after = replies[9:]
    end = payload.find(b"\r\n.\r\n", len(head))
    if after[:1] and after[0].startswith("250 "):
        acked.append(stored(payload[:end + 5]))  # B, up to its real end
    if len(after) > 4 and after[4].startswith("250 "):
        hidden = payload[end + 5:]
        acked.append(stored(hidden[hidden.index(b"DATA\r\n") + 6:-len(b"QUIT\r\n")]))
    return replies, acked, eof


def run(host, dumpdir):
    for k, (name, tail, split, _, _, _, gate) in enumerate(VARIANTS):
        ident = "v%d" % k
        before = set(dumps(dumpdir))
        replies, acked, eof = session(host, ident, tail, split)
        # the fixed part: banner, EHLO, A's envelope, 354 and 250, B's envelope and 354
        head_ok = (replies[0].startswith("220 ") and replies[1].startswith("250 ")
                   and replies[2:4] == ["250 2.1.0 Ok", "250 2.1.5 Ok"]
                   and replies[4].startswith("354 ") and replies[5].startswith("250 ")
                   and replies[6:8] == ["250 2.1.0 Ok", "250 2.1.5 Ok"]
                   and replies[8].startswith("354 "))
        after = replies[9:]
        if gate == PIPELINED:
            want = "250 for B, then the next transaction's 250 250 354 250, 221, EOF"
            got_ok = (len(after) == 7 and after[0].startswith("250 ")
                      and after[1:3] == ["250 2.1.0 Ok", "250 2.1.5 Ok"]
                      and after[3].startswith("354 ") and after[4].startswith("250 ")
                      and after[5].startswith("221 ") and after[6] == "EOF")
        elif gate is not None:
            want = "%s, then EOF" % gate
            got_ok = after == [gate, "EOF"]
        else:
            want = "250 for B, 221, EOF"
            got_ok = (len(after) == 3 and after[0].startswith("250 ")
                      and after[1].startswith("221 ") and after[2] == "EOF")
        report(head_ok and got_ok, "%s: replies %s" % (name, want),
               "got " + " | ".join(replies))
        report(eof is not None and eof < 5.0,
               "%s: the gate closed the connection at once (%.2f s)" % (name, eof or -1),
               "EOF after %s s" % eof)
        # smtp-sink stores before it answers, but give a loaded machine time
        for _ in range(20):
            new = sorted(set(dumps(dumpdir)) - before)
            if len(new) >= len(acked):
                break
            time.sleep(0.1)
        time.sleep(0.2)  # anything extra (the hidden message) would come now
        new = sorted(set(dumps(dumpdir)) - before)
        got = [dumped(os.path.join(dumpdir, f)) for f in new]
        senders = [s for s, _ in got]
        same = sorted(m for _, m in got if m is not None) == sorted(acked)
        hidden_ok = gate == PIPELINED or "<hidden@evil.example>" not in senders
        report(same and hidden_ok,
               "%s: the backend stored exactly the %d message(s) acknowledged with 250, "
               "byte for byte%s" % (name, len(acked),
                                    "" if gate == PIPELINED else ", never the hidden one"),
               "dumped %d (senders %s), acknowledged %d" % (len(got), senders, len(acked)))


def report(good, what, why):
    print("%d\t%s%s" % (0 if good else 1, what, "" if good else "\t" + why), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "table":
        table()
    elif sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3])
