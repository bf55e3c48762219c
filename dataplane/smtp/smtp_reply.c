/* smtp_reply - replies, policy decisions, log lines and counters
 *
 * Every reply goes through here, so that each is counted by class, every
 * 4xx/5xx counts towards the service's max_errors, and no reply line can
 * overrun the caller's buffer (the session reserves SMTP_OUT_ROOM per step;
 * a reply that does not fit is a bug, hence a panic).
 *
 * Client text reaches a reply or a log line only escaped and cut: through
 * pol_eval's and pol_format_reject's own escaping, or smtp_echo() here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_impl.h"
#include "smtp_tally.h"

/* smtp_panic_at - report an impossible state and abort */
void
smtp_panic_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smtp: panic at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void
smtp_reply_misfit(size_t len, size_t room)
{
	smtp_panic("reply of %zu bytes does not fit in %zu", len, room);
}

/* smtp_error - count an error of a kind */
void
smtp_error(struct smtp_call *c, enum smtp_err e)
{
	c->env->stats->errors[e]++;
}

/* log_line - hand one line to the caller's sink */
static void
log_line(const struct smtp_env *env, const char *line, size_t len)
{
	if (env->log != NULL)
		env->log(env->log_arg, line, len);
}

/* smtp_log - a log line of n bytes, as snprintf counted them into size */
void
smtp_log(const struct smtp_env *env, const char *line, int n, size_t size)
{
	if (n > 0)
		log_line(env, line, (size_t)n < size ? (size_t)n : size - 1);
}

/* smtp_hangup - a last reply and a log line; the session ends */
void
smtp_hangup(struct smtp_call *c, enum smtp_err e, const char *why, const char *fmt, ...)
{
	char name[80], line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		smtp_panic("last reply of %d bytes", n);
	smtp_reply(c, line);
	smtp_error(c, e);
	n = snprintf(line, sizeof(line), "%s after %s from %s", why, smtp_cmd_name(c->ss->where),
	             smtp_client_name(&c->ss->client, name, sizeof(name)));
	if (n > 0)
		log_line(c->env, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	c->ss->state = SMTP_S_CLOSING;
}

/* tally - count a decision by service and by the rules that made it: the
 * entry that refused or whitelisted, and the lan or relay.allow_clients
 * entry that let an accepted off-domain recipient relay */
static void
tally(const struct smtp_call *c, const struct pol_verdict *v)
{
	struct smtp_svc_tally *st;

	if (c->env->tally == NULL)
		return;
	st = smtp_tally_service_at(c->env->tally, c->snap, c->snap_id, c->svc, c->ss->svc_idx);
	if (st != NULL)
		st->verdicts[v->reason]++;
	/* most decisions name no rule (a plain accept, a relay refusal): no call */
	if (v->rule != POL_NONE)
		smtp_tally_rule(c->env->tally, c->snap, v->rule);
	/* pol_eval names the relay permit before later checks refuse (a lan
	 * client without authentication on a require_auth service): only an
	 * accepted recipient was let through by it */
	if (v->action == POL_ACCEPT && v->relay_rule != POL_NONE)
		smtp_tally_rule(c->env->tally, c->snap, v->relay_rule);
}

/* log_reject_line - the refusal's line formatted here (no record sink, or
 * inputs too long for a record); out of line: its buffer is 2.4 KB */
static __attribute__((noinline)) void
log_reject_line(const struct smtp_call *c, enum pol_stage stage, const struct pol_query *q,
                const struct pol_verdict *v)
{
	char line[POL_REPLY_MAX + 3 * POL_MAX_INPUT + 256];
	size_t n;

	n = pol_format_reject(line, sizeof(line), stage, q, v, (c->ss->flags & SMTP_F_ESMTP) != 0);
	log_line(c->env, line, n);
}

/* rec_part - one string of a record: as much as pol_format_reject() reads
 * of it (client text up to POL_MAX_INPUT), or none */
static inline size_t
rec_part(struct smtp_reject_rec *r, struct iovec *part, unsigned i, const char *s)
{
	size_t n = 0;

	if (s != NULL)
		n = strnlen(s, POL_MAX_INPUT);
	r->len[i] = s != NULL ? (uint16_t)n : SMTP_REC_NONE;
	*part = (struct iovec){.iov_base = (void *)(uintptr_t)(s != NULL ? s : ""), .iov_len = n};
	return n;
}

/* log_reject - the refusal's log line: as a record when the sink takes
 * them (the worker copies four strings; the control thread formats), else
 * formatted here. Only what the line prints is copied. */
static void
log_reject(const struct smtp_call *c, enum pol_stage stage, const struct pol_query *q,
           const struct pol_verdict *v)
{
	struct smtp_reject_rec r;
	struct iovec parts[1 + SMTP_REC_NSTR];
	size_t total = sizeof(r);

	if (c->env->log_reject == NULL) {
		log_reject_line(c, stage, q, v);
		return;
	}
	r.client = q->client;
	r.stage = (uint8_t)stage;
	r.esmtp = (c->ss->flags & SMTP_F_ESMTP) != 0;
	parts[0] = (struct iovec){.iov_base = &r, .iov_len = sizeof(r)};
	/* the reply text whole, as pol_eval measured it */
	r.len[SMTP_REC_TEXT] = v->text_len;
	parts[1 + SMTP_REC_TEXT] =
	        (struct iovec){.iov_base = (void *)(uintptr_t)v->text, .iov_len = v->text_len};
	total += v->text_len;
	total += rec_part(&r, &parts[1 + SMTP_REC_HELO], SMTP_REC_HELO, q->helo);
	total += rec_part(&r, &parts[1 + SMTP_REC_SENDER], SMTP_REC_SENDER,
	                  stage >= POL_MAIL ? q->sender : NULL);
	total += rec_part(&r, &parts[1 + SMTP_REC_RCPT], SMTP_REC_RCPT,
	                  stage == POL_RCPT ? q->rcpt : NULL);
	if (total > SMTP_REC_MAX) {
		log_reject_line(c, stage, q, v); /* long inputs: rare */
		return;
	}
	c->env->log_reject(c->env->log_arg, parts, 1 + SMTP_REC_NSTR);
}

/* rec_string - string i of a record at *at into dst (size bytes), NUL-terminated;
 * NULL when the record has none; *at moves past it; false when it overruns */
static bool
rec_string(const struct smtp_reject_rec *r, unsigned i, const char *rec, size_t len, size_t *at,
           char *dst, size_t size, const char **s)
{
	size_t n = r->len[i];

	*s = NULL;
	if (n == SMTP_REC_NONE)
		return true;
	if (n >= size || n > len - *at)
		return false;
	memcpy(dst, rec + *at, n);
	dst[n] = '\0';
	*at += n;
	*s = dst;
	return true;
}

size_t
smtp_reject_format(char *buf, size_t size, const void *rec, size_t len)
{
	static const char bad[] = "warning: a reject log record is malformed";
	char helo[POL_MAX_INPUT + 1], sender[POL_MAX_INPUT + 1], rcpt[POL_MAX_INPUT + 1];
	struct smtp_reject_rec r;
	struct pol_verdict v;
	struct pol_query q;
	const char *text;
	size_t at = sizeof(r);

	if (size == 0)
		return 0;
	memset(&q, 0, sizeof(q));
	memset(&v, 0, sizeof(v));
	if (len < sizeof(r))
		goto malformed;
	memcpy(&r, rec, sizeof(r));
	if (r.stage > POL_RCPT || r.len[SMTP_REC_TEXT] == SMTP_REC_NONE ||
	    !rec_string(&r, SMTP_REC_TEXT, rec, len, &at, v.text, sizeof(v.text), &text) ||
	    !rec_string(&r, SMTP_REC_HELO, rec, len, &at, helo, sizeof(helo), &q.helo) ||
	    !rec_string(&r, SMTP_REC_SENDER, rec, len, &at, sender, sizeof(sender), &q.sender) ||
	    !rec_string(&r, SMTP_REC_RCPT, rec, len, &at, rcpt, sizeof(rcpt), &q.rcpt) || at != len)
		goto malformed;
	q.client = r.client;
	return pol_format_reject(buf, size, (enum pol_stage)r.stage, &q, &v, r.esmtp != 0);
malformed:
	snprintf(buf, size, "%s", bad);
	return strlen(buf);
}

/* smtp_decide - pol_eval one stage; reply and log a refusal */
bool
smtp_decide(struct smtp_call *c, enum pol_stage stage, const char *helo, const char *sender,
            const char *rcpt)
{
	struct pol_query q = {
	        .service = c->svc,
	        .client = c->ss->client,
	        .helo = helo,
	        .sender = sender,
	        .rcpt = rcpt,
	        .auth = (c->ss->flags & SMTP_F_AUTH) != 0,
	        .auth_user = c->ss->login,
	};
	struct pol_verdict v;

	pol_eval(c->snap, c->env->reader, &q, stage, &c->ss->pol, &v);
	if (v.reason >= POL_R_COUNT)
		smtp_panic("verdict reason %d", v.reason);
	c->env->stats->verdicts[v.reason]++;
	tally(c, &v);
	if (v.action == POL_ACCEPT)
		return true;
	smtp_reply_put(c, v.text, v.text_len, "", 0, true); /* measured by pol_eval */
	log_reject(c, stage, &q, &v);
	return false;
}

/* smtp_client_name - "unknown[192.0.2.1]", as pol_client_name() writes it,
 * without printf for IPv4: a refused client's every command names it */
char *
smtp_client_name(const struct cidr *client, char *buf, size_t size)
{
	char *p = buf;

	if (client->family != 4 || size < sizeof("unknown[255.255.255.255]"))
		return pol_client_name(client, buf, size);
	memcpy(p, "unknown[", 8);
	p += 8;
	for (int i = 0; i < 4; i++) {
		unsigned v = client->addr[i];

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : ']';
	}
	*p = '\0';
	return buf;
}

/* smtp_echo - client text as it may appear in a reply: printable ASCII, cut */
char *
smtp_echo(char *dst, size_t size, const char *src, size_t len)
{
	size_t n;

	for (n = 0; n < len && n + 1 < size; n++) {
		unsigned char ch = (unsigned char)src[n];

		dst[n] = ch < ' ' || ch >= 0x7f ? '?' : (char)ch;
	}
	dst[n] = '\0';
	return dst;
}

/* smtp_err_name - the counter label of an error kind */
const char *
smtp_err_name(enum smtp_err e)
{
	static const char *const names[SMTP_E_COUNT] = {
	        [SMTP_E_LONG_LINE] = "long_line",
	        [SMTP_E_BARE_LF] = "bare_lf",
	        [SMTP_E_BAD_CHAR] = "bad_char",
	        [SMTP_E_SYNTAX] = "syntax",
	        [SMTP_E_UNKNOWN_CMD] = "unknown_command",
	        [SMTP_E_SEQUENCE] = "bad_sequence",
	        [SMTP_E_DENIED] = "denied",
	        [SMTP_E_SIZE] = "size",
	        [SMTP_E_TOO_MANY_RCPTS] = "too_many_recipients",
	        [SMTP_E_NO_RCPTS] = "no_recipients",
	        [SMTP_E_NO_BACKEND] = "no_backend",
	        [SMTP_E_BACKEND] = "backend",
	        [SMTP_E_PREGREET] = "pregreet",
	        [SMTP_E_TIMEOUT] = "timeout",
	        [SMTP_E_TOO_MANY_ERRORS] = "too_many_errors",
	        [SMTP_E_NO_SERVICE] = "no_service",
	        [SMTP_E_NO_MEMORY] = "no_memory",
	        [SMTP_E_TLS_REQUIRED] = "tls_required",
	        [SMTP_E_TLS_UNAVAILABLE] = "tls_unavailable",
	        [SMTP_E_AUTH] = "auth",
	        [SMTP_E_AUTH_TEMP] = "auth_temp",
	};

	return e < SMTP_E_COUNT ? names[e] : "?";
}

/* smtp_cmd_name - a command as Postfix names it in log lines */
const char *
smtp_cmd_name(enum smtp_cmd c)
{
	static const char *const names[SMTP_C_COUNT] = {
	        "CONNECT", "HELO", "EHLO", "MAIL", "RCPT",     "DATA", "RSET",
	        "NOOP",    "QUIT", "VRFY", "HELP", "STARTTLS", "AUTH", "UNKNOWN",
	};

	return c < SMTP_C_COUNT ? names[c] : "?";
}
