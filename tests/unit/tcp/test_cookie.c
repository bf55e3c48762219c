/* test_cookie - SYN cookies (RFC 4987): forced, under backlog and table
 * pressure, off; what a cookie encodes; forged, stale and replayed ACKs;
 * half-open flows under SYN pressure (fewer SYN-ACK retransmissions) */
#include "peer.h"

#define A  TCP_ACK
#define AP (TCP_ACK | TCP_PSH)

static struct peer *
start(uint8_t mode, uint32_t backlog, uint32_t max_flows)
{
	struct tcp_conf c;

	p_conf(&c);
	c.cookies = mode;
	c.syn_backlog = backlog;
	c.max_flows = max_flows;
	return p_start(&c);
}

static uint32_t
syn(struct peer *p, uint16_t port, const struct tcp_opts *o)
{
	p_clear(p);
	p_segx(p, port, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, o);
	return p->nout ? p_last(p)->o.seq : 0;
}

static void
test_forced(void)
{
	struct peer *p = start(TCP_COOKIES_ALWAYS, 100, 64);
	struct tcp_opts o = {.has = TCP_O_MSS | TCP_O_WS, .mss = 1460, .wscale = 7};
	uint32_t isn;
	struct pout *sa;

	isn = syn(p, CLI_PORT, &o);
	sa = p_last(p);
	ok(sa && sa->o.flags == (TCP_SYN | TCP_ACK) && sa->o.ack == CLI_ISS + 1, "cookie SYN-ACK");
	is_int(sa->o.opt.has, TCP_O_MSS, "MSS only: no window scaling with cookies");
	is_int(sa->o.opt.mss, 1460, "our MSS");
	is_int(p->st->flows_active, 0, "no state kept");
	is_int(p->st->cookies_sent, 1, "counted");
	/* the ACK carries data (a client that talks first) */
	p_seg(p, AP, CLI_ISS + 1, isn + 1, 1024, "EHLO x\r\n", 8);
	is_int(p->st->cookies_ok, 1, "the cookie checks out");
	is_int(p->accepts, 1, "accepted");
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_ESTABLISHED, "ESTABLISHED");
	is_int(p->rxlen, 8, "the ACK's data delivered");
	ok(p->flow->snd_ws == 0 && p->flow->rcv_ws == 0, "no scaling either way");
	is_int(p->flow->mss, 1460, "MSS from the cookie");
	p_expect(p, "data ACKed", A, isn + 1, CLI_ISS + 9, 0);
	is_int(p_last(p)->o.wnd, 65535, "window unscaled");
	/* forged: wrong cookie */
	p_clear(p);
	syn(p, CLI_PORT + 1, &o);
	p_segx(p, CLI_PORT + 1, SRV_PORT, A, CLI_ISS + 1, 12345, 1024, NULL, 0, NULL);
	is_int(p->st->cookies_bad, 1, "a wrong cookie fails");
	p_expect(p, "and gets a RST", TCP_RST, 12345, 0, 0);
	/* a cookie for another 4-tuple */
	isn = syn(p, CLI_PORT + 2, &o);
	p_segx(p, CLI_PORT + 3, SRV_PORT, A, CLI_ISS + 1, isn + 1, 1024, NULL, 0, NULL);
	is_int(p->st->cookies_bad, 2, "a cookie is bound to its 4-tuple");
	/* wrong peer sequence */
	p_segx(p, CLI_PORT + 2, SRV_PORT, A, CLI_ISS + 2, isn + 1, 1024, NULL, 0, NULL);
	is_int(p->st->cookies_bad, 3, "and to the peer's ISN");
	/* stale */
	isn = syn(p, CLI_PORT + 4, &o);
	p->now += 64000;
	p_segx(p, CLI_PORT + 4, SRV_PORT, A, CLI_ISS + 1, isn + 1, 1024, NULL, 0, NULL);
	is_int(p->st->cookies_ok, 2, "a cookie from the last period is still good");
	isn = syn(p, CLI_PORT + 5, &o);
	p->now += 3 * 64000;
	syn(p, CLI_PORT + 6, &o); /* keep cookies "recent" */
	p_segx(p, CLI_PORT + 5, SRV_PORT, A, CLI_ISS + 1, isn + 1, 1024, NULL, 0, NULL);
	is_int(p->st->cookies_bad, 4, "a cookie three periods old fails");
	p_stop(p);
}

static void
test_mss_table(void)
{
	struct peer *p = start(TCP_COOKIES_ALWAYS, 100, 64);
	static const struct {
		uint16_t peer, want;
	} t[] = {{1460, 1460}, {1400, 1400}, {1440, 1440}, {1000, 536}, {9000, 1460}, {0, 536}};

	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct tcp_opts o = {.has = t[i].peer ? TCP_O_MSS : 0, .mss = t[i].peer};
		uint32_t isn = syn(p, (uint16_t)(CLI_PORT + i), &o);

		p_segx(p, (uint16_t)(CLI_PORT + i), SRV_PORT, A, CLI_ISS + 1, isn + 1, 1024, NULL,
		       0, NULL);
		ok(p->flow && p->flow->mss == t[i].want, "peer MSS %u: cookie keeps %u", t[i].peer,
		   t[i].want);
	}
	p_stop(p);
}

static void
test_auto(void)
{
	struct peer *p = start(TCP_COOKIES_AUTO, 2, 64);
	struct tcp_opts o = {.has = TCP_O_MSS | TCP_O_WS, .mss = 1460, .wscale = 7};
	uint32_t isn;

	syn(p, CLI_PORT, &o);
	syn(p, CLI_PORT + 1, &o);
	is_int(p->st->half_open, 2, "two half-open flows");
	is_int(p->st->cookies_sent, 0, "no cookie yet");
	isn = syn(p, CLI_PORT + 2, &o);
	is_int(p->st->cookies_sent, 1, "backlog full: a cookie");
	is_int(p_last(p)->o.opt.has, TCP_O_MSS, "without WS");
	is_int(p->st->flows_active, 2, "and no state");
	p_segx(p, CLI_PORT + 2, SRV_PORT, A, CLI_ISS + 1, isn + 1, 1024, NULL, 0, NULL);
	is_int(p->accepts, 1, "the cookie's ACK makes a flow");
	p_stop(p);

	/* table pressure: cookie_fill 900 per mille of 10 flows = 9 */
	p = start(TCP_COOKIES_AUTO, 100, 10);
	for (int i = 0; i < 12; i++) {
		isn = syn(p, (uint16_t)(CLI_PORT + i), &o);
		p_segx(p, (uint16_t)(CLI_PORT + i), SRV_PORT, A, CLI_ISS + 1, isn + 1, 1024, NULL,
		       0, NULL);
	}
	is_int(p->st->cookies_sent, 3, "cookies once the table is 90%% full");
	is_int(p->accepts, 10, "cookie ACKs fill the table to the last flow");
	is_int(p->st->drop_full, 2, "then refused (no crash)");
	p_stop(p);
}

static void
test_off(void)
{
	struct peer *p = start(TCP_COOKIES_NEVER, 1, 64);
	struct tcp_opts o = {.has = TCP_O_MSS, .mss = 1460};

	syn(p, CLI_PORT, &o);
	syn(p, CLI_PORT + 1, &o);
	is_int(p->st->cookies_sent, 0, "cookies off: never");
	is_int(p->st->half_open, 2, "the backlog is only a cookie trigger");
	p_clear(p);
	p_segx(p, CLI_PORT + 9, SRV_PORT, A, CLI_ISS + 1, 777, 1024, NULL, 0, NULL);
	is_int(p->st->cookies_bad, 0, "ACKs are not checked as cookies when none were sent");
	p_expect(p, "just a RST", TCP_RST, 777, 0, 0);
	p_stop(p);
}

/* age - run the clock for ms in steps of 100 ms (each timer at its time) */
static void
age(struct peer *p, uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 100)
		p_tick(p, 100);
}

/* test_pressure - a SYN flood's half-open flows: 2 SYN-ACK retransmissions
 * (gone after 1 + 2 + 4 s) while the backlog is over half full or cookies
 * went out in the last 10 s; the configured 5 (63 s) otherwise */
static void
test_pressure(void)
{
	struct tcp_opts o = {.has = TCP_O_MSS, .mss = 1460};
	struct peer *p = start(TCP_COOKIES_AUTO, 100, 64);

	syn(p, CLI_PORT, &o);
	age(p, 7500);
	is_int(p->st->half_open, 1, "no pressure: a half-open flow outlives 7 s");
	is_int(p->st->retransmits, 3, "with its third SYN-ACK retransmission at 7 s");
	age(p, 60000);
	is_int(p->st->retransmits, 5, "no pressure: 5 retransmissions (synack_retries)");
	is_int(p->st->half_open, 0, "then gone");
	p_stop(p);

	/* the backlog over half full: 3 of 4 */
	p = start(TCP_COOKIES_AUTO, 4, 64);
	for (int i = 0; i < 3; i++)
		syn(p, (uint16_t)(CLI_PORT + i), &o);
	age(p, 6900);
	is_int(p->st->half_open, 3, "backlog 3 of 4: still there before 7 s");
	age(p, 300);
	is_int(p->st->half_open, 0, "backlog 3 of 4: all gone at 7 s");
	is_int(p->st->retransmits, 6, "after 2 SYN-ACK retransmissions each");
	is_int(p->st->timeouts, 3, "counted as timeouts");
	is_int(p->st->flows_active, 0, "no flow left");
	p_stop(p);

	/* cookies went out: the backlog was full, even if it is not now */
	p = start(TCP_COOKIES_AUTO, 4, 64);
	for (int i = 0; i < 5; i++)
		syn(p, (uint16_t)(CLI_PORT + i), &o);
	is_int(p->st->cookies_sent, 1, "the fifth SYN got a cookie");
	for (int i = 1; i < 4; i++) /* three peers say they never sent the SYN */
		p_segx(p, (uint16_t)(CLI_PORT + i), SRV_PORT, TCP_RST, CLI_ISS + 1, 0, 0, NULL, 0,
		       NULL);
	is_int(p->st->half_open, 1, "one half-open flow left: backlog 1 of 4");
	age(p, 7200);
	is_int(p->st->half_open, 0, "a cookie 7 s ago: it goes after 2 retransmissions");
	/* 10 s without a cookie: a new half-open flow gets its 5 again */
	age(p, 3000);
	syn(p, CLI_PORT + 10, &o);
	age(p, 7500);
	is_int(p->st->half_open, 1, "no cookie for 10 s: pressure over, a new flow stays");
	p_stop(p);

	/* a real peer's handshake under pressure still completes */
	p = start(TCP_COOKIES_AUTO, 4, 64);
	for (int i = 0; i < 3; i++)
		syn(p, (uint16_t)(CLI_PORT + i), &o);
	age(p, 1500); /* one retransmission each */
	p_clear(p);
	p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	ok(p->nout == 1 && p_last(p)->o.flags == (TCP_SYN | TCP_ACK),
	   "a SYN again gets the SYN-ACK again");
	p_segx(p, CLI_PORT, SRV_PORT, A, CLI_ISS + 1, p_last(p)->o.seq + 1, 1024, NULL, 0, NULL);
	is_int(p->accepts, 1, "and its ACK opens the flow");
	age(p, 7000);
	is_int(p->st->half_open, 0, "the other two are gone");
	ok(p->flow && tcp_flow_state(p->flow) == TCP_S_ESTABLISHED, "the open one stays");
	p_stop(p);
}

/* ref_sip13 - SipHash-1-3 by the paper, byte by byte: the reference */
static uint64_t
ref_sip13(const uint64_t key[2], const uint8_t *in, size_t len)
{
#define R(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define RND                                                                                        \
	do {                                                                                       \
		v0 += v1, v1 = R(v1, 13), v1 ^= v0, v0 = R(v0, 32);                                \
		v2 += v3, v3 = R(v3, 16), v3 ^= v2;                                                \
		v0 += v3, v3 = R(v3, 21), v3 ^= v0;                                                \
		v2 += v1, v1 = R(v1, 17), v1 ^= v2, v2 = R(v2, 32);                                \
	} while (0)
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
	size_t nb = len / 8;

	for (size_t b = 0; b <= nb; b++) {
		uint64_t m = b == nb ? (uint64_t)len << 56 : 0;

		for (size_t j = 0; j < (b == nb ? len % 8 : 8); j++)
			m |= (uint64_t)in[8 * b + j] << (8 * j);
		v3 ^= m;
		RND;
		v0 ^= m;
	}
	v2 ^= 0xff;
	RND;
	RND;
	RND;
	return v0 ^ v1 ^ v2 ^ v3;
#undef RND
#undef R
}

/* test_key_hash - the flow table's hash is SipHash-1-3 of the packed
 * 4-tuple (addresses, then ports in host order) under the table key, for
 * IPv4 (two words straight from the key) and IPv6 alike */
static void
test_key_hash(void)
{
	struct peer *p = start(TCP_COOKIES_NEVER, 100, 64);
	size_t good4 = 0, good6 = 0;

	tap_seed(0x6a5);
	for (int i = 0; i < 1000; i++) {
		struct tcp_key k;
		uint8_t in[36];
		uint64_t r = tap_rnd();
		int v6 = i & 1;
		size_t alen = v6 ? 16 : 4;

		memset(&k, 0, sizeof(k));
		for (size_t j = 0; j < alen; j++) {
			k.laddr.b[j] = (uint8_t)tap_rnd();
			k.raddr.b[j] = (uint8_t)tap_rnd();
		}
		k.lport = (uint16_t)r;
		k.rport = (uint16_t)(r >> 16);
		memcpy(in, k.laddr.b, alen);
		memcpy(in + alen, k.raddr.b, alen);
		memcpy(in + 2 * alen, &k.lport, 2);
		memcpy(in + 2 * alen + 2, &k.rport, 2);
		if ((uint32_t)ref_sip13(p->lc->tabkey, in, 2 * alen + 4) ==
		    tcp_key_hash(p->lc, v6 ? TCP_V6 : TCP_V4, &k))
			*(v6 ? &good6 : &good4) += 1;
	}
	is_int(good4, 500, "IPv4 flow hash: SipHash-1-3 of the packed 4-tuple");
	is_int(good6, 500, "IPv6 flow hash: SipHash-1-3 of the packed 4-tuple");
	p_stop(p);
}

int
main(void)
{
	test_key_hash();
	test_forced();
	test_mss_table();
	test_auto();
	test_off();
	test_pressure();
	return done_testing();
}
