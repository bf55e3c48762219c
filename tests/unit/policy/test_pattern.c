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
	unsigned rs = 11, bad_host = 0, bad_addr = 0;

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
		pol_host_norm(in + off, buf, sizeof(buf));
		n = len > 1 && want[len - 1] == '.' ? len - 1 : len;
		if ((strlen(buf) != n || memcmp(buf, want, n) != 0) && bad_host++ < 3)
			printf("# host_norm of %zu bytes differs\n", len);
		if ((pol_addr_norm(in + off, buf, sizeof(buf), &a) < 0 || a.full_len != len ||
		     memcmp(a.full, want, len) != 0) &&
		    bad_addr++ < 3)
			printf("# addr_norm of %zu bytes differs\n", len);
	}
	is_int(bad_host, 0, "pol_host_norm lowercases exactly A-Z, any length and alignment");
	is_int(bad_addr, 0, "pol_addr_norm lowercases exactly A-Z, any length and alignment");
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

			rand_domain(d, sizeof(d));
			snprintf(addr, sizeof(addr), "%s@%s%s", lparts[rnd(5)], d,
			         rnd(4) ? "" : ".");
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
	test_property();
	pol_hs_cache_clear();
	return done_testing();
}
