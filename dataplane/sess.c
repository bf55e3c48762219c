/* sess - SMTP sessions on TCP flows: the glue between tcp/ and smtp/
 *
 * Each lcore registers one TCP application whose callbacks drive the SMTP
 * engine: accept opens a session (the greeting), data feeds it, its
 * replies go back with tcp_send(), and the engine's deadline becomes the
 * flow's. Sessions come from a per-lcore pool sized for the flow table;
 * the engine's 512-byte chunks from another. Output goes through one
 * per-lcore buffer that is emptied into the flow after every call, and
 * the engine is only offered input while the flow can take a whole reply,
 * so nothing the engine writes is ever dropped: a slow reader holds back
 * the client through the TCP window instead.
 */
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <xxhash.h>

#include "control.h"
#include "lcore.h"
#include "sess.h"

struct climit_table gate_climit;

/* What the session pool holds: the engine's session and what the glue keeps
 * beside it. ss comes first: the flow's app pointer is both. */
struct sess {
	struct smtp_session ss;
	struct climit_hold hold; /* the session counted against its client's limit */
};

/* now - the loop's clock, set once per iteration by lc_main */
static inline uint64_t
now_of(const struct lcore_conf *lc)
{
	return lc->now;
}

static void *
chunk_get_cb(void *arg)
{
	return chunk_get(arg);
}

static void
chunk_put_cb(void *arg, void *c)
{
	chunk_put(arg, c);
}

static void
log_cb(void *arg, const char *line, size_t len)
{
	logq_push(arg, line, len);
}

/* flush - hand the engine's output to the flow; it always fits (see above) */
static void
flush(struct lcore_conf *lc, struct tcp_flow *f, struct smtp_out *out)
{
	if (out->len > 0 && tcp_send(f, out->buf, out->len) != out->len)
		lc->sess.lost_output++; /* cannot happen while out->cap follows tcp_send_space */
	out->len = 0;
}

/* out_for - the lcore's output buffer, capped at what the flow can take now */
static struct smtp_out
out_for(struct lcore_conf *lc, const struct tcp_flow *f)
{
	size_t space = tcp_send_space(f);

	return (struct smtp_out){.buf = lc->sess.out,
	                         .len = 0,
	                         .cap = space < sizeof(lc->sess.out) ? space
	                                                             : sizeof(lc->sess.out)};
}

/* after - act on what the engine said */
static void
after(struct lcore_conf *lc, struct tcp_flow *f, struct smtp_session *ss, enum smtp_action a,
      struct smtp_out *out)
{
	flush(lc, f, out);
	if (a == SMTP_CLOSE) {
		tcp_set_deadline(f, 0);
		tcp_close(f);
		return;
	}
	tcp_set_deadline(f, smtp_deadline(ss));
}

/* refuse - answer a connection we take no session for, and end it */
static void
refuse(struct tcp_flow *f, const char *reply, size_t len)
{
	tcp_send(f, reply, len);
	tcp_close(f);
}

/* limit_refuse - Postfix's reply and warning for a client over its limit:
 * "421 4.7.0 HOST Error: too many connections from ADDR", and
 * "warning: Connection concurrency limit exceeded: N from unknown[ADDR] for service NAME" */
static void
limit_refuse(struct lcore_conf *lc, struct tcp_flow *f, const struct pol_snapshot *snap,
             const struct pol_service *svc, const struct cidr *client, enum climit_verdict v,
             uint32_t n)
{
	char name[80], reply[400], line[300];
	size_t al;
	int len;

	pol_client_name(client, name, sizeof(name));
	al = strlen(name) - 9; /* the address inside "unknown[...]" */
	len = snprintf(reply, sizeof(reply),
	               "421 4.7.0 %s Error: too many connections from %.*s\r\n",
	               pol_snapshot_model(snap)->hostname, (int)al, name + 8);
	refuse(f, reply, (size_t)len < sizeof(reply) ? (size_t)len : sizeof(reply) - 1);
	len = snprintf(line, sizeof(line),
	               "warning: Connection %s limit exceeded: %u from %s for service %s",
	               v == CLIMIT_CONN ? "concurrency" : "rate", n, name, svc->name);
	logq_push(&lc->log, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
}

/* limit_check - count a new connection against its client's limits; false
 * when it was refused (and answered) */
static bool
limit_check(struct lcore_conf *lc, struct tcp_flow *f, const struct pol_snapshot *snap,
            const struct cidr *client, uint16_t lport, struct climit_hold *h)
{
	const struct pol_service *svc = pol_service_by_port(snap, lport);
	struct climit_rule r;
	enum climit_verdict v;
	uint32_t n;

	h->key = 0;
	if (gate_climit.slot == NULL || svc == NULL ||
	    (svc->client_conn_limit == 0 && svc->client_rate_limit == 0))
		return true;
	if (pol_limit_exempt(snap, client) != POL_NONE) {
		lc->sess.limit_exempt++;
		return true;
	}
	r = (struct climit_rule){.conn_limit = svc->client_conn_limit,
	                         .rate_limit = svc->client_rate_limit,
	                         .unit_s = svc->client_rate_unit_s};
	v = climit_acquire(
	        &gate_climit,
	        climit_key(&gate_climit, client, XXH3_64bits(svc->name, strlen(svc->name))), &r,
	        (uint32_t)(now_of(lc) / 1000), h, &n);
	switch (v) {
	case CLIMIT_OK:
		return true;
	case CLIMIT_FULL:
		lc->sess.limit_full++;
		return true;
	case CLIMIT_CONN:
		lc->sess.limit_conn++;
		break;
	case CLIMIT_RATE:
		lc->sess.limit_rate++;
		break;
	}
	limit_refuse(lc, f, snap, svc, client, v, n);
	return false;
}

static int
on_accept(void *ctx, struct tcp_flow *f)
{
	struct lcore_conf *lc = ctx;
	const struct tcp_key *k = tcp_flow_key(f);
	const struct pol_snapshot *snap = pol_live(lc->pol);
	struct sess *s;
	struct smtp_out out = out_for(lc, f);
	struct cidr client = {.family = tcp_flow_family(f)};
	struct climit_hold hold;
	enum smtp_action a;

	if (gate_draining) {
		static const char bye[] = "421 4.3.2 Service shutting down\r\n";

		/* no session: the flow carries the goodbye and ends */
		lc->sess.drained++;
		refuse(f, bye, sizeof(bye) - 1);
		return 0;
	}
	if (out.cap < SMTP_OUT_ROOM || lc->sess.sessions.nfree == 0) {
		lc->sess.refused++;
		return -1;
	}
	client.len = client.family == 4 ? 32 : 128;
	memcpy(client.addr, k->raddr.b, client.family == 4 ? 4 : 16);
	if (!limit_check(lc, f, snap, &client, k->lport, &hold))
		return 0; /* no session: the flow carries the 421 and ends */
	s = chunk_get(&lc->sess.sessions);
	s->hold = hold;
	tcp_flow_set_app(f, &s->ss);
	a = smtp_open(&s->ss, &lc->sess.env, snap, now_of(lc), &client, k->lport, &out);
	after(lc, f, &s->ss, a, &out);
	return 0;
}

static size_t
on_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct lcore_conf *lc = ctx;
	struct smtp_session *ss = tcp_flow_app(f);
	struct smtp_out out = out_for(lc, f);
	size_t consumed = 0;
	enum smtp_action a;

	if (ss == NULL)
		return len; /* refused while draining: nothing is read */
	if (ss->state == SMTP_S_CLOSING)
		return len; /* after QUIT or a 421: what follows is not read */
	if (ss->state == SMTP_S_DATA)
		return relay_body(lc, ss, buf, len);
	if (out.cap < SMTP_OUT_ROOM)
		return 0; /* on_sent will offer it again */
	lc->sess.cur = f;
	a = smtp_input(ss, &lc->sess.env, pol_live(lc->pol), now_of(lc), buf, len, &consumed, &out);
	after(lc, f, ss, a, &out);
	return a == SMTP_CLOSE ? len : consumed;
}

void
sess_answer(struct lcore_conf *lc, struct tcp_flow *f, const char *reply, bool end)
{
	struct smtp_session *ss = tcp_flow_app(f);
	struct smtp_out out = out_for(lc, f);
	enum smtp_action a;

	if (ss == NULL || ss->state == SMTP_S_CLOSING)
		return;
	if (out.cap < SMTP_OUT_ROOM) {
		/* a client that reads nothing while it waits: its reply would not fit */
		tcp_abort(f);
		return;
	}
	lc->sess.cur = f;
	a = smtp_relay_reply(ss, &lc->sess.env, pol_live(lc->pol), now_of(lc), reply, end, &out);
	after(lc, f, ss, a, &out);
	if (a == SMTP_CONTINUE)
		tcp_rx_resume(f); /* pipelined commands, or the message after a 354 */
}

static void
on_peer_fin(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	tcp_set_deadline(f, 0);
	tcp_close(f);
}

static void
on_sent(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	tcp_rx_resume(f);
}

static void
on_deadline(void *ctx, struct tcp_flow *f, uint64_t now)
{
	struct lcore_conf *lc = ctx;
	struct smtp_session *ss = tcp_flow_app(f);
	struct smtp_out out = out_for(lc, f);
	enum smtp_action a;

	lc->sess.deadlines++;
	if (ss->state == SMTP_S_CLOSING)
		return;
	if (out.cap < SMTP_OUT_ROOM) {
		/* a client that reads nothing: its 421 would not fit either */
		tcp_abort(f);
		return;
	}
	a = smtp_timeout(ss, &lc->sess.env, pol_live(lc->pol), now, &out);
	after(lc, f, ss, a, &out);
}

static void
on_closed(void *ctx, struct tcp_flow *f, enum tcp_end why)
{
	struct lcore_conf *lc = ctx;
	struct sess *s = tcp_flow_app(f);

	(void)why;
	if (s == NULL)
		return;
	climit_release(&gate_climit, &s->hold);
	smtp_close(&s->ss, &lc->sess.env);
	chunk_put(&lc->sess.sessions, s);
	tcp_flow_set_app(f, NULL);
}

static const struct tcp_app smtp_app = {
        .accept = on_accept,
        .data = on_data,
        .peer_fin = on_peer_fin,
        .sent = on_sent,
        .deadline = on_deadline,
        .closed = on_closed,
};

int
sess_init(struct lcore_conf *lc, const struct pol_snapshot *snap, uint32_t max_sessions, int socket)
{
	struct sess_lcore *s = &lc->sess;
	const struct pol_model *m = pol_snapshot_model(snap);
	size_t objsz = (sizeof(struct sess) + 63) & ~(size_t)63;

	/* a session holds at most three chunks; most hold none or one */
	if (chunk_pool_init(&s->sessions, max_sessions, (uint32_t)objsz, socket) < 0 ||
	    chunk_pool_init(&s->chunks, max_sessions + max_sessions / 2, SMTP_CHUNK_SIZE, socket) <
	            0)
		return -1;
	memset(&s->tally, 0, sizeof(s->tally));
	s->env = (struct smtp_env){
	        .chunks = {.get = chunk_get_cb, .put = chunk_put_cb, .arg = &s->chunks},
	        .log = log_cb,
	        .log_arg = &lc->log,
	        .stats = &s->stats,
	        .tally = &s->tally,
	        .reader = NULL, /* set by the lcore when it registers with RCU */
	};
	s->app = tcp_app_register(lc->tcp, &smtp_app, lc);
	if (s->app < 0)
		return -1;
	(void)m;
	return sess_listen(lc, snap);
}

/* wanted - whether a snapshot's services include port */
static bool
wanted(const struct pol_model *m, uint16_t port)
{
	for (unsigned i = 0; i < m->nservices; i++)
		for (unsigned p = 0; p < m->services[i].nports; p++)
			if (m->services[i].ports[p] == port)
				return true;
	return false;
}

int
sess_listen(struct lcore_conf *lc, const struct pol_snapshot *snap)
{
	struct sess_lcore *s = &lc->sess;
	const struct pol_model *m = pol_snapshot_model(snap);
	unsigned kept = 0;
	int rc = 0;

	/* ports no service has any more: no new connections (those open go on) */
	for (unsigned i = 0; i < s->nports; i++) {
		if (wanted(m, s->ports[i]))
			s->ports[kept++] = s->ports[i];
		else
			tcp_unlisten(lc->tcp, s->ports[i]);
	}
	s->nports = kept;
	for (unsigned i = 0; i < m->nservices; i++)
		for (unsigned p = 0; p < m->services[i].nports; p++) {
			uint16_t port = m->services[i].ports[p];
			bool have = false;

			for (unsigned k = 0; k < s->nports; k++)
				have |= s->ports[k] == port;
			if (have)
				continue;
			if (s->nports == TCP_MAX_LISTEN || tcp_listen(lc->tcp, port, s->app) < 0) {
				rc = -1;
				continue;
			}
			s->ports[s->nports++] = port;
		}
	return rc;
}
