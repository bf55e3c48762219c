/* logq - log lines from the lcores to the control thread, which writes them
 *
 * The fast path does not log (no syscall, no lock): an lcore copies a line
 * into its own single-producer ring and goes on; when the ring is full the
 * line is dropped and counted. The control thread drains every ring and
 * writes Postfix-style lines to stdout, a file or syslog.
 *
 * A line takes as many LOGQ_SLOT-byte ring elements as it needs (its
 * length and kind in the first two bytes, then its bytes), enqueued at
 * once; a refusal's line goes as a record of its fields, which the control
 * thread formats (the lcore copies ~150 bytes instead of formatting): reject
 * lines average some 250 bytes, so the ring holds several times more of
 * them than in LOGQ_LINE_MAX-byte records, in the same memory.
 */
#ifndef LOGQ_H
#define LOGQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "gconf.h"

#define LOGQ_LINE_MAX 2046 /* a reject line echoes the reply, sender, recipient and HELO */
#define LOGQ_SLOT     256  /* bytes of a ring element */
#define LOGQ_RING     8192 /* elements per lcore (2 MiB) */
/* elements of the longest line: its length's 2 bytes and LOGQ_LINE_MAX bytes */
#define LOGQ_SLOTS_MAX ((2 + LOGQ_LINE_MAX + LOGQ_SLOT - 1) / LOGQ_SLOT)
/* lines a ring holds whatever their length (a ring holds LOGQ_RING - 1
 * elements): the drain's batch, and what the control thread plans for
 * between two drains (every 10 ms, 1 ms when busy) */
#define LOGQ_LINES ((LOGQ_RING - 1) / LOGQ_SLOTS_MAX)

/* A ring element's first two bytes: the length (low 12 bits) and the kind
 * (high 4). A line is kind 0; a record of another kind is its producer's
 * compact form of a line, which the control thread turns into the line
 * with the kind's formatter (logq_set_format): the lcore then copies a few
 * fields instead of formatting the line on its fast path. */
#define LOGQ_LEN_BITS 12
enum logq_kind {
	LOGQ_K_LINE,   /* the line itself */
	LOGQ_K_REJECT, /* the engine's reject record (smtp_reject_format) */
	LOGQ_K_COUNT,
};
/* logq_format_fn - the line of a record: at most size - 1 bytes into buf
 * (the prefix of the whole line), NUL-terminated; its length */
typedef size_t (*logq_format_fn)(char *buf, size_t size, const void *rec, size_t len);

struct rte_ring;

struct logq {
	struct rte_ring *ring; /* lcore: enqueue; control thread: dequeue */
	uint64_t dropped;      /* lcore: rw; control: ro */
};

/* logq_create - the ring of one lcore; 0 or -1 */
int logq_create(struct logq *q, unsigned lcore_id);
/* logq_create_named - the ring of another single producer (a thread of the control side) */
int logq_create_named(struct logq *q, const char *name, int socket);
/* logq_push - from the lcore: copy one line (cut at LOGQ_LINE_MAX) */
void logq_push(struct logq *q, const char *line, size_t len);
/* logq_push_rec - from the lcore: one record of kind made of n parts,
 * copied straight into the ring; a record over LOGQ_LINE_MAX bytes is the
 * caller's bug (the caller formats the line instead), hence dropped */
void logq_push_rec(struct logq *q, enum logq_kind kind, const struct iovec *parts, unsigned n);
/* logq_set_format - the control thread's formatter of kind's records,
 * before the first drain */
void logq_set_format(enum logq_kind kind, logq_format_fn fn);
/* logq_printf - logq_push of a formatted line (for lines off the per-packet path) */
__attribute__((format(printf, 2, 3))) void logq_printf(struct logq *q, const char *fmt, ...);
/* logq_open - the control thread's output, from the gate config; 0 or -1 */
int logq_open(const struct gconf *gc);
/* logq_drain - write the queued lines of q, up to LOGQ_LINES of them (so
 * that a busy lcore does not hold up the others' rings); the number written */
unsigned logq_drain(struct logq *q);
void logq_close(void);

#endif
