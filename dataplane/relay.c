/* relay - accepted transactions go on to the backend MTA (see relay.h)
 *
 * One struct relay per session that reached the backend, from a per-lcore
 * pool, on the backend flow's application pointer and the session's relay
 * pointer. The engine waits for one answer at a time, so the relay has at
 * most one request of the client's in flight (r->want), plus a RSET it
 * owes the backend after a transaction that ended without a message.
 *
 * The backend conversation, one state per reply awaited:
 *
 *   CONNECTING  --connected-->  [PROXY header]  GREETING
 *   GREETING    --220-->        EHLO (ours; the client's HELO name without XCLIENT)
 *   EHLO        --250-->        XCLIENT --220--> EHLO2 --250--> READY   (xclient)
 *                               READY                                  (proxy, none)
 *               --250, tls-->   STARTTLS --220--> TLS (handshake) --done--> EHLO
 *                               (then as above, every byte inside TLS;
 *                               relay_tls.c decides, a TLS failure is a 4xx)
 *   READY       request         MAIL --2xx--> RCPT --reply--> READY    (a recipient)
 *                               DATA --354--> BODY --end of data--> DOT --reply--> READY
 *                               RSET --250--> READY
 *   any         timeout, close, bad reply: the backend is dropped (RST); a
 *               request in flight gets 451 4.4.1, a message in flight is
 *               read to its end and then refused with 451 4.4.1.
 *
 * Everything runs on the lcore that owns both flows: the backend flow's
 * local port is picked so that its packets hash back here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lcore.h"
#include "net/ip4.h"
#include "net/ip6.h"
#include "relay.h"
#include "tls.h"
#include "sess.h"

enum r_state {
	R_DOWN, /* no backend connection */
	R_CONNECTING,
	R_GREETING,
	R_EHLO,
	R_STARTTLS, /* our STARTTLS's reply is awaited */
	R_TLS,      /* the handshake with the backend is going on */
	R_XCLIENT,
	R_EHLO2,
	R_READY,
	R_MAIL,
	R_RCPT,
	R_DATA,
	R_BODY,
	R_DOT,
	R_RSET,
	R_QUIT,
};

enum r_want {
	W_NONE,
	W_RCPT, /* the engine waits for the reply to a recipient */
	W_DATA, /* ... to DATA */
};

struct relay {
	struct lcore_conf *lc;
	struct smtp_session *ss; /* NULL once the session ended */
	struct tcp_flow *client; /* NULL once the session ended */
	struct tcp_flow *backend;
	uint8_t state; /* enum r_state */
	uint8_t want;  /* enum r_want */
	bool txn;      /* the backend accepted our MAIL FROM */
	bool rset;     /* a RSET is owed to the backend */
	bool discard;  /* read the message to its end, then refuse it with discard_reply */
	bool xclient;  /* the backend offered XCLIENT */
	bool lost;     /* the backend failed after accepting recipients of this transaction */
	bool at_data;  /* the service connects at DATA: recipients wait in the stash */
	uint8_t bk;    /* the backend's index in the policy */
	uint8_t tries; /* backends tried for this connection */
	uint8_t handoff;
	uint16_t rcpt_len;
	unsigned xc_step;  /* XCLIENT commands sent */
	uint32_t xc_attrs; /* XCLIENT attributes the backend offers */
	const char *discard_reply;
	char *stash, *stash_tail; /* at_data: chunks of NUL-ended recipients, linked by their first
	                             8 bytes */
	char *replay;             /* the chunk of the next recipient to replay, or NULL */
	uint16_t replay_off;
	uint32_t nstash, nrefused; /* recipients stashed; refused by the backend at replay */
	char *refusal;             /* a chunk: the backend's first refusal of a stashed recipient */
	struct relay_rp rp;
	struct relay_ds ds;
	struct tls_conn *tls;     /* the backend leg's TLS from our STARTTLS on, or NULL */
	struct relay_tls ts;      /* what the backend leg's TLS does next */
	uint32_t ehlo_ext;        /* the keywords of the backend's last EHLO reply */
	char rcpt[SMTP_LINE_MAX]; /* the recipient asked about */
};

_Static_assert((int)POL_BTLS_VERIFY == (int)RELAY_TLS_VERIFY &&
                       (int)POL_BTLS_MAY == (int)RELAY_TLS_MAY,
               "pol_backend_tls in relay_tls_level's order");

/* ---- small things ---- */

static const struct pol_snapshot *
snap_of(const struct relay *r)
{
	return pol_live(r->lc->pol);
}

static struct relay_lcore *
rl_of(const struct relay *r)
{
	return &r->lc->relay;
}

/* client_name - "unknown[ADDR]" of the relay's session */
static const char *
client_name(const struct relay *r, char *buf, size_t size)
{
	return r->ss != NULL ? pol_client_name(&r->ss->client, buf, size) : "unknown";
}

/* tls_flush - move the backend TLS's ciphertext to TCP as far as the send
 * space allows; the rest goes when it frees (b_sent) */
static void
tls_flush(struct relay *r)
{
	const void *p;
	size_t n;

	if (r->tls == NULL || r->backend == NULL)
		return;
	n = tls_conn_out_data(r->tls, &p);
	if (n > 0)
		tls_conn_out_drop(r->tls, tcp_send(r->backend, p, n));
	if (tls_conn_out(r->tls) > 0)
		tcp_send_wait(r->backend);
}

/* bsend - bytes to the backend, through TLS once it is up; false when they
 * did not all go (plaintext: no room) */
static bool
bsend(struct relay *r, const void *p, size_t n)
{
	if (r->tls == NULL)
		return tcp_send(r->backend, p, n) == n;
	if (tls_conn_write(r->tls, p, n) < 0)
		return false;
	tls_flush(r);
	return true;
}

/* bspace - how many message bytes may go to the backend now: TCP's send
 * space, less TLS's record overhead and the ciphertext still waiting */
static size_t
bspace(struct relay *r)
{
	size_t space = tcp_send_space(r->backend), over;

	if (r->tls == NULL)
		return space;
	tls_flush(r);
	if (tls_conn_out(r->tls) > 0)
		return 0; /* the last write is not all in TCP yet */
	space = tcp_send_space(r->backend);
	over = (space / 16384 + 2) * TLS_OVERHEAD;
	return space > over ? space - over : 0;
}

/* sendf - a command line to the backend; false when it did not fit (a
 * backend that reads nothing: the caller fails it) */
__attribute__((format(printf, 2, 3))) static bool
sendf(struct relay *r, const char *fmt, ...)
{
	char line[SMTP_LINE_MAX * 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return false;
	return bsend(r, line, (size_t)n);
}

/* arm - the backend must answer within ms */
static void
arm(struct relay *r, uint32_t ms)
{
	if (r->backend != NULL)
		tcp_set_deadline(r->backend, r->lc->now + ms);
}

/* reply_ms - how long a backend may take to answer a command: about as
 * long as the service gives its clients */
static uint32_t
reply_ms(const struct relay *r)
{
	const struct pol_service *svc =
	        r->ss != NULL ? pol_service_by_port(snap_of(r), r->ss->port) : NULL;

	/* a little less, so that the client hears our 451, not the 421 of its own timeout */
	return svc != NULL ? svc->command_timeout_ms / 5 * 4 : 240000;
}

static void
relay_free(struct relay *r)
{
	tls_conn_free(r->tls);
	r->tls = NULL;
	rl_of(r)->live--;
	chunk_put(&rl_of(r)->pool, r);
}

/* answer - give the engine its answer (the backend's reply line, or ours) */
static void
answer(struct relay *r, const char *reply, bool end)
{
	r->want = W_NONE;
	if (r->client != NULL)
		sess_answer(r->lc, r->client, reply, end);
}

/* drop - forget the backend connection (RST: a message in flight must not
 * be taken for complete) */
static void
drop(struct relay *r)
{
	struct tcp_flow *b = r->backend;

	r->backend = NULL;
	r->state = R_DOWN;
	r->txn = r->rset = false;
	tls_conn_free(r->tls); /* no close_notify: the RST ends it */
	r->tls = NULL;
	if (b != NULL) {
		tcp_flow_set_app(b, NULL);
		tcp_set_deadline(b, 0);
		tcp_abort(b);
	}
}

/* backend_name - "192.0.2.1:25" or "[2001:db8::1]:25" of the relay's backend */
static const char *
backend_name(const struct relay *r, char *buf, size_t size)
{
	const struct pol_backend *b = &pol_snapshot_model(snap_of(r))->backend;
	char a[64];
	struct cidr c;

	if (r->bk >= b->naddr) {
		snprintf(buf, size, "#%u", r->bk);
		return buf;
	}
	c = b->addr[r->bk];
	c.len = c.family == 4 ? 32 : 128;
	cidr_format(&c, a, sizeof(a));
	a[strcspn(a, "/")] = '\0';
	snprintf(buf, size, c.family == 4 ? "%s:%u" : "[%s]:%u", a, b->port[r->bk]);
	return buf;
}

static const char *const unavailable = "451 4.4.1 Error: backend not available, try again later";

/* fail_with - the backend failed: drop it; what the client waits for gets
 * reply, a 4xx */
static void
fail_with(struct relay *r, const char *why, const char *reply)
{
	struct relay_lcore *rl = rl_of(r);
	uint8_t was = r->state;
	char name[80], bname[80];

	if (r->state <= R_GREETING)
		rl->down_until[r->bk] = r->lc->now + RELAY_DOWN_MS;
	logq_printf(&r->lc->log, "warning: relay to backend %s for %s: %s",
	            backend_name(r, bname, sizeof(bname)), client_name(r, name, sizeof(name)), why);
	drop(r);
	if (r->ss == NULL)
		return;
	/* recipients the client was told are accepted are gone with the
	 * backend: nothing more of this transaction may go to another one */
	if (r->ss->nrcpt > 0)
		r->lost = true;
	if (was == R_BODY) {
		/* the client is still sending the message: read it to its end */
		r->discard = true;
		r->discard_reply = reply;
		rl->stats.failures++;
		return;
	}
	if (r->want != W_NONE || was == R_DOT) {
		rl->stats.failures++;
		answer(r, reply, false);
	}
}

/* fail - fail_with the general 4xx */
static void
fail(struct relay *r, const char *why)
{
	fail_with(r, why, unavailable);
}

/* ---- connecting ---- */

/* pick - the next backend in round robin that is not marked down (any, if all are) */
static unsigned
pick(struct relay_lcore *rl, const struct pol_backend *b, uint64_t now)
{
	for (unsigned t = 0; t < b->naddr; t++) {
		unsigned i = (rl->next + t) % b->naddr;

		if (rl->down_until[i] <= now) {
			rl->next = i + 1;
			return i;
		}
	}
	return rl->next++ % b->naddr;
}

/* connect - open a connection to a backend: 0, or -1 (no route, no port) */
static int
connect_backend(struct relay *r)
{
	struct relay_lcore *rl = rl_of(r);
	const struct pol_model *m = pol_snapshot_model(snap_of(r));
	const struct pol_backend *b = &m->backend;
	struct tcp_ip src = {{0}}, dst = {{0}};
	unsigned i = pick(rl, b, r->lc->now);
	uint8_t fam = b->addr[i].family == 4 ? TCP_V4 : TCP_V6;

	r->bk = (uint8_t)i;
	r->handoff = (uint8_t)b->handoff;
	if (fam == TCP_V4) {
		uint32_t d, s;
		unsigned port, nh;

		memcpy(&d, b->addr[i].addr, 4);
		d = rte_be_to_cpu_32(d);
		if (ip4_route(r->lc->gc, d, &port, &nh) < 0 ||
		    ip4_source_for(r->lc->gc, port, d, &s) < 0)
			return -1;
		src = tcp_ip_v4(rte_cpu_to_be_32(s));
		dst = tcp_ip_v4(rte_cpu_to_be_32(d));
	} else {
		memcpy(dst.b, b->addr[i].addr, 16);
		if (ip6_source(r->lc->gc, dst.b, src.b) < 0)
			return -1;
	}
	r->backend = tcp_connect(r->lc->tcp, fam, &src, &dst, b->port[i], rl->app, r, r->lc->now);
	if (r->backend == NULL)
		return -1;
	r->state = R_CONNECTING;
	r->txn = r->rset = r->xclient = false;
	relay_rp_init(&r->rp);
	relay_tls_init(&r->ts, (enum relay_tls_level)b->tls);
	arm(r, b->connect_timeout_ms);
	return 0;
}

/* helo_name - the client's HELO name (the engine keeps it for the session) */
static const char *
helo_name(const struct relay *r)
{
	return r->ss != NULL && r->ss->helo != NULL ? r->ss->helo : "unknown";
}

/* ---- the conversation ---- */

/* ---- recipients stashed until DATA (backend_connect = data) ---- */

/* A stash chunk: the next chunk's pointer, the bytes used, then NUL-ended recipients. */
#define STASH_USED 8
#define STASH_DATA 10

static uint16_t
stash_used_of(const char *c)
{
	uint16_t u;

	memcpy(&u, c + STASH_USED, sizeof(u));
	return u;
}

static char *
stash_link(const char *c)
{
	char *next;

	memcpy(&next, c, sizeof(next));
	return next;
}

static void
stash_free(struct relay *r)
{
	struct chunk_pool *pool = &r->lc->sess.chunks;

	while (r->stash != NULL) {
		char *next = stash_link(r->stash);

		chunk_put(pool, r->stash);
		r->stash = next;
	}
	if (r->refusal != NULL)
		chunk_put(pool, r->refusal);
	r->refusal = r->stash_tail = r->replay = NULL;
	r->nstash = r->nrefused = 0;
}

/* stash_add - keep a recipient for the replay at DATA; -1 when no chunk is left */
static int
stash_add(struct relay *r, const char *rcpt, size_t len)
{
	char *t = r->stash_tail;
	uint16_t used = t != NULL ? stash_used_of(t) : 0;

	if (t == NULL || used + len + 1 > SMTP_CHUNK_SIZE) {
		char *c = chunk_get(&r->lc->sess.chunks), *none = NULL;

		if (c == NULL)
			return -1;
		memcpy(c, &none, sizeof(none));
		if (t != NULL)
			memcpy(t, &c, sizeof(c));
		else
			r->stash = c;
		r->stash_tail = t = c;
		used = STASH_DATA;
	}
	memcpy(t + used, rcpt, len);
	t[used + len] = '\0';
	used = (uint16_t)(used + len + 1);
	memcpy(t + STASH_USED, &used, sizeof(used));
	r->nstash++;
	return 0;
}

/* stash_next - the next stashed recipient into r->rcpt; false when all were replayed */
static bool
stash_next(struct relay *r)
{
	while (r->replay != NULL && r->replay_off >= stash_used_of(r->replay)) {
		r->replay = stash_link(r->replay);
		r->replay_off = STASH_DATA;
	}
	if (r->replay == NULL)
		return false;
	size_t len = strlen(r->replay + r->replay_off);

	memcpy(r->rcpt, r->replay + r->replay_off, len);
	r->rcpt_len = (uint16_t)len;
	r->replay_off = (uint16_t)(r->replay_off + len + 1);
	return true;
}

/* replay_done - every stashed recipient was put to the backend: DATA, or
 * the client's DATA gets the refusal (never a 2xx for a recipient the
 * backend refused after we had accepted it) */
static void
replay_done(struct relay *r)
{
	char reply[SMTP_LINE_MAX];

	if (r->nrefused == 0) {
		if (!sendf(r, "DATA\r\n")) {
			fail(r, "cannot send a command");
			return;
		}
		r->state = R_DATA;
		arm(r, reply_ms(r));
		return;
	}
	if (r->nrefused == r->nstash)
		snprintf(reply, sizeof(reply), "%s",
		         r->refusal != NULL ? r->refusal : "554 5.5.1 Error: no valid recipients");
	else
		snprintf(
		        reply, sizeof(reply),
		        "451 4.3.0 Error: the backend refused %u of %u recipients, try again later",
		        r->nrefused, r->nstash);
	r->rset = true; /* the backend's transaction is open */
	answer(r, reply, false);
}

/* pump - send the next request, when the backend is ready for one */
static void
pump(struct relay *r)
{
	bool sent = true;

	if (r->backend == NULL || r->state != R_READY)
		return;
	if (r->rset) {
		r->rset = false;
		sent = sendf(r, "RSET\r\n");
		r->state = R_RSET;
	} else if (r->want == W_RCPT && !r->txn) {
		sent = sendf(r, "MAIL FROM:<%s>%s\r\n", r->ss->sender != NULL ? r->ss->sender : "",
		             r->ss->flags & SMTP_F_BODY_8BIT ? " BODY=8BITMIME" : "");
		r->state = R_MAIL;
	} else if (r->want == W_RCPT) {
		sent = sendf(r, "RCPT TO:<%.*s>\r\n", (int)r->rcpt_len, r->rcpt);
		r->state = R_RCPT;
	} else if (r->want == W_DATA && r->at_data && !r->txn) {
		sent = sendf(r, "MAIL FROM:<%s>%s\r\n", r->ss->sender != NULL ? r->ss->sender : "",
		             r->ss->flags & SMTP_F_BODY_8BIT ? " BODY=8BITMIME" : "");
		r->state = R_MAIL;
	} else if (r->want == W_DATA && r->at_data && stash_next(r)) {
		sent = sendf(r, "RCPT TO:<%.*s>\r\n", (int)r->rcpt_len, r->rcpt);
		r->state = R_RCPT;
	} else if (r->want == W_DATA && r->at_data) {
		replay_done(r);
		return;
	} else if (r->want == W_DATA) {
		sent = sendf(r, "DATA\r\n");
		r->state = R_DATA;
	} else {
		return;
	}
	if (!sent)
		fail(r, "cannot send a command");
	else
		arm(r, reply_ms(r));
}

/* clean - a backend's reply line as our own reply: printable ASCII only */
static void
clean(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;

	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] >= ' ' && src[i] < 0x7f ? src[i] : '?';
	dst[n] = '\0';
}

/* log_refusal - a backend refusal, as Postfix's smtpd logs a proxy's */
static void
log_reply(struct relay *r, const char *what, const char *stage, const char *reply, const char *rcpt,
          size_t rcpt_len)
{
	char name[80];

	logq_printf(
	        &r->lc->log, "NOQUEUE: %s: %s from %s: %s; from=<%s> to=<%.*s> proto=%s helo=<%s>",
	        what, stage, client_name(r, name, sizeof(name)), reply,
	        r->ss != NULL && r->ss->sender != NULL ? r->ss->sender : "", (int)rcpt_len, rcpt,
	        r->ss != NULL && (r->ss->flags & SMTP_F_ESMTP) ? "ESMTP" : "SMTP", helo_name(r));
}

/* addr_of - one end of the client's connection, for the hand-off */
static struct relay_addr
addr_of(const struct tcp_flow *f, bool remote)
{
	const struct tcp_key *k = tcp_flow_key(f);
	struct relay_addr a = {.family = tcp_flow_family(f) == TCP_V4 ? 4 : 6,
	                       .port = remote ? k->rport : k->lport};

	memcpy(a.addr, remote ? k->raddr.b : k->laddr.b, 16);
	return a;
}

/* handoff_xclient - the next XCLIENT command with the client's identity:
 * 1 sent, 0 none left, -1 failed */
static int
handoff_xclient(struct relay *r)
{
	char cmd[RELAY_LINE_MAX];
	struct relay_ident id = {
	        .client = addr_of(r->client, true),
	        .local = addr_of(r->client, false),
	        .helo = r->ss->helo,
	        .esmtp = (r->ss->flags & SMTP_F_ESMTP) != 0,
	        /* the backend's own relay and sender checks see the login (Postfix: LOGIN=) */
	        .login = (r->ss->flags & SMTP_F_AUTH) ? r->ss->login : NULL,
	};
	int n = relay_xclient(cmd, sizeof(cmd), &id, r->xc_attrs, &r->xc_step);

	if (n <= 0)
		return n;
	return bsend(r, cmd, (size_t)n) ? 1 : -1;
}

/* ---- TLS on the backend leg ---- */

/* tls_result - count how the backend leg's TLS ended, once */
static void
tls_result(struct relay *r)
{
	if (r->ts.result != RELAY_TLS_R_PENDING)
		rl_of(r)->stats.tls[r->ts.result]++;
}

/* tls_fail - the backend leg's TLS failed: the backend is given up with
 * the TLS reason in the log and the reply */
static void
tls_fail(struct relay *r, const char *detail)
{
	char why[256];

	tls_result(r);
	snprintf(why, sizeof(why), "TLS (%s): %s%s%s",
	         relay_tls_level_name((enum relay_tls_level)r->ts.level),
	         relay_tls_result_name((enum relay_tls_result)r->ts.result),
	         detail != NULL ? ": " : "", detail != NULL ? detail : "");
	fail_with(r, why, relay_tls_reply((enum relay_tls_result)r->ts.result));
}

/* peer_name - the name the backend's certificate must carry: tls_server_name,
 * else the backend's address as the policy gives it */
static const char *
peer_name(const struct relay *r, char *buf, size_t size)
{
	const struct pol_backend *b = &pol_snapshot_model(snap_of(r))->backend;
	struct cidr c;

	if (b->tls_server_name[0] != '\0')
		return b->tls_server_name;
	if (r->bk >= b->naddr)
		return "";
	c = b->addr[r->bk];
	c.len = c.family == 4 ? 32 : 128;
	cidr_format(&c, buf, size);
	buf[strcspn(buf, "/")] = '\0';
	return buf;
}

/* tls_begin - the backend said 220 to STARTTLS: our ClientHello */
static void
tls_begin(struct relay *r)
{
	char name[64];

	r->tls = tls_conn_new_client(pol_snapshot_attachment(snap_of(r)),
	                             peer_name(r, name, sizeof(name)));
	if (r->tls == NULL) {
		relay_tls_step(&r->ts, RELAY_TLS_EV_NO_CONN, 0, 0);
		tls_fail(r, "no TLS context or no memory");
		return;
	}
	r->state = R_TLS;
	if (tls_conn_handshake(r->tls) < 0) {
		relay_tls_step(&r->ts, RELAY_TLS_EV_SHAKE_FAIL, 0, 0);
		tls_fail(r, tls_conn_error(r->tls));
		return;
	}
	tls_flush(r);
	arm(r, reply_ms(r));
}

/* cipher_index - the cipher's slot in sess.h's list ("other" last) */
static unsigned
cipher_index(const char *cipher)
{
#define CIPHER_NAME(i, name) [i] = name,
	static const char *const names[SESS_TLS_CIPHERS] = {SESS_TLS_CIPHER_NAMES(CIPHER_NAME)};
#undef CIPHER_NAME
	unsigned c = 0;

	while (c < SESS_TLS_CIPHERS - 1 && strcmp(cipher, names[c]) != 0)
		c++;
	return c;
}

/* tls_up - the handshake completed: count and log it as Postfix's smtp
 * client does, then EHLO again inside TLS (RFC 3207 4.2) */
static void
tls_up(struct relay *r)
{
	struct relay_stats *st = &rl_of(r)->stats;
	const char *version = tls_conn_version(r->tls), *cipher = tls_conn_cipher(r->tls);
	int alg = 0, bits = tls_conn_bits(r->tls, &alg);
	char name[80], bname[80];

	if (strcmp(version, "TLSv1.3") == 0)
		st->tls_v1_3++;
	else if (strcmp(version, "TLSv1.2") == 0)
		st->tls_v1_2++;
	st->tls_cipher[cipher_index(cipher)]++;
	logq_printf(&r->lc->log,
	            "%s TLS connection established to backend %s for %s: %s with cipher %s "
	            "(%d/%d bits)",
	            r->ts.level == RELAY_TLS_VERIFY ? "Verified" : "Untrusted",
	            backend_name(r, bname, sizeof(bname)), client_name(r, name, sizeof(name)),
	            version, cipher, bits, alg);
	relay_tls_step(&r->ts, RELAY_TLS_EV_SHAKEN, 0, 0);
	r->state = R_EHLO;
	if (!sendf(r, "EHLO %s\r\n",
	           r->handoff == POL_HANDOFF_XCLIENT ? pol_snapshot_model(snap_of(r))->hostname
	                                             : helo_name(r))) {
		fail(r, "cannot send EHLO");
		return;
	}
	arm(r, reply_ms(r));
}

/* tls_shake_failed - the handshake failed: a certificate that did not
 * verify, or anything else */
static void
tls_shake_failed(struct relay *r)
{
	const char *cert = r->ts.level == RELAY_TLS_VERIFY ? tls_conn_verify_error(r->tls) : NULL;
	char detail[200];

	if (cert != NULL) {
		relay_tls_step(&r->ts, RELAY_TLS_EV_CERT_FAIL, 0, 0);
		snprintf(detail, sizeof(detail), "server certificate not verified: %s", cert);
	} else {
		relay_tls_step(&r->ts, RELAY_TLS_EV_SHAKE_FAIL, 0, 0);
		snprintf(detail, sizeof(detail), "%s", tls_conn_error(r->tls));
	}
	tls_flush(r); /* our alert, if there is one */
	tls_fail(r, detail);
}

/* ehlo_done - the backend's EHLO reply is taken (and TLS settled): the
 * hand-off by XCLIENT, or ready for the client's requests */
static void
ehlo_done(struct relay *r)
{
	if (r->state != R_EHLO2 && r->handoff == POL_HANDOFF_XCLIENT) {
		if (!(r->ehlo_ext & RELAY_EXT_XCLIENT)) {
			fail(r, "the backend does not offer XCLIENT to us");
			return;
		}
		r->xc_step = 0;
		if (handoff_xclient(r) <= 0) {
			fail(r, "cannot send XCLIENT");
			return;
		}
		r->state = R_XCLIENT;
		arm(r, reply_ms(r));
		return;
	}
	r->state = R_READY;
	pump(r);
}

/* on_reply - one whole reply from the backend, in the state that awaited it */
static void
on_reply(struct relay *r, const struct relay_reply *rr)
{
	struct relay_lcore *rl = rl_of(r);
	unsigned code = rr->code;
	char reply[SMTP_LINE_MAX], text[SMTP_LINE_MAX - 8];

	clean(text, sizeof(text), rr->text, rr->text_len);
	snprintf(reply, sizeof(reply), text[0] != '\0' ? "%u %s" : "%u", code, text);
	tcp_set_deadline(r->backend, 0);
	switch (r->state) {
	case R_GREETING:
		if (code != 220) {
			fail(r, "no 220 greeting");
			return;
		}
		r->state = R_EHLO;
		if (!sendf(r, "EHLO %s\r\n",
		           r->handoff == POL_HANDOFF_XCLIENT
		                   ? pol_snapshot_model(snap_of(r))->hostname
		                   : helo_name(r))) {
			fail(r, "cannot send EHLO");
			return;
		}
		break;
	case R_EHLO:
	case R_EHLO2:
		if (code != 250) {
			fail(r, "EHLO refused");
			return;
		}
		r->ehlo_ext = rr->ext;
		r->xc_attrs = rr->xclient;
		if (r->state == R_EHLO) {
			switch (relay_tls_step(&r->ts, RELAY_TLS_EV_EHLO, code, rr->ext)) {
			case RELAY_TLS_STARTTLS:
				if (!sendf(r, "STARTTLS\r\n")) {
					fail(r, "cannot send STARTTLS");
					return;
				}
				r->state = R_STARTTLS;
				arm(r, reply_ms(r));
				return;
			case RELAY_TLS_GO: /* plaintext as allowed, or EHLO answered inside TLS */
				tls_result(r);
				break;
			default:
				tls_fail(r, NULL);
				return;
			}
		}
		ehlo_done(r);
		return;
	case R_STARTTLS:
		switch (relay_tls_step(&r->ts, RELAY_TLS_EV_REPLY, code, 0)) {
		case RELAY_TLS_HANDSHAKE:
			tls_begin(r);
			return;
		case RELAY_TLS_GO: /* may: refused, on in plaintext */
			tls_result(r);
			ehlo_done(r);
			return;
		default:
			tls_fail(r, reply);
			return;
		}
	case R_XCLIENT:
		if (code != 220) {
			fail(r, "XCLIENT refused");
			return;
		}
		switch (handoff_xclient(r)) {
		case 1: /* the next part of a split XCLIENT */
			arm(r, reply_ms(r));
			return;
		case -1:
			fail(r, "cannot send XCLIENT");
			return;
		}
		rl->stats.handoffs++;
		r->state = R_EHLO2;
		if (!sendf(r, "EHLO %s\r\n", helo_name(r))) {
			fail(r, "cannot send EHLO");
			return;
		}
		break;
	case R_MAIL:
		if (code / 100 == 2) {
			r->txn = true;
			r->state = R_READY;
			pump(r);
			return;
		}
		/* the recipient gets the sender's refusal */
		rl->stats.rcpt_refused++;
		r->state = R_READY;
		log_reply(r, "proxy-reject", "MAIL", reply, r->rcpt, r->rcpt_len);
		answer(r, reply, false);
		return;
	case R_RCPT:
		r->state = R_READY;
		if (code / 100 == 2) {
			rl->stats.rcpt_ok++;
		} else {
			rl->stats.rcpt_refused++;
			log_reply(r, "reject", "RCPT", reply, r->rcpt, r->rcpt_len);
		}
		if (r->want == W_DATA) {
			/* a stashed recipient: the next one, then DATA or the refusal */
			if (code / 100 != 2 && r->nrefused++ == 0 &&
			    (r->refusal = chunk_get(&r->lc->sess.chunks)) != NULL)
				snprintf(r->refusal, SMTP_CHUNK_SIZE, "%s", reply);
			pump(r);
			return;
		}
		answer(r, reply, false);
		return;
	case R_DATA:
		if (code == 354) {
			const struct pol_service *svc =
			        pol_service_by_port(snap_of(r), r->ss->port);

			r->state = R_BODY;
			r->discard = false;
			relay_ds_init(&r->ds, svc != NULL ? svc->message_size_limit : 0);
		} else {
			r->state = R_READY;
			rl->stats.messages_refused++;
		}
		answer(r, reply, false);
		return;
	case R_DOT:
		r->state = R_READY;
		r->txn = false;
		if (code / 100 == 2)
			rl->stats.messages_ok++;
		else
			rl->stats.messages_refused++;
		log_reply(r, code / 100 == 2 ? "proxy-accept" : "proxy-reject", "END-OF-MESSAGE",
		          reply, r->rcpt, r->rcpt_len);
		answer(r, reply, false);
		return;
	case R_RSET:
		if (code != 250) {
			fail(r, "RSET refused");
			return;
		}
		r->txn = false;
		r->state = R_READY;
		pump(r);
		return;
	case R_QUIT:
		return;
	default: {
		fail(r, "a reply nobody asked for");
		return;
	}
	}
	arm(r, reply_ms(r));
}

/* ---- the engine's hooks ---- */

static int
hook_rcpt(void *arg, struct smtp_session *ss, const char *rcpt, size_t len)
{
	struct lcore_conf *lc = arg;
	const struct pol_backend *b = &pol_snapshot_model(pol_live(lc->pol))->backend;
	struct relay *r = ss->relay;

	if (!b->configured || b->naddr == 0)
		return 1;
	if (r == NULL) {
		if ((r = chunk_get(&lc->relay.pool)) == NULL) {
			lc->relay.stats.no_memory++;
			return -1;
		}
		memset(r, 0, offsetof(struct relay, rcpt));
		lc->relay.live++;
		r->lc = lc;
		r->ss = ss;
		r->client = lc->sess.cur;
		ss->relay = r;
	}
	if (r->lost)
		return -1;
	{
		const struct pol_service *svc = pol_service_by_port(pol_live(lc->pol), ss->port);

		r->at_data = svc != NULL && svc->backend_at == POL_BACKEND_AT_DATA;
	}
	if (r->at_data) {
		if (stash_add(r, rcpt, len) < 0) {
			lc->relay.stats.no_memory++;
			return -1;
		}
		return 1; /* accepted here; the backend hears of it at DATA */
	}
	memcpy(r->rcpt, rcpt, len);
	r->rcpt_len = (uint16_t)len;
	r->want = W_RCPT;
	if (r->backend == NULL) {
		r->tries = 0;
		if (connect_backend(r) < 0) {
			r->want = W_NONE;
			lc->relay.stats.connect_failed++;
			return -1;
		}
	}
	pump(r);
	return 0;
}

static int
hook_data(void *arg, struct smtp_session *ss)
{
	struct relay *r = ss->relay;

	(void)arg;
	if (r != NULL && r->at_data && r->nstash > 0 && !r->lost) {
		r->want = W_DATA;
		r->replay = r->stash;
		r->replay_off = STASH_DATA;
		r->nrefused = 0;
		if (r->backend == NULL) {
			r->tries = 0;
			if (connect_backend(r) < 0) {
				r->want = W_NONE;
				r->lc->relay.stats.connect_failed++;
				return -1;
			}
		}
		pump(r);
		return 0;
	}
	if (r == NULL || r->backend == NULL || !r->txn)
		return -1; /* no backend took this transaction (any more) */
	r->want = W_DATA;
	pump(r);
	return 0;
}

static void
hook_reset(void *arg, struct smtp_session *ss)
{
	struct relay *r = ss->relay;

	(void)arg;
	if (r == NULL)
		return;
	r->lost = false;
	stash_free(r);
	if (r->backend == NULL || !r->txn)
		return;
	r->rset = true;
	pump(r);
}

static void
hook_close(void *arg, struct smtp_session *ss)
{
	struct relay *r = ss->relay;

	(void)arg;
	ss->relay = NULL;
	r->ss = NULL;
	r->client = NULL;
	r->want = W_NONE;
	stash_free(r);
	if (r->backend == NULL) {
		relay_free(r);
		return;
	}
	if (r->state == R_READY) {
		/* a clean goodbye; the backend's FIN ends it */
		if (sendf(r, "QUIT\r\n")) {
			r->state = R_QUIT;
			if (r->tls != NULL) {
				tls_conn_close(r->tls); /* close_notify after the QUIT */
				tls_flush(r);
			}
			tcp_close(r->backend);
			arm(r, 10000);
			return;
		}
	}
	drop(r);
	relay_free(r);
}

/* ---- the message ---- */

/* body_end - the client's message ended: its reply is the backend's, or ours */
static void
body_end(struct relay *r)
{
	if (r->discard) {
		r->discard = false;
		answer(r, r->discard_reply, false);
		return;
	}
	r->state = R_DOT;
	arm(r, reply_ms(r));
}

/* give_up - the message will not be delivered: drop the backend (it must
 * never see this message end) and read the rest of it for nothing */
static void
give_up(struct relay *r, const char *reply)
{
	drop(r);
	r->state = R_DOWN;
	r->discard = true;
	r->discard_reply = reply;
}

size_t
relay_body(struct lcore_conf *lc, struct smtp_session *ss, const void *buf, size_t len)
{
	struct relay *r = ss->relay;
	const char *p = buf;
	size_t taken = 0;

	if (r == NULL)
		return len;
	smtp_touch(ss, lc->now);
	while (taken < len) {
		struct relay_ds_step st;
		enum relay_ds_ev ev;
		size_t n = len - taken;

		if (r->state == R_DOT)
			break; /* what follows the message waits for the backend's reply */
		if (!r->discard) {
			size_t space = bspace(r);

			/* room for a CR held from the last call as well */
			if (space <= 1) {
				tcp_send_wait(r->backend); /* sent() resumes us */
				break;
			}
			if (n > space - 1)
				n = space - 1;
		}
		ev = relay_ds_scan(&r->ds, p + taken, n, &st);
		if (!r->discard && (st.cr || st.fwd > 0)) {
			if ((st.cr && !bsend(r, "\r", 1)) || !bsend(r, p + taken, st.fwd)) {
				fail(r, "cannot pass the message on");
			} else {
				lc->relay.stats.body_bytes += st.fwd + st.cr;
			}
		}
		taken += st.used;
		switch (ev) {
		case RELAY_DS_MORE:
			break;
		case RELAY_DS_END:
			body_end(r);
			return taken;
		case RELAY_DS_TOO_BIG:
			if (!r->discard)
				give_up(r, "552 5.3.4 Error: message file too big");
			break;
		case RELAY_DS_BARE_LF:
		case RELAY_DS_BARE_CR: {
			const char *what = ev == RELAY_DS_BARE_LF ? "LF" : "CR";
			char name[80], reply[POL_REPLY_MAX];

			lc->relay.stats.smuggling++;
			logq_printf(&lc->log,
			            "warning: bare <%s> received in a message from %s: refused",
			            what, pol_client_name(&ss->client, name, sizeof(name)));
			drop(r); /* the backend never sees the end of this message */
			r->discard = false;
			/* as in commands (smtp_session.c): Postfix's reply, with the code that
			 * hangs up */
			snprintf(reply, sizeof(reply), "521 5.5.2 %s Error: bare <%s> received",
			         pol_snapshot_model(snap_of(r))->hostname, what);
			answer(r, reply, true);
			return len;
		}
		}
	}
	return taken;
}

/* ---- the backend flows ---- */

static int
b_accept(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	(void)f;
	return -1; /* the relay listens on nothing */
}

static void
b_connected(void *ctx, struct tcp_flow *f)
{
	struct lcore_conf *lc = ctx;
	struct relay *r = tcp_flow_app(f);

	if (r == NULL)
		return;
	lc->relay.stats.connects++;
	if (r->handoff == POL_HANDOFF_PROXY_V1 || r->handoff == POL_HANDOFF_PROXY_V2) {
		char hdr[RELAY_PROXY_V1_MAX > RELAY_PROXY_V2_TLS_MAX ? RELAY_PROXY_V1_MAX
		                                                     : RELAY_PROXY_V2_TLS_MAX];
		struct relay_addr src = addr_of(r->client, true), dst = addr_of(r->client, false);
		const struct smtp_session *ss = tcp_flow_app(r->client);
		int n = r->handoff == POL_HANDOFF_PROXY_V1
		                ? relay_proxy_v1(hdr, sizeof(hdr), &src, &dst)
		                : relay_proxy_v2(hdr, sizeof(hdr), &src, &dst);

		/* v2 can say the client used TLS (v1 and XCLIENT have no word for it) */
		if (n > 0 && r->handoff == POL_HANDOFF_PROXY_V2 && ss != NULL && ss->tls != NULL &&
		    tls_conn_done(ss->tls))
			n = relay_proxy_v2_tls(hdr, sizeof(hdr), (size_t)n,
			                       tls_conn_version(ss->tls), tls_conn_cipher(ss->tls));

		if (n <= 0 || tcp_send(f, hdr, (size_t)n) != (size_t)n) {
			fail(r, "cannot send the PROXY header");
			return;
		}
		lc->relay.stats.handoffs++;
	}
	r->state = R_GREETING;
	arm(r, reply_ms(r));
}

/* replies - the backend's plaintext: each whole reply to on_reply; false
 * once the relay let go of the flow */
static bool
replies(struct tcp_flow *f, const char *p, size_t len)
{
	size_t at = 0;

	while (at < len) {
		struct relay *r = tcp_flow_app(f);
		struct relay_reply rr;
		size_t used = 0;
		enum relay_rp_ev ev;

		if (r == NULL)
			return false;
		ev = relay_rp_feed(&r->rp, p + at, len - at, &used, &rr);
		at += used;
		if (ev == RELAY_RP_ERROR) {
			char why[64];

			snprintf(why, sizeof(why), "malformed reply (%s)",
			         relay_rp_err_name(relay_rp_error(&r->rp)));
			fail(r, why);
			return false;
		}
		if (ev == RELAY_RP_MORE)
			break;
		on_reply(r, &rr);
		/* after the 220 to STARTTLS only TLS may come: plaintext that
		 * came with it was injected (RFC 3207 6, CVE-2011-0411's kind) */
		if (tcp_flow_app(f) == r && r->state == R_TLS && at < len) {
			relay_tls_step(&r->ts, RELAY_TLS_EV_SHAKE_FAIL, 0, 0);
			tls_fail(r, "plaintext after the 220 to STARTTLS");
			return false;
		}
	}
	return tcp_flow_app(f) != NULL;
}

/* b_tls - ciphertext from the backend: the handshake, then replies */
static size_t
b_tls(struct relay *r, struct tcp_flow *f, const uint8_t *buf, size_t len)
{
	char plain[TLS_PLAIN_CHUNK];
	size_t taken = 0, fed;
	long n;

	for (;;) {
		if (!tls_conn_done(r->tls)) {
			int rc;

			fed = tls_conn_feed(r->tls, buf + taken, len - taken);
			taken += fed;
			rc = tls_conn_handshake(r->tls);
			tls_flush(r);
			if (rc < 0) {
				tls_shake_failed(r);
				return len;
			}
			if (rc == 0) {
				if (fed == 0)
					return taken; /* all input is in: wait for more */
				continue;
			}
			tls_up(r);
			if (tcp_flow_app(f) != r)
				return len;
		}
		n = tls_conn_peek(r->tls, plain, sizeof(plain));
		tls_flush(r); /* a post-handshake message may have answered something */
		if (n < 0) {
			/* close_notify after our QUIT is the expected end; its FIN follows */
			if (r->state != R_QUIT) {
				char why[128];

				snprintf(why, sizeof(why), "TLS: %s", tls_conn_error(r->tls));
				fail(r, why);
			}
			return len;
		}
		if (n > 0) {
			tls_conn_consume(r->tls, (size_t)n);
			if (!replies(f, plain, (size_t)n) || tcp_flow_app(f) != r || r->tls == NULL)
				return len;
			continue;
		}
		fed = tls_conn_feed(r->tls, buf + taken, len - taken);
		if (fed == 0)
			return taken;
		taken += fed;
	}
}

static size_t
b_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct relay *r = tcp_flow_app(f);

	(void)ctx;
	if (r == NULL)
		return len;
	if (r->tls != NULL)
		return b_tls(r, f, buf, len);
	replies(f, buf, len);
	return len;
}

static void
b_peer_fin(void *ctx, struct tcp_flow *f)
{
	struct relay *r = tcp_flow_app(f);

	(void)ctx;
	if (r == NULL || r->state == R_QUIT) {
		tcp_close(f);
		return;
	}
	if (r->state == R_TLS) {
		relay_tls_step(&r->ts, RELAY_TLS_EV_SHAKE_FAIL, 0, 0);
		tls_fail(r, "the backend closed the connection");
		return;
	}
	fail(r, "the backend closed the connection");
}

static void
b_sent(void *ctx, struct tcp_flow *f)
{
	struct relay *r = tcp_flow_app(f);

	(void)ctx;
	if (r != NULL)
		tls_flush(r); /* the rest of what TLS wrote */
	if (r != NULL && r->client != NULL && r->state == R_BODY)
		tcp_rx_kick(r->client); /* and the decrypted bytes a TLS session keeps */
}

static void
b_deadline(void *ctx, struct tcp_flow *f, uint64_t now)
{
	struct relay *r = tcp_flow_app(f);

	(void)ctx;
	(void)now;
	if (r == NULL)
		return;
	if (r->state == R_QUIT) {
		drop(r);
		relay_free(r);
		return;
	}
	if (r->state == R_TLS) {
		relay_tls_step(&r->ts, RELAY_TLS_EV_SHAKE_FAIL, 0, 0);
		tls_fail(r, "timeout");
		return;
	}
	fail(r, r->state == R_CONNECTING ? "connect timeout" : "timeout");
}

static void
b_closed(void *ctx, struct tcp_flow *f, enum tcp_end why)
{
	struct lcore_conf *lc = ctx;
	struct relay *r = tcp_flow_app(f);

	if (r == NULL)
		return;
	tcp_flow_set_app(f, NULL);
	r->backend = NULL;
	tls_conn_free(r->tls);
	r->tls = NULL;
	if (r->ss == NULL) {
		relay_free(r);
		return;
	}
	if (r->state <= R_CONNECTING && why != TCP_END_NORMAL) {
		const struct pol_backend *b = &pol_snapshot_model(snap_of(r))->backend;

		lc->relay.stats.connect_failed++;
		lc->relay.down_until[r->bk] = lc->now + RELAY_DOWN_MS;
		/* another backend, while there is one left to try */
		if (++r->tries < b->naddr && connect_backend(r) == 0)
			return;
	}
	fail(r, why == TCP_END_REFUSED ? "connection refused" : "connection lost");
}

static const struct tcp_app backend_app = {
        .accept = b_accept,
        .connected = b_connected,
        .data = b_data,
        .peer_fin = b_peer_fin,
        .sent = b_sent,
        .deadline = b_deadline,
        .closed = b_closed,
};

uint16_t
relay_pick_port(void *arg, const struct tcp_key *k, unsigned attempt)
{
	struct lcore_conf *lc = arg;

	(void)attempt;
	/* walk 32768-60999 from where the last connection stopped; about one in
	 * n ports hashes to this lcore */
	for (unsigned i = 0; i < 28232; i++) {
		uint16_t port = (uint16_t)(32768 + lc->relay.port_next++ % 28232);

		if (lc_flow_owner(&k->raddr, k->rport, port) == lc->queue)
			return port;
	}
	return 0;
}

int
relay_init(struct lcore_conf *lc, uint32_t max_relays, int socket)
{
	struct relay_lcore *rl = &lc->relay;

	if (chunk_pool_init(&rl->pool, max_relays, sizeof(struct relay), socket) < 0)
		return -1;
	rl->app = tcp_app_register(lc->tcp, &backend_app, lc);
	if (rl->app < 0)
		return -1;
	rl->ops = (struct smtp_relay){
	        .rcpt = hook_rcpt,
	        .data = hook_data,
	        .reset = hook_reset,
	        .close = hook_close,
	        .arg = lc,
	};
	rl->port_next = (uint16_t)(lc->queue * 7919u);
	lc->sess.env.relay = &rl->ops;
	return 0;
}
