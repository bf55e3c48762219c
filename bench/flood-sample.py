#!/usr/bin/python3
"""flood-sample.py - the gate's state over time, for bench/flood-bench.sh and
tests/gate/test_flood.sh

    flood-sample.py CTL SOCKET PID INTERVAL PHASEFILE OUT

Every INTERVAL seconds until SIGTERM: the gate's summed counters
(CTL -s SOCKET stats --json) and its resident memory, as one JSON line
appended to OUT: {"t", "phase", "c": {counters}, "mem": {own, heap, anon,
memif}}. The phase is the first word of PHASEFILE at that moment (the
caller writes it: before, flood, after, ...). Memory is read from
/proc/PID/smaps as bench/mem-bench.sh does: own is everything but memif's
regions (the link's buffers, shared with the generator), heap DPDK's memory
(with --no-huge a memfd named "nohuge"), anon the private anonymous
mappings (malloc).

One process for the whole run: forking a Python per sample would take the
CPU the gate and the generator need.
"""
import json
import signal
import subprocess
import sys
import time

ctl, sock, pid, interval, phasefile, out = sys.argv[1:7]
interval = float(interval)
stop = False


def on_term(sig, frame):
    global stop
    stop = True


def mem():
    m = {"own": 0, "heap": 0, "anon": 0, "memif": 0}
    name = ""
    try:
        with open("/proc/%s/smaps" % pid) as f:
            for line in f:
                head = line.split()
                if not head:
                    continue
                if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                    name = head[5] if len(head) > 5 else ""
                elif head[0] == "Rss:":
                    b = int(head[1]) * 1024
                    if "memif_region" in name:
                        m["memif"] += b
                        continue
                    m["own"] += b
                    if "nohuge" in name:
                        m["heap"] += b
                    elif name == "":
                        m["anon"] += b
    except OSError:
        return None
    return m


def phase():
    try:
        with open(phasefile) as f:
            return (f.read().split() or ["?"])[0]
    except OSError:
        return "?"


signal.signal(signal.SIGTERM, on_term)
t0 = time.monotonic()
with open(out, "a") as o:
    while not stop:
        t = time.monotonic()
        try:
            r = subprocess.run([ctl, "-s", sock, "stats", "--json"], capture_output=True,
                               timeout=5, text=True)
            c = json.loads(r.stdout).get("counters", {}) if r.returncode == 0 else None
        except (subprocess.TimeoutExpired, ValueError):
            c = None
        if c is not None:
            o.write(json.dumps({"t": round(t - t0, 3), "phase": phase(), "c": c,
                                "mem": mem()}) + "\n")
            o.flush()
        left = interval - (time.monotonic() - t)
        while left > 0 and not stop:
            time.sleep(min(left, 0.1))
            left = interval - (time.monotonic() - t)
