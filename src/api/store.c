/* SPDX-License-Identifier: MIT */
/*
 * store.c - the public calls on a store handle: eau2_open, eau2_close,
 * eau2_dir, eau2_gc, eau2_put, eau2_get, eau2_wait_get, eau2_delete,
 * eau2_list, and the public forms of the builders, loaders, zip and
 * eau2_run, which work on the handle's local store (src/df, src/rowers
 * take the store itself, struct eau2_store, and never see this handle
 * but to pass it on to rowers).
 *
 * The calls on keys check their arguments here and go to the handle's
 * backend (api.h); what a get returns is verified here when asked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "df/df.h"
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
	db->be = &eau2_backend_local;
	rc = eau2_shm_open(&db->store, dir, err);
	if (!rc && (rc = db->be->open(db, err)))
		eau2_shm_close(db->store);
	if (rc) {
		free(db);
		return rc;
	}
	*out = db;
	return 0;
}

void eau2_close(eau2 *db)
{
	if (!db)
		return;
	db->be->close(db);
	eau2_shm_close(db->store);
	free(db);
}

const char *eau2_dir(const eau2 *db)
{
	return db->store->dir;
}

int eau2_gc(eau2 *db, struct eau2_error *err)
{
	if (!db)
		return eau2_error_set(err, -EINVAL, "gc: store is required");
	return db->be->gc(db, err);
}

int eau2_put(eau2 *db, const char *key, eau2_df *df, struct eau2_error *err)
{
	if (!db || !df)
		return eau2_error_set(err, -EINVAL, "put: store and dataframe are required");
	return db->be->put(db, key, df, err);
}

int eau2_delete(eau2 *db, const char *key, struct eau2_error *err)
{
	if (!db)
		return eau2_error_set(err, -EINVAL, "delete: store is required");
	return db->be->del(db, key, err);
}

int eau2_list(eau2 *db, char ***keys, size_t *n, struct eau2_error *err)
{
	if (!db)
		return eau2_error_set(err, -EINVAL, "list: store is required");
	return db->be->list(db, keys, n, err);
}

static int verify_all(void)
{
	const char *v = getenv("EAU2_VERIFY");

	return v && *v && strcmp(v, "0") != 0;
}

/* What every get returns passes here: the check the handle asks for. */
static int got(int rc, eau2_df **df, struct eau2_error *err)
{
	if (!rc && verify_all() && (rc = eau2_df_verify(*df, err))) {
		eau2_df_release(*df);
		*df = NULL;
	}
	return rc;
}

int eau2_get(eau2 *db, const char *key, eau2_df **df, struct eau2_error *err)
{
	*df = NULL;
	if (!db)
		return eau2_error_set(err, -EINVAL, "get: store is required");
	return got(db->be->get(db, key, df, err), df, err);
}

int eau2_wait_get(eau2 *db, const char *key, int timeout_ms, eau2_df **df,
		  struct eau2_error *err)
{
	*df = NULL;
	if (!db)
		return eau2_error_set(err, -EINVAL, "wait_get: store is required");
	return got(db->be->wait_get(db, key, timeout_ms, df, err), df, err);
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
