#!/usr/bin/env bash
# test_relay - accepted transactions reach a real backend (Postfix's
# smtp-sink) through the gate's own TCP, byte for byte; the backend's
# refusals reach the client as the replies to its commands; a backend that
# is down, disconnects or never answers costs the client a 4xx and never a
# 2xx; a message with a bare LF is refused and never delivered.
# Usage: test_relay.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! command -v smtp-sink >/dev/null; then
	echo "1..0 # SKIP smtp-sink (postfix) is not installed"
	exit 0
fi
CLIENT="python3 $SRC/tests/gate/relay_client.py"
sink_pid=""
trap 'sink_stop; gate_stop; rm -rf "$T"' EXIT

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgr0";
    address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
}
limits { mbufs = 8191; max_flows = 4096; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
# command_timeout leaves room for a loaded machine: the client quotes 50 MiB
# between the 354 and its first byte (2.5 s at load 9)
service mx { ports = [ 25 ]; command_timeout = 12s; message_size_limit = 60000000; }
service late { ports = [ 26 ]; command_timeout = 5s; backend_connect = data; }
backend { address = [ "192.0.2.1:2525" ]; handoff = "none"; connect_timeout = 2s; }
POL

dumps() { ls "$T/dump" | wc -l; }

gate_start sgrelay "$T/gate.conf" "$T/policy.conf" -m 512
ok $? "the gate starts"
sink_start
ok $? "smtp-sink listens on the kernel side"

in_ns swaks --server 192.0.2.25 --timeout 10 --helo client.remote.example \
	--from sender@remote.example --to user@local.example >"$T/out" 2>&1
grep -q "^<-  250 2.0.0 Ok" "$T/out" && [ "$(dumps)" -eq 1 ]
ok $? "swaks: a message to a local recipient reaches the backend, whose 250 the client gets"
grep -q "^X-Rcpt-Args: <user@local.example>" "$T"/dump/* &&
	grep -q "^X-Mail-Args: <sender@remote.example>" "$T"/dump/* &&
	grep -q "^X-Helo-Args: client.remote.example" "$T"/dump/*
ok $? "the backend saw the client's HELO name, sender and recipient"

sink_start
in_ns $CLIENT send 192.0.2.25 1 1 2 100 1000 4096 65536 1048576 10485760 52428800 >"$T/sent" 2>"$T/out"
rc=$?
awk '{ print "# sent " $1 ": " $2 " bytes, reply " $4 }' "$T/sent"
[ $rc -eq 0 ] && [ "$(awk '$4 == 250' "$T/sent" | wc -l)" -eq 9 ]
ok $? "9 messages from 1 byte to 50 MiB: every one answered 250 by the backend"
in_ns $CLIENT check "$T/dump" "$T/sent" >"$T/out" 2>&1
ok $? "every message arrived byte for byte, none twice ($(cat "$T/out"))"

in_ns $CLIENT dialog 192.0.2.25 "EHLO c.remote.example" "MAIL FROM:<a@remote.example>" \
	"RCPT TO:<x@remote.example>" "RCPT TO:<u@local.example>" "RSET" \
	"MAIL FROM:<b@remote.example>" "RCPT TO:<v@local.example>" "DATA" \
	"Subject: two\r\n\r\nsecond\r\n." "QUIT" >"$T/out" 2>&1
sed -n 4p "$T/out" | grep -q "^554 5.7.1 <x@remote.example>: Relay access denied" &&
	sed -n 5p "$T/out" | grep -q "^250 " && sed -n 6p "$T/out" | grep -q "^250 " &&
	sed -n 9p "$T/out" | grep -q "^354 " && sed -n 10p "$T/out" | grep -q "^250 " &&
	sed -n 11p "$T/out" | grep -q "^221 " && [ "$(dumps)" -eq 10 ] &&
	grep -q "^X-Rcpt-Args: <v@local.example>" "$(ls -t "$T"/dump/* | head -1)" &&
	! grep -q "x@remote.example\|u@local.example" "$(ls -t "$T"/dump/* | head -1)"
ok $? "policy refusal first, then RSET: only the second transaction reaches the backend"
in_ns $CLIENT dialog 192.0.2.25:26 "EHLO c.remote.example" "MAIL FROM:<late@remote.example>" \
	"RCPT TO:<one@local.example>" "RCPT TO:<x@remote.example>" "RCPT TO:<two@local.example>" \
	"DATA" "Subject: late\r\n\r\nconnected at DATA\r\n." "QUIT" >"$T/out" 2>&1
last=$(ls -t "$T"/dump/* | head -1)
sed -n 4p "$T/out" | grep -q "^250 " && sed -n 5p "$T/out" | grep -q "^554 5.7.1" &&
	sed -n 7p "$T/out" | grep -q "^354 " && sed -n 8p "$T/out" | grep -q "^250 " &&
	[ "$(dumps)" -eq 11 ] && grep -q "^X-Mail-Args: <late@remote.example>" "$last" &&
	[ "$(grep -c "^X-Rcpt-Args: <\(one\|two\)@local.example>" "$last")" -eq 2 ]
ok $? "backend_connect = data: recipients kept until DATA, then replayed; the message arrives"
in_ns $CLIENT dialog 192.0.2.25 "EHLO c.remote.example" "MAIL FROM:<a@remote.example>" \
	"RCPT TO:<u@local.example>" "DATA" "Subject: bare\r\n\r\nline\nwith a bare LF\r\n." \
	"NOOP" >"$T/out" 2>&1
sed -n 6p "$T/out" | grep -q "^521 5.5.2 mx.gate.example Error: bare <LF> received" &&
	sed -n 7p "$T/out" | grep -q "^EOF" && [ "$(dumps)" -eq 11 ]
ok $? "a bare LF in a message: 521 5.5.2, disconnected, nothing delivered"

sink_start -f RCPT
in_ns $CLIENT dialog 192.0.2.25 "EHLO c.remote.example" "MAIL FROM:<a@remote.example>" \
	"RCPT TO:<u@local.example>" "DATA" "QUIT" >"$T/out" 2>&1
sed -n 4p "$T/out" | grep -q "^5[0-9][0-9] " && sed -n 5p "$T/out" | grep -q "^554 5.5.1"
ok $? "the backend's refusal of a recipient is the client's reply to it; DATA then has no recipient"
in_ns $CLIENT dialog 192.0.2.25:26 "EHLO c.remote.example" "MAIL FROM:<a@remote.example>" \
	"RCPT TO:<u@local.example>" "DATA" "QUIT" >"$T/out" 2>&1
sed -n 4p "$T/out" | grep -q "^250 " && sed -n 5p "$T/out" | grep -q "^5[0-9][0-9] " &&
	sed -n 6p "$T/out" | grep -q "^221 "
ok $? "backend_connect = data: the backend refuses the recipient at DATA: DATA gets its refusal, never a 354"

sink_start -q DATA
in_ns $CLIENT dialog 192.0.2.25 "EHLO c.remote.example" "MAIL FROM:<a@remote.example>" \
	"RCPT TO:<u@local.example>" "DATA" "QUIT" >"$T/out" 2>&1
sed -n 5p "$T/out" | grep -q "^451 4.4.1 "
ok $? "the backend disconnects at DATA: 451 4.4.1"

sink_start -q .
in_ns $CLIENT dialog 192.0.2.25 "EHLO c.remote.example" "MAIL FROM:<a@remote.example>" \
	"RCPT TO:<u@local.example>" "DATA" "Subject: lost\r\n\r\nbody\r\n." "QUIT" >"$T/out" 2>&1
sed -n 6p "$T/out" | grep -q "^451 4.4.1 " && sed -n 7p "$T/out" | grep -q "^221 "
ok $? "the backend disconnects after the message without a reply: 451, never 2xx"

sink_start -w 20 # longer than the command timeout, which also bounds the wait for the backend
in_ns $CLIENT dialog 192.0.2.25 "EHLO c.remote.example" "MAIL FROM:<a@remote.example>" \
	"RCPT TO:<u@local.example>" "DATA" "QUIT" >"$T/out" 2>&1
sed -n 5p "$T/out" | grep -q "^4[0-9][0-9] 4\.4\.[12] "
ok $? "a backend that does not answer DATA in time: 4xx (got: $(sed -n 5p "$T/out"))"

sink_stop
in_ns $CLIENT dialog 192.0.2.25 "EHLO c.remote.example" "MAIL FROM:<a@remote.example>" \
	"RCPT TO:<u@local.example>" "DATA" "QUIT" >"$T/out" 2>&1
sed -n 4p "$T/out" | grep -q "^451 4.4.1 " && sed -n 5p "$T/out" | grep -q "^554 5.5.1 " &&
	sed -n 6p "$T/out" | grep -q "^221 "
ok $? "the backend is down: 451 4.4.1 to RCPT, DATA has no recipient, the session goes on"

sink_start
in_ns swaks --server 192.0.2.25 --timeout 10 --helo client.remote.example \
	--from sender@remote.example --to user@local.example >"$T/out" 2>&1
grep -q "^<-  250 2.0.0 Ok" "$T/out"
ok $? "the backend is back: mail flows again"

sink_start
in_ns smtp-source -s 100 -m 2000 -l 1000 -f sender@remote.example -t user@local.example \
	192.0.2.25:25 >"$T/out" 2>&1
rc=$?
all=$(cat "$T"/dump/* | grep -c "^Message-Id:")
distinct=$(cat "$T"/dump/* | grep "^Message-Id:" | sort -u | wc -l)
[ $rc -eq 0 ] && [ "$all" -eq 2000 ] && [ "$distinct" -eq 2000 ]
ok $? "smtp-source, 100 sessions in parallel, 2,000 messages: $all at the sink, $distinct distinct"

gate_stop
relay_stat() { grep "^smtpgate: lcore [0-9]*: relay " "$gate_log" | tr ' ' '\n' | grep -A1 -x "$1" | tail -1; }
echo "# relay: connects $(relay_stat connects) messages_ok $(relay_stat messages_ok) failures $(relay_stat failures) smuggling $(relay_stat smuggling) body_bytes $(relay_stat body_bytes)"
[ "$(relay_stat messages_ok)" -eq 2013 ] && [ "$(relay_stat smuggling)" -eq 1 ]
ok $? "counters: 2,013 messages accepted by backends, 1 smuggling attempt"
grep -q "NOQUEUE: proxy-accept: END-OF-MESSAGE from unknown\[192.0.2.1\]: 250 2.0.0 Ok; from=<sender@remote.example> to=<user@local.example> proto=ESMTP helo=<client.remote.example>" "$gate_log" &&
	grep -q "warning: relay to backend 192.0.2.1:2525 for unknown\[192.0.2.1\]: connection refused" "$gate_log" &&
	grep -q "warning: bare <LF> received in a message from unknown\[192.0.2.1\]: refused" "$gate_log"
ok $? "log lines for accepted messages and backend failures"
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log" &&
	grep -q "lost_output 0" "$gate_log"
ok $? "the gate stopped cleanly (exit $gate_rc), no lost output"
echo "1..$n"
[ "$failed" -eq 0 ]
