/* relay_impl - what relay.c and relay_backend.c share: the relay's state
 * and the helpers both halves call (see relay.c for the conversation)
 *
 * relay.c is the client's side: the engine's hooks, the recipients kept
 * until DATA, the requests put to the backend (relay_pump) and the message
 * passed on. relay_backend.c is the backend's side: its flow's callbacks,
 * its replies in the state that awaited each, the hand-off and TLS on the
 * backend leg. Both run on the lcore that owns the relay.
 */
#ifndef RELAY_IMPL_H
#define RELAY_IMPL_H

#include <stdbool.h>
#include <string.h>

#include "lcore.h"
#include "relay.h"
#include "sess.h"
#include "tls.h"

enum r_state {
	R_DOWN, /* no backend connection */
	R_CONNECTING,
	R_GREETING,
	R_EHLO,
	R_STARTTLS, /* our STARTTLS's reply is awaited */
	R_TLS,      /* the handshake with the backend is going on */
	R_XCLIENT,
	R_EHLO2,
	R_READY,
	R_MAIL,
	R_RCPT,
	R_DATA,
	R_BODY,
	R_DOT,
	R_RSET,
	R_QUIT,
};

enum r_want {
	W_NONE,
	W_RCPT, /* the engine waits for the reply to a recipient */
	W_DATA, /* ... to DATA */
};

struct relay {
	struct lcore_conf *lc;
	struct smtp_session *ss; /* NULL once the session ended */
	struct tcp_flow *client; /* NULL once the session ended */
	struct tcp_flow *backend;
	uint8_t state; /* enum r_state */
	uint8_t want;  /* enum r_want */
	bool txn;      /* the backend accepted our MAIL FROM */
	bool rset;     /* a RSET is owed to the backend */
	bool discard;  /* read the message to its end, then refuse it with discard_reply */
	bool xclient;  /* the backend offered XCLIENT */
	bool lost;     /* the backend failed after accepting recipients of this transaction */
	bool at_data;  /* the service connects at DATA: recipients wait in the stash */
	uint8_t bk;    /* the backend's index in the policy */
	uint8_t tries; /* backends tried for this connection */
	uint8_t handoff;
	uint16_t rcpt_len;
	unsigned xc_step;  /* XCLIENT commands sent */
	uint32_t xc_attrs; /* XCLIENT attributes the backend offers */
	const char *discard_reply;
	char *stash, *stash_tail; /* at_data: chunks of NUL-ended recipients, linked by their first
	                             8 bytes */
	char *replay;             /* the chunk of the next recipient to replay, or NULL */
	uint16_t replay_off;
	uint32_t nstash, nrefused; /* recipients stashed; refused by the backend at replay */
	char *refusal;             /* a chunk: the backend's first refusal of a stashed recipient */
	struct relay_rp rp;
	struct relay_ds ds;
	struct tls_conn *tls;     /* the backend leg's TLS from our STARTTLS on, or NULL */
	struct relay_tls ts;      /* what the backend leg's TLS does next */
	uint32_t ehlo_ext;        /* the keywords of the backend's last EHLO reply */
	char rcpt[SMTP_LINE_MAX]; /* the recipient asked about */
};

_Static_assert((int)POL_BTLS_VERIFY == (int)RELAY_TLS_VERIFY &&
                       (int)POL_BTLS_MAY == (int)RELAY_TLS_MAY,
               "pol_backend_tls in relay_tls_level's order");

/* ---- small things (inline: on every request) ---- */

static inline const struct pol_snapshot *
relay_snap(const struct relay *r)
{
	return pol_live(r->lc->pol);
}

static inline struct relay_lcore *
relay_rl(const struct relay *r)
{
	return &r->lc->relay;
}

/* relay_client_name - "unknown[ADDR]" of the relay's session */
static inline const char *
relay_client_name(const struct relay *r, char *buf, size_t size)
{
	return r->ss != NULL ? pol_client_name(&r->ss->client, buf, size) : "unknown";
}

/* relay_arm - the backend must answer within ms */
static inline void
relay_arm(struct relay *r, uint32_t ms)
{
	if (r->backend != NULL)
		tcp_set_deadline(r->backend, r->lc->now + ms);
}

/* relay_answer - give the engine its answer (the backend's reply line, or ours) */
static inline void
relay_answer(struct relay *r, const char *reply, bool end)
{
	r->want = W_NONE;
	if (r->client != NULL)
		sess_answer(r->lc, r->client, reply, end);
}

/* relay_helo_name - the client's HELO name (the engine keeps it for the session) */
static inline const char *
relay_helo_name(const struct relay *r)
{
	return r->ss != NULL && r->ss->helo != NULL ? r->ss->helo : "unknown";
}

/* relay_addr_of - one end of the client's connection, for the hand-off */
static inline struct relay_addr
relay_addr_of(const struct tcp_flow *f, bool remote)
{
	const struct tcp_key *k = tcp_flow_key(f);
	struct relay_addr a = {.family = tcp_flow_family(f) == TCP_V4 ? 4 : 6,
	                       .port = remote ? k->rport : k->lport};

	memcpy(a.addr, remote ? k->raddr.b : k->laddr.b, 16);
	return a;
}

/* ---- relay.c ---- */

/* relay_bflush - the backend TLS's ciphertext to TCP as far as it fits */
void relay_bflush(struct relay *r);
/* relay_bsend - bytes to the backend (through TLS once it is up); false when they did not all go */
bool relay_bsend(struct relay *r, const void *p, size_t n);
/* relay_sendf - a command line to the backend; false when it did not fit */
__attribute__((format(printf, 2, 3))) bool relay_sendf(struct relay *r, const char *fmt, ...);
/* relay_reply_ms - how long the backend may take to answer a command */
uint32_t relay_reply_ms(const struct relay *r);
/* relay_free - the relay back to the lcore's pool */
void relay_free(struct relay *r);
/* relay_drop - forget the backend connection (RST) */
void relay_drop(struct relay *r);
/* relay_backend_name - "192.0.2.1:25" or "[2001:db8::1]:25" of the relay's backend */
const char *relay_backend_name(const struct relay *r, char *buf, size_t size);
/* relay_fail_with - the backend failed: drop it; what the client waits for gets reply */
void relay_fail_with(struct relay *r, const char *why, const char *reply);
/* relay_fail - relay_fail_with the general 4xx */
void relay_fail(struct relay *r, const char *why);
/* relay_connect - open a connection to a backend: 0, or -1 (no route, no port) */
int relay_connect(struct relay *r);
/* relay_pump - send the next request, when the backend is ready for one */
void relay_pump(struct relay *r);

/* ---- relay_backend.c ---- */

/* The backend flows' callbacks (registered by relay_init). */
extern const struct tcp_app relay_backend_app;

#endif
