/* ring.h - what the logq tests share: a ring without EAL, telling bytes */
#ifndef LOGQ_TEST_RING_H
#define LOGQ_TEST_RING_H

#include <stdlib.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

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

#endif
