/* intrsync - wait for EAL's interrupt thread to settle before EAL is torn down
 * (see intrsync.c for why: DPDK 22.11's interrupt thread outlives
 * rte_eal_cleanup() and may still read the handles of sources in DPDK
 * memory) */
#ifndef INTRSYNC_H
#define INTRSYNC_H

/* intrsync_settle - return once EAL's interrupt thread has taken in every
 * callback unregistered before the call and is idle: 0, or -1 if it did
 * not within timeout_ms (twice: two rounds of its loop) or the callback
 * could not be registered. Once per process, just before rte_eal_cleanup(). */
int intrsync_settle(unsigned timeout_ms);

#endif
