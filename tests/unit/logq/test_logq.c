/* test_logq - the lcores' log rings (dataplane/logq.c): lines of every
 * length come out whole and in order, across the ring's end too; a full
 * ring drops and counts whole lines; one drain takes at most LOGQ_LINES;
 * short lines take one element each, so the ring holds many more of them
 * than of the longest. The ring is DPDK's, in memory of the test's own
 * (rte_ring_init), so no EAL is needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "logq.h"
#include "ring.h"
#include "tap.h"

static char path[] = "/tmp/test_logq.XXXXXX";
static long read_from; /* bytes of the log file already checked */

/* check_out - the lines written since the last check are exactly want[0..n)
 * of lengths lens[], each after the Postfix-style prefix */
static bool
check_out(const unsigned *want, const size_t *lens, unsigned n)
{
	FILE *f = fopen(path, "r");
	static char got[LOGQ_LINE_MAX + 200], exp[LOGQ_LINE_MAX];
	bool good = f != NULL;

	if (f != NULL && fseek(f, read_from, SEEK_SET) != 0)
		good = false;
	for (unsigned i = 0; good && i < n; i++) {
		const char *tag = "smtpgate/smtpd[", *p;
		size_t glen;

		if (fgets(got, sizeof(got), f) == NULL || (p = strstr(got, tag)) == NULL ||
		    (p = strstr(p, "]: ")) == NULL) {
			good = false;
			break;
		}
		p += 3;
		glen = strlen(p);
		bytes_of(want[i], lens[i], exp);
		good = glen == lens[i] + 1 && p[lens[i]] == '\n' && memcmp(p, exp, lens[i]) == 0;
		if (!good)
			printf("# line %u (#%u, %zu bytes) differs\n", i, want[i], lens[i]);
	}
	if (good && fgetc(f) != EOF)
		good = false; /* more lines than pushed */
	if (f != NULL) {
		fseek(f, 0, SEEK_END);
		read_from = ftell(f);
		fclose(f);
	}
	return good;
}

/* test_lengths - every length from 0 to LOGQ_LINE_MAX, pushed and drained
 * in rounds, so that lines of every size start at many ring positions and
 * straddle the ring's end */
static void
test_lengths(struct logq *q)
{
	static unsigned ids[LOGQ_LINES];
	static size_t lens[LOGQ_LINES];
	static char buf[LOGQ_LINE_MAX];
	unsigned id = 0, rounds = 0;
	bool good = true;
	size_t len = 0;

	while (len <= LOGQ_LINE_MAX && good) {
		unsigned n = 0;

		/* a round of up to 40 lines: under LOGQ_LINES, and they fit */
		for (; n < 40 && len <= LOGQ_LINE_MAX; n++, len++, id++) {
			bytes_of(id, len, buf);
			logq_push(q, buf, len);
			ids[n] = id;
			lens[n] = len;
		}
		good = logq_drain(q) == n && check_out(ids, lens, n) && q->dropped == 0;
		rounds++;
	}
	ok(good, "lines of 0 to %d bytes come out whole and in order (%u rounds)", LOGQ_LINE_MAX,
	   rounds);
}

/* test_cut - a longer line is cut at LOGQ_LINE_MAX */
static void
test_cut(struct logq *q)
{
	static char buf[LOGQ_LINE_MAX + 100];
	unsigned id = 99;
	size_t len = LOGQ_LINE_MAX;

	bytes_of(id, sizeof(buf), buf);
	logq_push(q, buf, sizeof(buf));
	ok(logq_drain(q) == 1 && check_out(&id, &len, 1), "a line over %d bytes is cut there",
	   LOGQ_LINE_MAX);
}

/* fill - push lines of len bytes until the ring refuses one; how many went in */
static unsigned
fill(struct logq *q, size_t len, unsigned first_id)
{
	static char buf[LOGQ_LINE_MAX];
	unsigned n = 0;
	uint64_t dropped = q->dropped;

	while (q->dropped == dropped) {
		bytes_of(first_id + n, len, buf);
		logq_push(q, buf, len);
		n += q->dropped == dropped;
	}
	return n;
}

/* test_full - the ring's capacity by line length, whole lines dropped and
 * counted when full, and a drain's batch of LOGQ_LINES */
static void
test_full(struct logq *q)
{
	static unsigned ids[LOGQ_RING];
	static size_t lens[LOGQ_RING];
	unsigned n_long = fill(q, LOGQ_LINE_MAX, 0), got = 0, d;

	ok(n_long == LOGQ_LINES, "%u of the longest lines fit (LOGQ_LINES %d)", n_long, LOGQ_LINES);
	ok(q->dropped == 1, "the one that did not fit is counted");
	for (unsigned i = 0; i < n_long; i++) {
		ids[i] = i;
		lens[i] = LOGQ_LINE_MAX;
	}
	while ((d = logq_drain(q)) > 0)
		got += d;
	ok(got == n_long && check_out(ids, lens, n_long), "and every one that fit comes out whole");

	unsigned n_short = fill(q, 250, 5000);
	unsigned first = logq_drain(q);

	ok(n_short == LOGQ_RING - 1, "%u lines of 250 bytes fit: one element each", n_short);
	ok(first == LOGQ_LINES, "one drain writes at most LOGQ_LINES (%u)", first);
	got = first;
	while ((d = logq_drain(q)) > 0)
		got += d;
	for (unsigned i = 0; i < n_short; i++) {
		ids[i] = 5000 + i;
		lens[i] = 250;
	}
	ok(got == n_short && check_out(ids, lens, n_short), "all %u come out, in order", got);
}

int
main(void)
{
	struct logq q;

	log_open(path);
	ring_new(&q);
	test_lengths(&q);
	test_cut(&q);
	test_full(&q);
	logq_close();
	unlink(path);
	free(q.ring);
	return done_testing();
}
