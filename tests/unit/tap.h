/* tap - a few macros that print the Test Anything Protocol, which meson counts */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                                     \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (!ok(g_ == w_, __VA_ARGS__))                                                    \
			printf("#   got %lld, want %lld\n", g_, w_);                               \
	} while (0)

#define is_str(got, want, ...)                                                                     \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		if (!ok(g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0, __VA_ARGS__))             \
			printf("#   got  \"%s\"\n#   want \"%s\"\n", g_ ? g_ : "(null)",           \
			       w_ ? w_ : "(null)");                                                \
	} while (0)

__attribute__((format(printf, 4, 5))) static inline int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	return pass;
}

/* Test data: xorshift64*, one generator per test program, repeatable from
 * the seed given to tap_seed() */
static uint64_t tap_rng __attribute__((unused)) = 0x5eed5eed12345678ull;

static inline void
tap_seed(uint64_t seed)
{
	tap_rng = seed;
}

/* tap_rnd - the next 64 random bits */
static inline uint64_t
tap_rnd(void)
{
	tap_rng ^= tap_rng >> 12;
	tap_rng ^= tap_rng << 25;
	tap_rng ^= tap_rng >> 27;
	return tap_rng * 0x2545f4914f6cdd1dull;
}

/* tap_below - a random number in [0, n) (0 when n is 0) */
static inline size_t
tap_below(size_t n)
{
	return n == 0 ? 0 : (size_t)(tap_rnd() % n);
}

/* done_testing - print the plan; the return value is main's exit status */
static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
