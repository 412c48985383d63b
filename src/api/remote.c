/* SPDX-License-Identifier: MIT */
/*
 * remote.c - the "remote" backend: keys are those of an eau2-node on
 * another host (opt.remote, "HOST:PORT"), reached through src/node's
 * remote client over uring_net. eau2_put pushes the local dataframe there
 * (published there only once complete); eau2_get pulls the node's
 * dataframe into the local store, where it is mapped like any other and
 * belongs to no key (released, its files go); eau2_run_key runs on the
 * node and only its result crosses the network.
 *
 * Every step is bounded by opt.timeout_ms (0: the transport's defaults);
 * errors name the peer. A wait_get longer than one request may ask for is
 * a sequence of bounded waits.
 *
 * Access rules: the state (the client) belongs to the handle and is used
 * by one thread at a time, as the handle is; dataframes it returns live
 * in the local store and need nothing from it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "node/remote.h"
#include "shm/shm.h"
#include "util/clock.h"

static int remote_open(eau2 *db, struct eau2_error *err)
{
	eau2_remote *r = NULL;
	int rc = eau2_remote_open(&r, db->opt.remote, db->opt.secret_file, db->opt.timeout_ms,
				  err);

	db->be_state = r;
	if (!rc && db->opt.progress)
		eau2_remote_set_progress(r, &(struct eau2_remote_progress){
						    db->opt.progress, db->opt.progress_ctx });
	return rc;
}

static void remote_close(eau2 *db)
{
	eau2_remote_close(db->be_state);
	db->be_state = NULL;
}

static int remote_put(eau2 *db, const char *key, eau2_df *df, struct eau2_error *err)
{
	return eau2_remote_put(db->be_state, key, df, 0, eau2_df_ngroups(df), err);
}

static int remote_get(eau2 *db, const char *key, eau2_df **df, struct eau2_error *err)
{
	return eau2_remote_get(db->be_state, db, key, 0, UINT64_MAX, -1, df, err);
}

static int remote_wait_get(eau2 *db, const char *key, int timeout_ms, eau2_df **df,
			   struct eau2_error *err)
{
	int64_t deadline = eau2_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		int64_t t0 = eau2_mono_ms(), left = timeout_ms < 0 ? EAU2_REMOTE_WAIT_SLICE_MS
							       : deadline - t0;
		int rc;

		if (left > EAU2_REMOTE_WAIT_SLICE_MS)
			left = EAU2_REMOTE_WAIT_SLICE_MS;
		if (left < 1)
			left = 1;
		rc = eau2_remote_get(db->be_state, db, key, 0, UINT64_MAX, (int)left, df, err);
		if (rc != -ETIMEDOUT && rc != -ENOENT)
			return rc;
		if (timeout_ms >= 0 && eau2_mono_ms() >= deadline)
			return eau2_error_set(err, -ETIMEDOUT, "peer %s: key '%s' did not appear "
					      "within %d ms", eau2_remote_addr(db->be_state), key,
					      timeout_ms);
		/* A node whose workers are all busy waiting answers at once:
		 * ask again a little later, not in a tight loop. */
		if (rc == -ENOENT && eau2_mono_ms() - t0 < left) {
			int64_t pause = left < 100 ? left : 100;
			struct timespec ts = { 0, (long)pause * 1000000 };

			nanosleep(&ts, NULL);
		}
	}
}

static int remote_del(eau2 *db, const char *key, struct eau2_error *err)
{
	return eau2_remote_delete(db->be_state, key, err);
}

static int remote_list(eau2 *db, char ***keys, size_t *n, struct eau2_error *err)
{
	return eau2_remote_list(db->be_state, keys, n, err);
}

/* Garbage on the node is the node's: its own store's gc. Here, the local
 * store's, where pulled dataframes are built. */
static int remote_gc(eau2 *db, struct eau2_error *err)
{
	return eau2_shm_gc(db->store, err);
}

static int remote_stat(eau2 *db, const char *key, struct eau2_stat *st,
		       struct eau2_error *err)
{
	struct eau2_remote_desc d;
	int rc = eau2_remote_stat(db->be_state, key, &d, err);

	if (rc)
		return rc;
	*st = (struct eau2_stat){ .rows = d.rows, .bytes = d.bytes, .ngroups = d.ngroups,
				  .schema = d.schema };
	d.schema = NULL;
	eau2_remote_desc_free(&d);
	return 0;
}

static int remote_get_head(eau2 *db, const char *key, uint64_t rows, eau2_df **df,
			   struct eau2_error *err)
{
	struct eau2_remote_desc d;
	uint64_t have = 0;
	size_t groups = 0;
	int rc;

	/* Row groups may be shorter than EAU2_CHUNK_ROWS (a parallel load's
	 * split points): the descriptor says how many hold `rows`. */
	if ((rc = eau2_remote_stat(db->be_state, key, &d, err)))
		return rc;
	while (groups < d.ngroups && have < rows)
		have += d.group_rows[groups++];
	eau2_remote_desc_free(&d);
	return eau2_remote_get(db->be_state, db, key, 0, groups, -1, df, err);
}

static int remote_run_key(eau2 *db, const char *key, const struct eau2_rower_class *cls,
			  const struct eau2_args *args, const struct eau2_run_options *opt,
			  const char *as, eau2_df **result, struct eau2_error *err)
{
	uint64_t rows;

	return eau2_remote_run(db->be_state, db, cls->name, args, key, as,
			       opt ? opt->threads : 0, result, &rows, err);
}

const struct eau2_backend eau2_backend_remote = {
	.name = "remote",
	.open = remote_open,
	.close = remote_close,
	.put = remote_put,
	.get = remote_get,
	.wait_get = remote_wait_get,
	.del = remote_del,
	.list = remote_list,
	.gc = remote_gc,
	.stat = remote_stat,
	.get_head = remote_get_head,
	.run_key = remote_run_key,
};
