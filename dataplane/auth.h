/* auth - AUTH credentials from the lcores to Dovecot's auth service and back
 *
 * The engine asks (struct smtp_auth) and waits; checking a password is
 * slow, remote and may block, so the lcore never does it. Its hook copies
 * the credentials into a fixed-size request on one MP/SC rte_ring and
 * returns; the auth thread (authd.c, on the control side, not an lcore)
 * speaks Dovecot's authentication protocol over a UNIX or TCP socket, as
 * Postfix's smtpd_sasl_type = dovecot does, and puts each answer on the
 * asking lcore's own ring, which the lcore polls once per loop. Nothing is
 * allocated per request and no call blocks on the lcore.
 *
 * Bounds: AUTH_SLOTS checks in flight per lcore (a session that finds no
 * slot gets 454 at once); the auth thread sends at most max_inflight to
 * the server and answers every request within the configured timeout (454
 * on expiry, on a lost server, or when none is reachable), and refuses
 * clients with too many recent failures (AUTH_LIMIT) without asking.
 *
 * Who touches what:
 *   struct auth_lcore     the lcore: rw; the control side: ro (counters)
 *   auth_requests         lcores: enqueue; the auth thread: dequeue
 *   auth_lcore.answers    the auth thread: enqueue; the lcore: dequeue
 */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "gconf.h"
#include "smtp.h"

struct lcore_conf;
struct rte_ring;
struct tcp_flow;

#define AUTH_SLOTS    64   /* checks in flight per lcore: AUTH is rare next to spam */
#define AUTH_REQ_RING 1024 /* requests of all lcores waiting for the auth thread */
#define AUTH_ANS_RING 128  /* answers for one lcore: more than its slots, never full */
#define AUTH_GRACE_MS                                                                              \
	5000 /* a slot the auth thread never answered is freed after timeout + this                \
	      */
#define AUTH_CRED_MAX  (1 + SMTP_AUTH_USER_MAX + 1 + SMTP_AUTH_CRED_MAX) /* PLAIN's, or LOGIN's */
#define AUTH_ADDR_SIZE 16

/* A check, lcore -> auth thread: fixed size, copied into the ring. */
struct auth_req {
	uint16_t worker;   /* the asking lcore's worker index: where the answer goes */
	uint16_t slot;     /* its slot there */
	uint32_t gen;      /* the slot's generation: a late answer to a reused slot is ignored */
	uint64_t asked_ms; /* the lcore's clock (TSC ms, the same on every thread) */
	uint8_t family;    /* 4 or 6 */
	uint8_t mech;      /* enum smtp_mech, for Dovecot's log only: credentials go as PLAIN */
	uint8_t tls;       /* the session is under TLS: "secured" */
	uint8_t pad;
	uint16_t lport, rport;
	uint16_t cred_len;
	uint16_t pad2;
	uint8_t client[AUTH_ADDR_SIZE];
	uint8_t local[AUTH_ADDR_SIZE];
	char cred[AUTH_CRED_MAX + 3]; /* authzid NUL authcid NUL passwd; padded to 4 bytes */
};

/* An answer, auth thread -> lcore. */
struct auth_ans {
	uint16_t slot;
	uint8_t result; /* enum smtp_auth_result */
	uint8_t pad;
	uint32_t gen;
	char user[SMTP_AUTH_USER_MAX + 1]; /* OK: the server's name for the user, or "" */
};

/* Counters of one lcore: plain increments, one writer. */
struct auth_stats {
	uint64_t asked;     /* requests queued for the auth thread */
	uint64_t busy;      /* no slot free or the request ring full: 454 at once */
	uint64_t answered;  /* answers given to a waiting session */
	uint64_t cancelled; /* the session ended while its check was in flight */
	uint64_t stale;     /* answers for a slot that was cancelled or expired */
	uint64_t expired;   /* slots the auth thread never answered (454 by the lcore) */
};

/* One check in flight on this lcore. */
struct auth_slot {
	struct tcp_flow *flow;   /* the session's flow; NULL once cancelled */
	struct smtp_session *ss; /* NULL once cancelled */
	uint64_t since_ms;
	uint32_t gen;
	bool used; /* asked and not answered (cancelled ones stay used until answered) */
};

struct auth_lcore {
	struct rte_ring *answers; /* struct auth_ans from the auth thread (SP/SC) */
	struct smtp_auth ops;     /* the engine's hooks */
	struct auth_stats stats;
	uint32_t gen;
	uint32_t expire_ms; /* timeout + AUTH_GRACE_MS */
	struct auth_slot slot[AUTH_SLOTS];
};

/* The requests of every lcore, created by auth_init(). */
extern struct rte_ring *auth_requests;

/* auth_init - when the gate config names an auth service: the request ring
 * and every worker's answer ring and hooks (the engine offers AUTH only
 * then); 0 or -1 */
int auth_init(const struct gconf *gc);
/* auth_poll - the lcore takes its answers (once per loop) */
void auth_poll(struct lcore_conf *lc);
/* auth_expire - now and then: free the slots the auth thread never answered (454) */
void auth_expire(struct lcore_conf *lc, uint64_t now);

/* authd_start - the auth thread (authd.c), after auth_init; 0 or -1 */
int authd_start(const struct gconf *gc);
/* authd_stop - stop it; pending checks are not answered (the gate stops) */
void authd_stop(void);
/* authd_drain_logs - the auth thread's log lines, written by the caller's thread */
void authd_drain_logs(void);

#endif
