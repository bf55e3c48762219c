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
. tests/lib/postfix.sh
gate_script "$@"
if ! pf_have; then
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
