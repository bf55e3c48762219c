/* ip4 - IPv4 input, routing and output, and ICMP echo */
#ifndef IP4_H
#define IP4_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_mbuf.h>

#include "../gconf.h"

struct lcore_conf;

/* ip4_is_local_be - whether be (network order) is one of port's
 * addresses: compared as they are stored, in network order (inline: once
 * per packet in) */
static inline bool
ip4_is_local_be(const struct gconf *gc, unsigned port, uint32_t be)
{
	const struct gconf_port *p = &gc->ports[port];

	for (unsigned i = 0; i < p->naddr; i++) {
		uint32_t a;

		memcpy(&a, p->addr[i].addr, 4);
		if (a == be && p->addr[i].family == 4)
			return true;
	}
	return false;
}

/* ip4_is_local - whether ip (host order) is one of port's addresses */
bool ip4_is_local(const struct gconf *gc, unsigned port, uint32_t ip);
/* ip4_source_for - our address on port to talk to dst: one in dst's subnet, else the first */
int ip4_source_for(const struct gconf *gc, unsigned port, uint32_t dst, uint32_t *src);
/* ip4_route - the port and next hop towards dst (connected subnets, then routes, longest first) */
int ip4_route(const struct gconf *gc, uint32_t dst, unsigned *port, uint32_t *nexthop);

/* ip4_input - an IPv4 packet received on port (Ethernet header still in front); consumes m */
void ip4_input(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now);
/* ip4_output - m holds Ethernet room + a complete IPv4 packet at offset
 * RTE_ETHER_HDR_LEN; route it, fill the Ethernet header and queue it; consumes m */
void ip4_output(struct lcore_conf *lc, struct rte_mbuf *m, uint64_t now);

#endif
