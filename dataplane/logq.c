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

struct logq_rec {
	uint16_t len;
	char line[LOGQ_LINE_MAX];
};

static FILE *out;
static enum gconf_log target;
static char host[64];

int
logq_create_named(struct logq *q, const char *name, int socket)
{
	q->ring = rte_ring_create_elem(name, sizeof(struct logq_rec), LOGQ_RING, socket,
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

/* logq_push - the line is written straight into the ring's slot (the
 * ring is single-producer, so its zero-copy API applies): a copy through
 * a record on the stack would move all LOGQ_LINE_MAX bytes every time */
void
logq_push(struct logq *q, const char *line, size_t len)
{
	struct rte_ring_zc_data zcd;
	struct logq_rec *r;

	if (len > LOGQ_LINE_MAX)
		len = LOGQ_LINE_MAX;
	if (rte_ring_enqueue_zc_bulk_elem_start(q->ring, sizeof(*r), 1, &zcd, NULL) != 1) {
		q->dropped++;
		return;
	}
	r = zcd.ptr1; /* one element is never split by the ring's end */
	r->len = (uint16_t)len;
	memcpy(r->line, line, len);
	rte_ring_enqueue_zc_elem_finish(q->ring, 1);
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
	struct logq_rec recs[8];
	unsigned n, total = 0;
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;

	int pid = (int)getpid();

	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	/* a ring holds at most LOGQ_RING lines: more would be another lcore's
	 * time (the producer goes on adding while this drains) */
	while (total < LOGQ_RING &&
	       (n = rte_ring_sc_dequeue_burst_elem(q->ring, recs, sizeof(recs[0]), 8, NULL)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			if (target == GCONF_LOG_SYSLOG)
				syslog(LOG_INFO, "%.*s", (int)recs[i].len, recs[i].line);
			else
				fprintf(out, "%s %s smtpgate/smtpd[%d]: %.*s\n", stamp, host, pid,
				        (int)recs[i].len, recs[i].line);
		}
		total += n;
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
