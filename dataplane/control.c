/* control - the gate's control socket (see control.h)
 *
 * Protocol: tools/ctl_proto.h, one request and one response per
 * connection. Access: the socket file's mode and group (gate config), and
 * the peer's credentials checked again on every connection: root, the
 * gate's own user, or a member of the configured group. Anything malformed,
 * oversized or too slow gets an error answer (when one can still be sent)
 * and the connection is closed; the gate goes on undisturbed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>

#include "conf.h"
#include "control.h"
#include "sess.h"
#include "ctl.h"
#include "ctl_proto.h"
#include "lcore.h"
#include "pol.h"
#include "stats.h"

#define CONTROL_TIMEOUT_S 30 /* a client must send its whole request within this */

#ifndef SMTPGATE_VERSION
#define SMTPGATE_VERSION "0.1.0"
#endif

volatile bool gate_draining;

static pthread_t thread;
static bool running;
static volatile bool stopping;
static int lfd = -1;
static const struct gconf *gconf_;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct pol_reader *reader;

/* What show tells about the running policy. */
static char policy_label[4096];
static char pushed_at[32];
static uint64_t live_version;

/* now_text - the time as "2026-11-29T06:10:00Z" */
static void
now_text(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- answers ---- */

/* A JSON answer being written. */
struct answer {
	char *buf;
	size_t len;
	FILE *f;
};

static void
answer_begin(struct answer *a, bool ok)
{
	a->buf = NULL;
	a->len = 0;
	a->f = open_memstream(&a->buf, &a->len);
	if (a->f != NULL)
		fprintf(a->f, "{\"ok\":%s", ok ? "true" : "false");
}

/* answer_send - close the object and send it */
static void
answer_send(int fd, struct answer *a)
{
	if (a->f == NULL)
		return;
	fputc('}', a->f);
	fclose(a->f);
	ctl_send(fd, a->buf, a->len, NULL, 0);
	free(a->buf);
}

/* refuse - {"ok":false,"error":why} */
static void
refuse(int fd, const char *why)
{
	struct answer a;

	answer_begin(&a, false);
	if (a.f != NULL) {
		fprintf(a.f, ",\"error\":");
		json_str(a.f, why);
	}
	answer_send(fd, &a);
}

/* errors_json - ,"errors":[{file,line,message}...],"total":N */
static void
errors_json(FILE *f, const struct pol_errs *errs)
{
	fprintf(f, ",\"errors\":[");
	for (size_t i = 0; i < errs->n; i++) {
		fprintf(f, "%s{\"file\":", i ? "," : "");
		json_str(f, errs->v[i].file != NULL ? errs->v[i].file : "");
		fprintf(f, ",\"line\":%u,\"message\":", errs->v[i].line);
		json_str(f, errs->v[i].msg);
		fprintf(f, "}");
	}
	fprintf(f, "],\"total\":%zu", errs->total);
}

/* ---- push ---- */

/* bundle_read - the policy loader's reader over the files of a push */
static char *
bundle_read(void *arg, const char *path, size_t *len)
{
	const struct ctl_msg *m = arg;
	size_t pl = strlen(path);

	for (unsigned i = 0; i < m->nfiles; i++) {
		const struct ctl_file *f = &m->files[i];
		char *copy;

		if (f->path_len != pl || memcmp(f->path, path, pl) != 0)
			continue;
		if ((copy = malloc(f->len + 1)) == NULL) {
			errno = ENOMEM;
			return NULL;
		}
		memcpy(copy, f->data, f->len);
		copy[f->len] = '\0';
		*len = f->len;
		return copy;
	}
	errno = ENOENT; /* "cannot read PATH: No such file": not sent with the push */
	return NULL;
}

static void
do_push(int fd, const struct conf_node *req, const struct ctl_msg *m)
{
	struct pol_source src = {.read = bundle_read, .arg = (void *)m};
	const struct conf_node *mainf = conf_get(req, "main");
	struct pol_errs errs = {0};
	struct pol_model *model;
	struct pol_snapshot *s = NULL;
	struct answer a;
	uint64_t v = 0;
	char label[sizeof(policy_label)];

	if (mainf == NULL || mainf->type != CONF_STRING || mainf->len == 0 ||
	    mainf->len >= sizeof(label)) {
		refuse(fd, "push: no \"main\" policy file named");
		return;
	}
	snprintf(label, sizeof(label), "%s", mainf->str);
	model = pol_load(label, &src, &errs);
	if (model != NULL)
		s = pol_compile(model, &errs);
	if (s != NULL && sess_tls_attach(s, &errs) < 0) {
		/* a certificate that does not load keeps the running policy */
		pol_snapshot_free(s);
		s = NULL;
	}
	if (s != NULL) {
		struct pol_stats st;

		pol_snapshot_stats(s, &st);
		answer_begin(&a, true);
		if (a.f != NULL) {
			/* the summary before publishing: s belongs to RCU afterwards */
			fprintf(a.f, ",\"policy\":");
			json_str(a.f, label);
			fputc(',', a.f);
			ctl_summary_json(a.f, s);
			fflush(a.f);
		}
		v = pol_publish(s, &errs);
	}
	if (v == 0) {
		if (s != NULL && a.f != NULL) {
			fclose(a.f);
			free(a.buf);
		}
		answer_begin(&a, false);
		if (a.f != NULL) {
			fprintf(a.f, ",\"error\":\"the policy was not published\"");
			errors_json(a.f, &errs);
		}
		answer_send(fd, &a);
		fprintf(stderr, "smtpgate: push of %s refused: %zu errors\n", label, errs.total);
		pol_errs_free(&errs);
		return;
	}
	live_version = v;
	snprintf(policy_label, sizeof(policy_label), "%s", label);
	now_text(pushed_at, sizeof(pushed_at));
	if (a.f != NULL)
		fprintf(a.f, ",\"version\":%lu,\"pushed_at\":\"%s\"", (unsigned long)v, pushed_at);
	answer_send(fd, &a);
	printf("smtpgate: policy %s pushed: version %lu\n", label, (unsigned long)v);
	fflush(stdout);
	pol_errs_free(&errs);
}

/* ---- show, explain ---- */

static void
do_show(int fd)
{
	struct answer a;

	answer_begin(&a, true);
	if (a.f == NULL)
		return;
	pol_reader_online(reader);
	fprintf(a.f, ",\"gate\":\"smtpgate %s\",\"policy\":", SMTPGATE_VERSION);
	json_str(a.f, policy_label);
	fprintf(a.f, ",\"version\":%lu,\"pushed_at\":\"%s\",\"draining\":%s,",
	        (unsigned long)live_version, pushed_at, gate_draining ? "true" : "false");
	ctl_summary_json(a.f, pol_live(reader));
	pol_quiescent(reader);
	pol_reader_offline(reader);
	answer_send(fd, &a);
}

/* member - a string member of the request, or NULL */
static const char *
member(const struct conf_node *req, const char *key)
{
	const struct conf_node *n = conf_get(req, key);

	return n != NULL && n->type == CONF_STRING ? n->str : NULL;
}

static void
do_explain(int fd, const struct conf_node *req)
{
	const struct conf_node *rl = conf_get(req, "rcpt");
	const char *rcpts[1000];
	struct explain_args args = {
	        .service = member(req, "service"),
	        .client = member(req, "client"),
	        .auth_user = member(req, "auth"),
	        .helo = member(req, "helo"),
	        .from = member(req, "from"),
	        .rcpts = rcpts,
	};
	const char *j = member(req, "json");
	char *out = NULL, *err = NULL, label[sizeof(policy_label) + 64];
	size_t olen = 0, elen = 0;
	FILE *fo, *fe;
	struct answer a;
	int rc;

	if (args.service == NULL || args.client == NULL) {
		refuse(fd, "explain: service and client are required");
		return;
	}
	for (const struct conf_node *r = rl != NULL ? rl->child : NULL; r != NULL; r = r->next) {
		if (args.nrcpt == sizeof(rcpts) / sizeof(rcpts[0]) || r->type != CONF_STRING) {
			refuse(fd, "explain: at most 1000 recipients, as strings");
			return;
		}
		rcpts[args.nrcpt++] = r->str;
	}
	snprintf(label, sizeof(label), "%s (live, version %lu)", policy_label,
	         (unsigned long)live_version);
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	if (fo == NULL || fe == NULL) {
		refuse(fd, "out of memory");
		return;
	}
	pol_reader_online(reader);
	rc = explain_play(pol_live(reader), reader, label, &args,
	                  j != NULL && strcmp(j, "true") == 0, fo, fe);
	pol_quiescent(reader);
	pol_reader_offline(reader);
	fclose(fo);
	fclose(fe);
	answer_begin(&a, true);
	if (a.f != NULL) {
		fprintf(a.f, ",\"exit\":%d,\"output\":", rc);
		json_str(a.f, out);
		fprintf(a.f, ",\"errors_text\":");
		json_str(a.f, err);
	}
	answer_send(fd, &a);
	free(out);
	free(err);
}

/* ---- stats ---- */

/* metric_json - "name" or "name_label": value, for every metric of the table */
static void
metrics_json(FILE *f, const struct stats_lcore *l)
{
	size_t n;
	const struct stats_metric *m = stats_metrics(&n);
	bool first = true;

	for (size_t i = 0; i < n; i++)
		for (unsigned k = 0; k < m[i].n; k++) {
			size_t nl = strlen(m[i].name);
			bool total = nl > 6 && strcmp(m[i].name + nl - 6, "_total") == 0;

			fprintf(f, "%s\"%.*s%s%s\":%lu", first ? "" : ",",
			        (int)(total ? nl - 6 : nl), m[i].name, m[i].v[k].label ? "_" : "",
			        m[i].v[k].label ? m[i].v[k].label : "",
			        (unsigned long)stats_get(l, &m[i].v[k]));
			first = false;
		}
}

/* services_json - "services":[{"name":..,"sessions":N,"verdicts":{reason:N,...}},...] */
static void
services_json(FILE *f, const struct gate_stats *gs)
{
	fprintf(f, ",\"services\":[");
	for (unsigned s = 0; s < gs->nservices; s++) {
		fprintf(f, "%s{\"name\":", s ? "," : "");
		json_str(f, gs->service[s].name);
		fprintf(f, ",\"sessions\":%lu,\"verdicts\":{",
		        (unsigned long)gs->service[s].sessions);
		for (unsigned r = 0; r < POL_R_COUNT; r++)
			fprintf(f, "%s\"%s\":%lu", r ? "," : "",
			        pol_reason_name((enum pol_reason)r),
			        (unsigned long)gs->service[s].verdicts[r]);
		fprintf(f, "}}");
	}
	fputc(']', f);
}

/* rules_json - "rules":[{"list","entry","file","line","hits"},...] and
 * "rules_untracked":{list:N,...} */
static void
rules_json(FILE *f, const struct stats_rules *rs)
{
	fprintf(f, ",\"rules\":[");
	for (size_t i = 0; i < rs->n; i++) {
		const struct stats_rule *r = &rs->rule[i];

		fprintf(f, "%s{\"list\":\"%s\",\"entry\":", i ? "," : "", pol_list_name(r->list));
		json_str(f, r->entry);
		fprintf(f, ",\"file\":");
		json_str(f, r->file);
		fprintf(f, ",\"line\":%u,\"hits\":%lu}", r->line, (unsigned long)r->hits);
	}
	fprintf(f, "],\"rules_untracked\":{");
	for (unsigned l = 0; l < POL_L_COUNT; l++)
		fprintf(f, "%s\"%s\":%lu", l ? "," : "", pol_list_name((enum pol_list)l),
		        (unsigned long)rs->untracked[l]);
	fputc('}', f);
}

/* do_stats - every counter of the table: summed, per lcore, the backends,
 * the services and the rules */
static void
do_stats(int fd)
{
	struct gate_stats *gs = malloc(sizeof(*gs));
	struct stats_rules rs;
	struct answer a;

	if (gs == NULL || stats_rules_collect(&rs) < 0) {
		free(gs);
		refuse(fd, "out of memory");
		return;
	}
	stats_collect(gs, reader);
	answer_begin(&a, true);
	if (a.f != NULL) {
		fprintf(a.f, ",\"policy_version\":%lu,\"draining\":%s,\"counters\":{",
		        (unsigned long)gs->policy_version, gs->draining ? "true" : "false");
		metrics_json(a.f, &gs->total);
		fprintf(a.f, "},\"lcores\":[");
		for (unsigned i = 0; i < gs->nlcores; i++) {
			fprintf(a.f, "%s{\"lcore\":%u,\"counters\":{", i ? "," : "",
			        gs->lcore[i].lcore_id);
			metrics_json(a.f, &gs->lcore[i]);
			fprintf(a.f, "}}");
		}
		fprintf(a.f, "],\"backends\":[");
		for (unsigned i = 0; i < gs->nbackends; i++) {
			fprintf(a.f, "%s{\"address\":", i ? "," : "");
			json_str(a.f, gs->backend[i].name);
			fprintf(a.f, ",\"up\":%s,\"lcores_down\":%u}",
			        gs->backend[i].up ? "true" : "false", gs->backend[i].lcores_down);
		}
		fputc(']', a.f);
		services_json(a.f, gs);
		rules_json(a.f, &rs);
	}
	answer_send(fd, &a);
	stats_rules_free(&rs);
	free(gs);
}

/* ---- the connection ---- */

/* in_group - whether process pid has gid among its groups (/proc/PID/status) */
static bool
in_group(pid_t pid, gid_t gid)
{
	char path[64], line[4096];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (char *p = line + 7, *end; *p != '\0'; p = end) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			if (g == gid)
				found = true;
		}
	}
	fclose(f);
	return found;
}

/* allowed - root, our own user, or a member of the configured group */
static bool
allowed(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	if (cr.uid == 0 || cr.uid == geteuid())
		return true;
	return gconf_->control_gid >= 0 && (cr.gid == (gid_t)gconf_->control_gid ||
	                                    in_group(cr.pid, (gid_t)gconf_->control_gid));
}

static void
serve(int fd)
{
	struct timeval tv = {.tv_sec = CONTROL_TIMEOUT_S};
	struct pol_errs errs = {0};
	struct ctl_file *files = NULL;
	struct conf_doc *doc = NULL;
	const char *why = NULL, *cmd;
	struct ctl_msg m;
	char *payload = NULL;
	size_t len;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!allowed(fd)) {
		refuse(fd, "permission denied");
		return;
	}
	if (ctl_recv(fd, &payload, &len, CTL_MAX_REQUEST, &why) < 0) {
		refuse(fd, why);
		return;
	}
	files = calloc(CTL_MAX_FILES, sizeof(*files));
	if (files == NULL || ctl_split(payload, len, &m, files, CTL_MAX_FILES, &why) < 0) {
		refuse(fd, files == NULL ? "out of memory" : why);
		goto out;
	}
	doc = conf_parse("request", m.json, m.json_len, &errs);
	cmd = doc != NULL ? member(doc->root, "cmd") : NULL;
	if (cmd == NULL)
		refuse(fd, "malformed request: a JSON object with \"cmd\" expected");
	else if (strcmp(cmd, "push") == 0)
		do_push(fd, doc->root, &m);
	else if (m.nfiles > 0)
		refuse(fd, "only push takes files");
	else if (strcmp(cmd, "show") == 0)
		do_show(fd);
	else if (strcmp(cmd, "explain") == 0)
		do_explain(fd, doc->root);
	else if (strcmp(cmd, "stats") == 0)
		do_stats(fd);
	else if (strcmp(cmd, "drain") == 0) {
		struct answer a;

		gate_draining = true;
		answer_begin(&a, true);
		answer_send(fd, &a);
	} else if (strcmp(cmd, "version") == 0) {
		struct answer a;

		answer_begin(&a, true);
		if (a.f != NULL)
			fprintf(a.f, ",\"gate\":\"smtpgate %s\",\"protocol\":%d", SMTPGATE_VERSION,
			        CTL_PROTO_VERSION);
		answer_send(fd, &a);
	} else
		refuse(fd, "unknown command");
out:
	conf_free(doc);
	pol_errs_free(&errs);
	free(files);
	free(payload);
}

/* linger_close - close after the peer has read our answer: what it still
 * sends is read and dropped for a moment, so that the close does not reset
 * the connection under the answer */
static void
linger_close(int fd)
{
	struct timeval tv = {.tv_usec = 200000};
	char sink[4096];
	size_t total = 0;
	ssize_t n;

	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (total < (1u << 20) && (n = read(fd, sink, sizeof(sink))) > 0)
		total += (size_t)n;
	close(fd);
}

static void *
control_main(void *arg)
{
	(void)arg;
	reader = pol_reader_register();
	if (reader != NULL)
		pol_reader_offline(reader);
	while (!stopping) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (reader == NULL)
			refuse(fd, "no RCU reader slot for the control thread");
		else
			serve(fd);
		linger_close(fd);
	}
	if (reader != NULL) {
		pol_reader_online(reader);
		pol_reader_unregister(reader);
	}
	return NULL;
}

/* bind_socket - the listening socket; a stale file is replaced, a live gate's is not */
static int
bind_socket(const struct gconf *gc)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[sizeof(sa.sun_path)];
	int fd, n;

	if (gc->control_socket[0] != '\0')
		n = snprintf(path, sizeof(path), "%s", gc->control_socket);
	else
		n = snprintf(path, sizeof(path), "%s/smtpgate.sock", rte_eal_get_runtime_dir());
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, "smtpgate: control socket path too long\n");
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		fprintf(stderr, "smtpgate: another gate answers on the control socket %s\n", path);
		close(fd);
		return -1;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, gc->control_mode) < 0 ||
	    (gc->control_gid >= 0 && chown(path, (uid_t)-1, (gid_t)gc->control_gid) < 0) ||
	    listen(fd, 16) < 0) {
		fprintf(stderr, "smtpgate: control socket %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s", path);
	printf("smtpgate: control socket %s\n", path);
	return fd;
}

int
control_start(const struct gconf *gc, const char *policy_path, uint64_t version)
{
	gconf_ = gc;
	snprintf(policy_label, sizeof(policy_label), "%s", policy_path);
	now_text(pushed_at, sizeof(pushed_at));
	live_version = version;
	if ((lfd = bind_socket(gc)) < 0)
		return -1;
	if (pthread_create(&thread, NULL, control_main, NULL) != 0) {
		fprintf(stderr, "smtpgate: cannot start the control thread\n");
		close(lfd);
		unlink(sock_path);
		return -1;
	}
	running = true;
	return 0;
}

void
control_stop(void)
{
	if (!running)
		return;
	stopping = true;
	pthread_join(thread, NULL);
	close(lfd);
	unlink(sock_path);
	running = false;
}
