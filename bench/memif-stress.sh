#!/usr/bin/env bash
# memif-stress.sh - does the gate survive memif clients coming and going?
#
# DPDK 22.11's memif PMD has two teardown races that crash the gate (the
# memif server); bench/RESULTS.md (the memif rate section's notes) tells
# what they are. This script counts them, so that a change can be shown to
# help:
#   poll  one gate, polling; -n times a generator (bench/smtpgate-bench, the
#         memif client) connects, runs a short load and leaves: every other
#         one exits normally (rte_eth_dev_stop: a DISCONNECT message), the
#         others are killed with SIGKILL in the middle of the load (the
#         control socket just closes). Either way the gate's interrupt
#         thread unmaps the link's memory while its worker lcore polls it.
#         After each, the gate must still be running; a dead gate is
#         counted (exit status, signal, sanitizer report) and restarted.
#   exit  -n times: a gate starts, a generator connects, plays a few
#         sessions and stays attached without polling (--linger), and the
#         gate is stopped (SIGTERM) with its client attached; it must exit
#         with status 0. With --starve-intr, EAL's interrupt thread is made
#         the last to run on its CPU while the gate stops (nice 19 for it,
#         a busy loop beside it for that second), as a loaded machine
#         sometimes does by chance: the exit race, made likely.
# A crash leaves the gate's log in the kept directory (--keep, or always
# when one was seen) and its last lines on stderr.
#
# usage: bench/memif-stress.sh [--build DIR] [--gate-bin FILE] [-n N]
#                              [--mode poll|exit|both] [--starve-intr] [--keep]
#   --build DIR   meson build directory (default: build at the top of the
#                 repo; a sanitizer build works too: its reports count)
#   --gate-bin F  this smtpgate binary instead of DIR's (another version,
#                 to compare before and after a change)
#   -n N          tries per mode (default 200)
#   --mode M      poll, exit or both (default both)
#   --starve-intr exit: starve the gate's interrupt thread as it stops
#   --keep        keep the configs and logs (path printed)
#   --no-build    use DIR's binaries as they are (tests/gate/test_memif_exit.sh)
# Prints one line per mode, "poll: K crashes in N disconnects" and
# "exit: K crashes in N stops", and exits 1 if any crash was seen.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
. "$here/lib.sh"
build="$top/build"
gate_bin=""
tries=200
mode=both
keep=0
starve=0
nobuild=0

while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift ;;
	--gate-bin) gate_bin=$2; shift ;;
	-n) tries=$2; shift ;;
	--mode) mode=$2; shift ;;
	--keep) keep=1 ;;
	--starve-intr) starve=1 ;;
	--no-build) nobuild=1 ;;
	-h|--help) sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "memif-stress.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$mode" in poll|exit|both) ;; *) echo "memif-stress.sh: --mode poll, exit or both" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "memif-stress.sh: needs root (DPDK, memif socket)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/memif-stress.XXXXXX)
prefix=sgm-stress-$$
gate_pid=""
gen_pid=""
hog_pid=""
crashes=0

# stop_pid PID SIGNAL - signal, wait up to 5 s, then SIGKILL; reaps it
stop_pid() {
	local i
	kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
	kill "-$2" "$1" 2>/dev/null || true
	for i in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	set +e
	[ -n "$hog_pid" ] && kill "$hog_pid" 2>/dev/null
	[ -n "$gen_pid" ] && stop_pid "$gen_pid" INT
	[ -n "$gate_pid" ] && stop_pid "$gate_pid" INT
	rm -rf "/var/run/dpdk/$prefix-gate" "/var/run/dpdk/$prefix-gen"
	rm -f "$tmp/memif.sock" "$tmp/ctl.sock"
	if [ "$keep" = 1 ] || [ "$crashes" -gt 0 ]; then
		echo "memif-stress.sh: files kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$nobuild" = 0 ]; then
	targets=(bench/smtpgate-bench)
	[ -n "$gate_bin" ] || targets+=(dataplane/smtpgate)
	bench_build "$build" "${targets[@]}" || exit 1
fi
# copies: a rebuild during a long run does not change what is measured
cp "${gate_bin:-$build/dataplane/smtpgate}" "$tmp/smtpgate"
cp "$build/bench/smtpgate-bench" "$tmp/smtpgate-bench"
gate_bin=$tmp/smtpgate
gen_bin=$tmp/smtpgate-bench

ncpu=$(nproc)
cpu_gate=$((ncpu > 1 ? 1 : 0))
cpu_gen=0
cpu_ctl=0
gate_mac=02:53:47:00:00:01
gen_mac=02:53:47:00:00:02
bench_gate_conf 10 "max_flows = 8192; syn_backlog = 1024; mbufs = 8191;"
bench_policy "$tmp/policy.conf"

# gen_start OUT [OPTIONS...] - a generator on the memif, in the background
# (gen_pid); its JSON report in OUT, its stderr in OUT.err
gen_start() {
	local out=$1
	shift
	"$gen_bin" --no-huge -m 256 --no-pci --no-shconf --file-prefix "$prefix-gen" \
		--lcores="0@$cpu_gen" --log-level='*:warning' \
		--vdev="net_memif0,role=client,id=0,socket=$tmp/memif.sock,socket-abstract=no,mac=$gen_mac,rsize=10" \
		-- --json --quiet --sink 2525 --link-wait 20 "$@" >"$out" 2>"$out.err" &
	gen_pid=$!
}
gen_reap() {
	wait "$gen_pid" 2>/dev/null || true
	gen_pid=""
	rm -rf "/var/run/dpdk/$prefix-gen"
}

# crashed WHAT STATUS - count a gate that died, keep its log
crashed() {
	crashes=$((crashes + 1))
	cp "$tmp/gate.log" "$tmp/crash$crashes.log"
	echo "memif-stress.sh: $1: the gate died, status $2; its log's last lines:" >&2
	grep -v -e TELEMETRY -e 'mp action callback' "$tmp/gate.log" | tail -n 6 | sed 's/^/    /' >&2
}

# gate_up / gate_reap - start the gate; collect a gate that ended (status in grc)
gate_up() {
	rm -f "$tmp/memif.sock" "$tmp/ctl.sock"
	bench_gate_start memif-stress.sh 512 30
}
gate_reap() {
	grc=0
	wait "$gate_pid" 2>/dev/null || grc=$?
	gate_pid=""
	rm -rf "/var/run/dpdk/$prefix-gate"
}

# ---- poll: clients leave while the gate's lcore polls ----
poll_mode() {
	local i crashes0=$crashes gen_fail=0 j rc
	gate_up
	for i in $(seq 1 "$tries"); do
		j=$tmp/poll.json
		if [ $((i % 2)) = 1 ]; then
			# a short load, then a normal exit: its last RSTs still in flight
			gen_start "$j" --mix rcpt=1 -c 64 -d 0.4 --grace 0
			rc=0
			wait "$gen_pid" 2>/dev/null || rc=$?
			gen_pid=""
			rm -rf "/var/run/dpdk/$prefix-gen"
			[ "$rc" = 0 ] || gen_fail=$((gen_fail + 1))
		else
			# killed in the middle of its load, once its sessions run
			# (its start-up, EAL and the link, takes about 0.5 s here)
			gen_start "$j" --mix rcpt=1 -c 64 -d 30
			sleep "1.$((RANDOM % 10))"
			kill -KILL "$gen_pid" 2>/dev/null || true
			gen_reap
		fi
		sleep 0.1
		if ! kill -0 "$gate_pid" 2>/dev/null; then
			gate_reap
			crashed "poll, disconnect $i" "$grc"
			gate_up
		fi
	done
	stop_pid "$gate_pid" TERM
	gate_pid=""
	rm -rf "/var/run/dpdk/$prefix-gate"
	echo "poll: $((crashes - crashes0)) crashes in $tries disconnects" \
		"($gen_fail normal-exit generator runs failed)"
}

# starve_intr - --starve-intr: EAL's interrupt thread of the gate at nice
# 19, and a busy loop (hog_pid) on the CPU it shares with the gate's main
# thread, until hog_stop: after the main thread wakes it, it runs last
starve_intr() {
	local t
	for t in /proc/"$gate_pid"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = eal-intr-thread ] && renice -n 19 -p "${t##*/}" >/dev/null
	done
	taskset -c "$cpu_ctl" sh -c 'while :; do :; done' &
	hog_pid=$!
}
hog_stop() {
	[ -n "$hog_pid" ] || return 0
	kill "$hog_pid" 2>/dev/null || true
	wait "$hog_pid" 2>/dev/null || true
	hog_pid=""
}

# ---- exit: the gate stops with a client attached ----
exit_mode() {
	local i crashes0=$crashes j
	for i in $(seq 1 "$tries"); do
		j=$tmp/exit.json
		gate_up
		gen_start "$j" --linger --mix rcpt=1 -c 8 -n 20 -d 0
		for _ in $(seq 1 200); do
			grep -q generator_busy_pct "$j" 2>/dev/null && break
			kill -0 "$gen_pid" 2>/dev/null || break
			sleep 0.05
		done
		[ "$starve" = 1 ] && starve_intr
		kill -TERM "$gate_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$gate_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$gate_pid" 2>/dev/null || true
		hog_stop
		gate_reap
		[ "$grc" = 0 ] || crashed "exit, stop $i" "$grc"
		stop_pid "$gen_pid" TERM
		gen_pid=""
		rm -rf "/var/run/dpdk/$prefix-gen"
	done
	echo "exit: $((crashes - crashes0)) crashes in $tries stops$([ "$starve" = 1 ] && echo ", interrupt thread starved")"
}

case "$mode" in
poll) poll_mode ;;
exit) exit_mode ;;
both) poll_mode; exit_mode ;;
esac
[ "$crashes" = 0 ]
