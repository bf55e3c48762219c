/* pol_impl - what the files of policy/ share and nobody else sees */
#ifndef POL_IMPL_H
#define POL_IMPL_H

#include <hs/hs.h>

#include "pol.h"
#include "pol_hset.h"

/* Per-key record slots: one hash lookup of a string answers every list
 * that can hold that string. */
enum pol_slot {
	S_WL_HELO,
	S_BL_HELO,
	S_WL_SENDER,
	S_BL_SENDER,
	S_WL_RCPT,
	S_BL_RCPT,
	S_LOCAL_DOMAIN,
	S_LOCAL_HOST,
	S_COUNT
};

struct pol_rec {
	uint32_t e[S_COUNT]; /* entry id per slot, or POL_NONE */
};

/* The inputs that are matched against names and patterns. */
enum pol_input { IN_HELO, IN_SENDER, IN_RCPT, IN_COUNT };

/* The two Hyperscan databases of an input: patterns without a literal the
 * prefilter can use are scanned for every input their heads allow (all
 * when one has none), the others only when the input holds one of their
 * grams (pol_lit.c). */
enum pol_hspart { HP_ALWAYS, HP_LIT, HP_COUNT };

/* Grams (3 to POL_GRAM_MAX bytes) of the literals the HP_LIT patterns
 * require: a bitmap of the 3-byte windows of each gram (all of them), 4
 * KiB to stay in L1 (a few hundred grams set 2-3% of it), in front of a
 * table of the grams themselves. */
#define POL_GRAM_BITS_LOG2 15
#define POL_GRAM_MAX       5
struct pol_grams {
	uint64_t bits[(1u << POL_GRAM_BITS_LOG2) / 64];
	uint64_t *key;  /* open addressing, 0: empty */
	uint32_t mask;  /* slots - 1 */
	unsigned sizes; /* bit m: some gram has m bytes */
	size_t n;       /* grams held */
	size_t step;    /* input positions pol_grams_any tries: the shortest gram - 2 */
};

/* What the first bytes of every input an HP_ALWAYS pattern matches must
 * be, when the pattern is anchored at the start ("^[0-9]{8,}@", a glob not
 * starting with '*'): a byte class per position, POL_HEAD_LEN at most.
 * The database is scanned only when some pattern's head fits (pol_lit.c). */
#define POL_HEAD_LEN 4
struct pol_head {
	uint64_t cls[POL_HEAD_LEN][4]; /* 256-bit byte sets, caseless */
	size_t len;                    /* positions known, 1..POL_HEAD_LEN */
};
struct pol_heads {
	size_t n;
	struct pol_head h[];
};

/* The client prefix lists. */
enum pol_ctab { CT_LAN, CT_RELAY, CT_WL, CT_BL, CT_LOCAL_ADDR, CT_COUNT };

/* The entries of the four client lists covering one range of addresses. */
struct pol_client_facts {
	uint32_t lan, relay, wl, bl;
};

/* A compiled Hyperscan database shared by every snapshot (and the cache)
 * that holds the same patterns. Reference counts change on the control
 * thread only. */
struct pol_hsdb {
	hs_database_t *db;
	uint8_t hash[16];
	unsigned refs;
	size_t bytes;
	size_t npatterns;
};

struct pol_snapshot {
	uint64_t id;          /* unique per compile, for pol_state */
	uint64_t version;     /* given by pol_publish */
	struct pol_model *m;  /* entries, services, backend */
	struct hset *t_addr;  /* "user@domain" -> rec */
	struct hset *t_lpart; /* "user" (entries "user@") -> rec */
	struct hset *t_dom;   /* "domain" or host -> rec */
	struct hset *t_sub;   /* "domain" of ".domain" entries -> rec */
	/* label counts of the keys of t_dom and t_sub (pol_labels_bit): a
	 * name's suffix of a count no key has is neither hashed nor probed */
	uint64_t dom_labels, sub_labels;
	struct pol_rec *recs;
	size_t nrecs;
	uint32_t null_sender[2]; /* "<>" entry: [0] whitelist, [1] blacklist */
	struct cidr_table *ct[CT_COUNT];
	/* every prefix of lan, relay, whitelist and blacklist clients in one
	 * table, whose value is an index in client_facts (CIDR_NONE: in none) */
	struct cidr_table *clients;
	struct pol_client_facts *client_facts;
	size_t nclient_facts;
	struct pol_hsdb *hs[IN_COUNT][HP_COUNT];
	uint32_t *hs_map[IN_COUNT][HP_COUNT];   /* Hyperscan id -> entry id */
	struct pol_grams *grams[IN_COUNT];      /* prefilter of hs[in][HP_LIT] */
	struct pol_heads *heads[IN_COUNT];      /* of hs[in][HP_ALWAYS]; NULL: always scanned */
	hs_scratch_t *scratch0;                 /* offline use and the prototype for readers */
	hs_scratch_t *scratch[POL_MAX_READERS]; /* one per reader slot */
	struct pol_stats stats;
	void *attachment; /* the user's (pol_snapshot_attach), freed with the snapshot */
	void (*attachment_free)(void *);
};

/* An input address split and normalised into a caller's buffer. */
struct pol_addr {
	const char *full; /* "local@domain" lowercase, without route or trailing dot */
	size_t full_len;
	const char *lp; /* local part */
	size_t lp_len;
	const char *dom; /* domain, or NULL when there is none */
	size_t dom_len;
	bool routed;   /* %, !, a quoted @ or a source route: a relay attempt */
	bool has_dots; /* dots is known (a name of at most 64 bytes) */
	uint64_t dots; /* bit i: full[i] is a '.' */
};

/* pol_labels_bit - the bit of a label count in dom_labels and sub_labels:
 * bit n for n labels, bit 63 for 63 or more (an input whose dots are
 * mapped has at most 33) */
static inline uint64_t
pol_labels_bit(unsigned labels)
{
	return 1ull << (labels < 63 ? labels : 63);
}

/* pol_pattern.c */
int pol_pattern_parse(enum pol_list l, const char *text, struct pol_entry *e, char *why,
                      size_t whylen);
int pol_addr_norm(const char *in, char *buf, size_t size, struct pol_addr *out);
int pol_addr_norm_len(const char *in, size_t len, char *buf, size_t size, struct pol_addr *out);
bool pol_domain_ok(const char *s, char *why, size_t whylen);
size_t pol_host_norm(const char *in, char *buf, size_t size, uint64_t *dots, bool *has_dots);
size_t pol_host_norm_len(const char *in, size_t len, char *buf, size_t size, uint64_t *dots,
                         bool *has_dots);
char *pol_glob_to_regex(const char *glob);
enum pol_slot pol_list_slot(enum pol_list l);
enum pol_input pol_list_input(enum pol_list l);

/* pol_hs.c */
struct pol_hsdb *pol_hs_get(const char *const *exprs, const unsigned *flags, const uint32_t *map,
                            size_t n, bool *cached, struct pol_errs *errs,
                            const struct pol_entry *ents);
void pol_hs_put(struct pol_hsdb *db);
int pol_hs_check(const char *expr, unsigned flags, char *why, size_t whylen);

/* pol_lit.c */
size_t pol_lit_required(const char *pat, bool glob, char *out, size_t size);
struct pol_grams *pol_grams_build(const char *const *lits, size_t n);
void pol_grams_free(struct pol_grams *g);
bool pol_grams_any(const struct pol_grams *g, const char *s, size_t n);
size_t pol_lit_head(const char *pat, bool glob, struct pol_head *h);
int pol_heads_build(const char *const *pats, const bool *glob, size_t n, struct pol_heads **out);
bool pol_heads_any(const struct pol_heads *hs, const char *s, size_t n);

/* pol_fcache.c: per-reader facts of recent inputs */
#define POL_FC_FACTS   3     /* facts per input: whitelist, blacklist, local */
#define POL_FC_SETS    16384 /* sets of two inputs; the low hash bits pick one */
#define POL_FC_WINDOW  1024  /* probes per look at the hit rate */
#define POL_FC_SAMPLE  16    /* while sampling, one input in 16 is probed */
#define POL_FC_KEY_MAX 100   /* longer inputs are not cached */
struct pol_fcache;
struct pol_fkey {
	const char *in; /* the input as the client sent it */
	uint64_t h;     /* XXH3 of the input: set, tag and key check */
	uint32_t pick;  /* a cheap hash: its low bits choose the sampled inputs */
	uint8_t len;
	uint8_t kind; /* enum pol_input */
};
struct pol_fcache *pol_fcache_new(void);
void pol_fcache_free(struct pol_fcache *c);
bool pol_fcache_key(enum pol_input kind, const char *in, struct pol_fkey *k);
bool pol_fcache_wanted(struct pol_fcache *c, const struct pol_fkey *k);
bool pol_fcache_key_wanted(struct pol_fcache *c, enum pol_input kind, const char *in,
                           struct pol_fkey *k, size_t *len);
const uint32_t *pol_fcache_get(struct pol_fcache *c, uint64_t snap, const struct pol_fkey *k);
void pol_fcache_put(struct pol_fcache *c, uint64_t snap, const struct pol_fkey *k,
                    const uint32_t f[POL_FC_FACTS]);
void pol_fcache_stats(const struct pol_fcache *c, uint64_t *hits, uint64_t *misses);
bool pol_fcache_sampling(const struct pol_fcache *c, uint64_t *bypassed);

/* pol_compile.c */
void pol_snapshot_scratch_free(struct pol_snapshot *s);

/* pol_rcu.c */
unsigned pol_reader_slot(const struct pol_reader *r);
struct pol_fcache *pol_reader_fcache(struct pol_reader *r);

#endif
