/* metrics - placeholder until the Prometheus endpoint lands */
#include "metrics.h"

int
metrics_open(const struct gconf *gc)
{
	(void)gc;
	return 0;
}

void
metrics_poll(void)
{
}

void
metrics_close(void)
{
}
