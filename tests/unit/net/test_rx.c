/* test_rx - the folded receive (tcpio_rx()) against the general one (eth_input())
 *
 * tcpio_rx() takes the common frame (untagged IPv4 to our MAC, IHL 5, not a
 * fragment, TCP to one of our addresses, checksums good) from its Ethernet
 * header straight to the TCP stack and hands every other frame to
 * eth_input(). Its contract: the same outcome as eth_input() for any frame.
 *
 * Two worlds, each a whole receive and send path (eth, ARP, IPv4, IPv6,
 * tcpio, the TCP stack with a small line-answering application), with the
 * same key and clock: world A is fed through tcpio_rx(), world B through
 * eth_input(). A scripted client (several source ports) opens sessions,
 * sends command lines, ACKs, FINs and the odd RST, learning the gate's
 * numbers from world A's segments; a share of its frames is damaged or
 * replaced: truncations, bad IPv4 or TCP checksums, IHL > 5, fragments,
 * another or the broadcast MAC, another IP address, IPv6, ARP, a VLAN
 * tag, Ethernet padding, bad lengths, other protocols, chained mbufs.
 * After every frame both worlds must have sent the same bytes and have
 * the same net and TCP counters, flows and delivered data. Phases: no
 * checksum offload; the device's verdicts (good, bad, unknown) in
 * ol_flags; two workers (hand-off of the flows another lcore owns).
 *
 * The send side's prebuilt frame header (tcpio_emit(), valid while the
 * neighbour cache's generation holds and its entry has not expired):
 * mac_change() moves a client's MAC mid-flow by ARP and back, and lets
 * its entry expire; each next segment must follow.
 *
 * The lcore glue (lc_flush, lc_handoff, lc_nbr_learn, lc_flow_owner) is
 * the test's: it records what the net layer sends or hands off.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "lcore.h"
#include "net/eth.h"
#include "net/tcpio.h"
#include "tap.h"
#include "tcp_impl.h"

#define NCLIENT  4
#define OUT_MAX  (64 * 1024)
#define RX_MAX   (64 * 1024)
#define GATE_IP  RTE_IPV4(10, 0, 0, 2)
#define OTHER_IP RTE_IPV4(10, 0, 0, 99)
#define SRV_PORT 25

struct gate_ports gate_ports;
struct gate_workers gate_workers;

/* world - one receive path and what came out of it */
struct world {
	struct lcore_conf *lc;
	uint8_t out[OUT_MAX]; /* frames sent since the last compare: length, bytes */
	size_t outlen;
	unsigned handoffs;  /* frames given to another lcore */
	uint8_t rx[RX_MAX]; /* bytes the application took, all flows */
	size_t rxlen;
	unsigned accepts, fins, closes;
	unsigned tcp_sent;             /* IPv4 TCP frames sent, all time */
	struct rte_ether_addr tcp_dst; /* the destination MAC of the last one */
};

static struct world wa, wb;
static struct gconf gc;
static struct rte_mempool *pool;
static uint64_t now_ms = 1000000;

static struct world *
world_of(const struct lcore_conf *lc)
{
	return lc == wa.lc ? &wa : &wb;
}

void
lc_flush(struct lcore_conf *lc, unsigned port)
{
	struct world *w = world_of(lc);
	struct lc_txbuf *b = &lc->tx[port];

	for (unsigned i = 0; i < b->n; i++) {
		struct rte_mbuf *m = b->m[i];
		uint16_t len = rte_pktmbuf_data_len(m);
		const uint8_t *fr = rte_pktmbuf_mtod(m, const uint8_t *);

		if (len >= 54 && fr[12] == 0x08 && fr[13] == 0 && fr[23] == IPPROTO_TCP) {
			w->tcp_sent++;
			memcpy(&w->tcp_dst, fr, 6);
		}
		if (w->outlen + 2 + len <= OUT_MAX) {
			memcpy(w->out + w->outlen, &len, 2);
			memcpy(w->out + w->outlen + 2, rte_pktmbuf_mtod(m, void *), len);
			w->outlen += 2 + (size_t)len;
		}
		rte_pktmbuf_free(m);
	}
	b->n = 0;
}

void
lc_handoff(struct lcore_conf *lc, unsigned owner, unsigned port, struct rte_mbuf *m)
{
	(void)owner;
	(void)port;
	world_of(lc)->handoffs++;
	lc->stats.handoff_out++;
	rte_pktmbuf_free(m);
}

void
lc_nbr_learn(struct lcore_conf *lc, int family, const uint8_t *addr, unsigned port,
             const struct rte_ether_addr *mac, bool if_known, uint64_t now)
{
	if (!if_known || nbr_find(&lc->nbr, family, addr) != NULL)
		nbr_learn(&lc->nbr, family, addr, port, mac, now);
}

/* lc_flow_owner - with two workers, odd remote ports belong to the other */
unsigned
lc_flow_owner(const struct tcp_ip *raddr, uint16_t rport, uint16_t lport)
{
	(void)raddr;
	(void)lport;
	return gate_workers.n <= 1 ? 0 : rport & 1;
}

/* The application: answers each line, closes after QUIT and on FIN. */
static int
app_accept(void *ctx, struct tcp_flow *f)
{
	world_of(ctx)->accepts++;
	tcp_flow_set_app(f, ctx);
	tcp_send(f, "220 hi\r\n", 8);
	return 0;
}

static size_t
app_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct world *w = world_of(ctx);
	const char *p = buf;

	if (w->rxlen + len <= RX_MAX) {
		memcpy(w->rx + w->rxlen, buf, len);
		w->rxlen += len;
	}
	for (size_t i = 0; i < len; i++)
		if (p[i] == '\n')
			tcp_send(f, "250 ok\r\n", 8);
	if (len >= 4 && memcmp(p, "QUIT", 4) == 0)
		tcp_close(f);
	return len;
}

static void
app_fin(void *ctx, struct tcp_flow *f)
{
	world_of(ctx)->fins++;
	tcp_close(f);
}

static void
app_closed(void *ctx, struct tcp_flow *f, enum tcp_end why)
{
	(void)f;
	(void)why;
	world_of(ctx)->closes++;
}

static const struct tcp_app app = {
        .accept = app_accept, .data = app_data, .peer_fin = app_fin, .closed = app_closed};

static void
world_init(struct world *w)
{
	struct tcp_conf tc;
	int id;

	w->lc = aligned_alloc(RTE_CACHE_LINE_SIZE,
	                      RTE_ALIGN_CEIL(sizeof(struct lcore_conf), RTE_CACHE_LINE_SIZE));
	memset(w->lc, 0, sizeof(*w->lc));
	w->lc->gc = &gc;
	w->lc->pool = pool;
	w->lc->nbr.timeout_ms = 60000;
	w->lc->now = now_ms;
	tcp_conf_default(&tc);
	tc.max_flows = 64;
	tc.nchunks = 256;
	tc.cookies = TCP_COOKIES_NEVER;
	memcpy(tc.key, "0123456789abcdef", 16);
	tc.emit = tcpio_emit;
	tc.emit_arg = w->lc;
	w->lc->tcp = tcp_lcore_create(&tc);
	if (w->lc->tcp == NULL) {
		printf("Bail out! tcp_lcore_create\n");
		exit(1);
	}
	id = tcp_app_register(w->lc->tcp, &app, w->lc);
	tcp_listen(w->lc->tcp, SRV_PORT, id);
}

/* The client side: per source port, what it has sent and what the gate has. */
struct client {
	uint16_t port;
	bool open;       /* SYN sent */
	uint32_t snd;    /* next sequence number */
	uint32_t rcv;    /* the gate's next, learned from world A */
	uint32_t ts_val; /* our timestamp clock */
	uint32_t ts_ecr; /* the gate's last TSval */
	bool ts;         /* the gate echoes timestamps */
	bool fin_sent;   /* our FIN went */
	bool gate_fin;   /* the gate's FIN came */
	unsigned waits;  /* frames sent since our FIN without the gate's */
};

static struct client cl[NCLIENT];
static const struct rte_ether_addr gate_mac = {{0x02, 0, 0, 0, 0, 0x02}};
static const struct rte_ether_addr cli_mac = {{0x02, 0, 0, 0, 0, 0x01}};

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t)tap_below(n);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* csum16 - RFC 1071 over len bytes, starting from sum */
static uint16_t
csum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ip4_fix - the IPv4 header's checksum (ihl words) and the TCP checksum of
 * tlen bytes behind it */
static void
ip4_fix(uint8_t *ip, size_t tlen)
{
	unsigned hl = (ip[0] & 15) * 4u;
	uint8_t *tcp = ip + hl;
	uint32_t ps = 6 + (uint32_t)tlen;

	for (int i = 12; i < 20; i += 2)
		ps += (uint32_t)ip[i] << 8 | ip[i + 1];
	put16(ip + 10, 0);
	put16(ip + 10, csum16(0, ip, hl));
	put16(tcp + 16, 0);
	put16(tcp + 16, csum16(ps, tcp, tlen));
}

/* tcp_frame - an Ethernet + IPv4 + TCP frame from client c; its length */
static size_t
tcp_frame(uint8_t *fr, const struct client *c, uint8_t flags, uint32_t seq, uint32_t ack, bool ts,
          const char *data, size_t dlen)
{
	uint8_t *ip = fr + 14, *tcp = ip + 20;
	size_t hl = ts ? 32 : 20, tlen = hl + dlen;

	memcpy(fr, &gate_mac, 6);
	memcpy(fr + 6, &cli_mac, 6);
	put16(fr + 12, RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + tlen));
	put16(ip + 4, (uint16_t)rnd(65536));
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	put32(ip + 12, RTE_IPV4(10, 0, 0, 10 + (c - cl)));
	put32(ip + 16, GATE_IP);
	memset(tcp, 0, hl);
	put16(tcp, c->port);
	put16(tcp + 2, SRV_PORT);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = (uint8_t)(hl / 4 << 4);
	tcp[13] = flags;
	put16(tcp + 14, 65535);
	if (ts) {
		put32(tcp + 20, 0x0101080a);
		put32(tcp + 24, c->ts_val);
		put32(tcp + 28, c->ts_ecr);
	}
	if (dlen > 0)
		memcpy(tcp + hl, data, dlen);
	ip4_fix(ip, tlen);
	return 14 + 20 + tlen;
}

/* next_port - a fresh source port for client c's next connection */
static void
next_port(struct client *c)
{
	c->open = false;
	c->port = (uint16_t)(40000 + (c->port - 40000 + NCLIENT) % 1000);
}

/* closing - the end of a connection: our FIN after the gate's, the last
 * ACK, or a wait for the gate's FIN (given up after a few frames) */
static size_t
closing(uint8_t *fr, struct client *c, bool ts)
{
	size_t len;

	if (!c->fin_sent) {
		c->fin_sent = true;
		c->snd++;
		return tcp_frame(fr, c, TCP_ACK | TCP_FIN, c->snd - 1, c->rcv, ts, NULL, 0);
	}
	len = tcp_frame(fr, c, TCP_ACK, c->snd, c->rcv, ts, NULL, 0);
	if (c->gate_fin || ++c->waits > 3)
		next_port(c);
	return len;
}

static const char *const lines[] = {"HELO client.example\r\n", "MAIL FROM:<a@b.example>\r\n",
                                    "RCPT TO:<c@d.example>\r\n", "NOOP\r\n", "QUIT\r\n"};

/* script - the client's next frame, well formed */
static size_t
script(uint8_t *fr, struct client *c)
{
	uint32_t r = rnd(100);
	bool ts = c->ts || !c->open;
	const char *d;

	c->ts_val += 7;
	if (!c->open) { /* SYN with the timestamp option only (MSS etc. not needed) */
		c->open = true;
		c->ts = c->fin_sent = c->gate_fin = false;
		c->waits = 0;
		c->snd = 1000u + rnd(1u << 20);
		return tcp_frame(fr, c, TCP_SYN, c->snd++, 0, true, NULL, 0);
	}
	if (c->gate_fin || c->fin_sent) /* closing: ours, or an answer to the gate's */
		return closing(fr, c, ts);
	if (r < 55) { /* a command line */
		d = lines[rnd(sizeof(lines) / sizeof(lines[0]))];
		c->snd += (uint32_t)strlen(d);
		return tcp_frame(fr, c, TCP_ACK | TCP_PSH, c->snd - (uint32_t)strlen(d), c->rcv, ts,
		                 d, strlen(d));
	}
	if (r < 80) /* a pure ACK */
		return tcp_frame(fr, c, TCP_ACK, c->snd, c->rcv, ts, NULL, 0);
	if (r < 86) { /* FIN */
		c->fin_sent = true;
		c->snd++;
		return tcp_frame(fr, c, TCP_ACK | TCP_FIN, c->snd - 1, c->rcv, ts, NULL, 0);
	}
	if (r < 90) { /* RST: the port starts over */
		size_t len = tcp_frame(fr, c, TCP_RST | TCP_ACK, c->snd, c->rcv, ts, NULL, 0);

		next_port(c);
		return len;
	}
	if (r < 95) /* out of window */
		return tcp_frame(fr, c, TCP_ACK, c->snd + 100000, c->rcv, ts, "x", 1);
	/* an ACK of data not yet sent */
	return tcp_frame(fr, c, TCP_ACK, c->snd, c->rcv + 5000, ts, NULL, 0);
}

/* arp_from - an ARP request for our address from client c at mac: the
 * frame's length */
static size_t
arp_from(uint8_t *fr, const struct client *c, const struct rte_ether_addr *mac)
{
	uint8_t *a = fr + 14;

	memcpy(fr, &gate_mac, 6);
	memcpy(fr + 6, mac, 6);
	put16(fr + 12, RTE_ETHER_TYPE_ARP);
	put16(a, 1);
	put16(a + 2, RTE_ETHER_TYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, mac, 6);
	put32(a + 14, RTE_IPV4(10, 0, 0, 10 + (c - cl)));
	memset(a + 18, 0, 6);
	put32(a + 24, GATE_IP);
	return 14 + 28;
}

/* damage - one kind of malformed or other frame in place of fr (len bytes); the new length */
static size_t
damage(uint8_t *fr, size_t len, unsigned kind)
{
	uint8_t *ip = fr + 14;
	size_t tlen = len - 34;

	switch (kind) {
	case 0: /* truncated anywhere */
		return rnd((uint32_t)len);
	case 1: /* bad IPv4 checksum */
		ip[10] ^= (uint8_t)(1 + rnd(255));
		return len;
	case 2: /* bad TCP checksum */
		ip[20 + 16] ^= (uint8_t)(1 + rnd(255));
		return len;
	case 3: /* IHL 6: four bytes of IP options (NOPs), checksums right */
		memmove(ip + 24, ip + 20, tlen);
		memset(ip + 20, 1, 4);
		ip[0] = 0x46;
		put16(ip + 2, (uint16_t)(24 + tlen));
		ip4_fix(ip, tlen);
		return len + 4;
	case 4: /* a fragment: MF or an offset */
		put16(ip + 6, rnd(2) ? 0x2000 : (uint16_t)(1 + rnd(100)));
		ip4_fix(ip, tlen);
		return len;
	case 5: /* another unicast MAC */
		fr[5] = 0x77;
		return len;
	case 6: /* broadcast MAC: the general path takes it */
		memset(fr, 0xff, 6);
		return len;
	case 7: /* not our address */
		put32(ip + 16, OTHER_IP);
		ip4_fix(ip, tlen);
		return len;
	case 8: /* IPv6 (an echo request to a multicast address, or junk) */
		put16(fr + 12, RTE_ETHER_TYPE_IPV6);
		ip[0] = 0x60;
		return len;
	case 9: /* ARP request for our address */
		return arp_from(fr, &cl[0], &cli_mac);
	case 10: /* VLAN tag */
		memmove(fr + 16, fr + 12, len - 12);
		put16(fr + 12, RTE_ETHER_TYPE_VLAN);
		return len + 4;
	case 11: /* Ethernet padding behind the IP packet */
		memset(fr + len, 0, 20);
		return len + 1 + rnd(20);
	case 12: /* IP length beyond the frame, or short of its header */
		put16(ip + 2, rnd(2) ? (uint16_t)(len - 14 + 1 + rnd(40)) : (uint16_t)rnd(20));
		ip4_fix(ip, tlen);
		return len;
	case 13: /* version 6 in an IPv4 header */
		ip[0] = 0x65;
		ip4_fix(ip, tlen);
		return len;
	case 14: /* UDP, or an ICMP echo request, checksums right */
		if (rnd(2)) {
			ip[9] = IPPROTO_UDP;
		} else {
			ip[9] = IPPROTO_ICMP;
			ip[20] = 8;
			ip[21] = 0;
			put16(ip + 22, 0);
			put16(ip + 22, csum16(0, ip + 20, tlen));
		}
		put16(ip + 10, 0);
		put16(ip + 10, csum16(0, ip, 20));
		return len;
	case 15: /* a bad TCP data offset */
		ip[20 + 12] = (uint8_t)(rnd(2) ? 0x40 : 0xf0);
		ip4_fix(ip, tlen);
		return len;
	default: /* a source MAC or TTL change: still the common frame */
		ip[8] = 1;
		ip4_fix(ip, tlen);
		return len;
	}
}

/* damage_keeps - whether a frame damaged so still reaches the stack */
static bool
damage_keeps(unsigned kind)
{
	return kind == 6 || kind == 11 || kind >= 16;
}

enum chain {
	CHAIN_NONE,  /* one segment */
	CHAIN_SPLIT, /* the frame split in two segments */
	CHAIN_WHOLE, /* the frame in the first, a few bytes more in a second */
};

/* mbuf_of - the frame in a fresh mbuf (or two: enum chain), with ol_flags */
static struct rte_mbuf *
mbuf_of(const uint8_t *fr, size_t len, enum chain how, uint64_t ol)
{
	static const uint8_t pad[16];
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	bool chained = how != CHAIN_NONE, whole = how == CHAIN_WHOLE;
	size_t first = chained && !whole && len > 1 ? len / 2 : len;

	memcpy(rte_pktmbuf_append(m, (uint16_t)first), fr, first);
	if (chained && (first < len || whole)) {
		struct rte_mbuf *t = rte_pktmbuf_alloc(pool);

		if (first < len)
			memcpy(rte_pktmbuf_append(t, (uint16_t)(len - first)), fr + first,
			       len - first);
		else
			memcpy(rte_pktmbuf_append(t, sizeof(pad)), pad, sizeof(pad));
		rte_pktmbuf_chain(m, t);
	}
	m->ol_flags = ol;
	return m;
}

/* ts_seen - the gate's TSval, when its header (hl bytes) carries one */
static void
ts_seen(struct client *c, const uint8_t *tcp, size_t hl)
{
	for (size_t i = 20; i < hl;) {
		if (tcp[i] == 0)
			break;
		if (tcp[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= hl || tcp[i + 1] < 2)
			break;
		if (tcp[i] == 8 && tcp[i + 1] == 10 && i + 10 <= hl) {
			c->ts = true;
			c->ts_ecr = get32(tcp + i + 2);
		}
		i += tcp[i + 1];
	}
}

/* learn - the client's view of the gate from world A's segments to it */
static void
learn(const struct world *w)
{
	for (size_t o = 0; o + 2 <= w->outlen;) {
		uint16_t len;
		const uint8_t *fr = w->out + o + 2, *ip = fr + 14, *tcp;

		memcpy(&len, w->out + o, 2);
		o += 2 + (size_t)len;
		if (len < 54 || fr[12] != 0x08 || fr[13] != 0 || ip[9] != IPPROTO_TCP)
			continue;
		tcp = ip + 20;
		for (int i = 0; i < NCLIENT; i++) {
			struct client *c = &cl[i];
			size_t hl = (size_t)(tcp[12] >> 4) * 4;
			uint32_t dlen = (uint32_t)(((unsigned)ip[2] << 8 | ip[3]) - 20 - hl);
			uint32_t end = get32(tcp + 4) + dlen + !!(tcp[13] & TCP_SYN) +
			               !!(tcp[13] & TCP_FIN);

			if ((unsigned)(tcp[2] << 8 | tcp[3]) != c->port ||
			    get32(ip + 16) != RTE_IPV4(10, 0, 0, 10 + i))
				continue;
			if (tcp[13] & TCP_RST) {
				next_port(c);
				continue;
			}
			if (tcp[13] & TCP_FIN)
				c->gate_fin = true;
			if (tcp[13] & TCP_ACK) /* go back to what the gate has (frames lost) */
				c->snd = get32(tcp + 8);
			/* a retransmission moves it back: the client acks what it saw */
			c->rcv = end;
			ts_seen(c, tcp, hl);
		}
	}
}

/* flows_same - the flows of both worlds, client by client */
static bool
flows_same(void)
{
	for (int i = 0; i < NCLIENT; i++) {
		uint32_t raddr = rte_cpu_to_be_32(RTE_IPV4(10, 0, 0, 10 + i));
		uint32_t laddr = rte_cpu_to_be_32(GATE_IP);
		uint32_t ha = tcp_hash4(wa.lc->tcp, laddr, raddr, SRV_PORT, cl[i].port);
		uint32_t hb = tcp_hash4(wb.lc->tcp, laddr, raddr, SRV_PORT, cl[i].port);
		struct tcp_flow *a =
		        tcp_flow_lookup4(wa.lc->tcp, ha, laddr, raddr, SRV_PORT, cl[i].port);
		struct tcp_flow *b =
		        tcp_flow_lookup4(wb.lc->tcp, hb, laddr, raddr, SRV_PORT, cl[i].port);

		if ((a == NULL) != (b == NULL))
			return false;
		if (a != NULL && (a->state != b->state || a->rcv_nxt != b->rcv_nxt ||
		                  a->snd_nxt != b->snd_nxt || a->snd_una != b->snd_una ||
		                  a->snd_max != b->snd_max || a->snd_wnd != b->snd_wnd ||
		                  a->ts_recent != b->ts_recent || a->flags != b->flags))
			return false;
	}
	return true;
}

struct tally {
	unsigned frames, common, damaged, differ;
};

/* step - one frame into both worlds; false when their outcomes differ */
static bool
step(struct tally *t, const uint8_t *fr, size_t len, enum chain chained, uint64_t ol)
{
	struct rte_mbuf *ma = mbuf_of(fr, len, chained, ol), *mb = mbuf_of(fr, len, chained, ol);
	bool same;

	wa.lc->now = wb.lc->now = now_ms;
	tcpio_rx(wa.lc, 0, ma, now_ms);
	eth_input(wb.lc, 0, mb, now_ms);
	if (rnd(8) == 0) {
		now_ms += 50 + rnd(400); /* timers: retransmissions, delayed work */
		wa.lc->now = wb.lc->now = now_ms;
		tcp_timers_run(wa.lc->tcp, now_ms);
		tcp_timers_run(wb.lc->tcp, now_ms);
	}
	now_ms++;
	lc_flush(wa.lc, 0);
	lc_flush(wb.lc, 0);
	t->frames++;
	same = wa.outlen == wb.outlen && memcmp(wa.out, wb.out, wa.outlen) == 0 &&
	       memcmp(&wa.lc->stats, &wb.lc->stats, sizeof(wa.lc->stats)) == 0 &&
	       memcmp(tcp_lcore_stats(wa.lc->tcp), tcp_lcore_stats(wb.lc->tcp),
	              sizeof(struct tcp_stats)) == 0 &&
	       wa.rxlen == wb.rxlen && memcmp(wa.rx, wb.rx, wa.rxlen) == 0 &&
	       wa.handoffs == wb.handoffs && wa.accepts == wb.accepts && wa.fins == wb.fins &&
	       wa.closes == wb.closes && flows_same();
	learn(&wa);
	wa.outlen = wb.outlen = 0;
	if (!same)
		t->differ++;
	return same;
}

/* ol_random - the device's verdicts on both checksums, any combination */
static uint64_t
ol_random(void)
{
	static const uint64_t ip[] = {RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN, RTE_MBUF_F_RX_IP_CKSUM_BAD,
	                              RTE_MBUF_F_RX_IP_CKSUM_GOOD, RTE_MBUF_F_RX_IP_CKSUM_NONE};
	static const uint64_t l4[] = {RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN, RTE_MBUF_F_RX_L4_CKSUM_BAD,
	                              RTE_MBUF_F_RX_L4_CKSUM_GOOD, RTE_MBUF_F_RX_L4_CKSUM_NONE};

	return rnd(3) == 0 ? ip[rnd(4)] | l4[rnd(4)]
	                   : RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
}

/* run - n frames of the script, damaged one time in three */
static void
run(const char *name, unsigned n, bool offload, unsigned workers)
{
	struct tally t = {0};
	uint64_t tcp_in0 = tcp_lcore_stats(wa.lc->tcp)->seg_in;
	uint64_t pred0 = tcp_lcore_stats(wa.lc->tcp)->predicted;
	uint64_t rx0 = wa.rxlen;
	unsigned first_bad = 0;

	gate_ports.rx_csum[0] = offload;
	gate_workers.n = workers;
	for (unsigned i = 0; i < n; i++) {
		uint8_t fr[2048];
		struct client *c = &cl[rnd(NCLIENT)], was = *c;
		size_t len = script(fr, c);
		enum chain chained = CHAIN_NONE;

		if (rnd(3) == 0) {
			unsigned kind = rnd(17);

			len = damage(fr, len, kind);
			if (rnd(20) == 0)
				chained = rnd(2) ? CHAIN_SPLIT : CHAIN_WHOLE;
			if (chained || !damage_keeps(kind))
				*c = was; /* dropped: the client sends it again later */
			t.damaged++;
		} else {
			t.common++;
		}
		if (!step(&t, fr, len, chained, offload ? ol_random() : 0) && first_bad == 0)
			first_bad = i + 1;
	}
	is_int(t.differ, 0, "%s: %u frames (%u damaged or other) have the same outcome both ways",
	       name, t.frames, t.damaged);
	if (first_bad != 0)
		printf("#   first difference at frame %u\n", first_bad);
	/* the comparison means something only if the sessions got somewhere */
	ok(tcp_lcore_stats(wa.lc->tcp)->predicted - pred0 > n / 30,
	   "%s: the stack predicted %llu of %llu segments", name,
	   (unsigned long long)(tcp_lcore_stats(wa.lc->tcp)->predicted - pred0),
	   (unsigned long long)(tcp_lcore_stats(wa.lc->tcp)->seg_in - tcp_in0));
	ok(wa.rxlen - rx0 > n / 2, "%s: %zu bytes delivered", name, (size_t)(wa.rxlen - rx0));
}

/* drops_counted - each damage kind alone, on an established flow: the
 * drop is counted where eth_input() counts it (both worlds agree, and the
 * counter moved) */
static void
drops_counted(void)
{
	static const struct {
		unsigned kind;
		const char *what;
		size_t off; /* in struct lc_stats, or SIZE_MAX: tcp drop_csum */
	} cases[] = {
	        {1, "bad IPv4 checksum", offsetof(struct lc_stats, drop_csum)},
	        {2, "bad TCP checksum", SIZE_MAX},
	        {3, "IP options", offsetof(struct lc_stats, drop_ip)},
	        {4, "fragment", offsetof(struct lc_stats, drop_frag)},
	        {5, "another MAC", offsetof(struct lc_stats, drop_l2)},
	        {7, "another address", offsetof(struct lc_stats, drop_ip)},
	        {10, "VLAN tag", offsetof(struct lc_stats, drop_l2)},
	        {13, "IP version 6 in IPv4", offsetof(struct lc_stats, drop_short)},
	        {14, "UDP or ICMP", SIZE_MAX - 1},
	};
	struct tally t = {0};

	gate_ports.rx_csum[0] = false;
	gate_workers.n = 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client *c = &cl[0];
		uint8_t fr[2048];
		size_t len;
		uint64_t before, after;
		struct lc_stats s0 = wa.lc->stats;
		uint64_t csum0 = tcp_lcore_stats(wa.lc->tcp)->drop_csum;

		c->open = c->open && c->ts; /* a flow with timestamps, reopened if need be */
		len = tcp_frame(fr, c, TCP_ACK | TCP_PSH, c->snd, c->rcv, c->ts, "NOOP\r\n", 6);
		len = damage(fr, len, cases[i].kind);
		step(&t, fr, len, CHAIN_NONE, 0);
		if (cases[i].off == SIZE_MAX) {
			before = csum0;
			after = tcp_lcore_stats(wa.lc->tcp)->drop_csum;
		} else if (cases[i].off == SIZE_MAX - 1) {
			before = s0.drop_proto + s0.icmp_echo;
			after = wa.lc->stats.drop_proto + wa.lc->stats.icmp_echo;
		} else {
			memcpy(&before, (const char *)&s0 + cases[i].off, 8);
			memcpy(&after, (const char *)&wa.lc->stats + cases[i].off, 8);
		}
		ok(after == before + 1 && t.differ == 0, "%s: counted once, the same both ways",
		   cases[i].what);
	}
}

/* line_answered - a command line from client c on its open flow, both
 * worlds; whether world A sent an IPv4 TCP frame for it (the answer),
 * and the frames were the same both ways */
static bool
line_answered(struct tally *t, struct client *c)
{
	uint8_t fr[256];
	unsigned sent = wa.tcp_sent;
	size_t len = tcp_frame(fr, c, TCP_ACK | TCP_PSH, c->snd, c->rcv, c->ts, "NOOP\r\n", 6);

	c->snd += 6;
	return step(t, fr, len, CHAIN_NONE, 0) && wa.tcp_sent > sent;
}

/* mac_change - the neighbour's MAC changes in the middle of a flow (an
 * ARP from it with another): the next segment out carries the new one,
 * though the frame header before was prebuilt; and once the entry has
 * expired, no segment goes out on the old one */
static void
mac_change(void)
{
	static const struct rte_ether_addr new_mac = {{0x02, 0, 0, 0, 0, 0x31}};
	struct client *c = &cl[0];
	struct tally t = {0};
	uint8_t fr[256];
	uint64_t noroute, asked;
	unsigned sent;
	bool ok1, ok2;

	gate_ports.rx_csum[0] = false;
	gate_workers.n = 1;
	next_port(c); /* a fresh flow, with timestamps */
	step(&t, fr, script(fr, c), CHAIN_NONE, 0);
	ok1 = line_answered(&t, c) && rte_is_same_ether_addr(&wa.tcp_dst, &cli_mac);
	ok2 = line_answered(&t, c) && rte_is_same_ether_addr(&wa.tcp_dst, &cli_mac);
	ok(ok1 && ok2 && c->ts, "two answers on a fresh flow go to the learnt MAC");
	step(&t, fr, arp_from(fr, c, &new_mac), CHAIN_NONE, 0);
	ok1 = line_answered(&t, c) && rte_is_same_ether_addr(&wa.tcp_dst, &new_mac);
	ok2 = line_answered(&t, c) && rte_is_same_ether_addr(&wa.tcp_dst, &new_mac);
	ok(ok1 && ok2, "after an ARP with another MAC, the next answers go to the new MAC");
	step(&t, fr, arp_from(fr, c, &cli_mac), CHAIN_NONE, 0);
	ok1 = line_answered(&t, c) && rte_is_same_ether_addr(&wa.tcp_dst, &cli_mac);
	ok(ok1, "and back to the first MAC after one more ARP");
	/* the entry expires (60 s): the segment waits for ARP, none goes out */
	now_ms += 61000;
	noroute = wa.lc->stats.drop_noroute;
	asked = wa.lc->stats.arp_requests;
	sent = wa.tcp_sent;
	line_answered(&t, c);
	ok(wa.tcp_sent == sent && wa.lc->stats.drop_noroute > noroute &&
	           wa.lc->stats.arp_requests > asked,
	   "once the neighbour entry has expired, no segment goes out on its old MAC (ARP asks)");
	is_int(t.differ, 0, "%u frames, the same outcome both ways", t.frames);
}

int
main(int argc, char **argv)
{
	char prefix[48], rundir[PATH_MAX];
	char *eal[] = {argc > 0 ? argv[0] : "test_rx",
	               "--no-huge",
	               "-m",
	               "64",
	               "--no-pci",
	               "--no-shconf",
	               "--no-telemetry",
	               "-l",
	               "0",
	               "--log-level",
	               "*:error",
	               prefix,
	               NULL};

	/* a prefix of its own: builds' test runs may overlap */
	snprintf(prefix, sizeof(prefix), "--file-prefix=sgn7rx%d", (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		printf("Bail out! rte_eal_init\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("sgn7_test_rx", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (pool == NULL) {
		printf("Bail out! mbuf pool\n");
		return 1;
	}
	tap_seed(7);
	gc.nports = 1;
	gc.ports[0].naddr = 2;
	gc.ports[0].addr[0] = (struct cidr){.family = 4, .len = 24, .addr = {10, 0, 0, 2}};
	gc.ports[0].addr[1] = (struct cidr){.family = 6, .len = 64, .addr = {0xfd, [15] = 2}};
	gate_ports.n = 1;
	gate_ports.mac[0] = gate_mac;
	world_init(&wa);
	world_init(&wb);
	for (int i = 0; i < NCLIENT; i++) {
		cl[i].port = (uint16_t)(40000 + i);
		nbr_learn(&wa.lc->nbr, 4, (const uint8_t[]){10, 0, 0, (uint8_t)(10 + i)}, 0,
		          &cli_mac, now_ms);
		nbr_learn(&wb.lc->nbr, 4, (const uint8_t[]){10, 0, 0, (uint8_t)(10 + i)}, 0,
		          &cli_mac, now_ms);
	}
	run("no offload", 6000, false, 1);
	run("device checksum verdicts", 3000, true, 1);
	run("two workers", 2000, false, 2);
	drops_counted();
	mac_change();
	tcp_lcore_destroy(wa.lc->tcp);
	tcp_lcore_destroy(wb.lc->tcp);
	rte_mempool_free(pool);
	/* EAL leaves its (empty, with --no-shconf) runtime directory behind */
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
	return done_testing();
}
