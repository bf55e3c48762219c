/* relay_proto - names of the relay protocol pieces' events and errors, for counters and logs
 *
 * The pieces themselves: relay_reply.c (backend replies), relay_handoff.c
 * (XCLIENT, PROXY protocol), relay_data.c (the DATA stream). See
 * relay_proto.h.
 */
#include "relay_proto.h"

static const char *const rp_err_names[RELAY_RP_E_COUNT] = {
        [RELAY_RP_E_NONE] = "none",
        [RELAY_RP_E_LONG_LINE] = "long_line",
        [RELAY_RP_E_TOO_MANY_LINES] = "too_many_lines",
        [RELAY_RP_E_SYNTAX] = "syntax",
        [RELAY_RP_E_CODE_MISMATCH] = "code_mismatch",
        [RELAY_RP_E_BARE_NEWLINE] = "bare_newline",
        [RELAY_RP_E_BAD_CHAR] = "bad_char",
};

/* relay_rp_err_name - "long_line" */
const char *
relay_rp_err_name(enum relay_rp_err e)
{
	return (unsigned)e < RELAY_RP_E_COUNT ? rp_err_names[e] : "?";
}

/* relay_ds_ev_name - "bare_lf" */
const char *
relay_ds_ev_name(enum relay_ds_ev e)
{
	switch (e) {
	case RELAY_DS_MORE:
		return "more";
	case RELAY_DS_END:
		return "end";
	case RELAY_DS_TOO_BIG:
		return "too_big";
	case RELAY_DS_BARE_LF:
		return "bare_lf";
	case RELAY_DS_BARE_CR:
		return "bare_cr";
	}
	return "?";
}
