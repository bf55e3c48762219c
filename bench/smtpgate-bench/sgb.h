/* sgb - smtpgate-bench: a DPDK load generator that speaks SMTP to the gate
 *
 * One lcore, one port (net_memif in the bench, any ethdev will do). The
 * generator is a router on the gate's link (--addr) with the clients behind
 * it (--clients, --bad-clients: the gate routes them via --addr), so the
 * gate keeps one neighbour entry however many client addresses it sees.
 * TCP is the dataplane's own stack (dataplane/tcp) in client mode; SMTP is
 * a small client here that plays one of five session kinds, each meant to
 * end at one stage (refused at connect, HELO, MAIL or RCPT, or accepted
 * with a body), and counts every reply by stage and class.
 *
 * With --sink PORT it is also the gate's backend (a minimal smtp-sink), so
 * that accepted sessions are relayed back over the same link.
 *
 * With --syn-flood RATE it also floods the gate with SYNs from spoofed
 * sources (--flood-sources) in the same loop, while the sessions run.
 *
 * Files: sgb_main.c (options, EAL, the loop), sgb_net.c (Ethernet, ARP,
 * IPv4 to and from the TCP stack), sgb_smtp.c (the sessions), sgb_sink.c
 * (the backend), sgb_flood.c (the SYN flood), sgb_report.c (progress line,
 * percentiles, the report).
 */
#ifndef SGB_H
#define SGB_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "tcp.h"

/* Limits, with their reasons. */
#define SGB_BURST       32   /* packets per rx burst */
#define SGB_TX_MAX      4096 /* packets held for a full tx ring before new ones are dropped */
#define SGB_STARTS_LOOP 64   /* sessions started per loop: interleaves new work with replies */
#define SGB_KIND_TABLE  1000 /* the mix is a round-robin table of at most this many slots */
#define SGB_TEXT_MAX    200  /* a HELO name or address template */
#define SGB_CMD_MAX     512  /* one command line (RFC 5321 4.5.3.1.4) */
#define SGB_HIST_SUB    16   /* latency histogram: 16 buckets per power of two (6%) */
#define SGB_HIST_N      (48 * SGB_HIST_SUB) /* up to 2^48 us */
#define SGB_MAX_CONC    1000000             /* concurrent sessions: the flow table's size */
#define SGB_FLOOD_BURST 64   /* SYNs per loop at most: the sessions' packets get every loop too */
#define SGB_FLOOD_MBUFS 4095 /* the flood's own pool: a dry one never starves the sessions */
#define SGB_FLOOD_FRAME 128  /* bytes of a flood frame's template, at least */

/* What a session is meant to do, and where it expects to be refused. */
enum sgb_kind {
	SGB_K_CONNECT, /* client in --bad-clients: 554 greeting */
	SGB_K_HELO,    /* HELO name in the black list: 550 */
	SGB_K_MAIL,    /* sender in the black list: 550 */
	SGB_K_RCPT,    /* recipient outside the local domains: 554 relay access denied */
	SGB_K_ACCEPT,  /* local recipient, DATA, a body of --body bytes */
	SGB_K_IDLE,    /* EHLO, then silence: holds a session open (bench/mem-bench.sh) */
	SGB_K_COUNT
};

/* The reply a session waits for. */
enum sgb_stage {
	SGB_S_BANNER,
	SGB_S_HELO,
	SGB_S_MAIL,
	SGB_S_RCPT,
	SGB_S_DATA,
	SGB_S_DOT, /* the reply to the end of the body */
	SGB_S_QUIT,
	SGB_S_COUNT
};

/* How a session ended, beyond its replies. */
enum sgb_end {
	SGB_E_DONE,       /* closed normally (FINs both ways) */
	SGB_E_TIMEOUT,    /* the session timeout (--timeout) aborted it */
	SGB_E_RESET,      /* the gate reset it */
	SGB_E_REFUSED,    /* the SYN was answered by RST */
	SGB_E_TCP_TIME,   /* TCP gave up retransmitting */
	SGB_E_NOMEM,      /* TCP's pool ran dry */
	SGB_E_NOFLOW,     /* tcp_connect found no flow or port: never started */
	SGB_E_GARBLED,    /* the gate sent something that is not an SMTP reply: aborted */
	SGB_E_UNFINISHED, /* still open when the run ended: aborted */
	SGB_E_COUNT
};

/* A string with an optional "{n}" in it, replaced by the session number. */
struct sgb_tmpl {
	char pre[SGB_TEXT_MAX], post[SGB_TEXT_MAX];
	uint16_t npre, npost;
	bool has_n;
};

/* A range of IPv4 client addresses, walked in turn. */
struct sgb_range {
	uint32_t base; /* host order */
	uint32_t size;
	uint32_t next;
};

struct sgb_conf {
	uint32_t gate_ip, my_ip; /* host order */
	uint16_t dport;
	struct sgb_range clients, bad_clients;
	struct sgb_tmpl helo, bad_helo, from, bad_from, rcpt, bad_rcpt;
	uint32_t body;        /* bytes of an accepted session's message */
	bool ehlo;            /* EHLO (default) or HELO */
	uint32_t concurrency; /* sessions open at once */
	uint64_t rate;        /* sessions started per second; 0: as fast as concurrency allows */
	double duration;      /* seconds of load */
	uint64_t sessions;    /* stop starting after this many; 0: duration only */
	uint32_t timeout_ms;  /* per session */
	uint32_t grace_ms;    /* after the load: wait this long for sessions in flight */
	uint32_t link_wait_ms;
	uint32_t weight[SGB_K_COUNT];
	uint8_t table[SGB_KIND_TABLE]; /* the mix as a round-robin of kinds */
	uint32_t ntable;
	uint16_t sink_port; /* listen as the gate's backend; 0: no sink */
	bool json, quiet, check_csum;
	/* the SYN flood (sgb_flood.c) */
	bool flood;                 /* --syn-flood given */
	uint64_t flood_rate;        /* SYNs per second; 0: as fast as the port takes them */
	struct sgb_range flood_src; /* spoofed source addresses */
	bool flood_rst;             /* answer the gate's SYN-ACKs with RST */
	double flood_after;         /* seconds into the load when the flood starts */
	bool linger;                /* after the report, hold the port until a signal */
	bool batches;               /* session counts from stdin, one fixed-count load each */
	bool runs;                  /* runs from stdin, each with its options and report file */
};

/* Counters: plain increments, one thread. */
struct sgb_stats {
	uint64_t started, ended;
	uint64_t by_kind[SGB_K_COUNT];
	uint64_t expected[SGB_K_COUNT]; /* ended as the kind intends */
	uint64_t ends[SGB_E_COUNT];
	uint64_t replies[SGB_S_COUNT][6]; /* [stage][class 2..5] */
	uint64_t rejected;                /* ended normally after a 5xx at banner..dot */
	uint64_t accepted;                /* ended normally after a 2xx to the body */
	uint64_t tempfail;                /* ended normally after a 4xx at banner..dot */
	uint64_t hist[SGB_HIST_N];        /* session time of every DONE session, us */
	uint64_t lat_sum_us, lat_max_us;
	/* net */
	uint64_t rx_pkts, tx_pkts, tx_dropped, tx_retry;
	uint64_t arp_in, arp_replies, arp_requests;
	uint64_t drop_l2, drop_ip, drop_csum, drop_proto, drop_nomem, drop_nomac;
	/* the sink */
	uint64_t sink_sessions, sink_commands, sink_messages, sink_bytes;
	/* the flood: SYNs the port took, bursts it did not take all of (ring
	 * full), SYNs not made (no mbuf); what the gate sent to spoofed
	 * sources; RSTs we answered SYN-ACKs with */
	uint64_t flood_syn, flood_tx_full, flood_nomem;
	uint64_t flood_synack, flood_rst_in, flood_other_in, flood_rst_out;
	/* the loop */
	uint64_t busy_cycles, loop_cycles;
};

/* A frame the flood sends again and again: built once, copied per packet. */
struct sgb_frame {
	uint8_t b[SGB_FLOOD_FRAME];
	uint16_t len;
};

/* The flood's state. */
struct sgb_flood {
	struct rte_mempool *pool;
	struct sgb_frame syn, rst;              /* templates: source address, port and seq zero */
	uint64_t rng;                           /* xorshift64* state */
	uint64_t t0;                            /* TSC when the flood started: the rate's origin */
	uint64_t t_start;                       /* the same, kept for the report */
	double seconds;                         /* of flood, up to the load's end */
	bool on;                                /* started */
	struct rte_mbuf *held[SGB_FLOOD_BURST]; /* SYNs the port did not take yet */
	unsigned nheld;
};

/* Everything the one lcore holds. */
struct sgb {
	struct sgb_conf c;
	struct sgb_stats st;
	struct tcp_lcore *tcp;
	int app;
	uint16_t port_id;
	struct rte_mempool *pool;
	struct rte_ether_addr mac, gate_mac;
	bool gate_known;
	uint64_t now_ms; /* the loop's clock */
	uint64_t tsc_hz;
	/* tx packets not yet taken by the port */
	struct rte_mbuf *tx[SGB_TX_MAX];
	unsigned ntx;
	/* sessions */
	struct sgb_sess *sess;
	uint32_t *free_ids;
	uint32_t nfree;
	uint32_t nsess; /* sessions the pool holds: --concurrency at start (--runs may lower c) */
	uint32_t active;
	uint16_t next_port;
	/* the sink's sessions */
	struct sgb_sink *sink;
	uint32_t *sink_free;
	uint32_t nsink_free;
	struct sgb_flood flood;
	struct sgb_stats *pre; /* the counters when the flood started (--flood-after) */
	uint64_t load_t0;      /* TSC when the load started */
};

/* sgb_net.c */
/* sgb_net_input - one received frame; consumes m */
void sgb_net_input(struct sgb *g, struct rte_mbuf *m);
/* sgb_net_emit - the TCP stack's output (arg: struct sgb) */
int sgb_net_emit(void *arg, const struct tcp_out *o);
/* sgb_net_arp_ask - ask for the gate's MAC */
void sgb_net_arp_ask(struct sgb *g);
/* sgb_net_flush - give held packets to the port; what it will not take stays */
void sgb_net_flush(struct sgb *g);

/* sgb_smtp.c */
/* sgb_smtp_init - session pool and TCP application: 0 or -1 */
int sgb_smtp_init(struct sgb *g);
/* sgb_smtp_start - open a new session (the next of the mix): 0 or -1 */
int sgb_smtp_start(struct sgb *g, uint64_t tsc);
/* sgb_smtp_abort_all - end every session still open (counted unfinished) */
void sgb_smtp_abort_all(struct sgb *g);
/* sgb_pick_port - the TCP stack's local port chooser */
uint16_t sgb_pick_port(void *arg, const struct tcp_key *k, unsigned attempt);

/* sgb_sink.c */
/* sgb_sink_init - listen on port as an SMTP sink: 0 or -1 */
int sgb_sink_init(struct sgb *g, uint16_t port);

/* sgb_flood.c */
/* sgb_flood_init - the flood's pool and templates (after the gate's MAC is known): 0 or -1 */
int sgb_flood_init(struct sgb *g, uint64_t tsc);
/* sgb_flood_fini - free the SYNs the port has not taken */
void sgb_flood_fini(struct sgb *g);
/* sgb_flood_tick - send the SYNs due at tsc, in one burst; how many the port took */
unsigned sgb_flood_tick(struct sgb *g, uint64_t tsc);
/* sgb_flood_mine - whether a host-order address is one of the spoofed sources */
bool sgb_flood_mine(const struct sgb *g, uint32_t ip);
/* sgb_flood_input - the gate's answer to a spoofed source (TCP header, len bytes) */
void sgb_flood_input(struct sgb *g, const uint8_t *tcp, unsigned len, uint32_t src_be,
                     uint32_t dst_be);

/* sgb_report.c */
/* sgb_hist_add - one session time in microseconds */
void sgb_hist_add(struct sgb_stats *st, uint64_t us);
/* sgb_hist_pct - the p-th percentile (0..100) of session times, us */
double sgb_hist_pct(const struct sgb_stats *st, double p);
/* sgb_progress - the line printed every second on stderr */
void sgb_progress(const struct sgb *g, double t, const struct sgb_stats *prev, double dt);
/* sgb_report - the final report on stdout, text or JSON; rates are those of
 * w (the counters when the load ended) over load_s, totals those of g */
void sgb_report(const struct sgb *g, const struct sgb_stats *w, double load_s, double total_s);

extern const char *const sgb_kind_name[SGB_K_COUNT];
extern const char *const sgb_stage_name[SGB_S_COUNT];
extern const char *const sgb_end_name[SGB_E_COUNT];

#endif
