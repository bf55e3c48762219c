/* test_limits - the engine's bounds: line length, recipients, timeouts, a
 * full output buffer, chunks, policy pushes between commands, counters
 *
 * Conversations here are generated (long lines, hundreds of recipients,
 * ten thousand pipelined commands) or need more than one call pattern
 * (the clock, a snapshot swap, a failing allocator).
 */
#include "harness.h"

#define HOST "mx.test.example"
#define G    "220 " HOST " ESMTP\r\n"
#define OK   "250 2.0.0 Ok\r\n"
#define RMT  "203.0.113.5"
#define LONG "500 5.5.6 Error: line too long\r\n"

static struct pol_snapshot *snap;

/* gen - a static buffer filled by printf-like pieces */
static char gbuf[200000], gout[200000];

/* noop_of - "NOOP xxx...\r\n" of exactly n octets, CRLF included */
static const char *
noop_of(size_t n)
{
	static char b[4096];

	memcpy(b, "NOOP ", 5);
	memset(b + 5, 'x', n - 7);
	memcpy(b + n - 2, "\r\n", 3);
	return b;
}

static void
check_gen(const char *name, uint16_t port, const char *client, const char *in, const char *out,
          enum smtp_action act, const char *log)
{
	struct scase k = {name, port, client, in, strlen(in), out, act, log};

	h_check(snap, &k);
}

static void
test_long_lines(void)
{
	char name[64];
	size_t n;

	for (n = 510; n <= 514; n++) {
		bool fits = n <= SMTP_LINE_MAX;

		snprintf(gbuf, sizeof(gbuf), "%sNOOP\r\n", noop_of(n));
		snprintf(gout, sizeof(gout), G "%s" OK, fits ? OK : LONG);
		snprintf(name, sizeof(name), "a line of %zu octets", n);
		check_gen(name, 25, RMT, gbuf, gout, SMTP_CONTINUE, "");
	}
	/* a CR kept as a byte counts: 510 bytes, a bare CR, then CRLF */
	snprintf(gbuf, sizeof(gbuf), "%s", noop_of(512));
	strcpy(gbuf + 510, "\r\r\nNOOP\r\n");
	check_gen("a bare CR makes the line 513 octets", 25, RMT, gbuf, G LONG OK, SMTP_CONTINUE,
	          "");
	snprintf(gbuf, sizeof(gbuf), "%s", noop_of(3000));
	strcat(gbuf, "NOOP\r\n");
	check_gen("a line of 3000 octets gets one reply", 25, RMT, gbuf, G LONG OK, SMTP_CONTINUE,
	          "");
	snprintf(gbuf, sizeof(gbuf), "%s", noop_of(1000));
	strcpy(gbuf + 900, "\nNOOP\r\n");
	check_gen("a bare LF inside a long line", 25, RMT, gbuf,
	          G "521 5.5.2 " HOST " Error: bare <LF> received\r\n", SMTP_CLOSE,
	          "bare <LF> received after CONNECT from unknown[" RMT "]\n");
	/* the longest HELO name that fits a line, and the longest sender RFC 5321
	 * allows (a path of 256 octets: 64 in the local part), fit a chunk */
	n = (size_t)snprintf(gbuf, sizeof(gbuf), "HELO ");
	memset(gbuf + n, 'h', SMTP_LINE_MAX - 2 - n);
	n = SMTP_LINE_MAX - 2;
	n += (size_t)snprintf(gbuf + n, sizeof(gbuf) - n, "\r\nMAIL FROM:<");
	memset(gbuf + n, 's', 64);
	n += 64;
	gbuf[n++] = '@';
	memset(gbuf + n, 'd', 256 - 2 - 65);
	n += 256 - 2 - 65;
	snprintf(gbuf + n, sizeof(gbuf) - n, ">\r\nRCPT TO:<u@local.example>\r\n");
	check_gen("longest HELO and sender", 25, RMT, gbuf,
	          G "250 " HOST "\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n", SMTP_CONTINUE, "");
	/* a sender that fills the line is refused by RFC 5321's sizes, not kept */
	n = (size_t)snprintf(gbuf, sizeof(gbuf), "HELO h\r\nMAIL FROM:<");
	memset(gbuf + n, 's', SMTP_LINE_MAX - 2 - 14);
	n += SMTP_LINE_MAX - 2 - 14;
	snprintf(gbuf + n, sizeof(gbuf) - n, "@x>\r\nRCPT TO:<u@local.example>\r\n");
	check_gen("a sender that fills the line", 25, RMT, gbuf,
	          G "250 " HOST "\r\n501 5.1.7 Bad sender address syntax: local part over 64 "
	            "octets\r\n503 5.5.1 Error: need MAIL command\r\n",
	          SMTP_CONTINUE, "");
	n = (size_t)snprintf(gbuf, sizeof(gbuf), "HELO h\r\nMAIL FROM:<s@");
	memset(gbuf + n, 'd', SMTP_LINE_MAX - 2 - 14);
	n += SMTP_LINE_MAX - 2 - 14;
	snprintf(gbuf + n, sizeof(gbuf) - n, ">\r\n");
	check_gen("a domain that fills the line", 25, RMT, gbuf,
	          G "250 " HOST "\r\n501 5.1.7 Bad sender address syntax: domain over 255 "
	            "octets\r\n",
	          SMTP_CONTINUE, "");
}

static void
test_recipients(void)
{
	size_t n = 0, o = 0;

	n += (size_t)sprintf(gbuf + n, "HELO h\r\nMAIL FROM:<a@remote.example>\r\n");
	o += (size_t)sprintf(gout + o, G "250 " HOST "\r\n250 2.1.0 Ok\r\n");
	for (int i = 0; i < 1001; i++) {
		n += (size_t)sprintf(gbuf + n, "RCPT TO:<user%d@local.example>\r\n", i);
		o += (size_t)sprintf(gout + o, "%s",
		                     i < 1000 ? "250 2.1.5 Ok\r\n"
		                              : "452 4.5.3 Error: too many recipients\r\n");
		if (i == 99) {
			struct scase k = {"100 recipients", 25, RMT, gbuf, n, NULL,
			                  SMTP_CONTINUE,    ""};

			gbuf[n] = '\0';
			k.out = gout;
			h_check(snap, &k);
		}
	}
	n += (size_t)sprintf(gbuf + n, "DATA\r\n");
	sprintf(gout + o, "451 4.4.1 Error: no backend available, try again later\r\n");
	check_gen("1000 recipients, the 1001st refused (max_recipients)", 25, RMT, gbuf, gout,
	          SMTP_CONTINUE, "");
}

static void
test_timeouts(void)
{
	struct h h;
	size_t used;

	/* port 26: command_timeout 10s, session_timeout 60s */
	h_init(&h, 4096);
	h_open(&h, snap, RMT, 26, 1000);
	is_int(smtp_deadline(&h.ss), 11000, "command deadline after the greeting");
	is_int(smtp_timeout(&h.ss, &h.env, snap, 10999, &h.o), SMTP_CONTINUE,
	       "early timer: nothing");
	is_int(h.o.len, 0, "early timer writes nothing");
	h_feeds(&h, snap, 9000, "NOOP\r\n");
	is_int(smtp_deadline(&h.ss), 19000, "a command moves the deadline");
	h_feeds(&h, snap, 18000, "NO");
	is_int(smtp_deadline(&h.ss), 19000, "a partial line does not");
	is_int(smtp_timeout(&h.ss, &h.env, snap, 19000, &h.o), SMTP_CLOSE, "timeout closes");
	h_drain(&h);
	is_str(h.out.s, G OK "421 4.4.2 " HOST " Error: timeout exceeded\r\n", "timeout reply");
	is_str(h.log.s, "timeout after NOOP from unknown[" RMT "]\n", "timeout log line");
	is_int(smtp_timeout(&h.ss, &h.env, snap, 30000, &h.o), SMTP_CLOSE, "closing stays closing");
	is_int(h.o.len, 0, "... silently");
	h_close(&h);
	is_int(h.ck.live, 0, "timeout: no chunk left");
	is_int(h.st.errors[SMTP_E_TIMEOUT], 1, "timeout counted");
	h_fini(&h);

	/* the session limit wins over a busy client */
	h_init(&h, 4096);
	h_open(&h, snap, RMT, 26, 1000);
	for (uint64_t t = 10000; t <= 55000; t += 9000)
		h_feeds(&h, snap, t, "NOOP\r\n");
	is_int(smtp_deadline(&h.ss), 61000, "session deadline");
	is_int(smtp_timeout(&h.ss, &h.env, snap, 61000, &h.o), SMTP_CLOSE, "session timeout");
	h_drain(&h);
	ok(strstr(h.out.s, OK "421 4.4.2 " HOST " Error: timeout exceeded\r\n") != NULL,
	   "session timeout reply");
	h_close(&h);
	h_fini(&h);

	/* input arriving after the deadline: the timeout first, nothing read */
	h_init(&h, 4096);
	h_open(&h, snap, RMT, 26, 1000);
	h_drain(&h);
	is_int(smtp_input(&h.ss, &h.env, snap, 11000, "NOOP\r\n", 6, &used, &h.o), SMTP_CLOSE,
	       "late input: closes");
	is_int(used, 0, "late input: not read");
	h_drain(&h);
	is_str(h.out.s, G "421 4.4.2 " HOST " Error: timeout exceeded\r\n", "late input: 421");
	h_close(&h);
	h_fini(&h);

	/* the timer waits while the output is full */
	h_init(&h, 4096);
	h_open(&h, snap, RMT, 26, 1000);
	h.o.len = 4096 - SMTP_OUT_ROOM + 1;
	is_int(smtp_timeout(&h.ss, &h.env, snap, 20000, &h.o), SMTP_CONTINUE,
	       "timer with a full output: later");
	is_int(h.o.len, 4096 - SMTP_OUT_ROOM + 1, "... writes nothing");
	h.o.len = 0;
	h_close(&h);
	h_fini(&h);
}

static void
test_output_full(void)
{
	enum { N = 10000 };
	static char in[N * 6];
	size_t used, at = 0, first = 0;
	bool progress = true;
	struct h h;
	long calls = 0;

	for (int i = 0; i < N; i++)
		memcpy(in + i * 6, "NOOP\r\n", 6);
	h_init(&h, 2048);
	h_open(&h, snap, RMT, 25, 1000);
	h_drain(&h);
	while (at < sizeof(in) && progress) {
		enum smtp_action a = smtp_input(&h.ss, &h.env, snap, 2000, in + at, sizeof(in) - at,
		                                &used, &h.o);

		if (calls++ == 0)
			first = used;
		progress = a == SMTP_CONTINUE && used > 0 && used % 6 == 0 && h.o.len <= h.o.cap;
		at += used;
		h_drain(&h);
	}
	/* 74 replies of 14 bytes leave less than SMTP_OUT_ROOM of 2048 */
	is_int(first, 74 * 6, "first call reads what it can answer");
	ok(progress, "each call reads whole lines and makes progress");
	is_int(at, sizeof(in), "all read in the end");
	is_int(calls, (N + 73) / 74, "in so many calls");
	ok(h.out.len == strlen(G) + 14 * N, "every NOOP answered");
	{
		bool all = true;

		for (size_t i = strlen(G); i < h.out.len; i += 14)
			all = all && memcmp(h.out.s + i, OK, 14) == 0;
		ok(all, "in order");
	}
	/* less than SMTP_OUT_ROOM free: nothing read */
	h.o.len = 2048 - SMTP_OUT_ROOM + 1;
	is_int(smtp_input(&h.ss, &h.env, snap, 2000, "NOOP\r\n", 6, &used, &h.o), SMTP_CONTINUE,
	       "full output: continue");
	is_int(used, 0, "full output: nothing read");
	h.o.len = 0;
	h_close(&h);
	is_int(h.ck.live, 0, "no chunk left");
	h_fini(&h);
}

static const char *const policy_b = "hostname = \"mx-b.test.example\";\n"
                                    "local_domains = [ \"local.example\" ];\n"
                                    "blacklist { recipients = [ \"other@local.example\" ]; }\n"
                                    "service mx { ports = [25]; }\n";
static const char *const policy_c = "hostname = \"mx-c.test.example\";\n"
                                    "local_domains = [ \"local.example\" ];\n"
                                    "service elsewhere { ports = [2525]; }\n";

static const char *const swap_in[] = {
        "EHLO h\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<trap@local.example>\r\n",
        "RCPT TO:<trap@local.example>\r\nRCPT TO:<other@local.example>\r\n",
        "HELO h\r\n",
};

static void
test_policy_swap(void)
{
	struct pol_snapshot *a = must_load("a.conf", h_policy);
	struct pol_snapshot *b = must_load("b.conf", policy_b);
	struct pol_snapshot *c = must_load("c.conf", policy_c);
	struct h h;

	h_init(&h, 4096);
	h_open(&h, a, RMT, 25, 1000);
	h_feeds(&h, a, 1001, swap_in[0]);
	pol_snapshot_free(a); /* the session must hold nothing of it */
	h_feeds(&h, b, 1002, swap_in[1]);
	h_feeds(&h, b, 1003, swap_in[2]);
	is_str(h.out.s,
	       G "250-" HOST "\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
	         "250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n"
	         "550 5.7.1 <trap@local.example>: Recipient address rejected: Access denied\r\n"
	         "250 2.1.5 Ok\r\n"
	         "550 5.7.1 <other@local.example>: Recipient address rejected: Access denied\r\n"
	         "250 mx-b.test.example\r\n",
	       "the next RCPT decides by the new snapshot");
	h_feeds(&h, c, 1004, "NOOP\r\n");
	ok(h.closing, "the port lost its service: close");
	is_int(h.stop, strlen(swap_in[0]) + strlen(swap_in[1]) + strlen(swap_in[2]),
	       "... reading nothing more");
	ok(strstr(h.out.s, "250 mx-b.test.example\r\n421 4.3.2 Service not available\r\n") != NULL,
	   "... with 421 4.3.2");
	ok(strstr(h.log.s, "service not available after HELO from unknown[" RMT "]\n") != NULL,
	   "... logged");
	h_close(&h);
	is_int(h.ck.live, 0, "swap: no chunk left");
	h_fini(&h);

	h_init(&h, 4096);
	h_open(&h, b, RMT, 25, 1000);
	is_int(smtp_timeout(&h.ss, &h.env, c, 2000, &h.o), SMTP_CLOSE, "timer: service gone");
	h_drain(&h);
	is_str(h.out.s, "220 mx-b.test.example ESMTP\r\n421 4.3.2 Service not available\r\n",
	       "timer: 421 4.3.2");
	h_close(&h);
	h_fini(&h);

	h_init(&h, 4096);
	h_open(&h, c, RMT, 25, 1000);
	ok(h.closing, "connect to a port without service: close");
	is_str(h.out.s, "421 4.3.2 Service not available\r\n", "... with 421 4.3.2");
	h_close(&h);
	h_fini(&h);

	h_init(&h, 4096);
	h_open(&h, NULL, RMT, 25, 1000);
	ok(h.closing, "no snapshot at all: close");
	is_str(h.out.s, "421 4.3.2 Service not available\r\n", "... with 421 4.3.2");
	h_close(&h);
	is_int(h.st.sessions_opened, 1, "opened counted");
	is_int(h.st.sessions_closed, 1, "closed counted");
	h_fini(&h);
	pol_snapshot_free(b);
	pol_snapshot_free(c);
}

/* The session keeps its service's index in the snapshot it was found in,
 * with that snapshot's id: after a push it must find the service again,
 * even where the new snapshot sits at the old one's address (freed, then
 * the same size allocated again) and holds other services at the old
 * index. Told apart by max_errors: 421 after the service's own count. */
static const char *const svc_p = "hostname = \"mx.test.example\";\n"
                                 "service a { ports = [25]; max_errors = 5; }\n"
                                 "service b { ports = [587]; max_errors = 1; }\n";
static const char *const svc_q = "hostname = \"mx.test.example\";\n"
                                 "service b { ports = [587]; max_errors = 1; }\n"
                                 "service a { ports = [25]; max_errors = 3; }\n";

/* errors_to_421 - bad commands, one call each, until the session closes: how many */
static int
errors_to_421(struct h *h, const struct pol_snapshot *s, uint64_t now)
{
	for (int n = 1; n <= 10; n++) {
		h_feeds(h, s, now + (uint64_t)n, "BOGUS\r\n");
		if (h->closing)
			return n;
	}
	return -1;
}

static void
test_service_cache(void)
{
	struct pol_snapshot *p = must_load("p.conf", svc_p), *q;
	const void *was = p;
	struct h h;

	h_init(&h, 4096);
	h_open(&h, p, RMT, 25, 1000);
	is_int(errors_to_421(&h, p, 1000), 5, "port 25 in p: service a, 421 after 5 errors");
	h_close(&h);
	h_fini(&h);

	h_init(&h, 4096);
	h_open(&h, p, RMT, 25, 1000);
	h_feeds(&h, p, 1001, "NOOP\r\n"); /* the service is kept as index 0 of p */
	pol_snapshot_free(p);
	q = must_load("q.conf", svc_q); /* port 25 is now index 1, and index 0 ends after 1 */
	printf("# the new snapshot %s the old one's address\n",
	       (const void *)q == was ? "reuses" : "is not at");
	is_int(errors_to_421(&h, q, 2000), 3, "after the push: service a of q, 421 after 3 errors");
	ok(strstr(h.out.s, "421 4.7.0 mx.test.example Error: too many errors\r\n") != NULL,
	   "... with 421 4.7.0");
	h_close(&h);
	h_fini(&h);

	h_init(&h, 4096);
	h_open(&h, q, RMT, 587, 1000);
	is_int(errors_to_421(&h, q, 1000), 1, "port 587 in q: service b at index 0, 421 at once");
	h_close(&h);
	is_int(h.ck.live, 0, "no chunk left");
	h_fini(&h);
	pol_snapshot_free(q);
}

/* long_helo - "EHLO " and a name of n bytes ("hhh...h.example"), CRLF */
static const char *
long_helo(char *buf, size_t n)
{
	memcpy(buf, "EHLO ", 5);
	memset(buf + 5, 'h', n - 8);
	memcpy(buf + 5 + n - 8, ".example\r\n", 11);
	return buf;
}

static void
test_chunks(void)
{
	char cmd[SMTP_LINE_MAX + 1];
	struct h h;

	h_init(&h, 4096);
	h_open(&h, snap, RMT, 25, 1000);
	is_int(h.ck.live, 0, "after the greeting: no chunk");
	h_feeds(&h, snap, 1001, "EHLO h\r\n");
	is_int(h.ck.live, 0, "after EHLO: a short name is kept in the session");
	ok(h.ss.helo == h.ss.helo_in && strcmp(h.ss.helo, "h") == 0, "... inline");
	h_feeds(&h, snap, 1002, "MAIL FROM:<a@remote.example>\r\n");
	is_int(h.ck.live, 1, "in a transaction: the sender");
	h_feeds(&h, snap, 1003, "RCPT TO:<u@loc");
	is_int(h.ck.live, 2, "a partial line: and the line");
	h_feeds(&h, snap, 1004, "al.example>\r\n");
	is_int(h.ck.live, 1, "the line complete: given back");
	h_feeds(&h, snap, 1005, "RSET\r\n");
	is_int(h.ck.live, 0, "after RSET: the sender given back");
	h_feeds(&h, snap, 1006,
	        "MAIL FROM:<a@remote.example>\r\nRCPT TO:<u@local.example>\r\nDATA\r\n");
	is_int(h.ck.live, 0, "after DATA: the sender given back");
	h_feeds(&h, snap, 1007, long_helo(cmd, SMTP_HELO_INLINE));
	is_int(h.ck.live, 1, "a name of SMTP_HELO_INLINE bytes takes a chunk");
	ok(h.ss.helo != NULL && h.ss.helo != h.ss.helo_in && strlen(h.ss.helo) == SMTP_HELO_INLINE,
	   "... whole, outside the session");
	h_feeds(&h, snap, 1008, long_helo(cmd, SMTP_HELO_INLINE - 1));
	is_int(h.ck.live, 0, "one byte shorter: the chunk given back, the name inline");
	ok(h.ss.helo == h.ss.helo_in && strlen(h.ss.helo) == SMTP_HELO_INLINE - 1, "... whole");
	h_feeds(&h, snap, 1009, long_helo(cmd, SMTP_LINE_TEXT - 5));
	is_int(h.ck.live, 1, "the longest name a line holds: a chunk");
	ok(h.ss.helo != NULL && strlen(h.ss.helo) == SMTP_LINE_TEXT - 5, "... whole");
	h_feeds(&h, snap, 1010, "EHLO bad.helo.example\r\n");
	is_int(h.ck.live, 0, "after a refused HELO: nothing");
	ok(h.ss.helo == NULL, "... and no name");
	h_feeds(&h, snap, 1011, "HELO h\r\n");
	h_close(&h);
	is_int(h.ck.live, 0, "closed: nothing");
	is_int(h.ck.gets, h.ck.puts, "as many puts as gets");
	h_fini(&h);

	h_init(&h, 4096);
	h_open(&h, snap, "198.51.100.9", 25, 1000);
	h_feeds(&h, snap, 1001, "EHLO h\r\nMAIL FROM:<a@b>\r\nNOOP");
	is_int(h.ck.live, 1, "refused client: only a partial line");
	h_close(&h);
	is_int(h.ck.live, 0, "closed with a partial line: given back");
	h_fini(&h);

	h_init(&h, 4096);
	h.ck.fail_at = 1;
	h_open(&h, snap, RMT, 25, 1000);
	h_feeds(&h, snap, 1001, "EHLO h\r\nNOOP\r\n");
	ok(!h.closing, "a short HELO needs no chunk: no chunk left is no matter");
	is_int(h.ck.gets, 0, "... none asked for");
	h_close(&h);
	h_fini(&h);

	h_init(&h, 4096);
	h.ck.fail_at = 1;
	h_open(&h, snap, RMT, 25, 1000);
	h_feeds(&h, snap, 1001, long_helo(cmd, SMTP_HELO_INLINE));
	ok(h.closing, "no chunk for a long HELO: close");
	is_int(h.stop, 5 + SMTP_HELO_INLINE + 2, "... after the EHLO");
	is_str(h.out.s, G "421 4.3.0 " HOST " Error: insufficient system resources\r\n", "... 421");
	is_str(h.log.s, "out of memory after EHLO from unknown[" RMT "]\n", "... logged");
	h_close(&h);
	is_int(h.ck.live, 0, "... nothing left");
	h_fini(&h);

	h_init(&h, 4096);
	h.ck.fail_at = 1;
	h_open(&h, snap, RMT, 25, 1000);
	h_feeds(&h, snap, 1001, "EHLO h\r\nMAIL FROM:<a@remote.example>\r\n");
	ok(h.closing, "no chunk for the sender: close");
	ok(strstr(h.out.s, "ENHANCEDSTATUSCODES\r\n421 4.3.0 ") != NULL, "... 421 after MAIL");
	h_close(&h);
	is_int(h.ck.live, 0, "... nothing left");
	h_fini(&h);

	h_init(&h, 4096);
	h.ck.fail_at = 1;
	h_open(&h, snap, RMT, 25, 1000);
	h_feeds(&h, snap, 1001, "NOOP\r\nNOO");
	ok(h.closing, "no chunk for a partial line: close");
	is_str(h.out.s, G OK "421 4.3.0 " HOST " Error: insufficient system resources\r\n",
	       "... after answering the complete ones");
	h_close(&h);
	is_int(h.ck.live, 0, "... nothing left");
	h_fini(&h);
}

/* test_client_names - the 503 after a refused greeting names the client as
 * Postfix (and pol_client_name) does */
static void
test_client_names(void)
{
	static const char *const ips[] = {"0.0.0.0",         "255.255.255.255", "10.0.0.1",
	                                  "192.0.2.100",     "1.20.100.9",      "2001:db8::1",
	                                  "::ffff:192.0.2.1"};
	struct pol_snapshot *all =
	        must_load("all.conf", "hostname = x.example;\n"
	                              "blacklist { clients = [ \"0.0.0.0/0\", \"::/0\" ]; }\n"
	                              "service mx { ports = [25]; }\n");

	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		struct cidr a = h_addr(ips[i]);
		char want[160], name[80];
		struct h h;

		h_init(&h, 4096);
		h_open(&h, all, ips[i], 25, 1000);
		h_feeds(&h, all, 1001, "NOOP\r\n");
		h_close(&h);
		snprintf(want, sizeof(want), "503 5.5.1 Error: access denied for %s\r\n",
		         pol_client_name(&a, name, sizeof(name)));
		ok(h.out.s != NULL && strstr(h.out.s, want) != NULL, "client name of %s", ips[i]);
		h_fini(&h);
	}
	pol_snapshot_free(all);
}

static void
test_stats(void)
{
	static const char in[] =
	        "EHLO h\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<u@other.example>\r\n"
	        "RCPT TO:<u@local.example>\r\nFOO\r\nRCPT TO:<u@local.example\r\n"
	        "QUIT\r\n";
	struct h h;

	h_init(&h, 4096);
	h_open(&h, snap, RMT, 25, 1000);
	h_feed(&h, snap, 1001, in, sizeof(in) - 1);
	h_close(&h);
	is_int(h.st.sessions_opened, 1, "stats: opened");
	is_int(h.st.sessions_closed, 1, "stats: closed");
	is_int(h.st.commands, 7, "stats: commands");
	is_int(h.st.replies[2], 5, "stats: 2xx");
	is_int(h.st.replies[4], 0, "stats: 4xx");
	is_int(h.st.replies[5], 3, "stats: 5xx");
	is_int(h.st.verdicts[POL_R_ACCEPT], 4, "stats: accepted");
	is_int(h.st.verdicts[POL_R_RELAY_DENIED], 1, "stats: relay denied");
	is_int(h.st.errors[SMTP_E_UNKNOWN_CMD], 1, "stats: unknown command");
	is_int(h.st.errors[SMTP_E_SYNTAX], 1, "stats: syntax");
	is_int(h.ss.nerrors, 3, "errors of the session");
	h_fini(&h);
	test_client_names();
	is_str(smtp_err_name(SMTP_E_TOO_MANY_ERRORS), "too_many_errors", "error names");
	is_str(smtp_cmd_name(SMTP_C_RCPT), "RCPT", "command names");
}

/* test_pregreet - greet_wait: the banner comes after the wait; a client
 * that talks first is refused (postscreen's PREGREET) */
static void
test_pregreet(void)
{
	struct h h;
	size_t used = 0;

	h_init(&h, 4096);
	h_open(&h, snap, RMT, 28, 1000);
	is_int((long)h.out.len, 0, "greet_wait: no banner at connect");
	is_int(h.ss.state, SMTP_S_PREGREET, "the session waits");
	is_int((long)smtp_deadline(&h.ss), 3000, "the banner is due after greet_wait (2 s)");
	is_int(smtp_timeout(&h.ss, &h.env, snap, 2999, &h.o), SMTP_CONTINUE, "not before");
	h_drain(&h);
	is_int((long)h.out.len, 0, "still no banner");
	is_int(smtp_timeout(&h.ss, &h.env, snap, 3000, &h.o), SMTP_CONTINUE, "the wait is over");
	h_drain(&h);
	is_str(h.out.s, "220 mx.test.example ESMTP\r\n", "then the banner");
	is_int((long)smtp_deadline(&h.ss), 3000 + 300000,
	       "the command timeout runs from the banner");
	h_feeds(&h, snap, 3100, "EHLO c.example\r\nQUIT\r\n");
	ok(strstr(h.out.s, "250-mx.test.example") != NULL && strstr(h.out.s, "221 ") != NULL,
	   "a client that waited is served");
	h_close(&h);
	h_fini(&h);

	h_init(&h, 4096);
	h_open(&h, snap, RMT, 28, 1000);
	h.act = smtp_input(&h.ss, &h.env, snap, 1500, "EHLO bot\r\nMAIL FROM:<a@b>\r\n", 26, &used,
	                   &h.o);
	h_drain(&h);
	is_int(h.act, SMTP_CLOSE, "talking before the banner closes the session");
	is_str(h.out.s, "521 5.5.1 Protocol error\r\n", "with 521 5.5.1, and nothing else");
	is_int((long)h.st.errors[SMTP_E_PREGREET], 1, "counted as pregreet");
	ok(h.log.s != NULL && strstr(h.log.s, "pregreet after CONNECT from unknown[203.0.113.5]"),
	   "and logged");
	h_close(&h);
	ok(h.ck.live == 0, "no chunk left");
	h_fini(&h);

	/* a timer that fires only after the session's whole time (1800 s by
	 * default) is over: no banner with a deadline already past, but the
	 * timeout (fuzz_smtp's corpus/smtp/crash-pregreet-late-timer) */
	h_init(&h, 4096);
	h_open(&h, snap, RMT, 28, 1000);
	is_int(smtp_timeout(&h.ss, &h.env, snap, 1000 + 1800000, &h.o), SMTP_CLOSE,
	       "greet_wait's timer after session_timeout: the session ends");
	h_drain(&h);
	is_str(h.out.s, "421 4.4.2 mx.test.example Error: timeout exceeded\r\n",
	       "with the timeout's 421, no banner");
	h_close(&h);
	h_fini(&h);
}

int
main(void)
{
	snap = must_load("smtp.conf", h_policy);
	printf("# sizeof(struct smtp_session) = %zu\n", sizeof(struct smtp_session));
	ok(sizeof(struct smtp_session) <= 256, "a session is at most 256 bytes");
	test_long_lines();
	test_recipients();
	test_timeouts();
	test_output_full();
	test_policy_swap();
	test_service_cache();
	test_chunks();
	test_stats();
	test_pregreet();
	pol_snapshot_free(snap);
	return done_testing();
}
