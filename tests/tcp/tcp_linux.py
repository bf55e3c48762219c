"""tcp_linux - drive tcp_tun against Linux's TCP stack; prints TAP.

Runs inside a fresh network namespace (test_tcp_linux.sh makes it), as
root, with Debian's /usr/bin/python3. Phases, each with its own harness
process and TUN device: plain (v4 and v6, 1 MB both ways, pipelining,
closes from each side, RST on a closed port, active open, socat), lossy
(netem if the kernel has it, else the harness's own loss/delay/reorder:
200 sessions), and SYN cookies forced on. A tcpdump capture of the plain
and cookie phases is checked by tshark for malformed packets.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HARNESS = sys.argv[1]
N = 0
FAILED = 0


def tap(good, what, diag=None):
    global N, FAILED
    N += 1
    print(("ok" if good else "not ok") + " %d - %s" % (N, what), flush=True)
    if not good:
        FAILED += 1
        if diag:
            print("#   " + str(diag).replace("\n", "\n#   "), flush=True)


def note(s):
    print("# " + s, flush=True)


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (cmd, r.stderr.strip()))
    return r


class Harness:
    def __init__(self, tun, args=()):
        self.tun = tun
        self.p = subprocess.Popen([HARNESS, "--tun", tun] + list(args),
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("harness did not start: " + line)
        sh("ip link set %s up" % tun)
        sh("ip addr add 10.77.0.1/24 dev %s" % tun)
        sh("ip -6 addr add fd77::1/64 dev %s nodad" % tun)
        time.sleep(0.2)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        out, _ = self.p.communicate(timeout=10)
        stats = {}
        active = []
        for l in out.splitlines():
            f = l.split()
            if f and f[0] == "stat":
                stats[f[1]] = int(f[2])
            elif f and f[0] == "active":
                active.append(l)
        return stats, active


V4 = ("10.77.0.2", socket.AF_INET)
V6 = ("fd77::2", socket.AF_INET6)


def conn(dst, port, timeout=20):
    s = socket.socket(dst[1], socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((dst[0], port))
    return s


def read_until(s, n_lines=None, marker=None):
    buf = b""
    while True:
        if n_lines is not None and buf.count(b"\r\n") >= n_lines:
            return buf
        if marker is not None and marker in buf:
            return buf
        d = s.recv(65536)
        if not d:
            return buf
        buf += d


def read_all(s):
    buf = bytearray()
    while True:
        d = s.recv(1 << 20)
        if not d:
            return bytes(buf)
        buf += d


def smtp_session(dst, nlines=3, quit=True):
    """banner, nlines lines, QUIT; True when every reply is right"""
    s = conn(dst, 25)
    try:
        b = read_until(s, 1)
        if not b.startswith(b"220 "):
            return False, b
        for i in range(1, nlines + 1):
            s.sendall(b"NOOP %d\r\n" % i)
            r = read_until(s, 1)
            if r != b"250 ok %d\r\n" % i:
                return False, r
        if quit:
            s.sendall(b"QUIT\r\n")
            r = read_all(s)
            return r == b"221 bye\r\n", r
        s.shutdown(socket.SHUT_WR)
        r = read_all(s)
        return r == b"", r
    finally:
        s.close()


def pattern(n):
    pat = bytes(65 + (i % 251) % 58 for i in range(251))
    return (pat * (n // 251 + 1))[:n]


def echo(dst, data):
    s = conn(dst, 7, timeout=60)
    err = []

    def sender():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=sender)
    t.start()
    got = read_all(s)
    t.join()
    s.close()
    return got == data and not err, "%d of %d bytes back %s" % (len(got), len(data), err)


def chargen(dst, n):
    s = conn(dst, 19, timeout=60)
    s.sendall(b"%d\r\n" % n)
    got = read_all(s)
    s.close()
    return got == pattern(n), "%d bytes" % len(got)


def many(dst_list, count, conc, nlines=5):
    results = []
    lock = threading.Lock()
    idx = [0]

    def worker():
        while True:
            with lock:
                if idx[0] >= count:
                    return
                i = idx[0]
                idx[0] += 1
            try:
                good, _ = smtp_session(dst_list[i % len(dst_list)], nlines)
            except OSError as e:
                good = False
                note("session %d: %s" % (i, e))
            with lock:
                results.append(good)

    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(results)


def echo_server(family, addr, port, stop):
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    ls.bind((addr, port))
    ls.listen(16)
    ls.settimeout(0.2)

    def serve(c):
        c.settimeout(30)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()

    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()
    ls.close()


def start_capture(tun, path):
    if not shutil.which("tcpdump"):
        return None
    p = subprocess.Popen(["tcpdump", "-i", tun, "-U", "-w", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p


def check_capture(path, label):
    if not shutil.which("tshark"):
        r = sh("tcpdump -r %s -nn 2>&1 | grep -ci 'bad\\|malformed\\|truncated' || true"
               % path, check=False)
        tap(r.stdout.strip() == "0", "%s capture: no malformed packets (tcpdump)" % label)
        return
    r = sh("tshark -r %s -Y '_ws.malformed || _ws.expert.severity == error' 2>/dev/null | wc -l"
           % path, check=False)
    tap(r.stdout.strip() == "0", "%s capture: no malformed packets (tshark)" % label,
        r.stdout)
    tot = sh("tshark -r %s 2>/dev/null | wc -l" % path, check=False).stdout.strip()
    r = sh("tshark -r %s -Y 'tcp.analysis.flags && !tcp.analysis.window_update' "
           "2>/dev/null | wc -l" % path, check=False)
    note("%s: %s packets, %s with tcp.analysis flags (not asserted)"
         % (label, tot, r.stdout.strip()))
    r = sh("tshark -r %s -Y 'tcp.analysis.flags && !tcp.analysis.window_update' "
           "-T fields -e _ws.expert.message 2>/dev/null | sort | uniq -c | sort -rn | head -8"
           % path, check=False)
    for l in r.stdout.splitlines():
        note("  " + l.strip())


def show_handshakes(path):
    """our SYN-ACK next to Linux's, our RST next to what Linux sends"""
    if not shutil.which("tshark"):
        return
    f = "-T fields -e ip.src -e ipv6.src -e tcp.flags.str -e tcp.window_size_value " \
        "-e tcp.options.mss_val -e tcp.options.wscale.shift -e tcp.option_kind"
    for what, flt in (("our SYN-ACK (v4)", "tcp.flags.syn==1 && tcp.flags.ack==1 && ip.src==10.77.0.2"),
                      ("our SYN-ACK (v6)", "tcp.flags.syn==1 && tcp.flags.ack==1 && ipv6.src==fd77::2"),
                      ("Linux SYN-ACK (to our active open)", "tcp.flags.syn==1 && tcp.flags.ack==1 && ip.src==10.77.0.1"),
                      ("Linux SYN", "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src==10.77.0.1"),
                      ("our SYN (active open)", "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src==10.77.0.2"),
                      ("our RST (closed port)", "tcp.flags.reset==1 && ip.src==10.77.0.2"),
                      ("Linux RST", "tcp.flags.reset==1 && ip.src==10.77.0.1")):
        r = sh("tshark -r %s -Y '%s' %s 2>/dev/null | head -1" % (path, flt, f), check=False)
        note("%-36s %s" % (what, r.stdout.strip().replace("\t", " | ")))


def phase_plain(tmp):
    h = Harness("sgtcp0", ["--active", "10.77.0.1", "9000", "300000",
                           "--active", "fd77::1", "9000", "300000"])
    cap = start_capture("sgtcp0", os.path.join(tmp, "plain.pcap"))
    try:
        for dst, fam in ((V4, "IPv4"), (V6, "IPv6")):
            good, d = smtp_session(dst, 3)
            tap(good, "%s: banner, 3 commands, QUIT, 221 and close" % fam, d)
            good, d = smtp_session(dst, 2, quit=False)
            tap(good, "%s: client closes first (FIN), server closes" % fam, d)
        # pipelining: 1000 lines in one write
        s = conn(V4, 25)
        read_until(s, 1)
        s.sendall(b"".join(b"NOOP %d\r\n" % i for i in range(1000)) + b"QUIT\r\n")
        r = read_all(s)
        s.close()
        tap(r.count(b"\r\n250 ok") + r.startswith(b"250 ok") == 1000 and r.endswith(b"221 bye\r\n")
            and b"250 ok 1000\r\n" in r, "1000 pipelined lines: 1000 replies in order, then 221",
            r[-200:])
        mb = os.urandom(1 << 20)
        for dst, fam in ((V4, "IPv4"), (V6, "IPv6")):
            t0 = time.time()
            good, d = echo(dst, mb)
            tap(good, "%s: 1 MiB echoed both ways (%.2f s)" % (fam, time.time() - t0), d)
            good, d = chargen(dst, 1000000)
            tap(good, "%s: 1 MB from us, we close first" % fam, d)
        for dst, fam in ((V4, "IPv4"), (V6, "IPv6")):
            try:
                conn(dst, 26, timeout=5)
                tap(False, "%s: closed port refused" % fam)
            except ConnectionRefusedError:
                tap(True, "%s: closed port: RST, connection refused" % fam)
            except OSError as e:
                tap(False, "%s: closed port refused" % fam, e)
        if shutil.which("socat"):
            r = sh("printf 'HELO x\\r\\nQUIT\\r\\n' | timeout 10 socat -t5 - TCP:10.77.0.2:25",
                   check=False)
            # text mode reads CRLF as "\n"
            tap(r.stdout == "220 tcp_tun ready\n250 ok 1\n221 bye\n", "socat session",
                repr(r.stdout))
            r = sh("printf 'HELO x\\r\\nQUIT\\r\\n' | timeout 10 socat -t5 - TCP6:[fd77::2]:25",
                   check=False)
            tap(r.stdout == "220 tcp_tun ready\n250 ok 1\n221 bye\n", "socat session (IPv6)",
                repr(r.stdout))
        n = many([V4, V6], 100, 20)
        tap(n == 100, "100 concurrent sessions, v4 and v6 (%d good)" % n)
        time.sleep(0.5)
    finally:
        stats, active = h.stop()
        if cap:
            cap.terminate()
            cap.wait()
    for a in ("10.77.0.1", "fd77::1"):
        line = [l for l in active if l.split()[1] == a]
        tap(line and "ok=1" in line[0], "active open to %s: 300 kB out and echoed back" % a,
            line)
    tap(stats.get("drop_csum", 1) == 0 and stats.get("harness_bad_csum", 1) == 0,
        "no bad checksum from Linux")
    note("plain phase stats: " + " ".join("%s=%d" % kv for kv in stats.items() if kv[1]))
    if cap:
        check_capture(os.path.join(tmp, "plain.pcap"), "plain")
        show_handshakes(os.path.join(tmp, "plain.pcap"))
    tap(stats.get("flows_active", 1) == stats.get("flows_tw", 0) and stats.get("chunks_used", 1) == 0,
        "after the plain phase only TIME_WAIT flows remain, no chunk held",
        "active=%s tw=%s chunks=%s" % (stats.get("flows_active"), stats.get("flows_tw"),
                                       stats.get("chunks_used")))


def phase_lossy(tmp):
    netem = sh("tc qdisc add dev lo root netem delay 0ms 2>&1", check=False)
    use_netem = netem.returncode == 0
    if use_netem:
        sh("tc qdisc del dev lo root", check=False)
        h = Harness("sgtcp1")
        sh("tc qdisc add dev sgtcp1 root netem loss 5% delay 10ms reorder 10%")
        note("impairment: netem on the kernel side of the tun")
    else:
        note("no netem in this kernel: the harness drops 5%, delays 10 ms, reorders 10% of what the kernel sends it (as netem on the tun would)")
        h = Harness("sgtcp1", ["--impair", "5,10,10"])
    try:
        t0 = time.time()
        n = many([V4, V6], 200, 40)
        tap(n == 200, "lossy: 200 sessions all complete with the right replies (%d, %.1f s)"
            % (n, time.time() - t0))
        # Bulk under this much reordering is slow: no SACK and no timestamps
        # from us, so Linux's RTO stays backed off (Karn); 64 KiB, not 1 MiB.
        t0 = time.time()
        good, d = echo(V4, os.urandom(64 << 10))
        tap(good, "lossy: 64 KiB echoed both ways (%.1f s)" % (time.time() - t0), d)
    finally:
        stats, _ = h.stop()
    note("lossy phase stats: " + " ".join("%s=%d" % kv for kv in stats.items() if kv[1]))
    tap(stats.get("retransmits", 0) > 0, "lossy: the stack retransmitted (%d)"
        % stats.get("retransmits", 0))


def phase_cookies(tmp):
    h = Harness("sgtcp2", ["--cookies"])
    cap = start_capture("sgtcp2", os.path.join(tmp, "cookies.pcap"))
    try:
        n = many([V4, V6], 40, 10)
        tap(n == 40, "cookies forced: 40 sessions complete (%d)" % n)
        good, d = echo(V4, os.urandom(1 << 20))
        tap(good, "cookies forced: 1 MiB echoed (no window scaling)", d)
    finally:
        stats, _ = h.stop()
        if cap:
            cap.terminate()
            cap.wait()
    tap(stats.get("cookies_ok", 0) >= 41 and stats.get("cookies_bad", 1) == 0,
        "every connection came from a valid cookie (%d sent, %d ok, %d bad)"
        % (stats.get("cookies_sent", 0), stats.get("cookies_ok", 0), stats.get("cookies_bad", 0)))
    if cap:
        check_capture(os.path.join(tmp, "cookies.pcap"), "cookies")


def main():
    sh("ip link set lo up")
    stop = threading.Event()
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        threading.Thread(target=echo_server, args=(fam, addr, 9000, stop), daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="tcp_linux.")
    t0 = time.time()
    try:
        phase_plain(tmp)
        phase_lossy(tmp)
        phase_cookies(tmp)
    except Exception as e:  # a phase that blew up is a failure, not a crash
        tap(False, "phase ran to the end", repr(e))
    stop.set()
    if FAILED:
        note("total %.1f s; captures kept in %s" % (time.time() - t0, tmp))
    else:
        note("total %.1f s" % (time.time() - t0))
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % N, flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
