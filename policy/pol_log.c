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

/* Eight bytes at a time: the high bit of each byte of the result is set
 * for a byte below ' ' or at or above DEL (a control byte, DEL or 8-bit).
 * Borrows and carries only run upwards, so the lowest flagged byte is
 * exact. */
#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t
unprintable(uint64_t x)
{
	return (((x - ONES * ' ') & ~x) | ((x + ONES) | x)) & HIGHS;
}

/* printable_run - how many bytes of s[0..n) are printable from the start */
static size_t
printable_run(const char *s, size_t n)
{
	size_t k = 0;
	uint64_t x, m;

	if (n < 8) {
		while (k < n && (unsigned char)(s[k] - ' ') < 0x7f - ' ')
			k++;
		return k;
	}
	for (; k + 8 <= n; k += 8) {
		memcpy(&x, s + k, sizeof(x));
		if ((m = unprintable(x)) != 0)
			return k + (size_t)__builtin_ctzll(m) / 8;
	}
	if (k == n)
		return n;
	/* the last bytes: the word ending at n, whose lower bytes were checked */
	k = n - 8;
	memcpy(&x, s + k, sizeof(x));
	m = unprintable(x);
	return m != 0 ? k + (size_t)__builtin_ctzll(m) / 8 : n;
}

/* app_client - client text as it may appear in a log line: printable, at
 * most POL_MAX_INPUT bytes of it; runs of printable bytes go in whole,
 * each found in one pass (the log line is written on every refusal) */
static void
app_client(struct app *a, const char *s)
{
	size_t n = strnlen(s, POL_MAX_INPUT), at = 0;

	while (at < n) {
		size_t run = printable_run(s + at, n - at);

		app_mem(a, s + at, run);
		at += run;
		if (at < n) {
			app_mem(a, "?", 1); /* a control byte, DEL or 8-bit */
			at++;
		}
	}
}

/* app_field - " key=<client text>" */
static void
app_field(struct app *a, const char *key, size_t keylen, const char *s)
{
	size_t n = strnlen(s, POL_MAX_INPUT);

	if (printable_run(s, n) == n && (size_t)(a->end - a->p) >= keylen + n + 1) {
		/* the common case: all printable, and room for all of it */
		memcpy(a->p, key, keylen);
		memcpy(a->p + keylen, s, n);
		a->p[keylen + n] = '>';
		a->p += keylen + n + 1;
		return;
	}
	app_mem(a, key, keylen);
	app_client(a, s);
	app_mem(a, ">", 1);
}

/* dec_octet - an address byte in decimal, no leading zeros */
static inline char *
dec_octet(char *p, unsigned v)
{
	if (v >= 100) {
		unsigned h = v / 100;

		*p++ = (char)('0' + h);
		v -= h * 100;
		*p++ = (char)('0' + v / 10);
	} else if (v >= 10)
		*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* pol_client_name - "unknown[192.0.2.1]": Postfix's name for a client whose
 * name was not looked up */
char *
pol_client_name(const struct cidr *client, char *buf, size_t size)
{
	char ip[64], *slash;
	struct cidr c;

	if (client->family == 4 && size >= sizeof("unknown[255.255.255.255]")) {
		/* the common case, without printf: it is on every refusal's path */
		char *p = buf + 8;

		memcpy(buf, "unknown[", 8);
		for (int i = 0; i < 4; i++) {
			p = dec_octet(p, client->addr[i]);
			*p++ = i < 3 ? '.' : ']';
		}
		*p = '\0';
		return buf;
	}
	c = *client;
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
