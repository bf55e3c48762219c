/* tls - STARTTLS's TLS: server contexts per service, the relay's client
 * context for the backend leg, and one connection per session driven
 * through memory BIOs
 *
 * Plain C and OpenSSL, no DPDK. Two sides:
 *
 * - Contexts (control thread only): tls_ctxs_build() makes an SSL_CTX for
 *   every service of a policy model with tls != off, from the PEM text the
 *   policy loader read (the gate reads no certificate file of its own, so a
 *   push carries its certificates), and reports every problem with the
 *   file:line that names the file. With backend.tls != none the set also
 *   holds the relay's client context (its trusted CAs from the tls_ca PEM
 *   text, read by the policy loader too). The set rides on the policy snapshot
 *   (pol_snapshot_attach) and is freed with it after its grace period; a
 *   connection holds a reference on its SSL_CTX, so sessions that began
 *   under an older policy finish with its certificates.
 *
 * - Connections (the lcore that owns the session): OpenSSL never touches a
 *   socket. Ciphertext from TCP goes into a memory BIO (tls_conn_feed, at
 *   most one record's worth ahead of what was read), plaintext comes out by
 *   peek-then-consume so that the SMTP engine can take part of it, and what
 *   OpenSSL writes gathers in another memory BIO that the caller moves to
 *   TCP as its send space allows (tls_conn_out_data). No call blocks or makes
 *   a syscall; handshakes of many sessions interleave on one lcore.
 *
 * Untrusted input: every byte given to tls_conn_feed().
 *
 * Memory: OpenSSL mallocs per connection; with SSL_MODE_RELEASE_BUFFERS the
 * record buffers (about 2 x 17 KiB) are held only while a record is in
 * flight. tests/unit/tls measures OpenSSL's memory per connection: about
 * 43 KiB in the handshake, 14 KiB established and idle. The caller bounds
 * the number of connections per lcore (TLS_CONNS_MAX).
 */
#ifndef TLS_H
#define TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "pol.h"

#define TLS_CONNS_MAX 2048 /* per lcore: at most ~64 KiB each in a handshake, so ~128 MiB */
#define TLS_FEED_AHEAD                                                                             \
	18432 /* ciphertext taken ahead of the reader: a whole record (16 KiB + 2 KiB) */
#define TLS_OVERHEAD    256  /* a record's header, tag and padding on our output, with margin */
#define TLS_PLAIN_CHUNK 4096 /* plaintext offered to the engine per step */

struct pol_errs;
struct tls_ctxs; /* a policy's contexts, by service index */
struct tls_conn; /* one session's TLS */

/* tls_ctxs_build - contexts for m's services with TLS and for the backend
 * leg; NULL with errors in errs (each at the tls_cert or tls_ca line naming
 * the file) or when nothing has TLS (*none set then) */
struct tls_ctxs *tls_ctxs_build(const struct pol_model *m, struct pol_errs *errs, bool *none);
/* tls_ctxs_free - a void * for pol_snapshot_attach */
void tls_ctxs_free(void *ctxs);

/* tls_conn_new - a server connection for the service at index svc; NULL
 * when the service has no context or memory ran out */
struct tls_conn *tls_conn_new(const struct tls_ctxs *ctxs, unsigned svc);
/* tls_conn_new_client - a client connection to the backend, whose
 * certificate must be for name (an address literal: its IP) when the
 * context verifies; SNI carries name when it is a host name. NULL when the
 * policy has no backend context or memory ran out */
struct tls_conn *tls_conn_new_client(const struct tls_ctxs *ctxs, const char *name);
void tls_conn_free(struct tls_conn *t);

/* tls_conn_feed - ciphertext from the peer; how much was taken (0 while a
 * record's worth waits unread) */
size_t tls_conn_feed(struct tls_conn *t, const void *buf, size_t len);
/* tls_conn_handshake - go on with the handshake: 1 done, 0 more input
 * needed, -1 failed (the reason is in tls_conn_error) */
int tls_conn_handshake(struct tls_conn *t);
/* tls_conn_peek - decrypted bytes into buf without taking them: their
 * count, 0 when more input is needed, -1 at the end (close_notify or an
 * error) */
long tls_conn_peek(struct tls_conn *t, void *buf, size_t cap);
/* tls_conn_consume - take n bytes of what tls_conn_peek showed */
void tls_conn_consume(struct tls_conn *t, size_t n);
/* tls_conn_write - plaintext to send: encrypted into the output; 0 or -1 */
int tls_conn_write(struct tls_conn *t, const void *buf, size_t len);
/* tls_conn_out - encrypted bytes waiting for TCP */
size_t tls_conn_out(const struct tls_conn *t);
/* tls_conn_out_data - where they are, without taking them; their count */
size_t tls_conn_out_data(struct tls_conn *t, const void **p);
/* tls_conn_out_drop - n of them went to TCP */
void tls_conn_out_drop(struct tls_conn *t, size_t n);
/* tls_conn_close - queue a close_notify */
void tls_conn_close(struct tls_conn *t);

bool tls_conn_done(const struct tls_conn *t);           /* the handshake completed */
const char *tls_conn_version(const struct tls_conn *t); /* "TLSv1.3" */
const char *tls_conn_cipher(const struct tls_conn *t);  /* "TLS_AES_256_GCM_SHA384" */
int tls_conn_bits(const struct tls_conn *t, int *alg_bits);
const char *tls_conn_error(const struct tls_conn *t); /* why the handshake failed */
/* tls_conn_verify_error - why the peer's certificate did not verify ("hostname
 * mismatch"), NULL when it did or was not checked */
const char *tls_conn_verify_error(const struct tls_conn *t);

#endif
