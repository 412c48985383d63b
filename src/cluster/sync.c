/* SPDX-License-Identifier: MIT */
/*
 * sync.c - a cluster's shared state (cluster.h, eau2.h's eau2_watch and
 * eau2_lock): a watch on a key's directory entry (dir.h: keys/<enc>) and
 * ZooKeeper's lock recipe (zk.h) under locks/<name>.
 *
 * Waiting: each ZooKeeper call is bounded by the handle's timeout, each
 * wait by the caller's; a wait "forever" is a loop of bounded waits, so a
 * session that expires meanwhile ends it with -ENOTCONN.
 *
 * Access rules: those of the cluster handle (one thread at a time); a
 * lock may be released from any thread while its handle is open.
 */
#include <errno.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "cluster/dir.h"
#include "cluster/zk.h"

/* A wait "forever" is made of steps this long. */
#define FOREVER_STEP_MS 60000

static eau2_zk *zk_of(eau2_cluster *cl)
{
	const struct eau2_cluster_node_ops *ops;
	void *ctx;

	return eau2_cluster_zk(cl, &ops, &ctx);
}

int eau2_cluster_watch(eau2_cluster *cl, const char *key, int timeout_ms,
		       uint64_t *version, struct eau2_error *err)
{
	struct timespec dl = eau2_zk_deadline(timeout_ms);
	char path[EAU2_ZK_PATH_MAX];
	eau2_zk *zk = zk_of(cl);
	eau2_zk_watch *w = NULL;
	int rc;

	if ((rc = eau2_dir_key_path(key, path, err)) ||
	    (rc = eau2_zk_watch_new(zk, &w, err)))
		return rc;
	for (;;) {
		struct eau2_zk_stat st;
		uint64_t v;
		int left;

		/* Reading arms the watch on the entry's data, creation and
		 * removal: a change after this read fires it. */
		rc = eau2_zk_exists(zk, path, &st, w, err);
		if (rc && rc != -ENOENT)
			break;
		v = rc ? EAU2_VERSION_NONE : (uint64_t)st.mzxid;
		rc = 0;
		if (v != *version) {
			*version = v;
			break;
		}
		left = timeout_ms < 0 ? FOREVER_STEP_MS : eau2_zk_ms_left(&dl);
		if (!left) {
			rc = eau2_error_set(err, -ETIMEDOUT, "key '%s' did not change within %d ms",
					    key, timeout_ms);
			break;
		}
		rc = eau2_zk_watch_wait(w, left, err);
		if (rc && rc != -ETIMEDOUT)
			break;
	}
	eau2_zk_watch_free(w);
	return rc;
}

int eau2_cluster_lock(eau2_cluster *cl, const char *name, int timeout_ms,
		      struct eau2_zk_lock **lock, struct eau2_error *err)
{
	int rc;

	/* Forever: a new place in the queue each step (the recipe leaves
	 * no znode behind on a timeout). */
	do {
		rc = eau2_zk_lock_take(zk_of(cl), name,
				       timeout_ms < 0 ? FOREVER_STEP_MS : timeout_ms, lock, err);
	} while (rc == -ETIMEDOUT && timeout_ms < 0);
	if (rc == -ETIMEDOUT)
		eau2_error_prefix(err, rc, "lock '%s' is held by another", name);
	return rc;
}

int eau2_cluster_unlock(struct eau2_zk_lock *lock, struct eau2_error *err)
{
	return eau2_zk_lock_release(lock, err);
}
