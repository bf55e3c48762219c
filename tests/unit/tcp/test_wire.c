/* test_wire - TCP header and options parse/build, checksums with IPv4 and
 * IPv6 pseudo-headers, two-piece payloads at odd offsets */
#include <arpa/inet.h>

#include "tap.h"
#include "tcp_wire.h"

/* A SYN as Linux 6.x sends it (captured): 10.77.0.1:41234 -> 10.77.0.2:25,
 * options MSS 1460, SACK_PERM, TS, NOP, WS 7. */
static const uint8_t linux_syn[40] = {
        0xa1, 0x12, 0x00, 0x19, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
        0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
        0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
};

/* naive_csum - RFC 1071 by the book, as a reference */
static uint16_t
naive_csum(const uint8_t *pseudo, size_t plen, const uint8_t *seg, size_t len)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < plen; i += 2)
		s += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(seg[i] << 8 | seg[i + 1]);
	if (len & 1)
		s += (uint32_t)seg[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void
test_parse(void)
{
	struct tcp_seg s;
	uint8_t bad[40];

	is_int(tcp_wire_parse(linux_syn, sizeof(linux_syn), &s), 0, "Linux SYN parses");
	is_int(s.sport, 41234, "source port");
	is_int(s.dport, 25, "destination port");
	is_int(s.seq, 0x12345678, "seq");
	is_int(s.flags, TCP_SYN, "flags");
	is_int(s.wnd, 64240, "window");
	is_int(s.opt.has, TCP_O_MSS | TCP_O_WS | TCP_O_SACKOK | TCP_O_TS, "all four options seen");
	is_int(s.opt.mss, 1460, "MSS");
	is_int(s.opt.wscale, 7, "WS");
	is_int(s.opt.ts_val, 0x00010203, "TSval");
	is_int(s.len, 0, "no payload");

	is_int(tcp_wire_parse(linux_syn, 19, &s), -1, "short header refused");
	memcpy(bad, linux_syn, 40);
	bad[12] = 0x40; /* data offset 16 bytes */
	is_int(tcp_wire_parse(bad, 40, &s), -1, "data offset below 20 refused");
	bad[12] = 0xf0; /* 60 bytes > 40 */
	is_int(tcp_wire_parse(bad, 40, &s), -1, "data offset past the end refused");
	memcpy(bad, linux_syn, 40);
	bad[21] = 0; /* MSS option length 0: parsing stops */
	is_int(tcp_wire_parse(bad, 40, &s), 0, "malformed option: the segment still parses");
	is_int(s.opt.has, 0, "... and no option after it is taken");
	memcpy(bad, linux_syn, 40);
	bad[38] = 40; /* WS length beyond the header */
	is_int(tcp_wire_parse(bad, 40, &s), 0, "option running past the header");
	ok(!(s.opt.has & TCP_O_WS), "... is ignored");
	memcpy(bad, linux_syn, 40);
	bad[39] = 20;
	tcp_wire_parse(bad, 40, &s);
	is_int(s.opt.wscale, 14, "WS above 14 taken as 14 (RFC 7323 2.3)");
	memcpy(bad, linux_syn, 40);
	bad[20] = 0; /* EOL first */
	tcp_wire_parse(bad, 40, &s);
	is_int(s.opt.has, 0, "EOL ends the options");
	/* payload */
	{
		uint8_t seg[24] = {0, 25, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x18, 1, 0};

		memcpy(seg + 20, "QUIT", 4);
		tcp_wire_parse(seg, sizeof(seg), &s);
		ok(s.len == 4 && memcmp(s.data, "QUIT", 4) == 0, "payload after a 20-byte header");
		is_int(s.ack, 2, "ack");
		is_int(s.flags, TCP_ACK | TCP_PSH, "ACK|PSH");
	}
}

static void
test_build(void)
{
	struct tcp_out o = {0};
	uint8_t buf[64];
	struct tcp_seg s;
	size_t n;

	o.sport = 25;
	o.dport = 41234;
	o.seq = 0xfffffff0;
	o.ack = 0x12345679;
	o.flags = TCP_SYN | TCP_ACK;
	o.wnd = 65535;
	o.opt.has = TCP_O_MSS | TCP_O_WS;
	o.opt.mss = 1460;
	o.opt.wscale = 1;
	is_int(tcp_wire_hdr_len(&o), 28, "SYN-ACK header: 20 + MSS 4 + NOP,WS 4");
	is_int(tcp_wire_build(buf, 27, &o), 0, "too small a buffer");
	n = tcp_wire_build(buf, sizeof(buf), &o);
	is_int(n, 28, "built");
	is_int(buf[12], 7 << 4, "data offset 7");
	ok(buf[20] == 2 && buf[21] == 4 && buf[22] == 0x05 && buf[23] == 0xb4, "MSS option bytes");
	ok(buf[24] == 1 && buf[25] == 3 && buf[26] == 3 && buf[27] == 1, "NOP, WS option bytes");
	is_int(tcp_wire_parse(buf, n, &s), 0, "round trip parses");
	ok(s.seq == o.seq && s.ack == o.ack && s.flags == o.flags && s.wnd == o.wnd &&
	           s.opt.mss == 1460 && s.opt.wscale == 1,
	   "round trip keeps every field");
	o.flags = TCP_RST;
	o.opt.has = 0;
	tcp_wire_build(buf, sizeof(buf), &o);
	ok(buf[8] == 0 && buf[9] == 0 && buf[10] == 0 && buf[11] == 0, "no ACK flag: ack field 0");
}

static void
test_csum(void)
{
	struct tcp_ip a = {{10, 77, 0, 2}}, b = {{10, 77, 0, 1}};
	struct tcp_ip a6 = {{0xfd, 0x77, [15] = 2}}, b6 = {{0xfd, 0x77, [15] = 1}};
	struct tcp_out o = {0};
	uint8_t seg[64 + 1500], pseudo[40];
	const char *msg = "220 gate ESMTP\r\n250 ok\r\n"; /* 24 bytes */
	size_t hl, i, good = 0, total = 0;

	o.family = TCP_V4;
	o.src = a;
	o.dst = b;
	o.sport = 25;
	o.dport = 41234;
	o.seq = 7;
	o.ack = 9;
	o.flags = TCP_ACK | TCP_PSH;
	o.wnd = 502;
	/* every split point of an odd and an even payload, v4 and v6 */
	for (int fam = 0; fam < 2; fam++) {
		o.family = fam ? TCP_V6 : TCP_V4;
		o.src = fam ? a6 : a;
		o.dst = fam ? b6 : b;
		for (size_t len = 23; len <= 24; len++) {
			for (i = 0; i <= len; i++) {
				uint16_t want;
				size_t pl;

				o.data[0] = msg;
				o.len[0] = (uint32_t)i;
				o.data[1] = msg + i;
				o.len[1] = (uint32_t)(len - i);
				hl = tcp_wire_build(seg, sizeof(seg), &o);
				tcp_wire_csum_out(seg, hl, &o);
				memcpy(seg + hl, msg, len);
				/* reference: pseudo-header by hand */
				memset(pseudo, 0, sizeof(pseudo));
				if (fam) {
					memcpy(pseudo, a6.b, 16);
					memcpy(pseudo + 16, b6.b, 16);
					pseudo[34] = (uint8_t)((hl + len) >> 8);
					pseudo[35] = (uint8_t)(hl + len);
					pseudo[39] = 6;
					pl = 40;
				} else {
					memcpy(pseudo, a.b, 4);
					memcpy(pseudo + 4, b.b, 4);
					pseudo[9] = 6;
					pseudo[10] = (uint8_t)((hl + len) >> 8);
					pseudo[11] = (uint8_t)(hl + len);
					pl = 12;
				}
				{
					uint8_t c0 = seg[16], c1 = seg[17];

					seg[16] = seg[17] = 0;
					want = naive_csum(pseudo, pl, seg, hl + len);
					seg[16] = c0;
					seg[17] = c1;
				}
				total++;
				if ((seg[16] << 8 | seg[17]) == want &&
				    tcp_wire_csum_ok(o.family, &o.src, &o.dst, seg, hl + len))
					good++;
			}
		}
	}
	is_int(good, total,
	       "checksums over two pieces at every split match the reference (v4, v6)");
	seg[hl] ^= 1;
	ok(!tcp_wire_csum_ok(o.family, &o.src, &o.dst, seg, hl + 24), "a flipped bit is caught");
	{
		struct tcp_ip x = tcp_ip_v4(htonl(0x0a4d0002));

		ok(x.b[0] == 10 && x.b[1] == 77 && x.b[2] == 0 && x.b[3] == 2 && x.b[4] == 0,
		   "tcp_ip_v4 keeps network order");
	}
}

/* SACK option cases (RFC 2018 3): after NOP NOP, kind 5 with its length,
 * then the blocks; the header is padded to 60 bytes with EOL */
struct sack_case {
	const char *name;
	uint8_t len;    /* the option's length byte */
	uint8_t nbytes; /* bytes of block data present */
	bool taken;
	uint8_t nsack;
};

static const struct sack_case sack_cases[] = {
        {"one block", 10, 8, true, 1},
        {"three blocks (beside timestamps, as Linux sends)", 26, 24, true, 3},
        {"four blocks, the most that fit", 34, 32, true, 4},
        {"length 2: no block, ignored", 2, 0, false, 0},
        {"length not 2 + 8n: ignored", 13, 11, false, 0},
        {"length past the header: ignored", 34, 20, false, 0},
};

static void
test_sack_parse(void)
{
	for (size_t k = 0; k < sizeof(sack_cases) / sizeof(sack_cases[0]); k++) {
		const struct sack_case *c = &sack_cases[k];
		uint8_t seg[60] = {0, 25, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x10, 1, 0};
		size_t hlen = 20 + 4 + c->nbytes;
		struct tcp_seg s;
		bool good;

		hlen = (hlen + 3) & ~(size_t)3;
		seg[12] = (uint8_t)((hlen / 4) << 4);
		seg[20] = 1;
		seg[21] = 1;
		seg[22] = 5;
		seg[23] = c->len;
		for (unsigned i = 0; i < c->nbytes; i++)
			seg[24 + i] = (uint8_t)(0x10 + i);
		good = tcp_wire_parse(seg, hlen, &s) == 0 &&
		       !!(s.opt.has & TCP_O_SACK) == c->taken &&
		       (!c->taken || s.opt.nsack == c->nsack);
		/* the blocks are read in network order: left 0x10111213, right 0x14151617,
		 * and the last right edge from the last 4 bytes */
		if (good && c->taken) {
			uint8_t r = (uint8_t)(0x14 + 8 * (c->nsack - 1));
			uint32_t last = (uint32_t)r << 24 | (uint32_t)(r + 1) << 16 |
			                (uint32_t)(r + 2) << 8 | (uint32_t)(r + 3);

			good = s.opt.sack[0][0] == 0x10111213 && s.opt.sack[0][1] == 0x14151617 &&
			       s.opt.sack[c->nsack - 1][1] == last;
		}
		ok(good, "SACK option: %s", c->name);
	}
}

/* test_ts_layouts - 12 bytes of options: NOP NOP TS (the parser's
 * shortcut) and its neighbours that take the general option walk */
static void
test_ts_layouts(void)
{
	static const struct {
		const char *name;
		uint8_t opt[12];
		uint8_t has;
	} c[] = {
	        {"NOP NOP TS", {1, 1, 8, 10, 0, 0, 0, 7, 0x80, 0, 0, 9}, TCP_O_TS},
	        {"TS NOP NOP", {8, 10, 0, 0, 0, 7, 0x80, 0, 0, 9, 1, 1}, TCP_O_TS},
	        {"NOP NOP TS of length 11: malformed, ignored",
	         {1, 1, 8, 11, 0, 0, 0, 7, 0x80, 0, 0, 9},
	         0},
	        {"NOP NOP, kind 9 of length 10: unknown, skipped",
	         {1, 1, 9, 10, 0, 0, 0, 7, 0x80, 0, 0, 9},
	         0},
	};
	uint8_t seg[20 + 12 + 3] = {0x00, 25, 0xa1, 0x12, [12] = 0x80, [13] = 0x18};
	struct tcp_seg sg;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		memcpy(seg + 20, c[i].opt, 12);
		memcpy(seg + 32, "abc", 3);
		memset(&sg, 0xa5, sizeof(sg));
		ok(tcp_wire_parse(seg, sizeof(seg), &sg) == 0 && sg.opt.has == c[i].has &&
		           (c[i].has == 0 || (sg.opt.ts_val == 7 && sg.opt.ts_ecr == 0x80000009)) &&
		           sg.len == 3 && memcmp(sg.data, "abc", 3) == 0 && sg.opt.nsack == 0,
		   "options %s", c[i].name);
	}
}

/* test_csum_add - the word-at-a-time sum against RFC 1071 by the book:
 * every length to 67 at every alignment, random bytes, all-zero and
 * all-0xff buffers (the sums where 0 and 0xffff differ), and a running sum
 * carried in */
static void
test_csum_add(void)
{
	static const uint8_t fill[3] = {0x00, 0xff, 0x5a};
	uint8_t buf[4 + 68];
	size_t good = 0, total = 0, zero_ok = 0;

	tap_seed(6);
	for (int kind = 0; kind < 4; kind++)
		for (size_t align = 0; align < 4; align++)
			for (size_t len = 0; len <= 67; len++) {
				uint8_t *p = buf + align;
				uint32_t pre = kind == 3 ? 0 : (uint32_t)tap_rnd();
				uint64_t want = pre;

				for (size_t i = 0; i < len; i++)
					p[i] = kind == 3 ? (uint8_t)tap_rnd() : fill[kind];
				for (size_t i = 0; i + 1 < len; i += 2)
					want += (uint32_t)(p[i] << 8 | p[i + 1]);
				if (len & 1)
					want += (uint32_t)p[len - 1] << 8;
				while (want >> 16)
					want = (want & 0xffff) + (want >> 16);
				total++;
				if (tcp_csum_fold(tcp_csum_add(pre, p, len)) == (uint16_t)~want)
					good++;
				if (kind == 0 && len > 0 &&
				    tcp_csum_fold(tcp_csum_add(0, p, len)) == 0xffff)
					zero_ok++;
			}
	is_int(good, total, "tcp_csum_add: every length and alignment matches RFC 1071");
	is_int(zero_ok, 4 * 67, "tcp_csum_add: zero bytes sum to zero (checksum 0xffff)");
}

/* be_of_native - the big-endian value of a native 16-bit field's two bytes */
static uint16_t
be_of_native(uint16_t n)
{
	uint8_t b[2];

	memcpy(b, &n, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* test_csum_sum64 - the 64-bit add-with-carry sum against RFC 1071 by the
 * book: 3,000 random lengths to 1,600 at every alignment to 8 (and every
 * length to 80), random, all-zero and all-0xff bytes, a random 64-bit sum
 * carried in (its end-around fold added to the reference); the stored
 * checksum field's bytes must be the reference's, big-endian */
static void
test_csum_sum64(void)
{
	static uint8_t buf[8 + 1600];
	size_t good = 0, total = 0;

	tap_seed(64);
	for (int i = 0; i < 3000 + 4 * 81; i++) {
		size_t align = (size_t)i % 8, len = i < 4 * 81 ? (size_t)i / 4 : tap_below(1601);
		int kind = i < 4 * 81 ? i % 4 : (int)tap_below(4); /* 0 zero, 1 0xff, else random */
		uint64_t pre = kind == 2 ? 0 : kind == 1 ? UINT64_MAX - tap_below(3) : tap_rnd();
		uint64_t want = pre;
		uint8_t *p = buf + align;
		uint16_t field;

		for (size_t j = 0; j < len; j++)
			p[j] = kind == 0 ? 0 : kind == 1 ? 0xff : (uint8_t)tap_rnd();
		while (want >> 16) /* pre's fold, a native 16-bit value */
			want = (want & 0xffff) + (want >> 16);
		want = be_of_native((uint16_t)want);
		for (size_t j = 0; j + 1 < len; j += 2)
			want += (uint32_t)(p[j] << 8 | p[j + 1]);
		if (len & 1)
			want += (uint32_t)p[len - 1] << 8;
		while (want >> 16)
			want = (want & 0xffff) + (want >> 16);
		field = tcp_csum_fold64(tcp_csum_sum64(pre, p, len));
		total++;
		if (be_of_native(field) == (uint16_t)~want)
			good++;
		else if (total - good <= 3)
			printf("# len %zu align %zu kind %d: got %04x want %04x\n", len, align,
			       kind, be_of_native(field), (uint16_t)~want);
	}
	is_int(good, total, "tcp_csum_sum64: random lengths and alignments match RFC 1071");
}

/* test_csum_ok_random - tcp_wire_csum_ok() (the native pseudo-header sums)
 * against the book: random IPv4 and IPv6 addresses and segments of random
 * length carrying the book's checksum pass; the same with one bit flipped
 * fail */
static void
test_csum_ok_random(void)
{
	static uint8_t seg[1 + 1600];
	uint8_t pseudo[40];
	size_t pass = 0, caught = 0, total = 0;

	tap_seed(0xc5);
	for (int i = 0; i < 2000; i++) {
		int v6 = i & 1;
		struct tcp_ip a = {{0}}, b = {{0}};
		size_t alen = v6 ? 16 : 4, len = TCP_HDR_LEN + tap_below(1581), pl;
		uint8_t *p = seg + (i & 2 ? 1 : 0);
		uint16_t c;

		for (size_t j = 0; j < alen; j++) {
			a.b[j] = (uint8_t)tap_rnd();
			b.b[j] = (uint8_t)tap_rnd();
		}
		for (size_t j = 0; j < len; j++)
			p[j] = (uint8_t)tap_rnd();
		p[16] = p[17] = 0;
		memset(pseudo, 0, sizeof(pseudo));
		memcpy(pseudo, a.b, alen);
		memcpy(pseudo + alen, b.b, alen);
		if (v6) {
			pseudo[34] = (uint8_t)(len >> 8), pseudo[35] = (uint8_t)len, pseudo[39] = 6;
			pl = 40;
		} else {
			pseudo[9] = 6, pseudo[10] = (uint8_t)(len >> 8), pseudo[11] = (uint8_t)len;
			pl = 12;
		}
		c = naive_csum(pseudo, pl, p, len);
		p[16] = (uint8_t)(c >> 8), p[17] = (uint8_t)c;
		total++;
		if (tcp_wire_csum_ok(v6 ? TCP_V6 : TCP_V4, &a, &b, p, len))
			pass++;
		p[tap_below(len)] ^= (uint8_t)(1u << tap_below(8));
		if (!tcp_wire_csum_ok(v6 ? TCP_V6 : TCP_V4, &a, &b, p, len))
			caught++;
	}
	is_int(pass, total,
	       "tcp_wire_csum_ok: random v4/v6 segments with the book's checksum pass");
	is_int(caught, total, "tcp_wire_csum_ok: one flipped bit is caught");
}

/* ref_build - a header byte by byte from RFC 9293 3.1's layout and the
 * options in the order the gate sends them (MSS; NOP WS; NOP NOP SACK_PERM;
 * NOP NOP TS; NOP NOP SACK): the reference for tcp_wire_build() */
static size_t
ref_build(uint8_t *b, const struct tcp_out *o)
{
	size_t n = 20;
	uint32_t ack = o->flags & TCP_ACK ? o->ack : 0;

	memset(b, 0, 60);
	b[0] = (uint8_t)(o->sport >> 8), b[1] = (uint8_t)o->sport;
	b[2] = (uint8_t)(o->dport >> 8), b[3] = (uint8_t)o->dport;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(o->seq >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	b[13] = o->flags;
	b[14] = (uint8_t)(o->wnd >> 8), b[15] = (uint8_t)o->wnd;
	if (o->opt.has & TCP_O_MSS) {
		b[n] = 2, b[n + 1] = 4, b[n + 2] = (uint8_t)(o->opt.mss >> 8);
		b[n + 3] = (uint8_t)o->opt.mss;
		n += 4;
	}
	if (o->opt.has & TCP_O_WS) {
		b[n] = 1, b[n + 1] = 3, b[n + 2] = 3, b[n + 3] = o->opt.wscale;
		n += 4;
	}
	if (o->opt.has & TCP_O_SACKOK) {
		b[n] = 1, b[n + 1] = 1, b[n + 2] = 4, b[n + 3] = 2;
		n += 4;
	}
	if (o->opt.has & TCP_O_TS) {
		b[n] = 1, b[n + 1] = 1, b[n + 2] = 8, b[n + 3] = 10;
		for (int i = 0; i < 4; i++) {
			b[n + 4 + i] = (uint8_t)(o->opt.ts_val >> (24 - 8 * i));
			b[n + 8 + i] = (uint8_t)(o->opt.ts_ecr >> (24 - 8 * i));
		}
		n += 12;
	}
	if ((o->opt.has & TCP_O_SACK) && o->opt.nsack > 0) {
		b[n] = 1, b[n + 1] = 1, b[n + 2] = 5, b[n + 3] = (uint8_t)(2 + 8 * o->opt.nsack);
		for (unsigned k = 0; k < o->opt.nsack; k++)
			for (int e = 0; e < 2; e++)
				for (int i = 0; i < 4; i++)
					b[n + 4 + 8 * k + 4 * e + i] =
					        (uint8_t)(o->opt.sack[k][e] >> (24 - 8 * i));
		n += 4 + 8u * o->opt.nsack;
	}
	b[12] = (uint8_t)((n / 4) << 4);
	return n;
}

/* test_build_all - every combination of the options (the timestamp-only
 * shortcut among them) and of the flags, random fields: the same bytes as
 * the reference, and tcp_wire_write() as tcp_wire_build() */
static void
test_build_all(void)
{
	uint8_t got[64], want[64], w2[64];
	size_t good = 0, total = 0;

	tap_seed(0x7c9);
	for (unsigned has = 0; has < 32; has++)
		for (unsigned fl = 0; fl < 256; fl += 7) {
			struct tcp_out o = {0};
			uint64_t r = tap_rnd();
			size_t n, hl;

			o.sport = (uint16_t)r, o.dport = (uint16_t)(r >> 16);
			o.seq = (uint32_t)(r >> 32), o.ack = (uint32_t)tap_rnd();
			o.flags = (uint8_t)fl, o.wnd = (uint16_t)tap_rnd();
			o.opt.has = (uint8_t)has;
			o.opt.mss = (uint16_t)tap_rnd(), o.opt.wscale = (uint8_t)(tap_rnd() % 15);
			o.opt.ts_val = (uint32_t)tap_rnd(), o.opt.ts_ecr = (uint32_t)tap_rnd();
			o.opt.nsack = (o.opt.has & TCP_O_TS) ? 3 : 1 + (uint8_t)(tap_rnd() % 2);
			if ((has & (TCP_O_MSS | TCP_O_WS | TCP_O_SACKOK)) && (has & TCP_O_TS))
				o.opt.nsack = 1; /* within 40 bytes of options */
			for (unsigned k = 0; k < TCP_SACK_MAX; k++)
				o.opt.sack[k][0] = (uint32_t)tap_rnd(),
				o.opt.sack[k][1] = (uint32_t)tap_rnd();
			memset(got, 0xee, sizeof(got));
			memset(w2, 0xee, sizeof(w2));
			n = ref_build(want, &o);
			hl = tcp_wire_build(got, sizeof(got), &o);
			tcp_wire_write(w2, tcp_wire_hdr_len(&o), &o);
			total++;
			if (hl == n && tcp_wire_hdr_len(&o) == n && memcmp(got, want, n) == 0 &&
			    memcmp(w2, want, n) == 0)
				good++;
		}
	is_int(good, total, "every option set and flag combination: the reference's bytes");
}

/* test_pseudo - the pseudo-header sum (IPv4's from two native words, then
 * swapped) against RFC 9293 3.1's 12 bytes summed by the book, for random
 * and extreme addresses and lengths */
static void
test_pseudo(void)
{
	size_t good = 0, total = 0;

	tap_seed(0x9e1);
	for (int i = 0; i < 2000; i++) {
		struct tcp_ip a = {{0}}, b = {{0}};
		uint8_t ph[12];
		uint32_t len = (uint32_t)(tap_rnd() % 65536), want = 0;

		for (int j = 0; j < 4; j++) {
			a.b[j] = i < 2 ? (uint8_t)(i ? 0xff : 0) : (uint8_t)tap_rnd();
			b.b[j] = i < 2 ? (uint8_t)(i ? 0xff : 0) : (uint8_t)tap_rnd();
		}
		memcpy(ph, a.b, 4);
		memcpy(ph + 4, b.b, 4);
		ph[8] = 0, ph[9] = 6, ph[10] = (uint8_t)(len >> 8), ph[11] = (uint8_t)len;
		for (int j = 0; j < 12; j += 2)
			want += (uint32_t)(ph[j] << 8 | ph[j + 1]);
		total++;
		if (tcp_csum_fold(tcp_wire_csum_pseudo(TCP_V4, &a, &b, len)) == tcp_csum_fold(want))
			good++;
	}
	is_int(good, total, "IPv4 pseudo-header sums match RFC 9293 3.1 by the book");
}

/* ref_opts - the option walk byte by byte, as RFC 9293 3.1 reads it (and
 * as the parser did before it took common words whole): the reference */
static void
ref_opts(const uint8_t *p, const uint8_t *end, struct tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	while (p < end) {
		uint8_t kind = p[0], len;

		if (kind == 0)
			break;
		if (kind == 1) {
			p++;
			continue;
		}
		if (end - p < 2)
			break;
		len = p[1];
		if (len < 2 || len > end - p)
			break;
		if (kind == 2 && len == 4) {
			o->has |= TCP_O_MSS;
			o->mss = (uint16_t)(p[2] << 8 | p[3]);
		} else if (kind == 3 && len == 3) {
			o->has |= TCP_O_WS;
			o->wscale = p[2] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : p[2];
		} else if (kind == 4 && len == 2) {
			o->has |= TCP_O_SACKOK;
		} else if (kind == 5 && len >= 10 && (len - 2) % 8 == 0 &&
		           (len - 2) / 8 <= TCP_SACK_MAX) {
			o->has |= TCP_O_SACK;
			o->nsack = (uint8_t)((len - 2) / 8);
			for (unsigned i = 0; i < 2u * o->nsack; i++)
				o->sack[i / 2][i % 2] = (uint32_t)p[2 + 4 * i] << 24 |
				                        (uint32_t)p[3 + 4 * i] << 16 |
				                        (uint32_t)p[4 + 4 * i] << 8 | p[5 + 4 * i];
		} else if (kind == 8 && len == 10) {
			o->has |= TCP_O_TS;
			o->ts_val = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 |
			            (uint32_t)p[4] << 8 | p[5];
			o->ts_ecr = (uint32_t)p[6] << 24 | (uint32_t)p[7] << 16 |
			            (uint32_t)p[8] << 8 | p[9];
		}
		p += len;
	}
}

/* opt_piece - one random piece of an option list at q (room bytes left):
 * the words of the common SYN layouts (MSS; NOP WS; NOP NOP SACKOK; NOP
 * NOP TS; SACKOK TS), those options alone or shifted by a NOP, their
 * near misses (a length or kind off by one), EOL, SACK blocks, unknown
 * options, random bytes. How many bytes it wrote (at most room) */
static size_t
opt_piece(uint8_t *q, size_t room)
{
	uint8_t b[40];
	size_t n;
	unsigned r = (unsigned)tap_rnd();

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)tap_rnd();
	switch (r % 16) {
	case 0: /* MSS */
		b[0] = 2, b[1] = 4, n = 4;
		break;
	case 1: /* NOP WS, the shift sometimes past 14 */
		b[0] = 1, b[1] = 3, b[2] = 3, b[3] = (uint8_t)(b[3] % 20), n = 4;
		break;
	case 2: /* NOP NOP SACKOK */
		b[0] = 1, b[1] = 1, b[2] = 4, b[3] = 2, n = 4;
		break;
	case 3: /* NOP NOP TS */
		b[0] = 1, b[1] = 1, b[2] = 8, b[3] = 10, n = 12;
		break;
	case 4: /* SACKOK TS */
		b[0] = 4, b[1] = 2, b[2] = 8, b[3] = 10, n = 12;
		break;
	case 5: /* one NOP or EOL */
		b[0] = (uint8_t)(r >> 8 & 1), n = 1;
		break;
	case 6: /* WS alone */
		b[0] = 3, b[1] = 3, b[2] = (uint8_t)(b[2] % 20), n = 3;
		break;
	case 7: /* SACKOK alone */
		b[0] = 4, b[1] = 2, n = 2;
		break;
	case 8: /* TS alone */
		b[0] = 8, b[1] = 10, n = 10;
		break;
	case 9: /* a common word with one byte off by one */ {
		static const uint8_t w[5][4] = {
		        {2, 4, 5, 0xb4}, {1, 3, 3, 7}, {1, 1, 4, 2}, {1, 1, 8, 10}, {4, 2, 8, 10}};
		memcpy(b, w[(r >> 8) % 5], 4);
		b[(r >> 12) % 4] += (r >> 16 & 1) ? 1 : 0xff;
		n = (r >> 8) % 5 >= 3 ? 12 : 4;
		break;
	}
	case 10: /* SACK blocks, 1 to 4 (or a bad length) */
		b[0] = 5, b[1] = (uint8_t)(2 + 8 * (1 + (r >> 8) % 4) + ((r >> 12) % 4 == 0)),
		n = b[1];
		break;
	case 11: /* unknown kind, some length */
		b[0] = (uint8_t)(9 + (r >> 8) % 30), b[1] = (uint8_t)(2 + (r >> 16) % 8), n = b[1];
		break;
	case 12: /* MSS of a bad length, or a length past the end */
		b[0] = 2, b[1] = (uint8_t)((r >> 8) % 6 + ((r >> 12) % 3 == 0 ? 40 : 0)), n = 4;
		break;
	default: /* random bytes */
		n = 1 + (r >> 8) % 6;
		break;
	}
	if (n > room)
		n = room;
	memcpy(q, b, n);
	return n;
}

/* test_opts_random - tcp_wire_parse() against the byte-by-byte walk on
 * 200,000 random option lists of 0 to 40 bytes made of opt_piece()s: the
 * same options seen, with the same values */
static void
test_opts_random(void)
{
	uint8_t seg[60 + 4];
	struct tcp_seg s;
	struct tcp_opts want;
	unsigned bad = 0, total = 200000, seen_sackts = 0;

	tap_seed(7);
	for (unsigned t = 0; t < total; t++) {
		size_t olen = 4 * ((unsigned)tap_rnd() % 11), n = 0;

		memset(seg, 0, sizeof(seg));
		seg[12] = (uint8_t)((20 + olen) / 4 << 4);
		seg[13] = TCP_SYN;
		while (n < olen)
			n += opt_piece(seg + 20 + n, olen - n);
		memcpy(seg + 20 + olen, "data", 4);
		ref_opts(seg + 20, seg + 20 + olen, &want);
		memset(&s, 0xa5, sizeof(s));
		if (olen >= 12 && memcmp(seg + 20, "\x04\x02\x08\x0a", 4) == 0)
			seen_sackts++;
		if (tcp_wire_parse(seg, 20 + olen + 4, &s) != 0 || s.opt.has != want.has ||
		    ((want.has & TCP_O_MSS) && s.opt.mss != want.mss) ||
		    ((want.has & TCP_O_WS) && s.opt.wscale != want.wscale) ||
		    ((want.has & TCP_O_TS) &&
		     (s.opt.ts_val != want.ts_val || s.opt.ts_ecr != want.ts_ecr)) ||
		    s.opt.nsack != want.nsack ||
		    memcmp(s.opt.sack, want.sack, sizeof(want.sack[0]) * want.nsack) != 0 ||
		    s.len != 4 || memcmp(s.data, "data", 4) != 0) {
			if (bad++ < 5) {
				printf("#   options of %zu bytes:", olen);
				for (size_t i = 0; i < olen; i++)
					printf(" %02x", seg[20 + i]);
				printf("\n");
			}
		}
	}
	is_int((int)bad, 0, "random option lists: the parser agrees with the byte-by-byte walk");
	ok(seen_sackts > 100, "SACKOK TS first seen %u times", seen_sackts);
}

int
main(void)
{
	test_parse();
	test_sack_parse();
	test_build();
	test_csum();
	test_csum_add();
	test_csum_sum64();
	test_csum_ok_random();
	test_ts_layouts();
	test_opts_random();
	test_build_all();
	test_pseudo();
	return done_testing();
}
