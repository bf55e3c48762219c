/* tls - server contexts per service, and connections over memory BIOs
 *
 * See tls.h. Contexts are built on the control thread from PEM text; a
 * connection belongs to one lcore, which is OpenSSL's only caller for it.
 * Nothing here reads a file, opens a socket or blocks.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pol_err.h"
#include "tls.h"

struct tls_ctxs {
	SSL_CTX *ctx[POL_MAX_SERVICES]; /* by service index; NULL: tls = off */
	SSL_CTX *backend;               /* the relay's client side; NULL: backend tls = none */
};

struct tls_conn {
	SSL *ssl;
	BIO *in;         /* ciphertext from the peer, read by OpenSSL */
	BIO *out;        /* ciphertext OpenSSL wrote, for TCP */
	const char *why; /* the failure's reason (a static OpenSSL string) */
	bool done;       /* handshake complete */
};

/* ssl_reason - the first queued OpenSSL error's reason, and an empty queue */
static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r != NULL ? r : "unknown error";
}

/* load_chain - the certificate and its chain (the rest of the PEM) */
static int
load_chain(SSL_CTX *ctx, const struct pol_tls_cert *tc)
{
	BIO *b = BIO_new_mem_buf(tc->cert, (int)tc->cert_len);
	X509 *x = b != NULL ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
	int rc = -1;

	if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1)
		goto out;
	/* the chain for this key type: set after use_certificate selected it */
	if (SSL_CTX_clear_chain_certs(ctx) != 1)
		goto out;
	for (X509 *ca; (ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL;) {
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			goto out;
		}
	}
	/* the end of the PEM is the expected way out of the loop */
	if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE)
		ERR_clear_error();
	rc = 0;
out:
	X509_free(x);
	BIO_free(b);
	return rc;
}

/* load_key - the private key, checked against the certificate just loaded */
static int
load_key(SSL_CTX *ctx, const struct pol_tls_cert *tc, bool *mismatch)
{
	BIO *b = BIO_new_mem_buf(tc->key, (int)tc->key_len);
	EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
	int rc = -1;

	*mismatch = false;
	if (k != NULL && SSL_CTX_use_PrivateKey(ctx, k) == 1) {
		if (SSL_CTX_check_private_key(ctx) == 1)
			rc = 0;
		else
			*mismatch = true;
	}
	EVP_PKEY_free(k);
	BIO_free(b);
	return rc;
}

/* set_protocols - the versions allowed (enum pol_tls_proto bits) */
static void
set_protocols(SSL_CTX *ctx, uint8_t protocols)
{
	SSL_CTX_set_min_proto_version(ctx,
	                              protocols & POL_TLS_V1_2 ? TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx,
	                              protocols & POL_TLS_V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
}

/* new_ctx - a server context with our settings: the service's protocols,
 * no renegotiation, compression, tickets or session cache */
static SSL_CTX *
new_ctx(const struct pol_service *s)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	set_protocols(ctx, s->tls_protocols);
	/* renegotiation is a DoS lever and a second injection point; a client
	 * that resumes gets a full handshake: no state shared between lcores */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                                 SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* record buffers only while a record is in flight: idle sessions stay small */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

/* build_one - a service's context; NULL with the errors added */
static SSL_CTX *
build_one(const struct pol_service *s, struct pol_errs *errs)
{
	SSL_CTX *ctx = new_ctx(s);
	size_t before = errs->total;

	if (ctx == NULL) {
		pol_errs_add(errs, s->file, s->line, "service %s: tls: %s", s->name, ssl_reason());
		return NULL;
	}
	for (unsigned i = 0; i < s->ntls_certs; i++) {
		const struct pol_tls_cert *tc = &s->tls_certs[i];
		bool mismatch;

		if (load_chain(ctx, tc) < 0) {
			pol_errs_add(errs, tc->file, tc->line, "tls_cert: cannot use %s: %s",
			             tc->cert_path, ssl_reason());
			continue;
		}
		if (load_key(ctx, tc, &mismatch) < 0) {
			if (mismatch)
				pol_errs_add(errs, tc->file, tc->line,
				             "tls_key: %s does not match the certificate of %s",
				             tc->key_path, tc->cert_path);
			else
				pol_errs_add(errs, tc->file, tc->line, "tls_key: cannot use %s: %s",
				             tc->key_path, ssl_reason());
			ERR_clear_error();
		}
	}
	if (errs->total > before) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* load_cas - the backend's trusted CAs, every certificate of the PEM text,
 * into the context's store; their count, -1 on an error */
static int
load_cas(SSL_CTX *ctx, const struct pol_backend *b)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	BIO *bio = BIO_new_mem_buf(b->tls_ca, (int)b->tls_ca_len);
	int n = 0;

	if (bio == NULL)
		return -1;
	for (X509 *x; (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL; n++) {
		int rc = X509_STORE_add_cert(st, x);

		X509_free(x);
		if (rc != 1) {
			n = -1;
			break;
		}
	}
	BIO_free(bio);
	if (n >= 0 && ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE)
		ERR_clear_error(); /* the end of the PEM */
	return n;
}

/* build_client - the relay's context for the backend leg: the protocols of
 * backend.tls_protocols, and for verify a peer check against tls_ca (the
 * name is set per connection); NULL with the errors added */
static SSL_CTX *
build_client(const struct pol_backend *b, struct pol_errs *errs)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		pol_errs_add(errs, b->file, b->line, "backend: tls: %s", ssl_reason());
		return NULL;
	}
	set_protocols(ctx, b->tls_protocols);
	/* one full handshake per connection: no state shared between lcores */
	SSL_CTX_set_options(ctx,
	                    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (b->tls != POL_BTLS_VERIFY) {
		/* may, encrypt: encryption against a passive listener only (Postfix's
		 * "Untrusted TLS connection") */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	if (b->tls_ca == NULL || load_cas(ctx, b) <= 0) {
		pol_errs_add(errs, b->file, b->tls_ca_line, "tls_ca: cannot use %s: %s",
		             b->tls_ca_path != NULL ? b->tls_ca_path : "(none)",
		             b->tls_ca == NULL ? "not read" : ssl_reason());
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

struct tls_ctxs *
tls_ctxs_build(const struct pol_model *m, struct pol_errs *errs, bool *none)
{
	struct tls_ctxs *t = calloc(1, sizeof(*t));
	size_t before = errs->total;
	unsigned n = 0;

	*none = false;
	if (t == NULL) {
		pol_errs_add(errs, m->nfiles ? m->files[0] : "-", 0, "out of memory");
		return NULL;
	}
	for (unsigned i = 0; i < m->nservices; i++) {
		if (m->services[i].tls == POL_TLS_OFF)
			continue;
		t->ctx[i] = build_one(&m->services[i], errs);
		n++;
	}
	if (m->backend.configured && m->backend.tls != POL_BTLS_NONE) {
		t->backend = build_client(&m->backend, errs);
		n++;
	}
	if (errs->total > before || n == 0) {
		*none = n == 0 && errs->total == before;
		tls_ctxs_free(t);
		return NULL;
	}
	return t;
}

void
tls_ctxs_free(void *p)
{
	struct tls_ctxs *t = p;

	if (t == NULL)
		return;
	for (unsigned i = 0; i < POL_MAX_SERVICES; i++)
		SSL_CTX_free(t->ctx[i]); /* live connections keep their own reference */
	SSL_CTX_free(t->backend);
	free(t);
}

/* conn_new - a connection of ctx over two memory BIOs; NULL when memory ran out */
static struct tls_conn *
conn_new(SSL_CTX *ctx)
{
	struct tls_conn *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ssl = SSL_new(ctx);
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (t->ssl == NULL || t->in == NULL || t->out == NULL) {
		SSL_free(t->ssl);
		BIO_free(t->in);
		BIO_free(t->out);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	/* an empty memory BIO means "try again", not end of file */
	BIO_set_mem_eof_return(t->in, -1);
	SSL_set_bio(t->ssl, t->in, t->out); /* the SSL owns both now */
	return t;
}

struct tls_conn *
tls_conn_new(const struct tls_ctxs *ctxs, unsigned svc)
{
	struct tls_conn *t;

	if (ctxs == NULL || svc >= POL_MAX_SERVICES || ctxs->ctx[svc] == NULL)
		return NULL;
	if ((t = conn_new(ctxs->ctx[svc])) != NULL)
		SSL_set_accept_state(t->ssl);
	return t;
}

/* set_peer_name - the name the backend's certificate must carry (checked
 * only where the context verifies), and SNI when it is a host name (RFC
 * 6066 3: never an address literal); 0 or -1 */
static int
set_peer_name(SSL *ssl, const char *name)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 ? 0 : -1;
	if (SSL_set_tlsext_host_name(ssl, name) != 1 || SSL_set1_host(ssl, name) != 1)
		return -1;
	/* the name itself, no wildcard on a partial label (as Postfix) */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return 0;
}

struct tls_conn *
tls_conn_new_client(const struct tls_ctxs *ctxs, const char *name)
{
	struct tls_conn *t;

	if (ctxs == NULL || ctxs->backend == NULL || name == NULL || name[0] == '\0')
		return NULL;
	if ((t = conn_new(ctxs->backend)) == NULL)
		return NULL;
	if (set_peer_name(t->ssl, name) < 0) {
		tls_conn_free(t);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_connect_state(t->ssl);
	return t;
}

void
tls_conn_free(struct tls_conn *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t);
}

size_t
tls_conn_feed(struct tls_conn *t, const void *buf, size_t len)
{
	size_t have = BIO_ctrl_pending(t->in), room;
	int n;

	if (have >= TLS_FEED_AHEAD || len == 0)
		return 0;
	room = TLS_FEED_AHEAD - have;
	n = BIO_write(t->in, buf, (int)(len < room ? len : room));
	return n > 0 ? (size_t)n : 0;
}

/* failed - the session's TLS is over: remember why, leave no error queued
 * for the next session on this lcore */
static int
failed(struct tls_conn *t, int rc)
{
	int e = SSL_get_error(t->ssl, rc);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	t->why = e == SSL_ERROR_ZERO_RETURN ? "close_notify"
	         : e == SSL_ERROR_SYSCALL   ? "unexpected end of input"
	                                    : ssl_reason();
	ERR_clear_error();
	return -1;
}

int
tls_conn_handshake(struct tls_conn *t)
{
	int rc;

	if (t->done)
		return 1;
	if (t->why != NULL)
		return -1; /* failed once: OpenSSL's state is not to be driven again */
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		t->done = true;
		return 1;
	}
	return failed(t, rc);
}

long
tls_conn_peek(struct tls_conn *t, void *buf, size_t cap)
{
	size_t n = 0;
	int rc = SSL_peek_ex(t->ssl, buf, cap, &n);

	if (rc == 1)
		return (long)n;
	return failed(t, rc) < 0 ? -1 : 0;
}

void
tls_conn_consume(struct tls_conn *t, size_t n)
{
	char sink[TLS_PLAIN_CHUNK];

	while (n > 0) {
		size_t got = 0;

		/* what peek showed is already decrypted: this cannot block */
		if (SSL_read_ex(t->ssl, sink, n < sizeof(sink) ? n : sizeof(sink), &got) != 1)
			break;
		n -= got;
	}
}

int
tls_conn_write(struct tls_conn *t, const void *buf, size_t len)
{
	size_t n = 0;

	/* a memory BIO takes everything: the write is whole or fails */
	if (len == 0)
		return 0;
	if (SSL_write_ex(t->ssl, buf, len, &n) != 1 || n != len) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

size_t
tls_conn_out(const struct tls_conn *t)
{
	return BIO_ctrl_pending(t->out);
}

size_t
tls_conn_out_data(struct tls_conn *t, const void **p)
{
	char *d = NULL;
	long n = BIO_get_mem_data(t->out, &d);

	*p = d;
	return n > 0 ? (size_t)n : 0;
}

void
tls_conn_out_drop(struct tls_conn *t, size_t n)
{
	char sink[1024];

	while (n > 0) {
		int got = BIO_read(t->out, sink, (int)(n < sizeof(sink) ? n : sizeof(sink)));

		if (got <= 0)
			break;
		n -= (size_t)got;
	}
}

void
tls_conn_close(struct tls_conn *t)
{
	if (t->done && SSL_shutdown(t->ssl) < 0)
		ERR_clear_error();
}

bool
tls_conn_done(const struct tls_conn *t)
{
	return t->done;
}

const char *
tls_conn_version(const struct tls_conn *t)
{
	return SSL_get_version(t->ssl);
}

const char *
tls_conn_cipher(const struct tls_conn *t)
{
	return SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl));
}

int
tls_conn_bits(const struct tls_conn *t, int *alg_bits)
{
	return SSL_CIPHER_get_bits(SSL_get_current_cipher(t->ssl), alg_bits);
}

const char *
tls_conn_verify_error(const struct tls_conn *t)
{
	long v = SSL_get_verify_result(t->ssl);

	return v == X509_V_OK ? NULL : X509_verify_cert_error_string(v);
}

const char *
tls_conn_error(const struct tls_conn *t)
{
	return t->why != NULL ? t->why : "no error";
}
