/* SPDX-License-Identifier: MIT */
/*
 * partrun.c - the node's side of a distributed run and of moving
 * partitions, for transports and test doubles (cluster.h):
 *
 *  - eau2_cluster_run_part runs a rower over one partition on the local
 *    pinned pool and returns its joined state encoded, instead of the
 *    finished result: what a node does for a remote RUN_STATE
 *    (eau2_remote_run_state, src/node/rrun.c).
 *  - eau2_cluster_copy_groups copies row groups into a new dataframe,
 *    value by value (O(data); a transport sends chunks instead).
 *  - eau2_cluster_keep_part and eau2_cluster_reduce_kept: a shuffle's
 *    steps keep and reduce for test doubles (rowers/shufstep.c does the
 *    work; a node over the network runs them as its built-in classes).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "df/df.h"
#include "node/remote.h"
#include "rowers/rowers.h"

int eau2_cluster_run_part(eau2 *db, const eau2_df *part,
			  const struct eau2_rower_class *cls,
			  const struct eau2_args *args, unsigned threads,
			  void **state, size_t *len, struct eau2_error *err)
{
	struct eau2_run_options ro = { .threads = threads };

	return eau2_remote_run_state(db, part, cls, args, &ro, state, len, err);
}

/* Appends rows [0, rows) of view v to column col of b. */
static int copy_view(eau2_builder *b, size_t col, const struct eau2_chunk_view *v,
		     struct eau2_error *err)
{
	int rc = 0;

	for (uint32_t i = 0; i < v->rows && rc == 0; i++)
		rc = eau2_builder_append_cell(b, col, v, i, err);
	return rc;
}

/* Appends row groups [group, group + ngroups) of src to b. */
static int copy_into(eau2_builder *b, const eau2_df *src, size_t group, size_t ngroups,
		     struct eau2_error *err)
{
	int rc = 0;

	for (size_t g = group; g < group + ngroups && rc == 0; g++)
		for (size_t c = 0; c < eau2_df_ncols(src) && rc == 0; c++) {
			struct eau2_chunk_view v;

			if ((rc = eau2_df_chunk(src, c, g, &v, err)) == 0)
				rc = copy_view(b, c, &v, err);
		}
	return rc;
}

static int finish(eau2_builder *b, int rc, eau2_df **out, struct eau2_error *err)
{
	if (rc) {
		eau2_builder_abort(b);
		return rc;
	}
	return eau2_builder_finish(b, out, err);
}

int eau2_cluster_copy_groups(eau2 *db, const eau2_df *src, size_t group,
			     size_t ngroups, eau2_df **out, struct eau2_error *err)
{
	eau2_builder *b = NULL;
	int rc;

	*out = NULL;
	if (group > eau2_df_ngroups(src) || ngroups > eau2_df_ngroups(src) - group)
		return eau2_error_set(err, -ERANGE, "copy: row groups %zu+%zu of %zu",
				      group, ngroups, eau2_df_ngroups(src));
	if ((rc = eau2_builder_new(db, eau2_df_schema(src), &b, err)))
		return rc;
	return finish(b, copy_into(b, src, group, ngroups, err), out, err);
}

bool eau2_cluster_same_schema(const eau2_schema *a, const eau2_schema *b)
{
	if (eau2_schema_ncols(a) != eau2_schema_ncols(b))
		return false;
	for (size_t c = 0; c < eau2_schema_ncols(a); c++)
		if (strcmp(eau2_schema_name(a, c), eau2_schema_name(b, c)) ||
		    eau2_schema_type(a, c) != eau2_schema_type(b, c))
			return false;
	return true;
}

int eau2_cluster_concat(eau2 *db, const eau2_schema *schema, eau2_df *const *dfs,
			size_t n, eau2_df **out, struct eau2_error *err)
{
	eau2_builder *b = NULL;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < n; i++)
		if (!eau2_cluster_same_schema(schema, eau2_df_schema(dfs[i])))
			return eau2_error_set(err, -EINVAL, "concat: dataframe %zu has another "
					      "schema", i);
	if ((rc = eau2_builder_new(db, schema, &b, err)))
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = copy_into(b, dfs[i], 0, eau2_df_ngroups(dfs[i]), err);
	return finish(b, rc, out, err);
}

/* ------------------------------------------------- shuffle steps */

int eau2_cluster_keep_part(eau2 *db, const eau2_df *part, const struct eau2_rower_class *cls,
			   const struct eau2_args *args, unsigned threads, const char *state,
			   size_t nsample, void **sample, size_t *slen, uint64_t *bytes,
			   struct eau2_error *err)
{
	struct eau2_run_options ro = { .threads = threads };
	void *buf = NULL;
	size_t len = 0;
	int rc;

	*bytes = 0;
	if (nsample == 0)
		return eau2_error_set(err, -EINVAL, "keep: no sample asked");
	if ((rc = eau2_remote_run_sample(db, part, cls, args, &ro, nsample, sample, slen,
					 &buf, &len, err)))
		return rc;
	if ((rc = eau2_shuffle_blob_put(db, state, buf, len, err))) {
		free(*sample);
		*sample = NULL;
	}
	*bytes = rc ? 0 : len;
	free(buf);
	return rc;
}

int eau2_cluster_reduce_kept(eau2 *db, const struct eau2_rower_class *cls,
			     const struct eau2_args *args, const eau2_schema *schema,
			     const char *const *names, size_t n, const char *out,
			     struct eau2_cluster_part_out *info, struct eau2_error *err)
{
	eau2_df *res = NULL;
	int rc;

	memset(info, 0, sizeof(*info));
	if ((rc = eau2_shuffle_reduce(db, cls, args, schema, names, n, &res, err)) ||
	    (rc = eau2_put(db, out, res, err)) ||
	    (rc = eau2_schema_copy(eau2_df_schema(res), &info->schema, err)))
		goto out;
	info->rows = eau2_df_rows(res);
	info->bytes = eau2_df_bytes(res);
	info->groups = (uint32_t)eau2_df_ngroups(res);
out:
	eau2_df_release(res);
	return rc;
}

