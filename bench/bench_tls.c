/* bench_tls - TLS handshakes per second of one core, server side of dataplane/tls
 *
 * What an lcore pays for a STARTTLS handshake: the exact calls the session
 * code makes (tls_conn_new, tls_conn_feed, tls_conn_handshake,
 * tls_conn_out_data, tls_conn_out_drop, tls_conn_free) on a context that
 * tls_ctxs_build made from PEM text, as a policy push does. The client is
 * OpenSSL's own, in this process and thread, on memory BIOs; bytes move
 * between the two by hand, as TCP would carry them.
 *
 * Only the server's calls are timed, each stretch with the thread's CPU
 * clock (CLOCK_THREAD_CPUTIME_ID), so that the client's work (about as much
 * as the server's) is not counted; the cost of reading the clock itself is
 * measured and taken off. The client's time is printed beside, for scale.
 * Every handshake is checked: both sides done, the protocol and the
 * server's key type the ones asked for; anything else aborts the run.
 *
 * Resumption: the layer turns off session tickets and the session cache
 * (tls.c: no state shared between lcores), so every handshake is full; the
 * run checks that a client offering its previous TLS 1.2 session is not
 * resumed, and says so.
 *
 * usage: bench_tls [-n HANDSHAKES] [-r ROUNDS] [--json]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "pol_err.h"
#include "tls.h"

#define ROUNDS_MAX 32
#define WIRE_MAX   65536 /* one flight of either side, with room */

/* One measured case. */
struct bcase {
	const char *name;   /* as printed */
	const char *key;    /* "EC" (P-256) or "RSA" (2048) */
	int version;        /* TLS1_2_VERSION or TLS1_3_VERSION */
	const char *groups; /* the client's key exchange groups; NULL: OpenSSL's default */
	const char *want;   /* the protocol the handshake must end with */
};

static const struct bcase cases[] = {
        {"TLS 1.3, ECDSA P-256, X25519", "EC", TLS1_3_VERSION, NULL, "TLSv1.3"},
        {"TLS 1.3, ECDSA P-256, P-256", "EC", TLS1_3_VERSION, "P-256", "TLSv1.3"},
        {"TLS 1.2, ECDSA P-256, X25519", "EC", TLS1_2_VERSION, NULL, "TLSv1.2"},
        {"TLS 1.3, RSA-2048, X25519", "RSA", TLS1_3_VERSION, NULL, "TLSv1.3"},
        {"TLS 1.2, RSA-2048, X25519", "RSA", TLS1_2_VERSION, NULL, "TLSv1.2"},
};

static void
die(const char *what)
{
	fprintf(stderr, "bench_tls: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* cpu_ns - this thread's CPU time */
static inline long long
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* clock_cost - what one cpu_ns() costs: a timed stretch holds about one
 * read's worth of the clock (the end of the first and the start of the
 * second), taken off each stretch */
static long long
clock_cost(void)
{
	enum { N = 20000 };
	long long t0 = cpu_ns(), sink = 0;

	for (int i = 0; i < N; i++)
		sink += cpu_ns();
	(void)sink;
	return (cpu_ns() - t0) / N;
}

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

	if (k == NULL || x == NULL || bc == NULL || bk == NULL)
		die("cannot make a key");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"mx.bench.example", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (X509_sign(x, k, EVP_sha256()) == 0 || PEM_write_bio_X509(bc, x) != 1 ||
	    PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL) != 1)
		die("cannot make a certificate");
	n = BIO_get_mem_data(bc, &p);
	*cert = strndup(p, (size_t)n);
	n = BIO_get_mem_data(bk, &p);
	*key = strndup(p, (size_t)n);
	BIO_free(bc);
	BIO_free(bk);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* server_ctxs - the contexts a policy with one TLS service and this chain gets */
static struct tls_ctxs *
server_ctxs(struct pol_model *m, char *cert, char *key)
{
	struct pol_service *s = &m->services[0];
	struct pol_tls_cert *tc = &s->tls_certs[0];
	struct pol_errs errs = {0};
	struct tls_ctxs *x;
	bool none;

	memset(m, 0, sizeof(*m));
	m->nservices = 1;
	snprintf(s->name, sizeof(s->name), "submission");
	s->file = "bench";
	s->line = 1;
	s->tls = POL_TLS_OPTIONAL;
	s->tls_protocols = POL_TLS_V1_2 | POL_TLS_V1_3;
	tc->cert = cert;
	tc->key = key;
	tc->cert_len = strlen(cert);
	tc->key_len = strlen(key);
	tc->cert_path = "bench.pem";
	tc->key_path = "bench.key";
	tc->file = "bench";
	tc->line = 2;
	s->ntls_certs = 1;
	x = tls_ctxs_build(m, &errs, &none);
	if (x == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s:%u: %s\n", errs.v[i].file, errs.v[i].line,
			        errs.v[i].msg);
		die("tls_ctxs_build failed");
	}
	pol_errs_free(&errs);
	return x;
}

/* client_ctx - OpenSSL's client, pinned to the case's protocol and groups */
static SSL_CTX *
client_ctx(const struct bcase *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		die("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, c->version);
	SSL_CTX_set_max_proto_version(ctx, c->version);
	if (c->groups != NULL && SSL_CTX_set1_groups_list(ctx, c->groups) != 1)
		die("groups");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* Timing of the server side, one round. */
struct timing {
	long long server_ns; /* the server's calls, clock cost taken off */
	long long client_ns; /* everything else in the loop: OpenSSL's client, moving bytes */
	long long stretches; /* timed stretches */
};

/* to_client - what the server wrote, into the client (untimed: TCP's job) */
static void
to_client(BIO *cin, const void *p, size_t n)
{
	if (n > 0 && BIO_write(cin, p, (int)n) != (int)n)
		die("client BIO_write");
}

/* one_handshake - a full handshake, the client offering a session when given
 * one (*reused: whether it was resumed) */
static void
one_handshake(const struct tls_ctxs *x, SSL_CTX *cctx, const struct bcase *c, struct timing *tm,
              long long cost, SSL_SESSION *offer, int *reused)
{
	static char wire[WIRE_MAX];
	SSL *cl = SSL_new(cctx);
	BIO *cin = BIO_new(BIO_s_mem()), *cout = BIO_new(BIO_s_mem());
	struct tls_conn *t;
	long long t0, t1;
	int rc = 0;

	if (cl == NULL || cin == NULL || cout == NULL)
		die("client SSL_new");
	BIO_set_mem_eof_return(cin, -1);
	SSL_set_bio(cl, cin, cout);
	SSL_set_connect_state(cl);
	if (offer != NULL)
		SSL_set_session(cl, offer);

	t0 = cpu_ns();
	t = tls_conn_new(x, 0);
	t1 = cpu_ns();
	if (t == NULL)
		die("tls_conn_new");
	tm->server_ns += t1 - t0 - cost;
	tm->stretches++;

	for (int round = 0; round < 8 && rc == 0; round++) {
		int n;
		const void *p;
		size_t out;

		if (SSL_do_handshake(cl) != 1 && !SSL_want_read(cl))
			die("client handshake failed");
		n = BIO_read(cout, wire, sizeof(wire));
		/* the server: what TCP delivered, the handshake step, its output */
		t0 = cpu_ns();
		for (int at = 0; at < n;) {
			size_t took = tls_conn_feed(t, wire + at, (size_t)(n - at));

			if (took == 0)
				break;
			at += (int)took;
		}
		rc = tls_conn_handshake(t);
		out = tls_conn_out_data(t, &p);
		t1 = cpu_ns();
		tm->server_ns += t1 - t0 - cost;
		tm->stretches++;
		to_client(cin, p, out);
		t0 = cpu_ns();
		tls_conn_out_drop(t, out);
		t1 = cpu_ns();
		tm->server_ns += t1 - t0 - cost;
		tm->stretches++;
	}
	if (rc != 1) {
		fprintf(stderr, "server: %s\n", tls_conn_error(t));
		die("the handshake did not complete");
	}
	/* the client takes the server's last flight (TLS 1.2: its Finished) */
	if (SSL_do_handshake(cl) != 1)
		die("client handshake did not complete");
	if (strcmp(tls_conn_version(t), c->want) != 0 || strcmp(SSL_get_version(cl), c->want) != 0)
		die("unexpected protocol version");
	{
		EVP_PKEY *pk = SSL_get0_peer_certificate(cl) != NULL
		                       ? X509_get0_pubkey(SSL_get0_peer_certificate(cl))
		                       : NULL;

		if (pk == NULL || EVP_PKEY_is_a(pk, c->key) != 1)
			die("the server used another key");
	}
	if (reused != NULL)
		*reused = SSL_session_reused(cl);

	t0 = cpu_ns();
	tls_conn_free(t);
	t1 = cpu_ns();
	tm->server_ns += t1 - t0 - cost;
	tm->stretches++;
	SSL_free(cl);
}

/* run_case - rounds of n handshakes; handshakes per second of each round in rate[] */
static void
run_case(const struct bcase *c, const struct tls_ctxs *x, int n, int rounds, long long cost,
         double *rate, double *client_us)
{
	SSL_CTX *cctx = client_ctx(c);

	for (int r = 0; r < rounds; r++) {
		struct timing tm = {0};
		long long all0 = cpu_ns();

		for (int i = 0; i < n; i++)
			one_handshake(x, cctx, c, &tm, cost, NULL, NULL);
		tm.client_ns = cpu_ns() - all0 - tm.server_ns;
		rate[r] = (double)n * 1e9 / (double)tm.server_ns;
		client_us[r] = (double)tm.client_ns / n / 1e3;
	}
	SSL_CTX_free(cctx);
}

/* resumes - whether a TLS 1.2 client offering its last session is resumed */
static int
resumes(const struct tls_ctxs *x)
{
	const struct bcase c = {"resume", "EC", TLS1_2_VERSION, NULL, "TLSv1.2"};
	SSL_CTX *cctx = client_ctx(&c);
	struct timing tm = {0};
	SSL_SESSION *s;
	SSL *cl;
	int reused = -1;

	/* a first handshake to get a session from, through a client we keep */
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
	{
		static char wire[WIRE_MAX];
		struct tls_conn *t = tls_conn_new(x, 0);
		BIO *cin = BIO_new(BIO_s_mem()), *cout = BIO_new(BIO_s_mem());
		int rc = 0;

		cl = SSL_new(cctx);
		BIO_set_mem_eof_return(cin, -1);
		SSL_set_bio(cl, cin, cout);
		SSL_set_connect_state(cl);
		for (int round = 0; round < 8 && rc == 0; round++) {
			const void *p;
			int n;
			size_t out;

			SSL_do_handshake(cl);
			n = BIO_read(cout, wire, sizeof(wire));
			if (n > 0)
				tls_conn_feed(t, wire, (size_t)n);
			rc = tls_conn_handshake(t);
			out = tls_conn_out_data(t, &p);
			to_client(cin, p, out);
			tls_conn_out_drop(t, out);
		}
		if (rc != 1 || SSL_do_handshake(cl) != 1)
			die("first handshake for resumption");
		s = SSL_get1_session(cl);
		tls_conn_free(t);
		SSL_free(cl);
	}
	one_handshake(x, cctx, &c, &tm, 0, s, &reused);
	SSL_SESSION_free(s);
	SSL_CTX_free(cctx);
	return reused;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	int n = 2000, rounds = 3, json = 0, o;
	char *ec_cert, *ec_key, *rsa_cert, *rsa_key;
	struct pol_model *m = calloc(2, sizeof(*m));
	struct tls_ctxs *ec, *rsa;
	long long cost;

	while ((o = getopt_long(argc, argv, "n:r:", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'j':
			json = 1;
			break;
		default:
			fprintf(stderr, "usage: bench_tls [-n HANDSHAKES] [-r ROUNDS] [--json]\n");
			return 2;
		}
	}
	if (n < 1 || rounds < 1 || rounds > ROUNDS_MAX || m == NULL) {
		fprintf(stderr, "bench_tls: -n at least 1, -r 1..%d\n", ROUNDS_MAX);
		return 2;
	}
	make_pem("EC", &ec_cert, &ec_key);
	make_pem("RSA", &rsa_cert, &rsa_key);
	ec = server_ctxs(&m[0], ec_cert, ec_key);
	rsa = server_ctxs(&m[1], rsa_cert, rsa_key);
	cost = clock_cost();

	if (json)
		printf("{\"openssl\": \"%s\", \"handshakes\": %d, \"rounds\": %d, "
		       "\"clock_ns\": %lld, \"cases\": [",
		       OpenSSL_version(OPENSSL_VERSION), n, rounds, cost);
	else
		printf("# %s; %d handshakes x %d rounds per case; server calls only, "
		       "one thread (clock read %lld ns, taken off each stretch)\n"
		       "%-30s %12s %12s %12s %10s %12s\n",
		       OpenSSL_version(OPENSSL_VERSION), n, rounds, cost, "case", "median/s",
		       "min/s", "max/s", "us/hs", "client us/hs");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bcase *c = &cases[i];
		double rate[ROUNDS_MAX], cus[ROUNDS_MAX], med, cmed;

		run_case(c, strcmp(c->key, "EC") == 0 ? ec : rsa, n, rounds, cost, rate, cus);
		qsort(rate, (size_t)rounds, sizeof(double), cmp_double);
		qsort(cus, (size_t)rounds, sizeof(double), cmp_double);
		med = rate[rounds / 2];
		cmed = cus[rounds / 2];
		if (json)
			printf("%s{\"case\": \"%s\", \"median\": %.0f, \"min\": %.0f, \"max\": "
			       "%.0f, "
			       "\"server_us\": %.1f, \"client_us\": %.1f}",
			       i ? ", " : "", c->name, med, rate[0], rate[rounds - 1], 1e6 / med,
			       cmed);
		else
			printf("%-30s %12.0f %12.0f %12.0f %10.1f %12.1f\n", c->name, med, rate[0],
			       rate[rounds - 1], 1e6 / med, cmed);
		fflush(stdout);
	}
	{
		int reused = resumes(ec);

		if (json)
			printf("], \"resumed\": %s}\n", reused ? "true" : "false");
		else
			printf("# resumption: a TLS 1.2 client offering its last session was %s\n",
			       reused ? "RESUMED"
			              : "not resumed (full handshakes only: tls.c turns off "
			                "tickets and the session cache)");
	}
	tls_ctxs_free(ec);
	tls_ctxs_free(rsa);
	free(m);
	free(ec_cert);
	free(ec_key);
	free(rsa_cert);
	free(rsa_key);
	return 0;
}
