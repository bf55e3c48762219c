#!/usr/bin/env bash
# test_smtpgatectl - the operator's CLI as an operator runs it: exit codes,
# file:line errors, explain's replies and rules, JSON that parses.
# Usage: test_smtpgatectl.sh SMTPGATECTL SOURCE_DIR   (prints TAP)
set -u
CTL=$1
SRC=$2
EX=$SRC/examples/policy.conf
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
failed=0

ok() { # ok COND_EXIT_STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		[ -s "$T/out" ] && sed 's/^/#   /' "$T/out" | head -20
	fi
}

run() { # run WANT_EXIT ARGS... ; output in $T/out
	local want=$1
	shift
	"$CTL" "$@" >"$T/out" 2>&1
	rc=$?
	[ "$rc" -eq "$want" ]
}

json() { # json PYTHON_EXPR: evaluated with j = the JSON in $T/out
	/usr/bin/python3 -c "import json,sys; j=json.load(open('$T/out')); sys.exit(0 if ($1) else 1)"
}

run 0 check "$EX"; ok $? "check: the example policy is valid (exit 0)"
grep -q "valid" "$T/out" && grep -q "blacklist.senders" "$T/out" && grep -q "compile time" "$T/out"
ok $? "check: prints list sizes and compile time"
grep -q "service *mx .*, per client 50 sessions, per client 120 connections/60s$" "$T/out" &&
	grep -q "service *submission *port 587, require_auth$" "$T/out"
ok $? "check: a service's per-client limits, when it has them"

run 0 check --json "$EX"; ok $? "check --json exits 0"
json 'j["valid"] and j["lists"]["blacklist.senders"] == 5 and j["lists"]["local_domains"] == 6 and j["services"][1]["ports"] == [587]'
ok $? "check --json: counts per list, services (local_domains includes the list file)"

cat >"$T/bad.conf" <<'POL'
hostname = mx.example;
service mx {
    ports = [ 25 ];
    delay_rejekt = true;
}
lan = [ 10.0.0.0/8, 10.0.0.1/8 ];
blacklist {
    senders = [ "/a(b/", "file:bad-list.txt" ];
}
POL
printf '# list\nok@example.com\nnot an entry\n' >"$T/bad-list.txt"
run 2 check "$T/bad.conf"; ok $? "check: an invalid policy exits 2"
grep -q "bad.conf:4: error: unknown key \"delay_rejekt\" in service mx" "$T/out"; ok $? "check: unknown key at file:line"
grep -q "bad.conf:6: error: lan: bad address or CIDR \"10.0.0.1/8\"" "$T/out"; ok $? "check: host bits set at file:line"
grep -q "bad.conf:8: error: blacklist.senders: Hyperscan refuses /a(b/" "$T/out"; ok $? "check: Hyperscan's refusal at file:line"
grep -q "bad-list.txt:3: error: blacklist.senders: one entry per line" "$T/out"; ok $? "check: list file errors name the list file and line"
grep -q "4 errors, policy not valid" "$T/out"; ok $? "check: all four errors are reported"

run 2 check "$T/missing.conf"; ok $? "check: a missing file exits 2"
grep -q "missing.conf: error: cannot read" "$T/out"; ok $? "check: says it cannot read it"

run 2 check; ok $? "check without a file is a usage error"
run 2 frobnicate; ok $? "an unknown command is a usage error"
run 0 version; ok $? "version exits 0"
grep -q "Hyperscan 5" "$T/out"; ok $? "version names Hyperscan's"

# explain: the README's example session
run 1 explain "$EX" --service mx --client 203.0.113.9 --helo mail.example.com \
	--from a@example.com --rcpt someone@elsewhere.example
ok $? "explain: relay attempt exits 1"
grep -q "reply: 554 5.7.1 <someone@elsewhere.example>: Relay access denied" "$T/out"; ok $? "explain: Relay access denied reply"
grep -q "log:   NOQUEUE: reject: RCPT from unknown\[203.0.113.9\]: 554 5.7.1 <someone@elsewhere.example>: Relay access denied; from=<a@example.com> to=<someone@elsewhere.example> proto=ESMTP helo=<mail.example.com>" "$T/out"
ok $? "explain: Postfix log line"
grep -q "reply: 220 mx1.example.net ESMTP" "$T/out"; ok $? "explain: banner"

run 0 explain "$EX" --service mx --client 203.0.113.9 --helo mail.example.com \
	--from a@example.com --rcpt info@bakery-mueller.example --rcpt "<abuse@example.net>"
ok $? "explain: local recipients accepted, exit 0"
grep -q "reply: 250 2.1.5 Ok" "$T/out"; ok $? "explain: 250 for the recipients"

run 1 explain "$EX" --service mx --client 203.0.113.9 --helo mail.example.com \
	--from boss@spam.example --rcpt info@example.net
ok $? "explain: blacklisted sender refused (delay_reject: at RCPT)"
grep -q "reply: 550 5.7.1 <boss@spam.example>: Sender address rejected: Access denied" "$T/out"; ok $? "explain: sender reply text"
grep -q "rule:  blacklist.senders \"\*@spam.example\" (glob) at .*examples/policy.conf:5[0-9]" "$T/out"; ok $? "explain: names the rule and its file:line"

run 0 explain "$EX" --service mx --client 203.0.113.200 --helo h.example \
	--from boss@spam.example --rcpt postmaster@example.net
ok $? "explain: the recipient whitelist exempts (delay_reject)"
grep -q "whitelist.recipients \"postmaster@example.net\"" "$T/out"; ok $? "explain: names the whitelist entry"

run 1 explain "$EX" --service mx --client 203.0.113.130 --helo h.example --from a@b.example --rcpt info@example.net
ok $? "explain: client from a blocked list file refused (at RCPT: delay_reject)"
grep -q "blocked-clients.txt:2" "$T/out"; ok $? "explain: rule located in the list file"

run 1 explain "$EX" --service submission --client 203.0.113.9 --helo laptop --from joe@example.net --rcpt x@elsewhere.example
ok $? "explain: submission without auth refused"
grep -q "reply: 530 5.7.0 Authentication required" "$T/out"; ok $? "explain: 530 at MAIL"
grep -q "not reached" "$T/out"; ok $? "explain: RCPT not reached after a refused MAIL"

run 0 explain "$EX" --service submission --client 203.0.113.9 --auth joe --helo laptop --from joe@example.net --rcpt x@elsewhere.example
ok $? "explain --auth: authenticated submission relays"
grep -q "relay: permitted, the client authenticated" "$T/out"; ok $? "explain: says why it may relay"

run 0 explain "$EX" --service mx --client 10.1.2.3 --helo mx2.example.net --from ceo@example.net --rcpt x@elsewhere.example
ok $? "explain: lan client relays, may use local helo and sender"
grep -q "relay: permitted by lan \"10.0.0.0/8\"" "$T/out"; ok $? "explain: names the lan entry"

run 1 explain --json "$EX" --service mx --client 2001:db8:bad::1 --helo h --from "<a@b.example>" --rcpt info@example.net
ok $? "explain --json: refused v6 client exits 1"
json 'j["result"] == "refused" and j["stages"][3]["reply"] == "554 5.7.1 <unknown[2001:db8:bad::1]>: Client host rejected: Access denied" and j["stages"][3]["rule"]["list"] == "blacklist.clients" and j["stages"][3]["rule"]["line"] == 4 and j["stages"][2]["input"] == "a@b.example"'
ok $? "explain --json: stages, reply, rule with file and line"

run 2 explain "$EX" --service nope --client 192.0.2.1; ok $? "explain: unknown service exits 2"
grep -q "services: mx submission" "$T/out"; ok $? "explain: lists the services there are"
run 2 explain "$EX" --service mx --client not-an-ip; ok $? "explain: bad client address exits 2"
run 2 explain "$EX" --client 192.0.2.1; ok $? "explain: missing --service is a usage error"
run 2 explain "$T/bad.conf" --service mx --client 192.0.2.1; ok $? "explain: an invalid policy exits 2"

# the Hyperscan cache: a second run does not compile the patterns again
run 0 check --cache-dir "$T/cache" "$EX"
ndb=$(sed -n 's/.*patterns, \([0-9]*\) databases compiled, 0 from cache/\1/p' "$T/out")
[ -n "$ndb" ] && [ "$ndb" -gt 0 ]; ok $? "cache: first run compiles ($ndb databases)"
run 0 check --cache-dir "$T/cache" "$EX"; grep -q " 0 databases compiled, $ndb from cache" "$T/out"; ok $? "cache: second run takes every database from disk"
for f in "$T"/cache/*.hsdb; do printf 'garbage' | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null; done
run 0 check --cache-dir "$T/cache" "$EX"; grep -q " $ndb databases compiled, 0 from cache" "$T/out"; ok $? "cache: a corrupted file is not trusted"

# backend TLS: the keys, the CA file read with the policy, file:line errors
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=backend.example -keyout "$T/ca.key" -out "$T/ca.pem" >/dev/null 2>&1
printf 'not a certificate\n' >"$T/notpem.txt"
cat >"$T/btls.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; }
backend { address = [ "192.0.2.1:2526" ]; tls = verify; tls_ca = "file:ca.pem";
    tls_server_name = "backend.example"; tls_protocols = [ TLSv1.3 ]; }
POL
run 0 check "$T/btls.conf" && grep -q "backend *xclient, 192.0.2.1:2526, tls verify, name backend.example, CAs .*ca.pem$" "$T/out"
ok $? "check: backend tls = verify with its name and CA file"
run 0 check --json "$T/btls.conf" && json 'j["backend_tls"] == "verify"'
ok $? "check --json: backend_tls"
run 0 explain "$T/btls.conf" --service mx --client 192.0.2.9 --helo c.example --from a@b.example --rcpt u@local.example &&
	grep -q "^backend  xclient, tls verify (certificate for backend.example, CAs of .*ca.pem)$" "$T/out"
ok $? "explain: an accepted transaction goes to the backend with tls verify"
cat >"$T/btls-bad.conf" <<'POL'
hostname = "mx.gate.example";
service mx { ports = [ 25 ]; }
backend { address = [ "192.0.2.1" ];
    tls = sometimes;
    tls_ca = "file:missing.pem";
    tls_protocols = [ SSLv3 ];
    tls_server_name = "two words";
}
POL
run 2 check "$T/btls-bad.conf"
grep -q "btls-bad.conf:4: error: tls: expected none, may, encrypt or verify, got \"sometimes\"" "$T/out" &&
	grep -q "btls-bad.conf:5: error: tls_ca: cannot read .*missing.pem" "$T/out" &&
	grep -q "btls-bad.conf:6: error: tls_protocols: expected TLSv1.2 or TLSv1.3, got \"SSLv3\"" "$T/out" &&
	grep -q "btls-bad.conf:7: error: tls_server_name: expected a host name" "$T/out"
ok $? "check: backend tls errors, each at its file:line"
printf 'hostname = "h.example";\nservice mx { ports = [ 25 ]; }\nbackend { address = "192.0.2.1";\n  tls = verify; }\n' >"$T/btls-noca.conf"
run 2 check "$T/btls-noca.conf" && grep -q "btls-noca.conf:3: error: backend: tls = verify needs tls_ca" "$T/out"
ok $? "check: tls = verify without tls_ca is an error"
printf 'hostname = "h.example";\nservice mx { ports = [ 25 ]; }\nbackend { address = "192.0.2.1";\n  tls = verify;\n  tls_ca = "notpem.txt"; }\n' >"$T/btls-notpem.conf"
run 2 check "$T/btls-notpem.conf" && grep -q "btls-notpem.conf:5: error: tls_ca: .*notpem.txt is not a PEM file" "$T/out"
ok $? "check: a tls_ca that is not PEM, at its line"

echo "1..$n"
[ "$failed" -eq 0 ]
