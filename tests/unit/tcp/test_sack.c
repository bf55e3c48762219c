/* test_sack - the sender's SACK scoreboard and RFC 6675 recovery: the
 * scoreboard's merging and bounds, IsLost/pipe/NextSeg arithmetic, and whole
 * transfers over a scripted lossy link whose receiver reports SACK blocks
 * as Linux does (most recent first) */
#include "peer.h"

#define MSS 1000u

/* ---- the scoreboard ------------------------------------------------------ */

struct sb_case {
	const char *name;
	uint32_t una, max;
	unsigned n0;
	uint32_t sb0[TCP_SACK_SB][2];
	unsigned nin;
	uint32_t in[TCP_SACK_MAX][2];
	bool fresh;
	unsigned n1;
	uint32_t sb1[TCP_SACK_SB][2];
};

/* clang-format off */
static const struct sb_case sb_cases[] = {
	/* name
	 *   una max | ranges before | blocks of the ACK | news | ranges after */
	{"a first block",
	 0, 20000, 0, {{0}}, 1, {{2000, 3000}}, true, 1, {{2000, 3000}}},
	{"a block inside a range is no news",
	 0, 20000, 1, {{2000, 5000}}, 1, {{3000, 4000}}, false, 1, {{2000, 5000}}},
	{"touching ranges merge",
	 0, 20000, 1, {{2000, 3000}}, 1, {{3000, 4000}}, true, 1, {{2000, 4000}}},
	{"a block bridging two ranges merges all three",
	 0, 20000, 2, {{2000, 3000}, {5000, 6000}}, 1, {{2500, 5500}}, true, 1, {{2000, 6000}}},
	{"ranges stay sorted",
	 0, 20000, 1, {{5000, 6000}}, 1, {{2000, 3000}}, true, 2, {{2000, 3000}, {5000, 6000}}},
	{"several blocks of one ACK, most recent first",
	 0, 20000, 0, {{0}}, 3, {{9000, 9500}, {5000, 6000}, {2000, 3000}}, true,
	 3, {{2000, 3000}, {5000, 6000}, {9000, 9500}}},
	{"a D-SACK below snd_una is ignored",
	 4000, 20000, 0, {{0}}, 1, {{1000, 2000}}, false, 0, {{0}}},
	{"a block across snd_una is cut there",
	 4000, 20000, 0, {{0}}, 1, {{3000, 5000}}, true, 1, {{4000, 5000}}},
	{"a block beyond snd_max is ignored",
	 0, 20000, 0, {{0}}, 1, {{19000, 21000}}, false, 0, {{0}}},
	{"empty and reversed blocks are ignored",
	 0, 20000, 0, {{0}}, 2, {{3000, 3000}, {5000, 4000}}, false, 0, {{0}}},
	{"full: a new lower range pushes the highest out",
	 0, 20000, 4, {{1000, 2000}, {3000, 4000}, {5000, 6000}, {7000, 8000}},
	 1, {{2500, 2700}}, true,
	 4, {{1000, 2000}, {2500, 2700}, {3000, 4000}, {5000, 6000}}},
	{"full: a new highest range is not kept",
	 0, 20000, 4, {{1000, 2000}, {3000, 4000}, {5000, 6000}, {7000, 8000}},
	 1, {{9000, 10000}}, false,
	 4, {{1000, 2000}, {3000, 4000}, {5000, 6000}, {7000, 8000}}},
	{"full: a block that merges still fits",
	 0, 20000, 4, {{1000, 2000}, {3000, 4000}, {5000, 6000}, {7000, 8000}},
	 1, {{8000, 9000}}, true,
	 4, {{1000, 2000}, {3000, 4000}, {5000, 6000}, {7000, 9000}}},
	{"the cumulative ACK drops and trims ranges",
	 3500, 20000, 2, {{1000, 2000}, {3000, 4000}}, 0, {{0}}, false, 1, {{3500, 4000}}},
};
/* clang-format on */

/* sb_run - one case, every sequence number offset by base */
static void
sb_run(const struct sb_case *c, uint32_t base)
{
	struct tcp_flow f;
	struct tcp_opts o;
	bool fresh, same;

	memset(&f, 0, sizeof(f));
	memset(&o, 0, sizeof(o));
	f.snd_una = base + c->una;
	f.snd_max = base + c->max;
	f.mss = MSS;
	f.sb_n = (uint8_t)c->n0;
	for (unsigned i = 0; i < c->n0; i++) {
		f.sb[i][0] = base + c->sb0[i][0];
		f.sb[i][1] = base + c->sb0[i][1];
	}
	o.has = c->nin ? TCP_O_SACK : 0;
	o.nsack = (uint8_t)c->nin;
	for (unsigned i = 0; i < c->nin; i++) {
		o.sack[i][0] = base + c->in[i][0];
		o.sack[i][1] = base + c->in[i][1];
	}
	fresh = tcp_sack_update(&f, &o);
	same = f.sb_n == c->n1;
	for (unsigned i = 0; same && i < c->n1; i++)
		same = f.sb[i][0] == base + c->sb1[i][0] && f.sb[i][1] == base + c->sb1[i][1];
	ok(same && fresh == c->fresh, "scoreboard (base %#x): %s", base, c->name);
	if (!same || fresh != c->fresh) {
		printf("#   fresh %d; got", fresh);
		for (unsigned i = 0; i < f.sb_n; i++)
			printf(" [%u, %u)", f.sb[i][0] - base, f.sb[i][1] - base);
		printf("\n");
	}
}

static void
test_scoreboard(void)
{
	/* once plainly, once with the ranges straddling 2^32 */
	for (size_t i = 0; i < sizeof(sb_cases) / sizeof(sb_cases[0]); i++)
		sb_run(&sb_cases[i], 0);
	for (size_t i = 0; i < sizeof(sb_cases) / sizeof(sb_cases[0]); i++)
		sb_run(&sb_cases[i], UINT32_MAX - 4500);
}

/* ---- IsLost, pipe, NextSeg (MSS 1000, DupThresh 3) ------------------------ */

struct rec_case {
	const char *name;
	uint32_t una, max, high_rxt;
	unsigned n;
	uint32_t sb[TCP_SACK_SB][2];
	uint32_t lost_end, pipe;
	bool lost_ok;
	uint32_t lost_seq, lost_len;
	bool any_ok;
	uint32_t any_seq, any_len;
};

/* clang-format off */
static const struct rec_case rec_cases[] = {
	/* name
	 *   una max high_rxt | ranges | lost_end pipe | rule 1: seq len | rule 3: seq len */
	{"one MSS SACKed: nothing lost yet, rule 3 offers the hole",
	 0, 10000, 0, 1, {{1000, 2000}}, 0, 9000, false, 0, 0, true, 0, 1000},
	{"2 MSS SACKed above is not more than (DupThresh - 1) MSS",
	 0, 10000, 0, 1, {{1000, 3000}}, 0, 8000, false, 0, 0, true, 0, 1000},
	{"3 MSS SACKed above a hole: it is lost",
	 0, 10000, 0, 1, {{1000, 4000}}, 1000, 6000, true, 0, 1000, true, 0, 1000},
	{"three ranges above a hole, however small: it is lost",
	 0, 10000, 0, 3, {{1000, 1100}, {2000, 2100}, {3000, 3100}}, 1000, 8700,
	 true, 0, 1000, true, 0, 1000},
	{"the first hole resent: the next lost one; the resent one counts in the pipe",
	 0, 10000, 1000, 2, {{1000, 2000}, {3000, 6000}}, 3000, 5000,
	 true, 2000, 1000, true, 2000, 1000},
	{"a hole wider than an MSS goes an MSS at a time",
	 0, 10000, 1000, 1, {{5000, 9000}}, 5000, 2000, true, 1000, 1000, true, 1000, 1000},
	{"every lost hole resent: rules 1 and 3 have nothing",
	 0, 10000, 1000, 1, {{1000, 4000}}, 1000, 7000, false, 0, 0, false, 0, 0},
	{"a HighRxt below snd_una counts for nothing",
	 2000, 10000, 1000, 1, {{3000, 6000}}, 3000, 4000, true, 2000, 1000, true, 2000, 1000},
	{"an empty scoreboard: all in flight, nothing to resend",
	 0, 10000, 0, 0, {{0}}, 0, 10000, false, 0, 0, false, 0, 0},
};
/* clang-format on */

static void
rec_run(const struct rec_case *c, uint32_t base)
{
	struct tcp_flow f;
	uint32_t seq = 0, len = 0, aseq = 0, alen = 0, lost, pipe;
	bool lok, aok, good;

	memset(&f, 0, sizeof(f));
	f.snd_una = base + c->una;
	f.snd_max = base + c->max;
	f.high_rxt = base + c->high_rxt;
	f.mss = MSS;
	f.sb_n = (uint8_t)c->n;
	for (unsigned i = 0; i < c->n; i++) {
		f.sb[i][0] = base + c->sb[i][0];
		f.sb[i][1] = base + c->sb[i][1];
	}
	lost = tcp_sack_lost_end(&f) - base;
	pipe = tcp_sack_pipe(&f);
	lok = tcp_sack_next_lost(&f, &seq, &len);
	aok = tcp_sack_next_any(&f, &aseq, &alen);
	good = lost == c->lost_end && pipe == c->pipe && lok == c->lost_ok &&
	       (!lok || (seq - base == c->lost_seq && len == c->lost_len)) && aok == c->any_ok &&
	       (!aok || (aseq - base == c->any_seq && alen == c->any_len));
	if (!ok(good, "recovery (base %#x): %s", base, c->name))
		printf("#   lost_end %u pipe %u next_lost %d %u+%u next_any %d %u+%u\n", lost, pipe,
		       lok, seq - base, len, aok, aseq - base, alen);
}

static void
test_recovery_math(void)
{
	for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++)
		rec_run(&rec_cases[i], 0);
	for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++)
		rec_run(&rec_cases[i], UINT32_MAX - 2500);
}

/* ---- whole transfers over a scripted link -------------------------------- */

#define LINK_BYTES   40000u /* what the application sends */
#define LINK_MAXLOSS 8

/* a loss: the n-th transmission (1: the first) of the segment carrying byte rel */
struct loss {
	uint32_t rel;
	unsigned nth;
};

struct link_case {
	const char *name;
	bool sack;
	struct loss loss[LINK_MAXLOSS];
	unsigned nloss;
	unsigned want_rexmit; /* retransmitted segments, exactly */
	unsigned want_rto;    /* RTO expiries, exactly */
	unsigned want_recoveries;
	uint32_t cwnd; /* set after the handshake; 0: the initial window */
};

/* clang-format off */
static const struct link_case link_cases[] = {
	/* name, SACK | losses (byte, transmission) | retransmissions, RTOs, recoveries
	 * | cwnd */
	{"one loss: one retransmission, no RTO",
	 true, {{2000, 1}}, 1, 1, 0, 1},
	{"two holes in one window: each resent once",
	 true, {{2000, 1}, {5000, 1}}, 2, 2, 0, 1},
	{"three in a row: each resent once",
	 true, {{3000, 1}, {4000, 1}, {5000, 1}}, 3, 3, 0, 1},
	{"five holes, more than the scoreboard's ranges: each resent once",
	 true, {{1000, 1}, {3000, 1}, {5000, 1}, {7000, 1}, {9000, 1}}, 5, 5, 0, 1},
	{"losses in two windows: two recoveries",
	 true, {{2000, 1}, {25000, 1}}, 2, 2, 0, 2},
	{"the last segment lost: no SACK above it, the RTO resends it",
	 true, {{39500, 1}}, 1, 1, 1, 0},
	{"a retransmission lost too: the RTO, then go-back-N from a reset scoreboard",
	 true, {{2000, 1}, {2000, 2}}, 2, 2, 1, 1},
	{"cwnd of 2 MSS: limited transmit draws the third duplicate, no RTO",
	 true, {{500, 1}}, 1, 1, 0, 1, 2 * MSS},
	{"without SACK: NewReno's one retransmission",
	 false, {{2000, 1}}, 1, 1, 0, 1},
};
/* clang-format on */

/* The receiver, byte by byte (the stack may send less than an MSS when
 * cwnd leaves less), reporting blocks as Linux does. */
struct link {
	struct peer *p;
	uint32_t iss;                     /* the stack's ISN: rel 0 is iss + 1 */
	bool got[LINK_BYTES];             /* the receiver's view */
	unsigned carried[LINK_MAXLOSS];   /* transmissions carrying each loss's byte */
	uint32_t high;                    /* highest rel sent + 1 */
	uint32_t recent[TCP_SACK_MAX][2]; /* the receiver's blocks, most recent first */
	unsigned nrecent;
	unsigned rexmit, dup_held; /* resends; resends of held data before any RTO */
};

/* link_cum - the receiver's cumulative ACK (rel) */
static uint32_t
link_cum(const struct link *l)
{
	uint32_t i = 0;

	while (i < LINK_BYTES && l->got[i])
		i++;
	return i;
}

/* link_range - the held range around rel, [*lo, *hi) */
static void
link_range(const struct link *l, uint32_t rel, uint32_t *lo, uint32_t *hi)
{
	*lo = rel;
	*hi = rel;
	while (*lo > 0 && l->got[*lo - 1])
		(*lo)--;
	while (*hi < LINK_BYTES && l->got[*hi])
		(*hi)++;
}

/* link_blocks - RFC 2018 4: the block holding the segment just received
 * first, then the earlier blocks still above the cumulative ACK, at most 3 */
static void
link_blocks(struct link *l, uint32_t rel)
{
	uint32_t cum = link_cum(l), blk[TCP_SACK_MAX][2];
	unsigned n = 0;

	if (rel > cum) {
		link_range(l, rel, &blk[0][0], &blk[0][1]);
		n = 1;
	}
	for (unsigned i = 0; i < l->nrecent && n < 3; i++) {
		uint32_t a, b;
		bool seen = false;

		if (l->recent[i][1] <= cum)
			continue;
		link_range(l, l->recent[i][0], &a, &b); /* it may have grown since */
		for (unsigned k = 0; k < n; k++)
			seen = seen || (blk[k][0] == a && blk[k][1] == b);
		if (seen)
			continue;
		blk[n][0] = a;
		blk[n][1] = b;
		n++;
	}
	memcpy(l->recent, blk, sizeof(blk));
	l->nrecent = n;
}

/* link_ack - the receiver's ACK for what it holds */
static void
link_ack(struct link *l, bool sack)
{
	struct tcp_opts o = {0};

	if (sack && l->nrecent > 0) {
		o.has = TCP_O_SACK;
		o.nsack = (uint8_t)l->nrecent;
		for (unsigned i = 0; i < l->nrecent; i++) {
			o.sack[i][0] = l->iss + 1 + l->recent[i][0];
			o.sack[i][1] = l->iss + 1 + l->recent[i][1];
		}
	}
	p_segx(l->p, CLI_PORT, SRV_PORT, TCP_ACK, l->p->cseq, l->iss + 1 + link_cum(l), 65535, NULL,
	       0, &o);
}

/* link_deliver - one segment the stack sent reaches (or not) the receiver */
static void
link_deliver(struct link *l, const struct link_case *c, const struct pout *po)
{
	uint32_t rel = po->o.seq - (l->iss + 1), end = rel + po->len;
	bool held = false;

	if (po->len == 0 || end > LINK_BYTES)
		return; /* bare ACKs */
	for (uint32_t i = rel; i < end; i++)
		held = held || l->got[i];
	if (rel < l->high) {
		l->rexmit++;
		if (held && l->p->st->rto_fired == 0)
			l->dup_held++;
	}
	if (end > l->high)
		l->high = end;
	for (unsigned k = 0; k < c->nloss; k++)
		if (c->loss[k].rel >= rel && c->loss[k].rel < end)
			l->carried[k]++;
	for (unsigned k = 0; k < c->nloss; k++)
		if (c->loss[k].rel >= rel && c->loss[k].rel < end &&
		    l->carried[k] == c->loss[k].nth)
			return;
	for (uint32_t i = rel; i < end; i++)
		l->got[i] = true;
	link_blocks(l, rel);
	link_ack(l, c->sack);
}

static void
link_run(const struct link_case *c)
{
	struct link l;
	struct tcp_opts o = {.has = TCP_O_MSS, .mss = MSS};
	static uint8_t buf[LINK_BYTES];
	struct pout batch[64];
	unsigned rounds = 0;
	bool done;

	memset(&l, 0, sizeof(l));
	l.p = p_start(NULL);
	if (c->sack)
		o.has |= TCP_O_SACKOK;
	p_segx(l.p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
	l.iss = p_last(l.p)->o.seq;
	l.p->cseq = CLI_ISS + 1;
	p_segx(l.p, CLI_PORT, SRV_PORT, TCP_ACK, l.p->cseq, l.iss + 1, 65535, NULL, 0, NULL);
	if (l.p->flow == NULL) {
		ok(0, "%s: handshake", c->name);
		p_stop(l.p);
		return;
	}
	if (c->cwnd != 0)
		l.p->flow->cwnd = c->cwnd;
	memset(buf, 'x', sizeof(buf));
	/* the stack queues what its send buffer takes; the rest as it frees */
	size_t queued = tcp_send(l.p->flow, buf, sizeof(buf));

	do {
		int nb = l.p->nout < 64 ? l.p->nout : 64;

		memcpy(batch, l.p->out, sizeof(batch[0]) * (size_t)nb);
		memmove(l.p->out, l.p->out + nb, sizeof(l.p->out[0]) * (size_t)(l.p->nout - nb));
		l.p->nout -= nb;
		for (int k = 0; k < nb; k++)
			link_deliver(&l, c, &batch[k]);
		if (queued < sizeof(buf) && l.p->flow != NULL)
			queued += tcp_send(l.p->flow, buf + queued, sizeof(buf) - queued);
		done = link_cum(&l) == LINK_BYTES;
		if (!done && l.p->nout == 0) {
			if (getenv("SACK_DEBUG"))
				printf("# tick: cum %u una %u nxt %u max %u cwnd %u pipe %u flags "
				       "%x sq %u queued %zu\n",
				       link_cum(&l), l.p->flow->snd_una - l.iss - 1,
				       l.p->flow->snd_nxt - l.iss - 1,
				       l.p->flow->snd_max - l.iss - 1, l.p->flow->cwnd,
				       tcp_sack_pipe(l.p->flow), l.p->flow->flags,
				       l.p->flow->sq.len, queued);
			p_tick(l.p, 250);
		} /* nothing in the air: time passes, timers fire */
	} while (!done && ++rounds < 2000);

	ok(done, "%s: all %u bytes arrive", c->name, LINK_BYTES);
	is_int(l.rexmit, c->want_rexmit, "%s: %u retransmissions", c->name, c->want_rexmit);
	is_int(l.dup_held, 0, "%s: none of data the receiver held (before any RTO)", c->name);
	is_int(l.p->st->rto_fired, c->want_rto, "%s: %u RTO", c->name, c->want_rto);
	is_int(l.p->st->fast_retransmits, c->want_recoveries, "%s: %u recoveries", c->name,
	       c->want_recoveries);
	is_int(l.p->st->sack_retransmits, c->sack ? c->want_rexmit - c->want_rto : 0,
	       "%s: resends counted as SACK retransmissions", c->name);
	if (l.p->flow != NULL)
		ok(!(l.p->flow->flags & TCP_F_RECOVERY) && l.p->flow->sb_n == 0,
		   "%s: recovery over, scoreboard empty", c->name);
	p_stop(l.p);
}

static void
test_link(void)
{
	for (size_t i = 0; i < sizeof(link_cases) / sizeof(link_cases[0]); i++)
		link_run(&link_cases[i]);
}

/* ---- negotiation: SACK is used only when both SYNs permit it ------------- */

static void
test_negotiation(void)
{
	static const struct {
		const char *name;
		bool active, peer_ok;
	} cases[] = {
	        {"active open, SYN-ACK permits SACK: used", true, true},
	        {"active open, SYN-ACK does not: NewReno", true, false},
	        {"passive open, SYN permits SACK: used, and the SYN-ACK says so", false, true},
	        {"passive open, SYN does not: NewReno, the SYN-ACK does not offer it", false,
	         false},
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct peer *p = p_start(NULL);
		struct tcp_ip l = ip4(10, 0, 0, 2), r = ip4(10, 0, 0, 1);
		struct tcp_opts o = {.has = TCP_O_MSS, .mss = 1400};
		struct tcp_flow *f;
		struct pout *syn;
		bool offered = true;

		if (cases[k].peer_ok)
			o.has |= TCP_O_SACKOK;
		if (cases[k].active) {
			f = tcp_connect(p->lc, TCP_V4, &l, &r, 2525, p->app, p, p->now);
			syn = p_last(p);
			offered = (syn->o.opt.has & TCP_O_SACKOK) != 0;
			p_segx(p, 2525, syn->o.sport, TCP_SYN | TCP_ACK, 9000, syn->o.seq + 1,
			       65535, NULL, 0, &o);
		} else {
			p_segx(p, CLI_PORT, SRV_PORT, TCP_SYN, CLI_ISS, 0, 65535, NULL, 0, &o);
			syn = p_last(p); /* our SYN-ACK */
			offered = (syn->o.opt.has & TCP_O_SACKOK) != 0;
			p_segx(p, CLI_PORT, SRV_PORT, TCP_ACK, CLI_ISS + 1, syn->o.seq + 1, 65535,
			       NULL, 0, NULL);
			f = p->flow;
		}
		ok(f != NULL && tcp_flow_state(f) == TCP_S_ESTABLISHED &&
		           !!(f->flags & TCP_F_SACK) == cases[k].peer_ok &&
		           offered == (cases[k].active || cases[k].peer_ok),
		   "%s", cases[k].name);
		p_stop(p);
	}
}

int
main(void)
{
	test_negotiation();
	test_scoreboard();
	test_recovery_math();
	test_link();
	return done_testing();
}
