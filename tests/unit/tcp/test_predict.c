/* test_predict - header prediction: the fast path of input_sync() is taken
 * for the common segment of an established flow and not taken for each of
 * its exclusions, and either way the stack does exactly what the general
 * path does.
 *
 * Every case runs twice on two stacks fed the same segments at the same
 * times: one with prediction, one with conf.no_prediction (every segment
 * takes the general path of RFC 9293 3.10.7.4). After the case's last
 * segment (the probe) the two must agree on every segment they sent
 * (flags, numbers, window, options, payload), on every field of the flow,
 * on every counter but `predicted`, and on what the application saw; and
 * the first stack's `predicted` counter must have moved by one for the
 * probe exactly when the case says the prediction holds.
 *
 * The fused receive path (tcp_input4_wire(), the segment's bytes instead
 * of a struct tcp_seg) is checked the same way: a session on the wire,
 * and random sequences of segments, time and application calls played
 * on three stacks (fused, tcp_input() with and without prediction) that
 * must agree after every step.
 */
#include "peer.h"

#define A  TCP_ACK
#define AP (TCP_ACK | TCP_PSH)

/* A case: setup brings the flow to the state to test, probe sends the one
 * segment whose path is checked. */
struct pcase {
	const char *name;
	bool taken; /* the probe is predicted */
	void (*conf)(struct tcp_conf *c);
	void (*setup)(struct peer *p);
	void (*probe)(struct peer *p);
};

static char big[8192];

/* handshake - the client's SYN with these options, then its ACK */
static void
handshake(struct peer *p, uint8_t has)
{
	struct tcp_opts o = {.has = (uint8_t)(TCP_O_MSS | has), .mss = 1460, .wscale = 7};
	struct tcp_opts ack = {0};
	struct pout *sa;

	o.ts_val = 5000;
	p->cseq = p->ciss;
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, p->cseq, 0, 65535, NULL, 0, &o);
	sa = p_last(p);
	if (sa == NULL)
		return;
	p->siss = sa->o.seq;
	p->cseq++;
	if (has & TCP_O_TS) {
		ack.has = TCP_O_TS;
		ack.ts_val = 5001;
		ack.ts_ecr = sa->o.opt.ts_val;
	}
	p_segx(p, CLI_PORT, SRV_PORT, A, p->cseq, p->siss + 1, 1024, NULL, 0, &ack);
}

/* snd - the client's segment with options o (NULL: none) */
static void
snd(struct peer *p, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd, const char *data,
    const struct tcp_opts *o)
{
	p_segx(p, CLI_PORT, SRV_PORT, flags, seq, ack, wnd, data, data ? (uint32_t)strlen(data) : 0,
	       o);
}

/* srv_una, srv_max - the server's snd_una and snd_max */
static uint32_t
srv_una(struct peer *p)
{
	return p->flow->snd_una;
}

static uint32_t
srv_max(struct peer *p)
{
	return p->flow->snd_max;
}

/* reply - the server sends n bytes (in flight, not acked) */
static void
reply(struct peer *p, size_t n)
{
	tcp_send(p->flow, big, n);
}

/* ---- setups ---- */

static void
s_plain(struct peer *p)
{
	handshake(p, 0);
}

static void
s_ws(struct peer *p)
{
	handshake(p, TCP_O_WS);
}

static void
s_reply(struct peer *p)
{
	handshake(p, TCP_O_WS | TCP_O_SACKOK);
	snd(p, AP, p->cseq, srv_una(p), 1024, "HELO x\r\n", NULL);
	p->cseq += 8;
	reply(p, 100);
}

static void
s_ts(struct peer *p)
{
	struct tcp_opts o = {.has = TCP_O_TS, .ts_val = 5002};

	handshake(p, TCP_O_WS | TCP_O_TS | TCP_O_SACKOK);
	o.ts_ecr = (uint32_t)p->now;
	snd(p, AP, p->cseq, srv_una(p), 1024, "EHLO y\r\n", &o);
	p->cseq += 8;
	reply(p, 200);
}

/* the server has 3 segments out: room for SACK blocks and duplicates */
static void
s_flight(struct peer *p)
{
	handshake(p, TCP_O_WS | TCP_O_SACKOK);
	reply(p, 3 * 1460);
}

static void
s_ooo(struct peer *p)
{
	handshake(p, TCP_O_WS);
	snd(p, AP, p->cseq + 20, srv_una(p), 1024, "later", NULL);
}

static void
s_closing(struct peer *p)
{
	s_reply(p);
	tcp_close(p->flow);
}

static void
s_blocked(struct peer *p)
{
	handshake(p, TCP_O_WS);
	reply(p, sizeof(big)); /* more than the 4096 send buffer: sent() is owed */
}

static void
s_fin_in(struct peer *p)
{
	handshake(p, TCP_O_WS);
	snd(p, A | TCP_FIN, p->cseq, srv_una(p), 1024, NULL, NULL);
	p->cseq++;
}

static void
s_small_window(struct peer *p)
{
	p->take = 0; /* the application takes nothing: held bytes fill the window */
	handshake(p, 0);
}

static void
s_zero_wnd(struct peer *p)
{
	s_reply(p);
	snd(p, A, p->cseq, srv_una(p), 0, NULL, NULL); /* the peer's window closes */
}

/* the application took nothing of 16 bytes: the 16-byte window is full */
static void
s_window_full(struct peer *p)
{
	s_small_window(p);
	snd(p, AP, p->cseq, srv_una(p), 1024, "0123456789abcdef", NULL);
	p->cseq += 16;
}

static void
c_small_snd(struct tcp_conf *c)
{
	c->snd_buf = 4096;
}

static void
c_small_rcv(struct tcp_conf *c)
{
	c->rcv_buf = 16;
}

/* ---- probes ---- */

/* data at rcv_nxt, acking nothing new */
static void
pr_data(struct peer *p)
{
	snd(p, AP, p->cseq, srv_una(p), 1024, "MAIL FROM:<a@b>\r\n", NULL);
}

/* data without PSH */
static void
pr_data_nopsh(struct peer *p)
{
	snd(p, A, p->cseq, srv_una(p), 1024, "RCPT TO:<c@d>\r\n", NULL);
}

/* a pure ACK of all the server sent */
static void
pr_ack_all(struct peer *p)
{
	snd(p, A, p->cseq, srv_max(p), 1024, NULL, NULL);
}

/* a pure ACK of part of it */
static void
pr_ack_part(struct peer *p)
{
	snd(p, A, p->cseq, srv_una(p) + 1460, 1024, NULL, NULL);
}

/* the next request, acking the reply: the request/response case */
static void
pr_data_ack(struct peer *p)
{
	snd(p, AP, p->cseq, srv_max(p), 1024, "QUIT\r\n", NULL);
}

static void
pr_data_ack_ts(struct peer *p)
{
	struct tcp_opts o = {.has = TCP_O_TS, .ts_val = 5003};

	o.ts_ecr = p->flow->ts_ack != 0 ? (uint32_t)p->now : 0;
	p->now += 3;
	snd(p, AP, p->cseq, srv_max(p), 1024, "QUIT\r\n", &o);
}

static void
pr_fin(struct peer *p)
{
	snd(p, AP | TCP_FIN, p->cseq, srv_max(p), 1024, "QUIT\r\n", NULL);
}

static void
pr_rst(struct peer *p)
{
	snd(p, TCP_RST | A, p->cseq, srv_max(p), 1024, NULL, NULL);
}

static void
pr_syn(struct peer *p)
{
	snd(p, TCP_SYN | A, p->cseq, srv_max(p), 1024, NULL, NULL);
}

static void
pr_urg(struct peer *p)
{
	snd(p, AP | TCP_URG, p->cseq, srv_max(p), 1024, "NOOP\r\n", NULL);
}

static void
pr_noack(struct peer *p)
{
	snd(p, TCP_PSH, p->cseq, 0, 1024, "NOOP\r\n", NULL);
}

static void
pr_ahead(struct peer *p)
{
	snd(p, AP, p->cseq + 100, srv_max(p), 1024, "NOOP\r\n", NULL);
}

static void
pr_old(struct peer *p)
{
	snd(p, AP, p->cseq - 8, srv_max(p), 1024, "HELO x\r\n", NULL);
}

static void
pr_wnd_grows(struct peer *p)
{
	snd(p, AP, p->cseq, srv_max(p), 2048, "NOOP\r\n", NULL);
}

static void
pr_wnd_shrinks(struct peer *p)
{
	snd(p, AP, p->cseq, srv_max(p), 512, "NOOP\r\n", NULL);
}

static void
pr_wnd_zero(struct peer *p)
{
	snd(p, AP, p->cseq, srv_max(p), 0, "NOOP\r\n", NULL);
}

/* still zero: the window is unchanged, but zero */
static void
pr_wnd_still_zero(struct peer *p)
{
	snd(p, AP, p->cseq, srv_una(p), 0, "NOOP\r\n", NULL);
}

static void
pr_ack_beyond(struct peer *p)
{
	snd(p, AP, p->cseq, srv_max(p) + 10, 1024, "NOOP\r\n", NULL);
}

static void
pr_ack_old(struct peer *p)
{
	snd(p, AP, p->cseq, srv_una(p) - 1, 1024, "NOOP\r\n", NULL);
}

static void
pr_dupack(struct peer *p)
{
	snd(p, A, p->cseq, srv_una(p), 1024, NULL, NULL);
}

static void
pr_sack(struct peer *p)
{
	struct tcp_opts o = {.has = TCP_O_SACK, .nsack = 1};

	o.sack[0][0] = srv_una(p) + 1460;
	o.sack[0][1] = srv_una(p) + 2920;
	snd(p, A, p->cseq, srv_una(p), 1024, NULL, &o);
}

/* an ACK of new data while the scoreboard holds a range */
static void
pr_after_sack(struct peer *p)
{
	pr_sack(p);
	snd(p, AP, p->cseq, srv_una(p), 1024, "NOOP\r\n", NULL);
}

/* data after a duplicate ACK (dupacks 1) */
static void
pr_after_dupack(struct peer *p)
{
	pr_dupack(p);
	snd(p, AP, p->cseq, srv_una(p), 1024, "NOOP\r\n", NULL);
}

static void
pr_too_long(struct peer *p)
{
	snd(p, AP, p->cseq, srv_una(p), 1024, "0123456789abcdefXYZ", NULL);
}

/* one byte more, after the window filled */
static void
pr_one_more(struct peer *p)
{
	snd(p, AP, p->cseq, srv_una(p), 1024, "!", NULL);
}

static const struct pcase cases[] = {
        {"in-order data, nothing new acked", true, NULL, s_plain, pr_data},
        {"in-order data without PSH", true, NULL, s_ws, pr_data_nopsh},
        {"pure ACK of all in flight", true, NULL, s_reply, pr_ack_all},
        {"pure ACK of part of the flight", true, NULL, s_flight, pr_ack_part},
        {"request acking the reply", true, NULL, s_reply, pr_data_ack},
        {"request acking the reply, with timestamps", true, NULL, s_ts, pr_data_ack_ts},
        {"not taken: FIN", false, NULL, s_reply, pr_fin},
        {"not taken: RST", false, NULL, s_reply, pr_rst},
        {"not taken: SYN", false, NULL, s_reply, pr_syn},
        {"not taken: URG", false, NULL, s_reply, pr_urg},
        {"not taken: no ACK", false, NULL, s_reply, pr_noack},
        {"not taken: sequence ahead of rcv_nxt", false, NULL, s_reply, pr_ahead},
        {"not taken: sequence behind rcv_nxt", false, NULL, s_reply, pr_old},
        {"not taken: window grows", false, NULL, s_reply, pr_wnd_grows},
        {"not taken: window shrinks", false, NULL, s_reply, pr_wnd_shrinks},
        {"not taken: window closes", false, NULL, s_reply, pr_wnd_zero},
        {"not taken: window stays zero", false, NULL, s_zero_wnd, pr_wnd_still_zero},
        {"not taken: ACK beyond snd_max", false, NULL, s_reply, pr_ack_beyond},
        {"not taken: ACK below snd_una", false, NULL, s_reply, pr_ack_old},
        {"not taken: duplicate ACK", false, NULL, s_flight, pr_dupack},
        {"not taken: SACK blocks", false, NULL, s_flight, pr_sack},
        {"not taken: SACK scoreboard not empty", false, NULL, s_flight, pr_after_sack},
        {"not taken: duplicate ACKs counted", false, NULL, s_flight, pr_after_dupack},
        {"not taken: out-of-order queue", false, NULL, s_ooo, pr_data},
        {"not taken: text beyond the window", false, c_small_rcv, s_small_window, pr_too_long},
        {"not taken: window full", false, c_small_rcv, s_window_full, pr_one_more},
        {"not taken: our FIN queued", false, NULL, s_closing, pr_data_ack},
        {"not taken: sent() owed", false, c_small_snd, s_blocked, pr_ack_part},
        {"not taken: not ESTABLISHED (CLOSE_WAIT)", false, NULL, s_fin_in, pr_dupack},
};

/* same_out - two recorded segments are the same on the wire */
static bool
same_out(const struct pout *a, const struct pout *b)
{
	const struct tcp_out *x = &a->o, *y = &b->o;

	return x->family == y->family && x->flags == y->flags && x->wnd == y->wnd &&
	       x->seq == y->seq && x->ack == y->ack && x->sport == y->sport &&
	       x->dport == y->dport && memcmp(&x->src, &y->src, sizeof(x->src)) == 0 &&
	       memcmp(&x->dst, &y->dst, sizeof(x->dst)) == 0 &&
	       memcmp(&x->opt, &y->opt, sizeof(x->opt)) == 0 && a->len == b->len &&
	       memcmp(a->data, b->data, a->len) == 0;
}

/* flow_bytes - a flow's fields, without the pointers that differ by stack */
static struct tcp_flow
flow_bytes(const struct tcp_flow *f)
{
	struct tcp_flow c = *f;

	c.lc = NULL;
	c.app = NULL;
	return c;
}

/* compare - both stacks after the probe: false (and why) if they differ */
static bool
compare(struct peer *a, struct peer *b)
{
	struct tcp_stats sa = *a->st, sb = *b->st;

	if (a->nout != b->nout) {
		printf("#   %d segments sent against %d\n", a->nout, b->nout);
		return false;
	}
	for (int i = 0; i < a->nout; i++)
		if (!same_out(&a->out[i], &b->out[i])) {
			printf("#   segment %d differs: flags %02x/%02x seq %u/%u ack %u/%u wnd "
			       "%u/%u len %u/%u\n",
			       i, a->out[i].o.flags, b->out[i].o.flags, a->out[i].o.seq,
			       b->out[i].o.seq, a->out[i].o.ack, b->out[i].o.ack, a->out[i].o.wnd,
			       b->out[i].o.wnd, a->out[i].len, b->out[i].len);
			return false;
		}
	sa.predicted = sb.predicted = 0;
	if (memcmp(&sa, &sb, sizeof(sa)) != 0) {
		printf("#   counters differ\n");
		return false;
	}
	if ((a->flow == NULL) != (b->flow == NULL)) {
		printf("#   one flow ended, the other did not\n");
		return false;
	}
	if (a->flow != NULL) {
		struct tcp_flow fa = flow_bytes(a->flow), fb = flow_bytes(b->flow);

		if (memcmp(&fa, &fb, sizeof(fa)) != 0) {
			printf("#   flows differ: state %u/%u rcv_nxt %u/%u snd_una %u/%u "
			       "flags %x/%x\n",
			       fa.state, fb.state, fa.rcv_nxt, fb.rcv_nxt, fa.snd_una, fb.snd_una,
			       fa.flags, fb.flags);
			return false;
		}
	}
	if (a->rxlen != b->rxlen || memcmp(a->rx, b->rx, a->rxlen) != 0 ||
	    a->accepts != b->accepts || a->fins != b->fins || a->closes != b->closes ||
	    a->sents != b->sents || a->why != b->why) {
		printf("#   the applications saw different things\n");
		return false;
	}
	return true;
}

/* start - a stack for case c, with or without prediction */
static struct peer *
start(const struct pcase *c, bool predict)
{
	struct tcp_conf cf;
	struct peer *p;

	p_conf(&cf);
	if (c->conf != NULL)
		c->conf(&cf);
	cf.no_prediction = !predict;
	p = p_start(&cf);
	return p;
}

static void
run_case(const struct pcase *c)
{
	struct peer *a = start(c, true), *b = start(c, false);
	uint64_t before;

	c->setup(a);
	c->setup(b);
	if (!ok(a->flow != NULL && b->flow != NULL, "%s: set up", c->name)) {
		p_stop(a);
		p_stop(b);
		return;
	}
	before = a->st->predicted;
	p_clear(a);
	p_clear(b);
	c->probe(a);
	c->probe(b);
	if (c->taken)
		is_int(a->st->predicted - before, 1, "%s: predicted", c->name);
	else
		is_int(a->st->predicted - before, 0, "%s: general path", c->name);
	is_int(b->st->predicted, 0, "%s: the reference stack never predicts", c->name);
	ok(compare(a, b), "%s: same segments, flow, counters and delivery as the general path",
	   c->name);
	p_stop(a);
	p_stop(b);
}

/* A whole SMTP-like session: request, reply, ACK, ..., both closes; most
 * segments predicted, and the same result as the general path. */
static void
test_session(void)
{
	static const char *const req[] = {"EHLO x\r\n", "MAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\r\n",
	                                  "QUIT\r\n"};
	struct peer *p[2];
	uint64_t in = 0;

	for (int k = 0; k < 2; k++) {
		struct tcp_conf cf;

		p_conf(&cf);
		cf.no_prediction = k == 1;
		p[k] = p_start(&cf);
		p[k]->echo = true;
		handshake(p[k], TCP_O_WS | TCP_O_SACKOK);
		for (unsigned i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
			p[k]->now += 5;
			snd(p[k], AP, p[k]->cseq, p[k]->flow->snd_max, 1024, req[i], NULL);
			p[k]->cseq += (uint32_t)strlen(req[i]);
		}
		p[k]->now += 5;
		tcp_close(p[k]->flow);
		snd(p[k], A | TCP_FIN, p[k]->cseq, p[k]->flow->snd_max, 1024, NULL, NULL);
		in = p[k]->st->seg_in;
	}
	is_int(p[0]->st->predicted, 4, "session: the four requests are predicted");
	ok(in == 7 && p[0]->closes == 1 && p[0]->flow == NULL, "session: ended normally");
	ok(compare(p[0], p[1]), "session: same as the general path");
	p_stop(p[0]);
	p_stop(p[1]);
}

/* ---- the fused receive path (tcp_input4_wire()) against tcp_input() ---- */

/* wire_in - seg as the bytes on the wire, through tcp_input4_wire(); the
 * options in tcp_wire_build()'s layout (NOP NOP TS: the fused path's), or
 * with odd set and a timestamp alone, TS first and two NOPs after (parsed
 * the same, but not the layout the fused path reads: the general path) */
static void
wire_in(struct peer *p, const struct tcp_seg *seg, bool odd)
{
	uint8_t buf[60 + 2048];
	struct tcp_out o = {0};
	uint32_t src, dst;
	size_t h;

	o.family = TCP_V4;
	o.flags = seg->flags;
	o.wnd = seg->wnd;
	o.sport = seg->sport;
	o.dport = seg->dport;
	o.seq = seg->seq;
	o.ack = seg->ack;
	o.opt = seg->opt;
	h = tcp_wire_build(buf, sizeof(buf), &o);
	if (!(seg->flags & TCP_ACK)) /* tcp_wire_build() writes 0 then; the wire may not */
		tcp_wire_put32(buf + 8, seg->ack);
	if (odd && seg->opt.has == TCP_O_TS && h == 32) {
		buf[20] = 8;
		buf[21] = 10;
		tcp_wire_put32(buf + 22, seg->opt.ts_val);
		tcp_wire_put32(buf + 26, seg->opt.ts_ecr);
		buf[30] = buf[31] = 1;
	}
	if (seg->len > 0)
		memcpy(buf + h, seg->data, seg->len);
	memcpy(&src, seg->src.b, 4);
	memcpy(&dst, seg->dst.b, 4);
	if (tcp_input4_wire(p->lc, buf, h + seg->len, src, dst, p->now) != 0)
		printf("#   tcp_input4_wire refused a header that fits\n");
}

/* rnd - xorshift64*: the same sequences on every run */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(uint32_t n)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return (uint32_t)((rnd_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

/* rnd_seg - the client's next segment, from what the server (stack a)
 * has told it: mostly what a real client sends (in-order text acking
 * replies), with every exclusion of header prediction now and then */
static void
rnd_seg(struct peer *a, struct tcp_seg *s, uint16_t *wnd, uint32_t *tsv)
{
	const struct tcp_flow *f = a->flow;
	uint32_t una = f->snd_una, max = f->snd_max, r = rnd(100);

	memset(s, 0, sizeof(*s));
	s->family = TCP_V4;
	s->src = ip4(10, 0, 0, 1);
	s->dst = ip4(10, 0, 0, 2);
	s->sport = CLI_PORT;
	s->dport = SRV_PORT;
	s->flags = rnd(3) ? AP : A;
	s->seq = f->rcv_nxt;
	s->ack = max == una ? una : una + rnd(max - una + 1);
	if (rnd(4) == 0)
		s->ack = max; /* all of it */
	s->data = (const uint8_t *)big;
	s->len = 1 + rnd(200);
	if (r < 5) /* the window moves */
		*wnd = rnd(8) == 0 ? 0 : (uint16_t)(1 + rnd(2048));
	else if (r < 10) /* a pure ACK, perhaps a duplicate */
		s->len = 0;
	else if (r < 14) /* out of order */
		s->seq += 1 + rnd(300);
	else if (r < 17) /* old, or overlapping */
		s->seq -= 1 + rnd(300);
	else if (r < 19) /* beyond what was sent, or far below */
		s->ack = rnd(2) ? max + 1 + rnd(1000) : una - 100000;
	else if (r < 21) { /* a SACK block of what was sent */
		s->opt.has |= TCP_O_SACK;
		s->opt.nsack = 1;
		s->opt.sack[0][0] = s->ack + (max - s->ack) / 2;
		s->opt.sack[0][1] = max;
	} else if (r < 23)
		s->flags |= TCP_URG; /* an unusual flag: never predicted */
	else if (r == 23)
		s->flags |= TCP_FIN;
	else if (r == 24)
		s->flags = TCP_SYN; /* a challenge ACK */
	else if (r == 25)
		s->flags = TCP_RST | TCP_ACK, s->seq += 1 + rnd(10); /* an RST off rcv_nxt */
	else if (r < 40)
		s->len = 0; /* a pure ACK of the replies */
	s->wnd = *wnd;
	if (f->flags & TCP_F_TS) {
		s->opt.has |= TCP_O_TS;
		*tsv += rnd(3);
		s->opt.ts_val = rnd(50) == 0 ? *tsv - 1000 : *tsv; /* now and then an old one */
		s->opt.ts_ecr = rnd(10) == 0 ? 0 : (uint32_t)a->now - rnd(100);
	}
	if (s->len > 0 && s->flags & TCP_SYN)
		s->len = 0;
}

/* fused_run - one random sequence through three stacks: tcp_input4_wire()
 * (the fused path), tcp_input() with prediction, tcp_input() without;
 * false (and where) at the first step where they differ */
static bool
fused_run(unsigned run, uint64_t *predicted, uint64_t *steps)
{
	static const uint8_t opts[4] = {0, TCP_O_WS, TCP_O_WS | TCP_O_TS | TCP_O_SACKOK,
	                                TCP_O_TS | TCP_O_SACKOK};
	struct peer *p[3];
	uint16_t wnd = 1024;
	uint32_t tsv = 6000;
	bool same = true;
	int n = 20 + (int)rnd(80);
	uint8_t has = opts[run % 4];
	size_t take = rnd(3) == 0 ? 1 + rnd(64) : SIZE_MAX;
	bool echo = rnd(2) == 0;

	for (int k = 0; k < 3; k++) {
		struct tcp_conf cf;

		p_conf(&cf);
		cf.no_prediction = k == 2;
		if (run % 5 == 4) { /* small buffers: full windows, pool refusals */
			cf.rcv_buf = 1024;
			cf.snd_buf = 2048;
			cf.nchunks = 12;
			cf.chunk_reserve = 4;
		}
		p[k] = p_start(&cf);
		p[k]->echo = echo;
		p[k]->take = take;
		handshake(p[k], has);
	}
	for (int i = 0;
	     i < n && same && p[0]->flow != NULL && p[1]->flow != NULL && p[2]->flow != NULL; i++) {
		struct tcp_seg s;
		uint32_t act = rnd(20);
		size_t ns = 1 + rnd(300);
		bool odd = rnd(6) == 0;

		for (int k = 0; k < 3; k++)
			p_clear(p[k]);
		if (act == 0) { /* the server sends (unacked: the next ACKs are new) */
			for (int k = 0; k < 3; k++)
				tcp_send(p[k]->flow, big, ns);
		} else if (act == 1) { /* time passes; timers */
			uint64_t dt = 1 + rnd(1500);

			for (int k = 0; k < 3; k++)
				p_tick(p[k], dt);
		} else if (act == 2 && rnd(10) == 0) { /* the server closes */
			for (int k = 0; k < 3; k++)
				tcp_close(p[k]->flow);
		} else if (act == 3) { /* the application takes what it left */
			for (int k = 0; k < 3; k++)
				tcp_rx_resume(p[k]->flow);
		} else {
			uint64_t before = p[0]->st->predicted;

			rnd_seg(p[0], &s, &wnd, &tsv);
			for (int k = 0; k < 3; k++)
				p[k]->now += 1;
			wire_in(p[0], &s, odd);
			tcp_input(p[1]->lc, &s, p[1]->now);
			tcp_input(p[2]->lc, &s, p[2]->now);
			*predicted += p[0]->st->predicted - before;
			++*steps;
		}
		if (p[0]->st->predicted != p[1]->st->predicted) {
			printf("#   run %u step %d: predicted %llu by the fused path, %llu by "
			       "tcp_input()\n",
			       run, i, (unsigned long long)p[0]->st->predicted,
			       (unsigned long long)p[1]->st->predicted);
			same = false;
		}
		if (same && !compare(p[0], p[1])) {
			printf("#   run %u step %d: the fused path against tcp_input()\n", run, i);
			same = false;
		}
		if (same && !compare(p[0], p[2])) {
			printf("#   run %u step %d: the fused path against the general path\n", run,
			       i);
			same = false;
		}
	}
	for (int k = 0; k < 3; k++)
		p_stop(p[k]);
	return same;
}

/* test_fused - random sequences through the fused path and the others:
 * the same segments out, flows, counters and delivery after every step */
static void
test_fused(void)
{
	uint64_t predicted = 0, steps = 0;
	unsigned bad = 0, runs = 400;

	for (unsigned r = 0; r < runs; r++)
		if (!fused_run(r, &predicted, &steps))
			bad++;
	is_int(bad, 0,
	       "fused path: %u random sequences (%llu segments) agree with tcp_input() "
	       "with and without prediction",
	       runs, (unsigned long long)steps);
	ok(predicted * 5 > steps && predicted < steps,
	   "fused path: both paths exercised (%llu of %llu segments predicted)",
	   (unsigned long long)predicted, (unsigned long long)steps);
}

/* test_fused_session - the SMTP-like session of test_session() on the
 * wire: the four requests predicted by the fused path */
static void
test_fused_session(void)
{
	static const char *const req[] = {"EHLO x\r\n", "MAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\r\n",
	                                  "QUIT\r\n"};
	struct peer *p[2];

	for (int k = 0; k < 2; k++) {
		struct tcp_conf cf;
		struct tcp_seg s;

		p_conf(&cf);
		cf.no_prediction = k == 1;
		p[k] = p_start(&cf);
		p[k]->echo = true;
		handshake(p[k], TCP_O_WS | TCP_O_TS | TCP_O_SACKOK);
		for (unsigned i = 0; i <= sizeof(req) / sizeof(req[0]); i++) {
			bool fin = i == sizeof(req) / sizeof(req[0]);

			p[k]->now += 5;
			if (fin)
				tcp_close(p[k]->flow);
			memset(&s, 0, sizeof(s));
			s.family = TCP_V4;
			s.src = ip4(10, 0, 0, 1);
			s.dst = ip4(10, 0, 0, 2);
			s.sport = CLI_PORT;
			s.dport = SRV_PORT;
			s.flags = fin ? A | TCP_FIN : AP;
			s.seq = p[k]->cseq;
			s.ack = p[k]->flow->snd_max;
			s.wnd = 1024;
			s.opt.has = TCP_O_TS;
			s.opt.ts_val = 5002 + i;
			s.opt.ts_ecr = (uint32_t)p[k]->now - 5;
			s.data = fin ? NULL : (const uint8_t *)req[i];
			s.len = fin ? 0 : (uint32_t)strlen(req[i]);
			wire_in(p[k], &s, false);
			p[k]->cseq += s.len;
		}
	}
	is_int(p[0]->st->predicted, 4, "fused session: the four requests are predicted");
	ok(p[0]->st->seg_in == 7 && p[0]->closes == 1 && p[0]->flow == NULL,
	   "fused session: ended normally");
	ok(compare(p[0], p[1]), "fused session: same as the general path");
	p_stop(p[0]);
	p_stop(p[1]);
}

/* ---- the handshake's ACK from the wire (open4()) against tcp_input() ---- */

/* server_flow - the stack's flow of the client's 4-tuple, in any state
 * (p->flow is only set once the application accepted it) */
static struct tcp_flow *
server_flow(struct peer *p)
{
	uint32_t la, ra, h;

	memcpy(&la, ip4(10, 0, 0, 2).b, 4);
	memcpy(&ra, ip4(10, 0, 0, 1).b, 4);
	h = tcp_hash4(p->lc, la, ra, SRV_PORT, CLI_PORT);
	return tcp_flow_lookup4(p->lc, h, la, ra, SRV_PORT, CLI_PORT);
}

/* same_flow - the two stacks' flows of the client are both absent, or
 * the same in every field */
static bool
same_flow(struct peer *a, struct peer *b)
{
	struct tcp_flow *x = server_flow(a), *y = server_flow(b);
	struct tcp_flow fx, fy;

	if ((x == NULL) != (y == NULL)) {
		printf("#   a flow in one stack only\n");
		return false;
	}
	if (x == NULL)
		return true;
	fx = flow_bytes(x);
	fy = flow_bytes(y);
	if (memcmp(&fx, &fy, sizeof(fx)) != 0) {
		printf("#   flows differ: state %u/%u snd_una %u/%u ts_recent %u/%u rto %u/%u\n",
		       fx.state, fy.state, fx.snd_una, fy.snd_una, fx.ts_recent, fy.ts_recent,
		       fx.rto, fy.rto);
		return false;
	}
	return true;
}

/* rnd_open_seg - the client's segment while the server is in SYN_RCVD
 * (or has just left it): mostly the ACK that completes the handshake,
 * with each thing open4() must leave to the general path now and then:
 * text, FIN, RST, SYN, a sequence number or ACK off the mark, no or old
 * timestamps; seq0 is the client's sequence number after its SYN, siss
 * the server's ISN */
static void
rnd_open_seg(struct tcp_seg *s, uint32_t seq0, uint32_t siss, uint8_t has, uint32_t *tsv,
             uint32_t ts_srv)
{
	uint32_t r = rnd(100);

	memset(s, 0, sizeof(*s));
	s->family = TCP_V4;
	s->src = ip4(10, 0, 0, 1);
	s->dst = ip4(10, 0, 0, 2);
	s->sport = CLI_PORT;
	s->dport = SRV_PORT;
	s->flags = rnd(4) == 0 ? AP : A;
	s->seq = seq0;
	s->ack = siss + 1;
	s->wnd = rnd(8) == 0 ? 0 : (uint16_t)(1 + rnd(65535));
	if (r < 8)
		s->seq +=
		        rnd(2) ? 1 + rnd(100000) : -(1 + rnd(1000)); /* out of the window, or old */
	else if (r < 16)
		s->ack = rnd(2) ? siss : siss + 1 + 1 + rnd(1000); /* acks nothing, or beyond */
	else if (r < 20)
		s->ack = siss + 1 - 100000;
	else if (r < 28) { /* text on the ACK */
		s->data = (const uint8_t *)big;
		s->len = 1 + rnd(300);
	} else if (r < 32)
		s->flags |= TCP_FIN;
	else if (r < 35)
		s->flags = A | TCP_RST;
	else if (r < 37)
		s->flags = TCP_SYN; /* the SYN again: the SYN-ACK again */
	else if (r < 39)
		s->flags |= TCP_URG;
	else if (r < 41)
		s->flags = TCP_RST, s->ack = 0;
	if ((has & TCP_O_TS) && rnd(12) != 0) {
		s->opt.has = TCP_O_TS;
		*tsv += rnd(3);
		s->opt.ts_val = rnd(10) == 0 ? *tsv - 1000 : *tsv; /* now and then an old one */
		s->opt.ts_ecr = rnd(6) == 0 ? 0 : ts_srv;
	} else if (!(has & TCP_O_TS) && rnd(10) == 0) { /* a timestamp nobody agreed to */
		s->opt.has = TCP_O_TS;
		s->opt.ts_val = *tsv;
	}
	if (s->flags & TCP_SYN) {
		s->len = 0;
		s->data = NULL;
		s->seq = seq0 - 1;
		s->opt.has |= has;
		s->opt.mss = 1460;
		s->opt.wscale = 7;
	}
}

/* open_run - one random passive open through three stacks: the SYN and
 * what follows it through tcp_input4_wire() (the fused path), tcp_input()
 * with prediction, tcp_input() without; false (and where) at the first
 * step where they differ. Time passes between segments now and then (a
 * SYN-ACK retransmitted: no RTT sample, the initial RTO), the application
 * refuses some flows, and after the handshake a request and its reply. */
static bool
open_run(unsigned run, uint64_t *opened, uint64_t *steps)
{
	static const uint8_t opts[4] = {0, TCP_O_WS, TCP_O_WS | TCP_O_TS | TCP_O_SACKOK,
	                                TCP_O_TS | TCP_O_SACKOK};
	uint8_t has = opts[run % 4];
	struct tcp_opts syn = {.has = (uint8_t)(TCP_O_MSS | has), .mss = 1460, .wscale = 7};
	struct peer *p[3];
	uint32_t tsv = 5000, siss = 0, ts_srv = 0, seq0 = CLI_ISS + 1;
	bool same = true, refuse = rnd(8) == 0;
	int n = 1 + (int)rnd(6);
	struct tcp_seg s;

	syn.ts_val = tsv;
	memset(&s, 0, sizeof(s));
	s.family = TCP_V4;
	s.src = ip4(10, 0, 0, 1);
	s.dst = ip4(10, 0, 0, 2);
	s.sport = CLI_PORT;
	s.dport = SRV_PORT;
	s.flags = TCP_SYN;
	s.seq = CLI_ISS;
	s.wnd = 65535;
	s.opt = syn;
	for (int k = 0; k < 3; k++) {
		struct tcp_conf cf;

		p_conf(&cf);
		cf.no_prediction = k == 2;
		p[k] = p_start(&cf);
		p[k]->refuse = refuse;
		p[k]->echo = true;
		p[k]->now += run;
	}
	wire_in(p[0], &s, false);
	tcp_input(p[1]->lc, &s, p[1]->now);
	tcp_input(p[2]->lc, &s, p[2]->now);
	if (p_last(p[0]) != NULL) {
		siss = p_last(p[0])->o.seq;
		ts_srv = p_last(p[0])->o.opt.ts_val;
	}
	same = compare(p[0], p[1]) && compare(p[0], p[2]) && same_flow(p[0], p[1]) &&
	       same_flow(p[0], p[2]);
	if (!same)
		printf("#   run %u: the SYN\n", run);
	for (int i = 0; i < n && same; i++) {
		struct tcp_flow *f = server_flow(p[0]);
		bool odd = rnd(6) == 0, was_open = f != NULL && f->state == TCP_S_SYN_RCVD;

		for (int k = 0; k < 3; k++)
			p_clear(p[k]);
		if (rnd(5) == 0) { /* time passes: perhaps the SYN-ACK again */
			uint64_t dt = 1 + rnd(3000);

			for (int k = 0; k < 3; k++)
				p_tick(p[k], dt);
		} else {
			rnd_open_seg(&s, seq0, siss, has, &tsv, ts_srv);
			for (int k = 0; k < 3; k++)
				p[k]->now += rnd(50);
			p[1]->now = p[2]->now = p[0]->now;
			wire_in(p[0], &s, odd);
			tcp_input(p[1]->lc, &s, p[1]->now);
			tcp_input(p[2]->lc, &s, p[2]->now);
			f = server_flow(p[0]);
			if (was_open && (f == NULL || f->state != TCP_S_SYN_RCVD))
				++*opened;
			++*steps;
		}
		if (!compare(p[0], p[1]) || !same_flow(p[0], p[1])) {
			printf("#   run %u step %d: the fused path against tcp_input()\n", run, i);
			same = false;
		} else if (!compare(p[0], p[2]) || !same_flow(p[0], p[2])) {
			printf("#   run %u step %d: the fused path against the general path\n", run,
			       i);
			same = false;
		}
	}
	if (same && p[0]->flow != NULL && p[0]->flow->state == TCP_S_ESTABLISHED) {
		/* a request at rcv_nxt, acking what the flow has sent */
		for (int k = 0; k < 3; k++)
			p_clear(p[k]);
		memset(&s, 0, sizeof(s));
		s.family = TCP_V4;
		s.src = ip4(10, 0, 0, 1);
		s.dst = ip4(10, 0, 0, 2);
		s.sport = CLI_PORT;
		s.dport = SRV_PORT;
		s.flags = AP;
		s.seq = p[0]->flow->rcv_nxt;
		s.ack = p[0]->flow->snd_max;
		s.wnd = 1024;
		s.data = (const uint8_t *)"HELO x\r\n";
		s.len = 8;
		if (p[0]->flow->flags & TCP_F_TS) {
			s.opt.has = TCP_O_TS;
			s.opt.ts_val = tsv + 1;
			s.opt.ts_ecr = ts_srv;
		}
		for (int k = 0; k < 3; k++)
			p[k]->now += 3;
		wire_in(p[0], &s, false);
		tcp_input(p[1]->lc, &s, p[1]->now);
		tcp_input(p[2]->lc, &s, p[2]->now);
		if (!compare(p[0], p[1]) || !compare(p[0], p[2])) {
			printf("#   run %u: the request after the handshake\n", run);
			same = false;
		}
	}
	for (int k = 0; k < 3; k++)
		p_stop(p[k]);
	return same;
}

/* test_fused_open - random passive opens through the fused path and the
 * others: the same segments out, flows, counters and what the application
 * saw after every step, with open4() taking part of the handshakes */
static void
test_fused_open(void)
{
	uint64_t opened = 0, steps = 0;
	uint64_t fast0;
	unsigned bad = 0, runs = 1000;
	struct peer *q;
	struct tcp_seg s;

	for (unsigned r = 0; r < runs; r++)
		if (!open_run(r, &opened, &steps))
			bad++;
	is_int(bad, 0,
	       "fused open: %u random handshakes (%llu segments, %llu opened) agree with "
	       "tcp_input() with and without prediction",
	       runs, (unsigned long long)steps, (unsigned long long)opened);
	ok(opened * 4 > runs, "fused open: most runs open the flow");
	/* the plain handshake's ACK is taken by open4(): no parse, which the
	 * counters cannot tell, but a flow opened by the wire path with no
	 * prediction (the general path's conf) must match too */
	q = p_start(NULL);
	memset(&s, 0, sizeof(s));
	s.family = TCP_V4;
	s.src = ip4(10, 0, 0, 1);
	s.dst = ip4(10, 0, 0, 2);
	s.sport = CLI_PORT;
	s.dport = SRV_PORT;
	s.flags = TCP_SYN;
	s.seq = CLI_ISS;
	s.wnd = 65535;
	wire_in(q, &s, false);
	fast0 = q->st->accepted;
	s.flags = A;
	s.seq = CLI_ISS + 1;
	s.ack = p_last(q)->o.seq + 1;
	s.wnd = 1024;
	wire_in(q, &s, false);
	ok(q->st->accepted == fast0 + 1 && q->flow != NULL && q->flow->state == TCP_S_ESTABLISHED &&
	           q->flow->snd_wnd == 1024,
	   "fused open: a plain handshake's ACK opens the flow");
	p_stop(q);
}

/* ---- the straight output (tcp_output_one()) against tcp_output() ---- */

/* test_straight_cwnd - after an RTO cwnd is one MSS, below the peer's
 * window: a reply that fits the window and one segment, but not cwnd with
 * what is in flight, waits for the ACK on both paths (the straight path
 * must test cwnd, not the window alone), then goes on both */
static void
test_straight_cwnd(void)
{
	struct peer *p[2];
	int held[2] = {0, 0}, after[2] = {0, 0};

	for (int k = 0; k < 2; k++) {
		struct tcp_conf cf;
		uint32_t mss;

		p_conf(&cf);
		cf.no_prediction = k == 1;
		p[k] = p_start(&cf);
		handshake(p[k], TCP_O_WS); /* the client's window: 1024 << 7 */
		mss = p[k]->flow->mss;
		tcp_send(p[k]->flow, big, mss + 50);
		p_tick(p[k], 1500); /* the RTO: cwnd one MSS, the head again */
		p_clear(p[k]);
		tcp_send(p[k]->flow, big, 30);
		held[k] = p[k]->nout;
		p_clear(p[k]);
		p[k]->now += 5;
		snd(p[k], A, p[k]->cseq, p[k]->flow->snd_una + mss, 1024, NULL, NULL);
		after[k] = p[k]->nout;
	}
	ok(held[0] == 0 && held[1] == 0,
	   "straight output: a reply beyond cwnd waits (%d, %d segments)", held[0], held[1]);
	ok(after[0] > 0 && compare(p[0], p[1]),
	   "straight output: after the ACK, the same segments as tcp_output() (%d)", after[0]);
	p_stop(p[0]);
	p_stop(p[1]);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_session();
	test_fused_session();
	test_fused();
	test_fused_open();
	test_straight_cwnd();
	return done_testing();
}
