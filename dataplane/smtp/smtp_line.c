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

#include "smtp_impl.h"
#include "smtp_scan.h"

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
