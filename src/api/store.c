/* SPDX-License-Identifier: MIT */
/*
 * store.c - the public calls on a store handle: eau2_open, eau2_close,
 * eau2_dir, eau2_gc, eau2_put, eau2_get, eau2_wait_get, eau2_delete,
 * eau2_list, and the public forms of the builders, loaders, zip and
 * eau2_run, which work on the handle's local store (src/df, src/rowers
 * take the store itself, struct eau2_store, and never see this handle
 * but to pass it on to rowers).
 *
 * Gets go through the store's eau2-node when one serves it (the node
 * counts references; the dataframe's release hook gives its count back)
 * and through the files otherwise, or when the node goes away.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "df/df.h"
#include "node/node.h"
#include "rowers/rowers.h"
#include "shm/shm.h"

static struct eau2_store *store_of(eau2 *db)
{
	return db ? db->store : NULL;
}

int eau2_open(eau2 **out, const char *dir, struct eau2_error *err)
{
	eau2 *db;
	int rc;

	*out = NULL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	rc = eau2_shm_open(&db->store, dir, err);
	if (rc) {
		free(db);
		return rc;
	}
	/* When an eau2-node serves this store, gets go through it (it counts
	 * references); otherwise, or when it goes away, through the files.
	 * The client re-attaches by itself when its node restarts. */
	if (eau2_node_attach(db->store->dir, &db->node, NULL) != 0)
		db->node = NULL;
	*out = db;
	return 0;
}

void eau2_close(eau2 *db)
{
	if (!db)
		return;
	eau2_node_client_unref(db->node); /* dataframes got through it keep it */
	eau2_shm_close(db->store);
	free(db);
}

const char *eau2_dir(const eau2 *db)
{
	return db->store->dir;
}

int eau2_gc(eau2 *db, struct eau2_error *err)
{
	return eau2_shm_gc(db->store, err);
}

int eau2_put(eau2 *db, const char *key, eau2_df *df, struct eau2_error *err)
{
	return eau2_put_in(store_of(db), key, df, err);
}

int eau2_delete(eau2 *db, const char *key, struct eau2_error *err)
{
	return eau2_delete_in(db->store, key, err);
}

int eau2_list(eau2 *db, char ***keys, size_t *n, struct eau2_error *err)
{
	return eau2_shm_keys_list(db->store, keys, n, err);
}

/* The release hook of a dataframe got through the node: the node's
 * count of it, then the reference to the client it holds. */
static void node_release(void *ctx, uint64_t id)
{
	eau2_node_release(ctx, id);
	eau2_node_client_unref(ctx);
}

static int verify_all(void)
{
	const char *v = getenv("EAU2_VERIFY");

	return v && *v && strcmp(v, "0") != 0;
}

int eau2_get(eau2 *db, const char *key, eau2_df **df, struct eau2_error *err)
{
	int rc;

	*df = NULL;
	if (!db)
		return eau2_error_set(err, -EINVAL, "get: store is required");
	rc = -ENOTCONN;
	if (db->node) {
		/* -ENOTCONN: no node now; the files serve as well. */
		rc = eau2_node_get(db->node, db->store, key, df, err);
		if (rc && rc != -ENOTCONN)
			return rc;
		if (!rc)
			eau2_df_set_release(*df, node_release,
					    eau2_node_client_ref(db->node));
	}
	if (rc == -ENOTCONN) {
		rc = eau2_get_in(db->store, key, df, err);
		if (rc)
			return rc;
	}
	if (verify_all() && (rc = eau2_df_verify(*df, err))) {
		eau2_df_release(*df);
		*df = NULL;
	}
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int eau2_wait_get(eau2 *db, const char *key, int timeout_ms, eau2_df **df,
		  struct eau2_error *err)
{
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int fd, rc;

	rc = eau2_shm_keys_watch(db->store, &fd, err);
	if (rc)
		return rc;
	for (;;) {
		int wait;

		rc = eau2_get(db, key, df, err);
		if (rc != -ENOENT)
			break;
		wait = timeout_ms < 0 ? -1 : (int)(deadline - now_ms());
		if (timeout_ms >= 0 && wait <= 0) {
			rc = eau2_error_set(err, -ETIMEDOUT,
					    "key '%s' did not appear within %d ms", key, timeout_ms);
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

/* ------------------------------------------- built in the local store */

int eau2_builder_new(eau2 *db, const eau2_schema *schema,
		     eau2_builder **builder, struct eau2_error *err)
{
	return eau2_builder_new_in(store_of(db), schema, builder, err);
}

int eau2_load(eau2 *db, const char *path, const struct eau2_load_options *opt,
	      eau2_df **df, struct eau2_load_stats *stats, struct eau2_error *err)
{
	return eau2_load_in(store_of(db), path, opt, df, stats, err);
}

int eau2_df_zip(eau2 *db, const eau2_df *a, const eau2_df *b, eau2_df **out,
		struct eau2_error *err)
{
	return eau2_df_zip_in(store_of(db), a, b, out, err);
}

int eau2_df_from_array(eau2 *db, const char *name, enum eau2_type type,
		       const void *values, size_t n, eau2_df **df,
		       struct eau2_error *err)
{
	return eau2_df_from_array_in(store_of(db), name, type, values, n, df, err);
}

int eau2_df_from_scalar(eau2 *db, const char *name, enum eau2_type type,
			const void *value, eau2_df **df, struct eau2_error *err)
{
	return eau2_df_from_array_in(store_of(db), name, type, value, 1, df, err);
}

int eau2_df_from_visitor(eau2 *db, const eau2_schema *schema, eau2_fill_fn fill,
			 void *ctx, eau2_df **df, struct eau2_error *err)
{
	return eau2_df_from_visitor_in(store_of(db), schema, fill, ctx, df, err);
}

int eau2_run(eau2 *db, const eau2_df *df, const struct eau2_rower_class *cls,
	     const struct eau2_args *args, const struct eau2_run_options *opt,
	     eau2_df **result, struct eau2_error *err)
{
	return eau2_run_in(store_of(db), db, df, cls, args, opt, result, err);
}
