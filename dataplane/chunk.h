/* chunk - a per-lcore pool of fixed-size buffers, without atomics
 *
 * The SMTP engine borrows 512-byte chunks for partial lines, the HELO name
 * and the sender, and the TCP stack for queued data. Each lcore owns its
 * pool: a LIFO stack of free chunks over one allocation made at start, so
 * getting and putting back are a few instructions and never a syscall.
 * An empty pool is a NULL, which the callers turn into a refusal (421, or
 * no new connection), never a crash.
 */
#ifndef CHUNK_H
#define CHUNK_H

#include <stddef.h>
#include <stdint.h>

/* Free chunks are kept as their offset from base in units of
 * CHUNK_ALIGN bytes: 4 bytes a chunk instead of a pointer's 8, written for
 * every chunk at start-up (memory each flow slot costs, used or not), and
 * 256 GiB of pool still fit. */
#define CHUNK_ALIGN_SHIFT 6
#define CHUNK_ALIGN       (1u << CHUNK_ALIGN_SHIFT)

struct chunk_pool {
	char *base;     /* n * size bytes */
	uint32_t *free; /* stack of free chunks: offsets from base / CHUNK_ALIGN */
	uint32_t nfree; /* chunks on the stack */
	uint32_t n;     /* chunks in all */
	uint32_t size;  /* bytes per chunk: a multiple of CHUNK_ALIGN */
	uint64_t empty; /* get() found none: counted, for the operator */
};

/* chunk_pool_init - n chunks of size bytes (rounded up to CHUNK_ALIGN) on
 * a NUMA socket; 0 or -1 */
int chunk_pool_init(struct chunk_pool *p, uint32_t n, uint32_t size, int socket);
void chunk_pool_free(struct chunk_pool *p);

static inline void *
chunk_get(struct chunk_pool *p)
{
	if (p->nfree == 0) {
		p->empty++;
		return NULL;
	}
	return p->base + ((size_t)p->free[--p->nfree] << CHUNK_ALIGN_SHIFT);
}

static inline void
chunk_put(struct chunk_pool *p, void *c)
{
	p->free[p->nfree++] = (uint32_t)((size_t)((char *)c - p->base) >> CHUNK_ALIGN_SHIFT);
}

#endif
