#!/usr/bin/env bash
# test_limits - per-client limits and a full flow table, against Linux
# clients in the gate's namespace.
#
# Part 1, two worker lcores: the concurrency limit holds exactly across
# lcores (the held sessions' source ports are chosen so that their flows
# alternate between the lcores), with Postfix's 421 and warning line; a new
# session is accepted once one closes; two IPv6 addresses of one /64 share a
# count and another /64 does not; lan and whitelisted clients are exempt; the
# rate limit refuses the connection past it and a new window lets the client
# in again; the counters (control socket, Prometheus) match what the clients
# saw.
# Part 2, one lcore with a 16-flow table: new connections get SYN cookies,
# then a stateless 421 4.3.2 once no flow is left, while the established
# sessions go on unharmed; a slot freed is used again.
# Usage: test_limits.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
if ! command -v curl >/dev/null; then
	echo "1..0 # SKIP curl is not installed"
	exit 0
fi
CTL=$BUILD/tools/smtpgatectl
SOCK=$T/ctl.sock
# Debian's python3 (stdlib only): a version manager's shim on PATH costs seconds per start
PY=/usr/bin/python3
[ -x $PY ] || PY=$(command -v python3)
CLIENT="$PY $SRC/tests/gate/limits_client.py"
LIMIT=4

cat >"$T/gate.conf" <<CONF
port edge0 {
    device = "net_tap0,iface=sglim0";
    address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
}
# a second IPv6 /64 of clients, behind the kernel side
route = [ { prefix = "2001:db8:26::/64"; via = "2001:db8:25::1"; port = edge0; } ];
limits { mbufs = 8191; max_flows = 4096; clients = 1024; }
control { socket = "$SOCK"; }
metrics { listen = "127.0.0.1:9125"; }
CONF
cat >"$T/policy.conf" <<POL
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
lan = [ "192.0.2.10/32" ];
whitelist { clients = [ "192.0.2.11/32" ]; }
service mx { ports = [ 25 ]; client_connection_count_limit = $LIMIT; }
service burst { ports = [ 26 ]; client_connection_rate_limit = 5; client_rate_time_unit = 6s; }
POL

echo "1..26"
# lcore 0 runs the control thread and sleeps; lcores 1 and 2 poll, one per CPU
GATE_LCORES="--lcores 0@0,1@0,2@1" gate_start sglim "$T/gate.conf" "$T/policy.conf"
ok $? "the gate starts with two worker lcores"
for a in 192.0.2.5 192.0.2.6 192.0.2.10 192.0.2.11; do
	in_ns ip addr add $a/24 dev sglim0
done
for a in 2001:db8:25::a 2001:db8:25::b 2001:db8:26::5; do
	in_ns ip addr add $a/64 dev sglim0 nodad
done

# --- the concurrency limit across lcores ---
in_ns $CLIENT conc 192.0.2.25 25 $LIMIT 2 192.0.2.5 192.0.2.6 >"$T/out" 2>&1
cp "$T/out" "$T/conc4"
grep -qx "held_ok $LIMIT" "$T/out" && grep -qx "owners 2 2" "$T/out"
ok $? "$LIMIT sessions of one client held at once, two on each lcore"
grep -qx "over 421 4.7.0 mx.gate.example Error: too many connections from 192.0.2.5" "$T/out"
ok $? "the next one: 421 4.7.0 mx.gate.example Error: too many connections from 192.0.2.5"
grep -qx "over_eof yes" "$T/out"
ok $? "... and the gate closes it"
grep -qx "other 220" "$T/out"
ok $? "another client meanwhile: 220"
grep -qx "quit 221" "$T/out" && grep -qx "after 220" "$T/out"
ok $? "once a held session has ended, a new one is accepted"

stats() { "$CTL" -s "$SOCK" stats --json >"$T/stats" 2>&1; }
counter() { # counter NAME: the total of a counter in $T/stats (the totals come first)
	grep -o "\"$1\":[0-9]*" "$T/stats" | head -1 | sed 's/.*://'
}
stats
opened=$(grep -o '"smtp_sessions_opened":[0-9]*' "$T/stats" | sed 's/.*://' | tr '\n' ' ')
echo "# sessions opened: total and per lcore: $opened"
# total, lcore 1, lcore 2: half the held ones on each, "other" and "after" on lcore 1
set -- $opened
[ "${1:-0}" -eq $((LIMIT + 2)) ] && [ "${2:-0}" -eq $((LIMIT / 2 + 2)) ] &&
	[ "${3:-0}" -eq $((LIMIT / 2)) ]
ok $? "the gate had the sessions on the lcores the client chose ($opened)"

# --- IPv6: one /64 is one client ---
in_ns $CLIENT conc 2001:db8:25::25 25 $LIMIT 2 2001:db8:25::a,2001:db8:25::b 2001:db8:26::5 \
	>"$T/out" 2>&1
grep -qx "held_ok $LIMIT" "$T/out" && grep -q "held 2001:db8:25::a" "$T/out" &&
	grep -q "held 2001:db8:25::b" "$T/out"
ok $? "IPv6: $LIMIT sessions from two addresses of 2001:db8:25::/64"
grep -qx "over 421 4.7.0 mx.gate.example Error: too many connections from 2001:db8:25::a" "$T/out"
ok $? "the next one from that /64: 421 naming the address"
grep -qx "other 220" "$T/out"
ok $? "2001:db8:26::5, another /64, is not counted with them: 220"
grep -qx "after 220" "$T/out"
ok $? "IPv6: accepted again once one has ended"

# --- lan and whitelisted clients are exempt ---
for a in 192.0.2.10 192.0.2.11; do
	in_ns $CLIENT conc 192.0.2.25 25 $((LIMIT + 2)) 2 $a >"$T/out.$a" 2>&1
done
cat "$T/out.192.0.2.10" "$T/out.192.0.2.11" >"$T/out"
grep -qx "held_ok $((LIMIT + 2))" "$T/out.192.0.2.10" &&
	grep -qx "over 220 mx.gate.example ESMTP" "$T/out.192.0.2.10"
ok $? "a lan client is not limited: $((LIMIT + 3)) sessions at once"
grep -qx "held_ok $((LIMIT + 2))" "$T/out.192.0.2.11" &&
	grep -qx "over 220 mx.gate.example ESMTP" "$T/out.192.0.2.11"
ok $? "a whitelisted client is not limited either"

# --- the rate limit: 5 per 6 s window ---
in_ns $CLIENT burst 192.0.2.25 26 192.0.2.6 6 >"$T/out" 2>&1
cp "$T/out" "$T/rate"
grep -qx "codes 220 220 220 220 220 421" "$T/out" &&
	grep -qx "refused 421 4.7.0 mx.gate.example Error: too many connections from 192.0.2.6" "$T/out"
ok $? "rate limit 5: five connections accepted, the sixth gets the 421"
in_ns $CLIENT burst 192.0.2.25 26 192.0.2.5 1 >"$T/out" 2>&1
grep -qx "codes 220" "$T/out"
ok $? "another client is not counted with it"
sleep 7 # the window (6 s from the first connection, on the gate's whole seconds) is over
in_ns $CLIENT burst 192.0.2.25 26 192.0.2.6 1 >"$T/out" 2>&1
grep -qx "codes 220" "$T/out"
ok $? "after the window, the client is accepted again"

# --- counters: control socket and Prometheus agree with what the clients saw ---
stats
cp "$T/stats" "$T/out"
echo "# concurrency $(counter smtp_client_limit_refusals_concurrency) rate $(counter smtp_client_limit_refusals_rate) exempt $(counter smtp_client_limit_exempt) full $(counter smtp_client_limit_table_full)"
[ "$(counter smtp_client_limit_refusals_concurrency)" = 2 ] &&
	[ "$(counter smtp_client_limit_refusals_rate)" = 1 ] &&
	[ "$(counter smtp_client_limit_exempt)" = $((2 * (LIMIT + 4))) ] &&
	[ "$(counter smtp_client_limit_table_full)" = 0 ]
ok $? "smtpgatectl stats: 2 concurrency and 1 rate refusals, $((2 * (LIMIT + 4))) exempt, none uncounted"
in_ns curl -s --max-time 10 http://127.0.0.1:9125/metrics >"$T/prom" 2>&1
prom() { # prom PATTERN: the sum over lcores of the samples matching
	grep -E "^smtpgate_$1" "$T/prom" | awk '{s += $NF} END {print s + 0}'
}
cp "$T/prom" "$T/out"
[ "$(prom 'smtp_client_limit_refusals_total\{.*limit="concurrency"')" = 2 ] &&
	[ "$(prom 'smtp_client_limit_refusals_total\{.*limit="rate"')" = 1 ] &&
	[ "$(prom 'smtp_client_limit_exempt_total')" = $((2 * (LIMIT + 4))) ]
ok $? "Prometheus: the same counts"
gate_stop
cp "$gate_log" "$T/out"
[ "$(grep -c "warning: Connection concurrency limit exceeded: $((LIMIT + 1)) from unknown\[192.0.2.5\] for service mx" "$gate_log")" = 1 ] &&
	[ "$(grep -c "warning: Connection concurrency limit exceeded: $((LIMIT + 1)) from unknown\[2001:db8:25::a\] for service mx" "$gate_log")" = 1 ] &&
	[ "$(grep -c "warning: Connection rate limit exceeded: 6 from unknown\[192.0.2.6\] for service burst" "$gate_log")" = 1 ]
ok $? "Postfix's warning lines, one per refusal"
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log"
ok $? "the gate stopped cleanly (exit $gate_rc)"

# --- part 2: a full flow table ---
cat >"$T/gate2.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sglim1";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 4095; max_flows = 16; }
metrics { listen = off; }
CONF
cat >"$T/policy2.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; }
POL
gate_start sglimft "$T/gate2.conf" "$T/policy2.conf"
ok $? "a gate with a 16-flow table starts"
in_ns $CLIENT full 192.0.2.25 25 192.0.2.1 16 3 >"$T/out" 2>&1
cp "$T/out" "$T/full"
grep -qx "held_ok 16" "$T/out"
ok $? "16 sessions fill the table"
[ "$(grep -cx "extra 421 4.3.2 All server ports are busy eof yes" "$T/out")" = 3 ]
ok $? "new connections past it: 421 4.3.2 All server ports are busy, and closed"
grep -qx "unharmed 16" "$T/out"
ok $? "the 16 established sessions go on: EHLO, MAIL, RCPT, RSET, NOOP all 250"
grep -qx "quit 221" "$T/out" && grep -qx "after 220" "$T/out"
ok $? "one ends, and a new connection gets its flow"
gate_stop
cp "$gate_log" "$T/out"
tcp_of() { sed -n "s/^smtpgate: lcore 1: tcp .* $1 \([0-9]*\).*/\1/p" "$gate_log" | head -1; }
echo "# cookies_sent $(tcp_of cookies_sent) cookies_ok $(tcp_of cookies_ok) full_replies $(tcp_of full_replies)"
[ "$(tcp_of full_replies)" = 3 ] && [ "$(tcp_of cookies_ok)" -ge 2 ] && [ "$gate_rc" -eq 0 ] &&
	! grep -Eq "runtime error|Sanitizer" "$gate_log"
ok $? "SYN cookies from 90% full; 3 stateless 421s when full; the gate stopped cleanly"
[ "$failed" -eq 0 ]
