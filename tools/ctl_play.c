/* ctl_play - what the gate would answer to a described session, and why
 *
 * Plays a session through pol_eval() exactly as the dataplane will: connect,
 * HELO, MAIL, then each RCPT, carrying the session's pol_state from stage
 * to stage, and stops where the gate's session would stop. Used offline by
 * `smtpgatectl explain POLICY` and by the gate for the live explain.
 */
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

/* print_backend - where an accepted transaction goes, and how (backend TLS) */
static void
print_backend(FILE *out, const struct pol_model *m)
{
	const struct pol_backend *b = &m->backend;

	if (!b->configured)
		return;
	fprintf(out, "backend  %s, tls %s", pol_handoff_name(b->handoff),
	        pol_backend_tls_name(b->tls));
	if (b->tls == POL_BTLS_VERIFY)
		fprintf(out, " (certificate for %s, CAs of %s)",
		        b->tls_server_name[0] != '\0' ? b->tls_server_name
		                                      : "the backend's address",
		        b->tls_ca_path != NULL ? b->tls_ca_path : "?");
	else if (b->tls != POL_BTLS_NONE)
		fprintf(out, " (certificate not checked)");
	fprintf(out, "\n");
}

static void
print_text(FILE *out, const struct pol_snapshot *s, const char *policy, const struct pol_query *q,
           struct step *steps, size_t n, bool refused)
{
	char name[80];

	fprintf(out, "policy %s\n", policy);
	fprintf(out, "service %s, client %s%s%s\n", q->service->name,
	        pol_client_name(&q->client, name, sizeof(name)),
	        q->auth ? ", authenticated as " : "", q->auth ? q->auth_user : "");
	for (size_t i = 0; i < n; i++) {
		struct step *st = &steps[i];

		if (st->input != NULL)
			fprintf(out, "%-8s <%s>\n", pol_stage_name(st->stage), st->input);
		else
			fprintf(out, "%s\n", pol_stage_name(st->stage));
		if (!st->reached) {
			fprintf(out, "         (not reached: the session was refused before)\n");
			continue;
		}
		fprintf(out, "         reply: %s\n", st->reply);
		if (st->v.rule != POL_NONE) {
			fprintf(out, "         rule:  ");
			describe(out, s, st->v.rule);
			fprintf(out, "%s\n",
			        st->v.reason == POL_R_WHITELISTED
			                ? ": exempt from the black lists and anti-spoof checks"
			                : "");
		} else if (why_text(&st->v) != NULL) {
			fprintf(out, "         why:   %s\n", why_text(&st->v));
		}
		if (st->v.relay_rule != POL_NONE) {
			fprintf(out, "         relay: permitted by ");
			describe(out, s, st->v.relay_rule);
			fprintf(out, "\n");
		} else if (st->v.relay_by_auth) {
			fprintf(out, "         relay: permitted, the client authenticated\n");
		}
		if (st->log[0] != '\0')
			fprintf(out, "         log:   %s\n", st->log);
	}
	fprintf(out, "result   %s\n", refused ? "refused" : "accepted");
	if (!refused)
		print_backend(out, pol_snapshot_model(s));
}

static void
print_json(FILE *out, const struct pol_snapshot *s, const char *policy, const struct pol_query *q,
           struct step *steps, size_t n, bool refused)
{
	char name[80];

	fprintf(out, "{\"policy\":");
	json_str(out, policy);
	fprintf(out, ",\"service\":");
	json_str(out, q->service->name);
	fprintf(out, ",\"client\":");
	json_str(out, pol_client_name(&q->client, name, sizeof(name)));
	fprintf(out, ",\"authenticated\":%s,\"auth_user\":", q->auth ? "true" : "false");
	if (q->auth)
		json_str(out, q->auth_user);
	else
		fprintf(out, "null");
	fprintf(out, ",\"stages\":[");
	for (size_t i = 0; i < n; i++) {
		struct step *st = &steps[i];

		fprintf(out, "%s{\"stage\":\"%s\",\"input\":", i ? "," : "",
		        pol_stage_name(st->stage));
		if (st->input != NULL)
			json_str(out, st->input);
		else
			fprintf(out, "null");
		if (!st->reached) {
			fprintf(out, ",\"reached\":false}");
			continue;
		}
		fprintf(out, ",\"reached\":true,\"action\":\"%s\",\"code\":%u,\"reply\":",
		        st->v.action == POL_ACCEPT ? "accept" : "reject",
		        st->v.action == POL_ACCEPT ? (unsigned)atoi(st->reply) : st->v.code);
		json_str(out, st->reply);
		fprintf(out, ",\"reason\":\"%s\",\"rule\":", pol_reason_name(st->v.reason));
		json_rule(out, s, st->v.rule);
		fprintf(out, ",\"relay\":");
		if (st->v.relay_rule != POL_NONE)
			json_rule(out, s, st->v.relay_rule);
		else
			fprintf(out, st->v.relay_by_auth ? "\"auth\"" : "null");
		fprintf(out, ",\"log\":");
		if (st->log[0] != '\0')
			json_str(out, st->log);
		else
			fprintf(out, "null");
		fprintf(out, "}");
	}
	fprintf(out, "],\"result\":\"%s\"", refused ? "refused" : "accepted");
	if (pol_snapshot_model(s)->backend.configured) {
		const struct pol_backend *b = &pol_snapshot_model(s)->backend;

		fprintf(out, ",\"backend\":{\"handoff\":\"%s\",\"tls\":\"%s\",\"tls_server_name\":",
		        pol_handoff_name(b->handoff), pol_backend_tls_name(b->tls));
		if (b->tls_server_name[0] != '\0')
			json_str(out, b->tls_server_name);
		else
			fprintf(out, "null");
		fprintf(out, "}");
	}
	fprintf(out, "}\n");
}

/* run - evaluate one step and fill its reply and log line */
static void
run(const struct pol_snapshot *s, struct pol_reader *r, struct pol_query *q, struct pol_state *ps,
    struct step *st)
{
	const struct pol_model *m = pol_snapshot_model(s);

	st->reached = true;
	pol_eval(s, r, q, st->stage, ps, &st->v);
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
explain_play(const struct pol_snapshot *s, struct pol_reader *r, const char *policy,
             const struct explain_args *a, bool json, FILE *out, FILE *err)
{
	struct pol_query q = {0};
	struct pol_state ps;
	struct step *steps;
	char *from = NULL, **rcpts;
	size_t n = 0;
	bool refused = false, stop = false;

	if (a->nrcpt > MAX_RCPTS) {
		fprintf(err, "smtpgatectl explain: at most %d --rcpt\n", MAX_RCPTS);
		return CTL_ERROR;
	}
	if (cidr_addr_parse(a->client, &q.client) < 0) {
		fprintf(err, "smtpgatectl explain: --client %s is not an IPv4 or IPv6 address\n",
		        a->client);
		return CTL_ERROR;
	}
	q.service = pol_service_find(s, a->service);
	if (q.service == NULL) {
		const struct pol_model *m = pol_snapshot_model(s);

		fprintf(err, "smtpgatectl explain: no service \"%s\" in %s (services:", a->service,
		        policy);
		for (unsigned i = 0; i < m->nservices; i++)
			fprintf(err, " %s", m->services[i].name);
		fprintf(err, ")\n");
		return CTL_ERROR;
	}
	q.auth = a->auth_user != NULL;
	q.auth_user = a->auth_user;
	steps = calloc(3 + a->nrcpt, sizeof(*steps));
	rcpts = calloc(a->nrcpt + 1, sizeof(*rcpts));
	if (steps == NULL || rcpts == NULL) {
		free(steps);
		free(rcpts);
		fprintf(err, "smtpgatectl explain: out of memory\n");
		return CTL_ERROR;
	}
	pol_state_init(&ps);
	steps[n++] = (struct step){.stage = POL_CONNECT};
	if (a->helo != NULL)
		steps[n++] = (struct step){.stage = POL_HELO, .input = a->helo};
	if (a->from != NULL && (from = strdup(a->from)) != NULL)
		steps[n++] = (struct step){.stage = POL_MAIL, .input = strip_brackets(from)};
	for (size_t i = 0; i < a->nrcpt; i++)
		if ((rcpts[i] = strdup(a->rcpts[i])) != NULL)
			steps[n++] =
			        (struct step){.stage = POL_RCPT, .input = strip_brackets(rcpts[i])};
	/* the inputs become known stage by stage, as in a real session */
	for (size_t i = 0; i < n; i++) {
		if (stop)
			continue;
		if (steps[i].stage == POL_HELO)
			q.helo = steps[i].input;
		if (steps[i].stage == POL_MAIL)
			q.sender = steps[i].input;
		q.rcpt = steps[i].stage == POL_RCPT ? steps[i].input : NULL;
		run(s, r, &q, &ps, &steps[i]);
		if (steps[i].v.action == POL_REJECT) {
			refused = true;
			/* a refused connect, HELO or MAIL ends what follows; a refused
			 * recipient does not affect the next one */
			stop = steps[i].stage != POL_RCPT;
		}
	}
	if (json)
		print_json(out, s, policy, &q, steps, n, refused);
	else
		print_text(out, s, policy, &q, steps, n, refused);
	for (size_t i = 0; i < a->nrcpt; i++)
		free(rcpts[i]);
	free(rcpts);
	free(from);
	free(steps);
	return refused ? CTL_REFUSED : CTL_OK;
}
