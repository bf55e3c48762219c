/* pol_err - a list of file:line errors, so that every problem is reported, not just the first */
#ifndef POL_ERR_H
#define POL_ERR_H

#include <stddef.h>
#include <stdio.h>

/* Past this many, further errors are only counted: a broken 100,000-line
 * list file must not produce 100,000 lines of output or memory. */
#define POL_ERRS_MAX 200

struct pol_err {
	char *file;    /* source file name, as given to the parser */
	unsigned line; /* 1-based, 0 when the error concerns no line */
	char *msg;     /* reason, without the location */
};

struct pol_errs {
	struct pol_err *v; /* the first POL_ERRS_MAX errors */
	size_t n;          /* number stored in v */
	size_t total;      /* number reported, stored or not */
};

void pol_errs_add(struct pol_errs *e, const char *file, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* pol_errs_print - "file:line: error: msg" per error, then a count of the dropped ones */
void pol_errs_print(const struct pol_errs *e, FILE *out);
void pol_errs_free(struct pol_errs *e);

#endif
