/* SPDX-License-Identifier: MIT */
/*
 * sort.c - the "sort" rower: by=col[:asc|:desc],col2... orders the rows
 * (nulls last in either direction, false < true, NaN after every number,
 * strings bytewise); ties are broken by row number, so the order is total
 * and the output the same for any thread count. limit=K keeps the first K
 * rows: each state holds a bounded max-heap of its K best candidates
 * (O(n log K), no full sort); without a limit every row is a candidate
 * and finish sorts them. The result has every input column.
 *
 * A candidate is (row number, key values); string keys point into the
 * input dataframe (held for the whole run) or, for decoded states, into
 * the state's arena, which join moves into the surviving state.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "df/df.h"
#include "rowers/rowers.h"

#define SORT_MAGIC 0x31545253u /* "SRT1" */

struct sort_key {
	size_t col;
	enum eau2_type type;
	bool desc;
};

union sort_val {
	int64_t i;
	double d;
	bool b;
	struct {
		const char *p;
		uint64_t len;
	} s;
};

struct sort_state {
	size_t nk;
	struct sort_key *keys;
	uint64_t limit;        /* UINT64_MAX: no limit */
	size_t n, cap;         /* candidates */
	uint64_t *rows;        /* [cap] */
	union sort_val *vals;  /* [cap * nk] */
	uint8_t *nulls;        /* [cap * nk] */
	union sort_val *tv;    /* scratch candidate: [nk] */
	uint8_t *tn;
	struct eau2_arena arena;
};

static int sort_init(void *state, const struct eau2_run_ctx *ctx,
		     struct eau2_error *err)
{
	struct sort_state *s = state;
	const eau2_schema *schema = eau2_df_schema(ctx->input);
	const char *by = eau2_args_get(ctx->args, "by");
	const char *limit = eau2_args_get(ctx->args, "limit");
	size_t count = 1;

	eau2_arena_init(&s->arena);
	s->limit = UINT64_MAX;
	if (limit) {
		char *end;
		errno = 0;
		unsigned long long k = strtoull(limit, &end, 10);
		if (!*limit || *end || errno || *limit == '-')
			return eau2_error_set(err, -EINVAL, "sort: limit: bad number '%s'", limit);
		s->limit = k;
	}
	if (!by || !*by)
		return eau2_error_set(err, -EINVAL, "sort: argument by=col[:desc],... is required");
	for (const char *p = by; *p; p++)
		count += *p == ',';
	if (count > EAU2_COLS_MAX)
		return eau2_error_set(err, -EINVAL, "sort: by: too many keys");
	s->keys = calloc(count, sizeof(*s->keys));
	s->tv = calloc(count, sizeof(*s->tv));
	s->tn = calloc(count, 1);
	if (!s->keys || !s->tv || !s->tn)
		return eau2_error_set(err, -ENOMEM, "sort: out of memory");
	for (const char *p = by;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char name[EAU2_NAME_MAX + 8];
		bool desc = false;
		if (len == 0 || len >= sizeof(name))
			return eau2_error_set(err, -EINVAL, "sort: by: bad key in '%s'", by);
		memcpy(name, p, len);
		name[len] = 0;
		char *colon = strrchr(name, ':');
		if (colon && (strcmp(colon, ":desc") == 0 || strcmp(colon, ":asc") == 0)) {
			desc = colon[1] == 'd';
			*colon = 0;
		}
		int c = eau2_schema_find(schema, name);
		if (c < 0)
			return eau2_error_set(err, -ENOENT, "sort: by: no column '%s'", name);
		s->keys[s->nk++] = (struct sort_key){
			.col = (size_t)c, .type = eau2_schema_type(schema, (size_t)c),
			.desc = desc };
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

static void sort_destroy(void *state)
{
	struct sort_state *s = state;

	free(s->keys);
	free(s->rows);
	free(s->vals);
	free(s->nulls);
	free(s->tv);
	free(s->tn);
	eau2_arena_free(&s->arena);
}

static int dcmp(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	return (a > b) - (a < b);
}

/* <0 when candidate a comes before b in the output. */
static int cand_cmp(const struct sort_state *s, uint64_t ra, const union sort_val *va,
		    const uint8_t *na, uint64_t rb, const union sort_val *vb,
		    const uint8_t *nb)
{
	for (size_t k = 0; k < s->nk; k++) {
		if (na[k] != nb[k])
			return na[k] ? 1 : -1; /* nulls last */
		if (na[k])
			continue;
		int c = 0;
		switch (s->keys[k].type) {
		case EAU2_BOOL:
			c = (int)va[k].b - (int)vb[k].b;
			break;
		case EAU2_INT:
			c = (va[k].i > vb[k].i) - (va[k].i < vb[k].i);
			break;
		case EAU2_DOUBLE:
			c = dcmp(va[k].d, vb[k].d);
			break;
		case EAU2_STRING: {
			uint64_t la = va[k].s.len, lb = vb[k].s.len;
			c = memcmp(va[k].s.p, vb[k].s.p, la < lb ? la : lb);
			if (c == 0)
				c = (la > lb) - (la < lb);
			break;
		}
		}
		if (c)
			return s->keys[k].desc ? -c : c;
	}
	return (ra > rb) - (ra < rb);
}

static int idx_cmp(const struct sort_state *s, size_t a, size_t b)
{
	return cand_cmp(s, s->rows[a], &s->vals[a * s->nk], &s->nulls[a * s->nk],
			s->rows[b], &s->vals[b * s->nk], &s->nulls[b * s->nk]);
}

static void cand_set(struct sort_state *s, size_t at, uint64_t row,
		     const union sort_val *v, const uint8_t *nl)
{
	s->rows[at] = row;
	memcpy(&s->vals[at * s->nk], v, s->nk * sizeof(*v));
	memcpy(&s->nulls[at * s->nk], nl, s->nk);
}

static void cand_swap(struct sort_state *s, size_t a, size_t b)
{
	uint64_t r = s->rows[a];
	s->rows[a] = s->rows[b];
	s->rows[b] = r;
	for (size_t k = 0; k < s->nk; k++) {
		union sort_val v = s->vals[a * s->nk + k];
		s->vals[a * s->nk + k] = s->vals[b * s->nk + k];
		s->vals[b * s->nk + k] = v;
		uint8_t n = s->nulls[a * s->nk + k];
		s->nulls[a * s->nk + k] = s->nulls[b * s->nk + k];
		s->nulls[b * s->nk + k] = n;
	}
}

static int cand_reserve(struct sort_state *s)
{
	if (s->n < s->cap)
		return 0;
	size_t ncap = s->cap ? s->cap * 2 : 256;
	size_t nk = s->nk ? s->nk : 1;
	if (ncap > SIZE_MAX / (nk * sizeof(union sort_val)))
		return -ENOMEM;
	void *r = realloc(s->rows, ncap * sizeof(*s->rows));
	if (!r)
		return -ENOMEM;
	s->rows = r;
	void *v = realloc(s->vals, ncap * nk * sizeof(*s->vals));
	if (!v)
		return -ENOMEM;
	s->vals = v;
	void *n = realloc(s->nulls, ncap * nk);
	if (!n)
		return -ENOMEM;
	s->nulls = n;
	s->cap = ncap;
	return 0;
}

/* Offers one candidate: appended without a limit; with one, kept in the
 * max-heap (root = the worst kept) when it beats the root. */
static int cand_offer(struct sort_state *s, uint64_t row, const union sort_val *v,
		      const uint8_t *nl)
{
	if (s->limit == 0)
		return 0;
	if (s->limit == UINT64_MAX || s->n < s->limit) {
		if (cand_reserve(s) < 0)
			return -ENOMEM;
		size_t i = s->n++;
		cand_set(s, i, row, v, nl);
		if (s->limit == UINT64_MAX)
			return 0;
		while (i > 0) { /* sift up */
			size_t p = (i - 1) / 2;
			if (idx_cmp(s, p, i) >= 0)
				break;
			cand_swap(s, p, i);
			i = p;
		}
		return 0;
	}
	if (cand_cmp(s, row, v, nl, s->rows[0], s->vals, s->nulls) >= 0)
		return 0;
	cand_set(s, 0, row, v, nl);
	for (size_t i = 0;;) { /* sift down */
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->n && idx_cmp(s, l, m) > 0)
			m = l;
		if (r < s->n && idx_cmp(s, r, m) > 0)
			m = r;
		if (m == i)
			break;
		cand_swap(s, i, m);
		i = m;
	}
	return 0;
}

static int sort_chunk(void *state, const struct eau2_group *g,
		      struct eau2_error *err)
{
	struct sort_state *s = state;

	for (uint32_t i = 0; i < g->rows; i++) {
		for (size_t k = 0; k < s->nk; k++) {
			const struct eau2_chunk_view *v = &g->cols[s->keys[k].col];
			s->tn[k] = !eau2_view_valid(v, i);
			if (s->tn[k]) {
				memset(&s->tv[k], 0, sizeof(s->tv[k]));
				continue;
			}
			switch (v->type) {
			case EAU2_BOOL:
				s->tv[k].b = eau2_view_bool(v, i);
				break;
			case EAU2_INT:
				s->tv[k].i = v->values.i64[i];
				break;
			case EAU2_DOUBLE:
				s->tv[k].d = v->values.f64[i];
				break;
			case EAU2_STRING: {
				size_t len;
				s->tv[k].s.p = eau2_view_string(v, i, &len);
				s->tv[k].s.len = len;
				break;
			}
			}
		}
		if (cand_offer(s, g->first_row + i, s->tv, s->tn) < 0)
			return eau2_error_set(err, -ENOMEM, "sort: out of memory");
	}
	return 0;
}

static int sort_join(void *state, void *other_, struct eau2_error *err)
{
	struct sort_state *s = state, *o = other_;

	eau2_arena_merge(&s->arena, &o->arena);
	for (size_t i = 0; i < o->n; i++)
		if (cand_offer(s, o->rows[i], &o->vals[i * o->nk], &o->nulls[i * o->nk]) < 0)
			return eau2_error_set(err, -ENOMEM, "sort: out of memory");
	return 0;
}

static int sort_encode(const void *state, void **buf, size_t *len,
		       struct eau2_error *err)
{
	const struct sort_state *s = state;
	struct eau2_buf b = {0};
	int rc = 0;

	rc |= eau2_buf_u64(&b, SORT_MAGIC);
	rc |= eau2_buf_u64(&b, s->nk);
	rc |= eau2_buf_u64(&b, s->n);
	for (size_t i = 0; rc == 0 && i < s->n; i++) {
		rc |= eau2_buf_u64(&b, s->rows[i]);
		for (size_t k = 0; k < s->nk; k++) {
			const union sort_val *v = &s->vals[i * s->nk + k];
			uint8_t nl = s->nulls[i * s->nk + k];
			rc |= eau2_buf_put(&b, &nl, 1);
			if (nl)
				continue;
			switch (s->keys[k].type) {
			case EAU2_BOOL: {
				uint8_t x = v->b;
				rc |= eau2_buf_put(&b, &x, 1);
				break;
			}
			case EAU2_INT:
			case EAU2_DOUBLE:
				rc |= eau2_buf_put(&b, &v->i, 8);
				break;
			case EAU2_STRING:
				rc |= eau2_buf_bytes(&b, v->s.p, v->s.len);
				break;
			}
		}
	}
	if (rc) {
		free(b.p);
		return eau2_error_set(err, -ENOMEM, "sort: encode: out of memory");
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

static int sort_decode(void *state, const void *buf, size_t len,
		       struct eau2_error *err)
{
	struct sort_state *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t magic, nk, n;

	if (eau2_rd_u64(&r, &magic) || eau2_rd_u64(&r, &nk) || eau2_rd_u64(&r, &n) ||
	    magic != SORT_MAGIC || nk != s->nk || n > (len - r.pos) / 8)
		return eau2_error_set(err, -EBADMSG, "sort: decode: bad header");
	for (uint64_t i = 0; i < n; i++) {
		uint64_t row;
		if (eau2_rd_u64(&r, &row))
			goto bad;
		for (size_t k = 0; k < s->nk; k++) {
			union sort_val *v = &s->tv[k];
			memset(v, 0, sizeof(*v));
			if (eau2_rd_get(&r, &s->tn[k], 1) || s->tn[k] > 1)
				goto bad;
			if (s->tn[k])
				continue;
			switch (s->keys[k].type) {
			case EAU2_BOOL: {
				uint8_t x;
				if (eau2_rd_get(&r, &x, 1) || x > 1)
					goto bad;
				v->b = x;
				break;
			}
			case EAU2_INT:
			case EAU2_DOUBLE:
				if (eau2_rd_get(&r, &v->i, 8))
					goto bad;
				break;
			case EAU2_STRING: {
				const char *p;
				size_t sl;
				if (eau2_rd_bytes(&r, &p, &sl))
					goto bad;
				v->s.p = eau2_arena_memdup(&s->arena, p, sl);
				v->s.len = sl;
				if (!v->s.p)
					return eau2_error_set(err, -ENOMEM,
							      "sort: decode: out of memory");
				break;
			}
			}
		}
		if (cand_offer(s, row, s->tv, s->tn) < 0)
			return eau2_error_set(err, -ENOMEM, "sort: decode: out of memory");
	}
	if (r.pos != len)
		goto bad;
	return 0;
bad:
	return eau2_error_set(err, -EBADMSG, "sort: decode: truncated or corrupt state");
}

static _Thread_local const struct sort_state *qsort_state;

static int order_cmp(const void *a, const void *b)
{
	return idx_cmp(qsort_state, *(const size_t *)a, *(const size_t *)b);
}

/* Appends row `row` of df (all columns) to b; views caches the chunk views
 * of row group *cached. */
static int copy_row(const eau2_df *df, uint64_t row, struct eau2_chunk_view *views,
		    size_t *cached, eau2_builder *b, struct eau2_error *err)
{
	size_t ncols = eau2_df_ncols(df), g;
	int rc = eau2_df_find_group(df, row, &g);

	if (rc < 0)
		return eau2_error_set(err, rc, "sort: row %llu out of range",
				      (unsigned long long)row);
	if (g != *cached) {
		for (size_t c = 0; c < ncols; c++) {
			rc = eau2_df_chunk(df, c, g, &views[c], err);
			if (rc < 0)
				return rc;
		}
		*cached = g;
	}
	uint32_t i = (uint32_t)(row - eau2_df_group_first_row(df, g));
	for (size_t c = 0; c < ncols && rc == 0; c++)
		rc = eau2_builder_append_cell(b, c, &views[c], i, err);
	return rc;
}

static int sort_finish(void *state, const struct eau2_run_ctx *ctx,
		       eau2_df **result, struct eau2_error *err)
{
	struct sort_state *s = state;
	const eau2_df *df = ctx->input;
	struct eau2_chunk_view *views = NULL;
	eau2_builder *b = NULL;
	size_t *order = NULL, cached = SIZE_MAX;
	int rc = 0;

	order = malloc((s->n ? s->n : 1) * sizeof(*order));
	views = calloc(eau2_df_ncols(df) + 1, sizeof(*views));
	if (!order || !views) {
		rc = eau2_error_set(err, -ENOMEM, "sort: out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->n; i++)
		order[i] = i;
	qsort_state = s;
	qsort(order, s->n, sizeof(*order), order_cmp);
	rc = eau2_builder_new(ctx->db, eau2_df_schema(df), &b, err);
	for (size_t i = 0; rc == 0 && i < s->n; i++)
		rc = copy_row(df, s->rows[order[i]], views, &cached, b, err);
	if (rc == 0) {
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
	}
out:
	eau2_builder_abort(b);
	free(order);
	free(views);
	return rc;
}

/* accept_chunk reads the keys; finish gathers the output rows itself. */
static void sort_columns(const void *state, uint64_t *used, size_t ncols)
{
	const struct sort_state *s = state;

	(void)ncols;
	for (size_t k = 0; k < s->nk; k++)
		eau2_columns_set(used, s->keys[k].col);
}

static const char *const sort_args[] = { "by", "limit", NULL };

const struct eau2_rower_class eau2_rower_sort = {
	.name = "sort",
	.summary = "rows ordered by=col[:desc],col2 (nulls last, ties by row); "
		   "limit=K keeps the first K (top-k heap)",
	.state_size = sizeof(struct sort_state),
	.init = sort_init,
	.accept_chunk = sort_chunk,
	.join = sort_join,
	.encode = sort_encode,
	.decode = sort_decode,
	.finish = sort_finish,
	.destroy = sort_destroy,
	.columns = sort_columns,
	.args = sort_args,
};
