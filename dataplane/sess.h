/* sess - SMTP sessions on TCP flows: the glue between tcp/ and smtp/ */
#ifndef SESS_H
#define SESS_H

#include <stdbool.h>
#include <stdint.h>

#include "chunk.h"
#include "pol.h"
#include "smtp.h"
#include "tcp.h"

struct lcore_conf;
struct tcp_flow;

/* What one lcore keeps for its SMTP sessions (the lcore only). */
struct sess_lcore {
	struct chunk_pool sessions; /* struct smtp_session objects */
	struct chunk_pool chunks;   /* the engine's 512-byte chunks */
	struct smtp_env env;
	struct smtp_stats stats;
	int app;              /* our id in the lcore's TCP stack */
	struct tcp_flow *cur; /* the client flow the engine is working for (for the relay) */
	uint64_t refused;     /* connections refused: no session or no send space */
	uint64_t lost_output; /* engine output the flow did not take (must stay 0) */
	uint64_t deadlines;   /* engine timers fired */
	uint64_t drained;     /* connections refused with 421 while draining */
	uint16_t ports[TCP_MAX_LISTEN]; /* where we listen: the services' ports */
	unsigned nports;
	uint64_t pol_version; /* the policy version ports were last set for */
	char out[4096];       /* the engine's output, emptied into the flow after each call */
};

/* sess_init - pools, the SMTP application on the lcore's TCP stack, and a
 * listener on every port of the policy's services; 0 or -1 */
int sess_init(struct lcore_conf *lc, const struct pol_snapshot *snap, uint32_t max_sessions,
              int socket);

/* sess_listen - listen on the ports of snap's services and on no others;
 * 0, or -1 when some port could not be listened on */
int sess_listen(struct lcore_conf *lc, const struct pol_snapshot *snap);
/* sess_answer - the relay's answer to what the session of client waits for */
void sess_answer(struct lcore_conf *lc, struct tcp_flow *client, const char *reply, bool end);
/* sess_auth_answer - the checker's answer to the AUTH the session of client waits on */
void sess_auth_answer(struct lcore_conf *lc, struct tcp_flow *client, enum smtp_auth_result r,
                      const char *user);

#endif
