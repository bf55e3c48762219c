/* pol_compile - rule model -> immutable snapshot of lookup structures
 *
 * Each entry goes where its kind is cheapest to match (DESIGN.md,
 * "Compiling the policy"): exact addresses, local parts, domains and
 * subdomain suffixes in hash sets whose records answer every list at once;
 * client prefixes in one prefix table per list; only globs and regexes in
 * Hyperscan, one database per input (HELO, sender, recipient), taken from
 * the cache when the same patterns were compiled before.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pol_impl.h"

static atomic_uint_fast64_t next_snapshot_id = 1;

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum pol_ctab
list_ctab(enum pol_list l)
{
	switch (l) {
	case POL_L_LAN:
		return CT_LAN;
	case POL_L_RELAY_CLIENTS:
		return CT_RELAY;
	case POL_L_WL_CLIENTS:
		return CT_WL;
	case POL_L_BL_CLIENTS:
		return CT_BL;
	case POL_L_LOCAL_ADDRESSES:
		return CT_LOCAL_ADDR;
	default:
		return CT_COUNT;
	}
}

/* build_names - the four hash sets and their records */
static int
build_names(struct pol_snapshot *s)
{
	const struct pol_model *m = s->m;
	struct hset_builder *b[POL_P_COUNT] = {0};
	struct hset **t[POL_P_COUNT] = {
	        [POL_P_ADDR] = &s->t_addr,
	        [POL_P_LOCALPART] = &s->t_lpart,
	        [POL_P_DOMAIN] = &s->t_dom,
	        [POL_P_SUBDOMAIN] = &s->t_sub,
	};
	size_t nrec = 0;
	int rc = -1;

	for (int k = 0; k < POL_P_COUNT; k++)
		if (t[k] != NULL && (b[k] = hset_builder_new()) == NULL)
			goto out;
	/* pass 1: one record per distinct key of each table */
	for (size_t i = 0; i < m->nentries; i++) {
		const struct pol_entry *e = &m->entries[i];
		int r;

		if (t[e->kind] == NULL || pol_list_slot(e->list) == S_COUNT)
			continue;
		r = hset_builder_add(b[e->kind], e->key, strlen(e->key), (uint32_t)nrec);
		if (r < 0)
			goto out;
		if (r == 0)
			nrec++;
	}
	for (int k = 0; k < POL_P_COUNT; k++) {
		if (t[k] == NULL)
			continue;
		*t[k] = hset_build(b[k]);
		b[k] = NULL;
		if (*t[k] == NULL)
			goto out;
	}
	s->recs = malloc((nrec ? nrec : 1) * sizeof(*s->recs));
	if (s->recs == NULL)
		goto out;
	memset(s->recs, 0xff, (nrec ? nrec : 1) * sizeof(*s->recs));
	s->nrecs = nrec;
	/* pass 2: fill each record's slot with the first entry of that list */
	for (size_t i = 0; i < m->nentries; i++) {
		const struct pol_entry *e = &m->entries[i];
		enum pol_slot slot = pol_list_slot(e->list);
		uint32_t r;

		if (e->kind == POL_P_NULL) {
			uint32_t *n = &s->null_sender[e->list == POL_L_BL_SENDERS];

			if (*n == POL_NONE)
				*n = (uint32_t)i;
			continue;
		}
		if (t[e->kind] == NULL || slot == S_COUNT)
			continue;
		r = hset_get(*t[e->kind], e->key, strlen(e->key));
		if (r != HSET_NONE && s->recs[r].e[slot] == POL_NONE)
			s->recs[r].e[slot] = (uint32_t)i;
	}
	rc = 0;
out:
	for (int k = 0; k < POL_P_COUNT; k++)
		hset_builder_free(b[k]);
	return rc;
}

/* build_cidrs - one prefix table per client list */
static int
build_cidrs(struct pol_snapshot *s)
{
	const struct pol_model *m = s->m;
	struct cidr *v = malloc((m->nentries ? m->nentries : 1) * sizeof(*v));
	uint32_t *vals = malloc((m->nentries ? m->nentries : 1) * sizeof(*vals));
	int rc = 0;

	if (v == NULL || vals == NULL)
		rc = -1;
	for (int ct = 0; ct < CT_COUNT && rc == 0; ct++) {
		size_t n = 0;

		for (size_t i = 0; i < m->nentries; i++) {
			if (m->entries[i].kind == POL_P_CIDR &&
			    list_ctab(m->entries[i].list) == (enum pol_ctab)ct) {
				v[n] = m->entries[i].cidr;
				vals[n++] = (uint32_t)i;
			}
		}
		s->ct[ct] = cidr_table_build(v, vals, n);
		if (s->ct[ct] == NULL)
			rc = -1;
	}
	free(v);
	free(vals);
	return rc;
}

/* build_patterns - a Hyperscan database per input that has globs or regexes */
static int
build_patterns(struct pol_snapshot *s, struct pol_errs *errs)
{
	const struct pol_model *m = s->m;
	size_t cap = m->nentries ? m->nentries : 1;
	const char **exprs = malloc(cap * sizeof(*exprs));
	char **owned = calloc(cap, sizeof(*owned));
	unsigned *flags = malloc(cap * sizeof(*flags));
	uint32_t *ids = NULL;
	int rc = 0;

	ids = malloc(cap * sizeof(*ids));
	if (exprs == NULL || owned == NULL || flags == NULL || ids == NULL) {
		rc = -1;
		goto out;
	}
	for (int in = 0; in < IN_COUNT; in++) {
		size_t n = 0;
		bool cached;

		for (size_t i = 0; i < m->nentries; i++) {
			const struct pol_entry *e = &m->entries[i];

			if ((e->kind != POL_P_GLOB && e->kind != POL_P_REGEX) ||
			    pol_list_input(e->list) != (enum pol_input)in)
				continue;
			/* inputs are never empty when scanned, so a pattern that
			 * could match empty simply matches every input */
			flags[n] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
			if (e->kind == POL_P_GLOB) {
				owned[n] = pol_glob_to_regex(e->key);
				if (owned[n] == NULL) {
					rc = -1;
					goto out;
				}
				exprs[n] = owned[n];
				flags[n] |= HS_FLAG_DOTALL;
			} else {
				exprs[n] = e->key;
			}
			ids[n++] = (uint32_t)i;
		}
		if (n == 0)
			continue;
		/* the snapshot owns the map; ids (sized for every entry) is reused */
		s->hs_map[in] = malloc(n * sizeof(*ids));
		if (s->hs_map[in] == NULL) {
			rc = -1;
			goto out;
		}
		memcpy(s->hs_map[in], ids, n * sizeof(*ids));
		s->hs[in] = pol_hs_get(exprs, flags, s->hs_map[in], n, &cached, errs, m->entries);
		for (size_t i = 0; i < n; i++) {
			free(owned[i]);
			owned[i] = NULL;
		}
		if (s->hs[in] == NULL) {
			rc = -1;
			continue; /* report the other inputs' errors too */
		}
		s->stats.hs_patterns += n;
		if (cached)
			s->stats.hs_cached++;
		else
			s->stats.hs_compiled++;
		if (hs_alloc_scratch(s->hs[in]->db, &s->scratch0) != HS_SUCCESS)
			rc = -1;
	}
out:
	for (size_t i = 0; owned != NULL && i < cap; i++)
		free(owned[i]);
	free(exprs);
	free(owned);
	free(flags);
	free(ids);
	return rc;
}

struct pol_snapshot *
pol_compile(struct pol_model *m, struct pol_errs *errs)
{
	double t0 = now_seconds();
	struct pol_snapshot *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		pol_model_free(m);
		pol_errs_add(errs, "-", 0, "out of memory");
		return NULL;
	}
	s->m = m;
	s->id = atomic_fetch_add(&next_snapshot_id, 1);
	s->null_sender[0] = s->null_sender[1] = POL_NONE;
	if (build_patterns(s, errs) < 0 || build_names(s) < 0 || build_cidrs(s) < 0) {
		if (errs->total == 0)
			pol_errs_add(errs, m->nfiles ? m->files[0] : "-", 0, "out of memory");
		pol_snapshot_free(s);
		return NULL;
	}
	memcpy(s->stats.nlist, m->nlist, sizeof(s->stats.nlist));
	for (size_t i = 0; i < m->nentries; i++)
		s->stats.nkind[m->entries[i].kind]++;
	memcpy(s->stats.source_hash, m->source_hash, sizeof(s->stats.source_hash));
	s->stats.mem_bytes = hset_mem(s->t_addr) + hset_mem(s->t_lpart) + hset_mem(s->t_dom) +
	                     hset_mem(s->t_sub) + s->nrecs * sizeof(*s->recs);
	for (int ct = 0; ct < CT_COUNT; ct++)
		s->stats.mem_bytes += cidr_table_mem(s->ct[ct]);
	for (int in = 0; in < IN_COUNT; in++)
		if (s->hs[in] != NULL)
			s->stats.mem_bytes += s->hs[in]->bytes;
	s->stats.compile_seconds = now_seconds() - t0;
	return s;
}

void
pol_snapshot_scratch_free(struct pol_snapshot *s)
{
	for (int i = 0; i < POL_MAX_READERS; i++) {
		hs_free_scratch(s->scratch[i]);
		s->scratch[i] = NULL;
	}
}

void
pol_snapshot_free(struct pol_snapshot *s)
{
	if (s == NULL)
		return;
	hset_free(s->t_addr);
	hset_free(s->t_lpart);
	hset_free(s->t_dom);
	hset_free(s->t_sub);
	free(s->recs);
	for (int ct = 0; ct < CT_COUNT; ct++)
		cidr_table_free(s->ct[ct]);
	for (int in = 0; in < IN_COUNT; in++) {
		pol_hs_put(s->hs[in]);
		free(s->hs_map[in]);
	}
	hs_free_scratch(s->scratch0);
	pol_snapshot_scratch_free(s);
	pol_model_free(s->m);
	free(s);
}

const struct pol_model *
pol_snapshot_model(const struct pol_snapshot *s)
{
	return s->m;
}

void
pol_snapshot_stats(const struct pol_snapshot *s, struct pol_stats *out)
{
	*out = s->stats;
	out->version = s->version;
}

const struct pol_service *
pol_service_find(const struct pol_snapshot *s, const char *name)
{
	for (unsigned i = 0; i < s->m->nservices; i++)
		if (strcasecmp(s->m->services[i].name, name) == 0)
			return &s->m->services[i];
	return NULL;
}

const struct pol_service *
pol_service_by_port(const struct pol_snapshot *s, uint16_t port)
{
	for (unsigned i = 0; i < s->m->nservices; i++)
		for (unsigned p = 0; p < s->m->services[i].nports; p++)
			if (s->m->services[i].ports[p] == port)
				return &s->m->services[i];
	return NULL;
}

const struct pol_entry *
pol_entry_get(const struct pol_snapshot *s, uint32_t id)
{
	return id < s->m->nentries ? &s->m->entries[id] : NULL;
}
