/* test_rcu - readers evaluate continuously while a writer publishes 1,000 snapshots
 *
 * Two policies alternate. A reader checks that every decision it gets is
 * the one the snapshot it holds must give (so it never sees a mix of two
 * policies or a half-built snapshot), that versions only go forward, and
 * that Hyperscan scans with its own scratch succeed. Run under
 * AddressSanitizer, a snapshot freed before its readers left would show.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "tap.h"
#include "testlib.h"

#define READERS   3
#define PUBLISHES 1000

static const char *const pol_a =
        "hostname = a.example;\n"
        "local_domains = [ l.example ];\n"
        "blacklist { senders = [ \"*@bad.example\" ]; helo = [ \"/^a[0-9]+$/\" ]; }\n"
        "service mx { ports = 25; }\n";
static const char *const pol_b =
        "hostname = b.example;\n"
        "local_domains = [ l.example ];\n"
        "blacklist { senders = [ \"/^y@good\\\\.example$/\" ]; recipients = [ \"*trap*\" ]; }\n"
        "service mx { ports = 25; }\n";

static atomic_bool done;

struct reader_result {
	unsigned long evals;
	unsigned long wrong;
	unsigned long backwards;
	unsigned long versions_seen;
	bool registered;
};

/* decide - refused (true) or not, for one sender against s */
static bool
decide(const struct pol_snapshot *s, struct pol_reader *r, const char *sender)
{
	struct pol_query q = {.service = pol_service_find(s, "mx"),
	                      .helo = "h.example",
	                      .sender = sender,
	                      .rcpt = "u@l.example"};
	struct pol_state st;
	struct pol_verdict v;

	cidr_addr_parse("203.0.113.1", &q.client);
	pol_state_init(&st);
	pol_eval(s, r, &q, POL_MAIL, &st, &v);
	return v.action == POL_REJECT;
}

static void *
reader(void *arg)
{
	struct reader_result *res = arg;
	struct pol_reader *r = pol_reader_register();
	uint64_t last = 0;

	res->registered = r != NULL;
	if (r == NULL)
		return NULL;
	while (!atomic_load(&done)) {
		const struct pol_snapshot *s = pol_live(r);
		struct pol_stats st;

		if (s != NULL) {
			const char *host = pol_snapshot_model(s)->hostname;
			bool is_a = strcmp(host, "a.example") == 0;
			bool x = decide(s, r, "x@bad.example");
			bool y = decide(s, r, "y@good.example");

			pol_snapshot_stats(s, &st);
			if (st.version < last)
				res->backwards++;
			if (st.version != last)
				res->versions_seen++;
			last = st.version;
			if (x != is_a || y != !is_a)
				res->wrong++;
			res->evals++;
		}
		pol_quiescent(r);
		if (res->evals % 1000 == 999) {
			/* an lcore that sleeps goes offline first */
			pol_reader_offline(r);
			usleep(10);
			pol_reader_online(r);
		}
	}
	pol_reader_unregister(r);
	return NULL;
}

static struct pol_snapshot *
compile(const char *name)
{
	struct pol_errs errs = {0};
	char path[512];
	struct pol_model *m;
	struct pol_snapshot *s;

	snprintf(path, sizeof(path), "%s/%s", test_dir(), name);
	m = pol_load_file(path, &errs);
	s = m != NULL ? pol_compile(m, &errs) : NULL;
	pol_errs_free(&errs);
	return s;
}

int
main(void)
{
	pthread_t th[READERS];
	struct reader_result res[READERS] = {0};
	unsigned long evals = 0, wrong = 0, backwards = 0, failed = 0;
	uint64_t v = 0;
	struct pol_errs errs = {0};

	write_file("a.conf", pol_a);
	write_file("b.conf", pol_b);
	v = pol_publish(compile("a.conf"), &errs);
	ok(v == 1, "first publish is version 1");
	for (int i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, reader, &res[i]);
	for (int i = 0; i < PUBLISHES; i++) {
		struct pol_snapshot *s = compile(i % 2 ? "a.conf" : "b.conf");

		if (s == NULL || pol_publish(s, &errs) == 0)
			failed++;
		if (i % 100 == 0)
			usleep(1000); /* let readers run between some pushes */
	}
	atomic_store(&done, true);
	for (int i = 0; i < READERS; i++) {
		pthread_join(th[i], NULL);
		evals += res[i].evals;
		wrong += res[i].wrong;
		backwards += res[i].backwards;
	}
	is_int(failed, 0, "all %d publishes succeeded", PUBLISHES);
	for (int i = 0; i < READERS; i++) {
		ok(res[i].registered, "reader %d registered after the first publish", i);
		ok(res[i].versions_seen > 1, "reader %d saw %lu versions", i, res[i].versions_seen);
	}
	ok(evals > 0, "readers evaluated %lu times", evals);
	is_int(wrong, 0, "every decision matched its snapshot's policy");
	is_int(backwards, 0, "versions only went forward");
	{
		struct pol_reader *r = pol_reader_register();
		const struct pol_snapshot *s = pol_live(r);
		struct pol_stats st;

		pol_snapshot_stats(s, &st);
		is_int(st.version, PUBLISHES + 1, "live version counts every publish");
		ok(decide(s, r, "x@bad.example") ==
		           (strcmp(pol_snapshot_model(s)->hostname, "a.example") == 0),
		   "a reader registered late scans with its own scratch");
		pol_reader_unregister(r);
	}
	pol_unpublish();
	pol_hs_cache_clear();
	pol_errs_free(&errs);
	return done_testing();
}
