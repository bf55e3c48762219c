/* pol_eval - decide one SMTP stage against a snapshot
 *
 * Implements DESIGN.md "Policy semantics": at each stage, first decision
 * wins: relay, authentication, whitelists, black lists, anti-spoof
 * switches, accept; with delay_reject every refusal waits for RCPT.
 *
 * Runs on the lcores for every command of every session: no allocation, no
 * lock, no syscall. Inputs are the client's bytes and are only read within
 * their NUL; each input is matched once per session and its facts kept in
 * the caller's pol_state, so a stage costs the lookups of its own input;
 * an input the reader saw lately is not matched at all (pol_fcache.c).
 */
#include <stdint.h>
#include <string.h>

#include "pol_impl.h"
#include "pol_shash.h"

enum {
	HAVE_CLIENT = 1 << 0,
	HAVE_HELO = 1 << 1,
	HAVE_SENDER = 1 << 2,
};

#define SLOT(s) (1u << (s))

/* An input normalised: up to POL_MAX_INPUT and its NUL, with room; its
 * buffer has SHASH_FRONT bytes more in front, which the suffix hash reads. */
#define NAME_BUF (POL_MAX_INPUT + 8)
_Static_assert(NAME_BUF <= SHASH_WALK_MAX, "a normalised input fits one suffix-hash walk");
_Static_assert(POL_REPLY_MAX <= UINT16_MAX, "a reply's length fits text_len");

void
pol_state_init(struct pol_state *st)
{
	memset(st, 0xff, sizeof(*st));
	st->snap_id = 0;
	st->have = 0;
}

void
pol_state_forget(struct pol_state *st, enum pol_stage stage)
{
	if (stage <= POL_HELO)
		st->have &= (uint8_t) ~(HAVE_HELO | HAVE_SENDER);
	else if (stage == POL_MAIL)
		st->have &= (uint8_t)~HAVE_SENDER;
}

struct hs_ctx {
	const struct pol_snapshot *s;
	const uint32_t *map; /* Hyperscan id -> entry id */
	uint32_t out[S_COUNT];
	unsigned mask;
};

/* on_match - keep the first (lowest) entry of each wanted slot */
static int
on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *arg)
{
	struct hs_ctx *c = arg;
	uint32_t e = c->map[id];
	enum pol_slot slot = pol_list_slot(c->s->m->entries[e].list);

	(void)from;
	(void)to;
	(void)flags;
	if ((c->mask & SLOT(slot)) && e < c->out[slot])
		c->out[slot] = e;
	return 0;
}

/* merge - fill the wanted slots still empty from a record; the loops here
 * walk the three or four wanted slots, not all S_COUNT */
static void
merge(const struct pol_snapshot *s, uint32_t rec, uint32_t out[S_COUNT], unsigned mask)
{
	if (rec == HSET_NONE)
		return;
	for (unsigned m = mask; m != 0; m &= m - 1) {
		unsigned k = (unsigned)__builtin_ctz(m);

		if (out[k] == POL_NONE)
			out[k] = s->recs[rec].e[k];
	}
}

/* scan_part - one of the input's databases, into c */
static void
scan_part(const struct pol_snapshot *s, hs_scratch_t *scr, enum pol_input in, enum pol_hspart part,
          const struct pol_addr *a, struct hs_ctx *c)
{
	c->map = s->hs_map[in][part];
	hs_scan(s->hs[in][part]->db, a->full, (unsigned)a->full_len, 0, scr, on_match, c);
}

/* Keys of one input looked up together: hashed and prefetched first, so
 * that their cache misses overlap, then probed in order of specificity. */
#define NAME_KEYS 16

struct name_keys {
	const struct hset *t[NAME_KEYS];
	const char *key[NAME_KEYS];
	size_t len[NAME_KEYS];
	uint64_t h[NAME_KEYS];
	unsigned n;
};

/* keys_probe - look the gathered keys up in order, filling out; then none
 * are left. Inline, with the probe: it runs once per input (more only past
 * NAME_KEYS keys) */
static inline __attribute__((always_inline)) void
keys_probe(const struct pol_snapshot *s, struct name_keys *k, uint32_t out[S_COUNT], unsigned mask)
{
	for (unsigned i = 0; i < k->n; i++)
		merge(s, hset_get_hashed(k->t[i], k->key[i], k->len[i], k->h[i]), out, mask);
	k->n = 0;
}

/* keys_probe_round - keys_probe out of line, for a name of more than
 * NAME_KEYS keys (rare) */
static __attribute__((noinline)) void
keys_probe_round(const struct pol_snapshot *s, struct name_keys *k, uint32_t out[S_COUNT],
                 unsigned mask)
{
	keys_probe(s, k, out, mask);
}

/* keys_add - gather a key of a known hash and start loading its slot; a
 * name of more labels than NAME_KEYS holds is probed in rounds, in order */
static inline __attribute__((always_inline)) void
keys_add(const struct pol_snapshot *s, struct name_keys *k, const struct hset *t, const char *key,
         size_t len, uint64_t h, uint32_t out[S_COUNT], unsigned mask)
{
	if (__builtin_expect(k->n == NAME_KEYS, 0))
		keys_probe_round(s, k, out, mask);
	__builtin_prefetch(&t->slots[(size_t)h & t->mask]);
	k->t[k->n] = t;
	k->key[k->n] = key;
	k->len[k->n] = len;
	k->h[k->n] = h;
	k->n++;
}

/* keys_add_labels - the domain at doff and its parents, for a name whose
 * dots are mapped: each suffix's label count is known from the dots left
 * (one fewer per dot passed), and a count no key of the table has is
 * skipped before its hash. Empty tables have no label bits. */
static inline __attribute__((always_inline)) void
keys_add_labels(const struct pol_snapshot *s, struct name_keys *k, const struct shash_walk *w,
                const struct pol_addr *a, size_t doff, uint32_t out[S_COUNT], unsigned mask)
{
	uint64_t dots = a->dots >> doff << doff;
	unsigned labels = 1;

	for (uint64_t m = dots; m != 0; m &= m - 1)
		labels++;
	if (s->dom_labels & pol_labels_bit(labels))
		keys_add(s, k, s->t_dom, a->full + doff, a->full_len - doff, shash_walk_at(w, doff),
		         out, mask);
	if (a->full[doff] == '[' || s->sub_labels == 0)
		return;
	for (uint64_t m = dots; m != 0; m &= m - 1) {
		size_t o = (size_t)__builtin_ctzll(m) + 1;

		labels--;
		if (s->sub_labels & pol_labels_bit(labels))
			keys_add(s, k, s->t_sub, a->full + o, a->full_len - o, shash_walk_at(w, o),
			         out, mask);
	}
}

/* keys_add_name - the keys of a name in order of specificity: the whole
 * address (not for a HELO), its local part, its domain, the domain's
 * parents longest first. All but the local part are suffixes of a->full,
 * hashed from one walk of it (pol_shash.c). A table without keys (local
 * parts, often) costs no hash, nor does a domain or parent of a label
 * count no key of its table has (the top-level domain, mostly): most
 * policies list names of two or three labels. */
static void
keys_add_name(const struct pol_snapshot *s, struct name_keys *k, enum pol_input in,
              const struct pol_addr *a, uint32_t out[S_COUNT], unsigned mask)
{
	const char *d = a->dom, *end;
	struct shash_walk w;
	size_t doff;

	/* inputs (NAME_BUF) are shorter than a walk's limit */
	if (d != NULL)
		shash_walk_init(&w, a->full, a->full_len);
	if (in != IN_HELO) {
		if (d != NULL && hset_count(s->t_addr) > 0)
			keys_add(s, k, s->t_addr, a->full, a->full_len, shash_walk_at(&w, 0), out,
			         mask);
		if (hset_count(s->t_lpart) > 0)
			keys_add(s, k, s->t_lpart, a->lp, a->lp_len, shash(a->lp, a->lp_len), out,
			         mask);
	}
	if (d == NULL)
		return;
	doff = (size_t)(d - a->full);
	end = d + a->dom_len;
	if (a->has_dots) {
		keys_add_labels(s, k, &w, a, doff, out, mask);
		return;
	}
	if (hset_count(s->t_dom) > 0)
		keys_add(s, k, s->t_dom, d, a->dom_len, shash_walk_at(&w, doff), out, mask);
	if (d[0] == '[' || hset_count(s->t_sub) == 0)
		return;
	for (const char *p = memchr(d, '.', a->dom_len); p != NULL;
	     p = memchr(p + 1, '.', (size_t)(end - p - 1)))
		keys_add(s, k, s->t_sub, p + 1, (size_t)(end - p - 1),
		         shash_walk_at(&w, (size_t)(p + 1 - a->full)), out, mask);
}

/* match_name - the most specific entry of each wanted slot for one input:
 * exact address, local part, domain, parent domains longest first, then
 * the lowest-numbered matching glob or regex. The hash slots of every key
 * are prefetched before the Hyperscan scans, whose results wait in c, so
 * that the scans' work hides the misses. */
static void
match_name(const struct pol_snapshot *s, hs_scratch_t *scr, enum pol_input in,
           const struct pol_addr *a, uint32_t out[S_COUNT], unsigned mask)
{
	struct name_keys k;
	struct hs_ctx c = {.s = s, .mask = mask};

	k.n = 0;
	for (unsigned i = 0; i < S_COUNT; i++)
		out[i] = c.out[i] = POL_NONE;
	keys_add_name(s, &k, in, a, out, mask);
	if (a->full_len > 0 && scr != NULL) {
		/* both parts report into c, which keeps the lowest entry of all */
		if (s->hs[in][HP_ALWAYS] != NULL &&
		    (s->heads[in] == NULL || pol_heads_any(s->heads[in], a->full, a->full_len)))
			scan_part(s, scr, in, HP_ALWAYS, a, &c);
		if (s->hs[in][HP_LIT] != NULL && pol_grams_any(s->grams[in], a->full, a->full_len))
			scan_part(s, scr, in, HP_LIT, a, &c);
	}
	keys_probe(s, &k, out, mask);
	/* patterns only decide the slots no name entry filled; on_match filled
	 * wanted slots only */
	for (unsigned m = mask; m != 0; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);

		if (out[i] == POL_NONE)
			out[i] = c.out[i];
	}
}

/* literal_addr - the address of a HELO "[192.0.2.1]", "[IPv6:2001:db8::1]" or bare IP */
static int
literal_addr(const char *h, size_t len, struct cidr *out)
{
	char buf[64];

	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		h++;
		len -= 2;
		if (len > 5 && strncmp(h, "ipv6:", 5) == 0) {
			h += 5;
			len -= 5;
		}
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, h, len);
	buf[len] = '\0';
	return cidr_addr_parse(buf, out);
}

static hs_scratch_t *
scratch_of(const struct pol_snapshot *s, struct pol_reader *r)
{
	return r != NULL ? s->scratch[pol_reader_slot(r)] : s->scratch0;
}

/* The facts of one input (the per-reader cache holds them as they are):
 * for a HELO name its whitelist, blacklist and local-claim entries; for a
 * sender its whitelist, blacklist and local_domains entries; for a
 * recipient its whitelist and blacklist entries, and 1 when it is ours. */
enum { F_WL, F_BL, F_LOCAL };

/* helo_facts - the lists a HELO argument is in */
static void
helo_facts(const struct pol_snapshot *s, hs_scratch_t *scr, const char *helo, size_t len,
           uint32_t f[POL_FC_FACTS])
{
	char raw[SHASH_FRONT + NAME_BUF], *buf = raw + SHASH_FRONT;
	uint32_t out[S_COUNT];
	struct pol_addr a;
	struct cidr lit;
	size_t n;

	memset(&a, 0, sizeof(a));
	n = pol_host_norm_len(helo, len, buf, NAME_BUF, &a.dots, &a.has_dots);
	a.full = a.dom = buf;
	a.full_len = a.dom_len = n;
	if (n == 0)
		a.dom = NULL;
	match_name(s, scr, IN_HELO, &a, out,
	           SLOT(S_WL_HELO) | SLOT(S_BL_HELO) | SLOT(S_LOCAL_HOST) | SLOT(S_LOCAL_DOMAIN));
	f[F_WL] = out[S_WL_HELO];
	f[F_BL] = out[S_BL_HELO];
	f[F_LOCAL] = out[S_LOCAL_HOST] != POL_NONE ? out[S_LOCAL_HOST] : out[S_LOCAL_DOMAIN];
	if (f[F_LOCAL] == POL_NONE && n > 0 &&
	    (buf[0] == '[' || buf[0] == ':' || (buf[0] >= '0' && buf[0] <= '9')) &&
	    literal_addr(buf, n, &lit) == 0)
		f[F_LOCAL] = cidr_lookup(s->ct[CT_LOCAL_ADDR], &lit);
}

/* sender_facts - the lists a (non-null) sender is in */
static void
sender_facts(const struct pol_snapshot *s, hs_scratch_t *scr, const char *sender, size_t len,
             uint32_t f[POL_FC_FACTS])
{
	char raw[SHASH_FRONT + NAME_BUF], *buf = raw + SHASH_FRONT;
	uint32_t out[S_COUNT];
	struct pol_addr a;

	f[F_WL] = f[F_BL] = f[F_LOCAL] = POL_NONE;
	if (pol_addr_norm_len(sender, len, buf, NAME_BUF, &a) < 0)
		return;
	match_name(s, scr, IN_SENDER, &a, out,
	           SLOT(S_WL_SENDER) | SLOT(S_BL_SENDER) | SLOT(S_LOCAL_DOMAIN));
	f[F_WL] = out[S_WL_SENDER];
	f[F_BL] = out[S_BL_SENDER];
	f[F_LOCAL] = a.dom != NULL ? out[S_LOCAL_DOMAIN] : POL_NONE;
}

/* rcpt_facts - the lists a recipient is in, and whether it is ours */
static void
rcpt_facts(const struct pol_snapshot *s, hs_scratch_t *scr, const char *rcpt, size_t len,
           uint32_t f[POL_FC_FACTS])
{
	char raw[SHASH_FRONT + NAME_BUF], *buf = raw + SHASH_FRONT;
	uint32_t out[S_COUNT];
	struct pol_addr a;

	f[F_WL] = f[F_BL] = POL_NONE;
	f[F_LOCAL] = 0;
	if (pol_addr_norm_len(rcpt, len, buf, NAME_BUF, &a) < 0)
		return;
	match_name(s, scr, IN_RCPT, &a, out,
	           SLOT(S_WL_RCPT) | SLOT(S_BL_RCPT) | SLOT(S_LOCAL_DOMAIN));
	f[F_WL] = out[S_WL_RCPT];
	f[F_BL] = out[S_BL_RCPT];
	/* RFC 5321 4.5.1: "postmaster" alone is always ours */
	f[F_LOCAL] = !a.routed && (a.dom != NULL ? out[S_LOCAL_DOMAIN] != POL_NONE
	                                         : strcmp(a.lp, "postmaster") == 0);
}

/* len: the input's length when the caller measured it, else SIZE_MAX */
typedef void facts_fn(const struct pol_snapshot *s, hs_scratch_t *scr, const char *in, size_t len,
                      uint32_t f[POL_FC_FACTS]);

static facts_fn *const facts_of[IN_COUNT] = {
        [IN_HELO] = helo_facts,
        [IN_SENDER] = sender_facts,
        [IN_RCPT] = rcpt_facts,
};

/* The facts of one input as input_facts returns them: in registers (12
 * bytes), so that pol_eval takes no address of its own and needs no stack
 * guard. */
struct in_facts {
	uint32_t wl, bl, local;
};

/* input_facts - the facts of one input, from the reader's cache when it
 * saw the same input under this snapshot, else computed (and kept) */
static struct in_facts
input_facts(const struct pol_snapshot *s, struct pol_reader *r, enum pol_input in, const char *x)
{
	struct pol_fcache *fc = r != NULL ? pol_reader_fcache(r) : NULL;
	struct pol_fkey k;
	const uint32_t *hit;
	uint32_t f[POL_FC_FACTS];
	size_t len = SIZE_MAX; /* measured by the cache's key, for the normaliser too */
	/* a cold workload samples: most inputs skip the cache unhashed */
	bool keyed = fc != NULL && pol_fcache_key_wanted(fc, in, x, &k, &len);

	if (keyed && (hit = pol_fcache_get(fc, s->id, &k)) != NULL)
		return (struct in_facts){hit[F_WL], hit[F_BL], hit[F_LOCAL]};
	facts_of[in](s, scratch_of(s, r), x, len, f);
	if (keyed)
		pol_fcache_put(fc, s->id, &k, f);
	return (struct in_facts){f[F_WL], f[F_BL], f[F_LOCAL]};
}

/* facts - match the inputs known so far that the state does not cover yet */
static void
facts(const struct pol_snapshot *s, struct pol_reader *r, const struct pol_query *q,
      struct pol_state *st)
{
	struct in_facts f;

	if (st->snap_id != s->id) {
		pol_state_init(st);
		st->snap_id = s->id;
	}
	if (!(st->have & HAVE_CLIENT)) {
		static const struct pol_client_facts none = {POL_NONE, POL_NONE, POL_NONE,
		                                             POL_NONE};
		uint32_t k = cidr_lookup(s->clients, &q->client);
		const struct pol_client_facts *cf = k != CIDR_NONE ? &s->client_facts[k] : &none;

		st->lan = cf->lan;
		st->relay = cf->relay;
		st->wl_client = cf->wl;
		st->bl_client = cf->bl;
		st->have |= HAVE_CLIENT;
	}
	if (!(st->have & HAVE_HELO) && q->helo != NULL) {
		f = input_facts(s, r, IN_HELO, q->helo);
		st->wl_helo = f.wl;
		st->bl_helo = f.bl;
		st->local_helo = f.local;
		st->have |= HAVE_HELO;
	}
	if (!(st->have & HAVE_SENDER) && q->sender != NULL) {
		if (q->sender[0] == '\0') {
			st->wl_sender = s->null_sender[0];
			st->bl_sender = s->null_sender[1];
			st->local_sender = POL_NONE;
		} else {
			f = input_facts(s, r, IN_SENDER, q->sender);
			st->wl_sender = f.wl;
			st->bl_sender = f.bl;
			st->local_sender = f.local;
		}
		st->have |= HAVE_SENDER;
	}
}

uint32_t
pol_limit_exempt(const struct pol_snapshot *s, const struct cidr *client)
{
	uint32_t k = cidr_lookup(s->clients, client);

	if (k == CIDR_NONE)
		return POL_NONE;
	return s->client_facts[k].lan != POL_NONE ? s->client_facts[k].lan : s->client_facts[k].wl;
}

/* put - append n bytes at p, within end; returns the new end of text */
static inline char *
put(char *p, const char *end, const char *src, size_t n)
{
	if (n > (size_t)(end - p))
		n = (size_t)(end - p);
	memcpy(p, src, n);
	return p + n;
}

/* Eight bytes, each 0x01 and each 0x80 (Bit Twiddling Hacks' hasless/hasmore). */
#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* unprintable8 - whether one of eight bytes is below ' ' or above '~'; never
 * wrong when it says no (a yes may be wrong only beside a true one) */
static inline bool
unprintable8(uint64_t w)
{
	return (((w - ONES * ' ') & ~w) | ((w + ONES * (127 - '~')) | w)) & HIGHS;
}

/* unprintable - whether n bytes at p hold a control or 8-bit byte; words
 * of eight, the last one ending at p + n (it may overlap the one before) */
static inline bool
unprintable(const char *p, size_t n)
{
	uint64_t w;

	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < ' ' || (unsigned char)p[i] > '~')
				return true;
		return false;
	}
	for (size_t i = 0; i + 8 < n; i += 8) {
		memcpy(&w, p + i, sizeof(w));
		if (unprintable8(w))
			return true;
	}
	memcpy(&w, p + n - 8, sizeof(w));
	return unprintable8(w);
}

/* put_echo - client text as it may appear in a reply: printable, bounded
 * (up to its NUL, POL_MAX_INPUT bytes, end). Copied whole, then checked
 * eight bytes at a time: a refused input is nearly always plain already
 * (the engine refuses command lines with control or 8-bit bytes), and a
 * byte-by-byte copy was most of a refusal's cost (callgrind). */
static inline char *
put_echo(char *p, const char *end, const char *src)
{
	size_t room = (size_t)(end - p);
	size_t n = strnlen(src, room < POL_MAX_INPUT ? room : POL_MAX_INPUT);

	memcpy(p, src, n);
	if (__builtin_expect(unprintable(p, n), 0))
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)p[i];

			p[i] = c < ' ' || c >= 0x7f ? '?' : (char)c; /* reply text is 7-bit */
		}
	return p + n;
}

/* refuse - fill a refusal: "CODE X.Y.Z <what>: text". Built by hand, not
 * with snprintf: a refusal is on the path of most hostile sessions. Inline
 * at each call, where code, ecode and text are constants: the code's
 * digits, the lengths and the constant parts' copies are the compiler's,
 * and only the echoed input is measured and copied per refusal. */
static inline __attribute__((always_inline)) void
refuse(struct pol_verdict *v, enum pol_reason why, uint32_t rule, unsigned code, const char *ecode,
       const char *what, const char *text)
{
	char *p = v->text, *end = v->text + sizeof(v->text) - 1;
	size_t elen = strlen(ecode);

	v->action = POL_REJECT;
	v->reason = why;
	v->rule = rule;
	v->code = (uint16_t)code;
	memcpy(v->ecode, ecode, elen + 1); /* our constants, shorter than ecode */
	*p++ = (char)('0' + code / 100);
	*p++ = (char)('0' + code / 10 % 10);
	*p++ = (char)('0' + code % 10);
	*p++ = ' ';
	p = put(p, end, ecode, elen);
	*p++ = ' ';
	if (what != NULL) {
		*p++ = '<';
		p = put_echo(p, end - 3, what); /* room for ">: " */
		p = put(p, end, ">: ", 3);
	}
	p = put(p, end, text, strlen(text));
	*p = '\0';
	v->text_len = (uint16_t)(p - v->text);
}

/* refuse_client - out of line: its name buffer would give pol_eval a
 * stack guard on every stage */
static __attribute__((noinline)) void
refuse_client(struct pol_verdict *v, const struct pol_query *q, uint32_t rule)
{
	char name[80];

	refuse(v, POL_R_BL_CLIENT, rule, 554, "5.7.1",
	       pol_client_name(&q->client, name, sizeof(name)),
	       "Client host rejected: Access denied");
}

/* blacklists - the black lists and switches of the inputs of stages from..to */
static bool
blacklists(const struct pol_query *q, const struct pol_state *st, bool trusted, enum pol_stage from,
           enum pol_stage to, uint32_t bl_rcpt, struct pol_verdict *v)
{
	const struct pol_service *svc = q->service;

	if (from <= POL_CONNECT && to >= POL_CONNECT && st->bl_client != POL_NONE) {
		refuse_client(v, q, st->bl_client);
		return true;
	}
	if (from <= POL_HELO && to >= POL_HELO && q->helo != NULL && st->bl_helo != POL_NONE) {
		refuse(v, POL_R_BL_HELO, st->bl_helo, 550, "5.7.1", q->helo,
		       "Helo command rejected: Access denied");
		return true;
	}
	if (from <= POL_MAIL && to >= POL_MAIL && q->sender != NULL && st->bl_sender != POL_NONE) {
		refuse(v, POL_R_BL_SENDER, st->bl_sender, 550, "5.7.1", q->sender,
		       "Sender address rejected: Access denied");
		return true;
	}
	if (to >= POL_RCPT && bl_rcpt != POL_NONE) {
		refuse(v, POL_R_BL_RCPT, bl_rcpt, 550, "5.7.1", q->rcpt,
		       "Recipient address rejected: Access denied");
		return true;
	}
	if (trusted)
		return false;
	if (from <= POL_HELO && to >= POL_HELO && svc->reject_remote_local_helo &&
	    q->helo != NULL && st->local_helo != POL_NONE) {
		refuse(v, POL_R_LOCAL_HELO, st->local_helo, 550, "5.7.1", q->helo,
		       "Helo command rejected: Host claims to be local");
		return true;
	}
	if (from <= POL_MAIL && to >= POL_MAIL && svc->reject_nonlocal_senders_claiming_local &&
	    q->sender != NULL && st->local_sender != POL_NONE) {
		refuse(v, POL_R_LOCAL_SENDER, st->local_sender, 550, "5.7.1", q->sender,
		       "Sender address rejected: Non-local sender claiming to be local");
		return true;
	}
	return false;
}

/* first_wl - the first whitelist entry that matched an input known at stage */
static uint32_t
first_wl(const struct pol_state *st, enum pol_stage stage, uint32_t wl_rcpt)
{
	if (st->wl_client != POL_NONE)
		return st->wl_client;
	if (stage >= POL_HELO && st->wl_helo != POL_NONE)
		return st->wl_helo;
	if (stage >= POL_MAIL && st->wl_sender != POL_NONE)
		return st->wl_sender;
	if (stage >= POL_RCPT)
		return wl_rcpt;
	return POL_NONE;
}

void
pol_eval(const struct pol_snapshot *s, struct pol_reader *r, const struct pol_query *q,
         enum pol_stage stage, struct pol_state *st, struct pol_verdict *v)
{
	const struct pol_service *svc = q->service;
	bool trusted;
	uint32_t wl_rcpt = POL_NONE, bl_rcpt = POL_NONE, wl;

	v->action = POL_ACCEPT;
	v->reason = POL_R_ACCEPT;
	v->code = 0;
	v->ecode[0] = '\0';
	v->text[0] = '\0';
	v->text_len = 0;
	v->rule = POL_NONE;
	v->relay_rule = POL_NONE;
	v->relay_by_auth = false;
	facts(s, r, q, st);
	trusted = st->lan != POL_NONE || q->auth;

	if (stage == POL_RCPT) {
		struct in_facts f = {POL_NONE, POL_NONE, 0};
		bool local;

		if (q->rcpt != NULL)
			f = input_facts(s, r, IN_RCPT, q->rcpt);
		wl_rcpt = f.wl;
		bl_rcpt = f.bl;
		local = f.local != 0;
		if (!local) {
			if (st->lan != POL_NONE)
				v->relay_rule = st->lan;
			else if (q->auth)
				v->relay_by_auth = true;
			else if (st->relay != POL_NONE)
				v->relay_rule = st->relay;
			else {
				refuse(v, POL_R_RELAY_DENIED, POL_NONE, 554, "5.7.1", q->rcpt,
				       "Relay access denied");
				return;
			}
		}
	}
	if (svc->require_auth && !q->auth && stage >= POL_MAIL) {
		refuse(v, POL_R_AUTH_REQUIRED, POL_NONE, 530, "5.7.0", NULL,
		       "Authentication required");
		return;
	}
	if (svc->delay_reject && stage != POL_RCPT)
		return;
	wl = first_wl(st, stage, wl_rcpt);
	if (wl != POL_NONE) {
		v->reason = POL_R_WHITELISTED;
		v->rule = wl;
		return;
	}
	blacklists(q, st, trusted, svc->delay_reject ? POL_CONNECT : stage, stage, bl_rcpt, v);
}

static const char *const reason_names[POL_R_COUNT] = {
        [POL_R_ACCEPT] = "accept",
        [POL_R_WHITELISTED] = "whitelisted",
        [POL_R_RELAY_DENIED] = "relay_denied",
        [POL_R_AUTH_REQUIRED] = "auth_required",
        [POL_R_BL_CLIENT] = "blacklist_client",
        [POL_R_BL_HELO] = "blacklist_helo",
        [POL_R_BL_SENDER] = "blacklist_sender",
        [POL_R_BL_RCPT] = "blacklist_recipient",
        [POL_R_LOCAL_HELO] = "local_helo",
        [POL_R_LOCAL_SENDER] = "local_sender",
};

const char *
pol_reason_name(enum pol_reason r)
{
	return r < POL_R_COUNT ? reason_names[r] : "?";
}

const char *
pol_stage_name(enum pol_stage st)
{
	static const char *const names[] = {"connect", "helo", "mail", "rcpt"};

	return st <= POL_RCPT ? names[st] : "?";
}

const char *
pol_handoff_name(enum pol_handoff h)
{
	static const char *const names[] = {"xclient", "proxy-v1", "proxy-v2", "none"};

	return h <= POL_HANDOFF_NONE ? names[h] : "?";
}

const char *
pol_tls_name(enum pol_tls t)
{
	static const char *const names[] = {"off", "optional", "required"};

	return t <= POL_TLS_REQUIRED ? names[t] : "?";
}

const char *
pol_backend_tls_name(enum pol_backend_tls t)
{
	static const char *const names[] = {"none", "may", "encrypt", "verify"};

	return t <= POL_BTLS_VERIFY ? names[t] : "?";
}
