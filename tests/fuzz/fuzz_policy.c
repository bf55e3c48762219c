/* fuzz_policy - the policy loader and compiler on arbitrary policy and list files
 *
 * The input is a policy file, optionally followed by the separator line
 * "%%list" and the text of a list file: every `file:PATH` the policy names
 * reads that text (a PATH containing "missing" is a file that does not
 * exist). pol_load() goes through an in-memory struct pol_source, as a
 * pushed bundle does in the gate; when it loads, pol_compile() builds the
 * snapshot and a few sessions are decided against it.
 *
 * Checked: a failure always comes with errors, and every error names a
 * file and (but for the few about the whole policy) a line; a success has
 * none; decisions give well-formed verdicts whose reply text could go to a
 * client as it is (a 4xx/5xx code, printable, bounded) and log lines
 * without newlines. Leaks are LeakSanitizer's.
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "pol.h"

#define POLICY_PATH "/fuzz/policy.conf"
#define SEP         "\n%%list\n"
#define MAX_INPUTS  6 /* lines of the list file also used as session inputs */

struct files {
	const uint8_t *policy, *list;
	size_t policy_len, list_len;
	unsigned reads;
};

/* src_read - the pol_source: the policy, the list text, or ENOENT */
static char *
src_read(void *arg, const char *path, size_t *len)
{
	struct files *f = arg;
	const uint8_t *p = f->list;
	size_t n = f->list_len;
	char *buf;

	f->reads++;
	if (strcmp(path, POLICY_PATH) == 0) {
		p = f->policy;
		n = f->policy_len;
	} else if (strstr(path, "missing") != NULL || p == NULL) {
		errno = ENOENT;
		return NULL;
	}
	buf = malloc(n + 1);
	if (buf == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* whole_file - the errors that concern no line */
static bool
whole_file(const char *msg)
{
	return strstr(msg, "hostname is required") != NULL ||
	       strstr(msg, "no service defined") != NULL ||
	       strstr(msg, "Hyperscan cannot compile") != NULL ||
	       strstr(msg, "cannot read") != NULL;
}

static void
check_errs(const struct pol_errs *e, bool failed)
{
	fz_check(!failed || e->total > 0, "a failure without an error");
	fz_check(failed || e->total == 0, "a success with %zu errors", e->total);
	fz_check(e->n <= e->total && e->n <= POL_ERRS_MAX, "errors n %zu total %zu", e->n,
	         e->total);
	for (size_t i = 0; i < e->n; i++) {
		const struct pol_err *x = &e->v[i];

		fz_check(x->file != NULL && x->file[0] != '\0', "error without a file: %s", x->msg);
		fz_check(x->msg != NULL && x->msg[0] != '\0', "error without a message");
		fz_check(x->line > 0 || whole_file(x->msg), "error without a line: %s:%u: %s",
		         x->file, x->line, x->msg);
		fz_check(strchr(x->msg, '\n') == NULL, "newline in an error: %s", x->msg);
	}
}

/* printable - text fit for a reply or a log line */
static void
printable(const char *s, size_t max, const char *what)
{
	size_t n = strnlen(s, max);

	fz_check(n < max, "%s not terminated within %zu", what, max);
	for (size_t i = 0; i < n; i++)
		fz_check((unsigned char)s[i] >= ' ' && s[i] != 0x7f, "byte %02x in %s: %s",
		         (unsigned char)s[i], what, s);
}

static void
check_verdict(const struct pol_snapshot *s, const struct pol_query *q, enum pol_stage stage,
              const struct pol_verdict *v)
{
	char log[2048];
	size_t n;

	printable(v->text, sizeof(v->text), "reply text");
	if (v->action == POL_ACCEPT) {
		fz_check(v->code == 0 && v->text[0] == '\0', "accepted with code %u", v->code);
		fz_check(v->reason == POL_R_ACCEPT || v->reason == POL_R_WHITELISTED,
		         "accepted for %s", pol_reason_name(v->reason));
		return;
	}
	fz_check(v->action == POL_REJECT, "action %d", v->action);
	fz_check(v->code >= 400 && v->code <= 599, "code %u", v->code);
	fz_check(strlen(v->text) >= 4 && (unsigned)atoi(v->text) == v->code && v->text[3] == ' ',
	         "reply \"%s\" for code %u", v->text, v->code);
	fz_check(v->rule == POL_NONE || pol_entry_get(s, v->rule) != NULL, "rule %u", v->rule);
	n = pol_format_reject(log, sizeof(log), stage, q, v, true);
	fz_check(n < sizeof(log), "log line of %zu", n);
	printable(log, sizeof(log), "log line");
}

/* inputs - the first lines of the list text, as HELO names and addresses */
static unsigned
inputs(const struct files *f, char in[MAX_INPUTS][POL_MAX_INPUT])
{
	static const char *const fixed[] = {"user@example.com", "", "mx.example.net"};
	unsigned n = 0;
	size_t at = 0;

	for (unsigned i = 0; i < 3; i++)
		snprintf(in[n++], POL_MAX_INPUT, "%s", fixed[i]);
	while (f->list != NULL && at < f->list_len && n < MAX_INPUTS) {
		const uint8_t *nl = memchr(f->list + at, '\n', f->list_len - at);
		size_t len = nl != NULL ? (size_t)(nl - f->list - at) : f->list_len - at;

		if (len >= POL_MAX_INPUT)
			len = POL_MAX_INPUT - 1;
		memcpy(in[n], f->list + at, len);
		in[n][len] = '\0';
		/* the engine hands over printable text only, without NULs */
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)in[n][i] < ' ' || in[n][i] == 0x7f)
				in[n][i] = '?';
		n++;
		at += len + 1;
	}
	return n;
}

/* sessions - decide every stage for each service, client and input */
static void
sessions(const struct pol_snapshot *s, const struct files *f)
{
	static const char *const clients[] = {"192.0.2.10", "10.1.2.3", "2001:db8::25",
	                                      "198.51.100.7"};
	const struct pol_model *m = pol_snapshot_model(s);
	char in[MAX_INPUTS][POL_MAX_INPUT];
	unsigned nin = inputs(f, in);

	for (unsigned sv = 0; sv < m->nservices; sv++) {
		fz_check(pol_service_find(s, m->services[sv].name) != NULL, "service %s not found",
		         m->services[sv].name);
		for (unsigned c = 0; c < 4; c++) {
			struct pol_query q = {.service = &m->services[sv]};
			struct pol_state st;
			struct pol_verdict v;

			fz_check(cidr_addr_parse(clients[c], &q.client) == 0, "address");
			pol_state_init(&st);
			pol_eval(s, NULL, &q, POL_CONNECT, &st, &v);
			check_verdict(s, &q, POL_CONNECT, &v);
			for (unsigned i = 0; i < nin; i++) {
				q.auth = (i & 1) != 0;
				q.auth_user = q.auth ? "user" : NULL;
				pol_state_forget(&st, POL_HELO);
				q.helo = in[i];
				pol_eval(s, NULL, &q, POL_HELO, &st, &v);
				check_verdict(s, &q, POL_HELO, &v);
				pol_state_forget(&st, POL_MAIL);
				q.sender = in[(i + 1) % nin];
				pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
				check_verdict(s, &q, POL_MAIL, &v);
				q.rcpt = in[(i + 2) % nin];
				pol_eval(s, NULL, &q, POL_RCPT, &st, &v);
				check_verdict(s, &q, POL_RCPT, &v);
				q.rcpt = NULL;
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct files f = {.policy = data, .policy_len = size};
	struct pol_source src = {.read = src_read, .arg = &f};
	struct pol_errs errs = {0};
	struct pol_snapshot *s;
	struct pol_model *m;
	struct pol_stats stats;
	const uint8_t *sep = memmem(data, size, SEP, sizeof(SEP) - 1);

	if (sep != NULL) {
		f.policy_len = (size_t)(sep - data);
		f.list = sep + sizeof(SEP) - 1;
		f.list_len = size - f.policy_len - (sizeof(SEP) - 1);
	}
	m = pol_load(POLICY_PATH, &src, &errs);
	check_errs(&errs, m == NULL);
	if (m == NULL)
		goto out;
	fz_check(m->nfiles >= 1 && strcmp(m->files[0], POLICY_PATH) == 0, "file table");
	fz_check(m->nservices >= 1 && m->nservices <= POL_MAX_SERVICES, "%u services",
	         m->nservices);
	s = pol_compile(m, &errs);
	check_errs(&errs, s == NULL);
	if (s != NULL) {
		pol_snapshot_stats(s, &stats);
		fz_check(stats.compile_seconds >= 0, "compile time");
		sessions(s, &f);
		pol_snapshot_free(s);
	}
out:
	pol_errs_free(&errs);
	pol_hs_cache_clear(); /* one fuzz input's databases must not pile up */
	return 0;
}
