#!/usr/bin/env bash
# test_metrics - the running gate seen from operators' tools: a Prometheus
# scrape with curl whose counters equal the sessions driven with swaks
# (accepted through a real backend, relay denied, blacklisted sender and
# client), promtool's check of the exposition, the HTTP endpoint's answers
# to wrong, malformed, oversized and slow requests (the gate goes on
# undisturbed), DPDK telemetry through dpdk-telemetry.py agreeing with the
# scrape, the policy version and backend state following a push and a
# backend failure, and pflogsumm counting the gate's reject log lines.
# Usage: test_metrics.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
for tool in swaks curl smtp-sink; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool is not installed (tools/install-deps --test)"
		exit 0
	fi
done
PREFIX=sgmet
METRICS=http://127.0.0.1:9125/metrics
sink_pid=""
trap 'sink_stop; gate_stop; rm -rf "$T" /var/run/dpdk/$PREFIX' EXIT

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgmet0";
    address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
}
limits { mbufs = 8191; max_flows = 4096; }
metrics { listen = "127.0.0.1:9125"; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
blacklist {
    clients = [ "192.0.2.66/32" ];
    senders = [ "*@spam.example" ];
}
service mx { ports = [ 25 ]; command_timeout = 5s; }
backend { address = [ "192.0.2.1:2525" ]; handoff = "none"; connect_timeout = 2s; }
POL
sed 's/"192.0.2.1:2525" ]/"192.0.2.1:2525", "[2001:db8:25::1]:2525" ]/' "$T/policy.conf" >"$T/policy2.conf"

# sw NAME ARGS...: swaks in the namespace, its transcript kept as $T/sw.NAME
sw() {
	local name=$1
	shift
	in_ns swaks --server 192.0.2.25 --timeout 10 --helo h.remote.example "$@" >"$T/sw.$name" 2>&1
	cp "$T/sw.$name" "$T/out"
}
# scrape [FILE]: a scrape into FILE ($T/scrape); fails unless it is a 200
scrape() {
	in_ns curl -s -o "${1:-$T/scrape}" -w '%{http_code}' "$METRICS" >"$T/code" 2>"$T/out" &&
		[ "$(cat "$T/code")" = 200 ]
}
# metric NAME [LABEL=\"VALUE\"...]: the sum over lcores of the series of
# NAME carrying every label given (of the last scrape)
metric() {
	awk -v n="$1" -v want="${*:2}" '
		{ split($1, a, "{"); if (a[1] != n) next
		  k = split(want, w, " "); for (i = 1; i <= k; i++) if (index($1, w[i]) == 0) next
		  s += $2 }
		END { printf "%d\n", s }' "$T/scrape"
}
# replies CLASS: final reply lines of that class the swaks transcripts show
replies() {
	cat "$T"/sw.* | grep -Ec "^(<-|<\*\*) +$1[0-9][0-9] "
}
# tel CMD...: dpdk-telemetry.py's answers, one JSON per line
tel() {
	printf '%s\n' "$@" | timeout 10 dpdk-telemetry.py -f $PREFIX
}
# json FILE LINE EXPR: a value from line LINE of FILE (x is that line's one object's value)
json() {
	python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2]) - 1])
x = list(d.values())[0]
print(eval(sys.argv[3]))' "$@"
}

N_ACC=3 N_RELAY=4 N_BLS=2 N_BLC=2
SESSIONS=$((N_ACC + N_RELAY + N_BLS + N_BLC))

GATE_LCORES="--lcores 0@0,1@0,2@1" gate_start $PREFIX "$T/gate.conf" "$T/policy.conf"
ok $? "the gate starts with two worker lcores"
in_ns ip addr add 192.0.2.66/24 dev sgmet0
sink_start
ok $? "smtp-sink listens on the kernel side as the backend"

scrape
ok $? "GET /metrics answers 200 before any session"
in_ns curl -s -D "$T/headers" -o /dev/null "$METRICS"
grep -qi "^Content-Type: text/plain; version=0.0.4" "$T/headers"
ok $? "content type of the text exposition format 0.0.4"

# ---- drive sessions, then check the counters against them ----
for i in $(seq 1 $N_ACC); do
	sw acc$i --from sender@remote.example --to user$i@local.example
done
for i in $(seq 1 $N_RELAY); do
	sw relay$i --from a@remote.example --to x$i@elsewhere.example --quit-after RCPT
done
for i in $(seq 1 $N_BLS); do
	sw bls$i --from boss$i@spam.example --to user@local.example --quit-after RCPT
done
for i in $(seq 1 $N_BLC); do
	sw blc$i --from a@remote.example --to user@local.example --quit-after RCPT --local-interface 192.0.2.66
done
got=$(cat "$T"/sw.acc* | grep -c "^<-  250 2.0.0 Ok")/$(cat "$T"/sw.relay* | grep -c "^<\*\* 554 5.7.1 .*Relay access denied")/$(cat "$T"/sw.bls* | grep -c "^<\*\* 550 5.7.1 .*Sender address rejected: Access denied")/$(cat "$T"/sw.blc* | grep -c "^<\*\* 554 5.7.1 .*Client host rejected: Access denied")
[ "$got" = "$N_ACC/$N_RELAY/$N_BLS/$N_BLC" ]
ok $? "swaks: $N_ACC accepted by the backend, $N_RELAY relay denied, $N_BLS blacklisted senders, $N_BLC blacklisted clients (got $got)"

# the sessions' last segments may still be in flight: wait until every session is closed
for _ in $(seq 1 50); do
	scrape && [ "$(metric smtpgate_smtp_sessions_closed_total)" -eq $SESSIONS ] && break
	sleep 0.1
done
got=$(metric smtpgate_smtp_sessions_opened_total)/$(metric smtpgate_smtp_sessions_closed_total)/$(metric smtpgate_tcp_connections_accepted_total)
[ "$got" = "$SESSIONS/$SESSIONS/$SESSIONS" ]
ok $? "sessions opened/closed and TCP connections accepted: $got (driven: $SESSIONS)"
got=$(metric smtpgate_smtp_verdicts_total 'reason="relay_denied"')
[ "$got" -eq $N_RELAY ]
ok $? "verdicts{reason=relay_denied} = $got (driven: $N_RELAY)"
got=$(metric smtpgate_smtp_verdicts_total 'reason="blacklist_sender"')/$(metric smtpgate_smtp_verdicts_total 'reason="blacklist_client"')
[ "$got" = "$N_BLS/$N_BLC" ]
ok $? "verdicts{reason=blacklist_sender}/{reason=blacklist_client} = $got (driven: $N_BLS/$N_BLC)"
refusals=$(($(metric smtpgate_smtp_verdicts_total) - $(metric smtpgate_smtp_verdicts_total 'reason="accept"') - $(metric smtpgate_smtp_verdicts_total 'reason="whitelisted"')))
[ "$refusals" -eq $((N_RELAY + N_BLS + N_BLC)) ]
ok $? "no other refusal counted ($refusals in all)"
got=$(metric smtpgate_smtp_replies_total 'class="2xx"')/$(metric smtpgate_smtp_replies_total 'class="3xx"')/$(metric smtpgate_smtp_replies_total 'class="4xx"')/$(metric smtpgate_smtp_replies_total 'class="5xx"')
want=$(replies 2)/$(replies 3)/$(replies 4)/$(replies 5)
[ "$got" = "$want" ]
ok $? "replies by class 2xx/3xx/4xx/5xx = $got, as the clients' transcripts show ($want)"
got=$(metric smtpgate_relay_messages_total 'outcome="accepted"')/$(metric smtpgate_relay_recipients_total 'outcome="accepted"')/$(metric smtpgate_relay_connects_total)/$(metric smtpgate_relay_connect_failures_total)
[ "$got" = "$N_ACC/$N_ACC/$N_ACC/0" ]
ok $? "relay: messages accepted/recipients accepted/connects/failures = $got"
[ "$(metric smtpgate_packets_received_total)" -gt 0 ] && [ "$(metric smtpgate_tcp_segments_sent_total)" -gt 0 ] &&
	[ "$(metric smtpgate_packets_received_total 'lcore="1"')" -gt 0 ] &&
	[ "$(metric smtpgate_packets_received_total 'lcore="2"')" -gt 0 ] &&
	[ "$(metric smtpgate_lcores)" -eq 2 ] && [ "$(metric smtpgate_smtp_output_lost_total)" -eq 0 ] &&
	[ "$(metric smtpgate_smtp_errors_total)" -eq 0 ]
ok $? "packets on both lcores, segments sent, no SMTP error, no lost output"
# every session's commands after the handshake arrive in order on an idle
# connection: the common segment header prediction is for (RFC 9293 3.10.7.4's
# checks all pass); it can only count segments that were received
pred=$(metric smtpgate_tcp_predicted_total)
seg=$(metric smtpgate_tcp_segments_received_total)
[ "$pred" -ge $SESSIONS ] && [ "$pred" -le "$seg" ] &&
	[ "$(metric smtpgate_tcp_predicted_total 'lcore="1"')" -gt 0 ] &&
	[ "$(metric smtpgate_tcp_predicted_total 'lcore="2"')" -gt 0 ]
ok $? "tcp_predicted_total: $pred of $seg segments received took the fast path, on both lcores"
[ "$(metric smtpgate_policy_version)" -eq 1 ] &&
	[ "$(metric smtpgate_backend_up 'backend="192.0.2.1:2525"')" -eq 1 ] &&
	[ "$(metric smtpgate_tcp_flows_active)" -ge 0 ] && [ "$(metric smtpgate_log_lines_dropped_total)" -eq 0 ]
ok $? "gauges: policy version 1, backend 192.0.2.1:2525 up; no log line dropped"
# the fact cache: every accepted or relay-denied session looked up its HELO
# name, sender and recipient (the lcores copy the counts out every 100 ms)
want=$((3 * (N_ACC + N_RELAY)))
for _ in $(seq 1 20); do
	look=$(($(metric smtpgate_policy_cache_lookups_total 'result="hit"') + $(metric smtpgate_policy_cache_lookups_total 'result="miss"')))
	[ "$look" -ge $want ] && break
	sleep 0.1
	scrape
done
[ "$look" -ge $want ] &&
	[ "$(metric smtpgate_policy_cache_bypassed_total)" -le "$(metric smtpgate_policy_cache_lookups_total 'result="miss"')" ] &&
	[ "$(metric smtpgate_policy_cache_sampling)" -le 2 ] &&
	[ "$(grep -c '^smtpgate_policy_cache_lookups_total{lcore="[12]",result="\(hit\|miss\)"}' "$T/scrape")" -eq 4 ]
ok $? "policy fact cache: $look lookups for the sessions' $want names, bypassed within misses, per lcore and result"

if command -v promtool >/dev/null; then
	promtool check metrics <"$T/scrape" >"$T/out" 2>&1
	rc=$?
	[ $rc -eq 0 ] && [ ! -s "$T/out" ]
	ok $? "promtool check metrics: clean ($(wc -l <"$T/scrape") lines)"
else
	n=$((n + 1))
	echo "ok $n - # SKIP promtool is not installed (Debian package prometheus)"
fi

# ---- DPDK telemetry ----
tel /smtpgate/stats /smtpgate/lcores "/smtpgate/lcore,1" "/smtpgate/lcore,2" /smtpgate/backends \
	"/smtpgate/lcore,7" >"$T/tel" 2>"$T/out"
cp "$T/tel" "$T/out"
[ "$(json "$T/tel" 1 'x["smtp_verdicts_relay_denied"]')" -eq $N_RELAY ] &&
	[ "$(json "$T/tel" 1 'x["smtp_verdicts_blacklist_sender"]')" -eq $N_BLS ] &&
	[ "$(json "$T/tel" 1 'x["smtp_sessions_opened"]')" -eq $SESSIONS ] &&
	[ "$(json "$T/tel" 1 'x["relay_messages_accepted"]')" -eq $N_ACC ] &&
	[ "$(json "$T/tel" 1 'x["policy_version"]')" -eq 1 ]
ok $? "dpdk-telemetry.py /smtpgate/stats: the driven counts, policy version 1"
[ "$(json "$T/tel" 2 'x')" = "[1, 2]" ] &&
	[ "$(json "$T/tel" 3 'x["smtp_sessions_opened"]')" -eq "$(metric smtpgate_smtp_sessions_opened_total 'lcore="1"')" ] &&
	[ "$(json "$T/tel" 4 'x["smtp_sessions_opened"]')" -eq "$(metric smtpgate_smtp_sessions_opened_total 'lcore="2"')" ] &&
	[ "$(json "$T/tel" 4 'x["smtp_verdicts_relay_denied"]')" -eq "$(metric smtpgate_smtp_verdicts_total 'lcore="2"' 'reason="relay_denied"')" ] &&
	[ "$(json "$T/tel" 5 'x["address"]')" = "['192.0.2.1:2525']" ] &&
	[ "$(json "$T/tel" 5 'x["up"]')" = "[1]" ] &&
	[ "$(json "$T/tel" 6 'x')" = "None" ]
ok $? "telemetry per lcore equals the scrape per lcore; backends; an unknown lcore is null"

# ---- the HTTP endpoint's answers ----
# http REQUEST-BYTES...: what the endpoint answers to raw bytes (status line, or EOF)
cat >"$T/http.py" <<'PY'
import socket, sys, time
req = sys.argv[1].encode().decode("unicode_escape").encode("latin-1")
s = socket.create_connection(("127.0.0.1", 9125), timeout=10)
try:
    s.sendall(req)
except OSError as e:
    print("send:", e)
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except OSError as e:
    print("recv:", e)
print(data.split(b"\r\n", 1)[0].decode() if data else "EOF")
PY
http() { in_ns python3 "$T/http.py" "$1"; }
got=$(http 'GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n')
[ "$got" = "HTTP/1.1 404 Not Found" ]
ok $? "another path: $got"
got=$(http 'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')
[ "$got" = "HTTP/1.1 405 Method Not Allowed" ]
ok $? "another method: $got"
got=$(http 'GARBAGE\r\n\r\n')/$(http 'GET metrics HTTP/1.1\r\n\r\n')/$(http 'GET /metrics HTTP/9\r\n\r\n')/$(http 'GET /metrics\x01 HTTP/1.1\r\n\r\n')
[ "$got" = "HTTP/1.1 400 Bad Request/HTTP/1.1 400 Bad Request/HTTP/1.1 400 Bad Request/HTTP/1.1 400 Bad Request" ]
ok $? "malformed request lines: 400 each"
got=$(http "GET /metrics HTTP/1.1\\r\\nX-Big: $(head -c 100000 /dev/zero | tr '\0' a)\\r\\n\\r\\n")
[ "$got" = "HTTP/1.1 431 Request Header Fields Too Large" ]
ok $? "a 100 kB request head: $got"

# mutated and random request heads: each gets an answer, never a hang or a crash
cat >"$T/fuzz.py" <<'PY'
import random, socket, sys
rnd = random.Random(int(sys.argv[1]))
base = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9125\r\nAccept: text/plain\r\n"
seen = {}
for i in range(300):
    if i % 3 == 0:
        req = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600)))
    else:
        req = bytearray(base)
        for _ in range(rnd.randrange(1, 6)):
            op, at = rnd.randrange(3), rnd.randrange(len(req))
            if op == 0:
                req[at] = rnd.randrange(256)
            elif op == 1:
                req.insert(at, rnd.choice(b" /:?\r\n\x00\x7fAz%"))
            else:
                del req[at]
        req = bytes(req)
    s = socket.create_connection(("127.0.0.1", 9125), timeout=10)
    s.sendall(req + b"\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    status = data.split(b"\r\n", 1)[0].decode("latin-1")
    seen[status] = seen.get(status, 0) + 1
print(", ".join("%s: %d" % kv for kv in sorted(seen.items())))
PY
in_ns python3 "$T/fuzz.py" $RANDOM >"$T/out" 2>&1
fuzz=$(cat "$T/out")
[ -n "$fuzz" ] && ! echo "$fuzz" | tr ',' '\n' | grep -Evq "^ *HTTP/1.1 (200 OK|400 Bad Request|404 Not Found|405 Method Not Allowed|431 Request Header Fields Too Large): [0-9]+$" &&
	scrape && [ "$(metric smtpgate_smtp_sessions_opened_total)" -eq $SESSIONS ]
ok $? "300 mutated or random request heads, each answered ($fuzz); the scrape still right"

# slowloris: hold every client slot with an incomplete request
cat >"$T/slow.py" <<'PY'
import socket, time
conns, t0 = [], time.time()
for i in range(8):
    s = socket.create_connection(("127.0.0.1", 9125), timeout=10)
    s.sendall(b"GET /metr")
    conns.append(s)
time.sleep(0.3)
x = socket.create_connection(("127.0.0.1", 9125), timeout=10)
x.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
print("ninth:", x.recv(100).split(b"\r\n")[0].decode())
answers = []
for s in conns:
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
    answers.append(data.split(b"\r\n")[0].decode())
print("slow:", len([a for a in answers if a == "HTTP/1.1 408 Request Timeout"]),
      "after %.1f s" % (time.time() - t0))
PY
in_ns python3 "$T/slow.py" >"$T/slow" 2>&1 &
slow_pid=$!
sleep 1
sw during --from sender@remote.example --to user@local.example
grep -q "^<-  250 2.0.0 Ok" "$T/out"
ok $? "while slow HTTP clients hold every metrics slot, mail flows through the gate"
wait $slow_pid
cp "$T/slow" "$T/out"
grep -q "^ninth: HTTP/1.1 503 Service Unavailable" "$T/slow" && grep -Eq "^slow: 8 after [4-9]\." "$T/slow"
ok $? "slowloris: a ninth client gets 503, the eight slow ones 408 after the 5 s deadline ($(tr '\n' ' ' <"$T/slow"))"
scrape && [ "$(metric smtpgate_smtp_sessions_opened_total)" -eq $((SESSIONS + 1)) ]
ok $? "the endpoint serves again afterwards; the session in between is counted"

# ---- a push and a backend failure move the gauges ----
"$BUILD/tools/smtpgatectl" -s /var/run/dpdk/$PREFIX/smtpgate.sock push "$T/policy2.conf" >"$T/out" 2>&1
ok $? "smtpgatectl push of a policy with a second backend"
sleep 1.2 # telemetry's view of the policy is refreshed every second
scrape && [ "$(metric smtpgate_policy_version)" -eq 2 ] &&
	[ "$(grep -c '^smtpgate_backend_up{' "$T/scrape")" -eq 2 ] &&
	[ "$(metric smtpgate_backend_up 'backend="[2001:db8:25::1]:2525"')" -eq 1 ]
ok $? "scrape: policy version 2, two backends up"
sink_stop
sw down1 --from sender@remote.example --to user@local.example
grep -q "^<\*\* 451 4.4.1" "$T/out"
ok $? "the backends are down: 451 4.4.1 (never 2xx)"
tel /smtpgate/stats /smtpgate/backends >"$T/tel" 2>"$T/out"
scrape && [ "$(metric smtpgate_backend_up)" -lt 2 ] && [ "$(metric smtpgate_relay_connect_failures_total)" -ge 1 ] &&
	[ "$(metric smtpgate_backend_lcores_down)" -ge 1 ] &&
	[ "$(json "$T/tel" 1 'x["policy_version"]')" -eq 2 ] &&
	[ "$(json "$T/tel" 1 'x["relay_connect_failures"]')" -eq "$(metric smtpgate_relay_connect_failures_total)" ] &&
	[ "$(json "$T/tel" 2 'sum(x["up"])')" -eq "$(metric smtpgate_backend_up)" ]
ok $? "the failed backend is marked down (backend_up sum $(metric smtpgate_backend_up), connect failures $(metric smtpgate_relay_connect_failures_total)); telemetry agrees, version 2"

if command -v promtool >/dev/null; then
	promtool check metrics <"$T/scrape" >"$T/out" 2>&1
	rc=$?
	[ $rc -eq 0 ] && [ ! -s "$T/out" ]
	ok $? "promtool check metrics: clean again with an IPv6 backend label and backends down"
fi

# ---- pflogsumm over the gate's log ----
gate_stop
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log"
ok $? "the gate stopped cleanly (exit $gate_rc), no sanitizer report"
rejects=$((N_RELAY + N_BLS + N_BLC))
grep -c "NOQUEUE: reject: " "$gate_log" >"$T/nlines"
if command -v pflogsumm >/dev/null; then
	# the gate logs as smtpgate/smtpd; without --syslog-name pflogsumm sees only postfix/*
	pflogsumm --syslog-name=smtpgate --reject-detail 20 "$gate_log" >"$T/pflog" 2>&1
	cp "$T/pflog" "$T/out"
	total=$(sed -n 's/^ *\([0-9]*\) *rejected (.*/\1/p' "$T/pflog")
	# "message reject detail": the totals of each stage's reasons
	bystage=$(awk '/^message reject detail/ { on = 1; next } on && /^[a-z]/ { on = 0 }
		on && /^  [A-Z]+$/ { st = $1 }
		on && /\(total: [0-9]+\)/ { match($0, /\(total: [0-9]+\)/); t[st] += substr($0, RSTART + 8, RLENGTH - 9) }
		END { printf "%d/%d/%d", t["CONNECT"], t["MAIL"], t["RCPT"] }' "$T/pflog")
	relay=$(sed -n 's/^ *Relay access denied .*(total: \([0-9]*\))/\1/p' "$T/pflog")
	[ "$total/$bystage/$relay" = "$rejects/$N_BLC/$N_BLS/$N_RELAY/$N_RELAY" ]
	ok $? "pflogsumm: rejected ${total:-?}, by stage CONNECT/MAIL/RCPT $bystage, Relay access denied ${relay:-?} (driven: $rejects, $N_BLC/$N_BLS/$N_RELAY; $(cat "$T/nlines") reject lines)"
else
	n=$((n + 1))
	echo "ok $n - # SKIP pflogsumm is not installed"
fi
echo "1..$n"
[ "$failed" -eq 0 ] && rm -f "$gate_log"
[ "$failed" -eq 0 ]
