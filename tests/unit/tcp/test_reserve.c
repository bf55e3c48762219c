/* test_reserve - writing into the send queue in place: tcp_send_reserve()
 * and tcp_send_commit(), with which the SMTP engine formats its replies
 * straight into a chunk
 *
 * What must hold: the bytes go out as tcp_send() would send them (the same
 * segments); a reservation never makes a chunk with free room in the middle
 * of the queue (a segment spans at most two chunks), so a tail with less
 * room than asked gets none and the caller copies with tcp_send(); an
 * empty commit leaves no chunk held; the pool running dry, a full send
 * buffer, a lean flow at the pool's reserve and a closed flow get nothing.
 */
#include "peer.h"

static uint8_t text[8192];

/* payload - the payload bytes p sent since its last p_clear(), concatenated */
static size_t
payload(const struct peer *p, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	for (int i = 0; i < p->nout; i++) {
		uint32_t l = p->out[i].len;

		if (n + l > cap)
			break;
		memcpy(buf + n, p->out[i].data, l);
		n += l;
	}
	return n;
}

/* established - a peer with one established flow, what it sent cleared */
static struct peer *
established(const struct tcp_conf *c)
{
	struct peer *p = p_start(c);

	if (!p_handshake(p, true)) {
		printf("Bail out! handshake failed\n");
		exit(1);
	}
	p_clear(p);
	return p;
}

/* reply - reserve min, write len bytes of text from off, commit; what was committed */
static size_t
reply(struct tcp_flow *f, size_t min, size_t off, size_t len)
{
	size_t room;
	uint8_t *w = tcp_send_reserve(f, min, &room);

	if (w == NULL || len > room)
		return 0;
	memcpy(w, text + off, len);
	return tcp_send_commit(f, len);
}

/* The same replies written in place (as the gate does: 1024 bytes of room
 * asked, tcp_send() of a copy when the tail cannot offer them) and all
 * through tcp_send(): the same segments, byte for byte, and the same
 * chunks held until the ACK. */
static void
test_same_segments(void)
{
	static const size_t lens[] = {4, 64, 1024, 700, 1460, 2032, 1200, 30};
	struct peer *a = established(NULL), *b = established(NULL);
	static uint8_t pa[16384], pb[16384];
	size_t off = 0, na, nb;
	unsigned inplace = 0;
	bool same = true;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t got = reply(a->flow, 1024, off, lens[i]);

		if (got > 0)
			inplace++;
		else
			got = tcp_send(a->flow, text + off, lens[i]);
		same &= got == lens[i] && tcp_send(b->flow, text + off, lens[i]) == lens[i];
		off += lens[i];
	}
	ok(same && inplace >= 4 && inplace < 8,
	   "8 replies (4 to 2032 bytes) taken whole, %u of them in place", inplace);
	ok(a->flow->sq.len == b->flow->sq.len && a->st->chunks_used == b->st->chunks_used,
	   "the same bytes queued (%u, %u) in the same chunks (%llu, %llu)", a->flow->sq.len,
	   b->flow->sq.len, (unsigned long long)a->st->chunks_used,
	   (unsigned long long)b->st->chunks_used);
	na = payload(a, pa, sizeof(pa));
	nb = payload(b, pb, sizeof(pb));
	ok(a->nout == b->nout && na == nb && na == off && memcmp(pa, pb, na) == 0 &&
	           memcmp(pa, text, na) == 0,
	   "the same %d segments on the wire, %zu bytes in order", a->nout, na);
	for (int i = 0; i < a->nout && i < b->nout; i++)
		same &= a->out[i].len == b->out[i].len && a->out[i].o.seq == b->out[i].o.seq;
	ok(same, "segment by segment: the same sequence numbers and lengths");
	p_seg(a, TCP_ACK, a->cseq, a->flow->snd_max, 1024, NULL, 0);
	ok(a->flow->sq.len == 0 && a->st->chunks_used == 0, "all acked: no chunk held");
	p_stop(a);
	p_stop(b);
}

/* A reservation nothing is written to: the fresh chunk goes back, whether
 * the queue was empty or its tail full (unlinked from behind a full chunk). */
static void
test_empty_commit(void)
{
	struct peer *p = established(NULL);
	size_t room;
	void *w = tcp_send_reserve(p->flow, 1024, &room);

	ok(w != NULL && room == TCP_CHUNK_DATA && p->st->chunks_used == 1,
	   "empty queue: a fresh chunk's %zu bytes", room);
	is_int(tcp_send_commit(p->flow, 0), 0, "nothing written: 0 committed");
	ok(p->flow->sq.head == TCP_NIL && p->flow->sq.tail == TCP_NIL && p->st->chunks_used == 0 &&
	           p->nout == 0,
	   "the chunk is back, the queue empty, nothing sent");

	/* a full tail: the next reservation links a fresh chunk behind it */
	p_seg(p, TCP_ACK, p->cseq, p->flow->snd_una, 0, NULL, 0); /* zero window: bytes wait */
	is_int(tcp_send(p->flow, text, 2 * TCP_CHUNK_DATA), 2 * TCP_CHUNK_DATA,
	       "two chunks' worth queued");
	w = tcp_send_reserve(p->flow, 1024, &room);
	ok(w != NULL && room == TCP_CHUNK_DATA && p->st->chunks_used == 3,
	   "tail full: a third chunk, %zu bytes of room", room);
	tcp_send_commit(p->flow, 0);
	ok(p->st->chunks_used == 2 && p->flow->sq.len == 2 * TCP_CHUNK_DATA &&
	           tcp_chunk(p->lc, p->flow->sq.tail)->len == TCP_CHUNK_DATA &&
	           tcp_chunk(p->lc, p->flow->sq.tail)->next == TCP_NIL &&
	           tcp_chunk(p->lc, p->flow->sq.head)->next == p->flow->sq.tail,
	   "empty commit: the third chunk unlinked, the two full ones intact");
	ok(reply(p->flow, 1024, 2 * TCP_CHUNK_DATA, 100) == 100 && p->st->chunks_used == 3 &&
	           p->flow->sq.len == 2 * TCP_CHUNK_DATA + 100,
	   "a reply behind the full tail: 100 bytes in a third chunk");
	p_stop(p);
}

/* A reply larger than the tail chunk's room: no reservation (the chunk
 * would keep a gap), the caller copies with tcp_send(), which splits; the
 * bytes come out in order. With less asked, the tail's room is given. */
static void
test_tail_room(void)
{
	struct peer *p = established(NULL);
	static uint8_t got[16384];
	size_t room, n;
	void *w;

	p_seg(p, TCP_ACK, p->cseq, p->flow->snd_una, 0, NULL, 0); /* zero window: bytes wait */
	is_int(tcp_send(p->flow, text, 1500), 1500, "1500 bytes queued: the tail has 532 free");
	w = tcp_send_reserve(p->flow, 1024, &room);
	ok(w == NULL && room == 0 && p->st->chunks_used == 1,
	   "1024 asked, 532 in the tail: none, and no chunk taken");
	is_int(tcp_send(p->flow, text + 1500, 1024), 1024, "the caller's copy: tcp_send() splits");
	w = tcp_send_reserve(p->flow, 500, &room);
	ok(w != NULL && room == 2 * TCP_CHUNK_DATA - 2524 &&
	           w == tcp_chunk(p->lc, p->flow->sq.tail)->data + (2524 - TCP_CHUNK_DATA),
	   "500 asked: the tail's %zu bytes, right after its data", room);
	memcpy(w, text + 2524, 500);
	is_int(tcp_send_commit(p->flow, 500), 500, "500 committed");
	p_seg(p, TCP_ACK, p->cseq, p->flow->snd_una, 1024, NULL, 0); /* the window opens */
	n = payload(p, got, sizeof(got));
	ok(n == 3024 && memcmp(got, text, n) == 0, "3024 bytes on the wire, in order (%zu)", n);
	p_stop(p);
}

/* The pool dry: nothing, no state changed; back once a chunk is free. */
static void
test_pool_dry(void)
{
	struct peer *p = established(NULL);
	uint32_t held[512], nheld = 0, c;
	size_t room;
	void *w;

	while (nheld < 512 && (c = tcp_chunk_get(p->lc)) != TCP_NIL)
		held[nheld++] = c;
	w = tcp_send_reserve(p->flow, 1024, &room);
	ok(w == NULL && room == 0 && p->flow->sq.head == TCP_NIL,
	   "pool dry (%u chunks taken): no reservation, the queue untouched", nheld);
	is_int(tcp_send_commit(p->flow, 0), 0, "a commit after a failed reservation: nothing");
	tcp_chunk_put(p->lc, held[--nheld]);
	ok(reply(p->flow, 1024, 0, 10) == 10 && p->nout == 1 && p->out[0].len == 10,
	   "one chunk free again: the reply goes out");
	while (nheld > 0)
		tcp_chunk_put(p->lc, held[--nheld]);
	p_stop(p);
}

/* A full send buffer, and a lean flow at the pool's reserve: the room is
 * what tcp_send() would take, never more. */
static void
test_full_window(void)
{
	struct tcp_conf cf;
	struct peer *p;
	uint32_t held[512], nheld = 0, c;
	size_t room;
	void *w;

	p_conf(&cf);
	cf.snd_buf = 3000;
	p = established(&cf);
	p_seg(p, TCP_ACK, p->cseq, p->flow->snd_una, 0, NULL, 0); /* the peer's window shut */
	is_int(tcp_send(p->flow, text, 2500), 2500, "2500 of a 3000-byte send buffer queued");
	w = tcp_send_reserve(p->flow, 1024, &room);
	ok(w == NULL && room == 0, "1024 asked, 500 of send space: none");
	w = tcp_send_reserve(p->flow, 100, &room);
	ok(w != NULL && room == 500, "100 asked: the send space's 500, not the tail chunk's %u",
	   2 * TCP_CHUNK_DATA - 2500);
	is_int(tcp_send_commit(p->flow, 500), 500, "500 committed");
	ok(tcp_send_space(p->flow) == 0 && tcp_send_reserve(p->flow, 1, &room) == NULL,
	   "send buffer full: nothing more");
	p_stop(p);

	/* lean, the pool down to its reserve */
	p_conf(&cf);
	cf.lean_rcv_buf = cf.lean_snd_buf = 4064;
	p = established(&cf);
	while (p->lc->chunks_free_n > cf.chunk_reserve && (c = tcp_chunk_get(p->lc)) != TCP_NIL)
		held[nheld++] = c;
	ok(tcp_flow_lean(p->flow) && tcp_send_reserve(p->flow, 1024, &room) == NULL && room == 0,
	   "a lean flow, the pool at its reserve: none");
	tcp_chunk_put(p->lc, held[--nheld]);
	ok(reply(p->flow, 1024, 0, 10) == 10, "one chunk above the reserve: the reply goes");
	while (nheld > 0)
		tcp_chunk_put(p->lc, held[--nheld]);
	p_stop(p);
}

/* A flow closed between reservation and commit (the rule broken) gets
 * nothing and holds no chunk; a closed flow gets no reservation. */
static void
test_closed(void)
{
	struct peer *p = established(NULL);
	size_t room;
	void *w = tcp_send_reserve(p->flow, 1024, &room);

	memcpy(w, "221 2.0.0 Bye\r\n", 15);
	tcp_close(p->flow);
	is_int(tcp_send_commit(p->flow, 15), 0, "closed before the commit: nothing queued");
	ok(p->st->chunks_used == 0 && p->flow->sq.len == 0, "and the fresh chunk is back");
	ok(tcp_send_reserve(p->flow, 1, &room) == NULL && room == 0, "FIN queued: no reservation");
	p_stop(p);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)(i * 7 + i / 251);
	test_same_segments();
	test_empty_commit();
	test_tail_room();
	test_pool_dry();
	test_full_window();
	test_closed();
	return done_testing();
}
