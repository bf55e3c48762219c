/* chunk - a per-lcore pool of fixed-size buffers (see chunk.h) */
#include <rte_malloc.h>

#include "chunk.h"

int
chunk_pool_init(struct chunk_pool *p, uint32_t n, uint32_t size, int socket)
{
	size = (size + CHUNK_ALIGN - 1) & ~(CHUNK_ALIGN - 1);
	if (((size_t)n * size) >> CHUNK_ALIGN_SHIFT > UINT32_MAX) {
		p->base = NULL;
		p->free = NULL;
		return -1;
	}
	p->base = rte_malloc_socket("chunks", (size_t)n * size, CHUNK_ALIGN, socket);
	p->free = rte_malloc_socket("chunk_stack", (size_t)n * sizeof(*p->free), 64, socket);
	if (p->base == NULL || p->free == NULL) {
		chunk_pool_free(p);
		return -1;
	}
	/* the lowest addresses on top: pages are touched in order as chunks are used */
	for (uint32_t i = 0; i < n; i++)
		p->free[i] = (uint32_t)(((size_t)(n - 1 - i) * size) >> CHUNK_ALIGN_SHIFT);
	p->nfree = p->n = n;
	p->size = size;
	p->empty = 0;
	return 0;
}

void
chunk_pool_free(struct chunk_pool *p)
{
	rte_free(p->base);
	rte_free(p->free);
	p->base = NULL;
	p->free = NULL;
	p->nfree = p->n = 0;
}
