/* control - the gate's control socket: policy pushes, show, stats, explain, drain
 *
 * A thread of its own (not an lcore, not the log-draining main thread),
 * serving one connection at a time: requests are short except a push,
 * which parses and compiles the policy here, off the dataplane, and
 * publishes it through RCU; this thread is the policy's only writer once
 * the gate runs.
 */
#ifndef CONTROL_H
#define CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "gconf.h"

/* control_start - bind the socket (path, mode and group from gc), start the
 * thread; policy_path and version: the policy the gate started with; 0 or -1 */
int control_start(const struct gconf *gc, const char *policy_path, uint64_t version);
/* control_stop - stop the thread, remove the socket */
void control_stop(void);
/* gate_draining - set by a drain request (or SIGTERM): new sessions are refused */
extern volatile bool gate_draining;

#endif
