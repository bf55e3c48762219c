#!/usr/bin/env bash
# flood-bench.sh - real SMTP sessions during a SYN flood from spoofed sources
#
# Starts smtpgate with one worker lcore on a memif port and
# bench/smtpgate-bench on the other end, as bench/gate-bench.sh does. One
# generator run: real sessions (the --mix kinds, at --rate, concurrency -c)
# alone for -d seconds, then as long again during a SYN flood at the
# generator's top rate (--flood 0) from spoofed sources (10.200.0.0/13,
# random ports) that never answer the gate's SYN-ACKs (smtpgate-bench
# --syn-flood --flood-after); the generator reports the sessions that ended
# before and during the flood apart. Then it waits for the gate's half-open
# flows to go. The gate's state is sampled every --interval seconds all
# along (bench/flood-sample.py: smtpgatectl stats and the gate's resident
# memory), and the CPU time of its worker lcore is read per phase.
#
# Prints: the flood rate reached and the SYN-ACKs that came back; real
# sessions completed and failed, and their time percentiles, without and
# during the flood; the gate's flows in use, half-open flows, TIME_WAIT
# flows, SYN-cookie counters, SYN-ACK retransmissions and memory before,
# during (the highest seen) and after the flood.
#
# usage: bench/flood-bench.sh [--smoke] [--build DIR] [-d SECONDS] [-c N]
#                             [--rate N] [--mix MIX] [--flood RATE] [--rst]
#                             [--max-flows N] [--syn-backlog N] [--after S]
#                             [--interval S] [--keep]
#   --smoke          3 s per phase, 16 sessions at once at 500/s, table of
#                    16,384 flows: checks that every real session ended as
#                    its kind expects during the flood, that SYN cookies were
#                    sent, that flows in use stayed under max_flows and
#                    half-open flows under the backlog, and that they fell
#                    back after; non-zero exit otherwise
#   --build DIR      meson build directory (default: build at the top of the repo)
#   -d SECONDS       per phase (default 10)
#   -c N             real sessions open at once (default 64)
#   --rate N         real sessions started per second (default 2000)
#   --mix MIX        real session kinds (default connect=1,helo=1,mail=1,rcpt=6,accept=1)
#   --flood RATE     SYNs per second; 0: as fast as the generator can (default 0)
#   --rst            the spoofed sources answer SYN-ACKs with RST
#   --max-flows N    the gate's limits.max_flows (default 131072)
#   --syn-backlog N  the gate's limits.syn_backlog (default 8192)
#   --after S        wait at most S seconds for half-open flows to go (default 30)
#   --interval S     sampling period of the gate's state (default 0.5)
#   --keep           keep the configs, logs and samples (path printed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
. "$here/lib.sh"
build="$top/build"
smoke=0
keep=0
duration=10
conc=64
rate=2000
mix=connect=1,helo=1,mail=1,rcpt=6,accept=1
flood=0
rst=0
flows=131072
backlog=8192
after=30
interval=0.5

while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) smoke=1 ;;
	--build) build=$2; shift ;;
	-d) duration=$2; shift ;;
	-c) conc=$2; shift ;;
	--rate) rate=$2; shift ;;
	--mix) mix=$2; shift ;;
	--flood) flood=$2; shift ;;
	--rst) rst=1 ;;
	--max-flows) flows=$2; shift ;;
	--syn-backlog) backlog=$2; shift ;;
	--after) after=$2; shift ;;
	--interval) interval=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,43p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "flood-bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$smoke" = 1 ]; then
	duration=3
	conc=16
	rate=500
	flows=16384
	backlog=1024
	after=30
fi
[ "$(id -u)" = 0 ] || { echo "flood-bench.sh: needs root (DPDK, memif socket)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/flood-bench.XXXXXX)
prefix=sgfl-bench-$$
gate_pid=""
gen_pid=""
sampler_pid=""

# cleanup - stop what we started, remove sockets, EAL runtime dirs and files
cleanup() {
	local i
	if [ -n "$sampler_pid" ]; then
		kill -TERM "$sampler_pid" 2>/dev/null || true
		wait "$sampler_pid" 2>/dev/null || true
	fi
	# the gate first: the generator (--linger) holds the memif link without
	# polling it, so the link never goes down under the gate's polling lcore
	if [ -n "$gate_pid" ] && kill -0 "$gate_pid" 2>/dev/null; then
		kill -INT "$gate_pid" 2>/dev/null
		for i in $(seq 1 50); do kill -0 "$gate_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$gate_pid" 2>/dev/null || true
	fi
	if [ -n "$gen_pid" ] && kill -0 "$gen_pid" 2>/dev/null; then
		kill -INT "$gen_pid" 2>/dev/null
		sleep 0.1
		kill -INT "$gen_pid" 2>/dev/null
		for i in $(seq 1 50); do kill -0 "$gen_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$gen_pid" 2>/dev/null || true
	fi
	rm -rf "/var/run/dpdk/$prefix-gate" "/var/run/dpdk/$prefix-gen"
	rm -f "$tmp/memif.sock" "$tmp/ctl.sock"
	if [ "$keep" = 1 ]; then
		echo "flood-bench.sh: files kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ----
gate_bin=$build/dataplane/smtpgate
gen_bin=$build/bench/smtpgate-bench
ctl=$build/tools/smtpgatectl
if ! bench_build "$build" dataplane/smtpgate bench/smtpgate-bench tools/smtpgatectl; then
	echo "flood-bench.sh: build failed in $build" >&2
	exit 1
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

# ---- the gate: as in gate-bench.sh, with the flow limits under test ----
gate_mac=02:53:47:00:00:01
gen_mac=02:53:47:00:00:02
bench_gate_conf 12 "max_flows = $flows; syn_backlog = $backlog; mbufs = 16383;"
bench_policy "$tmp/policy.conf"

bench_gate_start flood-bench.sh

echo before >"$tmp/phase"
/usr/bin/python3 "$here/flood-sample.py" "$ctl" "$tmp/ctl.sock" "$gate_pid" "$interval" \
	"$tmp/phase" "$tmp/samples.jsonl" &
sampler_pid=$!
sleep 2

# field FILE KEY... - a value of the generator's JSON report
field() {
	/usr/bin/python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(str(v).lower() if isinstance(v, bool) else v)' "$@"
}

# worker_cpu - CPU time of the gate's worker lcore thread so far, in jiffies
worker_cpu() {
	local t comm
	for t in /proc/"$gate_pid"/task/*; do
		read -r comm <"$t/comm" 2>/dev/null || continue
		case "$comm" in
		rte-worker-*) awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$t/stat"; return ;;
		esac
	done
	echo 0
}
hz=$(getconf CLK_TCK)
# packets_in - packets the gate has received so far
packets_in() {
	"$ctl" -s "$tmp/ctl.sock" stats --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["counters"].get("packets_received", 0))' 2>/dev/null || echo 0
}

# mark NAME - the gate worker's CPU jiffies and packets received now, in $tmp/NAME.mark
mark() {
	echo "$(worker_cpu) $(packets_in) $(date +%s.%N)" >"$tmp/$1.mark"
}

# ---- one generator run: the real sessions alone for -d seconds, then as
# long again during the flood (--flood-after), so that the memif link never
# goes down while the gate runs (DPDK 22.11's memif server unmaps the
# link's memory on a disconnect without waiting for the polling lcore:
# the gate's worker then faults; see bench/RESULTS.md). The generator
# lingers after its report until the gate has stopped. ----
flood_opts=(--syn-flood "$flood" --flood-after "$duration")
[ "$rst" = 1 ] && flood_opts+=(--flood-rst)
echo quiet >"$tmp/phase"
echo "flood-bench.sh: $duration s of real sessions (concurrency $conc, $rate/s, mix $mix), then $duration s more during the flood" >&2
mark start
"$gen_bin" --no-huge -m 512 --no-pci --no-shconf --file-prefix "$prefix-gen" \
	--lcores="0@$cpu_gen" --log-level='*:warning' \
	--vdev="net_memif0,role=client,id=0,socket=$tmp/memif.sock,socket-abstract=no,mac=$gen_mac,rsize=12" \
	-- --json --linger --sink 2525 --mix "$mix" --rate "$rate" -d "$((2 * duration))" -c "$conc" \
	"${flood_opts[@]}" >"$tmp/run.json" 2>"$tmp/run.err" &
gen_pid=$!
(sleep "$duration"; echo flood >"$tmp/phase"; mark flood) &
# the report is complete once its last key is out; the generator then lingers
while ! grep -q generator_busy_pct "$tmp/run.json" 2>/dev/null; do
	if ! kill -0 "$gen_pid" 2>/dev/null; then
		grep -v -e 'TELEMETRY' -e 'mp action callback' "$tmp/run.err" >&2 || true
		echo "flood-bench.sh: smtpgate-bench failed" >&2
		exit 1
	fi
	sleep 0.2
done
mark end
t_flood_end=$(date +%s.%N)
grep -v -e 'TELEMETRY' -e 'mp action callback' "$tmp/run.err" >&2 || true

# ---- after: until no half-open flow is left (or --after runs out) ----
echo after >"$tmp/phase"
half=-1
until=$(($(date +%s) + after))
while [ "$(date +%s)" -lt "$until" ]; do
	sleep 0.5
	half=$("$ctl" -s "$tmp/ctl.sock" stats --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["counters"].get("tcp_flows_half_open", -1))' 2>/dev/null || echo -1)
	[ "$half" = 0 ] && break
done
fall_s=$(awk -v a="$t_flood_end" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
sleep "$interval"
sleep "$interval"
kill -TERM "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""

kill -TERM "$gate_pid"
grc=0
wait "$gate_pid" || grc=$?
gate_pid=""
rm -rf "/var/run/dpdk/$prefix-gate"
kill -TERM "$gen_pid" 2>/dev/null || true
wait "$gen_pid" 2>/dev/null || true
gen_pid=""
rm -rf "/var/run/dpdk/$prefix-gen"

# ---- the report ----
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo
echo "smtpgate under a SYN flood from spoofed sources, one gate lcore, over memif"
echo "  date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "  machine   $ncpu CPUs, ${cpu_model:-unknown CPU}, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  versions  smtpgate $(sed -n "s/^[[:space:]]*version : '\(.*\)',/\1/p" "$top/meson.build") (build $build), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo "?")"
echo "  CPUs      gate worker lcore on CPU $cpu_gate, generator on CPU $cpu_gen, gate control thread on CPU $cpu_ctl"
echo "  gate      max_flows $flows, syn_backlog $backlog"
echo "  sessions  mix $mix, concurrency $conc, $rate/s, $duration s without the flood, then $duration s during it"
echo "  flood     rate $([ "$flood" = 0 ] && echo "unlimited (the generator's top)" || echo "$flood/s"), sources 10.200.0.0/13, random ports, SYN-ACKs $([ "$rst" = 1 ] && echo "answered by RST" || echo "never answered")"
echo
/usr/bin/python3 - "$tmp" "$flows" "$backlog" "$fall_s" "$half" "$hz" <<'PY'
import json, sys

tmp, flows, backlog, fall_s, half_left = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
hz = int(sys.argv[6])
run = json.load(open(tmp + "/run.json"))
samples = [json.loads(l) for l in open(tmp + "/samples.jsonl")]
ph = run["phases"]
wrong = sum(k["started"] - k["expected"] for k in run["kinds"].values())

print("  real sessions      %9s %9s %7s %9s %9s %9s %9s" %
      ("started", "done", "failed", "sess/s", "p50 ms", "p90 ms", "p99 ms"))
for n, label in (("before", "without flood"), ("during", "during flood")):
    p = ph.get(n)
    if p is None:
        print("  %-18s (none)" % label)
        continue
    print("  %-18s %9d %9d %7d %9.0f %9.3f %9.3f %9.3f" %
          (label, p["started"], p["done"], p["failed"], p["sessions_per_s"],
           p["latency_ms"]["p50"], p["latency_ms"]["p90"], p["latency_ms"]["p99"]))
print("  (by the phase a session ended in; the whole run: %d started, %d done, %d with a reply"
      " its kind did not expect)" % (run["started"], run["done"], wrong))
f = run["flood"]
print()
print("  flood reached      %.0f SYN/s (%d SYNs; the port was full at %d bursts), %.0f SYN-ACK/s came back (%d), RSTs %d"
      % (f["syn_per_s"], f["syn"], f["tx_full"], f["synack_per_s"], f["synack"], f["rst_in"]))
print("  generator busy     %.0f%% of its loop" % run["generator_busy_pct"])
marks = {n: open("%s/%s.mark" % (tmp, n)).read().split() for n in ("start", "flood", "end")}
for a, b, label in (("start", "flood", "without flood"), ("flood", "end", "during flood")):
    jif = int(marks[b][0]) - int(marks[a][0])
    pkts = int(marks[b][1]) - int(marks[a][1])
    wall = float(marks[b][2]) - float(marks[a][2])
    cpu = jif / hz
    print("  gate worker %-14s %3.0f%% of a CPU (the rest went to other processes), %d packets in,"
          " %.2f us of CPU per packet" % (label, 100 * cpu / wall if wall > 0 else 0, pkts,
                                          1e6 * cpu / pkts if pkts else 0))
print()

def c(s, k):
    return s["c"].get(k, 0)

phases = [("before", ["before", "quiet"]), ("during", ["flood"]), ("after", ["after"])]
keys = [("flows in use", "tcp_flows_active", "max"),
        ("half-open", "tcp_flows_half_open", "max"),
        ("TIME_WAIT", "tcp_flows_time_wait", "max"),
        ("cookies sent", "tcp_syn_cookies_sent", "last"),
        ("cookies accepted", "tcp_syn_cookies_accepted", "last"),
        ("cookies rejected", "tcp_syn_cookies_rejected", "last"),
        ("full replies 421", "tcp_full_replies", "last"),
        ("retransmits", "tcp_retransmits", "last"),
        ("chunks used", "tcp_chunks_used", "max")]
print("  the gate           %14s %14s %14s   (during: the highest sample; after: the last)" %
      ("before", "during", "after"))
rows = {}
for label, k, how in keys:
    vals = []
    for pname, names in phases:
        ss = [s for s in samples if s["phase"] in names]
        if not ss:
            vals.append(None)
        elif pname == "during" and how == "max":
            vals.append(max(c(s, k) for s in ss))
        else:
            vals.append(c(ss[-1], k))
    rows[k] = vals
    print("  %-18s %14s %14s %14s" % ((label,) + tuple("-" if v is None else v for v in vals)))
mem = []
for pname, names in phases:
    ss = [s for s in samples if s["phase"] in names and s["mem"]]
    mem.append(None if not ss else (max(s["mem"]["own"] for s in ss) if pname == "during"
                                    else ss[-1]["mem"]["own"]))
print("  %-18s %14s %14s %14s" % (("memory MiB",) + tuple(
    "-" if v is None else "%.1f" % (v / 1048576) for v in mem)))
print()
print("  max_flows %d, syn_backlog %d; half-open flows gone %s s after the flood%s" %
      (flows, backlog, fall_s, "" if half_left == 0 else " (NOT: %d left)" % half_left))
json.dump({"rows": rows, "mem": mem}, open(tmp + "/summary.json", "w"))
PY

# ---- smoke: the flood must not cost a real session, and state stays bounded ----
if [ "$smoke" = 1 ]; then
	set +e
	j=$tmp/run.json
	fail=0
	check() { # check CONDITION-STATUS TEXT
		if [ "$1" -eq 0 ]; then echo "  ok: $2"; else echo "  FAILED: $2"; fail=1; fi
	}
	sfield() { /usr/bin/python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(-1 if v is None else v)' "$tmp/summary.json" "$@"; }
	started=$(field "$j" started)
	[ "$started" -gt 0 ] && [ "$(field "$j" done)" -eq "$started" ]
	check $? "all $started real sessions ended normally ($(field "$j" done))"
	[ "$(field "$j" phases during done)" -gt 0 ] && [ "$(field "$j" phases during failed)" -eq 0 ]
	check $? "$(field "$j" phases during done) of them during the flood, none failed"
	ok=1
	for k in connect helo mail rcpt accept; do
		s=$(field "$j" kinds "$k" started)
		e=$(field "$j" kinds "$k" expected)
		[ "$s" -gt 0 ] && [ "$e" -eq "$s" ] || ok=0
	done
	[ "$ok" = 1 ]
	check $? "every kind got the replies it expects (connect, helo, mail, rcpt, accept)"
	[ "$(field "$j" accepted)" -eq "$(field "$j" sink messages)" ] && [ "$(field "$j" accepted)" -gt 0 ]
	check $? "$(field "$j" accepted) accepted messages reached the sink through the gate"
	[ "$(field "$j" flood syn)" -gt 0 ] && [ "$(field "$j" flood synack)" -gt 0 ]
	check $? "the flood sent $(field "$j" flood syn) SYNs and $(field "$j" flood synack) SYN-ACKs came back"
	[ "$(sfield rows tcp_syn_cookies_sent 2)" -gt 0 ]
	check $? "the gate sent SYN cookies ($(sfield rows tcp_syn_cookies_sent 2))"
	[ "$(sfield rows tcp_flows_active 1)" -lt "$flows" ]
	check $? "flows in use stayed under max_flows $flows (at most $(sfield rows tcp_flows_active 1))"
	[ "$(sfield rows tcp_flows_half_open 1)" -le "$backlog" ]
	check $? "half-open flows stayed within syn_backlog $backlog (at most $(sfield rows tcp_flows_half_open 1))"
	[ "$half" = 0 ]
	check $? "half-open flows fell back to 0 after the flood (in $fall_s s)"
	[ "$grc" = 0 ]
	check $? "the gate stopped cleanly"
	exit "$fail"
fi
exit 0
