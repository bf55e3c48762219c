/* sgb_sink - a minimal SMTP sink behind the gate, as Postfix's smtp-sink
 *
 * With --sink PORT the generator also listens on PORT (any of the client
 * addresses it routes: the bench's policy names one as its backend), so
 * the gate's relay delivers accepted sessions back over the same link.
 * It answers every command by its first four letters (EHLO with
 * PIPELINING, 8BITMIME and SIZE; XCLIENT with a new greeting, as Postfix
 * does), takes the message after DATA up to its end (CRLF.CRLF) without
 * keeping it, and says 250 to it. Nothing is checked: the sink only makes
 * room for the gate's relay to be measured.
 */
#include <stdlib.h>
#include <string.h>

#include "sgb.h"

#define SINK_EHLO                                                                                  \
	"250-sink.bench.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 0\r\n"               \
	"250 XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\r\n"

/* Where the end-of-data detector is: after what part of CRLF.CRLF. */
enum sink_dstate {
	SINK_D_TEXT,
	SINK_D_CR,
	SINK_D_CRLF,
	SINK_D_DOT,
	SINK_D_DOTCR,
};

struct sgb_sink {
	char cmd[4];    /* the line's first letters, upper case */
	uint8_t ncmd;   /* how many of them */
	uint8_t data;   /* in a message */
	uint8_t dstate; /* enum sink_dstate */
};

/* reply - a reply to the gate; small, it always fits the send buffer */
static void
reply(struct tcp_flow *f, const char *s)
{
	tcp_send(f, s, strlen(s));
}

/* command - a complete command line, by its first letters */
static void
command(struct sgb *g, struct tcp_flow *f, struct sgb_sink *k)
{
	if (k->ncmd == 4 && memcmp(k->cmd, "EHLO", 4) == 0)
		reply(f, SINK_EHLO);
	else if (k->ncmd == 4 && memcmp(k->cmd, "XCLI", 4) == 0)
		reply(f, "220 sink.bench.example ESMTP\r\n");
	else if (k->ncmd == 4 && memcmp(k->cmd, "DATA", 4) == 0) {
		reply(f, "354 End data with <CR><LF>.<CR><LF>\r\n");
		k->data = 1;
		k->dstate = SINK_D_CRLF;
	} else if (k->ncmd == 4 && memcmp(k->cmd, "QUIT", 4) == 0) {
		reply(f, "221 2.0.0 Bye\r\n");
		tcp_close(f);
	} else if (k->ncmd == 4 &&
	           (memcmp(k->cmd, "HELO", 4) == 0 || memcmp(k->cmd, "MAIL", 4) == 0 ||
	            memcmp(k->cmd, "RCPT", 4) == 0 || memcmp(k->cmd, "RSET", 4) == 0 ||
	            memcmp(k->cmd, "NOOP", 4) == 0))
		reply(f, "250 2.0.0 Ok\r\n");
	else
		reply(f, "502 5.5.2 Error: command not recognized\r\n");
	g->st.sink_commands++;
}

/* accept_cb - a connection from the gate's relay: greet it */
static int
accept_cb(void *ctx, struct tcp_flow *f)
{
	struct sgb *g = ctx;
	struct sgb_sink *k;

	if (g->nsink_free == 0)
		return -1;
	k = &g->sink[g->sink_free[--g->nsink_free]];
	memset(k, 0, sizeof(*k));
	tcp_flow_set_app(f, k);
	g->st.sink_sessions++;
	reply(f, "220 sink.bench.example ESMTP\r\n");
	return 0;
}

/* data_end - run the end-of-data detector over one byte: true at the end */
static bool
data_end(struct sgb_sink *k, uint8_t c)
{
	switch (k->dstate) {
	case SINK_D_CR:
		k->dstate = c == '\n' ? SINK_D_CRLF : c == '\r' ? SINK_D_CR : SINK_D_TEXT;
		return false;
	case SINK_D_CRLF:
		k->dstate = c == '.' ? SINK_D_DOT : c == '\r' ? SINK_D_CR : SINK_D_TEXT;
		return false;
	case SINK_D_DOT:
		k->dstate = c == '\r' ? SINK_D_DOTCR : SINK_D_TEXT;
		return false;
	case SINK_D_DOTCR:
		if (c == '\n')
			return true;
		k->dstate = c == '\r' ? SINK_D_CR : SINK_D_TEXT;
		return false;
	default:
		k->dstate = c == '\r' ? SINK_D_CR : SINK_D_TEXT;
		return false;
	}
}

/* data_cb - commands, or a message up to its end; everything is taken */
static size_t
data_cb(void *ctx, struct tcp_flow *f, const void *buf, size_t len)
{
	struct sgb *g = ctx;
	struct sgb_sink *k = tcp_flow_app(f);
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];

		if (k->data) {
			g->st.sink_bytes++;
			if (data_end(k, c)) {
				k->data = 0;
				k->ncmd = 0;
				g->st.sink_messages++;
				reply(f, "250 2.0.0 Ok: queued as BENCH\r\n");
			}
		} else if (c == '\n') {
			command(g, f, k);
			k->ncmd = 0;
		} else if (k->ncmd < 4 && c != '\r') {
			k->cmd[k->ncmd++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
		} else if (k->ncmd < 4) {
			k->ncmd = 4; /* a short line: no command matches */
			k->cmd[0] = '\0';
		}
	}
	return len;
}

/* fin_cb - the relay closed: so do we */
static void
fin_cb(void *ctx, struct tcp_flow *f)
{
	(void)ctx;
	tcp_close(f);
}

/* closed_cb - the flow is gone: its session goes back to the pool */
static void
closed_cb(void *ctx, struct tcp_flow *f, enum tcp_end why)
{
	struct sgb *g = ctx;
	struct sgb_sink *k = tcp_flow_app(f);

	(void)why;
	if (k != NULL)
		g->sink_free[g->nsink_free++] = (uint32_t)(k - g->sink);
}

static const struct tcp_app sink_app = {
        .accept = accept_cb,
        .data = data_cb,
        .peer_fin = fin_cb,
        .closed = closed_cb,
};

int
sgb_sink_init(struct sgb *g, uint16_t port)
{
	uint32_t n = g->c.concurrency;
	int app;

	g->sink = calloc(n, sizeof(*g->sink));
	g->sink_free = malloc(n * sizeof(*g->sink_free));
	if (g->sink == NULL || g->sink_free == NULL)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		g->sink_free[i] = n - 1 - i;
	g->nsink_free = n;
	app = tcp_app_register(g->tcp, &sink_app, g);
	return app < 0 || tcp_listen(g->tcp, port, app) < 0 ? -1 : 0;
}
