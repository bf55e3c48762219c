#!/usr/bin/env python3
"""mkseeds - write the seed corpora of tests/fuzz/corpus/TARGET/ from real inputs

Run from anywhere: python3 tests/fuzz/mkseeds.py. Seeds are named seed-*
and rewritten by each run; the other files of a corpus are never touched:
regression inputs (crash-*, minimised) and inputs that fuzzing found and
`fuzz_T -merge=1 -use_counters=0 corpus/T NEWDIR` kept (40-hex names). The targets read their input from both ends (tests/fuzz/fuzz.h):
data from the front, decisions from the back, so a seed is
data + reversed(decisions), decisions in the order the target reads them.
"""
import os
import struct
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(TOP, "tests", "fuzz", "corpus")


def seed(target, name, data, decisions=()):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(bytes(data) + bytes(reversed(list(decisions))))


def read(rel):
    with open(os.path.join(TOP, rel), "rb") as f:
        return f.read()


# ---- fuzz_smtp: conversations like tests/unit/smtp's ----

EHLO = b"EHLO client.example\r\n"
MAIL = b"MAIL FROM:<a@remote.example>\r\n"
RCPT = b"RCPT TO:<u@local.example>\r\n"
BODY = b"Subject: x\r\n\r\nbody\r\n..stuffed\r\n.\r\n"
SMTP = {
    "message": EHLO + MAIL + RCPT + b"DATA\r\n" + BODY + b"QUIT\r\n",
    "pipelined": EHLO + MAIL + RCPT + b"RCPT TO:<v@local.example>\r\nDATA\r\n" + BODY
    + MAIL + RCPT + b"RSET\r\nNOOP\r\nQUIT\r\n",
    "helo": b"HELO client.example\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@local.example>\r\nQUIT\r\n",
    "relay-denied": EHLO + MAIL + b"RCPT TO:<someone@elsewhere.example>\r\nQUIT\r\n",
    "blacklists": b"EHLO bad.helo.example\r\nEHLO x.dyn.example\r\nMAIL FROM:<spammer@bad.example>\r\n"
    b"MAIL FROM:<ab123456@x.example>\r\nMAIL FROM:<friend@bad.example>\r\n"
    b"RCPT TO:<trap@local.example>\r\nQUIT\r\n",
    "local-claims": b"EHLO gw.local.example\r\nEHLO [192.0.2.1]\r\nEHLO local.example\r\n"
    b"MAIL FROM:<x@local.example>\r\nQUIT\r\n",
    "params": EHLO + b"MAIL FROM:<a@remote.example> SIZE=1000 BODY=8BITMIME\r\n"
    b"MAIL FROM:<a@remote.example> SIZE=99999999999\r\nMAIL FROM:<a@remote.example> FOO=bar\r\n"
    b"RCPT TO:<u@local.example> NOTIFY=NEVER\r\nQUIT\r\n",
    "errors": b"FOO\r\n\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@local.example>\r\nDATA\r\nEHLO\r\n"
    b"HELO\r\nVRFY root\r\nHELP\r\nmail from:<A@B.EXAMPLE>\r\nQUIT extra\r\nQUIT\r\n",
    "long-line": EHLO + b"MAIL FROM:<" + b"a" * 600 + b"@x.example>\r\n" + b"NOOP " + b"x" * 505 + b"\r\nQUIT\r\n",
    "bare-lf": EHLO + b"MAIL FROM:<a@remote.example>\nQUIT\r\n",
    "bare-cr-nul": EHLO + b"NOOP a\rb\r\nNOOP \x00\r\nNOOP \xff\xfe\r\nQUIT\r\n",
    "smuggling": EHLO + MAIL + RCPT + b"DATA\r\nSubject: a\r\n\n.\n\r\nMAIL FROM:<evil@x.example>\r\n.\r\nQUIT\r\n",
    "routes": EHLO + b"MAIL FROM:<@a.example,@b.example:u@c.example>\r\n"
    b"RCPT TO:<u%other.example@local.example>\r\nRCPT TO:<\"u@x\"@local.example>\r\n"
    b"RCPT TO:<u!v@local.example>\r\nRCPT TO:<" + b"l" * 70 + b"@local.example>\r\nQUIT\r\n",
    "many-rcpts": EHLO + MAIL + b"".join(b"RCPT TO:<u%d@local.example>\r\n" % i for i in range(6))
    + b"DATA\r\n" + BODY + b"QUIT\r\n",
    "big-message": EHLO + MAIL + RCPT + b"DATA\r\n" + (b"x" * 78 + b"\r\n") * 20 + b".\r\nQUIT\r\n",
    "v6-literal": b"EHLO [IPv6:2001:db8::1]\r\nMAIL FROM:<a@[192.0.2.9]>\r\nRCPT TO:<postmaster>\r\nQUIT\r\n",
    # the one-pass line reader's edges: 510 and 511 bytes, odd bytes, verbs in mixed case
    "line-limits": EHLO + b"NOOP " + b"x" * 505 + b"\r\nNOOP " + b"x" * 506 + b"\r\nNOOP "
    + b"y" * 504 + b"\r\r\nQUIT\r\n",
    "line-odd-bytes": EHLO + b"MAIL FROM:<a\x00b@x.example>\r\nHELO h\x7f\r\nNOOP \x80\r\n"
    b"QU\rIT\r\r\nMAIL FROM:<\"q >\\\"x\"@remote.example>\r\nQUIT\r\n",
    "verbs-case": b"hElO x\r\nMaIl FrOm:<a@remote.example>\r\nrCpT tO:<u@local.example>\r\n"
    b"StArTtLs\r\nstarttl\r\nHELOO x\r\nrcpt To: <v@local.example>\r\nQuIt\r\n",
}
# decisions: port+client, output size, then segments (0: the rest at once)
ONE = [0, 0]
for name, conv in SMTP.items():
    seed("smtp", name, conv, ONE + [0])
# the same with other cuts, ports, clients, output sizes, relay moods
seed("smtp", "message-bytes", SMTP["message"], ONE + [3] * len(SMTP["message"]))
seed("smtp", "message-cut7", SMTP["message"], ONE + [7 << 3] * 40 + [0])
seed("smtp", "message-small-out", SMTP["pipelined"], [0, 1, 0])
seed("smtp", "message-hold", SMTP["pipelined"], [0, 1, 7 | 1 << 3, 0])
seed("smtp", "message-refusals", SMTP["message"], [0, 0, 0, 1])  # relay answers 4xx
seed("smtp", "message-no-backend", SMTP["message"], [0, 0, 6 | 1 << 3, 0])
seed("smtp", "message-backend-down", SMTP["message"], [0, 0, 6 | 2 << 3 | 1 << 5, 0])
seed("smtp", "message-push", SMTP["message"], [0, 0, 16 << 3, 5 | 1 << 3, 0])
seed("smtp", "message-unpublished", SMTP["message"], [0, 0, 16 << 3, 5 | 2 << 3, 0])
seed("smtp", "message-nomem", SMTP["message"], [0, 0, 7 << 3, 7 | 1 << 4, 0])
for port in range(8):
    for client in (0, 1, 2, 3, 4, 5, 6):
        seed("smtp", "p%d-c%d" % (port, client), SMTP["message"], [port | client << 3, 0, 0])
# timeouts: command (300 s), the small service's 10 s / 60 s, in the middle of a message
seed("smtp", "timeout-cmd", EHLO + MAIL, [0, 0, 0, 4 | 12 << 3])
seed("smtp", "timeout-small", EHLO + MAIL + RCPT + b"DATA\r\nabc", [3, 0, 0, 4 | 8 << 3, 4 | 10 << 3])
seed("smtp", "timeout-data", EHLO + MAIL + RCPT + b"DATA\r\nSubject: x\r\n",
     [0, 0, 0, 4 | 11 << 3, 4 | 12 << 3])

# AUTH and STARTTLS (the engine's side): a fake checker answers from the
# decisions, the handshake "completes" when a decision says so. Ports past
# the first 8 take bit 7 of the first decision: 9 = 29 (AUTH in clear,
# require_auth), 10 = 30 (AUTH in clear), 11 = 465 (tls = optional), 12 =
# 466 (tls = required, require_auth), 13 = 467 (tls and auth_in_clear).
# A segment decision of 0 takes the rest of the input, decisions included,
# so these conversations go in exact segments of at most 31 bytes, each
# line's decisions (the checker's, the relay's) right after its last piece.


def port_of(i, client=0):
    return (i & 7) | client << 3 | (i >> 3) << 7


def cuts(n):
    """segments of exactly n bytes (decide(): case 0 takes d >> 3 <= 31 bytes)"""
    out = []
    while n > 0:
        k = min(n, 31)
        out.append(k << 3)
        n -= k
    return out


def talk(target, name, first, steps):
    """steps: (bytes, decisions after them); decisions == None: a decision alone"""
    data, dec = b"", list(first)
    for chunk, after in steps:
        data += chunk
        dec += cuts(len(chunk)) + list(after)
    seed(target, name, data, dec)


def b64(b):
    import base64
    return base64.b64encode(b)


PLAIN_OK = b"AUTH PLAIN " + b64(b"\0alice@local.example\0secret") + b"\r\n"
LOGIN_USER = b"AUTH LOGIN\r\n" + b64(b"alice@local.example") + b"\r\n"
LOGIN_PASS = b64(b"secret") + b"\r\n"
OFFSITE = b"RCPT TO:<someone@elsewhere.example>\r\n"
START = EHLO + b"STARTTLS\r\n" + b"MAIL FROM:<inject@pre.tls>\r\n"
TLS_ON = 7 | 1 << 5  # the handshake is done
NOW_OK, NOW_FAIL, NOW_LIMIT = [0, 0], [0, 1], [0, 3]  # answer now, with that result
# a relayed message: the relay answers RCPT, DATA and the end with 2xx/3xx (0)
RELAYED = [(MAIL, []), (OFFSITE, [0]), (b"DATA\r\n", [0]), (BODY, [0]), (b"QUIT\r\n", [])]
REFUSED = [(MAIL, []), (OFFSITE, []), (b"QUIT\r\n", [])]
talk("smtp", "auth-plain-clear", [port_of(9), 0], [(EHLO, []), (PLAIN_OK, NOW_OK)] + RELAYED)
talk("smtp", "auth-login-clear", [port_of(9), 0],
     [(EHLO, []), (LOGIN_USER, []), (LOGIN_PASS, NOW_OK)] + RELAYED)
talk("smtp", "auth-fail-no-relay", [port_of(10), 0], [(EHLO, []), (PLAIN_OK, NOW_FAIL)] + REFUSED)
talk("smtp", "auth-limit-then-ok", [port_of(9), 0],
     [(EHLO, []), (PLAIN_OK, NOW_LIMIT), (PLAIN_OK, NOW_OK)] + RELAYED)
talk("smtp", "auth-busy", [port_of(9), 0, 7 | 4 << 5], [(EHLO, []), (PLAIN_OK, [])] + REFUSED)
talk("smtp", "auth-abort-and-errors", [port_of(9), 0],
     [(EHLO, []), (b"AUTH PLAIN\r\n*\r\nAUTH LOGIN\r\n!!!\r\nAUTH CRAM-MD5\r\n", []),
      (b"AUTH PLAIN =\r\n", []), (MAIL, []), (b"AUTH PLAIN\r\n" + b"A" * 700 + b"\r\n", []),
      (b"QUIT\r\n", [])])
# the answer comes later (1), pipelined commands wait in TCP, then a decision answers (OK)
talk("smtp", "auth-later-pipelined", [port_of(9), 0],
     [(EHLO, []), (PLAIN_OK, [1]), (MAIL + OFFSITE, [7 | 6 << 5, 0, 0]),
      (b"DATA\r\n", [0]), (BODY, [0]), (b"QUIT\r\n", [])])
talk("smtp", "auth-later-timeout", [port_of(9), 0], [(EHLO, []), (PLAIN_OK, [1, 4 | 12 << 3])])
talk("smtp", "auth-in-clear-refused", [port_of(11), 0], [(EHLO, []), (PLAIN_OK, [])] + REFUSED)
talk("smtp", "starttls-auth", [port_of(11), 0],
     [(START, [TLS_ON]), (EHLO, []), (PLAIN_OK, NOW_OK)] + RELAYED)
talk("smtp", "starttls-login-clear-service", [port_of(13), 0],
     [(START, [TLS_ON]), (EHLO, []), (LOGIN_USER, []), (LOGIN_PASS, NOW_OK)] + RELAYED)
talk("smtp", "starttls-required", [port_of(12), 0],
     [(EHLO + MAIL, []), (START, [TLS_ON]), (EHLO, []), (PLAIN_OK, NOW_OK)] + RELAYED)
talk("smtp", "starttls-unavailable", [port_of(11), 0, 7 | 2 << 5],
     [(START, []), (PLAIN_OK, [])] + REFUSED)
talk("smtp", "starttls-bytes-during-handshake", [port_of(11), 0],
     [(START, []), (b"\x16\x03\x01garbage\r\nQUIT\r\n", [TLS_ON]), (EHLO + b"QUIT\r\n", [])])
talk("smtp", "starttls-twice", [port_of(11), 0],
     [(START, [TLS_ON]), (EHLO + b"STARTTLS\r\n", []), (PLAIN_OK, NOW_OK)] + RELAYED)

# ---- fuzz_relay: backend replies, DATA streams, hand-off ----

EHLO_REPLY = (b"250-mx.backend.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
              b"250-ETRN\r\n250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\r\n"
              b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n")
REPLIES = {
    "banner": b"220 mx.backend.example ESMTP Postfix\r\n",
    "ehlo": EHLO_REPLY,
    "session": b"220 mx ESMTP\r\n" + EHLO_REPLY + b"220 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
    b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 4Fq1\r\n221 2.0.0 Bye\r\n",
    "refusals": b"550 5.1.1 <u@local.example>: Recipient address rejected: User unknown\r\n"
    b"451 4.3.0 Error: queue file write error\r\n421 4.4.2 mx Error: timeout exceeded\r\n",
    "bad": b"250-a\r\n251 b\r\n2x0 c\r\n250\tx\r\n250 \x01\r\n250 a\rb\r\n250 a\n",
}
for name, data in REPLIES.items():
    seed("relay", "rp-" + name, data, [0, 0])
    seed("relay", "rp-" + name + "-cut", data, [0, 12] + [5, 1, 9, 30, 2, 7, 64, 3, 1, 1, 100, 13])
STREAMS = {
    "plain": BODY,
    "empty": b".\r\n",
    "stuffed": b"..a\r\n...\r\n.b\r\n\r\n.\r\nMAIL FROM:<next@x>\r\n",
    "bare-lf": b"a\n.\nb\r\n.\r\n",
    "bare-cr": b"a\r.\rb\r\n.\r\n",
    "dot-lf": b"a\r\n.\nb\r\n.\r\n",
    "binary": b"\x00\xff\x80abc\r\n" + bytes(range(32)) .replace(b"\r", b"").replace(b"\n", b"") + b"\r\n.\r\n",
    "long": (b"y" * 200 + b"\r\n") * 8 + b".\r\n",
}
for name, data in STREAMS.items():
    seed("relay", "ds-" + name, data, [1, 0, 0, 0])
    seed("relay", "ds-" + name + "-limit", data, [1, 40, 0, 5] + [1, 2, 3, 50, 9])
ident = b"client.example" + b"rev.example" + b"helo.example" + b"user"
seed("relay", "xclient", ident, [2, 0xff, 0x01, 4] + [192, 0, 2, 9] + [0] * 12 + [0x10, 0x27]
     + [0] + [192, 0, 2, 1] + [0] * 12 + [25, 0] + [1] + [15, 0, 12, 0, 13, 0, 5, 0])

# ---- fuzz_policy: the example policy and its list files ----

policy = read("examples/policy.conf")
seed("policy", "example", policy)
for lst in ("blocked-clients.txt", "hosted-domains.txt"):
    seed("policy", "example-" + lst, policy + b"\n%%list\n" + read("examples/lists/" + lst))
UNIT_POLICY = b"""hostname = "mx.test.example";
local_domains = [ "local.example", ".sub.example" ];
local_hosts = [ "gw.local.example" ];
local_addresses = [ "192.0.2.1", "2001:db8::1" ];
lan = [ "10.0.0.0/8", "2001:db8:1::/48" ];
relay { allow_clients = [ "172.16.0.0/12" ]; }
blacklist {
  clients = [ "198.51.100.0/24", "2001:db8:bad::/48", "file:bl.txt" ];
  helo = [ "bad.helo.example", "*.dyn.example" ];
  senders = [ "spammer@bad.example", "*@glob.example", "/^[a-z]{2}[0-9]{6,}@/", "<>", "user@" ];
  recipients = [ "trap@local.example", "file:missing.txt" ];
}
whitelist {
  clients = [ "198.51.100.7" ]; helo = [ "good.helo.example" ];
  senders = [ "friend@bad.example", "file:wl.txt" ]; recipients = [ "postmaster@local.example" ];
}
service mx { ports = [25]; reject_remote_local_helo = true;
  reject_nonlocal_senders_claiming_local = true; }
service mxdelay { ports = [2525]; delay_reject = true; banner = "$hostname ESMTP delayed"; }
service sub { ports = [587]; require_auth = true; backend_at = data; }
service small { ports = [26]; max_recipients = 3; message_size_limit = 1k;
  max_errors = 5; command_timeout = 10s; session_timeout = 1min; }
backend { address = [ "127.0.0.1:10025", "[::1]:10026" ]; handoff = xclient; connect_timeout = 5s; }
"""
seed("policy", "unit", UNIT_POLICY + b"%%list\n# list\n192.0.2.0/24\n*@spam.example\n.example.org\n/x+y/\n2001:db8::/32\n")
seed("policy", "json", b'{"hostname":"mx.example","local_domains":["a.example"],'
     b'"service":{"mx":{"ports":[25],"delay_reject":true}}}')

# ---- fuzz_ctl: request payloads as smtpgatectl sends them ----


def payload(js, files=()):
    out = struct.pack(">I", len(js)) + js + struct.pack(">I", len(files))
    for path, data in files:
        out += struct.pack(">I", len(path)) + path + struct.pack(">I", len(data)) + data
    return out


for cmd in (b"show", b"stats", b"drain", b"version"):
    seed("ctl", cmd.decode(), payload(b'{"cmd":"%s"}' % cmd))
seed("ctl", "push", payload(b'{"cmd":"push","main":"examples/policy.conf"}',
                            [(b"examples/policy.conf", policy),
                             (b"examples/lists/hosted-domains.txt", read("examples/lists/hosted-domains.txt"))]))
seed("ctl", "explain", payload(b'{"cmd":"explain","json":false,"service":"mx","client":"192.0.2.9",'
                               b'"auth":"u","helo":"h.example","from":"a@b.example",'
                               b'"rcpt":["u@local.example","x@y.example"]}'))
seed("ctl", "ucl", b'a = 1; b { c = "d\\u00e9\\n"; e = [1, 2.5, yes, off, 10s, 5min, 1kb]; }\n'
     b'# comment\n/* block */ f = <<EOD\nheredoc\nEOD\n')

# ---- fuzz_gconf ----

gate = read("examples/gate.conf")
seed("gconf", "example", gate)
seed("gconf", "full", b'port edge0 { device = "net_tap0,iface=sg0"; address = [ "192.0.2.25/24", '
     b'"2001:db8:25::25/64" ]; mtu = 1500; rx_desc = 1024; tx_desc = 1024; offload = true; }\n'
     b'port edge1 { device = "0000:01:00.0"; address = "198.51.100.2/24"; }\n'
     b'route = [ { prefix = "0.0.0.0/0"; via = "192.0.2.1"; port = edge0; },'
     b' { prefix = "2001:db8::/32"; port = edge1; } ];\nlcores = [ 1, 2 ];\n'
     b'limits { max_flows = 1000; syn_backlog = 16; mbufs = 1023; arp_timeout = 30s; }\n'
     b'control { socket = "/run/x.sock"; mode = "0660"; group = "root"; }\n'
     b'metrics { listen = "[::1]:9125"; }\nlog = "file:/var/log/smtpgate.log";\n')

# ---- fuzz_tcp: conversations with the stack ----


def tseg(peer=0, port=0, flags=0x10, seqm=(0,), ackm=(0,), wnd=0, opt=(0,), ln=0):
    """the decisions of one segment operation, in the order fuzz_tcp reads them"""
    d = [0 | peer << 3 | port << 6, flags, opt[0], wnd & 0xff, wnd >> 8]
    return d + list(seqm) + list(ackm) + list(opt[1:]) + [ln]


SYN = tseg(flags=0x02, opt=(1 | 7 << 4,))
ACK = tseg()
HS = SYN + ACK
conv = [0, 4]  # small buffers; echo on, take all, close on FIN
conv += HS + tseg(flags=0x18, ln=20) + [0] + [3 | 3 << 3] + ACK + tseg(flags=0x11) + ACK
seed("tcp", "echo-session", b"", conv)
seed("tcp", "handshake", b"", [0, 0] + HS)
seed("tcp", "ooo", b"", [0, 0] + HS + tseg(flags=0x18, seqm=(1, 40), ln=40) + tseg(flags=0x18, seqm=(1, 10), ln=30)
     + tseg(flags=0x18, ln=10) + tseg(flags=0x18, seqm=(1, 0xfb), ln=100))
seed("tcp", "cookies", b"", [8, 0] + HS + tseg(flags=0x18, ln=64))
seed("tcp", "rst", b"", [0, 0] + HS + tseg(flags=0x04) + SYN + tseg(flags=0x04, seqm=(1, 5)))
seed("tcp", "zero-window", b"", [0, 4] + HS + tseg(flags=0x18, ln=50) + [0] + tseg(wnd=65535)
     + [3 | 8 << 3] * 6 + tseg(wnd=0))
seed("tcp", "active-open", b"", [0, 0, 5] + tseg(peer=4, flags=0x12, seqm=(3, 1, 2, 3, 4), opt=(3, 0xb4, 0x05))
     + tseg(peer=4, flags=0x18, ln=30) + [4 | 1 << 3, 0] + tseg(peer=4, flags=0x11) + [3 | 10 << 3])
seed("tcp", "v6-and-587", b"", [2, 0, 7] + tseg(peer=3, port=1, flags=0x02, opt=(1 | 14 << 4,))
     + tseg(peer=3, port=1) + tseg(peer=3, port=1, flags=0x18, ln=0x80 | 60) + [3 | 15 << 3])
seed("tcp", "raw-options", bytes([2, 4, 0, 0, 3, 3, 15, 1, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]),
     [0, 0] + tseg(flags=0x02, opt=(2 | 4 << 2,)) + ACK)
seed("tcp", "flood", b"", [0, 0] + sum((tseg(peer=p, flags=0x02, seqm=(3, p, p, p, p)) for p in range(4)), [])
     + [3 | 12 << 3])
seed("tcp", "retransmit", b"", [0, 4] + HS + tseg(flags=0x18, ln=0x80 | 40) + [0]
     + [3 | 9 << 3] * 5 + ACK)
print("seeds written under", CORPUS)
