/* relay_proto - the relay's protocol pieces: backend replies, identity hand-off, DATA framing
 *
 * Plain C with no DPDK: no allocation, no syscall, no lock, no logging.
 * Every piece works incrementally on bytes in any segmentation, keeps its
 * state in a caller-owned struct, and is bounded.
 *
 *   relay_rp_*     the backend's replies (RFC 5321 4.2), one complete reply
 *                  at a time, with the EHLO keywords the relay cares about
 *   relay_xclient  Postfix's XCLIENT command(s) (XCLIENT_README)
 *   relay_proxy_*  the HAProxy PROXY protocol header, v1 (text) and v2 (binary)
 *   relay_ds_*     the client's DATA stream: where the message ends
 *                  (RFC 5321 4.1.1.4), which bytes are clean to forward,
 *                  bare CR / bare LF (smuggling), and the message size
 *   relay_tls_*    the TLS part of a backend connection (backend tls):
 *                  STARTTLS or not, plaintext allowed or a 4xx, per level
 *
 * Untrusted input: the client's DATA bytes (relay_ds_scan) and, to a lesser
 * degree, the backend's replies (relay_rp_feed): a backend that breaks the
 * protocol is an error, never a crash or an unbounded wait.
 */
#ifndef RELAY_PROTO_H
#define RELAY_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* Limits, with their reasons. */
#define RELAY_LINE_MAX        512 /* RFC 5321 4.5.3.1.4/5: a command or reply line, CRLF included */
#define RELAY_LINE_TEXT       (RELAY_LINE_MAX - 2) /* ... without its CRLF */
#define RELAY_REPLY_LINES_MAX 100 /* a multi-line reply; a real EHLO reply has about 15 */
#define RELAY_XC_VALUE_MAX                                                                         \
	255 /* Postfix refuses a longer NAME or HELO (VALID_HOSTNAME_LEN): 501, a failed hand-off  \
	     */
#define RELAY_PROXY_V1_MAX 107 /* proxy-protocol.txt 2.1: the longest v1 line, CRLF included */
#define RELAY_PROXY_V2_MAX 52  /* proxy-protocol.txt 2.2: 16-byte header + TCP over IPv6, no TLV */

/* ---- addresses ---- */

/* One end of a TCP connection. */
struct relay_addr {
	uint8_t family;   /* 4 or 6 */
	uint8_t addr[16]; /* network byte order; IPv4 uses the first 4 bytes */
	uint16_t port;    /* host order */
};

/* ---- backend replies ---- */

/* EHLO keywords seen on the lines after the first of a 2xx reply. */
enum relay_ext {
	RELAY_EXT_PIPELINING = 1 << 0,
	RELAY_EXT_SIZE = 1 << 1, /* relay_reply.size: its limit, 0 for none */
	RELAY_EXT_8BITMIME = 1 << 2,
	RELAY_EXT_SMTPUTF8 = 1 << 3,
	RELAY_EXT_STARTTLS = 1 << 4,
	RELAY_EXT_CHUNKING = 1 << 5,
	RELAY_EXT_DSN = 1 << 6,
	RELAY_EXT_ENHANCEDSTATUSCODES = 1 << 7,
	RELAY_EXT_XCLIENT = 1 << 8, /* relay_reply.xclient: its attributes */
	RELAY_EXT_XFORWARD = 1 << 9,
};

/* XCLIENT attributes, as the backend lists them ("250-XCLIENT NAME ADDR ..."). */
enum relay_xc_attr {
	RELAY_XC_NAME = 1 << 0,
	RELAY_XC_ADDR = 1 << 1,
	RELAY_XC_PORT = 1 << 2,
	RELAY_XC_PROTO = 1 << 3,
	RELAY_XC_HELO = 1 << 4,
	RELAY_XC_LOGIN = 1 << 5,
	RELAY_XC_DESTADDR = 1 << 6,
	RELAY_XC_DESTPORT = 1 << 7,
	RELAY_XC_REVERSE_NAME = 1 << 8,
};

/* Why the backend's reply stream was refused. */
enum relay_rp_err {
	RELAY_RP_E_NONE,
	RELAY_RP_E_LONG_LINE,      /* a line over RELAY_LINE_MAX octets */
	RELAY_RP_E_TOO_MANY_LINES, /* a reply over RELAY_REPLY_LINES_MAX lines */
	RELAY_RP_E_SYNTAX,         /* not "ddd", "ddd text" or "ddd-text" (RFC 5321 4.2) */
	RELAY_RP_E_CODE_MISMATCH,  /* lines of one reply with different codes */
	RELAY_RP_E_BARE_NEWLINE,   /* a CR not followed by LF, or an LF not after CR */
	RELAY_RP_E_BAD_CHAR,       /* NUL or another control character but HT */
	RELAY_RP_E_COUNT
};

enum relay_rp_ev {
	RELAY_RP_MORE,  /* every byte taken, no reply complete yet */
	RELAY_RP_REPLY, /* a reply is complete (in *r); the bytes after *used are the next one's */
	RELAY_RP_ERROR, /* the backend broke the protocol: relay_rp_error() says how; sticky */
};

/* The reply parser of one backend connection (about 540 bytes). */
struct relay_rp {
	char line[RELAY_LINE_MAX]; /* the current line without CRLF, NUL-terminated when done */
	uint16_t len;              /* bytes in line */
	uint16_t nlines;           /* complete lines of the current reply */
	uint16_t code;             /* the current reply's code, from its first line */
	uint8_t state;             /* where the line reader is (relay_reply.c) */
	uint8_t err;               /* enum relay_rp_err once in error */
	uint32_t ext;              /* enum relay_ext bits so far */
	uint32_t xclient;          /* enum relay_xc_attr bits so far */
	uint64_t size;             /* the SIZE keyword's value */
};

/* One complete reply. text points into the parser: valid until the next feed. */
struct relay_reply {
	uint16_t code;     /* 200..559 */
	uint16_t nlines;   /* 1..RELAY_REPLY_LINES_MAX */
	uint8_t multiline; /* nlines > 1 */
	uint16_t text_len;
	const char *text; /* the last line after "ddd " (NUL-terminated), "" when there is none */
	uint32_t ext;     /* enum relay_ext: EHLO keywords (2xx replies, lines 2 and later) */
	uint32_t xclient; /* enum relay_xc_attr listed by the XCLIENT keyword */
	uint64_t size;    /* the SIZE keyword's limit; 0: none or unlimited */
};

/* relay_rp_init - a parser for a new backend connection */
void relay_rp_init(struct relay_rp *p);

/* relay_rp_feed - take the backend's bytes up to the end of the first
 * complete reply; *used tells how many were taken: all of them for
 * RELAY_RP_MORE, up to the reply's LF for RELAY_RP_REPLY (call again with
 * the rest for pipelined replies), up to the offending byte for
 * RELAY_RP_ERROR (0 once in error). */
enum relay_rp_ev relay_rp_feed(struct relay_rp *p, const void *data, size_t len, size_t *used,
                               struct relay_reply *r);

/* relay_rp_error - why the parser stopped (RELAY_RP_E_NONE if it did not) */
enum relay_rp_err relay_rp_error(const struct relay_rp *p);

/* ---- identity hand-off ---- */

#define RELAY_XC_UNAVAILABLE "[UNAVAILABLE]" /* XCLIENT: the value is unknown */
#define RELAY_XC_TEMPUNAVAIL "[TEMPUNAVAIL]" /* XCLIENT: unknown for now (DNS failure) */

/* Who the client is, for XCLIENT. */
struct relay_ident {
	struct relay_addr client; /* its address and port */
	struct relay_addr
	        local;    /* the gate's address and port it connected to; family 0: unknown */
	const char *name; /* verified host name; NULL: [UNAVAILABLE] (or RELAY_XC_TEMPUNAVAIL) */
	const char *reverse_name; /* reverse DNS name, unverified; NULL: [UNAVAILABLE] */
	const char *helo;         /* its HELO/EHLO argument; NULL: [UNAVAILABLE] */
	const char *login;        /* SASL login name; NULL: LOGIN is not sent */
	uint8_t esmtp;            /* it said EHLO: PROTO=ESMTP, else PROTO=SMTP */
};

/* relay_xclient - write the XCLIENT command number *step (0, 1, ...) of the
 * hand-off, CRLF included, into buf, and advance *step. Only the attributes
 * in attrs (what the backend advertised) are sent, values xtext-encoded
 * (RFC 3461 4). When everything does not fit one 512-octet line, it is
 * split over several commands, ADDR and the names in the last one (after
 * ADDR changes, the backend no longer lets the gate send XCLIENT). A NAME,
 * REVERSE_NAME or HELO over RELAY_XC_VALUE_MAX bytes, an empty value, or a
 * value that cannot fit one line goes as [UNAVAILABLE]. Send each command
 * and wait for its reply (220 on success) before the next.
 * Returns the length, 0 when all commands are written, -1 when buf is too
 * small (RELAY_LINE_MAX always suffices; *step is then unchanged). */
int relay_xclient(char *buf, size_t cap, const struct relay_ident *id, uint32_t attrs,
                  unsigned *step);

/* relay_proxy_v1 - the PROXY protocol v1 line ("PROXY TCP4 src dst sport
 * dport\r\n"); src NULL: "PROXY UNKNOWN\r\n". Returns the length, or -1 when
 * it does not fit cap (RELAY_PROXY_V1_MAX always suffices) or the families
 * differ. */
int relay_proxy_v1(char *buf, size_t cap, const struct relay_addr *src,
                   const struct relay_addr *dst);

/* relay_proxy_v2 - the PROXY protocol v2 header (PROXY command, TCP over
 * IPv4 or IPv6, no TLV); src NULL: the LOCAL command. Returns the length,
 * or -1 as relay_proxy_v1(). */
int relay_proxy_v2(void *buf, size_t cap, const struct relay_addr *src,
                   const struct relay_addr *dst);

/* relay_proxy_v2_tls - append to a v2 PROXY header of len bytes (the PROXY
 * command) the PP2_TYPE_SSL TLV saying the client used TLS, with its
 * protocol and cipher names as sub-TLVs (proxy-protocol.txt 2.2.5; no
 * client certificate: verify is non-zero), and fix the header's length.
 * Returns the new length, or -1 when it does not fit cap or a name is
 * longer than RELAY_TLS_NAME_MAX. */
#define RELAY_TLS_NAME_MAX     64
#define RELAY_PROXY_V2_TLS_MAX (RELAY_PROXY_V2_MAX + 3 + 5 + 2 * (3 + RELAY_TLS_NAME_MAX))
int relay_proxy_v2_tls(void *buf, size_t cap, size_t len, const char *version, const char *cipher);

/* ---- the DATA stream ---- */

/* What relay_ds_scan() stopped at. */
enum relay_ds_ev {
	RELAY_DS_MORE,    /* every byte taken; the message goes on */
	RELAY_DS_END,     /* end of data (CRLF.CRLF): the bytes after *used are commands */
	RELAY_DS_TOO_BIG, /* the size passes the limit at byte *used (once; scan on from there) */
	RELAY_DS_BARE_LF, /* an LF not preceded by CR; sticky */
	RELAY_DS_BARE_CR, /* a CR not followed by LF; sticky */
};

/* What one relay_ds_scan() call did with its input. */
struct relay_ds_step {
	size_t used; /* input bytes taken */
	size_t fwd;  /* the first fwd input bytes are clean: forward them verbatim ... */
	uint8_t cr;  /* ... after one "\r" first when cr is 1 (a CR held from the last call) */
};

/* The scanner of one message (32 bytes). */
struct relay_ds {
	uint64_t size;  /* RFC 1870 size so far: CRLF counted, stuffing dots and end mark not */
	uint64_t limit; /* RELAY_DS_TOO_BIG beyond this size; 0: no limit */
	uint64_t clean; /* bytes known clean so far, the held CR excluded: K in the stream */
	uint8_t state;  /* enum relay_ds_state (relay_data.c) */
	uint8_t over;   /* RELAY_DS_TOO_BIG was reported */
};

/* relay_ds_init - a new message: call when the DATA command line ended (the
 * stream starts at a line start, so "." CRLF at once is an empty message) */
void relay_ds_init(struct relay_ds *d, uint64_t limit);

/* relay_ds_scan - scan the client's bytes. Forward, in order, "\r" if
 * st->cr, then the first st->fwd bytes of data; nothing else. A CR at the
 * end of data is held back (taken, not yet forwarded) until the next byte
 * shows whether it is part of a CRLF.
 * MORE: st->used == len. END: the message including its ".\r\n" is in the
 * forwarded bytes; data + st->used starts the next command. BARE_LF,
 * BARE_CR: the violation starts at stream offset d->clean (all bytes
 * before it were forwarded, none from it on); st->used == st->fwd.
 * TOO_BIG: the size passes the limit at data[st->used], which is not
 * taken; what st says to forward is within the limit. Call again from
 * there: the scan goes on to the end of data (the event is not repeated). */
enum relay_ds_ev relay_ds_scan(struct relay_ds *d, const void *data, size_t len,
                               struct relay_ds_step *st);

/* ---- TLS to the backend (RFC 3207, client side) ---- */

/* How much TLS the backend leg wants (Postfix's smtp_tls_security_level). */
enum relay_tls_level {
	RELAY_TLS_NONE,    /* plaintext (the default: the backend is on the inside) */
	RELAY_TLS_MAY,     /* STARTTLS when the backend offers it, else plaintext */
	RELAY_TLS_ENCRYPT, /* STARTTLS required; any certificate */
	RELAY_TLS_VERIFY,  /* STARTTLS required; the chain and the name checked */
};

/* What happened on the backend connection, as the relay tells it. */
enum relay_tls_ev {
	RELAY_TLS_EV_EHLO,       /* a 250 reply to EHLO; ext: its keywords */
	RELAY_TLS_EV_REPLY,      /* the reply to STARTTLS; code: its code */
	RELAY_TLS_EV_NO_CONN,    /* no TLS connection could be made (no context, memory) */
	RELAY_TLS_EV_SHAKEN,     /* the handshake completed (the certificate passed, if checked) */
	RELAY_TLS_EV_SHAKE_FAIL, /* the handshake failed, not for the certificate */
	RELAY_TLS_EV_CERT_FAIL,  /* the certificate did not verify (chain or name) */
};

/* What the relay does next. */
enum relay_tls_act {
	RELAY_TLS_GO,        /* go on: hand-off, then MAIL (in plaintext or inside TLS) */
	RELAY_TLS_STARTTLS,  /* send STARTTLS and await its reply */
	RELAY_TLS_HANDSHAKE, /* begin the handshake as the client */
	RELAY_TLS_EHLO,      /* send EHLO again, inside TLS (RFC 3207 4.2: forget what was said) */
	RELAY_TLS_FAIL,      /* give the backend up: a 4xx for the client (relay_tls_reply) */
};

/* How the TLS part of one backend connection ended (a counter's label). */
enum relay_tls_result {
	RELAY_TLS_R_PENDING,     /* not yet decided (or tls = none: never) */
	RELAY_TLS_R_OK,          /* TLS is up, EHLO answered inside it */
	RELAY_TLS_R_PLAINTEXT,   /* may: not offered or refused, plaintext */
	RELAY_TLS_R_NOT_OFFERED, /* encrypt, verify: no STARTTLS in the EHLO reply */
	RELAY_TLS_R_REFUSED,     /* encrypt, verify: STARTTLS not answered 220 */
	RELAY_TLS_R_UNAVAILABLE, /* no TLS connection of ours (no context, no memory) */
	RELAY_TLS_R_HANDSHAKE,   /* the handshake failed */
	RELAY_TLS_R_CERTIFICATE, /* verify: the certificate was not trusted or not for the name */
	RELAY_TLS_R_COUNT
};

/* The TLS part of one backend connection (3 bytes). */
struct relay_tls {
	uint8_t level;  /* enum relay_tls_level */
	uint8_t state;  /* where it is (relay_tls.c) */
	uint8_t result; /* enum relay_tls_result */
};

/* relay_tls_init - a new backend connection at this level */
void relay_tls_init(struct relay_tls *t, enum relay_tls_level level);

/* relay_tls_step - the relay saw ev (code: a reply's code, ext: an EHLO
 * reply's keywords); what it must do now. An event the state does not
 * expect is RELAY_TLS_FAIL and changes nothing. */
enum relay_tls_act relay_tls_step(struct relay_tls *t, enum relay_tls_ev ev, unsigned code,
                                  uint32_t ext);

/* relay_tls_reply - the client's 4xx reply for a connection that failed in
 * its TLS part (result one of the failures) */
const char *relay_tls_reply(enum relay_tls_result r);

const char *relay_tls_result_name(enum relay_tls_result r); /* "not_offered" */
const char *relay_tls_level_name(enum relay_tls_level l);   /* "verify" */

const char *relay_rp_err_name(enum relay_rp_err e); /* "long_line" */
const char *relay_ds_ev_name(enum relay_ds_ev e);   /* "bare_lf" */

#endif
