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

/* count - a reply written at line: by class, and 4xx/5xx as errors */
static void
count(struct smtp_call *c, const char *line)
{
	if (line[0] < '2' || line[0] > '5')
		smtp_panic("reply \"%.3s\"", line);
	c->env->stats->replies[line[0] - '0']++;
	if (line[0] >= '4')
		c->ss->nerrors++;
}

/* smtp_reply_put - append head, tail and CRLF; count the line when it is
 * a reply's last. No printf: most sessions are a few constant replies. */
void
smtp_reply_put(struct smtp_call *c, const char *head, size_t hlen, const char *tail, size_t tlen,
               bool counted)
{
	struct smtp_out *out = c->out;
	char *start = out->buf + out->len;
	size_t room = out->cap - out->len;

	if (hlen + tlen < 4 || hlen + tlen + 2 > room)
		smtp_panic("reply of %zu bytes does not fit in %zu", hlen + tlen, room);
	memcpy(start, head, hlen);
	if (tlen > 0) /* most replies are one constant piece */
		memcpy(start + hlen, tail, tlen);
	memcpy(start + hlen + tlen, "\r\n", 2);
	out->len += hlen + tlen + 2;
	if (counted)
		count(c, start);
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
	smtp_tally_rule(c->env->tally, c->snap, v->rule);
	/* pol_eval names the relay permit before later checks refuse (a lan
	 * client without authentication on a require_auth service): only an
	 * accepted recipient was let through by it */
	if (v->action == POL_ACCEPT)
		smtp_tally_rule(c->env->tally, c->snap, v->relay_rule);
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
	char line[POL_REPLY_MAX + 3 * POL_MAX_INPUT + 256];
	size_t n;

	pol_eval(c->snap, c->env->reader, &q, stage, &c->ss->pol, &v);
	if (v.reason >= POL_R_COUNT)
		smtp_panic("verdict reason %d", v.reason);
	c->env->stats->verdicts[v.reason]++;
	tally(c, &v);
	if (v.action == POL_ACCEPT)
		return true;
	smtp_reply(c, v.text);
	n = pol_format_reject(line, sizeof(line), stage, &q, &v,
	                      (c->ss->flags & SMTP_F_ESMTP) != 0);
	log_line(c->env, line, n);
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
