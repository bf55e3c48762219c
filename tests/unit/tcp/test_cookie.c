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

/* le32 - four bytes as a little-endian word */
static uint32_t
le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* ref_flow_hash - the flow table's hash from its definition (tcp_cookie.c):
 * the 4-tuple as 32-bit words (little-endian here, as the gate's hosts
 * load them): remote address, ports (remote in the high half), local
 * address, family; NH = sum over pairs of (w[2i] + K[2i] mod 2^32) *
 * (w[2i+1] + K[2i+1] mod 2^32) mod 2^64; then the top 32 bits of NH times
 * the odd multiplier, mod 2^64 */
static uint32_t
ref_flow_hash(const struct tcp_lcore *lc, int v6, const struct tcp_key *k)
{
	uint32_t w[TCP_NH_WORDS];
	unsigned n = 0, alen = v6 ? 16 : 4;
	uint64_t h = 0;

	for (unsigned i = 0; i < alen; i += 4)
		w[n++] = le32(k->raddr.b + i);
	if (!v6)
		w[n++] = (uint32_t)k->rport << 16 | k->lport;
	for (unsigned i = 0; i < alen; i += 4)
		w[n++] = le32(k->laddr.b + i);
	if (v6)
		w[n++] = (uint32_t)k->rport << 16 | k->lport;
	w[n++] = v6 ? TCP_V6 : TCP_V4;
	for (unsigned i = 0; i < n; i += 2)
		h += (uint64_t)(uint32_t)(w[i] + lc->nhkey[i]) *
		     (uint32_t)(w[i + 1] + lc->nhkey[i + 1]);
	return (uint32_t)((h * lc->mskey) >> 32);
}

/* rnd_key - a random 4-tuple (IPv4: 4 address bytes, the rest zero) */
static void
rnd_key(struct tcp_key *k, int v6)
{
	uint64_t r = tap_rnd();

	memset(k, 0, sizeof(*k));
	for (size_t j = 0; j < (v6 ? 16u : 4u); j++) {
		k->laddr.b[j] = (uint8_t)tap_rnd();
		k->raddr.b[j] = (uint8_t)tap_rnd();
	}
	k->lport = (uint16_t)r;
	k->rport = (uint16_t)(r >> 16);
}

/* longest_chain - flows per bucket of a table of nb (a power of two)
 * buckets, as tcp_table.c picks them (the hash's top bits): the longest */
static unsigned
longest_chain(const uint32_t *hashes, unsigned n, unsigned nb)
{
	static unsigned count[4096];
	unsigned max = 0;

	memset(count, 0, sizeof(count));
	for (unsigned i = 0; i < n; i++) {
		unsigned b = (unsigned)(((uint64_t)hashes[i] * nb) >> 32);

		if (++count[b] > max)
			max = count[b];
	}
	return max;
}

/* test_key_hash - the flow table's hash is NH then multiply-shift of the
 * 4-tuple under the table's key, for IPv4 and IPv6; a segment hashes as
 * the key its flow keeps; the hash depends on the secret; and the ports
 * of one client (what a client picks freely) spread over the chains */
static void
test_key_hash(void)
{
	struct peer *p = start(TCP_COOKIES_NEVER, 100, 64), *q;
	struct tcp_conf c;
	size_t good4 = 0, good6 = 0, same_seg = 0, differ = 0;
	static uint32_t hashes[4096];
	struct tcp_key k;

	p_conf(&c);
	c.key[0] ^= 0x5a; /* another secret */
	q = p_start(&c);
	tap_seed(0x6a5);
	for (int i = 0; i < 1000; i++) {
		int v6 = i & 1;
		struct tcp_seg seg;

		rnd_key(&k, v6);
		if (ref_flow_hash(p->lc, v6, &k) == tcp_key_hash(p->lc, v6 ? TCP_V6 : TCP_V4, &k))
			*(v6 ? &good6 : &good4) += 1;
		memset(&seg, 0, sizeof(seg));
		seg.family = v6 ? TCP_V6 : TCP_V4;
		seg.dst = k.laddr;
		seg.src = k.raddr;
		seg.dport = k.lport;
		seg.sport = k.rport;
		if (tcp_seg_hash(p->lc, &seg) == tcp_key_hash(p->lc, seg.family, &k))
			same_seg++;
		if (tcp_key_hash(p->lc, seg.family, &k) != tcp_key_hash(q->lc, seg.family, &k))
			differ++;
	}
	is_int(good4, 500,
	       "IPv4 flow hash: NH and multiply-shift of the 4-tuple, by the definition");
	is_int(good6, 500,
	       "IPv6 flow hash: NH and multiply-shift of the 4-tuple, by the definition");
	is_int(same_seg, 1000, "a segment hashes as the key of its flow (local: its destination)");
	ok(differ >= 995, "another secret, other hashes (%zu of 1000 differ)", differ);
	ok((p->lc->mskey & 1) == 1, "the multiplier is odd");
	/* one client address, 4096 consecutive source ports, 4096 chains:
	 * random hashing's longest chain is about 7 */
	for (int v6 = 0; v6 < 2; v6++) {
		unsigned worst;

		rnd_key(&k, v6);
		for (unsigned i = 0; i < 4096; i++) {
			k.rport = (uint16_t)(1024 + i);
			hashes[i] = tcp_key_hash(p->lc, v6 ? TCP_V6 : TCP_V4, &k);
		}
		worst = longest_chain(hashes, 4096, 4096);
		ok(worst <= 12,
		   "%s: one client's 4096 ports spread, longest chain %u of 4096 chains",
		   v6 ? "IPv6" : "IPv4", worst);
	}
	p_stop(q);
	p_stop(p);
}

/* test_isn - RFC 6528's F() is SipHash-2-4 under the secret: for IPv4
 * of the 15 bytes local address, remote address, local port, remote port
 * (host order, as the gate's little-endian hosts store them) and "isn"
 * (isn4()'s two words in a line); for IPv6 of the packed tuple and two
 * words, as before. The clock part is the same for both. */
static void
test_isn(void)
{
	struct peer *p = start(TCP_COOKIES_NEVER, 100, 64);
	size_t good4 = 0, good6 = 0, spread = 0;
	uint32_t prev = 0;
	struct tcp_key k;

	tap_seed(0x15a);
	p->lc->now = 123456789;
	for (int i = 0; i < 1000; i++) {
		int v6 = i & 1;
		uint8_t in[44];
		size_t n;
		uint32_t clock = (uint32_t)(p->lc->now * 250), isn, want;

		rnd_key(&k, v6);
		if (!v6) {
			memcpy(in, k.laddr.b, 4);
			memcpy(in + 4, k.raddr.b, 4);
			memcpy(in + 8, &k.lport, 2);
			memcpy(in + 10, &k.rport, 2);
			memcpy(in + 12, "isn", 3);
			n = 15;
		} else {
			uint32_t tag = 0x69736e00, zero = 0;

			memcpy(in, k.laddr.b, 16);
			memcpy(in + 16, k.raddr.b, 16);
			memcpy(in + 32, &k.lport, 2);
			memcpy(in + 34, &k.rport, 2);
			memcpy(in + 36, &tag, 4);
			memcpy(in + 40, &zero, 4);
			n = 44;
		}
		want = (uint32_t)tcp_siphash(p->lc->sipkey, in, n) + clock;
		isn = tcp_isn(p->lc, v6 ? TCP_V6 : TCP_V4, &k);
		if (isn == want)
			*(v6 ? &good6 : &good4) += 1;
		spread += isn != prev;
		prev = isn;
	}
	is_int(good4, 500,
	       "IPv4 ISN: SipHash-2-4 of the 12-byte tuple and \"isn\", plus the clock");
	is_int(good6, 500,
	       "IPv6 ISN: SipHash-2-4 of the packed tuple and two words, plus the clock");
	is_int(spread, 1000, "ISNs of random tuples differ from one to the next");
	p_stop(p);
}

int
main(void)
{
	test_key_hash();
	test_isn();
	test_forced();
	test_mss_table();
	test_auto();
	test_off();
	test_pressure();
	return done_testing();
}
