/* relay_reply - read the backend's replies, one complete reply at a time
 *
 * RFC 5321 4.2: a reply is lines "ddd-text" CRLF ... ending with one
 * "ddd text" CRLF or "ddd" CRLF, every line with the same code, each line
 * at most 512 octets with its CRLF (4.5.3.1.5). The relay decides on the
 * code and passes the last line's text on to the client (a refused
 * recipient), so the parser keeps that line and checks its bytes.
 *
 * Untrusted input: the backend's bytes. The backend is ours, but it may be
 * misconfigured or broken: anything outside the grammar (a long line, too
 * many lines, a bad or changing code, a bare CR or LF, a control
 * character) ends the parse with an error, and the relay fails the
 * hand-off with a 4xx to the client. The line buffer is checked before
 * every append, so no input writes past it; the parser stops after each
 * complete reply so that pipelined replies come out one by one.
 *
 * On the lines after the first of a 2xx reply it notes the EHLO keywords
 * the relay uses (RFC 5321 4.1.1.1: ehlo-keyword *(SP ehlo-param)),
 * caselessly, with the XCLIENT attribute list and the SIZE limit.
 */
#include <string.h>
#include <strings.h>

#include "relay_proto.h"

enum relay_rp_state {
	RP_LINE,  /* in a line, or at its start */
	RP_CR,    /* after a CR: only LF may follow */
	RP_ERROR, /* stopped: p->err says why */
};

struct keyword {
	const char *name;
	uint32_t bit;
};

static const struct keyword ext_names[] = {
        {"PIPELINING", RELAY_EXT_PIPELINING},
        {"SIZE", RELAY_EXT_SIZE},
        {"8BITMIME", RELAY_EXT_8BITMIME},
        {"SMTPUTF8", RELAY_EXT_SMTPUTF8},
        {"STARTTLS", RELAY_EXT_STARTTLS},
        {"CHUNKING", RELAY_EXT_CHUNKING},
        {"DSN", RELAY_EXT_DSN},
        {"ENHANCEDSTATUSCODES", RELAY_EXT_ENHANCEDSTATUSCODES},
        {"XCLIENT", RELAY_EXT_XCLIENT},
        {"XFORWARD", RELAY_EXT_XFORWARD},
};

static const struct keyword xc_names[] = {
        {"NAME", RELAY_XC_NAME},
        {"ADDR", RELAY_XC_ADDR},
        {"PORT", RELAY_XC_PORT},
        {"PROTO", RELAY_XC_PROTO},
        {"HELO", RELAY_XC_HELO},
        {"LOGIN", RELAY_XC_LOGIN},
        {"DESTADDR", RELAY_XC_DESTADDR},
        {"DESTPORT", RELAY_XC_DESTPORT},
        {"REVERSE_NAME", RELAY_XC_REVERSE_NAME},
};

/* relay_rp_init - a parser at the start of a reply */
void
relay_rp_init(struct relay_rp *p)
{
	memset(p, 0, sizeof(*p));
	p->state = RP_LINE;
}

/* relay_rp_error - why the parser stopped */
enum relay_rp_err
relay_rp_error(const struct relay_rp *p)
{
	return (enum relay_rp_err)p->err;
}

/* fail - stop for good */
static enum relay_rp_ev
fail(struct relay_rp *p, enum relay_rp_err e)
{
	p->len = 0;
	p->state = RP_ERROR;
	p->err = (uint8_t)e;
	return RELAY_RP_ERROR;
}

/* lookup - the bit of the word w[0..n) in a keyword table, 0 if none */
static uint32_t
lookup(const struct keyword *t, size_t nt, const char *w, size_t n)
{
	for (size_t i = 0; i < nt; i++)
		if (strlen(t[i].name) == n && strncasecmp(t[i].name, w, n) == 0)
			return t[i].bit;
	return 0;
}

/* next_word - the word at *s (up to a space or end), *s moved past it and its spaces */
static size_t
next_word(const char **s, const char *end, const char **w)
{
	const char *q = *s;

	*w = q;
	while (q < end && *q != ' ')
		q++;
	size_t n = (size_t)(q - *w);
	while (q < end && *q == ' ')
		q++;
	*s = q;
	return n;
}

/* parse_size - the SIZE parameter: digits, saturating; 0 when absent or not a number */
static uint64_t
parse_size(const char *w, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return 0;
		if (v > (UINT64_MAX - 9) / 10)
			return UINT64_MAX;
		v = v * 10 + (uint64_t)(w[i] - '0');
	}
	return v;
}

/* ehlo_line - note the keyword of one EHLO reply line (its text after "ddd-") */
static void
ehlo_line(struct relay_rp *p, const char *s, const char *end)
{
	const char *w;
	size_t n = next_word(&s, end, &w);
	uint32_t bit = lookup(ext_names, sizeof(ext_names) / sizeof(ext_names[0]), w, n);

	p->ext |= bit;
	if (bit == RELAY_EXT_SIZE) {
		n = next_word(&s, end, &w);
		p->size = parse_size(w, n);
	} else if (bit == RELAY_EXT_XCLIENT) {
		while (s < end) {
			n = next_word(&s, end, &w);
			p->xclient |=
			        lookup(xc_names, sizeof(xc_names) / sizeof(xc_names[0]), w, n);
		}
	}
}

/* line_code - the code of a complete line, or -1 when the line is not "ddd[ -]..." */
static int
line_code(const char *l, size_t n)
{
	/* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39 */
	if (n < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' || l[2] < '0' ||
	    l[2] > '9')
		return -1;
	if (n > 3 && l[3] != ' ' && l[3] != '-')
		return -1;
	return (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
}

/* line_done - a complete line: RELAY_RP_MORE within a reply, REPLY at its last line */
static enum relay_rp_ev
line_done(struct relay_rp *p, struct relay_reply *r)
{
	int code = line_code(p->line, p->len);
	int more = p->len > 3 && p->line[3] == '-';

	if (code < 0)
		return fail(p, RELAY_RP_E_SYNTAX);
	if (p->nlines == 0)
		p->code = (uint16_t)code;
	else if (code != p->code)
		return fail(p, RELAY_RP_E_CODE_MISMATCH);
	p->nlines++;
	if (p->nlines > 1 && code / 100 == 2)
		ehlo_line(p, p->line + 4, p->line + (p->len > 4 ? p->len : 4));
	if (more) {
		if (p->nlines >= RELAY_REPLY_LINES_MAX)
			return fail(p, RELAY_RP_E_TOO_MANY_LINES);
		p->len = 0;
		return RELAY_RP_MORE;
	}
	p->line[p->len] = '\0';
	r->code = p->code;
	r->nlines = p->nlines;
	r->multiline = p->nlines > 1;
	r->text = p->len > 4 ? p->line + 4 : p->line + p->len;
	r->text_len = (uint16_t)(p->len > 4 ? p->len - 4 : 0);
	r->ext = p->ext;
	r->xclient = p->xclient;
	r->size = p->size;
	/* ready for the next reply; the text stays in line until the next feed */
	p->len = 0;
	p->nlines = 0;
	p->code = 0;
	p->ext = p->xclient = 0;
	p->size = 0;
	return RELAY_RP_REPLY;
}

/* relay_rp_feed - bytes from the backend, up to the end of the first complete reply */
enum relay_rp_ev
relay_rp_feed(struct relay_rp *p, const void *data, size_t len, size_t *used, struct relay_reply *r)
{
	const unsigned char *s = data;
	size_t i = 0;

	*used = 0;
	if (p->state == RP_ERROR)
		return RELAY_RP_ERROR;
	while (i < len) {
		unsigned char ch = s[i++];
		enum relay_rp_ev ev = RELAY_RP_MORE;

		if (p->state == RP_CR) {
			p->state = RP_LINE;
			if (ch != '\n')
				ev = fail(p, RELAY_RP_E_BARE_NEWLINE);
			else
				ev = line_done(p, r);
		} else if (ch == '\r')
			p->state = RP_CR;
		else if (ch == '\n')
			ev = fail(p, RELAY_RP_E_BARE_NEWLINE);
		else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			ev = fail(p, RELAY_RP_E_BAD_CHAR);
		else if (p->len >= RELAY_LINE_TEXT)
			ev = fail(p, RELAY_RP_E_LONG_LINE);
		else
			p->line[p->len++] = (char)ch;
		if (ev != RELAY_RP_MORE) {
			/* a reply's last byte, or the byte that broke the protocol */
			*used = i;
			return ev;
		}
	}
	*used = i;
	return RELAY_RP_MORE;
}
