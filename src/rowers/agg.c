/* SPDX-License-Identifier: MIT */
/*
 * agg.c - the "sum", "min", "max" and "mean" rowers over numeric columns
 * (columns=a,b; default: every int and double column). Nulls are skipped,
 * as in SQL: an aggregate of no value is null. Result: one row, one column
 * per input column named <op>_<column> (sum/min/max keep the input type,
 * mean is double).
 *
 * Determinism: int sums are exact (__int128; a final sum outside int64 is
 * an error naming the column), so their result cannot depend on how row
 * groups are spread over threads. Double sums are kept as one partial sum
 * per (row group, column), summed in a fixed order within the group;
 * finish adds the partials in row-group order, so sum and mean of doubles
 * are bit-identical for any thread count. min/max ignore NaN (NaN only when
 * every value is NaN) and order -0.0 below +0.0.
 *
 * Int min/max use the chunk header's min/max when present: no data read.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "rowers/rowers.h"

enum agg_op { AGG_SUM, AGG_MIN, AGG_MAX, AGG_MEAN };
static const char *const op_names[] = { "sum", "min", "max", "mean" };

#define AGG_MAGIC 0x31474741u /* "AGG1" */

struct agg_col {
	uint64_t col;
	uint64_t type;
	uint64_t count;    /* non-null values */
	uint64_t nonnan;   /* doubles: non-null values that are not NaN */
	__int128 isum;
	int64_t imin, imax;
	double dmin, dmax;
};

struct agg_part {
	uint64_t group;
	uint64_t col;     /* index into cols */
	double sum;
};

struct agg_state {
	enum agg_op op;
	size_t n;
	struct agg_col *cols;
	struct agg_part *parts;
	size_t nparts, capparts;
};

static int agg_init(void *state, const struct eau2_run_ctx *ctx, enum agg_op op,
		    struct eau2_error *err)
{
	struct agg_state *s = state;
	const eau2_schema *schema = eau2_df_schema(ctx->input);
	const char *list = eau2_args_get(ctx->args, "columns");
	const char *what = op_names[op];
	size_t *idx = NULL, n = 0;
	int rc = 0;

	s->op = op;
	if (!list)
		list = eau2_args_get(ctx->args, "column");
	if (list) {
		char w[32];
		snprintf(w, sizeof(w), "%s: columns", what);
		rc = eau2_rowers_columns(schema, list, w, &idx, &n, err);
		if (rc < 0)
			goto out;
	} else {
		size_t nc = eau2_schema_ncols(schema);
		idx = malloc((nc ? nc : 1) * sizeof(*idx));
		if (!idx) {
			rc = eau2_error_set(err, -ENOMEM, "%s: out of memory", what);
			goto out;
		}
		for (size_t c = 0; c < nc; c++) {
			enum eau2_type t = eau2_schema_type(schema, c);
			if (t == EAU2_INT || t == EAU2_DOUBLE)
				idx[n++] = c;
		}
		if (n == 0) {
			rc = eau2_error_set(err, -EINVAL, "%s: no int or double column", what);
			goto out;
		}
	}
	s->cols = calloc(n, sizeof(*s->cols));
	if (!s->cols) {
		rc = eau2_error_set(err, -ENOMEM, "%s: out of memory", what);
		goto out;
	}
	s->n = n;
	for (size_t i = 0; i < n; i++) {
		enum eau2_type t = eau2_schema_type(schema, idx[i]);
		struct agg_col *c = &s->cols[i];
		if (t != EAU2_INT && t != EAU2_DOUBLE) {
			rc = eau2_error_set(err, -EINVAL,
					    "%s: column '%s' is %s, want int or double",
					    what, eau2_schema_name(schema, idx[i]),
					    eau2_type_name(t));
			goto out;
		}
		c->col = idx[i];
		c->type = t;
		c->imin = INT64_MAX;
		c->imax = INT64_MIN;
		c->dmin = INFINITY;
		c->dmax = -INFINITY;
	}
out:
	free(idx);
	return rc;
}

static int sum_init(void *s, const struct eau2_run_ctx *c, struct eau2_error *e)
{
	return agg_init(s, c, AGG_SUM, e);
}
static int min_init(void *s, const struct eau2_run_ctx *c, struct eau2_error *e)
{
	return agg_init(s, c, AGG_MIN, e);
}
static int max_init(void *s, const struct eau2_run_ctx *c, struct eau2_error *e)
{
	return agg_init(s, c, AGG_MAX, e);
}
static int mean_init(void *s, const struct eau2_run_ctx *c, struct eau2_error *e)
{
	return agg_init(s, c, AGG_MEAN, e);
}

static void agg_destroy(void *state)
{
	struct agg_state *s = state;

	free(s->cols);
	free(s->parts);
}

/* Exact sum of n int64 values. Each value is split with logical shifts
 * only (so SSE2 handles two per instruction): v = hu * 2^32 + lo - neg *
 * 2^64, where lo = low 32 bits, hu = high 32 bits unsigned, neg = sign
 * bit. The three are summed in 64-bit lanes over blocks of 64Ki values,
 * where none can overflow, then combined in __int128. Null slots are
 * masked to 0 (their bytes are undefined). */
static __int128 sum_block(const int64_t *v, uint32_t n)
{
	uint64_t lo = 0, hu = 0, neg = 0;
	uint32_t i = 0;

#ifdef __SSE2__
	const __m128i mask = _mm_set1_epi64x(0xffffffff);
	__m128i l0 = _mm_setzero_si128(), h0 = l0, n0 = l0, l1 = l0, h1 = l0, n1 = l0;
	for (; i + 4 <= n; i += 4) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(v + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(v + i + 2));
		l0 = _mm_add_epi64(l0, _mm_and_si128(a, mask));
		h0 = _mm_add_epi64(h0, _mm_srli_epi64(a, 32));
		n0 = _mm_add_epi64(n0, _mm_srli_epi64(a, 63));
		l1 = _mm_add_epi64(l1, _mm_and_si128(b, mask));
		h1 = _mm_add_epi64(h1, _mm_srli_epi64(b, 32));
		n1 = _mm_add_epi64(n1, _mm_srli_epi64(b, 63));
	}
	uint64_t t[2];
	_mm_storeu_si128((__m128i *)(void *)t, _mm_add_epi64(l0, l1));
	lo = t[0] + t[1];
	_mm_storeu_si128((__m128i *)(void *)t, _mm_add_epi64(h0, h1));
	hu = t[0] + t[1];
	_mm_storeu_si128((__m128i *)(void *)t, _mm_add_epi64(n0, n1));
	neg = t[0] + t[1];
#endif
	for (; i < n; i++) {
		uint64_t x = (uint64_t)v[i];
		lo += x & 0xffffffff;
		hu += x >> 32;
		neg += x >> 63;
	}
	return (__int128)hu * 4294967296 + lo - (__int128)neg * 4294967296 * 4294967296;
}

static __int128 sum_i64(const int64_t *v, const uint8_t *valid, uint32_t n)
{
	__int128 total = 0;

	for (uint32_t b = 0; b < n; b += 65536) {
		uint32_t e = n - b < 65536 ? n : b + 65536;
		if (!valid) {
			total += sum_block(v + b, e - b);
			continue;
		}
		uint64_t lo = 0, hu = 0, neg = 0;
		for (uint32_t i = b; i < e; i++) {
			uint64_t m = -(uint64_t)((valid[i >> 3] >> (i & 7)) & 1);
			uint64_t x = (uint64_t)v[i] & m;
			lo += x & 0xffffffff;
			hu += x >> 32;
			neg += x >> 63;
		}
		total += (__int128)hu * 4294967296 + lo - (__int128)neg * 4294967296 * 4294967296;
	}
	return total;
}

/* Sum of doubles in a fixed order (4 interleaved lanes, then lanes
 * 0+1+2+3): the same for a group whichever thread runs it. */
static double sum_f64(const double *v, const uint8_t *valid, uint32_t n)
{
	double a[4] = { 0, 0, 0, 0 };
	uint32_t i = 0;

	if (!valid) {
		for (; i + 4 <= n; i += 4) {
			a[0] += v[i];
			a[1] += v[i + 1];
			a[2] += v[i + 2];
			a[3] += v[i + 3];
		}
		for (; i < n; i++)
			a[i & 3] += v[i];
	} else {
		for (; i < n; i++)
			a[i & 3] += ((valid[i >> 3] >> (i & 7)) & 1) ? v[i] : 0.0;
	}
	return (a[0] + a[1]) + (a[2] + a[3]);
}

static bool dless(double a, double b) /* a before b, -0.0 < +0.0 */
{
	return a < b || (a == b && signbit(a) && !signbit(b));
}

static void minmax_f64(struct agg_col *c, const struct eau2_chunk_view *v)
{
	for (uint32_t i = 0; i < v->rows; i++) {
		if (!eau2_view_valid(v, i))
			continue;
		double x = v->values.f64[i];
		if (isnan(x))
			continue;
		c->nonnan++;
		if (dless(x, c->dmin))
			c->dmin = x;
		if (dless(c->dmax, x))
			c->dmax = x;
	}
}

static void minmax_i64(struct agg_col *c, const struct eau2_chunk_view *v)
{
	int64_t mn = c->imin, mx = c->imax;

	if (v->has_minmax) {
		mn = v->min.i < mn ? v->min.i : mn;
		mx = v->max.i > mx ? v->max.i : mx;
	} else if (!v->validity) {
		for (uint32_t i = 0; i < v->rows; i++) {
			int64_t x = v->values.i64[i];
			mn = x < mn ? x : mn;
			mx = x > mx ? x : mx;
		}
	} else {
		for (uint32_t i = 0; i < v->rows; i++) {
			if (!eau2_view_valid(v, i))
				continue;
			int64_t x = v->values.i64[i];
			mn = x < mn ? x : mn;
			mx = x > mx ? x : mx;
		}
	}
	c->imin = mn;
	c->imax = mx;
}

static int add_part(struct agg_state *s, uint64_t group, uint64_t col, double sum)
{
	if (s->nparts == s->capparts) {
		size_t ncap = s->capparts ? s->capparts * 2 : 64;
		void *p = realloc(s->parts, ncap * sizeof(*s->parts));
		if (!p)
			return -ENOMEM;
		s->parts = p;
		s->capparts = ncap;
	}
	s->parts[s->nparts++] = (struct agg_part){ group, col, sum };
	return 0;
}

static int agg_chunk(void *state, const struct eau2_group *g,
		     struct eau2_error *err)
{
	struct agg_state *s = state;

	for (size_t k = 0; k < s->n; k++) {
		struct agg_col *c = &s->cols[k];
		const struct eau2_chunk_view *v = &g->cols[c->col];
		uint32_t valid = v->rows - v->null_count;
		if (valid == 0)
			continue;
		c->count += valid;
		const uint8_t *bm = v->null_count ? v->validity : NULL;
		if (s->op == AGG_MIN || s->op == AGG_MAX) {
			if (c->type == EAU2_INT)
				minmax_i64(c, v);
			else
				minmax_f64(c, v);
		} else if (c->type == EAU2_INT) {
			c->isum += sum_i64(v->values.i64, bm, v->rows);
		} else if (add_part(s, g->group, k, sum_f64(v->values.f64, bm, v->rows)) < 0) {
			return eau2_error_set(err, -ENOMEM, "%s: out of memory",
					      op_names[s->op]);
		}
	}
	return 0;
}

static int agg_join(void *state, void *other_, struct eau2_error *err)
{
	struct agg_state *s = state, *o = other_;

	for (size_t k = 0; k < s->n; k++) {
		struct agg_col *c = &s->cols[k], *d = &o->cols[k];
		c->count += d->count;
		c->nonnan += d->nonnan;
		c->isum += d->isum;
		c->imin = d->imin < c->imin ? d->imin : c->imin;
		c->imax = d->imax > c->imax ? d->imax : c->imax;
		if (dless(d->dmin, c->dmin))
			c->dmin = d->dmin;
		if (dless(c->dmax, d->dmax))
			c->dmax = d->dmax;
	}
	for (size_t i = 0; i < o->nparts; i++)
		if (add_part(s, o->parts[i].group, o->parts[i].col, o->parts[i].sum) < 0)
			return eau2_error_set(err, -ENOMEM, "%s: out of memory",
					      op_names[s->op]);
	return 0;
}

static int agg_encode(const void *state, void **buf, size_t *len,
		      struct eau2_error *err)
{
	const struct agg_state *s = state;
	struct eau2_buf b = {0};
	int rc = 0;

	rc |= eau2_buf_u64(&b, AGG_MAGIC);
	rc |= eau2_buf_u64(&b, s->op);
	rc |= eau2_buf_u64(&b, s->n);
	rc |= eau2_buf_put(&b, s->cols, s->n * sizeof(*s->cols));
	rc |= eau2_buf_u64(&b, s->nparts);
	rc |= eau2_buf_put(&b, s->parts, s->nparts * sizeof(*s->parts));
	if (rc) {
		free(b.p);
		return eau2_error_set(err, -ENOMEM, "%s: encode: out of memory",
				      op_names[s->op]);
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

static int agg_decode(void *state, const void *buf, size_t len,
		      struct eau2_error *err)
{
	struct agg_state *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t magic, op, n, nparts;
	struct agg_col *cols = NULL;
	int rc = 0;

	if (eau2_rd_u64(&r, &magic) || eau2_rd_u64(&r, &op) || eau2_rd_u64(&r, &n) ||
	    magic != AGG_MAGIC || op != s->op || n != s->n) {
		rc = eau2_error_set(err, -EBADMSG, "%s: decode: bad header",
				    op_names[s->op]);
		goto out;
	}
	cols = malloc((n ? n : 1) * sizeof(*cols));
	if (!cols) {
		rc = eau2_error_set(err, -ENOMEM, "%s: decode: out of memory",
				    op_names[s->op]);
		goto out;
	}
	if (eau2_rd_get(&r, cols, n * sizeof(*cols)) || eau2_rd_u64(&r, &nparts) ||
	    nparts > (r.len - r.pos) / sizeof(*s->parts) ||
	    r.len - r.pos != nparts * sizeof(*s->parts)) {
		rc = eau2_error_set(err, -EBADMSG, "%s: decode: truncated state",
				    op_names[s->op]);
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		if (cols[k].col != s->cols[k].col || cols[k].type != s->cols[k].type) {
			rc = eau2_error_set(err, -EBADMSG,
					    "%s: decode: column %zu does not match",
					    op_names[s->op], k);
			goto out;
		}
	}
	s->nparts = 0;
	for (size_t i = 0; i < nparts; i++) {
		struct agg_part p;
		eau2_rd_get(&r, &p, sizeof(p));
		if (p.col >= n) {
			rc = eau2_error_set(err, -EBADMSG, "%s: decode: bad partial",
					    op_names[s->op]);
			goto out;
		}
		if (add_part(s, p.group, p.col, p.sum) < 0) {
			rc = eau2_error_set(err, -ENOMEM, "%s: decode: out of memory",
					    op_names[s->op]);
			goto out;
		}
	}
	memcpy(s->cols, cols, n * sizeof(*cols));
out:
	free(cols);
	return rc;
}

static int part_cmp(const void *a_, const void *b_)
{
	const struct agg_part *a = a_, *b = b_;

	if (a->group != b->group)
		return a->group < b->group ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return memcmp(&a->sum, &b->sum, sizeof(a->sum));
}

static int agg_finish(void *state, const struct eau2_run_ctx *ctx,
		      eau2_df **result, struct eau2_error *err)
{
	struct agg_state *s = state;
	const eau2_schema *in = eau2_df_schema(ctx->input);
	const char *what = op_names[s->op];
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	double *dsum = NULL;
	int rc;

	dsum = calloc(s->n ? s->n : 1, sizeof(*dsum));
	if (!dsum) {
		rc = eau2_error_set(err, -ENOMEM, "%s: out of memory", what);
		goto out;
	}
	if (s->nparts > 1)
		qsort(s->parts, s->nparts, sizeof(*s->parts), part_cmp);
	for (size_t i = 0; i < s->nparts; i++)
		dsum[s->parts[i].col] += s->parts[i].sum;

	rc = eau2_schema_new(&schema, err);
	for (size_t k = 0; rc == 0 && k < s->n; k++) {
		char name[EAU2_NAME_MAX + 1];
		enum eau2_type t = s->op == AGG_MEAN ? EAU2_DOUBLE
						     : (enum eau2_type)s->cols[k].type;
		snprintf(name, sizeof(name), "%s_%s", what,
			 eau2_schema_name(in, s->cols[k].col));
		rc = eau2_schema_add(schema, name, t, err);
	}
	if (rc == 0)
		rc = eau2_builder_new(ctx->db, schema, &b, err);
	for (size_t k = 0; rc == 0 && k < s->n; k++) {
		const struct agg_col *c = &s->cols[k];
		if (c->count == 0) {
			rc = eau2_builder_append_null(b, k, err);
			continue;
		}
		if (c->type == EAU2_INT && (c->isum > INT64_MAX || c->isum < INT64_MIN) &&
		    s->op == AGG_SUM) {
			rc = eau2_error_set(err, -ERANGE, "sum: column '%s': int64 overflow",
					    eau2_schema_name(in, c->col));
			break;
		}
		switch (s->op) {
		case AGG_SUM:
			rc = c->type == EAU2_INT
				? eau2_builder_append_int(b, k, (int64_t)c->isum, err)
				: eau2_builder_append_double(b, k, dsum[k], err);
			break;
		case AGG_MEAN:
			rc = eau2_builder_append_double(b, k,
				(c->type == EAU2_INT ? (double)c->isum : dsum[k]) /
				(double)c->count, err);
			break;
		case AGG_MIN:
		case AGG_MAX:
			if (c->type == EAU2_INT)
				rc = eau2_builder_append_int(b, k,
					s->op == AGG_MIN ? c->imin : c->imax, err);
			else
				rc = eau2_builder_append_double(b, k, !c->nonnan ? NAN :
					s->op == AGG_MIN ? c->dmin : c->dmax, err);
			break;
		}
	}
	if (rc == 0) {
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
	}
out:
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(dsum);
	return rc;
}

static void agg_columns(const void *state, uint64_t *used, size_t ncols)
{
	const struct agg_state *s = state;

	(void)ncols;
	for (size_t k = 0; k < s->n; k++)
		eau2_columns_set(used, s->cols[k].col);
}

static const char *const agg_args[] = { "columns", "column", NULL };

#define AGG_CLASS(op_, init_, summary_)				\
	{							\
		.name = #op_,					\
		.summary = summary_,				\
		.state_size = sizeof(struct agg_state),		\
		.init = init_,					\
		.accept_chunk = agg_chunk,			\
		.join = agg_join,				\
		.encode = agg_encode,				\
		.decode = agg_decode,				\
		.finish = agg_finish,				\
		.destroy = agg_destroy,				\
		.columns = agg_columns,				\
		.args = agg_args,				\
	}

const struct eau2_rower_class eau2_rower_sum = AGG_CLASS(sum, sum_init,
	"sum of numeric columns (columns=a,b; nulls skipped; int overflow is an error)");
const struct eau2_rower_class eau2_rower_min = AGG_CLASS(min, min_init,
	"minimum of numeric columns (columns=a,b; nulls and NaN skipped)");
const struct eau2_rower_class eau2_rower_max = AGG_CLASS(max, max_init,
	"maximum of numeric columns (columns=a,b; nulls and NaN skipped)");
const struct eau2_rower_class eau2_rower_mean = AGG_CLASS(mean, mean_init,
	"mean of numeric columns (columns=a,b; nulls skipped)");
