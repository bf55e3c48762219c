/* smtp_cmd - the SMTP verbs: a table of check/proceed pairs, as OpenSMTPD's
 *
 * Untrusted input: the command line (at most SMTP_LINE_TEXT bytes, without
 * its CRLF), parsed in place in the caller's stack copy. check() refuses
 * what is out of sequence or malformed and fills struct args; proceed()
 * does the work: a policy decision through smtp_decide() where the stage
 * has one, the reply, the state change.
 *
 * Replies are Postfix's where Postfix has one, so that operators' tools
 * read our logs and clients see what they are used to. A command line with
 * a control character (NUL, a bare CR kept by smtp_line.c, ...) or an
 * 8-bit byte matches no SMTP syntax (commands are US-ASCII, RFC 5321 2.4,
 * and we offer no SMTPUTF8) and gets 500 5.5.2 before its verb is even
 * looked at (also after a connect refusal, where every command but QUIT
 * gets 503: such a line is not a command). Envelope addresses must have
 * RFC 5321's shape and sizes (smtp_addr.c) before the policy sees them.
 *
 * smtp_input_one(), at the end, is the engine's entry for the predicted
 * segment (one whole command line): it lives here so that the parser
 * inlines into it.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp_impl.h"
#include "smtp_scan.h"

/* What check() found in the arguments, for proceed(). */
struct args {
	char *arg;   /* after the verb and its spaces, trailing spaces cut; NUL-terminated */
	size_t len;  /* of arg */
	char *addr;  /* MAIL, RCPT: the path between < and >, NUL-terminated */
	size_t alen; /* of addr */
	bool body8;  /* MAIL: BODY=8BITMIME */
};

/* Verbs and keys as little-endian words of their lowercase letters: a
 * line has no control or 8-bit byte by the time it is parsed, so | 0x20
 * folds ASCII letters (only) to lowercase, as strncasecmp would. */
#define WORD4(a, b, c, d)                                                                          \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define FOLD4 0x20202020u

/* A verb's work, in verbs[] by enum smtp_cmd. */
struct verb {
	/* check - 0 to proceed, or -1 after replying with the refusal */
	int (*check)(struct smtp_call *c, struct args *a);
	void (*proceed)(struct smtp_call *c, struct args *a);
};

/* smtp_txn_reset - forget the open transaction, give its chunk back */
void
smtp_txn_reset(struct smtp_call *c)
{
	struct smtp_session *ss = c->ss;

	const struct smtp_relay *r = c->env->relay;

	if (r != NULL && ss->relay != NULL && ss->state >= SMTP_S_MAIL && ss->state <= SMTP_S_DATA)
		r->reset(r->arg, ss);
	smtp_chunk_put(c->env, &ss->sender);
	ss->nrcpt = 0;
	ss->flags &= (uint8_t)~SMTP_F_BODY_8BIT;
	if (ss->state >= SMTP_S_MAIL && ss->state <= SMTP_S_DATA)
		ss->state = SMTP_S_HELO;
}

/* keep - copy an accepted input into a fresh chunk; NULL after a 421 */
static char *
keep(struct smtp_call *c, const char *s, size_t len)
{
	char *chunk;

	if (len >= SMTP_CHUNK_SIZE)
		smtp_panic("%zu bytes to keep", len);
	if ((chunk = smtp_chunk_get(c)) != NULL) {
		memcpy(chunk, s, len);
		chunk[len] = '\0';
	}
	return chunk;
}

/* keep_helo - copy an accepted HELO name into the session when it is
 * short, else into a fresh chunk; NULL after a 421 */
static char *
keep_helo(struct smtp_call *c, const char *s, size_t len)
{
	if (len >= sizeof(c->ss->helo_in))
		return keep(c, s, len);
	memcpy(c->ss->helo_in, s, len);
	c->ss->helo_in[len] = '\0';
	return c->ss->helo_in;
}

/* syntax - a syntax refusal */
static int
syntax(struct smtp_call *c, const char *reply)
{
	smtp_reply(c, reply);
	smtp_error(c, SMTP_E_SYNTAX);
	return -1;
}

/* sequence - a bad sequence refusal */
static int
sequence(struct smtp_call *c, const char *reply)
{
	smtp_reply(c, reply);
	smtp_error(c, SMTP_E_SEQUENCE);
	return -1;
}

/* ---- HELO, EHLO ---- */

static int
check_helo(struct smtp_call *c, struct args *a, const char *usage)
{
	char *sp;

	if (a->len == 0)
		return syntax(c, usage);
	/* the first word is the name, as Postfix takes it */
	if ((sp = memchr(a->arg, ' ', a->len)) != NULL) {
		*sp = '\0';
		a->len = (size_t)(sp - a->arg);
	}
	return 0;
}

static int
check_helo_cmd(struct smtp_call *c, struct args *a)
{
	return check_helo(c, a, "501 5.5.4 Syntax: HELO hostname");
}

static int
check_ehlo_cmd(struct smtp_call *c, struct args *a)
{
	return check_helo(c, a, "501 5.5.4 Syntax: EHLO hostname");
}

/* greet - a new HELO/EHLO: RFC 5321 4.1.4, it resets any transaction;
 * a refused one leaves no HELO. Returns whether it was accepted. */
static bool
greet(struct smtp_call *c, struct args *a, bool esmtp)
{
	struct smtp_session *ss = c->ss;

	smtp_txn_reset(c);
	smtp_helo_forget(c->env, ss);
	ss->state = SMTP_S_GREETED;
	if (esmtp)
		ss->flags |= SMTP_F_ESMTP;
	else
		ss->flags &= (uint8_t)~SMTP_F_ESMTP;
	pol_state_forget(&ss->pol, POL_HELO);
	if (!smtp_decide(c, POL_HELO, a->arg, NULL, NULL))
		return false;
	if ((ss->helo = keep_helo(c, a->arg, a->len)) == NULL)
		return false;
	ss->state = SMTP_S_HELO;
	return true;
}

static void
proceed_helo(struct smtp_call *c, struct args *a)
{
	if (greet(c, a, false))
		smtp_reply2(c, "250 ", c->hostname);
}

/* dec - a number in decimal */
static char *
dec(char buf[24], uint64_t v)
{
	char *p = buf + 23;

	*p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return p;
}

static void
proceed_ehlo(struct smtp_call *c, struct args *a)
{
	char num[24];

	if (!greet(c, a, true))
		return;
	smtp_reply_more(c, "250-", c->hostname);
	smtp_reply_more(c, "250-PIPELINING", NULL);
	if (c->svc->message_size_limit > 0)
		smtp_reply_more(c, "250-SIZE ", dec(num, c->svc->message_size_limit));
	else
		smtp_reply_more(c, "250-SIZE", NULL);
	if (smtp_auth_offered(c))
		smtp_reply_more(c, "250-AUTH PLAIN LOGIN", NULL);
	smtp_reply_more(c, "250-8BITMIME", NULL);
	/* offered once: never again inside TLS (RFC 3207 4.2) */
	if (c->svc->tls != POL_TLS_OFF && !(c->ss->flags & SMTP_F_TLS))
		smtp_reply_more(c, "250-STARTTLS", NULL);
	smtp_reply(c, "250 ENHANCEDSTATUSCODES");
}

/* ---- MAIL, RCPT ---- */

/* smtp_path_end - the end of a path's address at s (after its '<'): the
 * first '>', '<' or space outside a quoted string, or the line's NUL. Most
 * addresses quote nothing: then it is the first of those at all. */
char *
smtp_path_end(char *s)
{
	bool quoted = false;
	char *q = s + strcspn(s, "\"<> ");

	if (*q != '"')
		return q;
	for (; *q != '\0'; q++) {
		if (quoted && *q == '\\' && q[1] != '\0')
			q++;
		else if (*q == '"')
			quoted = !quoted;
		else if (!quoted && (*q == '>' || *q == '<' || *q == ' '))
			break;
	}
	return q;
}

/* path - "<...>" at *p: the address inside, quotes and escapes honoured;
 * 0 with a->addr set and *p after the '>', or -1 */
static int
path(char **p, struct args *a)
{
	char *s = *p, *q;

	if (*s != '<')
		return -1;
	q = smtp_path_end(s + 1);
	if (*q != '>')
		return -1;
	*q = '\0';
	a->addr = s + 1;
	a->alen = (size_t)(q - a->addr);
	*p = q + 1;
	return 0;
}

/* Envelope keys, as the folded words of their first letters. */
#define KEY_FROM WORD4('f', 'r', 'o', 'm') /* "FROM:" */
#define KEY_TO   0x6f74u                   /* "TO:": 't' 'o', little-endian */

/* envelope - "FROM:<addr> params" or "TO:<addr> params": the address, and
 * the parameters' start in *params; Postfix's leniency: spaces after ':'.
 * The key is compared as one folded word (no control byte reaches here,
 * so | 0x20 folds letters only, as strncasecmp would) */
static int
envelope(struct args *a, bool from, char **params)
{
	char *p = a->arg;

	if (from) {
		uint32_t w;

		if (a->len < 5)
			return -1;
		memcpy(&w, p, sizeof(w));
		if ((w | FOLD4) != KEY_FROM || p[4] != ':')
			return -1;
		p += 5;
	} else {
		uint16_t w;

		if (a->len < 3)
			return -1;
		memcpy(&w, p, sizeof(w));
		if ((w | 0x2020u) != KEY_TO || p[2] != ':')
			return -1;
		p += 3;
	}
	while (*p == ' ')
		p++;
	if (path(&p, a) < 0 || (*p != '\0' && *p != ' '))
		return -1;
	*params = p;
	return 0;
}

/* next_param - the next space-separated "KEY[=VALUE]" or NULL */
static char *
next_param(char **p, size_t *len)
{
	char *s = *p;

	while (*s == ' ')
		s++;
	if (*s == '\0')
		return NULL;
	*len = strcspn(s, " ");
	*p = s + *len;
	return s;
}

/* unsupported - 555 naming the option, echoed and cut */
static int
unsupported(struct smtp_call *c, const char *opt, size_t len)
{
	char e[SMTP_ECHO_MAX + 1];

	smtp_reply2(c, "555 5.5.4 Unsupported option: ", smtp_echo(e, sizeof(e), opt, len));
	smtp_error(c, SMTP_E_SYNTAX);
	return -1;
}

/* address - the path's address has RFC 5321's shape and sizes (smtp_addr.c);
 * Postfix's reply for a bad one, with the limit that was passed */
static int
address(struct smtp_call *c, const struct args *a, bool sender)
{
	static const char *const why[] = {
	        [SMTP_ADDR_PATH_LONG] = ": path over 256 octets",
	        [SMTP_ADDR_LOCAL_LONG] = ": local part over 64 octets",
	        [SMTP_ADDR_DOMAIN_LONG] = ": domain over 255 octets",
	        [SMTP_ADDR_BAD_ROUTE] = "",
	        [SMTP_ADDR_SYNTAX] = "",
	};
	enum smtp_addr_err e = smtp_addr_check(a->addr, a->alen);

	if (e == SMTP_ADDR_OK)
		return 0;
	smtp_reply2(c,
	            sender ? "501 5.1.7 Bad sender address syntax"
	                   : "501 5.1.3 Bad recipient address syntax",
	            why[e]);
	smtp_error(c, SMTP_E_SYNTAX);
	return -1;
}

/* mail_param - SIZE= (RFC 1870), BODY= (RFC 6152) and AUTH= (RFC 4954 5:
 * accepted and not passed on, as Postfix does without a trusted client) */
static int
mail_param(struct smtp_call *c, struct args *a, const char *s, size_t len)
{
	uint64_t limit = c->svc->message_size_limit, size = 0;

	if (len >= 5 && strncasecmp(s, "SIZE=", 5) == 0) {
		if (len == 5)
			return syntax(c, "501 5.5.4 Bad message size syntax");
		for (size_t i = 5; i < len; i++) {
			unsigned d = (unsigned)(s[i] - '0');

			if (d > 9 || size > (UINT64_MAX - d) / 10)
				return syntax(c, "501 5.5.4 Bad message size syntax");
			size = size * 10 + d;
		}
		if (limit > 0 && size > limit) {
			smtp_reply(c, "552 5.3.4 Message size exceeds fixed limit");
			smtp_error(c, SMTP_E_SIZE);
			return -1;
		}
		return 0;
	}
	if (len >= 5 && strncasecmp(s, "BODY=", 5) == 0) {
		if (len == 9 && strncasecmp(s + 5, "7BIT", 4) == 0)
			a->body8 = false;
		else if (len == 13 && strncasecmp(s + 5, "8BITMIME", 8) == 0)
			a->body8 = true;
		else
			return syntax(c, "501 5.5.4 Bad BODY keyword value");
		return 0;
	}
	if (len >= 5 && strncasecmp(s, "AUTH=", 5) == 0) {
		if (len == 5)
			return syntax(c, "501 5.5.4 Bad AUTH parameter syntax");
		return 0;
	}
	return unsupported(c, s, strcspn(s, "= "));
}

static int
check_mail(struct smtp_call *c, struct args *a)
{
	char *p, *s;
	size_t len;

	if (c->ss->state == SMTP_S_GREETED)
		return sequence(c, "503 5.5.1 Error: send HELO/EHLO first");
	if (c->ss->state == SMTP_S_MAIL)
		return sequence(c, "503 5.5.1 Error: nested MAIL command");
	if (c->svc->tls == POL_TLS_REQUIRED && !(c->ss->flags & SMTP_F_TLS)) {
		/* Postfix's smtpd_tls_security_level = encrypt */
		smtp_reply(c, "530 5.7.0 Must issue a STARTTLS command first");
		smtp_error(c, SMTP_E_TLS_REQUIRED);
		return -1;
	}
	if (envelope(a, true, &p) < 0)
		return syntax(c, "501 5.5.4 Syntax: MAIL FROM:<address>");
	if (address(c, a, true) < 0)
		return -1;
	while ((s = next_param(&p, &len)) != NULL)
		if (mail_param(c, a, s, len) < 0)
			return -1;
	return 0;
}

static void
proceed_mail(struct smtp_call *c, struct args *a)
{
	struct smtp_session *ss = c->ss;

	pol_state_forget(&ss->pol, POL_MAIL);
	if (!smtp_decide(c, POL_MAIL, ss->helo, a->addr, NULL))
		return;
	if ((ss->sender = keep(c, a->addr, a->alen)) == NULL)
		return;
	ss->state = SMTP_S_MAIL;
	ss->nrcpt = 0;
	if (a->body8)
		ss->flags |= SMTP_F_BODY_8BIT;
	smtp_reply(c, "250 2.1.0 Ok");
}

static int
check_rcpt(struct smtp_call *c, struct args *a)
{
	char *p, *s;
	size_t len;

	if (c->ss->state != SMTP_S_MAIL)
		return sequence(c, "503 5.5.1 Error: need MAIL command");
	if (envelope(a, false, &p) < 0 || a->alen == 0)
		return syntax(c, "501 5.5.4 Syntax: RCPT TO:<address>");
	if (address(c, a, false) < 0)
		return -1;
	if ((s = next_param(&p, &len)) != NULL)
		return unsupported(c, s, strcspn(s, "= "));
	if (c->ss->nrcpt >= c->svc->max_recipients) {
		smtp_reply(c, "452 4.5.3 Error: too many recipients");
		smtp_error(c, SMTP_E_TOO_MANY_RCPTS);
		return -1;
	}
	return 0;
}

/* proceed_rcpt - the policy, then the backend's word through the relay (the
 * session waits for it), or our own 250 where no backend is configured */
static void
proceed_rcpt(struct smtp_call *c, struct args *a)
{
	const struct smtp_relay *r = c->env->relay;
	int rc = 1;

	if (!smtp_decide(c, POL_RCPT, c->ss->helo, c->ss->sender, a->addr))
		return;
	if (r != NULL)
		rc = r->rcpt(r->arg, c->ss, a->addr, a->alen);
	if (rc == 0) {
		c->ss->state = SMTP_S_WAIT;
		return;
	}
	if (rc < 0) {
		smtp_reply(c, "451 4.4.1 Error: backend not available, try again later");
		smtp_error(c, SMTP_E_BACKEND);
		return;
	}
	c->ss->nrcpt++;
	smtp_reply(c, "250 2.1.5 Ok");
}

/* ---- DATA ---- */

static int
check_data(struct smtp_call *c, struct args *a)
{
	if (c->ss->state != SMTP_S_MAIL)
		return sequence(c, "503 5.5.1 Error: need RCPT command");
	if (c->ss->nrcpt == 0) {
		smtp_reply(c, "554 5.5.1 Error: no valid recipients");
		smtp_error(c, SMTP_E_NO_RCPTS);
		return -1;
	}
	if (a->len > 0)
		return syntax(c, "501 5.5.4 Syntax: DATA");
	return 0;
}

/* proceed_data - the relay asks the backend (the session waits for its
 * 354); without a backend a 4xx, never a 2xx (nothing may be swallowed),
 * and the transaction ends as after any failed DATA in Postfix */
static void
proceed_data(struct smtp_call *c, struct args *a)
{
	const struct smtp_relay *r = c->env->relay;

	(void)a;
	if (r != NULL && r->data(r->arg, c->ss) == 0) {
		c->ss->state = SMTP_S_WAIT;
		return;
	}
	smtp_reply(c, "451 4.4.1 Error: no backend available, try again later");
	smtp_error(c, SMTP_E_NO_BACKEND);
	smtp_txn_reset(c);
}

/* ---- the others ---- */

static int
check_rset(struct smtp_call *c, struct args *a)
{
	if (a->len > 0)
		return syntax(c, "501 5.5.4 Syntax: RSET");
	return 0;
}

static void
proceed_rset(struct smtp_call *c, struct args *a)
{
	(void)a;
	smtp_txn_reset(c);
	smtp_reply(c, "250 2.0.0 Ok");
}

static void
proceed_noop(struct smtp_call *c, struct args *a)
{
	(void)a;
	smtp_reply(c, "250 2.0.0 Ok");
}

static void
proceed_quit(struct smtp_call *c, struct args *a)
{
	(void)a;
	smtp_reply(c, "221 2.0.0 Bye");
	c->ss->state = SMTP_S_CLOSING;
}

static int
check_vrfy(struct smtp_call *c, struct args *a)
{
	if (a->len == 0)
		return syntax(c, "501 5.5.4 Syntax: VRFY address");
	return 0;
}

static void
proceed_vrfy(struct smtp_call *c, struct args *a)
{
	(void)a;
	/* RFC 5321 3.5.3: say nothing about who exists */
	smtp_reply(c, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void
proceed_help(struct smtp_call *c, struct args *a)
{
	(void)a;
	smtp_reply(c, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
}

/* ---- STARTTLS (RFC 3207) ---- */

static int
check_starttls(struct smtp_call *c, struct args *a)
{
	if (a->len > 0)
		return syntax(c, "501 5.5.4 Syntax: STARTTLS");
	if (c->ss->flags & SMTP_F_TLS)
		return sequence(c, "554 5.5.1 Error: TLS already active");
	if (c->ss->state == SMTP_S_MAIL)
		return sequence(c, "503 5.5.1 Error: MAIL transaction in progress");
	return 0;
}

/* proceed_starttls - 220, and the engine reads no more commands: what
 * follows the STARTTLS line in the input is dropped by smtp_input (a
 * plaintext command pipelined after it must not run as if it came inside
 * TLS: CVE-2011-0411), and the caller hands the connection to TLS */
static void
proceed_starttls(struct smtp_call *c, struct args *a)
{
	const struct smtp_tls *t = c->env->tls;

	(void)a;
	if (c->svc->tls == POL_TLS_OFF || t == NULL || t->start(t->arg, c->ss, c->snap) < 0) {
		smtp_reply(c, "454 4.7.0 TLS not available due to local problem");
		smtp_error(c, SMTP_E_TLS_UNAVAILABLE);
		return;
	}
	smtp_reply(c, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 4.2: what the client said before TLS is forgotten, an
	 * authentication in clear too */
	smtp_txn_reset(c);
	smtp_helo_forget(c->env, c->ss);
	smtp_chunk_put(c->env, &c->ss->login);
	c->ss->flags &= (uint8_t)~SMTP_F_AUTH;
	c->ss->mech = 0;
	c->ss->state = SMTP_S_TLS;
}

static void
proceed_auth(struct smtp_call *c, struct args *a)
{
	smtp_auth_command(c, a->arg, a->len);
}

static const struct verb verbs[SMTP_C_COUNT] = {
        [SMTP_C_HELO] = {check_helo_cmd, proceed_helo},
        [SMTP_C_EHLO] = {check_ehlo_cmd, proceed_ehlo},
        [SMTP_C_MAIL] = {check_mail, proceed_mail},
        [SMTP_C_RCPT] = {check_rcpt, proceed_rcpt},
        [SMTP_C_DATA] = {check_data, proceed_data},
        [SMTP_C_RSET] = {check_rset, proceed_rset},
        [SMTP_C_NOOP] = {NULL, proceed_noop},
        [SMTP_C_QUIT] = {NULL, proceed_quit},
        [SMTP_C_VRFY] = {check_vrfy, proceed_vrfy},
        [SMTP_C_HELP] = {NULL, proceed_help},
        [SMTP_C_STARTTLS] = {check_starttls, proceed_starttls},
        [SMTP_C_AUTH] = {NULL, proceed_auth},
};

/* lookup - the verb of the first len bytes, caseless (SMTP_C_UNKNOWN when
 * none). The line has no control or 8-bit byte (smtp_command checked), so
 * only ASCII letters fold onto lowercase letters with | 0x20, and each
 * verb is one compare of a folded word. */
static inline __attribute__((always_inline)) enum smtp_cmd
lookup(const char *s, size_t len)
{
	uint32_t w, w2;

	if (len != 4 && len != 8)
		return SMTP_C_UNKNOWN;
	memcpy(&w, s, sizeof(w));
	w |= FOLD4;
	if (len == 8) {
		memcpy(&w2, s + 4, sizeof(w2));
		w2 |= FOLD4;
		return w == WORD4('s', 't', 'a', 'r') && w2 == WORD4('t', 't', 'l', 's')
		               ? SMTP_C_STARTTLS
		               : SMTP_C_UNKNOWN;
	}
	switch (w) {
	case WORD4('h', 'e', 'l', 'o'):
		return SMTP_C_HELO;
	case WORD4('e', 'h', 'l', 'o'):
		return SMTP_C_EHLO;
	case WORD4('m', 'a', 'i', 'l'):
		return SMTP_C_MAIL;
	case WORD4('r', 'c', 'p', 't'):
		return SMTP_C_RCPT;
	case WORD4('d', 'a', 't', 'a'):
		return SMTP_C_DATA;
	case WORD4('r', 's', 'e', 't'):
		return SMTP_C_RSET;
	case WORD4('n', 'o', 'o', 'p'):
		return SMTP_C_NOOP;
	case WORD4('q', 'u', 'i', 't'):
		return SMTP_C_QUIT;
	case WORD4('v', 'r', 'f', 'y'):
		return SMTP_C_VRFY;
	case WORD4('h', 'e', 'l', 'p'):
		return SMTP_C_HELP;
	case WORD4('a', 'u', 't', 'h'):
		return SMTP_C_AUTH;
	default:
		return SMTP_C_UNKNOWN;
	}
}

/* verb_len - the length of the first word (up to a space), where it can
 * be a verb: 4 or 8; else what strcspn(line, " ") says (no verb has it) */
static size_t
verb_len(const char *line, size_t len)
{
	if (len >= 4 && (len == 4 || line[4] == ' '))
		return 4;
	if (len >= 8 && (len == 8 || line[8] == ' '))
		return 8;
	return strcspn(line, " ");
}

/* verb_of - the verb of a command line, and its length; inline in
 * smtp_command(), which runs it for every line (a call's frame cost a
 * third of it, callgrind) */
static inline __attribute__((always_inline)) enum smtp_cmd
verb_of(const char *line, size_t len, size_t *vlen)
{
	*vlen = verb_len(line, len);
	return lookup(line, *vlen);
}

/* smtp_verb - the verb of a command line, and its length */
enum smtp_cmd
smtp_verb(const char *line, size_t len, size_t *vlen)
{
	return verb_of(line, len, vlen);
}

/* has_unplain - whether a line holds a control or 8-bit byte */
static bool
has_unplain(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch < ' ' || ch >= 0x7f)
			return true;
	}
	return false;
}

/* command - answer one complete command line; inline in smtp_command()
 * and in smtp_input_one(), whose line is plain (the test folds away) */
static inline __attribute__((always_inline)) void
command(struct smtp_call *c, char *line, size_t len, bool plain)
{
	struct smtp_session *ss = c->ss;
	const struct verb *vb;
	struct args a = {0};
	size_t vlen;

	if (!plain && has_unplain(line, len)) {
		smtp_reply(c, "500 5.5.2 Error: bad syntax");
		smtp_error(c, SMTP_E_BAD_CHAR);
		return;
	}
	while (len > 0 && line[len - 1] == ' ')
		line[--len] = '\0';
	if (len == 0) {
		smtp_reply(c, "500 5.5.2 Error: bad syntax");
		smtp_error(c, SMTP_E_SYNTAX);
		return;
	}
	ss->where = verb_of(line, len, &vlen);
	vb = ss->where != SMTP_C_UNKNOWN ? &verbs[ss->where] : NULL;
	/* RFC 5321 3.1: after a 554 greeting, 503 to everything but QUIT */
	if (ss->state == SMTP_S_DENIED && ss->where != SMTP_C_QUIT) {
		char name[80];

		smtp_reply2(c, "503 5.5.1 Error: access denied for ",
		            smtp_client_name(&ss->client, name, sizeof(name)));
		smtp_error(c, SMTP_E_DENIED);
		return;
	}
	if (vb == NULL) {
		smtp_reply(c, "502 5.5.2 Error: command not recognized");
		smtp_error(c, SMTP_E_UNKNOWN_CMD);
		return;
	}
	a.arg = line + vlen;
	while (*a.arg == ' ')
		a.arg++;
	a.len = (size_t)(line + len - a.arg);
	if (vb->check != NULL && vb->check(c, &a) < 0)
		return;
	vb->proceed(c, &a);
}

/* smtp_command - answer one complete command line */
void
smtp_command(struct smtp_call *c, char *line, size_t len, bool plain)
{
	command(c, line, len, plain);
}

/* The states in which the predicted segment is answered on its own path:
 * those that read command lines (an AUTH exchange's response, the
 * pre-greet refusal and the states that read nothing go through
 * smtp_input()). */
#define ONE_STATES                                                                                 \
	(1u << SMTP_S_DENIED | 1u << SMTP_S_GREETED | 1u << SMTP_S_HELO | 1u << SMTP_S_MAIL)
_Static_assert(SMTP_S_CLOSING < 32, "a state is a bit of ONE_STATES");

/* one_line - whether p[0..len) is exactly one command line: within the
 * limit, plain (no control, DEL or 8-bit byte), its CRLF last; copied to
 * line (SMTP_LINE_MAX bytes) on the way. It is then the line
 * smtp_line_whole() would find, taking all of p. */
static inline __attribute__((always_inline)) bool
one_line(const unsigned char *p, size_t len, char *line)
{
	size_t n = len - 2;

	if (len < 2 || len > SMTP_LINE_MAX || p[n] != '\r' || p[n + 1] != '\n')
		return false;
	return first_unplain(p, n, line) == n;
}

/* smtp_input_one - smtp_input() for the predicted segment: exactly one
 * whole command line, at a line boundary, in a state that reads commands,
 * with the output's room free. One pass over the line (scan and copy),
 * no line reader, no loop: what smtp_input() would do, line_end()'s
 * SMTP_LINE_DONE, with the command parser inline (its own frame was a
 * fifth of a command's cost in the engine). Anything else is
 * smtp_input()'s (tests/unit/smtp/test_one.c plays both on the same
 * inputs). */
enum smtp_action
smtp_input_one(struct smtp_session *ss, const struct smtp_env *env, const struct pol_snapshot *snap,
               uint64_t now, const void *data, size_t len, size_t *consumed, struct smtp_out *out)
{
	char line[SMTP_LINE_MAX];
	struct smtp_call c;

	if (!((ONE_STATES >> (ss->state & 31)) & 1) || ss->line != NULL ||
	    ss->lstate != SMTP_L_TEXT || out->len > out->cap ||
	    out->cap - out->len < SMTP_OUT_ROOM || !one_line(data, len, line))
		return smtp_input(ss, env, snap, now, data, len, consumed, out);
	*consumed = 0;
	if (!smtp_begin(&c, ss, env, snap, now, out) || smtp_timed_out(&c))
		return SMTP_CLOSE;
	/* line_end()'s SMTP_LINE_DONE, in a state that reads commands */
	ss->last_ms = now;
	env->stats->commands++;
	line[len - 2] = '\0';
	command(&c, line, len - 2, true);
	smtp_error_limit(&c);
	/* after a 220 to STARTTLS nothing follows the line in the segment:
	 * nothing to drop, nothing kept */
	smtp_set_deadline(&c);
	*consumed = len;
	return smtp_next(ss);
}
