/* smtp_tally - decisions counted by service and by the rule that decided
 *
 * One struct smtp_tally per lcore, written only by that lcore with plain
 * increments, read by control-plane threads (stats.c) without locks.
 *
 * Services are counted by name, not by their index in a snapshot, so that
 * a push that reorders, adds or removes services leaves the counts of the
 * others where they were. Rules are counted by their identity, the list and
 * the entry's text as written, not by entry id (which a push renumbers):
 * a rule that survives a push keeps counting on; a rule a push drops keeps
 * its last count and its slot. Both tables are insert-only and bounded: a
 * rule first hit when every slot is taken counts in its list's untracked
 * counter instead, a service name beyond the slots is not counted by
 * service (the lcore's totals still count it).
 *
 * Publication: a new slot is filled while invisible, then the slot count
 * is raised with a release store; a reader loads the count with acquire
 * and reads only slots below it, whose names never change afterwards.
 *
 * Per-hit cost: one 64-bit hash of the entry's text and a probe of a small
 * open-addressing index; no allocation, no lock, no atomic read-modify-write.
 */
#ifndef SMTP_TALLY_H
#define SMTP_TALLY_H

#include <stdint.h>

#include "pol.h"

/* Limits, with their reasons.
 * SERVICES: names per lcore, POL_MAX_SERVICES twice, for renames by pushes.
 * RULES: rules with a counter of their own per lcore; bounds the exported
 *   series, as a policy may hold 100,000 entries.
 * ENTRY: an entry's text kept for labels, cut (DPDK telemetry strings hold
 *   127 bytes). FILE: the entry's file name kept for display, cut.
 * INDEX: the probe index of the rules, at most half full. */
#define SMTP_TALLY_SERVICES 32
#define SMTP_TALLY_RULES    256
#define SMTP_TALLY_ENTRY    128
#define SMTP_TALLY_FILE     96
#define SMTP_TALLY_INDEX    (2 * SMTP_TALLY_RULES)

/* One service's counters. name: written once, before the slot is published. */
struct smtp_svc_tally {
	char name[POL_MAX_NAME];
	uint64_t sessions;              /* sessions opened on it */
	uint64_t verdicts[POL_R_COUNT]; /* decisions by reason */
};

/* One rule's counter. Everything but hits: written once, before publication. */
struct smtp_rule_tally {
	uint64_t hits;
	uint64_t hash; /* XXH3 of the entry's whole text, seeded with its list: its identity */
	uint32_t list; /* enum pol_list */
	uint32_t line; /* where it was written when this lcore first counted it */
	char entry[SMTP_TALLY_ENTRY]; /* as written, printable ASCII ('?' for others), cut */
	char file[SMTP_TALLY_FILE];
};

struct smtp_tally {
	/* lcore: rw; readers: ro (acquire loads of nsvc and nrules) */
	uint32_t nsvc;
	uint32_t nrules;
	uint64_t untracked[POL_L_COUNT]; /* hits of rules without a slot, by list */
	struct smtp_svc_tally svc[SMTP_TALLY_SERVICES];
	struct smtp_rule_tally rule[SMTP_TALLY_RULES];
	/* lcore only */
	uint64_t map_snap;                /* snapshot id map[] was made for; 0: none */
	uint8_t map[POL_MAX_SERVICES];    /* service index in that snapshot -> svc slot */
	uint16_t index[SMTP_TALLY_INDEX]; /* hash probe -> rule slot + 1; 0: empty */
};

#define SMTP_TALLY_NONE 0xff /* map[]: the service has no slot */

/* smtp_tally_service - the counters of the session's service in snap, or
 * NULL when it has no slot */
struct smtp_svc_tally *smtp_tally_service(struct smtp_tally *t, const struct pol_snapshot *snap,
                                          const struct pol_service *svc);
/* smtp_tally_service_at - smtp_tally_service() for svc, the service of
 * index i in snap, whose id is snap_id; inline and without its lookups
 * while the lcore's map is of that snapshot (every call but the first
 * after a push): the engine counts each session and each decision */
static inline struct smtp_svc_tally *
smtp_tally_service_at(struct smtp_tally *t, const struct pol_snapshot *snap, uint64_t snap_id,
                      const struct pol_service *svc, unsigned i)
{
	uint8_t slot;

	if (t->map_snap != snap_id || i >= POL_MAX_SERVICES)
		return smtp_tally_service(t, snap, svc);
	slot = t->map[i];
	return slot == SMTP_TALLY_NONE ? NULL : &t->svc[slot];
}
/* smtp_tally_rule - count one decision of entry id of snap (POL_NONE: nothing) */
void smtp_tally_rule(struct smtp_tally *t, const struct pol_snapshot *snap, uint32_t id);

#endif
