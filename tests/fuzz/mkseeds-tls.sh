#!/usr/bin/env bash
# mkseeds-tls.sh - seeds of fuzz_tls: real ClientHellos from openssl s_client
#
# Each s_client variant (protocol, groups, signature algorithms, SNI,
# ciphers) connects to a one-shot listener on 127.0.0.1 that keeps the first
# flight it gets; that flight becomes a raw-mode seed, whole and cut into
# small segments. A few real-client seeds (a real handshake, then SMTP
# commands inside TLS) are written too. Seeds are named seed-* and rewritten
# by each run; other files of the corpus are left alone. Inputs are data +
# reversed(decisions) (tests/fuzz/fuzz.h); fuzz_tls reads the mode first,
# then a segment size before each segment.
#
# usage: tests/fuzz/mkseeds-tls.sh   (needs openssl and python3; no network)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$here/corpus/tls
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# capture NAME S_CLIENT_ARGS... - the ClientHello of that s_client, into $tmp/NAME
capture() {
	local name=$1 port
	shift
	python3 - "$tmp/$name" "$tmp/$name.port" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
open(sys.argv[2], "w").write(str(s.getsockname()[1]))
s.settimeout(10)
c, _ = s.accept()
c.settimeout(2)
data = b""
try:
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
        b = c.recv(65536)
        if not b:
            break
        data += b
except socket.timeout:
    pass
open(sys.argv[1], "wb").write(data)
c.close()
PY
	local pid=$!
	for _ in $(seq 1 50); do
		[ -s "$tmp/$name.port" ] && break
		sleep 0.1
	done
	port=$(cat "$tmp/$name.port")
	timeout 5 openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null >/dev/null 2>&1 || true
	wait "$pid"
	[ -s "$tmp/$name" ] || { echo "mkseeds-tls.sh: no ClientHello for $name" >&2; exit 1; }
}

# seed NAME FILE DECISIONS_HEX - FILE's bytes + the decisions reversed (hex, in read order)
seed() {
	local name=$1 file=$2 dec=$3
	{
		cat "$file"
		printf '%s' "$dec" | fold -w2 | tac | while read -r h; do printf "\\x$h"; done
	} >"$out/seed-$name"
}

capture tls13 -tls1_3
capture tls12 -tls1_2
capture default
capture groups -groups P-256:P-384:X448
capture sigalgs -sigalgs ECDSA+SHA256:RSA-PSS+SHA256 -servername mx.test.example
capture ciphers12 -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305
capture alpn -alpn smtp -servername mail.example -no_ticket

# mode 0 (raw), then one segment size per segment: 03 = as much as there is,
# 00 = 1 byte, 01 = 1 + 16*k ... (fuzz_tls.c: segment())
for n in tls13 tls12 default groups sigalgs ciphers12 alpn; do
	seed "hello-$n" "$tmp/$n" 0003
done
seed hello-tls13-bytes "$tmp/tls13" "00$(printf '00%.0s' $(seq 1 40))03"
seed hello-tls12-split "$tmp/tls12" 00050d0103
# a ClientHello, then garbage: the handshake fails, the session ends
{ cat "$tmp/tls13"; printf 'EHLO in clear\r\n'; } >"$tmp/hello-garbage"
seed hello-then-clear "$tmp/hello-garbage" 0003
printf 'MAIL FROM:<a@b>\r\n' >"$tmp/clear"
seed clear-instead-of-tls "$tmp/clear" 0003

# real client (mode odd: bit 1 picks TLS 1.3, bit 2 adds a broken record):
# handshake flights whole (03), then SMTP inside TLS in records of up to 1009 bytes (fd)
printf 'EHLO client.example\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<u@local.example>\r\nDATA\r\nRSET\r\nSTARTTLS\r\nQUIT\r\n' >"$tmp/smtp"
seed real-tls12 "$tmp/smtp" 01030303030303fdfdfdfd
seed real-tls13 "$tmp/smtp" 03030303030303fdfdfdfd
seed real-tls13-bytes "$tmp/smtp" 0300000000000000000000fdfd
printf 'EHLO client.example\r\nNOOP\r\n' >"$tmp/smtp2"
seed real-tls13-broken "$tmp/smtp2" 070303030303030303
ls "$out" | grep -c '^seed-' | sed 's/^/mkseeds-tls.sh: seeds: /'
