/* test_relay - the engine's side of the backend relay: it asks, waits
 * without reading input, and turns the relay's answers into replies and
 * states (the dataplane's relay.c is the other side, tested live in
 * tests/gate/test_relay.sh)
 */
#include "harness.h"

#define HOST "mx.test.example"
#define RMT  "203.0.113.5"
#define EHLO "EHLO client.example\r\n"

static struct pol_snapshot *snap;

/* A scripted relay: counts what it is asked and answers what it is told to. */
struct fake {
	int rcpt_rc, data_rc;
	int rcpts, datas, resets, closes;
	char last_rcpt[SMTP_LINE_MAX];
	int cookie; /* what ss->relay points to */
};

static int
f_rcpt(void *arg, struct smtp_session *ss, const char *rcpt, size_t len)
{
	struct fake *f = arg;

	f->rcpts++;
	memcpy(f->last_rcpt, rcpt, len);
	f->last_rcpt[len] = '\0';
	if (f->rcpt_rc == 0)
		ss->relay = &f->cookie;
	return f->rcpt_rc;
}

static int
f_data(void *arg, struct smtp_session *ss)
{
	struct fake *f = arg;

	(void)ss;
	f->datas++;
	return f->data_rc;
}

static void
f_reset(void *arg, struct smtp_session *ss)
{
	struct fake *f = arg;

	(void)ss;
	f->resets++;
}

static void
f_close(void *arg, struct smtp_session *ss)
{
	struct fake *f = arg;

	f->closes++;
	ss->relay = NULL;
}

static struct fake fk;
static const struct smtp_relay relay = {f_rcpt, f_data, f_reset, f_close, &fk};

/* start - a session with the fake relay, greeted, EHLO and MAIL done */
static void
start(struct h *h, int rcpt_rc, int data_rc)
{
	memset(&fk, 0, sizeof(fk));
	fk.rcpt_rc = rcpt_rc;
	fk.data_rc = data_rc;
	h_init(h, 4096);
	h->env.relay = &relay;
	h_open(h, snap, RMT, 25, 1000);
	h_feeds(h, snap, 1000, EHLO "MAIL FROM:<a@remote.example>\r\n");
	h->out.len = 0;
}

/* feed - input at now; how many bytes the engine took (the rest waits in TCP) */
static size_t
feed(struct h *h, uint64_t now, const char *s)
{
	size_t used = 0;

	h->act = smtp_input(&h->ss, &h->env, snap, now, s, strlen(s), &used, &h->o);
	h_drain(h);
	return used;
}

/* answer - the relay's reply, drained into h->out */
static enum smtp_action
answer(struct h *h, uint64_t now, const char *reply, bool end)
{
	enum smtp_action a = smtp_relay_reply(&h->ss, &h->env, snap, now, reply, end, &h->o);

	h_drain(h);
	return a;
}

static bool
out_is(struct h *h, const char *want)
{
	bool same = h->out.len == strlen(want) && memcmp(h->out.s, want, h->out.len) == 0;

	if (!same)
		printf("#   output \"%s\"\n#   want   \"%s\"\n", h->out.s ? h->out.s : "", want);
	h->out.len = 0;
	return same;
}

static void
done(struct h *h)
{
	h_close(h);
	ok(h->ck.live == 0, "no chunk left after close");
	h_fini(h);
}

static void
test_rcpt_waits(void)
{
	struct h h;
	const char *in = "RCPT TO:<u@local.example>\r\nRCPT TO:<v@local.example>\r\nDATA\r\n";

	start(&h, 0, 0);
	is_int((long)feed(&h, 1100, in), 27,
	       "RCPT: the engine stops after the line it asked about");
	ok(out_is(&h, ""), "no reply before the backend's");
	is_int(h.ss.state, SMTP_S_WAIT, "the session waits");
	is_int(fk.rcpts, 1, "the relay was asked once");
	is_str(fk.last_rcpt, "u@local.example", "with the recipient's address");
	is_int((long)feed(&h, 1200, in + 27), 0, "waiting: input is not read");
	is_int(answer(&h, 1300, "250 2.1.5 Ok", false), SMTP_CONTINUE, "the answer continues");
	ok(out_is(&h, "250 2.1.5 Ok\r\n"), "the backend's reply reaches the client");
	is_int((long)h.ss.nrcpt, 1, "one recipient accepted");
	is_int((long)feed(&h, 1400, in + 27), 27, "the next pipelined RCPT is read");
	answer(&h, 1500, "550 5.1.1 <v@local.example>: Recipient address rejected: User unknown",
	       false);
	ok(out_is(&h, "550 5.1.1 <v@local.example>: Recipient address rejected: User "
	              "unknown\r\n"),
	   "a backend refusal reaches the client as the reply to that recipient");
	is_int((long)h.ss.nrcpt, 1, "a refused recipient is not counted");
	is_int(h.ss.state, SMTP_S_MAIL, "the transaction stays open");
	is_int((long)h.st.errors[SMTP_E_BACKEND], 1, "counted as a backend refusal");
	is_int((long)feed(&h, 1600, in + 54), 6, "DATA is read");
	is_int(fk.datas, 1, "and asked of the relay");
	answer(&h, 1700, "354 End data with <CR><LF>.<CR><LF>", false);
	ok(out_is(&h, "354 End data with <CR><LF>.<CR><LF>\r\n"), "354 once the backend said so");
	is_int(h.ss.state, SMTP_S_DATA, "the body flows through the relay");
	is_int((long)feed(&h, 1800, "Subject: x\r\n\r\nbody\r\n.\r\n"), 0,
	       "the engine reads no body bytes");
	answer(&h, 1900, "250 2.0.0 Ok: queued as 4Fq1", false);
	ok(out_is(&h, "250 2.0.0 Ok: queued as 4Fq1\r\n"), "the backend's end-of-data reply");
	is_int(h.ss.state, SMTP_S_HELO, "the transaction is over");
	ok(h.ss.sender == NULL && h.ss.nrcpt == 0, "and forgotten");
	is_int(fk.resets, 1, "the relay hears the transaction ended");
	feed(&h, 2000, "MAIL FROM:<b@remote.example>\r\nQUIT\r\n");
	ok(out_is(&h, "250 2.1.0 Ok\r\n221 2.0.0 Bye\r\n"), "the session goes on, then QUIT");
	is_int(h.act, SMTP_CLOSE, "QUIT closes");
	done(&h);
	is_int(fk.closes, 1, "the relay hears the session ended");
}

static void
test_data_refused(void)
{
	struct h h;

	start(&h, 0, 0);
	feed(&h, 1100, "RCPT TO:<u@local.example>\r\n");
	answer(&h, 1200, "250 2.1.5 Ok", false);
	feed(&h, 1300, "DATA\r\n");
	h.out.len = 0;
	answer(&h, 1400, "451 4.3.0 Error: queue file write error", false);
	ok(out_is(&h, "451 4.3.0 Error: queue file write error\r\n"),
	   "DATA refused by the backend");
	is_int(h.ss.state, SMTP_S_HELO, "the transaction ends");
	is_int(fk.resets, 1, "and the relay hears it");
	feed(&h, 1500, "RSET\r\n");
	ok(out_is(&h, "250 2.0.0 Ok\r\n"), "RSET after it");
	is_int(fk.resets, 1, "RSET outside a transaction tells the relay nothing");
	done(&h);
}

static void
test_rset_and_end(void)
{
	struct h h;

	start(&h, 0, 0);
	feed(&h, 1100, "RCPT TO:<u@local.example>\r\n");
	answer(&h, 1200, "250 2.1.5 Ok", false);
	feed(&h, 1300, "RSET\r\n");
	is_int(fk.resets, 1, "RSET in a transaction resets the relay's");
	feed(&h, 1400, "MAIL FROM:<a@remote.example>\r\nRCPT TO:<u@local.example>\r\n");
	h.out.len = 0;
	is_int(answer(&h, 1500, "421 4.4.2 mx.test.example Error: backend timeout", true),
	       SMTP_CLOSE, "an answer with end closes the session");
	ok(out_is(&h, "421 4.4.2 mx.test.example Error: backend timeout\r\n"), "after its reply");
	done(&h);
	is_int(fk.closes, 1, "the relay hears the session ended");
}

static void
test_no_backend(void)
{
	struct h h;

	start(&h, 1, -1);
	feed(&h, 1100, "RCPT TO:<u@local.example>\r\nDATA\r\n");
	ok(out_is(&h, "250 2.1.5 Ok\r\n451 4.4.1 Error: no backend available, try again later\r\n"),
	   "no backend: RCPT accepted by the engine, DATA 451 (never 2xx)");
	is_int(fk.rcpts, 1, "the relay was asked");
	done(&h);
	is_int(fk.closes, 0, "a relay that holds nothing is not told of the close");

	start(&h, -1, -1);
	feed(&h, 1100, "RCPT TO:<u@local.example>\r\n");
	ok(out_is(&h, "451 4.4.1 Error: backend not available, try again later\r\n"),
	   "a relay out of resources: 451 at once");
	done(&h);

	start(&h, 0, 0);
	feed(&h, 1100, "RCPT TO:<x@remote.example>\r\n");
	ok(out_is(&h, "554 5.7.1 <x@remote.example>: Relay access denied\r\n"),
	   "the policy refuses first");
	is_int(fk.rcpts, 0, "a refused recipient never reaches the relay");
	done(&h);
}

static void
test_wait_timeout(void)
{
	struct h h;

	start(&h, 0, 0);
	feed(&h, 1100, "RCPT TO:<u@local.example>\r\n");
	is_int(smtp_timeout(&h.ss, &h.env, snap, 1100 + 299000, &h.o), SMTP_CONTINUE,
	       "waiting: no timeout before the command timeout");
	is_int(smtp_timeout(&h.ss, &h.env, snap, 1100 + 300001, &h.o), SMTP_CLOSE,
	       "the command timeout still ends a session that waits too long");
	h_drain(&h);
	ok(strstr(h.out.s, "421 4.4.2") != NULL, "with 421 4.4.2");
	done(&h);
	is_int(fk.closes, 1, "and the relay hears it");
}

int
main(void)
{
	snap = must_load("smtp.conf", h_policy);
	test_rcpt_waits();
	test_data_refused();
	test_rset_and_end();
	test_no_backend();
	test_wait_timeout();
	pol_snapshot_free(snap);
	return done_testing();
}
