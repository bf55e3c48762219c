/* arp - answer, ask and remember IPv4 neighbours (RFC 826) */
#ifndef ARP_H
#define ARP_H

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "nbr.h"

struct lcore_conf;

/* arp_input - a received ARP packet: learn the sender, answer requests for
 * our addresses; consumes m */
void arp_input(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now);
/* arp_resolve - the MAC of ip on port: 0, or -1 after asking for it */
int arp_resolve(struct lcore_conf *lc, unsigned port, uint32_t ip, struct rte_ether_addr *mac,
                uint64_t now);

#endif
