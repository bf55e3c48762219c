/* pol_shash - a keyed string hash whose state is shared by all suffixes
 *
 * A string s of len bytes is cut into 8-byte chunks counted from its end,
 * c1 = s[len-8..len), c2 = s[len-16..len-8), ..., and a head of len % 8
 * bytes in front. The state after k chunks is
 *
 *	st0 = k0,  st(k+1) = mum(st(k) ^ k1, c(k+1) ^ k2)
 *
 * and the hash is mum(st(len / 8) ^ len ^ k3, head ^ k4), the head read
 * as a little-endian integer. A suffix of s ends where s ends, so its
 * chunks are s's last ones: with s's states at hand (one walk, a multiply
 * per chunk), the hash of every suffix costs its head and one multiply.
 * The old code hashed the address, the domain and each parent domain with
 * XXH3 from scratch, reading the tail once for each.
 *
 * Keyed: the secret words are drawn from getrandom() before main(). mum()
 * folds a full 64x64->128-bit product, as wyhash does; without the words
 * neither a client nor a policy author can aim keys at one slot or one tag
 * of a table (the tables are only read: long probe runs are all they could
 * cause). Not a MAC; what the seeded XXH3 before it was. The bytes hashed
 * are the client's, read only within [s, s + len).
 */
#include "pol_shash.h"

#include <string.h>

#include <sys/random.h>
#include <time.h>

uint64_t shash_key[SHASH_K_COUNT];

/* splitmix - the secret words from one 64-bit seed */
static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void
shash_secret_set(uint64_t seed)
{
	for (unsigned i = 0; i < SHASH_K_COUNT; i++)
		shash_key[i] = splitmix(&seed);
}

/* shash_secret_init - draw the secret before main(), while there is one thread */
__attribute__((constructor)) static void
shash_secret_init(void)
{
	uint64_t x;

	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
		x = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&x;
	shash_secret_set(x);
}

uint64_t
shash(const char *s, size_t len)
{
	uint64_t st = shash_key[SHASH_K_SEED];

	for (size_t end = len; end >= 8; end -= 8)
		st = shash_step(st, s + end - 8);
	return shash_finish(st, len, s);
}
