/* tcp_wire - parse and build TCP headers and options; TCP checksums
 *
 * Untrusted input: the bytes given to tcp_wire_parse(). Every read is
 * checked against the data offset, and the data offset against the length.
 * Option lengths below 2 or past the header end stop option parsing (the
 * segment itself is still taken, as Linux does).
 */
#include <string.h>

#include "tcp_wire.h"

/* Big-endian loads and stores of any alignment: one load or store and a
 * byte swap each (the compiler does not merge byte-wise ones here). */
static inline uint16_t
rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap16(v);
#endif
	return v;
}

static inline uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline void
wr16(uint8_t *p, uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap16(v);
#endif
	memcpy(p, &v, 2);
}

static inline void
wr32(uint8_t *p, uint32_t v)
{
	tcp_wire_put32(p, v);
}

/* parse_opts - the options between p and end */
static void
parse_opts(const uint8_t *p, const uint8_t *end, struct tcp_opts *o)
{
	while (p < end) {
		uint8_t kind = p[0], len;

		if (kind == 0) /* end of option list */
			break;
		if (kind == 1) { /* NOP */
			p++;
			continue;
		}
		if (end - p < 2)
			break;
		len = p[1];
		if (len < 2 || len > end - p)
			break;
		switch (kind) {
		case 2:
			if (len == 4) {
				o->has |= TCP_O_MSS;
				o->mss = rd16(p + 2);
			}
			break;
		case 3:
			if (len == 3) {
				o->has |= TCP_O_WS;
				o->wscale = p[2] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : p[2];
			}
			break;
		case 4:
			if (len == 2)
				o->has |= TCP_O_SACKOK;
			break;
		case 5: /* RFC 2018 3: 1 to 4 blocks; another length is malformed and ignored */
			if (len >= 10 && (len - 2) % 8 == 0 && (len - 2) / 8 <= TCP_SACK_MAX) {
				o->has |= TCP_O_SACK;
				o->nsack = (uint8_t)((len - 2) / 8);
				for (unsigned i = 0; i < o->nsack; i++) {
					o->sack[i][0] = rd32(p + 2 + 8 * i);
					o->sack[i][1] = rd32(p + 6 + 8 * i);
				}
			}
			break;
		case 8:
			if (len == 10) {
				o->has |= TCP_O_TS;
				o->ts_val = rd32(p + 2);
				o->ts_ecr = rd32(p + 6);
			}
			break;
		default: /* unknown options are skipped by their length */
			break;
		}
		p += len;
	}
}

/* parse_words - the options between p and end, four bytes at a time
 * while each word is one of the common SYN layouts' pieces (Linux: MSS,
 * SACKOK TS, NOP WS; BSD, Windows and ours: MSS, NOP WS, NOP NOP SACKOK,
 * NOP NOP TS): one load and a compare a piece, not a step a byte. At the
 * first word that is none of them, parse_opts() takes the rest from there:
 * each word taken here is what parse_opts() would have made of its bytes
 * (the same fields, in the same order, a later option overwriting an
 * earlier one alike). */
static void
parse_words(const uint8_t *p, const uint8_t *end, struct tcp_opts *o)
{
	while (end - p >= 4) {
		uint32_t w = rd32(p);

		if (w >> 16 == 0x0204) { /* MSS */
			o->has |= TCP_O_MSS;
			o->mss = (uint16_t)w;
		} else if (w >> 8 == 0x010303) { /* NOP WS */
			o->has |= TCP_O_WS;
			o->wscale = (uint8_t)w > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : (uint8_t)w;
		} else if (w == 0x01010402) { /* NOP NOP SACKOK */
			o->has |= TCP_O_SACKOK;
		} else if ((w == 0x0101080a || w == 0x0402080a) && end - p >= 12) {
			/* NOP NOP TS, or SACKOK TS */
			o->has |= (w == 0x0402080a ? TCP_O_SACKOK : 0) | TCP_O_TS;
			o->ts_val = rd32(p + 4);
			o->ts_ecr = rd32(p + 8);
			p += 8;
		} else {
			break;
		}
		p += 4;
	}
	parse_opts(p, end, o);
}

/* tcp_wire_parse - header fields, options and payload of a segment */
int
tcp_wire_parse(const void *tcp, size_t len, struct tcp_seg *seg)
{
	const uint8_t *p = tcp;
	size_t off;

	off = tcp_wire_data_off(p, len);
	if (off == 0)
		return -1;
	seg->sport = rd16(p);
	seg->dport = rd16(p + 2);
	seg->seq = rd32(p + 4);
	seg->ack = rd32(p + 8);
	seg->flags = p[13];
	seg->wnd = rd16(p + 14);
	if (off == TCP_HDR_LEN + 12 && rd32(p + TCP_HDR_LEN) == 0x0101080a) {
		/* NOP NOP TS, the options of nearly every segment of a flow
		 * with timestamps (RFC 7323 appendix A's layout): at once. The
		 * SACK blocks are not cleared: readers stop at nsack = 0 */
		seg->opt.has = TCP_O_TS;
		seg->opt.wscale = 0;
		seg->opt.mss = 0;
		seg->opt.ts_val = rd32(p + TCP_HDR_LEN + 4);
		seg->opt.ts_ecr = rd32(p + TCP_HDR_LEN + 8);
		seg->opt.nsack = 0;
	} else {
		memset(&seg->opt, 0, sizeof(seg->opt));
		if (off > TCP_HDR_LEN)
			parse_words(p + TCP_HDR_LEN, p + off, &seg->opt);
	}
	seg->data = p + off;
	seg->len = (uint32_t)(len - off);
	return 0;
}

/* tcp_wire_build - header in network order, options MSS then NOP,WS as
 * Linux orders them (tcp_wire_write() writes it) */
size_t
tcp_wire_build(void *buf, size_t cap, const struct tcp_out *o)
{
	size_t hlen = tcp_wire_hdr_len(o);

	if (cap < hlen)
		return 0;
	tcp_wire_write(buf, hlen, o);
	return hlen;
}

/* tcp_wire_write - the header of tcp_wire_build(), its length known. The
 * fixed header is five 32-bit stores; a segment whose only option is the
 * timestamp (nearly every one of a flow with timestamps) writes its 12
 * bytes of options straight after. */
void
tcp_wire_write(void *buf, size_t hlen, const struct tcp_out *o)
{
	uint8_t *p = buf, *q;

	if (o->opt.has == TCP_O_TS) { /* the common case, shared with the net layer's inline call */
		tcp_wire_write_ts(buf, o);
		return;
	}
	wr32(p, (uint32_t)o->sport << 16 | o->dport);
	wr32(p + 4, o->seq);
	wr32(p + 8, o->flags & TCP_ACK ? o->ack : 0);
	wr32(p + 12, (uint32_t)(hlen / 4) << 28 | (uint32_t)o->flags << 16 | o->wnd);
	wr32(p + 16, 0); /* checksum 0; urgent pointer: never used */
	q = p + TCP_HDR_LEN;
	if (o->opt.has & TCP_O_MSS) {
		q[0] = 2;
		q[1] = 4;
		wr16(q + 2, o->opt.mss);
		q += 4;
	}
	if (o->opt.has & TCP_O_WS) {
		q[0] = 1;
		q[1] = 3;
		q[2] = 3;
		q[3] = o->opt.wscale;
		q += 4;
	}
	if (o->opt.has & TCP_O_SACKOK) {
		q[0] = 1;
		q[1] = 1;
		q[2] = 4;
		q[3] = 2;
		q += 4;
	}
	if (o->opt.has & TCP_O_TS) {
		q[0] = 1;
		q[1] = 1;
		q[2] = 8;
		q[3] = 10;
		wr32(q + 4, o->opt.ts_val);
		wr32(q + 8, o->opt.ts_ecr);
		q += 12;
	}
	if ((o->opt.has & TCP_O_SACK) && o->opt.nsack > 0) {
		q[0] = 1;
		q[1] = 1;
		q[2] = 5;
		q[3] = (uint8_t)(2 + 8 * o->opt.nsack);
		for (unsigned i = 0; i < o->opt.nsack; i++) {
			wr32(q + 4 + 8 * i, o->opt.sack[i][0]);
			wr32(q + 8 + 8 * i, o->opt.sack[i][1]);
		}
	}
}

/* tcp_csum_sum64 - 32 bytes a round in four 64-bit adds with carry (on
 * x86-64 one add-with-carry chain: 8 instructions a round, not 15), then
 * 8 at a time; a tail of 1 to 7 bytes is summed into one word (each part
 * keeps its 16-bit lanes: 2^16 = 1 mod 0xffff, so where in the word a
 * lane lands does not matter). A trailing odd byte is the high half of
 * its big-endian word: the low byte of a native word on a little-endian host. */
uint64_t
tcp_csum_sum64(uint64_t s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t w0, t = 0; /* scalars: an array would go through the stack */
	uint32_t w32;
	uint16_t w16;

#if defined(__x86_64__)
	/* one carry chain a round (add, then adc from memory): each word's
	 * carry goes into the next add instead of being tested and added.
	 * Inline assembly: _addcarry_u64() writes through a pointer, which
	 * costs a stack store a round and the stack protector a call */
	for (; len >= 32; p += 32, len -= 32)
		__asm__("addq 0(%[p]), %[s]\n\t"
		        "adcq 8(%[p]), %[s]\n\t"
		        "adcq 16(%[p]), %[s]\n\t"
		        "adcq 24(%[p]), %[s]\n\t"
		        "adcq $0, %[s]"
		        : [s] "+r"(s)
		        : [p] "r"(p), "m"(*(const uint8_t(*)[32])p)
		        : "cc");
	if (len & 16) { /* len < 32: at most two words more, without a loop */
		__asm__("addq 0(%[p]), %[s]\n\t"
		        "adcq 8(%[p]), %[s]\n\t"
		        "adcq $0, %[s]"
		        : [s] "+r"(s)
		        : [p] "r"(p), "m"(*(const uint8_t(*)[16])p)
		        : "cc");
		p += 16;
	}
	if (len & 8) {
		memcpy(&w0, p, 8);
		s = tcp_csum_addc(s, w0);
		p += 8;
	}
#else
	for (; len >= 32; p += 32, len -= 32) {
		uint64_t w1, w2, w3;

		memcpy(&w0, p, 8);
		memcpy(&w1, p + 8, 8);
		memcpy(&w2, p + 16, 8);
		memcpy(&w3, p + 24, 8);
		s = tcp_csum_addc(s, w0);
		s = tcp_csum_addc(s, w1);
		s = tcp_csum_addc(s, w2);
		s = tcp_csum_addc(s, w3);
	}
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w0, p, 8);
		s = tcp_csum_addc(s, w0);
	}
#endif
	if (len & 4) {
		memcpy(&w32, p, 4);
		t = w32;
		p += 4;
	}
	if (len & 2) {
		memcpy(&w16, p, 2);
		t += w16;
		p += 2;
	}
	if (len & 1)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		t += p[0];
#else
		t += (uint32_t)p[0] << 8;
#endif
	return tcp_csum_addc(s, t); /* t < 2^33: no carry within it */
}

/* tcp_csum_add - the native sum folded to 16 bits and, on a little-endian
 * host, its bytes swapped once into the big-endian words' sum */
uint32_t
tcp_csum_add(uint32_t sum, const void *buf, size_t len)
{
	uint32_t s = (uint16_t)~tcp_csum_fold64(tcp_csum_sum64(0, buf, len));
	uint64_t r;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	s = ((s & 0xff) << 8) | (s >> 8);
#endif
	r = (uint64_t)s + sum;
	return (uint32_t)(r +
	                  (r >> 32)); /* s < 2^16: one carry at most, which cannot carry again */
}

/* tcp_wire_csum_ok - the native sum over pseudo-header and segment folds to
 * zero (a complement of zero reads the same in either byte order) */
bool
tcp_wire_csum_ok(uint8_t family, const struct tcp_ip *src, const struct tcp_ip *dst,
                 const void *tcp, size_t len)
{
	uint64_t s;

	if (family == TCP_V4)
		s = tcp_csum_pseudo4(tcp_csum_addrs4(src, dst), (uint32_t)len);
	else
		s = tcp_csum_sum64(
		        tcp_csum_sum64((uint64_t)tcp_csum_be32((uint32_t)len) + tcp_csum_be32(6),
		                       src->b, 16),
		        dst->b, 16);
	return tcp_csum_fold64(tcp_csum_sum64(s, tcp, len)) == 0;
}

/* add_at - add a piece that starts at an odd or even offset of the segment */
static uint32_t
add_at(uint32_t sum, const void *buf, size_t len, size_t at)
{
	uint32_t s = tcp_csum_add(0, buf, len);

	if (at & 1) /* the piece's bytes sit in the other halves of the words */
		s = ((s & 0xff00ff00) >> 8) | ((s & 0x00ff00ff) << 8);
	s = (s & 0xffff) + (s >> 16);
	sum += s;
	return (sum & 0xffff) + (sum >> 16);
}

/* tcp_wire_csum_out - header, then the two payload pieces, each possibly odd */
void
tcp_wire_csum_out(void *hdr, size_t hlen, const struct tcp_out *o)
{
	size_t plen = tcp_wire_payload_len(o);
	uint32_t s = tcp_wire_csum_pseudo(o->family, &o->src, &o->dst, (uint32_t)(hlen + plen));
	uint8_t *p = hdr;
	uint16_t c;

	s = tcp_csum_add(s, hdr, hlen); /* hlen is a multiple of 4 */
	s = (s & 0xffff) + (s >> 16);
	s = add_at(s, o->data[0], o->len[0], hlen);
	s = add_at(s, o->data[1], o->len[1], hlen + o->len[0]);
	c = tcp_csum_fold(s);
	wr16(p + 16, c);
}
