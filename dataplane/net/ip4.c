/* ip4 - IPv4 input, routing and output, and ICMP echo
 *
 * Input is untrusted: the header is checked (version, lengths, checksum)
 * before any field is used; fragments are dropped and counted (an SMTP
 * gate's TCP segments are never fragmented by a sane peer, and reassembly
 * is state an attacker could fill); options are dropped too.
 */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include "../lcore.h"
#include "ip4.h"
#include "tcp_wire.h"
#include "tcpio.h"

static uint32_t
mask_of(unsigned len)
{
	return len == 0 ? 0 : len >= 32 ? ~0u : ~0u << (32 - len);
}

static uint32_t
v4(const struct cidr *c)
{
	return (uint32_t)c->addr[0] << 24 | (uint32_t)c->addr[1] << 16 | (uint32_t)c->addr[2] << 8 |
	       c->addr[3];
}

bool
ip4_is_local(const struct gconf *gc, unsigned port, uint32_t ip)
{
	return ip4_is_local_be(gc, port, rte_cpu_to_be_32(ip));
}

int
ip4_source_for(const struct gconf *gc, unsigned port, uint32_t dst, uint32_t *src)
{
	const struct gconf_port *p = &gc->ports[port];
	int first = -1;

	for (unsigned i = 0; i < p->naddr; i++) {
		uint32_t m;

		if (p->addr[i].family != 4)
			continue;
		m = mask_of(p->addr[i].len);
		if ((v4(&p->addr[i]) & m) == (dst & m)) {
			*src = v4(&p->addr[i]);
			return 0;
		}
		if (first < 0)
			first = (int)i;
	}
	if (first < 0)
		return -1;
	*src = v4(&p->addr[first]);
	return 0;
}

int
ip4_route(const struct gconf *gc, uint32_t dst, unsigned *port, uint32_t *nexthop)
{
	int best = -1;

	for (unsigned pi = 0; pi < gc->nports; pi++) {
		const struct gconf_port *p = &gc->ports[pi];

		for (unsigned i = 0; i < p->naddr; i++) {
			uint32_t m;

			if (p->addr[i].family != 4)
				continue;
			m = mask_of(p->addr[i].len);
			if ((v4(&p->addr[i]) & m) == (dst & m) && (int)p->addr[i].len > best) {
				best = p->addr[i].len;
				*port = pi;
				*nexthop = dst;
			}
		}
	}
	if (best >= 0)
		return 0;
	for (unsigned i = 0; i < gc->nroutes; i++) {
		const struct gconf_route *r = &gc->routes[i];
		uint32_t m;

		if (r->prefix.family != 4)
			continue;
		m = mask_of(r->prefix.len);
		if ((v4(&r->prefix) & m) == (dst & m) && (int)r->prefix.len > best) {
			best = r->prefix.len;
			*port = r->port;
			*nexthop = r->via.family == 4 ? v4(&r->via) : dst;
		}
	}
	return best >= 0 ? 0 : -1;
}

/* hdr_sum_ok - the header's native sum folds to zero (RFC 1071 2(B)); the
 * usual 20 bytes as five words, inline */
static inline bool
hdr_sum_ok(const void *hdr, unsigned hlen)
{
	const uint8_t *p = hdr;
	uint32_t w0, w1, w2, w3, w4; /* scalars: an array would go through the stack */

	if (hlen != sizeof(struct rte_ipv4_hdr))
		return tcp_csum_fold64(tcp_csum_sum64(0, hdr, hlen)) == 0;
	memcpy(&w0, p, 4);
	memcpy(&w1, p + 4, 4);
	memcpy(&w2, p + 8, 4);
	memcpy(&w3, p + 12, 4);
	memcpy(&w4, p + 16, 4);
	return tcp_csum_fold64((uint64_t)w0 + w1 + w2 + w3 + w4) == 0;
}

/* csum_good - the IPv4 header checksum: as the device found it when it
 * checks (good or bad), else computed here */
static bool
csum_good(unsigned port, const struct rte_mbuf *m, uint64_t mask, uint64_t good, uint64_t bad,
          const void *hdr, unsigned hlen)
{
	if (gate_ports.rx_csum[port]) {
		if ((m->ol_flags & mask) == good)
			return true;
		if ((m->ol_flags & mask) == bad)
			return false;
	}
	return hdr_sum_ok(hdr, hlen);
}

/* cached_mac - the next hop's MAC from the entry ip4_output() used last,
 * if that entry is still the next hop's, resolved and fresh */
static inline bool
cached_mac(const struct lc_nexthop4 *c, uint64_t now, struct rte_ether_addr *mac)
{
	if (!lc_nexthop4_fresh(c, now))
		return false;
	*mac = c->entry->mac;
	return true;
}

void
ip4_output(struct lcore_conf *lc, struct rte_mbuf *m, uint64_t now)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(eh + 1);
	struct lc_nexthop4 *c = &lc->nh4;
	uint32_t dst = rte_be_to_cpu_32(ih->dst_addr);

	if (c->dst != dst || dst == 0) {
		unsigned port;
		uint32_t nh;

		if (ip4_route(lc->gc, dst, &port, &nh) < 0) {
			lc->stats.drop_noroute++;
			rte_pktmbuf_free(m);
			return;
		}
		c->dst = dst;
		c->port = port;
		c->entry = c->nh == rte_cpu_to_be_32(nh) ? c->entry : NULL;
		c->nh = rte_cpu_to_be_32(nh);
	}
	if (!cached_mac(c, now, &eh->dst_addr)) {
		if (arp_resolve(lc, c->port, rte_be_to_cpu_32(c->nh), &eh->dst_addr, now) < 0) {
			/* the first packet to a new neighbour waits for no one: TCP retransmits */
			lc->stats.drop_noroute++;
			rte_pktmbuf_free(m);
			return;
		}
		c->entry = nbr_find(&lc->nbr, 4, (const uint8_t *)&c->nh);
	}
	eh->src_addr = gate_ports.mac[c->port];
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	lc_send(lc, c->port, m);
}

/* icmp4_input - answer echo requests; everything else is dropped */
static void
icmp4_input(struct lcore_conf *lc, struct rte_mbuf *m, struct rte_ipv4_hdr *ih, unsigned hlen,
            unsigned len, uint64_t now)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((char *)ih + hlen);
	unsigned ilen = len - hlen;
	uint32_t tmp;

	if (ilen < sizeof(*icmp) || rte_raw_cksum(icmp, ilen) != 0xffff) {
		lc->stats.drop_csum++;
		rte_pktmbuf_free(m);
		return;
	}
	if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) {
		lc->stats.drop_proto++;
		rte_pktmbuf_free(m);
		return;
	}
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, ilen);
	tmp = ih->src_addr;
	ih->src_addr = ih->dst_addr;
	ih->dst_addr = tmp;
	ih->time_to_live = 64;
	ih->fragment_offset = 0;
	ih->hdr_checksum = 0;
	ih->hdr_checksum = rte_ipv4_cksum(ih);
	lc->stats.icmp_echo++;
	ip4_output(lc, m, now);
}

void
ip4_input(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now)
{
	struct rte_ipv4_hdr *ih;
	unsigned hlen, len, avail = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN;

	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*ih) || m->nb_segs != 1) {
		lc->stats.drop_short++;
		goto drop;
	}
	ih = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, RTE_ETHER_HDR_LEN);
	hlen = rte_ipv4_hdr_len(ih);
	len = rte_be_to_cpu_16(ih->total_length);
	/* version 4 and a 20-byte header (nearly every packet: one test), else each check */
	if (ih->version_ihl != RTE_IPV4_VHL_DEF &&
	    ((ih->version_ihl >> 4) != 4 || hlen < sizeof(*ih))) {
		lc->stats.drop_short++;
		goto drop;
	}
	if (len < hlen || len > avail) {
		lc->stats.drop_short++;
		goto drop;
	}
	if (!csum_good(port, m, RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
	               RTE_MBUF_F_RX_IP_CKSUM_BAD, ih, hlen)) {
		lc->stats.drop_csum++;
		goto drop;
	}
	if ((ih->fragment_offset &
	     rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
		lc->stats.drop_frag++;
		goto drop;
	}
	if (hlen != sizeof(*ih) || !ip4_is_local_be(lc->gc, port, ih->dst_addr)) {
		lc->stats.drop_ip++;
		goto drop;
	}
	/* trim Ethernet padding so that later layers see the IP length */
	if (len != avail)
		rte_pktmbuf_trim(m, (uint16_t)(avail - len));
	switch (ih->next_proto_id) {
	case IPPROTO_ICMP:
		icmp4_input(lc, m, ih, hlen, len, now);
		return;
	case IPPROTO_TCP:
		tcpio_input4(lc, port, m, ih, hlen, len);
		return;
	default:
		lc->stats.drop_proto++;
		goto drop;
	}
drop:
	rte_pktmbuf_free(m);
}
