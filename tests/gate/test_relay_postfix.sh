#!/usr/bin/env bash
# test_relay_postfix - the backend learns who the client really was: a real
# Postfix (its own instance in the test's namespace) behind the gate, once
# with smtpd_authorized_xclient_hosts (XCLIENT), once with
# smtpd_upstream_proxy_protocol = haproxy for PROXY v1 and v2; Postfix's log
# must name the original client, not the gate.
# Usage: test_relay_postfix.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! [ -x /usr/sbin/postfix ] || ! id postfix >/dev/null 2>&1; then
	echo "1..0 # SKIP postfix is not installed"
	exit 0
fi
PF=$T/postfix
trap 'pf_stop; gate_stop; rm -rf "$T"' EXIT
chmod 755 "$T"

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgp0";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 4095; max_flows = 1024; }
CONF

# policy HANDOFF PORT: the gate's policy with a backend on the kernel side
policy() {
	cat >"$T/policy.conf" <<POL
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; }
backend { address = [ "192.0.2.1:$2" ]; handoff = "$1"; connect_timeout = 3s; }
POL
}

# pf_start: a Postfix instance of our own, listening in the gate's namespace
pf_start() {
	mkdir -p "$PF/etc" "$PF/spool" "$PF/data"
	chown postfix "$PF/data"
	cat >"$PF/etc/main.cf" <<MAIN
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
mail_owner = postfix
inet_interfaces = 192.0.2.1
inet_protocols = ipv4
myhostname = backend.example
mydestination = local.example
local_recipient_maps =
local_transport = discard
default_transport = discard
mynetworks = 127.0.0.0/8
smtpd_authorized_xclient_hosts = 192.0.2.25
maillog_file_prefixes = $T
maillog_file = $PF/maillog
MAIN
	cat >"$PF/etc/master.cf" <<'MASTER'
192.0.2.1:2526 inet n - n - - smtpd
192.0.2.1:2527 inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy
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
	in_ns postfix -c "$PF/etc" start >"$T/out" 2>&1 || return 1
	for _ in $(seq 1 50); do
		in_ns bash -c ': </dev/tcp/192.0.2.1/2526' 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
pf_stop() {
	[ -n "$gate_ns" ] && [ -d "$PF/etc" ] && in_ns postfix -c "$PF/etc" stop >/dev/null 2>&1
}

# through HANDOFF PORT: a message from 192.0.2.77 through the gate; Postfix's log after it in $T/log
through() {
	policy "$1" "$2"
	gate_start sgpostfix "$T/gate.conf" "$T/policy.conf" || return 1
	in_ns ip addr add 192.0.2.77/24 dev sgp0
	if [ ! -f "$PF/etc/main.cf" ]; then
		pf_start || return 1
	fi
	: >"$PF/maillog"
	in_ns swaks --server 192.0.2.25 --timeout 15 --helo client.remote.example \
		--from sender@remote.example --to user@local.example -li 192.0.2.77 >"$T/out" 2>&1
	local rc=$?
	sleep 1 # Postfix's log lines go through postlogd
	cp "$PF/maillog" "$T/log"
	sed 's/^/# postfix: /' "$T/log" | grep -E "connect from|client=|XCLIENT|warning" | head -8
	pf_stop
	rm -rf "$PF"
	gate_stop
	return $rc
}

echo "1..6"
through xclient 2526
ok $? "xclient: a message reaches Postfix through the gate"
grep -q "client=unknown\[192.0.2.77\]" "$T/log" && ! grep -q "client=unknown\[192.0.2.25\]" "$T/log" &&
	grep -q "from=<sender@remote.example>" "$T/log"
ok $? "xclient: Postfix logs the original client 192.0.2.77, not the gate ($(grep -o 'client=[^ ,]*' "$T/log" | head -1))"

through proxy-v1 2527
ok $? "proxy-v1: a message reaches Postfix through the gate"
grep -q "connect from unknown\[192.0.2.77\]" "$T/log" && grep -q "client=unknown\[192.0.2.77\]" "$T/log"
ok $? "proxy-v1: Postfix logs the original client ($(grep -o 'connect from unknown.192.0.2.77.' "$T/log" | head -1))"

through proxy-v2 2527
ok $? "proxy-v2: a message reaches Postfix through the gate"
grep -q "connect from unknown\[192.0.2.77\]" "$T/log" && grep -q "client=unknown\[192.0.2.77\]" "$T/log"
ok $? "proxy-v2: Postfix logs the original client ($(grep -o 'connect from unknown.192.0.2.77.' "$T/log" | head -1))"
[ "$failed" -eq 0 ]
