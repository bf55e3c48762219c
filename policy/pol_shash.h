/* pol_shash - a keyed string hash whose state is shared by all suffixes
 *
 * A name lookup wants the hashes of an address, its domain and every parent
 * domain: suffixes of one string, which all end where it ends. shash reads
 * a string in 8-byte chunks counted from its end, so every suffix of a
 * string goes through the same chunk states as the string itself; a walk
 * (shash_walk_init) computes those states once, and the hash of any suffix
 * is then one partial chunk and one multiply (shash_walk_at), equal to
 * what shash gives for that suffix alone, which is what the hash tables are
 * built with (pol_hset.c).
 *
 * Inline: the walk runs for every input, and the calls cost a third of it.
 */
#ifndef POL_SHASH_H
#define POL_SHASH_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Longest string a walk takes: an input (pol.h POL_MAX_INPUT) with room. */
#define SHASH_WALK_MAX 1024
/* Readable bytes a walked string needs in front of it (shash_walk_at). */
#define SHASH_FRONT 8

enum { SHASH_K_SEED, SHASH_K_ST, SHASH_K_CHUNK, SHASH_K_LEN, SHASH_K_HEAD, SHASH_K_COUNT };

/* The secret words, drawn before main() (pol_shash.c); read only. */
extern uint64_t shash_key[SHASH_K_COUNT];

struct shash_walk {
	const char *s;
	size_t len;
	uint64_t st[SHASH_WALK_MAX / 8 + 1]; /* st[k]: the state after the last k chunks */
};

/* shash - the hash of len bytes at s, read only within them */
uint64_t shash(const char *s, size_t len);

/* shash_secret_set - replace the process's secret (tests: the same inputs
 * under two secrets must hash apart); never while tables built under the
 * old one are in use */
void shash_secret_set(uint64_t seed);

/* shash_mum - both halves of the 128-bit product, folded (as wyhash) */
static inline uint64_t
shash_mum(uint64_t a, uint64_t b)
{
	unsigned __int128 p = (unsigned __int128)a * b;

	return (uint64_t)p ^ (uint64_t)(p >> 64);
}

/* shash_head - n < 8 bytes at p as an integer, first byte lowest, read within them */
static inline uint64_t
shash_head(const char *p, size_t n)
{
	uint32_t a, b;
	uint16_t c;

	if (n >= 4) {
		memcpy(&a, p, 4);
		memcpy(&b, p + n - 4, 4);
		a = le32toh(a);
		b = le32toh(b);
		return (uint64_t)a | ((uint64_t)b >> (8 * (8 - n))) << 32;
	}
	if (n >= 2) {
		memcpy(&c, p, 2);
		c = le16toh(c);
		return n == 3 ? (uint64_t)c | (uint64_t)(unsigned char)p[2] << 16 : c;
	}
	return n == 1 ? (unsigned char)p[0] : 0;
}

static inline uint64_t
shash_load64(const char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return le64toh(w);
}

/* shash_step - the state after one more chunk */
static inline uint64_t
shash_step(uint64_t st, const char *chunk)
{
	return shash_mum(st ^ shash_key[SHASH_K_ST],
	                 shash_load64(chunk) ^ shash_key[SHASH_K_CHUNK]);
}

/* shash_finish - the hash from the state after len / 8 chunks and the head at s */
static inline uint64_t
shash_finish(uint64_t st, size_t len, const char *s)
{
	return shash_mum(st ^ len ^ shash_key[SHASH_K_LEN],
	                 shash_head(s, len % 8) ^ shash_key[SHASH_K_HEAD]);
}

/* shash_walk_init - the chunk states of s[0..len), len <= SHASH_WALK_MAX;
 * s has SHASH_FRONT readable bytes in front of it */
static inline void
shash_walk_init(struct shash_walk *w, const char *s, size_t len)
{
	size_t k = 0;

	w->s = s;
	w->len = len;
	w->st[0] = shash_key[SHASH_K_SEED];
	for (size_t end = len; end >= 8; end -= 8, k++)
		w->st[k + 1] = shash_step(w->st[k], s + end - 8);
}

/* shash_walk_at - shash(s + off, len - off) from the walk's states. The
 * head is the top of the 8 bytes that end where it ends, one load and a
 * shift instead of shash_head's branches: the bytes in front of s are read
 * (and shifted out), so s must have SHASH_FRONT readable bytes before it. */
static inline uint64_t
shash_walk_at(const struct shash_walk *w, size_t off)
{
	size_t len = w->len - off, hl = len % 8;
	uint64_t x = shash_load64(w->s + off + hl - 8);

	/* x >> (64 - 8 hl) in two steps, so that hl = 0 gives 0 */
	return shash_mum(w->st[len / 8] ^ len ^ shash_key[SHASH_K_LEN],
	                 ((x >> (63 - 8 * hl)) >> 1) ^ shash_key[SHASH_K_HEAD]);
}

#endif
