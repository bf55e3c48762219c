#!/usr/bin/env bash
# test_lcores - two worker lcores on one TAP port: the kernel spreads flows
# over both queues by its own hash, the gate hands each segment to the lcore
# that owns its flow, and neighbours learned on one lcore serve the other.
# Sessions over IPv4 and IPv6 must all get their exact replies, and both
# lcores must have served sessions and passed segments to each other.
# Usage: test_lcores.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sglc0";
    address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
    offload = false;    # checksums in software here; the other tests use the device's
}
limits { mbufs = 8191; max_flows = 4096; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; }
POL
cat >"$T/client.py" <<'PY'
# N sessions, 16 at a time, alternating IPv4 and IPv6: one local recipient
# (250) and one remote (554 relay denied) each; prints the tally of outcomes
import concurrent.futures, smtplib, sys

def one(i):
    try:
        s = smtplib.SMTP("192.0.2.25" if i % 2 else "2001:db8:25::25", 25, timeout=15)
        s.ehlo("h%d.remote.example" % i)
        s.mail("a%d@sender.example" % i)
        c1, _ = s.rcpt("user%d@local.example" % i)
        c2, m2 = s.rcpt("x%d@remote.example" % i)
        s.quit()
        if c1 == 250 and c2 == 554 and b"Relay access denied" in m2:
            return "right"
        return "wrong %d %d" % (c1, c2)
    except Exception as e:
        return "error %s" % type(e).__name__

n = int(sys.argv[1])
with concurrent.futures.ThreadPoolExecutor(16) as ex:
    r = list(ex.map(one, range(n)))
for k in sorted(set(r)):
    print(k, r.count(k))
PY

echo "1..8"
# lcore 0 runs the control thread and sleeps; lcores 1 and 2 poll, one per CPU
GATE_LCORES="--lcores 0@0,1@0,2@1" gate_start sglcores "$T/gate.conf" "$T/policy.conf"
ok $? "the gate starts with two worker lcores"
grep -q "running on 2 lcores" "$gate_log" && grep -q "2 queues (.*), checksums in software" "$gate_log"
ok $? "two lcores, one queue each on the port, checksums in software"

in_ns ping -c 3 -i 0.2 -W 2 192.0.2.25 >"$T/out" 2>&1
ok $? "IPv4 echo answered (whichever lcore the request reaches)"

in_ns python3 "$T/client.py" 400 >"$T/out" 2>&1
grep -qx "right 400" "$T/out"
ok $? "400 sessions over IPv4 and IPv6: every reply exact"
gate_stop

# per-lcore counters from the lines the gate printed when it stopped
stat_of() { # stat_of LCORE NAME
	sed -n "s/^smtpgate: lcore $1: .* $2 \([0-9]*\).*/\1/p" "$gate_log" | head -1
}
o1=$(stat_of 1 sessions_opened)
o2=$(stat_of 2 sessions_opened)
echo "# sessions per lcore: $o1 and $o2; hand-offs in: $(stat_of 1 handoff_in) and $(stat_of 2 handoff_in)" 
[ "${o1:-0}" -gt 40 ] && [ "${o2:-0}" -gt 40 ] && [ $((o1 + o2)) -eq 400 ]
ok $? "sessions spread over both lcores, each session on one"
[ "$(stat_of 1 handoff_in)" -gt 0 ] && [ "$(stat_of 2 handoff_in)" -gt 0 ]
ok $? "segments reached their owner through the hand-off rings both ways"
[ "$(stat_of 1 handoff_drop)" = 0 ] && [ "$(stat_of 2 handoff_drop)" = 0 ] &&
	[ "$(stat_of 1 lost_output)" = 0 ] && [ "$(stat_of 2 lost_output)" = 0 ]
ok $? "no hand-off drops, no lost output"
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log"
ok $? "the gate stopped cleanly (exit $gate_rc)"
[ "$failed" -eq 0 ]
