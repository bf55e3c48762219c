#!/usr/bin/env bash
# test_auth - SMTP AUTH through the gate, checked by a real Dovecot: a
# private instance (its own config, base_dir and passwd-file in the scratch
# directory) serving its auth socket on a UNIX socket, which the gate's
# auth thread speaks Dovecot's SASL protocol to. swaks --auth and raw
# dialogues from the Linux stack in the gate's namespace: good and bad
# passwords with PLAIN and LOGIN, AUTH refused in clear where TLS is
# required, every reply code of the exchange, relay only after 235 with the
# login handed to the backend (XCLIENT LOGIN=), Postfix-style log lines,
# failures rate-limited per client (an IPv6 client by its /64), and 454
# 4.7.0 while Dovecot is down.
# Usage: test_auth.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
. tests/lib/postfix.sh
gate_script "$@"
for tool in swaks dovecot; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done
DV=$T/dovecot
CLIENT="python3 $SRC/tests/gate/relay_client.py"
sink_pid=""
PF=$T/postfix
trap 'pf_stop; dv_stop; [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null; gate_stop; rm -rf "$T"' EXIT
chmod 755 "$T"

# dv_start [ADDR PORT]: our own Dovecot, auth service only, its socket at
# $DV/auth (and a TCP listener at ADDR:PORT, Dovecot then in the gate's namespace)
dv_start() {
	local inet="" run=""
	if [ $# -eq 2 ]; then
		inet="inet_listener auth-tcp {
    address = $1
    port = $2
  }"
		run="ip netns exec $gate_ns"
	fi
	mkdir -p "$DV"
	chmod 755 "$DV"
	cat >"$DV/dovecot.conf" <<CONF
base_dir = $DV/run
state_dir = $DV/state
instance_name = sgauth-$$
protocols =
ssl = no
log_path = $DV/dovecot.log
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DV/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener auth-client {
    path = $DV/auth
    mode = 0666
  }
  $inet
}
CONF
	printf 'alice@example.net:{PLAIN}secret\nbob@example.net:{PLAIN}hunter2\n' >"$DV/passwd"
	chmod 644 "$DV/passwd"
	$run dovecot -c "$DV/dovecot.conf" || return 1
	for _ in $(seq 1 50); do
		[ -S "$DV/auth" ] && return 0
		sleep 0.1
	done
	return 1
}
dv_stop() { # the master and its children (an auth process serves its clients until it exits)
	local master kids
	[ -f "$DV/run/master.pid" ] || return 0
	master=$(cat "$DV/run/master.pid")
	kids=$(ps -o pid= --ppid "$master")
	dovecot -c "$DV/dovecot.conf" stop 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$master" 2>/dev/null || break
		sleep 0.1
	done
	for k in $kids; do kill "$k" 2>/dev/null; done
	rm -f "$DV/run/master.pid"
}

cat >"$T/gate.conf" <<CONF
port edge0 {
    device = "net_tap0,iface=sgauth0";
    address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
}
# a second IPv6 /64 of clients, behind the kernel side
route = [ { prefix = "2001:db8:77::/64"; via = "2001:db8:25::1"; port = edge0; } ];
limits { mbufs = 4095; max_flows = 1024; }
auth { socket = "$DV/auth"; timeout = 8s; max_failures = 5; failure_window = 1min; }
CONF
# mx offers STARTTLS, and AUTH only inside it
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=mx.gate.example -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; tls = optional; tls_cert = "cert.pem"; tls_key = "key.pem"; }
service submission { ports = [ 587 ]; require_auth = true; auth_in_clear = true; }
service open { ports = [ 2587 ]; auth_in_clear = true; }
backend { address = [ "192.0.2.1:2525" ]; handoff = xclient; connect_timeout = 3s; }
POL

echo "1..36"
# the configuration: every bad auth key or value named with its file:line (checked before EAL)
cat >"$T/bad.conf" <<'CONF'
port edge0 { device = "net_tap0,iface=sgauth9"; address = [ "192.0.2.25/24" ]; }
auth {
    socket = "relative/auth";
    timeout = 1ms;
    max_inflight = 0;
    colour = blue;
}
CONF
sed 's/auth_in_clear = true; }/auth_in_clear = perhaps; }/' "$T/policy.conf" >"$T/badpol.conf"
"$GATE_BIN" -- -c "$T/bad.conf" -p "$T/policy.conf" -n >"$T/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "bad.conf:3: error: socket: expected a UNIX socket path" "$T/out" &&
	grep -q "bad.conf:4: error: timeout: between 100ms and 5min" "$T/out" &&
	grep -q "bad.conf:5: error" "$T/out" && grep -q "bad.conf:6: error: .*colour" "$T/out"
ok $? "gate config: each bad auth key or value is an error at its file:line (exit $rc)"
"$GATE_BIN" -- -c "$T/gate.conf" -p "$T/badpol.conf" -n >"$T/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "badpol.conf:5: error: .*auth_in_clear" "$T/out"
ok $? "policy: a bad auth_in_clear is an error at its file:line ($(grep -o 'badpol.conf:5: error: .*' "$T/out" | head -1))"
dv_start
ok $? "a private Dovecot serves its auth socket"
gate_start sgauth "$T/gate.conf" "$T/policy.conf"
ok $? "the gate starts with the auth service configured"
in_ns ip addr add 192.0.2.77/24 dev sgauth0
for a in 2001:db8:25::77/64 2001:db8:25::78/64 2001:db8:77::1/128; do
	in_ns ip addr add $a dev sgauth0 nodad
done
ip netns exec "$gate_ns" python3 "$SRC/tests/gate/xclient_sink.py" 192.0.2.1 2525 "$T/backend.log" >"$T/sink.out" 2>&1 &
sink_pid=$!
for _ in $(seq 1 50); do
	in_ns bash -c ': </dev/tcp/192.0.2.1/2525' 2>/dev/null && break
	sleep 0.1
done

sw() { # sw PORT ARGS...: swaks in the namespace, transcript in $T/out
	local port=$1
	shift
	in_ns swaks --server 192.0.2.25 --port "$port" --timeout 10 --helo h.remote.example "$@" \
		>"$T/out" 2>&1
}
dialog() { # dialog PORT LINES...: raw commands, one reply line each, in $T/out
	local port=$1
	shift
	in_ns $CLIENT dialog "192.0.2.25:$port" "$@" >"$T/out" 2>&1
}
line() { sed -n "$1p" "$T/out"; }
B64_GOOD=$(printf '\0alice@example.net\0secret' | base64 -w0)
B64_BAD=$(printf '\0alice@example.net\0wrong' | base64 -w0)

sw 587 --quit-after EHLO
grep -q "^<-  250-AUTH PLAIN LOGIN" "$T/out"
ok $? "EHLO on a service with auth_in_clear offers AUTH PLAIN LOGIN"
sw 25 --quit-after EHLO
grep -q "^<-  250 " "$T/out" && ! grep -q "AUTH" "$T/out"
ok $? "EHLO in clear on a service that needs TLS for AUTH does not offer it"

sw 587 --auth PLAIN --auth-user alice@example.net --auth-password secret \
	--from alice@example.net --to friend@elsewhere.example --quit-after RCPT
grep -q "^<-  235 2.7.0 Authentication successful" "$T/out"
ok $? "swaks --auth PLAIN, good password: 235 2.7.0 (Dovecot said OK)"
grep -q "^<-  250 2.0.0 Ok" "$T/out" && grep -q "RCPT TO:<friend@elsewhere.example>" "$T/backend.log"
ok $? "require_auth service: after 235 MAIL is taken and an off-site recipient relays to the backend"
sw 587 --auth LOGIN --auth-user bob@example.net --auth-password hunter2 --quit-after AUTH
grep -q "^<-  334 VXNlcm5hbWU6" "$T/out" && grep -q "^<-  334 UGFzc3dvcmQ6" "$T/out" &&
	grep -q "^<-  235 2.7.0" "$T/out"
ok $? "swaks --auth LOGIN, good password: 334 Username, 334 Password, 235"
sw 587 --auth PLAIN --auth-user alice@example.net --auth-password wrong --quit-after AUTH
grep -q "^<\*\* 535 5.7.8 Error: authentication failed" "$T/out"
ok $? "swaks --auth PLAIN, bad password: 535 5.7.8"
sw 587 --auth LOGIN --auth-user nobody@example.net --auth-password x --quit-after AUTH
grep -q "^<\*\* 535 5.7.8" "$T/out"
ok $? "swaks --auth LOGIN, unknown user: 535 5.7.8"

dialog 25 "EHLO h.remote.example" "AUTH PLAIN $B64_GOOD" "QUIT"
line 3 | grep -q "^538 5.7.11 Encryption required for requested authentication mechanism"
ok $? "AUTH in clear where the service requires TLS: 538 5.7.11 ($(line 3))"
sw 25 --tls --auth PLAIN --auth-user alice@example.net --auth-password secret \
	--from alice@example.net --to friend@elsewhere.example --quit-after RCPT
! grep -q "^<-  250-AUTH" "$T/out" && grep -q "^<~  250-AUTH PLAIN LOGIN" "$T/out" &&
	grep -q "^<~  235 2.7.0" "$T/out" && grep -q "^ ~> RCPT TO:<friend@elsewhere.example>" "$T/out" &&
	[ "$(grep -A1 '^ ~> RCPT TO' "$T/out" | tail -1 | cut -c1-8)" = "<~  250 " ]
ok $? "swaks --tls --auth: AUTH offered only after STARTTLS, 235 inside TLS, then it relays"
dialog 2587 "EHLO h.remote.example" "AUTH CRAM-MD5" "AUTH PLAIN $B64_GOOD" "AUTH LOGIN" "QUIT"
line 3 | grep -q "^504 5.5.4 " && line 4 | grep -q "^235 " &&
	line 5 | grep -q "^503 5.5.1 Error: already authenticated"
ok $? "unknown mechanism 504 5.5.4, then 235, then a second AUTH 503 5.5.1"
dialog 2587 "EHLO h.remote.example" "MAIL FROM:<a@remote.example>" "AUTH PLAIN $B64_GOOD" "QUIT"
line 4 | grep -q "^503 5.5.1 Error: MAIL transaction in progress"
ok $? "AUTH inside a transaction: 503 5.5.1 ($(line 4))"
long=$(head -c 700 /dev/zero | tr '\0' 'Q')
dialog 2587 "EHLO h.remote.example" "AUTH PLAIN" "$long" "NOOP" "AUTH PLAIN" "*" "QUIT"
line 3 | grep -q "^334 " && line 4 | grep -q "^500 5.5.6 Authentication exchange line is too long" &&
	line 5 | grep -q "^250 " && line 7 | grep -q "^501 5.7.0 Authentication aborted"
ok $? "a 700-octet exchange line: 500 5.5.6, the session goes on; '*' aborts with 501 5.7.0"
dialog 2587 "EHLO h.remote.example" "AUTH PLAIN $B64_GOOD" "MAIL FROM:<alice@example.net> AUTH=<>" \
	"RCPT TO:<x@elsewhere.example>" "QUIT"
line 4 | grep -q "^250 " && line 5 | grep -q "^250 "
ok $? "MAIL FROM with AUTH=<> is accepted"

: >"$T/backend.log"
dialog 2587 "EHLO h.remote.example" "MAIL FROM:<a@remote.example>" "RCPT TO:<x@elsewhere.example>" \
	"RSET" "AUTH PLAIN $B64_BAD" "MAIL FROM:<a@remote.example>" "RCPT TO:<x@elsewhere.example>" \
	"RSET" "AUTH PLAIN $B64_GOOD" "MAIL FROM:<a@remote.example>" "RCPT TO:<x@elsewhere.example>" \
	"DATA" "Subject: t\r\n\r\nrelayed after AUTH\r\n." "QUIT"
line 4 | grep -q "^554 5.7.1 <x@elsewhere.example>: Relay access denied" &&
	line 6 | grep -q "^535 " && line 8 | grep -q "^554 5.7.1" && line 10 | grep -q "^235 " &&
	line 12 | grep -q "^250 " && line 14 | grep -q "^250 2.0.0 Ok: queued"
ok $? "relay: 554 before AUTH and after a failed one, allowed only after 235; the message is queued"
grep -q "^XCLIENT .*LOGIN=alice@example.net" "$T/backend.log" &&
	[ "$(grep -c "RCPT TO:<x@elsewhere.example>" "$T/backend.log")" -eq 1 ]
ok $? "the backend got XCLIENT LOGIN=alice@example.net and only the authenticated recipient"
CTL=$BUILD/tools/smtpgatectl
"$CTL" explain "$T/policy.conf" --service open --client 192.0.2.1 --auth alice@example.net \
	--from a@remote.example --rcpt x@elsewhere.example >"$T/out" 2>&1
a=$?
"$CTL" explain "$T/policy.conf" --service open --client 192.0.2.1 \
	--from a@remote.example --rcpt x@elsewhere.example >>"$T/out" 2>&1
b=$?
[ $a -eq 0 ] && [ $b -eq 1 ] && grep -q "554 5.7.1 <x@elsewhere.example>: Relay access denied" "$T/out"
ok $? "smtpgatectl explain --auth reaches the live gate's verdicts: relay with AUTH, 554 without"

sleep 0.3 # the gate writes its log every 10 ms
grep -q "NOQUEUE: client=unknown\[192.0.2.1\], sasl_method=PLAIN, sasl_username=alice@example.net" \
	"$gate_log" &&
	grep -q "sasl_method=LOGIN, sasl_username=bob@example.net" "$gate_log"
ok $? "log: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=alice@example.net (Postfix style)"
grep -q "warning: unknown\[192.0.2.1\]: SASL PLAIN authentication failed: authentication failure, sasl_username=alice@example.net" \
	"$gate_log"
ok $? "log: the failure as Postfix writes it (fail2ban's postfix-sasl filter)"

# rate limit: max_failures = 5 per client in failure_window (192.0.2.1 has 3 so far)
rc=0
for i in 1 2 3 4 5; do
	sw 587 -li 192.0.2.77 --auth PLAIN --auth-user alice@example.net --auth-password "bad$i" --quit-after AUTH
	grep -q "^<\*\* 535 5.7.8" "$T/out" || rc=1
done
sw 587 -li 192.0.2.77 --auth PLAIN --auth-user alice@example.net --auth-password secret --quit-after AUTH
grep -q "^<\*\* 454 4.7.0 Error: too many failed authentication attempts" "$T/out" && [ $rc -eq 0 ]
ok $? "after 5 failures the client gets 454 4.7.0 even with the right password"
sw 587 --auth PLAIN --auth-user alice@example.net --auth-password secret --quit-after AUTH
grep -q "^<-  235 " "$T/out"
ok $? "... while another client still authenticates"

# IPv6 clients count by /64 (as the connection limits do): one subscriber's
# addresses share a count, another /64 has its own
sw6() { # sw6 FROM ARGS...: swaks to the gate's IPv6 address from FROM
	local from=$1
	shift
	in_ns swaks --server 2001:db8:25::25 --port 587 --timeout 10 --helo h.remote.example \
		-li "$from" "$@" >"$T/out" 2>&1
}
rc=0
for i in 1 2 3 4 5; do
	sw6 2001:db8:25::77 --auth PLAIN --auth-user alice@example.net --auth-password "bad$i" --quit-after AUTH
	grep -q "^<\*\* 535 5.7.8" "$T/out" || rc=1
done
sw6 2001:db8:25::78 --auth PLAIN --auth-user alice@example.net --auth-password secret --quit-after AUTH
grep -q "^<\*\* 454 4.7.0 Error: too many failed authentication attempts" "$T/out" && [ $rc -eq 0 ]
ok $? "IPv6: 5 failures from 2001:db8:25::77, then 454 4.7.0 for 2001:db8:25::78 (the same /64)"
sw6 2001:db8:77::1 --auth PLAIN --auth-user alice@example.net --auth-password secret --quit-after AUTH
grep -q "^<-  235 " "$T/out"
ok $? "... while 2001:db8:77::1, another /64, still authenticates"

dv_stop
start=$(date +%s%N)
dialog 587 "EHLO h.remote.example" "AUTH PLAIN $B64_GOOD" "MAIL FROM:<a@remote.example>" "QUIT"
ms=$((($(date +%s%N) - start) / 1000000))
line 3 | grep -q "^454 4.7.0 Temporary authentication failure" &&
	line 4 | grep -q "^530 5.7.0 Authentication required"
ok $? "Dovecot stopped: 454 4.7.0 Temporary authentication failure, and no authentication (${ms} ms)"
[ "$ms" -lt 5000 ]
ok $? "... at once, not after the 8 s timeout (${ms} ms)"
sleep 0.3
grep -q "warning: SASL: connection to $DV/auth lost" "$gate_log"
ok $? "log: the lost auth service"

dv_start
ok $? "Dovecot started again"
got=1
for _ in $(seq 1 30); do
	sw 587 --auth PLAIN --auth-user alice@example.net --auth-password secret --quit-after AUTH
	if grep -q "^<-  235 " "$T/out"; then
		got=0
		break
	fi
	sleep 0.2
done
ok $got "the gate reconnects: 235 again"

gate_stop
[ "$gate_rc" -eq 0 ] && [ "$(gate_stat lost_output)" = "0" ] && [ "$(gate_stat expired)" = "0" ]
ok $? "the gate stops cleanly; no output lost, no check left unanswered by the auth thread"
grep "auth ok" "$gate_log" | sed 's/^/# /'
grep "SASL:" "$gate_log" | sed 's/^/# gate: /' | head -10

# the same service over TCP: Dovecot's inet_listener on the kernel side of the namespace
dv_stop
sed 's|^auth { socket = "[^"]*";|auth { socket = "inet:192.0.2.1:12345";|' "$T/gate.conf" >"$T/gate-tcp.conf"
# and a real Postfix as the backend (tests/lib/postfix.sh), when there is one
sed 's|^backend { address = \[ "192.0.2.1:2525" \]|backend { address = [ "192.0.2.1:2526" ]|' \
	"$T/policy.conf" >"$T/policy-pf.conf"
gate_start sgauth "$T/gate-tcp.conf" "$T/policy-pf.conf"
ok $? "the gate starts with auth { socket = \"inet:192.0.2.1:12345\" }"
dv_start 192.0.2.1 12345
got=1
for _ in $(seq 1 30); do
	sw 587 --auth PLAIN --auth-user alice@example.net --auth-password secret --quit-after AUTH
	if grep -q "^<-  235 " "$T/out"; then
		got=0
		break
	fi
	sleep 0.2
done
ok $got "TCP: good password, 235"
sw 587 --auth LOGIN --auth-user alice@example.net --auth-password wrong --quit-after AUTH
grep -q "^<\*\* 535 5.7.8" "$T/out"
ok $? "TCP: bad password, 535 5.7.8"

# Postfix behind the gate learns the login through XCLIENT LOGIN= (its
# sasl_method is then XCLIENT) and relays for it (permit_sasl_authenticated
# in its default smtpd_relay_restrictions, which needs its SASL on: the
# same Dovecot)
if pf_have; then
	chmod 755 "$T"
	PF_MAIN_EXTRA="smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:192.0.2.1:12345"
	pf_start
	rc=$?
	: >"$PF/maillog"
	in_ns ip addr add 192.0.2.78/24 dev sgauth0 2>/dev/null
	sw 587 -li 192.0.2.78 --auth PLAIN --auth-user alice@example.net --auth-password secret \
		--from a@remote.example --to x@elsewhere.example
	grep -q "^<-  250 2.0.0 Ok: queued" "$T/out" || rc=1
	sleep 1 # Postfix's log lines go through postlogd
	sed 's/^/# postfix: /' "$PF/maillog" | grep -E "client=|reject" | head -3
	[ $rc -eq 0 ] && grep -q "client=unknown\[192.0.2.78\], sasl_method=XCLIENT, sasl_username=alice@example.net" \
		"$PF/maillog" && grep -q "to=<x@elsewhere.example>.*status=sent" "$PF/maillog"
	ok $? "a real Postfix backend sees the login through XCLIENT (sasl_username=alice@example.net) and relays"
	pf_stop
else
	echo "ok $((++n)) # SKIP postfix is not installed"
fi
dv_stop
gate_stop
[ "$failed" -eq 0 ]
