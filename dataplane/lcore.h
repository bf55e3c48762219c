/* lcore - the per-lcore context: everything one poll-mode lcore touches
 *
 * One cache-aligned struct per worker lcore, indexed by lcore id, as in
 * DPDK's l3fwd. Who touches what:
 *   everything below      this lcore: rw; control thread: ro (counters only)
 */
#ifndef LCORE_H
#define LCORE_H

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "gconf.h"
#include "logq.h"
#include "net/arp.h"
#include "pol.h"
#include "sess.h"
#include "tcp.h"

#define LC_BURST       32  /* packets per rx burst and per tx flush */
#define LC_TX_DRAIN_US 100 /* flush partly filled tx buffers this often */

struct lc_txbuf {
	uint16_t n;
	struct rte_mbuf *m[LC_BURST];
};

/* Drops and events, by reason: plain increments, one writer. */
struct lc_stats {
	uint64_t rx_pkts;
	uint64_t tx_pkts;
	uint64_t tx_dropped;   /* the port's tx ring was full */
	uint64_t drop_l2;      /* not for us, or an ethertype we do not speak */
	uint64_t drop_short;   /* shorter than its headers say */
	uint64_t drop_csum;    /* bad IPv4 header or ICMP checksum */
	uint64_t drop_frag;    /* IP fragments: an SMTP gate has no use for them */
	uint64_t drop_ip;      /* bad version, length, TTL, options, or not our address */
	uint64_t drop_proto;   /* IP protocol we do not serve */
	uint64_t drop_nomem;   /* no mbuf for a reply */
	uint64_t drop_noroute; /* no route or next hop for a reply */
	uint64_t arp_in;
	uint64_t arp_replies;  /* answers we sent */
	uint64_t arp_requests; /* questions we asked */
	uint64_t icmp_echo;    /* echo requests answered */
};

struct lcore_conf {
	unsigned lcore_id;
	uint16_t queue; /* this lcore's rx and tx queue on every port */
	const struct gconf *gc;
	struct rte_mempool *pool; /* for packets this lcore makes */
	struct lc_txbuf tx[GCONF_MAX_PORTS];
	struct nbr_cache nbr;
	struct pol_reader *pol;
	uint64_t now; /* ms, read once per loop */
	struct tcp_lcore *tcp;
	struct sess_lcore sess;
	struct logq log;
	struct lc_stats stats;
} __rte_cache_aligned;

/* Set up by main() before the lcores start; read-only afterwards. */
struct gate_ports {
	unsigned n;
	uint16_t port_id[GCONF_MAX_PORTS];
	struct rte_ether_addr mac[GCONF_MAX_PORTS];
};

extern struct gate_ports gate_ports;
extern struct lcore_conf lcore_conf[RTE_MAX_LCORE];
extern volatile bool gate_quit;

/* lc_send - queue a packet for a port (index into gate_ports), flushing when the buffer fills */
void lc_send(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m);
/* lc_main - the poll loop of a worker lcore */
int lc_main(void *arg);

#endif
