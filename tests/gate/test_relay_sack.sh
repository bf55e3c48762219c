#!/usr/bin/env bash
# test_relay_sack - a 50 MB message through the gate to the backend (Postfix's
# smtp-sink) across a lossy, reordering link, hash-compared; and a capture on
# the gate's TAP showing that the gate, as a sender, retransmits the holes
# its peer's SACK blocks report and never data the peer has SACKed.
#
# The client and the backend sit behind tests/gate/impair.py (this kernel has
# no netem), which drops SGSK_LOSS (default 1.5%) of the frames both ways,
# delays each 5 ms and holds 1% of them 15 ms longer, so that those are
# overtaken. The gate receives the message from Linux's TCP (the client) and
# sends it on with its own (the backend is Linux's too).
# Usage: test_relay_sack.sh SOURCE_DIR BUILD_DIR   (prints TAP)
#   SGSK_PCAP=FILE keeps the capture; SGSK_LOSS, SGSK_SEED vary the link;
#   SGSK_NAME (sgsk...) names the namespaces and interfaces.
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! command -v smtp-sink >/dev/null || ! command -v tcpdump >/dev/null; then
	echo "1..0 # SKIP smtp-sink (postfix) or tcpdump is not installed"
	exit 0
fi
N=${SGSK_NAME:-sgsk} # namespaces, TAP and veth names (SGSK_NAME=sgskN runs several at once)
CLI_NS=$N-cli
SIZE=52428800 # 50 MiB
BOUND=900     # seconds for the message: generous, the machine is shared and loaded
imp_pid=""
sink_pid=""
dump_pid=""
cleanup() {
	[ -n "$dump_pid" ] && kill "$dump_pid" 2>/dev/null && wait "$dump_pid" 2>/dev/null
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null
	[ -n "$imp_pid" ] && kill "$imp_pid" 2>/dev/null && wait "$imp_pid" 2>/dev/null
	ip netns del "$CLI_NS" 2>/dev/null
	gate_stop
	rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"

cat >"$T/gate.conf" <<CONF
port edge0 {
    device = "net_tap0,iface=${N}0";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 8191; max_flows = 1024; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; command_timeout = 300s; message_size_limit = 60000000; }
backend { address = [ "192.0.2.1:2525" ]; handoff = "none"; connect_timeout = 10s; }
POL

gate_start "$N" "$T/gate.conf" "$T/policy.conf" -m 512
ok $? "the gate starts"
# the gate's namespace only bridges: the client and the backend live behind the impairer
in_ns ip addr flush dev ${N}0
in_ns sysctl -qw net.ipv6.conf.${N}0.disable_ipv6=1
ip netns del "$CLI_NS" 2>/dev/null
ip netns add "$CLI_NS"
ip link add ${N}1a netns "$N" type veth peer name ${N}1b netns "$CLI_NS"
in_ns sysctl -qw net.ipv6.conf.${N}1a.disable_ipv6=1
in_ns ip link set ${N}1a up promisc on
in_ns ip link set ${N}0 promisc on
ip netns exec "$CLI_NS" ip link set lo up
ip netns exec "$CLI_NS" sysctl -qw net.ipv6.conf.${N}1b.disable_ipv6=1
# whole frames with real checksums on the wire: the impairer need not complete them
ip netns exec "$CLI_NS" ethtool -K ${N}1b tx off gso off tso off >/dev/null 2>&1
ip netns exec "$CLI_NS" ip addr add 192.0.2.1/24 dev ${N}1b
ip netns exec "$CLI_NS" ip link set ${N}1b up
in_ns python3 tests/gate/impair.py --a ${N}0 --b ${N}1a --loss "${SGSK_LOSS:-0.015}" \
	--delay 5:5 --reorder 0.01:15 --seed "${SGSK_SEED:-$$}" --max-seconds $((BOUND + 60)) \
	>"$T/impair.out" 2>&1 &
imp_pid=$!
for _ in $(seq 1 50); do
	grep -q "^ready" "$T/impair.out" && break
	sleep 0.1
done
mkdir -p "$T/dump"
chmod 777 "$T/dump"
ip netns exec "$CLI_NS" smtp-sink -u nobody -d "$T/dump/%H%M%S." 192.0.2.1:2525 100 \
	>/dev/null 2>&1 &
sink_pid=$!
grep -q "^ready" "$T/impair.out"
ok $? "the impairer bridges the gate and the clients' namespace"

# headers only (96 bytes: Ethernet, IPv4 and the longest TCP header) of both flows
in_ns tcpdump -i ${N}0 -s 96 -U -w "$T/cap.pcap" 'tcp port 2525 or tcp port 25' 2>"$T/tcpdump.err" &
dump_pid=$!
for _ in $(seq 1 50); do
	grep -q "listening on" "$T/tcpdump.err" && break
	sleep 0.1
done
start=$(date +%s.%N)
timeout $BOUND ip netns exec "$CLI_NS" env RELAY_TIMEOUT=300 \
	python3 tests/gate/relay_client.py send 192.0.2.25 1 $SIZE >"$T/sent" 2>"$T/out"
rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "# 50 MiB through the lossy link in $secs s: $(awk -v s="$SIZE" -v t="$secs" 'BEGIN { printf "%.2f", s / 1048576 / t }') MiB/s end to end"
[ $rc -eq 0 ] && [ "$(awk '$4 == 250' "$T/sent" | wc -l)" -eq 1 ]
ok $? "a 50 MiB message within ${BOUND} s: answered 250 by the backend"
ip netns exec "$CLI_NS" python3 tests/gate/relay_client.py check "$T/dump" "$T/sent" >"$T/out" 2>&1
ok $? "it arrived byte for byte, SHA-256 compared ($(cat "$T/out"))"

sleep 0.5 # the last ACKs
kill "$dump_pid" 2>/dev/null
wait "$dump_pid" 2>/dev/null
dump_pid=""
kill "$imp_pid" 2>/dev/null
wait "$imp_pid" 2>/dev/null
imp_pid=""
[ -n "${SGSK_PCAP:-}" ] && cp "$T/cap.pcap" "$SGSK_PCAP"
val() { sed -n "s/^$2 //p" "$1" | head -1; }
I=$T/impair.out
gate_stop
echo "# impairer: gate->net in $(val "$I" a_to_b_in) dropped $(val "$I" a_to_b_dropped) reordered $(val "$I" a_to_b_reordered); net->gate in $(val "$I" b_to_a_in) dropped $(val "$I" b_to_a_dropped) reordered $(val "$I" b_to_a_reordered)"
echo "# gate: retransmits $(gate_stat retransmits) rto_fired $(gate_stat rto_fired) sack_retransmits $(gate_stat sack_retransmits)"
[ "$(val "$I" a_to_b_dropped)" -gt 0 ] && [ "$(val "$I" b_to_a_dropped)" -gt 0 ] &&
	[ "$(val "$I" a_to_b_reordered)" -gt 0 ] && [ "$(gate_stat sack_retransmits)" -gt 0 ]
ok $? "frames were really lost and reordered, and the gate resent holes its peer's SACKs showed"

python3 tests/gate/sack_check.py "$T/cap.pcap" 192.0.2.25 2525 >"$T/out" 2>&1
rc=$?
sed 's/^/# /' "$T/out"
: >"$T/out" # shown already
ok $rc "capture: the gate's retransmissions fill the holes its peer reported, never SACKed data"
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log"
ok $? "the gate stopped cleanly"
echo "1..$n"
[ "$failed" -eq 0 ]
