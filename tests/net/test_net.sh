#!/usr/bin/env bash
# test_net - the gate on a TAP device answers ARP and ping from the Linux
# stack, drops what it must (bad checksums, fragments, other addresses),
# refuses bad configuration with the key named, and stops on SIGTERM.
# Usage: test_net.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgn0";
    address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
}
limits { mbufs = 4095; }
CONF

# configuration errors are clear and name the key, before EAL starts
cat >"$T/bad.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgn0";
    adress = [ "192.0.2.25/24" ];
}
lcores = [ 1 ];
limits { max_flow = 5; }
user = "no-such-user-here";
CONF
"$GATE_BIN" -- -c "$T/bad.conf" -p examples/policy.conf >"$T/out" 2>&1
rc=$?
[ $rc -eq 2 ]; ok $? "bad gate config exits 2"
grep -q "bad.conf:3: error: unknown key \"adress\" in port edge0" "$T/out"; ok $? "names the unknown key with file:line"
grep -q "bad.conf:1: error: port edge0: address is required" "$T/out"; ok $? "names the missing key"
grep -q "bad.conf:6: error: unknown key \"max_flow\" in limits" "$T/out"; ok $? "reports every error"
grep -q "bad.conf:7: error: user: no user named \"no-such-user-here\"" "$T/out"; ok $? "an unknown user is an error before start"
"$GATE_BIN" -- -c "$T/gate.conf" -p "$T/nope.conf" >"$T/out" 2>&1
[ $? -eq 2 ] && grep -q "nope.conf: error: cannot read" "$T/out"; ok $? "a missing policy exits 2 with the reason"
"$GATE_BIN" -- -c "$T/gate.conf" -p examples/policy.conf -n >"$T/out" 2>&1
[ $? -eq 0 ] && grep -q "are valid" "$T/out"; ok $? "-n checks both files"

gate_start sgnet "$T/gate.conf" examples/policy.conf
ok $? "the gate starts on a TAP device"
in_ns ping -c 3 -i 0.2 -W 1 192.0.2.25 >"$T/ping" 2>&1
grep -q " 0% packet loss" "$T/ping"; ok $? "Linux pings the gate: ARP resolved, echo answered"
in_ns ip neigh show 192.0.2.25 | grep -q "lladdr"; ok $? "Linux learned the gate's MAC"
in_ns ping -c 1 -W 1 192.0.2.26 >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "another address on the link is not answered"
in_ns ping -c 2 -s 1400 -i 0.2 -W 1 192.0.2.25 >"$T/ping" 2>&1
grep -q " 0% packet loss" "$T/ping"; ok $? "large echo requests answered"
in_ns ping -c 1 -s 3000 -W 1 192.0.2.25 >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "fragmented echo requests are dropped"

in_ns ping -6 -c 3 -i 0.2 -W 1 2001:db8:25::25 >"$T/ping" 2>&1
grep -q " 0% packet loss" "$T/ping"; ok $? "Linux pings the gate over IPv6: neighbour discovery, echo answered"
in_ns ip -6 neigh show 2001:db8:25::25 | grep -q "lladdr"; ok $? "Linux learned the gate's MAC by neighbour discovery"
in_ns ping -6 -c 1 -W 1 2001:db8:25::26 >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "another IPv6 address on the link is not answered"
in_ns ping -6 -c 1 -s 3000 -W 1 2001:db8:25::25 >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "fragmented IPv6 echo requests are dropped"

# crafted packets: a bad IP checksum and a bad ICMP checksum get no answer
mac=$(in_ns ip neigh show 192.0.2.25 | sed -n 's/.*lladdr \([^ ]*\).*/\1/p')
in_ns /usr/bin/python3 - "$mac" >"$T/scapy" 2>&1 <<'PY'
import sys
from scapy.all import Ether, IP, ICMP, srp1, conf
conf.verb = 0
mac = sys.argv[1]
def ask(pkt):
    r = srp1(Ether(dst=mac) / pkt, iface="sgn0", timeout=1)
    return r is not None and r.haslayer(ICMP) and r[ICMP].type == 0
print("good", ask(IP(src="192.0.2.1", dst="192.0.2.25") / ICMP(id=7, seq=1)))
print("badip", ask(IP(src="192.0.2.1", dst="192.0.2.25", chksum=0x1234) / ICMP(id=7, seq=2)))
print("badicmp", ask(IP(src="192.0.2.1", dst="192.0.2.25") / ICMP(id=7, seq=3, chksum=0x4321)))
print("opts", ask(IP(src="192.0.2.1", dst="192.0.2.25", options=b"\x01\x01\x01\x00") / ICMP(id=7, seq=4)))
from scapy.all import IPv6, ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr
def ask6(pkt):
    r = srp1(Ether(dst=mac) / pkt, iface="sgn0", timeout=1)
    return r is not None and r.haslayer(ICMPv6EchoReply)
print("good6", ask6(IPv6(src="2001:db8:25::1", dst="2001:db8:25::25") / ICMPv6EchoRequest(id=9, seq=1)))
print("bad6", ask6(IPv6(src="2001:db8:25::1", dst="2001:db8:25::25") / ICMPv6EchoRequest(id=9, seq=2, cksum=0x1234)))
# a solicitation with a hop limit below 255 came from off the link: ignored (RFC 4861 7.1.1)
ns = IPv6(src="2001:db8:25::99", dst="ff02::1:ff00:25", hlim=64) / ICMPv6ND_NS(tgt="2001:db8:25::25") / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:99")
r = srp1(Ether(dst="33:33:ff:00:00:25") / ns, iface="sgn0", timeout=1)
print("nshop", r is not None)
PY
grep -q "good True" "$T/scapy"; ok $? "scapy: a well-formed echo is answered"
grep -q "badip False" "$T/scapy"; ok $? "scapy: a bad IPv4 header checksum is dropped"
grep -q "badicmp False" "$T/scapy"; ok $? "scapy: a bad ICMP checksum is dropped"
grep -q "opts False" "$T/scapy"; ok $? "scapy: IP options are dropped"
grep -q "good6 True" "$T/scapy"; ok $? "scapy: an ICMPv6 echo is answered"
grep -q "bad6 False" "$T/scapy"; ok $? "scapy: a bad ICMPv6 checksum is dropped"
grep -q "nshop False" "$T/scapy"; ok $? "scapy: a neighbour solicitation with hop limit 64 is ignored"

gate_stop
[ "$gate_rc" -eq 0 ] && grep -q "smtpgate: stopped" "$gate_log"; ok $? "SIGTERM stops the gate cleanly (exit 0)"
! grep -q "runtime error\|Sanitizer" "$gate_log"; ok $? "no sanitizer report from the gate"
[ "$(gate_stat csum)" -ge 2 ]; ok $? "bad checksums counted ($(gate_stat csum))"
[ "$(gate_stat frag)" -ge 2 ]; ok $? "fragments counted ($(gate_stat frag))"
[ "$(gate_stat icmp_echo)" -ge 6 ]; ok $? "echo replies counted ($(gate_stat icmp_echo))"

echo "1..$n"
[ $failed -eq 0 ]
