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
	uint64_t pol_version; /* the policy version ports were last set for */
	char out[4096];       /* the engine's output, emptied into the flow after each call */
};

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
/* sess_answer - the relay's answer to what the session of client waits for */
void sess_answer(struct lcore_conf *lc, struct tcp_flow *client, const char *reply, bool end);

#endif
