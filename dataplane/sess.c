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
#include <string.h>

#include <rte_byteorder.h>

#include "control.h"
#include "lcore.h"
#include "sess.h"

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

/* How long a closed session's last reply and FIN may wait for the client
 * to take them. A client that keeps its window shut would otherwise hold
 * its flow and up to a send buffer of chunks for ever (TCP sets no limit
 * on a zero window; Linux bounds it with tcp_orphan_retries): it gets a
 * reset instead. Every client that reads has taken them long before. */
#define SESS_LINGER_MS 10000

/* after - act on what the engine said */
static void
after(struct lcore_conf *lc, struct tcp_flow *f, struct smtp_session *ss, enum smtp_action a,
      struct smtp_out *out)
{
	flush(lc, f, out);
	if (a == SMTP_CLOSE) {
		tcp_set_deadline(f, lc->now + SESS_LINGER_MS);
		tcp_close(f);
		return;
	}
	tcp_set_deadline(f, smtp_deadline(ss));
}

static int
on_accept(void *ctx, struct tcp_flow *f)
{
	struct lcore_conf *lc = ctx;
	const struct tcp_key *k = tcp_flow_key(f);
	struct smtp_session *ss;
	struct smtp_out out = out_for(lc, f);
	struct cidr client = {.family = tcp_flow_family(f)};
	enum smtp_action a;

	if (gate_draining) {
		static const char bye[] = "421 4.3.2 Service shutting down\r\n";

		/* no session: the flow carries the goodbye and ends */
		lc->sess.drained++;
		tcp_send(f, bye, sizeof(bye) - 1);
		tcp_close(f);
		return 0;
	}
	if (out.cap < SMTP_OUT_ROOM || (ss = chunk_get(&lc->sess.sessions)) == NULL) {
		lc->sess.refused++;
		return -1;
	}
	client.len = client.family == 4 ? 32 : 128;
	memcpy(client.addr, k->raddr.b, client.family == 4 ? 4 : 16);
	tcp_flow_set_app(f, ss);
	a = smtp_open(ss, &lc->sess.env, pol_live(lc->pol), now_of(lc), &client, k->lport, &out);
	after(lc, f, ss, a, &out);
	return 0;
}

/* on_data - pipelined commands: the engine answers as many as one output
 * buffer holds per call; call it again while the flow can take more, and
 * when it cannot (a client that does not read its replies), leave the rest
 * in TCP, whose window then holds the client back, and have on_sent offer
 * it again once the client has read. Without that wait, bytes held in TCP
 * would never be offered again: the client has sent them all and waits. */
static size_t
on_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct lcore_conf *lc = ctx;
	struct smtp_session *ss = tcp_flow_app(f);
	const char *p = buf;
	size_t taken = 0, consumed;

	if (ss == NULL)
		return len; /* refused while draining: nothing is read */
	if (ss->state == SMTP_S_CLOSING)
		return len; /* after QUIT or a 421: what follows is not read */
	if (ss->state == SMTP_S_DATA)
		return relay_body(lc, ss, buf, len);
	lc->sess.cur = f;
	do {
		struct smtp_out out = out_for(lc, f);
		enum smtp_action a;

		if (out.cap < SMTP_OUT_ROOM) {
			tcp_send_wait(f); /* on_sent offers the rest again */
			break;
		}
		a = smtp_input(ss, &lc->sess.env, pol_live(lc->pol), now_of(lc), p + taken,
		               len - taken, &consumed, &out);
		after(lc, f, ss, a, &out);
		if (a == SMTP_CLOSE)
			return len;
		taken += consumed;
		/* nothing taken with room to answer: the session waits for the
		 * relay, whose answer offers the rest again (sess_answer) */
	} while (taken < len && consumed > 0);
	return taken;
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
	if (ss->state == SMTP_S_CLOSING) {
		tcp_abort(f); /* our last words were not taken in SESS_LINGER_MS */
		return;
	}
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
	struct smtp_session *ss = tcp_flow_app(f);

	(void)why;
	if (ss == NULL)
		return;
	smtp_close(ss, &lc->sess.env);
	chunk_put(&lc->sess.sessions, ss);
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
	size_t objsz = (sizeof(struct smtp_session) + 63) & ~(size_t)63;

	/* a session holds at most three chunks; most hold none or one */
	if (chunk_pool_init(&s->sessions, max_sessions, (uint32_t)objsz, socket) < 0 ||
	    chunk_pool_init(&s->chunks, max_sessions + max_sessions / 2, SMTP_CHUNK_SIZE, socket) <
	            0)
		return -1;
	s->env = (struct smtp_env){
	        .chunks = {.get = chunk_get_cb, .put = chunk_put_cb, .arg = &s->chunks},
	        .log = log_cb,
	        .log_arg = &lc->log,
	        .stats = &s->stats,
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
