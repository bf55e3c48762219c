#!/usr/bin/python3
"""tls-load - STARTTLS sessions against an SMTP server, as fast as they go

    tls-load.py [-p PROCS] [-d SECONDS] [-n MAX] [--tls 1.2|1.3] IP PORT

The end-to-end load of bench/tls-bench.sh: each session is a new TCP
connection: banner, EHLO, STARTTLS, the TLS handshake (OpenSSL through
Python's ssl module, no certificate check), QUIT inside TLS, 221, close.
PROCS processes (default 2) each run sessions one after the other until
SECONDS (or MAX sessions in all) are done. Prints one line of key=value:
sessions, errors, elapsed seconds, sessions per second, and the client's
own CPU seconds (user + system of all processes): when that is near
elapsed x the CPUs it had, the client was the limit. Exits 1 on any error.
Needs only the standard library (Debian's /usr/bin/python3: its OpenSSL 3.0).
"""
import argparse
import multiprocessing as mp
import os
import socket
import ssl
import sys
import time


def reply(f):
    """one SMTP reply (all its lines); its code"""
    while True:
        line = f.readline(1024)
        if len(line) < 4:
            raise OSError("connection closed or short line: %r" % line)
        if line[3:4] != b"-":
            return int(line[:3])


def session(addr, ctx):
    with socket.create_connection(addr, timeout=10) as s:
        f = s.makefile("rb")
        if reply(f) != 220:
            raise OSError("banner")
        s.sendall(b"EHLO load.example\r\n")
        if reply(f) != 250:
            raise OSError("EHLO")
        s.sendall(b"STARTTLS\r\n")
        if reply(f) != 220:
            raise OSError("STARTTLS")
        t = ctx.wrap_socket(s, server_hostname=None)
        tf = t.makefile("rb")
        t.sendall(b"QUIT\r\n")
        if reply(tf) != 221:
            raise OSError("QUIT")
        version = t.version()
        t.close()
        return version


def worker(addr, tls, deadline, quota, out):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls:
        v = ssl.TLSVersion.TLSv1_3 if tls == "1.3" else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = ctx.maximum_version = v
    done = errors = 0
    versions = {}
    first_error = ""
    while time.monotonic() < deadline and (quota == 0 or done + errors < quota):
        try:
            v = session(addr, ctx)
            versions[v] = versions.get(v, 0) + 1
            done += 1
        except (OSError, ssl.SSLError) as e:
            errors += 1
            first_error = first_error or str(e)
    t = os.times()
    out.put((done, errors, versions, first_error, t.user + t.system))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", "--procs", type=int, default=2)
    ap.add_argument("-d", "--duration", type=float, default=10)
    ap.add_argument("-n", "--max", type=int, default=0, help="sessions in all (0: no limit)")
    ap.add_argument("--tls", choices=["1.2", "1.3"])
    ap.add_argument("ip")
    ap.add_argument("port", type=int)
    a = ap.parse_args()
    out = mp.Queue()
    start = time.monotonic()
    quota = (a.max + a.procs - 1) // a.procs if a.max else 0
    procs = [mp.Process(target=worker, args=((a.ip, a.port), a.tls, start + a.duration, quota, out))
             for _ in range(a.procs)]
    for p in procs:
        p.start()
    res = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - start
    done = sum(r[0] for r in res)
    errors = sum(r[1] for r in res)
    versions = {}
    for r in res:
        for k, v in r[2].items():
            versions[k] = versions.get(k, 0) + v
    cpu = sum(r[4] for r in res)
    print("sessions=%d errors=%d elapsed=%.2f rate=%.0f client_cpu=%.2f versions=%s%s" % (
        done, errors, elapsed, done / elapsed, cpu,
        ",".join("%s:%d" % kv for kv in sorted(versions.items())) or "-",
        (" first_error=%r" % next(r[3] for r in res if r[3])) if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
