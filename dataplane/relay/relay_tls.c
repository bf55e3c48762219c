/* relay_tls - the TLS part of a backend connection, as a small state machine
 *
 * Modelled on Postfix's smtp client (smtp_tls_security_level): at "may"
 * STARTTLS is used when the backend's EHLO reply offers it, at "encrypt"
 * and "verify" it is required, and a backend that does not offer it, or
 * refuses it, is given up. The relay does the I/O (relay.c) and tells this
 * machine what happened; the machine says what comes next and keeps the
 * outcome for the counters. No OpenSSL, no DPDK: tests/unit/relay drives it
 * through tables.
 *
 *   START      --EHLO 250, STARTTLS offered, level > none-->  STARTTLS
 *              --EHLO 250, not offered: may-->                DONE (plaintext)
 *              --EHLO 250, not offered: encrypt, verify-->    FAILED
 *              --EHLO 250, level none-->                      DONE
 *   STARTTLS   --220-->                                       HANDSHAKE
 *              --other: may-->                                DONE (plaintext)
 *              --other: encrypt, verify-->                    FAILED
 *   HANDSHAKE  --done--> EHLO_TLS    --failed, bad certificate, no connection--> FAILED
 *   EHLO_TLS   --EHLO 250-->                                  DONE (TLS)
 *   DONE       --EHLO 250 (the one after XCLIENT)-->          DONE
 *
 * Once the backend said 220 to STARTTLS there is no way back to plaintext on
 * that connection, whatever the level: a handshake failure is a failure.
 */
#include "relay_proto.h"

enum rt_state {
	RT_START,     /* the first EHLO reply is awaited */
	RT_STARTTLS,  /* the reply to STARTTLS is awaited */
	RT_HANDSHAKE, /* the handshake is going on */
	RT_EHLO_TLS,  /* the reply to EHLO inside TLS is awaited */
	RT_DONE,      /* decided: TLS up, or plaintext where that is allowed */
	RT_FAILED,    /* given up */
};

void
relay_tls_init(struct relay_tls *t, enum relay_tls_level level)
{
	t->level = (uint8_t)level;
	t->state = RT_START;
	t->result = RELAY_TLS_R_PENDING;
}

/* end - the machine's outcome */
static enum relay_tls_act
end(struct relay_tls *t, enum rt_state state, enum relay_tls_result r, enum relay_tls_act act)
{
	t->state = (uint8_t)state;
	t->result = (uint8_t)r;
	return act;
}

/* on_ehlo - the first EHLO reply: STARTTLS or not */
static enum relay_tls_act
on_ehlo(struct relay_tls *t, uint32_t ext)
{
	if (t->level == RELAY_TLS_NONE)
		return end(t, RT_DONE, RELAY_TLS_R_PENDING, RELAY_TLS_GO);
	if (ext & RELAY_EXT_STARTTLS) {
		t->state = RT_STARTTLS;
		return RELAY_TLS_STARTTLS;
	}
	if (t->level == RELAY_TLS_MAY)
		return end(t, RT_DONE, RELAY_TLS_R_PLAINTEXT, RELAY_TLS_GO);
	return end(t, RT_FAILED, RELAY_TLS_R_NOT_OFFERED, RELAY_TLS_FAIL);
}

/* on_reply - the reply to STARTTLS (RFC 3207 4: 220, or 454 and the like) */
static enum relay_tls_act
on_reply(struct relay_tls *t, unsigned code)
{
	if (code == 220) {
		t->state = RT_HANDSHAKE;
		return RELAY_TLS_HANDSHAKE;
	}
	/* the session goes on in plaintext after a refusal (RFC 3207 4) */
	if (t->level == RELAY_TLS_MAY)
		return end(t, RT_DONE, RELAY_TLS_R_PLAINTEXT, RELAY_TLS_GO);
	return end(t, RT_FAILED, RELAY_TLS_R_REFUSED, RELAY_TLS_FAIL);
}

enum relay_tls_act
relay_tls_step(struct relay_tls *t, enum relay_tls_ev ev, unsigned code, uint32_t ext)
{
	switch ((enum rt_state)t->state) {
	case RT_START:
		if (ev == RELAY_TLS_EV_EHLO)
			return on_ehlo(t, ext);
		break;
	case RT_STARTTLS:
		if (ev == RELAY_TLS_EV_REPLY)
			return on_reply(t, code);
		break;
	case RT_HANDSHAKE:
		switch (ev) {
		case RELAY_TLS_EV_SHAKEN:
			t->state = RT_EHLO_TLS;
			return RELAY_TLS_EHLO;
		case RELAY_TLS_EV_SHAKE_FAIL:
			return end(t, RT_FAILED, RELAY_TLS_R_HANDSHAKE, RELAY_TLS_FAIL);
		case RELAY_TLS_EV_CERT_FAIL:
			return end(t, RT_FAILED, RELAY_TLS_R_CERTIFICATE, RELAY_TLS_FAIL);
		case RELAY_TLS_EV_NO_CONN:
			return end(t, RT_FAILED, RELAY_TLS_R_UNAVAILABLE, RELAY_TLS_FAIL);
		default:
			break;
		}
		break;
	case RT_EHLO_TLS:
		if (ev == RELAY_TLS_EV_EHLO)
			return end(t, RT_DONE, RELAY_TLS_R_OK, RELAY_TLS_GO);
		break;
	case RT_DONE:
		if (ev == RELAY_TLS_EV_EHLO)
			return RELAY_TLS_GO; /* the EHLO after XCLIENT */
		break;
	case RT_FAILED:
		break;
	}
	return RELAY_TLS_FAIL;
}

const char *
relay_tls_reply(enum relay_tls_result r)
{
	switch (r) {
	case RELAY_TLS_R_NOT_OFFERED:
	case RELAY_TLS_R_REFUSED:
		/* RFC 3463 X.7.4: security features not supported (Postfix: "TLS is
		 * required, but was not offered by host ...", dsn 4.7.4) */
		return "451 4.7.4 Error: TLS is required, but was not offered by the backend, try "
		       "again later";
	case RELAY_TLS_R_HANDSHAKE:
		return "451 4.7.5 Error: TLS handshake with the backend failed, try again later";
	case RELAY_TLS_R_CERTIFICATE:
		/* Postfix: "Server certificate not verified", dsn 4.7.5 */
		return "451 4.7.5 Error: backend server certificate not verified, try again later";
	default:
		/* Postfix's wording for a TLS problem of its own */
		return "451 4.7.0 Error: TLS not available due to local problem, try again later";
	}
}

static const char *const result_names[RELAY_TLS_R_COUNT] = {
        [RELAY_TLS_R_PENDING] = "pending",     [RELAY_TLS_R_OK] = "ok",
        [RELAY_TLS_R_PLAINTEXT] = "plaintext", [RELAY_TLS_R_NOT_OFFERED] = "not_offered",
        [RELAY_TLS_R_REFUSED] = "refused",     [RELAY_TLS_R_UNAVAILABLE] = "unavailable",
        [RELAY_TLS_R_HANDSHAKE] = "handshake", [RELAY_TLS_R_CERTIFICATE] = "certificate",
};

const char *
relay_tls_result_name(enum relay_tls_result r)
{
	return (unsigned)r < RELAY_TLS_R_COUNT ? result_names[r] : "?";
}

const char *
relay_tls_level_name(enum relay_tls_level l)
{
	static const char *const names[] = {"none", "may", "encrypt", "verify"};

	return (unsigned)l < 4 ? names[l] : "?";
}
