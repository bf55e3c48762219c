/* test_hset - the read-only string hash table
 *
 * Hand-written cases for the edges (the empty key, duplicates, binary keys,
 * keys that differ in their last byte or are prefixes of each other), then
 * random key sets of up to 200,000 keys checked against a naive oracle: the
 * keys sorted with their insertion order, and a binary search. Key sets are
 * drawn from small alphabets so that duplicates and near misses are common.
 * A 32-bit tag collision is too rare to happen by chance, so one is searched
 * for (with hset_hash, as the table hashes: keyed with this run's secret)
 * and tested on its own.
 */
#include "pol_hset.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* Mismatches printed per property check before staying quiet. */
#define DIAG_MAX 5
/* Longest random key. */
#define KEY_MAX 48

static uint64_t rng_state = 0x0123456789abcdefull;

/* rnd - splitmix64, so the sequence is the same everywhere */
static uint64_t
rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* rnd_below - uniform enough in [0, n) */
static uint64_t
rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* get_s - hset_get of a C string */
static uint32_t
get_s(const struct hset *h, const char *s)
{
	return hset_get(h, s, strlen(s));
}

/* test_empty - a table of no keys */
static void
test_empty(void)
{
	struct hset_builder *b = hset_builder_new();
	struct hset *h;

	ok(b != NULL, "builder created");
	h = hset_build(b);
	ok(h != NULL, "empty table built");
	if (h == NULL)
		return;
	is_int(hset_count(h), 0, "empty: no keys");
	is_int(get_s(h, ""), HSET_NONE, "empty: no empty key");
	is_int(get_s(h, "a"), HSET_NONE, "empty: no \"a\"");
	is_int(hset_get(h, NULL, 0), HSET_NONE, "empty: NULL key of length 0");
	ok(hset_mem(h) > 0 && hset_mem(h) < 1024, "empty: small (%zu bytes)", hset_mem(h));
	hset_free(h);
	hset_free(NULL);
	ok(hset_build(NULL) == NULL, "build of NULL is NULL");
	hset_builder_free(NULL);
}

/* test_cases - edges, one table */
static void
test_cases(void)
{
	static const struct {
		const char *key;
		size_t len;
		uint32_t val;
		int ret; /* of hset_builder_add */
	} adds[] = {
	        {"", 0, 7, 0},
	        {"", 0, 8, 1}, /* duplicate empty key: first value stays */
	        {"example.org", 11, 1, 0},
	        {"example.orh", 11, 2, 0}, /* differs in the last byte */
	        {"example.or", 10, 3, 0},  /* a prefix */
	        {"example.orgx", 12, 4, 0},
	        {"example.org", 11, 5, 1}, /* duplicate */
	        {"a\0b", 3, 6, 0},         /* binary */
	        {"a\0c", 3, 9, 0},
	        {"a", 1, 10, 0},
	        {"\xff\xfe\x00\x01", 4, 11, 0},
	        {"\xff\xfe\x00\x02", 4, 12, 0},
	        {"a\0b", 3, 13, 1},
	        {"zero", 4, 0, 0},
	        {"none", 4, HSET_NONE, 0}, /* storable, though it reads as absent */
	};
	static const struct {
		const char *key;
		size_t len;
		uint32_t want;
	} gets[] = {
	        {"", 0, 7},
	        {"example.org", 11, 1},
	        {"example.orh", 11, 2},
	        {"example.or", 10, 3},
	        {"example.orgx", 12, 4},
	        {"example.ori", 11, HSET_NONE},
	        {"example.o", 9, HSET_NONE},
	        {"Example.org", 11, HSET_NONE}, /* exact bytes, no case folding */
	        {"a\0b", 3, 6},
	        {"a\0c", 3, 9},
	        {"a\0d", 3, HSET_NONE},
	        {"a\0", 2, HSET_NONE},
	        {"a", 1, 10},
	        {"\xff\xfe\x00\x01", 4, 11},
	        {"\xff\xfe\x00\x02", 4, 12},
	        {"\xff\xfe\x00\x03", 4, HSET_NONE},
	        {"zero", 4, 0},
	        {"b", 1, HSET_NONE},
	};
	struct hset_builder *b = hset_builder_new();
	struct hset *h;
	char *big;

	if (b == NULL) {
		ok(0, "builder created");
		return;
	}
	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++)
		is_int(hset_builder_add(b, adds[i].key, adds[i].len, adds[i].val), adds[i].ret,
		       "add #%zu (%zu bytes)", i, adds[i].len);
	is_int(hset_builder_add(b, NULL, 0, 99), 1, "add NULL of length 0 is the empty key");
	/* a long key: 100,000 bytes, and one differing in its last byte */
	big = malloc(100000);
	memset(big, 'x', 100000);
	is_int(hset_builder_add(b, big, 100000, 20), 0, "add a 100,000-byte key");
	h = hset_build(b);
	ok(h != NULL, "table built");
	if (h == NULL) {
		free(big);
		return;
	}
	for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++)
		is_int(hset_get(h, gets[i].key, gets[i].len), gets[i].want, "get #%zu (%zu bytes)",
		       i, gets[i].len);
	is_int(hset_get(h, NULL, 0), 7, "get NULL of length 0 is the empty key");
	is_int(hset_get(h, big, 100000), 20, "get the long key");
	big[99999] = 'y';
	is_int(hset_get(h, big, 100000), HSET_NONE, "long key differing in the last byte");
	is_int(hset_get(h, big, 99999), HSET_NONE, "long key one byte short");
	is_int(hset_count(h), 13, "distinct keys counted");
	hset_free(h);
	free(big);

	/* a builder freed without building, holding keys */
	b = hset_builder_new();
	for (int i = 0; b != NULL && i < 1000; i++)
		hset_builder_add(b, (const char *)&i, sizeof(i), (uint32_t)i);
	hset_builder_free(b);
	ok(1, "builder freed unbuilt");
}

/* A key and its hash, in the search for a colliding pair. */
struct hkey {
	uint64_t cmp; /* the tag (hash bits 32..63) and hash bits 0..3 */
	uint32_t i;   /* the key is "key%07u" of i */
};

/* hkey_cmp - by cmp */
static int
hkey_cmp(const void *pa, const void *pb)
{
	const struct hkey *a = pa, *b = pb;

	return a->cmp < b->cmp ? -1 : a->cmp > b->cmp;
}

/* test_tag_collision - two keys of one 32-bit tag and one first slot (in a
 * 16-slot table): lookups must compare the bytes, not trust the tag. The pair
 * is found by sorting a million hashes (a 36-bit birthday search). */
static void
test_tag_collision(void)
{
	const uint32_t n = 1000000;
	struct hkey *v = malloc(n * sizeof(*v));
	char k1[16], k2[16];
	struct hset_builder *b;
	struct hset *h;
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint64_t x;

		snprintf(k1, sizeof(k1), "key%07u", i);
		x = hset_hash(k1, 10);
		v[i] = (struct hkey){.cmp = (x & 0xffffffff00000000ull) | (x & 15), .i = i};
	}
	qsort(v, n, sizeof(*v), hkey_cmp);
	for (i = 1; i < n && v[i].cmp != v[i - 1].cmp; i++)
		;
	ok(i < n, "a pair of keys with one tag and one first slot found");
	if (i == n) {
		free(v);
		return;
	}
	snprintf(k1, sizeof(k1), "key%07u", v[i - 1].i);
	snprintf(k2, sizeof(k2), "key%07u", v[i].i);
	free(v);
	printf("# colliding keys %s %s\n", k1, k2);

	b = hset_builder_new();
	is_int(hset_builder_add(b, k1, 10, 1), 0, "collision: first key added");
	h = hset_build(b);
	is_int(hset_get(h, k1, 10), 1, "collision: first key found");
	is_int(hset_get(h, k2, 10), HSET_NONE, "collision: second key absent");
	hset_free(h);

	b = hset_builder_new();
	is_int(hset_builder_add(b, k1, 10, 1), 0, "collision: first key added");
	is_int(hset_builder_add(b, k2, 10, 2), 0, "collision: second key is not a duplicate");
	h = hset_build(b);
	is_int(hset_get(h, k1, 10), 1, "collision: first key, own value");
	is_int(hset_get(h, k2, 10), 2, "collision: second key, own value");
	is_int(hset_get(h, k1, 9), HSET_NONE, "collision: shorter key absent");
	hset_free(h);
}

/* A key of the oracle. */
struct okey {
	const char *key;
	size_t len;
	uint32_t val;
	uint32_t seq; /* order of addition */
};

/* key_cmp - bytes, then length */
static int
key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* okey_cmp - by key, then order of addition */
static int
okey_cmp(const void *pa, const void *pb)
{
	const struct okey *a = pa, *b = pb;
	int c = key_cmp(a->key, a->len, b->key, b->len);

	if (c != 0)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* oracle - the value of key, first one added, by binary search */
static uint32_t
oracle(const struct okey *o, size_t n, const char *key, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(o[mid].key, o[mid].len, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && key_cmp(o[lo].key, o[lo].len, key, len) == 0)
		return o[lo].val;
	return HSET_NONE;
}

/* rnd_key - a random key into buf: short ones over a tiny alphabet (many
 * duplicates), domain-like ones, and binary ones; returns its length */
static size_t
rnd_key(char *buf)
{
	static const char tiny[] = "ab";
	static const char dom[] = "abcdefghijklmnopqrstuvwxyz0123456789.-";
	size_t len;

	switch (rnd_below(4)) {
	case 0:
		len = rnd_below(9);
		for (size_t i = 0; i < len; i++)
			buf[i] = tiny[rnd_below(2)];
		return len;
	case 1:
	case 2:
		len = 1 + rnd_below(KEY_MAX);
		for (size_t i = 0; i < len; i++)
			buf[i] = dom[rnd_below(sizeof(dom) - 1)];
		return len;
	default:
		len = rnd_below(KEY_MAX + 1);
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)rnd();
		return len;
	}
}

/* check_get - the table against the oracle for one key; counts mismatches */
static void
check_get(const struct hset *h, const struct okey *o, size_t n, const char *key, size_t len,
          size_t *bad)
{
	uint32_t want = oracle(o, n, key, len), got = hset_get(h, key, len);
	/* the way pol_eval looks up: the hash first, the probe later */
	uint32_t got2 = hset_get_hashed(h, key, len, hset_hash(key, len));

	if (got != want && (*bad)++ < DIAG_MAX)
		printf("#   %zu-byte key: got %u, want %u\n", len, got, want);
	if (got2 != want && (*bad)++ < DIAG_MAX)
		printf("#   %zu-byte key, hashed first: got %u, want %u\n", len, got2, want);
}

/* check_set - n random keys: add results, lookups of every key, of near
 * misses and of random keys */
static void
check_set(size_t n, int rep)
{
	char *blob = malloc(n * KEY_MAX + 1), probe[KEY_MAX + 2];
	struct okey *keys = malloc((n + 1) * sizeof(*keys)), *o = malloc((n + 1) * sizeof(*o));
	int *ret = malloc((n + 1) * sizeof(*ret));
	struct hset_builder *b = hset_builder_new();
	struct hset *h;
	size_t off = 0, bad = 0, distinct = 0, keybytes = 0;

	for (size_t i = 0; i < n; i++) {
		keys[i].key = blob + off;
		keys[i].len = rnd_key(blob + off);
		keys[i].val = rep == 0 ? (uint32_t)i : (uint32_t)rnd();
		keys[i].seq = (uint32_t)i;
		off += keys[i].len;
		ret[i] = hset_builder_add(b, keys[i].key, keys[i].len, keys[i].val);
	}
	memcpy(o, keys, n * sizeof(*o));
	qsort(o, n, sizeof(*o), okey_cmp);
	/* the first of each run of equal keys was added (0), the rest were there (1) */
	for (size_t i = 0; i < n; i++) {
		int dup = i > 0 && key_cmp(o[i - 1].key, o[i - 1].len, o[i].key, o[i].len) == 0;

		if (ret[o[i].seq] != dup && bad++ < DIAG_MAX)
			printf("#   add #%u returned %d, want %d\n", o[i].seq, ret[o[i].seq], dup);
		if (!dup) {
			o[distinct++] = o[i];
			keybytes += o[i].len;
		}
	}
	h = hset_build(b);
	if (h == NULL) {
		ok(0, "set of %zu: built", n);
		goto out;
	}
	if (hset_count(h) != distinct)
		bad++;
	for (size_t i = 0; i < n; i++) {
		const struct okey *k = &keys[rnd_below(n)];
		size_t len = k->len;

		check_get(h, o, distinct, keys[i].key, keys[i].len, &bad);
		/* a near miss: last byte changed, one byte shorter or longer */
		memcpy(probe, k->key, len);
		switch (rnd_below(3)) {
		case 0:
			if (len > 0)
				probe[len - 1] ^= (char)(1 + rnd_below(255));
			break;
		case 1:
			len -= len > 0;
			break;
		default:
			probe[len++] = (char)rnd();
		}
		check_get(h, o, distinct, probe, len, &bad);
		len = rnd_key(probe);
		check_get(h, o, distinct, probe, len, &bad);
	}
	is_int(bad, 0, "set of %zu keys (%zu distinct, rep %d): adds and %zu lookups agree", n,
	       distinct, rep, 3 * n);
	/* load factor at most 1/2, in the smallest such power of two: under 4
	 * slots of 8 bytes a key, and a record of 8 bytes, the key and at most 3
	 * bytes of alignment */
	ok(hset_mem(h) <= 8 * 4 * (distinct + 16) + keybytes + 11 * distinct + 1024 &&
	           hset_mem(h) >= 8 * 2 * distinct + keybytes + 8 * distinct,
	   "set of %zu: %zu bytes", n, hset_mem(h));
	hset_free(h);
out:
	free(blob);
	free(keys);
	free(o);
	free(ret);
}

/* test_property - random key sets against the oracle */
static void
test_property(void)
{
	static const size_t sizes[] = {1, 2, 3, 7, 8, 9, 16, 17, 100, 1000, 10000, 65536, 200000};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (int rep = 0; rep < (sizes[i] >= 65536 ? 1 : 3); rep++)
			check_set(sizes[i], rep);
}

/* main - run every group; the exit status is 1 if a case failed */
int
main(void)
{
	test_empty();
	test_cases();
	test_tag_collision();
	test_property();
	return done_testing();
}
