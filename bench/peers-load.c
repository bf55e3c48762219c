/* peers-load - the same refused SMTP session, many times, against any server
 *
 *   peers-load [-c CONC] [-n SESSIONS] [-H HELO] [-f FROM] [-t RCPT] IP:PORT
 *
 * The load of bench/peers-bench.sh: what Postfix's smtp-source sends
 * (banner, HELO, MAIL FROM, RCPT TO, one command at a time), except that
 * after a refused RCPT it says QUIT and waits for the server to close.
 * smtp-source cannot be used for nginx's mail proxy, which hangs up right
 * after a refusal of its auth_http endpoint: smtp-source then aborts the
 * whole run ("lost connection"). Here a hang-up after the RCPT reply ends
 * the session normally. Waiting for the server's close leaves TIME_WAIT on
 * the server side, so the client's ports do not run out.
 *
 * One thread, non-blocking sockets, epoll; CONC sessions open at once,
 * SESSIONS in all. Prints one line of key=value: sessions, how the RCPT was
 * answered (rcpt_5xx, rcpt_2xx), failures (error: a wrong reply, a reset, a
 * close too early), elapsed seconds, sessions per second and the client's own
 * CPU seconds (when near the elapsed time, the client was the limit). Exits 1 if any
 * session failed. Server replies are trusted only as far as the buffer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PL_LINE_MAX 1024 /* a reply line; longer is an error */
#define PL_CONC_MAX 65536

/* Where a session is: what it waits for. */
enum pl_state {
	PL_CONNECT, /* the TCP handshake */
	PL_BANNER,  /* 220 */
	PL_HELO,    /* 250 to HELO */
	PL_MAIL,    /* 250 to MAIL FROM */
	PL_RCPT,    /* the reply under test */
	PL_QUIT,    /* 221, then the server's close */
	PL_CLOSE,   /* the server's close after 221 */
};

struct pl_sess {
	int fd;                /* -1: slot free */
	enum pl_state state;   /* what the session waits for */
	size_t nbuf;           /* bytes of an unfinished reply line in buf */
	char buf[PL_LINE_MAX]; /* the reply line being read */
};

struct pl_run {
	struct sockaddr_in server;
	const char *helo, *from, *rcpt;
	long started, done, target;
	long rcpt_5xx, rcpt_2xx, errors;
	int ep;
};

/* now_s - monotonic seconds */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* cpu_s - our own user and system CPU seconds so far */
static double
cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* sess_end - close a session; a failure is counted */
static void
sess_end(struct pl_run *r, struct pl_sess *s, int failed)
{
	close(s->fd);
	s->fd = -1;
	r->done++;
	if (failed)
		r->errors++;
}

/* sess_send - a command; the socket buffer always has room for one line */
static int
sess_send(struct pl_sess *s, const char *verb, const char *arg, const char *post)
{
	char line[PL_LINE_MAX];
	int n = snprintf(line, sizeof(line), "%s%s%s\r\n", verb, arg, post);

	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return send(s->fd, line, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

/* sess_start - open a session towards the server: 0 or -1 */
static int
sess_start(struct pl_run *r, struct pl_sess *s)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = s};

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s->fd < 0)
		return -1;
	if (connect(s->fd, (struct sockaddr *)&r->server, sizeof(r->server)) < 0 &&
	    errno != EINPROGRESS) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	s->state = PL_CONNECT;
	s->nbuf = 0;
	r->started++;
	return epoll_ctl(r->ep, EPOLL_CTL_ADD, s->fd, &ev);
}

/* sess_reply - a complete reply (its last line in buf): the next command,
 * or the end; returns 1 when the session is over, 0 to go on, -1 on error */
static int
sess_reply(struct pl_run *r, struct pl_sess *s)
{
	char c = s->buf[0];

	switch (s->state) {
	case PL_BANNER:
		s->state = PL_HELO;
		return c == '2' ? sess_send(s, "HELO ", r->helo, "") : -1;
	case PL_HELO:
		s->state = PL_MAIL;
		return c == '2' ? sess_send(s, "MAIL FROM:<", r->from, ">") : -1;
	case PL_MAIL:
		s->state = PL_RCPT;
		return c == '2' ? sess_send(s, "RCPT TO:<", r->rcpt, ">") : -1;
	case PL_RCPT:
		if (c == '5')
			r->rcpt_5xx++;
		else if (c == '2')
			r->rcpt_2xx++;
		else
			return -1;
		s->state = PL_QUIT;
		return sess_send(s, "QUIT", "", "");
	case PL_QUIT:
		s->state = PL_CLOSE;
		return c == '2' ? 0 : -1;
	default:
		return -1;
	}
}

/* sess_read - what the server sent: replies line by line, or its close;
 * returns 1 when the session is over (ended), 0 to go on */
static int
sess_read(struct pl_run *r, struct pl_sess *s)
{
	char in[4096];
	ssize_t n = recv(s->fd, in, sizeof(in), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* a close after the RCPT reply ends a session: nginx hangs up, and
		 * resets the connection if our QUIT arrived first */
		sess_end(r, s, s->state < PL_QUIT);
		return 1;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (s->nbuf == sizeof(s->buf)) {
			sess_end(r, s, 1);
			return 1;
		}
		s->buf[s->nbuf++] = in[i];
		if (in[i] != '\n')
			continue;
		/* the last line of a reply is "NNN " (a continuation is "NNN-") */
		if (s->nbuf >= 4 && s->buf[3] != '-' && sess_reply(r, s) < 0) {
			sess_end(r, s, 1);
			return 1;
		}
		s->nbuf = 0;
	}
	return 0;
}

/* sess_event - epoll says the socket is ready */
static void
sess_event(struct pl_run *r, struct pl_sess *s, uint32_t events)
{
	if (s->state == PL_CONNECT) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0 ||
		    !(events & (EPOLLOUT | EPOLLIN))) {
			sess_end(r, s, 1);
			return;
		}
		s->state = PL_BANNER;
		epoll_ctl(r->ep, EPOLL_CTL_MOD, s->fd, &ev);
		if (!(events & EPOLLIN))
			return;
	}
	sess_read(r, s);
}

/* usage - the options, on stderr */
static void
usage(void)
{
	fprintf(stderr, "usage: peers-load [-c CONC] [-n SESSIONS] [-H HELO] [-f FROM] [-t RCPT] "
	                "IP:PORT\n");
	exit(2);
}

/* server_parse - "A.B.C.D:PORT": 0 or -1 */
static int
server_parse(struct sockaddr_in *sa, const char *s)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		return -1;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct pl_run r = {.helo = "client.remote.example",
	                   .from = "sender@remote.example",
	                   .rcpt = "user@elsewhere.example",
	                   .target = 1000};
	long conc = 10;
	struct pl_sess *sess;
	double t0, t1;
	int opt;

	while ((opt = getopt(argc, argv, "c:n:H:f:t:")) != -1) {
		switch (opt) {
		case 'c':
			conc = strtol(optarg, NULL, 10);
			break;
		case 'n':
			r.target = strtol(optarg, NULL, 10);
			break;
		case 'H':
			r.helo = optarg;
			break;
		case 'f':
			r.from = optarg;
			break;
		case 't':
			r.rcpt = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || server_parse(&r.server, argv[optind]) < 0 || conc < 1 ||
	    conc > PL_CONC_MAX || r.target < 1)
		usage();
	if (conc > r.target)
		conc = r.target;
	sess = calloc((size_t)conc, sizeof(*sess));
	r.ep = epoll_create1(0);
	if (sess == NULL || r.ep < 0) {
		perror("peers-load");
		return 1;
	}
	t0 = now_s();
	for (long i = 0; i < conc; i++)
		if (sess_start(&r, &sess[i]) < 0)
			sess_end(&r, &sess[i], 1);
	while (r.done < r.target) {
		struct epoll_event evs[256];
		int n = epoll_wait(r.ep, evs, 256, 10000);

		if (n == 0) {
			fprintf(stderr, "peers-load: no progress in 10 s\n");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct pl_sess *s = evs[i].data.ptr;

			if (s->fd < 0)
				continue;
			sess_event(&r, s, evs[i].events);
			/* a finished slot starts the next session at once */
			if (s->fd < 0 && r.started < r.target && sess_start(&r, s) < 0)
				sess_end(&r, s, 1);
		}
	}
	t1 = now_s();
	printf("sessions=%ld done=%ld rcpt_5xx=%ld rcpt_2xx=%ld errors=%ld seconds=%.3f "
	       "per_s=%.0f client_cpu_s=%.3f\n",
	       r.started, r.done, r.rcpt_5xx, r.rcpt_2xx, r.errors, t1 - t0,
	       (double)r.done / (t1 - t0), cpu_s());
	for (long i = 0; i < conc; i++) /* sessions left by a stalled run */
		if (sess[i].fd >= 0)
			close(sess[i].fd);
	free(sess);
	close(r.ep);
	return r.errors == 0 && r.done == r.target ? 0 : 1;
}
