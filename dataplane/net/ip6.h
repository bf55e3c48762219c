/* ip6 - IPv6 input and output, neighbour discovery (RFC 4861) and ICMPv6 echo */
#ifndef IP6_H
#define IP6_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "../gconf.h"

struct lcore_conf;

/* ip6_is_local - whether addr is one of port's unicast addresses */
bool ip6_is_local(const struct gconf *gc, unsigned port, const uint8_t addr[16]);
/* ip6_source - our address for talking to dst (its route's port): 0, or -1 without a route */
int ip6_source(const struct gconf *gc, const uint8_t dst[16], uint8_t src[16]);
/* ip6_input - an IPv6 packet received on port (Ethernet header in front); consumes m */
void ip6_input(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now);
/* ip6_output - m holds Ethernet room + a complete IPv6 packet; route, resolve, queue; consumes m */
void ip6_output(struct lcore_conf *lc, struct rte_mbuf *m, uint64_t now);

#endif
