/* smtp_tally - decisions counted by service and by rule (see smtp_tally.h)
 *
 * Who touches what: every field is written by the owning lcore only; nsvc,
 * nrules, names and counters are read by control-plane threads.
 */
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "smtp_impl.h"
#include "smtp_tally.h"

_Static_assert(SMTP_TALLY_SERVICES < SMTP_TALLY_NONE, "service slots fit map[]");
_Static_assert(SMTP_TALLY_RULES < UINT16_MAX, "rule slots fit index[]");
_Static_assert((SMTP_TALLY_INDEX & (SMTP_TALLY_INDEX - 1)) == 0, "index size is a power of 2");

/* svc_slot - the slot of a service name: found, made, or SMTP_TALLY_NONE */
static uint8_t
svc_slot(struct smtp_tally *t, const char *name)
{
	uint32_t n = t->nsvc;

	for (uint32_t i = 0; i < n; i++)
		if (strcmp(t->svc[i].name, name) == 0)
			return (uint8_t)i;
	if (n == SMTP_TALLY_SERVICES)
		return SMTP_TALLY_NONE;
	memset(&t->svc[n], 0, sizeof(t->svc[n]));
	snprintf(t->svc[n].name, sizeof(t->svc[n].name), "%s", name);
	__atomic_store_n(&t->nsvc, n + 1, __ATOMIC_RELEASE); /* the name first, then the slot */
	return (uint8_t)n;
}

/* map_build - service index of a new snapshot -> slot; once per push per lcore */
static void
map_build(struct smtp_tally *t, const struct pol_snapshot *snap)
{
	const struct pol_model *m = pol_snapshot_model(snap);

	for (unsigned i = 0; i < POL_MAX_SERVICES; i++)
		t->map[i] = i < m->nservices ? svc_slot(t, m->services[i].name) : SMTP_TALLY_NONE;
	t->map_snap = pol_snapshot_id(snap);
}

struct smtp_svc_tally *
smtp_tally_service(struct smtp_tally *t, const struct pol_snapshot *snap,
                   const struct pol_service *svc)
{
	const struct pol_model *m = pol_snapshot_model(snap);
	size_t i = (size_t)(svc - m->services);
	uint8_t slot;

	if (i >= m->nservices)
		smtp_panic("service %p is not one of the snapshot's", (const void *)svc);
	if (t->map_snap != pol_snapshot_id(snap))
		map_build(t, snap);
	slot = t->map[i];
	return slot == SMTP_TALLY_NONE ? NULL : &t->svc[slot];
}

/* copy_printable - text for a label or a display: printable ASCII, cut */
static void
copy_printable(char *dst, size_t size, const char *src)
{
	size_t n;

	for (n = 0; src[n] != '\0' && n + 1 < size; n++) {
		unsigned char ch = (unsigned char)src[n];

		dst[n] = ch < ' ' || ch >= 0x7f ? '?' : (char)ch;
	}
	dst[n] = '\0';
}

/* rule_new - publish a slot for a rule; its index or -1 when all are taken */
static int
rule_new(struct smtp_tally *t, const struct pol_entry *e, uint64_t h)
{
	uint32_t n = t->nrules;
	struct smtp_rule_tally *r = &t->rule[n];

	if (n == SMTP_TALLY_RULES)
		return -1;
	r->hits = 0;
	r->hash = h;
	r->list = (uint32_t)e->list;
	r->line = e->line;
	copy_printable(r->entry, sizeof(r->entry), e->text);
	copy_printable(r->file, sizeof(r->file), e->file != NULL ? e->file : "?");
	__atomic_store_n(&t->nrules, n + 1, __ATOMIC_RELEASE);
	return (int)n;
}

void
smtp_tally_rule(struct smtp_tally *t, const struct pol_snapshot *snap, uint32_t id)
{
	const struct pol_entry *e;
	uint64_t h;
	unsigned i;

	if (id == POL_NONE)
		return;
	e = pol_entry_get(snap, id);
	if (e == NULL || (unsigned)e->list >= POL_L_COUNT)
		smtp_panic("verdict rule %u is not an entry of the snapshot", id);
	h = XXH3_64bits_withSeed(e->text, strlen(e->text), (uint64_t)e->list);
	for (i = (unsigned)h & (SMTP_TALLY_INDEX - 1); t->index[i] != 0;
	     i = (i + 1) & (SMTP_TALLY_INDEX - 1)) {
		struct smtp_rule_tally *r = &t->rule[t->index[i] - 1];

		if (r->hash == h && r->list == (uint32_t)e->list) {
			r->hits++;
			return;
		}
	}
	/* never hit here before: the index has room, since it is twice the slots */
	int slot = rule_new(t, e, h);

	if (slot < 0) {
		t->untracked[e->list]++;
		return;
	}
	t->index[i] = (uint16_t)(slot + 1);
	t->rule[slot].hits++;
}
