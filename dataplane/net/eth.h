/* eth - Ethernet input: check the destination and hand the packet to ARP, IPv4 or IPv6 */
#ifndef ETH_H
#define ETH_H

#include <stdint.h>

#include <rte_mbuf.h>

struct lcore_conf;

/* eth_input - consumes m */
void eth_input(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now);

#endif
