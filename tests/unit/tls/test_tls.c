/* test_tls - dataplane/tls/ against OpenSSL's own client, all in memory
 *
 * Certificates are made here (RSA 2048 and ECDSA P-256, self-signed). The
 * client is an OpenSSL SSL object on memory BIOs; bytes move between it
 * and a tls_conn by hand, in small pieces, as TCP would give them. Checks:
 * contexts and their file:line errors, handshakes with each protocol and
 * key type, peek-then-consume of part of the plaintext, output left for
 * TCP, garbage and protocol mismatches, and what a connection costs in
 * malloc'ed memory (printed, and bounded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "pol_err.h"
#include "tap.h"
#include "tls.h"

/* make_pem - a self-signed certificate and its key, as PEM text */
static void
make_pem(const char *type, char **cert, char **key)
{
	EVP_PKEY *k = strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
	                                       : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
	char *p;
	long n;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"mx.test.example", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (X509_sign(x, k, EVP_sha256()) == 0 || PEM_write_bio_X509(bc, x) != 1 ||
	    PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL) != 1) {
		printf("Bail out! cannot make a %s certificate\n", type);
		exit(2);
	}
	n = BIO_get_mem_data(bc, &p);
	*cert = strndup(p, (size_t)n);
	n = BIO_get_mem_data(bk, &p);
	*key = strndup(p, (size_t)n);
	BIO_free(bc);
	BIO_free(bk);
	X509_free(x);
	EVP_PKEY_free(k);
}

static char *rsa_cert, *rsa_key, *ec_cert, *ec_key;

/* service - a model service with the given chains (cert, key, cert, key, ...) */
static void
service(struct pol_service *s, enum pol_tls mode, uint8_t protos, unsigned n, char **pem)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "svc");
	s->file = "policy.conf";
	s->line = 3;
	s->tls = mode;
	s->tls_protocols = protos;
	for (unsigned i = 0; i < n; i++) {
		struct pol_tls_cert *tc = &s->tls_certs[i];

		tc->cert = pem[2 * i];
		tc->key = pem[2 * i + 1];
		tc->cert_len = strlen(tc->cert);
		tc->key_len = strlen(tc->key);
		tc->cert_path = i == 0 ? "a.pem" : "b.pem";
		tc->key_path = i == 0 ? "a.key" : "b.key";
		tc->file = "policy.conf";
		tc->line = 10 + i;
	}
	s->ntls_certs = n;
}

/* A client: OpenSSL on memory BIOs. */
struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;
};

static void
client_new(struct client *c, int version, const char *sigalgs)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(c->ctx, version);
	SSL_CTX_set_max_proto_version(c->ctx, version);
	if (sigalgs != NULL)
		SSL_CTX_set1_sigalgs_list(c->ctx, sigalgs);
	c->ssl = SSL_new(c->ctx);
	c->in = BIO_new(BIO_s_mem());
	c->out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(c->in, -1);
	SSL_set_bio(c->ssl, c->in, c->out);
	SSL_set_connect_state(c->ssl);
}

static void
client_free(struct client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
}

/* to_server - the client's pending bytes into the server, step bytes at a time */
static void
to_server(struct client *c, struct tls_conn *t, size_t step)
{
	char buf[65536];
	int n = BIO_read(c->out, buf, sizeof(buf));

	for (size_t at = 0; n > 0 && at < (size_t)n;) {
		size_t len = (size_t)n - at < step ? (size_t)n - at : step;
		size_t took = tls_conn_feed(t, buf + at, len);

		at += took;
		if (!tls_conn_done(t))
			tls_conn_handshake(t);
		if (took == 0)
			break;
	}
}

/* to_client - the server's pending output into the client (read as TCP would) */
static size_t
to_client(struct client *c, struct tls_conn *t)
{
	const void *p;
	size_t n = tls_conn_out_data(t, &p);

	if (n > 0) {
		BIO_write(c->in, p, (int)n);
		tls_conn_out_drop(t, n);
	}
	return n;
}

/* handshake - both sides until done (or either fails); the server's result */
static int
handshake(struct client *c, struct tls_conn *t, size_t step)
{
	int rc = 0;

	for (int round = 0; round < 20 && rc == 0; round++) {
		SSL_do_handshake(c->ssl);
		to_server(c, t, step);
		rc = tls_conn_handshake(t);
		to_client(c, t);
	}
	SSL_do_handshake(c->ssl);
	return rc;
}

static void
test_ctxs(void)
{
	struct pol_model m = {0};
	struct pol_errs errs = {0};
	struct tls_ctxs *x;
	bool none;
	char *both[] = {rsa_cert, rsa_key, ec_cert, ec_key};
	char *swapped[] = {rsa_cert, ec_key};
	char *bad[] = {(char *)"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	               rsa_key};

	m.nservices = 2;
	service(&m.services[0], POL_TLS_OFF, 3, 0, NULL);
	service(&m.services[1], POL_TLS_OFF, 3, 0, NULL);
	x = tls_ctxs_build(&m, &errs, &none);
	ok(x == NULL && none && errs.total == 0, "no service with TLS: no contexts, no error");

	service(&m.services[1], POL_TLS_REQUIRED, POL_TLS_V1_2 | POL_TLS_V1_3, 2, both);
	x = tls_ctxs_build(&m, &errs, &none);
	ok(x != NULL && errs.total == 0, "an RSA and an ECDSA chain on one service");
	ok(tls_conn_new(x, 0) == NULL, "no connection on a service without TLS");
	tls_ctxs_free(x);

	service(&m.services[1], POL_TLS_OPTIONAL, 3, 1, swapped);
	x = tls_ctxs_build(&m, &errs, &none);
	ok(x == NULL && errs.n == 1 && errs.v[0].line == 10 &&
	           strstr(errs.v[0].msg,
	                  "tls_key: a.key does not match the certificate of a.pem") != NULL,
	   "a key that is not the certificate's: its file:line");
	if (errs.n > 0)
		printf("# %s:%u: %s\n", errs.v[0].file, errs.v[0].line, errs.v[0].msg);
	pol_errs_free(&errs);
	errs = (struct pol_errs){0};

	service(&m.services[1], POL_TLS_OPTIONAL, 3, 1, bad);
	x = tls_ctxs_build(&m, &errs, &none);
	ok(x == NULL && errs.n == 1 && strstr(errs.v[0].msg, "tls_cert: cannot use a.pem") != NULL,
	   "a certificate that does not parse: an error, not a crash");
	if (errs.n > 0)
		printf("# %s:%u: %s\n", errs.v[0].file, errs.v[0].line, errs.v[0].msg);
	pol_errs_free(&errs);
	ok(ERR_peek_error() == 0, "no OpenSSL error left queued");
}

/* a context set with one service: both chains, the given protocols */
static struct tls_ctxs *
one(uint8_t protos)
{
	static struct pol_model m;
	char *both[] = {rsa_cert, rsa_key, ec_cert, ec_key};
	struct pol_errs errs = {0};
	bool none;

	m.nservices = 1;
	service(&m.services[0], POL_TLS_OPTIONAL, protos, 2, both);
	return tls_ctxs_build(&m, &errs, &none);
}

static void
test_handshakes(void)
{
	static const struct {
		int version;
		const char *sigalgs, *want_version, *key;
	} cases[] = {
	        {TLS1_2_VERSION, "RSA+SHA256", "TLSv1.2", "rsaEncryption"},
	        {TLS1_2_VERSION, "ECDSA+SHA256", "TLSv1.2", "id-ecPublicKey"},
	        {TLS1_3_VERSION, "rsa_pss_rsae_sha256", "TLSv1.3", "rsaEncryption"},
	        {TLS1_3_VERSION, "ecdsa_secp256r1_sha256", "TLSv1.3", "id-ecPublicKey"},
	};
	struct tls_ctxs *x = one(POL_TLS_V1_2 | POL_TLS_V1_3);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client c;
		struct tls_conn *t = tls_conn_new(x, 0);
		X509 *peer;
		const char *key = "?";

		client_new(&c, cases[i].version, cases[i].sigalgs);
		/* 7 bytes at a time: records arrive cut anywhere */
		is_int(handshake(&c, t, 7), 1, "%s %s: the handshake completes",
		       cases[i].want_version, cases[i].key);
		if ((peer = SSL_get1_peer_certificate(c.ssl)) != NULL) {
			key = EVP_PKEY_get_base_id(X509_get0_pubkey(peer)) == EVP_PKEY_RSA
			              ? "rsaEncryption"
			              : "id-ecPublicKey";
			X509_free(peer);
		}
		ok(strcmp(tls_conn_version(t), cases[i].want_version) == 0 &&
		           strcmp(key, cases[i].key) == 0,
		   "%s: %s with cipher %s, the %s certificate", cases[i].want_version,
		   tls_conn_version(t), tls_conn_cipher(t), key);
		client_free(&c);
		tls_conn_free(t);
	}
	tls_ctxs_free(x);
}

/* test_data - plaintext both ways; the engine takes part, the rest waits */
static void
test_data(void)
{
	struct tls_ctxs *x = one(POL_TLS_V1_2 | POL_TLS_V1_3);
	struct tls_conn *t = tls_conn_new(x, 0);
	struct client c;
	char buf[TLS_PLAIN_CHUNK], big[40000];
	static const char cmds[] = "EHLO a.example\r\nMAIL FROM:<a@b.example>\r\n";
	size_t n;
	long got;

	client_new(&c, TLS1_3_VERSION, NULL);
	handshake(&c, t, 1000);
	is_int(tls_conn_peek(t, buf, sizeof(buf)), 0, "nothing decrypted yet: 0");
	SSL_write(c.ssl, cmds, sizeof(cmds) - 1);
	to_server(&c, t, 5);
	got = tls_conn_peek(t, buf, sizeof(buf));
	ok(got == (long)sizeof(cmds) - 1 && memcmp(buf, cmds, (size_t)got) == 0,
	   "the commands, decrypted (%ld bytes)", got);
	tls_conn_consume(t, 16); /* the engine took the EHLO line only */
	got = tls_conn_peek(t, buf, sizeof(buf));
	ok(got == (long)sizeof(cmds) - 1 - 16 && memcmp(buf, cmds + 16, (size_t)got) == 0,
	   "peek again: the rest, from where the engine stopped");
	tls_conn_consume(t, (size_t)got);
	is_int(tls_conn_peek(t, buf, sizeof(buf)), 0, "all taken");

	memset(big, 'x', sizeof(big));
	SSL_write(c.ssl, big, sizeof(big));
	n = tls_conn_feed(t, big, 0);
	is_int((long)n, 0, "feeding nothing takes nothing");
	{
		char wire[65536];
		int w = BIO_read(c.out, wire, sizeof(wire));
		size_t fed = tls_conn_feed(t, wire, (size_t)w), total = 0;

		ok(w > TLS_FEED_AHEAD && fed == TLS_FEED_AHEAD,
		   "ciphertext is taken one record's worth ahead (%zu of %d)", fed, w);
		while (total < sizeof(big)) {
			got = tls_conn_peek(t, buf, sizeof(buf));
			if (got <= 0) {
				size_t more = tls_conn_feed(t, wire + fed, (size_t)w - fed);

				if (more == 0)
					break;
				fed += more;
				continue;
			}
			tls_conn_consume(t, (size_t)got);
			total += (size_t)got;
		}
		is_int((long)total, (long)sizeof(big),
		       "40000 bytes through, in record-sized steps");
	}
	ok(tls_conn_write(t, "250 ok\r\n", 8) == 0, "a reply is written");
	n = tls_conn_out(t);
	ok(n > 8 && n < 8 + TLS_OVERHEAD, "... encrypted into the output (%zu bytes)", n);
	to_client(&c, t);
	got = SSL_read(c.ssl, buf, sizeof(buf));
	ok(got == 8 && memcmp(buf, "250 ok\r\n", 8) == 0, "the client reads the reply");
	tls_conn_close(t);
	to_client(&c, t);
	ok(SSL_read(c.ssl, buf, sizeof(buf)) <= 0 &&
	           SSL_get_error(c.ssl, -1) == SSL_ERROR_ZERO_RETURN,
	   "close_notify reaches the client");
	client_free(&c);
	tls_conn_free(t);
	tls_ctxs_free(x);
}

static void
test_failures(void)
{
	struct tls_ctxs *x = one(POL_TLS_V1_3);
	struct tls_conn *t = tls_conn_new(x, 0);
	struct client c;
	char junk[3000];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	memcpy(junk, "\x16\x03\x01\x00\x05hello", 10);
	tls_conn_feed(t, junk, sizeof(junk));
	is_int(tls_conn_handshake(t), -1, "garbage instead of a ClientHello: the handshake fails");
	printf("# reason: %s\n", tls_conn_error(t));
	ok(ERR_peek_error() == 0, "no OpenSSL error left queued for the next session");
	tls_conn_free(t);

	t = tls_conn_new(x, 0);
	client_new(&c, TLS1_2_VERSION, NULL);
	is_int(handshake(&c, t, 100), -1, "TLS 1.2 against tls_protocols = TLSv1.3: refused");
	printf("# reason: %s\n", tls_conn_error(t));
	client_free(&c);
	tls_conn_free(t);

	t = tls_conn_new(x, 0);
	tls_conn_feed(t, "EHLO a.example\r\n", 16);
	is_int(tls_conn_handshake(t), -1, "plaintext where the handshake should be: fails");
	tls_conn_free(t);
	tls_ctxs_free(x);
}

/* OpenSSL's allocations, counted while `counting` is set (the server's
 * calls), so that the in-memory client's own memory is left out */
static bool counting;
static long counted; /* bytes live of counted allocations */

struct mhdr {
	size_t size;
	bool mine;
	char pad[16 - sizeof(size_t) - sizeof(bool)];
};

static void *
m_malloc(size_t n, const char *file, int line)
{
	struct mhdr *h = malloc(sizeof(*h) + n);

	(void)file;
	(void)line;
	if (h == NULL)
		return NULL;
	h->size = n;
	h->mine = counting;
	if (h->mine)
		counted += (long)n;
	return h + 1;
}

static void
m_free(void *p, const char *file, int line)
{
	struct mhdr *h = p != NULL ? (struct mhdr *)p - 1 : NULL;

	(void)file;
	(void)line;
	if (h == NULL)
		return;
	if (h->mine)
		counted -= (long)h->size;
	free(h);
}

static void *
m_realloc(void *p, size_t n, const char *file, int line)
{
	struct mhdr *h = p != NULL ? (struct mhdr *)p - 1 : NULL, *g;

	if (h == NULL)
		return m_malloc(n, file, line);
	if (h->mine)
		counted -= (long)h->size;
	if ((g = realloc(h, sizeof(*g) + n)) == NULL) {
		if (h->mine)
			counted += (long)h->size;
		return NULL;
	}
	g->size = n;
	if (g->mine)
		counted += (long)n;
	return g + 1;
}

/* server steps of test_memory, counted */
static void
srv_in(struct client *c, struct tls_conn *t)
{
	char wire[65536];
	int n = BIO_read(c->out, wire, sizeof(wire));

	counting = true;
	if (n > 0)
		tls_conn_feed(t, wire, (size_t)n);
	tls_conn_handshake(t);
	counting = false;
}

static void
srv_out(struct client *c, struct tls_conn *t)
{
	const void *p;
	size_t n;

	counting = true;
	n = tls_conn_out_data(t, &p);
	counting = false;
	BIO_write(c->in, p, (int)n);
	counting = true;
	tls_conn_out_drop(t, n);
	counting = false;
}

/* test_memory - what connections cost: in the handshake, and idle after it */
static void
test_memory(void)
{
	enum { N = 64 };
	struct tls_ctxs *x = one(POL_TLS_V1_2 | POL_TLS_V1_3);
	static struct tls_conn *t[N];
	static struct client c[N];
	long peak, idle, done = 0;

	for (int i = 0; i < N; i++) {
		client_new(&c[i], i % 2 ? TLS1_2_VERSION : TLS1_3_VERSION, NULL);
		SSL_do_handshake(c[i].ssl);
		counting = true;
		t[i] = tls_conn_new(x, 0);
		counting = false;
		srv_in(&c[i], t[i]); /* the ClientHello: the server's flight waits in its output */
	}
	peak = counted / N;
	for (int i = 0; i < N; i++) {
		for (int round = 0; round < 4 && !tls_conn_done(t[i]); round++) {
			srv_out(&c[i], t[i]);
			SSL_do_handshake(c[i].ssl);
			srv_in(&c[i], t[i]);
		}
		srv_out(&c[i], t[i]);
		done += tls_conn_done(t[i]);
	}
	idle = counted / N;
	printf("# OpenSSL memory per server connection: %ld bytes in the handshake, %ld "
	       "established and idle (half TLS 1.2, half 1.3)\n",
	       peak, idle);
	is_int(done, N, "%d handshakes, interleaved", N);
	ok(peak > 0 && peak < 64 * 1024, "in the handshake: under 64 KiB each (%ld)", peak);
	ok(idle > 0 && idle < 16 * 1024, "established and idle: under 16 KiB each (%ld)", idle);
	counting = true;
	for (int i = 0; i < N; i++)
		tls_conn_free(t[i]);
	counting = false;
	ok(counted == 0, "freed: nothing of theirs left (%ld)", counted);
	for (int i = 0; i < N; i++)
		client_free(&c[i]);
	tls_ctxs_free(x);
}

/* ---- the relay's client side (backend tls) ---- */

/* move - ciphertext from one of our connections to the other */
static void
move(struct tls_conn *from, struct tls_conn *to)
{
	const void *p;
	size_t n = tls_conn_out_data(from, &p);
	size_t fed = n > 0 ? tls_conn_feed(to, p, n) : 0;

	tls_conn_out_drop(from, fed);
}

/* shake - our client against our server, in memory: 1 both done, -1 the
 * client failed, -2 the server failed */
static int
shake(struct tls_conn *c, struct tls_conn *s)
{
	for (int round = 0; round < 20; round++) {
		int rc = tls_conn_handshake(c), rs;

		if (rc < 0)
			return -1;
		move(c, s);
		rs = tls_conn_handshake(s);
		if (rs < 0)
			return -2;
		move(s, c);
		if (rc == 1 && rs == 1)
			return 1;
	}
	return 0;
}

/* backend_ctxs - a model with one TLS service (the EC certificate, CN
 * mx.test.example) and a backend at level tls trusting ca */
static struct tls_ctxs *
backend_ctxs(enum pol_backend_tls tls, char *ca, struct pol_errs *errs)
{
	static struct pol_model m;
	char *ec[] = {ec_cert, ec_key};
	bool none;

	memset(&m, 0, sizeof(m));
	m.nservices = 1;
	service(&m.services[0], POL_TLS_OPTIONAL, POL_TLS_V1_2 | POL_TLS_V1_3, 1, ec);
	m.backend.configured = true;
	m.backend.file = "policy.conf";
	m.backend.line = 20;
	m.backend.tls = tls;
	m.backend.tls_protocols = POL_TLS_V1_2 | POL_TLS_V1_3;
	m.backend.tls_ca = ca;
	m.backend.tls_ca_len = ca != NULL ? strlen(ca) : 0;
	m.backend.tls_ca_path = "ca.pem";
	m.backend.tls_ca_line = 22;
	return tls_ctxs_build(&m, errs, &none);
}

static void
test_client(void)
{
	static const struct {
		const char *what;
		enum pol_backend_tls tls;
		bool rsa_ca; /* trust the RSA certificate, not the server's */
		const char *name, *want_verify;
		int want;
	} cases[] = {
	        {"encrypt: any certificate", POL_BTLS_ENCRYPT, true, "other.example", NULL, 1},
	        {"verify: trusted, the name in the certificate", POL_BTLS_VERIFY, false,
	         "mx.test.example", NULL, 1},
	        {"verify: trusted, another name", POL_BTLS_VERIFY, false, "other.example",
	         "hostname mismatch", -1},
	        {"verify: trusted, an address not in the certificate", POL_BTLS_VERIFY, false,
	         "192.0.2.1", "IP address mismatch", -1},
	        {"verify: a CA we do not trust", POL_BTLS_VERIFY, true, "mx.test.example",
	         "self-signed certificate", -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pol_errs errs = {0};
		struct tls_ctxs *x =
		        backend_ctxs(cases[i].tls, cases[i].rsa_ca ? rsa_cert : ec_cert, &errs);
		struct tls_conn *c = tls_conn_new_client(x, cases[i].name);
		struct tls_conn *s = tls_conn_new(x, 0);
		int rc = c != NULL && s != NULL ? shake(c, s) : 0;
		const char *v = c != NULL ? tls_conn_verify_error(c) : NULL;

		is_int(rc, cases[i].want, "%s: handshake", cases[i].what);
		if (cases[i].want_verify != NULL)
			is_str(v, cases[i].want_verify, "%s: why", cases[i].what);
		else if (cases[i].tls == POL_BTLS_VERIFY)
			ok(v == NULL, "%s: verified", cases[i].what);
		if (rc == 1) {
			char buf[64];
			long n;

			/* a command through, as the relay sends it */
			tls_conn_write(c, "EHLO mx.gate.example\r\n", 22);
			move(c, s);
			n = tls_conn_peek(s, buf, sizeof(buf));
			ok(n == 22 && memcmp(buf, "EHLO mx.gate.example\r\n", 22) == 0,
			   "%s: bytes through", cases[i].what);
		}
		tls_conn_free(c);
		tls_conn_free(s);
		tls_ctxs_free(x);
		pol_errs_free(&errs);
		ERR_clear_error();
	}
}

/* test_client_errors - a backend context that cannot be: file:line errors */
static void
test_client_errors(void)
{
	struct pol_errs errs = {0};
	struct tls_ctxs *x =
	        backend_ctxs(POL_BTLS_VERIFY, "-----BEGIN X509 CRL-----\nAAAA\n", &errs);

	ok(x == NULL && errs.n == 1 && errs.v[0].line == 22 &&
	           strstr(errs.v[0].msg, "tls_ca: cannot use ca.pem") != NULL,
	   "verify with a tls_ca without a certificate: an error at the tls_ca line");
	if (errs.n > 0)
		printf("# %s:%u: %s\n", errs.v[0].file, errs.v[0].line, errs.v[0].msg);
	pol_errs_free(&errs);
	ERR_clear_error();
	x = backend_ctxs(POL_BTLS_NONE, NULL, &errs);
	ok(x != NULL && tls_conn_new_client(x, "mx.test.example") == NULL,
	   "backend tls = none: no client connection");
	tls_ctxs_free(x);
	pol_errs_free(&errs);
	ok(tls_conn_new_client(NULL, "x.example") == NULL, "no contexts: no client connection");
}

int
main(void)
{
	/* before OpenSSL allocates anything */
	if (!CRYPTO_set_mem_functions(m_malloc, m_realloc, m_free)) {
		printf("Bail out! CRYPTO_set_mem_functions\n");
		return 2;
	}
	make_pem("RSA", &rsa_cert, &rsa_key);
	make_pem("EC", &ec_cert, &ec_key);
	test_ctxs();
	test_handshakes();
	test_data();
	test_failures();
	test_memory();
	test_client();
	test_client_errors();
	free(rsa_cert);
	free(rsa_key);
	free(ec_cert);
	free(ec_key);
	return done_testing();
}
