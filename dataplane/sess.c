/* sess - SMTP sessions on TCP flows: the glue between tcp/ and smtp/
 *
 * Each lcore registers one TCP application whose callbacks drive the SMTP
 * engine: accept opens a session (the greeting), data feeds it, its
 * replies go back with tcp_send(), and the engine's deadline becomes the
 * flow's (moved only when it comes earlier: see arm()). Sessions come
 * from a per-lcore pool sized for the flow table; the engine's 512-byte
 * chunks from another. The engine writes its replies straight into the
 * flow's send queue (tcp_send_reserve), committed after every call, or,
 * inside TLS and when the queue cannot offer a reply's room in one piece,
 * into one per-lcore buffer copied into the flow after the call. The
 * engine is only offered input while the flow can take a whole reply, so
 * nothing the engine writes is ever dropped: a slow reader holds back the
 * client through the TCP window instead.
 *
 * After STARTTLS (the engine's 220, sent in the clear) the session's bytes
 * go through its TLS connection (tls/): ciphertext from TCP is fed to it,
 * its handshake output and encrypted replies go back to TCP, and the
 * decrypted bytes take the plaintext path (the engine, or the relay in
 * SMTP_S_DATA). Decrypted bytes the engine did not take stay inside
 * OpenSSL; tcp_rx_kick() offers them again when the engine can read.
 */
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <xxhash.h>

#include "control.h"
#include "lcore.h"
#include "sess.h"
#include "tls.h"

struct climit_table gate_climit;

/* What the session pool holds: the engine's session and what the glue keeps
 * beside it. ss comes first: the flow's app pointer is both. */
struct sess {
	struct smtp_session ss;
	struct climit_hold hold; /* the session counted against its client's limit */
	uint64_t armed;          /* the deadline the flow's timer has (0: none), see arm() */
};

/* sess_of - the glue's state around an engine session */
static inline struct sess *
sess_of(struct smtp_session *ss)
{
	return (struct sess *)ss; /* ss comes first */
}

/* now - the loop's clock, set once per iteration by lc_main */
static inline uint64_t
now_of(const struct lcore_conf *lc)
{
	return lc->now;
}

static void *
chunk_get_cb(void *arg)
{
	return chunk_get(arg);
}

static void
chunk_put_cb(void *arg, void *c)
{
	chunk_put(arg, c);
}

static void
log_cb(void *arg, const char *line, size_t len)
{
	logq_push(arg, line, len);
}

_Static_assert(SMTP_REC_MAX <= LOGQ_LINE_MAX, "a reject record fits the log ring");

/* log_reject_cb - a refusal's record: the control thread formats its line
 * (main.c sets smtp_reject_format for LOGQ_K_REJECT) */
static void
log_reject_cb(void *arg, const struct iovec *parts, unsigned n)
{
	logq_push_rec(arg, LOGQ_K_REJECT, parts, n);
}

/* tls_of - the session's TLS once its handshake is done, else NULL */
static struct tls_conn *
tls_of(const struct smtp_session *ss)
{
	return ss != NULL && ss->tls != NULL && tls_conn_done(ss->tls) ? ss->tls : NULL;
}

/* tls_push - move the TLS connection's ciphertext to the flow, as far as its
 * send space goes; what is left waits for sent() (tcp_send took less) */
static void
tls_push(struct tcp_flow *f, struct tls_conn *t)
{
	const void *p;
	size_t n = tls_conn_out_data(t, &p);

	if (n > 0)
		tls_conn_out_drop(t, tcp_send(f, p, n));
}

/* flush_copy - the engine's output in the lcore's buffer (out_for) to the
 * flow: copied in, encrypted first inside TLS */
static void
flush_copy(struct tcp_flow *f, const struct smtp_session *ss, struct smtp_out *out,
           struct lcore_conf *lc)
{
	struct tls_conn *t = tls_of(ss);

	if (t != NULL) {
		if (out->len > 0 && tls_conn_write(t, out->buf, out->len) < 0)
			lc->sess.lost_output++;
		out->len = 0;
		tls_push(f, t);
		return;
	}
	if (out->len > 0 && tcp_send(f, out->buf, out->len) != out->len)
		lc->sess.lost_output++; /* cannot happen while out->cap follows tcp_send_space */
	out->len = 0;
}

/* flush - hand the engine's output to the flow; it always fits (see above).
 * Written in place (out_open), as nearly every reply is, it is only
 * committed: inline, a frame of its own cost as much as the commit. */
static inline __attribute__((always_inline)) void
flush(struct lcore_conf *lc, struct tcp_flow *f, const struct smtp_session *ss,
      struct smtp_out *out)
{
	if (out->buf == lc->sess.out) {
		flush_copy(f, ss, out, lc);
		return;
	}
	if (tcp_send_commit(f, out->len) != out->len)
		lc->sess.lost_output++; /* cannot happen: nothing acts on f meanwhile */
	out->len = 0;
}

/* out_for - the lcore's output buffer, capped at what the flow can take now
 * (inside TLS: what is left once the waiting ciphertext and a record's
 * overhead are counted) */
static struct smtp_out
out_for(struct lcore_conf *lc, const struct tcp_flow *f, const struct smtp_session *ss)
{
	size_t space = tcp_send_space(f);
	struct tls_conn *t = tls_of(ss);

	if (t != NULL) {
		size_t used = tls_conn_out(t) + TLS_OVERHEAD;

		space = space > used ? space - used : 0;
	}

	return (struct smtp_out){.buf = lc->sess.out,
	                         .len = 0,
	                         .cap = space < sizeof(lc->sess.out) ? space
	                                                             : sizeof(lc->sess.out)};
}

/* out_open - where one engine step writes: straight into the flow's send
 * queue when it offers SMTP_OUT_ROOM bytes in one piece, so that a reply is
 * copied once, from the chunk into the segment; else the lcore's buffer
 * (out_for), which flush() copies in: inside TLS (records are made of it),
 * or when the queue's tail chunk has less room left (pipelined replies).
 * The engine's output is then always flushed before anything else acts on
 * the flow, as tcp_send_reserve() asks; the 220 to STARTTLS, which sets
 * ss->tls during the step, goes in the clear as it must. Inlined, as
 * after(): a call's frame cost more than the copy it saves (callgrind). */
static inline __attribute__((always_inline)) struct smtp_out
out_open(struct lcore_conf *lc, struct tcp_flow *f, const struct smtp_session *ss)
{
	if (ss == NULL || ss->tls == NULL) {
		size_t room;
		char *p = tcp_send_reserve(f, SMTP_OUT_ROOM, &room);

		if (p != NULL)
			return (struct smtp_out){.buf = p, .len = 0, .cap = room};
	}
	return out_for(lc, f, ss);
}

/* How long a closed session's last reply and FIN may wait for the client
 * to take them. A client that keeps its window shut would otherwise hold
 * its flow and up to a send buffer of chunks for ever (TCP sets no limit
 * on a zero window; Linux bounds it with tcp_orphan_retries): it gets a
 * reset instead. Every client that reads has taken them long before. */
#define SESS_LINGER_MS 10000

/* set_timer - the flow's timer at at (0: none), as the session's own */
static void
set_timer(struct tcp_flow *f, struct smtp_session *ss, uint64_t at)
{
	sess_of(ss)->armed = at;
	tcp_set_deadline(f, at);
}

/* arm - the engine's deadline to the flow's timer. Every command moves it
 * later (the command timeout starts again), and the timer then need not
 * move: it fires early, on_deadline sees that nothing is due and arms it
 * again. So it is re-armed only when the deadline comes earlier than the
 * timer (a push that shortened a timeout, the greet wait), or is gone. */
static void
arm(struct tcp_flow *f, struct smtp_session *ss)
{
	uint64_t at = smtp_deadline(ss), armed = sess_of(ss)->armed;

	if (armed != 0 && armed <= at)
		return;
	set_timer(f, ss, at);
}

/* after - act on what the engine said (was_data: the session was in
 * SMTP_S_DATA before the step). The flow is lean (small buffers, refused
 * first when the chunk pool runs low) except while a message flows: a
 * session before DATA needs a command line and a pipelined batch in, a few
 * replies out (sess.h). Flows start lean, and only a step that enters or
 * leaves DATA changes what the flow is asked: tcp_set_lean() is called
 * then only (it returns at once when the flow already is as asked). */
static inline __attribute__((always_inline)) void
after(struct lcore_conf *lc, struct tcp_flow *f, struct smtp_session *ss, enum smtp_action a,
      struct smtp_out *out, bool was_data)
{
	if (was_data != (ss->state == SMTP_S_DATA))
		tcp_set_lean(f, ss->state != SMTP_S_DATA);
	flush(lc, f, ss, out);
	if (a == SMTP_CLOSE) {
		struct tls_conn *t = tls_of(ss);

		if (t != NULL) {
			tls_conn_close(t); /* close_notify after the last reply */
			tls_push(f, t);
		}
		set_timer(f, ss, lc->now + SESS_LINGER_MS);
		tcp_close(f);
		return;
	}
	arm(f, ss);
}

/* refuse - answer a connection we take no session for, and end it */
static void
refuse(struct tcp_flow *f, const char *reply, size_t len)
{
	tcp_send(f, reply, len);
	tcp_close(f);
}

/* limit_refuse - Postfix's reply and warning for a client over its limit:
 * "421 4.7.0 HOST Error: too many connections from ADDR", and
 * "warning: Connection concurrency limit exceeded: N from unknown[ADDR] for service NAME" */
static void
limit_refuse(struct lcore_conf *lc, struct tcp_flow *f, const struct pol_snapshot *snap,
             const struct pol_service *svc, const struct cidr *client, enum climit_verdict v,
             uint32_t n)
{
	char name[80], reply[400], line[300];
	size_t al;
	int len;

	pol_client_name(client, name, sizeof(name));
	al = strlen(name) - 9; /* the address inside "unknown[...]" */
	len = snprintf(reply, sizeof(reply),
	               "421 4.7.0 %s Error: too many connections from %.*s\r\n",
	               pol_snapshot_model(snap)->hostname, (int)al, name + 8);
	refuse(f, reply, (size_t)len < sizeof(reply) ? (size_t)len : sizeof(reply) - 1);
	len = snprintf(line, sizeof(line),
	               "warning: Connection %s limit exceeded: %u from %s for service %s",
	               v == CLIMIT_CONN ? "concurrency" : "rate", n, name, svc->name);
	logq_push(&lc->log, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
}

/* limit_check - count a new connection against its client's limits; false
 * when it was refused (and answered) */
static bool
limit_check(struct lcore_conf *lc, struct tcp_flow *f, const struct pol_snapshot *snap,
            const struct cidr *client, uint16_t lport, struct climit_hold *h)
{
	const struct pol_service *svc = pol_service_by_port(snap, lport);
	struct climit_rule r;
	enum climit_verdict v;
	uint32_t n;

	h->key = 0;
	if (gate_climit.slot == NULL || svc == NULL ||
	    (svc->client_conn_limit == 0 && svc->client_rate_limit == 0))
		return true;
	if (pol_limit_exempt(snap, client) != POL_NONE) {
		lc->sess.limit_exempt++;
		return true;
	}
	r = (struct climit_rule){.conn_limit = svc->client_conn_limit,
	                         .rate_limit = svc->client_rate_limit,
	                         .unit_s = svc->client_rate_unit_s};
	v = climit_acquire(
	        &gate_climit,
	        climit_key(&gate_climit, client, XXH3_64bits(svc->name, strlen(svc->name))), &r,
	        (uint32_t)(now_of(lc) / 1000), h, &n);
	switch (v) {
	case CLIMIT_OK:
		return true;
	case CLIMIT_FULL:
		lc->sess.limit_full++;
		return true;
	case CLIMIT_CONN:
		lc->sess.limit_conn++;
		break;
	case CLIMIT_RATE:
		lc->sess.limit_rate++;
		break;
	}
	limit_refuse(lc, f, snap, svc, client, v, n);
	return false;
}

static int
on_accept(void *ctx, struct tcp_flow *f)
{
	struct lcore_conf *lc = ctx;
	const struct tcp_key *k = tcp_flow_key(f);
	const struct pol_snapshot *snap = pol_live(lc->pol);
	struct sess *s;
	struct smtp_out out;
	struct cidr client = {.family = tcp_flow_family(f)};
	struct climit_hold hold;
	enum smtp_action a;

	if (gate_draining) {
		static const char bye[] = "421 4.3.2 Service shutting down\r\n";

		/* no session: the flow carries the goodbye and ends */
		lc->sess.drained++;
		refuse(f, bye, sizeof(bye) - 1);
		return 0;
	}
	if (tcp_send_space(f) < SMTP_OUT_ROOM || lc->sess.sessions.nfree == 0) {
		lc->sess.refused++;
		return -1;
	}
	client.len = client.family == 4 ? 32 : 128;
	memcpy(client.addr, k->raddr.b, client.family == 4 ? 4 : 16);
	if (!limit_check(lc, f, snap, &client, k->lport, &hold))
		return 0; /* no session: the flow carries the 421 and ends */
	s = chunk_get(&lc->sess.sessions);
	s->hold = hold;
	s->armed = 0;
	tcp_flow_set_app(f, &s->ss);
	out = out_open(lc, f, NULL); /* SMTP_OUT_ROOM, as tested above */
	a = smtp_open(&s->ss, &lc->sess.env, snap, now_of(lc), &client, k->lport, &out);
	after(lc, f, &s->ss, a, &out, false);
	return 0;
}

/* plain_data - the client's bytes in the clear (or decrypted): to the
 * engine, or to the relay during a message; how many were taken.
 * Pipelined commands: the engine answers as many as one output buffer
 * holds per call; call it again while the flow can take more, and when it
 * cannot (a client that does not read its replies), leave the rest in TCP,
 * whose window then holds the client back, and have on_sent offer it again
 * once the client has read. Without that wait, bytes held in TCP would
 * never be offered again: the client has sent them all and waits.
 * Inlined into on_data() (and tls_data()): it runs once per segment. */
static inline __attribute__((always_inline)) size_t
plain_data(struct lcore_conf *lc, struct tcp_flow *f, struct smtp_session *ss, const void *buf,
           size_t len)
{
	const char *p = buf;
	size_t taken = 0, consumed;

	if (ss->state == SMTP_S_CLOSING)
		return len; /* after QUIT or a 421: what follows is not read */
	if (ss->state == SMTP_S_DATA)
		return relay_body(lc, ss, buf, len);
	lc->sess.cur = f;
	do {
		struct smtp_out out = out_open(lc, f, ss);
		enum smtp_action a;

		if (out.cap < SMTP_OUT_ROOM) { /* (nothing reserved) */
			tcp_send_wait(f);      /* on_sent offers the rest again */
			break;
		}
		/* nearly every segment is one command line: its own path */
		a = smtp_input_one(ss, &lc->sess.env, pol_live(lc->pol), now_of(lc), p + taken,
		                   len - taken, &consumed, &out);
		after(lc, f, ss, a, &out, false); /* not in DATA, or relay_body() above */
		if (a == SMTP_CLOSE)
			return len;
		taken += consumed;
		/* nothing taken with room to answer: the session waits for the
		 * relay, whose answer offers the rest again (sess_answer) */
	} while (taken < len && consumed > 0);
	return taken;
}

#define CIPHER_NAME(i, name) [i] = name,
static const char *const cipher_names[SESS_TLS_CIPHERS] = {SESS_TLS_CIPHER_NAMES(CIPHER_NAME)};

/* tls_count - a completed handshake, by protocol and by cipher */
static void
tls_count(struct sess_tls_stats *st, const char *version, const char *cipher)
{
	unsigned c = 0;

	st->done++;
	if (strcmp(version, "TLSv1.3") == 0)
		st->v1_3++;
	else if (strcmp(version, "TLSv1.2") == 0)
		st->v1_2++;
	while (c < SESS_TLS_CIPHERS - 1 && strcmp(cipher, cipher_names[c]) != 0)
		c++;
	st->cipher[c]++;
}

/* tls_log - one log line about the session's client: "<head> unknown[ADDR]<tail>" */
static void
tls_log(struct lcore_conf *lc, const struct smtp_session *ss, const char *head, const char *tail)
{
	char name[80], line[320];
	int n = snprintf(line, sizeof(line), "%s %s%s", head,
	                 pol_client_name(&ss->client, name, sizeof(name)), tail);

	if (n > 0)
		log_cb(&lc->log, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* tls_established - the handshake is done: the session starts over inside TLS */
static void
tls_established(struct lcore_conf *lc, struct tcp_flow *f, struct smtp_session *ss)
{
	struct tls_conn *t = ss->tls;
	const char *version = tls_conn_version(t), *cipher = tls_conn_cipher(t);
	int alg = 0, bits = tls_conn_bits(t, &alg);
	char tail[200];

	tls_count(&lc->sess.tls, version, cipher);
	/* Postfix's line: no client certificate was asked for */
	snprintf(tail, sizeof(tail), ": %s with cipher %s (%d/%d bits)", version, cipher, bits,
	         alg);
	tls_log(lc, ss, "Anonymous TLS connection established from", tail);
	smtp_tls_ready(ss, pol_live(lc->pol), now_of(lc));
	arm(f, ss);
}

/* tls_failed - the handshake failed or TLS ended early: the session ends,
 * with whatever alert OpenSSL wrote */
static void
tls_failed(struct lcore_conf *lc, struct tcp_flow *f, struct smtp_session *ss)
{
	char tail[200];
	bool handshake = !tls_conn_done(ss->tls);

	if (handshake) {
		lc->sess.tls.failed++;
		snprintf(tail, sizeof(tail), ": %s", tls_conn_error(ss->tls));
		tls_log(lc, ss, "SSL_accept error from", tail);
		tls_log(lc, ss, "lost connection after STARTTLS from", "");
	}
	tls_push(f, ss->tls);
	ss->state = SMTP_S_CLOSING;
	set_timer(f, ss, 0);
	tcp_close(f);
}

/* tls_data - ciphertext from the client (len may be 0: a kick to offer the
 * decrypted bytes kept inside OpenSSL again); how much of it was taken */
static size_t
tls_data(struct lcore_conf *lc, struct tcp_flow *f, struct smtp_session *ss, const uint8_t *buf,
         size_t len)
{
	struct tls_conn *t = ss->tls;
	char plain[TLS_PLAIN_CHUNK];
	size_t taken = 0;

	while (ss->state != SMTP_S_CLOSING) {
		long n;

		if (!tls_conn_done(t)) {
			size_t fed = tls_conn_feed(t, buf + taken, len - taken);
			int r;

			taken += fed;
			r = tls_conn_handshake(t);
			tls_push(f, t);
			if (r < 0) {
				tls_failed(lc, f, ss);
				return len;
			}
			if (r == 0) {
				if (fed == 0)
					return taken; /* all input is in: wait for more */
				continue;
			}
			tls_established(lc, f, ss);
		}
		n = tls_conn_peek(t, plain, sizeof(plain));
		tls_push(f, t); /* a post-handshake message may have answered something */
		if (n < 0) {
			tls_failed(lc, f, ss);
			return len;
		}
		if (n > 0) {
			size_t used = plain_data(lc, f, ss, plain, (size_t)n);

			if (ss->state == SMTP_S_CLOSING)
				return len;
			tls_conn_consume(t, used);
			if (used < (size_t)n)
				return taken; /* the engine is busy: a kick brings the rest */
			continue;
		}
		/* nothing decrypted: more ciphertext */
		size_t fed = tls_conn_feed(t, buf + taken, len - taken);

		if (fed == 0)
			return taken;
		taken += fed;
	}
	return len;
}

static size_t
on_data(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct lcore_conf *lc = ctx;
	struct smtp_session *ss = tcp_flow_app(f);

	if (ss == NULL)
		return len; /* refused while draining: nothing is read */
	if (ss->tls != NULL && ss->state != SMTP_S_CLOSING)
		return tls_data(lc, f, ss, buf, len);
	if (len == 0)
		return 0; /* a kick, and nothing of our own to offer */
	return plain_data(lc, f, ss, buf, len);
}

/* tls_start_cb - the engine is about to say 220 to STARTTLS: a TLS
 * connection from the service's context in the snapshot of the call */
static int
tls_start_cb(void *arg, struct smtp_session *ss, const struct pol_snapshot *snap)
{
	struct lcore_conf *lc = arg;
	const struct pol_service *svc = pol_service_by_port(snap, ss->port);
	const struct pol_model *m = pol_snapshot_model(snap);
	struct tls_conn *t = NULL;

	if (svc != NULL && lc->sess.tls.live < TLS_CONNS_MAX)
		t = tls_conn_new(pol_snapshot_attachment(snap), (unsigned)(svc - m->services));
	if (t == NULL) {
		lc->sess.tls.no_slot++;
		return -1;
	}
	ss->tls = t;
	lc->sess.tls.live++;
	lc->sess.tls.started++;
	return 0;
}

/* sess_tls_attach - contexts of a compiled policy (control thread) */
int
sess_tls_attach(struct pol_snapshot *s, struct pol_errs *errs)
{
	bool none;
	struct tls_ctxs *t = tls_ctxs_build(pol_snapshot_model(s), errs, &none);

	if (t == NULL)
		return none ? 0 : -1;
	pol_snapshot_attach(s, t, tls_ctxs_free);
	return 0;
}

void
sess_answer(struct lcore_conf *lc, struct tcp_flow *f, const char *reply, bool end)
{
	struct smtp_session *ss = tcp_flow_app(f);
	struct smtp_out out;
	enum smtp_action a;
	bool was_data;

	if (ss == NULL || ss->state == SMTP_S_CLOSING)
		return;
	out = out_open(lc, f, ss);
	if (out.cap < SMTP_OUT_ROOM) {
		/* a client that reads nothing while it waits: its reply would not fit */
		tcp_abort(f);
		return;
	}
	lc->sess.cur = f;
	was_data = ss->state == SMTP_S_DATA;
	a = smtp_relay_reply(ss, &lc->sess.env, pol_live(lc->pol), now_of(lc), reply, end, &out);
	after(lc, f, ss, a, &out, was_data);
	if (a == SMTP_CONTINUE)
		tcp_rx_kick(f); /* pipelined commands, or the message after a 354 */
}

void
sess_auth_answer(struct lcore_conf *lc, struct tcp_flow *f, enum smtp_auth_result r,
                 const char *user)
{
	struct smtp_session *ss = tcp_flow_app(f);
	struct smtp_out out;
	enum smtp_action a;

	if (ss == NULL || ss->state != SMTP_S_AUTH_WAIT)
		return; /* ended meanwhile (a timeout's 421 is on its way) */
	out = out_open(lc, f, ss);
	if (out.cap < SMTP_OUT_ROOM) {
		/* a client that reads nothing while it waits: its reply would not fit */
		tcp_abort(f);
		return;
	}
	lc->sess.cur = f;
	a = smtp_auth_reply(ss, &lc->sess.env, pol_live(lc->pol), now_of(lc), r, user, &out);
	after(lc, f, ss, a, &out, false); /* in SMTP_S_AUTH_WAIT */
	if (a == SMTP_CONTINUE)
		tcp_rx_resume(f); /* commands pipelined after the AUTH */
}

static void
on_peer_fin(void *ctx, struct tcp_flow *f)
{
	struct smtp_session *ss = tcp_flow_app(f);

	(void)ctx;
	if (ss != NULL)
		set_timer(f, ss, 0);
	else
		tcp_set_deadline(f, 0);
	tcp_close(f);
}

static void
on_sent(void *ctx, struct tcp_flow *f)
{
	struct smtp_session *ss = tcp_flow_app(f);

	(void)ctx;
	if (ss != NULL && ss->tls != NULL) {
		tls_push(f, ss->tls); /* the rest of a handshake flight or a reply */
		tcp_rx_kick(f);
		return;
	}
	tcp_rx_resume(f);
}

static void
on_deadline(void *ctx, struct tcp_flow *f, uint64_t now)
{
	struct lcore_conf *lc = ctx;
	struct smtp_session *ss = tcp_flow_app(f);
	struct smtp_out out;
	enum smtp_action a;
	bool was_data;

	sess_of(ss)->armed = 0; /* the flow's timer is spent */
	if (ss->state != SMTP_S_CLOSING && now < smtp_deadline(ss)) {
		arm(f, ss); /* armed before the deadline moved later (see arm) */
		return;
	}
	lc->sess.deadlines++;
	if (ss->state == SMTP_S_CLOSING) {
		tcp_abort(f); /* our last words were not taken in SESS_LINGER_MS */
		return;
	}
	if (ss->state == SMTP_S_TLS) {
		/* no 421 in the middle of a handshake: it would not be TLS */
		tls_log(lc, ss, "timeout after STARTTLS from", "");
		lc->sess.tls.failed++;
		ss->state = SMTP_S_CLOSING;
		set_timer(f, ss, 0);
		tcp_abort(f);
		return;
	}
	out = out_open(lc, f, ss);
	if (out.cap < SMTP_OUT_ROOM) {
		/* a client that reads nothing: its 421 would not fit either */
		tcp_abort(f);
		return;
	}
	was_data = ss->state == SMTP_S_DATA;
	a = smtp_timeout(ss, &lc->sess.env, pol_live(lc->pol), now, &out);
	after(lc, f, ss, a, &out, was_data);
}

static void
on_closed(void *ctx, struct tcp_flow *f, enum tcp_end why)
{
	struct lcore_conf *lc = ctx;
	struct sess *s = tcp_flow_app(f);

	(void)why;
	if (s == NULL)
		return;
	if (s->ss.tls != NULL) {
		tls_conn_free(s->ss.tls);
		s->ss.tls = NULL;
		lc->sess.tls.live--;
	}
	climit_release(&gate_climit, &s->hold);
	smtp_close(&s->ss, &lc->sess.env);
	chunk_put(&lc->sess.sessions, s);
	tcp_flow_set_app(f, NULL);
}

static const struct tcp_app smtp_app = {
        .accept = on_accept,
        .data = on_data,
        .peer_fin = on_peer_fin,
        .sent = on_sent,
        .deadline = on_deadline,
        .closed = on_closed,
};

int
sess_init(struct lcore_conf *lc, const struct pol_snapshot *snap, uint32_t max_sessions, int socket)
{
	struct sess_lcore *s = &lc->sess;
	const struct pol_model *m = pol_snapshot_model(snap);
	size_t objsz = (sizeof(struct sess) + 63) & ~(size_t)63;

	/* a session holds at most four chunks (an authenticated one in a
	 * transaction with a partial line); most hold none or one */
	if (chunk_pool_init(&s->sessions, max_sessions, (uint32_t)objsz, socket) < 0 ||
	    chunk_pool_init(&s->chunks, max_sessions + max_sessions / 2, SMTP_CHUNK_SIZE, socket) <
	            0)
		return -1;
	memset(&s->tally, 0, sizeof(s->tally));
	s->env = (struct smtp_env){
	        .chunks = {.get = chunk_get_cb, .put = chunk_put_cb, .arg = &s->chunks},
	        .log = log_cb,
	        .log_reject = log_reject_cb,
	        .log_arg = &lc->log,
	        .stats = &s->stats,
	        .tally = &s->tally,
	        .reader = NULL, /* set by the lcore when it registers with RCU */
	        .tls = &s->tls_ops,
	};
	s->tls_ops = (struct smtp_tls){.start = tls_start_cb, .arg = lc};
	s->app = tcp_app_register(lc->tcp, &smtp_app, lc);
	if (s->app < 0)
		return -1;
	(void)m;
	return sess_listen(lc, snap);
}

/* wanted - whether a snapshot's services include port */
static bool
wanted(const struct pol_model *m, uint16_t port)
{
	for (unsigned i = 0; i < m->nservices; i++)
		for (unsigned p = 0; p < m->services[i].nports; p++)
			if (m->services[i].ports[p] == port)
				return true;
	return false;
}

int
sess_listen(struct lcore_conf *lc, const struct pol_snapshot *snap)
{
	struct sess_lcore *s = &lc->sess;
	const struct pol_model *m = pol_snapshot_model(snap);
	unsigned kept = 0;
	int rc = 0;

	/* ports no service has any more: no new connections (those open go on) */
	for (unsigned i = 0; i < s->nports; i++) {
		if (wanted(m, s->ports[i]))
			s->ports[kept++] = s->ports[i];
		else
			tcp_unlisten(lc->tcp, s->ports[i]);
	}
	s->nports = kept;
	for (unsigned i = 0; i < m->nservices; i++)
		for (unsigned p = 0; p < m->services[i].nports; p++) {
			uint16_t port = m->services[i].ports[p];
			bool have = false;

			for (unsigned k = 0; k < s->nports; k++)
				have |= s->ports[k] == port;
			if (have)
				continue;
			if (s->nports == TCP_MAX_LISTEN || tcp_listen(lc->tcp, port, s->app) < 0) {
				rc = -1;
				continue;
			}
			s->ports[s->nports++] = port;
		}
	return rc;
}
