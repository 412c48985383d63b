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

/* Checks the options and picks the backend they ask for. */
static int pick_backend(const struct eau2_options *o, const struct eau2_backend **be,
			struct eau2_error *err)
{
	if (o->node != EAU2_NODE_AUTO && o->node != EAU2_NODE_OFF && o->node != EAU2_NODE_RUNS)
		return eau2_error_set(err, -EINVAL, "open: unknown node mode %d", (int)o->node);
	if (o->timeout_ms < 0)
		return eau2_error_set(err, -EINVAL, "open: timeout_ms %d is negative",
				      o->timeout_ms);
	if (o->remote && o->cluster)
		return eau2_error_set(err, -EINVAL,
				      "open: a remote node (%s) and a cluster (%s) are exclusive",
				      o->remote, o->cluster);
	/* The backends slot in here (api.h). */
	if (o->remote) {
		*be = &eau2_backend_remote;
		return 0;
	}
	if (o->cluster) {
		*be = &eau2_backend_cluster;
		return 0;
	}
	*be = &eau2_backend_local;
	return 0;
}

/* NULL stays NULL; 0 or -ENOMEM. */
static int copy_str(const char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -ENOMEM : 0;
}

static void handle_free(eau2 *db)
{
	eau2_shm_close(db->store);
	free((void *)db->opt.remote);
	free((void *)db->opt.cluster);
	free((void *)db->opt.secret_file);
	free(db);
}

int eau2_open(eau2 **out, const struct eau2_options *opt, struct eau2_error *err)
{
	static const struct eau2_options defaults;
	const struct eau2_backend *be = NULL;
	eau2 *db;
	int rc;

	*out = NULL;
	if (!opt)
		opt = &defaults;
	rc = pick_backend(opt, &be, err);
	if (rc)
		return rc;
	db = calloc(1, sizeof(*db));
	if (!db)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	db->be = be;
	db->opt = *opt;
	db->opt.store = NULL;
	if (copy_str(&db->opt.remote, opt->remote) ||
	    copy_str(&db->opt.cluster, opt->cluster) ||
	    copy_str(&db->opt.secret_file, opt->secret_file)) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	rc = eau2_shm_open(&db->store, opt->store, err);
	if (rc || (rc = db->be->open(db, err)))
		goto fail;
	*out = db;
	return 0;
fail:
	handle_free(db);
	return rc;
}

void eau2_close(eau2 *db)
{
	if (!db)
		return;
	db->be->close(db);
	handle_free(db);
}

const char *eau2_dir(const eau2 *db)
{
	return db->store->dir;
}

uint64_t eau2_page_size(const eau2 *db, const char **how)
{
	if (how)
		*how = db->store->pages.how;
	return db->store->pages.size;
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

/* What every get returns passes here: the check the handle asks for. */
static int got(eau2 *db, int rc, eau2_df **df, struct eau2_error *err)
{
	if (!rc && db->opt.verify && (rc = eau2_df_verify(*df, err))) {
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
	return got(db, db->be->get(db, key, df, err), df, err);
}

int eau2_wait_get(eau2 *db, const char *key, int timeout_ms, eau2_df **df,
		  struct eau2_error *err)
{
	*df = NULL;
	if (!db)
		return eau2_error_set(err, -EINVAL, "wait_get: store is required");
	return got(db, db->be->wait_get(db, key, timeout_ms, df, err), df, err);
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

int eau2_load_put(eau2 *db, const char *path, const char *key,
		  const struct eau2_load_options *opt, eau2_df **df,
		  struct eau2_load_stats *stats, struct eau2_error *err)
{
	eau2_df *out = NULL;
	int rc;

	if (df)
		*df = NULL;
	if (!db || !path || !key)
		return eau2_error_set(err, -EINVAL, "load: store, file and key are required");
	if (db->be->load_put)
		rc = db->be->load_put(db, path, key, opt, df ? &out : NULL, stats, err);
	else if (!(rc = eau2_load_in(store_of(db), path, opt, &out, stats, err)))
		rc = db->be->put(db, key, out, err);
	if (rc || !df)
		eau2_df_release(out);
	else
		*df = out;
	return rc;
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

/* ------------------------------------------------- stat, head, run on keys */

int eau2_stat(eau2 *db, const char *key, struct eau2_stat *st, struct eau2_error *err)
{
	eau2_df *df = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	if (!db)
		return eau2_error_set(err, -EINVAL, "stat: store is required");
	if (db->be->stat)
		return db->be->stat(db, key, st, err);
	if ((rc = db->be->get(db, key, &df, err)))
		return rc;
	rc = eau2_schema_copy(eau2_df_schema(df), &st->schema, err);
	st->rows = eau2_df_rows(df);
	st->bytes = eau2_df_bytes(df);
	st->ngroups = eau2_df_ngroups(df);
	eau2_df_release(df);
	return rc;
}

int eau2_get_head(eau2 *db, const char *key, uint64_t rows, eau2_df **df,
		  struct eau2_error *err)
{
	*df = NULL;
	if (!db)
		return eau2_error_set(err, -EINVAL, "get: store is required");
	if (!db->be->get_head)
		return eau2_get(db, key, df, err);
	return got(db, db->be->get_head(db, key, rows, df, err), df, err);
}

int eau2_on_node_event(eau2 *db, eau2_node_event_fn *fn, void *arg, struct eau2_error *err)
{
	if (!db)
		return eau2_error_set(err, -EINVAL, "node events: store is required");
	if (!db->be->on_node_event)
		return eau2_error_set(err, -ENOTSUP, "node events: a %s store has no nodes to "
				      "watch (open it with a cluster)", db->be->name);
	return db->be->on_node_event(db, fn, arg, err);
}

int eau2_run_key(eau2 *db, const char *key, const struct eau2_rower_class *cls,
		 const struct eau2_args *args, const struct eau2_run_options *opt,
		 const char *as, eau2_df **result, struct eau2_error *err)
{
	*result = NULL;
	if (!db || !cls)
		return eau2_error_set(err, -EINVAL, "run: store and rower are required");
	if (as && !as[0])
		as = NULL;
	if (db->be->run_key)
		return db->be->run_key(db, key, cls, args, opt, as, result, err);
	return eau2_api_run_here(db, key, cls, args, opt, as, result, err);
}

int eau2_api_run_here(eau2 *db, const char *key, const struct eau2_rower_class *cls,
		      const struct eau2_args *args, const struct eau2_run_options *opt,
		      const char *as, eau2_df **result, struct eau2_error *err)
{
	eau2_df *in = NULL, *out = NULL;
	int rc;

	if (key && (rc = eau2_get(db, key, &in, err)))
		return rc;
	rc = eau2_run(db, in, cls, args, opt, &out, err);
	eau2_df_release(in);
	return eau2_api_run_result(db, rc, out, as, result, err);
}

int eau2_api_run_result(eau2 *db, int rc, eau2_df *out, const char *as, eau2_df **result,
			struct eau2_error *err)
{
	if (!rc && as)
		rc = eau2_put(db, as, out, err);
	if (rc || as)
		eau2_df_release(out);
	else
		*result = out;
	return rc;
}
