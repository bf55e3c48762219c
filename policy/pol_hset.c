/* pol_hset - a read-only string-keyed hash table with uint32 values
 *
 * The builder is already the final table: an open-addressing slot array kept
 * at load factor at most 1/2 (doubled and rehashed as keys come), which finds
 * duplicates as they are added, and one growing blob holding a record per
 * key. hset_build only shrinks the blob and hands both over, so the table is
 * never larger than the smallest power of two of at least twice the keys.
 *
 * A slot is 8 bytes (eight to a cache line): the high 32 bits of the key's
 * hash (keyed: hset_hash, the suffix hash of pol_shash.c) as a tag and the offset of the key's
 * record (+1; 0 is an empty slot). A record is the value, the length and the key's bytes,
 * 4-aligned, so that a hit finds its value in the line it compares. The low bits of the hash pick
 * the first slot, so the tag is independent of the position and a probe reads a record only when
 * all 32 tag bits match: a miss costs one slot line, a hit that and one record line. Records are
 * limited to 4 GiB in all (hset_builder_add fails beyond).
 *
 * Once built, the table is only read, by any number of threads.
 */
#include "pol_hset.h"

#include <stdlib.h>
#include <string.h>

#include "pol_shash.h"

/* Slots of a new builder (a power of two). */
#define HSET_MIN_SLOTS 16
/* Records start on 4-byte boundaries, for their value and length. */
#define HSET_REC_ALIGN 4

struct hset_builder {
	uint64_t *slots; /* mask + 1 slots: tag << 32 | (record offset + 1), 0 empty */
	size_t mask;     /* slot count - 1 */
	size_t count;    /* keys */
	char *blob;      /* records, back to back */
	size_t blob_len; /* bytes used in blob */
	size_t blob_cap; /* bytes allocated for blob */
};

/* hset_hash - the keyed suffix hash of pol_shash.c, so that one walk of
 * a name (shash_walk_init) yields the hashes of all its suffixes as the
 * tables want them. Its secret is drawn when the program starts, so that a client,
 * who cannot know it, cannot aim lookups at the longest probe runs of a
 * table (the tables are read-only: that is all a client could do). Every
 * table of the process uses it, so one hash of a key serves a lookup in
 * any of them. */
uint64_t
hset_hash(const char *key, size_t len)
{
	return shash(key, len);
}

static uint32_t
slot_tag(uint64_t slot)
{
	return hset_slot_tag(slot);
}

static const struct hset_rec *
slot_rec(const char *blob, uint64_t slot)
{
	return hset_slot_rec(blob, slot);
}

/* hset_find - the index of the slot holding key, or of the empty slot where it would go */
static size_t
hset_find(const uint64_t *slots, size_t mask, const char *blob, const char *key, size_t len,
          uint64_t h)
{
	uint32_t tag = (uint32_t)(h >> 32);

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		const struct hset_rec *r;

		if (slots[i] == 0)
			return i;
		if (slot_tag(slots[i]) != tag)
			continue;
		r = slot_rec(blob, slots[i]);
		if (r->len == len && (len == 0 || memcmp(r->key, key, len) == 0))
			return i;
	}
}

/* hset_builder_new - an empty builder, or NULL */
struct hset_builder *
hset_builder_new(void)
{
	struct hset_builder *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->slots = calloc(HSET_MIN_SLOTS, sizeof(*b->slots));
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
	uint64_t *slots = calloc(n, sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (size_t i = 0; i <= b->mask; i++) {
		const struct hset_rec *r;
		size_t j;

		if (b->slots[i] == 0)
			continue;
		r = slot_rec(b->blob, b->slots[i]);
		/* Keys are distinct: the first empty slot of the probe is the place. */
		j = (size_t)hset_hash(r->key, r->len) & mask;
		while (slots[j] != 0)
			j = (j + 1) & mask;
		slots[j] = b->slots[i];
	}
	free(b->slots);
	b->slots = slots;
	b->mask = mask;
	return 0;
}

/* hset_blob_append - a record of key and val at the end of the blob of b;
 * its offset or -1 */
static int64_t
hset_blob_append(struct hset_builder *b, const char *key, size_t len, uint32_t val)
{
	size_t off = b->blob_len, need = sizeof(struct hset_rec) + len;
	struct hset_rec r = {.val = val, .len = (uint32_t)len};

	need = (need + HSET_REC_ALIGN - 1) & ~(size_t)(HSET_REC_ALIGN - 1);
	if (len > UINT32_MAX || need > UINT32_MAX - 1 - off)
		return -1; /* slots hold offset + 1 in 32 bits */
	if (off + need > b->blob_cap) {
		size_t cap = b->blob_cap > 0 ? b->blob_cap : 4096;
		char *p;

		while (cap < off + need)
			cap *= 2;
		p = realloc(b->blob, cap);
		if (p == NULL)
			return -1;
		b->blob = p;
		b->blob_cap = cap;
	}
	memcpy(b->blob + off, &r, sizeof(r));
	if (len > 0)
		memcpy(b->blob + off + sizeof(r), key, len);
	b->blob_len += need;
	return (int64_t)off;
}

/* hset_builder_add - add key -> val; 1 if the key was there (first value
 * kept), 0 if added, -1 on allocation failure or a key past the 4 GiB limit */
int
hset_builder_add(struct hset_builder *b, const char *key, size_t len, uint32_t val)
{
	size_t i;
	int64_t off;
	uint64_t h;

	if (b == NULL || len >= UINT32_MAX)
		return -1;
	h = hset_hash(key, len);
	i = hset_find(b->slots, b->mask, b->blob, key, len, h);
	if (b->slots[i] != 0)
		return 1;
	if ((b->count + 1) * 2 > b->mask + 1) {
		if (hset_grow(b) < 0)
			return -1;
		i = hset_find(b->slots, b->mask, b->blob, key, len, h);
	}
	off = hset_blob_append(b, key, len, val);
	if (off < 0)
		return -1;
	b->slots[i] = (h >> 32) << 32 | (uint64_t)((uint32_t)off + 1);
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
	return hset_get_hashed(h, key, len, hset_hash(key, len));
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
