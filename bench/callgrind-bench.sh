#!/usr/bin/env bash
# callgrind-bench.sh - instructions per rejected SMTP session in the gate,
# counted by valgrind's callgrind on a fixed workload
#
# The gate runs under callgrind with one worker lcore, on one of two links:
#   memif  (the default) a net_memif port, server side, as in
#          bench/gate-bench.sh; the client is bench/smtpgate-bench (memif
#          client, --batches: one connection for all phases). The memif
#          PMD's part is its copy of each packet, each way; memif offloads
#          no checksums, so the gate computes and checks them itself (in its
#          TCP and net parts).
#   tap    a net_tap port in a network namespace of its own; the client is
#          bench/peers-load on the kernel side of the TAP. The TAP PMD's
#          part (readv/writev, the checksums offloaded to it) is counted.
# Each session: banner, HELO, MAIL, RCPT refused with 554 (relay access
# denied), QUIT, as in bench/gate-bench.sh, with its policy; one client
# address on both links.
#
# valgrind runs the gate with --fair-sched=yes on memif: with its default
# lock the polling worker thread starves the EAL interrupt thread, which
# speaks memif's control protocol, for tens of seconds, and the client gives
# up before the link is up.
#
# The worker polls, so under valgrind most of its instructions are its idle
# loop, in proportion to wall time. The script zeroes the counters once the
# gate is up (start-up excluded), then dumps them (callgrind_control -d)
# after three phases: idle for a while, N sessions, 2N sessions.
# bench/callgrind-sessions.py takes each function's idle cost per loop
# iteration (one iteration: one call of tcp_timers_run) off the loaded
# phases, and divides what is left by the sessions; the figure printed is
# the difference between the 2N and N phases over N, which also cancels what
# a phase pays once. Instructions are the worker thread's only (the control
# thread's log output is not in it); kernel work (the TAP's read and write
# system calls) is not counted by valgrind.
#
# usage: bench/callgrind-bench.sh [--smoke] [--link tap|memif] [--build DIR]
#                                 [-n N] [-c CONC] [--idle S] [--out DIR] [--keep]
#   --smoke       N=10, 3 s idle: checks the method works end to end and the
#                 figure is plausible (under valgrind start-up takes a minute
#                 or more on a loaded machine); without --link, on both links
#   --link L      memif (default: the gate's own work, counted the same in
#                 every run) or tap (the figures published before 2026-11-29
#                 18:30 UTC; the kernel's timing makes retransmissions, so
#                 runs differ by a few hundred instructions)
#   --build DIR   meson build directory (default: build at the top of the repo)
#   -n N          sessions of the first phase (default 200; the second: 2N)
#   -c CONC       client concurrency (default 4)
#   --idle S      seconds of the idle phase (default 10)
#   --out DIR     write DIR/callgrind.dat (top functions) and, with
#                 matplotlib, DIR/callgrind-functions.png; keeps the dumps
#                 in DIR/callgrind/ for callgrind_annotate
#   --keep        keep the configs and logs (path printed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
. "$here/lib.sh"
build="$top/build"
smoke=0
keep=0
link=""
n=200
conc=4
idle=10
out=""
args=("$@")

while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) smoke=1 ;;
	--link) link=$2; shift ;;
	--build) build=$2; shift ;;
	-n) n=$2; shift ;;
	-c) conc=$2; shift ;;
	--idle) idle=$2; shift ;;
	--out) out=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,52p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "callgrind-bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$link" in
tap|memif) ;;
"")
	if [ "$smoke" = 1 ]; then
		# the smoke run checks both links, one after the other
		rc=0
		"$0" "${args[@]}" --link tap || rc=1
		"$0" "${args[@]}" --link memif || rc=1
		exit "$rc"
	fi
	link=memif
	;;
*) echo "callgrind-bench.sh: --link is tap or memif" >&2; exit 2 ;;
esac
if [ "$smoke" = 1 ]; then
	n=10
	idle=3
fi
[ "$(id -u)" = 0 ] || { echo "callgrind-bench.sh: needs root (namespaces, DPDK)" >&2; exit 1; }
for t in valgrind callgrind_control; do
	command -v "$t" >/dev/null || { echo "callgrind-bench.sh: $t is missing (tools/install-deps --test)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/callgrind-bench.XXXXXX)
ns=sgbp-cg-$$
tap=sgbpc$$
prefix=sgbp-cg-$$
gate_pid=""
gen_pid=""

in_ns() { ip netns exec "$ns" "$@"; }

# ns_sweep - TERM, then KILL, every process left in our namespace
ns_sweep() {
	local p left
	for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
	for _ in $(seq 1 50); do
		left=$(ip netns pids "$ns" 2>/dev/null)
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	for p in $left; do kill -KILL "$p" 2>/dev/null; done
}

# stop PID TENTHS - TERM, then KILL after TENTHS of a second
stop() {
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 1 "$2"); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
}

cleanup() {
	set +e
	# the gate first: its memif client stays connected while the gate's
	# lcore polls (what smtpgate-bench --linger is for in gate-bench.sh)
	[ -n "$gate_pid" ] && stop "$gate_pid" 600
	[ -n "$gen_pid" ] && stop "$gen_pid" 50
	if [ "$link" = tap ]; then
		# whatever still runs in our namespace was started by us: end it
		ns_sweep
		ip netns del "$ns" 2>/dev/null
	fi
	rm -rf "/var/run/dpdk/$prefix" "/var/run/dpdk/$prefix-gen"
	if [ "$keep" = 1 ]; then
		echo "callgrind-bench.sh: files kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_build "$build" dataplane/smtpgate bench/peers-load bench/smtpgate-bench || exit 1
load=$build/bench/peers-load
gen_bin=$build/bench/smtpgate-bench

# the commands of each session, the same on both links (peers-load's)
helo=client.remote.example
from=sender@remote.example
rcpt=user@elsewhere.example

if [ "$link" = tap ]; then
	port_conf="port edge0 {
    device = \"net_tap0,iface=$tap\";
    address = [ \"192.0.2.25/24\" ];
}"
else
	# the gate of bench/gate-bench.sh, its clients behind the generator
	port_conf="port bench0 {
    device = \"net_memif0,role=server,id=0,socket=$tmp/memif.sock,socket-abstract=no,mac=02:53:47:00:00:01,rsize=12\";
    address = [ \"198.18.0.1/24\" ];
}
route = [ { prefix = \"10.0.0.0/8\"; via = \"198.18.0.2\"; port = bench0; } ];"
fi
cat >"$tmp/gate.conf" <<CONF
$port_conf
lcores = [ 1 ];
limits { max_flows = 4096; mbufs = 2047; arp_timeout = 1h; }
control { socket = "$tmp/ctl.sock"; }
metrics { listen = "off"; }
log = "file:$tmp/maillog";
CONF
# valgrind's gdbserver, which callgrind_control talks to, cannot be reached
# once the gate has dropped root: a gate that knows the key keeps root
if grep -q '"user"' "$top/dataplane/gconf.c" 2>/dev/null; then
	echo 'user = "root";' >>"$tmp/gate.conf"
fi
# the policy of bench/gate-bench.sh
cat >"$tmp/policy.conf" <<'POL'
hostname = "mx.bench.example";
local_domains = [ "local.example" ];
local_hosts = [ "mx.bench.example" ];
blacklist {
    clients = [ "10.66.0.0/16" ];
    helo = [ "*.dyn.example" ];
    senders = [ "*@spam.example" ];
}
service mx { ports = [ 25 ]; reject_remote_local_helo = true; }
POL

vg_opts=(--tool=callgrind --separate-threads=yes --compress-strings=no --compress-pos=no
	--callgrind-out-file="$tmp/cg/callgrind.out.%p")
# with valgrind's default (unfair) lock the polling worker starves the
# EAL interrupt thread, which speaks memif's control protocol (see above)
[ "$link" = memif ] && vg_opts+=(--fair-sched=yes)
# shellcheck disable=SC2054 # (the comma is --lcores')
gate_cmd=(valgrind "${vg_opts[@]}"
	"$build/dataplane/smtpgate" --no-huge -m 128 --no-pci --no-shconf --file-prefix "$prefix"
	--lcores=0@0,1@1 --log-level='*:warning'
	-- -c "$tmp/gate.conf" -p "$tmp/policy.conf")

t0=$SECONDS
mkdir -p "$tmp/cg"
# callgrind writes its dumps when asked, as whoever the gate runs as by then
# (a gate that drops root after start-up)
chmod 755 "$tmp"
chmod 1777 "$tmp/cg"
if [ "$link" = tap ]; then
	ip netns del "$ns" 2>/dev/null || true
	ip netns add "$ns"
	in_ns ip link set lo up
	# (ip netns exec itself, not the in_ns function: $! must be valgrind's pid)
	ip netns exec "$ns" "${gate_cmd[@]}" >"$tmp/gate.log" 2>&1 &
else
	"${gate_cmd[@]}" >"$tmp/gate.log" 2>&1 &
fi
gate_pid=$!
for _ in $(seq 1 3000); do
	grep -q "running on" "$tmp/gate.log" && break
	kill -0 "$gate_pid" 2>/dev/null || { cat "$tmp/gate.log" >&2; exit 1; }
	sleep 0.1
done
grep -q "running on" "$tmp/gate.log" || { echo "callgrind-bench.sh: the gate did not start in 300 s" >&2; exit 1; }
echo "callgrind-bench.sh: the gate started under callgrind in $((SECONDS - t0)) s" >&2

if [ "$link" = tap ]; then
	in_ns ip addr add 192.0.2.1/24 dev "$tap"
	in_ns ip link set "$tap" up
else
	# the generator: memif client, one connection for all phases; each line
	# it reads is a phase's session count, each line it prints a phase's end
	# (one client address, as on TAP: the same policy work per session)
	mkfifo "$tmp/gen.in" "$tmp/gen.out"
	"$gen_bin" --no-huge -m 256 --no-pci --no-shconf --file-prefix "$prefix-gen" \
		--lcores=0@0 --log-level='*:warning' \
		--vdev="net_memif0,role=client,id=0,socket=$tmp/memif.sock,socket-abstract=no,mac=02:53:47:00:00:02,rsize=12" \
		-- --batches -q -c "$conc" --mix rcpt=1 --clients 10.1.0.1/32 --helo-cmd \
		--helo "$helo" --from "$from" --bad-rcpt "$rcpt" \
		--link-wait 300 --timeout 120 --grace 60 <"$tmp/gen.in" >"$tmp/gen.out" 2>"$tmp/gen.err" &
	gen_pid=$!
	# (opened in the order the generator opens them)
	exec {gen_in}>"$tmp/gen.in" {gen_out}<"$tmp/gen.out"
fi

# sessions COUNT - COUNT sessions refused at RCPT; prints the client's line,
# fails unless every one was
sessions() {
	local res line
	if [ "$link" = tap ]; then
		res=$(in_ns "$load" -c "$conc" -n "$1" -H "$helo" -f "$from" -t "$rcpt" 192.0.2.25:25 2>&1) &&
			grep -q "rcpt_5xx=$1 " <<<"$res"
		local rc=$?
		echo "$res"
		return "$rc"
	fi
	echo "$1" >&"$gen_in" || { echo "the generator is gone: $(cat "$tmp/gen.err")"; return 1; }
	while read -r -t 1200 line <&"$gen_out"; do
		case "$line" in
		batch*)
			echo "$line"
			grep -q "started $1 done $1 rejected $1 accepted 0 expected $1 " <<<"$line"
			return
			;;
		esac
	done
	echo "no answer from the generator: $(cat "$tmp/gen.err")"
	return 1
}

# phase NAME SESSIONS - run the sessions (none: sleep the idle time), then dump
fail=0
phase() {
	local res
	if [ "$2" = 0 ]; then
		sleep "$idle"
	else
		if ! res=$(sessions "$2"); then
			echo "callgrind-bench.sh: FAILED: not every session was refused at RCPT: $res" >&2
			fail=1
		fi
		echo "callgrind-bench.sh: $1: $res" >&2
	fi
	callgrind_control -d "$1" "$gate_pid" >/dev/null 2>&1
}

# warm up (ARP, first use of every path), then counters from zero
res=$(sessions 2) || { echo "callgrind-bench.sh: the gate does not answer: $res" >&2; exit 1; }
echo "callgrind-bench.sh: the link is up and the gate answers after $((SECONDS - t0)) s" >&2
callgrind_control -z "$gate_pid" >/dev/null 2>&1
phase idle 0
phase "n$n" "$n"
phase "n$((2 * n))" "$((2 * n))"
# the gate first, then the client (see cleanup)
kill -TERM "$gate_pid" 2>/dev/null || true
grc=0
wait "$gate_pid" || grc=$?
gate_pid=""
if [ "$link" = memif ]; then
	exec {gen_in}>&-
	wait "$gen_pid" || true
	gen_pid=""
fi
if [ "$grc" != 0 ] && grep -q '^smtpgate: stopped' "$tmp/gate.log"; then
	# the phases are measured, the counters printed: DPDK 22.11's memif,
	# closed with a client connected, can leave the EAL interrupt thread
	# a freed handle (bench/RESULTS.md, the memif section's notes)
	echo "callgrind-bench.sh: note: the gate crashed in exit, after it stopped (status $grc)" >&2
elif [ "$grc" != 0 ]; then
	echo "callgrind-bench.sh: FAILED: the gate exited with $grc:" >&2
	grep -v '^==' "$tmp/gate.log" | tail -20 >&2
	fail=1
fi

# the worker thread's dump of each phase: the file that has lc_main
dump() {
	local f
	for f in $(grep -l "^desc: Trigger: dump $1\$" "$tmp"/cg/callgrind.out.*); do
		grep -q "^fn=lc_main$" "$f" && { echo "$f"; return 0; }
	done
	echo "callgrind-bench.sh: no dump of the worker for $1; dumps:" >&2
	grep -H "^desc: Trigger" "$tmp"/cg/callgrind.out.* >&2 || true
	return 1
}
d_idle=$(dump idle)
d1=$(dump "n$n")
d2=$(dump "n$((2 * n))")

opts=()
if [ -n "$out" ]; then
	mkdir -p "$out/callgrind"
	cp "$d_idle" "$d1" "$d2" "$out/callgrind/"
	opts+=(--dat "$out/callgrind.dat")
	/usr/bin/python3 -c 'import matplotlib' 2>/dev/null && opts+=(--png "$out/callgrind-functions.png")
fi
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo
echo "Instructions per SMTP session refused at RCPT, in the gate's worker (callgrind)"
echo "  date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "  machine   $(nproc) CPUs, ${cpu_model:-unknown CPU}, $(uname -r)"
echo "  versions  smtpgate $(sed -n "s/^[[:space:]]*version : '\(.*\)',/\1/p" "$top/meson.build") (build $build), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'), $(valgrind --version)"
if [ "$link" = tap ]; then
	echo "  link      net_tap (the client: bench/peers-load on the kernel side, -c $conc)"
else
	echo "  link      net_memif, gate as server (the client: bench/smtpgate-bench --batches -c $conc)"
fi
echo "  load      banner, HELO, MAIL, RCPT refused (554), QUIT; phases idle $idle s, $n and $((2 * n)) sessions"
echo
/usr/bin/python3 "$here/callgrind-sessions.py" "$d_idle" "$n" "$d1" "$((2 * n))" "$d2" --link "$link" \
	"${opts[@]}" >"$tmp/result"
grep -v '^PER_SESSION' "$tmp/result"
per=$(sed -n 's/^PER_SESSION //p' "$tmp/result")
[ -n "$out" ] && echo "  dumps: $out/callgrind/ (callgrind_annotate FILE)"
echo
echo "  the gate's counters:"
grep '^smtpgate: lcore' "$tmp/gate.log" | sed 's/^smtpgate: /    /' || true
echo
echo "instructions per rejected session ($link): $per (target under 10,000)"

# the method must see the sessions: a positive figure, the gate's own count
replies=$(sed -n 's/.* replies_5xx \([0-9]*\).*/\1/p' "$tmp/gate.log" | head -1)
total=$((3 * n + 2))
if [ "${replies:-0}" != "$total" ]; then
	echo "callgrind-bench.sh: FAILED: the gate sent ${replies:-no} 5xx replies, not $total" >&2
	fail=1
fi
if ! [ "${per:-0}" -gt 1000 ]; then
	echo "callgrind-bench.sh: FAILED: implausible figure ${per:-none}" >&2
	fail=1
fi
exit "$fail"
