/* test_log - pol_format_reject builds the same bytes snprintf built
 *
 * The reject log line used to be written with snprintf; it is now put
 * together by a small appender (no format parsing on every refusal). Log
 * tools parse these lines, so the new builder must give exactly the old
 * bytes: this test keeps the old snprintf code as the reference and
 * compares both on fixed and random inputs (all stages, with and without
 * sender, recipient and HELO, client text with control and 8-bit bytes,
 * fields at and over POL_MAX_INPUT, IPv4 and IPv6 clients, the longest
 * reply text) into buffers of every size from 1 byte to more than the
 * line, so that every cut is checked too. The bytes after the NUL must be
 * left alone as well.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../tap.h"
#include "pol.h"
#include "pol_cidr.h"

/* ---- the reference: the snprintf builder as it was ---- */

static const char *
ref_put(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; src != NULL && src[n] != '\0' && n + 1 < size; n++) {
		unsigned char c = (unsigned char)src[n];

		dst[n] = c < ' ' || c >= 0x7f ? '?' : (char)c;
	}
	dst[n] = '\0';
	return dst;
}

static size_t
ref_format_reject(char *buf, size_t size, enum pol_stage stage, const struct pol_query *q,
                  const struct pol_verdict *v, bool esmtp)
{
	static const char *const verbs[] = {"CONNECT", "HELO", "MAIL", "RCPT"};
	char name[80], from[POL_MAX_INPUT + 1], to[POL_MAX_INPUT + 1], helo[POL_MAX_INPUT + 1];
	int n;

	pol_client_name(&q->client, name, sizeof(name));
	n = snprintf(buf, size, "NOQUEUE: reject: %s from %s: %s;", verbs[stage], name, v->text);
	if (stage >= POL_MAIL && q->sender != NULL && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " from=<%s>",
		              ref_put(from, sizeof(from), q->sender));
	if (stage == POL_RCPT && q->rcpt != NULL && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " to=<%s>",
		              ref_put(to, sizeof(to), q->rcpt));
	if (n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " proto=%s",
		              esmtp && stage > POL_CONNECT ? "ESMTP" : "SMTP");
	if (q->helo != NULL && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " helo=<%s>",
		              ref_put(helo, sizeof(helo), q->helo));
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* ---- comparing ---- */

#define BUF_MAX (POL_REPLY_MAX + 3 * POL_MAX_INPUT + 256) /* smtp_decide's line */

struct input {
	enum pol_stage stage;
	bool esmtp;
	struct pol_query q;
	struct pol_verdict v;
};

/* same_at - both builders into size bytes of buffers filled alike; false
 * (and a diagnostic) when the return or any byte of the buffer differs */
static bool
same_at(const struct input *in, size_t size)
{
	static char a[BUF_MAX + 64], b[BUF_MAX + 64];
	size_t na, nb;

	memset(a, 0x5a, sizeof(a));
	memset(b, 0x5a, sizeof(b));
	na = pol_format_reject(a, size, in->stage, &in->q, &in->v, in->esmtp);
	nb = ref_format_reject(b, size, in->stage, &in->q, &in->v, in->esmtp);
	if (na == nb && memcmp(a, b, sizeof(a)) == 0)
		return true;
	printf("#   size %zu: returned %zu, snprintf %zu\n#   got  \"%.*s\"\n#   want \"%.*s\"\n",
	       size, na, nb, (int)na, a, (int)nb, b);
	return false;
}

/* same_sizes - every buffer size from 1 to the whole line + 2 (every cut),
 * or (all false) a few: the edges and some in between */
static bool
same_sizes(const struct input *in, bool all)
{
	static char full[BUF_MAX];
	size_t len = ref_format_reject(full, sizeof(full), in->stage, &in->q, &in->v, in->esmtp);
	size_t top = len + 2 < BUF_MAX ? len + 2 : BUF_MAX;

	if (all) {
		for (size_t size = 1; size <= top; size++)
			if (!same_at(in, size))
				return false;
		return true;
	}
	size_t sizes[] = {1,       2,   17,      len > 0 ? len - 1 : 1, len,
	                  len + 1, top, BUF_MAX, 1 + tap_below(top),    1 + tap_below(top)};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (sizes[i] >= 1 && sizes[i] <= BUF_MAX && !same_at(in, sizes[i]))
			return false;
	return true;
}

static void
set_client(struct input *in, const char *addr)
{
	if (cidr_parse(addr, &in->q.client) != CIDR_OK) {
		printf("# bad address %s\n", addr);
		in->q.client.family = 4;
	}
}

/* ---- fixed inputs ---- */

static void
test_fixed(void)
{
	static char big[POL_MAX_INPUT + 40], max_text[POL_REPLY_MAX];
	struct input in = {0};
	char line[BUF_MAX];
	size_t n;

	set_client(&in, "203.0.113.9");
	in.stage = POL_RCPT;
	in.esmtp = true;
	in.q.helo = "h.example";
	in.q.sender = "a@b.example";
	in.q.rcpt = "x@y.example";
	snprintf(in.v.text, sizeof(in.v.text), "554 5.7.1 <x@y.example>: Relay access denied");
	n = pol_format_reject(line, sizeof(line), in.stage, &in.q, &in.v, in.esmtp);
	is_str(line,
	       "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@y.example>: Relay "
	       "access denied; from=<a@b.example> to=<x@y.example> proto=ESMTP helo=<h.example>",
	       "the Postfix line, as before");
	is_int(n, strlen(line), "its length returned");
	ok(same_sizes(&in, true), "a relay refusal: the same bytes at every buffer size");

	in.q.helo = "evil\r\nhelo\x7f\x80\xff";
	in.q.sender = "";
	in.esmtp = false;
	ok(same_sizes(&in, true), "control and 8-bit bytes escaped alike, the null sender");

	for (enum pol_stage st = POL_CONNECT; st <= POL_RCPT; st++) {
		in.stage = st;
		for (int e = 0; e < 2; e++) {
			in.esmtp = e;
			ok(same_sizes(&in, true), "stage %d, esmtp %d: every size", st, e);
		}
	}
	in.stage = POL_RCPT;
	in.q.helo = in.q.sender = in.q.rcpt = NULL;
	ok(same_sizes(&in, true), "no HELO, sender or recipient");

	set_client(&in, "2001:db8::25");
	in.q.helo = "[IPv6:2001:db8::1]";
	ok(same_sizes(&in, true), "an IPv6 client");
	set_client(&in, "::ffff:192.0.2.1");
	ok(same_sizes(&in, true), "an IPv4-mapped IPv6 client");
	set_client(&in, "255.255.255.255");
	ok(same_sizes(&in, true), "the longest IPv4 client name");

	/* the longest of each field, and fields over POL_MAX_INPUT (cut by both) */
	memset(max_text, 'T', sizeof(max_text) - 1);
	memcpy(in.v.text, max_text, sizeof(max_text));
	for (size_t len = POL_MAX_INPUT - 1; len <= POL_MAX_INPUT + 1; len++) {
		memset(big, 'a', sizeof(big));
		big[len] = '\0';
		in.q.helo = in.q.sender = in.q.rcpt = big;
		in.esmtp = true;
		ok(same_sizes(&in, true), "reply text of %d bytes, fields of %zu bytes: every size",
		   POL_REPLY_MAX - 1, len);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	in.q.helo = in.q.sender = in.q.rcpt = big;
	n = pol_format_reject(line, sizeof(line), in.stage, &in.q, &in.v, in.esmtp);
	is_int(n, strlen(line), "the longest line: its length returned");
	is_int(n,
	       17 + 4 + 6 + 24 + 2 + (POL_REPLY_MAX - 1) + 1 + 3 * POL_MAX_INPUT + 7 + 5 + 12 + 7 +
	               3,
	       "... every field whole, client text cut at POL_MAX_INPUT");
	ok(n < sizeof(line), "... and it fits smtp_decide's buffer");

	n = pol_format_reject(line, 0, in.stage, &in.q, &in.v, in.esmtp);
	is_int(n, 0, "a buffer of 0 bytes: nothing written, 0 returned");
}

/* test_odd_bytes - the appender scans client text eight bytes at a time:
 * an odd byte (control, DEL, 8-bit) at every place of texts of 0 to 40
 * bytes, in each field, and the cut at POL_MAX_INPUT around an odd byte */
static void
test_odd_bytes(void)
{
	static const unsigned char odd[] = {0x01, 0x1f, 0x7f, 0x80, 0xff};
	static char text[POL_MAX_INPUT + 20];
	struct input in = {0};
	bool good = true;

	set_client(&in, "192.0.2.1");
	in.stage = POL_RCPT;
	strcpy(in.v.text, "554 5.7.1 <u@x>: Relay access denied");
	for (size_t len = 0; len <= 40 && good; len++)
		for (size_t at = 0; at <= len && good; at++)
			for (size_t o = 0; o < sizeof(odd) && good; o++)
				for (int field = 0; field < 3 && good; field++) {
					memset(text, 'a' + (int)(len % 26), len);
					text[len] = '\0';
					if (at < len)
						text[at] = (char)odd[o];
					in.q.helo = field == 0 ? text : "h";
					in.q.sender = field == 1 ? text : "s@x";
					in.q.rcpt = field == 2 ? text : "u@x";
					good = same_at(&in, BUF_MAX);
				}
	ok(good, "an odd byte at every place of texts of 0 to 40 bytes, in each field");
	good = true;
	for (size_t at = POL_MAX_INPUT - 10; at < POL_MAX_INPUT + 10 && good; at++) {
		memset(text, 'b', sizeof(text) - 1);
		text[sizeof(text) - 1] = '\0';
		text[at] = '\x7f';
		in.q.helo = in.q.sender = in.q.rcpt = text;
		good = same_at(&in, BUF_MAX);
	}
	ok(good, "an odd byte around the POL_MAX_INPUT cut");
}

/* ---- random inputs ---- */

/* rnd_text - up to max bytes of client-like text, some of it odd */
static void
rnd_text(char *buf, size_t max)
{
	static const char alpha[] = "abcxyz0123456789.-@_+[]:<> ";
	size_t len = tap_below(5) == 0 ? max - 1 - tap_below(4) : tap_below(max);

	for (size_t i = 0; i < len; i++) {
		unsigned r = (unsigned)tap_below(20);

		buf[i] = r == 0   ? (char)(1 + tap_below(31))      /* a control byte */
		         : r == 1 ? (char)(0x7f + tap_below(0x81)) /* DEL or 8-bit */
		                  : alpha[tap_below(sizeof(alpha) - 1)];
	}
	buf[len] = '\0';
}

static void
test_random(void)
{
	static char helo[POL_MAX_INPUT + 20], from[POL_MAX_INPUT + 20], to[POL_MAX_INPUT + 20];
	static const char *const clients[] = {
	        "0.0.0.0",       "10.1.2.3",
	        "192.0.2.100",   "2001:db8::1",
	        "fe80::1:2:3:4", "::",
	        "1.20.100.255",  "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"};
	int bad = 0, n = 3000;

	tap_seed(20261129);
	for (int i = 0; i < n; i++) {
		struct input in = {0};
		size_t tlen = tap_below(POL_REPLY_MAX);

		set_client(&in, clients[tap_below(sizeof(clients) / sizeof(clients[0]))]);
		in.stage = (enum pol_stage)tap_below(4);
		in.esmtp = tap_below(2);
		rnd_text(helo, sizeof(helo));
		rnd_text(from, sizeof(from));
		rnd_text(to, sizeof(to));
		in.q.helo = tap_below(6) ? helo : NULL;
		in.q.sender = tap_below(6) ? from : NULL;
		in.q.rcpt = tap_below(6) ? to : NULL;
		memset(in.v.text, 'R', tlen);
		memcpy(in.v.text, "550 5.7.1 <", tlen < 11 ? tlen : 11);
		in.v.text[tlen] = '\0';
		if (!same_sizes(&in, i < 40)) {
			printf("#   random input %d differs\n", i);
			if (++bad == 5)
				break;
		}
	}
	is_int(bad, 0, "%d random inputs: the same bytes (the first 40 at every buffer size)", n);
}

int
main(void)
{
	test_fixed();
	test_odd_bytes();
	test_random();
	return done_testing();
}
