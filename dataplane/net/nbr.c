/* nbr - the neighbour cache shared by ARP and neighbour discovery
 *
 * Bounded: a fixed array of buckets of NBR_WAYS entries; a new address
 * takes an empty way or evicts the stalest, so a flood of neighbours
 * costs nothing but their own entries. Touched by its lcore only.
 */
#include <string.h>

#include "nbr.h"

static unsigned
hash(int family, const uint8_t *addr)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < (family == 4 ? 4 : 16); i++)
		h = (h ^ addr[i]) * 16777619u;
	return h & (NBR_BUCKETS - 1);
}

static bool
same(const struct nbr_entry *e, int family, const uint8_t *addr)
{
	return e->family == family && memcmp(e->addr, addr, family == 4 ? 4 : 16) == 0;
}

struct nbr_entry *
nbr_find(struct nbr_cache *c, int family, const uint8_t *addr)
{
	struct nbr_entry *b = c->b[hash(family, addr)];

	for (int i = 0; i < NBR_WAYS; i++)
		if (same(&b[i], family, addr))
			return &b[i];
	return NULL;
}

/* slot - the entry for addr, else an empty one, else the stalest, made empty */
static struct nbr_entry *
slot(struct nbr_cache *c, int family, const uint8_t *addr)
{
	struct nbr_entry *b = c->b[hash(family, addr)], *victim = &b[0];

	for (int i = 0; i < NBR_WAYS; i++) {
		if (same(&b[i], family, addr) || b[i].family == 0)
			return &b[i];
		if (b[i].expires < victim->expires)
			victim = &b[i];
	}
	memset(victim, 0, sizeof(*victim));
	return victim;
}

void
nbr_learn(struct nbr_cache *c, int family, const uint8_t *addr, unsigned port,
          const struct rte_ether_addr *mac, uint64_t now)
{
	struct nbr_entry *e = slot(c, family, addr);

	c->gen++;
	memcpy(e->addr, addr, family == 4 ? 4 : 16);
	e->family = (uint8_t)family;
	e->port = (uint8_t)port;
	e->resolved = 1;
	e->mac = *mac;
	e->expires = now + c->timeout_ms;
}

int
nbr_lookup(struct nbr_cache *c, int family, const uint8_t *addr, unsigned port,
           struct rte_ether_addr *mac, uint64_t now)
{
	struct nbr_entry *e = nbr_find(c, family, addr);

	if (e != NULL && e->resolved && e->port == port && e->expires > now) {
		*mac = e->mac;
		return 0;
	}
	if (e != NULL && e->asked + NBR_ASK_MS > now)
		return -1;
	e = slot(c, family, addr);
	c->gen++;
	memcpy(e->addr, addr, family == 4 ? 4 : 16);
	e->family = (uint8_t)family;
	e->port = (uint8_t)port;
	e->resolved = 0;
	e->asked = now;
	e->expires = 0;
	return 1;
}
