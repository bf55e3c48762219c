/* smtp_line - split the client's byte stream into command lines
 *
 * Untrusted input: every byte. A small state machine (enum smtp_lstate,
 * kept in the session between calls) reads one byte at a time and checks
 * the length limit before every append, so a line never holds more than
 * SMTP_LINE_TEXT bytes whatever the segmentation.
 *
 * Line ends, per RFC 5321 2.3.8 ("conforming implementations MUST NOT
 * recognize ... any other character or character sequence as a line
 * terminator"):
 * - CRLF ends a line.
 * - A bare LF ends the session (Postfix's smtpd_forbid_bare_newline): it is
 *   how SMTP smuggling starts, and no conforming client sends one.
 * - A bare CR is not a line end: it stays in the line as a byte and counts
 *   towards the limit (as in Postfix). The command parser then refuses the
 *   line, as it refuses every control character (smtp_cmd.c).
 * A line over the limit is dropped up to its CRLF and reported once there,
 * so that each line gets exactly one reply, in order.
 *
 * Most lines arrive whole, at the start of what a call is given: for
 * those smtp_line_whole() reads the line once, sixteen (SSE2) or eight
 * bytes at a time,
 * finding its end, checking that it holds no control or 8-bit byte (so
 * the command parser need not look again) and copying it as it goes. It
 * gives up on anything else (no LF in sight, over the limit, a CR at the
 * end of the input), which the state machine then reads as before: both
 * must agree byte for byte (tests/unit/smtp/test_line.c).
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "smtp_impl.h"

/* append - one byte of a line, or the switch to dropping it when full */
static inline void
append(uint8_t *lstate, char *buf, uint16_t *len, char ch)
{
	if (*len >= SMTP_LINE_TEXT) {
		*lstate = SMTP_L_SKIP;
		*len = 0;
		return;
	}
	buf[(*len)++] = ch;
}

/* smtp_line_scan - read bytes up to the first line event */
size_t
smtp_line_scan(uint8_t *lstate, char *buf, uint16_t *len, const unsigned char *p, size_t n,
               enum smtp_line_ev *ev)
{
	size_t i = 0;

	*ev = SMTP_LINE_MORE;
	while (i < n) {
		unsigned char ch;

		if (*lstate == SMTP_L_TEXT) {
			/* the common case: a run of plain bytes, limit checked first */
			size_t j = i;

			while (j < n && p[j] != '\r' && p[j] != '\n')
				j++;
			if (*len + (j - i) > SMTP_LINE_TEXT) {
				*lstate = SMTP_L_SKIP;
				*len = 0;
			} else {
				memcpy(buf + *len, p + i, j - i);
				*len = (uint16_t)(*len + (j - i));
			}
			if ((i = j) == n)
				break;
		}
		ch = p[i++];

		switch (*lstate) {
		case SMTP_L_TEXT:
			if (ch == '\r')
				*lstate = SMTP_L_CR;
			else if (ch == '\n') {
				*ev = SMTP_LINE_BARE_LF;
				return i;
			} else
				append(lstate, buf, len, (char)ch);
			break;
		case SMTP_L_CR:
			if (ch == '\n') {
				*lstate = SMTP_L_TEXT;
				*ev = SMTP_LINE_DONE;
				return i;
			}
			/* a bare CR: a byte of the line; then look at ch again */
			*lstate = SMTP_L_TEXT;
			append(lstate, buf, len, '\r');
			i--;
			break;
		case SMTP_L_SKIP:
			if (ch == '\r')
				*lstate = SMTP_L_SKIP_CR;
			else if (ch == '\n') {
				*ev = SMTP_LINE_BARE_LF;
				return i;
			}
			break;
		case SMTP_L_SKIP_CR:
			if (ch == '\n') {
				*lstate = SMTP_L_TEXT;
				*ev = SMTP_LINE_LONG;
				return i;
			}
			if (ch != '\r')
				*lstate = SMTP_L_SKIP;
			break;
		default:
			smtp_panic("line state %u", *lstate);
		}
	}
	return i;
}

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
static size_t
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
static size_t
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

/* smtp_line_whole - a whole line at the start of p[0..n), from a line
 * boundary (SMTP_L_TEXT, nothing kept): as smtp_line_scan would read it */
size_t
smtp_line_whole(const unsigned char *p, size_t n, char *buf, uint16_t *len, bool *plain,
                enum smtp_line_ev *ev)
{
	size_t lim = n < SMTP_LINE_MAX ? n : SMTP_LINE_MAX;
	size_t j = first_unplain(p, lim, buf);
	const unsigned char *lf;

	if (j == lim)
		return 0; /* no end in sight (or over the limit): the state machine */
	if (p[j] == '\r' && j + 1 < n && p[j + 1] == '\n') {
		if (j > SMTP_LINE_TEXT)
			return 0;
		*len = (uint16_t)j;
		*plain = true;
		*ev = SMTP_LINE_DONE;
		return j + 2;
	}
	/* a byte no command has, a bare CR, or the end of the line at the
	 * input's end: where the LF is decides */
	if ((lf = memchr(p + j, '\n', lim - j)) == NULL)
		return 0;
	*plain = false;
	if (lf == p || lf[-1] != '\r') {
		*len = 0;
		*ev = SMTP_LINE_BARE_LF;
		return (size_t)(lf - p) + 1;
	}
	if ((size_t)(lf - p) - 1 > SMTP_LINE_TEXT)
		return 0;
	*len = (uint16_t)(lf - p - 1);
	memcpy(buf, p, *len);
	*ev = SMTP_LINE_DONE;
	return (size_t)(lf - p) + 1;
}
