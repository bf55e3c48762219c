/* test_pattern - entry classification, input normalisation, and the matchers
 * against a brute-force oracle on random data */
#include <ctype.h>
#include <fnmatch.h>
#include <regex.h>

#include "../../../policy/pol_impl.h"
#include "tap.h"
#include "testlib.h"

struct pcase {
	enum pol_list list;
	const char *text;
	int kind; /* -1: refused */
	const char *key;
};

static const struct pcase pcases[] = {
        {POL_L_BL_SENDERS, "User@Example.COM", POL_P_ADDR, "user@example.com"},
        {POL_L_BL_SENDERS, "user@example.com.", POL_P_ADDR, "user@example.com"},
        {POL_L_BL_SENDERS, "@Example.com", POL_P_DOMAIN, "example.com"},
        {POL_L_BL_SENDERS, "example.com", POL_P_DOMAIN, "example.com"},
        {POL_L_BL_SENDERS, "example.com.", POL_P_DOMAIN, "example.com"},
        {POL_L_BL_SENDERS, ".Example.com", POL_P_SUBDOMAIN, "example.com"},
        {POL_L_BL_SENDERS, "User@", POL_P_LOCALPART, "user"},
        {POL_L_BL_SENDERS, "*@spam.example", POL_P_DOMAIN, "spam.example"},
        {POL_L_BL_SENDERS, "*@*.Spam.example.", POL_P_SUBDOMAIN, "spam.example"},
        {POL_L_BL_SENDERS, "*.spam.example", POL_P_SUBDOMAIN, "spam.example"},
        {POL_L_BL_SENDERS, "*@spam*.example", POL_P_GLOB, "*@spam*.example"},
        {POL_L_BL_SENDERS, "x*@spam.example", POL_P_GLOB, "x*@spam.example"},
        {POL_L_BL_SENDERS, "a?c@X.example", POL_P_GLOB, "a?c@x.example"},
        {POL_L_BL_SENDERS, "/^[0-9]{6,}@/", POL_P_REGEX, "^[0-9]{6,}@"},
        {POL_L_BL_SENDERS, "<>", POL_P_NULL, ""},
        {POL_L_WL_SENDERS, "<>", POL_P_NULL, ""},
        {POL_L_BL_RECIPIENTS, "<>", -1, NULL},
        {POL_L_BL_SENDERS, "/unclosed", -1, NULL},
        {POL_L_BL_SENDERS, "//", -1, NULL},
        {POL_L_BL_SENDERS, "/a{2,1}/", -1, NULL},
        {POL_L_BL_SENDERS, "a b@example.com", -1, NULL},
        {POL_L_BL_SENDERS, "a@exa mple.com", -1, NULL},
        {POL_L_BL_SENDERS, "a@", POL_P_LOCALPART, "a"},
        {POL_L_BL_SENDERS, "@", -1, NULL},
        {POL_L_BL_SENDERS, ".", -1, NULL},
        {POL_L_BL_SENDERS, "a@b..c", -1, NULL},
        {POL_L_BL_HELO, "Host.Example.", POL_P_DOMAIN, "host.example"},
        {POL_L_BL_HELO, "@host.example", POL_P_DOMAIN, "host.example"},
        {POL_L_BL_HELO, ".dyn.example", POL_P_SUBDOMAIN, "dyn.example"},
        {POL_L_BL_HELO, "*.dyn.example", POL_P_SUBDOMAIN, "dyn.example"},
        {POL_L_BL_HELO, "*dyn.example", POL_P_GLOB, "*dyn.example"},
        {POL_L_BL_HELO, "*@dyn.example", -1, NULL},
        {POL_L_BL_HELO, "[192.0.2.1]", POL_P_DOMAIN, "[192.0.2.1]"},
        {POL_L_BL_HELO, "user@host.example", -1, NULL},
        {POL_L_LOCAL_DOMAINS, "Example.NET.", POL_P_DOMAIN, "example.net"},
        {POL_L_LOCAL_DOMAINS, ".example.net", POL_P_SUBDOMAIN, "example.net"},
        {POL_L_LOCAL_DOMAINS, "*.example.net", -1, NULL},
        {POL_L_LOCAL_DOMAINS, "@example.net", -1, NULL},
        {POL_L_LOCAL_HOSTS, "mx.example.net", POL_P_DOMAIN, "mx.example.net"},
        {POL_L_LOCAL_HOSTS, ".example.net", -1, NULL},
        {POL_L_LAN, "10.0.0.0/8", POL_P_CIDR, "10.0.0.0/8"},
        {POL_L_LAN, "2001:db8::/32", POL_P_CIDR, "2001:db8::/32"},
        {POL_L_LAN, "10.0.0.1/8", -1, NULL},
        {POL_L_LAN, "example.net", -1, NULL},
        {POL_L_LOCAL_ADDRESSES, "192.0.2.1", POL_P_CIDR, "192.0.2.1"},
        {POL_L_LOCAL_ADDRESSES, "192.0.2.0/24", -1, NULL},
};

static void
test_classify(void)
{
	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *c = &pcases[i];
		struct pol_entry e = {0};
		char why[256] = "";
		int rc = pol_pattern_parse(c->list, c->text, &e, why, sizeof(why));

		if (c->kind < 0) {
			ok(rc < 0 && why[0] != '\0', "%s \"%s\" refused (%s)",
			   pol_list_name(c->list), c->text, why);
		} else {
			ok(rc == 0 && (int)e.kind == c->kind, "%s \"%s\" is a %s",
			   pol_list_name(c->list), c->text, pol_kind_name(c->kind));
			is_str(e.key, c->key, "%s \"%s\" key", pol_list_name(c->list), c->text);
			ok(e.written == (strpbrk(c->text, "*?") != NULL && c->text[0] != '/'
			                         ? POL_P_GLOB
			                         : e.kind),
			   "%s \"%s\" is shown as written", pol_list_name(c->list), c->text);
		}
		free(e.key);
	}
}

struct acase {
	const char *in;
	const char *full;
	const char *lp;
	const char *dom; /* NULL: none */
	bool routed;
};

static const struct acase acases[] = {
        {"User@Example.COM", "user@example.com", "user", "example.com", false},
        {"user@example.com.", "user@example.com", "user", "example.com", false},
        {"a%b@example.com", "a%b@example.com", "a%b", "example.com", true},
        {"b!a@example.com", "b!a@example.com", "b!a", "example.com", true},
        {"\"a@b\"@example.com", "\"a@b\"@example.com", "\"a@b\"", "example.com", true},
        {"\"a b\"@example.com", "\"a b\"@example.com", "\"a b\"", "example.com", false},
        {"\"a\\\"@b\"@example.com", "\"a\\\"@b\"@example.com", "\"a\\\"@b\"", "example.com", true},
        {"a@b@example.com", "a@b@example.com", "a@b", "example.com", true},
        {"@r1.example,@r2.example:u@example.com", "u@example.com", "u", "example.com", true},
        {"postmaster", "postmaster", "postmaster", NULL, false},
        {"u@[192.0.2.1]", "u@[192.0.2.1]", "u", "[192.0.2.1]", false},
        {"u@", "u@", "u", NULL, false},
};

static void
test_addr_norm(void)
{
	for (size_t i = 0; i < sizeof(acases) / sizeof(acases[0]); i++) {
		const struct acase *c = &acases[i];
		char buf[600], lp[600], dom[600];
		struct pol_addr a;

		if (!ok(pol_addr_norm(c->in, buf, sizeof(buf), &a) == 0, "%s: normalised", c->in))
			continue;
		snprintf(lp, sizeof(lp), "%.*s", (int)a.lp_len, a.lp);
		snprintf(dom, sizeof(dom), "%.*s", (int)a.dom_len, a.dom ? a.dom : "");
		is_str(a.full, c->full, "%s: full", c->in);
		is_str(lp, c->lp, "%s: local part", c->in);
		is_str(a.dom != NULL ? dom : "(none)", c->dom != NULL ? c->dom : "(none)",
		       "%s: domain", c->in);
		ok(a.routed == c->routed, "%s: %srouted", c->in, c->routed ? "" : "not ");
	}
	{
		char small[8];
		struct pol_addr a;

		ok(pol_addr_norm("longer@example.com", small, sizeof(small), &a) < 0,
		   "an input longer than the buffer is refused, not cut");
	}
	{
		char *re = pol_glob_to_regex("*.a+b?(c)");

		is_str(re, "^.*\\.a\\+b.\\(c\\)$", "glob to regex escapes metacharacters");
		free(re);
	}
}

/* test_lower - inputs are lowercased eight bytes at a time: against the
 * plain per-byte rule on random bytes (all of 1..255, so the edges of A-Z
 * and bytes >= 0x80 come up) at every length and alignment */
static void
test_lower(void)
{
	unsigned rs = 11, bad_host = 0, bad_addr = 0, bad_dots = 0;

	for (int r = 0; r < 20000; r++) {
		char in[48], want[48], buf[64];
		size_t len = (size_t)rand_r(&rs) % 40, off = (size_t)rand_r(&rs) % 8, n;
		struct pol_addr a;

		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)(1 + rand_r(&rs) % 255);

			if (c == '@' || c == '"')
				c = 'Q'; /* no domain, no quoting: the whole input is the local part
				          */
			in[off + i] = (char)c;
			want[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		in[off + len] = '\0';
		want[len] = '\0';
		{
			uint64_t dots = 0, want_dots = 0;
			bool has = false;
			size_t m = pol_host_norm(in + off, buf, sizeof(buf), &dots, &has);

			for (size_t i = 0; i < m; i++)
				want_dots |= (uint64_t)(buf[i] == '.') << i;
			if ((!has || dots != want_dots) && bad_dots++ < 3)
				printf("# host_norm's dots of %zu bytes differ\n", len);
		}
		n = len > 1 && want[len - 1] == '.' ? len - 1 : len;
		if ((strlen(buf) != n || memcmp(buf, want, n) != 0) && bad_host++ < 3)
			printf("# host_norm of %zu bytes differs\n", len);
		if ((pol_addr_norm(in + off, buf, sizeof(buf), &a) < 0 || a.full_len != len ||
		     memcmp(a.full, want, len) != 0) &&
		    bad_addr++ < 3)
			printf("# addr_norm of %zu bytes differs\n", len);
	}
	is_int(bad_host, 0, "pol_host_norm lowercases exactly A-Z, any length and alignment");
	is_int(bad_dots, 0, "pol_host_norm maps the dots of what it wrote");
	is_int(bad_addr, 0, "pol_addr_norm lowercases exactly A-Z, any length and alignment");
}

/* ---- the one-pass address normaliser against the old code ---- */

/* ref_addr_norm - pol_addr_norm as it was before its one-pass scan (a
 * libc call per question, lowercase per byte): the oracle */
static int
ref_addr_norm(const char *in, char *buf, size_t size, struct pol_addr *a)
{
	const char *p = in, *at = NULL, *end;
	bool quoted_at = false;
	size_t n = 0;

	memset(a, 0, sizeof(*a));
	if (p[0] == '@') {
		const char *colon = strchr(p, ':');

		a->routed = true;
		p = colon != NULL ? colon + 1 : p + strlen(p);
	}
	end = p + strlen(p);
	if ((size_t)(end - p) + 1 > size)
		return -1;
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
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
	buf[n] = '\0';
	a->full = buf;
	a->lp = buf;
	if (at == NULL) {
		a->lp_len = n;
		a->full_len = n;
	} else {
		size_t lpl = (size_t)(at - p);

		a->lp_len = lpl;
		a->dom = buf + lpl + 1;
		a->dom_len = n - lpl - 1;
		if (a->dom_len > 1 && a->dom[a->dom_len - 1] == '.')
			a->dom_len--;
		if (a->dom_len == 0)
			a->dom = NULL;
		n = lpl + 1 + a->dom_len;
		buf[n] = '\0';
		a->full_len = n;
	}
	if (quoted_at || memchr(a->lp, '%', a->lp_len) != NULL ||
	    memchr(a->lp, '!', a->lp_len) != NULL)
		a->routed = true;
	return 0;
}

/* same_addr - two normalisations (each into its own buffer) say the same */
static bool
same_addr(int r1, const struct pol_addr *a, const char *b1, int r2, const struct pol_addr *b,
          const char *b2)
{
	if (r1 != r2)
		return false;
	if (r1 < 0)
		return true;
	return a->full_len == b->full_len && memcmp(a->full, b->full, a->full_len + 1) == 0 &&
	       a->full - b1 == b->full - b2 && a->lp - b1 == b->lp - b2 && a->lp_len == b->lp_len &&
	       (a->dom == NULL) == (b->dom == NULL) &&
	       (a->dom == NULL || (a->dom - b1 == b->dom - b2 && a->dom_len == b->dom_len)) &&
	       a->routed == b->routed;
}

/* test_addr_norm_oracle - random paths over the bytes that matter ('@',
 * '%', '!', '"', ':', '.', upper case, >= 0x80), at every length around
 * the 8-byte steps and alignment, and paths too long for the buffer */
static void
test_addr_norm_oracle(void)
{
	static const char alpha[] = "@@%!\".:.aZb.Q-\\\xc3\x80";
	unsigned rs = 23, bad = 0, routed = 0, doms = 0, bad_dots = 0, mapped = 0;
	unsigned bad_len = 0, bad_host_len = 0;
	const unsigned n = 200000;

	for (unsigned r = 0; r < n; r++) {
		char in[112], b1[96], b2[96];
		size_t len = (size_t)rand_r(&rs) % 100, off = (size_t)rand_r(&rs) % 8;
		struct pol_addr a1, a2;
		int r1, r2;

		for (size_t i = 0; i < len; i++)
			in[off + i] = rand_r(&rs) % 3 == 0
			                      ? alpha[rand_r(&rs) % (sizeof(alpha) - 1)]
			                      : (char)('a' + rand_r(&rs) % 26);
		in[off + len] = '\0';
		r1 = pol_addr_norm(in + off, b1, sizeof(b1), &a1);
		r2 = ref_addr_norm(in + off, b2, sizeof(b2), &a2);
		if (!same_addr(r1, &a1, b1, r2, &a2, b2) && bad++ < 5)
			printf("#   differs on \"%s\"\n", in + off);
		/* the length given, as the fact cache measured it: the same */
		r2 = pol_addr_norm_len(in + off, len, b2, sizeof(b2), &a2);
		if ((!same_addr(r1, &a1, b1, r2, &a2, b2) || a1.dots != a2.dots ||
		     a1.has_dots != a2.has_dots) &&
		    bad_len++ < 5)
			printf("#   differs with its length on \"%s\"\n", in + off);
		{
			char h1b[96], h2b[96]; /* a1 still points into b1 */
			uint64_t d1 = 0, d2 = 0;
			bool h1 = false, h2 = false;
			size_t m1 = pol_host_norm(in + off, h1b, sizeof(h1b), &d1, &h1);
			size_t m2 = pol_host_norm_len(in + off, len, h2b, sizeof(h2b), &d2, &h2);

			if ((m1 != m2 || memcmp(h1b, h2b, m1 + 1) != 0 || d1 != d2 || h1 != h2) &&
			    bad_host_len++ < 5)
				printf("#   host differs with its length on \"%s\"\n", in + off);
		}
		if (r1 == 0 && a1.has_dots) {
			uint64_t want = 0;

			for (size_t i = 0; i < a1.full_len; i++)
				want |= (uint64_t)(a1.full[i] == '.') << i;
			if (want != a1.dots && bad_dots++ < 5)
				printf("#   dots differ on \"%s\"\n", in + off);
			mapped++;
		}
		routed += r2 == 0 && a2.routed;
		doms += r2 == 0 && a2.dom != NULL;
	}
	printf("# %u paths: %u with a domain, %u routed, %u in one pass\n", n, doms, routed,
	       mapped);
	is_int(bad, 0, "pol_addr_norm says what the old code said on %u random paths", n);
	is_int(bad_len, 0, "pol_addr_norm_len, given the length, says what pol_addr_norm says");
	is_int(bad_host_len, 0,
	       "pol_host_norm_len, given the length, says what pol_host_norm says");
	is_int(bad_dots, 0, "its map of dots is right on the %u paths mapped in one pass", mapped);
	ok(mapped > n / 3 && mapped < n - n / 8, "both ways taken: %u paths in one pass", mapped);
	ok(doms > n / 4 && routed > n / 4 && routed < n - n / 8,
	   "the random paths cover domains, routing and neither");
}

/* ---- property test: pol_eval's sender black list against an oracle ---- */

static unsigned long rng = 88172645463325252ull;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const labels[] = {"a", "b", "ab", "ba", "c"};
static const char *const lparts[] = {"x", "y", "xy", "yx", "x.y"};

static void
rand_domain(char *buf, size_t size)
{
	unsigned n = 1 + rnd(3);

	buf[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		strncat(buf, labels[rnd(5)], size - strlen(buf) - 1);
		strncat(buf, ".", size - strlen(buf) - 1);
	}
	strncat(buf, "ex", size - strlen(buf) - 1);
}

/* rand_query_domain - a domain of 1 to 5 labels: entries have 2 to 4, so
 * that the label filter (pol_eval.c keys_add_labels) meets counts no key
 * has, on both sides */
static void
rand_query_domain(char *buf, size_t size)
{
	unsigned n = rnd(5);

	buf[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		strncat(buf, labels[rnd(5)], size - strlen(buf) - 1);
		strncat(buf, ".", size - strlen(buf) - 1);
	}
	strncat(buf, "ex", size - strlen(buf) - 1);
}

/* shout - randomly uppercase letters; matching must not care */
static void
shout(char *s)
{
	for (; *s; s++)
		if (rnd(3) == 0)
			*s = (char)toupper((unsigned char)*s);
}

struct oentry {
	char text[128];
	int kind;
	char key[128];
};

static void
rand_entry(struct oentry *e)
{
	char d[64];

	rand_domain(d, sizeof(d));
	switch (rnd(7)) {
	case 0:
		snprintf(e->text, sizeof(e->text), "%s@%s", lparts[rnd(5)], d);
		break;
	case 1:
		snprintf(e->text, sizeof(e->text), "%s@", lparts[rnd(5)]);
		break;
	case 2:
		snprintf(e->text, sizeof(e->text), "@%s", d);
		break;
	case 3:
		snprintf(e->text, sizeof(e->text), "%s%s", d, rnd(2) ? "." : "");
		break;
	case 4:
		snprintf(e->text, sizeof(e->text), ".%s", d);
		break;
	case 5: {
		const char *x = rnd(2) ? d : labels[rnd(5)];

		switch (rnd(5)) {
		case 0:
			snprintf(e->text, sizeof(e->text), "*@%s", x);
			break;
		case 1:
			snprintf(e->text, sizeof(e->text), "%s*", x);
			break;
		case 2:
			snprintf(e->text, sizeof(e->text), "?@*.%s", x);
			break;
		case 3:
			snprintf(e->text, sizeof(e->text), "x*@*%s", x);
			break;
		default:
			snprintf(e->text, sizeof(e->text), "*y@%s", x);
			break;
		}
		break;
	}
	default: {
		static const char *const res[] = {"/^x.*@a/", "/y\\.?x@b/", "/^(xy|yx)@c\\./",
		                                  "/@(a|b)+\\.ex$/", "/\\.c\\.ex$/"};

		snprintf(e->text, sizeof(e->text), "%s", res[rnd(5)]);
		break;
	}
	}
	if (e->text[0] != '/')
		shout(e->text);
}

/* lower_strip - lowercase, without a trailing dot */
static void
lower_strip(char *d, const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		d[n] = (char)tolower((unsigned char)s[n]);
	if (n > 1 && d[n - 1] == '.')
		n--;
	d[n] = '\0';
}

/* oracle - does the entry match the address, by the words of DESIGN.md */
static bool
oracle(const char *entry, const char *addr)
{
	char e[256], a[256], *at, *dom;

	lower_strip(a, addr);
	at = strrchr(a, '@');
	dom = at + 1;
	if (entry[0] == '/') {
		regex_t re;
		char pat[256];
		bool m;

		snprintf(pat, sizeof(pat), "%.*s", (int)strlen(entry) - 2, entry + 1);
		if (regcomp(&re, pat, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
			return false;
		m = regexec(&re, a, 0, NULL, 0) == 0;
		regfree(&re);
		return m;
	}
	lower_strip(e, entry);
	if (strpbrk(e, "*?") != NULL)
		return fnmatch(e, a, 0) == 0;
	if (e[0] == '.') {
		size_t dl = strlen(dom), kl = strlen(e);

		return dl > kl && strcmp(dom + dl - kl, e) == 0;
	}
	if (e[0] == '@')
		return strcmp(dom, e + 1) == 0;
	if (e[strlen(e) - 1] == '@')
		return strncmp(a, e, strlen(e)) == 0 && at == a + strlen(e) - 1;
	if (strchr(e, '@') != NULL)
		return strcmp(a, e) == 0;
	return strcmp(dom, e) == 0;
}

static void
test_property(void)
{
	enum { ROUNDS = 12, ENTRIES = 25, QUERIES = 1500 };
	unsigned long mismatched = 0, wrong_rule = 0, hits = 0, total = 0;

	for (int round = 0; round < ROUNDS; round++) {
		static struct oentry ents[ENTRIES];
		char list[ENTRIES * 130] = "", policy[512];
		struct pol_snapshot *s;
		struct pol_query q = {0};

		for (int i = 0; i < ENTRIES; i++) {
			rand_entry(&ents[i]);
			strcat(list, ents[i].text);
			strcat(list, "\n");
		}
		write_file("prop.txt", list);
		snprintf(policy, sizeof(policy),
		         "hostname = p.example;\n"
		         "blacklist { senders = \"file:prop.txt\"; }\n"
		         "service mx { ports = 25; }\n");
		s = must_load("prop.conf", policy);
		q.service = pol_service_find(s, "mx");
		cidr_addr_parse("203.0.113.1", &q.client);
		q.helo = "h.example";
		for (int i = 0; i < QUERIES; i++) {
			char addr[128], d[64];
			struct pol_state st;
			struct pol_verdict v;
			bool want = false;

			rand_query_domain(d, sizeof(d));
			/* a long local part takes the names past the one-pass
			 * normaliser (64 bytes): no dot map, no label filter */
			snprintf(addr, sizeof(addr), "%s%s@%s%s", lparts[rnd(5)],
			         rnd(4) ? "" : ".long-local-part-0123456789-0123456789-0123456789",
			         d, rnd(4) ? "" : ".");
			shout(addr);
			for (int k = 0; k < ENTRIES && !want; k++)
				want = oracle(ents[k].text, addr);
			q.sender = addr;
			pol_state_init(&st);
			pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
			total++;
			hits += want;
			if ((v.action == POL_REJECT) != want) {
				if (mismatched++ < 5)
					printf("# %s: oracle %d, gate %s\n", addr, want, v.text);
			} else if (want) {
				const struct pol_entry *e = pol_entry_get(s, v.rule);

				if (e == NULL || !oracle(e->text, addr)) {
					if (wrong_rule++ < 5)
						printf("# %s: rule %s does not match\n", addr,
						       e ? e->text : "(none)");
				}
			}
		}
		pol_snapshot_free(s);
	}
	ok(hits > total / 10 && hits < total - total / 10,
	   "random data exercises both outcomes (%lu of %lu hit)", hits, total);
	is_int(mismatched, 0, "matchers agree with the oracle on %lu addresses", total);
	is_int(wrong_rule, 0, "the reported rule always matches the address");
}

int
main(void)
{
	test_classify();
	test_addr_norm();
	test_lower();
	test_addr_norm_oracle();
	test_property();
	pol_hs_cache_clear();
	return done_testing();
}
