# tests/lib/postfix.sh - a private Postfix as the gate's backend, for the
# gate tests (sourced after tests/lib/gate.sh, once gate_start has made the
# namespace): its own main.cf, queue and log under $PF, listening on
# 192.0.2.1:2526 (plain) and 192.0.2.1:2527 (PROXY protocol) in the gate's
# namespace, trusting the gate (192.0.2.25) with XCLIENT. Every message is
# discarded unless the caller's settings say otherwise.
#   PF           the instance's directory (set by the caller)
#   PF_MAIN_EXTRA  more main.cf lines (optional)

# pf_start: write the instance's configuration and start it; 0 once it listens
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
${PF_MAIN_EXTRA:-}
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
tlsmgr unix - - n 1000? 1 tlsmgr
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

# pf_stop: stop the instance, if there is one
pf_stop() {
	[ -n "$gate_ns" ] && [ -d "$PF/etc" ] && in_ns postfix -c "$PF/etc" stop >/dev/null 2>&1
}

# pf_have: 0 when Postfix is installed with its user
pf_have() {
	[ -x /usr/sbin/postfix ] && id postfix >/dev/null 2>&1
}
