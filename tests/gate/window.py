"""window - the gate's receive windows, captured on the TAP's kernel side

  window.py HOST IFACE METRICS_URL OUTDIR

Run with Debian's python3 (scapy) inside the gate's namespace. While
tcpdump captures port 25 on IFACE (into OUTDIR/window.pcap, read by scapy):
  - 20 "stall" clients pipeline 30 KB of NOOPs after EHLO and never read
    (a tiny receive buffer): the gate's chunks are read from its metrics
    while they hold on;
  - 20 idle clients read their banner and wait;
  - one real session (smtplib) sends a 300 KB message through the gate's
    relay to the backend.
Then every segment the gate sent is checked against RFC 9293 and RFC 7323:
the SYN-ACK offers a lean window and a window scale, the right edge (SEG.ACK
+ SEG.WND << shift) never moves back (RFC 9293 3.8.6.2.2), no byte beyond
an offered edge is acknowledged, the window before DATA never exceeds the
lean size, and after the 354 it opens. Prints "check 0|1 TEXT" lines (0:
good) and "# ..." notes.
"""
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from scapy.all import IP, TCP, rdpcap  # Debian's python3-scapy

LEAN = 4064  # SESS_LEAN_RCV_BUF
HOST, IFACE, METRICS, OUTDIR = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]


def check(good, text):
    print("check %d %s" % (0 if good else 1, text), flush=True)


def metric(name):
    body = urllib.request.urlopen(METRICS, timeout=10).read().decode()
    n = 0
    for line in body.splitlines():
        k = line.split(" ")[0]
        if k == name or k.startswith(name + "{"):
            n += float(line.split(" ")[-1])
    return int(n)


def stall_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect((HOST, 25))
    s.recv(512)
    s.setblocking(False)
    data = b"EHLO s.remote.example\r\n" + b"NOOP\r\n" * 5000
    sent = 0
    try:
        while sent < len(data):
            sent += s.send(data[sent:])
    except BlockingIOError:
        pass
    return s


def idle_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect((HOST, 25))
    s.recv(512)
    return s


def conns(pkts):
    """the gate's segments to each client port, in capture order, and the
    clients' SYN options"""
    out, syn_ws = {}, {}
    for p in pkts:
        if IP not in p or TCP not in p:
            continue
        t = p[TCP]
        if p[IP].src == HOST and t.sport == 25:
            out.setdefault(t.dport, []).append(t)
        elif p[IP].dst == HOST and t.dport == 25 and t.flags & 0x02:
            syn_ws[t.sport] = dict(t.options).get("WScale")
    return out, syn_ws


def analyse(segs, client_ws):
    """(SYN-ACK window, shift, list of (ack, window, right edge, payload))"""
    synack = segs[0]
    shift = dict(synack.options).get("WScale") if client_ws is not None else None
    sh = shift or 0
    rows = []
    for t in segs:
        if not t.flags & 0x10:  # no ACK: nothing advertised
            continue
        w = t.window if t.flags & 0x02 else t.window << sh  # RFC 7323 2.2: a SYN's is not scaled
        rows.append((t.ack, w, (t.ack + w) & 0xFFFFFFFF, bytes(t.payload)))
    return synack.window, shift, rows


def seq_lt(a, b):
    return ((a - b) & 0xFFFFFFFF) > 0x7FFFFFFF


def edges_monotone(rows):
    edge = None
    for ack, w, right, _ in rows:
        if edge is not None and seq_lt(right, edge):
            return False
        edge = right
    return True


def acks_within(rows):
    """no ACK beyond an edge offered before it"""
    edge = None
    for i, (ack, w, right, _) in enumerate(rows):
        if edge is not None and seq_lt(edge, ack):
            print("# ACK %d beyond the edge %d offered before it (segment %d)" % (ack, edge, i))
            return False
        edge = right if edge is None or seq_lt(edge, right) else edge
    return True


def capture_start(path):
    """tcpdump on IFACE: scapy's own sniffing loses segments on a busy
    machine, and one lost window update would look like a broken rule"""
    p = subprocess.Popen(["tcpdump", "-i", IFACE, "-n", "-s", "160", "-B", "16384", "-U",
                          "-w", path, "tcp port 25"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for line in p.stderr:  # "listening on IFACE, ..." once the capture runs
        if b"listening on" in line:
            break
    return p


def main():
    pcap = os.path.join(OUTDIR, "window.pcap")
    cap = capture_start(pcap)
    time.sleep(0.5)
    chunks0 = metric("smtpgate_tcp_chunks_used")
    idle = [idle_client() for _ in range(20)]
    time.sleep(1.0)
    chunks_idle = metric("smtpgate_tcp_chunks_used") - chunks0
    stalls = [stall_client() for _ in range(20)]
    time.sleep(3.0)  # the gate answers until its lean send limit, then waits
    chunks_stall = metric("smtpgate_tcp_chunks_used") - chunks0
    print("# TCP chunks held: 20 idle sessions %d, and 20 stalled ones besides: %d (%.1f each)"
          % (chunks_idle, chunks_stall - chunks_idle, (chunks_stall - chunks_idle) / 20))
    check(chunks_idle == 0, "20 greeted idle sessions hold no TCP chunk (%d)" % chunks_idle)
    check(0 < chunks_stall - chunks_idle <= 20 * 6,
          "20 stalled sessions hold at most 6 TCP chunks each (%d in all)"
          % (chunks_stall - chunks_idle))
    body = ("Subject: window\r\n\r\n" + ("x" * 76 + "\r\n") * 3900).encode()
    real_ok = False
    real_port = None
    peak = [0]
    sampling = threading.Event()

    def sample():  # the chunks a message in flight holds (both legs), for the report
        while not sampling.is_set():
            peak[0] = max(peak[0], metric("smtpgate_tcp_chunks_used") - chunks_stall)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        c = smtplib.SMTP(HOST, 25, timeout=30)
        real_port = c.sock.getsockname()[1]
        c.ehlo("real.remote.example")
        c.sendmail("a@remote.example", ["u@local.example"], body)
        c.quit()
        real_ok = True
    except (smtplib.SMTPException, OSError) as e:
        print("# real session failed: %r" % e)
    sampling.set()
    sampler.join()
    print("# TCP chunks held by the real session and its relay leg while the message "
          "flowed (sampled every 20 ms): up to %d" % peak[0])
    check(real_ok, "a real session sent a %d-byte message through the relay meanwhile"
          % len(body))
    stall_ports = [s.getsockname()[1] for s in stalls]
    time.sleep(1.0)
    cap.send_signal(signal.SIGINT)
    cap.wait(timeout=30)
    for s in stalls + idle:
        s.close()
    out, syn_ws = conns(rdpcap(pcap))
    good_syn = good_edge = good_ack = good_lean = True
    shifts = set()
    max_stall_wnd = 0
    for port in stall_ports + ([real_port] if real_port else []):
        segs = out.get(port, [])
        if not segs or not segs[0].flags & 0x02:
            good_syn = False
            continue
        wnd0, shift, rows = analyse(segs, syn_ws.get(port))
        shifts.add(shift)
        good_syn &= wnd0 <= LEAN and shift is not None and shift >= 1
        good_edge &= edges_monotone(rows)
        good_ack &= acks_within(rows)
        if port != real_port:
            max_stall_wnd = max([max_stall_wnd] + [w for _, w, _, _ in rows])
            good_lean &= all(w <= LEAN for _, w, _, _ in rows)
    check(good_syn, "every SYN-ACK offered at most %d bytes and a window scale (shifts %s)"
          % (LEAN, sorted(s for s in shifts if s is not None)))
    check(good_edge, "no segment of the gate moved a right edge back (RFC 9293 3.8.6.2.2)")
    check(good_ack, "the gate never acknowledged a byte beyond an edge it had offered")
    check(good_lean, "a stalled session's window never exceeded %d bytes (largest %d)"
          % (LEAN, max_stall_wnd))
    if real_port:
        _, _, rows = analyse(out[real_port], syn_ws.get(real_port))
        i354 = next((i for i, r in enumerate(rows) if r[3].startswith(b"354")), None)
        before = [w for _, w, _, _ in rows[:i354]] if i354 is not None else []
        after = [w for _, w, _, _ in rows[i354:]] if i354 is not None else []
        check(i354 is not None and before and max(before) <= LEAN,
              "the real session's window stayed lean before DATA (largest %d)"
              % (max(before) if before else -1))
        check(after and max(after) >= 32768,
              "... and opened for the message after the 354 (largest %d)"
              % (max(after) if after else -1))


main()
