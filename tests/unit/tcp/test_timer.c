/* test_timer - the clock: RTT estimation and RTO (RFC 6298) with backoff
 * and Karn's rule, giving up after conf.retries, fast retransmit, SYN-ACK
 * retries, FIN_WAIT_2 timeout, and a clock that jumps */
#include "peer.h"

#define A  TCP_ACK
#define AP (TCP_ACK | TCP_PSH)

/* handshake_rtt - a handshake whose ACK comes rtt ms after the SYN-ACK */
static void
handshake_rtt(struct peer *p, uint32_t rtt)
{
	struct tcp_opts o = {.has = TCP_O_MSS, .mss = 1460};

	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	p->siss = p_last(p)->o.seq;
	p->cseq = CLI_ISS + 1;
	p->now += rtt;
	p_seg(p, A, p->cseq, p->siss + 1, 65535, NULL, 0);
}

static void
test_rto(void)
{
	struct peer *p = p_start(NULL);
	uint64_t t[16], t0;
	int n = 0;
	uint32_t s;

	handshake_rtt(p, 100);
	is_int(p->flow->srtt_x8 >> 3, 100, "first sample: SRTT = R");
	is_int(p->flow->rttvar_x4 >> 2, 50, "RTTVAR = R/2");
	is_int(p->flow->rto, 300, "RTO = SRTT + 4 RTTVAR = 300 ms");
	s = p->siss + 1;
	/* a second sample of 20 ms */
	tcp_send(p->flow, "a", 1);
	p->now += 20;
	p_seg(p, A, p->cseq, s + 1, 65535, NULL, 0);
	s += 1;
	is_int(p->flow->srtt_x8 >> 3, 90, "SRTT = 7/8 100 + 1/8 20 = 90");
	is_int(p->flow->rto, 90 + (3 * 50 + 80), "RTO = SRTT + 4 (3/4 50 + 1/4 80)");
	/* no ACK: retransmissions back off */
	p_clear(p);
	tcp_send(p->flow, "bb", 2);
	t0 = p->now;
	for (int i = 0; i < 20000 && p->closes == 0; i++) {
		int before = p->nout;

		p_tick(p, 10);
		if (p->nout > before && p_last(p)->o.flags == AP && n < 16)
			t[n++] = p->now - t0;
	}
	is_int(n, 8, "8 retransmissions (conf.retries)");
	ok(t[0] >= 320 && t[0] <= 340, "first after the RTO (%llu ms)", (unsigned long long)t[0]);
	{
		bool doubling = true;

		for (int i = 1; i < n; i++) {
			uint64_t gap = t[i] - t[i - 1], prev = i > 1 ? t[i - 1] - t[i - 2] : t[0];

			if (gap + 20 < 2 * prev || gap > 2 * prev + 20)
				doubling = false;
		}
		ok(doubling, "each wait twice the last");
	}
	p_expect(p, "then a RST", TCP_RST | TCP_ACK, s + 2, p->cseq, 0);
	is_int(p->why, TCP_END_TIMEOUT, "closed() with TIMEOUT");
	is_int(p->st->timeouts, 1, "counted");
	p_stop(p);
}

static void
test_karn(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s, srtt, rto;

	handshake_rtt(p, 100);
	s = p->siss + 1;
	srtt = p->flow->srtt_x8;
	tcp_send(p->flow, "abc", 3);
	p_tick(p, 310); /* one retransmission */
	rto = p->flow->rto;
	is_int(rto, 600, "backed off to 600");
	p->now += 5;
	p_seg(p, A, p->cseq, s + 3, 65535, NULL, 0);
	is_int(p->flow->srtt_x8, srtt, "no sample from a retransmitted segment (Karn)");
	is_int(p->flow->rto, 600, "RTO stays backed off until a new sample");
	tcp_send(p->flow, "d", 1);
	p->now += 40;
	p_seg(p, A, p->cseq, s + 4, 65535, NULL, 0);
	ok(p->flow->rto < 600, "a new sample sets the RTO again (%u)", p->flow->rto);
	p_stop(p);
}

static void
test_fast_retransmit(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s;
	static char buf[8000];

	handshake_rtt(p, 10);
	s = p->siss + 1;
	p_clear(p);
	tcp_send(p->flow, buf, 5 * 1460);
	is_int(p->nout, 5, "5 segments out");
	p_clear(p);
	for (int i = 0; i < 3; i++)
		p_seg(p, A, p->cseq, s, 65535, NULL, 0);
	is_int(p->st->fast_retransmits, 1, "3 duplicate ACKs: fast retransmit");
	p_expect(p, "the first segment again", AP, s, p->cseq, 1460);
	p_seg(p, A, p->cseq, s + 2 * 1460, 65535, NULL, 0);
	p_expect(p, "partial ACK: the next hole at once (NewReno)", AP, s + 2 * 1460, p->cseq,
	         1460);
	p_seg(p, A, p->cseq, s + 5 * 1460, 65535, NULL, 0);
	ok(!(p->flow->flags & TCP_F_RECOVERY), "full ACK ends recovery");
	is_int(p->st->rto_fired, 0, "no RTO needed");
	p_stop(p);
}

static void
test_synack_retries(void)
{
	struct peer *p = p_start(NULL);
	int n = 0;

	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, NULL);
	p_clear(p);
	for (int i = 0; i < 100; i++) {
		p_tick(p, 1000);
		n = p->nout;
	}
	is_int(n, 5, "5 SYN-ACK retransmissions");
	is_int(p->st->half_open, 0, "then the half-open flow is gone");
	is_int(p->st->flows_active, 0, "freed");
	is_int(p->closes, 0, "the application never knew it");
	p_stop(p);
}

static void
test_fin_wait2(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s;

	p_handshake(p, false);
	s = p->siss + 1;
	tcp_close(p->flow);
	p_seg(p, A, p->cseq, s + 1, 1024, NULL, 0);
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_FIN_WAIT_2, "FIN_WAIT_2");
	p_tick(p, 59000);
	is_int(p->closes, 0, "waiting for the peer's FIN");
	p_clear(p);
	p_tick(p, 1100);
	is_int(p->why, TCP_END_TIMEOUT, "FIN_WAIT_2 times out after 60 s");
	p_expect(p, "with a RST", TCP_RST | TCP_ACK, s + 1, p->cseq, 0);
	is_int(p->st->flows_active, 0, "freed");
	p_stop(p);
}

static void
test_clock_jump(void)
{
	struct peer *p = p_start(NULL);

	p_handshake(p, false);
	tcp_set_deadline(p->flow, p->now + 100);
	tcp_send(p->flow, "x", 1);
	p_tick(p, 3600 * 1000); /* an hour without running timers */
	is_int(p->deadlines, 1, "a stalled loop still fires due deadlines once");
	ok(p->flow != NULL && p->flow->retries == 1, "and the RTO once");
	p_stop(p);
}

static void
test_mid_tick(void)
{
	struct peer *p = p_start(NULL);
	int n = 0;

	p->now = 1000003; /* deadlines fall inside a 10 ms tick */
	p_handshake(p, false);
	tcp_set_deadline(p->flow, p->now + 5);
	for (int i = 0; i < 15 && p->deadlines == 0; i++, n++)
		p_tick(p, 1);
	ok(p->deadlines == 1 && n >= 5 && n <= 15,
	   "a deadline inside the current tick fires within one tick (%d ms), not a turn later", n);
	p_clear(p);
	tcp_send(p->flow, "x", 1); /* RTO 200 ms (RTT ~0), from mid-tick */
	for (n = 0; n < 1100 && p->nout < 2; n++)
		p_tick(p, 1);
	ok(n >= 200 && n <= 212, "first RTO at the 200 ms floor, from mid-tick (%d ms)", n);
	p_stop(p);
}

int
main(void)
{
	test_mid_tick();
	test_rto();
	test_karn();
	test_fast_retransmit();
	test_synack_retries();
	test_fin_wait2();
	test_clock_jump();
	return done_testing();
}
