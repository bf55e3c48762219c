/* pol_cidr - IPv4 and IPv6 prefixes, and a compact longest-prefix-match table
 *
 * The policy's client lists (lan, relay.allow_clients, blacklist and
 * whitelist clients) hold up to some 100,000 prefixes. DPDK's rte_lpm needs
 * EAL and a large table (130 MiB for 100,000 prefixes with 65,536 tbl8s),
 * and the CLI links this code with no EAL, so the table is our own: prefixes
 * are flattened into sorted disjoint ranges, each carrying the value of the
 * longest prefix that covers it, and a lookup is a binary search narrowed by
 * a 65,536-entry index on the top 16 bits (IPv4 and IPv6). bench/bench_cidr
 * measured it 1.5-2.5x faster than rte_lpm and 10x faster than rte_lpm6 at
 * this size, in 75x less memory.
 */
#ifndef POL_CIDR_H
#define POL_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CIDR_NONE UINT32_MAX /* lookup result when no prefix covers the address */

struct cidr {
	uint8_t family;   /* 4 or 6 */
	uint8_t len;      /* prefix length: 0..32 or 0..128 */
	uint8_t addr[16]; /* network byte order; IPv4 uses the first 4 bytes */
};

enum cidr_parse_err {
	CIDR_OK = 0,
	CIDR_ESYNTAX,   /* not an address or prefix */
	CIDR_ELEN,      /* prefix length missing, not a number or too long */
	CIDR_EHOSTBITS, /* bits set beyond the prefix length (192.0.2.1/24) */
};

/* cidr_parse - "192.0.2.0/24", "192.0.2.1" (a /32), "2001:db8::/32", "::1",
 * "[2001:db8::]/32" and "[::1]" (brackets as in Postfix cidr tables) */
enum cidr_parse_err cidr_parse(const char *s, struct cidr *out);
const char *cidr_strerror(enum cidr_parse_err e);
/* cidr_addr_parse - a single address (no length, brackets allowed); 0 or -1 */
int cidr_addr_parse(const char *s, struct cidr *out);
/* cidr_format - "192.0.2.0/24"; buf of at least 64 bytes */
char *cidr_format(const struct cidr *c, char *buf, size_t size);
/* cidr_contains - whether the prefix c covers the address a (same family) */
bool cidr_contains(const struct cidr *c, const struct cidr *a);

struct cidr_table;

/* cidr_table_build - a table of n prefixes of both families; vals[i] is the
 * value of v[i], returned by lookups of addresses whose longest covering
 * prefix is v[i]. Of identical prefixes, the first one's value wins.
 * Returns NULL on allocation failure only. */
struct cidr_table *cidr_table_build(const struct cidr *v, const uint32_t *vals, size_t n);
/* cidr_lookup4 - addr in host byte order */
uint32_t cidr_lookup4(const struct cidr_table *t, uint32_t addr);
/* cidr_lookup6 - addr in network byte order */
uint32_t cidr_lookup6(const struct cidr_table *t, const uint8_t addr[16]);
/* cidr_lookup - by a struct cidr holding an address (len ignored) */
uint32_t cidr_lookup(const struct cidr_table *t, const struct cidr *a);
/* cidr_table_remap - give each range of t the value fn returns for the
 * range's first address. Every address of a range has the same prefixes of t
 * covering it, so when fn is a function of lookups in tables built from
 * prefixes of t, the result answers for all of them in one lookup. */
void cidr_table_remap(struct cidr_table *t, uint32_t (*fn)(void *arg, const struct cidr *a),
                      void *arg);
size_t cidr_table_count(const struct cidr_table *t, int family); /* prefixes given */
size_t cidr_table_mem(const struct cidr_table *t);               /* bytes allocated */
void cidr_table_free(struct cidr_table *t);

#endif
