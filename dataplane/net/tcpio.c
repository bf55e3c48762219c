/* tcpio - TCP segments between the IP layer and the TCP stack
 *
 * Input: check the TCP checksum over the pseudo-header (the stack trusts
 * what it is given), then IPv4: the header and payload as they lie to
 * tcp_input4_wire(), which takes a predicted segment straight from them
 * and parses the rest; IPv6: parse header and options, add the addresses
 * and hand the segment to tcp_input(). The mbuf is kept or freed after the
 * stack returns (it copies what it keeps). Output: the stack's emit
 * callback; the segment is built into a fresh mbuf behind an IP header and
 * routed like any other packet of ours (IPv4: behind a prebuilt header
 * while the peer's route and neighbour hold).
 *
 * With several lcores, a segment of a flow another lcore owns goes to that
 * lcore first (lc_handoff), before any work is spent on it here.
 *
 * Every received frame enters at tcpio_rx(): the common one (an IPv4 TCP
 * segment to us, nearly all of a session's) is checked and delivered
 * there in one function from its Ethernet header; any other frame goes
 * through eth_input(), ip4_input() and tcpio_input4() as it always did.
 * tests/unit/net/test_rx.c feeds both the same frames and compares.
 */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include "../lcore.h"
#include "eth.h"
#include "ip4.h"
#include "ip6.h"
#include "tcp.h"
#include "tcpio.h"

/* seg_in - an IPv6 segment: checksum (the device's verdict where it gives one), parse,
 * deliver */
static void
seg_in(struct lcore_conf *lc, unsigned port, const struct rte_mbuf *m, struct tcp_seg *seg,
       const void *tcp, size_t len)
{
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	bool ok;

	if (gate_ports.rx_csum[port] && l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		ok = true;
	else if (gate_ports.rx_csum[port] && l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		ok = false;
	else
		ok = tcp_wire_csum_ok(seg->family, &seg->src, &seg->dst, tcp, len);
	if (!ok) {
		tcp_lcore_stats(lc->tcp)->drop_csum++;
		return;
	}
	if (tcp_wire_parse(tcp, len, seg) < 0) {
		tcp_lcore_stats(lc->tcp)->drop_hdr++;
		return;
	}
	tcp_input(lc->tcp, seg, lc->now);
}

/* elsewhere - true when another lcore owns the segment's flow (m is then handed to it) */
static bool
elsewhere(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, const struct tcp_ip *src,
          const uint8_t *tcp, size_t len)
{
	unsigned owner;

	if (gate_workers.n <= 1 || len < 4)
		return false;
	owner = lc_flow_owner(src, (uint16_t)(tcp[0] << 8 | tcp[1]),
	                      (uint16_t)(tcp[2] << 8 | tcp[3]));
	if (owner == lc->queue)
		return false;
	lc_handoff(lc, owner, port, m);
	return true;
}

/* csum4_ok - an IPv4 segment's TCP checksum: the device's verdict where
 * it gives one, else summed here from addrs, the native sum of the
 * addresses as the IPv4 header holds them */
static inline bool
csum4_ok(unsigned port, const struct rte_mbuf *m, const uint8_t *tcp, size_t len, uint64_t addrs)
{
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	if (gate_ports.rx_csum[port] && l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		return true;
	if (gate_ports.rx_csum[port] && l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		return false;
	return tcp_csum_fold64(tcp_csum_sum64(tcp_csum_pseudo4(addrs, (uint32_t)len), tcp, len)) ==
	       0;
}

/* seg4_in - a TCP segment of tlen bytes behind a checked IPv4 header
 * (addrs: the native sum of its two addresses): to its owner lcore, or
 * its checksum (csum4_ok()) and then the segment as it lies in the mbuf
 * to the stack (tcp_input4_wire(): the predicted segment in one pass, no
 * struct tcp_seg built here); consumes m. Inline in both callers:
 * tcpio_rx() is then one function for the whole way in */
static inline __attribute__((always_inline)) void
seg4_in(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, const struct rte_ipv4_hdr *ih,
        const uint8_t *tcp, size_t tlen, uint64_t addrs)
{
	if (gate_workers.n > 1) {
		struct tcp_ip src = tcp_ip_v4(ih->src_addr);

		if (elsewhere(lc, port, m, &src, tcp, tlen))
			return;
	}
	if (!csum4_ok(port, m, tcp, tlen, addrs))
		tcp_lcore_stats(lc->tcp)->drop_csum++;
	else if (tcp_input4_wire(lc->tcp, tcp, tlen, ih->src_addr, ih->dst_addr, lc->now) < 0)
		tcp_lcore_stats(lc->tcp)->drop_hdr++;
	lc_mbuf_done(lc, m); /* nothing refers to it now: the next segment out may take it */
}

void
tcpio_input4(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m,
             const struct rte_ipv4_hdr *ih, unsigned hlen, unsigned len)
{
	seg4_in(lc, port, m, ih, (const uint8_t *)ih + hlen, len - hlen,
	        (uint64_t)ih->src_addr + ih->dst_addr);
}

/* ip4_sum_ok - a 20-byte IPv4 header's checksum (RFC 1071 2(B): its
 * native sum folds to zero) from its first three words and addrs, the
 * native sum of its addresses (the TCP pseudo-header's too, so both
 * checksums share it): the device's verdict where it gives one, else
 * summed here; false also when the device found it bad */
static inline bool
ip4_sum_ok(unsigned port, const struct rte_mbuf *m, const struct rte_ipv4_hdr *ih, uint64_t addrs)
{
	uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint32_t w0, w1, w2; /* scalars: an array would go through the stack */

	if (gate_ports.rx_csum[port] && ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		return true;
	if (gate_ports.rx_csum[port] && ip == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		return false;
	memcpy(&w0, ih, 4);
	memcpy(&w1, (const uint8_t *)ih + 4, 4);
	memcpy(&w2, (const uint8_t *)ih + 8, 4);
	return tcp_csum_fold64((uint64_t)w0 + w1 + w2 + addrs) == 0;
}

/* frame4_ours - whether m is the common frame: one segment, untagged
 * IPv4 to this port's MAC, a 20-byte header, TCP, not a fragment, the
 * IP length within the frame (returned in *len) */
static inline bool
frame4_ours(unsigned port, const struct rte_mbuf *m, const struct rte_ether_hdr *eh,
            const struct rte_ipv4_hdr *ih, unsigned *len)
{
	if (m->data_len < RTE_ETHER_HDR_LEN + sizeof(*ih) || m->nb_segs != 1 ||
	    !rte_is_same_ether_addr(&eh->dst_addr, &gate_ports.mac[port]) ||
	    eh->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    ih->version_ihl != RTE_IPV4_VHL_DEF || ih->next_proto_id != IPPROTO_TCP ||
	    (ih->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0)
		return false;
	*len = rte_be_to_cpu_16(ih->total_length);
	return *len >= sizeof(*ih) && *len <= (unsigned)m->data_len - RTE_ETHER_HDR_LEN;
}

/* tcpio_rx - the common frame, an IPv4 TCP segment to us (frame4_ours(),
 * its IPv4 checksum good, to one of the port's addresses), goes from its
 * Ethernet header straight to seg4_in(), its header read once; anything
 * else, or anything the checks here refuse, to eth_input(), which looks
 * at it afresh and counts what it drops (nothing is changed before that).
 * Ethernet padding is left on (ip4_input() trims it): the segment's length
 * is the IP length's, and the mbuf is only reused or freed afterwards, or
 * handed to the owner lcore, which reads the same frame again here */
void
tcpio_rx(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now)
{
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ih = (const struct rte_ipv4_hdr *)(eh + 1);
	uint64_t addrs;
	unsigned len;

	if (!frame4_ours(port, m, eh, ih, &len))
		goto general;
	addrs = (uint64_t)ih->src_addr + ih->dst_addr;
	if (!ip4_sum_ok(port, m, ih, addrs) || !ip4_is_local_be(lc->gc, port, ih->dst_addr))
		goto general;
	seg4_in(lc, port, m, ih, (const uint8_t *)(ih + 1), len - sizeof(*ih), addrs);
	return;
general:
	eth_input(lc, port, m, now);
}

void
tcpio_input6(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m,
             const struct rte_ipv6_hdr *ih, unsigned len)
{
	struct tcp_seg seg = {.family = TCP_V6};

	memcpy(seg.src.b, ih->src_addr, 16);
	if (elsewhere(lc, port, m, &seg.src, (const uint8_t *)(ih + 1), len))
		return;
	memcpy(seg.dst.b, ih->dst_addr, 16);
	seg_in(lc, port, m, &seg, ih + 1, len);
	lc_mbuf_done(lc, m);
}

/* The constant part of every IPv4 header we send: copied, then the
 * length and addresses patched in. */
static const struct rte_ipv4_hdr ip4_template = {
        .version_ihl = RTE_IPV4_VHL_DEF,
        .fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG),
        .time_to_live = 64,
        .next_proto_id = IPPROTO_TCP,
};

/* ip4_template_sum - the native sum of the template's constant words
 * (version, TOS, DF, TTL, protocol; its id and checksum are zero): a
 * header's checksum is this, its length and its two addresses. Loads from
 * a const object with an initializer: the compiler folds them to a constant */
static inline uint64_t
ip4_template_sum(void)
{
	uint32_t w[5];

	memcpy(w, &ip4_template, sizeof(w));
	return (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
}

/* tx_offload - the device sums header and payload; it wants the
 * pseudo-header's sum in the checksum field and the lengths */
static void
tx_offload(struct rte_mbuf *m, char *tcp, size_t iplen, const struct tcp_out *o, size_t tlen)
{
	uint32_t ps = tcp_wire_csum_pseudo(o->family, &o->src, &o->dst, (uint32_t)tlen);
	uint16_t ph = rte_cpu_to_be_16((uint16_t)~tcp_csum_fold(ps));

	memcpy(tcp + 16, &ph, 2);
	m->l2_len = RTE_ETHER_HDR_LEN;
	m->l3_len = (uint16_t)iplen;
	m->ol_flags |= (o->family == TCP_V4 ? RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM
	                                    : RTE_MBUF_F_TX_IPV6) |
	               RTE_MBUF_F_TX_TCP_CKSUM;
}

/* sums4 - an IPv4 segment's checksums, its total_length set: left to the
 * device, or the TCP sum over the contiguous segment from the addresses'
 * sum and the IPv4 header's from hdr_sum (the template's and the
 * addresses' sums, fixed per peer) */
static inline void
sums4(struct rte_mbuf *m, struct rte_ipv4_hdr *ih, char *tcp, size_t tlen, const struct tcp_out *o,
      uint64_t addrs, uint64_t hdr_sum)
{
	uint16_t c;

	if (gate_ports.tx_csum) {
		tx_offload(m, tcp, sizeof(*ih), o, tlen);
		return;
	}
	c = tcp_csum_fold64(tcp_csum_sum64(tcp_csum_pseudo4(addrs, (uint32_t)tlen), tcp, tlen));
	memcpy(tcp + 16, &c, 2);
	ih->hdr_checksum = tcp_csum_fold64(hdr_sum + ih->total_length);
}

/* finish4 - the IPv4 header from its template and both checksums, then
 * out. The addresses' sum serves the TCP pseudo-header and the IPv4
 * header alike; header and payload are contiguous, so the TCP sum is one
 * pass (its checksum field is still 0) */
static void
finish4(struct lcore_conf *lc, struct rte_mbuf *m, struct rte_ipv4_hdr *ih, char *tcp, size_t tlen,
        const struct tcp_out *o)
{
	uint64_t addrs = tcp_csum_addrs4(&o->src, &o->dst);

	*ih = ip4_template;
	ih->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ih) + tlen));
	memcpy(&ih->src_addr, o->src.b, 4);
	memcpy(&ih->dst_addr, o->dst.b, 4);
	sums4(m, ih, tcp, tlen, o, addrs, ip4_template_sum() + addrs);
	ip4_output(lc, m, lc->now);
}

/* finish6 - the IPv6 header and the TCP checksum, then out */
static void
finish6(struct lcore_conf *lc, struct rte_mbuf *m, struct rte_ipv6_hdr *ih, char *tcp, size_t tlen,
        const struct tcp_out *o)
{
	ih->vtc_flow = rte_cpu_to_be_32(6u << 28);
	ih->payload_len = rte_cpu_to_be_16((uint16_t)tlen);
	ih->proto = IPPROTO_TCP;
	ih->hop_limits = 64;
	memcpy(ih->src_addr, o->src.b, 16);
	memcpy(ih->dst_addr, o->dst.b, 16);
	if (gate_ports.tx_csum) {
		tx_offload(m, tcp, sizeof(*ih), o, tlen);
	} else {
		uint32_t ps = tcp_wire_csum_pseudo(o->family, &o->src, &o->dst, (uint32_t)tlen);
		uint16_t c = rte_cpu_to_be_16(tcp_csum_fold(tcp_csum_add(ps, tcp, tlen)));

		memcpy(tcp + 16, &c, 2);
	}
	ip6_output(lc, m, lc->now);
}

/* tmpl4_usable - the lcore's prebuilt frame header is o's: built for its
 * addresses, and the neighbour cache unchanged since and the entry it
 * copied unexpired (routes do not change), so it is still what
 * ip4_output() would send */
static inline bool
tmpl4_usable(const struct lcore_conf *lc, const struct tcp_out *o)
{
	const struct lc_nexthop4 *c = &lc->nh4;
	uint32_t src, dst;

	memcpy(&src, o->src.b, 4);
	memcpy(&dst, o->dst.b, 4);
	return c->hdr_dst == dst && c->hdr_src == src && dst != 0 && c->hdr_gen == lc->nbr.gen &&
	       lc->now < c->hdr_expires;
}

/* tmpl4_build - after ip4_output() routed a segment of o's and found its
 * neighbour: the frame header for the next ones, the neighbour's MAC in it
 * (see struct lc_nexthop4) */
static void
tmpl4_build(struct lcore_conf *lc, const struct tcp_out *o)
{
	struct lc_nexthop4 *c = &lc->nh4;
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)c->hdr;
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(eh + 1);
	uint32_t dst;

	memcpy(&dst, o->dst.b, 4);
	c->hdr_dst = 0;
	if (dst == 0 || c->dst != rte_be_to_cpu_32(dst) || !lc_nexthop4_fresh(c, lc->now))
		return;
	eh->dst_addr = c->entry->mac;
	eh->src_addr = gate_ports.mac[c->port];
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	*ih = ip4_template;
	memcpy(&ih->src_addr, o->src.b, 4);
	memcpy(&ih->dst_addr, o->dst.b, 4);
	memcpy(&c->hdr_src, o->src.b, 4);
	c->hdr_port = c->port;
	c->hdr_gen = lc->nbr.gen;
	c->hdr_expires = c->entry->expires;
	c->hdr_addrs = tcp_csum_addrs4(&o->src, &o->dst);
	c->hdr_sum = ip4_template_sum() + c->hdr_addrs;
	c->hdr_dst = dst;
}

/* send4_tmpl - a segment's frame from the prebuilt header: the IPv4
 * length and both checksums are all that is written; then straight to
 * the port (what ip4_output() would do, with nothing to look up) */
static void
send4_tmpl(struct lcore_conf *lc, struct rte_mbuf *m, char *p, char *tcp, size_t tlen,
           const struct tcp_out *o)
{
	const struct lc_nexthop4 *c = &lc->nh4;
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(p + RTE_ETHER_HDR_LEN);

	memcpy(p, c->hdr, sizeof(c->hdr));
	ih->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ih) + tlen));
	sums4(m, ih, tcp, tlen, o, c->hdr_addrs, c->hdr_sum);
	lc_send(lc, c->hdr_port, m);
}

/* mbuf_alloc - a new mbuf from the lcore's pool, out of line: the
 * mempool's get takes the address of a local, which inline would put the
 * stack protector's guard on every call of tcpio_emit() */
static __attribute__((noinline)) struct rte_mbuf *
mbuf_alloc(struct lcore_conf *lc)
{
	return rte_pktmbuf_alloc(lc->pool);
}

/* mbuf_out - lc_mbuf_alloc() with its pool's get out of line: the
 * lcore's spare (nearly always: the segment in that drew this one out
 * left it), else mbuf_alloc() */
static inline struct rte_mbuf *
mbuf_out(struct lcore_conf *lc)
{
	struct rte_mbuf *m = lc->spare;

	if (m == NULL)
		return mbuf_alloc(lc);
	lc->spare = NULL;
	return m;
}

/* tcpio_emit - the segment into a fresh mbuf: Ethernet room, IP header
 * from its template, TCP header and payload; the TCP checksum summed
 * once over the contiguous segment (or left to the device, from the
 * pseudo-header sum). IPv4: while the peer and its next hop stay the
 * same, Ethernet and IPv4 come from a prebuilt header (send4_tmpl()). */
int
tcpio_emit(void *arg, const struct tcp_out *o)
{
	struct lcore_conf *lc = arg;
	size_t hlen = tcp_wire_hdr_len(o), plen = tcp_wire_payload_len(o);
	size_t iplen =
	        o->family == TCP_V4 ? sizeof(struct rte_ipv4_hdr) : sizeof(struct rte_ipv6_hdr);
	struct rte_mbuf *m = mbuf_out(lc);
	char *p, *tcp;

	if (m == NULL) {
		lc->stats.drop_nomem++;
		return -1;
	}
	/* a fresh mbuf: one segment, empty, so the packet's length is set
	 * rather than appended (rte_pktmbuf_append() walks to the last segment) */
	if (RTE_ETHER_HDR_LEN + iplen + hlen + plen > rte_pktmbuf_tailroom(m)) {
		rte_pktmbuf_free(m);
		lc->stats.drop_nomem++;
		return -1;
	}
	p = rte_pktmbuf_mtod(m, char *);
	m->data_len = (uint16_t)(RTE_ETHER_HDR_LEN + iplen + hlen + plen);
	m->pkt_len = m->data_len;
	tcp = p + RTE_ETHER_HDR_LEN + iplen;
	if (o->opt.has == TCP_O_TS) /* nearly every segment: 32 bytes, inline */
		tcp_wire_write_ts(tcp, o);
	else
		tcp_wire_write(tcp, hlen, o);
	if (o->len[0] > 0)
		memcpy(tcp + hlen, o->data[0], o->len[0]);
	if (o->len[1] > 0)
		memcpy(tcp + hlen + o->len[0], o->data[1], o->len[1]);
	if (o->family == TCP_V4 && tmpl4_usable(lc, o)) {
		send4_tmpl(lc, m, p, tcp, hlen + plen, o);
	} else if (o->family == TCP_V4) {
		finish4(lc, m, (struct rte_ipv4_hdr *)(p + RTE_ETHER_HDR_LEN), tcp, hlen + plen, o);
		tmpl4_build(lc, o); /* the route and neighbour ip4_output() found */
	} else
		finish6(lc, m, (struct rte_ipv6_hdr *)(p + RTE_ETHER_HDR_LEN), tcp, hlen + plen, o);
	return 0;
}
