/* auth - the lcore's side of AUTH checks: slots, the request ring, answers (see auth.h)
 *
 * The engine's check hook runs inside smtp_input() for the flow in
 * lc->sess.cur: it takes a free slot, copies the credentials into a
 * request on the shared ring (then wipes its own copy) and returns; the
 * session waits in SMTP_S_AUTH_WAIT, its TCP input held back. auth_poll()
 * takes the answers off the lcore's ring and gives each to its session if
 * the slot still holds it (same generation, not cancelled). A session that
 * ends first cancels: its slot stays taken, with no session, until the
 * answer (or the expiry) frees it, so that the slots bound what is really
 * in flight.
 */
#include <stdio.h>
#include <string.h>

#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "auth.h"
#include "lcore.h"
#include "sess.h"

_Static_assert(sizeof(struct auth_req) % 4 == 0, "ring elements are multiples of 4 bytes");
_Static_assert(sizeof(struct auth_ans) % 4 == 0, "ring elements are multiples of 4 bytes");
_Static_assert(AUTH_ANS_RING > AUTH_SLOTS, "an answer always finds room");
_Static_assert(AUTH_SLOTS <= UINT16_MAX, "slot numbers fit a request");

struct rte_ring *auth_requests;

/* wipe - forget a secret; the compiler may not drop this store */
static void
wipe(void *p, size_t len)
{
	memset(p, 0, len);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* free_slot - a slot not in use, or NULL */
static struct auth_slot *
free_slot(struct auth_lcore *al)
{
	for (unsigned i = 0; i < AUTH_SLOTS; i++)
		if (!al->slot[i].used)
			return &al->slot[i];
	return NULL;
}

/* request_of - the request for the session of flow f */
static void
request_of(struct auth_req *rq, const struct lcore_conf *lc, const struct tcp_flow *f,
           const struct smtp_session *ss, enum smtp_mech mech)
{
	const struct tcp_key *k = tcp_flow_key(f);

	rq->worker = lc->queue;
	rq->asked_ms = lc->now;
	rq->family = tcp_flow_family(f) == TCP_V4 ? 4 : 6;
	rq->mech = (uint8_t)mech;
	rq->tls = (ss->flags & SMTP_F_TLS) != 0;
	rq->lport = k->lport;
	rq->rport = k->rport;
	memcpy(rq->client, k->raddr.b, AUTH_ADDR_SIZE);
	memcpy(rq->local, k->laddr.b, AUTH_ADDR_SIZE);
}

/* hook_check - the engine has whole credentials: queue them for the auth thread */
static int
hook_check(void *arg, struct smtp_session *ss, enum smtp_mech mech, const char *cred, size_t len)
{
	struct lcore_conf *lc = arg;
	struct auth_lcore *al = &lc->auth;
	struct auth_slot *sl = free_slot(al);
	struct auth_req rq = {0};
	int rc;

	if (sl == NULL || len > AUTH_CRED_MAX) {
		al->stats.busy++;
		return -1;
	}
	request_of(&rq, lc, lc->sess.cur, ss, mech);
	rq.slot = (uint16_t)(sl - al->slot);
	rq.gen = ++al->gen;
	rq.cred_len = (uint16_t)len;
	memcpy(rq.cred, cred, len);
	rc = rte_ring_mp_enqueue_elem(auth_requests, &rq, sizeof(rq));
	wipe(rq.cred, sizeof(rq.cred));
	if (rc != 0) {
		al->stats.busy++;
		return -1;
	}
	*sl = (struct auth_slot){
	        .flow = lc->sess.cur, .ss = ss, .since_ms = lc->now, .gen = rq.gen, .used = true};
	al->stats.asked++;
	return 0;
}

/* hook_cancel - the session ends while it waits: its answer will find nobody */
static void
hook_cancel(void *arg, struct smtp_session *ss)
{
	struct lcore_conf *lc = arg;
	struct auth_lcore *al = &lc->auth;

	for (unsigned i = 0; i < AUTH_SLOTS; i++)
		if (al->slot[i].used && al->slot[i].ss == ss) {
			al->slot[i].ss = NULL;
			al->slot[i].flow = NULL;
			al->stats.cancelled++;
			return;
		}
}

/* deliver - an answer for slot sl: to its session if it still waits */
static void
deliver(struct lcore_conf *lc, struct auth_slot *sl, enum smtp_auth_result r, const char *user)
{
	struct tcp_flow *f = sl->flow;

	sl->used = false;
	sl->flow = NULL;
	sl->ss = NULL;
	if (f == NULL) {
		lc->auth.stats.stale++;
		return;
	}
	lc->auth.stats.answered++;
	sess_auth_answer(lc, f, r, user);
}

void
auth_poll(struct lcore_conf *lc)
{
	struct auth_lcore *al = &lc->auth;
	struct auth_ans ans[8];
	unsigned n;

	if (al->answers == NULL)
		return;
	n = rte_ring_sc_dequeue_burst_elem(al->answers, ans, sizeof(ans[0]), 8, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct auth_slot *sl = ans[i].slot < AUTH_SLOTS ? &al->slot[ans[i].slot] : NULL;

		if (sl == NULL || !sl->used || sl->gen != ans[i].gen ||
		    ans[i].result >= SMTP_AUTH_RESULTS) {
			al->stats.stale++;
			continue;
		}
		ans[i].user[SMTP_AUTH_USER_MAX] = '\0';
		deliver(lc, sl, (enum smtp_auth_result)ans[i].result, ans[i].user);
	}
}

void
auth_expire(struct lcore_conf *lc, uint64_t now)
{
	struct auth_lcore *al = &lc->auth;

	/* the auth thread answers everything within its timeout; this is the
	 * backstop if it did not (stopped, or a bug): no session stays stuck */
	for (unsigned i = 0; i < AUTH_SLOTS; i++)
		if (al->slot[i].used && now - al->slot[i].since_ms > al->expire_ms) {
			al->stats.expired++;
			deliver(lc, &al->slot[i], SMTP_AUTH_TEMP, NULL);
		}
}

int
auth_init(const struct gconf *gc)
{
	char name[RTE_RING_NAMESIZE];

	if (gc->auth.socket[0] == '\0')
		return 0; /* no checker: the engine does not offer AUTH */
	auth_requests = rte_ring_create_elem("auth_req", sizeof(struct auth_req), AUTH_REQ_RING,
	                                     (int)rte_socket_id(), RING_F_SC_DEQ);
	if (auth_requests == NULL)
		return -1;
	for (unsigned w = 0; w < gate_workers.n; w++) {
		struct lcore_conf *lc = gate_workers.lc[w];

		snprintf(name, sizeof(name), "auth_ans%u", lc->lcore_id);
		lc->auth.answers = rte_ring_create_elem(
		        name, sizeof(struct auth_ans), AUTH_ANS_RING,
		        (int)rte_lcore_to_socket_id(lc->lcore_id), RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (lc->auth.answers == NULL)
			return -1;
		lc->auth.ops = (struct smtp_auth){hook_check, hook_cancel, lc};
		lc->auth.expire_ms = gc->auth.timeout_ms + AUTH_GRACE_MS;
		lc->sess.env.auth = &lc->auth.ops;
	}
	return 0;
}
