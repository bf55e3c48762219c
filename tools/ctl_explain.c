/* ctl_explain - smtpgatectl explain: against a policy file, or the running gate's */
#include <getopt.h>
#include <stdio.h>

#include "ctl.h"

#define MAX_RCPTS 1000

/* explain_usage - the synopsis */
static void
explain_usage(FILE *out)
{
	fprintf(out, "usage: smtpgatectl [-s SOCKET] explain [POLICY] --service NAME --client IP "
	             "[--auth USER] [--helo HOST] [--from ADDR] [--rcpt ADDR]... [--json]\n"
	             "       without POLICY: against the running gate's policy\n");
}

int
cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"service", required_argument, NULL, 's'},
	        {"client", required_argument, NULL, 'c'},
	        {"auth", required_argument, NULL, 'a'},
	        {"helo", required_argument, NULL, 'H'},
	        {"from", required_argument, NULL, 'f'},
	        {"rcpt", required_argument, NULL, 'r'},
	        {"json", no_argument, NULL, 'j'},
	        {"cache-dir", required_argument, NULL, 'C'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *cache_dir = NULL, *rcpts[MAX_RCPTS];
	struct explain_args a = {.rcpts = rcpts};
	struct pol_snapshot *s;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "s:c:a:H:f:r:jC:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			a.service = optarg;
			break;
		case 'c':
			a.client = optarg;
			break;
		case 'a':
			a.auth_user = optarg;
			break;
		case 'H':
			a.helo = optarg;
			break;
		case 'f':
			a.from = optarg;
			break;
		case 'r':
			if (a.nrcpt == MAX_RCPTS) {
				fprintf(stderr, "smtpgatectl explain: at most %d --rcpt\n",
				        MAX_RCPTS);
				return CTL_ERROR;
			}
			rcpts[a.nrcpt++] = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'C':
			cache_dir = optarg;
			break;
		case 'h':
			explain_usage(stdout);
			return CTL_OK;
		default:
			return CTL_ERROR;
		}
	}
	if (optind + 1 < argc || a.service == NULL || a.client == NULL) {
		explain_usage(stderr);
		return CTL_ERROR;
	}
	if (optind == argc)
		return ctl_explain_live(&a, json);
	s = ctl_load(argv[optind], cache_dir, false);
	if (s == NULL)
		return CTL_ERROR;
	rc = explain_play(s, NULL, argv[optind], &a, json, stdout, stderr);
	pol_snapshot_free(s);
	return rc;
}
