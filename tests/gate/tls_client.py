"""tls_client - STARTTLS clients for tests/gate/test_tls.sh (Python's ssl module)

  tls_client.py send HOST PORT VERSION SIZE... : per size, a session that
      says EHLO, STARTTLS (TLS 1.2 or 1.3 as VERSION says: 1.2, 1.3),
      EHLO again and sends a message of that size (relay_client's bodies);
      prints "ID SIZE SHA256 CODE" as relay_client.py send does, for its check
  tls_client.py required HOST PORT : MAIL before STARTTLS, then inside TLS;
      prints one line per reply
  tls_client.py inject HOST PORT : STARTTLS and plaintext commands in one
      segment, then the handshake and what the gate answers inside TLS
  tls_client.py garbage HOST PORT : while one TLS session is open, another
      sends garbage instead of a handshake; the first must go on
  tls_client.py hold HOST PORT FLAG : a TLS session that waits for FLAG
      (a file) between its EHLO and its envelope
  tls_client.py proxysink HOST PORT OUT : a backend for one session that
      reads a PROXY v2 header, writes its TLVs to OUT ("TYPE HEX" lines,
      sub-TLVs of PP2_TYPE_SSL included) and accepts the message
"""
import os
import smtplib
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relay_client  # noqa: E402


def context(version):
    """a client context that accepts the gate's self-signed certificates"""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def send(host, port, version, sizes):
    import hashlib
    import random

    rnd = random.Random(587)
    for i, size in enumerate(sizes):
        ident = "t%s-%d" % (version, i)
        msg = relay_client.body(ident, int(size), rnd)
        s = smtplib.SMTP(host, port, timeout=60)
        s.ehlo("client.remote.example")
        s.starttls(context=context(version))
        if s.sock.version() != "TLSv" + version:
            print("# negotiated", s.sock.version(), file=sys.stderr)
            sys.exit(1)
        s.ehlo("client.remote.example")
        if s.has_extn("starttls"):
            print("# STARTTLS offered again inside TLS", file=sys.stderr)
            sys.exit(1)
        s.mail("sender@remote.example")
        s.rcpt("user@local.example")
        code, _ = s.data(msg)
        s.quit()
        want = msg.replace(b"\r\n", b"\n")
        print(ident, len(msg), hashlib.sha256(want).hexdigest(), code, flush=True)


class Raw:
    """a line-level SMTP client on a socket that can turn into TLS"""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                return None
            self.buf += data
        l, _, self.buf = self.buf.partition(b"\n")
        return l.decode(errors="replace").rstrip("\r")

    def reply(self):
        """the last line of a reply"""
        while True:
            l = self.line()
            if l is None or len(l) < 4 or l[3] != "-":
                return l

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def tls(self, version=None):
        if self.buf:
            raise RuntimeError("plaintext after the 220: %r" % self.buf)
        self.sock = context(version).wrap_socket(self.sock)
        return self.sock.version(), self.sock.cipher()[0]


def required(host, port):
    c = Raw(host, port)
    print(c.reply())
    print(c.cmd("EHLO client.remote.example"))
    print(c.cmd("MAIL FROM:<sender@remote.example>"))
    print(c.cmd("STARTTLS"))
    print("tls", *c.tls())
    print(c.cmd("EHLO client.remote.example"))
    print(c.cmd("MAIL FROM:<sender@remote.example>"))
    print(c.cmd("RCPT TO:<user@local.example>"))
    print(c.cmd("QUIT"))


def inject(host, port):
    c = Raw(host, port)
    print(c.reply())
    print(c.cmd("EHLO client.remote.example"))
    # one segment: the attacker's commands ride after STARTTLS in the clear
    c.sock.sendall(b"STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\n"
                   b"RCPT TO:<victim@local.example>\r\nDATA\r\n")
    print(c.reply())
    c.sock.settimeout(1)
    try:  # nothing else may come in the clear
        extra = c.sock.recv(4096)
    except socket.timeout:
        extra = b""
    c.sock.settimeout(10)
    print("extra %r" % extra)
    print("tls", *c.tls())
    # had the MAIL run, RCPT would be accepted; had the EHLO been kept, MAIL would
    print(c.cmd("RCPT TO:<victim@local.example>"))
    print(c.cmd("MAIL FROM:<sender@remote.example>"))
    print(c.cmd("QUIT"))


def hold(host, port, flag):
    """a TLS session that waits (for a policy push) before its envelope"""
    import time

    c = Raw(host, port)
    c.reply()
    c.cmd("EHLO held.remote.example")
    c.cmd("STARTTLS")
    print("tls", *c.tls(), flush=True)
    print(c.cmd("EHLO held.remote.example"), flush=True)
    for _ in range(300):
        if os.path.exists(flag):
            break
        time.sleep(0.1)
    print(c.cmd("NOOP"))
    print(c.cmd("MAIL FROM:<sender@remote.example>"))
    print(c.cmd("RCPT TO:<user@local.example>"))
    print(c.cmd("QUIT"))


def garbage(host, port):
    a = Raw(host, port)
    a.reply()
    a.cmd("EHLO a.remote.example")
    a.cmd("STARTTLS")
    print("a", *a.tls())
    print("a", a.cmd("EHLO a.remote.example"))
    b = Raw(host, port)
    print("b", b.reply())
    b.cmd("EHLO b.remote.example")
    print("b", b.cmd("STARTTLS"))
    rnd = open("/dev/urandom", "rb").read(3000)
    try:
        b.sock.sendall(b"\x16\x03\x01\x00\x05hello" + rnd)
        end = b.sock.recv(4096)
        while end and len(end) < 100000:
            more = b.sock.recv(4096)
            if not more:
                break
            end += more
        print("b closed after %d bytes" % len(end))
    except (ConnectionResetError, BrokenPipeError):
        print("b closed by reset")
    except socket.timeout:
        print("b still open")
    print("a", a.cmd("MAIL FROM:<sender@remote.example>"))
    print("a", a.cmd("RCPT TO:<user@local.example>"))
    print("a", a.cmd("QUIT"))


def tlvs(data):
    """(type, value) of each TLV in data"""
    out = []
    while len(data) >= 3:
        t, n = data[0], int.from_bytes(data[1:3], "big")
        out.append((t, data[3:3 + n]))
        data = data[3 + n:]
    return out


def proxysink(host, port, path):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    open(path + ".ready", "w").close()
    srv.settimeout(30)
    conn, _ = srv.accept()
    conn.settimeout(30)
    f = conn.makefile("rb")
    head = f.read(16)
    rest = f.read(int.from_bytes(head[14:16], "big"))
    alen = 12 if head[13] == 0x11 else 36
    with open(path, "w") as out:
        out.write("command %02x family %02x\n" % (head[12], head[13]))
        for t, v in tlvs(rest[alen:]):
            out.write("%02x %s\n" % (t, v.hex()))
            if t == 0x20:
                out.write("client %02x verify %d\n" % (v[0], int.from_bytes(v[1:5], "big")))
                for st, sv in tlvs(v[5:]):
                    out.write("%02x %s\n" % (st, sv.decode(errors="replace")))
    conn.sendall(b"220 sink ESMTP\r\n")
    data = False
    while True:
        l = f.readline()
        if not l:
            break
        if data:
            if l == b".\r\n":
                data = False
                conn.sendall(b"250 2.0.0 queued\r\n")
            continue
        verb = l[:4].upper()
        if verb == b"EHLO":
            conn.sendall(b"250-sink\r\n250 PIPELINING\r\n")
        elif verb == b"DATA":
            data = True
            conn.sendall(b"354 go\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            break
        else:
            conn.sendall(b"250 ok\r\n")
    conn.close()


if __name__ == "__main__":
    what, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if what == "send":
        send(host, port, sys.argv[4], sys.argv[5:])
    elif what == "required":
        required(host, port)
    elif what == "inject":
        inject(host, port)
    elif what == "garbage":
        garbage(host, port)
    elif what == "hold":
        hold(host, port, sys.argv[4])
    elif what == "proxysink":
        proxysink(host, port, sys.argv[4])
