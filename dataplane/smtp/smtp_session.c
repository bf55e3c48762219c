/* smtp_session - the entry points: open, input, timeout, close
 *
 * Each call looks the session's service up in the snapshot it is given
 * (live pushes may have changed it, or removed it: 421 then), works within
 * SMTP_OUT_ROOM of output per step, and leaves the session holding only
 * the chunks it needs: a partial line is copied to a chunk at the end of a
 * call and back to the stack at the start of the next, so an idle session
 * between complete commands holds none for its line.
 *
 * Untrusted input: the bytes of smtp_input(), which go through the line
 * reader (smtp_line.c) and then the command parser (smtp_cmd.c).
 */
#include <string.h>

#include "smtp_impl.h"
#include "smtp_tally.h"

_Static_assert(SMTP_CHUNK_SIZE > SMTP_LINE_TEXT, "a chunk holds a partial line");
_Static_assert(SMTP_OUT_ROOM >= POL_REPLY_MAX + 2 + 300, "a refusal and a 421 fit in a step");
_Static_assert(sizeof(struct smtp_session) <= 256, "a session stays small");
_Static_assert(POL_MAX_SERVICES < SMTP_SVC_NONE, "a service index fits svc_idx");

/* smtp_chunk_get - a chunk, or NULL after a 421 that ends the session */
char *
smtp_chunk_get(struct smtp_call *c)
{
	char *chunk = c->env->chunks.get(c->env->chunks.arg);

	if (chunk == NULL)
		smtp_hangup(c, SMTP_E_NO_MEMORY, "out of memory",
		            "421 4.3.0 %s Error: insufficient system resources", c->hostname);
	return chunk;
}

/* room - free output space; a buffer overfilled by the caller is a bug */
static size_t
room(const struct smtp_out *out)
{
	if (out->len > out->cap)
		smtp_panic("output buffer holds %zu of %zu", out->len, out->cap);
	return out->cap - out->len;
}

/* smtp_open - greet a new client */
enum smtp_action
smtp_open(struct smtp_session *ss, const struct smtp_env *env, const struct pol_snapshot *snap,
          uint64_t now, const struct cidr *client, uint16_t port, struct smtp_out *out)
{
	struct smtp_call c;

	/* helo_in needs no zeroing: it is read only through helo */
	memset(ss, 0, offsetof(struct smtp_session, helo_in));
	pol_state_init(&ss->pol);
	ss->client = *client;
	ss->port = port;
	ss->start_ms = ss->last_ms = now;
	ss->deadline_ms = UINT64_MAX;
	ss->state = SMTP_S_GREETED;
	ss->lstate = SMTP_L_TEXT;
	ss->where = SMTP_C_CONNECT;
	ss->svc_idx = SMTP_SVC_NONE;
	env->stats->sessions_opened++;
	if (room(out) < SMTP_OUT_ROOM)
		smtp_panic("smtp_open with %zu bytes of output free", room(out));
	if (!smtp_begin(&c, ss, env, snap, now, out))
		return SMTP_CLOSE;
	if (env->tally != NULL) {
		struct smtp_svc_tally *st =
		        smtp_tally_service_at(env->tally, snap, c.snap_id, c.svc, ss->svc_idx);

		if (st != NULL)
			st->sessions++;
	}
	if (!smtp_decide(&c, POL_CONNECT, NULL, NULL, NULL))
		ss->state = SMTP_S_DENIED;
	else if (c.svc->greet_wait_ms > 0)
		ss->state = SMTP_S_PREGREET; /* smtp_timeout() greets once the wait is over */
	else
		smtp_reply2(&c, "220 ", c.svc->banner);
	smtp_error_limit(&c);
	smtp_set_deadline(&c);
	return smtp_next(ss);
}

/* line_end - a complete line: its reply, then the error limit; plain: no
 * control or 8-bit byte in it, as the line reader found. Inline in both
 * callers: smtp_input_one()'s constant event folds its switch away */
static inline __attribute__((always_inline)) void
line_end(struct smtp_call *c, enum smtp_line_ev ev, char *line, uint16_t len, bool plain)
{
	if (ev != SMTP_LINE_BARE_LF) {
		c->ss->last_ms = c->now;
		c->env->stats->commands++;
	}
	if (c->ss->state == SMTP_S_AUTH && ev != SMTP_LINE_BARE_LF) {
		line[len] = '\0';
		smtp_auth_line(c, ev, line, len); /* a response of the exchange, not a command */
		smtp_error_limit(c);
		return;
	}
	switch (ev) {
	case SMTP_LINE_DONE:
		line[len] = '\0';
		smtp_command(c, line, len, plain);
		break;
	case SMTP_LINE_LONG:
		smtp_reply(c, "500 5.5.6 Error: line too long");
		smtp_error(c, SMTP_E_LONG_LINE);
		break;
	case SMTP_LINE_BARE_LF:
		/* Postfix's smtpd_forbid_bare_newline = reject, with the code
		 * that says we hang up (smtpd_forbid_bare_newline_reject_code = 521) */
		smtp_hangup(c, SMTP_E_BARE_LF, "bare <LF> received",
		            "521 5.5.2 %s Error: bare <LF> received", c->hostname);
		break;
	default:
		smtp_panic("line event %d", ev);
	}
	smtp_error_limit(c);
}

/* The states in which the session does not read commands: the relay or
 * the checker has the word, TLS starts, or the session ends. */
#define NOT_READING                                                                                \
	(1u << SMTP_S_CLOSING | 1u << SMTP_S_WAIT | 1u << SMTP_S_DATA | 1u << SMTP_S_TLS |         \
	 1u << SMTP_S_AUTH_WAIT)
_Static_assert(SMTP_S_CLOSING < 32, "a state is a bit of NOT_READING");

/* reading - whether the session reads commands now: one test of a bit, as
 * it is asked before every line */
static inline bool
reading(const struct smtp_session *ss)
{
	return !((NOT_READING >> (ss->state & 31)) & 1);
}

/* smtp_input - read command lines and answer them, within the output room */
enum smtp_action
smtp_input(struct smtp_session *ss, const struct smtp_env *env, const struct pol_snapshot *snap,
           uint64_t now, const void *data, size_t len, size_t *consumed, struct smtp_out *out)
{
	const unsigned char *p = data;
	char line[SMTP_LINE_MAX]; /* smtp_line_whole() copies in words */
	uint16_t llen = 0;
	struct smtp_call c;
	size_t i = 0;

	*consumed = 0;
	if (ss->state == SMTP_S_FREE)
		smtp_panic("input on a closed session");
	if (ss->state == SMTP_S_CLOSING)
		return SMTP_CLOSE;
	if (room(out) < SMTP_OUT_ROOM || !reading(ss))
		return SMTP_CONTINUE;
	if (!smtp_begin(&c, ss, env, snap, now, out))
		return SMTP_CLOSE;
	if (ss->state == SMTP_S_PREGREET && len > 0) {
		/* it did not wait for our banner: a bot (postscreen's PREGREET) */
		*consumed = len;
		smtp_hangup(&c, SMTP_E_PREGREET, "pregreet", "521 5.5.1 Protocol error");
		return SMTP_CLOSE;
	}
	if (smtp_timed_out(&c))
		return SMTP_CLOSE;
	if (ss->line != NULL) {
		memcpy(line, ss->line, ss->line_len);
		llen = ss->line_len;
		ss->line_len = 0;
		smtp_chunk_put(env, &ss->line);
	}
	while (i < len && reading(ss)) {
		enum smtp_line_ev ev;
		bool plain = false;
		size_t took = 0;

		if (llen == 0 && ss->lstate == SMTP_L_TEXT) {
			/* at a line boundary only, so that every line read is answered */
			if (room(out) < SMTP_OUT_ROOM)
				break;
			took = smtp_line_whole(p + i, len - i, line, &llen, &plain, &ev);
		}
		if (took == 0)
			took = smtp_line_scan(&ss->lstate, line, &llen, p + i, len - i, &ev);
		i += took;
		if (ev != SMTP_LINE_MORE) {
			line_end(&c, ev, line, llen, plain);
			llen = 0;
		}
	}
	if (ss->state == SMTP_S_TLS) {
		/* every byte after STARTTLS that arrived before the handshake is
		 * dropped, never read as a command (CVE-2011-0411, CVE-2014-3556) */
		i = len;
		llen = 0;
	}
	if (llen > 0 && ss->state != SMTP_S_CLOSING && (ss->line = smtp_chunk_get(&c)) != NULL) {
		memcpy(ss->line, line, llen);
		ss->line_len = llen;
	}
	smtp_set_deadline(&c);
	*consumed = i;
	return smtp_next(ss);
}

/* smtp_timeout - the timer: 421 once the deadline has passed */
enum smtp_action
smtp_timeout(struct smtp_session *ss, const struct smtp_env *env, const struct pol_snapshot *snap,
             uint64_t now, struct smtp_out *out)
{
	struct smtp_call c;

	if (ss->state == SMTP_S_FREE)
		smtp_panic("timeout on a closed session");
	if (ss->state == SMTP_S_CLOSING)
		return SMTP_CLOSE;
	if (room(out) < SMTP_OUT_ROOM)
		return SMTP_CONTINUE;
	if (!smtp_begin(&c, ss, env, snap, now, out))
		return SMTP_CLOSE;
	if (ss->state == SMTP_S_PREGREET) {
		smtp_set_deadline(&c);
		if (now < ss->deadline_ms)
			return SMTP_CONTINUE;
		/* the client waited: greet it; the command timeout runs from here.
		 * Unless the session's own time ran out meanwhile (a timer that
		 * fired late): then its deadline would already be past, so it
		 * gets the timeout's 421 now rather than a banner (fuzz_smtp's
		 * corpus/smtp/crash-pregreet-late-timer) */
		if (now < ss->start_ms + c.svc->session_timeout_ms) {
			ss->state = SMTP_S_GREETED;
			ss->last_ms = now;
			smtp_reply2(&c, "220 ", c.svc->banner);
			smtp_set_deadline(&c);
			return smtp_next(ss);
		}
	}
	smtp_timed_out(&c);
	return smtp_next(ss);
}

/* smtp_relay_reply - the relay answered: the reply, then the state it leads to */
enum smtp_action
smtp_relay_reply(struct smtp_session *ss, const struct smtp_env *env,
                 const struct pol_snapshot *snap, uint64_t now, const char *reply, bool end,
                 struct smtp_out *out)
{
	struct smtp_call c;
	bool ok = reply[0] == '2';

	if (ss->state != SMTP_S_WAIT && ss->state != SMTP_S_DATA)
		smtp_panic("relay reply in state %u", ss->state);
	if (room(out) < SMTP_OUT_ROOM)
		smtp_panic("relay reply with %zu bytes of output free", room(out));
	if (!smtp_begin(&c, ss, env, snap, now, out))
		return SMTP_CLOSE;
	ss->last_ms = now; /* the client waited for us, not we for it */
	if (ss->state == SMTP_S_WAIT && ss->where == SMTP_C_DATA && reply[0] == '3' && !end) {
		smtp_reply(&c, "354 End data with <CR><LF>.<CR><LF>");
		ss->state = SMTP_S_DATA;
	} else {
		smtp_reply(&c, reply);
		if (!ok)
			smtp_error(&c, SMTP_E_BACKEND);
		if (ss->state == SMTP_S_WAIT && ss->where == SMTP_C_RCPT && ok)
			ss->nrcpt++;
		/* a refused recipient leaves the transaction open; DATA's reply ends it */
		ss->state = SMTP_S_MAIL;
		if (ss->where == SMTP_C_DATA)
			smtp_txn_reset(&c);
		if (end)
			ss->state = SMTP_S_CLOSING;
	}
	smtp_error_limit(&c);
	smtp_set_deadline(&c);
	return smtp_next(ss);
}

/* smtp_tls_ready - the handshake is done: start over inside TLS */
void
smtp_tls_ready(struct smtp_session *ss, const struct pol_snapshot *snap, uint64_t now)
{
	struct smtp_call c = {.ss = ss, .snap = snap, .now = now};

	if (ss->state != SMTP_S_TLS)
		smtp_panic("TLS ready in state %u", ss->state);
	if (ss->line != NULL || ss->sender != NULL)
		smtp_panic("TLS ready with a line or a transaction kept");
	/* RFC 3207 4.2: discard any knowledge obtained from the client before */
	if (ss->helo != NULL)
		smtp_panic("TLS ready with a HELO kept"); /* dropped at the 220 to STARTTLS */
	pol_state_forget(&ss->pol, POL_HELO);
	ss->flags = SMTP_F_TLS;
	ss->lstate = SMTP_L_TEXT;
	ss->nrcpt = 0;
	ss->state = SMTP_S_GREETED;
	ss->last_ms = now;
	/* without its service (a push removed it) the next call says 421 */
	c.svc = snap != NULL ? pol_service_by_port(snap, ss->port) : NULL;
	if (c.svc != NULL)
		smtp_set_deadline(&c);
}

/* smtp_auth_reply - the checker answered the session's AUTH */
enum smtp_action
smtp_auth_reply(struct smtp_session *ss, const struct smtp_env *env,
                const struct pol_snapshot *snap, uint64_t now, enum smtp_auth_result result,
                const char *user, struct smtp_out *out)
{
	struct smtp_call c;

	if (ss->state != SMTP_S_AUTH_WAIT)
		smtp_panic("auth reply in state %u", ss->state);
	if (room(out) < SMTP_OUT_ROOM)
		smtp_panic("auth reply with %zu bytes of output free", room(out));
	ss->flags &= (uint8_t)~SMTP_F_ASKED; /* answered: nothing left to cancel */
	if (!smtp_begin(&c, ss, env, snap, now, out))
		return SMTP_CLOSE;
	ss->last_ms = now; /* the client waited for us, not we for it */
	smtp_auth_answer(&c, result, user);
	smtp_error_limit(&c);
	smtp_set_deadline(&c);
	return smtp_next(ss);
}

/* smtp_touch - the client is sending a message: it is not idle */
void
smtp_touch(struct smtp_session *ss, uint64_t now)
{
	ss->last_ms = now;
}

/* smtp_close - give everything back (and tell the relay) */
void
smtp_close(struct smtp_session *ss, const struct smtp_env *env)
{
	if (ss->state == SMTP_S_FREE)
		smtp_panic("session closed twice");
	if (env->relay != NULL && ss->relay != NULL)
		env->relay->close(env->relay->arg, ss);
	if (ss->flags & SMTP_F_ASKED) /* a timeout or a lost service ended it meanwhile */
		env->auth->cancel(env->auth->arg, ss);
	smtp_chunk_put(env, &ss->line);
	smtp_chunk_put(env, &ss->login);
	smtp_helo_forget(env, ss);
	smtp_chunk_put(env, &ss->sender);
	ss->line_len = 0;
	ss->state = SMTP_S_FREE;
	env->stats->sessions_closed++;
}
