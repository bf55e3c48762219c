/* climit - per-client connection limits shared by every lcore (see climit.h)
 *
 * Why a table of our own and not rte_hash: a count must be read, checked
 * against the limit and written back as one step, by whichever lcore the
 * client's connection lands on (the flow owner hashes the remote port too,
 * so one client's sessions spread over all lcores). With the key and the
 * counts in one 16-byte slot, a single cmpxchg16b does exactly that; rte_hash
 * would still need atomics or a lock around the value.
 *
 * Lookup: linear probing over CLIMIT_PROBE slots from the key's home. Slots
 * are never emptied; a slot whose client holds no session and whose rate
 * window has ended is stale and is taken over in place (one CAS from the
 * stale {key, state} to the new one), so the table needs no sweeping and an
 * idle client costs nothing once its window is over.
 *
 * Rate windows are fixed, as anvil's: the first connection of a client opens
 * a window of unit_s seconds; connections are counted until it ends, and
 * the next one opens a new window. A burst may thus reach twice the limit
 * across a window boundary, never more.
 *
 * Full table (no key and no stale slot within CLIMIT_PROBE): fail open, the
 * client is let in uncounted and the caller counts it. Failing closed would
 * let whoever holds many addresses (a few /48s of IPv6) fill the table and
 * lock everyone out; failing open only lets those clients past this check,
 * while the flow table and its SYN cookies still bound what they can hold.
 *
 * Untrusted input: the client address, which picks the slot; the hash is
 * keyed with a secret so that it cannot be aimed at one probe window.
 */
#include <string.h>

#define ALLOW_EXPERIMENTAL_API /* rte_atomic128_cmp_exchange: header-only inline asm */
#include <rte_atomic.h>
#include <xxhash.h>

#include "climit.h"

#define CONNS(s)       ((uint32_t)((s) >> 48))
#define COUNT(s)       ((uint32_t)((s) >> 32) & 0xffff)
#define ENDS(s)        ((uint32_t)(s))
#define STATE(c, n, e) ((uint64_t)(c) << 48 | (uint64_t)(n) << 32 | (uint64_t)(e))
#define COUNT_MAX      0xffff

uint32_t
climit_slots(uint32_t clients)
{
	uint32_t n = CLIMIT_MIN_SLOTS;

	while (n < clients && n < CLIMIT_MAX_SLOTS)
		n <<= 1;
	return n;
}

void
climit_init(struct climit_table *t, void *mem, uint32_t slots, const uint8_t *secret)
{
	t->slot = mem;
	t->mask = slots - 1;
	memcpy(t->secret, secret, sizeof(t->secret));
}

uint64_t
climit_key(const struct climit_table *t, const struct cidr *client, uint64_t svc)
{
	uint8_t in[CLIMIT_ID_SIZE + 8];
	uint64_t k;

	climit_client_id(client, in);
	memcpy(in + CLIMIT_ID_SIZE, &svc, 8);
	k = XXH3_64bits_withSecret(in, sizeof(in), t->secret, sizeof(t->secret));
	return k != 0 ? k : 1;
}

/* load - a slot as it is now; the two halves may come from different
 * moments, which only makes the following CAS fail and retry */
static inline struct climit_slot
load(const struct climit_slot *s)
{
	return (struct climit_slot){.key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE),
	                            .state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE)};
}

/* cas - replace *s by want if it still holds seen */
static inline bool
cas(struct climit_slot *s, struct climit_slot seen, struct climit_slot want)
{
	rte_int128_t exp = {.val = {seen.key, seen.state}};
	rte_int128_t src = {.val = {want.key, want.state}};

	return rte_atomic128_cmp_exchange((rte_int128_t *)s, &exp, &src, 0, __ATOMIC_ACQ_REL,
	                                  __ATOMIC_RELAXED) != 0;
}

/* stale - a slot another client may take: never used, or no session held and its window over */
static inline bool
stale(struct climit_slot s, uint32_t now_s)
{
	return s.key == 0 || (CONNS(s.state) == 0 && (int32_t)(now_s - ENDS(s.state)) >= 0);
}

/* decide - the next state of a client's slot for one more connection, and its verdict */
static enum climit_verdict
decide(uint64_t old, const struct climit_rule *r, uint32_t now_s, uint64_t *next, uint32_t *n)
{
	uint32_t conns = CONNS(old), count = COUNT(old), ends = ENDS(old);

	if ((int32_t)(now_s - ends) >= 0) { /* the window is over: a new one from now */
		count = 0;
		ends = now_s + r->unit_s;
	}
	if (count < COUNT_MAX)
		count++; /* every attempt counts toward the rate, refused or not (as anvil) */
	if (r->conn_limit > 0 && conns + 1 > r->conn_limit) {
		*next = STATE(conns, count, ends);
		*n = conns + 1;
		return CLIMIT_CONN;
	}
	*n = count;
	if (r->rate_limit > 0 && count > r->rate_limit) {
		*next = STATE(conns, count, ends);
		return CLIMIT_RATE;
	}
	if (r->conn_limit > 0)
		conns++; /* conn_limit <= 65535: no overflow */
	*next = STATE(conns, count, ends);
	return CLIMIT_OK;
}

enum climit_verdict
climit_acquire(struct climit_table *t, uint64_t key, const struct climit_rule *r, uint32_t now_s,
               struct climit_hold *h, uint32_t *n)
{
	h->key = 0;
	*n = 0;
	for (unsigned retry = 0; retry < CLIMIT_MAX_RETRIES; retry++) {
		uint32_t home = (uint32_t)key, cand = UINT32_MAX, idx = 0;
		struct climit_slot cur = {0}, seen = {0};
		bool found = false;

		for (unsigned i = 0; i < CLIMIT_PROBE && !found; i++) {
			idx = (home + i) & t->mask;
			cur = load(&t->slot[idx]);
			if (cur.key == key)
				found = true;
			else if (cand == UINT32_MAX && stale(cur, now_s)) {
				cand = idx;
				seen = cur;
			}
		}
		if (!found && cand == UINT32_MAX)
			return CLIMIT_FULL;
		if (!found) { /* a fresh slot: nothing open, no window yet */
			idx = cand;
			cur = seen;
			cur.state = STATE(0, 0, now_s);
		}
		uint64_t next;
		enum climit_verdict v = decide(cur.state, r, now_s, &next, n);

		if (!cas(&t->slot[idx], found ? cur : seen, (struct climit_slot){key, next}))
			continue; /* another lcore changed the slot: look again */
		if (v == CLIMIT_OK && r->conn_limit > 0) {
			h->key = key;
			h->slot = idx;
		}
		return v;
	}
	return CLIMIT_FULL;
}

void
climit_release(struct climit_table *t, struct climit_hold *h)
{
	struct climit_slot *s;

	if (h->key == 0)
		return;
	s = &t->slot[h->slot & t->mask];
	for (;;) {
		struct climit_slot cur = load(s);

		/* a slot with a session held is never taken over: the key is ours */
		if (cur.key != h->key || CONNS(cur.state) == 0)
			break; /* cannot happen; never go below zero */
		if (cas(s, cur,
		        (struct climit_slot){cur.key, STATE(CONNS(cur.state) - 1, COUNT(cur.state),
		                                            ENDS(cur.state))}))
			break;
	}
	h->key = 0;
}

uint32_t
climit_sessions(const struct climit_table *t, uint64_t key)
{
	for (unsigned i = 0; i < CLIMIT_PROBE; i++) {
		struct climit_slot cur = load(&t->slot[((uint32_t)key + i) & t->mask]);

		if (cur.key == key)
			return CONNS(cur.state);
	}
	return 0;
}
