/* test_tally - decisions counted by service and by rule (smtp_tally.c)
 *
 * Sessions played through the engine with a tally, as an lcore plays them:
 * the counts by service name and by rule (list, entry, file:line) equal the
 * decisions made; after a "push" (a second snapshot that reorders the
 * services, keeps one rule and drops another) a kept rule counts on in its
 * slot and a dropped one keeps its count; past SMTP_TALLY_RULES rules the
 * hits go to the list's untracked counter, none lost.
 */
#include "harness.h"
#include "smtp_tally.h"

#define RMT "203.0.113.5"
#define WLC "198.51.100.7" /* whitelist.clients */
#define LAN "10.1.2.3"
#define H   "EHLO h.remote.example\r\n"

static struct smtp_tally tally;
static unsigned nsvc; /* services of the harness policy: slots the first test fills */

/* play - one session: open, the commands, close */
static void
play(struct h *h, const struct pol_snapshot *snap, const char *client, uint16_t port,
     const char *in)
{
	h_open(h, snap, client, port, 1000);
	h_feeds(h, snap, 1001, in);
	h_close(h);
}

/* svc - the tally's slot of a service name, or NULL */
static const struct smtp_svc_tally *
svc(const char *name)
{
	for (uint32_t i = 0; i < tally.nsvc; i++)
		if (strcmp(tally.svc[i].name, name) == 0)
			return &tally.svc[i];
	return NULL;
}

/* rule - the tally's slot of a rule, or NULL */
static const struct smtp_rule_tally *
rule(enum pol_list l, const char *entry)
{
	for (uint32_t i = 0; i < tally.nrules; i++)
		if (tally.rule[i].list == (uint32_t)l && strcmp(tally.rule[i].entry, entry) == 0)
			return &tally.rule[i];
	return NULL;
}

static uint64_t
hits(enum pol_list l, const char *entry)
{
	const struct smtp_rule_tally *r = rule(l, entry);

	return r != NULL ? r->hits : 0;
}

static uint64_t
verdicts(const char *service, enum pol_reason r)
{
	const struct smtp_svc_tally *s = svc(service);

	return s != NULL ? s->verdicts[r] : 0;
}

static uint64_t
sessions(const char *service)
{
	const struct smtp_svc_tally *s = svc(service);

	return s != NULL ? s->sessions : 0;
}

/* first_policy - sessions on two services against the harness's policy */
static void
first_policy(struct h *h, const struct pol_snapshot *snap)
{
	for (int i = 0; i < 3; i++) /* blacklist.senders spammer@bad.example at MAIL */
		play(h, snap, RMT, 25, H "MAIL FROM:<spammer@bad.example>\r\n");
	for (int i = 0; i < 2; i++) /* blacklist.senders *@glob.example */
		play(h, snap, RMT, 25, H "MAIL FROM:<x@glob.example>\r\n");
	/* whitelisted client: its entry decides connect, EHLO, MAIL and RCPT */
	play(h, snap, WLC, 25,
	     H "MAIL FROM:<spammer@bad.example>\r\nRCPT TO:<u@local.example>\r\n");
	/* lan relays off-domain: its entry decides that RCPT */
	play(h, snap, LAN, 25, H "MAIL FROM:<a@local.example>\r\nRCPT TO:<u@other.example>\r\n");
	/* sub requires authentication: 530, a decision by no rule */
	play(h, snap, RMT, 587, H "MAIL FROM:<a@remote.example>\r\n");
	play(h, snap, RMT, 587, "QUIT\r\n");

	nsvc = pol_snapshot_model(snap)->nservices;
	is_int(tally.nsvc, nsvc, "the services of the policy have slots, in its order");
	is_int(sessions("mx"), 7, "mx: 7 sessions");
	is_int(sessions("sub"), 2, "sub: 2 sessions");
	is_int(sessions("small"), 0, "small: none");
	is_int(verdicts("mx", POL_R_BL_SENDER), 5, "mx: 5 blacklist_sender");
	is_int(verdicts("mx", POL_R_WHITELISTED), 4, "mx: 4 whitelisted (one session, 4 stages)");
	/* 5 refused sessions: connect + EHLO accepted; lan: 4 stages accepted */
	is_int(verdicts("mx", POL_R_ACCEPT), 5 * 2 + 4, "mx: 14 accepted");
	is_int(verdicts("sub", POL_R_AUTH_REQUIRED), 1, "sub: 1 auth_required");
	is_int(verdicts("sub", POL_R_ACCEPT), 2 + 1, "sub: 3 accepted");
	is_int(verdicts("mx", POL_R_AUTH_REQUIRED), 0, "mx: no auth_required");

	is_int(tally.nrules, 4, "four rules decided something");
	is_int(hits(POL_L_BL_SENDERS, "spammer@bad.example"), 3, "spammer@bad.example: 3 hits");
	is_int(hits(POL_L_BL_SENDERS, "*@glob.example"), 2, "*@glob.example: 2 hits");
	is_int(hits(POL_L_WL_CLIENTS, WLC), 4, "whitelist.clients " WLC ": 4 hits");
	is_int(hits(POL_L_LAN, "10.0.0.0/8"), 1, "lan 10.0.0.0/8: 1 hit (the relayed RCPT)");
	const struct smtp_rule_tally *r = rule(POL_L_BL_SENDERS, "*@glob.example");

	ok(r != NULL && r->line == 10 && strstr(r->file, "tally1.conf") != NULL,
	   "the rule's file:line: %s:%u", r != NULL ? r->file : "?", r != NULL ? r->line : 0);
	is_int(h->st.verdicts[POL_R_BL_SENDER], 5, "the lcore's totals agree");
}

/* The harness's policy after a push: services reordered, one renamed,
 * spammer@bad.example dropped, *@glob.example kept (on another line). */
static const char *const pushed = "hostname = \"mx.test.example\";\n"
                                  "local_domains = [ \"local.example\" ];\n"
                                  "blacklist {\n"
                                  "  senders = [ \"new@bad.example\",\n"
                                  "              \"*@glob.example\" ];\n"
                                  "}\n"
                                  "service submission { ports = [587]; require_auth = true; }\n"
                                  "service mx { ports = [25]; }\n";

static void
after_push(struct h *h, const struct pol_snapshot *snap)
{
	uint32_t slot = (uint32_t)(rule(POL_L_BL_SENDERS, "*@glob.example") - tally.rule);

	play(h, snap, RMT, 25, H "MAIL FROM:<x@glob.example>\r\n");
	play(h, snap, RMT, 25, H "MAIL FROM:<spammer@bad.example>\r\n"); /* accepted now */
	play(h, snap, RMT, 25, H "MAIL FROM:<new@bad.example>\r\n");
	play(h, snap, RMT, 587, H "MAIL FROM:<a@remote.example>\r\n");

	is_int(hits(POL_L_BL_SENDERS, "*@glob.example"), 3, "a kept rule counts on: 3 hits");
	ok(rule(POL_L_BL_SENDERS, "*@glob.example") == &tally.rule[slot], "... in the same slot");
	is_int(hits(POL_L_BL_SENDERS, "spammer@bad.example"), 3,
	       "a dropped rule keeps its count: 3 hits");
	is_int(hits(POL_L_BL_SENDERS, "new@bad.example"), 1, "a new rule: 1 hit");
	is_int(tally.nrules, 5, "5 rule slots");
	is_int(sessions("mx"), 7 + 3, "mx counts on across the push: 10 sessions");
	is_int(verdicts("mx", POL_R_BL_SENDER), 5 + 2, "mx: 7 blacklist_sender");
	is_int(sessions("sub"), 2, "sub keeps its count");
	is_int(sessions("submission"), 1, "the new name submission: 1 session");
	is_int(tally.nsvc, nsvc + 1, "one slot more, for the new name");
}

/* many_rules - more rules hit than there are slots */
static void
many_rules(struct h *h)
{
	enum { N = SMTP_TALLY_RULES + 44 };
	size_t cap = 200 + N * 32;
	char *text = malloc(cap), in[128];
	size_t len = 0;
	struct pol_snapshot *snap;
	uint64_t sum = 0;

	len += (size_t)snprintf(text + len, cap - len,
	                        "hostname = \"mx.test.example\";\nblacklist { senders = [");
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s\"u%d@many.example\"",
		                        i ? "," : "", i);
	snprintf(text + len, cap - len, "]; }\nservice mx { ports = [25]; }\n");
	snap = must_load("tally3.conf", text);
	memset(&tally, 0, sizeof(tally));
	for (int i = 0; i < N; i++) {
		snprintf(in, sizeof(in), H "MAIL FROM:<u%d@many.example>\r\n", i);
		play(h, snap, RMT, 25, in);
	}
	play(h, snap, RMT, 25, H "MAIL FROM:<u0@many.example>\r\n"); /* a tracked one again */
	for (uint32_t i = 0; i < tally.nrules; i++)
		sum += tally.rule[i].hits;
	is_int(tally.nrules, SMTP_TALLY_RULES, "%d rules hit: %d slots taken", N, SMTP_TALLY_RULES);
	is_int(tally.untracked[POL_L_BL_SENDERS], 44, "the 44 others: untracked blacklist.senders");
	is_int(sum + tally.untracked[POL_L_BL_SENDERS], N + 1, "no hit lost: %d", N + 1);
	is_int(hits(POL_L_BL_SENDERS, "u0@many.example"), 2, "a tracked rule still counts");
	pol_snapshot_free(snap);
	free(text);
}

int
main(void)
{
	struct h h;
	struct pol_snapshot *s1 = must_load("tally1.conf", h_policy), *s2;

	h_init(&h, 4096);
	h.env.tally = &tally;
	first_policy(&h, s1);
	s2 = must_load("tally2.conf", pushed);
	after_push(&h, s2);
	many_rules(&h);
	h_fini(&h);
	pol_snapshot_free(s1);
	pol_snapshot_free(s2);
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}
