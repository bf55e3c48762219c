# bench/lib.sh - what the benches share: building (bench_build, for every
# script that runs the gate); for the memif benches (gate-bench.sh,
# flood-bench.sh, mem-bench.sh and memif-stress.sh) the policy
# smtpgate-bench's defaults expect, the gate's config, and starting the
# gate. The caller sets tmp and top; the memif parts also gate_bin,
# gate_mac, prefix, cpu_ctl and cpu_gate.

# bench_build BUILD TARGET...: configure the meson tree BUILD from $top if
# it is not yet, then build the TARGETs; on failure prints the log's end
# and returns 1 (logs in $tmp)
bench_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		(cd "$top" && meson setup "$dir" >"$tmp/setup.log" 2>&1) ||
			{ cat "$tmp/setup.log" >&2; return 1; }
	fi
	ninja -C "$dir" "$@" >"$tmp/build.log" 2>&1 || { tail -20 "$tmp/build.log" >&2; return 1; }
}

# bench_policy FILE: 10.66/16 refused at connect, *.dyn.example at HELO,
# *@spam.example at MAIL, other domains than local.example at RCPT (relay
# access denied); the generator's sink (--sink 2525) is the backend, behind
# the same route as the clients
bench_policy() {
	cat >"$1" <<'POL'
hostname = "mx.bench.example";
local_domains = [ "local.example" ];
local_hosts = [ "mx.bench.example" ];
blacklist {
    clients = [ "10.66.0.0/16" ];
    helo = [ "*.dyn.example" ];
    senders = [ "*@spam.example" ];
}
service mx {
    ports = [ 25 ];
    reject_remote_local_helo = true;
    command_timeout = 5min;
    session_timeout = 30min;
}
backend {
    address = [ "10.255.255.25" ];
    port = 2525;
    handoff = none;
    connect_timeout = 10s;
}
POL
}

# bench_gate_conf RSIZE LIMITS: $tmp/gate.conf for the gate as memif server
# (log2 ring size RSIZE, MAC $gate_mac) on 198.18.0.1/24, the clients
# (10/8) routed via the generator (198.18.0.2), one worker lcore, the
# control socket in $tmp, no metrics, no log; LIMITS: the limits block's
# fields before arp_timeout ("max_flows = N; syn_backlog = N; mbufs = N;")
bench_gate_conf() {
	cat >"$tmp/gate.conf" <<CONF
port bench0 {
    device = "net_memif0,role=server,id=0,socket=$tmp/memif.sock,socket-abstract=no,mac=$gate_mac,rsize=$1";
    address = [ "198.18.0.1/24" ];
}
route = [ { prefix = "10.0.0.0/8"; via = "198.18.0.2"; port = bench0; } ];
lcores = [ 1 ];
limits { $2 arp_timeout = 1h; }
control { socket = "$tmp/ctl.sock"; }
metrics { listen = "off"; }
log = "file:/dev/null";
CONF
}

# bench_gate_start NAME [MIB [SECONDS]]: the gate on $tmp/gate.conf and
# $tmp/policy.conf with MIB of DPDK memory (1024), its worker on $cpu_gate;
# sets gate_pid; exits with the gate's log if it does not start within
# SECONDS (10) (NAME: the script, for the messages)
bench_gate_start() {
	local mib=${2:-1024} wait_s=${3:-10}

	"$gate_bin" --no-huge -m "$mib" --no-pci --no-shconf --file-prefix "$prefix-gate" \
		--lcores="0@$cpu_ctl,1@$cpu_gate" --log-level='*:warning' \
		-- -c "$tmp/gate.conf" -p "$tmp/policy.conf" >"$tmp/gate.log" 2>&1 &
	gate_pid=$!
	for _ in $(seq 1 $((wait_s * 10))); do
		grep -q "running on" "$tmp/gate.log" && return 0
		if ! kill -0 "$gate_pid" 2>/dev/null; then
			echo "$1: the gate did not start:" >&2
			sed 's/^/  /' "$tmp/gate.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "$1: the gate did not start in $wait_s s" >&2
	exit 1
}
