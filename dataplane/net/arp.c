/* arp - answer, ask and remember IPv4 neighbours (RFC 826)
 *
 * Input is untrusted: lengths and address formats are checked before any
 * field is read. The neighbour cache (nbr.c) learns only from packets that
 * concern us (a request for one of our
 * addresses, or a reply), so that a flood of gratuitous ARP cannot fill it.
 */
#include <rte_arp.h>
#include <rte_byteorder.h>

#include "../lcore.h"
#include "ip4.h"

static void
learn(struct lcore_conf *lc, unsigned port, uint32_t ip, const struct rte_ether_addr *mac,
      uint64_t now)
{
	uint32_t be = rte_cpu_to_be_32(ip);

	nbr_learn(&lc->nbr, 4, (const uint8_t *)&be, port, mac, now);
}

/* send_arp - build and queue an ARP packet */
static void
send_arp(struct lcore_conf *lc, unsigned port, uint16_t op, uint32_t sip, uint32_t tip,
         const struct rte_ether_addr *tha, const struct rte_ether_addr *dst)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(lc->pool);
	struct rte_ether_hdr *eh;
	struct rte_arp_hdr *ah;

	if (m == NULL) {
		lc->stats.drop_nomem++;
		return;
	}
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eh) + sizeof(*ah));
	ah = (struct rte_arp_hdr *)(eh + 1);
	eh->dst_addr = *dst;
	eh->src_addr = gate_ports.mac[port];
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = RTE_ETHER_ADDR_LEN;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	ah->arp_data.arp_sha = gate_ports.mac[port];
	ah->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	ah->arp_data.arp_tha = *tha;
	ah->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	lc_send(lc, port, m);
}

void
arp_input(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now)
{
	const struct rte_arp_hdr *ah;
	uint32_t sip, tip;
	uint16_t op;

	lc->stats.arp_in++;
	if (rte_pktmbuf_data_len(m) < sizeof(struct rte_ether_hdr) + sizeof(*ah)) {
		lc->stats.drop_short++;
		goto out;
	}
	ah = rte_pktmbuf_mtod_offset(m, const struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	if (ah->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    ah->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    ah->arp_hlen != RTE_ETHER_ADDR_LEN || ah->arp_plen != 4 ||
	    !rte_is_unicast_ether_addr(&ah->arp_data.arp_sha)) {
		lc->stats.drop_l2++;
		goto out;
	}
	op = rte_be_to_cpu_16(ah->arp_opcode);
	sip = rte_be_to_cpu_32(ah->arp_data.arp_sip);
	tip = rte_be_to_cpu_32(ah->arp_data.arp_tip);
	if (!ip4_is_local(lc->gc, port, tip)) {
		/* not about us; refresh an entry we already have (RFC 826 merge) */
		uint32_t be = rte_cpu_to_be_32(sip);
		struct nbr_entry *e = sip != 0 ? nbr_find(&lc->nbr, 4, (const uint8_t *)&be) : NULL;

		if (e != NULL && e->port == port)
			learn(lc, port, sip, &ah->arp_data.arp_sha, now);
		goto out;
	}
	if (sip != 0) {
		uint32_t be = rte_cpu_to_be_32(sip);

		lc_nbr_learn(lc, 4, (const uint8_t *)&be, port, &ah->arp_data.arp_sha, false, now);
	}
	if (op == RTE_ARP_OP_REQUEST) {
		send_arp(lc, port, RTE_ARP_OP_REPLY, tip, sip, &ah->arp_data.arp_sha,
		         &ah->arp_data.arp_sha);
		lc->stats.arp_replies++;
	}
out:
	rte_pktmbuf_free(m);
}

int
arp_resolve(struct lcore_conf *lc, unsigned port, uint32_t ip, struct rte_ether_addr *mac,
            uint64_t now)
{
	static const struct rte_ether_addr bcast = {
	        .addr_bytes = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	static const struct rte_ether_addr zero;
	uint32_t be = rte_cpu_to_be_32(ip), src;
	int rc = nbr_lookup(&lc->nbr, 4, (const uint8_t *)&be, port, mac, now);

	if (rc <= 0)
		return rc;
	if (ip4_source_for(lc->gc, port, ip, &src) < 0)
		return -1;
	send_arp(lc, port, RTE_ARP_OP_REQUEST, src, ip, &zero, &bcast);
	lc->stats.arp_requests++;
	return -1;
}
