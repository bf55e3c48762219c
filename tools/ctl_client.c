/* ctl_client - smtpgatectl's commands against a running gate, over its control socket
 *
 *   push POLICY   send the policy and every list file it names; the gate
 *                 compiles and publishes it, or answers with every error
 *   show          the running policy: version, when pushed, source hash, sizes
 *   stats         the gate's counters
 *   drain         stop taking sessions, finish those in flight, exit
 *   explain       (ctl_explain.c) against the running policy
 *
 * The socket is -s PATH, else $SMTPGATE_SOCKET, else the gate's default for
 * EAL's default file prefix, /var/run/dpdk/rte/smtpgate.sock.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "ctl_proto.h"

#define CTL_TIMEOUT_S 300 /* a push of a large policy compiles for a while */

const char *ctl_socket = "/var/run/dpdk/rte/smtpgate.sock"; /* the gate's default */

/* A response: the parsed JSON and the raw text (for --json). */
struct resp {
	char *payload;
	struct conf_doc *doc;
	const char *json;
	size_t json_len;
};

static void
resp_free(struct resp *r)
{
	conf_free(r->doc);
	free(r->payload);
}

/* request - one exchange with the gate; 0, or CTL_ERROR after saying why */
static int
request(const char *json, size_t len, const struct ctl_file *files, unsigned n, struct resp *r)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = CTL_TIMEOUT_S};
	struct pol_errs errs = {0};
	struct ctl_msg m;
	const char *why = NULL;
	size_t plen;
	int fd;

	memset(r, 0, sizeof(*r));
	if (strlen(ctl_socket) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "smtpgatectl: socket path too long: %s\n", ctl_socket);
		return CTL_ERROR;
	}
	strcpy(sa.sun_path, ctl_socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "smtpgatectl: cannot reach the gate at %s: %s\n", ctl_socket,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		return CTL_ERROR;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (ctl_send(fd, json, len, files, n) < 0) {
		fprintf(stderr, "smtpgatectl: sending to %s: %s\n", ctl_socket, strerror(errno));
		close(fd);
		return CTL_ERROR;
	}
	if (ctl_recv(fd, &r->payload, &plen, CTL_MAX_RESPONSE, &why) < 0 ||
	    ctl_split(r->payload, plen, &m, NULL, 0, &why) < 0) {
		fprintf(stderr, "smtpgatectl: no answer from the gate at %s: %s\n", ctl_socket,
		        why);
		close(fd);
		resp_free(r);
		return CTL_ERROR;
	}
	close(fd);
	r->json = m.json;
	r->json_len = m.json_len;
	r->doc = conf_parse("response", m.json, m.json_len, &errs);
	if (r->doc == NULL) {
		fprintf(stderr, "smtpgatectl: the gate's answer is not JSON\n");
		pol_errs_free(&errs);
		resp_free(r);
		return CTL_ERROR;
	}
	pol_errs_free(&errs);
	return 0;
}

/* str - a string member of the response, or def */
static const char *
str(const struct resp *r, const char *key, const char *def)
{
	const struct conf_node *n = conf_get(r->doc->root, key);

	return n != NULL && n->type == CONF_STRING ? n->str : def;
}

/* num - a numeric member, or def */
static double
num(const struct conf_node *obj, const char *key, double def)
{
	const struct conf_node *n = conf_get(obj, key);

	return n != NULL && n->type == CONF_STRING ? strtod(n->str, NULL) : def;
}

/* failed - a refusal from the gate: its errors as file:line lines; CTL_ERROR */
static int
failed(const struct resp *r)
{
	const struct conf_node *errs = conf_get(r->doc->root, "errors");
	double total = num(r->doc->root, "total", 0);

	for (const struct conf_node *e = errs != NULL ? errs->child : NULL; e != NULL;
	     e = e->next) {
		const struct conf_node *f = conf_get(e, "file");

		if (f != NULL && f->type == CONF_STRING && f->len > 0)
			fprintf(stderr, "%s:%.0f: error: %s\n", f->str, num(e, "line", 0),
			        conf_get(e, "message") != NULL ? conf_get(e, "message")->str : "");
		else
			fprintf(stderr, "error: %s\n",
			        conf_get(e, "message") != NULL ? conf_get(e, "message")->str : "");
	}
	fprintf(stderr, "smtpgatectl: %s\n", str(r, "error", "the gate refused the request"));
	if (total > 0)
		fprintf(stderr, "smtpgatectl: %.0f error%s; the running policy is unchanged\n",
		        total, total == 1 ? "" : "s");
	return CTL_ERROR;
}

/* ok - whether the gate said ok */
static bool
ok(const struct resp *r)
{
	const char *v = str(r, "ok", "false");

	return strcmp(v, "true") == 0;
}

/* ---- push ---- */

/* The files the loader read, kept to be sent. */
struct bundle {
	struct ctl_file *f;
	char **paths, **datas;
	unsigned n, cap;
	size_t bytes;
};

/* bundle_read - the loader's reader: the disk, recording what was read */
static char *
bundle_read(void *arg, const char *path, size_t *len)
{
	struct bundle *b = arg;
	FILE *fp = fopen(path, "rb");
	char *data = NULL, *copy;
	size_t cap = 0, n = 0;

	if (fp == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			char *d = realloc(data, cap = cap ? cap * 2 : 65536);

			if (d == NULL) {
				free(data);
				fclose(fp);
				errno = ENOMEM;
				return NULL;
			}
			data = d;
		}
		size_t got = fread(data + n, 1, cap - n, fp);

		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		int e = errno;

		fclose(fp);
		free(data);
		errno = e ? e : EIO;
		return NULL;
	}
	fclose(fp);
	if (b->n == b->cap) {
		unsigned cap2 = b->cap ? b->cap * 2 : 16;
		struct ctl_file *f = realloc(b->f, cap2 * sizeof(*f));

		if (f == NULL) {
			free(data);
			errno = ENOMEM;
			return NULL;
		}
		b->f = f;
		b->cap = cap2;
	}
	if ((copy = malloc(n + 1)) == NULL) {
		free(data);
		errno = ENOMEM;
		return NULL;
	}
	memcpy(copy, data, n);
	b->f[b->n] = (struct ctl_file){
	        .path = strdup(path), .path_len = strlen(path), .data = copy, .len = n};
	b->n++;
	b->bytes += n;
	*len = n;
	return data;
}

static void
bundle_free(struct bundle *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		free((char *)b->f[i].path);
		free((char *)b->f[i].data);
	}
	free(b->f);
}

/* cmd_push - smtpgatectl push POLICY */
static int
cmd_push(int argc, char **argv)
{
	struct bundle b = {0};
	struct pol_source src = {.read = bundle_read, .arg = &b};
	struct pol_errs errs = {0};
	struct pol_model *m;
	struct resp r;
	char *json = NULL;
	size_t jlen = 0;
	FILE *j;
	bool as_json = argc == 3 && strcmp(argv[2], "--json") == 0;
	int rc;

	if (argc != 2 && !as_json) {
		fprintf(stderr, "usage: smtpgatectl [-s SOCKET] push POLICY [--json]\n");
		return CTL_ERROR;
	}
	/* the loader names the files a policy needs: read them as it asks; a
	 * policy that does not load here goes anyway, the gate says why */
	fprintf(stderr, "smtpgatectl: reading %s\n", argv[1]);
	m = pol_load(argv[1], &src, &errs);
	pol_model_free(m);
	pol_errs_free(&errs);
	if (b.n == 0) {
		fprintf(stderr, "smtpgatectl: cannot read %s: %s\n", argv[1], strerror(errno));
		return CTL_ERROR;
	}
	fprintf(stderr, "smtpgatectl: sending %u file%s (%zu bytes) to %s; the gate compiles\n",
	        b.n, b.n == 1 ? "" : "s", b.bytes, ctl_socket);
	j = open_memstream(&json, &jlen);
	fprintf(j, "{\"cmd\":\"push\",\"main\":");
	json_str(j, argv[1]);
	fprintf(j, "}");
	fclose(j);
	rc = request(json, jlen, b.f, b.n, &r);
	free(json);
	bundle_free(&b);
	if (rc != 0)
		return rc;
	if (as_json)
		printf("%.*s\n", (int)r.json_len, r.json);
	if (!ok(&r)) {
		rc = as_json ? CTL_ERROR : failed(&r);
	} else if (!as_json) {
		printf("pushed %s: policy version %.0f, compiled in %.3f s, %.0f files, "
		       "source hash %s\n",
		       argv[1], num(r.doc->root, "version", 0),
		       num(r.doc->root, "compile_seconds", 0), num(r.doc->root, "files", 0),
		       str(&r, "source_hash", "?"));
	}
	resp_free(&r);
	return rc;
}

/* simple - a command without arguments whose answer prints as it is or by fn */
static int
simple(const char *cmd, bool as_json, void (*print)(const struct resp *r))
{
	struct resp r;
	char json[64];
	int n = snprintf(json, sizeof(json), "{\"cmd\":\"%s\"}", cmd), rc = CTL_OK;

	if (request(json, (size_t)n, NULL, 0, &r) != 0)
		return CTL_ERROR;
	if (as_json)
		printf("%.*s\n", (int)r.json_len, r.json);
	if (!ok(&r))
		rc = as_json ? CTL_ERROR : failed(&r);
	else if (!as_json && print != NULL)
		print(&r);
	resp_free(&r);
	return rc;
}

static void
print_show(const struct resp *r)
{
	const struct conf_node *lists = conf_get(r->doc->root, "lists");
	const struct conf_node *svcs = conf_get(r->doc->root, "services");

	printf("gate          %s\n", str(r, "gate", "?"));
	printf("policy        %s, version %.0f, pushed %s\n", str(r, "policy", "?"),
	       num(r->doc->root, "version", 0), str(r, "pushed_at", "?"));
	printf("hostname      %s\n", str(r, "hostname", "?"));
	printf("source hash   %s (%.0f files, %.0f bytes)\n", str(r, "source_hash", "?"),
	       num(r->doc->root, "files", 0), num(r->doc->root, "source_bytes", 0));
	for (const struct conf_node *s = svcs != NULL ? svcs->child : NULL; s != NULL;
	     s = s->next) {
		const struct conf_node *ports = conf_get(s, "ports");

		printf("service       %s port",
		       conf_get(s, "name") ? conf_get(s, "name")->str : "?");
		for (const struct conf_node *p = ports ? ports->child : NULL; p; p = p->next)
			printf("%s%s", p == ports->child ? " " : ",", p->str);
		printf("\n");
	}
	printf("lists\n");
	for (const struct conf_node *l = lists != NULL ? lists->child : NULL; l != NULL;
	     l = l->next)
		printf("  %-22s %s\n", l->key, l->str);
	printf("compile time  %.3f s, memory %.1f KiB\n", num(r->doc->root, "compile_seconds", 0),
	       num(r->doc->root, "memory_bytes", 0) / 1024.0);
}

/* print_services - "service NAME sessions N", then its non-zero verdicts */
static void
print_services(const struct conf_node *svcs)
{
	for (const struct conf_node *s = svcs != NULL ? svcs->child : NULL; s != NULL;
	     s = s->next) {
		const struct conf_node *name = conf_get(s, "name"), *v = conf_get(s, "verdicts");
		const char *nm = name != NULL && name->type == CONF_STRING ? name->str : "?";
		char key[128];

		snprintf(key, sizeof(key), "service %s sessions", nm);
		printf("%-40s %.0f\n", key, num(s, "sessions", 0));
		for (const struct conf_node *x = v != NULL ? v->child : NULL; x != NULL;
		     x = x->next)
			if (x->type == CONF_STRING && strtod(x->str, NULL) != 0) {
				snprintf(key, sizeof(key), "service %s verdicts %s", nm, x->key);
				printf("%-40s %s\n", key, x->str);
			}
	}
}

/* print_rules - "rule LIST ENTRY HITS (FILE:LINE)", then non-zero untracked hits */
static void
print_rules(const struct conf_node *rules, const struct conf_node *untracked)
{
	for (const struct conf_node *x = rules != NULL ? rules->child : NULL; x != NULL;
	     x = x->next) {
		const struct conf_node *l = conf_get(x, "list"), *e = conf_get(x, "entry"),
		                       *f = conf_get(x, "file");

		printf("rule %-20s %-20s %.0f (%s:%.0f)\n", l != NULL ? l->str : "?",
		       e != NULL ? e->str : "?", num(x, "hits", 0), f != NULL ? f->str : "?",
		       num(x, "line", 0));
	}
	for (const struct conf_node *x = untracked != NULL ? untracked->child : NULL; x != NULL;
	     x = x->next)
		if (x->type == CONF_STRING && strtod(x->str, NULL) != 0)
			printf("rule %-20s %-20s %s\n", x->key, "(untracked)", x->str);
}

static void
print_stats(const struct resp *r)
{
	/* the totals as name value lines, then each backend, as the gate sent them */
	const struct conf_node *c = conf_get(r->doc->root, "counters");
	const struct conf_node *b = conf_get(r->doc->root, "backends");
	const struct conf_node *l = conf_get(r->doc->root, "lcores");

	printf("%-40s %.0f\n", "policy_version", num(r->doc->root, "policy_version", 0));
	printf("%-40s %s\n", "draining", str(r, "draining", "?"));
	printf("%-40s %zu\n", "lcores", l != NULL ? l->n : 0);
	for (const struct conf_node *n = c != NULL ? c->child : NULL; n != NULL; n = n->next)
		if (n->type == CONF_STRING)
			printf("%-40s %s\n", n->key, n->str);
	for (const struct conf_node *n = b != NULL ? b->child : NULL; n != NULL; n = n->next) {
		const struct conf_node *addr = conf_get(n, "address"), *up = conf_get(n, "up");

		printf("backend %-32s %s\n", addr != NULL ? addr->str : "?",
		       up != NULL && strcmp(up->str, "true") == 0 ? "up" : "down");
	}
	print_services(conf_get(r->doc->root, "services"));
	print_rules(conf_get(r->doc->root, "rules"), conf_get(r->doc->root, "rules_untracked"));
}

static void
print_drain(const struct resp *r)
{
	(void)r;
	printf("draining: new sessions get 421, those in flight finish, then the gate exits\n");
}

int
ctl_explain_live(const struct explain_args *a, bool as_json)
{
	struct resp r;
	char *json = NULL;
	size_t jlen = 0;
	FILE *j = open_memstream(&json, &jlen);
	int rc;

	fprintf(j, "{\"cmd\":\"explain\",\"json\":%s,\"service\":", as_json ? "true" : "false");
	json_str(j, a->service);
	fprintf(j, ",\"client\":");
	json_str(j, a->client);
	if (a->auth_user != NULL) {
		fprintf(j, ",\"auth\":");
		json_str(j, a->auth_user);
	}
	if (a->helo != NULL) {
		fprintf(j, ",\"helo\":");
		json_str(j, a->helo);
	}
	if (a->from != NULL) {
		fprintf(j, ",\"from\":");
		json_str(j, a->from);
	}
	fprintf(j, ",\"rcpt\":[");
	for (size_t i = 0; i < a->nrcpt; i++) {
		fprintf(j, "%s", i ? "," : "");
		json_str(j, a->rcpts[i]);
	}
	fprintf(j, "]}");
	fclose(j);
	rc = request(json, jlen, NULL, 0, &r);
	free(json);
	if (rc != 0)
		return rc;
	if (!ok(&r)) {
		rc = failed(&r);
	} else {
		fputs(str(&r, "output", ""), stdout);
		fputs(str(&r, "errors_text", ""), stderr);
		rc = (int)num(r.doc->root, "exit", CTL_ERROR);
	}
	resp_free(&r);
	return rc;
}

int
cmd_live(const char *cmd, int argc, char **argv)
{
	bool as_json = argc == 2 && strcmp(argv[1], "--json") == 0;

	if (strcmp(cmd, "push") == 0)
		return cmd_push(argc, argv);
	if (argc > 2 || (argc == 2 && !as_json)) {
		fprintf(stderr, "usage: smtpgatectl [-s SOCKET] %s [--json]\n", cmd);
		return CTL_ERROR;
	}
	if (strcmp(cmd, "show") == 0)
		return simple("show", as_json, print_show);
	if (strcmp(cmd, "stats") == 0)
		return simple("stats", as_json, print_stats);
	return simple("drain", as_json, print_drain);
}

int
ctl_version(bool as_json, const char *ours, const char *hyperscan)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct resp r = {0};
	static const char req[] = "{\"cmd\":\"version\"}";
	bool gate = false;
	int fd;

	/* only ask when something listens there: version works without a gate */
	if (strlen(ctl_socket) < sizeof(sa.sun_path)) {
		strcpy(sa.sun_path, ctl_socket);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			gate = true;
		if (fd >= 0)
			close(fd);
	}
	if (gate && (request(req, sizeof(req) - 1, NULL, 0, &r) != 0 || !ok(&r)))
		gate = false;
	if (as_json) {
		printf("{\"smtpgatectl\":");
		json_str(stdout, ours);
		printf(",\"hyperscan\":");
		json_str(stdout, hyperscan);
		printf(",\"gate\":");
		if (gate)
			json_str(stdout, str(&r, "gate", "?"));
		else
			printf("null");
		printf("}\n");
	} else {
		printf("smtpgatectl %s (Hyperscan %s)\n", ours, hyperscan);
		if (gate)
			printf("gate at %s: %s (control protocol %.0f)\n", ctl_socket,
			       str(&r, "gate", "?"), num(r.doc->root, "protocol", 0));
	}
	if (r.doc != NULL || r.payload != NULL)
		resp_free(&r);
	return CTL_OK;
}
