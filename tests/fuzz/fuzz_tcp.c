/* fuzz_tcp - one lcore's TCP stack fed crafted segments, time and application calls
 *
 * The input is a sequence of operations (decisions from the back, see
 * fuzz.h; raw option bytes from the front): a segment from one of five
 * peers (four clients of the listening ports 25 and 587, and the server
 * of our active opens) with any flags, sequence and acknowledgment numbers
 * relative to what the stack last sent to that peer (exact, a little off,
 * far off, or anything), any window, options built or raw (SACK blocks
 * built below what the stack sent, to reach its scoreboard), and a payload;
 * time passing; the application sending, closing, aborting, resuming,
 * setting deadlines; active opens; a port stopping and starting to listen.
 * Each segment is built as header bytes and goes through tcp_wire_parse()
 * as the net layer does, so option parsing is fuzzed too. The peers'
 * payload byte at sequence s is always pattern(s), so that whatever the
 * overlap, retransmission or order, the application must receive exactly
 * pattern(irs + 1), pattern(irs + 2), ... : a reassembly error shows.
 *
 * The application takes random amounts, echoes, closes on FIN or not, and
 * acts from inside its callbacks (the stack allows reentrant calls).
 *
 * Checked after every operation, through tcp_impl.h: the flow table and
 * the per-state gauges agree, every chunk is in exactly one queue or the
 * free list (the pool balances), queues within their limits, sequence
 * variables ordered, the SACK scoreboard sorted and within what was sent,
 * no work left pending, the application's flows are
 * exactly those the stack owes a closed() to. At the end every flow is
 * aborted and time runs on: all flows and chunks must come back.
 *
 * Each input runs twice: with header prediction (the fast path of
 * input_sync()) and with conf.no_prediction (every segment through the
 * general path). The two runs must send the same segments, in the same
 * order, hold the same flows after every operation and end with the same
 * counters: the fast path changes nothing. A third run gives the IPv4
 * segments to tcp_input4_wire() as bytes (the gate's fused receive path,
 * which predicts from the header itself): the same again.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "tcp.h"
#include "tcp_impl.h"

#define MAX_FLOWS 16
#define NCHUNKS   48
#define MAX_OPS   2000
#define NPEERS    5 /* peer 4 is the server our active opens go to */
#define NCONV     32

static const uint16_t lports[3] = {25, 587, 26}; /* 26: nobody listens */
static const uint64_t steps[16] = {0,    1,    10,   50,   199,   200,   201,     999,
                                   1000, 1001, 3000, 4001, 10000, 60000, 3600000, 1ull << 40};

/* pattern - the peers' byte at sequence number s */
static inline uint8_t
pattern(uint32_t s)
{
	return (uint8_t)((s * 0x9e3779b1u) >> 24);
}

/* What the stack last sent to one peer on one local port. */
struct conv {
	bool used;
	uint8_t peer;
	uint16_t lport;
	uint32_t seq_max; /* highest seq + len (+SYN/FIN) we sent */
	uint32_t seq;     /* seq of the last segment */
	uint32_t ack;     /* the last ack we sent: what we expect next */
	bool has_ack;
};

struct aflow {
	struct tcp_flow *f;
	uint64_t taken; /* bytes the app took */
	bool closed;
};

struct fz {
	struct fz_in in;
	struct tcp_lcore *lc;
	struct tcp_conf conf;
	int app;
	uint64_t now;
	struct conv conv[NCONV];
	struct aflow af[MAX_FLOWS];
	unsigned naf;
	uint16_t connect_port; /* the last active open's local port */
	bool refuse, echo, close_fin, listening587;
	uint8_t take_mode;
	int in_cb;
	uint64_t digest; /* every segment sent, in order (FNV-1a) */
};

static struct fz z;
static bool trace; /* FUZZ_TRACE set: the segments both ways on stderr */
static bool wire;  /* IPv4 segments through tcp_input4_wire() (the fused path), as the gate */

static struct tcp_ip
peer_ip(unsigned p)
{
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	struct tcp_ip ip = {{0}};

	switch (p) {
	case 0:
	case 1:
		return (struct tcp_ip){{10, 0, 0, 1}};
	case 2:
		return (struct tcp_ip){{10, 0, 0, 3}};
	case 3:
		memcpy(ip.b, v6, 16);
		return ip;
	default:
		return (struct tcp_ip){{10, 0, 0, 9}};
	}
}

static uint16_t
peer_port(unsigned p)
{
	static const uint16_t port[NPEERS] = {40000, 40001, 1024, 40000, 2525};

	return port[p];
}

static struct tcp_ip
our_ip(unsigned p)
{
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
	struct tcp_ip ip = {{10, 0, 0, 2}};

	if (p == 3)
		memcpy(ip.b, v6, 16);
	return ip;
}

static struct conv *
conv_of(unsigned peer, uint16_t lport, bool make)
{
	struct conv *free_slot = NULL;

	for (unsigned i = 0; i < NCONV; i++) {
		if (z.conv[i].used && z.conv[i].peer == peer && z.conv[i].lport == lport)
			return &z.conv[i];
		if (!z.conv[i].used && free_slot == NULL)
			free_slot = &z.conv[i];
	}
	if (!make || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->peer = (uint8_t)peer;
	free_slot->lport = lport;
	return free_slot;
}

/* peer_of - which peer an address and port are */
static int
peer_of(const struct tcp_ip *ip, uint16_t port)
{
	for (unsigned p = 0; p < NPEERS; p++) {
		struct tcp_ip a = peer_ip(p);

		if (memcmp(a.b, ip->b, 16) == 0 && peer_port(p) == port)
			return (int)p;
	}
	return -1;
}

/* digest - fold n bytes into z.digest */
static void
digest(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		z.digest = (z.digest ^ b[i]) * 0x100000001b3ull;
}

/* emit - a segment the stack sends: checked, and remembered for its peer */
static int
emit(void *arg, const struct tcp_out *o)
{
	uint32_t len = o->len[0] + o->len[1], span;
	int p = peer_of(&o->dst, o->dport);
	struct conv *c;

	(void)arg;
	digest(o, sizeof(o->family) + sizeof(o->flags) + sizeof(o->wnd));
	digest(&o->seq, sizeof(o->seq));
	digest(o->flags & TCP_ACK ? &o->ack : &o->seq, sizeof(o->ack));
	digest(&o->dport, sizeof(o->dport));
	digest(&o->opt.has, sizeof(o->opt.has));
	for (int k = 0; k < 2; k++)
		if (o->len[k] > 0)
			digest(o->data[k], o->len[k]);
	if (trace)
		fprintf(stderr, "  out %u>%u %02x seq %u ack %u wnd %u len %u\n", o->sport,
		        o->dport, o->flags, o->seq, o->ack, o->wnd, len);
	fz_check(p >= 0, "a segment to nobody we know, port %u", o->dport);
	fz_check((o->flags & (TCP_SYN | TCP_FIN)) != (TCP_SYN | TCP_FIN), "SYN+FIN sent");
	fz_check(!(o->flags & TCP_RST) || len == 0, "RST with data");
	fz_check(len <= TCP_CHUNK_DATA && len <= (unsigned)z.conf.mtu - 40, "%u bytes sent", len);
	fz_check(o->len[0] == 0 || o->data[0] != NULL, "payload piece");
	fz_check(o->len[1] == 0 || o->data[1] != NULL, "payload piece");
	fz_check(o->family == (p == 3 ? TCP_V6 : TCP_V4), "family");
	for (int k = 0; k < 2; k++) /* ASan: the pieces are readable */
		for (uint32_t i = 0; i < o->len[k]; i++)
			(void)*(volatile const uint8_t *)((const uint8_t *)o->data[k] + i);
	c = conv_of((unsigned)p, o->sport, true);
	if (c == NULL)
		return 0;
	span = len + ((o->flags & TCP_SYN) != 0) + ((o->flags & TCP_FIN) != 0);
	c->seq = o->seq;
	if (!(o->flags & TCP_RST) && (c->seq_max == 0 || SEQ_GT(o->seq + span, c->seq_max)))
		c->seq_max = o->seq + span;
	if (o->flags & TCP_ACK) {
		c->ack = o->ack;
		c->has_ack = true;
	}
	return 0;
}

/* ---- the application ---- */

static struct aflow *
af_of(struct tcp_flow *f)
{
	for (unsigned i = 0; i < z.naf; i++)
		if (z.af[i].f == f && !z.af[i].closed)
			return &z.af[i];
	return NULL;
}

static void
af_add(struct tcp_flow *f)
{
	fz_check(af_of(f) == NULL, "a flow given twice");
	for (unsigned i = 0; i < z.naf; i++)
		if (z.af[i].closed) {
			z.af[i] = (struct aflow){.f = f};
			return;
		}
	fz_check(z.naf < MAX_FLOWS, "more app flows than flows");
	z.af[z.naf++] = (struct aflow){.f = f};
}

static int
a_accept(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	fz_check(tcp_flow_state(f) == TCP_S_ESTABLISHED || tcp_flow_state(f) == TCP_S_CLOSE_WAIT,
	         "accept in %s", tcp_state_name(tcp_flow_state(f)));
	if (z.refuse)
		return -1;
	af_add(f);
	tcp_flow_set_app(f, &z);
	return 0;
}

static void
a_connected(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	fz_check(af_of(f) != NULL, "connected: a flow we did not open");
}

/* reply - what the application sends: a few bytes or a lot */
static void
reply(struct tcp_flow *f, size_t n)
{
	static char buf[16384];

	if (n > sizeof(buf))
		n = sizeof(buf);
	memset(buf, 'r', n);
	fz_check(tcp_send(f, buf, n) <= n, "tcp_send took more than given");
}

static size_t
a_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct aflow *a = af_of(f);
	const uint8_t *p = buf;
	size_t n = len;
	uint8_t d;

	(void)ctx;
	fz_check(a != NULL, "data for a flow the app does not know");
	fz_check(len > 0, "data of %zu", len);
	switch (z.take_mode) {
	case 1:
		n = 0;
		break;
	case 2:
		n = 1;
		break;
	case 3:
		n = fz_u8(&z.in) % (len + 1);
		break;
	}
	for (size_t i = 0; i < n; i++)
		fz_check(p[i] == pattern(f->irs + 1 + (uint32_t)(a->taken + i)),
		         "byte %llu of the stream is not the peer's",
		         (unsigned long long)(a->taken + i));
	a->taken += n;
	if (z.echo && n > 0) {
		reply(f, n);
		d = fz_u8(&z.in);
		if (d == 0xff)
			tcp_close(f);
		else if (d == 0xfe)
			tcp_abort(f);
	}
	return n;
}

static void
a_fin(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	fz_check(af_of(f) != NULL, "FIN for a flow the app does not know");
	fz_check(f->rq.len == 0, "FIN told with %u bytes held", f->rq.len);
	if (z.close_fin)
		tcp_close(f);
}

static void
a_sent(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	fz_check(af_of(f) != NULL, "sent for a flow the app does not know");
	tcp_rx_resume(f);
}

static void
a_deadline(void *ctx, struct tcp_flow *f, uint64_t now)
{
	uint8_t d = fz_u8(&z.in);

	(void)ctx;
	fz_check(af_of(f) != NULL, "deadline for a flow the app does not know");
	fz_check(now >= f->t_app || f->t_app == 0, "deadline early");
	if (d & 1)
		tcp_close(f);
	else if (d & 2)
		tcp_abort(f);
	else if (d & 4)
		tcp_set_deadline(f, now + 1000);
}

static void
a_closed(void *ctx, struct tcp_flow *f, enum tcp_end why)
{
	struct aflow *a = af_of(f);

	(void)ctx;
	fz_check(a != NULL, "closed for a flow the app does not know");
	fz_check(why < TCP_END_COUNT, "why %d", why);
	a->closed = true;
}

static const struct tcp_app app = {
        .accept = a_accept,
        .connected = a_connected,
        .data = a_data,
        .peer_fin = a_fin,
        .sent = a_sent,
        .deadline = a_deadline,
        .closed = a_closed,
};

static uint16_t
pick_port(void *arg, const struct tcp_key *k, unsigned attempt)
{
	(void)arg;
	(void)k;
	return attempt < 4 ? (uint16_t)(50000 + attempt) : 0;
}

/* ---- the checks ---- */

/* chain - chunks in a chain from c, checking each is not counted twice */
static unsigned
chain(uint32_t c, uint8_t *seen)
{
	unsigned n = 0;

	while (c != TCP_NIL) {
		fz_check(c < NCHUNKS, "chunk index %u", c);
		fz_check(!seen[c], "chunk %u in two places", c);
		seen[c] = 1;
		n++;
		c = tcp_chunk(z.lc, c)->next;
	}
	return n;
}

static void
check_lcore(void)
{
	struct tcp_lcore *lc = z.lc;
	const struct tcp_stats *st = &lc->st;
	uint64_t n_state[TCP_S_COUNT] = {0}, used = 0;
	uint8_t seen[NCHUNKS] = {0};
	unsigned chunks = 0, app_flows = 0;

	fz_check(lc->depth == 0 && lc->pend_head == TCP_NIL && lc->reap == TCP_NIL,
	         "work left at the end of a call");
	for (uint32_t i = 0; i < MAX_FLOWS; i++) {
		struct tcp_flow *f = &lc->flows[i];
		unsigned ooo;

		if (f->state == TCP_S_COUNT)
			continue;
		fz_check(f->state < TCP_S_COUNT && f->state != TCP_S_CLOSED, "flow %u in %u", i,
		         f->state);
		fz_check(!(f->flags & (TCP_F_DEAD | TCP_F_PENDING)), "flow %u dead or pending", i);
		used++;
		n_state[f->state]++;
		chunks += chain(f->sq.head, seen);
		chunks += chain(f->rq.head, seen);
		ooo = chain(f->ooo, seen);
		chunks += ooo;
		fz_check(ooo == f->ooo_n && ooo <= TCP_OOO_MAX, "ooo %u, ooo_n %u", ooo, f->ooo_n);
		fz_check(f->sq.len <= z.conf.snd_buf, "send queue %u", f->sq.len);
		fz_check(f->rq.len <= z.conf.rcv_buf, "receive queue %u", f->rq.len);
		fz_check((f->flags & TCP_F_LEAN) ? tcp_rcv_buf(f) == z.conf.lean_rcv_buf &&
		                                           tcp_snd_buf(f) == z.conf.lean_snd_buf
		                                 : tcp_rcv_buf(f) == z.conf.rcv_buf,
		         "flow buffers %u/%u, lean %d", tcp_rcv_buf(f), tcp_snd_buf(f),
		         !!(f->flags & TCP_F_LEAN));
		fz_check(!(f->flags & TCP_F_IN_HASH) ||
		                 f->hash == tcp_key_hash(f->lc, f->family, &f->key),
		         "kept hash %08x", f->hash);
		{ /* the whole flow, but for the pointers, into the run's digest */
			struct tcp_flow copy = *f;

			copy.lc = NULL;
			copy.app = NULL;
			digest(&copy, sizeof(copy));
		}
		fz_check(SEQ_LEQ(f->snd_una, f->snd_nxt) && SEQ_LEQ(f->snd_nxt, f->snd_max),
		         "una %u nxt %u max %u", f->snd_una, f->snd_nxt, f->snd_max);
		/* the SACK scoreboard: sorted ranges apart from each other, above
		 * snd_una as of the last ACK, never past what was sent */
		fz_check(f->sb_n <= TCP_SACK_SB, "sb_n %u", f->sb_n);
		for (unsigned k = 0; k < f->sb_n && k < TCP_SACK_SB; k++)
			fz_check(SEQ_LT(f->sb[k][0], f->sb[k][1]) &&
			                 SEQ_LEQ(f->sb[k][1], f->snd_max) &&
			                 (k == 0 || SEQ_LT(f->sb[k - 1][1], f->sb[k][0])),
			         "sack range %u [%u, %u) una %u max %u", k, f->sb[k][0],
			         f->sb[k][1], f->snd_una, f->snd_max);
		if (f->flags & TCP_F_APP) {
			fz_check(af_of(f) != NULL,
			         "the stack owes closed() for a flow the app forgot");
			app_flows++;
		}
	}
	for (unsigned i = 0; i < z.naf; i++)
		if (!z.af[i].closed)
			fz_check(z.af[i].f->state < TCP_S_COUNT && (z.af[i].f->flags & TCP_F_APP),
			         "an app flow the stack forgot");
	fz_check(used == st->flows_active, "%llu flows used, gauge %llu", (unsigned long long)used,
	         (unsigned long long)st->flows_active);
	for (int s = 0; s < TCP_S_COUNT; s++)
		fz_check(n_state[s] == st->state_n[s], "state %s: %llu flows, gauge %llu",
		         tcp_state_name(s), (unsigned long long)n_state[s],
		         (unsigned long long)st->state_n[s]);
	fz_check(st->half_open == n_state[TCP_S_SYN_RCVD], "half_open %llu",
	         (unsigned long long)st->half_open);
	fz_check(st->flows_tw == n_state[TCP_S_TIME_WAIT] && st->flows_tw <= z.conf.tw_max,
	         "flows_tw %llu", (unsigned long long)st->flows_tw);
	fz_check(chain(lc->chunk_free, seen) == lc->chunks_free_n, "free list length");
	fz_check(chunks + lc->chunks_free_n == NCHUNKS, "%u chunks in queues, %u free of %u",
	         chunks, lc->chunks_free_n, NCHUNKS);
	fz_check(st->chunks_used == chunks, "chunks_used %llu, in queues %u",
	         (unsigned long long)st->chunks_used, chunks);
	(void)app_flows;
}

/* ---- the operations ---- */

/* relative - a sequence number near base, as chosen */
static uint32_t
relative(uint32_t base)
{
	uint8_t m = fz_u8(&z.in);

	switch (m & 3) {
	case 0:
		return base;
	case 1:
		return base + (uint32_t)(int32_t)(int8_t)fz_u8(&z.in);
	case 2:
		return base + (uint32_t)(int32_t)(int16_t)fz_u16(&z.in) * 64u;
	default:
		return fz_u32(&z.in);
	}
}

static void
segment(uint8_t d)
{
	static uint8_t pkt[60 + 4096];
	unsigned peer = (d >> 3) % NPEERS, optlen = 0;
	uint16_t lport = peer == 4 ? z.connect_port : lports[(d >> 6) % 3];
	struct conv *c = conv_of(peer, lport, false);
	uint8_t flags = fz_u8(&z.in), o = fz_u8(&z.in), l;
	uint32_t seq, ack, len;
	uint16_t wnd = (uint16_t)(65535 - fz_u16(&z.in));
	struct tcp_ip src = peer_ip(peer), dst = our_ip(peer);
	struct tcp_seg seg;
	size_t got;

	/* flags: 0 is the plainest, an ACK; otherwise as chosen */
	flags = flags == 0 ? TCP_ACK : flags;
	seq = relative(c != NULL && c->has_ack ? c->ack : 1000);
	ack = relative(c != NULL ? c->seq_max : 0);
	switch (o & 3) {
	case 0: /* none, or SACK blocks stepping down from what we sent: our scoreboard's input */
		if (c != NULL && (o & 4)) {
			unsigned nb = 1 + ((o >> 3) & 3);
			uint32_t at = c->seq_max;

			pkt[20] = 1;
			pkt[21] = 1;
			pkt[22] = 5;
			pkt[23] = (uint8_t)(2 + 8 * nb);
			for (unsigned i = 0; i < nb; i++) {
				uint32_t r = at - (uint32_t)fz_u8(&z.in) * 16u;
				uint32_t lft = r - (uint32_t)fz_u8(&z.in) * 16u;

				for (unsigned b = 0; b < 4; b++) {
					pkt[24 + 8 * i + b] = (uint8_t)(lft >> (24 - 8 * b));
					pkt[28 + 8 * i + b] = (uint8_t)(r >> (24 - 8 * b));
				}
				at = lft;
			}
			optlen = 4 + 8 * nb;
		}
		break;
	case 1: { /* what Linux sends on a SYN */
		static const uint8_t syn[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
		                                0, 1, 0,    0,    0, 0, 1, 3,  3, 7};

		memcpy(pkt + 20, syn, sizeof(syn));
		pkt[39] = (uint8_t)(o >> 4); /* the window scale */
		optlen = 20;
		break;
	}
	case 2: { /* raw option bytes from the input */
		const uint8_t *p = fz_take(&z.in, ((o >> 2) & 7) * 4 + 4u, &got);

		memset(pkt + 20, 0, 40);
		memcpy(pkt + 20, p, got);
		optlen = ((o >> 2) & 7) * 4 + 4u;
		break;
	}
	case 3: { /* MSS alone, any value */
		uint16_t mss = fz_u16(&z.in);

		pkt[20] = 2;
		pkt[21] = 4;
		pkt[22] = (uint8_t)(mss >> 8);
		pkt[23] = (uint8_t)mss;
		optlen = 4;
		break;
	}
	}
	l = fz_u8(&z.in);
	len = l & 0x80 ? (l & 0x7fu) * 32u : l;
	if (len > sizeof(pkt) - 60)
		len = sizeof(pkt) - 60;
	for (uint32_t i = 0; i < len; i++)
		pkt[20 + optlen + i] = pattern(seq + ((flags & TCP_SYN) != 0) + i);
	pkt[0] = (uint8_t)(peer_port(peer) >> 8);
	pkt[1] = (uint8_t)peer_port(peer);
	pkt[2] = (uint8_t)(lport >> 8);
	pkt[3] = (uint8_t)lport;
	for (int i = 0; i < 4; i++) {
		pkt[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		pkt[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	pkt[12] = (uint8_t)((5 + optlen / 4) << 4);
	pkt[13] = flags;
	pkt[14] = (uint8_t)(wnd >> 8);
	pkt[15] = (uint8_t)wnd;
	memset(pkt + 16, 0, 4);
	memset(&seg, 0, sizeof(seg));
	if (tcp_wire_parse(pkt, 20 + optlen + len, &seg) != 0)
		return;
	fz_check(seg.len == len && seg.seq == seq && seg.ack == ack && seg.flags == flags &&
	                 seg.sport == peer_port(peer) && seg.dport == lport,
	         "tcp_wire_parse changed the header");
	fz_check(!(seg.opt.has & TCP_O_WS) || seg.opt.wscale <= TCP_WSCALE_MAX, "wscale %u",
	         seg.opt.wscale);
	if (trace)
		fprintf(stderr, "in  %u>%u %02x seq %u ack %u wnd %u len %u opt %02x\n", seg.sport,
		        seg.dport, seg.flags, seg.seq, seg.ack, seg.wnd, seg.len, seg.opt.has);
	seg.family = peer == 3 ? TCP_V6 : TCP_V4;
	seg.src = src;
	seg.dst = dst;
	if (wire && seg.family == TCP_V4) {
		uint32_t sa, da;

		memcpy(&sa, src.b, 4);
		memcpy(&da, dst.b, 4);
		fz_check(tcp_input4_wire(z.lc, pkt, 20 + optlen + len, sa, da, z.now) == 0,
		         "tcp_input4_wire refused a header tcp_wire_parse took");
		return;
	}
	tcp_input(z.lc, &seg, z.now);
}

/* app_op - the application acts on one of its flows */
static void
app_op(uint8_t d)
{
	struct aflow *a = NULL;
	unsigned live = 0, k = fz_u8(&z.in);

	for (unsigned i = 0; i < z.naf; i++)
		live += !z.af[i].closed;
	if (live == 0)
		return;
	k %= live;
	for (unsigned i = 0; i < z.naf; i++)
		if (!z.af[i].closed && k-- == 0)
			a = &z.af[i];
	switch ((d >> 3) & 7) {
	case 0:
		reply(a->f, fz_u8(&z.in) * 64u + 1);
		break;
	case 1:
		tcp_close(a->f);
		break;
	case 2:
		tcp_abort(a->f);
		break;
	case 3:
		tcp_rx_resume(a->f);
		break;
	case 4:
		tcp_set_deadline(a->f, z.now + fz_u16(&z.in));
		break;
	case 5:
		tcp_send_wait(a->f);
		break;
	case 6:
		tcp_set_deadline(a->f, 0);
		break;
	default:
		if (d & 0x40) /* a session entering DATA, or leaving it */
			tcp_set_lean(a->f, (d >> 7) != 0);
		fz_check(tcp_send_space(a->f) <= z.conf.snd_buf, "send space");
		break;
	}
}

static void
op(void)
{
	uint8_t d = fz_u8(&z.in);

	switch (d & 7) {
	case 0:
	case 1:
	case 2:
		segment(d);
		break;
	case 3:
		z.now += steps[(d >> 3) & 15];
		tcp_timers_run(z.lc, z.now);
		break;
	case 4:
		app_op(d);
		break;
	case 5: {
		struct tcp_ip l = our_ip(4), r = peer_ip(4);
		struct tcp_flow *f = tcp_connect(z.lc, TCP_V4, &l, &r, 2525, z.app, &z, z.now);

		if (f != NULL) {
			af_add(f);
			z.connect_port = tcp_flow_key(f)->lport;
		}
		break;
	}
	case 6:
		z.take_mode = (d >> 3) & 3;
		z.echo = (d >> 5) & 1;
		z.close_fin = (d >> 6) & 1;
		z.refuse = (d >> 7) & 1;
		break;
	default:
		if (z.listening587)
			tcp_unlisten(z.lc, 587);
		else
			fz_check(tcp_listen(z.lc, 587, z.app) == 0, "listen");
		z.listening587 = !z.listening587;
		break;
	}
	check_lcore();
}

/* run - the whole input on a fresh stack; its digest and counters in *st */
static uint64_t
run(const uint8_t *data, size_t size, bool predict, struct tcp_stats *st)
{
	uint8_t c0, c1;
	unsigned n = 0;

	memset(&z, 0, sizeof(z));
	z.digest = 0xcbf29ce484222325ull;
	fz_init(&z.in, data, size);
	c0 = fz_u8(&z.in);
	c1 = fz_u8(&z.in);
	tcp_conf_default(&z.conf);
	z.conf.max_flows = MAX_FLOWS;
	z.conf.nchunks = NCHUNKS;
	z.conf.chunk_reserve = 4;
	z.conf.syn_backlog = 4;
	z.conf.tw_max = 4;
	z.conf.tw_ms = 2000;
	z.conf.fin_wait2_ms = 3000;
	z.conf.rto_max_ms = 4000;
	z.conf.retries = 4;
	z.conf.syn_retries = 2;
	z.conf.synack_retries = 2;
	z.conf.challenge_ack_per_s = 10;
	z.conf.snd_buf = c0 & 1 ? 65536 : 8192;
	z.conf.rcv_buf = c0 & 2 ? 262144 : 8192; /* the large one is scaled (WS 2) */
	z.conf.mtu = c0 & 4 ? 576 : 1500;
	z.conf.cookies = (uint8_t)((c0 >> 3) % 3); /* AUTO, ALWAYS, NEVER */
	z.conf.emit = emit;
	z.conf.pick_port = pick_port;
	z.conf.no_prediction = !predict;
	memcpy(z.conf.key, "fuzz-key-0123456", 16);
	if (c1 & 0x10) { /* passive opens start lean, as the gate's sessions */
		z.conf.lean_rcv_buf = 2048;
		z.conf.lean_snd_buf = 2048;
	}
	z.take_mode = c1 & 3;
	z.echo = (c1 >> 2) & 1;
	z.close_fin = !((c1 >> 3) & 1);
	z.lc = tcp_lcore_create(&z.conf);
	fz_check(z.lc != NULL, "tcp_lcore_create");
	z.app = tcp_app_register(z.lc, &app, &z);
	fz_check(z.app >= 0 && tcp_listen(z.lc, 25, z.app) == 0, "listen");
	z.now = 1000000;
	z.connect_port = 50000;
	while (z.in.len > 0 && n++ < MAX_OPS)
		op();
	/* the end: every flow aborted, time runs out the rest */
	for (unsigned i = 0; i < z.naf; i++)
		if (!z.af[i].closed)
			tcp_abort(z.af[i].f);
	check_lcore();
	for (int i = 0; i < 600 && z.lc->st.flows_active > 0; i++) {
		z.now += 100;
		tcp_timers_run(z.lc, z.now);
	}
	check_lcore();
	fz_check(z.lc->st.flows_active == 0, "%llu flows left after a minute",
	         (unsigned long long)z.lc->st.flows_active);
	fz_check(z.lc->st.chunks_used == 0 && z.lc->chunks_free_n == NCHUNKS, "%llu chunks left",
	         (unsigned long long)z.lc->st.chunks_used);
	for (unsigned i = 0; i < z.naf; i++)
		fz_check(z.af[i].closed, "an app flow never closed");
	*st = z.lc->st;
	tcp_lcore_destroy(z.lc);
	return z.digest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcp_stats fast, general, fused;
	uint64_t d1, d2, d3;

	trace = getenv("FUZZ_TRACE") != NULL;
	wire = false;
	d1 = run(data, size, true, &fast);
	d2 = run(data, size, false, &general);
	wire = true;
	d3 = run(data, size, true, &fused);
	wire = false;
	fz_check(general.predicted == 0, "the general run predicted");
	fz_check(fused.predicted == fast.predicted, "the fused path predicted otherwise");
	fast.predicted = 0;
	fused.predicted = 0;
	fz_check(d1 == d2, "header prediction changed what was sent or the flows");
	fz_check(d3 == d2, "the fused path changed what was sent or the flows");
	fz_check(memcmp(&fast, &general, sizeof(fast)) == 0,
	         "header prediction changed the counters");
	fz_check(memcmp(&fused, &general, sizeof(fused)) == 0,
	         "the fused path changed the counters");
	return 0;
}
