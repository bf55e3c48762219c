#!/bin/sh
# test_tcp_linux.sh HARNESS SRCDIR - the TCP stack against Linux's, through
# a TUN device in a throwaway network namespace. Needs root and `ip netns`;
# prints "1..0 # SKIP" otherwise.
harness=$1
src=$2
py=/usr/bin/python3

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (network namespace, TUN device)"
	exit 0
fi
if ! ip netns list >/dev/null 2>&1 || [ ! -c /dev/net/tun ] || [ ! -x "$py" ]; then
	echo "1..0 # SKIP needs ip netns, /dev/net/tun and /usr/bin/python3"
	exit 0
fi
ns=sgtcp$$
if ! ip netns add "$ns" 2>/dev/null; then
	echo "1..0 # SKIP cannot create a network namespace"
	exit 0
fi
trap 'ip netns del "$ns" 2>/dev/null' EXIT INT TERM
ip netns exec "$ns" "$py" "$src/tcp_linux.py" "$harness"
