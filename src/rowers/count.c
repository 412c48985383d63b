/* SPDX-License-Identifier: MIT */
/*
 * count.c - the "count" rower: the number of rows (column=NAME: the number
 * of non-null values of that column). Result: one row, one int column
 * "count". It reads only chunk headers (row and null counts), never data.
 */
#include <errno.h>
#include <string.h>

#include "rowers/rowers.h"

struct count_state {
	int col;      /* -1: count rows */
	uint64_t n;
};

static int count_init(void *state, const struct eau2_run_ctx *ctx,
		      struct eau2_error *err)
{
	struct count_state *s = state;
	const char *name = eau2_args_get(ctx->args, "column");

	s->col = -1;
	if (name) {
		s->col = eau2_schema_find(eau2_df_schema(ctx->input), name);
		if (s->col < 0)
			return eau2_error_set(err, -ENOENT, "count: no column '%s'", name);
	}
	return 0;
}

static int count_chunk(void *state, const struct eau2_group *g,
		       struct eau2_error *err)
{
	struct count_state *s = state;

	s->n += s->col < 0 ? g->rows : g->rows - g->cols[s->col].null_count;
	return 0;
}

static int count_join(void *state, void *other, struct eau2_error *err)
{
	((struct count_state *)state)->n += ((struct count_state *)other)->n;
	return 0;
}

static int count_encode(const void *state, void **buf, size_t *len,
			struct eau2_error *err)
{
	struct eau2_buf b = {0};

	if (eau2_buf_u64(&b, ((const struct count_state *)state)->n) < 0)
		return eau2_error_set(err, -ENOMEM, "count: encode: out of memory");
	*buf = b.p;
	*len = b.len;
	return 0;
}

static int count_decode(void *state, const void *buf, size_t len,
			struct eau2_error *err)
{
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t n;

	if (eau2_rd_u64(&r, &n) < 0 || r.pos != len)
		return eau2_error_set(err, -EBADMSG, "count: decode: %zu bytes, want 8", len);
	((struct count_state *)state)->n = n;
	return 0;
}

static int count_finish(void *state, const struct eau2_run_ctx *ctx,
			eau2_df **result, struct eau2_error *err)
{
	int64_t n = (int64_t)((struct count_state *)state)->n;

	return eau2_df_from_scalar(ctx->db, "count", EAU2_INT, &n, result, err);
}

static void count_columns(const void *state, uint64_t *used, size_t ncols)
{
	const struct count_state *s = state;

	(void)ncols;
	if (s->col >= 0)
		eau2_columns_set(used, (size_t)s->col);
}

static const char *const count_args[] = { "column", NULL };

const struct eau2_rower_class eau2_rower_count = {
	.name = "count",
	.summary = "number of rows; column=NAME: non-null values of NAME",
	.state_size = sizeof(struct count_state),
	.init = count_init,
	.accept_chunk = count_chunk,
	.join = count_join,
	.encode = count_encode,
	.decode = count_decode,
	.finish = count_finish,
	.columns = count_columns,
	.args = count_args,
};
