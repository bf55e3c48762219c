/* tcp_timer - the lcore's hashed timer wheel, and tcp_timers_run()
 *
 * One wheel entry per flow at most, at the earlier of its two deadlines
 * (t_tcp: RTO, persist, SYN, FIN_WAIT_2; t_app: the application's).
 * TIME_WAIT is not in the wheel: its FIFO is in expiry order, and
 * tcp_timers_run() frees its due head (tcp_tw_expire()). Pushing a
 * deadline later (every ACK restarts the RTO) leaves the entry where it
 * is: when it fires early, the flow looks at its deadlines and goes back
 * in the wheel for the next one. So the common
 * case costs no relinking. Due flows fire from the pending list at the end
 * of tcp_timers_run(), so callbacks never run inside a slot walk. Slots are TCP_WHEEL_TICK ms;
 * deadlines further than one turn stay in their slot and are passed over until due.
 */
#include "tcp_impl.h"

#define WHEEL_MASK (TCP_WHEEL_SLOTS - 1)
_Static_assert((TCP_WHEEL_SLOTS & WHEEL_MASK) == 0, "wheel slots: a power of two");

/* tick_of - the tick whose slot holds a deadline: rounded up, so that
 * when a slot runs (now >= its tick's start) every entry of this turn in
 * it is due; a timer fires up to one tick late, never early */
static inline uint64_t
tick_of(uint64_t at)
{
	return (at + TCP_WHEEL_TICK - 1) / TCP_WHEEL_TICK;
}

/* unlink - off its slot list */
static void
unlink_flow(struct tcp_lcore *lc, struct tcp_flow *f)
{
	if (f->wprev != TCP_NIL)
		lc->flows[f->wprev].wnext = f->wnext;
	else
		lc->wheel[tick_of(f->t_wheel) & WHEEL_MASK] = f->wnext;
	if (f->wnext != TCP_NIL)
		lc->flows[f->wnext].wprev = f->wprev;
	f->wnext = f->wprev = TCP_NIL;
	f->t_wheel = 0;
}

/* link_at - into the slot of time at (never a slot already run) */
static void
link_at(struct tcp_lcore *lc, struct tcp_flow *f, uint64_t at)
{
	uint64_t tick;
	uint32_t *head;

	if (at == 0)
		at = 1; /* 0 means "not in the wheel" */
	tick = tick_of(at);
	if (tick < lc->wheel_tick) {
		tick = lc->wheel_tick;
		at = tick * TCP_WHEEL_TICK;
	}
	head = &lc->wheel[tick & WHEEL_MASK];
	f->t_wheel = at;
	f->wprev = TCP_NIL;
	f->wnext = *head;
	if (*head != TCP_NIL)
		lc->flows[*head].wprev = f->idx;
	*head = f->idx;
}

/* tcp_timer_sched - make sure the wheel looks at f by its earliest deadline */
void
tcp_timer_sched(struct tcp_lcore *lc, struct tcp_flow *f)
{
	uint64_t at = f->t_tcp;

	if (f->t_app != 0 && (at == 0 || f->t_app < at))
		at = f->t_app;
	if (at == 0) {
		if (f->t_wheel != 0)
			unlink_flow(lc, f);
		return;
	}
	if (f->t_wheel != 0) {
		if (f->t_wheel <= at)
			return; /* it will look early and reschedule */
		unlink_flow(lc, f);
	}
	link_at(lc, f, at);
}

/* tcp_timer_cancel - out of the wheel, deadlines cleared */
void
tcp_timer_cancel(struct tcp_lcore *lc, struct tcp_flow *f)
{
	if (f->t_wheel != 0)
		unlink_flow(lc, f);
	f->t_tcp = f->t_app = 0;
}

/* run_slot - hand the due flows of one slot to the pending list (no
 * callback runs while a slot list is walked); the others stay */
static void
run_slot(struct tcp_lcore *lc, uint32_t slot, uint64_t now)
{
	uint32_t i = lc->wheel[slot];

	while (i != TCP_NIL) {
		struct tcp_flow *f = &lc->flows[i];

		i = f->wnext;
		if (f->t_wheel > now) /* a later turn */
			continue;
		unlink_flow(lc, f);
		f->flags |= TCP_F_TIMER;
		tcp_pend(lc, f);
	}
}

/* tcp_timers_run - run the slots from the last run up to now */
void
tcp_timers_run(struct tcp_lcore *lc, uint64_t now)
{
	uint64_t tick = now / TCP_WHEEL_TICK, n = 0;

	if (tick < lc->wheel_tick && lc->depth == 0) {
		/* no slot due (most loop iterations): only the clock moves;
		 * between calls nothing is pending for tcp_leave() */
		if (now > lc->now)
			lc->now = now;
		return;
	}
	tcp_enter(lc, now);
	while (lc->wheel_tick <= tick && n < TCP_WHEEL_SLOTS) {
		uint64_t t = lc->wheel_tick;

		/* advance first: entries linked while running land in later slots */
		lc->wheel_tick++;
		run_slot(lc, (uint32_t)(t & WHEEL_MASK), now);
		n++;
	}
	if (lc->wheel_tick <= tick) /* a long stall: every slot has been run once */
		lc->wheel_tick = tick + 1;
	tcp_tw_expire(lc, now); /* TIME_WAIT is timed by its FIFO, not the wheel */
	tcp_leave(lc);
}
