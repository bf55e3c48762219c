/* ip6 - IPv6 input and output, neighbour discovery and ICMPv6 echo
 *
 * Input is untrusted: lengths, the ICMPv6 checksum and (for neighbour
 * discovery) the hop limit of 255 and option lengths are checked before
 * use. Extension headers are dropped and counted, as fragments are for
 * IPv4: a TCP segment to an SMTP gate needs none. Neighbour discovery
 * answers solicitations for our addresses and learns link-layer addresses
 * into the same bounded per-lcore cache ARP uses.
 */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include "../lcore.h"
#include "ip6.h"
#include "tcpio.h"

#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY   129
#define ND_SOLICIT         135
#define ND_ADVERT          136
#define ND_OPT_SRC_LLADDR  1
#define ND_OPT_TGT_LLADDR  2
#define ND_NA_ROUTER       0x80
#define ND_NA_SOLICITED    0x40
#define ND_NA_OVERRIDE     0x20

struct icmp6_hdr {
	uint8_t type;
	uint8_t code;
	rte_be16_t cksum;
} __rte_packed;

/* a neighbour solicitation or advertisement, with room for one lladdr option */
struct nd_msg {
	struct icmp6_hdr h;
	uint8_t flags; /* NA: router, solicited, override */
	uint8_t reserved[3];
	uint8_t target[16];
} __rte_packed;

struct nd_opt_lladdr {
	uint8_t type;
	uint8_t len; /* in units of 8 octets: 1 for Ethernet */
	uint8_t mac[RTE_ETHER_ADDR_LEN];
};

static const uint8_t *
v6(const struct cidr *c)
{
	return c->addr;
}

bool
ip6_is_local(const struct gconf *gc, unsigned port, const uint8_t addr[16])
{
	const struct gconf_port *p = &gc->ports[port];

	for (unsigned i = 0; i < p->naddr; i++)
		if (p->addr[i].family == 6 && memcmp(v6(&p->addr[i]), addr, 16) == 0)
			return true;
	return false;
}

/* solicited_for - whether addr is the solicited-node multicast group of one of our addresses */
static bool
solicited_for(const struct gconf *gc, unsigned port, const uint8_t addr[16])
{
	static const uint8_t prefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
	const struct gconf_port *p = &gc->ports[port];

	if (memcmp(addr, prefix, sizeof(prefix)) != 0)
		return false;
	for (unsigned i = 0; i < p->naddr; i++)
		if (p->addr[i].family == 6 && memcmp(v6(&p->addr[i]) + 13, addr + 13, 3) == 0)
			return true;
	return false;
}

static bool
prefix_match(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned bytes = len / 8, bits = len % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	return bits == 0 || ((a[bytes] ^ b[bytes]) & (0xff << (8 - bits))) == 0;
}

/* route6 - the port and next hop towards dst: connected prefixes, then routes */
static int
route6(const struct gconf *gc, const uint8_t dst[16], unsigned *port, uint8_t nh[16])
{
	int best = -1;

	for (unsigned pi = 0; pi < gc->nports; pi++) {
		const struct gconf_port *p = &gc->ports[pi];

		for (unsigned i = 0; i < p->naddr; i++)
			if (p->addr[i].family == 6 && (int)p->addr[i].len > best &&
			    prefix_match(v6(&p->addr[i]), dst, p->addr[i].len)) {
				best = p->addr[i].len;
				*port = pi;
				memcpy(nh, dst, 16);
			}
	}
	if (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80 && best < 0 && gc->nports > 0) {
		*port = 0; /* link-local: on the first port */
		memcpy(nh, dst, 16);
		return 0;
	}
	if (best >= 0)
		return 0;
	for (unsigned i = 0; i < gc->nroutes; i++) {
		const struct gconf_route *r = &gc->routes[i];

		if (r->prefix.family == 6 && (int)r->prefix.len > best &&
		    prefix_match(v6(&r->prefix), dst, r->prefix.len)) {
			best = r->prefix.len;
			*port = r->port;
			memcpy(nh, r->via.family == 6 ? v6(&r->via) : dst, 16);
		}
	}
	return best >= 0 ? 0 : -1;
}

/* source_for - our address on port to talk to dst */
static int
source_for(const struct gconf *gc, unsigned port, const uint8_t dst[16], uint8_t src[16])
{
	const struct gconf_port *p = &gc->ports[port];
	int first = -1;

	for (unsigned i = 0; i < p->naddr; i++) {
		if (p->addr[i].family != 6)
			continue;
		if (prefix_match(v6(&p->addr[i]), dst, p->addr[i].len)) {
			memcpy(src, v6(&p->addr[i]), 16);
			return 0;
		}
		if (first < 0)
			first = (int)i;
	}
	if (first < 0)
		return -1;
	memcpy(src, v6(&p->addr[first]), 16);
	return 0;
}

int
ip6_source(const struct gconf *gc, const uint8_t dst[16], uint8_t src[16])
{
	unsigned port;
	uint8_t nh[16];

	return route6(gc, dst, &port, nh) < 0 ? -1 : source_for(gc, port, dst, src);
}

/* nd_send - a solicitation (to the target's solicited-node group) or an advertisement */
static void
nd_send(struct lcore_conf *lc, unsigned port, uint8_t type, const uint8_t src[16],
        const uint8_t dst[16], const uint8_t target[16], uint8_t flags,
        const struct rte_ether_addr *dmac)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(lc->pool);
	struct rte_ether_hdr *eh;
	struct rte_ipv6_hdr *ih;
	struct nd_msg *nd;
	struct nd_opt_lladdr *opt;
	const size_t plen = sizeof(*nd) + sizeof(*opt);

	if (m == NULL) {
		lc->stats.drop_nomem++;
		return;
	}
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eh) + sizeof(*ih) + plen);
	ih = (struct rte_ipv6_hdr *)(eh + 1);
	nd = (struct nd_msg *)(ih + 1);
	opt = (struct nd_opt_lladdr *)(nd + 1);
	eh->dst_addr = *dmac;
	eh->src_addr = gate_ports.mac[port];
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	ih->vtc_flow = rte_cpu_to_be_32(6u << 28);
	ih->payload_len = rte_cpu_to_be_16((uint16_t)plen);
	ih->proto = IPPROTO_ICMPV6;
	ih->hop_limits = 255;
	memcpy(ih->src_addr, src, 16);
	memcpy(ih->dst_addr, dst, 16);
	memset(nd, 0, sizeof(*nd));
	nd->h.type = type;
	nd->flags = flags;
	memcpy(nd->target, target, 16);
	opt->type = type == ND_SOLICIT ? ND_OPT_SRC_LLADDR : ND_OPT_TGT_LLADDR;
	opt->len = 1;
	memcpy(opt->mac, &gate_ports.mac[port], RTE_ETHER_ADDR_LEN);
	nd->h.cksum = 0;
	nd->h.cksum = rte_ipv6_udptcp_cksum(ih, nd);
	lc_send(lc, port, m);
}

/* nd_resolve - the MAC of a neighbour, or -1 after soliciting it */
static int
nd_resolve(struct lcore_conf *lc, unsigned port, const uint8_t nh[16], struct rte_ether_addr *mac,
           uint64_t now)
{
	uint8_t src[16], group[16] = {0xff, 0x02, [11] = 1, [12] = 0xff};
	struct rte_ether_addr gmac = {{0x33, 0x33, 0xff, nh[13], nh[14], nh[15]}};
	int rc = nbr_lookup(&lc->nbr, 6, nh, port, mac, now);

	if (rc <= 0)
		return rc;
	if (source_for(lc->gc, port, nh, src) < 0)
		return -1;
	memcpy(group + 13, nh + 13, 3);
	nd_send(lc, port, ND_SOLICIT, src, group, nh, 0, &gmac);
	lc->stats.arp_requests++;
	return -1;
}

void
ip6_output(struct lcore_conf *lc, struct rte_mbuf *m, uint64_t now)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ih = (struct rte_ipv6_hdr *)(eh + 1);
	uint8_t nh[16];
	unsigned port;

	if (route6(lc->gc, ih->dst_addr, &port, nh) < 0 ||
	    nd_resolve(lc, port, nh, &eh->dst_addr, now) < 0) {
		lc->stats.drop_noroute++;
		rte_pktmbuf_free(m);
		return;
	}
	eh->src_addr = gate_ports.mac[port];
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	lc_send(lc, port, m);
}

/* nd_input - solicitations for our addresses are answered; both kinds teach us a neighbour */
static void
nd_input(struct lcore_conf *lc, unsigned port, struct rte_ipv6_hdr *ih, struct nd_msg *nd,
         unsigned len, uint64_t now)
{
	static const uint8_t unspec[16];
	const struct nd_opt_lladdr *ll = NULL;
	struct rte_ether_addr mac;
	const uint8_t *opt = (const uint8_t *)(nd + 1), *end = (const uint8_t *)nd + len;

	if (ih->hop_limits != 255 || len < sizeof(*nd) || nd->h.code != 0) {
		lc->stats.drop_ip++;
		return;
	}
	/* options: type, length in 8-octet units (0 is invalid, RFC 4861 4.6) */
	while (opt + 2 <= end) {
		unsigned olen = opt[1] * 8u;

		if (olen == 0 || opt + olen > end) {
			lc->stats.drop_short++;
			return;
		}
		if ((opt[0] == ND_OPT_SRC_LLADDR || opt[0] == ND_OPT_TGT_LLADDR) && olen == 8)
			ll = (const struct nd_opt_lladdr *)opt;
		opt += olen;
	}
	if (ll != NULL)
		memcpy(&mac, ll->mac, sizeof(mac));
	if (nd->h.type == ND_ADVERT) {
		if (ll != NULL)
			lc_nbr_learn(lc, 6, nd->target, port, &mac, true, now);
		return;
	}
	if (!ip6_is_local(lc->gc, port, nd->target))
		return;
	if (memcmp(ih->src_addr, unspec, 16) == 0) {
		/* duplicate address detection by another node: our address is ours */
		return;
	}
	if (ll == NULL)
		return;
	lc_nbr_learn(lc, 6, ih->src_addr, port, &mac, false, now);
	nd_send(lc, port, ND_ADVERT, nd->target, ih->src_addr, nd->target,
	        ND_NA_SOLICITED | ND_NA_OVERRIDE, &mac);
	lc->stats.arp_replies++;
}

/* cksum_ok - the ICMPv6 checksum over the pseudo-header and the message */
static bool
cksum_ok(const struct rte_ipv6_hdr *ih, const void *l4, unsigned len)
{
	uint32_t sum = (uint32_t)rte_ipv6_phdr_cksum(ih, 0) + rte_raw_cksum(l4, len);

	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

void
ip6_input(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now)
{
	struct rte_ipv6_hdr *ih;
	struct icmp6_hdr *icmp;
	unsigned avail = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN, len;
	bool unicast;

	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*ih) || m->nb_segs != 1) {
		lc->stats.drop_short++;
		goto drop;
	}
	ih = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, RTE_ETHER_HDR_LEN);
	len = rte_be_to_cpu_16(ih->payload_len);
	if ((rte_be_to_cpu_32(ih->vtc_flow) >> 28) != 6 || sizeof(*ih) + len > avail) {
		lc->stats.drop_short++;
		goto drop;
	}
	unicast = ip6_is_local(lc->gc, port, ih->dst_addr);
	if (!unicast && !solicited_for(lc->gc, port, ih->dst_addr)) {
		lc->stats.drop_ip++;
		goto drop;
	}
	rte_pktmbuf_trim(m, (uint16_t)(avail - sizeof(*ih) - len));
	if (ih->proto == IPPROTO_FRAGMENT) {
		lc->stats.drop_frag++;
		goto drop;
	}
	if (ih->proto == IPPROTO_TCP && unicast) {
		tcpio_input6(lc, port, m, ih, len);
		return;
	}
	if (ih->proto != IPPROTO_ICMPV6) {
		lc->stats.drop_proto++;
		goto drop;
	}
	icmp = (struct icmp6_hdr *)(ih + 1);
	if (len < sizeof(*icmp) || !cksum_ok(ih, icmp, len)) {
		lc->stats.drop_csum++;
		goto drop;
	}
	if (icmp->type == ND_SOLICIT || icmp->type == ND_ADVERT) {
		nd_input(lc, port, ih, (struct nd_msg *)icmp, len, now);
		goto drop;
	}
	if (icmp->type != ICMP6_ECHO_REQUEST || icmp->code != 0 || !unicast) {
		lc->stats.drop_proto++;
		goto drop;
	}
	{
		uint8_t tmp[16];

		memcpy(tmp, ih->src_addr, 16);
		memcpy(ih->src_addr, ih->dst_addr, 16);
		memcpy(ih->dst_addr, tmp, 16);
	}
	ih->hop_limits = 64;
	icmp->type = ICMP6_ECHO_REPLY;
	icmp->cksum = 0;
	icmp->cksum = rte_ipv6_udptcp_cksum(ih, icmp);
	lc->stats.icmp_echo++;
	ip6_output(lc, m, now);
	return;
drop:
	rte_pktmbuf_free(m);
}
