/* harness - play SMTP conversations through the engine, for the smtp unit tests
 *
 * A conversation is the client's bytes, cut into segments at given offsets;
 * the harness opens a session, feeds each segment (offering again what the
 * engine did not consume, after "sending" its output, as the TCP layer
 * will), closes the session, and keeps the whole output, the log lines,
 * where the engine stopped reading and the last action. Chunks come from
 * malloc and are counted, so that a leak or a double put shows.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"
#include "smtp_test_policy.h"
#include "tap.h"
#include "testlib.h"

#define H_TEXT_MAX (1 << 24)

/* malloc-backed chunks, counted; fail_at: the get number that fails (1-based), 0 never */
struct h_chunks {
	long gets, puts, live, max_live;
	long fail_at;
	long fails;
};

static inline void *
h_chunk_get(void *arg)
{
	struct h_chunks *ck = arg;
	void *p;

	if (ck->fail_at != 0 && ck->gets + ck->fails + 1 == ck->fail_at) {
		ck->fails++;
		return NULL;
	}
	p = malloc(SMTP_CHUNK_SIZE);
	if (p == NULL)
		abort();
	memset(p, 0xa5, SMTP_CHUNK_SIZE); /* what the engine did not write is garbage */
	ck->gets++;
	if (++ck->live > ck->max_live)
		ck->max_live = ck->live;
	return p;
}

static inline void
h_chunk_put(void *arg, void *chunk)
{
	struct h_chunks *ck = arg;

	if (chunk == NULL)
		abort();
	ck->puts++;
	ck->live--;
	free(chunk);
}

/* h_text - a growing byte string, NUL-terminated */
struct h_text {
	char *s;
	size_t len, cap;
};

static inline void
h_text_add(struct h_text *t, const char *s, size_t len)
{
	if (t->len + len + 1 > t->cap) {
		size_t cap = t->cap == 0 ? 4096 : t->cap;

		while (t->len + len + 1 > cap)
			cap *= 2;
		if (cap > H_TEXT_MAX || (t->s = realloc(t->s, cap)) == NULL)
			abort();
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, len);
	t->len += len;
	t->s[t->len] = '\0';
}

static inline void
h_text_free(struct h_text *t)
{
	free(t->s);
	t->s = NULL;
	t->len = t->cap = 0;
}

static inline void
h_log(void *arg, const char *line, size_t len)
{
	struct h_text *t = arg;

	if (memchr(line, '\n', len) != NULL || strlen(line) != len)
		abort();
	h_text_add(t, line, len);
	h_text_add(t, "\n", 1);
}

/* h_records - refusals logged as records (struct smtp_reject_rec), as the
 * gate logs them, each formatted back at once as the gate's control thread
 * does: the log lines must come out the same */
static bool h_records;

static inline void
h_log_reject(void *arg, const struct iovec *parts, unsigned n)
{
	static char rec[SMTP_REC_MAX], line[POL_REPLY_MAX + 3 * POL_MAX_INPUT + 256];
	size_t len = 0;

	for (unsigned i = 0; i < n; i++) {
		if (parts[i].iov_len > sizeof(rec) - len)
			abort(); /* the engine promised at most SMTP_REC_MAX */
		memcpy(rec + len, parts[i].iov_base, parts[i].iov_len);
		len += parts[i].iov_len;
	}
	h_log(arg, line, smtp_reject_format(line, sizeof(line), rec, len));
}

/* One test bench: the lcore's environment and one session at a time. */
struct h {
	struct smtp_env env;
	struct smtp_stats st;
	struct h_chunks ck;
	struct smtp_session ss;
	struct h_text out; /* everything the engine wrote, in order */
	struct h_text log;
	char *obuf;
	struct smtp_out o;
	enum smtp_action act;
	size_t stop;  /* input bytes consumed when the session closed */
	bool closing; /* SMTP_CLOSE was returned */
	long calls;   /* smtp_input calls */
	/* waiting - the session waits for the checker (SMTP_S_AUTH_WAIT): make
	 * progress (an smtp_auth_reply() or a timeout); NULL: a test error */
	void (*waiting)(struct h *h, const struct pol_snapshot *snap, uint64_t now);
	uint8_t open_flags; /* enum smtp_flag bits set right after smtp_open (SMTP_F_TLS) */
	bool one;           /* feed through smtp_input_one(), as the gate's glue does */
};

/* h_setup - called on every bench h_run() makes, after h_init (a test's checker) */
static void (*h_setup)(struct h *h);

static inline void
h_init(struct h *h, size_t outcap)
{
	memset(h, 0, sizeof(*h));
	h->env.chunks.get = h_chunk_get;
	h->env.chunks.put = h_chunk_put;
	h->env.chunks.arg = &h->ck;
	h->env.log = h_log;
	h->env.log_reject = h_records ? h_log_reject : NULL;
	h->env.log_arg = &h->log;
	h->env.stats = &h->st;
	h->obuf = malloc(outcap + 16);
	memset(h->obuf + outcap, 0x5a, 16); /* a guard: the engine must not write past cap */
	h->o.buf = h->obuf;
	h->o.cap = outcap;
}

static inline void
h_fini(struct h *h)
{
	for (int i = 0; i < 16; i++)
		if ((unsigned char)h->obuf[h->o.cap + i] != 0x5a)
			abort();
	free(h->obuf);
	h_text_free(&h->out);
	h_text_free(&h->log);
}

/* h_drain - "send" the output */
static inline void
h_drain(struct h *h)
{
	if (h->o.len > h->o.cap)
		abort();
	h_text_add(&h->out, h->o.buf, h->o.len);
	h->o.len = 0;
}

static inline struct cidr
h_addr(const char *ip)
{
	struct cidr c;

	if (cidr_addr_parse(ip, &c) != 0) {
		printf("Bail out! bad address %s\n", ip);
		exit(2);
	}
	return c;
}

static inline void
h_open(struct h *h, const struct pol_snapshot *snap, const char *client, uint16_t port,
       uint64_t now)
{
	struct cidr c = h_addr(client);

	h->act = smtp_open(&h->ss, &h->env, snap, now, &c, port, &h->o);
	h->ss.flags |= h->open_flags;
	h->closing = h->act == SMTP_CLOSE;
	h->stop = 0;
	h_drain(h);
}

/* h_feed - one segment; offered again until taken, draining output between;
 * a session that waits for the checker gets its answer first (h->waiting) */
static inline void
h_feed(struct h *h, const struct pol_snapshot *snap, uint64_t now, const char *p, size_t len)
{
	size_t used;

	while (!h->closing) {
		if (h->ss.state == SMTP_S_AUTH_WAIT && h->waiting != NULL) {
			h->waiting(h, snap, now);
			h->closing = h->act == SMTP_CLOSE;
			h_drain(h);
			continue;
		}
		if (len == 0)
			break;
		h->act = (h->one ? smtp_input_one : smtp_input)(&h->ss, &h->env, snap, now, p, len,
		                                                &used, &h->o);
		h->calls++;
		if (used > len)
			abort();
		h->stop += used;
		p += used;
		len -= used;
		if (h->act == SMTP_CLOSE)
			h->closing = true;
		else if (used == 0 && h->o.len == 0) {
			printf("# no progress with an empty output buffer\n");
			abort();
		}
		h_drain(h);
	}
}

/* h_feeds - h_feed of a string */
static inline void
h_feeds(struct h *h, const struct pol_snapshot *snap, uint64_t now, const char *s)
{
	h_feed(h, snap, now, s, strlen(s));
}

static inline void
h_close(struct h *h)
{
	smtp_close(&h->ss, &h->env);
}

/* h_play - a whole conversation cut at cuts[0..ncuts) (increasing offsets) */
static inline void
h_play(struct h *h, const struct pol_snapshot *snap, const char *client, uint16_t port,
       const char *in, size_t len, const size_t *cuts, size_t ncuts)
{
	size_t at = 0;

	h_open(h, snap, client, port, 1000);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		h_feed(h, snap, 1000 + i, in + at, end - at);
		at = end;
	}
	h_close(h);
}

/* h_wellformed - output is whole reply lines "DDD text" / "DDD-text", CRLF, multi-line
 * replies keeping their code; NULL or what is wrong */
static inline const char *
h_wellformed(const char *s, size_t len)
{
	size_t i = 0;
	char cont[4] = "";

	while (i < len) {
		const char *line = s + i;
		const char *end = memchr(line, '\n', len - i);
		size_t n;

		if (end == NULL)
			return "output does not end in LF";
		n = (size_t)(end - line);
		if (n < 5 || line[n - 1] != '\r')
			return "line too short or LF without CR";
		if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
		    line[2] < '0' || line[2] > '9' || (line[3] != ' ' && line[3] != '-'))
			return "no reply code";
		if (cont[0] != '\0' && memcmp(cont, line, 3) != 0)
			return "multi-line reply changes its code";
		for (size_t k = 4; k + 1 < n; k++)
			if ((unsigned char)line[k] < ' ' || line[k] == 0x7f)
				return "control character in a reply";
		if (n - 1 > 4 + POL_REPLY_MAX)
			return "reply line too long";
		if (line[3] == '-')
			memcpy(cont, line, 3);
		else
			cont[0] = '\0';
		i += n + 1;
	}
	return cont[0] == '\0' ? NULL : "unfinished multi-line reply";
}

struct scase {
	const char *name;
	uint16_t port;
	const char *client;
	const char *in;
	size_t inlen;
	const char *out;
	enum smtp_action act;
	const char *log; /* lines, each ended by \n */
};

/* run - one case with one segmentation; compare with what is expected */
static inline bool
h_run(const struct pol_snapshot *snap, const struct scase *k, const size_t *cuts, size_t ncuts,
      size_t *stop, bool quiet)
{
	struct h h;
	bool good;

	h_init(&h, 4096);
	if (h_setup != NULL)
		h_setup(&h);
	h_play(&h, snap, k->client, k->port, k->in, k->inlen, cuts, ncuts);
	good = h.out.len == strlen(k->out) && memcmp(h.out.s, k->out, h.out.len) == 0 &&
	       strcmp(h.log.s != NULL ? h.log.s : "", k->log) == 0 && h.act == k->act &&
	       h.ck.live == 0 && h.ck.gets == h.ck.puts && h.st.sessions_opened == 1 &&
	       h.st.sessions_closed == 1 && h_wellformed(h.out.s, h.out.len) == NULL;
	if (*stop == (size_t)-1)
		*stop = h.stop;
	else if (h.stop != *stop)
		good = false;
	if (!good && !quiet) {
		printf("#   output: \"%s\"\n#   log: \"%s\"\n#   action %d, stop %zu, chunks "
		       "live %ld\n",
		       h.out.s, h.log.s != NULL ? h.log.s : "", h.act, h.stop, h.ck.live);
		printf("#   want:   \"%s\"\n#   log:  \"%s\"\n", k->out, k->log);
	}
	h_fini(&h);
	return good;
}

/* h_check - a case played whole, one byte at a time and cut in two at every
 * offset (or at 200 offsets spread over a long input): 3 test points */
static inline void
h_check(const struct pol_snapshot *snap, const struct scase *k)
{
	size_t stop = (size_t)-1, bad_split = 0, step = k->inlen > 4096 ? k->inlen / 200 : 1;
	size_t *cuts = malloc((k->inlen + 1) * sizeof(*cuts));
	bool split_ok = true;

	ok(h_run(snap, k, NULL, 0, &stop, false), "%s", k->name);
	for (size_t j = 0; j + 1 < k->inlen; j++)
		cuts[j] = j + 1;
	ok(h_run(snap, k, cuts, k->inlen > 0 ? k->inlen - 1 : 0, &stop, false),
	   "%s: one byte at a time", k->name);
	for (size_t j = 1; j < k->inlen && split_ok; j += step) {
		cuts[0] = j;
		if (!h_run(snap, k, cuts, 1, &stop, true)) {
			split_ok = false;
			bad_split = j;
		}
	}
	if (!ok(split_ok, "%s: cut in two anywhere", k->name))
		printf("#   differs when cut at %zu\n", bad_split);
	free(cuts);
}

/* The policy of the tests (smtp_test_policy.h, shared with fuzz_smtp). */
static const char *const h_policy = SMTP_TEST_POLICY;

#endif
