/* pol_compile - rule model -> immutable snapshot of lookup structures
 *
 * Each entry goes where its kind is cheapest to match (DESIGN.md,
 * "Compiling the policy"): exact addresses, local parts, domains and
 * subdomain suffixes in hash sets whose records answer every list at once;
 * client prefixes in one prefix table per list; only globs and regexes in
 * Hyperscan, two databases per input (HELO, sender, recipient): the
 * patterns that require a literal, behind the gram prefilter of pol_lit.c,
 * and the others; each taken from the cache when the same patterns were
 * compiled before.
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

/* key_labels - the labels of a domain key: its dots and one */
static unsigned
key_labels(const char *key)
{
	unsigned n = 1;

	for (const char *p = strchr(key, '.'); p != NULL; p = strchr(p + 1, '.'))
		n++;
	return n;
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
		if (e->kind == POL_P_DOMAIN)
			s->dom_labels |= pol_labels_bit(key_labels(e->key));
		else if (e->kind == POL_P_SUBDOMAIN)
			s->sub_labels |= pol_labels_bit(key_labels(e->key));
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

/* The distinct client facts of the ranges of s->clients, while they are mapped. */
struct client_intern {
	struct pol_snapshot *s;
	uint32_t *slot; /* open addressing: index + 1 in s->client_facts, 0 empty */
	size_t mask;
	size_t n;
};

static size_t
facts_hash(const struct pol_client_facts *f)
{
	uint64_t h = ((uint64_t)f->lan << 32 | f->relay) * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)f->wl << 32 | f->bl) * 0xc2b2ae3d27d4eb4full;
	return (size_t)(h ^ h >> 29);
}

/* client_facts_of - the index of the facts of address a in s->client_facts
 * (interned: equal facts share one index), CIDR_NONE when it is in no list */
static uint32_t
client_facts_of(void *arg, const struct cidr *a)
{
	struct client_intern *ci = arg;
	struct pol_snapshot *s = ci->s;
	struct pol_client_facts f = {
	        .lan = cidr_lookup(s->ct[CT_LAN], a),
	        .relay = cidr_lookup(s->ct[CT_RELAY], a),
	        .wl = cidr_lookup(s->ct[CT_WL], a),
	        .bl = cidr_lookup(s->ct[CT_BL], a),
	};
	size_t i;

	if (f.lan == CIDR_NONE && f.relay == CIDR_NONE && f.wl == CIDR_NONE && f.bl == CIDR_NONE)
		return CIDR_NONE;
	for (i = facts_hash(&f) & ci->mask; ci->slot[i] != 0; i = (i + 1) & ci->mask)
		if (memcmp(&s->client_facts[ci->slot[i] - 1], &f, sizeof(f)) == 0)
			return ci->slot[i] - 1;
	s->client_facts[ci->n] = f;
	ci->slot[i] = (uint32_t)++ci->n;
	return ci->slot[i] - 1;
}

/* build_clients - the four client lists in one table (after build_cidrs):
 * a connecting client costs one lookup, not four */
static int
build_clients(struct pol_snapshot *s)
{
	const struct pol_model *m = s->m;
	struct client_intern ci = {.s = s};
	struct cidr *v = malloc((m->nentries ? m->nentries : 1) * sizeof(*v));
	size_t n = 0, cap;
	int rc = -1;

	if (v == NULL)
		return -1;
	for (size_t i = 0; i < m->nentries; i++) {
		enum pol_ctab ct = list_ctab(m->entries[i].list);

		if (m->entries[i].kind == POL_P_CIDR && ct <= CT_BL)
			v[n++] = m->entries[i].cidr;
	}
	/* each family's table has at most 2n + 1 ranges, so as many distinct facts */
	cap = 2 * n + 2;
	for (ci.mask = 15; ci.mask < 2 * cap; ci.mask = ci.mask * 2 + 1)
		;
	s->clients = cidr_table_build(v, NULL, n);
	s->client_facts = malloc(cap * sizeof(*s->client_facts));
	ci.slot = calloc(ci.mask + 1, sizeof(*ci.slot));
	if (s->clients != NULL && s->client_facts != NULL && ci.slot != NULL) {
		cidr_table_remap(s->clients, client_facts_of, &ci);
		s->nclient_facts = ci.n;
		rc = 0;
	}
	free(ci.slot);
	free(v);
	return rc;
}

/* Patterns of one input and one part, gathered for pol_hs_get. */
struct hs_set {
	const char **exprs;
	char **owned; /* glob translations, freed after compiling */
	unsigned *flags;
	uint32_t *ids;
	const char **lits; /* HP_LIT: each pattern's required literal */
	size_t n;
};

/* hs_set_add - one glob or regex entry, with its literal (or NULL) */
static int
hs_set_add(struct hs_set *hs, const struct pol_entry *e, uint32_t id, char *lit)
{
	size_t n = hs->n;

	/* inputs are never empty when scanned, so a pattern that could match
	 * empty simply matches every input */
	hs->flags[n] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
	if (e->kind == POL_P_GLOB) {
		hs->owned[n] = pol_glob_to_regex(e->key);
		if (hs->owned[n] == NULL)
			return -1;
		hs->exprs[n] = hs->owned[n];
		hs->flags[n] |= HS_FLAG_DOTALL;
	} else {
		hs->exprs[n] = e->key;
	}
	hs->lits[n] = lit;
	hs->ids[n] = id;
	hs->n++;
	return 0;
}

/* hs_set_clear - free what one round owned */
static void
hs_set_clear(struct hs_set *hs)
{
	for (size_t i = 0; i < hs->n; i++) {
		free(hs->owned[i]);
		hs->owned[i] = NULL;
		free((char *)hs->lits[i]);
		hs->lits[i] = NULL;
	}
	hs->n = 0;
}

/* hs_set_new - arrays for up to cap patterns; -1 on allocation failure */
static int
hs_set_new(struct hs_set *hs, size_t cap)
{
	hs->exprs = malloc(cap * sizeof(*hs->exprs));
	hs->owned = calloc(cap, sizeof(*hs->owned));
	hs->flags = malloc(cap * sizeof(*hs->flags));
	hs->ids = malloc(cap * sizeof(*hs->ids));
	hs->lits = calloc(cap, sizeof(*hs->lits));
	hs->n = 0;
	return hs->exprs && hs->owned && hs->flags && hs->ids && hs->lits ? 0 : -1;
}

static void
hs_set_free(struct hs_set *hs)
{
	if (hs->owned != NULL && hs->lits != NULL)
		hs_set_clear(hs);
	free(hs->exprs);
	free(hs->owned);
	free(hs->flags);
	free(hs->ids);
	free(hs->lits);
}

/* build_heads - the head filter of an input's HP_ALWAYS patterns, from
 * the entries as written (none when one of them is not anchored) */
static int
build_heads(struct pol_snapshot *s, int in, const struct hs_set *hs)
{
	const char **pats = malloc(hs->n * sizeof(*pats));
	bool *glob = malloc(hs->n * sizeof(*glob));
	int rc = -1;

	if (pats != NULL && glob != NULL) {
		for (size_t i = 0; i < hs->n; i++) {
			const struct pol_entry *e = &s->m->entries[hs->ids[i]];

			pats[i] = e->key;
			glob[i] = e->kind == POL_P_GLOB;
		}
		rc = pol_heads_build(pats, glob, hs->n, &s->heads[in]);
	}
	free(pats);
	free(glob);
	return rc;
}

/* compile_part - the database of one input's part from its gathered patterns */
static int
compile_part(struct pol_snapshot *s, int in, int part, struct hs_set *hs, struct pol_errs *errs)
{
	bool cached;

	if (hs->n == 0)
		return 0;
	s->hs_map[in][part] = malloc(hs->n * sizeof(*hs->ids));
	if (s->hs_map[in][part] == NULL)
		return -1;
	memcpy(s->hs_map[in][part], hs->ids, hs->n * sizeof(*hs->ids));
	if (part == HP_LIT && (s->grams[in] = pol_grams_build(hs->lits, hs->n)) == NULL)
		return -1;
	if (part == HP_ALWAYS && build_heads(s, in, hs) < 0)
		return -1;
	s->hs[in][part] = pol_hs_get(hs->exprs, hs->flags, s->hs_map[in][part], hs->n, &cached,
	                             errs, s->m->entries);
	if (s->hs[in][part] == NULL)
		return -1;
	s->stats.hs_patterns += hs->n;
	if (cached)
		s->stats.hs_cached++;
	else
		s->stats.hs_compiled++;
	return hs_alloc_scratch(s->hs[in][part]->db, &s->scratch0) == HS_SUCCESS ? 0 : -1;
}

/* build_patterns - per input with globs or regexes, a Hyperscan database
 * of the patterns the literal prefilter can select and one of the rest */
static int
build_patterns(struct pol_snapshot *s, struct pol_errs *errs)
{
	const struct pol_model *m = s->m;
	size_t cap = m->nentries ? m->nentries : 1;
	struct hs_set hs[HP_COUNT] = {0};
	int rc = 0;

	if (hs_set_new(&hs[HP_ALWAYS], cap) < 0 || hs_set_new(&hs[HP_LIT], cap) < 0) {
		rc = -1;
		goto out;
	}
	for (int in = 0; in < IN_COUNT; in++) {
		for (size_t i = 0; i < m->nentries; i++) {
			const struct pol_entry *e = &m->entries[i];
			char lit[POL_MAX_ENTRY + 1], *dup = NULL;
			bool glob = e->kind == POL_P_GLOB;

			if ((!glob && e->kind != POL_P_REGEX) ||
			    pol_list_input(e->list) != (enum pol_input)in)
				continue;
			if (pol_lit_required(e->key, glob, lit, sizeof(lit)) > 0 &&
			    (dup = strdup(lit)) == NULL) {
				rc = -1;
				goto out;
			}
			if (hs_set_add(&hs[dup != NULL ? HP_LIT : HP_ALWAYS], e, (uint32_t)i, dup) <
			    0) {
				free(dup);
				rc = -1;
				goto out;
			}
		}
		/* report the other inputs' errors too */
		for (int part = 0; part < HP_COUNT; part++) {
			if (compile_part(s, in, part, &hs[part], errs) < 0)
				rc = -1;
			hs_set_clear(&hs[part]);
		}
	}
out:
	hs_set_free(&hs[HP_ALWAYS]);
	hs_set_free(&hs[HP_LIT]);
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
	if (build_patterns(s, errs) < 0 || build_names(s) < 0 || build_cidrs(s) < 0 ||
	    build_clients(s) < 0) {
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
	s->stats.mem_bytes +=
	        cidr_table_mem(s->clients) + s->nclient_facts * sizeof(*s->client_facts);
	for (int in = 0; in < IN_COUNT; in++) {
		for (int part = 0; part < HP_COUNT; part++)
			if (s->hs[in][part] != NULL)
				s->stats.mem_bytes += s->hs[in][part]->bytes;
		if (s->grams[in] != NULL)
			s->stats.mem_bytes += (s->grams[in]->mask + 1) * sizeof(*s->grams[in]->key);
		if (s->heads[in] != NULL)
			s->stats.mem_bytes += s->heads[in]->n * sizeof(s->heads[in]->h[0]);
	}
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
	cidr_table_free(s->clients);
	free(s->client_facts);
	for (int in = 0; in < IN_COUNT; in++) {
		for (int part = 0; part < HP_COUNT; part++) {
			pol_hs_put(s->hs[in][part]);
			free(s->hs_map[in][part]);
		}
		pol_grams_free(s->grams[in]);
		free(s->heads[in]);
	}
	hs_free_scratch(s->scratch0);
	pol_snapshot_scratch_free(s);
	if (s->attachment_free != NULL)
		s->attachment_free(s->attachment);
	pol_model_free(s->m);
	free(s);
}

/* pol_snapshot_attach - the user's data rides with the snapshot and its grace period */
void
pol_snapshot_attach(struct pol_snapshot *s, void *data, void (*free_fn)(void *))
{
	s->attachment = data;
	s->attachment_free = free_fn;
}

void *
pol_snapshot_attachment(const struct pol_snapshot *s)
{
	return s->attachment;
}

const struct pol_model *
pol_snapshot_model(const struct pol_snapshot *s)
{
	return s->m;
}

uint64_t
pol_snapshot_id(const struct pol_snapshot *s)
{
	return s->id;
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
