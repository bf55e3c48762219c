/* fuzz_smtp - the SMTP engine on arbitrary client bytes, cut anywhere, with a fake relay
 *
 * The input is the client's byte stream (from the front) and the
 * decisions (from the back, see fuzz.h): the local port and the client
 * address, the output buffer's size, where the stream is cut into
 * segments, when time passes, which policy snapshot is live (they change
 * under the session as live pushes do), what the relay answers and when
 * a chunk allocation fails. The fake relay plays dataplane/relay.c's
 * part: it answers RCPT and DATA, reads the message body itself with the
 * real DATA scanner (relay_ds_scan) and answers its end. A fake AUTH
 * checker takes the credentials of AUTH PLAIN and LOGIN exchanges and
 * answers with the result a decision picks, at once or later (the
 * client's next bytes wait in "TCP" meanwhile), or cannot take them; a
 * fake TLS start says yes or no to STARTTLS, and a decision ends the
 * handshake (smtp_tls_ready), the engine's side of dataplane/tls. The
 * policy is the unit tests' (smtp_test_policy.h) with TLS services added.
 *
 * Checked, besides ASan and UBSan on every access:
 * - the output is whole, well-formed reply lines ("DDD text" CRLF,
 *   multi-line replies keeping their code, no control bytes), never past
 *   the buffer; with a buffer of SMTP_OUT_ROOM each step gets exactly
 *   that much (the engine panics when a step needs more);
 * - one-step calls (open, timeout, relay reply) write <= SMTP_OUT_ROOM;
 * - no input is read while the relay has the word (WAIT, DATA);
 *   progress is made whenever output room and input are there;
 * - the end of a message is answered 2xx only with the relay's own 2xx,
 *   and the body starts only after the relay's 3xx to DATA;
 * - the relay is asked RCPT only in a transaction and DATA only with a
 *   recipient; it hears close once when it holds the session;
 * - at most 4 chunks held (line, HELO, sender, login), none after close;
 *   every final reply counted;
 * - a timeout at the deadline always ends the session; log lines are
 *   single printable lines;
 * - AUTH: credentials reach the checker only under TLS or on a service
 *   with auth_in_clear, and EHLO offers AUTH only then; 235 comes with the
 *   checker's OK and only then is the session authenticated; no input is
 *   read while the checker has the word; a check in flight when the
 *   session ends is cancelled;
 * - no relay before 235: a recipient outside the local domains reaches the
 *   relay only from an authenticated session or a lan / allow_clients
 *   client;
 * - STARTTLS: only on a TLS service; after its 220 the engine reads no
 *   byte until the handshake ends, then starts over (no HELO, no
 *   transaction, only the TLS flag);
 * - the tally (kept across runs, as an lcore keeps it across sessions and
 *   pushes) counts every decision under the session's service, its rule
 *   slots stay within bounds and every rule hit is a refusal or whitelisting
 *   or a relay permit.
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "relay_proto.h"
#include "smtp.h"
#include "smtp_tally.h"
#include "smtp_test_policy.h"

#define MAX_STEPS 20000 /* loop bound per input: a hang is a bug, not a slow input */

/* The unit tests' policy (tests/unit/smtp/smtp_test_policy.h) with services
 * that speak STARTTLS and AUTH only inside it, and a second policy with
 * other limits and without some of its services, for live pushes. */
static const char policy_a[] = SMTP_TEST_POLICY
        "service tls { ports = [465]; tls = optional; tls_cert = c.pem; tls_key = k.pem; }\n"
        "service tlsreq { ports = [466]; tls = required; require_auth = true;\n"
        "  tls_cert = c.pem; tls_key = k.pem; }\n"
        "service tlsclear { ports = [467]; tls = optional; auth_in_clear = true;\n"
        "  tls_cert = c.pem; tls_key = k.pem; }\n";

static const char policy_b[] =
        "hostname = \"a-much-longer-host-name-after-the-push.mx.test.example\";\n"
        "local_domains = [ \"local.example\" ];\n"
        "lan = [ \"10.0.0.0/8\" ];\n"
        "blacklist { senders = [ \"*@local.example\" ]; helo = [ \"/^[0-9]+$/\" ]; }\n"
        "service mx { ports = [25, 2525]; max_recipients = 1; max_errors = 2;\n"
        "  message_size_limit = 100; command_timeout = 1s; session_timeout = 5s;\n"
        "  banner = \"$hostname $hostname $hostname\"; }\n"
        "service small { ports = [26, 27]; delay_reject = true; require_auth = true; }\n";

static struct pol_snapshot *snaps[2];

/* the first 8 as before the TLS and AUTH services came (the corpus keeps its meaning) */
static const uint16_t ports[16] = {25, 2525, 587, 26,  27,  25,  25,  999,
                                   28, 29,   30,  465, 466, 467, 465, 29};
static const char *const clients[8] = {"203.0.113.5",     "10.1.2.3",   "198.51.100.9",
                                       "198.51.100.7",    "172.16.0.1", "2001:db8::5",
                                       "2001:db8:bad::1", "192.0.2.1"};
/* time steps, ms: around the services' timeouts */
static const uint64_t steps[16] = {0,     1,     9,     100,    999,    1000,   4999,    5001,
                                   10001, 59999, 60001, 299999, 300001, 600000, 3600000, 86400000};

/* ---- the environment: chunks, log ---- */

struct chunks {
	long live, gets, puts;
	bool fail_next;
};

static void *
chunk_get(void *arg)
{
	struct chunks *ck = arg;
	void *p;

	if (ck->fail_next) {
		ck->fail_next = false;
		return NULL;
	}
	p = malloc(SMTP_CHUNK_SIZE);
	if (p == NULL)
		abort();
	memset(p, 0xa5, SMTP_CHUNK_SIZE);
	ck->gets++;
	ck->live++;
	/* a partial line, the HELO name, the sender and the login (as test_robust) */
	fz_check(ck->live <= 4, "%ld chunks held", ck->live);
	return p;
}

static void
chunk_put(void *arg, void *chunk)
{
	struct chunks *ck = arg;

	fz_check(chunk != NULL && ck->live > 0, "a bad chunk put");
	ck->puts++;
	ck->live--;
	free(chunk);
}

static void
log_line(void *arg, const char *line, size_t len)
{
	(void)arg;
	fz_check(strnlen(line, len + 1) == len, "log line length");
	for (size_t i = 0; i < len; i++)
		fz_check((unsigned char)line[i] >= ' ' && line[i] != 0x7f,
		         "byte %02x in a log line: %.*s", (unsigned char)line[i], (int)len, line);
}

/* log_reject - a refusal logged as a record, as the gate logs it: the
 * engine's promise (at most SMTP_REC_MAX bytes) checked, the line made as
 * the control thread makes it and checked as any line */
static void
log_reject(void *arg, const struct iovec *parts, unsigned n)
{
	static char rec[SMTP_REC_MAX], line[POL_REPLY_MAX + 3 * POL_MAX_INPUT + 256];
	size_t len = 0;

	for (unsigned i = 0; i < n; i++) {
		fz_check(parts[i].iov_len <= sizeof(rec) - len, "a reject record over %d bytes",
		         SMTP_REC_MAX);
		memcpy(rec + len, parts[i].iov_base, parts[i].iov_len);
		len += parts[i].iov_len;
	}
	log_line(arg, line, smtp_reject_format(line, sizeof(line), rec, len));
}

/* ---- the fake relay ---- */

static bool relay_allowed(const struct smtp_session *ss, const char *rcpt);

enum owed { OWE_NONE, OWE_RCPT, OWE_DATA, OWE_EOD, OWE_BARE };

struct relay {
	int rcpt_rc, data_rc;
	enum owed owed;
	bool held; /* ss->relay is ours */
	bool too_big;
	struct relay_ds ds;
	int closes;
	struct smtp_session *ss;
};

static int
r_rcpt(void *arg, struct smtp_session *ss, const char *rcpt, size_t len)
{
	struct relay *r = arg;

	fz_check(ss == r->ss && ss->state == SMTP_S_MAIL && ss->sender != NULL,
	         "RCPT asked in state %u", ss->state);
	fz_check(r->owed == OWE_NONE, "RCPT asked while an answer is owed");
	fz_check(strlen(rcpt) == len && len < SMTP_LINE_MAX, "recipient of %zu", len);
	fz_check(relay_allowed(ss, rcpt), "relay to %s without AUTH from an untrusted client",
	         rcpt);
	if (r->rcpt_rc == 0) {
		r->owed = OWE_RCPT;
		r->held = true;
		ss->relay = r;
	}
	return r->rcpt_rc;
}

static int
r_data(void *arg, struct smtp_session *ss)
{
	struct relay *r = arg;

	fz_check(ss->state == SMTP_S_MAIL && ss->nrcpt > 0, "DATA asked in state %u, %u rcpts",
	         ss->state, ss->nrcpt);
	fz_check(r->owed == OWE_NONE, "DATA asked while an answer is owed");
	if (r->data_rc == 0) {
		r->owed = OWE_DATA;
		r->held = true;
		ss->relay = r;
	}
	return r->data_rc;
}

static void
r_reset(void *arg, struct smtp_session *ss)
{
	struct relay *r = arg;

	(void)ss;
	fz_check(r->owed == OWE_NONE, "reset while an answer is owed");
	r->too_big = false;
}

static void
r_close(void *arg, struct smtp_session *ss)
{
	struct relay *r = arg;

	fz_check(r->held && ss->relay == r, "close of a session the relay does not hold");
	r->closes++;
	r->held = false;
	r->owed = OWE_NONE;
	ss->relay = NULL;
}

/* ---- one run ---- */

struct run {
	struct fz_in in;
	struct smtp_env env;
	struct smtp_stats st;
	struct chunks ck;
	struct smtp_relay ops;
	struct relay relay;
	struct smtp_session ss;
	struct smtp_out o;
	const struct pol_snapshot *snap;
	uint64_t now;
	const struct pol_snapshot *last_snap; /* of the last call: the deadline is by its service */
	bool closing, hold;
	bool touched;  /* smtp_touch() since the last timeout */
	size_t finals; /* final reply lines seen in the output */
	/* the fake checker: answers from decision bytes */
	struct smtp_auth aops;
	int check_rc;    /* what check() returns: 0 asked, -1 cannot now */
	bool auth_owed;  /* asked, not answered: the session waits */
	int auth_checks; /* credentials handed to the checker */
	/* STARTTLS, the engine's side: the dataplane's TLS is not here */
	struct smtp_tls tops;
	int tls_rc;          /* what start() returns */
	const uint8_t *rest; /* client bytes held back while the checker thinks */
	size_t rest_len;
};

/* ---- the fake checker and TLS start ---- */

/* trusted - the client may relay without AUTH under snapshot s: lan or
 * relay.allow_clients of the policy (policy_a: 10/8, 2001:db8:1::/48,
 * 172.16/12; policy_b: 10/8) */
static bool
trusted(const struct run *r, const struct pol_snapshot *s)
{
	const struct cidr *c = &r->ss.client;

	if (c->family == 4 && c->addr[0] == 10)
		return true;
	if (s != snaps[0])
		return false;
	return (c->family == 4 && c->addr[0] == 172 && (c->addr[1] & 0xf0) == 16) ||
	       (c->family == 6 && memcmp(c->addr, "\x20\x01\x0d\xb8\x00\x01", 6) == 0);
}

/* local_rcpt - a recipient that may be local to the policy (a loose test: a
 * local domain's name anywhere in it, or postmaster); anything else is a
 * relay, which needs a trusted client or AUTH */
static bool
local_rcpt(const char *rcpt)
{
	return strcasestr(rcpt, "local.example") != NULL ||
	       strcasestr(rcpt, "sub.example") != NULL || strncasecmp(rcpt, "postmaster", 10) == 0;
}

/* clear_ok - the session's service lets AUTH run without TLS */
static bool
clear_ok(const struct run *r)
{
	const struct pol_service *svc =
	        r->snap != NULL ? pol_service_by_port(r->snap, r->ss.port) : NULL;

	return svc != NULL && svc->auth_in_clear;
}

/* the run under way, for the relay's check (one run at a time) */
static struct run *cur;

static bool
relay_allowed(const struct smtp_session *ss, const char *rcpt)
{
	return local_rcpt(rcpt) || (ss->flags & SMTP_F_AUTH) || trusted(cur, cur->snap);
}

static int
a_check(void *arg, struct smtp_session *ss, enum smtp_mech mech, const char *cred, size_t len)
{
	struct run *r = arg;

	fz_check(ss == &r->ss && !r->auth_owed, "a check while one is owed");
	fz_check(!(ss->flags & SMTP_F_AUTH), "a check of an authenticated session");
	fz_check((ss->flags & SMTP_F_TLS) || clear_ok(r),
	         "credentials taken in clear on a service without auth_in_clear");
	fz_check(mech == SMTP_M_PLAIN || mech == SMTP_M_LOGIN, "mechanism %d", mech);
	fz_check(len <= 1 + SMTP_AUTH_USER_MAX + 1 + SMTP_AUTH_CRED_MAX &&
	                 memchr(cred, '\0', len) != NULL,
	         "credentials of %zu bytes, not authzid NUL authcid NUL passwd", len);
	r->auth_checks++;
	if (r->check_rc == 0)
		r->auth_owed = true;
	return r->check_rc;
}

static void
a_cancel(void *arg, struct smtp_session *ss)
{
	struct run *r = arg;

	fz_check(ss == &r->ss && r->auth_owed, "cancel of a check not in flight");
	r->auth_owed = false;
}

static int
t_start(void *arg, struct smtp_session *ss, const struct pol_snapshot *snap)
{
	struct run *r = arg;

	fz_check(ss == &r->ss && !(ss->flags & SMTP_F_TLS), "STARTTLS inside TLS");
	fz_check(snap != NULL && pol_service_by_port(snap, ss->port) != NULL &&
	                 pol_service_by_port(snap, ss->port)->tls != POL_TLS_OFF,
	         "TLS started on a service without it");
	return r->tls_rc;
}

/* wellformed - whole reply lines; counts the final ones */
static void
wellformed(struct run *r, const char *s, size_t len)
{
	size_t i = 0;
	char cont[4] = "";

	while (i < len) {
		const char *line = s + i, *end = memchr(line, '\n', len - i);
		size_t n;

		fz_check(end != NULL, "output does not end in LF: %.*s", (int)(len - i), line);
		n = (size_t)(end - line);
		fz_check(n >= 4 && line[n - 1] == '\r', "short line or LF without CR: %.*s", (int)n,
		         line);
		fz_check(line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
		                 line[2] >= '0' && line[2] <= '9' &&
		                 (line[3] == ' ' || line[3] == '-' || line[3] == '\r'),
		         "no reply code: %.*s", (int)n, line);
		fz_check(cont[0] == '\0' || memcmp(cont, line, 3) == 0,
		         "multi-line reply changes its code");
		for (size_t k = 4; k + 1 < n; k++)
			fz_check((unsigned char)line[k] >= ' ' && line[k] != 0x7f,
			         "control byte in a reply: %.*s", (int)n, line);
		fz_check(n - 1 <= 4 + POL_REPLY_MAX, "reply line of %zu", n);
		if (line[3] == '-') {
			memcpy(cont, line, 3);
		} else {
			cont[0] = '\0';
			r->finals++;
		}
		i += n + 1;
	}
	fz_check(cont[0] == '\0', "unfinished multi-line reply");
}

static void
drain(struct run *r)
{
	static int trace = -1;

	if (trace < 0)
		trace = getenv("FUZZ_TRACE") != NULL;
	fz_check(r->o.len <= r->o.cap, "output %zu of %zu", r->o.len, r->o.cap);
	if (trace) /* FUZZ_TRACE=1: the replies, to see where an input goes */
		fprintf(stderr, "%.*s", (int)r->o.len, r->o.buf);
	wellformed(r, r->o.buf, r->o.len);
	r->o.len = 0;
}

/* has_2xx - whether output from byte from on has a 2xx line */
static bool
has_2xx(const struct run *r, size_t from)
{
	for (size_t i = from; i < r->o.len; i++)
		if ((i == from || r->o.buf[i - 1] == '\n') && r->o.buf[i] == '2')
			return true;
	return false;
}

/* auth_listed - whether output from byte from on has an EHLO line offering AUTH */
static bool
auth_listed(const struct run *r, size_t from)
{
	for (size_t i = from; i + 8 <= r->o.len; i++)
		if ((i == from || r->o.buf[i - 1] == '\n') &&
		    (memcmp(r->o.buf + i, "250-AUTH", 8) == 0 ||
		     memcmp(r->o.buf + i, "250 AUTH", 8) == 0))
			return true;
	return false;
}

/* after - common checks after an engine call; relay: it was smtp_relay_reply() */
static void
after(struct run *r, enum smtp_action a, uint8_t before, size_t len0, bool one_step, bool relay)
{
	fz_check(a == SMTP_CONTINUE || a == SMTP_CLOSE, "action %d", a);
	fz_check((a == SMTP_CLOSE) == (r->ss.state == SMTP_S_CLOSING), "action %d in state %u", a,
	         r->ss.state);
	fz_check(r->o.len <= r->o.cap, "output %zu of %zu", r->o.len, r->o.cap);
	if (one_step)
		fz_check(r->o.len - len0 <= SMTP_OUT_ROOM, "one step wrote %zu", r->o.len - len0);
	if (!relay) {
		fz_check(before != SMTP_S_DATA || !has_2xx(r, len0),
		         "a 2xx during the message that is not the relay's");
		fz_check(r->ss.state != SMTP_S_DATA || before == SMTP_S_DATA,
		         "the message started without the relay's 3xx");
	}
	if (auth_listed(r, len0))
		fz_check(r->env.auth != NULL && ((r->ss.flags & SMTP_F_TLS) || clear_ok(r)),
		         "AUTH offered in clear on a service without auth_in_clear");
	r->last_snap = r->snap;
	if (a == SMTP_CLOSE)
		r->closing = true;
	if (!r->hold || r->o.cap - r->o.len < SMTP_OUT_ROOM)
		drain(r);
}

/* reply_text - what the relay answers, chosen by a decision byte */
static void
reply_text(struct run *r, enum owed owed, char *buf, size_t cap, bool *end)
{
	uint8_t d = fz_u8(&r->in);
	unsigned kind = d & 3, extra = (d >> 3) * 16;
	const char *base;
	size_t n;

	*end = (d >> 2) & 1;
	if (owed == OWE_BARE) {
		snprintf(buf, cap, "550 5.5.2 Error: bare <LF> received");
		*end = true;
		return;
	}
	if (owed == OWE_EOD && r->relay.too_big && kind == 0) {
		snprintf(buf, cap, "552 5.3.4 Error: message file too big");
		return;
	}
	switch (kind) {
	case 0:
		base = owed == OWE_RCPT   ? "250 2.1.5 Ok"
		       : owed == OWE_DATA ? "354 End data with <CR><LF>.<CR><LF>"
		                          : "250 2.0.0 Ok: queued as 4FUZZ";
		break;
	case 1:
		base = "451 4.3.0 Error: queue file write error";
		break;
	case 2:
		base = "550 5.1.1 <u@local.example>: Recipient address rejected: User unknown";
		break;
	default: /* what a broken backend may say: a 2xx to DATA, a 3xx to RCPT */
		base = owed == OWE_DATA ? "250 2.0.0 odd" : "354 odd";
		break;
	}
	n = (size_t)snprintf(buf, cap, "%s", base);
	while (extra-- > 0 && n + 1 < cap && n < RELAY_LINE_TEXT)
		buf[n++] = (char)('a' + extra % 26);
	buf[n] = '\0';
}

/* answer - the relay's owed answer */
static void
answer(struct run *r)
{
	enum owed owed = r->relay.owed;
	uint8_t before = r->ss.state;
	char text[RELAY_LINE_MAX];
	enum smtp_action a;
	size_t len0;
	bool end;

	reply_text(r, owed, text, sizeof(text), &end);
	if (r->o.cap - r->o.len < SMTP_OUT_ROOM)
		drain(r);
	len0 = r->o.len;
	r->relay.owed = OWE_NONE;
	a = smtp_relay_reply(&r->ss, &r->env, r->snap, r->now, text, end, &r->o);
	if (r->snap != NULL && pol_service_by_port(r->snap, r->ss.port) != NULL) {
		/* the relay's 3xx to DATA starts the body with the engine's own 354 */
		bool body = owed == OWE_DATA && text[0] == '3' && !end;
		const char *want = body ? "354 End data with <CR><LF>.<CR><LF>" : text;
		size_t wl = strlen(want);

		fz_check(r->o.len - len0 >= wl + 2 && memcmp(r->o.buf + len0, want, wl) == 0 &&
		                 memcmp(r->o.buf + len0 + wl, "\r\n", 2) == 0,
		         "the relay's answer \"%s\" is not the reply", text);
		if (text[0] != '2')
			fz_check(!has_2xx(r, len0), "a 2xx after the relay's \"%s\"", text);
		fz_check((r->ss.state == SMTP_S_DATA) == body, "state %u after \"%s\"", r->ss.state,
		         text);
		if (body) {
			relay_ds_init(&r->relay.ds, 1000);
			r->relay.too_big = false;
		}
	}
	if (before == SMTP_S_DATA)
		fz_check(r->ss.state != SMTP_S_DATA, "still in the message after its end's reply");
	after(r, a, before, len0, true, true);
}

/* body - the relay reads message bytes itself; how many it took */
static size_t
body(struct run *r, const uint8_t *p, size_t len)
{
	struct relay_ds_step st;
	size_t taken = 0;

	smtp_touch(&r->ss, r->now);
	r->touched = true;
	while (taken < len) {
		enum relay_ds_ev ev = relay_ds_scan(&r->relay.ds, p + taken, len - taken, &st);

		taken += st.used;
		switch (ev) {
		case RELAY_DS_MORE:
			break;
		case RELAY_DS_END:
			r->relay.owed = OWE_EOD;
			return taken;
		case RELAY_DS_TOO_BIG:
			r->relay.too_big = true;
			break;
		default:
			r->relay.owed = OWE_BARE;
			return len;
		}
	}
	return taken;
}

/* auth_answer - the checker's answer, chosen by a decision byte */
static void
auth_answer(struct run *r)
{
	static const char *const users[4] = {NULL, "", "alice@local.example",
	                                     "a-login-name-that-the-checker-made-up@example.net"};
	uint8_t d = fz_u8(&r->in), before = r->ss.state;
	enum smtp_auth_result res = (enum smtp_auth_result)(d % SMTP_AUTH_RESULTS);
	enum smtp_action a;
	size_t len0;

	fz_check(before == SMTP_S_AUTH_WAIT, "an answer owed in state %u", before);
	if (r->o.cap - r->o.len < SMTP_OUT_ROOM)
		drain(r);
	len0 = r->o.len;
	r->auth_owed = false;
	a = smtp_auth_reply(&r->ss, &r->env, r->snap, r->now, res, users[(d >> 2) & 3], &r->o);
	if (r->snap != NULL && pol_service_by_port(r->snap, r->ss.port) != NULL) {
		bool ok = res == SMTP_AUTH_OK;

		fz_check((r->o.len >= len0 + 4 && memcmp(r->o.buf + len0, "235 ", 4) == 0) == ok,
		         "answer %d: reply %.*s", res, (int)(r->o.len - len0), r->o.buf + len0);
		fz_check(((r->ss.flags & SMTP_F_AUTH) != 0) == ok, "answer %d: flags %x", res,
		         r->ss.flags);
	}
	after(r, a, before, len0, true, false);
}

static void feed(struct run *r, const uint8_t *p, size_t len);

/* late_answer - the checker answers after a while; then the bytes TCP held */
static void
late_answer(struct run *r)
{
	const uint8_t *p = r->rest;
	size_t len = r->rest_len;

	auth_answer(r);
	r->rest = NULL;
	r->rest_len = 0;
	feed(r, p, len);
}

/* feed - one segment of the stream, offered until taken or the session ends */
static void
feed(struct run *r, const uint8_t *p, size_t len)
{
	unsigned guard = 0;

	while (len > 0 && !r->closing) {
		uint8_t before = r->ss.state;
		enum smtp_action a;
		size_t used = (size_t)-1, len0 = r->o.len;

		fz_check(++guard < MAX_STEPS, "no progress on a segment");
		if (before == SMTP_S_DATA && r->relay.owed == OWE_NONE) {
			size_t n = body(r, p, len);

			p += n;
			len -= n;
			continue;
		}
		/* as the gate's glue: the predicted segment (one whole command
		 * line) on its own path, anything else through smtp_input() */
		a = smtp_input_one(&r->ss, &r->env, r->snap, r->now, p, len, &used, &r->o);
		fz_check(used <= len, "consumed %zu of %zu", used, len);
		if (before == SMTP_S_WAIT || before == SMTP_S_DATA || before == SMTP_S_AUTH_WAIT)
			fz_check(used == 0 && r->o.len == len0,
			         "input read while the relay or the checker has the word");
		/* after the 220 to STARTTLS the engine reads nothing: the bytes are the
		 * handshake's (the dataplane's TLS takes them; here they are dropped) */
		if (before == SMTP_S_TLS)
			fz_check(used == 0 && r->o.len == len0 && r->ss.state == SMTP_S_TLS,
			         "input read during the TLS handshake: %zu bytes, state %u", used,
			         r->ss.state);
		p += used;
		len -= used;
		if (used == 0 && a == SMTP_CONTINUE && r->relay.owed == OWE_NONE &&
		    before != SMTP_S_DATA && before != SMTP_S_TLS && !r->auth_owed)
			fz_check(len0 > 0 || r->o.len > 0 || r->o.cap - r->o.len < SMTP_OUT_ROOM,
			         "no progress with an empty output buffer in state %u", before);
		after(r, a, before, len0, r->o.cap == SMTP_OUT_ROOM, false);
		if (used == 0 && r->o.len > 0)
			drain(r);
		if (r->ss.state == SMTP_S_TLS && !r->closing)
			return; /* the rest is the TLS layer's */
		if (r->relay.owed != OWE_NONE && !r->closing)
			answer(r);
		if (r->auth_owed && !r->closing) {
			if (fz_u8(&r->in) & 1) {
				/* the answer comes later; TCP holds the rest meanwhile */
				r->rest = p;
				r->rest_len = len;
				return;
			}
			auth_answer(r);
		}
	}
}

/* timeout - time passes; the timer fires when due */
static void
timeout(struct run *r, uint64_t ms)
{
	uint64_t due = smtp_deadline(&r->ss);
	uint8_t before = r->ss.state;
	enum smtp_action a;
	size_t len0;

	r->now += ms;
	if (r->o.cap - r->o.len < SMTP_OUT_ROOM)
		drain(r);
	len0 = r->o.len;
	a = smtp_timeout(&r->ss, &r->env, r->snap, r->now, &r->o);
	/* the deadline is by the service of the last call's snapshot */
	if (r->snap == r->last_snap && r->snap != NULL &&
	    pol_service_by_port(r->snap, r->ss.port) != NULL && r->now < due)
		fz_check(a == SMTP_CONTINUE && r->o.len == len0, "timeout before the deadline");
	/* at or past it, the session ends, or the deadline moved on (message
	 * bytes touched the session since: the timer looks early and re-arms;
	 * or greet_wait is over: the banner goes out, the command timeout starts) */
	if (r->snap == r->last_snap && r->now >= due && a == SMTP_CONTINUE)
		fz_check(
		        smtp_deadline(&r->ss) > r->now &&
		                (r->touched ||
		                 (before == SMTP_S_PREGREET && r->ss.state == SMTP_S_GREETED &&
		                  r->o.len >= len0 + 4 && memcmp(r->o.buf + len0, "220 ", 4) == 0)),
		        "no timeout at the deadline: state %u, now %llu, due %llu", r->ss.state,
		        (unsigned long long)r->now, (unsigned long long)due);
	/* a timer that goes on is re-armed later, or it would spin */
	fz_check(a == SMTP_CLOSE || smtp_deadline(&r->ss) > r->now,
	         "the timer goes on with its deadline %llu not after now %llu",
	         (unsigned long long)smtp_deadline(&r->ss), (unsigned long long)r->now);
	r->touched = false;
	after(r, a, before, len0, true, false);
}

/* tls_ready - the handshake after STARTTLS is done: the session starts over inside TLS */
static void
tls_ready(struct run *r)
{
	smtp_tls_ready(&r->ss, r->snap, r->now);
	fz_check(r->ss.state == SMTP_S_GREETED && r->ss.flags == SMTP_F_TLS && r->ss.helo == NULL &&
	                 r->ss.sender == NULL && r->ss.nrcpt == 0,
	         "after the handshake: state %u, flags %x", r->ss.state, r->ss.flags);
	r->last_snap = r->snap;
}

/* decide - the next decision: a segment, time, a push, the relay's mood, the output */
static void
decide(struct run *r)
{
	static const int rcpt_rcs[3] = {0, 1, -1}; /* asked, no backend, cannot now */
	uint8_t d = fz_u8(&r->in);
	size_t n = 0, got;
	const uint8_t *p;

	switch (d & 7) {
	case 0:
		n = (d >> 3) == 0 ? r->in.len : (d >> 3);
		break;
	case 1:
		n = ((d >> 3) + 1u) * 16;
		break;
	case 2:
		n = ((d >> 3) + 1u) * 128;
		break;
	case 3:
		n = 1;
		break;
	case 4:
		timeout(r, steps[(d >> 3) & 15]);
		return;
	case 5: {
		unsigned k = (d >> 3) % 3;

		r->snap = k < 2 ? snaps[k] : NULL;
		return;
	}
	case 6:
		r->relay.rcpt_rc = rcpt_rcs[(d >> 3) % 3];
		r->relay.data_rc = (d >> 5) & 1 ? -1 : 0;
		return;
	default:
		if ((d >> 3) & 1)
			r->hold = !r->hold;
		if ((d >> 4) & 1)
			r->ck.fail_next = true;
		switch (d >> 5) {
		case 1: /* the TLS handshake completed (the dataplane's part) */
			if (r->ss.state == SMTP_S_TLS)
				tls_ready(r);
			break;
		case 2:
		case 3:
			r->tls_rc = (d >> 5) == 2 ? -1 : 0;
			break;
		case 4:
		case 5:
			r->check_rc = (d >> 5) == 4 ? -1 : 0;
			break;
		case 6:
			if (r->auth_owed && !r->closing)
				late_answer(r);
			break;
		default:
			break;
		}
		return;
	}
	p = fz_take(&r->in, n, &got);
	if (r->auth_owed && !r->closing) {
		size_t used = 1, len0 = r->o.len;
		enum smtp_action a;

		if (r->o.cap - r->o.len < SMTP_OUT_ROOM)
			drain(r);
		len0 = r->o.len;
		a = smtp_input(&r->ss, &r->env, r->snap, r->now, p, got, &used, &r->o);
		fz_check(a == SMTP_CONTINUE && used == 0 && r->o.len == len0,
		         "input read while the checker has the word");
		/* TCP holds it, after what it holds already */
		fz_check(r->rest == NULL || r->rest + r->rest_len == p, "held bytes out of order");
		r->rest_len += got;
		if (r->rest == NULL)
			r->rest = p;
		return;
	}
	feed(r, p, got);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* mem_read - the pol_source of the two built-in policies */
static char *
mem_read(void *arg, const char *path, size_t *len)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nnot parsed here\n"
	                          "-----END CERTIFICATE-----\n";
	const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	const char *text = strcmp(base, "b.conf") == 0    ? policy_b
	                   : strstr(base, ".pem") != NULL ? pem
	                                                  : policy_a;

	(void)arg;
	*len = strlen(text);
	return strdup(text);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct pol_source src = {.read = mem_read};
	static const char *const names[2] = {"a.conf", "b.conf"};

	(void)argc;
	(void)argv;
	for (int i = 0; i < 2; i++) {
		struct pol_errs errs = {0};
		struct pol_model *m = pol_load(names[i], &src, &errs);

		snaps[i] = m != NULL ? pol_compile(m, &errs) : NULL;
		if (snaps[i] == NULL) {
			pol_errs_print(&errs, stderr);
			abort();
		}
	}
	return 0;
}

/* tally_sum - every decision the tally holds: by service, and by rule */
static void
tally_sum(const struct smtp_tally *t, uint64_t *decisions, uint64_t *hits)
{
	*decisions = *hits = 0;
	fz_check(t->nsvc <= SMTP_TALLY_SERVICES && t->nrules <= SMTP_TALLY_RULES,
	         "tally slots %u services, %u rules", t->nsvc, t->nrules);
	for (uint32_t i = 0; i < t->nsvc; i++)
		for (unsigned k = 0; k < POL_R_COUNT; k++)
			*decisions += t->svc[i].verdicts[k];
	for (uint32_t i = 0; i < t->nrules; i++) {
		fz_check(t->rule[i].list < POL_L_COUNT && t->rule[i].hits > 0, "rule slot %u", i);
		*hits += t->rule[i].hits;
	}
	for (unsigned l = 0; l < POL_L_COUNT; l++)
		*hits += t->untracked[l];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	static struct smtp_tally tally; /* across runs, as an lcore's */
	uint64_t dec0, hits0, dec1, hits1, decided = 0, ruled;
	struct cidr client;
	uint8_t d0, d1;
	enum smtp_action a;
	unsigned guard = 0;

	memset(&r, 0, sizeof(r));
	fz_init(&r.in, data, size);
	r.env.chunks = (struct smtp_chunks){chunk_get, chunk_put, &r.ck};
	r.env.log = log_line;
	/* refusals as records (the gate's way) for inputs of odd length, lines
	 * formatted by the engine for the others: no decision byte spent, so
	 * the corpus keeps its meaning */
	r.env.log_reject = size % 2 != 0 ? log_reject : NULL;
	r.env.stats = &r.st;
	r.env.tally = &tally;
	tally_sum(&tally, &dec0, &hits0);
	r.ops = (struct smtp_relay){r_rcpt, r_data, r_reset, r_close, &r.relay};
	r.env.relay = &r.ops;
	r.relay.ss = &r.ss;
	r.aops = (struct smtp_auth){a_check, a_cancel, &r};
	r.env.auth = &r.aops;
	r.tops = (struct smtp_tls){t_start, &r};
	r.env.tls = &r.tops;
	cur = &r;
	r.snap = snaps[0];
	r.now = 1000;
	d0 = fz_u8(&r.in);
	d1 = fz_u8(&r.in);
	r.o.cap = d1 == 0 ? 4096 : SMTP_OUT_ROOM + (d1 - 1u) * 29u;
	r.o.buf = malloc(r.o.cap); /* exactly: ASan sees any write past it */
	if (cidr_addr_parse(clients[(d0 >> 3) & 7], &client) != 0)
		abort();
	a = smtp_open(&r.ss, &r.env, r.snap, r.now, &client, ports[(d0 & 7) | (d0 >> 7) << 3],
	              &r.o);
	after(&r, a, SMTP_S_FREE, 0, true, false);
	while (!r.closing && r.in.len > 0) {
		fz_check(++guard < MAX_STEPS, "the run does not end");
		decide(&r);
	}
	if (!r.closing && r.relay.owed != OWE_NONE)
		answer(&r);
	if (!r.closing && r.auth_owed)
		late_answer(&r);
	/* the last word: the deadline ends any session */
	if (!r.closing) {
		uint64_t due = smtp_deadline(&r.ss);

		fz_check(due != UINT64_MAX, "an open session without a deadline");
		r.snap = r.last_snap;
		timeout(&r, due > r.now ? due - r.now : 0);
		if (!r.closing) { /* the deadline moved on: the next one ends it */
			due = smtp_deadline(&r.ss);
			timeout(&r, due > r.now ? due - r.now : 0);
		}
		fz_check(r.closing, "the deadline did not end the session");
	}
	drain(&r);
	smtp_close(&r.ss, &r.env);
	fz_check(r.ss.state == SMTP_S_FREE, "state after close");
	fz_check(!r.auth_owed, "a check still in flight after close: not cancelled");
	fz_check(r.ck.live == 0 && r.ck.gets == r.ck.puts, "%ld chunks left after close",
	         r.ck.live);
	fz_check(r.st.sessions_opened == 1 && r.st.sessions_closed == 1, "session counts");
	fz_check(!r.relay.held && r.relay.closes <= 1, "relay: held %d, closes %d", r.relay.held,
	         r.relay.closes);
	fz_check(r.st.replies[2] + r.st.replies[3] + r.st.replies[4] + r.st.replies[5] == r.finals,
	         "%zu final replies written, %llu counted", r.finals,
	         (unsigned long long)(r.st.replies[2] + r.st.replies[3] + r.st.replies[4] +
	                              r.st.replies[5]));
	tally_sum(&tally, &dec1, &hits1);
	for (unsigned k = 0; k < POL_R_COUNT; k++)
		decided += r.st.verdicts[k];
	/* every refusal but relay_denied and auth_required, and every whitelisting, names a rule */
	ruled = decided - r.st.verdicts[POL_R_ACCEPT] - r.st.verdicts[POL_R_RELAY_DENIED] -
	        r.st.verdicts[POL_R_AUTH_REQUIRED];
	fz_check(dec1 - dec0 == decided, "tally: %llu decisions by service, %llu made",
	         (unsigned long long)(dec1 - dec0), (unsigned long long)decided);
	fz_check(hits1 - hits0 >= ruled &&
	                 hits1 - hits0 <= ruled + r.st.verdicts[POL_R_ACCEPT] +
	                                          r.st.verdicts[POL_R_WHITELISTED],
	         "tally: %llu rule hits for %llu decisions by a rule",
	         (unsigned long long)(hits1 - hits0), (unsigned long long)ruled);
	free(r.o.buf);
	return 0;
}
