/* ctl_proto - the control socket's messages, between smtpgatectl and the gate
 *
 * A UNIX stream socket, one request and one response per connection. Each
 * message is a frame:
 *
 *   "SGC" VERSION(1 byte) LENGTH(4 bytes, big-endian) PAYLOAD(LENGTH bytes)
 *
 * and the payload is a JSON object followed by attached files:
 *
 *   JSON_LEN(4) JSON  NFILES(4)  { PATH_LEN(4) PATH  DATA_LEN(4) DATA }...
 *
 * Requests carry {"cmd": "push" | "show" | "stats" | "explain" | "drain" |
 * "version", ...}; a push attaches the policy and every list file it
 * names, by the path the policy loader asked for. Responses carry {"ok":
 * true, ...} or {"ok": false, "error": "...", "errors": [...]}.
 *
 * Untrusted input on both sides: every length is checked against the bytes
 * present and against the limits below before anything is used.
 */
#ifndef CTL_PROTO_H
#define CTL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define CTL_PROTO_VERSION 1
#define CTL_HDR_LEN       8
#define CTL_MAX_REQUEST   (256u << 20) /* a policy with 100,000s of list entries fits */
#define CTL_MAX_RESPONSE  (16u << 20)
#define CTL_MAX_JSON      (1u << 20) /* the JSON part of any message */
#define CTL_MAX_FILES     4096       /* files attached to one push */
#define CTL_MAX_PATH      4096

struct ctl_file {
	const char *path;
	size_t path_len;
	const char *data;
	size_t len;
};

/* A message split into its parts; the pointers point into the payload. */
struct ctl_msg {
	const char *json;
	size_t json_len;
	struct ctl_file *files;
	unsigned nfiles;
};

/* ctl_send - write one frame: json and the attached files; 0, or -1 with errno */
int ctl_send(int fd, const char *json, size_t json_len, const struct ctl_file *files,
             unsigned nfiles);
/* ctl_recv - read one frame's payload into a malloc'ed buffer (*buf); 0,
 * or -1 with *why set: EOF, timeout, bad header, a version we do not
 * speak, or a length over max */
int ctl_recv(int fd, char **buf, size_t *len, size_t max, const char **why);
/* ctl_split - the parts of a payload; files is an array of max_files
 * (NULL and 0 to refuse attachments); 0, or -1 with *why */
int ctl_split(const char *payload, size_t len, struct ctl_msg *m, struct ctl_file *files,
              unsigned max_files, const char **why);

#endif
