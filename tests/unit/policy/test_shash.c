/* test_shash - the keyed suffix hash and its one-walk suffix hashes
 *
 * The walk must give, for every suffix of a name, exactly what shash gives
 * for that suffix alone (the hash tables are built with shash): checked on
 * random names of every length from a small alphabet (separators, bytes
 * with the high bit set). Then what a hash table needs of it: no
 * collisions of similar keys, low bits (slot) and high bits (tag) spread
 * evenly over structured keys, a flipped byte changing half the bits, and
 * the secret mattering: keys that share a slot under one secret do not
 * under another.
 */
#include "pol_shash.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* Longest random name. */
#define NAME_MAX 200

static const char alphabet[] = "ab.@.x-09\xc3\xa9Z";

/* rnd_name - a random name of up to NAME_MAX bytes into s */
static size_t
rnd_name(char *s)
{
	size_t len = (size_t)(tap_rnd() % 4 == 0 ? tap_rnd() % NAME_MAX : tap_rnd() % 40);

	for (size_t i = 0; i < len; i++)
		s[i] = alphabet[tap_rnd() % (sizeof(alphabet) - 1)];
	return len;
}

/* test_walk_oracle - every suffix of random names (every length, so every
 * head size and chunk count) from the walk, against shash of it alone; the
 * bytes in front of the name, which the walk reads, are random */
static void
test_walk_oracle(void)
{
	static struct shash_walk w;
	char raw[SHASH_FRONT + NAME_MAX], *buf = raw + SHASH_FRONT;
	static char big[SHASH_FRONT + SHASH_WALK_MAX];
	long bad = 0, n = 0;

	for (int i = 0; i < 20000; i++) {
		size_t len = rnd_name(buf);

		for (size_t k = 0; k < SHASH_FRONT; k++)
			raw[k] = (char)tap_rnd();
		shash_walk_init(&w, buf, len);
		for (size_t off = 0; off <= len; off++, n++) {
			if (shash_walk_at(&w, off) == shash(buf + off, len - off))
				continue;
			if (bad++ < 5)
				printf("#   suffix at %zu of \"%.*s\"\n", off, (int)len, buf);
		}
	}
	is_int(bad, 0, "walk: each of %ld suffixes hashes as shash of it alone", n);

	/* the longest name a walk takes */
	for (size_t k = 0; k < sizeof(big); k++)
		big[k] = alphabet[k % (sizeof(alphabet) - 1)];
	shash_walk_init(&w, big + SHASH_FRONT, SHASH_WALK_MAX);
	ok(shash_walk_at(&w, 0) == shash(big + SHASH_FRONT, SHASH_WALK_MAX) &&
	           shash_walk_at(&w, 7) == shash(big + SHASH_FRONT + 7, SHASH_WALK_MAX - 7) &&
	           shash_walk_at(&w, SHASH_WALK_MAX) == shash(big, 0),
	   "walk: a name of SHASH_WALK_MAX bytes");
}

/* test_distinct - keys that differ only in structure hash apart */
static void
test_distinct(void)
{
	static const char *const keys[] = {"",
	                                   ".",
	                                   "@",
	                                   "..",
	                                   ".@",
	                                   "@.",
	                                   "a.b",
	                                   "a@b",
	                                   "ab",
	                                   "a.b.",
	                                   ".a.b",
	                                   "ab.c",
	                                   "a.bc",
	                                   "abc",
	                                   "a.b.c",
	                                   "a@b.c",
	                                   "a.b@c",
	                                   "abcd.e",
	                                   "abcde",
	                                   "abcdefgh",
	                                   "abcdefgh.",
	                                   "abcdefghi",
	                                   "abcdefg.h",
	                                   "x@example.com",
	                                   "x@example.co.m",
	                                   "xexample.com",
	                                   "example.com",
	                                   "com",
	                                   "a\xc3\xa9",
	                                   "a\xe9"};
	size_t n = sizeof(keys) / sizeof(keys[0]);
	int same = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (shash(keys[i], strlen(keys[i])) == shash(keys[j], strlen(keys[j]))) {
				printf("#   \"%s\" and \"%s\" collide\n", keys[i], keys[j]);
				same++;
			}
	is_int(same, 0, "%zu structurally close keys: all hashes distinct", n);
}

/* chi2 - of counts in nb buckets against the uniform expectation */
static double
chi2(const unsigned *c, unsigned nb, unsigned n)
{
	double e = (double)n / nb, x = 0;

	for (unsigned i = 0; i < nb; i++)
		x += ((double)c[i] - e) * ((double)c[i] - e) / e;
	return x;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* test_spread - structured keys (as a policy's lists hold them) fill the
 * slots and tags evenly: chi-square of 4,096 buckets of the low 12 bits and
 * of bits 32-43, within 6 standard deviations of its mean */
static void
test_spread(void)
{
	enum { N = 200000, NB = 4096 };
	static unsigned lo[NB], hi[NB];
	uint64_t *all = malloc(N * sizeof(*all));
	double dev = 6 * 90.5; /* sqrt(2 * 4095) */
	char k[64];
	size_t dup = 0;

	for (unsigned i = 0; i < N; i++) {
		int len;

		switch (i % 3) {
		case 0:
			len = snprintf(k, sizeof(k), "user%u@host%u.example.com", i / 3, i % 97);
			break;
		case 1:
			len = snprintf(k, sizeof(k), "mx%u.dyn%u.example.net", i / 3, i % 7);
			break;
		default:
			len = snprintf(k, sizeof(k), "%u.%u.%u.in-addr.arpa", i & 255,
			               (i >> 8) & 255, i >> 16);
			break;
		}
		all[i] = shash(k, (size_t)len);
		lo[all[i] % NB]++;
		hi[(all[i] >> 32) % NB]++;
	}
	printf("# chi-square: low bits %.0f, tag bits %.0f (mean %d)\n", chi2(lo, NB, N),
	       chi2(hi, NB, N), NB - 1);
	ok(chi2(lo, NB, N) < NB - 1 + dev, "spread: low bits (the slot) of %d keys", N);
	ok(chi2(hi, NB, N) < NB - 1 + dev, "spread: high bits (the tag) of %d keys", N);
	qsort(all, N, sizeof(*all), u64_cmp);
	for (unsigned i = 1; i < N; i++)
		dup += all[i] == all[i - 1];
	is_int(dup, 0, "spread: no 64-bit collision among %d keys", N);
	free(all);
}

/* test_avalanche - one byte changed flips about half of the 64 bits */
static void
test_avalanche(void)
{
	char a[40], b[40];
	double sum = 0;
	const int n = 20000;

	for (int i = 0; i < n; i++) {
		size_t len = 1 + tap_rnd() % sizeof(a), p = tap_rnd() % len;

		for (size_t j = 0; j < len; j++)
			a[j] = alphabet[tap_rnd() % (sizeof(alphabet) - 1)];
		memcpy(b, a, len);
		b[p] = (char)(b[p] ^ (1 + tap_rnd() % 255));
		sum += __builtin_popcountll(shash(a, len) ^ shash(b, len));
	}
	printf("# bits flipped by one byte: %.2f of 64\n", sum / n);
	ok(sum / n > 30 && sum / n < 34, "avalanche: one byte flips 30-34 bits on average");
}

/* test_keyed - the secret decides: a key's hash moves with it, and keys
 * that share the low 12 bits under one secret are spread under another
 * (a flood of keys aimed at one slot does not carry over) */
static void
test_keyed(void)
{
	enum { N = 40000 };
	char k[32];
	int moved = 0, still = 0, pairs = 0;
	uint64_t first = 0;

	shash_secret_set(1);
	for (unsigned i = 0; i < N; i++) {
		int len = snprintf(k, sizeof(k), "u%u@flood.example", i);
		uint64_t h1 = shash(k, (size_t)len), h2;

		shash_secret_set(2);
		h2 = shash(k, (size_t)len);
		shash_secret_set(1);
		moved += h1 != h2;
		if ((h1 & 4095) != 0)
			continue; /* keys aimed at slot 0 under secret 1 */
		pairs++;
		shash_secret_set(2);
		still += (h2 & 4095) == (first & 4095) && pairs > 1;
		if (pairs == 1)
			first = h2;
		shash_secret_set(1);
	}
	is_int(moved, N, "keyed: all %d hashes change with the secret", N);
	printf("# %d keys in slot 0 under secret 1, %d of them together under secret 2\n", pairs,
	       still + 1);
	ok(pairs >= 3 && still <= 1, "keyed: a slot's keys under one secret scatter under another");
}

int
main(void)
{
	tap_seed(0x1ab31ab3);
	test_walk_oracle();
	test_distinct();
	test_spread();
	test_avalanche();
	test_keyed();
	return done_testing();
}
