/* tcp_output - what a flow sends and when: data within the peer's window
 * and cwnd, FIN, ACKs, SYN and SYN-ACK, RSTs; RTT estimation and the RTO
 * (RFC 6298), fast retransmit (RFC 5681/6582; with SACK, RFC 6675's
 * recovery over the scoreboard of tcp_sack.c), zero-window probes, and the
 * flow timer that drives them
 *
 * RTO (RFC 6298): initial conf.rto_init_ms (1 s); then SRTT + max(G, 4
 * RTTVAR) bounded by [rto_min_ms, rto_max_ms]: 200 ms minimum as in Linux
 * rather than the RFC's 1 s, since a gate's peers are often close. One
 * segment is timed at a time; a retransmission cancels the timing (Karn);
 * each expiry doubles the RTO, which stays backed off until a new sample.
 *
 * Zero window: a probe is a bare ACK with seq snd_una - 1, as Linux sends
 * (old sequence, so the peer must answer with its window); it consumes no
 * sequence space. The persist interval backs off like the RTO; probes that
 * are answered never end the flow (the application's deadline does).
 */
#include <string.h>

#include "tcp_impl.h"

static inline uint32_t
umin(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* tcp_passive_rcv_buf - the window a passive open starts with: lean when
 * lean flows are configured, since the SYN-ACK's window cannot be taken back */
uint32_t
tcp_passive_rcv_buf(const struct tcp_conf *c)
{
	return c->lean_rcv_buf != 0 ? c->lean_rcv_buf : c->rcv_buf;
}

/* tcp_rcv_window - the window to advertise: the flow's buffer less what it
 * holds, in what the scaled field can say, never moving the right edge back
 * (RFC 9293 3.8.6.2.2; a lean flow's smaller buffer only stops it moving).
 * Always a multiple of the field's unit, so that rcv_adv is exactly the
 * edge the peer computes: an edge kept where it was is rounded up to the
 * next unit (as Linux and FreeBSD do). Rounded down, the edge the peer sees
 * would move back; rounded up in the field alone (rcv_adv left behind),
 * the peer would believe in bytes we refuse, and sent into what is for us
 * a zero window, the whole segment was refused, its ACK with it. The cost:
 * while the window shrinks, each ACK may move the edge on by less than a
 * unit past the buffer (tcp_data's test_window_edge: 0.5% over 370
 * segments with shift 3; the gate's lean flows use shift 1). */
static inline uint32_t
rcv_window(const struct tcp_flow *f)
{
	uint32_t buf = tcp_rcv_buf(f), wnd = buf > f->rq.len ? buf - f->rq.len : 0;
	uint32_t max = (uint32_t)0xffff << f->rcv_ws, mask = ((uint32_t)1 << f->rcv_ws) - 1;

	if (wnd > max)
		wnd = max;
	wnd &= ~mask;                             /* what the field can say */
	if (SEQ_LT(f->rcv_nxt + wnd, f->rcv_adv)) /* at most max: max is a multiple */
		wnd = (f->rcv_adv - f->rcv_nxt + mask) & ~mask;
	return wnd;
}

uint32_t
tcp_rcv_window(struct tcp_flow *f)
{
	return rcv_window(f);
}

/* sack_blocks - RFC 2018 4: the ranges held out of order, adjacent chunks
 * merged, as many as fit beside the other options (the peer's sender then
 * retransmits only the holes) */
static void
sack_blocks(struct tcp_lcore *lc, const struct tcp_flow *f, struct tcp_out *o)
{
	unsigned max = (o->opt.has & TCP_O_TS) ? 3 : TCP_SACK_MAX, n = 0;

	for (uint32_t c = f->ooo; c != TCP_NIL;) {
		const struct tcp_chunk *ch = tcp_chunk(lc, c);
		uint32_t left = ch->seq, right = ch->seq + ch->len;

		for (c = ch->next; c != TCP_NIL && tcp_chunk(lc, c)->seq == right;
		     c = tcp_chunk(lc, c)->next)
			right += tcp_chunk(lc, c)->len;
		if (n == max)
			break;
		o->opt.sack[n][0] = left;
		o->opt.sack[n][1] = right;
		n++;
	}
	if (n > 0) {
		o->opt.has |= TCP_O_SACK;
		o->opt.nsack = (uint8_t)n;
	}
}

/* emit - fill the addresses and the ACK and window fields, then send
 * (inline: once per segment out, the window computed in place) */
static inline void
emit(struct tcp_lcore *lc, struct tcp_flow *f, struct tcp_out *o)
{
	o->family = f->family;
	o->src = f->key.laddr;
	o->dst = f->key.raddr;
	o->sport = f->key.lport;
	o->dport = f->key.rport;
	if (o->flags & TCP_ACK) {
		uint32_t wnd = rcv_window(f);
		uint32_t field =
		        (wnd + ((1u << f->rcv_ws) - 1)) >> f->rcv_ws; /* up: rcv_window() */

		if (o->flags & TCP_SYN) /* RFC 7323 2.2: never scaled in a SYN */
			field = wnd;
		o->wnd = (uint16_t)umin(field, 0xffff);
		o->ack = f->rcv_nxt;
		f->ts_ack = f->rcv_nxt;
		if (!(o->flags & TCP_SYN) && SEQ_GT(f->rcv_nxt + wnd, f->rcv_adv))
			f->rcv_adv = f->rcv_nxt + wnd;
		else if (o->flags & TCP_SYN)
			f->rcv_adv = f->rcv_nxt + wnd;
		f->flags &= ~(uint32_t)TCP_F_ACKNOW;
	}
	if ((f->flags & TCP_F_TS) && !(o->flags & TCP_RST)) { /* RFC 7323 3.2: on every segment */
		o->opt.has |= TCP_O_TS;
		o->opt.ts_val = (uint32_t)lc->now;
		o->opt.ts_ecr = f->ts_recent;
	}
	if ((f->flags & TCP_F_SACK) && (o->flags & TCP_SYN))
		o->opt.has |= TCP_O_SACKOK;
	else if ((f->flags & TCP_F_SACK) && (o->flags & TCP_ACK) && !(o->flags & TCP_RST) &&
	         f->ooo != TCP_NIL && o->len[0] + o->len[1] == 0) /* room: bare ACKs only */
		sack_blocks(lc, f, o);
	lc->st.seg_out++;
	if (lc->conf.emit(lc->conf.emit_arg, o) != 0)
		lc->st.emit_failed++;
}

/* rto_restart - the retransmission timer from now */
static void
rto_restart(struct tcp_lcore *lc, struct tcp_flow *f)
{
	tcp_timer_rearm(lc, f, lc->now + f->rto);
}

/* syn_opts - MSS always; WS in a SYN, or in a SYN-ACK when the SYN had it */
static void
syn_opts(struct tcp_lcore *lc, struct tcp_flow *f, struct tcp_out *o, bool ws)
{
	o->opt.has = TCP_O_MSS;
	o->opt.mss = f->family == TCP_V6 ? lc->mss6 : lc->mss4;
	if (ws) {
		o->opt.has |= TCP_O_WS;
		o->opt.wscale = lc->rcv_ws;
	}
}

/* tcp_send_syn - SYN of an active open */
void
tcp_send_syn(struct tcp_lcore *lc, struct tcp_flow *f)
{
	struct tcp_out o = {0};

	o.flags = TCP_SYN;
	o.seq = f->iss;
	o.wnd = (uint16_t)umin(tcp_rcv_buf(f), 0xffff);
	syn_opts(lc, f, &o, true);
	o.opt.has |= TCP_O_TS | TCP_O_SACKOK; /* offered; kept if the SYN-ACK has them too */
	o.opt.ts_val = (uint32_t)lc->now;
	o.opt.ts_ecr = 0;
	emit(lc, f, &o);
	f->snd_nxt = f->iss + 1;
	if (SEQ_GT(f->snd_nxt, f->snd_max))
		f->snd_max = f->snd_nxt;
}

/* tcp_send_synack - SYN-ACK of a passive open (state kept) */
void
tcp_send_synack(struct tcp_lcore *lc, struct tcp_flow *f)
{
	struct tcp_out o = {0};

	o.flags = TCP_SYN | TCP_ACK;
	o.seq = f->iss;
	syn_opts(lc, f, &o, (f->flags & TCP_F_WS) != 0);
	emit(lc, f, &o);
	f->snd_nxt = f->iss + 1;
	if (SEQ_GT(f->snd_nxt, f->snd_max))
		f->snd_max = f->snd_nxt;
}

/* tcp_send_ack - a bare ACK now */
void
tcp_send_ack(struct tcp_lcore *lc, struct tcp_flow *f)
{
	struct tcp_out o = {0};

	o.flags = TCP_ACK;
	o.seq = f->snd_nxt;
	emit(lc, f, &o);
}

/* tcp_challenge_ack - RFC 5961 7: an ACK, within the lcore's budget per second */
void
tcp_challenge_ack(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint64_t sec = lc->now / 1000;

	if (sec != lc->chal_sec) {
		lc->chal_sec = sec;
		lc->chal_n = 0;
	}
	if (lc->chal_n >= lc->conf.challenge_ack_per_s) {
		lc->st.challenge_acks_limited++;
		return;
	}
	lc->chal_n++;
	lc->st.challenge_acks++;
	tcp_send_ack(lc, f);
}

/* tcp_send_rst_flow - RST for a flow we end (seq snd_nxt, with ACK as Linux does) */
void
tcp_send_rst_flow(struct tcp_lcore *lc, struct tcp_flow *f)
{
	struct tcp_out o = {0};

	o.flags = TCP_RST | TCP_ACK;
	o.seq = f->snd_max;
	emit(lc, f, &o);
	lc->st.rst_out++;
}

/* tcp_send_reply - a stateless segment answering seg (RST, cookie SYN-ACK) */
void
tcp_send_reply(struct tcp_lcore *lc, const struct tcp_seg *seg, uint8_t flags, uint32_t seq,
               uint32_t ack, uint16_t wnd, const struct tcp_opts *opt)
{
	struct tcp_out o = {0};

	o.family = seg->family;
	o.src = seg->dst;
	o.dst = seg->src;
	o.sport = seg->dport;
	o.dport = seg->sport;
	o.flags = flags;
	o.seq = seq;
	o.ack = ack;
	o.wnd = wnd;
	if (opt != NULL)
		o.opt = *opt;
	lc->st.seg_out++;
	if (flags & TCP_RST)
		lc->st.rst_out++;
	if (lc->conf.emit(lc->conf.emit_arg, &o) != 0)
		lc->st.emit_failed++;
}

/* send_data - one segment of queued data at seq (new or again). The
 * struct tcp_out (120 bytes, once per segment) is not zeroed: emit() sets
 * every field a segment with ACK uses, and of the options only those
 * opt.has flags are read (tcp_wire_hdr_len(), tcp_wire_write()) */
static void
send_data(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t seq, uint32_t len, bool fin)
{
	struct tcp_out o;

	tcp_cq_peek(lc, &f->sq, seq - f->snd_una, len, o.data, o.len);
	o.flags = TCP_ACK | (len ? TCP_PSH : 0) | (fin ? TCP_FIN : 0);
	o.seq = seq;
	o.opt.has = 0;
	o.opt.nsack = 0;
	emit(lc, f, &o);
}

/* fin_waiting - tcp_close() queued our FIN and it is not in flight (not
 * sent yet, or rewound by an RTO): it goes after the queued data */
static inline bool
fin_waiting(const struct tcp_flow *f)
{
	return (f->flags & (TCP_F_FIN_QUEUED | TCP_F_FIN_SENT)) == TCP_F_FIN_QUEUED;
}

/* nothing_new - no data beyond snd_nxt and no FIN waiting to go */
static inline bool
nothing_new(const struct tcp_flow *f)
{
	return f->snd_nxt - f->snd_una >= f->sq.len && !fin_waiting(f);
}

/* send_at_nxt - n bytes of new data (or data again after an RTO) at
 * snd_nxt, with the FIN if fin, and what sending them moves: the counters,
 * the RTT timing, snd_nxt and snd_max, the RTO (shared by send_new() and
 * tcp_output_one()) */
static inline void
send_at_nxt(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t n, bool fin)
{
	send_data(lc, f, f->snd_nxt, n, fin);
	if (SEQ_LT(f->snd_nxt, f->snd_max))
		lc->st.retransmits++; /* again: data or FIN sent before */
	else if (n > 0)
		lc->st.bytes_out += n;
	if (!(f->flags & TCP_F_RTT) && SEQ_GEQ(f->snd_nxt, f->snd_max)) {
		f->flags |= TCP_F_RTT;
		f->rtt_seq = f->snd_nxt + n + fin;
		f->rtt_ts = (uint32_t)lc->now;
	}
	f->snd_nxt += n + fin;
	if (fin)
		f->flags |= TCP_F_FIN_SENT;
	if (SEQ_GT(f->snd_nxt, f->snd_max))
		f->snd_max = f->snd_nxt;
	if (f->t_tcp == 0) /* RFC 6298 5.1 */
		rto_restart(lc, f);
}

/* send_more - send_new() past its nothing_new() test: the segment, with
 * the FIN when all the data is in it (or none is left: a FIN alone);
 * false when the window holds it all back */
static bool
send_more(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t wnd)
{
	uint32_t off = f->snd_nxt - f->snd_una;
	uint32_t avail = f->sq.len > off ? f->sq.len - off : 0;
	uint32_t room = wnd > off ? wnd - off : 0;
	uint32_t n = umin(umin(avail, room), f->mss);
	bool fin = n == avail && fin_waiting(f);

	if (n == 0 && !fin)
		return false;
	send_at_nxt(lc, f, n, fin);
	return true;
}

/* send_new - one segment of new data at snd_nxt within wnd bytes of
 * snd_una, with the FIN when it is due; false when nothing may go. The
 * test inline, where tcp_output()'s loop ends after a reply's segment;
 * the segment in send_more() */
static inline bool
send_new(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t wnd)
{
	return !nothing_new(f) && send_more(lc, f, wnd);
}

/* tcp_limited_transmit - RFC 3042: at each of the first two duplicate
 * ACKs, a new segment beyond cwnd (by as many MSS as duplicates) if the
 * peer's window takes it, so that a small flight still draws the
 * duplicates that start recovery rather than waiting for the RTO */
void
tcp_limited_transmit(struct tcp_lcore *lc, struct tcp_flow *f)
{
	if (f->snd_nxt == f->snd_max)
		send_new(lc, f, umin(f->snd_wnd, f->cwnd + (uint32_t)f->dupacks * f->mss));
}

/* tcp_sack_resend - len bytes at seq again, into a hole the peer's SACK
 * blocks show (the FIN too when the hole holds it); HighRxt follows */
void
tcp_sack_resend(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t seq, uint32_t len)
{
	uint32_t data_end = f->snd_una + f->sq.len;
	uint32_t n = SEQ_LT(seq, data_end) ? umin(len, data_end - seq) : 0;
	bool fin =
	        (f->flags & TCP_F_FIN_SENT) && seq + n == data_end && SEQ_GT(seq + len, data_end);

	if (n == 0 && !fin) { /* nothing there to send: never offer this hole again */
		f->high_rxt = seq + len;
		return;
	}
	send_data(lc, f, seq, n, fin);
	if (SEQ_GT(seq + n + fin, f->high_rxt))
		f->high_rxt = seq + n + fin;
	lc->st.retransmits++;
	lc->st.sack_retransmits++;
	f->flags &= ~(uint32_t)TCP_F_RTT; /* Karn */
	if (f->t_tcp == 0)
		rto_restart(lc, f);
}

/* sack_output - RFC 6675 5 (4.4) and (C): while cwnd leaves an MSS above
 * the pipe, what NextSeg() picks: a lost hole, else new data the peer's
 * window takes, else a hole not yet deemed lost */
static bool
sack_output(struct tcp_lcore *lc, struct tcp_flow *f)
{
	bool sent = false;
	uint32_t seq, len;

	while ((uint64_t)tcp_sack_pipe(f) + f->mss <= f->cwnd) {
		if (tcp_sack_next_lost(f, &seq, &len))
			tcp_sack_resend(lc, f, seq, len);
		else if (send_new(lc, f, f->snd_wnd))
			;
		else if (tcp_sack_next_any(f, &seq, &len))
			tcp_sack_resend(lc, f, seq, len);
		else
			break;
		sent = true;
	}
	return sent;
}

/* tcp_output - send what the windows allow, the FIN when due, else an ACK
 * if owed; in SACK recovery the pipe, not the flight, is held to cwnd */
void
tcp_output(struct tcp_lcore *lc, struct tcp_flow *f)
{
	bool sent = false;

	if (f->state < TCP_S_ESTABLISHED || f->state == TCP_S_TIME_WAIT || f->state >= TCP_S_COUNT)
		return;
	if ((f->flags & (TCP_F_SACK | TCP_F_RECOVERY)) == (TCP_F_SACK | TCP_F_RECOVERY))
		sent = sack_output(lc, f);
	else /* until the windows stop it or all is sent */
		while (send_new(lc, f, umin(f->snd_wnd, f->cwnd)))
			sent = true;
	if (!sent && f->flags & TCP_F_ACKNOW)
		tcp_send_ack(lc, f);
	/* zero window with data waiting and nothing in flight: the persist timer */
	if (f->snd_una == f->snd_max && f->t_tcp == 0 && (f->sq.len > 0 || fin_waiting(f)) &&
	    f->snd_wnd == 0)
		rto_restart(lc, f);
}

/* tcp_output_one - tcp_output() for what nearly every call ends with: all
 * the new data fits one segment within the peer's window and cwnd (a
 * reply, with the FIN when one is queued), or there is nothing new and
 * perhaps an ACK owed. The segment is the one tcp_output() would send;
 * what is skipped is its loop, send_new()'s window arithmetic and the
 * calls. tcp_output()'s persist test cannot hold after either: with
 * nothing new, any queued data is already in flight (snd_max is past
 * snd_una), and after a segment of data, so is that.
 * False, having done nothing, in any other case (not synchronized,
 * recovery, more than a segment, a window that stops it, a FIN alone):
 * tcp_output() decides those. */
bool
tcp_output_one(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint32_t off = f->snd_nxt - f->snd_una, avail;

	if (f->state < TCP_S_ESTABLISHED || f->state == TCP_S_TIME_WAIT ||
	    f->state >= TCP_S_COUNT || (f->flags & TCP_F_RECOVERY))
		return false;
	if (off >= f->sq.len) {
		if (fin_waiting(f))
			return false;
		if (f->flags & TCP_F_ACKNOW)
			tcp_send_ack(lc, f);
		return true;
	}
	avail = f->sq.len - off;
	if (avail > f->mss || f->sq.len > umin(f->snd_wnd, f->cwnd))
		return false;
	send_at_nxt(lc, f, avail, fin_waiting(f));
	return true;
}

/* tcp_retransmit_one - the segment at snd_una again (fast retransmit) */
void
tcp_retransmit_one(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint32_t n = umin(f->sq.len, f->mss);
	bool fin = n == f->sq.len && (f->flags & TCP_F_FIN_QUEUED) &&
	           f->snd_max - f->snd_una == f->sq.len + 1;

	send_data(lc, f, f->snd_una, n, fin);
	lc->st.retransmits++;
	f->flags &= ~(uint32_t)TCP_F_RTT; /* Karn */
}

/* backoff - double the RTO, up to rto_max */
static void
backoff(struct tcp_lcore *lc, struct tcp_flow *f)
{
	f->rto = umin(f->rto * 2, lc->conf.rto_max_ms);
}

/* on_rto - the retransmission or persist timer of a synchronized flow */
static void
on_rto(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint32_t flight = f->snd_max - f->snd_una;

	if (flight == 0) {
		if (f->snd_wnd == 0 && (f->sq.len > 0 || f->flags & TCP_F_FIN_QUEUED)) {
			struct tcp_out o = {0}; /* zero-window probe */

			o.flags = TCP_ACK;
			o.seq = f->snd_una - 1;
			emit(lc, f, &o);
			lc->st.probes++;
			backoff(lc, f);
			rto_restart(lc, f);
		}
		return;
	}
	lc->st.rto_fired++;
	if (++f->retries > lc->conf.retries) {
		lc->st.timeouts++;
		tcp_send_rst_flow(lc, f);
		tcp_end(lc, f, TCP_END_TIMEOUT);
		return;
	}
	/* RFC 5681 (4): ssthresh = max(FlightSize / 2, 2 SMSS); cwnd = 1 SMSS */
	f->ssthresh = flight / 2 > 2u * f->mss ? flight / 2 : 2u * f->mss;
	f->cwnd = f->mss;
	f->flags &= ~(uint32_t)(TCP_F_RTT | TCP_F_RECOVERY | TCP_F_FIN_SENT);
	f->dupacks = 0;
	f->snd_nxt = f->snd_una;
	if (f->flags & TCP_F_SACK) { /* RFC 2018 8: what the peer held may be gone */
		tcp_sack_clear(f);
		f->recover = f->snd_max; /* no recovery from the go-back-N's duplicates */
	}
	backoff(lc, f);
	if (f->snd_wnd == 0) /* the head goes again whatever the window, as in Linux */
		tcp_retransmit_one(lc, f);
	else
		tcp_output(lc, f);
	rto_restart(lc, f);
}

/* synack_limit - SYN-ACK retransmissions a half-open flow gets. After SYN
 * pressure in the last TCP_SYN_PRESSURE_MS (the backlog over half full, or
 * full: cookies) the half-open flows are mostly spoofed: a real peer
 * answers within an RTT, and cookies carry the new handshakes. So, as
 * Linux does under a flood (reqsk_timer_handler), they get at most
 * TCP_SYNACK_RETRIES_PRESSED: a flood's flows leave the backlog 7 s after
 * it ends instead of 63 s, and each spoofed SYN given a flow draws 3
 * SYN-ACKs instead of 6. Unlike Linux's test of the backlog at each
 * timer, the pressure is remembered: the last flows of a flood do not
 * regain their 5 retransmissions as the first ones leave. */
static unsigned
synack_limit(const struct tcp_lcore *lc)
{
	unsigned max = lc->conf.synack_retries;
	bool pressed =
	        lc->syn_pressed_ms != 0 && lc->now - lc->syn_pressed_ms < TCP_SYN_PRESSURE_MS;

	return pressed && max > TCP_SYNACK_RETRIES_PRESSED ? TCP_SYNACK_RETRIES_PRESSED : max;
}

/* tcp_timer_fire - a flow's deadline came (from the pending list) */
void
tcp_timer_fire(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint64_t now = lc->now;

	if (f->t_tcp != 0 && f->t_tcp <= now) {
		f->t_tcp = 0;
		switch (f->state) {
		case TCP_S_SYN_SENT:
		case TCP_S_SYN_RCVD:
			if (++f->retries > (f->state == TCP_S_SYN_SENT ? lc->conf.syn_retries
			                                               : synack_limit(lc))) {
				lc->st.timeouts++;
				tcp_end(lc, f, TCP_END_TIMEOUT);
				return;
			}
			lc->st.retransmits++;
			if (f->state == TCP_S_SYN_SENT)
				tcp_send_syn(lc, f);
			else
				tcp_send_synack(lc, f);
			backoff(lc, f);
			rto_restart(lc, f);
			break;
		case TCP_S_TIME_WAIT:
			tcp_flow_free(lc, f);
			return;
		case TCP_S_FIN_WAIT_2:
			if (f->snd_una == f->snd_max) { /* the peer never sent its FIN */
				lc->st.timeouts++;
				tcp_send_rst_flow(lc, f);
				tcp_end(lc, f, TCP_END_TIMEOUT);
				return;
			}
			on_rto(lc, f);
			break;
		default:
			on_rto(lc, f);
			break;
		}
		if (f->flags & TCP_F_DEAD)
			return;
	}
	if (f->t_app != 0 && f->t_app <= now) {
		const struct tcp_app *app = tcp_app_of(lc, f);

		f->t_app = 0;
		if (app != NULL && app->deadline != NULL && (f->flags & TCP_F_APP))
			app->deadline(tcp_ctx_of(lc, f), f, now);
	}
	if (!(f->flags & TCP_F_DEAD) && f->state < TCP_S_TIME_WAIT) /* TIME_WAIT: the FIFO's */
		tcp_timer_sched(lc, f);
}
