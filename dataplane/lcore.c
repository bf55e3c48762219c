/* lcore - the poll loop of a worker lcore
 *
 * The shape of DPDK's l3fwd: drain partly filled tx buffers on a TSC timer,
 * rx burst from every port on this lcore's queue, run each packet to
 * completion, announce an RCU quiescent state once per loop (after which
 * this lcore holds no policy snapshot). No syscalls, locks or logging here.
 */
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "lcore.h"
#include "net/eth.h"

struct lcore_conf lcore_conf[RTE_MAX_LCORE];
struct gate_ports gate_ports;
volatile bool gate_quit;

/* flush - hand a port's tx buffer to the PMD; what it refuses is dropped */
static void
flush(struct lcore_conf *lc, unsigned port)
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

void
lc_send(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m)
{
	struct lc_txbuf *b = &lc->tx[port];

	b->m[b->n++] = m;
	if (b->n == LC_BURST)
		flush(lc, port);
}

int
lc_main(void *arg)
{
	struct lcore_conf *lc = arg;
	struct rte_mbuf *pkts[LC_BURST];
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t drain = (hz + US_PER_S - 1) / US_PER_S * LC_TX_DRAIN_US;
	uint64_t last_drain = 0;

	lc->pol = pol_reader_register();
	lc->sess.env.reader = lc->pol;
	while (!gate_quit) {
		uint64_t tsc = rte_rdtsc();
		uint64_t now = tsc / (hz / 1000);

		lc->now = now;
		tcp_timers_run(lc->tcp, now);
		if (tsc - last_drain > drain) {
			for (unsigned p = 0; p < gate_ports.n; p++)
				flush(lc, p);
			last_drain = tsc;
		}
		for (unsigned p = 0; p < gate_ports.n; p++) {
			uint16_t n =
			        rte_eth_rx_burst(gate_ports.port_id[p], lc->queue, pkts, LC_BURST);

			lc->stats.rx_pkts += n;
			for (uint16_t i = 0; i < n; i++)
				eth_input(lc, p, pkts[i], now);
		}
		pol_quiescent(lc->pol);
	}
	for (unsigned p = 0; p < gate_ports.n; p++)
		flush(lc, p);
	pol_reader_unregister(lc->pol);
	return 0;
}
