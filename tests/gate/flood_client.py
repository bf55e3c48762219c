"""flood_client.py - SMTP sessions from the Linux stack while the gate is flooded

    python3 flood_client.py HOST PORT N

Plays N sessions one after another, each on a fresh connection from the
kernel's TCP (window scaling, SACK and timestamps offered: under a flood the
gate answers with a SYN cookie, which keeps none of them): greeting, EHLO,
MAIL, RCPT to a domain that is not local, QUIT. Prints one line per session,
"codes 220 250 250 554 221 ms T", then "done N". The exit status is 0 when
every session got exactly those codes, with the relay-denied text Postfix
would give.
"""
import socket
import sys
import time

WANT = [220, 250, 250, 554, 221]
TIMEOUT = 20  # s per session: a SYN-ACK, or a reply, lost to a full ring is retransmitted


def reply(f):
    """One SMTP reply (all its lines): (code, last line)."""
    while True:
        line = f.readline(1024)
        if not line:
            return 0, ""
        text = line.decode("ascii", "replace").rstrip("\r\n")
        if len(text) < 4 or not text[:3].isdigit():
            return -1, text
        if text[3] != "-":
            return int(text[:3]), text


def session(host, port, n):
    """One session: its reply codes and the RCPT reply's text."""
    codes, rcpt_text = [], ""
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        f = s.makefile("rb")
        codes.append(reply(f)[0])
        for cmd in (b"EHLO kernel%d.client.example" % n, b"MAIL FROM:<k%d@client.example>" % n,
                    b"RCPT TO:<u%d@elsewhere.example>" % n, b"QUIT"):
            s.sendall(cmd + b"\r\n")
            code, text = reply(f)
            codes.append(code)
            if cmd.startswith(b"RCPT"):
                rcpt_text = text
    return codes, rcpt_text


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    good = 0
    for i in range(n):
        t0 = time.monotonic()
        try:
            codes, text = session(host, port, i)
        except OSError as e:
            codes, text = [], str(e)
        ms = (time.monotonic() - t0) * 1000
        right = codes == WANT and "Relay access denied" in text
        good += right
        print("codes %s ms %.1f%s" % (" ".join(map(str, codes)), ms,
                                      "" if right else " # " + text), flush=True)
    print("done %d" % good)
    return 0 if good == n else 1


if __name__ == "__main__":
    sys.exit(main())
