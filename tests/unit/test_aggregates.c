/* SPDX-License-Identifier: MIT */
/*
 * test_aggregates.c - count, sum, min, max, mean and distinct against
 * naive single-threaded references computed from the generated arrays, on
 * random data with nulls, several seeds and sizes (0, 1, and around row
 * group boundaries); identical results on 1, 2 and 7 threads; state
 * encode/decode round trips; error paths (unknown column, wrong type, int
 * overflow).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

/* Columns: i int, d double, b bool, k int (0..19), s string, z int (null) */
struct gen {
	size_t n;
	int64_t *i, *k;
	double *d;
	bool *b;
	bool *vi, *vd, *vb, *vk, *vs; /* valid */
	char (*s)[8];
};

static void gen_free(struct gen *g)
{
	free(g->i), free(g->k), free(g->d), free(g->b), free(g->s);
	free(g->vi), free(g->vd), free(g->vb), free(g->vk), free(g->vs);
}

static eau2_df *gen_df(eau2 *db, uint64_t seed, size_t n, struct gen *g)
{
	struct eau2_error err = {0};
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	uint64_t st = seed * 7919 + n;
	size_t m = n ? n : 1;

	g->n = n;
	g->i = calloc(m, 8), g->k = calloc(m, 8), g->d = calloc(m, 8);
	g->b = calloc(m, 1), g->s = calloc(m, 8);
	g->vi = calloc(m, 1), g->vd = calloc(m, 1), g->vb = calloc(m, 1);
	g->vk = calloc(m, 1), g->vs = calloc(m, 1);
	tu_ok(eau2_schema_parse("i:int,d:double,b:bool,k:int,s:string,z:int",
				&schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (size_t r = 0; r < n; r++) {
		uint64_t x = tu_rand(&st);
		g->vi[r] = x % 5 != 0;
		g->vd[r] = (x >> 8) % 4 != 0;
		g->vb[r] = (x >> 16) % 3 != 0;
		g->vk[r] = (x >> 24) % 6 != 0;
		g->vs[r] = (x >> 32) % 7 != 0;
		g->i[r] = (int64_t)(tu_rand(&st) % (1ull << 41)) - (1ll << 40);
		g->d[r] = (double)((int64_t)(tu_rand(&st) % 2000001) - 1000000) / 64.0;
		g->b[r] = (x >> 40) & 1;
		g->k[r] = (int64_t)((x >> 44) % 20);
		snprintf(g->s[r], 8, "w%u", (unsigned)((x >> 50) % 100));
		if (g->vi[r])
			tu_ok(eau2_builder_append_int(b, 0, g->i[r], &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 0, &err), &err);
		if (g->vd[r])
			tu_ok(eau2_builder_append_double(b, 1, g->d[r], &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 1, &err), &err);
		if (g->vb[r])
			tu_ok(eau2_builder_append_bool(b, 2, g->b[r], &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 2, &err), &err);
		if (g->vk[r])
			tu_ok(eau2_builder_append_int(b, 3, g->k[r], &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 3, &err), &err);
		if (g->vs[r])
			tu_ok(eau2_builder_append_string(b, 4, g->s[r], strlen(g->s[r]), &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 4, &err), &err);
		tu_ok(eau2_builder_append_null(b, 5, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

static int64_t get_i(const eau2_df *df, const char *col, int *rc)
{
	struct eau2_error err = {0};
	int c = eau2_schema_find(eau2_df_schema(df), col);
	int64_t v = 0;

	if (c < 0)
		fail_msg("no result column %s", col);
	assert_int_equal(eau2_df_rows(df), 1);
	*rc = eau2_df_get_int(df, (size_t)c, 0, &v, &err);
	return v;
}

static double get_d(const eau2_df *df, const char *col, int *rc)
{
	struct eau2_error err = {0};
	int c = eau2_schema_find(eau2_df_schema(df), col);
	double v = 0;

	if (c < 0)
		fail_msg("no result column %s", col);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), (size_t)c), EAU2_DOUBLE);
	*rc = eau2_df_get_double(df, (size_t)c, 0, &v, &err);
	return v;
}

static void assert_close(double got, double want)
{
	if (fabs(got - want) > 1e-9 * (fabs(want) + 1))
		fail_msg("got %.17g, want %.17g", got, want);
}

static void check_one(eau2 *db, const eau2_df *df, const struct gen *g, unsigned threads)
{
	struct eau2_error err = {0};
	struct rt_args ra;
	eau2_df *res = NULL;
	int rc;

	/* reference */
	__int128 isum = 0;
	double dsum = 0;
	uint64_t ni = 0, nd = 0;
	int64_t imin = INT64_MAX, imax = INT64_MIN;
	double dmin = INFINITY, dmax = -INFINITY;
	for (size_t r = 0; r < g->n; r++) {
		if (g->vi[r]) {
			ni++;
			isum += g->i[r];
			imin = g->i[r] < imin ? g->i[r] : imin;
			imax = g->i[r] > imax ? g->i[r] : imax;
		}
		if (g->vd[r]) {
			nd++;
			dsum += g->d[r];
			dmin = g->d[r] < dmin ? g->d[r] : dmin;
			dmax = g->d[r] > dmax ? g->d[r] : dmax;
		}
	}

	tu_ok(rt_run(db, df, "count", NULL, threads, &res, &err), &err);
	assert_int_equal(get_i(res, "count", &rc), g->n);
	assert_int_equal(rc, 0);
	eau2_df_release(res);
	tu_ok(rt_run(db, df, "count", rt_args(&ra, 1, (const char *[]){"column=i"}),
		     threads, &res, &err), &err);
	assert_int_equal(get_i(res, "count", &rc), ni);
	eau2_df_release(res);

	const char *cols[] = { "columns=i,d,z" };
	tu_ok(rt_run(db, df, "sum", rt_args(&ra, 1, cols), threads, &res, &err), &err);
	int64_t si = get_i(res, "sum_i", &rc);
	assert_int_equal(rc, ni ? 0 : EAU2_NULL);
	if (ni)
		assert_true(si == (int64_t)isum);
	double sd = get_d(res, "sum_d", &rc);
	assert_int_equal(rc, nd ? 0 : EAU2_NULL);
	if (nd)
		assert_close(sd, dsum);
	get_i(res, "sum_z", &rc);
	assert_int_equal(rc, EAU2_NULL);
	assert_int_equal(eau2_df_ncols(res), 3);
	eau2_df_release(res);

	tu_ok(rt_run(db, df, "min", rt_args(&ra, 1, cols), threads, &res, &err), &err);
	int64_t mi = get_i(res, "min_i", &rc);
	assert_int_equal(rc, ni ? 0 : EAU2_NULL);
	if (ni)
		assert_true(mi == imin);
	double md = get_d(res, "min_d", &rc);
	assert_int_equal(rc, nd ? 0 : EAU2_NULL);
	if (nd)
		assert_true(md == dmin);
	get_i(res, "min_z", &rc);
	assert_int_equal(rc, EAU2_NULL);
	eau2_df_release(res);

	tu_ok(rt_run(db, df, "max", rt_args(&ra, 1, cols), threads, &res, &err), &err);
	mi = get_i(res, "max_i", &rc);
	if (ni)
		assert_true(mi == imax);
	md = get_d(res, "max_d", &rc);
	if (nd)
		assert_true(md == dmax);
	eau2_df_release(res);

	tu_ok(rt_run(db, df, "mean", rt_args(&ra, 1, cols), threads, &res, &err), &err);
	double mn = get_d(res, "mean_i", &rc);
	assert_int_equal(rc, ni ? 0 : EAU2_NULL);
	if (ni)
		assert_close(mn, (double)isum / (double)ni);
	mn = get_d(res, "mean_d", &rc);
	if (nd)
		assert_close(mn, dsum / (double)nd);
	get_d(res, "mean_z", &rc);
	assert_int_equal(rc, EAU2_NULL);
	eau2_df_release(res);

	/* distinct (k, b): reference over 21 x 3 cells; nulls last. */
	bool seen[21][3] = {{0}};
	for (size_t r = 0; r < g->n; r++)
		seen[g->vk[r] ? g->k[r] : 20][g->vb[r] ? g->b[r] : 2] = true;
	tu_ok(rt_run(db, df, "distinct", rt_args(&ra, 1, (const char *[]){"columns=k,b"}),
		     threads, &res, &err), &err);
	assert_int_equal(eau2_df_ncols(res), 2);
	assert_string_equal(eau2_schema_name(eau2_df_schema(res), 0), "k");
	uint64_t row = 0;
	for (int k = 0; k < 21; k++) {
		for (int bb = 0; bb < 3; bb++) {
			if (!seen[k][bb])
				continue;
			int64_t gk = -1;
			bool gb = false;
			assert_true(row < eau2_df_rows(res));
			rc = eau2_df_get_int(res, 0, row, &gk, &err);
			assert_int_equal(rc, k == 20 ? EAU2_NULL : 0);
			if (k < 20)
				assert_int_equal(gk, k);
			rc = eau2_df_get_bool(res, 1, row, &gb, &err);
			assert_int_equal(rc, bb == 2 ? EAU2_NULL : 0);
			if (bb < 2)
				assert_int_equal(gb, bb);
			row++;
		}
	}
	assert_int_equal(row, eau2_df_rows(res));
	eau2_df_release(res);
}

static void test_random(void **st)
{
	static const size_t sizes[] = { 0, 1, 2, 1000, 65535, 65536, 65537,
					2 * 65536, 3 * 65536 + 17 };
	size_t nsizes = tu_quick() ? 7 : sizeof(sizes) / sizeof(sizes[0]);
	unsigned seeds = tu_quick() ? 1 : 3;
	char *dir;
	eau2 *db = tu_open_store(&dir);

	(void)st;
	for (size_t si = 0; si < nsizes; si++) {
		for (unsigned seed = 1; seed <= seeds; seed++) {
			struct gen g;
			eau2_df *df = gen_df(db, seed, sizes[si], &g);
			for (unsigned t = 1; t <= 7; t += t == 1 ? 1 : 5)
				check_one(db, df, &g, t);
			gen_free(&g);
			eau2_df_release(df);
		}
	}
	tu_close_store(db, dir);
}

/* Results on 1, 2 and 7 threads are bit-identical (double sums too), and
 * encode/decode/join round trips give the eau2_run result. */
static void test_deterministic_and_roundtrip(void **st)
{
	static const char *const names[] = { "count", "sum", "min", "max", "mean", "distinct" };
	const char *cols[] = { "columns=i,d,k" };
	size_t n = tu_quick() ? 3 * 65536 + 5 : 9 * 65536 + 5;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;
	struct gen g;
	eau2_df *df = gen_df(db, 42, n, &g);

	(void)st;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct eau2_args *args = i == 0 ? NULL : rt_args(&ra, 1, cols);
		eau2_df *r1 = NULL, *r2 = NULL, *r7 = NULL;
		tu_ok(rt_run(db, df, names[i], args, 1, &r1, &err), &err);
		tu_ok(rt_run(db, df, names[i], args, 2, &r2, &err), &err);
		tu_ok(rt_run(db, df, names[i], args, 7, &r7, &err), &err);
		rt_assert_df_equal(r1, r2);
		rt_assert_df_equal(r1, r7);
		eau2_df_release(r1), eau2_df_release(r2), eau2_df_release(r7);
		rt_check_roundtrip(db, df, names[i], args);
	}
	gen_free(&g);
	eau2_df_release(df);
	/* round trips over tiny inputs too */
	for (size_t sz = 0; sz < 3; sz++) {
		df = gen_df(db, 7, sz, &g);
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			rt_check_roundtrip(db, df, names[i], i == 0 ? NULL : rt_args(&ra, 1, cols));
		gen_free(&g);
		eau2_df_release(df);
	}
	tu_close_store(db, dir);
}

static eau2_df *ints_df(eau2 *db, const int64_t *v, size_t n, size_t groups_of)
{
	struct eau2_error err = {0};
	eau2_df *df = NULL;

	(void)groups_of;
	tu_ok(eau2_df_from_array(db, "big", EAU2_INT, v, n, &df, &err), &err);
	return df;
}

static void test_errors(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;
	struct gen g;
	eau2_df *df = gen_df(db, 3, 100, &g), *res = NULL;
	int rc;

	(void)st;
	rc = rt_run(db, df, "sum", rt_args(&ra, 1, (const char *[]){"columns=s"}), 2, &res, &err);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err.msg, "'s'"));
	assert_null(res);
	rc = rt_run(db, df, "mean", rt_args(&ra, 1, (const char *[]){"columns=i,nope"}), 2, &res, &err);
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err.msg, "nope"));
	rc = rt_run(db, df, "count", rt_args(&ra, 1, (const char *[]){"column=nope"}), 1, &res, &err);
	assert_int_equal(rc, -ENOENT);
	rc = rt_run(db, df, "distinct", rt_args(&ra, 1, (const char *[]){"columns=k,,b"}), 1, &res, &err);
	assert_int_equal(rc, -EINVAL);
	gen_free(&g);
	eau2_df_release(df);

	/* int overflow: the exact sum leaves int64 -> -ERANGE naming the column */
	int64_t big[] = { INT64_MAX, 1 };
	df = ints_df(db, big, 2, 0);
	rc = rt_run(db, df, "sum", NULL, 1, &res, &err);
	assert_int_equal(rc, -ERANGE);
	assert_non_null(strstr(err.msg, "big"));
	/* but mean is fine */
	tu_ok(rt_run(db, df, "mean", NULL, 1, &res, &err), &err);
	assert_close(get_d(res, "mean_big", &rc), ((double)INT64_MAX + 1) / 2);
	eau2_df_release(res);
	eau2_df_release(df);
	/* intermediate overflow that comes back is not an error */
	int64_t back[] = { INT64_MAX, INT64_MAX, -INT64_MAX, -5 };
	df = ints_df(db, back, 4, 0);
	tu_ok(rt_run(db, df, "sum", NULL, 2, &res, &err), &err);
	assert_true(get_i(res, "sum_big", &rc) == INT64_MAX - 5);
	eau2_df_release(res);
	eau2_df_release(df);
	/* negative overflow across row groups */
	size_t n = 65536 * 2 + 1;
	int64_t *neg = malloc(n * sizeof(*neg));
	for (size_t i = 0; i < n; i++)
		neg[i] = INT64_MIN / 65536;
	neg[n - 1] = INT64_MIN;
	df = ints_df(db, neg, n, 0);
	rc = rt_run(db, df, "sum", NULL, 7, &res, &err);
	assert_int_equal(rc, -ERANGE);
	free(neg);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

/* NaN is skipped by min/max; -0.0 orders below +0.0. */
static void test_nan(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	eau2_df *df = NULL, *res = NULL;
	double v[] = { NAN, 3.0, -1.5, NAN, 0.0, -0.0 };
	double allnan[] = { NAN, NAN };
	int rc;

	(void)st;
	tu_ok(eau2_df_from_array(db, "x", EAU2_DOUBLE, v, 6, &df, &err), &err);
	tu_ok(rt_run(db, df, "min", NULL, 2, &res, &err), &err);
	assert_true(get_d(res, "min_x", &rc) == -1.5);
	eau2_df_release(res);
	tu_ok(rt_run(db, df, "max", NULL, 2, &res, &err), &err);
	assert_true(get_d(res, "max_x", &rc) == 3.0);
	eau2_df_release(res);
	tu_ok(rt_run(db, df, "sum", NULL, 2, &res, &err), &err);
	assert_true(isnan(get_d(res, "sum_x", &rc)));
	eau2_df_release(res);
	eau2_df_release(df);
	tu_ok(eau2_df_from_array(db, "x", EAU2_DOUBLE, allnan, 2, &df, &err), &err);
	tu_ok(rt_run(db, df, "min", NULL, 2, &res, &err), &err);
	assert_true(isnan(get_d(res, "min_x", &rc)));
	assert_int_equal(rc, 0);
	eau2_df_release(res);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_deterministic_and_roundtrip),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
