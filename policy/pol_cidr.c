/* pol_cidr - IPv4 and IPv6 prefixes, and a compact longest-prefix-match table
 *
 * Parsing: the address part goes to inet_pton, so what it accepts is what
 * glibc accepts (dotted quads only for IPv4, no leading zeros). Brackets are
 * allowed around IPv6 addresses only ("[2001:db8::]/32", "[::1]"), never around
 * the length. The length is one to three decimal digits, nothing else (no
 * sign, no spaces). As in Postfix cidr tables, a prefix with bits set beyond
 * its length is an error (CIDR_EHOSTBITS) rather than silently masked: the
 * author most likely meant something else. Patterns are untrusted text: the
 * address is copied into a fixed buffer only after its length is checked.
 *
 * The table: each family's prefixes are sorted by (start, length, position)
 * and swept with a stack (prefixes are either nested or disjoint) into
 * breakpoints, start[i] .. start[i+1]-1 carrying the value of the longest
 * prefix covering it (CIDR_NONE for uncovered gaps). Neighbours with equal
 * values are merged, so the table holds at most 2n+1 ranges. A lookup finds
 * the last breakpoint at or below the address. For IPv4, a 65,537-entry index
 * on the top 16 bits gives the few breakpoints of that /16 (often just one);
 * it costs 256 KiB, so tables of few ranges go without it. IPv4 ranges are
 * (start, value) pairs, so the value found is in the cache line just read.
 * IPv6 ranges are 128-bit integers, with the same kind of index on their top
 * 16 bits (a 2000::/3 address space spreads over 8,192 of its entries).
 *
 * IPv4-mapped IPv6 (::ffff:a.b.c.d): a client may arrive on an IPv6 socket as
 * a mapped address, and it is the same host as a.b.c.d. So cidr_lookup6 and
 * cidr_lookup look mapped addresses up as the IPv4 address, and a table
 * prefix inside ::ffff:0:0/96 (length 96 or more) is stored as the IPv4
 * prefix it maps (::ffff:192.0.2.0/120 is 192.0.2.0/24) and competes with
 * the IPv4 prefixes as if written that way. An IPv6 prefix shorter than /96
 * (::/0, ::/8) does not match mapped addresses. cidr_table_count still counts
 * prefixes by the family they were given in. cidr_contains does not map: it
 * compares prefixes and addresses of the same family only.
 *
 * The table is read-only once built and may be read by any number of threads.
 */
#include "pol_cidr.h"

#include <arpa/inet.h>
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* The longest textual address inet_pton may accept, with room to spare. */
#define CIDR_ADDR_TEXT_MAX 64
/* A length is at most "128": more digits is an error, not a big number. */
#define CIDR_LEN_DIGITS_MAX 3
/* Below this many ranges, a binary search over all of them is cheap enough,
 * and a 256 KiB index is not worth it. */
#define CIDR_INDEX_MIN  64
#define CIDR_INDEX_SIZE (65536 + 1)

/* An IPv4 range: from start up to the next range's start, the value val. */
struct cidr_range4 {
	uint32_t start;
	uint32_t val;
};

struct cidr_table {
	size_t n4, n6;            /* prefixes given, by the family they were given in */
	size_t r4, r6;            /* ranges (breakpoints); at least 1 each */
	struct cidr_range4 *rng4; /* r4 ranges by ascending start; rng4[0].start == 0 */
	uint32_t *idx4;           /* NULL or CIDR_INDEX_SIZE: see cidr_index_new */
	u128 *start6;             /* r6 ascending range starts; start6[0] == 0 */
	uint32_t *val6;           /* r6 values */
	uint32_t *idx6;           /* NULL or CIDR_INDEX_SIZE, on the top 16 bits */
	size_t mem;               /* bytes allocated, this struct included */
};

/* A prefix while the table is built, both families as 128-bit integers. */
struct cidr_ent {
	u128 start;   /* network address; IPv4 in the low 32 bits */
	uint32_t val; /* the caller's value */
	uint32_t seq; /* position in the caller's array: first wins on ties */
	uint8_t len;  /* prefix length */
};

static const uint8_t cidr_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* cidr_max_len - 32 or 128 by family, 0 for an unknown family */
static unsigned
cidr_max_len(unsigned family)
{
	return family == 4 ? 32 : family == 6 ? 128 : 0;
}

/* cidr_host_bits_clear - whether the bits of addr beyond len are all zero */
static bool
cidr_host_bits_clear(const uint8_t *addr, unsigned len, unsigned bytes)
{
	unsigned i = len / 8;

	if (len % 8 != 0) {
		if ((addr[i] & (0xffu >> (len % 8))) != 0)
			return false;
		i++;
	}
	for (; i < bytes; i++)
		if (addr[i] != 0)
			return false;
	return true;
}

/* cidr_parse_addr - the address part of s, bracketed or up to '/' or the end;
 * *rest is left at what follows it. Fills family, addr and len (the maximum). */
static enum cidr_parse_err
cidr_parse_addr(const char *s, struct cidr *out, const char **rest)
{
	char buf[CIDR_ADDR_TEXT_MAX];
	const char *a = s, *end;
	bool bracket = false;
	size_t alen;

	if (*s == '[') {
		end = strchr(s, ']');
		if (end == NULL)
			return CIDR_ESYNTAX;
		a = s + 1;
		*rest = end + 1;
		bracket = true;
	} else {
		end = strchr(s, '/');
		if (end == NULL)
			end = s + strlen(s);
		*rest = end;
	}
	alen = (size_t)(end - a);
	if (alen == 0 || alen >= sizeof(buf))
		return CIDR_ESYNTAX;
	memcpy(buf, a, alen);
	buf[alen] = '\0';

	memset(out, 0, sizeof(*out));
	if (memchr(buf, ':', alen) != NULL) {
		if (inet_pton(AF_INET6, buf, out->addr) != 1)
			return CIDR_ESYNTAX;
		out->family = 6;
		out->len = 128;
	} else {
		if (bracket || inet_pton(AF_INET, buf, out->addr) != 1)
			return CIDR_ESYNTAX;
		out->family = 4;
		out->len = 32;
	}
	return CIDR_OK;
}

/* cidr_parse - parse a prefix; on CIDR_EHOSTBITS, out holds it as written */
enum cidr_parse_err
cidr_parse(const char *s, struct cidr *out)
{
	enum cidr_parse_err e;
	const char *rest, *p;
	unsigned len = 0, max;
	int digits = 0;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return CIDR_ESYNTAX;
	e = cidr_parse_addr(s, out, &rest);
	if (e != CIDR_OK)
		return e;
	max = cidr_max_len(out->family);
	if (*rest == '\0')
		return CIDR_OK;
	if (*rest != '/')
		return CIDR_ESYNTAX; /* "[::1]x" */
	for (p = rest + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || ++digits > CIDR_LEN_DIGITS_MAX)
			return CIDR_ELEN;
		len = len * 10 + (unsigned)(*p - '0');
	}
	if (digits == 0 || len > max)
		return CIDR_ELEN;
	out->len = (uint8_t)len;
	if (!cidr_host_bits_clear(out->addr, len, max / 8))
		return CIDR_EHOSTBITS;
	return CIDR_OK;
}

/* cidr_strerror - a short description of a parse error */
const char *
cidr_strerror(enum cidr_parse_err e)
{
	switch (e) {
	case CIDR_OK:
		return "no error";
	case CIDR_ESYNTAX:
		return "not an IPv4 or IPv6 address or prefix";
	case CIDR_ELEN:
		return "prefix length missing, not a number or too long";
	case CIDR_EHOSTBITS:
		return "address has bits set beyond the prefix length";
	}
	return "unknown error";
}

/* cidr_addr_parse - a single address, brackets allowed around IPv6 */
int
cidr_addr_parse(const char *s, struct cidr *out)
{
	const char *rest;

	memset(out, 0, sizeof(*out));
	if (s == NULL || cidr_parse_addr(s, out, &rest) != CIDR_OK || *rest != '\0')
		return -1;
	return 0;
}

/* cidr_format - "192.0.2.0/24" or "2001:db8::/32"; NULL if invalid or buf too small */
char *
cidr_format(const struct cidr *c, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if ((c->family != 4 && c->family != 6) || c->len > cidr_max_len(c->family))
		return NULL;
	if (inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a, sizeof(a)) == NULL)
		return NULL;
	n = snprintf(buf, size, "%s/%u", a, (unsigned)c->len);
	if (n < 0 || (size_t)n >= size)
		return NULL;
	return buf;
}

/* cidr_contains - whether the prefix c covers the address a (same family) */
bool
cidr_contains(const struct cidr *c, const struct cidr *a)
{
	unsigned len = c->len, i = len / 8;

	if (c->family != a->family || len > cidr_max_len(c->family))
		return false;
	if (memcmp(c->addr, a->addr, i) != 0)
		return false;
	if (len % 8 == 0)
		return true;
	return ((c->addr[i] ^ a->addr[i]) & (0xff00u >> (len % 8))) == 0;
}

/* cidr_u128 - a 16-byte network-order address as an integer */
static u128
cidr_u128(const uint8_t *b)
{
	uint64_t hi, lo;

	memcpy(&hi, b, 8);
	memcpy(&lo, b + 8, 8);
	return (u128)be64toh(hi) << 64 | be64toh(lo);
}

/* cidr_u32 - a 4-byte network-order address as an integer */
static uint32_t
cidr_u32(const uint8_t *b)
{
	uint32_t v;

	memcpy(&v, b, 4);
	return ntohl(v);
}

/* cidr_host_mask - the host part of a prefix of len in an address of bits */
static u128
cidr_host_mask(unsigned len, unsigned bits)
{
	if (bits - len >= 128)
		return ~(u128)0;
	return ((u128)1 << (bits - len)) - 1;
}

/* cidr_ent_cmp - by start, then shorter first, then given order */
static int
cidr_ent_cmp(const void *pa, const void *pb)
{
	const struct cidr_ent *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* A growing list of breakpoints, merged as they are emitted. */
struct cidr_bps {
	u128 *start;
	uint32_t *val;
	size_t n;
};

/* cidr_emit - from pos on, the value is v (a later emit at pos overrides) */
static void
cidr_emit(struct cidr_bps *b, u128 pos, uint32_t v)
{
	if (b->start[b->n - 1] == pos) {
		b->val[b->n - 1] = v;
		if (b->n > 1 && b->val[b->n - 2] == v)
			b->n--;
		return;
	}
	if (b->val[b->n - 1] == v)
		return;
	b->start[b->n] = pos;
	b->val[b->n] = v;
	b->n++;
}

/* cidr_sweep - sort the prefixes of one family and flatten them into b,
 * which has room for 2n+1 breakpoints */
static void
cidr_sweep(struct cidr_ent *e, size_t n, unsigned bits, struct cidr_bps *b)
{
	/* Nested prefixes have distinct lengths: the stack is at most bits+1 deep. */
	const struct cidr_ent *stack[129];
	const u128 top = cidr_host_mask(0, bits);
	size_t sp = 0;

	qsort(e, n, sizeof(*e), cidr_ent_cmp);
	b->start[0] = 0;
	b->val[0] = CIDR_NONE;
	b->n = 1;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && e[i].start == e[i - 1].start && e[i].len == e[i - 1].len)
			continue; /* a duplicate: the first one (lowest seq) is kept */
		while (sp > 0) {
			u128 end = stack[sp - 1]->start | cidr_host_mask(stack[sp - 1]->len, bits);

			if (end >= e[i].start)
				break;
			sp--;
			cidr_emit(b, end + 1, sp > 0 ? stack[sp - 1]->val : CIDR_NONE);
		}
		cidr_emit(b, e[i].start, e[i].val);
		stack[sp++] = &e[i];
	}
	while (sp > 0) {
		u128 end = stack[sp - 1]->start | cidr_host_mask(stack[sp - 1]->len, bits);

		sp--;
		if (end != top)
			cidr_emit(b, end + 1, sp > 0 ? stack[sp - 1]->val : CIDR_NONE);
	}
}

/* cidr_shrink - realloc p down to size, keeping p if that fails */
static void *
cidr_shrink(void *p, size_t size)
{
	void *q = realloc(p, size > 0 ? size : 1);

	return q != NULL ? q : p;
}

/* cidr_index_new - an index of CIDR_INDEX_SIZE entries, or NULL; entry h is
 * filled by the caller with the last range starting at or below h << (bits -
 * 16), so the ranges of an address of top bits h are idx[h] .. idx[h + 1] */
static uint32_t *
cidr_index_new(struct cidr_table *t)
{
	uint32_t *idx = malloc(CIDR_INDEX_SIZE * sizeof(*idx));

	if (idx != NULL)
		t->mem += CIDR_INDEX_SIZE * sizeof(*idx);
	return idx;
}

/* cidr_build4 - the IPv4 ranges and index of t from e */
static int
cidr_build4(struct cidr_table *t, struct cidr_ent *e, size_t n)
{
	struct cidr_bps b = {0};
	int ret = -1;

	b.start = malloc((2 * n + 1) * sizeof(*b.start));
	b.val = malloc((2 * n + 1) * sizeof(*b.val));
	if (b.start == NULL || b.val == NULL)
		goto out;
	cidr_sweep(e, n, 32, &b);

	t->r4 = b.n;
	t->rng4 = malloc(b.n * sizeof(*t->rng4));
	if (t->rng4 == NULL)
		goto out;
	t->mem += b.n * sizeof(*t->rng4);
	for (size_t i = 0; i < b.n; i++)
		t->rng4[i] = (struct cidr_range4){.start = (uint32_t)b.start[i], .val = b.val[i]};

	if (b.n >= CIDR_INDEX_MIN) {
		size_t j = 0;

		t->idx4 = cidr_index_new(t);
		if (t->idx4 == NULL)
			goto out;
		for (uint32_t h = 0; h < 65536; h++) {
			while (j + 1 < b.n && t->rng4[j + 1].start <= h << 16)
				j++;
			t->idx4[h] = (uint32_t)j;
		}
		t->idx4[65536] = (uint32_t)(b.n - 1);
	}
	ret = 0;
out:
	free(b.start);
	free(b.val);
	return ret;
}

/* cidr_build6 - the IPv6 ranges and index of t from e */
static int
cidr_build6(struct cidr_table *t, struct cidr_ent *e, size_t n)
{
	struct cidr_bps b = {0};

	b.start = malloc((2 * n + 1) * sizeof(*b.start));
	b.val = malloc((2 * n + 1) * sizeof(*b.val));
	if (b.start == NULL || b.val == NULL) {
		free(b.start);
		free(b.val);
		return -1;
	}
	cidr_sweep(e, n, 128, &b);
	t->r6 = b.n;
	t->start6 = cidr_shrink(b.start, b.n * sizeof(*b.start));
	t->val6 = cidr_shrink(b.val, b.n * sizeof(*b.val));
	t->mem += b.n * (sizeof(*t->start6) + sizeof(*t->val6));

	if (b.n >= CIDR_INDEX_MIN) {
		size_t j = 0;

		t->idx6 = cidr_index_new(t);
		if (t->idx6 == NULL)
			return -1;
		for (uint32_t h = 0; h < 65536; h++) {
			while (j + 1 < b.n && t->start6[j + 1] <= (u128)h << 112)
				j++;
			t->idx6[h] = (uint32_t)j;
		}
		t->idx6[65536] = (uint32_t)(b.n - 1);
	}
	return 0;
}

/* cidr_table_build - flatten n prefixes into a table. Entries of an unknown
 * family or a too long length are skipped; host bits are ignored (masked);
 * vals == NULL gives each prefix its index as value. */
struct cidr_table *
cidr_table_build(const struct cidr *v, const uint32_t *vals, size_t n)
{
	struct cidr_table *t;
	struct cidr_ent *e4 = NULL, *e6 = NULL;
	size_t n4 = 0, n6 = 0, k4 = 0, k6 = 0;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->mem = sizeof(*t);
	for (size_t i = 0; i < n; i++) {
		if (v[i].family == 4 && v[i].len <= 32)
			n4++;
		else if (v[i].family == 6 && v[i].len <= 128)
			n6++;
	}
	t->n4 = n4;
	t->n6 = n6;
	/* Mapped IPv6 prefixes may move to the IPv4 side: room for all there. */
	e4 = malloc((n4 + n6 + 1) * sizeof(*e4));
	e6 = malloc((n6 + 1) * sizeof(*e6));
	if (e4 == NULL || e6 == NULL)
		goto fail;

	for (size_t i = 0; i < n; i++) {
		const struct cidr *c = &v[i];
		struct cidr_ent x = {.val = vals != NULL ? vals[i] : (uint32_t)i,
		                     .seq = (uint32_t)i};

		if (c->family == 4 && c->len <= 32) {
			x.len = c->len;
			x.start = cidr_u32(c->addr) & ~(uint32_t)cidr_host_mask(c->len, 32);
			e4[k4++] = x;
		} else if (c->family == 6 && c->len >= 96 && c->len <= 128 &&
		           memcmp(c->addr, cidr_mapped_prefix, 12) == 0) {
			x.len = (uint8_t)(c->len - 96);
			x.start = cidr_u32(c->addr + 12) & ~(uint32_t)cidr_host_mask(x.len, 32);
			e4[k4++] = x;
		} else if (c->family == 6 && c->len <= 128) {
			x.len = c->len;
			x.start = cidr_u128(c->addr) & ~cidr_host_mask(c->len, 128);
			e6[k6++] = x;
		}
	}
	if (cidr_build4(t, e4, k4) < 0 || cidr_build6(t, e6, k6) < 0)
		goto fail;
	free(e4);
	free(e6);
	return t;
fail:
	free(e4);
	free(e6);
	cidr_table_free(t);
	return NULL;
}

/* cidr_lookup4 - the value of the longest prefix covering addr (host order) */
uint32_t
cidr_lookup4(const struct cidr_table *t, uint32_t addr)
{
	const struct cidr_range4 *r = t->rng4;
	size_t lo = 0, hi = t->r4 - 1;

	if (t->idx4 != NULL) {
		lo = t->idx4[addr >> 16];
		hi = t->idx4[(addr >> 16) + 1];
	}
	/* The last range starting at or below addr, r[lo].start <= addr holding:
	 * branch-free, as the outcome of each step is a coin toss. */
	for (size_t n = hi - lo + 1; n > 1; n -= n / 2)
		lo = r[lo + n / 2].start <= addr ? lo + n / 2 : lo;
	return r[lo].val;
}

/* cidr_lookup6 - the value of the longest prefix covering addr (network
 * order); a mapped address is looked up as IPv4 */
uint32_t
cidr_lookup6(const struct cidr_table *t, const uint8_t addr[16])
{
	const u128 *s = t->start6;
	size_t lo = 0, hi = t->r6 - 1;
	u128 a;

	if (memcmp(addr, cidr_mapped_prefix, 12) == 0)
		return cidr_lookup4(t, cidr_u32(addr + 12));
	a = cidr_u128(addr);
	if (t->idx6 != NULL) {
		lo = t->idx6[a >> 112];
		hi = t->idx6[(a >> 112) + 1];
	}
	for (size_t n = hi - lo + 1; n > 1; n -= n / 2)
		lo = s[lo + n / 2] <= a ? lo + n / 2 : lo;
	return t->val6[lo];
}

/* cidr_lookup - by a struct cidr holding an address (len ignored) */
uint32_t
cidr_lookup(const struct cidr_table *t, const struct cidr *a)
{
	if (a->family == 4)
		return cidr_lookup4(t, cidr_u32(a->addr));
	if (a->family == 6)
		return cidr_lookup6(t, a->addr);
	return CIDR_NONE;
}

void
cidr_table_remap(struct cidr_table *t, uint32_t (*fn)(void *arg, const struct cidr *a), void *arg)
{
	struct cidr a = {.family = 4, .len = 32};

	for (size_t i = 0; i < t->r4; i++) {
		uint32_t x = htobe32(t->rng4[i].start);

		memcpy(a.addr, &x, 4);
		t->rng4[i].val = fn(arg, &a);
	}
	a.family = 6;
	a.len = 128;
	for (size_t i = 0; i < t->r6; i++) {
		u128 x = t->start6[i];

		for (int k = 15; k >= 0; k--, x >>= 8)
			a.addr[k] = (uint8_t)x;
		t->val6[i] = fn(arg, &a);
	}
}

/* cidr_table_count - prefixes given of family 4 or 6, or of both for any other */
size_t
cidr_table_count(const struct cidr_table *t, int family)
{
	if (family == 4)
		return t->n4;
	if (family == 6)
		return t->n6;
	return t->n4 + t->n6;
}

/* cidr_table_mem - bytes allocated for the table */
size_t
cidr_table_mem(const struct cidr_table *t)
{
	return t->mem;
}

/* cidr_table_free - free a table; NULL is fine */
void
cidr_table_free(struct cidr_table *t)
{
	if (t == NULL)
		return;
	free(t->rng4);
	free(t->idx4);
	free(t->start6);
	free(t->val6);
	free(t->idx6);
	free(t);
}
