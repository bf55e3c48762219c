/* authrate - failed AUTH checks per client (IPv4 address or IPv6 /64); see authrate.h */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "authrate.h"

int
authrate_init(struct authrate *r, uint32_t max_failures, uint64_t window_ms)
{
	r->rec = calloc(AUTHRATE_SIZE, sizeof(*r->rec));
	r->max_failures = max_failures;
	r->window_ms = window_ms;
	if (r->rec == NULL)
		return -1;
	if (getrandom(r->secret, sizeof(r->secret), 0) != (ssize_t)sizeof(r->secret)) {
		authrate_free(r);
		return -1;
	}
	return 0;
}

void
authrate_free(struct authrate *r)
{
	free(r->rec);
	r->rec = NULL;
}

/* id_of - the client's counting id */
static void
id_of(uint8_t family, const uint8_t *addr, uint8_t id[CLIMIT_ID_SIZE])
{
	struct cidr c = {.family = family, .len = family == 4 ? 32 : 128};

	memcpy(c.addr, addr, family == 4 ? 4 : 16);
	climit_client_id(&c, id);
}

/* rec_of - the record for id (possibly another client's, to be replaced);
 * keyed like climit's slots, so that a client cannot pick addresses that
 * land on another client's record and reset its count */
static struct authrate_rec *
rec_of(const struct authrate *r, const uint8_t id[CLIMIT_ID_SIZE])
{
	uint64_t h = XXH3_64bits_withSecret(id, CLIMIT_ID_SIZE, r->secret, sizeof(r->secret));

	return &r->rec[h % AUTHRATE_SIZE];
}

/* current - whether rec is id's, in a window not over yet */
static bool
current(const struct authrate *r, const struct authrate_rec *rec, const uint8_t *id, uint64_t now)
{
	return memcmp(rec->id, id, CLIMIT_ID_SIZE) == 0 && now - rec->since_ms < r->window_ms;
}

bool
authrate_limited(const struct authrate *r, uint8_t family, const uint8_t *addr, uint64_t now_ms)
{
	uint8_t id[CLIMIT_ID_SIZE];
	const struct authrate_rec *rec;

	id_of(family, addr, id);
	rec = rec_of(r, id);
	return current(r, rec, id, now_ms) && rec->fails >= r->max_failures;
}

void
authrate_fail(struct authrate *r, uint8_t family, const uint8_t *addr, uint64_t now_ms)
{
	uint8_t id[CLIMIT_ID_SIZE];
	struct authrate_rec *rec;

	id_of(family, addr, id);
	rec = rec_of(r, id);
	if (!current(r, rec, id, now_ms)) {
		memcpy(rec->id, id, CLIMIT_ID_SIZE);
		rec->fails = 0;
		rec->since_ms = now_ms;
	}
	rec->fails++;
}
