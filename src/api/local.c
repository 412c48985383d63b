/* SPDX-License-Identifier: MIT */
/*
 * local.c - the "local" backend: keys are the local store's files
 * (src/df's store-level put, get and delete over src/shm). When an
 * eau2-node serves the store, gets go through it (it counts references;
 * the dataframe's release hook gives its count back); otherwise, or when
 * it goes away, through the files. The node client re-attaches by itself
 * when its node restarts.
 *
 * Access rules: the state is the node client, or NULL (embedded). It is
 * reference counted: the handle holds one reference and every dataframe
 * got through it another, released from whatever thread frees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "df/df.h"
#include "node/node.h"
#include "shm/shm.h"
#include "util/clock.h"

static int local_open(eau2 *db, struct eau2_error *err)
{
	struct eau2_node_client *node = NULL;

	/* Without a client (embedded, or out of memory for one) the files
	 * serve every call. */
	if (db->opt.node != EAU2_NODE_OFF &&
	    eau2_node_attach(db->store->dir, &node, NULL) != 0)
		node = NULL;
	db->be_state = node;
	return 0;
}

static void local_close(eau2 *db)
{
	eau2_node_client_unref(db->be_state); /* dataframes got through it keep it */
}

static int local_put(eau2 *db, const char *key, eau2_df *df, struct eau2_error *err)
{
	return eau2_put_in(db->store, key, df, err);
}

/* The release hook of a dataframe got through the node: the node's
 * count of it, then the reference to the client it holds. */
static void node_release(void *ctx, uint64_t id)
{
	eau2_node_release(ctx, id);
	eau2_node_client_unref(ctx);
}

static int local_get(eau2 *db, const char *key, eau2_df **df, struct eau2_error *err)
{
	struct eau2_node_client *node = db->be_state;
	int rc;

	if (node) {
		/* -ENOTCONN: no node now; the files serve as well. */
		rc = eau2_node_get(node, db->store, key, df, err);
		if (rc != -ENOTCONN) {
			if (!rc)
				eau2_df_set_release(*df, node_release,
						    eau2_node_client_ref(node));
			return rc;
		}
	}
	return eau2_get_in(db->store, key, df, err);
}

/* Calls probe until it returns other than -EAGAIN, sleeping on changes
 * of keys/ in between, at most timeout_ms (negative: forever); then
 * -ETIMEDOUT "key '...' did not <what> within ...". */
static int keys_wait(eau2 *db, const char *key, int timeout_ms, const char *what,
		     int (*probe)(eau2 *db, const char *key, void *ctx, struct eau2_error *err),
		     void *ctx, struct eau2_error *err)
{
	int64_t deadline = eau2_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int fd, rc;

	rc = eau2_shm_keys_watch(db->store, &fd, err);
	if (rc)
		return rc;
	for (;;) {
		int wait;

		rc = probe(db, key, ctx, err);
		if (rc != -EAGAIN)
			break;
		wait = timeout_ms < 0 ? -1 : (int)(deadline - eau2_mono_ms());
		if (timeout_ms >= 0 && wait <= 0) {
			rc = eau2_error_set(err, -ETIMEDOUT, "key '%s' did not %s within %d ms",
					    key, what, timeout_ms);
			break;
		}
		/* Wake at least every second: inotify misses renames made
		 * by another mount namespace's view of the directory. */
		rc = eau2_shm_keys_wait(fd, wait < 0 || wait > 1000 ? 1000 : wait);
		if (rc) {
			eau2_error_set(err, rc, "waiting for key '%s': %s", key, strerror(-rc));
			break;
		}
	}
	close(fd);
	return rc;
}

static int probe_get(eau2 *db, const char *key, void *df, struct eau2_error *err)
{
	int rc = local_get(db, key, df, err);

	return rc == -ENOENT ? -EAGAIN : rc;
}

static int local_wait_get(eau2 *db, const char *key, int timeout_ms, eau2_df **df,
			  struct eau2_error *err)
{
	return keys_wait(db, key, timeout_ms, "appear", probe_get, df, err);
}

static int local_delete(eau2 *db, const char *key, struct eau2_error *err)
{
	return eau2_delete_in(db->store, key, err);
}

static int local_list(eau2 *db, char ***keys, size_t *n, struct eau2_error *err)
{
	return eau2_shm_keys_list(db->store, keys, n, err);
}

static int local_gc(eau2 *db, struct eau2_error *err)
{
	return eau2_shm_gc(db->store, err);
}

/* ---------------------------------------------------------- shared state */

/* A key's version is the id of the dataframe it names (0: none). */
static int probe_version(eau2 *db, const char *key, void *version, struct eau2_error *err)
{
	uint64_t *seen = version, v = EAU2_VERSION_NONE;
	int rc = eau2_shm_key_read(db->store, key, &v, err);

	if (rc && rc != -ENOENT)
		return rc;
	if (rc)
		v = EAU2_VERSION_NONE;
	if (v == *seen)
		return -EAGAIN;
	*seen = v;
	return 0;
}

static int local_watch(eau2 *db, const char *key, int timeout_ms, uint64_t *version,
		       struct eau2_error *err)
{
	return keys_wait(db, key, timeout_ms, "change", probe_version, version, err);
}

/* flock has no timeout: a waiter polls, from 1 ms up to every 50 ms. */
#define LOCK_POLL_MAX_MS 50

/* DIR/locks/<name>, created when missing, never removed (removing a
 * file others may have open and be waiting on would let two hold it). */
static int lock_file(eau2 *db, const char *name, struct eau2_error *err)
{
	int dfd, fd;

	if (mkdirat(db->store->dirfd, "locks", 0700) < 0 && errno != EEXIST)
		return eau2_error_set(err, -errno, "lock '%s': %s/locks: %s", name,
				      db->store->dir, strerror(errno));
	dfd = openat(db->store->dirfd, "locks", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return eau2_error_set(err, -errno, "lock '%s': %s/locks: %s", name,
				      db->store->dir, errno == ELOOP ? "a symbolic link: refused"
				      : strerror(errno));
	fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = eau2_error_set(err, -errno, "lock '%s': %s/locks/%s: %s", name,
				    db->store->dir, name, errno == ELOOP ?
				    "a symbolic link: refused" : strerror(errno));
	close(dfd);
	return fd;
}

static int local_lock(eau2 *db, struct eau2_lock *lk, int timeout_ms, struct eau2_error *err)
{
	int64_t deadline = eau2_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int fd = lock_file(db, lk->name, err), step = 1;

	if (fd < 0)
		return fd;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int64_t left = deadline - eau2_mono_ms();
		int rc = -errno;

		if (rc == -EINTR)
			continue;
		if (rc != -EWOULDBLOCK) {
			close(fd);
			return eau2_error_set(err, rc, "lock '%s': %s/locks/%s: %s", lk->name,
					      db->store->dir, lk->name, strerror(-rc));
		}
		if (timeout_ms >= 0 && left <= 0) {
			close(fd);
			return eau2_error_set(err, -ETIMEDOUT, "lock '%s' (%s/locks/%s) is held "
					      "by another: not free within %d ms", lk->name,
					      db->store->dir, lk->name, timeout_ms);
		}
		if (timeout_ms >= 0 && left < step)
			step = (int)left;
		nanosleep(&(struct timespec){ .tv_nsec = step * 1000000L }, NULL);
		step = step * 2 > LOCK_POLL_MAX_MS ? LOCK_POLL_MAX_MS : step * 2;
	}
	lk->fd = fd;
	return 0;
}

/* Closing the only descriptor of the open file description drops the
 * flock. */
static int local_unlock(struct eau2_lock *lk, struct eau2_error *err)
{
	(void)err;
	close(lk->fd);
	return 0;
}

/* With EAU2_NODE_RUNS, on the node when one that runs serves the store;
 * else (or when the request cannot go there) here. */
static int local_run_key(eau2 *db, const char *key, const struct eau2_rower_class *cls,
			 const struct eau2_args *args, const struct eau2_run_options *opt,
			 const char *as, eau2_df **result, struct eau2_error *err)
{
	struct eau2_node_client *node = db->be_state;
	uint64_t rows;
	int rc;

	/* verify: the node does not check every chunk of its inputs */
	if (node && db->opt.node == EAU2_NODE_RUNS && !db->opt.verify) {
		/* threads 0 stays 0: the node sizes the run by the store's
		 * cores table, as this process would */
		rc = eau2_node_run(node, db->store, cls->name, args, key, as,
				   opt ? opt->threads : 0, opt ? opt->cancel : NULL, result,
				   &rows, err);
		/* -ENOEXEC: the node lacks the class (the caller's own) */
		if (rc != -ENOTCONN && rc != -ENOEXEC) {
			if (!rc && *result)
				eau2_df_set_release(*result, node_release,
						    eau2_node_client_ref(node));
			return rc;
		}
	}
	return eau2_api_run_here(db, key, cls, args, opt, as, result, err);
}

const struct eau2_backend eau2_backend_local = {
	.name = "local",
	.open = local_open,
	.close = local_close,
	.put = local_put,
	.get = local_get,
	.wait_get = local_wait_get,
	.del = local_delete,
	.list = local_list,
	.gc = local_gc,
	.watch = local_watch,
	.lock = local_lock,
	.unlock = local_unlock,
	.run_key = local_run_key,
};
