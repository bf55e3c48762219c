#!/usr/bin/env bash
# test_relay_loss - the relay over a lossy link: clients and the backend
# (Postfix's smtp-sink) sit behind tests/gate/impair.py, a userspace bridge
# that drops 5% of the frames both ways and delays each by 5-30 ms, so some
# overtake others (this kernel has no netem). Every message must still
# arrive at the backend byte for byte, none twice, each with the backend's
# 250 at the client.
# Usage: test_relay_loss.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! command -v smtp-sink >/dev/null; then
	echo "1..0 # SKIP smtp-sink (postfix) is not installed"
	exit 0
fi
CLI_NS=sgrl-cli
imp_pid=""
sink_pid=""
cleanup() {
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null
	[ -n "$imp_pid" ] && kill "$imp_pid" 2>/dev/null && wait "$imp_pid" 2>/dev/null
	ip netns del "$CLI_NS" 2>/dev/null
	pkill -f "tcpdump -i sgrl0" 2>/dev/null
	gate_stop
	rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgrl0";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 8191; max_flows = 4096; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; command_timeout = 60s; }
backend { address = [ "192.0.2.1:2525" ]; handoff = "none"; connect_timeout = 10s; }
POL

gate_start sgrl "$T/gate.conf" "$T/policy.conf" -m 512
ok $? "the gate starts"
# the gate's namespace only bridges: clients and backend live behind the impairer
in_ns ip addr flush dev sgrl0
in_ns sysctl -qw net.ipv6.conf.sgrl0.disable_ipv6=1
ip netns del "$CLI_NS" 2>/dev/null
ip netns add "$CLI_NS"
ip link add sgrl1a netns sgrl type veth peer name sgrl1b netns "$CLI_NS"
in_ns sysctl -qw net.ipv6.conf.sgrl1a.disable_ipv6=1
in_ns ip link set sgrl1a up promisc on
in_ns ip link set sgrl0 promisc on
ip netns exec "$CLI_NS" ip link set lo up
ip netns exec "$CLI_NS" sysctl -qw net.ipv6.conf.sgrl1b.disable_ipv6=1
ip netns exec "$CLI_NS" ip addr add 192.0.2.1/24 dev sgrl1b
ip netns exec "$CLI_NS" ip link set sgrl1b up
in_ns python3 tests/gate/impair.py --a sgrl0 --b sgrl1a --loss 0.05 --delay 5:30 \
	--seed "${SGRL_SEED:-$$}" --max-seconds 600 >"$T/impair.out" 2>&1 &
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

# SGRL_PCAP=FILE captures the gate's side of the link (for debugging)
[ -n "${SGRL_PCAP:-}" ] && { in_ns tcpdump -i sgrl0 -s 200 -w "$SGRL_PCAP" 2>/dev/null & }
start=$(date +%s)
timeout 600 ip netns exec "$CLI_NS" python3 tests/gate/relay_client.py send 192.0.2.25 2 \
	100 1000 10000 65536 262144 >"$T/sent" 2>"$T/out"
rc=$?
echo "# 10 messages through the lossy link in $(($(date +%s) - start)) s"
[ $rc -eq 0 ] && [ "$(awk '$4 == 250' "$T/sent" | wc -l)" -eq 10 ]
ok $? "10 messages of 100 bytes to 256 KiB: every one answered 250 by the backend"
ip netns exec "$CLI_NS" python3 tests/gate/relay_client.py check "$T/dump" "$T/sent" >"$T/out" 2>&1
ok $? "every message arrived byte for byte, none twice ($(cat "$T/out"))"

kill "$imp_pid" 2>/dev/null
wait "$imp_pid" 2>/dev/null
imp_pid=""
val() { sed -n "s/^$2 //p" "$1" | head -1; }
I=$T/impair.out
gate_stop
echo "# impairer: gate->net in $(val "$I" a_to_b_in) dropped $(val "$I" a_to_b_dropped) reordered $(val "$I" a_to_b_reordered); net->gate in $(val "$I" b_to_a_in) dropped $(val "$I" b_to_a_dropped) reordered $(val "$I" b_to_a_reordered)"
retrans=$(sed -n 's/.* retransmits \([0-9]*\).*/\1/p' "$gate_log" | head -1)
echo "# gate: $retrans retransmissions"
[ "$(val "$I" a_to_b_dropped)" -gt 0 ] && [ "$(val "$I" b_to_a_dropped)" -gt 0 ] &&
	[ "${retrans:-0}" -gt 0 ]
ok $? "frames were really lost both ways, and the gate retransmitted"
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log"
ok $? "the gate stopped cleanly"
echo "1..$n"
[ "$failed" -eq 0 ]
