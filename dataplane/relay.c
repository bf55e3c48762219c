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
 *
 * This file is the client's side (the engine's hooks, the recipients kept
 * until DATA, the requests put to the backend, the message passed on);
 * relay_backend.c is the backend's (its flow, its replies, the hand-off,
 * TLS); relay_impl.h is what they share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "net/ip4.h"
#include "net/ip6.h"
#include "relay_impl.h"

/* ---- small things ---- */

/* relay_bflush - move the backend TLS's ciphertext to TCP as far as the send
 * space allows; the rest goes when it frees (b_sent, relay_backend.c) */
void
relay_bflush(struct relay *r)
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

/* relay_bsend - bytes to the backend, through TLS once it is up; false when they
 * did not all go (plaintext: no room) */
bool
relay_bsend(struct relay *r, const void *p, size_t n)
{
	if (r->tls == NULL)
		return tcp_send(r->backend, p, n) == n;
	if (tls_conn_write(r->tls, p, n) < 0)
		return false;
	relay_bflush(r);
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
	relay_bflush(r);
	if (tls_conn_out(r->tls) > 0)
		return 0; /* the last write is not all in TCP yet */
	space = tcp_send_space(r->backend);
	over = (space / 16384 + 2) * TLS_OVERHEAD;
	return space > over ? space - over : 0;
}

/* relay_sendf - a command line to the backend; false when it did not fit (a
 * backend that reads nothing: the caller fails it) */
__attribute__((format(printf, 2, 3))) bool
relay_sendf(struct relay *r, const char *fmt, ...)
{
	char line[SMTP_LINE_MAX * 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return false;
	return relay_bsend(r, line, (size_t)n);
}

/* relay_reply_ms - how long a backend may take to answer a command: about as
 * long as the service gives its clients */
uint32_t
relay_reply_ms(const struct relay *r)
{
	const struct pol_service *svc =
	        r->ss != NULL ? pol_service_by_port(relay_snap(r), r->ss->port) : NULL;

	/* a little less, so that the client hears our 451, not the 421 of its own timeout */
	return svc != NULL ? svc->command_timeout_ms / 5 * 4 : 240000;
}

void
relay_free(struct relay *r)
{
	tls_conn_free(r->tls);
	r->tls = NULL;
	relay_rl(r)->live--;
	chunk_put(&relay_rl(r)->pool, r);
}

/* relay_drop - forget the backend connection (RST: a message in flight must not
 * be taken for complete) */
void
relay_drop(struct relay *r)
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

/* relay_backend_name - "192.0.2.1:25" or "[2001:db8::1]:25" of the relay's backend */
const char *
relay_backend_name(const struct relay *r, char *buf, size_t size)
{
	const struct pol_backend *b = &pol_snapshot_model(relay_snap(r))->backend;
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

/* relay_fail_with - the backend failed: drop it; what the client waits for gets
 * reply, a 4xx */
void
relay_fail_with(struct relay *r, const char *why, const char *reply)
{
	struct relay_lcore *rl = relay_rl(r);
	uint8_t was = r->state;
	char name[80], bname[80];

	if (r->state <= R_GREETING)
		rl->down_until[r->bk] = r->lc->now + RELAY_DOWN_MS;
	logq_printf(&r->lc->log, "warning: relay to backend %s for %s: %s",
	            relay_backend_name(r, bname, sizeof(bname)),
	            relay_client_name(r, name, sizeof(name)), why);
	relay_drop(r);
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
		relay_answer(r, reply, false);
	}
}

/* relay_fail - fail_with the general 4xx */
void
relay_fail(struct relay *r, const char *why)
{
	relay_fail_with(r, why, unavailable);
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

/* relay_connect - open a connection to a backend: 0, or -1 (no route, no port) */
int
relay_connect(struct relay *r)
{
	struct relay_lcore *rl = relay_rl(r);
	const struct pol_model *m = pol_snapshot_model(relay_snap(r));
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
	relay_arm(r, b->connect_timeout_ms);
	return 0;
}

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

/* ---- the client's requests to the backend ---- */

/* replay_done - every stashed recipient was put to the backend: DATA, or
 * the client's DATA gets the refusal (never a 2xx for a recipient the
 * backend refused after we had accepted it) */
static void
replay_done(struct relay *r)
{
	char reply[SMTP_LINE_MAX];

	if (r->nrefused == 0) {
		if (!relay_sendf(r, "DATA\r\n")) {
			relay_fail(r, "cannot send a command");
			return;
		}
		r->state = R_DATA;
		relay_arm(r, relay_reply_ms(r));
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
	relay_answer(r, reply, false);
}

/* relay_pump - send the next request, when the backend is ready for one */
void
relay_pump(struct relay *r)
{
	bool sent = true;

	if (r->backend == NULL || r->state != R_READY)
		return;
	if (r->rset) {
		r->rset = false;
		sent = relay_sendf(r, "RSET\r\n");
		r->state = R_RSET;
	} else if (r->want == W_RCPT && !r->txn) {
		sent = relay_sendf(r, "MAIL FROM:<%s>%s\r\n",
		                   r->ss->sender != NULL ? r->ss->sender : "",
		                   r->ss->flags & SMTP_F_BODY_8BIT ? " BODY=8BITMIME" : "");
		r->state = R_MAIL;
	} else if (r->want == W_RCPT) {
		sent = relay_sendf(r, "RCPT TO:<%.*s>\r\n", (int)r->rcpt_len, r->rcpt);
		r->state = R_RCPT;
	} else if (r->want == W_DATA && r->at_data && !r->txn) {
		sent = relay_sendf(r, "MAIL FROM:<%s>%s\r\n",
		                   r->ss->sender != NULL ? r->ss->sender : "",
		                   r->ss->flags & SMTP_F_BODY_8BIT ? " BODY=8BITMIME" : "");
		r->state = R_MAIL;
	} else if (r->want == W_DATA && r->at_data && stash_next(r)) {
		sent = relay_sendf(r, "RCPT TO:<%.*s>\r\n", (int)r->rcpt_len, r->rcpt);
		r->state = R_RCPT;
	} else if (r->want == W_DATA && r->at_data) {
		replay_done(r);
		return;
	} else if (r->want == W_DATA) {
		sent = relay_sendf(r, "DATA\r\n");
		r->state = R_DATA;
	} else {
		return;
	}
	if (!sent)
		relay_fail(r, "cannot send a command");
	else
		relay_arm(r, relay_reply_ms(r));
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
		if (relay_connect(r) < 0) {
			r->want = W_NONE;
			lc->relay.stats.connect_failed++;
			return -1;
		}
	}
	relay_pump(r);
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
			if (relay_connect(r) < 0) {
				r->want = W_NONE;
				r->lc->relay.stats.connect_failed++;
				return -1;
			}
		}
		relay_pump(r);
		return 0;
	}
	if (r == NULL || r->backend == NULL || !r->txn)
		return -1; /* no backend took this transaction (any more) */
	r->want = W_DATA;
	relay_pump(r);
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
	relay_pump(r);
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
		if (relay_sendf(r, "QUIT\r\n")) {
			r->state = R_QUIT;
			if (r->tls != NULL) {
				tls_conn_close(r->tls); /* close_notify after the QUIT */
				relay_bflush(r);
			}
			tcp_close(r->backend);
			relay_arm(r, 10000);
			return;
		}
	}
	relay_drop(r);
	relay_free(r);
}

/* ---- the message ---- */

/* body_end - the client's message ended: its reply is the backend's, or ours */
static void
body_end(struct relay *r)
{
	if (r->discard) {
		r->discard = false;
		relay_answer(r, r->discard_reply, false);
		return;
	}
	r->state = R_DOT;
	relay_arm(r, relay_reply_ms(r));
}

/* give_up - the message will not be delivered: drop the backend (it must
 * never see this message end) and read the rest of it for nothing */
static void
give_up(struct relay *r, const char *reply)
{
	relay_drop(r);
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
			if ((st.cr && !relay_bsend(r, "\r", 1)) ||
			    !relay_bsend(r, p + taken, st.fwd)) {
				relay_fail(r, "cannot pass the message on");
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
			relay_drop(r); /* the backend never sees the end of this message */
			r->discard = false;
			/* as in commands (smtp_session.c): Postfix's reply, with the code that
			 * hangs up */
			snprintf(reply, sizeof(reply), "521 5.5.2 %s Error: bare <%s> received",
			         pol_snapshot_model(relay_snap(r))->hostname, what);
			relay_answer(r, reply, true);
			return len;
		}
		}
	}
	return taken;
}

int
relay_init(struct lcore_conf *lc, uint32_t max_relays, int socket)
{
	struct relay_lcore *rl = &lc->relay;

	if (chunk_pool_init(&rl->pool, max_relays, sizeof(struct relay), socket) < 0)
		return -1;
	rl->app = tcp_app_register(lc->tcp, &relay_backend_app, lc);
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
