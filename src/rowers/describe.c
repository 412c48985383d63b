/* SPDX-License-Identifier: MIT */
/*
 * describe.c - the "describe" rower: per column of its input, the nulls,
 * the payload bytes (validity bitmap, values, string offsets and bytes)
 * and, for int and double columns, the min and max, all from chunk
 * headers (the data itself is never read). Result: one row per input
 * column: column (string), nulls, bytes (int), min_int, max_int (int),
 * min_double, max_double (double); a min/max pair is null where the
 * column's type has none or every value is null. `eau2 describe` prints
 * it; as a rower it runs where runs run (in an eau2-node, over chunk
 * views it checked already).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/rowers.h"

struct dcol {
	enum eau2_type type;
	uint64_t nulls, bytes;
	bool has_minmax;
	union { int64_t i; double d; } min, max;
};

struct describe_state {
	size_t n;
	struct dcol *c;
};

static int describe_init(void *state, const struct eau2_run_ctx *ctx,
			 struct eau2_error *err)
{
	struct describe_state *s = state;

	s->n = eau2_df_ncols(ctx->input);
	s->c = calloc(s->n ? s->n : 1, sizeof(*s->c));
	if (!s->c)
		return eau2_error_set(err, -ENOMEM, "describe: out of memory");
	for (size_t i = 0; i < s->n; i++)
		s->c[i].type = eau2_schema_type(eau2_df_schema(ctx->input), i);
	return 0;
}

/* Payload bytes of a chunk, from its header. */
static uint64_t view_bytes(const struct eau2_chunk_view *v)
{
	uint64_t bits = ((uint64_t)v->rows + 7) / 8, b = v->validity ? bits : 0;

	switch (v->type) {
	case EAU2_BOOL:
		return b + bits;
	case EAU2_INT:
	case EAU2_DOUBLE:
		return b + 8ull * v->rows;
	case EAU2_STRING:
		return b + 8ull * (v->rows + 1ull) +
			(uint64_t)(v->values.offsets[v->rows] - v->values.offsets[0]);
	}
	return b;
}

/* Folds a chunk's min and max (or another state's) into c. */
static void fold_minmax(struct dcol *c, bool has, int64_t mini, int64_t maxi, double mind,
			double maxd)
{
	if (!has)
		return;
	if (c->type == EAU2_INT) {
		if (!c->has_minmax || mini < c->min.i)
			c->min.i = mini;
		if (!c->has_minmax || maxi > c->max.i)
			c->max.i = maxi;
	} else {
		if (!c->has_minmax || mind < c->min.d)
			c->min.d = mind;
		if (!c->has_minmax || maxd > c->max.d)
			c->max.d = maxd;
	}
	c->has_minmax = true;
}

static int describe_chunk(void *state, const struct eau2_group *g, struct eau2_error *err)
{
	struct describe_state *s = state;

	(void)err;
	for (size_t i = 0; i < s->n; i++) {
		const struct eau2_chunk_view *v = &g->cols[i];

		s->c[i].nulls += v->null_count;
		s->c[i].bytes += view_bytes(v);
		fold_minmax(&s->c[i], v->has_minmax, v->min.i, v->max.i, v->min.d, v->max.d);
	}
	return 0;
}

static int describe_join(void *state, void *other, struct eau2_error *err)
{
	struct describe_state *s = state, *o = other;

	(void)err;
	for (size_t i = 0; i < s->n && i < o->n; i++) {
		const struct dcol *c = &o->c[i];

		s->c[i].nulls += c->nulls;
		s->c[i].bytes += c->bytes;
		fold_minmax(&s->c[i], c->has_minmax, c->min.i, c->max.i, c->min.d, c->max.d);
	}
	return 0;
}

static int describe_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
			   struct eau2_error *err)
{
	struct describe_state *s = state;
	const eau2_schema *in = eau2_df_schema(ctx->input);
	eau2_schema *sch = NULL;
	eau2_builder *b = NULL;
	int rc;

	rc = eau2_schema_parse("column:string,nulls:int,bytes:int,min_int:int,max_int:int,"
			       "min_double:double,max_double:double", &sch, err);
	if (!rc)
		rc = eau2_builder_new(ctx->db, sch, &b, err);
	eau2_schema_free(sch);
	for (size_t i = 0; !rc && i < s->n; i++) {
		const struct dcol *c = &s->c[i];
		const char *name = eau2_schema_name(in, i);
		bool is_int = c->type == EAU2_INT;

		rc = eau2_builder_append_string(b, 0, name, strlen(name), err);
		if (!rc)
			rc = eau2_builder_append_int(b, 1, (int64_t)c->nulls, err);
		if (!rc)
			rc = eau2_builder_append_int(b, 2, (int64_t)c->bytes, err);
		for (size_t k = 0; !rc && k < 2; k++)
			rc = c->has_minmax && is_int
				     ? eau2_builder_append_int(b, 3 + k, k ? c->max.i : c->min.i, err)
				     : eau2_builder_append_null(b, 3 + k, err);
		for (size_t k = 0; !rc && k < 2; k++)
			rc = c->has_minmax && !is_int
				     ? eau2_builder_append_double(b, 5 + k, k ? c->max.d : c->min.d,
								  err)
				     : eau2_builder_append_null(b, 5 + k, err);
	}
	if (!rc)
		return eau2_builder_finish(b, result, err);
	eau2_builder_abort(b);
	return rc;
}

static void describe_destroy(void *state)
{
	free(((struct describe_state *)state)->c);
}

static const char *const describe_args[] = { NULL };

const struct eau2_rower_class eau2_rower_describe = {
	.name = "describe",
	.summary = "per column: nulls, payload bytes, min and max (from chunk headers)",
	.state_size = sizeof(struct describe_state),
	.init = describe_init,
	.accept_chunk = describe_chunk,
	.join = describe_join,
	.finish = describe_finish,
	.destroy = describe_destroy,
	.args = describe_args,
};
