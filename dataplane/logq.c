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
_Static_assert(LOGQ_LINE_MAX < 1u << LOGQ_LEN_BITS, "a length fits the header's low bits");
_Static_assert(LOGQ_K_COUNT <= 1u << (16 - LOGQ_LEN_BITS), "a kind fits the header's high bits");

#define LEN_MASK ((1u << LOGQ_LEN_BITS) - 1)

/* slots_for - ring elements of a line of len bytes */
static unsigned
slots_for(size_t len)
{
	return (unsigned)((2 + len + LOGQ_SLOT - 1) / LOGQ_SLOT);
}

static logq_format_fn formats[LOGQ_K_COUNT]; /* control thread: set before draining */
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

/* logq_push_rec - as logq_push, the parts one after the other, the kind in
 * the header's high bits */
void
logq_push_rec(struct logq *q, enum logq_kind kind, const struct iovec *parts, unsigned n)
{
	struct rte_ring_zc_data zcd;
	size_t len = 0, off = 2;
	unsigned slots;
	uint16_t hdr;

	for (unsigned i = 0; i < n; i++)
		len += parts[i].iov_len;
	if (len > LOGQ_LINE_MAX || kind >= LOGQ_K_COUNT) {
		q->dropped++;
		return;
	}
	slots = slots_for(len);
	if (rte_ring_enqueue_zc_bulk_elem_start(q->ring, LOGQ_SLOT, slots, &zcd, NULL) != slots) {
		q->dropped++;
		return;
	}
	hdr = (uint16_t)(len | (unsigned)kind << LOGQ_LEN_BITS);
	if (zcd.n1 == slots) {
		/* the common case: the elements do not wrap, the parts go in one
		 * after the other (zc_put's split is for the ring's end) */
		char *p = zcd.ptr1;

		memcpy(p, &hdr, sizeof(hdr));
		p += sizeof(hdr);
		for (unsigned i = 0; i < n; i++) {
			if (parts[i].iov_len == 0)
				continue; /* its base may be NULL, which memcpy may not get */
			memcpy(p, parts[i].iov_base, parts[i].iov_len);
			p += parts[i].iov_len;
		}
	} else {
		zc_put(&zcd, 0, &hdr, sizeof(hdr));
		for (unsigned i = 0; i < n; i++) {
			if (parts[i].iov_len == 0)
				continue;
			zc_put(&zcd, off, parts[i].iov_base, parts[i].iov_len);
			off += parts[i].iov_len;
		}
	}
	rte_ring_enqueue_zc_elem_finish(q->ring, slots);
}

void
logq_set_format(enum logq_kind kind, logq_format_fn fn)
{
	if (kind < LOGQ_K_COUNT)
		formats[kind] = fn;
}

/* next_line - dequeue the next line into buf (LOGQ_SLOTS_MAX elements); its
 * length, or -1 when the ring is empty */
static int
next_line(struct logq *q, char *buf, unsigned *kind)
{
	uint16_t hdr;
	unsigned n, len;

	if (rte_ring_sc_dequeue_bulk_elem(q->ring, buf, LOGQ_SLOT, 1, NULL) != 1)
		return -1;
	memcpy(&hdr, buf, sizeof(hdr));
	len = hdr & LEN_MASK;
	*kind = (unsigned)hdr >> LOGQ_LEN_BITS;
	if (len > LOGQ_LINE_MAX)
		len = LOGQ_LINE_MAX; /* cannot be: logq_push cuts */
	n = slots_for(len);
	/* the producer enqueued the line's elements at once: they are all there */
	if (n > 1 && rte_ring_sc_dequeue_bulk_elem(q->ring, buf + LOGQ_SLOT, LOGQ_SLOT, n - 1,
	                                           NULL) != n - 1)
		return -1;
	return (int)len;
}

/* text_of - the text to write of an element: a line as it is; a record
 * formatted (into line, LOGQ_LINE_MAX + 1 bytes) and cut as logq_push
 * would have cut the line; its length, or -1 for a kind without formatter */
static int
text_of(unsigned kind, const char *elem, int len, char *line, const char **text)
{
	size_t n;

	if (kind == LOGQ_K_LINE) {
		*text = elem;
		return len;
	}
	if (kind >= LOGQ_K_COUNT || formats[kind] == NULL)
		return -1;
	n = formats[kind](line, LOGQ_LINE_MAX + 1, elem, (size_t)len);
	*text = line;
	return (int)(n < LOGQ_LINE_MAX ? n : LOGQ_LINE_MAX);
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
	static char line[LOGQ_LINE_MAX + 1];         /* a record's line, likewise */
	const char *text;
	unsigned total = 0, kind;
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	int pid = (int)getpid(), len;

	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	while (total < LOGQ_LINES && (len = next_line(q, buf, &kind)) >= 0) {
		total++;
		if ((len = text_of(kind, buf + 2, len, line, &text)) < 0)
			continue; /* cannot be: main() sets every kind's formatter */
		if (target == GCONF_LOG_SYSLOG)
			syslog(LOG_INFO, "%.*s", len, text);
		else
			fprintf(out, "%s %s smtpgate/smtpd[%d]: %.*s\n", stamp, host, pid, len,
			        text);
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
