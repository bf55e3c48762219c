/* tcp_lcore - the per-lcore stack: creation, configuration, applications
 * and listeners, the application calls, and the end-of-call work
 *
 * Every entry point is wrapped in tcp_enter()/tcp_leave(). Work that a
 * callback causes (output, held bytes to deliver again, flows that ended,
 * due timers) is queued on the lcore and done when the outermost call
 * leaves, so a callback never sees a flow freed under it and a reply goes
 * out in the same segment as the ACK of the request.
 *
 * Allocation happens only in tcp_lcore_create(); syscalls only there too
 * (getrandom() for the secret when none is configured).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "tcp_impl.h"

_Static_assert(sizeof(struct tcp_flow) <= 320, "a flow stays within its budget");
_Static_assert(sizeof(struct tcp_chunk) == 16, "chunk header");
_Static_assert(TCP_CHUNK_SIZE - 16 >= 1460, "one Ethernet MSS fits a chunk");

static const char *const state_names[TCP_S_COUNT] = {
        "CLOSED",     "SYN_SENT",   "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
        "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK",    "TIME_WAIT",
};

/* tcp_state_name - for logs and tests */
const char *
tcp_state_name(enum tcp_state s)
{
	return (unsigned)s < TCP_S_COUNT ? state_names[s] : "FREE";
}

/* tcp_conf_default - a gate's defaults */
void
tcp_conf_default(struct tcp_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->max_flows = 65536;
	c->nchunks = 16384; /* 32 MiB */
	c->syn_backlog = 1024;
	c->cookie_fill = 900;
	c->tw_max = 16384;
	c->tw_ms = 60000; /* 2 x 30 s */
	c->fin_wait2_ms = 60000;
	c->rto_init_ms = 1000;
	c->rto_min_ms = 200;
	c->rto_max_ms = 60000;
	c->snd_buf = 65536;
	c->rcv_buf = 65536;
	c->lean_rcv_buf = 0; /* no lean flows unless the application asks (the gate does) */
	c->lean_snd_buf = 0;
	c->chunk_low = 0; /* nchunks / 8 */
	c->chunk_reserve = 256;
	c->challenge_ack_per_s = 1000;
	c->mtu = 1500;
	c->retries = 8;
	c->syn_retries = 5;
	c->synack_retries = 5;
	c->cookies = TCP_COOKIES_AUTO;
}

/* tcp_lcore_create - everything, allocated once */
struct tcp_lcore *
tcp_lcore_create(const struct tcp_conf *c)
{
	struct tcp_lcore *lc;
	uint32_t nb = 1, i;
	static const uint8_t zero[16];

	if (c->emit == NULL || c->max_flows == 0 || c->max_flows >= TCP_NIL || c->nchunks == 0 ||
	    c->nchunks >= TCP_NIL || c->mtu < 576 || c->rto_min_ms == 0 ||
	    c->rto_max_ms < c->rto_min_ms || c->rcv_buf == 0 || c->rcv_buf > (1u << 30) ||
	    c->lean_rcv_buf > c->rcv_buf || (c->lean_rcv_buf != 0 && c->lean_snd_buf == 0) ||
	    c->cookies > TCP_COOKIES_NEVER)
		return NULL;
	lc = aligned_alloc(TCP_CACHE_LINE, sizeof(*lc));
	if (lc == NULL)
		return NULL;
	memset(lc, 0, sizeof(*lc));
	lc->conf = *c;
	if (c->chunk_low == 0) /* an eighth of the pool kept from lean flows that hold */
		lc->conf.chunk_low = c->nchunks / 8;
	while (nb < c->max_flows)
		nb <<= 1;
	lc->bucket_mask = nb - 1;
	lc->flows = calloc(c->max_flows, sizeof(*lc->flows));
	lc->bucket = malloc(nb * sizeof(*lc->bucket));
	lc->chunk_mem = aligned_alloc(TCP_CACHE_LINE, (size_t)c->nchunks * TCP_CHUNK_SIZE);
	lc->wheel = malloc(TCP_WHEEL_SLOTS * sizeof(*lc->wheel));
	if (lc->flows == NULL || lc->bucket == NULL || lc->chunk_mem == NULL || lc->wheel == NULL) {
		tcp_lcore_destroy(lc);
		return NULL;
	}
	memset(lc->bucket, 0xff, nb * sizeof(*lc->bucket));
	memset(lc->wheel, 0xff, TCP_WHEEL_SLOTS * sizeof(*lc->wheel));
	for (i = 0; i < c->max_flows; i++) {
		lc->flows[i].hnext = i + 1 < c->max_flows ? i + 1 : TCP_NIL;
		lc->flows[i].state = TCP_S_COUNT;
	}
	lc->flow_free = 0;
	for (i = 0; i < c->nchunks; i++)
		tcp_chunk(lc, i)->next = i + 1 < c->nchunks ? i + 1 : TCP_NIL;
	lc->chunk_free = 0;
	lc->chunks_free_n = c->nchunks;
	lc->tw_head = lc->tw_tail = lc->pend_head = lc->pend_tail = lc->reap = TCP_NIL;
	lc->mss4 =
	        (uint16_t)((uint32_t)c->mtu - 40 < TCP_CHUNK_DATA ? c->mtu - 40u : TCP_CHUNK_DATA);
	lc->mss6 =
	        (uint16_t)((uint32_t)c->mtu - 60 < TCP_CHUNK_DATA ? c->mtu - 60u : TCP_CHUNK_DATA);
	while ((c->rcv_buf >> lc->rcv_ws) > 0xffff)
		lc->rcv_ws++;
	if (memcmp(c->key, zero, 16) != 0) {
		memcpy(lc->sipkey, c->key, 16);
	} else if (getrandom(lc->sipkey, sizeof(lc->sipkey), 0) != sizeof(lc->sipkey)) {
		tcp_lcore_destroy(lc);
		return NULL;
	}
	tcp_hash_key_init(lc);
	lc->port_hint = (uint32_t)tcp_siphash(lc->sipkey, "port", 4);
	return lc;
}

/* tcp_lcore_destroy - free; no callbacks */
void
tcp_lcore_destroy(struct tcp_lcore *lc)
{
	if (lc == NULL)
		return;
	free(lc->flows);
	free(lc->bucket);
	free(lc->chunk_mem);
	free(lc->wheel);
	free(lc);
}

/* tcp_lcore_stats - counters */
struct tcp_stats *
tcp_lcore_stats(struct tcp_lcore *lc)
{
	return &lc->st;
}

/* tcp_app_register - an application slot */
int
tcp_app_register(struct tcp_lcore *lc, const struct tcp_app *app, void *ctx)
{
	if (app->data == NULL || app->closed == NULL)
		return -1;
	for (int i = 0; i < TCP_MAX_APPS; i++)
		if (!lc->apps[i].used) {
			lc->apps[i].ops = *app;
			lc->apps[i].ctx = ctx;
			lc->apps[i].used = true;
			return i;
		}
	return -1;
}

/* tcp_listen - a listening port (again: its application changes) */
int
tcp_listen(struct tcp_lcore *lc, uint16_t port, int app)
{
	unsigned i, slot = TCP_MAX_LISTEN;

	if (app < 0 || app >= TCP_MAX_APPS || !lc->apps[app].used)
		return -1;
	for (i = 0; i < lc->nlisten; i++) {
		if (lc->listen[i].used && lc->listen[i].port == port) {
			lc->listen[i].app = (uint8_t)app;
			return 0;
		}
		if (!lc->listen[i].used && slot == TCP_MAX_LISTEN)
			slot = i;
	}
	if (slot == TCP_MAX_LISTEN) {
		if (lc->nlisten == TCP_MAX_LISTEN)
			return -1;
		slot = lc->nlisten++;
	}
	lc->listen[slot].port = port;
	lc->listen[slot].app = (uint8_t)app;
	lc->listen[slot].used = 1;
	return 0;
}

/* tcp_unlisten - forget a port */
void
tcp_unlisten(struct tcp_lcore *lc, uint16_t port)
{
	for (unsigned i = 0; i < lc->nlisten; i++)
		if (lc->listen[i].used && lc->listen[i].port == port)
			lc->listen[i].used = 0;
}

/* tcp_unpend - off the pending list (a flow being freed) */
void
tcp_unpend(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint32_t *p = &lc->pend_head, prev = TCP_NIL;

	while (*p != TCP_NIL) {
		if (*p == f->idx) {
			*p = f->pnext;
			if (lc->pend_tail == f->idx)
				lc->pend_tail = prev;
			break;
		}
		prev = *p;
		p = &lc->flows[*p].pnext;
	}
	f->flags &= ~(uint32_t)(TCP_F_PENDING | TCP_F_TIMER | TCP_F_RESUME);
}

/* tcp_end - the flow is over: no more segments, closed() and free at the end of the call */
void
tcp_end(struct tcp_lcore *lc, struct tcp_flow *f, enum tcp_end why)
{
	if (f->flags & TCP_F_DEAD)
		return;
	f->flags |= TCP_F_DEAD;
	f->why = (uint8_t)why;
	tcp_timer_cancel(lc, f);
	if (f->state == TCP_S_TIME_WAIT)
		tcp_tw_unlink(lc, f);
	tcp_set_state(f, TCP_S_CLOSED);
	f->lnext = lc->reap;
	lc->reap = f->idx;
}

/* window_update - an ACK for a window that opened, if it opened enough to
 * matter (RFC 9293 3.8.6.2.2: receiver-side silly window avoidance) */
static void
window_update(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint32_t buf = tcp_rcv_buf(f), room = buf > f->rq.len ? buf - f->rq.len : 0;
	uint32_t edge = f->rcv_nxt + room;
	uint32_t thresh = buf / 2 < 2u * f->mss ? buf / 2 : 2u * f->mss;

	if (SEQ_GEQ(edge, f->rcv_adv + thresh) || (f->rcv_adv == f->rcv_nxt && room > 0)) {
		f->flags |= TCP_F_ACKNOW;
		tcp_pend(lc, f);
	}
}

/* tcp_deliver - offer held bytes to the application again, then the FIN */
void
tcp_deliver(struct tcp_lcore *lc, struct tcp_flow *f)
{
	const struct tcp_app *app = tcp_app_of(lc, f);
	uint32_t before = f->rq.len;

	if (app == NULL || !(f->flags & TCP_F_APP))
		return;
	if (f->flags & TCP_F_DELIVERING) {
		f->flags |= TCP_F_RESUME;
		tcp_pend(lc, f);
		return;
	}
	f->flags |= TCP_F_DELIVERING;
	if ((f->flags & TCP_F_KICK) && f->rq.len == 0) {
		f->flags &= ~(uint32_t)TCP_F_KICK;
		app->data(tcp_ctx_of(lc, f), f, "", 0);
	}
	f->flags &= ~(uint32_t)TCP_F_KICK;
	while (f->rq.len > 0 && !(f->flags & TCP_F_DEAD)) {
		const void *p[2];
		uint32_t l[2];
		size_t n = f->rq.len < TCP_CHUNK_DATA ? f->rq.len : TCP_CHUNK_DATA, taken;

		tcp_cq_peek(lc, &f->rq, 0, n, p, l);
		taken = app->data(tcp_ctx_of(lc, f), f, p[0], l[0]);
		if (f->flags & TCP_F_DEAD)
			break;
		if (taken > l[0])
			taken = l[0];
		tcp_cq_drop(lc, &f->rq, taken);
		lc->st.bytes_in += taken;
		if (taken < l[0])
			break;
	}
	f->flags &= ~(uint32_t)TCP_F_DELIVERING;
	if (f->flags & TCP_F_DEAD)
		return;
	if (f->rq.len < before)
		window_update(lc, f);
	if (f->rq.len == 0 && (f->flags & (TCP_F_FIN_RCVD | TCP_F_FIN_TOLD)) == TCP_F_FIN_RCVD) {
		f->flags |= TCP_F_FIN_TOLD;
		if (app->peer_fin != NULL)
			app->peer_fin(tcp_ctx_of(lc, f), f);
	}
}

/* leave_one - the common end of a call: one flow pending, no flow to
 * reap, no timer fired and nothing to resume on it: its output straight
 * (tcp_output_one(), else tcp_output()); anything else is left to the
 * general loop. Off with conf.no_prediction, so that the tests can compare
 * it with the general path. */
static inline void
leave_one(struct tcp_lcore *lc)
{
	struct tcp_flow *f = &lc->flows[lc->pend_head];

	if ((f->flags & (TCP_F_DEAD | TCP_F_TIMER | TCP_F_RESUME)) || f->state >= TCP_S_COUNT ||
	    lc->conf.no_prediction)
		return;
	lc->pend_head = lc->pend_tail = TCP_NIL;
	f->flags &= ~(uint32_t)TCP_F_PENDING;
	if (!tcp_output_one(lc, f))
		tcp_output(lc, f);
}

/* leave_all - the general end of the outermost call: pending flows (timers
 * fired, held data resumed, output) and dead flows reaped, until none is
 * left. Apart from tcp_leave(), which then needs no frame for the loop in
 * its common case. */
static __attribute__((noinline)) void
leave_all(struct tcp_lcore *lc)
{
	while (lc->pend_head != TCP_NIL || lc->reap != TCP_NIL) {
		while (lc->pend_head != TCP_NIL) {
			struct tcp_flow *f = &lc->flows[lc->pend_head];

			lc->pend_head = f->pnext;
			if (lc->pend_head == TCP_NIL)
				lc->pend_tail = TCP_NIL;
			f->flags &= ~(uint32_t)TCP_F_PENDING;
			if ((f->flags & TCP_F_DEAD) || f->state >= TCP_S_COUNT)
				continue;
			if (f->flags & TCP_F_TIMER) {
				f->flags &= ~(uint32_t)TCP_F_TIMER;
				tcp_timer_fire(lc, f);
				if ((f->flags & TCP_F_DEAD) || f->state >= TCP_S_COUNT ||
				    f->state == TCP_S_TIME_WAIT)
					continue;
			}
			if (f->flags & TCP_F_RESUME) {
				f->flags &= ~(uint32_t)TCP_F_RESUME;
				tcp_deliver(lc, f);
				if (f->flags & TCP_F_DEAD)
					continue;
			}
			tcp_output(lc, f);
		}
		while (lc->reap != TCP_NIL) {
			struct tcp_flow *f = &lc->flows[lc->reap];
			const struct tcp_app *app = tcp_app_of(lc, f);

			lc->reap = f->lnext;
			f->lnext = TCP_NIL;
			if ((f->flags & TCP_F_APP) && app != NULL) {
				f->flags &= ~(uint32_t)TCP_F_APP;
				app->closed(tcp_ctx_of(lc, f), f, (enum tcp_end)f->why);
			}
			tcp_flow_free(lc, f);
		}
	}
	lc->depth = 0;
}

/* tcp_leave - end of an entry point; the outermost does the queued work:
 * leave_one() for the common case, leave_all() for the rest */
void
tcp_leave(struct tcp_lcore *lc)
{
	if (lc->depth > 1) {
		lc->depth--;
		return;
	}
	if (lc->reap == TCP_NIL) {
		if (lc->pend_head == TCP_NIL) {
			lc->depth = 0;
			return;
		}
		if (lc->pend_head == lc->pend_tail) {
			leave_one(lc);
			if (lc->pend_head == TCP_NIL && lc->reap == TCP_NIL) {
				lc->depth = 0;
				return;
			}
		}
	}
	leave_all(lc);
}

/* default_port - walk the ephemeral range from a keyed start */
static uint16_t
default_port(struct tcp_lcore *lc, unsigned attempt)
{
	return (uint16_t)(32768 + (lc->port_hint + attempt) % (61000 - 32768));
}

/* tcp_connect - active open */
struct tcp_flow *
tcp_connect(struct tcp_lcore *lc, uint8_t family, const struct tcp_ip *laddr,
            const struct tcp_ip *raddr, uint16_t rport, int app, void *appp, uint64_t now)
{
	struct tcp_flow *f;
	struct tcp_key k;
	unsigned attempt;
	uint32_t hash = 0;

	if (app < 0 || app >= TCP_MAX_APPS || !lc->apps[app].used ||
	    (family != TCP_V4 && family != TCP_V6))
		return NULL;
	tcp_enter(lc, now);
	memset(&k, 0, sizeof(k));
	k.laddr = *laddr;
	k.raddr = *raddr;
	k.rport = rport;
	for (attempt = 0; attempt < 64; attempt++) {
		k.lport = lc->conf.pick_port != NULL
		                  ? lc->conf.pick_port(lc->conf.pick_arg, &k, attempt)
		                  : default_port(lc, attempt);
		if (k.lport == 0)
			break;
		hash = tcp_key_hash(lc, family, &k); /* kept for tcp_flow_hash_add() */
		if (tcp_flow_lookup(lc, hash, family, &k) == NULL)
			break;
	}
	lc->port_hint += attempt + 1;
	f = k.lport != 0 && attempt < 64 ? tcp_flow_alloc(lc) : NULL;
	if (f == NULL) {
		tcp_leave(lc);
		return NULL;
	}
	f->family = family;
	f->key = k;
	f->app_id = (uint8_t)app;
	f->app = appp;
	f->flags |= TCP_F_ACTIVE | TCP_F_APP | TCP_F_RTT;
	f->rto = lc->conf.rto_init_ms;
	f->ssthresh = UINT32_MAX;
	f->mss = family == TCP_V6 ? lc->mss6 : lc->mss4;
	f->rcv_ws = lc->rcv_ws;
	/* an active open (the relay's backend leg) is not lean: full buffers */
	f->iss = tcp_isn(lc, family, &k);
	f->snd_una = f->snd_nxt = f->snd_max = f->recover = f->iss;
	f->rtt_ts = (uint32_t)lc->now;
	tcp_set_state(f, TCP_S_SYN_SENT);
	tcp_flow_hash_add(lc, f, hash);
	tcp_send_syn(lc, f);
	tcp_timer_rearm(lc, f, lc->now + f->rto);
	tcp_leave(lc);
	return f;
}

/* alive - a flow the application may still act on */
static bool
alive(const struct tcp_flow *f)
{
	return !(f->flags & TCP_F_DEAD) && f->state > TCP_S_CLOSED && f->state < TCP_S_TIME_WAIT;
}

/* send_space - bytes tcp_send() would take. The states that take bytes
 * (ESTABLISHED, CLOSE_WAIT, SYN_SENT) are all alive() ones, so a dead or
 * closing flow is one flag test. A lean flow gets none once the pool is
 * down to its reserve, which is kept for full flows: an application that
 * checks first (the SMTP engine) then holds its reply back, or refuses a
 * new connection, rather than lose it. Inline: tcp_send() asks it again
 * for every reply the application sized with tcp_send_space(). */
static inline size_t
send_space(const struct tcp_flow *f)
{
	const struct tcp_lcore *lc = f->lc;
	uint32_t max;

	if ((f->flags & (TCP_F_DEAD | TCP_F_FIN_QUEUED)) ||
	    (f->state != TCP_S_ESTABLISHED && f->state != TCP_S_CLOSE_WAIT &&
	     f->state != TCP_S_SYN_SENT))
		return 0;
	if (f->flags & TCP_F_LEAN) {
		if (lc->chunks_free_n <= lc->conf.chunk_reserve)
			return 0;
		max = lc->conf.lean_snd_buf;
	} else {
		max = lc->conf.snd_buf;
	}
	return f->sq.len < max ? max - f->sq.len : 0;
}

/* tcp_send_space - bytes tcp_send() would take now */
size_t
tcp_send_space(const struct tcp_flow *f)
{
	return send_space(f);
}

/* tcp_send - queue bytes for sending */
size_t
tcp_send(struct tcp_flow *f, const void *buf, size_t len)
{
	struct tcp_lcore *lc = f->lc;
	size_t room = send_space(f), n = len < room ? len : room, got;

	if (n == 0) {
		if (len > 0 && alive(f))
			f->flags |= TCP_F_SNDBLOCKED;
		return 0;
	}
	tcp_enter(lc, lc->now);
	got = tcp_cq_append(lc, &f->sq, buf, n);
	if (got < n)
		lc->st.drop_nopool++;
	if (got < len)
		f->flags |= TCP_F_SNDBLOCKED;
	tcp_pend(lc, f);
	tcp_leave(lc);
	return got;
}

/* tcp_send_reserve - room in the send queue's tail to write into. What
 * tcp_cq_reserve() would find, with what this call already knows taken
 * out: min is within the send space (so within its max), *room is set
 * once, and the queue's tail is looked at once. The common case is an
 * empty queue (the client's ACK of the last reply came with its next
 * command): a fresh chunk, its whole room. */
void *
tcp_send_reserve(struct tcp_flow *f, size_t min, size_t *room)
{
	struct tcp_lcore *lc = f->lc;
	struct tcp_cq *q = &f->sq;
	size_t space = send_space(f), n;
	struct tcp_chunk *t = NULL;

	if (space < min || min > TCP_CHUNK_DATA)
		goto none;
	if (q->tail != TCP_NIL) {
		t = tcp_chunk(lc, q->tail);
		n = TCP_CHUNK_DATA - t->len;
		if (n >= min)
			goto room;
		if (n > 0)
			goto none; /* room in a queue's middle would let a segment span three chunks
			            */
	}
	{
		uint32_t c = tcp_chunk_take(lc);

		if (c == TCP_NIL)
			goto none;
		if (t != NULL)
			t->next = c;
		else
			q->head = c;
		q->tail = c;
		t = tcp_chunk(lc, c);
		n = TCP_CHUNK_DATA;
	}
room:
	*room = n < space ? n : space;
	return t->data + t->len;
none:
	*room = 0;
	return NULL;
}

/* tcp_send_commit - what was written at the reservation is sent. A flow
 * closed or ended since then (the application broke the rule) gets
 * nothing: its reserved chunk, if fresh, goes back. */
size_t
tcp_send_commit(struct tcp_flow *f, size_t n)
{
	struct tcp_lcore *lc = f->lc;

	if (f->flags & (TCP_F_DEAD | TCP_F_FIN_QUEUED))
		n = 0;
	if (n == 0) {
		tcp_cq_commit(lc, &f->sq, 0);
		return 0;
	}
	n = tcp_cq_commit(lc, &f->sq, n);
	if (lc->depth > 0) {
		tcp_pend(lc, f); /* inside a callback: the outermost call sends */
		return n;
	}
	tcp_enter(lc, lc->now);
	tcp_pend(lc, f);
	tcp_leave(lc);
	return n;
}

void
tcp_send_wait(struct tcp_flow *f)
{
	if (alive(f))
		f->flags |= TCP_F_SNDBLOCKED;
}

/* tcp_set_lean - lean or full buffers from now on */
void
tcp_set_lean(struct tcp_flow *f, bool lean)
{
	struct tcp_lcore *lc = f->lc;
	const struct tcp_conf *c = &lc->conf;

	if (!alive(f) || lean == ((f->flags & TCP_F_LEAN) != 0))
		return;
	if (lean && c->lean_rcv_buf == 0)
		return; /* no lean flows configured */
	tcp_enter(lc, lc->now);
	if (lean) {
		/* the right edge stays where it is (tcp_rcv_window); what is
		 * queued stays, tcp_send() waits below the lean limit */
		f->flags |= TCP_F_LEAN;
	} else {
		f->flags &= ~(uint32_t)TCP_F_LEAN;
		if (f->state != TCP_S_SYN_RCVD)
			window_update(lc, f);
		/* a writer blocked on the lean limit has bytes in flight: the
		 * ACK that takes them calls its sent() */
	}
	tcp_leave(lc);
}

bool
tcp_flow_lean(const struct tcp_flow *f)
{
	return (f->flags & TCP_F_LEAN) != 0;
}

/* tcp_close - our FIN after the queued data */
void
tcp_close(struct tcp_flow *f)
{
	struct tcp_lcore *lc = f->lc;

	if (!alive(f) || (f->flags & TCP_F_FIN_QUEUED))
		return;
	tcp_enter(lc, lc->now);
	switch (f->state) {
	case TCP_S_SYN_SENT:
		tcp_end(lc, f, TCP_END_NORMAL);
		break;
	case TCP_S_ESTABLISHED:
		tcp_set_state(f, TCP_S_FIN_WAIT_1);
		f->flags |= TCP_F_FIN_QUEUED;
		tcp_pend(lc, f);
		break;
	case TCP_S_CLOSE_WAIT:
		tcp_set_state(f, TCP_S_LAST_ACK);
		f->flags |= TCP_F_FIN_QUEUED;
		tcp_pend(lc, f);
		break;
	default: /* SYN_RCVD is not the application's; the others already closed */
		break;
	}
	tcp_leave(lc);
}

/* tcp_abort - RST and end */
void
tcp_abort(struct tcp_flow *f)
{
	struct tcp_lcore *lc = f->lc;

	if ((f->flags & TCP_F_DEAD) || f->state == TCP_S_CLOSED || f->state >= TCP_S_TIME_WAIT)
		return;
	tcp_enter(lc, lc->now);
	if (f->state != TCP_S_SYN_SENT)
		tcp_send_rst_flow(lc, f);
	lc->st.aborts++;
	tcp_end(lc, f, TCP_END_ABORT);
	tcp_leave(lc);
}

/* tcp_rx_resume - held bytes to data() again */
void
tcp_rx_resume(struct tcp_flow *f)
{
	struct tcp_lcore *lc = f->lc;

	if (!alive(f) || f->rq.len == 0)
		return;
	tcp_enter(lc, lc->now);
	f->flags |= TCP_F_RESUME;
	tcp_pend(lc, f);
	tcp_leave(lc);
}

/* tcp_rx_kick - held bytes, or an empty call, to data() again */
void
tcp_rx_kick(struct tcp_flow *f)
{
	struct tcp_lcore *lc = f->lc;

	if (!alive(f))
		return;
	tcp_enter(lc, lc->now);
	f->flags |= TCP_F_RESUME | TCP_F_KICK;
	tcp_pend(lc, f);
	tcp_leave(lc);
}

/* tcp_set_deadline - the application's one timer */
void
tcp_set_deadline(struct tcp_flow *f, uint64_t at)
{
	if (!alive(f) || f->t_app == at)
		return;
	f->t_app = at;
	if (!tcp_timer_covered(f)) /* a later deadline, most calls: the entry stays */
		tcp_timer_sched(f->lc, f);
}

void *
tcp_flow_app(const struct tcp_flow *f)
{
	return f->app;
}

void
tcp_flow_set_app(struct tcp_flow *f, void *appp)
{
	f->app = appp;
}

const struct tcp_key *
tcp_flow_key(const struct tcp_flow *f)
{
	return &f->key;
}

uint8_t
tcp_flow_family(const struct tcp_flow *f)
{
	return f->family;
}

enum tcp_state
tcp_flow_state(const struct tcp_flow *f)
{
	return (enum tcp_state)f->state;
}

struct tcp_lcore *
tcp_flow_lcore(const struct tcp_flow *f)
{
	return f->lc;
}
