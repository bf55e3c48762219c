"""relay_client - SMTP clients for tests/gate/test_relay.sh

  relay_client.py send HOST COUNT SIZE... : one session per size, a message of
      that many bytes (random lines, some starting with '.', CRLF); prints
      "ID SIZE SHA256 CODE" per message, the SHA-256 of the message as the
      backend must store it (lines ended by LF, as smtp-sink dumps them)
  relay_client.py check DUMPDIR EXPECTED : every expected message is in
      smtp-sink's dump directory byte for byte, none twice; prints a summary
  relay_client.py dialog HOST LINES... : raw commands, one per argument,
      each reply printed on one line as "CODE TEXT" (for failures)
"""
import hashlib
import os
import random
import smtplib
import socket
import sys


# seconds one socket operation may block: RELAY_TIMEOUT for slow links
TIMEOUT = float(os.environ.get("RELAY_TIMEOUT", "60"))
ALPHABET = bytes(b"abcdefghijklmnopqrstuvwxyz0123456789 .,;:-" * 7)[:256]
TABLE = bytes(ALPHABET[i % len(ALPHABET)] for i in range(256))


def body(ident, size, rnd):
    """a message of about size bytes: a header, then random text lines of 0 to
    120 characters, about one in ten starting with a dot, CRLF-ended"""
    head = ("X-Test-Id: %s\r\nSubject: relay test %s\r\n\r\n" % (ident, ident)).encode()
    text = rnd.randbytes(max(size - len(head), 0)).translate(TABLE)
    out = [head]
    at = 0
    while at < len(text):
        n = rnd.randint(0, 120)
        line = text[at:at + n]
        at += n
        if rnd.random() < 0.1:
            line = b"." + line
        out.append(line + b"\r\n")
    return b"".join(out)


def send(host, count, sizes):
    rnd = random.Random(25)
    for i, size in enumerate(sizes):
        for k in range(count):
            ident = "m%d-%d" % (i, k)
            msg = body(ident, int(size), rnd)
            s = smtplib.SMTP(host, 25, timeout=TIMEOUT)
            s.ehlo("client.remote.example")
            s.mail("sender@remote.example")
            code, _ = s.rcpt("user@local.example")
            code, reply = s.data(msg)
            s.quit()
            want = msg.replace(b"\r\n", b"\n")
            print(ident, len(msg), hashlib.sha256(want).hexdigest(), code, flush=True)


def dumped(path):
    """the X-Test-Id and SHA-256 of the message in one smtp-sink dump file"""
    data = open(path, "rb").read()
    i = data.find(b"\nReceived: ")
    if i < 0:
        return None, None
    # the Received header is three lines; the message follows; an empty line ends the dump
    j = i + 1
    for _ in range(3):
        j = data.index(b"\n", j) + 1
    msg = data[j:]
    if msg.endswith(b"\n\n"):
        msg = msg[:-1]
    ident = None
    for line in msg.split(b"\n"):
        if line.startswith(b"X-Test-Id: "):
            ident = line[11:].decode()
            break
        if line == b"":
            break
    return ident, hashlib.sha256(msg).hexdigest()


def check(dumpdir, expected):
    want = {}
    for line in open(expected):
        ident, size, sha, code = line.split()
        want[ident] = sha
    got = {}
    twice = 0
    for name in sorted(os.listdir(dumpdir)):
        ident, sha = dumped(os.path.join(dumpdir, name))
        if ident is None:
            continue
        if ident in got:
            twice += 1
        got[ident] = sha
    same = sum(1 for k, v in want.items() if got.get(k) == v)
    print("expected %d, dumped %d, identical %d, twice %d" % (len(want), len(got), same, twice))
    good = len(want) > 0 and same == len(want) and twice == 0 and len(got) == len(want)
    return 0 if good else 1


def dialog(host, lines):
    """host or host:port (25 by default)"""
    name, _, port = host.partition(":")
    s = socket.create_connection((name, int(port or 25)), timeout=30)
    f = s.makefile("rb")

    def reply():
        text = []
        while True:
            l = f.readline()
            if not l:
                return "EOF"
            text.append(l.decode(errors="replace").rstrip("\r\n"))
            if len(l) < 4 or l[3:4] != b"-":
                return text[-1]

    print(reply(), flush=True)
    for l in lines:
        # "!TEXT": sent as it is (escapes such as \\n decoded), no reply read
        quiet = l.startswith("!")
        raw = (l[1:] if quiet else l).encode().decode("unicode_escape").encode("latin-1")
        s.sendall(raw if quiet else raw + b"\r\n")
        if not quiet:
            print(reply(), flush=True)
    s.close()


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    elif sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    elif sys.argv[1] == "dialog":
        dialog(sys.argv[2], sys.argv[3:])
