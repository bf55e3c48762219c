/* smtp - the SMTP session engine: bytes in, replies out, a policy decision per stage
 *
 * The dataplane's TCP layer owns the connection: it feeds the bytes the
 * client sent, in order and in any segmentation, to smtp_input() and sends
 * what the engine appended to the output buffer. This module is plain C
 * with no DPDK in it: it allocates nothing itself, makes no syscall, takes
 * no lock and prints nothing. What it needs per lcore comes in a struct
 * smtp_env: 512-byte chunks, a log sink, counters and the policy reader.
 *
 * Untrusted input: every byte given to smtp_input().
 *
 * Life of a session (all calls for one session from one thread):
 *
 *   smtp_open()      at connect: writes the greeting (220, or the policy's 554)
 *   smtp_input()     bytes from the client (smtp_input_one(): the same, with a
 *                    path of its own for a segment that is one whole command line)
 *   smtp_timeout()   when the clock has passed smtp_deadline()
 *   smtp_relay_reply(), smtp_auth_reply()   the answers the session waited for
 *   smtp_close()     exactly once, however the connection ended
 *
 * Every call but smtp_close() returns SMTP_CONTINUE, or SMTP_CLOSE: send
 * the output, then close the connection (and call smtp_close()).
 *
 * The policy snapshot may change between any two calls (live pushes): each
 * call takes the current one and finds the service by the session's local
 * port, once per snapshot: the session keeps the service's index with the
 * snapshot's id, never a pointer into a snapshot.
 *
 * Output: replies are appended at out->buf + out->len; out->len grows. One
 * step (a greeting, one command line's reply, a timeout) writes at most
 * SMTP_OUT_ROOM bytes. smtp_input() works only while that much is free: it
 * stops at a line boundary when less is left and reports in *consumed how
 * many input bytes it took; the caller sends the output and offers the rest
 * of the input again later (holding back its receive window meanwhile).
 * smtp_open() needs SMTP_OUT_ROOM free (a new connection's buffer is empty).
 */
#ifndef SMTP_H
#define SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pol.h"

/* Limits, with their reasons. */
#define SMTP_LINE_MAX   512                 /* RFC 5321 4.5.3.1.4: a command line, CRLF included */
#define SMTP_LINE_TEXT  (SMTP_LINE_MAX - 2) /* ... and without its CRLF */
#define SMTP_CHUNK_SIZE 512 /* a partial line, the HELO name or the sender: each < 512 */
#define SMTP_OUT_ROOM                                                                              \
	1024             /* one step's output: a policy refusal (POL_REPLY_MAX + CRLF)             \
	                  * followed by a 421 naming the hostname (< 300) */
#define SMTP_ECHO_MAX 64 /* client text echoed in our own replies (an option name) */
#define SMTP_HELO_INLINE                                                                           \
	64 /* a HELO name shorter than this is kept inside the session, not in a chunk: an idle    \
	    * session then holds no 512-byte chunk (real names are short; RFC 1035's 255-byte      \
	    * ones still take a chunk) */
#define SMTP_AUTH_USER_MAX                                                                         \
	255 /* a login name, as Postfix's and Dovecot's: longer ones are refused, and it fits a    \
	     * chunk and an XCLIENT LOGIN= value */
#define SMTP_AUTH_CRED_MAX                                                                         \
	(SMTP_LINE_TEXT / 4 * 3) /* decoded credentials: base64 of a whole line at most */

/* The caller's allocator of SMTP_CHUNK_SIZE-byte chunks, e.g. a per-lcore
 * mempool. A session holds a chunk only while it needs one: a partial line
 * between two smtp_input() calls, a HELO name of SMTP_HELO_INLINE bytes or
 * more once accepted, the sender while a transaction is open; at most three. */
struct smtp_chunks {
	void *(*get)(void *arg);             /* a chunk, or NULL when none is left */
	void (*put)(void *arg, void *chunk); /* give one back */
	void *arg;
};

/* Error kinds, counted in smtp_stats.errors. */
enum smtp_err {
	SMTP_E_LONG_LINE,       /* 500 5.5.6: a line over SMTP_LINE_MAX */
	SMTP_E_BARE_LF,         /* 521 5.5.2: LF without CR; the session ends */
	SMTP_E_BAD_CHAR,        /* 500 5.5.2: NUL, bare CR, another control or 8-bit in a command */
	SMTP_E_SYNTAX,          /* 500 5.5.2 empty line, 501 arguments or addresses, 555 options */
	SMTP_E_UNKNOWN_CMD,     /* 502 5.5.2 */
	SMTP_E_SEQUENCE,        /* 503 5.5.1: out of order */
	SMTP_E_DENIED,          /* 503 5.5.1 after a connect refusal */
	SMTP_E_SIZE,            /* 552 5.3.4: declared SIZE over the limit */
	SMTP_E_TOO_MANY_RCPTS,  /* 452 4.5.3 */
	SMTP_E_NO_RCPTS,        /* 554 5.5.1 DATA without an accepted recipient */
	SMTP_E_NO_BACKEND,      /* 451 4.4.1 DATA: no backend configured */
	SMTP_E_BACKEND,         /* a 4xx or 5xx reply came from (or for) the backend */
	SMTP_E_TIMEOUT,         /* 421 4.4.2; the session ends */
	SMTP_E_TOO_MANY_ERRORS, /* 421 4.7.0; the session ends */
	SMTP_E_NO_SERVICE,      /* 421 4.3.2: the port lost its service; the session ends */
	SMTP_E_NO_MEMORY,       /* 421 4.3.0: no chunk left; the session ends */
	SMTP_E_PREGREET,     /* 521 5.5.1: the client talked before the banner; the session ends */
	SMTP_E_TLS_REQUIRED, /* 530 5.7.0: MAIL before STARTTLS where TLS is required */
	SMTP_E_TLS_UNAVAILABLE, /* 454 4.7.0: STARTTLS where TLS is off or cannot start now */
	SMTP_E_AUTH, /* AUTH refused: 535 bad credentials, 501 aborted or undecodable, 500 5.5.6 */
	SMTP_E_AUTH_TEMP, /* 454 4.7.0: the checker failed, or too many failures from the client */
	SMTP_E_COUNT
};

/* Counters of one lcore: plain increments, one writer; the control thread
 * sums them over lcores. */
struct smtp_stats {
	uint64_t sessions_opened;
	uint64_t sessions_closed;
	uint64_t commands;              /* complete command lines */
	uint64_t replies[6];            /* by class: [2] 2xx ... [5] 5xx */
	uint64_t verdicts[POL_R_COUNT]; /* pol_eval results by reason */
	uint64_t errors[SMTP_E_COUNT];  /* by kind */
	uint64_t auth_ok;               /* 235: sessions that authenticated */
};

struct smtp_session;
struct smtp_tally; /* smtp_tally.h */

/* The backend relay, seen from the engine (the dataplane's relay.c): the
 * engine asks, the relay answers later through smtp_relay_reply(), and
 * meanwhile the engine reads no input (SMTP_S_WAIT). While a message body
 * flows (SMTP_S_DATA) the relay reads the client's bytes itself. */
struct smtp_relay {
	/* rcpt - the policy accepted a recipient: ask the backend (the first
	 * one of a transaction opens it). 0: asked, the reply will come;
	 * 1: no backend configured, the engine accepts it itself; -1: the relay
	 * cannot now (451 4.4.1) */
	int (*rcpt)(void *arg, struct smtp_session *ss, const char *rcpt, size_t len);
	/* data - DATA with accepted recipients: 0 asked, -1 no backend (451 4.4.1) */
	int (*data)(void *arg, struct smtp_session *ss);
	/* reset - the transaction ends without a message (RSET, HELO, a failure) */
	void (*reset)(void *arg, struct smtp_session *ss);
	/* close - the session ends: forget it */
	void (*close)(void *arg, struct smtp_session *ss);
	void *arg;
};

/* TLS, seen from the engine (the dataplane's tls/): the engine only
 * decides when STARTTLS is answered 220; the caller does the rest. */
struct smtp_tls {
	/* start - STARTTLS is about to be answered 220: make this session's TLS
	 * state (the snapshot's service's context). 0: ready, the caller sends
	 * the 220 in the clear and every byte after it is the handshake;
	 * -1: not now (454 4.7.0) */
	int (*start)(void *arg, struct smtp_session *ss, const struct pol_snapshot *snap);
	void *arg;
};

/* SASL mechanisms (RFC 4954): both carry a password in clear, so they are
 * offered only under TLS or where the service allows AUTH in clear. */
enum smtp_mech {
	SMTP_M_NONE,
	SMTP_M_PLAIN, /* RFC 4616: authzid NUL authcid NUL passwd, one response */
	SMTP_M_LOGIN, /* draft-murchison-sasl-login: user name, then password */
};

/* The result of a credentials check. */
enum smtp_auth_result {
	SMTP_AUTH_OK,    /* 235; the name the checker gives is the login */
	SMTP_AUTH_FAIL,  /* 535 5.7.8: bad credentials */
	SMTP_AUTH_TEMP,  /* 454 4.7.0: the checker is down, slow or failed */
	SMTP_AUTH_LIMIT, /* 454 4.7.0: too many recent failures from this client */
	SMTP_AUTH_RESULTS
};

/* The credentials checker, seen from the engine (the dataplane's auth.c,
 * and the Dovecot client behind it): the engine asks, the answer comes
 * later through smtp_auth_reply(), and meanwhile the engine reads no input
 * (SMTP_S_AUTH_WAIT), as with the relay. */
struct smtp_auth {
	/* check - credentials to verify, as PLAIN's response (RFC 4616:
	 * authzid NUL authcid NUL passwd, len bytes; LOGIN's too, with an empty
	 * authzid); the engine wipes them after the call. 0: asked, the answer
	 * will come; -1: cannot now (454 4.7.0) */
	int (*check)(void *arg, struct smtp_session *ss, enum smtp_mech mech, const char *cred,
	             size_t len);
	/* cancel - the session ends while its check is in flight: forget it */
	void (*cancel)(void *arg, struct smtp_session *ss);
	void *arg;
};

/* A refusal's log line in compact form: what pol_format_reject() prints,
 * copied (nothing points into the session or the policy snapshot, which
 * may be gone when the record is read). The record is this header, then
 * the text, HELO, sender and recipient, len[i] bytes each, not
 * NUL-terminated; SMTP_REC_NONE for an input the line does not print.
 * smtp_reject_format() makes the line of it, byte for byte the one the
 * engine would have formatted: the lcore copies, the log's reader formats. */
#define SMTP_REC_NONE 0xffff
#define SMTP_REC_MAX  2046 /* bytes of a record at most: the log ring's line (LOGQ_LINE_MAX) */
enum { SMTP_REC_TEXT, SMTP_REC_HELO, SMTP_REC_SENDER, SMTP_REC_RCPT, SMTP_REC_NSTR };
struct smtp_reject_rec {
	struct cidr client;
	uint8_t stage; /* enum pol_stage */
	uint8_t esmtp; /* the session said EHLO */
	uint16_t len[SMTP_REC_NSTR];
};

/* smtp_reject_format - the reject line of a record (rec, len bytes) into
 * buf, as pol_format_reject() cuts it to size; its length (0 for a record
 * that is not one, which cannot be: the engine made it) */
size_t smtp_reject_format(char *buf, size_t size, const void *rec, size_t len);

/* What a session needs from its lcore. */
struct smtp_env {
	struct smtp_chunks chunks;
	/* log - one log line (no newline; the engine's buffer: copy it) */
	void (*log)(void *arg, const char *line, size_t len);
	/* log_reject - a refusal's line as a record (struct smtp_reject_rec
	 * and its strings, in n parts: copy them), at most SMTP_REC_MAX bytes;
	 * NULL: the engine formats the line and calls log */
	void (*log_reject)(void *arg, const struct iovec *parts, unsigned n);
	void *log_arg;
	struct smtp_stats *stats;
	struct smtp_tally *tally;       /* by service and by rule; NULL: not counted */
	struct pol_reader *reader;      /* the lcore's policy registration; NULL offline */
	const struct smtp_relay *relay; /* NULL: no relay, DATA gets 451 */
	const struct smtp_tls *tls;     /* NULL: no TLS, STARTTLS gets 454 */
	const struct smtp_auth *auth;   /* NULL: no checker, AUTH is not offered (503) */
};

/* The caller's output buffer; the engine appends. */
struct smtp_out {
	char *buf;
	size_t len; /* bytes in buf not sent yet */
	size_t cap; /* size of buf */
};

enum smtp_action {
	SMTP_CONTINUE, /* send the output and go on */
	SMTP_CLOSE,    /* send the output, then close the connection */
};

enum smtp_state {
	SMTP_S_FREE,      /* not opened, or smtp_close()d */
	SMTP_S_DENIED,    /* greeted with the policy's refusal: 503 to all but QUIT */
	SMTP_S_PREGREET,  /* the service's greet_wait: the banner is held back, input is refused */
	SMTP_S_GREETED,   /* greeted with 220, no HELO/EHLO accepted */
	SMTP_S_HELO,      /* HELO/EHLO accepted, no transaction */
	SMTP_S_MAIL,      /* MAIL accepted: a transaction is open */
	SMTP_S_WAIT,      /* the relay was asked (RCPT or DATA, in where): input waits */
	SMTP_S_DATA,      /* the message flows through the relay; its end's reply is awaited */
	SMTP_S_TLS,       /* 220 to STARTTLS: the input is the TLS handshake, not commands */
	SMTP_S_AUTH,      /* AUTH sent a 334 challenge: the next line is the client's response */
	SMTP_S_AUTH_WAIT, /* the checker was asked: input waits for smtp_auth_reply() */
	SMTP_S_CLOSING,   /* SMTP_CLOSE returned; only smtp_close() is left */
};

/* Where the line reader is between two bytes. */
enum smtp_lstate {
	SMTP_L_TEXT,    /* in a line (or at its start) */
	SMTP_L_CR,      /* after a CR: LF ends the line, anything else keeps the CR */
	SMTP_L_SKIP,    /* the line is too long: dropping bytes up to its CRLF */
	SMTP_L_SKIP_CR, /* ... and just saw a CR */
};

enum smtp_flag {
	SMTP_F_ESMTP = 1 << 0,     /* greeted with EHLO: proto=ESMTP in log lines */
	SMTP_F_BODY_8BIT = 1 << 1, /* the transaction said BODY=8BITMIME */
	SMTP_F_TLS = 1 << 2,       /* TLS is active on this session (after STARTTLS) */
	SMTP_F_AUTH = 1 << 3,      /* the client authenticated: login holds its name */
	SMTP_F_ASKED = 1 << 4,     /* the checker has the credentials: smtp_close() cancels */
};

/* Commands, as they are named in log lines ("timeout after RCPT from ..."). */
enum smtp_cmd {
	SMTP_C_CONNECT,
	SMTP_C_HELO,
	SMTP_C_EHLO,
	SMTP_C_MAIL,
	SMTP_C_RCPT,
	SMTP_C_DATA,
	SMTP_C_RSET,
	SMTP_C_NOOP,
	SMTP_C_QUIT,
	SMTP_C_VRFY,
	SMTP_C_HELP,
	SMTP_C_STARTTLS,
	SMTP_C_AUTH,
	SMTP_C_UNKNOWN,
	SMTP_C_COUNT
};

/* svc_idx of a session whose service is not known yet */
#define SMTP_SVC_NONE 0xff

/* One session, 232 bytes on x86-64. Owned by the caller (inside its flow
 * state), never copied (helo may point into it); smtp_open() initialises
 * it. Between calls it holds a chunk only for each of line, sender and
 * login that is set, and for helo when it does not point at helo_in. */
struct smtp_session {
	struct pol_state pol; /* facts of the client's inputs, cached by pol_eval */
	uint64_t start_ms;    /* smtp_open()'s now: the session timeout runs from here */
	uint64_t last_ms;     /* end of the last command line: the command timeout runs from here */
	uint64_t deadline_ms; /* the earlier of both, as of the last call */
	char *line;           /* chunk: a partial line kept between calls, or NULL */
	char *helo;   /* the accepted HELO/EHLO name, NUL-terminated: helo_in, a chunk, or NULL */
	char *sender; /* chunk: the open transaction's sender ("" for <>), or NULL */
	char *login; /* chunk: the authenticated name (SMTP_F_AUTH), LOGIN's name meanwhile, or NULL
	              */
	struct cidr client; /* the client's address */
	uint16_t port;      /* our local port: finds the service in each snapshot */
	uint16_t line_len;  /* bytes in line */
	uint16_t nerrors;   /* 4xx and 5xx replies so far; the service's max_errors ends it */
	uint8_t state;      /* enum smtp_state */
	uint8_t lstate;     /* enum smtp_lstate */
	uint8_t flags;      /* enum smtp_flag bits */
	uint8_t where;      /* enum smtp_cmd: the last command, for log lines */
	uint8_t mech;       /* enum smtp_mech: of the AUTH exchange, then of the login */
	uint8_t svc_idx;    /* the service's index in the snapshot of svc_gen (or SMTP_SVC_NONE) */
	uint32_t nrcpt;     /* accepted recipients of the open transaction */
	uint32_t svc_gen;   /* low 32 bits of the snapshot id svc_idx was found in */
	void *relay;        /* the relay's state for this session, or NULL: the relay's own */
	void *tls;          /* the caller's TLS state for this session, or NULL */
	char helo_in[SMTP_HELO_INLINE]; /* a short HELO name's home (see helo) */
};

/* smtp_open - start a session for a client connected to our local port; ss
 * is uninitialised memory (a session still open would leak its chunks) */
enum smtp_action smtp_open(struct smtp_session *ss, const struct smtp_env *env,
                           const struct pol_snapshot *snap, uint64_t now, const struct cidr *client,
                           uint16_t port, struct smtp_out *out);

/* smtp_input - take bytes from the client; *consumed tells how many were
 * taken: all of them, unless the output filled up (SMTP_CONTINUE: offer the
 * rest again once the output is sent) or the session ends (SMTP_CLOSE: the
 * rest is ignored) */
enum smtp_action smtp_input(struct smtp_session *ss, const struct smtp_env *env,
                            const struct pol_snapshot *snap, uint64_t now, const void *data,
                            size_t len, size_t *consumed, struct smtp_out *out);

/* smtp_input_one - smtp_input(), with a path of its own for the predicted
 * segment: exactly one whole command line (CRLF last) read from a line
 * boundary. Same output, state and result as smtp_input() for every
 * input; the caller that mostly gets one command per segment (the TCP
 * glue) calls this. */
enum smtp_action smtp_input_one(struct smtp_session *ss, const struct smtp_env *env,
                                const struct pol_snapshot *snap, uint64_t now, const void *data,
                                size_t len, size_t *consumed, struct smtp_out *out);

/* smtp_deadline - when smtp_timeout() is due (monotonic ms), as of the last
 * call; inline: the caller asks after every step */
static inline uint64_t
smtp_deadline(const struct smtp_session *ss)
{
	if (ss->state == SMTP_S_FREE || ss->state == SMTP_S_CLOSING)
		return UINT64_MAX;
	return ss->deadline_ms;
}

/* smtp_timeout - the timer: 421 and SMTP_CLOSE when now has passed the
 * deadline, else nothing. Like smtp_input(), does nothing while less than
 * SMTP_OUT_ROOM of output is free (call again later). */
enum smtp_action smtp_timeout(struct smtp_session *ss, const struct smtp_env *env,
                              const struct pol_snapshot *snap, uint64_t now, struct smtp_out *out);

/* smtp_relay_reply - the relay's answer to what the session waits for (a
 * RCPT, DATA, or the end of a message), a whole reply line without CRLF,
 * the backend's or the relay's own; with end, the session ends after it.
 * Needs SMTP_OUT_ROOM of output. */
enum smtp_action smtp_relay_reply(struct smtp_session *ss, const struct smtp_env *env,
                                  const struct pol_snapshot *snap, uint64_t now, const char *reply,
                                  bool end, struct smtp_out *out);

/* smtp_tls_ready - the TLS handshake that followed STARTTLS completed: the
 * session starts over (RFC 3207 4.2: the HELO/EHLO and everything learned
 * before are forgotten) with SMTP_F_TLS set; the client speaks first (no
 * greeting). Writes nothing. */
void smtp_tls_ready(struct smtp_session *ss, const struct pol_snapshot *snap, uint64_t now);
/* smtp_auth_reply - the checker's answer to the session's AUTH (in
 * SMTP_S_AUTH_WAIT); user: the login name it gives (OK only; NULL or
 * empty: the name the client gave). Needs SMTP_OUT_ROOM of output. */
enum smtp_action smtp_auth_reply(struct smtp_session *ss, const struct smtp_env *env,
                                 const struct pol_snapshot *snap, uint64_t now,
                                 enum smtp_auth_result result, const char *user,
                                 struct smtp_out *out);

/* smtp_touch - message bytes went through: the command timeout starts again */
void smtp_touch(struct smtp_session *ss, uint64_t now);

/* smtp_close - end the session: give its chunks back, count it */
void smtp_close(struct smtp_session *ss, const struct smtp_env *env);

const char *smtp_err_name(enum smtp_err e);   /* "long_line" */
const char *smtp_cmd_name(enum smtp_cmd c);   /* "RCPT" */
const char *smtp_mech_name(enum smtp_mech m); /* "PLAIN" */

#endif
