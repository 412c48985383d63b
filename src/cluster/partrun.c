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
 *  - a shuffle's steps (keep, cut, reduce): states kept in the store as
 *    dataframes of their encoding, so that the partitions' machinery
 *    (drop, list, copy node to node, gc) moves and drops them too. Each
 *    step costs a decode of what it reads (O(groups)) on top of the
 *    class's work.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "df/df.h"
#include "node/remote.h"

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

static const char blob_schema[] = "state:string";

/* Stores buf[len] as name in db: a dataframe of its pieces. */
static int blob_put(eau2 *db, const char *name, const void *buf, size_t len,
		    struct eau2_error *err)
{
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	int rc;

	if ((rc = eau2_schema_parse(blob_schema, &schema, err)) ||
	    (rc = eau2_builder_new(db, schema, &b, err)))
		goto out;
	for (size_t at = 0; at < len && rc == 0; at += EAU2_CLUSTER_BLOB_PIECE) {
		size_t n = len - at < EAU2_CLUSTER_BLOB_PIECE ? len - at : EAU2_CLUSTER_BLOB_PIECE;

		rc = eau2_builder_append_string(b, 0, (const char *)buf + at, n, err);
	}
	rc = finish(b, rc, &df, err);
	b = NULL;
	if (rc == 0)
		rc = eau2_put(db, name, df, err);
out:
	eau2_builder_abort(b);
	eau2_df_release(df);
	eau2_schema_free(schema);
	return rc;
}

int eau2_cluster_blob_read(const eau2_df *df, void **buf, size_t *len,
			   struct eau2_error *err)
{
	const eau2_schema *s = eau2_df_schema(df);
	uint64_t rows = eau2_df_rows(df), total = 0;
	char *p = NULL;

	*buf = NULL;
	*len = 0;
	if (eau2_schema_ncols(s) != 1 || eau2_schema_type(s, 0) != EAU2_STRING)
		return eau2_error_set(err, -EBADMSG, "kept state: not one string column");
	for (int pass = 0; pass < 2; pass++) {
		if (pass && !(p = *buf = malloc(total + 1)))
			return eau2_error_set(err, -ENOMEM, "kept state: no memory for %llu "
					      "bytes", (unsigned long long)total);
		for (uint64_t r = 0; r < rows; r++) {
			const char *v;
			size_t n;
			int rc = eau2_df_get_string(df, 0, r, &v, &n, err);

			if (rc) {
				free(*buf);
				*buf = NULL;
				return rc;
			}
			if (pass)
				memcpy(p + *len, v, n);
			if (pass)
				*len += n;
			else
				total += n;
		}
	}
	return 0;
}

/* The bytes of the kept state name of db. */
static int blob_get(eau2 *db, const char *name, void **buf, size_t *len,
		    struct eau2_error *err)
{
	eau2_df *df = NULL;
	int rc = eau2_get(db, name, &df, err);

	if (rc == 0)
		rc = eau2_cluster_blob_read(df, buf, len, err);
	eau2_df_release(df);
	return rc;
}

/* A step's run context: an input of schema with no rows. */
static int step_ctx(eau2 *db, const struct eau2_args *args, const eau2_schema *schema,
		    struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	static const struct eau2_args none = {0};
	eau2_builder *b = NULL;
	eau2_df *in = NULL;
	int rc;

	if ((rc = eau2_builder_new(db, schema, &b, err)) ||
	    (rc = eau2_builder_finish(b, &in, err)))
		return rc;
	*ctx = (struct eau2_run_ctx){
		.db = db, .input = in, .args = args ? args : &none, .threads = 1,
		.flags = EAU2_RUN_CLUSTER,
	};
	return 0;
}

/* A state of cls decoded from the kept state name (*st NULL on error). */
static int step_state(const struct eau2_rower_class *cls, const struct eau2_run_ctx *ctx,
		      const char *name, void **st, struct eau2_error *err)
{
	void *buf = NULL;
	size_t len = 0;
	int rc;

	if (!(*st = calloc(1, cls->state_size ? cls->state_size : 1)))
		return eau2_error_set(err, -ENOMEM, "rower '%s': no memory for a state",
				      cls->name);
	if ((rc = cls->init(*st, ctx, err)) == 0 &&
	    (rc = blob_get(ctx->db, name, &buf, &len, err)) == 0)
		rc = cls->decode(*st, buf, len, err);
	free(buf);
	if (rc) {
		if (cls->destroy)
			cls->destroy(*st);
		free(*st);
		*st = NULL;
		eau2_error_prefix(err, rc, "kept state '%s'", name);
	}
	return rc;
}

static void step_free(const struct eau2_rower_class *cls, void *st)
{
	if (st && cls->destroy)
		cls->destroy(st);
	free(st);
}

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
	if ((rc = blob_put(db, state, buf, len, err))) {
		free(*sample);
		*sample = NULL;
	}
	*bytes = rc ? 0 : len;
	free(buf);
	return rc;
}

int eau2_cluster_cut_kept(eau2 *db, const struct eau2_rower_class *cls,
			  const struct eau2_args *args, const eau2_schema *schema,
			  const char *state, const void *splits, size_t slen, size_t nsplit,
			  const char *const *ranges, struct eau2_error *err)
{
	struct eau2_run_ctx ctx = {0};
	void *st = NULL, **bufs = NULL;
	size_t *lens = NULL;
	int rc;

	if (!cls->split)
		return eau2_error_set(err, -ENOTSUP, "rower '%s' has no split", cls->name);
	bufs = calloc(nsplit + 1, sizeof(*bufs));
	lens = calloc(nsplit + 1, sizeof(*lens));
	if (!bufs || !lens) {
		rc = eau2_error_set(err, -ENOMEM, "cut '%s': out of memory", state);
		goto out;
	}
	if ((rc = step_ctx(db, args, schema, &ctx, err)) ||
	    (rc = step_state(cls, &ctx, state, &st, err)) ||
	    (rc = cls->split(st, splits, slen, nsplit, bufs, lens, err)))
		goto out;
	for (size_t r = 0; r <= nsplit && rc == 0; r++)
		rc = blob_put(db, ranges[r], bufs[r], lens[r], err);
out:
	for (size_t r = 0; bufs && r <= nsplit; r++)
		free(bufs[r]);
	free(bufs);
	free(lens);
	step_free(cls, st);
	eau2_df_release((eau2_df *)ctx.input);
	return rc;
}

int eau2_cluster_reduce_kept(eau2 *db, const struct eau2_rower_class *cls,
			     const struct eau2_args *args, const eau2_schema *schema,
			     const char *const *names, size_t n, const char *out,
			     struct eau2_cluster_part_out *info, struct eau2_error *err)
{
	struct eau2_run_ctx ctx = {0};
	void *root = NULL;
	eau2_df *res = NULL;
	int rc;

	memset(info, 0, sizeof(*info));
	if ((rc = step_ctx(db, args, schema, &ctx, err)))
		return rc;
	if (!(root = calloc(1, cls->state_size ? cls->state_size : 1))) {
		rc = eau2_error_set(err, -ENOMEM, "rower '%s': no memory for a state", cls->name);
		goto out;
	}
	if ((rc = cls->init(root, &ctx, err))) {
		free(root);
		root = NULL;
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		void *st = NULL;

		if ((rc = step_state(cls, &ctx, names[i], &st, err)) == 0)
			rc = cls->join(root, st, err);
		step_free(cls, st);
	}
	if (rc || (rc = cls->finish(root, &ctx, &res, err)) ||
	    (rc = eau2_put(db, out, res, err)) ||
	    (rc = eau2_schema_copy(eau2_df_schema(res), &info->schema, err)))
		goto out;
	info->rows = eau2_df_rows(res);
	info->bytes = eau2_df_bytes(res);
	info->groups = (uint32_t)eau2_df_ngroups(res);
out:
	step_free(cls, root);
	eau2_df_release(res);
	eau2_df_release((eau2_df *)ctx.input);
	return rc;
}
