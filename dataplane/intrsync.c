/* intrsync - wait for EAL's interrupt thread to settle before EAL is torn down
 *
 * Why. EAL's interrupt thread (Linux, DPDK 22.11) waits in epoll on the
 * file descriptors of every registered interrupt source; when a callback is
 * unregistered it is woken through a pipe and rebuilds that set, reading
 * each source's handle. Those handles live in DPDK memory when their owner
 * asked for a shared one, as net_memif does for its listening socket. The
 * thread is never stopped: rte_eal_cleanup() unmaps DPDK memory under it.
 * Stopping a memif port with a client attached (rte_eth_dev_stop(): the
 * control channel's callback is unregistered) wakes it, and on a busy
 * machine it may run only after rte_eal_cleanup(): SIGSEGV in
 * rte_intr_fd_get() after "smtpgate: stopped" (bench/RESULTS.md, the memif
 * section's notes).
 *
 * How. Register a callback of our own on an eventfd (a private handle, in
 * libc memory), signal it and wait until the thread has run it twice: the
 * second run comes from an epoll set rebuilt after every unregistration
 * made before the call, and after the batch of events the first run was
 * in; with its eventfd read back, the thread is then idle in epoll_wait.
 * The callback stays registered: unregistering it would wake the thread
 * for one more rebuild, the very thing to avoid. Called once, at exit, by
 * the control thread; nothing here is untrusted input.
 */
#define ALLOW_EXPERIMENTAL_API /* rte_intr_instance_alloc and its setters */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_interrupts.h>

#include "intrsync.h"

#define INTRSYNC_STEP_US 1000 /* polling step of the wait */

/* The eventfd and how many times the interrupt thread has run our
 * callback (interrupt thread: rw; control thread: ro). */
static struct {
	int fd;
	unsigned runs;
} sync_state = {.fd = -1};

/* on_ping - on the interrupt thread: empty the eventfd (EAL's epoll is
 * level-triggered and does not read EXT handles), then count the run */
static void
on_ping(void *arg)
{
	uint64_t v;

	(void)arg;
	if (read(sync_state.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	__atomic_add_fetch(&sync_state.runs, 1, __ATOMIC_RELEASE);
}

/* ping_wait - signal the eventfd, wait until the callback has run `runs`
 * times in all; 0, or -1 after timeout_ms */
static int
ping_wait(unsigned runs, unsigned timeout_ms)
{
	const uint64_t one = 1;

	if (write(sync_state.fd, &one, sizeof(one)) != sizeof(one))
		return -1;
	for (unsigned waited_us = 0; __atomic_load_n(&sync_state.runs, __ATOMIC_ACQUIRE) < runs;
	     waited_us += INTRSYNC_STEP_US) {
		if (waited_us >= timeout_ms * 1000u)
			return -1;
		usleep(INTRSYNC_STEP_US);
	}
	return 0;
}

int
intrsync_settle(unsigned timeout_ms)
{
	struct rte_intr_handle *h;

	if (sync_state.fd >= 0)
		return -1; /* once per process: the callback stays registered */
	sync_state.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
	if (sync_state.fd < 0 || h == NULL || rte_intr_fd_set(h, sync_state.fd) != 0 ||
	    rte_intr_type_set(h, RTE_INTR_HANDLE_EXT) != 0 ||
	    rte_intr_callback_register(h, on_ping, NULL) != 0) {
		rte_intr_instance_free(h);
		return -1;
	}
	/* EAL keeps its own copy of the handle */
	rte_intr_instance_free(h);
	if (ping_wait(1, timeout_ms) < 0 || ping_wait(2, timeout_ms) < 0)
		return -1;
	return 0;
}
