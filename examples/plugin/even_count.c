/* SPDX-License-Identifier: MIT */
/*
 * even_count.c - an example eau2 plugin: the rower "even_count" counts the
 * even values of an int column (column=NAME; default the first int
 * column; nulls are not counted). Result: one row, one int column
 * "even_count".
 *
 * How a plugin works:
 *  - It is a shared library exporting `int eau2_plugin_init(struct
 *    eau2_error *err)`, which registers its classes with
 *    eau2_rower_register and returns 0, or a negative code with err
 *    filled. If it fails (or any registration fails) eau2_plugin_load
 *    unregisters whatever it registered and unloads it.
 *  - Its class objects must live as long as the process: a loaded plugin
 *    is never unloaded.
 *  - It takes eau2_* functions from the process that loads it, so it is
 *    linked against nothing (see examples/CMakeLists.txt).
 *  - A state must be plain data the executor can zero, init, feed, join,
 *    encode/decode (states cross processes in distributed runs) and
 *    destroy; here it is one counter.
 *
 * Build: cmake builds it as <build>/plugins/eau2_even_count.so. Use:
 *     eau2_plugin_load("path/eau2_even_count.so", &err);
 *     eau2_run(db, df, eau2_rower_find("even_count"), args, NULL, &res, &err);
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eau2.h"

struct even_state {
	size_t col;
	uint64_t n;
};

static int even_init(void *state, const struct eau2_run_ctx *ctx,
		     struct eau2_error *err)
{
	struct even_state *s = state;
	const eau2_schema *schema = eau2_df_schema(ctx->input);
	const char *name = eau2_args_get(ctx->args, "column");
	int c = -1;

	if (name) {
		c = eau2_schema_find(schema, name);
		if (c < 0)
			return eau2_error_set(err, -ENOENT, "even_count: no column '%s'", name);
	} else {
		for (size_t i = 0; i < eau2_schema_ncols(schema) && c < 0; i++)
			if (eau2_schema_type(schema, i) == EAU2_INT)
				c = (int)i;
		if (c < 0)
			return eau2_error_set(err, -EINVAL, "even_count: no int column");
	}
	if (eau2_schema_type(schema, (size_t)c) != EAU2_INT)
		return eau2_error_set(err, -EINVAL, "even_count: column '%s' is not int",
				      eau2_schema_name(schema, (size_t)c));
	s->col = (size_t)c;
	return 0;
}

/* The vectorised path: one row group at a time, straight off the view. */
static int even_chunk(void *state, const struct eau2_group *g,
		      struct eau2_error *err)
{
	struct even_state *s = state;
	const struct eau2_chunk_view *v = &g->cols[s->col];
	uint64_t n = 0;

	for (uint32_t i = 0; i < v->rows; i++)
		n += eau2_view_valid(v, i) && (v->values.i64[i] & 1) == 0;
	s->n += n;
	return 0;
}

static int even_join(void *state, void *other, struct eau2_error *err)
{
	((struct even_state *)state)->n += ((struct even_state *)other)->n;
	return 0;
}

static int even_encode(const void *state, void **buf, size_t *len,
		       struct eau2_error *err)
{
	uint64_t *p = malloc(sizeof(*p));

	if (!p)
		return eau2_error_set(err, -ENOMEM, "even_count: out of memory");
	*p = ((const struct even_state *)state)->n;
	*buf = p;
	*len = sizeof(*p);
	return 0;
}

static int even_decode(void *state, const void *buf, size_t len,
		       struct eau2_error *err)
{
	if (len != sizeof(uint64_t))
		return eau2_error_set(err, -EBADMSG, "even_count: state of %zu bytes", len);
	memcpy(&((struct even_state *)state)->n, buf, sizeof(uint64_t));
	return 0;
}

static int even_finish(void *state, const struct eau2_run_ctx *ctx,
		       eau2_df **result, struct eau2_error *err)
{
	int64_t n = (int64_t)((struct even_state *)state)->n;

	return eau2_df_from_scalar(ctx->db, "even_count", EAU2_INT, &n, result, err);
}

/* The one column it reads: the executor never touches the others. */
static void even_columns(const void *state, uint64_t *used, size_t ncols)
{
	(void)ncols;
	eau2_columns_set(used, ((const struct even_state *)state)->col);
}

static const struct eau2_rower_class even_count = {
	.name = "even_count",
	.summary = "number of even values of int column=NAME (default the first)",
	.state_size = sizeof(struct even_state),
	.init = even_init,
	.accept_chunk = even_chunk,
	.join = even_join,
	.encode = even_encode,
	.decode = even_decode,
	.finish = even_finish,
	.columns = even_columns,
};

__attribute__((visibility("default"))) int eau2_plugin_init(struct eau2_error *err);

int eau2_plugin_init(struct eau2_error *err)
{
	return eau2_rower_register(&even_count, err);
}
