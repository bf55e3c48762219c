/* pol_rcu - publish snapshots to reader threads with liburcu's QSBR flavour
 *
 * Readers (the dataplane's lcores) pay nothing per lookup: they read the
 * live pointer and announce a quiescent state once per poll loop, after
 * which they hold no snapshot. The writer (the control thread) builds a
 * complete snapshot, gives it one Hyperscan scratch per registered reader,
 * swaps the pointer and frees the old snapshot after a grace period.
 *
 * Who touches what:
 *   live             readers: ro (rcu_dereference); writer: rw under lock
 *   readers[]        writer and registering threads, under lock
 *   snap->scratch[i] reader i only, once published; writer before that
 *   readers[i].fc    reader i only (its cache of input facts, pol_fcache.c)
 */
#define _LGPL_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <urcu-qsbr.h>

#include "pol_impl.h"

struct pol_reader {
	unsigned slot;
	bool used;
	struct pol_fcache *fc; /* reader: rw; made at register, freed at unregister */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pol_snapshot *live;
static struct pol_reader readers[POL_MAX_READERS];
static uint64_t last_version;

unsigned
pol_reader_slot(const struct pol_reader *r)
{
	return r->slot;
}

struct pol_fcache *
pol_reader_fcache(struct pol_reader *r)
{
	return r->fc;
}

void
pol_reader_cache_stats(const struct pol_reader *r, uint64_t *hits, uint64_t *misses)
{
	pol_fcache_stats(r != NULL ? r->fc : NULL, hits, misses);
}

bool
pol_reader_cache_sampling(const struct pol_reader *r, uint64_t *bypassed)
{
	return pol_fcache_sampling(r != NULL ? r->fc : NULL, bypassed);
}

/* pol_reader_register - the lock is taken before the thread goes online, so
 * that a writer waiting for a grace period under the lock never waits for
 * a thread that is itself waiting for the lock */
struct pol_reader *
pol_reader_register(void)
{
	struct pol_reader *r = NULL;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < POL_MAX_READERS; i++) {
		if (!readers[i].used) {
			r = &readers[i];
			r->slot = i;
			r->used = true;
			break;
		}
	}
	if (r != NULL) {
		r->fc = pol_fcache_new();
		if (r->fc == NULL ||
		    (live != NULL && live->scratch0 != NULL && live->scratch[r->slot] == NULL &&
		     hs_clone_scratch(live->scratch0, &live->scratch[r->slot]) != HS_SUCCESS)) {
			pol_fcache_free(r->fc);
			r->fc = NULL;
			r->used = false;
			r = NULL;
		} else {
			rcu_register_thread();
		}
	}
	pthread_mutex_unlock(&lock);
	return r;
}

void
pol_reader_unregister(struct pol_reader *r)
{
	if (r == NULL)
		return;
	rcu_unregister_thread();
	pthread_mutex_lock(&lock);
	if (live != NULL) {
		hs_free_scratch(live->scratch[r->slot]);
		live->scratch[r->slot] = NULL;
	}
	pol_fcache_free(r->fc);
	r->fc = NULL;
	r->used = false;
	pthread_mutex_unlock(&lock);
}

const struct pol_snapshot *
pol_live(struct pol_reader *r)
{
	(void)r;
	return rcu_dereference(live);
}

void
pol_quiescent(struct pol_reader *r)
{
	(void)r;
	rcu_quiescent_state();
}

void
pol_reader_offline(struct pol_reader *r)
{
	(void)r;
	rcu_thread_offline();
}

void
pol_reader_online(struct pol_reader *r)
{
	(void)r;
	rcu_thread_online();
}

uint64_t
pol_publish(struct pol_snapshot *s, struct pol_errs *errs)
{
	struct pol_snapshot *old;
	uint64_t v;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < POL_MAX_READERS; i++) {
		if (!readers[i].used || s->scratch0 == NULL)
			continue;
		if (hs_clone_scratch(s->scratch0, &s->scratch[i]) != HS_SUCCESS) {
			pthread_mutex_unlock(&lock);
			pol_errs_add(errs, "-", 0, "out of memory for Hyperscan scratch");
			pol_snapshot_free(s);
			return 0;
		}
	}
	v = s->version = ++last_version;
	old = rcu_xchg_pointer(&live, s);
	synchronize_rcu();
	pthread_mutex_unlock(&lock);
	pol_snapshot_free(old);
	return v;
}

void
pol_unpublish(void)
{
	struct pol_snapshot *old;

	pthread_mutex_lock(&lock);
	old = rcu_xchg_pointer(&live, NULL);
	synchronize_rcu();
	pthread_mutex_unlock(&lock);
	pol_snapshot_free(old);
}
