#!/usr/bin/env bash
# test_tls - STARTTLS against real clients: swaks --tls, openssl s_client
# -starttls smtp and Python's ssl module complete TLS 1.2 and 1.3 handshakes
# with the RSA and the ECDSA certificate (made here with openssl req);
# messages relayed from inside TLS reach smtp-sink byte for byte (the relay
# reads the decrypted body); plaintext commands pipelined after STARTTLS are
# dropped, not run; tls = required answers MAIL before STARTTLS with 530
# 5.7.0; a garbage handshake ends its session and no other, a silent one
# ends at the command timeout; live pushes change certificates for new
# sessions while a session already in TLS goes on, and a push whose key
# does not match is refused with file:line; the log and the metrics say
# the protocol and cipher; with proxy-v2 the backend learns the client used
# TLS (PP2_TYPE_SSL).
# Usage: test_tls.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
for tool in smtp-sink swaks openssl /usr/bin/python3; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done
PY="/usr/bin/python3 $SRC/tests/gate/tls_client.py"
trap 'sink_stop; gate_stop; rm -rf "$T"' EXIT

# certificates made now: RSA 2048 and ECDSA P-256, self-signed
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.gate.example \
	-keyout "$T/rsa.key" -out "$T/rsa.pem" >"$T/out" 2>&1 &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=mx.gate.example -keyout "$T/ec.key" -out "$T/ec.pem" >>"$T/out" 2>&1
ok $? "openssl req makes an RSA and an ECDSA certificate"

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgtls0";
    address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
}
limits { mbufs = 8191; max_flows = 4096; }
CONF
echo "control { socket = \"$T/ctl.sock\"; }" >>"$T/gate.conf"
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; command_timeout = 5s; message_size_limit = 20000000;
    tls = optional; tls_cert = [ rsa.pem, ec.pem ]; tls_key = [ rsa.key, ec.key ]; }
service submission { ports = [ 587 ]; command_timeout = 5s; tls = required;
    tls_cert = [ ec.pem, rsa.pem ]; tls_key = [ ec.key, rsa.key ]; }
service plain { ports = [ 26 ]; command_timeout = 5s; }
backend { address = [ "192.0.2.1:2525" ]; handoff = "none"; connect_timeout = 2s; }
POL

# a key that is not the certificate's: the gate refuses to start, naming the line
sed 's/tls_key = \[ rsa.key, ec.key \]/tls_key = [ ec.key, rsa.key ]/' "$T/policy.conf" >"$T/bad.conf"
"$GATE_BIN" --no-huge -m 64 --no-pci --no-shconf --file-prefix sgtls-check -l 0 \
	-- -c "$T/gate.conf" -p "$T/bad.conf" -n >"$T/out" 2>&1
rc=$?
rm -rf /var/run/dpdk/sgtls-check
[ $rc -eq 2 ] && grep -q "bad.conf:4: error: tls_key: .*ec.key does not match the certificate of .*rsa.pem" "$T/out"
ok $? "a key that does not match its certificate: exit 2 with file:line (rc $rc)"
"$BUILD/tools/smtpgatectl" check "$T/bad.conf" >"$T/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "bad.conf:4: error: tls_key: .*does not match" "$T/out"
ok $? "smtpgatectl check finds it too, offline (rc $rc)"
"$BUILD/tools/smtpgatectl" check "$T/policy.conf" >"$T/out" 2>&1 &&
	grep -q "service *mx *port 25, tls optional (2 certificates)" "$T/out" &&
	grep -q "service *submission *port 587, tls required (2 certificates)" "$T/out"
ok $? "smtpgatectl check accepts the good policy and shows each service's tls"

gate_start sgtls "$T/gate.conf" "$T/policy.conf" -m 512
ok $? "the gate starts with TLS on two services"
sink_start
ok $? "smtp-sink listens on the kernel side"

in_ns swaks --server 192.0.2.25 --tls --timeout 10 --helo client.remote.example \
	--from sender@remote.example --to user@local.example >"$T/out" 2>&1
grep -q "^<-  220 2.0.0 Ready to start TLS" "$T/out" && grep -q "^=== TLS started with cipher" "$T/out" &&
	grep -q "^<~  250 2.0.0 Ok" "$T/out"
ok $? "swaks --tls: STARTTLS, then a message accepted inside TLS"

# openssl s_client: both protocols with each certificate type
for proto in tls1_2 tls1_3; do
	for kind in rsa ecdsa; do
		if [ $proto = tls1_2 ]; then
			[ $kind = rsa ] && sel="-cipher ECDHE-RSA-AES128-GCM-SHA256" ||
				sel="-cipher ECDHE-ECDSA-AES128-GCM-SHA256"
		else
			[ $kind = rsa ] && sel="-sigalgs rsa_pss_rsae_sha256" ||
				sel="-sigalgs ecdsa_secp256r1_sha256"
		fi
		printf 'EHLO client.remote.example\r\nQUIT\r\n' |
			in_ns timeout 20 openssl s_client -starttls smtp -connect 192.0.2.25:25 -$proto $sel \
				-ign_eof >"$T/out" 2>&1
		want_proto=$([ $proto = tls1_2 ] && echo TLSv1.2 || echo TLSv1.3)
		[ $kind = rsa ] && want_key="Server public key is 2048 bit" ||
			want_key="Server public key is 256 bit"
		grep -q "^New, $want_proto, Cipher is" "$T/out" && grep -q "$want_key" "$T/out" &&
			grep -q "^250 ENHANCEDSTATUSCODES" "$T/out" && ! grep -q "^250-STARTTLS" "$T/out" &&
			grep -q "^221 2.0.0 Bye" "$T/out"
		ok $? "openssl s_client -starttls smtp -$proto, $kind certificate: EHLO inside TLS, no STARTTLS offered again"
	done
done

sink_start
in_ns $PY send 192.0.2.25 25 1.3 10 5000 1048576 >"$T/sent" 2>"$T/out" &&
	in_ns $PY send 192.0.2.25 587 1.2 100 3000000 >>"$T/sent" 2>>"$T/out"
rc=$?
awk '{ print "# sent " $1 ": " $2 " bytes, reply " $4 }' "$T/sent"
[ $rc -eq 0 ] && [ "$(awk '$4 == 250' "$T/sent" | wc -l)" -eq 5 ]
ok $? "smtplib.starttls, TLS 1.3 and 1.2: 5 messages up to 3 MB answered 250 by the backend"
/usr/bin/python3 tests/gate/relay_client.py check "$T/dump" "$T/sent" >"$T/out" 2>&1
ok $? "every message relayed from inside TLS arrived byte for byte ($(cat "$T/out"))"

in_ns $PY required 192.0.2.25 587 >"$T/out" 2>&1
sed 's/^/# /' "$T/out"
sed -n 3p "$T/out" | grep -q "^530 5.7.0 Must issue a STARTTLS command first$" &&
	sed -n 4p "$T/out" | grep -q "^220 2.0.0 Ready to start TLS$" &&
	sed -n 7p "$T/out" | grep -q "^250 2.1.0 Ok$" && sed -n 8p "$T/out" | grep -q "^250 "
ok $? "tls = required: 530 5.7.0 to MAIL before STARTTLS, MAIL and RCPT accepted inside TLS"

in_ns $PY inject 192.0.2.25 25 >"$T/out" 2>&1
sed 's/^/# /' "$T/out"
sed -n 3p "$T/out" | grep -q "^220 2.0.0 Ready to start TLS$" &&
	sed -n 4p "$T/out" | grep -q "^extra b''$" &&
	sed -n 5p "$T/out" | grep -q "^tls TLSv1.3" &&
	sed -n 6p "$T/out" | grep -q "^503 5.5.1 Error: need MAIL command$" &&
	sed -n 7p "$T/out" | grep -q "^503 5.5.1 Error: send HELO/EHLO first$"
ok $? "commands pipelined after STARTTLS in its segment are dropped: no reply, no MAIL, EHLO forgotten"

in_ns timeout 30 $PY garbage 192.0.2.25 25 >"$T/out" 2>&1
sed 's/^/# /' "$T/out"
grep -q "^b closed" "$T/out" && grep -q "^a 250 2.1.5 Ok$" "$T/out" && grep -q "^a 221 2.0.0 Bye$" "$T/out"
ok $? "a garbage handshake ends that session; the TLS session beside it goes on"

# live pushes: a policy whose key does not match is refused and the old one
# kept; a new one (ECDSA only, TLS 1.3 only) applies to new sessions while a
# session that started TLS before it goes on with the old certificates
CTL="$BUILD/tools/smtpgatectl -s $T/ctl.sock"
in_ns $PY hold 192.0.2.25 25 "$T/flag" >"$T/held" 2>&1 &
held=$!
for _ in $(seq 1 100); do
	grep -q "^250 ENHANCEDSTATUSCODES" "$T/held" 2>/dev/null && break
	sleep 0.1
done
$CTL push "$T/bad.conf" >"$T/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "bad.conf:4: error: tls_key: .*does not match" "$T/out"
ok $? "a push with a key that does not match: refused with file:line (rc $rc)"
sed 's/tls_cert = \[ rsa.pem, ec.pem \]; tls_key = \[ rsa.key, ec.key \];/tls_cert = ec.pem; tls_key = ec.key; tls_protocols = TLSv1.3;/' \
	"$T/policy.conf" >"$T/ec13.conf"
$CTL push "$T/ec13.conf" >"$T/out" 2>&1
ok $? "a push with the ECDSA certificate only and TLS 1.3 only is published"
printf 'EHLO client.remote.example\r\nQUIT\r\n' |
	in_ns timeout 20 openssl s_client -starttls smtp -connect 192.0.2.25:25 -tls1_2 >"$T/out" 2>&1
rc12=$?
printf 'EHLO client.remote.example\r\nQUIT\r\n' |
	in_ns timeout 20 openssl s_client -starttls smtp -connect 192.0.2.25:25 -tls1_3 \
		-sigalgs "rsa_pss_rsae_sha256:ecdsa_secp256r1_sha256" -ign_eof >"$T/out13" 2>&1
[ $rc12 -ne 0 ] && grep -q "^New, TLSv1.3" "$T/out13" && grep -q "Server public key is 256 bit" "$T/out13" &&
	grep -q "^221 2.0.0 Bye" "$T/out13"
ok $? "after the push: TLS 1.2 refused, TLS 1.3 with the ECDSA certificate"
touch "$T/flag"
wait $held
sed 's/^/# held: /' "$T/held"
grep -q "^250 2.0.0 Ok$" "$T/held" && grep -q "^250 2.1.0 Ok$" "$T/held" &&
	grep -q "^250 2.1.5 Ok$" "$T/held" && grep -q "^221 2.0.0 Bye$" "$T/held"
ok $? "the session in TLS since before the push goes on (its context outlives the old policy)"
$CTL push "$T/policy.conf" >"$T/out" 2>&1
ok $? "the first policy is pushed back"

printf 'EHLO c.example\r\nSTARTTLS\r\nQUIT\r\n' | in_ns timeout 10 bash -c \
	'exec 3<>/dev/tcp/192.0.2.25/26; cat >&3; timeout 3 cat <&3' >"$T/out" 2>&1
grep -q "^454 4.7.0 TLS not available due to local problem" "$T/out" && grep -q "^221 " "$T/out" &&
	! grep -q "STARTTLS" "$T/out"
ok $? "tls = off: STARTTLS is not offered and gets 454 4.7.0"

# a client that says STARTTLS and then nothing: ended at command_timeout (5s)
start=$(date +%s)
printf 'EHLO c.example\r\nSTARTTLS\r\n' | in_ns timeout 30 bash -c \
	'exec 3<>/dev/tcp/192.0.2.25/25; cat >&3; cat <&3' >"$T/out" 2>&1
took=$(($(date +%s) - start))
echo "# silent after STARTTLS: closed after ${took}s"
grep -q "^220 2.0.0 Ready to start TLS" "$T/out" && [ $took -ge 4 ] && [ $took -le 20 ]
ok $? "a client silent after STARTTLS is dropped at the command timeout, not kept"

in_ns curl -s --max-time 5 http://127.0.0.1:9125/metrics >"$T/metrics" 2>"$T/out"
m() { awk -v k="$1" -v l="$2" 'index($1, k "{") == 1 && index($1, l) { s += $2 } END { print s + 0 }' "$T/metrics"; }
v12=$(m smtpgate_tls_handshakes_total 'protocol="tls1_2"')
v13=$(m smtpgate_tls_handshakes_total 'protocol="tls1_3"')
bad=$(m smtpgate_tls_handshake_failures_total lcore)
live=$(m smtpgate_tls_sessions_active lcore)
ciphers=$(m smtpgate_tls_ciphers_total lcore)
c13=$(m smtpgate_tls_ciphers_total 'cipher="TLS_AES_256_GCM_SHA384"')
crsa=$(m smtpgate_tls_ciphers_total 'cipher="ECDHE-RSA-AES128-GCM-SHA256"')
cec=$(m smtpgate_tls_ciphers_total 'cipher="ECDHE-ECDSA-AES128-GCM-SHA256"')
echo "# metrics: handshakes tls1_2 $v12, tls1_3 $v13, failures $bad, active $live;" \
	"by cipher: all $ciphers, TLS_AES_256_GCM_SHA384 $c13, ECDHE-RSA-AES128 $crsa, ECDHE-ECDSA-AES128 $cec"
[ "$v12" -ge 4 ] && [ "$v13" -ge 6 ] && [ "$bad" -ge 2 ] && [ "$live" -eq 0 ] &&
	[ "$ciphers" -eq $((v12 + v13)) ] && [ "$c13" -ge 1 ] && [ "$crsa" -ge 1 ] && [ "$cec" -ge 1 ]
ok $? "metrics count handshakes by protocol, by cipher (the ciphers the clients chose) and failures; no TLS session left active"

gate_stop
ok $gate_rc "the gate stops cleanly"
grep -q "Anonymous TLS connection established from unknown\[192.0.2.1\]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" "$gate_log" &&
	grep -q "Anonymous TLS connection established from unknown\[192.0.2.1\]: TLSv1.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 (128/128 bits)" "$gate_log" &&
	grep -q "SSL_accept error from unknown\[192.0.2.1\]: " "$gate_log" &&
	grep -q "timeout after STARTTLS from unknown\[192.0.2.1\]" "$gate_log"
ok $? "log lines name protocol and cipher (Postfix's format), the failed handshake and the timeout"
grep "TLS connection established\|SSL_accept" "$gate_log" | sort | uniq -c | sed 's/^/# /' | head -12
lost=$(gate_stat lost_output)
[ "${lost:-0}" -eq 0 ]
ok $? "no engine output lost (lost_output ${lost:-?})"
! grep -q "runtime error\|AddressSanitizer" "$gate_log"
ok $? "no sanitizer report in the gate's log (when built with sanitizers)"

# PROXY v2 to the backend: the header says the client used TLS, with what
sed 's/handoff = "none"/handoff = "proxy-v2"/; s/192.0.2.1:2525/192.0.2.1:2526/' "$T/policy.conf" >"$T/proxy.conf"
gate_start sgtls "$T/gate.conf" "$T/proxy.conf" -m 512
in_ns $PY proxysink 192.0.2.1 2526 "$T/tlv" >"$T/sinkout" 2>&1 &
psink=$!
for _ in $(seq 1 100); do
	[ -e "$T/tlv.ready" ] && break
	sleep 0.1
done
in_ns $PY send 192.0.2.25 25 1.3 2000 >"$T/sent" 2>"$T/out"
rc=$?
wait $psink
cat "$T/sinkout" "$T/out" 2>/dev/null | sed 's/^/# /' | tail -5
sed 's/^/# /' "$T/tlv" 2>/dev/null
[ $rc -eq 0 ] && grep -q "^command 21 family 11$" "$T/tlv" && grep -q "^client 01 verify 1$" "$T/tlv" &&
	grep -q "^21 TLSv1.3$" "$T/tlv" && grep -q "^23 TLS_AES_256_GCM_SHA384$" "$T/tlv" &&
	[ "$(awk '{ print $4 }' "$T/sent")" = 250 ]
ok $? "handoff proxy-v2: the PROXY header's PP2_TYPE_SSL TLV names TLSv1.3 and the cipher"
gate_stop
[ $gate_rc -eq 0 ] && ! grep -q "runtime error\|AddressSanitizer" "$gate_log"
ok $? "the second gate stops cleanly, no sanitizer report"

echo "1..$n"
exit $((failed > 0))
