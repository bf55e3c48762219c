/* smtpgate-bench - SMTP sessions against the gate, from a DPDK port
 *
 *   smtpgate-bench [EAL options] -- [options]
 *
 * The port is the first ethdev EAL has (in the bench a memif client:
 * --vdev=net_memif0,role=client,socket=PATH,socket-abstract=no). main()
 * brings it up, waits for the link and the gate's MAC, then runs one poll
 * loop on the main lcore: rx burst into the TCP stack, timers, new sessions
 * within the concurrency and rate limits, tx flush; a progress line every
 * second on stderr; after --duration (or --sessions) it waits --grace for
 * the sessions in flight and prints the report (text, or --json).
 * With --syn-flood, SYNs from spoofed sources go out in the same loop,
 * after the sessions' packets, for as long as the load runs.
 * With --runs, one process plays many runs on one memif connection (a
 * client leaving while the gate polls can crash DPDK 22.11's memif
 * server: bench/RESULTS.md, the memif section's notes).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "sgb.h"

#define SGB_MBUFS       16383 /* per pool: the rings' worth of both directions, many times */
#define SGB_BODY_SNDBUF 16384 /* send buffer of a flow: 8 chunks of body in flight */

static volatile sig_atomic_t signals;

/* on_signal - the first signal ends the load, the second the wait for sessions in flight */
static void
on_signal(int sig)
{
	(void)sig;
	signals++;
}

/* usage - the options, on stderr */
static void
usage(void)
{
	fprintf(stderr,
	        "usage: smtpgate-bench [EAL options] -- [options]\n"
	        "  --gate IP            the gate's address (198.18.0.1)\n"
	        "  --addr IP            ours on the link: the clients' router (198.18.0.2)\n"
	        "  --dport N            the gate's SMTP port (25)\n"
	        "  --mix K=W,...        session kinds and weights: connect, helo, mail, rcpt,\n"
	        "                       accept, idle (EHLO, then silence) (rcpt=1)\n"
	        "  --clients CIDR       client addresses (10.1.0.0/16)\n"
	        "  --bad-clients CIDR   addresses the gate refuses at connect (10.66.0.0/16)\n"
	        "  --helo T, --bad-helo T, --from T, --bad-from T, --rcpt T, --bad-rcpt T\n"
	        "                       HELO names and addresses; {n} is the session number\n"
	        "  --body N             message bytes of accepted sessions (1024)\n"
	        "  --helo-cmd           say HELO instead of EHLO\n"
	        "  -c, --concurrency N  sessions open at once (256)\n"
	        "  -r, --rate N         sessions started per second; 0: no limit (0)\n"
	        "  -d, --duration S     seconds of load (10; 0 with --sessions: until done)\n"
	        "  -n, --sessions N     start at most N sessions (0: no limit)\n"
	        "  --timeout S          a session's limit (10)\n"
	        "  --grace S            after the load, wait for sessions in flight (5)\n"
	        "  --link-wait S        for the link and the gate's ARP reply (10)\n"
	        "  --check-csum         verify the gate's IPv4 and TCP checksums\n"
	        "  --sink PORT          also be the gate's backend: an SMTP sink on PORT\n"
	        "  --syn-flood RATE     also flood the gate with SYNs from spoofed sources\n"
	        "                       during the load, RATE per second (0: as fast as the\n"
	        "                       port takes them); SYN-ACKs are never answered\n"
	        "  --flood-sources CIDR their addresses, random ports (10.200.0.0/13); apart\n"
	        "                       from --clients and --bad-clients\n"
	        "  --flood-rst          answer the gate's SYN-ACKs to them with RST\n"
	        "  --flood-after S      start the flood S seconds into the load: the report\n"
	        "                       gives the sessions before and during it apart (0)\n"
	        "  --linger             after the report, hold the port (without polling it)\n"
	        "                       until a SIGINT or SIGTERM that comes after the report\n"
	        "                       (one that ended the load does not count): stop the\n"
	        "                       gate first, and the link never goes down under its\n"
	        "                       polling lcore\n"
	        "  --batches            read session counts from stdin, one a line: run each\n"
	        "                       as a load of that many sessions (-d is ignored),\n"
	        "                       print a line \"batch K: ...\" on stdout after it;\n"
	        "                       at the end of input, the report of all of them\n"
	        "  --runs               read runs from stdin, one a line: \"FILE [options]\",\n"
	        "                       the options of a run over those given here\n"
	        "                       (-c no more than here's; no flood); each run's\n"
	        "                       report goes to FILE, whole once FILE exists; TCP\n"
	        "                       counters in it are totals since the start; the\n"
	        "                       port stays up, unpolled, between runs; the end of\n"
	        "                       input ends the program\n"
	        "  --json               the report as JSON\n"
	        "  -q, --quiet          no progress line\n");
}

/* tmpl_parse - split a template at its "{n}": 0 or -1 */
static int
tmpl_parse(struct sgb_tmpl *t, const char *s)
{
	const char *at = strstr(s, "{n}");
	size_t pre = at != NULL ? (size_t)(at - s) : strlen(s);
	size_t post = at != NULL ? strlen(at + 3) : 0;

	if (pre >= SGB_TEXT_MAX || post >= SGB_TEXT_MAX)
		return -1;
	memcpy(t->pre, s, pre);
	t->npre = (uint16_t)pre;
	if (at != NULL)
		memcpy(t->post, at + 3, post);
	t->npost = (uint16_t)post;
	t->has_n = at != NULL;
	return 0;
}

/* range_parse - "A.B.C.D/LEN" into a range of addresses: 0 or -1 */
static int
range_parse(struct sgb_range *r, const char *s)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	unsigned long len = 32;
	struct in_addr a;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	if (slash != NULL) {
		char *end;

		buf[slash - s] = '\0';
		len = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || len < 8 || len > 32)
			return -1;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	r->size = len == 32 ? 1 : 1u << (32 - len);
	r->base = ntohl(a.s_addr) & ~(r->size - 1);
	r->next = 0;
	return 0;
}

/* ranges_meet - whether two ranges share an address */
static bool
ranges_meet(const struct sgb_range *a, const struct sgb_range *b)
{
	return a->base < (uint64_t)b->base + b->size && b->base < (uint64_t)a->base + a->size;
}

/* ip_parse - a dotted quad in host order: 0 or -1 */
static int
ip_parse(uint32_t *ip, const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*ip = ntohl(a.s_addr);
	return 0;
}

/* mix_parse - "rcpt=7,connect=1" into weights and the round-robin table: 0 or -1 */
static int
mix_parse(struct sgb_conf *c, const char *s)
{
	char buf[256], *save = NULL;
	uint32_t total = 0;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	memset(c->weight, 0, sizeof(c->weight));
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		unsigned k;

		if (eq != NULL)
			*eq = '\0';
		for (k = 0; k < SGB_K_COUNT && strcmp(tok, sgb_kind_name[k]) != 0; k++)
			;
		if (k == SGB_K_COUNT)
			return -1;
		c->weight[k] = eq != NULL ? (uint32_t)strtoul(eq + 1, NULL, 10) : 1;
		total += c->weight[k];
	}
	if (total == 0 || total > SGB_KIND_TABLE)
		return -1;
	/* spread each kind over the table (smooth weighted round-robin) */
	int32_t cur[SGB_K_COUNT] = {0};

	c->ntable = total;
	for (uint32_t i = 0; i < total; i++) {
		unsigned best = 0;

		for (unsigned k = 0; k < SGB_K_COUNT; k++) {
			cur[k] += (int32_t)c->weight[k];
			if (cur[k] > cur[best])
				best = k;
		}
		cur[best] -= (int32_t)total;
		c->table[i] = (uint8_t)best;
	}
	return 0;
}

/* conf_default - the bench's defaults, matching bench/gate-bench.sh's policy */
static void
conf_default(struct sgb_conf *c)
{
	ip_parse(&c->gate_ip, "198.18.0.1");
	ip_parse(&c->my_ip, "198.18.0.2");
	c->dport = 25;
	range_parse(&c->clients, "10.1.0.0/16");
	range_parse(&c->bad_clients, "10.66.0.0/16");
	range_parse(&c->flood_src, "10.200.0.0/13");
	tmpl_parse(&c->helo, "client{n}.bench.example");
	tmpl_parse(&c->bad_helo, "host{n}.dyn.example");
	tmpl_parse(&c->from, "sender{n}@bench.example");
	tmpl_parse(&c->bad_from, "s{n}@spam.example");
	tmpl_parse(&c->rcpt, "user{n}@local.example");
	tmpl_parse(&c->bad_rcpt, "user{n}@elsewhere.example");
	mix_parse(c, "rcpt=1");
	c->body = 1024;
	c->ehlo = true;
	c->concurrency = 256;
	c->duration = 10;
	c->timeout_ms = 10000;
	c->grace_ms = 5000;
	c->link_wait_ms = 10000;
}

/* parse_args - the options after EAL's: 0, or -1 after a message */
static int
parse_args(struct sgb_conf *c, int argc, char **argv)
{
	enum {
		O_GATE = 256,
		O_ADDR,
		O_DPORT,
		O_MIX,
		O_CLIENTS,
		O_BAD_CLIENTS,
		O_HELO,
		O_BAD_HELO,
		O_FROM,
		O_BAD_FROM,
		O_RCPT,
		O_BAD_RCPT,
		O_BODY,
		O_HELO_CMD,
		O_TIMEOUT,
		O_GRACE,
		O_LINK_WAIT,
		O_CSUM,
		O_JSON,
		O_SINK,
		O_FLOOD,
		O_FLOOD_SRC,
		O_FLOOD_RST,
		O_FLOOD_AFTER,
		O_LINGER,
		O_BATCHES,
		O_RUNS,
	};
	static const struct option opts[] = {
	        {"gate", 1, NULL, O_GATE},
	        {"addr", 1, NULL, O_ADDR},
	        {"dport", 1, NULL, O_DPORT},
	        {"mix", 1, NULL, O_MIX},
	        {"clients", 1, NULL, O_CLIENTS},
	        {"bad-clients", 1, NULL, O_BAD_CLIENTS},
	        {"helo", 1, NULL, O_HELO},
	        {"bad-helo", 1, NULL, O_BAD_HELO},
	        {"from", 1, NULL, O_FROM},
	        {"bad-from", 1, NULL, O_BAD_FROM},
	        {"rcpt", 1, NULL, O_RCPT},
	        {"bad-rcpt", 1, NULL, O_BAD_RCPT},
	        {"body", 1, NULL, O_BODY},
	        {"helo-cmd", 0, NULL, O_HELO_CMD},
	        {"concurrency", 1, NULL, 'c'},
	        {"rate", 1, NULL, 'r'},
	        {"duration", 1, NULL, 'd'},
	        {"sessions", 1, NULL, 'n'},
	        {"timeout", 1, NULL, O_TIMEOUT},
	        {"grace", 1, NULL, O_GRACE},
	        {"link-wait", 1, NULL, O_LINK_WAIT},
	        {"check-csum", 0, NULL, O_CSUM},
	        {"json", 0, NULL, O_JSON},
	        {"sink", 1, NULL, O_SINK},
	        {"syn-flood", 1, NULL, O_FLOOD},
	        {"flood-sources", 1, NULL, O_FLOOD_SRC},
	        {"flood-rst", 0, NULL, O_FLOOD_RST},
	        {"flood-after", 1, NULL, O_FLOOD_AFTER},
	        {"linger", 0, NULL, O_LINGER},
	        {"batches", 0, NULL, O_BATCHES},
	        {"runs", 0, NULL, O_RUNS},
	        {"quiet", 0, NULL, 'q'},
	        {"help", 0, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int o, bad = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, "c:r:d:n:qh", opts, NULL)) != -1) {
		switch (o) {
		case O_GATE:
			bad |= ip_parse(&c->gate_ip, optarg);
			break;
		case O_ADDR:
			bad |= ip_parse(&c->my_ip, optarg);
			break;
		case O_DPORT:
			c->dport = (uint16_t)strtoul(optarg, NULL, 10);
			bad |= c->dport == 0 ? -1 : 0;
			break;
		case O_MIX:
			bad |= mix_parse(c, optarg);
			break;
		case O_CLIENTS:
			bad |= range_parse(&c->clients, optarg);
			break;
		case O_BAD_CLIENTS:
			bad |= range_parse(&c->bad_clients, optarg);
			break;
		case O_HELO:
			bad |= tmpl_parse(&c->helo, optarg);
			break;
		case O_BAD_HELO:
			bad |= tmpl_parse(&c->bad_helo, optarg);
			break;
		case O_FROM:
			bad |= tmpl_parse(&c->from, optarg);
			break;
		case O_BAD_FROM:
			bad |= tmpl_parse(&c->bad_from, optarg);
			break;
		case O_RCPT:
			bad |= tmpl_parse(&c->rcpt, optarg);
			break;
		case O_BAD_RCPT:
			bad |= tmpl_parse(&c->bad_rcpt, optarg);
			break;
		case O_BODY:
			c->body = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case O_HELO_CMD:
			c->ehlo = false;
			break;
		case 'c':
			c->concurrency = (uint32_t)strtoul(optarg, NULL, 10);
			bad |= c->concurrency == 0 || c->concurrency > SGB_MAX_CONC ? -1 : 0;
			break;
		case 'r':
			c->rate = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			c->duration = strtod(optarg, NULL);
			break;
		case 'n':
			c->sessions = strtoull(optarg, NULL, 10);
			break;
		case O_TIMEOUT:
			c->timeout_ms = (uint32_t)(strtod(optarg, NULL) * 1000);
			break;
		case O_GRACE:
			c->grace_ms = (uint32_t)(strtod(optarg, NULL) * 1000);
			break;
		case O_LINK_WAIT:
			c->link_wait_ms = (uint32_t)(strtod(optarg, NULL) * 1000);
			break;
		case O_CSUM:
			c->check_csum = true;
			break;
		case O_JSON:
			c->json = true;
			break;
		case O_SINK:
			c->sink_port = (uint16_t)strtoul(optarg, NULL, 10);
			bad |= c->sink_port == 0 ? -1 : 0;
			break;
		case O_FLOOD:
			c->flood = true;
			c->flood_rate = strtoull(optarg, NULL, 10);
			break;
		case O_FLOOD_SRC:
			bad |= range_parse(&c->flood_src, optarg);
			break;
		case O_FLOOD_RST:
			c->flood_rst = true;
			break;
		case O_FLOOD_AFTER:
			c->flood_after = strtod(optarg, NULL);
			bad |= c->flood_after < 0 ? -1 : 0;
			break;
		case O_LINGER:
			c->linger = true;
			break;
		case O_BATCHES:
			c->batches = true;
			break;
		case O_RUNS:
			c->runs = true;
			break;
		case 'q':
			c->quiet = true;
			break;
		default:
			usage();
			return -1;
		}
		if (bad) {
			fprintf(stderr, "smtpgate-bench: bad value \"%s\" (see --help)\n", optarg);
			return -1;
		}
	}
	if (c->batches) {
		/* each batch ends when its sessions are done: no clock, no rate
		 * (which counts from the start of the load), no flood */
		c->duration = 0;
		if (c->rate != 0 || c->flood) {
			fprintf(stderr,
			        "smtpgate-bench: --batches takes neither --rate nor --syn-flood\n");
			return -1;
		}
	}
	if (c->runs && (c->batches || c->flood)) {
		fprintf(stderr, "smtpgate-bench: --runs takes neither --batches nor --syn-flood\n");
		return -1;
	}
	if (optind != argc || (c->duration <= 0 && c->sessions == 0 && !c->batches) ||
	    c->timeout_ms == 0) {
		usage();
		return -1;
	}
	if (c->flood && (ranges_meet(&c->flood_src, &c->clients) ||
	                 ranges_meet(&c->flood_src, &c->bad_clients))) {
		fprintf(stderr, "smtpgate-bench: --flood-sources must be apart from the clients: "
		                "the gate's answers to them would reach the sessions\n");
		return -1;
	}
	return 0;
}

/* port_init - the first ethdev, one queue each way: 0 or -1 */
static int
port_init(struct sgb *g)
{
	struct rte_eth_conf conf = {0};
	uint16_t pid = RTE_MAX_ETHPORTS;
	char name[RTE_ETH_NAME_MAX_LEN] = "";
	int rc;

	RTE_ETH_FOREACH_DEV(pid)
	break;
	if (pid >= RTE_MAX_ETHPORTS) {
		fprintf(stderr, "smtpgate-bench: no port: give one to EAL, e.g. "
		                "--vdev=net_memif0,role=client,socket=PATH,socket-abstract=no\n");
		return -1;
	}
	g->port_id = pid;
	rte_eth_dev_get_name_by_port(pid, name);
	g->pool = rte_pktmbuf_pool_create("sgb_pool", SGB_MBUFS, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
	                                  (int)rte_socket_id());
	if (g->pool == NULL) {
		fprintf(stderr, "smtpgate-bench: cannot allocate %u mbufs: %s (give EAL -m)\n",
		        SGB_MBUFS, rte_strerror(rte_errno));
		return -1;
	}
	if ((rc = rte_eth_dev_configure(pid, 1, 1, &conf)) < 0 ||
	    (rc = rte_eth_rx_queue_setup(pid, 0, 1024, rte_eth_dev_socket_id(pid), NULL, g->pool)) <
	            0 ||
	    (rc = rte_eth_tx_queue_setup(pid, 0, 1024, rte_eth_dev_socket_id(pid), NULL)) < 0 ||
	    (rc = rte_eth_dev_start(pid)) < 0) {
		fprintf(stderr, "smtpgate-bench: port %s: %s\n", name, rte_strerror(-rc));
		return -1;
	}
	rte_eth_macaddr_get(pid, &g->mac);
	if (!g->c.json)
		printf("smtpgate-bench: port %s, MAC " RTE_ETHER_ADDR_PRT_FMT "\n", name,
		       RTE_ETHER_ADDR_BYTES(&g->mac));
	return 0;
}

/* stack_init - the TCP stack, sized for the concurrency: 0 or -1 */
static int
stack_init(struct sgb *g)
{
	struct tcp_conf tc;
	/* --runs: any run may send bodies */
	bool bodies = g->c.weight[SGB_K_ACCEPT] > 0 || g->c.runs;
	uint32_t per_flow = bodies ? SGB_BODY_SNDBUF / 2032 + 2 : 2;

	tcp_conf_default(&tc);
	/* the gate closes first (after QUIT): our flows never linger in TIME_WAIT;
	 * the sink may hold a relay flow for every session */
	tc.max_flows = (g->c.concurrency + g->c.concurrency / 4 + 64) * (g->c.sink_port ? 2 : 1);
	tc.nchunks = g->c.concurrency * per_flow + 1024;
	tc.tw_max = 1024;
	tc.snd_buf = SGB_BODY_SNDBUF;
	tc.cookies = TCP_COOKIES_NEVER;
	tc.emit = sgb_net_emit;
	tc.emit_arg = g;
	tc.pick_port = sgb_pick_port;
	tc.pick_arg = g;
	g->tcp = tcp_lcore_create(&tc);
	/* a random start for ports and addresses: the gate may still hold the
	 * tuples of an earlier run in TIME_WAIT */
	uint64_t r = rte_rdtsc() * 0x9e3779b97f4a7c15ull;

	g->next_port = (uint16_t)(1024 + (r >> 16) % (65536 - 1024));
	g->c.clients.next = (uint32_t)((r >> 32) % g->c.clients.size);
	g->c.bad_clients.next = (uint32_t)((r >> 40) % g->c.bad_clients.size);
	if (g->tcp == NULL || sgb_smtp_init(g) < 0 ||
	    (g->c.sink_port != 0 && sgb_sink_init(g, g->c.sink_port) < 0)) {
		fprintf(stderr, "smtpgate-bench: no memory for %u sessions\n", g->c.concurrency);
		return -1;
	}
	return 0;
}

/* ms_now - the monotonic clock in ms, from the TSC */
static uint64_t
ms_now(const struct sgb *g)
{
	return rte_rdtsc() / (g->tsc_hz / 1000);
}

/* poll - one rx burst into the stack, timers, and a tx flush; packets received */
static unsigned
poll_once(struct sgb *g)
{
	struct rte_mbuf *pkts[SGB_BURST];
	uint16_t n;

	g->now_ms = ms_now(g);
	n = rte_eth_rx_burst(g->port_id, 0, pkts, SGB_BURST);
	g->st.rx_pkts += n;
	for (uint16_t i = 0; i < n; i++)
		sgb_net_input(g, pkts[i]);
	tcp_timers_run(g->tcp, g->now_ms);
	return n;
}

/* link_up - wait for the link, then for the gate's MAC: 0 or -1 */
static int
link_up(struct sgb *g)
{
	uint64_t until = ms_now(g) + g->c.link_wait_ms, next_ask = 0;
	struct rte_eth_link link = {0};

	do {
		if (rte_eth_link_get_nowait(g->port_id, &link) == 0 && link.link_status)
			break;
		usleep(10000);
	} while (ms_now(g) < until && signals == 0);
	if (!link.link_status) {
		fprintf(stderr,
		        "smtpgate-bench: the link did not come up in %u ms (is the gate "
		        "running, with the memif server on the same socket?)\n",
		        g->c.link_wait_ms);
		return -1;
	}
	while (!g->gate_known && ms_now(g) < until && signals == 0) {
		if (ms_now(g) >= next_ask) {
			sgb_net_arp_ask(g);
			next_ask = ms_now(g) + 100;
		}
		poll_once(g);
		sgb_net_flush(g);
	}
	if (!g->gate_known) {
		fprintf(stderr, "smtpgate-bench: no ARP reply from the gate at %s\n",
		        inet_ntoa((struct in_addr){htonl(g->c.gate_ip)}));
		return -1;
	}
	return 0;
}

/* start_due - open the sessions that concurrency, rate and --sessions allow
 * now (t: seconds into the load), a few per loop; how many were opened */
static unsigned
start_due(struct sgb *g, uint64_t tsc, double t)
{
	uint64_t room = g->nfree < SGB_STARTS_LOOP ? g->nfree : SGB_STARTS_LOOP;
	unsigned started = 0;

	if (g->c.rate != 0) {
		uint64_t due = (uint64_t)(t * (double)g->c.rate) + 1;

		due = due > g->st.started ? due - g->st.started : 0;
		room = due < room ? due : room;
	}
	if (g->c.sessions != 0 && g->c.sessions - g->st.started < room)
		room = g->c.sessions - g->st.started;
	while (started < room && sgb_smtp_start(g, tsc) == 0)
		started++;
	return started;
}

/* flood_start - the flood begins now: the counters so far are the sessions
 * before it (g->pre), and the rate counts from now */
static void
flood_start(struct sgb *g, uint64_t tsc)
{
	g->flood.on = true;
	g->flood.t0 = tsc;
	g->flood.t_start = tsc;
	if (g->pre != NULL)
		*g->pre = g->st;
}

/* run - the load, then the drain; fills *w (the counters at the load's end) */
static void
run(struct sgb *g, struct sgb_stats *w, double *load_s, double *total_s)
{
	const uint64_t hz = g->tsc_hz;
	const uint64_t t0 = rte_rdtsc();
	uint64_t next_progress = t0 + hz, load_end = 0, drain_until = 0;
	struct sgb_stats *prev = calloc(1, sizeof(*prev));
	uint64_t prev_tsc = t0;

	for (;;) {
		uint64_t tsc = rte_rdtsc();
		unsigned n = poll_once(g), started = 0, flooded = 0;
		double t = (double)(tsc - t0) / (double)hz;

		if (load_end == 0) {
			bool cap = g->c.sessions != 0 && g->st.started >= g->c.sessions;

			if ((g->c.duration > 0 && t >= g->c.duration) || signals > 0 ||
			    (cap && g->active == 0)) {
				load_end = tsc;
				*w = g->st;
				drain_until = tsc + g->c.grace_ms * hz / 1000;
			} else if (!cap) {
				started = start_due(g, tsc, t);
			}
		}
		if (load_end != 0 && (g->active == 0 || tsc >= drain_until || signals > 1))
			break;
		sgb_net_flush(g);
		if (load_end == 0 && g->c.flood && t >= g->c.flood_after) {
			if (!g->flood.on)
				flood_start(g, tsc);
			flooded = sgb_flood_tick(g, tsc); /* after the sessions' packets */
		}
		uint64_t end = rte_rdtsc();

		g->st.loop_cycles += end - tsc;
		if (n > 0 || started > 0 || flooded > 0)
			g->st.busy_cycles += end - tsc;
		if (end >= next_progress) {
			if (!g->c.quiet && prev != NULL) {
				sgb_progress(g, (double)(end - t0) / (double)hz, prev,
				             (double)(end - prev_tsc) / (double)hz);
				*prev = g->st;
			}
			prev_tsc = end;
			next_progress += hz;
		}
	}
	*load_s = (double)(load_end - t0) / (double)hz;
	if (g->flood.on)
		g->flood.seconds = (double)(load_end - g->flood.t_start) / (double)hz;
	g->load_t0 = t0;
	sgb_flood_fini(g);
	/* what is still open is aborted (RST) and counted unfinished */
	sgb_smtp_abort_all(g);
	for (int i = 0; i < 100; i++) {
		poll_once(g);
		sgb_net_flush(g);
	}
	*total_s = (double)(rte_rdtsc() - t0) / (double)hz;
	free(prev);
}

/* batch_line - one line on stdout: what batch k did (b: the counters before it) */
static void
batch_line(const struct sgb *g, unsigned k, const struct sgb_stats *b)
{
	const struct sgb_stats *s = &g->st;
	uint64_t expected = 0, expected0 = 0;

	for (int i = 0; i < SGB_K_COUNT; i++) {
		expected += s->expected[i];
		expected0 += b->expected[i];
	}
	printf("batch %u: started %lu done %lu rejected %lu accepted %lu expected %lu "
	       "unfinished %lu retransmits %lu\n",
	       k, s->started - b->started, s->ends[SGB_E_DONE] - b->ends[SGB_E_DONE],
	       s->rejected - b->rejected, s->accepted - b->accepted, expected - expected0,
	       s->ends[SGB_E_UNFINISHED] - b->ends[SGB_E_UNFINISHED],
	       tcp_lcore_stats(g->tcp)->retransmits);
	fflush(stdout);
}

/* batches - --batches: one fixed-count load per line of stdin (a session
 * count), a line on stdout after each, until the end of input. The port
 * stays up, unpolled, between batches, so that a gate under valgrind is
 * measured phase by phase on one memif connection: a new connection per
 * phase would cost a handshake in the gate, and a client leaving while the
 * gate's lcore polls risks DPDK 22.11's memif crashing the gate. w gets the
 * counters at the last batch's end, load_s and total_s the sums. */
static void
batches(struct sgb *g, struct sgb_stats *w, double *load_s, double *total_s)
{
	struct sgb_stats *before = malloc(sizeof(*before));
	char line[64];
	unsigned k = 0;

	if (before == NULL)
		return;
	*w = g->st;
	while (signals == 0 && fgets(line, sizeof(line), stdin) != NULL) {
		char *end;
		uint64_t n = strtoull(line, &end, 10);
		double l = 0, t = 0;

		if (end == line || n == 0) {
			fprintf(stderr, "smtpgate-bench: --batches: not a session count: %s", line);
			continue;
		}
		*before = g->st;
		g->c.sessions = g->st.started + n;
		run(g, w, &l, &t);
		*load_s += l;
		*total_s += t;
		batch_line(g, ++k, before);
	}
	free(before);
}

/* run_args - split a --runs line into argv (argv[0]: the report's file);
 * the count, 0 for an empty line, -1 for too many words */
static int
run_args(char *line, char **argv, int max)
{
	int n = 0;

	for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); w != NULL;
	     w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max - 1)
			return -1;
		argv[n++] = w;
	}
	argv[n] = NULL;
	return n;
}

/* run_conf - a run's configuration: base with the line's options over it,
 * the client address walk carried on from the run before; 0 or -1 */
static int
run_conf(struct sgb *g, const struct sgb_conf *base, int argc, char **argv)
{
	struct sgb_conf c = *base;

	c.clients.next = g->c.clients.next;
	c.bad_clients.next = g->c.bad_clients.next;
	if (parse_args(&c, argc, argv) < 0)
		return -1;
	/* what start-up sized or set up stays */
	if (c.concurrency > base->concurrency || c.sink_port != base->sink_port || c.flood ||
	    c.batches || c.linger != base->linger || c.json != base->json) {
		fprintf(stderr, "smtpgate-bench: --runs: a run may change neither the sink, "
		                "--json, nor the modes, nor raise -c\n");
		return -1;
	}
	g->c = c;
	return 0;
}

/* run_report - the report of the run just ended into path, through a
 * temporary file renamed at the end, so that a reader sees it whole */
static int
run_report(const struct sgb *g, const struct sgb_stats *w, double load_s, double total_s,
           const char *path)
{
	char tmp[4096];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.part", path) >= (int)sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	sgb_report(g, w, load_s, total_s);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	return rename(tmp, path);
}

/* runs - --runs: one run per line of stdin, each with its options and its
 * report file, counters from zero, until the end of input or a signal */
static void
runs(struct sgb *g, struct sgb_stats *w)
{
	const struct sgb_conf base = g->c;
	char line[1024], *argv[32];
	int argc;

	while (signals == 0 && fgets(line, sizeof(line), stdin) != NULL) {
		double load_s = 0, total_s = 0;

		if ((argc = run_args(line, argv, 32)) == 0)
			continue;
		if (argc < 0 || run_conf(g, &base, argc, argv) < 0) {
			fprintf(stderr, "smtpgate-bench: --runs: run skipped\n");
			continue;
		}
		memset(&g->st, 0, sizeof(g->st));
		run(g, w, &load_s, &total_s);
		if (run_report(g, w, load_s, total_s, argv[0]) < 0)
			fprintf(stderr, "smtpgate-bench: --runs: cannot write %s\n", argv[0]);
	}
}

/* linger - --linger: hold the port, unpolled, until a signal beyond the
 * `seen` counted before the report (signals blocked between the test and
 * the wait, so that none is missed) */
static void
linger(sig_atomic_t seen)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (signals == seen)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int
main(int argc, char **argv)
{
	struct sgb *g = calloc(1, sizeof(*g));
	struct sgb_stats *w = calloc(1, sizeof(*w));
	double load_s = 0, total_s = 0;
	sig_atomic_t seen;
	int rc;

	if (g == NULL || w == NULL)
		return 1;
	conf_default(&g->c);
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "smtpgate-bench: EAL: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argc -= rc;
	argv += rc;
	if (parse_args(&g->c, argc, argv) < 0)
		return 2;
	if (g->c.batches || g->c.runs) {
		/* no SA_RESTART: a signal ends the wait for the next line */
		struct sigaction sa = {.sa_handler = on_signal};

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	} else {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
	}
	g->tsc_hz = rte_get_tsc_hz();
	if (port_init(g) < 0 || stack_init(g) < 0 || link_up(g) < 0 ||
	    (g->c.flood && sgb_flood_init(g, rte_rdtsc()) < 0)) {
		if (g->pool != NULL) {
			rte_eth_dev_stop(g->port_id);
			rte_eth_dev_close(g->port_id);
		}
		rte_eal_cleanup();
		return 1;
	}
	if (g->c.flood && g->c.flood_after > 0 && (g->pre = calloc(1, sizeof(*g->pre))) == NULL)
		return 1;
	if (g->c.runs) {
		runs(g, w);
	} else {
		if (g->c.batches)
			batches(g, w, &load_s, &total_s);
		else
			run(g, w, &load_s, &total_s);
		seen = signals;
		sgb_report(g, w, load_s, total_s);
		if (g->c.linger) /* stop the gate first (see --linger) */
			linger(seen);
	}
	rte_eth_dev_stop(g->port_id);
	rte_eth_dev_close(g->port_id);
	tcp_lcore_destroy(g->tcp);
	free(g->sess);
	free(g->free_ids);
	free(g->sink);
	free(g->sink_free);
	rte_eal_cleanup();
	free(g->pre);
	free(w);
	free(g);
	return 0;
}
