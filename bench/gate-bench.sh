#!/usr/bin/env bash
# gate-bench.sh - rejected SMTP sessions per second on one gate lcore, over memif
#
# Starts smtpgate with one worker lcore and a memif port (server side),
# and bench/smtpgate-bench on the other end of the memif (client side): a
# DPDK load generator on the dataplane's own TCP stack, which plays SMTP
# sessions the bench policy refuses (at connect, HELO, MAIL or RCPT). No
# kernel on the path. Prints, for each concurrency, sessions and rejected
# sessions per second, session time percentiles and the generator's busy
# share, then the gate's own counters. The gate's worker lcore and the
# generator each get one CPU (2 CPUs: worker on CPU 1, generator and the
# gate's control thread on CPU 0).
#
# Then accepted sessions per second with 1 KiB and 100 KiB bodies: the gate
# relays them to its backend, which is the generator again (its --sink, a
# minimal smtp-sink, reached over the same memif).
#
# One generator process plays every run (smtpgate-bench --runs) on one memif
# connection, and the gate is stopped before it: a memif client that leaves
# while the gate's lcore polls can crash DPDK 22.11's memif server
# (bench/RESULTS.md, the memif section's notes; bench/memif-stress.sh).
#
# usage: bench/gate-bench.sh [--smoke] [--build DIR] [-d SECONDS] [-c N[,N...]]
#                            [--mix MIX] [--rate N] [--accept-c N] [--no-accept]
#                            [--keep] [-- generator options...]
#   --smoke        a few seconds at low load: checks that every session ended
#                  with the refusal its kind expects, and that accepted
#                  messages reached the sink; non-zero exit otherwise
#   --build DIR    meson build directory (default: build at the top of the repo)
#   -d SECONDS     load per run (default 10)
#   -c N[,N...]    concurrencies, one run each (default 64,256,1024)
#   --mix MIX      session mix (default rcpt=1: refused at RCPT, relay access
#                  denied); e.g. connect=1,helo=1,mail=1,rcpt=7
#   --rate N       sessions started per second (default: no limit)
#   --accept-c N   concurrency of the accepted runs (default 256)
#   --no-accept    no accepted runs
#   --keep         keep the configs and logs (path printed)
#   -- options     given to the generator once, for every run (a run's -c, -d,
#                  --mix, --body and --rate are the script's)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
. "$here/lib.sh"
build="$top/build"
smoke=0
keep=0
duration=10
concs=64,256,1024
mix=rcpt=1
rate=0
accept=1
accept_c=256
extra=()

while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) smoke=1 ;;
	--build) build=$2; shift ;;
	-d) duration=$2; shift ;;
	-c) concs=$2; shift ;;
	--mix) mix=$2; shift ;;
	--rate) rate=$2; shift ;;
	--accept-c) accept_c=$2; shift ;;
	--no-accept) accept=0 ;;
	--keep) keep=1 ;;
	--) shift; extra=("$@"); break ;;
	-h|--help) sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "gate-bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$smoke" = 1 ]; then
	duration=3
	concs=16
	mix=connect=1,helo=1,mail=1,rcpt=7
	rate=3000
fi
[ "$(id -u)" = 0 ] || { echo "gate-bench.sh: needs root (DPDK, memif socket)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/gate-bench.XXXXXX)
prefix=sgbench-$$
gate_pid=""
gen_pid=""

# cleanup - stop what we started (the gate first: see above), remove
# sockets, EAL runtime dirs and files
cleanup() {
	local i
	if [ -n "$gate_pid" ] && kill -0 "$gate_pid" 2>/dev/null; then
		kill -INT "$gate_pid" 2>/dev/null
		for i in $(seq 1 50); do kill -0 "$gate_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$gate_pid" 2>/dev/null || true
	fi
	exec 3>&- 2>/dev/null || true
	if [ -n "$gen_pid" ] && kill -0 "$gen_pid" 2>/dev/null; then
		# the first signal ends the load, the second the wait for sessions in flight
		kill -INT "$gen_pid" 2>/dev/null
		sleep 0.1
		kill -INT "$gen_pid" 2>/dev/null
		for i in $(seq 1 50); do kill -0 "$gen_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$gen_pid" 2>/dev/null || true
	fi
	rm -rf "/var/run/dpdk/$prefix-gate" "/var/run/dpdk/$prefix-gen"
	rm -f "$tmp/memif.sock" "$tmp/ctl.sock" "$tmp/gen.in"
	if [ "$keep" = 1 ]; then
		echo "gate-bench.sh: files kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap '' PIPE # writing to a generator that died is an error, not our end

# ---- build ----
gate_bin=$build/dataplane/smtpgate
gen_bin=$build/bench/smtpgate-bench
if ! bench_build "$build" dataplane/smtpgate bench/smtpgate-bench; then
	# the tree may be broken by someone else's work in progress: binaries
	# built before still measure something, and say so
	if [ -x "$gate_bin" ] && [ -x "$gen_bin" ]; then
		echo "gate-bench.sh: build failed in $build; using the binaries built before" \
			"($(date -r "$gate_bin" '+%F %T'), $(date -r "$gen_bin" '+%F %T'))" >&2
	else
		echo "gate-bench.sh: build failed in $build" >&2
		exit 1
	fi
fi

# ---- CPUs: the gate's worker alone on one, the generator on another ----
ncpu=$(nproc)
if [ "$ncpu" -ge 3 ]; then
	cpu_gen=0 cpu_gate=1 cpu_ctl=2
elif [ "$ncpu" -eq 2 ]; then
	cpu_gen=0 cpu_gate=1 cpu_ctl=0
else
	cpu_gen=0 cpu_gate=0 cpu_ctl=0
fi

# ---- the gate: memif server, the clients (10/8) routed via the generator ----
gate_mac=02:53:47:00:00:01
gen_mac=02:53:47:00:00:02
bench_gate_conf 12 "max_flows = 131072; syn_backlog = 8192; mbufs = 16383;"
bench_policy "$tmp/policy.conf"

bench_gate_start gate-bench.sh

# ---- the runs ----
# field FILE KEY... - a value of the generator's JSON report
field() {
	/usr/bin/python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$@"
}

# cpu_busy - busy and steal jiffies of all CPUs so far
cpu_busy() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat
}
# proc_cpu PID - user + system jiffies of a process (all its threads)
proc_cpu() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
hz=$(getconf CLK_TCK)

# gen_start MAX_CONCURRENCY - the one generator, memif client for all runs,
# reading its runs from the fifo $tmp/gen.in (fd 3 here); its stderr
# (progress lines) in $tmp/gen.err
gen_start() {
	mkfifo "$tmp/gen.in"
	"$gen_bin" --no-huge -m 512 --no-pci --no-shconf --file-prefix "$prefix-gen" \
		--lcores="0@$cpu_gen" --log-level='*:warning' \
		--vdev="net_memif0,role=client,id=0,socket=$tmp/memif.sock,socket-abstract=no,mac=$gen_mac,rsize=12" \
		-- --runs --json --sink 2525 -c "$1" "${gen_opts[@]}" "${extra[@]}" \
		<"$tmp/gen.in" >"$tmp/gen.out" 2>"$tmp/gen.err" &
	gen_pid=$!
	exec 3>"$tmp/gen.in"
}
gen_err_at=0
# gen_err_show - what the generator said on stderr since the last time
gen_err_show() {
	local size
	size=$(stat -c %s "$tmp/gen.err" 2>/dev/null || echo 0)
	[ "$size" -gt "$gen_err_at" ] || return 0
	tail -c "+$((gen_err_at + 1))" "$tmp/gen.err" | head -c "$((size - gen_err_at))" |
		grep -v -e 'TELEMETRY' -e 'mp action callback' >&2 || true
	gen_err_at=$size
}

# run_gen LABEL CONCURRENCY MIX BODY - one run of the generator; appends a row to $results
# (the JSON report is $tmp/runN.json, N=$run)
results=()
run=0
run_gen() {
	local label=$1 c=$2 m=$3 body=$4 busy0 steal0 busy1 steal1 gate0 gate1 gen0 gen1 t0 t1
	local gen_cpu others steal j
	run=$((run + 1))
	j=$tmp/run$run.json
	echo "gate-bench.sh: run $run: $label, concurrency $c, $duration s, mix $m" >&2
	read -r busy0 steal0 < <(cpu_busy)
	gate0=$(proc_cpu "$gate_pid")
	gen0=$(proc_cpu "$gen_pid")
	t0=$(date +%s.%N)
	# (a generator that died leaves no reader: the loop below says so)
	echo "$j -c $c -d $duration --mix $m --body $body --rate $rate" >&3 2>/dev/null || true
	# the report file appears whole when the run is over
	while [ ! -f "$j" ]; do
		if ! kill -0 "$gen_pid" 2>/dev/null; then
			gen_err_show
			echo "gate-bench.sh: smtpgate-bench failed" >&2
			exit 1
		fi
		sleep 0.2
	done
	gen1=$(proc_cpu "$gen_pid")
	t1=$(date +%s.%N)
	read -r busy1 steal1 < <(cpu_busy)
	gate1=$(proc_cpu "$gate_pid")
	gen_cpu=$((gen1 - gen0))
	others=$(awk -v b0="$busy0" -v b1="$busy1" -v g0="$gate0" -v g1="$gate1" -v gc="$gen_cpu" \
		-v t0="$t0" -v t1="$t1" -v hz="$hz" \
		'BEGIN { o = ((b1 - b0) - (g1 - g0) - gc) / hz; if (o < 0) o = 0; printf "%.2f", o / (t1 - t0) }')
	steal=$(awk -v a="$steal0" -v b="$steal1" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
		'BEGIN { printf "%.2f", (b - a) / hz / (t1 - t0) }')
	gen_err_show
	results+=("$(printf '  %-14s %6s %10.0f %10.0f %10.0f %8.3f %8.3f %8.3f %5.0f%% %9s %6s %6s %5s' \
		"$label" "$c" "$(field "$j" sessions_per_s)" "$(field "$j" rejected_per_s)" \
		"$(field "$j" accepted_per_s)" "$(field "$j" latency_ms p50)" \
		"$(field "$j" latency_ms p90)" "$(field "$j" latency_ms p99)" \
		"$(field "$j" generator_busy_pct)" "$(field "$j" done)" \
		"$(($(field "$j" started) - $(field "$j" done)))" "$others" "$steal")")
}

gen_opts=()
[ "$smoke" = 1 ] && gen_opts+=(--check-csum)
# the generator's session pool: the largest concurrency of all runs
maxc=$([ "$smoke" = 1 ] && echo 4 || echo "$accept_c")
for c in ${concs//,/ }; do [ "$c" -gt "$maxc" ] && maxc=$c; done
gen_start "$maxc"
best=0
best_c=""
for c in ${concs//,/ }; do
	run_gen rejected "$c" "$mix" 0
	rej=$(field "$tmp/run$run.json" rejected_per_s)
	if awk -v a="$rej" -v b="$best" 'BEGIN { exit !(a > b) }'; then
		best=$rej
		best_c=$c
	fi
done
# accepted sessions: relayed by the gate to the generator's sink
accept_runs=()
if [ "$smoke" = 1 ]; then
	rate=200
	run_gen "accepted 1KiB" 4 accept=1 1024
	accept_runs+=("$run")
elif [ "$accept" = 1 ]; then
	for b in 1024 102400; do
		run_gen "accepted $((b / 1024))KiB" "$accept_c" accept=1 "$b"
		accept_runs+=("$run")
	done
fi

# ---- the gate's counters; then the generator, which holds the link
# (unpolled) until the gate has stopped ----
kill -TERM "$gate_pid"
grc=0
wait "$gate_pid" || grc=$?
gate_pid=""
rm -rf "/var/run/dpdk/$prefix-gate"
exec 3>&-
wait "$gen_pid" || true
gen_pid=""
rm -rf "/var/run/dpdk/$prefix-gen"

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo
echo "smtpgate sessions per second, one gate lcore, over memif"
echo "  date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "  machine   $ncpu CPUs, ${cpu_model:-unknown CPU}, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  versions  smtpgate $(sed -n "s/^[[:space:]]*version : '\(.*\)',/\1/p" "$top/meson.build") (build $build), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo "?")"
echo "  CPUs      gate worker lcore on CPU $cpu_gate, generator on CPU $cpu_gen, gate control thread on CPU $cpu_ctl"
echo "  load      rejected: mix $mix; accepted: through the gate's relay to the generator's sink;"
echo "            $duration s per run, rate $([ "$rate" = 0 ] && echo unlimited || echo "$rate/s")"
echo
printf '  %-14s %6s %10s %10s %10s %8s %8s %8s %6s %9s %6s %6s %5s\n' run conc sessions/s \
	rejected/s accepted/s "p50 ms" "p90 ms" "p99 ms" gen done unfin others steal
printf '%s\n' "${results[@]}"
echo
echo "  rejected sessions per second on one gate lcore: $(printf '%.0f' "$best") (concurrency $best_c; target 500,000)"
echo "  (gen: the share of its loop the generator spent working; near 100% the generator,"
echo "  not the gate, is the limit. others: CPUs' worth of time used by other processes on"
echo "  this machine during the run, steal: by the hypervisor; both take from the gate and"
echo "  the generator, which need a CPU each)"
echo
echo "  the gate's counters (all runs):"
grep '^smtpgate: lcore' "$tmp/gate.log" | sed 's/^smtpgate: /    /'

# ---- smoke: every session ended as its kind expects, and the gate agrees ----
if [ "$smoke" = 1 ]; then
	set +e
	j=$tmp/run1.json
	fail=0
	check() { # check CONDITION-STATUS TEXT
		if [ "$1" -eq 0 ]; then echo "  ok: $2"; else echo "  FAILED: $2"; fail=1; fi
	}
	started=$(field "$j" started)
	done_n=$(field "$j" done)
	[ "$started" -gt 0 ] && [ "$done_n" -eq "$started" ]
	check $? "rejected: all $started sessions done ($done_n)"
	for k in connect helo mail rcpt; do
		s=$(field "$j" kinds "$k" started)
		e=$(field "$j" kinds "$k" expected)
		[ "$s" -gt 0 ] && [ "$e" -eq "$s" ]
		check $? "rejected: $k: $e of $s refused at $k"
	done
	rejected=$(field "$j" rejected)
	[ "$rejected" -eq "$started" ]
	check $? "rejected: every session ended by a 5xx ($rejected)"
	a=$tmp/run${accept_runs[0]}.json
	astarted=$(field "$a" started)
	accepted=$(field "$a" accepted)
	[ "$astarted" -gt 0 ] && [ "$accepted" -eq "$astarted" ] && [ "$(field "$a" done)" -eq "$astarted" ]
	check $? "accepted: $accepted of $astarted messages got 250 after the body"
	[ "$(field "$a" sink messages)" -eq "$accepted" ]
	check $? "accepted: the sink received $(field "$a" sink messages) messages through the gate"
	gstat() { sed -n "s/.* $1 \([0-9]*\).*/\1/p" "$tmp/gate.log" | head -1; }
	total=$((started + astarted))
	[ "$(gstat sessions_opened)" = "$total" ] && [ "$(gstat sessions_closed)" = "$total" ]
	check $? "the gate opened and closed $total sessions ($(gstat sessions_opened), $(gstat sessions_closed))"
	[ "$(gstat replies_5xx)" = "$rejected" ]
	check $? "the gate sent $rejected 5xx replies ($(gstat replies_5xx))"
	[ "$(gstat messages_ok)" = "$accepted" ] && [ "$(gstat body_bytes)" = "$(field "$a" sink bytes)" ]
	check $? "the gate relayed $accepted messages, $(gstat body_bytes) body bytes (sink: $(field "$a" sink bytes))"
	# (retransmissions are not checked: a CPU taken away for 200 ms by other
	# processes makes spurious ones)
	[ "$(gstat drop_csum)" = 0 ] && [ "$(field "$j" net drop_csum)" = 0 ] &&
		[ "$(field "$a" net drop_csum)" = 0 ]
	check $? "no checksum drops either way (gate retransmissions: $(gstat retransmits))"
	[ "$grc" = 0 ]
	check $? "the gate stopped cleanly"
	exit "$fail"
fi
exit 0
