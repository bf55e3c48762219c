/* test_auth - the engine's AUTH state machine against a fake checker, case by case
 *
 * Each case is a service port, whether TLS is on, what the checker does
 * (its return at check, then the answers it gives, in order, each time the
 * session waits), the client's bytes, and the exact output, action and log
 * lines; and what the checker must have been given (mechanism and the
 * PLAIN-form credentials) and how many checks were asked and cancelled.
 * Like test_session, every case is also played one byte at a time and cut
 * in two at every offset: pipelined commands wait for the checker's answer
 * whatever the segmentation.
 */
#include "harness.h"
#include "smtp_impl.h" /* smtp_b64_decode */

#define IN(s) s, sizeof(s) - 1

#define HOST "mx.test.example"
#define G    "220 " HOST " ESMTP\r\n"
#define EA                                                                                         \
	"250-" HOST "\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n"          \
	"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define EN                                                                                         \
	"250-" HOST "\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"                                  \
	"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define H     "EHLO h.remote.example\r\n"
#define RMT   "203.0.113.5"
#define CL    "unknown[" RMT "]"
#define NOOP  "NOOP\r\n"
#define OK    "250 2.0.0 Ok\r\n"
#define MOK   "250 2.1.0 Ok\r\n"
#define ROK   "250 2.1.5 Ok\r\n"
#define A235  "235 2.7.0 Authentication successful\r\n"
#define A535  "535 5.7.8 Error: authentication failed: authentication failure\r\n"
#define A454  "454 4.7.0 Temporary authentication failure\r\n"
#define AMAL  "535 5.7.8 Error: authentication failed: malformed credentials\r\n"
#define PLAIN "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n" /* \0alice\0secret */
#define CRED  "\0alice\0secret"
#define LOGOK "NOQUEUE: client=" CL ", sasl_method=PLAIN, sasl_username=alice\n"
#define FAIL(m, u)                                                                                 \
	"warning: " CL ": SASL " m                                                                 \
	" authentication failed: authentication failure, sasl_username=" u "\n"
#define TEMP(m, u)                                                                                 \
	"warning: " CL ": SASL " m                                                                 \
	" authentication not checked: service unavailable, sasl_username=" u "\n"
#define C SMTP_CONTINUE
#define X SMTP_CLOSE

enum { OPEN = 30, CLEAR = 29, MX = 25 }; /* auth_in_clear; ... and require_auth; neither */

#define NANS 4

struct acase {
	struct scase s;
	bool tls;                            /* SMTP_F_TLS set at connect */
	bool none;                           /* no checker at all (env.auth NULL) */
	int check_rc;                        /* what check() returns */
	enum smtp_auth_result ans[NANS + 1]; /* answers in order; SMTP_AUTH_RESULTS: a timeout */
	const char *user;                    /* the name an OK gives; NULL: none */
	enum smtp_mech mech;                 /* of the last check */
	const char *cred;                    /* its credentials; NULL: not checked */
	size_t cred_len;
	int asks, cancels;
};

/* The fake checker: what it was asked, and the case it plays. */
static struct fake {
	const struct acase *k;
	int asks, cancels, answers;
	enum smtp_mech mech;
	char cred[SMTP_AUTH_CRED_MAX + 512];
	size_t cred_len;
	bool pending;
} fk;
static bool fake_ok; /* what the fake saw matched, over the three plays of a case */

static int
f_check(void *arg, struct smtp_session *ss, enum smtp_mech mech, const char *cred, size_t len)
{
	struct fake *f = arg;

	(void)ss;
	if (f->pending)
		abort(); /* the engine asked twice without waiting */
	f->asks++;
	f->mech = mech;
	if (len > sizeof(f->cred))
		abort();
	memcpy(f->cred, cred, len);
	f->cred_len = len;
	f->pending = f->k->check_rc == 0;
	return f->k->check_rc;
}

static void
f_cancel(void *arg, struct smtp_session *ss)
{
	struct fake *f = arg;

	(void)ss;
	if (!f->pending)
		abort(); /* cancel of nothing */
	f->pending = false;
	f->cancels++;
}

static const struct smtp_auth checker = {f_check, f_cancel, &fk};

/* f_waiting - the session waits: the next scripted answer, or a timeout */
static void
f_waiting(struct h *h, const struct pol_snapshot *snap, uint64_t now)
{
	enum smtp_auth_result r = fk.k->ans[fk.answers < NANS ? fk.answers : NANS];

	if (r == SMTP_AUTH_RESULTS) {
		h->act = smtp_timeout(&h->ss, &h->env, snap, now + 3600 * 1000, &h->o);
		return;
	}
	fk.answers++;
	fk.pending = false;
	h->act = smtp_auth_reply(&h->ss, &h->env, snap, now, r,
	                         r == SMTP_AUTH_OK ? fk.k->user : NULL, &h->o);
}

static const struct acase *cur;

/* check_fake - after a play of k: what the checker saw */
static void
check_fake(const struct acase *k)
{
	if (fk.asks != k->asks || fk.cancels != k->cancels || fk.pending ||
	    (k->cred != NULL && (fk.mech != k->mech || fk.cred_len != k->cred_len ||
	                         memcmp(fk.cred, k->cred, k->cred_len) != 0))) {
		if (fake_ok)
			printf("#   the checker was asked %d, cancelled %d, pending %d, mech %d, "
			       "%zu bytes\n",
			       fk.asks, fk.cancels, fk.pending, fk.mech, fk.cred_len);
		fake_ok = false;
	}
}

static void
setup(struct h *h)
{
	if (fk.k == cur)
		check_fake(cur); /* the previous play of this case */
	memset(&fk, 0, sizeof(fk));
	fk.k = cur;
	h->env.auth = cur->none ? NULL : &checker;
	h->waiting = f_waiting;
	h->open_flags = cur->tls ? SMTP_F_TLS : 0;
}

#define T SMTP_AUTH_RESULTS /* as an answer: the checker never answers */
#define P SMTP_M_PLAIN
#define L SMTP_M_LOGIN

static const struct acase cases[] = {
        /* ---- offered or not ---- */
        {{"EHLO lists AUTH where clear text is allowed", OPEN, RMT, IN(H), G EA, C, ""}},
        {{"EHLO lists AUTH under TLS", MX, RMT, IN(H), G EA, C, ""}, .tls = true},
        {{"EHLO does not list AUTH in clear elsewhere", MX, RMT, IN(H), G EN, C, ""}},
        {{"no checker: AUTH is not offered", OPEN, RMT, IN(H PLAIN),
          G EN "503 5.5.1 Error: authentication not enabled\r\n", C, ""},
         .none = true},
        {{"AUTH in clear where TLS is required: 538", MX, RMT, IN(H PLAIN NOOP),
          G EN "538 5.7.11 Encryption required for requested authentication mechanism\r\n" OK, C,
          ""}},
        /* ---- PLAIN ---- */
        {{"PLAIN, initial response, good password: 235", OPEN, RMT, IN(H PLAIN), G EA A235, C,
          LOGOK},
         .ans = {SMTP_AUTH_OK},
         .mech = P,
         .cred = CRED,
         .cred_len = sizeof(CRED) - 1,
         .asks = 1},
        {{"PLAIN under TLS on a service without clear text", MX, RMT, IN(H PLAIN), G EA A235, C,
          LOGOK},
         .tls = true,
         .ans = {SMTP_AUTH_OK},
         .mech = P,
         .cred = CRED,
         .cred_len = sizeof(CRED) - 1,
         .asks = 1},
        {{"PLAIN, bad password: 535, and again", OPEN, RMT,
          IN(H "AUTH PLAIN AGFsaWNlAHdyb25n\r\n" PLAIN), G EA A535 A235, C,
          FAIL("PLAIN", "alice") LOGOK},
         .ans = {SMTP_AUTH_FAIL, SMTP_AUTH_OK},
         .mech = P,
         .cred = CRED,
         .cred_len = sizeof(CRED) - 1,
         .asks = 2},
        {{"PLAIN after a 334", OPEN, RMT, IN(H "AUTH plain\r\nAGFsaWNlAHNlY3JldA==\r\n"),
          G EA "334 \r\n" A235, C, LOGOK},
         .ans = {SMTP_AUTH_OK},
         .mech = P,
         .cred = CRED,
         .cred_len = sizeof(CRED) - 1,
         .asks = 1},
        {{"PLAIN with an authzid: passed on as it came", OPEN, RMT,
          IN(H "AUTH PLAIN YWRtaW4AYWxpY2UAc2VjcmV0\r\n"), G EA A235, C, LOGOK},
         .ans = {SMTP_AUTH_OK},
         .mech = P,
         .cred = "admin\0alice\0secret",
         .cred_len = 18,
         .asks = 1},
        {{"the checker's name is the login", OPEN, RMT, IN(H PLAIN), G EA A235, C,
          "NOQUEUE: client=" CL ", sasl_method=PLAIN, sasl_username=alice@example.net\n"},
         .ans = {SMTP_AUTH_OK},
         .user = "alice@example.net",
         .asks = 1},
        {{"PLAIN without NULs: 535, not asked", OPEN, RMT, IN(H "AUTH PLAIN bm9OVUxz\r\n" NOOP),
          G EA AMAL OK, C,
          "warning: " CL ": SASL PLAIN authentication failed: malformed credentials, "
          "sasl_username=\n"}},
        {{"PLAIN, empty initial response '='", OPEN, RMT, IN(H "AUTH PLAIN =\r\n"), G EA AMAL, C,
          "warning: " CL ": SASL PLAIN authentication failed: malformed credentials, "
          "sasl_username=\n"}},
        /* ---- LOGIN ---- */
        {{"LOGIN: user name, password, 235", OPEN, RMT,
          IN(H "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n"),
          G EA "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n" A235, C,
          "NOQUEUE: client=" CL ", sasl_method=LOGIN, sasl_username=alice\n"},
         .ans = {SMTP_AUTH_OK},
         .mech = L,
         .cred = CRED,
         .cred_len = sizeof(CRED) - 1,
         .asks = 1},
        {{"LOGIN with the user name as initial response", OPEN, RMT,
          IN(H "AUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\n"), G EA "334 UGFzc3dvcmQ6\r\n" A535, C,
          FAIL("LOGIN", "alice")},
         .ans = {SMTP_AUTH_FAIL},
         .mech = L,
         .cred = CRED,
         .cred_len = sizeof(CRED) - 1,
         .asks = 1},
        {{"LOGIN with an empty user name", OPEN, RMT, IN(H "AUTH LOGIN\r\n\r\n"),
          G EA "334 VXNlcm5hbWU6\r\n" AMAL, C, ""}},
        /* ---- the exchange refused ---- */
        {{"'*' aborts the exchange", OPEN, RMT, IN(H "AUTH LOGIN\r\n*\r\n" NOOP),
          G EA "334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication aborted\r\n" OK, C, ""}},
        {{"a response that is not base64", OPEN, RMT,
          IN(H "AUTH PLAIN\r\nAGFs aWNl\r\nAUTH PLAIN AGF=bGlj\r\nAUTH PLAIN A\r\n"),
          G EA "334 \r\n501 5.5.2 Cannot decode response\r\n"
               "501 5.5.2 Cannot decode response\r\n501 5.5.2 Cannot decode response\r\n",
          C, ""}},
        {{"an exchange line over 512 octets: 500 5.5.6, then commands again", OPEN, RMT,
          IN(H "AUTH PLAIN\r\n"
               "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
               "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
               "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
               "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
               "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
               "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
               "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
               "\r\n" NOOP),
          G EA "334 \r\n500 5.5.6 Authentication exchange line is too long\r\n" OK, C, ""}},
        {{"an unknown mechanism: 504", OPEN, RMT, IN(H "AUTH CRAM-MD5\r\nAUTH XPLAIN AAAA\r\n"),
          G EA "504 5.5.4 Unsupported authentication mechanism\r\n"
               "504 5.5.4 Unsupported authentication mechanism\r\n",
          C, ""}},
        {{"AUTH syntax", OPEN, RMT, IN(H "AUTH\r\nAUTH PLAIN AAAA BBBB\r\n"),
          G EA "501 5.5.4 Syntax: AUTH mechanism\r\n501 5.5.4 Syntax: AUTH mechanism\r\n", C, ""}},
        {{"AUTH before EHLO: 503", OPEN, RMT, IN(PLAIN),
          G "503 5.5.1 Error: send HELO/EHLO first\r\n", C, ""}},
        {{"AUTH inside a transaction: 503", OPEN, RMT,
          IN(H "MAIL FROM:<a@remote.example>\r\n" PLAIN),
          G EA MOK "503 5.5.1 Error: MAIL transaction in progress\r\n", C, ""}},
        {{"a second AUTH: 503", OPEN, RMT, IN(H PLAIN "AUTH LOGIN\r\n"),
          G EA A235 "503 5.5.1 Error: already authenticated\r\n", C, LOGOK},
         .ans = {SMTP_AUTH_OK},
         .asks = 1},
        /* ---- the checker fails ---- */
        {{"the checker cannot take it: 454", OPEN, RMT, IN(H PLAIN NOOP), G EA A454 OK, C,
          TEMP("PLAIN", "alice")},
         .check_rc = -1,
         .asks = 1},
        {{"the checker answers with a temporary failure: 454", OPEN, RMT, IN(H PLAIN), G EA A454, C,
          TEMP("PLAIN", "alice")},
         .ans = {SMTP_AUTH_TEMP},
         .asks = 1},
        {{"too many failures from the client: 454", OPEN, RMT, IN(H PLAIN),
          G EA "454 4.7.0 Error: too many failed authentication attempts, try again later\r\n", C,
          "warning: " CL ": SASL PLAIN authentication refused: too many failed attempts, "
          "sasl_username=alice\n"},
         .ans = {SMTP_AUTH_LIMIT},
         .asks = 1},
        {{"no answer: the command timeout ends the session, the check is cancelled", OPEN, RMT,
          IN(H PLAIN NOOP), G EA "421 4.4.2 " HOST " Error: timeout exceeded\r\n", X,
          "timeout after AUTH from " CL "\n"},
         .ans = {T},
         .asks = 1,
         .cancels = 1},
        /* ---- what authentication changes ---- */
        {{"commands pipelined after AUTH wait for its answer", CLEAR, RMT,
          IN(H PLAIN "MAIL FROM:<a@remote.example>\r\nRCPT TO:<x@elsewhere.example>\r\n"),
          G EA A235 MOK ROK, C, LOGOK},
         .ans = {SMTP_AUTH_OK},
         .asks = 1},
        {{"require_auth: 530 before, 250 after", CLEAR, RMT,
          IN(H "MAIL FROM:<a@remote.example>\r\n" PLAIN "MAIL FROM:<a@remote.example>\r\n"),
          G EA "530 5.7.0 Authentication required\r\n" A235 MOK, C,
          "NOQUEUE: reject: MAIL from " CL ": 530 5.7.0 Authentication required; "
          "from=<a@remote.example> proto=ESMTP helo=<h.remote.example>\n" LOGOK},
         .ans = {SMTP_AUTH_OK},
         .asks = 1},
        {{"relay only after 235", OPEN, RMT,
          IN(H "MAIL FROM:<a@remote.example>\r\nRCPT TO:<x@elsewhere.example>\r\nRSET\r\n" PLAIN
               "MAIL FROM:<a@remote.example>\r\nRCPT TO:<x@elsewhere.example>\r\n"),
          G EA MOK "554 5.7.1 <x@elsewhere.example>: Relay access denied\r\n" OK A235 MOK ROK, C,
          "NOQUEUE: reject: RCPT from " CL ": 554 5.7.1 <x@elsewhere.example>: Relay access "
          "denied; from=<a@remote.example> to=<x@elsewhere.example> proto=ESMTP "
          "helo=<h.remote.example>\n" LOGOK},
         .ans = {SMTP_AUTH_OK},
         .asks = 1},
        {{"a failed AUTH does not let relay", OPEN, RMT,
          IN(H "AUTH PLAIN AGFsaWNlAHdyb25n\r\nMAIL FROM:<a@remote.example>\r\n"
               "RCPT TO:<x@elsewhere.example>\r\n"),
          G EA A535 MOK "554 5.7.1 <x@elsewhere.example>: Relay access denied\r\n", C,
          FAIL("PLAIN", "alice") "NOQUEUE: reject: RCPT from " CL
                                 ": 554 5.7.1 <x@elsewhere.example>: Relay access "
                                 "denied; from=<a@remote.example> to=<x@elsewhere.example> "
                                 "proto=ESMTP helo=<h.remote.example>\n"},
         .ans = {SMTP_AUTH_FAIL},
         .asks = 1},
        {{"authenticated: exempt from the anti-spoof switches", MX, RMT,
          IN(H PLAIN "EHLO gw.local.example\r\nMAIL FROM:<me@local.example>\r\n"), G EA A235 EA MOK,
          C, LOGOK},
         .tls = true,
         .ans = {SMTP_AUTH_OK},
         .asks = 1},
        {{"... which apply before AUTH", MX, RMT,
          IN(H "EHLO gw.local.example\r\n" H "MAIL FROM:<me@local.example>\r\n"),
          G EA "550 5.7.1 <gw.local.example>: Helo command rejected: Host claims to be local\r\n" EA
               "550 5.7.1 <me@local.example>: Sender address rejected: Non-local sender claiming "
               "to be local\r\n",
          C,
          "NOQUEUE: reject: HELO from " CL ": 550 5.7.1 <gw.local.example>: Helo command "
          "rejected: Host claims to be local; proto=ESMTP helo=<gw.local.example>\n"
          "NOQUEUE: reject: MAIL from " CL ": 550 5.7.1 <me@local.example>: Sender address "
          "rejected: Non-local sender claiming to be local; from=<me@local.example> proto=ESMTP "
          "helo=<h.remote.example>\n"},
         .tls = true},
        {{"MAIL FROM with AUTH=", OPEN, RMT,
          IN(H "MAIL FROM:<a@remote.example> AUTH=<>\r\nRSET\r\n"
               "MAIL FROM:<a@remote.example> AUTH=a+2Bb@remote.example\r\nRSET\r\n"
               "MAIL FROM:<a@remote.example> AUTH=\r\n"),
          G EA MOK OK MOK OK "501 5.5.4 Bad AUTH parameter syntax\r\n", C, ""}},
        {{"AUTH persists across RSET and EHLO", OPEN, RMT,
          IN(H PLAIN "RSET\r\n" H
                     "MAIL FROM:<a@remote.example>\r\nRCPT TO:<x@elsewhere.example>\r\n"),
          G EA A235 OK EA MOK ROK, C, LOGOK},
         .ans = {SMTP_AUTH_OK},
         .asks = 1},
};

int
main(void)
{
	struct pol_snapshot *snap = must_load("smtp.conf", h_policy);
	char b64[8];
	unsigned char out[8];

	/* the decoder alone: padding, bad characters, room */
	is_int(smtp_b64_decode("YWJj", 4, out, sizeof(out)), 3, "base64: abc");
	is_int(smtp_b64_decode("YWI=", 4, out, sizeof(out)), 2, "base64: one pad");
	is_int(smtp_b64_decode("YQ==", 4, out, sizeof(out)), 1, "base64: two pads");
	is_int(smtp_b64_decode("", 0, out, sizeof(out)), 0, "base64: empty");
	is_int(smtp_b64_decode("YQ=", 3, out, sizeof(out)), -1, "base64: length not of 4");
	is_int(smtp_b64_decode("Y===", 4, out, sizeof(out)), -1, "base64: three pads");
	is_int(smtp_b64_decode("YQ==YWJj", 8, out, sizeof(out)), -1, "base64: pad in the middle");
	is_int(smtp_b64_decode("YW=j", 4, out, sizeof(out)), -1, "base64: data after a pad");
	is_int(smtp_b64_decode("YW\x01j", 4, out, sizeof(out)), -1, "base64: a control character");
	is_int(smtp_b64_decode("YWJjYWJjYWJj", 12, out, sizeof(out)), -1, "base64: no room");
	memcpy(b64, "AAECAw==", 8);
	ok(smtp_b64_decode(b64, 8, out, sizeof(out)) == 4 && out[0] == 0 && out[3] == 3,
	   "base64: binary bytes");
	is_str(smtp_mech_name(SMTP_M_LOGIN), "LOGIN", "mechanism names");
	is_str(smtp_cmd_name(SMTP_C_AUTH), "AUTH", "AUTH in log lines");

	h_setup = setup;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cur = &cases[i];
		fake_ok = true;
		memset(&fk, 0, sizeof(fk));
		h_check(snap, &cases[i].s);
		check_fake(cur); /* the last play */
		ok(fake_ok, "%s: the checker was asked %d, cancelled %d%s", cases[i].s.name,
		   cases[i].asks, cases[i].cancels,
		   cases[i].cred != NULL ? ", with the credentials" : "");
	}
	pol_snapshot_free(snap);
	return done_testing();
}
