#!/usr/bin/env python3
"""impair - a userspace lossy link between two interfaces, for the gate tests

This kernel has no netem qdisc, so the test puts this bridge between the
gate's TAP interface and a veth end that leads to the clients:

    gate (DPDK) == TAP A == impair.py == veth B ---- veth peer (client netns)

Every frame that arrives on one interface (not one it sent: AF_PACKET also
shows a socket's own outgoing frames) is dropped with probability --loss, or
queued for a random delay in [--delay MIN:MAX] ms and then sent out of the
other interface only. Frames are released in time order from a heap, so a
frame that drew a shorter delay overtakes earlier ones: that is the
reordering, counted per flow (a frame sent after a later one of the same
TCP connection, or of the same EtherType for others). --reorder P:MS holds
a fraction P of the frames MS ms longer than --delay gives, so that with a
fixed delay (--delay 5:5) only those few are overtaken, as with netem's
reorder. All sockets are non-blocking; one poll loop waits until the next
frame is due or a frame arrives.

A frame whose checksum the sending kernel left to the hardware
(TP_STATUS_CSUMNOTREADY, as on a veth with tx offload on) has its TCP or UDP
checksum completed here, since the far side is a real checksum-checking stack.

It prints "ready" once both sockets are bound, and on SIGTERM/SIGINT (or
after --max-seconds) it stops and prints its counters, one "NAME VALUE" per
line: frames in, dropped, reordered, forwarded per direction.
"""

import argparse
import heapq
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_CSUMNOTREADY = 0x8
PACKET_OUTGOING = 4
FRAME_MAX = 65536      # one receive: a full GSO frame would still fit
QUEUE_MAX = 20000      # frames held at once; beyond that a frame is dropped (counted)
DRAIN_MAX = 256        # frames read from one socket per wake-up, so both sides get turns
AUX = struct.Struct("=IIIHHHH")

stopping = [False]  # set by a signal: leave the loop at the next wake-up


def on_signal(signum, frame):
    """on_signal - leave the loop at the next wake-up"""
    stopping[0] = True


def csum16(data, start=0):
    """csum16 - ones' complement sum of 16-bit words, folded"""
    if len(data) % 2:
        data += b"\0"
    s = start + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def fix_l4_checksum(frame):
    """fix_l4_checksum - complete the TCP/UDP checksum of an IPv4/IPv6 frame"""
    if len(frame) < 14:
        return frame
    etype = struct.unpack_from("!H", frame, 12)[0]
    off = 14
    if etype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0xF) * 4
        total = struct.unpack_from("!H", frame, off + 2)[0]
        proto = frame[off + 9]
        l4 = off + ihl
        seg_len = total - ihl
        pseudo = frame[off + 12:off + 20] + struct.pack("!BBH", 0, proto, seg_len)
    elif etype == 0x86DD and len(frame) >= off + 40:
        proto = frame[off + 6]  # no extension headers on this test's link
        seg_len = struct.unpack_from("!H", frame, off + 4)[0]
        l4 = off + 40
        pseudo = frame[off + 8:off + 40] + struct.pack("!IxxxB", seg_len, proto)
    else:
        return frame
    where = {6: 16, 17: 6}.get(proto)
    if where is None or seg_len < where + 2 or len(frame) < l4 + seg_len:
        return frame
    b = bytearray(frame)
    b[l4 + where:l4 + where + 2] = b"\0\0"
    c = (~csum16(bytes(b[l4:l4 + seg_len]), csum16(pseudo))) & 0xFFFF
    if proto == 17 and c == 0:
        c = 0xFFFF
    struct.pack_into("!H", b, l4 + where, c)
    return bytes(b)


def flow_of(frame):
    """flow_of - what a frame belongs to: its IP addresses, protocol and ports,
    or its EtherType for anything else (ARP)"""
    etype = frame[12:14]
    if etype == b"\x08\x00" and len(frame) >= 38:
        ihl = (frame[14] & 0xF) * 4
        return frame[26:34] + frame[23:24] + frame[14 + ihl:18 + ihl]
    if etype == b"\x86\xdd" and len(frame) >= 58:
        return frame[22:54] + frame[20:21] + frame[54:58]
    return etype


def open_if(name):
    """open_if - a non-blocking AF_PACKET socket bound to one interface"""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((name, 0))
    s.setblocking(False)
    return s


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--a", required=True, help="first interface (the gate's TAP)")
    p.add_argument("--b", required=True, help="second interface (towards the clients)")
    p.add_argument("--loss", type=float, default=0.05, help="drop probability per frame")
    p.add_argument("--delay", default="5:30", help="MIN:MAX delay per frame, ms")
    p.add_argument("--reorder", default="0:0",
                   help="P:MS: hold this fraction of the frames MS ms longer than --delay")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-seconds", type=float, default=900.0, help="stop by itself after")
    args = p.parse_args()
    dmin, dmax = (float(x) / 1000.0 for x in args.delay.split(":"))
    rfrac, rextra = (float(x) for x in args.reorder.split(":"))
    rextra /= 1000.0
    rng = random.Random(args.seed)

    socks = [open_if(args.a), open_if(args.b)]
    names = ["a_to_b", "b_to_a"]  # direction d: from socks[d] to socks[1 - d]
    st = {}
    for d in names:
        for k in ("in", "dropped", "reordered", "forwarded", "tx_failed", "csum_fixed"):
            st["%s_%s" % (d, k)] = 0
    st["queue_full"] = 0
    st["rx_errors"] = 0
    st["queue_peak"] = 0
    heap = []          # (due time, sequence, direction, frame)
    seq = 0
    last_out = {}      # highest sequence sent per flow: a lower one was overtaken, reordered

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    poller = select.poll()
    for s in socks:
        poller.register(s.fileno(), select.POLLIN)
    fd_dir = {s.fileno(): d for d, s in enumerate(socks)}
    deadline = time.monotonic() + args.max_seconds
    print("ready", flush=True)

    while not stopping[0] and time.monotonic() < deadline:
        now = time.monotonic()
        wait = 0.2 if not heap else max(0.0, heap[0][0] - now)
        try:
            events = poller.poll(min(wait, 0.2) * 1000.0)
        except InterruptedError:
            continue
        for fd, ev in events:
            d = fd_dir[fd]
            s = socks[d]
            for _ in range(DRAIN_MAX):
                try:
                    frame, anc, _flags, addr = s.recvmsg(FRAME_MAX, socket.CMSG_SPACE(AUX.size))
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    # the interface went down or away (the gate stopped): nothing more to do
                    st["rx_errors"] += 1
                    if ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                        stopping[0] = True
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue  # what this interface sent (our own forwards among them)
                name = names[d]
                st[name + "_in"] += 1
                for level, typ, data in anc:
                    if level == SOL_PACKET and typ == PACKET_AUXDATA and len(data) >= AUX.size:
                        if AUX.unpack_from(data)[0] & TP_STATUS_CSUMNOTREADY:
                            frame = fix_l4_checksum(frame)
                            st[name + "_csum_fixed"] += 1
                if rng.random() < args.loss:
                    st[name + "_dropped"] += 1
                    continue
                if len(heap) >= QUEUE_MAX:
                    st["queue_full"] += 1
                    continue
                due = time.monotonic() + rng.uniform(dmin, dmax)
                if rfrac > 0 and rng.random() < rfrac:
                    due += rextra
                heapq.heappush(heap, (due, seq, d, frame))
                seq += 1
                st["queue_peak"] = max(st["queue_peak"], len(heap))
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _due, n, d, frame = heapq.heappop(heap)
            name = names[d]
            flow = flow_of(frame)
            if n < last_out.get(flow, -1):
                st[name + "_reordered"] += 1
            else:
                last_out[flow] = n
            try:
                socks[1 - d].send(frame)  # never back out of the interface it came in on
                st[name + "_forwarded"] += 1
            except OSError:
                st[name + "_tx_failed"] += 1  # full queue or the interface went away

    st["left_queued"] = len(heap)
    for k in sorted(st):
        print("%s %d" % (k, st[k]))
    sys.stdout.flush()
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
