/* sgb_flood - a SYN flood from spoofed sources, in the generator's own loop
 *
 * With --syn-flood RATE the generator also sends TCP SYNs to the gate's
 * SMTP port from random addresses of --flood-sources and random ports, at
 * RATE per second (0: as many as the port takes), while the sessions of
 * --mix run as usual: the gate must keep serving them.
 *
 * Each SYN is a copy of one template frame (Ethernet, IPv4, and TCP with
 * the options of a Linux SYN: MSS, SACK permitted, timestamps, window
 * scale) into an mbuf of the flood's own pool; the source address, port,
 * ISN and IP id are patched in and both checksums updated from the
 * template's (RFC 1624), so the per-packet cost is an mbuf, a 74-byte copy
 * and a few adds. The SYNs due go to the port in one burst per loop, after
 * the sessions' packets (flushed first): the flood never holds back a real
 * session's segment here. What the port does not take (its ring is full:
 * counted in tx_full, once per burst) waits for the next loop, within one
 * burst: no new SYNs are made meanwhile, so a saturated link costs no
 * allocations and copies thrown away.
 *
 * The gate's answers to spoofed sources (SYN-ACKs, with a cookie or not,
 * RSTs, anything else) are counted and dropped before the TCP stack sees
 * them; with --flood-rst each SYN-ACK is answered by a RST, as a real host
 * that never sent the SYN would.
 *
 * Untrusted input: the gate's segments to spoofed sources (length checked
 * before any field is read).
 */
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>

#include "sgb.h"

/* Offsets in a frame: Ethernet, IPv4 without options, TCP. */
enum {
	OFF_IP = RTE_ETHER_HDR_LEN,
	OFF_IP_ID = OFF_IP + 4,
	OFF_IP_CSUM = OFF_IP + 10,
	OFF_IP_SRC = OFF_IP + 12,
	OFF_TCP = OFF_IP + 20,
	OFF_TCP_SPORT = OFF_TCP,
	OFF_TCP_SEQ = OFF_TCP + 4,
	OFF_TCP_CSUM = OFF_TCP + 16,
};

/* A Linux SYN's options: MSS 1460, SACK permitted, timestamps, NOP, WS 7. */
static const uint8_t syn_opts[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                     0, 1, 0,    0,    0, 0, 1, 3,  3, 7};

/* rng - xorshift64*: cheap, and good enough to scatter addresses and ports */
static uint64_t
rng(struct sgb_flood *fl)
{
	uint64_t x = fl->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	fl->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* sum16 - the 16-bit words of n bytes (n even) as they lie in memory */
static uint32_t
sum16(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i < n; i += 2) {
		uint16_t w;

		memcpy(&w, b + i, 2);
		s += w;
	}
	return s;
}

/* csum_add - RFC 1624 eqn. 3 for fields that were zero: the checksum at
 * off updated by add (a sum of the new fields' words) */
static void
csum_add(uint8_t *frame, unsigned off, uint32_t add)
{
	uint16_t c;
	uint32_t s;

	memcpy(&c, frame + off, 2);
	s = (uint16_t)~c + add;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	c = (uint16_t)~s;
	memcpy(frame + off, &c, 2);
}

/* frame_patch - a template copy gets its source, port, seq and IP id (all
 * network order), and checksums to match */
static void
frame_patch(uint8_t *f, uint32_t src, uint16_t sport, uint32_t seq, uint16_t id)
{
	uint32_t a = sum16(&src, 4);

	memcpy(f + OFF_IP_SRC, &src, 4);
	memcpy(f + OFF_IP_ID, &id, 2);
	memcpy(f + OFF_TCP_SPORT, &sport, 2);
	memcpy(f + OFF_TCP_SEQ, &seq, 4);
	csum_add(f, OFF_IP_CSUM, a + id);
	csum_add(f, OFF_TCP_CSUM, a + sport + sum16(&seq, 4));
}

/* frame_build - a template: to the gate's SMTP port with the given flags
 * and options; source address, port and seq zero, checksums computed */
static void
frame_build(struct sgb *g, struct sgb_frame *t, uint8_t flags, const uint8_t *opts, unsigned optlen)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)t->b;
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(t->b + OFF_IP);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(t->b + OFF_TCP);

	memset(t, 0, sizeof(*t));
	t->len = (uint16_t)(OFF_TCP + sizeof(*th) + optlen);
	eh->dst_addr = g->gate_mac;
	eh->src_addr = g->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ih->version_ihl = RTE_IPV4_VHL_DEF;
	ih->total_length = rte_cpu_to_be_16((uint16_t)(t->len - OFF_IP));
	ih->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ih->time_to_live = 64;
	ih->next_proto_id = IPPROTO_TCP;
	ih->dst_addr = rte_cpu_to_be_32(g->c.gate_ip);
	th->dst_port = rte_cpu_to_be_16(g->c.dport);
	th->data_off = (uint8_t)(((sizeof(*th) + optlen) / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(flags & RTE_TCP_SYN_FLAG ? 64240 : 0);
	if (optlen > 0)
		memcpy(th + 1, opts, optlen);
	ih->hdr_checksum = rte_ipv4_cksum(ih);
	th->cksum = rte_ipv4_udptcp_cksum(ih, th);
}

int
sgb_flood_init(struct sgb *g, uint64_t tsc)
{
	struct sgb_flood *fl = &g->flood;

	fl->pool = rte_pktmbuf_pool_create("sgb_flood", SGB_FLOOD_MBUFS, 256, 0,
	                                   RTE_PKTMBUF_HEADROOM + SGB_FLOOD_FRAME,
	                                   (int)rte_socket_id());
	if (fl->pool == NULL) {
		fprintf(stderr, "smtpgate-bench: cannot allocate the flood's %u mbufs: %s\n",
		        SGB_FLOOD_MBUFS, rte_strerror(rte_errno));
		return -1;
	}
	frame_build(g, &fl->syn, RTE_TCP_SYN_FLAG, syn_opts, sizeof(syn_opts));
	frame_build(g, &fl->rst, RTE_TCP_RST_FLAG, NULL, 0);
	fl->rng = (tsc | 1) * 0x9e3779b97f4a7c15ull;
	fl->t0 = tsc;
	return 0;
}

void
sgb_flood_fini(struct sgb *g)
{
	if (g->flood.nheld > 0)
		rte_pktmbuf_free_bulk(g->flood.held, g->flood.nheld);
	g->flood.nheld = 0;
}

bool
sgb_flood_mine(const struct sgb *g, uint32_t ip)
{
	return g->c.flood && ip - g->c.flood_src.base < g->c.flood_src.size;
}

/* due - new SYNs to make now: what the rate allows beyond those sent and
 * held, within one burst with the held ones */
static unsigned
due(const struct sgb *g, uint64_t tsc)
{
	uint64_t had = g->st.flood_syn + g->flood.nheld, want;
	unsigned room = SGB_FLOOD_BURST - g->flood.nheld;

	if (g->c.flood_rate == 0)
		return room;
	want = (uint64_t)((double)(tsc - g->flood.t0) / (double)g->tsc_hz *
	                  (double)g->c.flood_rate);
	if (want <= had)
		return 0;
	return want - had < room ? (unsigned)(want - had) : room;
}

/* syn_fill - one SYN from a random source of the range */
static void
syn_fill(struct sgb *g, struct rte_mbuf *m)
{
	struct sgb_flood *fl = &g->flood;
	uint8_t *f = (uint8_t *)rte_pktmbuf_append(m, fl->syn.len);
	uint64_t r = rng(fl), a = rng(fl);
	uint32_t src = rte_cpu_to_be_32(g->c.flood_src.base + (uint32_t)(a % g->c.flood_src.size));

	memcpy(f, fl->syn.b, fl->syn.len);
	frame_patch(f, src, rte_cpu_to_be_16((uint16_t)(1024 + (r >> 32) % (65536 - 1024))),
	            (uint32_t)r, (uint16_t)(a >> 48));
}

unsigned
sgb_flood_tick(struct sgb *g, uint64_t tsc)
{
	struct sgb_flood *fl = &g->flood;
	unsigned n = due(g, tsc);
	uint16_t sent;

	if (n > 0 && rte_pktmbuf_alloc_bulk(fl->pool, fl->held + fl->nheld, n) == 0) {
		for (unsigned i = 0; i < n; i++)
			syn_fill(g, fl->held[fl->nheld + i]);
		fl->nheld += n;
	} else if (n > 0) {
		g->st.flood_nomem += n;
	}
	if (fl->nheld == 0)
		return 0;
	sent = rte_eth_tx_burst(g->port_id, 0, fl->held, (uint16_t)fl->nheld);
	g->st.flood_syn += sent;
	g->st.tx_pkts += sent;
	if (sent < fl->nheld) { /* the ring is full: the rest waits for the next loop */
		g->st.flood_tx_full++;
		memmove(fl->held, fl->held + sent, (fl->nheld - sent) * sizeof(fl->held[0]));
	}
	fl->nheld -= sent;
	return sent;
}

/* rst_answer - a RST for a SYN-ACK to spoofed source src, port sport (both
 * network order), with the sequence number the SYN-ACK acknowledged */
static void
rst_answer(struct sgb *g, uint32_t src, uint16_t sport, uint32_t seq)
{
	struct rte_mbuf *m;
	uint8_t *f;

	if (g->ntx == SGB_TX_MAX) {
		g->st.tx_dropped++;
		return;
	}
	m = rte_pktmbuf_alloc(g->flood.pool);
	if (m == NULL) {
		g->st.flood_nomem++;
		return;
	}
	f = (uint8_t *)rte_pktmbuf_append(m, g->flood.rst.len);
	memcpy(f, g->flood.rst.b, g->flood.rst.len);
	frame_patch(f, src, sport, seq, (uint16_t)rng(&g->flood));
	g->tx[g->ntx++] = m;
	g->st.flood_rst_out++;
}

void
sgb_flood_input(struct sgb *g, const uint8_t *tcp, unsigned len, uint32_t src_be, uint32_t dst_be)
{
	uint8_t flags;

	(void)src_be;
	if (len < sizeof(struct rte_tcp_hdr)) {
		g->st.drop_ip++;
		return;
	}
	flags = tcp[13];
	if (flags & RTE_TCP_RST_FLAG) {
		g->st.flood_rst_in++;
	} else if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) ==
	           (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) {
		uint16_t port;
		uint32_t ack;

		g->st.flood_synack++;
		if (!g->c.flood_rst)
			return;
		memcpy(&port, tcp + 2, 2); /* their destination port: ours */
		memcpy(&ack, tcp + 8, 4);
		rst_answer(g, dst_be, port, ack);
	} else {
		g->st.flood_other_in++;
	}
}
