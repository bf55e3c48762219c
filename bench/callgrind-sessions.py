#!/usr/bin/env python3
"""callgrind-sessions.py - instructions per session from callgrind dumps of the gate

    callgrind-sessions.py IDLE_DUMP N1 DUMP1 N2 DUMP2 [--top K] [--dat FILE] [--png FILE]
                          [--link NAME]

The helper of bench/callgrind-bench.sh. Each DUMP is the callgrind output
file of the gate's worker thread (the one running lc_main) for one phase,
taken with `callgrind_control -d` after zeroing: IDLE_DUMP with no traffic,
DUMP1 while N1 sessions ran, DUMP2 while N2 ran.

The worker polls, so a phase's instructions are idle polling (a cost per
loop iteration, proportional to wall time under valgrind, not to sessions)
plus the sessions' work. The idle phase gives each function's instructions
per loop iteration; a loop iteration is one call of tcp_timers_run from
lc_main. A loaded phase's session work is, per function, its instructions
minus its idle cost per iteration times the phase's iterations. Prints
instructions per session of each phase, the N1 to N2 difference over
N2 - N1 (which also cancels what each phase pays once), and the top
functions of the N2 phase by their own (exclusive) instructions per session.
--link names the gate's port (tap, memif) in the plot's title and the .dat.
"""

import argparse
import re
import sys


def parse(path):
    """self instructions per function, and loop iterations, of one dump"""
    cost = {}
    iters = 0
    fn = None
    ob = fl = ""
    after_calls = False
    cfn = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if after_calls:
                # the line after calls= is the call's inclusive cost: not self
                after_calls = False
                continue
            if line.startswith("ob="):
                ob = line[3:].strip().rsplit("/", 1)[-1].split(".so")[0]
                continue
            if line.startswith("fl="):
                fl = line[3:].strip()
                continue
            if line.startswith("fn="):
                fn = line[3:].strip()
                if fn.startswith("0x"):  # no symbol (a stripped PMD): say whose
                    fn = f"{ob}+{fn[2:].lstrip('0')}"
                MODULE.setdefault(fn, module(ob, fl))
                continue
            if line.startswith("cfn="):
                cfn = line[4:].strip()
                continue
            if line.startswith("calls="):
                after_calls = True
                if fn == "lc_main" and cfn == "tcp_timers_run":
                    iters += int(line[6:].split()[0])
                continue
            if fn is not None and line[:1].isdigit():
                parts = line.split()
                if len(parts) >= 2:
                    cost[fn] = cost.get(fn, 0) + int(parts[1])
    return cost, iters


MODULE = {}  # function -> the part of the gate it belongs to


def module(ob, fl):
    """the part of the program a function belongs to, by its object and file"""
    for part, name in (("/dataplane/tcp/", "tcp stack (dataplane/tcp)"),
                       ("/dataplane/smtp/", "smtp engine (dataplane/smtp)"),
                       ("/dataplane/net/", "net: eth, ip, tcpio (dataplane/net)"),
                       ("/dataplane/relay", "relay"),
                       ("/policy/", "policy (policy/)"),
                       ("/dataplane/", "lcore loop, sessions, log ring (dataplane/)")):
        if part in fl:
            return name
    if ob.startswith("librte_net_"):  # a PMD (librte_net itself is the ptype parser)
        pmd = ob[len("librte_net_"):].split(".")[0]
        return f"net_{pmd} PMD (librte_net_{pmd})"
    if ob.startswith("librte_"):
        return "other DPDK libraries (mbuf, ring, net)"
    if ob.startswith("libc"):
        return "libc (memcmp, memcpy, the readv/writev wrappers, ...)"
    if ob.startswith("libhs"):
        return "Hyperscan"
    return f"other ({ob or '?'})"


def trigger(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"desc: Trigger: (.*)", line)
            if m:
                return m.group(1).strip()
    return "?"


def session_work(load, load_iters, idle, idle_iters):
    """per function: the phase's instructions minus its idle polling share"""
    out = {}
    for fn in set(load) | set(idle):
        per_iter = idle.get(fn, 0) / idle_iters
        out[fn] = load.get(fn, 0) - per_iter * load_iters
    return out


def main(argv):
    ap = argparse.ArgumentParser(
        prog="callgrind-sessions.py",
        description="Instructions per session of the gate's worker from three "
        "callgrind dumps (the helper of bench/callgrind-bench.sh).")
    ap.add_argument("idle_dump", metavar="IDLE_DUMP",
                    help="the worker's dump of a phase with no traffic")
    ap.add_argument("n1", metavar="N1", type=int, help="sessions of the first phase")
    ap.add_argument("dump1", metavar="DUMP1", help="the worker's dump of the first phase")
    ap.add_argument("n2", metavar="N2", type=int,
                    help="sessions of the second phase (more than N1)")
    ap.add_argument("dump2", metavar="DUMP2", help="the worker's dump of the second phase")
    ap.add_argument("--top", type=int, default=20, metavar="K",
                    help="functions listed by own instructions per session (20)")
    ap.add_argument("--dat", metavar="FILE", help="write the table for plotting")
    ap.add_argument("--png", metavar="FILE", help="plot the breakdown (matplotlib)")
    ap.add_argument("--link", default="", metavar="NAME",
                    help="the gate's port (tap, memif), for the title and the .dat")
    a = ap.parse_args(argv[1:])
    if a.n2 <= a.n1:
        ap.error("N2 must be more than N1")
    top, dat, png, link = a.top, a.dat, a.png, a.link
    on = f" on {link}" if link else ""
    idle_path, n1, p1, n2, p2 = a.idle_dump, a.n1, a.dump1, a.n2, a.dump2

    idle, idle_iters = parse(idle_path)
    if idle_iters == 0:
        sys.exit("callgrind-sessions: no loop iterations in the idle dump")
    c1, it1 = parse(p1)
    c2, it2 = parse(p2)
    w1 = session_work(c1, it1, idle, idle_iters)
    w2 = session_work(c2, it2, idle, idle_iters)
    s1, s2 = sum(w1.values()), sum(w2.values())
    idle_total = sum(idle.values())

    print(f"  idle polling: {idle_total / idle_iters:.0f} instructions per loop iteration "
          f"({idle_iters} iterations, {trigger(idle_path)})")
    for n, total, it, s in ((n1, sum(c1.values()), it1, s1), (n2, sum(c2.values()), it2, s2)):
        print(f"  {n:6d} sessions: {total:13,d} instructions, {it} loop iterations, "
              f"{s:13,.0f} for the sessions: {s / n:8,.0f} per session")
    diff = (s2 - s1) / (n2 - n1)
    print(f"  difference ({n2} - {n1} sessions): {diff:,.0f} instructions per rejected session "
          f"(target under 10,000)")
    print()
    print(f"  top functions by own instructions per session ({n2}-session phase, idle share removed):")
    rows = sorted(w2.items(), key=lambda kv: -kv[1])[:top]
    for fn, v in rows:
        print(f"    {v / n2:9,.0f}  {100 * v / s2:5.1f}%  {fn}")
    rest = s2 - sum(v for _, v in rows)
    print(f"    {rest / n2:9,.0f}  {100 * rest / s2:5.1f}%  (all others)")
    mods = {}
    for fn, v in w2.items():
        m = MODULE.get(fn, "other")
        mods[m] = mods.get(m, 0) + v
    mrows = sorted(mods.items(), key=lambda kv: -kv[1])
    print()
    print(f"  by part of the program ({n2}-session phase):")
    for m, v in mrows:
        print(f"    {v / n2:9,.0f}  {100 * v / s2:5.1f}%  {m}")
    print(f"PER_SESSION {diff:.0f}")

    if dat:
        with open(dat, "w", encoding="utf-8") as f:
            f.write(f"# function instructions_per_session ({n2}-session phase{on}); "
                    f"total {s2 / n2:.0f}\n")
            for fn, v in rows:
                f.write(f"{fn} {v / n2:.0f}\n")
            f.write(f"(others) {rest / n2:.0f}\n")
            f.write("# by part of the program\n")
            for m, v in mrows:
                f.write(f"# {m}: {v / n2:.0f}\n")
    if png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [fn for fn, _ in rows] + ["(all others)"]
        vals = [v / n2 for _, v in rows] + [rest / n2]
        mnames = [m for m, _ in mrows]
        mvals = [v / n2 for _, v in mrows]
        fig, (ax1, ax2) = plt.subplots(
            2, 1, figsize=(9, 0.3 * (len(names) + len(mnames)) + 2.5),
            gridspec_kw={"height_ratios": [len(mnames), len(names)]})
        ax1.barh(range(len(mnames)), mvals, color="tab:orange")
        ax1.set_yticks(range(len(mnames)), mnames, fontsize=8)
        ax1.invert_yaxis()
        ax1.set_title(f"smtpgate{on}: {diff:,.0f} instructions per rejected session "
                      f"(target 10,000)", fontsize=9)
        ax2.barh(range(len(names)), vals, color="tab:blue")
        ax2.set_yticks(range(len(names)), names, fontsize=8)
        ax2.invert_yaxis()
        ax2.set_title(f"top {len(rows)} functions (own instructions)", fontsize=10)
        ax2.set_xlabel("instructions per rejected session (callgrind Ir, idle polling removed)")
        fig.tight_layout()
        fig.savefig(png, dpi=100)


if __name__ == "__main__":
    main(sys.argv)
