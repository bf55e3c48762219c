/* ctl_explain - smtpgatectl explain: what the gate would answer, and why
 *
 * Plays a session through pol_eval() exactly as the dataplane will: connect,
 * HELO, MAIL, then each RCPT, carrying the session's pol_state from stage
 * to stage, and stops where the gate's session would stop.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define MAX_RCPTS 1000

struct step {
	enum pol_stage stage;
	const char *input; /* what the client sent at this stage, or NULL */
	bool reached;
	struct pol_verdict v;
	char reply[POL_REPLY_MAX];
	char log[2048];
};

/* strip_brackets - "<a@b>" -> "a@b", "<>" -> "" (in place) */
static char *
strip_brackets(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s[n - 1] = '\0';
		return s + 1;
	}
	return s;
}

/* describe - "blacklist.senders "*@spam.example" (glob) at policy.conf:23" */
static void
describe(FILE *out, const struct pol_snapshot *s, uint32_t id)
{
	const struct pol_entry *e = pol_entry_get(s, id);

	if (e == NULL) {
		fprintf(out, "(none)");
		return;
	}
	fprintf(out, "%s \"%s\" (%s) at %s:%u", pol_list_name(e->list), e->text,
	        pol_kind_name(e->written), e->file, e->line);
}

static void
json_rule(FILE *out, const struct pol_snapshot *s, uint32_t id)
{
	const struct pol_entry *e = pol_entry_get(s, id);

	if (e == NULL) {
		fprintf(out, "null");
		return;
	}
	fprintf(out, "{\"list\":\"%s\",\"entry\":", pol_list_name(e->list));
	json_str(out, e->text);
	fprintf(out, ",\"kind\":\"%s\",\"file\":", pol_kind_name(e->written));
	json_str(out, e->file);
	fprintf(out, ",\"line\":%u}", e->line);
}

/* why_text - the operator's reading of a verdict without a rule */
static const char *
why_text(const struct pol_verdict *v)
{
	switch (v->reason) {
	case POL_R_RELAY_DENIED:
		return "recipient is not in local_domains (or its local part carries routing), "
		       "and the client is not in lan or relay.allow_clients and not authenticated";
	case POL_R_AUTH_REQUIRED:
		return "the service has require_auth and the client did not authenticate";
	default:
		return NULL;
	}
}

static void
print_text(const struct pol_snapshot *s, const struct pol_query *q, struct step *steps, size_t n,
           bool refused)
{
	char name[80];

	printf("service %s, client %s%s%s\n", q->service->name,
	       pol_client_name(&q->client, name, sizeof(name)),
	       q->auth ? ", authenticated as " : "", q->auth ? q->auth_user : "");
	for (size_t i = 0; i < n; i++) {
		struct step *st = &steps[i];

		if (st->input != NULL)
			printf("%-8s <%s>\n", pol_stage_name(st->stage), st->input);
		else
			printf("%s\n", pol_stage_name(st->stage));
		if (!st->reached) {
			printf("         (not reached: the session was refused before)\n");
			continue;
		}
		printf("         reply: %s\n", st->reply);
		if (st->v.rule != POL_NONE) {
			printf("         rule:  ");
			describe(stdout, s, st->v.rule);
			printf("%s\n",
			       st->v.reason == POL_R_WHITELISTED
			               ? ": exempt from the black lists and anti-spoof checks"
			               : "");
		} else if (why_text(&st->v) != NULL) {
			printf("         why:   %s\n", why_text(&st->v));
		}
		if (st->v.relay_rule != POL_NONE) {
			printf("         relay: permitted by ");
			describe(stdout, s, st->v.relay_rule);
			printf("\n");
		} else if (st->v.relay_by_auth) {
			printf("         relay: permitted, the client authenticated\n");
		}
		if (st->log[0] != '\0')
			printf("         log:   %s\n", st->log);
	}
	printf("result   %s\n", refused ? "refused" : "accepted");
}

static void
print_json(const struct pol_snapshot *s, const char *policy, const struct pol_query *q,
           struct step *steps, size_t n, bool refused)
{
	char name[80];

	printf("{\"policy\":");
	json_str(stdout, policy);
	printf(",\"service\":");
	json_str(stdout, q->service->name);
	printf(",\"client\":");
	json_str(stdout, pol_client_name(&q->client, name, sizeof(name)));
	printf(",\"authenticated\":%s,\"auth_user\":", q->auth ? "true" : "false");
	if (q->auth)
		json_str(stdout, q->auth_user);
	else
		printf("null");
	printf(",\"stages\":[");
	for (size_t i = 0; i < n; i++) {
		struct step *st = &steps[i];

		printf("%s{\"stage\":\"%s\",\"input\":", i ? "," : "", pol_stage_name(st->stage));
		if (st->input != NULL)
			json_str(stdout, st->input);
		else
			printf("null");
		if (!st->reached) {
			printf(",\"reached\":false}");
			continue;
		}
		printf(",\"reached\":true,\"action\":\"%s\",\"code\":%u,\"reply\":",
		       st->v.action == POL_ACCEPT ? "accept" : "reject",
		       st->v.action == POL_ACCEPT ? (unsigned)atoi(st->reply) : st->v.code);
		json_str(stdout, st->reply);
		printf(",\"reason\":\"%s\",\"rule\":", pol_reason_name(st->v.reason));
		json_rule(stdout, s, st->v.rule);
		printf(",\"relay\":");
		if (st->v.relay_rule != POL_NONE)
			json_rule(stdout, s, st->v.relay_rule);
		else
			printf(st->v.relay_by_auth ? "\"auth\"" : "null");
		printf(",\"log\":");
		if (st->log[0] != '\0')
			json_str(stdout, st->log);
		else
			printf("null");
		printf("}");
	}
	printf("],\"result\":\"%s\"}\n", refused ? "refused" : "accepted");
}

/* run - evaluate one step and fill its reply and log line */
static void
run(const struct pol_snapshot *s, struct pol_query *q, struct pol_state *ps, struct step *st)
{
	const struct pol_model *m = pol_snapshot_model(s);

	st->reached = true;
	pol_eval(s, NULL, q, st->stage, ps, &st->v);
	if (st->v.action == POL_REJECT) {
		snprintf(st->reply, sizeof(st->reply), "%s", st->v.text);
		pol_format_reject(st->log, sizeof(st->log), st->stage, q, &st->v, true);
		return;
	}
	switch (st->stage) {
	case POL_CONNECT:
		snprintf(st->reply, sizeof(st->reply), "220 %s", q->service->banner);
		break;
	case POL_HELO:
		snprintf(st->reply, sizeof(st->reply), "250 %s", m->hostname);
		break;
	case POL_MAIL:
		snprintf(st->reply, sizeof(st->reply), "250 2.1.0 Ok");
		break;
	case POL_RCPT:
		snprintf(st->reply, sizeof(st->reply), "250 2.1.5 Ok");
		break;
	}
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
	const char *service = NULL, *client = NULL, *cache_dir = NULL, *policy;
	char *rcpts[MAX_RCPTS];
	size_t nrcpt = 0, n = 0;
	struct pol_query q = {0};
	struct pol_state ps;
	struct step *steps;
	struct pol_snapshot *s;
	bool json = false, refused = false, stop = false;
	int c;

	while ((c = getopt_long(argc, argv, "s:c:a:H:f:r:jC:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			service = optarg;
			break;
		case 'c':
			client = optarg;
			break;
		case 'a':
			q.auth = true;
			q.auth_user = optarg;
			break;
		case 'H':
			q.helo = optarg;
			break;
		case 'f':
			q.sender = strip_brackets(optarg);
			break;
		case 'r':
			if (nrcpt == MAX_RCPTS) {
				fprintf(stderr, "smtpgatectl explain: at most %d --rcpt\n",
				        MAX_RCPTS);
				return CTL_ERROR;
			}
			rcpts[nrcpt++] = strip_brackets(optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'C':
			cache_dir = optarg;
			break;
		case 'h':
			printf("usage: smtpgatectl explain POLICY --service NAME --client IP "
			       "[--auth USER] [--helo HOST] [--from ADDR] [--rcpt ADDR]... "
			       "[--json]\n");
			return CTL_OK;
		default:
			return CTL_ERROR;
		}
	}
	if (optind + 1 != argc || service == NULL || client == NULL) {
		fprintf(stderr, "usage: smtpgatectl explain POLICY --service NAME --client IP "
		                "[--auth USER] [--helo HOST] [--from ADDR] [--rcpt ADDR]... "
		                "[--json]\n");
		return CTL_ERROR;
	}
	policy = argv[optind];
	if (cidr_addr_parse(client, &q.client) < 0) {
		fprintf(stderr, "smtpgatectl explain: --client %s is not an IPv4 or IPv6 address\n",
		        client);
		return CTL_ERROR;
	}
	s = ctl_load(policy, cache_dir, false);
	if (s == NULL)
		return CTL_ERROR;
	q.service = pol_service_find(s, service);
	if (q.service == NULL) {
		const struct pol_model *m = pol_snapshot_model(s);

		fprintf(stderr, "smtpgatectl explain: no service \"%s\" in %s (services:", service,
		        policy);
		for (unsigned i = 0; i < m->nservices; i++)
			fprintf(stderr, " %s", m->services[i].name);
		fprintf(stderr, ")\n");
		pol_snapshot_free(s);
		return CTL_ERROR;
	}
	steps = calloc(3 + nrcpt, sizeof(*steps));
	if (steps == NULL) {
		pol_snapshot_free(s);
		return CTL_ERROR;
	}
	pol_state_init(&ps);
	steps[n++] = (struct step){.stage = POL_CONNECT};
	if (q.helo != NULL)
		steps[n++] = (struct step){.stage = POL_HELO, .input = q.helo};
	if (q.sender != NULL)
		steps[n++] = (struct step){.stage = POL_MAIL, .input = q.sender};
	for (size_t i = 0; i < nrcpt; i++)
		steps[n++] = (struct step){.stage = POL_RCPT, .input = rcpts[i]};
	/* the inputs become known stage by stage, as in a real session */
	q.helo = q.sender = NULL;
	for (size_t i = 0; i < n; i++) {
		if (stop)
			continue;
		if (steps[i].stage == POL_HELO)
			q.helo = steps[i].input;
		if (steps[i].stage == POL_MAIL)
			q.sender = steps[i].input;
		q.rcpt = steps[i].stage == POL_RCPT ? steps[i].input : NULL;
		run(s, &q, &ps, &steps[i]);
		if (steps[i].v.action == POL_REJECT) {
			refused = true;
			/* a refused connect, HELO or MAIL ends what follows; a refused
			 * recipient does not affect the next one */
			stop = steps[i].stage != POL_RCPT;
		}
	}
	if (json)
		print_json(s, policy, &q, steps, n, refused);
	else
		print_text(s, &q, steps, n, refused);
	free(steps);
	pol_snapshot_free(s);
	return refused ? CTL_REFUSED : CTL_OK;
}
