/* test_conf - the UCL/JSON configuration parser and its scalar readers
 *
 * Valid documents are compared with a canonical dump of the tree (types,
 * quoting, lines); invalid ones with the line and part of the message of the
 * error. Every valid document is then cut at every length and mutated at
 * random (fixed seed): the parser must return a tree or NULL with one error,
 * never crash, leak or read out of bounds (the test runs under ASan/UBSan).
 */
#include "conf.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

#define DUMP_MAX 16384

/* The dump under construction; it stops growing (and says so) when full. */
struct dump {
	char s[DUMP_MAX];
	size_t n;
};

/* dump_put - append text, cutting at the end of the buffer */
static void
dump_put(struct dump *d, const char *s, size_t len)
{
	for (size_t i = 0; i < len && d->n + 1 < DUMP_MAX; i++)
		d->s[d->n++] = s[i];
	d->s[d->n] = '\0';
}

/* dump_text - a key or string, with \ " and non-printable bytes escaped */
static void
dump_text(struct dump *d, const char *s, size_t len)
{
	char x[8];

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			snprintf(x, sizeof(x), "\\%c", c);
			dump_put(d, x, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			snprintf(x, sizeof(x), "\\x%02x", c);
			dump_put(d, x, 4);
		} else {
			dump_put(d, (const char *)&c, 1);
		}
	}
}

/* dump_line - "@N" */
static void
dump_line(struct dump *d, unsigned line)
{
	char x[16];

	dump_put(d, x, (size_t)snprintf(x, sizeof(x), "@%u", line));
}

/* dump_node - a value: "str"@L, "str"q@L, {k=v,k@KL=v}@L or [v,v]@L */
static void
dump_node(struct dump *d, const struct conf_node *n)
{
	if (n->type == CONF_STRING) {
		dump_put(d, "\"", 1);
		dump_text(d, n->str, n->len);
		dump_put(d, n->quoted ? "\"q" : "\"", n->quoted ? 2 : 1);
		dump_line(d, n->line);
		return;
	}
	dump_put(d, n->type == CONF_OBJECT ? "{" : "[", 1);
	for (const struct conf_node *c = n->child; c != NULL; c = c->next) {
		if (c != n->child)
			dump_put(d, ",", 1);
		if (n->type == CONF_OBJECT) {
			dump_text(d, c->key, strlen(c->key));
			if (c->key_line != c->line)
				dump_line(d, c->key_line);
			dump_put(d, "=", 1);
		}
		dump_node(d, c);
	}
	dump_put(d, n->type == CONF_OBJECT ? "}" : "]", 1);
	dump_line(d, n->line);
}

/* check_tree - the invariants every parsed tree keeps; 0 when they hold */
static int
check_tree(const struct conf_doc *doc, const struct conf_node *n, unsigned depth)
{
	size_t count = 0;
	const struct conf_node *last = NULL;

	if (depth > CONF_MAX_DEPTH || n->file != doc->file || n->line == 0)
		return -1;
	if (n->type == CONF_STRING)
		return n->str != NULL && strlen(n->str) == n->len && n->child == NULL ? 0 : -1;
	if ((n->type != CONF_OBJECT && n->type != CONF_ARRAY) || n->str != NULL)
		return -1;
	for (const struct conf_node *c = n->child; c != NULL; c = c->next) {
		if ((n->type == CONF_OBJECT) != (c->key != NULL))
			return -1;
		if (c->key != NULL && c->key_line == 0)
			return -1;
		if (check_tree(doc, c, depth + 1) < 0)
			return -1;
		count++;
		last = c;
	}
	return count == n->n && last == n->last ? 0 : -1;
}

/* parse - conf_parse on an exact-size heap copy, so that ASan sees over-reads */
static struct conf_doc *
parse(const char *text, size_t len, struct pol_errs *errs)
{
	char *copy = malloc(len > 0 ? len : 1);
	struct conf_doc *doc;

	memcpy(copy, text, len);
	doc = conf_parse("t.conf", copy, len, errs);
	free(copy);
	return doc;
}

struct valid_case {
	const char *name;
	const char *text;
	const char *dump; /* of the root */
};

static const struct valid_case valid[] = {
        {"empty document", "", "{}@1"},
        {"only blanks and comments", " \t\n# a\n// b\n/* c */\n", "{}@1"},
        {"= : and no separator", "a = 1\nb : two\nc three\n",
         "{a=\"1\"@1,b=\"two\"@2,c=\"three\"@3}@1"},
        {"no blanks around = and :", "a=1\nb:2", "{a=\"1\"@1,b=\"2\"@2}@1"},
        {"separators ; , newline", "a=1;b=2,c=3\nd=4;\n",
         "{a=\"1\"@1,b=\"2\"@1,c=\"3\"@1,d=\"4\"@2}@1"},
        {"json object",
         "{\"a\": 1, \"b\": [true, false, null], \"c\": {\"d\": \"e\"}, \"f\": -1.5e3}",
         "{a=\"1\"@1,b=[\"true\"@1,\"false\"@1,\"null\"@1]@1,c={d=\"e\"q@1}@1,f=\"-1.5e3\"@1}@1"},
        {"json object on lines, comment after", "\n{\n  \"a\": 1,\n  \"b\": \"x\"\n}\n# end\n",
         "{a=\"1\"@3,b=\"x\"q@4}@2"},
        {"top-level braces, trailing separator", "{a=1;}", "{a=\"1\"@1}@1"},
        {"sections", "s {\n a = 1\n}\nt [\n x\n y\n]\n",
         "{s={a=\"1\"@2}@1,t=[\"x\"@5,\"y\"@6]@4}@1"},
        {"brace on the next line", "s\n{\n a = 1 }\n", "{s@1={a=\"1\"@3}@2}@1"},
        {"named sections",
         "service smtp {\n port = 25\n}\nservice \"sub mission\" { port = 587 }\nx 'y' {}\n",
         "{service={smtp={port=\"25\"@2}@1}@1,service={sub mission={port=\"587\"@4}@4}@4,"
         "x={y={}@5}@5}@1"},
        {"named section, brace on the next line", "backend b1\n{\n a = 1\n}\n",
         "{backend={b1@1={a=\"1\"@3}@2}@1}@1"},
        {"nested arrays and objects", "a = [[1, [2]], {b = [], c = {}}, []]",
         "{a=[[\"1\"@1,[\"2\"@1]@1]@1,{b=[]@1,c={}@1}@1,[]@1]@1}@1"},
        {"objects in an array, no separators", "a [\n {x=1}\n {y=2} {z=3}\n]",
         "{a=[{x=\"1\"@2}@2,{y=\"2\"@3}@3,{z=\"3\"@3}@3]@1}@1"},
        {"trailing separators", "a = [1, 2, ]\nb = {c=1;}\nd = [x;y;]\ne = [\n1\n2\n]",
         "{a=[\"1\"@1,\"2\"@1]@1,b={c=\"1\"@2}@2,d=[\"x\"@3,\"y\"@3]@3,"
         "e=[\"1\"@5,\"2\"@6]@4}@1"},
        {"no separator after } or ]", "a { } b [ ] c = 1; d {x=1} e = [2]",
         "{a={}@1,b=[]@1,c=\"1\"@1,d={x=\"1\"@1}@1,e=[\"2\"@1]@1}@1"},
        {"comments",
         "a = 1 # c\nb = 2 // d\nc = /* x /* nested */ y */ 3\n/* multi\nline */ d = 4\n"
         "e = \"# not // a /* comment\"\nf = http://x#y\ng = 'it /* is */ text'\n",
         "{a=\"1\"@1,b=\"2\"@2,c=\"3\"@3,d=\"4\"@5,e=\"# not // a /* comment\"q@6,"
         "f=\"http://x#y\"@7,g=\"it /* is */ text\"q@8}@1"},
        {"comment between key and value", "a /* c */ = # c\n 1\nb // c\n{}",
         "{a@1=\"1\"@2,b@3={}@4}@1"},
        {"block comment across lines separates", "a = 1 /*\n*/ b = 2", "{a=\"1\"@1,b=\"2\"@2}@1"},
        {"json escapes", "a = \"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"",
         "{a=\"q\\\" b\\\\ s/ \\x08\\x0c\\x0a\\x0d\\x09\"q@1}@1"},
        {"unicode escapes and surrogate pairs",
         "a = \"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\u001b\"",
         "{a=\"A\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80\\x1b\"q@1}@1"},
        {"single quotes", "a = 'it\\'s \\\\ \\n \"x\"'\nb = 'c:\\dir'",
         "{a=\"it's \\\\ \\\\n \\\"x\\\"\"q@1,b=\"c:\\\\dir\"q@2}@1"},
        {"raw utf-8 and tab in strings", "a = \"\xc3\xa9\tx\"\nb = \xc3\xa9t\xc3\xa9",
         "{a=\"\\xc3\\xa9\\x09x\"q@1,b=\"\\xc3\\xa9t\\xc3\\xa9\"@2}@1"},
        {"unquoted atoms",
         "net = 192.0.2.0/24\nmail = user@example.com\nwild = *.dyn.example\n"
         "list = file:lists/bl.txt\nsize = 50mb\nflag = true\nv6 = 2001:db8::/32\n"
         "null = <>\neq = a=b\nurl = http://x/y\n",
         "{net=\"192.0.2.0/24\"@1,mail=\"user@example.com\"@2,wild=\"*.dyn.example\"@3,"
         "list=\"file:lists/bl.txt\"@4,size=\"50mb\"@5,flag=\"true\"@6,v6=\"2001:db8::/32\"@7,"
         "null=\"<>\"@8,eq=\"a=b\"@9,url=\"http://x/y\"@10}@1"},
        {"atoms in an array", "a = [192.0.2.0/24, 2001:db8::/32, <>, *.x]",
         "{a=[\"192.0.2.0/24\"@1,\"2001:db8::/32\"@1,\"<>\"@1,\"*.x\"@1]@1}@1"},
        {"duplicate keys kept in order", "a = 1\nA = 2\na = 3",
         "{a=\"1\"@1,A=\"2\"@2,a=\"3\"@3}@1"},
        {"crlf line endings", "a = 1\r\nb {\r\n c = \"x\"\r\n}\r\nd = [1,\r\n2]\r\n",
         "{a=\"1\"@1,b={c=\"x\"q@3}@2,d=[\"1\"@5,\"2\"@6]@5}@1"},
        {"quoted keys", "\"a b\" = 1; 'c' = 2\n\"\" = 3\n\"\\u00e9\" = 4",
         "{a b=\"1\"@1,c=\"2\"@1,=\"3\"@2,\\xc3\\xa9=\"4\"@3}@1"},
        {"key charset", "a.b-c_9 = x\n-.- = y", "{a.b-c_9=\"x\"@1,-.-=\"y\"@2}@1"},
        {"value on the line after =", "a =\n  1\nb:\n[]", "{a@1=\"1\"@2,b@3=[]@4}@1"},
        {"empty strings", "a = \"\"\nb = ''", "{a=\"\"q@1,b=\"\"q@2}@1"},
        {"byte order mark",
         "\xef\xbb\xbf"
         "a = 1",
         "{a=\"1\"@1}@1"},
        {"tabs", "\ta\t=\t1\t;\tb\t2", "{a=\"1\"@1,b=\"2\"@1}@1"},
        {"empty object and array values", "a = {}\nb = []\nc {}\nd []",
         "{a={}@1,b=[]@2,c={}@3,d=[]@4}@1"},
};

struct invalid_case {
	const char *name;
	const char *text;
	size_t len; /* 0: strlen(text) */
	unsigned line;
	const char *msg; /* a part of the message */
};

static const struct invalid_case invalid[] = {
        {"unterminated string", "a = 1\nb = \"abc", 0, 2, "unterminated string"},
        {"unterminated single-quoted string", "a = 'abc", 0, 1, "unterminated string"},
        {"backslash at the end", "a = \"abc\\", 0, 1, "unterminated string"},
        {"newline in a string", "a = 1\nb = \"x\ny\"", 0, 2, "newline in string"},
        {"newline in a single-quoted string", "a = 'x\ny'", 0, 1, "newline in string"},
        {"control character in a string", "\na = \"x\x01\"", 0, 2,
         "control character 0x01 in string"},
        {"carriage return in a string", "a = 'x\ry'", 0, 1, "control character 0x0d in string"},
        {"bad escape", "a = \"\\q\"", 0, 1, "invalid escape \\q in string"},
        {"bad escape, non-printable", "a = \"\\\x01\"", 0, 1, "followed by byte 0x01"},
        {"short \\u", "a = \"\\u12\"", 0, 1, "expected 4 hex digits"},
        {"\\u at the end", "a = \"\\u12", 0, 1, "expected 4 hex digits"},
        {"\\u not hex", "a = \"\\u12g4\"", 0, 1, "expected 4 hex digits"},
        {"lone high surrogate", "a = \"\\ud800\"", 0, 1, "unpaired surrogate \\uD800"},
        {"high surrogate and a letter", "a = \"\\ud800\\u0041\"", 0, 1, "unpaired surrogate"},
        {"lone low surrogate", "a = \"\\udc00x\"", 0, 1, "unpaired surrogate \\uDC00"},
        {"\\u0000", "a = \"\\u0000\"", 0, 1, "\\u0000 is not allowed"},
        {"unterminated comment", "a = 1\n/* x /* y */\nb = 2", 0, 2, "unterminated comment"},
        {"unterminated comment after a key", "a /* b = 2", 0, 1, "unterminated comment"},
        {"unexpected }", "a = 1\n}", 0, 2, "unexpected '}'"},
        {"unexpected ]", "a = {b = 1]", 0, 1, "unexpected ']'"},
        {"} in an array", "a = [1}", 0, 1, "unexpected '}'"},
        {"unterminated array", "a = [1,\n 2", 0, 1, "unterminated array"},
        {"unterminated object", "a {\n b = 1\n", 0, 1, "unterminated object"},
        {"unterminated top-level object", "\n{a=1", 0, 2, "unterminated object"},
        {"key alone on its line", "a\nb = 1", 0, 1, "expected '=', ':' or a value after key \"a\""},
        {"key then ;", "x = 1\nabc;", 0, 2, "expected '=', ':' or a value after key \"abc\""},
        {"key at the end", "a = 1; b", 0, 1, "expected '=', ':' or a value after key \"b\""},
        {"= then ;", "a = ;", 0, 1, "expected a value after key \"a\", got ';'"},
        {"= at the end", "a =", 0, 1, "expected a value after key \"a\", got end of input"},
        {"= then }", "s { a = }", 0, 1, "expected a value after key \"a\""},
        {"two values", "a = 1 2", 0, 1, "expected ';', ',' or a newline after \"1\", got '2'"},
        {"two values in an array", "a = [1 2]", 0, 1, "expected ';', ',' or a newline after \"1\""},
        {"three words", "a b c", 0, 1, "expected ';', ',' or a newline after \"b\""},
        {"two strings", "a = \"x\" 'y'", 0, 1, "after \"x\""},
        {"value then [", "a = 1 [2]", 0, 1, "after \"1\", got '['"},
        {"= value {", "a = b {}", 0, 1, "after \"b\", got '{'"},
        {"double separator", "a = 1;;", 0, 1, "unexpected ';'"},
        {"leading separator", "{,a=1}", 0, 1, "unexpected ','"},
        {"empty array element", "a = [1,,2]", 0, 1, "unexpected ','"},
        {"top-level array", "[1]", 0, 1, "unexpected '['"},
        {"text after the top-level object", "{a=1}\n\nb", 0, 3,
         "unexpected 'b' after the top-level object"},
        {"second top-level object", "{a=1}{b=2}", 0, 1, "after the top-level object"},
        {"NUL byte", "a = x\0y", 7, 1, "NUL byte in input"},
        {"NUL byte on line 3", "a = 1\n\nb\0", 9, 3, "NUL byte in input"},
        {"NUL byte in a comment", "# \0", 3, 1, "NUL byte in input"},
        {"bad key character", "ab@c = 1", 0, 1, "invalid character '@' in key \"ab\""},
        {"key and quote", "a\"b\" = 1", 0, 1, "invalid character '\"' in key \"a\""},
        {"no key", "= 1", 0, 1, "expected a key, got '='"},
        {"non-ascii key", "\xc3\xa9 = 1", 0, 1, "expected a key, got byte 0xc3"},
        {"control character in an atom",
         "a = b\x01"
         "c",
         0, 1, "unexpected control character 0x01"},
        {"control character as a key", "\n\x7f", 0, 2, "expected a key, got byte 0x7f"},
        {"form feed", "a = 1\f", 0, 1, "unexpected control character 0x0c"},
};

/* test_valid - each valid document gives its dump */
static void
test_valid(void)
{
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		struct pol_errs errs = {0};
		struct dump d = {.n = 0};
		struct conf_doc *doc = parse(valid[i].text, strlen(valid[i].text), &errs);

		if (doc != NULL)
			dump_node(&d, doc->root);
		if (!ok(doc != NULL && errs.total == 0 && check_tree(doc, doc->root, 1) == 0,
		        "valid: %s", valid[i].name))
			pol_errs_print(&errs, stdout);
		is_str(d.s, valid[i].dump, "valid: %s: dump", valid[i].name);
		conf_free(doc);
		pol_errs_free(&errs);
	}
}

/* test_invalid - each invalid document gives NULL and one error, at its line */
static void
test_invalid(void)
{
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		const struct invalid_case *c = &invalid[i];
		struct pol_errs errs = {0};
		size_t len = c->len != 0 ? c->len : strlen(c->text);
		struct conf_doc *doc = parse(c->text, len, &errs);
		const char *msg = errs.n > 0 ? errs.v[0].msg : "";

		ok(doc == NULL && errs.total == 1, "invalid: %s: NULL and one error", c->name);
		is_int(errs.n > 0 ? errs.v[0].line : 0, c->line, "invalid: %s: line", c->name);
		if (!ok(strstr(msg, c->msg) != NULL, "invalid: %s: message", c->name))
			printf("#   got \"%s\"\n#   want \"%s\"\n", msg, c->msg);
		is_str(errs.n > 0 ? errs.v[0].file : NULL, "t.conf", "invalid: %s: file", c->name);
		conf_free(doc);
		pol_errs_free(&errs);
	}
}

/* parse_repeat - parse prefix, count x middle, suffix, count x tail; the error count
 * (999 when a tree came with errors or NULL without), the message in msg */
static size_t
parse_repeat(const char *prefix, const char *middle, size_t count, const char *tail,
             const char *suffix, char *msg, size_t msg_size)
{
	size_t lp = strlen(prefix), lm = strlen(middle), lt = strlen(tail), ls = strlen(suffix);
	char *text = malloc(lp + count * (lm + lt) + ls + 1), *e;
	struct pol_errs errs = {0};
	struct conf_doc *doc;
	size_t n;

	e = mempcpy(text, prefix, lp);
	for (size_t i = 0; i < count; i++)
		e = mempcpy(e, middle, lm);
	e = mempcpy(e, suffix, ls);
	for (size_t i = 0; i < count; i++)
		e = mempcpy(e, tail, lt);
	doc = parse(text, (size_t)(e - text), &errs);
	snprintf(msg, msg_size, "%s", errs.n > 0 ? errs.v[0].msg : "");
	n = errs.total;
	if ((doc == NULL) != (n > 0))
		n = 999;
	conf_free(doc);
	pol_errs_free(&errs);
	free(text);
	return n;
}

/* test_limits - nesting depth and string length at and past the limits */
static void
test_limits(void)
{
	char msg[256];
	const char *deep = "nesting deeper than 32 levels";

	/* the top level is level 1, so 31 more levels fit */
	is_int(parse_repeat("", "a{", 31, "}", "", msg, sizeof(msg)), 0, "limit: 32 levels of a{");
	is_int(parse_repeat("", "a{", 32, "}", "", msg, sizeof(msg)), 1, "limit: 33 levels of a{");
	is_str(msg, deep, "limit: 33 levels: message");
	is_int(parse_repeat("", "{\"a\":", 32, "}", "1", msg, sizeof(msg)), 0,
	       "limit: 32 levels of json");
	is_int(parse_repeat("", "{\"a\":", 33, "}", "1", msg, sizeof(msg)), 1,
	       "limit: 33 levels of json");
	is_int(parse_repeat("a = ", "[", 31, "]", "", msg, sizeof(msg)), 0, "limit: 31 arrays");
	is_int(parse_repeat("a = ", "[", 32, "]", "", msg, sizeof(msg)), 1, "limit: 32 arrays");
	is_int(parse_repeat("", "x{", 29, "}", "s n {}", msg, sizeof(msg)), 0,
	       "limit: named section's inner object at level 32");
	is_int(parse_repeat("", "x{", 30, "}", "s n {}", msg, sizeof(msg)), 1,
	       "limit: named section's inner object at level 33");
	is_int(parse_repeat("", "x{", 31, "}", "s n {}", msg, sizeof(msg)), 1,
	       "limit: named section at level 33");
	is_str(msg, deep, "limit: named section at level 33: message");
	is_int(parse_repeat("a = ", "[", 1000000, "", "", msg, sizeof(msg)), 1,
	       "limit: a million [ give one error, no stack overflow");
	is_str(msg, deep, "limit: a million [: message");
	is_int(parse_repeat("", "/*", 100000, "*/", "", msg, sizeof(msg)), 0,
	       "limit: 100000 nested comments");

	is_int(parse_repeat("a = \"", "x", CONF_MAX_STRING, "", "\"", msg, sizeof(msg)), 0,
	       "limit: quoted string of CONF_MAX_STRING bytes");
	is_int(parse_repeat("a = \"", "x", CONF_MAX_STRING + 1, "", "\"", msg, sizeof(msg)), 1,
	       "limit: quoted string of CONF_MAX_STRING + 1 bytes");
	is_str(msg, "string longer than 65536 bytes", "limit: long string: message");
	is_int(parse_repeat("a = \"", "\\u20ac", CONF_MAX_STRING / 3, "", "\"", msg, sizeof(msg)),
	       0, "limit: 3-byte characters up to the limit");
	is_int(parse_repeat("a = \"x", "\\u20ac", CONF_MAX_STRING / 3, "", "\"", msg, sizeof(msg)),
	       0, "limit: 3-byte characters to exactly the limit");
	is_int(parse_repeat("a = \"xx", "\\u20ac", CONF_MAX_STRING / 3, "", "\"", msg, sizeof(msg)),
	       1, "limit: 3-byte character across the limit");
	is_int(parse_repeat("a = ", "x", CONF_MAX_STRING, "", "", msg, sizeof(msg)), 0,
	       "limit: atom of CONF_MAX_STRING bytes");
	is_int(parse_repeat("a = ", "x", CONF_MAX_STRING + 1, "", "", msg, sizeof(msg)), 1,
	       "limit: atom of CONF_MAX_STRING + 1 bytes");
	is_int(parse_repeat("", "k", CONF_MAX_STRING, "", " = 1", msg, sizeof(msg)), 0,
	       "limit: key of CONF_MAX_STRING bytes");
	is_int(parse_repeat("", "k", CONF_MAX_STRING + 1, "", " = 1", msg, sizeof(msg)), 1,
	       "limit: key of CONF_MAX_STRING + 1 bytes");
	is_int(parse_repeat("'", "k", CONF_MAX_STRING + 1, "", "' = 1", msg, sizeof(msg)), 1,
	       "limit: quoted key of CONF_MAX_STRING + 1 bytes");
}

enum reader { R_BOOL, R_UINT, R_MSEC, R_STR };

struct scalar_case {
	enum reader fn;
	const char *text; /* the document, whose member k (or k's first element) is read */
	uint64_t min, max;
	int ret;
	uint64_t want;   /* the value, when ret is 0 (bool: 0 or 1) */
	const char *msg; /* the whole message, when ret is -1 */
};

#define U64 UINT64_MAX

static const struct scalar_case scalars[] = {
        {R_BOOL, "k = true", 0, 0, 0, 1, NULL},
        {R_BOOL, "k = TRUE", 0, 0, 0, 1, NULL},
        {R_BOOL, "k = Yes", 0, 0, 0, 1, NULL},
        {R_BOOL, "k = on", 0, 0, 0, 1, NULL},
        {R_BOOL, "k = \"off\"", 0, 0, 0, 0, NULL},
        {R_BOOL, "k = no", 0, 0, 0, 0, NULL},
        {R_BOOL, "k = False", 0, 0, 0, 0, NULL},
        {R_BOOL, "k = 1", 0, 0, -1, 0, "k: expected true or false, got \"1\""},
        {R_BOOL, "k = \"\"", 0, 0, -1, 0, "k: expected true or false, got \"\""},
        {R_BOOL, "k = truex", 0, 0, -1, 0, "k: expected true or false, got \"truex\""},
        {R_BOOL, "k {}", 0, 0, -1, 0, "k: expected true or false, got an object"},
        {R_BOOL, "k = [maybe]", 0, 0, -1, 0, "k: expected true or false, got \"maybe\""},
        {R_UINT, "k = 0", 0, 10, 0, 0, NULL},
        {R_UINT, "k = 65535", 1, 65535, 0, 65535, NULL},
        {R_UINT, "k = 007", 1, 65535, 0, 7, NULL},
        {R_UINT, "k = 70000", 1, 65535, -1, 0, "k: 70000 is out of range 1..65535"},
        {R_UINT, "k = 0", 1, 65535, -1, 0, "k: 0 is out of range 1..65535"},
        {R_UINT, "k = 70k", 1, 65535, -1, 0, "k: 70k (70000) is out of range 1..65535"},
        {R_UINT, "k = 10k", 0, U64, 0, 10000, NULL},
        {R_UINT, "k = 10K", 0, U64, 0, 10000, NULL},
        {R_UINT, "k = 2m", 0, U64, 0, 2000000, NULL},
        {R_UINT, "k = 3g", 0, U64, 0, 3000000000ull, NULL},
        {R_UINT, "k = 1kb", 0, U64, 0, 1024, NULL},
        {R_UINT, "k = \"2MB\"", 0, U64, 0, 2097152, NULL},
        {R_UINT, "k = 50mb", 0, U64, 0, 52428800, NULL},
        {R_UINT, "k = 1Gb", 0, U64, 0, 1073741824, NULL},
        {R_UINT, "k = 18446744073709551615", 0, U64, 0, U64, NULL},
        {R_UINT, "k = 18446744073709551616", 0, U64, -1, 0,
         "k: 18446744073709551616 is out of range 0..18446744073709551615"},
        {R_UINT, "k = 99999999999999999999999", 1, 10, -1, 0,
         "k: 99999999999999999999999 is out of range 1..10"},
        {R_UINT, "k = 18014398509481984kb", 0, U64, -1, 0,
         "k: 18014398509481984kb is out of range 0..18446744073709551615"},
        {R_UINT, "k = 18014398509481983kb", 0, U64, 0, 18014398509481983ull * 1024, NULL},
        {R_UINT, "k = 99999999999999999999999x", 0, U64, -1, 0,
         "k: expected a number, got \"99999999999999999999999x\""},
        {R_UINT, "k = abc", 0, U64, -1, 0, "k: expected a number, got \"abc\""},
        {R_UINT, "k = \"\"", 0, U64, -1, 0, "k: expected a number, got \"\""},
        {R_UINT, "k = -1", 0, U64, -1, 0, "k: expected a number, got \"-1\""},
        {R_UINT, "k = +1", 0, U64, -1, 0, "k: expected a number, got \"+1\""},
        {R_UINT, "k = 1.5", 0, U64, -1, 0, "k: expected a number, got \"1.5\""},
        {R_UINT, "k = \" 1\"", 0, U64, -1, 0, "k: expected a number, got \" 1\""},
        {R_UINT, "k = \"1 kb\"", 0, U64, -1, 0, "k: expected a number, got \"1 kb\""},
        {R_UINT, "k = 1kib", 0, U64, -1, 0, "k: expected a number, got \"1kib\""},
        {R_UINT, "k = k", 0, U64, -1, 0, "k: expected a number, got \"k\""},
        {R_UINT, "k = [1]", 0, U64, 0, 1, NULL},
        {R_UINT, "k = [[1]]", 0, U64, -1, 0, "k: expected a number, got an array"},
        {R_MSEC, "k = 5", 0, 0, 0, 5000, NULL},
        {R_MSEC, "k = 0", 0, 0, 0, 0, NULL},
        {R_MSEC, "k = 5s", 0, 0, 0, 5000, NULL},
        {R_MSEC, "k = 250ms", 0, 0, 0, 250, NULL},
        {R_MSEC, "k = 2min", 0, 0, 0, 120000, NULL},
        {R_MSEC, "k = 1h", 0, 0, 0, 3600000, NULL},
        {R_MSEC, "k = 1D", 0, 0, 0, 86400000, NULL},
        {R_MSEC, "k = \"30S\"", 0, 0, 0, 30000, NULL},
        {R_MSEC, "k = 1m", 0, 0, -1, 0,
         "k: expected a duration (a number with ms, s, min, h or d), got \"1m\""},
        {R_MSEC, "k = -1s", 0, 0, -1, 0,
         "k: expected a duration (a number with ms, s, min, h or d), got \"-1s\""},
        {R_MSEC, "k = s", 0, 0, -1, 0,
         "k: expected a duration (a number with ms, s, min, h or d), got \"s\""},
        {R_MSEC, "k = 18446744073709551615ms", 0, 0, 0, U64, NULL},
        {R_MSEC, "k = 18446744073709551615", 0, 0, -1, 0, "k: 18446744073709551615 is too large"},
        {R_MSEC, "k = 213503982335d", 0, 0, -1, 0, "k: 213503982335d is too large"},
        {R_MSEC, "k = 213503982334d", 0, 0, 0, 213503982334ull * 86400000, NULL},
        {R_MSEC, "k {}", 0, 0, -1, 0,
         "k: expected a duration (a number with ms, s, min, h or d), got an object"},
        {R_STR, "k = abc", 0, 0, 0, 0, NULL},
        {R_STR, "k {}", 0, 0, -1, 0, "k: expected a string, got an object"},
        {R_STR, "k []", 0, 0, -1, 0, "k: expected a string, got an array"},
};

/* test_scalars - conf_bool, conf_uint, conf_msec and conf_str */
static void
test_scalars(void)
{
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		const struct scalar_case *c = &scalars[i];
		struct pol_errs errs = {0};
		struct conf_doc *doc = parse(c->text, strlen(c->text), &errs);
		struct conf_node *n = conf_get(doc != NULL ? doc->root : NULL, "k");
		uint64_t v = 12345;
		const char *s = NULL;
		bool b = false;
		int r = -2;

		if (n != NULL && strncmp(c->text, "k = [", 5) == 0)
			n = n->child;
		if (!ok(n != NULL, "scalar: %s: parsed", c->text)) {
			conf_free(doc);
			pol_errs_free(&errs);
			continue;
		}
		switch (c->fn) {
		case R_BOOL:
			r = conf_bool(n, &b, &errs);
			v = b;
			break;
		case R_UINT:
			r = conf_uint(n, c->min, c->max, &v, &errs);
			break;
		case R_MSEC:
			r = conf_msec(n, &v, &errs);
			break;
		case R_STR:
			r = conf_str(n, &s, &errs);
			if (r == 0)
				is_str(s, "abc", "scalar: %s: text", c->text);
			v = 0;
			break;
		}
		is_int(r, c->ret, "scalar: %s: return", c->text);
		if (c->ret == 0) {
			ok(v == c->want, "scalar: %s: value %llu", c->text, (unsigned long long)v);
			is_int(errs.total, 0, "scalar: %s: no error", c->text);
		} else {
			is_int(errs.total, 1, "scalar: %s: one error", c->text);
			is_str(errs.n > 0 ? errs.v[0].msg : NULL, c->msg, "scalar: %s: message",
			       c->text);
			is_int(errs.n > 0 ? errs.v[0].line : 0, 1, "scalar: %s: line", c->text);
		}
		conf_free(doc);
		pol_errs_free(&errs);
	}
}

/* test_get - conf_get: caseless, first of duplicates, NULL for non-objects */
static void
test_get(void)
{
	static const char text[] = "Alpha = 1\nalpha = 2\nlist = [x]\nsec { beta = 3 }\n";
	struct pol_errs errs = {0};
	struct conf_doc *doc = parse(text, strlen(text), &errs);
	struct conf_node *n;

	ok(doc != NULL, "get: parsed");
	if (doc == NULL)
		return;
	n = conf_get(doc->root, "ALPHA");
	ok(n != NULL && strcmp(n->str, "1") == 0, "get: caseless, first duplicate");
	is_str(n != NULL ? n->key : NULL, "Alpha", "get: key kept as written");
	is_int(n != NULL ? n->key_line : 0, 1, "get: key line");
	ok(conf_get(doc->root, "gamma") == NULL, "get: missing key");
	ok(conf_get(NULL, "alpha") == NULL, "get: NULL object");
	ok(conf_get(conf_get(doc->root, "list"), "x") == NULL, "get: array");
	ok(conf_get(conf_get(doc->root, "alpha"), "x") == NULL, "get: string");
	n = conf_get(conf_get(doc->root, "sec"), "Beta");
	ok(n != NULL && strcmp(n->str, "3") == 0, "get: in a section");
	is_int(doc->root->n, 4, "get: member count");
	is_str(doc->file, "t.conf", "get: document file name");
	conf_free(doc);
	pol_errs_free(&errs);
}

/* test_file - conf_parse_file: a file, a missing file, a directory */
static void
test_file(void)
{
	char path[] = "/tmp/test_conf.XXXXXX";
	static const char good[] = "a = 1\nb = 2\n", text[] = "a = 1\nb = [2,\n 3";
	struct pol_errs errs = {0};
	struct conf_doc *doc;
	int fd = mkstemp(path);

	ok(fd >= 0 && write(fd, good, sizeof(good) - 1) == (ssize_t)sizeof(good) - 1,
	   "file: written");
	if (fd >= 0)
		close(fd);
	doc = conf_parse_file(path, &errs);
	ok(doc != NULL && errs.total == 0, "file: parsed");
	is_str(doc != NULL ? doc->file : NULL, path, "file: name as given");
	is_str(doc != NULL ? doc->root->child->next->file : NULL, path, "file: name in nodes");
	conf_free(doc);

	fd = open(path, O_WRONLY | O_TRUNC);
	ok(fd >= 0 && write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1,
	   "file: rewritten broken");
	if (fd >= 0)
		close(fd);
	doc = conf_parse_file(path, &errs);
	ok(doc == NULL && errs.n == 1, "file: broken file gives an error");
	is_str(errs.n > 0 ? errs.v[0].file : NULL, path, "file: error names the file");
	is_int(errs.n > 0 ? errs.v[0].line : 0, 2, "file: error line");
	pol_errs_free(&errs);
	unlink(path);

	doc = conf_parse_file("/nonexistent/test_conf.conf", &errs);
	ok(doc == NULL && errs.n == 1, "file: missing file gives an error");
	is_str(errs.n > 0 ? errs.v[0].msg : NULL,
	       "cannot read /nonexistent/test_conf.conf: No such file or directory",
	       "file: missing file: message");
	is_int(errs.n > 0 ? errs.v[0].line : 1, 0, "file: missing file: line 0");
	pol_errs_free(&errs);

	doc = conf_parse_file("/", &errs);
	ok(doc == NULL && errs.n == 1, "file: a directory gives an error");
	is_str(errs.n > 0 ? errs.v[0].msg : NULL, "cannot read /: Is a directory",
	       "file: directory: message");
	pol_errs_free(&errs);
}

/* rnd - xorshift64, fixed seed: the same mutations on every run */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* survives - parse and check the contract: a sound tree, or NULL and one error */
static int
survives(const char *text, size_t len)
{
	struct pol_errs errs = {0};
	struct conf_doc *doc = parse(text, len, &errs);
	int r;

	if (doc != NULL)
		r = errs.total == 0 && check_tree(doc, doc->root, 1) == 0 ? 0 : -1;
	else
		r = errs.total == 1 && errs.v[0].msg != NULL ? 0 : -1;
	conf_free(doc);
	pol_errs_free(&errs);
	return r;
}

/* test_robust - every prefix and 300 mutations of every valid document */
static void
test_robust(void)
{
	/* bytes that matter to the lexer, so mutations reach the interesting paths */
	static const char special[] = "{}[];,=:\"'\\#/*\n\r\t u0\x01\x80\xff";
	uint64_t seed = 0x5eed5eed12345678ull;
	char buf[1024];

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		size_t len = strlen(valid[i].text), bad = 0;

		for (size_t l = 0; l <= len; l++)
			bad += survives(valid[i].text, l) != 0;
		is_int(bad, 0, "robust: %s: every prefix", valid[i].name);
		if (len == 0 || len > sizeof(buf))
			continue;
		bad = 0;
		for (int m = 0; m < 300; m++) {
			int edits = 1 + (int)(rnd(&seed) % 4);

			memcpy(buf, valid[i].text, len);
			for (int e = 0; e < edits; e++) {
				uint64_t r = rnd(&seed);
				size_t at = (size_t)(r % len);

				if (r >> 32 & 1)
					buf[at] = special[(r >> 33) % (sizeof(special) - 1)];
				else
					buf[at] = (char)(r >> 40);
			}
			bad += survives(buf, len) != 0;
		}
		is_int(bad, 0, "robust: %s: 300 mutations", valid[i].name);
	}
}

int
main(void)
{
	test_valid();
	test_invalid();
	test_limits();
	test_scalars();
	test_get();
	test_file();
	test_robust();
	return done_testing();
}
