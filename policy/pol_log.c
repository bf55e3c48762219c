/* pol_log - Postfix-compatible reject log lines, so operators' tools (pflogsumm, fail2ban) keep
 * working */
#include <stdio.h>
#include <string.h>

#include "pol_impl.h"

/* put - client text as it may appear in a log line: printable, bounded */
static const char *
put(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; src != NULL && src[n] != '\0' && n + 1 < size; n++) {
		unsigned char c = (unsigned char)src[n];

		dst[n] = c < ' ' || c >= 0x7f ? '?' : (char)c;
	}
	dst[n] = '\0';
	return dst;
}

/* pol_client_name - "unknown[192.0.2.1]": Postfix's name for a client whose
 * name was not looked up */
char *
pol_client_name(const struct cidr *client, char *buf, size_t size)
{
	char ip[64], *slash;
	struct cidr c = *client;

	if (c.family == 4 && size >= sizeof("unknown[255.255.255.255]")) {
		/* the common case, without printf: it is on every refusal's path */
		char *p = buf + 8;

		memcpy(buf, "unknown[", 8);
		for (int i = 0; i < 4; i++) {
			unsigned v = c.addr[i];

			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = i < 3 ? '.' : ']';
		}
		*p = '\0';
		return buf;
	}
	c.len = c.family == 4 ? 32 : 128;
	cidr_format(&c, ip, sizeof(ip));
	slash = strchr(ip, '/');
	if (slash != NULL)
		*slash = '\0';
	snprintf(buf, size, "unknown[%s]", ip);
	return buf;
}

/* pol_format_reject - "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554
 * 5.7.1 <x@y>: Relay access denied; from=<a@b> to=<x@y> proto=ESMTP helo=<h>" */
size_t
pol_format_reject(char *buf, size_t size, enum pol_stage stage, const struct pol_query *q,
                  const struct pol_verdict *v, bool esmtp)
{
	static const char *const verbs[] = {"CONNECT", "HELO", "MAIL", "RCPT"};
	char name[80], from[POL_MAX_INPUT + 1], to[POL_MAX_INPUT + 1], helo[POL_MAX_INPUT + 1];
	int n;

	pol_client_name(&q->client, name, sizeof(name));
	n = snprintf(buf, size, "NOQUEUE: reject: %s from %s: %s;", verbs[stage], name, v->text);
	if (stage >= POL_MAIL && q->sender != NULL && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " from=<%s>",
		              put(from, sizeof(from), q->sender));
	if (stage == POL_RCPT && q->rcpt != NULL && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " to=<%s>", put(to, sizeof(to), q->rcpt));
	if (n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " proto=%s",
		              esmtp && stage > POL_CONNECT ? "ESMTP" : "SMTP");
	if (q->helo != NULL && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " helo=<%s>",
		              put(helo, sizeof(helo), q->helo));
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}
