/* tcp_impl - the stack's internals shared by its files: the flow, the
 * chunk, the lcore, sequence arithmetic and the functions between files
 *
 * Indices (uint32_t, TCP_NIL for none) link flows and chunks instead of
 * pointers: half the size, and the arrays are allocated once at init.
 */
#ifndef TCP_IMPL_H
#define TCP_IMPL_H

#include <string.h>

#include "tcp.h"

#define TCP_NIL UINT32_MAX

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

#define TCP_CACHE_LINE 64
#define TCP_NH_WORDS   10 /* 32-bit words of an IPv6 4-tuple and its family: the flow hash's key */

/* One chunk of the pool: a header, then data. Chunks chain into the send
 * queue, the receive hold queue and the out-of-order queue of a flow. */
struct tcp_chunk {
	uint32_t next; /* next chunk in its queue or the free list */
	uint32_t seq;  /* out-of-order queue: sequence number of data[0] */
	uint16_t len;  /* bytes of data used */
	uint8_t fin;   /* out-of-order queue: a FIN follows the data */
	uint8_t pad[5];
	uint8_t data[];
};
#define TCP_CHUNK_DATA (TCP_CHUNK_SIZE - (uint32_t)sizeof(struct tcp_chunk))

/* A byte queue in chunks: the send queue (from snd_una) or the hold queue. */
struct tcp_cq {
	uint32_t head, tail; /* chunks, or TCP_NIL */
	uint32_t len;        /* bytes queued */
	uint16_t off;        /* bytes of head already consumed */
	uint16_t pad;
};

enum tcp_fflag {
	TCP_F_IN_HASH = 1 << 0,     /* linked in the flow table */
	TCP_F_ACKNOW = 1 << 1,      /* send an ACK at the next output */
	TCP_F_FIN_QUEUED = 1 << 2,  /* tcp_close(): FIN goes after the queued data */
	TCP_F_FIN_SENT = 1 << 3,    /* FIN is in flight (cleared when rewound) */
	TCP_F_FIN_RCVD = 1 << 4,    /* the peer's FIN is in rcv_nxt */
	TCP_F_FIN_TOLD = 1 << 5,    /* peer_fin() was called */
	TCP_F_APP = 1 << 6,         /* the application knows the flow: closed() is owed */
	TCP_F_PENDING = 1 << 7,     /* on the lcore's pending list */
	TCP_F_RESUME = 1 << 8,      /* tcp_rx_resume() asked: deliver held bytes */
	TCP_F_SNDBLOCKED = 1 << 9,  /* tcp_send() took less than asked: sent() is owed */
	TCP_F_RTT = 1 << 10,        /* rtt_seq is being timed */
	TCP_F_RECOVERY = 1 << 11,   /* fast recovery until snd_una passes recover */
	TCP_F_DEAD = 1 << 12,       /* ended: freed at the end of the outermost call */
	TCP_F_COOKIE = 1 << 13,     /* created from a SYN cookie */
	TCP_F_ACTIVE = 1 << 14,     /* opened by tcp_connect() */
	TCP_F_DELIVERING = 1 << 15, /* inside the data() callback loop */
	TCP_F_TIMER = 1 << 16,      /* a deadline is due: fire from the pending list */
	TCP_F_WS = 1 << 17,         /* both SYNs carry WS: windows are scaled */
	TCP_F_TS = 1 << 18,         /* both SYNs carry timestamps (RFC 7323): every segment does */
	TCP_F_SACK = 1 << 19,       /* both SYNs permit SACK: our ACKs report held ranges, the
	                               peer's drive our loss recovery (tcp_sack.c) */
	TCP_F_KICK = 1 << 20,       /* tcp_rx_kick() asked: data() even with nothing held */
	TCP_F_LEAN = 1 << 21,       /* lean buffers (tcp_set_lean()): refused first when the pool
	                               runs low */
};

/* One flow. 320 bytes at most (checked): with the SMTP session's 256, an
 * idle session stays well under its 1 KiB. Its buffer sizes are not kept:
 * they follow from TCP_F_LEAN and the lcore's conf (tcp_rcv_buf()). */
struct tcp_flow {
	struct tcp_key key;     /* the table key: addresses and ports */
	uint8_t family;         /* enum tcp_family, part of the key */
	uint8_t state;          /* enum tcp_state */
	uint8_t app_id;         /* index in lc->apps */
	uint8_t snd_ws, rcv_ws; /* window shifts, 0 unless both sent WS */
	uint8_t retries;        /* consecutive RTO or probe expiries */
	uint8_t dupacks;        /* duplicate ACKs in a row */
	uint8_t ooo_n;          /* chunks in the out-of-order queue */
	uint8_t why;            /* enum tcp_end, once dead */
	uint8_t sb_n;           /* ranges in sb[] */
	uint16_t mss;           /* send MSS: min(peer's, ours, TCP_CHUNK_DATA) */
	uint32_t flags;         /* enum tcp_fflag; TCP_F_LEAN picks the buffers (tcp_rcv_buf()) */
	uint32_t hash;          /* tcp_key_hash() of the key, kept for unlinking */
	uint32_t idx;           /* own index in lc->flows */
	uint32_t hnext;         /* flow table chain */
	uint32_t wnext, wprev;  /* timer wheel slot list */
	uint32_t lnext, lprev;  /* TIME_WAIT FIFO, or the reap list when dead */
	uint32_t pnext;         /* pending list (output, held data) */
	uint32_t ooo;           /* out-of-order chunks, by sequence */
	struct tcp_lcore *lc;
	void *app;        /* the application's per-flow pointer */
	uint64_t t_tcp;   /* RTO, persist, SYN, FIN_WAIT_2 or TIME_WAIT expiry; 0: none */
	uint64_t t_app;   /* application deadline; 0: none */
	uint64_t t_wheel; /* when the wheel will look at the flow; 0: not in it */
	/* RFC 9293 3.3.1 variables */
	uint32_t iss, irs;
	uint32_t snd_una, snd_nxt, snd_max; /* snd_max: highest sent (snd_nxt rewinds on RTO) */
	uint32_t snd_wnd, snd_wl1, snd_wl2; /* snd_wnd scaled */
	uint32_t max_snd_wnd;               /* RFC 5961 5.2 MAX.SND.WND */
	uint32_t rcv_nxt, rcv_adv;          /* rcv_adv: right edge we advertised */
	uint32_t ts_recent;                 /* RFC 7323 TS.Recent: the TSval we echo */
	uint32_t ts_ack;                    /* RFC 7323 Last.ACK.sent */
	/* congestion control, RFC 5681 / 6582 */
	uint32_t cwnd, ssthresh, recover;
	/* RTT, RFC 6298; ms */
	uint32_t rtt_seq;   /* the timed segment's end */
	uint32_t rtt_ts;    /* (uint32_t)now when it was sent */
	uint32_t srtt_x8;   /* smoothed RTT x 8; 0: no sample yet */
	uint32_t rttvar_x4; /* RTT variation x 4 */
	uint32_t rto;       /* current RTO, backed off */
	/* SACK scoreboard (RFC 2018, RFC 6675; tcp_sack.c) */
	uint32_t sb[TCP_SACK_SB][2]; /* ranges the peer holds above snd_una: sorted, apart */
	uint32_t high_rxt;           /* RFC 6675 HighRxt: the end of what recovery resent */
	struct tcp_cq sq;            /* send queue: bytes from snd_una */
	struct tcp_cq rq;            /* received bytes the app has not taken */
};

struct tcp_listener {
	uint16_t port;
	uint8_t app;
	uint8_t used;
};

struct tcp_appslot {
	struct tcp_app ops;
	void *ctx;
	bool used;
};

/* Everything one lcore's TCP touches. */
struct tcp_lcore {
	struct tcp_conf conf;
	struct tcp_stats st;
	uint64_t now;        /* of the current call */
	uint32_t depth;      /* nesting of tcp_* entry points; work is flushed at 0 */
	uint16_t mss4, mss6; /* our MSS by family */
	uint8_t rcv_ws;      /* the shift we offer, from rcv_buf */
	uint8_t nlisten;
	struct tcp_listener listen[TCP_MAX_LISTEN];
	struct tcp_appslot apps[TCP_MAX_APPS];
	/* flows */
	struct tcp_flow *flows; /* conf.max_flows */
	uint32_t flow_free;     /* free list through hnext */
	uint32_t *bucket;       /* hash heads */
	uint32_t bucket_mask;
	uint32_t tw_head, tw_tail;     /* TIME_WAIT FIFO, oldest first */
	uint32_t pend_head, pend_tail; /* flows with work for the end of the call */
	uint32_t reap;                 /* dead flows to free */
	/* chunks */
	uint8_t *chunk_mem;
	uint32_t chunk_free; /* free list */
	uint32_t chunks_free_n;
	/* timer wheel */
	uint32_t *wheel;     /* TCP_WHEEL_SLOTS heads */
	uint64_t wheel_tick; /* next tick to run */
	/* RFC 5961 challenge ACK budget */
	uint64_t chal_sec;
	uint32_t chal_n;
	/* SYN cookies */
	uint64_t cookie_last_ms; /* last cookie sent: ACKs are checked as cookies up to 2 periods
	                            after */
	uint64_t syn_pressed_ms; /* last SYN that found the backlog over half full (or got a
	                            cookie): half-open flows get fewer retransmissions */
	uint32_t port_hint;      /* default port chooser's walk */
	uint64_t sipkey[2];
	uint64_t tabkey[2];           /* the flow table hash's key, derived from sipkey */
	uint32_t nhkey[TCP_NH_WORDS]; /* the flow table hash: NH's key words, from tabkey */
	uint64_t mskey;               /* ... and its odd multiplier (tcp_cookie.c) */
} __attribute__((aligned(TCP_CACHE_LINE)));

/* tcp_rcv_buf - the flow's window, held bytes included: lean or full */
static inline uint32_t
tcp_rcv_buf(const struct tcp_flow *f)
{
	return (f->flags & TCP_F_LEAN) ? f->lc->conf.lean_rcv_buf : f->lc->conf.rcv_buf;
}

/* tcp_snd_buf - the flow's limit of queued send bytes: lean or full */
static inline uint32_t
tcp_snd_buf(const struct tcp_flow *f)
{
	return (f->flags & TCP_F_LEAN) ? f->lc->conf.lean_snd_buf : f->lc->conf.snd_buf;
}

/* tcp_hash4 - the flow table's hash (tcp_cookie.c) of an IPv4 4-tuple,
 * addresses as they are on the wire: NH over two pairs (remote address
 * and the ports, local address and the family), then multiply-shift.
 * Inline: the fused receive path takes it from the raw header. */
static inline uint32_t
tcp_hash4(const struct tcp_lcore *lc, uint32_t laddr_be, uint32_t raddr_be, uint16_t lport,
          uint16_t rport)
{
	const uint32_t *k = lc->nhkey;
	uint32_t ports = (uint32_t)rport << 16 | lport;
	uint64_t h = (uint64_t)(uint32_t)(raddr_be + k[0]) * (uint32_t)(ports + k[1]) +
	             (uint64_t)(uint32_t)(laddr_be + k[2]) * (uint32_t)(TCP_V4 + k[3]);

	return (uint32_t)((h * lc->mskey) >> 32);
}

/* tcp_table.c */
struct tcp_flow *tcp_flow_alloc(struct tcp_lcore *lc);
void tcp_flow_free(struct tcp_lcore *lc, struct tcp_flow *f);
/* tcp_flow_lookup - the flow of a 4-tuple whose tcp_key_hash() is hash,
 * or NULL; the caller keeps hash for tcp_flow_hash_add() on a miss */
struct tcp_flow *tcp_flow_lookup(struct tcp_lcore *lc, uint32_t hash, uint8_t family,
                                 const struct tcp_key *k);
/* tcp_flow_lookup_seg - the same for a received segment's 4-tuple (local:
 * its destination), hash being its tcp_seg_hash() */
struct tcp_flow *tcp_flow_lookup_seg(struct tcp_lcore *lc, uint32_t hash,
                                     const struct tcp_seg *seg);

/* tcp_bucket_of - the chain of a hash: its top bits, where multiply-shift
 * puts the mixing (tcp_cookie.c); the table size is a power of two */
static inline uint32_t *
tcp_bucket_of(struct tcp_lcore *lc, uint32_t hash)
{
	return &lc->bucket[((uint64_t)hash * ((uint64_t)lc->bucket_mask + 1)) >> 32];
}

/* tcp_flow_lookup4 - the same for an IPv4 4-tuple as on the wire
 * (addresses in network order, ports in host order), hash its
 * tcp_hash4(). An IPv4 address is zero past its 4 bytes (tcp_ip_v4()), so
 * one word each. Inline: every received IPv4 segment looks its flow up. */
static inline struct tcp_flow *
tcp_flow_lookup4(struct tcp_lcore *lc, uint32_t hash, uint32_t laddr_be, uint32_t raddr_be,
                 uint16_t lport, uint16_t rport)
{
	uint32_t i = *tcp_bucket_of(lc, hash);

	while (i != TCP_NIL) {
		struct tcp_flow *f = &lc->flows[i];
		uint32_t la, ra;

		memcpy(&la, f->key.laddr.b, 4);
		memcpy(&ra, f->key.raddr.b, 4);
		if (f->hash == hash && f->family == TCP_V4 && f->key.lport == lport &&
		    f->key.rport == rport && la == laddr_be && ra == raddr_be)
			return f;
		i = f->hnext;
	}
	return NULL;
}
/* tcp_flow_hash_add - link a flow whose key is set; hash: its tcp_key_hash() */
void tcp_flow_hash_add(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t hash);
/* tcp_set_state - change state, keeping the per-state gauges (inline:
 * five times a session, with a constant state) */
static inline void
tcp_set_state(struct tcp_flow *f, enum tcp_state s)
{
	struct tcp_stats *st = &f->lc->st;

	st->state_n[f->state]--;
	st->state_n[s]++;
	if (f->state == TCP_S_SYN_RCVD)
		st->half_open--;
	if (s == TCP_S_SYN_RCVD)
		st->half_open++;
	f->state = (uint8_t)s;
}
void tcp_tw_enter(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_tw_unlink(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_tw_restart(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_tw_expire(struct tcp_lcore *lc, uint64_t now);

/* tcp_chunk.c */
uint32_t tcp_chunk_get(struct tcp_lcore *lc);
void tcp_chunk_put(struct tcp_lcore *lc, uint32_t c);
void tcp_cq_unlink_tail(struct tcp_lcore *lc, struct tcp_cq *q);

/* tcp_chunk - index to pointer (inline: every queue walk takes it) */
static inline struct tcp_chunk *
tcp_chunk(struct tcp_lcore *lc, uint32_t c)
{
	return (struct tcp_chunk *)(lc->chunk_mem + (size_t)c * TCP_CHUNK_SIZE);
}
size_t tcp_cq_append(struct tcp_lcore *lc, struct tcp_cq *q, const void *buf, size_t len);
void tcp_cq_drop(struct tcp_lcore *lc, struct tcp_cq *q, size_t n);
void tcp_cq_clear(struct tcp_lcore *lc, struct tcp_cq *q);
unsigned tcp_cq_peek(struct tcp_lcore *lc, const struct tcp_cq *q, size_t at, size_t n,
                     const void *ptr[2], uint32_t len[2]);

/* tcp_chunk_take - tcp_chunk_get(), inline: a reservation takes a chunk
 * for nearly every reply, and the call made tcp_send_reserve() a non-leaf
 * function with the frame that goes with it */
static inline uint32_t
tcp_chunk_take(struct tcp_lcore *lc)
{
	uint32_t c = lc->chunk_free;
	struct tcp_chunk *ch;

	if (c == TCP_NIL)
		return TCP_NIL;
	ch = tcp_chunk(lc, c);
	lc->chunk_free = ch->next;
	lc->chunks_free_n--;
	lc->st.chunks_used++;
	if (lc->st.chunks_used > lc->st.chunks_hwm)
		lc->st.chunks_hwm = lc->st.chunks_used;
	ch->next = TCP_NIL;
	ch->seq = 0;
	ch->len = 0;
	ch->fin = 0;
	return c;
}

/* tcp_cq_tail_open - the queue's tail chunk with room for at least a
 * byte: the tail, or a fresh chunk linked after it when the queue is empty
 * or its tail is full; NULL when the pool is dry */
static inline struct tcp_chunk *
tcp_cq_tail_open(struct tcp_lcore *lc, struct tcp_cq *q)
{
	struct tcp_chunk *t = q->tail != TCP_NIL ? tcp_chunk(lc, q->tail) : NULL;
	uint32_t c;

	if (t != NULL && t->len < TCP_CHUNK_DATA)
		return t;
	if ((c = tcp_chunk_take(lc)) == TCP_NIL)
		return NULL;
	if (t != NULL)
		t->next = c;
	else
		q->head = c;
	q->tail = c;
	return tcp_chunk(lc, c);
}

/* tcp_cq_reserve - at least min contiguous free bytes at the tail, where
 * the caller writes before tcp_cq_commit(): the tail chunk's room, or a
 * fresh chunk's when the queue is empty or its tail is full (linked now,
 * empty); *room: how many (at most max). NULL when the tail has some room
 * but less than min (a chunk with room in the middle of a queue would let a
 * segment span three chunks), min exceeds a chunk, or the pool is dry.
 * Inline: once per reply, with tcp_cq_commit(), in place of a copy. */
static inline uint8_t *
tcp_cq_reserve(struct tcp_lcore *lc, struct tcp_cq *q, size_t min, size_t max, size_t *room)
{
	struct tcp_chunk *t;
	size_t n;

	*room = 0;
	if (min > TCP_CHUNK_DATA || min > max || (t = tcp_cq_tail_open(lc, q)) == NULL)
		return NULL;
	n = TCP_CHUNK_DATA - t->len;
	if (n < min)
		return NULL;
	*room = n < max ? n : max;
	return t->data + t->len;
}

/* tcp_cq_commit - n bytes written at the reservation join the queue; how
 * many (cut to the tail chunk's room: more cannot have been reserved). A
 * fresh chunk left empty goes back: no queue holds an empty chunk. */
static inline size_t
tcp_cq_commit(struct tcp_lcore *lc, struct tcp_cq *q, size_t n)
{
	struct tcp_chunk *t;

	if (q->tail == TCP_NIL)
		return 0;
	t = tcp_chunk(lc, q->tail);
	if (n > TCP_CHUNK_DATA - t->len)
		n = TCP_CHUNK_DATA - t->len;
	if (n == 0) {
		if (t->len == 0)
			tcp_cq_unlink_tail(lc, q);
		return 0;
	}
	t->len = (uint16_t)(t->len + n);
	q->len += (uint32_t)n;
	return n;
}

/* tcp_cq_ack - tcp_cq_drop() of n acknowledged bytes, its common case
 * inline: the queue's only chunk all taken (an SMTP reply, acked by the
 * next command), the chunk straight back on the free list. A queue whose
 * bytes are all in one chunk has head == tail; an empty reservation (len
 * 0) is left to tcp_cq_drop(), which keeps it. */
static inline void
tcp_cq_ack(struct tcp_lcore *lc, struct tcp_cq *q, size_t n)
{
	uint32_t c = q->head;
	struct tcp_chunk *ch;

	if (c != q->tail || q->len == 0 || n < q->len) {
		tcp_cq_drop(lc, q, n);
		return;
	}
	ch = tcp_chunk(lc, c);
	ch->next = lc->chunk_free;
	lc->chunk_free = c;
	lc->chunks_free_n++;
	lc->st.chunks_used--;
	q->head = q->tail = TCP_NIL;
	q->len = 0;
	q->off = 0;
}
int tcp_ooo_insert(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t seq, const void *data,
                   uint32_t len, bool fin);
void tcp_ooo_clear(struct tcp_lcore *lc, struct tcp_flow *f);

/* tcp_pool_refuses - whether new data for f is refused for the pool's sake
 * (see tcp_chunk.c's header). Inline: every segment with text asks. */
static inline bool
tcp_pool_refuses(const struct tcp_lcore *lc, const struct tcp_flow *f)
{
	uint32_t free_n = lc->chunks_free_n;

	if (!(f->flags & TCP_F_LEAN))
		return false;
	if (free_n <= lc->conf.chunk_reserve)
		return true;
	return free_n < lc->conf.chunk_low &&
	       (f->sq.head != TCP_NIL || f->rq.head != TCP_NIL || f->ooo != TCP_NIL);
}

/* tcp_timer.c */
void tcp_timer_sched(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_timer_cancel(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_timer_fire(struct tcp_lcore *lc, struct tcp_flow *f); /* in tcp_output.c */

/* tcp_timer_covered - whether tcp_timer_sched() would leave f as it is:
 * no deadline and not in the wheel, or in the wheel at or before the
 * earliest deadline (an entry that fires early re-checks and goes back in:
 * a later deadline, as every ACK's RTO restart, costs no relinking) */
static inline bool
tcp_timer_covered(const struct tcp_flow *f)
{
	uint64_t at = f->t_tcp;

	if (f->t_app != 0 && (at == 0 || f->t_app < at))
		at = f->t_app;
	return at == 0 ? f->t_wheel == 0 : f->t_wheel != 0 && f->t_wheel <= at;
}

/* tcp_timer_rearm - set t_tcp (0: none); an unchanged deadline touches
 * nothing. Inline: t_tcp moves two or three times a segment pair (RTO
 * started, stopped, restarted), and the wheel only when the new deadline
 * is earlier than the armed slot */
static inline void
tcp_timer_rearm(struct tcp_lcore *lc, struct tcp_flow *f, uint64_t at)
{
	if (f->t_tcp == at)
		return;
	f->t_tcp = at;
	if (!tcp_timer_covered(f))
		tcp_timer_sched(lc, f);
}

/* tcp_rtt_sample - RFC 6298 2.2 and 2.3, in ms with G = 1 ms. Inline:
 * about 30 instructions, taken on nearly every ACK of new data (six a
 * session), for which a call's frame and reloads were a sixth more */
static inline void
tcp_rtt_sample(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t rtt)
{
	uint32_t rto;

	if (rtt == 0)
		rtt = 1;
	if (f->srtt_x8 == 0) {
		f->srtt_x8 = rtt << 3;
		f->rttvar_x4 = rtt << 1; /* RTTVAR = R/2 */
	} else {
		uint32_t srtt = f->srtt_x8 >> 3;
		uint32_t d = srtt > rtt ? srtt - rtt : rtt - srtt;

		/* RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT = 7/8 SRTT + 1/8 R' */
		f->rttvar_x4 = f->rttvar_x4 - (f->rttvar_x4 >> 2) + d;
		f->srtt_x8 = f->srtt_x8 - (f->srtt_x8 >> 3) + rtt;
	}
	rto = (f->srtt_x8 >> 3) + (f->rttvar_x4 > 4 ? f->rttvar_x4 : 4); /* max(G, 4 RTTVAR) */
	if (rto < lc->conf.rto_min_ms)
		rto = lc->conf.rto_min_ms;
	if (rto > lc->conf.rto_max_ms)
		rto = lc->conf.rto_max_ms;
	f->rto = rto;
}

/* tcp_cookie.c */
uint64_t tcp_siphash(const uint64_t key[2], const void *buf, size_t len);
uint32_t tcp_isn(struct tcp_lcore *lc, uint8_t family, const struct tcp_key *k);
uint32_t tcp_cookie_make(struct tcp_lcore *lc, const struct tcp_seg *seg, uint16_t *mss);
int tcp_cookie_check(struct tcp_lcore *lc, const struct tcp_seg *seg, uint16_t *mss);
uint32_t tcp_key_hash(struct tcp_lcore *lc, uint8_t family, const struct tcp_key *k);
/* tcp_seg_hash - tcp_key_hash() of a received segment's 4-tuple (local: its destination) */
uint32_t tcp_seg_hash(struct tcp_lcore *lc, const struct tcp_seg *seg);
void tcp_hash_key_init(struct tcp_lcore *lc);
extern const uint16_t tcp_cookie_mss[TCP_COOKIE_MSS_N];

/* tcp_output.c */
void tcp_output(struct tcp_lcore *lc, struct tcp_flow *f);
bool tcp_output_one(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_send_synack(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_send_syn(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_send_ack(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_send_rst_flow(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_send_reply(struct tcp_lcore *lc, const struct tcp_seg *seg, uint8_t flags, uint32_t seq,
                    uint32_t ack, uint16_t wnd, const struct tcp_opts *opt);
void tcp_challenge_ack(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_retransmit_one(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_sack_resend(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t seq, uint32_t len);
void tcp_limited_transmit(struct tcp_lcore *lc, struct tcp_flow *f);
uint32_t tcp_rcv_window(struct tcp_flow *f);
uint32_t tcp_passive_rcv_buf(const struct tcp_conf *c);

/* tcp_sack.c */
void tcp_sack_clear(struct tcp_flow *f);
void tcp_sack_advance(struct tcp_flow *f);
bool tcp_sack_update(struct tcp_flow *f, const struct tcp_opts *o);
uint32_t tcp_sack_lost_end(const struct tcp_flow *f);
uint32_t tcp_sack_pipe(const struct tcp_flow *f);
bool tcp_sack_first_hole(const struct tcp_flow *f, uint32_t *seq, uint32_t *len);
bool tcp_sack_next_lost(const struct tcp_flow *f, uint32_t *seq, uint32_t *len);
bool tcp_sack_next_any(const struct tcp_flow *f, uint32_t *seq, uint32_t *len);
void tcp_sack_dupack(struct tcp_lcore *lc, struct tcp_flow *f, bool dup);
void tcp_sack_recovery_try(struct tcp_lcore *lc, struct tcp_flow *f);

/* tcp_lcore.c; the small ones inline, as they run several times per segment */
void tcp_leave(struct tcp_lcore *lc);
void tcp_unpend(struct tcp_lcore *lc, struct tcp_flow *f);
void tcp_end(struct tcp_lcore *lc, struct tcp_flow *f, enum tcp_end why);
void tcp_deliver(struct tcp_lcore *lc, struct tcp_flow *f);

/* tcp_enter - start of an entry point */
static inline void
tcp_enter(struct tcp_lcore *lc, uint64_t now)
{
	if (lc->depth++ == 0 && now > lc->now)
		lc->now = now;
	if (lc->wheel_tick == 0) /* the wheel starts at the first time we are told */
		lc->wheel_tick = lc->now / TCP_WHEEL_TICK;
}

/* tcp_pend - queue f for the end-of-call work */
static inline void
tcp_pend(struct tcp_lcore *lc, struct tcp_flow *f)
{
	if (f->flags & TCP_F_PENDING)
		return;
	f->flags |= TCP_F_PENDING;
	f->pnext = TCP_NIL;
	if (lc->pend_tail != TCP_NIL)
		lc->flows[lc->pend_tail].pnext = f->idx;
	else
		lc->pend_head = f->idx;
	lc->pend_tail = f->idx;
}

/* tcp_app_of - the flow's application, or NULL */
static inline const struct tcp_app *
tcp_app_of(struct tcp_lcore *lc, const struct tcp_flow *f)
{
	return lc->apps[f->app_id].used ? &lc->apps[f->app_id].ops : NULL;
}

/* tcp_ctx_of - its application's context */
static inline void *
tcp_ctx_of(struct tcp_lcore *lc, const struct tcp_flow *f)
{
	return lc->apps[f->app_id].ctx;
}

#endif
