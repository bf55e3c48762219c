/* eth - Ethernet input: check the destination and hand the packet on
 *
 * Frames for another unicast MAC (a TAP or a promiscuous port sees them)
 * and ethertypes we do not speak (VLAN tags included) are dropped and
 * counted; nothing is forwarded: the gate is an end host.
 */
#include <rte_byteorder.h>
#include <rte_ether.h>

#include "../lcore.h"
#include "eth.h"
#include "ip4.h"
#include "ip6.h"

void
eth_input(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now)
{
	const struct rte_ether_hdr *eh;

	if (rte_pktmbuf_data_len(m) < sizeof(*eh)) {
		lc->stats.drop_short++;
		rte_pktmbuf_free(m);
		return;
	}
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (rte_is_unicast_ether_addr(&eh->dst_addr) &&
	    !rte_is_same_ether_addr(&eh->dst_addr, &gate_ports.mac[port])) {
		lc->stats.drop_l2++;
		rte_pktmbuf_free(m);
		return;
	}
	switch (rte_be_to_cpu_16(eh->ether_type)) {
	case RTE_ETHER_TYPE_ARP:
		arp_input(lc, port, m, now);
		return;
	case RTE_ETHER_TYPE_IPV4:
		ip4_input(lc, port, m, now);
		return;
	case RTE_ETHER_TYPE_IPV6:
		ip6_input(lc, port, m, now);
		return;
	default:
		lc->stats.drop_l2++;
		rte_pktmbuf_free(m);
	}
}
