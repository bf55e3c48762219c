/* test_emit - the frames tcpio_emit() sends, byte for byte, against a reference
 *
 * tcpio_emit() turns the stack's struct tcp_out into a frame: Ethernet and
 * IP headers (IPv4 from a prebuilt header per next hop once one has gone
 * out, else through ip4_output(); IPv6 through ip6_output()), the TCP
 * header and options written and the payload pieces copied, the TCP and
 * IPv4 checksums summed while writing (or, with the device's offload,
 * the pseudo-header's sum left for it). Each frame here is compared with
 * one built by this file alone: the header field by field, byte-wise
 * RFC 1071 sums over the pseudo-header and the segment, no code shared
 * with the gate's.
 *
 * Segments of every kind: SYN-ACKs with MSS, WS, SACK-permitted and
 * timestamps in any mix, data with and without timestamps, FIN, RST,
 * bare ACKs with SACK blocks, IPv4 and IPv6, payloads of every length
 * from 0 to past 64 bytes and some long ones, in one piece or two (an odd
 * first piece puts the second at an odd offset), from any alignment; the
 * peer changes now and then (the prebuilt header is rebuilt), and a run
 * with the device's checksum offload.
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
#include "net/nbr.h"
#include "net/tcpio.h"
#include "tap.h"
#include "tcp_wire.h"

#define NPEER     4
#define FRAME_MAX 2048

struct gate_ports gate_ports;
struct gate_workers gate_workers;

static struct gconf gc;
static struct rte_mempool *pool;
static struct lcore_conf *lc;
static const struct rte_ether_addr gate_mac = {{0x02, 0, 0, 0, 0, 0x02}};
static const struct rte_ether_addr peer_mac[NPEER] = {
        {{0x02, 0, 0, 0, 0, 0x10}},
        {{0x02, 0, 0, 0, 0, 0x11}},
        {{0x02, 0, 0, 0, 0, 0x12}},
        {{0x02, 0, 0, 0, 0, 0x13}},
};

/* what lc_flush() took: the last frame sent and its offload fields */
static struct {
	unsigned n;
	uint8_t fr[FRAME_MAX];
	size_t len;
	uint64_t ol_flags;
	unsigned l2_len, l3_len;
} sent;

void
lc_flush(struct lcore_conf *l, unsigned port)
{
	struct lc_txbuf *b = &l->tx[port];

	for (unsigned i = 0; i < b->n; i++) {
		struct rte_mbuf *m = b->m[i];

		sent.n++;
		sent.len = rte_pktmbuf_data_len(m);
		if (sent.len > FRAME_MAX || m->nb_segs != 1)
			sent.len = 0;
		else
			memcpy(sent.fr, rte_pktmbuf_mtod(m, void *), sent.len);
		sent.ol_flags = m->ol_flags;
		sent.l2_len = m->l2_len;
		sent.l3_len = m->l3_len;
		rte_pktmbuf_free(m);
	}
	b->n = 0;
}

void
lc_handoff(struct lcore_conf *l, unsigned owner, unsigned port, struct rte_mbuf *m)
{
	(void)l;
	(void)owner;
	(void)port;
	rte_pktmbuf_free(m);
}

void
lc_nbr_learn(struct lcore_conf *l, int family, const uint8_t *addr, unsigned port,
             const struct rte_ether_addr *mac, bool if_known, uint64_t now)
{
	if (!if_known || nbr_find(&l->nbr, family, addr) != NULL)
		nbr_learn(&l->nbr, family, addr, port, mac, now);
}

unsigned
lc_flow_owner(const struct tcp_ip *raddr, uint16_t rport, uint16_t lport)
{
	(void)raddr;
	(void)rport;
	(void)lport;
	return 0;
}

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t)tap_below(n);
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* sum16 - RFC 1071's 16-bit words of len bytes added to sum, one byte at a time */
static uint32_t
sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sum += i % 2 == 0 ? (uint32_t)p[i] << 8 : p[i];
	return sum;
}

/* fold16 - a sum to 16 bits with end-around carries */
static unsigned
fold16(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* ref_tcp - o's TCP header and payload at p, checksum 0: the length */
static size_t
ref_tcp(uint8_t *p, const struct tcp_out *o)
{
	size_t n = 20;
	uint8_t *q = p + 20;

	if (o->opt.has & TCP_O_MSS) {
		q[0] = 2, q[1] = 4;
		put16(q + 2, o->opt.mss);
		q += 4;
	}
	if (o->opt.has & TCP_O_WS) {
		q[0] = 1, q[1] = 3, q[2] = 3, q[3] = o->opt.wscale;
		q += 4;
	}
	if (o->opt.has & TCP_O_SACKOK) {
		q[0] = 1, q[1] = 1, q[2] = 4, q[3] = 2;
		q += 4;
	}
	if (o->opt.has & TCP_O_TS) {
		q[0] = 1, q[1] = 1, q[2] = 8, q[3] = 10;
		put32(q + 4, o->opt.ts_val);
		put32(q + 8, o->opt.ts_ecr);
		q += 12;
	}
	if ((o->opt.has & TCP_O_SACK) && o->opt.nsack > 0) {
		q[0] = 1, q[1] = 1, q[2] = 5, q[3] = (uint8_t)(2 + 8 * o->opt.nsack);
		for (unsigned i = 0; i < o->opt.nsack; i++) {
			put32(q + 4 + 8 * i, o->opt.sack[i][0]);
			put32(q + 8 + 8 * i, o->opt.sack[i][1]);
		}
		q += 4 + 8 * o->opt.nsack;
	}
	n = (size_t)(q - p);
	put16(p, o->sport);
	put16(p + 2, o->dport);
	put32(p + 4, o->seq);
	put32(p + 8, o->flags & TCP_ACK ? o->ack : 0);
	p[12] = (uint8_t)(n / 4 << 4);
	p[13] = o->flags;
	put16(p + 14, o->wnd);
	put32(p + 16, 0);
	if (o->len[0] > 0)
		memcpy(p + n, o->data[0], o->len[0]);
	if (o->len[1] > 0)
		memcpy(p + n + o->len[0], o->data[1], o->len[1]);
	return n + o->len[0] + o->len[1];
}

/* ref_frame - the frame o should make to the peer at mac; its length.
 * offload: the device sums (the TCP field holds the pseudo-header's sum,
 * the IPv4 checksum is 0) */
static size_t
ref_frame(uint8_t *fr, const struct tcp_out *o, const struct rte_ether_addr *mac, bool offload)
{
	bool v4 = o->family == TCP_V4;
	size_t iplen = v4 ? 20 : 40, tlen;
	uint8_t *ip = fr + 14, *tcp = ip + iplen;
	uint32_t ps;

	memcpy(fr, mac, 6);
	memcpy(fr + 6, &gate_mac, 6);
	put16(fr + 12, v4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
	tlen = ref_tcp(tcp, o);
	memset(ip, 0, iplen);
	if (v4) {
		ip[0] = 0x45;
		put16(ip + 2, (unsigned)(20 + tlen));
		put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, o->src.b, 4);
		memcpy(ip + 16, o->dst.b, 4);
		if (!offload)
			put16(ip + 10, ~fold16(sum16(0, ip, 20)) & 0xffff);
		ps = sum16(sum16(IPPROTO_TCP + (uint32_t)tlen, o->src.b, 4), o->dst.b, 4);
	} else {
		ip[0] = 0x60;
		put16(ip + 4, (unsigned)tlen);
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		memcpy(ip + 8, o->src.b, 16);
		memcpy(ip + 24, o->dst.b, 16);
		ps = sum16(sum16(IPPROTO_TCP + (uint32_t)tlen, o->src.b, 16), o->dst.b, 16);
	}
	if (offload)
		put16(tcp + 16, fold16(ps));
	else
		put16(tcp + 16, ~fold16(sum16(ps, tcp, tlen)) & 0xffff);
	return 14 + iplen + tlen;
}

/* The payload's source: pieces are taken from anywhere in it (any alignment). */
static uint8_t src_bytes[4096];

enum kind {
	K_SYNACK, /* options of a SYN-ACK, any mix */
	K_DATA_TS,
	K_DATA,     /* no options */
	K_FIN,      /* with or without data */
	K_RST,      /* RST, or RST-ACK */
	K_ACK_SACK, /* a bare ACK with SACK blocks, with or without TS */
	K_ACK_TS,
	K_COUNT,
};

static const char *const kind_name[K_COUNT] = {"SYN-ACK", "data+TS",  "data",  "FIN",
                                               "RST",     "ACK+SACK", "ACK+TS"};

/* payload - len bytes in one piece, or two (a random split), at random offsets */
static void
payload(struct tcp_out *o, uint32_t len)
{
	uint32_t a = len, b = 0;

	if (len > 1 && rnd(2)) {
		a = 1 + rnd(len - 1); /* odd or even: the second piece at either offset */
		b = len - a;
	}
	o->data[0] = src_bytes + rnd(sizeof(src_bytes) - a);
	o->len[0] = a;
	o->data[1] = src_bytes + rnd(sizeof(src_bytes) - b);
	o->len[1] = b;
}

/* paylen - a payload length: every one up to 80 often, sometimes long */
static uint32_t
paylen(void)
{
	return rnd(8) == 0 ? 80 + rnd(1400) : rnd(81);
}

/* segment - a random segment of kind k from us at laddr to the peer */
static void
segment(struct tcp_out *o, enum kind k, bool v6, unsigned peer)
{
	memset(o, 0, sizeof(*o));
	o->family = v6 ? TCP_V6 : TCP_V4;
	if (v6) {
		o->src.b[0] = 0xfd, o->src.b[15] = 2;
		o->dst.b[0] = 0xfd, o->dst.b[15] = (uint8_t)(0x10 + peer);
	} else {
		memcpy(o->src.b, (const uint8_t[]){10, 0, 0, 2}, 4);
		memcpy(o->dst.b, (const uint8_t[]){10, 0, 0, (uint8_t)(10 + peer)}, 4);
	}
	o->sport = 25;
	o->dport = (uint16_t)(1024 + rnd(64000));
	o->seq = (uint32_t)tap_rnd();
	o->ack = (uint32_t)tap_rnd();
	o->wnd = (uint16_t)rnd(65536);
	o->opt.ts_val = (uint32_t)tap_rnd();
	o->opt.ts_ecr = (uint32_t)tap_rnd();
	switch (k) {
	case K_SYNACK:
		o->flags = TCP_SYN | TCP_ACK;
		o->opt.has = (uint8_t)(TCP_O_MSS | (rnd(2) ? TCP_O_WS : 0) |
		                       (rnd(2) ? TCP_O_SACKOK : 0) | (rnd(2) ? TCP_O_TS : 0));
		o->opt.mss = (uint16_t)(536 + rnd(1000));
		o->opt.wscale = (uint8_t)rnd(15);
		break;
	case K_DATA_TS:
		o->flags = TCP_ACK | (rnd(2) ? TCP_PSH : 0);
		o->opt.has = TCP_O_TS;
		payload(o, paylen());
		break;
	case K_DATA:
		o->flags = TCP_ACK | (rnd(2) ? TCP_PSH : 0);
		payload(o, paylen());
		break;
	case K_FIN:
		o->flags = TCP_ACK | TCP_FIN | (rnd(2) ? TCP_PSH : 0);
		o->opt.has = rnd(2) ? TCP_O_TS : 0;
		payload(o, rnd(2) ? paylen() : 0);
		break;
	case K_RST:
		o->flags = TCP_RST | (rnd(2) ? TCP_ACK : 0);
		break;
	case K_ACK_SACK:
		o->flags = TCP_ACK;
		o->opt.has = TCP_O_SACK | (rnd(2) ? TCP_O_TS : 0);
		o->opt.nsack = (uint8_t)(1 + rnd(o->opt.has & TCP_O_TS ? 3 : 4));
		for (unsigned i = 0; i < o->opt.nsack; i++) {
			o->opt.sack[i][0] = (uint32_t)tap_rnd();
			o->opt.sack[i][1] = o->opt.sack[i][0] + 1 + rnd(5000);
		}
		break;
	default:
		o->flags = TCP_ACK;
		o->opt.has = TCP_O_TS;
		break;
	}
}

struct tally {
	unsigned n, bad, kinds[K_COUNT], bad_kind[K_COUNT];
	unsigned odd_second, v6, peer_changes;
};

/* one - o out through tcpio_emit(), compared with the reference */
static bool
one(struct tally *t, const struct tcp_out *o, enum kind k, unsigned peer, bool offload)
{
	static uint8_t want[FRAME_MAX];
	size_t len = ref_frame(want, o, &peer_mac[peer], offload);
	unsigned n0 = sent.n;
	bool same;
	uint64_t ol = o->family == TCP_V4 ? RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM
	                                  : RTE_MBUF_F_TX_IPV6;

	lc->now++;
	same = tcpio_emit(lc, o) == 0;
	lc_flush(lc, 0);
	same = same && sent.n == n0 + 1 && sent.len == len && memcmp(sent.fr, want, len) == 0;
	if (offload)
		same = same && sent.ol_flags == (ol | RTE_MBUF_F_TX_TCP_CKSUM) &&
		       sent.l2_len == 14 && sent.l3_len == (o->family == TCP_V4 ? 20u : 40u);
	t->n++;
	t->kinds[k]++;
	if (!same) {
		if (t->bad == 0)
			printf("#   first difference: %s, %s, payload %u + %u bytes\n",
			       kind_name[k], o->family == TCP_V4 ? "IPv4" : "IPv6", o->len[0],
			       o->len[1]);
		t->bad++;
		t->bad_kind[k]++;
	}
	t->odd_second += o->len[1] > 0 && (o->len[0] & 1);
	t->v6 += o->family == TCP_V6;
	return same;
}

/* run - n random segments; with offload, the device sums */
static void
run(const char *name, unsigned n, bool offload)
{
	struct tally t = {0};
	unsigned peer = 0;
	uint64_t tx0 = lc->stats.drop_nomem + lc->stats.drop_noroute;

	gate_ports.tx_csum = offload;
	for (unsigned i = 0; i < n; i++) {
		struct tcp_out o;
		enum kind k = (enum kind)rnd(K_COUNT);
		bool v6 = rnd(5) == 0;

		if (rnd(6) == 0) { /* another peer: the prebuilt header is rebuilt */
			peer = (peer + 1 + rnd(NPEER - 1)) % NPEER;
			t.peer_changes++;
		}
		segment(&o, k, v6, peer);
		one(&t, &o, k, peer, offload);
	}
	is_int(t.bad, 0, "%s: %u segments, each frame the reference's byte for byte", name, t.n);
	for (int k = 0; k < K_COUNT; k++)
		if (t.bad_kind[k] > 0)
			printf("#   %s: %u of %u differ\n", kind_name[k], t.bad_kind[k],
			       t.kinds[k]);
	ok(t.odd_second > n / 50 && t.v6 > n / 10 && t.peer_changes > n / 10,
	   "%s: %u with a second piece at an odd offset, %u IPv6, %u peer changes", name,
	   t.odd_second, t.v6, t.peer_changes);
	is_int(lc->stats.drop_nomem + lc->stats.drop_noroute - tx0, 0, "%s: nothing dropped", name);
}

/* every_length - data with timestamps of every payload length 0..200, in
 * one piece, to one peer (the prebuilt header's path), from every
 * alignment of the source; then each split in two at every point */
static void
every_length(void)
{
	struct tally t = {0};
	unsigned bad1 = 0;

	gate_ports.tx_csum = false;
	for (uint32_t len = 0; len <= 200; len++) {
		struct tcp_out o;

		segment(&o, K_DATA_TS, false, 0);
		o.data[0] = src_bytes + 1 + len % 8;
		o.len[0] = len;
		o.len[1] = 0;
		one(&t, &o, K_DATA_TS, 0, false);
	}
	bad1 = t.bad;
	for (uint32_t len = 2; len <= 72; len++) {
		for (uint32_t a = 1; a < len; a++) {
			struct tcp_out o;

			segment(&o, rnd(2) ? K_DATA_TS : K_DATA, false, 0);
			o.data[0] = src_bytes + 3 + a;
			o.len[0] = a;
			o.data[1] = src_bytes + 1000 + len;
			o.len[1] = len - a;
			one(&t, &o, K_DATA, 0, false);
		}
	}
	is_int(bad1, 0, "one piece of every length 0..200: the reference's frame");
	is_int(t.bad - bad1, 0, "two pieces, every split of 2..72 bytes: the reference's frame");
}

/* too_big - a segment that does not fit an mbuf is refused and counted, nothing sent */
static void
too_big(void)
{
	struct tcp_out o;
	unsigned n0 = sent.n;
	uint64_t nomem = lc->stats.drop_nomem;
	int rc;

	segment(&o, K_DATA_TS, false, 0);
	o.data[0] = src_bytes;
	o.len[0] = 2048;
	o.len[1] = 0;
	rc = tcpio_emit(lc, &o);
	lc_flush(lc, 0);
	ok(rc == -1 && sent.n == n0 && lc->stats.drop_nomem == nomem + 1,
	   "a segment larger than an mbuf: -1, counted, nothing sent");
}

int
main(int argc, char **argv)
{
	char prefix[48], rundir[PATH_MAX];
	char *eal[] = {argc > 0 ? argv[0] : "test_emit",
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
	snprintf(prefix, sizeof(prefix), "--file-prefix=sgn8em%d", (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		printf("Bail out! rte_eal_init\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("sgn8_test_emit", 511, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (pool == NULL) {
		printf("Bail out! mbuf pool\n");
		return 1;
	}
	tap_seed(8);
	for (size_t i = 0; i < sizeof(src_bytes); i++)
		src_bytes[i] = (uint8_t)rnd(256);
	gc.nports = 1;
	gc.ports[0].naddr = 2;
	gc.ports[0].addr[0] = (struct cidr){.family = 4, .len = 24, .addr = {10, 0, 0, 2}};
	gc.ports[0].addr[1] = (struct cidr){.family = 6, .len = 64, .addr = {0xfd, [15] = 2}};
	gate_ports.n = 1;
	gate_ports.mac[0] = gate_mac;
	lc = aligned_alloc(RTE_CACHE_LINE_SIZE,
	                   RTE_ALIGN_CEIL(sizeof(struct lcore_conf), RTE_CACHE_LINE_SIZE));
	memset(lc, 0, sizeof(*lc));
	lc->gc = &gc;
	lc->pool = pool;
	lc->nbr.timeout_ms = 3600 * 1000;
	lc->now = 1000000;
	for (unsigned i = 0; i < NPEER; i++) {
		nbr_learn(&lc->nbr, 4, (const uint8_t[]){10, 0, 0, (uint8_t)(10 + i)}, 0,
		          &peer_mac[i], lc->now);
		nbr_learn(&lc->nbr, 6, (const uint8_t[]){0xfd, [15] = (uint8_t)(0x10 + i)}, 0,
		          &peer_mac[i], lc->now);
	}
	every_length();
	run("computed checksums", 20000, false);
	run("device offload", 5000, true);
	too_big();
	free(lc);
	rte_mempool_free(pool);
	/* EAL leaves its (empty, with --no-shconf) runtime directory behind */
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
	return done_testing();
}
