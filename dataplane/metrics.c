/* metrics - Prometheus metrics over HTTP and DPDK telemetry (see metrics.h)
 *
 * HTTP: a listening socket on the management address (gate config
 * metrics.listen) served from metrics_poll() on the main thread, without
 * threads and without blocking: at most METRICS_CLIENTS connections, each
 * with a bounded request and one deadline for the whole exchange. `GET
 * /metrics` (or HEAD) answers the text exposition format 0.0.4; any other
 * path 404, another method 405, a malformed request 400, one too large 431,
 * one too slow 408. One request per connection (Connection: close).
 *
 * Telemetry: commands under /smtpgate/ registered with DPDK's telemetry
 * library, whose own threads call them; dpdk-telemetry.py -f FILE_PREFIX
 * shows them.
 *
 * Every number comes from stats_collect(): this module only reads counters.
 *
 * Untrusted input: every byte an HTTP client sends; telemetry parameters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_telemetry.h>

#include "metrics.h"
#include "stats.h"

/* Limits, with their reasons. */
#define METRICS_CLIENTS    8    /* Prometheus, a second scraper and an operator's curl, with room */
#define METRICS_REQ_MAX    4096 /* a scrape's request is some 300 bytes of headers */
#define METRICS_CLIENT_MS  5000 /* the whole exchange (a scrape times out after 10 s) */
#define METRICS_LINGER_MS  1000 /* after the response: wait this long for the client's close */
#define METRICS_REFRESH_MS 1000 /* telemetry's view of the live policy is at most this old */
#define METRICS_BACKLOG    16

enum m_state {
	M_FREE,
	M_READ,   /* reading the request */
	M_WRITE,  /* sending the response */
	M_LINGER, /* response sent and our side shut: reading until the client closes */
};

/* One HTTP connection. */
struct m_client {
	int fd;
	enum m_state state;
	uint64_t deadline; /* ms, monotonic: the connection is closed then */
	size_t in_len;
	char *out; /* the response (malloc'ed), out_off of out_len bytes sent */
	size_t out_len, out_off;
	char in[METRICS_REQ_MAX];
};

static int lfd = -1;
static struct m_client clients[METRICS_CLIENTS];
static struct pol_reader *reader; /* the main thread's, offline between uses */
static struct gate_stats snap;    /* main thread only */
static uint64_t next_refresh;     /* ms: when the policy view is refreshed */
static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static bool tel_open; /* under tel_lock: the lcores' state may be read */

/* now_ms - the monotonic clock in ms */
static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- Prometheus text format 0.0.4 ---- */

/* head - the HELP and TYPE lines of a family */
static void
head(FILE *f, const char *name, const char *help, const char *type)
{
	fprintf(f, "# HELP smtpgate_%s %s\n# TYPE smtpgate_%s %s\n", name, help, name, type);
}

/* label_value - a label value escaped as the format asks (\\, \", \n) */
static void
label_value(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* expose_services - decisions by service, summed over lcores */
static void
expose_services(FILE *f, const struct gate_stats *g)
{
	head(f, "service_sessions_total", "SMTP sessions opened, by service (summed over lcores).",
	     "counter");
	for (unsigned s = 0; s < g->nservices; s++) {
		fputs("smtpgate_service_sessions_total{service=\"", f);
		label_value(f, g->service[s].name);
		fprintf(f, "\"} %" PRIu64 "\n", g->service[s].sessions);
	}
	head(f, "service_verdicts_total",
	     "Policy decisions, by service and reason (summed over lcores).", "counter");
	for (unsigned s = 0; s < g->nservices; s++)
		for (unsigned r = 0; r < POL_R_COUNT; r++) {
			fputs("smtpgate_service_verdicts_total{service=\"", f);
			label_value(f, g->service[s].name);
			fprintf(f, "\",reason=\"%s\"} %" PRIu64 "\n",
			        pol_reason_name((enum pol_reason)r), g->service[s].verdicts[r]);
		}
}

/* expose_rules - decisions by the rule that made them, summed over lcores */
static void
expose_rules(FILE *f, const struct stats_rules *rs)
{
	head(f, "rule_hits_total",
	     "Policy decisions made by a rule (list and entry as written), summed over lcores; "
	     "a rule keeps its count across pushes.",
	     "counter");
	for (size_t i = 0; i < rs->n; i++) {
		fprintf(f, "smtpgate_rule_hits_total{list=\"%s\",entry=\"",
		        pol_list_name(rs->rule[i].list));
		label_value(f, rs->rule[i].entry);
		fprintf(f, "\"} %" PRIu64 "\n", rs->rule[i].hits);
	}
	head(f, "rule_hits_untracked_total",
	     "Policy decisions made by rules first hit when an lcore's rule counters were all "
	     "taken, by list.",
	     "counter");
	for (unsigned l = 0; l < POL_L_COUNT; l++)
		fprintf(f, "smtpgate_rule_hits_untracked_total{list=\"%s\"} %" PRIu64 "\n",
		        pol_list_name((enum pol_list)l), rs->untracked[l]);
}

/* expose - the whole exposition of a snapshot */
static void
expose(FILE *f, const struct gate_stats *g, const struct stats_rules *rs)
{
	size_t nm;
	const struct stats_metric *mt = stats_metrics(&nm);

	for (size_t m = 0; m < nm; m++) {
		head(f, mt[m].name, mt[m].help, mt[m].gauge ? "gauge" : "counter");
		for (unsigned i = 0; i < g->nlcores; i++)
			for (unsigned k = 0; k < mt[m].n; k++) {
				fprintf(f, "smtpgate_%s{lcore=\"%u\"", mt[m].name,
				        g->lcore[i].lcore_id);
				if (mt[m].label != NULL)
					fprintf(f, ",%s=\"%s\"", mt[m].label, mt[m].v[k].label);
				fprintf(f, "} %" PRIu64 "\n", stats_get(&g->lcore[i], &mt[m].v[k]));
			}
	}
	expose_services(f, g);
	expose_rules(f, rs);
	head(f, "backend_up",
	     "Whether a backend of the live policy is tried (1) or marked down "
	     "after a failure by some lcore (0).",
	     "gauge");
	for (unsigned b = 0; b < g->nbackends; b++) {
		fputs("smtpgate_backend_up{backend=\"", f);
		label_value(f, g->backend[b].name);
		fprintf(f, "\"} %d\n", g->backend[b].up ? 1 : 0);
	}
	head(f, "backend_lcores_down", "Lcores that skip a backend now after it failed.", "gauge");
	for (unsigned b = 0; b < g->nbackends; b++) {
		fputs("smtpgate_backend_lcores_down{backend=\"", f);
		label_value(f, g->backend[b].name);
		fprintf(f, "\"} %u\n", g->backend[b].lcores_down);
	}
	head(f, "policy_version", "Version of the live policy (1 at start, +1 per push).", "gauge");
	fprintf(f, "smtpgate_policy_version %" PRIu64 "\n", g->policy_version);
	head(f, "draining", "1 while the gate drains before it stops.", "gauge");
	fprintf(f, "smtpgate_draining %d\n", g->draining ? 1 : 0);
	head(f, "lcores", "Worker lcores.", "gauge");
	fprintf(f, "smtpgate_lcores %u\n", g->nlcores);
}

/* ---- HTTP ---- */

/* respond - make the whole response; body may be NULL (HEAD, or none) */
static void
respond(struct m_client *c, const char *status, const char *ctype, const char *body,
        size_t body_len, bool head_only, const char *extra)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL) {
		c->state = M_FREE; /* the caller closes */
		return;
	}
	fprintf(f,
	        "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
	        "close\r\n\r\n",
	        status, ctype, body_len, extra != NULL ? extra : "");
	if (!head_only && body_len > 0)
		fwrite(body, 1, body_len, f);
	if (fclose(f) != 0) {
		free(buf);
		c->state = M_FREE;
		return;
	}
	c->out = buf;
	c->out_len = len;
	c->out_off = 0;
	c->state = M_WRITE;
}

/* respond_error - a short text response with the status as its body */
static void
respond_error(struct m_client *c, const char *status, const char *extra)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	respond(c, status, "text/plain; charset=utf-8", body, (size_t)n, false, extra);
}

/* serve_metrics - the scrape */
static void
serve_metrics(struct m_client *c, bool head_only)
{
	char *body = NULL;
	size_t len = 0;
	struct stats_rules rs;
	FILE *f;

	if (stats_rules_collect(&rs) < 0) {
		respond_error(c, "500 Internal Server Error", NULL);
		return;
	}
	f = open_memstream(&body, &len);
	if (f == NULL) {
		stats_rules_free(&rs);
		respond_error(c, "500 Internal Server Error", NULL);
		return;
	}
	stats_collect(&snap, reader);
	expose(f, &snap, &rs);
	stats_rules_free(&rs);
	if (fclose(f) != 0) {
		free(body);
		respond_error(c, "500 Internal Server Error", NULL);
		return;
	}
	respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head_only,
	        NULL);
	free(body);
}

/* is_tchar - a character of an HTTP token (RFC 9110 5.6.2) */
static bool
is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* handle - a complete request head in c->in[0..len): "METHOD SP TARGET SP
 * HTTP/1.x" and header lines; only the request line matters */
static void
handle(struct m_client *c, size_t len)
{
	const char *p = c->in, *end = c->in + len;
	const char *method = p, *target, *version;
	size_t mlen, tlen;

	while (p < end && is_tchar(*p))
		p++;
	mlen = (size_t)(p - method);
	if (mlen == 0 || p == end || *p++ != ' ') {
		respond_error(c, "400 Bad Request", NULL);
		return;
	}
	target = p;
	while (p < end && (unsigned char)*p > ' ' && *p != 0x7f)
		p++;
	tlen = (size_t)(p - target);
	if (tlen == 0 || *target != '/' || p == end || *p++ != ' ') {
		respond_error(c, "400 Bad Request", NULL);
		return;
	}
	version = p;
	if ((size_t)(end - version) < 9 || memcmp(version, "HTTP/1.", 7) != 0 ||
	    (version[7] != '0' && version[7] != '1') ||
	    !(version[8] == '\n' || (version[8] == '\r' && version[9] == '\n'))) {
		respond_error(c, "400 Bad Request", NULL);
		return;
	}
	if (!(tlen == 8 && memcmp(target, "/metrics", 8) == 0) &&
	    !(tlen > 8 && memcmp(target, "/metrics?", 9) == 0)) {
		respond_error(c, "404 Not Found", NULL);
		return;
	}
	if (mlen == 3 && memcmp(method, "GET", 3) == 0)
		serve_metrics(c, false);
	else if (mlen == 4 && memcmp(method, "HEAD", 4) == 0)
		serve_metrics(c, true);
	else
		respond_error(c, "405 Method Not Allowed", "Allow: GET, HEAD\r\n");
}

/* head_end - the length of the request head (through its empty line), or 0 */
static size_t
head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* client_close - free the slot */
static void
client_close(struct m_client *c)
{
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->state = M_FREE;
}

/* client_read - more of the request; a complete one is answered */
static void
client_read(struct m_client *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	size_t len;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	/* look for the end again from a little before the new bytes */
	size_t from = c->in_len > 3 ? c->in_len - 3 : 0;

	c->in_len += (size_t)n;
	len = head_end(c->in + from, c->in_len - from);
	if (len > 0)
		handle(c, from + len);
	else if (c->in_len == sizeof(c->in))
		respond_error(c, "431 Request Header Fields Too Large", NULL);
	else
		return;
	if (c->state == M_FREE) /* no memory for an answer */
		client_close(c);
}

/* client_write - more of the response; then our side is shut and we linger */
static void
client_write(struct m_client *c, uint64_t now)
{
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len)
		return;
	free(c->out);
	c->out = NULL;
	/* closing with unread bytes would send a RST that may destroy the
	 * response in flight: shut our side, read until the client closes */
	shutdown(c->fd, SHUT_WR);
	c->state = M_LINGER;
	if (c->deadline > now + METRICS_LINGER_MS)
		c->deadline = now + METRICS_LINGER_MS;
}

/* client_linger - discard what the client still sends, until its close */
static void
client_linger(struct m_client *c)
{
	char sink[512];
	ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		client_close(c);
}

/* accept_all - take the new connections; with every slot busy, 503 and close */
static void
accept_all(uint64_t now)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		unsigned i;

		if (fd < 0)
			return;
		for (i = 0; i < METRICS_CLIENTS && clients[i].state != M_FREE; i++)
			;
		if (i == METRICS_CLIENTS) {
			static const char busy[] =
			        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: "
			        "0\r\nConnection: close\r\n\r\n";

			char sink[512];

			/* read what it sent already: closing with unread bytes
			 * would send a RST that may destroy the answer */
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL) > 0 &&
			    recv(fd, sink, sizeof(sink), 0) >= 0)
				shutdown(fd, SHUT_WR);
			close(fd);
			continue;
		}
		clients[i] = (struct m_client){
		        .fd = fd, .state = M_READ, .deadline = now + METRICS_CLIENT_MS};
	}
}

/* client_timeout - the deadline passed: 408 once if the request is incomplete, else close */
static void
client_timeout(struct m_client *c, uint64_t now)
{
	if (c->state == M_READ && c->in_len > 0) {
		respond_error(c, "408 Request Timeout", NULL);
		if (c->state == M_WRITE) {
			c->deadline = now + METRICS_LINGER_MS;
			client_write(c, now);
			return;
		}
	}
	client_close(c);
}

/* parse_listen - "127.0.0.1:9125" or "[::1]:9125" into a socket address; 0 or -1 */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *endp;
	unsigned long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	port = strtoul(colon + 1, &endp, 10);
	if (colon[1] == '\0' || *endp != '\0' || port == 0 || port > 65535)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		size_t hl = strlen(host);

		if (hl < 3 || host[hl - 1] != ']')
			return -1;
		host[hl - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*a);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*sl = sizeof(*a);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

/* http_open - the listening socket; 0 or -1 */
static int
http_open(const char *listen_at)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	if (parse_listen(listen_at, &ss, &sl) < 0) {
		fprintf(stderr, "smtpgate: metrics: listen \"%s\": expected ADDRESS:PORT\n",
		        listen_at);
		return -1;
	}
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, METRICS_BACKLOG) < 0) {
		fprintf(stderr, "smtpgate: metrics: listen on %s: %s\n", listen_at,
		        strerror(errno));
		if (lfd >= 0)
			close(lfd);
		lfd = -1;
		return -1;
	}
	printf("smtpgate: metrics on http://%s/metrics\n", listen_at);
	return 0;
}

/* ---- DPDK telemetry ---- */

/* tel_name - the telemetry key of a series: "smtp_verdicts_relay_denied" */
static void
tel_name(char *buf, size_t size, const char *name, const char *label)
{
	size_t n = strlen(name);

	if (n > 6 && strcmp(name + n - 6, "_total") == 0)
		n -= 6;
	if (label != NULL)
		snprintf(buf, size, "%.*s_%s", (int)n, name, label);
	else
		snprintf(buf, size, "%.*s", (int)n, name);
}

/* tel_dict - one lcore's (or the total) counters as a flat dict */
static void
tel_dict(struct rte_tel_data *d, const struct stats_lcore *s)
{
	char key[RTE_TEL_MAX_STRING_LEN];
	size_t nm;
	const struct stats_metric *mt = stats_metrics(&nm);

	for (size_t m = 0; m < nm; m++)
		for (unsigned k = 0; k < mt[m].n; k++) {
			tel_name(key, sizeof(key), mt[m].name, mt[m].v[k].label);
			rte_tel_data_add_dict_u64(d, key, stats_get(s, &mt[m].v[k]));
		}
}

/* tel_collect - a snapshot for a telemetry thread (no RCU reader: the
 * policy's view is the main thread's, refreshed every second); NULL once
 * the gate stops. Hold tel_lock while it is used. */
static struct gate_stats *
tel_collect(void)
{
	struct gate_stats *g;

	pthread_mutex_lock(&tel_lock);
	g = tel_open ? malloc(sizeof(*g)) : NULL;
	if (g == NULL) {
		pthread_mutex_unlock(&tel_lock);
		return NULL;
	}
	stats_collect(g, NULL);
	return g;
}

static void
tel_release(struct gate_stats *g)
{
	free(g);
	pthread_mutex_unlock(&tel_lock);
}

/* tel_stats - /smtpgate/stats: the totals over all lcores */
static int
tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct gate_stats *g = tel_collect();

	(void)cmd;
	(void)params;
	if (g == NULL)
		return -EAGAIN;
	rte_tel_data_start_dict(d);
	tel_dict(d, &g->total);
	rte_tel_data_add_dict_u64(d, "lcores", g->nlcores);
	rte_tel_data_add_dict_u64(d, "policy_version", g->policy_version);
	rte_tel_data_add_dict_u64(d, "draining", g->draining);
	tel_release(g);
	return 0;
}

/* tel_lcore - /smtpgate/lcore,ID: one worker lcore's counters */
static int
tel_lcore(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct gate_stats *g;
	unsigned long id;
	char *end;

	(void)cmd;
	if (params == NULL || params[0] < '0' || params[0] > '9')
		return -EINVAL;
	id = strtoul(params, &end, 10);
	if (*end != '\0' || (g = tel_collect()) == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < g->nlcores; i++)
		if (g->lcore[i].lcore_id == id) {
			rte_tel_data_start_dict(d);
			rte_tel_data_add_dict_u64(d, "lcore", id);
			tel_dict(d, &g->lcore[i]);
			tel_release(g);
			return 0;
		}
	tel_release(g);
	return -EINVAL;
}

/* tel_lcores - /smtpgate/lcores: the worker lcores' ids */
static int
tel_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct gate_stats *g = tel_collect();

	(void)cmd;
	(void)params;
	if (g == NULL)
		return -EAGAIN;
	rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
	for (unsigned i = 0; i < g->nlcores; i++)
		rte_tel_data_add_array_int(d, (int)g->lcore[i].lcore_id);
	tel_release(g);
	return 0;
}

/* tel_backends - /smtpgate/backends: the live policy's backends as
 * parallel arrays (telemetry keys cannot hold an address): address, up
 * (1, or 0 when some lcore marked it down), lcores_down */
static int
tel_backends(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct rte_tel_data *addr = rte_tel_data_alloc(), *up = rte_tel_data_alloc(),
	                    *down = rte_tel_data_alloc();
	struct gate_stats *g = addr != NULL && up != NULL && down != NULL ? tel_collect() : NULL;

	(void)cmd;
	(void)params;
	if (g == NULL) {
		rte_tel_data_free(addr);
		rte_tel_data_free(up);
		rte_tel_data_free(down);
		return -ENOMEM;
	}
	rte_tel_data_start_array(addr, RTE_TEL_STRING_VAL);
	rte_tel_data_start_array(up, RTE_TEL_INT_VAL);
	rte_tel_data_start_array(down, RTE_TEL_INT_VAL);
	for (unsigned b = 0; b < g->nbackends; b++) {
		rte_tel_data_add_array_string(addr, g->backend[b].name);
		rte_tel_data_add_array_int(up, g->backend[b].up);
		rte_tel_data_add_array_int(down, (int)g->backend[b].lcores_down);
	}
	tel_release(g);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_container(d, "address", addr, 0);
	rte_tel_data_add_dict_container(d, "up", up, 0);
	rte_tel_data_add_dict_container(d, "lcores_down", down, 0);
	return 0;
}

/* tel_services - /smtpgate/services: per service name, its sessions and
 * decisions by reason, summed over lcores */
static int
tel_services(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct gate_stats *g = tel_collect();

	(void)cmd;
	(void)params;
	if (g == NULL)
		return -EAGAIN;
	rte_tel_data_start_dict(d);
	for (unsigned s = 0; s < g->nservices && s < RTE_TEL_MAX_DICT_ENTRIES; s++) {
		struct rte_tel_data *v = rte_tel_data_alloc();
		char key[RTE_TEL_MAX_STRING_LEN];

		if (v == NULL)
			break;
		rte_tel_data_start_dict(v);
		rte_tel_data_add_dict_u64(v, "sessions", g->service[s].sessions);
		for (unsigned r = 0; r < POL_R_COUNT; r++) {
			snprintf(key, sizeof(key), "verdicts_%s",
			         pol_reason_name((enum pol_reason)r));
			rte_tel_data_add_dict_u64(v, key, g->service[s].verdicts[r]);
		}
		rte_tel_data_add_dict_container(d, g->service[s].name, v, 0);
	}
	tel_release(g);
	return 0;
}

/* tel_rules - /smtpgate/rules: the counted rules as parallel arrays (list,
 * entry, hits; at most RTE_TEL_MAX_ARRAY_ENTRIES) and the untracked hits by list */
static int
tel_rules(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct rte_tel_data *list = rte_tel_data_alloc(), *entry = rte_tel_data_alloc(),
	                    *hits = rte_tel_data_alloc(), *untracked = rte_tel_data_alloc();
	struct stats_rules rs;
	int rc = -ENOMEM;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&tel_lock); /* the lcores' state may be read only while open */
	if (!tel_open)
		rc = -EAGAIN;
	else if (list != NULL && entry != NULL && hits != NULL && untracked != NULL &&
	         stats_rules_collect(&rs) == 0)
		rc = 0;
	pthread_mutex_unlock(&tel_lock);
	if (rc != 0) {
		rte_tel_data_free(list);
		rte_tel_data_free(entry);
		rte_tel_data_free(hits);
		rte_tel_data_free(untracked);
		return rc;
	}
	rte_tel_data_start_array(list, RTE_TEL_STRING_VAL);
	rte_tel_data_start_array(entry, RTE_TEL_STRING_VAL);
	rte_tel_data_start_array(hits, RTE_TEL_U64_VAL);
	rte_tel_data_start_dict(untracked);
	for (size_t i = 0; i < rs.n && i < RTE_TEL_MAX_ARRAY_ENTRIES; i++) {
		rte_tel_data_add_array_string(list, pol_list_name(rs.rule[i].list));
		rte_tel_data_add_array_string(entry, rs.rule[i].entry);
		rte_tel_data_add_array_u64(hits, rs.rule[i].hits);
	}
	for (unsigned l = 0; l < POL_L_COUNT; l++)
		rte_tel_data_add_dict_u64(untracked, pol_list_name((enum pol_list)l),
		                          rs.untracked[l]);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_container(d, "list", list, 0);
	rte_tel_data_add_dict_container(d, "entry", entry, 0);
	rte_tel_data_add_dict_container(d, "hits", hits, 0);
	rte_tel_data_add_dict_container(d, "untracked", untracked, 0);
	rte_tel_data_add_dict_u64(d, "rules", rs.n);
	stats_rules_free(&rs);
	return 0;
}

/* tel_register - the telemetry commands; 0 or -1 */
static int
tel_register(void)
{
	if (rte_telemetry_register_cmd("/smtpgate/stats", tel_stats,
	                               "smtpgate counters summed over lcores. No parameters") !=
	            0 ||
	    rte_telemetry_register_cmd("/smtpgate/lcore", tel_lcore,
	                               "smtpgate counters of one worker lcore. Parameters: int "
	                               "lcore_id") != 0 ||
	    rte_telemetry_register_cmd("/smtpgate/lcores", tel_lcores,
	                               "smtpgate worker lcore ids. No parameters") != 0 ||
	    rte_telemetry_register_cmd("/smtpgate/backends", tel_backends,
	                               "smtpgate backends of the live policy: 1 up, 0 marked down. "
	                               "No parameters") != 0 ||
	    rte_telemetry_register_cmd(
	            "/smtpgate/services", tel_services,
	            "smtpgate sessions and decisions by service. No parameters") != 0 ||
	    rte_telemetry_register_cmd("/smtpgate/rules", tel_rules,
	                               "smtpgate decisions by rule: parallel arrays list, entry, "
	                               "hits. No parameters") != 0) {
		fprintf(stderr, "smtpgate: metrics: cannot register telemetry commands\n");
		return -1;
	}
	return 0;
}

/* ---- the API ---- */

int
metrics_open(const struct gconf *gc)
{
	for (unsigned i = 0; i < METRICS_CLIENTS; i++)
		clients[i] = (struct m_client){.fd = -1};
	reader = pol_reader_register();
	if (reader == NULL) {
		fprintf(stderr, "smtpgate: metrics: no RCU reader slot left\n");
		return -1;
	}
	pol_reader_offline(reader);
	stats_collect(&snap, reader);
	next_refresh = now_ms() + METRICS_REFRESH_MS;
	pthread_mutex_lock(&tel_lock);
	tel_open = true;
	pthread_mutex_unlock(&tel_lock);
	if (tel_register() < 0)
		return -1;
	if (gc->metrics_listen[0] != '\0' && http_open(gc->metrics_listen) < 0)
		return -1;
	return 0;
}

void
metrics_poll(void)
{
	struct pollfd p[METRICS_CLIENTS + 1];
	struct m_client *pc[METRICS_CLIENTS + 1];
	uint64_t now = now_ms();
	nfds_t n = 0;

	if (reader != NULL && now >= next_refresh) {
		stats_collect(&snap, reader); /* keeps telemetry's view of the policy fresh */
		next_refresh = now + METRICS_REFRESH_MS;
	}
	if (lfd < 0)
		return;
	p[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
	pc[n++] = NULL;
	for (unsigned i = 0; i < METRICS_CLIENTS; i++) {
		struct m_client *c = &clients[i];

		if (c->state == M_FREE)
			continue;
		if (now >= c->deadline) {
			client_timeout(c, now);
			if (c->state == M_FREE)
				continue;
		}
		p[n] = (struct pollfd){.fd = c->fd,
		                       .events = c->state == M_WRITE ? POLLOUT : POLLIN};
		pc[n++] = c;
	}
	if (poll(p, n, 0) <= 0)
		return;
	for (nfds_t i = 1; i < n; i++) {
		struct m_client *c = pc[i];

		if (p[i].revents == 0)
			continue;
		if (c->state == M_READ)
			client_read(c);
		if (c->state == M_WRITE)
			client_write(c, now);
		else if (c->state == M_LINGER)
			client_linger(c);
	}
	if (p[0].revents & POLLIN)
		accept_all(now);
}

void
metrics_close(void)
{
	pthread_mutex_lock(&tel_lock);
	tel_open = false;
	pthread_mutex_unlock(&tel_lock);
	for (unsigned i = 0; i < METRICS_CLIENTS; i++)
		if (clients[i].state != M_FREE)
			client_close(&clients[i]);
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
	if (reader != NULL) {
		pol_reader_online(reader);
		pol_reader_unregister(reader);
	}
	reader = NULL;
}
