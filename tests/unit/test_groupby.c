/* SPDX-License-Identifier: MIT */
/*
 * test_groupby.c - the groupby rower against a naive reference (sort the
 * rows by key tuple, nulls last, then aggregate each run with long double
 * sums), over random dataframes with null keys and values whose sizes
 * straddle row-group boundaries, with int, string, bool and composite
 * keys, on 1, 2 and 7 threads. Doubles must agree within a relative 1e-12,
 * everything else exactly. Also: int sum overflow (inside a state and
 * across joined states), empty input, argument errors. The shuffle by key
 * range (sample, split): ranges finished in order equal the gathered
 * states finished, over the same keys and keys with 0 bytes and at the ends.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"
#include "rowers/rowers.h"

enum { K1, K2, KB, V, W, NC };
static const char *const names[] = { "k1", "k2", "kb", "v", "w" };
static const char *const strs[] = { "", "alpha", "beta", "gamma", "delta",
				    "eps", "zeta", "eta", "theta", "iota",
				    "kappa", "lambda" };

struct row {
	bool n[NC];
	int64_t k1, v;
	const char *k2;
	bool kb;
	double w;
};

static eau2_df *make_input(eau2 *db, uint64_t rows, uint64_t seed,
			   unsigned ngroups, struct row **out)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;
	struct row *r = calloc(rows + 1, sizeof(*r));

	tu_ok(eau2_schema_parse("k1:int,k2:string,kb:bool,v:int,w:double",
				&schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (uint64_t k = 0; k < rows; k++) {
		struct row *x = &r[k];
		uint64_t a = tu_rand(&seed), c = tu_rand(&seed);
		for (int j = 0; j < NC; j++)
			x->n[j] = (a >> (8 * j)) % 17 == 0;
		x->k1 = (int64_t)(c % ngroups) - 3;
		x->k2 = strs[(c >> 20) % 12];
		x->kb = (c >> 30) & 1;
		x->v = (int64_t)((c >> 32) % 2001) - 1000;
		x->w = ((double)(tu_rand(&seed) >> 11) / 9007199254740992.0 - 0.3) *
		       1000.0;
		tu_ok(x->n[K1] ? eau2_builder_append_null(b, K1, &err)
			       : eau2_builder_append_int(b, K1, x->k1, &err), &err);
		tu_ok(x->n[K2] ? eau2_builder_append_null(b, K2, &err)
			       : eau2_builder_append_string(b, K2, x->k2,
							    strlen(x->k2), &err), &err);
		tu_ok(x->n[KB] ? eau2_builder_append_null(b, KB, &err)
			       : eau2_builder_append_bool(b, KB, x->kb, &err), &err);
		tu_ok(x->n[V] ? eau2_builder_append_null(b, V, &err)
			      : eau2_builder_append_int(b, V, x->v, &err), &err);
		tu_ok(x->n[W] ? eau2_builder_append_null(b, W, &err)
			      : eau2_builder_append_double(b, W, x->w, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	*out = r;
	return df;
}

/* ------------------------------------------------------------ reference */

enum fn { COUNT, SUM, MEAN, MIN, MAX };
struct agg {
	enum fn fn;
	int col; /* -1: count(*) */
};

struct query {
	const char *by, *agg;
	int nkeys;
	int keys[3];
	int naggs;
	struct agg aggs[12];
};

static const struct query queries[] = {
	{ "k1", "count,sum:v,mean:w,min:v,max:w,count:w,sum:w,mean:v,min:w,max:v",
	  1, { K1 }, 10, { { COUNT, -1 }, { SUM, V }, { MEAN, W }, { MIN, V },
			   { MAX, W }, { COUNT, W }, { SUM, W }, { MEAN, V },
			   { MIN, W }, { MAX, V } } },
	{ "k2", "sum:w,count", 1, { K2 }, 2, { { SUM, W }, { COUNT, -1 } } },
	{ "k2,k1", "count,max:v,sum:v", 2, { K2, K1 }, 3,
	  { { COUNT, -1 }, { MAX, V }, { SUM, V } } },
	{ "kb,k2", "mean:v,min:w", 2, { KB, K2 }, 2, { { MEAN, V }, { MIN, W } } },
	{ "kb", "count", 1, { KB }, 1, { { COUNT, -1 } } },
	{ "k1,kb,k2", "sum:w", 3, { K1, KB, K2 }, 1, { { SUM, W } } },
};

static const struct query *cur_q;
static const struct row *cur_rows;

static int cmp_key(const struct row *a, const struct row *b, int c)
{
	if (a->n[c] != b->n[c])
		return a->n[c] ? 1 : -1; /* nulls last */
	if (a->n[c])
		return 0;
	switch (c) {
	case K1: return (a->k1 > b->k1) - (a->k1 < b->k1);
	case KB: return (int)a->kb - (int)b->kb;
	default: return strcmp(a->k2, b->k2);
	}
}

static int cmp_rows(const void *x, const void *y)
{
	const struct row *a = &cur_rows[*(const uint64_t *)x];
	const struct row *b = &cur_rows[*(const uint64_t *)y];

	for (int k = 0; k < cur_q->nkeys; k++) {
		int c = cmp_key(a, b, cur_q->keys[k]);
		if (c)
			return c;
	}
	return 0;
}

static void append_key(eau2_builder *b, size_t col, const struct row *x, int c)
{
	struct eau2_error err = {0};

	if (x->n[c])
		tu_ok(eau2_builder_append_null(b, col, &err), &err);
	else if (c == K1)
		tu_ok(eau2_builder_append_int(b, col, x->k1, &err), &err);
	else if (c == KB)
		tu_ok(eau2_builder_append_bool(b, col, x->kb, &err), &err);
	else
		tu_ok(eau2_builder_append_string(b, col, x->k2, strlen(x->k2), &err),
		      &err);
}

static eau2_df *reference(eau2 *db, const struct query *q,
			  const struct row *r, uint64_t rows)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;
	uint64_t *idx = malloc((rows + 1) * sizeof(*idx));
	bool count = false;

	tu_ok(eau2_schema_new(&schema, &err), &err);
	for (int k = 0; k < q->nkeys; k++)
		tu_ok(eau2_schema_add(schema, names[q->keys[k]],
				      q->keys[k] == K1 ? EAU2_INT :
				      q->keys[k] == KB ? EAU2_BOOL : EAU2_STRING,
				      &err), &err);
	for (int a = 0; a < q->naggs; a++)
		count |= q->aggs[a].col < 0;
	if (count)
		tu_ok(eau2_schema_add(schema, "count", EAU2_INT, &err), &err);
	for (int a = 0; a < q->naggs; a++) {
		static const char *fns[] = { "count", "sum", "mean", "min", "max" };
		const struct agg *g = &q->aggs[a];
		char name[64];
		if (g->col < 0)
			continue;
		snprintf(name, sizeof(name), "%s_%s", fns[g->fn], names[g->col]);
		enum eau2_type t = g->fn == COUNT ? EAU2_INT : g->fn == MEAN ?
				   EAU2_DOUBLE : g->col == V ? EAU2_INT : EAU2_DOUBLE;
		tu_ok(eau2_schema_add(schema, name, t, &err), &err);
	}
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	eau2_schema_free(schema);
	for (uint64_t k = 0; k < rows; k++)
		idx[k] = k;
	cur_q = q;
	cur_rows = r;
	qsort(idx, rows, sizeof(*idx), cmp_rows);
	for (uint64_t s = 0, e; s < rows; s = e) {
		for (e = s + 1; e < rows && cmp_rows(&idx[s], &idx[e]) == 0; e++)
			;
		size_t col = 0;
		for (int k = 0; k < q->nkeys; k++)
			append_key(b, col++, &r[idx[s]], q->keys[k]);
		if (count)
			tu_ok(eau2_builder_append_int(b, col++, (int64_t)(e - s), &err),
			      &err);
		for (int a = 0; a < q->naggs; a++) {
			const struct agg *g = &q->aggs[a];
			if (g->col < 0)
				continue;
			int64_t nn = 0, isum = 0, imin = INT64_MAX, imax = INT64_MIN;
			long double dsum = 0;
			double dmin = INFINITY, dmax = -INFINITY;
			for (uint64_t j = s; j < e; j++) {
				const struct row *x = &r[idx[j]];
				if (x->n[g->col])
					continue;
				nn++;
				if (g->col == V) {
					isum += x->v;
					dsum += x->v;
					imin = x->v < imin ? x->v : imin;
					imax = x->v > imax ? x->v : imax;
				} else {
					dsum += x->w;
					dmin = x->w < dmin ? x->w : dmin;
					dmax = x->w > dmax ? x->w : dmax;
				}
			}
			if (g->fn == COUNT)
				tu_ok(eau2_builder_append_int(b, col, nn, &err), &err);
			else if (nn == 0)
				tu_ok(eau2_builder_append_null(b, col, &err), &err);
			else if (g->fn == MEAN)
				tu_ok(eau2_builder_append_double(b, col,
					(double)(dsum / nn), &err), &err);
			else if (g->col == V)
				tu_ok(eau2_builder_append_int(b, col, g->fn == SUM ? isum :
					g->fn == MIN ? imin : imax, &err), &err);
			else
				tu_ok(eau2_builder_append_double(b, col, g->fn == SUM ?
					(double)dsum : g->fn == MIN ? dmin : dmax, &err),
				      &err);
			col++;
		}
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	free(idx);
	return df;
}

/* Equal schemas and cells; doubles within a relative 1e-12. */
static void assert_close(const eau2_df *a, const eau2_df *b)
{
	const eau2_schema *sa = eau2_df_schema(a), *sb = eau2_df_schema(b);
	struct eau2_error err = {0};

	assert_int_equal(eau2_schema_ncols(sa), eau2_schema_ncols(sb));
	for (size_t c = 0; c < eau2_schema_ncols(sa); c++) {
		assert_string_equal(eau2_schema_name(sa, c), eau2_schema_name(sb, c));
		assert_int_equal(eau2_schema_type(sa, c), eau2_schema_type(sb, c));
	}
	assert_int_equal(eau2_df_rows(a), eau2_df_rows(b));
	for (size_t c = 0; c < eau2_schema_ncols(sa); c++) {
		for (uint64_t r = 0; r < eau2_df_rows(a); r++) {
			enum eau2_type t = eau2_schema_type(sa, c);
			if (t == EAU2_DOUBLE) {
				double x = 0, y = 0;
				int ra = eau2_df_get_double(a, c, r, &x, &err);
				int rb = eau2_df_get_double(b, c, r, &y, &err);
				assert_int_equal(ra, rb);
				double tol = 1e-12 * fmax(1.0, fmax(fabs(x), fabs(y)));
				if (!(fabs(x - y) <= tol))
					fail_msg("col %s row %llu: %.17g vs %.17g",
						 eau2_schema_name(sa, c),
						 (unsigned long long)r, x, y);
			} else if (t == EAU2_STRING) {
				const char *x = "", *y = "";
				size_t lx = 0, ly = 0;
				assert_int_equal(eau2_df_get_string(a, c, r, &x, &lx, &err),
						 eau2_df_get_string(b, c, r, &y, &ly, &err));
				assert_int_equal(lx, ly);
				assert_memory_equal(x, y, lx);
			} else if (t == EAU2_BOOL) {
				bool x = 0, y = 0;
				assert_int_equal(eau2_df_get_bool(a, c, r, &x, &err),
						 eau2_df_get_bool(b, c, r, &y, &err));
				assert_int_equal(x, y);
			} else {
				int64_t x = 0, y = 0;
				assert_int_equal(eau2_df_get_int(a, c, r, &x, &err),
						 eau2_df_get_int(b, c, r, &y, &err));
				if (x != y)
					fail_msg("col %s row %llu: %lld vs %lld",
						 eau2_schema_name(sa, c),
						 (unsigned long long)r, (long long)x,
						 (long long)y);
			}
		}
	}
}

static void run_queries(eau2 *db, const eau2_df *in, const struct row *r,
			uint64_t rows)
{
	for (size_t qi = 0; qi < sizeof(queries) / sizeof(queries[0]); qi++) {
		const struct query *q = &queries[qi];
		eau2_df *want = reference(db, q, r, rows), *first = NULL;
		char a0[100], a1[200];
		snprintf(a0, sizeof(a0), "by=%s", q->by);
		snprintf(a1, sizeof(a1), "agg=%s", q->agg);
		const char *kv[] = { a0, a1 };
		struct rt_args ra;
		const struct eau2_args *args = rt_args(&ra, 2, kv);
		static const unsigned threads[] = { 1, 2, 7 };
		for (size_t t = 0; t < 3; t++) {
			struct eau2_error err = {0};
			eau2_df *got = NULL;
			tu_ok(rt_run(db, in, "groupby", args, threads[t], &got, &err),
			      &err);
			assert_close(want, got);
			if (first)
				assert_close(first, got);
			else
				first = eau2_df_retain(got);
			eau2_df_release(got);
		}
		eau2_df_release(first);
		eau2_df_release(want);
	}
}

static void test_random(void **unused)
{
	static const uint64_t sizes[] = { 0, 1, 1000, 65536, 65537, 300000 };
	static const unsigned groups[] = { 5, 10, 100, 1000, 100000, 50 };
	size_t n = tu_quick() ? 4 : 6;
	char *dir;
	eau2 *db = tu_open_store(&dir);

	(void)unused;
	for (size_t z = 0; z < n; z++) {
		struct row *r;
		eau2_df *in = make_input(db, sizes[z], 7 + z, groups[z], &r);
		run_queries(db, in, r, sizes[z]);
		eau2_df_release(in);
		free(r);
	}
	tu_close_store(db, dir);
}

/* encode -> decode -> join -> finish equals eau2_run (rowertest.h); a
 * truncated encoding is refused. */
static void test_roundtrip(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct row *r;
	eau2_df *in = make_input(db, tu_quick() ? 70000 : 200000, 11, 1000, &r);

	(void)unused;
	for (size_t qi = 0; qi < sizeof(queries) / sizeof(queries[0]); qi++) {
		char a0[100], a1[200];
		snprintf(a0, sizeof(a0), "by=%s", queries[qi].by);
		snprintf(a1, sizeof(a1), "agg=%s", queries[qi].agg);
		const char *kv[] = { a0, a1 };
		struct rt_args ra;
		rt_check_roundtrip(db, in, "groupby", rt_args(&ra, 2, kv));
	}
	/* garbage is refused, not trusted */
	const struct eau2_rower_class *cls = eau2_rower_find("groupby");
	const char *kv[] = { "by=k2,k1", "agg=sum:v" };
	struct rt_args ra;
	struct eau2_run_ctx ctx = { .db = db, .input = in,
				    .args = rt_args(&ra, 2, kv), .threads = 1 };
	struct eau2_error err = {0};
	void *st = rt_state_over(cls, &ctx, 0, 1), *buf = NULL;
	size_t len = 0;
	tu_ok(cls->encode(st, &buf, &len, &err), &err);
	rt_state_free(cls, st);
	/* another version's state (the magic's version byte), and a
	 * header cut short, are named as such */
	{
		uint8_t *b = malloc(len);
		void *c = rt_state_over(cls, &ctx, 0, 0);
		memcpy(b, buf, len);
		b[7] ^= 0x7f;
		assert_int_equal(cls->decode(c, b, len, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "not a state of this eau2 version"));
		assert_int_equal(cls->decode(c, buf, 20, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "shorter than its header"));
		rt_state_free(cls, c);
		free(b);
	}
	uint64_t seed = 5;
	for (int k = 0; k < 200; k++) {
		uint8_t *b = malloc(len);
		memcpy(b, buf, len);
		b[40 + tu_rand(&seed) % (len - 40)] ^= (uint8_t)(1 + tu_rand(&seed) % 255);
		void *c = rt_state_over(cls, &ctx, 0, 0);
		(void)cls->decode(c, b, len, &err); /* may pass: values are opaque */
		rt_state_free(cls, c);
		free(b);
	}
	free(buf);
	eau2_df_release(in);
	free(r);
	tu_close_store(db, dir);
}

static void expect_fail(eau2 *db, const eau2_df *in, unsigned threads,
			const char *by, const char *agg, int code, const char *msg)
{
	const char *kv[2];
	size_t n = 0;
	char a0[100], a1[100];
	struct rt_args ra;
	struct eau2_error err = {0};
	eau2_df *got = NULL;

	if (by) {
		snprintf(a0, sizeof(a0), "by=%s", by);
		kv[n++] = a0;
	}
	if (agg) {
		snprintf(a1, sizeof(a1), "agg=%s", agg);
		kv[n++] = a1;
	}
	int rc = rt_run(db, in, "groupby", rt_args(&ra, n, kv), threads, &got, &err);
	if (rc != code || !strstr(err.msg, msg))
		fail_msg("by=%s agg=%s: rc %d (want %d), msg '%s' (want '%s')",
			 by, agg, rc, code, err.msg, msg);
	assert_null(got);
}

static void test_errors(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct row *r;
	eau2_df *in = make_input(db, 100, 3, 10, &r);

	(void)unused;
	expect_fail(db, in, 1, NULL, "count", -EINVAL, "missing argument by");
	expect_fail(db, in, 1, "nope", "count", -ENOENT, "nope");
	expect_fail(db, in, 1, "w", "count", -EINVAL, "'w' is double");
	expect_fail(db, in, 1, "k1", "avg:v", -EINVAL, "unknown function 'avg'");
	expect_fail(db, in, 1, "k1", "sum:k2", -EINVAL, "'k2' is string");
	expect_fail(db, in, 1, "k1", "sum", -EINVAL, "sum needs a column");
	expect_fail(db, in, 1, "k1", "max:zz", -ENOENT, "unknown column 'zz'");
	eau2_df_release(in);
	free(r);

	/* sum overflow: two huge values in one group, in different row groups
	 * (so with 2 threads possibly in different states) */
	int64_t *v = calloc(140000, sizeof(*v));
	int64_t *k = calloc(140000, sizeof(*k));
	v[0] = v[70000] = INT64_MAX / 4 * 3;
	/* group 1: two values whose sum wraps below INT64_MIN */
	v[1] = v[70001] = INT64_MIN / 4 * 3;
	k[1] = k[70001] = 1;
	eau2_df *dv, *dk;
	tu_ok(eau2_df_from_array(db, "v", EAU2_INT, v, 140000, &dv, &err), &err);
	tu_ok(eau2_df_from_array(db, "k", EAU2_INT, k, 140000, &dk, &err), &err);
	/* a two-column frame k, v */
	eau2_schema *schema;
	eau2_builder *b;
	tu_ok(eau2_schema_parse("k:int,v:int", &schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (size_t i = 0; i < 140000; i++) {
		tu_ok(eau2_builder_append_int(b, 0, k[i], &err), &err);
		tu_ok(eau2_builder_append_int(b, 1, v[i], &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &in, &err), &err);
	eau2_schema_free(schema);
	expect_fail(db, in, 1, "k", "sum:v", -ERANGE, "sum:v overflows int64");
	expect_fail(db, in, 2, "k", "sum:v", -ERANGE, "sum:v overflows int64");
	/* mean of the same values does not overflow */
	{
		const char *kv[] = { "by=k", "agg=mean:v" };
		struct rt_args ra;
		eau2_df *got = NULL;
		double m = 0;
		int64_t key = -1;
		tu_ok(rt_run(db, in, "groupby", rt_args(&ra, 2, kv), 2, &got, &err),
		      &err);
		assert_int_equal(eau2_df_rows(got), 2);
		for (size_t row = 0; row < 2; row++) {
			tu_ok(eau2_df_get_int(got, 0, row, &key, &err), &err);
			tu_ok(eau2_df_get_double(got, 1, row, &m, &err), &err);
			if (key == 0)
				assert_true(fabs(m - (double)(INT64_MAX / 4 * 3) * 2 /
						 139998) < 1e3);
			else
				assert_true(m == (double)(INT64_MIN / 4 * 3));
		}
		eau2_df_release(got);
	}
	eau2_df_release(in);
	eau2_df_release(dv);
	eau2_df_release(dk);
	free(v);
	free(k);

	/* empty input: empty result with the right columns */
	in = make_input(db, 0, 1, 1, &r);
	{
		const char *kv[] = { "by=k2,k1", "agg=count,mean:w" };
		struct rt_args ra;
		eau2_df *got = NULL;
		tu_ok(rt_run(db, in, "groupby", rt_args(&ra, 2, kv), 2, &got, &err),
		      &err);
		assert_int_equal(eau2_df_rows(got), 0);
		assert_int_equal(eau2_df_ncols(got), 4);
		assert_string_equal(eau2_schema_name(eau2_df_schema(got), 3),
				    "mean_w");
		eau2_df_release(got);
	}
	eau2_df_release(in);
	free(r);
	tu_close_store(db, dir);
}

/* ------------------------------------------------------------ shuffle */

/* Asserts that rows [off, off + rows(part)) of whole equal part's cells
 * (doubles bitwise). */
static void assert_rows_at(const eau2_df *whole, uint64_t off, const eau2_df *part)
{
	struct eau2_error err = {0};
	const eau2_schema *sc = eau2_df_schema(whole);

	assert_int_equal(eau2_df_ncols(part), eau2_df_ncols(whole));
	assert_true(off + eau2_df_rows(part) <= eau2_df_rows(whole));
	for (size_t c = 0; c < eau2_schema_ncols(sc); c++)
		for (uint64_t r = 0; r < eau2_df_rows(part); r++) {
			int64_t x = 0, y = 0;
			double dx = 0, dy = 0;
			bool bx = 0, by = 0;
			const char *sx = "", *sy = "";
			size_t lx = 0, ly = 0;
			int ra, rb;

			switch (eau2_schema_type(sc, c)) {
			case EAU2_BOOL:
				ra = eau2_df_get_bool(whole, c, off + r, &bx, &err);
				rb = eau2_df_get_bool(part, c, r, &by, &err);
				assert_int_equal(bx, by);
				break;
			case EAU2_INT:
				ra = eau2_df_get_int(whole, c, off + r, &x, &err);
				rb = eau2_df_get_int(part, c, r, &y, &err);
				assert_true(x == y);
				break;
			case EAU2_DOUBLE:
				ra = eau2_df_get_double(whole, c, off + r, &dx, &err);
				rb = eau2_df_get_double(part, c, r, &dy, &err);
				assert_true((isnan(dx) && isnan(dy)) || !memcmp(&dx, &dy, 8));
				break;
			default:
				ra = eau2_df_get_string(whole, c, off + r, &sx, &lx, &err);
				rb = eau2_df_get_string(part, c, r, &sy, &ly, &err);
				assert_int_equal(lx, ly);
				assert_memory_equal(sx, sy, lx);
				break;
			}
			assert_int_equal(ra, rb);
		}
}

/* A shuffle of nparts parts' states (row groups cut evenly; part 0 two
 * states joined, so it may hold pending states) into nranges ranges:
 * each range's states decoded in partition order and finished, the
 * results in order, equal the parts' states gathered (decoded in order
 * into one state) and finished, cell for cell; with many groups no
 * range holds more than twice its share. */
static void check_shuffle(eau2 *db, const eau2_df *in, const char *by,
			      const char *agg, size_t nparts, size_t nranges)
{
	const struct eau2_rower_class *cls = eau2_rower_find("groupby");
	char a0[100], a1[200];
	const char *kv[] = { a0, a1 };
	struct rt_args ra;
	struct eau2_error err = {0};
	size_t ng = eau2_df_ngroups(in), slen = 0;
	void *st[8], *smp[8], **bufs[8], *splits = NULL;
	size_t slens[8], *lens[8];
	eau2_df *want = NULL;
	uint64_t off = 0, most = 0;

	snprintf(a0, sizeof(a0), "by=%s", by);
	snprintf(a1, sizeof(a1), "agg=%s", agg);
	struct eau2_run_ctx ctx = { .db = db, .input = in, .args = rt_args(&ra, 2, kv),
				    .threads = 1 };
	void *gather = rt_state_over(cls, &ctx, 0, 0);

	assert_true(nparts <= 8);
	for (size_t p = 0; p < nparts; p++) {
		size_t g0 = p * ng / nparts, g1 = (p + 1) * ng / nparts;
		void *buf;
		size_t len;

		st[p] = rt_state_over(cls, &ctx, g0, p ? g1 : (g0 + g1) / 2);
		if (p == 0) {
			void *b = rt_state_over(cls, &ctx, (g0 + g1) / 2, g1);
			tu_ok(cls->join(st[0], b, &err), &err);
			rt_state_free(cls, b);
		}
		tu_ok(cls->encode(st[p], &buf, &len, &err), &err);
		tu_ok(cls->decode(gather, buf, len, &err), &err);
		free(buf);
		tu_ok(cls->sample(st[p], 256, &smp[p], &slens[p], &err), &err);
	}
	tu_ok(cls->finish(gather, &ctx, &want, &err), &err);
	rt_state_free(cls, gather);
	tu_ok(eau2_shuffle_splits((const void *const *)smp, slens, nparts, nranges,
				  &splits, &slen, &err), &err);
	for (size_t p = 0; p < nparts; p++) {
		bufs[p] = calloc(nranges, sizeof(void *));
		lens[p] = calloc(nranges, sizeof(size_t));
		tu_ok(cls->split(st[p], splits, slen, nranges - 1, bufs[p], lens[p], &err),
		      &err);
	}
	for (size_t r = 0; r < nranges; r++) {
		void *c = rt_state_over(cls, &ctx, 0, 0);
		eau2_df *got = NULL;

		for (size_t p = 0; p < nparts; p++)
			tu_ok(cls->decode(c, bufs[p][r], lens[p][r], &err), &err);
		tu_ok(cls->finish(c, &ctx, &got, &err), &err);
		assert_rows_at(want, off, got);
		off += eau2_df_rows(got);
		if (eau2_df_rows(got) > most)
			most = eau2_df_rows(got);
		eau2_df_release(got);
		rt_state_free(cls, c);
	}
	assert_int_equal(off, eau2_df_rows(want));
	/* about as many groups per range (the samples' spread) */
	if (off >= 10000)
		assert_true(most <= 2 * off / nranges);
	for (size_t p = 0; p < nparts; p++) {
		for (size_t r = 0; r < nranges; r++)
			free(bufs[p][r]);
		free(bufs[p]);
		free(lens[p]);
		free(smp[p]);
		rt_state_free(cls, st[p]);
	}
	free(splits);
	eau2_df_release(want);
}

/* Keys whose order is easy to get wrong: strings with 0 bytes, prefixes
 * of each other, empty, null; ints at both ends and null. */
static eau2_df *edge_input(eau2 *db)
{
	static const char *const s[] = { "", "a", "a\0", "a\0b", "ab", "\0", "b",
					 "a\0\0", "\377", "ab\0" };
	static const size_t sl[] = { 0, 1, 2, 3, 2, 1, 1, 3, 1, 3 };
	static const int64_t iv[] = { INT64_MIN, -1, 0, 1, INT64_MAX, 7 };
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;
	uint64_t seed = 3;

	tu_ok(eau2_schema_parse("s:string,i:int,t:bool,w:double", &schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (int r = 0; r < 150000; r++) {
		uint64_t x = tu_rand(&seed);
		size_t k = x % 11;

		tu_ok(k == 10 ? eau2_builder_append_null(b, 0, &err)
			      : eau2_builder_append_string(b, 0, s[k], sl[k], &err), &err);
		k = (x >> 8) % 7;
		tu_ok(k == 6 ? eau2_builder_append_null(b, 1, &err)
			     : eau2_builder_append_int(b, 1, iv[k], &err), &err);
		k = (x >> 16) % 3;
		tu_ok(k == 2 ? eau2_builder_append_null(b, 2, &err)
			     : eau2_builder_append_bool(b, 2, k, &err), &err);
		tu_ok(eau2_builder_append_double(b, 3, (double)(x >> 11) / 3e12 - 1e3,
						 &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

static void test_shuffle(void **unused)
{
	static const size_t parts[] = { 1, 3, 5 }, ranges[] = { 1, 2, 4, 7 };
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct row *r;
	/* Five row groups, one a part at five parts; under sanitizers three,
	 * so that some of five parts are empty (about 140 s against 60). */
	eau2_df *in = tu_quick() ? make_input(db, 140000, 13, 50000, &r)
				 : make_input(db, 300000, 13, 100000, &r);
	eau2_df *edge = edge_input(db);

	(void)unused;
	for (size_t qi = 0; qi < sizeof(queries) / sizeof(queries[0]); qi++)
		for (size_t p = 0; p < 3; p++)
			for (size_t q = 0; q < 4; q++)
				check_shuffle(db, in, queries[qi].by, queries[qi].agg,
					      parts[p], ranges[q]);
	static const char *const eby[] = { "s", "i", "t", "s,i", "i,s,t", "t,s" };
	for (size_t k = 0; k < sizeof(eby) / sizeof(eby[0]); k++)
		for (size_t p = 0; p < 3; p++)
			for (size_t q = 0; q < 4; q++)
				check_shuffle(db, edge, eby[k], "count,sum:w,mean:w,min:i,max:w",
					      parts[p], ranges[q]);
	eau2_df_release(in);
	eau2_df_release(edge);
	free(r);
	tu_close_store(db, dir);
}

/* Split keys and samples from outside are checked; an empty range and no
 * samples at all are fine. */
static void test_shuffle_bounds(void **unused)
{
	const struct eau2_rower_class *cls = eau2_rower_find("groupby");
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct row *r, *r0;
	eau2_df *in = make_input(db, 1000, 5, 50, &r), *empty = make_input(db, 0, 5, 1, &r0);
	const char *kv[] = { "by=k1", "agg=count" };
	struct rt_args ra;
	struct eau2_error err = {0};
	struct eau2_run_ctx ctx = { .db = db, .input = in, .args = rt_args(&ra, 2, kv),
				    .threads = 1 };
	void *st = rt_state_over(cls, &ctx, 0, eau2_df_ngroups(in)), *bufs[3], *sp;
	size_t lens[3], splen;
	struct eau2_buf b = {0};
	uint64_t big = 1000;

	(void)unused;
	/* unsorted: "\2" (null) before "\1..." */
	assert_int_equal(eau2_buf_bytes(&b, "\2", 1), 0);
	assert_int_equal(eau2_buf_bytes(&b, "\1", 1), 0);
	assert_int_equal(cls->split(st, b.p, b.len, 2, bufs, lens, &err), -EINVAL);
	assert_int_equal(cls->split(st, b.p, b.len - 1, 2, bufs, lens, &err), -EBADMSG);
	assert_int_equal(cls->split(st, b.p, b.len, 1, bufs, lens, &err), -EBADMSG);
	assert_int_equal(cls->split(st, b.p, b.len, 3, bufs, lens, &err), -EBADMSG);
	assert_int_equal(cls->split(st, &big, 8, 1, bufs, lens, &err), -EBADMSG);
	const void *smp[] = { b.p };
	size_t sl[] = { b.len - 1 };
	assert_int_equal(eau2_shuffle_splits(smp, sl, 1, 3, &sp, &splen, &err), -EBADMSG);
	free(b.p);
	/* equal split keys: the middle range is empty, the others whole */
	b = (struct eau2_buf){0};
	assert_int_equal(eau2_buf_bytes(&b, "\1\200\0\0\0\0\0\0\5", 9), 0);
	assert_int_equal(eau2_buf_bytes(&b, "\1\200\0\0\0\0\0\0\5", 9), 0);
	tu_ok(cls->split(st, b.p, b.len, 2, bufs, lens, &err), &err);
	assert_int_equal(lens[1], 40); /* a header, no group */
	free(b.p);
	uint64_t n0, n2, ng;
	memcpy(&n0, (char *)bufs[0] + 32, 8);
	memcpy(&n2, (char *)bufs[2] + 32, 8);
	assert_true(n0 > 0 && n2 > 0);
	for (int q = 0; q < 3; q++)
		free(bufs[q]);
	/* keys below 5 (-3..4: 8 keys) in range 0 */
	assert_int_equal(n0, 8);
	ng = n0 + n2;
	assert_int_equal(ng, 51); /* 50 keys and null */
	rt_state_free(cls, st);
	/* no samples (empty parts): empty keys, all in the last range */
	ctx.input = empty;
	st = rt_state_over(cls, &ctx, 0, 0);
	void *s0;
	size_t s0len;
	tu_ok(cls->sample(st, 16, &s0, &s0len, &err), &err);
	assert_int_equal(s0len, 0);
	const void *smp0[] = { s0 };
	tu_ok(eau2_shuffle_splits(smp0, &s0len, 1, 3, &sp, &splen, &err), &err);
	assert_int_equal(splen, 16);
	free(sp);
	free(s0);
	rt_state_free(cls, st);
	eau2_df_release(in);
	eau2_df_release(empty);
	free(r);
	free(r0);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_shuffle),
		cmocka_unit_test(test_shuffle_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
