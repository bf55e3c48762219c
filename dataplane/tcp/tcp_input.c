/* tcp_input - a received segment through the state machine of RFC 9293
 * 3.10.7, with RFC 5961's checks on RST, SYN and ACK
 *
 * Untrusted input: every field of the segment. The net layer has checked
 * the checksum and that the header fits; everything else (flags, numbers,
 * window, options, length) is checked here before it changes state.
 *
 * Order per segment, as in the RFC: sequence acceptability, RST, SYN, ACK,
 * text, FIN. A segment for no flow goes to a listener (SYN: a new flow, or
 * a stateless SYN cookie; ACK: perhaps a cookie's return) or gets a RST
 * (RFC 9293 3.10.7.1).
 *
 * Two entries: tcp_input() takes a parsed segment; tcp_input4_wire(), the
 * gate's IPv4 path, takes the header bytes and handles the predicted
 * segment of an established flow (most of a session's) without parsing
 * it into a struct tcp_seg: fast4() reads the fields it needs once. It
 * must do exactly what input_sync() does with the same segment; the unit
 * tests (test_predict) and the fuzzer compare the two.
 */
#include <string.h>

#include "tcp_impl.h"

#define COOKIE_VALID_MS (2 * 64000) /* ACKs may return cookies this long after the last sent */
#define DUPACK_THRESH   3           /* RFC 5681 3.2 */

static inline uint32_t
umin(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* find_listener - the listener of a local port, or NULL */
static const struct tcp_listener *
find_listener(const struct tcp_lcore *lc, uint16_t port)
{
	for (unsigned i = 0; i < lc->nlisten; i++)
		if (lc->listen[i].used && lc->listen[i].port == port)
			return &lc->listen[i];
	return NULL;
}

/* rst_for - RFC 9293 3.10.7.1: the RST answering a segment that has no connection */
static void
rst_for(struct tcp_lcore *lc, const struct tcp_seg *seg)
{
	if (seg->flags & TCP_RST)
		return;
	if (seg->flags & TCP_ACK)
		tcp_send_reply(lc, seg, TCP_RST, seg->ack, 0, 0, NULL);
	else
		tcp_send_reply(lc, seg, TCP_RST | TCP_ACK, 0,
		               seg->seq + seg->len + !!(seg->flags & TCP_SYN) +
		                       !!(seg->flags & TCP_FIN),
		               0, NULL);
}

/* flow_init - the common part of a new flow from a segment */
static void
flow_init(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg, uint8_t app)
{
	f->family = seg->family;
	f->key.laddr = seg->dst;
	f->key.raddr = seg->src;
	f->key.lport = seg->dport;
	f->key.rport = seg->sport;
	f->app_id = app;
	f->rto = lc->conf.rto_init_ms;
	f->ssthresh = UINT32_MAX;
	if (lc->conf.lean_rcv_buf != 0) /* the buffers of tcp_passive_rcv_buf() */
		f->flags |= TCP_F_LEAN;
}

/* peer_mss - the send MSS from the peer's option, ours, and the chunk size */
static uint16_t
peer_mss(const struct tcp_lcore *lc, uint8_t family, uint16_t peer)
{
	uint16_t ours = family == TCP_V6 ? lc->mss6 : lc->mss4;

	if (peer < 64) /* nonsense: RFC 9293 3.7.1 lets us use the default */
		peer = family == TCP_V6 ? TCP_MSS6_DEFAULT : TCP_MSS_DEFAULT;
	return peer < ours ? peer : ours;
}

/* init_cwnd - RFC 6928 initial window, 10 segments */
static void
init_cwnd(struct tcp_flow *f)
{
	f->cwnd = 10u * f->mss;
}

/* open_done - the handshake completed: tell the application */
static void
open_done(struct tcp_lcore *lc, struct tcp_flow *f)
{
	const struct tcp_app *app = tcp_app_of(lc, f);

	if (f->flags & TCP_F_ACTIVE) {
		lc->st.connected++;
		if (app != NULL && app->connected != NULL)
			app->connected(tcp_ctx_of(lc, f), f);
		return;
	}
	lc->st.accepted++;
	if (app == NULL || app->accept(tcp_ctx_of(lc, f), f) != 0) {
		lc->st.aborts++;
		tcp_send_rst_flow(lc, f);
		tcp_end(lc, f, TCP_END_ABORT);
		return;
	}
	f->flags |= TCP_F_APP;
}

/* ts_open - both SYNs carry timestamps: every segment will (RFC 7323 3.2),
 * and each has 12 bytes less room for data */
static void
ts_open(struct tcp_flow *f, const struct tcp_seg *seg)
{
	if (seg->opt.has & TCP_O_SACKOK)
		f->flags |= TCP_F_SACK; /* RFC 2018: our ACKs may carry SACK blocks */
	if (!(seg->opt.has & TCP_O_TS))
		return;
	f->flags |= TCP_F_TS;
	f->ts_recent = seg->opt.ts_val;
	f->mss = (uint16_t)(f->mss - 12);
}

/* ts_update - RFC 7323 4.3: the TSval to echo, from a segment that covers
 * Last.ACK.sent and is not older than what we echo already */
static void
ts_update(struct tcp_flow *f, const struct tcp_seg *seg)
{
	if ((f->flags & TCP_F_TS) && (seg->opt.has & TCP_O_TS) && SEQ_LEQ(seg->seq, f->ts_ack) &&
	    (int32_t)(seg->opt.ts_val - f->ts_recent) >= 0)
		f->ts_recent = seg->opt.ts_val;
}

/* passive_open - a SYN to a listening port: a SYN_RCVD flow or a cookie */
static void
passive_open(struct tcp_lcore *lc, const struct tcp_seg *seg, const struct tcp_listener *l,
             uint32_t hash)
{
	const struct tcp_conf *c = &lc->conf;
	bool cookie = c->cookies == TCP_COOKIES_ALWAYS ||
	              (c->cookies == TCP_COOKIES_AUTO &&
	               (lc->st.half_open >= c->syn_backlog ||
	                lc->st.flows_active * 1000 >= (uint64_t)c->cookie_fill * c->max_flows));
	struct tcp_flow *f = NULL;

	if (cookie || (lc->st.half_open + 1) * 2 > c->syn_backlog)
		lc->syn_pressed_ms = lc->now; /* see synack_limit() in tcp_output.c */
	if (!cookie) {
		f = tcp_flow_alloc(lc);
		if (f == NULL && c->cookies == TCP_COOKIES_NEVER) {
			lc->st.drop_full++;
			return;
		}
		cookie = f == NULL;
	}
	if (cookie) {
		struct tcp_opts o = {0};
		uint32_t isn = tcp_cookie_make(lc, seg, &o.mss);

		o.has = TCP_O_MSS;
		lc->st.cookies_sent++;
		tcp_send_reply(lc, seg, TCP_SYN | TCP_ACK, isn, seg->seq + 1,
		               (uint16_t)umin(tcp_passive_rcv_buf(c), 0xffff), &o);
		return;
	}
	flow_init(lc, f, seg, l->app);
	f->irs = seg->seq;
	f->rcv_nxt = seg->seq + 1;
	f->rcv_adv = f->rcv_nxt; /* nothing advertised yet: the SYN-ACK sets the edge from here */
	f->iss = tcp_isn(lc, f->family, &f->key);
	f->snd_una = f->snd_nxt = f->snd_max = f->recover = f->iss;
	if (seg->opt.has & TCP_O_WS) {
		f->flags |= TCP_F_WS;
		f->snd_ws = seg->opt.wscale;
		f->rcv_ws = lc->rcv_ws;
	}
	f->mss = peer_mss(lc, f->family,
	                  seg->opt.has & TCP_O_MSS
	                          ? seg->opt.mss
	                          : (f->family == TCP_V6 ? TCP_MSS6_DEFAULT : TCP_MSS_DEFAULT));
	ts_open(f, seg);
	f->snd_wnd = f->max_snd_wnd = seg->wnd; /* RFC 7323 2.2: a SYN's window is not scaled */
	f->snd_wl1 = seg->seq;
	init_cwnd(f);
	tcp_set_state(f, TCP_S_SYN_RCVD);
	tcp_flow_hash_add(lc, f, hash);
	tcp_send_synack(lc, f);
	f->flags |= TCP_F_RTT;
	f->rtt_ts = (uint32_t)lc->now;
	tcp_timer_rearm(lc, f, lc->now + f->rto);
	/* data on a SYN is dropped: the peer sends it again once established */
}

static void input_sync(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg);

/* full_reply - a valid cookie's ACK and no flow for it: the application's
 * "busy" bytes and our FIN in one stateless segment, right after the ISN the
 * cookie was. The peer's answer finds no flow and gets a RST; the flows we
 * have are untouched. */
static void
full_reply(struct tcp_lcore *lc, const struct tcp_seg *seg)
{
	struct tcp_out o = {0};
	uint16_t mss = seg->family == TCP_V6 ? lc->mss6 : lc->mss4;

	lc->st.drop_full++;
	if (lc->conf.full_reply == NULL || lc->conf.full_reply_len > mss)
		return;
	o.family = seg->family;
	o.src = seg->dst;
	o.dst = seg->src;
	o.sport = seg->dport;
	o.dport = seg->sport;
	o.flags = TCP_ACK | TCP_PSH | TCP_FIN;
	o.seq = seg->ack;
	o.ack = seg->seq; /* nothing of what it sent is taken */
	o.wnd = (uint16_t)umin(tcp_passive_rcv_buf(&lc->conf), 0xffff);
	o.data[0] = lc->conf.full_reply;
	o.len[0] = lc->conf.full_reply_len;
	lc->st.seg_out++;
	lc->st.full_replies++;
	if (lc->conf.emit(lc->conf.emit_arg, &o) != 0)
		lc->st.emit_failed++;
}

/* cookie_open - the ACK returned a valid cookie: an established flow */
static void
cookie_open(struct tcp_lcore *lc, const struct tcp_seg *seg, const struct tcp_listener *l,
            uint16_t mss, uint32_t hash)
{
	struct tcp_flow *f = tcp_flow_alloc(lc);

	if (f == NULL) {
		full_reply(lc, seg);
		return;
	}
	lc->st.cookies_ok++;
	flow_init(lc, f, seg, l->app);
	f->flags |= TCP_F_COOKIE;
	f->irs = seg->seq - 1;
	f->rcv_nxt = seg->seq;
	f->rcv_adv = seg->seq + umin(tcp_rcv_buf(f), 0xffff); /* what the cookie SYN-ACK said */
	f->iss = seg->ack - 1;
	f->snd_una = f->snd_nxt = f->snd_max = f->recover = seg->ack;
	f->mss = peer_mss(lc, f->family, mss);
	f->snd_wnd = f->max_snd_wnd = seg->wnd;
	f->snd_wl1 = seg->seq;
	f->snd_wl2 = seg->ack;
	init_cwnd(f);
	tcp_set_state(f, TCP_S_ESTABLISHED);
	tcp_flow_hash_add(lc, f, hash);
	open_done(lc, f);
	if (!(f->flags & TCP_F_DEAD) && (seg->len > 0 || seg->flags & TCP_FIN))
		input_sync(lc, f, seg);
}

/* input_closed - a segment that matches no flow; hash: its 4-tuple's */
static void
input_closed(struct tcp_lcore *lc, const struct tcp_seg *seg, uint32_t hash)
{
	const struct tcp_listener *l = find_listener(lc, seg->dport);
	uint8_t fl = seg->flags;

	if (fl & TCP_RST) {
		lc->st.drop_noflow++;
		return;
	}
	if ((fl & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
		if (l == NULL) {
			lc->st.drop_noport++;
			rst_for(lc, seg);
			return;
		}
		passive_open(lc, seg, l, hash);
		return;
	}
	if ((fl & (TCP_SYN | TCP_ACK)) == TCP_ACK && l != NULL && lc->cookie_last_ms != 0 &&
	    lc->now - lc->cookie_last_ms < COOKIE_VALID_MS) {
		uint16_t mss;

		if (tcp_cookie_check(lc, seg, &mss) == 0) {
			cookie_open(lc, seg, l, mss, hash);
			return;
		}
		lc->st.cookies_bad++;
	}
	lc->st.drop_noflow++;
	rst_for(lc, seg);
}

/* enter_tw - both FINs are through and ours was first: TIME_WAIT */
static void
enter_tw(struct tcp_lcore *lc, struct tcp_flow *f)
{
	const struct tcp_app *app = tcp_app_of(lc, f);

	if (f->flags & TCP_F_ACKNOW)
		tcp_send_ack(lc, f);
	if (f->flags & TCP_F_APP) {
		f->flags &= ~(uint32_t)TCP_F_APP;
		if (app != NULL)
			app->closed(tcp_ctx_of(lc, f), f, TCP_END_NORMAL);
	}
	if (f->flags & TCP_F_DEAD)
		return;
	/* nothing is left to send or deliver in a normal close: the calls
	 * only when there is (an empty queue has no head) */
	if (f->sq.head != TCP_NIL)
		tcp_cq_clear(lc, &f->sq);
	if (f->rq.head != TCP_NIL)
		tcp_cq_clear(lc, &f->rq);
	if (f->ooo != TCP_NIL)
		tcp_ooo_clear(lc, f);
	f->t_app = 0;
	tcp_tw_enter(lc, f); /* may free f */
}

/* tell_fin - peer_fin() once all held bytes are taken */
static void
tell_fin(struct tcp_lcore *lc, struct tcp_flow *f)
{
	const struct tcp_app *app = tcp_app_of(lc, f);

	if ((f->flags & (TCP_F_FIN_RCVD | TCP_F_FIN_TOLD | TCP_F_APP)) !=
	            (TCP_F_FIN_RCVD | TCP_F_APP) ||
	    f->rq.len > 0)
		return;
	f->flags |= TCP_F_FIN_TOLD;
	if (app != NULL && app->peer_fin != NULL)
		app->peer_fin(tcp_ctx_of(lc, f), f);
}

/* fin_in - the peer's FIN is next in sequence; false when f is no more */
static bool
fin_in(struct tcp_lcore *lc, struct tcp_flow *f)
{
	f->flags |= TCP_F_ACKNOW;
	tcp_pend(lc, f);
	if (f->flags & TCP_F_FIN_RCVD)
		return true;
	f->rcv_nxt++;
	f->flags |= TCP_F_FIN_RCVD;
	switch (f->state) {
	case TCP_S_ESTABLISHED:
		tcp_set_state(f, TCP_S_CLOSE_WAIT);
		break;
	case TCP_S_FIN_WAIT_1:
		if ((f->flags & TCP_F_FIN_SENT) && f->snd_una == f->snd_max) {
			tell_fin(lc, f);
			enter_tw(lc, f);
			return false;
		}
		tcp_set_state(f, TCP_S_CLOSING);
		break;
	case TCP_S_FIN_WAIT_2:
		tell_fin(lc, f);
		enter_tw(lc, f);
		return false;
	default:
		break;
	}
	tell_fin(lc, f);
	return !(f->flags & TCP_F_DEAD);
}

/* rcv_data - in-order bytes: to the application, the rest held; how many were taken in */
static uint32_t
rcv_data(struct tcp_lcore *lc, struct tcp_flow *f, const uint8_t *data, uint32_t len)
{
	const struct tcp_app *app = tcp_app_of(lc, f);
	size_t taken = 0, held;

	if (f->rq.len == 0 && !(f->flags & TCP_F_DELIVERING) && app != NULL &&
	    (f->flags & TCP_F_APP)) {
		f->flags |= TCP_F_DELIVERING;
		taken = app->data(tcp_ctx_of(lc, f), f, data, len);
		f->flags &= ~(uint32_t)TCP_F_DELIVERING;
		if (taken > len)
			taken = len;
		lc->st.bytes_in += taken;
		if (f->flags & TCP_F_DEAD)
			return len;
		if (f->flags & TCP_F_RESUME) /* asked from inside data(): nothing is held yet */
			f->flags &= ~(uint32_t)TCP_F_RESUME;
		if (taken == len) /* all taken, the common case: nothing to hold */
			return len;
	}
	held = tcp_cq_append(lc, &f->rq, data + taken, len - taken);
	if (taken + held < len)
		lc->st.drop_nopool++;
	return (uint32_t)(taken + held);
}

/* ooo_drain - queued segments that rcv_nxt has reached; true if one carried the FIN */
static bool
ooo_drain(struct tcp_lcore *lc, struct tcp_flow *f)
{
	while (f->ooo != TCP_NIL && !(f->flags & TCP_F_DEAD)) {
		struct tcp_chunk *ch = tcp_chunk(lc, f->ooo);
		uint32_t end = ch->seq + ch->len;

		if (SEQ_GT(ch->seq, f->rcv_nxt))
			break;
		if (SEQ_GT(end, f->rcv_nxt)) {
			uint32_t skip = f->rcv_nxt - ch->seq, n = ch->len - skip;
			uint32_t got = rcv_data(lc, f, ch->data + skip, n);

			f->rcv_nxt += got;
			if (got < n)
				return false; /* stays queued; the peer will resend what we could
				                 not take */
		}
		if (f->flags & TCP_F_DEAD)
			return false;
		uint32_t next = ch->next;
		bool fin = ch->fin && end == f->rcv_nxt;

		tcp_chunk_put(lc, f->ooo);
		f->ooo = next;
		f->ooo_n--;
		if (fin)
			return true;
	}
	return false;
}

/* rto_reset - the RTO from the RTT estimate (after a persist episode) */
static void
rto_reset(struct tcp_lcore *lc, struct tcp_flow *f)
{
	f->rto = lc->conf.rto_init_ms;
	if (f->srtt_x8 != 0) {
		uint32_t r = (f->srtt_x8 >> 3) + (f->rttvar_x4 > 4 ? f->rttvar_x4 : 4);

		f->rto = r < lc->conf.rto_min_ms ? lc->conf.rto_min_ms : r;
	}
}

/* newreno_dupack - RFC 5681 3.2 and RFC 6582: fast retransmit at the third
 * duplicate ACK, then each one inflates cwnd by an MSS */
static void
newreno_dupack(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t flight)
{
	if (++f->dupacks == DUPACK_THRESH && !(f->flags & TCP_F_RECOVERY)) {
		f->ssthresh = flight / 2 > 2u * f->mss ? flight / 2 : 2u * f->mss;
		f->recover = f->snd_max;
		f->flags |= TCP_F_RECOVERY;
		lc->st.fast_retransmits++;
		tcp_retransmit_one(lc, f);
		f->cwnd = f->ssthresh + 3u * f->mss;
	} else if (f->dupacks > DUPACK_THRESH && (f->flags & TCP_F_RECOVERY)) {
		f->cwnd += f->mss;
		tcp_pend(lc, f);
	}
}

static bool ack_new(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg);

/* ack_in - RFC 9293 3.10.7.4 fifth check, past RFC 5961's range test;
 * false when f is no more (or no more to process) */
static bool
ack_in(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg)
{
	uint32_t ack = seg->ack, old_wnd = f->snd_wnd, flight;
	uint32_t wnd = (uint32_t)seg->wnd << f->snd_ws;

	if (SEQ_LT(f->snd_wl1, seg->seq) || (f->snd_wl1 == seg->seq && SEQ_LEQ(f->snd_wl2, ack))) {
		f->snd_wnd = wnd;
		f->snd_wl1 = seg->seq;
		f->snd_wl2 = ack;
		if (wnd > f->max_snd_wnd)
			f->max_snd_wnd = wnd;
		if (old_wnd == 0 && wnd > 0 && f->snd_una == f->snd_max) { /* persist over */
			f->t_tcp = 0;
			f->retries = 0;
			rto_reset(lc, f);
		}
		if (wnd > old_wnd)
			tcp_pend(lc, f);
	}
	if (!SEQ_GT(ack, f->snd_una)) {
		bool fresh = (f->flags & TCP_F_SACK) && tcp_sack_update(f, &seg->opt);
		bool dup;

		flight = f->snd_max - f->snd_una;
		dup = ack == f->snd_una && seg->len == 0 && !(seg->flags & TCP_FIN) && flight > 0 &&
		      f->snd_wnd == old_wnd;
		if (f->flags & TCP_F_SACK) /* RFC 6675 2: a duplicate brings SACK news */
			tcp_sack_dupack(lc, f, dup && (fresh || !(seg->opt.has & TCP_O_SACK)));
		else if (dup)
			newreno_dupack(lc, f, flight);
		if (f->snd_wnd == 0 && flight > 0)
			f->retries = 0; /* the peer is there, its window is just closed */
		return true;
	}
	return ack_new(lc, f, seg);
}

/* ack_new - an acceptable ACK of new data (snd_una < SEG.ACK <= snd_max),
 * the window already taken: the send queue, RTT, congestion window, RTO,
 * the application's sent(), our FIN; false when f is no more (or no more
 * to process) */
static bool
ack_new(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg)
{
	uint32_t ack = seg->ack, acked = ack - f->snd_una;
	const struct tcp_app *app = tcp_app_of(lc, f);

	{
		uint32_t data = umin(acked, f->sq.len);
		bool fin_acked = (f->flags & TCP_F_FIN_QUEUED) && acked > f->sq.len;

		tcp_cq_ack(lc, &f->sq, data);
		f->snd_una = ack;
		if (SEQ_LT(f->snd_nxt, f->snd_una))
			f->snd_nxt = f->snd_una;
		/* the scoreboard only moves with ranges held or SACK blocks
		 * (header prediction's segments have neither) */
		if ((f->flags & TCP_F_SACK) && (f->sb_n != 0 || (seg->opt.has & TCP_O_SACK)))
			tcp_sack_update(f, &seg->opt);
		if ((f->flags & TCP_F_TS) && (seg->opt.has & TCP_O_TS) && seg->opt.ts_ecr != 0 &&
		    (uint32_t)lc->now - seg->opt.ts_ecr < lc->conf.rto_max_ms) {
			/* RFC 7323 4: every ACK of new data times its segment, retransmitted or not
			 */
			f->flags &= ~(uint32_t)TCP_F_RTT;
			tcp_rtt_sample(lc, f, (uint32_t)lc->now - seg->opt.ts_ecr);
		} else if ((f->flags & TCP_F_RTT) && SEQ_GEQ(ack, f->rtt_seq)) {
			f->flags &= ~(uint32_t)TCP_F_RTT;
			tcp_rtt_sample(lc, f, (uint32_t)lc->now - f->rtt_ts);
		}
		f->retries = 0;
		if (f->flags & TCP_F_RECOVERY) {
			if (SEQ_GEQ(ack, f->recover)) {
				f->flags &= ~(uint32_t)TCP_F_RECOVERY;
				f->cwnd = f->ssthresh;
			} else if (f->flags & TCP_F_SACK) {
				/* RFC 6675: cwnd stays; tcp_output() sends as the pipe allows */
			} else { /* partial ACK: the next hole goes now */
				tcp_retransmit_one(lc, f);
				f->cwnd = (f->cwnd > acked ? f->cwnd - acked : 0) + f->mss;
			}
		} else if (f->cwnd < f->ssthresh) {
			f->cwnd += umin(acked, f->mss);
		} else {
			f->cwnd +=
			        umin(f->mss, (uint32_t)((uint64_t)f->mss * f->mss / f->cwnd) + 1);
		}
		f->dupacks = 0;
		if ((f->flags & TCP_F_SACK) && f->sb_n != 0 &&
		    SEQ_GT(tcp_sack_lost_end(f), f->snd_una)) /* (an empty board: snd_una) */
			tcp_sack_recovery_try(lc, f); /* the duplicates were lost, the SACKs tell */
		tcp_timer_rearm(lc, f, f->snd_una == f->snd_max ? 0 : lc->now + f->rto);
		tcp_pend(lc, f);
		if ((f->flags & TCP_F_SNDBLOCKED) && f->sq.len < tcp_snd_buf(f) &&
		    (f->flags & TCP_F_APP)) {
			f->flags &= ~(uint32_t)TCP_F_SNDBLOCKED;
			if (app != NULL && app->sent != NULL)
				app->sent(tcp_ctx_of(lc, f), f);
			if (f->flags & TCP_F_DEAD)
				return false;
		}
		if (!fin_acked)
			return true;
	}
	switch (f->state) {
	case TCP_S_FIN_WAIT_1:
		tcp_set_state(f, TCP_S_FIN_WAIT_2);
		tcp_timer_rearm(lc, f, lc->now + lc->conf.fin_wait2_ms);
		return true;
	case TCP_S_CLOSING:
		enter_tw(lc, f);
		return false;
	case TCP_S_LAST_ACK:
		tcp_end(lc, f, TCP_END_NORMAL);
		return false;
	default:
		return true;
	}
}

/* acceptable - RFC 9293 3.10.7.4 first check */
static bool
acceptable(const struct tcp_flow *f, uint32_t seq, uint32_t seglen)
{
	uint32_t wnd = SEQ_GT(f->rcv_adv, f->rcv_nxt) ? f->rcv_adv - f->rcv_nxt : 0;
	uint32_t nxt = f->rcv_nxt;

	if (seglen == 0)
		return wnd == 0 ? seq == nxt : SEQ_LEQ(nxt, seq) && SEQ_LT(seq, nxt + wnd);
	if (wnd == 0)
		return false;
	return (SEQ_LEQ(nxt, seq) && SEQ_LT(seq, nxt + wnd)) ||
	       (SEQ_LEQ(nxt, seq + seglen - 1) && SEQ_LT(seq + seglen - 1, nxt + wnd));
}

/* zero_window_ack - RFC 9293 3.10.7.4: with a zero receive window no
 * segment is acceptable, "but special allowance should be made to accept
 * valid ACKs". Text or a FIN at rcv_nxt into a zero window (a probe, or
 * bytes the peer believed fit) is refused, but its ACK and window are taken,
 * as Linux takes them: the peer may have nothing else to carry them. */
static inline bool
zero_window_ack(const struct tcp_flow *f, const struct tcp_seg *seg)
{
	return f->state != TCP_S_SYN_RCVD && seg->seq == f->rcv_nxt &&
	       (seg->flags & (TCP_SYN | TCP_RST | TCP_ACK)) == TCP_ACK &&
	       !SEQ_GT(f->rcv_adv, f->rcv_nxt);
}

/* held_at - the sequence number of the first out-of-order chunk */
static inline uint32_t
held_at(struct tcp_lcore *lc, const struct tcp_flow *f)
{
	return tcp_chunk(lc, f->ooo)->seq;
}

/* rcv_inorder - in-order text at seq == rcv_nxt, and what it lets the
 * out-of-order queue deliver. Bytes held out of order were received first:
 * where this segment overlaps them, the held ones are delivered and this
 * segment's skipped. -1: f is no more; 1: a held FIN was reached; 0 */
static int
rcv_inorder(struct tcp_lcore *lc, struct tcp_flow *f, const uint8_t *data, uint32_t seq,
            uint32_t len)
{
	uint32_t end = seq + len;

	while (SEQ_LT(f->rcv_nxt, end)) {
		uint32_t n = end - f->rcv_nxt, got;

		if (f->ooo != TCP_NIL && SEQ_LEQ(held_at(lc, f), f->rcv_nxt)) {
			/* a held chunk the application could not take before */
			if (ooo_drain(lc, f))
				return 1;
			if (f->flags & TCP_F_DEAD)
				return -1;
			if (f->ooo != TCP_NIL && SEQ_LEQ(held_at(lc, f), f->rcv_nxt))
				return 0;
			continue;
		}
		if (f->ooo != TCP_NIL && SEQ_LT(held_at(lc, f), end))
			n = held_at(lc, f) - f->rcv_nxt;
		got = rcv_data(lc, f, data + (f->rcv_nxt - seq), n);
		f->rcv_nxt += got;
		if (f->flags & TCP_F_DEAD)
			return -1;
		if (got < n)
			return 0;
		if (ooo_drain(lc, f))
			return 1;
		if (f->flags & TCP_F_DEAD)
			return -1;
	}
	return 0;
}

/* text_in - segment text and FIN in a state that receives them */
static void
text_in(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg)
{
	const uint8_t *data = seg->data;
	uint32_t seq = seg->seq, len = seg->len;
	uint32_t wnd = SEQ_GT(f->rcv_adv, f->rcv_nxt) ? f->rcv_adv - f->rcv_nxt : 0;
	bool fin = (seg->flags & TCP_FIN) != 0;

	if (SEQ_LT(seq, f->rcv_nxt)) { /* overlap with what we have: trim the front */
		uint32_t d = f->rcv_nxt - seq;

		if (d >= len + fin) { /* an old duplicate */
			f->flags |= TCP_F_ACKNOW;
			tcp_pend(lc, f);
			return;
		}
		data += d;
		len -= d;
		seq = f->rcv_nxt;
	}
	if (seq - f->rcv_nxt + len > wnd) { /* beyond the right edge: trim the tail */
		uint32_t room = wnd > seq - f->rcv_nxt ? wnd - (seq - f->rcv_nxt) : 0;

		len = room < len ? room : len;
		fin = false;
	}
	if (len > 0 && tcp_pool_refuses(lc, f)) {
		/* not acked, the FIN with it neither: the peer's RTO brings them back */
		lc->st.drop_lowpool++;
		return;
	}
	f->flags |= TCP_F_ACKNOW; /* every segment with text is answered at once */
	tcp_pend(lc, f);
	if (seq != f->rcv_nxt) { /* out of order: keep it if we can, ACK rcv_nxt */
		if (len == 0 || tcp_ooo_insert(lc, f, seq, data, len, fin) != 0)
			lc->st.drop_ooo++;
		return;
	}
	if (len > 0) {
		int r = rcv_inorder(lc, f, data, seq, len);

		if (r < 0)
			return;
		fin = r > 0 || (fin && f->rcv_nxt == seq + len);
	}
	if (fin)
		fin_in(lc, f);
}

/* predicted - header prediction (RFC 9293 3.10.7.4's common case; Van
 * Jacobson's, as in BSD): an established flow, a segment with no flag but
 * ACK (PSH allowed) at rcv_nxt, whose text fits the window, that leaves the
 * send window as it is and acks new data or carries text, with nothing
 * unusual going on: no out-of-order queue, no SACK scoreboard or blocks,
 * no duplicate ACKs or recovery, no FIN of ours queued, no writer waiting
 * on sent(). Then RFC 9293's checks all pass, none of the rare branches
 * of ack_in() and text_in() is taken, and no callback runs before the
 * text is delivered. Anything else takes the general path. */
static inline bool
predicted(const struct tcp_flow *f, const struct tcp_seg *seg)
{
	uint32_t wnd = (uint32_t)seg->wnd << f->snd_ws;

	return f->state == TCP_S_ESTABLISHED && (seg->flags & ~TCP_PSH) == TCP_ACK &&
	       seg->seq == f->rcv_nxt && wnd == f->snd_wnd && wnd != 0 &&
	       !(f->flags & (TCP_F_RECOVERY | TCP_F_FIN_QUEUED | TCP_F_SNDBLOCKED)) &&
	       f->ooo == TCP_NIL && f->sb_n == 0 && f->dupacks == 0 &&
	       !(seg->opt.has & TCP_O_SACK) && SEQ_LEQ(f->snd_una, seg->ack) &&
	       SEQ_LEQ(seg->ack, f->snd_max) && (seg->len > 0 || seg->ack != f->snd_una) &&
	       seg->len <= (SEQ_GT(f->rcv_adv, f->rcv_nxt) ? f->rcv_adv - f->rcv_nxt : 0);
}

/* input_fast - a predicted segment: what the general path would do with
 * it, in a straight line (the unit tests compare the two) */
static void
input_fast(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg)
{
	uint32_t got;

	lc->st.predicted++;
	ts_update(f, seg);
	if (SEQ_LT(f->snd_wl1, seg->seq) ||
	    (f->snd_wl1 == seg->seq && SEQ_LEQ(f->snd_wl2, seg->ack))) {
		f->snd_wl1 = seg->seq; /* the window itself is unchanged */
		f->snd_wl2 = seg->ack;
	}
	if (seg->ack != f->snd_una && !ack_new(lc, f, seg))
		return;
	if (seg->len == 0)
		return;
	if (tcp_pool_refuses(lc, f)) { /* not acked: the peer's RTO brings it back */
		lc->st.drop_lowpool++;
		return;
	}
	f->flags |= TCP_F_ACKNOW;
	tcp_pend(lc, f);
	got = rcv_data(lc, f, seg->data, seg->len);
	f->rcv_nxt += got;
}

/* syn_acked - SYN_RCVD to ESTABLISHED on an acceptable ACK of our SYN
 * (input_sync(), and open4() from the wire): the send window, the
 * handshake's RTT, then open_done() (f may be dead after it) */
static inline void
syn_acked(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t seq, uint32_t ack, uint16_t wnd)
{
	f->snd_una = ack;
	f->snd_wnd = (uint32_t)wnd << f->snd_ws;
	f->max_snd_wnd = f->snd_wnd;
	f->snd_wl1 = seq;
	f->snd_wl2 = ack;
	if ((f->flags & TCP_F_RTT) && f->retries == 0)
		tcp_rtt_sample(lc, f, (uint32_t)lc->now - f->rtt_ts);
	else
		f->rto = lc->conf.rto_init_ms; /* RFC 6298 5.7 */
	f->flags &= ~(uint32_t)TCP_F_RTT;
	f->retries = 0;
	/* the SYN-ACK's timer is off, its wheel entry left: the
	 * application's deadline (accept() sets one) or the first RTO
	 * takes it over, or it fires early, finds nothing due and
	 * drops out (tcp_timer_fire()); one unlink and link fewer */
	f->t_tcp = 0;
	tcp_set_state(f, TCP_S_ESTABLISHED);
	open_done(lc, f);
}

/* input_sync - a segment for a flow in SYN_RCVD or a synchronized state */
static void
input_sync(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg)
{
	uint8_t fl = seg->flags;
	uint32_t seglen;
	bool refused = false;

	if (!lc->conf.no_prediction && predicted(f, seg)) {
		input_fast(lc, f, seg);
		return;
	}
	seglen = seg->len + !!(fl & TCP_SYN) + !!(fl & TCP_FIN);

	if (f->state == TCP_S_SYN_RCVD && (fl & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN &&
	    seg->seq == f->irs) { /* our SYN-ACK was lost */
		lc->st.retransmits++;
		tcp_send_synack(lc, f);
		return;
	}
	if (!acceptable(f, seg->seq, seglen)) {
		lc->st.drop_window++;
		if (!(fl & TCP_RST)) {
			f->flags |= TCP_F_ACKNOW;
			tcp_pend(lc, f);
		}
		if (!zero_window_ack(f, seg))
			return;
		refused = true; /* its ACK is taken below, its text and FIN are not */
	}
	ts_update(f, seg);
	if (fl & TCP_RST) { /* RFC 5961 3.2 */
		lc->st.rst_in++;
		if (seg->seq != f->rcv_nxt) {
			tcp_challenge_ack(lc, f);
			return;
		}
		if (f->flags & (TCP_F_APP | TCP_F_ACTIVE))
			lc->st.resets++;
		tcp_end(lc, f, TCP_END_RESET);
		return;
	}
	if (fl & TCP_SYN) { /* RFC 5961 4.2: any SYN here gets a challenge ACK */
		tcp_challenge_ack(lc, f);
		return;
	}
	if (!(fl & TCP_ACK)) {
		lc->st.drop_flags++;
		return;
	}
	if (f->state == TCP_S_SYN_RCVD) {
		if (!SEQ_GT(seg->ack, f->snd_una) || SEQ_GT(seg->ack, f->snd_max)) {
			lc->st.drop_ack++;
			tcp_send_reply(lc, seg, TCP_RST, seg->ack, 0, 0, NULL);
			return;
		}
		syn_acked(lc, f, seg->seq, seg->ack, seg->wnd);
		if (f->flags & TCP_F_DEAD)
			return;
	} else {
		/* RFC 5961 5.2: (SND.UNA - MAX.SND.WND) <= SEG.ACK <= SND.NXT */
		if (SEQ_GT(seg->ack, f->snd_max)) {
			lc->st.drop_ack++;
			f->flags |= TCP_F_ACKNOW;
			tcp_pend(lc, f);
			return;
		}
		if (SEQ_LT(seg->ack, f->snd_una - f->max_snd_wnd)) {
			lc->st.drop_ack++;
			tcp_challenge_ack(lc, f);
			return;
		}
		if (!ack_in(lc, f, seg))
			return;
	}
	if (refused || (seg->len == 0 && !(fl & TCP_FIN)))
		return;
	switch (f->state) {
	case TCP_S_ESTABLISHED:
	case TCP_S_FIN_WAIT_1:
	case TCP_S_FIN_WAIT_2:
		text_in(lc, f, seg);
		break;
	default: /* the peer's FIN is behind us: ACK what it sends again */
		f->flags |= TCP_F_ACKNOW;
		tcp_pend(lc, f);
		break;
	}
}

/* input_synsent - the answer to our SYN */
static void
input_synsent(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg)
{
	uint8_t fl = seg->flags;

	if ((fl & TCP_ACK) && (SEQ_LEQ(seg->ack, f->iss) || SEQ_GT(seg->ack, f->snd_max))) {
		lc->st.drop_ack++;
		if (!(fl & TCP_RST))
			tcp_send_reply(lc, seg, TCP_RST, seg->ack, 0, 0, NULL);
		return;
	}
	if (fl & TCP_RST) {
		lc->st.rst_in++;
		if (fl & TCP_ACK) {
			lc->st.refused++;
			tcp_end(lc, f, TCP_END_REFUSED);
		}
		return;
	}
	if (!(fl & TCP_SYN))
		return;
	f->irs = seg->seq;
	f->rcv_nxt = seg->seq + 1;
	f->rcv_adv = f->rcv_nxt; /* a simultaneous open's SYN-ACK sets the edge from here */
	if (seg->opt.has & TCP_O_WS) {
		f->flags |= TCP_F_WS;
		f->snd_ws = seg->opt.wscale;
	} else {
		f->rcv_ws = 0;
	}
	f->mss = peer_mss(lc, f->family,
	                  seg->opt.has & TCP_O_MSS
	                          ? seg->opt.mss
	                          : (f->family == TCP_V6 ? TCP_MSS6_DEFAULT : TCP_MSS_DEFAULT));
	ts_open(f, seg);
	init_cwnd(f);
	f->snd_wnd = f->max_snd_wnd = seg->wnd;
	f->snd_wl1 = seg->seq;
	if (!(fl & TCP_ACK)) { /* simultaneous open */
		tcp_set_state(f, TCP_S_SYN_RCVD);
		tcp_send_synack(lc, f);
		return;
	}
	f->snd_una = seg->ack;
	f->snd_wl2 = seg->ack;
	if ((f->flags & TCP_F_RTT) && f->retries == 0)
		tcp_rtt_sample(lc, f, (uint32_t)lc->now - f->rtt_ts);
	else
		f->rto = lc->conf.rto_init_ms;
	f->flags &= ~(uint32_t)TCP_F_RTT;
	f->retries = 0;
	tcp_timer_rearm(lc, f, 0);
	tcp_set_state(f, TCP_S_ESTABLISHED);
	f->rcv_adv = f->rcv_nxt;
	f->flags |= TCP_F_ACKNOW;
	tcp_pend(lc, f);
	open_done(lc, f);
	/* data on the SYN-ACK is dropped: the peer sends it again */
}

/* input_tw - a segment for a flow in TIME_WAIT */
static void
input_tw(struct tcp_lcore *lc, struct tcp_flow *f, const struct tcp_seg *seg, uint32_t hash)
{
	uint8_t fl = seg->flags;

	if (fl & TCP_RST) { /* RFC 1337: a RST does not cut TIME_WAIT short */
		lc->st.rst_in++;
		return;
	}
	if ((fl & (TCP_SYN | TCP_ACK)) == TCP_SYN && SEQ_GT(seg->seq, f->rcv_nxt) &&
	    find_listener(lc, seg->dport) != NULL) {
		/* RFC 9293 3.10.7.4 note / RFC 6191: a new incarnation may start */
		tcp_flow_free(lc, f);
		lc->st.tw_recycled++;
		input_closed(lc, seg, hash);
		return;
	}
	if (fl & (TCP_SYN | TCP_FIN) || seg->len > 0) {
		if (fl & TCP_FIN) /* the peer did not get our ACK: restart 2 MSL */
			tcp_tw_restart(lc, f);
		tcp_send_ack(lc, f);
	}
}

/* input_seg - a segment whose flags and 4-tuple are known, past
 * tcp_enter(): the flow's lookup (unless the caller did it: looked, with
 * hash and f) and the state's handler */
static void
input_seg(struct tcp_lcore *lc, const struct tcp_seg *seg, bool looked, uint32_t hash,
          struct tcp_flow *f)
{
	if ((seg->flags & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST) ||
	    (seg->flags & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN)) {
		lc->st.drop_flags++;
		return;
	}
	if (!looked) {
		hash = tcp_seg_hash(lc, seg); /* once: a miss that opens a flow keeps it */
		f = tcp_flow_lookup_seg(lc, hash, seg);
	}
	if (f == NULL)
		input_closed(lc, seg, hash);
	else if (f->flags & TCP_F_DEAD)
		lc->st.drop_noflow++;
	else if (f->state == TCP_S_TIME_WAIT)
		input_tw(lc, f, seg, hash);
	else if (f->state == TCP_S_SYN_SENT)
		input_synsent(lc, f, seg);
	else
		input_sync(lc, f, seg);
}

/* tcp_input - one segment */
void
tcp_input(struct tcp_lcore *lc, const struct tcp_seg *seg, uint64_t now)
{
	tcp_enter(lc, now);
	lc->st.seg_in++;
	input_seg(lc, seg, false, 0, NULL);
	tcp_leave(lc);
}

/* wire16, wire32 - big-endian header fields */
static inline uint16_t
wire16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
wire32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return tcp_csum_be32(v);
}

/* ack_fast - ack_new() for a predicted segment: none of its rare branches
 * can be taken (no recovery, no SACK scoreboard or blocks, no FIN of ours
 * queued, no writer waiting on sent()), so the rest in a straight line;
 * ts_ecr: the segment's TSecr, 0 without the option (ack_new() takes no
 * sample from a zero TSecr either) */
static inline void
ack_fast(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t ack, uint32_t ts_ecr)
{
	uint32_t acked = ack - f->snd_una;

	tcp_cq_ack(lc, &f->sq, umin(acked, f->sq.len));
	f->snd_una = ack;
	if (SEQ_LT(f->snd_nxt, f->snd_una))
		f->snd_nxt = f->snd_una;
	if ((f->flags & TCP_F_TS) && ts_ecr != 0 &&
	    (uint32_t)lc->now - ts_ecr < lc->conf.rto_max_ms) {
		f->flags &= ~(uint32_t)TCP_F_RTT;
		tcp_rtt_sample(lc, f, (uint32_t)lc->now - ts_ecr);
	} else if ((f->flags & TCP_F_RTT) && SEQ_GEQ(ack, f->rtt_seq)) {
		f->flags &= ~(uint32_t)TCP_F_RTT;
		tcp_rtt_sample(lc, f, (uint32_t)lc->now - f->rtt_ts);
	}
	f->retries = 0;
	if (f->cwnd < f->ssthresh)
		f->cwnd += umin(acked, f->mss);
	else
		f->cwnd += umin(f->mss, (uint32_t)((uint64_t)f->mss * f->mss / f->cwnd) + 1);
	tcp_timer_rearm(lc, f, f->snd_una == f->snd_max ? 0 : lc->now + f->rto);
	tcp_pend(lc, f);
}

/* fast4 - header prediction straight from the wire: predicted() and
 * input_fast() on the header's fields, read once, with no struct tcp_seg.
 * p: the TCP header, off its length (20, or 32 with NOP NOP TS: the
 * caller checked), dlen the payload's. False, having changed nothing,
 * when the segment is not predicted. */
static inline bool
fast4(struct tcp_lcore *lc, struct tcp_flow *f, const uint8_t *p, size_t off, uint32_t dlen)
{
	uint32_t seq = wire32(p + 4), ack = wire32(p + 8);
	uint32_t wnd = (uint32_t)wire16(p + 14) << f->snd_ws;
	uint32_t room = SEQ_GT(f->rcv_adv, f->rcv_nxt) ? f->rcv_adv - f->rcv_nxt : 0;
	uint32_t ts_ecr = 0, got;

	if (f->state != TCP_S_ESTABLISHED || seq != f->rcv_nxt || wnd != f->snd_wnd || wnd == 0 ||
	    (f->flags & (TCP_F_RECOVERY | TCP_F_FIN_QUEUED | TCP_F_SNDBLOCKED)) ||
	    f->ooo != TCP_NIL || f->sb_n != 0 || f->dupacks != 0 || SEQ_GT(f->snd_una, ack) ||
	    SEQ_GT(ack, f->snd_max) || (dlen == 0 && ack == f->snd_una) || dlen > room)
		return false;
	lc->st.predicted++;
	if (off != TCP_HDR_LEN) { /* ts_update() */
		uint32_t ts_val = wire32(p + TCP_HDR_LEN + 4);

		ts_ecr = wire32(p + TCP_HDR_LEN + 8);
		if ((f->flags & TCP_F_TS) && SEQ_LEQ(seq, f->ts_ack) &&
		    (int32_t)(ts_val - f->ts_recent) >= 0)
			f->ts_recent = ts_val;
	}
	if (SEQ_LT(f->snd_wl1, seq) || (f->snd_wl1 == seq && SEQ_LEQ(f->snd_wl2, ack))) {
		f->snd_wl1 = seq; /* the window itself is unchanged */
		f->snd_wl2 = ack;
	}
	if (ack != f->snd_una)
		ack_fast(lc, f, ack, ts_ecr);
	if (dlen == 0)
		return true;
	if (tcp_pool_refuses(lc, f)) { /* not acked: the peer's RTO brings it back */
		lc->st.drop_lowpool++;
		return true;
	}
	f->flags |= TCP_F_ACKNOW;
	tcp_pend(lc, f);
	got = rcv_data(lc, f, p + off, dlen);
	f->rcv_nxt += got;
	return true;
}

/* open4 - the handshake's ACK straight from the wire: input_sync() for a
 * flow in SYN_RCVD and a pure ACK (no text, ACK and perhaps PSH only) at
 * rcv_nxt that acks our SYN, on the header's fields (p, off as for
 * fast4()). A segment at rcv_nxt with no text is always acceptable, and
 * the SYN_RCVD branch reads none of the options but the timestamp. False,
 * having changed nothing, for any other segment: the general path. */
static inline bool
open4(struct tcp_lcore *lc, struct tcp_flow *f, const uint8_t *p, size_t off)
{
	uint32_t seq = wire32(p + 4), ack = wire32(p + 8);

	if (seq != f->rcv_nxt || !SEQ_GT(ack, f->snd_una) || SEQ_GT(ack, f->snd_max))
		return false;
	if (off != TCP_HDR_LEN) { /* ts_update() */
		uint32_t ts_val = wire32(p + TCP_HDR_LEN + 4);

		if ((f->flags & TCP_F_TS) && SEQ_LEQ(seq, f->ts_ack) &&
		    (int32_t)(ts_val - f->ts_recent) >= 0)
			f->ts_recent = ts_val;
	}
	syn_acked(lc, f, seq, ack, wire16(p + 14));
	return true;
}

/* tcp_input4_wire - see tcp.h. The flow is looked up from the raw
 * 4-tuple, for every segment: the general path reuses the lookup (and the
 * hash, for a flow a SYN opens). A segment with ACK alone (PSH allowed) in
 * the option layout we send is then tried straight from the wire: header
 * prediction (fast4()), or the handshake's ACK (open4()). */
int
tcp_input4_wire(struct tcp_lcore *lc, const void *tcp, size_t len, uint32_t src_be, uint32_t dst_be,
                uint64_t now)
{
	const uint8_t *p = tcp;
	struct tcp_flow *f = NULL;
	struct tcp_seg seg;
	uint16_t sport, dport;
	uint32_t hash;
	size_t off;

	off = tcp_wire_data_off(p, len);
	if (off == 0)
		return -1;
	tcp_enter(lc, now);
	lc->st.seg_in++;
	sport = wire16(p);
	dport = wire16(p + 2);
	hash = tcp_hash4(lc, dst_be, src_be, dport, sport);
	f = tcp_flow_lookup4(lc, hash, dst_be, src_be, dport, sport);
	if (f != NULL && (p[13] & ~TCP_PSH) == TCP_ACK && !lc->conf.no_prediction &&
	    (off == TCP_HDR_LEN ||
	     (off == TCP_HDR_LEN + 12 && wire32(p + TCP_HDR_LEN) == 0x0101080a)) &&
	    (fast4(lc, f, p, off, (uint32_t)(len - off)) ||
	     (f->state == TCP_S_SYN_RCVD && len == off && open4(lc, f, p, off)))) {
		tcp_leave(lc);
		return 0;
	}
	tcp_wire_parse(p, len, &seg); /* cannot fail: the header fits */
	seg.family = TCP_V4;
	seg.src = tcp_ip_v4(src_be);
	seg.dst = tcp_ip_v4(dst_be);
	input_seg(lc, &seg, true, hash, f);
	tcp_leave(lc);
	return 0;
}
