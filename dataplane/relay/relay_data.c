/* relay_data - the client's DATA stream: where the message ends, and whether it is clean
 *
 * The gate and the backend must agree on where a message ends, or a client
 * can hide a second message inside the first (SMTP smuggling). RFC 5321
 * 4.1.1.4: the end of data is CRLF "." CRLF, and 2.3.8: nothing but CRLF
 * ends a line. Backends differ in what else they accept (bare LF, "\n.\n",
 * "\r.\r"), so the gate forwards none of it: like Postfix's
 * smtpd_forbid_bare_newline, any LF not preceded by CR and any CR not
 * followed by LF is a violation; the relay refuses the message
 * ("521 5.5.2 HOST Error: bare <LF> received") and disconnects. The backend
 * then only ever sees CR and LF in CRLF pairs, where every MTA agrees.
 *
 * The violation must be caught before its first byte is forwarded. A bare
 * LF is known at its own byte; a bare CR only at the byte after it, which
 * may come in the next segment: so a CR is held (taken, not forwarded)
 * until its successor arrives, and released with it.
 *
 * Untrusted input: every byte. The scanner reads one byte class at a time
 * through the table below, with a fast path over runs of plain text.
 *
 * States: BOL at a line start (the stream starts here: the CRLF of the
 * DATA command line precedes it); TEXT inside a line; CR after a CR inside
 * or at the start of a line (held); DOT after a "." at a line start; DOTCR
 * after "." CR at a line start (held).
 *
 *   state \ byte | CR            | LF            | '.'          | other
 *   -------------+---------------+---------------+--------------+-------------
 *   BOL          | CR    hold    | BAD   bare_lf | DOT   pass0  | TEXT  pass1
 *   TEXT         | CR    hold    | BAD   bare_lf | TEXT  pass1  | TEXT  pass1
 *   CR           | BAD   bare_cr | BOL   crlf    | BAD   bare_cr| BAD   bare_cr
 *   DOT          | DOTCR hold    | BAD   bare_lf | TEXT  pass1  | TEXT  pass1
 *   DOTCR        | BAD   bare_cr | END   end     | BAD   bare_cr| BAD   bare_cr
 *
 * Actions: pass0 forward the byte, size +0 (a line's first dot is removed
 * by unstuffing, RFC 5321 4.5.2, or is the end mark's); pass1 forward, size
 * +1; hold take the CR without forwarding it; crlf forward the held CR and
 * this LF, size +2; end forward the held CR and this LF, the message is
 * over; bare_lf the violation starts at this byte; bare_cr it starts at the
 * held CR. END and BAD are final. NUL and 8-bit bytes are "other": they do
 * not touch the framing, and the backend decides about them.
 *
 * Size: RFC 1870's, the message as the backend stores it: CRLF counted,
 * stuffing dots and the final "." CRLF not. A limit stops the scan once at
 * the first byte that passes it (RELAY_DS_TOO_BIG), so the relay knows
 * exactly what it forwarded within the limit; then the scan goes on to
 * find the end of data, as Postfix reads the rest before its 552.
 */
#include <string.h>

#include "relay_proto.h"

enum relay_ds_state { DS_BOL, DS_TEXT, DS_CR, DS_DOT, DS_DOTCR, DS_END, DS_BAD_LF, DS_BAD_CR };

enum ds_class { C_CR, C_LF, C_DOT, C_OTHER, C_COUNT };

enum ds_act { A_HOLD, A_PASS0, A_PASS1, A_CRLF, A_END, A_BARE_LF, A_BARE_CR };

struct ds_cell {
	uint8_t next; /* enum relay_ds_state */
	uint8_t act;  /* enum ds_act */
};

#define DS_NLIVE DS_END /* states with a row: the others are final */

/* The table of the header comment, cell for cell: C(next state, action). */
/* clang-format off */
#define C(s, a) {DS_##s, A_##a}
static const struct ds_cell ds_table[DS_NLIVE][C_COUNT] = {
	/*            CR                  LF                  '.'                 other */
	[DS_BOL]   = {C(CR, HOLD),        C(BAD_LF, BARE_LF), C(DOT, PASS0),      C(TEXT, PASS1)},
	[DS_TEXT]  = {C(CR, HOLD),        C(BAD_LF, BARE_LF), C(TEXT, PASS1),     C(TEXT, PASS1)},
	[DS_CR]    = {C(BAD_CR, BARE_CR), C(BOL, CRLF),       C(BAD_CR, BARE_CR), C(BAD_CR, BARE_CR)},
	[DS_DOT]   = {C(DOTCR, HOLD),     C(BAD_LF, BARE_LF), C(TEXT, PASS1),     C(TEXT, PASS1)},
	[DS_DOTCR] = {C(BAD_CR, BARE_CR), C(END, END),        C(BAD_CR, BARE_CR), C(BAD_CR, BARE_CR)},
};
/* clang-format on */
#undef C

/* byte_class - CR, LF, '.' or other */
static inline enum ds_class
byte_class(unsigned char ch)
{
	switch (ch) {
	case '\r':
		return C_CR;
	case '\n':
		return C_LF;
	case '.':
		return C_DOT;
	default:
		return C_OTHER;
	}
}

/* relay_ds_init - a new message, at a line start */
void
relay_ds_init(struct relay_ds *d, uint64_t limit)
{
	d->size = 0;
	d->limit = limit;
	d->clean = 0;
	d->state = DS_BOL;
	d->over = 0;
}

/* final_ev - the sticky event of a final state */
static enum relay_ds_ev
final_ev(uint8_t state)
{
	switch (state) {
	case DS_END:
		return RELAY_DS_END;
	case DS_BAD_LF:
		return RELAY_DS_BARE_LF;
	default:
		return RELAY_DS_BARE_CR;
	}
}

/* room - how many more size units fit under the limit (UINT64_MAX: no limit or passed) */
static inline uint64_t
room(const struct relay_ds *d)
{
	if (d->limit == 0 || d->over)
		return UINT64_MAX;
	return d->size >= d->limit ? 0 : d->limit - d->size;
}

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* has_crlf - whether any byte of the 8 in w is CR or LF (the classic zero-byte test) */
static inline uint64_t
has_crlf(uint64_t w)
{
	uint64_t r = w ^ (ONES * '\r'), l = w ^ (ONES * '\n');

	return ((r - ONES) & ~r & HIGHS) | ((l - ONES) & ~l & HIGHS);
}

/* text_run - the fast path: plain bytes from i in a line, at most max of
 * them; returns where the run stops. Eight bytes at a time while none of
 * them is CR or LF, then byte by byte. */
static inline size_t
text_run(const unsigned char *p, size_t i, size_t n, uint64_t max)
{
	size_t end = n - i > max ? i + (size_t)max : n;

	while (end - i >= 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (has_crlf(w))
			break;
		i += 8;
	}
	while (i < end && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

/* clean_upto - input bytes before i that are clean: a CR held at i - 1 is not yet */
static inline size_t
clean_upto(const struct relay_ds *d, size_t i)
{
	return (d->state == DS_CR || d->state == DS_DOTCR) && i > 0 ? i - 1 : i;
}

/* relay_ds_scan - scan bytes of the message up to the first event */
enum relay_ds_ev
relay_ds_scan(struct relay_ds *d, const void *data, size_t len, struct relay_ds_step *st)
{
	const unsigned char *p = data;
	uint8_t held = d->state == DS_CR || d->state == DS_DOTCR;
	size_t i = 0;

	st->used = st->fwd = 0;
	st->cr = 0;
	if (d->state >= DS_NLIVE)
		return final_ev(d->state);

	while (i < len) {
		const struct ds_cell *c;
		uint64_t add;

		if (d->state == DS_TEXT) {
			size_t j = text_run(p, i, len, room(d));

			d->size += j - i;
			i = j;
			if (i == len)
				break;
		}
		c = &ds_table[d->state][byte_class(p[i])];
		add = c->act == A_PASS1 ? 1 : c->act == A_CRLF ? 2 : 0;
		if (add > room(d)) {
			/* the limit passes at this byte: stop before it, once */
			d->over = 1;
			st->used = i;
			st->fwd = clean_upto(d, i);
			d->clean += st->cr + st->fwd;
			return RELAY_DS_TOO_BIG;
		}
		switch (c->act) {
		case A_HOLD:
			break;
		case A_BARE_LF:
		case A_BARE_CR:
			/* nothing from the violation on: a held CR is dropped */
			st->used = st->fwd = clean_upto(d, i);
			d->clean += st->cr + st->fwd;
			d->state = c->next;
			return final_ev(d->state);
		case A_CRLF:
		case A_END:
			if (held && i == 0)
				st->cr = 1; /* the CR came in the last call */
			break;
		default:
			break;
		}
		d->size += add;
		d->state = c->next;
		i++;
		if (c->next == DS_END) {
			st->used = st->fwd = i;
			d->clean += st->cr + st->fwd;
			return RELAY_DS_END;
		}
	}
	st->used = len;
	/* a CR at the very end is held; it is released with its LF next time */
	st->fwd = clean_upto(d, len);
	d->clean += st->cr + st->fwd;
	return RELAY_DS_MORE;
}
