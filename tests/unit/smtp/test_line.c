/* test_line - the one-pass line and command scanners against the code they replaced
 *
 * smtp_line_whole() reads a whole line in words; where it answers at all,
 * it must give what the byte-at-a-time state machine (smtp_line_scan)
 * gives from a line boundary: the bytes taken, the event, the line, and
 * whether the line is plain. smtp_verb() (a folded-word compare) must
 * name the verb the old lookup (strcspn, then a table of lowercase names)
 * named, and smtp_path_end() (strcspn first) must end a path where the old
 * quote-aware loop ended it. Edge inputs (every length around the limit,
 * bare CR and LF, NUL, DEL and 8-bit bytes at every place of a short line)
 * and random ones, biased towards the bytes the scanners look for.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_impl.h"
#include "tap.h"

#define IN_MAX 1200

/* ---- the references: the code before the one-pass scanners ---- */

/* ref_verb - smtp_command's lookup before: strcspn, then the table */
static enum smtp_cmd
ref_verb(const char *line, size_t *vlen)
{
	static const struct {
		char name[9];
		enum smtp_cmd cmd;
	} verbs[] = {
	        {"helo", SMTP_C_HELO}, {"ehlo", SMTP_C_EHLO},         {"mail", SMTP_C_MAIL},
	        {"rcpt", SMTP_C_RCPT}, {"data", SMTP_C_DATA},         {"rset", SMTP_C_RSET},
	        {"noop", SMTP_C_NOOP}, {"quit", SMTP_C_QUIT},         {"vrfy", SMTP_C_VRFY},
	        {"help", SMTP_C_HELP}, {"starttls", SMTP_C_STARTTLS}, {"auth", SMTP_C_AUTH},
	};
	size_t len = strcspn(line, " ");
	char low[9] = {0};

	*vlen = len;
	if (len != 4 && len != 8)
		return SMTP_C_UNKNOWN;
	for (size_t k = 0; k < len; k++)
		low[k] = (char)(line[k] | 0x20);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (memcmp(verbs[i].name, low, 9) == 0)
			return verbs[i].cmd;
	return SMTP_C_UNKNOWN;
}

/* ref_path_end - path()'s loop before */
static char *
ref_path_end(char *s)
{
	bool quoted = false;
	char *q;

	for (q = s; *q != '\0'; q++) {
		if (quoted && *q == '\\' && q[1] != '\0')
			q++;
		else if (*q == '"')
			quoted = !quoted;
		else if (!quoted && (*q == '>' || *q == '<' || *q == ' '))
			break;
	}
	return q;
}

/* smtp_addr_check before its last '@' was found with memrchr */
/* Limits, RFC 5321 4.5.3.1.1-3, in octets. */
#define ADDR_LOCAL_MAX  64  /* a local part */
#define ADDR_DOMAIN_MAX 255 /* a domain */
#define ADDR_PATH_MAX   256 /* a path, its "<" and ">" included */

/* hop_end - the end of one "@domain" hop of a source route at s (s[0] ==
 * '@'), or NULL when the hop is malformed: a domain name of letters,
 * digits, '-' and '.', or an address literal "[...]", not empty */
static const char *
ref_hop_end(const char *s, const char *end)
{
	const char *p = s + 1;

	if (p < end && *p == '[') {
		while (++p < end && *p != ']')
			if (*p == '[' || *p == '\\')
				return NULL;
		return p < end ? p + 1 : NULL;
	}
	while (p < end && (*p == '-' || *p == '.' || (*p >= '0' && *p <= '9') ||
	                   ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
		p++;
	if (p == s + 1 || p - (s + 1) > ADDR_DOMAIN_MAX)
		return NULL;
	return p;
}

/* skip_route - past a source route at the start of addr, if any: the
 * mailbox's start, or NULL when the route is malformed */
static const char *
ref_skip_route(const char *addr, const char *end)
{
	const char *p = addr;

	if (p == end || *p != '@')
		return p;
	for (;;) {
		if ((p = ref_hop_end(p, end)) == NULL || p == end)
			return NULL;
		if (*p == ':')
			return p + 1;
		if (*p != ',' || ++p == end || *p != '@')
			return NULL;
	}
}

/* last_at - the last '@' of the mailbox, outside a quoted local part
 * (most quote nothing: then it is the last '@' at all) */
static const char *
ref_last_at(const char *s, const char *end)
{
	const char *at = NULL;
	bool quoted = false;

	for (const char *p = s; p < end; p++) {
		if (quoted && *p == '\\' && p + 1 < end)
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '@')
			at = p;
	}
	return at;
}

/* ref_addr_check - smtp_addr_check before: the shape and sizes of a path's address; the most
 * specific refusal first (a 300-octet domain is reported as such, not as
 * the path it makes too long) */
static enum smtp_addr_err
ref_addr_check(const char *addr, size_t len)
{
	const char *end = addr + len, *box, *at;
	size_t local;

	if (len == 0)
		return SMTP_ADDR_OK; /* the null path: the caller says where it may be */
	if ((box = ref_skip_route(addr, end)) == NULL)
		return SMTP_ADDR_BAD_ROUTE;
	if (box == end)
		return SMTP_ADDR_SYNTAX; /* a route to nobody */
	at = ref_last_at(box, end);
	if (at != NULL && (at == box || at + 1 == end))
		return SMTP_ADDR_SYNTAX; /* "@domain" or "user@" */
	local = (size_t)((at != NULL ? at : end) - box);
	if (local > ADDR_LOCAL_MAX)
		return SMTP_ADDR_LOCAL_LONG;
	if (at != NULL && end - (at + 1) > ADDR_DOMAIN_MAX)
		return SMTP_ADDR_DOMAIN_LONG;
	if (len + 2 > ADDR_PATH_MAX)
		return SMTP_ADDR_PATH_LONG;
	return SMTP_ADDR_OK;
}

/* ---- the line reader ---- */

static unsigned long whole_answers, whole_declines, line_cases;

/* same_line - smtp_line_whole agrees with smtp_line_scan on p[0..n) */
static bool
same_line(const unsigned char *p, size_t n)
{
	char a[SMTP_LINE_MAX + 8], b[SMTP_LINE_MAX + 8];
	uint16_t alen = 0, blen = 0;
	uint8_t lstate = SMTP_L_TEXT;
	enum smtp_line_ev aev, bev;
	bool plain = false;
	size_t at, bt;

	line_cases++;
	memset(a, 0x77, sizeof(a));
	/* the guard: nothing may be written past SMTP_LINE_MAX */
	at = smtp_line_whole(p, n, a, &alen, &plain, &aev);
	for (size_t k = SMTP_LINE_MAX; k < sizeof(a); k++)
		if (a[k] != 0x77)
			return false;
	if (at == 0) {
		whole_declines++;
		return true; /* declined: the state machine reads it, as before */
	}
	whole_answers++;
	bt = smtp_line_scan(&lstate, b, &blen, p, n, &bev);
	if (at != bt || aev != bev || at > n)
		return false;
	if (aev == SMTP_LINE_BARE_LF)
		return true; /* the session ends: the line is not read */
	if (aev != SMTP_LINE_DONE || lstate != SMTP_L_TEXT || alen != blen ||
	    memcmp(a, b, alen) != 0)
		return false;
	for (size_t k = 0; k < alen; k++)
		if ((unsigned char)a[k] < ' ' || (unsigned char)a[k] >= 0x7f)
			return !plain;
	return plain;
}

/* test_line_edges - every line length around the limit, each special byte at each place */
static void
test_line_edges(void)
{
	static unsigned char in[IN_MAX];
	static const unsigned char specials[] = {'\r', '\n', '\0', 0x7f, 0x80, 0xff, 0x1f, '\t'};
	bool good = true;
	size_t len;

	/* plain lines of 0 to 520 bytes, with CRLF, CR alone at the end, LF
	 * alone, and followed by more input or not */
	for (len = 0; len <= 520 && good; len++) {
		memset(in, 'a', len);
		memcpy(in + len, "\r\nNOOP\r\n", 8);
		good = same_line(in, len + 2) && same_line(in, len + 8) && same_line(in, len + 1) &&
		       same_line(in, len);
		in[len] = '\n';
		good = good && same_line(in, len + 1) && same_line(in, len + 7);
	}
	ok(good, "lines of 0 to 520 bytes: CRLF, lone CR, lone LF, more input after (at %zu)",
	   len - 1);
	/* a special byte at every place of lines of 0 to 40 bytes and around the limit */
	good = true;
	for (size_t s = 0; s < sizeof(specials) && good; s++)
		for (len = 1; len <= 515 && good; len = len == 40 ? 500 : len + 1)
			for (size_t at = 0; at < len && good; at++) {
				memset(in, 'M', len);
				in[at] = specials[s];
				memcpy(in + len, "\r\n", 2);
				good = same_line(in, len + 2) && same_line(in, len + 1) &&
				       same_line(in, at + 1);
			}
	ok(good, "CR, LF, NUL, DEL, 8-bit, control at every place of short and maximal lines");
	/* a bare CR right before the CRLF, CR CR LF, CR at the very end */
	ok(same_line((const unsigned char *)"QUIT\r\r\n", 7) &&
	           same_line((const unsigned char *)"QU\rIT\r\n", 7) &&
	           same_line((const unsigned char *)"\r\n", 2) &&
	           same_line((const unsigned char *)"\n", 1) &&
	           same_line((const unsigned char *)"\r", 1) &&
	           same_line((const unsigned char *)"MAIL FROM:<a@b>\r", 16),
	   "CR CR LF, CR inside, an empty line, a lone LF, a lone CR");
}

/* rnd_bytes - a stream biased towards what the line reader looks for */
static size_t
rnd_bytes(unsigned char *b, size_t cap)
{
	static const unsigned char specials[] = {'\r', '\n', '\0', ' ', 0x7f, 0xff, 0x80, '\t'};
	size_t n = tap_below(8) == 0 ? 480 + tap_below(60) : tap_below(64), i = 0;

	if (n > cap)
		n = cap;
	while (i < n) {
		size_t r = tap_below(40);

		if (r == 0)
			b[i++] = specials[tap_below(sizeof(specials))];
		else if (r == 1 && i + 2 <= n) {
			b[i++] = '\r';
			b[i++] = '\n';
		} else if (r == 2)
			b[i++] = (unsigned char)tap_rnd();
		else
			b[i++] = (unsigned char)('A' + tap_below(58));
	}
	return n;
}

static void
test_line_random(void)
{
	static unsigned char in[IN_MAX];
	bool good = true;
	int i;

	for (i = 0; i < 200000 && good; i++) {
		size_t n = rnd_bytes(in, sizeof(in));

		good = same_line(in, n);
		/* and from every later line start, as smtp_input goes on */
		for (size_t k = 0; k + 1 < n && good; k++)
			if (in[k] == '\n')
				good = same_line(in + k + 1, n - k - 1);
	}
	ok(good, "200,000 random streams: the one-pass reader agrees (case %d)", i);
	printf("# %lu line cases: %lu answered in one pass, %lu left to the state machine\n",
	       line_cases, whole_answers, whole_declines);
	ok(whole_answers > line_cases / 4 && whole_declines > line_cases / 100,
	   "both readers had work");
}

/* ---- verbs and paths ---- */

/* same_verb - smtp_verb and the old lookup on a plain, trimmed line */
static bool
same_verb(const char *line)
{
	size_t len = strlen(line), va, vb;
	enum smtp_cmd a, b;

	if (len == 0 || line[len - 1] == ' ')
		return true; /* smtp_command never asks */
	a = smtp_verb(line, len, &va);
	b = ref_verb(line, &vb);
	return a == b && (a == SMTP_C_UNKNOWN || va == vb);
}

static void
test_verbs(void)
{
	static const char *const names[] = {"helo",    "ehlo",     "mail",     "rcpt",  "data",
	                                    "rset",    "noop",     "quit",     "vrfy",  "help",
	                                    "auth",    "starttls", "hel",      "heloo", "star",
	                                    "starttl", "x",        "starttlsx"};
	static const char tail_chars[] = " @:<>a1";
	char line[64];
	bool good = true;
	int i;

	/* every name in every case, alone and with arguments */
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && good; k++) {
		size_t n = strlen(names[k]);

		for (unsigned mask = 0; mask < (1u << n) && good; mask++) {
			for (size_t j = 0; j < n; j++)
				line[j] = (char)(mask >> j & 1 ? names[k][j] - 32 : names[k][j]);
			line[n] = '\0';
			good = same_verb(line);
			strcpy(line + n, " FROM:<a@b>");
			good = good && same_verb(line);
			strcpy(line + n, "  x");
			good = good && same_verb(line);
		}
	}
	ok(good, "every verb in every case, alone and with arguments");
	/* random printable lines, mostly verb-like */
	good = true;
	for (i = 0; i < 200000 && good; i++) {
		size_t n = 1 + tap_below(12);

		for (size_t j = 0; j < n; j++) {
			size_t r = tap_below(10);

			if (r < 6)
				line[j] = "HELOEMAIRCPTDSNQUVFYK"[tap_below(21)] |
				          (tap_below(2) ? 0x20 : 0);
			else if (r < 8)
				line[j] = tail_chars[tap_below(sizeof(tail_chars) - 1)];
			else
				line[j] = (char)(' ' + tap_below(0x5f));
		}
		line[n] = '\0';
		good = same_verb(line);
	}
	ok(good, "200,000 random lines: the same verb (case %d: \"%s\")", i, line);
}

/* same_path - smtp_path_end and the old loop end a path at the same
 * byte, and the address up to there is checked the same */
static bool
same_path(const char *s)
{
	char a[IN_MAX], b[IN_MAX];
	size_t end;

	strcpy(a, s);
	strcpy(b, s);
	end = (size_t)(smtp_path_end(a) - a);
	return end == (size_t)(ref_path_end(b) - b) &&
	       smtp_addr_check(a, end) == ref_addr_check(b, end);
}

static void
test_paths(void)
{
	static const char pieces[] = "a@.\"\\<> :x";
	static const char *const fixed[] = {
	        "",     "a@b>",  "\"a b\"@c>",     "\"a\\\"b>\"@c> x", "\"a\\",     "a\\\">b", "<",
	        "a b>", "\"\">", "\"x\\\\\"@y>z>", "\"unterminated>>", "@a,@b:u@c>"};
	char s[80];
	bool good = true;
	int i;

	for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
		good = good && same_path(fixed[k]);
	ok(good, "fixed paths: quotes, escapes, unterminated, routes");
	ok(smtp_addr_check("\"a@b\"@c", 8) == SMTP_ADDR_OK &&
	           smtp_addr_check("\"a@\"", 5) == SMTP_ADDR_OK &&
	           smtp_addr_check("a@b@", 4) == SMTP_ADDR_SYNTAX,
	   "the last '@' outside quotes splits the address");
	for (i = 0; i < 200000 && good; i++) {
		size_t n = tap_below(40);

		for (size_t j = 0; j < n; j++)
			s[j] = tap_below(3) ? pieces[tap_below(sizeof(pieces) - 1)]
			                    : (char)(' ' + tap_below(0x5f));
		s[n] = '\0';
		good = same_path(s);
	}
	ok(good, "200,000 random paths end where they ended (case %d: \"%s\")", i, s);
}

int
main(void)
{
	test_line_edges();
	test_line_random();
	test_verbs();
	test_paths();
	return done_testing();
}
