/* smtp_scan - the byte classes of a command line, many bytes at a time
 *
 * Shared by the line reader (smtp_line.c) and the predicted segment's
 * path (smtp_cmd.c: smtp_input_one), which must agree on what a plain
 * byte is: neither a control (NUL, CR, LF, ...) nor DEL nor 8-bit.
 * Inline: each runs once per line, and a call's frame is a fair part of
 * a short line's scan.
 */
#ifndef SMTP_SCAN_H
#define SMTP_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Eight bytes at a time (SWAR): the high bit of each byte of the result is
 * set for a byte below ' ' (controls, NUL, CR, LF) or at or above DEL.
 * Borrows and carries only run upwards, so the lowest flagged byte is
 * exact (those above it may be flagged falsely, and are never looked at). */
#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t
unplain(uint64_t x)
{
	uint64_t below = (x - ONES * ' ') & ~x;
	uint64_t above = (x + ONES) | x; /* 0x7f and up reach the high bit */

	return (below | above) & HIGHS;
}

static inline uint64_t
load8(const unsigned char *p)
{
	uint64_t x;

	memcpy(&x, p, sizeof(x));
	return x;
}

#ifdef __SSE2__
/* unplain16 - the same for sixteen bytes, a bit per byte: as signed bytes,
 * controls and 8-bit bytes are all below ' ', and DEL is one value */
static inline unsigned
unplain16(__m128i x)
{
	__m128i low = _mm_cmplt_epi8(x, _mm_set1_epi8(' '));
	__m128i del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));

	return (unsigned)_mm_movemask_epi8(_mm_or_si128(low, del));
}

/* first_unplain16 - first_unplain for n >= 16, sixteen bytes a step */
static inline size_t
first_unplain16(const unsigned char *p, size_t n, char *buf)
{
	size_t k;
	__m128i x;
	unsigned m;

	for (k = 0; k + 16 <= n; k += 16) {
		x = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
		_mm_storeu_si128((__m128i *)(void *)(buf + k), x);
		if ((m = unplain16(x)) != 0)
			return k + (size_t)__builtin_ctz(m);
	}
	if (k == n)
		return n;
	k = n - 16; /* the last bytes: the block ending at n, its lower bytes clean */
	x = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
	_mm_storeu_si128((__m128i *)(void *)(buf + k), x);
	m = unplain16(x);
	return m != 0 ? k + (size_t)__builtin_ctz(m) : n;
}
#endif

/* first_unplain - the offset of the first byte of p[0..n) below ' ' or at
 * DEL and above, or n; copies at least the bytes before it to buf on the
 * way (never past buf[n - 1]) */
static inline size_t
first_unplain(const unsigned char *p, size_t n, char *buf)
{
	size_t k = 0;
	uint64_t m;

#ifdef __SSE2__
	if (n >= 16)
		return first_unplain16(p, n, buf);
#endif
	if (n < 8) {
		while (k < n && (unsigned char)(p[k] - ' ') < 0x7f - ' ')
			buf[k] = (char)p[k], k++;
		return k;
	}
	for (; k + 8 <= n; k += 8) {
		uint64_t x = load8(p + k);

		memcpy(buf + k, &x, sizeof(x));
		if ((m = unplain(x)) != 0)
			return k + (size_t)__builtin_ctzll(m) / 8;
	}
	if (k == n)
		return n;
	/* the last bytes: the word ending at n, whose lower bytes were clean */
	k = n - 8;
	{
		uint64_t x = load8(p + k);

		memcpy(buf + k, &x, sizeof(x));
		if ((m = unplain(x)) != 0)
			return k + (size_t)__builtin_ctzll(m) / 8;
	}
	return n;
}

#endif
