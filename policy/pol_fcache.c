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
 * The cache must never cost more than it saves. A probe reads only a
 * small array of hash tags (128 KiB, in L2): an entry (two cache lines
 * somewhere in 4 MiB) is read only when its tag matches, so a miss costs
 * no memory access to speak of; an insert writes one entry. When nothing
 * repeats (a spam run of fresh addresses) even the inserts are waste, so
 * the cache watches its hit rate over windows of FC_WINDOW inputs: below
 * FC_LOW_PCT it goes to sampling, where only one input in FC_SAMPLE (by
 * bits of a cheap hash of its length and ends, so the same inputs each
 * time) is probed and kept and the others bypass it for the price of a
 * length and a few multiplies; when the sampled inputs hit
 * FC_HIGH_PCT of the time again, every input is probed once more.
 *
 * Bounded and allocation-free after creation: FC_SETS sets of FC_WAYS
 * entries, least recently used out; inputs longer than FC_KEY_MAX are not
 * cached. Only its reader's thread touches a cache.
 */
#include <stdint.h>
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
#define FC_KEY_MAX POL_FC_KEY_MAX
/* Probes between two looks at the hit rate: short enough to notice a
 * change of workload within milliseconds on a busy lcore. */
#define FC_WINDOW POL_FC_WINDOW
/* Below this hit rate, inserts cost more than hits save (an insert is a
 * store miss, a hit saves a whole match of the input): sample. */
#define FC_LOW_PCT 10
/* Sampled inputs hitting this often: probe everything again. Above
 * FC_LOW_PCT so that the mode does not flap on every window. */
#define FC_HIGH_PCT 20
/* One input in FC_SAMPLE is probed while sampling. */
#define FC_SAMPLE POL_FC_SAMPLE

struct fc_entry {
	uint64_t snap;            /* snapshot id of the facts; 0: empty */
	uint32_t f[POL_FC_FACTS]; /* the facts, by kind (see pol_eval.c) */
	uint8_t kind;             /* enum pol_input */
	uint8_t len;              /* key length */
	char key[FC_KEY_MAX];
};

/* The tags are apart from the entries: a probe reads 8 bytes of a 128 KiB
 * array that stays in L2, and an entry only when its tag matches. Recency
 * is one index per set: a hit or an insert moves no entry. */
struct pol_fcache {
	uint32_t tag[FC_SETS][FC_WAYS]; /* high hash bits | 1; 0: empty way */
	uint8_t mru[FC_SETS];           /* the way used last */
	uint64_t hits, misses;          /* misses include bypassed inputs */
	uint64_t bypassed;              /* inputs not probed while sampling */
	uint32_t win_probes, win_hits;  /* this window's probes and hits */
	bool sampling;                  /* probe one input in FC_SAMPLE only */
	struct fc_entry e[FC_SETS][FC_WAYS];
} __attribute__((aligned(64))); /* its size a multiple of 64, as aligned_alloc wants */

_Static_assert(sizeof(struct fc_entry) == 128, "a cache entry is two cache lines");
_Static_assert((FC_SETS & (FC_SETS - 1)) == 0, "FC_SETS is a power of two");
_Static_assert((FC_SAMPLE & (FC_SAMPLE - 1)) == 0, "FC_SAMPLE is a power of two");
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

/* A word of up to eight bytes of p, little or big end first alike: only
 * the sample choice reads it, and any fixed function of the bytes will do */
static inline uint64_t
fc_word(const char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* fc_pick - the bits that choose the sampled inputs: a few multiplies over
 * the input's length and its first and last 16 bytes (all of it up to 32
 * bytes), not a hash of all of it. While the cache samples, 15 inputs in
 * 16 skip it, and they need nothing more (callgrind: the XXH3 of every
 * input was about 140 instructions of a cold envelope). The same input
 * always gets the same bits, so the same inputs are sampled each time. */
static inline uint32_t
fc_pick(enum pol_input kind, const char *in, size_t len)
{
	uint64_t h = len * 0x9e3779b97f4a7c15ull ^ (uint64_t)kind;

	if (len >= 8) {
		uint64_t a = fc_word(in), d = fc_word(in + len - 8);
		uint64_t b = len >= 16 ? fc_word(in + 8) : 0,
		         c = len >= 16 ? fc_word(in + len - 16) : 0;

		h = (h ^ a) * 0xbf58476d1ce4e5b9ull +
		    (b ^ 0x94d049bb133111ebull) * 0xff51afd7ed558ccdull;
		h = (h ^ c) * 0xc4ceb9fe1a85ec53ull + d * 0x9e3779b97f4a7c15ull;
	} else {
		for (size_t i = 0; i < len; i++)
			h = (h ^ (unsigned char)in[i]) * 0xbf58476d1ce4e5b9ull;
	}
	h ^= h >> 29;
	h *= 0x94d049bb133111ebull;
	return (uint32_t)(h >> 32);
}

/* fc_measure - the input's length; false when it is too long to be
 * cached. Its sample bits are computed only while the cache samples: a
 * cache that probes every input needs none (the Zipf workload paid about
 * 100 instructions an envelope for them, callgrind). */
static inline bool
fc_measure(enum pol_input kind, const char *in, struct pol_fkey *k)
{
	size_t len = strnlen(in, FC_KEY_MAX + 1);

	if (len > FC_KEY_MAX)
		return false;
	k->in = in;
	k->len = (uint8_t)len;
	k->kind = (uint8_t)kind;
	return true;
}

static inline void
fc_hash(struct pol_fkey *k)
{
	k->h = XXH3_64bits_withSeed(k->in, k->len, k->kind);
}

/* pol_fcache_key - hash an input once for a lookup and a possible insert;
 * false when it is too long to be cached */
bool
pol_fcache_key(enum pol_input kind, const char *in, struct pol_fkey *k)
{
	if (!fc_measure(kind, in, k))
		return false;
	k->pick = fc_pick(kind, in, k->len);
	fc_hash(k);
	return true;
}

static uint32_t
fc_tag(const struct pol_fkey *k)
{
	return (uint32_t)(k->h >> 32) | 1;
}

/* fc_bypass - while sampling, whether this input is one of those that
 * skip the cache; they count as bypassed misses */
static inline bool
fc_bypass(struct pol_fcache *c, const struct pol_fkey *k)
{
	if (!c->sampling || (k->pick & (FC_SAMPLE - 1)) == 0)
		return false;
	c->bypassed++;
	c->misses++;
	return true;
}

/* pol_fcache_wanted - whether to probe (and later keep) this input; while
 * sampling, the others are counted as bypassed misses and not looked at */
bool
pol_fcache_wanted(struct pol_fcache *c, const struct pol_fkey *k)
{
	return !fc_bypass(c, k);
}

/* pol_fcache_key_wanted - pol_fcache_key and pol_fcache_wanted in one,
 * for the evaluator: an input that bypasses the cache is measured but not
 * hashed. *len is its length when it is at most POL_FC_KEY_MAX bytes
 * (measured once, for the normaliser too), else SIZE_MAX. */
bool
pol_fcache_key_wanted(struct pol_fcache *c, enum pol_input kind, const char *in, struct pol_fkey *k,
                      size_t *len)
{
	if (!fc_measure(kind, in, k)) {
		*len = SIZE_MAX;
		return false;
	}
	*len = k->len;
	if (c->sampling) {
		k->pick = fc_pick(kind, in, k->len);
		if (fc_bypass(c, k))
			return false;
	}
	fc_hash(k);
	return true;
}

/* fc_window - count a probe; at the end of a window, choose the mode */
static void
fc_window(struct pol_fcache *c, bool hit)
{
	/* while sampling, a window is as many inputs but FC_SAMPLE times fewer
	 * probes: a workload that turns repetitive is noticed as soon */
	c->win_hits += hit;
	if (++c->win_probes < (c->sampling ? FC_WINDOW / FC_SAMPLE : FC_WINDOW))
		return;
	if (!c->sampling && c->win_hits * 100 < c->win_probes * FC_LOW_PCT)
		c->sampling = true;
	else if (c->sampling && c->win_hits * 100 >= c->win_probes * FC_HIGH_PCT)
		c->sampling = false;
	c->win_probes = c->win_hits = 0;
}

/* pol_fcache_get - the facts of an input under snapshot snap, or NULL */
const uint32_t *
pol_fcache_get(struct pol_fcache *c, uint64_t snap, const struct pol_fkey *k)
{
	size_t set = k->h & (FC_SETS - 1);
	uint32_t tag = fc_tag(k);

	for (int w = 0; w < FC_WAYS; w++) {
		struct fc_entry *e = &c->e[set][w];

		if (c->tag[set][w] != tag || e->snap != snap || e->kind != k->kind ||
		    e->len != k->len || memcmp(e->key, k->in, k->len) != 0)
			continue;
		c->hits++;
		c->mru[set] = (uint8_t)w;
		fc_window(c, true);
		return e->f;
	}
	c->misses++;
	fc_window(c, false);
	return NULL;
}

/* pol_fcache_put - remember the facts of an input: in the way that held it
 * under an older snapshot, else instead of the least recently used */
void
pol_fcache_put(struct pol_fcache *c, uint64_t snap, const struct pol_fkey *k,
               const uint32_t f[POL_FC_FACTS])
{
	size_t set = k->h & (FC_SETS - 1);
	uint32_t tag = fc_tag(k);
	unsigned victim = c->tag[set][0] == tag ? 0 : c->tag[set][1] == tag ? 1 : 1u - c->mru[set];
	struct fc_entry *e = &c->e[set][victim];

	c->mru[set] = (uint8_t)victim;
	c->tag[set][victim] = tag;
	e->snap = snap;
	e->kind = k->kind;
	e->len = k->len;
	memcpy(e->f, f, sizeof(e->f));
	memcpy(e->key, k->in, k->len);
}

/* pol_fcache_stats - lookups answered and not (bypassed ones included) */
void
pol_fcache_stats(const struct pol_fcache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c != NULL ? c->hits : 0;
	*misses = c != NULL ? c->misses : 0;
}

/* pol_fcache_sampling - whether the cache is sampling, and how many inputs
 * bypassed it so far */
bool
pol_fcache_sampling(const struct pol_fcache *c, uint64_t *bypassed)
{
	if (bypassed != NULL)
		*bypassed = c != NULL ? c->bypassed : 0;
	return c != NULL && c->sampling;
}
