/* tcp_table - the per-lcore flow table: a fixed array of flows, a free
 * list, hash chains keyed by a secret hash of the 4-tuple (tcp_cookie.c),
 * and the bounded TIME_WAIT FIFO, which also times TIME_WAIT (its flows
 * are in expiry order: tcp_tw_expire())
 *
 * Why a keyed hash: the peer picks its address and port, so an unkeyed
 * hash would let it pile flows into one chain. Why a FIFO for TIME_WAIT:
 * at hundreds of thousands of sessions a second, a full 2 MSL of them would
 * not fit; past conf.tw_max (or when the table is full) the oldest is
 * recycled, which only loses protection against very old duplicates for
 * that 4-tuple (the peer's ephemeral port would have to come back first).
 */
#include <string.h>

#include "tcp_impl.h"

/* key_eq - same family, addresses and ports */
static inline bool
key_eq(const struct tcp_flow *f, uint8_t family, const struct tcp_key *k)
{
	return f->family == family && f->key.lport == k->lport && f->key.rport == k->rport &&
	       memcmp(&f->key.raddr, &k->raddr, sizeof(k->raddr)) == 0 &&
	       memcmp(&f->key.laddr, &k->laddr, sizeof(k->laddr)) == 0;
}

/* key_eq_seg - the flow of a received segment: its destination is our
 * side. An IPv4 address is zero past its 4 bytes in both (tcp_ip_v4()), so
 * IPv4 compares one word each. */
static inline bool
key_eq_seg(const struct tcp_flow *f, const struct tcp_seg *seg)
{
	if (f->family != seg->family || f->key.lport != seg->dport || f->key.rport != seg->sport)
		return false;
	if (seg->family == TCP_V4)
		return memcmp(f->key.raddr.b, seg->src.b, 4) == 0 &&
		       memcmp(f->key.laddr.b, seg->dst.b, 4) == 0;
	return memcmp(&f->key.raddr, &seg->src, sizeof(seg->src)) == 0 &&
	       memcmp(&f->key.laddr, &seg->dst, sizeof(seg->dst)) == 0;
}

/* tcp_flow_alloc - a zeroed flow in CLOSED, recycling the oldest TIME_WAIT flow if need be */
struct tcp_flow *
tcp_flow_alloc(struct tcp_lcore *lc)
{
	struct tcp_flow *f;
	uint32_t i = lc->flow_free;

	if (i == TCP_NIL) {
		if (lc->tw_head == TCP_NIL)
			return NULL;
		tcp_flow_free(lc, &lc->flows[lc->tw_head]);
		lc->st.tw_recycled++;
		i = lc->flow_free;
	}
	f = &lc->flows[i];
	lc->flow_free = f->hnext;
	memset(f, 0, sizeof(*f));
	f->idx = i;
	f->lc = lc;
	f->hnext = f->wnext = f->wprev = f->lnext = f->lprev = f->pnext = TCP_NIL;
	f->ooo = TCP_NIL;
	f->sq.head = f->sq.tail = f->rq.head = f->rq.tail = TCP_NIL;
	f->state = TCP_S_CLOSED;
	lc->st.state_n[TCP_S_CLOSED]++;
	lc->st.flows_active++;
	return f;
}

/* hash_unlink - take f off its chain */
static void
hash_unlink(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint32_t *p = tcp_bucket_of(lc, f->hash);

	while (*p != TCP_NIL) {
		if (*p == f->idx) {
			*p = f->hnext;
			break;
		}
		p = &lc->flows[*p].hnext;
	}
	f->flags &= ~(uint32_t)TCP_F_IN_HASH;
}

/* tcp_flow_free - give everything back: chunks, timer, chain, lists */
void
tcp_flow_free(struct tcp_lcore *lc, struct tcp_flow *f)
{
	if (f->flags & TCP_F_IN_HASH)
		hash_unlink(lc, f);
	if (f->state == TCP_S_TIME_WAIT)
		tcp_tw_unlink(lc, f);
	if (f->flags & TCP_F_PENDING)
		tcp_unpend(lc, f);
	tcp_timer_cancel(lc, f);
	tcp_cq_clear(lc, &f->sq);
	tcp_cq_clear(lc, &f->rq);
	tcp_ooo_clear(lc, f);
	tcp_set_state(f, TCP_S_CLOSED);
	lc->st.state_n[TCP_S_CLOSED]--;
	lc->st.flows_active--;
	f->state = TCP_S_COUNT; /* poison: a freed flow is in no state */
	f->hnext = lc->flow_free;
	lc->flow_free = f->idx;
}

/* tcp_flow_lookup - walk the chain of hash; a flow's kept hash is
 * compared first, so a chain's other flows cost one load each */
struct tcp_flow *
tcp_flow_lookup(struct tcp_lcore *lc, uint32_t hash, uint8_t family, const struct tcp_key *k)
{
	uint32_t i = *tcp_bucket_of(lc, hash);

	while (i != TCP_NIL) {
		struct tcp_flow *f = &lc->flows[i];

		if (f->hash == hash && key_eq(f, family, k))
			return f;
		i = f->hnext;
	}
	return NULL;
}

/* tcp_flow_lookup_seg - the same walk for a received segment, with no key built */
struct tcp_flow *
tcp_flow_lookup_seg(struct tcp_lcore *lc, uint32_t hash, const struct tcp_seg *seg)
{
	uint32_t i = *tcp_bucket_of(lc, hash);

	while (i != TCP_NIL) {
		struct tcp_flow *f = &lc->flows[i];

		if (f->hash == hash && key_eq_seg(f, seg))
			return f;
		i = f->hnext;
	}
	return NULL;
}

/* tcp_flow_hash_add - link a flow whose key is set, under the hash its
 * lookup computed (one hash per 4-tuple and segment) */
void
tcp_flow_hash_add(struct tcp_lcore *lc, struct tcp_flow *f, uint32_t hash)
{
	uint32_t *b = tcp_bucket_of(lc, hash);

	f->hash = hash;
	f->hnext = *b;
	*b = f->idx;
	f->flags |= TCP_F_IN_HASH;
}

/* tw_append - at the FIFO's tail, its 2 MSL from now: every flow gets
 * the same tw_ms and the clock never goes back, so the FIFO stays in the
 * order of the flows' expiries (tcp_tw_expire() looks at its head only) */
static void
tw_append(struct tcp_lcore *lc, struct tcp_flow *f)
{
	f->t_tcp = lc->now + lc->conf.tw_ms;
	f->lprev = lc->tw_tail;
	f->lnext = TCP_NIL;
	if (lc->tw_tail != TCP_NIL)
		lc->flows[lc->tw_tail].lnext = f->idx;
	else
		lc->tw_head = f->idx;
	lc->tw_tail = f->idx;
	lc->st.flows_tw++;
}

/* tcp_tw_enter - append to the FIFO with its 2 MSL deadline, recycling
 * the oldest beyond tw_max; with tw_max 0, f is freed at once. The flow
 * leaves the timer wheel: the FIFO times TIME_WAIT (tcp_tw_expire()), so
 * the entry an earlier RTO left in the wheel does not fire for nothing,
 * and a recycled flow has no wheel entry to unlink. */
void
tcp_tw_enter(struct tcp_lcore *lc, struct tcp_flow *f)
{
	while (lc->st.flows_tw >= lc->conf.tw_max && lc->tw_head != TCP_NIL) {
		tcp_flow_free(lc, &lc->flows[lc->tw_head]);
		lc->st.tw_recycled++;
	}
	tcp_set_state(f, TCP_S_TIME_WAIT);
	tcp_timer_cancel(lc, f);
	tw_append(lc, f);
	if (lc->conf.tw_max == 0) /* no TIME_WAIT at all */
		tcp_flow_free(lc, f);
}

/* tcp_tw_restart - 2 MSL again from now (the peer's FIN came again: it
 * did not get our ACK); to the FIFO's tail, which keeps it in expiry order */
void
tcp_tw_restart(struct tcp_lcore *lc, struct tcp_flow *f)
{
	tcp_tw_unlink(lc, f);
	tw_append(lc, f);
}

/* tcp_tw_expire - free the TIME_WAIT flows whose 2 MSL is over: the
 * FIFO's head while it is due (tcp_timers_run(), once per tick) */
void
tcp_tw_expire(struct tcp_lcore *lc, uint64_t now)
{
	while (lc->tw_head != TCP_NIL && lc->flows[lc->tw_head].t_tcp <= now)
		tcp_flow_free(lc, &lc->flows[lc->tw_head]);
}

/* tcp_tw_unlink - off the FIFO */
void
tcp_tw_unlink(struct tcp_lcore *lc, struct tcp_flow *f)
{
	if (f->lprev != TCP_NIL)
		lc->flows[f->lprev].lnext = f->lnext;
	else
		lc->tw_head = f->lnext;
	if (f->lnext != TCP_NIL)
		lc->flows[f->lnext].lprev = f->lprev;
	else
		lc->tw_tail = f->lprev;
	f->lnext = f->lprev = TCP_NIL;
	lc->st.flows_tw--;
}
