/* pol_hset - a read-only string-keyed hash table with uint32 values
 *
 * The builder is already the final table: an open-addressing slot array kept
 * at load factor at most 1/2 (doubled and rehashed as keys come), which finds
 * duplicates as they are added, and one growing blob holding every key's
 * bytes. hset_build only shrinks the blob and hands both over, so the table
 * is never larger than the smallest power of two of at least twice the keys.
 *
 * A slot is 16 bytes (four to a cache line): the high 32 bits of the key's
 * XXH3 hash as a tag, the key's offset and length in the blob, and the value.
 * The low bits of the hash pick the first slot, so the tag is independent of
 * the position and a probe compares key bytes only when all 32 tag bits
 * match. Probing is linear; at load 1/2 a lookup mostly reads one slot line
 * and one blob line. An empty slot has length HSET_EMPTY, so keys are limited
 * to less than 4 GiB each and 4 GiB in all (hset_builder_add fails beyond).
 *
 * Once built, the table is only read, by any number of threads.
 */
#include "pol_hset.h"

#include <stdlib.h>
#include <string.h>

/* inlined: the keys are short and the call into the shared library cost as much as the hash */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* Slot length of an empty slot; no key is this long. */
#define HSET_EMPTY UINT32_MAX
/* Slots of a new builder (a power of two). */
#define HSET_MIN_SLOTS 16

struct hset_slot {
	uint32_t tag; /* high 32 bits of the key's hash */
	uint32_t off; /* key bytes at blob + off */
	uint32_t len; /* key length, HSET_EMPTY for an empty slot */
	uint32_t val; /* value given with the first add of the key */
};

struct hset_builder {
	struct hset_slot *slots; /* mask + 1 slots */
	size_t mask;             /* slot count - 1 */
	size_t count;            /* keys */
	char *blob;              /* key bytes, back to back */
	size_t blob_len;         /* bytes used in blob */
	size_t blob_cap;         /* bytes allocated for blob */
};

struct hset {
	struct hset_slot *slots; /* mask + 1 slots, at most half of them used */
	size_t mask;             /* slot count - 1 */
	size_t count;            /* keys */
	char *blob;              /* key bytes, NULL when there are none */
	size_t blob_len;         /* bytes in blob */
};

/* hset_hash - XXH3 of a key; len 0 never reads key */
static uint64_t
hset_hash(const char *key, size_t len)
{
	return XXH3_64bits(key, len);
}

/* hset_slots_new - n empty slots */
static struct hset_slot *
hset_slots_new(size_t n)
{
	struct hset_slot *s = malloc(n * sizeof(*s));

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i].len = HSET_EMPTY;
	return s;
}

/* hset_find - the slot holding key, or the empty slot where it would go */
static struct hset_slot *
hset_find(struct hset_slot *slots, size_t mask, const char *blob, const char *key, size_t len,
          uint64_t h)
{
	uint32_t tag = (uint32_t)(h >> 32);

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct hset_slot *s = &slots[i];

		if (s->len == HSET_EMPTY)
			return s;
		if (s->tag == tag && s->len == len &&
		    (len == 0 || memcmp(blob + s->off, key, len) == 0))
			return s;
	}
}

/* hset_builder_new - an empty builder, or NULL */
struct hset_builder *
hset_builder_new(void)
{
	struct hset_builder *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->slots = hset_slots_new(HSET_MIN_SLOTS);
	if (b->slots == NULL) {
		free(b);
		return NULL;
	}
	b->mask = HSET_MIN_SLOTS - 1;
	return b;
}

/* hset_grow - double the slots of b, rehashing every key */
static int
hset_grow(struct hset_builder *b)
{
	size_t n = (b->mask + 1) * 2, mask = n - 1;
	struct hset_slot *slots = hset_slots_new(n);

	if (slots == NULL)
		return -1;
	for (size_t i = 0; i <= b->mask; i++) {
		const struct hset_slot *o = &b->slots[i];
		const char *key = o->len > 0 ? b->blob + o->off : NULL;

		size_t j;

		if (o->len == HSET_EMPTY)
			continue;
		/* Keys are distinct: the first empty slot of the probe is the place. */
		j = (size_t)hset_hash(key, o->len) & mask;
		while (slots[j].len != HSET_EMPTY)
			j = (j + 1) & mask;
		slots[j] = *o;
	}
	free(b->slots);
	b->slots = slots;
	b->mask = mask;
	return 0;
}

/* hset_blob_append - copy key into the blob of b; its offset or -1 */
static int64_t
hset_blob_append(struct hset_builder *b, const char *key, size_t len)
{
	size_t off = b->blob_len;

	if (len == 0)
		return 0;
	if (len > UINT32_MAX - 1 - off)
		return -1; /* offsets and lengths are 32 bits */
	if (off + len > b->blob_cap) {
		size_t cap = b->blob_cap > 0 ? b->blob_cap : 4096;
		char *p;

		while (cap < off + len)
			cap *= 2;
		p = realloc(b->blob, cap);
		if (p == NULL)
			return -1;
		b->blob = p;
		b->blob_cap = cap;
	}
	memcpy(b->blob + off, key, len);
	b->blob_len += len;
	return (int64_t)off;
}

/* hset_builder_add - add key -> val; 1 if the key was there (first value
 * kept), 0 if added, -1 on allocation failure or a key past the 4 GiB limits */
int
hset_builder_add(struct hset_builder *b, const char *key, size_t len, uint32_t val)
{
	struct hset_slot *s;
	int64_t off;
	uint64_t h;

	if (b == NULL || len >= HSET_EMPTY)
		return -1;
	h = hset_hash(key, len);
	s = hset_find(b->slots, b->mask, b->blob, key, len, h);
	if (s->len != HSET_EMPTY)
		return 1;
	if ((b->count + 1) * 2 > b->mask + 1) {
		if (hset_grow(b) < 0)
			return -1;
		s = hset_find(b->slots, b->mask, b->blob, key, len, h);
	}
	off = hset_blob_append(b, key, len);
	if (off < 0)
		return -1;
	s->tag = (uint32_t)(h >> 32);
	s->off = (uint32_t)off;
	s->len = (uint32_t)len;
	s->val = val;
	b->count++;
	return 0;
}

/* hset_build - freeze b into a table; b is freed in every case */
struct hset *
hset_build(struct hset_builder *b)
{
	struct hset *h;

	if (b == NULL)
		return NULL;
	h = malloc(sizeof(*h));
	if (h == NULL) {
		hset_builder_free(b);
		return NULL;
	}
	h->slots = b->slots;
	h->mask = b->mask;
	h->count = b->count;
	h->blob_len = b->blob_len;
	h->blob = b->blob;
	if (b->blob_len > 0 && b->blob_len < b->blob_cap) {
		char *p = realloc(b->blob, b->blob_len);

		if (p != NULL)
			h->blob = p;
	} else if (b->blob_len == 0) {
		free(b->blob);
		h->blob = NULL;
	}
	free(b);
	return h;
}

/* hset_builder_free - free a builder that was not built; NULL is fine */
void
hset_builder_free(struct hset_builder *b)
{
	if (b == NULL)
		return;
	free(b->slots);
	free(b->blob);
	free(b);
}

/* hset_get - the value of key, or HSET_NONE */
uint32_t
hset_get(const struct hset *h, const char *key, size_t len)
{
	uint64_t hash = hset_hash(key, len);
	uint32_t tag = (uint32_t)(hash >> 32);

	if (len >= HSET_EMPTY || h->count == 0)
		return HSET_NONE;
	for (size_t i = (size_t)hash & h->mask;; i = (i + 1) & h->mask) {
		const struct hset_slot *s = &h->slots[i];

		if (s->len == HSET_EMPTY)
			return HSET_NONE;
		if (s->tag == tag && s->len == len &&
		    (len == 0 || memcmp(h->blob + s->off, key, len) == 0))
			return s->val;
	}
}

/* hset_count - keys in the table */
size_t
hset_count(const struct hset *h)
{
	return h->count;
}

/* hset_mem - bytes allocated for the table */
size_t
hset_mem(const struct hset *h)
{
	return sizeof(*h) + (h->mask + 1) * sizeof(*h->slots) + h->blob_len;
}

/* hset_free - free a table; NULL is fine */
void
hset_free(struct hset *h)
{
	if (h == NULL)
		return;
	free(h->slots);
	free(h->blob);
	free(h);
}
