# bench/lib.sh - what the memif benches share (sourced by gate-bench.sh,
# flood-bench.sh, mem-bench.sh and memif-stress.sh): the policy
# smtpgate-bench's defaults expect, and starting the gate. The caller sets
# tmp, gate_bin, prefix, cpu_ctl and cpu_gate, and writes $tmp/gate.conf.

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
