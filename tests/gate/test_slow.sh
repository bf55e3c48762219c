#!/usr/bin/env bash
# test_slow - slow and stalled clients are reclaimed by the gate's timeouts
# and do not stop real sessions: SGAB_DRIP_N clients that send one byte
# every 2 s and never finish a line, SGAB_STALL_N clients that pipeline
# thousands of NOOPs and never read a reply (zero window forever), split
# over SGAB_PROCS client processes (each process may open at most 20,000
# files); meanwhile real sessions must get their replies. Afterwards the
# gate holds no session and no TCP buffer of them.
# Usage: test_slow.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! command -v curl >/dev/null; then
	echo "1..0 # SKIP curl is not installed"
	exit 0
fi
PY=$(command -v python3 || echo /usr/bin/python3)
DRIP_N=${SGAB_DRIP_N:-1000}
STALL_N=${SGAB_STALL_N:-100}
PROCS=${SGAB_PROCS:-2}
CT=${SGAB_CT:-6} # the command timeout: longer than opening them all takes, to hold them all at once
FLOWS=$(((DRIP_N + STALL_N) * 5 / 4 + 1000))

cat >"$T/gate.conf" <<CONF
port edge0 {
    device = "net_tap0,iface=sgab3";
    address = [ "192.0.2.25/24" ];
}
limits { max_flows = $FLOWS; syn_backlog = 4096; mbufs = 16383; }
metrics { listen = "127.0.0.1:9125"; }
CONF
cat >"$T/policy.conf" <<POL
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; command_timeout = ${CT}s; session_timeout = 30min; }
POL

# metric NAME: a metric of the gate summed over lcores
metric() {
	in_ns curl -s http://127.0.0.1:9125/metrics |
		awk -v m="$1" '$1 == m || index($1, m "{") == 1 { n += $2 } END { print n + 0 }'
}
val() { # val NAME: a counter summed over the clients' outputs
	awk -v k="$1" '$1 == k { n += $2 } END { print n + 0 }' "$T"/slow.*
}
vmax() { # vmax NAME: its largest value over the clients' outputs
	awk -v k="$1" '$1 == k && $2 > m { m = $2 } END { print m + 0 }' "$T"/slow.*
}
vmin() {
	awk -v k="$1" '$1 == k && (m == "" || $2 < m) { m = $2 } END { print m + 0 }' "$T"/slow.*
}

gate_start sgab-slow "$T/gate.conf" "$T/policy.conf" -m $((1024 + FLOWS / 50))
ok $? "the gate starts with room for $FLOWS flows"
in_ns sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
srcs=192.0.2.1
for a in 101 102 103 104; do
	in_ns ip addr add 192.0.2.$a/24 dev sgab3
	srcs=$srcs,192.0.2.$a
done
chunks0=$(metric smtpgate_tcp_chunks_used)

start=$(date +%s)
pids=""
for p in $(seq 1 "$PROCS"); do
	real=0
	[ "$p" -eq 1 ] && real=50
	timeout 600 ip netns exec sgab-slow "$PY" tests/gate/slow.py 192.0.2.25 \
		--drip $((DRIP_N / PROCS)) --stall $((STALL_N / PROCS)) --real $real \
		--sources "$srcs" --timeout $((CT + 60 > 120 ? CT + 60 : 120)) --hold $((CT + 30)) >"$T/slow.$p" 2>&1 &
	pids="$pids $!"
done
# once every process has its clients open and slow (go): the command
# timeout and the gate's linger for a last reply (10 s) later, with a
# margin, the gate must hold none of them, though the stall clients still
# hold their sockets
for _ in $(seq 1 600); do
	[ "$(cat "$T"/slow.* 2>/dev/null | grep -c '^go$')" -eq "$PROCS" ] && break
	sleep 0.5
done
sleep $((CT + 19))
live=$(($(metric smtpgate_smtp_sessions_opened_total) - $(metric smtpgate_smtp_sessions_closed_total)))
flows=$(($(metric smtpgate_tcp_flows_active) - $(metric smtpgate_tcp_flows_time_wait)))
chunks=$(metric smtpgate_tcp_chunks_used)
wait $pids # not the gate's
cat "$T"/slow.* >"$T/out"
sed 's/^/#   /' "$T/slow.1"
d=$((DRIP_N / PROCS * PROCS))
s=$((STALL_N / PROCS * PROCS))
[ "$(val drip_open)" -eq "$d" ] && [ "$(val stall_open)" -eq "$s" ]
ok $? "all $d drip and $s stall clients were greeted and held at once"
[ "$(val real_ok)" -eq 50 ]
ok $? "meanwhile 50 real sessions got every reply ($(val real_ok) ok, slowest $(vmax real_max_s) s)"
[ "$(val drip_421)" -eq "$d" ] && [ "$(val drip_closed)" -eq "$d" ]
ok $? "every drip client got 421 4.4.2 timeout exceeded and the close, though it kept sending ($(val drip_closed) of $d)"
lo=$(vmin drip_min_s)
hi=$(vmax drip_max_s)
awk -v hi="$hi" -v ct="$CT" 'BEGIN { exit !(hi <= ct + 14) }'
ok $? "... within the command timeout ($CT s) and a margin after its banner: $lo to $hi s"
echo "# $((CT + 19)) s after all were open: sessions live $live, TCP flows $flows (TIME_WAIT aside), chunks used $chunks (at start $chunks0); stall clients that saw the end: $(val stall_reclaimed) of $s"
[ "$live" -eq 0 ] && [ "$flows" -le 2 ] && [ "$chunks" -le $((chunks0 + 16)) ]
ok $? "the gate reclaimed every slow and stalled session and its buffers while the clients still held on"
gate_stop
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log"
ok $? "the gate stopped cleanly (exit $gate_rc)"
echo "1..$n"
[ "$failed" -eq 0 ]
