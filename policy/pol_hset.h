/* pol_hset - a read-only string-keyed hash table with uint32 values
 *
 * Exact addresses, domains and host names of the policy (up to some 100,000
 * per list) live here. Built once on the control thread, then only read by
 * many threads: open addressing with linear probing over a power-of-two array
 * of 8-byte slots, each holding the key's 32-bit hash tag and the offset of
 * its record (value, length, bytes) in one blob, so a miss reads one cache
 * line and a hit two. The hash is keyed with a secret of the process. Keys are byte strings
 * compared exactly: callers normalise case first.
 *
 * A caller with several keys to look up hashes them all first
 * (hset_hash), prefetches their slots (hset_prefetch) and then probes
 * (hset_get_hashed), so that the cache misses overlap instead of being
 * taken one after the other.
 */
#ifndef POL_HSET_H
#define POL_HSET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HSET_NONE UINT32_MAX /* lookup result for an absent key */

struct hset_builder;

/* A built table: only read, by any number of threads. Its fields are here
 * for the inline helpers below; the rest of the code keeps to the functions. */
struct hset {
	uint64_t *slots; /* mask + 1 slots, at most half of them used */
	size_t mask;     /* slot count - 1 */
	size_t count;    /* keys */
	char *blob;      /* records, NULL when there are none */
	size_t blob_len; /* bytes in blob */
};

struct hset_builder *hset_builder_new(void);
/* hset_builder_add - add key -> val; a key already present keeps its first
 * value and 1 is returned, else 0; -1 on allocation failure */
int hset_builder_add(struct hset_builder *b, const char *key, size_t len, uint32_t val);
/* hset_build - freeze into a lookup table (load factor at most 1/2) and free the builder */
struct hset *hset_build(struct hset_builder *b);
void hset_builder_free(struct hset_builder *b);

uint32_t hset_get(const struct hset *h, const char *key, size_t len);
/* hset_hash - the hash hset_get_hashed wants for a key (the same for every table) */
uint64_t hset_hash(const char *key, size_t len);

/* A key's record in the blob. */
struct hset_rec {
	uint32_t val; /* value given with the first add of the key */
	uint32_t len; /* key length */
	char key[];   /* len bytes, not NUL-terminated */
};

/* hset_slot_tag - the hash tag of a used slot */
static inline uint32_t
hset_slot_tag(uint64_t slot)
{
	return (uint32_t)(slot >> 32);
}

/* hset_slot_rec - the record a used slot points to */
static inline const struct hset_rec *
hset_slot_rec(const char *blob, uint64_t slot)
{
	return (const struct hset_rec *)(const void *)(blob + ((uint32_t)slot - 1));
}

/* hset_get_hashed - hset_get with the key's hset_hash already known; the
 * value of key, or HSET_NONE. Inline: a name's lookups probe two to four
 * keys, most of them missing on the first slot, where a call was a third
 * of the probe's instructions. */
static inline uint32_t
hset_get_hashed(const struct hset *h, const char *key, size_t len, uint64_t hash)
{
	uint32_t tag = (uint32_t)(hash >> 32);

	if (h->count == 0)
		return HSET_NONE;
	for (size_t i = (size_t)hash & h->mask;; i = (i + 1) & h->mask) {
		uint64_t s = h->slots[i];
		const struct hset_rec *r;

		if (s == 0)
			return HSET_NONE;
		if (hset_slot_tag(s) != tag)
			continue;
		r = hset_slot_rec(h->blob, s);
		if (r->len == len && (len == 0 || memcmp(r->key, key, len) == 0))
			return r->val;
	}
}
/* hset_count - keys in the table */
static inline size_t
hset_count(const struct hset *h)
{
	return h->count;
}
size_t hset_mem(const struct hset *h);
void hset_free(struct hset *h);

#endif
