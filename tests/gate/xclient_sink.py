"""xclient_sink - a backend MTA for tests: offers XCLIENT, accepts everything,
and writes every command line it receives to a file, one per line.

  xclient_sink.py ADDR PORT LOGFILE

Replies as Postfix's smtpd does to an authorized XCLIENT host: 220 after
XCLIENT (a new session: the client sends EHLO again), 250 to MAIL and RCPT,
354 then 250 to DATA, 221 to QUIT. The message itself is not logged.
"""
import socketserver
import sys

LOG = None


class Session(socketserver.StreamRequestHandler):
    def say(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.say("220 sink.example ESMTP")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip("\r\n")
            with open(LOG, "a") as f:
                f.write(line + "\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-sink.example\r\n250-PIPELINING\r\n"
                                 b"250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN\r\n"
                                 b"250 8BITMIME\r\n")
                self.wfile.flush()
            elif verb == "XCLIENT":
                self.say("220 sink.example ESMTP")
            elif verb == "DATA":
                self.say("354 go ahead")
                while True:
                    body = self.rfile.readline()
                    if not body or body == b".\r\n":
                        break
                self.say("250 2.0.0 Ok: queued")
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye")
                return
            else:
                self.say("250 2.0.0 Ok")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    LOG = sys.argv[3]
    open(LOG, "w").close()
    Server((sys.argv[1], int(sys.argv[2])), Session).serve_forever()
