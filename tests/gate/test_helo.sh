#!/usr/bin/env bash
# test_helo - HELO names of every size through the gate, and the memory they
# hold: a name shorter than 64 bytes lives in the session, a longer one in
# a 512-byte chunk (so that an idle session holds no chunk). Real clients
# (Python's smtplib) from the Linux stack through TAP; the gate's own
# gauge (smtp_chunks_used, smtpgatectl stats) and its Postfix log lines.
# Usage: test_helo.sh SOURCE_DIR BUILD_DIR   (prints TAP)
set -u
SRC=$1
cd "$SRC"
. tests/lib/gate.sh
gate_script "$@"
PY=/usr/bin/python3
CTL=$BUILD/tools/smtpgatectl
CLIENT=$SRC/tests/gate/helo_client.py
# the gate runs as nobody once started: the socket's directory is its own
SOCK=$T/run/ctl.sock
chmod 755 "$T"
install -d -o nobody -m 700 "$T/run"

cat >"$T/gate.conf" <<CONF
port edge0 {
    device = "net_tap0,iface=sgme0";
    address = [ "192.0.2.25/24" ];
}
limits { mbufs = 4095; max_flows = 1024; }
control { socket = "$SOCK"; }
CONF
cat >"$T/policy.conf" <<'POL'
hostname = "mx.gate.example";
local_domains = [ "local.example" ];
service mx { ports = [ 25 ]; command_timeout = 60s; }
POL

gate_start sgme-helo "$T/gate.conf" "$T/policy.conf"
ok $? "the gate starts"

# client MODE [N] - helo_client.py in the namespace; its lines in $T/out
client() {
	in_ns "$PY" "$CLIENT" "$1" 192.0.2.25 "$CTL" "$SOCK" "${2:-20}" >"$T/out" 2>&1
}
# logged NAME - the gate logged a refusal naming exactly this HELO
logged() {
	grep -qF "proto=ESMTP helo=<$1>" "$gate_log"
}

client names
ok $? "names of 1, 63, 64, 255 and 500 bytes: EHLO accepted, relay refused ($(grep -c '^ok' "$T/out") checks)"
all=0
while read -r _ size name; do
	logged "$name" || { echo "# no log line with the $size-byte HELO"; all=1; }
done < <(grep '^name ' "$T/out")
[ "$(grep -c '^name ' "$T/out")" = 5 ] && [ "$all" = 0 ]
ok $? "each refusal's log line names its HELO whole, short names and long"

client chunks 20
ok $? "idle sessions: 63-byte names hold no chunk, 64-byte ones one each, given back on a short EHLO and at close"
grep '^ok\|^fail' "$T/out" | sed 's/^/# /'

client swap
ok $? "one session: HELO names long, short, long, short in turn"
all=0
while read -r _ size name; do
	logged "$name" || { echo "# no log line with the $size-byte HELO"; all=1; }
done < <(grep '^name ' "$T/out")
[ "$(grep -c '^name ' "$T/out")" = 4 ] && [ "$all" = 0 ]
ok $? "... each refusal logged with the HELO of its moment"

sleep 0.5
gate_stop
[ "$gate_rc" = 0 ]
ok $? "the gate stops cleanly"
[ "$(gate_stat lost_output)" = 0 ] && [ "$(gate_stat sessions_opened)" = "$(gate_stat sessions_closed)" ]
ok $? "no output lost, every session closed"
echo "1..$n"
