/* tcp_wire - TCP's wire format: header and options, parse and build, checksum
 *
 * The net layer owns IP and below; this file owns the TCP header. On input
 * the net layer hands the TCP header and payload (the bytes after the IP
 * header, with the IP payload length) to tcp_wire_parse(), fills in the
 * addresses, and passes the struct tcp_seg to tcp_input() (IPv4:
 * tcp_input4_wire() takes the bytes and does that only for what header
 * prediction does not cover). On output the
 * stack gives the net layer a struct tcp_out; the net layer reserves
 * tcp_wire_hdr_len() bytes after its IP header, calls tcp_wire_build(),
 * copies the payload pieces behind it, and sets the checksum: one
 * tcp_csum_sum64() over the now contiguous segment from the pseudo-header's
 * native sum (IPv4: tcp_csum_pseudo4(); IPv6 and tcp_wire_csum_out(),
 * which sums the pieces where they lie: tcp_csum_add() from
 * tcp_wire_csum_pseudo()), or lets the NIC do it from tcp_wire_csum_pseudo().
 *
 * Checksums: the net layer verifies the TCP checksum of received segments
 * (tcp_wire_csum_ok(), or the NIC's offload flag) before tcp_input(), and
 * counts failures in tcp_stats.drop_csum. tcp_input() trusts its input.
 *
 * Untrusted input: everything tcp_wire_parse() reads. Plain C, no DPDK.
 */
#ifndef TCP_WIRE_H
#define TCP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TCP_HDR_LEN      20   /* without options */
#define TCP_OPT_SPACE    40   /* data offset is 4 bits of 32-bit words: 60 - 20 */
#define TCP_WSCALE_MAX   14   /* RFC 7323 2.3: larger shifts are taken as 14 */
#define TCP_MSS_DEFAULT  536  /* RFC 9293 3.7.1: IPv4 peer that sent no MSS option */
#define TCP_MSS6_DEFAULT 1220 /* IPv6 minimum MTU 1280 - 60 */

enum tcp_flag {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_PSH = 0x08,
	TCP_ACK = 0x10,
	TCP_URG = 0x20,
	TCP_ECE = 0x40,
	TCP_CWR = 0x80,
};

/* Options we read or write: bits of tcp_opts.has. */
enum tcp_opt_bit {
	TCP_O_MSS = 1 << 0,    /* kind 2 */
	TCP_O_WS = 1 << 1,     /* kind 3, RFC 7323 */
	TCP_O_SACKOK = 1 << 2, /* kind 4, RFC 2018: offered and answered */
	TCP_O_TS = 1 << 3,     /* kind 8, RFC 7323: offered in our SYNs, echoed when both sent it */
	TCP_O_SACK = 1 << 4,   /* kind 5, RFC 2018: ranges held out of order (ours or the peer's) */
};

#define TCP_SACK_MAX 4 /* blocks in 40 bytes of options; 3 next to timestamps */

struct tcp_opts {
	uint8_t has;    /* enum tcp_opt_bit */
	uint8_t wscale; /* already capped at TCP_WSCALE_MAX */
	uint16_t mss;
	uint32_t ts_val, ts_ecr;
	uint8_t nsack;                  /* TCP_O_SACK: blocks in sack[] */
	uint32_t sack[TCP_SACK_MAX][2]; /* left and right edges */
};

/* An address: IPv4 in b[0..3] (network order) with the rest zero, or IPv6. */
struct tcp_ip {
	uint8_t b[16];
};

enum tcp_family {
	TCP_V4 = 4,
	TCP_V6 = 6,
};

/* A received segment as the net layer hands it to tcp_input(). */
struct tcp_seg {
	uint8_t family;      /* enum tcp_family */
	uint8_t flags;       /* enum tcp_flag */
	uint16_t wnd;        /* the header's window field, unscaled */
	struct tcp_ip src;   /* the peer */
	struct tcp_ip dst;   /* us */
	uint16_t sport;      /* host order */
	uint16_t dport;      /* host order */
	uint32_t seq, ack;   /* host order */
	struct tcp_opts opt; /* what tcp_wire_parse() found */
	const uint8_t *data; /* payload */
	uint32_t len;        /* payload bytes */
};

/* A segment the stack wants sent; the net layer builds the packet. */
struct tcp_out {
	uint8_t family;
	uint8_t flags;
	uint16_t wnd; /* the window field, already scaled */
	struct tcp_ip src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	struct tcp_opts opt; /* only TCP_O_MSS and TCP_O_WS are written */
	const void *data[2]; /* payload: up to two pieces (chunks of a queue) */
	uint32_t len[2];
};

/* tcp_wire_parse - parse a TCP header + payload of len bytes into seg's
 * ports, numbers, flags, window, options and payload; addresses and family
 * are left to the caller. 0, or -1 when the header does not fit (bad data
 * offset, short). Malformed options end option parsing, as in Linux. */
int tcp_wire_parse(const void *tcp, size_t len, struct tcp_seg *seg);

/* tcp_wire_data_off - the received header's length (its data offset), or
 * 0 when len is short of it or the offset is below 20 bytes */
static inline size_t
tcp_wire_data_off(const void *tcp, size_t len)
{
	size_t off;

	if (len < TCP_HDR_LEN)
		return 0;
	off = (size_t)(((const uint8_t *)tcp)[12] >> 4) * 4;
	return off < TCP_HDR_LEN || off > len ? 0 : off;
}

/* tcp_wire_hdr_len - bytes of TCP header (with options) o needs: header
 * and options, padded to 32 bits (inline: once or twice per segment out) */
static inline size_t
tcp_wire_hdr_len(const struct tcp_out *o)
{
	size_t n = TCP_HDR_LEN;

	if (o->opt.has == TCP_O_TS) /* nearly every segment of a flow with timestamps */
		return TCP_HDR_LEN + 12;
	if (o->opt.has == 0)
		return n;
	if (o->opt.has & TCP_O_MSS)
		n += 4;
	if (o->opt.has & TCP_O_WS)
		n += 4; /* NOP + 3 */
	if (o->opt.has & TCP_O_SACKOK)
		n += 4; /* NOP NOP + 2 */
	if (o->opt.has & TCP_O_TS)
		n += 12; /* NOP NOP + 10 */
	if ((o->opt.has & TCP_O_SACK) && o->opt.nsack > 0)
		n += 4 + 8u * o->opt.nsack; /* NOP NOP + 2 + 8 per block */
	return n;
}

/* tcp_wire_payload_len - bytes of payload of o: both pieces */
static inline size_t
tcp_wire_payload_len(const struct tcp_out *o)
{
	return (size_t)o->len[0] + o->len[1];
}
/* tcp_wire_build - write o's header and options at buf (checksum 0);
 * the header length, or 0 when cap is too small */
size_t tcp_wire_build(void *buf, size_t cap, const struct tcp_out *o);
/* tcp_wire_write - the same header at buf, whose room for hlen =
 * tcp_wire_hdr_len(o) bytes the caller has made sure of */
void tcp_wire_write(void *buf, size_t hlen, const struct tcp_out *o);

/* tcp_wire_put32 - a 32-bit value at p in network order */
static inline void
tcp_wire_put32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, 4);
}

/* tcp_wire_write_ts - tcp_wire_write() of a header whose only option is
 * the timestamp (32 bytes: nearly every segment of a flow with
 * timestamps), inline for the net layer's per-segment path */
static inline void
tcp_wire_write_ts(void *buf, const struct tcp_out *o)
{
	uint8_t *p = buf;

	tcp_wire_put32(p, (uint32_t)o->sport << 16 | o->dport);
	tcp_wire_put32(p + 4, o->seq);
	tcp_wire_put32(p + 8, o->flags & TCP_ACK ? o->ack : 0);
	tcp_wire_put32(p + 12, (uint32_t)(32 / 4) << 28 | (uint32_t)o->flags << 16 | o->wnd);
	tcp_wire_put32(p + 16, 0);          /* checksum 0; urgent pointer: never used */
	tcp_wire_put32(p + 20, 0x0101080a); /* NOP NOP kind 8 length 10 */
	tcp_wire_put32(p + 24, o->opt.ts_val);
	tcp_wire_put32(p + 28, o->opt.ts_ecr);
}

/* Checksums (RFC 1071 one's complement, RFC 9293 3.1 pseudo-header for
 * IPv4, RFC 8200 8.1 for IPv6). Sums are 32-bit accumulators, folded at the end. */
/* tcp_csum_add - add len bytes at buf, as if they started at an even offset */
uint32_t tcp_csum_add(uint32_t sum, const void *buf, size_t len);
/* tcp_wire_csum_pseudo - the pseudo-header sum for a TCP segment of
 * tcp_len bytes (inline: once per segment each way). IPv4's addresses are
 * summed as two native words and folded, then byte-swapped once on a
 * little-endian host (RFC 1071 2(B): the sum does not depend on the order) */
static inline uint32_t
tcp_wire_csum_pseudo(uint8_t family, const struct tcp_ip *src, const struct tcp_ip *dst,
                     uint32_t tcp_len)
{
	uint64_t s;
	uint32_t a, b;

	if (family == TCP_V6)
		return tcp_csum_add(
		        tcp_csum_add(6 + (tcp_len >> 16) + (tcp_len & 0xffff), src->b, 16), dst->b,
		        16);
	memcpy(&a, src->b, 4);
	memcpy(&b, dst->b, 4);
	s = (uint64_t)a + b;
	s = (s & 0xffff) + (s >> 16); /* 2^16 = 1 (mod 0xffff): at most 18 bits */
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16); /* 16 bits, nonzero unless both addresses are */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	s = ((s & 0xff) << 8) | (s >> 8);
#endif
	return (uint32_t)s + 6 + (tcp_len >> 16) + (tcp_len & 0xffff);
}

/* tcp_csum_fold - fold a sum to 16 bits and complement it (network order result) */
static inline uint16_t
tcp_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}
/* tcp_wire_csum_ok - whether a received segment (header + payload, len bytes) checks out */
bool tcp_wire_csum_ok(uint8_t family, const struct tcp_ip *src, const struct tcp_ip *dst,
                      const void *tcp, size_t len);
/* tcp_wire_csum_out - compute and store the checksum of a header built by
 * tcp_wire_build() at hdr (hlen bytes) followed by o's payload pieces */
void tcp_wire_csum_out(void *hdr, size_t hlen, const struct tcp_out *o);

/* Native-order sums, for the per-segment paths. RFC 1071 2(B): the one's
 * complement sum of 16-bit words does not depend on byte order, so the
 * bytes are summed as the host's 64-bit words (add with carry: two
 * instructions a word on x86-64), never swapped, and the folded complement
 * stored as a native 16-bit value is the checksum field's two bytes. A
 * native sum is a uint64_t with end-around carries, not folded. */
/* tcp_csum_sum64 - add len bytes at buf (taken to start at an even offset) to sum */
uint64_t tcp_csum_sum64(uint64_t sum, const void *buf, size_t len);

/* tcp_csum_addc - add w to the native sum s, carry wrapped around */
static inline uint64_t
tcp_csum_addc(uint64_t s, uint64_t w)
{
	s += w;
	return s + (s < w);
}

/* tcp_csum_be32 - a 32-bit big-endian wire word as the host reads it */
static inline uint32_t
tcp_csum_be32(uint32_t x)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(x);
#else
	return x;
#endif
}

/* tcp_csum_fold64 - fold a native sum to 16 bits and complement it: the
 * checksum field as a native uint16 (0 when a received segment checks out) */
static inline uint16_t
tcp_csum_fold64(uint64_t s)
{
	uint32_t lo = (uint32_t)s, hi = (uint32_t)(s >> 32);

	lo += hi;
	lo += lo < hi;
	lo = (lo & 0xffff) + (lo >> 16);
	lo = (lo & 0xffff) + (lo >> 16);
	return (uint16_t)~lo;
}

/* tcp_csum_pseudo4 - the native sum of an IPv4 pseudo-header (RFC 9293
 * 3.1) from addrs, the native sum of the two addresses as stored (the IPv4
 * header's checksum shares it): zero, protocol and length are one word */
static inline uint64_t
tcp_csum_pseudo4(uint64_t addrs, uint32_t tcp_len)
{
	return addrs + tcp_csum_be32(6u << 16 | (tcp_len & 0xffff));
}

/* tcp_csum_addrs4 - the native sum of two IPv4 addresses kept in network order */
static inline uint64_t
tcp_csum_addrs4(const struct tcp_ip *src, const struct tcp_ip *dst)
{
	uint32_t a, b;

	memcpy(&a, src->b, 4);
	memcpy(&b, dst->b, 4);
	return (uint64_t)a + b;
}

/* tcp_ip_v4 - an address from an IPv4 address in network order */
static inline struct tcp_ip
tcp_ip_v4(uint32_t be)
{
	struct tcp_ip ip = {{0}};

	memcpy(ip.b, &be, 4);
	return ip;
}

#endif
