/* stats - every counter of the running gate, summed and snapshotted for the control plane
 *
 * The lcores count with plain increments, one writer each: struct lc_stats
 * (packets, drops by reason), the TCP stack's struct tcp_stats, the SMTP
 * engine's struct smtp_stats (verdicts by pol_reason, errors by smtp_err),
 * the session glue's and the relay's counters, the log ring's drops and the
 * relay's per-backend down marks, and the session glue's struct smtp_tally
 * (decisions by service name and by rule, smtp_tally.h), merged by name and
 * by rule identity. stats_collect() copies them all from a
 * control-plane thread without locks: each counter is read with one aligned
 * 64-bit load (whole on x86-64), so every value is one its lcore wrote; the
 * snapshot is consistent per counter, not across counters. The lcores'
 * per-packet path is not touched.
 *
 * Callers: the metrics endpoint (main thread), DPDK telemetry (its own
 * threads) and the control socket's stats command (control thread).
 */
#ifndef STATS_H
#define STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gconf.h"
#include "lcore.h"
#include "pol.h"
#include "relay.h"
#include "smtp.h"
#include "smtp_tally.h"
#include "tcp.h"

#define STATS_BACKEND_NAME 64 /* "[ffff:...:ffff]:65535" and a NUL fit */

/* The session glue's counters of one lcore (struct sess_lcore). */
struct stats_sess {
	uint64_t refused;      /* connections refused: no session or no send space */
	uint64_t lost_output;  /* engine output the flow did not take (must stay 0) */
	uint64_t deadlines;    /* engine timers fired */
	uint64_t drained;      /* connections refused with 421 while draining */
	uint64_t limit_conn;   /* 421: a client over its concurrency limit */
	uint64_t limit_rate;   /* 421: a client over its rate limit */
	uint64_t limit_exempt; /* lan or whitelisted clients of a limited service */
	uint64_t limit_full;   /* let in uncounted: the client table had no slot */
	uint64_t chunks_used;  /* the SMTP engine's 512-byte chunks in use now (gauge) */
	struct sess_tls_stats tls;
};

/* One lcore's counters, or their sum over all worker lcores. Gauges
 * (tcp.flows_active, tcp.state_n[], relay_live) sum as well. */
struct stats_lcore {
	unsigned lcore_id; /* UINT32_MAX in the totals */
	struct lc_stats net;
	struct tcp_stats tcp;
	struct smtp_stats smtp;
	struct stats_sess sess;
	struct relay_stats relay;
	struct auth_stats auth;
	uint64_t relay_live;  /* relays in use now (gauge) */
	uint64_t log_dropped; /* log lines lost: the lcore's log ring was full */
	/* the lcore's cache of policy input facts (HELO names, senders,
	 * recipients): lookups answered and not, inputs that passed it by
	 * while it sampled, and whether it samples now (gauge: 0 or 1; the
	 * totals count the lcores that sample) */
	struct {
		uint64_t hits, misses, bypassed, sampling;
	} fcache;
};

/* A backend MTA of the live policy and what the lcores think of it. */
struct stats_backend {
	char name[STATS_BACKEND_NAME]; /* "192.0.2.1:2525", "[2001:db8::1]:25" */
	unsigned lcores_down;          /* lcores that skip it now (it failed recently) */
	bool up;                       /* no lcore skips it */
};

/* A service's decisions, summed over lcores, by its name. */
#define STATS_MAX_SERVICES (2 * SMTP_TALLY_SERVICES) /* names of every lcore, with room */
struct stats_service {
	char name[POL_MAX_NAME];
	uint64_t sessions;
	uint64_t verdicts[POL_R_COUNT];
};

struct gate_stats {
	uint64_t policy_version; /* the live policy's; 0 when not known */
	bool draining;           /* a drain is in progress */
	unsigned nlcores;
	struct stats_lcore lcore[GCONF_MAX_LCORES]; /* by worker index */
	struct stats_lcore total;
	unsigned nbackends;
	struct stats_backend backend[POL_MAX_BACKENDS];
	unsigned nservices; /* sorted by name */
	struct stats_service service[STATS_MAX_SERVICES];
};

/* stats_collect - snapshot every worker lcore's counters and their sum.
 * r is the calling thread's policy reader (pol_reader_register), offline on
 * entry and on return: it is put online only to read the live policy's
 * version and backends. With r NULL (a thread not registered with RCU)
 * those come from the last stats_collect() that had a reader. */
void stats_collect(struct gate_stats *out, struct pol_reader *r);

/* A rule's decisions, summed over lcores (see smtp_tally.h for how counts
 * follow pushes). */
struct stats_rule {
	uint64_t hash; /* identity with list */
	enum pol_list list;
	unsigned line;
	uint64_t hits;
	char entry[SMTP_TALLY_ENTRY];
	char file[SMTP_TALLY_FILE];
};

struct stats_rules {
	size_t n;                        /* sorted by list, then entry */
	struct stats_rule *rule;         /* malloc'ed */
	uint64_t untracked[POL_L_COUNT]; /* hits of rules without a slot on some lcore */
};

/* stats_rules_collect - every lcore's rule counters, merged; 0 or -1 (no
 * memory). Free with stats_rules_free. At most SMTP_TALLY_RULES per lcore. */
int stats_rules_collect(struct stats_rules *out);
void stats_rules_free(struct stats_rules *r);

/* What each lcore exports, as one table shared by the Prometheus endpoint,
 * DPDK telemetry and the control socket, so that all of them use the same
 * names. A metric is a counter (its name ends in _total) or a gauge; a
 * labelled one has one value per label value ("reason" = "csum", ...).
 * Names and label values are lower case [a-z0-9_]. */
#define STATS_MAX_VALUES 24 /* label values of one metric: smtp_err has 17 */

struct stats_value {
	const char *label; /* the label's value; NULL for an unlabelled metric */
	size_t off;        /* where its uint64_t is in struct stats_lcore */
};

struct stats_metric {
	const char *name; /* "smtp_verdicts_total" (Prometheus adds "smtpgate_") */
	const char *help; /* one sentence */
	bool gauge;
	const char *label; /* the label's name ("reason"), or NULL */
	unsigned n;        /* values */
	struct stats_value v[STATS_MAX_VALUES];
};

/* stats_metrics - the table; *n: how many metrics */
const struct stats_metric *stats_metrics(size_t *n);
/* stats_get - one value of an lcore's counters (or of their totals) */
uint64_t stats_get(const struct stats_lcore *s, const struct stats_value *v);

/* Label values of the enum-indexed counters; reasons and errors are
 * pol_reason_name() and smtp_err_name(). */
const char *stats_tcp_state_name(enum tcp_state s); /* "syn_rcvd" */
const char *stats_reply_class_name(unsigned cls);   /* 2..5: "2xx"; others NULL */

#endif
