#!/usr/bin/env bash
# test_window - the windows the gate advertises, captured on the TAP's
# kernel side (tests/gate/window.py, scapy): a session before DATA is lean
# (a 4064-byte window from the SYN-ACK on, and as much queued for sending),
# its window opens for the message after the 354, and no segment ever moves
# a right edge back or acknowledges a byte beyond one (RFC 9293, RFC 7323);
# idle and stalled sessions hold the TCP chunks they should (none, at most
# 6), read from the gate's metrics.
# Usage: test_window.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
for need in smtp-sink tcpdump; do
	if ! command -v $need >/dev/null; then
		echo "1..0 # SKIP $need is not installed"
		exit 0
	fi
done
if ! /usr/bin/python3 -c 'import scapy' 2>/dev/null; then
	echo "1..0 # SKIP Debian's python3-scapy is not installed"
	exit 0
fi
trap 'sink_stop; gate_stop; rm -rf "$T"' EXIT

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgsl0";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 8191; max_flows = 4096; }
metrics { listen = "127.0.0.1:9125"; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; command_timeout = 60s; }
backend { address = [ "192.0.2.1:2525" ]; handoff = "none"; connect_timeout = 5s; }
POL

gate_start sgsl-win "$T/gate.conf" "$T/policy.conf" -m 512
ok $? "the gate starts"
sink_start
ok $? "smtp-sink listens on the kernel side"
in_ns /usr/bin/python3 tests/gate/window.py 192.0.2.25 sgsl0 http://127.0.0.1:9125/metrics \
	"$T" >"$T/win" 2>"$T/out"
grep '^#' "$T/win"
while read -r tag rc text; do
	[ "$tag" = check ] && ok "$rc" "$text"
done <"$T/win"
[ "$(grep -c '^check ' "$T/win")" -eq 9 ]
ok $? "window.py made all its checks"
[ "$(ls "$T/dump" | wc -l)" -eq 1 ]
ok $? "the backend got the message"
gate_stop
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log"
ok $? "the gate stopped cleanly (exit $gate_rc)"
echo "1..$n"
[ "$failed" -eq 0 ]
