/* testlib - policies written to a scratch directory, for the policy unit tests */
#ifndef TESTLIB_H
#define TESTLIB_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pol.h"

static char test_dir_path[256];

/* test_dir_unlink - nftw's step: remove one entry, deepest first */
static inline int
test_dir_unlink(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* test_dir_remove - at exit, the scratch directory and what the test wrote
 * in it (every run made one, and they piled up by the thousand) */
static inline void
test_dir_remove(void)
{
	nftw(test_dir_path, test_dir_unlink, 16, FTW_DEPTH | FTW_PHYS);
}

/* test_dir - a fresh directory under TMPDIR, removed when the test exits */
static inline const char *
test_dir(void)
{
	if (test_dir_path[0] == '\0') {
		const char *t = getenv("TMPDIR");

		snprintf(test_dir_path, sizeof(test_dir_path), "%s/smtpgate-test-XXXXXX",
		         t != NULL ? t : "/tmp");
		if (mkdtemp(test_dir_path) == NULL) {
			perror("mkdtemp");
			exit(2);
		}
		atexit(test_dir_remove);
	}
	return test_dir_path;
}

/* write_file - dir/name := text; returns the path (static buffer) */
static inline const char *
write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", test_dir(), name);
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return path;
}

/* load_text - compile a policy given as text; NULL with errs on failure */
static inline struct pol_snapshot *
load_text(const char *name, const char *text, struct pol_errs *errs)
{
	const char *path = write_file(name, text);
	struct pol_model *m = pol_load_file(path, errs);

	return m != NULL ? pol_compile(m, errs) : NULL;
}

/* must_load - load_text that ends the test program on failure */
static inline struct pol_snapshot *
must_load(const char *name, const char *text)
{
	struct pol_errs errs = {0};
	struct pol_snapshot *s = load_text(name, text, &errs);

	if (s == NULL) {
		printf("Bail out! policy %s does not load:\n", name);
		pol_errs_print(&errs, stdout);
		exit(2);
	}
	pol_errs_free(&errs);
	return s;
}

#endif
