/* fuzz_ctl - control socket messages: framing, splitting, and the JSON request
 *
 * The input is a request payload as the gate's control thread gets it
 * from ctl_recv(). It goes through ctl_split() as the gate calls it (files
 * allowed) and as the CLI does (none); a payload that splits must be
 * exactly its parts again (each length matches the bytes present, nothing
 * left over), and must survive ctl_send() -> ctl_recv() -> ctl_split()
 * through a pipe unchanged. Its JSON part (or, when it does not split, the
 * whole input) goes to conf_parse() as the gate's "request", whose tree is
 * checked node by node and whose scalars go through every interpreter.
 */
#include <stdbool.h>
#include <unistd.h>

#include "conf.h"
#include "ctl_proto.h"
#include "fuzz.h"

#define PIPE_MAX 60000 /* below a pipe's buffer: one thread writes and then reads */

static struct ctl_file files[CTL_MAX_FILES], files2[CTL_MAX_FILES];

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* within - whether [p, p+n) lies inside the payload */
static bool
within(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

/* check_split - the parts cover the payload exactly, in order */
static void
check_split(const struct ctl_msg *m, const char *payload, size_t len)
{
	size_t at = 0;

	fz_check(m->json_len <= CTL_MAX_JSON && within(m->json, m->json_len, payload, len),
	         "JSON part out of the payload");
	fz_check(get32((const uint8_t *)payload) == m->json_len && m->json == payload + 4,
	         "JSON length");
	at = 4 + m->json_len;
	fz_check(get32((const uint8_t *)payload + at) == m->nfiles, "file count");
	at += 4;
	for (unsigned i = 0; i < m->nfiles; i++) {
		const struct ctl_file *f = &m->files[i];

		fz_check(f->path_len > 0 && f->path_len <= CTL_MAX_PATH, "path length %zu",
		         f->path_len);
		fz_check(f->path == payload + at + 4 &&
		                 get32((const uint8_t *)payload + at) == f->path_len,
		         "file %u path", i);
		fz_check(memchr(f->path, '\0', f->path_len) == NULL, "NUL in a path");
		at += 4 + f->path_len;
		fz_check(f->data == payload + at + 4 &&
		                 get32((const uint8_t *)payload + at) == f->len &&
		                 within(f->data, f->len, payload, len),
		         "file %u data", i);
		at += 4 + f->len;
	}
	fz_check(at == len, "parts cover %zu of %zu bytes", at, len);
}

/* roundtrip - ctl_send the parts through a pipe, ctl_recv and split them again */
static void
roundtrip(const struct ctl_msg *m, const char *payload, size_t len)
{
	struct ctl_msg m2;
	const char *why = NULL;
	char *buf = NULL;
	size_t blen = 0;
	int fd[2];

	if (len > PIPE_MAX || pipe(fd) != 0)
		return;
	fz_check(ctl_send(fd[1], m->json, m->json_len, m->files, m->nfiles) == 0, "ctl_send");
	close(fd[1]);
	fz_check(ctl_recv(fd[0], &buf, &blen, CTL_MAX_REQUEST, &why) == 0, "ctl_recv: %s", why);
	close(fd[0]);
	fz_check(blen == len && memcmp(buf, payload, len) == 0, "payload changed in transit");
	fz_check(ctl_split(buf, blen, &m2, files2, CTL_MAX_FILES, &why) == 0, "split again: %s",
	         why);
	fz_check(m2.nfiles == m->nfiles && m2.json_len == m->json_len, "split differs");
	free(buf);
}

/* recv_frame - ctl_recv of a frame whose payload is the input, with limit max;
 * its return, and the payload compared with the input when taken */
static int
recv_frame(const uint8_t *data, size_t size, size_t max)
{
	uint8_t hdr[CTL_HDR_LEN] = {'S', 'G', 'C', CTL_PROTO_VERSION};
	const char *why = NULL;
	char *buf = NULL;
	size_t blen = 0;
	int fd[2], rc;

	if (pipe(fd) != 0)
		return -2;
	hdr[4] = (uint8_t)(size >> 24);
	hdr[5] = (uint8_t)(size >> 16);
	hdr[6] = (uint8_t)(size >> 8);
	hdr[7] = (uint8_t)size;
	fz_check(write(fd[1], hdr, sizeof(hdr)) == sizeof(hdr) &&
	                 write(fd[1], data, size) == (ssize_t)size,
	         "pipe write");
	close(fd[1]);
	rc = ctl_recv(fd[0], &buf, &blen, max, &why);
	close(fd[0]);
	if (rc == 0)
		fz_check(blen == size && memcmp(buf, data, size) == 0 && buf[size] == '\0',
		         "frame payload changed");
	else
		fz_check(buf == NULL && why != NULL, "a refused frame: buffer or reason");
	free(buf);
	return rc;
}

/* frame - the input as a frame's payload: taken whole under the right
 * limit (an empty one too: ctl_split refuses it), refused under one byte less */
static void
frame(const uint8_t *data, size_t size)
{
	if (size > PIPE_MAX)
		return;
	fz_check(recv_frame(data, size, size) == 0, "frame refused");
	if (size > 0)
		fz_check(recv_frame(data, size, size - 1) < 0, "frame over the limit taken");
}

/* check_node - a conf tree node and its children; the node count */
static size_t
check_node(const struct conf_doc *doc, const struct conf_node *n, unsigned depth)
{
	const struct conf_node *c, *last = NULL;
	size_t count = 1, kids = 0;
	struct pol_errs e = {0};

	fz_check(depth <= CONF_MAX_DEPTH + 1, "depth %u", depth);
	fz_check(n->file == doc->file && n->line >= 1, "node location");
	fz_check(n->type == CONF_OBJECT || n->type == CONF_ARRAY || n->type == CONF_STRING,
	         "type %d", n->type);
	if (n->type == CONF_STRING) {
		const char *s;
		uint64_t v;
		bool b;
		size_t before;

		fz_check(n->str != NULL && strlen(n->str) == n->len && n->child == NULL,
		         "string node");
		fz_check(n->len <= CONF_MAX_STRING, "string of %zu", n->len);
		fz_check(conf_str(n, &s, &e) == 0 && s == n->str, "conf_str");
		before = e.total;
		fz_check((conf_bool(n, &b, &e) == 0) == (e.total == before), "conf_bool errors");
		before = e.total;
		fz_check((conf_uint(n, 1, 1000000, &v, &e) == 0) == (e.total == before),
		         "conf_uint errors");
		before = e.total;
		if (conf_msec(n, &v, &e) == 0)
			fz_check(e.total == before, "conf_msec errors");
		else
			fz_check(e.total > before, "conf_msec failed silently");
		for (size_t i = 0; i < e.n; i++)
			fz_check(e.v[i].file != NULL && e.v[i].line >= 1, "scalar error location");
		pol_errs_free(&e);
		return count;
	}
	for (c = n->child; c != NULL; c = c->next) {
		fz_check(c->parent == n, "parent link");
		fz_check((n->type == CONF_OBJECT) == (c->key != NULL), "key of a member");
		if (c->key != NULL)
			fz_check(conf_get(n, c->key) != NULL, "conf_get misses %s", c->key);
		count += check_node(doc, c, depth + 1);
		kids++;
		last = c;
	}
	fz_check(kids == n->n && last == n->last, "%zu children, n %zu", kids, n->n);
	if (n->type == CONF_OBJECT) {
		static const char *const names[] = {"cmd", "policy", "service", "client", NULL};

		conf_check_keys(n, "fuzz", names, NULL, &e);
		for (size_t i = 0; i < e.n; i++)
			fz_check(e.v[i].file != NULL, "key error without a file");
		pol_errs_free(&e);
	}
	return count;
}

/* parse - conf_parse the request text and check what it gives */
static void
parse(const char *text, size_t len)
{
	struct pol_errs errs = {0};
	struct conf_doc *doc = conf_parse("request", text, len, &errs);

	if (doc == NULL) {
		fz_check(errs.total > 0, "a parse failure without an error");
		for (size_t i = 0; i < errs.n; i++)
			fz_check(errs.v[i].file != NULL && strcmp(errs.v[i].file, "request") == 0 &&
			                 errs.v[i].msg != NULL,
			         "parse error location");
	} else {
		fz_check(doc->root != NULL && doc->root->type == CONF_OBJECT &&
		                 doc->root->parent == NULL,
		         "root");
		fz_check(memchr(text, '\0', len) == NULL, "NUL accepted");
		check_node(doc, doc->root, 0);
		conf_free(doc);
	}
	pol_errs_free(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *payload = (const char *)data, *why = NULL;
	struct ctl_msg m, m0;
	int rc, rc0;

	rc = ctl_split(payload, size, &m, files, CTL_MAX_FILES, &why);
	fz_check(rc == 0 || why != NULL, "a refusal without a reason");
	rc0 = ctl_split(payload, size, &m0, NULL, 0, &why);
	fz_check((rc0 == 0) == (rc == 0 && m.nfiles == 0), "split with and without files differ");
	frame(data, size);
	if (rc == 0) {
		check_split(&m, payload, size);
		roundtrip(&m, payload, size);
		parse(m.json, m.json_len);
	} else {
		parse(payload, size);
	}
	return 0;
}
