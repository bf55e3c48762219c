/* smtp_impl - what the files of dataplane/smtp/ share and nobody else sees */
#ifndef SMTP_IMPL_H
#define SMTP_IMPL_H

#include <stdbool.h>
#include <string.h>

#include "smtp.h"

/* One call into the engine: its arguments and what was looked up for it.
 * Lives on the stack for the duration of the call. */
struct smtp_call {
	struct smtp_session *ss;
	const struct smtp_env *env;
	const struct pol_snapshot *snap;
	const struct pol_service *svc; /* the session's service in snap */
	const char *hostname;          /* the gate's name in snap */
	uint64_t snap_id;              /* pol_snapshot_id(snap); 0 without one */
	struct smtp_out *out;
	uint64_t now;
};

/* smtp_panic - an impossible state: report and abort, never limp on */
#define smtp_panic(...) smtp_panic_at(__FILE__, __LINE__, __VA_ARGS__)
__attribute__((noreturn, format(printf, 3, 4))) void smtp_panic_at(const char *file, int line,
                                                                   const char *fmt, ...);

/* ---- smtp_line.c ---- */

enum smtp_line_ev {
	SMTP_LINE_MORE,   /* the input ended inside a line */
	SMTP_LINE_DONE,   /* a line ended with CRLF: buf[0..len) */
	SMTP_LINE_LONG,   /* a line over SMTP_LINE_MAX ended with CRLF; it was dropped */
	SMTP_LINE_BARE_LF /* an LF without a CR */
};

/* smtp_line_scan - read bytes into buf (SMTP_LINE_TEXT bytes) up to the
 * first event; returns how many bytes were read */
size_t smtp_line_scan(uint8_t *lstate, char *buf, uint16_t *len, const unsigned char *p, size_t n,
                      enum smtp_line_ev *ev);
/* smtp_line_whole - at a line boundary, a whole line at the start of p
 * (buf: SMTP_LINE_MAX bytes), read once: how many bytes it took, the
 * event and, for SMTP_LINE_DONE, the line in buf[0..len) and whether it
 * is plain (no control or 8-bit byte); 0 when the line is not there whole
 * or is over the limit: smtp_line_scan then reads it */
size_t smtp_line_whole(const unsigned char *p, size_t n, char *buf, uint16_t *len, bool *plain,
                       enum smtp_line_ev *ev);

/* ---- smtp_addr.c ---- */

/* What is wrong with an envelope address. */
enum smtp_addr_err {
	SMTP_ADDR_OK,
	SMTP_ADDR_PATH_LONG,   /* over 256 octets with "<" and ">" (RFC 5321 4.5.3.1.3) */
	SMTP_ADDR_LOCAL_LONG,  /* a local part over 64 octets (4.5.3.1.1) */
	SMTP_ADDR_DOMAIN_LONG, /* a domain over 255 octets (4.5.3.1.2) */
	SMTP_ADDR_BAD_ROUTE,   /* a source route not of the form "@a,@b:" (4.1.2) */
	SMTP_ADDR_SYNTAX,      /* "@domain", "user@", or a route to no mailbox */
};

/* smtp_addr_check - the shape and sizes of the address inside a path
 * ("" is the null path: SMTP_ADDR_OK) */
enum smtp_addr_err smtp_addr_check(const char *addr, size_t len);

/* ---- smtp_reply.c ---- */

/* smtp_reply_misfit - the panic of a reply that does not fit or is too
 * short to have a code (out of line: it cannot happen) */
__attribute__((noreturn, cold)) void smtp_reply_misfit(size_t len, size_t room);

/* smtp_reply_count - a reply written at line: by class, and 4xx/5xx as errors */
static inline void
smtp_reply_count(struct smtp_call *c, const char *line)
{
	if (line[0] < '2' || line[0] > '5')
		smtp_panic("reply \"%.3s\"", line);
	c->env->stats->replies[line[0] - '0']++;
	if (line[0] >= '4')
		c->ss->nerrors++;
}

/* smtp_reply_put - append head, tail and CRLF as one reply line; counted
 * (class, 4xx/5xx errors) unless it is a non-final line of a multi-line one.
 * No printf: most sessions are a few constant replies. Inline: a constant
 * reply's length is the compiler's, so its copy is a few stores, and a
 * call's frame cost more than the copy (callgrind). */
static inline __attribute__((always_inline)) void
smtp_reply_put(struct smtp_call *c, const char *head, size_t hlen, const char *tail, size_t tlen,
               bool counted)
{
	struct smtp_out *out = c->out;
	char *start = out->buf + out->len;
	size_t room = out->cap - out->len;

	if (hlen + tlen < 4 || hlen + tlen + 2 > room)
		smtp_reply_misfit(hlen + tlen, room);
	memcpy(start, head, hlen);
	if (tlen > 0) /* most replies are one constant piece */
		memcpy(start + hlen, tail, tlen);
	memcpy(start + hlen + tlen, "\r\n", 2);
	out->len += hlen + tlen + 2;
	if (counted)
		smtp_reply_count(c, start);
}

/* The lengths below are the compiler's for the literal texts most replies
 * are: a constant reply is copied whole, never measured per session. */

/* smtp_reply - append one reply line and count it (class, 4xx/5xx errors) */
static inline void
smtp_reply(struct smtp_call *c, const char *text)
{
	smtp_reply_put(c, text, strlen(text), "", 0, true);
}

/* smtp_reply2 - the same, in two pieces: smtp_reply2(c, "250 ", hostname) */
static inline void
smtp_reply2(struct smtp_call *c, const char *head, const char *tail)
{
	smtp_reply_put(c, head, strlen(head), tail, strlen(tail), true);
}

/* smtp_reply_more - a "250-..." line of a multi-line reply (tail may be NULL); not counted */
static inline void
smtp_reply_more(struct smtp_call *c, const char *head, const char *tail)
{
	smtp_reply_put(c, head, strlen(head), tail != NULL ? tail : "",
	               tail != NULL ? strlen(tail) : 0, false);
}
/* smtp_error - count an error of a kind (the reply is written separately) */
void smtp_error(struct smtp_call *c, enum smtp_err e);
/* smtp_hangup - a last reply, a log line "<why> after CMD from CLIENT"; the session ends */
__attribute__((format(printf, 4, 5))) void smtp_hangup(struct smtp_call *c, enum smtp_err e,
                                                       const char *why, const char *fmt, ...);
/* smtp_decide - pol_eval one stage; on refusal reply with its text and log
 * it. Returns whether the stage was accepted. */
bool smtp_decide(struct smtp_call *c, enum pol_stage stage, const char *helo, const char *sender,
                 const char *rcpt);
/* smtp_log - a log line of n bytes (snprintf's result: cut to the buffer of size) */
void smtp_log(const struct smtp_env *env, const char *line, int n, size_t size);
/* smtp_client_name - "unknown[ADDR]", as pol_client_name() */
char *smtp_client_name(const struct cidr *client, char *buf, size_t size);
/* smtp_echo - client text as it may appear in our replies: printable ASCII, cut */
char *smtp_echo(char *dst, size_t size, const char *src, size_t len);

/* ---- a call's set-up and end: every entry point (smtp_session.c) and
 * smtp_input_one (smtp_cmd.c, where the command parser inlines into it) ---- */

/* smtp_service - the session's service in the call's snapshot. The session
 * keeps its index with the low 32 bits of the snapshot's id, so that it is
 * looked up by port once per snapshot, not once per call; after a push the
 * id differs and the new snapshot is searched (the service may have moved
 * or gone). Ids count compiles and are never reused; 32 bits of them wrap
 * after 2^32 compiles, far more than can happen while a session lives
 * (session_timeout_ms < 2^32 ms, and a compile takes well over 1 ms). */
static inline const struct pol_service *
smtp_service(struct smtp_call *c, const struct pol_model *m)
{
	struct smtp_session *ss = c->ss;
	uint32_t gen = (uint32_t)c->snap_id;
	const struct pol_service *svc;

	if (ss->svc_gen == gen && ss->svc_idx < m->nservices)
		return &m->services[ss->svc_idx];
	svc = pol_service_by_port(c->snap, ss->port);
	ss->svc_gen = gen;
	ss->svc_idx = svc != NULL ? (uint8_t)(svc - m->services) : SMTP_SVC_NONE;
	return svc;
}

/* smtp_begin - set up a call; false after a 421 when the port has no service.
 * Inlined: it runs at every call, and its own frame cost a fifth of it. */
static inline __attribute__((always_inline)) bool
smtp_begin(struct smtp_call *c, struct smtp_session *ss, const struct smtp_env *env,
           const struct pol_snapshot *snap, uint64_t now, struct smtp_out *out)
{
	c->ss = ss;
	c->env = env;
	c->snap = snap;
	c->out = out;
	c->now = now;
	c->svc = NULL;
	c->hostname = "";
	c->snap_id = 0;
	if (snap != NULL) {
		const struct pol_model *m = pol_snapshot_model(snap);

		c->snap_id = pol_snapshot_id(snap);
		c->hostname = m->hostname;
		c->svc = smtp_service(c, m);
	}
	if (c->svc != NULL)
		return true;
	smtp_hangup(c, SMTP_E_NO_SERVICE, "service not available",
	            "421 4.3.2 Service not available");
	return false;
}

/* smtp_set_deadline - the earlier of the command and session timeouts, by the
 * current service's values */
static inline void
smtp_set_deadline(struct smtp_call *c)
{
	struct smtp_session *ss = c->ss;
	uint64_t cmd = ss->last_ms + c->svc->command_timeout_ms;
	uint64_t all = ss->start_ms + c->svc->session_timeout_ms;

	if (ss->state == SMTP_S_PREGREET)
		cmd = ss->start_ms + c->svc->greet_wait_ms; /* then the banner, not a 421 */
	ss->deadline_ms = cmd < all ? cmd : all;
}

/* smtp_timed_out - 421 and the end when the deadline has passed */
static inline bool
smtp_timed_out(struct smtp_call *c)
{
	smtp_set_deadline(c);
	if (c->now < c->ss->deadline_ms)
		return false;
	smtp_hangup(c, SMTP_E_TIMEOUT, "timeout", "421 4.4.2 %s Error: timeout exceeded",
	            c->hostname);
	return true;
}

/* smtp_error_limit - after a step: the service's max_errors ends the session,
 * right after the reply that reached it (as Postfix's smtpd_hard_error_limit) */
static inline void
smtp_error_limit(struct smtp_call *c)
{
	if (c->ss->state != SMTP_S_CLOSING && c->ss->nerrors >= c->svc->max_errors)
		smtp_hangup(c, SMTP_E_TOO_MANY_ERRORS, "too many errors",
		            "421 4.7.0 %s Error: too many errors", c->hostname);
}

/* smtp_next - what the caller does next */
static inline enum smtp_action
smtp_next(const struct smtp_session *ss)
{
	return ss->state == SMTP_S_CLOSING ? SMTP_CLOSE : SMTP_CONTINUE;
}

/* ---- smtp_cmd.c ---- */

/* smtp_command - answer one complete command line (NUL-terminated at len);
 * plain: the line reader found no control or 8-bit byte in it */
void smtp_command(struct smtp_call *c, char *line, size_t len, bool plain);
/* smtp_verb - the verb of a command line (plain, trailing spaces cut,
 * NUL-terminated at len > 0) and the length of its first word; SMTP_C_UNKNOWN
 * when it names none */
enum smtp_cmd smtp_verb(const char *line, size_t len, size_t *vlen);
/* smtp_path_end - where the address of a path ends (s: after its '<', in
 * a NUL-terminated line): the first '>', '<' or space outside quotes */
char *smtp_path_end(char *s);
/* smtp_txn_reset - forget the open transaction, give its chunk back */
void smtp_txn_reset(struct smtp_call *c);

/* ---- smtp_auth.c ---- */

/* smtp_auth_offered - whether EHLO lists AUTH on this session now */
bool smtp_auth_offered(const struct smtp_call *c);
/* smtp_auth_command - AUTH mechanism [initial-response] (arg NUL-terminated at len) */
void smtp_auth_command(struct smtp_call *c, char *arg, size_t len);
/* smtp_auth_line - a line of the exchange (SMTP_S_AUTH) */
void smtp_auth_line(struct smtp_call *c, enum smtp_line_ev ev, const char *line, size_t len);
/* smtp_auth_answer - the checker's answer, in SMTP_S_AUTH_WAIT */
void smtp_auth_answer(struct smtp_call *c, enum smtp_auth_result r, const char *user);
/* smtp_b64_decode - strict base64 into out; the length, or -1 */
long smtp_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/* ---- smtp_session.c ---- */

/* smtp_chunk_get - a chunk, or NULL after a 421 that ends the session */
char *smtp_chunk_get(struct smtp_call *c);

/* smtp_chunk_put - give a chunk back, if held. Inline: a session's close
 * and every HELO and transaction reset ask for chunks most sessions never
 * held (a short HELO name lives in the session), and the test is cheaper
 * than the call it saves. */
static inline void
smtp_chunk_put(const struct smtp_env *env, char **chunk)
{
	if (*chunk != NULL) {
		env->chunks.put(env->chunks.arg, *chunk);
		*chunk = NULL;
	}
}

/* smtp_helo_forget - drop the session's HELO name, giving its chunk back if
 * it has one (a short one lives in the session) */
static inline void
smtp_helo_forget(const struct smtp_env *env, struct smtp_session *ss)
{
	if (ss->helo == ss->helo_in)
		ss->helo = NULL;
	else
		smtp_chunk_put(env, &ss->helo);
}

#endif
