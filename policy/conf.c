/* conf - parser for the UCL configuration syntax, and the scalar readers the loaders use
 *
 * libucl is not packaged by Debian 12, so this file parses the part of UCL
 * that smtpgate's configuration files use, plus all of JSON:
 *
 *   top level    members without braces, or one { ... } object
 *   member       key = value | key : value | key value | key { ... } |
 *                key [ ... ] | key name { ... }  (= key { name { ... } })
 *   key          [A-Za-z0-9_.-]+ or a quoted string
 *   value        "string" | 'string' | atom | { members } | [ values ]
 *   separator    ';' or ',' or a newline after a scalar; optional after
 *                '}' or ']'; a trailing one before the closer is allowed
 *   comments     # and // to the end of the line, and block comments
 *                (slash-star ... star-slash, nested), where a token may start
 *
 * An atom is a run of bytes up to whitespace or one of ; , [ ] { }, so
 * 192.0.2.0/24, user@example.com, 2001:db8::/32, file:lists/bl.txt and
 * 50mb need no quotes. Every scalar is a CONF_STRING; conf_bool, conf_uint,
 * conf_msec and conf_str give it a meaning when the loader knows the key.
 *
 * Input is untrusted: the lexer looks at one byte at a time through a class
 * table, checks the string limit before every append into its one scratch
 * buffer, and the recursion over nested values is bounded by CONF_MAX_DEPTH.
 * The first syntax error stops the parse; nothing is recovered.
 */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Room for one error message; the input quoted in it is cut to CONF_SHOW_MAX. */
#define CONF_MSG_MAX  512
#define CONF_SHOW_MAX 40
#define CONF_SHOW_BUF (CONF_SHOW_MAX + 4)
/* conf_parse_file reads in chunks of this size, and refuses files larger
 * than CONF_FILE_MAX: a configuration is small, and a path pointing at a
 * device or a runaway file must not eat the memory. */
#define CONF_READ_CHUNK 65536
#define CONF_FILE_MAX   (64u << 20)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Byte classes of the lexer. */
enum {
	CH_WS = 1 << 0,   /* skipped between tokens */
	CH_STOP = 1 << 1, /* ends an atom: whitespace and ; , [ ] { } */
	CH_KEY = 1 << 2,  /* may appear in an unquoted key */
	CH_CTRL = 1 << 3, /* control character other than tab, LF, CR */
};

/* clang-format off */
static const unsigned char ch_class[256] = {
	[0x00 ... 0x08] = CH_CTRL,
	['\t'] = CH_WS | CH_STOP,
	['\n'] = CH_WS | CH_STOP,
	[0x0b ... 0x0c] = CH_CTRL,
	['\r'] = CH_WS | CH_STOP,
	[0x0e ... 0x1f] = CH_CTRL,
	[' '] = CH_WS | CH_STOP,
	[','] = CH_STOP, [';'] = CH_STOP,
	['['] = CH_STOP, [']'] = CH_STOP,
	['{'] = CH_STOP, ['}'] = CH_STOP,
	['-'] = CH_KEY, ['.'] = CH_KEY, ['_'] = CH_KEY,
	['0' ... '9'] = CH_KEY,
	['A' ... 'Z'] = CH_KEY,
	['a' ... 'z'] = CH_KEY,
};
/* clang-format on */

/* The one-character escapes of double-quoted strings; 0: not one (\u is apart). */
static const char dq_escape[256] = {
        ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
        ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
};

struct parser {
	const unsigned char *p;   /* next byte to read */
	const unsigned char *end; /* one past the last byte */
	unsigned line;            /* line of *p, 1-based */
	const char *file;         /* the document's file name, for nodes and errors */
	struct pol_errs *errs;    /* where the (first) error goes */
	bool failed;              /* an error was reported: every caller unwinds */
	char *buf;                /* the scalar or key being read, CONF_MAX_STRING bytes */
	size_t len;               /* bytes used in buf */
};

/* fail - report a syntax error at line (only the first one) and return -1 */
static int __attribute__((format(printf, 3, 4)))
fail(struct parser *ps, unsigned line, const char *fmt, ...)
{
	char msg[CONF_MSG_MAX];
	va_list ap;

	if (!ps->failed) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		pol_errs_add(ps->errs, ps->file, line, "%s", msg);
	}
	ps->failed = true;
	return -1;
}

/* show - input text made safe to quote in a message: cut, control bytes as '?' */
static const char *
show(char out[CONF_SHOW_BUF], const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i < CONF_SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	strcpy(out + i, len > CONF_SHOW_MAX ? "..." : "");
	return out;
}

/* descr - a byte (or -1 for the end) as a message shows it */
static const char *
descr(char out[16], int c)
{
	if (c < 0)
		snprintf(out, 16, "end of input");
	else if (c >= 0x20 && c < 0x7f)
		snprintf(out, 16, "'%c'", c);
	else
		snprintf(out, 16, "byte 0x%02x", (unsigned)c);
	return out;
}

/* peek - the next byte, or -1 at the end */
static int
peek(const struct parser *ps)
{
	return ps->p < ps->end ? *ps->p : -1;
}

/* peek2 - the byte after the next one, or -1 */
static int
peek2(const struct parser *ps)
{
	return ps->end - ps->p >= 2 ? ps->p[1] : -1;
}

/* advance - step over one byte, counting lines */
static void
advance(struct parser *ps)
{
	if (*ps->p == '\n')
		ps->line++;
	ps->p++;
}

/* at_comment - whether a comment starts at the next byte */
static bool
at_comment(const struct parser *ps)
{
	int c = peek(ps);

	return c == '#' || (c == '/' && (peek2(ps) == '/' || peek2(ps) == '*'));
}

/* skip_comment - step over one comment (at_comment is true); block comments nest */
static int
skip_comment(struct parser *ps)
{
	unsigned start = ps->line;
	size_t depth = 1;

	if (*ps->p != '/' || ps->p[1] != '*') {
		while (ps->p < ps->end && *ps->p != '\n')
			ps->p++;
		return 0;
	}
	ps->p += 2;
	while (ps->p < ps->end) {
		if (*ps->p == '/' && peek2(ps) == '*') {
			depth++;
			ps->p += 2;
		} else if (*ps->p == '*' && peek2(ps) == '/') {
			ps->p += 2;
			if (--depth == 0)
				return 0;
		} else {
			advance(ps);
		}
	}
	return fail(ps, start, "unterminated comment");
}

/* skip_ws - step over whitespace and comments */
static int
skip_ws(struct parser *ps)
{
	for (;;) {
		if (ps->p < ps->end && (ch_class[*ps->p] & CH_WS))
			advance(ps);
		else if (at_comment(ps)) {
			if (skip_comment(ps) < 0)
				return -1;
		} else
			return 0;
	}
}

/* put - append bytes to the scratch buffer, within CONF_MAX_STRING */
static int
put(struct parser *ps, const char *s, size_t n)
{
	if (n > CONF_MAX_STRING - ps->len)
		return fail(ps, ps->line, "string longer than %d bytes", CONF_MAX_STRING);
	memcpy(ps->buf + ps->len, s, n);
	ps->len += n;
	return 0;
}

/* hex4 - the four hex digits of a \u escape */
static int
hex4(struct parser *ps, unsigned *out)
{
	unsigned v = 0;

	if (ps->end - ps->p < 4)
		return fail(ps, ps->line, "invalid \\u escape in string: expected 4 hex digits");
	for (int i = 0; i < 4; i++) {
		int c = ps->p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return fail(ps, ps->line,
			            "invalid \\u escape in string: expected 4 hex digits");
		v = v << 4 | (unsigned)d;
	}
	ps->p += 4;
	*out = v;
	return 0;
}

/* put_unicode - the rest of a \u escape (surrogate pairs joined) as UTF-8 */
static int
put_unicode(struct parser *ps)
{
	unsigned cp, lo;
	char u[4];
	size_t n;

	if (hex4(ps, &cp) < 0)
		return -1;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(ps, ps->line, "unpaired surrogate \\u%04X in string", cp);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
			return fail(ps, ps->line, "unpaired surrogate \\u%04X in string", cp);
		ps->p += 2;
		if (hex4(ps, &lo) < 0)
			return -1;
		if (lo < 0xdc00 || lo > 0xdfff)
			return fail(ps, ps->line, "unpaired surrogate \\u%04X in string", cp);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return fail(ps, ps->line, "\\u0000 is not allowed in a string");
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return put(ps, u, n);
}

/* read_escape - what follows a backslash in a quoted string */
static int
read_escape(struct parser *ps, int quote)
{
	unsigned line = ps->line;
	char d[16];
	int c = peek(ps);

	if (quote == '\'') {
		/* only \' and \\; any other backslash is itself */
		if (c == '\'' || c == '\\') {
			ps->p++;
			return put(ps, (const char *)&ps->p[-1], 1);
		}
		return put(ps, "\\", 1);
	}
	if (c < 0)
		return fail(ps, line, "unterminated string");
	if (dq_escape[c] != 0) {
		ps->p++;
		return put(ps, &dq_escape[c], 1);
	}
	if (c == 'u') {
		ps->p++;
		return put_unicode(ps);
	}
	if (c >= 0x20 && c < 0x7f)
		return fail(ps, line, "invalid escape \\%c in string", c);
	return fail(ps, line, "invalid escape in string: '\\' followed by %s", descr(d, c));
}

/* read_quoted - a "..." or '...' string into the scratch buffer */
static int
read_quoted(struct parser *ps)
{
	unsigned start = ps->line;
	int quote = *ps->p++;

	ps->len = 0;
	for (;;) {
		int c = peek(ps);

		if (c < 0)
			return fail(ps, start, "unterminated string");
		if (c == quote) {
			ps->p++;
			return 0;
		}
		if (c == '\n')
			return fail(ps, ps->line, "newline in string (missing closing quote?)");
		if (c < 0x20 && c != '\t')
			return fail(ps, ps->line, "control character 0x%02x in string",
			            (unsigned)c);
		ps->p++;
		if (c == '\\') {
			if (read_escape(ps, quote) < 0)
				return -1;
		} else if (put(ps, (const char *)&ps->p[-1], 1) < 0) {
			return -1;
		}
	}
}

/* read_atom - an unquoted scalar into the scratch buffer */
static int
read_atom(struct parser *ps)
{
	ps->len = 0;
	while (ps->p < ps->end && !(ch_class[*ps->p] & CH_STOP)) {
		if (ch_class[*ps->p] & CH_CTRL)
			return fail(ps, ps->line, "unexpected control character 0x%02x",
			            (unsigned)*ps->p);
		if (put(ps, (const char *)ps->p, 1) < 0)
			return -1;
		ps->p++;
	}
	return 0;
}

/* read_key - a bare or quoted key into the scratch buffer */
static int
read_key(struct parser *ps)
{
	char d[16], k[CONF_SHOW_BUF];
	int c = peek(ps);

	if (c == '"' || c == '\'')
		return read_quoted(ps);
	if (c < 0 || !(ch_class[c] & CH_KEY))
		return fail(ps, ps->line, "expected a key, got %s", descr(d, c));
	ps->len = 0;
	while (ps->p < ps->end && (ch_class[*ps->p] & CH_KEY)) {
		if (put(ps, (const char *)ps->p, 1) < 0)
			return -1;
		ps->p++;
	}
	c = peek(ps);
	if (c >= 0 && !(ch_class[c] & CH_STOP) && c != '=' && c != ':' && !at_comment(ps))
		return fail(ps, ps->line, "invalid character %s in key \"%s\"", descr(d, c),
		            show(k, ps->buf, ps->len));
	return 0;
}

/* dup_buf - the scratch buffer as a new NUL-terminated string */
static char *
dup_buf(struct parser *ps)
{
	char *s = malloc(ps->len + 1);

	if (s == NULL) {
		fail(ps, ps->line, "out of memory");
		return NULL;
	}
	memcpy(s, ps->buf, ps->len);
	s[ps->len] = '\0';
	return s;
}

/* node_add - append an empty node to a container; the key is taken from the buffer */
static struct conf_node *
node_add(struct parser *ps, struct conf_node *parent, bool with_key)
{
	struct conf_node *n = calloc(1, sizeof(*n));

	if (n == NULL) {
		fail(ps, ps->line, "out of memory");
		return NULL;
	}
	n->type = CONF_OBJECT;
	n->file = ps->file;
	n->line = ps->line;
	n->parent = parent;
	if (parent->last != NULL)
		parent->last->next = n;
	else
		parent->child = n;
	parent->last = n;
	parent->n++;
	if (with_key && (n->key = dup_buf(ps)) == NULL)
		return NULL;
	return n;
}

static int parse_members(struct parser *ps, struct conf_node *obj, int close, unsigned depth);
static int parse_array(struct parser *ps, struct conf_node *arr, unsigned depth);

/* parse_value - fill n with the value at the next byte; depth is n's level as a container */
static int
parse_value(struct parser *ps, struct conf_node *n, unsigned depth)
{
	char d[16];
	int c = peek(ps);

	n->line = ps->line;
	if (c == '{' || c == '[') {
		if (depth > CONF_MAX_DEPTH)
			return fail(ps, ps->line, "nesting deeper than %d levels", CONF_MAX_DEPTH);
		ps->p++;
		if (c == '[') {
			n->type = CONF_ARRAY;
			return parse_array(ps, n, depth);
		}
		n->type = CONF_OBJECT;
		return parse_members(ps, n, '}', depth);
	}
	if (c < 0 || (ch_class[c] & CH_STOP))
		return fail(ps, ps->line, "unexpected %s", descr(d, c));
	n->quoted = c == '"' || c == '\'';
	if ((n->quoted ? read_quoted(ps) : read_atom(ps)) < 0)
		return -1;
	n->type = CONF_STRING;
	n->len = ps->len;
	n->str = dup_buf(ps);
	return n->str != NULL ? 0 : -1;
}

/* named_section - turn the scalar n of "key name {" into key { name { ... } } */
static int
named_section(struct parser *ps, struct conf_node *n, unsigned depth)
{
	struct conf_node *sec;

	if (depth > CONF_MAX_DEPTH)
		return fail(ps, ps->line, "nesting deeper than %d levels", CONF_MAX_DEPTH);
	n->type = CONF_OBJECT;
	n->quoted = false;
	n->len = 0;
	if ((sec = node_add(ps, n, false)) == NULL)
		return -1;
	sec->key = n->str;
	sec->key_line = n->line;
	n->str = NULL;
	return parse_value(ps, sec, depth + 1);
}

/* parse_member - one key and its value, into obj (at level depth) */
static int
parse_member(struct parser *ps, struct conf_node *obj, unsigned depth)
{
	char d[16], k[CONF_SHOW_BUF];
	unsigned key_line = ps->line;
	struct conf_node *n;
	int c;

	if (read_key(ps) < 0 || (n = node_add(ps, obj, true)) == NULL)
		return -1;
	n->key_line = key_line;
	if (skip_ws(ps) < 0)
		return -1;
	c = peek(ps);
	if (c == '=' || c == ':') {
		ps->p++;
		if (skip_ws(ps) < 0)
			return -1;
		c = peek(ps);
		if (c < 0 || (c != '{' && c != '[' && (ch_class[c] & CH_STOP)))
			return fail(ps, ps->line, "expected a value after key \"%s\", got %s",
			            show(k, n->key, strlen(n->key)), descr(d, c));
		return parse_value(ps, n, depth + 1);
	}
	if (c == '{' || c == '[')
		return parse_value(ps, n, depth + 1);
	/* "key value": the value must start on the key's line */
	if (c < 0 || ps->line != key_line || (ch_class[c] & CH_STOP))
		return fail(ps, key_line, "expected '=', ':' or a value after key \"%s\"",
		            show(k, n->key, strlen(n->key)));
	if (parse_value(ps, n, depth + 1) < 0 || skip_ws(ps) < 0)
		return -1;
	if (peek(ps) == '{')
		return named_section(ps, n, depth + 1);
	return 0;
}

/* after_value - a separator, a closer next, or a newline or '}'/']' before */
static int
after_value(struct parser *ps, const struct conf_node *n)
{
	char d[16], v[CONF_SHOW_BUF];
	int c;

	if (skip_ws(ps) < 0)
		return -1;
	c = peek(ps);
	if (c == ';' || c == ',') {
		ps->p++;
		return 0;
	}
	/* a scalar never spans lines, so a line change means a newline was crossed */
	if (c < 0 || c == '}' || c == ']' || n->type != CONF_STRING || ps->line != n->line)
		return 0;
	return fail(ps, ps->line, "expected ';', ',' or a newline after \"%s\", got %s",
	            show(v, n->str, n->len), descr(d, c));
}

/* parse_members - members up to close ('}', or -1: the end of the implicit top level) */
static int
parse_members(struct parser *ps, struct conf_node *obj, int close, unsigned depth)
{
	char d[16];

	for (;;) {
		int c;

		if (skip_ws(ps) < 0)
			return -1;
		c = peek(ps);
		if (c == close) {
			ps->p += c >= 0;
			return 0;
		}
		if (c < 0)
			return fail(ps, obj->line, "unterminated object: '{' is never closed");
		if (ch_class[c] & CH_STOP)
			return fail(ps, ps->line, "unexpected %s", descr(d, c));
		if (parse_member(ps, obj, depth) < 0 || after_value(ps, obj->last) < 0)
			return -1;
	}
}

/* parse_array - elements up to ']' */
static int
parse_array(struct parser *ps, struct conf_node *arr, unsigned depth)
{
	struct conf_node *n;

	for (;;) {
		if (skip_ws(ps) < 0)
			return -1;
		if (peek(ps) == ']') {
			ps->p++;
			return 0;
		}
		if (peek(ps) < 0)
			return fail(ps, arr->line, "unterminated array: '[' is never closed");
		if ((n = node_add(ps, arr, false)) == NULL || parse_value(ps, n, depth + 1) < 0 ||
		    after_value(ps, n) < 0)
			return -1;
	}
}

/* parse_document - the implicit top-level object, or one braced object */
static int
parse_document(struct parser *ps, struct conf_node *root)
{
	char d[16];

	if (ps->end - ps->p >= 3 && memcmp(ps->p, "\xef\xbb\xbf", 3) == 0)
		ps->p += 3; /* a UTF-8 byte order mark */
	if (skip_ws(ps) < 0)
		return -1;
	if (peek(ps) != '{')
		return parse_members(ps, root, -1, 1);
	root->line = ps->line;
	ps->p++;
	if (parse_members(ps, root, '}', 1) < 0 || skip_ws(ps) < 0)
		return -1;
	if (ps->p < ps->end)
		return fail(ps, ps->line, "unexpected %s after the top-level object",
		            descr(d, *ps->p));
	return 0;
}

/* free_node - a node and everything below it (depth is bounded by the parser) */
static void
free_node(struct conf_node *n)
{
	while (n != NULL) {
		struct conf_node *next = n->next;

		free_node(n->child);
		free(n->key);
		free(n->str);
		free(n);
		n = next;
	}
}

/* conf_free - the document and all its nodes */
void
conf_free(struct conf_doc *doc)
{
	if (doc == NULL)
		return;
	free_node(doc->root);
	free(doc->file);
	free(doc);
}

/* conf_parse - text to a document, or NULL and one error */
struct conf_doc *
conf_parse(const char *file, const char *text, size_t len, struct pol_errs *errs)
{
	struct parser ps = {.line = 1, .errs = errs};
	struct conf_doc *doc = calloc(1, sizeof(*doc));
	const char *nul;

	if (text == NULL)
		text = "";
	if (doc != NULL) {
		doc->file = strdup(file != NULL ? file : "-");
		doc->root = calloc(1, sizeof(*doc->root));
	}
	ps.buf = malloc(CONF_MAX_STRING);
	if (doc == NULL || doc->file == NULL || doc->root == NULL || ps.buf == NULL) {
		pol_errs_add(errs, file, 0, "out of memory");
		free(ps.buf);
		conf_free(doc);
		return NULL;
	}
	ps.file = doc->file;
	ps.p = (const unsigned char *)text;
	ps.end = ps.p + len;
	doc->root->type = CONF_OBJECT;
	doc->root->file = doc->file;
	doc->root->line = 1;
	if ((nul = memchr(text, '\0', len)) != NULL) {
		for (const char *s = text; s < nul; s++)
			ps.line += *s == '\n';
		fail(&ps, ps.line, "NUL byte in input");
	} else {
		parse_document(&ps, doc->root);
	}
	free(ps.buf);
	if (ps.failed) {
		conf_free(doc);
		return NULL;
	}
	return doc;
}

/* conf_parse_file - a whole file to a document; the path is the name in errors */
struct conf_doc *
conf_parse_file(const char *path, struct pol_errs *errs)
{
	struct conf_doc *doc;
	char *text = NULL, *t;
	size_t len = 0, size = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		pol_errs_add(errs, path, 0, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (size - len < CONF_READ_CHUNK) {
			if (size >= CONF_FILE_MAX) {
				errno = EFBIG;
				break;
			}
			if ((t = realloc(text, size + CONF_READ_CHUNK)) == NULL) {
				errno = ENOMEM;
				break;
			}
			text = t;
			size += CONF_READ_CHUNK;
		}
		r = read(fd, text + len, size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			break;
		}
		len += (size_t)r;
	}
	if (errno != 0) {
		pol_errs_add(errs, path, 0, "cannot read %s: %s", path, strerror(errno));
		close(fd);
		free(text);
		return NULL;
	}
	close(fd);
	doc = conf_parse(path, text, len, errs);
	free(text);
	return doc;
}

/* conf_get - first member with that key, caseless */
struct conf_node *
conf_get(const struct conf_node *obj, const char *key)
{
	if (obj == NULL || obj->type != CONF_OBJECT || key == NULL)
		return NULL;
	for (struct conf_node *c = obj->child; c != NULL; c = c->next)
		if (c->key != NULL && strcasecmp(c->key, key) == 0)
			return c;
	return NULL;
}

/* in_list - whether key is one of names (caseless) */
static bool
in_list(const char *key, const char *const *names)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++)
		if (strcasecmp(key, names[i]) == 0)
			return true;
	return false;
}

void
conf_check_keys(const struct conf_node *obj, const char *where, const char *const *names,
                const char *const *repeatable, struct pol_errs *errs)
{
	char k[CONF_SHOW_BUF];

	if (obj == NULL || obj->type != CONF_OBJECT)
		return;
	for (const struct conf_node *c = obj->child; c != NULL; c = c->next) {
		show(k, c->key, strlen(c->key));
		if (!in_list(c->key, names))
			pol_errs_add(errs, c->file, c->key_line, "unknown key \"%s\"%s%s", k,
			             where ? " in " : "", where ? where : "");
		else if (!in_list(c->key, repeatable) && conf_get(obj, c->key) != c)
			pol_errs_add(errs, c->file, c->key_line, "duplicate key \"%s\"%s%s", k,
			             where ? " in " : "", where ? where : "");
	}
}

/* key_of - the node's key as messages show it, "value" for array elements */
static const char *
key_of(char out[CONF_SHOW_BUF], const struct conf_node *n)
{
	const char *key = "value";

	/* an array element is named by its array's key: "ports: ..." */
	for (; n != NULL; n = n->parent) {
		if (n->key != NULL) {
			key = n->key;
			break;
		}
	}

	return show(out, key, strlen(key));
}

/* expected - report that n is not what was expected ("KEY: expected WHAT, got ...") */
static int
expected(const struct conf_node *n, const char *what, struct pol_errs *errs)
{
	char k[CONF_SHOW_BUF], v[CONF_SHOW_BUF];
	key_of(k, n);
	if (n->type == CONF_STRING)
		pol_errs_add(errs, n->file, n->line, "%s: expected %s, got \"%s\"", k, what,
		             show(v, n->str, n->len));
	else
		pol_errs_add(errs, n->file, n->line, "%s: expected %s, got %s", k, what,
		             n->type == CONF_ARRAY ? "an array" : "an object");
	return -1;
}

static const struct {
	const char *word;
	bool value;
} bool_words[] = {
        {"true", true},   {"yes", true}, {"on", true},
        {"false", false}, {"no", false}, {"off", false},
};

/* conf_bool - true/yes/on or false/no/off, caseless */
int
conf_bool(const struct conf_node *n, bool *out, struct pol_errs *errs)
{
	if (n->type == CONF_STRING)
		for (size_t i = 0; i < ARRAY_SIZE(bool_words); i++)
			if (strcasecmp(n->str, bool_words[i].word) == 0) {
				*out = bool_words[i].value;
				return 0;
			}
	return expected(n, "true or false", errs);
}

struct unit {
	const char *suffix; /* caseless; "" for a bare number */
	uint64_t mult;
};

static const struct unit size_units[] = {
        {"", 1},      {"k", 1000},     {"m", 1000000},     {"g", 1000000000},
        {"kb", 1024}, {"mb", 1048576}, {"gb", 1073741824},
};

static const struct unit time_units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000},
};

/* scaled - decimal digits and one of the units: 0, -1 not that syntax, -2 too large */
static int
scaled(const char *s, const struct unit *units, size_t nunits, uint64_t *out)
{
	uint64_t v = 0;
	bool over = false;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	if (p == s)
		return -1;
	for (size_t i = 0; i < nunits; i++) {
		if (strcasecmp(p, units[i].suffix) != 0)
			continue;
		if (over || v > UINT64_MAX / units[i].mult)
			return -2;
		*out = v * units[i].mult;
		return 0;
	}
	return -1;
}

/* conf_uint - a count or size within [min, max] */
int
conf_uint(const struct conf_node *n, uint64_t min, uint64_t max, uint64_t *out,
          struct pol_errs *errs)
{
	char k[CONF_SHOW_BUF], v[CONF_SHOW_BUF];
	uint64_t x = 0;
	int r = n->type == CONF_STRING ? scaled(n->str, size_units, ARRAY_SIZE(size_units), &x)
	                               : -1;

	if (r == -1)
		return expected(n, "a number", errs);
	if (r == 0 && x >= min && x <= max) {
		*out = x;
		return 0;
	}
	key_of(k, n);
	show(v, n->str, n->len);
	if (r == 0 && strspn(n->str, "0123456789") != n->len)
		pol_errs_add(errs, n->file, n->line,
		             "%s: %s (%" PRIu64 ") is out of range %" PRIu64 "..%" PRIu64, k, v, x,
		             min, max);
	else
		pol_errs_add(errs, n->file, n->line, "%s: %s is out of range %" PRIu64 "..%" PRIu64,
		             k, v, min, max);
	return -1;
}

/* conf_msec - a duration in milliseconds */
int
conf_msec(const struct conf_node *n, uint64_t *out, struct pol_errs *errs)
{
	char k[CONF_SHOW_BUF], v[CONF_SHOW_BUF];
	int r = n->type == CONF_STRING ? scaled(n->str, time_units, ARRAY_SIZE(time_units), out)
	                               : -1;

	if (r == 0)
		return 0;
	if (r == -1)
		return expected(n, "a duration (a number with ms, s, min, h or d)", errs);
	pol_errs_add(errs, n->file, n->line, "%s: %s is too large", key_of(k, n),
	             show(v, n->str, n->len));
	return -1;
}

/* conf_str - the text of a scalar */
int
conf_str(const struct conf_node *n, const char **out, struct pol_errs *errs)
{
	if (n->type != CONF_STRING)
		return expected(n, "a string", errs);
	*out = n->str;
	return 0;
}
