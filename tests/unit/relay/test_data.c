/* test_data - the DATA stream scanner: end of data, smuggling patterns, size, any segmentation
 *
 * Each case is a byte stream as it follows the DATA command line, with the
 * outcome written by hand (event, stream offset, size). Every case is fed
 * whole, byte by byte, in two pieces at every offset, in three pieces at
 * every pair of offsets, and in random pieces; every outcome must match the
 * hand-written one and a reference implementation that looks at the whole
 * buffer with plain index arithmetic (no state machine). The bytes the
 * scanner says to forward are collected and must be exactly the stream's
 * prefix up to the event: nothing of a violation is ever forwarded. Then
 * random streams (fixed seed) biased towards CR, LF and dots, with random
 * size limits, against the reference.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "relay_proto.h"
#include "tap.h"

#define SEED 0x6a09e667f3bcc908ull

/* What a stream comes to. */
struct outcome {
	enum relay_ds_ev ev; /* END, BARE_LF, BARE_CR, or MORE when the input ran out */
	size_t k; /* END: offset after ".\r\n"; violation: where it starts; MORE: clean bytes */
	uint64_t size; /* END: the message size */
	long big;      /* clean bytes when the limit passed, -1 if it did not */
	size_t big_at; /* ... and the stream offset where the scan stopped for it */
};

/* ---- the reference: the whole buffer at once ---- */

/* line_start - i starts a line: the stream's start, or just after CRLF */
static int
line_start(const unsigned char *b, size_t i)
{
	return i == 0 || (i >= 2 && b[i - 2] == '\r' && b[i - 1] == '\n');
}

/* reference - walk the buffer by index; each byte either ends something or counts */
static struct outcome
reference(const unsigned char *b, size_t n, uint64_t limit)
{
	struct outcome o = {RELAY_DS_MORE, 0, 0, -1, 0};
	uint64_t size = 0;

	for (size_t j = 0; j < n; j++) {
		uint64_t add;

		if (j > 0 && b[j - 1] == '\r' && b[j] != '\n') {
			o.ev = RELAY_DS_BARE_CR;
			o.k = j - 1;
			return o;
		}
		if (b[j] == '\n' && (j == 0 || b[j - 1] != '\r')) {
			o.ev = RELAY_DS_BARE_LF;
			o.k = j;
			return o;
		}
		if (b[j] == '\n' && j >= 2 && b[j - 2] == '.' && line_start(b, j - 2)) {
			o.ev = RELAY_DS_END;
			o.k = j + 1;
			o.size = size;
			return o;
		}
		if (b[j] == '\r' || (b[j] == '.' && line_start(b, j)))
			add = 0;
		else if (b[j] == '\n')
			add = 2; /* the CR before it too */
		else
			add = 1;
		if (limit != 0 && o.big < 0 && size + add > limit) {
			o.big_at = j;
			o.big = (long)(b[j] == '\n' ? j - 1 : j);
		}
		size += add;
	}
	o.k = n > 0 && b[n - 1] == '\r' ? n - 1 : n;
	o.size = size;
	return o;
}

/* ---- the scanner, fed in pieces ---- */

static unsigned char fwd_buf[1 << 17]; /* what the scanner said to forward */
static int contract_ok;                /* every step kept the API's promises */

/* feed - run the scanner over b cut at cuts[0..ncut) (ascending); collect what it forwards */
static struct outcome
feed(const unsigned char *b, size_t n, uint64_t limit, const size_t *cuts, size_t ncut,
     size_t *nfwd)
{
	struct outcome o = {RELAY_DS_MORE, 0, 0, -1, 0};
	struct relay_ds d;
	size_t at = 0, piece = 0, off = 0;

	relay_ds_init(&d, limit);
	*nfwd = 0;
	while (piece <= ncut) {
		size_t end = piece < ncut ? cuts[piece] : n;
		struct relay_ds_step st;
		enum relay_ds_ev ev = relay_ds_scan(&d, b + at, end - at, &st);

		if (st.used > end - at || st.fwd > st.used || st.cr > 1)
			contract_ok = 0;
		if (st.cr)
			fwd_buf[(*nfwd)++] = '\r';
		memcpy(fwd_buf + *nfwd, b + at, st.fwd);
		*nfwd += st.fwd;
		if (*nfwd != d.clean)
			contract_ok = 0;
		off = at + st.used;
		at += st.used;
		switch (ev) {
		case RELAY_DS_MORE:
			if (at != end)
				contract_ok = 0;
			piece++;
			break;
		case RELAY_DS_TOO_BIG:
			if (o.big >= 0)
				contract_ok = 0; /* reported twice */
			o.big = (long)d.clean;
			o.big_at = off;
			break;
		case RELAY_DS_END:
			o.ev = ev;
			o.k = off;
			o.size = d.size;
			return o;
		case RELAY_DS_BARE_LF:
		case RELAY_DS_BARE_CR:
			if (st.used != st.fwd)
				contract_ok = 0;
			o.ev = ev;
			o.k = d.clean;
			/* sticky: another call changes nothing */
			if (relay_ds_scan(&d, b + at, n - at, &st) != ev || st.used != 0 ||
			    st.fwd != 0)
				contract_ok = 0;
			return o;
		}
	}
	o.k = d.clean;
	o.size = d.size;
	return o;
}

/* same - two outcomes agree */
static int
same(const struct outcome *a, const struct outcome *b)
{
	return a->ev == b->ev && a->k == b->k && a->big == b->big &&
	       (a->big < 0 || a->big_at == b->big_at) &&
	       (a->ev != RELAY_DS_END || a->size == b->size);
}

/* check_cut - one segmentation against the reference; the forwarded bytes are the prefix */
static int
check_cut(const unsigned char *b, size_t n, uint64_t limit, const size_t *cuts, size_t ncut,
          const struct outcome *want)
{
	size_t nfwd;
	struct outcome got = feed(b, n, limit, cuts, ncut, &nfwd);

	/* forwarded: the stream up to the event, or all that is known clean */
	return same(&got, want) && nfwd == want->k && memcmp(fwd_buf, b, nfwd) == 0;
}

/* all_cuts - whole, byte by byte, two pieces at every offset, three at every pair (short
 * inputs), and random pieces; returns how many segmentations disagreed */
static unsigned
all_cuts(const unsigned char *b, size_t n, uint64_t limit, const struct outcome *want,
         unsigned *tried)
{
	static size_t cuts[1 << 17];
	unsigned bad = 0;

#define TRY(c, nc)                                                                                 \
	do {                                                                                       \
		bad += !check_cut(b, n, limit, (c), (nc), want);                                   \
		(*tried)++;                                                                        \
	} while (0)
	*tried = 0;
	TRY(NULL, 0);
	for (size_t i = 0; i < n; i++)
		cuts[i] = i + 1;
	TRY(cuts, n > 0 ? n - 1 : 0);
	for (size_t i = 0; i <= n; i++) {
		cuts[0] = i;
		TRY(cuts, 1);
	}
	if (n <= 64)
		for (size_t i = 0; i <= n; i++)
			for (size_t j = i; j <= n; j++) {
				cuts[0] = i;
				cuts[1] = j;
				TRY(cuts, 2);
			}
	for (int r = 0; r < 50; r++) {
		size_t nc = 0, at = 0;

		while (at < n) {
			at += 1 + tap_below(r % 2 ? 8 : 200);
			if (at < n)
				cuts[nc++] = at;
		}
		TRY(cuts, nc);
	}
#undef TRY
	return bad;
}

/* ---- hand-written cases ---- */

struct dcase {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	uint64_t limit;
	enum relay_ds_ev ev;
	size_t k;
	uint64_t size; /* END only */
	long big;      /* clean bytes at RELAY_DS_TOO_BIG, -1: none */
};

#define NOBIG -1

static const struct dcase cases[] = {
        /* the end of data, RFC 5321 4.1.1.4 */
        {"empty message", ".\r\n", 0, 0, RELAY_DS_END, 3, 0, NOBIG},
        {"one line", "abc\r\n.\r\n", 0, 0, RELAY_DS_END, 8, 5, NOBIG},
        {"empty line then end", "\r\n.\r\n", 0, 0, RELAY_DS_END, 5, 2, NOBIG},
        {"stuffed dot line", "a\r\n..b\r\n.\r\n", 0, 0, RELAY_DS_END, 11, 7, NOBIG},
        {"a line of one dot, stuffed", "..\r\n.\r\n", 0, 0, RELAY_DS_END, 7, 3, NOBIG},
        {"dot then text is no end", "a\r\n.x\r\n.\r\n", 0, 0, RELAY_DS_END, 10, 6, NOBIG},
        {"dot then space is no end", "a\r\n. \r\n.\r\n", 0, 0, RELAY_DS_END, 10, 6, NOBIG},
        {"dot inside a line is no end", "a.\r\nb.\r\n.\r\n", 0, 0, RELAY_DS_END, 11, 8, NOBIG},
        {"pipelined commands after the end", "x\r\n.\r\nMAIL FROM:<a@b>\r\n", 0, 0, RELAY_DS_END, 6,
         3, NOBIG},
        {"a second end is the next command's", "x\r\n.\r\n\r\n.\r\n", 0, 0, RELAY_DS_END, 6, 3,
         NOBIG},
        {"NUL bytes are text", "a\0b\r\n\0.\r\n.\r\n", 12, 0, RELAY_DS_END, 12, 9, NOBIG},
        {"NUL after the dot is no end", "\r\n.\0\r\n.\r\n", 9, 0, RELAY_DS_END, 9, 5, NOBIG},
        {"8-bit bytes are text", "\xff\xfe\r\n\x80.\r\n.\r\n", 0, 0, RELAY_DS_END, 11, 8, NOBIG},
        /* smuggling: end-of-data look-alikes (issue 7) */
        {"LF.LF", "a\n.\nMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_LF, 1, 0, NOBIG},
        {"CR.CR", "a\r.\rMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_CR, 1, 0, NOBIG},
        {"CRLF.LF", "a\r\n.\nMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_LF, 4, 0, NOBIG},
        {"LF.CRLF", "a\n.\r\nMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_LF, 1, 0, NOBIG},
        {".LF at the start", ".\nMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_LF, 1, 0, NOBIG},
        {"CRLF.CRCRLF", "a\r\n.\r\r\nMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_CR, 4, 0, NOBIG},
        {"CRLF LF . CRLF", "Hi\r\n\n.\r\nMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_LF, 4, 0,
         NOBIG},
        {"CR CRLF . CRLF", "Hi\r\r\n.\r\nMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_CR, 2, 0,
         NOBIG},
        {"CRLF.CR text", "Hi\r\n.\rMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_CR, 5, 0, NOBIG},
        {"CR.CRLF", "a\r.\r\nMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_CR, 1, 0, NOBIG},
        {"LF CRLF . CRLF", "a\n\r\n.\r\nMAIL FROM:<evil>\r\n", 0, 0, RELAY_DS_BARE_LF, 1, 0, NOBIG},
        {"LF at the start", "\n.\r\n", 0, 0, RELAY_DS_BARE_LF, 0, 0, NOBIG},
        {"CR at the start", "\rx\r\n.\r\n", 0, 0, RELAY_DS_BARE_CR, 0, 0, NOBIG},
        {"CR CR LF at the start", "\r\r\n", 0, 0, RELAY_DS_BARE_CR, 0, 0, NOBIG},
        {"bare CR mid-line", "a\r\nb\rc\r\n.\r\n", 0, 0, RELAY_DS_BARE_CR, 4, 0, NOBIG},
        {"bare LF mid-line", "ab\ncd\r\n.\r\n", 0, 0, RELAY_DS_BARE_LF, 2, 0, NOBIG},
        {"CR NUL LF", "a\r\0\n.\r\n", 7, 0, RELAY_DS_BARE_CR, 1, 0, NOBIG},
        {"LF after a stuffed dot", "a\r\n..\n", 0, 0, RELAY_DS_BARE_LF, 5, 0, NOBIG},
        /* the input runs out: a trailing CR is held back */
        {"a lone CR is held", "\r", 0, 0, RELAY_DS_MORE, 0, 0, NOBIG},
        {"text then CR", "abc\r", 0, 0, RELAY_DS_MORE, 3, 0, NOBIG},
        {"dot CR held", "a\r\n.\r", 0, 0, RELAY_DS_MORE, 4, 0, NOBIG},
        {"nothing yet", "", 0, 0, RELAY_DS_MORE, 0, 0, NOBIG},
        {"a line, no end", "abc\r\n", 0, 0, RELAY_DS_MORE, 5, 0, NOBIG},
        /* the size limit (RFC 1870 size: CRLF counted, stuffing and end mark not) */
        {"under the limit", "abcdef\r\n.\r\n", 0, 8, RELAY_DS_END, 11, 8, NOBIG},
        {"passes at a letter", "abcdef\r\n.\r\n", 0, 4, RELAY_DS_END, 11, 8, 4},
        {"passes at the last letter", "abcdef\r\n.\r\n", 0, 5, RELAY_DS_END, 11, 8, 5},
        {"passes at the CRLF: CR held", "abcdef\r\n.\r\n", 0, 7, RELAY_DS_END, 11, 8, 6},
        {"stuffing dots do not count", "..\r\n..\r\n.\r\n", 0, 6, RELAY_DS_END, 11, 6, NOBIG},
        {"limit 1 at the first byte", "ab\r\n.\r\n", 0, 1, RELAY_DS_END, 7, 4, 1},
        {"too big, then smuggling", "abc\n.\n", 0, 2, RELAY_DS_BARE_LF, 3, 0, 2},
};

/* expected - a hand-written case as an outcome */
static struct outcome
expected(const struct dcase *c)
{
	struct outcome o = {c->ev, c->k, c->size, c->big, 0};

	return o;
}

static void
test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dcase *c = &cases[i];
		size_t n = c->len ? c->len : strlen(c->in);
		const unsigned char *b = (const unsigned char *)c->in;
		struct outcome want = expected(c), ref = reference(b, n, c->limit);
		unsigned tried, bad;

		/* the reference agrees with the hand (big_at is the reference's) */
		want.big_at = ref.big_at;
		if (!ok(same(&ref, &want), "reference: %s", c->name))
			printf("#   ref ev %s k %zu size %llu big %ld\n", relay_ds_ev_name(ref.ev),
			       ref.k, (unsigned long long)ref.size, ref.big);
		contract_ok = 1;
		bad = all_cuts(b, n, c->limit, &want, &tried);
		if (!ok(bad == 0 && contract_ok, "%s: %s at %zu in all %u segmentations", c->name,
		        relay_ds_ev_name(c->ev), c->k, tried))
			printf("#   %u disagree, contract %s\n", bad,
			       contract_ok ? "kept" : "broken");
	}
}

/* test_api - the finer promises: used on END, the held CR, stickiness, init */
static void
test_api(void)
{
	struct relay_ds d;
	struct relay_ds_step st;
	enum relay_ds_ev ev;

	relay_ds_init(&d, 0);
	ev = relay_ds_scan(&d, "abc\r", 4, &st);
	ok(ev == RELAY_DS_MORE && st.used == 4 && st.fwd == 3 && st.cr == 0,
	   "a trailing CR is taken but not forwarded");
	ev = relay_ds_scan(&d, "\n.", 2, &st);
	ok(ev == RELAY_DS_MORE && st.used == 2 && st.fwd == 2 && st.cr == 1,
	   "its LF releases it: forward CR first");
	ev = relay_ds_scan(&d, "\r", 1, &st);
	ok(ev == RELAY_DS_MORE && st.fwd == 0 && st.cr == 0, "the end mark's CR is held too");
	ev = relay_ds_scan(&d, "", 0, &st);
	ok(ev == RELAY_DS_MORE && st.used == 0 && st.cr == 0, "an empty call keeps holding it");
	ev = relay_ds_scan(&d, "\nQUIT\r\n", 7, &st);
	ok(ev == RELAY_DS_END && st.used == 1 && st.fwd == 1 && st.cr == 1,
	   "END: CR and LF forwarded, QUIT left for the command reader");
	is_int(d.clean, 8, "eight bytes forwarded in all");
	is_int(d.size, 5, "size 5 (abc CRLF)");
	ev = relay_ds_scan(&d, "more", 4, &st);
	ok(ev == RELAY_DS_END && st.used == 0, "END is sticky");
	relay_ds_init(&d, 0);
	ev = relay_ds_scan(&d, ".\r\n", 3, &st);
	ok(ev == RELAY_DS_END && d.size == 0, "init: a new message at a line start");

	relay_ds_init(&d, 0);
	ev = relay_ds_scan(&d, "a\r\n.\r", 5, &st);
	ok(ev == RELAY_DS_MORE && st.fwd == 4, "CRLF . CR: the CR held");
	ev = relay_ds_scan(&d, "X", 1, &st);
	ok(ev == RELAY_DS_BARE_CR && st.used == 0 && st.fwd == 0 && st.cr == 0 && d.clean == 4,
	   "a bare CR from the last call: dropped, violation at offset 4");

	relay_ds_init(&d, 3);
	ev = relay_ds_scan(&d, "ab\r\nc", 5, &st);
	ok(ev == RELAY_DS_TOO_BIG && st.used == 3 && st.fwd == 2 && st.cr == 0,
	   "TOO_BIG at an LF: the CR stays held");
	ev = relay_ds_scan(&d, "\nc", 2, &st);
	ok(ev == RELAY_DS_MORE && st.cr == 1 && st.fwd == 2 && d.size == 5,
	   "then the scan goes on and counts");
}

/* ---- random streams ---- */

static const char *const pieces[] = {"\r\n",  "\r\n.\r\n", "\r\n.", ".\r\n", "\r\n..", "\n.\n",
                                     "\r.\r", ".",         "\r",    "\n",    "a",      "\0"};

/* random_stream - bytes biased towards what framing code trips on */
static size_t
random_stream(unsigned char *b, size_t cap, int clean)
{
	size_t n = tap_below(cap), i = 0;

	while (i < n) {
		size_t r = tap_below(10);

		if (r < 4) {
			const char *p =
			        pieces[tap_below(clean ? 5 : sizeof(pieces) / sizeof(pieces[0]))];
			size_t l = *p ? strlen(p) : 1;

			if (i + l > n)
				break;
			memcpy(b + i, p, l);
			i += l;
		} else if (r < 9)
			b[i++] = (unsigned char)('a' + tap_below(26));
		else if (!clean)
			b[i++] = (unsigned char)tap_below(256);
	}
	return i;
}

static void
test_random(void)
{
	static unsigned char b[4096];
	static size_t cuts[4096];
	unsigned runs = 0, bad = 0, ends = 0, lfs = 0, crs = 0, bigs = 0;

	contract_ok = 1;
	for (int it = 0; it < 200000; it++) {
		size_t n = random_stream(b, it % 10 == 0 ? sizeof(b) : 80, it % 3 == 0);
		uint64_t limit = tap_below(4) == 0 ? 1 + tap_below(n + 8) : 0;
		struct outcome want = reference(b, n, limit);
		size_t nc = 0, at = 0, step = 1 + tap_below(it % 2 ? 4 : 600);

		while (at < n) {
			at += 1 + tap_below(step);
			if (at < n)
				cuts[nc++] = at;
		}
		bad += !check_cut(b, n, limit, cuts, nc, &want);
		runs++;
		ends += want.ev == RELAY_DS_END;
		lfs += want.ev == RELAY_DS_BARE_LF;
		crs += want.ev == RELAY_DS_BARE_CR;
		bigs += want.big >= 0;
	}
	if (!ok(bad == 0 && contract_ok, "random streams: %u runs agree with the reference", runs))
		printf("#   %u disagree\n", bad);
	printf("#   of them %u END, %u bare LF, %u bare CR, %u passed a limit\n", ends, lfs, crs,
	       bigs);
	ok(ends > 1000 && lfs > 1000 && crs > 1000 && bigs > 1000,
	   "the random streams reach every outcome often");

	/* the clean streams in long form, every split point */
	bad = 0;
	for (int it = 0; it < 200; it++) {
		size_t n = random_stream(b, 300, 1);
		struct outcome want = reference(b, n, 0);
		unsigned tried;

		bad += all_cuts(b, n, 0, &want, &tried);
	}
	ok(bad == 0, "200 random clean streams, every segmentation");
}

/* test_speed - not a test of speed: the scanner on 16 MiB of mail text, for the report */
static void
test_speed(void)
{
	static unsigned char big[16 << 20];
	size_t n = 0;
	struct relay_ds d;
	struct relay_ds_step st;
	struct timespec t0, t1;
	size_t at = 0;
	enum relay_ds_ev ev = RELAY_DS_MORE;

	while (n + 80 < sizeof(big) - 3) {
		for (int i = 0; i < 76; i++)
			big[n++] =
			        (unsigned char)(i == 0 && tap_below(50) == 0 ? '.'
			                                                     : 'a' + tap_below(26));
		big[n++] = '\r';
		big[n++] = '\n';
	}
	memcpy(big + n, ".\r\n", 3);
	n += 3;
	relay_ds_init(&d, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (at < n && ev == RELAY_DS_MORE) {
		size_t seg = n - at < 1448 ? n - at : 1448;

		ev = relay_ds_scan(&d, big + at, seg, &st);
		at += st.used;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ok(ev == RELAY_DS_END && at == n && d.clean == n, "16 MiB of text in 1448-byte segments");
	printf("#   scan speed %.0f MB/s\n",
	       (double)n / 1e6 /
	               ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9));
}

int
main(void)
{
	tap_seed(SEED);
	test_cases();
	test_api();
	test_random();
	test_speed();
	return done_testing();
}
