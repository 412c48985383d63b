/* SPDX-License-Identifier: MIT */
/*
 * map.c - the `map` rower (name=N expr=EXPR): every input row, in order,
 * with one more column N holding EXPR (int, double, bool or string by the
 * expression's type; null where it is null).
 *
 * Nothing of the input is copied: the states build only the new column,
 * one chunk per input row group (eau2_rel_out per_group mode), so the
 * new column has exactly the input's row groups, and finish zips the
 * input with it (eau2_df_zip: the result shares the input's chunks). A
 * result that does not cover the input's row groups in order (a state
 * finished over part of the input, as encode/decode tests do) or whose
 * input lives in another store is built by copying instead.
 *
 * encode/decode carry the new column's values of each row group the state
 * took, with the group's index (relenc.c, "EAU2REL2"): the decoding side
 * has the input and zips it in the same way.
 *
 * Access rules: as filter (filter.c): the compiled expression and the root
 * builder are shared per run (eau2_rel_shared), everything else is the
 * state's own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/expr.h"
#include "rowers/rowers.h"

struct map_state {
	struct eau2_rel_out out;
	struct eau2_expr_eval *ev;
};

static void free_expr(void *data)
{
	eau2_expr_free(data);
}

/* The shared schema is the new column alone: what the states build and
 * what encode carries. */
static int map_make(const struct eau2_run_ctx *ctx, eau2_schema **schema,
		    void **data, void (**free_data)(void *),
		    struct eau2_error *err)
{
	const eau2_schema *in = eau2_df_schema(ctx->input);
	const char *name = eau2_args_get(ctx->args, "name");
	const char *text = eau2_args_get(ctx->args, "expr");
	struct eau2_expr *e = NULL;
	int rc;

	*schema = NULL;
	if (!name || !text)
		return eau2_error_set(err, -EINVAL, "map: missing argument %s",
				      !name ? "name=COLUMN" : "expr=EXPR");
	if (eau2_schema_find(in, name) >= 0)
		return eau2_error_set(err, -EINVAL, "map: name: column '%s' "
				      "already exists", name);
	if ((rc = eau2_expr_compile(text, in, "expr", &e, err)) ||
	    (rc = eau2_schema_new(schema, err)) ||
	    (rc = eau2_schema_add(*schema, name, eau2_expr_type(e), err))) {
		eau2_expr_free(e);
		eau2_schema_free(*schema);
		*schema = NULL;
		return rc;
	}
	*data = e;
	*free_data = free_expr;
	return 0;
}

static int map_init(void *state, const struct eau2_run_ctx *ctx,
		    struct eau2_error *err)
{
	struct map_state *s = state;
	int rc;

	s->out.per_group = true;
	s->out.input = ctx->input;
	rc = eau2_rel_shared_get(ctx, &eau2_rower_map, map_make, &s->out.shared,
				 err);
	if (rc || (rc = eau2_expr_eval_new(s->out.shared->data, &s->ev, err)))
		return rc;
	return 0;
}

static int map_emit(void *state, const struct eau2_group *g,
		    struct eau2_rel_sink *b, struct eau2_error *err)
{
	struct map_state *s = state;
	struct eau2_expr_vec v;
	int rc;

	if (g->rows > EAU2_CHUNK_ROWS)
		return eau2_error_set(err, -EINVAL, "map: row group of %u rows",
				      g->rows);
	if (g->rows == 0)
		return 0;
	if ((rc = eau2_rel_sink_open(b, err)))
		return rc;
	for (uint32_t from = 0; from < g->rows; from += EAU2_EXPR_BATCH) {
		uint32_t n = g->rows - from < EAU2_EXPR_BATCH ?
			     g->rows - from : EAU2_EXPR_BATCH;
		if ((rc = eau2_expr_eval_batch(s->ev, g, from, n, &v, err)) ||
		    (rc = eau2_rel_append_vec(b, 0, &v, err)))
			return rc;
	}
	return 0;
}

static int map_chunk(void *state, const struct eau2_group *g,
		     struct eau2_error *err)
{
	return eau2_rel_accept(&((struct map_state *)state)->out, state,
			       map_emit, g, err);
}

/* emit touches only the evaluator: scratch of the state. */
static int map_encode(const void *state, void **buf, size_t *len,
		      struct eau2_error *err)
{
	const struct map_state *s = state;

	return eau2_rel_encode(&s->out, (void *)(uintptr_t)state, map_emit,
			       "map", buf, len, err);
}

static int map_decode(void *state, const void *buf, size_t len,
		      struct eau2_error *err)
{
	return eau2_rel_decode(&((struct map_state *)state)->out, "map", buf,
			       len, err);
}

static int map_join(void *state, void *other, struct eau2_error *err)
{
	return eau2_rel_out_join(&((struct map_state *)state)->out,
				 &((struct map_state *)other)->out, err);
}

static int map_finish(void *state, const struct eau2_run_ctx *ctx,
		      eau2_df **result, struct eau2_error *err)
{
	return eau2_rel_finish_zip(&((struct map_state *)state)->out, ctx, "map",
				   result, err);
}

static void map_destroy(void *state)
{
	struct map_state *s = state;

	eau2_expr_eval_free(s->ev);
	eau2_rel_out_destroy(&s->out);
}

static void map_columns(const void *state, uint64_t *used, size_t ncols)
{
	const struct map_state *s = state;

	(void)ncols;
	eau2_expr_columns(s->out.shared->data, used);
}

static const char *const map_args[] = { "name", "expr", NULL };

const struct eau2_rower_class eau2_rower_map = {
	.name = "map",
	.summary = "every row plus a computed column: name=COLUMN expr=EXPR "
		   "(e.g. name=total expr=\"price * qty\")",
	.flags = EAU2_ROWER_ORDERED | EAU2_ROWER_ROWWISE,
	.state_size = sizeof(struct map_state),
	.init = map_init,
	.accept_chunk = map_chunk,
	.join = map_join,
	.encode = map_encode,
	.decode = map_decode,
	.finish = map_finish,
	.destroy = map_destroy,
	.columns = map_columns,
	.args = map_args,
};
