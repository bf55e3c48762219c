/* logq - log lines from the lcores to the control thread, which writes them
 *
 * Lines go out as Postfix writes them, so that operators' tools (pflogsumm
 * --syslog-name=smtpgate, fail2ban, grep) keep working:
 *   Nov 29 03:20:00 mx1 smtpgate/smtpd[1234]: NOQUEUE: reject: RCPT from ...
 * to syslog with the ident smtpgate/smtpd and facility mail.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_ring_peek_zc.h>

#include "logq.h"

_Static_assert(LOGQ_SLOT % 4 == 0, "rte_ring elements are multiples of 4 bytes");
_Static_assert(LOGQ_LINE_MAX <= UINT16_MAX, "a line's length fits its 2-byte header");
_Static_assert(LOGQ_SLOTS_MAX <= LOGQ_RING / 2, "a ring holds a few of the longest lines");

/* slots_for - ring elements of a line of len bytes */
static unsigned
slots_for(size_t len)
{
	return (unsigned)((2 + len + LOGQ_SLOT - 1) / LOGQ_SLOT);
}

static FILE *out;
static enum gconf_log target;
static char host[64];

int
logq_create_named(struct logq *q, const char *name, int socket)
{
	q->ring = rte_ring_create_elem(name, LOGQ_SLOT, LOGQ_RING, socket,
	                               RING_F_SP_ENQ | RING_F_SC_DEQ);
	return q->ring == NULL ? -1 : 0;
}

int
logq_create(struct logq *q, unsigned lcore_id)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "logq_%u", lcore_id);
	return logq_create_named(q, name, (int)rte_lcore_to_socket_id(lcore_id));
}

/* zc_put - copy n bytes to offset off of the elements a zero-copy
 * enqueue handed out (ptr1's n1 elements, then ptr2's at the ring's start) */
static void
zc_put(const struct rte_ring_zc_data *z, size_t off, const void *src, size_t n)
{
	size_t first = (size_t)z->n1 * LOGQ_SLOT;

	if (off < first) {
		size_t k = RTE_MIN(n, first - off);

		memcpy((char *)z->ptr1 + off, src, k);
		src = (const char *)src + k;
		n -= k;
		off += k;
	}
	if (n > 0)
		memcpy((char *)z->ptr2 + (off - first), src, n);
}

/* logq_push - the line is written straight into the ring's elements (the
 * ring is single-producer, so its zero-copy API applies), all of a line's
 * elements in one enqueue, so that the consumer never sees part of one */
void
logq_push(struct logq *q, const char *line, size_t len)
{
	struct rte_ring_zc_data zcd;
	unsigned n;
	uint16_t len16;

	if (len > LOGQ_LINE_MAX)
		len = LOGQ_LINE_MAX;
	n = slots_for(len);
	if (rte_ring_enqueue_zc_bulk_elem_start(q->ring, LOGQ_SLOT, n, &zcd, NULL) != n) {
		q->dropped++;
		return;
	}
	len16 = (uint16_t)len;
	zc_put(&zcd, 0, &len16, sizeof(len16));
	zc_put(&zcd, sizeof(len16), line, len);
	rte_ring_enqueue_zc_elem_finish(q->ring, n);
}

/* next_line - dequeue the next line into buf (LOGQ_SLOTS_MAX elements); its
 * length, or -1 when the ring is empty */
static int
next_line(struct logq *q, char *buf)
{
	uint16_t len;
	unsigned n;

	if (rte_ring_sc_dequeue_bulk_elem(q->ring, buf, LOGQ_SLOT, 1, NULL) != 1)
		return -1;
	memcpy(&len, buf, sizeof(len));
	if (len > LOGQ_LINE_MAX)
		len = LOGQ_LINE_MAX; /* cannot be: logq_push cuts */
	n = slots_for(len);
	/* the producer enqueued the line's elements at once: they are all there */
	if (n > 1 && rte_ring_sc_dequeue_bulk_elem(q->ring, buf + LOGQ_SLOT, LOGQ_SLOT, n - 1,
	                                           NULL) != n - 1)
		return -1;
	return len;
}

void
logq_printf(struct logq *q, const char *fmt, ...)
{
	char line[LOGQ_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		logq_push(q, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

int
logq_open(const struct gconf *gc)
{
	target = gc->log;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	*strchrnul(host, '.') = '\0';
	switch (target) {
	case GCONF_LOG_STDOUT:
		out = stdout;
		return 0;
	case GCONF_LOG_FILE:
		out = fopen(gc->log_file, "a");
		if (out == NULL) {
			perror(gc->log_file);
			return -1;
		}
		return 0;
	case GCONF_LOG_SYSLOG:
		openlog("smtpgate/smtpd", LOG_PID | LOG_NDELAY, LOG_MAIL);
		return 0;
	}
	return -1;
}

unsigned
logq_drain(struct logq *q)
{
	static char buf[LOGQ_SLOTS_MAX * LOGQ_SLOT]; /* the control thread's only */
	unsigned total = 0;
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	int pid = (int)getpid(), len;

	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	while (total < LOGQ_LINES && (len = next_line(q, buf)) >= 0) {
		if (target == GCONF_LOG_SYSLOG)
			syslog(LOG_INFO, "%.*s", len, buf + 2);
		else
			fprintf(out, "%s %s smtpgate/smtpd[%d]: %.*s\n", stamp, host, pid, len,
			        buf + 2);
		total++;
	}
	if (total > 0 && out != NULL)
		fflush(out);
	return total;
}

void
logq_close(void)
{
	if (target == GCONF_LOG_SYSLOG)
		closelog();
	else if (out != NULL && out != stdout)
		fclose(out);
	out = NULL;
}
