/* privdrop - give up, once the gate has started, what it no longer needs
 *
 * Starting needs root: DPDK opens devices (a TAP, a packet socket, vfio)
 * and maps memory, the control socket is made in EAL's runtime directory.
 * Afterwards the gate only moves packets through descriptors it holds and
 * accepts on sockets it already listens on, so it switches to an
 * unprivileged user (the gate config's `user`, "nobody" by default): every
 * thread loses root's uid, its groups and all capabilities, and the process
 * may gain no privilege again (no_new_privs).
 */
#ifndef PRIVDROP_H
#define PRIVDROP_H

#include <stddef.h>

#include "gconf.h"

/* privdrop - switch to gconf's user when started as root; a line for the
 * log in msg either way. -1 when a step failed (the gate must not go on).
 * run_dir (EAL's runtime directory, the gate's own) is handed to the user
 * first, so that the gate can still remove its files there when it stops. */
int privdrop(const struct gconf *g, const char *run_dir, char *msg, size_t msglen);

#endif
