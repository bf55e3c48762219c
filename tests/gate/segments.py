"""segments - crafted TCP segments against the gate (and, side by side, the
Linux stack), with scapy over raw L2; run by test_segments.sh.

  segments.py cases GATE_IF GATE_MAC GATE4 GATE6 CLIENT4 CLIENT6 [LX_IF LX_MAC LX4 LX6 LXC4 LXC6]
  segments.py flood GATE_IF GATE_MAC GATE4 COUNT SESSIONS
  segments.py lxserver            (the Linux peer's line server, port 25)

SEGMENTS_ONLY=case_window segments.py cases GATE_IF GATE_MAC GATE4 GATE6 CLIENT4 CLIENT6
runs one case against the gate and prints what it saw (for debugging).

The crafted clients use addresses the kernel does not own (so that the
kernel never answers the targets' SYN-ACKs with a RST) and a made-up MAC;
this script answers ARP and neighbour solicitations for them itself.

Output: "PASS name" / "FAIL name" lines and "# " comments; the shell turns
them into TAP. Every check states what RFC 9293 / RFC 5961 ask; where the
Linux peer is given, the same sequence is replayed against it and the
relative seq/ack numbers and flags are compared.
"""
import os
import random
import socket
import struct
import sys
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
CLIENT_MAC = "02:5e:67:00:00:77"
WAIT = 0.6  # seconds to wait for an answer that must not come

RESULTS = []


def check(name, cond, diag=None):
    print(("PASS " if cond else "FAIL ") + name, flush=True)
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:12]:
            print("#   " + line, flush=True)
    RESULTS.append(bool(cond))
    return cond


def note(s):
    print("# " + s, flush=True)


def lazy_scapy():
    from scapy.all import conf
    conf.verb = 0
    import scapy.all as S
    return S


# ---------------------------------------------------------------- the wire

class Net:
    """One raw L2 socket on an interface; a reader thread answers ARP/ND for
    the fake clients and hands TCP segments to their connections."""

    def __init__(self, S, iface, clients4, clients6):
        self.S = S
        self.iface = iface
        self.clients4 = set(clients4)
        self.clients6 = set(clients6)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((iface, 0))
        self.sock.settimeout(0.2)
        self.conns = {}
        self.lock = threading.Lock()
        self.stop = False
        self.t = threading.Thread(target=self.reader, daemon=True)
        self.t.start()

    def send(self, pkt):
        self.sock.send(bytes(pkt))

    def reader(self):
        S = self.S
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            try:
                self.dispatch(S.Ether(data))
            except Exception as e:  # a parse problem must not kill the reader
                note("reader: %r" % e)

    def dispatch(self, p):
        S = self.S
        if p.haslayer(S.ARP):
            a = p[S.ARP]
            if a.op == 1 and a.pdst in self.clients4:
                self.send(S.Ether(dst=a.hwsrc, src=CLIENT_MAC) /
                          S.ARP(op=2, hwsrc=CLIENT_MAC, psrc=a.pdst, hwdst=a.hwsrc, pdst=a.psrc))
            return
        if p.haslayer(S.ICMPv6ND_NS):
            ns = p[S.ICMPv6ND_NS]
            if ns.tgt in self.clients6:
                self.send(S.Ether(dst=p.src, src=CLIENT_MAC) /
                          S.IPv6(src=ns.tgt, dst=p[S.IPv6].src, hlim=255) /
                          S.ICMPv6ND_NA(tgt=ns.tgt, R=0, S=1, O=1) /
                          S.ICMPv6NDOptDstLLAddr(lladdr=CLIENT_MAC))
            return
        if not p.haslayer(S.TCP):
            return
        ip = p[S.IP] if p.haslayer(S.IP) else p[S.IPv6]
        key = (ip.dst, p[S.TCP].dport)
        with self.lock:
            c = self.conns.get(key)
        if c is not None:
            c.got(ip, p[S.TCP])

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


class Target:
    """A TCP peer to test: the gate, or Linux in its own namespace."""

    def __init__(self, name, net, mac, ip, client):
        self.name, self.net, self.mac, self.ip, self.client = name, net, mac, ip, client
        self.v6 = ":" in ip

    def seed(self):
        """make the target learn the fake client's MAC (its first packet to
        a new neighbour would otherwise wait for ARP)"""
        S = self.net.S
        if self.v6:
            self.net.send(S.Ether(dst=self.mac, src=CLIENT_MAC) /
                          S.IPv6(src=self.client, dst=self.ip, hlim=255) /
                          S.ICMPv6ND_NS(tgt=self.ip) / S.ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC))
        else:
            self.net.send(S.Ether(dst=self.mac, src=CLIENT_MAC) /
                          S.ARP(op=1, hwsrc=CLIENT_MAC, psrc=self.client, pdst=self.ip))
        time.sleep(0.05)


class Seg:
    """A segment received from the target, numbers made relative."""

    def __init__(self, t, tcp, c):
        self.t = t
        self.flags = str(tcp.flags)
        self.seq = tcp.seq
        self.ack = tcp.ack
        self.win = tcp.window
        self.data = bytes(tcp.payload)
        self.opts = dict((o[0], o[1]) for o in tcp.options if isinstance(o, tuple))
        self.rseq = (tcp.seq - c.irs) & 0xffffffff if c.irs is not None else None
        self.rack = (tcp.ack - c.iss) & 0xffffffff

    def __repr__(self):
        return "<%s rseq=%s rack=%s win=%d len=%d%s>" % (
            self.flags, self.rseq, self.rack, self.win, len(self.data),
            " %r" % self.data[:40] if self.data else "")


class Conn:
    """A crafted client connection. The reader thread records every segment
    of the target and, with autoack, ACKs its data (and zero-window probes)
    with window self.win, as a live client would."""

    def __init__(self, tg, dport=25, sport=None, win=29200):
        self.tg = tg
        self.S = tg.net.S
        self.dport = dport
        self.sport = sport or random.randint(20000, 60000)
        self.iss = random.randint(0, 0xffffffff)
        self.snd = self.iss
        self.irs = None
        self.rcv = None
        self.win = win
        self.autoack = True
        self.segs = []
        self.stream = b""
        self.cv = threading.Condition()
        with tg.net.lock:
            tg.net.conns[(tg.client, self.sport)] = self

    def ip(self):
        S = self.S
        if self.tg.v6:
            return S.Ether(dst=self.tg.mac, src=CLIENT_MAC) / S.IPv6(src=self.tg.client, dst=self.tg.ip)
        return S.Ether(dst=self.tg.mac, src=CLIENT_MAC) / S.IP(src=self.tg.client, dst=self.tg.ip)

    def seg(self, flags="A", seq=None, ack=None, data=b"", win=None, options=None, chksum=None):
        S = self.S
        t = S.TCP(sport=self.sport, dport=self.dport, flags=flags,
                  seq=(self.snd if seq is None else seq) & 0xffffffff,
                  ack=(self.rcv or 0) if ack is None else ack,
                  window=self.win if win is None else win, options=options or [])
        if chksum is not None:
            t.chksum = chksum
        return self.ip() / t / S.Raw(data) if data else self.ip() / t

    def tx(self, *a, **k):
        self.tg.net.send(self.seg(*a, **k))

    def got(self, ip, tcp):
        with self.cv:
            s = Seg(time.time(), tcp, self)
            self.segs.append(s)
            if "S" in s.flags and "A" in s.flags and self.irs is None:
                self.irs = tcp.seq
                self.rcv = (tcp.seq + 1) & 0xffffffff
                s.rseq = 0
            elif self.rcv is not None and "R" not in s.flags:
                d = (self.rcv - tcp.seq) & 0xffffffff
                n = len(s.data)
                ack = False
                if n and d < n and self.win > 0:  # in order (perhaps overlapping)
                    self.stream += s.data[d:]
                    self.rcv = (tcp.seq + n) & 0xffffffff
                    ack = True
                elif n or d == 1:  # data we cannot take, or a probe (seq rcv - 1)
                    ack = True
                if "F" in s.flags and ((tcp.seq + n) & 0xffffffff) == self.rcv:
                    self.rcv = (self.rcv + 1) & 0xffffffff
                    ack = True
                if ack and self.autoack:
                    self.tg.net.send(self.seg("A"))
            self.cv.notify_all()

    def since(self, i):
        with self.cv:
            return self.segs[i:]

    def wait(self, pred, timeout=2.0, start=0):
        """the first segment from index start that satisfies pred, or None"""
        end = time.time() + timeout
        with self.cv:
            while True:
                for s in self.segs[start:]:
                    if pred(s):
                        return s
                left = end - time.time()
                if left <= 0:
                    return None
                self.cv.wait(left)

    def wait_stream(self, pred, timeout=2.0):
        end = time.time() + timeout
        with self.cv:
            while not pred(self.stream):
                left = end - time.time()
                if left <= 0:
                    return False
                self.cv.wait(left)
            return True

    def connect(self, options=None, final_win=None):
        """SYN, SYN-ACK, ACK; the SYN-ACK segment (or None)"""
        self.tx("S", options=options if options is not None else [("MSS", 1460)])
        sa = self.wait(lambda s: "S" in s.flags and "A" in s.flags, 3.0)
        if sa is None:
            return None
        self.snd = (self.iss + 1) & 0xffffffff
        if final_win is not None:
            self.win = final_win
        self.tx("A")
        return sa

    def banner(self):
        return self.wait_stream(lambda b: b.endswith(b"\r\n"), 3.0)

    def open(self, **k):
        """connect and read the banner; True on success"""
        return self.connect(**k) is not None and self.banner()

    def send_data(self, data, off=0):
        """data at self.snd + off (the caller advances self.snd)"""
        self.tx("PA", seq=self.snd + off, data=data)

    def reply_lines(self, start):
        return [l for l in self.stream[start:].split(b"\r\n") if l]

    def command(self, data, final=b"250 ", timeout=2.0):
        """send a whole command in order and wait for its last reply line"""
        at = len(self.stream)
        self.send_data(data)
        self.snd += len(data)
        self.wait_stream(lambda b: any(l.startswith(final) or l[:1] in (b"4", b"5")
                                       for l in b[at:].split(b"\r\n")), timeout)
        return self.reply_lines(at)

    def rst(self):
        self.tx("R", seq=self.snd)

    def done(self):
        if self.irs is not None:
            self.rst()
        with self.tg.net.lock:
            self.tg.net.conns.pop((self.tg.client, self.sport), None)


# ---------------------------------------------------------------- cases
# Each case returns a dict of what it saw; check() calls decide.

def case_closed(tg):
    """1. RFC 9293 3.10.7.1: a SYN to a closed port gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>;
    an ACK to a closed port gets <SEQ=SEG.ACK><CTL=RST>"""
    r = {}
    c = Conn(tg, dport=2525)
    c.tx("S")
    s = c.wait(lambda s: True, 2.0)
    r["syn"] = (s.flags, s.seq, (s.ack - c.iss) & 0xffffffff) if s else None
    c.done()
    c = Conn(tg, dport=2525)
    c.tx("A", seq=c.iss, ack=0x12345678)
    s = c.wait(lambda s: True, 2.0)
    r["ack"] = (s.flags, s.seq) if s else None
    c.done()
    return r


def case_synack(tg):
    """1b. a SYN to port 25 with MSS and WS gets a SYN-ACK with MSS and WS"""
    c = Conn(tg)
    sa = c.connect(options=[("MSS", 1400), ("WScale", 7)])
    r = {"flags": sa.flags if sa else None,
         "ack": sa.rack if sa else None,
         "mss": sa.opts.get("MSS") if sa else None,
         "ws": sa.opts.get("WScale") if sa else None,
         "banner": c.banner() and c.stream.startswith(b"220 ")}
    c.done()
    return r


def case_csum(tg, S):
    """2. a bad TCP or IPv4 header checksum: the segment is not seen at all"""
    r = {}
    c = Conn(tg)
    c.tx("S", chksum=0xdead)
    r["syn_badtcp"] = c.wait(lambda s: True, WAIT) is not None
    c.done()
    if not tg.v6:
        c = Conn(tg)
        p = c.seg("S")
        p[S.IP].chksum = 0xbeef
        tg.net.send(p)
        r["syn_badip"] = c.wait(lambda s: True, WAIT) is not None
        c.done()
    c = Conn(tg)
    if not c.open():
        r["open"] = False
        return r
    n = len(c.segs)
    at = len(c.stream)
    c.tx("PA", data=b"NOOP\r\n", chksum=0xdead)
    r["data_bad"] = c.wait(lambda s: True, WAIT, n) is not None
    r["lines_good"] = c.command(b"NOOP\r\n")
    r["stream_after"] = c.reply_lines(at)
    c.done()
    return r


def case_ooo(tg):
    """3. "EHLO x\\r\\n" in three pieces, the last two first"""
    r = {}
    c = Conn(tg)
    if not c.open():
        return {"open": False}
    base = (c.snd - c.iss) & 0xffffffff
    at = len(c.stream)
    cmd = b"EHLO x\r\n"
    n = len(c.segs)
    c.send_data(cmd[6:], 6)
    a1 = c.wait(lambda s: True, 1.0, n)
    n = len(c.segs)
    c.send_data(cmd[3:6], 3)
    a2 = c.wait(lambda s: True, 1.0, n)
    n = len(c.segs)
    c.send_data(cmd[:3], 0)
    c.snd += len(cmd)
    c.wait_stream(lambda b: b"\r\n250 " in b[at:] or b[at:].startswith(b"250 "), 2.0)
    time.sleep(0.2)
    after = c.since(n)
    r["dup1"] = (a1.flags, a1.rack - base, len(a1.data)) if a1 else None
    r["dup2"] = (a2.flags, a2.rack - base, len(a2.data)) if a2 else None
    r["final_ack"] = max([s.rack - base for s in after], default=None)
    r["lines"] = c.reply_lines(at)
    c.done()
    return r


def case_overlap(tg):
    """4. overlapping segments with different bytes in the overlap"""
    r = {}
    c = Conn(tg)
    if not c.open():
        return {"open": False}
    # (a) a retransmission overlapping new data: "EHLO", then "XX x\r\n" at offset 2
    at = len(c.stream)
    n = len(c.segs)
    c.send_data(b"EHLO")
    c.wait(lambda s: True, 1.0, n)
    c.send_data(b"XX x\r\n", 2)
    c.snd += 8
    c.wait_stream(lambda b: any(l[:4] in (b"250 ", b"500 ", b"502 ") for l in b[at:].split(b"\r\n")), 2.0)
    r["a"] = c.reply_lines(at)
    # (b) the whole command again: already answered, only an ACK
    at = len(c.stream)
    n = len(c.segs)
    c.send_data(b"EHLO x\r\n", -8)
    time.sleep(WAIT)
    r["b_segs"] = [(s.flags, len(s.data)) for s in c.since(n)]
    r["b_lines"] = c.reply_lines(at)
    # (c) out of order: "RSET\r\n" at 6 first, then "OP\r\nXXXX" at 2 (overlap
    # 6..10 differs), then "NO": first-received kept reads NOOP, RSET
    at = len(c.stream)
    n = len(c.segs)
    c.send_data(b"RSET\r\n", 6)
    c.wait(lambda s: True, 1.0, n)
    n = len(c.segs)
    c.send_data(b"OP\r\nXXXX", 2)
    c.wait(lambda s: True, 1.0, n)
    c.send_data(b"NO", 0)
    c.snd += 12
    c.wait_stream(lambda b: len([l for l in b[at:].split(b"\r\n") if l]) >= 2, 2.0)
    time.sleep(0.3)
    r["c"] = c.reply_lines(at)
    # (d) in order over held data: "RSET\r\n" at 6 held, then "NOOP\r\nXXXX"
    # at 0: the held bytes came first, so again NOOP, RSET
    at = len(c.stream)
    n = len(c.segs)
    c.send_data(b"RSET\r\n", 6)
    c.wait(lambda s: True, 1.0, n)
    c.send_data(b"NOOP\r\nXXXX", 0)
    c.snd += 12
    c.wait_stream(lambda b: len([l for l in b[at:].split(b"\r\n") if l]) >= 2, 2.0)
    time.sleep(0.3)
    r["d"] = c.reply_lines(at)
    c.done()
    return r


def case_rst(tg, kind):
    """5. RST out of window / in window not at RCV.NXT / at RCV.NXT"""
    r = {}
    c = Conn(tg)
    if not c.open():
        return {"open": False}
    n = len(c.segs)
    rel = {"out": 300000, "old": -70000, "in": 10, "exact": 0}[kind]
    c.tx("R", seq=c.snd + rel)
    time.sleep(WAIT)
    got = c.since(n)
    r["answer"] = [(s.flags, s.rseq is not None and s.rack == ((c.snd - c.iss) & 0xffffffff), len(s.data))
                   for s in got]
    n = len(c.segs)
    at = len(c.stream)
    c.send_data(b"NOOP\r\n")
    c.snd += 6
    if kind == "exact":
        s = c.wait(lambda s: "R" in s.flags, 1.5, n)
        r["after"] = (s.flags,) if s else None
        # RFC 9293 3.10.7.1: an ACK-bearing segment of no connection: <SEQ=SEG.ACK><CTL=RST>
        r["after_seq_ok"] = s is not None and s.seq == (c.rcv or 0)
    else:
        c.wait_stream(lambda b: b"\r\n" in b[at:], 1.5)
        r["after"] = c.reply_lines(at)
    c.done()
    return r


def case_syn(tg, kind):
    """6. RFC 5961 4.2: a SYN in a synchronized state, whatever its sequence
    number, gets a challenge ACK and does not reset the connection"""
    r = {}
    c = Conn(tg)
    if not c.open():
        return {"open": False}
    n = len(c.segs)
    rel = {"in": 5, "out": 300000}[kind]
    c.tx("S", seq=c.snd + rel, ack=0)
    s = c.wait(lambda s: True, 1.0, n)
    want_ack = (c.snd - c.iss) & 0xffffffff
    r["answer"] = (s.flags, s.rack == want_ack, len(s.data)) if s else None
    time.sleep(0.2)
    r["rst"] = any("R" in x.flags for x in c.since(n))
    at = len(c.stream)
    c.send_data(b"NOOP\r\n")
    c.snd += 6
    c.wait_stream(lambda b: b"\r\n" in b[at:], 1.5)
    r["after"] = c.reply_lines(at)
    c.done()
    return r


def case_zerowin(tg):
    """7. the client's window is 0 from the handshake's ACK on: no banner byte
    beyond it, zero-window probes (<= 1 byte) with backoff, then the banner"""
    r = {}
    c = Conn(tg)
    if c.connect(final_win=0) is None:
        return {"open": False}
    t0 = time.time()
    time.sleep(3.5)
    segs = c.since(1)
    r["max_payload"] = max([len(s.data) for s in segs], default=0)
    probes = [s for s in segs if len(s.data) <= 1 and "F" not in s.flags and "R" not in s.flags]
    r["probes"] = len(probes)
    r["probe_times"] = [round(s.t - t0, 2) for s in probes]
    gaps = [b.t - a.t for a, b in zip(probes, probes[1:])]
    r["gaps"] = [round(g, 2) for g in gaps]
    r["backoff"] = len(gaps) >= 1 and all(b >= a * 1.5 for a, b in zip(gaps, gaps[1:])) and \
        (len(gaps) < 2 or gaps[-1] > gaps[0])
    r["stream_closed"] = c.stream
    c.win = 29200
    c.tx("A")
    ok = c.banner()
    r["banner"] = ok and c.stream.startswith(b"220 ")
    c.done()
    return r


def case_window(tg):
    """8. data beyond the receive window: dropped (a segment wholly beyond) or
    trimmed to the window (a segment across the right edge), and ACKed"""
    r = {}
    c = Conn(tg)
    if not c.open():
        return {"open": False}
    base = c.snd
    wnd = c.segs[-1].win  # no WS offered: the field is the window
    r["wnd"] = wnd
    # (a) wholly beyond the right edge
    n = len(c.segs)
    c.send_data(b"NOOP\r\n", wnd + 1000)
    s = c.wait(lambda s: True, 1.0, n)
    r["beyond"] = (s.flags, (s.ack - base) & 0xffffffff, len(s.data)) if s else None
    at = len(c.stream)
    c.command(b"NOOP\r\n")
    time.sleep(0.3)
    r["beyond_after"] = c.reply_lines(at)
    # (b) across the right edge: 8 bytes at RCV.NXT + wnd - 4, 4 of them inside
    base = c.snd
    wnd = c.segs[-1].win
    n = len(c.segs)
    c.send_data(b"\r\nNOOP\r\n", wnd - 4)
    s = c.wait(lambda s: True, 1.0, n)
    r["edge"] = (s.flags, (s.ack - base) & 0xffffffff, len(s.data)) if s else None
    # fill the hole with one long line's bytes (answered once, 500 5.5.6)
    at = len(c.stream)
    fill = b"X" * (wnd - 4)
    for off in range(0, len(fill), 1400):
        c.send_data(fill[off:off + 1400], base + off - c.snd)
        c.snd = base + off + len(fill[off:off + 1400])  # our ACKs carry the new seq
        if off % 14000 == 0:
            time.sleep(0.01)
    time.sleep(0.5)
    r["edge_ack"] = max([(x.ack - base) & 0xffffffff for x in c.segs[n:]], default=None)
    c.snd = base + wnd
    c.send_data(b"OP\r\n")
    c.snd += 4
    c.wait_stream(lambda b: b"250 " in b[at:], 1.5)
    time.sleep(0.2)
    r["edge_lines"] = [l[:9] for l in c.reply_lines(at)]
    c.done()
    return r


# ---------------------------------------------------------------- runner

def run_cases(argv):
    S = lazy_scapy()
    gif, gmac, g4, g6, c4, c6 = argv[:6]
    lx = argv[6:12] if len(argv) >= 12 else None
    nets = {}
    clients4 = [c4] + ([lx[4]] if lx else [])
    clients6 = [c6] + ([lx[5]] if lx else [])
    nets[gif] = Net(S, gif, clients4, clients6)
    gate4 = Target("gate", nets[gif], gmac, g4, c4)
    gate6 = Target("gate6", nets[gif], gmac, g6, c6)
    targets = [gate4, gate6]
    lx4 = lx6 = None
    if lx:
        nets[lx[0]] = Net(S, lx[0], clients4, clients6)
        lx4 = Target("linux", nets[lx[0]], lx[1], lx[2], lx[4])
        lx6 = Target("linux6", nets[lx[0]], lx[1], lx[3], lx[5])
        targets += [lx4, lx6]
    for t in targets:
        t.seed()
    time.sleep(0.3)

    def both(fn, *a):
        g = fn(gate4, *a)
        x = fn(lx4, *a) if lx4 else None
        return g, x

    def same(name, g, x, key):
        if x is None:
            return
        gv, xv = key(g), key(x)
        check("%s: same as Linux (%r)" % (name, gv), gv == xv, "gate %r, Linux %r" % (gv, xv))

    # 1
    for fam, gt, lt in (("IPv4", gate4, lx4), ("IPv6", gate6, lx6)):
        g = case_closed(gt)
        check("%s SYN to a closed port: RST+ACK, seq 0, ack SEG.SEQ+1" % fam,
              g["syn"] is not None and g["syn"][0] == "RA" and g["syn"][1] == 0 and g["syn"][2] == 1, g)
        check("%s ACK to a closed port: RST, seq SEG.ACK" % fam,
              g["ack"] == ("R", 0x12345678), g)
        if lt:
            same("%s closed port" % fam, g, case_closed(lt), lambda r: r)
        g = case_synack(gt)
        check("%s SYN to port 25: SYN-ACK, ack SEG.SEQ+1, MSS and window-scale options, then a 220 banner" % fam,
              g["flags"] == "SA" and g["ack"] == 1 and g["mss"] and g["ws"] is not None and g["banner"], g)
        note("%s SYN-ACK options from the gate: MSS %s, WS %s" % (fam, g["mss"], g["ws"]))
        if lt:
            x = case_synack(lt)
            same("%s SYN-ACK flags, ack and options present" % fam, g, x,
                 lambda r: (r["flags"], r["ack"], r["mss"] is not None, r["ws"] is not None))
    # 2
    g = case_csum(gate4, S)
    check("bad TCP checksum on a SYN: no answer", g.get("syn_badtcp") is False, g)
    check("bad IPv4 header checksum on a SYN: no answer", g.get("syn_badip") is False, g)
    check("bad TCP checksum on data: no ACK, no reply; the good copy is answered once",
          g.get("data_bad") is False and g.get("stream_after") == [b"250 2.0.0 Ok"], g)
    g6 = case_csum(gate6, S)
    check("IPv6: bad TCP checksum on a SYN and on data: no answer",
          g6.get("syn_badtcp") is False and g6.get("data_bad") is False, g6)
    if lx4:
        x = case_csum(lx4, S)
        same("bad checksums", g, x, lambda r: (r.get("syn_badtcp"), r.get("syn_badip"), r.get("data_bad")))
    # 3 and 10
    for fam, gt, lt in (("IPv4", gate4, lx4), ("IPv6", gate6, lx6)):
        g = case_ooo(gt)
        check("%s out of order: each early piece gets a duplicate ACK for the hole" % fam,
              g.get("dup1") == ("A", 0, 0) and g.get("dup2") == ("A", 0, 0), g)
        check("%s out of order: hole filled, one 250 reply to the whole EHLO, ack covers it all" % fam,
              g.get("final_ack") == 8 and g.get("lines", [b""])[-1:] and g["lines"][0].startswith(b"250")
              and g["lines"][-1].startswith(b"250 ") and
              sum(1 for l in g["lines"] if l.startswith(b"250 ")) == 1, g)
        if lt:
            x = case_ooo(lt)
            same("%s out of order: duplicate ACKs and final ack" % fam, g, x,
                 lambda r: (r.get("dup1"), r.get("dup2"), r.get("final_ack")))
    # 4
    g = case_overlap(gate4)
    check("overlap with what was received: the first bytes are kept (EHLO answered 250)",
          len(g.get("a", [])) > 0 and g["a"][-1].startswith(b"250 ") and
          not any(l[:1] == b"5" for l in g["a"]), g)
    check("a whole retransmission of an answered command: ACK only, no second reply",
          g.get("b_lines") == [] and g.get("b_segs") and all(n == 0 for f, n in g["b_segs"]), g)
    check("out-of-order overlap with different bytes: the first-received bytes are kept (NOOP, RSET: 250, 250)",
          g.get("c") == [b"250 2.0.0 Ok", b"250 2.0.0 Ok"], g)
    check("in-order data over held out-of-order bytes: the held (first-received) bytes are kept (NOOP, RSET: 250, 250)",
          g.get("d") == [b"250 2.0.0 Ok", b"250 2.0.0 Ok"], g)
    if lx4:
        x = case_overlap(lx4)
        note("Linux, overlap (a): %r; (b) lines %r; (c): %r; (d): %r" % (
            x.get("a")[-1:], x.get("b_lines"), x.get("c"), x.get("d")))
    # 5
    for kind, what in (("out", "RST beyond the window"), ("old", "RST before RCV.NXT")):
        g = case_rst(gate4, kind)
        check("%s: ignored (no answer), the connection still works" % what,
              g.get("answer") == [] and g.get("after") == [b"250 2.0.0 Ok"], g)
        if lx4:
            same(what, g, case_rst(lx4, kind), lambda r: r.get("answer"))
    g = case_rst(gate4, "in")
    check("RST in the window but not at RCV.NXT: one challenge ACK (RFC 5961 3.2), the connection still works",
          g.get("answer") == [("A", True, 0)] and g.get("after") == [b"250 2.0.0 Ok"], g)
    if lx4:
        same("RST in window", g, case_rst(lx4, "in"), lambda r: r.get("answer"))
    g = case_rst(gate4, "exact")
    check("RST at RCV.NXT: the connection is closed; later data gets RST <SEQ=SEG.ACK>",
          g.get("answer") == [] and g.get("after") is not None and g["after"][0] == "R" and g.get("after_seq_ok"), g)
    if lx4:
        same("RST at RCV.NXT", g, case_rst(lx4, "exact"), lambda r: (r.get("answer"), r.get("after") and r["after"][0]))
    # 6
    for kind in ("in", "out"):
        g = case_syn(gate4, kind)
        check("SYN %s the window on an established connection: challenge ACK, no RST, connection works" % (
            "in" if kind == "in" else "beyond"),
            g.get("answer") == ("A", True, 0) and not g.get("rst") and g.get("after") == [b"250 2.0.0 Ok"], g)
        if lx4:
            same("SYN %s window" % kind, g, case_syn(lx4, kind), lambda r: (r.get("answer"), r.get("rst")))
    # 7
    g = case_zerowin(gate4)
    check("zero window: nothing beyond it (no segment over 1 byte, no banner byte taken)",
          g.get("max_payload", 9) <= 1 and g.get("stream_closed") == b"", g)
    check("zero window: probes sent with backoff (%s at %s s)" % (g.get("probes"), g.get("probe_times")),
          g.get("probes", 0) >= 2 and g.get("backoff"), g)
    check("zero window opened: the banner arrives complete", g.get("banner"), g)
    if lx4:
        x = case_zerowin(lx4)
        note("Linux zero window: max payload %s, %s probes at %s s, banner %s" % (
            x.get("max_payload"), x.get("probes"), x.get("probe_times"), x.get("banner")))
    # 8
    g = case_window(gate4)
    check("a segment wholly beyond the window: dropped, ACK of RCV.NXT",
          g.get("beyond") == ("A", 0, 0) and g.get("beyond_after") == [b"250 2.0.0 Ok"], g)
    check("a segment across the right edge (window %s): held, ACK of RCV.NXT" % g.get("wnd"),
          g.get("edge") == ("A", 0, 0), g)
    check("... trimmed to the window: after the hole, ack is exactly the right edge",
          g.get("edge_ack") == g.get("wnd"), g)
    check("... and the trimmed bytes count as never received (one 500 5.5.6, then NOOP answered once)",
          g.get("edge_lines") == [b"500 5.5.6", b"250 2.0.0"], g)
    if lx4:
        x = case_window(lx4)
        same("segment beyond the window", g, x, lambda r: r.get("beyond"))
        note("Linux, across the right edge (window %s): first ACK %r, ack after the hole %s (edge %s), replies %r" % (
            x.get("wnd"), x.get("edge"), x.get("edge_ack"), x.get("wnd"), x.get("edge_lines")))
    for n in nets.values():
        n.close()
    return 0 if all(RESULTS) else 1


# ---------------------------------------------------------------- SYN flood

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def flood_frames(S, gmac, g4, count):
    """count SYNs from random sources in 198.18.0.0/15, built from one template"""
    tmpl = bytearray(bytes(S.Ether(dst=gmac, src=CLIENT_MAC) /
                           S.IP(src="198.18.0.1", dst=g4, id=0) /
                           S.TCP(sport=1, dport=25, flags="S", seq=0, window=29200,
                                 options=[("MSS", 1460)])))
    dst = socket.inet_aton(g4)
    rnd = random.Random(25)
    frames = []
    for _ in range(count):
        f = bytearray(tmpl)
        src = bytes([198, 18 + rnd.getrandbits(1), rnd.getrandbits(8), rnd.getrandbits(8) | 1])
        f[26:30] = src
        f[24:26] = b"\0\0"
        f[24:26] = struct.pack("!H", csum(bytes(f[14:34])))
        struct.pack_into("!H", f, 34, rnd.randint(1024, 65535))
        struct.pack_into("!I", f, 38, rnd.getrandbits(32))
        f[50:52] = b"\0\0"
        tcp = bytes(f[34:])
        f[50:52] = struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp))
        frames.append(bytes(f))
    return frames


def flood_sender(iface, frames, started, result):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    sent = err = 0
    started.set()
    t0 = time.time()
    for f in frames:
        try:
            s.send(f)
            sent += 1
        except OSError:
            err += 1
    result.put((sent, err, time.time() - t0))


def session(addr, want):
    """one real SMTP session from the kernel: banner, EHLO, QUIT"""
    import smtplib
    t0 = time.time()
    try:
        s = smtplib.SMTP(timeout=10)
        s.sock = socket.create_connection((addr, 25), timeout=10, source_address=("192.0.2.1", 0))
        code, msg = s.getreply()
        good = code == 220 and msg.decode().startswith(want)
        good = good and s.ehlo("real.client.example")[0] == 250 and s.quit()[0] == 221
    except Exception:
        good = False
    return good, t0, time.time()


def rx_packets(iface):
    with open("/sys/class/net/%s/statistics/rx_packets" % iface) as f:
        return int(f.read())


def run_flood(argv):
    import multiprocessing as mp
    S = lazy_scapy()
    gif, gmac, g4, count, nsess = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4])
    t0 = time.time()
    frames = flood_frames(S, gmac, g4, count)
    note("built %d SYN frames in %.1f s" % (len(frames), time.time() - t0))
    rx0 = rx_packets(gif)
    started = mp.Event()
    result = mp.Queue()
    p = mp.Process(target=flood_sender, args=(gif, frames, started, result))
    p.start()
    started.wait(5)
    t_start = time.time()
    out = []
    threads = []
    lock = threading.Lock()

    def worker(k):
        time.sleep(0.02 * k)
        r = session(g4, "mx.gate.example")
        with lock:
            out.append(r)

    for k in range(nsess):
        th = threading.Thread(target=worker, args=(k,))
        th.start()
        threads.append(th)
    sent, err, dur = result.get(timeout=120)
    fend = time.time()
    p.join()
    # the gate's pace: its SYN-ACKs arrive on the kernel side of the TAP
    last, t_last = rx_packets(gif), time.time()
    while time.time() - t_last < 0.5:
        time.sleep(0.05)
        now = rx_packets(gif)
        if now != last:
            last, t_last = now, time.time()
    answered = last - rx0
    for th in threads:
        th.join()
    ok = sum(1 for g, a, b in out if g)
    during = sum(1 for g, a, b in out if g and a < fend)
    print("FLOOD sent %d errors %d seconds %.2f rate %d" % (sent, err, dur, sent / dur if dur else 0))
    print("GATE answered %d segments in %.2f s from the flood's start: %d/s" % (
        answered, t_last - t_start, answered / (t_last - t_start)))
    print("SESSIONS ok %d of %d, %d of them started during the flood; slowest %.2f s" % (
        ok, nsess, during, max([b - a for g, a, b in out], default=0)))
    return 0


# ---------------------------------------------------------------- Linux peer

def run_lxserver(argv):
    """a tiny line server: 220 banner, 250 to EHLO/NOOP/RSET, 500 to the rest"""
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(("::", 25))
    srv.listen(128)
    print("ready", flush=True)

    def serve(c):
        c.sendall(b"220 linux.example ESMTP\r\n")
        buf = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                buf += d
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    if len(line) > 512:
                        c.sendall(b"500 5.5.6 Error: line too long\r\n")
                    elif line.upper().startswith(b"EHLO"):
                        c.sendall(b"250-linux.example\r\n250 PIPELINING\r\n")
                    elif line.upper() in (b"NOOP", b"RSET"):
                        c.sendall(b"250 2.0.0 Ok\r\n")
                    else:
                        c.sendall(b"502 5.5.2 Error: command not recognized\r\n")
        except OSError:
            pass
        c.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "cases" and os.environ.get("SEGMENTS_ONLY"):
        only = os.environ["SEGMENTS_ONLY"]
        S = lazy_scapy()
        a = sys.argv[2:]
        net = Net(S, a[0], [a[4]], [a[5]])
        tg = Target("gate", net, a[1], a[2], a[4])
        tg.seed()
        print(globals()[only](tg))
        sys.exit(0)
    if mode == "cases":
        sys.exit(run_cases(sys.argv[2:]))
    if mode == "flood":
        sys.exit(run_flood(sys.argv[2:]))
    if mode == "lxserver":
        sys.exit(run_lxserver(sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
