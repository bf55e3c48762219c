/* pol_hset - a read-only string-keyed hash table with uint32 values
 *
 * Exact addresses, domains and host names of the policy (up to some 100,000
 * per list) live here. Built once on the control thread, then only read by
 * many threads: open addressing with linear probing over a power-of-two slot
 * array, each slot holding the key's 32-bit hash tag and an offset into one
 * key blob, so a lookup touches one or two cache lines. XXH3 hashes keys.
 * Keys are byte strings compared exactly: callers normalise case first.
 */
#ifndef POL_HSET_H
#define POL_HSET_H

#include <stddef.h>
#include <stdint.h>

#define HSET_NONE UINT32_MAX /* lookup result for an absent key */

struct hset_builder;
struct hset;

struct hset_builder *hset_builder_new(void);
/* hset_builder_add - add key -> val; a key already present keeps its first
 * value and 1 is returned, else 0; -1 on allocation failure */
int hset_builder_add(struct hset_builder *b, const char *key, size_t len, uint32_t val);
/* hset_build - freeze into a lookup table (load factor at most 1/2) and free the builder */
struct hset *hset_build(struct hset_builder *b);
void hset_builder_free(struct hset_builder *b);

uint32_t hset_get(const struct hset *h, const char *key, size_t len);
size_t hset_count(const struct hset *h);
size_t hset_mem(const struct hset *h);
void hset_free(struct hset *h);

#endif
