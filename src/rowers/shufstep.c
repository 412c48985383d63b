/* SPDX-License-Identifier: MIT */
/*
 * shufstep.c - a node's steps of a shuffle (eau2.h: sample, split; the
 * cluster's driver orders them): a state kept in the store as a
 * dataframe of its encoding (one string column, EAU2_SHUFFLE_PIECE bytes
 * a row), so that what moves and drops partitions moves and drops it
 * too; cut (decode, split, store the ranges) and reduce (decode each
 * range and join them in order, finish). Each step costs a decode of
 * what it reads (O(groups)) on top of the class's work. Kept states are
 * bytes a peer made: decode checks them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/rowers.h"

static const char blob_schema[] = "state:string";

/* buf[len] as a new dataframe of db: its pieces. */
static int blob_df(eau2 *db, const void *buf, size_t len, eau2_df **df,
		   struct eau2_error *err)
{
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	int rc;

	*df = NULL;
	if ((rc = eau2_schema_parse(blob_schema, &schema, err)) ||
	    (rc = eau2_builder_new(db, schema, &b, err))) {
		eau2_schema_free(schema);
		return rc;
	}
	eau2_schema_free(schema);
	for (size_t at = 0; at < len && rc == 0; at += EAU2_SHUFFLE_PIECE) {
		size_t n = len - at < EAU2_SHUFFLE_PIECE ? len - at : EAU2_SHUFFLE_PIECE;

		rc = eau2_builder_append_string(b, 0, (const char *)buf + at, n, err);
	}
	if (rc) {
		eau2_builder_abort(b);
		return rc;
	}
	return eau2_builder_finish(b, df, err);
}

int eau2_shuffle_blob_put(eau2 *db, const char *name, const void *buf, size_t len,
		    struct eau2_error *err)
{
	eau2_df *df = NULL;
	int rc = blob_df(db, buf, len, &df, err);

	if (rc == 0)
		rc = eau2_put(db, name, df, err);
	eau2_df_release(df);
	return rc;
}

int eau2_shuffle_blob_read(const eau2_df *df, void **buf, size_t *len,
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
		rc = eau2_shuffle_blob_read(df, buf, len, err);
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

int eau2_shuffle_cut(eau2 *db, const struct eau2_rower_class *cls,
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
		rc = eau2_shuffle_blob_put(db, ranges[r], bufs[r], lens[r], err);
out:
	for (size_t r = 0; bufs && r <= nsplit; r++)
		free(bufs[r]);
	free(bufs);
	free(lens);
	step_free(cls, st);
	eau2_df_release((eau2_df *)ctx.input);
	return rc;
}

int eau2_shuffle_reduce(eau2 *db, const struct eau2_rower_class *cls,
			const struct eau2_args *args, const eau2_schema *schema,
			const char *const *names, size_t n, eau2_df **res,
			struct eau2_error *err)
{
	struct eau2_run_ctx ctx = {0};
	void *root = NULL;
	int rc;

	*res = NULL;
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
	if (rc == 0 && (rc = cls->finish(root, &ctx, res, err)) && *res) {
		eau2_df_release(*res);
		*res = NULL;
	}
out:
	step_free(cls, root);
	eau2_df_release((eau2_df *)ctx.input);
	return rc;
}

/* ------------------------------------------------------ the steps as classes */

/*
 * The shuffle's steps as built-in rower classes, so that every node runs
 * them for a RUN request (the cluster's network operations: no frame
 * type of their own, RUN's failures, PINGs and bounds). Their arguments: eau2.rower (the class shuffled),
 * eau2.schema (the input's, "name:type,..."), a step's names, and the
 * class's own arguments, handed on without the eau2.* ones.
 *  - eau2.keep over a partition: the class's run (its states wrapped),
 *    the joined state stored as eau2.state; the result, to the driver,
 *    is a blob of the state's size (u64) and eau2.samples sampled keys.
 *  - eau2.cut (no input): eau2_shuffle_cut of eau2.state at
 *    eau2.splits (hex) into eau2.ranges (names, comma-separated).
 *  - eau2.reduce (no input): the ranges eau2.names joined in order and
 *    finished: the result, stored by RUN's `as`.
 */
struct step {
	const struct eau2_rower_class *inner;
	void *st;                        /* eau2.keep: the wrapped state */
	struct eau2_args args;           /* the inner's: without eau2.* */
	const char **v;                  /* names then values, for args */
	eau2_schema *schema;             /* eau2.schema, parsed */
};

static void step_fini(void *state)
{
	struct step *s = state;

	if (s->st)
		step_free(s->inner, s->st);
	free(s->v);
	eau2_schema_free(s->schema);
}

/* The wrapped class and its arguments; eau2.schema when `schema`. */
static int step_setup(struct step *s, const struct eau2_run_ctx *ctx, bool schema,
		      struct eau2_error *err)
{
	const struct eau2_args *a = ctx->args;
	const char *name = eau2_args_get(a, "eau2.rower"), *sc = eau2_args_get(a, "eau2.schema");
	size_t k = 0;

	if (!name || !(s->inner = eau2_rower_find(name)))
		return eau2_error_set(err, -ENOENT, "shuffle step: no rower '%s'",
				      name ? name : "");
	if (!s->inner->sample || !s->inner->split || !s->inner->encode || !s->inner->decode)
		return eau2_error_set(err, -ENOTSUP, "rower '%s' cannot be shuffled", name);
	if (!(s->v = calloc(2 * a->n + 2, sizeof(*s->v))))
		return eau2_error_set(err, -ENOMEM, "shuffle step: out of memory");
	for (size_t i = 0; i < a->n; i++)
		if (strncmp(a->names[i], "eau2.", 5)) {
			s->v[k] = a->names[i];
			s->v[a->n + k++] = a->values[i];
		}
	s->args = (struct eau2_args){ .n = k, .names = s->v, .values = s->v + a->n };
	if (schema && (!sc || eau2_schema_parse(sc, &s->schema, err)))
		return eau2_error_set(err, -EINVAL, "shuffle step: bad eau2.schema '%s'",
				      sc ? sc : "");
	return 0;
}

static int keep_init(void *state, const struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	struct step *s = state;
	struct eau2_run_ctx ic = *ctx;
	int rc;

	if ((rc = step_setup(s, ctx, false, err)))
		return rc;
	if (!(s->st = calloc(1, s->inner->state_size ? s->inner->state_size : 1)))
		return eau2_error_set(err, -ENOMEM, "shuffle step: out of memory");
	ic.args = &s->args;
	ic.flags |= EAU2_RUN_PART;
	if ((rc = s->inner->init(s->st, &ic, err))) {
		free(s->st); /* an init that failed is not destroyed */
		s->st = NULL;
	}
	return rc;
}

static int keep_accept(void *state, const struct eau2_row *row)
{
	struct step *s = state;

	return s->inner->accept(s->st, row);
}

static int keep_chunk(void *state, const struct eau2_group *g, struct eau2_error *err)
{
	struct step *s = state;

	if (s->inner->accept_chunk)
		return s->inner->accept_chunk(s->st, g, err);
	for (uint32_t i = 0; i < g->rows; i++) {
		struct eau2_row row = { .df = g->df, .cols = g->cols, .i = i,
					.row = g->first_row + i };

		if (s->inner->accept(s->st, &row) < 0)
			return eau2_error_set(err, -EIO, "rower '%s' failed in row group %zu",
					      s->inner->name, g->group);
	}
	return 0;
}

static int keep_join(void *state, void *other, struct eau2_error *err)
{
	struct step *s = state, *o = other;

	return s->inner->join(s->st, o->st, err);
}

static void keep_columns(const void *state, uint64_t *used, size_t ncols)
{
	const struct step *s = state;

	if (s->inner->columns) {
		s->inner->columns(s->st, used, ncols);
		return;
	}
	for (size_t c = 0; c < ncols; c++)
		eau2_columns_set(used, c);
}

static int keep_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
		       struct eau2_error *err)
{
	struct step *s = state;
	const char *name = eau2_args_get(ctx->args, "eau2.state");
	const char *ns = eau2_args_get(ctx->args, "eau2.samples");
	struct eau2_buf out = {0};
	void *buf = NULL, *smp = NULL;
	size_t len = 0, slen = 0, n = ns ? strtoul(ns, NULL, 10) : 0;
	int rc;

	*result = NULL;
	if (!name || !n || n > (1u << 20))
		return eau2_error_set(err, -EINVAL, "eau2.keep: want eau2.state and "
				      "eau2.samples (1 to 2^20)");
	if ((rc = s->inner->sample(s->st, n, &smp, &slen, err)) ||
	    (rc = s->inner->encode(s->st, &buf, &len, err)) ||
	    (rc = eau2_shuffle_blob_put(ctx->db, name, buf, len, err)))
		goto out;
	if (eau2_buf_u64(&out, len) || eau2_buf_put(&out, smp, slen)) {
		rc = eau2_error_set(err, -ENOMEM, "eau2.keep: out of memory");
		goto out;
	}
	rc = blob_df(ctx->db, out.p, out.len, result, err);
out:
	free(out.p);
	free(buf);
	free(smp);
	return rc;
}

static int nothing_init(void *state, const struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	return step_setup(state, ctx, true, err);
}

static int nothing_accept(void *state, const struct eau2_row *row)
{
	(void)state;
	(void)row;
	return 0;
}

static int nothing_join(void *state, void *other, struct eau2_error *err)
{
	(void)state;
	(void)other;
	(void)err;
	return 0;
}

/* Names of a comma-separated list in place: *v malloc'd. */
static int split_names(char *list, const char ***v, size_t *n)
{
	size_t k = 1;

	for (char *p = list; *p; p++)
		k += *p == ',';
	if (!(*v = calloc(k, sizeof(**v))))
		return -ENOMEM;
	*n = 0;
	for (char *p = list, *q; p; p = q) {
		q = strchr(p, ',');
		if (q)
			*q++ = 0;
		(*v)[(*n)++] = p;
	}
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int cut_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
		      struct eau2_error *err)
{
	struct step *s = state;
	const char *name = eau2_args_get(ctx->args, "eau2.state");
	const char *hex = eau2_args_get(ctx->args, "eau2.splits");
	const char *rl = eau2_args_get(ctx->args, "eau2.ranges");
	const char **ranges = NULL;
	char *list = NULL;
	uint8_t *sp = NULL;
	size_t n = 0, hl = hex ? strlen(hex) : 1;
	int64_t one = 1;
	int rc;

	*result = NULL;
	if (!name || !rl || hl % 2)
		return eau2_error_set(err, -EINVAL, "eau2.cut: want eau2.state, eau2.splits "
				      "(hex) and eau2.ranges");
	list = strdup(rl);
	sp = malloc(hl / 2 + 1);
	if (!list || !sp || split_names(list, &ranges, &n)) {
		rc = eau2_error_set(err, -ENOMEM, "eau2.cut: out of memory");
		goto out;
	}
	for (size_t i = 0; i < hl / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			rc = eau2_error_set(err, -EINVAL, "eau2.cut: eau2.splits is not hex");
			goto out;
		}
		sp[i] = (uint8_t)(hi << 4 | lo);
	}
	if ((rc = eau2_shuffle_cut(ctx->db, s->inner, &s->args, s->schema, name, sp,
					hl / 2, n - 1, ranges, err)) == 0)
		rc = eau2_df_from_array(ctx->db, "ranges", EAU2_INT, &one, 1, result, err);
out:
	free(list);
	free(ranges);
	free(sp);
	return rc;
}

static int reduce_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
			 struct eau2_error *err)
{
	struct step *s = state;
	const char *nl = eau2_args_get(ctx->args, "eau2.names");
	const char **names = NULL;
	char *list = nl ? strdup(nl) : NULL;
	size_t n = 0;
	int rc;

	*result = NULL;
	if (!nl)
		return eau2_error_set(err, -EINVAL, "eau2.reduce: want eau2.names");
	if (!list || split_names(list, &names, &n))
		rc = eau2_error_set(err, -ENOMEM, "eau2.reduce: out of memory");
	else
		rc = eau2_shuffle_reduce(ctx->db, s->inner, &s->args, s->schema, names, n, result, err);
	free(list);
	free(names);
	return rc;
}

const struct eau2_rower_class eau2_rower_shuffle_keep = {
	.name = "eau2.keep",
	.summary = "a shuffle's step (cluster): a part's state kept on the node",
	.state_size = sizeof(struct step),
	.init = keep_init,
	.accept = keep_accept,
	.accept_chunk = keep_chunk,
	.join = keep_join,
	.finish = keep_finish,
	.destroy = step_fini,
	.columns = keep_columns,
};

const struct eau2_rower_class eau2_rower_shuffle_cut = {
	.name = "eau2.cut",
	.summary = "a shuffle's step (cluster): a kept state cut into key ranges",
	.flags = EAU2_ROWER_NO_INPUT,
	.state_size = sizeof(struct step),
	.init = nothing_init,
	.accept = nothing_accept,
	.join = nothing_join,
	.finish = cut_finish,
	.destroy = step_fini,
};

const struct eau2_rower_class eau2_rower_shuffle_reduce = {
	.name = "eau2.reduce",
	.summary = "a shuffle's step (cluster): a key range's states joined and finished",
	.flags = EAU2_ROWER_NO_INPUT,
	.state_size = sizeof(struct step),
	.init = nothing_init,
	.accept = nothing_accept,
	.join = nothing_join,
	.finish = reduce_finish,
	.destroy = step_fini,
};

