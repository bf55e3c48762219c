/* pol_load - the policy file's schema: UCL document -> rule model
 *
 * Walks the parsed document, checks every key against the schema, reads
 * `file:PATH` lists (relative to the policy file), classifies every entry
 * and remembers where each came from. Every error is collected with its
 * file:line, so that one run shows the operator everything to fix.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "conf.h"
#include "pol_impl.h"

struct loader {
	struct pol_model *m;
	const struct pol_source *src;
	struct pol_errs *errs;
	char *dir; /* directory of the policy file, for relative list paths */
	size_t cap;
	XXH3_state_t *hash;
};

/* model_file - keep a file name for the model's lifetime */
static const char *
model_file(struct loader *ld, const char *name)
{
	for (size_t i = 0; i < ld->m->nfiles; i++)
		if (strcmp(ld->m->files[i], name) == 0)
			return ld->m->files[i];
	char **f = realloc(ld->m->files, (ld->m->nfiles + 1) * sizeof(*f));

	if (f == NULL)
		return "?";
	ld->m->files = f;
	f[ld->m->nfiles] = strdup(name);
	return f[ld->m->nfiles++];
}

/* add_entry - classify text as an entry of list l and append it */
static void
add_entry(struct loader *ld, enum pol_list l, const char *text, const char *file, unsigned line)
{
	struct pol_entry e = {0};
	char why[256];

	if (ld->m->nentries >= POL_MAX_ENTRIES) {
		if (ld->m->nentries == POL_MAX_ENTRIES)
			pol_errs_add(ld->errs, file, line, "more than %d entries in the policy",
			             POL_MAX_ENTRIES);
		return;
	}
	if (pol_pattern_parse(l, text, &e, why, sizeof(why)) < 0) {
		pol_errs_add(ld->errs, file, line, "%s: %s", pol_list_name(l), why);
		free(e.key);
		return;
	}
	if (ld->m->nentries == ld->cap) {
		size_t cap = ld->cap ? ld->cap * 2 : 256;
		struct pol_entry *v = realloc(ld->m->entries, cap * sizeof(*v));

		if (v == NULL) {
			pol_errs_add(ld->errs, file, line, "out of memory");
			free(e.key);
			return;
		}
		ld->m->entries = v;
		ld->cap = cap;
	}
	e.text = strdup(text);
	e.file = model_file(ld, file);
	e.line = line;
	ld->m->entries[ld->m->nentries++] = e;
	ld->m->nlist[l]++;
}

/* read_source - read a file through the source, hashing its bytes */
static char *
read_source(struct loader *ld, const char *path, size_t *len)
{
	char *buf = ld->src->read(ld->src->arg, path, len);

	if (buf != NULL) {
		XXH3_128bits_update(ld->hash, path, strlen(path) + 1);
		XXH3_128bits_update(ld->hash, buf, *len);
		ld->m->source_bytes += *len;
	}
	return buf;
}

/* load_list_file - one entry per line; '#' starts a comment at the start of
 * a line or after a space, so that regexes may contain it */
static void
load_list_file(struct loader *ld, enum pol_list l, const char *rel, const char *from,
               unsigned from_line)
{
	char path[PATH_MAX];
	size_t len;
	char *buf, *p, *end;
	unsigned line = 0;

	if (rel[0] == '\0') {
		pol_errs_add(ld->errs, from, from_line, "%s: file: needs a path", pol_list_name(l));
		return;
	}
	if (rel[0] == '/' || ld->dir == NULL)
		snprintf(path, sizeof(path), "%s", rel);
	else
		snprintf(path, sizeof(path), "%s/%s", ld->dir, rel);
	buf = read_source(ld, path, &len);
	if (buf == NULL) {
		pol_errs_add(ld->errs, from, from_line, "%s: cannot read %s: %s", pol_list_name(l),
		             path, strerror(errno));
		return;
	}
	const char *file = model_file(ld, path);

	for (p = buf, end = buf + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *s, *e;

		if (nl == NULL)
			nl = end;
		*nl = '\0';
		line++;
		for (s = p; s < nl && (*s == ' ' || *s == '\t'); s++)
			;
		for (e = s; e < nl; e++)
			if (*e == '#' && (e == s || e[-1] == ' ' || e[-1] == '\t'))
				break;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		*e = '\0';
		if (e > s) {
			if (memchr(s, '\0', (size_t)(e - s)) != NULL)
				pol_errs_add(ld->errs, file, line, "NUL byte in list file");
			else if (strpbrk(s, " \t") != NULL)
				pol_errs_add(ld->errs, file, line,
				             "%s: one entry per line, got \"%s\"", pol_list_name(l),
				             s);
			else
				add_entry(ld, l, s, file, line);
		}
		p = nl + 1;
	}
	free(buf);
}

/* load_list - a list value: one string or an array of strings, each an
 * entry or file:PATH */
static void
load_list(struct loader *ld, enum pol_list l, const struct conf_node *n)
{
	const struct conf_node *c;
	const struct conf_node one = n->type == CONF_STRING ? *n : (struct conf_node){0};

	if (n->type == CONF_OBJECT) {
		pol_errs_add(ld->errs, n->file, n->line, "%s: expected a list, got an object",
		             pol_list_name(l));
		return;
	}
	c = n->type == CONF_STRING ? &one : n->child;
	for (; c != NULL; c = c == &one ? NULL : c->next) {
		if (c->type != CONF_STRING) {
			pol_errs_add(ld->errs, c->file, c->line,
			             "%s: entries are strings, not nested lists", pol_list_name(l));
			continue;
		}
		if (strncmp(c->str, "file:", 5) == 0)
			load_list_file(ld, l, c->str + 5, c->file, c->line);
		else
			add_entry(ld, l, c->str, c->file, c->line);
	}
}

struct key_spec {
	const char *key;
	enum pol_list list; /* POL_L_COUNT: not a list */
};

/* check_keys - every member of obj must be one of the names, once ("service" may repeat at the top)
 */
static void
check_keys(struct loader *ld, const struct conf_node *obj, const char *where,
           const char *const *names)
{
	static const char *const repeatable[] = {"service", NULL};

	conf_check_keys(obj, where, names, where == NULL ? repeatable : NULL, ld->errs);
}

static void
load_lists(struct loader *ld, const struct conf_node *obj, const char *where,
           const struct key_spec *spec)
{
	const char *names[8];
	size_t n = 0;

	if (obj->type != CONF_OBJECT) {
		pol_errs_add(ld->errs, obj->file, obj->line, "%s: expected a section { ... }",
		             where);
		return;
	}
	for (; spec[n].key != NULL; n++)
		names[n] = spec[n].key;
	names[n] = NULL;
	check_keys(ld, obj, where, names);
	for (size_t i = 0; i < n; i++) {
		const struct conf_node *c = conf_get(obj, spec[i].key);

		if (c != NULL)
			load_list(ld, spec[i].list, c);
	}
}

/* get_bool, get_ms, ... - optional scalar members, errors collected */
static void
get_bool(struct loader *ld, const struct conf_node *obj, const char *key, bool *out)
{
	const struct conf_node *c = conf_get(obj, key);

	if (c != NULL)
		conf_bool(c, out, ld->errs);
}

static void
get_ms(struct loader *ld, const struct conf_node *obj, const char *key, uint32_t *out)
{
	const struct conf_node *c = conf_get(obj, key);
	uint64_t v;

	if (c == NULL || conf_msec(c, &v, ld->errs) < 0)
		return;
	if (v == 0 || v > 7ull * 86400 * 1000)
		pol_errs_add(ld->errs, c->file, c->line, "%s: must be between 1ms and 7d", key);
	else
		*out = (uint32_t)v;
}

static void
get_uint(struct loader *ld, const struct conf_node *obj, const char *key, uint64_t min,
         uint64_t max, uint64_t *out)
{
	const struct conf_node *c = conf_get(obj, key);

	if (c != NULL)
		conf_uint(c, min, max, out, ld->errs);
}

/* expand_banner - the greeting text with $hostname replaced */
static void
expand_banner(struct loader *ld, const struct conf_node *c, const char *text, char *out)
{
	size_t n = 0;

	for (const char *p = text; *p != '\0'; p++) {
		const char *add = NULL;
		char ch[2] = {*p, '\0'};

		if (strncmp(p, "$hostname", 9) == 0) {
			add = ld->m->hostname;
			p += 8;
		} else if ((unsigned char)*p < ' ' || *p == 0x7f) {
			pol_errs_add(ld->errs, c->file, c->line,
			             "banner: control characters are not allowed");
			return;
		} else {
			add = ch;
		}
		size_t al = strlen(add);

		if (n + al >= POL_MAX_BANNER) {
			pol_errs_add(ld->errs, c->file, c->line,
			             "banner: longer than %d characters once expanded",
			             POL_MAX_BANNER - 1);
			return;
		}
		memcpy(out + n, add, al);
		n += al;
	}
	out[n] = '\0';
}

static const char *const service_keys[] = {
        "ports",
        "require_auth",
        "auth_in_clear",
        "reject_remote_local_helo",
        "reject_nonlocal_senders_claiming_local",
        "delay_reject",
        "banner",
        "max_recipients",
        "message_size_limit",
        "command_timeout",
        "session_timeout",
        "max_errors",
        "backend_connect",
        "greet_wait",
        "client_connection_count_limit",
        "client_connection_rate_limit",
        "client_rate_time_unit",
        "tls",
        "tls_cert",
        "tls_key",
        "tls_protocols",
        NULL,
};

/* load_client_limits - the per-client connection limits of a service */
static void
load_client_limits(struct loader *ld, const struct conf_node *c, struct pol_service *s)
{
	const struct conf_node *n;
	uint64_t v;

	v = 0;
	get_uint(ld, c, "client_connection_count_limit", 0, POL_MAX_CLIENT_LIMIT, &v);
	s->client_conn_limit = (uint32_t)v;
	v = 0;
	get_uint(ld, c, "client_connection_rate_limit", 0, POL_MAX_CLIENT_LIMIT, &v);
	s->client_rate_limit = (uint32_t)v;
	s->client_rate_unit_s = 60; /* Postfix's anvil_rate_time_unit */
	n = conf_get(c, "client_rate_time_unit");
	if (n != NULL && conf_msec(n, &v, ld->errs) == 0) {
		/* the shared table counts in whole seconds */
		if (v % 1000 != 0 || v == 0 || v > POL_MAX_RATE_UNIT_S * 1000ull)
			pol_errs_add(ld->errs, n->file, n->line,
			             "client_rate_time_unit: whole seconds between 1s and %dh",
			             POL_MAX_RATE_UNIT_S / 3600);
		else
			s->client_rate_unit_s = (uint32_t)(v / 1000);
	}
}

/* strings - a value that is one string or an array of strings: its elements
 * into v (at most max); -1 after an error */
static int
strings(struct loader *ld, const struct conf_node *n, const char *key, const struct conf_node **v,
        unsigned max, unsigned *count)
{
	const struct conf_node *c = n->type == CONF_STRING ? n : n->child;

	*count = 0;
	if (n->type == CONF_OBJECT) {
		pol_errs_add(ld->errs, n->file, n->line, "%s: expected a string or a list", key);
		return -1;
	}
	for (; c != NULL; c = n->type == CONF_STRING ? NULL : c->next) {
		if (c->type != CONF_STRING) {
			pol_errs_add(ld->errs, c->file, c->line, "%s: expected strings", key);
			return -1;
		}
		if (*count == max) {
			pol_errs_add(ld->errs, c->file, c->line, "%s: more than %u", key, max);
			return -1;
		}
		v[(*count)++] = c;
	}
	return 0;
}

/* read_pem - a certificate or key file named at c, relative to the policy
 * file, through the source (a push carries it); NULL after an error */
static char *
read_pem(struct loader *ld, const struct conf_node *c, const char *key, size_t *len,
         const char **path_out)
{
	char path[PATH_MAX];
	char *buf;

	if (c->len == 0) {
		pol_errs_add(ld->errs, c->file, c->line, "%s: needs a path", key);
		return NULL;
	}
	if (c->str[0] == '/' || ld->dir == NULL)
		snprintf(path, sizeof(path), "%s", c->str);
	else
		snprintf(path, sizeof(path), "%s/%s", ld->dir, c->str);
	if ((buf = read_source(ld, path, len)) == NULL) {
		pol_errs_add(ld->errs, c->file, c->line, "%s: cannot read %s: %s", key, path,
		             strerror(errno));
		return NULL;
	}
	*path_out = model_file(ld, path);
	if (*len > (size_t)POL_MAX_PEM_KiB << 10 || memchr(buf, '\0', *len) != NULL ||
	    strstr(buf, "-----BEGIN ") == NULL) {
		pol_errs_add(ld->errs, c->file, c->line, "%s: %s is not a PEM file", key, path);
		explicit_bzero(buf, *len);
		free(buf);
		return NULL;
	}
	return buf;
}

/* load_protocols - tls_protocols of a service or the backend, if given */
static void
load_protocols(struct loader *ld, const struct conf_node *c, uint8_t *protocols)
{
	const struct conf_node *n, *v[POL_MAX_TLS_CERTS];
	unsigned nv = 0;

	if ((n = conf_get(c, "tls_protocols")) == NULL ||
	    strings(ld, n, "tls_protocols", v, POL_MAX_TLS_CERTS, &nv) < 0)
		return;
	*protocols = 0;
	for (unsigned i = 0; i < nv; i++) {
		if (strcasecmp(v[i]->str, "TLSv1.2") == 0)
			*protocols |= POL_TLS_V1_2;
		else if (strcasecmp(v[i]->str, "TLSv1.3") == 0)
			*protocols |= POL_TLS_V1_3;
		else
			pol_errs_add(ld->errs, v[i]->file, v[i]->line,
			             "tls_protocols: expected TLSv1.2 or TLSv1.3, got \"%s\"",
			             v[i]->str);
	}
}

/* load_tls - tls, tls_cert, tls_key (paired by position: an RSA and an
 * ECDSA chain side by side) and tls_protocols of a service */
static void
load_tls(struct loader *ld, const struct conf_node *c, struct pol_service *s)
{
	const struct conf_node *n, *certs[POL_MAX_TLS_CERTS], *keys[POL_MAX_TLS_CERTS];
	unsigned nc = 0, nk = 0;
	const char *t;

	s->tls_protocols = POL_TLS_V1_2 | POL_TLS_V1_3;
	if ((n = conf_get(c, "tls")) != NULL && conf_str(n, &t, ld->errs) == 0) {
		if (strcasecmp(t, "off") == 0)
			s->tls = POL_TLS_OFF;
		else if (strcasecmp(t, "optional") == 0)
			s->tls = POL_TLS_OPTIONAL;
		else if (strcasecmp(t, "required") == 0)
			s->tls = POL_TLS_REQUIRED;
		else
			pol_errs_add(ld->errs, n->file, n->line,
			             "tls: expected off, optional or required, got \"%s\"", t);
	}
	load_protocols(ld, c, &s->tls_protocols);
	nc = 0;
	if ((n = conf_get(c, "tls_cert")) != NULL &&
	    strings(ld, n, "tls_cert", certs, POL_MAX_TLS_CERTS, &nc) < 0)
		return;
	if ((n = conf_get(c, "tls_key")) != NULL &&
	    strings(ld, n, "tls_key", keys, POL_MAX_TLS_CERTS, &nk) < 0)
		return;
	if (nc != nk) {
		pol_errs_add(ld->errs, c->file, c->key_line,
		             "service %s: %u tls_cert files but %u tls_key files (one key per "
		             "certificate, in the same order)",
		             s->name, nc, nk);
		return;
	}
	if (s->tls != POL_TLS_OFF && nc == 0) {
		pol_errs_add(ld->errs, c->file, c->key_line,
		             "service %s: tls = %s needs tls_cert and tls_key", s->name,
		             pol_tls_name(s->tls));
		return;
	}
	for (unsigned i = 0; i < nc; i++) {
		struct pol_tls_cert *tc = &s->tls_certs[s->ntls_certs];

		tc->file = model_file(ld, certs[i]->file);
		tc->line = certs[i]->line;
		tc->cert = read_pem(ld, certs[i], "tls_cert", &tc->cert_len, &tc->cert_path);
		tc->key = read_pem(ld, keys[i], "tls_key", &tc->key_len, &tc->key_path);
		s->ntls_certs++; /* even half-read: pol_model_free frees what is there */
	}
}

/* load_service - one `service NAME { ... }` */
static void
load_service(struct loader *ld, const struct conf_node *c)
{
	struct pol_service *s;
	const struct conf_node *n;
	char where[POL_MAX_NAME + 16];
	uint64_t v;

	if (c->type != CONF_OBJECT) {
		pol_errs_add(ld->errs, c->file, c->line, "service: expected service NAME { ... }");
		return;
	}
	if (strlen(c->key) >= POL_MAX_NAME) {
		pol_errs_add(ld->errs, c->file, c->key_line, "service name longer than %d",
		             POL_MAX_NAME - 1);
		return;
	}
	for (unsigned i = 0; i < ld->m->nservices; i++)
		if (strcasecmp(ld->m->services[i].name, c->key) == 0) {
			pol_errs_add(ld->errs, c->file, c->key_line,
			             "duplicate service \"%s\" (first at %s:%u)", c->key,
			             ld->m->services[i].file, ld->m->services[i].line);
			return;
		}
	if (ld->m->nservices >= POL_MAX_SERVICES) {
		pol_errs_add(ld->errs, c->file, c->key_line, "more than %d services",
		             POL_MAX_SERVICES);
		return;
	}
	s = &ld->m->services[ld->m->nservices++];
	snprintf(s->name, sizeof(s->name), "%s", c->key);
	s->file = model_file(ld, c->file);
	s->line = c->key_line;
	s->max_recipients = 1000;
	s->message_size_limit = 10240000;
	s->command_timeout_ms = 300 * 1000;
	s->session_timeout_ms = 1800 * 1000;
	s->max_errors = 20;
	snprintf(where, sizeof(where), "service %s", s->name);
	check_keys(ld, c, where, service_keys);

	n = conf_get(c, "ports");
	if (n == NULL) {
		pol_errs_add(ld->errs, c->file, c->key_line, "service %s: ports is required",
		             s->name);
	} else {
		const struct conf_node one = n->type == CONF_STRING ? *n : (struct conf_node){0};
		const struct conf_node *p = n->type == CONF_STRING ? &one : n->child;

		for (; p != NULL; p = p == &one ? NULL : p->next) {
			if (s->nports >= POL_MAX_PORTS) {
				pol_errs_add(ld->errs, p->file, p->line, "more than %d ports",
				             POL_MAX_PORTS);
				break;
			}
			if (conf_uint(p, 1, 65535, &v, ld->errs) == 0)
				s->ports[s->nports++] = (uint16_t)v;
		}
	}
	get_bool(ld, c, "require_auth", &s->require_auth);
	get_bool(ld, c, "auth_in_clear", &s->auth_in_clear);
	get_bool(ld, c, "reject_remote_local_helo", &s->reject_remote_local_helo);
	get_bool(ld, c, "reject_nonlocal_senders_claiming_local",
	         &s->reject_nonlocal_senders_claiming_local);
	get_bool(ld, c, "delay_reject", &s->delay_reject);
	v = s->max_recipients;
	get_uint(ld, c, "max_recipients", 1, 100000, &v);
	s->max_recipients = (uint32_t)v;
	get_uint(ld, c, "message_size_limit", 0, UINT64_MAX / 2, &s->message_size_limit);
	v = s->max_errors;
	get_uint(ld, c, "max_errors", 1, 1000, &v);
	s->max_errors = (uint32_t)v;
	get_ms(ld, c, "command_timeout", &s->command_timeout_ms);
	get_ms(ld, c, "session_timeout", &s->session_timeout_ms);
	get_ms(ld, c, "greet_wait", &s->greet_wait_ms);
	if (s->greet_wait_ms > 60000)
		pol_errs_add(ld->errs, c->file, c->line, "greet_wait: at most 60s");
	load_client_limits(ld, c, s);
	{
		/* "$hostname ESMTP", as Postfix's default without the mail_name */
		size_t hl = strnlen(ld->m->hostname, sizeof(ld->m->hostname) - 1);

		memcpy(s->banner, ld->m->hostname, hl);
		memcpy(s->banner + hl, " ESMTP", 7);
	}
	if ((n = conf_get(c, "banner")) != NULL) {
		const char *t;

		if (conf_str(n, &t, ld->errs) == 0)
			expand_banner(ld, n, t, s->banner);
	}
	if ((n = conf_get(c, "backend_connect")) != NULL) {
		const char *t;

		if (conf_str(n, &t, ld->errs) == 0) {
			if (strcasecmp(t, "rcpt") == 0)
				s->backend_at = POL_BACKEND_AT_RCPT;
			else if (strcasecmp(t, "data") == 0)
				s->backend_at = POL_BACKEND_AT_DATA;
			else
				pol_errs_add(ld->errs, n->file, n->line,
				             "backend_connect: expected rcpt or data, got \"%s\"",
				             t);
		}
	}
	load_tls(ld, c, s);
}

/* parse_hostport - "192.0.2.1", "192.0.2.1:2525", "[2001:db8::1]:25", "2001:db8::1" */
static int
parse_hostport(const char *s, struct cidr *a, uint16_t *port)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	size_t hl = strlen(s);
	char *end;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL)
			return -1;
		hl = (size_t)(rb - s) + 1;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (colon == NULL && rb[1] != '\0')
			return -1;
	} else if (colon != NULL && strchr(s, ':') != colon) {
		colon = NULL; /* bare IPv6 */
	} else if (colon != NULL) {
		hl = (size_t)(colon - s);
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (cidr_addr_parse(host, a) < 0)
		return -1;
	if (colon != NULL) {
		unsigned long p = strtoul(colon + 1, &end, 10);

		if (*end != '\0' || p == 0 || p > 65535 || colon[1] < '0' || colon[1] > '9')
			return -1;
		*port = (uint16_t)p;
	}
	return 0;
}

static const char *const backend_keys[] = {
        "address",         "port",          "handoff", "connect_timeout", "tls", "tls_ca",
        "tls_server_name", "tls_protocols", NULL,
};

/* load_backend_tls - tls, tls_ca, tls_server_name and tls_protocols of the
 * backend leg; the CA file is read here, so that a push carries it */
static void
load_backend_tls(struct loader *ld, const struct conf_node *c, struct pol_backend *b)
{
	static const char *const names[] = {"none", "may", "encrypt", "verify"};
	const struct conf_node *n;
	const char *t;

	b->tls_protocols = POL_TLS_V1_2 | POL_TLS_V1_3;
	if ((n = conf_get(c, "tls")) != NULL && conf_str(n, &t, ld->errs) == 0) {
		unsigned i = 0;

		while (i < 4 && strcasecmp(t, names[i]) != 0)
			i++;
		if (i < 4)
			b->tls = (enum pol_backend_tls)i;
		else
			pol_errs_add(ld->errs, n->file, n->line,
			             "tls: expected none, may, encrypt or verify, got \"%s\"", t);
	}
	load_protocols(ld, c, &b->tls_protocols);
	if ((n = conf_get(c, "tls_server_name")) != NULL && conf_str(n, &t, ld->errs) == 0) {
		if (strlen(t) == 0 || strlen(t) >= sizeof(b->tls_server_name) ||
		    strpbrk(t, " \t/@") != NULL)
			pol_errs_add(ld->errs, n->file, n->line,
			             "tls_server_name: expected a host name, got \"%s\"", t);
		else
			snprintf(b->tls_server_name, sizeof(b->tls_server_name), "%s", t);
	}
	if ((n = conf_get(c, "tls_ca")) != NULL && conf_str(n, &t, ld->errs) == 0) {
		/* "file:PATH" as the lists say it, or the bare PATH */
		struct conf_node path = *n;

		if (strncmp(path.str, "file:", 5) == 0) {
			path.str += 5;
			path.len -= 5;
		}
		b->tls_ca_line = n->line;
		b->tls_ca = read_pem(ld, &path, "tls_ca", &b->tls_ca_len, &b->tls_ca_path);
	}
	if (b->tls == POL_BTLS_VERIFY && conf_get(c, "tls_ca") == NULL)
		pol_errs_add(ld->errs, c->file, c->key_line,
		             "backend: tls = verify needs tls_ca (the CAs to trust)");
}

static void
load_backend(struct loader *ld, const struct conf_node *c)
{
	struct pol_backend *b = &ld->m->backend;
	const struct conf_node *n;
	uint64_t port = 25;

	if (c->type != CONF_OBJECT) {
		pol_errs_add(ld->errs, c->file, c->line, "backend: expected a section { ... }");
		return;
	}
	b->configured = true;
	b->file = model_file(ld, c->file);
	b->line = c->key_line;
	b->connect_timeout_ms = 10 * 1000;
	check_keys(ld, c, "backend", backend_keys);
	get_uint(ld, c, "port", 1, 65535, &port);
	get_ms(ld, c, "connect_timeout", &b->connect_timeout_ms);
	load_backend_tls(ld, c, b);
	n = conf_get(c, "address");
	if (n == NULL) {
		pol_errs_add(ld->errs, c->file, c->key_line, "backend: address is required");
	} else {
		const struct conf_node one = n->type == CONF_STRING ? *n : (struct conf_node){0};
		const struct conf_node *p = n->type == CONF_STRING ? &one : n->child;

		for (; p != NULL; p = p == &one ? NULL : p->next) {
			uint16_t pp = (uint16_t)port;

			if (p->type != CONF_STRING || b->naddr >= POL_MAX_BACKENDS ||
			    parse_hostport(p->str, &b->addr[b->naddr], &pp) < 0) {
				pol_errs_add(ld->errs, p->file, p->line,
				             "backend address: expected IP or IP:PORT "
				             "([IPv6]:PORT), at most %d of them",
				             POL_MAX_BACKENDS);
				continue;
			}
			b->port[b->naddr++] = pp;
		}
	}
	if ((n = conf_get(c, "handoff")) != NULL) {
		static const char *const names[] = {"xclient", "proxy-v1", "proxy-v2", "none"};
		const char *t;
		bool found = false;

		if (conf_str(n, &t, ld->errs) == 0) {
			for (unsigned i = 0; i < 4; i++)
				if (strcasecmp(t, names[i]) == 0) {
					b->handoff = (enum pol_handoff)i;
					found = true;
				}
			if (!found)
				pol_errs_add(
				        ld->errs, n->file, n->line,
				        "handoff: expected xclient, proxy-v1, proxy-v2 or none, "
				        "got \"%s\"",
				        t);
		}
	}
}

static const char *const top_keys[] = {
        "hostname",  "local_domains", "local_hosts", "local_addresses", "lan", "relay",
        "blacklist", "whitelist",     "service",     "backend",         NULL,
};

static const struct key_spec bl_spec[] = {
        {"clients", POL_L_BL_CLIENTS},
        {"helo", POL_L_BL_HELO},
        {"senders", POL_L_BL_SENDERS},
        {"recipients", POL_L_BL_RECIPIENTS},
        {NULL, 0},
};
static const struct key_spec wl_spec[] = {
        {"clients", POL_L_WL_CLIENTS},
        {"helo", POL_L_WL_HELO},
        {"senders", POL_L_WL_SENDERS},
        {"recipients", POL_L_WL_RECIPIENTS},
        {NULL, 0},
};
static const struct key_spec relay_spec[] = {{"allow_clients", POL_L_RELAY_CLIENTS}, {NULL, 0}};

/* load_doc - the top level */
static void
load_doc(struct loader *ld, const struct conf_node *root)
{
	const struct conf_node *n;
	static const struct key_spec top_lists[] = {
	        {"local_domains", POL_L_LOCAL_DOMAINS},
	        {"local_hosts", POL_L_LOCAL_HOSTS},
	        {"local_addresses", POL_L_LOCAL_ADDRESSES},
	        {"lan", POL_L_LAN},
	};

	check_keys(ld, root, NULL, top_keys);
	n = conf_get(root, "hostname");
	if (n == NULL) {
		pol_errs_add(ld->errs, ld->m->files[0], 0, "hostname is required");
	} else {
		const char *t;
		char why[128];

		if (conf_str(n, &t, ld->errs) == 0) {
			if (!pol_domain_ok(t, why, sizeof(why)))
				pol_errs_add(ld->errs, n->file, n->line, "hostname: %s", why);
			else
				snprintf(ld->m->hostname, sizeof(ld->m->hostname), "%s", t);
		}
		/* the gate's own name is always one of local_hosts */
		if (ld->m->hostname[0] != '\0')
			add_entry(ld, POL_L_LOCAL_HOSTS, ld->m->hostname, n->file, n->line);
	}
	for (size_t i = 0; i < sizeof(top_lists) / sizeof(top_lists[0]); i++)
		if ((n = conf_get(root, top_lists[i].key)) != NULL)
			load_list(ld, top_lists[i].list, n);
	if ((n = conf_get(root, "relay")) != NULL)
		load_lists(ld, n, "relay", relay_spec);
	if ((n = conf_get(root, "blacklist")) != NULL)
		load_lists(ld, n, "blacklist", bl_spec);
	if ((n = conf_get(root, "whitelist")) != NULL)
		load_lists(ld, n, "whitelist", wl_spec);
	for (n = root->child; n != NULL; n = n->next) {
		if (strcasecmp(n->key, "service") != 0)
			continue;
		if (n->type != CONF_OBJECT) {
			pol_errs_add(ld->errs, n->file, n->line,
			             "service: expected service NAME { ... }");
			continue;
		}
		for (const struct conf_node *s = n->child; s != NULL; s = s->next)
			load_service(ld, s);
	}
	if (ld->m->nservices == 0)
		pol_errs_add(ld->errs, ld->m->files[0], 0,
		             "no service defined (service NAME { ports = [25]; ... })");
	for (unsigned i = 0; i < ld->m->nservices; i++)
		for (unsigned j = i + 1; j < ld->m->nservices; j++)
			for (unsigned a = 0; a < ld->m->services[i].nports; a++)
				for (unsigned b = 0; b < ld->m->services[j].nports; b++)
					if (ld->m->services[i].ports[a] ==
					    ld->m->services[j].ports[b])
						pol_errs_add(
						        ld->errs, ld->m->services[j].file,
						        ld->m->services[j].line,
						        "port %u is already used by service %s",
						        ld->m->services[j].ports[b],
						        ld->m->services[i].name);
	if ((n = conf_get(root, "backend")) != NULL)
		load_backend(ld, n);
}

/* disk_read - the CLI's source: files as they are on disk */
static char *
disk_read(void *arg, const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long sz;

	(void)arg;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 &&
	    (size_t)sz <= (size_t)POL_MAX_LIST_FILE_MiB << 20 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)sz + 1);
		if (buf != NULL && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
			free(buf);
			buf = NULL;
			errno = EIO;
		} else if (buf != NULL) {
			buf[sz] = '\0';
			*len = (size_t)sz;
		}
	} else {
		errno = EFBIG;
	}
	fclose(f);
	return buf;
}

struct pol_model *
pol_load(const char *path, const struct pol_source *src, struct pol_errs *errs)
{
	struct loader ld = {.src = src, .errs = errs};
	struct conf_doc *doc;
	size_t len, before = errs->total;
	char *text, *dcopy;
	XXH128_hash_t h;

	ld.m = calloc(1, sizeof(*ld.m));
	ld.hash = XXH3_createState();
	if (ld.m == NULL || ld.hash == NULL) {
		pol_errs_add(errs, path, 0, "out of memory");
		goto fail;
	}
	XXH3_128bits_reset(ld.hash);
	model_file(&ld, path);
	dcopy = strdup(path);
	ld.dir = dcopy != NULL ? strdup(dirname(dcopy)) : NULL;
	free(dcopy);
	text = read_source(&ld, path, &len);
	if (text == NULL) {
		pol_errs_add(errs, path, 0, "cannot read: %s", strerror(errno));
		goto fail;
	}
	doc = conf_parse(path, text, len, errs);
	free(text);
	if (doc == NULL)
		goto fail;
	load_doc(&ld, doc->root);
	conf_free(doc);
	if (errs->total > before)
		goto fail;
	h = XXH3_128bits_digest(ld.hash);
	XXH128_canonicalFromHash((XXH128_canonical_t *)ld.m->source_hash, h);
	XXH3_freeState(ld.hash);
	free(ld.dir);
	return ld.m;
fail:
	XXH3_freeState(ld.hash);
	free(ld.dir);
	pol_model_free(ld.m);
	return NULL;
}

struct pol_model *
pol_load_file(const char *path, struct pol_errs *errs)
{
	static const struct pol_source disk = {.read = disk_read};

	return pol_load(path, &disk, errs);
}

void
pol_model_free(struct pol_model *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nentries; i++) {
		free(m->entries[i].text);
		free(m->entries[i].key);
	}
	free(m->entries);
	for (unsigned i = 0; i < m->nservices; i++)
		for (unsigned k = 0; k < m->services[i].ntls_certs; k++) {
			struct pol_tls_cert *tc = &m->services[i].tls_certs[k];

			free(tc->cert);
			if (tc->key != NULL)
				explicit_bzero(tc->key,
				               tc->key_len); /* no key left in freed memory */
			free(tc->key);
		}
	free(m->backend.tls_ca);
	for (size_t i = 0; i < m->nfiles; i++)
		free(m->files[i]);
	free(m->files);
	free(m);
}
