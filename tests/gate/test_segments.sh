#!/usr/bin/env bash
# test_segments - crafted TCP segments (scapy, raw L2 on the TAP) against the
# gate's TCP stack, each case checked against what RFC 9293 / RFC 5961 ask
# and replayed against the Linux stack (a line server in a second namespace,
# over a veth pair) for comparison: RST on a closed port, SYN-ACK options,
# bad checksums, out-of-order and overlapping data, RSTs and SYNs in and out
# of the window, a zero window, data beyond the window, IPv6; then a SYN
# flood of spoofed sources while real sessions from the kernel go through.
# The scapy side is tests/gate/segments.py.
# Usage: test_segments.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! /usr/bin/python3 -c "import scapy.all" >/dev/null 2>&1; then
	echo "1..0 # SKIP /usr/bin/python3 cannot import scapy"
	exit 0
fi

LX=sgseg-lx
lx_pid=""
cleanup() {
	[ -n "$lx_pid" ] && kill "$lx_pid" 2>/dev/null && wait "$lx_pid" 2>/dev/null
	ip netns del "$LX" 2>/dev/null
	gate_stop
	rm -rf "$T"
}
trap cleanup EXIT
FLOOD_SYNS=${FLOOD_SYNS:-100000}
FLOOD_SESSIONS=20
MAX_FLOWS=4096
SYN_BACKLOG=64

cat >"$T/gate.conf" <<CONF
port edge0 {
    device = "net_tap0,iface=sgseg0";
    address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
}
# the flood's spoofed sources: their SYN-ACKs go to the kernel, which drops them
route = [ { prefix = "198.18.0.0/15"; via = "192.0.2.1"; port = edge0; } ];
limits { mbufs = 8191; max_flows = $MAX_FLOWS; syn_backlog = $SYN_BACKLOG; }
control { socket = "$T/ctl.sock"; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; }
POL

gate_start sgseg "$T/gate.conf" "$T/policy.conf" && sleep 0.3 && kill -0 "$gate_pid" 2>/dev/null
rc=$?
ok $rc "the gate starts"
if [ $rc -ne 0 ]; then
	sed 's/^/#   /' "$gate_log" | tail -15
	echo "1..$n"
	exit 1
fi
mac=$(sed -n 's/.*port edge0 is .*, MAC \([0-9a-fA-F:]*\),.*/\1/p' "$gate_log" | head -1)
[ -n "$mac" ]; ok $? "the gate printed its MAC ($mac)"

# the Linux peer: a line server in namespace $LX, reached over a veth pair
ip netns del "$LX" 2>/dev/null
ip netns add "$LX"
ip link add sgsegv0 netns "$gate_ns" type veth peer name sgsegv1 netns "$LX"
in_ns sysctl -qw net.ipv6.conf.sgsegv0.disable_ipv6=1
in_ns ip link set sgsegv0 up
ip -n "$LX" link set lo up
ip -n "$LX" addr add 198.51.100.25/24 dev sgsegv1
ip -n "$LX" addr add 2001:db8:51::25/64 dev sgsegv1 nodad
ip -n "$LX" link set sgsegv1 up
# one answer per out-of-window segment, as the gate: Linux rate-limits them per socket
ip netns exec "$LX" sysctl -qw net.ipv4.tcp_invalid_ratelimit=0
ip netns exec "$LX" /usr/bin/python3 tests/gate/segments.py lxserver >"$T/lx.out" 2>&1 &
lx_pid=$!
lxmac=$(ip -n "$LX" link show sgsegv1 | sed -n 's/.*link\/ether \([^ ]*\).*/\1/p')
for _ in $(seq 1 50); do grep -q ready "$T/lx.out" && break; sleep 0.1; done
grep -q ready "$T/lx.out"; ok $? "the Linux peer listens ($lxmac)"

# the cases: PASS/FAIL lines become TAP, comments pass through
in_ns timeout 150 /usr/bin/python3 tests/gate/segments.py cases \
	sgseg0 "$mac" 192.0.2.25 2001:db8:25::25 192.0.2.77 2001:db8:25::77 \
	sgsegv0 "$lxmac" 198.51.100.25 2001:db8:51::25 198.51.100.77 2001:db8:51::77 >"$T/cases" 2>&1
cases_rc=$?
while IFS= read -r line; do
	case $line in
	"PASS "*) ok 0 "${line#PASS }" ;;
	"FAIL "*) ok 1 "${line#FAIL }" ;;
	"# "*) echo "$line" ;;
	*) echo "#   $line" ;;
	esac
done <"$T/cases"
grep -q "segment beyond the window" "$T/cases"; ok $? "the case script ran to its end (exit $cases_rc)"

# the SYN flood, with real sessions from the kernel at the same time
# a TAP queue long enough for the whole burst: every SYN reaches the gate
in_ns ip link set sgseg0 txqueuelen "$FLOOD_SYNS"
drops0=$(in_ns cat /sys/class/net/sgseg0/statistics/tx_dropped)
in_ns timeout 180 /usr/bin/python3 tests/gate/segments.py flood sgseg0 "$mac" 192.0.2.25 \
	"$FLOOD_SYNS" "$FLOOD_SESSIONS" >"$T/out" 2>&1
drops1=$(in_ns cat /sys/class/net/sgseg0/statistics/tx_dropped)
sed -n 's/^\(FLOOD\|GATE\|SESSIONS\|#\)/# \1/p' "$T/out"
sent=$(sed -n 's/^FLOOD sent \([0-9]*\).*/\1/p' "$T/out")
rate=$(sed -n 's/^FLOOD .* rate \([0-9]*\).*/\1/p' "$T/out")
echo "# flood: ${sent:-0} SYNs sent at ${rate:-0}/s; $((drops1 - drops0)) dropped by the TAP queue before the gate"
[ "${sent:-0}" -eq "$FLOOD_SYNS" ]; ok $? "the flood sent $FLOOD_SYNS spoofed SYNs"
good=$(sed -n 's/^SESSIONS ok \([0-9]*\) of.*/\1/p' "$T/out")
during=$(sed -n 's/^SESSIONS .*, \([0-9]*\) of them started during.*/\1/p' "$T/out")
[ "${good:-0}" -eq "$FLOOD_SESSIONS" ]; ok $? "real sessions during the flood: ${good:-0} of $FLOOD_SESSIONS got the banner, EHLO and QUIT (${during:-0} started while it ran)"
[ "${during:-0}" -ge 1 ]; ok $? "the real sessions overlapped the flood"
in_ns /usr/bin/python3 -c "
import smtplib; s = smtplib.SMTP('192.0.2.25', 25, timeout=10); assert s.ehlo('a')[0] == 250; s.quit()" >"$T/out" 2>&1
ok $? "a session after the flood still works"

sleep 0.2
gate_stop
[ "$gate_rc" -eq 0 ]; ok $? "the gate stops cleanly"
! grep -q "runtime error\|Sanitizer" "$gate_log"; ok $? "no sanitizer report from the gate"
grep "tcp seg_in" "$gate_log" | sed 's/^/# /'
tcsum=$(gate_stat drop_csum)
[ "${tcsum:-0}" -ge 3 ]; ok $? "bad TCP checksums counted (drop_csum ${tcsum:-none})"
icsum=$(gate_stat csum)
[ "${icsum:-0}" -ge 1 ]; ok $? "bad IPv4 header checksums counted (csum ${icsum:-none})"
cookies=$(gate_stat cookies_sent)
[ "${cookies:-0}" -gt 0 ]; ok $? "SYN cookies under the flood (cookies_sent ${cookies:-none}, cookies_ok $(gate_stat cookies_ok))"
flows=$(gate_stat flows_active)
[ -n "$flows" ] && [ "$flows" -le "$MAX_FLOWS" ]; ok $? "state stayed bounded: flows_active ${flows:-none} <= max_flows $MAX_FLOWS"
# what may remain: half-open flows up to syn_backlog, the real sessions in TIME_WAIT
bound=$((SYN_BACKLOG + FLOOD_SESSIONS + 1 + 8))
[ -n "$flows" ] && [ "$flows" -le "$bound" ]; ok $? "the flood left no more than syn_backlog half-open flows (flows_active ${flows:-none} <= $bound)"

echo "1..$n"
[ $failed -eq 0 ]
