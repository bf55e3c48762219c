/* test_lit - the literal prefilter in front of the Hyperscan scans
 *
 * The prefilter may skip a pattern's database only when the input cannot
 * match: the literal it extracts must be in every match. Checked on a
 * table of regexes and globs (what is extracted, and what must not be),
 * against POSIX regexec as an independent matcher on random inputs grown
 * from matching samples, and end to end: pol_eval with patterns that the
 * prefilter selects agrees with the verdicts those patterns must give.
 */
#include <ctype.h>
#include <regex.h>

#include "../../../policy/pol_impl.h"
#include "tap.h"
#include "testlib.h"

struct lcase {
	const char *pat;
	bool glob;
	const char *lit; /* expected longest required literal, "" for none */
};

static const struct lcase lcases[] = {
        {"bounce", false, "bounce"},
        {"^bounce[0-9]+@", false, "bounce"},
        {"\\.dyn\\.", false, ".dyn."},
        {"^[a-z]{2}[0-9]{6,}@", false, ""},
        {"^[0-9]+([.-][0-9]+){3}$", false, ""},
        {"ab?cdef", false, "cdef"},       /* b is optional, a stands alone */
        {"abcd+efg", false, "abc"},       /* d+ ends a run; the first longest wins */
        {"x{2,}yzw", false, "yzw"},       /* the count is not a literal */
        {"ab{2}cdef", false, "cdef"},     /* neither is {2} */
        {"[abc]def", false, "def"},       /* a class ends a run */
        {"[]xyz]wvu", false, "wvu"},      /* ] first in a class is a member */
        {"(foo|bar)bazq", false, "bazq"}, /* a group ends a run */
        {"(?:mail|smtp)\\.r42\\.", false, ".r42."},
        {"abc|defgh", false, ""},       /* top-level alternation: none */
        {"\\x41bcd", false, ""},        /* \x41 is A: give up */
        {"\\Qa.b\\E", false, ""},       /* quoting: give up */
        {"(?i)abcd", false, ""},        /* inline flags: give up */
        {"(?x)a b c d", false, ""},     /* extended mode: give up */
        {"abc\\d+wxyz", false, "wxyz"}, /* \d is a class */
        {"ABCd", false, "abcd"},        /* caseless: lowercased */
        {"a.b.c", false, ""},           /* . is any byte */
        {"ab", false, ""},              /* too short to filter on */
        {"news42-*@*", true, "news42-"},
        {"*.dyn*.example", true, ".example"},
        {"mail?42.*", true, "mail"},
        {"*", true, ""},
        {"*@*", true, ""},
        {"a*b*c", true, ""},
};

/* test_extract - what each pattern yields */
static void
test_extract(void)
{
	for (size_t i = 0; i < sizeof(lcases) / sizeof(lcases[0]); i++) {
		char out[POL_MAX_ENTRY + 1];

		pol_lit_required(lcases[i].pat, lcases[i].glob, out, sizeof(out));
		is_str(out, lcases[i].lit, "literal of %s %s", lcases[i].glob ? "glob" : "regex",
		       lcases[i].pat);
	}
}

/* Regexes that POSIX ERE reads as Hyperscan does, with samples they match. */
static const char *const eres[] = {
        "^bounce[0-9]+@",
        "spam[0-9]{2,}\\.(com|net)$",
        "ab?cdef",
        "abcd+efg",
        "x{2,}yzw",
        "[abc]def",
        "(foo|bar)bazq",
        "(mail|smtp)\\.r42\\.",
        "^[a-z]+\\.[a-z]+x42[0-9]{2}@",
        "q(ab)*rstu",
        "[.@]spam7[0-9]{2,}\\.(com|net)$",
};
static const char *const samples[] = {
        "bounce12@x.example",
        "a@spam42.com",
        "acdef",
        "abcddddefg",
        "xxyzw",
        "bdef",
        "barbazq",
        "mail.r42.x",
        "ab.cdx4211@",
        "qababrstu",
        "u@spam712.net",
};

static uint32_t seed = 2463534242u;

static uint32_t
rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 17;
	seed ^= seed << 5;
	return seed;
}

/* mutate - a sample with random edits: inserts, deletes, case flips */
static void
mutate(const char *in, char *out, size_t size)
{
	static const char alpha[] = "abcdefqrstuvwxyzABZ0123456789.-@_";
	size_t n = 0;

	for (const char *p = in; *p != '\0' && n + 2 < size; p++) {
		uint32_t r = rnd() % 16;

		if (r == 0)
			continue;
		if (r == 1)
			out[n++] = alpha[rnd() % (sizeof(alpha) - 1)];
		out[n++] = r == 2 ? (char)toupper((unsigned char)*p) : *p;
	}
	out[n] = '\0';
}

/* test_required - whenever regexec matches, the literal is in the lowercased input */
static void
test_required(void)
{
	unsigned long checked = 0, matched = 0, bad = 0;

	for (size_t i = 0; i < sizeof(eres) / sizeof(eres[0]); i++) {
		char lit[POL_MAX_ENTRY + 1];
		regex_t re;

		if (regcomp(&re, eres[i], REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
			ok(0, "regcomp %s", eres[i]);
			continue;
		}
		pol_lit_required(eres[i], false, lit, sizeof(lit));
		ok(lit[0] != '\0', "%s has a literal (%s)", eres[i], lit);
		for (int k = 0; k < 20000; k++) {
			char in[256], low[256];

			mutate(samples[i], in, sizeof(in));
			for (size_t j = 0; j <= strlen(in); j++)
				low[j] = (char)tolower((unsigned char)in[j]);
			checked++;
			if (regexec(&re, in, 0, NULL, 0) != 0)
				continue;
			matched++;
			if (strstr(low, lit) == NULL) {
				if (bad++ < 5)
					printf("# %s matches %s but lacks \"%s\"\n", eres[i], in,
					       lit);
			}
		}
		regfree(&re);
	}
	ok(matched > 1000, "random inputs matched %lu times of %lu", matched, checked);
	is_int(bad, 0, "every match holds the pattern's literal");
}

/* test_grams - the table finds a gram anywhere in an input, also at its end */
static void
test_grams(void)
{
	const char *lits[] = {"bounce", "dyn", ".example", "news42-"};
	struct pol_grams *g = pol_grams_build(lits, 4);
	char buf[64];

	ok(g != NULL, "gram table built");
	for (size_t i = 0; i < 4; i++) {
		snprintf(buf, sizeof(buf), "x%s", lits[i]);
		ok(pol_grams_any(g, buf, strlen(buf)), "gram of %s found at the end", lits[i]);
		snprintf(buf, sizeof(buf), "%sy", lits[i]);
		ok(pol_grams_any(g, buf, strlen(buf)), "gram of %s found at the start", lits[i]);
	}
	ok(!pol_grams_any(g, "mail.example.com", 3), "only the given length is read");
	ok(!pol_grams_any(g, "host.other.net", strlen("host.other.net")), "no gram: no hit");
	ok(!pol_grams_any(g, "dy", 2), "short input: no hit");
	pol_grams_free(g);
}

/* grams_oracle - whether any of the literals (each its own gram: 3 to 5
 * bytes) is in s[0..n), by brute force */
static bool
grams_oracle(const char *const *lits, size_t nlits, const char *s, size_t n)
{
	for (size_t i = 0; i < nlits; i++)
		if (memmem(s, n, lits[i], strlen(lits[i])) != NULL)
			return true;
	return false;
}

/* test_grams_random - pol_grams_any agrees with brute force on random
 * inputs over the grams' own bytes, a gram planted at every offset (odd
 * and even: the walk tries every other position when all grams are 4
 * bytes, every third when they are 5, two positions a round), and lengths
 * cut short of the NUL */
static void
test_grams_random(void)
{
	static const char *const four[] = {"q7x@", "zk.9", "-w3v", "bb.a"};
	static const char *const mixed[] = {"q7x@", "zk.9", "-w3", "bb.a"};
	static const char *const five[] = {"q7x@z", "zk.9-", "-w3vb", "bb.a7"};
	static const struct {
		const char *const *lits;
		const char *what;
	} sets[] = {{four, "4-byte grams"}, {mixed, "with a 3-byte gram"}, {five, "5-byte grams"}};
	static const char alpha[] = "q7x@zk.9-w3vba";
	unsigned rs = 7, bad = 0, hits = 0, runs = 0;

	for (size_t t = 0; t < sizeof(sets) / sizeof(sets[0]); t++) {
		struct pol_grams *g = pol_grams_build((const char **)sets[t].lits, 4);

		if (!ok(g != NULL, "%s: table built", sets[t].what))
			continue;
		for (int r = 0; r < 20000; r++) {
			char buf[48];
			size_t len = (size_t)rand_r(&rs) % 40, n;

			for (size_t i = 0; i < len; i++)
				buf[i] = alpha[(size_t)rand_r(&rs) % (sizeof(alpha) - 1)];
			buf[len] = '\0';
			if (len >= 5 && rand_r(&rs) % 2) {
				const char *lit = sets[t].lits[(size_t)rand_r(&rs) % 4];
				size_t at = (size_t)rand_r(&rs) % (len - strlen(lit) + 1);

				memcpy(buf + at, lit, strlen(lit));
			}
			n = rand_r(&rs) % 4 == 0 && len > 0 ? (size_t)rand_r(&rs) % len : len;
			runs++;
			if (grams_oracle(sets[t].lits, 4, buf, n))
				hits++;
			if (pol_grams_any(g, buf, n) != grams_oracle(sets[t].lits, 4, buf, n) &&
			    bad++ < 5)
				printf("# %s: \"%.*s\" disagrees\n", sets[t].what, (int)n, buf);
		}
		pol_grams_free(g);
	}
	ok(hits > runs / 4, "random inputs held a gram %u times of %u", hits, runs);
	is_int(bad, 0, "the prefilter agrees with brute force on every input");
}

/* Head filter cases: a pattern, whether a glob, the positions its head
 * must know, and a sample it matches (NULL: no head). */
static const struct {
	const char *pat;
	bool glob;
	size_t len;
	const char *sample;
} heads[] = {
        {"^[0-9]+([.-][0-9]+){3}$", false, 1, "198.51.100.7"},
        {"^[a-z]{2}[0-9]{6,}@", false, 4, "qx1234567@example.com"},
        {"^[0-9]{8,}@", false, 4, "12345678@example.com"},
        {"^\\d\\w[^x]a+b", false, 4, "1_yaab"},
        {"^a.b?c{2}d", false, 2, "axccd"},
        {"^[]x-]{2}z", false, 3, "]-z"},
        {"^\\.Q{1}r", false, 3, ".qr"},
        {"^[a-z]{2,3}1", false, 2, "abc1"},
        {"^x+yz", false, 1, "xxxyz"},
        {"^[[:alpha:]]7", false, 2, "k7"},
        {"ab?d*", true, 4, "abxdzz"},
        {"X9*", true, 2, "x9y"},
        {"?a*", true, 2, "ba"},
        {"^(ab|cd)e", false, 0, NULL}, /* a group: not read */
        {"^a|b", false, 0, NULL},      /* '^' anchors one branch */
        {"a|^b", false, 0, NULL},
        {"abc", false, 0, NULL}, /* not anchored */
        {"^\\x41", false, 0, NULL},
        {"*x", true, 0, NULL},
};

/* hs_matches - whether Hyperscan, compiled as pol_compile does, matches s */
static int
on_hit(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *arg)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	*(bool *)arg = true;
	return 1;
}

static hs_database_t *
hs_of(const char *pat, bool glob)
{
	char *re = glob ? pol_glob_to_regex(pat) : strdup(pat);
	unsigned flags = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY |
	                 (glob ? HS_FLAG_DOTALL : 0);
	hs_database_t *db = NULL;
	hs_compile_error_t *err = NULL;

	if (re == NULL || hs_compile(re, flags, HS_MODE_BLOCK, NULL, &db, &err) != HS_SUCCESS) {
		hs_free_compile_error(err);
		db = NULL;
	}
	free(re);
	return db;
}

/* test_heads - each pattern's head, and against Hyperscan on random inputs
 * grown from its sample: whenever Hyperscan matches, the head fits (the
 * filter never hides a match), and it does rule out inputs */
static void
test_heads(void)
{
	unsigned long checked = 0, matched = 0, ruled_out = 0, bad = 0;

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		struct pol_head h;
		struct pol_heads *one = NULL;
		hs_database_t *db;
		hs_scratch_t *scr = NULL;

		is_int(pol_lit_head(heads[i].pat, heads[i].glob, &h), heads[i].len, "head of %s %s",
		       heads[i].glob ? "glob" : "regex", heads[i].pat);
		ok(pol_heads_build(&heads[i].pat, &heads[i].glob, 1, &one) == 0 &&
		           (one != NULL) == (heads[i].len > 0),
		   "%s: a filter when it has a head", heads[i].pat);
		if (one == NULL)
			continue;
		db = hs_of(heads[i].pat, heads[i].glob);
		if (!ok(db != NULL && hs_alloc_scratch(db, &scr) == HS_SUCCESS, "%s compiles",
		        heads[i].pat)) {
			free(one);
			continue;
		}
		for (int k = 0; k < 5000; k++) {
			char in[256];
			bool hit = false;

			mutate(heads[i].sample, in, sizeof(in));
			if (k % 4 == 0 && strlen(in) > 0) /* also a random first byte */
				in[0] = (char)(rnd() % 255 + 1);
			checked++;
			hs_scan(db, in, (unsigned)strlen(in), 0, scr, on_hit, &hit);
			matched += hit;
			if (!pol_heads_any(one, in, strlen(in))) {
				ruled_out++;
				if (hit && bad++ < 5)
					printf("# %s matches \"%s\" but its head rules it out\n",
					       heads[i].pat, in);
			}
		}
		hs_free_scratch(scr);
		hs_free_database(db);
		free(one);
	}
	ok(matched > 10000, "random inputs matched %lu times of %lu", matched, checked);
	ok(ruled_out > 5000, "the heads ruled out %lu inputs", ruled_out);
	is_int(bad, 0, "no input a pattern matches is ruled out");
}

/* test_eval - verdicts through the prefilter, both databases of an input */
static void
test_eval(void)
{
	struct pol_snapshot *s = must_load(
	        "lit.conf", "hostname = mx.example;\nlocal_domains = [ l.example ];\n"
	                    "blacklist { helo = [ \"*.DYN.*\", \"/^[0-9]+([.-][0-9]+){3}$/\" ];\n"
	                    "  senders = [ \"/^[a-z]{2}[0-9]{6,}@/\", \"bounce?42@*\", "
	                    "\"/\\\\+t7[a-z]*@/\" ]; }\n"
	                    "service mx { ports = 25; }\n");
	static const struct {
		const char *helo, *sender;
		enum pol_reason want;
		const char *rule;
	} c[] = {
	        {"a.dyn.example", "u@x.example", POL_R_BL_HELO, "*.DYN.*"},
	        {"A.Dyn.Example", "u@x.example", POL_R_BL_HELO, "*.DYN.*"},
	        {"dyn.example", "u@x.example", POL_R_ACCEPT, NULL},
	        {"198.51.100.7", "u@x.example", POL_R_BL_HELO, "/^[0-9]+([.-][0-9]+){3}$/"},
	        {"h.example", "ab1234567@x.example", POL_R_BL_SENDER, "/^[a-z]{2}[0-9]{6,}@/"},
	        {"h.example", "Bounce-42@x.example", POL_R_BL_SENDER, "bounce?42@*"},
	        {"h.example", "bounce42@x.example", POL_R_ACCEPT, NULL},
	        {"h.example", "joe+T7abc@x.example", POL_R_BL_SENDER, "/\\+t7[a-z]*@/"},
	        {"h.example", "joe+t8abc@x.example", POL_R_ACCEPT, NULL},
	        /* the head filter of the patterns without a literal */
	        {"1.2.3.4", "u@x.example", POL_R_BL_HELO, "/^[0-9]+([.-][0-9]+){3}$/"},
	        {"x1.2.3.4", "u@x.example", POL_R_ACCEPT, NULL},
	        {"h.example", "AB1234567@x.example", POL_R_BL_SENDER, "/^[a-z]{2}[0-9]{6,}@/"},
	        {"h.example", "a1234567@x.example", POL_R_ACCEPT, NULL},
	        {"h.example", "ab12345@x.example", POL_R_ACCEPT, NULL},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct pol_query q = {.service = pol_service_find(s, "mx"),
		                      .helo = c[i].helo,
		                      .sender = c[i].sender};
		struct pol_state st;
		struct pol_verdict v;
		const struct pol_entry *e;

		cidr_addr_parse("203.0.113.1", &q.client);
		pol_state_init(&st);
		pol_eval(s, NULL, &q, POL_HELO, &st, &v);
		if (v.action == POL_ACCEPT)
			pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
		e = pol_entry_get(s, v.rule);
		is_str(pol_reason_name(v.reason), pol_reason_name(c[i].want), "%s / %s: reason",
		       c[i].helo, c[i].sender);
		is_str(e != NULL ? e->text : "(none)", c[i].rule ? c[i].rule : "(none)",
		       "%s / %s: rule", c[i].helo, c[i].sender);
	}
	pol_snapshot_free(s);
}

int
main(void)
{
	test_extract();
	test_required();
	test_grams();
	test_grams_random();
	test_heads();
	test_eval();
	pol_hs_cache_clear();
	return done_testing();
}
