/* gconf - load the gate configuration (UCL), checking every key
 *
 *   port edge0 {
 *       device = "net_tap0,iface=sg0";    # or a PCI address
 *       address = [ "192.0.2.25/24", "2001:db8:25::25/64" ];
 *   }
 *   route = [ { prefix = "0.0.0.0/0"; via = "192.0.2.1"; port = edge0; } ];
 *   lcores = [ 1 ];
 *   limits { max_flows = 100000; syn_backlog = 1024; mbufs = 16383; }
 *   control { socket = "/run/smtpgate.sock"; mode = "0660"; group = "mail"; }
 *       # default socket: /var/run/dpdk/FILE_PREFIX/smtpgate.sock
 *   metrics { listen = "127.0.0.1:9125"; }   # Prometheus, over HTTP; "off": none
 *   log = stdout;    # stdout, syslog or file:PATH
 *   auth { socket = "/var/spool/postfix/private/auth"; timeout = 10s; }
 *       # or "inet:127.0.0.1:12345": Dovecot's auth service, for AUTH
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "gconf.h"

static const char *const top_keys[] = {"port", "route",   "lcores", "limits", "control",
                                       "log",  "metrics", "user",   "auth",   NULL};
static const char *const repeatable[] = {"port", NULL};
static const char *const port_keys[] = {"device",  "address", "mtu", "rx_desc",
                                        "tx_desc", "offload", NULL};
static const char *const route_keys[] = {"prefix", "via", "port", NULL};
static const char *const limit_keys[] = {"max_flows", "syn_backlog", "mbufs", "arp_timeout",
                                         "clients",   "tcp_buffers", NULL};
static const char *const control_keys[] = {"socket", "mode", "group", NULL};
static const char *const metrics_keys[] = {"listen", NULL};
static const char *const auth_keys[] = {"socket",       "timeout",        "max_inflight",
                                        "max_failures", "failure_window", NULL};

/* each - iterate a value that may be one scalar or an array */
#define EACH(c, n, one)                                                                            \
	for (const struct conf_node one = (n)->type == CONF_ARRAY ? (struct conf_node){0} : *(n),  \
	                            *c = (n)->type == CONF_ARRAY ? (n)->child : &one;              \
	     c != NULL; c = c == &one ? NULL : c->next)

static void
get_u32(const struct conf_node *obj, const char *key, uint64_t min, uint64_t max, uint32_t *out,
        struct pol_errs *errs)
{
	const struct conf_node *c = conf_get(obj, key);
	uint64_t v;

	if (c != NULL && conf_uint(c, min, max, &v, errs) == 0)
		*out = (uint32_t)v;
}

/* auth_socket - "/path" (UNIX) or "inet:ADDR:PORT" / "inet:[ADDR6]:PORT" (TCP) */
static void
auth_socket(struct gconf_auth *a, const struct conf_node *s, const char *t, struct pol_errs *errs)
{
	const char *colon;
	char host[64];
	long port;

	if (t[0] == '/') {
		if (strlen(t) >= sizeof(a->socket))
			pol_errs_add(errs, s->file, s->line, "socket: path longer than %zu",
			             sizeof(a->socket) - 1);
		else
			snprintf(a->socket, sizeof(a->socket), "%s", t);
		return;
	}
	colon = strncmp(t, "inet:", 5) == 0 ? strrchr(t, ':') : NULL;
	if (colon != NULL && colon > t + 5 && (size_t)(colon - t - 5) < sizeof(host)) {
		char *end;

		snprintf(host, sizeof(host), "%.*s", (int)(colon - t - 5), t + 5);
		port = strtol(colon + 1, &end, 10);
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			host[strlen(host) - 1] = '\0';
			memmove(host, host + 1, strlen(host));
		}
		if (*end == '\0' && port > 0 && port <= 65535 &&
		    cidr_addr_parse(host, &a->addr) == 0) {
			a->port = (uint16_t)port;
			snprintf(a->socket, sizeof(a->socket), "%s", t);
			return;
		}
	}
	pol_errs_add(errs, s->file, s->line,
	             "socket: expected a UNIX socket path (/...) or inet:ADDRESS:PORT");
}

/* load_auth - auth { socket; timeout; max_inflight; max_failures; failure_window } */
static void
load_auth(struct gconf_auth *a, const struct conf_node *n, struct pol_errs *errs)
{
	const struct conf_node *s;
	const char *t;
	uint64_t ms;

	conf_check_keys(n, "auth", auth_keys, NULL, errs);
	if ((s = conf_get(n, "socket")) == NULL)
		pol_errs_add(errs, n->file, n->line, "auth: socket is required");
	else if (conf_str(s, &t, errs) == 0)
		auth_socket(a, s, t, errs);
	if ((s = conf_get(n, "timeout")) != NULL && conf_msec(s, &ms, errs) == 0) {
		if (ms < 100 || ms > 300000)
			pol_errs_add(errs, s->file, s->line, "timeout: between 100ms and 5min");
		else
			a->timeout_ms = (uint32_t)ms;
	}
	if ((s = conf_get(n, "failure_window")) != NULL && conf_msec(s, &ms, errs) == 0) {
		if (ms < 1000 || ms > 86400000)
			pol_errs_add(errs, s->file, s->line, "failure_window: between 1s and 1d");
		else
			a->failure_window_ms = (uint32_t)ms;
	}
	get_u32(n, "max_inflight", 1, 4096, &a->max_inflight, errs);
	get_u32(n, "max_failures", 1, 1000, &a->max_failures, errs);
}

static void
load_port(struct gconf *g, const struct conf_node *c, struct pol_errs *errs)
{
	struct gconf_port *p;
	const struct conf_node *n;
	const char *t;
	char where[64];

	if (c->type != CONF_OBJECT) {
		pol_errs_add(errs, c->file, c->line, "port: expected port NAME { ... }");
		return;
	}
	if (g->nports == GCONF_MAX_PORTS) {
		pol_errs_add(errs, c->file, c->key_line, "more than %d ports", GCONF_MAX_PORTS);
		return;
	}
	p = &g->ports[g->nports];
	snprintf(where, sizeof(where), "port %s", c->key);
	if (strlen(c->key) >= sizeof(p->name)) {
		pol_errs_add(errs, c->file, c->key_line, "port name longer than %zu",
		             sizeof(p->name) - 1);
		return;
	}
	for (unsigned i = 0; i < g->nports; i++)
		if (strcasecmp(g->ports[i].name, c->key) == 0)
			pol_errs_add(errs, c->file, c->key_line, "duplicate port \"%s\"", c->key);
	g->nports++;
	snprintf(p->name, sizeof(p->name), "%s", c->key);
	p->mtu = 1500;
	p->rx_desc = 1024;
	p->tx_desc = 1024;
	conf_check_keys(c, where, port_keys, NULL, errs);
	n = conf_get(c, "device");
	if (n == NULL)
		pol_errs_add(errs, c->file, c->key_line, "%s: device is required", where);
	else if (conf_str(n, &t, errs) == 0) {
		if (strlen(t) >= sizeof(p->device))
			pol_errs_add(errs, n->file, n->line, "device: longer than %zu",
			             sizeof(p->device) - 1);
		else
			snprintf(p->device, sizeof(p->device), "%s", t);
	}
	n = conf_get(c, "address");
	if (n == NULL) {
		pol_errs_add(errs, c->file, c->key_line, "%s: address is required", where);
	} else {
		EACH(a, n, one)
		{
			struct cidr v;
			char *slash;
			char buf[80];

			if (a->type != CONF_STRING || p->naddr == GCONF_MAX_ADDRS ||
			    (slash = strchr(a->str, '/')) == NULL || a->len >= sizeof(buf)) {
				pol_errs_add(errs, a->file, a->line,
				             "address: expected ADDRESS/PREFIXLEN, at most %d",
				             GCONF_MAX_ADDRS);
				continue;
			}
			/* the interface address keeps its host bits: parse address and length apart
			 */
			memcpy(buf, a->str, a->len + 1);
			buf[slash - a->str] = '\0';
			if (cidr_addr_parse(buf, &v) < 0) {
				pol_errs_add(errs, a->file, a->line, "address: bad address \"%s\"",
				             buf);
				continue;
			}
			char *end;
			unsigned long len = strtoul(slash + 1, &end, 10);

			if (*end != '\0' || slash[1] == '\0' ||
			    len > (v.family == 4 ? 32u : 128u)) {
				pol_errs_add(errs, a->file, a->line, "address: bad prefix length");
				continue;
			}
			v.len = (uint8_t)len;
			p->addr[p->naddr++] = v;
		}
		if (n->type == CONF_ARRAY && n->n == 0)
			pol_errs_add(errs, n->file, n->line,
			             "address: at least one ADDRESS/PREFIXLEN is required");
	}
	{
		uint32_t v = p->mtu;

		get_u32(c, "mtu", 576, 9000, &v, errs);
		p->mtu = (uint16_t)v;
		v = p->rx_desc;
		get_u32(c, "rx_desc", 64, 4096, &v, errs);
		p->rx_desc = (uint16_t)v;
		v = p->tx_desc;
		get_u32(c, "tx_desc", 64, 4096, &v, errs);
		p->tx_desc = (uint16_t)v;
	}
	p->offload = true;
	if ((n = conf_get(c, "offload")) != NULL)
		conf_bool(n, &p->offload, errs);
}

static int
port_index(const struct gconf *g, const char *name)
{
	for (unsigned i = 0; i < g->nports; i++)
		if (strcasecmp(g->ports[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void
load_route(struct gconf *g, const struct conf_node *c, struct pol_errs *errs)
{
	struct gconf_route *r;
	const struct conf_node *n;
	const char *t;

	if (c->type != CONF_OBJECT) {
		pol_errs_add(errs, c->file, c->line,
		             "route: expected { prefix = ...; via = ...; port = ...; }");
		return;
	}
	if (g->nroutes == GCONF_MAX_ROUTES) {
		pol_errs_add(errs, c->file, c->line, "more than %d routes", GCONF_MAX_ROUTES);
		return;
	}
	r = &g->routes[g->nroutes++];
	conf_check_keys(c, "route", route_keys, NULL, errs);
	if ((n = conf_get(c, "prefix")) == NULL || conf_str(n, &t, errs) < 0 ||
	    cidr_parse(t, &r->prefix) != CIDR_OK)
		pol_errs_add(errs, c->file, c->line, "route: prefix must be a CIDR");
	if ((n = conf_get(c, "via")) != NULL &&
	    (conf_str(n, &t, errs) < 0 || cidr_addr_parse(t, &r->via) < 0))
		pol_errs_add(errs, n->file, n->line, "route: via must be an address");
	if ((n = conf_get(c, "port")) == NULL || conf_str(n, &t, errs) < 0 || port_index(g, t) < 0)
		pol_errs_add(errs, c->file, c->line, "route: port must name a port");
	else
		r->port = (unsigned)port_index(g, t);
	if (r->via.family != 0 && r->via.family != r->prefix.family)
		pol_errs_add(errs, c->file, c->line, "route: via and prefix differ in family");
}

/* user_load - the user the gate runs as once started (default nobody):
 * looked up now, so that a typo stops the gate before it starts */
static void
user_load(const struct conf_node *n, const char *path, struct gconf *g, struct pol_errs *errs)
{
	const struct passwd *pw;
	const char *t;

	if (n != NULL) {
		if (conf_str(n, &t, errs) < 0)
			return;
		if (*t == '\0' || strlen(t) >= sizeof(g->user)) {
			pol_errs_add(errs, n->file, n->line, "user: expected a user name");
			return;
		}
		snprintf(g->user, sizeof(g->user), "%s", t);
	}
	pw = getpwnam(g->user);
	if (pw == NULL) {
		pol_errs_add(errs, n != NULL ? n->file : path, n != NULL ? n->line : 0,
		             "user: no user named \"%s\"%s", g->user,
		             n != NULL ? "" : " (the default; set user in the gate config)");
		return;
	}
	g->run_uid = pw->pw_uid == 0 ? -1 : (int64_t)pw->pw_uid;
	g->run_gid = (int64_t)pw->pw_gid;
}

int
gconf_load(const char *path, struct gconf *g, struct pol_errs *errs)
{
	struct conf_doc *doc = conf_parse_file(path, errs);
	const struct conf_node *root, *n;
	size_t before = errs->total;

	memset(g, 0, sizeof(*g));
	g->max_flows = 100000;
	g->syn_backlog = 1024;
	g->mbufs = 16383;
	g->clients = 65536;                  /* 1 MiB of slots */
	g->tcp_buffers = (uint64_t)32 << 20; /* 16,384 chunks of 2 KiB */
	g->arp_timeout_ms = 300 * 1000;
	g->control_socket[0] = '\0'; /* EAL's runtime directory: one per --file-prefix */
	g->control_mode = 0600;
	g->control_gid = -1;
	snprintf(g->metrics_listen, sizeof(g->metrics_listen), "127.0.0.1:9125");
	snprintf(g->user, sizeof(g->user), "nobody");
	g->auth.timeout_ms = 10000; /* Postfix's AUTH_TIMEOUT of its Dovecot client */
	g->auth.max_inflight = 64;
	g->auth.max_failures = 10;
	g->auth.failure_window_ms = 300000;
	if (doc == NULL)
		return -1;
	root = doc->root;
	conf_check_keys(root, NULL, top_keys, repeatable, errs);
	for (n = root->child; n != NULL; n = n->next) {
		if (strcasecmp(n->key, "port") != 0)
			continue;
		if (n->type != CONF_OBJECT) {
			pol_errs_add(errs, n->file, n->line, "port: expected port NAME { ... }");
			continue;
		}
		for (const struct conf_node *p = n->child; p != NULL; p = p->next)
			load_port(g, p, errs);
	}
	if (g->nports == 0)
		pol_errs_add(errs, path, 0, "no port defined (port NAME { device = ...; ... })");
	if ((n = conf_get(root, "route")) != NULL) {
		EACH(r, n, one)
		load_route(g, r, errs);
	}
	/* no lcores: every worker lcore EAL was given (main() fills them in) */
	if ((n = conf_get(root, "lcores")) != NULL) {
		EACH(l, n, one)
		{
			uint64_t v;

			if (g->nlcores == GCONF_MAX_LCORES) {
				pol_errs_add(errs, l->file, l->line, "more than %d lcores",
				             GCONF_MAX_LCORES);
				break;
			}
			if (conf_uint(l, 0, 1023, &v, errs) == 0)
				g->lcores[g->nlcores++] = (unsigned)v;
		}
	}
	if ((n = conf_get(root, "limits")) != NULL) {
		conf_check_keys(n, "limits", limit_keys, NULL, errs);
		get_u32(n, "max_flows", 16, 50000000, &g->max_flows, errs);
		get_u32(n, "syn_backlog", 1, 10000000, &g->syn_backlog, errs);
		get_u32(n, "mbufs", 511, 4000000, &g->mbufs, errs);
		get_u32(n, "clients", 64, 1u << 26, &g->clients, errs);
		if (conf_get(n, "tcp_buffers") != NULL)
			conf_uint(conf_get(n, "tcp_buffers"), (uint64_t)1 << 20, (uint64_t)64 << 30,
			          &g->tcp_buffers, errs);
		if (conf_get(n, "arp_timeout") != NULL) {
			uint64_t ms;

			if (conf_msec(conf_get(n, "arp_timeout"), &ms, errs) == 0)
				g->arp_timeout_ms = (uint32_t)(ms > 86400000 ? 86400000 : ms);
		}
	}
	if ((n = conf_get(root, "control")) != NULL) {
		const struct conf_node *s;
		const char *t;

		conf_check_keys(n, "control", control_keys, NULL, errs);
		if ((s = conf_get(n, "socket")) != NULL && conf_str(s, &t, errs) == 0) {
			if (strlen(t) >= sizeof(g->control_socket))
				pol_errs_add(errs, s->file, s->line, "socket: path longer than %zu",
				             sizeof(g->control_socket) - 1);
			else
				snprintf(g->control_socket, sizeof(g->control_socket), "%s", t);
		}
		if ((s = conf_get(n, "mode")) != NULL && conf_str(s, &t, errs) == 0) {
			char *end;
			unsigned long m = strtoul(t, &end, 8);

			if (*t == '\0' || *end != '\0' || m > 0777 || (m & 0007))
				pol_errs_add(errs, s->file, s->line,
				             "mode: expected octal permissions such as \"0660\", "
				             "none for others");
			else
				g->control_mode = (uint32_t)m;
		}
		if ((s = conf_get(n, "group")) != NULL && conf_str(s, &t, errs) == 0) {
			struct group *gr = getgrnam(t);

			if (gr == NULL)
				pol_errs_add(errs, s->file, s->line, "group: no group named \"%s\"",
				             t);
			else
				g->control_gid = (int64_t)gr->gr_gid;
		}
	}
	if ((n = conf_get(root, "metrics")) != NULL) {
		const struct conf_node *s;
		const char *t;

		conf_check_keys(n, "metrics", metrics_keys, NULL, errs);
		if ((s = conf_get(n, "listen")) != NULL && conf_str(s, &t, errs) == 0) {
			struct cidr c;
			const char *colon = strrchr(t, ':');
			char host[64];

			if (strcmp(t, "off") == 0) {
				g->metrics_listen[0] = '\0';
			} else if (colon == NULL || (size_t)(colon - t) >= sizeof(host) ||
			           atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535 ||
			           (snprintf(host, sizeof(host), "%.*s", (int)(colon - t), t),
			            cidr_addr_parse(host[0] == '[' ? host + 1 : host, &c) != 0 &&
			                    !(host[0] == '[' && host[strlen(host) - 1] == ']'))) {
				pol_errs_add(errs, s->file, s->line,
				             "listen: expected ADDRESS:PORT (127.0.0.1:9125, "
				             "[::1]:9125) or off");
			} else {
				snprintf(g->metrics_listen, sizeof(g->metrics_listen), "%s", t);
			}
		}
	}
	if ((n = conf_get(root, "auth")) != NULL) {
		if (n->type != CONF_OBJECT)
			pol_errs_add(errs, n->file, n->line,
			             "auth: expected auth { socket = ...; }");
		else
			load_auth(&g->auth, n, errs);
	}
	if ((n = conf_get(root, "log")) != NULL) {
		const char *t;

		if (conf_str(n, &t, errs) == 0) {
			if (strcasecmp(t, "stdout") == 0)
				g->log = GCONF_LOG_STDOUT;
			else if (strcasecmp(t, "syslog") == 0)
				g->log = GCONF_LOG_SYSLOG;
			else if (strncmp(t, "file:", 5) == 0 && t[5] != '\0' &&
			         strlen(t + 5) < sizeof(g->log_file)) {
				g->log = GCONF_LOG_FILE;
				snprintf(g->log_file, sizeof(g->log_file), "%s", t + 5);
			} else
				pol_errs_add(errs, n->file, n->line,
				             "log: expected stdout, syslog or file:PATH");
		}
	}
	user_load(conf_get(root, "user"), path, g, errs);
	conf_free(doc);
	return errs->total > before ? -1 : 0;
}
