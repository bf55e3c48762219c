/* test_robust - hostile byte streams never crash the engine or break its output
 *
 * A deterministic loop (fixed seed): random byte streams and mutated valid
 * conversations, cut at random places, fed with a moving clock, random
 * timer calls, policy swaps, small output buffers and a failing allocator.
 * Whatever comes in, the output must be whole reply lines ending in CRLF,
 * no chunk may be left after close, the buffer never overrun, and the
 * reply counters must agree with the lines written. Built with ASan and
 * UBSan in CI, so that a bad access or undefined behaviour shows.
 */
#include "harness.h"

#define ITERATIONS 100000
#define SEED       0x5eed5eed12345678ull

static const char *const corpus[] = {
        "EHLO h.remote.example\r\nMAIL FROM:<a@remote.example> SIZE=100 BODY=8BITMIME\r\n"
        "RCPT TO:<u@local.example>\r\nRCPT TO:<u@other.example>\r\nDATA\r\nRSET\r\nQUIT\r\n",
        "HELO bad.helo.example\r\nEHLO gw.local.example\r\nMAIL FROM:<spammer@bad.example>\r\n"
        "MAIL FROM:<>\r\nRCPT TO:<trap@local.example>\r\nRCPT TO:<postmaster@local.example>\r\n"
        "DATA\r\nQUIT\r\n",
        "NOOP\r\nVRFY x\r\nHELP\r\nFOO bar\r\n\r\nMAIL FROM:<a@b>\r\nRCPT TO:<a@b>\r\nDATA\r\n",
        "STARTTLS\r\nSTARTTLS x\r\n", /* no TLS here: 454 and 501 */
        "EHLO x\r\nMAIL FROM:<\"q >\\\"x\"@remote.example> SIZE=99999999999999999999\r\n"
        "MAIL FROM:<a@b> BODY=x\r\nMAIL FROM:<a@b> X=Y\r\nRCPT TO:<u@local.example> "
        "NOTIFY=NEVER\r\n",
        "EHLO x\r\nMAIL FROM:<x@local.example>\r\nMAIL FROM:<friend@bad.example>\r\n"
        "RCPT TO:<u%v@local.example>\r\nRCPT TO:<@a:u@local.example>\r\nRCPT TO:<postmaster>\r\n",
        "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<p@local.example>\r\nRCPT TO:<q@local.example>\r\n"
        "RCPT TO:<r@local.example>\r\nRCPT TO:<s@local.example>\r\nRCPT TO:<t@local.example>\r\n"
        "DATA\r\n",
        "EHLO x\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b> AUTH=<>\r\n"
        "RCPT TO:<x@remote.example>\r\nAUTH LOGIN\r\nRSET\r\nAUTH LOGIN\r\nYWxpY2U=\r\n"
        "c2VjcmV0\r\nAUTH PLAIN\r\n=\r\nAUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\nQUIT\r\n",
};

static const char specials[] = {'\r', '\n', '\0', ' ',    '<',    '>',  ':', '@',
                                '"',  '\\', '=',  '\x7f', '\xff', '\t', '.', '%'};

/* random_stream - bytes biased towards what SMTP parsers trip on */
static size_t
random_stream(char *b, size_t cap)
{
	size_t n = tap_below(cap), i = 0;

	while (i < n) {
		size_t r = tap_below(10);

		if (r < 3)
			b[i++] = specials[tap_below(sizeof(specials))];
		else if (r < 5 && i + 2 <= n) {
			b[i++] = '\r';
			b[i++] = '\n';
		} else if (r < 7) {
			const char *c = corpus[tap_below(sizeof(corpus) / sizeof(corpus[0]))];
			size_t at = tap_below(strlen(c)), len = tap_below(40);

			if (at + len > strlen(c))
				len = strlen(c) - at;
			if (i + len > n)
				len = n - i;
			memcpy(b + i, c + at, len);
			i += len;
		} else if (r < 9)
			b[i++] = (char)('A' + tap_below(26));
		else
			b[i++] = (char)tap_rnd();
	}
	return n;
}

/* mutate - a valid conversation, changed in a few places */
static size_t
mutate(char *b, size_t cap)
{
	const char *c = corpus[tap_below(sizeof(corpus) / sizeof(corpus[0]))];
	size_t n = strlen(c), k = 1 + tap_below(4);

	memcpy(b, c, n);
	while (k-- > 0) {
		size_t at = tap_below(n + 1), len;

		switch (tap_below(6)) {
		case 0: /* flip a byte */
			if (n > 0)
				b[tap_below(n)] = (char)tap_rnd();
			break;
		case 1: /* insert a special */
			if (n + 1 < cap) {
				memmove(b + at + 1, b + at, n - at);
				b[at] = specials[tap_below(sizeof(specials))];
				n++;
			}
			break;
		case 2: /* delete a range */
			len = tap_below(20);
			if (at + len > n)
				len = n - at;
			memmove(b + at, b + at + len, n - at - len);
			n -= len;
			break;
		case 3: /* a long run: lines near and over the limit */
			len = 400 + tap_below(800);
			if (n + len < cap) {
				memmove(b + at + len, b + at, n - at);
				memset(b + at, 'x', len);
				n += len;
			}
			break;
		case 4: /* repeat the conversation: many pipelined commands */
			if (2 * n < cap) {
				memcpy(b + n, b, n);
				n *= 2;
			}
			break;
		default: /* drop a CR or an LF somewhere */
			for (size_t i = at; i < n; i++)
				if (b[i] == '\r' || b[i] == '\n') {
					memmove(b + i, b + i + 1, n - i - 1);
					n--;
					break;
				}
			break;
		}
	}
	return n;
}

static const uint16_t ports[] = {25, 2525, 587, 26, 27, 9999, 29, 30};
static const char *const clients[] = {"203.0.113.5",  "10.1.2.3",        "198.51.100.9",
                                      "198.51.100.7", "2001:db8:bad::5", "172.16.1.1"};

static const char *const policy_b = "hostname = \"mx-b.test.example\";\n"
                                    "local_domains = [ \"local.example\" ];\n"
                                    "blacklist { recipients = [ \"*@local.example\" ]; }\n"
                                    "service mx { ports = [25, 26, 27, 587, 2525];\n"
                                    "  max_errors = 3; command_timeout = 1s; }\n";
static const char *const policy_c = "hostname = \"mx-c.test.example\";\n"
                                    "service other { ports = [2600]; }\n";

/* A checker that answers at random, or lets the session time out; it
 * counts what is in flight, so that a check neither answered nor
 * cancelled shows. */
static long asked, answered, cancelled, bad_cancel;
static bool in_flight;

static int
r_check(void *arg, struct smtp_session *ss, enum smtp_mech mech, const char *cred, size_t len)
{
	(void)arg, (void)ss, (void)mech, (void)cred, (void)len;
	if (in_flight)
		bad_cancel++; /* asked again while one is in flight */
	if (tap_below(8) == 0)
		return -1;
	asked++;
	in_flight = true;
	return 0;
}

static void
r_cancel(void *arg, struct smtp_session *ss)
{
	(void)arg, (void)ss;
	if (!in_flight)
		bad_cancel++;
	in_flight = false;
	cancelled++;
}

static const struct smtp_auth checker = {r_check, r_cancel, NULL};
static const char *const users[] = {NULL, "", "alice@example.net", "bad\x01name"};

static void
r_waiting(struct h *h, const struct pol_snapshot *snap, uint64_t now)
{
	if (tap_below(6) == 0) {
		h->act = smtp_timeout(&h->ss, &h->env, snap, now + tap_below(4000000), &h->o);
		if (h->act == SMTP_CONTINUE && h->ss.state == SMTP_S_AUTH_WAIT)
			h->act = smtp_timeout(&h->ss, &h->env, snap, UINT64_MAX / 2, &h->o);
		return;
	}
	in_flight = false;
	answered++;
	h->act = smtp_auth_reply(&h->ss, &h->env, snap, now,
	                         (enum smtp_auth_result)tap_below(SMTP_AUTH_RESULTS),
	                         users[tap_below(4)], &h->o);
}

/* count_replies - reply lines that end a reply ("DDD ...") */
static uint64_t
count_replies(const char *s, size_t len)
{
	uint64_t n = 0;

	for (size_t i = 0; i + 3 < len; i++)
		if ((i == 0 || s[i - 1] == '\n') && s[i + 3] == ' ')
			n++;
	return n;
}

int
main(void)
{
	const struct pol_snapshot *snaps[3];
	static char in[16384];
	uint64_t commands = 0, bytes = 0, verdicts = 0, errs[SMTP_E_COUNT] = {0};
	long bad_form = 0, leaks = 0, bad_count = 0, data_2xx = 0, max_live = 0;
	const char *why = NULL;

	tap_seed(SEED);
	snaps[0] = must_load("smtp.conf", h_policy);
	snaps[1] = must_load("b.conf", policy_b);
	snaps[2] = must_load("c.conf", policy_c);
	printf("# seed 0x%llx, %d conversations\n", (unsigned long long)SEED, ITERATIONS);
	for (int it = 0; it < ITERATIONS; it++) {
		size_t n = tap_below(3) == 0 ? random_stream(in, 3000) : mutate(in, sizeof(in));
		const struct pol_snapshot *snap = snaps[tap_below(8) == 0 ? 1 : 0];
		uint64_t now = 1000 + tap_below(100000);
		size_t at = 0;
		struct h h;

		h_init(&h, SMTP_OUT_ROOM + tap_below(4096));
		if (tap_below(4) != 0) {
			h.env.auth = &checker;
			h.waiting = r_waiting;
			h.open_flags = tap_below(2) ? SMTP_F_TLS : 0;
		}
		if (tap_below(10) == 0)
			h.ck.fail_at = 1 + (long)tap_below(6);
		h_open(&h, snap, clients[tap_below(6)], ports[tap_below(8)], now);
		while (at < n && !h.closing) {
			size_t len = 1 + tap_below(tap_below(2) ? 8 : n - at);

			if (len > n - at)
				len = n - at;
			switch (tap_below(40)) {
			case 0:
				snap = snaps[tap_below(3)];
				break;
			case 1:
				now += tap_below(400000);
				break;
			case 2:
				h.act = smtp_timeout(&h.ss, &h.env, snap, now + tap_below(2000000),
				                     &h.o);
				h.closing = h.act == SMTP_CLOSE;
				h_drain(&h);
				continue;
			}
			now += tap_below(50);
			h_feed(&h, snap, now, in + at, len);
			at += len;
		}
		if (!h.closing && tap_below(2))
			(void)smtp_timeout(&h.ss, &h.env, snap, now + tap_below(4000000), &h.o);
		h_drain(&h);
		h_close(&h);
		if (in_flight)
			bad_cancel++; /* closed with a check neither answered nor cancelled */
		in_flight = false;
		if (h.out.len > 0 && (why = h_wellformed(h.out.s, h.out.len)) != NULL) {
			if (bad_form++ == 0)
				printf("# iteration %d: %s\n", it, why);
		}
		commands += h.st.commands;
		bytes += h.stop;
		for (int r = 0; r < POL_R_COUNT; r++)
			verdicts += h.st.verdicts[r];
		for (int e = 0; e < SMTP_E_COUNT; e++)
			errs[e] += h.st.errors[e];
		if (h.ck.live != 0 || h.ck.gets != h.ck.puts)
			leaks++;
		if (h.ck.max_live > max_live)
			max_live = h.ck.max_live;
		if (h.out.len > 0 &&
		    count_replies(h.out.s, h.out.len) !=
		            h.st.replies[2] + h.st.replies[3] + h.st.replies[4] + h.st.replies[5])
			bad_count++;
		for (size_t i = 0; h.out.len > 0 && i + 4 < h.out.len; i++)
			if ((i == 0 || h.out.s[i - 1] == '\n') &&
			    memcmp(h.out.s + i, "354", 3) == 0)
				data_2xx++;
		h_fini(&h);
	}
	printf("# %llu bytes read, %llu commands, %llu policy decisions\n",
	       (unsigned long long)bytes, (unsigned long long)commands,
	       (unsigned long long)verdicts);
	for (int e = 0; e < SMTP_E_COUNT; e++)
		printf("#   %s: %llu\n", smtp_err_name((enum smtp_err)e),
		       (unsigned long long)errs[e]);
	for (int e = 0; e < SMTP_E_COUNT; e++)
		if (e != SMTP_E_BACKEND && e != SMTP_E_PREGREET && /* test_relay.c, test_limits.c */
		    e != SMTP_E_TLS_REQUIRED)                      /* test_tls.c */
			ok(errs[e] > 0, "the loop reached error %s",
			   smtp_err_name((enum smtp_err)e));
	is_int(bad_form, 0, "output is always whole reply lines");
	is_int(leaks, 0, "no chunk left after close");
	ok(max_live <= 4, "a session never holds more than 4 chunks (%ld)", max_live);
	ok(asked > 1000 && answered > 1000 && cancelled > 10,
	   "checks asked %ld, answered %ld, cancelled %ld", asked, answered, cancelled);
	is_int(bad_cancel, 0, "every check is answered or cancelled once, and only then");
	is_int(bad_count, 0, "reply counters agree with the output");
	is_int(data_2xx, 0, "DATA is never accepted");
	for (int i = 0; i < 3; i++)
		pol_snapshot_free((struct pol_snapshot *)snaps[i]);
	return done_testing();
}
