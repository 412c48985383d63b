/* SPDX-License-Identifier: MIT */
/*
 * row.c - the row-at-a-time side of the rower interface: typed getters on
 * a struct eau2_row (one row of a row group's chunk views), the Fielder
 * visit, and argument lookup. All of it reads immutable views and is safe
 * from any thread.
 */
#include <errno.h>
#include <string.h>

#include "rowers/rowers.h"

static int row_view(const struct eau2_row *row, size_t col,
		    const struct eau2_chunk_view **v)
{
	if (!row || !row->cols || col >= eau2_df_ncols(row->df))
		return -ERANGE;
	*v = &row->cols[col];
	return eau2_view_valid(*v, row->i) ? 0 : EAU2_NULL;
}

int eau2_row_get_bool(const struct eau2_row *row, size_t col, bool *out)
{
	const struct eau2_chunk_view *v;
	int rc = row_view(row, col, &v);

	if (rc < 0)
		return rc;
	if (v->type != EAU2_BOOL)
		return -EINVAL;
	if (rc == 0)
		*out = eau2_view_bool(v, row->i);
	return rc;
}

int eau2_row_get_int(const struct eau2_row *row, size_t col, int64_t *out)
{
	const struct eau2_chunk_view *v;
	int rc = row_view(row, col, &v);

	if (rc < 0)
		return rc;
	if (v->type != EAU2_INT)
		return -EINVAL;
	if (rc == 0)
		*out = v->values.i64[row->i];
	return rc;
}

/* Like eau2_df_get_double, this also reads int columns. */
int eau2_row_get_double(const struct eau2_row *row, size_t col, double *out)
{
	const struct eau2_chunk_view *v;
	int rc = row_view(row, col, &v);

	if (rc < 0)
		return rc;
	if (v->type != EAU2_DOUBLE && v->type != EAU2_INT)
		return -EINVAL;
	if (rc == 0)
		*out = v->type == EAU2_DOUBLE ? v->values.f64[row->i]
					      : (double)v->values.i64[row->i];
	return rc;
}

int eau2_row_get_string(const struct eau2_row *row, size_t col,
			const char **s, size_t *len)
{
	const struct eau2_chunk_view *v;
	int rc = row_view(row, col, &v);

	if (rc < 0)
		return rc;
	if (v->type != EAU2_STRING)
		return -EINVAL;
	if (rc == 0)
		*s = eau2_view_string(v, row->i, len);
	return rc;
}

void eau2_row_visit(const struct eau2_row *row, const struct eau2_fielder *f,
		    void *ctx)
{
	size_t ncols = eau2_df_ncols(row->df);

	for (size_t c = 0; c < ncols; c++) {
		const struct eau2_chunk_view *v = &row->cols[c];
		uint32_t i = row->i;

		if (!eau2_view_valid(v, i)) {
			if (f->on_null)
				f->on_null(ctx, c);
			continue;
		}
		switch (v->type) {
		case EAU2_BOOL:
			if (f->on_bool)
				f->on_bool(ctx, c, eau2_view_bool(v, i));
			break;
		case EAU2_INT:
			if (f->on_int)
				f->on_int(ctx, c, v->values.i64[i]);
			break;
		case EAU2_DOUBLE:
			if (f->on_double)
				f->on_double(ctx, c, v->values.f64[i]);
			break;
		case EAU2_STRING:
			if (f->on_string) {
				size_t len;
				const char *s = eau2_view_string(v, i, &len);
				f->on_string(ctx, c, s, len);
			}
			break;
		}
	}
}

const char *eau2_args_get(const struct eau2_args *args, const char *name)
{
	if (!args || !name)
		return NULL;
	/* The last occurrence wins, as on a command line. */
	for (size_t i = args->n; i-- > 0;)
		if (args->names[i] && strcmp(args->names[i], name) == 0)
			return args->values[i];
	return NULL;
}
