#!/usr/bin/env bash
# test_metrics_labels - counters by service and by rule on a running gate:
# swaks sessions on two services (mx on 25, submission on 587) from clients
# that hit seven rules of five lists (and decisions no rule made), then a
# Prometheus scrape whose smtpgate_service_* and smtpgate_rule_hits_total
# series equal what was sent, promtool's check, `smtpgatectl stats --json`
# and its text and DPDK telemetry agreeing with the scrape, and a push that
# keeps one rule (it counts on), drops another (it keeps its count, as
# README.md says) and adds a third.
# Usage: test_metrics_labels.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC" || exit 1
. tests/lib/gate.sh
gate_script "$@"
for tool in swaks curl; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool is not installed (tools/install-deps --test)"
		exit 0
	fi
done
PREFIX=sgmx
METRICS=http://127.0.0.1:9125/metrics
CTL=("$BUILD/tools/smtpgatectl" -s "/var/run/dpdk/$PREFIX/smtpgate.sock")
trap 'gate_stop; rm -rf "$T" /var/run/dpdk/$PREFIX' EXIT

cat >"$T/gate.conf" <<'CONF'
port edge0 {
    device = "net_tap0,iface=sgmx0";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 8191; max_flows = 4096; }
metrics { listen = "127.0.0.1:9125"; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
lan = [ "192.0.2.80/32" ];
blacklist {
    clients = [ "192.0.2.66/32" ];
    helo = [ "bad.helo.example" ];
    senders = [ "*@spam.example", "boss@bad.example" ];
    recipients = [ "trap@local.example" ];
}
whitelist { clients = [ "192.0.2.77/32" ]; }
service mx { ports = [ 25 ]; }
service submission { ports = [ 587 ]; }
POL
# the push: boss@bad.example dropped, *@spam.example kept (on another line), new@bad.example added
cat >"$T/policy2.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
lan = [ "192.0.2.80/32" ];
blacklist {
    clients = [ "192.0.2.66/32" ];
    helo = [ "bad.helo.example" ];
    senders = [ "new@bad.example",
                "*@spam.example" ];
    recipients = [ "trap@local.example" ];
}
whitelist { clients = [ "192.0.2.77/32" ]; }
service mx { ports = [ 25 ]; }
service submission { ports = [ 587 ]; }
POL

# sw NAME PORT ARGS...: swaks in the namespace, its transcript kept as $T/sw.NAME
sw() {
	local name=$1 port=$2
	shift 2
	in_ns swaks --server 192.0.2.25 --port "$port" --timeout 10 "$@" >"$T/sw.$name" 2>&1
	cp "$T/sw.$name" "$T/out"
}
scrape() {
	in_ns curl -s -o "$T/scrape" -w '%{http_code}' "$METRICS" >"$T/code" 2>"$T/out" &&
		[ "$(cat "$T/code")" = 200 ]
}
# metric NAME [LABEL=\"VALUE\"...]: the sum of the series of NAME carrying every label given
metric() {
	awk -v n="$1" -v want="${*:2}" '
		{ split($1, a, "{"); if (a[1] != n) next
		  k = split(want, w, " "); for (i = 1; i <= k; i++) if (index($1, w[i]) == 0) next
		  s += $2 }
		END { printf "%d\n", s }' "$T/scrape"
}
# hits LIST ENTRY: smtpgate_rule_hits_total of one rule (of the last scrape)
hits() {
	metric smtpgate_rule_hits_total "list=\"$1\"" "entry=\"$2\""
}
# sv SERVICE REASON: smtpgate_service_verdicts_total of one service and reason
sv() {
	metric smtpgate_service_verdicts_total "service=\"$1\"" "reason=\"$2\""
}
# sent NAME-GLOB REGEX: lines of the transcripts NAME-GLOB that match REGEX
sent() {
	cat "$T"/sw.$1 | grep -Ec "$2"
}
# closed N: wait until N sessions are closed, then scrape
closed() {
	for _ in $(seq 1 50); do
		scrape && [ "$(metric smtpgate_smtp_sessions_closed_total)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
promcheck() {
	if command -v promtool >/dev/null; then
		promtool check metrics <"$T/scrape" >"$T/out" 2>&1
		rc=$?
		[ $rc -eq 0 ] && [ ! -s "$T/out" ]
		ok $? "promtool check metrics: clean ($(wc -l <"$T/scrape") lines, $1)"
	else
		n=$((n + 1))
		echo "ok $n - # SKIP promtool is not installed (Debian package prometheus)"
	fi
}

GATE_LCORES="--lcores 0@0,1@0,2@1" gate_start $PREFIX "$T/gate.conf" "$T/policy.conf"
ok $? "the gate starts with two worker lcores"
for ip in 192.0.2.66 192.0.2.77 192.0.2.80; do in_ns ip addr add $ip/24 dev sgmx0; done
scrape && [ "$(grep -c '^smtpgate_rule_hits_total{' "$T/scrape")" -eq 0 ] &&
	[ "$(grep -c '^smtpgate_service_sessions_total{' "$T/scrape")" -eq 0 ]
ok $? "before any session: no rule series, no service series"

# ---- sessions on two services ----
A_MX=3 S_MX=2 B_MX=1 T_MX=2 H_MX=1 R_MX=1
A_SUB=2 S_SUB=3 W_SUB=2 C_SUB=2 L_SUB=2
Q="--quit-after RCPT"
for i in $(seq 1 $A_MX); do sw mx-acc$i 25 --helo h.remote.example --from a@remote.example --to user$i@local.example $Q; done
for i in $(seq 1 $S_MX); do sw mx-spam$i 25 --helo h.remote.example --from boss$i@spam.example --to user@local.example $Q; done
for i in $(seq 1 $B_MX); do sw mx-boss$i 25 --helo h.remote.example --from boss@bad.example --to user@local.example $Q; done
for i in $(seq 1 $T_MX); do sw mx-trap$i 25 --helo h.remote.example --from a@remote.example --to trap@local.example $Q; done
for i in $(seq 1 $H_MX); do sw mx-helo$i 25 --helo bad.helo.example --from a@remote.example --to user@local.example $Q; done
for i in $(seq 1 $R_MX); do sw mx-relay$i 25 --helo h.remote.example --from a@remote.example --to x@elsewhere.example $Q; done
for i in $(seq 1 $A_SUB); do sw sub-acc$i 587 --helo h.remote.example --from a@remote.example --to user$i@local.example $Q; done
for i in $(seq 1 $S_SUB); do sw sub-spam$i 587 --helo h.remote.example --from s$i@spam.example --to user@local.example $Q; done
for i in $(seq 1 $W_SUB); do sw sub-wl$i 587 --helo h.remote.example --from boss@spam.example --to user@local.example $Q --local-interface 192.0.2.77; done
for i in $(seq 1 $C_SUB); do sw sub-blc$i 587 --helo h.remote.example --from a@remote.example --to user@local.example $Q --local-interface 192.0.2.66; done
for i in $(seq 1 $L_SUB); do sw sub-lan$i 587 --helo h.remote.example --from a@remote.example --to x$i@elsewhere.example $Q --local-interface 192.0.2.80; done
MX=$((A_MX + S_MX + B_MX + T_MX + H_MX + R_MX))
SUB=$((A_SUB + S_SUB + W_SUB + C_SUB + L_SUB))

# what the clients saw: each refusal where the policy puts it
got=$(sent 'mx-acc*' '^<-  250 2.1.5')/$(sent 'mx-spam*' '^<\*\* 550 5.7.1 .*Sender address rejected: Access denied')/$(sent 'mx-boss*' '^<\*\* 550 5.7.1 .*Sender address rejected: Access denied')/$(sent 'mx-trap*' '^<\*\* 550 5.7.1 .*Recipient address rejected: Access denied')/$(sent 'mx-relay*' '^<\*\* 554 5.7.1 .*Relay access denied')
[ "$got" = "$A_MX/$S_MX/$B_MX/$T_MX/$R_MX" ]
ok $? "mx: accepted/spam sender/boss sender/trap recipient/relay denied replies: $got"
# HELO refusals: count every HELO/EHLO swaks sent with the bad name (it may retry with HELO)
HELO_TRIES=$(sent 'mx-helo*' '^ -> (EHLO|HELO) bad\.helo\.example')
[ "$(sent 'mx-helo*' '^<\*\* 550 5.7.1 <bad.helo.example>: Helo command rejected: Access denied')" -eq "$HELO_TRIES" ] && [ "$HELO_TRIES" -ge $H_MX ]
ok $? "mx: every HELO/EHLO bad.helo.example refused ($HELO_TRIES sent)"
got=$(sent 'sub-acc*' '^<-  250 2.1.5')/$(sent 'sub-spam*' '^<\*\* 550 5.7.1 .*Sender address rejected')/$(sent 'sub-wl*' '^<-  250 2.1.5')/$(sent 'sub-blc*' '^<\*\* 554 5.7.1 .*Client host rejected: Access denied')/$(sent 'sub-lan*' '^<-  250 2.1.5')
[ "$got" = "$A_SUB/$S_SUB/$W_SUB/$C_SUB/$L_SUB" ]
ok $? "submission: accepted/spam sender/whitelisted/blacklisted client/lan relay replies: $got"

closed $((MX + SUB))
ok $? "all $((MX + SUB)) sessions closed"

# ---- per service ----
got=$(metric smtpgate_service_sessions_total 'service="mx"')/$(metric smtpgate_service_sessions_total 'service="submission"')
[ "$got" = "$MX/$SUB" ]
ok $? "service_sessions_total mx/submission = $got (sent: $MX/$SUB)"
# decisions: connect, HELO, MAIL, RCPT as far as each session got
mx_accept=$((A_MX * 4 + S_MX * 2 + B_MX * 2 + T_MX * 3 + H_MX + R_MX * 3))
got=$(sv mx accept)/$(sv mx blacklist_sender)/$(sv mx blacklist_recipient)/$(sv mx blacklist_helo)/$(sv mx relay_denied)/$(sv mx whitelisted)/$(sv mx blacklist_client)
want=$mx_accept/$((S_MX + B_MX))/$T_MX/$HELO_TRIES/$R_MX/0/0
[ "$got" = "$want" ]
ok $? "mx verdicts accept/bl_sender/bl_rcpt/bl_helo/relay_denied/whitelisted/bl_client = $got (sent: $want)"
sub_accept=$((A_SUB * 4 + S_SUB * 2 + L_SUB * 4))
got=$(sv submission accept)/$(sv submission blacklist_sender)/$(sv submission whitelisted)/$(sv submission blacklist_client)/$(sv submission relay_denied)
want=$sub_accept/$S_SUB/$((W_SUB * 4))/$C_SUB/0
[ "$got" = "$want" ]
ok $? "submission verdicts accept/bl_sender/whitelisted/bl_client/relay_denied = $got (sent: $want)"
[ "$(metric smtpgate_service_verdicts_total)" -eq "$(metric smtpgate_smtp_verdicts_total)" ] &&
	[ "$(metric smtpgate_service_sessions_total)" -eq "$(metric smtpgate_smtp_sessions_opened_total)" ]
ok $? "the services add up to the lcores' totals ($(metric smtpgate_service_verdicts_total) verdicts)"
[ "$(metric smtpgate_smtp_sessions_opened_total 'lcore="1"')" -gt 0 ] && [ "$(metric smtpgate_smtp_sessions_opened_total 'lcore="2"')" -gt 0 ]
ok $? "sessions landed on both lcores ($(metric smtpgate_smtp_sessions_opened_total 'lcore="1"')/$(metric smtpgate_smtp_sessions_opened_total 'lcore="2"')): the rule and service sums cross lcores"

# ---- per rule ----
got=$(hits blacklist.senders '*@spam.example')/$(hits blacklist.senders boss@bad.example)/$(hits blacklist.recipients trap@local.example)/$(hits blacklist.helo bad.helo.example)/$(hits blacklist.clients 192.0.2.66/32)/$(hits whitelist.clients 192.0.2.77/32)/$(hits lan 192.0.2.80/32)
want=$((S_MX + S_SUB))/$B_MX/$T_MX/$HELO_TRIES/$C_SUB/$((W_SUB * 4))/$L_SUB
[ "$got" = "$want" ]
ok $? "rule_hits_total spam/boss/trap/helo/bl client/wl client/lan = $got (sent: $want)"
[ "$(grep -c '^smtpgate_rule_hits_total{' "$T/scrape")" -eq 7 ] && [ "$(metric smtpgate_rule_hits_untracked_total)" -eq 0 ]
ok $? "seven rule series, nothing untracked"
promcheck "services and rules"
cp "$T/scrape" "$T/scrape1"

# ---- smtpgatectl stats --json and text ----
"${CTL[@]}" stats --json >"$T/stats.json" 2>"$T/out"
cat >"$T/cmp.py" <<'PY'
import json, re, sys
st = json.load(open(sys.argv[1]))
prom = {}
for line in open(sys.argv[2]):
    m = re.match(r'^(smtpgate_(?:service_\w+|rule_hits\w*))\{(.*)\} (\d+)$', line)
    if m:
        labels = tuple(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        prom[(m.group(1), labels)] = int(m.group(3))
mine = {}
for s in st["services"]:
    mine[("smtpgate_service_sessions_total", (("service", s["name"]),))] = s["sessions"]
    for r, v in s["verdicts"].items():
        mine[("smtpgate_service_verdicts_total", (("service", s["name"]), ("reason", r)))] = v
for r in st["rules"]:
    mine[("smtpgate_rule_hits_total", (("list", r["list"]), ("entry", r["entry"])))] = r["hits"]
for l, v in st["rules_untracked"].items():
    mine[("smtpgate_rule_hits_untracked_total", (("list", l),))] = v
diff = {k: (prom.get(k), mine.get(k)) for k in set(prom) | set(mine) if prom.get(k) != mine.get(k)}
print("%d series, %d differ %s" % (len(prom), len(diff), sorted(diff.items())[:5]))
sys.exit(1 if diff or not prom else 0)
PY
python3 "$T/cmp.py" "$T/stats.json" "$T/scrape" >"$T/out" 2>&1
ok $? "smtpgatectl stats --json: services, rules and untracked equal the scrape ($(cat "$T/out"))"
python3 -c 'import json, sys
st = json.load(open(sys.argv[1]))
r = [x for x in st["rules"] if x["entry"] == "*@spam.example"][0]
sys.exit(0 if r["list"] == "blacklist.senders" and r["file"].endswith("policy.conf") and r["line"] == 7 else 1)' "$T/stats.json"
ok $? "stats --json names the rule's file:line (policy.conf:7)"
"${CTL[@]}" stats >"$T/stats.txt" 2>"$T/out"
grep -Eq "^rule blacklist\.senders +\*@spam\.example +$((S_MX + S_SUB)) \(.*policy\.conf:7\)$" "$T/stats.txt" &&
	grep -Eq "^service submission sessions +$SUB$" "$T/stats.txt" &&
	grep -Eq "^service mx verdicts relay_denied +$R_MX$" "$T/stats.txt"
ok $? "smtpgatectl stats: rule, service sessions and verdict lines"
cp "$T/stats.txt" "$T/out"

# ---- DPDK telemetry ----
printf '%s\n' /smtpgate/services /smtpgate/rules | timeout 10 dpdk-telemetry.py -f $PREFIX >"$T/tel" 2>"$T/out"
python3 -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
svc = list(json.loads(lines[0]).values())[0]
rules = list(json.loads(lines[1]).values())[0]
st = json.load(open(sys.argv[2]))
want = {s["name"]: s for s in st["services"]}
ok = set(svc) == set(want) and all(svc[n]["sessions"] == want[n]["sessions"] and
    all(svc[n]["verdicts_" + r] == v for r, v in want[n]["verdicts"].items()) for n in svc)
got = sorted(zip(rules["list"], rules["entry"], rules["hits"]))
ok = ok and got == sorted((r["list"], r["entry"], r["hits"]) for r in st["rules"]) and rules["rules"] == 7
print(svc.keys(), got)
sys.exit(0 if ok else 1)' "$T/tel" "$T/stats.json" >"$T/out" 2>&1
ok $? "dpdk-telemetry.py /smtpgate/services and /smtpgate/rules agree with stats --json"

# ---- a push keeps one rule, drops another, adds a third ----
"${CTL[@]}" push "$T/policy2.conf" >"$T/out" 2>&1
ok $? "smtpgatectl push: boss@bad.example dropped, *@spam.example kept, new@bad.example added"
S2=2
for i in $(seq 1 $S2); do sw mx2-spam$i 25 --helo h.remote.example --from again$i@spam.example --to user@local.example $Q; done
sw mx2-boss 25 --helo h.remote.example --from boss@bad.example --to user@local.example $Q
sw mx2-new 25 --helo h.remote.example --from new@bad.example --to user@local.example $Q
got=$(sent 'mx2-spam*' '^<\*\* 550 5.7.1 .*Sender address rejected')/$(sent 'mx2-boss' '^<-  250 2.1.5')/$(sent 'mx2-new' '^<\*\* 550 5.7.1 .*Sender address rejected')
[ "$got" = "$S2/1/1" ]
ok $? "after the push: spam refused/boss accepted/new refused = $got"
closed $((MX + SUB + S2 + 2))
got=$(metric smtpgate_policy_version)/$(hits blacklist.senders '*@spam.example')/$(hits blacklist.senders boss@bad.example)/$(hits blacklist.senders new@bad.example)
want=2/$((S_MX + S_SUB + S2))/$B_MX/1
[ "$got" = "$want" ]
ok $? "version/kept rule/dropped rule/new rule = $got (want $want: the kept rule counts on, the dropped one keeps its count)"
got=$(metric smtpgate_service_sessions_total 'service="mx"')/$(sv mx blacklist_sender)/$(sv mx accept)
want=$((MX + S2 + 2))/$((S_MX + B_MX + S2 + 1))/$((mx_accept + S2 * 2 + 4 + 2))
[ "$got" = "$want" ]
ok $? "mx sessions/bl_sender/accept count on across the push: $got (want $want)"
grep -v -e '^smtpgate_rule_hits_total{list="blacklist.senders"' "$T/scrape1" | grep '^smtpgate_rule_hits_total' >"$T/others1"
grep -v -e '^smtpgate_rule_hits_total{list="blacklist.senders"' "$T/scrape" | grep '^smtpgate_rule_hits_total' >"$T/others2"
cmp -s "$T/others1" "$T/others2" && [ "$(grep -c '^smtpgate_rule_hits_total{' "$T/scrape")" -eq 8 ]
ok $? "the other rules' series are unchanged; eight rule series now"
"${CTL[@]}" stats --json >"$T/stats.json" 2>"$T/out"
python3 "$T/cmp.py" "$T/stats.json" "$T/scrape" >"$T/out" 2>&1
ok $? "stats --json agrees with the scrape after the push ($(cat "$T/out"))"
promcheck "after the push"

gate_stop
[ "$gate_rc" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer" "$gate_log"
ok $? "the gate stopped cleanly (exit $gate_rc), no sanitizer report"
cp "$gate_log" "$T/out"
echo "1..$n"
[ "$failed" -eq 0 ]
