/* test_lean - lean flows (an SMTP session before DATA): the window they
 * advertise and what they take from the peer, their send limit, opening
 * them (at DATA) and making them lean again without shrinking the window
 * (RFC 9293 3.8.6.2.2), and the low-pool policy that refuses their data
 * first (tcp_chunk.c) */
#include "peer.h"

#define A  TCP_ACK
#define AP (TCP_ACK | TCP_PSH)

#define LEAN 4064 /* as the gate's SESS_LEAN_*_BUF: 2 chunks */

static char big[200000];

/* lean_conf - the test defaults with lean passive opens */
static void
lean_conf(struct tcp_conf *c)
{
	p_conf(c);
	c->lean_rcv_buf = LEAN;
	c->lean_snd_buf = LEAN;
}

/* edge - the right edge an ACK of ours advertised */
static uint32_t
edge(const struct pout *o, uint8_t ws)
{
	return o->o.ack + ((uint32_t)o->o.wnd << ws);
}

/* Window bounds: what the SYN-ACK offers, and how much of one big segment
 * (the application taking nothing) is acknowledged and held. */
struct wcase {
	const char *name;
	uint32_t lean;   /* conf.lean_rcv_buf (0: no lean flows) */
	bool ws;         /* the client's SYN offers window scale */
	bool cookie;     /* the handshake goes through a SYN cookie */
	uint32_t send;   /* bytes the client sends at once */
	uint16_t synack; /* window field of the SYN-ACK */
	uint32_t held;   /* bytes acknowledged and held */
	uint16_t wnd;    /* window field of the ACK that follows */
};

static const struct wcase wcases[] = {
        {"lean, WS", LEAN, true, false, 1000, LEAN, 1000, (LEAN - 1000) / 2},
        {"lean, WS, beyond the edge", LEAN, true, false, 6000, LEAN, LEAN, 0},
        {"lean, no WS, beyond the edge", LEAN, false, false, 6000, LEAN, LEAN, 0},
        {"lean, SYN cookie, beyond the edge", LEAN, false, true, 6000, LEAN, LEAN, 0},
        {"full, WS", 0, true, false, 6000, 65535, 6000, (65536 - 6000) / 2},
        {"full, no WS", 0, false, false, 6000, 65535, 6000, 65536 - 6000},
};

/* cookie_handshake - SYN, the cookie SYN-ACK, the ACK that returns it */
static bool
cookie_handshake(struct peer *p)
{
	struct tcp_opts o = {.has = TCP_O_MSS, .mss = 1460};
	struct pout *sa;

	p->cseq = p->ciss;
	p_clear(p);
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, p->cseq, 0, 65535, NULL, 0, &o);
	sa = p_last(p);
	if (sa == NULL || sa->o.flags != (TCP_SYN | TCP_ACK))
		return false;
	p->siss = sa->o.seq;
	p->cseq++;
	p_seg(p, TCP_ACK, p->cseq, p->siss + 1, 1024, NULL, 0);
	return p->flow != NULL;
}

static void
test_window_bounds(void)
{
	for (size_t i = 0; i < sizeof(wcases) / sizeof(wcases[0]); i++) {
		const struct wcase *w = &wcases[i];
		struct tcp_conf cf;
		struct peer *p;
		struct pout *sa;
		bool up;

		lean_conf(&cf);
		cf.lean_rcv_buf = w->lean;
		cf.cookies = w->cookie ? TCP_COOKIES_ALWAYS : TCP_COOKIES_NEVER;
		p = p_start(&cf);
		up = w->cookie ? cookie_handshake(p) : p_handshake(p, w->ws);
		sa = &p->out[0];
		ok(up && sa->o.flags == (TCP_SYN | TCP_ACK) && sa->o.wnd == w->synack,
		   "%s: the SYN-ACK offers %u (got %u)", w->name, w->synack, sa->o.wnd);
		if (w->ws)
			ok((sa->o.opt.has & TCP_O_WS) && sa->o.opt.wscale == 1,
			   "%s: ... and WS 1, so that the window can open to rcv_buf later",
			   w->name);
		if (!up) {
			p_stop(p);
			continue;
		}
		is_int(tcp_flow_lean(p->flow), w->lean != 0, "%s: lean as configured", w->name);
		p->take = 0;
		p_clear(p);
		p_seg(p, AP, p->cseq, p->siss + 1, 1024, big, w->send);
		is_int(p->flow->rq.len, w->held, "%s: %u of %u bytes held", w->name, w->held,
		       w->send);
		p_expect(p, "... and acknowledged, no more", A, p->siss + 1, p->cseq + w->held, 0);
		is_int(p_last(p)->o.wnd, w->wnd, "%s: window field %u", w->name, w->wnd);
		p_stop(p);
	}
}

/* Opening at DATA, and lean again after it: every ACK's right edge only
 * moves forward, the window grows to rcv_buf at once, and shrinks back to
 * the lean size only as the peer fills what was offered. */
static void
test_open_and_lean_again(void)
{
	struct tcp_conf cf;
	struct peer *p;
	uint32_t s, c, e, last = 0;
	bool monotone = true;

	lean_conf(&cf);
	p = p_start(&cf);
	p_handshake(p, true);
	s = p->siss + 1;
	c = p->cseq;
	p->take = 0;
	p_seg(p, AP, c, s, 1024, big, LEAN);
	c += LEAN;
	is_int(p_last(p)->o.wnd, 0, "lean window full: zero");
	last = edge(p_last(p), 1);
	/* DATA: the session opens its flow */
	p->take = SIZE_MAX;
	p_clear(p);
	tcp_set_lean(p->flow, false);
	tcp_rx_resume(p->flow);
	ok(!tcp_flow_lean(p->flow), "no longer lean");
	is_int(p->rxlen, LEAN, "held bytes delivered");
	ok(p->nout >= 1 && p_last(p)->o.wnd == 65536 / 2,
	   "a window update offers the full 64 KiB at once (field %u)",
	   p->nout ? p_last(p)->o.wnd : 0);
	e = edge(p_last(p), 1);
	ok(SEQ_GEQ(e, last), "the right edge moved forward");
	last = e;
	/* the message flows: 40,000 bytes, each ACK's edge checked */
	for (int i = 0; i < 40; i++) {
		p_seg(p, AP, c, s, 1024, big, 1000);
		c += 1000;
		monotone &= SEQ_GEQ(edge(p_last(p), 1), last);
		last = edge(p_last(p), 1);
	}
	is_int(p->rxlen, LEAN + 40000, "the message taken beyond the lean window");
	/* end of DATA: lean again; the application now takes nothing */
	tcp_set_lean(p->flow, true);
	p->take = 0;
	p_seg(p, AP, c, s, 1024, big, 1000);
	c += 1000;
	monotone &= SEQ_GEQ(edge(p_last(p), 1), last);
	is_int(edge(p_last(p), 1), last, "lean again: the right edge stays where it was");
	is_int(p->flow->rq.len, 1000, "data within the offered window is still taken");
	/* the peer may fill all it was offered, and no more */
	while (SEQ_LT(c, last)) {
		uint32_t n = last - c < 1460 ? last - c : 1460;

		p_seg(p, AP, c, s, 1024, big, n);
		c += n;
		monotone &= SEQ_GEQ(edge(p_last(p), 1), last);
	}
	is_int(p_last(p)->o.wnd, 0, "filled to the old edge: window zero");
	p_seg(p, AP, c, s, 1024, big, 100);
	is_int(p_last(p)->o.ack, c, "nothing past the edge taken");
	/* the application takes it all: the window is the lean one again */
	p->take = SIZE_MAX;
	p_clear(p);
	tcp_rx_resume(p->flow);
	ok(p->nout >= 1 && p_last(p)->o.wnd == LEAN / 2, "the reopened window is lean (field %u)",
	   p->nout ? p_last(p)->o.wnd : 0);
	monotone &= p->nout >= 1 && SEQ_GEQ(edge(p_last(p), 1), last);
	ok(monotone, "no ACK ever moved the right edge back (RFC 9293 3.8.6.2.2)");
	p_stop(p);
}

/* The send limit: a lean flow queues LEAN bytes, a full one snd_buf. */
static void
test_send_bound(void)
{
	struct tcp_conf cf;
	struct peer *p;

	lean_conf(&cf);
	p = p_start(&cf);
	p_handshake(p, true);
	is_int(tcp_send_space(p->flow), LEAN, "a lean flow may queue %u bytes", LEAN);
	is_int(tcp_send(p->flow, big, 10000), LEAN, "tcp_send() takes no more");
	is_int(tcp_send_space(p->flow), 0, "then none");
	tcp_set_lean(p->flow, false);
	is_int(tcp_send_space(p->flow), 65536 - LEAN, "opened: snd_buf less what is queued");
	is_int(tcp_send(p->flow, big, 10000), 10000, "... and taken");
	tcp_set_lean(p->flow, true);
	is_int(tcp_send_space(p->flow), 0, "lean again with more queued: nothing until acked");
	p_seg(p, A, p->cseq, p->flow->snd_max, 1024, NULL, 0);
	is_int(tcp_send_space(p->flow), LEAN, "all acked: the lean limit again");
	p_stop(p);
	/* no lean flows configured: tcp_set_lean() changes nothing */
	p = p_start(NULL);
	p_handshake(p, true);
	tcp_set_lean(p->flow, true);
	ok(!tcp_flow_lean(p->flow) && tcp_send_space(p->flow) == 65536,
	   "without conf.lean_rcv_buf a flow stays full");
	p_stop(p);
}

/* Send space by state (tcp_send_space() and tcp_send() share one check):
 * bytes are taken in ESTABLISHED and CLOSE_WAIT, none once our FIN is
 * queued or the flow is gone, and tcp_send() agrees with the space. */
static void
test_send_states(void)
{
	struct tcp_conf cf;
	struct peer *p;

	lean_conf(&cf);
	p = p_start(&cf);
	p_handshake(p, true);
	tcp_set_lean(p->flow, false);
	p_seg(p, TCP_FIN | TCP_ACK, p->cseq, p->flow->snd_max, 1024, NULL, 0);
	p->cseq++;
	ok(tcp_flow_state(p->flow) == TCP_S_CLOSE_WAIT && tcp_send_space(p->flow) == 65536,
	   "CLOSE_WAIT: the peer's FIN leaves our send space whole");
	is_int(tcp_send(p->flow, big, 100), 100, "CLOSE_WAIT: tcp_send() takes the bytes");
	tcp_close(p->flow);
	ok(tcp_flow_state(p->flow) == TCP_S_LAST_ACK && tcp_send_space(p->flow) == 0,
	   "LAST_ACK, our FIN queued: no send space");
	is_int(tcp_send(p->flow, big, 100), 0, "LAST_ACK: tcp_send() takes nothing");
	p_stop(p);
	p = p_start(&cf);
	p_handshake(p, true);
	tcp_close(p->flow);
	ok(tcp_flow_state(p->flow) == TCP_S_FIN_WAIT_1 && tcp_send_space(p->flow) == 0 &&
	           tcp_send(p->flow, big, 10) == 0,
	   "FIN_WAIT_1: nothing after our FIN");
	p_stop(p);
}

/* The low-pool policy: a lean flow's new data is refused (not acked) below
 * chunk_low if it holds chunks, below chunk_reserve always; a full flow's
 * never. Another, full flow with unacknowledged output uses the pool up to
 * the row's level. */
struct pcase {
	const char *name;
	uint32_t free; /* free chunks when the data comes */
	bool lean;     /* the flow under test is lean */
	bool holds;    /* it holds a chunk (a reply its client has not acked) */
	bool refused;  /* its 6 bytes are refused */
};

#define P_NCHUNKS 64
#define P_LOW     16
#define P_RESERVE 4

static const struct pcase pcases[] = {
        {"plenty, lean, holds nothing", 40, true, false, false},
        {"plenty, lean, holds a reply", 40, true, true, false},
        {"low, lean, holds nothing", 10, true, false, false},
        {"low, lean, holds a reply", 10, true, true, true},
        {"at the reserve, lean, holds nothing", P_RESERVE, true, false, true},
        {"at the reserve, full, holds a reply", P_RESERVE, false, true, false},
        {"just above the reserve, lean, holds nothing", P_RESERVE + 1, true, false, false},
};

/* open_port - a handshake from client port sport; the server's ISN + 1 */
static uint32_t
open_port(struct peer *p, uint16_t sport, uint32_t ciss)
{
	struct tcp_opts o = {.has = TCP_O_MSS | TCP_O_WS, .mss = 1460, .wscale = 7};

	p_segx(p, sport, SRV_PORT, TCP_SYN, ciss, 0, 65535, NULL, 0, &o);
	uint32_t s = p_last(p)->o.seq + 1;

	p_segx(p, sport, SRV_PORT, TCP_ACK, ciss + 1, s, 1024, NULL, 0, NULL);
	return s;
}

static void
test_low_pool(void)
{
	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *w = &pcases[i];
		struct tcp_conf cf;
		struct peer *p;
		struct tcp_flow *hog, *f;
		uint32_t s, c, used;
		uint64_t drops;

		lean_conf(&cf);
		cf.nchunks = P_NCHUNKS;
		cf.chunk_low = P_LOW;
		cf.chunk_reserve = P_RESERVE;
		cf.snd_buf = P_NCHUNKS * TCP_CHUNK_DATA;
		p = p_start(&cf);
		open_port(p, CLI_PORT + 1, 5000);
		hog = p->flow;
		tcp_set_lean(hog, false);
		p_handshake(p, true);
		f = p->flow;
		s = p->siss + 1;
		c = p->cseq;
		if (!w->lean)
			tcp_set_lean(f, false);
		if (w->holds)
			tcp_send(f, "250 2.0.0 Ok\r\n", 14);
		used = P_NCHUNKS - p->lc->chunks_free_n;
		tcp_send(hog, big, (size_t)(P_NCHUNKS - w->free - used) * TCP_CHUNK_DATA);
		is_int(p->lc->chunks_free_n, w->free, "%s: %u chunks free", w->name, w->free);
		if (p->lc->chunks_free_n != w->free) {
			p_stop(p);
			continue;
		}
		ok(w->lean && w->free <= P_RESERVE ? tcp_send_space(f) == 0 : tcp_send_space(f) > 0,
		   "%s: send space %s", w->name,
		   w->lean && w->free <= P_RESERVE ? "none: the reserve is for full flows"
		                                   : "as the flow's limit says");
		drops = p->st->drop_lowpool;
		p->rxlen = 0;
		p_clear(p);
		p_seg(p, AP, c, s, 1024, "NOOP\r\n", 6);
		if (w->refused) {
			ok(p->rxlen == 0 && f->rcv_nxt == c && p->nout == 0 &&
			           p->st->drop_lowpool == drops + 1,
			   "%s: refused, not acked, counted", w->name);
			/* the hog's client acknowledges: the pool recovers, the
			 * retransmission goes through */
			for (int k = 0; k < 50 && hog->sq.len > 0; k++)
				p_segx(p, CLI_PORT + 1, SRV_PORT, TCP_ACK, 5001, hog->snd_max, 1024,
				       NULL, 0, NULL);
			p_seg(p, AP, c, s, 1024, "NOOP\r\n", 6);
			ok(p->rxlen == 6 && f->rcv_nxt == c + 6,
			   "%s: the retransmission is taken once the pool recovered", w->name);
		} else {
			ok(p->rxlen == 6 && f->rcv_nxt == c + 6 && p->st->drop_lowpool == drops,
			   "%s: taken", w->name);
		}
		p_stop(p);
	}
}

/* The high-water mark follows the most chunks in use at once. */
static void
test_hwm(void)
{
	struct tcp_conf cf;
	struct peer *p;

	lean_conf(&cf);
	p = p_start(&cf);
	p_handshake(p, true);
	tcp_send(p->flow, big, 3000); /* 2 chunks */
	is_int(p->st->chunks_hwm, 2, "two chunks in use: mark 2");
	p_seg(p, A, p->cseq, p->flow->snd_max, 1024, NULL, 0);
	ok(p->st->chunks_used == 0 && p->st->chunks_hwm == 2, "acked: none in use, the mark stays");
	p_stop(p);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	test_window_bounds();
	test_open_and_lean_again();
	test_send_bound();
	test_send_states();
	test_low_pool();
	test_hwm();
	return done_testing();
}
