/* arp - answer, ask and remember IPv4 neighbours (RFC 826), one cache per lcore */
#ifndef ARP_H
#define ARP_H

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#define ARP_WAYS    4    /* entries per bucket; the stalest is replaced */
#define ARP_BUCKETS 256  /* so at most 1,024 neighbours per lcore: a gate has few */
#define ARP_ASK_MS  1000 /* ask again for an unanswered address at most this often */

struct lcore_conf;

struct arp_entry {
	uint32_t ip; /* host byte order; 0: empty */
	uint8_t port;
	uint8_t resolved;
	struct rte_ether_addr mac;
	uint64_t expires; /* ms: resolved entries are trusted until then */
	uint64_t asked;   /* ms: when we last sent a request */
};

struct arp_cache {
	struct arp_entry b[ARP_BUCKETS][ARP_WAYS];
	uint32_t timeout_ms;
};

/* arp_input - a received ARP packet: learn the sender, answer requests for
 * our addresses; consumes m */
void arp_input(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now);
/* arp_resolve - the MAC of ip on port: 0, or -1 after asking for it */
int arp_resolve(struct lcore_conf *lc, unsigned port, uint32_t ip, struct rte_ether_addr *mac,
                uint64_t now);

#endif
