/* authd - the auth thread: Dovecot's authentication protocol for the lcores' AUTH checks
 *
 * A thread of the control side (not an lcore: it blocks in poll()). It
 * keeps one connection to the Dovecot auth server named in the gate config
 * (a UNIX socket such as Postfix's private/auth, or TCP), and for every
 * request the lcores queue (auth.h) sends one AUTH of mechanism PLAIN with
 * the whole credentials as its initial response, as Postfix's
 * xsasl_dovecot_server does; LOGIN's two answers were folded into PLAIN's
 * form by the engine. The protocol (doc.dovecot.org, "Dovecot
 * Authentication Protocol", v1.x):
 *
 *   C: VERSION TAB 1 TAB 2 / CPID TAB pid
 *   S: VERSION TAB 1 TAB x / MECH TAB name ... / SPID / CUID / COOKIE / DONE
 *   C: AUTH TAB id TAB PLAIN TAB service=smtp TAB nologin TAB no-penalty TAB lip=
 *      TAB rip= TAB lport= TAB rport= [TAB secured] TAB resp=BASE64
 *   S: OK TAB id [TAB user=NAME ...] | FAIL TAB id [TAB temp] [TAB reason=...]
 *      | CONT TAB id TAB data (not expected for PLAIN with a response)
 *
 * Every request is answered (on the asking lcore's ring) within the
 * configured timeout: OK, FAIL, TEMP (the server is down, slow, said
 * "temp", or broke the protocol) or LIMIT (the client failed too often).
 * At most max_inflight requests are sent and not answered; the rest wait in
 * the request ring. The server reconnects after a second when lost.
 *
 * Failures are counted per client here (authrate.h: an IPv4 address or an
 * IPv6 /64), and a client past max_failures in failure_window is refused
 * without asking the server.
 * Dovecot's own auth penalty (it delays its answers to an address that
 * failed, up to 15 s) is turned off with no-penalty: delayed answers would
 * hold max_inflight slots and let one guessing client starve everyone.
 *
 * Untrusted input: the server's lines (bounded, split on TAB, ids checked
 * against what is pending). The server is the ISP's own, but a broken one
 * must not make the gate hang or overflow: a line over AUTHD_LINE_MAX or a
 * bad handshake drops the connection, and every pending check gets 454.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "auth.h"
#include "authrate.h"
#include "lcore.h"
#include "logq.h"

#define AUTHD_LINE_MAX  16384 /* the protocol's expected longest line (doc: 16384 bytes) */
#define AUTHD_AUTH_LINE (512 + AUTH_CRED_MAX * 2) /* one AUTH line: fields and the base64 */
#define AUTHD_RETRY_MS  1000                      /* after a failed connect or a lost server */
#define AUTHD_POLL_MS   2 /* how long poll() sleeps: the lcores' requests wait this at most */

enum conn_state {
	C_DOWN,       /* no connection; retry at retry_ms */
	C_CONNECTING, /* TCP connect in progress */
	C_HANDSHAKE,  /* our VERSION sent, waiting for DONE */
	C_READY,
};

/* A request sent to the server, waiting for its answer. */
struct pending {
	uint32_t id; /* our AUTH id; 0: free */
	uint16_t worker, slot;
	uint32_t gen;
	uint64_t deadline_ms;
	uint8_t family;
	uint8_t client[AUTH_ADDR_SIZE]; /* for the failure count */
};

static struct {
	const struct gconf_auth *cf;
	pthread_t thread;
	bool running;
	volatile bool stop;
	int fd;
	enum conn_state state;
	uint64_t retry_ms;
	bool have_plain; /* the server offered PLAIN */
	uint32_t next_id;
	char in[AUTHD_LINE_MAX];
	size_t inlen;
	char *out; /* outcap: AUTH lines not written yet (each pending one at most) */
	size_t outlen, outcap;
	uint64_t since_ms;    /* when the connect began: the handshake has the check timeout too */
	struct pending *pend; /* cf->max_inflight */
	uint32_t npend;
	struct authrate rate; /* failed checks per client (IPv4 address, IPv6 /64) */
	struct logq log;
	uint64_t ms_div; /* TSC ticks per ms, as the lcores count */
	bool warned_down;
} ad = {.fd = -1};

/* now_ms - the lcores' clock */
static uint64_t
now_ms(void)
{
	return rte_rdtsc() / ad.ms_div;
}

/* wipe - forget a secret; the compiler may not drop this store */
static void
wipe(void *p, size_t len)
{
	memset(p, 0, len);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ---- answers and the failure count ---- */

/* answer - to the asking lcore's ring; it never fills (auth.h) */
static void
answer(uint16_t worker, uint16_t slot, uint32_t gen, enum smtp_auth_result r, const char *user)
{
	struct auth_ans a = {.slot = slot, .result = (uint8_t)r, .gen = gen};

	if (worker >= gate_workers.n)
		return;
	if (user != NULL)
		snprintf(a.user, sizeof(a.user), "%s", user);
	(void)rte_ring_sp_enqueue_elem(gate_workers.lc[worker]->auth.answers, &a, sizeof(a));
}

/* ---- pending checks ---- */

static struct pending *
pending_find(uint32_t id)
{
	for (uint32_t i = 0; i < ad.cf->max_inflight; i++)
		if (ad.pend[i].id == id)
			return &ad.pend[i];
	return NULL;
}

/* finish - answer a pending check and free it */
static void
finish(struct pending *p, enum smtp_auth_result r, const char *user)
{
	answer(p->worker, p->slot, p->gen, r, user);
	p->id = 0;
	ad.npend--;
}

/* fail_all - the server is gone: every pending check gets 454 */
static void
fail_all(void)
{
	for (uint32_t i = 0; i < ad.cf->max_inflight; i++)
		if (ad.pend[i].id != 0)
			finish(&ad.pend[i], SMTP_AUTH_TEMP, NULL);
}

/* ---- the connection ---- */

/* drop - close the connection, answer what waited, retry later */
static void
drop(const char *why)
{
	if (ad.fd >= 0) {
		logq_printf(&ad.log, "warning: SASL: connection to %s lost: %s", ad.cf->socket,
		            why);
		close(ad.fd);
	}
	ad.fd = -1;
	ad.state = C_DOWN;
	ad.inlen = 0;
	ad.outlen = 0;
	ad.retry_ms = now_ms() + AUTHD_RETRY_MS;
	fail_all();
}

/* put - append to the output (false: no room, the caller drops) */
static bool
put(const char *s, size_t len)
{
	if (ad.outlen + len > ad.outcap)
		return false;
	memcpy(ad.out + ad.outlen, s, len);
	ad.outlen += len;
	return true;
}

/* open_socket - a non-blocking socket connecting to the configured server */
static int
open_socket(void)
{
	const struct gconf_auth *cf = ad.cf;
	struct sockaddr_storage sa = {0};
	socklen_t salen;
	int fd;

	if (cf->addr.family == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&sa;

		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s", cf->socket);
		salen = sizeof(*un);
	} else if (cf->addr.family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;

		in->sin_family = AF_INET;
		in->sin_port = htons(cf->port);
		memcpy(&in->sin_addr, cf->addr.addr, 4);
		salen = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(cf->port);
		memcpy(&in6->sin6_addr, cf->addr.addr, 16);
		salen = sizeof(*in6);
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0 && errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* try_connect - (re)connect when it is time; the handshake goes out at once */
static void
try_connect(uint64_t now)
{
	char hello[64];
	int n;

	if (ad.state != C_DOWN || now < ad.retry_ms)
		return;
	ad.retry_ms = now + AUTHD_RETRY_MS;
	if ((ad.fd = open_socket()) < 0) {
		if (!ad.warned_down)
			logq_printf(&ad.log, "warning: SASL: connect to %s failed: %s",
			            ad.cf->socket, strerror(errno));
		ad.warned_down = true;
		return;
	}
	ad.state = ad.cf->addr.family != 0 ? C_CONNECTING : C_HANDSHAKE;
	ad.since_ms = now;
	ad.have_plain = false;
	n = snprintf(hello, sizeof(hello), "VERSION\t1\t2\nCPID\t%d\n", (int)getpid());
	put(hello, (size_t)n);
}

/* ---- protocol ---- */

/* unescape - Dovecot's tab-escaping (\001 then 0, 1, t, r, n or l) in place */
static void
unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (*s != '\001' || s[1] == '\0') {
			*w++ = *s;
			continue;
		}
		s++;
		switch (*s) {
		case '0':
			*w++ = '\0'; /* a NUL would cut the name: it is refused by the engine */
			break;
		case '1':
			*w++ = '\001';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 'n':
		case 'l':
			*w++ = '\n';
			break;
		default:
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* split - the TAB-separated fields of a line, in place; how many (at most max) */
static unsigned
split(char *line, char **f, unsigned max)
{
	unsigned n = 0;

	while (n < max) {
		f[n++] = line;
		if ((line = strchr(line, '\t')) == NULL)
			break;
		*line++ = '\0';
	}
	return n;
}

/* handshake_line - a line before DONE: VERSION must be 1.x; MECH PLAIN must be there */
static void
handshake_line(char **f, unsigned n)
{
	if (strcmp(f[0], "VERSION") == 0) {
		if (n < 2 || strcmp(f[1], "1") != 0)
			drop("server speaks another protocol version");
	} else if (strcmp(f[0], "MECH") == 0) {
		if (n >= 2 && strcasecmp(f[1], "PLAIN") == 0)
			ad.have_plain = true;
	} else if (strcmp(f[0], "DONE") == 0) {
		if (!ad.have_plain) {
			drop("server does not offer the PLAIN mechanism");
			return;
		}
		if (ad.warned_down)
			logq_printf(&ad.log, "SASL: connected to %s", ad.cf->socket);
		ad.warned_down = false;
		ad.state = C_READY;
	}
	/* SPID, CUID, COOKIE and whatever comes later: not needed */
}

/* reply_line - OK, FAIL or CONT for one of our checks */
static void
reply_line(char **f, unsigned n, uint64_t now)
{
	const char *user = NULL;
	bool temp = false;
	struct pending *p;
	char *end;
	unsigned long id;

	if (n < 2)
		return;
	id = strtoul(f[1], &end, 10);
	if (*end != '\0' || id == 0 || id > UINT32_MAX || (p = pending_find((uint32_t)id)) == NULL)
		return; /* timed out already, or not ours */
	for (unsigned i = 2; i < n; i++) {
		if (strncmp(f[i], "user=", 5) == 0) {
			unescape(f[i] + 5);
			user = f[i] + 5;
		} else if (strcmp(f[i], "temp") == 0)
			temp = true;
	}
	if (strcmp(f[0], "OK") == 0) {
		finish(p, SMTP_AUTH_OK, user);
	} else if (strcmp(f[0], "FAIL") == 0 && !temp) {
		authrate_fail(&ad.rate, p->family, p->client, now);
		finish(p, SMTP_AUTH_FAIL, NULL);
	} else {
		/* temp, or a CONT we did not ask for: cannot tell, try later */
		finish(p, SMTP_AUTH_TEMP, NULL);
	}
}

/* read_lines - what the server sent; false once the connection is dropped */
static bool
read_lines(uint64_t now)
{
	ssize_t r = read(ad.fd, ad.in + ad.inlen, sizeof(ad.in) - ad.inlen);
	char *line, *nl;

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		drop(r == 0 ? "closed by the server" : strerror(errno));
		return false;
	}
	ad.inlen += (size_t)r;
	line = ad.in;
	while ((nl = memchr(line, '\n', ad.inlen - (size_t)(line - ad.in))) != NULL) {
		char *f[32];
		unsigned n;

		*nl = '\0';
		n = split(line, f, 32);
		if (ad.state == C_HANDSHAKE)
			handshake_line(f, n);
		else
			reply_line(f, n, now);
		if (ad.state == C_DOWN)
			return false;
		line = nl + 1;
	}
	ad.inlen -= (size_t)(line - ad.in);
	memmove(ad.in, line, ad.inlen);
	if (ad.inlen == sizeof(ad.in)) {
		drop("line too long");
		return false;
	}
	return true;
}

/* write_out - send what is queued; false once the connection is dropped */
static bool
write_out(void)
{
	ssize_t w;

	if (ad.outlen == 0)
		return true;
	w = write(ad.fd, ad.out, ad.outlen);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return true;
		drop(strerror(errno));
		return false;
	}
	/* the output holds credentials: what is sent is wiped as it goes */
	memmove(ad.out, ad.out + w, ad.outlen - (size_t)w);
	wipe(ad.out + ad.outlen - (size_t)w, (size_t)w);
	ad.outlen -= (size_t)w;
	return true;
}

/* b64 - base64 of len bytes of in at out (4 * ceil(len / 3) + 1 bytes) */
static size_t
b64(const unsigned char *in, size_t len, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[n++] = t[v >> 18];
		out[n++] = t[(v >> 12) & 63];
		out[n++] = i + 1 < len ? t[(v >> 6) & 63] : '=';
		out[n++] = i + 2 < len ? t[v & 63] : '=';
	}
	out[n] = '\0';
	return n;
}

/* send_auth - one AUTH line for a request; false when it did not fit */
static bool
send_auth(const struct auth_req *rq, uint32_t id)
{
	char line[AUTHD_AUTH_LINE], lip[INET6_ADDRSTRLEN], rip[INET6_ADDRSTRLEN];
	int af = rq->family == 4 ? AF_INET : AF_INET6;
	int n;
	bool ok;

	inet_ntop(af, rq->local, lip, sizeof(lip));
	inet_ntop(af, rq->client, rip, sizeof(rip));
	n = snprintf(line, sizeof(line),
	             "AUTH\t%u\tPLAIN\tservice=smtp\tnologin\tno-penalty\tlip=%s\trip=%s\tlport=%"
	             "u\trport=%u%s"
	             "\tresp=",
	             id, lip, rip, rq->lport, rq->rport, rq->tls ? "\tsecured" : "");
	if (n < 0 || (size_t)n + 4 * (rq->cred_len / 3 + 1) + 2 > sizeof(line))
		return false;
	n += (int)b64((const unsigned char *)rq->cred, rq->cred_len, line + n);
	line[n++] = '\n';
	ok = put(line, (size_t)n);
	wipe(line, sizeof(line));
	return ok;
}

/* take_request - the next request: answered at once, or sent to the server */
static void
take_request(const struct auth_req *rq, uint64_t now)
{
	struct pending *p;

	if (now - rq->asked_ms >= ad.cf->timeout_ms) {
		answer(rq->worker, rq->slot, rq->gen, SMTP_AUTH_TEMP, NULL);
		return;
	}
	if (authrate_limited(&ad.rate, rq->family, rq->client, now)) {
		answer(rq->worker, rq->slot, rq->gen, SMTP_AUTH_LIMIT, NULL);
		return;
	}
	if (ad.state != C_READY) {
		answer(rq->worker, rq->slot, rq->gen, SMTP_AUTH_TEMP, NULL);
		return;
	}
	if (++ad.next_id == 0)
		ad.next_id = 1;
	if (!send_auth(rq, ad.next_id)) {
		answer(rq->worker, rq->slot, rq->gen, SMTP_AUTH_TEMP, NULL);
		return;
	}
	p = pending_find(0);
	*p = (struct pending){.id = ad.next_id,
	                      .worker = rq->worker,
	                      .slot = rq->slot,
	                      .gen = rq->gen,
	                      .deadline_ms = rq->asked_ms + ad.cf->timeout_ms,
	                      .family = rq->family};
	memcpy(p->client, rq->client, AUTH_ADDR_SIZE);
	ad.npend++;
}

/* take_requests - as many as may be in flight; while (re)connecting they
 * wait in the ring, unless no server can be reached at all */
static void
take_requests(uint64_t now)
{
	struct auth_req rq;

	while (ad.npend < ad.cf->max_inflight && (ad.state == C_READY || ad.state == C_DOWN)) {
		if (rte_ring_sc_dequeue_elem(auth_requests, &rq, sizeof(rq)) != 0)
			break;
		take_request(&rq, now);
		wipe(rq.cred, sizeof(rq.cred));
	}
}

/* expire - checks the server did not answer in time: 454; a server that
 * does not finish its handshake in that time is given up on */
static void
expire(uint64_t now)
{
	if ((ad.state == C_CONNECTING || ad.state == C_HANDSHAKE) &&
	    now - ad.since_ms >= ad.cf->timeout_ms) {
		drop("no handshake");
		return;
	}
	for (uint32_t i = 0; i < ad.cf->max_inflight; i++)
		if (ad.pend[i].id != 0 && now >= ad.pend[i].deadline_ms) {
			logq_printf(&ad.log, "warning: SASL: no answer from %s within %u ms",
			            ad.cf->socket, ad.cf->timeout_ms);
			finish(&ad.pend[i], SMTP_AUTH_TEMP, NULL);
		}
}

/* connected - a TCP connect finished: on to the handshake, or down */
static void
connected(void)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(ad.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
		if (!ad.warned_down)
			logq_printf(&ad.log, "warning: SASL: connect to %s failed: %s",
			            ad.cf->socket, strerror(err != 0 ? err : errno));
		ad.warned_down = true;
		close(ad.fd);
		ad.fd = -1;
		ad.state = C_DOWN;
		ad.outlen = 0;
		return;
	}
	ad.state = C_HANDSHAKE;
}

/* authd_main - poll the server and the request ring until stopped */
static void *
authd_main(void *arg)
{
	(void)arg;
	while (!ad.stop) {
		uint64_t now = now_ms();
		struct pollfd p = {.fd = ad.fd, .events = POLLIN};

		try_connect(now);
		take_requests(now);
		expire(now);
		if (ad.fd < 0) {
			usleep(AUTHD_POLL_MS * 1000);
			continue;
		}
		if (ad.state == C_CONNECTING || ad.outlen > 0)
			p.events |= POLLOUT;
		if (poll(&p, 1, AUTHD_POLL_MS) <= 0)
			continue;
		if (ad.state == C_CONNECTING) {
			connected();
			continue;
		}
		if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && !read_lines(now_ms()))
			continue;
		if (p.revents & POLLOUT)
			write_out();
	}
	return NULL;
}

int
authd_start(const struct gconf *gc)
{
	if (gc->auth.socket[0] == '\0')
		return 0;
	ad.cf = &gc->auth;
	ad.ms_div = rte_get_tsc_hz() / 1000;
	ad.outcap = (size_t)gc->auth.max_inflight * AUTHD_AUTH_LINE + 64;
	ad.out = calloc(1, ad.outcap);
	ad.pend = calloc(gc->auth.max_inflight, sizeof(*ad.pend));
	if (ad.out == NULL || ad.pend == NULL ||
	    authrate_init(&ad.rate, gc->auth.max_failures, gc->auth.failure_window_ms) < 0 ||
	    logq_create_named(&ad.log, "logq_auth", (int)rte_socket_id()) < 0)
		return -1;
	if (pthread_create(&ad.thread, NULL, authd_main, NULL) != 0)
		return -1;
	ad.running = true;
	return 0;
}

void
authd_stop(void)
{
	if (!ad.running)
		return;
	ad.stop = true;
	pthread_join(ad.thread, NULL);
	ad.running = false;
	if (ad.fd >= 0)
		close(ad.fd);
	ad.fd = -1;
	wipe(ad.out, ad.outcap);
	free(ad.out);
	free(ad.pend);
	authrate_free(&ad.rate);
}

void
authd_drain_logs(void)
{
	if (ad.log.ring != NULL)
		logq_drain(&ad.log);
}
