/* test_load - the policy file's schema: what loads, and every error with its file:line */
#include <unistd.h>

#include "tap.h"
#include "testlib.h"

#define HEAD "hostname = mx.example;\n"
#define SVC  "service mx { ports = [ 25 ]; }\n"

struct err_case {
	const char *name;
	const char *text;
	const char *list_file; /* written as list.txt beside the policy, or NULL */
	const char *errors[4]; /* "FILE:LINE: substring" with FILE policy.conf or list.txt */
};

static const struct err_case err_cases[] = {
        {"unknown top-level key",
         HEAD "lan = [ 10.0.0.0/8 ];\nfrobnicate = yes;\n" SVC,
         NULL,
         {"policy.conf:3: unknown key \"frobnicate\""}},
        {"unknown key in a service",
         HEAD "service mx {\n ports = 25;\n colour = blue;\n}\n",
         NULL,
         {"policy.conf:4: unknown key \"colour\" in service mx"}},
        {"unknown key in blacklist",
         HEAD SVC "blacklist {\n  client = [ 192.0.2.1 ];\n}\n",
         NULL,
         {"policy.conf:4: unknown key \"client\" in blacklist"}},
        {"bad CIDR",
         HEAD SVC "lan = [\n 10.0.0.0/8,\n 10.300.0.0/16,\n];\n",
         NULL,
         {"policy.conf:5: lan: bad address or CIDR \"10.300.0.0/16\""}},
        {"host bits set",
         HEAD SVC "lan = [ 192.168.1.1/24 ];\n",
         NULL,
         {"policy.conf:3: lan: bad address or CIDR \"192.168.1.1/24\""}},
        {"bad v6 prefix length",
         HEAD SVC "relay { allow_clients = [ \"2001:db8::/129\" ]; }\n",
         NULL,
         {"policy.conf:3: relay.allow_clients: bad address or CIDR"}},
        {"bad CIDR in a list file",
         HEAD SVC "blacklist { clients = \"file:list.txt\"; }\n",
         "# header\n192.0.2.0/24\n\n  192.0.2.999  # comment\n",
         {"list.txt:4: blacklist.clients: bad address or CIDR \"192.0.2.999\""}},
        {"two entries on a line of a list file",
         HEAD SVC "blacklist { senders = \"file:list.txt\"; }\n",
         "a@b.example c@d.example\n",
         {"list.txt:1: blacklist.senders: one entry per line"}},
        {"missing list file",
         HEAD SVC "blacklist {\n senders = [ \"file:nope.txt\" ];\n}\n",
         NULL,
         {"policy.conf:4: blacklist.senders: cannot read"}},
        {"regex Hyperscan refuses",
         HEAD SVC "blacklist {\n helo = [\n \"/a(b/\" ];\n}\n",
         NULL,
         {"policy.conf:5: blacklist.helo: Hyperscan refuses /a(b/"}},
        {"regex with a backreference",
         HEAD SVC "blacklist { senders = [ \"/(a)\\\\1/\" ]; }\n",
         NULL,
         {"policy.conf:3: blacklist.senders: Hyperscan refuses"}},
        {"unterminated regex",
         HEAD SVC "blacklist { senders = [ \"/abc\" ]; }\n",
         NULL,
         {"policy.conf:3: blacklist.senders: a regular expression is written /regex/"}},
        {"null sender as a recipient",
         HEAD SVC "whitelist { recipients = [ \"<>\" ]; }\n",
         NULL,
         {"policy.conf:3: whitelist.recipients: <> (the null sender) only makes sense"}},
        {"glob in local_domains",
         HEAD SVC "local_domains = [ \"*.example\" ];\n",
         NULL,
         {"policy.conf:3: local_domains: plain names and .domain only"}},
        {"address in helo list",
         HEAD SVC "blacklist { helo = [ \"a@b.example\" ]; }\n",
         NULL,
         {"policy.conf:3: blacklist.helo: a HELO entry is a host name"}},
        {"empty label",
         HEAD SVC "local_domains = [ \"a..example\" ];\n",
         NULL,
         {"policy.conf:3: local_domains: empty label in domain"}},
        {"missing hostname", SVC, NULL, {"policy.conf: hostname is required"}},
        {"no service", HEAD, NULL, {"policy.conf: no service defined"}},
        {"duplicate service",
         HEAD SVC "service mx { ports = 26; }\n",
         NULL,
         {"policy.conf:3: duplicate service \"mx\" (first at"}},
        {"port used twice",
         HEAD SVC "service sub {\n ports = [ 587, 25 ];\n}\n",
         NULL,
         {"policy.conf:3: port 25 is already used by service mx"}},
        {"port out of range",
         HEAD "service mx {\n ports = [ 70000 ];\n}\n",
         NULL,
         {"policy.conf:3: ports: 70000 is out of range"}},
        {"bad boolean",
         HEAD "service mx {\n ports = 25;\n delay_reject = maybe;\n}\n",
         NULL,
         {"policy.conf:4: delay_reject: expected true or false"}},
        {"bad handoff",
         HEAD SVC "backend {\n address = 10.0.0.1;\n handoff = smtp;\n}\n",
         NULL,
         {"policy.conf:5: handoff: expected xclient, proxy-v1, proxy-v2 or none"}},
        {"bad backend address",
         HEAD SVC "backend {\n address = [ \"10.0.0.1:99999\" ];\n}\n",
         NULL,
         {"policy.conf:4: backend address: expected IP or IP:PORT"}},
        {"backend without address",
         HEAD SVC "backend {\n port = 25;\n}\n",
         NULL,
         {"policy.conf:3: backend: address is required"}},
        {"bad backend_connect",
         HEAD "service mx {\n ports = 25;\n backend_connect = helo;\n}\n",
         NULL,
         {"policy.conf:4: backend_connect: expected rcpt or data"}},
        {"bad timeout",
         HEAD "service mx {\n ports = 25;\n command_timeout = soon;\n}\n",
         NULL,
         {"policy.conf:4: command_timeout"}},
        {"connection count limit out of range",
         HEAD "service mx {\n ports = 25;\n client_connection_count_limit = 70000;\n}\n",
         NULL,
         {"policy.conf:4: client_connection_count_limit: 70000 is out of range"}},
        {"negative connection rate limit",
         HEAD "service mx {\n ports = 25;\n client_connection_rate_limit = -1;\n}\n",
         NULL,
         {"policy.conf:4: client_connection_rate_limit"}},
        {"rate unit not whole seconds",
         HEAD "service mx {\n ports = 25;\n client_rate_time_unit = 1500ms;\n}\n",
         NULL,
         {"policy.conf:4: client_rate_time_unit: whole seconds between 1s and 1h"}},
        {"rate unit too long",
         HEAD "service mx {\n ports = 25;\n\n client_rate_time_unit = 2h;\n}\n",
         NULL,
         {"policy.conf:5: client_rate_time_unit: whole seconds between 1s and 1h"}},
        {"rate unit not a duration",
         HEAD "service mx {\n ports = 25;\n client_rate_time_unit = often;\n}\n",
         NULL,
         {"policy.conf:4: client_rate_time_unit"}},
        {"duplicate key",
         HEAD SVC "lan = [ 10.0.0.0/8 ];\nlan = [ 11.0.0.0/8 ];\n",
         NULL,
         {"policy.conf:4: duplicate key \"lan\""}},
        {"nested list",
         HEAD SVC "lan = [ [ 10.0.0.0/8 ] ];\n",
         NULL,
         {"policy.conf:3: lan: entries are strings, not nested lists"}},
        {"syntax error", HEAD SVC "lan = [ 10.0.0.0/8 \n", NULL, {"policy.conf:"}},
        {"bad tls",
         HEAD "service mx {\n ports = 25;\n tls = maybe;\n}\n",
         NULL,
         {"policy.conf:4: tls: expected off, optional or required, got \"maybe\""}},
        {"tls without certificates",
         HEAD "service mx {\n ports = 25;\n tls = required;\n}\n",
         NULL,
         {"policy.conf:2: service mx: tls = required needs tls_cert and tls_key"}},
        {"more certificates than keys",
         HEAD "service mx {\n ports = 25;\n tls = optional;\n tls_cert = [ list.txt, "
              "list.txt ];\n tls_key = list.txt;\n}\n",
         "-----BEGIN CERTIFICATE-----\n",
         {"policy.conf:2: service mx: 2 tls_cert files but 1 tls_key files"}},
        {"missing certificate file",
         HEAD "service mx {\n ports = 25;\n tls = optional;\n tls_cert = [\n nope.pem ];\n"
              " tls_key = list.txt;\n}\n",
         "-----BEGIN PRIVATE KEY-----\n",
         {"policy.conf:6: tls_cert: cannot read"}},
        {"key file that is not PEM",
         HEAD "service mx {\n ports = 25;\n tls = optional;\n tls_cert = c.pem;\n"
              " tls_key = list.txt;\n}\n",
         "just some text\n",
         {"policy.conf:6: tls_key:", "policy.conf:5: tls_cert: cannot read"}},
        {"bad tls_protocols",
         HEAD "service mx {\n ports = 25;\n tls_protocols = [ TLSv1.3,\n SSLv3 ];\n}\n",
         NULL,
         {"policy.conf:5: tls_protocols: expected TLSv1.2 or TLSv1.3, got \"SSLv3\""}},
        {"too many certificates",
         HEAD "service mx {\n ports = 25;\n tls = optional;\n tls_cert = [ a, b, c, d,\n e ];\n"
              " tls_key = [ a, b, c, d, e ];\n}\n",
         NULL,
         {"policy.conf:6: tls_cert: more than 4"}},
        {"all errors are reported",
         HEAD "service mx {\n ports = 25;\n bogus = 1;\n}\n"
              "lan = [ 10.0.0.0/33 ];\n"
              "blacklist {\n senders = [ \"/[/\" ];\n}\n",
         NULL,
         {"policy.conf:4: unknown key \"bogus\"", "policy.conf:6: lan: bad address",
          "policy.conf:8: blacklist.senders: Hyperscan refuses"}},
};

/* has_error - an error at FILE:LINE (basename) containing the substring */
static bool
has_error(const struct pol_errs *errs, const char *want)
{
	char buf[1024];

	for (size_t i = 0; i < errs->n; i++) {
		const char *base = strrchr(errs->v[i].file, '/');

		base = base != NULL ? base + 1 : errs->v[i].file;
		if (errs->v[i].line > 0)
			snprintf(buf, sizeof(buf), "%s:%u: %s", base, errs->v[i].line,
			         errs->v[i].msg);
		else
			snprintf(buf, sizeof(buf), "%s: %s", base, errs->v[i].msg);
		if (strncmp(buf, want, strlen(want)) == 0)
			return true;
	}
	return false;
}

static void
test_errors(void)
{
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		struct pol_errs errs = {0};
		struct pol_snapshot *s;
		size_t want = 0;

		unlink(write_file("list.txt", c->list_file != NULL ? c->list_file : ""));
		if (c->list_file != NULL)
			write_file("list.txt", c->list_file);
		s = load_text("policy.conf", c->text, &errs);
		ok(s == NULL, "%s: refused", c->name);
		for (; want < 4 && c->errors[want] != NULL; want++) {
			if (!ok(has_error(&errs, c->errors[want]), "%s: reports %s", c->name,
			        c->errors[want]))
				pol_errs_print(&errs, stdout);
		}
		if (want > 1)
			is_int(errs.total, want, "%s: exactly %zu errors", c->name, want);
		pol_snapshot_free(s);
		pol_errs_free(&errs);
	}
}

/* test_json - JSON is UCL: the same policy in both forms compiles the same */
static void
test_json(void)
{
	struct pol_snapshot *u =
	        must_load("u.conf", "hostname = mx.example;\n"
	                            "local_domains = [ a.example, .b.example ];\n"
	                            "lan = [ 10.0.0.0/8 ];\n"
	                            "blacklist { senders = [ \"*@x.example\", \"/^y/\" ]; }\n"
	                            "service mx { ports = [ 25 ]; delay_reject = true; }\n"
	                            "backend { address = [ \"[2001:db8::5]:2525\", 10.0.0.5 ]; "
	                            "handoff = proxy-v2; }\n");
	struct pol_snapshot *j = must_load(
	        "j.json", "{\"hostname\": \"mx.example\",\n"
	                  " \"local_domains\": [\"a.example\", \".b.example\"],\n"
	                  " \"lan\": [\"10.0.0.0/8\"],\n"
	                  " \"blacklist\": {\"senders\": [\"*@x.example\", \"/^y/\"]},\n"
	                  " \"service\": {\"mx\": {\"ports\": [25], \"delay_reject\": true}},\n"
	                  " \"backend\": {\"address\": [\"[2001:db8::5]:2525\", \"10.0.0.5\"],"
	                  " \"handoff\": \"proxy-v2\"}}\n");
	struct pol_stats a, b;
	const struct pol_model *mu = pol_snapshot_model(u), *mj = pol_snapshot_model(j);

	pol_snapshot_stats(u, &a);
	pol_snapshot_stats(j, &b);
	ok(memcmp(a.nlist, b.nlist, sizeof(a.nlist)) == 0 &&
	           memcmp(a.nkind, b.nkind, sizeof(a.nkind)) == 0,
	   "JSON and UCL forms give the same lists");
	ok(mj->services[0].delay_reject && mj->nservices == 1 && mj->services[0].ports[0] == 25,
	   "JSON service section");
	ok(mu->backend.naddr == 2 && mu->backend.port[0] == 2525 && mu->backend.port[1] == 25 &&
	           mu->backend.addr[0].family == 6 && mu->backend.handoff == POL_HANDOFF_PROXY_V2,
	   "backend addresses with and without ports");
	ok(mj->backend.naddr == 2 && mj->backend.handoff == POL_HANDOFF_PROXY_V2, "JSON backend");
	pol_snapshot_free(u);
	pol_snapshot_free(j);
}

/* test_defaults_and_values - what a service gets when the file is silent, and units */
static void
test_defaults_and_values(void)
{
	struct pol_snapshot *s = must_load(
	        "v.conf", "hostname = mx.example;\n"
	                  "service a { ports = 25; }\n"
	                  "service b { ports = [ 587, 465 ]; message_size_limit = 50mb;\n"
	                  "  command_timeout = 2min; session_timeout = 1h; max_errors = 5;\n"
	                  "  max_recipients = 250; banner = \"$hostname ESMTP ready\";\n"
	                  "  require_auth = yes; backend_connect = data; }\n");
	const struct pol_service *a = pol_service_find(s, "a"), *b = pol_service_find(s, "B");

	ok(a != NULL && !a->require_auth && !a->delay_reject && !a->reject_remote_local_helo &&
	           !a->reject_nonlocal_senders_claiming_local,
	   "switches default to off");
	ok(a != NULL && a->max_recipients == 1000 && a->message_size_limit == 10240000 &&
	           a->command_timeout_ms == 300000 && a->max_errors == 20 &&
	           a->backend_at == POL_BACKEND_AT_RCPT,
	   "limits default as Postfix's");
	is_str(a != NULL ? a->banner : "", "mx.example ESMTP", "default banner");
	ok(b != NULL && b->message_size_limit == 50ull * 1024 * 1024 &&
	           b->command_timeout_ms == 120000 && b->session_timeout_ms == 3600000 &&
	           b->max_errors == 5 && b->max_recipients == 250 && b->require_auth &&
	           b->backend_at == POL_BACKEND_AT_DATA && b->nports == 2,
	   "values with units");
	is_str(b != NULL ? b->banner : "", "mx.example ESMTP ready", "$hostname in the banner");
	ok(pol_service_by_port(s, 465) == b && pol_service_by_port(s, 26) == NULL,
	   "service by port");
	pol_snapshot_free(s);
}

/* test_client_limits - the per-client limit keys, and who is exempt from them */
static void
test_client_limits(void)
{
	struct pol_snapshot *s = must_load(
	        "l.conf", "hostname = mx.example;\n"
	                  "lan = [ 10.0.0.0/8, \"2001:db8:1::/48\" ];\n"
	                  "whitelist { clients = [ 192.0.2.7 ]; }\n"
	                  "blacklist { clients = [ 192.0.2.8 ]; }\n"
	                  "service a { ports = 25; }\n"
	                  "service b { ports = 26; client_connection_count_limit = 10;\n"
	                  "  client_connection_rate_limit = 30; client_rate_time_unit = 2min; }\n");
	const struct pol_service *a = pol_service_find(s, "a"), *b = pol_service_find(s, "b");
	static const struct {
		const char *addr;
		bool exempt;
	} who[] = {
	        {"10.1.2.3", true},                             /* lan */
	        {"2001:db8:1:5::9", true}, {"192.0.2.7", true}, /* whitelist.clients */
	        {"192.0.2.8", false}, /* blacklisted: the limits still apply */
	        {"192.0.2.9", false},      {"2001:db8:2::1", false},
	};

	ok(a != NULL && a->client_conn_limit == 0 && a->client_rate_limit == 0 &&
	           a->client_rate_unit_s == 60,
	   "client limits default to off, with Postfix's 60 s time unit");
	ok(b != NULL && b->client_conn_limit == 10 && b->client_rate_limit == 30 &&
	           b->client_rate_unit_s == 120,
	   "client limits and time unit as written");
	for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		struct cidr c;

		cidr_parse(who[i].addr, &c);
		ok((pol_limit_exempt(s, &c) != POL_NONE) == who[i].exempt, "%s is %sexempt",
		   who[i].addr, who[i].exempt ? "" : "not ");
	}
	pol_snapshot_free(s);
}

/* test_tls - tls keys: the PEM text is read through the source, protocols default to both */
static void
test_tls(void)
{
	static const char cert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	static const char key[] = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
	struct pol_snapshot *s;
	const struct pol_service *a, *b, *c;

	write_file("rsa.pem", cert);
	write_file("rsa.key", key);
	write_file("ec.pem", cert);
	write_file("ec.key", key);
	s = must_load("t.conf",
	              "hostname = mx.example;\n"
	              "service a { ports = 25; }\n"
	              "service b { ports = 587; tls = required;\n"
	              "  tls_cert = [ rsa.pem, ec.pem ]; tls_key = [ rsa.key, ec.key ]; }\n"
	              "service c { ports = 465; tls = optional; tls_cert = ec.pem;\n"
	              "  tls_key = ec.key; tls_protocols = TLSv1.3; }\n");
	a = pol_service_find(s, "a");
	b = pol_service_find(s, "b");
	c = pol_service_find(s, "c");
	ok(a != NULL && a->tls == POL_TLS_OFF && a->ntls_certs == 0, "tls defaults to off");
	ok(b != NULL && b->tls == POL_TLS_REQUIRED && b->ntls_certs == 2 &&
	           b->tls_protocols == (POL_TLS_V1_2 | POL_TLS_V1_3),
	   "required, two chains, both protocols by default");
	ok(b != NULL && b->tls_certs[0].cert_len == sizeof(cert) - 1 &&
	           strcmp(b->tls_certs[0].cert, cert) == 0 &&
	           strcmp(b->tls_certs[1].key, key) == 0 && b->tls_certs[1].line == 4 &&
	           strstr(b->tls_certs[1].cert_path, "ec.pem") != NULL,
	   "the PEM text is kept, with where it was named");
	ok(c != NULL && c->tls == POL_TLS_OPTIONAL && c->tls_protocols == POL_TLS_V1_3 &&
	           c->ntls_certs == 1,
	   "optional, TLS 1.3 only");
	is_str(pol_tls_name(POL_TLS_REQUIRED), "required", "pol_tls_name");
	pol_snapshot_free(s);
}

/* test_source_hash - the hash covers list files too */
static void
test_source_hash(void)
{
	struct pol_stats a, b, c;
	struct pol_snapshot *s;
	const char *text = "hostname = mx.example;\nservice mx { ports = 25; }\n"
	                   "blacklist { senders = \"file:hash.txt\"; }\n";

	write_file("hash.txt", "a@b.example\n");
	s = must_load("h.conf", text);
	pol_snapshot_stats(s, &a);
	pol_snapshot_free(s);
	s = must_load("h.conf", text);
	pol_snapshot_stats(s, &b);
	pol_snapshot_free(s);
	write_file("hash.txt", "a@c.example\n");
	s = must_load("h.conf", text);
	pol_snapshot_stats(s, &c);
	ok(pol_snapshot_model(s)->nfiles == 2 &&
	           strstr(pol_snapshot_model(s)->entries[1].file, "hash.txt") != NULL &&
	           pol_snapshot_model(s)->entries[1].line == 1,
	   "entries from list files keep their file and line");
	pol_snapshot_free(s);
	ok(memcmp(a.source_hash, b.source_hash, 16) == 0, "same files, same source hash");
	ok(memcmp(a.source_hash, c.source_hash, 16) != 0, "a changed list file changes the hash");
}

/* test_hs_cache - adding an exact entry before the patterns does not
 * invalidate their compiled databases (their ids are per database) */
static void
test_hs_cache(void)
{
	struct pol_snapshot *s;
	struct pol_stats a, b;
	const char *one = "hostname = mx.example;\nservice mx { ports = 25; }\n"
	                  "blacklist { senders = [ a@x.example, \"/^[0-9]{6,}@/\" ];\n"
	                  "  helo = [ \"*dyn*\" ]; }\n";
	const char *two = "hostname = mx.example;\nservice mx { ports = 25; }\n"
	                  "local_domains = [ new.example ];\n"
	                  "blacklist { senders = [ a@x.example, b@x.example, \"/^[0-9]{6,}@/\" ];\n"
	                  "  helo = [ \"*dyn*\" ]; }\n";

	pol_hs_cache_clear();
	s = must_load("c1.conf", one);
	pol_snapshot_stats(s, &a);
	pol_snapshot_free(s);
	s = must_load("c2.conf", two);
	pol_snapshot_stats(s, &b);
	ok(a.hs_compiled == 2 && a.hs_cached == 0, "first compile builds both databases");
	ok(b.hs_compiled == 0 && b.hs_cached == 2,
	   "new exact entries before the patterns: databases come from the cache");
	{
		struct pol_query q = {.service = pol_service_find(s, "mx"),
		                      .helo = "host.dyn.example",
		                      .sender = "123456@y.example"};
		struct pol_state st;
		struct pol_verdict v;
		const struct pol_entry *e;

		cidr_addr_parse("203.0.113.1", &q.client);
		pol_state_init(&st);
		pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
		e = pol_entry_get(s, v.rule);
		is_str(e != NULL ? e->text : "(none)", "/^[0-9]{6,}@/",
		       "a cached database reports the entry of the new snapshot");
		pol_eval(s, NULL, &q, POL_HELO, &st, &v);
		e = pol_entry_get(s, v.rule);
		is_str(e != NULL ? e->text : "(none)", "*dyn*", "and for HELO");
	}
	pol_snapshot_free(s);
}

/* test_example - the shipped example policy is valid */
static void
test_example(void)
{
	struct pol_errs errs = {0};
	struct pol_model *m = pol_load_file(SRCDIR "/../../../examples/policy.conf", &errs);
	struct pol_snapshot *s = m != NULL ? pol_compile(m, &errs) : NULL;

	if (!ok(s != NULL, "examples/policy.conf compiles"))
		pol_errs_print(&errs, stdout);
	ok(s != NULL && pol_service_find(s, "mx") != NULL && pol_service_find(s, "submission"),
	   "examples/policy.conf has both services");
	pol_snapshot_free(s);
	pol_errs_free(&errs);
}

int
main(void)
{
	test_errors();
	test_json();
	test_defaults_and_values();
	test_client_limits();
	test_tls();
	test_source_hash();
	test_hs_cache();
	test_example();
	pol_hs_cache_clear();
	return done_testing();
}
