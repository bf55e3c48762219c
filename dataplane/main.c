/* smtpgate - the gate: DPDK lcores that own the SMTP clients' connections
 *
 *   smtpgate [EAL options] -- -c GATE.conf -p POLICY.conf [-n]
 *
 * main() is the control thread: it checks both files before EAL starts
 * (so a typo is one clear error, not a page of EAL output), brings up the
 * ports, launches the worker lcores and then serves slow work until
 * SIGINT or SIGTERM.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include "auth.h"
#include "control.h"
#include "gconf.h"
#include "intrsync.h"
#include "lcore.h"
#include "metrics.h"
#include "logq.h"
#include "net/tcpio.h"
#include "privdrop.h"
#include "sess.h"
#include "tcp.h"
#include "pol.h"

static struct gconf gconf;

static void
usage(void)
{
	fprintf(stderr, "usage: smtpgate [EAL options] -- -c GATE.conf -p POLICY.conf [-n]\n"
	                "  -c FILE  gate configuration (ports, addresses, lcores, limits)\n"
	                "  -p FILE  policy (see smtpgatectl check)\n"
	                "  -n       check both files and exit\n");
}

#define DRAIN_MAX_S 120 /* a drain waits this long at most for transactions in flight */

/* on_signal - SIGTERM drains (a second one stops at once), SIGINT stops */
static void
on_signal(int sig)
{
	if (sig == SIGTERM && !gate_draining)
		gate_draining = true;
	else
		gate_quit = true;
}

/* drained - while draining: whether no relay is left (or the drain took too long) */
static bool
drained(void)
{
	static time_t start;
	uint64_t live = 0;

	if (start == 0)
		start = time(NULL);
	for (unsigned i = 0; i < gconf.nlcores; i++)
		live += lcore_conf[gconf.lcores[i]].relay.live;
	return live == 0 || time(NULL) - start > DRAIN_MAX_S;
}

/* load_policy - load, compile and publish; 0 or -1 with the errors printed.
 * *out is the published snapshot: valid until the next publish, so only
 * during start-up, before the control socket exists. */
static uint64_t policy_version;

static int
load_policy(const char *path, const struct pol_snapshot **out)
{
	struct pol_errs errs = {0};
	struct pol_model *m = pol_load_file(path, &errs);
	struct pol_snapshot *s = m != NULL ? pol_compile(m, &errs) : NULL;
	uint64_t v;

	/* certificates are read and checked here, off the dataplane */
	if (s != NULL && sess_tls_attach(s, &errs) < 0) {
		pol_snapshot_free(s);
		s = NULL;
	}
	v = s != NULL ? pol_publish(s, &errs) : 0;

	*out = s;
	policy_version = v;
	if (v == 0) {
		pol_errs_print(&errs, stderr);
		fprintf(stderr, "smtpgate: policy %s: %zu errors\n", path, errs.total);
	}
	pol_errs_free(&errs);
	return v == 0 ? -1 : 0;
}

/* port_init - probe the device, give it a pool and one rx/tx queue per worker lcore */
static int
port_init(unsigned i, unsigned nq)
{
	const struct gconf_port *p = &gconf.ports[i];
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	uint64_t rss_hf;
	char name[RTE_ETH_NAME_MAX_LEN], pool_name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *pool;
	uint16_t pid;
	int rc;

	/* the device name is the devargs up to the first comma */
	size_t nl = strcspn(p->device, ",");

	if (nl >= sizeof(name)) {
		fprintf(stderr, "smtpgate: port %s: device name too long\n", p->name);
		return -1;
	}
	memcpy(name, p->device, nl);
	name[nl] = '\0';
	if (rte_eth_dev_get_port_by_name(name, &pid) != 0) {
		/* not probed by EAL: a virtual device described only in the gate config */
		rc = rte_dev_probe(p->device);
		if (rc < 0 || rte_eth_dev_get_port_by_name(name, &pid) != 0) {
			fprintf(stderr, "smtpgate: port %s: cannot probe device \"%s\": %s\n",
			        p->name, p->device, rte_strerror(-rc));
			return -1;
		}
	}
	snprintf(pool_name, sizeof(pool_name), "port%u_pool", i);
	pool = rte_pktmbuf_pool_create(pool_name, gconf.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
	                               (int)rte_eth_dev_socket_id(pid));
	if (pool == NULL) {
		fprintf(stderr, "smtpgate: port %s: cannot allocate %u mbufs: %s\n", p->name,
		        gconf.mbufs, rte_strerror(rte_errno));
		return -1;
	}
	if (rte_eth_dev_info_get(pid, &info) != 0 || nq > info.max_rx_queues ||
	    nq > info.max_tx_queues) {
		fprintf(stderr, "smtpgate: port %s: needs %u queues, device has %u rx / %u tx\n",
		        p->name, nq, info.max_rx_queues, info.max_tx_queues);
		return -1;
	}
	conf.rxmode.mtu = p->mtu;
	/* checksums by the device, where it can: received ones flagged good or
	 * bad by it, ours left to it (only if every port can: a segment is
	 * built before its route is known) */
	const uint64_t rxc = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	const uint64_t txc = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;

	if (p->offload && (info.rx_offload_capa & rxc) == rxc) {
		conf.rxmode.offloads |= rxc;
		gate_ports.rx_csum[i] = true;
	}
	if (i == 0)
		gate_ports.tx_csum = true;
	if (p->offload && (info.tx_offload_capa & txc) == txc)
		conf.txmode.offloads |= txc;
	else
		gate_ports.tx_csum = false;
	/* several queues: the device spreads flows by RSS where it can; the
	 * lcore a segment reaches still hands it to its flow's owner when the
	 * device's hash and ours disagree (lcore.c), so RSS only spares hand-offs */
	rss_hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
	if (nq > 1 && rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
		if (rte_eth_dev_configure(pid, (uint16_t)nq, (uint16_t)nq, &conf) < 0) {
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE; /* refused: hand-offs only */
			conf.rx_adv_conf.rss_conf.rss_hf = 0;
			rss_hf = 0;
		}
	} else {
		rss_hf = 0;
	}
	if (rss_hf == 0 &&
	    (rc = rte_eth_dev_configure(pid, (uint16_t)nq, (uint16_t)nq, &conf)) < 0) {
		fprintf(stderr, "smtpgate: port %s: configure: %s\n", p->name, rte_strerror(-rc));
		return -1;
	}
	for (uint16_t q = 0; q < nq; q++) {
		if ((rc = rte_eth_rx_queue_setup(pid, q, p->rx_desc, rte_eth_dev_socket_id(pid),
		                                 NULL, pool)) < 0 ||
		    (rc = rte_eth_tx_queue_setup(pid, q, p->tx_desc, rte_eth_dev_socket_id(pid),
		                                 NULL)) < 0) {
			fprintf(stderr, "smtpgate: port %s: queue %u: %s\n", p->name, q,
			        rte_strerror(-rc));
			return -1;
		}
	}
	if ((rc = rte_eth_dev_start(pid)) < 0) {
		fprintf(stderr, "smtpgate: port %s: start: %s\n", p->name, rte_strerror(-rc));
		return -1;
	}
	gate_ports.port_id[i] = pid;
	rte_eth_macaddr_get(pid, &gate_ports.mac[i]);
	gate_ports.n = i + 1;
	for (unsigned l = 0; l < gconf.nlcores; l++)
		if (i == 0)
			lcore_conf[gconf.lcores[l]].pool = pool;
	printf("smtpgate: port %s is %s, MAC " RTE_ETHER_ADDR_PRT_FMT
	       ", %u queue%s%s, checksums %s\n",
	       p->name, p->device, RTE_ETHER_ADDR_BYTES(&gate_ports.mac[i]), nq, nq == 1 ? "" : "s",
	       nq == 1       ? ""
	       : rss_hf != 0 ? " (RSS)"
	                     : " (software hand-off)",
	       conf.txmode.offloads ? "offloaded" : "in software");
	return 0;
}

#define PORTS_SETTLE_MS 2000 /* for EAL's interrupt thread, at exit (intrsync.c) */

/* ports_close - stop and close every port (the lcores have stopped), then
 * let EAL's interrupt thread take in what that unregistered: stopping a
 * memif port with a client attached wakes it, and rte_eal_cleanup() must
 * not unmap DPDK memory while it still reads handles there (intrsync.c) */
static void
ports_close(void)
{
	for (unsigned i = 0; i < gate_ports.n; i++)
		rte_eth_dev_stop(gate_ports.port_id[i]);
	for (unsigned i = 0; i < gate_ports.n; i++)
		rte_eth_dev_close(gate_ports.port_id[i]);
	if (intrsync_settle(PORTS_SETTLE_MS) < 0)
		fprintf(stderr,
		        "smtpgate: EAL's interrupt thread did not answer in %u ms; "
		        "stopping anyway\n",
		        PORTS_SETTLE_MS);
}

/* lcores_init - the worker lcores: those of the gate config, or every worker EAL has */
static int
lcores_init(void)
{
	unsigned id;

	if (gconf.nlcores == 0) {
		RTE_LCORE_FOREACH_WORKER(id)
		gconf.lcores[gconf.nlcores++] = id;
	}
	if (gconf.nlcores == 0) {
		fprintf(stderr, "smtpgate: no worker lcore: give EAL at least two (-l 0,1); "
		                "the main lcore runs the control thread\n");
		return -1;
	}
	for (unsigned i = 0; i < gconf.nlcores; i++) {
		id = gconf.lcores[i];
		if (id == rte_get_main_lcore() || !rte_lcore_is_enabled(id)) {
			fprintf(stderr, "smtpgate: lcores: %u is %s\n", id,
			        id == rte_get_main_lcore() ? "the main lcore (control thread)"
			                                   : "not enabled in EAL's -l/--lcores");
			return -1;
		}
		lcore_conf[id].lcore_id = id;
		lcore_conf[id].queue = (uint16_t)i;
		lcore_conf[id].gc = &gconf;
		lcore_conf[id].nbr.timeout_ms = gconf.arp_timeout_ms;
		gate_workers.lc[i] = &lcore_conf[id];
		gate_workers.n = i + 1;
		if (lc_rings_create(&lcore_conf[id]) < 0) {
			fprintf(stderr, "smtpgate: lcore %u: no memory for its hand-off rings\n",
			        id);
			return -1;
		}
		if (logq_create(&lcore_conf[id].log, id) < 0) {
			fprintf(stderr, "smtpgate: lcore %u: no memory for its log ring\n", id);
			return -1;
		}
	}
	return 0;
}

/* drain_logs - the control thread writes what the lcores logged; the most
 * lines any one ring held */
static unsigned
drain_logs(void)
{
	unsigned most = 0;

	for (unsigned i = 0; i < gconf.nlcores; i++)
		most = RTE_MAX(most, logq_drain(&lcore_conf[gconf.lcores[i]].log));
	authd_drain_logs();
	return most;
}

/* drain_pause_us - how long the control thread sleeps next, after a drain
 * that found at most `most` lines in a ring `pause_us` after the one
 * before: 10 ms while logging is light, 1 ms while the lines come at a
 * quarter of LOGQ_LINES per 10 ms or faster, so that a lcore refusing more
 * than LOGQ_LINES lines per 10 ms (100,000 a second of the longest lines,
 * several times that of usual ones) does not lose lines to a full ring. The
 * rate, not the count, decides: at 1 ms the count is ten times smaller for
 * the same load. */
static unsigned
drain_pause_us(unsigned most, unsigned pause_us)
{
	return most * (10 * 1000 / pause_us) >= LOGQ_LINES / 4 ? 1000 : 10 * 1000;
}

/* climit_setup - the per-client limits table all lcores share, in DPDK memory */
static int
climit_setup(void)
{
	uint32_t slots = climit_slots(gconf.clients);
	uint8_t secret[CLIMIT_SECRET];
	void *mem = rte_zmalloc("climit", (size_t)slots * sizeof(struct climit_slot),
	                        RTE_CACHE_LINE_SIZE);

	if (mem == NULL || getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret)) {
		fprintf(stderr, "smtpgate: no memory for %u client slots (limits.clients)\n",
		        slots);
		rte_free(mem);
		return -1;
	}
	climit_init(&gate_climit, mem, slots, secret);
	return 0;
}

/* The stateless answer to a completed handshake the flow table has no room
 * for: postscreen's words when every smtpd is busy. */
static const char busy_reply[] = "421 4.3.2 All server ports are busy\r\n";

/* stack_init - each worker lcore's TCP stack and SMTP sessions, listening on the services' ports */
static int
stack_init(const struct pol_snapshot *snap)
{
	for (unsigned i = 0; i < gconf.nlcores; i++) {
		struct lcore_conf *lc = &lcore_conf[gconf.lcores[i]];
		int socket = (int)rte_lcore_to_socket_id(lc->lcore_id);
		struct tcp_conf tc;

		tcp_conf_default(&tc);
		tc.max_flows = gconf.max_flows;
		tc.syn_backlog = gconf.syn_backlog;
		tc.nchunks = (uint32_t)(gconf.tcp_buffers / TCP_CHUNK_SIZE);
		tc.mtu = gconf.ports[0].mtu;
		tc.emit = tcpio_emit;
		tc.emit_arg = lc;
		tc.pick_port = relay_pick_port;
		tc.pick_arg = lc;
		tc.full_reply = busy_reply;
		tc.full_reply_len = sizeof(busy_reply) - 1;
		tc.lean_rcv_buf = SESS_LEAN_RCV_BUF; /* every session starts lean */
		tc.lean_snd_buf = SESS_LEAN_SND_BUF;
		lc->tcp = tcp_lcore_create(&tc);
		/* a relay for at most every other flow: the other is its client */
		if (lc->tcp == NULL || sess_init(lc, snap, gconf.max_flows, socket) < 0 ||
		    relay_init(lc, gconf.max_flows / 2 + 1, socket) < 0) {
			fprintf(stderr,
			        "smtpgate: lcore %u: no memory for %u flows (limits.max_flows)\n",
			        lc->lcore_id, gconf.max_flows);
			return -1;
		}
	}
	return 0;
}

static void
print_stats(void)
{
	for (unsigned i = 0; i < gconf.nlcores; i++) {
		const struct lc_stats *s = &lcore_conf[gconf.lcores[i]].stats;

		printf("smtpgate: lcore %u: rx %lu tx %lu tx_dropped %lu arp_in %lu arp_replies "
		       "%lu "
		       "arp_requests %lu icmp_echo %lu drops: l2 %lu short %lu csum %lu frag %lu "
		       "ip %lu proto %lu nomem %lu noroute %lu handoff_out %lu handoff_in %lu "
		       "handoff_drop %lu learn_drop %lu\n",
		       gconf.lcores[i], s->rx_pkts, s->tx_pkts, s->tx_dropped, s->arp_in,
		       s->arp_replies, s->arp_requests, s->icmp_echo, s->drop_l2, s->drop_short,
		       s->drop_csum, s->drop_frag, s->drop_ip, s->drop_proto, s->drop_nomem,
		       s->drop_noroute, s->handoff_out, s->handoff_in, s->handoff_drop,
		       s->learn_drop);
		const struct lcore_conf *lc = &lcore_conf[gconf.lcores[i]];
		const struct tcp_stats *t = tcp_lcore_stats(lc->tcp);
		const struct smtp_stats *ss = &lc->sess.stats;

		printf("smtpgate: lcore %u: tcp seg_in %lu seg_out %lu predicted %lu accepted %lu "
		       "retransmits %lu rto_fired %lu fast_retransmits %lu sack_retransmits %lu "
		       "rst_in %lu rst_out %lu cookies_sent %lu cookies_ok %lu drop_csum %lu "
		       "drop_noport %lu flows_active %lu drop_full %lu full_replies %lu\n",
		       gconf.lcores[i], t->seg_in, t->seg_out, t->predicted, t->accepted,
		       t->retransmits, t->rto_fired, t->fast_retransmits, t->sack_retransmits,
		       t->rst_in, t->rst_out, t->cookies_sent, t->cookies_ok, t->drop_csum,
		       t->drop_noport, t->flows_active, t->drop_full, t->full_replies);
		printf("smtpgate: lcore %u: smtp sessions_opened %lu sessions_closed %lu commands "
		       "%lu "
		       "replies_2xx %lu replies_4xx %lu replies_5xx %lu refused %lu lost_output "
		       "%lu "
		       "log_dropped %lu timers %lu limit_conn %lu limit_rate %lu limit_exempt %lu "
		       "limit_full %lu\n",
		       gconf.lcores[i], ss->sessions_opened, ss->sessions_closed, ss->commands,
		       ss->replies[2], ss->replies[4], ss->replies[5], lc->sess.refused,
		       lc->sess.lost_output, lc->log.dropped, lc->sess.deadlines,
		       lc->sess.limit_conn, lc->sess.limit_rate, lc->sess.limit_exempt,
		       lc->sess.limit_full);
		const struct relay_stats *rs = &lc->relay.stats;

		printf("smtpgate: lcore %u: relay connects %lu connect_failed %lu handoffs %lu "
		       "rcpt_ok %lu rcpt_refused %lu messages_ok %lu messages_refused %lu "
		       "failures %lu smuggling %lu body_bytes %lu no_memory %lu\n",
		       gconf.lcores[i], rs->connects, rs->connect_failed, rs->handoffs, rs->rcpt_ok,
		       rs->rcpt_refused, rs->messages_ok, rs->messages_refused, rs->failures,
		       rs->smuggling, rs->body_bytes, rs->no_memory);
		const struct sess_tls_stats *ts = &lc->sess.tls;

		printf("smtpgate: lcore %u: tls started %lu handshakes %lu tls_failed %lu "
		       "tls_no_slot %lu tls_live %lu\n",
		       gconf.lcores[i], ts->started, ts->done, ts->failed, ts->no_slot, ts->live);
		const struct auth_stats *as = &lc->auth.stats;

		printf("smtpgate: lcore %u: auth ok %lu asked %lu busy %lu answered %lu "
		       "cancelled %lu stale %lu expired %lu\n",
		       gconf.lcores[i], ss->auth_ok, as->asked, as->busy, as->answered,
		       as->cancelled, as->stale, as->expired);
	}
}

int
main(int argc, char **argv)
{
	const char *gate_path = NULL, *policy_path = NULL;
	bool check_only = false;
	struct pol_errs errs = {0};
	const struct pol_snapshot *snap;
	int split = argc, c, rc;
	unsigned id;
	char msg[160];

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			split = i;
			break;
		}
	optind = split < argc ? split + 1 : argc;
	while ((c = getopt(argc, argv, "c:p:nh")) != -1) {
		switch (c) {
		case 'c':
			gate_path = optarg;
			break;
		case 'p':
			policy_path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (gate_path == NULL || policy_path == NULL || optind != argc) {
		usage();
		return 2;
	}
	if (gconf_load(gate_path, &gconf, &errs) < 0) {
		pol_errs_print(&errs, stderr);
		fprintf(stderr, "smtpgate: gate config %s: %zu errors\n", gate_path, errs.total);
		pol_errs_free(&errs);
		return 2;
	}
	if (load_policy(policy_path, &snap) < 0)
		return 2;
	if (check_only) {
		printf("smtpgate: %s and %s are valid\n", gate_path, policy_path);
		pol_unpublish();
		return 0;
	}
	argv[split] = argv[0];
	rc = rte_eal_init(split, argv);
	if (rc < 0) {
		fprintf(stderr, "smtpgate: EAL: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE,
	       SIG_IGN); /* a control or metrics client that hangs up is an error, not our end */
	if (logq_open(&gconf) < 0)
		return 1;
	/* the lcores queue a refusal's fields; its Postfix line is made here */
	logq_set_format(LOGQ_K_REJECT, smtp_reject_format);
	if (lcores_init() < 0)
		return 1;
	for (unsigned i = 0; i < gconf.nports; i++)
		if (port_init(i, gconf.nlcores) < 0)
			return 1;
	if (climit_setup() < 0 || stack_init(snap) < 0)
		return 1;
	if (auth_init(&gconf) < 0 || authd_start(&gconf) < 0) {
		fprintf(stderr, "smtpgate: auth: cannot start the auth thread and its rings\n");
		return 1;
	}
	/* every socket is open: root is given up before the first packet is read */
	if (metrics_open(&gconf) < 0 || control_start(&gconf, policy_path, policy_version) < 0)
		gate_quit = true;
	if (privdrop(&gconf, rte_eal_get_runtime_dir(), msg, sizeof(msg)) < 0) {
		fprintf(stderr, "smtpgate: %s\n", msg);
		gate_quit = true;
	} else {
		printf("smtpgate: %s\n", msg);
	}
	RTE_LCORE_FOREACH_WORKER(id)
	{
		for (unsigned i = 0; i < gconf.nlcores; i++)
			if (gconf.lcores[i] == id)
				rte_eal_remote_launch(lc_main, &lcore_conf[id], id);
	}
	printf("smtpgate: running on %u lcore%s; SIGTERM stops\n", gconf.nlcores,
	       gconf.nlcores == 1 ? "" : "s");
	fflush(stdout);
	for (unsigned pause_us = 10 * 1000; !gate_quit;) {
		unsigned most = drain_logs();

		metrics_poll();
		if (gate_draining && drained())
			gate_quit = true;
		pause_us = drain_pause_us(most, pause_us);
		usleep(pause_us);
	}
	control_stop();
	authd_stop();
	metrics_close();
	rte_eal_mp_wait_lcore();
	drain_logs();
	logq_close();
	print_stats();
	ports_close();
	pol_unpublish();
	rte_eal_cleanup();
	printf("smtpgate: stopped\n");
	return 0;
}
