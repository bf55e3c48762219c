/* pol_log - Postfix-compatible reject log lines, so operators' tools (pflogsumm, fail2ban) keep
 * working */
#include <stdio.h>
#include <string.h>

#include "pol_impl.h"

/* A bounded appender for log lines: bytes go in while there is room and
 * the rest is cut, so the line is the prefix snprintf would have written.
 * pol_format_reject runs on every refusal: parsing a format there cost more
 * than the rest of the line's work (callgrind). */
struct app {
	char *p;   /* the next byte */
	char *end; /* the buffer's last byte, kept for the NUL */
};

/* app_mem - n bytes, or as many as fit */
static void
app_mem(struct app *a, const char *s, size_t n)
{
	size_t room = (size_t)(a->end - a->p);

	if (n > room)
		n = room;
	memcpy(a->p, s, n);
	a->p += n;
}

/* app_str - a string of ours (or already escaped: the verdict's text) */
static void
app_str(struct app *a, const char *s)
{
	app_mem(a, s, strlen(s));
}

/* app_client - client text as it may appear in a log line: printable, at
 * most POL_MAX_INPUT bytes of it; runs of printable bytes go in whole */
static void
app_client(struct app *a, const char *s)
{
	size_t n = 0;

	while (n < POL_MAX_INPUT && s[n] != '\0') {
		size_t run = n;

		while (run < POL_MAX_INPUT && (unsigned char)(s[run] - ' ') < 0x7f - ' ')
			run++;
		app_mem(a, s + n, run - n);
		n = run;
		if (n < POL_MAX_INPUT && s[n] != '\0') {
			app_mem(a, "?", 1); /* a control byte, DEL or 8-bit */
			n++;
		}
	}
}

/* app_field - " key=<client text>" */
static void
app_field(struct app *a, const char *key, size_t keylen, const char *s)
{
	app_mem(a, key, keylen);
	app_client(a, s);
	app_mem(a, ">", 1);
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
 * 5.7.1 <x@y>: Relay access denied; from=<a@b> to=<x@y> proto=ESMTP helo=<h>",
 * cut to size - 1 bytes and NUL-terminated (nothing written when size is 0);
 * returns the bytes written */
size_t
pol_format_reject(char *buf, size_t size, enum pol_stage stage, const struct pol_query *q,
                  const struct pol_verdict *v, bool esmtp)
{
	static const char *const verbs[] = {"CONNECT", "HELO", "MAIL", "RCPT"};
	char name[80];
	struct app a;

	if (size == 0)
		return 0;
	a = (struct app){.p = buf, .end = buf + size - 1};
	app_mem(&a, "NOQUEUE: reject: ", 17);
	app_str(&a, verbs[stage]);
	app_mem(&a, " from ", 6);
	app_str(&a, pol_client_name(&q->client, name, sizeof(name)));
	app_mem(&a, ": ", 2);
	app_str(&a, v->text);
	app_mem(&a, ";", 1);
	if (stage >= POL_MAIL && q->sender != NULL)
		app_field(&a, " from=<", 7, q->sender);
	if (stage == POL_RCPT && q->rcpt != NULL)
		app_field(&a, " to=<", 5, q->rcpt);
	if (esmtp && stage > POL_CONNECT)
		app_mem(&a, " proto=ESMTP", 12);
	else
		app_mem(&a, " proto=SMTP", 11);
	if (q->helo != NULL)
		app_field(&a, " helo=<", 7, q->helo);
	*a.p = '\0';
	return (size_t)(a.p - buf);
}
