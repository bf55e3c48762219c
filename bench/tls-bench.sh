#!/usr/bin/env bash
# tls-bench.sh - TLS handshakes per second per lcore (the server side of dataplane/tls)
#
# Runs bench_tls: full handshakes of our TLS layer in server mode (exactly
# the calls an lcore makes, memory BIOs, a context built from PEM as a
# policy push builds it) against OpenSSL's client in the same thread, timing
# only the server's calls with the thread's CPU clock. Cases: TLS 1.3 and
# 1.2 with an ECDSA P-256 certificate (X25519, and P-256 for the key
# exchange), and RSA-2048 for comparison; then whether a client offering
# its last session is resumed (it is not: tls.c keeps no session state).
# Pinned to one CPU with taskset when it can be. Prints a table (or JSON).
#
# Then, as root, end to end: the gate with one worker lcore (CPU 1) on a TAP
# device in a network namespace of its own (sgtk-bench-PID), and
# bench/tls-load.py (Debian's Python, its OpenSSL) on CPU 0 running
# sessions of banner, EHLO, STARTTLS, handshake, QUIT inside TLS, for TLS
# 1.3 and 1.2 against an ECDSA P-256 certificate. Prints the sessions per
# second, the CPU the client and the gate's worker lcore had (in CPUs: a
# client near 1.0 was the limit; the worker polls, so it uses all the CPU it
# is given, and far below 1.0 means other processes had the CPU), the
# gate's retransmissions, and checks that the gate logged one established
# TLS connection per session and that no session failed.
#
# usage: bench/tls-bench.sh [--smoke] [--build DIR] [-n N] [-r ROUNDS] [--json]
#                           [-d SECONDS] [--no-e2e]
#   --smoke       50 handshakes per case, one round; end to end 200 sessions
#                 at most: checks that it works (well under a minute)
#   --build DIR   meson build directory (default: build at the top of the repo)
#   -n N          handshakes per case and round (default 2000)
#   -r ROUNDS     rounds per case; the median is the figure (default 3)
#   --json        one JSON object instead of the table (server side only)
#   -d SECONDS    each end-to-end run (default 10)
#   --no-e2e      the server side only (the end-to-end part needs root)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
build="$top/build"
n=2000
rounds=3
json=()
e2e=1
dur=10
max=0

while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) n=50; rounds=1; dur=5; max=200 ;;
	-d) dur=$2; shift ;;
	--no-e2e) e2e=0 ;;
	--build) build=$2; shift ;;
	-n) n=$2; shift ;;
	-r) rounds=$2; shift ;;
	--json) json=(--json) ;;
	-h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "tls-bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

log=$(mktemp /tmp/tls-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
[ ${#json[@]} -eq 0 ] || e2e=0
targets=(bench/bench_tls)
[ "$e2e" = 0 ] || targets+=(dataplane/smtpgate)
if ! { [ -f "$build/build.ninja" ] || (cd "$top" && meson setup "$build" >"$log" 2>&1); } ||
	! ninja -C "$build" "${targets[@]}" >"$log" 2>&1; then
	echo "tls-bench.sh: cannot build bench_tls in $build:" >&2
	tail -20 "$log" >&2
	exit 1
fi

# one CPU, so that the figure is one core's
pin=()
if command -v taskset >/dev/null 2>&1; then
	cpu=$(($(nproc) > 1 ? 1 : 0))
	if taskset -c "$cpu" true 2>/dev/null; then
		pin=(taskset -c "$cpu")
	fi
fi

if [ ${#json[@]} -eq 0 ]; then
	echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)${pin:+, pinned to CPU $cpu}"
fi
"${pin[@]}" "$build/bench/bench_tls" -n "$n" -r "$rounds" "${json[@]}"

[ "$e2e" = 1 ] || exit 0

# ---- end to end: the gate on one lcore over TAP, STARTTLS sessions ----
if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
	echo "# end to end: skipped (needs root and /dev/net/tun; --no-e2e to say so)"
	exit 0
fi
tmp=$(mktemp -d /tmp/tls-bench.XXXXXX)
ns=sgtk-bench-$$
tap=sgtk$$
prefix=sgtk-bench-$$
gate_pid=""
in_ns() { ip netns exec "$ns" "$@"; }
cleanup() {
	set +e
	if [ -n "$gate_pid" ] && kill -0 "$gate_pid" 2>/dev/null; then
		kill -TERM "$gate_pid"
		for _ in $(seq 1 100); do kill -0 "$gate_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$gate_pid" 2>/dev/null
	fi
	ip netns del "$ns" 2>/dev/null
	rm -rf "/var/run/dpdk/$prefix" "$tmp" "$log"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=mx.bench.example -keyout "$tmp/ec.key" -out "$tmp/ec.pem" >/dev/null 2>&1
cat >"$tmp/gate.conf" <<CONF
port edge0 {
    device = "net_tap0,iface=$tap";
    address = [ "192.0.2.25/24" ];
}
lcores = [ 1 ];
limits { max_flows = 8192; mbufs = 8191; }
control { socket = "$tmp/ctl.sock"; }
metrics { listen = "off"; }
log = "file:$tmp/maillog";
CONF
cat >"$tmp/policy.conf" <<'POL'
hostname = "mx.bench.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; tls = optional; tls_cert = ec.pem; tls_key = ec.key; }
POL
ip netns add "$ns"
in_ns ip link set lo up
# ip netns exec itself, not the in_ns function: $! must be the gate's pid
ip netns exec "$ns" "$build/dataplane/smtpgate" --no-huge -m 512 --no-pci --no-shconf --file-prefix "$prefix" \
	--lcores=0@0,1@1 --log-level='*:warning' -- -c "$tmp/gate.conf" -p "$tmp/policy.conf" \
	>"$tmp/gate.log" 2>&1 &
gate_pid=$!
for _ in $(seq 1 100); do
	grep -q "running on" "$tmp/gate.log" 2>/dev/null && break
	kill -0 "$gate_pid" 2>/dev/null || { echo "tls-bench.sh: the gate did not start:" >&2; cat "$tmp/gate.log" >&2; exit 1; }
	sleep 0.1
done
in_ns ip addr add 192.0.2.1/24 dev "$tap"
in_ns ip link set "$tap" up
for _ in $(seq 1 50); do
	in_ns bash -c ': </dev/tcp/192.0.2.25/25' 2>/dev/null && break
	sleep 0.1
done

# worker_cpu - CPU seconds of the gate's worker lcore thread (utime + stime)
worker_cpu() {
	local t
	for t in /proc/"$gate_pid"/task/*; do
		# DPDK 22.11 names its worker lcore threads rte-worker-N
		if grep -Eq "(rte|lcore)-worker" "$t/comm" 2>/dev/null; then
			awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "$t/stat"
			return
		fi
	done
	echo "?"
}

echo "# end to end: gate worker lcore on CPU 1 (TAP, one lcore), tls-load.py on CPU 0, ${dur} s per run"
printf '%-10s %10s %8s %12s %12s %12s\n' protocol sessions/s errors "client CPUs" "worker CPUs" "TLS logged"
status=0
for v in 1.3 1.2; do
	before=$(grep -c "Anonymous TLS connection established" "$tmp/maillog" 2>/dev/null || true)
	c0=$(worker_cpu)
	args=(-p 2 -d "$dur" --tls "$v")
	[ "$max" = 0 ] || args+=(-n "$max")
	out=$(in_ns taskset -c 0 /usr/bin/python3 "$here/tls-load.py" "${args[@]}" 192.0.2.25 25) || status=1
	c1=$(worker_cpu)
	sessions=$(sed -n 's/.*sessions=\([0-9]*\).*/\1/p' <<<"$out")
	# the control thread writes the log: give it time on a loaded machine
	for _ in $(seq 1 100); do
		after=$(grep -c "Anonymous TLS connection established" "$tmp/maillog" 2>/dev/null || true)
		[ "$((after - before))" -ge "${sessions:-0}" ] && break
		sleep 0.1
	done
	elapsed=$(sed -n 's/.*elapsed=\([0-9.]*\).*/\1/p' <<<"$out")
	rate=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")
	errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$out")
	ccpu=$(sed -n 's/.*client_cpu=\([0-9.]*\).*/\1/p' <<<"$out")
	printf '%-10s %10s %8s %12s %12s %12s\n' "TLS $v" "$rate" "$errors" \
		"$(awk -v c="$ccpu" -v e="$elapsed" 'BEGIN { printf "%.2f", c / e }')" \
		"$(awk -v a="$c0" -v b="$c1" -v e="$elapsed" 'BEGIN { printf "%.2f", (b - a) / e }')" \
		"$((after - before))"
	grep -q "first_error" <<<"$out" && echo "# $out"
	[ "$((after - before))" = "$sessions" ] || { echo "# the gate logged $((after - before)) TLS connections for $sessions sessions"; status=1; }
	[ "${sessions:-0}" -gt 0 ] || status=1
done
# the gate's own TCP counters, printed when it stops: retransmissions show loss or stalls
kill -TERM "$gate_pid"
wait "$gate_pid" 2>/dev/null
gate_pid=""
sed -n 's/^smtpgate: lcore [0-9]*: tcp \(seg_in [0-9]* seg_out [0-9]* accepted [0-9]* retransmits [0-9]* rto_fired [0-9]*\).*/# gate: \1/p' \
	"$tmp/gate.log"
exit $status
