/* test_one - the predicted segment's path against the general one
 *
 * smtp_input_one() answers a segment that is exactly one whole command
 * line on a path of its own and hands everything else to smtp_input().
 * Two benches play the same random conversations, cut into the same
 * segments, one through smtp_input() and one through smtp_input_one():
 * after every segment both must have written the same bytes and log
 * lines, consumed the same input, returned the same action, counted the
 * same, and left their sessions in the same state (every field; the kept
 * line, HELO name, sender and login compared by content).
 *
 * The segments: whole command lines (the predicted case) of every verb,
 * right and wrong, in any case, with trailing spaces, empty, bare CR,
 * NUL, DEL, 8-bit bytes and lines around the 512-octet limit; lines split
 * over segments; several lines, or a line and part of the next, in one
 * segment (pipelining); lines without CR and bare LF; a clock that jumps
 * past the timeouts; policy swaps; output buffers barely a step's room;
 * AUTH exchanges (the response lines go the general way); services with
 * a greet wait, a refused client, few errors allowed, no service at all.
 */
#include "harness.h"

#define CONVERSATIONS 20000
#define SEED          0x0e5e0e5e5eed0001ull

/* Command lines, without CRLF; "%L" is replaced by a run of x's. */
static const char *const cmds[] = {
        "HELO client.remote.example",
        "helo client.remote.example",
        "HELO",
        "HELO bad.helo.example",
        "HELO gw.local.example",
        "HELO good.helo.example extra words",
        "EHLO client.remote.example",
        "ehlo host.dyn.example",
        "EHLO   spaced.example   ",
        "MAIL FROM:<sender@remote.example>",
        "mail from:<sender@remote.example> SIZE=1000 BODY=8BITMIME",
        "MAIL FROM:<>",
        "MAIL FROM:<spammer@bad.example>",
        "MAIL FROM:<someone@local.example>",
        "MAIL FROM:<friend@bad.example>",
        "MAIL FROM:<x@y> SIZE=99999999999",
        "MAIL FROM:<x@y> FOO=BAR",
        "MAIL FROM: <spaced@remote.example>",
        "MAIL FROM:sender@remote.example",
        "MAIL FROM:<\"quoted >\"@remote.example>",
        "MAIL TO:<a@b>",
        "RCPT TO:<user@elsewhere.example>",
        "RCPT TO:<user@local.example>",
        "rcpt to:<postmaster@local.example>",
        "RCPT TO:<trap@local.example>",
        "RCPT TO:<a%b@local.example>",
        "RCPT TO:<>",
        "RCPT TO:<@route.example:user@local.example>",
        "RCPT TO:<user@local.example> NOTIFY=NEVER",
        "DATA",
        "DATA now",
        "RSET",
        "RSET x",
        "NOOP",
        "noop with arguments",
        "VRFY postmaster",
        "VRFY",
        "HELP",
        "STARTTLS",
        "AUTH PLAIN",
        "AUTH LOGIN",
        "AUTH PLAIN AHVzZXIAcGFzcw==",
        "AUTH CRAM-MD5",
        "XYZZY",
        "MAILX FROM:<a@b>",
        "STARTTLSX",
        "",
        "   ",
        "QUIT",
        "QUIT now",
        "HELO %L",
        "MAIL FROM:<%L@remote.example>",
        "NOOP %L",
};

/* Bytes no command line holds; each gets the general path. */
static const char odd[] = {'\0', '\r', '\n', '\t', '\x7f', '\x80', '\xff', '\x1b'};

/* command - one command line at b (CRLF included unless cut): its length */
static size_t
command(char *b, size_t cap)
{
	const char *c = cmds[tap_below(sizeof(cmds) / sizeof(cmds[0]))];
	const char *l = strstr(c, "%L");
	size_t n = 0;

	if (l != NULL) {
		/* around the limit: 510 bytes is the longest line with its CRLF */
		size_t run = 500 - (size_t)(l - c) - strlen(l + 2) + tap_below(20);

		memcpy(b, c, (size_t)(l - c));
		n = (size_t)(l - c);
		memset(b + n, 'x', run);
		n += run;
		memcpy(b + n, l + 2, strlen(l + 2));
		n += strlen(l + 2);
	} else {
		n = strlen(c);
		memcpy(b, c, n);
	}
	if (n > 0 && tap_below(20) == 0) /* a byte no command holds */
		b[tap_below(n)] = odd[tap_below(sizeof(odd))];
	if (tap_below(30) == 0) { /* a line over the limit */
		memset(b + n, 'y', 520);
		n += 520;
	}
	switch (tap_below(40)) {
	case 0: /* LF alone: the session ends */
		b[n++] = '\n';
		break;
	case 1: /* CR alone, then the next line's CRLF */
		b[n++] = '\r';
		b[n++] = 'z';
		b[n++] = '\r';
		b[n++] = '\n';
		break;
	default:
		b[n++] = '\r';
		b[n++] = '\n';
	}
	if (n > cap)
		abort();
	return n;
}

/* A line that reached the fast path's shape: exactly one plain line. */
static bool
one_line_shape(const char *p, size_t len)
{
	if (len < 2 || len > SMTP_LINE_MAX || p[len - 2] != '\r' || p[len - 1] != '\n')
		return false;
	for (size_t i = 0; i + 2 < len; i++)
		if ((unsigned char)p[i] < ' ' || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

/* An AUTH checker that answers at once: PLAIN "user"/"pass" is good. */
static int
o_check(void *arg, struct smtp_session *ss, enum smtp_mech mech, const char *cred, size_t len)
{
	(void)arg, (void)ss, (void)mech, (void)cred, (void)len;
	return 0;
}
static void
o_cancel(void *arg, struct smtp_session *ss)
{
	(void)arg, (void)ss;
}
static const struct smtp_auth checker = {o_check, o_cancel, NULL};

static void
o_waiting(struct h *h, const struct pol_snapshot *snap, uint64_t now)
{
	h->act = smtp_auth_reply(&h->ss, &h->env, snap, now,
	                         h->ss.nerrors % 2 ? SMTP_AUTH_FAIL : SMTP_AUTH_OK, NULL, &h->o);
}

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0);
}

/* same_session - every field, pointers by what they point at */
static const char *
same_session(const struct smtp_session *a, const struct smtp_session *b)
{
	if (memcmp(&a->pol, &b->pol, sizeof(a->pol)) != 0)
		return "policy facts";
	if (a->start_ms != b->start_ms || a->last_ms != b->last_ms ||
	    a->deadline_ms != b->deadline_ms)
		return "times";
	if ((a->line == NULL) != (b->line == NULL) || a->line_len != b->line_len ||
	    (a->line != NULL && memcmp(a->line, b->line, a->line_len) != 0))
		return "kept line";
	if (!same_str(a->helo, b->helo) || (a->helo == a->helo_in) != (b->helo == b->helo_in))
		return "HELO name";
	if (!same_str(a->sender, b->sender))
		return "sender";
	if (!same_str(a->login, b->login))
		return "login";
	if (memcmp(&a->client, &b->client, sizeof(a->client)) != 0 || a->port != b->port)
		return "client";
	if (a->nerrors != b->nerrors || a->state != b->state || a->lstate != b->lstate ||
	    a->flags != b->flags || a->where != b->where || a->mech != b->mech ||
	    a->svc_idx != b->svc_idx || a->nrcpt != b->nrcpt || a->svc_gen != b->svc_gen ||
	    a->relay != b->relay || a->tls != b->tls)
		return "state fields";
	return NULL;
}

/* same - both benches after a step; NULL or what differs */
static const char *
same(const struct h *a, const struct h *b)
{
	if (a->out.len != b->out.len || (a->out.len > 0 && memcmp(a->out.s, b->out.s, a->out.len)))
		return "output bytes";
	if (a->log.len != b->log.len || (a->log.len > 0 && memcmp(a->log.s, b->log.s, a->log.len)))
		return "log lines";
	if (a->stop != b->stop)
		return "input consumed";
	if (a->act != b->act || a->closing != b->closing)
		return "action";
	if (memcmp(&a->st, &b->st, sizeof(a->st)) != 0)
		return "counters";
	if (a->ck.gets != b->ck.gets || a->ck.puts != b->ck.puts)
		return "chunks";
	if (a->closing) /* a closing session's fields are not read again */
		return a->ss.state == b->ss.state ? NULL : "state";
	return same_session(&a->ss, &b->ss);
}

static const uint16_t ports[] = {25, 25, 25, 2525, 587, 26, 27, 28, 30, 9999};
static const char *const clients[] = {"203.0.113.5",  "203.0.113.5", "10.1.2.3",   "198.51.100.9",
                                      "198.51.100.7", "172.16.1.1",  "2001:db8::5"};

int
main(void)
{
	const struct pol_snapshot *snaps[2];
	static char in[65536];
	long steps = 0, whole = 0, splits = 0, multi = 0, bad = 0, mismatched = 0, closed = 0;
	const char *why = NULL;

	tap_seed(SEED);
	snaps[0] = must_load("smtp.conf", h_policy);
	snaps[1] = must_load("b.conf", "hostname = \"mx.b.example\";\n"
	                               "local_domains = [ \"local.example\" ];\n"
	                               "service mx { ports = [25, 26, 27]; max_errors = 3; }\n");
	printf("# seed 0x%llx, %d conversations\n", (unsigned long long)SEED, CONVERSATIONS);
	for (int it = 0; it < CONVERSATIONS && mismatched == 0; it++) {
		const struct pol_snapshot *snap = snaps[tap_below(10) == 0];
		size_t outcap = SMTP_OUT_ROOM + (tap_below(3) == 0 ? tap_below(64) : 4096);
		uint16_t port = ports[tap_below(sizeof(ports) / sizeof(ports[0]))];
		const char *client = clients[tap_below(sizeof(clients) / sizeof(clients[0]))];
		uint64_t now = 1000 + tap_below(100000);
		size_t n = 0, at = 0, ncmd = 1 + tap_below(14);
		struct h a, b;

		for (size_t k = 0; k < ncmd && n + 1200 < sizeof(in); k++)
			n += command(in + n, sizeof(in) - n);
		h_init(&a, outcap);
		h_init(&b, outcap);
		b.one = true;
		if (tap_below(3) == 0) {
			a.env.auth = b.env.auth = &checker;
			a.waiting = b.waiting = o_waiting;
		}
		h_open(&a, snap, client, port, now);
		h_open(&b, snap, client, port, now);
		while (at < n && !a.closing && !b.closing) {
			size_t len, end;
			const char *lf = memchr(in + at, '\n', n - at);

			/* mostly up to a line's end (one whole line); else cut anywhere */
			end = lf != NULL ? (size_t)(lf - in) + 1 : n;
			switch (tap_below(8)) {
			case 0: /* split inside the line */
				end = at + 1 + tap_below(end - at);
				splits++;
				break;
			case 1: /* several lines, perhaps with part of the next */
				end = at + tap_below(n - at) + 1;
				multi++;
				break;
			default:
				break;
			}
			len = end - at;
			if (one_line_shape(in + at, len))
				whole++;
			switch (tap_below(30)) {
			case 0:
				now += 5000 + tap_below(400000); /* past some timeouts */
				break;
			case 1:
				snap = snaps[tap_below(2)];
				break;
			default:
				now += tap_below(50);
			}
			h_feed(&a, snap, now, in + at, len);
			h_feed(&b, snap, now, in + at, len);
			steps++;
			if ((why = same(&a, &b)) != NULL) {
				mismatched++;
				printf("# conversation %d, segment at %zu (%zu bytes): %s "
				       "differs\n",
				       it, at, len, why);
				printf("#   general: \"%s\"\n#   one:     \"%s\"\n", a.out.s,
				       b.out.s);
				break;
			}
			at = end;
		}
		closed += a.closing;
		h_close(&a);
		h_close(&b);
		if (mismatched == 0 && (a.ck.live != 0 || b.ck.live != 0))
			bad++;
		h_fini(&a);
		h_fini(&b);
	}
	printf("# %ld segments: %ld one whole plain line, %ld cut inside a line, %ld with more "
	       "than a line; %ld sessions ended by the engine\n",
	       steps, whole, splits, multi, closed);
	ok(mismatched == 0, "both paths: the same bytes, log lines, counters and state after "
	                    "every segment");
	ok(bad == 0, "no chunk left after close on either path");
	ok(whole > steps / 2, "most segments are the predicted case (%ld of %ld)", whole, steps);
	ok(splits > 1000 && multi > 1000, "split lines and several lines per segment were played");
	for (int i = 0; i < 2; i++)
		pol_snapshot_free((struct pol_snapshot *)snaps[i]);
	return done_testing();
}
