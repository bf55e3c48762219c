/* test_chunk - the chunk queues (tcp_chunk.c): tcp_cq_ack(), the inline
 * case of an ACK that takes a send queue's only chunk, against
 * tcp_cq_drop(), the general walk it stands for
 *
 * Two stacks made alike play the same random operations on a queue
 * (appends, reservations and their commits, drops) except that the first
 * drops with tcp_cq_ack() and the second with tcp_cq_drop(). After every
 * step the two queues must be equal field for field (chunk indices too:
 * the pools are used alike), the pools' counters equal, and the bytes
 * queued the same as a plain model of the queue's contents.
 */
#include "peer.h"

#define MODEL (64 * 1024)

/* rnd - xorshift64*: the same sequences on every run */
static uint64_t rnd_state = 0x243f6a8885a308d3ull;

static uint32_t
rnd(uint32_t n)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return (uint32_t)((rnd_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

static uint8_t model[MODEL]; /* the bytes the queue holds, from its head */
#define SRC_MAX (3 * 4096)   /* an append: up to this, from up to 511 bytes in */
static uint8_t src[SRC_MAX + 512];

/* contents - the queue's bytes (its chunks walked from off) equal model */
static bool
contents(struct tcp_lcore *lc, const struct tcp_cq *q, size_t mlen)
{
	size_t at = 0, skip = q->off;

	if (q->len != mlen)
		return false;
	for (uint32_t c = q->head; c != TCP_NIL; c = tcp_chunk(lc, c)->next) {
		const struct tcp_chunk *ch = tcp_chunk(lc, c);
		size_t n = ch->len - skip;

		if (at + n > mlen || memcmp(ch->data + skip, model + at, n) != 0)
			return false;
		at += n;
		skip = 0;
	}
	return at == mlen;
}

/* same - both stacks' queues and pools alike, and as the model says */
static bool
same(struct peer *a, const struct tcp_cq *qa, struct peer *b, const struct tcp_cq *qb, size_t mlen)
{
	return memcmp(qa, qb, sizeof(*qa)) == 0 && a->lc->chunk_free == b->lc->chunk_free &&
	       a->lc->chunks_free_n == b->lc->chunks_free_n &&
	       a->st->chunks_used == b->st->chunks_used && contents(a->lc, qa, mlen) &&
	       contents(b->lc, qb, mlen);
}

/* run - one random sequence; false (and where) at the first difference */
static bool
run(unsigned r, uint64_t *fast, uint64_t *steps)
{
	struct tcp_cq qa = {TCP_NIL, TCP_NIL, 0, 0, 0}, qb = qa;
	struct tcp_conf cf;
	struct peer *a, *b;
	size_t mlen = 0;
	bool ok_ = true;
	int n = 10 + (int)rnd(60);

	p_conf(&cf);
	cf.nchunks = 16 + rnd(32);
	cf.chunk_reserve = 0;
	a = p_start(&cf);
	b = p_start(&cf);
	for (int i = 0; i < n && ok_; i++) {
		uint32_t op = rnd(10);

		if (op < 3) { /* an append, perhaps over several chunks */
			size_t len = rnd(4) == 0 ? rnd(SRC_MAX) : 1 + rnd(300), got, gotb;

			if (mlen + len > MODEL)
				len = MODEL - mlen;
			got = tcp_cq_append(a->lc, &qa, src + (r + (unsigned)i) % 512, len);
			gotb = tcp_cq_append(b->lc, &qb, src + (r + (unsigned)i) % 512, len);
			if (got != gotb)
				ok_ = false;
			memcpy(model + mlen, src + (r + (unsigned)i) % 512, got);
			mlen += got;
		} else if (op < 5) { /* a reservation, committed (perhaps empty) or not yet */
			size_t min = 1 + rnd(64), max = min + rnd(4096), ra, rb;
			uint8_t *pa = tcp_cq_reserve(a->lc, &qa, min, max, &ra);
			uint8_t *pb = tcp_cq_reserve(b->lc, &qb, min, max, &rb);

			if ((pa == NULL) != (pb == NULL) || ra != rb)
				ok_ = false;
			if (pa != NULL && pb != NULL && rnd(5) != 0) {
				size_t k = rnd(3) == 0 ? 0 : 1 + rnd((uint32_t)ra);

				if (mlen + k > MODEL)
					k = 0;
				memcpy(pa, src + i, k);
				memcpy(pb, src + i, k);
				memcpy(model + mlen, src + i, k);
				if (tcp_cq_commit(a->lc, &qa, k) != k ||
				    tcp_cq_commit(b->lc, &qb, k) != k)
					ok_ = false;
				mlen += k;
			}
		} else { /* an ACK: all, more than all, part, or nothing */
			size_t len = qa.len, k;
			uint32_t how = rnd(4);

			k = how == 0   ? len
			    : how == 1 ? len + 1 + rnd(100)
			    : how == 2 ? rnd(len + 1)
			               : 0;
			if (qa.len != 0 && qa.head == qa.tail && k >= qa.len)
				++*fast;
			tcp_cq_ack(a->lc, &qa, k);
			tcp_cq_drop(b->lc, &qb, k);
			if (k > mlen)
				k = mlen;
			memmove(model, model + k, mlen - k);
			mlen -= k;
			++*steps;
		}
		if (ok_ && !same(a, &qa, b, &qb, mlen)) {
			printf("#   run %u step %d (op %u): queues differ: len %u/%u off %u/%u "
			       "head "
			       "%u/%u tail %u/%u, %zu modelled\n",
			       r, i, op, qa.len, qb.len, qa.off, qb.off, qa.head, qb.head, qa.tail,
			       qb.tail, mlen);
			ok_ = false;
		}
	}
	tcp_cq_clear(a->lc, &qa);
	tcp_cq_clear(b->lc, &qb);
	if (ok_ && (a->st->chunks_used != 0 || b->st->chunks_used != 0)) {
		printf("#   run %u: chunks left in use\n", r);
		ok_ = false;
	}
	p_stop(a);
	p_stop(b);
	return ok_;
}

/* test_ack_random - tcp_cq_ack() and tcp_cq_drop() on random sequences */
static void
test_ack_random(void)
{
	uint64_t fast = 0, steps = 0;
	unsigned bad = 0, runs = 2000;

	for (unsigned r = 0; r < runs; r++)
		if (!run(r, &fast, &steps))
			bad++;
	is_int(bad, 0, "tcp_cq_ack: %u random sequences (%llu ACKs) as tcp_cq_drop()", runs,
	       (unsigned long long)steps);
	ok(fast * 10 > steps && fast < steps,
	   "tcp_cq_ack: both of its cases exercised (%llu of %llu ACKs inline)",
	   (unsigned long long)fast, (unsigned long long)steps);
}

/* test_ack_reply - the SMTP case: a reply in one chunk, acked whole; the
 * chunk is back in the pool and the queue is empty */
static void
test_ack_reply(void)
{
	struct peer *p = p_start(NULL);
	struct tcp_cq q = {TCP_NIL, TCP_NIL, 0, 0, 0};
	uint32_t free0 = p->lc->chunks_free_n;

	tcp_cq_append(p->lc, &q, "250 ok\r\n", 8);
	ok(q.head != TCP_NIL && q.head == q.tail && p->lc->chunks_free_n == free0 - 1,
	   "reply: one chunk queued");
	tcp_cq_ack(p->lc, &q, 8);
	ok(q.head == TCP_NIL && q.tail == TCP_NIL && q.len == 0 && q.off == 0 &&
	           p->lc->chunks_free_n == free0 && p->st->chunks_used == 0,
	   "reply: acked whole, the chunk is free again");
	p_stop(p);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	test_ack_reply();
	test_ack_random();
	return done_testing();
}
