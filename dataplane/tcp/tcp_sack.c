/* tcp_sack - the sender's SACK scoreboard (RFC 2018) and the loss recovery
 * of RFC 6675 that uses it
 *
 * The scoreboard is a few ranges inline in the flow (TCP_SACK_SB): what the
 * peer reported holding above snd_una, sorted, disjoint, never touching.
 * No allocation, nothing per packet. When a new range finds the board full,
 * the highest range is forgotten: the data above it then merely looks
 * outstanding, so the sender errs towards waiting (pipe too large, fewer
 * holes deemed lost), never towards resending what the peer holds, and the
 * lowest holes, the ones that hold the cumulative ACK back, stay known.
 *
 * RFC 6675 in bytes, with one simplification: since IsLost() of a hole
 * depends only on what is SACKed above it, lost holes are exactly those
 * below one boundary (lost_end), and the pipe is
 *   unSACKed bytes in [lost_end, snd_max)      (not deemed lost: in flight)
 * + unSACKed bytes in [snd_una, high_rxt)      (retransmitted: in flight again)
 * NextSeg() is split in its rules: tcp_sack_next_lost() (rule 1),
 * new data (rule 2, tcp_output), tcp_sack_next_any() (rule 3). The rescue
 * retransmission (rule 4, a MAY) is not done: a lost tail waits for the RTO.
 * Recovery starts here (tcp_sack_dupack(), tcp_sack_recovery_try(), from
 * tcp_input's ACK processing) and is driven by tcp_output(), which sends
 * while the pipe leaves an MSS of cwnd; it ends when the cumulative ACK
 * reaches the recovery point (tcp_input), or at the RTO (tcp_output), which
 * also forgets the scoreboard. Before DupThresh, the first duplicate ACKs
 * send new data (RFC 3042, limited transmit).
 *
 * Untrusted input: the peer's blocks. A block that is empty, reversed,
 * wholly below snd_una (a D-SACK, RFC 2883) or beyond snd_max is ignored;
 * one that straddles snd_una is cut there.
 */
#include "tcp_impl.h"

#define DUPTHRESH 3 /* RFC 6675 2: DupThresh */

static inline uint32_t
umin(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* tcp_sack_clear - forget everything the peer reported (RFC 2018 8, on RTO) */
void
tcp_sack_clear(struct tcp_flow *f)
{
	f->sb_n = 0;
}

/* sb_remove - drop range i */
static void
sb_remove(struct tcp_flow *f, unsigned i)
{
	for (unsigned j = i + 1; j < f->sb_n; j++) {
		f->sb[j - 1][0] = f->sb[j][0];
		f->sb[j - 1][1] = f->sb[j][1];
	}
	f->sb_n--;
}

/* tcp_sack_advance - the cumulative ACK reached snd_una: ranges below go,
 * a range it cuts into is trimmed */
void
tcp_sack_advance(struct tcp_flow *f)
{
	while (f->sb_n > 0 && SEQ_LEQ(f->sb[0][1], f->snd_una))
		sb_remove(f, 0);
	if (f->sb_n > 0 && SEQ_LT(f->sb[0][0], f->snd_una))
		f->sb[0][0] = f->snd_una;
}

/* sb_add - merge [l, r) in; true if it covered bytes not SACKed before */
static bool
sb_add(struct tcp_flow *f, uint32_t l, uint32_t r)
{
	unsigned i = 0, j;
	uint32_t had = 0, l0 = l, r0 = r;

	while (i < f->sb_n && SEQ_LT(f->sb[i][1], l))
		i++; /* ranges wholly below, not touching */
	/* ranges i .. j-1 touch or overlap [l, r): they merge into one */
	for (j = i; j < f->sb_n && SEQ_LEQ(f->sb[j][0], r); j++) {
		uint32_t ol = SEQ_GT(f->sb[j][0], l0) ? f->sb[j][0] : l0;
		uint32_t or = SEQ_LT(f->sb[j][1], r0) ? f->sb[j][1] : r0;

		if (SEQ_LT(ol, or))
			had += or -ol;
		if (SEQ_LT(f->sb[j][0], l))
			l = f->sb[j][0];
		if (SEQ_GT(f->sb[j][1], r))
			r = f->sb[j][1];
	}
	if (j > i) { /* merged: one range replaces i .. j-1 */
		f->sb[i][0] = l;
		f->sb[i][1] = r;
		while (j > i + 1)
			sb_remove(f, --j);
		return had < r0 - l0;
	}
	if (f->sb_n == TCP_SACK_SB) { /* full: the highest range is forgotten */
		if (i == f->sb_n)
			return false; /* that would be this one */
		f->sb_n--;
	}
	for (j = f->sb_n; j > i; j--) {
		f->sb[j][0] = f->sb[j - 1][0];
		f->sb[j][1] = f->sb[j - 1][1];
	}
	f->sb[i][0] = l;
	f->sb[i][1] = r;
	f->sb_n++;
	return true;
}

/* tcp_sack_update - take the blocks of an ACK (snd_una already moved);
 * true if they SACKed bytes not SACKed before (RFC 6675's duplicate ACK) */
bool
tcp_sack_update(struct tcp_flow *f, const struct tcp_opts *o)
{
	bool fresh = false;

	tcp_sack_advance(f);
	if (!(o->has & TCP_O_SACK))
		return false;
	for (unsigned k = 0; k < o->nsack && k < TCP_SACK_MAX; k++) {
		uint32_t l = o->sack[k][0], r = o->sack[k][1];

		if (!SEQ_LT(l, r) || SEQ_LEQ(r, f->snd_una) || SEQ_GT(r, f->snd_max))
			continue;
		if (SEQ_LT(l, f->snd_una))
			l = f->snd_una;
		if (sb_add(f, l, r))
			fresh = true;
	}
	return fresh;
}

/* sacked_in - bytes of [a, b) the scoreboard holds */
static uint32_t
sacked_in(const struct tcp_flow *f, uint32_t a, uint32_t b)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < f->sb_n; i++) {
		uint32_t l = SEQ_GT(f->sb[i][0], a) ? f->sb[i][0] : a;
		uint32_t r = SEQ_LT(f->sb[i][1], b) ? f->sb[i][1] : b;

		if (SEQ_LT(l, r))
			n += r - l;
	}
	return n;
}

/* tcp_sack_lost_end - RFC 6675 IsLost() as a boundary: an unSACKed byte
 * below it has DupThresh ranges, or more than (DupThresh - 1) SMSS bytes,
 * SACKed above it. snd_una when nothing is deemed lost. */
uint32_t
tcp_sack_lost_end(const struct tcp_flow *f)
{
	uint32_t bytes = 0;

	for (unsigned i = f->sb_n; i-- > 0;) {
		bytes += f->sb[i][1] - f->sb[i][0];
		if (f->sb_n - i >= DUPTHRESH || bytes > (DUPTHRESH - 1u) * f->mss)
			return f->sb[i][0];
	}
	return f->snd_una;
}

/* tcp_sack_pipe - RFC 6675 SetPipe(): bytes presumed in the network */
uint32_t
tcp_sack_pipe(const struct tcp_flow *f)
{
	uint32_t lost = tcp_sack_lost_end(f);
	uint32_t rxt = SEQ_GT(f->high_rxt, f->snd_una)
	                       ? umin(f->high_rxt - f->snd_una, f->snd_max - f->snd_una)
	                       : 0;

	return (f->snd_max - lost) - sacked_in(f, lost, f->snd_max) + rxt -
	       sacked_in(f, f->snd_una, f->snd_una + rxt);
}

/* first_hole - the first unSACKed byte at or above from (below snd_max), and
 * where its hole ends; false when there is none */
static bool
first_hole(const struct tcp_flow *f, uint32_t from, uint32_t *seq, uint32_t *end)
{
	if (SEQ_LT(from, f->snd_una))
		from = f->snd_una;
	for (unsigned i = 0; i < f->sb_n; i++) {
		if (SEQ_LT(from, f->sb[i][0])) {
			*seq = from;
			*end = f->sb[i][0];
			return true;
		}
		if (SEQ_LT(from, f->sb[i][1]))
			from = f->sb[i][1];
	}
	*seq = from;
	*end = f->snd_max;
	return SEQ_LT(from, f->snd_max);
}

/* tcp_sack_first_hole - the first unSACKed bytes above snd_una, at most
 * one MSS (RFC 6675 4.3: what recovery resends first); false when none */
bool
tcp_sack_first_hole(const struct tcp_flow *f, uint32_t *seq, uint32_t *len)
{
	uint32_t end;

	if (!first_hole(f, f->snd_una, seq, &end))
		return false;
	*len = umin(end - *seq, f->mss);
	return true;
}

/* tcp_sack_next_lost - NextSeg() rule 1: the first unSACKed bytes above
 * high_rxt deemed lost, at most one MSS of them; false when none */
bool
tcp_sack_next_lost(const struct tcp_flow *f, uint32_t *seq, uint32_t *len)
{
	uint32_t end, lost = tcp_sack_lost_end(f);

	if (!first_hole(f, f->high_rxt, seq, &end) || !SEQ_LT(*seq, lost))
		return false;
	*len = umin(umin(end, lost) - *seq, f->mss);
	return true;
}

/* tcp_sack_next_any - NextSeg() rule 3: unSACKed bytes above high_rxt with
 * SACKed bytes above them, though not yet deemed lost; false when none */
bool
tcp_sack_next_any(const struct tcp_flow *f, uint32_t *seq, uint32_t *len)
{
	uint32_t end;

	if (f->sb_n == 0 || !first_hole(f, f->high_rxt, seq, &end) ||
	    !SEQ_LT(*seq, f->sb[f->sb_n - 1][0]))
		return false;
	*len = umin(end - *seq, f->mss);
	return true;
}

/* sack_recovery_start - RFC 6675 5 (4): halve, note the recovery point,
 * resend the first hole; tcp_output() then fills the pipe (4.4) */
static void
sack_recovery_start(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint32_t flight = f->snd_max - f->snd_una, seq, len;

	f->ssthresh = flight / 2 > 2u * f->mss ? flight / 2 : 2u * f->mss;
	f->cwnd = f->ssthresh;
	f->recover = f->snd_max;
	f->high_rxt = f->snd_una;
	f->flags |= TCP_F_RECOVERY;
	lc->st.fast_retransmits++;
	if (tcp_sack_first_hole(f, &seq, &len))
		tcp_sack_resend(lc, f, seq, len);
	tcp_pend(lc, f);
}

/* tcp_sack_recovery_try - start recovery unless the last one (or the last
 * RTO's go-back-N) is not yet behind snd_una, as RFC 6675 5 and RFC 6582 4 */
void
tcp_sack_recovery_try(struct tcp_lcore *lc, struct tcp_flow *f)
{
	if (!(f->flags & TCP_F_RECOVERY) && SEQ_GEQ(f->snd_una, f->recover) &&
	    f->snd_nxt == f->snd_max)
		sack_recovery_start(lc, f);
}

/* tcp_sack_dupack - RFC 6675 5: recovery starts at the DupThresh-th duplicate
 * ACK, or as soon as the first unacknowledged byte is deemed lost, unless
 * the last recovery (or RTO) is not yet behind snd_una; before, the first
 * duplicates send new data (RFC 3042); in recovery, each ACK may open the
 * pipe */
void
tcp_sack_dupack(struct tcp_lcore *lc, struct tcp_flow *f, bool dup)
{
	if (f->flags & TCP_F_RECOVERY) {
		tcp_pend(lc, f);
		return;
	}
	if (dup && f->dupacks < UINT8_MAX)
		f->dupacks++;
	if (f->dupacks >= DUPTHRESH || SEQ_GT(tcp_sack_lost_end(f), f->snd_una))
		tcp_sack_recovery_try(lc, f);
	else if (dup)
		tcp_limited_transmit(lc, f);
}
