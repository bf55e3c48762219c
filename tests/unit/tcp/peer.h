/* peer - a scripted peer for the TCP unit tests
 *
 * The stack under test runs on a struct tcp_lcore whose emit callback
 * records every segment (payload copied). The test plays the other end by
 * building struct tcp_seg by hand: a client 10.0.0.1:40000 talking to our
 * 10.0.0.2, listening on port 25. A small application records what it is
 * told and can echo, refuse, take partially, close on FIN.
 */
#ifndef PEER_H
#define PEER_H

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tcp.h"
#include "tcp_impl.h"

#define P_MAXOUT  512
#define P_MAXDATA 4096
#define CLI_PORT  40000
#define SRV_PORT  25
#define CLI_ISS   1000u

struct pout {
	struct tcp_out o;
	uint8_t data[P_MAXDATA];
	uint32_t len;
};

struct peer {
	struct tcp_lcore *lc;
	struct tcp_stats *st;
	struct pout out[P_MAXOUT];
	int nout;
	uint64_t now;
	int app;
	/* the test application */
	struct tcp_flow *flow; /* the last accepted or connected */
	int accepts, connects, fins, closes, deadlines, sents;
	enum tcp_end why;
	uint8_t rx[1 << 20];
	size_t rxlen;
	size_t take;    /* data() takes at most this much per call */
	bool refuse;    /* accept() refuses */
	bool echo;      /* data() sends back what it takes */
	bool close_fin; /* peer_fin() closes */
	bool fail_emit; /* emit returns an error */
	/* the client side's view */
	uint32_t ciss; /* client's ISN for p_handshake() */
	uint32_t cseq; /* next client sequence number */
	uint32_t siss; /* server's ISN, from its SYN-ACK */
};

/* p_opt_wire - only the options o->has flags are on the wire: the others'
 * fields zeroed (the stack need not set them), so that segments compare
 * by what they say */
static inline void
p_opt_wire(struct tcp_opts *o)
{
	struct tcp_opts w = {.has = o->has};

	if (o->has & TCP_O_MSS)
		w.mss = o->mss;
	if (o->has & TCP_O_WS)
		w.wscale = o->wscale;
	if (o->has & TCP_O_TS) {
		w.ts_val = o->ts_val;
		w.ts_ecr = o->ts_ecr;
	}
	if (o->has & TCP_O_SACK) {
		w.nsack = o->nsack;
		for (unsigned i = 0; i < o->nsack && i < TCP_SACK_MAX; i++) {
			w.sack[i][0] = o->sack[i][0];
			w.sack[i][1] = o->sack[i][1];
		}
	}
	*o = w;
}

static inline int
p_emit(void *arg, const struct tcp_out *o)
{
	struct peer *p = arg;
	struct pout *po;

	if (p->nout == P_MAXOUT)
		memmove(p->out, p->out + 1, sizeof(p->out[0]) * (--p->nout));
	po = &p->out[p->nout++];
	po->o = *o;
	p_opt_wire(&po->o.opt);
	po->len = 0;
	for (int i = 0; i < 2; i++) {
		if (o->len[i] > 0 && po->len + o->len[i] <= P_MAXDATA) {
			memcpy(po->data + po->len, o->data[i], o->len[i]);
			po->len += o->len[i];
		}
	}
	po->o.data[0] = po->data;
	po->o.len[0] = po->len;
	po->o.data[1] = NULL;
	po->o.len[1] = 0;
	return p->fail_emit ? -1 : 0;
}

static inline int
a_accept(void *ctx, struct tcp_flow *f)
{
	struct peer *p = ctx;

	p->accepts++;
	if (p->refuse)
		return -1;
	p->flow = f;
	tcp_flow_set_app(f, p);
	return 0;
}

static inline void
a_connected(void *ctx, struct tcp_flow *f)
{
	struct peer *p = ctx;

	p->connects++;
	p->flow = f;
}

static inline size_t
a_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct peer *p = ctx;
	size_t n = len < p->take ? len : p->take;

	if (p->echo)
		n = tcp_send(f, buf, n);
	if (p->rxlen + n > sizeof(p->rx))
		n = sizeof(p->rx) - p->rxlen;
	memcpy(p->rx + p->rxlen, buf, n);
	p->rxlen += n;
	return n;
}

static inline void
a_fin(void *ctx, struct tcp_flow *f)
{
	struct peer *p = ctx;

	p->fins++;
	if (p->close_fin)
		tcp_close(f);
}

static inline void
a_sent(void *ctx, struct tcp_flow *f)
{
	struct peer *p = ctx;

	p->sents++;
	tcp_rx_resume(f);
}

static inline void
a_deadline(void *ctx, struct tcp_flow *f, uint64_t now)
{
	struct peer *p = ctx;

	(void)now;
	p->deadlines++;
	(void)f;
}

static inline void
a_closed(void *ctx, struct tcp_flow *f, enum tcp_end why)
{
	struct peer *p = ctx;

	p->closes++;
	p->why = why;
	if (p->flow == f)
		p->flow = NULL;
}

static const struct tcp_app p_app = {
        .accept = a_accept,
        .connected = a_connected,
        .data = a_data,
        .peer_fin = a_fin,
        .sent = a_sent,
        .deadline = a_deadline,
        .closed = a_closed,
};

/* p_conf - small, deterministic defaults for tests */
static inline void
p_conf(struct tcp_conf *c)
{
	tcp_conf_default(c);
	c->max_flows = 64;
	c->nchunks = 256;
	c->chunk_reserve = 8;
	c->tw_max = 8;
	c->cookies = TCP_COOKIES_NEVER;
	memcpy(c->key, "0123456789abcdef", 16);
}

/* p_start - a peer on a stack made from conf c (NULL: p_conf defaults) */
static inline struct peer *
p_start(const struct tcp_conf *c)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct tcp_conf cc;

	if (c == NULL) {
		p_conf(&cc);
		c = &cc;
	}
	cc = *c;
	cc.emit = p_emit;
	cc.emit_arg = p;
	p->lc = tcp_lcore_create(&cc);
	if (p->lc == NULL) {
		printf("Bail out! tcp_lcore_create failed\n");
		exit(1);
	}
	p->st = tcp_lcore_stats(p->lc);
	p->now = 1000000;
	p->take = SIZE_MAX;
	p->app = tcp_app_register(p->lc, &p_app, p);
	tcp_listen(p->lc, SRV_PORT, p->app);
	p->cseq = p->ciss = CLI_ISS;
	return p;
}

static inline void
p_stop(struct peer *p)
{
	tcp_lcore_destroy(p->lc);
	free(p);
}

static inline struct tcp_ip
ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct tcp_ip ip = {{a, b, c, d}};

	return ip;
}

/* p_seg - a segment from the client as it would come off the wire */
static inline void
p_segx(struct peer *p, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
       uint16_t wnd, const void *data, uint32_t len, const struct tcp_opts *opt)
{
	struct tcp_seg s;

	memset(&s, 0, sizeof(s));
	s.family = TCP_V4;
	s.src = ip4(10, 0, 0, 1);
	s.dst = ip4(10, 0, 0, 2);
	s.sport = sport;
	s.dport = dport;
	s.flags = flags;
	s.seq = seq;
	s.ack = ack;
	s.wnd = wnd;
	if (opt != NULL)
		s.opt = *opt;
	s.data = data;
	s.len = len;
	tcp_input(p->lc, &s, p->now);
}

static inline void
p_seg(struct peer *p, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd, const void *data,
      uint32_t len)
{
	p_segx(p, CLI_PORT, SRV_PORT, flags, seq, ack, wnd, data, len, NULL);
}

/* p_last - the last segment sent, or NULL */
static inline struct pout *
p_last(struct peer *p)
{
	return p->nout ? &p->out[p->nout - 1] : NULL;
}

static inline void
p_clear(struct peer *p)
{
	p->nout = 0;
}

/* p_tick - advance the clock and run timers */
static inline void
p_tick(struct peer *p, uint64_t ms)
{
	p->now += ms;
	tcp_timers_run(p->lc, p->now);
}

/* p_expect - the last segment has these flags, seq, ack (ack checked if ACK) and length */
static inline int
p_expect(struct peer *p, const char *what, uint8_t flags, uint32_t seq, uint32_t ack, int len)
{
	struct pout *o = p_last(p);
	int good = o != NULL && o->o.flags == flags && o->o.seq == seq &&
	           (!(flags & TCP_ACK) || o->o.ack == ack) && (len < 0 || (int)o->len == len);

	if (!ok(good, "%s", what)) {
		if (o == NULL)
			printf("#   nothing sent\n");
		else
			printf("#   got flags %02x seq %u ack %u len %u wnd %u; want %02x %u %u "
			       "%d\n",
			       o->o.flags, o->o.seq, o->o.ack, o->len, o->o.wnd, flags, seq, ack,
			       len);
	}
	return good;
}

/* p_connect - the client's handshake with MSS 1460 and WS 7; false on a bad SYN-ACK */
static inline bool
p_handshake(struct peer *p, bool ws)
{
	struct tcp_opts o = {.has = TCP_O_MSS, .mss = 1460};
	struct pout *sa;

	if (ws) {
		o.has |= TCP_O_WS;
		o.wscale = 7;
	}
	p->cseq = p->ciss;
	p_clear(p);
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, p->cseq, 0, 65535, NULL, 0, &o);
	sa = p_last(p);
	if (sa == NULL || sa->o.flags != (TCP_SYN | TCP_ACK) || sa->o.ack != p->ciss + 1)
		return false;
	p->siss = sa->o.seq;
	p->cseq++;
	p_seg(p, TCP_ACK, p->cseq, p->siss + 1, 1024, NULL, 0);
	return p->flow != NULL && tcp_flow_state(p->flow) == TCP_S_ESTABLISHED;
}

/* p_send - the client sends in-order data (window 1024 << 7 with WS) */
static inline void
p_send(struct peer *p, const char *s, uint32_t ack)
{
	uint32_t n = (uint32_t)strlen(s);

	p_seg(p, TCP_ACK | TCP_PSH, p->cseq, ack, 1024, s, n);
	p->cseq += n;
}

#endif
