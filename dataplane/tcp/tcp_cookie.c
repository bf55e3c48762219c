/* tcp_cookie - keyed hashing: the flow table hash, ISNs (RFC 6528) and
 * SYN cookies (RFC 4987)
 *
 * One secret per process (tcp_conf.key). ISNs and cookies are SipHash-2-4
 * of the packed 4-tuple (12 bytes for IPv4, 36 for IPv6) and two words.
 *
 * The flow table hash runs for every segment, so it is not SipHash but a
 * universal hash under a key of its own derived from the secret: NH (the
 * inner hash of UMAC, RFC 4418; Black et al., "UMAC: fast and secure
 * message authentication", 1999) of the 4-tuple's 32-bit words, then
 * Dietzfelbinger's multiply-shift down to 32 bits, whose top bits pick the
 * chain (tcp_table.c). NH is 2^-32-almost-universal: for any two distinct
 * 4-tuples, the chance over the key that their sums agree is at most 2^-32;
 * for sums that differ, the top b bits of multiply-shift agree with chance
 * at most 2^(1-b) (Dietzfelbinger et al., 1997). So a client who does not
 * know the key cannot pick addresses and ports that share a chain, which is
 * all the table needs (Linux's ehash is a keyed jhash for the same reason).
 * Why keyed, and not CRC32 with a random seed: CRC is linear, so two
 * 4-tuples whose XOR is in the kernel of the CRC (mod the table size)
 * collide whatever the seed; a client with a few addresses (an IPv6 /64
 * gives 64 free bits) could compute as many as it likes. The key never
 * leaves the process: the table's values are not on the wire, and the ISNs
 * the peer sees come from the other key. Two multiplies for IPv4 (five for
 * IPv6) instead of SipHash's rounds; ISNs and cookies keep SipHash-2-4,
 * where the output is on the wire and must be a pseudo-random function.
 *
 * ISN = F(4-tuple, key) + 4 us clock (RFC 6528 3), derived from now in ms.
 *
 * A SYN cookie is the ISN of a SYN-ACK sent without keeping state:
 *   bits 31-27  t: minutes-ish counter (now / 64 s) mod 32
 *   bits 26-24  m: index into tcp_cookie_mss[] (the largest entry <= peer's MSS)
 *   bits 23-0   MAC: SipHash(key, 4-tuple, peer's ISN, t, m) low 24 bits
 * The ACK that completes the handshake carries cookie + 1 and the peer's
 * ISN + 1; it is valid when the MAC matches and t is this period or the
 * last (an age below 128 s). The flow made from it has no window scaling
 * (RFC 7323 options were not kept) and the MSS of the table; a forged ACK
 * must guess 24 bits per 4-tuple and period.
 */
#include <string.h>

#include "tcp_impl.h"

#define COOKIE_PERIOD_MS 64000
#define COOKIE_MAC_MASK  0x00ffffffu

/* Common MSS values, ascending: 536 (IPv4 minimum), 1220 (IPv6 minimum),
 * tunnels, 1440 (IPv6 on Ethernet), 1460 (IPv4 on Ethernet), jumbo. */
const uint16_t tcp_cookie_mss[TCP_COOKIE_MSS_N] = {536, 1220, 1360, 1400, 1440, 1452, 1460, 8960};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

/* siphash - SipHash-c-d of len bytes (inlined with constant rounds) */
static inline __attribute__((always_inline)) uint64_t
siphash(const uint64_t key[2], const void *buf, size_t len, int c, int d)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
	const uint8_t *p = buf;
	uint64_t b = (uint64_t)len << 56, m;
	size_t left = len & 7, i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, p + i, 8); /* little-endian hosts; the value only needs to be stable */
		v3 ^= m;
		for (int r = 0; r < c; r++)
			SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	for (int r = 0; r < c; r++)
		SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	for (int r = 0; r < d; r++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* tcp_siphash - SipHash-2-4 of len bytes */
uint64_t
tcp_siphash(const uint64_t key[2], const void *buf, size_t len)
{
	return siphash(key, buf, len, 2, 4);
}

/* The packed 4-tuple and, for ISNs and cookies, two words: no padding,
 * IPv4 addresses without their 12 zero bytes (fewer SipHash blocks). */
#define TUPLE_MAX (2 * 16 + 2 * 2 + 2 * 4)

/* pack - the tuple's bytes into out; their count (the families' counts
 * differ, and SipHash hashes the length in: they never share an input) */
static inline size_t
pack(uint8_t out[TUPLE_MAX], uint8_t family, const struct tcp_key *k)
{
	size_t alen = family == TCP_V4 ? 4 : 16;

	memcpy(out, k->laddr.b, alen);
	memcpy(out + alen, k->raddr.b, alen);
	memcpy(out + 2 * alen, &k->lport, 2);
	memcpy(out + 2 * alen + 2, &k->rport, 2);
	return 2 * alen + 4;
}

static uint64_t
hash_tuple(struct tcp_lcore *lc, uint8_t family, const struct tcp_key *k, uint32_t a, uint32_t b)
{
	uint8_t in[TUPLE_MAX];
	size_t n = pack(in, family, k);

	memcpy(in + n, &a, 4);
	memcpy(in + n + 4, &b, 4);
	return tcp_siphash(lc->sipkey, in, n + 8);
}

/* tcp_hash_key_init - the flow table's key, from the secret (a key of its
 * own: no relation between the table's hashes and the ISNs on the wire):
 * NH's words and the multiplier, which must be odd */
void
tcp_hash_key_init(struct tcp_lcore *lc)
{
	lc->tabkey[0] = tcp_siphash(lc->sipkey, "flow table key 0", 16);
	lc->tabkey[1] = tcp_siphash(lc->sipkey, "flow table key 1", 16);
	for (uint32_t i = 0; i < TCP_NH_WORDS; i += 2) {
		uint64_t w = tcp_siphash(lc->tabkey, &i, sizeof(i));

		lc->nhkey[i] = (uint32_t)w;
		lc->nhkey[i + 1] = (uint32_t)(w >> 32);
	}
	lc->mskey = tcp_siphash(lc->tabkey, "multiply-shift", 14) | 1;
}

/* nh - one pair of NH: the two words, each plus its key word mod 2^32, multiplied into 64 bits */
static inline uint64_t
nh(uint32_t a, uint32_t ka, uint32_t b, uint32_t kb)
{
	return (uint64_t)(uint32_t)(a + ka) * (uint32_t)(b + kb);
}

/* tcp_flow_hash - the flow table's hash (see the top) of a 4-tuple given
 * by its parts: IPv4 in two NH pairs (remote address and the ports,
 * local address and the family), IPv6 in five; the 64-bit sum then goes
 * through multiply-shift to its top 32 bits */
static inline uint32_t
tcp_flow_hash(const struct tcp_lcore *lc, uint8_t family, const struct tcp_ip *laddr,
              const struct tcp_ip *raddr, uint16_t lport, uint16_t rport)
{
	const uint32_t *k = lc->nhkey;
	uint32_t ports = (uint32_t)rport << 16 | lport;
	uint64_t h;

	if (family == TCP_V4) {
		uint32_t la, ra;

		memcpy(&la, laddr->b, 4);
		memcpy(&ra, raddr->b, 4);
		return tcp_hash4(lc, la, ra, lport, rport);
	} else {
		uint32_t w[TCP_NH_WORDS];

		memcpy(w, raddr->b, 16);
		memcpy(w + 4, laddr->b, 16);
		w[8] = ports;
		w[9] = family;
		h = 0;
		for (unsigned i = 0; i < TCP_NH_WORDS; i += 2)
			h += nh(w[i], k[i], w[i + 1], k[i + 1]);
	}
	return (uint32_t)((h * lc->mskey) >> 32);
}

/* tcp_key_hash - the flow table's hash of a 4-tuple */
uint32_t
tcp_key_hash(struct tcp_lcore *lc, uint8_t family, const struct tcp_key *k)
{
	return tcp_flow_hash(lc, family, &k->laddr, &k->raddr, k->lport, k->rport);
}

/* tcp_seg_hash - the same for a received segment's 4-tuple, local side
 * being its destination (no key built) */
uint32_t
tcp_seg_hash(struct tcp_lcore *lc, const struct tcp_seg *seg)
{
	return tcp_flow_hash(lc, seg->family, &seg->dst, &seg->src, seg->dport, seg->sport);
}

/* siphash_15 - SipHash-2-4 of a 15-byte string given as its two message
 * words: m0 its first 8 bytes (little-endian), m1 its last 7 with the
 * length in the top byte, as siphash() packs them. No buffer, no loops:
 * eight rounds in a line. */
static inline uint64_t
siphash_15(const uint64_t key[2], uint64_t m0, uint64_t m1)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];

	v3 ^= m0;
	SIPROUND;
	SIPROUND;
	v0 ^= m0;
	v3 ^= m1;
	SIPROUND;
	SIPROUND;
	v0 ^= m1;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

#define ISN_TAG 0x6e7369u /* "isn": the last bytes of an IPv4 ISN's input */

/* isn4 - F() of RFC 6528 for IPv4: SipHash-2-4 of local address, remote
 * address, local and remote port (12 bytes) and "isn", 15 bytes in all.
 * One full block and the last instead of three: a passive open pays it
 * once per connection. Never the same input as a cookie's MAC (20 bytes:
 * the length is hashed in). */
static inline uint32_t
isn4(const struct tcp_lcore *lc, const struct tcp_key *k)
{
	uint32_t la, ra;

	memcpy(&la, k->laddr.b, 4);
	memcpy(&ra, k->raddr.b, 4);
	return (uint32_t)siphash_15(lc->sipkey, (uint64_t)ra << 32 | la,
	                            (uint64_t)15 << 56 | (uint64_t)ISN_TAG << 32 |
	                                    (uint32_t)k->rport << 16 | k->lport);
}

/* tcp_isn - RFC 6528: keyed hash of the 4-tuple plus a 4 us clock */
uint32_t
tcp_isn(struct tcp_lcore *lc, uint8_t family, const struct tcp_key *k)
{
	uint32_t f =
	        family == TCP_V4 ? isn4(lc, k) : (uint32_t)hash_tuple(lc, family, k, 0x69736e00, 0);

	return f + (uint32_t)(lc->now * 250);
}

/* seg_key - a received segment's 4-tuple, local side first */
static void
seg_key(const struct tcp_seg *seg, struct tcp_key *k)
{
	memset(k, 0, sizeof(*k));
	k->laddr = seg->dst;
	k->raddr = seg->src;
	k->lport = seg->dport;
	k->rport = seg->sport;
}

static uint32_t
mac(struct tcp_lcore *lc, const struct tcp_seg *seg, uint32_t peer_isn, uint32_t tm)
{
	struct tcp_key k;

	seg_key(seg, &k);
	return (uint32_t)hash_tuple(lc, seg->family, &k, peer_isn, tm) & COOKIE_MAC_MASK;
}

/* tcp_cookie_make - the cookie ISN for a SYN, and the MSS it encodes */
uint32_t
tcp_cookie_make(struct tcp_lcore *lc, const struct tcp_seg *seg, uint16_t *mss)
{
	uint16_t peer = seg->opt.has & TCP_O_MSS
	                        ? seg->opt.mss
	                        : (seg->family == TCP_V6 ? TCP_MSS6_DEFAULT : TCP_MSS_DEFAULT);
	uint16_t ours = seg->family == TCP_V6 ? lc->mss6 : lc->mss4;
	uint32_t t = (uint32_t)(lc->now / COOKIE_PERIOD_MS) & 31, m = 0, i, tm;

	if (peer > ours)
		peer = ours;
	for (i = 0; i < TCP_COOKIE_MSS_N; i++)
		if (tcp_cookie_mss[i] <= peer)
			m = i;
	*mss = tcp_cookie_mss[m];
	tm = t << 3 | m;
	lc->cookie_last_ms = lc->now;
	return tm << 24 | mac(lc, seg, seg->seq, tm);
}

/* tcp_cookie_check - whether the ACK of seg answers one of our cookies; sets *mss */
int
tcp_cookie_check(struct tcp_lcore *lc, const struct tcp_seg *seg, uint16_t *mss)
{
	uint32_t cookie = seg->ack - 1, tm = cookie >> 24;
	uint32_t t = tm >> 3, now_t = (uint32_t)(lc->now / COOKIE_PERIOD_MS) & 31;

	if (((now_t - t) & 31) > 1)
		return -1;
	if ((cookie & COOKIE_MAC_MASK) != mac(lc, seg, seg->seq - 1, tm))
		return -1;
	*mss = tcp_cookie_mss[tm & 7];
	return 0;
}
