#!/usr/bin/env bash
# test_abuse - protocol abuse at the command level through the gate's own
# TCP, from a raw Python socket in the Linux stack: NUL and 8-bit bytes in
# commands, overlong addresses, deep and malformed source routes, a 1 MB
# line, every reply checked exactly; thousands of pipelined commands per
# write to a client that does not read (the gate must stop
# reading while its output is full, then answer all, in order); floods of
# bad commands ended by max_errors, the gate's work counted in its metrics.
# Usage: test_abuse.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! command -v curl >/dev/null; then
	echo "1..0 # SKIP curl is not installed"
	exit 0
fi
ABUSE="python3 $SRC/tests/gate/abuse.py"

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgab1";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 4095; max_flows = 1024; }
metrics { listen = "127.0.0.1:9125"; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; command_timeout = 30s; }
POL

# checks FILE: each "STATUS<TAB>WHAT[<TAB>WHY]" line of a client as a TAP line
checks() {
	while IFS=$'\t' read -r st what why; do
		[ "$st" -ne 0 ] && echo "# $why"
		ok "$st" "$what"
	done <"$1"
}
# commands: the gate's SMTP command lines so far, all lcores
commands() {
	in_ns curl -s http://127.0.0.1:9125/metrics |
		awk '/^smtpgate_smtp_commands_total/ { n += $2 } END { print n + 0 }'
}

gate_start sgab-cmd "$T/gate.conf" "$T/policy.conf"
ok $? "the gate starts"

in_ns $ABUSE replies 192.0.2.25 >"$T/results" 2>"$T/out"
ok $? "the command client ran to its end"
checks "$T/results"
[ "$(grep -c . "$T/results")" -eq 7 ]
ok $? "7 command sequences were checked"

in_ns $ABUSE pipeline 192.0.2.25 50000 >"$T/results" 2>"$T/out"
ok $? "the pipelining client ran to its end"
checks "$T/results"

before=$(commands)
in_ns $ABUSE errors 192.0.2.25 10000 >"$T/results" 2>"$T/out"
ok $? "the error flood client ran to its end"
checks "$T/results"
after=$(commands)
echo "# command lines read by the gate for 4 x 10,000 bad ones: $((after - before))"
[ $((after - before)) -eq 80 ]
ok $? "bounded work: the gate read 80 command lines of the 40,000 sent (20 per session)"

gate_stop
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log" &&
	grep -q "lost_output 0" "$gate_log"
ok $? "the gate stopped cleanly (exit $gate_rc), no lost output"
echo "1..$n"
[ "$failed" -eq 0 ]
