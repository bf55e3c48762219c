/* smtpgatectl - the operator's CLI: check and explain a policy, and drive the running gate
 *
 * `check` parses and compiles a policy exactly as the gate would and
 * reports every error with its file:line; `explain` answers what the gate
 * would reply, stage by stage, to a described session, and which rule
 * decided: offline, linking policy/ directly, or against the running
 * gate's policy. `push`, `show`, `stats` and `drain` talk to the running
 * gate over its control socket (ctl_client.c).
 */
#include <getopt.h>
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "tls.h"

#ifndef SMTPGATE_VERSION
#define SMTPGATE_VERSION "0.1.0"
#endif

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: smtpgatectl [-s SOCKET] COMMAND [OPTIONS]\n"
	        "\n"
	        "offline:\n"
	        "  check [--json] [--cache-dir DIR] POLICY\n"
	        "        parse and compile POLICY; print list sizes, compile time and memory;\n"
	        "        exit 0 when valid, 2 with every error as file:line\n"
	        "  explain POLICY --service NAME --client IP [--auth USER] [--helo HOST]\n"
	        "          [--from ADDR] [--rcpt ADDR]... [--json] [--cache-dir DIR]\n"
	        "        print the reply the gate would send at each stage and the rule that\n"
	        "        decided; exit 0 when all is accepted, 1 when anything is refused,\n"
	        "        2 on a usage or policy error\n"
	        "  version [--json]\n"
	        "        print the versions of smtpgatectl and Hyperscan, and the running\n"
	        "        gate's when one answers on the control socket\n"
	        "\n"
	        "against the running gate (its control socket: -s SOCKET, $SMTPGATE_SOCKET,\n"
	        "or /var/run/dpdk/rte/smtpgate.sock, the gate's default):\n"
	        "  push POLICY [--json]\n"
	        "        send POLICY and the list files it names; the gate compiles and\n"
	        "        publishes it with no downtime, or answers with every file:line\n"
	        "        error and keeps the running policy (exit 2)\n"
	        "  show [--json]      the running policy: version, when pushed, sizes\n"
	        "  stats [--json]     sessions, verdicts, packets, relay counters\n"
	        "  explain --service NAME --client IP ...   as above, with the running policy\n"
	        "  drain [--json]     refuse new sessions (421), finish the others, exit\n"
	        "\n"
	        "The Hyperscan cache directory (--cache-dir, or SMTPGATE_CACHE_DIR) keeps\n"
	        "compiled pattern databases so that unchanged patterns are not compiled again.\n");
}

struct pol_snapshot *
ctl_load(const char *path, const char *cache_dir, bool quiet)
{
	struct pol_errs errs = {0};
	struct pol_model *m;
	struct pol_snapshot *s = NULL;

	if (cache_dir == NULL)
		cache_dir = getenv("SMTPGATE_CACHE_DIR");
	pol_hs_cache_dir(cache_dir);
	m = pol_load_file(path, &errs);
	if (m != NULL)
		s = pol_compile(m, &errs);
	if (s != NULL) {
		/* certificates and keys, checked as the gate will take them */
		bool none;
		struct tls_ctxs *t = tls_ctxs_build(pol_snapshot_model(s), &errs, &none);

		if (t == NULL && !none) {
			pol_snapshot_free(s);
			s = NULL;
		}
		tls_ctxs_free(t);
	}
	if (s == NULL) {
		pol_errs_print(&errs, stderr);
		if (!quiet)
			fprintf(stderr, "%s: %zu error%s, policy not valid\n", path, errs.total,
			        errs.total == 1 ? "" : "s");
	}
	pol_errs_free(&errs);
	return s;
}

/* cmd_check - smtpgatectl check */
int
cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"json", no_argument, NULL, 'j'},
	        {"cache-dir", required_argument, NULL, 'C'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *cache_dir = NULL;
	bool json = false;
	struct pol_snapshot *s;
	const struct pol_model *m;
	struct pol_stats st;
	char hash[33];
	int c;

	while ((c = getopt_long(argc, argv, "jC:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'C':
			cache_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_ERROR;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "smtpgatectl check: expected one POLICY file\n");
		return CTL_ERROR;
	}
	s = ctl_load(argv[optind], cache_dir, false);
	if (s == NULL)
		return CTL_ERROR;
	m = pol_snapshot_model(s);
	pol_snapshot_stats(s, &st);
	ctl_hex(hash, st.source_hash, 16);
	if (json) {
		printf("{\"policy\":");
		json_str(stdout, argv[optind]);
		printf(",\"valid\":true,");
		ctl_summary_json(stdout, s);
		printf("}\n");
	} else {
		printf("%s: valid\n", argv[optind]);
		printf("  hostname      %s\n", m->hostname);
		printf("  files         %zu (%zu bytes), source hash %s\n", m->nfiles,
		       m->source_bytes, hash);
		for (unsigned i = 0; i < m->nservices; i++) {
			const struct pol_service *sv = &m->services[i];

			printf("  service       %-12s port", sv->name);
			for (unsigned p = 0; p < sv->nports; p++)
				printf("%s%u", p ? "," : " ", sv->ports[p]);
			if (sv->tls != POL_TLS_OFF)
				printf(", tls %s (%u certificate%s)", pol_tls_name(sv->tls),
				       sv->ntls_certs, sv->ntls_certs == 1 ? "" : "s");
			printf("%s%s%s%s%s", sv->require_auth ? ", require_auth" : "",
			       sv->auth_in_clear ? ", auth_in_clear" : "",
			       sv->delay_reject ? ", delay_reject" : "",
			       sv->reject_remote_local_helo ? ", reject_remote_local_helo" : "",
			       sv->reject_nonlocal_senders_claiming_local
			               ? ", reject_nonlocal_senders_claiming_local"
			               : "");
			if (sv->client_conn_limit > 0)
				printf(", per client %u sessions", sv->client_conn_limit);
			if (sv->client_rate_limit > 0)
				printf(", per client %u connections/%us", sv->client_rate_limit,
				       sv->client_rate_unit_s);
			printf("\n");
		}
		if (m->backend.configured) {
			printf("  backend       %s,", pol_handoff_name(m->backend.handoff));
			for (unsigned i = 0; i < m->backend.naddr; i++) {
				char a[64];

				cidr_format(&m->backend.addr[i], a, sizeof(a));
				*strchrnul(a, '/') = '\0';
				printf(m->backend.addr[i].family == 6 ? " [%s]:%u" : " %s:%u", a,
				       m->backend.port[i]);
			}
			if (m->backend.tls != POL_BTLS_NONE)
				printf(", tls %s", pol_backend_tls_name(m->backend.tls));
			if (m->backend.tls_server_name[0] != '\0')
				printf(", name %s", m->backend.tls_server_name);
			if (m->backend.tls == POL_BTLS_VERIFY && m->backend.tls_ca_path != NULL)
				printf(", CAs %s", m->backend.tls_ca_path);
			printf("\n");
		}
		printf("  lists\n");
		for (int l = 0; l < POL_L_COUNT; l++)
			printf("    %-22s %zu\n", pol_list_name(l), st.nlist[l]);
		printf("  entries by kind ");
		for (int k = 0; k < POL_P_COUNT; k++)
			printf(" %s %zu%s", pol_kind_name(k), st.nkind[k],
			       k + 1 < POL_P_COUNT ? "," : "\n");
		printf("  hyperscan     %zu patterns, %u databases compiled, %u from cache\n",
		       st.hs_patterns, st.hs_compiled, st.hs_cached);
		printf("  compile time  %.3f s\n", st.compile_seconds);
		printf("  memory        %.1f KiB\n", (double)st.mem_bytes / 1024.0);
	}
	pol_snapshot_free(s);
	return CTL_OK;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	if (getenv("SMTPGATE_SOCKET") != NULL)
		ctl_socket = getenv("SMTPGATE_SOCKET");
	if (argc >= 3 && strcmp(argv[1], "-s") == 0) {
		ctl_socket = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2) {
		usage(stderr);
		return CTL_ERROR;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return ctl_version(argc == 3 && strcmp(argv[2], "--json") == 0, SMTPGATE_VERSION,
		                   hs_version());
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "explain") == 0)
		return cmd_explain(argc - 1, argv + 1);
	if (strcmp(cmd, "push") == 0 || strcmp(cmd, "show") == 0 || strcmp(cmd, "stats") == 0 ||
	    strcmp(cmd, "drain") == 0)
		return cmd_live(cmd, argc - 1, argv + 1);
	fprintf(stderr, "smtpgatectl: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return CTL_ERROR;
}
