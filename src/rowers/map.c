/* SPDX-License-Identifier: MIT */
/*
 * map.c - the `map` rower (name=N expr=EXPR): every input row, in order,
 * with one more column N holding EXPR (int, double, bool or string by the
 * expression's type; null where it is null).
 *
 * Cost: the result is a new dataframe, so the input columns are copied
 * value by value next to the new one. A derived dataframe that shares the
 * input's chunks and adds only the new column would avoid that copy; the
 * store has no such descriptor yet.
 *
 * encode/decode carry the state's rows (relenc.c): encode re-runs map_emit
 * over the row groups the state took.
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
	uint32_t *all;  /* 0, 1, ..., EAU2_CHUNK_ROWS - 1 */
};

static void free_expr(void *data)
{
	eau2_expr_free(data);
}

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
	    (rc = eau2_schema_copy(in, schema, err)) ||
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
	int rc = eau2_rel_shared_get(ctx, &eau2_rower_map, map_make,
				     &s->out.shared, err);

	if (rc || (rc = eau2_expr_eval_new(s->out.shared->data, &s->ev, err)))
		return rc;
	s->all = malloc(EAU2_CHUNK_ROWS * sizeof(*s->all));
	if (!s->all)
		return eau2_error_set(err, -ENOMEM, "map: out of memory");
	for (uint32_t i = 0; i < EAU2_CHUNK_ROWS; i++)
		s->all[i] = i;
	return 0;
}

static int append_vec(struct eau2_rel_sink *b, size_t col,
		      const struct eau2_expr_vec *v, struct eau2_error *err)
{
	int rc = 0;

	for (uint32_t i = 0; i < v->len && rc == 0; i++) {
		if (v->null && v->null[i]) {
			rc = eau2_rel_put_null(b, col, err);
			continue;
		}
		switch (v->type) {
		case EAU2_BOOL:
			rc = eau2_rel_put_bool(b, col, v->b[i], err);
			break;
		case EAU2_INT:
			rc = eau2_rel_put_int(b, col, v->i64[i], err);
			break;
		case EAU2_DOUBLE:
			rc = eau2_rel_put_double(b, col, v->f64[i], err);
			break;
		default: {
			size_t len;
			const char *p = eau2_expr_vec_string(v, i, &len);
			rc = eau2_rel_put_string(b, col, p, len, err);
			break;
		}
		}
	}
	return rc;
}

static int map_emit(void *state, const struct eau2_group *g,
		    struct eau2_rel_sink *b, struct eau2_error *err)
{
	struct map_state *s = state;
	size_t ncols = eau2_df_ncols(g->df);
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
		    (rc = append_vec(b, ncols, &v, err)))
			return rc;
	}
	for (size_t c = 0; c < ncols; c++)
		if ((rc = eau2_rel_append_rows(b, c, &g->cols[c], s->all,
					       g->rows, err)))
			return rc;
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
	return eau2_rel_out_finish(&((struct map_state *)state)->out, result, err);
}

static void map_destroy(void *state)
{
	struct map_state *s = state;

	eau2_expr_eval_free(s->ev);
	free(s->all);
	eau2_rel_out_destroy(&s->out);
}

const struct eau2_rower_class eau2_rower_map = {
	.name = "map",
	.summary = "every row plus a computed column: name=COLUMN expr=EXPR "
		   "(e.g. name=total expr=\"price * qty\")",
	.flags = EAU2_ROWER_ORDERED,
	.state_size = sizeof(struct map_state),
	.init = map_init,
	.accept_chunk = map_chunk,
	.join = map_join,
	.encode = map_encode,
	.decode = map_decode,
	.finish = map_finish,
	.destroy = map_destroy,
};
