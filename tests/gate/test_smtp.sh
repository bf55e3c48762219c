#!/usr/bin/env bash
# test_smtp - real SMTP clients against the gate through TAP: swaks and
# Python's smtplib from the Linux stack, in a network namespace. Every
# refusal path of the policy, pipelining, long lines, bare LF, RSET and
# several transactions, over IPv4 and IPv6, and the Postfix log lines.
# Usage: test_smtp.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! command -v swaks >/dev/null; then
	echo "1..0 # SKIP swaks is not installed"
	exit 0
fi

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgs0";
    address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
}
limits { mbufs = 4095; max_flows = 4096; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
local_hosts = [ "gw.local.example" ];
lan = [ "192.0.2.10/32" ];
blacklist {
    clients = [ "192.0.2.66/32", "2001:db8:25::66/128" ];
    helo = [ "*.dyn.example" ];
    senders = [ "*@spam.example" ];
    recipients = [ "trap@local.example" ];
}
whitelist { recipients = [ "postmaster@local.example" ]; }
service mx {
    ports = [ 25 ];
    reject_remote_local_helo = true;
    reject_nonlocal_senders_claiming_local = true;
    max_recipients = 3;
    command_timeout = 2s;
}
service submission { ports = [ 587 ]; require_auth = true; }
service pg { ports = [ 2626 ]; greet_wait = 1s; }
POL

gate_start sgsmtp "$T/gate.conf" "$T/policy.conf"
ok $? "the gate starts"
in_ns ip addr add 192.0.2.10/24 dev sgs0
in_ns ip addr add 192.0.2.66/24 dev sgs0
in_ns ip addr add 2001:db8:25::66/64 dev sgs0 nodad

sw() { # sw ARGS...: swaks in the namespace, transcript in $T/out
	in_ns swaks --server 192.0.2.25 --timeout 5 --helo h.remote.example "$@" >"$T/out" 2>&1
}

sw --from a@remote.example --to u@local.example --quit-after RCPT
grep -q "<-  220 mx.gate.example ESMTP" "$T/out" && grep -q "<-  250 2.1.5 Ok" "$T/out"
ok $? "swaks: banner, EHLO, local recipient accepted"
grep -q "250-PIPELINING" "$T/out" && grep -q "250-SIZE 10240000" "$T/out" && grep -q "250 ENHANCEDSTATUSCODES" "$T/out"
ok $? "EHLO advertises PIPELINING, SIZE, ENHANCEDSTATUSCODES"

sw --from a@remote.example --to x@elsewhere.example --quit-after RCPT
grep -q "<\*\* 554 5.7.1 <x@elsewhere.example>: Relay access denied" "$T/out"; ok $? "relay attempt: 554 5.7.1 Relay access denied"

sw --from a@remote.example --to x@elsewhere.example --quit-after RCPT --local-interface 192.0.2.10
grep -q "<-  250 2.1.5 Ok" "$T/out"; ok $? "a lan client may relay"

sw --from boss@spam.example --to u@local.example --quit-after RCPT
grep -q "<\*\* 550 5.7.1 <boss@spam.example>: Sender address rejected: Access denied" "$T/out"; ok $? "blacklisted sender"

sw --from a@remote.example --to trap@local.example --quit-after RCPT
grep -q "<\*\* 550 5.7.1 <trap@local.example>: Recipient address rejected: Access denied" "$T/out"; ok $? "blacklisted recipient"

sw --helo host1.dyn.example --from a@remote.example --to u@local.example --quit-after RCPT
grep -q "<\*\* 550 5.7.1 <host1.dyn.example>: Helo command rejected: Access denied" "$T/out"; ok $? "blacklisted HELO"

sw --helo gw.local.example --from a@remote.example --to u@local.example --quit-after RCPT
grep -q "Helo command rejected: Host claims to be local" "$T/out"; ok $? "remote client with a local HELO"

sw --from ceo@local.example --to u@local.example --quit-after RCPT
grep -q "Sender address rejected: Non-local sender claiming to be local" "$T/out"; ok $? "non-local sender claiming to be local"

sw --from a@remote.example --to u@local.example --quit-after RCPT --local-interface 192.0.2.66
grep -q "<\*\* 554 5.7.1 <unknown\[192.0.2.66\]>: Client host rejected: Access denied" "$T/out"; ok $? "blacklisted client: 554 greeting"

sw --from a@remote.example --to u@local.example --port 587 --quit-after RCPT
grep -q "<\*\* 530 5.7.0 Authentication required" "$T/out"; ok $? "submission without AUTH: 530"

sw --from a@remote.example --to u@local.example
grep -q "<\*\* 451 4.4.1" "$T/out" && ! grep -q "<-  250 2.0.0 Ok: queued" "$T/out"; ok $? "DATA: 451 4.4.1, never a 2xx (no backend yet)"

in_ns swaks --server 2001:db8:25::25 --timeout 5 --local-interface 2001:db8:25::1 --helo h.remote.example --from a@remote.example --to x@elsewhere.example --quit-after RCPT >"$T/out" 2>&1
grep -q "<\*\* 554 5.7.1 <x@elsewhere.example>: Relay access denied" "$T/out"; ok $? "IPv6: relay denied"
in_ns swaks --server 2001:db8:25::25 --timeout 5 --local-interface 2001:db8:25::66 --helo h --from a@remote.example --to u@local.example --quit-after RCPT >"$T/out" 2>&1
grep -q "unknown\[2001:db8:25::66\]>: Client host rejected" "$T/out"; ok $? "IPv6: blacklisted client"

# Python's smtplib and a raw socket for what swaks cannot do
in_ns /usr/bin/python3 - >"$T/out" 2>&1 <<'PY'
import smtplib, socket, time
def check(name, cond):
    print(("PASS " if cond else "FAIL ") + name)
s = smtplib.SMTP("192.0.2.25", 25, timeout=5)
code, _ = s.ehlo("h.remote.example")
check("smtplib ehlo", code == 250 and s.has_extn("pipelining"))
check("smtplib mail", s.mail("a@remote.example")[0] == 250)
check("smtplib rcpt 1", s.rcpt("u1@local.example")[0] == 250)
check("smtplib rcpt 2", s.rcpt("u2@local.example")[0] == 250)
check("smtplib rcpt 3", s.rcpt("u3@local.example")[0] == 250)
check("smtplib rcpt 4: too many", s.rcpt("u4@local.example")[0] == 452)
check("smtplib rset", s.rset()[0] == 250)
check("smtplib second transaction, blacklisted sender", s.mail("x@spam.example")[0] == 550)
check("smtplib third transaction", s.mail("b@remote.example")[0] == 250)
check("smtplib noop", s.noop()[0] == 250)
check("smtplib vrfy", s.verify("u@local.example")[0] == 252)
check("smtplib quit", s.quit()[0] == 221)

def raw(data, wait=1.0, family=socket.AF_INET, addr="192.0.2.25"):
    c = socket.socket(family, socket.SOCK_STREAM)
    c.settimeout(3)
    c.bind(("192.0.2.1", 0) if family == socket.AF_INET else ("2001:db8:25::1", 0))
    c.connect((addr, 25))
    got = b""
    got += c.recv(4096)
    c.sendall(data)
    end = time.time() + wait
    while time.time() < end:
        try:
            b = c.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        got += b
    c.close()
    return got.decode("latin-1")

r = raw(b"EHLO h\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<u@local.example>\r\nRCPT TO:<x@elsewhere.example>\r\nNOOP\r\nQUIT\r\n")
lines = [l for l in r.split("\r\n") if l]
codes = [l[:3] for l in lines if not l[3:4] == "-"]
check("pipelined commands answered in order", codes == ["220", "250", "250", "250", "554", "250", "221"])
r = raw(b"EHLO h\r\nNOOP " + b"x" * 600 + b"\r\nNOOP\r\nQUIT\r\n")
check("a line over 512 octets: 500 5.5.6, then the session goes on", "500 5.5.6" in r and r.rstrip().endswith("221 2.0.0 Bye"))
r = raw(b"EHLO h\nNOOP\r\n")
check("bare LF refused and the session closed", "521 5.5.2 mx.gate.example Error: bare <LF> received" in r and "250 2.0.0" not in r)
r = raw(b"", wait=3.5)
check("command timeout: 421 4.4.2", "421 4.4.2" in r)
r = raw(b"EHLO h\r\nQUIT\r\n", family=socket.AF_INET6, addr="2001:db8:25::25")
check("IPv6 raw session", r.startswith("220 ") and "221 2.0.0 Bye" in r)
# a segment at a time: one byte per send
c = socket.create_connection(("192.0.2.25", 25), timeout=3)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.recv(4096)
for b in b"EHLO h\r\nQUIT\r\n":
    c.send(bytes([b]))
    time.sleep(0.002)
got = b""
while True:
    try:
        b = c.recv(4096)
    except socket.timeout:
        break
    if not b:
        break
    got += b
check("commands split into 1-byte segments", b"221 2.0.0 Bye" in got)
PY
while read -r res name; do
	[ "$res" = PASS ]; ok $? "$name"
done < <(grep -E "^(PASS|FAIL) " "$T/out")
grep -q "^PASS IPv6 raw session" "$T/out"; ok $? "the Python checks all ran"

# a closed port gets RST: the connection is refused at once
in_ns /usr/bin/python3 -c "
import socket,sys
try:
    socket.create_connection(('192.0.2.25', 2525), timeout=2); sys.exit(1)
except ConnectionRefusedError: sys.exit(0)
"
ok $? "a SYN to a closed port is answered with RST"

# greet_wait: a client that talks before the banner is refused; one that waits is greeted
in_ns python3 - >"$T/out" 2>&1 <<'PY'
import socket, time
bot = socket.create_connection(("192.0.2.25", 2626), timeout=5)
bot.sendall(b"EHLO bot.example\r\n")
got = b""
while True:
    d = bot.recv(512)
    if not d:
        break
    got += d
print("bot", got.decode().strip(), "closed")
t = time.time()
good = socket.create_connection(("192.0.2.25", 2626), timeout=5)
banner = good.recv(512).decode().strip()
print("waited %.1f" % (time.time() - t), banner)
PY
grep -qx "bot 521 5.5.1 Protocol error closed" "$T/out"
ok $? "greet_wait: talking before the banner gets 521 5.5.1 and the end"
grep -qE "^waited (0\.9|1\.[0-9]) 220 mx.gate.example" "$T/out"
ok $? "greet_wait: a client that waits gets the banner after the wait ($(sed -n 2p "$T/out"))"

sleep 0.2
gate_stop
[ "$gate_rc" -eq 0 ]; ok $? "the gate stops cleanly"
! grep -q "runtime error\|Sanitizer" "$gate_log"; ok $? "no sanitizer report from the gate"
grep -q "smtpgate/smtpd\[[0-9]*\]: NOQUEUE: reject: RCPT from unknown\[192.0.2.1\]: 554 5.7.1 <x@elsewhere.example>: Relay access denied; from=<a@remote.example> to=<x@elsewhere.example> proto=ESMTP helo=<h.remote.example>" "$gate_log"
ok $? "Postfix reject log line for the relay attempt"
grep -q "NOQUEUE: reject: CONNECT from unknown\[192.0.2.66\]: 554 5.7.1" "$gate_log"; ok $? "log line for the refused client"
grep -q "lost_output 0" "$gate_log"; ok $? "no engine output was lost"
grep -q "pregreet after CONNECT from unknown\[192.0.2.1\]" "$gate_log"; ok $? "the pregreet is logged"

echo "1..$n"
[ $failed -eq 0 ]
