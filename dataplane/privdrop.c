/* privdrop - see privdrop.h
 *
 * glibc applies setgroups, setgid and setuid to every thread of the process
 * (DPDK's lcores, its interrupt and telemetry threads, our control thread),
 * and the kernel clears all capabilities of a thread whose uids all leave
 * 0. That is why the switch of user is the whole mechanism: dropping
 * capabilities while staying uid 0 would apply to the calling thread only.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int
privdrop(const struct gconf *g, const char *run_dir, char *msg, size_t msglen)
{
	uid_t uid = (uid_t)g->run_uid;
	gid_t gid = (gid_t)g->run_gid;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(msg, msglen, "no_new_privs: %s", strerror(errno));
		return -1;
	}
	if (geteuid() != 0) {
		snprintf(msg, msglen, "started as uid %u: nothing to give up", (unsigned)geteuid());
		return 0;
	}
	if (g->run_uid < 0 || uid == 0) {
		snprintf(msg, msglen, "WARNING: still running as root (user = \"root\" in %s)",
		         "the gate config");
		return 0;
	}
	if (run_dir != NULL && chown(run_dir, uid, gid) < 0) {
		snprintf(msg, msglen, "chown %s: %s", run_dir, strerror(errno));
		return -1;
	}
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		snprintf(msg, msglen, "switching to user %s: %s", g->user, strerror(errno));
		return -1;
	}
	/* a switch that can be undone would be no switch at all */
	if (setuid(0) == 0 || getuid() != uid || geteuid() != uid || getegid() != gid) {
		snprintf(msg, msglen, "switching to user %s: root could be regained", g->user);
		return -1;
	}
	snprintf(msg, msglen, "running as user %s (uid %u, gid %u), without capabilities", g->user,
	         (unsigned)uid, (unsigned)gid);
	return 0;
}
