/* lcore - the poll loop of a worker lcore
 *
 * The shape of DPDK's l3fwd: drain partly filled tx buffers on a TSC timer,
 * rx burst from every port on this lcore's queue, run each packet to
 * completion, announce an RCU quiescent state once per loop (after which
 * this lcore holds no policy snapshot). No syscalls, locks or logging here.
 *
 * Several lcores: each polls its own queue of every port. Where the port
 * spreads flows by RSS they arrive at their owner already; where it does not
 * (TAP, memif) a TCP segment that reaches the wrong lcore is handed to its
 * owner over the owner's ring (lc_flow_owner() decides, the same way for
 * both directions), as neighbours learned by one lcore are told to the
 * others. ARP, ICMP and neighbour discovery are answered where they arrive.
 */
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "lcore.h"
#include "net/tcpio.h"

struct lcore_conf lcore_conf[RTE_MAX_LCORE];
struct gate_ports gate_ports;
struct gate_workers gate_workers;
volatile bool gate_quit;

unsigned
lc_flow_owner(const struct tcp_ip *raddr, uint16_t rport, uint16_t lport)
{
	if (gate_workers.n <= 1)
		return 0;
	uint64_t a[2];

	memcpy(a, raddr->b, sizeof(a)); /* the address bytes have no alignment */
	uint32_t h = rte_hash_crc_4byte((uint32_t)rport << 16 | lport, 0);

	h = rte_hash_crc_8byte(a[0], h);
	h = rte_hash_crc_8byte(a[1], h);

	return (unsigned)(((uint64_t)h * gate_workers.n) >> 32);
}

void
lc_handoff(struct lcore_conf *lc, unsigned owner, unsigned port, struct rte_mbuf *m)
{
	m->hash.usr = port;
	if (rte_ring_mp_enqueue(gate_workers.lc[owner]->handoff, m) != 0) {
		lc->stats.handoff_drop++;
		rte_pktmbuf_free(m);
		return;
	}
	lc->stats.handoff_out++;
}

void
lc_nbr_learn(struct lcore_conf *lc, int family, const uint8_t *addr, unsigned port,
             const struct rte_ether_addr *mac, bool if_known, uint64_t now)
{
	struct lc_learn note = {.family = (uint8_t)family,
	                        .port = (uint8_t)port,
	                        .if_known = if_known,
	                        .mac = *mac};

	if (!if_known || nbr_find(&lc->nbr, family, addr) != NULL)
		nbr_learn(&lc->nbr, family, addr, port, mac, now);
	memcpy(note.addr, addr, family == 4 ? 4 : 16);
	for (unsigned w = 0; w < gate_workers.n; w++)
		if (gate_workers.lc[w] != lc &&
		    rte_ring_mp_enqueue_elem(gate_workers.lc[w]->learn, &note, sizeof(note)) != 0)
			lc->stats.learn_drop++;
}

int
lc_rings_create(struct lcore_conf *lc)
{
	char name[RTE_RING_NAMESIZE];
	int socket = (int)rte_lcore_to_socket_id(lc->lcore_id);

	snprintf(name, sizeof(name), "handoff%u", lc->lcore_id);
	lc->handoff = rte_ring_create(name, LC_HANDOFF_LEN, socket, RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "learn%u", lc->lcore_id);
	lc->learn = rte_ring_create_elem(name, sizeof(struct lc_learn), LC_LEARN_LEN, socket,
	                                 RING_F_SC_DEQ);
	return lc->handoff != NULL && lc->learn != NULL ? 0 : -1;
}

/* drain_rings - what the other lcores passed us: our flows' segments, their neighbours */
static void
drain_rings(struct lcore_conf *lc, uint64_t now)
{
	struct rte_mbuf *pkts[LC_BURST];
	struct lc_learn notes[8];
	unsigned n;

	n = rte_ring_sc_dequeue_burst(lc->handoff, (void **)pkts, LC_BURST, NULL);
	lc->stats.handoff_in += n;
	for (unsigned i = 0; i < n; i++)
		tcpio_rx(lc, pkts[i]->hash.usr, pkts[i], now);
	n = rte_ring_sc_dequeue_burst_elem(lc->learn, notes, sizeof(notes[0]), 8, NULL);
	for (unsigned i = 0; i < n; i++)
		if (!notes[i].if_known ||
		    nbr_find(&lc->nbr, notes[i].family, notes[i].addr) != NULL)
			nbr_learn(&lc->nbr, notes[i].family, notes[i].addr, notes[i].port,
			          &notes[i].mac, now);
}

/* lc_flush - hand a port's tx buffer to the PMD; what it refuses is dropped */
void
lc_flush(struct lcore_conf *lc, unsigned port)
{
	struct lc_txbuf *b = &lc->tx[port];
	uint16_t sent;

	if (b->n == 0)
		return;
	sent = rte_eth_tx_burst(gate_ports.port_id[port], lc->queue, b->m, b->n);
	lc->stats.tx_pkts += sent;
	if (sent < b->n) {
		lc->stats.tx_dropped += b->n - sent;
		rte_pktmbuf_free_bulk(&b->m[sent], b->n - sent);
	}
	b->n = 0;
}

/* fcache_copy - the policy fact cache's counters where stats_collect reads them */
static void
fcache_copy(struct lcore_conf *lc)
{
	struct lc_fcache *f = &lc->fcache;
	uint64_t bypassed;

	pol_reader_cache_stats(lc->pol, &f->hits, &f->misses);
	f->sampling = pol_reader_cache_sampling(lc->pol, &bypassed);
	f->bypassed = bypassed;
}

/* follow_policy - a pushed policy may open or close service ports; the
 * fact cache's counters are copied out at the same pace */
static void
follow_policy(struct lcore_conf *lc)
{
	const struct pol_snapshot *snap = pol_live(lc->pol);
	struct pol_stats st;

	fcache_copy(lc);
	pol_snapshot_stats(snap, &st);
	if (st.version == lc->sess.pol_version)
		return;
	lc->sess.pol_version = st.version;
	sess_listen(lc, snap);
}

int
lc_main(void *arg)
{
	struct lcore_conf *lc = arg;
	struct rte_mbuf *pkts[LC_BURST];
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t drain = (hz + US_PER_S - 1) / US_PER_S * LC_TX_DRAIN_US;
	/* ms = tsc / (hz / 1000) as a multiply by the 64-bit reciprocal: no
	 * division per loop; monotonic, and never ahead of the division */
	const uint64_t ms_mult = (uint64_t)(((unsigned __int128)1 << 64) / (hz / 1000));
	uint64_t last_drain = 0, next_policy_check = 0;

	lc->pol = pol_reader_register();
	lc->sess.env.reader = lc->pol;
	while (!gate_quit) {
		uint64_t tsc = rte_rdtsc();
		uint64_t now = (uint64_t)(((unsigned __int128)tsc * ms_mult) >> 64);

		lc->now = now;
		tcp_timers_run(lc->tcp, now);
		if (tsc - last_drain > drain) {
			for (unsigned p = 0; p < gate_ports.n; p++)
				lc_flush(lc, p);
			last_drain = tsc;
		}
		for (unsigned p = 0; p < gate_ports.n; p++) {
			uint16_t n =
			        rte_eth_rx_burst(gate_ports.port_id[p], lc->queue, pkts, LC_BURST);

			lc->stats.rx_pkts += n;
			for (uint16_t i = 0; i < n; i++)
				tcpio_rx(lc, p, pkts[i], now);
		}
		if (gate_workers.n > 1)
			drain_rings(lc, now);
		auth_poll(lc);
		if (now >= next_policy_check) {
			follow_policy(lc);
			auth_expire(lc, now);
			next_policy_check = now + LC_POLICY_CHECK_MS;
		}
		pol_quiescent(lc->pol);
	}
	for (unsigned p = 0; p < gate_ports.n; p++)
		lc_flush(lc, p);
	if (lc->spare != NULL) {
		rte_pktmbuf_free(lc->spare);
		lc->spare = NULL;
	}
	fcache_copy(lc);
	pol_reader_unregister(lc->pol);
	lc->pol = NULL;
	lc->sess.env.reader = NULL;
	return 0;
}
