/* test_fcache - the per-reader cache of input facts
 *
 * A reader that has seen an input answers from its cache: the verdicts must
 * be those of an evaluation without a cache (reader NULL), on the first
 * sight (miss) and the second (hit), for every kind of input; and a push
 * of a new policy must make every cached fact a miss, so that the new
 * policy decides, and the old one again when it is back.
 */
#include "../../../policy/pol_impl.h"
#include "tap.h"
#include "testlib.h"

static const char *const pol_a =
        "hostname = mx.example;\n"
        "local_domains = [ l.example, \".sub.example\" ];\n"
        "local_hosts = [ gw.l.example ];\n"
        "local_addresses = [ 192.0.2.1 ];\n"
        "blacklist {\n"
        "  helo = [ bad.example, \"*.dyn.*\", \"/^[0-9.]+$/\" ];\n"
        "  senders = [ s@bad.example, \"@spam.example\", \"/^[a-z]{2}[0-9]{6,}@/\" ];\n"
        "  recipients = [ trap@l.example, \"/^honeypot[0-9]+@/\" ];\n"
        "}\n"
        "whitelist { senders = [ friend@bad.example ]; helo = [ good.example ];\n"
        "  recipients = [ postmaster@l.example ]; }\n"
        "service mx { ports = 25; reject_remote_local_helo = true;\n"
        "  reject_nonlocal_senders_claiming_local = true; }\n";
/* pol_a with bad.example and s@bad.example no longer listed */
static const char *const pol_b =
        "hostname = mx.example;\n"
        "local_domains = [ l.example ];\n"
        "blacklist { senders = [ \"@other.example\" ]; helo = [ other.example ]; }\n"
        "service mx { ports = 25; reject_remote_local_helo = true;\n"
        "  reject_nonlocal_senders_claiming_local = true; }\n";

struct env {
	const char *helo, *sender, *rcpt;
};

static const struct env envs[] = {
        {"h.example", "u@x.example", "u@l.example"},
        {"bad.example", "u@x.example", "u@l.example"},
        {"BAD.example.", "u@x.example", "u@l.example"},
        {"a.dyn.example", "u@x.example", "u@l.example"},
        {"198.51.100.7", "u@x.example", "u@l.example"},
        {"[192.0.2.1]", "u@x.example", "u@l.example"},
        {"gw.l.example", "u@x.example", "u@l.example"},
        {"good.example", "s@bad.example", "u@l.example"},
        {"h.example", "s@bad.example", "u@l.example"},
        {"h.example", "S@Bad.Example", "u@l.example"},
        {"h.example", "x@spam.example", "u@l.example"},
        {"h.example", "ab1234567@x.example", "u@l.example"},
        {"h.example", "friend@bad.example", "trap@l.example"},
        {"h.example", "u@l.example", "u@l.example"},
        {"h.example", "", "u@l.example"},
        {"h.example", "u@x.example", "trap@l.example"},
        {"h.example", "u@x.example", "honeypot12@l.example"},
        {"h.example", "u@x.example", "postmaster"},
        {"h.example", "u@x.example", "u@other.example"},
        {"h.example", "u@x.example", "u%other.example@l.example"},
        {"h.example", "u@x.example", "u@a.sub.example"},
        {"h.example", "u@x.example", "postmaster@l.example"},
        /* longer than the cache holds: always computed */
        {"h.example",
         "a-very-long-local-part-that-goes-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-"
         "and-on-and-on-and-on@"
         "spam.example",
         "u@l.example"},
};
#define NENVS (sizeof(envs) / sizeof(envs[0]))

/* play - connect to RCPT as a session does; the text of the last verdict */
static void
play(const struct pol_snapshot *s, struct pol_reader *r, const struct env *e, struct pol_verdict *v)
{
	struct pol_query q = {.service = pol_service_find(s, "mx")};
	struct pol_state st;

	cidr_addr_parse("203.0.113.9", &q.client);
	pol_state_init(&st);
	for (enum pol_stage stage = POL_CONNECT; stage <= POL_RCPT; stage++) {
		q.helo = stage >= POL_HELO ? e->helo : NULL;
		q.sender = stage >= POL_MAIL ? e->sender : NULL;
		q.rcpt = stage == POL_RCPT ? e->rcpt : NULL;
		pol_eval(s, r, &q, stage, &st, v);
		if (v->action == POL_REJECT)
			return;
	}
}

static bool
same(const struct pol_verdict *a, const struct pol_verdict *b)
{
	return a->action == b->action && a->reason == b->reason && a->rule == b->rule &&
	       a->relay_rule == b->relay_rule && strcmp(a->text, b->text) == 0;
}

/* check_all - every envelope rounds times through the reader against
 * reader NULL; returns the envelopes whose verdict differed */
static unsigned
check_all(struct pol_reader *r, const char *what, int rounds, struct pol_verdict *out)
{
	const struct pol_snapshot *s = pol_live(r);
	unsigned bad = 0;

	for (int round = 0; round < rounds; round++) {
		for (size_t i = 0; i < NENVS; i++) {
			struct pol_verdict want, got;

			play(s, NULL, &envs[i], &want);
			play(s, r, &envs[i], &got);
			if (!same(&want, &got)) {
				bad++;
				printf("# %s round %d: %s %s %s: \"%s\" without cache, \"%s\" "
				       "with\n",
				       what, round, envs[i].helo, envs[i].sender, envs[i].rcpt,
				       want.text, got.text);
			}
			if (out != NULL)
				out[i] = got;
		}
	}
	return bad;
}

static struct pol_snapshot *
compile(const char *name, const char *text)
{
	return must_load(name, text);
}

/* same_set - n inputs "lruN@x.example" that fall in one set of the cache */
static void
same_set(char names[][32], struct pol_fkey *keys, size_t n)
{
	size_t found = 0;

	for (unsigned i = 0; found < n && i < 10000000; i++) {
		snprintf(names[found], 32, "lru%u@x.example", i);
		pol_fcache_key(IN_SENDER, names[found], &keys[found]);
		if (found == 0 ||
		    (keys[found].h & (POL_FC_SETS - 1)) == (keys[0].h & (POL_FC_SETS - 1)))
			found++;
	}
}

/* test_lru - a set of two keeps the input used last: a third input evicts
 * the one not looked up since the other was */
static void
test_lru(void)
{
	struct pol_fcache *c = pol_fcache_new();
	char names[3][32];
	struct pol_fkey k[3];
	const uint32_t fa[POL_FC_FACTS] = {1, 2, 3}, fb[POL_FC_FACTS] = {4, 5, 6},
	               fc[POL_FC_FACTS] = {7, 8, 9};
	const uint32_t *got;

	if (!ok(c != NULL, "cache made"))
		return;
	same_set(names, k, 3);
	pol_fcache_put(c, 1, &k[0], fa);
	pol_fcache_put(c, 1, &k[1], fb);
	got = pol_fcache_get(c, 1, &k[0]);
	ok(got != NULL && got[2] == 3, "a and b in one set: a found");
	pol_fcache_put(c, 1, &k[2], fc); /* b is the least recently used */
	ok(pol_fcache_get(c, 1, &k[1]) == NULL, "c evicted b, the least recently used");
	got = pol_fcache_get(c, 1, &k[0]);
	ok(got != NULL && got[0] == 1, "a, used after b, kept");
	got = pol_fcache_get(c, 1, &k[2]);
	ok(got != NULL && got[1] == 8, "c found");
	pol_fcache_put(c, 1, &k[1], fb); /* a is now the least recently used */
	ok(pol_fcache_get(c, 1, &k[0]) == NULL, "b back in: a evicted");
	ok(pol_fcache_get(c, 1, &k[2]) != NULL && pol_fcache_get(c, 1, &k[1]) != NULL,
	   "c and b found");
	ok(pol_fcache_get(c, 2, &k[1]) == NULL, "under another snapshot: a miss");
	pol_fcache_free(c);
}

/* test_sampling - a cache that keeps missing samples: only one input in
 * POL_FC_SAMPLE (the same ones each time) is probed, the others bypass it;
 * once the sampled inputs hit again, every input is probed again */
static void
test_sampling(void)
{
	struct pol_fcache *c = pol_fcache_new();
	const uint32_t f[POL_FC_FACTS] = {1, 2, 3};
	char name[64];
	struct pol_fkey k;
	unsigned wanted = 0, wanted_again = 0, n = 0;
	uint64_t bypassed, hits, misses;
	static char sampled[64][64];

	if (!ok(c != NULL, "cache made"))
		return;
	ok(!pol_fcache_sampling(c, NULL), "a new cache probes every input");
	/* a cold workload: every input new, probed, missed and kept */
	for (unsigned i = 0; i < POL_FC_WINDOW; i++) {
		snprintf(name, sizeof(name), "cold%u@x.example", i);
		pol_fcache_key(IN_SENDER, name, &k);
		if (pol_fcache_wanted(c, &k) && pol_fcache_get(c, 1, &k) == NULL)
			pol_fcache_put(c, 1, &k, f);
	}
	ok(pol_fcache_sampling(c, &bypassed), "after a window of misses it samples");
	is_int(bypassed, 0, "nothing bypassed before");
	/* new inputs: about one in POL_FC_SAMPLE is probed */
	for (unsigned i = 0; i < 4096; i++) {
		snprintf(name, sizeof(name), "fresh%u@x.example", i);
		pol_fcache_key(IN_SENDER, name, &k);
		if (!pol_fcache_wanted(c, &k))
			continue;
		wanted++;
		if (n < 64)
			snprintf(sampled[n++], sizeof(sampled[0]), "%s", name);
		if (pol_fcache_get(c, 1, &k) == NULL)
			pol_fcache_put(c, 1, &k, f);
	}
	ok(wanted > 4096 / POL_FC_SAMPLE / 2 && wanted < 4096 / POL_FC_SAMPLE * 2,
	   "while sampling, %u of 4096 inputs probed (1 in %u expected)", wanted, POL_FC_SAMPLE);
	pol_fcache_sampling(c, &bypassed);
	is_int(bypassed, 4096 - wanted, "the others bypassed it");
	pol_fcache_stats(c, &hits, &misses);
	is_int(hits + misses, POL_FC_WINDOW + 4096, "bypassed inputs count as misses");
	/* the same inputs are chosen again: the choice is by hash, not by turn */
	for (unsigned i = 0; i < 4096; i++) {
		snprintf(name, sizeof(name), "fresh%u@x.example", i);
		pol_fcache_key(IN_SENDER, name, &k);
		wanted_again += pol_fcache_wanted(c, &k);
	}
	is_int(wanted_again, wanted, "the same inputs sampled on a second pass");
	/* the sampled inputs now repeat: they hit, and the cache probes all again */
	for (unsigned round = 0; round < 2 * POL_FC_WINDOW / n + 1; round++) {
		for (unsigned i = 0; i < n; i++) {
			pol_fcache_key(IN_SENDER, sampled[i], &k);
			if (pol_fcache_wanted(c, &k) && pol_fcache_get(c, 1, &k) == NULL)
				pol_fcache_put(c, 1, &k, f);
		}
	}
	ok(!pol_fcache_sampling(c, NULL), "repeated inputs hit: every input is probed again");
	snprintf(name, sizeof(name), "fresh%u@x.example", 99999);
	pol_fcache_key(IN_SENDER, name, &k);
	ok(pol_fcache_wanted(c, &k), "a new input is probed again");
	pol_fcache_free(c);
}

/* test_key_wanted - the evaluator's key, pol_fcache_key_wanted, decides
 * as pol_fcache_key and pol_fcache_wanted do, on random inputs of every
 * length up to past the longest cached (short ones take the byte loop of
 * the sample hash, long ones its four words), and gives their length */
static void
test_key_wanted(void)
{
	struct pol_fcache *c = pol_fcache_new();
	const uint32_t f[POL_FC_FACTS] = {1, 2, 3};
	unsigned rs = 7, bad = 0, bad_len = 0, bad_hash = 0, wanted = 0, n = 0;
	char name[128];

	if (!ok(c != NULL, "cache made"))
		return;
	for (unsigned i = 0; i < POL_FC_WINDOW; i++) {
		struct pol_fkey k;

		snprintf(name, sizeof(name), "warm%u@x.example", i);
		pol_fcache_key(IN_RCPT, name, &k);
		if (pol_fcache_wanted(c, &k) && pol_fcache_get(c, 1, &k) == NULL)
			pol_fcache_put(c, 1, &k, f);
	}
	ok(pol_fcache_sampling(c, NULL), "a window of misses: sampling");
	for (unsigned r = 0; r < 20000; r++) {
		size_t len = (size_t)rand_r(&rs) % 112, got;
		struct pol_fkey k1, k2;
		bool w1, w2;

		for (size_t i = 0; i < len; i++)
			name[i] = (char)('a' + rand_r(&rs) % 26);
		name[len] = '\0';
		w1 = pol_fcache_key_wanted(c, IN_HELO, name, &k1, &got);
		w2 = pol_fcache_key(IN_HELO, name, &k2) && pol_fcache_wanted(c, &k2);
		bad += w1 != w2;
		bad_len += got != (len <= POL_FC_KEY_MAX ? len : SIZE_MAX);
		bad_hash += w1 && w2 && k1.h != k2.h;
		if (len <= POL_FC_KEY_MAX) {
			n++;
			wanted += w1;
		}
	}
	is_int(bad, 0, "pol_fcache_key_wanted decides as key and wanted on 20000 inputs");
	is_int(bad_len, 0, "and gives their length (SIZE_MAX past %d bytes)", POL_FC_KEY_MAX);
	is_int(bad_hash, 0, "and the same hash when it probes");
	ok(wanted > n / POL_FC_SAMPLE / 2 && wanted < n / POL_FC_SAMPLE * 2,
	   "%u of %u inputs of 0-%d bytes sampled (1 in %u expected)", wanted, n, POL_FC_KEY_MAX,
	   POL_FC_SAMPLE);
	pol_fcache_free(c);
}

/* cold_stream - n envelopes of inputs never seen, through reader r: the
 * workload that makes the cache sample */
static void
cold_stream(struct pol_reader *r, unsigned n)
{
	const struct pol_snapshot *s = pol_live(r);
	char helo[64], from[64], to[64];
	struct pol_verdict v;

	for (unsigned i = 0; i < n; i++) {
		struct env e = {helo, from, to};

		snprintf(helo, sizeof(helo), "h%u.example", i);
		snprintf(from, sizeof(from), "u%u@x.example", i);
		snprintf(to, sizeof(to), "r%u@l.example", i);
		play(s, r, &e, &v);
	}
}

int
main(void)
{
	struct pol_errs errs = {0};
	struct pol_verdict va[NENVS], vb[NENVS];
	struct pol_reader *r;
	uint64_t h0, m0, h1, m1;
	unsigned differ = 0;

	test_lru();
	test_sampling();
	test_key_wanted();
	ok(pol_publish(compile("a.conf", pol_a), &errs) > 0, "policy a published");
	r = pol_reader_register();
	ok(r != NULL, "reader registered");
	pol_reader_cache_stats(r, &h0, &m0);
	is_int(check_all(r, "a", 1, va), 0, "policy a, first sight: verdicts as without cache");
	pol_reader_cache_stats(r, &h1, &m1);
	ok(m1 - m0 >= 20, "first sight: %lu inputs missed", (unsigned long)(m1 - m0));
	is_int(check_all(r, "a", 1, va), 0, "policy a, second sight: verdicts as without cache");
	pol_reader_cache_stats(r, &h0, &m0);
	is_int(m0 - m1, 0, "second sight: no input missed (the long one is not looked up)");
	ok(h0 - h1 >= 40, "second sight: %lu inputs found", (unsigned long)(h0 - h1));

	/* a cold stream: the cache samples, and the verdicts stay the same */
	cold_stream(r, 2 * POL_FC_WINDOW);
	ok(pol_reader_cache_sampling(r, &h0), "after a cold stream the reader's cache samples");
	ok(h0 > 0, "inputs bypassed it (%lu)", (unsigned long)h0);
	is_int(check_all(r, "a sampling", 2, NULL), 0, "sampling: verdicts as without cache");

	/* a push: what was cached under a must not decide under b */
	pol_reader_offline(r);
	ok(pol_publish(compile("b.conf", pol_b), &errs) > 0, "policy b published");
	pol_reader_online(r);
	pol_reader_cache_stats(r, &h0, &m0);
	is_int(check_all(r, "b", 2, vb), 0, "policy b: verdicts with the cache are those without");
	pol_reader_cache_stats(r, &h1, &m1);
	ok(m1 - m0 >= 20, "after the push, cached inputs missed (%lu)", (unsigned long)(m1 - m0));
	for (size_t i = 0; i < NENVS; i++)
		differ += !same(&va[i], &vb[i]);
	ok(differ >= 5, "the push changed %u verdicts", differ);
	is_str(vb[1].text, "", "bad.example, refused under a, is accepted under b");

	/* and back: a new compile of a gets a new id, nothing stale is used */
	pol_reader_offline(r);
	ok(pol_publish(compile("a2.conf", pol_a), &errs) > 0, "policy a published again");
	pol_reader_online(r);
	is_int(check_all(r, "a again", 2, vb), 0, "policy a again: same with and without cache");
	differ = 0;
	for (size_t i = 0; i < NENVS; i++)
		differ += !same(&va[i], &vb[i]);
	is_int(differ, 0, "and the verdicts are a's");

	pol_reader_unregister(r);
	pol_unpublish();
	pol_errs_free(&errs);
	pol_hs_cache_clear();
	return done_testing();
}
