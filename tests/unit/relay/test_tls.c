/* test_tls - the TLS part of a backend connection: every level against
 * every kind of backend, as tables of (event, expected action) steps
 *
 * Each case is what a backend does (its EHLO reply with or without
 * STARTTLS, its reply to STARTTLS, how the handshake ends, the EHLO inside
 * TLS) and, at each step, what the relay must do, then the outcome counted.
 * Then: events the machine does not expect leave it as it was, every
 * failure maps to a 4xx (never a 2xx or 5xx: nothing lost), and the
 * names used as metric labels are distinct.
 */
#include <stdbool.h>

#include "relay_proto.h"
#include "tap.h"

#define S  RELAY_EXT_STARTTLS
#define XC (RELAY_EXT_XCLIENT | RELAY_EXT_PIPELINING)

struct step {
	enum relay_tls_ev ev;
	unsigned code;
	uint32_t ext;
	enum relay_tls_act want;
};

struct tcase {
	const char *name;
	enum relay_tls_level level;
	struct step steps[6];
	unsigned nsteps;
	enum relay_tls_result result;
};

#define EHLO(ext, act)                                                                             \
	{                                                                                          \
		RELAY_TLS_EV_EHLO, 250, (ext), (act)                                               \
	}
#define REPLY(c, act)                                                                              \
	{                                                                                          \
		RELAY_TLS_EV_REPLY, (c), 0, (act)                                                  \
	}
#define EV(e, act)                                                                                 \
	{                                                                                          \
		(e), 0, 0, (act)                                                                   \
	}

static const struct tcase cases[] = {
        {"none, STARTTLS offered: plaintext, nothing counted",
         RELAY_TLS_NONE,
         {EHLO(S | XC, RELAY_TLS_GO), EHLO(S, RELAY_TLS_GO)},
         2,
         RELAY_TLS_R_PENDING},
        {"none, not offered: plaintext",
         RELAY_TLS_NONE,
         {EHLO(XC, RELAY_TLS_GO)},
         1,
         RELAY_TLS_R_PENDING},
        {"may, offered: STARTTLS, handshake, EHLO inside, go",
         RELAY_TLS_MAY,
         {EHLO(S | XC, RELAY_TLS_STARTTLS), REPLY(220, RELAY_TLS_HANDSHAKE),
          EV(RELAY_TLS_EV_SHAKEN, RELAY_TLS_EHLO), EHLO(XC, RELAY_TLS_GO), EHLO(XC, RELAY_TLS_GO)},
         5,
         RELAY_TLS_R_OK},
        {"may, not offered: plaintext",
         RELAY_TLS_MAY,
         {EHLO(XC, RELAY_TLS_GO)},
         1,
         RELAY_TLS_R_PLAINTEXT},
        {"may, STARTTLS refused 454: plaintext",
         RELAY_TLS_MAY,
         {EHLO(S, RELAY_TLS_STARTTLS), REPLY(454, RELAY_TLS_GO)},
         2,
         RELAY_TLS_R_PLAINTEXT},
        {"may, handshake fails after 220: no way back, fail",
         RELAY_TLS_MAY,
         {EHLO(S, RELAY_TLS_STARTTLS), REPLY(220, RELAY_TLS_HANDSHAKE),
          EV(RELAY_TLS_EV_SHAKE_FAIL, RELAY_TLS_FAIL)},
         3,
         RELAY_TLS_R_HANDSHAKE},
        {"encrypt, offered: TLS",
         RELAY_TLS_ENCRYPT,
         {EHLO(S, RELAY_TLS_STARTTLS), REPLY(220, RELAY_TLS_HANDSHAKE),
          EV(RELAY_TLS_EV_SHAKEN, RELAY_TLS_EHLO), EHLO(S | XC, RELAY_TLS_GO)},
         4,
         RELAY_TLS_R_OK},
        {"encrypt, not offered: fail",
         RELAY_TLS_ENCRYPT,
         {EHLO(XC, RELAY_TLS_FAIL)},
         1,
         RELAY_TLS_R_NOT_OFFERED},
        {"encrypt, refused 502: fail",
         RELAY_TLS_ENCRYPT,
         {EHLO(S, RELAY_TLS_STARTTLS), REPLY(502, RELAY_TLS_FAIL)},
         2,
         RELAY_TLS_R_REFUSED},
        {"encrypt, refused 454: fail",
         RELAY_TLS_ENCRYPT,
         {EHLO(S, RELAY_TLS_STARTTLS), REPLY(454, RELAY_TLS_FAIL)},
         2,
         RELAY_TLS_R_REFUSED},
        {"encrypt, no TLS connection of ours: fail",
         RELAY_TLS_ENCRYPT,
         {EHLO(S, RELAY_TLS_STARTTLS), REPLY(220, RELAY_TLS_HANDSHAKE),
          EV(RELAY_TLS_EV_NO_CONN, RELAY_TLS_FAIL)},
         3,
         RELAY_TLS_R_UNAVAILABLE},
        {"verify, good certificate: TLS",
         RELAY_TLS_VERIFY,
         {EHLO(S, RELAY_TLS_STARTTLS), REPLY(220, RELAY_TLS_HANDSHAKE),
          EV(RELAY_TLS_EV_SHAKEN, RELAY_TLS_EHLO), EHLO(0, RELAY_TLS_GO)},
         4,
         RELAY_TLS_R_OK},
        {"verify, bad certificate: fail",
         RELAY_TLS_VERIFY,
         {EHLO(S, RELAY_TLS_STARTTLS), REPLY(220, RELAY_TLS_HANDSHAKE),
          EV(RELAY_TLS_EV_CERT_FAIL, RELAY_TLS_FAIL)},
         3,
         RELAY_TLS_R_CERTIFICATE},
        {"verify, not offered: fail",
         RELAY_TLS_VERIFY,
         {EHLO(0, RELAY_TLS_FAIL)},
         1,
         RELAY_TLS_R_NOT_OFFERED},
        {"verify, a STARTTLS reply before any EHLO: unexpected, fail",
         RELAY_TLS_VERIFY,
         {REPLY(220, RELAY_TLS_FAIL)},
         1,
         RELAY_TLS_R_PENDING},
        {"encrypt, handshake done twice: the second is unexpected",
         RELAY_TLS_ENCRYPT,
         {EHLO(S, RELAY_TLS_STARTTLS), REPLY(220, RELAY_TLS_HANDSHAKE),
          EV(RELAY_TLS_EV_SHAKEN, RELAY_TLS_EHLO), EV(RELAY_TLS_EV_SHAKEN, RELAY_TLS_FAIL),
          EHLO(0, RELAY_TLS_GO)},
         5,
         RELAY_TLS_R_OK},
        {"after a failure every event is a failure",
         RELAY_TLS_ENCRYPT,
         {EHLO(0, RELAY_TLS_FAIL), EHLO(S, RELAY_TLS_FAIL), REPLY(220, RELAY_TLS_FAIL)},
         3,
         RELAY_TLS_R_NOT_OFFERED},
};

static void
test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		struct relay_tls t;
		unsigned bad = 0, at = 0;

		relay_tls_init(&t, c->level);
		for (unsigned k = 0; k < c->nsteps; k++) {
			const struct step *s = &c->steps[k];
			enum relay_tls_act a = relay_tls_step(&t, s->ev, s->code, s->ext);

			if (a != s->want && bad++ == 0)
				at = k;
		}
		ok(bad == 0, "%s: every step", c->name);
		if (bad)
			printf("#   first wrong at step %u\n", at);
		is_str(relay_tls_result_name(t.result), relay_tls_result_name(c->result),
		       "%s: outcome", c->name);
	}
}

/* test_unexpected - every event the state does not expect is a failure
 * that leaves the machine where it was */
static void
test_unexpected(void)
{
	static const enum relay_tls_ev evs[] = {
	        RELAY_TLS_EV_EHLO,   RELAY_TLS_EV_REPLY,      RELAY_TLS_EV_NO_CONN,
	        RELAY_TLS_EV_SHAKEN, RELAY_TLS_EV_SHAKE_FAIL, RELAY_TLS_EV_CERT_FAIL,
	};
	/* reach each state of an encrypt connection, then try every event on a copy */
	static const struct step path[] = {
	        EHLO(S, RELAY_TLS_STARTTLS), REPLY(220, RELAY_TLS_HANDSHAKE),
	        EV(RELAY_TLS_EV_SHAKEN, RELAY_TLS_EHLO), EHLO(0, RELAY_TLS_GO)};
	struct relay_tls t;
	unsigned wrong = 0, tried = 0;

	relay_tls_init(&t, RELAY_TLS_ENCRYPT);
	for (unsigned k = 0; k <= 4; k++) {
		for (unsigned e = 0; e < sizeof(evs) / sizeof(evs[0]); e++) {
			struct relay_tls u = t;
			bool expected = k < 4 ? evs[e] == path[k].ev : evs[e] == RELAY_TLS_EV_EHLO;
			bool shake_end = k == 2 && (evs[e] == RELAY_TLS_EV_SHAKE_FAIL ||
			                            evs[e] == RELAY_TLS_EV_CERT_FAIL ||
			                            evs[e] == RELAY_TLS_EV_NO_CONN);

			if (expected || shake_end)
				continue;
			tried++;
			if (relay_tls_step(&u, evs[e], 220, S) != RELAY_TLS_FAIL ||
			    memcmp(&u, &t, sizeof(u)) != 0)
				wrong++;
		}
		if (k < 4)
			relay_tls_step(&t, path[k].ev, path[k].code, path[k].ext);
	}
	ok(wrong == 0 && tried > 20, "%u unexpected events: each a failure, the state unchanged",
	   tried);
}

/* test_replies - a failure costs the client a 4xx, never a 2xx or 5xx */
static void
test_replies(void)
{
	unsigned bad = 0;

	for (int r = RELAY_TLS_R_NOT_OFFERED; r < RELAY_TLS_R_COUNT; r++) {
		const char *s = relay_tls_reply((enum relay_tls_result)r);

		if (s[0] != '4' || strncmp(s + 3, " 4.7.", 5) != 0 || strlen(s) > 510)
			bad++;
	}
	ok(bad == 0, "every TLS failure is a 4xx with a 4.7.x status");
	is_str(relay_tls_reply(RELAY_TLS_R_CERTIFICATE),
	       "451 4.7.5 Error: backend server certificate not verified, try again later",
	       "certificate: Postfix's wording");
	for (int a = 0; a < RELAY_TLS_R_COUNT; a++)
		for (int b = a + 1; b < RELAY_TLS_R_COUNT; b++)
			if (strcmp(relay_tls_result_name(a), relay_tls_result_name(b)) == 0)
				bad++;
	ok(bad == 0, "the outcomes' names (metric labels) are distinct");
	is_str(relay_tls_level_name(RELAY_TLS_VERIFY), "verify", "level names");
}

int
main(void)
{
	test_cases();
	test_unexpected();
	test_replies();
	return done_testing();
}
