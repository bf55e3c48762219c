/* pol_hs - Hyperscan databases for the policy's globs and regexes, cached
 *
 * Compiling is the slow part of a push (seconds for thousands of regexes on
 * this machine class), and most pushes change lists, not patterns. So every
 * database is kept by a 128-bit hash of what it was compiled from (Hyperscan
 * version, patterns, flags): in memory for the running gate, and on
 * disk when a cache directory is set (for the CLI, which starts afresh each
 * run). A file from disk is trusted only after its header (magic, pattern
 * hash, Hyperscan version, platform) and a checksum of its bytes match.
 *
 * Runs on the control thread (or the CLI); the mutex only guards the cache
 * against a second control thread such as a test's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "pol_impl.h"

#define HS_CACHE_MAX 32 /* databases kept in memory beyond those in use */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pol_hsdb *cache[HS_CACHE_MAX]; /* most recent first; each holds one ref */
static char *cache_dir;

struct disk_header {
	char magic[8];
	uint8_t hash[16];
	char hs_version[80];
	hs_platform_info_t platform;
	uint64_t len;
	uint64_t checksum;
};

static const char disk_magic[8] = "SGHSDB1";

/* pol_hs_check - whether Hyperscan accepts a regex, and why not */
int
pol_hs_check(const char *expr, unsigned flags, char *why, size_t whylen)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *err = NULL;

	if (hs_expression_info(expr, flags | HS_FLAG_CASELESS, &info, &err) != HS_SUCCESS) {
		snprintf(why, whylen, "Hyperscan refuses /%s/: %s", expr,
		         err != NULL ? err->message : "unknown error");
		hs_free_compile_error(err);
		return -1;
	}
	free(info);
	return 0;
}

void
pol_hs_cache_dir(const char *dir)
{
	pthread_mutex_lock(&cache_lock);
	free(cache_dir);
	cache_dir = dir != NULL ? strdup(dir) : NULL;
	pthread_mutex_unlock(&cache_lock);
}

/* hsdb_unref - drop a reference; cache_lock held */
static void
hsdb_unref(struct pol_hsdb *d)
{
	if (d != NULL && --d->refs == 0) {
		hs_free_database(d->db);
		free(d);
	}
}

void
pol_hs_put(struct pol_hsdb *d)
{
	pthread_mutex_lock(&cache_lock);
	hsdb_unref(d);
	pthread_mutex_unlock(&cache_lock);
}

void
pol_hs_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < HS_CACHE_MAX; i++) {
		hsdb_unref(cache[i]);
		cache[i] = NULL;
	}
	pthread_mutex_unlock(&cache_lock);
}

/* cache_insert - put d at the front; cache_lock held */
static void
cache_insert(struct pol_hsdb *d)
{
	hsdb_unref(cache[HS_CACHE_MAX - 1]);
	memmove(&cache[1], &cache[0], (HS_CACHE_MAX - 1) * sizeof(cache[0]));
	cache[0] = d;
	d->refs++;
}

/* cache_find - a database with that hash, moved to the front; cache_lock held */
static struct pol_hsdb *
cache_find(const uint8_t hash[16])
{
	for (size_t i = 0; i < HS_CACHE_MAX && cache[i] != NULL; i++) {
		if (memcmp(cache[i]->hash, hash, 16) == 0) {
			struct pol_hsdb *d = cache[i];

			memmove(&cache[1], &cache[0], i * sizeof(cache[0]));
			cache[0] = d;
			return d;
		}
	}
	return NULL;
}

static void
disk_path(char *buf, size_t size, const uint8_t hash[16])
{
	int n = snprintf(buf, size, "%s/", cache_dir);

	for (int i = 0; i < 16 && n > 0 && (size_t)n + 3 < size; i++)
		n += snprintf(buf + n, size - (size_t)n, "%02x", hash[i]);
	if (n > 0 && (size_t)n + 4 < size)
		snprintf(buf + n, size - (size_t)n, ".hsdb");
}

/* disk_load - a database from the cache directory, if it is there and sound */
static hs_database_t *
disk_load(const uint8_t hash[16])
{
	char path[4096];
	struct disk_header h, want = {0};
	hs_database_t *db = NULL;
	struct stat st;
	char *bytes = NULL;
	int fd;

	if (cache_dir == NULL)
		return NULL;
	disk_path(path, sizeof(path), hash);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	memcpy(want.magic, disk_magic, sizeof(disk_magic));
	snprintf(want.hs_version, sizeof(want.hs_version), "%s", hs_version());
	if (hs_populate_platform(&want.platform) != HS_SUCCESS)
		goto out;
	if (fstat(fd, &st) < 0 || read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h))
		goto out;
	if (memcmp(h.magic, want.magic, sizeof(h.magic)) != 0 || memcmp(h.hash, hash, 16) != 0 ||
	    memcmp(h.hs_version, want.hs_version, sizeof(h.hs_version)) != 0 ||
	    memcmp(&h.platform, &want.platform, sizeof(h.platform)) != 0 ||
	    h.len != (uint64_t)st.st_size - sizeof(h) || h.len > (1ull << 32))
		goto out;
	bytes = malloc(h.len);
	if (bytes == NULL || read(fd, bytes, h.len) != (ssize_t)h.len ||
	    XXH3_64bits(bytes, h.len) != h.checksum)
		goto out;
	if (hs_deserialize_database(bytes, h.len, &db) != HS_SUCCESS)
		db = NULL;
out:
	free(bytes);
	close(fd);
	return db;
}

/* disk_store - write a database to the cache directory, atomically */
static void
disk_store(const uint8_t hash[16], const hs_database_t *db)
{
	char path[4096], tmp[4200];
	struct disk_header h = {0};
	char *bytes = NULL;
	size_t len;
	int fd;

	if (cache_dir == NULL || hs_serialize_database(db, &bytes, &len) != HS_SUCCESS)
		return;
	memcpy(h.magic, disk_magic, sizeof(disk_magic));
	memcpy(h.hash, hash, 16);
	snprintf(h.hs_version, sizeof(h.hs_version), "%s", hs_version());
	hs_populate_platform(&h.platform);
	h.len = len;
	h.checksum = XXH3_64bits(bytes, len);
	mkdir(cache_dir, 0700);
	disk_path(path, sizeof(path), hash);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		bool ok = write(fd, &h, sizeof(h)) == (ssize_t)sizeof(h) &&
		          write(fd, bytes, len) == (ssize_t)len;

		if (close(fd) == 0 && ok)
			ok = rename(tmp, path) == 0;
		if (!ok)
			unlink(tmp);
	}
	free(bytes);
}

/* pattern_hash - what identifies a database */
static void
pattern_hash(const char *const *exprs, const unsigned *flags, size_t n, uint8_t out[16])
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_hash_t h;
	const char *v = hs_version();

	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, v, strlen(v) + 1);
	XXH3_128bits_update(st, &n, sizeof(n));
	for (size_t i = 0; i < n; i++) {
		XXH3_128bits_update(st, exprs[i], strlen(exprs[i]) + 1);
		XXH3_128bits_update(st, &flags[i], sizeof(flags[i]));
	}
	h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	XXH128_canonicalFromHash((XXH128_canonical_t *)out, h);
}

/* pol_hs_get - a database for these patterns, from a cache or compiled.
 * Hyperscan reports pattern i as id i; ents[map[i]] is its entry, so that
 * errors name file:line. The ids do not depend on where the patterns sit
 * in the policy, so adding an exact entry does not invalidate the cache. */
struct pol_hsdb *
pol_hs_get(const char *const *exprs, const unsigned *flags, const uint32_t *map, size_t n,
           bool *cached, struct pol_errs *errs, const struct pol_entry *ents)
{
	uint8_t hash[16];
	struct pol_hsdb *d;
	hs_database_t *db;
	hs_compile_error_t *err = NULL;
	unsigned *ids = malloc(n * sizeof(*ids));

	if (ids == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ids[i] = (unsigned)i;
	pattern_hash(exprs, flags, n, hash);
	pthread_mutex_lock(&cache_lock);
	d = cache_find(hash);
	if (d != NULL) {
		d->refs++;
		*cached = true;
		pthread_mutex_unlock(&cache_lock);
		free(ids);
		return d;
	}
	db = disk_load(hash);
	*cached = db != NULL;
	pthread_mutex_unlock(&cache_lock);
	if (db == NULL && hs_compile_multi(exprs, flags, ids, (unsigned)n, HS_MODE_BLOCK, NULL, &db,
	                                   &err) != HS_SUCCESS) {
		if (err != NULL && err->expression >= 0 && (size_t)err->expression < n) {
			const struct pol_entry *e = &ents[map[err->expression]];

			pol_errs_add(errs, e->file, e->line, "%s: Hyperscan refuses %s: %s",
			             pol_list_name(e->list), e->text, err->message);
		} else {
			pol_errs_add(errs, ents[map[0]].file, 0, "Hyperscan cannot compile: %s",
			             err != NULL ? err->message : "unknown error");
		}
		hs_free_compile_error(err);
		free(ids);
		return NULL;
	}
	free(ids);
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		hs_free_database(db);
		return NULL;
	}
	d->db = db;
	memcpy(d->hash, hash, 16);
	d->refs = 1;
	d->npatterns = n;
	hs_database_size(db, &d->bytes);
	pthread_mutex_lock(&cache_lock);
	if (!*cached)
		disk_store(hash, db);
	cache_insert(d);
	pthread_mutex_unlock(&cache_lock);
	return d;
}
