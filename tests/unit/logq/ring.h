/* ring.h - what the logq tests share: a ring without EAL, telling bytes */
#ifndef LOGQ_TEST_RING_H
#define LOGQ_TEST_RING_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "gconf.h"
#include "logq.h"

/* ring_new - a logq as logq_create makes it, in the test's own memory */
static inline void
ring_new(struct logq *q)
{
	ssize_t size = rte_ring_get_memsize_elem(LOGQ_SLOT, LOGQ_RING);
	struct rte_ring *r = size > 0 ? aligned_alloc(64, (size_t)size) : NULL;

	if (r == NULL || rte_ring_init(r, "test", LOGQ_RING, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0)
		abort();
	q->ring = r;
	q->dropped = 0;
}

/* bytes_of - len printable bytes that tell their line (or record) id and position */
static inline void
bytes_of(unsigned id, size_t len, char *buf)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = (char)('!' + (id * 7 + k * 13) % 90);
}

/* log_open - the log written to a new file made from the mkstemp
 * template path (kept in path for the test to read back) */
static inline void
log_open(char *path)
{
	struct gconf gc;
	int fd = mkstemp(path);

	if (fd < 0)
		abort();
	close(fd);
	memset(&gc, 0, sizeof(gc));
	gc.log = GCONF_LOG_FILE;
	snprintf(gc.log_file, sizeof(gc.log_file), "%s", path);
	if (logq_open(&gc) != 0)
		abort();
}

#endif
