#!/usr/bin/env bash
# mem-bench.sh - bytes of gate memory per idle SMTP session, with 100,000 open
#
# The gate runs with one worker lcore on a net_memif port, as in
# bench/gate-bench.sh; bench/smtpgate-bench on the other side opens N
# sessions (default 100,000) of the "idle" kind: greeting, EHLO, then
# silence, all held open at once. The generator has its own TCP stack, so
# no kernel file descriptor limits the count.
#
# Method. The gate allocates everything at start-up, sized by
# limits.max_flows (the bounded-memory invariant), so a session's memory is
# of two kinds, both read from the gate's resident memory (Rss in
# /proc/PID/smaps) without memif's regions (the link's packet buffers,
# shared with the generator: 16 MiB whatever the sessions). With --no-huge,
# DPDK's memory is a memfd ("nohuge") whose pages become resident when first
# written, like malloc's anonymous memory:
#   touched per session  memory the kernel maps only when first written:
#                        DPDK heap objects (session state, SMTP buffers),
#                        TCP buffer chunks. Measured as the growth of the
#                        gate's Anonymous memory from before the generator
#                        connects to when all N sessions are open, over N.
#   provisioned per flow what start-up writes for every flow the table can
#                        hold (flow entries, hash buckets, free lists). Its
#                        cost per flow slot is the difference of the gate's
#                        Anonymous memory just after start-up with
#                        max_flows = 2F and with F, over F.
# Bytes per idle session = touched per session + provisioned per flow slot
# x F / N (the table's slots shared by the sessions open; with the table
# full, F = N, it is the plain sum, also printed). The gate's own counters
# (flows, sessions, chunks in use) are shown beside, from smtpgatectl stats.
#
# usage: bench/mem-bench.sh [--smoke] [--build DIR] [-n N] [-f F] [--rate R] [--keep]
#   --smoke        N=2,000 sessions, F=16,384: checks that every session is
#                  open in the gate and the figure is plausible
#   --build DIR    meson build directory (default: build at the top of the repo)
#   -n N           idle sessions to hold open (default 100000)
#   -f F           the gate's limits.max_flows (default 131072; at least N)
#   --rate R       sessions opened per second (default 20000)
#   --keep         keep the configs and logs (path printed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
. "$here/lib.sh"
build="$top/build"
smoke=0
keep=0
n=100000
flows=131072
rate=20000

while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) smoke=1 ;;
	--build) build=$2; shift ;;
	-n) n=$2; shift ;;
	-f) flows=$2; shift ;;
	--rate) rate=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "mem-bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$smoke" = 1 ]; then
	n=2000
	flows=16384
	rate=5000
fi
[ "$flows" -ge "$n" ] || { echo "mem-bench.sh: -f must be at least -n" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "mem-bench.sh: needs root (DPDK, memif socket)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/mem-bench.XXXXXX)
prefix=sgbp-mem-$$
gate_pid=""
gen_pid=""

# stop PID - SIGINT (twice: the generator's second ends its wait), then KILL
stop() {
	local i
	kill -0 "$1" 2>/dev/null || return 0
	kill -INT "$1" 2>/dev/null || true
	sleep 0.2
	kill -INT "$1" 2>/dev/null || true # (it may have ended at the first)
	for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	set +e
	# the gate first: a memif client leaving while the gate's lcore polls can
	# crash DPDK 22.11's memif server (bench/RESULTS.md, the memif notes)
	[ -n "$gate_pid" ] && stop "$gate_pid"
	[ -n "$gen_pid" ] && stop "$gen_pid"
	rm -rf "/var/run/dpdk/$prefix-gate" "/var/run/dpdk/$prefix-gen"
	rm -f "$tmp/memif.sock" "$tmp/ctl.sock"
	if [ "$keep" = 1 ]; then
		echo "mem-bench.sh: files kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_build "$build" dataplane/smtpgate bench/smtpgate-bench tools/smtpgatectl || exit 1
gate_bin=$build/dataplane/smtpgate
gen_bin=$build/bench/smtpgate-bench
ctl=$build/tools/smtpgatectl

ncpu=$(nproc)
cpu_gate=$((ncpu > 1 ? 1 : 0))
cpu_gen=0
cpu_ctl=$cpu_gen # the control thread shares the generator's CPU
gate_mac=02:53:47:00:00:01
gen_mac=02:53:47:00:00:02
# the policy of bench/gate-bench.sh, with timeouts that let sessions idle
cat >"$tmp/policy.conf" <<'POL'
hostname = "mx.bench.example";
local_domains = [ "local.example" ];
local_hosts = [ "mx.bench.example" ];
service mx {
    ports = [ 25 ];
    command_timeout = 30min;
    session_timeout = 60min;
}
POL

# gate_start FLOWS - the gate with limits.max_flows = FLOWS, up and running
gate_start() {
	bench_gate_conf 12 "max_flows = $1; syn_backlog = 8192; mbufs = 16383;"
	bench_gate_start mem-bench.sh 1536 60
}
gate_stop() {
	kill -TERM "$gate_pid" 2>/dev/null || true
	wait "$gate_pid" || true
	gate_pid=""
	# a gate that dropped root after start-up cannot remove its sockets here
	rm -rf "/var/run/dpdk/$prefix-gate" "$tmp/memif.sock" "$tmp/ctl.sock"
}

# mem SMAPS - "own heap anon memif" bytes resident, from a copy of
# /proc/PID/smaps: own is everything but memif's regions (the link's
# packet rings and buffers, shared with the generator and sized by rsize,
# not by sessions); heap is DPDK's memory (with --no-huge a memfd named
# "nohuge"), anon the private anonymous mappings (malloc, calloc)
mem() {
	awk '
		/^[0-9a-f]+-[0-9a-f]+ / { name = $6; next }
		/^Rss:/ {
			b = $2 * 1024
			if (name ~ /memif_region/) { memif += b; next }
			own += b
			if (name ~ /nohuge/) heap += b
			else if (name == "") anon += b
		}
		END { printf "%d %d %d %d\n", own, heap, anon, memif }' "$1"
}
# stat NAME - a counter of the running gate (smtpgatectl stats --json)
stat() {
	"$ctl" -s "$tmp/ctl.sock" stats --json >"$tmp/stats.json" 2>/dev/null || { echo -1; return; }
	/usr/bin/python3 -c '
import json, sys
def find(v, k):
    if isinstance(v, dict):
        if k in v and not isinstance(v[k], (dict, list)):
            return v[k]
        for x in v.values():
            r = find(x, k)
            if r is not None:
                return r
    elif isinstance(v, list):
        for x in v:
            r = find(x, k)
            if r is not None:
                return r
    return None
r = find(json.load(open(sys.argv[1])), sys.argv[2])
print(-1 if r is None else r)' "$tmp/stats.json" "$1"
}

# ---- 1: F flows, N idle sessions ----
gate_start "$flows"
sleep 1
cp "/proc/$gate_pid/smaps" "$tmp/smaps0"
read -r m0 h0 an0 mm0 < <(mem "$tmp/smaps0")
"$gen_bin" --no-huge -m 512 --no-pci --no-shconf --file-prefix "$prefix-gen" \
	--lcores="0@$cpu_gen" --log-level='*:warning' \
	--vdev="net_memif0,role=client,id=0,socket=$tmp/memif.sock,socket-abstract=no,mac=$gen_mac,rsize=12" \
	-- --mix idle=1 -c "$n" -n "$n" --rate "$rate" -d 3600 --timeout 3600 --grace 0 --linger \
	>"$tmp/gen.out" 2>"$tmp/gen.err" &
gen_pid=$!
# until the gate holds all N sessions (or no progress for 30 s)
open=0
last=0
stuck=0
while [ "$open" -lt "$n" ]; do
	sleep 1
	kill -0 "$gen_pid" 2>/dev/null || { echo "mem-bench.sh: the generator ended:" >&2; cat "$tmp/gen.err" >&2; exit 1; }
	open=$(($(stat smtp_sessions_opened) - $(stat smtp_sessions_closed)))
	echo "mem-bench.sh: $open sessions open in the gate" >&2
	if [ "$open" -le "$last" ]; then
		stuck=$((stuck + 1))
		[ "$stuck" -ge 30 ] && { echo "mem-bench.sh: stuck at $open sessions" >&2; tail -3 "$tmp/gen.err" >&2; exit 1; }
	else
		stuck=0
	fi
	last=$open
done
sleep 2 # replies to the last EHLOs, their ACKs
cp "/proc/$gate_pid/smaps" "$tmp/smaps1"
read -r m1 h1 an1 mm1 < <(mem "$tmp/smaps1")
open=$(($(stat smtp_sessions_opened) - $(stat smtp_sessions_closed)))
flows_active=$(stat tcp_flows_active)
chunks=$(stat tcp_chunks_used)
smtp_chunks=$(stat smtp_chunks_used) # -1 from a gate without the gauge
# the generator's load ends (its sessions are reset), then it holds the link
# unpolled (--linger) while the gate stops: the link never goes down under
# the gate's polling lcore (see cleanup)
kill -INT "$gen_pid"
for _ in $(seq 1 300); do
	grep -q 'sessions  *started' "$tmp/gen.out" 2>/dev/null && break
	kill -0 "$gen_pid" 2>/dev/null || break
	sleep 0.1
done
gate_stop
stop "$gen_pid"
gen_pid=""

# ---- 2: provisioned memory per flow slot: start-up with 2F against F ----
gate_start "$((2 * flows))"
sleep 1
cp "/proc/$gate_pid/smaps" "$tmp/smaps2"
read -r m2 h2 an2 mm2 < <(mem "$tmp/smaps2")
gate_stop

# ---- the figures ----
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo
echo "Gate memory per idle SMTP session (EHLO answered, then silence), over memif"
echo "  date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "  machine   $ncpu CPUs, ${cpu_model:-unknown CPU}, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  versions  smtpgate $(sed -n "s/^[[:space:]]*version : '\(.*\)',/\1/p" "$top/meson.build") (build $build), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?')"
echo "  gate      limits.max_flows $flows, --no-huge -m 1536; generator: smtpgate-bench --mix idle=1 -c $n --rate $rate"
echo
awk -v n="$n" -v f="$flows" -v m0="$m0" -v m1="$m1" -v m2="$m2" -v h0="$h0" -v h1="$h1" \
	-v h2="$h2" -v an0="$an0" -v an1="$an1" -v an2="$an2" -v mm0="$mm0" -v mm1="$mm1" \
	-v open="$open" -v fa="$flows_active" -v ch="$chunks" -v sch="$smtp_chunks" '
	function mib(x) { return sprintf("%.1f MiB", x / 1048576) }
	BEGIN {
		touched = (m1 - m0) / n
		slot = (m2 - m0) / f
		printf "  sessions open in the gate      %d (TCP flows in use %d, TCP chunks in use %d, SMTP chunks in use %d)\n", open, fa, ch, sch
		printf "  the gate'"'"'s resident memory (memif regions apart):\n"
		printf "    %-28s %12s %12s %12s %12s\n", "", "own", "DPDK heap", "anonymous", "memif"
		printf "    %-28s %12s %12s %12s %12s\n", "F flows, at start", mib(m0), mib(h0), mib(an0), mib(mm0)
		printf "    %-28s %12s %12s %12s %12s\n", "F flows, N sessions open", mib(m1), mib(h1), mib(an1), mib(mm1)
		printf "    %-28s %12s %12s %12s\n", "2F flows, at start", mib(m2), mib(h2), mib(an2)
		printf "  touched per session            %.0f bytes (DPDK heap %.0f, anonymous %.0f)\n", touched, (h1 - h0) / n, (an1 - an0) / n
		printf "  provisioned per flow slot      %.0f bytes (DPDK heap %.0f, anonymous %.0f)\n", slot, (h2 - h0) / f, (an2 - an0) / f
		printf "  per idle session, %d flows for %d sessions: %.0f bytes\n", f, n, touched + slot * f / n
		printf "  per idle session, table full (F = N): %.0f bytes\n", touched + slot
		printf "BYTES %.0f\n", touched + slot * f / n
	}' >"$tmp/result"
grep -v '^BYTES' "$tmp/result"
bytes=$(sed -n 's/^BYTES //p' "$tmp/result")
echo
echo "bytes of gate memory per idle session: $bytes (target under 1,024)"

fail=0
if [ "$open" != "$n" ]; then
	echo "mem-bench.sh: FAILED: $open sessions open in the gate, not $n" >&2
	fail=1
fi
if ! [ "$bytes" -gt 64 ]; then
	echo "mem-bench.sh: FAILED: implausible figure $bytes" >&2
	fail=1
fi
exit "$fail"
