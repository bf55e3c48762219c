/* ctl_proto - framing of the control socket's messages (see ctl_proto.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_proto.h"

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* write_all - the whole buffer, through partial writes and EINTR */
static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* read_all - exactly len bytes: 0, 1 at a clean EOF before any byte, -1 */
static int
read_all(int fd, void *buf, size_t len, const char **why)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = errno == EAGAIN || errno == EWOULDBLOCK ? "timeout" : "read error";
			return -1;
		}
		if (n == 0) {
			*why = "connection closed";
			return got == 0 ? 1 : -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int
ctl_send(int fd, const char *json, size_t json_len, const struct ctl_file *files, unsigned nfiles)
{
	uint64_t total = 4 + (uint64_t)json_len + 4;
	uint8_t hdr[CTL_HDR_LEN + 4], n4[4];

	for (unsigned i = 0; i < nfiles; i++)
		total += 8 + (uint64_t)files[i].path_len + files[i].len;
	if (total > UINT32_MAX || json_len > UINT32_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	memcpy(hdr, "SGC", 3);
	hdr[3] = CTL_PROTO_VERSION;
	put32(hdr + 4, (uint32_t)total);
	put32(hdr + 8, (uint32_t)json_len);
	if (write_all(fd, hdr, sizeof(hdr)) < 0 || write_all(fd, json, json_len) < 0)
		return -1;
	put32(n4, nfiles);
	if (write_all(fd, n4, 4) < 0)
		return -1;
	for (unsigned i = 0; i < nfiles; i++) {
		put32(n4, (uint32_t)files[i].path_len);
		if (write_all(fd, n4, 4) < 0 || write_all(fd, files[i].path, files[i].path_len) < 0)
			return -1;
		put32(n4, (uint32_t)files[i].len);
		if (write_all(fd, n4, 4) < 0 || write_all(fd, files[i].data, files[i].len) < 0)
			return -1;
	}
	return 0;
}

int
ctl_recv(int fd, char **buf, size_t *len, size_t max, const char **why)
{
	uint8_t hdr[CTL_HDR_LEN];
	uint32_t n;
	char *p;
	int rc;

	*buf = NULL;
	*len = 0;
	if ((rc = read_all(fd, hdr, sizeof(hdr), why)) != 0)
		return -1;
	if (memcmp(hdr, "SGC", 3) != 0) {
		*why = "not a control message";
		return -1;
	}
	if (hdr[3] != CTL_PROTO_VERSION) {
		*why = "unsupported protocol version";
		return -1;
	}
	n = get32(hdr + 4);
	if (n > max) {
		*why = "message too large";
		return -1;
	}
	if ((p = malloc(n + 1u)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	if (read_all(fd, p, n, why) != 0) {
		free(p);
		if (n == 0)
			*why = "empty message";
		return -1;
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
	return 0;
}

/* take - len bytes at *at of a payload of size total; NULL when they are not there */
static const char *
take(const char *payload, size_t total, size_t *at, size_t len)
{
	const char *p;

	if (len > total - *at)
		return NULL;
	p = payload + *at;
	*at += len;
	return p;
}

/* take32 - a 4-byte length; -1 when it is not there */
static int
take32(const char *payload, size_t total, size_t *at, uint32_t *v)
{
	const char *p = take(payload, total, at, 4);

	if (p == NULL)
		return -1;
	*v = get32((const uint8_t *)p);
	return 0;
}

int
ctl_split(const char *payload, size_t len, struct ctl_msg *m, struct ctl_file *files,
          unsigned max_files, const char **why)
{
	size_t at = 0;
	uint32_t n, k;

	memset(m, 0, sizeof(*m));
	if (take32(payload, len, &at, &n) < 0 || n > CTL_MAX_JSON ||
	    (m->json = take(payload, len, &at, n)) == NULL) {
		*why = "truncated or oversized JSON part";
		return -1;
	}
	m->json_len = n;
	if (take32(payload, len, &at, &k) < 0) {
		*why = "truncated message";
		return -1;
	}
	if (k > max_files) {
		*why = max_files == 0 ? "this request takes no files" : "too many files";
		return -1;
	}
	m->files = files;
	for (uint32_t i = 0; i < k; i++) {
		struct ctl_file *f = &files[i];
		uint32_t pl, dl;

		if (take32(payload, len, &at, &pl) < 0 || pl == 0 || pl > CTL_MAX_PATH ||
		    (f->path = take(payload, len, &at, pl)) == NULL ||
		    memchr(f->path, '\0', pl) != NULL || take32(payload, len, &at, &dl) < 0 ||
		    (f->data = take(payload, len, &at, dl)) == NULL) {
			*why = "truncated or malformed file";
			return -1;
		}
		f->path_len = pl;
		f->len = dl;
	}
	m->nfiles = k;
	if (at != len) {
		*why = "trailing bytes after the message";
		return -1;
	}
	return 0;
}
