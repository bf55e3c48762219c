/* climit - per-client connection limits shared by every lcore
 *
 * Postfix's anvil, without a server: one fixed-size table in shared memory,
 * each slot a 16-byte {key, state} pair changed only by a 16-byte
 * compare-and-swap, so that lcores count the same client together with no
 * lock and no allocation. A client is an IPv4 address or an IPv6 /64 (what
 * one subscriber gets), counted per service.
 *
 * Who touches what:
 *   slots       every worker lcore: rw (CAS only); control thread: ro
 *   the rest    written by climit_init before the lcores start; ro after
 */
#ifndef CLIMIT_H
#define CLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pol_cidr.h"

/* Slots tried from a key's home before the table counts as full: a few
 * cache lines, so a lookup stays cheap however the table fills. */
#define CLIMIT_PROBE     16
#define CLIMIT_MIN_SLOTS 64
#define CLIMIT_MAX_SLOTS (1u << 26) /* 1 GiB of slots: far beyond any client count */
/* Retries of one operation against other lcores' CAS before it gives up (fail open). */
#define CLIMIT_MAX_RETRIES 1000
/* Bytes of XXH3 secret: the hash is keyed so that clients cannot aim at one slot. */
#define CLIMIT_SECRET 192

/* One slot: key 0 is never used. state packs the sessions open (16 bits),
 * connections in the current window (16 bits) and the second at which that
 * window ends (32 bits, the lcores' clock). */
struct climit_slot {
	uint64_t key;
	uint64_t state;
} __attribute__((aligned(16)));

struct climit_table {
	struct climit_slot *slot; /* nslots, 16-byte aligned, zeroed */
	uint32_t mask;            /* nslots - 1 */
	uint8_t secret[CLIMIT_SECRET];
};

/* What a service allows one client; 0: no such limit. */
struct climit_rule {
	uint32_t conn_limit; /* sessions at once */
	uint32_t rate_limit; /* connections per window */
	uint32_t unit_s;     /* the window, in seconds (at least 1) */
};

enum climit_verdict {
	CLIMIT_OK,   /* within the limits; a session is counted when the rule has conn_limit */
	CLIMIT_CONN, /* would exceed conn_limit */
	CLIMIT_RATE, /* exceeds rate_limit */
	CLIMIT_FULL, /* no slot for the client (or too much contention): let it in uncounted */
};

/* A session counted in the table, to be given back by climit_release. */
struct climit_hold {
	uint64_t key; /* 0: nothing held */
	uint32_t slot;
};

/* Bytes that name a client for counting (climit_client_id). */
#define CLIMIT_ID_SIZE 9

/* climit_client_id - who a client is for counting: 4 and its IPv4
 * address, or 6 and the /64 of its IPv6 address (what one subscriber
 * gets, so that hopping inside it does not reset a count); an IPv4-mapped
 * IPv6 address counts as its IPv4 address; the rest of id zero. The
 * connection limits key on it, and so does AUTH's failure count
 * (authrate.h). */
static inline void
climit_client_id(const struct cidr *client, uint8_t id[CLIMIT_ID_SIZE])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(id, 0, CLIMIT_ID_SIZE);
	if (client->family == 6 && memcmp(client->addr, mapped, sizeof(mapped)) != 0) {
		id[0] = 6;
		memcpy(id + 1, client->addr, 8); /* the /64 */
	} else {
		id[0] = 4;
		memcpy(id + 1, client->family == 6 ? client->addr + 12 : client->addr, 4);
	}
}

/* climit_slots - the slot count for a wanted number of clients: a power of
 * two, clamped to CLIMIT_MIN_SLOTS..CLIMIT_MAX_SLOTS */
uint32_t climit_slots(uint32_t clients);
/* climit_init - a table over mem (slots * 16 bytes, 16-byte aligned, zeroed)
 * with a hash secret (CLIMIT_SECRET random bytes) */
void climit_init(struct climit_table *t, void *mem, uint32_t slots, const uint8_t *secret);
/* climit_key - the key of client (an IPv4 address, or the /64 of an IPv6
 * one; an IPv4-mapped IPv6 address counts as its IPv4 address) for the
 * service tagged svc; never 0 */
uint64_t climit_key(const struct climit_table *t, const struct cidr *client, uint64_t svc);
/* climit_acquire - count a new connection of key at now_s (seconds). On
 * CLIMIT_OK with r->conn_limit, *h holds the session until climit_release;
 * otherwise h->key is 0. *n: the count that decided (sessions with this one
 * for CLIMIT_CONN, connections in the window for CLIMIT_RATE and CLIMIT_OK). */
enum climit_verdict climit_acquire(struct climit_table *t, uint64_t key,
                                   const struct climit_rule *r, uint32_t now_s,
                                   struct climit_hold *h, uint32_t *n);
/* climit_release - a held session ended; h is cleared */
void climit_release(struct climit_table *t, struct climit_hold *h);
/* climit_sessions - sessions counted for key now (for tests and tools) */
uint32_t climit_sessions(const struct climit_table *t, uint64_t key);

#endif
