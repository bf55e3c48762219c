/* test_climit - the shared per-client limits table: counting, windows, who
 * shares a count, a full table (fail open), and exact counts under
 * concurrent lcores (threads here, on the same CAS code) */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "climit.h"
#include "pol_cidr.h"
#include "tap.h"

static struct climit_table t;

/* fresh - an empty table of n slots with a fixed secret */
static void
fresh(uint32_t n)
{
	static void *mem;
	uint8_t secret[CLIMIT_SECRET];

	free(mem);
	mem = aligned_alloc(64, (size_t)n * sizeof(struct climit_slot));
	memset(mem, 0, (size_t)n * sizeof(struct climit_slot));
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)tap_rnd();
	climit_init(&t, mem, n, secret);
}

static uint64_t
key_of(const char *addr, uint64_t svc)
{
	struct cidr c;

	if (cidr_parse(addr, &c) != CIDR_OK)
		abort();
	return climit_key(&t, &c, svc);
}

static void
test_slots(void)
{
	is_int(climit_slots(0), CLIMIT_MIN_SLOTS, "at least CLIMIT_MIN_SLOTS");
	is_int(climit_slots(65536), 65536, "a power of two stays");
	is_int(climit_slots(65537), 131072, "rounded up to a power of two");
	is_int(climit_slots(UINT32_MAX), CLIMIT_MAX_SLOTS, "at most CLIMIT_MAX_SLOTS");
}

/* test_keys - a client is an IPv4 address or an IPv6 /64, per service */
static void
test_keys(void)
{
	static const struct {
		const char *a, *b;
		uint64_t svc_a, svc_b;
		bool same;
	} cases[] = {
	        {"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", 1, 1, true}, /* one /64 */
	        {"2001:db8:1:2::1", "2001:db8:1:3::1", 1, 1, false},     /* the next /64 */
	        {"192.0.2.1", "192.0.2.2", 1, 1, false},                 /* v4: per address */
	        {"192.0.2.1", "::ffff:192.0.2.1", 1, 1, true},           /* v4-mapped is v4 */
	        {"::ffff:192.0.2.1", "::ffff:192.0.2.2", 1, 1, false},   /* ... not one /64 */
	        {"192.0.2.1", "192.0.2.1", 1, 2, false},                 /* per service */
	        {"0.0.0.0", "::", 1, 1, false},                          /* families apart */
	};

	fresh(1024);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t a = key_of(cases[i].a, cases[i].svc_a),
		         b = key_of(cases[i].b, cases[i].svc_b);

		ok((a == b) == cases[i].same && a != 0 && b != 0, "%s and %s: %s", cases[i].a,
		   cases[i].b, cases[i].same ? "one client" : "two clients");
	}
}

/* test_conn - the concurrency limit: N held, the N+1th refused, one more after a release */
static void
test_conn(void)
{
	struct climit_rule r = {.conn_limit = 3, .unit_s = 60};
	struct climit_hold h[4];
	uint64_t k = key_of("192.0.2.1", 7), other = key_of("192.0.2.2", 7);
	uint32_t n;
	int okc = 0;

	fresh(1024);
	for (int i = 0; i < 3; i++)
		okc += climit_acquire(&t, k, &r, 100, &h[i], &n) == CLIMIT_OK && h[i].key == k;
	is_int(okc, 3, "three sessions within the limit of 3");
	is_int(climit_sessions(&t, k), 3, "three counted");
	is_int(climit_acquire(&t, k, &r, 100, &h[3], &n), CLIMIT_CONN, "the fourth is refused");
	is_int(n, 4, "... reported as the 4th (Postfix logs the count with it)");
	ok(h[3].key == 0, "... and holds nothing");
	is_int(climit_sessions(&t, k), 3, "a refusal leaves the count at 3");
	is_int(climit_acquire(&t, other, &r, 100, &h[3], &n), CLIMIT_OK, "another client is apart");
	climit_release(&t, &h[3]);
	climit_release(&t, &h[0]);
	ok(h[0].key == 0, "a release clears the hold");
	climit_release(&t, &h[0]);
	is_int(climit_sessions(&t, k), 2, "one released (a second release of it is a no-op)");
	is_int(climit_acquire(&t, k, &r, 100, &h[0], &n), CLIMIT_OK, "after a release, one more");
	for (int i = 0; i < 3; i++)
		climit_release(&t, &h[i]);
	is_int(climit_sessions(&t, k), 0, "all released");
}

/* test_rate - fixed windows: rate_limit per unit_s, refusals count too */
static void
test_rate(void)
{
	struct climit_rule r = {.rate_limit = 3, .unit_s = 10};
	struct climit_hold h;
	uint64_t k = key_of("2001:db8::1", 1);
	uint32_t n;
	int okc = 0;

	fresh(1024);
	for (int i = 0; i < 3; i++)
		okc += climit_acquire(&t, k, &r, 1000 + (uint32_t)i, &h, &n) == CLIMIT_OK;
	is_int(okc, 3, "three connections in the window");
	ok(h.key == 0, "a rate-only rule holds no session");
	is_int(climit_acquire(&t, k, &r, 1005, &h, &n), CLIMIT_RATE,
	       "the fourth in the window: refused");
	is_int(n, 4, "... as the 4th");
	is_int(climit_acquire(&t, k, &r, 1009, &h, &n), CLIMIT_RATE,
	       "still refused at the window's end");
	is_int(n, 5, "... and counted");
	is_int(climit_acquire(&t, k, &r, 1010, &h, &n), CLIMIT_OK, "a new window at 10 s");
	is_int(n, 1, "... counting from 1");
	is_int(climit_acquire(&t, key_of("2001:db8:0:1::1", 1), &r, 1010, &h, &n), CLIMIT_OK,
	       "another /64 has its own count");
}

/* test_full - a full probe window fails open; stale slots are taken over */
static void
test_full(void)
{
	struct climit_rule r = {.conn_limit = 1, .unit_s = 5};
	static struct climit_hold h[2000];
	uint32_t n, held = 0, full = 0, tried = 0, bad = 0;
	char addr[32];

	fresh(CLIMIT_MIN_SLOTS);
	/* new clients until every slot holds one */
	for (; held < CLIMIT_MIN_SLOTS && tried < 2000; tried++) {
		snprintf(addr, sizeof(addr), "10.0.%u.%u", tried / 256, tried % 256);
		enum climit_verdict v = climit_acquire(&t, key_of(addr, 1), &r, 50, &h[tried], &n);

		held += v == CLIMIT_OK;
		full += v == CLIMIT_FULL;
		bad += v != CLIMIT_OK && !(v == CLIMIT_FULL && h[tried].key == 0);
	}
	ok(held == CLIMIT_MIN_SLOTS && bad == 0,
	   "every slot taken after %u clients; %u let in uncounted on the way", tried, full);
	is_int(climit_acquire(&t, key_of("203.0.113.1", 1), &r, 50, &h[tried], &n), CLIMIT_FULL,
	       "a full table fails open");
	for (uint32_t i = 0; i < tried; i++)
		climit_release(&t, &h[i]);
	is_int(climit_acquire(&t, key_of("203.0.113.1", 1), &r, 54, &h[0], &n), CLIMIT_FULL,
	       "released but inside their windows: still no room");
	is_int(climit_acquire(&t, key_of("203.0.113.1", 1), &r, 55, &h[0], &n), CLIMIT_OK,
	       "windows over, nothing held: a stale slot is taken over");
	climit_release(&t, &h[0]);
}

/* Threads as lcores: each opens up to HOLD sessions of one client, then
 * closes them; the number held at once, measured outside the table, never
 * passes the limit, refusals happen, and everything is given back. */
#define THREADS 4
#define ROUNDS  20000
#define HOLD    3
#define LIMIT   5

static int live_now, live_max, over, refused;
static pthread_barrier_t start;

/* note_live - one more session held: track the most ever held at once */
static void
note_live(void)
{
	int now = __atomic_add_fetch(&live_now, 1, __ATOMIC_ACQ_REL);

	if (now > LIMIT)
		__atomic_add_fetch(&over, 1, __ATOMIC_RELAXED);
	for (int m = __atomic_load_n(&live_max, __ATOMIC_RELAXED);
	     now > m && !__atomic_compare_exchange_n(&live_max, &m, now, false, __ATOMIC_RELAXED,
	                                             __ATOMIC_RELAXED);)
		;
}

static void *
worker(void *arg)
{
	uint64_t k = *(const uint64_t *)arg;
	struct climit_rule r = {.conn_limit = LIMIT, .unit_s = 60};
	struct climit_hold h[HOLD];
	uint32_t n;

	pthread_barrier_wait(&start);
	for (int i = 0; i < ROUNDS; i++) {
		for (int j = 0; j < HOLD; j++) {
			enum climit_verdict v = climit_acquire(&t, k, &r, 1, &h[j], &n);

			if (v == CLIMIT_OK)
				note_live();
			else if (v == CLIMIT_CONN)
				__atomic_add_fetch(&refused, 1, __ATOMIC_RELAXED);
			else
				__atomic_add_fetch(&over, 1000000, __ATOMIC_RELAXED);
		}
		sched_yield(); /* hold them while the others run */
		for (int j = 0; j < HOLD; j++)
			if (h[j].key != 0) {
				__atomic_sub_fetch(&live_now, 1, __ATOMIC_ACQ_REL);
				climit_release(&t, &h[j]);
			}
	}
	return NULL;
}

static void
test_threads(void)
{
	pthread_t th[THREADS];
	uint64_t k;

	fresh(1024);
	k = key_of("192.0.2.99", 3);
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, &k);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	is_int(over, 0, "%d threads x %d rounds of %d sessions: never more than %d held at once",
	       THREADS, ROUNDS, HOLD, LIMIT);
	ok(live_max > HOLD && refused > 0,
	   "threads met in the table: %d held at once at most, %d refused", live_max, refused);
	is_int(climit_sessions(&t, k), 0, "every session given back: the count is 0");
}

int
main(void)
{
	test_slots();
	test_keys();
	test_conn();
	test_rate();
	test_full();
	test_threads();
	return done_testing();
}
