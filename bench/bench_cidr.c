/* bench_cidr - our prefix table against DPDK's rte_lpm and rte_lpm6
 *
 * pol_cidr.h says the policy's client lists use our own range table rather
 * than rte_lpm, because the CLI runs with no EAL. This answers the other half
 * of that choice: at the size of a large list (100,000 IPv4 prefixes, mostly
 * /24 and /32, and 20,000 IPv6 ones), is our table much slower than rte_lpm?
 * It builds the same prefixes into both, checks that they agree on every
 * address looked up, and prints build time, single lookups per second (and
 * DPDK's bulk lookups, as the fast path could use them) and memory.
 *
 * Not a test: run it by hand, built with optimisation and no sanitizers.
 * EAL starts with no huge pages and no devices, so it runs anywhere; but
 * rte_lpm's and rte_lpm6's lookups on 4 KiB pages are worse than on huge
 * pages, as their tables (some 130 MiB and 340 MiB here) then cost a TLB
 * miss on most lookups. Our table is a few MiB and does not care.
 */
#include "pol_cidr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_malloc.h>

#define N4         100000  /* IPv4 prefixes */
#define N6         20000   /* IPv6 prefixes */
#define NADDR      1000000 /* distinct addresses, looked up PASSES times */
#define PASSES     10      /* so 10M lookups per structure */
#define BULK       64      /* addresses per DPDK bulk call */
#define LPM_TBL8S  65536   /* rte_lpm tbl8 groups (256 entries each) */
#define LPM6_TBL8S 262144  /* rte_lpm6 tbl8 groups */

static uint64_t rng_state = 0xbe7c4c1d12345678ull;

/* rnd - splitmix64, fixed seed so runs compare */
static uint64_t
rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* now - monotonic seconds */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* heap_used - bytes allocated from DPDK's heap on socket 0 */
static size_t
heap_used(void)
{
	struct rte_malloc_socket_stats st;

	if (rte_malloc_get_socket_stats(0, &st) < 0)
		return 0;
	return st.heap_allocsz_bytes;
}

/* rnd_len4 - a realistic mix: mostly /24 and /32 */
static unsigned
rnd_len4(void)
{
	unsigned r = (unsigned)(rnd() % 100);

	if (r < 50)
		return 24;
	if (r < 75)
		return 32;
	if (r < 80)
		return 8 + (unsigned)(rnd() % 9); /* 8..16 */
	if (r < 92)
		return 17 + (unsigned)(rnd() % 7); /* 17..23 */
	return 25 + (unsigned)(rnd() % 7);         /* 25..31 */
}

/* rnd_len6 - /32 allocations, /48 and /56 sites, /64 subnets, /128 hosts */
static unsigned
rnd_len6(void)
{
	static const unsigned lens[] = {32, 48, 48, 48, 48, 56, 64, 64, 64, 128};

	return lens[rnd() % 10];
}

/* mask_bytes - clear the bits of a beyond len */
static void
mask_bytes(uint8_t *a, unsigned len, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = len > 8 * i ? len - 8 * i : 0;

		if (keep < 8)
			a[i] &= (uint8_t)(0xff00u >> keep);
	}
}

/* inside - a random address inside the prefix c (bytes of the address) */
static void
inside(const struct cidr *c, uint8_t *a, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = c->len > 8 * i ? c->len - 8 * i : 0;
		uint8_t m = keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);

		a[i] = (uint8_t)((c->addr[i] & m) | ((uint8_t)rnd() & ~m));
	}
}

/* report - one line of the table */
static void
report(const char *what, double build_s, double lookups, double secs, size_t bytes)
{
	if (build_s >= 0)
		printf("%-26s %9.1f ms %11.1f M/s %9.1f ns %12zu\n", what, build_s * 1e3,
		       lookups / secs / 1e6, secs / lookups * 1e9, bytes);
	else
		printf("%-26s %12s %11.1f M/s %9.1f ns %12s\n", what, "", lookups / secs / 1e6,
		       secs / lookups * 1e9, "");
}

/* main - start EAL, build the four structures, check they agree, time lookups */
int
main(int argc, char **argv)
{
	char *eal_argv[] = {argc > 0 ? argv[0] : "bench_cidr",
	                    "--no-huge",
	                    "-m",
	                    "1024",
	                    "--no-pci",
	                    "--no-shconf",
	                    "--no-telemetry",
	                    "-l",
	                    "0",
	                    "--log-level",
	                    "lib.*:error",
	                    NULL};
	struct cidr *v4 = calloc(N4, sizeof(*v4)), *v6 = calloc(N6, sizeof(*v6));
	uint32_t *vals4 = calloc(N4, sizeof(*vals4)), *vals6 = calloc(N6, sizeof(*vals6));
	uint32_t *a4 = calloc(NADDR, sizeof(*a4)), *r4 = calloc(NADDR, sizeof(*r4));
	uint8_t(*a6)[16] = calloc(NADDR, sizeof(*a6));
	int32_t *h6 = calloc(BULK, sizeof(*h6));
	struct rte_lpm_config lc = {.max_rules = 200000, .number_tbl8s = LPM_TBL8S};
	struct rte_lpm6_config lc6 = {.max_rules = 40000, .number_tbl8s = LPM6_TBL8S};
	struct cidr_table *t4, *t6;
	struct rte_lpm *lpm;
	struct rte_lpm6 *lpm6;
	size_t heap0, mem_lpm, mem_lpm6, bad = 0, added4 = 0, added6 = 0;
	volatile uint64_t sink = 0;
	double t0, b_ours4, b_ours6, b_lpm, b_lpm6;

	if (v4 == NULL || v6 == NULL || vals4 == NULL || vals6 == NULL || a4 == NULL ||
	    r4 == NULL || a6 == NULL || h6 == NULL) {
		fprintf(stderr, "bench_cidr: out of memory\n");
		return 1;
	}
	if (rte_eal_init((int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1, eal_argv) < 0) {
		fprintf(stderr, "bench_cidr: rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}

	/* the prefixes: values are 1.. so that 0 can mean "no match" for DPDK */
	for (size_t i = 0; i < N4; i++) {
		v4[i].family = 4;
		v4[i].len = (uint8_t)rnd_len4();
		for (int k = 0; k < 4; k++)
			v4[i].addr[k] = (uint8_t)rnd();
		mask_bytes(v4[i].addr, v4[i].len, 4);
		vals4[i] = (uint32_t)i + 1;
	}
	for (size_t i = 0; i < N6; i++) {
		v6[i].family = 6;
		v6[i].len = (uint8_t)rnd_len6();
		for (int k = 0; k < 16; k++)
			v6[i].addr[k] = (uint8_t)rnd();
		v6[i].addr[0] = (uint8_t)(0x20 | (v6[i].addr[0] & 0x1f)); /* 2000::/3 */
		if (i % 4 == 0) /* a quarter of them in a few busy /32s */
			v6[i].addr[1] = v6[i].addr[2] = v6[i].addr[3] = (uint8_t)(i % 16);
		mask_bytes(v6[i].addr, v6[i].len, 16);
		vals6[i] = (uint32_t)i + 1;
	}
	/* the addresses: half inside some prefix, half anywhere */
	for (size_t i = 0; i < NADDR; i++) {
		uint8_t b[4];

		if (i % 2 == 0) {
			inside(&v4[rnd() % N4], b, 4);
			a4[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
			        b[3];
		} else {
			a4[i] = (uint32_t)rnd();
		}
		if (i % 2 == 0) {
			inside(&v6[rnd() % N6], a6[i], 16);
		} else {
			uint64_t x = rnd(), y = rnd();

			memcpy(a6[i], &x, 8);
			memcpy(a6[i] + 8, &y, 8);
			a6[i][0] = (uint8_t)(0x20 | (a6[i][0] & 0x1f));
		}
	}

	/* build */
	t0 = now();
	t4 = cidr_table_build(v4, vals4, N4);
	b_ours4 = now() - t0;
	t0 = now();
	t6 = cidr_table_build(v6, vals6, N6);
	b_ours6 = now() - t0;

	heap0 = heap_used();
	t0 = now();
	lpm = rte_lpm_create("bench4", 0, &lc);
	if (lpm == NULL) {
		fprintf(stderr, "bench_cidr: rte_lpm_create: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	for (size_t i = 0; i < N4; i++) {
		uint32_t ip = (uint32_t)v4[i].addr[0] << 24 | (uint32_t)v4[i].addr[1] << 16 |
		              (uint32_t)v4[i].addr[2] << 8 | v4[i].addr[3];
		uint32_t hop;

		/* rte_lpm lets a later add replace a rule; ours keeps the first */
		if (rte_lpm_is_rule_present(lpm, ip, v4[i].len, &hop) == 1)
			continue;
		if (rte_lpm_add(lpm, ip, v4[i].len, vals4[i]) < 0) {
			fprintf(stderr, "bench_cidr: rte_lpm_add failed at %zu\n", i);
			return 1;
		}
		added4++;
	}
	b_lpm = now() - t0;
	mem_lpm = heap_used() - heap0;

	heap0 = heap_used();
	t0 = now();
	lpm6 = rte_lpm6_create("bench6", 0, &lc6);
	if (lpm6 == NULL) {
		fprintf(stderr, "bench_cidr: rte_lpm6_create: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	for (size_t i = 0; i < N6; i++) {
		uint32_t hop;

		if (rte_lpm6_is_rule_present(lpm6, v6[i].addr, v6[i].len, &hop) == 1)
			continue;
		if (rte_lpm6_add(lpm6, v6[i].addr, v6[i].len, vals6[i]) < 0) {
			fprintf(stderr, "bench_cidr: rte_lpm6_add failed at %zu\n", i);
			return 1;
		}
		added6++;
	}
	b_lpm6 = now() - t0;
	mem_lpm6 = heap_used() - heap0;

	/* agreement, and a warm-up of every structure */
	for (size_t i = 0; i < NADDR; i++) {
		uint32_t hop, ours = cidr_lookup4(t4, a4[i]);

		if (rte_lpm_lookup(lpm, a4[i], &hop) != 0)
			hop = CIDR_NONE;
		bad += hop != ours;
		ours = cidr_lookup6(t6, a6[i]);
		if (rte_lpm6_lookup(lpm6, a6[i], &hop) != 0)
			hop = CIDR_NONE;
		bad += hop != ours;
	}

	printf("%zu IPv4 prefixes (%zu distinct), %zu IPv6 (%zu distinct); %d lookups each, "
	       "%d distinct addresses, half inside a prefix; mismatches %zu\n\n",
	       (size_t)N4, added4, (size_t)N6, added6, NADDR * PASSES, NADDR, bad);
	printf("%-26s %12s %15s %12s %12s\n", "structure", "build", "lookups", "per lookup",
	       "bytes");

	/* lookups, IPv4 */
	t0 = now();
	for (int p = 0; p < PASSES; p++)
		for (size_t i = 0; i < NADDR; i++)
			sink += cidr_lookup4(t4, a4[i]);
	report("pol_cidr IPv4", b_ours4, (double)NADDR * PASSES, now() - t0, cidr_table_mem(t4));
	t0 = now();
	for (int p = 0; p < PASSES; p++)
		for (size_t i = 0; i < NADDR; i++) {
			uint32_t hop = 0;

			rte_lpm_lookup(lpm, a4[i], &hop);
			sink += hop;
		}
	report("rte_lpm", b_lpm, (double)NADDR * PASSES, now() - t0, mem_lpm);
	t0 = now();
	for (int p = 0; p < PASSES; p++)
		for (size_t i = 0; i < NADDR; i += BULK) {
			rte_lpm_lookup_bulk(lpm, a4 + i, r4 + i, BULK);
			sink += r4[i];
		}
	report("rte_lpm bulk 64", -1, (double)NADDR * PASSES, now() - t0, 0);

	/* lookups, IPv6 */
	t0 = now();
	for (int p = 0; p < PASSES; p++)
		for (size_t i = 0; i < NADDR; i++)
			sink += cidr_lookup6(t6, a6[i]);
	report("pol_cidr IPv6", b_ours6, (double)NADDR * PASSES, now() - t0, cidr_table_mem(t6));
	t0 = now();
	for (int p = 0; p < PASSES; p++)
		for (size_t i = 0; i < NADDR; i++) {
			uint32_t hop = 0;

			rte_lpm6_lookup(lpm6, a6[i], &hop);
			sink += hop;
		}
	report("rte_lpm6", b_lpm6, (double)NADDR * PASSES, now() - t0, mem_lpm6);
	t0 = now();
	for (int p = 0; p < PASSES; p++)
		for (size_t i = 0; i < NADDR; i += BULK) {
			rte_lpm6_lookup_bulk_func(lpm6, a6 + i, h6, BULK);
			sink += (uint32_t)h6[0];
		}
	report("rte_lpm6 bulk 64", -1, (double)NADDR * PASSES, now() - t0, 0);

	printf("\n(checksum %" PRIu64 ")\n", (uint64_t)sink);
	cidr_table_free(t4);
	cidr_table_free(t6);
	rte_lpm_free(lpm);
	rte_lpm6_free(lpm6);
	rte_eal_cleanup();
	free(v4);
	free(v6);
	free(vals4);
	free(vals6);
	free(a4);
	free(r4);
	free(a6);
	free(h6);
	return 0;
}
