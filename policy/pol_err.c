/* pol_err - collect file:line errors for the policy and configuration loaders */
#include "pol_err.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void
pol_errs_add(struct pol_errs *e, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	e->total++;
	if (e->n >= POL_ERRS_MAX)
		return;
	if (e->v == NULL) {
		e->v = calloc(POL_ERRS_MAX, sizeof(*e->v));
		if (e->v == NULL)
			return;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	/* messages quote the operator's text: no terminal escapes on output */
	for (char *p = msg; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
	e->v[e->n].file = strdup(file != NULL ? file : "-");
	e->v[e->n].line = line;
	e->v[e->n].msg = msg != NULL ? msg : strdup("out of memory");
	e->n++;
}

void
pol_errs_print(const struct pol_errs *e, FILE *out)
{
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].line > 0)
			fprintf(out, "%s:%u: error: %s\n", e->v[i].file, e->v[i].line, e->v[i].msg);
		else
			fprintf(out, "%s: error: %s\n", e->v[i].file, e->v[i].msg);
	}
	if (e->total > e->n)
		fprintf(out, "... and %zu more errors\n", e->total - e->n);
}

void
pol_errs_free(struct pol_errs *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].file);
		free(e->v[i].msg);
	}
	free(e->v);
	memset(e, 0, sizeof(*e));
}
