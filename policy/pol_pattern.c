/* pol_pattern - what a list entry means, and how inputs are normalised to meet it
 *
 * Entries come from the operator's policy file; inputs (HELO arguments,
 * MAIL FROM and RCPT TO paths) come from SMTP clients and are untrusted:
 * every write into a caller's buffer is bounded by its size.
 *
 * Matching is caseless and ignores one trailing dot of a domain, so both
 * sides are lowercased and stripped here, once: entries at compile time,
 * inputs once per stage.
 */
#include <ctype.h>
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pol_impl.h"

/* ASCII lowercase without a libc call per byte: inputs are lowercased on
 * every stage of every session. Bytes >= 0x80 are left alone. */
static const unsigned char lower[256] = {
#define L(c)  [c] = (c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c)
#define L8(c) L(c), L(c + 1), L(c + 2), L(c + 3), L(c + 4), L(c + 5), L(c + 6), L(c + 7)
#define L64(c)                                                                                     \
	L8(c), L8(c + 8), L8(c + 16), L8(c + 24), L8(c + 32), L8(c + 40), L8(c + 48), L8(c + 56)
        L64(0),
        L64(64),
        L64(128),
        L64(192),
#undef L64
#undef L8
#undef L
};

/* lower_word - eight bytes lowercased (ASCII) at once: per byte, A-Z gain
 * 0x20 and every other byte (>= 0x80 too) stays. Each lane's arithmetic
 * stays inside its byte: the 7-bit values plus at most 0x3f cannot carry
 * out of it. A quarter of the instructions of a table lookup per byte, on
 * the lcores' per-input path. */
static inline uint64_t
lower_word(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t low7, ge_a, gt_z, upper;

	low7 = x & ~high;
	ge_a = low7 + ones * (0x80 - 'A'); /* high bit: low7 >= 'A' */
	gt_z = low7 + ones * (0x7f - 'Z'); /* high bit: low7 > 'Z' */
	upper = ge_a & ~gt_z & ~x & high;  /* 'A'..'Z' and not >= 0x80 */
	return x | upper >> 2;             /* 0x80 >> 2 = 0x20 */
}

/* lower8 - eight bytes of src lowercased into dst */
static void
lower8(char *dst, const char *src)
{
	uint64_t x;

	memcpy(&x, src, 8);
	x = lower_word(x);
	memcpy(dst, &x, 8);
}

/* lower_copy - n bytes of src lowercased into dst (not overlapping) */
static void
lower_copy(char *dst, const char *src, size_t n)
{
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			dst[i] = (char)lower[(unsigned char)src[i]];
		return;
	}
	for (size_t i = 0; i + 8 < n; i += 8)
		lower8(dst + i, src + i);
	/* the last eight bytes, overlapping what is done: the same bytes of
	 * src give the same bytes of dst, and no byte-wise tail is left */
	lower8(dst + n - 8, src + n - 8);
}

/* pol_list_slot - the record slot a name list fills */
enum pol_slot
pol_list_slot(enum pol_list l)
{
	switch (l) {
	case POL_L_WL_HELO:
		return S_WL_HELO;
	case POL_L_BL_HELO:
		return S_BL_HELO;
	case POL_L_WL_SENDERS:
		return S_WL_SENDER;
	case POL_L_BL_SENDERS:
		return S_BL_SENDER;
	case POL_L_WL_RECIPIENTS:
		return S_WL_RCPT;
	case POL_L_BL_RECIPIENTS:
		return S_BL_RCPT;
	case POL_L_LOCAL_DOMAINS:
		return S_LOCAL_DOMAIN;
	case POL_L_LOCAL_HOSTS:
		return S_LOCAL_HOST;
	default:
		return S_COUNT;
	}
}

/* pol_list_input - the input a pattern list is scanned against */
enum pol_input
pol_list_input(enum pol_list l)
{
	switch (l) {
	case POL_L_WL_HELO:
	case POL_L_BL_HELO:
		return IN_HELO;
	case POL_L_WL_SENDERS:
	case POL_L_BL_SENDERS:
		return IN_SENDER;
	case POL_L_WL_RECIPIENTS:
	case POL_L_BL_RECIPIENTS:
		return IN_RCPT;
	default:
		return IN_COUNT;
	}
}

static bool
is_cidr_list(enum pol_list l)
{
	return l == POL_L_LAN || l == POL_L_RELAY_CLIENTS || l == POL_L_BL_CLIENTS ||
	       l == POL_L_WL_CLIENTS || l == POL_L_LOCAL_ADDRESSES;
}

/* lower_dup - lowercase copy of s[0..len) */
static char *
lower_dup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	d[len] = '\0';
	return d;
}

/* domain_ok - a domain or host name as an entry may hold it: non-empty
 * labels of printable non-space characters, at most 255 octets */
static bool
domain_ok(const char *s, size_t len, char *why, size_t whylen)
{
	size_t label = 0;

	if (len == 0) {
		snprintf(why, whylen, "empty domain");
		return false;
	}
	if (len > 255) {
		snprintf(why, whylen, "domain longer than 255 characters");
		return false;
	}
	if (s[0] == '[' && s[len - 1] == ']')
		return true; /* address literal, checked by the caller if it cares */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0) {
				snprintf(why, whylen, "empty label in domain");
				return false;
			}
			label = 0;
			continue;
		}
		if (c <= ' ' || c == 0x7f || strchr("@/\\\"<>()[],;:", c) != NULL) {
			snprintf(why, whylen, "character '%c' not allowed in a domain",
			         c > ' ' && c < 0x7f ? c : '?');
			return false;
		}
		if (++label > 63) {
			snprintf(why, whylen, "domain label longer than 63 characters");
			return false;
		}
	}
	return true;
}

/* pol_domain_ok - a host name as the policy's hostname (no trailing dot stripped) */
bool
pol_domain_ok(const char *s, char *why, size_t whylen)
{
	return domain_ok(s, strlen(s), why, whylen);
}

/* strip_dot - length without one trailing dot */
static size_t
strip_dot(const char *s, size_t len)
{
	return len > 1 && s[len - 1] == '.' ? len - 1 : len;
}

/* pol_glob_to_regex - "*.dyn.example" -> "^.*\.dyn\.example$" (malloc'ed) */
char *
pol_glob_to_regex(const char *glob)
{
	size_t n = strlen(glob);
	char *re = malloc(2 * n + 3), *p = re;

	if (re == NULL)
		return NULL;
	*p++ = '^';
	for (const char *g = glob; *g != '\0'; g++) {
		if (*g == '*') {
			*p++ = '.';
			*p++ = '*';
		} else if (*g == '?') {
			*p++ = '.';
		} else {
			if (strchr("\\^$.|+()[]{}/", *g) != NULL)
				*p++ = '\\';
			*p++ = *g;
		}
	}
	*p++ = '$';
	*p = '\0';
	return re;
}

/* simplify_glob - the globs that are really a domain or its subdomains
 * become hash lookups instead of Hyperscan patterns (they are the most
 * common ones, and a hash lookup costs a fraction of a scan):
 *   senders, recipients: *@D -> D (domain); *@*.D and *.D -> .D (subdomain)
 *   helo:                *.D -> .D (subdomain)
 * where D has no wildcard and no @. Over an address with a domain the
 * match is the same: the address ends in its domain. */
static int
simplify_glob(bool helo, struct pol_entry *e)
{
	const char *k = e->key, *d = NULL;
	enum pol_pkind kind = POL_P_GLOB;
	size_t dl;
	char why[8];

	if (!helo && strncmp(k, "*@*.", 4) == 0) {
		d = k + 4;
		kind = POL_P_SUBDOMAIN;
	} else if (!helo && strncmp(k, "*@", 2) == 0) {
		d = k + 2;
		kind = POL_P_DOMAIN;
	} else if (strncmp(k, "*.", 2) == 0) {
		d = k + 2;
		kind = POL_P_SUBDOMAIN;
	}
	if (d == NULL || strpbrk(d, "*?@") != NULL)
		return 0;
	dl = strip_dot(d, strlen(d));
	if (!domain_ok(d, dl, why, sizeof(why)))
		return 0;
	memmove(e->key, d, dl);
	e->key[dl] = '\0';
	e->kind = kind;
	return 0;
}

/* parse_name_pattern - an entry of a helo, senders or recipients list */
static int
parse_name_pattern(enum pol_list l, const char *t, size_t len, struct pol_entry *e, char *why,
                   size_t whylen)
{
	bool helo = l == POL_L_WL_HELO || l == POL_L_BL_HELO;
	const char *at;

	if (len >= 2 && t[0] == '/') {
		if (t[len - 1] != '/' || len == 2) {
			snprintf(why, whylen, "a regular expression is written /regex/");
			return -1;
		}
		e->kind = POL_P_REGEX;
		e->key = strndup(t + 1, len - 2);
		if (pol_hs_check(e->key, 0, why, whylen) < 0)
			return -1;
		return 0;
	}
	if (strcmp(t, "<>") == 0) {
		if (l != POL_L_WL_SENDERS && l != POL_L_BL_SENDERS) {
			snprintf(why, whylen,
			         "<> (the null sender) only makes sense in a senders list");
			return -1;
		}
		e->kind = POL_P_NULL;
		e->key = strdup("");
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c <= ' ' || c == 0x7f) {
			snprintf(why, whylen, "spaces and control characters are not allowed");
			return -1;
		}
	}
	at = strrchr(t, '@');
	if (helo && at != NULL && at != t) {
		snprintf(why, whylen, "a HELO entry is a host name, .domain, glob or /regex/");
		return -1;
	}
	if (strpbrk(t, "*?") != NULL) {
		e->kind = e->written = POL_P_GLOB;
		e->key = lower_dup(t, len);
		return simplify_glob(helo, e);
	}
	if (at == NULL || at == t) {
		/* example.com, @example.com, .example.com */
		const char *d = at == t ? t + 1 : t;
		size_t dl = len - (size_t)(d - t);

		e->kind = POL_P_DOMAIN;
		if (at == NULL && d[0] == '.') {
			e->kind = POL_P_SUBDOMAIN;
			d++;
			dl--;
		}
		dl = strip_dot(d, dl);
		if (!domain_ok(d, dl, why, whylen))
			return -1;
		e->key = lower_dup(d, dl);
		return 0;
	}
	if (helo) {
		snprintf(why, whylen, "a HELO entry is a host name, .domain, glob or /regex/");
		return -1;
	}
	if (at[1] == '\0') {
		e->kind = POL_P_LOCALPART;
		e->key = lower_dup(t, len - 1);
		return 0;
	}
	{
		size_t lpl = (size_t)(at - t), dl = strip_dot(at + 1, len - lpl - 1);
		char *k;

		if (!domain_ok(at + 1, dl, why, whylen))
			return -1;
		k = lower_dup(t, lpl + 1 + dl);
		e->kind = POL_P_ADDR;
		e->key = k;
	}
	return 0;
}

static int parse_entry(enum pol_list l, const char *text, struct pol_entry *e, char *why,
                       size_t whylen);

/* pol_pattern_parse - classify and normalise one entry of list l */
int
pol_pattern_parse(enum pol_list l, const char *text, struct pol_entry *e, char *why, size_t whylen)
{
	int rc = parse_entry(l, text, e, why, whylen);

	if (rc == 0 && e->written != POL_P_GLOB)
		e->written = e->kind;
	return rc;
}

/* parse_entry - classify and normalise, by list */
static int
parse_entry(enum pol_list l, const char *text, struct pol_entry *e, char *why, size_t whylen)
{
	size_t len = strlen(text);

	e->list = l;
	e->key = NULL;
	e->written = POL_P_COUNT;
	if (len == 0) {
		snprintf(why, whylen, "empty entry");
		return -1;
	}
	if (len > POL_MAX_ENTRY) {
		snprintf(why, whylen, "entry longer than %d characters", POL_MAX_ENTRY);
		return -1;
	}
	if (is_cidr_list(l)) {
		enum cidr_parse_err err = cidr_parse(text, &e->cidr);

		if (err != CIDR_OK) {
			snprintf(why, whylen, "bad address or CIDR \"%s\": %s", text,
			         cidr_strerror(err));
			return -1;
		}
		if (l == POL_L_LOCAL_ADDRESSES && e->cidr.len != (e->cidr.family == 4 ? 32 : 128)) {
			snprintf(why, whylen,
			         "local_addresses holds single addresses, not prefixes");
			return -1;
		}
		e->kind = POL_P_CIDR;
		e->key = strdup(text);
		return 0;
	}
	if (l == POL_L_LOCAL_DOMAINS || l == POL_L_LOCAL_HOSTS) {
		const char *d = text;

		e->kind = POL_P_DOMAIN;
		if (d[0] == '.' && l == POL_L_LOCAL_DOMAINS) {
			e->kind = POL_P_SUBDOMAIN;
			d++;
		}
		len = strip_dot(d, strlen(d));
		if (strpbrk(d, "*?@/") != NULL) {
			snprintf(why, whylen, "plain names%s only, not patterns or addresses",
			         l == POL_L_LOCAL_DOMAINS ? " and .domain" : "");
			return -1;
		}
		if (!domain_ok(d, len, why, whylen))
			return -1;
		e->key = lower_dup(d, len);
		return 0;
	}
	return parse_name_pattern(l, text, len, e, why, whylen);
}

/* addr_split - a normalised address of n bytes at buf, split at its last
 * '@' (lpl bytes in, when has_at): local part, domain without its trailing
 * dot (none when empty), the whole */
static inline void
addr_split(struct pol_addr *a, char *buf, size_t n, bool has_at, size_t lpl)
{
	a->lp = buf;
	if (!has_at) {
		a->lp_len = n;
		a->full_len = n;
		return;
	}
	a->lp_len = lpl;
	a->dom = buf + lpl + 1;
	a->dom_len = strip_dot(a->dom, n - lpl - 1);
	if (a->dom_len == 0)
		a->dom = NULL;
	n = lpl + 1 + a->dom_len;
	buf[n] = '\0';
	a->full_len = n;
}

/* addr_norm_general - pol_addr_norm for any path, source routes and quoted
 * local parts too, with a libc call per question */
static int
addr_norm_general(const char *in, char *buf, size_t size, struct pol_addr *a)
{
	const char *p = in, *at = NULL, *end;
	bool quoted_at = false;
	size_t n = 0;

	memset(a, 0, sizeof(*a));
	/* RFC 5321 source route: @a,@b:user@domain */
	if (p[0] == '@') {
		const char *colon = strchr(p, ':');

		a->routed = true;
		p = colon != NULL ? colon + 1 : p + strlen(p);
	}
	end = p + strlen(p);
	if ((size_t)(end - p) + 1 > size)
		return -1;
	/* local part: a quoted string or up to the last @ */
	if (p[0] == '"') {
		const char *q = p + 1;

		while (q < end && *q != '"') {
			if (*q == '\\' && q + 1 < end)
				q++;
			else if (*q == '@')
				quoted_at = true;
			q++;
		}
		at = q < end ? strchr(q, '@') : NULL;
	} else {
		at = strrchr(p, '@');
		if (at != NULL && memchr(p, '@', (size_t)(at - p)) != NULL)
			quoted_at = true;
	}
	n = (size_t)(end - p);
	lower_copy(buf, p, n);
	buf[n] = '\0';
	a->full = buf;
	addr_split(a, buf, n, at != NULL, at != NULL ? (size_t)(at - p) : 0);
	if (quoted_at || memchr(a->lp, '%', a->lp_len) != NULL ||
	    memchr(a->lp, '!', a->lp_len) != NULL)
		a->routed = true;
	return 0;
}

/* ---- the one pass over a short input (SSE2) ---- */

/* Inputs up to NAME_SCAN_MAX bytes are lowercased and scanned in one pass
 * of 16-byte blocks, the positions of the bytes that matter kept as bitmaps
 * of one bit per byte; longer inputs (and machines without SSE2) take the
 * general way, with a libc call per question. */
#define NAME_SCAN_MAX 64
#define NAME_BLOCK    16

/* What one pass over a name finds besides its lowercase copy: bit i of
 * each map is byte i. */
struct name_scan {
	uint64_t at;   /* '@' */
	uint64_t rt;   /* '%' and '!' (routing in a local part) */
	uint64_t dots; /* '.' */
};

#ifdef __SSE2__
#include <emmintrin.h>

/* scan_block - lowercase the 16 bytes at p in place and map their '@',
 * '%', '!' and '.' into sc at bit off */
static inline void
scan_block(char *p, size_t off, struct name_scan *sc)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	/* signed compares: bytes >= 0x80 are negative, never A-Z */
	__m128i up = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('A' - 1)),
	                           _mm_cmplt_epi8(x, _mm_set1_epi8('Z' + 1)));

	_mm_storeu_si128((__m128i *)(void *)p,
	                 _mm_or_si128(x, _mm_and_si128(up, _mm_set1_epi8(0x20))));
	sc->at |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('@')))
	          << off;
	sc->rt |= (uint64_t)(unsigned)_mm_movemask_epi8(
	                  _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('%')),
	                               _mm_cmpeq_epi8(x, _mm_set1_epi8('!'))))
	          << off;
	sc->dots |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')))
	            << off;
}

/* name_scan - copy n bytes of in to buf, lowercase and map them; buf
 * holds at least NAME_BLOCK bytes, n <= NAME_SCAN_MAX. Blocks may overlap
 * (the last one ends at n): lowercasing twice and or-ing a map twice
 * change nothing. Bytes of buf past n are scanned but cut off the maps. */
static bool
name_scan(char *buf, const char *in, size_t n, struct name_scan *sc)
{
	size_t i;

	memcpy(buf, in, n);
	for (i = 0; i + NAME_BLOCK <= n; i += NAME_BLOCK)
		scan_block(buf + i, i, sc);
	if (i < n)
		scan_block(buf + (n >= NAME_BLOCK ? n - NAME_BLOCK : 0),
		           n >= NAME_BLOCK ? n - NAME_BLOCK : 0, sc);
	if (n < NAME_SCAN_MAX) {
		uint64_t keep = (1ull << n) - 1;

		sc->at &= keep;
		sc->rt &= keep;
		sc->dots &= keep;
	}
	return true;
}
#else
static bool
name_scan(char *buf, const char *in, size_t n, struct name_scan *sc)
{
	(void)buf;
	(void)in;
	(void)n;
	(void)sc;
	return false;
}
#endif

/* keep_below - the bits of m below n (n <= 64) */
static uint64_t
keep_below(uint64_t m, size_t n)
{
	return n < 64 ? m & ((1ull << n) - 1) : m;
}

/* pol_host_norm - a HELO argument lowercased without its trailing dot; the
 * length written, cut to size - 1. A short one (most) in one pass, which
 * also maps its dots into *dots (when dots is not NULL: *has_dots says
 * whether it did). */
size_t
pol_host_norm(const char *in, char *buf, size_t size, uint64_t *dots, bool *has_dots)
{
	return pol_host_norm_len(in, SIZE_MAX, buf, size, dots, has_dots);
}

/* pol_host_norm_len - pol_host_norm of an input whose length the caller
 * knows (len), or SIZE_MAX: measured here */
size_t
pol_host_norm_len(const char *in, size_t len, char *buf, size_t size, uint64_t *dots,
                  bool *has_dots)
{
	struct name_scan sc = {0};
	size_t n;

	if (has_dots != NULL)
		*has_dots = false;
	if (size == 0)
		return 0;
	n = len != SIZE_MAX && len < size ? len : strnlen(in, size - 1);
	if (n <= NAME_SCAN_MAX && size >= NAME_BLOCK && name_scan(buf, in, n, &sc)) {
		n = strip_dot(buf, n);
		if (dots != NULL) {
			*dots = keep_below(sc.dots, n);
			*has_dots = true;
		}
	} else {
		lower_copy(buf, in, n);
		n = strip_dot(buf, n);
	}
	buf[n] = '\0';
	return n;
}

/* pol_addr_norm - split an address path (as between < and >) into local part
 * and domain, lowercased, without source route or trailing dot, and say
 * whether it carries routing. Returns -1 when it does not fit in buf.
 * A path that starts like a source route or a quoted local part, or is
 * long, takes the general way; any other is lowercased and mapped in one
 * pass (on every MAIL and RCPT), which also gives the dots of the domain. */
int
pol_addr_norm(const char *in, char *buf, size_t size, struct pol_addr *a)
{
	return pol_addr_norm_len(in, SIZE_MAX, buf, size, a);
}

/* pol_addr_norm_len - pol_addr_norm of an input whose length the caller
 * knows (len), or SIZE_MAX: measured here. The fact cache measures every
 * input it keys; measuring it again was about 50 instructions an envelope. */
int
pol_addr_norm_len(const char *in, size_t len, char *buf, size_t size, struct pol_addr *a)
{
	struct name_scan sc = {0};
	size_t n;

	if (in[0] == '@' || in[0] == '"')
		return addr_norm_general(in, buf, size, a);
	n = len != SIZE_MAX ? len : strnlen(in, NAME_SCAN_MAX + 1);
	if (n > NAME_SCAN_MAX || size < NAME_BLOCK || n + 1 > size || !name_scan(buf, in, n, &sc))
		return addr_norm_general(in, buf, size, a);
	memset(a, 0, sizeof(*a));
	buf[n] = '\0';
	a->full = buf;
	addr_split(a, buf, n, sc.at != 0, (size_t)(63 - __builtin_clzll(sc.at | 1)));
	/* an '@' before the last one was quoted: routing, as '%' and '!' are */
	a->routed = (sc.at & (sc.at - 1)) != 0 || keep_below(sc.rt, a->lp_len) != 0;
	a->dots = keep_below(sc.dots, a->full_len);
	a->has_dots = true;
	return 0;
}

static const char *const list_names[POL_L_COUNT] = {
        [POL_L_LAN] = "lan",
        [POL_L_RELAY_CLIENTS] = "relay.allow_clients",
        [POL_L_LOCAL_DOMAINS] = "local_domains",
        [POL_L_LOCAL_HOSTS] = "local_hosts",
        [POL_L_LOCAL_ADDRESSES] = "local_addresses",
        [POL_L_BL_CLIENTS] = "blacklist.clients",
        [POL_L_BL_HELO] = "blacklist.helo",
        [POL_L_BL_SENDERS] = "blacklist.senders",
        [POL_L_BL_RECIPIENTS] = "blacklist.recipients",
        [POL_L_WL_CLIENTS] = "whitelist.clients",
        [POL_L_WL_HELO] = "whitelist.helo",
        [POL_L_WL_SENDERS] = "whitelist.senders",
        [POL_L_WL_RECIPIENTS] = "whitelist.recipients",
};

const char *
pol_list_name(enum pol_list l)
{
	return l < POL_L_COUNT ? list_names[l] : "?";
}

static const char *const kind_names[POL_P_COUNT] = {
        [POL_P_CIDR] = "cidr",     [POL_P_NULL] = "null-sender",
        [POL_P_ADDR] = "address",  [POL_P_LOCALPART] = "localpart",
        [POL_P_DOMAIN] = "domain", [POL_P_SUBDOMAIN] = "subdomain",
        [POL_P_GLOB] = "glob",     [POL_P_REGEX] = "regex",
};

const char *
pol_kind_name(enum pol_pkind k)
{
	return k < POL_P_COUNT ? kind_names[k] : "?";
}
