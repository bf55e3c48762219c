/* sgb_smtp - the SMTP client sessions of the load generator
 *
 * A session is one TCP connection that plays its kind (enum sgb_kind):
 * greeting, EHLO (or HELO), MAIL, RCPT, for accepted sessions DATA and a
 * body, then QUIT, one command at a time as smtp-source does without
 * pipelining. The first reply that is not 2xx/3xx ends the transaction: the
 * client says QUIT, waits for 221 and closes once the gate has closed too.
 * The session's time runs from tcp_connect() to the flow's end.
 *
 * Replies are read by a small state machine that keeps three digits and the
 * continuation mark of the current line, never the line: the gate is the
 * one under test, and a reply that is not SMTP aborts the session (garbled).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>

#include "sgb.h"

#define SGB_LINE      78 /* body line: 76 characters and CRLF */
#define SGB_BODY_SPAN (SGB_LINE * 105)

/* One session; lives in g->sess, indexed by its id. */
struct sgb_sess {
	struct tcp_flow *f;   /* NULL: free */
	uint64_t t0;          /* TSC at tcp_connect() */
	uint64_t n;           /* session number: {n} in the templates */
	uint32_t body_off;    /* body bytes queued so far */
	uint16_t code;        /* digits of the current reply line */
	uint8_t pos;          /* characters of the current line seen (capped at 4) */
	uint8_t cont;         /* the line is a continuation ("250-") */
	uint8_t kind;         /* enum sgb_kind */
	uint8_t stage;        /* enum sgb_stage: the reply awaited */
	uint8_t last_stage;   /* the stage of the last reply before QUIT */
	uint8_t last_class;   /* its class (2..5), 0: none yet */
	uint8_t garbled;      /* a reply that is not SMTP came */
	uint8_t timed_out;    /* the session timeout aborted it */
	uint8_t body_pending; /* the body (or its end) did not all fit yet */
};

const char *const sgb_kind_name[SGB_K_COUNT] = {"connect", "helo",   "mail",
                                                "rcpt",    "accept", "idle"};
const char *const sgb_stage_name[SGB_S_COUNT] = {"banner", "helo", "mail", "rcpt",
                                                 "data",   "dot",  "quit"};
const char *const sgb_end_name[SGB_E_COUNT] = {"done",    "timeout",     "reset",
                                               "refused", "tcp_timeout", "tcp_nomem",
                                               "no_flow", "garbled",     "unfinished"};

static char body_span[SGB_BODY_SPAN];

/* tmpl_put - expand a template for session n into buf; its length */
static size_t
tmpl_put(char *buf, const struct sgb_tmpl *t, uint64_t n)
{
	size_t len = t->npre;

	memcpy(buf, t->pre, t->npre);
	if (t->has_n) {
		char digits[24];
		size_t nd = 0;

		do {
			digits[nd++] = (char)('0' + n % 10);
			n /= 10;
		} while (n != 0);
		while (nd > 0)
			buf[len++] = digits[--nd];
		memcpy(buf + len, t->post, t->npost);
		len += t->npost;
	}
	return len;
}

/* put - append a string */
static size_t
put(char *buf, const char *s)
{
	size_t n = strlen(s);

	memcpy(buf, s, n);
	return n;
}

/* command - send the command that the stage after a good reply needs */
static void
command(struct sgb *g, struct sgb_sess *s, enum sgb_stage next)
{
	char cmd[SGB_CMD_MAX + 2 * SGB_TEXT_MAX];
	size_t len = 0;

	switch (next) {
	case SGB_S_HELO:
		len = put(cmd, g->c.ehlo ? "EHLO " : "HELO ");
		len += tmpl_put(cmd + len, s->kind == SGB_K_HELO ? &g->c.bad_helo : &g->c.helo,
		                s->n);
		break;
	case SGB_S_MAIL:
		len = put(cmd, "MAIL FROM:<");
		len += tmpl_put(cmd + len, s->kind == SGB_K_MAIL ? &g->c.bad_from : &g->c.from,
		                s->n);
		cmd[len++] = '>';
		break;
	case SGB_S_RCPT:
		len = put(cmd, "RCPT TO:<");
		len += tmpl_put(cmd + len, s->kind == SGB_K_ACCEPT ? &g->c.rcpt : &g->c.bad_rcpt,
		                s->n);
		cmd[len++] = '>';
		break;
	case SGB_S_DATA:
		len = put(cmd, "DATA");
		break;
	case SGB_S_QUIT:
		len = put(cmd, "QUIT");
		break;
	default:
		abort(); /* the body is not a command */
	}
	cmd[len++] = '\r';
	cmd[len++] = '\n';
	s->stage = (uint8_t)next;
	/* a command of a few hundred bytes always fits an empty send buffer */
	tcp_send(s->f, cmd, len);
}

/* body - queue as much of the body and its end as the flow takes */
static void
body(struct sgb *g, struct sgb_sess *s)
{
	static const char end[] = "\r\n.\r\n";
	uint32_t total = g->c.body;

	while (s->body_off < total) {
		uint32_t at = s->body_off % SGB_LINE;
		uint32_t n = total - s->body_off;

		if (n > SGB_BODY_SPAN - at)
			n = SGB_BODY_SPAN - at;
		n = (uint32_t)tcp_send(s->f, body_span + at, n);
		s->body_off += n;
		if (n == 0) {
			s->body_pending = 1;
			tcp_send_wait(s->f);
			return;
		}
	}
	/* the body ends with CRLF (a whole line) when its size is a multiple
	 * of the line, else the end adds one */
	const char *e = total % SGB_LINE == 0 ? end + 2 : end;
	size_t elen = strlen(e);

	if (tcp_send_space(s->f) < elen) {
		s->body_pending = 1;
		tcp_send_wait(s->f);
		return;
	}
	tcp_send(s->f, e, elen);
	s->body_pending = 0;
}

/* quit - the transaction is over: remember how, and say goodbye */
static void
quit(struct sgb *g, struct sgb_sess *s, unsigned cls)
{
	s->last_stage = s->stage;
	s->last_class = (uint8_t)cls;
	command(g, s, SGB_S_QUIT);
}

/* reply - a complete reply (its last line) to the stage awaited */
static void
reply(struct sgb *g, struct sgb_sess *s, unsigned code)
{
	unsigned cls = code / 100;

	g->st.replies[s->stage][cls]++;
	if (s->stage == SGB_S_QUIT) {
		tcp_close(s->f);
		return;
	}
	if (cls != 2 && !(cls == 3 && s->stage == SGB_S_DATA)) {
		quit(g, s, cls);
		return;
	}
	switch (s->stage) {
	case SGB_S_BANNER:
		command(g, s, SGB_S_HELO);
		break;
	case SGB_S_HELO:
		if (s->kind == SGB_K_IDLE) {
			/* an idle session: nothing more until the gate's timeout (a
			 * reply then is handled as MAIL's) or the end of the run */
			s->stage = SGB_S_MAIL;
			break;
		}
		command(g, s, SGB_S_MAIL);
		break;
	case SGB_S_MAIL:
		command(g, s, SGB_S_RCPT);
		break;
	case SGB_S_RCPT:
		if (s->kind == SGB_K_ACCEPT)
			command(g, s, SGB_S_DATA);
		else
			quit(g, s, cls); /* a refusal that did not come */
		break;
	case SGB_S_DATA:
		s->stage = SGB_S_DOT;
		s->body_off = 0;
		body(g, s);
		break;
	default: /* SGB_S_DOT */
		quit(g, s, cls);
		break;
	}
}

/* on_accept - the client application listens nowhere: refuse */
static int
on_accept(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	(void)f;
	return -1; /* the generator listens nowhere */
}

/* on_connected - nothing to send: the gate speaks first */
static void
on_connected(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	(void)f;
}

/* on_data - read replies: three digits, then ' ' (last line) or '-', then to LF */
static size_t
on_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct sgb *g = ctx;
	struct sgb_sess *s = tcp_flow_app(f);
	const uint8_t *p = buf;

	for (size_t i = 0; i < len && !s->garbled; i++) {
		uint8_t c = p[i];

		if (c == '\n') {
			if (s->pos < 4 && s->pos != 3)
				s->garbled = 1;
			else if (!s->cont) {
				if (s->stage == SGB_S_DOT && s->body_pending)
					s->garbled = 1; /* an answer before the body ended */
				else
					reply(g, s, s->code);
			}
			s->pos = 0;
			s->code = 0;
			s->cont = 0;
			continue;
		}
		if (s->pos < 3) {
			if (c < '0' || c > '9' || (s->pos == 0 && (c < '2' || c > '5')))
				s->garbled = 1;
			s->code = (uint16_t)(s->code * 10 + (c - '0'));
			s->pos++;
		} else if (s->pos == 3) {
			if (c == '-')
				s->cont = 1;
			else if (c != ' ' && c != '\r')
				s->garbled = 1;
			s->pos++;
		}
	}
	if (s->garbled)
		tcp_abort(f);
	return len;
}

/* on_fin - the gate closed: so do we (after QUIT, or after its own 421) */
static void
on_fin(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	tcp_close(f);
}

/* on_sent - send space came back: go on with the body */
static void
on_sent(void *ctx, struct tcp_flow *f)
{
	struct sgb *g = ctx;
	struct sgb_sess *s = tcp_flow_app(f);

	if (s->body_pending)
		body(g, s);
}

/* on_deadline - the session timeout: abort (counted in on_closed) */
static void
on_deadline(void *ctx, struct tcp_flow *f, uint64_t now)
{
	struct sgb_sess *s = tcp_flow_app(f);

	(void)ctx;
	(void)now;
	s->timed_out = 1;
	tcp_abort(f);
}

/* outcome - count how a normally ended session went */
static void
outcome(struct sgb *g, const struct sgb_sess *s)
{
	unsigned cls = s->last_class, st = s->last_stage;
	bool ok;

	if (cls == 5)
		g->st.rejected++;
	else if (cls == 4)
		g->st.tempfail++;
	else if (cls == 2 && st == SGB_S_DOT)
		g->st.accepted++;
	switch (s->kind) {
	case SGB_K_CONNECT:
		ok = cls == 5 && st == SGB_S_BANNER;
		break;
	case SGB_K_HELO:
		ok = cls == 5 && st == SGB_S_HELO;
		break;
	case SGB_K_MAIL:
		ok = cls == 5 && st == SGB_S_MAIL;
		break;
	case SGB_K_RCPT:
		ok = cls == 5 && st == SGB_S_RCPT;
		break;
	default:
		ok = cls == 2 && st == SGB_S_DOT;
		break;
	}
	if (ok)
		g->st.expected[s->kind]++;
}

/* on_closed - the flow ended: count how, free the session */
static void
on_closed(void *ctx, struct tcp_flow *f, enum tcp_end why)
{
	struct sgb *g = ctx;
	struct sgb_sess *s = tcp_flow_app(f);
	enum sgb_end e;

	switch (why) {
	case TCP_END_NORMAL:
		e = SGB_E_DONE;
		break;
	case TCP_END_RESET:
		e = SGB_E_RESET;
		break;
	case TCP_END_REFUSED:
		e = SGB_E_REFUSED;
		break;
	case TCP_END_TIMEOUT:
		e = SGB_E_TCP_TIME;
		break;
	case TCP_END_NOMEM:
		e = SGB_E_NOMEM;
		break;
	default: /* TCP_END_ABORT: ours */
		e = s->timed_out ? SGB_E_TIMEOUT : s->garbled ? SGB_E_GARBLED : SGB_E_UNFINISHED;
		break;
	}
	g->st.ends[e]++;
	g->st.ended++;
	if (e == SGB_E_DONE) {
		uint64_t us = (rte_rdtsc() - s->t0) * 1000000 / g->tsc_hz;

		sgb_hist_add(&g->st, us);
		outcome(g, s);
	}
	s->f = NULL;
	g->free_ids[g->nfree++] = (uint32_t)(s - g->sess);
	g->active--;
}

static const struct tcp_app sgb_app = {
        .accept = on_accept,
        .connected = on_connected,
        .data = on_data,
        .peer_fin = on_fin,
        .sent = on_sent,
        .deadline = on_deadline,
        .closed = on_closed,
};

int
sgb_smtp_init(struct sgb *g)
{
	uint32_t n = g->c.concurrency;

	for (size_t i = 0; i < sizeof(body_span); i++)
		body_span[i] = i % SGB_LINE == SGB_LINE - 2   ? '\r'
		               : i % SGB_LINE == SGB_LINE - 1 ? '\n'
		                                              : (char)('a' + i % SGB_LINE % 26);
	g->sess = calloc(n, sizeof(*g->sess));
	g->free_ids = malloc(n * sizeof(*g->free_ids));
	if (g->sess == NULL || g->free_ids == NULL)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		g->free_ids[i] = n - 1 - i;
	g->nfree = n;
	g->nsess = n;
	g->app = tcp_app_register(g->tcp, &sgb_app, g);
	return g->app < 0 ? -1 : 0;
}

/* range_next - the next address of a range, network order */
static uint32_t
range_next(struct sgb_range *r)
{
	uint32_t a = r->base + r->next;

	if (++r->next == r->size)
		r->next = 0;
	return rte_cpu_to_be_32(a);
}

uint16_t
sgb_pick_port(void *arg, const struct tcp_key *k, unsigned attempt)
{
	struct sgb *g = arg;

	(void)k;
	(void)attempt;
	/* one counter over 1024-65535 for all addresses: with the addresses
	 * walked in turn, a tuple comes back only after millions of sessions */
	if (g->next_port < 1024)
		g->next_port = 1024;
	return g->next_port++;
}

int
sgb_smtp_start(struct sgb *g, uint64_t tsc)
{
	struct sgb_sess *s;
	uint64_t n = g->st.started;
	enum sgb_kind kind = g->c.table[n % g->c.ntable];
	struct tcp_ip laddr, raddr = tcp_ip_v4(rte_cpu_to_be_32(g->c.gate_ip));
	uint32_t id;

	if (g->nfree == 0 || g->active >= g->c.concurrency)
		return -1;
	id = g->free_ids[--g->nfree];
	s = &g->sess[id];
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->kind = (uint8_t)kind;
	s->t0 = tsc;
	g->st.started++;
	g->st.by_kind[kind]++;
	laddr = tcp_ip_v4(range_next(kind == SGB_K_CONNECT ? &g->c.bad_clients : &g->c.clients));
	s->f = tcp_connect(g->tcp, TCP_V4, &laddr, &raddr, g->c.dport, g->app, s, g->now_ms);
	if (s->f == NULL) {
		g->st.ends[SGB_E_NOFLOW]++;
		g->st.ended++;
		g->free_ids[g->nfree++] = id;
		return -1;
	}
	g->active++;
	tcp_set_deadline(s->f, g->now_ms + g->c.timeout_ms);
	return 0;
}

void
sgb_smtp_abort_all(struct sgb *g)
{
	for (uint32_t i = 0; i < g->nsess; i++)
		if (g->sess[i].f != NULL)
			tcp_abort(g->sess[i].f);
}
