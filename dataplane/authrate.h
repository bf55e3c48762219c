/* authrate - failed AUTH checks per client, for the auth thread (authd.c)
 *
 * "Failed attempts per client are rate limited": a client that failed
 * max_failures checks within window_ms is refused (454) without asking
 * Dovecot until the window that its first failure opened is over. A
 * client is what the connection limits count (climit_client_id): an IPv4
 * address, or an IPv6 /64, since one subscriber gets a whole /64 and could
 * otherwise start afresh from each of its 2^64 addresses.
 *
 * A direct-mapped table of AUTHRATE_SIZE records, no allocation after
 * init: a client whose record another client took starts again from zero
 * (so the limit can be evaded only by a client that makes others fail in
 * its slot; the table is sized for the clients failing at once on one
 * gate). Plain C; one thread (the auth thread) owns it.
 *
 * Untrusted input: the client's address, which picks the record through a
 * hash keyed with a secret drawn at init (as climit's), so that no client
 * can know which other clients share its record.
 */
#ifndef AUTHRATE_H
#define AUTHRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "climit.h"

#define AUTHRATE_SIZE 4096 /* clients remembered (direct-mapped) */

/* Failed checks of one client, in its current window. */
struct authrate_rec {
	uint8_t id[CLIMIT_ID_SIZE]; /* climit_client_id; all zero: never used */
	uint32_t fails;
	uint64_t since_ms; /* the window's start: the first failure in it */
};

struct authrate {
	struct authrate_rec *rec;      /* AUTHRATE_SIZE */
	uint8_t secret[CLIMIT_SECRET]; /* the record hash's key (XXH3 secret) */
	uint32_t max_failures;
	uint64_t window_ms;
};

/* authrate_init - an empty table with a fresh random hash key; 0 or -1
 * (no memory, or no randomness) */
int authrate_init(struct authrate *r, uint32_t max_failures, uint64_t window_ms);
void authrate_free(struct authrate *r);
/* authrate_limited - the client at family (4 or 6) and addr (16 bytes,
 * IPv4 in the first 4) failed max_failures times in its window */
bool authrate_limited(const struct authrate *r, uint8_t family, const uint8_t *addr,
                      uint64_t now_ms);
/* authrate_fail - one more failed check of that client */
void authrate_fail(struct authrate *r, uint8_t family, const uint8_t *addr, uint64_t now_ms);

#endif
