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

#include "auth.h"
#include "gconf.h"
#include "logq.h"
#include "net/arp.h"
#include "pol.h"
#include "relay.h"
#include "sess.h"
#include "tcp.h"

#define LC_BURST 32 /* packets per rx burst and per tx flush */
#define LC_HANDOFF_LEN                                                                             \
	4096 /* segments queued for another lcore: a burst from each port, many times */
#define LC_LEARN_LEN       256 /* neighbour notes queued for another lcore: ARP/ND is rare */
#define LC_TX_DRAIN_US     100 /* flush partly filled tx buffers this often */
#define LC_POLICY_CHECK_MS 100 /* look for a new policy version (its ports) this often */

struct lc_txbuf {
	uint16_t n;
	struct rte_mbuf *m[LC_BURST];
};

/* The last IPv4 destination routed, and the neighbour entry of its next
 * hop: a gate answers the same few peers (a router, the TAP's kernel) over
 * and over, so ip4_output() skips the route walk and the neighbour hash.
 * Routes do not change while the gate runs; the entry is checked again at
 * every use (a cache slot is reused for another address, expires, or
 * learns another MAC). */
struct lc_nexthop4 {
	uint32_t dst;            /* host order; 0: nothing cached */
	uint32_t nh;             /* next hop, network order */
	unsigned port;           /* gate_ports index */
	struct nbr_entry *entry; /* in lc->nbr, or NULL */
	/* tcpio_emit()'s prebuilt frame header for TCP segments from hdr_src
	 * to hdr_dst: Ethernet (both MACs and the type, from the route and
	 * neighbour entry ip4_output() used for hdr_dst) and the IPv4
	 * header's constant part with both addresses, its length and checksum
	 * 0. Routes do not change, so it holds while the neighbour cache is
	 * at generation hdr_gen (any change to any entry moves it) and the
	 * entry has not expired (at hdr_expires, its expiry then): two
	 * compares a segment instead of the entry's own checks. */
	uint32_t hdr_src, hdr_dst; /* network order; hdr_dst 0: none built */
	unsigned hdr_port;
	uint64_t hdr_gen;     /* lc->nbr.gen when built */
	uint64_t hdr_expires; /* ms: the neighbour entry's expiry when built */
	uint64_t hdr_addrs;   /* native sum of the two addresses (the pseudo-header's part) */
	uint64_t hdr_sum;     /* ... plus the IPv4 header's constant words */
	uint8_t hdr[RTE_ETHER_HDR_LEN + 20];
};

/* lc_nexthop4_fresh - whether the lcore's cached next hop c still has
 * the neighbour entry ip4_output() would use, resolved and fresh (what
 * nbr_lookup() would answer, without its hash) */
static inline bool
lc_nexthop4_fresh(const struct lc_nexthop4 *c, uint64_t now)
{
	const struct nbr_entry *e = c->entry;

	return e != NULL && e->family == 4 && e->resolved && e->port == c->port &&
	       e->expires > now && memcmp(e->addr, &c->nh, 4) == 0;
}

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
	uint64_t handoff_out;  /* TCP segments passed to the lcore that owns their flow */
	uint64_t handoff_in;   /* ... received from other lcores */
	uint64_t handoff_drop; /* the owner's hand-off ring was full */
	uint64_t learn_drop;   /* a neighbour note did not fit another lcore's ring */
};

/* A neighbour learned by one lcore, told to the others (their caches are their own). */
struct lc_learn {
	uint8_t addr[16];
	uint8_t family;
	uint8_t port;
	uint8_t if_known; /* refresh only: apply where the address is already in the cache */
	uint8_t pad;
	struct rte_ether_addr mac;
	uint8_t pad2[6];
};

/* The counters of the lcore's policy fact cache (pol_reader_cache_stats),
 * copied by the lcore every LC_POLICY_CHECK_MS so that the control plane
 * reads them here, never inside a reader that the lcore may unregister
 * (lcore: rw, control: ro). */
struct lc_fcache {
	uint64_t hits, misses, bypassed;
	uint64_t sampling; /* 1 while the cache samples */
};

struct lcore_conf {
	unsigned lcore_id;
	uint16_t queue; /* this lcore's rx and tx queue on every port, and its worker index */
	struct rte_ring *handoff; /* mbufs of our flows received by other lcores (MP/SC) */
	struct rte_ring *learn;   /* struct lc_learn notes from other lcores (MP/SC) */
	const struct gconf *gc;
	struct rte_mempool *pool; /* for packets this lcore makes */
	struct lc_txbuf tx[GCONF_MAX_PORTS];
	struct nbr_cache nbr;
	struct lc_nexthop4 nh4; /* ip4_output()'s last route and neighbour */
	struct rte_mbuf *spare; /* a received mbuf kept for the next packet we make, or NULL */
	struct pol_reader *pol;
	uint64_t now; /* ms, read once per loop */
	struct tcp_lcore *tcp;
	struct sess_lcore sess;
	struct relay_lcore relay;
	struct auth_lcore auth;
	struct logq log;
	struct lc_stats stats;
	struct lc_fcache fcache;
} __rte_cache_aligned;

/* Set up by main() before the lcores start; read-only afterwards. */
struct gate_ports {
	unsigned n;
	uint16_t port_id[GCONF_MAX_PORTS];
	struct rte_ether_addr mac[GCONF_MAX_PORTS];
	bool rx_csum[GCONF_MAX_PORTS]; /* the device checks IPv4 and TCP checksums */
	bool tx_csum;                  /* every port computes IPv4 and TCP checksums */
};

/* The worker lcores, by worker index (their queue number); set before they start. */
struct gate_workers {
	unsigned n;
	struct lcore_conf *lc[GCONF_MAX_LCORES];
};

extern struct gate_ports gate_ports;
extern struct gate_workers gate_workers;
extern struct lcore_conf lcore_conf[RTE_MAX_LCORE];
extern volatile bool gate_quit;

/* lc_mbuf_done - a received packet this lcore is finished with: kept as
 * the spare for the next packet it makes when the spare slot is free and
 * nothing else refers to it (one segment, direct, one reference), else
 * freed. A segment in mostly draws one out, so the pair costs an mbuf
 * reset instead of a mempool put and get. Consumes m. */
static inline void
lc_mbuf_done(struct lcore_conf *lc, struct rte_mbuf *m)
{
	if (lc->spare == NULL && m->nb_segs == 1 && RTE_MBUF_DIRECT(m) &&
	    rte_mbuf_refcnt_read(m) == 1) {
		rte_pktmbuf_reset(m);
		lc->spare = m;
		return;
	}
	rte_pktmbuf_free(m);
}

/* lc_mbuf_alloc - an empty mbuf for a packet we make: the spare, else
 * one from the lcore's pool (NULL: none left) */
static inline struct rte_mbuf *
lc_mbuf_alloc(struct lcore_conf *lc)
{
	struct rte_mbuf *m = lc->spare;

	if (m == NULL)
		return rte_pktmbuf_alloc(lc->pool);
	lc->spare = NULL;
	return m;
}

/* lc_flush - hand a port's queued packets to its PMD now */
void lc_flush(struct lcore_conf *lc, unsigned port);

/* lc_send - queue a packet for a port (index into gate_ports), flushing
 * when the buffer fills (inline: once per packet out) */
static inline void
lc_send(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m)
{
	struct lc_txbuf *b = &lc->tx[port];

	b->m[b->n++] = m;
	if (b->n == LC_BURST)
		lc_flush(lc, port);
}

/* lc_flow_owner - the worker index that owns the TCP flow with this remote
 * address and port and our local port: the same for both directions, so an
 * active open can pick a local port that brings the replies home */
unsigned lc_flow_owner(const struct tcp_ip *raddr, uint16_t rport, uint16_t lport);
/* lc_handoff - give a received packet (m->hash.usr: its port index) to the
 * lcore that owns its flow; consumes m */
void lc_handoff(struct lcore_conf *lc, unsigned owner, unsigned port, struct rte_mbuf *m);
/* lc_nbr_learn - learn a neighbour here and tell the other lcores; with
 * if_known, only caches that already hold the address take it (answers to
 * questions one lcore asked) */
void lc_nbr_learn(struct lcore_conf *lc, int family, const uint8_t *addr, unsigned port,
                  const struct rte_ether_addr *mac, bool if_known, uint64_t now);
/* lc_rings_create - the hand-off and neighbour rings of a worker: 0 or -1 */
int lc_rings_create(struct lcore_conf *lc);
/* lc_main - the poll loop of a worker lcore */
int lc_main(void *arg);

#endif
