/* fuzz_gconf - the gate configuration loader on arbitrary files
 *
 * gconf_load() takes a path, so each input is written to a memfd and
 * loaded as /proc/self/fd/N (no disk, no temporary file to clean up).
 * Checked: a failure comes with errors, each naming the file and a line
 * (but "no port defined", which concerns the whole file); a success has
 * none, and a struct gconf within every limit of gconf.h: counts, string
 * terminations, route ports that name a port, socket permissions.
 */
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "gconf.h"

static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memfd = memfd_create("gate.conf", 0);
	if (memfd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return 0;
}

/* terminated - a char array holds a C string */
static bool
terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void
check_conf(const struct gconf *g)
{
	fz_check(g->nports >= 1 && g->nports <= GCONF_MAX_PORTS, "%u ports", g->nports);
	for (unsigned i = 0; i < g->nports; i++) {
		const struct gconf_port *p = &g->ports[i];

		fz_check(terminated(p->name, sizeof(p->name)) && p->name[0] != '\0', "port name");
		fz_check(terminated(p->device, sizeof(p->device)) && p->device[0] != '\0',
		         "port device");
		fz_check(p->naddr >= 1 && p->naddr <= 2 * GCONF_MAX_ADDRS, "port %s: %u addresses",
		         p->name, p->naddr);
		for (unsigned j = 0; j < i; j++)
			fz_check(strcmp(g->ports[j].name, p->name) != 0, "duplicate port %s",
			         p->name);
	}
	fz_check(g->nroutes <= GCONF_MAX_ROUTES, "%u routes", g->nroutes);
	for (unsigned i = 0; i < g->nroutes; i++)
		fz_check(g->routes[i].port < g->nports, "route %u: port %u", i, g->routes[i].port);
	fz_check(g->nlcores <= GCONF_MAX_LCORES, "%u lcores", g->nlcores);
	fz_check(g->max_flows >= 16 && g->syn_backlog >= 1 && g->mbufs >= 511, "limits");
	fz_check(terminated(g->control_socket, sizeof(g->control_socket)), "control socket");
	fz_check(g->control_mode <= 0777 && (g->control_mode & 0007) == 0, "mode %o",
	         g->control_mode);
	fz_check(terminated(g->metrics_listen, sizeof(g->metrics_listen)), "metrics listen");
	fz_check(terminated(g->log_file, sizeof(g->log_file)), "log file");
	fz_check(g->log != GCONF_LOG_FILE || g->log_file[0] != '\0', "log file empty");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_errs errs = {0};
	struct gconf g;
	int rc;

	if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	rc = gconf_load(path, &g, &errs);
	fz_check(rc == 0 || rc == -1, "rc %d", rc);
	fz_check((rc == 0) == (errs.total == 0), "rc %d with %zu errors", rc, errs.total);
	for (size_t i = 0; i < errs.n; i++) {
		const struct pol_err *e = &errs.v[i];

		fz_check(e->file != NULL && strcmp(e->file, path) == 0, "error file %s",
		         e->file != NULL ? e->file : "(null)");
		fz_check(e->line > 0 || strstr(e->msg, "no port defined") != NULL,
		         "error without a line: %s", e->msg);
		fz_check(strchr(e->msg, '\n') == NULL, "newline in an error: %s", e->msg);
	}
	if (rc == 0)
		check_conf(&g);
	pol_errs_free(&errs);
	return 0;
}
