/* relay_backend - the backend's side of a relay: its flow, its replies
 *
 * The backend flow's TCP callbacks (b_*), its replies parsed
 * (relay_reply.c) and taken in the state that awaited each (on_reply:
 * see relay.c for the states), the identity hand-off (PROXY header,
 * XCLIENT) and STARTTLS on the backend leg (relay_tls.c decides, tls/
 * encrypts). The backend's bytes are untrusted: a malformed reply, a reply
 * nobody asked for, or plaintext after the 220 to STARTTLS fails the
 * backend (a 4xx to the client), never the session.
 */
#include <stdio.h>
#include <string.h>

#include "relay_impl.h"

/* ---- replies ---- */

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

	logq_printf(&r->lc->log,
	            "NOQUEUE: %s: %s from %s: %s; from=<%s> to=<%.*s> proto=%s helo=<%s>", what,
	            stage, relay_client_name(r, name, sizeof(name)), reply,
	            r->ss != NULL && r->ss->sender != NULL ? r->ss->sender : "", (int)rcpt_len,
	            rcpt, r->ss != NULL && (r->ss->flags & SMTP_F_ESMTP) ? "ESMTP" : "SMTP",
	            relay_helo_name(r));
}

/* handoff_xclient - the next XCLIENT command with the client's identity:
 * 1 sent, 0 none left, -1 failed */
static int
handoff_xclient(struct relay *r)
{
	char cmd[RELAY_LINE_MAX];
	struct relay_ident id = {
	        .client = relay_addr_of(r->client, true),
	        .local = relay_addr_of(r->client, false),
	        .helo = r->ss->helo,
	        .esmtp = (r->ss->flags & SMTP_F_ESMTP) != 0,
	        /* the backend's own relay and sender checks see the login (Postfix: LOGIN=) */
	        .login = (r->ss->flags & SMTP_F_AUTH) ? r->ss->login : NULL,
	};
	int n = relay_xclient(cmd, sizeof(cmd), &id, r->xc_attrs, &r->xc_step);

	if (n <= 0)
		return n;
	return relay_bsend(r, cmd, (size_t)n) ? 1 : -1;
}

/* send_ehlo - our EHLO, first or inside TLS: the gate's hostname when the
 * client's identity follows in XCLIENT, else the client's HELO name; false
 * when it could not go (the backend is failed) */
static bool
send_ehlo(struct relay *r)
{
	r->state = R_EHLO;
	if (relay_sendf(r, "EHLO %s\r\n",
	                r->handoff == POL_HANDOFF_XCLIENT
	                        ? pol_snapshot_model(relay_snap(r))->hostname
	                        : relay_helo_name(r)))
		return true;
	relay_fail(r, "cannot send EHLO");
	return false;
}

/* ---- TLS on the backend leg ---- */

/* tls_result - count how the backend leg's TLS ended, once */
static void
tls_result(struct relay *r)
{
	if (r->ts.result != RELAY_TLS_R_PENDING)
		relay_rl(r)->stats.tls[r->ts.result]++;
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
	relay_fail_with(r, why, relay_tls_reply((enum relay_tls_result)r->ts.result));
}

/* peer_name - the name the backend's certificate must carry: tls_server_name,
 * else the backend's address as the policy gives it */
static const char *
peer_name(const struct relay *r, char *buf, size_t size)
{
	const struct pol_backend *b = &pol_snapshot_model(relay_snap(r))->backend;
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

	r->tls = tls_conn_new_client(pol_snapshot_attachment(relay_snap(r)),
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
	relay_bflush(r);
	relay_arm(r, relay_reply_ms(r));
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
	struct relay_stats *st = &relay_rl(r)->stats;
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
	            relay_backend_name(r, bname, sizeof(bname)),
	            relay_client_name(r, name, sizeof(name)), version, cipher, bits, alg);
	relay_tls_step(&r->ts, RELAY_TLS_EV_SHAKEN, 0, 0);
	if (send_ehlo(r))
		relay_arm(r, relay_reply_ms(r));
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
	relay_bflush(r); /* our alert, if there is one */
	tls_fail(r, detail);
}

/* ehlo_done - the backend's EHLO reply is taken (and TLS settled): the
 * hand-off by XCLIENT, or ready for the client's requests */
static void
ehlo_done(struct relay *r)
{
	if (r->state != R_EHLO2 && r->handoff == POL_HANDOFF_XCLIENT) {
		if (!(r->ehlo_ext & RELAY_EXT_XCLIENT)) {
			relay_fail(r, "the backend does not offer XCLIENT to us");
			return;
		}
		r->xc_step = 0;
		if (handoff_xclient(r) <= 0) {
			relay_fail(r, "cannot send XCLIENT");
			return;
		}
		r->state = R_XCLIENT;
		relay_arm(r, relay_reply_ms(r));
		return;
	}
	r->state = R_READY;
	relay_pump(r);
}

/* on_reply - one whole reply from the backend, in the state that awaited it */
static void
on_reply(struct relay *r, const struct relay_reply *rr)
{
	struct relay_lcore *rl = relay_rl(r);
	unsigned code = rr->code;
	char reply[SMTP_LINE_MAX], text[SMTP_LINE_MAX - 8];

	clean(text, sizeof(text), rr->text, rr->text_len);
	snprintf(reply, sizeof(reply), text[0] != '\0' ? "%u %s" : "%u", code, text);
	tcp_set_deadline(r->backend, 0);
	switch (r->state) {
	case R_GREETING:
		if (code != 220) {
			relay_fail(r, "no 220 greeting");
			return;
		}
		if (!send_ehlo(r))
			return;
		break;
	case R_EHLO:
	case R_EHLO2:
		if (code != 250) {
			relay_fail(r, "EHLO refused");
			return;
		}
		r->ehlo_ext = rr->ext;
		r->xc_attrs = rr->xclient;
		if (r->state == R_EHLO) {
			switch (relay_tls_step(&r->ts, RELAY_TLS_EV_EHLO, code, rr->ext)) {
			case RELAY_TLS_STARTTLS:
				if (!relay_sendf(r, "STARTTLS\r\n")) {
					relay_fail(r, "cannot send STARTTLS");
					return;
				}
				r->state = R_STARTTLS;
				relay_arm(r, relay_reply_ms(r));
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
			relay_fail(r, "XCLIENT refused");
			return;
		}
		switch (handoff_xclient(r)) {
		case 1: /* the next part of a split XCLIENT */
			relay_arm(r, relay_reply_ms(r));
			return;
		case -1:
			relay_fail(r, "cannot send XCLIENT");
			return;
		}
		rl->stats.handoffs++;
		r->state = R_EHLO2;
		if (!relay_sendf(r, "EHLO %s\r\n", relay_helo_name(r))) {
			relay_fail(r, "cannot send EHLO");
			return;
		}
		break;
	case R_MAIL:
		if (code / 100 == 2) {
			r->txn = true;
			r->state = R_READY;
			relay_pump(r);
			return;
		}
		/* the recipient gets the sender's refusal */
		rl->stats.rcpt_refused++;
		r->state = R_READY;
		log_reply(r, "proxy-reject", "MAIL", reply, r->rcpt, r->rcpt_len);
		relay_answer(r, reply, false);
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
			relay_pump(r);
			return;
		}
		relay_answer(r, reply, false);
		return;
	case R_DATA:
		if (code == 354) {
			const struct pol_service *svc =
			        pol_service_by_port(relay_snap(r), r->ss->port);

			r->state = R_BODY;
			r->discard = false;
			relay_ds_init(&r->ds, svc != NULL ? svc->message_size_limit : 0);
		} else {
			r->state = R_READY;
			rl->stats.messages_refused++;
		}
		relay_answer(r, reply, false);
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
		relay_answer(r, reply, false);
		return;
	case R_RSET:
		if (code != 250) {
			relay_fail(r, "RSET refused");
			return;
		}
		r->txn = false;
		r->state = R_READY;
		relay_pump(r);
		return;
	case R_QUIT:
		return;
	default: {
		relay_fail(r, "a reply nobody asked for");
		return;
	}
	}
	relay_arm(r, relay_reply_ms(r));
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
		struct relay_addr src = relay_addr_of(r->client, true),
		                  dst = relay_addr_of(r->client, false);
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
			relay_fail(r, "cannot send the PROXY header");
			return;
		}
		lc->relay.stats.handoffs++;
	}
	r->state = R_GREETING;
	relay_arm(r, relay_reply_ms(r));
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
			relay_fail(r, why);
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
			relay_bflush(r);
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
		relay_bflush(r); /* a post-handshake message may have answered something */
		if (n < 0) {
			/* close_notify after our QUIT is the expected end; its FIN follows */
			if (r->state != R_QUIT) {
				char why[128];

				snprintf(why, sizeof(why), "TLS: %s", tls_conn_error(r->tls));
				relay_fail(r, why);
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
	relay_fail(r, "the backend closed the connection");
}

static void
b_sent(void *ctx, struct tcp_flow *f)
{
	struct relay *r = tcp_flow_app(f);

	(void)ctx;
	if (r != NULL)
		relay_bflush(r); /* the rest of what TLS wrote */
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
		relay_drop(r);
		relay_free(r);
		return;
	}
	if (r->state == R_TLS) {
		relay_tls_step(&r->ts, RELAY_TLS_EV_SHAKE_FAIL, 0, 0);
		tls_fail(r, "timeout");
		return;
	}
	relay_fail(r, r->state == R_CONNECTING ? "connect timeout" : "timeout");
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
		const struct pol_backend *b = &pol_snapshot_model(relay_snap(r))->backend;

		lc->relay.stats.connect_failed++;
		lc->relay.down_until[r->bk] = lc->now + RELAY_DOWN_MS;
		/* another backend, while there is one left to try */
		if (++r->tries < b->naddr && relay_connect(r) == 0)
			return;
	}
	relay_fail(r, why == TCP_END_REFUSED ? "connection refused" : "connection lost");
}

const struct tcp_app relay_backend_app = {
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
