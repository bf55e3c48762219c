/* fuzz_relay - the relay's protocol pieces on arbitrary bytes in arbitrary cuts
 *
 * Mode 0, the backend's reply parser (relay_rp_feed): the input is parsed
 * whole and cut at input-chosen points; both must give the same replies
 * and stop at the same byte with the same error. Every reply is checked
 * against the parser's contract (code 200..559, 1..100 lines, text length).
 *
 * Mode 1, the DATA scanner (relay_ds_scan): the input, as client bytes
 * after DATA, scanned whole and cut; both must forward the same bytes and
 * report the same events at the same stream offsets. The forwarded bytes
 * must be the input verbatim, hold no bare CR or LF and no end of data
 * before the message's end (what the backend sees ends where the gate
 * saw the end), and the size at the end must be RFC 1870's.
 *
 * Mode 2, the hand-off headers: XCLIENT commands from input-chosen names,
 * and PROXY v1/v2 headers from input-chosen addresses, within their limits.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "relay_proto.h"

#define MAX_CUTS   32
#define MAX_EVENTS 4096

/* ---- mode 0: replies ---- */

struct rp_rec {
	uint16_t code, nlines, text_len;
	uint8_t multiline;
	uint32_t ext, xclient;
	uint64_t size;
	char text[RELAY_LINE_MAX];
};

struct rp_run {
	struct rp_rec *r;
	size_t n;
	int err;     /* relay_rp_err at the end */
	size_t stop; /* input offset where parsing ended (error) or len */
};

/* rp_take - check one reply against the contract and keep it */
static void
rp_take(struct rp_run *run, const struct relay_reply *r)
{
	struct rp_rec *k;

	fz_check(r->code >= 200 && r->code <= 559, "code %u", r->code);
	fz_check(r->nlines >= 1 && r->nlines <= RELAY_REPLY_LINES_MAX, "nlines %u", r->nlines);
	fz_check(r->multiline == (r->nlines > 1), "multiline %u nlines %u", r->multiline,
	         r->nlines);
	fz_check(r->text != NULL && strlen(r->text) == r->text_len, "text_len %u", r->text_len);
	fz_check(r->text_len <= RELAY_LINE_TEXT - 4, "text_len %u", r->text_len);
	for (size_t i = 0; i < r->text_len; i++)
		fz_check((unsigned char)r->text[i] >= ' ' || r->text[i] == '\t',
		         "control byte %02x in reply text", (unsigned char)r->text[i]);
	if (run->n == MAX_EVENTS)
		return;
	k = &run->r[run->n++];
	k->code = r->code;
	k->nlines = r->nlines;
	k->text_len = r->text_len;
	k->multiline = r->multiline;
	k->ext = r->ext;
	k->xclient = r->xclient;
	k->size = r->size;
	memcpy(k->text, r->text, r->text_len + 1);
}

/* rp_piece - feed one piece; false once the parser stopped */
static bool
rp_piece(struct relay_rp *p, struct rp_run *run, const uint8_t *d, size_t len, size_t base)
{
	size_t at = 0;

	for (;;) {
		struct relay_reply r;
		size_t used = (size_t)-1;
		enum relay_rp_ev ev = relay_rp_feed(p, d + at, len - at, &used, &r);

		fz_check(used <= len - at, "used %zu of %zu", used, len - at);
		switch (ev) {
		case RELAY_RP_MORE:
			fz_check(used == len - at, "MORE took %zu of %zu", used, len - at);
			fz_check(relay_rp_error(p) == RELAY_RP_E_NONE, "MORE with an error");
			return true;
		case RELAY_RP_REPLY:
			fz_check(used > 0, "an empty reply");
			fz_check(d[at + used - 1] == '\n', "a reply that does not end at LF");
			rp_take(run, &r);
			at += used;
			if (at == len)
				return true;
			break;
		case RELAY_RP_ERROR:
			run->err = relay_rp_error(p);
			fz_check(run->err > RELAY_RP_E_NONE && run->err < RELAY_RP_E_COUNT,
			         "error %d", run->err);
			run->stop = base + at + used;
			/* sticky, and takes nothing more */
			ev = relay_rp_feed(p, d, len, &used, &r);
			fz_check(ev == RELAY_RP_ERROR && used == 0, "error not sticky");
			return false;
		default:
			fz_check(0, "event %d", ev);
		}
	}
}

static void
rp_compare(const struct rp_run *a, const struct rp_run *b)
{
	fz_check(a->n == b->n, "%zu replies whole, %zu cut", a->n, b->n);
	fz_check(a->err == b->err, "error %d whole, %d cut", a->err, b->err);
	fz_check(a->stop == b->stop, "stopped at %zu whole, %zu cut", a->stop, b->stop);
	for (size_t i = 0; i < a->n; i++) {
		const struct rp_rec *x = &a->r[i], *y = &b->r[i];

		fz_check(x->code == y->code && x->nlines == y->nlines &&
		                 x->text_len == y->text_len && x->ext == y->ext &&
		                 x->xclient == y->xclient && x->size == y->size &&
		                 memcmp(x->text, y->text, x->text_len) == 0,
		         "reply %zu differs: %u/%u \"%s\" vs %u/%u \"%s\"", i, x->code, x->nlines,
		         x->text, y->code, y->nlines, y->text);
	}
}

static void
fuzz_replies(const uint8_t *d, size_t len, const size_t *cuts, unsigned ncuts)
{
	static struct rp_rec ra[MAX_EVENTS], rb[MAX_EVENTS];
	struct rp_run whole = {ra, 0, 0, len}, cut = {rb, 0, 0, len};
	struct relay_rp p;
	size_t at = 0;

	relay_rp_init(&p);
	rp_piece(&p, &whole, d, len, 0);
	relay_rp_init(&p);
	for (unsigned i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		if (!rp_piece(&p, &cut, d + at, end - at, at))
			break;
		at = end;
	}
	rp_compare(&whole, &cut);
}

/* ---- mode 1: the DATA stream ---- */

struct ds_ev {
	int ev;
	size_t off; /* stream offset */
};

struct ds_run {
	struct ds_ev *e;
	size_t n;
	uint8_t *fwd; /* every forwarded byte, messages one after the other */
	size_t fwd_len;
	size_t msg;     /* stream offset where the current message starts */
	size_t msg_fwd; /* fwd_len at its start */
	bool over;      /* TOO_BIG reported in this message */
	bool stopped;
	struct relay_ds d;
	uint64_t limit;
};

static void
ds_event(struct ds_run *run, int ev, size_t off)
{
	if (run->n < MAX_EVENTS)
		run->e[run->n++] = (struct ds_ev){ev, off};
}

/* ds_message_check - the forwarded bytes of one message, against the input */
static void
ds_message_check(const struct ds_run *run, const uint8_t *in, bool end)
{
	const uint8_t *f = run->fwd + run->msg_fwd;
	size_t n = run->fwd_len - run->msg_fwd, dots = 0;

	fz_check(memcmp(f, in + run->msg, n) == 0, "forwarded bytes are not the input's");
	fz_check(n == run->d.clean, "forwarded %zu, clean %llu", n,
	         (unsigned long long)run->d.clean);
	for (size_t i = 0; i < n; i++) {
		if (f[i] == '\r')
			fz_check(i + 1 < n && f[i + 1] == '\n', "bare CR forwarded at %zu", i);
		if (f[i] == '\n')
			fz_check(i > 0 && f[i - 1] == '\r', "bare LF forwarded at %zu", i);
		if ((i == 0 || (i >= 2 && f[i - 1] == '\n')) && f[i] == '.') {
			dots++;
			/* "." CRLF at a line start is the end: only as the last 3 bytes */
			if (i + 2 < n && f[i + 1] == '\r' && f[i + 2] == '\n')
				fz_check(end && i + 3 == n,
				         "an end of data inside the message at %zu", i);
		}
	}
	if (end) {
		fz_check(n >= 3 && memcmp(f + n - 3, ".\r\n", 3) == 0 &&
		                 (n == 3 || f[n - 4] == '\n'),
		         "the message does not end with CRLF.CRLF");
		fz_check(run->d.size == n - dots - 2, "size %llu, want %zu",
		         (unsigned long long)run->d.size, n - dots - 2);
		fz_check(run->limit == 0 || run->d.size <= run->limit || run->over,
		         "size %llu over limit %llu, not reported", (unsigned long long)run->d.size,
		         (unsigned long long)run->limit);
	}
}

/* ds_piece - scan one piece; false once the stream is bad */
static bool
ds_piece(struct ds_run *run, const uint8_t *in, size_t base, size_t len)
{
	size_t at = 0;

	while (at < len) {
		struct relay_ds_step st;
		enum relay_ds_ev ev = relay_ds_scan(&run->d, in + base + at, len - at, &st);

		fz_check(st.used <= len - at && st.fwd <= st.used && st.cr <= 1,
		         "used %zu fwd %zu cr %u of %zu", st.used, st.fwd, st.cr, len - at);
		if (st.cr)
			run->fwd[run->fwd_len++] = '\r';
		memcpy(run->fwd + run->fwd_len, in + base + at, st.fwd);
		run->fwd_len += st.fwd;
		at += st.used;
		switch (ev) {
		case RELAY_DS_MORE:
			fz_check(at == len, "MORE before the end of the input");
			break;
		case RELAY_DS_END:
			ds_event(run, ev, base + at);
			ds_message_check(run, in, true);
			relay_ds_init(&run->d, run->limit);
			run->msg = base + at;
			run->msg_fwd = run->fwd_len;
			run->over = false;
			break;
		case RELAY_DS_TOO_BIG:
			fz_check(!run->over, "TOO_BIG twice in one message");
			fz_check(at < len, "TOO_BIG past the input");
			fz_check(run->d.size <= run->limit, "size %llu over limit at TOO_BIG",
			         (unsigned long long)run->d.size);
			run->over = true;
			ds_event(run, ev, base + at);
			break;
		case RELAY_DS_BARE_LF:
		case RELAY_DS_BARE_CR:
			fz_check(st.used == st.fwd, "a bare newline with used %zu fwd %zu", st.used,
			         st.fwd);
			ds_event(run, ev, run->msg + run->d.clean);
			ds_message_check(run, in, false);
			/* sticky */
			fz_check(relay_ds_scan(&run->d, in, len, &st) == ev && st.used == 0 &&
			                 st.fwd == 0,
			         "bare newline not sticky");
			run->stopped = true;
			return false;
		default:
			fz_check(0, "event %d", ev);
		}
	}
	return true;
}

static void
fuzz_data(const uint8_t *d, size_t len, const size_t *cuts, unsigned ncuts, uint64_t limit)
{
	static struct ds_ev ea[MAX_EVENTS], eb[MAX_EVENTS];
	struct ds_run whole = {.e = ea, .limit = limit}, cut = {.e = eb, .limit = limit};
	size_t at = 0;

	whole.fwd = malloc(len + 1);
	cut.fwd = malloc(len + 1);
	relay_ds_init(&whole.d, limit);
	relay_ds_init(&cut.d, limit);
	if (ds_piece(&whole, d, 0, len))
		ds_message_check(&whole, d, false);
	for (unsigned i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		if (!ds_piece(&cut, d, at, end - at))
			break;
		at = end;
	}
	if (!cut.stopped)
		ds_message_check(&cut, d, false);
	fz_check(whole.n == cut.n, "%zu events whole, %zu cut", whole.n, cut.n);
	for (size_t i = 0; i < whole.n; i++)
		fz_check(ea[i].ev == eb[i].ev && ea[i].off == eb[i].off,
		         "event %zu: %s at %zu whole, %s at %zu cut", i, relay_ds_ev_name(ea[i].ev),
		         ea[i].off, relay_ds_ev_name(eb[i].ev), eb[i].off);
	fz_check(whole.fwd_len == cut.fwd_len && memcmp(whole.fwd, cut.fwd, cut.fwd_len) == 0,
	         "forwarded %zu bytes whole, %zu cut", whole.fwd_len, cut.fwd_len);
	fz_check(whole.d.size == cut.d.size, "size differs");
	free(whole.fwd);
	free(cut.fwd);
}

/* ---- mode 2: hand-off headers ---- */

/* name - a NUL-terminated string of input bytes (NULL for length byte 0) */
static const char *
name(struct fz_in *in, char *buf, size_t cap)
{
	size_t n = fz_u16(in) % cap, got;
	const uint8_t *p;

	if (n == 0)
		return NULL;
	p = fz_take(in, n - 1, &got);
	memcpy(buf, p, got);
	buf[got] = '\0';
	return buf;
}

static void
addr(struct fz_in *in, struct relay_addr *a)
{
	uint8_t b = fz_u8(in);

	memset(a, 0, sizeof(*a));
	a->family = b & 1 ? 6 : 4;
	if (b & 2)
		a->family = b & 4 ? 0 : 5; /* nonsense families must be refused */
	for (int i = 0; i < 16; i++)
		a->addr[i] = fz_u8(in);
	a->port = fz_u16(in);
}

static void
fuzz_handoff(struct fz_in *in)
{
	char nm[600], rn[600], helo[600], login[600], buf[RELAY_LINE_MAX + 8];
	struct relay_ident id;
	uint32_t attrs = fz_u16(in);
	unsigned step = 0;
	int len, cmds = 0;

	memset(&id, 0, sizeof(id));
	addr(in, &id.client);
	addr(in, &id.local);
	id.esmtp = fz_u8(in) & 1;
	id.name = name(in, nm, sizeof(nm));
	id.reverse_name = name(in, rn, sizeof(rn));
	id.helo = name(in, helo, sizeof(helo));
	id.login = name(in, login, sizeof(login));
	while ((len = relay_xclient(buf, RELAY_LINE_MAX, &id, attrs, &step)) > 0) {
		fz_check(len <= RELAY_LINE_MAX, "XCLIENT of %d bytes", len);
		fz_check(memcmp(buf, "XCLIENT", 7) == 0 && buf[len - 2] == '\r' &&
		                 buf[len - 1] == '\n',
		         "not an XCLIENT command line");
		for (int i = 0; i < len - 2; i++)
			fz_check(buf[i] >= ' ' && buf[i] < 0x7f, "byte %02x in XCLIENT",
			         (unsigned char)buf[i]);
		fz_check(++cmds <= 16, "XCLIENT does not end");
	}
	len = relay_proxy_v1(buf, sizeof(buf), (fz_u8(in) & 1) ? NULL : &id.client, &id.local);
	fz_check(len <= RELAY_PROXY_V1_MAX, "PROXY v1 of %d bytes", len);
	if (len > 0)
		fz_check(memcmp(buf, "PROXY ", 6) == 0 && buf[len - 1] == '\n',
		         "bad PROXY v1 line");
	len = relay_proxy_v2(buf, sizeof(buf), (fz_u8(in) & 1) ? NULL : &id.client, &id.local);
	fz_check(len <= RELAY_PROXY_V2_MAX, "PROXY v2 of %d bytes", len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in;
	size_t cuts[MAX_CUTS], len, at = 0;
	unsigned mode, ncuts = 0, want;
	uint64_t limit = 0;
	const uint8_t *d;

	fz_init(&in, data, size);
	mode = fz_u8(&in) % 3;
	if (mode == 2) {
		fuzz_handoff(&in);
		return 0;
	}
	if (mode == 1)
		limit = fz_u16(&in);
	/* cut lengths: a byte each, at most MAX_CUTS, then the rest is the stream */
	want = fz_u8(&in) % (MAX_CUTS + 1);
	for (unsigned i = 0; i < want; i++) {
		size_t step = fz_u8(&in);

		cuts[ncuts++] = step;
	}
	d = fz_take(&in, in.len, &len);
	for (unsigned i = 0; i < ncuts; i++) {
		at += cuts[i];
		cuts[i] = at < len ? at : len;
	}
	if (mode == 0)
		fuzz_replies(d, len, cuts, ncuts);
	else
		fuzz_data(d, len, cuts, ncuts, limit);
	return 0;
}
