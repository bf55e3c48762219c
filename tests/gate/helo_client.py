#!/usr/bin/python3
"""helo_client - HELO names of every size against the gate, and what they cost it

The gate keeps a HELO name shorter than SMTP_HELO_INLINE (64) bytes inside
the session and a longer one in a 512-byte chunk, so that an idle session
holds no chunk. This client checks, through the Linux TCP stack:

  names   for names of 1, 63, 64, 255 and 500 bytes: the refusal at RCPT
          names the HELO in the gate's log line, whole (the test script
          greps the log; this prints the names it used);
  chunks  N sessions idle after EHLO with 63-byte names hold no chunk
          (smtp_chunks_used from smtpgatectl stats stays where it was);
          N with 64-byte names hold N; a second EHLO with a short name
          gives them back; closing them leaves the count where it began;
  swap    in one session: a long name, then a short one, then a long one
          again, each followed by a refused RCPT: each log line names the
          HELO of its moment.

usage: helo_client.py names|chunks|swap SERVER CTL SOCK [N]
Prints "ok ..." / "fail ..." lines; exits 1 on a failure.
"""
import json
import smtplib
import subprocess
import sys
import time


def name_of(n, tag="h"):
    """a host name of exactly n bytes: tag, letters, ".example" when it fits"""
    if n < 10:
        return (tag + "x" * n)[:n]
    return (tag + "a" * (n - len(tag) - 8)) + ".example"


def chunks(ctl, sock):
    out = subprocess.run([ctl, "-s", sock, "stats", "--json"], check=True,
                         capture_output=True, text=True).stdout

    def find(v):
        if isinstance(v, dict):
            if "smtp_chunks_used" in v and not isinstance(v["smtp_chunks_used"], (dict, list)):
                return v["smtp_chunks_used"]
            for x in v.values():
                r = find(x)
                if r is not None:
                    return r
        elif isinstance(v, list):
            for x in v:
                r = find(x)
                if r is not None:
                    return r
        return None

    r = find(json.loads(out))
    if r is None:
        raise SystemExit("fail no smtp_chunks_used in smtpgatectl stats --json")
    return int(r)


def refused_rcpt(s):
    s.mail("a@remote.example")
    code, _ = s.rcpt("x@elsewhere.example")
    s.rset()
    return code


def wait_chunks(ctl, sock, want):
    """the gauge as it settles (the gate answers before the stats thread reads)"""
    got = None
    for _ in range(50):
        got = chunks(ctl, sock)
        if got == want:
            break
        time.sleep(0.1)
    return got


def main():
    mode, server, ctl, sock = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    failed = 0

    def check(cond, what):
        nonlocal failed
        print(("ok " if cond else "fail ") + what, flush=True)
        failed += 0 if cond else 1

    if mode == "names":
        for size in (1, 63, 64, 255, 500):
            name = name_of(size)
            s = smtplib.SMTP(server, 25, local_hostname=name, timeout=10)
            code, _ = s.ehlo()
            check(code == 250, f"EHLO with a {size}-byte name: 250")
            check(refused_rcpt(s) == 554, f"... its relay attempt refused")
            s.quit()
            print(f"name {size} {name}", flush=True)
    elif mode == "chunks":
        base = chunks(ctl, sock)
        short = [smtplib.SMTP(server, 25, local_hostname=name_of(63, f"s{i}-"), timeout=10)
                 for i in range(n)]
        for s in short:
            s.ehlo()
        check(wait_chunks(ctl, sock, base) == base,
              f"{n} sessions idle after EHLO with 63-byte names: no chunk held")
        long_ = [smtplib.SMTP(server, 25, local_hostname=name_of(64, f"l{i}-"), timeout=10)
                 for i in range(n)]
        for s in long_:
            s.ehlo()
        got = wait_chunks(ctl, sock, base + n)
        check(got == base + n, f"{n} more with 64-byte names: {n} chunks held (got {got - base})")
        for i, s in enumerate(long_):
            code, _ = s.docmd("EHLO", name_of(10, f"b{i}-"))
            if code != 250:
                check(False, f"second EHLO answered {code}")
        got = wait_chunks(ctl, sock, base)
        check(got == base, f"a second EHLO with a short name gives them back (got {got - base})")
        for s in short + long_:
            s.quit()
        check(wait_chunks(ctl, sock, base) == base, "all closed: the count where it began")
    elif mode == "swap":
        first = name_of(300, "first-")
        s = smtplib.SMTP(server, 25, local_hostname=first, timeout=10)
        s.ehlo()
        check(refused_rcpt(s) == 554, "long name: relay attempt refused")
        print(f"name {len(first)} {first}", flush=True)
        for i, name in enumerate((name_of(20, "second-"), name_of(64, "third-"),
                                  name_of(63, "fourth-"))):
            code, _ = s.docmd("EHLO", name)
            check(code == 250, f"EHLO {len(name)} bytes: 250")
            check(refused_rcpt(s) == 554, f"... and the relay attempt after it refused")
            print(f"name {len(name)} {name}", flush=True)
        s.quit()
    else:
        raise SystemExit("usage: helo_client.py names|chunks|swap SERVER CTL SOCK [N]")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
