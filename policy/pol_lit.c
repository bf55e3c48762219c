/* pol_lit - a literal prefilter in front of the Hyperscan pattern scans
 *
 * A Hyperscan scan costs a few hundred nanoseconds even when nothing
 * matches, and at the edge almost nothing does. Most patterns an operator
 * writes hold a literal that any matching input must contain ("*.dyn.*"
 * needs ".dyn.", "/^bounce[0-9]+@/" needs "bounce"). So at compile time each
 * pattern's longest required literal is found, conservatively, and one
 * piece of 3 to 5 bytes (a gram) of it goes into a small table; at evaluation
 * the input's grams are looked up there (a few dozen probes of a table that
 * stays in L1), and the database of literal-bearing patterns is scanned only
 * when one is present. A 5-byte gram holds three 3-byte windows, all in
 * the bitmap, so every third input position is enough to see it: the walk,
 * most of the prefilter's cost, is a third (a 3-byte gram needs every
 * position, a 4-byte one every other).
 * Patterns without such a literal go to a second database that is scanned
 * for every input whose first bytes could begin a match of one of them (the
 * head filter at the end of this file). (One database of all, without a
 * prefilter, cost more at the bench's 170 patterns an input:
 * bench/RESULTS.md.)
 *
 * The extraction must never claim a literal the pattern does not require: a
 * false one would hide a match. Whatever the reader below does not fully
 * understand ends the current literal run (a class, a group, a quantifier,
 * an escape like \d) or makes it give up on the pattern altogether (a
 * top-level alternation, an escape it does not know, inline flags other
 * than (?:). Patterns match caselessly and inputs are lowercased before
 * they are scanned, so literals are lowercased too (ASCII only, as
 * Hyperscan's caseless mode and the input normalisation are).
 *
 * Policy text is the operator's (trusted, already checked by Hyperscan);
 * inputs are the client's and only read within their length.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "pol_impl.h"

/* A literal shorter than this selects too many inputs to be worth a gram. */
#define LIT_MIN 3

/* lc - ASCII lowercase */
static char
lc(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Keep the longest run seen so far. */
struct lit_best {
	char *out;
	size_t size, len;
};

static void
keep(struct lit_best *b, const char *run, size_t n)
{
	if (n > b->len && n < b->size) {
		memcpy(b->out, run, n);
		b->out[n] = '\0';
		b->len = n;
	}
}

/* skip_class - past the ']' closing the class that opens at p ('['); NULL if unclosed */
static const char *
skip_class(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++; /* a leading ] is a member */
	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '[' && p[1] == ':') {
			const char *e = strstr(p + 2, ":]");

			if (e == NULL)
				return NULL;
			p = e + 1;
		} else if (*p == ']')
			return p + 1;
	}
	return NULL;
}

/* skip_group - past the ')' closing the group that opens at p ('('); NULL if unclosed */
static const char *
skip_group(const char *p)
{
	int depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '[') {
			p = skip_class(p);
			if (p == NULL)
				return NULL;
			p--;
		} else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p + 1;
	}
	return NULL;
}

/* counted - length of a {n}, {n,} or {n,m} quantifier at p, or 0 */
static size_t
counted(const char *p)
{
	const char *q = p + 1;

	if (*p != '{' || !(*q >= '0' && *q <= '9'))
		return 0;
	while (*q >= '0' && *q <= '9')
		q++;
	if (*q == ',')
		for (q++; *q >= '0' && *q <= '9'; q++)
			;
	return *q == '}' ? (size_t)(q - p + 1) : 0;
}

/* is_quant - whether p starts a quantifier of the atom before it */
static bool
is_quant(const char *p)
{
	return *p == '*' || *p == '+' || *p == '?' || counted(p) > 0;
}

/* regex_literal - the longest literal every match of a Hyperscan regex contains */
static size_t
regex_literal(const char *re, char *out, size_t size)
{
	struct lit_best b = {.out = out, .size = size};
	char run[POL_MAX_ENTRY + 1];
	size_t n = 0;

	for (const char *p = re; *p != '\0';) {
		char c = *p;
		bool lit = false;
		const char *next = p + 1;

		if (c == '|')
			return 0; /* top-level alternation: each branch would need its own */
		if (c == '\\') {
			char e = p[1];

			if (e == '\0')
				return 0;
			next = p + 2;
			if (!is_alnum(e)) {
				c = e;
				lit = true;
			} else if (strchr("dDwWsShHvVbB", e) == NULL) {
				return 0; /* \x41, \Q..\E, \p{..}, \1: not worth reading */
			}
		} else if (c == '[') {
			next = skip_class(p);
		} else if (c == '(') {
			if (p[1] == '?' && p[2] != ':')
				return 0; /* inline flags, lookarounds: give up */
			next = skip_group(p);
		} else if (c == '{' && counted(p) > 0) {
			next = p + counted(p);
		} else if (strchr(".^$*+?)]}{", c) == NULL) {
			lit = true;
		}
		if (next == NULL)
			return 0;
		if (lit && !is_quant(next)) {
			if (n < sizeof(run))
				run[n++] = lc(c);
		} else {
			/* a quantified atom or a non-literal ends the run (a quantified
			 * literal is not required as written) */
			keep(&b, run, n);
			n = 0;
		}
		p = next;
	}
	keep(&b, run, n);
	return b.len;
}

/* glob_literal - the longest run between wildcards of a glob (already lowercase) */
static size_t
glob_literal(const char *glob, char *out, size_t size)
{
	struct lit_best b = {.out = out, .size = size};
	const char *run = glob;

	for (const char *p = glob;; p++) {
		if (*p == '*' || *p == '?' || *p == '\0') {
			keep(&b, run, (size_t)(p - run));
			run = p + 1;
		}
		if (*p == '\0')
			break;
	}
	return b.len;
}

/* pol_lit_required - the longest literal (lowercased) that every input a
 * glob or regex matches contains, and its length; 0 when there is none of
 * at least LIT_MIN bytes that this reader can vouch for */
size_t
pol_lit_required(const char *pat, bool glob, char *out, size_t size)
{
	size_t n = glob ? glob_literal(pat, out, size) : regex_literal(pat, out, size);

	if (n < LIT_MIN) {
		if (size > 0)
			out[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = lc(out[i]);
	return n;
}

/* ---- the gram table ---- */

/* gram_key - 3 to 5 bytes packed into one word. All sizes share one
 * table: the bytes above a gram are zero, which no byte of NUL-free text
 * is, so sizes never collide, and no gram is 0, the empty slot */
static uint64_t
gram_key(const char *s, size_t n)
{
	uint64_t k = 0;

	for (size_t i = 0; i < n; i++)
		k |= (uint64_t)(unsigned char)s[i] << (8 * i);
	return k;
}

static uint32_t
gram_hash(uint64_t k)
{
	return (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 40);
}

/* bit_of - the bitmap bit of a 3-byte window (k & 0xffffff) */
static uint32_t
bit_of(uint32_t k3)
{
	return (k3 * 0x85ebca6bu) >> (32 - POL_GRAM_BITS_LOG2);
}

/* rarity - how unusual a byte is in host names and addresses (higher: rarer) */
static unsigned
rarity(char c)
{
	if (c >= 'a' && c <= 'z')
		return strchr("etaoinsrlcdm", c) != NULL ? 2 : 3;
	if (c >= '0' && c <= '9')
		return 1;
	if (c == '.' || c == '-' || c == '@')
		return 1;
	return 4;
}

/* pick_gram - the POL_GRAM_MAX-byte (or, for a shorter literal, the
 * whole) piece of a literal least likely to occur in inputs that do not
 * match */
static size_t
pick_gram(const char *lit, size_t n, const char **at)
{
	size_t g = n >= POL_GRAM_MAX ? POL_GRAM_MAX : n;
	unsigned best = 0;

	*at = lit;
	for (size_t i = 0; i + g <= n; i++) {
		unsigned score = 0;

		for (size_t k = 0; k < g; k++)
			score += rarity(lit[i + k]);
		if (score > best) {
			best = score;
			*at = lit + i;
		}
	}
	return g;
}

/* set_bit - mark a 3-byte window in the bitmap */
static void
set_bit(struct pol_grams *g, uint32_t k3)
{
	uint32_t b = bit_of(k3);

	g->bits[b / 64] |= 1ull << (b % 64);
}

/* pol_grams_build - a table of one gram per literal (each at least LIT_MIN
 * bytes, as pol_lit_required gives them); NULL on allocation failure */
struct pol_grams *
pol_grams_build(const char *const *lits, size_t n)
{
	struct pol_grams *g = calloc(1, sizeof(*g));
	size_t slots = 16;

	if (g == NULL)
		return NULL;
	while (slots < 4 * n)
		slots *= 2;
	g->key = calloc(slots, sizeof(*g->key));
	if (g->key == NULL) {
		free(g);
		return NULL;
	}
	g->mask = (uint32_t)(slots - 1);
	g->step = POL_GRAM_MAX - 2;
	for (size_t i = 0; i < n; i++) {
		const char *at;
		size_t len = pick_gram(lits[i], strlen(lits[i]), &at);
		uint64_t k = gram_key(at, len);
		uint32_t h = gram_hash(k) & g->mask;

		/* every window, so that a walk of step len - 2 meets one */
		for (size_t w = 0; w + 3 <= len; w++)
			set_bit(g, (uint32_t)(k >> (8 * w)) & 0xffffff);
		if (len - 2 < g->step)
			g->step = len - 2;
		g->sizes |= 1u << len;
		while (g->key[h] != 0 && g->key[h] != k)
			h = (h + 1) & g->mask;
		if (g->key[h] == 0)
			g->n++;
		g->key[h] = k;
	}
	return g;
}

void
pol_grams_free(struct pol_grams *g)
{
	if (g != NULL)
		free(g->key);
	free(g);
}

/* probe - whether key k is in the table */
static bool
probe(const struct pol_grams *g, uint64_t k)
{
	for (uint32_t h = gram_hash(k) & g->mask;; h = (h + 1) & g->mask) {
		if (g->key[h] == k)
			return true;
		if (g->key[h] == 0)
			return false;
	}
}

/* load32 - 4 bytes at p as a gram key is packed */
static uint32_t
load32(const char *p)
{
	uint32_t w;

	memcpy(&w, p, sizeof(w));
	return le32toh(w);
}

/* gram_near - whether a gram of the table holds the window at i: one of
 * each size present that starts at i - (size - 3) .. i and fits in n. s[n]
 * must be readable: a gram key is read as a 4-byte load (and a fifth byte),
 * never past s[n]. */
static bool
gram_near(const struct pol_grams *g, const char *s, size_t n, size_t i)
{
	for (size_t len = 3; len <= POL_GRAM_MAX; len++) {
		if (!(g->sizes & (1u << len)))
			continue;
		for (size_t j = i >= len - 3 ? i - (len - 3) : 0; j <= i && j + len <= n; j++) {
			uint64_t k = load32(s + j);

			if (len == 3)
				k &= 0xffffff;
			else if (len == 5)
				k |= (uint64_t)(unsigned char)s[j + 4] << 32;
			if (probe(g, k))
				return true;
		}
	}
	return false;
}

/* pol_grams_any - whether s[0..n) holds any gram of the table; s[n] must
 * be readable (the input's NUL). A gram of size m has m - 2 windows of 3
 * bytes, all in the bitmap, so a walk of step m - 2 over the input meets
 * one of them wherever the gram is: with 5-byte grams every third
 * position is enough. The bitmap (in L1) rules out almost every position
 * before the table is probed. */
bool
pol_grams_any(const struct pol_grams *g, const char *s, size_t n)
{
	size_t last; /* the last window's start: one compare a position */

	if (n < 3)
		return false;
	last = n - 3;
	for (size_t i = 0; i <= last; i += g->step) {
		uint32_t b = bit_of(load32(s + i) & 0xffffff);

		if ((g->bits[b / 64] & (1ull << (b % 64))) && gram_near(g, s, n, i))
			return true;
	}
	return false;
}

/* ---- the head filter of the patterns without a literal ---- */

/* The patterns the gram table cannot select ("^[0-9]{8,}@", the bare
 * dotted quad) are few but cost a Hyperscan scan of every input, about
 * 400 instructions even when, as almost always, nothing matches. Most are
 * anchored at the start: their first bytes must fall in known classes, and
 * a few bit tests rule the scan out. Extraction is as conservative as the
 * literals': anything not understood ends the head, a top-level '|' or an
 * unanchored pattern leaves the input's database without a filter. */

static void
cls_set(uint64_t c[4], unsigned char b)
{
	c[b / 64] |= 1ull << (b % 64);
}

/* cls_add - byte b and, being caseless, its other ASCII case */
static void
cls_add(uint64_t c[4], unsigned char b)
{
	cls_set(c, b);
	if (b >= 'a' && b <= 'z')
		cls_set(c, (unsigned char)(b - 32));
	else if (b >= 'A' && b <= 'Z')
		cls_set(c, (unsigned char)(b + 32));
}

static void
cls_range(uint64_t c[4], unsigned char lo, unsigned char hi)
{
	for (unsigned b = lo; b <= hi; b++)
		cls_add(c, (unsigned char)b);
}

static void
cls_all(uint64_t c[4])
{
	memset(c, 0xff, 4 * sizeof(*c));
}

/* class_of - the bytes of the class [..] spanning p..end; a negated or
 * unusual class is taken as any byte (a superset is always safe) */
static void
class_of(const char *p, const char *end, uint64_t c[4])
{
	const char *q = p + 1, *last = end - 1; /* *last is the closing ']' */

	if (*q == '^' || memchr(q, '\\', (size_t)(last - q)) != NULL ||
	    memchr(q, '[', (size_t)(last - q)) != NULL) {
		cls_all(c);
		return;
	}
	for (; q < last; q++) {
		if (q + 2 < last && q[1] == '-' && (unsigned char)q[0] <= (unsigned char)q[2]) {
			cls_range(c, (unsigned char)q[0], (unsigned char)q[2]);
			q += 2;
		} else {
			cls_add(c, (unsigned char)*q);
		}
	}
}

/* top_alternation - whether the regex has a '|' outside groups and classes
 * (then '^' anchors one branch only); also true when it cannot be read */
static bool
top_alternation(const char *re)
{
	for (const char *p = re; *p != '\0';) {
		if (*p == '|')
			return true;
		if (*p == '\\')
			p += p[1] != '\0' ? 2 : 1;
		else if (*p == '[')
			p = skip_class(p);
		else if (*p == '(')
			p = skip_group(p);
		else
			p++;
		if (p == NULL)
			return true;
	}
	return false;
}

/* regex_atom - the byte class of the atom at p and the end of the atom;
 * NULL when it is no single-byte atom this reader knows */
static const char *
regex_atom(const char *p, uint64_t c[4])
{
	memset(c, 0, 4 * sizeof(*c));
	if (*p == '\\') {
		char e = p[1];

		if (e == '\0')
			return NULL;
		if (!is_alnum(e))
			cls_add(c, (unsigned char)e);
		else if (e == 'd')
			cls_range(c, '0', '9');
		else if (e == 'w') {
			cls_range(c, '0', '9');
			cls_range(c, 'a', 'z');
			cls_add(c, '_');
		} else
			return NULL;
		return p + 2;
	}
	if (*p == '[') {
		const char *end = skip_class(p);

		if (end != NULL)
			class_of(p, end, c);
		return end;
	}
	if (*p == '.') {
		cls_all(c);
		return p + 1;
	}
	if (*p == '\0' || strchr("^$()|*+?{}]", *p) != NULL)
		return NULL;
	cls_add(c, (unsigned char)*p);
	return p + 1;
}

/* regex_head - the head of a regex anchored with '^': each atom, as many
 * times as it must occur, until a quantifier lets it vary */
static size_t
regex_head(const char *re, struct pol_head *h)
{
	const char *p = re + 1;
	size_t k = 0;

	if (re[0] != '^' || top_alternation(re))
		return 0;
	while (k < POL_HEAD_LEN) {
		uint64_t c[4];
		const char *next = regex_atom(p, c);
		size_t min = 1;
		bool more = true; /* the head goes on after this atom */

		if (next == NULL)
			break;
		if (*next == '*' || *next == '?')
			break; /* optional: says nothing */
		if (*next == '+') {
			more = false;
		} else if (counted(next) > 0) {
			char *q;

			min = strtoul(next + 1, &q, 10);
			more = *q == '}'; /* {n}: exactly n */
		}
		for (size_t i = 0; i < min && k < POL_HEAD_LEN; i++)
			memcpy(h->cls[k++], c, sizeof(c));
		if (!more)
			break;
		p = next + counted(next);
	}
	return k;
}

/* glob_head - a glob's bytes before its first '*' ('?' is any byte) */
static size_t
glob_head(const char *glob, struct pol_head *h)
{
	size_t k = 0;

	for (const char *p = glob; *p != '\0' && *p != '*' && k < POL_HEAD_LEN; p++, k++) {
		memset(h->cls[k], 0, sizeof(h->cls[k]));
		if (*p == '?')
			cls_all(h->cls[k]);
		else
			cls_add(h->cls[k], (unsigned char)*p);
	}
	return k;
}

/* pol_lit_head - the classes every match's first bytes are in, and how
 * many are known (0: none, the pattern is not anchored at the start) */
size_t
pol_lit_head(const char *pat, bool glob, struct pol_head *h)
{
	memset(h, 0, sizeof(*h));
	h->len = glob ? glob_head(pat, h) : regex_head(pat, h);
	return h->len;
}

/* pol_heads_build - the heads of n patterns into *out, or NULL there when
 * one pattern has none (the database must then always be scanned); -1 on
 * allocation failure */
int
pol_heads_build(const char *const *pats, const bool *glob, size_t n, struct pol_heads **out)
{
	struct pol_heads *hs = malloc(sizeof(*hs) + n * sizeof(hs->h[0]));

	*out = NULL;
	if (hs == NULL)
		return -1;
	hs->n = n;
	for (size_t i = 0; i < n; i++) {
		if (pol_lit_head(pats[i], glob[i], &hs->h[i]) == 0) {
			free(hs);
			return 0;
		}
	}
	*out = hs;
	return 0;
}

/* pol_heads_any - whether s[0..n) begins as some pattern's head requires */
bool
pol_heads_any(const struct pol_heads *hs, const char *s, size_t n)
{
	for (size_t i = 0; i < hs->n; i++) {
		const struct pol_head *h = &hs->h[i];
		size_t k = 0;

		if (n < h->len)
			continue;
		while (k < h->len) {
			unsigned char b = (unsigned char)s[k];

			if (!(h->cls[k][b / 64] & (1ull << (b % 64))))
				break;
			k++;
		}
		if (k == h->len)
			return true;
	}
	return false;
}
