/* tcp - a small TCP stack for one lcore: passive and active open, no DPDK
 *
 * One struct tcp_lcore per lcore holds all of it: the flow table, the timer
 * wheel, the chunk pool, counters and configuration. Nothing is shared,
 * nothing locks, nothing allocates or makes a syscall after
 * tcp_lcore_create(). The net layer gives it parsed segments (tcp_input())
 * and the time (tcp_timers_run()); it sends through conf.emit. The
 * application (the SMTP engine, the relay) sits on callbacks (struct
 * tcp_app) and the calls tcp_send(), tcp_close(), tcp_abort(),
 * tcp_rx_resume(), tcp_set_deadline(), tcp_connect().
 *
 * Time is monotonic milliseconds (uint64_t) everywhere.
 *
 * Reentrancy: the application may call any tcp_* function from inside a
 * callback, on any flow of the same lcore. Output caused inside a callback
 * is sent when the outermost tcp_* call returns (so a reply piggybacks the
 * ACK of the data it answers), and a flow that ends is freed then too:
 * a flow pointer stays valid until its app's closed() callback returns.
 *
 * Conformance: RFC 9293 (and 793), RFC 6298 (RTO), RFC 5961 (challenge
 * ACKs), RFC 4987 (SYN cookies), RFC 7323 (window scale; timestamps for RTT measurement, no PAWS),
 * RFC 6528 (ISN), RFC 5681/6582 (slow start, fast retransmit, NewReno).
 * SACK both ways (RFC 2018): our ACKs report the ranges held out of order,
 * and the peer's drive loss recovery as in RFC 6675 (tcp_sack.c); NewReno
 * for peers without SACK. Not implemented: PAWS, urgent data, ECN, keepalive
 * (the application's deadline bounds idle flows), delayed ACKs and Nagle (a request/response
 * application: replies carry the ACK).
 */
#ifndef TCP_H
#define TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcp_wire.h"

/* Limits, with their reasons. */
#define TCP_CHUNK_SIZE   2048 /* pool chunk: 16-byte header + 2032 data >= any 1500-MTU MSS */
#define TCP_MAX_APPS     8    /* applications per lcore (SMTP engine, relay, tests) */
#define TCP_MAX_LISTEN   64   /* listening ports per lcore: the policy's services */
#define TCP_OOO_MAX      4    /* out-of-order segments held per flow */
#define TCP_SACK_SB      4    /* SACKed ranges a sender remembers: one ACK brings 3 or 4 */
#define TCP_WHEEL_SLOTS  4096 /* timer wheel: 4096 x 10 ms = 41 s per turn */
#define TCP_WHEEL_TICK   10   /* ms per wheel slot */
#define TCP_COOKIE_MSS_N 8    /* MSS values a SYN cookie can encode (3 bits) */
/* After SYN pressure (a SYN that found the backlog over half full, or got a
 * cookie) in the last TCP_SYN_PRESSURE_MS, a half-open flow gets this many
 * SYN-ACK retransmissions at most: 1 + 2 + 4 s, Linux's floor under a flood. */
#define TCP_SYNACK_RETRIES_PRESSED 2
#define TCP_SYN_PRESSURE_MS        10000 /* > 7 s: a flood's last flows still see it */

struct tcp_lcore;
struct tcp_flow;

enum tcp_state {
	TCP_S_CLOSED,
	TCP_S_SYN_SENT,
	TCP_S_SYN_RCVD,
	TCP_S_ESTABLISHED,
	TCP_S_FIN_WAIT_1,
	TCP_S_FIN_WAIT_2,
	TCP_S_CLOSE_WAIT,
	TCP_S_CLOSING,
	TCP_S_LAST_ACK,
	TCP_S_TIME_WAIT,
	TCP_S_COUNT
};

/* Why a flow ended, told to the application's closed() callback. */
enum tcp_end {
	TCP_END_NORMAL,  /* both FINs exchanged (the flow may linger in TIME_WAIT) */
	TCP_END_RESET,   /* the peer sent an acceptable RST */
	TCP_END_REFUSED, /* active open answered by RST */
	TCP_END_TIMEOUT, /* retransmissions or FIN_WAIT_2 ran out */
	TCP_END_ABORT,   /* the application called tcp_abort() or refused in accept() */
	TCP_END_NOMEM,   /* the pool ran dry for a flow that needs a chunk to go on */
	TCP_END_COUNT
};

enum tcp_cookie_mode {
	TCP_COOKIES_AUTO,   /* when the SYN backlog or the flow table is under pressure */
	TCP_COOKIES_ALWAYS, /* every SYN (tests; a gate under known attack) */
	TCP_COOKIES_NEVER,  /* a full table refuses SYNs instead */
};

/* What a flow is: its addresses and ports, local side first. */
struct tcp_key {
	struct tcp_ip laddr, raddr;
	uint16_t lport, rport; /* host order */
};

/* An application's callbacks. ctx is the pointer given to tcp_app_register(). */
struct tcp_app {
	/* accept - a passive open completed; 0 to take the flow (set its
	 * pointer with tcp_flow_set_app()), or negative to refuse it (RST) */
	int (*accept)(void *ctx, struct tcp_flow *f);
	/* connected - an active open completed */
	void (*connected)(void *ctx, struct tcp_flow *f);
	/* data - in-order bytes; return how many were taken. The rest stays
	 * in TCP (the window shrinks) until tcp_rx_resume() offers it again. */
	size_t (*data)(void *ctx, struct tcp_flow *f, const void *buf, size_t len);
	/* peer_fin - the peer sent FIN, after all its data was taken */
	void (*peer_fin)(void *ctx, struct tcp_flow *f);
	/* sent - send space freed after a tcp_send() took less than asked (may be NULL) */
	void (*sent)(void *ctx, struct tcp_flow *f);
	/* deadline - the time set by tcp_set_deadline() has come (may be NULL) */
	void (*deadline)(void *ctx, struct tcp_flow *f, uint64_t now);
	/* closed - last call for the flow: it is invalid once this returns */
	void (*closed)(void *ctx, struct tcp_flow *f, enum tcp_end why);
};

/* Configuration, copied by tcp_lcore_create(). tcp_conf_default() fills it. */
struct tcp_conf {
	uint32_t max_flows;   /* flow table size, TIME_WAIT included */
	uint32_t nchunks;     /* TCP_CHUNK_SIZE chunks for send, hold and out-of-order data */
	uint32_t syn_backlog; /* half-open flows beyond which SYN cookies start (AUTO) */
	uint32_t cookie_fill; /* flows in use (per mille of max_flows) beyond which cookies start */
	uint32_t tw_max;      /* flows kept in TIME_WAIT; beyond, the oldest is recycled */
	uint32_t tw_ms;       /* TIME_WAIT length (2 MSL, shortened) */
	uint32_t fin_wait2_ms; /* FIN_WAIT_2 without the peer's FIN, as Linux's tcp_fin_timeout */
	uint32_t rto_init_ms;  /* RFC 6298 2.1: 1 s */
	uint32_t rto_min_ms;   /* RFC 6298 says 1 s; Linux and we use 200 ms */
	uint32_t rto_max_ms;   /* RFC 6298 2.5: at least 60 s */
	uint32_t snd_buf;      /* per-flow limit of queued send bytes (unacked included) */
	uint32_t rcv_buf;      /* per-flow receive window, held bytes included */
	/* A lean flow is one the application expects little from (an SMTP
	 * session before DATA): small buffers, and the first to be refused
	 * when the pool runs low. Passive opens start lean when lean_rcv_buf
	 * is set, from the SYN-ACK's window on (a window once offered cannot
	 * be taken back); tcp_set_lean() switches. The window scale offered
	 * still follows rcv_buf, so that the window can open later. */
	uint32_t lean_rcv_buf;  /* a lean flow's window, held bytes included; 0: no lean flows */
	uint32_t lean_snd_buf;  /* a lean flow's queued send bytes */
	uint32_t chunk_low;     /* free chunks below which a lean flow that already holds chunks
	                           gets no new data (not acked: the peer sends it again later);
	                           0: nchunks / 8 */
	uint32_t chunk_reserve; /* free chunks below which out-of-order data is dropped, and no
	                           lean flow gets new data or send space */
	uint32_t challenge_ack_per_s; /* RFC 5961 7: challenge ACKs per second per lcore */
	uint16_t mtu;                 /* IP MTU: our MSS is mtu - 40 (IPv4) or mtu - 60 (IPv6) */
	uint8_t retries;              /* RTO retransmissions of data before giving up */
	uint8_t syn_retries;          /* SYN retransmissions (active open) */
	uint8_t synack_retries;       /* SYN-ACK retransmissions (passive open; 2 under pressure) */
	uint8_t cookies;              /* enum tcp_cookie_mode */
	uint8_t no_prediction;        /* tests: every segment in and out takes the general path */
	uint8_t key[16]; /* secret for ISNs, cookies and the flow hash; all zero: random */
	/* emit - send a segment; 0, or negative when it could not be (no mbuf):
	 * the stack counts it and goes on as if the segment were lost */
	int (*emit)(void *arg, const struct tcp_out *o);
	void *emit_arg;
	/* pick_port - a local port for tcp_connect() (attempt 0, 1, ...); the
	 * caller chooses ports whose hash returns to this lcore. NULL: the
	 * stack walks 32768-60999 from a keyed-hash start. 0: give up. */
	uint16_t (*pick_port)(void *arg, const struct tcp_key *k, unsigned attempt);
	void *pick_arg;
	/* full_reply - bytes sent, without keeping state, with FIN to a peer
	 * whose handshake completed (its SYN cookie came back) when the table
	 * has no flow for it: an application's "busy" greeting. NULL: the ACK
	 * is dropped and the peer left to time out. At most one segment. */
	const char *full_reply;
	uint16_t full_reply_len;
};

/* Counters and gauges of one lcore: plain increments, one writer. */
struct tcp_stats {
	uint64_t seg_in, seg_out;
	uint64_t predicted;           /* segments that took the header-prediction fast path */
	uint64_t bytes_in, bytes_out; /* payload delivered to apps / first transmissions */
	uint64_t retransmits;         /* segments sent again (RTO, fast retransmit, SYN/SYN-ACK) */
	uint64_t rto_fired;
	uint64_t fast_retransmits; /* loss recoveries entered (3 duplicate ACKs, or SACK loss) */
	uint64_t sack_retransmits; /* segments resent into holes the peer's SACK blocks showed */
	uint64_t probes;           /* zero-window probes */
	uint64_t rst_in, rst_out;
	uint64_t challenge_acks, challenge_acks_limited;
	uint64_t cookies_sent, cookies_ok, cookies_bad;
	uint64_t accepted, connected, refused, timeouts, aborts, resets;
	uint64_t tw_recycled;  /* TIME_WAIT flows ended early for room */
	uint64_t full_replies; /* conf.full_reply sent: a cookie's ACK found the table full */
	uint64_t emit_failed;  /* conf.emit refused a segment */
	/* drops by reason */
	uint64_t drop_csum;   /* written by the net layer: bad TCP checksum */
	uint64_t drop_hdr;    /* written by the net layer: bad data offset */
	uint64_t drop_window; /* sequence not acceptable (out of window, old duplicate) */
	uint64_t drop_ack;    /* unacceptable ACK */
	uint64_t drop_noflow; /* no flow (a RST was sent unless it was a RST) */
	uint64_t drop_noport; /* SYN to a port nobody listens on (RST sent) */
	uint64_t drop_full;   /* SYN refused (table full, cookies off) or cookie ACK with no flow */
	uint64_t drop_nopool; /* bytes refused for want of a chunk */
	uint64_t drop_ooo;    /* out-of-order segment not kept (queue full, pool low) */
	uint64_t drop_lowpool; /* a lean flow's data refused, not acked: the pool ran low */
	uint64_t drop_flags;   /* nonsense flag combinations (SYN+FIN, SYN+RST, no ACK) */
	/* gauges */
	uint64_t flows_active; /* flows in use, TIME_WAIT included */
	uint64_t flows_tw;
	uint64_t half_open; /* SYN_RCVD */
	uint64_t chunks_used;
	uint64_t chunks_hwm;           /* the most chunks ever in use at once */
	uint64_t state_n[TCP_S_COUNT]; /* flows per state */
};

/* tcp_conf_default - sensible values for a gate; emit still to set */
void tcp_conf_default(struct tcp_conf *c);
/* tcp_lcore_create - allocate everything for one lcore (NULL: no memory or bad conf) */
struct tcp_lcore *tcp_lcore_create(const struct tcp_conf *c);
/* tcp_lcore_destroy - free it all; open flows end without callbacks */
void tcp_lcore_destroy(struct tcp_lcore *lc);
/* tcp_lcore_stats - the counters (the caller reads them) */
struct tcp_stats *tcp_lcore_stats(struct tcp_lcore *lc);

/* tcp_app_register - an application and its context: its id, or -1 when full */
int tcp_app_register(struct tcp_lcore *lc, const struct tcp_app *app, void *ctx);
/* tcp_listen - accept connections to port for application app: 0 or -1 (full) */
int tcp_listen(struct tcp_lcore *lc, uint16_t port, int app);
/* tcp_unlisten - stop accepting on port (established flows go on) */
void tcp_unlisten(struct tcp_lcore *lc, uint16_t port);

/* tcp_input - one received segment, checksums already verified */
void tcp_input(struct tcp_lcore *lc, const struct tcp_seg *seg, uint64_t now);
/* tcp_input4_wire - one received IPv4 segment as it is on the wire: the
 * TCP header and payload, len bytes, checksum already verified, the IPv4
 * addresses in network order. The predicted segment of an established
 * flow (RFC 9293 3.10.7.4's common case: header prediction) and the pure
 * ACK that completes a passive open are taken from the header in one
 * pass; anything else is parsed (tcp_wire_parse()) and
 * goes the way of tcp_input(), with the same result. 0, or -1 when the
 * header does not fit (bad data offset, short): nothing done, the caller
 * counts drop_hdr. */
int tcp_input4_wire(struct tcp_lcore *lc, const void *tcp, size_t len, uint32_t src_be,
                    uint32_t dst_be, uint64_t now);
/* tcp_timers_run - fire what is due; call every loop or every tick */
void tcp_timers_run(struct tcp_lcore *lc, uint64_t now);

/* tcp_connect - active open from laddr (port from conf.pick_port) to
 * raddr:rport, owned by application app with per-flow pointer appp; the
 * flow in SYN_SENT, or NULL (no flow, no port) */
struct tcp_flow *tcp_connect(struct tcp_lcore *lc, uint8_t family, const struct tcp_ip *laddr,
                             const struct tcp_ip *raddr, uint16_t rport, int app, void *appp,
                             uint64_t now);
/* tcp_send - queue bytes; returns how many were taken (bounded by conf.snd_buf
 * and the pool). 0 after tcp_close(). */
size_t tcp_send(struct tcp_flow *f, const void *buf, size_t len);
/* tcp_send_space - how many bytes tcp_send() would take now, pool permitting
 * (0 for a lean flow when the pool is down to conf.chunk_reserve) */
size_t tcp_send_space(const struct tcp_flow *f);
/* tcp_send_reserve - write a reply straight into the send queue, with no
 * copy before the segment: a pointer to *room >= min contiguous bytes
 * (within what tcp_send() would take), or NULL (and *room 0) when the flow
 * cannot offer min of them in one piece now: little send space, the tail
 * chunk partly filled, the pool dry, or min over a chunk; tcp_send() of a
 * buffer of one's own then does (it splits across chunks). Write at most
 * *room bytes there, then call tcp_send_commit() on f before any other
 * tcp_* call on f (calls on other flows are fine). */
void *tcp_send_reserve(struct tcp_flow *f, size_t min, size_t *room);
/* tcp_send_commit - queue the first n bytes written at f's reservation (n
 * may be 0: nothing to send); returns how many were queued: n, or 0 when
 * the flow ended or was closed meanwhile */
size_t tcp_send_commit(struct tcp_flow *f, size_t n);
/* tcp_send_wait - call the app's sent() once send space frees (without
 * sending anything now) */
void tcp_send_wait(struct tcp_flow *f);
/* tcp_set_lean - lean (conf.lean_*_buf, first refused when the pool runs
 * low) or full buffers (conf.rcv_buf, snd_buf) for the flow from now on. A
 * window that grows is advertised at once; one that shrinks only stops
 * moving its right edge (RFC 9293 3.8.6.2.2: a receiver SHOULD NOT shrink). */
void tcp_set_lean(struct tcp_flow *f, bool lean);
/* tcp_flow_lean - whether the flow is lean */
bool tcp_flow_lean(const struct tcp_flow *f);
/* tcp_close - FIN after the queued data; the flow stays until the peer's FIN */
void tcp_close(struct tcp_flow *f);
/* tcp_abort - RST now; closed() follows (TCP_END_ABORT) */
void tcp_abort(struct tcp_flow *f);
/* tcp_rx_resume - offer held received bytes to data() again */
void tcp_rx_resume(struct tcp_flow *f);
/* tcp_rx_kick - the same, and a data() call of zero bytes when nothing is
 * held: for an application that keeps bytes of its own (decrypted TLS) */
void tcp_rx_kick(struct tcp_flow *f);
/* tcp_set_deadline - the time (ms) at which app->deadline fires; 0: none */
void tcp_set_deadline(struct tcp_flow *f, uint64_t at);

/* Accessors. */
void *tcp_flow_app(const struct tcp_flow *f);
void tcp_flow_set_app(struct tcp_flow *f, void *appp);
const struct tcp_key *tcp_flow_key(const struct tcp_flow *f);
uint8_t tcp_flow_family(const struct tcp_flow *f);
enum tcp_state tcp_flow_state(const struct tcp_flow *f);
struct tcp_lcore *tcp_flow_lcore(const struct tcp_flow *f);
const char *tcp_state_name(enum tcp_state s);

#endif
