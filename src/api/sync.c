/* SPDX-License-Identifier: MIT */
/*
 * sync.c - the public calls of shared state (eau2.h: eau2_watch,
 * eau2_lock, eau2_unlock): argument checks, then the backend's watch,
 * lock and unlock (api.h); a backend without them (remote) answers
 * -ENOTSUP naming itself.
 *
 * Access rules: those of the handle; a lock belongs to the thread that
 * took it until eau2_unlock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static int unsupported(eau2 *db, const char *what, struct eau2_error *err)
{
	return eau2_error_set(err, -ENOTSUP, "%s is not supported on a %s store (%s): "
			      "use the node's own store or a cluster", what, db->be->name,
			      db->opt.remote ? db->opt.remote : eau2_dir(db));
}

int eau2_watch(eau2 *db, const char *key, int timeout_ms, uint64_t *version,
	       struct eau2_error *err)
{
	uint64_t now = EAU2_VERSION_ANY;
	int rc;

	if (!db || !key)
		return eau2_error_set(err, -EINVAL, "watch: store and key are required");
	if (!db->be->watch)
		return unsupported(db, "watch", err);
	if (!version) {
		/* The version now (the first read never equals ANY), then a
		 * change from it. */
		if ((rc = db->be->watch(db, key, 0, &now, err)))
			return rc;
		version = &now;
	}
	return db->be->watch(db, key, timeout_ms, version, err);
}

/* 1-EAU2_LOCK_NAME_MAX bytes of [A-Za-z0-9._:-], not "." or "..": a file
 * name and a znode name as it is. */
static int check_lock_name(const char *name, struct eau2_error *err)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n > EAU2_LOCK_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("._:-", c)))
			goto bad;
	}
	return 0;
bad:
	return eau2_error_set(err, -EINVAL, "lock name '%.*s%s' is not 1-%d bytes of "
			      "[A-Za-z0-9._:-]", 64, name ? name : "",
			      n > 64 ? "..." : "", EAU2_LOCK_NAME_MAX);
}

int eau2_lock(eau2 *db, const char *name, int timeout_ms, struct eau2_lock **lock,
	      struct eau2_error *err)
{
	struct eau2_lock *lk;
	int rc;

	*lock = NULL;
	if (!db)
		return eau2_error_set(err, -EINVAL, "lock: store is required");
	if ((rc = check_lock_name(name, err)))
		return rc;
	if (!db->be->lock)
		return unsupported(db, "lock", err);
	if (!(lk = calloc(1, sizeof(*lk))))
		return eau2_error_set(err, -ENOMEM, "lock '%s': out of memory", name);
	lk->db = db;
	lk->fd = -1;
	strcpy(lk->name, name);
	if ((rc = db->be->lock(db, lk, timeout_ms, err))) {
		free(lk);
		return rc;
	}
	*lock = lk;
	return 0;
}

int eau2_unlock(struct eau2_lock *lock, struct eau2_error *err)
{
	int rc;

	if (!lock)
		return 0;
	rc = lock->db->be->unlock(lock, err);
	free(lock);
	return rc;
}
