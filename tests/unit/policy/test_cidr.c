/* test_cidr - prefix parsing and formatting, and the longest-prefix-match table
 *
 * Parsing is table-driven: valid prefixes with their formatted form, and
 * every kind of error. The table is checked against a brute-force oracle (a
 * linear scan for the longest covering prefix, the first one on ties) over
 * random prefix sets with a fixed seed: many nested and duplicate prefixes,
 * /0 and host routes, and addresses chosen at and around prefix boundaries,
 * where a flattened range table goes wrong if it goes wrong at all. A
 * million-prefix table is checked against a second oracle (one binary search
 * per prefix length), since a linear scan over it would take minutes.
 */
#include "pol_cidr.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* Mismatches printed per property check before staying quiet. */
#define DIAG_MAX 5

static uint64_t rng_state = 0x5eed5eed12345678ull;

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

/* rnd128 - 128 random bits */
static u128
rnd128(void)
{
	return (u128)rnd() << 64 | rnd();
}

/* host_mask - the host part of a prefix of len in an address of bits */
static u128
host_mask(unsigned len, unsigned bits)
{
	return bits - len >= 128 ? ~(u128)0 : ((u128)1 << (bits - len)) - 1;
}

/* to_cidr - an integer address (IPv4 in the low 32 bits) as a struct cidr */
static struct cidr
to_cidr(int family, u128 a, unsigned len)
{
	struct cidr c = {.family = (uint8_t)family, .len = (uint8_t)len};
	int bytes = family == 4 ? 4 : 16;

	for (int i = bytes - 1; i >= 0; i--, a >>= 8)
		c.addr[i] = (uint8_t)a;
	return c;
}

/* mapped - ::ffff:a as an integer */
static u128
mapped(uint32_t a)
{
	return (u128)0xffff << 32 | a;
}

/* show - s with control characters escaped, for a TAP line (two at a time) */
static const char *
show(const char *s)
{
	static char bufs[2][160];
	static int which;
	char *b = bufs[which ^= 1], *p = b;

	for (; *s != '\0' && p < b + sizeof(bufs[0]) - 5; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			p += sprintf(p, "\\x%02x", (unsigned char)*s);
		else
			*p++ = *s;
	}
	*p = '\0';
	return b;
}

/* ---- parsing ---- */

struct parse_case {
	const char *in;
	enum cidr_parse_err err;
	const char *fmt; /* cidr_format of the result when CIDR_OK or CIDR_EHOSTBITS */
};

static const struct parse_case parse_cases[] = {
        {"192.0.2.0/24", CIDR_OK, "192.0.2.0/24"},
        {"192.0.2.1", CIDR_OK, "192.0.2.1/32"},
        {"192.0.2.1/32", CIDR_OK, "192.0.2.1/32"},
        {"0.0.0.0/0", CIDR_OK, "0.0.0.0/0"},
        {"10.0.0.0/8", CIDR_OK, "10.0.0.0/8"},
        {"10.0.0.0/7", CIDR_OK, "10.0.0.0/7"},
        {"255.255.255.255", CIDR_OK, "255.255.255.255/32"},
        {"255.255.255.254/31", CIDR_OK, "255.255.255.254/31"},
        {"128.0.0.0/1", CIDR_OK, "128.0.0.0/1"},
        {"192.0.2.0/024", CIDR_OK, "192.0.2.0/24"}, /* leading zeros, three digits at most */
        {"2001:db8::/32", CIDR_OK, "2001:db8::/32"},
        {"2001:DB8::/32", CIDR_OK, "2001:db8::/32"},
        {"::1", CIDR_OK, "::1/128"},
        {"::", CIDR_OK, "::/128"},
        {"::/0", CIDR_OK, "::/0"},
        {"[2001:db8::]/32", CIDR_OK, "2001:db8::/32"},
        {"[::1]", CIDR_OK, "::1/128"},
        {"[::]/0", CIDR_OK, "::/0"},
        {"fe80::/10", CIDR_OK, "fe80::/10"},
        {"2001:db8::/127", CIDR_OK, "2001:db8::/127"},
        {"2001:db8:1:2:3:4:5:6/128", CIDR_OK, "2001:db8:1:2:3:4:5:6/128"},
        {"::ffff:192.0.2.0/120", CIDR_OK, "::ffff:192.0.2.0/120"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", CIDR_OK,
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},

        {"", CIDR_ESYNTAX, NULL},
        {" 192.0.2.0/24", CIDR_ESYNTAX, NULL},
        {"192.0.2.0 /24", CIDR_ESYNTAX, NULL},
        {"192.0.2.0 ", CIDR_ESYNTAX, NULL},
        {"192.0.2.0\n", CIDR_ESYNTAX, NULL},
        {"192.0.2", CIDR_ESYNTAX, NULL},
        {"192.0.2.256", CIDR_ESYNTAX, NULL},
        {"1.2.3.4.5", CIDR_ESYNTAX, NULL},
        {"01.2.3.4", CIDR_ESYNTAX, NULL},
        {"0x1.2.3.4", CIDR_ESYNTAX, NULL},
        {"/24", CIDR_ESYNTAX, NULL},
        {"example.com", CIDR_ESYNTAX, NULL},
        {"[192.0.2.1]", CIDR_ESYNTAX, NULL}, /* brackets are for IPv6 only */
        {"[192.0.2.0]/24", CIDR_ESYNTAX, NULL},
        {"[::1", CIDR_ESYNTAX, NULL},
        {"::1]", CIDR_ESYNTAX, NULL},
        {"[::1]x", CIDR_ESYNTAX, NULL},
        {"[::1] ", CIDR_ESYNTAX, NULL},
        {"[::1/128]", CIDR_ESYNTAX, NULL},
        {"[]", CIDR_ESYNTAX, NULL},
        {"[]/8", CIDR_ESYNTAX, NULL},
        {"[[::1]]", CIDR_ESYNTAX, NULL},
        {" ::1", CIDR_ESYNTAX, NULL},
        {"2001:db8:::/32", CIDR_ESYNTAX, NULL},
        {"2001:db8::g/32", CIDR_ESYNTAX, NULL},
        {"1:2:3:4:5:6:7:8:9", CIDR_ESYNTAX, NULL},
        {"0000000000000000000000000000000000000000000000000000000000000000000::1", CIDR_ESYNTAX,
         NULL},

        {"192.0.2.0/", CIDR_ELEN, NULL},
        {"192.0.2.0/+24", CIDR_ELEN, NULL},
        {"192.0.2.0/-1", CIDR_ELEN, NULL},
        {"192.0.2.0/33", CIDR_ELEN, NULL},
        {"192.0.2.0/100", CIDR_ELEN, NULL},
        {"192.0.2.0/0024", CIDR_ELEN, NULL},
        {"192.0.2.0/4294967320", CIDR_ELEN, NULL}, /* 2^32 + 24 */
        {"192.0.2.0/24 ", CIDR_ELEN, NULL},
        {"192.0.2.0/ 24", CIDR_ELEN, NULL},
        {"192.0.2.0/2a", CIDR_ELEN, NULL},
        {"192.0.2.0/24/8", CIDR_ELEN, NULL},
        {"192.0.2.0/24\n", CIDR_ELEN, NULL},
        {"::/129", CIDR_ELEN, NULL},
        {"::/1000", CIDR_ELEN, NULL},
        {"2001:db8::/0x20", CIDR_ELEN, NULL},
        {"[::]/", CIDR_ELEN, NULL},
        {"[2001:db8::]/+32", CIDR_ELEN, NULL},

        {"192.0.2.1/24", CIDR_EHOSTBITS, "192.0.2.1/24"},
        {"11.0.0.0/7", CIDR_EHOSTBITS, "11.0.0.0/7"},
        {"0.0.0.1/0", CIDR_EHOSTBITS, "0.0.0.1/0"},
        {"255.255.255.255/31", CIDR_EHOSTBITS, "255.255.255.255/31"},
        {"2001:db8::/16", CIDR_EHOSTBITS, "2001:db8::/16"},
        {"::1/127", CIDR_EHOSTBITS, "::1/127"},
        {"[::1]/0", CIDR_EHOSTBITS, "::1/0"},
        {"2001:db8::8000:0/96", CIDR_EHOSTBITS, "2001:db8::8000:0/96"},
};

/* test_parse - every case of parse_cases, and the round trip of the valid ones */
static void
test_parse(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *pc = &parse_cases[i];
		struct cidr c, again;
		char buf[64];
		enum cidr_parse_err e = cidr_parse(pc->in, &c);

		is_int(e, pc->err, "parse \"%s\": %s", show(pc->in), cidr_strerror(pc->err));
		if (pc->fmt == NULL || e != pc->err)
			continue;
		is_str(cidr_format(&c, buf, sizeof(buf)), pc->fmt, "format \"%s\"", show(pc->in));
		if (e != CIDR_OK)
			continue;
		ok(cidr_parse(buf, &again) == CIDR_OK && memcmp(&c, &again, sizeof(c)) == 0,
		   "round trip \"%s\"", pc->fmt);
	}
}

/* test_addr_parse - single addresses, no length */
static void
test_addr_parse(void)
{
	static const struct {
		const char *in;
		int ret;
		const char *fmt;
	} cases[] = {
	        {"192.0.2.1", 0, "192.0.2.1/32"},
	        {"::1", 0, "::1/128"},
	        {"[2001:db8::1]", 0, "2001:db8::1/128"},
	        {"::ffff:192.0.2.1", 0, "::ffff:192.0.2.1/128"},
	        {"192.0.2.1/32", -1, NULL},
	        {"::1/128", -1, NULL},
	        {"[::1]/128", -1, NULL},
	        {"[192.0.2.1]", -1, NULL},
	        {"", -1, NULL},
	        {"192.0.2.1 ", -1, NULL},
	        {"[::1", -1, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cidr c;
		char buf[64];
		int ret = cidr_addr_parse(cases[i].in, &c);

		is_int(ret, cases[i].ret, "addr_parse \"%s\"", show(cases[i].in));
		if (ret == 0 && cases[i].fmt != NULL)
			is_str(cidr_format(&c, buf, sizeof(buf)), cases[i].fmt,
			       "addr format \"%s\"", cases[i].in);
	}
}

/* test_format_edges - short buffers, bad structs, error strings */
static void
test_format_edges(void)
{
	struct cidr c, bad = {.family = 5};
	char buf[64];

	cidr_parse("192.0.2.0/24", &c);
	ok(cidr_format(&c, buf, 12) == NULL, "format into a short buffer fails");
	is_str(cidr_format(&c, buf, 13), "192.0.2.0/24", "format into an exact buffer");
	ok(cidr_format(&bad, buf, sizeof(buf)) == NULL, "format of an unknown family fails");
	c.len = 33;
	ok(cidr_format(&c, buf, sizeof(buf)) == NULL, "format of a too long length fails");
	ok(cidr_parse(NULL, &c) == CIDR_ESYNTAX, "parse NULL");
	ok(strcmp(cidr_strerror(CIDR_ESYNTAX), cidr_strerror(CIDR_ELEN)) != 0 &&
	           strcmp(cidr_strerror(CIDR_ELEN), cidr_strerror(CIDR_EHOSTBITS)) != 0,
	   "error strings differ");
}

/* test_contains - prefix against address */
static void
test_contains(void)
{
	static const struct {
		const char *prefix, *addr;
		bool want;
	} cases[] = {
	        {"192.0.2.0/24", "192.0.2.0", true},
	        {"192.0.2.0/24", "192.0.2.255", true},
	        {"192.0.2.0/24", "192.0.3.0", false},
	        {"192.0.2.0/24", "192.0.1.255", false},
	        {"192.0.2.128/25", "192.0.2.127", false},
	        {"192.0.2.128/25", "192.0.2.128", true},
	        {"10.0.0.0/9", "10.127.255.255", true},
	        {"10.0.0.0/9", "10.128.0.0", false},
	        {"0.0.0.0/0", "255.255.255.255", true},
	        {"192.0.2.1", "192.0.2.1", true},
	        {"192.0.2.1", "192.0.2.0", false},
	        {"2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
	        {"2001:db8::/32", "2001:db9::", false},
	        {"2001:db8::/33", "2001:db8:8000::", false},
	        {"::/0", "ffff::1", true},
	        {"::/0", "192.0.2.1", false},
	        {"0.0.0.0/0", "::1", false},
	        {"::ffff:0:0/96", "192.0.2.1", false}, /* no mapping in contains */
	        {"::ffff:0:0/96", "::ffff:192.0.2.1", true},
	        {"2001:db8::/127", "2001:db8::1", true},
	        {"2001:db8::/127", "2001:db8::2", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cidr p, a;

		if (cidr_parse(cases[i].prefix, &p) != CIDR_OK ||
		    cidr_addr_parse(cases[i].addr, &a)) {
			ok(0, "contains case %zu parses", i);
			continue;
		}
		is_int(cidr_contains(&p, &a), cases[i].want, "%s contains %s", cases[i].prefix,
		       cases[i].addr);
	}
}

/* lookup_str - cidr_lookup of an address in text */
static uint32_t
lookup_str(const struct cidr_table *t, const char *s)
{
	struct cidr a;

	if (cidr_addr_parse(s, &a) != 0)
		return 0xdeadbeef;
	return cidr_lookup(t, &a);
}

/* test_table_cases - small hand-written tables */
static void
test_table_cases(void)
{
	static const char *const prefixes[] = {
	        "10.0.0.0/8",
	        "10.1.0.0/16",
	        "10.1.2.0/24",
	        "10.1.2.3",
	        "10.0.0.0/8",
	        "::ffff:192.0.2.0/120",
	        "192.0.2.0/24",
	        "2001:db8::/32",
	        "2001:db8::/48",
	        "2001:db8::1",
	        "::/0",
	        "::ffff:0:0/96",
	        "255.255.255.255",
	        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	        "0.0.0.0/0",
	};
	static const struct {
		const char *addr;
		uint32_t want;
	} cases[] = {
	        {"10.0.0.0", 0},
	        {"10.255.255.255", 0},
	        {"10.1.0.0", 1},
	        {"10.1.2.2", 2},
	        {"10.1.2.3", 3},
	        {"10.1.2.4", 2},
	        {"10.1.3.0", 1},
	        {"11.0.0.0", 11},
	        {"9.255.255.255", 11},
	        {"192.0.2.7", 5}, /* the mapped /120 came first */
	        {"::ffff:192.0.2.7", 5},
	        {"::ffff:10.1.2.3", 3},
	        {"::ffff:8.8.8.8", 11},
	        {"8.8.8.8", 11}, /* ::ffff:0:0/96 is 0.0.0.0/0 and came before it */
	        {"255.255.255.255", 12},
	        {"2001:db8::1", 9},
	        {"2001:db8::2", 8},
	        {"2001:db8:1::", 7},
	        {"2001:db9::", 10},
	        {"::", 10},
	        {"::fffe:ffff:ffff", 10},
	        {"::1:0:0:0", 10},
	        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 13},
	        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 10},
	};
	size_t n = sizeof(prefixes) / sizeof(prefixes[0]);
	struct cidr v[sizeof(prefixes) / sizeof(prefixes[0])];
	uint32_t vals[sizeof(prefixes) / sizeof(prefixes[0])];
	struct cidr_table *t;
	uint8_t a6[16];

	for (size_t i = 0; i < n; i++) {
		if (cidr_parse(prefixes[i], &v[i]) != CIDR_OK)
			ok(0, "prefix %s parses", prefixes[i]);
		vals[i] = (uint32_t)i;
	}
	t = cidr_table_build(v, vals, n);
	ok(t != NULL, "small table built");
	if (t == NULL)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(lookup_str(t, cases[i].addr), cases[i].want, "lookup %s", cases[i].addr);
	is_int(cidr_table_count(t, 4), 8, "IPv4 prefixes counted");
	is_int(cidr_table_count(t, 6), 7, "IPv6 prefixes counted, mapped ones too");
	is_int(cidr_table_count(t, 0), 15, "all prefixes counted");
	is_int(cidr_lookup4(t, 0x0a010203), 3, "lookup4 takes host byte order");
	memset(a6, 0, sizeof(a6));
	a6[10] = a6[11] = 0xff;
	a6[12] = 10, a6[13] = 1, a6[14] = 2, a6[15] = 3;
	is_int(cidr_lookup6(t, a6), 3, "lookup6 of a mapped address");
	cidr_table_free(t);

	/* vals NULL: each prefix's index is its value; entries of bad families are skipped */
	v[1].family = 0;
	v[2].len = 33;
	t = cidr_table_build(v, NULL, 4);
	ok(t != NULL, "table with NULL vals built");
	if (t != NULL) {
		is_int(lookup_str(t, "10.1.2.3"), 3, "NULL vals: index is the value");
		is_int(lookup_str(t, "10.1.2.2"), 0, "NULL vals: bad entries skipped");
		is_int(cidr_table_count(t, 4), 2, "bad entries not counted");
		cidr_table_free(t);
	}

	/* host bits in a struct given to the build are ignored */
	cidr_parse("192.0.2.0/24", &v[0]);
	v[0].addr[3] = 77;
	cidr_parse("2001:db8::/32", &v[1]);
	v[1].addr[15] = 1;
	t = cidr_table_build(v, NULL, 2);
	ok(t != NULL, "table with host bits built");
	if (t != NULL) {
		is_int(lookup_str(t, "192.0.2.0"), 0, "host bits masked: IPv4 network");
		is_int(lookup_str(t, "192.0.2.255"), 0, "host bits masked: IPv4 last");
		is_int(lookup_str(t, "2001:db8::"), 1, "host bits masked: IPv6 network");
		is_int(lookup_str(t, "2001:db8:ffff::"), 1, "host bits masked: IPv6 inside");
		cidr_table_free(t);
	}
	cidr_table_free(NULL);
}

/* test_merge - neighbours of equal value take one range, so little memory */
static void
test_merge(void)
{
	struct cidr v[513];
	struct cidr_table *t;

	for (int i = 0; i < 256; i++) {
		v[i] = to_cidr(4, 0x0a000000u | (uint32_t)i << 8, 24); /* 10.0.i.0/24 */
		v[256 + i] = to_cidr(6, (u128)0x20010db8 << 96 | (u128)i << 80, 48);
	}
	v[512] = to_cidr(4, 0x0a000000, 8); /* and 10.0.0.0/8 around them */
	t = cidr_table_build(v, (const uint32_t[513]){0}, 513);
	ok(t != NULL, "merge table built");
	if (t == NULL)
		return;
	is_int(lookup_str(t, "10.0.255.255"), 0, "merged: inside");
	is_int(lookup_str(t, "10.1.0.0"), 0, "merged: in the /8");
	is_int(lookup_str(t, "11.0.0.0"), CIDR_NONE, "merged: after");
	is_int(lookup_str(t, "2001:db8:ff:ffff::"), 0, "merged: IPv6 inside");
	is_int(lookup_str(t, "2001:db8:100::"), CIDR_NONE, "merged: IPv6 after");
	ok(cidr_table_mem(t) < 1024, "513 nested and adjacent prefixes of one value: %zu bytes",
	   cidr_table_mem(t));
	cidr_table_free(t);
}

/* test_empty - a table of no prefixes */
static void
test_empty(void)
{
	struct cidr_table *t = cidr_table_build(NULL, NULL, 0);
	uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8};

	ok(t != NULL, "empty table built");
	if (t == NULL)
		return;
	is_int(cidr_lookup4(t, 0), CIDR_NONE, "empty: 0.0.0.0");
	is_int(cidr_lookup4(t, 0xffffffff), CIDR_NONE, "empty: 255.255.255.255");
	is_int(cidr_lookup6(t, a6), CIDR_NONE, "empty: 2001:db8::");
	is_int(lookup_str(t, "::ffff:192.0.2.1"), CIDR_NONE, "empty: mapped");
	is_int(cidr_table_count(t, 4) + cidr_table_count(t, 6), 0, "empty: no prefixes");
	ok(cidr_table_mem(t) > 0 && cidr_table_mem(t) < 4096, "empty: small (%zu bytes)",
	   cidr_table_mem(t));
	cidr_table_free(t);
}

/* ---- the property test ---- */

/* A prefix as the oracle sees it: IPv4-mapped IPv6 already turned into IPv4. */
struct oprefix {
	int family;
	unsigned len;
	u128 start; /* IPv4 in the low 32 bits */
	uint32_t val;
};

/* normalize - a struct cidr as the table means it (mapped IPv6 is IPv4) */
static struct oprefix
normalize(const struct cidr *c, uint32_t val)
{
	struct oprefix p = {.family = c->family, .len = c->len, .val = val};
	unsigned bytes = c->family == 4 ? 4 : 16;

	for (unsigned i = 0; i < bytes; i++)
		p.start = p.start << 8 | c->addr[i];
	if (c->family == 6 && c->len >= 96 && p.start >> 32 == 0xffff) {
		p.family = 4;
		p.len -= 96;
		p.start &= 0xffffffff;
	}
	p.start &= ~host_mask(p.len, p.family == 4 ? 32 : 128);
	return p;
}

/* oracle - the longest prefix of o covering a (first on ties), by linear scan */
static uint32_t
oracle(const struct oprefix *o, size_t n, int family, u128 a)
{
	unsigned bits = family == 4 ? 32 : 128;
	int best = -1;
	uint32_t val = CIDR_NONE;

	if (family == 6 && a >> 32 == 0xffff) {
		family = 4;
		bits = 32;
		a &= 0xffffffff;
	}
	for (size_t i = 0; i < n; i++) {
		if (o[i].family != family || (int)o[i].len <= best)
			continue;
		if (((a ^ o[i].start) & ~host_mask(o[i].len, bits)) == 0) {
			best = (int)o[i].len;
			val = o[i].val;
		}
	}
	return val;
}

/* A random prefix set and its parameters. */
struct pset {
	struct cidr *v;
	uint32_t *vals;
	struct oprefix *o;
	size_t n;
};

/* rnd_len4 - an IPv4 prefix length: mostly the usual ones, /0 now and then */
static unsigned
rnd_len4(void)
{
	static const unsigned common[] = {0, 8, 16, 24, 24, 24, 32, 32, 32, 31, 23, 12};
	uint64_t r = rnd_below(100);

	if (r < 2)
		return 0;
	if (r < 70)
		return common[rnd_below(sizeof(common) / sizeof(common[0]))];
	return (unsigned)rnd_below(33);
}

/* rnd_len6 - an IPv6 prefix length: /0, /64, /127, /128 and others */
static unsigned
rnd_len6(void)
{
	static const unsigned common[] = {0, 16, 32, 48, 56, 64, 64, 64, 96, 120, 127, 128, 128};
	uint64_t r = rnd_below(100);

	if (r < 2)
		return 0;
	if (r < 70)
		return common[rnd_below(sizeof(common) / sizeof(common[0]))];
	return (unsigned)rnd_below(129);
}

/* rnd_base6 - an IPv6 address from a few crowded regions, so prefixes overlap */
static u128
rnd_base6(void)
{
	switch (rnd_below(6)) {
	case 0:
		return rnd128();
	case 1: /* 2001:db8::/32, dense */
		return (u128)0x20010db8 << 96 | (u128)rnd_below(4) << 80 | rnd128() >> 64;
	case 2: /* around the IPv4-mapped block */
		return (u128)(0xfffe + rnd_below(3)) << 32 | (uint32_t)rnd();
	case 3: /* near the top and bottom of the space */
		return rnd_below(2) ? ~(u128)0 - rnd_below(1000) : rnd_below(1000);
	default: /* 2a00::/12-ish, sparse */
		return (u128)(0x2a00 + rnd_below(16)) << 112 | rnd128() >> 16;
	}
}

/* pset_add - append a prefix (masked) with a random value */
static void
pset_add(struct pset *s, int family, u128 start, unsigned len, uint32_t nvals)
{
	unsigned bits = family == 4 ? 32 : 128;

	start &= ~host_mask(len, bits);
	s->v[s->n] = to_cidr(family, start, len);
	s->vals[s->n] = (uint32_t)rnd_below(nvals);
	s->o[s->n] = normalize(&s->v[s->n], s->vals[s->n]);
	s->n++;
}

/* pset_make - n random prefixes; family 4 gives IPv4 only, 6 gives mostly
 * IPv6 with some IPv4 and IPv4-mapped ones. Half are derived from earlier
 * ones: nested inside, around, or duplicated with another value. */
static void
pset_make(struct pset *s, size_t n, int family, uint32_t nvals)
{
	s->v = calloc(n, sizeof(*s->v));
	s->vals = calloc(n, sizeof(*s->vals));
	s->o = calloc(n, sizeof(*s->o));
	s->n = 0;
	while (s->n < n) {
		uint64_t r = rnd_below(100);

		if (s->n > 0 && r < 50) {
			const struct cidr *b = &s->v[rnd_below(s->n)];
			unsigned bits = b->family == 4 ? 32 : 128, len = b->len;
			u128 start = normalize(b, 0).start;

			if (b->family == 6 && normalize(b, 0).family == 4)
				start |= mapped(0); /* keep it in the mapped block */
			if (r < 10)
				;        /* duplicate, another value */
			else if (r < 35) /* nested */
				len += (unsigned)rnd_below(bits - len + 1);
			else /* around */
				len -= (unsigned)rnd_below(len + 1);
			pset_add(s, b->family, start | (rnd128() & host_mask(b->len, bits)), len,
			         nvals);
		} else if (family == 4 || r < 60) {
			pset_add(s, 4, rnd(), rnd_len4(), nvals);
		} else if (r < 70) {
			unsigned len = 96 + rnd_len4();

			pset_add(s, 6, mapped((uint32_t)rnd()), len, nvals);
		} else {
			pset_add(s, 6, rnd_base6(), rnd_len6(), nvals);
		}
	}
}

/* pset_free - free the arrays of s */
static void
pset_free(struct pset *s)
{
	free(s->v);
	free(s->vals);
	free(s->o);
}

/* check_addr - the table against the oracle at one address; counts mismatches */
static void
check_addr(const struct cidr_table *t, const struct pset *s, int family, u128 a, size_t *bad)
{
	struct cidr c = to_cidr(family, a, family == 4 ? 32 : 128);
	uint32_t want = oracle(s->o, s->n, family, a);
	uint32_t got = cidr_lookup(t, &c);

	if (family == 4 && got == want) {
		struct cidr m = to_cidr(6, mapped((uint32_t)a), 128);

		got = cidr_lookup6(t, m.addr); /* the mapped form must agree */
	}
	if (got != want && (*bad)++ < DIAG_MAX) {
		char buf[64];

		printf("#   %s: got %u, want %u\n", cidr_format(&c, buf, sizeof(buf)), got, want);
	}
}

/* check_set - build a table of s and compare it with the oracle at random
 * addresses and at the edges of its prefixes */
static void
check_set(const struct pset *s, int family, size_t lookups, const char *what)
{
	struct cidr_table *t = cidr_table_build(s->v, s->vals, s->n);
	size_t bad = 0, edges = s->n <= 1000 ? s->n : lookups / 8, n4 = 0;

	if (t == NULL) {
		ok(0, "%s: built", what);
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		n4 += s->v[i].family == 4;
	if (cidr_table_count(t, 4) != n4 || cidr_table_count(t, 6) != s->n - n4)
		bad++;
	for (size_t k = 0; k < edges; k++) {
		const struct oprefix *p = &s->o[s->n <= 1000 ? k : rnd_below(s->n)];
		u128 m = host_mask(p->len, p->family == 4 ? 32 : 128), top = p->start | m;

		if (p->family == 4) {
			top &= 0xffffffff;
			check_addr(t, s, 4, (p->start - 1) & 0xffffffff, &bad);
			check_addr(t, s, 4, (top + 1) & 0xffffffff, &bad);
		} else {
			check_addr(t, s, 6, p->start - 1, &bad);
			check_addr(t, s, 6, top + 1, &bad);
		}
		check_addr(t, s, p->family, p->start, &bad);
		check_addr(t, s, p->family, top, &bad);
	}
	for (size_t k = 0; k < lookups; k++) {
		const struct oprefix *p = &s->o[rnd_below(s->n)];
		uint64_t r = rnd_below(10);

		if (r < 2) /* anywhere */
			check_addr(t, s, family == 4 || r == 0 ? 4 : 6,
			           family == 4 || r == 0 ? (u128)(uint32_t)rnd() : rnd_base6(),
			           &bad);
		else /* inside a prefix */
			check_addr(t, s, p->family,
			           p->start | (rnd128() &
			                       host_mask(p->len, p->family == 4 ? 32 : 128)),
			           &bad);
	}
	is_int(bad, 0, "%s: %zu prefixes, %zu edge probes, %zu lookups, %zu bytes", what, s->n,
	       edges * 4, lookups, cidr_table_mem(t));
	cidr_table_free(t);
}

/* test_property - random sets of many sizes, both families */
static void
test_property(void)
{
	static const size_t sizes[] = {1,  2,  3,   4,   5,    7,    10,   16,
	                               33, 64, 100, 250, 1000, 3000, 20000};
	/* The oracle is a linear scan: bound prefixes x lookups per set. */
	const size_t budget = 40000000;

	for (int family = 4; family <= 6; family += 2) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (int rep = 0; rep < 3; rep++) {
				/* few distinct values make merged neighbours, many catch the wrong
				 * winner */
				uint32_t nvals = rep == 0 ? 3 : rep == 1 ? 1000000 : 0xffffffffu;
				struct pset s;
				char what[64];
				size_t lookups = budget / sizes[i];

				if (lookups > 20000)
					lookups = 20000;
				if (sizes[i] >= 20000 && rep > 1)
					continue; /* the biggest sets twice per family */
				pset_make(&s, sizes[i], family, nvals);
				snprintf(what, sizeof(what), "IPv%d set of %zu (rep %d)", family,
				         sizes[i], rep);
				check_set(&s, family, lookups, what);
				pset_free(&s);
			}
		}
	}
}

/* A prefix in the large-table oracle: sorted by (len, start, seq). */
struct lprefix {
	uint32_t start;
	uint32_t seq;
	uint32_t val;
	uint8_t len;
};

/* lprefix_cmp - by length, start, then given order */
static int
lprefix_cmp(const void *pa, const void *pb)
{
	const struct lprefix *a = pa, *b = pb;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* loracle - the longest prefix covering a: one binary search per length */
static uint32_t
loracle(const struct lprefix *o, size_t n, uint32_t a)
{
	for (int len = 32; len >= 0; len--) {
		uint32_t start = len == 0 ? 0 : a & ~(uint32_t)((1ull << (32 - len)) - 1);
		size_t lo = 0, hi = n;

		/* the first entry not below (len, start) */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (o[mid].len < len || (o[mid].len == len && o[mid].start < start))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && o[lo].len == len && o[lo].start == start)
			return o[lo].val;
	}
	return CIDR_NONE;
}

/* test_million - a table of 1,000,000 IPv4 prefixes against the per-length oracle */
static void
test_million(void)
{
	const size_t n = 1000000, lookups = 300000;
	struct cidr *v = calloc(n, sizeof(*v));
	uint32_t *vals = calloc(n, sizeof(*vals));
	struct lprefix *o = calloc(n, sizeof(*o));
	struct cidr_table *t;
	size_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		static const uint8_t lens[] = {8,  12, 16, 20, 22, 23, 24,
		                               24, 24, 24, 28, 32, 32, 32};
		unsigned len = i == 0 ? 0 : lens[rnd_below(sizeof(lens))];
		/* a narrow part of the space, so that prefixes nest and repeat */
		uint32_t a = (uint32_t)rnd() & 0x0fffffff;

		if (len > 0)
			a &= ~(uint32_t)((1ull << (32 - len)) - 1);
		else
			a = 0;
		v[i] = to_cidr(4, a, len);
		vals[i] = (uint32_t)rnd_below(1u << 30);
		o[i] = (struct lprefix){.start = a, .seq = (uint32_t)i, .val = vals[i], .len = len};
	}
	qsort(o, n, sizeof(*o), lprefix_cmp);
	t = cidr_table_build(v, vals, n);
	ok(t != NULL, "million-prefix table built");
	if (t != NULL) {
		for (size_t k = 0; k < lookups; k++) {
			uint32_t a = (uint32_t)rnd(), want, got;

			if (k % 4 != 0) { /* near a prefix edge */
				const struct cidr *c = &v[rnd_below(n)];
				uint32_t s =
				        ((uint32_t)c->addr[0] << 24 | (uint32_t)c->addr[1] << 16 |
				         (uint32_t)c->addr[2] << 8 | c->addr[3]);
				uint32_t m = c->len == 0 ? 0xffffffff
				                         : (uint32_t)((1ull << (32 - c->len)) - 1);

				a = k % 4 == 1 ? s - 1 : k % 4 == 2 ? (s | m) + 1 : s | (a & m);
			}
			want = loracle(o, n, a);
			got = cidr_lookup4(t, a);
			if (got != want && bad++ < DIAG_MAX)
				printf("#   %08x: got %u, want %u\n", a, got, want);
		}
		is_int(bad, 0, "million prefixes: %zu lookups agree, %zu bytes", lookups,
		       cidr_table_mem(t));
		is_int(cidr_table_count(t, 4), n, "million prefixes counted");
		cidr_table_free(t);
	}
	free(v);
	free(vals);
	free(o);
}

/* main - run every group; the exit status is 1 if a case failed */
/* test_remap - four tables of subsets of one random set, and the table of
 * the whole set remapped to the four lookups at each range (as the policy
 * merges its client lists): one lookup must answer as the four do, at
 * random addresses, inside prefixes and at every prefix's edges */
#define REMAP_LISTS 4
struct remap {
	struct cidr_table *t[REMAP_LISTS];
	uint32_t (*facts)[REMAP_LISTS];
	size_t n, cap;
};

static uint32_t
remap_fn(void *arg, const struct cidr *a)
{
	struct remap *r = arg;

	if (r->n == r->cap)
		return CIDR_NONE - 1; /* more ranges than 2n + 2: a mismatch below */
	for (int l = 0; l < REMAP_LISTS; l++)
		r->facts[r->n][l] = cidr_lookup(r->t[l], a);
	return (uint32_t)r->n++;
}

static void
remap_check(const struct cidr_table *all, const struct remap *r, int family, u128 a, size_t *bad)
{
	struct cidr c = to_cidr(family, a, family == 4 ? 32 : 128);
	uint32_t k = cidr_lookup(all, &c);

	for (int l = 0; l < REMAP_LISTS; l++) {
		uint32_t want = cidr_lookup(r->t[l], &c);
		uint32_t got = k < r->n ? r->facts[k][l] : CIDR_NONE;

		if (got != want && (*bad)++ < DIAG_MAX) {
			char buf[64];

			printf("#   %s list %d: got %u, want %u\n",
			       cidr_format(&c, buf, sizeof(buf)), l, got, want);
		}
	}
}

static void
test_remap(void)
{
	struct pset s;
	struct remap r = {0};
	struct cidr *sub = NULL;
	uint32_t *subv = NULL;
	struct cidr_table *all;
	size_t bad = 0, n = 4000, probes = 0;

	pset_make(&s, n, 6, 1000);
	sub = calloc(n, sizeof(*sub));
	subv = calloc(n, sizeof(*subv));
	for (int l = 0; l < REMAP_LISTS; l++) {
		size_t m = 0;

		for (size_t i = 0; i < n; i++)
			if (s.vals[i] % REMAP_LISTS == (uint32_t)l) {
				sub[m] = s.v[i];
				subv[m++] = (uint32_t)i;
			}
		r.t[l] = cidr_table_build(sub, subv, m);
	}
	r.cap = 2 * n + 2;
	r.facts = calloc(r.cap, sizeof(*r.facts));
	all = cidr_table_build(s.v, NULL, n);
	cidr_table_remap(all, remap_fn, &r);
	for (size_t i = 0; i < n; i++) {
		const struct oprefix *p = &s.o[i];
		unsigned bits = p->family == 4 ? 32 : 128;
		u128 wrap = p->family == 4 ? 0xffffffff : ~(u128)0;
		u128 top = (p->start | host_mask(p->len, bits)) & wrap;

		remap_check(all, &r, p->family, (p->start - 1) & wrap, &bad);
		remap_check(all, &r, p->family, p->start, &bad);
		remap_check(all, &r, p->family, top, &bad);
		remap_check(all, &r, p->family, (top + 1) & wrap, &bad);
		remap_check(all, &r, p->family, p->start | (rnd128() & host_mask(p->len, bits)),
		            &bad);
		remap_check(all, &r, 4, (u128)(uint32_t)rnd(), &bad);
		remap_check(all, &r, 6, rnd_base6(), &bad);
		probes += 7;
	}
	is_int(bad, 0, "remap: %zu prefixes in %d lists, one lookup answers as four (%zu probes)",
	       n, REMAP_LISTS, probes);
	ok(r.n <= 2 * n + 2, "remap: %zu ranges mapped for %zu prefixes", r.n, n);
	cidr_table_free(all);
	for (int l = 0; l < REMAP_LISTS; l++)
		cidr_table_free(r.t[l]);
	free(r.facts);
	free(sub);
	free(subv);
	pset_free(&s);
}

int
main(void)
{
	test_parse();
	test_addr_parse();
	test_format_edges();
	test_contains();
	test_table_cases();
	test_empty();
	test_merge();
	test_property();
	test_remap();
	test_million();
	return done_testing();
}
