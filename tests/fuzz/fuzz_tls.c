/* fuzz_tls - client bytes after STARTTLS into our TLS layer (server mode), the engine behind it
 *
 * A session on a service with tls = optional says EHLO and STARTTLS in the
 * clear, with a command pipelined after STARTTLS in the same segment (the
 * injection of CVE-2011-0411). From then on every byte goes through
 * dataplane/tls as sess.c's tls_data() drives it (feed, handshake, peek,
 * consume; the glue is copied here, since sess.c needs DPDK), and the
 * decrypted bytes go to the engine. The input's first decision picks who
 * the client is:
 *
 * - raw: the data bytes are the client's ciphertext as they are (a
 *   ClientHello and beyond: the seeds are real ones, captured from openssl
 *   s_client by mkseeds-tls.sh), cut into segments where the decisions say;
 * - real: OpenSSL's client (TLS 1.2 or 1.3) does a real handshake, its
 *   flights cut where the decisions say; then the data bytes are its
 *   plaintext (SMTP commands inside TLS), sent in records of chosen sizes,
 *   and decision bytes may append raw bytes as ciphertext (a broken record).
 *
 * Checked, besides ASan, UBSan and LeakSanitizer (OpenSSL's allocations
 * included: a connection not freed shows):
 * - no byte reaches the engine before the handshake completed, the engine
 *   stays in SMTP_S_TLS and writes nothing until then (the pipelined MAIL
 *   is never answered), and it starts over (EHLO needed) after it;
 * - the handshake either completes, fails once (and stays failed), or
 *   waits for input; it never completes on raw bytes alone;
 * - what the engine writes inside TLS reaches the client byte for byte
 *   (real client), as whole reply lines;
 * - every chunk is given back and the session closes.
 */
#include <stdbool.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "pol_err.h"
#include "smtp.h"
#include "tls.h"

#define MAX_STEPS 20000  /* loop bound per input */
#define WIRE_MAX  65536  /* bytes moved between the two sides at once */
#define SEEN_MAX  262144 /* engine output kept for the comparison */

static const char policy[] = "hostname = \"mx.test.example\";\n"
                             "local_domains = [ \"local.example\" ];\n"
                             "service mx { ports = [25]; tls = optional;\n"
                             "  tls_cert = \"c.pem\"; tls_key = \"k.pem\"; }\n";
static const char prelude[] = "EHLO client.example\r\nSTARTTLS\r\nMAIL FROM:<inject@pre.tls>\r\n";

#define READY "220 2.0.0 Ready to start TLS\r\n"

static char *cert_pem, *key_pem;
static struct pol_snapshot *snap;
static struct tls_ctxs *ctxs;
static SSL_CTX *client_ctx[2]; /* TLS 1.2, TLS 1.3 */

/* ---- the environment ---- */

struct run {
	struct fz_in in;
	struct smtp_env env;
	struct smtp_stats st;
	struct smtp_tls tls_ops;
	struct smtp_session ss;
	struct tls_conn *t;
	long chunks;
	bool closing;
	bool at_220;        /* the engine said 220 to STARTTLS */
	bool done;          /* the handshake completed */
	bool failed;        /* tls_data ended the session on a TLS error */
	size_t plain_early; /* bytes given to the engine before the handshake (must stay 0) */
	char out[4096];     /* the engine's output of one call */
	char clear[4096];   /* what the engine wrote before TLS */
	size_t nclear;
	struct smtp_out o; /* over out */
	char *seen;        /* what the engine wrote inside TLS: the client must get it */
	size_t nseen;
	char wire[WIRE_MAX]; /* the server's ciphertext for the client */
	size_t nwire;
};

static void *
chunk_get(void *arg)
{
	struct run *r = arg;
	void *p = malloc(SMTP_CHUNK_SIZE);

	if (p == NULL)
		abort();
	r->chunks++;
	return p;
}

static void
chunk_put(void *arg, void *chunk)
{
	struct run *r = arg;

	fz_check(chunk != NULL && r->chunks > 0, "a bad chunk put");
	r->chunks--;
	free(chunk);
}

static void
log_line(void *arg, const char *line, size_t len)
{
	(void)arg;
	fz_check(strnlen(line, len + 1) == len, "log line length");
}

/* tls_start - the engine's hook: the service's connection, as sess.c's tls_start_cb */
static int
tls_start(void *arg, struct smtp_session *ss, const struct pol_snapshot *s)
{
	struct run *r = arg;

	(void)s;
	fz_check(r->t == NULL, "a second STARTTLS started TLS");
	r->t = tls_conn_new(ctxs, 0);
	fz_check(r->t != NULL, "tls_conn_new failed");
	ss->tls = r->t;
	r->at_220 = true;
	return 0;
}

/* push - the server's ciphertext, as TCP would take it (all of it here) */
static void
push(struct run *r)
{
	const void *p;
	size_t n = tls_conn_out_data(r->t, &p);

	if (n > WIRE_MAX - r->nwire)
		n = WIRE_MAX - r->nwire; /* the rest waits, as with a full send buffer */
	if (n == 0)
		return;
	memcpy(r->wire + r->nwire, p, n);
	r->nwire += n;
	tls_conn_out_drop(r->t, n);
}

/* flush - the engine's output: encrypted once TLS is up, else in the clear (dropped) */
static void
flush(struct run *r)
{
	if (r->o.len == 0)
		return;
	fz_check(r->o.len <= r->o.cap, "output %zu of %zu", r->o.len, r->o.cap);
	if (r->done) {
		fz_check(tls_conn_write(r->t, r->o.buf, r->o.len) == 0, "tls_conn_write failed");
		if (r->nseen + r->o.len <= SEEN_MAX)
			memcpy(r->seen + r->nseen, r->o.buf, r->o.len);
		r->nseen += r->o.len;
		push(r);
	} else {
		/* in the clear: only the prelude's replies (no call is made during the handshake)
		 */
		fz_check(r->nclear + r->o.len < sizeof(r->clear), "clear output %zu", r->nclear);
		memcpy(r->clear + r->nclear, r->o.buf, r->o.len);
		r->nclear += r->o.len;
		r->clear[r->nclear] = '\0';
	}
	r->o.len = 0;
}

/* engine - bytes for the engine (sess.c's plain_data); how many it took */
static size_t
engine(struct run *r, const char *p, size_t len)
{
	size_t taken = 0, used;

	if (r->at_220 && !r->done)
		r->plain_early += len;
	fz_check(r->plain_early == 0, "%zu bytes reached the engine before the handshake",
	         r->plain_early);
	do {
		enum smtp_action a;

		r->o = (struct smtp_out){.buf = r->out, .len = 0, .cap = sizeof(r->out)};
		a = smtp_input(&r->ss, &r->env, snap, 1000, p + taken, len - taken, &used, &r->o);
		fz_check(used <= len - taken, "consumed %zu of %zu", used, len - taken);
		flush(r);
		if (a == SMTP_CLOSE) {
			r->closing = true;
			if (r->done) {
				tls_conn_close(r->t);
				push(r);
			}
			return len;
		}
		taken += used;
	} while (taken < len && used > 0);
	return taken;
}

/* tls_in - ciphertext from the client: sess.c's tls_data, step for step */
static size_t
tls_in(struct run *r, const uint8_t *buf, size_t len)
{
	char plain[TLS_PLAIN_CHUNK];
	size_t taken = 0;
	unsigned guard = 0;

	while (!r->closing) {
		long n;

		fz_check(++guard < MAX_STEPS, "tls_data does not end");
		if (!tls_conn_done(r->t)) {
			size_t fed = tls_conn_feed(r->t, buf + taken, len - taken);
			int h;

			taken += fed;
			h = tls_conn_handshake(r->t);
			push(r);
			if (h < 0) {
				fz_check(tls_conn_handshake(r->t) == -1,
				         "a failed handshake went on");
				r->failed = r->closing = true;
				return len;
			}
			if (h == 0) {
				if (fed == 0)
					return taken;
				continue;
			}
			fz_check(r->ss.state == SMTP_S_TLS, "handshake done in state %u",
			         r->ss.state);
			r->done = true;
			smtp_tls_ready(&r->ss, snap, 1000);
			/* RFC 3207 4.2: the session starts over, the pipelined MAIL forgotten */
			fz_check(r->ss.state == SMTP_S_GREETED && r->ss.flags == SMTP_F_TLS &&
			                 r->ss.helo == NULL && r->ss.sender == NULL,
			         "after the handshake: state %u, flags %x", r->ss.state,
			         r->ss.flags);
		}
		n = tls_conn_peek(r->t, plain, sizeof(plain));
		push(r);
		if (n < 0) {
			r->failed = r->closing = true;
			return len;
		}
		if (n > 0) {
			size_t used = engine(r, plain, (size_t)n);

			if (r->closing)
				return len;
			tls_conn_consume(r->t, used);
			if (used < (size_t)n)
				return taken;
			continue;
		}
		size_t fed = tls_conn_feed(r->t, buf + taken, len - taken);

		if (fed == 0)
			return taken;
		taken += fed;
	}
	return len;
}

/* segment - the next segment size, from a decision byte */
static size_t
segment(struct run *r)
{
	uint8_t d = fz_u8(&r->in);

	switch (d & 3) {
	case 0:
		return 1 + (d >> 2); /* 1..64 */
	case 1:
		return 1 + (size_t)(d >> 2) * 16; /* up to ~1 KiB */
	case 2:
		return 1 + (size_t)(d >> 2) * 512;
	default:
		return WIRE_MAX;
	}
}

/* deliver - bytes from the client, cut into segments; what TCP keeps is offered again */
static void
deliver(struct run *r, const uint8_t *p, size_t len)
{
	unsigned guard = 0;

	while (len > 0 && !r->closing) {
		size_t n = segment(r), took;

		fz_check(++guard < MAX_STEPS, "no progress on the client's bytes");
		if (n > len)
			n = len;
		took = tls_in(r, p, n);
		if (took == 0 && !r->closing)
			took = tls_in(r, p, n); /* a kick, as tcp_rx_kick would: must not spin */
		if (took == 0)
			return; /* the layer takes no more now: the client waits (the deadline ends
			           it) */
		p += took;
		len -= took;
	}
}

/* raw_run - the data bytes are the client's ciphertext, segment by segment */
static void
raw_run(struct run *r)
{
	unsigned guard = 0;

	while (r->in.len > 0 && !r->closing) {
		size_t want = segment(r), n;
		const uint8_t *p = fz_take(&r->in, want, &n);

		fz_check(++guard < MAX_STEPS, "the run does not end");
		deliver(r, p, n);
	}
	fz_check(!r->done, "a handshake completed on raw bytes");
}

/* ---- the real client ---- */

/* client_run - a real handshake, then the data bytes as plaintext, then raw bytes */
static void
client_run(struct run *r, uint8_t d)
{
	SSL *c = SSL_new(client_ctx[d & 1]);
	BIO *cin = BIO_new(BIO_s_mem()), *cout = BIO_new(BIO_s_mem());
	static uint8_t buf[WIRE_MAX];
	char got[8192];
	size_t ngot = 0;
	static char *readback;

	if (c == NULL || cin == NULL || cout == NULL)
		abort();
	if (readback == NULL && (readback = malloc(SEEN_MAX)) == NULL)
		abort();
	BIO_set_mem_eof_return(cin, -1);
	SSL_set_bio(c, cin, cout);
	SSL_set_connect_state(c);
	for (int round = 0; round < 16 && !r->closing && !r->done; round++) {
		int n;

		SSL_do_handshake(c);
		n = BIO_read(cout, buf, sizeof(buf));
		if (n > 0)
			deliver(r, buf, (size_t)n);
		BIO_write(cin, r->wire, (int)r->nwire);
		r->nwire = 0;
	}
	if (r->done && !r->closing) {
		SSL_do_handshake(c); /* TLS 1.2: the server's Finished */
		while (r->in.len > 0 && !r->closing) {
			size_t want = segment(r), got_n;
			const uint8_t *p = fz_take(&r->in, want, &got_n);
			int n;

			if (got_n == 0 || SSL_write(c, p, (int)got_n) <= 0)
				break;
			while ((n = BIO_read(cout, buf, sizeof(buf))) > 0 && !r->closing)
				deliver(r, buf, (size_t)n);
			BIO_write(cin, r->wire, (int)r->nwire);
			r->nwire = 0;
			/* the client reads the replies: they must be the engine's bytes */
			while ((n = SSL_read(c, got, sizeof(got))) > 0) {
				if (ngot + (size_t)n <= SEEN_MAX)
					memcpy(readback + ngot, got, (size_t)n);
				ngot += (size_t)n;
			}
			ERR_clear_error();
		}
		/* a broken record after the good ones */
		if ((d & 2) && !r->closing) {
			size_t k = fz_u8(&r->in), n = 0;
			const uint8_t *p = fz_take(&r->in, k, &n);

			deliver(r, p, n);
		}
		fz_check(ngot <= r->nseen && ngot <= SEEN_MAX &&
		                 memcmp(readback, r->seen, ngot < SEEN_MAX ? ngot : SEEN_MAX) == 0,
		         "the client read %zu bytes that are not the engine's %zu", ngot, r->nseen);
	}
	ERR_clear_error();
	SSL_free(c);
}

/* ---- set-up ---- */

/* make_pem - an ECDSA P-256 self-signed certificate and key */
static void
make_pem(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
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
	    PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL) != 1)
		abort();
	n = BIO_get_mem_data(bc, &p);
	cert_pem = strndup(p, (size_t)n);
	n = BIO_get_mem_data(bk, &p);
	key_pem = strndup(p, (size_t)n);
	BIO_free(bc);
	BIO_free(bk);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* mem_read - the policy and its certificate files from memory */
static char *
mem_read(void *arg, const char *path, size_t *len)
{
	const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	const char *text = strcmp(base, "c.pem") == 0   ? cert_pem
	                   : strcmp(base, "k.pem") == 0 ? key_pem
	                                                : policy;

	(void)arg;
	*len = strlen(text);
	return strdup(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct pol_source src = {.read = mem_read};
	struct pol_errs errs = {0};
	struct pol_model *m;
	bool none;

	(void)argc;
	(void)argv;
	make_pem();
	m = pol_load("tls.conf", &src, &errs);
	snap = m != NULL ? pol_compile(m, &errs) : NULL;
	ctxs = snap != NULL ? tls_ctxs_build(pol_snapshot_model(snap), &errs, &none) : NULL;
	if (ctxs == NULL) {
		pol_errs_print(&errs, stderr);
		abort();
	}
	for (int i = 0; i < 2; i++) {
		int v = i == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;

		client_ctx[i] = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_min_proto_version(client_ctx[i], v);
		SSL_CTX_set_max_proto_version(client_ctx[i], v);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	static char seen[SEEN_MAX];
	struct cidr client;
	enum smtp_action a;
	uint8_t mode;

	memset(&r, 0, sizeof(r));
	r.seen = seen;
	fz_init(&r.in, data, size);
	mode = fz_u8(&r.in);
	r.env.chunks = (struct smtp_chunks){chunk_get, chunk_put, &r};
	r.env.log = log_line;
	r.env.stats = &r.st;
	r.tls_ops = (struct smtp_tls){tls_start, &r};
	r.env.tls = &r.tls_ops;
	if (cidr_addr_parse("203.0.113.5", &client) != 0)
		abort();
	r.o = (struct smtp_out){.buf = r.out, .len = 0, .cap = sizeof(r.out)};
	a = smtp_open(&r.ss, &r.env, snap, 1000, &client, 25, &r.o);
	fz_check(a == SMTP_CONTINUE, "the greeting closed");
	r.o.len = 0;
	/* EHLO, STARTTLS and a command pipelined after it, in one segment */
	engine(&r, prelude, sizeof(prelude) - 1);
	fz_check(r.at_220 && r.ss.state == SMTP_S_TLS && r.t != NULL, "no TLS after STARTTLS");
	fz_check(r.nclear > sizeof(READY) &&
	                 strcmp(r.clear + r.nclear - (sizeof(READY) - 1), READY) == 0,
	         "the clear output does not end with the 220: %s", r.clear);

	if (mode & 1)
		client_run(&r, mode >> 1);
	else
		raw_run(&r);
	if (!r.done)
		fz_check(r.ss.state == SMTP_S_TLS || r.ss.state == SMTP_S_CLOSING,
		         "the engine left SMTP_S_TLS without a handshake: state %u", r.ss.state);
	if (getenv("FUZZ_TRACE") != NULL)
		fprintf(stderr,
		        "fuzz_tls: mode %u, handshake %s, %zu bytes inside TLS to the client%s\n",
		        mode & 1,
		        r.done     ? "done"
		        : r.failed ? "failed"
		                   : "waiting",
		        r.nseen, r.failed && r.t != NULL ? tls_conn_error(r.t) : "");
	if (r.failed)
		r.ss.state = SMTP_S_CLOSING; /* as sess.c's tls_failed */
	smtp_close(&r.ss, &r.env);
	tls_conn_free(r.t);
	fz_check(r.ss.state == SMTP_S_FREE, "state after close");
	fz_check(r.chunks == 0, "%ld chunks left after close", r.chunks);
	ERR_clear_error();
	return 0;
}
