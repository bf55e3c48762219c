/* relay_handoff - tell the backend who the client is: XCLIENT, or a PROXY protocol header
 *
 * The backend sees the gate's address on its connection; for its own
 * checks and logs it needs the client's. Two ways, chosen per service:
 *
 * - XCLIENT (Postfix, XCLIENT_README): an SMTP command the backend
 *   advertises in its EHLO reply, with the attributes it accepts, each
 *   "NAME=value" with the value xtext-encoded (RFC 3461 4); an IPv6
 *   address goes as "IPV6:2001:db8::1"; an unknown value as
 *   "[UNAVAILABLE]". A command line is at most 512 octets, so a long set
 *   is split over several commands; ADDR goes last because once it is
 *   changed the backend judges any further XCLIENT by the client's address
 *   and refuses it.
 * - The PROXY protocol (HAProxy's proxy-protocol.txt), sent before
 *   anything else on the connection: v1 one text line, v2 a binary header.
 *
 * Input: the client's HELO argument is the client's (any non-control
 * byte, up to a line); everything else comes from the gate. Every writer
 * checks the room it has before it writes, and returns -1 rather than cut.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "relay_proto.h"

#define ADDR_TEXT_MAX 46 /* INET6_ADDRSTRLEN: the longest address text, NUL included */

/* XCLIENT: "XCLIENT" 1*(SP attr "=" xtext) CRLF within RELAY_LINE_MAX. */
#define XC_VERB   "XCLIENT"
#define XC_BUDGET (RELAY_LINE_MAX - (sizeof(XC_VERB) - 1) - 2) /* room for " K=V" items */

/* addr_text - an address as text (dotted quad, RFC 5952 IPv6); its length, -1 if bad */
static int
addr_text(const struct relay_addr *a, char out[ADDR_TEXT_MAX])
{
	if (a->family != 4 && a->family != 6)
		return -1;
	if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, out, ADDR_TEXT_MAX) == NULL)
		return -1;
	return (int)strlen(out);
}

/* ---- XCLIENT ---- */

/* xtext_len - the length of s xtext-encoded */
static size_t
xtext_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		n += (c < '!' || c > '~' || c == '+' || c == '=') ? 3 : 1;
	}
	return n;
}

/* xtext_put - s xtext-encoded at out (room checked by the caller) */
static size_t
xtext_put(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < '!' || c > '~' || c == '+' || c == '=') {
			out[n++] = '+';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else
			out[n++] = (char)c;
	}
	return n;
}

/* One attribute of the hand-off. */
struct xc_item {
	const char *key;
	const char *val; /* raw; xtext-encoded when written */
	size_t len;      /* of " KEY=" and the encoded value */
};

#define XC_ITEMS 9

/* name_value - a name or HELO as sent: unknown, empty or too long goes as [UNAVAILABLE] */
static const char *
name_value(const char *s)
{
	if (s == NULL || s[0] == '\0' || strnlen(s, RELAY_XC_VALUE_MAX + 1) > RELAY_XC_VALUE_MAX)
		return RELAY_XC_UNAVAILABLE;
	return s;
}

/* add_item - append an attribute if the backend takes it; a value that
 * cannot fit a line on its own goes as [UNAVAILABLE] */
static void
add_item(struct xc_item *it, unsigned *n, uint32_t attrs, uint32_t bit, const char *key,
         const char *val)
{
	size_t head = 1 + strlen(key) + 1;

	if (!(attrs & bit))
		return;
	if (head + xtext_len(val) > XC_BUDGET)
		val = RELAY_XC_UNAVAILABLE;
	it[*n].key = key;
	it[*n].val = val;
	it[*n].len = head + xtext_len(val);
	(*n)++;
}

/* xc_items - the attributes to send, in the order they go; ADDR last */
static unsigned
xc_items(struct xc_item *it, const struct relay_ident *id, uint32_t attrs,
         char addr[5 + ADDR_TEXT_MAX], char port[6], char daddr[5 + ADDR_TEXT_MAX], char dport[6])
{
	unsigned n = 0;
	int have_local = id->local.family == 4 || id->local.family == 6;

	add_item(it, &n, attrs, RELAY_XC_HELO, "HELO", name_value(id->helo));
	add_item(it, &n, attrs, RELAY_XC_PROTO, "PROTO", id->esmtp ? "ESMTP" : "SMTP");
	if (id->login != NULL)
		add_item(it, &n, attrs, RELAY_XC_LOGIN, "LOGIN",
		         id->login[0] != '\0' ? id->login : RELAY_XC_UNAVAILABLE);
	if (have_local) {
		add_item(it, &n, attrs, RELAY_XC_DESTADDR, "DESTADDR", daddr);
		add_item(it, &n, attrs, RELAY_XC_DESTPORT, "DESTPORT", dport);
	}
	add_item(it, &n, attrs, RELAY_XC_PORT, "PORT", port);
	add_item(it, &n, attrs, RELAY_XC_REVERSE_NAME, "REVERSE_NAME",
	         name_value(id->reverse_name));
	add_item(it, &n, attrs, RELAY_XC_NAME, "NAME", name_value(id->name));
	add_item(it, &n, attrs, RELAY_XC_ADDR, "ADDR", addr);
	return n;
}

/* xc_addr - "1.2.3.4" or "IPV6:2001:db8::1"; -1 if the address is bad */
static int
xc_addr(const struct relay_addr *a, char out[5 + ADDR_TEXT_MAX])
{
	int pre = a->family == 6 ? 5 : 0;

	memcpy(out, "IPV6:", 5);
	return addr_text(a, out + pre) < 0 ? -1 : 0;
}

/* relay_xclient - XCLIENT command number *step of the hand-off */
int
relay_xclient(char *buf, size_t cap, const struct relay_ident *id, uint32_t attrs, unsigned *step)
{
	struct xc_item it[XC_ITEMS];
	unsigned first[XC_ITEMS + 1], ncmd = 0, n, k;
	char addr[5 + ADDR_TEXT_MAX], daddr[5 + ADDR_TEXT_MAX], port[6], dport[6];
	size_t len, sum;

	if (xc_addr(&id->client, addr) < 0)
		return -1;
	snprintf(port, sizeof(port), "%u", id->client.port);
	daddr[0] = dport[0] = '\0';
	if (id->local.family != 0) {
		if (xc_addr(&id->local, daddr) < 0)
			return -1;
		snprintf(dport, sizeof(dport), "%u", id->local.port);
	}
	n = xc_items(it, id, attrs, addr, port, daddr, dport);

	/* pack from the end, so that the last command holds ADDR and as much
	 * before it as fits; first[] lists each command's first item, last
	 * command first */
	sum = 0;
	for (k = n; k-- > 0;) {
		if (sum + it[k].len > XC_BUDGET) {
			first[ncmd++] = k + 1;
			sum = 0;
		}
		sum += it[k].len;
	}
	if (n > 0)
		first[ncmd++] = 0;
	if (*step >= ncmd)
		return 0;

	/* command *step, counted from the front, runs over items [lo, hi) */
	unsigned lo = first[ncmd - 1 - *step];
	unsigned hi = *step + 1 < ncmd ? first[ncmd - 2 - *step] : n;

	len = sizeof(XC_VERB) - 1 + 2;
	for (k = lo; k < hi; k++)
		len += it[k].len;
	if (len > cap || len > RELAY_LINE_MAX)
		return -1;
	memcpy(buf, XC_VERB, sizeof(XC_VERB) - 1);
	len = sizeof(XC_VERB) - 1;
	for (k = lo; k < hi; k++) {
		size_t kl = strlen(it[k].key);

		buf[len++] = ' ';
		memcpy(buf + len, it[k].key, kl);
		len += kl;
		buf[len++] = '=';
		len += xtext_put(buf + len, it[k].val);
	}
	buf[len++] = '\r';
	buf[len++] = '\n';
	(*step)++;
	return (int)len;
}

/* ---- PROXY protocol ---- */

/* relay_proxy_v1 - "PROXY TCP4|TCP6 src dst sport dport\r\n" */
int
relay_proxy_v1(char *buf, size_t cap, const struct relay_addr *src, const struct relay_addr *dst)
{
	char s[ADDR_TEXT_MAX], d[ADDR_TEXT_MAX], line[RELAY_PROXY_V1_MAX + 1];
	int n;

	if (src == NULL)
		n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
	else {
		if (src->family != dst->family || addr_text(src, s) < 0 || addr_text(dst, d) < 0)
			return -1;
		n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
		             src->family == 4 ? '4' : '6', s, d, src->port, dst->port);
	}
	/* the line is built aside so that a short buf is left untouched */
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > cap)
		return -1;
	memcpy(buf, line, (size_t)n);
	return n;
}

/* The v2 header: signature, version and command, family and transport, length. */
static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
#define V2_HDR       16
#define V2_CMD_LOCAL 0x20 /* version 2, LOCAL: the gate's own connection (health check) */
#define V2_CMD_PROXY 0x21 /* version 2, PROXY: on behalf of the client */
#define V2_TCP4      0x11 /* AF_INET, STREAM */
#define V2_TCP6      0x21 /* AF_INET6, STREAM */

/* put16 - a 16-bit value in network byte order */
static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* relay_proxy_v2 - the binary header */
int
relay_proxy_v2(void *out, size_t cap, const struct relay_addr *src, const struct relay_addr *dst)
{
	uint8_t *b = out;
	size_t alen, len;

	if (src == NULL) {
		if (cap < V2_HDR)
			return -1;
		memcpy(b, v2_sig, sizeof(v2_sig));
		b[12] = V2_CMD_LOCAL;
		b[13] = 0x00; /* AF_UNSPEC */
		put16(b + 14, 0);
		return V2_HDR;
	}
	if (src->family != dst->family || (src->family != 4 && src->family != 6))
		return -1;
	alen = src->family == 4 ? 4 : 16;
	len = V2_HDR + 2 * alen + 4;
	if (cap < len)
		return -1;
	memcpy(b, v2_sig, sizeof(v2_sig));
	b[12] = V2_CMD_PROXY;
	b[13] = src->family == 4 ? V2_TCP4 : V2_TCP6;
	put16(b + 14, (uint16_t)(len - V2_HDR));
	memcpy(b + V2_HDR, src->addr, alen);
	memcpy(b + V2_HDR + alen, dst->addr, alen);
	put16(b + V2_HDR + 2 * alen, src->port);
	put16(b + V2_HDR + 2 * alen + 2, dst->port);
	return (int)len;
}

/* PP2_TYPE_SSL and its sub-types (proxy-protocol.txt 2.2.5, 2.2.6) */
#define PP2_TYPE_SSL            0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CIPHER  0x23
#define PP2_CLIENT_SSL          0x01

/* put_tlv - type, 16-bit length, value */
static uint8_t *
put_tlv(uint8_t *p, uint8_t type, const void *v, size_t len)
{
	p[0] = type;
	put16(p + 1, (uint16_t)len);
	memcpy(p + 3, v, len);
	return p + 3 + len;
}

int
relay_proxy_v2_tls(void *out, size_t cap, size_t len, const char *version, const char *cipher)
{
	uint8_t *b = out, *p;
	size_t vl = strlen(version), cl = strlen(cipher), tlv = 5 + 3 + vl + 3 + cl;

	if (len < V2_HDR || b[12] != V2_CMD_PROXY || vl > RELAY_TLS_NAME_MAX ||
	    cl > RELAY_TLS_NAME_MAX || cap < len + 3 + tlv)
		return -1;
	p = b + len;
	p[0] = PP2_TYPE_SSL;
	put16(p + 1, (uint16_t)tlv);
	p[3] = PP2_CLIENT_SSL; /* TLS on this connection; no client certificate */
	p[4] = p[5] = p[6] = 0;
	p[7] = 1; /* verify: non-zero, as no certificate was verified */
	p = put_tlv(p + 8, PP2_SUBTYPE_SSL_VERSION, version, vl);
	p = put_tlv(p, PP2_SUBTYPE_SSL_CIPHER, cipher, cl);
	put16(b + 14, (uint16_t)((size_t)(p - b) - V2_HDR));
	return (int)(p - b);
}
