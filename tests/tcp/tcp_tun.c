/* tcp_tun - the TCP stack against the Linux TCP stack through a TUN device
 *
 * Test-only. Creates a TUN device (IFF_TUN | IFF_NO_PI), reads IP packets
 * from it, parses just enough IPv4/IPv6 to find TCP for our addresses
 * (10.77.0.2, fd77::2), checks the TCP checksum, and feeds a tcp_lcore.
 * Segments the stack emits become IP packets written back to the TUN.
 * Runs until SIGTERM, then prints the stack's counters as "stat NAME N".
 *
 * Test applications, by port:
 *   25  line responder: "220 tcp_tun ready" on accept, "250 ok N" per CRLF
 *       line, "221 bye" and close on QUIT; closes on the peer's FIN
 *   7   echo; closes after the peer's FIN once everything is echoed
 *   19  reads "N\r\n", sends N pattern bytes, closes first (our TIME_WAIT)
 * Active open (--active ADDR PORT BYTES, repeatable up to 4): connects
 * after 500 ms, sends BYTES pattern bytes, expects them echoed, closes, and
 * prints "active ADDR ok|FAIL ...".
 * --cookies: SYN cookies for every SYN. --impair LOSS,DELAY,REORDER:
 * loss and reorder in percent, delay in ms, for kernels without netem.
 * Like `tc qdisc add dev TUN root netem ...` on the kernel side, it acts on
 * what the kernel sends us only, with netem's model: a reordered packet
 * skips the delay.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tcp.h"

#define PKT_MAX   2048
#define DELAY_MAX 8192

static volatile sig_atomic_t quit;
static int tun_fd;
static struct tcp_lcore *lc;
static struct tcp_ip me4, me6;
static unsigned loss_pct, delay_ms, reorder_pct;
static uint64_t rng = 88172645463325252ULL;
static unsigned long long bad_csum, not_ours, tx_pkts, rx_pkts, dropped_imp;

/* A packet held back by the impairment, either way. */
struct held {
	uint64_t at;
	int out; /* 1: to the kernel, 0: to our stack */
	uint16_t len;
	uint8_t buf[PKT_MAX];
};
static struct held *dq;
static unsigned dq_n;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned
rnd100(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % 100);
}

static void input_pkt(const uint8_t *p, size_t n);

/* impair - true when the packet was taken (dropped or delayed) */
static bool
impair(const uint8_t *p, size_t n, int out)
{
	if (loss_pct == 0 && delay_ms == 0)
		return false;
	if (rnd100() < loss_pct) {
		dropped_imp++;
		return true;
	}
	if (delay_ms == 0 || rnd100() < reorder_pct || dq_n == DELAY_MAX || n > PKT_MAX)
		return false;
	dq[dq_n].at = now_ms() + delay_ms;
	dq[dq_n].out = out;
	dq[dq_n].len = (uint16_t)n;
	memcpy(dq[dq_n].buf, p, n);
	dq_n++;
	return true;
}

static void
tun_write(const uint8_t *p, size_t n)
{
	if (write(tun_fd, p, n) < 0 && errno != EAGAIN)
		perror("tun write");
	tx_pkts++;
}

static void
dq_run(void)
{
	uint64_t t = now_ms();
	unsigned i = 0;

	while (i < dq_n) {
		if (dq[i].at > t) {
			i++;
			continue;
		}
		struct held h = dq[i];

		memmove(&dq[i], &dq[i + 1], (dq_n - i - 1) * sizeof(dq[0]));
		dq_n--;
		if (h.out)
			tun_write(h.buf, h.len);
		else
			input_pkt(h.buf, h.len);
	}
}

/* emit - IP header by hand, TCP by tcp_wire */
static int
emit(void *arg, const struct tcp_out *o)
{
	uint8_t pkt[PKT_MAX];
	size_t ihl = o->family == TCP_V6 ? 40 : 20, hl, plen = tcp_wire_payload_len(o), tot;

	(void)arg;
	hl = tcp_wire_build(pkt + ihl, sizeof(pkt) - ihl, o);
	tot = ihl + hl + plen;
	if (hl == 0 || tot > sizeof(pkt))
		return -1;
	if (o->len[0] > 0)
		memcpy(pkt + ihl + hl, o->data[0], o->len[0]);
	if (o->len[1] > 0)
		memcpy(pkt + ihl + hl + o->len[0], o->data[1], o->len[1]);
	tcp_wire_csum_out(pkt + ihl, hl, o);
	if (o->family == TCP_V4) {
		uint32_t s = 0;

		pkt[0] = 0x45;
		pkt[1] = 0;
		pkt[2] = (uint8_t)(tot >> 8);
		pkt[3] = (uint8_t)tot;
		pkt[4] = pkt[5] = 0;
		pkt[6] = 0x40; /* DF */
		pkt[7] = 0;
		pkt[8] = 64;
		pkt[9] = 6;
		pkt[10] = pkt[11] = 0;
		memcpy(pkt + 12, o->src.b, 4);
		memcpy(pkt + 16, o->dst.b, 4);
		s = tcp_csum_add(0, pkt, 20);
		uint16_t c = tcp_csum_fold(s);

		pkt[10] = (uint8_t)(c >> 8);
		pkt[11] = (uint8_t)c;
	} else {
		size_t pl = hl + plen;

		pkt[0] = 0x60;
		pkt[1] = pkt[2] = pkt[3] = 0;
		pkt[4] = (uint8_t)(pl >> 8);
		pkt[5] = (uint8_t)pl;
		pkt[6] = 6;
		pkt[7] = 64;
		memcpy(pkt + 8, o->src.b, 16);
		memcpy(pkt + 24, o->dst.b, 16);
	}
	tun_write(pkt, tot);
	return 0;
}

/* input_pkt - minimal IPv4/IPv6 parse, TCP checksum, into the stack */
static void
input_pkt(const uint8_t *p, size_t n)
{
	struct tcp_seg seg;
	size_t ihl, tot;

	memset(&seg, 0, sizeof(seg));
	if (n >= 20 && p[0] >> 4 == 4) {
		ihl = (size_t)(p[0] & 15) * 4;
		tot = (size_t)(p[2] << 8 | p[3]);
		if (ihl < 20 || tot > n || tot < ihl || p[9] != 6 ||
		    memcmp(p + 16, me4.b, 4) != 0 || (p[6] & 0x3f) || p[7]) {
			not_ours++;
			return;
		}
		seg.family = TCP_V4;
		memcpy(seg.src.b, p + 12, 4);
		memcpy(seg.dst.b, p + 16, 4);
	} else if (n >= 40 && p[0] >> 4 == 6) {
		ihl = 40;
		tot = 40 + (size_t)(p[4] << 8 | p[5]);
		if (tot > n || p[6] != 6 || memcmp(p + 24, me6.b, 16) != 0) {
			not_ours++;
			return;
		}
		seg.family = TCP_V6;
		memcpy(seg.src.b, p + 8, 16);
		memcpy(seg.dst.b, p + 24, 16);
	} else {
		not_ours++;
		return;
	}
	if (!tcp_wire_csum_ok(seg.family, &seg.src, &seg.dst, p + ihl, tot - ihl)) {
		bad_csum++;
		tcp_lcore_stats(lc)->drop_csum++;
		return;
	}
	if (tcp_wire_parse(p + ihl, tot - ihl, &seg) != 0) {
		tcp_lcore_stats(lc)->drop_hdr++;
		return;
	}
	tcp_input(lc, &seg, now_ms());
}

/* ---- test applications ---- */

enum kind { K_LINE, K_ECHO, K_GEN, K_ACTIVE };

struct conn {
	struct conn *next, *prev; /* all of them, freed at exit */
	enum kind kind;
	char line[1024];
	size_t llen;
	unsigned long nlines;
	uint64_t gen_left, gen_off; /* chargen: bytes still to queue */
	/* active */
	int slot;
	uint64_t act_total, act_sent, act_rcvd;
	bool act_bad;
};

static struct conn conns = {.next = &conns, .prev = &conns};

static struct conn *
conn_new(enum kind kind)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->kind = kind;
	c->next = conns.next;
	c->prev = &conns;
	conns.next->prev = c;
	conns.next = c;
	return c;
}

static void
conn_free(struct conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c);
}

static const char *
pattern(uint64_t off, size_t *n)
{
	static char pat[4096 + 251];
	static bool init;

	if (!init) {
		for (size_t i = 0; i < sizeof(pat); i++)
			pat[i] = (char)('A' + i % 251 % 58);
		init = true;
	}
	*n = 4096;
	return pat + off % 251;
}

static void
gen_push(struct tcp_flow *f, struct conn *c)
{
	while (c->gen_left > 0) {
		size_t n;
		const char *p = pattern(c->gen_off, &n);
		size_t k = tcp_send(f, p, c->gen_left < n ? c->gen_left : n);

		if (k == 0)
			return;
		c->gen_left -= k;
		c->gen_off += k;
	}
}

static int
app_accept(void *ctx, struct tcp_flow *f)
{
	struct conn *c = conn_new((enum kind)(intptr_t)ctx);

	if (c == NULL)
		return -1;
	tcp_flow_set_app(f, c);
	if (c->kind == K_LINE)
		tcp_send(f, "220 tcp_tun ready\r\n", 19);
	return 0;
}

static size_t
line_data(struct tcp_flow *f, struct conn *c, const char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (c->llen < sizeof(c->line) - 1)
			c->line[c->llen++] = b[i];
		if (b[i] != '\n')
			continue;
		if (tcp_send_space(f) < 64) { /* output full: take no more, TCP holds the rest */
			c->llen--;
			return i;
		}
		c->nlines++;
		if (c->llen >= 6 && strncasecmp(c->line, "QUIT", 4) == 0) {
			tcp_send(f, "221 bye\r\n", 9);
			tcp_close(f);
			c->llen = 0;
			return len;
		}
		char r[64];
		int n = snprintf(r, sizeof(r), "250 ok %lu\r\n", c->nlines);

		tcp_send(f, r, (size_t)n);
		c->llen = 0;
	}
	return len;
}

static size_t
app_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct conn *c = tcp_flow_app(f);

	(void)ctx;
	switch (c->kind) {
	case K_LINE:
		return line_data(f, c, buf, len);
	case K_ECHO:
		return tcp_send(f, buf, len);
	case K_GEN:
		for (size_t i = 0; i < len; i++) {
			if (((const char *)buf)[i] == '\n' && c->gen_off == 0 && c->gen_left == 0) {
				c->line[c->llen] = 0;
				c->gen_left = strtoull(c->line, NULL, 10);
				gen_push(f, c);
				if (c->gen_left == 0)
					tcp_close(f);
			} else if (c->llen < 30) {
				c->line[c->llen++] = ((const char *)buf)[i];
			}
		}
		return len;
	case K_ACTIVE: {
		const char *b = buf;

		for (size_t i = 0; i < len; i++) {
			size_t n;

			if (b[i] != pattern(c->act_rcvd + i, &n)[0])
				c->act_bad = true;
		}
		c->act_rcvd += len;
		if (c->act_rcvd >= c->act_total)
			tcp_close(f);
		return len;
	}
	}
	return len;
}

static void
active_push(struct tcp_flow *f, struct conn *c)
{
	while (c->act_sent < c->act_total) {
		size_t n;
		const char *p = pattern(c->act_sent, &n);
		uint64_t left = c->act_total - c->act_sent;
		size_t k = tcp_send(f, p, left < n ? left : n);

		if (k == 0)
			return;
		c->act_sent += k;
	}
}

static void
app_sent(void *ctx, struct tcp_flow *f)
{
	struct conn *c = tcp_flow_app(f);

	(void)ctx;
	if (c->kind == K_GEN) {
		gen_push(f, c);
		if (c->gen_left == 0 && c->gen_off > 0)
			tcp_close(f);
	} else if (c->kind == K_ACTIVE) {
		active_push(f, c);
	}
	tcp_rx_resume(f);
}

static void
app_fin(void *ctx, struct tcp_flow *f)
{
	struct conn *c = tcp_flow_app(f);

	(void)ctx;
	if (c->kind != K_GEN || c->gen_left == 0)
		tcp_close(f);
}

static char act_addr[4][64];
static uint16_t act_port[4];
static uint64_t act_bytes[4];
static int n_active, active_done;

static void
app_closed(void *ctx, struct tcp_flow *f, enum tcp_end why)
{
	struct conn *c = tcp_flow_app(f);

	(void)ctx;
	if (c == NULL)
		return;
	if (c->kind == K_ACTIVE) {
		bool good = !c->act_bad && c->act_rcvd == c->act_total &&
		            c->act_sent == c->act_total && why == TCP_END_NORMAL;

		printf("active %s ok=%d sent=%llu rcvd=%llu why=%d\n", act_addr[c->slot], good,
		       (unsigned long long)c->act_sent, (unsigned long long)c->act_rcvd, (int)why);
		fflush(stdout);
		active_done++;
	}
	conn_free(c);
	tcp_flow_set_app(f, NULL);
}

static void
app_connected(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	active_push(f, tcp_flow_app(f));
}

static void
on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static int
tun_open(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	const char *name = "sgtcp0";
	struct tcp_conf conf;
	struct tcp_app app = {
	        .accept = app_accept,
	        .connected = app_connected,
	        .data = app_data,
	        .peer_fin = app_fin,
	        .sent = app_sent,
	        .closed = app_closed,
	};
	int id_line, id_echo, id_gen, id_act;
	uint64_t start;
	bool started = false;

	tcp_conf_default(&conf);
	conf.max_flows = 4096;
	conf.nchunks = 8192;
	conf.rcv_buf = 256 * 1024; /* WS 3: window scaling exercised */
	conf.snd_buf = 128 * 1024;
	conf.emit = emit;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tun") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "--cookies") == 0) {
			conf.cookies = TCP_COOKIES_ALWAYS;
		} else if (strcmp(argv[i], "--impair") == 0 && i + 1 < argc) {
			if (sscanf(argv[++i], "%u,%u,%u", &loss_pct, &delay_ms, &reorder_pct) != 3)
				return 2;
		} else if (strcmp(argv[i], "--active") == 0 && i + 3 < argc && n_active < 4) {
			snprintf(act_addr[n_active], sizeof(act_addr[0]), "%s", argv[i + 1]);
			act_port[n_active] = (uint16_t)atoi(argv[i + 2]);
			act_bytes[n_active] = strtoull(argv[i + 3], NULL, 10);
			n_active++;
			i += 3;
		} else {
			fprintf(stderr,
			        "usage: %s [--tun NAME] [--cookies] [--impair L,D,R] "
			        "[--active ADDR PORT BYTES]...\n",
			        argv[0]);
			return 2;
		}
	}
	dq = calloc(DELAY_MAX, sizeof(*dq));
	inet_pton(AF_INET, "10.77.0.2", me4.b);
	inet_pton(AF_INET6, "fd77::2", me6.b);
	tun_fd = tun_open(name);
	if (tun_fd < 0) {
		perror("tun");
		return 1;
	}
	lc = tcp_lcore_create(&conf);
	if (lc == NULL || dq == NULL) {
		fprintf(stderr, "tcp_lcore_create failed\n");
		return 1;
	}
	id_line = tcp_app_register(lc, &app, (void *)(intptr_t)K_LINE);
	id_echo = tcp_app_register(lc, &app, (void *)(intptr_t)K_ECHO);
	id_gen = tcp_app_register(lc, &app, (void *)(intptr_t)K_GEN);
	id_act = tcp_app_register(lc, &app, (void *)(intptr_t)K_ACTIVE);
	tcp_listen(lc, 25, id_line);
	tcp_listen(lc, 7, id_echo);
	tcp_listen(lc, 19, id_gen);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready %s\n", name);
	fflush(stdout);
	start = now_ms();
	while (!quit) {
		struct pollfd pfd = {.fd = tun_fd, .events = POLLIN};
		uint8_t buf[PKT_MAX];
		ssize_t n;

		poll(&pfd, 1, dq_n ? 1 : 5);
		for (int k = 0; k < 64; k++) {
			n = read(tun_fd, buf, sizeof(buf));
			if (n <= 0)
				break;
			rx_pkts++;
			if (!impair(buf, (size_t)n, 0))
				input_pkt(buf, (size_t)n);
		}
		dq_run();
		tcp_timers_run(lc, now_ms());
		if (!started && n_active > 0 && now_ms() - start > 500) {
			started = true;
			for (int i = 0; i < n_active; i++) {
				struct conn *c = conn_new(K_ACTIVE);
				struct tcp_ip r = {{0}};
				bool v6 = strchr(act_addr[i], ':') != NULL;

				c->slot = i;
				c->act_total = act_bytes[i];
				inet_pton(v6 ? AF_INET6 : AF_INET, act_addr[i], r.b);
				if (tcp_connect(lc, v6 ? TCP_V6 : TCP_V4, v6 ? &me6 : &me4, &r,
				                act_port[i], id_act, c, now_ms()) == NULL) {
					printf("active %s ok=0 connect failed\n", act_addr[i]);
					conn_free(c);
				}
			}
			fflush(stdout);
		}
	}
	{
		struct tcp_stats *st = tcp_lcore_stats(lc);
#define S(x) printf("stat %s %llu\n", #x, (unsigned long long)st->x)
		S(seg_in);
		S(seg_out);
		S(bytes_in);
		S(bytes_out);
		S(retransmits);
		S(rto_fired);
		S(fast_retransmits);
		S(probes);
		S(rst_in);
		S(rst_out);
		S(challenge_acks);
		S(cookies_sent);
		S(cookies_ok);
		S(cookies_bad);
		S(accepted);
		S(connected);
		S(timeouts);
		S(resets);
		S(tw_recycled);
		S(drop_csum);
		S(drop_window);
		S(drop_ack);
		S(drop_noflow);
		S(drop_noport);
		S(drop_nopool);
		S(drop_ooo);
		S(flows_active);
		S(flows_tw);
		S(half_open);
		S(chunks_used);
#undef S
		printf("stat harness_bad_csum %llu\nstat harness_not_ours %llu\n"
		       "stat harness_rx %llu\nstat harness_tx %llu\nstat harness_impaired_drop "
		       "%llu\n",
		       bad_csum, not_ours, rx_pkts, tx_pkts, dropped_imp);
		fflush(stdout);
	}
	tcp_lcore_destroy(lc); /* no callbacks: the applications' state goes here */
	while (conns.next != &conns)
		conn_free(conns.next);
	free(dq);
	return 0;
}
