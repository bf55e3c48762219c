/* pol_fcache - a per-reader cache of the facts of recently seen inputs
 *
 * The same HELO names, senders and recipients come back again and again
 * (a mailing list's bounce address, a big provider's HELO, an ISP's own
 * users as recipients); matching one costs a normalisation, several hash
 * lookups and maybe a Hyperscan scan. Each reader (lcore) keeps the facts
 * of the inputs it saw last: what each list's matching entry is, by entry
 * id. An entry is keyed by the input's kind and its bytes as the client
 * sent them, and stamped with the id of the snapshot it was computed
 * from; under any other snapshot it is a miss, so no fact outlives its
 * snapshot (ids are never reused) and a push needs no flush.
 *
 * Bounded and allocation-free after creation: FC_SETS sets of FC_WAYS
 * entries, least recently used out; inputs longer than FC_KEY_MAX are not
 * cached. Only its reader's thread touches a cache.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pol_impl.h"

/* 32,768 inputs (4 MiB) per reader: the working set of a busy lcore's
 * sessions over some seconds; a miss costs a microsecond at most. */
#define FC_SETS POL_FC_SETS
#define FC_WAYS 2
/* Key bytes an entry holds: most addresses and HELO names are shorter, and
 * the entry is then exactly two cache lines. */
#define FC_KEY_MAX 100

struct fc_entry {
	uint64_t snap;            /* snapshot id of the facts; 0: empty */
	uint32_t tag;             /* high hash bits, checked before the key */
	uint8_t kind;             /* enum pol_input */
	uint8_t len;              /* key length */
	uint8_t mru;              /* in a set's way 0 only: the way used last */
	uint32_t f[POL_FC_FACTS]; /* the facts, by kind (see pol_eval.c) */
	char key[FC_KEY_MAX];
};

/* Recency is one index per set (in way 0's spare byte), not the order of
 * the ways: a hit or an insert moves no entry, where moving one copied
 * 128 bytes or more on every miss. */
struct pol_fcache {
	struct fc_entry e[FC_SETS][FC_WAYS];
	uint64_t hits, misses;
} __attribute__((aligned(64))); /* its size a multiple of 64, as aligned_alloc wants */

_Static_assert(sizeof(struct fc_entry) == 128, "a cache entry is two cache lines");
_Static_assert((FC_SETS & (FC_SETS - 1)) == 0, "FC_SETS is a power of two");
_Static_assert(FC_WAYS == 2, "one recency index tells the victim of two ways only");

/* pol_fcache_new - an empty cache, or NULL */
struct pol_fcache *
pol_fcache_new(void)
{
	struct pol_fcache *c = aligned_alloc(64, sizeof(*c));

	if (c != NULL)
		memset(c, 0, sizeof(*c));
	return c;
}

void
pol_fcache_free(struct pol_fcache *c)
{
	free(c);
}

/* pol_fcache_key - hash an input once for a lookup and a possible insert;
 * false when it is too long to be cached */
bool
pol_fcache_key(enum pol_input kind, const char *in, struct pol_fkey *k)
{
	size_t len = strnlen(in, FC_KEY_MAX + 1);

	if (len > FC_KEY_MAX)
		return false;
	k->in = in;
	k->len = (uint8_t)len;
	k->kind = (uint8_t)kind;
	k->h = XXH3_64bits_withSeed(in, len, kind);
	return true;
}

/* pol_fcache_get - the facts of an input under snapshot snap, or NULL */
const uint32_t *
pol_fcache_get(struct pol_fcache *c, uint64_t snap, const struct pol_fkey *k)
{
	struct fc_entry *set = c->e[k->h & (FC_SETS - 1)];
	uint32_t tag = (uint32_t)(k->h >> 32);

	for (int w = 0; w < FC_WAYS; w++) {
		struct fc_entry *e = &set[w];

		if (e->snap != snap || e->tag != tag || e->kind != k->kind || e->len != k->len ||
		    memcmp(e->key, k->in, k->len) != 0)
			continue;
		c->hits++;
		set[0].mru = (uint8_t)w;
		return e->f;
	}
	c->misses++;
	return NULL;
}

/* pol_fcache_put - remember the facts of an input, evicting the least recently used */
void
pol_fcache_put(struct pol_fcache *c, uint64_t snap, const struct pol_fkey *k,
               const uint32_t f[POL_FC_FACTS])
{
	struct fc_entry *set = c->e[k->h & (FC_SETS - 1)];
	unsigned victim = 1u - set[0].mru;
	struct fc_entry *e = &set[victim];

	set[0].mru = (uint8_t)victim;
	e->snap = snap;
	e->tag = (uint32_t)(k->h >> 32);
	e->kind = k->kind;
	e->len = k->len;
	memcpy(e->f, f, sizeof(e->f));
	memcpy(e->key, k->in, k->len);
}

/* pol_fcache_stats - lookups answered and not */
void
pol_fcache_stats(const struct pol_fcache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c != NULL ? c->hits : 0;
	*misses = c != NULL ? c->misses : 0;
}
