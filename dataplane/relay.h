/* relay - accepted transactions go on to the backend MTA over the lcore's own TCP
 *
 * The SMTP engine asks (struct smtp_relay) at an accepted RCPT and at
 * DATA; the relay opens a connection to a backend of the policy (round
 * robin, a backend that failed is skipped for a while), hands over the
 * client's identity (XCLIENT or a PROXY header), replays MAIL FROM and
 * each recipient, passes the message through unchanged (only its end is
 * recognised, as RFC 5321 defines it, and bare CR or LF refused) and gives
 * the backend's replies back as the engine's answers. Nothing is ever
 * acknowledged to the client that the backend did not acknowledge: any
 * failure before the backend's reply to the end of the data is a 4xx.
 * With backend.tls the conversation after the backend's first EHLO reply
 * goes through STARTTLS (relay_tls.c decides, tls/ encrypts).
 */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "pol.h"
#include "relay_proto.h"
#include "sess.h"
#include "smtp.h"
#include "tcp.h"

struct lcore_conf;
struct smtp_session;

#define RELAY_DOWN_MS 30000 /* a backend that failed is not tried again for this long */

/* Counters of one lcore: plain increments, one writer. */
struct relay_stats {
	uint64_t connects;       /* connections opened to a backend */
	uint64_t connect_failed; /* refused, timed out or no route */
	uint64_t handoffs;       /* identity handed over (XCLIENT accepted, PROXY header sent) */
	uint64_t rcpt_ok, rcpt_refused;
	uint64_t messages_ok, messages_refused; /* the backend's reply to the end of the data */
	uint64_t failures;   /* a backend failed with the engine waiting: 4xx to the client */
	uint64_t smuggling;  /* bare CR or LF in a message: refused, never forwarded whole */
	uint64_t body_bytes; /* message bytes passed to backends */
	uint64_t no_memory;  /* no relay state left: 451 */
	/* TLS on the backend leg (backend.tls != none), one outcome per
	 * connection that got as far as the backend's EHLO reply */
	uint64_t tls[RELAY_TLS_R_COUNT];       /* by enum relay_tls_result (pending: unused) */
	uint64_t tls_v1_2, tls_v1_3;           /* handshakes completed, by protocol */
	uint64_t tls_cipher[SESS_TLS_CIPHERS]; /* ... by cipher (sess.h's list) */
};

/* What one lcore keeps for its relays (the lcore only). */
struct relay_lcore {
	struct chunk_pool pool; /* struct relay objects */
	struct relay_stats stats;
	struct smtp_relay ops; /* the engine's hooks */
	int app;               /* our id in the lcore's TCP stack */
	unsigned next;         /* round robin over the policy's backends */
	uint64_t down_until[POL_MAX_BACKENDS];
	uint16_t port_next; /* where the search for a local port goes on */
	uint64_t live; /* relays in use (sessions that reached the backend): a drain waits for them
	                */
};

/* relay_init - the relay's pool, its TCP application and the engine's hooks; 0 or -1 */
int relay_init(struct lcore_conf *lc, uint32_t max_relays, int socket);
/* relay_body - message bytes from the client of a session in SMTP_S_DATA;
 * returns how many were taken (the rest stays in TCP) */
size_t relay_body(struct lcore_conf *lc, struct smtp_session *ss, const void *buf, size_t len);
/* relay_pick_port - the TCP stack's pick_port: a local port whose flow hash
 * brings the backend's replies back to this lcore */
uint16_t relay_pick_port(void *arg, const struct tcp_key *k, unsigned attempt);

#endif
