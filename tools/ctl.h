/* ctl - what the smtpgatectl commands share */
#ifndef CTL_H
#define CTL_H

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
/* ctl_load - load and compile a policy file, printing every error; NULL on failure */
struct pol_snapshot *ctl_load(const char *path, const char *cache_dir, bool quiet);

int cmd_check(int argc, char **argv);
int cmd_explain(int argc, char **argv);

#endif
