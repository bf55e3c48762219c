/* smtp_auth - AUTH (RFC 4954) with PLAIN and LOGIN: the exchange, then the checker's answer
 *
 * Untrusted input: the AUTH command's arguments and every response line of
 * the exchange (base64 within a command line, so at most SMTP_AUTH_CRED_MAX
 * bytes decoded). Both mechanisms carry the password in clear, so AUTH is
 * offered, and taken, only under TLS (SMTP_F_TLS) or where the service says
 * auth_in_clear.
 *
 * The engine only collects the credentials and hands them to the checker
 * (struct smtp_auth, answered later through smtp_auth_reply()); the
 * password never stays in the session: it lives on the stack for one call
 * and is wiped. The name the client gave waits in the login chunk (LOGIN
 * between its two responses; both while the checker works, for the log
 * line of a failure) and becomes the checker's canonical name on success.
 *
 * Replies are Postfix's (smtpd_sasl_proto.c, smtpd_sasl_glue.c) with
 * RFC 4954's enhanced codes; log lines are Postfix's, so that fail2ban's
 * postfix-sasl filter and pflogsumm read them.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp_impl.h"

#define CHALLENGE_USER "334 VXNlcm5hbWU6" /* base64 "Username:", as every LOGIN server says */
#define CHALLENGE_PASS "334 UGFzc3dvcmQ6" /* base64 "Password:" */
#define LOG_AUTH_MAX   (SMTP_AUTH_USER_MAX + 200) /* a log line: the name and some words */

/* wipe - forget a secret; the compiler may not drop this store */
static void
wipe(void *p, size_t len)
{
	memset(p, 0, len);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* b64_value - the 6-bit value of a base64 character, or -1 */
static int
b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* smtp_b64_decode - strict base64 (RFC 4648 4, padded, no spaces) into out
 * (cap bytes); the decoded length, or -1 for bad input or no room */
long
smtp_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	size_t n = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char ch = (unsigned char)in[i + k];

			/* '=' only in the last group's last two places, and only at its end */
			if (ch == '=' && i + 4 == len && k >= 2) {
				pad++;
				v[k] = 0;
				continue;
			}
			if (pad > 0 || (v[k] = b64_value(ch)) < 0)
				return -1;
		}
		if (n + 3 - (size_t)pad > cap)
			return -1;
		out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] = (unsigned char)(v[1] << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (unsigned char)(v[2] << 6 | v[3]);
	}
	return (long)n;
}

/* smtp_auth_offered - whether EHLO lists AUTH on this session now */
bool
smtp_auth_offered(const struct smtp_call *c)
{
	return c->env->auth != NULL && ((c->ss->flags & SMTP_F_TLS) || c->svc->auth_in_clear);
}

/* end_exchange - back to no exchange; an unauthenticated session keeps no name */
static void
end_exchange(struct smtp_call *c)
{
	struct smtp_session *ss = c->ss;

	if (!(ss->flags & SMTP_F_AUTH)) {
		smtp_chunk_put(c->env, &ss->login);
		ss->mech = SMTP_M_NONE;
	}
	if (ss->state != SMTP_S_CLOSING)
		ss->state = SMTP_S_HELO;
}

/* refuse - a refusal of the command or the exchange; the exchange ends */
static void
refuse(struct smtp_call *c, enum smtp_err e, const char *reply)
{
	smtp_reply(c, reply);
	smtp_error(c, e);
	end_exchange(c);
}

/* log_auth - "warning: unknown[ADDR]: SASL PLAIN authentication failed: why,
 * sasl_username=NAME", or the success line; the name escaped and cut */
static void
log_auth(struct smtp_call *c, const char *head, const char *why)
{
	char name[80], user[SMTP_AUTH_USER_MAX + 1], line[LOG_AUTH_MAX];
	const struct smtp_session *ss = c->ss;
	const char *u = ss->login != NULL ? ss->login : "";
	int n;

	smtp_echo(user, sizeof(user), u, strlen(u));
	smtp_client_name(&ss->client, name, sizeof(name));
	if (why == NULL)
		n = snprintf(line, sizeof(line), "%sclient=%s, sasl_method=%s, sasl_username=%s",
		             head, name, smtp_mech_name(ss->mech), user);
	else
		n = snprintf(line, sizeof(line), "%s%s: SASL %s %s, sasl_username=%s", head, name,
		             smtp_mech_name(ss->mech), why, user);
	smtp_log(c->env, line, n, sizeof(line));
}

/* name_ok - a login name we take: 1..SMTP_AUTH_USER_MAX bytes, no control character */
static bool
name_ok(const unsigned char *s, size_t len)
{
	if (len == 0 || len > SMTP_AUTH_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < ' ' || s[i] == 0x7f)
			return false;
	return true;
}

/* plain_user - the authcid of a PLAIN response (RFC 4616 2: authzid NUL
 * authcid NUL passwd, none with a NUL inside); false if malformed */
static bool
plain_user(const unsigned char *cred, size_t len, const unsigned char **user, size_t *ulen)
{
	const unsigned char *nul1 = memchr(cred, '\0', len), *nul2;

	if (nul1 == NULL)
		return false;
	*user = nul1 + 1;
	nul2 = memchr(*user, '\0', len - (size_t)(*user - cred));
	if (nul2 == NULL || memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - cred)) != NULL)
		return false;
	*ulen = (size_t)(nul2 - *user);
	return (size_t)(nul1 - cred) <= SMTP_AUTH_USER_MAX && name_ok(*user, *ulen);
}

/* ask - whole credentials: the checker is asked and the session waits */
static void
ask(struct smtp_call *c, const unsigned char *cred, size_t len)
{
	struct smtp_session *ss = c->ss;
	const struct smtp_auth *a = c->env->auth;
	const unsigned char *user;
	size_t ulen;

	if (!plain_user(cred, len, &user, &ulen)) {
		log_auth(c, "warning: ", "authentication failed: malformed credentials");
		refuse(c, SMTP_E_AUTH,
		       "535 5.7.8 Error: authentication failed: malformed credentials");
		return;
	}
	if (ss->login == NULL && (ss->login = smtp_chunk_get(c)) == NULL)
		return; /* 421: no memory */
	memcpy(ss->login, user, ulen);
	ss->login[ulen] = '\0';
	if (a->check(a->arg, ss, (enum smtp_mech)ss->mech, (const char *)cred, len) == 0) {
		ss->state = SMTP_S_AUTH_WAIT;
		ss->flags |= SMTP_F_ASKED;
		return;
	}
	log_auth(c, "warning: ", "authentication not checked: service unavailable");
	refuse(c, SMTP_E_AUTH_TEMP, "454 4.7.0 Temporary authentication failure");
}

/* challenge - the next 334 of the mechanism; the next line is the client's */
static void
challenge(struct smtp_call *c)
{
	struct smtp_session *ss = c->ss;

	if (ss->mech == SMTP_M_PLAIN)
		smtp_reply(c, "334 ");
	else
		smtp_reply(c, ss->login == NULL ? CHALLENGE_USER : CHALLENGE_PASS);
	ss->state = SMTP_S_AUTH;
}

/* login_password - LOGIN's second response: the credentials as PLAIN's */
static void
login_password(struct smtp_call *c, const unsigned char *pass, size_t plen)
{
	unsigned char cred[1 + SMTP_AUTH_USER_MAX + 1 + SMTP_AUTH_CRED_MAX];
	size_t ulen = strlen(c->ss->login);

	if (memchr(pass, '\0', plen) != NULL) {
		refuse(c, SMTP_E_AUTH,
		       "535 5.7.8 Error: authentication failed: malformed credentials");
		return;
	}
	cred[0] = '\0';
	memcpy(cred + 1, c->ss->login, ulen);
	cred[1 + ulen] = '\0';
	memcpy(cred + 2 + ulen, pass, plen);
	ask(c, cred, 2 + ulen + plen);
	wipe(cred, sizeof(cred));
}

/* respond - one response of the client (the initial one or a line): the
 * next challenge, or the checker asked */
static void
respond(struct smtp_call *c, const char *text, size_t len)
{
	struct smtp_session *ss = c->ss;
	unsigned char buf[SMTP_AUTH_CRED_MAX];
	long n;

	if (len == 1 && text[0] == '*') {
		refuse(c, SMTP_E_AUTH, "501 5.7.0 Authentication aborted");
		return;
	}
	if ((n = smtp_b64_decode(text, len, buf, sizeof(buf))) < 0) {
		refuse(c, SMTP_E_AUTH, "501 5.5.2 Cannot decode response");
		return;
	}
	if (ss->mech == SMTP_M_PLAIN) {
		ask(c, buf, (size_t)n);
	} else if (ss->login != NULL) {
		login_password(c, buf, (size_t)n);
	} else if (!name_ok(buf, (size_t)n)) {
		refuse(c, SMTP_E_AUTH,
		       "535 5.7.8 Error: authentication failed: malformed credentials");
	} else if ((ss->login = smtp_chunk_get(c)) != NULL) {
		memcpy(ss->login, buf, (size_t)n);
		ss->login[n] = '\0';
		challenge(c);
	}
	wipe(buf, sizeof(buf));
}

/* mech_of - PLAIN or LOGIN by name, caseless; SMTP_M_NONE otherwise */
static enum smtp_mech
mech_of(const char *s, size_t len)
{
	if (len == 5 && strncasecmp(s, "PLAIN", 5) == 0)
		return SMTP_M_PLAIN;
	if (len == 5 && strncasecmp(s, "LOGIN", 5) == 0)
		return SMTP_M_LOGIN;
	return SMTP_M_NONE;
}

/* auth_refused - why AUTH cannot start now (replied), or NULL to go on */
static bool
auth_refused(struct smtp_call *c)
{
	const struct smtp_session *ss = c->ss;
	const char *why = NULL;

	if (ss->state == SMTP_S_GREETED)
		why = "503 5.5.1 Error: send HELO/EHLO first";
	else if (c->env->auth == NULL)
		why = "503 5.5.1 Error: authentication not enabled";
	else if (ss->flags & SMTP_F_AUTH)
		why = "503 5.5.1 Error: already authenticated";
	else if (ss->state == SMTP_S_MAIL)
		why = "503 5.5.1 Error: MAIL transaction in progress";
	if (why == NULL)
		return false;
	smtp_reply(c, why);
	smtp_error(c, SMTP_E_SEQUENCE);
	return true;
}

/* smtp_auth_command - AUTH mechanism [initial-response] */
void
smtp_auth_command(struct smtp_call *c, char *arg, size_t len)
{
	struct smtp_session *ss = c->ss;
	size_t mlen = strcspn(arg, " ");
	char *init = arg + mlen;
	enum smtp_mech m;

	if (auth_refused(c))
		return;
	while (*init == ' ')
		init++;
	if (mlen == 0 || strchr(init, ' ') != NULL) {
		smtp_reply(c, "501 5.5.4 Syntax: AUTH mechanism");
		smtp_error(c, SMTP_E_SYNTAX);
		return;
	}
	if ((m = mech_of(arg, mlen)) == SMTP_M_NONE) {
		refuse(c, SMTP_E_AUTH, "504 5.5.4 Unsupported authentication mechanism");
		return;
	}
	if (!smtp_auth_offered(c)) {
		refuse(c, SMTP_E_AUTH,
		       "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	ss->mech = (uint8_t)m;
	if (*init == '\0')
		challenge(c);
	else if (strcmp(init, "=") == 0)
		respond(c, "", 0); /* RFC 4954 4: "=" is an empty initial response */
	else
		respond(c, init, (size_t)(arg + len - init));
}

/* smtp_auth_line - a line of the exchange (SMTP_S_AUTH) */
void
smtp_auth_line(struct smtp_call *c, enum smtp_line_ev ev, const char *line, size_t len)
{
	if (ev == SMTP_LINE_LONG)
		refuse(c, SMTP_E_LONG_LINE, "500 5.5.6 Authentication exchange line is too long");
	else
		respond(c, line, len);
}

/* smtp_auth_answer - the checker's answer: 235 and the login, or a refusal */
void
smtp_auth_answer(struct smtp_call *c, enum smtp_auth_result r, const char *user)
{
	struct smtp_session *ss = c->ss;

	ss->flags &= (uint8_t)~SMTP_F_ASKED;
	switch (r) {
	case SMTP_AUTH_OK:
		if (ss->login == NULL)
			smtp_panic("authenticated without a name");
		/* the checker's name is the canonical one (Dovecot's user=) */
		if (user != NULL && name_ok((const unsigned char *)user, strlen(user)))
			memcpy(ss->login, user, strlen(user) + 1);
		ss->flags |= SMTP_F_AUTH;
		c->env->stats->auth_ok++;
		smtp_reply(c, "235 2.7.0 Authentication successful");
		log_auth(c, "NOQUEUE: ", NULL);
		break;
	case SMTP_AUTH_FAIL:
		log_auth(c, "warning: ", "authentication failed: authentication failure");
		smtp_reply(c, "535 5.7.8 Error: authentication failed: authentication failure");
		smtp_error(c, SMTP_E_AUTH);
		break;
	case SMTP_AUTH_LIMIT:
		log_auth(c, "warning: ", "authentication refused: too many failed attempts");
		smtp_reply(c, "454 4.7.0 Error: too many failed authentication attempts, "
		              "try again later");
		smtp_error(c, SMTP_E_AUTH_TEMP);
		break;
	case SMTP_AUTH_TEMP:
		log_auth(c, "warning: ", "authentication not checked: service unavailable");
		smtp_reply(c, "454 4.7.0 Temporary authentication failure");
		smtp_error(c, SMTP_E_AUTH_TEMP);
		break;
	default:
		smtp_panic("auth result %d", r);
	}
	end_exchange(c);
}

/* smtp_mech_name - as log lines name it */
const char *
smtp_mech_name(enum smtp_mech m)
{
	return m == SMTP_M_PLAIN ? "PLAIN" : m == SMTP_M_LOGIN ? "LOGIN" : "none";
}
