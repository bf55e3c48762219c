/* test_state - the state machine against a scripted peer: handshakes,
 * data both ways, closes from either side and both at once, RST and SYN
 * handling (RFC 5961), old duplicates, closed ports, TIME_WAIT's bound,
 * active open, application refusals and aborts, and the flow's size */
#include "peer.h"

#define A  TCP_ACK
#define AP (TCP_ACK | TCP_PSH)
#define FA (TCP_FIN | TCP_ACK)
#define RA (TCP_RST | TCP_ACK)

static void
test_size(void)
{
	printf("# sizeof(struct tcp_flow) = %zu, sizeof(struct tcp_lcore) = %zu\n",
	       sizeof(struct tcp_flow), sizeof(struct tcp_lcore));
	/* 320: the SACK scoreboard's inline ranges; with the SMTP session's 256
	 * bytes an idle session stays well under 1 KiB */
	ok(sizeof(struct tcp_flow) <= 320, "struct tcp_flow is %zu bytes (<= 320)",
	   sizeof(struct tcp_flow));
}

static void
test_handshake(void)
{
	struct peer *p = p_start(NULL);
	struct tcp_opts o = {.has = TCP_O_MSS | TCP_O_WS, .mss = 1460, .wscale = 7};
	struct pout *sa;

	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	sa = p_last(p);
	ok(sa != NULL && sa->o.flags == (TCP_SYN | TCP_ACK) && sa->o.ack == CLI_ISS + 1,
	   "SYN gets SYN-ACK acking ISS+1");
	ok(sa && sa->o.opt.has == (TCP_O_MSS | TCP_O_WS) && sa->o.opt.mss == 1460 &&
	           sa->o.opt.wscale == 1,
	   "SYN-ACK offers MSS 1460 and WS 1 (64 KiB window)");
	is_int(sa ? sa->o.wnd : 0, 65535, "SYN-ACK window is unscaled, capped at 65535");
	is_int(p->st->half_open, 1, "one half-open flow");
	is_int(p->accepts, 0, "not accepted before the ACK");
	p->siss = sa->o.seq;
	/* a retransmitted SYN gets the same SYN-ACK again */
	p_clear(p);
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	p_expect(p, "retransmitted SYN: the same SYN-ACK", TCP_SYN | TCP_ACK, p->siss, CLI_ISS + 1,
	         0);
	/* an ACK that acks the wrong thing gets a RST */
	p_clear(p);
	p_seg(p, A, CLI_ISS + 1, p->siss + 7, 1024, NULL, 0);
	p_expect(p, "SYN_RCVD: bad ACK gets RST seq=ack", TCP_RST, p->siss + 7, 0, 0);
	p_seg(p, A, CLI_ISS + 1, p->siss + 1, 1024, NULL, 0);
	is_int(p->accepts, 1, "the right ACK: accepted");
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_ESTABLISHED, "ESTABLISHED");
	is_int(p->st->half_open, 0, "no half-open flow left");
	is_int(p->flow->snd_wnd, 1024 << 7, "peer's window scaled by its WS 7");
	p_stop(p);
}

/* test_handshake_data - the ACK that completes the handshake may carry
 * the client's first bytes (RFC 9293 3.10.7.4: in SYN-RECEIVED an
 * acceptable ACK enters ESTABLISHED "and continue processing"): they are
 * delivered after the accept and ACKed, not dropped for a retransmission */
static void
test_handshake_data(void)
{
	struct peer *p = p_start(NULL);
	struct tcp_opts o = {.has = TCP_O_MSS, .mss = 1460};
	struct pout *sa;

	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	sa = p_last(p);
	p->siss = sa != NULL ? sa->o.seq : 0;
	p_clear(p);
	p_seg(p, AP, CLI_ISS + 1, p->siss + 1, 1024, "EHLO x\r\n", 8);
	is_int(p->accepts, 1, "handshake ACK with data: accepted");
	ok(p->rxlen == 8 && memcmp(p->rx, "EHLO x\r\n", 8) == 0,
	   "the bytes it carries are delivered (%zu)", p->rxlen);
	p_expect(p, "and ACKed", A, p->siss + 1, CLI_ISS + 9, 0);
	is_int(p->st->drop_window, 0, "nothing dropped as out of window");
	p_stop(p);
}

/* test_timestamps - RFC 7323: a SYN with timestamps gets them back, every
 * segment carries them, TS.Recent follows the peer, an ACK times its
 * segment through the echo, and a SYN without them gets none */
static void
test_timestamps(void)
{
	struct peer *p = p_start(NULL);
	struct tcp_opts o = {.has = TCP_O_MSS | TCP_O_WS | TCP_O_TS,
	                     .mss = 1460,
	                     .wscale = 7,
	                     .ts_val = 1000,
	                     .ts_ecr = 0};
	struct pout *sa, *a;

	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	sa = p_last(p);
	ok(sa && (sa->o.opt.has & TCP_O_TS) && sa->o.opt.ts_ecr == 1000,
	   "SYN-ACK has timestamps, echoing the SYN's TSval");
	p->siss = sa ? sa->o.seq : 0;
	o.has = TCP_O_TS;
	o.ts_val = 1010;
	o.ts_ecr = sa ? sa->o.opt.ts_val : 0;
	p_clear(p);
	p_segx(p, CLI_PORT, SRV_PORT, TCP_ACK, CLI_ISS + 1, p->siss + 1, 1024, NULL, 0, &o);
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_ESTABLISHED, "established");
	is_int(p->flow ? p->flow->mss : 0, 1448, "the MSS leaves room for the option (1460 - 12)");
	o.ts_val = 1020;
	p_clear(p);
	p_segx(p, CLI_PORT, SRV_PORT, TCP_ACK | TCP_PSH, CLI_ISS + 1, p->siss + 1, 1024, "NOOP\r\n",
	       6, &o);
	a = p_last(p);
	ok(a && (a->o.opt.has & TCP_O_TS) && a->o.opt.ts_ecr == 1020,
	   "our ACK carries timestamps and echoes the newest TSval");
	/* an old segment (a retransmission from before) does not move TS.Recent back */
	o.ts_val = 900;
	p_clear(p);
	p_segx(p, CLI_PORT, SRV_PORT, TCP_ACK, CLI_ISS + 1, p->siss + 1, 1024, NULL, 0, &o);
	is_int(p->flow ? p->flow->ts_recent : 0, 1020, "an older TSval leaves TS.Recent");
	p_stop(p);

	p = p_start(NULL);
	o.has = TCP_O_MSS;
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	sa = p_last(p);
	ok(sa && !(sa->o.opt.has & (TCP_O_TS | TCP_O_SACKOK)),
	   "a SYN without timestamps or SACK-permitted gets neither");
	p_stop(p);

	/* RFC 2018: with SACK permitted, an ACK for a hole reports what is held */
	p = p_start(NULL);
	o.has = TCP_O_MSS | TCP_O_SACKOK;
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	sa = p_last(p);
	ok(sa && (sa->o.opt.has & TCP_O_SACKOK), "SACK-permitted is answered in the SYN-ACK");
	p->siss = sa ? sa->o.seq : 0;
	p_seg(p, TCP_ACK, CLI_ISS + 1, p->siss + 1, 1024, NULL, 0);
	p_clear(p);
	p_seg(p, TCP_ACK, CLI_ISS + 1 + 10, p->siss + 1, 1024, "0123456789", 10);
	p_seg(p, TCP_ACK, CLI_ISS + 1 + 20, p->siss + 1, 1024, "abcde", 5);
	a = p_last(p);
	ok(a && a->o.ack == CLI_ISS + 1 && (a->o.opt.has & TCP_O_SACK) && a->o.opt.nsack == 1 &&
	           a->o.opt.sack[0][0] == CLI_ISS + 11 && a->o.opt.sack[0][1] == CLI_ISS + 26,
	   "the ACK for the hole carries one SACK block for both held segments");
	p_stop(p);
}

static void
test_data(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s;

	ok(p_handshake(p, true), "handshake");
	s = p->siss + 1;
	p_clear(p);
	p_send(p, "HELO x\r\n", s);
	ok(p->rxlen == 8 && memcmp(p->rx, "HELO x\r\n", 8) == 0, "client bytes delivered");
	p_expect(p, "and ACKed at once", A, s, p->cseq, 0);
	is_int(p_last(p)->o.wnd, 32768, "window 65536 >> 1");
	p_clear(p);
	is_int(tcp_send(p->flow, "220 hi\r\n", 8), 8, "tcp_send takes 8 bytes");
	p_expect(p, "sent at once with PSH", AP, s, p->cseq, 8);
	ok(memcmp(p_last(p)->data, "220 hi\r\n", 8) == 0, "the bytes");
	p_seg(p, A, p->cseq, s + 8, 1024, NULL, 0);
	is_int(p->flow->sq.len, 0, "acked: the send queue is empty");
	is_int(p->st->chunks_used, 0, "an idle flow holds no chunk");
	s += 8;
	/* replies piggyback the ACK */
	p->echo = true;
	p_clear(p);
	p_send(p, "NOOP\r\n", s);
	is_int(p->nout, 1, "echo: one segment");
	p_expect(p, "the reply carries the ACK", AP, s, p->cseq, 6);
	s += 6;
	p_seg(p, A, p->cseq, s, 1024, NULL, 0);
	/* pipelined lines in one segment and in many */
	p->echo = false;
	p->rxlen = 0;
	p_send(p, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", s);
	for (int i = 0; i < 50; i++)
		p_send(p, "NOOP\r\n", s);
	is_int(p->rxlen, 38 + 50 * 6, "pipelined bytes all delivered in order");
	ok(memcmp(p->rx + 38, "NOOP\r\nNOOP\r\n", 12) == 0, "in order");
	p_expect(p, "last ACK covers everything", A, s, p->cseq, 0);
	p_stop(p);
}

static void
test_close_peer_first(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s;

	p_handshake(p, true);
	s = p->siss + 1;
	p->close_fin = true;
	p_clear(p);
	p_seg(p, FA, p->cseq, s, 1024, NULL, 0);
	is_int(p->fins, 1, "peer_fin told");
	is_int(p->nout, 1, "one segment answers");
	p_expect(p, "FIN piggybacks the ACK of the peer's FIN", FA, s, p->cseq + 1, 0);
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_LAST_ACK, "LAST_ACK");
	p_seg(p, A, p->cseq + 1, s + 1, 1024, NULL, 0);
	is_int(p->closes, 1, "closed()");
	is_int(p->why, TCP_END_NORMAL, "normally");
	is_int(p->st->flows_active, 0, "flow freed, no TIME_WAIT on the passive closer");
	p_stop(p);
}

static void
test_close_we_first(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s;

	p_handshake(p, true);
	s = p->siss + 1;
	p_clear(p);
	tcp_send(p->flow, "221 bye\r\n", 9);
	tcp_close(p->flow);
	is_int(p->nout, 2, "data then FIN... (send is immediate outside callbacks)");
	p_expect(p, "FIN after the data", FA, s + 9, p->cseq, 0);
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_FIN_WAIT_1, "FIN_WAIT_1");
	is_int(tcp_send(p->flow, "x", 1), 0, "no sending after close");
	p_seg(p, A, p->cseq, s + 10, 1024, NULL, 0);
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_FIN_WAIT_2, "FIN acked: FIN_WAIT_2");
	p_send(p, "QUIT\r\n", s + 10);
	is_int(p->rxlen, 6, "FIN_WAIT_2 still receives");
	p_clear(p);
	p_seg(p, FA, p->cseq, s + 10, 1024, NULL, 0);
	p_expect(p, "peer's FIN acked", A, s + 10, p->cseq + 1, 0);
	is_int(p->closes, 1, "closed() on entering TIME_WAIT");
	is_int(p->st->flows_tw, 1, "one flow in TIME_WAIT");
	/* a retransmitted FIN in TIME_WAIT is ACKed again */
	p_clear(p);
	p_seg(p, FA, p->cseq, s + 10, 1024, NULL, 0);
	p_expect(p, "TIME_WAIT re-ACKs a FIN", A, s + 10, p->cseq + 1, 0);
	p_clear(p);
	p_seg(p, TCP_RST, p->cseq + 1, 0, 0, NULL, 0);
	is_int(p->st->flows_tw, 1, "RST does not end TIME_WAIT (RFC 1337)");
	p_tick(p, 59000);
	is_int(p->st->flows_tw, 1, "still there at 59 s");
	p_tick(p, 2000);
	is_int(p->st->flows_tw, 0, "gone after 60 s");
	is_int(p->st->flows_active, 0, "no flow left");
	p_stop(p);
}

static void
test_simultaneous_close(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s;

	p_handshake(p, true);
	s = p->siss + 1;
	p_clear(p);
	tcp_close(p->flow);
	p_expect(p, "our FIN", FA, s, p->cseq, 0);
	p_clear(p);
	p_seg(p, FA, p->cseq, s, 1024, NULL, 0); /* crossing FINs */
	p_expect(p, "their FIN acked", A, s + 1, p->cseq + 1, 0);
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_CLOSING, "CLOSING");
	p_seg(p, A, p->cseq + 1, s + 1, 1024, NULL, 0);
	is_int(p->st->flows_tw, 1, "ours acked: TIME_WAIT");
	is_int(p->closes, 1, "closed()");
	p_stop(p);
}

static void
test_rst_and_syn(void)
{
	struct peer *p = p_start(NULL);
	struct tcp_conf c;
	uint32_t s;

	p_handshake(p, true);
	s = p->siss + 1;
	p_clear(p);
	p_seg(p, TCP_RST, p->cseq + 100, 0, 0, NULL, 0);
	p_expect(p, "RST in window, not exact: challenge ACK", A, s, p->cseq, 0);
	is_int(p->st->challenge_acks, 1, "counted");
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_ESTABLISHED, "flow survives");
	p_clear(p);
	p_seg(p, TCP_RST, p->cseq + 10000000, 0, 0, NULL, 0);
	is_int(p->nout, 0, "RST out of window: silently dropped");
	ok(p->flow != NULL, "flow survives");
	p_seg(p, TCP_RST, p->cseq - 1, 0, 0, NULL, 0);
	is_int(p->nout, 0, "RST just left of the window: dropped");
	/* SYN in ESTABLISHED */
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, p->cseq + 5, 0, 65535, NULL, 0, NULL);
	p_expect(p, "SYN in ESTABLISHED: challenge ACK", A, s, p->cseq, 0);
	ok(p->flow != NULL, "flow survives the SYN");
	/* old duplicate data */
	p_clear(p);
	p_send(p, "abc", s);
	p->rxlen = 0;
	p_seg(p, AP, p->cseq - 3, s, 1024, "abc", 3);
	is_int(p->rxlen, 0, "old duplicate not delivered again");
	p_expect(p, "but ACKed", A, s, p->cseq, 0);
	/* ACK of data never sent */
	p_clear(p);
	p_seg(p, A, p->cseq, s + 5000, 1024, NULL, 0);
	p_expect(p, "ACK of unsent data: an ACK back", A, s, p->cseq, 0);
	is_int(p->st->drop_ack, 1, "dropped as a bad ACK");
	/* a RST with the exact sequence ends it */
	p_seg(p, TCP_RST, p->cseq, 0, 0, NULL, 0);
	is_int(p->closes, 1, "exact RST: closed()");
	is_int(p->why, TCP_END_RESET, "reset");
	is_int(p->st->flows_active, 0, "flow freed");
	p_stop(p);

	p_conf(&c);
	c.challenge_ack_per_s = 2;
	p = p_start(&c);
	p_handshake(p, false);
	p_clear(p);
	for (int i = 0; i < 5; i++)
		p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, p->cseq + 5, 0, 65535, NULL, 0, NULL);
	is_int(p->nout, 2, "challenge ACKs limited per second");
	is_int(p->st->challenge_acks_limited, 3, "the rest counted");
	p->now += 1000;
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, p->cseq + 5, 0, 65535, NULL, 0, NULL);
	is_int(p->nout, 3, "next second: budget again");
	p_stop(p);
}

static void
test_closed_port(void)
{
	struct peer *p = p_start(NULL);

	p_segx(p, CLI_PORT, 26, TCP_SYN, 5000, 0, 65535, NULL, 0, NULL);
	p_expect(p, "SYN to a closed port: RST|ACK seq 0 ack seq+1", RA, 0, 5001, 0);
	is_int(p->st->drop_noport, 1, "counted");
	p_clear(p);
	p_segx(p, CLI_PORT, 26, TCP_ACK, 5000, 777, 100, NULL, 0, NULL);
	p_expect(p, "ACK for no flow: RST seq=ack", TCP_RST, 777, 0, 0);
	p_clear(p);
	p_segx(p, CLI_PORT, SRV_PORT, TCP_FIN, 5000, 0, 100, "xy", 2, NULL);
	p_expect(p, "FIN+data, no ACK, no flow: RST|ACK ack=seq+len+1", RA, 0, 5003, 0);
	p_clear(p);
	p_segx(p, CLI_PORT, 26, TCP_RST, 5000, 0, 100, NULL, 0, NULL);
	is_int(p->nout, 0, "RST for no flow: nothing");
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN | TCP_FIN, 5000, 0, 100, NULL, 0, NULL);
	is_int(p->nout, 0, "SYN+FIN: dropped");
	is_int(p->st->drop_flags, 1, "as nonsense flags");
	tcp_unlisten(p->lc, SRV_PORT);
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, 5000, 0, 65535, NULL, 0, NULL);
	p_expect(p, "after unlisten: RST", RA, 0, 5001, 0);
	p_stop(p);
}

/* tw_close - a flow on port that the peer closes after us: TIME_WAIT;
 * the ISN the SYN-ACK gave it */
static uint32_t
tw_close(struct peer *p, uint16_t port)
{
	struct tcp_opts o = {.has = TCP_O_MSS, .mss = 1460};
	uint32_t s;

	p_clear(p);
	p_segx(p, port, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	s = p_last(p)->o.seq + 1;
	p_segx(p, port, SRV_PORT, A, CLI_ISS + 1, s, 1024, NULL, 0, NULL);
	tcp_close(p->flow);
	p_segx(p, port, SRV_PORT, FA, CLI_ISS + 1, s + 1, 1024, NULL, 0, NULL);
	return s;
}

static void
test_tw_bound(void)
{
	struct peer *p = p_start(NULL);

	for (int i = 0; i < 12; i++)
		tw_close(p, (uint16_t)(CLI_PORT + 1 + i));
	is_int(p->st->flows_tw, 8, "TIME_WAIT holds tw_max = 8 flows");
	is_int(p->st->tw_recycled, 4, "the 4 oldest were recycled");
	is_int(p->st->flows_active, 8, "nothing else in use");
	/* a new SYN from a TIME_WAIT 4-tuple with a higher sequence reopens it */
	{
		struct tcp_opts o = {.has = TCP_O_MSS, .mss = 1460};

		p_clear(p);
		p_segx(p, CLI_PORT + 12, SRV_PORT, TCP_SYN, CLI_ISS + 100000, 0, 65535, NULL, 0,
		       &o);
		ok(p_last(p) && p_last(p)->o.flags == (TCP_SYN | TCP_ACK),
		   "SYN with a higher sequence reuses a TIME_WAIT 4-tuple");
		is_int(p->st->flows_tw, 7, "one TIME_WAIT flow less");
	}
	p_stop(p);
}

/* test_tw_timing - TIME_WAIT lasts tw_ms from its entry, and a FIN that
 * comes again restarts it (the peer did not get our ACK) for that flow
 * only: a flow that entered later but was not restarted goes first, and
 * the restarted one stays its full 2 MSL from the repeated FIN */
static void
test_tw_timing(void)
{
	struct peer *p = p_start(NULL);
	uint32_t sa;

	sa = tw_close(p, CLI_PORT + 1); /* A at 0 s */
	p_tick(p, 1000);
	tw_close(p, CLI_PORT + 2); /* B at 1 s */
	is_int(p->st->flows_tw, 2, "two flows in TIME_WAIT");
	p_tick(p, 29000); /* 30 s: A's FIN again */
	p_clear(p);
	p_segx(p, CLI_PORT + 1, SRV_PORT, FA, CLI_ISS + 1, sa + 1, 1024, NULL, 0, NULL);
	p_expect(p, "A's repeated FIN is ACKed", A, sa + 1, CLI_ISS + 2, 0);
	p_tick(p, 29500); /* 59.5 s */
	is_int(p->st->flows_tw, 2, "59.5 s: both still there");
	p_tick(p, 2000); /* 61.5 s */
	is_int(p->st->flows_tw, 1, "61.5 s: B's 60 s are over, A's restarted ones not");
	p_clear(p);
	p_segx(p, CLI_PORT + 2, SRV_PORT, A, CLI_ISS + 2, sa + 1, 1024, NULL, 0, NULL);
	ok(p->nout == 1 && p_last(p)->o.flags == TCP_RST, "B is gone: an ACK for it gets a RST");
	p_tick(p, 28000); /* 89.5 s */
	is_int(p->st->flows_tw, 1, "89.5 s: A still there");
	p_tick(p, 1000); /* 90.5 s */
	is_int(p->st->flows_tw, 0, "90.5 s: A gone, 60 s after its repeated FIN");
	is_int(p->st->flows_active, 0, "no flow left");
	p_stop(p);
}

static void
test_table_full(void)
{
	struct tcp_conf c;
	struct peer *p;
	int n = 0;

	p_conf(&c);
	c.max_flows = 4;
	p = p_start(&c);
	for (int i = 0; i < 6; i++) {
		p_clear(p);
		p_segx(p, (uint16_t)(CLI_PORT + i), SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0,
		       NULL);
		n += p->nout;
	}
	is_int(n, 4, "a full table (cookies off) answers no more SYNs");
	is_int(p->st->drop_full, 2, "refusals counted");
	p_stop(p);
}

static void
test_active_open(void)
{
	struct peer *p = p_start(NULL);
	struct tcp_ip l = ip4(10, 0, 0, 2), r = ip4(10, 0, 0, 1);
	struct tcp_flow *f;
	struct tcp_opts o = {.has = TCP_O_MSS | TCP_O_WS, .mss = 1400, .wscale = 2};
	struct pout *syn;
	uint16_t lport;
	uint32_t s;

	f = tcp_connect(p->lc, TCP_V4, &l, &r, 2525, p->app, p, p->now);
	ok(f != NULL, "tcp_connect gives a flow");
	ok(tcp_flow_state(f) == TCP_S_SYN_SENT, "SYN_SENT");
	syn = p_last(p);
	ok(syn && syn->o.flags == TCP_SYN && syn->o.dport == 2525 &&
	           syn->o.opt.has == (TCP_O_MSS | TCP_O_WS | TCP_O_TS | TCP_O_SACKOK) &&
	           syn->o.opt.ts_ecr == 0,
	   "a SYN with MSS, WS, SACK-permitted and timestamps (TSecr 0)");
	lport = syn->o.sport;
	ok(lport >= 32768 && lport < 61000, "source port in the ephemeral range");
	s = syn->o.seq + 1;
	p_clear(p);
	p_segx(p, 2525, lport, TCP_SYN | TCP_ACK, 9000, s, 65535, NULL, 0, &o);
	is_int(p->connects, 1, "connected()");
	p_expect(p, "our ACK", A, s, 9001, 0);
	is_int(f->mss, 1400, "peer's MSS taken");
	is_int(f->snd_ws, 2, "peer's WS taken");
	p_clear(p);
	tcp_send(f, "EHLO gate\r\n", 11);
	p_expect(p, "data out", AP, s, 9001, 11);
	p_segx(p, 2525, lport, AP, 9001, s + 11, 1000, "250 ok\r\n", 8, NULL);
	ok(p->rxlen == 8, "data in");
	is_int(f->snd_wnd, 4000, "window scaled by 2");
	tcp_abort(f);
	is_int(p->why, TCP_END_ABORT, "abort: closed() with ABORT");
	p_expect(p, "abort sends RST|ACK", RA, s + 11, 9009, 0);

	/* refused */
	f = tcp_connect(p->lc, TCP_V4, &l, &r, 2526, p->app, p, p->now);
	syn = p_last(p);
	p_segx(p, 2526, syn->o.sport, RA, 0, syn->o.seq + 1, 0, NULL, 0, NULL);
	is_int(p->why, TCP_END_REFUSED, "RST|ACK to our SYN: refused");
	/* a RST with a wrong ACK is ignored, a SYN-ACK with a wrong ACK gets a RST */
	f = tcp_connect(p->lc, TCP_V4, &l, &r, 2527, p->app, p, p->now);
	syn = p_last(p);
	p_segx(p, 2527, syn->o.sport, RA, 0, syn->o.seq + 5, 0, NULL, 0, NULL);
	ok(tcp_flow_state(f) == TCP_S_SYN_SENT, "RST with a bad ACK ignored");
	p_segx(p, 2527, syn->o.sport, TCP_SYN | TCP_ACK, 1, syn->o.seq + 5, 0, NULL, 0, NULL);
	p_expect(p, "SYN-ACK with a bad ACK: RST", TCP_RST, syn->o.seq + 5, 0, 0);
	/* SYN retries then timeout */
	p_clear(p);
	for (int i = 0; i < 70; i++)
		p_tick(p, 1000);
	is_int(p->nout, 5, "5 SYN retransmissions (1, 2, 4, 8, 16 s)");
	is_int(p->why, TCP_END_TIMEOUT, "then a timeout");
	/* simultaneous open */
	f = tcp_connect(p->lc, TCP_V4, &l, &r, 2528, p->app, p, p->now);
	syn = p_last(p);
	p_clear(p);
	p_segx(p, 2528, syn->o.sport, TCP_SYN, 7000, 0, 65535, NULL, 0, NULL);
	p_expect(p, "simultaneous open: SYN-ACK", TCP_SYN | TCP_ACK, syn->o.seq, 7001, 0);
	p_segx(p, 2528, syn->o.sport, A, 7001, syn->o.seq + 1, 65535, NULL, 0, NULL);
	ok(tcp_flow_state(f) == TCP_S_ESTABLISHED, "then ESTABLISHED");
	is_int(p->connects, 2, "connected() once more");
	p_stop(p);
}

static struct tcp_flow *abort_me;

static size_t
abort_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	tcp_send(f, "421 bye\r\n", 9);
	tcp_abort(f);
	tcp_send(f, "more", 4); /* after abort: nothing */
	abort_me = f;
	return len;
}

static void
test_app_refuse_abort(void)
{
	struct peer *p = p_start(NULL);
	struct tcp_app a = p_app;
	int id;

	p->refuse = true;
	p_clear(p);
	p_handshake(p, false);
	p_expect(p, "refused in accept(): RST", RA, p->siss + 1, CLI_ISS + 1, 0);
	is_int(p->closes, 0, "no closed() for a refused flow");
	is_int(p->st->flows_active, 0, "freed");
	p->refuse = false;
	/* abort from inside data() */
	a.data = abort_data;
	id = tcp_app_register(p->lc, &a, p);
	tcp_listen(p->lc, SRV_PORT, id);
	ok(p_handshake(p, false), "handshake");
	p_clear(p);
	p_send(p, "HELO\r\n", p->siss + 1);
	p_expect(p, "abort inside data(): a RST goes out last", RA, p->siss + 1, p->cseq - 6, 0);
	is_int(p->closes, 1, "closed() after the callback returned");
	is_int(p->why, TCP_END_ABORT, "ABORT");
	is_int(p->st->flows_active, 0, "freed");
	p_stop(p);
}

static void
test_deadline(void)
{
	struct peer *p = p_start(NULL);

	p_handshake(p, false);
	tcp_set_deadline(p->flow, p->now + 300000);
	p_tick(p, 299000);
	is_int(p->deadlines, 0, "not before");
	p_tick(p, 1010);
	is_int(p->deadlines, 1, "the application's deadline fires (beyond one wheel turn)");
	tcp_set_deadline(p->flow, p->now + 50);
	tcp_set_deadline(p->flow, 0);
	p_tick(p, 100);
	is_int(p->deadlines, 1, "a cleared deadline does not fire");
	tcp_set_deadline(p->flow, p->now + 5000);
	tcp_set_deadline(p->flow, p->now + 20);
	p_tick(p, 30);
	is_int(p->deadlines, 2, "moved earlier: fires at the earlier time");
	p_stop(p);
}

int
main(void)
{
	test_size();
	test_handshake();
	test_handshake_data();
	test_timestamps();
	test_data();
	test_close_peer_first();
	test_close_we_first();
	test_simultaneous_close();
	test_rst_and_syn();
	test_closed_port();
	test_tw_bound();
	test_tw_timing();
	test_table_full();
	test_active_open();
	test_app_refuse_abort();
	test_deadline();
	return done_testing();
}
