/* ctl - what the smtpgatectl commands share */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stdio.h>

#include "pol.h"

/* Exit codes: scripts tell a refusal from a broken policy. */
enum {
	CTL_OK = 0,      /* accepted / valid */
	CTL_REFUSED = 1, /* explain: something was refused */
	CTL_ERROR = 2,   /* usage error or invalid policy */
};

/* json_str - a JSON string literal of s */
void json_str(FILE *out, const char *s);
/* ctl_hex - n bytes as 2n lowercase hex digits and a NUL */
void ctl_hex(char *buf, const uint8_t *b, size_t n);
/* ctl_summary_json - the members (no braces) describing a compiled policy:
 * hostname, source hash, list sizes, kinds, services, Hyperscan, compile time, memory */
void ctl_summary_json(FILE *out, const struct pol_snapshot *s);
/* ctl_load - load and compile a policy file, printing every error; NULL on failure */
struct pol_snapshot *ctl_load(const char *path, const char *cache_dir, bool quiet);

/* What explain plays: a session described by the operator. */
struct explain_args {
	const char *service, *client, *auth_user, *helo, *from;
	const char *const *rcpts;
	size_t nrcpt;
};

/* explain_play - play the session through s (with reader r, or NULL
 * offline), the report to out as text or JSON, problems to err;
 * CTL_OK when all is accepted, CTL_REFUSED, or CTL_ERROR */
int explain_play(const struct pol_snapshot *s, struct pol_reader *r, const char *policy,
                 const struct explain_args *a, bool json, FILE *out, FILE *err);

int cmd_check(int argc, char **argv);
int cmd_explain(int argc, char **argv);
/* The control socket of the running gate (-s, $SMTPGATE_SOCKET). */
extern const char *ctl_socket;
/* cmd_live - push, show, stats, drain against the running gate */
int cmd_live(const char *cmd, int argc, char **argv);
/* ctl_version - ours, and the running gate's if one answers */
int ctl_version(bool json, const char *ours, const char *hyperscan);
/* ctl_explain_live - explain against the running gate (smtpgatectl.c) */
int ctl_explain_live(const struct explain_args *a, bool json);

#endif
