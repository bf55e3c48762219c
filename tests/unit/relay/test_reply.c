/* test_reply - the backend reply parser: replies, EHLO keywords, limits, errors, any segmentation
 *
 * Replies as real MTAs send them (Postfix 3.7's EHLO reply is the one
 * Debian 12's smtpd gives to an XCLIENT-authorised client), pipelined
 * replies in one segment, the limits at their exact edges (a 512-octet
 * line, 513; 100 lines, 101), every kind of protocol error, each fed
 * whole, byte by byte and in two pieces at every offset. Then generated
 * replies (fixed seed): random valid replies must come out exactly as
 * generated, and random byte streams must give the same replies and error
 * whatever the segmentation.
 */
#include <stdint.h>
#include <stdlib.h>

#include "relay_proto.h"
#include "tap.h"

#define SEED 0xbb67ae8584caa73bull

/* What a byte stream gave: its replies in order, then how it ended. */
#define MAX_REPLIES 64

struct got {
	unsigned n;
	struct {
		uint16_t code, nlines;
		uint8_t multiline;
		char text[RELAY_LINE_MAX];
		uint32_t ext, xclient;
		uint64_t size;
		size_t end; /* stream offset just after the reply */
	} r[MAX_REPLIES];
	enum relay_rp_err err;
	size_t used; /* bytes taken in all */
	int bad_used;
};

/* run - feed b cut at cuts[0..ncut), taking every reply out */
static void
run(const char *b, size_t n, const size_t *cuts, size_t ncut, struct got *g)
{
	struct relay_rp p;
	size_t at = 0;

	memset(g, 0, sizeof(*g));
	relay_rp_init(&p);
	for (size_t piece = 0; piece <= ncut; piece++) {
		size_t end = piece < ncut ? cuts[piece] : n;

		while (at < end) {
			struct relay_reply r;
			size_t used;
			enum relay_rp_ev ev = relay_rp_feed(&p, b + at, end - at, &used, &r);

			if (used > end - at)
				g->bad_used = 1;
			at += used;
			g->used = at;
			if (ev == RELAY_RP_ERROR) {
				g->err = relay_rp_error(&p);
				/* sticky */
				if (relay_rp_feed(&p, "220 x\r\n", 7, &used, &r) !=
				            RELAY_RP_ERROR ||
				    used != 0)
					g->bad_used = 1;
				return;
			}
			if (ev == RELAY_RP_MORE) {
				if (at != end)
					g->bad_used = 1;
				break;
			}
			if (g->n < MAX_REPLIES) {
				g->r[g->n].code = r.code;
				g->r[g->n].nlines = r.nlines;
				g->r[g->n].multiline = r.multiline;
				if (strlen(r.text) != r.text_len)
					g->bad_used = 1;
				memcpy(g->r[g->n].text, r.text, r.text_len + 1);
				g->r[g->n].ext = r.ext;
				g->r[g->n].xclient = r.xclient;
				g->r[g->n].size = r.size;
				g->r[g->n].end = at;
			}
			g->n++;
		}
	}
}

/* same - two runs agree */
static int
same(const struct got *a, const struct got *b)
{
	if (a->n != b->n || a->err != b->err || a->used != b->used || a->bad_used || b->bad_used)
		return 0;
	for (unsigned i = 0; i < a->n && i < MAX_REPLIES; i++)
		if (a->r[i].code != b->r[i].code || a->r[i].nlines != b->r[i].nlines ||
		    strcmp(a->r[i].text, b->r[i].text) != 0 || a->r[i].ext != b->r[i].ext ||
		    a->r[i].xclient != b->r[i].xclient || a->r[i].size != b->r[i].size ||
		    a->r[i].end != b->r[i].end)
			return 0;
	return 1;
}

/* splits_agree - byte by byte and two pieces at every offset (long inputs: at many) give
 * what the whole gave */
static int
splits_agree(const char *b, size_t n, const struct got *whole)
{
	static size_t cuts[1 << 16];
	static struct got g;

	for (size_t i = 0; i + 1 < n; i++)
		cuts[i] = i + 1;
	run(b, n, cuts, n > 0 ? n - 1 : 0, &g);
	if (!same(&g, whole))
		return 0;
	for (size_t i = 0; i <= n; i++) {
		/* long inputs: every 97th offset and every offset at a CR or LF */
		if (n > 4096 && i % 97 != 0 && i < n && b[i] != '\r' && b[i] != '\n' &&
		    (i == 0 || b[i - 1] != '\r'))
			continue;
		cuts[0] = i;
		run(b, n, cuts, 1, &g);
		if (!same(&g, whole))
			return 0;
	}
	return 1;
}

static struct got g; /* the whole-buffer run of the case at hand */

/* parse - run s (n bytes; 0: strlen) whole; check all segmentations agree */
static void
parse(const char *s, size_t n, const char *what)
{
	if (n == 0)
		n = strlen(s);
	run(s, n, NULL, 0, &g);
	ok(splits_agree(s, n, &g), "%s: the same in every segmentation", what);
}

static const char postfix_ehlo[] = "250-gw.example.net\r\n"
                                   "250-PIPELINING\r\n"
                                   "250-SIZE 10240000\r\n"
                                   "250-VRFY\r\n"
                                   "250-ETRN\r\n"
                                   "250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN "
                                   "DESTADDR DESTPORT\r\n"
                                   "250-ENHANCEDSTATUSCODES\r\n"
                                   "250-8BITMIME\r\n"
                                   "250-DSN\r\n"
                                   "250-SMTPUTF8\r\n"
                                   "250 CHUNKING\r\n";

static void
test_basic(void)
{
	parse("220 gw.example.net ESMTP Postfix (Debian/GNU)\r\n", 0, "greeting");
	ok(g.n == 1 && g.err == RELAY_RP_E_NONE && g.used == 47, "one reply, all 47 bytes taken");
	is_int(g.r[0].code, 220, "code 220");
	ok(g.r[0].nlines == 1 && !g.r[0].multiline, "single-line");
	is_str(g.r[0].text, "gw.example.net ESMTP Postfix (Debian/GNU)", "its text");

	parse("250\r\n", 0, "code without text");
	ok(g.n == 1 && g.r[0].code == 250 && g.r[0].text[0] == '\0', "\"250\" alone: empty text");
	parse("354 \r\n", 0, "code and space");
	ok(g.n == 1 && g.r[0].code == 354 && g.r[0].text[0] == '\0', "\"354 \": empty text");

	parse(postfix_ehlo, sizeof(postfix_ehlo) - 1, "Postfix 3.7 EHLO reply");
	ok(g.n == 1 && g.err == RELAY_RP_E_NONE, "one reply");
	ok(g.r[0].code == 250 && g.r[0].nlines == 11 && g.r[0].multiline, "250, 11 lines");
	is_str(g.r[0].text, "CHUNKING", "the last line's text");
	is_int(g.r[0].ext,
	       RELAY_EXT_PIPELINING | RELAY_EXT_SIZE | RELAY_EXT_XCLIENT |
	               RELAY_EXT_ENHANCEDSTATUSCODES | RELAY_EXT_8BITMIME | RELAY_EXT_DSN |
	               RELAY_EXT_SMTPUTF8 | RELAY_EXT_CHUNKING,
	       "its keywords, the last line's too (VRFY, ETRN not tracked)");
	is_int(g.r[0].xclient,
	       RELAY_XC_NAME | RELAY_XC_ADDR | RELAY_XC_PROTO | RELAY_XC_HELO |
	               RELAY_XC_REVERSE_NAME | RELAY_XC_PORT | RELAY_XC_LOGIN | RELAY_XC_DESTADDR |
	               RELAY_XC_DESTPORT,
	       "all nine XCLIENT attributes");
	is_int(g.r[0].size, 10240000, "SIZE 10240000");

	parse("250-h\r\n250-xclient name Addr\r\n250-size\r\n250 STARTTLS\r\n", 0,
	      "keywords caseless, SIZE bare");
	ok(g.r[0].ext == (RELAY_EXT_XCLIENT | RELAY_EXT_SIZE | RELAY_EXT_STARTTLS) &&
	           g.r[0].xclient == (RELAY_XC_NAME | RELAY_XC_ADDR) && g.r[0].size == 0,
	   "xclient name Addr, SIZE without a limit, STARTTLS");

	parse("250 XCLIENT NAME ADDR\r\n", 0, "a keyword on the first line");
	ok(g.r[0].ext == 0 && g.r[0].xclient == 0, "the first line is the greeting, no keyword");
	parse("550-XCLIENT NAME\r\n550 XCLIENT ADDR\r\n", 0, "a 5xx reply");
	ok(g.r[0].ext == 0, "no keywords from a refusal");
	parse("250-h\r\n250-SIZE 99999999999999999999999\r\n250 SIZE 12x\r\n", 0, "SIZE junk");
	ok(g.r[0].size == 0 && (g.r[0].ext & RELAY_EXT_SIZE), "the last SIZE counts; junk is 0");
	parse("250-h\r\n250 SIZE 99999999999999999999999\r\n", 0, "SIZE overflow");
	ok(g.r[0].size == UINT64_MAX, "a SIZE over 64 bits saturates");
	parse("250-h\r\n250 XCLIENT NAME ADDRESS PORTS  PORT\r\n", 0, "attribute look-alikes");
	ok(g.r[0].xclient == (RELAY_XC_NAME | RELAY_XC_PORT), "only exact attribute names");
	parse("250-a\tb\r\n250 x\xc3\xa9y\r\n", 0, "HT and 8-bit text");
	ok(g.n == 1 && g.err == RELAY_RP_E_NONE, "are accepted");
}

static void
test_pipelined(void)
{
	static const char s[] =
	        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <x@y>: Recipient address "
	        "rejected: User unknown\r\n354 End data with <CR><LF>.<CR><LF>\r\n";

	parse(s, sizeof(s) - 1, "four pipelined replies");
	ok(g.n == 4 && g.err == RELAY_RP_E_NONE, "come out as four");
	ok(g.r[0].code == 250 && g.r[0].end == 14, "MAIL: 250, ends at 14");
	ok(g.r[1].code == 250 && g.r[1].end == 28, "RCPT: 250, ends at 28");
	ok(g.r[2].code == 550 && strcmp(g.r[2].text, "5.1.1 <x@y>: Recipient address rejected: "
	                                             "User unknown") == 0,
	   "RCPT: 550 with its text");
	ok(g.r[3].code == 354 && g.r[3].end == sizeof(s) - 1, "DATA: 354, at the end");

	parse("250 a\r\n250-b\r\n2", 0, "a reply and a partial one");
	ok(g.n == 1 && g.used == 15 && g.err == RELAY_RP_E_NONE, "one out, the rest taken");
}

/* line_of - "250 " or "250-" and text up to total octets, CRLF included */
static size_t
line_of(char *b, const char *code, char sep, size_t total)
{
	size_t n = 0;

	memcpy(b, code, 3);
	b[3] = sep;
	for (n = 4; n < total - 2; n++)
		b[n] = (char)('a' + n % 26);
	b[n++] = '\r';
	b[n++] = '\n';
	return n;
}

static void
test_limits(void)
{
	static char b[RELAY_LINE_MAX * (RELAY_REPLY_LINES_MAX + 2)];
	size_t n;

	n = line_of(b, "250", ' ', 512);
	parse(b, n, "a 512-octet line");
	ok(g.n == 1 && g.err == RELAY_RP_E_NONE && strlen(g.r[0].text) == 506,
	   "is a reply with 506 bytes of text");
	n = line_of(b, "250", ' ', 513);
	parse(b, n, "a 513-octet line");
	ok(g.n == 0 && g.err == RELAY_RP_E_LONG_LINE, "is too long");
	is_int(g.used, 511, "at its 511th byte, before CRLF");
	n = line_of(b, "250", '-', 513);
	parse(b, n, "a 513-octet continuation line");
	ok(g.err == RELAY_RP_E_LONG_LINE, "is too long");

	n = 0;
	for (int i = 0; i < RELAY_REPLY_LINES_MAX; i++)
		n += line_of(b + n, "250", i + 1 < RELAY_REPLY_LINES_MAX ? '-' : ' ', 512);
	parse(b, n, "100 lines of 512 octets");
	ok(g.n == 1 && g.err == RELAY_RP_E_NONE && g.r[0].nlines == 100, "are one reply");
	n = 0;
	for (int i = 0; i < RELAY_REPLY_LINES_MAX + 1; i++)
		n += line_of(b + n, "250", i < RELAY_REPLY_LINES_MAX ? '-' : ' ', 20);
	parse(b, n, "101 lines");
	ok(g.n == 0 && g.err == RELAY_RP_E_TOO_MANY_LINES, "are too many");
	n = 0;
	for (int i = 0; i < 1000; i++)
		n += line_of(b + n, "250", '-', 10);
	parse(b, n, "1000 continuation lines");
	ok(g.err == RELAY_RP_E_TOO_MANY_LINES && g.used == 100 * 10,
	   "stop at the end of the 100th, not later");
}

struct ecase {
	const char *in;
	size_t len;
	enum relay_rp_err err;
	const char *name;
};

static const struct ecase errors[] = {
        {"25\r\n", 0, RELAY_RP_E_SYNTAX, "two digits"},
        {"2500 x\r\n", 0, RELAY_RP_E_SYNTAX, "four digits"},
        {"250x\r\n", 0, RELAY_RP_E_SYNTAX, "no separator"},
        {"abc x\r\n", 0, RELAY_RP_E_SYNTAX, "letters"},
        {"\r\n", 0, RELAY_RP_E_SYNTAX, "an empty line"},
        {"600 x\r\n", 0, RELAY_RP_E_SYNTAX, "first digit 6"},
        {"190 x\r\n", 0, RELAY_RP_E_SYNTAX, "first digit 1"},
        {"260 x\r\n", 0, RELAY_RP_E_SYNTAX, "second digit 6"},
        {" 250 x\r\n", 0, RELAY_RP_E_SYNTAX, "a leading space"},
        {"250-a\r\n251 b\r\n", 0, RELAY_RP_E_CODE_MISMATCH, "250 then 251"},
        {"250-a\r\n250-b\r\n550 c\r\n", 0, RELAY_RP_E_CODE_MISMATCH, "250, 250, 550"},
        {"250 ok\n", 0, RELAY_RP_E_BARE_NEWLINE, "a bare LF"},
        {"250 o\rk\r\n", 0, RELAY_RP_E_BARE_NEWLINE, "a bare CR"},
        {"250 ok\r\r\n", 0, RELAY_RP_E_BARE_NEWLINE, "CR CR LF"},
        {"250 o\0k\r\n", 9, RELAY_RP_E_BAD_CHAR, "a NUL"},
        {"250 o\x1bk\r\n", 0, RELAY_RP_E_BAD_CHAR, "an ESC"},
        {"250 o\x7fk\r\n", 0, RELAY_RP_E_BAD_CHAR, "a DEL"},
        {"250 ok\r\n250-a\n", 0, RELAY_RP_E_BARE_NEWLINE, "after a good reply"},
};

static void
test_errors(void)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		const struct ecase *e = &errors[i];
		size_t n = e->len ? e->len : strlen(e->in);

		run(e->in, n, NULL, 0, &g);
		if (!ok(g.err == e->err && splits_agree(e->in, n, &g), "%s: %s", e->name,
		        relay_rp_err_name(e->err)))
			printf("#   got %s\n", relay_rp_err_name(g.err));
	}
	run("250 ok\r\n250-a\n", 14, NULL, 0, &g);
	ok(g.n == 1 && g.r[0].code == 250, "the good reply before an error still came out");
}

/* gen_reply - a random valid reply at b; fills what it should parse to */
static size_t
gen_reply(char *b, uint16_t *code, uint16_t *nlines, char *last)
{
	size_t n = 0;
	int c = (int)(200 + tap_below(4) * 100 + tap_below(6) * 10 + tap_below(10));
	unsigned lines = 1 + (tap_below(4) == 0 ? (unsigned)tap_below(RELAY_REPLY_LINES_MAX) : 0);

	for (unsigned l = 0; l < lines; l++) {
		size_t tl = tap_below(5) == 0 ? RELAY_LINE_TEXT - 4 : tap_below(40);
		int bare = l + 1 == lines && tap_below(8) == 0; /* "ddd" CRLF, no text */

		n += (size_t)sprintf(b + n, "%03d", c);
		if (!bare) {
			b[n++] = l + 1 < lines ? '-' : ' ';
			for (size_t i = 0; i < tl; i++) {
				unsigned char ch = (unsigned char)(0x20 + tap_below(0x5f));

				b[n++] = tap_below(20) == 0 ? (char)(0x80 + tap_below(0x80))
				                            : (char)ch;
			}
		} else
			tl = 0;
		if (l + 1 == lines) {
			memcpy(last, b + n - tl, tl);
			last[tl] = '\0';
		}
		b[n++] = '\r';
		b[n++] = '\n';
	}
	*code = (uint16_t)c;
	*nlines = (uint16_t)lines;
	return n;
}

static void
test_random(void)
{
	static char b[1 << 20]; /* 8 replies of 100 lines of 512 octets at most */
	static char last[8][RELAY_LINE_MAX];
	static size_t cuts[1 << 20];
	static struct got whole, cut;
	uint16_t code[8], nl[8];
	unsigned bad = 0, badsplit = 0, runs = 0;

	for (int it = 0; it < 20000; it++) {
		unsigned k = 1 + (unsigned)tap_below(8);
		size_t n = 0, nc = 0, at = 0;

		for (unsigned i = 0; i < k; i++)
			n += gen_reply(b + n, &code[i], &nl[i], last[i]);
		while (at < n) {
			at += 1 + tap_below(it % 2 ? 5 : 700);
			if (at < n)
				cuts[nc++] = at;
		}
		run(b, n, cuts, nc, &cut);
		int good =
		        cut.n == k && cut.err == RELAY_RP_E_NONE && cut.used == n && !cut.bad_used;
		for (unsigned i = 0; good && i < k; i++)
			good = cut.r[i].code == code[i] && cut.r[i].nlines == nl[i] &&
			       strcmp(cut.r[i].text, last[i]) == 0;
		bad += !good;
		runs++;
	}
	ok(bad == 0, "%u runs of random valid replies, cut at random, parse as generated", runs);

	/* random bytes made of reply pieces: the same outcome whatever the cuts */
	static const char *const bits[] = {"250",
	                                   "-",
	                                   " ",
	                                   "\r\n",
	                                   "\r",
	                                   "\n",
	                                   "251",
	                                   "x",
	                                   "\0",
	                                   "550 ",
	                                   "250-XCLIENT NAME\r\n",
	                                   "250 SIZE 9\r\n"};
	for (int it = 0; it < 50000; it++) {
		size_t n = 0, nc = 0, at = 0, want = tap_below(it % 10 ? 200 : 4000);

		while (n < want) {
			const char *p = bits[tap_below(sizeof(bits) / sizeof(bits[0]))];
			size_t l = *p ? strlen(p) : 1;

			memcpy(b + n, p, l);
			n += l;
			if (tap_below(3) == 0)
				b[n++] = (char)tap_below(256);
		}
		run(b, n, NULL, 0, &whole);
		while (at < n) {
			at += 1 + tap_below(it % 2 ? 3 : 300);
			if (at < n)
				cuts[nc++] = at;
		}
		run(b, n, cuts, nc, &cut);
		badsplit += !same(&whole, &cut);
	}
	ok(badsplit == 0, "50000 random byte streams: the same replies and error when cut");
}

int
main(void)
{
	tap_seed(SEED);
	test_basic();
	test_pipelined();
	test_limits();
	test_errors();
	test_random();
	return done_testing();
}
