/* tcp_chunk - the lcore's pool of fixed-size chunks and the queues made of
 * them: a flow's send queue, its receive hold queue, its out-of-order queue
 *
 * Why chunks: a flow holds memory only while it has bytes in flight, bytes
 * the application has not taken, or segments out of order; an idle flow
 * holds none. A send MSS never exceeds TCP_CHUNK_DATA, so a segment spans
 * at most two chunks: the emit callback gets two pieces.
 *
 * A dry pool degrades, it does not fail: tcp_send() takes fewer bytes,
 * received bytes beyond what the application took are not acknowledged
 * (the peer sends them again), out-of-order segments are dropped.
 *
 * A low pool is shared out by who needs it (tcp_pool_refuses()): below
 * conf.chunk_low, a lean flow (an SMTP session before DATA) that already
 * holds chunks gets no new data, since each command it sends only adds a
 * reply it is not reading; below conf.chunk_reserve no lean flow does. What
 * is left goes to full flows (a message on its way) and to new flows'
 * first words. Refused data is not acknowledged: the peer's retransmission
 * timer paces it, as for a lost segment, at no cost to us.
 */
#include <string.h>

#include "tcp_impl.h"

/* tcp_chunk_get - a chunk off the free list, or TCP_NIL */
uint32_t
tcp_chunk_get(struct tcp_lcore *lc)
{
	return tcp_chunk_take(lc);
}

/* tcp_chunk_put - back on the free list */
void
tcp_chunk_put(struct tcp_lcore *lc, uint32_t c)
{
	struct tcp_chunk *ch = tcp_chunk(lc, c);

	ch->next = lc->chunk_free;
	lc->chunk_free = c;
	lc->chunks_free_n++;
	lc->st.chunks_used--;
}

/* tcp_cq_append - copy up to len bytes at the tail; how many fitted in the pool */
size_t
tcp_cq_append(struct tcp_lcore *lc, struct tcp_cq *q, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		struct tcp_chunk *t = tcp_cq_tail_open(lc, q);
		size_t n;

		if (t == NULL)
			break;
		n = TCP_CHUNK_DATA - t->len;
		if (n > len - done)
			n = len - done;
		memcpy(t->data + t->len, p + done, n);
		t->len = (uint16_t)(t->len + n);
		done += n;
	}
	q->len += (uint32_t)done;
	return done;
}

/* tcp_cq_unlink_tail - take the queue's empty tail chunk off and free it: a
 * reservation nothing was written to (tcp_cq_commit). Rare behind other
 * chunks (a pipelined batch's replies), hence the walk. */
void
tcp_cq_unlink_tail(struct tcp_lcore *lc, struct tcp_cq *q)
{
	uint32_t c = q->head, prev = TCP_NIL;

	while (c != q->tail) {
		prev = c;
		c = tcp_chunk(lc, c)->next;
	}
	tcp_chunk_put(lc, c);
	q->tail = prev;
	if (prev == TCP_NIL) {
		q->head = TCP_NIL;
		q->off = 0;
	} else {
		tcp_chunk(lc, prev)->next = TCP_NIL;
	}
}

/* tcp_cq_drop - consume n bytes at the head, freeing emptied chunks */
void
tcp_cq_drop(struct tcp_lcore *lc, struct tcp_cq *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->len -= (uint32_t)n;
	while (n > 0 && q->head != TCP_NIL) {
		struct tcp_chunk *h = tcp_chunk(lc, q->head);
		size_t left = h->len - q->off;
		uint32_t next = h->next;

		if (n < left) {
			q->off = (uint16_t)(q->off + n);
			return;
		}
		n -= left;
		q->off = 0;
		/* the tail chunk is freed too when emptied: appends start afresh */
		tcp_chunk_put(lc, q->head);
		q->head = next;
		if (next == TCP_NIL)
			q->tail = TCP_NIL;
	}
}

/* tcp_cq_clear - free all */
void
tcp_cq_clear(struct tcp_lcore *lc, struct tcp_cq *q)
{
	while (q->head != TCP_NIL) {
		uint32_t next = tcp_chunk(lc, q->head)->next;

		tcp_chunk_put(lc, q->head);
		q->head = next;
	}
	q->tail = TCP_NIL;
	q->len = 0;
	q->off = 0;
}

/* tcp_cq_peek - up to two pieces covering bytes [at, at+n) of the queue;
 * n must not exceed TCP_CHUNK_DATA; returns how many pieces */
unsigned
tcp_cq_peek(struct tcp_lcore *lc, const struct tcp_cq *q, size_t at, size_t n, const void *ptr[2],
            uint32_t len[2])
{
	uint32_t c = q->head;
	size_t skip = at + q->off;
	unsigned k = 0;

	ptr[0] = ptr[1] = NULL;
	len[0] = len[1] = 0;
	while (c != TCP_NIL && skip >= tcp_chunk(lc, c)->len) {
		skip -= tcp_chunk(lc, c)->len;
		c = tcp_chunk(lc, c)->next;
	}
	while (c != TCP_NIL && n > 0 && k < 2) {
		struct tcp_chunk *ch = tcp_chunk(lc, c);
		size_t m = ch->len - skip;

		if (m > n)
			m = n;
		ptr[k] = ch->data + skip;
		len[k] = (uint32_t)m;
		k++;
		n -= m;
		skip = 0;
		c = ch->next;
	}
	return k;
}

/* tcp_ooo_insert - keep a segment beyond rcv_nxt, sorted; 0, or -1 when
 * not kept (pool low, a duplicate, or the queue full of nearer segments).
 * Bytes already held win over new ones for the same sequence numbers (the
 * first received is what the application reads, whatever the order of
 * later copies): the new segment loses its front where a held chunk covers
 * it, and ends where the next held chunk starts (the peer sends the rest
 * again). */
int
tcp_ooo_insert(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t seq, const void *buf,
               uint32_t len, bool fin)
{
	const uint8_t *data = buf;
	uint32_t *p = &f->ooo, c;
	struct tcp_chunk *ch;

	if (len == 0 || len > TCP_CHUNK_DATA || lc->chunks_free_n <= lc->conf.chunk_reserve)
		return -1;
	if (f->ooo_n >= TCP_OOO_MAX) {
		/* full: keep the segments nearest rcv_nxt, they fill the hole
		 * first; the farthest one goes if the new one is nearer */
		uint32_t *last = &f->ooo;

		while (tcp_chunk(lc, *last)->next != TCP_NIL)
			last = &tcp_chunk(lc, *last)->next;
		if (!SEQ_LT(seq, tcp_chunk(lc, *last)->seq))
			return -1;
		tcp_chunk_put(lc, *last);
		*last = TCP_NIL;
		f->ooo_n--;
		lc->st.drop_ooo++;
	}
	while (*p != TCP_NIL) {
		struct tcp_chunk *o = tcp_chunk(lc, *p);
		uint32_t oend = o->seq + o->len;

		if (SEQ_GEQ(o->seq, seq + len))
			break;
		if (SEQ_GT(o->seq, seq)) { /* o starts inside: keep what precedes it */
			len = o->seq - seq;
			fin = false;
			break;
		}
		if (SEQ_GT(oend, seq)) { /* o covers the front */
			if (SEQ_GEQ(oend, seq + len))
				return -1; /* already have all of it */
			data += oend - seq;
			len -= oend - seq;
			seq = oend;
		}
		p = &o->next;
	}
	c = tcp_chunk_get(lc);
	if (c == TCP_NIL)
		return -1;
	ch = tcp_chunk(lc, c);
	memcpy(ch->data, data, len);
	ch->seq = seq;
	ch->len = (uint16_t)len;
	ch->fin = fin;
	ch->next = *p;
	*p = c;
	f->ooo_n++;
	return 0;
}

/* tcp_ooo_clear - drop the queue */
void
tcp_ooo_clear(struct tcp_lcore *lc, struct tcp_flow *f)
{
	while (f->ooo != TCP_NIL) {
		uint32_t next = tcp_chunk(lc, f->ooo)->next;

		tcp_chunk_put(lc, f->ooo);
		f->ooo = next;
	}
	f->ooo_n = 0;
}
