/* SPDX-License-Identifier: MIT */
/*
 * groupby.c - the `groupby` rower: by=k1,k2 agg=count,sum:v,mean:v,min:v,
 * max:v,count:v. One result row per distinct key tuple (a null key is a
 * group of its own, as in SQL), sorted by the keys (nulls last); columns:
 * the keys, then `count` when asked for, then <fn>_<column> per aggregate.
 * Aggregates skip nulls; a group whose values are all null gets null
 * (count gets 0). sum of ints is an int and fails on overflow; mean is a
 * double; double sums use Neumaier compensation so that the result hardly
 * depends on how rows were split between threads.
 *
 * Group ids: every worker state maps keys to dense group ids in one of
 * three ways.
 *  - direct: a single int key whose values (chunk min/max over the input)
 *    span a small range, or a bool key: the id is the key minus the
 *    minimum, so a row costs no hashing and no probe and groups come out
 *    in key order (see choose_direct). A key outside the range (only from
 *    a decoded state or a lying chunk header) moves the state to hashing.
 *  - int hash: other single int keys; open addressing over raw int64 keys
 *    (linear probing, Fibonacci hashing, slots prefetched ahead).
 *  - dictionary: string and composite keys; per key column a dictionary
 *    gives each distinct value a dense column id (strings of up to 16
 *    bytes compared as two words, longer ones by XXH3 hash, length, then
 *    bytes), and maps of id pairs combine the columns' ids into group ids
 *    (see "dictionary mode" in groupby_keys.c).
 * A group's row count and aggregates sit together in one record of
 * `stride` words, so a row costs one or two cache misses however many
 * aggregates it feeds; a batch of rows gets its ids first, then, in
 * sub-batches whose records stay in L1, one tight loop per aggregate.
 * Large tables are huge-page, pre-faulted memory (big_zalloc). Workers'
 * states with many groups are merged by finish in parallel, by key range
 * (groupby_merge.c). States encode to (key, record) lists for distributed
 * runs, in one format for all three modes; decode checks every key tuple
 * (groupby_wire.c).
 *
 * Access rules: a state is used by one worker thread at a time; join reads
 * the other state, which the executor no longer runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rowers/groupby.h"

static void gb_free(struct gb *s)
{
	for (size_t k = 0; k < s->npend; k++) {
		gb_free(s->pend[k]);
		free(s->pend[k]);
	}
	free(s->pend);
	free(s->keys);
	free(s->ktypes);
	free(s->aggs);
	if (s->rec_mapped)
		munmap(s->rec, s->rec_mapped);
	else
		free(s->rec);
	free(s->gid);
	eau2_gb_keys_free(s);
	memset(s, 0, sizeof(*s));
}

/* A single int key whose values (chunk min/max over the whole input) span
 * a small range gets direct mode: the key minus the minimum is the group
 * id, so a row costs no hashing and no probe, and the groups come out in
 * key order. The table costs (range + 1) records per state, bounded by
 * DIRECT_MAX_BYTES and by what hashing would cost if every row were a
 * group of its own (record, two slots, key: stride + 5 words per input
 * row), at least 1 MiB. A bool
 * key always fits. Values outside the range (a chunk whose header lied,
 * or a decoded state from another input) demote the state to hashing. */
#define DIRECT_MAX_BYTES (512ull << 20)

static int choose_direct(struct gb *s, const eau2_df *df)
{
	int64_t lo = 0, hi = 1;
	size_t bytes;

	if (!df)
		return 0;
	if (s->ktypes[0] == EAU2_INT) {
		bool any = false;
		for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
			struct eau2_chunk_view v;
			struct eau2_error e;
			if (eau2_df_chunk(df, s->keys[0], g, &v, &e) < 0)
				return 0; /* the run will report it */
			if (v.rows == v.null_count)
				continue;
			if (!v.has_minmax || v.min.i > v.max.i)
				return 0;
			if (!any || v.min.i < lo)
				lo = v.min.i;
			if (!any || v.max.i > hi)
				hi = v.max.i;
			any = true;
		}
		if (!any)
			hi = lo = 0;
	}
	uint64_t range = (uint64_t)hi - (uint64_t)lo; /* + 1 below */
	uint64_t rows = eau2_df_rows(df);
	uint64_t limit = rows > DIRECT_MAX_BYTES ? DIRECT_MAX_BYTES
		       : rows * (s->stride + 5) * sizeof(*s->rec);
	if (limit < (1u << 20))
		limit = 1u << 20;
	if (limit > DIRECT_MAX_BYTES)
		limit = DIRECT_MAX_BYTES;
	if (range >= limit / sizeof(*s->rec) ||
	    (range + 2) * s->stride * sizeof(*s->rec) > limit)
		return 0;
	bytes = (size_t)(range + 2) * s->stride * sizeof(*s->rec);
	if (bytes < (256u << 10)) {
		s->rec = calloc(1, bytes);
	} else {
		s->rec = eau2_gb_big_zalloc(bytes);
		s->rec_mapped = s->rec ? bytes : 0;
	}
	if (!s->rec)
		return -ENOMEM;
	s->direct = true;
	s->dmin = lo;
	s->drange = (uint32_t)range + 1;
	s->ngroups = s->cap = s->drange + 1;
	return 0;
}

static int gb_setup(struct gb *s, const eau2_schema *schema, const eau2_df *df,
		    const struct eau2_args *args, struct eau2_error *err)
{
	const char *by = eau2_args_get(args, "by");
	const char *agg = eau2_args_get(args, "agg");
	int rc;

	s->null_id = -1;
	s->in = schema;
	if (!by)
		return eau2_error_set(err, -EINVAL, "groupby: missing argument "
				      "by=COLUMN[,COLUMN...]");
	if ((rc = eau2_rowers_columns(schema, by, "groupby: by", &s->keys,
				      &s->nkeys, err)))
		return rc;
	s->ktypes = calloc(s->nkeys, sizeof(*s->ktypes));
	if (!s->ktypes)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	for (size_t k = 0; k < s->nkeys; k++) {
		enum eau2_type t = eau2_schema_type(schema, s->keys[k]);
		if (t == EAU2_DOUBLE)
			return eau2_error_set(err, -EINVAL, "groupby: by: column "
					      "'%s' is double; keys must be int, "
					      "bool or string",
					      eau2_schema_name(schema, s->keys[k]));
		s->ktypes[k] = t;
	}
	if ((rc = eau2_gb_parse_aggs(s, schema, agg ? agg : "count", err)))
		return rc;
	s->stride = 1;
	for (size_t a = 0; a < s->naggs; a++) {
		struct agg *g = &s->aggs[a];
		g->off = s->stride;
		s->stride += g->fn == FN_COUNT ? 1 :
			     g->type == EAU2_DOUBLE && g->fn != FN_MIN &&
			     g->fn != FN_MAX ? 3 :
			     g->type == EAU2_INT && g->fn == FN_MEAN ? 3 : 2;
	}
	s->intkey = s->nkeys == 1 && s->ktypes[0] != EAU2_STRING;
	if (!(s->gid = malloc(BATCH * sizeof(*s->gid))))
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	if (s->intkey && choose_direct(s, df) < 0)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	if (eau2_gb_keys_init(s) < 0)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	return 0;
}

/* --------------------------------------------------------------- class */

static int gb_init(void *state, const struct eau2_run_ctx *ctx,
		   struct eau2_error *err)
{
	((struct gb *)state)->threads = ctx->threads;
	return gb_setup(state, eau2_df_schema(ctx->input), ctx->input, ctx->args,
			err);
}

static int gb_chunk(void *state, const struct eau2_group *g,
		    struct eau2_error *err)
{
	struct gb *s = state;
	int rc;

	for (uint32_t from = 0; from < g->rows; from += BATCH) {
		uint32_t n = g->rows - from < BATCH ? g->rows - from : BATCH;
		if (eau2_gb_ids(s, g, from, n) < 0)
			goto nomem;
		if ((rc = eau2_gb_feed(s, g, from, n, err)))
			return rc;
	}
	return 0;
nomem:
	return eau2_error_set(err, -ENOMEM, "groupby: out of memory (or more "
			      "than 2^31 groups) in row group %zu", g->group);
}

/* ------------------------------------------------------------- finish */

static int out_schema(const struct gb *s, const eau2_schema *in,
		      eau2_schema **out, struct eau2_error *err)
{
	char name[2 * EAU2_NAME_MAX];
	int rc;

	if ((rc = eau2_schema_new(out, err)))
		return rc;
	for (size_t k = 0; k < s->nkeys; k++)
		if ((rc = eau2_schema_add(*out, eau2_schema_name(in, s->keys[k]),
					  s->ktypes[k], err)))
			return rc;
	if (s->want_count && (rc = eau2_schema_add(*out, "count", EAU2_INT, err)))
		return rc;
	for (size_t k = 0; k < s->naggs; k++) {
		const struct agg *a = &s->aggs[k];
		enum eau2_type t = a->fn == FN_COUNT ? EAU2_INT :
				   a->fn == FN_MEAN ? EAU2_DOUBLE : a->type;
		snprintf(name, sizeof(name), "%s_%s", fn_names[a->fn],
			 eau2_schema_name(in, a->col));
		if (strlen(name) > EAU2_NAME_MAX)
			return eau2_error_set(err, -EINVAL, "groupby: result column "
					      "name '%.40s...' is too long", name);
		if ((rc = eau2_schema_add(*out, name, t, err)))
			return rc;
	}
	return 0;
}

int eau2_gb_emit_keys(const struct gb *s, eau2_builder *b, uint32_t id,
		      struct eau2_error *err)
{
	int rc = 0;

	if (s->intkey) {
		if (eau2_gb_null_group(s, id))
			return eau2_builder_append_null(b, 0, err);
		if (s->ktypes[0] == EAU2_BOOL)
			return eau2_builder_append_bool(b, 0,
							eau2_gb_group_key(s, id) != 0, err);
		return eau2_builder_append_int(b, 0, eau2_gb_group_key(s, id), err);
	}
	for (size_t k = 0; k < s->nkeys && rc == 0; k++) {
		const struct cdict *d = &s->dict[k];
		const struct cval *v = &d->vals[s->gcid[(size_t)id * s->nkeys + k]];
		if (v->isnull)
			rc = eau2_builder_append_null(b, k, err);
		else if (s->ktypes[k] == EAU2_INT)
			rc = eau2_builder_append_int(b, k, (int64_t)v->a, err);
		else if (s->ktypes[k] == EAU2_BOOL)
			rc = eau2_builder_append_bool(b, k, v->a != 0, err);
		else
			rc = eau2_builder_append_string(b, k, d->arena + v->a, v->len,
							err);
	}
	return rc;
}

static int emit_row(const struct gb *s, eau2_builder *b, uint32_t id,
		    struct eau2_error *err)
{
	return eau2_gb_emit_keys(s, b, id, err) ?:
	       eau2_gb_emit_aggs(s, b, s->nkeys, s->rec + (size_t)id * s->stride,
				 err);
}

static int gb_finish(void *state, const struct eau2_run_ctx *ctx,
		     eau2_df **result, struct eau2_error *err)
{
	struct gb *s = state;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	uint32_t *order = NULL;
	struct ikey *ik = NULL;
	uint32_t n = s->ngroups, m = 0;
	int rc;

	*result = NULL;
	if ((rc = out_schema(s, eau2_df_schema(ctx->input), &schema, err)))
		goto out;
	if (s->npend) {
		if ((rc = eau2_builder_new(ctx->db, schema, &b, err)) ||
		    (rc = eau2_gb_emit_merged(s, b, err)))
			goto out;
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
		goto out;
	}
	order = malloc(((size_t)n + 1) * sizeof(*order));
	if (!order) {
		rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory");
		goto out;
	}
	if (s->direct) {
		/* Ids are keys minus the minimum: already in key order. */
		for (uint32_t j = 0; j < s->drange; j++)
			if (eau2_gb_present(s, j))
				order[m++] = j;
		if (eau2_gb_present(s, s->drange))
			order[m++] = s->drange;
		n = m;
	} else if (s->intkey) {
		ik = malloc(2 * ((size_t)n + 1) * sizeof(*ik));
		if (!ik) {
			rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory");
			goto out;
		}
		for (uint32_t j = 0; j < n; j++)
			if ((int64_t)j != s->null_id)
				ik[m++] = (struct ikey){ s->gkey[j], j };
		if (m)
			eau2_gb_radix_ikeys(ik, ik + n + 1, m);
		for (uint32_t j = 0; j < m; j++)
			order[j] = ik[j].id;
		if (s->null_id >= 0)
			order[m++] = (uint32_t)s->null_id;
	} else if ((rc = eau2_gb_dict_order(s, order)) < 0) {
		rc = eau2_error_set(err, rc, "groupby: out of memory sorting groups");
		goto out;
	}
	if ((rc = eau2_builder_new(ctx->db, schema, &b, err)))
		goto out;
	for (uint32_t j = 0; j < n; j++)
		if ((rc = emit_row(s, b, order[j], err)))
			goto out;
	rc = eau2_builder_finish(b, result, err);
	b = NULL;
out:
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(order);
	free(ik);
	return rc;
}

static void gb_destroy(void *state)
{
	gb_free(state);
}

static void gb_columns(const void *state, uint64_t *used, size_t ncols)
{
	const struct gb *s = state;

	(void)ncols;
	for (size_t k = 0; k < s->nkeys; k++)
		eau2_columns_set(used, s->keys[k]);
	for (size_t a = 0; a < s->naggs; a++)
		eau2_columns_set(used, s->aggs[a].col);
}

static const char *const gb_args[] = { "by", "agg", NULL };

const struct eau2_rower_class eau2_rower_groupby = {
	.name = "groupby",
	.summary = "hash group-by, sorted by key: by=K1[,K2...] "
		   "agg=count,sum:V,mean:V,min:V,max:V,count:V",
	.flags = 0,
	.state_size = sizeof(struct gb),
	.init = gb_init,
	.accept_chunk = gb_chunk,
	.join = eau2_gb_join,
	.encode = eau2_gb_encode,
	.decode = eau2_gb_decode,
	.finish = gb_finish,
	.destroy = gb_destroy,
	.columns = gb_columns,
	.args = gb_args,
	.sample = eau2_gb_sample,
	.split = eau2_gb_split,
};
