/* fuzz_smtp - the SMTP engine on arbitrary client bytes, cut anywhere, with a fake relay
 *
 * The input is the client's byte stream (from the front) and the
 * decisions (from the back, see fuzz.h): the local port and the client
 * address, the output buffer's size, where the stream is cut into
 * segments, when time passes, which policy snapshot is live (they change
 * under the session as live pushes do), what the relay answers and when
 * a chunk allocation fails. The fake relay plays dataplane/relay.c's
 * part: it answers RCPT and DATA, reads the message body itself with the
 * real DATA scanner (relay_ds_scan) and answers its end.
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
 * - at most 3 chunks held, none after close; every final reply counted;
 * - a timeout at the deadline always ends the session; log lines are
 *   single printable lines;
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

#define MAX_STEPS 20000 /* loop bound per input: a hang is a bug, not a slow input */

/* The unit tests' policy (tests/unit/smtp/harness.h), and a second one
 * with other limits and without some of its services, for live pushes. */
static const char policy_a[] =
        "hostname = \"mx.test.example\";\n"
        "local_domains = [ \"local.example\", \".sub.example\" ];\n"
        "local_hosts = [ \"gw.local.example\" ];\n"
        "local_addresses = [ \"192.0.2.1\", \"2001:db8::1\" ];\n"
        "lan = [ \"10.0.0.0/8\", \"2001:db8:1::/48\" ];\n"
        "relay { allow_clients = [ \"172.16.0.0/12\" ]; }\n"
        "blacklist {\n"
        "  clients = [ \"198.51.100.0/24\", \"2001:db8:bad::/48\" ];\n"
        "  helo = [ \"bad.helo.example\", \"*.dyn.example\" ];\n"
        "  senders = [ \"spammer@bad.example\", \"*@glob.example\", \"/^[a-z]{2}[0-9]{6,}@/\" ];\n"
        "  recipients = [ \"trap@local.example\" ];\n"
        "}\n"
        "whitelist {\n"
        "  clients = [ \"198.51.100.7\" ];\n"
        "  helo = [ \"good.helo.example\" ];\n"
        "  senders = [ \"friend@bad.example\" ];\n"
        "  recipients = [ \"postmaster@local.example\" ];\n"
        "}\n"
        "service mx { ports = [25]; reject_remote_local_helo = true;\n"
        "  reject_nonlocal_senders_claiming_local = true; }\n"
        "service mxdelay { ports = [2525]; reject_remote_local_helo = true;\n"
        "  reject_nonlocal_senders_claiming_local = true; delay_reject = true;\n"
        "  banner = \"$hostname ESMTP delayed\"; }\n"
        "service sub { ports = [587]; require_auth = true; }\n"
        "service small { ports = [26]; max_recipients = 3; message_size_limit = 1000;\n"
        "  max_errors = 5; command_timeout = 10s; session_timeout = 60s; }\n"
        "service nolimit { ports = [27]; message_size_limit = 0; }\n";

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

static const uint16_t ports[8] = {25, 2525, 587, 26, 27, 25, 25, 999};
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
	fz_check(ck->live <= 3, "%ld chunks held", ck->live);
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

/* ---- the fake relay ---- */

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
};

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
	fz_check(r->o.len <= r->o.cap, "output %zu of %zu", r->o.len, r->o.cap);
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
		a = smtp_input(&r->ss, &r->env, r->snap, r->now, p, len, &used, &r->o);
		fz_check(used <= len, "consumed %zu of %zu", used, len);
		if (before == SMTP_S_WAIT || before == SMTP_S_DATA)
			fz_check(used == 0 && r->o.len == len0,
			         "input read while the relay has the word");
		p += used;
		len -= used;
		if (used == 0 && a == SMTP_CONTINUE && r->relay.owed == OWE_NONE &&
		    before != SMTP_S_DATA)
			fz_check(len0 > 0 || r->o.len > 0 || r->o.cap - r->o.len < SMTP_OUT_ROOM,
			         "no progress with an empty output buffer in state %u", before);
		after(r, a, before, len0, r->o.cap == SMTP_OUT_ROOM, false);
		if (used == 0 && r->o.len > 0)
			drain(r);
		if (r->relay.owed != OWE_NONE && !r->closing)
			answer(r);
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
	 * bytes touched the session since: the timer looks early and re-arms) */
	if (r->snap == r->last_snap && r->now >= due && a == SMTP_CONTINUE)
		fz_check(smtp_deadline(&r->ss) > r->now && r->touched,
		         "no timeout at the deadline: state %u, now %llu, due %llu", r->ss.state,
		         (unsigned long long)r->now, (unsigned long long)due);
	/* a timer that goes on is re-armed later, or it would spin */
	fz_check(a == SMTP_CLOSE || smtp_deadline(&r->ss) > r->now,
	         "the timer goes on with its deadline %llu not after now %llu",
	         (unsigned long long)smtp_deadline(&r->ss), (unsigned long long)r->now);
	r->touched = false;
	after(r, a, before, len0, true, false);
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
		return;
	}
	p = fz_take(&r->in, n, &got);
	feed(r, p, got);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* mem_read - the pol_source of the two built-in policies */
static char *
mem_read(void *arg, const char *path, size_t *len)
{
	const char *text = strcmp(path, "b.conf") == 0 ? policy_b : policy_a;

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
	r.env.stats = &r.st;
	r.env.tally = &tally;
	tally_sum(&tally, &dec0, &hits0);
	r.ops = (struct smtp_relay){r_rcpt, r_data, r_reset, r_close, &r.relay};
	r.env.relay = &r.ops;
	r.relay.ss = &r.ss;
	r.snap = snaps[0];
	r.now = 1000;
	d0 = fz_u8(&r.in);
	d1 = fz_u8(&r.in);
	r.o.cap = d1 == 0 ? 4096 : SMTP_OUT_ROOM + (d1 - 1u) * 29u;
	r.o.buf = malloc(r.o.cap); /* exactly: ASan sees any write past it */
	if (cidr_addr_parse(clients[(d0 >> 3) & 7], &client) != 0)
		abort();
	a = smtp_open(&r.ss, &r.env, r.snap, r.now, &client, ports[d0 & 7], &r.o);
	after(&r, a, SMTP_S_FREE, 0, true, false);
	while (!r.closing && r.in.len > 0) {
		fz_check(++guard < MAX_STEPS, "the run does not end");
		decide(&r);
	}
	if (!r.closing && r.relay.owed != OWE_NONE)
		answer(&r);
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
