/* sess - SMTP sessions on TCP flows: the glue between tcp/ and smtp/ */
#ifndef SESS_H
#define SESS_H

#include <stdbool.h>
#include <stdint.h>

#include "chunk.h"
#include "climit.h"
#include "pol.h"
#include "smtp.h"
#include "smtp_tally.h"
#include "tcp.h"

struct lcore_conf;
struct tcp_flow;

/* TLS counters of one lcore (plain increments, one writer). The cipher of
 * each session is in its log line; the metrics count by protocol. */
/* The ciphers counted by name (OpenSSL's names: TLS 1.3's suites, TLS 1.2's
 * ECDHE AES-GCM and ChaCha20 ones), as X(index, name); any other cipher
 * counts as the last, "other". A fixed list keeps the metric's labels few. */
#define SESS_TLS_CIPHER_NAMES(X)                                                                   \
	X(0, "TLS_AES_256_GCM_SHA384")                                                             \
	X(1, "TLS_AES_128_GCM_SHA256")                                                             \
	X(2, "TLS_CHACHA20_POLY1305_SHA256")                                                       \
	X(3, "ECDHE-ECDSA-AES256-GCM-SHA384")                                                      \
	X(4, "ECDHE-RSA-AES256-GCM-SHA384")                                                        \
	X(5, "ECDHE-ECDSA-AES128-GCM-SHA256")                                                      \
	X(6, "ECDHE-RSA-AES128-GCM-SHA256")                                                        \
	X(7, "ECDHE-ECDSA-CHACHA20-POLY1305")                                                      \
	X(8, "ECDHE-RSA-CHACHA20-POLY1305")                                                        \
	X(9, "other")
#define SESS_TLS_CIPHERS 10

struct sess_tls_stats {
	uint64_t started; /* 220 to STARTTLS */
	uint64_t done;    /* handshakes completed */
	uint64_t v1_2;    /* ... with TLS 1.2 */
	uint64_t v1_3;    /* ... with TLS 1.3 */
	uint64_t failed;  /* handshakes that failed (garbage, alerts, timeouts) */
	uint64_t no_slot; /* STARTTLS refused (454): TLS_CONNS_MAX reached or no memory */
	uint64_t live;    /* connections now (the gauge bounded by TLS_CONNS_MAX) */
	uint64_t cipher[SESS_TLS_CIPHERS]; /* handshakes completed, by cipher */
};

/* What one lcore keeps for its SMTP sessions (the lcore only). */
struct sess_lcore {
	struct chunk_pool sessions; /* struct sess (sess.c): a session and its limit hold */
	struct chunk_pool chunks;   /* the engine's 512-byte chunks */
	struct smtp_env env;
	struct smtp_stats stats;
	struct smtp_tally tally; /* decisions by service and by rule */
	int app;                 /* our id in the lcore's TCP stack */
	struct tcp_flow *cur;    /* the client flow the engine is working for (for the relay) */
	uint64_t refused;        /* connections refused: no session or no send space */
	uint64_t lost_output;    /* engine output the flow did not take (must stay 0) */
	uint64_t deadlines;      /* engine timers fired */
	uint64_t drained;        /* connections refused with 421 while draining */
	uint64_t limit_conn; /* 421: the client's concurrency limit (client_connection_count_limit)
	                      */
	uint64_t limit_rate; /* 421: the client's rate limit (client_connection_rate_limit) */
	uint64_t
	        limit_exempt; /* connections to a limited service from lan or whitelisted clients */
	uint64_t limit_full;  /* let in uncounted: no slot in the shared table (fail open) */
	uint16_t ports[TCP_MAX_LISTEN]; /* where we listen: the services' ports */
	unsigned nports;
	uint64_t pol_version;      /* the policy version ports were last set for */
	struct smtp_tls tls_ops;   /* the engine's STARTTLS hook */
	struct sess_tls_stats tls; /* lcore: rw, control: ro */
	char out[4096];            /* the engine's output, emptied into the flow after each call */
};

/* A session's TCP buffers before DATA (the flow is lean, tcp_set_lean()):
 * what the command phase needs, so that a client that stops reading, or
 * drips, holds at most a few chunks. In: a command line (SMTP_LINE_MAX) and
 * a pipelined batch, with room for a TLS ClientHello or record to arrive in
 * a few windows; two TCP chunks exactly. Out: the engine reads only while
 * SMTP_OUT_ROOM is free (TLS_OVERHEAD more inside TLS), so this is a few
 * replies queued behind a window the client keeps shut; a TLS handshake
 * flight larger than this goes out as the client takes it. During DATA
 * (and on the relay's backend leg) the flow has the full buffers. */
#define SESS_LEAN_RCV_BUF 4064 /* 2 x TCP_CHUNK_DATA */
#define SESS_LEAN_SND_BUF 4064

/* The per-client limits of all lcores: set up by main() before the lcores
 * start (slot NULL: no table, no limits). */
extern struct climit_table gate_climit;

/* sess_init - pools, the SMTP application on the lcore's TCP stack, and a
 * listener on every port of the policy's services; 0 or -1 */
int sess_init(struct lcore_conf *lc, const struct pol_snapshot *snap, uint32_t max_sessions,
              int socket);

/* sess_listen - listen on the ports of snap's services and on no others;
 * 0, or -1 when some port could not be listened on */
int sess_listen(struct lcore_conf *lc, const struct pol_snapshot *snap);
/* sess_tls_attach - build the TLS contexts of a compiled policy's services
 * and hang them on it (control thread, before pol_publish); 0, or -1 with
 * every error in errs */
struct pol_errs;
int sess_tls_attach(struct pol_snapshot *s, struct pol_errs *errs);

/* sess_answer - the relay's answer to what the session of client waits for */
void sess_answer(struct lcore_conf *lc, struct tcp_flow *client, const char *reply, bool end);
/* sess_auth_answer - the checker's answer to the AUTH the session of client waits on */
void sess_auth_answer(struct lcore_conf *lc, struct tcp_flow *client, enum smtp_auth_result r,
                      const char *user);

#endif
