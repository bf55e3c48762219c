/* conf - parser for the UCL configuration syntax used by the policy and the gate config
 *
 * The syntax is the one of libucl (Rspamd, FreeBSD), which Debian 12 does not
 * package; this parser covers the part of it that configuration files use, and
 * all of JSON, and keeps the file and line of every value so that the loaders
 * can report errors as file:line. Input is untrusted: every limit is checked
 * before memory is written, and nothing here recurses without a depth bound.
 */
#ifndef CONF_H
#define CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pol_err.h"

/* Nesting deeper than this is an error (bounds the parser's stack). */
#define CONF_MAX_DEPTH 32
/* A single string value or key longer than this is an error. */
#define CONF_MAX_STRING 65536

enum conf_type {
	CONF_OBJECT, /* members in file order; keys may repeat */
	CONF_ARRAY,  /* elements in file order */
	CONF_STRING, /* every scalar: the loaders interpret numbers and booleans */
};

struct conf_node {
	enum conf_type type;
	char *key;                /* member key when the parent is an object, else NULL */
	char *str;                /* CONF_STRING: the value, NUL-terminated */
	size_t len;               /* CONF_STRING: length of str */
	bool quoted;              /* CONF_STRING: it was written in quotes */
	const char *file;         /* source file, owned by the document */
	unsigned line;            /* line of the value's first character */
	unsigned key_line;        /* line of the key, when there is one */
	struct conf_node *child;  /* first member or element */
	struct conf_node *last;   /* last member or element, for appending */
	struct conf_node *next;   /* next sibling */
	struct conf_node *parent; /* container, NULL for the root */
	size_t n;                 /* number of members or elements */
};

struct conf_doc {
	struct conf_node *root; /* always a CONF_OBJECT */
	char *file;             /* the name every node's file points to */
};

/* conf_parse - parse text (not NUL-terminated, may contain NULs: an error) into a document.
 * Returns NULL, with at least one error added to errs, when the text is not valid. */
struct conf_doc *conf_parse(const char *file, const char *text, size_t len, struct pol_errs *errs);
/* conf_parse_file - read and parse a file; a missing file is an error in errs */
struct conf_doc *conf_parse_file(const char *path, struct pol_errs *errs);
void conf_free(struct conf_doc *doc);

/* conf_get - first member of an object with that key (caseless), or NULL */
struct conf_node *conf_get(const struct conf_node *obj, const char *key);

/* conf_check_keys - report members of obj whose key is not in names
 * (NULL-terminated, caseless) and keys given twice unless repeatable lists
 * them; where ("service mx") is added to the messages when not NULL */
void conf_check_keys(const struct conf_node *obj, const char *where, const char *const *names,
                     const char *const *repeatable, struct pol_errs *errs);

/* Scalar interpretation. Each returns 0, or -1 after adding an error to errs
 * that names the key and says what was expected. */
int conf_bool(const struct conf_node *n, bool *out, struct pol_errs *errs);
/* integer with optional size suffix: k, m, g (x1000) and kb, mb, gb (x1024) */
int conf_uint(const struct conf_node *n, uint64_t min, uint64_t max, uint64_t *out,
              struct pol_errs *errs);
/* duration: a number with ms, s, min, h or d (seconds when no suffix), in milliseconds */
int conf_msec(const struct conf_node *n, uint64_t *out, struct pol_errs *errs);
/* a scalar as text */
int conf_str(const struct conf_node *n, const char **out, struct pol_errs *errs);

#endif
