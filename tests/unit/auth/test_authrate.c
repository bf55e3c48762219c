/* test_authrate - AUTH's failure count per client (dataplane/authrate.c):
 * who shares a count (an IPv4 address, an IPv6 /64, IPv4-mapped as IPv4),
 * the limit, the window, a record taken over by another client, and the
 * record's hash keyed per table */
#include <stdlib.h>

#include "authrate.h"
#include "pol_cidr.h"
#include "tap.h"

#define MAX_FAIL  3
#define WINDOW_MS 60000
/* Clients tried before giving up on finding one that takes a given
 * record: with a random key, none among them has odds of e^-16. */
#define TRIES (16 * AUTHRATE_SIZE)

/* addr_of - family and 16 address bytes as the lcores send them (IPv4 in the first 4) */
static uint8_t
addr_of(const char *text, uint8_t addr[16])
{
	struct cidr c;

	if (cidr_parse(text, &c) != CIDR_OK)
		abort();
	memset(addr, 0, 16);
	memcpy(addr, c.addr, 16);
	return c.family;
}

static void
fail(struct authrate *r, const char *client, uint64_t now)
{
	uint8_t a[16], f = addr_of(client, a);

	authrate_fail(r, f, a, now);
}

static bool
limited(const struct authrate *r, const char *client, uint64_t now)
{
	uint8_t a[16], f = addr_of(client, a);

	return authrate_limited(r, f, a, now);
}

/* test_grouping - MAX_FAIL failures of a, then is b refused? */
static void
test_grouping(void)
{
	static const struct {
		const char *a, *b;
		bool shared;
		const char *why;
	} cases[] = {
	        {"2001:db8:1:2::1", "2001:db8:1:2::1", true, "one IPv6 address"},
	        {"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", true,
	         "another address of the same /64"},
	        {"2001:db8:1:2::1", "2001:db8:1:3::1", false, "the next /64"},
	        {"2001:db8:1:2::1", "2001:db9:1:2::1", false,
	         "the same /64 bits under another /32"},
	        {"192.0.2.1", "192.0.2.1", true, "one IPv4 address"},
	        {"192.0.2.1", "192.0.2.2", false, "IPv4: per address, not per /24"},
	        {"192.0.2.1", "::ffff:192.0.2.1", true, "IPv4-mapped IPv6 is its IPv4 address"},
	        {"::ffff:192.0.2.1", "192.0.2.1", true, "and the other way round"},
	        {"192.0.2.1", "c000:201::1", false, "IPv6 whose first bytes are an IPv4 address"},
	        {"::", "0.0.0.0", false, "the IPv6 and IPv4 zero addresses"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct authrate r;

		if (authrate_init(&r, MAX_FAIL, WINDOW_MS) < 0)
			abort();
		for (int n = 0; n < MAX_FAIL; n++)
			fail(&r, cases[i].a, 1000 + (uint64_t)n);
		ok(limited(&r, cases[i].b, 2000) == cases[i].shared, "%s: %s %s %s", cases[i].why,
		   cases[i].a, cases[i].shared ? "limits" : "does not limit", cases[i].b);
		authrate_free(&r);
	}
}

/* test_limit - below the limit, at it, and after the window */
static void
test_limit(void)
{
	struct authrate r;
	bool early = false;

	if (authrate_init(&r, MAX_FAIL, WINDOW_MS) < 0)
		abort();
	ok(!limited(&r, "2001:db8::7", 0), "a client never seen is not limited");
	for (int n = 0; n < MAX_FAIL; n++) {
		early |= limited(&r, "2001:db8::7", 100);
		fail(&r, n % 2 ? "2001:db8::7" : "2001:db8::8", 100 + (uint64_t)n);
	}
	ok(!early, "fewer than max_failures: not limited");
	ok(limited(&r, "2001:db8::9", 200),
	   "max_failures from two addresses of a /64: a third address is limited");
	ok(limited(&r, "2001:db8::9", 100 + WINDOW_MS - 1), "still limited at the window's end");
	ok(!limited(&r, "2001:db8::9", 100 + WINDOW_MS),
	   "no longer limited once the window is over");
	fail(&r, "2001:db8::9", 100 + WINDOW_MS);
	ok(!limited(&r, "2001:db8::9", 101 + WINDOW_MS),
	   "a failure after the window opens a new one: counted from 1");
	authrate_free(&r);
}

/* test_takeover - a record another client took restarts the first one's count */
static void
test_takeover(void)
{
	struct authrate r;
	char a[64], b[64];
	int n;

	if (authrate_init(&r, MAX_FAIL, WINDOW_MS) < 0)
		abort();
	/* a client whose record another client takes over: find one by trying
	 * /64s until the table no longer limits the first */
	snprintf(a, sizeof(a), "2001:db8:ffff:1::1");
	for (int i = 0; i < MAX_FAIL; i++)
		fail(&r, a, 10);
	for (n = 0; n < TRIES && limited(&r, a, 20); n++) {
		snprintf(b, sizeof(b), "2001:db8:%x:%x::1", n >> 16, n & 0xffff);
		fail(&r, b, 15);
	}
	ok(n < TRIES && !limited(&r, a, 20),
	   "a client whose record another took is counted afresh (after %d other clients)", n);
	ok(n > 1, "but only once another client hashed to its record (%d clients)", n);
	authrate_free(&r);
}

/* taker - a client (n-th /64 of 2001:db8::/32) whose failures reset a's
 * count in r, or -1 when none of the first TRIES does */
static int
taker(const char *a, char *b, size_t bsize)
{
	struct authrate r;
	int n, found = -1;

	if (authrate_init(&r, MAX_FAIL, WINDOW_MS) < 0)
		abort();
	for (n = 0; n < TRIES && found < 0; n++) {
		for (int i = 0; i < MAX_FAIL; i++)
			fail(&r, a, 10);
		snprintf(b, bsize, "2001:db8:%x:%x::1", n >> 16, n & 0xffff);
		fail(&r, b, 15);
		if (!limited(&r, a, 20))
			found = n;
	}
	authrate_free(&r);
	return found;
}

/* shares_record - b's failures reset a's count in a fresh table */
static bool
shares_record(const char *a, const char *b)
{
	struct authrate r;
	bool shared;

	if (authrate_init(&r, MAX_FAIL, WINDOW_MS) < 0)
		abort();
	for (int i = 0; i < MAX_FAIL; i++)
		fail(&r, a, 10);
	fail(&r, b, 15);
	shared = !limited(&r, a, 20);
	authrate_free(&r);
	return shared;
}

/* test_keyed - which clients share a record depends on each table's secret:
 * a pair that shares one in one table does not in fresh ones (each fresh
 * table has 1 in AUTHRATE_SIZE odds of placing them together again, so
 * three in a row would be a 1 in 2^36 accident) */
static void
test_keyed(void)
{
	const char *a = "2001:db8:ffff:2::1";
	char b[64];
	int n = taker(a, b, sizeof(b)), again = 0;

	ok(n >= 0, "a client that shares a's record in one table (%s)", n >= 0 ? b : "none");
	for (int t = 0; t < 3; t++)
		again += shares_record(a, b);
	ok(n >= 0 && again < 3, "does not share it in three fresh tables (%d of 3 did)", again);
}

int
main(void)
{
	test_grouping();
	test_limit();
	test_takeover();
	test_keyed();
	return done_testing();
}
