/* smtp_addr - what an envelope address may look like: RFC 5321's sizes and source routes
 *
 * Untrusted input: the path between "<" and ">" of MAIL FROM or RCPT TO, as
 * smtp_cmd.c's path() cut it out (no control or 8-bit byte: the command
 * parser refused those; at most SMTP_LINE_TEXT bytes).
 *
 * The policy decides who may send to whom; this decides what is an address
 * at all, before the policy, the log lines or the backend see it:
 * - RFC 5321 4.5.3.1: a local part over 64 octets, a domain over 255, a
 *   path over 256 with its "<" and ">" are refused. A path that fits one
 *   command line would pass them all; the backend's own limits may differ
 *   from ours, so the gate holds the RFC's and the backend never sees more.
 * - 4.1.2: a source route ("@a,@b:user@c", obsolete, C. and F.2) is a list
 *   of "@domain" separated by "," and ended by ":". A route of any other
 *   shape (an empty hop, "@@", no ":", no mailbox after it) is refused; a
 *   well-formed one is kept, and the policy counts it as a relay attempt.
 * The work is one pass over at most SMTP_LINE_TEXT bytes.
 */
#include <string.h>

#include "smtp_impl.h"

/* Limits, RFC 5321 4.5.3.1.1-3, in octets. */
#define ADDR_LOCAL_MAX  64  /* a local part */
#define ADDR_DOMAIN_MAX 255 /* a domain */
#define ADDR_PATH_MAX   256 /* a path, its "<" and ">" included */

/* hop_end - the end of one "@domain" hop of a source route at s (s[0] ==
 * '@'), or NULL when the hop is malformed: a domain name of letters,
 * digits, '-' and '.', or an address literal "[...]", not empty */
static const char *
hop_end(const char *s, const char *end)
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
skip_route(const char *addr, const char *end)
{
	const char *p = addr;

	if (p == end || *p != '@')
		return p;
	for (;;) {
		if ((p = hop_end(p, end)) == NULL || p == end)
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
last_at(const char *s, const char *end)
{
	const char *at = NULL;
	bool quoted = false;

	if (memchr(s, '"', (size_t)(end - s)) == NULL)
		return memrchr(s, '@', (size_t)(end - s));
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

/* smtp_addr_check - the shape and sizes of a path's address; the most
 * specific refusal first (a 300-octet domain is reported as such, not as
 * the path it makes too long) */
enum smtp_addr_err
smtp_addr_check(const char *addr, size_t len)
{
	const char *end = addr + len, *box, *at;
	size_t local;

	if (len == 0)
		return SMTP_ADDR_OK; /* the null path: the caller says where it may be */
	if ((box = skip_route(addr, end)) == NULL)
		return SMTP_ADDR_BAD_ROUTE;
	if (box == end)
		return SMTP_ADDR_SYNTAX; /* a route to nobody */
	at = last_at(box, end);
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
