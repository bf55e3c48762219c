/* fuzz - what the libFuzzer targets of tests/fuzz share: reading the input, checking
 *
 * A target's input is bytes libFuzzer mutates; a struct fz_in reads them
 * from the front (the data the target feeds) and from the back (the
 * decisions: cut points, what a fake peer answers, time), as LLVM's
 * FuzzedDataProvider does, so that a mutation of one does not shift the
 * other. Past the end every read gives 0: inputs stay meaningful however
 * they are cut, and 0 is always the plainest choice.
 *
 * A broken invariant is reported on stderr with the target's line and
 * aborts: libFuzzer saves the input as a crash.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fz_check - an invariant of the code under test */
#define fz_check(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__,       \
			        #cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fz_in {
	const uint8_t *p;
	size_t len; /* bytes left between the front and the back */
};

static inline void
fz_init(struct fz_in *in, const uint8_t *p, size_t len)
{
	in->p = p;
	in->len = len;
}

/* fz_u8 - the next decision byte, from the back; 0 when none is left */
static inline uint8_t
fz_u8(struct fz_in *in)
{
	if (in->len == 0)
		return 0;
	in->len--;
	return in->p[in->len];
}

/* fz_u16 - two decision bytes */
static inline uint16_t
fz_u16(struct fz_in *in)
{
	return (uint16_t)(fz_u8(in) | fz_u8(in) << 8);
}

/* fz_u32 - four decision bytes */
static inline uint32_t
fz_u32(struct fz_in *in)
{
	return (uint32_t)fz_u16(in) | (uint32_t)fz_u16(in) << 16;
}

/* fz_take - up to n data bytes from the front; *got says how many */
static inline const uint8_t *
fz_take(struct fz_in *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;

	if (n > in->len)
		n = in->len;
	in->p += n;
	in->len -= n;
	*got = n;
	return p;
}

/* fz_hex - an input as hex on stderr, for the report of a broken invariant */
static inline void
fz_hex(const char *what, const void *p, size_t len)
{
	const uint8_t *b = p;

	fprintf(stderr, "%s (%zu bytes):", what, len);
	for (size_t i = 0; i < len && i < 4096; i++)
		fprintf(stderr, "%s%02x", i % 32 == 0 ? "\n  " : "", b[i]);
	fputc('\n', stderr);
}

#endif
