/* nbr - the neighbour cache shared by ARP (IPv4) and neighbour discovery (IPv6), one per lcore */
#ifndef NBR_H
#define NBR_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>

#define NBR_WAYS    4    /* entries per bucket; the stalest is replaced */
#define NBR_BUCKETS 256  /* at most 1,024 neighbours per lcore: a gate has few */
#define NBR_ASK_MS  1000 /* ask again for an unanswered address at most this often */

struct nbr_entry {
	uint8_t addr[16]; /* IPv4 in the first 4 bytes, network order */
	uint8_t family;   /* 4 or 6; 0: empty */
	uint8_t port;
	uint8_t resolved;
	struct rte_ether_addr mac;
	uint64_t expires; /* ms: resolved entries are trusted until then */
	uint64_t asked;   /* ms: when we last asked */
};

struct nbr_cache {
	struct nbr_entry b[NBR_BUCKETS][NBR_WAYS];
	uint32_t timeout_ms;
	/* bumped on every change to any entry (learnt, refreshed, made
	 * incomplete, evicted): a copy of an entry (tcpio's prebuilt frame
	 * header) taken at one generation holds while the generation does,
	 * until the entry's expiry; 64 bits, so it never comes round again */
	uint64_t gen;
};

/* nbr_find - the entry for an address, or NULL */
struct nbr_entry *nbr_find(struct nbr_cache *c, int family, const uint8_t *addr);
/* nbr_learn - remember addr is at mac on port */
void nbr_learn(struct nbr_cache *c, int family, const uint8_t *addr, unsigned port,
               const struct rte_ether_addr *mac, uint64_t now);
/* nbr_lookup - 0 with the MAC of a resolved, fresh entry; 1 when the caller
 * should ask (an incomplete entry is made); -1 when it asked recently */
int nbr_lookup(struct nbr_cache *c, int family, const uint8_t *addr, unsigned port,
               struct rte_ether_addr *mac, uint64_t now);

#endif
