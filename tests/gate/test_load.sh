#!/usr/bin/env bash
# test_load - the gate under load and on a bad link, through TAP, against the
# Linux TCP stack:
#  1. 10,000 concurrent idle sessions held from the kernel side: every one
#     gets its banner, stays open (NOOP -> 250 on each, all still held), and
#     QUIT -> 221 on each (tests/gate/load_client.py hold).
#  2. With 5% loss, 5-30 ms delay and the reordering it brings on the link
#     (tests/gate/impair.py, a userspace bridge: this kernel has no netem),
#     500 sessions (50 at a time) complete with exactly the expected replies,
#     and the gate really retransmitted.
# Usage: test_load.sh SOURCE_DIR BUILD_DIR   (prints TAP)
# Namespaces sgld-hold, sgld-loss (the gates') and sgld-cli (the clients of
# test 2); interfaces sgld0, sgld1 (TAPs), sgld2a/sgld2b (veth).
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"

PY=$(command -v python3 || echo /usr/bin/python3)
CLI_NS=sgld-cli
HOLD_N=${SGLD_HOLD_N:-10000}
MIX_N=${SGLD_MIX_N:-500}
imp_pid=""
logs=""

cleanup() {
	if [ -n "$imp_pid" ]; then
		kill -TERM "$imp_pid" 2>/dev/null
		wait "$imp_pid" 2>/dev/null
	fi
	gate_stop
	ip netns del "$CLI_NS" 2>/dev/null
	# SGLD_KEEP=DIR keeps the gates' logs and the clients' and impairer's output
	[ -n "${SGLD_KEEP:-}" ] && cp "$T"/*.log "$T"/*.out "$SGLD_KEEP"/ 2>/dev/null
	rm -f $logs # gate_start makes them in /tmp
	rm -rf "$T"
}
trap cleanup EXIT

# val FILE NAME - the value of a "NAME VALUE" line, 0 when absent
val() {
	local v
	v=$(sed -n "s/^$2 \([0-9.]*\)$/\1/p" "$1" | head -1)
	echo "${v:-0}"
}

# stat_sum NAME - a gate counter summed over its lcores (gate_stat gives the first)
stat_sum() {
	sed -n "s/.* $1 \([0-9]*\).*/\1/p" "$gate_log" | awk '{ s += $1 } END { print s + 0 }'
}

# keep_log / save_log NAME - hold the gate's log open from its start, and copy
# it to $T/NAME.log after gate_stop (gate_stat and stat_sum read it there):
# other test runs on this machine may clean /tmp of gate logs meanwhile
keep_log() {
	logs="$logs $gate_log"
	exec 7<"$gate_log"
}
save_log() {
	cat /dev/fd/7 >"$T/$1.log"
	exec 7<&-
	gate_log=$T/$1.log
}

# fins_settle NS SECONDS - wait until the gate has acknowledged every FIN the
# clients in NS sent (no kernel socket left in LAST-ACK, FIN-WAIT-1 or
# CLOSING), so that the gate's closed-session counter is final
fins_settle() {
	local i
	for i in $(seq 1 $(($2 * 10))); do
		[ "$(ip netns exec "$1" ss -Htan state last-ack state fin-wait-1 state closing | wc -l)" -eq 0 ] &&
			return 0
		sleep 0.1
	done
	return 1
}

# show_errors FILE - the client's or impairer's error lines as TAP comments
show_errors() {
	grep "^error " "$1" | head -10 | sed 's/^/#   /'
}

cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
local_hosts = [ "gw.local.example" ];
blacklist {
    helo = [ "*.dyn.example" ];
    senders = [ "*@spam.example" ];
    recipients = [ "trap@local.example" ];
}
service mx {
    ports = [ 25 ];
    reject_remote_local_helo = true;
    reject_nonlocal_senders_claiming_local = true;
    command_timeout = 10min;
    session_timeout = 30min;
}
POL

# ---- 1. 10,000 concurrent idle sessions --------------------------------------
# one worker lcore holds every flow: room for all of them plus TIME_WAIT slack
cat >"$T/hold.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgld0";
    address = [ "192.0.2.25/24" ];
}
limits { max_flows = 12000; syn_backlog = 2048; mbufs = 8191; }
CONF

gate_start sgld-hold "$T/hold.conf" "$T/policy.conf" -m 512
ok $? "hold: the gate starts with room for 12,000 flows"
keep_log
# 4 client addresses with the whole port range each: 2,500 connections apiece
in_ns sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
srcs=192.0.2.1
for a in 101 102 103 104; do
	in_ns ip addr add 192.0.2.$a/24 dev sgld0
	srcs=$srcs,192.0.2.$a
done
# the gate's neighbour entries for every client address, before the burst (a
# segment to an unresolved neighbour is dropped and waits for retransmission)
for a in ${srcs//,/ }; do
	in_ns ping -c 2 -i 0.2 -W 1 -I "$a" 192.0.2.25 >/dev/null 2>&1
done

timeout 240 ip netns exec sgld-hold "$PY" tests/gate/load_client.py hold --count "$HOLD_N" \
	--sources "$srcs" --concurrency 256 --pause 2 --timeout 30 >"$T/hold.out" 2>&1
cp "$T/hold.out" "$T/out"
echo "# hold: $HOLD_N connections: opened and greeted in $(val "$T/hold.out" open_seconds) s," \
	"NOOP on all in $(val "$T/hold.out" noop_seconds) s, QUIT on all in" \
	"$(val "$T/hold.out" quit_seconds) s; total $(val "$T/hold.out" total_seconds) s"
show_errors "$T/hold.out"
[ "$(val "$T/hold.out" banner)" -eq "$HOLD_N" ]
ok $? "hold: all $HOLD_N connections got the 220 banner ($(val "$T/hold.out" banner))"
[ "$(val "$T/hold.out" held)" -eq "$HOLD_N" ]
ok $? "hold: all $HOLD_N open at once after the last banner ($(val "$T/hold.out" held))"
[ "$(val "$T/hold.out" noop)" -eq "$HOLD_N" ]
ok $? "hold: NOOP answered 250 on every held connection ($(val "$T/hold.out" noop))"
[ "$(val "$T/hold.out" quit)" -eq "$HOLD_N" ] && [ "$(val "$T/hold.out" closed)" -eq "$HOLD_N" ]
ok $? "hold: QUIT answered 221 and closed on every one ($(val "$T/hold.out" quit), $(val "$T/hold.out" closed) closed)"

fins_settle sgld-hold 20
gate_stop
[ "$gate_rc" -eq 0 ]
ok $? "hold: the gate stops cleanly"
save_log hold
cp "$gate_log" "$T/out"
opened=$(stat_sum sessions_opened)
closed=$(stat_sum sessions_closed)
echo "# hold: gate sessions_opened $opened sessions_closed $closed accepted $(stat_sum accepted) retransmits" \
	"$(stat_sum retransmits) cookies_sent $(stat_sum cookies_sent) refused $(stat_sum refused)"
[ "$opened" -eq "$HOLD_N" ] && [ "$(stat_sum refused)" -eq 0 ] && [ "$(stat_sum lost_output)" -eq 0 ]
ok $? "hold: the gate counted $HOLD_N sessions, none refused, no output lost"
[ "$closed" -eq "$HOLD_N" ]
ok $? "hold: every session was closed and freed in the gate ($closed)"

# ---- 2. 500 sessions through loss, delay and reordering ----------------------
cat >"$T/loss.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgld1";
    address = [ "192.0.2.25/24" ];
}
limits { max_flows = 4096; mbufs = 4095; }
CONF

gate_start sgld-loss "$T/loss.conf" "$T/policy.conf"
ok $? "loss: the gate starts"
keep_log
# the TAP carries no address: the gate namespace's kernel only bridges through impair.py
in_ns ip addr flush dev sgld1
in_ns sysctl -qw net.ipv6.conf.sgld1.disable_ipv6=1
ip netns del "$CLI_NS" 2>/dev/null
ip netns add "$CLI_NS"
ip link add sgld2a netns sgld-loss type veth peer name sgld2b netns "$CLI_NS"
in_ns sysctl -qw net.ipv6.conf.sgld2a.disable_ipv6=1
in_ns ip link set sgld2a up promisc on
in_ns ip link set sgld1 promisc on
ip netns exec "$CLI_NS" ip link set lo up
ip netns exec "$CLI_NS" sysctl -qw net.ipv6.conf.sgld2b.disable_ipv6=1
# whole frames with real checksums on the wire (impair.py also completes partial ones)
ip netns exec "$CLI_NS" ethtool -K sgld2b tx off tso off gso off >/dev/null 2>&1
ip netns exec "$CLI_NS" ip addr add 192.0.2.1/24 dev sgld2b
ip netns exec "$CLI_NS" ip link set sgld2b up

ip netns exec sgld-loss "$PY" tests/gate/impair.py --a sgld1 --b sgld2a --loss 0.05 \
	--delay 5:30 --seed "${SGLD_SEED:-$$}" --max-seconds 600 >"$T/impair.out" 2>&1 &
imp_pid=$!
for i in $(seq 1 50); do
	grep -q "^ready" "$T/impair.out" && break
	sleep 0.1
done
grep -q "^ready" "$T/impair.out"
ok $? "loss: the impairer bridges sgld1 (gate) and sgld2a (clients)"

timeout 180 ip netns exec "$CLI_NS" "$PY" tests/gate/load_client.py mix --count "$MIX_N" \
	--parallel 50 --timeout 90 >"$T/mix.out" 2>&1
cp "$T/mix.out" "$T/out"
echo "# loss: $MIX_N sessions in $(val "$T/mix.out" seconds) s, the slowest" \
	"$(val "$T/mix.out" slowest_session) s;" $(grep "^kind_" "$T/mix.out" | tr '\n' ' ')
show_errors "$T/mix.out"
[ "$(val "$T/mix.out" completed)" -eq "$MIX_N" ]
ok $? "loss: $(val "$T/mix.out" completed) of $MIX_N sessions completed with exactly the expected replies"
k=0
for kind in accept relay helo sender recipient spoof; do
	[ "$(val "$T/mix.out" kind_$kind)" -gt 0 ] && k=$((k + 1))
done
[ "$k" -eq 6 ]
ok $? "loss: every kind of outcome was among them (accept, relay, helo, sender, recipient, spoof)"

# the last FINs go through the lossy link too: let them through before stopping
fins_settle "$CLI_NS" 30
kill -TERM "$imp_pid" 2>/dev/null
wait "$imp_pid"
imp_rc=$?
imp_pid=""
cp "$T/impair.out" "$T/out"
I=$T/impair.out
echo "# impairer gate->clients: in $(val "$I" a_to_b_in) dropped $(val "$I" a_to_b_dropped)" \
	"reordered $(val "$I" a_to_b_reordered) forwarded $(val "$I" a_to_b_forwarded)" \
	"tx_failed $(val "$I" a_to_b_tx_failed)"
echo "# impairer clients->gate: in $(val "$I" b_to_a_in) dropped $(val "$I" b_to_a_dropped)" \
	"reordered $(val "$I" b_to_a_reordered) forwarded $(val "$I" b_to_a_forwarded)" \
	"tx_failed $(val "$I" b_to_a_tx_failed) csum_fixed $(val "$I" b_to_a_csum_fixed)"
[ "$imp_rc" -eq 0 ] && [ "$(val "$I" a_to_b_dropped)" -gt 0 ] && [ "$(val "$I" b_to_a_dropped)" -gt 0 ] &&
	[ "$(val "$I" a_to_b_reordered)" -gt 0 ] && [ "$(val "$I" b_to_a_reordered)" -gt 0 ]
ok $? "loss: the impairer dropped and reordered frames both ways, and stopped when told"

gate_stop
[ "$gate_rc" -eq 0 ]
ok $? "loss: the gate stops cleanly"
save_log loss
cp "$gate_log" "$T/out"
rtx=$(stat_sum retransmits)
echo "# loss: gate retransmits $rtx seg_in $(stat_sum seg_in)" \
	"seg_out $(stat_sum seg_out) sessions_opened $(stat_sum sessions_opened)" \
	"sessions_closed $(stat_sum sessions_closed) drop_csum $(stat_sum drop_csum) rst_in $(stat_sum rst_in)"
[ "$rtx" -gt 0 ]
ok $? "loss: the gate retransmitted ($rtx segments): the loss was real"
[ "$(stat_sum sessions_opened)" -eq "$MIX_N" ] && [ "$(stat_sum sessions_closed)" -eq "$MIX_N" ] &&
	[ "$(stat_sum lost_output)" -eq 0 ]
ok $? "loss: the gate opened and closed $MIX_N sessions ($(stat_sum sessions_closed) closed), no output lost"
! grep -q "runtime error\|Sanitizer" "$T/hold.log" "$T/loss.log"
ok $? "no sanitizer report from the gate"

echo "1..$n"
[ $failed -eq 0 ]
