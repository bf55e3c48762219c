/* test_data - the byte streams: reassembly of overlapping and
 * out-of-order segments, the out-of-order bound, partial takes and held
 * bytes with the window shrinking and reopening, zero windows and probes
 * both ways, window scale arithmetic, sequence wraparound, a dry pool */
#include "peer.h"

#define A  TCP_ACK
#define AP (TCP_ACK | TCP_PSH)

static char big[200000];

static void
test_reassembly(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s, c;

	p_handshake(p, true);
	s = p->siss + 1;
	c = p->cseq;
	p_clear(p);
	p_seg(p, AP, c + 10, s, 1024, "klmnopqrst", 10);
	p_expect(p, "out of order: duplicate ACK of rcv_nxt", A, s, c, 0);
	p_seg(p, AP, c + 20, s, 1024, "uvwxyz0123", 10);
	is_int(p->rxlen, 0, "nothing delivered yet");
	is_int(p->flow->ooo_n, 2, "two segments queued");
	p_seg(p, AP, c, s, 1024, "abcdefghij", 10);
	ok(p->rxlen == 30 && memcmp(p->rx, "abcdefghijklmnopqrstuvwxyz0123", 30) == 0,
	   "the hole filled: all 30 bytes in order");
	p_expect(p, "one ACK for all", A, s, c + 30, 0);
	is_int(p->flow->ooo_n, 0, "queue empty");
	is_int(p->st->chunks_used, 0, "its chunks returned");
	c += 30;
	/* overlaps: [5,15) then [0,10) then [8,25) */
	p->rxlen = 0;
	p_seg(p, AP, c + 5, s, 1024, "FGHIJKLMNO", 10);
	p_seg(p, AP, c, s, 1024, "ABCDEFGHIJ", 10);
	p_seg(p, AP, c + 8, s, 1024, "IJKLMNOPQRSTUVWXY", 17);
	ok(p->rxlen == 25 && memcmp(p->rx, "ABCDEFGHIJKLMNOPQRSTUVWXY", 25) == 0,
	   "overlapping segments: each byte once, in order");
	p_expect(p, "ACK at 25", A, s, c + 25, 0);
	c += 25;
	/* duplicate out-of-order segment, then the queue bound */
	p_seg(p, AP, c + 100, s, 1024, "x", 1);
	p_seg(p, AP, c + 100, s, 1024, "x", 1);
	is_int(p->flow->ooo_n, 1, "a duplicate is kept once");
	for (int i = 1; i <= 4; i++)
		p_seg(p, AP, c + 100 + 10 * (uint32_t)i, s, 1024, "y", 1);
	is_int(p->flow->ooo_n, TCP_OOO_MAX, "at most TCP_OOO_MAX held");
	ok(p->st->drop_ooo >= 2, "the rest dropped and counted");
	/* beyond the window: trimmed */
	p->rxlen = 0;
	p_seg(p, AP, c + 70000, s, 1024, "zz", 2);
	is_int(p->flow->ooo_n, TCP_OOO_MAX, "a segment beyond the window is not kept");
	p_stop(p);
}

static void
test_hold(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s, c;
	int i;

	p_handshake(p, true);
	s = p->siss + 1;
	c = p->cseq;
	p->take = 0; /* the application's output is full */
	p_clear(p);
	p_seg(p, AP, c, s, 1024, big, 1000);
	p_expect(p, "held bytes are ACKed", A, s, c + 1000, 0);
	is_int(p_last(p)->o.wnd, (65536 - 1000) / 2, "window shrinks by what is held (WS 1)");
	is_int(p->flow->rq.len, 1000, "1000 bytes held");
	c += 1000;
	for (i = 0; i < 100 && p_last(p)->o.wnd > 0; i++) {
		uint32_t room = (uint32_t)p_last(p)->o.wnd << 1;
		uint32_t n = room < 1460 ? room : 1460;

		p_seg(p, AP, c, s, 1024, big, n);
		c += n;
	}
	is_int(p_last(p)->o.wnd, 0, "window closed when 64 KiB are held");
	is_int(p->flow->rq.len, 65536, "exactly rcv_buf held");
	/* the peer probes a zero window */
	p_clear(p);
	p_seg(p, AP, c, s, 1024, "p", 1);
	p_expect(p, "a probe into a zero window gets an ACK without taking it", A, s, c, 0);
	is_int(p->flow->rq.len, 65536, "probe not held");
	/* the application makes room: everything goes, the window reopens */
	p->take = SIZE_MAX;
	p_clear(p);
	tcp_rx_resume(p->flow);
	is_int(p->rxlen, 65536, "held bytes delivered on resume");
	ok(p->nout >= 1 && p_last(p)->o.wnd == 32768, "a window update says 64 KiB again");
	/* partial take: half of each delivery */
	p->take = 3;
	p->rxlen = 0;
	p_seg(p, AP, c, s, 1024, "0123456789", 10);
	is_int(p->rxlen, 3, "the application took 3");
	is_int(p->flow->rq.len, 7, "7 held");
	p_seg(p, AP, c + 10, s, 1024, "ab", 2);
	is_int(p->rxlen, 3, "new bytes queue behind the held ones");
	p->take = SIZE_MAX;
	tcp_rx_resume(p->flow);
	ok(p->rxlen == 12 && memcmp(p->rx, "0123456789ab", 12) == 0, "order kept");
	/* peer FIN while bytes are held: peer_fin() waits for them */
	p->take = 0;
	p->rxlen = 0;
	p_seg(p, AP | TCP_FIN, c + 12, s, 1024, "xyz", 3);
	is_int(p->fins, 0, "FIN not told while bytes are held");
	p->take = SIZE_MAX;
	tcp_rx_resume(p->flow);
	ok(p->rxlen == 3 && p->fins == 1, "bytes, then peer_fin()");
	p_stop(p);
}

static void
test_zero_window_send(void)
{
	struct peer *p = p_start(NULL);
	uint32_t s, c;
	int probes = 0;
	uint64_t t0, gaps[4];

	p_handshake(p, true);
	s = p->siss + 1;
	c = p->cseq;
	p_seg(p, A, c, s, 0, NULL, 0); /* the client's window closes */
	p_clear(p);
	is_int(tcp_send(p->flow, "250 ok\r\n", 8), 8, "send into a zero window: queued");
	is_int(p->nout, 0, "nothing sent");
	t0 = p->now;
	for (int i = 0; i < 400 && probes < 4; i++) {
		int before = p->nout;

		p_tick(p, 10);
		if (p->nout > before) {
			gaps[probes++] = p->now - t0;
			t0 = p->now;
			p_expect(p, "probe: bare ACK at snd_una - 1", A, s - 1, c, 0);
			p_seg(p, A, c, s, 0, NULL, 0); /* still closed */
		}
	}
	is_int(probes, 4, "persist timer probes");
	ok(gaps[1] >= gaps[0] * 2 - 20 && gaps[2] >= gaps[1] * 2 - 20,
	   "and backs off (%llu %llu %llu)", (unsigned long long)gaps[0],
	   (unsigned long long)gaps[1], (unsigned long long)gaps[2]);
	ok(p->flow != NULL, "probes answered: the flow lives on");
	p_clear(p);
	p_seg(p, A, c, s, 10, NULL, 0); /* opens: 10 << 7 */
	p_expect(p, "window opens: data goes", AP, s, c, 8);
	p_stop(p);
}

static void
test_wscale_math(void)
{
	struct peer *p;
	struct tcp_conf cf;

	p_conf(&cf);
	cf.rcv_buf = 1 << 20;
	p = p_start(&cf);
	p_handshake(p, true);
	is_int(p->flow->rcv_ws, 5, "1 MiB window needs shift 5");
	p_clear(p);
	p_send(p, "x", p->siss + 1);
	is_int(p_last(p)->o.wnd, 32768, "advertised 1 MiB >> 5");
	p_stop(p);
	/* no WS from the peer: none from us, window capped */
	p = p_start(&cf);
	p_handshake(p, false);
	ok(p->flow->rcv_ws == 0 && p->flow->snd_ws == 0, "no WS in the SYN: no scaling");
	p_clear(p);
	p_send(p, "x", p->siss + 1);
	is_int(p_last(p)->o.wnd, 65535, "window capped at 65535");
	is_int(p->flow->snd_wnd, 1024, "peer's window unscaled");
	p_stop(p);
}

static void
test_wraparound(void)
{
	struct peer *p = p_start(NULL);
	struct tcp_flow *f;
	uint32_t isn0, s, c;
	uint64_t d;
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	/* find our ISN for this 4-tuple, then wait until it is 2^32 - 2000 */
	p->ciss = 0xfffffc00; /* the client wraps after 1024 bytes */
	p_handshake(p, true);
	isn0 = p->siss;
	tcp_abort(p->flow);
	d = ((uint64_t)(uint32_t)(0xfffff830u - isn0) + 249) / 250;
	p->now += d;
	p->closes = 0;
	ok(p_handshake(p, true), "handshake with both ISNs near 2^32");
	f = p->flow;
	printf("# server ISN %#x, client ISN %#x\n", p->siss, p->ciss);
	ok(p->siss > 0xfffff000u, "server ISN within 4 KiB of the wrap");
	s = p->siss + 1;
	c = p->cseq;
	/* client -> server, 3 x 1000 bytes across the wrap, out of order */
	p->rxlen = 0;
	p_seg(p, AP, c + 2000, s, 1024, big + 2000, 1000);
	p_seg(p, AP, c + 1000, s, 1024, big + 1000, 1000);
	p_seg(p, AP, c, s, 1024, big, 1000);
	ok(p->rxlen == 3000 && memcmp(p->rx, big, 3000) == 0, "received across the wrap");
	p_expect(p, "ACK past the wrap", A, s, c + 3000, 0);
	c += 3000;
	/* server -> client across the wrap */
	p_clear(p);
	is_int(tcp_send(f, big, 5000), 5000, "5000 bytes queued");
	is_int(p->nout, 4, "4 segments (MSS 1460)");
	ok(p->out[0].o.seq == s && p->out[3].o.seq == s + 3 * 1460, "sequence numbers wrap");
	p_seg(p, A, c, s + 2920, 1024, NULL, 0);
	is_int(f->sq.len, 5000 - 2920, "partial ACK across the wrap frees 2920");
	p_seg(p, A, c, s + 5000, 1024, NULL, 0);
	is_int(f->sq.len, 0, "all acked");
	ok(f->snd_una == s + 5000 && f->snd_una < 0x10000, "snd_una wrapped");
	p_stop(p);
}

static void
test_pool(void)
{
	struct tcp_conf cf;
	struct peer *p;
	uint32_t s, c;
	size_t n;

	p_conf(&cf);
	cf.nchunks = 8;
	cf.chunk_reserve = 2;
	p = p_start(&cf);
	p_handshake(p, true);
	s = p->siss + 1;
	c = p->cseq;
	p_seg(p, A, c, s, 0, NULL, 0); /* nothing leaves: everything stays queued */
	n = tcp_send(p->flow, big, 60000);
	is_int(n, 8 * (TCP_CHUNK_SIZE - 16), "a dry pool: tcp_send takes what fits");
	ok(p->st->drop_nopool > 0, "counted");
	is_int(tcp_send(p->flow, big, 10), 0, "nothing more");
	/* received out of order: below the reserve, dropped */
	p_seg(p, AP, c + 10, s, 0, "x", 1);
	is_int(p->flow->ooo_n, 0, "out-of-order data dropped under pressure");
	/* received in order, not taken, no chunk to hold it: not acked */
	p->take = 0;
	p_clear(p);
	p_seg(p, AP, c, s, 0, "abc", 3);
	p_expect(p, "bytes that cannot be held are not acknowledged", A, s + 0, c, -1);
	/* the pool refills when the peer opens its window and acks (its
	 * window update must not be older than the out-of-order segment's) */
	p_seg(p, A, c + 10, s, 1024, NULL, 0);
	for (int i = 0; i < 20 && p->flow->sq.len > 0; i++)
		p_seg(p, A, c + 10, p->flow->snd_max, 1024, NULL, 0);
	is_int(p->st->chunks_used, 0, "acked: every chunk back");
	p->take = SIZE_MAX;
	p_seg(p, AP, c, p->flow->snd_max, 1024, "abc", 3);
	is_int(p->rxlen, 3, "and the stack goes on");
	/* a SYN flood beyond the table with cookies off is refused, not crashed */
	p_stop(p);
}

/* test_window_edge - the right edge the peer computes from our scaled
 * window field is the edge we hold it to: it never moves back, bytes up
 * to it are all taken, and the window closes; once it is zero, a segment
 * at rcv_nxt still has its ACK taken (RFC 9293 3.10.7.4's allowance for
 * valid ACKs). Before, a field rounded up past rcv_adv had the peer believe
 * in a few bytes more; it sent them into what was for us a zero window, we
 * refused the segment and the ACK in it, and with an application waiting
 * on that ACK to read again, neither side moved. */
static void
test_window_edge(void)
{
	struct peer *p;
	struct tcp_conf cf;
	uint32_t s, c, c0, edge = 0;
	int i, back = 0, trimmed = 0;

	p_conf(&cf);
	cf.rcv_buf = 256 * 1024;
	cf.nchunks = 2048;
	p = p_start(&cf);
	p_handshake(p, true);
	is_int(p->flow->rcv_ws, 3, "256 KiB window: shift 3");
	s = p->siss + 1;
	c0 = c = p->cseq;
	p->take = 0; /* the application reads nothing until told */
	is_int(tcp_send(p->flow, "250 ok\r\n", 8), 8, "a reply in flight");
	for (i = 0; i < 2000; i++) {
		const struct pout *o = p_last(p);
		uint32_t peer_edge = o->o.ack + ((uint32_t)o->o.wnd << 3);
		uint32_t room = peer_edge - c, n = 1 + (uint32_t)(i * 977) % 1460;

		if (i > 0 && SEQ_LT(peer_edge, edge))
			back++;
		edge = peer_edge;
		if (room == 0)
			break;
		n = n < room ? n : room; /* all the peer thinks fits */
		p_seg(p, AP, c, s, 1024, big, n);
		if (p_last(p)->o.ack != c + n)
			trimmed++;
		c = p_last(p)->o.ack;
	}
	is_int(back, 0, "the right edge the peer sees never moved back");
	is_int(trimmed, 0, "every byte sent up to that edge was taken");
	ok(i < 2000 && p_last(p)->o.wnd == 0, "the window closed (after %d segments)", i);
	ok(p->flow->rq.len == c - c0 && p->flow->rq.len >= 256 * 1024 &&
	           p->flow->rq.len - 256 * 1024 < 8u * (unsigned)i,
	   "held: the buffer, and less than a unit an ACK past it (%u)", p->flow->rq.len);
	/* the peer sends 4 bytes at rcv_nxt with the ACK of our reply */
	p_clear(p);
	p_seg(p, AP, c, s + 8, 1024, "more", 4);
	p_expect(p, "bytes at rcv_nxt into a zero window: refused, an ACK of rcv_nxt", A, s + 8, c,
	         0);
	is_int(p->flow->snd_una, s + 8, "the ACK in that segment was taken");
	is_int(p->flow->sq.len, 0, "and the reply it acked freed");
	is_int(p->flow->rq.len, c - c0, "nothing more held");
	/* a segment beyond rcv_nxt still gives nothing, ACK included */
	is_int(tcp_send(p->flow, "250 ok\r\n", 8), 8, "a second reply in flight");
	p_clear(p);
	p_seg(p, AP, c + 1, s + 16, 1024, "more", 4);
	p_expect(p, "bytes after rcv_nxt into a zero window: refused, an ACK", A, s + 16, c, 0);
	is_int(p->flow->snd_una, s + 8, "and their ACK not taken");
	/* the application reads: the window opens, the bytes come */
	p->take = SIZE_MAX;
	tcp_rx_resume(p->flow);
	is_int(p->rxlen, c - c0, "the held bytes delivered");
	ok(p_last(p)->o.wnd > 0, "the window reopened");
	p_seg(p, AP, c, s + 16, 1024, "more", 4);
	ok(p_last(p)->o.ack == c + 4 && p->flow->snd_una == s + 16, "and the next bytes taken");
	p_stop(p);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	test_reassembly();
	test_hold();
	test_zero_window_send();
	test_wscale_math();
	test_window_edge();
	test_wraparound();
	test_pool();
	return done_testing();
}
