/* test_rec - records in the lcores' log rings (logq_push_rec): the control
 * thread writes the line its kind's formatter makes of each, whole and in
 * order among plain lines, across the ring's end too; a formatter's line
 * over LOGQ_LINE_MAX is cut there, as logq_push cuts a line; a record over
 * LOGQ_LINE_MAX is dropped and counted; a kind without formatter writes
 * nothing. The ring is DPDK's in the test's own memory (no EAL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "logq.h"
#include "ring.h"
#include "tap.h"

static char path[] = "/tmp/test_logq_rec.XXXXXX";
static long read_from; /* bytes of the log file already checked */
static int twice;      /* the formatter writes each byte this many times */

/* fmt_rec - "rec N: " and the record's bytes, each `twice` times, cut to size */
static size_t
fmt_rec(char *buf, size_t size, const void *rec, size_t len)
{
	size_t n = (size_t)snprintf(buf, size, "rec %zu: ", len);

	for (size_t i = 0; i < len * (size_t)twice && n + 1 < size; i++)
		buf[n++] = ((const char *)rec)[i / (size_t)twice];
	buf[n] = '\0';
	return n;
}

/* next_written - the next line written to the log, after its prefix, without
 * its newline; NULL at the end */
static const char *
next_written(FILE *f, char *got, size_t size)
{
	char *p;

	if (fgets(got, (int)size, f) == NULL || (p = strstr(got, "smtpgate/smtpd[")) == NULL ||
	    (p = strstr(p, "]: ")) == NULL)
		return NULL;
	p[strcspn(p, "\n")] = '\0';
	return p + 3;
}

/* check - the lines written since the last check are want[0..n) */
static bool
check(char *const *want, unsigned n)
{
	static char got[3 * LOGQ_LINE_MAX];
	FILE *f = fopen(path, "r");
	bool good = f != NULL && fseek(f, read_from, SEEK_SET) == 0;

	for (unsigned i = 0; good && i < n; i++) {
		const char *p = next_written(f, got, sizeof(got));

		good = p != NULL && strcmp(p, want[i]) == 0;
		if (!good)
			printf("# line %u differs: \"%.60s\"...\n", i, p != NULL ? p : "(none)");
	}
	if (good && fgetc(f) != EOF)
		good = false;
	if (f != NULL) {
		fseek(f, 0, SEEK_END);
		read_from = ftell(f);
		fclose(f);
	}
	return good;
}

/* push_split - a record of len bytes in three parts split at a and b, and
 * an empty one with no base (as the engine's absent strings are) */
static void
push_split(struct logq *q, const char *rec, size_t len, size_t a, size_t b)
{
	struct iovec parts[4] = {
	        {.iov_base = (void *)(uintptr_t)rec, .iov_len = a},
	        {.iov_base = (void *)(uintptr_t)(rec + a), .iov_len = b - a},
	        {.iov_base = (void *)(uintptr_t)(rec + b), .iov_len = len - b},
	        {.iov_base = NULL, .iov_len = 0},
	};

	logq_push_rec(q, LOGQ_K_REJECT, parts, 4);
}

/* test_lengths - records of every length, in parts, each after a plain line */
static void
test_lengths(struct logq *q)
{
	static char *want[80];
	static char rec[LOGQ_LINE_MAX];
	unsigned id = 0, rounds = 0;
	size_t len = 0;
	bool good = true;

	twice = 1;
	for (unsigned i = 0; i < 80; i++)
		want[i] = malloc(LOGQ_LINE_MAX + 1);
	while (len <= LOGQ_LINE_MAX && good) {
		unsigned n = 0;

		for (; n < 80 && len <= LOGQ_LINE_MAX; n += 2, len++, id++) {
			size_t a = len / 3, b = len - len / 5;

			snprintf(want[n], LOGQ_LINE_MAX + 1, "plain %u", id);
			logq_push(q, want[n], strlen(want[n]));
			bytes_of(id, len, rec);
			push_split(q, rec, len, a, b);
			fmt_rec(want[n + 1], LOGQ_LINE_MAX + 1, rec, len);
		}
		good = logq_drain(q) == n && check(want, n) && q->dropped == 0;
		rounds++;
	}
	ok(good,
	   "records of 0 to %d bytes in three parts, each after a line: formatted, whole, in "
	   "order (%u rounds)",
	   LOGQ_LINE_MAX, rounds);
	for (unsigned i = 0; i < 80; i++)
		free(want[i]);
}

/* test_cut - a formatter's line over LOGQ_LINE_MAX is cut there */
static void
test_cut(struct logq *q)
{
	static char rec[1500], line[3 * LOGQ_LINE_MAX];
	char *want[1] = {line};

	twice = 2; /* 3,000 bytes of line */
	bytes_of(5, sizeof(rec), rec);
	push_split(q, rec, sizeof(rec), 100, 1400);
	fmt_rec(line, LOGQ_LINE_MAX + 1, rec, sizeof(rec));
	ok(logq_drain(q) == 1 && check(want, 1) && strlen(line) == LOGQ_LINE_MAX,
	   "a record's line of %zu bytes is cut at %d", sizeof(rec) * 2 + 10, LOGQ_LINE_MAX);
	twice = 1;
}

/* test_refused - too long a record is dropped and counted; a kind without
 * formatter is taken off the ring and writes nothing */
static void
test_refused(struct logq *q)
{
	static char rec[LOGQ_LINE_MAX + 1];
	char after[] = "after", *want[1] = {after};
	struct iovec part = {.iov_base = rec, .iov_len = 10};

	push_split(q, rec, sizeof(rec), 1, 2);
	ok(q->dropped == 1 && logq_drain(q) == 0 && check(want, 0),
	   "a record of %zu bytes is dropped and counted", sizeof(rec));
	logq_set_format(LOGQ_K_REJECT, NULL);
	logq_push_rec(q, LOGQ_K_REJECT, &part, 1);
	logq_push(q, after, strlen(after));
	ok(logq_drain(q) == 2 && check(want, 1),
	   "a record without formatter writes nothing; the next line comes out");
	logq_set_format(LOGQ_K_REJECT, fmt_rec);
}

int
main(void)
{
	struct logq q;

	log_open(path);
	logq_set_format(LOGQ_K_REJECT, fmt_rec);
	ring_new(&q);
	test_lengths(&q);
	test_cut(&q);
	test_refused(&q);
	logq_close();
	unlink(path);
	free(q.ring);
	return done_testing();
}
