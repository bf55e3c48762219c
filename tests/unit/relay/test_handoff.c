/* test_handoff - XCLIENT commands and PROXY protocol headers, byte for byte and at their limits
 *
 * Exact expected output written by hand for the common cases (IPv4, IPv6,
 * xtext, only the advertised attributes, PROXY v1 and v2 for both
 * families). Then the limits: the longest PROXY v1 line against a buffer
 * one byte short; XCLIENT values long enough to need several commands,
 * which are parsed back (xtext decoded by this test's own decoder) to
 * check that every line fits 512 octets, every attribute comes exactly
 * once with its value, and ADDR is in the last command; random identities
 * (fixed seed) the same way.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>

#include "relay_proto.h"
#include "tap.h"

#define SEED 0x3c6ef372fe94f82bull

/* addr - a relay_addr from text */
static struct relay_addr
addr(const char *s, uint16_t port)
{
	struct relay_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, a.addr) == 1)
		a.family = 4;
	else if (inet_pton(AF_INET6, s, a.addr) == 1)
		a.family = 6;
	a.port = port;
	return a;
}

#define ALL_XC                                                                                     \
	(RELAY_XC_NAME | RELAY_XC_ADDR | RELAY_XC_PROTO | RELAY_XC_HELO | RELAY_XC_REVERSE_NAME |  \
	 RELAY_XC_PORT | RELAY_XC_LOGIN | RELAY_XC_DESTADDR | RELAY_XC_DESTPORT)

/* xclient_all - every command of a hand-off, concatenated; the number of commands */
static int
xclient_all(char *out, size_t cap, const struct relay_ident *id, uint32_t attrs, size_t *len)
{
	unsigned step = 0;
	int n, cmds = 0;

	*len = 0;
	while ((n = relay_xclient(out + *len, cap - *len, id, attrs, &step)) > 0) {
		*len += (size_t)n;
		cmds++;
		if ((unsigned)cmds != step)
			return -1;
	}
	out[*len] = '\0';
	return n < 0 ? -1 : cmds;
}

static void
test_xclient_exact(void)
{
	char b[4096];
	size_t len;
	struct relay_ident id = {
	        .client = addr("192.0.2.7", 40123),
	        .local = addr("198.51.100.25", 25),
	        .helo = "mx.example.com",
	        .esmtp = 1,
	};

	ok(xclient_all(b, sizeof(b), &id, ALL_XC, &len) == 1, "IPv4, all attributes: one command");
	is_str(b,
	       "XCLIENT HELO=mx.example.com PROTO=ESMTP DESTADDR=198.51.100.25 DESTPORT=25 "
	       "PORT=40123 REVERSE_NAME=[UNAVAILABLE] NAME=[UNAVAILABLE] ADDR=192.0.2.7\r\n",
	       "... byte for byte, no LOGIN when not logged in");

	id.client = addr("2001:db8::1", 2525);
	id.local = addr("2001:db8:25::25", 587);
	id.name = "client.example.org";
	id.reverse_name = "client.example.org";
	id.login = "alice";
	id.esmtp = 0;
	ok(xclient_all(b, sizeof(b), &id, ALL_XC, &len) == 1, "IPv6 with a name and a login");
	is_str(b,
	       "XCLIENT HELO=mx.example.com PROTO=SMTP LOGIN=alice DESTADDR=IPV6:2001:db8:25::25 "
	       "DESTPORT=587 PORT=2525 REVERSE_NAME=client.example.org NAME=client.example.org "
	       "ADDR=IPV6:2001:db8::1\r\n",
	       "... IPV6: prefixes, PROTO=SMTP after HELO");

	ok(xclient_all(b, sizeof(b), &id, RELAY_XC_NAME | RELAY_XC_ADDR, &len) == 1,
	   "a backend with only NAME and ADDR");
	is_str(b, "XCLIENT NAME=client.example.org ADDR=IPV6:2001:db8::1\r\n", "gets only those");

	id.client = addr("192.0.2.7", 1);
	id.local.family = 0;
	id.helo = "a+b=c d\x01\xc3\xa9";
	id.name = RELAY_XC_TEMPUNAVAIL;
	id.login = "";
	ok(xclient_all(b, sizeof(b), &id, ALL_XC, &len) == 1, "xtext, TEMPUNAVAIL, empty login");
	is_str(b,
	       "XCLIENT HELO=a+2Bb+3Dc+20d+01+C3+A9 PROTO=SMTP LOGIN=[UNAVAILABLE] PORT=1 "
	       "REVERSE_NAME=client.example.org NAME=[TEMPUNAVAIL] ADDR=192.0.2.7\r\n",
	       "... +XX for '+', '=', space, controls and 8-bit; no DEST* unknown");

	unsigned step = 0;
	ok(relay_xclient(b, sizeof(b), &id, 0, &step) == 0 && step == 0,
	   "no XCLIENT attributes advertised: nothing to send");
	id.client.family = 0;
	ok(relay_xclient(b, sizeof(b), &id, ALL_XC, &step) == -1,
	   "a client without an address: -1");
}

/* xtext_decode - RFC 3461 4 in place; -1 if malformed */
static int
xtext_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		unsigned v;

		if (*s == '+') {
			if (sscanf(s + 1, "%2X", &v) != 1 || !s[1] || !s[2])
				return -1;
			*o++ = (char)v;
			s += 2;
		} else if ((unsigned char)*s < '!' || (unsigned char)*s > '~' || *s == '=')
			return -1;
		else
			*o++ = *s;
	}
	*o = '\0';
	return 0;
}

/* Attributes parsed back from the commands. */
struct parsed {
	char val[9][1024];
	int seen[9];   /* how many times */
	int cmd_of[9]; /* in which command */
	int ncmd;
	size_t longest; /* octets, CRLF included */
	int bad;        /* a malformed line or attribute */
};

static const char *const xc_keys[9] = {"NAME",  "ADDR",     "PORT",     "PROTO",       "HELO",
                                       "LOGIN", "DESTADDR", "DESTPORT", "REVERSE_NAME"};

/* parse_back - split the commands, decode every attribute */
static void
parse_back(const char *all, struct parsed *p)
{
	memset(p, 0, sizeof(*p));
	while (*all) {
		const char *eol = strstr(all, "\r\n");
		char line[1024], *save = NULL, *tok;
		size_t n;

		if (eol == NULL || (n = (size_t)(eol - all)) >= sizeof(line) ||
		    strncmp(all, "XCLIENT ", 8) != 0) {
			p->bad = 1;
			return;
		}
		if (n + 2 > p->longest)
			p->longest = n + 2;
		memcpy(line, all + 8, n - 8);
		line[n - 8] = '\0';
		for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(tok, '=');
			int k;

			if (eq == NULL) {
				p->bad = 1;
				continue;
			}
			*eq = '\0';
			for (k = 0; k < 9 && strcmp(xc_keys[k], tok) != 0; k++)
				;
			if (k == 9 || xtext_decode(eq + 1) < 0) {
				p->bad = 1;
				continue;
			}
			snprintf(p->val[k], sizeof(p->val[k]), "%s", eq + 1);
			p->seen[k]++;
			p->cmd_of[k] = p->ncmd;
		}
		p->ncmd++;
		all = eol + 2;
	}
}

/* fits_alone - " KEY=xtext" fits one XCLIENT line: 512 - "XCLIENT" - CRLF */
static int
fits_alone(const char *key, const char *v)
{
	size_t n = 1 + strlen(key) + 1;

	for (; *v; v++)
		n += (unsigned char)*v < 33 || (unsigned char)*v > 126 || *v == '+' || *v == '='
		             ? 3
		             : 1;
	return n <= RELAY_LINE_MAX - 7 - 2;
}

/* check_ident - the commands carry exactly the identity, by the rules */
static int
check_ident(const struct relay_ident *id, uint32_t attrs, const struct parsed *p, char *why,
            size_t whylen)
{
	char a[64];
	const char *want[9];

	/* what each attribute should decode to */
	inet_ntop(id->client.family == 4 ? AF_INET : AF_INET6, id->client.addr, a, sizeof(a));
	static char addrv[80], portv[8], daddr[80], dport[8];
	snprintf(addrv, sizeof(addrv), "%s%s", id->client.family == 6 ? "IPV6:" : "", a);
	snprintf(portv, sizeof(portv), "%u", id->client.port);
	if (id->local.family) {
		inet_ntop(id->local.family == 4 ? AF_INET : AF_INET6, id->local.addr, a, sizeof(a));
		snprintf(daddr, sizeof(daddr), "%s%s", id->local.family == 6 ? "IPV6:" : "", a);
		snprintf(dport, sizeof(dport), "%u", id->local.port);
	}
#define NAMEISH(s) ((s) == NULL || !*(s) || strlen(s) > RELAY_XC_VALUE_MAX ? "[UNAVAILABLE]" : (s))
	want[0] = NAMEISH(id->name);
	want[1] = addrv;
	want[2] = portv;
	want[3] = id->esmtp ? "ESMTP" : "SMTP";
	want[4] = NAMEISH(id->helo);
	want[5] = id->login == NULL ? NULL : *id->login ? id->login : "[UNAVAILABLE]";
	want[6] = id->local.family ? daddr : NULL;
	want[7] = id->local.family ? dport : NULL;
	want[8] = NAMEISH(id->reverse_name);
	if (p->bad) {
		snprintf(why, whylen, "malformed");
		return 0;
	}
	if (p->longest > RELAY_LINE_MAX) {
		snprintf(why, whylen, "a line of %zu octets", p->longest);
		return 0;
	}
	for (int k = 0; k < 9; k++) {
		int expect = (attrs & (1u << k)) && want[k] != NULL;

		if (p->seen[k] != expect) {
			snprintf(why, whylen, "%s seen %d times", xc_keys[k], p->seen[k]);
			return 0;
		}
		/* a value too long for one line alone goes as [UNAVAILABLE] */
		if (expect && !fits_alone(xc_keys[k], want[k]))
			want[k] = "[UNAVAILABLE]";
		if (expect && strcmp(p->val[k], want[k]) != 0) {
			snprintf(why, whylen, "%s=%.40s", xc_keys[k], p->val[k]);
			return 0;
		}
	}
	if ((attrs & RELAY_XC_ADDR) && p->cmd_of[1] != p->ncmd - 1) {
		snprintf(why, whylen, "ADDR in command %d of %d", p->cmd_of[1] + 1, p->ncmd);
		return 0;
	}
	return 1;
}

/* fill - a string of n bytes from a character set */
static char *
fill(char *s, size_t n, const char *set)
{
	size_t k = strlen(set);

	for (size_t i = 0; i < n; i++)
		s[i] = set[tap_below(k)];
	s[n] = '\0';
	return s;
}

static void
test_xclient_split(void)
{
	static char out[8192], helo[600], name[300], rname[300], login[600];
	char why[128];
	size_t len;
	struct parsed p;
	struct relay_ident id = {
	        .client = addr("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", 65535),
	        .local = addr("2001:db8:ffff:ffff:ffff:ffff:ffff:fffd", 65535),
	        .esmtp = 1,
	};
	int n;

	id.helo = fill(helo, 255, "abcdefghij.");
	id.name = fill(name, 255, "abcdefghij.-");
	id.reverse_name = fill(rname, 255, "abcdefghij.-");
	id.login = fill(login, 300, "abcdef@");
	n = xclient_all(out, sizeof(out), &id, ALL_XC, &len);
	parse_back(out, &p);
	/* 1238 octets of attributes: 3 lines at least, 4 as they must stay in order */
	ok(n == 4 && check_ident(&id, ALL_XC, &p, why, sizeof(why)),
	   "255-byte HELO, NAME, REVERSE_NAME, 300-byte LOGIN: 4 commands, all carried");
	printf("#   %d commands, longest %zu octets, ADDR and NAME in command %d and %d\n", n,
	       p.longest, p.cmd_of[1] + 1, p.cmd_of[0] + 1);
	ok(p.cmd_of[0] == p.ncmd - 1, "NAME goes with ADDR in the last command");

	/* a value at the edge of a line: HELO 255 bytes of '+': 765 encoded */
	id.helo = fill(helo, 255, "+");
	id.login = NULL;
	n = xclient_all(out, sizeof(out), &id, ALL_XC, &len);
	parse_back(out, &p);
	is_str(p.val[4], "[UNAVAILABLE]",
	       "a HELO whose xtext cannot fit a line goes as unavailable");
	id.helo = fill(helo, 256, "a");
	n = xclient_all(out, sizeof(out), &id, ALL_XC, &len);
	parse_back(out, &p);
	is_str(p.val[4], "[UNAVAILABLE]",
	       "a 256-byte HELO (Postfix refuses it) goes as unavailable");
	id.helo = fill(helo, 255, "a");
	n = xclient_all(out, sizeof(out), &id, ALL_XC, &len);
	parse_back(out, &p);
	ok(strcmp(p.val[4], helo) == 0, "a 255-byte HELO goes as it is");
	id.login = fill(login, 496, "x");
	n = xclient_all(out, sizeof(out), &id, RELAY_XC_LOGIN, &len);
	ok(n == 1 && len == 512, "LOGIN of 496 bytes: a command of exactly 512 octets");
	id.login = fill(login, 497, "x");
	n = xclient_all(out, sizeof(out), &id, RELAY_XC_LOGIN, &len);
	ok(n == 1 && strcmp(out, "XCLIENT LOGIN=[UNAVAILABLE]\r\n") == 0,
	   "LOGIN of 497 bytes cannot fit: unavailable");

	/* the caller's buffer too small: -1, the step stays */
	unsigned step = 0;
	char small[64];
	id.login = NULL;
	ok(relay_xclient(small, sizeof(small), &id, ALL_XC, &step) == -1 && step == 0,
	   "a 64-byte buffer: -1, step unchanged");
	ok(relay_xclient(out, RELAY_LINE_MAX, &id, ALL_XC, &step) > 0 && step == 1,
	   "RELAY_LINE_MAX bytes suffice");
}

static void
test_xclient_random(void)
{
	static char out[8192], helo[600], name[300], rname[300], login[600];
	static const char *const sets[] = {"abc.-", "ab+= \x01\x7f\x80\xff", "x"};
	char why[128] = "";
	unsigned bad = 0, multi = 0;

	for (int it = 0; it < 20000; it++) {
		struct relay_ident id;
		struct parsed p;
		size_t len;
		uint32_t attrs = (uint32_t)tap_below(1u << 9);
		int n;

		memset(&id, 0, sizeof(id));
		id.client.family = tap_below(2) ? 4 : 6;
		for (int i = 0; i < 16; i++)
			id.client.addr[i] = (uint8_t)tap_rnd();
		id.client.port = (uint16_t)tap_rnd();
		if (tap_below(2)) {
			id.local = id.client;
			id.local.addr[3] ^= 1;
		}
		id.helo = tap_below(8) ? fill(helo, tap_below(tap_below(2) ? 300 : 40),
		                              sets[tap_below(3)])
		                       : NULL;
		id.name = tap_below(3) ? fill(name, tap_below(270), sets[0]) : NULL;
		id.reverse_name = tap_below(3) ? fill(rname, tap_below(270), sets[0]) : NULL;
		id.login = tap_below(2) ? fill(login, tap_below(500), sets[tap_below(3)]) : NULL;
		id.esmtp = (uint8_t)tap_below(2);
		n = xclient_all(out, sizeof(out), &id, attrs, &len);
		parse_back(out, &p);
		if (n < 0 || !check_ident(&id, attrs, &p, why, sizeof(why))) {
			if (bad++ == 0)
				printf("#   first failure at %d: %s\n", it, why);
		}
		multi += n > 1;
	}
	ok(bad == 0, "20000 random identities: all lines fit, every value decodes back");
	ok(multi > 1000, "... %u of them needed several commands", multi);
}

static void
test_proxy_v1(void)
{
	char b[RELAY_PROXY_V1_MAX + 16];
	struct relay_addr s4 = addr("192.0.2.7", 40123), d4 = addr("198.51.100.25", 25);
	struct relay_addr s6 = addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	struct relay_addr d6 = addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
	int n;

	n = relay_proxy_v1(b, sizeof(b), &s4, &d4);
	b[n > 0 ? n : 0] = '\0';
	is_str(b, "PROXY TCP4 192.0.2.7 198.51.100.25 40123 25\r\n", "v1 TCP4");
	n = relay_proxy_v1(b, sizeof(b),
	                   &(struct relay_addr){6, {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, 2525},
	                   &(struct relay_addr){6, {0x20, 0x01, 0x0d, 0xb8, [15] = 0x25}, 25});
	b[n > 0 ? n : 0] = '\0';
	is_str(b, "PROXY TCP6 2001:db8::1 2001:db8::25 2525 25\r\n", "v1 TCP6, RFC 5952 text");

	n = relay_proxy_v1(b, sizeof(b), &s6, &d6);
	is_int(n, 104, "the longest TCP6 line is 104 octets (spec: 107 with UNKNOWN's room)");
	ok(n <= RELAY_PROXY_V1_MAX, "within RELAY_PROXY_V1_MAX");
	memset(b, 'Z', sizeof(b));
	ok(relay_proxy_v1(b, 104, &s6, &d6) == 104, "it fits 104 bytes exactly");
	memset(b, 'Z', sizeof(b));
	ok(relay_proxy_v1(b, 103, &s6, &d6) == -1 && b[0] == 'Z',
	   "103 bytes: -1 and the buffer untouched");
	ok(relay_proxy_v1(b, sizeof(b), &s4, &d6) == -1, "mixed families: -1");
	n = relay_proxy_v1(b, sizeof(b), NULL, NULL);
	b[n > 0 ? n : 0] = '\0';
	is_str(b, "PROXY UNKNOWN\r\n", "no source: UNKNOWN");
}

static void
test_proxy_v2(void)
{
	static const uint8_t want4[28] = {
	        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11,
	        0x00, 0x0c, 192,  0,    2,    7,    198,  51,   100,  25,   0x9c, 0xbb, 0x00, 0x19};
	uint8_t b[64], want6[52];
	struct relay_addr s4 = addr("192.0.2.7", 40123), d4 = addr("198.51.100.25", 25);
	struct relay_addr s6 = addr("2001:db8::1", 2525), d6 = addr("2001:db8::25", 25);
	int n;

	n = relay_proxy_v2(b, sizeof(b), &s4, &d4);
	ok(n == 28 && memcmp(b, want4, 28) == 0, "v2 TCP4: 28 bytes, byte for byte");
	memcpy(want6, want4, 12);
	want6[12] = 0x21;
	want6[13] = 0x21;
	want6[14] = 0;
	want6[15] = 36;
	memcpy(want6 + 16, s6.addr, 16);
	memcpy(want6 + 32, d6.addr, 16);
	want6[48] = 2525 >> 8;
	want6[49] = 2525 & 255;
	want6[50] = 0;
	want6[51] = 25;
	n = relay_proxy_v2(b, sizeof(b), &s6, &d6);
	ok(n == 52 && n == RELAY_PROXY_V2_MAX && memcmp(b, want6, 52) == 0,
	   "v2 TCP6: 52 bytes (RELAY_PROXY_V2_MAX), byte for byte");
	ok(relay_proxy_v2(b, 51, &s6, &d6) == -1, "51 bytes: -1");
	ok(relay_proxy_v2(b, 28, &s4, &d4) == 28 && relay_proxy_v2(b, 27, &s4, &d4) == -1,
	   "TCP4 fits 28 bytes, not 27");
	ok(relay_proxy_v2(b, sizeof(b), &s4, &d6) == -1, "mixed families: -1");
	n = relay_proxy_v2(b, sizeof(b), NULL, NULL);
	ok(n == 16 && memcmp(b, want4, 12) == 0 && b[12] == 0x20 && b[13] == 0 && b[14] == 0 &&
	           b[15] == 0,
	   "no source: LOCAL, AF_UNSPEC, length 0");

	/* the client used TLS: PP2_TYPE_SSL with the protocol and the cipher */
	static const uint8_t tlv[] = {0x20, 0x00, 0x1d, 0x01, 0,   0,   0,   1,    0x21, 0x00, 0x07,
	                              'T',  'L',  'S',  'v',  '1', '.', '3', 0x23, 0x00, 0x0b, 'A',
	                              'E',  'S',  '-',  '1',  '2', '8', '-', 'G',  'C',  'M'};
	uint8_t big[RELAY_PROXY_V2_TLS_MAX];

	n = relay_proxy_v2(big, sizeof(big), &s4, &d4);
	n = relay_proxy_v2_tls(big, sizeof(big), (size_t)n, "TLSv1.3", "AES-128-GCM");
	ok(n == 28 + (int)sizeof(tlv) && memcmp(big, want4, 14) == 0 && big[14] == 0 &&
	           big[15] == 12 + sizeof(tlv) && memcmp(big + 16, want4 + 16, 12) == 0 &&
	           memcmp(big + 28, tlv, sizeof(tlv)) == 0,
	   "v2 TCP4 with the SSL TLV: the length covers it, byte for byte");
	n = relay_proxy_v2(big, sizeof(big), &s6, &d6);
	ok(relay_proxy_v2_tls(big, (size_t)n + sizeof(tlv) - 1, (size_t)n, "TLSv1.3",
	                      "AES-128-GCM") == -1,
	   "one byte short: -1");
	n = relay_proxy_v2(big, sizeof(big), NULL, NULL);
	ok(relay_proxy_v2_tls(big, sizeof(big), (size_t)n, "TLSv1.3", "X") == -1,
	   "not on a LOCAL header");
	memset(b, 'x', sizeof(b));
	b[sizeof(b) - 1] = '\0';
	n = relay_proxy_v2(big, sizeof(big), &s6, &d6);
	ok(relay_proxy_v2_tls(big, sizeof(big), (size_t)n, "TLSv1.3", (char *)b) ==
	                   52 + 8 + 10 + 66 &&
	           big[15] == 36 + 8 + 10 + 66,
	   "the longest names fit RELAY_PROXY_V2_TLS_MAX");
}

int
main(void)
{
	tap_seed(SEED);
	test_xclient_exact();
	test_xclient_split();
	test_xclient_random();
	test_proxy_v1();
	test_proxy_v2();
	return done_testing();
}
