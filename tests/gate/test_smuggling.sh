#!/usr/bin/env bash
# test_smuggling - SMTP smuggling through the gate: a client sends a clean
# message, then one whose end-of-data is a non-standard variant (<LF>.<LF>,
# <CR>.<CR>, ...) followed at once by a hidden transaction. Postfix's
# smtp-sink behind the gate takes a bare LF for a line end, so it would
# deliver the hidden message if the gate let a variant through. For each
# variant (the table is in smuggle.py, with what Postfix does): the client's
# replies exactly, the hang-up right after the gate's 521, and smtp-sink's
# dump holding exactly the messages the gate acknowledged with 250, byte for
# byte, never the hidden one. Then a bare LF among the commands.
# Usage: test_smuggling.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! command -v smtp-sink >/dev/null; then
	echo "1..0 # SKIP smtp-sink (postfix) is not installed"
	exit 0
fi
SMUGGLE="python3 $SRC/tests/gate/smuggle.py"
CLIENT="python3 $SRC/tests/gate/relay_client.py"
trap 'sink_stop; gate_stop; rm -rf "$T"' EXIT

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgab0";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 4095; max_flows = 1024; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; command_timeout = 30s; }
backend { address = [ "192.0.2.1:2525" ]; handoff = "none"; connect_timeout = 2s; }
POL

$SMUGGLE table | sed 's/^/# /'
gate_start sgab-smug "$T/gate.conf" "$T/policy.conf"
ok $? "the gate starts"
sink_start
ok $? "smtp-sink listens on the kernel side"

in_ns $SMUGGLE run 192.0.2.25 "$T/dump" >"$T/results" 2>"$T/out"
ok $? "the smuggling client ran to its end"
while IFS=$'\t' read -r st what why; do
	[ "$st" -ne 0 ] && echo "# $why"
	ok "$st" "$what"
done <"$T/results"
[ "$(grep -c . "$T/results")" -eq 48 ]
ok $? "48 checks were made (16 variants, 3 each)"

before=$(ls "$T/dump" | wc -l)
in_ns $CLIENT dialog 192.0.2.25 "EHLO c.remote.example" \
	"!MAIL FROM:<a@remote.example>\nRCPT TO:<u@local.example>\r\nDATA\r\n" \
	"Subject: x\r\n\r\nx\r\n." "QUIT" >"$T/out" 2>&1
sed -n 3p "$T/out" | grep -qx "521 5.5.2 mx.gate.example Error: bare <LF> received" &&
	sed -n 4p "$T/out" | grep -qx "EOF" && [ "$(ls "$T/dump" | wc -l)" -eq "$before" ]
ok $? "a bare LF between commands: 521 5.5.2, disconnected, no transaction"

gate_stop
smug=$(grep "^smtpgate: lcore [0-9]*: relay " "$gate_log" | tr ' ' '\n' | grep -A1 -x smuggling | tail -1)
echo "# relay counter smuggling: $smug"
[ "${smug:-0}" -eq 11 ]
ok $? "the relay counted 11 smuggling attempts (the 11 refused variants)"
grep -q "warning: bare <CR> received in a message from unknown\[192.0.2.1\]: refused" "$gate_log" &&
	grep -q "warning: bare <LF> received in a message from unknown\[192.0.2.1\]: refused" "$gate_log" &&
	grep -q "bare <LF> received after EHLO from unknown\[192.0.2.1\]" "$gate_log"
ok $? "log lines name each refusal and the client"
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log" &&
	grep -q "lost_output 0" "$gate_log"
ok $? "the gate stopped cleanly (exit $gate_rc), no lost output"
echo "1..$n"
[ "$failed" -eq 0 ]
