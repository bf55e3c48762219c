#!/usr/bin/env bash
# peers-bench.sh - smtpgate, Postfix and nginx's mail proxy side by side,
# refusing the same SMTP load at RCPT, one server core each
#
# In one network namespace (only lo, and the gate's TAP), one after the
# other, each server pinned to one CPU (taskset; the gate's two lcores also
# with EAL's --lcores), the client on the other CPU:
#   postfix   a private Postfix instance (postfix -c DIR, its own queue):
#             postscreen in front of smtpd, with the restrictions of the
#             gate's policy (client CIDR, HELO and sender patterns, relay
#             check); the client passes postscreen's greet test once before
#             the runs and is then in its cache, as a returning client is
#   nginx     nginx's mail proxy, smtp_auth none: at RCPT it asks its
#             auth_http endpoint, a responder written here as an http
#             location of the same nginx (maps over the Auth-SMTP-* and
#             Client-IP headers), which refuses the relay attempt; Postfix's
#             smtp-sink is its backend (never reached by this load)
#   smtpgate  the gate on a net_tap port, one worker lcore, the same policy
# The load: bench/peers-load (built with the tree), which plays Postfix's
# smtp-source session (banner, HELO, MAIL FROM, RCPT TO, one command at a
# time, then QUIT after the refused RCPT) but survives nginx hanging up after
# its refusal (smtp-source aborts the run there). Every session must end with
# "554 5.7.1 <user@elsewhere.example>: Relay access denied" at RCPT.
#
# Prints, per server and concurrency: sessions per second, the server's CPU
# seconds per 1,000 sessions (utime+stime of all its processes, children
# reaped meanwhile included, from /proc/PID/stat), both against the gate,
# the client's busy share and the kernel's share of the server's CPU.
# The gate polls: its worker takes its whole CPU whatever the load, so its
# CPU per session is the CPU it had divided by the sessions it served.
#
# usage: bench/peers-bench.sh [--smoke] [--build DIR] [-c N[,N...]] [-n N]
#                             [--runs K] [--servers LIST] [--out DIR] [--keep]
#   --smoke        one concurrency, a few hundred sessions per server: checks
#                  each refuses every session at RCPT; non-zero exit otherwise
#   --build DIR    meson build directory (default: build at the top of the repo)
#   -c N[,N...]    concurrencies (default 4,16,64,256)
#   -n N           sessions per run for nginx and smtpgate (default 10000);
#                  Postfix, ten times slower, gets N/10
#   --runs K       repeat each measurement K times; the table gives medians
#                  and the range of sessions/s (default 3; smoke 1)
#   --servers L    which servers, comma-separated (default postfix,nginx,smtpgate)
#   --out DIR      also write DIR/peers.dat (the medians) and, with
#                  gnuplot, DIR/peers-sessions.png and DIR/peers-cpu.png
#   --keep         keep the configs and logs (path printed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
. "$here/lib.sh"
build="$top/build"
smoke=0
keep=0
concs=4,16,64,256
count=10000
servers=postfix,nginx,smtpgate
runs=3
out=""

while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) smoke=1 ;;
	--build) build=$2; shift ;;
	-c) concs=$2; shift ;;
	-n) count=$2; shift ;;
	--servers) servers=$2; shift ;;
	--runs) runs=$2; shift ;;
	--out) out=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,44p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "peers-bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
gate_mem=512 gate_flows=131072 gate_mbufs=16383
if [ "$smoke" = 1 ]; then
	concs=10
	count=300
	runs=1
	# a smaller gate starts faster on a loaded machine
	gate_mem=256 gate_flows=16384 gate_mbufs=4095
fi
[ "$(id -u)" = 0 ] || { echo "peers-bench.sh: needs root (namespaces, DPDK)" >&2; exit 1; }
for t in postfix smtp-sink nginx taskset; do
	command -v "$t" >/dev/null || PATH=$PATH:/usr/sbin command -v "$t" >/dev/null ||
		{ echo "peers-bench.sh: $t is missing (tools/install-deps --test)" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin

tmp=$(mktemp -d /tmp/peers-bench.XXXXXX)
chmod 755 "$tmp"
ns=sgbp-peers-$$
tap=sgbpt$$
prefix=sgbp-peers-$$
gate_pid=""
sink_pid=""
PF=$tmp/postfix
NG=$tmp/nginx

# the CPUs: servers on the last one, the client on the first
ncpu=$(nproc)
cpu_srv=$((ncpu - 1))
cpu_cli=0

in_ns() { ip netns exec "$ns" "$@"; }

# ---- what each server runs: the gate's policy, and its equivalents ----
# (the policy of bench/gate-bench.sh: 10.66/16 refused at connect,
# *.dyn.example at HELO, *@spam.example at MAIL, relay outside local.example)
gate_conf() {
	cat >"$tmp/gate.conf" <<CONF
port edge0 {
    device = "net_tap0,iface=$tap";
    address = [ "192.0.2.25/24" ];
}
lcores = [ 1 ];
limits { max_flows = $gate_flows; syn_backlog = 8192; mbufs = $gate_mbufs; }
control { socket = "$tmp/ctl.sock"; }
metrics { listen = "off"; }
log = "file:$tmp/gate-maillog";
CONF
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
}

pf_conf() {
	mkdir -p "$PF/etc" "$PF/spool" "$PF/data"
	chown postfix "$PF/data"
	cat >"$PF/etc/main.cf" <<MAIN
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.bench.example
mydestination = local.example
local_recipient_maps =
local_transport = discard
default_transport = discard
mynetworks = 192.0.2.10/32
smtpd_peername_lookup = no
default_process_limit = 1000
# all the load comes from one address: no per-client limits (anvil)
smtpd_client_connection_count_limit = 0
smtpd_delay_reject = no
smtpd_client_restrictions = check_client_access cidr:$PF/etc/clients.cidr
smtpd_helo_restrictions = check_helo_access pcre:$PF/etc/helo.pcre
smtpd_sender_restrictions = check_sender_access pcre:$PF/etc/senders.pcre
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
postscreen_greet_action = enforce
postscreen_greet_wait = 2s
postscreen_cache_map = btree:\$data_directory/postscreen_cache
maillog_file_prefixes = $tmp
maillog_file = $PF/maillog
MAIN
	printf '10.66.0.0/16 REJECT Access denied\n' >"$PF/etc/clients.cidr"
	printf '/\\.dyn\\.example$/ REJECT Access denied\n' >"$PF/etc/helo.pcre"
	printf '/@spam\\.example$/ REJECT Access denied\n' >"$PF/etc/senders.pcre"
	cat >"$PF/etc/master.cf" <<'MASTER'
127.0.0.1:25 inet n - n - 1 postscreen
smtpd pass - - n - - smtpd -o max_use=100000 -o max_idle=3600s
dnsblog unix - - n - 0 dnsblog
tlsproxy unix - - n - 0 tlsproxy
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
discard unix - - n - - discard
error unix - - n - - error
retry unix - - n - - error
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
showq unix n - n - - showq
pickup unix n - n 60 1 pickup
flush unix n - n 1000? 0 flush
postlog unix-dgram n - n - 1 postlogd
MASTER
}

ng_conf() {
	local mod
	# Debian's nginx loads its mail module from modules-enabled
	mod=$(sed -n 's/^load_module \(.*mail.*\);/\1/p' /etc/nginx/modules-enabled/*.conf 2>/dev/null | head -1)
	# a relative path is nginx's own prefix's: ours is another
	[ -n "$mod" ] && [ "${mod#/}" = "$mod" ] &&
		mod=$(nginx -V 2>&1 | tr ' ' '\n' | sed -n 's/^--prefix=//p')/$mod
	mkdir -p "$NG/logs"
	cat >"$NG/nginx.conf" <<NGX
${mod:+load_module $mod;}
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log error;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $NG;
    # the auth_http responder: the gate's policy over nginx's Auth-* headers,
    # in the gate's order (relay, then client, HELO, sender black lists)
    map \$http_auth_smtp_to \$sg_rcpt { "~<(?<a>[^>]*)>" \$a; default ""; }
    map \$http_auth_smtp_to \$sg_relay { "~*@local\\.example>" 0; default 1; }
    geo \$http_client_ip \$sg_client_bl { default 0; 10.66.0.0/16 1; }
    map \$http_auth_smtp_helo \$sg_helo_bl { "~*\\.dyn\\.example\$" 1; default 0; }
    map \$http_auth_smtp_from \$sg_from_bl { "~*@spam\\.example>" 1; default 0; }
    map \$http_auth_smtp_from \$sg_from { "~<(?<f>[^>]*)>" \$f; default ""; }
    map "\$sg_relay\$sg_client_bl\$sg_helo_bl\$sg_from_bl" \$sg_code {
        "0000" ""; "~^1" "554 5.7.1"; "~^01" "554 5.7.1"; default "550 5.7.1";
    }
    map "\$sg_relay\$sg_client_bl\$sg_helo_bl\$sg_from_bl" \$sg_text {
        "~^1" "<\$sg_rcpt>: Relay access denied";
        "~^01" "<\$http_client_ip>: Client host rejected: Access denied";
        "~^001" "<\$http_auth_smtp_helo>: Helo command rejected: Access denied";
        "~^0001" "<\$sg_from>: Sender address rejected: Access denied";
        default "";
    }
    server {
        listen 127.0.0.1:8025;
        location = /auth {
            if (\$sg_code) {
                add_header Auth-Status \$sg_text;
                add_header Auth-Error-Code \$sg_code;
                return 200 "";
            }
            add_header Auth-Status OK;
            add_header Auth-Server 127.0.0.1;
            add_header Auth-Port 2526;
            return 200 "";
        }
    }
}
mail {
    server_name mx.bench.example;
    auth_http 127.0.0.1:8025/auth;
    smtp_auth none;
    xclient off;
    server { listen 127.0.0.1:2525 backlog=4096; protocol smtp; proxy on; }
}
NGX
}

# ---- starting and stopping the servers, pinned to cpu_srv ----
start_postfix() {
	pf_conf
	in_ns taskset -c "$cpu_srv" postfix -c "$PF/etc" start >"$tmp/postfix.out" 2>&1 || {
		cat "$tmp/postfix.out" >&2
		return 1
	}
	wait_port 127.0.0.1 25
}
stop_postfix() {
	in_ns postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
	# master waits for its children; the next server wants the CPU alone
	for _ in $(seq 1 50); do [ -z "$(srv_pids)" ] && break; sleep 0.1; done
}
start_nginx() {
	ng_conf
	# (ip netns exec itself, not a function: $! must be the process, not a subshell)
	ip netns exec "$ns" taskset -c "$cpu_srv" smtp-sink -u nobody 127.0.0.1:2526 100 \
		>"$tmp/sink.log" 2>&1 &
	sink_pid=$!
	in_ns taskset -c "$cpu_srv" nginx -p "$NG" -c "$NG/nginx.conf" >"$tmp/nginx.out" 2>&1 || {
		cat "$tmp/nginx.out" "$NG/logs/error.log" >&2
		return 1
	}
	wait_port 127.0.0.1 2525
}
stop_nginx() {
	in_ns nginx -p "$NG" -c "$NG/nginx.conf" -s quit >/dev/null 2>&1 || true
	if [ -n "$sink_pid" ]; then
		kill "$sink_pid" 2>/dev/null || true
		wait "$sink_pid" 2>/dev/null || true
	fi
	sink_pid=""
	for _ in $(seq 1 50); do [ -z "$(srv_pids)" ] && break; sleep 0.1; done
}
start_smtpgate() {
	gate_conf
	ip netns exec "$ns" taskset -c "$cpu_srv" "$build/dataplane/smtpgate" --no-huge -m "$gate_mem" --no-pci --no-shconf \
		--file-prefix "$prefix" --lcores="0@$cpu_srv,1@$cpu_srv" --log-level='*:warning' \
		-- -c "$tmp/gate.conf" -p "$tmp/policy.conf" >"$tmp/gate.log" 2>&1 &
	gate_pid=$!
	for _ in $(seq 1 100); do
		grep -q "running on" "$tmp/gate.log" && break
		kill -0 "$gate_pid" 2>/dev/null || { cat "$tmp/gate.log" >&2; return 1; }
		sleep 0.1
	done
	in_ns ip addr add 192.0.2.1/24 dev "$tap"
	in_ns ip link set "$tap" up
	wait_port 192.0.2.25 25
}
stop_smtpgate() {
	if [ -n "$gate_pid" ]; then
		kill -TERM "$gate_pid" 2>/dev/null || true
		wait "$gate_pid" 2>/dev/null || true
	fi
	gate_pid=""
	rm -rf "/var/run/dpdk/$prefix"
}

# wait_port IP PORT - until a TCP connect succeeds (10 s)
wait_port() {
	for _ in $(seq 1 100); do
		in_ns bash -c ": </dev/tcp/$1/$2" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "peers-bench.sh: nothing listens on $1:$2" >&2
	return 1
}

# srv_pids - the servers' processes: everything in the namespace
srv_pids() {
	ip netns pids "$ns" 2>/dev/null | tr '\n' ' '
}

# cpu_snap - "pid user system cuser csystem" for every server process, in
# clock ticks: its own times and those of the children it reaped
cpu_snap() {
	local p
	for p in $(srv_pids); do
		[ -r "/proc/$p/stat" ] || continue
		awk -v p="$p" '{ sub(/^.*\) /, ""); print p, $12, $13, $14, $15 }' "/proc/$p/stat" 2>/dev/null
	done
}

# cpu_delta BEFORE AFTER - "total system" CPU seconds of the servers between
# two snapshots: the growth of every process's own and reaped children's
# time; a process that ended meanwhile is in its parent's children time,
# whole, so what it had used before is taken off
cpu_delta() {
	awk -v hz="$(getconf CLK_TCK)" '
		FNR == NR { u0[$1] = $2; s0[$1] = $3; cu0[$1] = $4; cs0[$1] = $5; next }
		{
			seen[$1] = 1
			sys += $3 - s0[$1] + $5 - cs0[$1]
			t += $2 - u0[$1] + $3 - s0[$1] + $4 - cu0[$1] + $5 - cs0[$1]
		}
		END {
			for (p in u0) if (!(p in seen)) { t -= u0[p] + s0[p]; sys -= s0[p] }
			printf "%.3f %.3f\n", t / hz, sys / hz
		}' "$1" "$2"
}

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

cleanup() {
	set +e
	stop_smtpgate
	[ -d "$PF/etc" ] && stop_postfix
	[ -f "$NG/nginx.conf" ] && stop_nginx
	# whatever still runs in our namespace was started by us: end it
	ns_sweep
	ip netns del "$ns" 2>/dev/null
	if [ "$keep" = 1 ]; then
		echo "peers-bench.sh: files kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ----
bench_build "$build" dataplane/smtpgate bench/peers-load || exit 1
load=$build/bench/peers-load

ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns"
in_ns ip link set lo up
# many short connections: ports, backlogs (this namespace only)
in_ns sysctl -q -w net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1 \
	net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=8192

# server_addr NAME - where the load goes
server_addr() {
	case "$1" in
	postfix) echo 127.0.0.1:25 ;;
	nginx) echo 127.0.0.1:2525 ;;
	smtpgate) echo 192.0.2.25:25 ;;
	esac
}

# run_load NAME CONC N - one run; appends "name conc n per_s cpu_s" to $tmp/rows
fail=0
run_load() {
	local name=$1 c=$2 n=$3 res cpu sys rate cli
	echo "peers-bench.sh: $name, concurrency $c, $n sessions" >&2
	cpu_snap >"$tmp/cpu0"
	if ! res=$(in_ns taskset -c "$cpu_cli" "$load" -c "$c" -n "$n" "$(server_addr "$name")" 2>&1); then
		echo "peers-bench.sh: $name: FAILED: $res" >&2
		fail=1
	fi
	cpu_snap >"$tmp/cpu1"
	read -r cpu sys < <(cpu_delta "$tmp/cpu0" "$tmp/cpu1")
	echo "  $res server_cpu_s=$cpu server_sys_s=$sys" >&2
	rate=$(sed -n 's/.* per_s=\([0-9.]*\).*/\1/p' <<<"$res")
	# the client's busy share: near 100%, the client was the limit
	cli=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		END { if (v["seconds"] > 0) printf "%.0f", 100 * v["client_cpu_s"] / v["seconds"]; else print 0 }' <<<"$res")
	# every session must have been refused at RCPT, none otherwise
	if [ "$(sed -n 's/.*rcpt_5xx=\([0-9]*\).*/\1/p' <<<"$res")" != "$n" ]; then
		echo "peers-bench.sh: $name: not every session was refused at RCPT" >&2
		fail=1
	fi
	echo "$name $c $n ${rate:-0} $cpu ${cli:-0} $sys" >>"$tmp/rows"
}

# check_reply NAME - one swaks session: the refusal text at RCPT
check_reply() {
	local hp
	hp=$(server_addr "$1")
	in_ns swaks --server "${hp%:*}" --port "${hp#*:}" --timeout 10 --helo client.remote.example \
		--from sender@remote.example --to user@elsewhere.example --quit-after RCPT \
		>"$tmp/swaks-$1.out" 2>&1 || true
	if grep -q "<\*\* 554 5.7.1 <user@elsewhere.example>: Relay access denied" "$tmp/swaks-$1.out"; then
		echo "  ok: $1 answers RCPT with 554 5.7.1 <user@elsewhere.example>: Relay access denied" >&2
	else
		echo "  FAILED: $1 does not refuse the relay attempt as expected:" >&2
		grep -E "^(<|\*)" "$tmp/swaks-$1.out" | sed 's/^/    /' >&2
		fail=1
	fi
}

: >"$tmp/rows"
for s in ${servers//,/ }; do
	n=$count
	[ "$s" = postfix ] && n=$((count / 10))
	"start_$s" || { echo "peers-bench.sh: $s did not start" >&2; exit 1; }
	if [ "$s" = postfix ]; then
		# the first connection of a client waits postscreen_greet_wait;
		# after it the client is in postscreen's cache
		in_ns "$load" -c 1 -n 1 127.0.0.1:25 >/dev/null 2>&1 || true
	fi
	check_reply "$s"
	for c in ${concs//,/ }; do
		for _ in $(seq 1 "$runs"); do
			run_load "$s" "$c" "$n"
		done
	done
	"stop_$s"
	if [ "$s" = smtpgate ]; then
		grep '^smtpgate: lcore' "$tmp/gate.log" | sed 's/^smtpgate: /    /' >&2 || true
	fi
done

# ---- the table: medians of the runs ----
# med: server conc sessions rate cpu client rate_min rate_max sys% (medians, in run order)
/usr/bin/python3 - "$tmp/rows" >"$tmp/med" <<'PY'
import statistics, sys
cells = {}
for line in open(sys.argv[1]):
    name, conc, n, rate, cpu, cli, sys_s = line.split()
    cells.setdefault((name, int(conc), int(n)), []).append(
        (float(rate), float(cpu), float(cli), float(sys_s) / max(float(cpu), 1e-9)))
for (name, conc, n), v in cells.items():
    med = lambda i: statistics.median(x[i] for x in v)
    print(name, conc, n, f"{med(0):.0f}", f"{med(1):.3f}", f"{med(2):.0f}",
          f"{min(x[0] for x in v):.0f}", f"{max(x[0] for x in v):.0f}", f"{100 * med(3):.0f}")
PY

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo
echo "SMTP sessions refused at RCPT: smtpgate, Postfix and nginx side by side, one server CPU each"
echo "  date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "  machine   $ncpu CPUs, ${cpu_model:-unknown CPU}, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  versions  smtpgate $(sed -n "s/^[[:space:]]*version : '\(.*\)',/\1/p" "$top/meson.build"), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'), Postfix $(postconf -d -h mail_version 2>/dev/null || echo '?'), $(nginx -v 2>&1 | sed 's/.*: //')"
echo "  CPUs      servers on CPU $cpu_srv, the client (bench/peers-load) on CPU $cpu_cli"
echo "  load      banner, HELO, MAIL, RCPT refused (554 relay), QUIT; Postfix and nginx over lo, smtpgate over TAP"
echo
awk '
	{ name[NR] = $1; conc[NR] = $2; n[NR] = $3; rate[NR] = $4; cpu[NR] = $5; cli[NR] = $6
	  range[NR] = $7 "-" $8; sysp[NR] = $9
	  if ($1 == "smtpgate") { grate[$2] = $4; gcpu[$2] = $5 * 1000 / $3 } }
	END {
		printf "  %-9s %6s %8s %11s %13s %12s %12s %7s %5s  %s\n", "server", "conc", "sessions", "sessions/s",
			"CPU s/1000", "gate x rate", "gate x CPU", "client", "sys", "sessions/s range"
		for (i = 1; i <= NR; i++) {
			c = cpu[i] * 1000 / n[i]
			rr = (name[i] != "smtpgate" && (conc[i] in grate) && rate[i] > 0) ? sprintf("%.1f", grate[conc[i]] / rate[i]) : "-"
			cr = (name[i] != "smtpgate" && (conc[i] in gcpu) && gcpu[conc[i]] > 0) ? sprintf("%.1f", c / gcpu[conc[i]]) : "-"
			printf "  %-9s %6d %8d %11.0f %13.3f %12s %12s %6d%% %4d%%  %s\n", name[i], conc[i], n[i], rate[i], c, rr, cr, cli[i], sysp[i], range[i]
		}
	}' "$tmp/med"
echo
echo "  (medians of $runs runs of each line, with the range of sessions/s. CPU s/1000: the"
echo "  server's CPU seconds per 1,000 sessions. gate x rate: smtpgate's"
echo "  sessions/s over this server's at the same concurrency; gate x CPU: this server's"
echo "  CPU per session over smtpgate's. smtpgate polls, so its CPU is a whole CPU for the"
echo "  run's duration whatever the load. client: the client's CPU over the run's time;"
echo "  near 100%, the client was the limit. sys: the kernel's share of the server's CPU."
echo "  The machine is shared: see the load average.)"

if [ -n "$out" ]; then
	mkdir -p "$out"
	{
		echo "# server concurrency sessions sessions_per_s server_cpu_s client_busy_pct sessions_per_s_min sessions_per_s_max server_sys_pct"
		echo "# (medians of $runs runs, $(date -u '+%F %T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg))"
		cat "$tmp/med"
	} >"$out/peers.dat"
	if command -v gnuplot >/dev/null; then
		gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set datafile commentschars "#"
set logscale x
set xlabel "concurrent sessions"
set key top left
set grid
set output "$out/peers-sessions.png"
set title "Refused sessions per second, one server CPU ($(date -u +%F); median, range of $runs runs)"
set ylabel "sessions per second"
plot for [s in "smtpgate nginx postfix"] "< grep '^" . s . " ' $out/peers.dat" using 2:4:7:8 with yerrorlines lw 2 title s
set output "$out/peers-cpu.png"
set title "Server CPU seconds per 1,000 refused sessions ($(date -u +%F))"
set ylabel "CPU seconds per 1,000 sessions"
set logscale y
plot for [s in "smtpgate nginx postfix"] "< grep '^" . s . " ' $out/peers.dat" using 2:(\$5*1000/\$3) with linespoints lw 2 title s
GP
		echo "  plots: $out/peers-sessions.png, $out/peers-cpu.png"
	fi
fi
[ "$fail" = 0 ] || { echo "peers-bench.sh: FAILED (see above)" >&2; exit 1; }
