/* test_tls - the engine's side of STARTTLS (RFC 3207): what it advertises,
 * its replies, the bytes it drops after the 220 and how a session starts
 * over once the handshake is done. The TLS itself is the dataplane's
 * (tests/unit/tls, tests/gate/test_tls.sh); here a fake hook stands for it
 * and counts what the engine asked.
 */
#include "harness.h"

#define HOST "mx.test.example"
#define RMT  "203.0.113.5"
#define G    "220 " HOST " ESMTP\r\n"
#define EHLO "EHLO client.example\r\n"
#define EHLO_REPLY(tls)                                                                            \
	"250-" HOST "\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n" tls              \
	"250 ENHANCEDSTATUSCODES\r\n"
#define E_TLS   EHLO_REPLY("250-STARTTLS\r\n")
#define E_PLAIN EHLO_REPLY("")
#define READY   "220 2.0.0 Ready to start TLS\r\n"
#define NOTLS   "454 4.7.0 TLS not available due to local problem\r\n"
#define MOK     "250 2.1.0 Ok\r\n"
#define MAIL    "MAIL FROM:<a@remote.example>\r\n"

/* ports of the services of the policy below */
enum { P_OFF = 25, P_OPT = 465, P_REQ = 587, P_CLR = 2587 };

static struct pol_snapshot *snap;

/* The dataplane's TLS, faked: counts the starts and can refuse them. */
struct fake {
	int rc;
	int starts;
	const struct pol_snapshot *snap;
};

static int
f_start(void *arg, struct smtp_session *ss, const struct pol_snapshot *s)
{
	struct fake *f = arg;

	(void)ss;
	f->starts++;
	f->snap = s;
	return f->rc;
}

static struct fake fk;
static const struct smtp_tls tls = {f_start, &fk};

static void
start(struct h *h, uint16_t port, int rc)
{
	memset(&fk, 0, sizeof(fk));
	fk.rc = rc;
	h_init(h, 4096);
	h->env.tls = &tls;
	h_open(h, snap, RMT, port, 1000);
}

/* feed - one smtp_input call; how many bytes it took */
static size_t
feed(struct h *h, uint64_t now, const char *s, size_t len)
{
	size_t used = 0;

	h->act = smtp_input(&h->ss, &h->env, snap, now, s, len, &used, &h->o);
	h_drain(h);
	return used;
}

static size_t
feeds(struct h *h, uint64_t now, const char *s)
{
	return feed(h, now, s, strlen(s));
}

static bool
out_is(struct h *h, const char *want)
{
	bool same = h->out.len == strlen(want) && memcmp(h->out.s, want, h->out.len) == 0;

	if (!same)
		printf("#   output \"%s\"\n#   want   \"%s\"\n", h->out.s ? h->out.s : "", want);
	h->out.len = 0;
	return same;
}

static void
done(struct h *h)
{
	h_close(h);
	ok(h->ck.live == 0 && h->ck.gets == h->ck.puts, "no chunk left after close");
	h_fini(h);
}

static void
test_advertise(void)
{
	struct h h;

	start(&h, P_OFF, 0);
	feeds(&h, 1000, EHLO);
	ok(out_is(&h, G E_PLAIN), "tls = off: EHLO does not offer STARTTLS");
	feeds(&h, 1000, "STARTTLS\r\n");
	ok(out_is(&h, NOTLS), "tls = off: STARTTLS gets 454 4.7.0");
	is_int(fk.starts, 0, "... and TLS is not started");
	is_int((long)h.st.errors[SMTP_E_TLS_UNAVAILABLE], 1, "... counted as tls_unavailable");
	feeds(&h, 1000, MAIL);
	ok(out_is(&h, MOK), "the session goes on in the clear");
	done(&h);

	start(&h, P_OPT, 0);
	feeds(&h, 1000, EHLO);
	ok(out_is(&h, G E_TLS), "tls = optional: EHLO offers STARTTLS");
	feeds(&h, 1000, "HELO client.example\r\n" MAIL);
	ok(out_is(&h, "250 " HOST "\r\n" MOK), "tls = optional: MAIL in the clear is fine");
	done(&h);

	start(&h, P_REQ, 0);
	feeds(&h, 1000, EHLO);
	ok(out_is(&h, G E_TLS), "tls = required: EHLO offers STARTTLS");
	done(&h);
}

static void
test_replies(void)
{
	struct h h;

	start(&h, P_OPT, 0);
	feeds(&h, 1000, EHLO "STARTTLS now\r\nSTARTTLS \r\n");
	ok(out_is(&h, G E_TLS "501 5.5.4 Syntax: STARTTLS\r\n" READY),
	   "STARTTLS with a parameter: 501; trailing spaces are not one");
	is_int(fk.starts, 1, "TLS started once, by the second");
	done(&h);

	start(&h, P_OPT, 0);
	feeds(&h, 1000, EHLO MAIL "STARTTLS\r\n");
	ok(out_is(&h, G E_TLS MOK "503 5.5.1 Error: MAIL transaction in progress\r\n"),
	   "STARTTLS inside a transaction: 503");
	is_int(fk.starts, 0, "... not started");
	done(&h);

	start(&h, P_OPT, -1);
	feeds(&h, 1000, EHLO "starttls\r\n" MAIL);
	ok(out_is(&h, G E_TLS NOTLS MOK), "TLS cannot start now (no session left): 454, go on");
	is_int(fk.starts, 1, "the hook was asked");
	ok(fk.snap == snap, "with the snapshot of the call");
	done(&h);

	start(&h, P_REQ, 0);
	feeds(&h, 1000, EHLO MAIL "RCPT TO:<u@local.example>\r\n");
	ok(out_is(&h, G E_TLS "530 5.7.0 Must issue a STARTTLS command first\r\n"
	                      "503 5.5.1 Error: need MAIL command\r\n"),
	   "tls = required: MAIL before STARTTLS gets 530 5.7.0");
	is_int((long)h.st.errors[SMTP_E_TLS_REQUIRED], 1, "... counted as tls_required");
	done(&h);
}

/* test_discard - whatever follows STARTTLS in the same input is dropped:
 * the plaintext MAIL and RCPT an attacker pipelined after it never run */
static void
test_discard(void)
{
	static const char in[] = EHLO "STARTTLS\r\n" MAIL "RCPT TO:<u@local.example>\r\nQUIT\r\n";
	size_t at = strlen(EHLO "STARTTLS\r\n");
	struct h h;

	start(&h, P_OPT, 0);
	is_int((long)feeds(&h, 1000, in), (long)strlen(in), "all of the input is consumed");
	ok(out_is(&h, G E_TLS READY), "only the 220: no reply to the injected commands");
	is_int(h.ss.state, SMTP_S_TLS, "the session waits for the handshake");
	is_int(h.act, SMTP_CONTINUE, "and goes on");
	ok(h.ss.helo == NULL && h.ss.sender == NULL && h.ss.line == NULL,
	   "no HELO, sender or partial line is kept");
	is_int((long)feeds(&h, 1000, "NOOP\r\n"), 0, "in the handshake the engine reads nothing");
	ok(out_is(&h, ""), "... and says nothing");
	done(&h);

	/* the same at every cut: bytes of the STARTTLS segment after its line are
	 * dropped, later segments belong to the handshake; never a command reply */
	bool all = true;

	for (size_t cut = 1; cut < sizeof(in) - 1; cut++) {
		size_t tls_bytes = 0;

		start(&h, P_OPT, 0);
		for (size_t off = 0, end = cut; off < sizeof(in) - 1;
		     off = end, end = sizeof(in) - 1) {
			if (h.ss.state == SMTP_S_TLS) {
				tls_bytes += end - off; /* the caller's: the handshake */
				continue;
			}
			if (feed(&h, 1000, in + off, end - off) != end - off)
				all = false;
		}
		if (!out_is(&h, G E_TLS READY) || h.ss.state != SMTP_S_TLS || fk.starts != 1 ||
		    tls_bytes != (cut < at ? 0 : sizeof(in) - 1 - cut)) {
			printf("#   cut at %zu: %zu bytes to the handshake\n", cut, tls_bytes);
			all = false;
		}
		h_close(&h);
		all = all && h.ck.live == 0;
		h_fini(&h);
	}
	ok(all, "cut in two anywhere: only the 220, nothing else runs");
}

/* test_after - the session after the handshake starts over */
static void
test_after(void)
{
	struct h h;

	start(&h, P_REQ, 0);
	feeds(&h, 1000, EHLO MAIL "STARTTLS\r\n");
	ok(out_is(&h, G E_TLS "530 5.7.0 Must issue a STARTTLS command first\r\n" READY),
	   "required: 530, then STARTTLS");
	smtp_tls_ready(&h.ss, snap, 2000);
	is_int(h.ss.state, SMTP_S_GREETED, "ready: back to the greeted state");
	ok(h.ss.flags & SMTP_F_TLS, "SMTP_F_TLS is set");
	is_int(h.ss.flags & SMTP_F_ESMTP, 0, "the EHLO before TLS is forgotten");
	is_int((long)smtp_deadline(&h.ss), 2000 + 300 * 1000, "the command timeout runs anew");
	feeds(&h, 2001, MAIL);
	ok(out_is(&h, "503 5.5.1 Error: send HELO/EHLO first\r\n"),
	   "MAIL right after the handshake: HELO/EHLO first");
	feeds(&h, 2002, EHLO);
	ok(out_is(&h, E_PLAIN), "EHLO inside TLS does not offer STARTTLS again");
	feeds(&h, 2003, "STARTTLS\r\n");
	ok(out_is(&h, "554 5.5.1 Error: TLS already active\r\n"), "a second STARTTLS: 554");
	feeds(&h, 2004, MAIL "RCPT TO:<u@local.example>\r\n");
	ok(out_is(&h, MOK "250 2.1.5 Ok\r\n"), "required, inside TLS: MAIL and RCPT accepted");
	is_int(fk.starts, 1, "TLS was started once");
	done(&h);
}

/* A checker that says nothing itself: the test answers with smtp_auth_reply. */
static int asks;

static int
a_check(void *arg, struct smtp_session *ss, enum smtp_mech mech, const char *cred, size_t len)
{
	(void)arg;
	(void)ss;
	(void)mech;
	(void)cred;
	(void)len;
	asks++;
	return 0;
}

static void
a_cancel(void *arg, struct smtp_session *ss)
{
	(void)arg;
	(void)ss;
}

static const struct smtp_auth auth = {a_check, a_cancel, NULL};

/* test_auth_forgotten - an AUTH done in clear (a service that allows it)
 * is knowledge from before TLS: after STARTTLS the client is a stranger
 * again (RFC 3207 4.2), and an off-site recipient is relay access denied */
static void
test_auth_forgotten(void)
{
	struct h h;

	start(&h, P_CLR, 0);
	h.env.auth = &auth;
	asks = 0;
	feeds(&h, 1000, EHLO "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	h.out.len = 0;
	is_int(asks, 1, "AUTH in clear where allowed: the checker is asked");
	h.act = smtp_auth_reply(&h.ss, &h.env, snap, 1001, SMTP_AUTH_OK, "alice", &h.o);
	h_drain(&h);
	ok(out_is(&h, "235 2.7.0 Authentication successful\r\n") && (h.ss.flags & SMTP_F_AUTH) &&
	           h.ss.login != NULL,
	   "235: the session is authenticated as alice");
	feeds(&h, 1002, "STARTTLS\r\n");
	ok(out_is(&h, READY), "STARTTLS: 220");
	ok(!(h.ss.flags & SMTP_F_AUTH) && h.ss.login == NULL,
	   "at the 220 the login is forgotten and its chunk given back");
	smtp_tls_ready(&h.ss, snap, 2000);
	feeds(&h, 2001, EHLO "MAIL FROM:<a@remote.example>\r\nRCPT TO:<x@elsewhere.example>\r\n");
	ok(h.out.s != NULL &&
	           strstr(h.out.s, "554 5.7.1 <x@elsewhere.example>: Relay access denied") != NULL,
	   "inside TLS, without a new AUTH, relaying is refused");
	h.out.len = 0;
	done(&h);
}

int
main(void)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nnot parsed here\n"
	                          "-----END CERTIFICATE-----\n";
	char policy[4096];

	/* the engine never reads these: the dataplane builds its contexts from them */
	write_file("c.pem", pem);
	write_file("k.pem", pem);
	snprintf(
	        policy, sizeof(policy), "%s",
	        "hostname = \"mx.test.example\";\n"
	        "local_domains = [ \"local.example\" ];\n"
	        "service off { ports = [25]; }\n"
	        "service opt { ports = [465]; tls = optional; tls_cert = c.pem; tls_key = k.pem; "
	        "}\n"
	        "service req { ports = [587]; tls = required; tls_cert = [ c.pem ];\n"
	        "  tls_key = [ k.pem ]; }\n"
	        "service clr { ports = [2587]; tls = optional; tls_cert = c.pem; tls_key = k.pem;\n"
	        "  auth_in_clear = true; }\n");
	snap = must_load("tls.conf", policy);
	test_advertise();
	test_replies();
	test_discard();
	test_after();
	test_auth_forgotten();
	pol_snapshot_free(snap);
	return done_testing();
}
