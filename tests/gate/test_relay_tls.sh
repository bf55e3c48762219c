#!/usr/bin/env bash
# test_relay_tls - TLS on the backend leg (backend tls = may, encrypt,
# verify) against real peers: a private Postfix with a certificate from a CA
# made here (smtpd_tls_security_level = may, XCLIENT for the gate) and
# Postfix's smtp-sink (no STARTTLS). With encrypt and verify the message
# reaches Postfix, whose log and Received header show TLSv1.3 and the
# cipher, and XCLIENT still gives it the original client; a capture of the
# backend leg holds STARTTLS but no MAIL FROM and no message text in clear.
# verify with a wrong name or an untrusted CA, and encrypt against a backend
# without STARTTLS, cost the client a 4xx and deliver nothing; may delivers
# in plaintext to smtp-sink and through TLS to Postfix; with proxy-v2 the
# header goes first in clear, then TLS. A 10 MiB message goes through TLS
# and its body arrives intact (SHA-256 of what Postfix stored). Counters
# (smtpgate_backend_tls_total{result}) and log lines say what happened.
# Policies are changed by live pushes; one gate, one Postfix.
# Usage: test_relay_tls.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
. tests/lib/postfix.sh
gate_script "$@"
for tool in /usr/sbin/postfix smtp-sink swaks openssl tcpdump; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done
if ! id postfix >/dev/null 2>&1; then
	echo "1..0 # SKIP no postfix user"
	exit 0
fi
CTL=$BUILD/tools/smtpgatectl
PF=$T/postfix
SOCK=$T/run/ctl.sock
trap 'pf_stop; sink_stop; gate_stop; rm -rf "$T"' EXIT
chmod 755 "$T"
install -d -o nobody -m 700 "$T/run"
ctl() { "$CTL" -s "$SOCK" "$@"; }

# ---- certificates: our CA, the backend's certificate from it, a stranger CA ----
certs() {
	cd "$T" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=sgtb test CA" -keyout ca.key -out ca.pem &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=sgtb stranger CA" -keyout other-ca.key -out other-ca.pem &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj "/CN=backend.example" -keyout backend.key -out backend.csr &&
		printf 'subjectAltName=DNS:backend.example\n' >backend.ext &&
		openssl x509 -req -in backend.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 2 -extfile backend.ext -out backend.pem
	local rc=$?
	cd "$SRC" || return 1
	return $rc
}
echo "1..20"
certs >"$T/out" 2>&1
ok $? "openssl makes a CA, a backend certificate for backend.example from it, and a stranger CA"

cat >"$T/gate.conf" <<CONF
port edge0 {
    device = "net_tap0,iface=sgtb0";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 8191; max_flows = 1024; }
control { socket = "$SOCK"; }
CONF

# policy NAME PORT TLS [extra backend keys]: $T/NAME.conf
policy() {
	cat >"$T/$1.conf" <<POL
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; command_timeout = 20s; message_size_limit = 30000000; }
backend { address = [ "192.0.2.1:$2" ]; handoff = "$4"; connect_timeout = 3s;
    tls = $3; $5 }
POL
}
policy encrypt 2526 encrypt xclient ""
policy verify 2526 verify xclient 'tls_ca = "file:ca.pem"; tls_server_name = "backend.example";'
policy wrongname 2526 verify xclient 'tls_ca = "file:ca.pem"; tls_server_name = "mx.other.example";'
policy stranger 2526 verify xclient 'tls_ca = "file:other-ca.pem"; tls_server_name = "backend.example";'
policy may 2526 may xclient ""
policy proxy 2527 encrypt proxy-v2 ""
policy may-sink 2525 may none ""
policy encrypt-sink 2525 encrypt none ""

# our own Postfix (tests/lib/postfix.sh) with STARTTLS; it puts every
# message on hold so that the test can read it back
PF_MAIN_EXTRA="message_size_limit = 30000000
smtpd_end_of_data_restrictions = check_client_access static:HOLD
smtpd_tls_security_level = may
smtpd_tls_cert_file = $T/backend.pem
smtpd_tls_key_file = $T/backend.key
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1"
held() { find "$PF/spool/hold" -type f 2>/dev/null | wc -l; }

# push NAME: the policy $T/NAME.conf, live
push() {
	ctl push "$T/$1.conf" >"$T/out" 2>&1
}

# send ID: swaks from 192.0.2.77 through the gate; its transcript in $T/swaks.ID
send() {
	in_ns swaks --server 192.0.2.25 --timeout 30 --helo client.remote.example \
		--from sender@remote.example --to user@local.example -li 192.0.2.77 \
		--header "Subject: backend tls $1" --body "secret body text $1" >"$T/swaks.$1" 2>&1
}

metrics() { in_ns curl -s --max-time 5 http://127.0.0.1:9125/metrics >"$T/metrics" 2>/dev/null; }
m() { awk -v k="$1" -v l="$2" 'index($1, k "{") == 1 && index($1, l) { s += $2 } END { print s + 0 }' "$T/metrics"; }

gate_start sgtbrelay "$T/gate.conf" "$T/encrypt.conf" -m 512
ok $? "the gate starts with backend tls = encrypt"
in_ns ip addr add 192.0.2.77/24 dev sgtb0
pf_start
ok $? "a private Postfix with STARTTLS (smtpd_tls_security_level = may) listens on the kernel side"

# ---- encrypt: the message arrives through TLS; the leg carries nothing in clear ----
in_ns tcpdump -i sgtb0 -U -s 0 -w "$T/leg.pcap" tcp port 2526 >/dev/null 2>&1 &
dump_pid=$!
sleep 1
: >"$PF/maillog"
send encrypt
rc=$?
sleep 1
kill "$dump_pid" 2>/dev/null
wait "$dump_pid" 2>/dev/null
grep -q "^<-  250 2.0.0 Ok" "$T/swaks.encrypt" && [ $rc -eq 0 ] && [ "$(held)" -eq 1 ]
ok $? "encrypt: the message reaches Postfix, whose 250 the client gets"
cp "$PF/maillog" "$T/log.encrypt"
sed 's/^/# postfix: /' "$T/log.encrypt" | grep -E "TLS connection|client=" | head -3
grep -q "TLS connection established from .*192.0.2.25.*: TLSv1.3 with cipher TLS_[A-Z0-9_]*" "$T/log.encrypt" &&
	grep -q "client=unknown\[192.0.2.77\]" "$T/log.encrypt"
ok $? "encrypt: Postfix logs a TLSv1.3 connection from the gate, and XCLIENT's original client 192.0.2.77"
qid=$(basename "$(find "$PF/spool/hold" -type f | head -1)")
in_ns postcat -c "$PF/etc" -h -q "$qid" >"$T/headers" 2>"$T/out"
grep -A2 "^Received: from client.remote.example (unknown \[192.0.2.77\])" "$T/headers" | sed 's/^/# /'
grep -q "^Received: from client.remote.example (unknown \[192.0.2.77\])" "$T/headers" &&
	grep -q "(using TLSv1.3 with cipher TLS_[A-Z0-9_]* ([0-9]*/[0-9]* bits)" "$T/headers"
ok $? "encrypt: the Received header names the original client and says TLSv1.3 with its cipher"
tcpdump -r "$T/leg.pcap" -A 2>/dev/null >"$T/leg.txt"
pkts=$(tcpdump -r "$T/leg.pcap" 2>/dev/null | wc -l)
echo "# capture of the backend leg: $pkts packets"
[ "$pkts" -ge 10 ] && grep -q "STARTTLS" "$T/leg.txt" && ! grep -qi "MAIL FROM" "$T/leg.txt" &&
	! grep -q "secret body text" "$T/leg.txt" && ! grep -q "sender@remote.example" "$T/leg.txt"
ok $? "encrypt: the backend leg shows STARTTLS in clear, then no MAIL FROM, sender or body text"
grep -q "Untrusted TLS connection established to backend 192.0.2.1:2526 for unknown\[192.0.2.77\]: TLSv1.3 with cipher" "$gate_log"
ok $? "encrypt: the gate logs the backend leg's protocol and cipher ($(grep -o 'TLS connection established to backend.*' "$gate_log" | head -1))"

# ---- verify: the chain against our CA, the name backend.example ----
push verify
ok $? "push: backend tls = verify with tls_ca and tls_server_name"
send verify
grep -q "^<-  250 2.0.0 Ok" "$T/swaks.verify" && [ "$(held)" -eq 2 ] &&
	grep -q "Verified TLS connection established to backend 192.0.2.1:2526" "$gate_log"
ok $? "verify: a certificate from the trusted CA for backend.example: delivered, logged as Verified"

# ---- verify: the wrong name, a stranger CA: 4xx, nothing delivered ----
push wrongname
send wrongname
grep -q "^<\*\* *451 4.7.5 Error: backend server certificate not verified" "$T/swaks.wrongname" &&
	[ "$(held)" -eq 2 ] && grep -q "TLS (verify): certificate: server certificate not verified: hostname mismatch" "$gate_log"
ok $? "verify, tls_server_name not in the certificate: 451 4.7.5, nothing delivered, 'hostname mismatch' logged"
push stranger
send stranger
grep -q "^<\*\* *451 4.7.5 Error: backend server certificate not verified" "$T/swaks.stranger" &&
	[ "$(held)" -eq 2 ] && grep -q "TLS (verify): certificate: server certificate not verified: unable to get local issuer certificate" "$gate_log"
ok $? "verify, a CA we do not trust: 451 4.7.5, nothing delivered, the reason logged"
grep -o "warning: relay to backend.*TLS.*" "$gate_log" | sed 's/^/# gate: /'

# ---- may against a backend that offers STARTTLS: TLS; PROXY v2 first in clear ----
push may
: >"$PF/maillog"
send may
sleep 1
grep -q "^<-  250 2.0.0 Ok" "$T/swaks.may" && [ "$(held)" -eq 3 ] &&
	grep -q "TLS connection established from .*: TLSv1.3" "$PF/maillog"
ok $? "may, the backend offers STARTTLS: delivered through TLSv1.3"
push proxy
: >"$PF/maillog"
send proxy
sleep 1
grep "connect from\|TLS connection" "$PF/maillog" | head -2 | sed 's/^/# postfix: /'
grep -q "^<-  250 2.0.0 Ok" "$T/swaks.proxy" && [ "$(held)" -eq 4 ] &&
	grep -q "connect from unknown\[192.0.2.77\]" "$PF/maillog" &&
	grep -q "TLS connection established from unknown\[192.0.2.77\]: TLSv1.3" "$PF/maillog"
ok $? "proxy-v2 and encrypt: the header first in clear, then TLS; Postfix sees 192.0.2.77 over TLSv1.3"

# ---- a 10 MiB message through TLS: its body arrives intact ----
push encrypt
cat >"$T/big.py" <<'PY'
import base64, hashlib, random, smtplib, sys, time
rnd = random.Random(20261129)
text = base64.b64encode(rnd.randbytes(8 * 1024 * 1024)).decode()
lines, size, at = [], 0, 0
while size < 10 * 1024 * 1024:
    n = rnd.randrange(0, 78)
    line = text[at:at + n]
    at = (at + n) % (len(text) - 80)
    if rnd.random() < 0.01:
        line = "." + line  # dot-stuffed on the wire, unstuffed by Postfix
    lines.append(line)
    size += len(line) + 2
body = "\r\n".join(lines) + "\r\n"
msg = ("From: <sender@remote.example>\r\nTo: <user@local.example>\r\n"
       "Subject: ten MiB\r\n\r\n" + body).encode()
start = time.monotonic()
s = smtplib.SMTP("192.0.2.25", 25, local_hostname="client.remote.example", timeout=120,
                 source_address=("192.0.2.77", 0))
s.sendmail("sender@remote.example", ["user@local.example"], msg)
s.quit()
took = time.monotonic() - start
# Postfix stores lines, postcat prints them with LF
lf = body.replace("\r\n", "\n").encode()
open(sys.argv[1], "wb").write(lf)
print(len(body), hashlib.sha256(lf).hexdigest(), "%.1f" % took)
PY
before=$(held)
ls "$PF/spool/hold" >"$T/hold.before"
in_ns python3 "$T/big.py" "$T/big.lf" >"$T/big.sent" 2>"$T/out"
rc=$?
sleep 1
qid=$(ls "$PF/spool/hold" | grep -vxF -f "$T/hold.before" | head -1)
# postcat -b: the empty line that ends the headers, then the body
in_ns postcat -c "$PF/etc" -b -q "$qid" 2>>"$T/out" | tail -n +2 >"$T/big.stored"
sha256sum <"$T/big.stored" | cut -d' ' -f1 >"$T/big.got"
cmp "$T/big.lf" "$T/big.stored" >>"$T/out" 2>&1
echo "# 10 MiB sent in $(cut -d' ' -f3 "$T/big.sent") s (EHLO to QUIT): sent $(cut -d' ' -f1 "$T/big.sent") body bytes, sha256 $(cut -c1-16 <"$T/big.got")... stored, $(cut -d' ' -f2 "$T/big.sent" | cut -c1-16)... sent"
[ $rc -eq 0 ] && [ "$(held)" -eq $((before + 1)) ] && [ "$(cut -d' ' -f2 "$T/big.sent")" = "$(cat "$T/big.got")" ]
ok $? "a 10 MiB message through TLS to Postfix: its body's SHA-256 is the same"

# ---- smtp-sink: no STARTTLS ----
sink_start
push may-sink
send maysink
grep -q "^<-  250 2.0.0 Ok" "$T/swaks.maysink" && grep -rqs "secret body text maysink" "$T/dump"
ok $? "may, a backend without STARTTLS (smtp-sink): delivered in plaintext"
push encrypt-sink
n0=$(ls "$T/dump" | wc -l)
send encryptsink
grep -q "^<\*\* *451 4.7.4 Error: TLS is required, but was not offered by the backend" "$T/swaks.encryptsink" &&
	[ "$(ls "$T/dump" | wc -l)" -eq "$n0" ]
ok $? "encrypt, a backend without STARTTLS: 451 4.7.4, nothing delivered"

# ---- counters ----
metrics
okc=$(m smtpgate_backend_tls_total 'result="ok"')
plain=$(m smtpgate_backend_tls_total 'result="plaintext"')
cert=$(m smtpgate_backend_tls_total 'result="certificate"')
noff=$(m smtpgate_backend_tls_total 'result="not_offered"')
v13=$(m smtpgate_backend_tls_handshakes_total 'protocol="tls1_3"')
ciphers=$(m smtpgate_backend_tls_ciphers_total lcore)
echo "# backend_tls_total: ok $okc, plaintext $plain, certificate $cert, not_offered $noff;" \
	"handshakes tls1_3 $v13, by cipher $ciphers"
[ "$okc" -eq 5 ] && [ "$plain" -eq 1 ] && [ "$cert" -eq 2 ] && [ "$noff" -eq 1 ] &&
	[ "$v13" -eq 5 ] && [ "$ciphers" -eq 5 ]
ok $? "metrics: backend_tls_total by result, handshakes by protocol and cipher"
if command -v promtool >/dev/null; then
	grep -E "smtpgate_backend_tls" "$T/metrics" | grep "^# HELP" | cut -c1-120 | sed 's/^/# /'
	promtool check metrics <"$T/metrics" >"$T/out" 2>&1
	ok $? "promtool check metrics: clean with the backend TLS metrics"
else
	n=$((n + 1))
	echo "ok $n - # SKIP promtool is not installed (Debian package prometheus)"
fi
pf_stop
sink_stop
gate_stop
[ "$gate_rc" -eq 0 ] && ! grep -qi "sanitizer\|runtime error" "$gate_log"
ok $? "the gate stops cleanly (exit $gate_rc)"
[ "$failed" -eq 0 ]
