# gate.sh - start and stop smtpgate inside a network namespace of its own, for
# integration tests. Source it; it needs root, iproute2 and the built gate.
#
#   cd SOURCE_DIR; . tests/lib/gate.sh; gate_script SOURCE_DIR BUILD_DIR
#   gate_start NAME GATE_CONF POLICY [EAL args...]   the gate's TAP is $NAME-t0
#   gate_stop                                        SIGTERM, wait, exit status in $gate_rc
#   in_ns CMD...                                     run a command in the namespace
#
# The namespace gets the TAP interface (created by DPDK's net_tap inside it)
# with 192.0.2.1/24 and 2001:db8:25::1/64 on the kernel side; traffic never
# leaves it.

GATE_BIN=${GATE_BIN:-build/dataplane/smtpgate}
gate_ns=""
gate_pid=""
gate_log=""

in_ns() {
	ip netns exec "$gate_ns" "$@"
}

gate_can_run() { # prints a reason and fails when this machine cannot run the gate
	if [ "$(id -u)" -ne 0 ]; then
		echo "needs root"
		return 1
	fi
	if [ ! -c /dev/net/tun ]; then
		echo "no /dev/net/tun"
		return 1
	fi
	if ! ip netns add smtpgate-probe-$$ 2>/dev/null; then
		echo "cannot create network namespaces"
		return 1
	fi
	ip netns del smtpgate-probe-$$
}

# gate_script SOURCE_DIR BUILD_DIR - the start of an integration script: the
# gate binary of BUILD_DIR, a scratch directory $T removed at exit (with the
# gate stopped), and a TAP skip when this machine cannot run the gate
gate_script() {
	BUILD=$2
	GATE_BIN=$BUILD/dataplane/smtpgate
	T=$(mktemp -d)
	trap 'gate_stop; rm -rf "$T"' EXIT
	local why
	if ! why=$(gate_can_run); then
		echo "1..0 # SKIP $why"
		exit 0
	fi
}

gate_start() { # gate_start NAME GATE_CONF POLICY [extra EAL args]
	gate_ns=$1
	local conf=$2 policy=$3
	shift 3
	gate_log=$(mktemp "${T:-/tmp}/smtpgate-$gate_ns.XXXXXX.log") # in $T: gone with it
	ip netns del "$gate_ns" 2>/dev/null
	ip netns add "$gate_ns"
	in_ns ip link set lo up
	ip netns exec "$gate_ns" "$GATE_BIN" --no-huge -m 256 --no-pci --no-shconf --file-prefix "$gate_ns" \
		${GATE_LCORES:--l 0,1} --log-level='*:warning' "$@" -- -c "$conf" -p "$policy" >"$gate_log" 2>&1 &
	gate_pid=$!
	local i
	for i in $(seq 1 100); do
		grep -q "running on" "$gate_log" && break
		if ! kill -0 "$gate_pid" 2>/dev/null; then
			echo "# the gate did not start:"
			sed 's/^/#   /' "$gate_log"
			return 1
		fi
		sleep 0.1
	done
	local tap
	tap=$(sed -n 's/.*iface=\([^,"]*\).*/\1/p' "$conf" | head -1)
	in_ns ip addr add 192.0.2.1/24 dev "$tap"
	in_ns ip addr add 2001:db8:25::1/64 dev "$tap" nodad
	in_ns ip link set "$tap" up
}

gate_stop() {
	gate_rc=0
	if [ -n "$gate_pid" ]; then
		kill -TERM "$gate_pid" 2>/dev/null
		wait "$gate_pid"
		gate_rc=$?
	fi
	gate_pid=""
	if [ -n "$gate_ns" ]; then
		ip netns del "$gate_ns" 2>/dev/null
		# EAL's runtime directory (the --file-prefix is the namespace's name)
		rm -rf "/var/run/dpdk/$gate_ns"
	fi
	return 0
}

sink_pid=""
# sink_start [smtp-sink options]: a fresh Postfix smtp-sink at 192.0.2.1:2525 on the
# kernel side of the gate's namespace, dumping each message to $T/dump; sink_stop
sink_start() {
	sink_stop
	rm -rf "$T/dump"
	mkdir -p "$T/dump"
	chmod 755 "$T"
	chmod 777 "$T/dump"
	ip netns exec "$gate_ns" smtp-sink -u nobody "$@" -d "$T/dump/%H%M%S." 192.0.2.1:2525 100 \
		>"$T/sink.log" 2>&1 &
	sink_pid=$!
	for _ in $(seq 1 50); do
		in_ns bash -c ': </dev/tcp/192.0.2.1/2525' 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
sink_stop() {
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
	sink_pid=""
}
# gate_stat NAME - a counter from the statistics the gate printed when it stopped
gate_stat() {
	sed -n "s/.* $1 \([0-9]*\).*/\1/p" "$gate_log" | head -1
}

# TAP for the integration scripts: ok STATUS DESCRIPTION; on failure the
# tail of $T/out (the last command's output) is shown as a comment.
n=0
failed=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		[ -n "${T:-}" ] && [ -s "$T/out" ] && sed 's/^/#   /' "$T/out" | tail -15
	fi
}
