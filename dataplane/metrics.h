/* metrics - Prometheus metrics over HTTP and DPDK telemetry, served by the control thread */
#ifndef METRICS_H
#define METRICS_H

#include "gconf.h"

/* metrics_open - listen on gc->metrics_listen (nothing when empty) and
 * register the telemetry commands; 0, or -1 with the reason printed */
int metrics_open(const struct gconf *gc);
/* metrics_poll - serve what is ready, without blocking; call every loop */
void metrics_poll(void);
/* metrics_close - stop listening */
void metrics_close(void);

#endif
