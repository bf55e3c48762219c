/* bench_policy - full envelope decisions per second, and policy compile time
 *
 * Measures the two policy targets of DESIGN.md: full envelope decisions
 * (connect, HELO, MAIL, RCPT) per second on one core with 100,000 exact
 * entries, 1,000 globs and regexes and 100,000 CIDRs (aim: 5 M/s), and the
 * compile time of that policy (aim: under 1 s when the patterns are
 * unchanged, which the Hyperscan database cache is for).
 *
 * The policy is generated from a seeded pseudo-random generator, so a run is
 * repeatable: addresses, domains and host names in the hash-set lists,
 * prefixes (mostly IPv4 /24 and /32, some IPv6) in the client lists, and
 * globs and regexes over HELO, senders and recipients. It is written as
 * policy.conf plus one file: list per list and kind, and loaded back through
 * pol_load_file as the CLI would. Queries are built beforehand (about 30% hit
 * some entry, the rest are random misses) and evaluated offline on the
 * calling thread (reader NULL); pin the process with taskset.
 *
 * For the side-by-side with Postfix (bench/policy-bench.sh), per-kind lookup
 * rates are measured on small policies holding one kind each (exact sender
 * addresses, client prefixes, sender patterns), over the very keys that
 * --write-postfix writes with the equivalent hash:, cidr: and pcre: tables.
 */
#include <errno.h>
#include <getopt.h>
#include <hs/hs.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "pol.h"

/* Under valgrind --tool=callgrind --instr-atstart=no, only the time_full
 * calls run instrumented: generating and compiling the policy then cost valgrind's
 * plain speed, not callgrind's, and a run takes a fraction of the time.
 * Without the header (or without valgrind) these do nothing. */
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

#define ARENA_CHUNK  (1u << 20) /* strings are carved from 1 MiB chunks */
#define NAME_MAX_LEN 256        /* every generated name and address fits */
#define MAX_RUNS     99

/* fatal - a benchmark that cannot set itself up has nothing to report */
static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench_policy: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- deterministic data ---- */

struct rng {
	uint64_t s;
};

/* rng_next - splitmix64: fast, and the same sequence on every machine */
static uint64_t
rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* rng_below - uniform in [0, n) */
static uint32_t
rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

struct arena {
	char *cur;
	size_t left;
};

/* arena_dup - a copy of s that lives as long as the process */
static const char *
arena_dup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d;

	if (n > a->left) {
		a->cur = malloc(ARENA_CHUNK);
		if (a->cur == NULL)
			fatal("out of memory");
		a->left = ARENA_CHUNK;
	}
	d = a->cur;
	memcpy(d, s, n);
	a->cur += n;
	a->left -= n;
	return d;
}

struct strv {
	const char **v;
	size_t n, cap;
};

static void
strv_add(struct strv *sv, const char *s)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 64;
		sv->v = realloc(sv->v, sv->cap * sizeof(*sv->v));
		if (sv->v == NULL)
			fatal("out of memory");
	}
	sv->v[sv->n++] = s;
}

/* The generated lists: one file each. Exact entries, domains and patterns
 * of one policy list sit in separate files, so that an edit of the exact
 * entries leaves the pattern files as they were. */
enum lst {
	L_LOCAL_DOMAINS,
	L_LAN,
	L_BL_CLIENTS,
	L_WL_CLIENTS,
	L_BL_HELO,
	L_BL_HELO_PAT,
	L_WL_HELO,
	L_WL_HELO_PAT,
	L_BL_SENDERS,
	L_BL_SENDERS_DOM,
	L_BL_SENDERS_PAT,
	L_WL_SENDERS,
	L_WL_SENDERS_PAT,
	L_BL_RCPT,
	L_BL_RCPT_PAT,
	L_WL_RCPT,
	L_WL_RCPT_PAT,
	L_COUNT
};

static const char *const lst_file[L_COUNT] = {
        [L_LOCAL_DOMAINS] = "local_domains.txt",
        [L_LAN] = "lan.txt",
        [L_BL_CLIENTS] = "bl_clients.txt",
        [L_WL_CLIENTS] = "wl_clients.txt",
        [L_BL_HELO] = "bl_helo.txt",
        [L_BL_HELO_PAT] = "bl_helo_pat.txt",
        [L_WL_HELO] = "wl_helo.txt",
        [L_WL_HELO_PAT] = "wl_helo_pat.txt",
        [L_BL_SENDERS] = "bl_senders.txt",
        [L_BL_SENDERS_DOM] = "bl_senders_dom.txt",
        [L_BL_SENDERS_PAT] = "bl_senders_pat.txt",
        [L_WL_SENDERS] = "wl_senders.txt",
        [L_WL_SENDERS_PAT] = "wl_senders_pat.txt",
        [L_BL_RCPT] = "bl_rcpt.txt",
        [L_BL_RCPT_PAT] = "bl_rcpt_pat.txt",
        [L_WL_RCPT] = "wl_rcpt.txt",
        [L_WL_RCPT_PAT] = "wl_rcpt_pat.txt",
};

struct listdata {
	struct strv ent;    /* entries as written in the list file */
	struct strv sample; /* for each entry, an input it matches */
	struct strv pcre;   /* pattern lists: the entry as a Postfix pcre regex */
	size_t nglob;       /* pattern lists: how many entries are globs */
};

struct gen {
	struct rng r;
	struct arena a;
	struct listdata l[L_COUNT];
	uint32_t ndom;     /* pool of mail domains that listed addresses use */
	uint32_t ctr;      /* makes every listed name unique */
	uint32_t miss_ctr; /* local parts of misses: never listed */
};

static const char *const words[] = {
        "anna",  "bert",   "carla",   "dirk",    "emma",   "felix",    "greta",   "hans",
        "ines",  "jonas",  "karin",   "lukas",   "maria",  "nils",     "olga",    "peter",
        "rosa",  "sven",   "tina",    "uwe",     "vera",   "walt",     "yusuf",   "zoe",
        "info",  "sales",  "office",  "admin",   "news",   "team",     "billing", "support",
        "acme",  "globex", "hooli",   "initech", "stark",  "wayne",    "wonka",   "tyrell",
        "umbra", "vandel", "oceanic", "pied",    "dunder", "aperture", "soylent", "massive",
        "alpha", "bravo",  "delta",   "echo",    "kilo",   "lima",     "oscar",   "sierra",
        "north", "south",  "river",   "stone",   "green",  "silver",   "cloud",   "pixel",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static const char *const tlds[] = {"com", "net",  "org", "de", "fr", "ru",
                                   "cn",  "info", "biz", "io", "nl", "co.uk"};
#define NTLDS (sizeof(tlds) / sizeof(tlds[0]))

static const char *
word(struct gen *g)
{
	return words[rng_below(&g->r, NWORDS)];
}

static const char *
tld(struct gen *g)
{
	return tlds[rng_below(&g->r, NTLDS)];
}

/* gen_lp - a local part made unique by n: "anna.sales1234", "zoe_98765" */
static void
gen_lp(struct gen *g, char *buf, size_t size, uint32_t n)
{
	switch (rng_below(&g->r, 3)) {
	case 0:
		snprintf(buf, size, "%s.%s%u", word(g), word(g), n);
		break;
	case 1:
		snprintf(buf, size, "%s%u", word(g), n);
		break;
	default:
		snprintf(buf, size, "%s_%s%u", word(g), word(g), n);
		break;
	}
}

/* gen_pool_dom - one of the ndom domains that mail comes from */
static void
gen_pool_dom(struct gen *g, char *buf, size_t size)
{
	uint32_t k = rng_below(&g->r, g->ndom);

	snprintf(buf, size, "%s%u.%s", words[(k * 7u) % NWORDS], k, tlds[k % NTLDS]);
}

/* gen_miss_sender - an address that no exact entry lists */
static const char *
gen_miss_sender(struct gen *g)
{
	char lp[NAME_MAX_LEN / 2], dom[NAME_MAX_LEN / 2], buf[NAME_MAX_LEN];

	gen_lp(g, lp, sizeof(lp), 100000000u + g->miss_ctr++);
	if (rng_below(&g->r, 5) == 0)
		snprintf(dom, sizeof(dom), "%s%u.%s", word(g),
		         1000000u + rng_below(&g->r, 1u << 20), tld(g));
	else
		gen_pool_dom(g, dom, sizeof(dom));
	snprintf(buf, sizeof(buf), "%s@%s", lp, dom);
	return arena_dup(&g->a, buf);
}

/* gen_local_dom - one of the listed local domains */
static const char *
gen_local_dom(struct gen *g)
{
	const struct strv *ld = &g->l[L_LOCAL_DOMAINS].ent;

	return ld->n ? ld->v[rng_below(&g->r, (uint32_t)ld->n)] : "bench.example";
}

/* gen_local_rcpt - an unlisted user of a local domain */
static const char *
gen_local_rcpt(struct gen *g)
{
	char lp[NAME_MAX_LEN / 2], buf[NAME_MAX_LEN];

	gen_lp(g, lp, sizeof(lp), 100000000u + g->miss_ctr++);
	snprintf(buf, sizeof(buf), "%s@%s", lp, gen_local_dom(g));
	return arena_dup(&g->a, buf);
}

/* gen_miss_helo - what clients greet with: names, dynamic pool names, literals */
static const char *
gen_miss_helo(struct gen *g)
{
	static const char *const hosts[] = {"mail", "mx", "smtp", "out", "relay", "web"};
	char buf[NAME_MAX_LEN];
	uint32_t k = rng_below(&g->r, 100);

	if (k < 55)
		snprintf(buf, sizeof(buf), "%s%u.%s%u.%s", hosts[rng_below(&g->r, 6)],
		         rng_below(&g->r, 20), word(g), 1000000u + rng_below(&g->r, 1u << 20),
		         tld(g));
	else if (k < 85)
		snprintf(buf, sizeof(buf), "%u-%u-%u-%u.static.isp%u.%s", rng_below(&g->r, 223) + 1,
		         rng_below(&g->r, 256), rng_below(&g->r, 256), rng_below(&g->r, 256),
		         rng_below(&g->r, 500), tld(g));
	else if (k < 95)
		snprintf(buf, sizeof(buf), "[%u.%u.%u.%u]", rng_below(&g->r, 223) + 1,
		         rng_below(&g->r, 256), rng_below(&g->r, 256), rng_below(&g->r, 256));
	else
		snprintf(buf, sizeof(buf), "%s", word(g)); /* "WIN-PC"-style single labels */
	return arena_dup(&g->a, buf);
}

/* public_octet - a first IPv4 octet outside the private and special blocks */
static uint32_t
public_octet(struct gen *g)
{
	for (;;) {
		uint32_t a = rng_below(&g->r, 223) + 1;

		if (a != 10 && a != 127 && a != 172 && a != 192 && a != 100)
			return a;
	}
}

/* gen_miss_client - a random client address, IPv6 one time in ten */
static const char *
gen_miss_client(struct gen *g)
{
	char buf[64];

	if (rng_below(&g->r, 10) == 0)
		snprintf(buf, sizeof(buf), "2a%02x:%x:%x:%x::%x", rng_below(&g->r, 256),
		         rng_below(&g->r, 65536), rng_below(&g->r, 65536), rng_below(&g->r, 65536),
		         rng_below(&g->r, 65535) + 1);
	else
		snprintf(buf, sizeof(buf), "%u.%u.%u.%u", public_octet(g), rng_below(&g->r, 256),
		         rng_below(&g->r, 256), rng_below(&g->r, 254) + 1);
	return arena_dup(&g->a, buf);
}

static void
add(struct gen *g, enum lst l, const char *ent, const char *sample)
{
	strv_add(&g->l[l].ent, arena_dup(&g->a, ent));
	strv_add(&g->l[l].sample, arena_dup(&g->a, sample));
}

static void
add_pat(struct gen *g, enum lst l, bool glob, const char *pat, const char *pcre, const char *sample)
{
	add(g, l, pat, sample);
	strv_add(&g->l[l].pcre, arena_dup(&g->a, pcre));
	if (glob)
		g->l[l].nglob++;
}

/* gen_address_list - n listed addresses, in the mail pool or local domains */
static void
gen_address_list(struct gen *g, enum lst l, size_t n, bool local)
{
	char lp[NAME_MAX_LEN / 2], dom[NAME_MAX_LEN / 2], buf[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		gen_lp(g, lp, sizeof(lp), g->ctr++);
		if (local)
			snprintf(dom, sizeof(dom), "%s", gen_local_dom(g));
		else
			gen_pool_dom(g, dom, sizeof(dom));
		snprintf(buf, sizeof(buf), "%s@%s", lp, dom);
		add(g, l, buf, buf);
	}
}

/* gen_sender_domains - "@domain" and ".domain" entries of blacklist.senders */
static void
gen_sender_domains(struct gen *g, size_t n)
{
	char ent[NAME_MAX_LEN / 2], sample[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		const char *w = word(g), *t = tld(g);
		uint32_t k = g->ctr++;

		if (i % 2 == 0) {
			snprintf(ent, sizeof(ent), "@%sbd%u.%s", w, k, t);
			snprintf(sample, sizeof(sample), "%s%u%s", word(g), rng_below(&g->r, 1000),
			         ent);
		} else {
			snprintf(ent, sizeof(ent), ".%ssd%u.%s", w, k, t);
			snprintf(sample, sizeof(sample), "%s@mail%s", word(g), ent);
		}
		add(g, L_BL_SENDERS_DOM, ent, sample);
	}
}

/* gen_helo_hosts - exact HELO host names */
static void
gen_helo_hosts(struct gen *g, enum lst l, size_t n)
{
	static const char *const hosts[] = {"mail", "mx", "smtp", "out", "relay", "bulk"};
	char buf[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s%u.%sh%u.%s", hosts[rng_below(&g->r, 6)],
		         rng_below(&g->r, 10), word(g), g->ctr++, tld(g));
		add(g, l, buf, buf);
	}
}

static void
gen_local_domains(struct gen *g, size_t n)
{
	char buf[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%sc%u.%s", word(g), g->ctr++, tld(g));
		add(g, L_LOCAL_DOMAINS, buf, buf);
	}
}

/* glob_pcre - a glob as the anchored regex Postfix's pcre table needs */
static void
glob_pcre(const char *glob, char *buf, size_t size)
{
	size_t n = 0;

	buf[n++] = '^';
	for (const char *p = glob; *p != '\0' && n + 4 < size; p++) {
		if (*p == '*') {
			buf[n++] = '.';
			buf[n++] = '*';
		} else if (*p == '?') {
			buf[n++] = '.';
		} else {
			if (strchr("\\^$.|+()[]{}/", *p) != NULL)
				buf[n++] = '\\';
			buf[n++] = *p;
		}
	}
	buf[n++] = '$';
	buf[n] = '\0';
}

/* gen_glob - add glob pat (with its sample) to list l */
static void
gen_glob(struct gen *g, enum lst l, const char *pat, const char *sample)
{
	char pcre[2 * NAME_MAX_LEN + 4];

	glob_pcre(pat, pcre, sizeof(pcre));
	add_pat(g, l, true, pat, pcre, sample);
}

/* gen_regex - add /re/ (with its sample) to list l */
static void
gen_regex(struct gen *g, enum lst l, const char *re, const char *sample)
{
	char ent[NAME_MAX_LEN];

	snprintf(ent, sizeof(ent), "/%s/", re);
	add_pat(g, l, false, ent, re, sample);
}

/* gen_sender_patterns - globs and regexes on senders, each with a literal
 * part made unique by n, as operators write them; the first two regexes
 * are the generic, costlier kind every real list has a few of */
static void
gen_sender_patterns(struct gen *g, enum lst l, size_t n)
{
	char pat[NAME_MAX_LEN], s[NAME_MAX_LEN], dom[NAME_MAX_LEN / 2];

	for (size_t i = 0; i < n; i++) {
		uint32_t k = g->ctr++;
		const char *t = tld(g);

		gen_pool_dom(g, dom, sizeof(dom));
		if (i % 2 == 0) {
			switch ((i / 2) % 4) {
			case 0:
				snprintf(pat, sizeof(pat), "*@gdom%u.%s", k, t);
				snprintf(s, sizeof(s), "%s@gdom%u.%s", word(g), k, t);
				break;
			case 1:
				snprintf(pat, sizeof(pat), "*@*.gsub%u.%s", k, t);
				snprintf(s, sizeof(s), "%s@mail.gsub%u.%s", word(g), k, t);
				break;
			case 2:
				snprintf(pat, sizeof(pat), "news%u-*@*", k);
				snprintf(s, sizeof(s), "news%u-%s@%s", k, word(g), dom);
				break;
			default:
				snprintf(pat, sizeof(pat), "bounce?%u@*.%s", k, t);
				snprintf(s, sizeof(s), "bounce-%u@%s%u.%s", k, word(g), k, t);
				break;
			}
			gen_glob(g, l, pat, s);
			continue;
		}
		if (l == L_BL_SENDERS_PAT && i == 1) {
			gen_regex(g, l, "^[a-z]{2}[0-9]{6,}@", "qx1234567@example.com");
			continue;
		}
		if (l == L_BL_SENDERS_PAT && i == 3) {
			gen_regex(g, l, "^[0-9]{8,}@", "12345678@example.com");
			continue;
		}
		switch ((i / 2) % 5) {
		case 0:
			snprintf(pat, sizeof(pat), "^[a-z]{2}x%u[0-9]{4,}@", k);
			snprintf(s, sizeof(s), "qzx%u12345@%s", k, dom);
			break;
		case 1:
			snprintf(pat, sizeof(pat), "@(mail|smtp|mx)[0-9]*\\.r%u\\.(biz|info|top)$",
			         k);
			snprintf(s, sizeof(s), "%s@mx12.r%u.top", word(g), k);
			break;
		case 2:
			snprintf(pat, sizeof(pat), "^(info|sales|promo)[._-]?[0-9]*@.*\\.q%u\\.",
			         k);
			snprintf(s, sizeof(s), "promo_5@a.q%u.%s", k, t);
			break;
		case 3:
			snprintf(pat, sizeof(pat), "^[^@]+\\+t%u[a-z]*@", k);
			snprintf(s, sizeof(s), "%s+t%uabc@%s", word(g), k, dom);
			break;
		default:
			snprintf(pat, sizeof(pat), "[.@]spam%u[0-9]{2,}\\.(com|net)$", k);
			snprintf(s, sizeof(s), "%s@spam%u42.net", word(g), k);
			break;
		}
		gen_regex(g, l, pat, s);
	}
}

/* gen_rcpt_patterns - recipient patterns name local parts: samples are
 * users of local domains, so that they pass the relay check */
static void
gen_rcpt_patterns(struct gen *g, enum lst l, size_t n)
{
	char pat[NAME_MAX_LEN], s[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		uint32_t k = g->ctr++;
		const char *dom = gen_local_dom(g);

		if (i % 2 == 0) {
			switch ((i / 2) % 3) {
			case 0:
				snprintf(pat, sizeof(pat), "trap%u-*@*", k);
				snprintf(s, sizeof(s), "trap%u-%s@%s", k, word(g), dom);
				break;
			case 1:
				snprintf(pat, sizeof(pat), "*+spam%u@*", k);
				snprintf(s, sizeof(s), "%s+spam%u@%s", word(g), k, dom);
				break;
			default:
				snprintf(pat, sizeof(pat), "old?user%u@*", k);
				snprintf(s, sizeof(s), "old.user%u@%s", k, dom);
				break;
			}
			gen_glob(g, l, pat, s);
			continue;
		}
		switch ((i / 2) % 3) {
		case 0:
			snprintf(pat, sizeof(pat), "^honeypot%u[0-9]*@", k);
			snprintf(s, sizeof(s), "honeypot%u77@%s", k, dom);
			break;
		case 1:
			snprintf(pat, sizeof(pat), "^(former|ex)[._-]%u[a-z]+@", k);
			snprintf(s, sizeof(s), "ex-%u%s@%s", k, word(g), dom);
			break;
		default:
			snprintf(pat, sizeof(pat), "^[a-z]+\\.[a-z]+%u[0-9]{2}@", k);
			snprintf(s, sizeof(s), "%s.%s%u10@%s", word(g), word(g), k, dom);
			break;
		}
		gen_regex(g, l, pat, s);
	}
}

/* gen_helo_patterns - dynamic-pool globs and regexes on HELO names; the first
 * regex of the blacklist is the generic bare dotted quad */
static void
gen_helo_patterns(struct gen *g, enum lst l, size_t n)
{
	char pat[NAME_MAX_LEN], s[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		uint32_t k = g->ctr++;
		const char *t = tld(g);

		if (i % 2 == 0) {
			switch ((i / 2) % 4) {
			case 0:
				snprintf(pat, sizeof(pat), "*.dyn%u.%s", k, t);
				snprintf(s, sizeof(s), "host-1-2-3.dyn%u.%s", k, t);
				break;
			case 1:
				snprintf(pat, sizeof(pat), "*-%u.pool.*", k);
				snprintf(s, sizeof(s), "a-b-%u.pool.isp.%s", k, t);
				break;
			case 2:
				snprintf(pat, sizeof(pat), "host%u-*.cable.*", k);
				snprintf(s, sizeof(s), "host%u-77.cable.%s.%s", k, word(g), t);
				break;
			default:
				snprintf(pat, sizeof(pat), "mail?%u.*", k);
				snprintf(s, sizeof(s), "mailx%u.%s.%s", k, word(g), t);
				break;
			}
			gen_glob(g, l, pat, s);
			continue;
		}
		if (l == L_BL_HELO_PAT && i == 1) {
			gen_regex(g, l, "^[0-9]+([.-][0-9]+){3}$", "198.51.100.7");
			continue;
		}
		switch ((i / 2) % 3) {
		case 0:
			snprintf(pat, sizeof(pat), "^[0-9]+[.-][0-9]+[.-]h%u\\.", k);
			snprintf(s, sizeof(s), "12-34.h%u.%s.%s", k, word(g), t);
			break;
		case 1:
			snprintf(pat, sizeof(pat),
			         "^(dsl|adsl|cable|dyn)[0-9-]*\\.p%u\\.(net|com)$", k);
			snprintf(s, sizeof(s), "dsl12-3.p%u.net", k);
			break;
		default:
			snprintf(pat, sizeof(pat), "\\.ip%u\\.[a-z]+$", k);
			snprintf(s, sizeof(s), "a.ip%u.de", k);
			break;
		}
		gen_regex(g, l, pat, s);
	}
}

/* gen_cidrs - client prefixes: 70% IPv4 /24, 20% IPv4 /32, 10% IPv6 /48 or /64 */
static void
gen_cidrs(struct gen *g, enum lst l, size_t n)
{
	char ent[80], s[80];

	for (size_t i = 0; i < n; i++) {
		uint32_t k = rng_below(&g->r, 10), a = public_octet(g), b = rng_below(&g->r, 256),
		         c = rng_below(&g->r, 256);

		if (k < 7) {
			snprintf(ent, sizeof(ent), "%u.%u.%u.0/24", a, b, c);
			snprintf(s, sizeof(s), "%u.%u.%u.%u", a, b, c, rng_below(&g->r, 254) + 1);
		} else if (k < 9) {
			snprintf(s, sizeof(s), "%u.%u.%u.%u", a, b, c, rng_below(&g->r, 254) + 1);
			snprintf(ent, sizeof(ent), "%s", s);
		} else {
			uint32_t x = rng_below(&g->r, 256), y = rng_below(&g->r, 65536),
			         z = rng_below(&g->r, 65536), w = rng_below(&g->r, 65536);

			if (i % 2 == 0) {
				snprintf(ent, sizeof(ent), "2a%02x:%x:%x::/48", x, y, z);
				snprintf(s, sizeof(s), "2a%02x:%x:%x:%x::25", x, y, z, w);
			} else {
				snprintf(ent, sizeof(ent), "2a%02x:%x:%x:%x::/64", x, y, z, w);
				snprintf(s, sizeof(s), "2a%02x:%x:%x:%x::%x", x, y, z, w,
				         rng_below(&g->r, 65535) + 1);
			}
		}
		add(g, l, ent, s);
	}
}

/* gen_lan - our own networks: private IPv4 and a ULA IPv6 */
static void
gen_lan(struct gen *g, size_t n)
{
	char ent[80], s[80];

	for (size_t i = 0; i < n; i++) {
		uint32_t b = rng_below(&g->r, 256), c = rng_below(&g->r, 256);

		switch (i % 4) {
		case 0:
			snprintf(ent, sizeof(ent), "10.%u.0.0/16", b);
			snprintf(s, sizeof(s), "10.%u.%u.%u", b, c, rng_below(&g->r, 254) + 1);
			break;
		case 1:
			snprintf(ent, sizeof(ent), "172.%u.%u.0/24", 16 + b % 16, c);
			snprintf(s, sizeof(s), "172.%u.%u.9", 16 + b % 16, c);
			break;
		case 2:
			snprintf(ent, sizeof(ent), "192.168.%u.0/24", b);
			snprintf(s, sizeof(s), "192.168.%u.%u", b, rng_below(&g->r, 254) + 1);
			break;
		default:
			snprintf(ent, sizeof(ent), "fd%02x:%x::/32", b, c);
			snprintf(s, sizeof(s), "fd%02x:%x::1:%x", b, c,
			         rng_below(&g->r, 65535) + 1);
			break;
		}
		add(g, L_LAN, ent, s);
	}
}

/* share - n * frac, at least one when n allows */
static size_t
share(size_t n, double frac)
{
	size_t k = (size_t)((double)n * frac);

	return k == 0 && n > 0 ? 1 : k;
}

/* gen_policy - every list, sized from the totals */
static void
gen_policy(struct gen *g, size_t nexact, size_t npat, size_t ncidr)
{
	size_t used, ph = share(npat, 0.30), ps = share(npat, 0.45),
	             pr = npat > ph + ps ? npat - ph - ps : 0;

	g->ndom = (uint32_t)(nexact / 16 > 16 ? nexact / 16 : 16);
	/* exact entries: 40% sender addresses, 12% sender domains, 20% HELO
	 * hosts, 10% local domains, 8% recipients, whitelists the rest */
	gen_local_domains(g, share(nexact, 0.10));
	gen_address_list(g, L_BL_SENDERS, share(nexact, 0.40), false);
	gen_sender_domains(g, share(nexact, 0.12));
	gen_address_list(g, L_WL_SENDERS, share(nexact, 0.05), false);
	gen_address_list(g, L_BL_RCPT, share(nexact, 0.08), true);
	gen_address_list(g, L_WL_RCPT, share(nexact, 0.03), true);
	gen_helo_hosts(g, L_WL_HELO, share(nexact, 0.02));
	used = 0;
	for (int l = 0; l < L_COUNT; l++)
		if (l != L_LAN && l != L_BL_CLIENTS && l != L_WL_CLIENTS)
			used += g->l[l].ent.n;
	gen_helo_hosts(g, L_BL_HELO, nexact > used ? nexact - used : 0);

	/* patterns: 30% HELO, 45% senders, 25% recipients; a tenth whitelisted */
	gen_helo_patterns(g, L_BL_HELO_PAT, ph - ph / 10);
	gen_helo_patterns(g, L_WL_HELO_PAT, ph / 10);
	gen_sender_patterns(g, L_BL_SENDERS_PAT, ps - ps / 10);
	gen_sender_patterns(g, L_WL_SENDERS_PAT, ps / 10);
	gen_rcpt_patterns(g, L_BL_RCPT_PAT, pr - pr / 10);
	gen_rcpt_patterns(g, L_WL_RCPT_PAT, pr / 10);

	/* prefixes: 90% blacklist, 8% whitelist, 2% lan */
	gen_cidrs(g, L_WL_CLIENTS, share(ncidr, 0.08));
	gen_lan(g, share(ncidr, 0.02));
	used = g->l[L_WL_CLIENTS].ent.n + g->l[L_LAN].ent.n;
	gen_cidrs(g, L_BL_CLIENTS, ncidr > used ? ncidr - used : 0);
}

/* ---- files ---- */

static FILE *
open_in(const char *dir, const char *name, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		fatal("cannot write %s: %s", path, strerror(errno));
	return f;
}

static void
close_file(FILE *f, const char *path)
{
	if (ferror(f) || fclose(f) != 0)
		fatal("cannot write %s", path);
}

/* write_lines - v[i] PREFIX? SUFFIX, one a line */
static void
write_lines(const char *dir, const char *name, const struct strv *v, const char *pre,
            const char *post)
{
	char path[4096];
	FILE *f = open_in(dir, name, path, sizeof(path));

	for (size_t i = 0; i < v->n; i++)
		fprintf(f, "%s%s%s\n", pre, v->v[i], post);
	close_file(f, path);
}

static const char service_text[] = "service mx {\n"
                                   "    ports = 25;\n"
                                   "    delay_reject = true;\n"
                                   "    reject_remote_local_helo = true;\n"
                                   "    reject_nonlocal_senders_claiming_local = true;\n"
                                   "}\n";

#define HOSTNAME "mx1.bench.example"

/* write_policy - policy.conf and its lists, plus the one-kind policies */
static void
write_policy(const struct gen *g, const char *dir)
{
	char path[4096];
	FILE *f;

	for (int l = 0; l < L_COUNT; l++)
		write_lines(dir, lst_file[l], &g->l[l].ent, "", "");

	f = open_in(dir, "policy.conf", path, sizeof(path));
	fprintf(f,
	        "# Generated by bench_policy: a realistic policy of the benchmark's size.\n"
	        "hostname = \"" HOSTNAME "\";\n"
	        "local_domains = [ \"bench.example\", \".bench.example\", \"file:%s\" ];\n"
	        "local_hosts = [ \"mx2.bench.example\", \"smtp.bench.example\" ];\n"
	        "local_addresses = [ \"192.0.2.25\", \"2001:db8:25::25\" ];\n"
	        "lan = \"file:%s\";\n"
	        "relay { allow_clients = [ \"198.51.100.128/28\", \"2001:db8:beef::/64\" ]; }\n"
	        "blacklist {\n"
	        "    clients = \"file:%s\";\n"
	        "    helo = [ \"localhost\", \"file:%s\", \"file:%s\" ];\n"
	        "    senders = [ \"file:%s\", \"file:%s\", \"file:%s\" ];\n"
	        "    recipients = [ \"file:%s\", \"file:%s\" ];\n"
	        "}\n"
	        "whitelist {\n"
	        "    clients = \"file:%s\";\n"
	        "    helo = [ \"file:%s\", \"file:%s\" ];\n"
	        "    senders = [ \"file:%s\", \"file:%s\" ];\n"
	        "    recipients = [ \"postmaster@bench.example\", \"abuse@bench.example\",\n"
	        "                   \"file:%s\", \"file:%s\" ];\n"
	        "}\n"
	        "%s",
	        lst_file[L_LOCAL_DOMAINS], lst_file[L_LAN], lst_file[L_BL_CLIENTS],
	        lst_file[L_BL_HELO], lst_file[L_BL_HELO_PAT], lst_file[L_BL_SENDERS],
	        lst_file[L_BL_SENDERS_DOM], lst_file[L_BL_SENDERS_PAT], lst_file[L_BL_RCPT],
	        lst_file[L_BL_RCPT_PAT], lst_file[L_WL_CLIENTS], lst_file[L_WL_HELO],
	        lst_file[L_WL_HELO_PAT], lst_file[L_WL_SENDERS], lst_file[L_WL_SENDERS_PAT],
	        lst_file[L_WL_RCPT], lst_file[L_WL_RCPT_PAT], service_text);
	close_file(f, path);

	/* one kind each, for the per-kind rates beside Postfix's tables */
	f = open_in(dir, "kind_exact.conf", path, sizeof(path));
	fprintf(f,
	        "hostname = \"" HOSTNAME "\";\n"
	        "blacklist { senders = \"file:%s\"; }\nwhitelist { senders = \"file:%s\"; }\n%s",
	        lst_file[L_BL_SENDERS], lst_file[L_WL_SENDERS], service_text);
	close_file(f, path);
	f = open_in(dir, "kind_cidr.conf", path, sizeof(path));
	fprintf(f,
	        "hostname = \"" HOSTNAME "\";\nlan = \"file:%s\";\n"
	        "blacklist { clients = \"file:%s\"; }\nwhitelist { clients = \"file:%s\"; }\n%s",
	        lst_file[L_LAN], lst_file[L_BL_CLIENTS], lst_file[L_WL_CLIENTS], service_text);
	close_file(f, path);
	f = open_in(dir, "kind_pcre.conf", path, sizeof(path));
	fprintf(f,
	        "hostname = \"" HOSTNAME "\";\n"
	        "blacklist { senders = \"file:%s\"; }\nwhitelist { senders = \"file:%s\"; }\n%s",
	        lst_file[L_BL_SENDERS_PAT], lst_file[L_WL_SENDERS_PAT], service_text);
	close_file(f, path);
}

/* write_postfix - the same entries as Postfix tables, and the query keys */
static void
write_postfix(const struct gen *g, const char *dir, const struct strv keys[3])
{
	char path[4096];
	FILE *f;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		fatal("cannot create %s: %s", dir, strerror(errno));
	f = open_in(dir, "senders.hash", path, sizeof(path));
	for (size_t i = 0; i < g->l[L_WL_SENDERS].ent.n; i++)
		fprintf(f, "%s OK\n", g->l[L_WL_SENDERS].ent.v[i]);
	for (size_t i = 0; i < g->l[L_BL_SENDERS].ent.n; i++)
		fprintf(f, "%s REJECT\n", g->l[L_BL_SENDERS].ent.v[i]);
	close_file(f, path);
	f = open_in(dir, "clients.cidr", path, sizeof(path));
	for (size_t i = 0; i < g->l[L_WL_CLIENTS].ent.n; i++)
		fprintf(f, "%s OK\n", g->l[L_WL_CLIENTS].ent.v[i]);
	for (size_t i = 0; i < g->l[L_LAN].ent.n; i++)
		fprintf(f, "%s OK\n", g->l[L_LAN].ent.v[i]);
	for (size_t i = 0; i < g->l[L_BL_CLIENTS].ent.n; i++)
		fprintf(f, "%s REJECT\n", g->l[L_BL_CLIENTS].ent.v[i]);
	close_file(f, path);
	/* Postfix pcre tables are caseless by default, as smtpgate's patterns */
	f = open_in(dir, "senders.pcre", path, sizeof(path));
	for (size_t i = 0; i < g->l[L_WL_SENDERS_PAT].pcre.n; i++)
		fprintf(f, "/%s/ OK\n", g->l[L_WL_SENDERS_PAT].pcre.v[i]);
	for (size_t i = 0; i < g->l[L_BL_SENDERS_PAT].pcre.n; i++)
		fprintf(f, "/%s/ REJECT\n", g->l[L_BL_SENDERS_PAT].pcre.v[i]);
	close_file(f, path);
	write_lines(dir, "keys.hash", &keys[0], "", "");
	write_lines(dir, "keys.cidr", &keys[1], "", "");
	write_lines(dir, "keys.pcre", &keys[2], "", "");
}

/* ---- queries ---- */

struct envq {
	struct cidr client;
	const char *helo, *sender, *rcpt;
};

/* What a hitting envelope hits; one of these, uniformly. */
enum hit {
	H_BL_CLIENT,
	H_WL_CLIENT,
	H_LAN,
	H_BL_HELO,
	H_BL_HELO_PAT,
	H_WL_HELO,
	H_BL_SENDER,
	H_BL_SENDER_DOM,
	H_BL_SENDER_PAT,
	H_WL_SENDER,
	H_BL_RCPT,
	H_BL_RCPT_PAT,
	H_WL_RCPT,
	H_LOCAL_HELO,
	H_LOCAL_SENDER,
	H_RELAY,
	H_COUNT
};

/* sample_of - the sample of a random entry of l, or NULL when l is empty */
static const char *
sample_of(struct gen *g, enum lst l)
{
	const struct strv *v = &g->l[l].sample;

	return v->n ? v->v[rng_below(&g->r, (uint32_t)v->n)] : NULL;
}

/* sample_either - of a random entry of a or b, in proportion to their sizes */
static const char *
sample_either(struct gen *g, enum lst a, enum lst b)
{
	size_t na = g->l[a].sample.n, nb = g->l[b].sample.n;

	if (na + nb == 0)
		return NULL;
	return rng_below(&g->r, (uint32_t)(na + nb)) < na ? sample_of(g, a) : sample_of(g, b);
}

static void
set_client(struct envq *e, const char *ip)
{
	if (cidr_addr_parse(ip, &e->client) < 0)
		fatal("generated a bad address %s", ip);
}

/* gen_envelope - a miss, or (pct_hit percent of the time) a hit of one kind */
static void
gen_envelope(struct gen *g, struct envq *e, unsigned pct_hit)
{
	const char *s = NULL;
	char buf[NAME_MAX_LEN], lp[NAME_MAX_LEN / 2];

	set_client(e, gen_miss_client(g));
	e->helo = gen_miss_helo(g);
	e->sender = gen_miss_sender(g);
	e->rcpt = gen_local_rcpt(g);
	if (rng_below(&g->r, 100) >= pct_hit)
		return;
	switch ((enum hit)rng_below(&g->r, H_COUNT)) {
	case H_BL_CLIENT:
		if ((s = sample_of(g, L_BL_CLIENTS)) != NULL)
			set_client(e, s);
		break;
	case H_WL_CLIENT:
		if ((s = sample_of(g, L_WL_CLIENTS)) != NULL)
			set_client(e, s);
		break;
	case H_LAN:
		if ((s = sample_of(g, L_LAN)) != NULL)
			set_client(e, s);
		break;
	case H_BL_HELO:
		s = sample_of(g, L_BL_HELO);
		e->helo = s ? s : e->helo;
		break;
	case H_BL_HELO_PAT:
		s = sample_of(g, L_BL_HELO_PAT);
		e->helo = s ? s : e->helo;
		break;
	case H_WL_HELO:
		s = sample_either(g, L_WL_HELO, L_WL_HELO_PAT);
		e->helo = s ? s : e->helo;
		break;
	case H_BL_SENDER:
		s = sample_of(g, L_BL_SENDERS);
		e->sender = s ? s : e->sender;
		break;
	case H_BL_SENDER_DOM:
		s = sample_of(g, L_BL_SENDERS_DOM);
		e->sender = s ? s : e->sender;
		break;
	case H_BL_SENDER_PAT:
		s = sample_of(g, L_BL_SENDERS_PAT);
		e->sender = s ? s : e->sender;
		break;
	case H_WL_SENDER:
		s = sample_either(g, L_WL_SENDERS, L_WL_SENDERS_PAT);
		e->sender = s ? s : e->sender;
		break;
	case H_BL_RCPT:
		s = sample_of(g, L_BL_RCPT);
		e->rcpt = s ? s : e->rcpt;
		break;
	case H_BL_RCPT_PAT:
		s = sample_of(g, L_BL_RCPT_PAT);
		e->rcpt = s ? s : e->rcpt;
		break;
	case H_WL_RCPT:
		s = sample_either(g, L_WL_RCPT, L_WL_RCPT_PAT);
		e->rcpt = s ? s : "postmaster@bench.example";
		break;
	case H_LOCAL_HELO:
		e->helo = rng_below(&g->r, 2) ? HOSTNAME : gen_local_dom(g);
		break;
	case H_LOCAL_SENDER:
		gen_lp(g, lp, sizeof(lp), 100000000u + g->miss_ctr++);
		snprintf(buf, sizeof(buf), "%s@%s", lp, gen_local_dom(g));
		e->sender = arena_dup(&g->a, buf);
		break;
	case H_RELAY:
		e->rcpt = gen_miss_sender(g);
		break;
	case H_COUNT:
		break;
	}
}

/* gen_keys - the per-kind query keys: pct_hit percent listed, the rest misses */
static void
gen_keys(struct gen *g, struct strv keys[3], size_t nhash, size_t ncidr, size_t npcre,
         unsigned pct_hit)
{
	for (size_t i = 0; i < nhash; i++) {
		const char *s = rng_below(&g->r, 100) < pct_hit
		                        ? sample_either(g, L_BL_SENDERS, L_WL_SENDERS)
		                        : NULL;

		strv_add(&keys[0], s ? s : gen_miss_sender(g));
	}
	for (size_t i = 0; i < ncidr; i++) {
		const char *s = NULL;

		if (rng_below(&g->r, 100) < pct_hit) {
			uint32_t k = rng_below(&g->r, 100);

			s = sample_of(g, k < 90 ? L_BL_CLIENTS : k < 98 ? L_WL_CLIENTS : L_LAN);
		}
		strv_add(&keys[1], s ? s : gen_miss_client(g));
	}
	for (size_t i = 0; i < npcre; i++) {
		const char *s = rng_below(&g->r, 100) < pct_hit
		                        ? sample_either(g, L_BL_SENDERS_PAT, L_WL_SENDERS_PAT)
		                        : NULL;

		strv_add(&keys[2], s ? s : gen_miss_sender(g));
	}
}

/* ---- compile ---- */

struct compile_run {
	const char *what;
	double load_s, total_s;
	struct pol_stats st;
};

/* load_compile - load and compile a policy file, timed */
static struct pol_snapshot *
load_compile(const char *path, struct compile_run *cr)
{
	struct pol_errs errs = {0};
	struct pol_model *m;
	struct pol_snapshot *s;
	double t0 = now_seconds(), t1;

	m = pol_load_file(path, &errs);
	t1 = now_seconds();
	if (m == NULL) {
		pol_errs_print(&errs, stderr);
		fatal("cannot load %s", path);
	}
	s = pol_compile(m, &errs);
	if (s == NULL) {
		pol_errs_print(&errs, stderr);
		fatal("cannot compile %s", path);
	}
	pol_errs_free(&errs);
	if (cr != NULL) {
		cr->load_s = t1 - t0;
		cr->total_s = now_seconds() - t0;
		pol_snapshot_stats(s, &cr->st);
	}
	return s;
}

static const struct pol_service *
mx_service(const struct pol_snapshot *s)
{
	const struct pol_service *svc = pol_service_find(s, "mx");

	if (svc == NULL)
		fatal("policy has no service mx");
	return svc;
}

/* ---- evaluation ---- */

static const enum pol_stage stages[] = {POL_CONNECT, POL_HELO, POL_MAIL, POL_RCPT};

/* run_envelopes - the first nstages stages of every envelope, as a session
 * would play them: inputs appear stage by stage, a refusal ends it. r is
 * the reader (an lcore's registration, with its cache of input facts) or
 * NULL (offline, no cache). Not inlined, so that a profile (callgrind
 * --toggle-collect=run_envelopes) can find it. */
static __attribute__((noinline)) void
run_envelopes(const struct pol_snapshot *s, struct pol_reader *r, const struct pol_service *svc,
              const struct envq *ev, size_t n, unsigned nstages, uint64_t counts[POL_R_COUNT])
{
	struct pol_state st;
	struct pol_verdict v;

	for (size_t i = 0; i < n; i++) {
		struct pol_query q = {.service = svc, .client = ev[i].client};
		enum pol_reason why = POL_R_ACCEPT;

		pol_state_init(&st);
		for (unsigned k = 0; k < nstages; k++) {
			if (stages[k] == POL_HELO)
				q.helo = ev[i].helo;
			else if (stages[k] == POL_MAIL)
				q.sender = ev[i].sender;
			else if (stages[k] == POL_RCPT)
				q.rcpt = ev[i].rcpt;
			pol_eval(s, r, &q, stages[k], &st, &v);
			why = v.reason;
			if (v.action == POL_REJECT)
				break;
		}
		counts[why]++;
	}
}

/* dump_verdicts - every envelope's deciding stage, reason, rules and reply,
 * one line each, through reader r (NULL: offline): two runs of the same
 * code diff these files to show that the decisions did not change */
static void
dump_verdicts(FILE *f, const char *tag, const struct pol_snapshot *s, struct pol_reader *r,
              const struct pol_service *svc, const struct envq *ev, size_t n)
{
	struct pol_state st;
	struct pol_verdict v;

	for (size_t i = 0; i < n; i++) {
		struct pol_query q = {.service = svc, .client = ev[i].client};
		unsigned k;

		pol_state_init(&st);
		for (k = 0; k < 4; k++) {
			if (stages[k] == POL_HELO)
				q.helo = ev[i].helo;
			else if (stages[k] == POL_MAIL)
				q.sender = ev[i].sender;
			else if (stages[k] == POL_RCPT)
				q.rcpt = ev[i].rcpt;
			pol_eval(s, r, &q, stages[k], &st, &v);
			if (v.action == POL_REJECT)
				break;
		}
		fprintf(f, "%s %zu %s %s %u %u %d %s\n", tag, i,
		        pol_stage_name(stages[k < 4 ? k : 3]), pol_reason_name(v.reason), v.rule,
		        v.relay_rule, v.relay_by_auth, v.text);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* time_stages - median seconds of passes over every envelope up to stage 1,
 * 2, 3 and all 4; the four prefixes take turns within each run, so that
 * drifts of the machine's speed fall on all of them alike */
static void
time_stages(const struct pol_snapshot *s, const struct pol_service *svc, const struct envq *ev,
            size_t n, int runs, double out[4])
{
	double t[4][MAX_RUNS];
	uint64_t counts[POL_R_COUNT] = {0};

	for (int r = 0; r < runs; r++) {
		for (unsigned k = 0; k < 4; k++) {
			double t0 = now_seconds();

			run_envelopes(s, NULL, svc, ev, n, 4 - k, counts);
			t[3 - k][r] = now_seconds() - t0;
		}
	}
	for (unsigned k = 0; k < 4; k++)
		out[k] = median(t[k], runs);
}

/* time_full - median seconds of passes over every whole envelope through
 * reader r; the first pass untimed (warms the reader's cache when inputs
 * repeat, as it is warm on a running lcore); cache hits and lookups of the
 * timed passes out */
static __attribute__((noinline)) void
time_full(const struct pol_snapshot *s, struct pol_reader *r, const struct pol_service *svc,
          const struct envq *ev, size_t n, int runs, double *sec, double *hit_rate,
          double *bypass_rate)
{
	double t[MAX_RUNS];
	uint64_t counts[POL_R_COUNT] = {0}, h0, m0, h1, m1, b0, b1;

	run_envelopes(s, r, svc, ev, n, 4, counts);
	pol_reader_cache_stats(r, &h0, &m0);
	pol_reader_cache_sampling(r, &b0);
	for (int k = 0; k < runs; k++) {
		double t0 = now_seconds();

		run_envelopes(s, r, svc, ev, n, 4, counts);
		t[k] = now_seconds() - t0;
	}
	pol_reader_cache_stats(r, &h1, &m1);
	pol_reader_cache_sampling(r, &b1);
	*sec = median(t, runs);
	*hit_rate = h1 + m1 > h0 + m0 ? (double)(h1 - h0) / (double)(h1 + m1 - h0 - m0) : 0;
	*bypass_rate = h1 + m1 > h0 + m0 ? (double)(b1 - b0) / (double)(h1 + m1 - h0 - m0) : 0;
}

/* Zipf's law over the ranks 1..n with exponent ZIPF_S: the k-th most
 * frequent input comes with weight 1/k^s. s = 1 is the classic fit of
 * word and sender frequencies. */
#define ZIPF_S 1.0

/* zipf_cdf - the cumulative weights of ranks 1..n, normalised to 1 */
static double *
zipf_cdf(size_t n)
{
	double *c = malloc(n * sizeof(*c)), sum = 0;

	if (c == NULL)
		fatal("out of memory");
	for (size_t k = 0; k < n; k++)
		c[k] = sum += 1.0 / pow((double)(k + 1), ZIPF_S);
	for (size_t k = 0; k < n; k++)
		c[k] /= sum;
	return c;
}

/* zipf_pick - a rank (0-based) drawn from the cdf */
static size_t
zipf_pick(struct gen *g, const double *cdf, size_t n)
{
	double u = (double)(rng_next(&g->r) >> 11) / 9007199254740992.0;
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* gen_zipf - n envelopes whose client, HELO, sender and recipient are each
 * drawn, independently, by Zipf's law from the inputs of npool distinct
 * envelopes made as for the cold workload (same share of listed inputs) */
static void
gen_zipf(struct gen *g, struct envq *out, size_t n, size_t npool)
{
	struct envq *pool = calloc(npool, sizeof(*pool));
	double *cdf = zipf_cdf(npool);

	if (pool == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < npool; i++)
		gen_envelope(g, &pool[i], 30);
	for (size_t i = 0; i < n; i++) {
		out[i].client = pool[zipf_pick(g, cdf, npool)].client;
		out[i].helo = pool[zipf_pick(g, cdf, npool)].helo;
		out[i].sender = pool[zipf_pick(g, cdf, npool)].sender;
		out[i].rcpt = pool[zipf_pick(g, cdf, npool)].rcpt;
	}
	free(pool);
	free(cdf);
}

enum kind { K_EXACT, K_CIDR, K_PCRE, K_COUNT };

static const char *const kind_name[K_COUNT] = {"exact", "cidr", "pcre"};
static const char *const kind_label[K_COUNT] = {
        "exact sender address (hash)",
        "client address (cidr)",
        "sender patterns (pcre)",
};

struct kind_result {
	size_t nentries, nkeys, hits;
	double per_s, ns;
};

/* kind_pass - one lookup per key: the client at connect, or the sender at
 * MAIL with the client's facts already known; returns the hits */
static __attribute__((noinline)) size_t
kind_pass(const struct pol_snapshot *s, const struct pol_service *svc, enum kind k,
          const struct strv *keys, const struct cidr *ips, const struct pol_state *base)
{
	struct pol_verdict v;
	struct pol_state st;
	size_t hits = 0;

	for (size_t i = 0; i < keys->n; i++) {
		struct pol_query q = {.service = svc};

		if (k == K_CIDR) {
			q.client = ips[i];
			pol_state_init(&st);
			pol_eval(s, NULL, &q, POL_CONNECT, &st, &v);
			hits += st.lan != POL_NONE || st.wl_client != POL_NONE ||
			        st.bl_client != POL_NONE;
		} else {
			st = *base;
			q.sender = keys->v[i];
			pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
			hits += st.wl_sender != POL_NONE || st.bl_sender != POL_NONE;
		}
	}
	return hits;
}

/* measure_kind - lookups per second of one kind over its keys, repeated to
 * at least min_lookups per run; median of runs */
static void
measure_kind(const char *policy, enum kind k, const struct strv *keys, size_t min_lookups, int runs,
             struct kind_result *res)
{
	struct pol_snapshot *s = load_compile(policy, NULL);
	const struct pol_service *svc = mx_service(s);
	struct cidr *ips = calloc(keys->n ? keys->n : 1, sizeof(*ips));
	struct pol_state base;
	struct pol_verdict v;
	struct pol_query q = {.service = svc};
	struct pol_stats st;
	size_t passes;
	double t[MAX_RUNS];

	if (ips == NULL)
		fatal("out of memory");
	for (size_t i = 0; k == K_CIDR && i < keys->n; i++)
		if (cidr_addr_parse(keys->v[i], &ips[i]) < 0)
			fatal("bad key %s", keys->v[i]);
	/* a client in no list, its facts known, as at MAIL in a session */
	cidr_addr_parse("192.0.2.200", &q.client);
	pol_state_init(&base);
	pol_eval(s, NULL, &q, POL_CONNECT, &base, &v);

	pol_snapshot_stats(s, &st);
	for (int l = 0; l < POL_L_COUNT; l++)
		if (l != POL_L_LOCAL_HOSTS)
			res->nentries += st.nlist[l];
	res->nkeys = keys->n;
	res->hits = kind_pass(s, svc, k, keys, ips, &base);
	passes = keys->n ? (min_lookups + keys->n - 1) / keys->n : 0;
	for (int r = 0; r < runs; r++) {
		double t0 = now_seconds();

		for (size_t p = 0; p < passes; p++)
			kind_pass(s, svc, k, keys, ips, &base);
		t[r] = now_seconds() - t0;
	}
	if (passes > 0) {
		double sec = median(t, runs), n = (double)(passes * keys->n);

		res->per_s = n / sec;
		res->ns = sec * 1e9 / n;
	}
	free(ips);
	pol_snapshot_free(s);
}

/* ---- output ---- */

struct results {
	size_t nexact, npat, nglob, ncidr, nq;
	double gen_s;
	struct compile_run cr[4];
	unsigned ncr;
	double env_s, stage_s[4];
	uint64_t counts[POL_R_COUNT];
	double cold_r_s, cold_r_hits, cold_r_bypass; /* cold workload through an lcore reader */
	double zipf_s, zipf_hits, zipf_bypass;       /* Zipf workload through an lcore reader */
	size_t zipf_pool;
	struct kind_result kinds[K_COUNT];
	long maxrss_kib;
};

static void
print_text(const struct results *R, const char *dir, uint64_t seed, int runs)
{
	double eps = (double)R->nq / R->env_s;

	printf("smtpgate policy benchmark (Hyperscan %s, seed %" PRIu64 ", 1 thread)\n",
	       hs_version(), seed);
	printf("policy: %zu exact entries, %zu patterns (%zu globs, %zu regexes), %zu CIDRs\n",
	       R->nexact, R->npat, R->nglob, R->npat - R->nglob, R->ncidr);
	printf("        written to %s/policy.conf in %.2f s\n\n", dir, R->gen_s);

	printf("%-38s %8s %10s %9s %8s %7s %9s\n", "compile", "load s", "compile s", "total s",
	       "hs comp", "hs hit", "mem MiB");
	for (unsigned i = 0; i < R->ncr; i++) {
		const struct compile_run *c = &R->cr[i];

		printf("%-38s %8.3f %10.3f %9.3f %8u %7u %9.1f\n", c->what, c->load_s,
		       c->st.compile_seconds, c->total_s, c->st.hs_compiled, c->st.hs_cached,
		       (double)c->st.mem_bytes / (1 << 20));
	}
	printf("target: load+compile under 1 s when the patterns are unchanged:");
	for (unsigned i = 1; i < R->ncr; i++)
		printf(" %s %s",
		       i == 1   ? "warm"
		       : i == 2 ? "changed"
		                : "added",
		       R->cr[i].total_s < 1.0 ? "ok" : "MISSED");
	printf("\n\n");

	printf("full envelope decisions (connect+HELO+MAIL+RCPT) on one core, median of %d\n",
	       runs);
	printf("  policy: %zu exact entries, %zu patterns (%zu globs, %zu regexes), %zu CIDRs\n",
	       R->nexact, R->npat, R->nglob, R->npat - R->nglob, R->ncidr);
	printf("  %-44s %12s %10s %10s\n", "workload", "envelopes/s", "ns/env", "cache hits");
	printf("  %-44s %12.0f %10.1f %10s\n", "cold, offline (reader NULL: no fact cache)", eps,
	       R->env_s * 1e9 / (double)R->nq, "-");
	printf("  %-44s %12.0f %10.1f %9.1f%%\n", "cold, lcore reader (every input distinct)",
	       (double)R->nq / R->cold_r_s, R->cold_r_s * 1e9 / (double)R->nq,
	       100 * R->cold_r_hits);
	printf("  %-44s %12.0f %10.1f %9.1f%%\n", "repeated, lcore reader (Zipf, see below)",
	       (double)R->nq / R->zipf_s, R->zipf_s * 1e9 / (double)R->nq, 100 * R->zipf_hits);
	printf("  (inputs that bypassed the fact cache while it sampled: cold %.1f%%, "
	       "repeated %.1f%%)\n",
	       100 * R->cold_r_bypass, 100 * R->zipf_bypass);
	printf("  (%zu envelopes each; repeated: client, HELO, sender and recipient each drawn\n"
	       "   by Zipf's law, s = %.1f, from the inputs of %zu cold envelopes)\n",
	       R->nq, ZIPF_S, R->zipf_pool);
	printf("  target 5,000,000/s: cold %s, repeated %s\n",
	       (double)R->nq / R->cold_r_s >= 5e6 ? "ok" : "MISSED",
	       (double)R->nq / R->zipf_s >= 5e6 ? "ok" : "MISSED");
	printf("  cold offline, by stage (ns/envelope):\n");
	for (int k = 0; k < 4; k++)
		printf("  %-28s %12.1f\n",
		       k == 0   ? "  connect (1 prefix lookup) "
		       : k == 1 ? "  HELO"
		       : k == 2 ? "  MAIL"
		                : "  RCPT (and the verdict)",
		       R->stage_s[k] * 1e9 / (double)R->nq);
	printf("  verdicts:\n");
	for (int r = 0; r < POL_R_COUNT; r++)
		if (R->counts[r] != 0)
			printf("    %-24s %10" PRIu64 " %6.2f%%\n",
			       pol_reason_name((enum pol_reason)r), R->counts[r],
			       100.0 * (double)R->counts[r] / (double)R->nq);
	printf("\nper-kind lookups (one-kind policies, same keys as the Postfix tables)\n");
	printf("  %-30s %8s %8s %8s %12s %9s\n", "kind", "entries", "keys", "hits", "lookups/s",
	       "ns/lookup");
	for (int k = 0; k < K_COUNT; k++) {
		const struct kind_result *kr = &R->kinds[k];

		printf("  %-30s %8zu %8zu %8zu %12.0f %9.1f\n", kind_label[k], kr->nentries,
		       kr->nkeys, kr->hits, kr->per_s, kr->ns);
	}
	printf("\nmax RSS %.1f MiB\n", (double)R->maxrss_kib / 1024);
}

static void
print_json(const struct results *R, const char *dir, uint64_t seed, int runs)
{
	printf("{\"hyperscan\":\"%s\",\"seed\":%" PRIu64 ",\"runs\":%d,\"dir\":\"%s\",\n",
	       hs_version(), seed, runs, dir);
	printf(" \"policy\":{\"exact\":%zu,\"patterns\":%zu,\"globs\":%zu,\"regexes\":%zu,"
	       "\"cidrs\":%zu,\"generate_seconds\":%.3f},\n",
	       R->nexact, R->npat, R->nglob, R->npat - R->nglob, R->ncidr, R->gen_s);
	printf(" \"compile\":[");
	for (unsigned i = 0; i < R->ncr; i++) {
		const struct compile_run *c = &R->cr[i];

		printf("%s\n  {\"what\":\"%s\",\"load_seconds\":%.4f,\"compile_seconds\":%.4f,"
		       "\"total_seconds\":%.4f,\"hs_compiled\":%u,\"hs_cached\":%u,\"mem_bytes\":%"
		       "zu}",
		       i ? "," : "", c->what, c->load_s, c->st.compile_seconds, c->total_s,
		       c->st.hs_compiled, c->st.hs_cached, c->st.mem_bytes);
	}
	printf("],\n \"envelopes\":{\"count\":%zu,\"per_second\":%.0f,\"ns_per_envelope\":%.1f,"
	       "\"reader_cold_per_second\":%.0f,\"reader_cold_cache_hits\":%.4f,"
	       "\"reader_cold_cache_bypassed\":%.4f,\"zipf_cache_bypassed\":%.4f,"
	       "\"zipf_per_second\":%.0f,\"zipf_cache_hits\":%.4f,\"zipf_s\":%.2f,"
	       "\"zipf_pool\":%zu,"
	       "\"stage_ns\":{\"connect\":%.1f,\"helo\":%.1f,\"mail\":%.1f,\"rcpt\":%.1f},"
	       "\"verdicts\":{",
	       R->nq, (double)R->nq / R->env_s, R->env_s * 1e9 / (double)R->nq,
	       (double)R->nq / R->cold_r_s, R->cold_r_hits, R->cold_r_bypass, R->zipf_bypass,
	       (double)R->nq / R->zipf_s, R->zipf_hits, ZIPF_S, R->zipf_pool,
	       R->stage_s[0] * 1e9 / (double)R->nq, R->stage_s[1] * 1e9 / (double)R->nq,
	       R->stage_s[2] * 1e9 / (double)R->nq, R->stage_s[3] * 1e9 / (double)R->nq);
	for (int r = 0; r < POL_R_COUNT; r++)
		printf("%s\"%s\":%" PRIu64, r ? "," : "", pol_reason_name((enum pol_reason)r),
		       R->counts[r]);
	printf("}},\n \"kinds\":{");
	for (int k = 0; k < K_COUNT; k++) {
		const struct kind_result *kr = &R->kinds[k];

		printf("%s\n  \"%s\":{\"entries\":%zu,\"keys\":%zu,\"hits\":%zu,"
		       "\"lookups_per_second\":%.0f,\"ns_per_lookup\":%.1f}",
		       k ? "," : "", kind_name[k], kr->nentries, kr->nkeys, kr->hits, kr->per_s,
		       kr->ns);
	}
	printf("},\n \"max_rss_kib\":%ld}\n", R->maxrss_kib);
}

/* write_kinds_tsv - the per-kind figures for policy-bench.sh, beside the tables */
static void
write_kinds_tsv(const char *dir, const struct results *R)
{
	char path[4096];
	FILE *f = open_in(dir, "smtpgate-kinds.tsv", path, sizeof(path));

	fprintf(f, "# kind\tentries\tkeys\thits\tlookups_per_s\tns_per_lookup\n");
	for (int k = 0; k < K_COUNT; k++)
		fprintf(f, "%s\t%zu\t%zu\t%zu\t%.0f\t%.1f\n", kind_name[k], R->kinds[k].nentries,
		        R->kinds[k].nkeys, R->kinds[k].hits, R->kinds[k].per_s, R->kinds[k].ns);
	fprintf(f, "envelope\t%zu\t%zu\t0\t%.0f\t%.1f\n", R->nexact + R->npat + R->ncidr, R->nq,
	        (double)R->nq / R->env_s, R->env_s * 1e9 / (double)R->nq);
	fprintf(f, "envelope_reader_cold\t%zu\t%zu\t0\t%.0f\t%.1f\n",
	        R->nexact + R->npat + R->ncidr, R->nq, (double)R->nq / R->cold_r_s,
	        R->cold_r_s * 1e9 / (double)R->nq);
	fprintf(f, "envelope_zipf\t%zu\t%zu\t0\t%.0f\t%.1f\n", R->nexact + R->npat + R->ncidr,
	        R->nq, (double)R->nq / R->zipf_s, R->zipf_s * 1e9 / (double)R->nq);
	close_file(f, path);
}

/* ---- main ---- */

static void
usage(FILE *out)
{
	fprintf(out, "usage: bench_policy [--dir DIR] [--exact N] [--patterns N] [--cidrs N]\n"
	             "                    [--queries N] [--runs N] [--seed S] [--json] [--smoke]\n"
	             "                    [--write-postfix DIR] [--hash-keys N] [--cidr-keys N]\n"
	             "                    [--pcre-keys N] [--kind-lookups N] [--zipf-pool N]\n"
	             "                    [--verdicts FILE]\n"
	             "Generates a policy (default 100000 exact entries, 1000 patterns, 100000\n"
	             "CIDRs) into DIR, times its compile (cold, warm, after edits of exact\n"
	             "entries) and full envelope decisions on this thread; with --write-postfix,\n"
	             "writes equivalent Postfix tables and keys, and smtpgate's per-kind rates;\n"
	             "with --verdicts, every envelope's decision (to diff two builds).\n");
}

static size_t
parse_size(const char *s, const char *opt)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		fatal("%s: expected a number, got \"%s\"", opt, s);
	return (size_t)v;
}

/* edit_exact - rewrite bl_senders.txt: every 100th entry replaced, or one
 * entry appended; the pattern files stay as they were */
static void
edit_exact(struct gen *g, const char *dir, bool append)
{
	const struct strv *v = &g->l[L_BL_SENDERS].ent;
	struct strv e = {0};
	char buf[NAME_MAX_LEN];

	for (size_t i = 0; i < v->n; i++) {
		if (!append && i % 100 == 0) {
			snprintf(buf, sizeof(buf), "changed%zu@edit.example", i);
			strv_add(&e, arena_dup(&g->a, buf));
		} else {
			strv_add(&e, v->v[i]);
		}
	}
	if (append)
		strv_add(&e, "added@edit.example");
	write_lines(dir, lst_file[L_BL_SENDERS], &e, "", "");
	free(e.v);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"dir", required_argument, NULL, 'd'},
	        {"exact", required_argument, NULL, 'e'},
	        {"patterns", required_argument, NULL, 'p'},
	        {"cidrs", required_argument, NULL, 'c'},
	        {"queries", required_argument, NULL, 'q'},
	        {"runs", required_argument, NULL, 'r'},
	        {"seed", required_argument, NULL, 's'},
	        {"json", no_argument, NULL, 'j'},
	        {"smoke", no_argument, NULL, 'S'},
	        {"write-postfix", required_argument, NULL, 'P'},
	        {"hash-keys", required_argument, NULL, 'H'},
	        {"cidr-keys", required_argument, NULL, 'C'},
	        {"pcre-keys", required_argument, NULL, 'R'},
	        {"kind-lookups", required_argument, NULL, 'L'},
	        {"zipf-pool", required_argument, NULL, 'Z'},
	        {"verdicts", required_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *pfdir = NULL, *vpath = NULL;
	size_t nexact = 100000, npat = 1000, ncidr = 100000, nq = 2000000;
	size_t nhash = 100000, ncidrk = 2000, npcre = 5000, min_lookups = 1000000;
	size_t zipf_pool = 100000;
	uint64_t seed = 1;
	int runs = 5, opt;
	bool json = false;
	char dirbuf[] = "/tmp/bench_policy.XXXXXX", path[4096];
	struct gen *g = calloc(1, sizeof(*g));
	struct results *R = calloc(1, sizeof(*R));
	struct strv keys[3] = {{0}};
	struct envq *ev, *ez;
	struct pol_snapshot *s;
	struct pol_reader *rd;
	struct pol_errs errs = {0};
	const struct pol_service *svc;
	struct rusage ru;
	double t0, t[4];

	if (g == NULL || R == NULL)
		fatal("out of memory");
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'e':
			nexact = parse_size(optarg, "--exact");
			break;
		case 'p':
			npat = parse_size(optarg, "--patterns");
			break;
		case 'c':
			ncidr = parse_size(optarg, "--cidrs");
			break;
		case 'q':
			nq = parse_size(optarg, "--queries");
			break;
		case 'r':
			runs = (int)parse_size(optarg, "--runs");
			break;
		case 's':
			seed = parse_size(optarg, "--seed");
			break;
		case 'j':
			json = true;
			break;
		case 'S':
			nexact = 1000;
			npat = 20;
			ncidr = 1000;
			nq = 20000;
			nhash = 2000;
			ncidrk = 200;
			npcre = 200;
			min_lookups = 20000;
			zipf_pool = 2000;
			runs = 3;
			break;
		case 'P':
			pfdir = optarg;
			break;
		case 'H':
			nhash = parse_size(optarg, "--hash-keys");
			break;
		case 'C':
			ncidrk = parse_size(optarg, "--cidr-keys");
			break;
		case 'R':
			npcre = parse_size(optarg, "--pcre-keys");
			break;
		case 'L':
			min_lookups = parse_size(optarg, "--kind-lookups");
			break;
		case 'Z':
			zipf_pool = parse_size(optarg, "--zipf-pool");
			break;
		case 'V':
			vpath = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || runs < 1 || runs > MAX_RUNS || nq == 0 || zipf_pool == 0 ||
	    nexact > 4000000 || ncidr > 4000000 || npat > 100000) {
		usage(stderr);
		return 2;
	}
	if (dir == NULL) {
		dir = mkdtemp(dirbuf);
		if (dir == NULL)
			fatal("mkdtemp: %s", strerror(errno));
	} else if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fatal("cannot create %s: %s", dir, strerror(errno));
	}

	/* generate: policy, envelopes, per-kind keys; one seed for all */
	t0 = now_seconds();
	g->r.s = seed;
	gen_policy(g, nexact, npat, ncidr);
	write_policy(g, dir);
	R->gen_s = now_seconds() - t0;
	R->nexact = nexact;
	R->ncidr = ncidr;
	R->nq = nq;
	for (int l = L_BL_HELO_PAT; l < L_COUNT; l++) {
		if (l == L_BL_HELO_PAT || l == L_WL_HELO_PAT || l == L_BL_SENDERS_PAT ||
		    l == L_WL_SENDERS_PAT || l == L_BL_RCPT_PAT || l == L_WL_RCPT_PAT) {
			R->npat += g->l[l].ent.n;
			R->nglob += g->l[l].nglob;
		}
	}
	ev = calloc(nq, sizeof(*ev));
	if (ev == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < nq; i++)
		gen_envelope(g, &ev[i], 30);
	ez = calloc(nq, sizeof(*ez));
	if (ez == NULL)
		fatal("out of memory");
	R->zipf_pool = zipf_pool;
	gen_zipf(g, ez, nq, zipf_pool);
	gen_keys(g, keys, nhash, ncidrk, npcre, 30);
	if (pfdir != NULL)
		write_postfix(g, pfdir, keys);

	/* compile: cold, warm, then after edits of exact entries only */
	snprintf(path, sizeof(path), "%s/policy.conf", dir);
	pol_hs_cache_dir(NULL);
	pol_hs_cache_clear();
	R->cr[0].what = "cold (empty Hyperscan cache)";
	pol_snapshot_free(load_compile(path, &R->cr[0]));
	R->cr[1].what = "warm (same files, same process)";
	s = load_compile(path, &R->cr[1]);
	edit_exact(g, dir, false);
	R->cr[2].what = "1% of bl_senders.txt replaced";
	pol_snapshot_free(load_compile(path, &R->cr[2]));
	edit_exact(g, dir, true);
	R->cr[3].what = "1 entry added to bl_senders.txt";
	pol_snapshot_free(load_compile(path, &R->cr[3]));
	R->ncr = 4;
	write_lines(dir, lst_file[L_BL_SENDERS], &g->l[L_BL_SENDERS].ent, "", "");

	/* full envelopes: one untimed pass for the verdict mix and the caches */
	svc = mx_service(s);
	run_envelopes(s, NULL, svc, ev, nq, 4, R->counts);
	time_stages(s, svc, ev, nq, runs, t);
	R->env_s = t[3];
	for (unsigned k = 0; k < 4; k++)
		R->stage_s[k] = t[k] - (k ? t[k - 1] : 0);

	/* as an lcore does: the snapshot published, this thread a reader */
	if (pol_publish(s, &errs) == 0) {
		pol_errs_print(&errs, stderr);
		fatal("cannot publish the policy");
	}
	rd = pol_reader_register();
	if (rd == NULL)
		fatal("cannot register a policy reader");
	/* instrumented from here (callgrind sees time_full entered, for
	 * --toggle-collect) to after the second call */
	CALLGRIND_START_INSTRUMENTATION;
	time_full(pol_live(rd), rd, svc, ev, nq, runs, &R->cold_r_s, &R->cold_r_hits,
	          &R->cold_r_bypass);
	time_full(pol_live(rd), rd, svc, ez, nq, runs, &R->zipf_s, &R->zipf_hits, &R->zipf_bypass);
	CALLGRIND_STOP_INSTRUMENTATION;
	if (vpath != NULL) {
		FILE *vf = fopen(vpath, "w");

		if (vf == NULL)
			fatal("cannot write %s: %s", vpath, strerror(errno));
		/* offline, then through the reader (its cache warm from above) */
		dump_verdicts(vf, "cold", s, NULL, svc, ev, nq);
		dump_verdicts(vf, "zipf", s, NULL, svc, ez, nq);
		dump_verdicts(vf, "cold-r", pol_live(rd), rd, svc, ev, nq);
		dump_verdicts(vf, "zipf-r", pol_live(rd), rd, svc, ez, nq);
		close_file(vf, vpath);
	}
	pol_reader_unregister(rd);
	pol_unpublish();

	/* per kind, beside Postfix's tables */
	snprintf(path, sizeof(path), "%s/kind_exact.conf", dir);
	measure_kind(path, K_EXACT, &keys[0], min_lookups, runs, &R->kinds[K_EXACT]);
	snprintf(path, sizeof(path), "%s/kind_cidr.conf", dir);
	measure_kind(path, K_CIDR, &keys[1], min_lookups, runs, &R->kinds[K_CIDR]);
	snprintf(path, sizeof(path), "%s/kind_pcre.conf", dir);
	measure_kind(path, K_PCRE, &keys[2], min_lookups, runs, &R->kinds[K_PCRE]);

	getrusage(RUSAGE_SELF, &ru);
	R->maxrss_kib = ru.ru_maxrss;
	if (pfdir != NULL)
		write_kinds_tsv(pfdir, R);
	if (json)
		print_json(R, dir, seed, runs);
	else
		print_text(R, dir, seed, runs);
	return 0;
}
