#!/usr/bin/env python3
"""sack_check - do a TCP sender's retransmissions fill the holes its peer's
SACK blocks report, and never resend what the peer reported holding?

  sack_check.py PCAP SENDER_IP PEER_PORT [GRACE_MS]

PCAP is a capture (Ethernet, IPv4, headers are enough) taken next to the
sender, here on the gate's TAP: the peer's ACKs reach the capture before the
sender reads them (on a loaded machine, many ms before), so an ACK counts
against a retransmission only once the sender had surely read it: a sender
that echoes timestamps tells by its TSecr (it had read every ACK up to the
first that carries that TSval, since it reads them in the order captured);
without timestamps, an ACK GRACE_MS (default 2) old counts. For every flow
from SENDER_IP to PEER_PORT, each data segment that starts below the highest
sequence sent before is a retransmission, classed as:

  hole      it lies in a hole: above the cumulative ACK, clear of every SACKed
            range, below the highest SACKed byte (what SACK recovery sends)
  sacked    it resends bytes the peer had SACKed                 (an error)
  acked     it resends bytes the peer had acknowledged           (an error)
  tail      nothing SACKed above it (a lost tail, or the RTO's first resend)
  gobackn   after a retransmission timeout, while the sender goes back over
            everything outstanding (RFC 2018 8: the scoreboard is reset), it
            may resend SACKed data; such segments are not held against it

An RTO is taken to be a retransmission at a cumulative ACK value the sender
may have read (from the last it surely read to the last captured) at least
RTO_MIN_MS after an ACK first carried that value (the RTO timer restarts on
such ACKs; SACK recovery resends at once on an ACK). The go-back-N lasts
until the cumulative ACK or the sender's segments reach what was
outstanding then.

Prints counts per flow, the flow's duration and goodput; exits 0 when the
peer sent SACK blocks, some retransmissions filled holes, and there was no
error. Pure Python: no scapy needed.
"""
import struct
import sys

RTO_MIN_MS = 150.0  # the gate's rto_min is 200 ms: some margin for capture timing
SHOW_MAX = 5        # errors printed in detail per flow


def packets(path):
    """(time, src, dst, sport, dport, seq, ack, flags, payload length, sack
    blocks, (TSval, TSecr) or None) for each TCP/IPv4 packet of an Ethernet pcap"""
    with open(path, "rb") as fh:
        data = fh.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    else:
        end = ">"
    nano = struct.unpack_from(end + "I", data, 0)[0] == 0xA1B23C4D
    linktype = struct.unpack_from(end + "I", data, 20)[0]
    if linktype != 1:
        raise SystemExit("sack_check: not an Ethernet capture")
    off = 24
    rec = struct.Struct(end + "IIII")
    while off + 16 <= len(data):
        sec, frac, incl, _orig = rec.unpack_from(data, off)
        off += 16
        pkt = data[off:off + incl]
        off += incl
        t = sec + frac / (1e9 if nano else 1e6)
        if len(pkt) < 34 or pkt[12:14] != b"\x08\x00":
            continue
        ihl = (pkt[14] & 0xF) * 4
        total = struct.unpack_from("!H", pkt, 16)[0]
        if pkt[23] != 6 or len(pkt) < 14 + ihl + 20:
            continue
        src, dst = pkt[26:30], pkt[30:34]
        tcp = 14 + ihl
        sport, dport, seq, ack = struct.unpack_from("!HHII", pkt, tcp)
        doff = (pkt[tcp + 12] >> 4) * 4
        flags = pkt[tcp + 13]
        plen = total - ihl - doff
        blocks = []
        ts = None
        p, oend = tcp + 20, min(tcp + doff, len(pkt))
        while p < oend:
            kind = pkt[p]
            if kind == 0:
                break
            if kind == 1:
                p += 1
                continue
            if p + 1 >= oend or pkt[p + 1] < 2:
                break
            olen = pkt[p + 1]
            if kind == 5 and p + olen <= oend:
                for i in range((olen - 2) // 8):
                    blocks.append(struct.unpack_from("!II", pkt, p + 2 + 8 * i))
            if kind == 8 and olen == 10 and p + olen <= oend:
                ts = struct.unpack_from("!II", pkt, p + 2)
            p += olen
        yield t, src, dst, sport, dport, seq, ack, flags, plen, blocks, ts


class Ranges:
    """a set of byte ranges, merged"""

    def __init__(self):
        self.r = []

    def add(self, lo, hi):
        out, placed = [], False
        for a, b in self.r:
            if b < lo:
                out.append((a, b))
            elif a > hi:
                if not placed:
                    out.append((lo, hi))
                    placed = True
                out.append((a, b))
            else:
                lo, hi = min(a, lo), max(b, hi)
        if not placed:
            out.append((lo, hi))
        self.r = sorted(out)

    def overlaps(self, lo, hi):
        return any(a < hi and lo < b for a, b in self.r)

    def top(self):
        return self.r[-1][1] if self.r else None


class Flow:
    """one connection, sequence numbers made relative to the sender's first"""

    def __init__(self, base):
        self.base = base
        self.high = 0          # highest sequence sent + 1
        self.cum = 0           # cumulative ACK, now
        self.cum_late = 0      # ... as of GRACE ago
        self.sacked = Ranges()       # SACKed as of now
        self.sacked_late = Ranges()  # SACKed as of GRACE ago
        self.pending = []      # ACKs younger than GRACE: (time, ack, blocks)
        self.first_seen = {}   # cumulative ACK value: when an ACK first carried it
        self.tsecr = None      # the sender's last TSecr, whose ACKs were taken as read
        self.first = self.last = None
        self.gobackn_until = None
        self.sack_acks = 0
        self.n = {k: 0 for k in ("data", "retrans", "hole", "sacked", "acked", "tail",
                                 "gobackn", "rto")}

    def tell(self, what):
        """the first few errors in detail"""
        if self.n["sacked"] + self.n["acked"] <= SHOW_MAX:
            print("# " + what)

    def rel(self, seq):
        return (seq - self.base) & 0xFFFFFFFF

    def ack_now(self, t, ack, blocks, tsval):
        a = self.rel(ack)
        self.cum = max(self.cum, a)
        self.first_seen.setdefault(a, t)
        for lo, hi in blocks:
            lo, hi = self.rel(lo), self.rel(hi)
            if lo < hi <= self.high + 1:
                self.sacked.add(lo, hi)
        if blocks:
            self.sack_acks += 1
        self.pending.append((t, a, blocks, tsval))

    def age(self, t, grace, tsecr):
        """what the sender had surely read when it sent at t: with timestamps,
        every ACK up to the first whose TSval it echoes (it reads them in the
        order captured); without, those GRACE old"""
        upto = 0
        if tsecr is not None:
            if tsecr != self.tsecr:
                for i, pend in enumerate(self.pending):
                    if pend[3] == tsecr:
                        upto = i + 1
                        self.tsecr = tsecr  # later ACKs with this TSval: not known read
                        break
        else:
            while len(self.pending) > upto and self.pending[upto][0] <= t - grace:
                upto += 1
        for _ in range(upto):
            _ta, a, blocks, _ts = self.pending.pop(0)
            self.cum_late = max(self.cum_late, a)
            for lo, hi in blocks:
                lo, hi = self.rel(lo), self.rel(hi)
                if lo < hi <= self.high + 1:
                    self.sacked_late.add(lo, hi)

    def data(self, t, seq, plen, fin):
        s = self.rel(seq)
        e = s + plen + fin
        if self.first is None:
            self.first = t
        self.last = t
        self.n["data"] += 1
        if self.gobackn_until is not None and (self.cum_late >= self.gobackn_until or
                                               s >= self.gobackn_until):
            self.gobackn_until = None
        if s >= self.high:
            self.high = max(self.high, e)
            return
        e = min(e, self.high)
        self.n["retrans"] += 1
        if self.cum_late <= s <= self.cum and s in self.first_seen and \
                (t - self.first_seen[s]) * 1000.0 >= RTO_MIN_MS:
            self.n["rto"] += 1
            self.gobackn_until = self.high
        if self.gobackn_until is not None:
            self.n["gobackn"] += 1
        elif s < self.cum_late:
            self.n["acked"] += 1
            self.tell("resent acknowledged data: [%d, %d) at %.6f, cum ack %d" %
                      (s, e, t, self.cum_late))
        elif self.sacked_late.overlaps(s, e):
            self.n["sacked"] += 1
            self.tell("resent SACKed data: [%d, %d) at %.6f, SACKed %s" %
                      (s, e, t, [r for r in self.sacked_late.r if r[1] > s][:3]))
        elif self.sacked.top() is not None and e <= self.sacked.top():
            self.n["hole"] += 1
        else:
            self.n["tail"] += 1
        self.high = max(self.high, s + plen + fin)


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__.split("\n\n")[1])
    path, sender, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    grace = float(sys.argv[4]) / 1000.0 if len(sys.argv) > 4 else 0.002
    sip = bytes(int(x) for x in sender.split("."))
    flows = {}
    for t, src, dst, sport, dport, seq, ack, flags, plen, blocks, ts in packets(path):
        if src == sip and dport == port:
            key = sport
            if flags & 0x02:  # SYN: the flow starts at ISN + 1
                flows[key] = Flow((seq + 1) & 0xFFFFFFFF)
                continue
            f = flows.get(key)
            if f is None:
                continue
            f.age(t, grace, ts[1] if ts else None)
            if plen > 0 or flags & 0x01:
                f.data(t, seq, plen, 1 if flags & 0x01 else 0)
        elif dst == sip and sport == port:
            f = flows.get(dport)
            if f is not None and flags & 0x10:
                f.ack_now(t, ack, blocks, ts[0] if ts else None)
    good = bool(flows)
    for key, f in sorted(flows.items()):
        secs = (f.last - f.first) if f.first is not None else 0.0
        rate = f.high / secs / 1048576.0 if secs > 0 else 0.0
        print("flow :%d: %d bytes in %.1f s (%.2f MiB/s); %d data segments, %d ACKs with "
              "SACK blocks" % (key, f.high, secs, rate, f.n["data"], f.sack_acks))
        print("  retransmissions %d: hole %d, tail %d, gobackn %d (RTOs %d); errors: "
              "sacked %d, acked %d" % (f.n["retrans"], f.n["hole"], f.n["tail"],
                                      f.n["gobackn"], f.n["rto"], f.n["sacked"],
                                      f.n["acked"]))
        if f.n["retrans"] > 0 and (f.sack_acks == 0 or f.n["hole"] == 0):
            good = False
        if f.n["sacked"] or f.n["acked"]:
            good = False
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
