/* SPDX-License-Identifier: MIT */
/*
 * test_sort.c - the sort rower (full sort and top-k) against a naive
 * reference: a stable insertion-style merge sort of row indexes over the
 * generated arrays, with nulls last, NaN after numbers, strings bytewise,
 * ties by row number. Random data with many ties and nulls, several seeds,
 * sizes and limits; 1, 2 and 7 threads; round trips; errors.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

/* columns: a int, b double, c string, d bool, e int (= row number) */
struct gen {
	size_t n;
	int64_t *a;
	double *b;
	const char **c;
	bool *d;
	bool *va, *vb, *vc, *vd;
};

static const char *const strs[] = { "", "a", "ab", "abc", "b", "ba", "\xff", "zz" };

static eau2_df *gen_df(eau2 *db, uint64_t seed, size_t n, struct gen *g)
{
	struct eau2_error err = {0};
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	uint64_t st = seed * 31337 + n;
	size_t m = n ? n : 1;

	g->n = n;
	g->a = calloc(m, 8), g->b = calloc(m, 8), g->c = calloc(m, sizeof(char *));
	g->d = calloc(m, 1);
	g->va = calloc(m, 1), g->vb = calloc(m, 1), g->vc = calloc(m, 1), g->vd = calloc(m, 1);
	tu_ok(eau2_schema_parse("a:int,b:double,c:string,d:bool,e:int", &schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (size_t r = 0; r < n; r++) {
		uint64_t x = tu_rand(&st);
		g->va[r] = x % 6 != 0, g->vb[r] = (x >> 4) % 5 != 0;
		g->vc[r] = (x >> 8) % 7 != 0, g->vd[r] = (x >> 12) % 4 != 0;
		g->a[r] = (int64_t)((x >> 16) % 10) - 5;
		g->b[r] = (x >> 24) % 13 == 0 ? NAN : (double)((x >> 28) % 9) / 4 - 1;
		g->c[r] = strs[(x >> 36) % 8];
		g->d[r] = (x >> 40) & 1;
		if (g->va[r])
			tu_ok(eau2_builder_append_int(b, 0, g->a[r], &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 0, &err), &err);
		if (g->vb[r])
			tu_ok(eau2_builder_append_double(b, 1, g->b[r], &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 1, &err), &err);
		if (g->vc[r])
			tu_ok(eau2_builder_append_string(b, 2, g->c[r], strlen(g->c[r]), &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 2, &err), &err);
		if (g->vd[r])
			tu_ok(eau2_builder_append_bool(b, 3, g->d[r], &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 3, &err), &err);
		tu_ok(eau2_builder_append_int(b, 4, (int64_t)r, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

static void gen_free(struct gen *g)
{
	free(g->a), free(g->b), free(g->c), free(g->d);
	free(g->va), free(g->vb), free(g->vc), free(g->vd);
}

struct key { int col; bool desc; }; /* col 0..4 = a..e */

static int cmp_col(const struct gen *g, int col, size_t x, size_t y)
{
	bool vx, vy;
	switch (col) {
	case 0: vx = g->va[x], vy = g->va[y]; break;
	case 1: vx = g->vb[x], vy = g->vb[y]; break;
	case 2: vx = g->vc[x], vy = g->vc[y]; break;
	case 3: vx = g->vd[x], vy = g->vd[y]; break;
	default: vx = vy = true; break;
	}
	if (!vx || !vy)
		return vx == vy ? 0 : (vx ? -1 : 1) * 1000; /* nulls last, not flipped */
	switch (col) {
	case 0: return (g->a[x] > g->a[y]) - (g->a[x] < g->a[y]);
	case 1:
		if (isnan(g->b[x]) || isnan(g->b[y]))
			return isnan(g->b[x]) - isnan(g->b[y]);
		return (g->b[x] > g->b[y]) - (g->b[x] < g->b[y]);
	case 2: {
		int c = strcmp(g->c[x], g->c[y]); /* no NUL inside: bytewise */
		return (c > 0) - (c < 0);
	}
	case 3: return (int)g->d[x] - (int)g->d[y];
	default: return (x > y) - (x < y);
	}
}

static int cmp_rows(const struct gen *g, const struct key *k, size_t nk, size_t x, size_t y)
{
	for (size_t i = 0; i < nk; i++) {
		int c = cmp_col(g, k[i].col, x, y);
		if (c == 1000 || c == -1000)
			return c;
		if (c)
			return k[i].desc ? -c : c;
	}
	return 0; /* equal keys: the stable sort keeps row order */
}

/* Stable bottom-up merge sort of 0..n-1. */
static size_t *reference(const struct gen *g, const struct key *k, size_t nk)
{
	size_t n = g->n, *a = malloc((n + 1) * sizeof(*a)), *t = malloc((n + 1) * sizeof(*t));
	for (size_t i = 0; i < n; i++)
		a[i] = i;
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, o = lo;
			while (i < mid && j < hi)
				t[o++] = cmp_rows(g, k, nk, a[j], a[i]) < 0 ? a[j++] : a[i++];
			while (i < mid)
				t[o++] = a[i++];
			while (j < hi)
				t[o++] = a[j++];
		}
		size_t *s = a; a = t; t = s;
	}
	free(t);
	return a;
}

static void check(const eau2_df *res, const struct gen *g, const size_t *want, size_t n)
{
	struct eau2_error err = {0};

	assert_int_equal(eau2_df_ncols(res), 5);
	assert_int_equal(eau2_df_rows(res), n);
	for (size_t i = 0; i < n; i++) {
		size_t r = want[i];
		int64_t e, a;
		double b;
		const char *c;
		size_t cl;
		bool d;
		tu_ok(eau2_df_get_int(res, 4, i, &e, &err), &err);
		if ((size_t)e != r)
			fail_msg("output row %zu is input row %lld, want %zu", i, (long long)e, r);
		assert_int_equal(eau2_df_get_int(res, 0, i, &a, &err), g->va[r] ? 0 : EAU2_NULL);
		if (g->va[r])
			assert_int_equal(a, g->a[r]);
		assert_int_equal(eau2_df_get_double(res, 1, i, &b, &err), g->vb[r] ? 0 : EAU2_NULL);
		if (g->vb[r])
			assert_true(b == g->b[r] || (isnan(b) && isnan(g->b[r])));
		assert_int_equal(eau2_df_get_string(res, 2, i, &c, &cl, &err), g->vc[r] ? 0 : EAU2_NULL);
		if (g->vc[r]) {
			assert_int_equal(cl, strlen(g->c[r]));
			assert_memory_equal(c, g->c[r], cl);
		}
		assert_int_equal(eau2_df_get_bool(res, 3, i, &d, &err), g->vd[r] ? 0 : EAU2_NULL);
		if (g->vd[r])
			assert_int_equal(d, g->d[r]);
	}
}

static const struct {
	const char *by;
	struct key k[3];
	size_t nk;
} specs[] = {
	{ "a", { { 0, false } }, 1 },
	{ "a:desc", { { 0, true } }, 1 },
	{ "b", { { 1, false } }, 1 },
	{ "c:desc,a", { { 2, true }, { 0, false } }, 2 },
	{ "d:asc,b:desc,c", { { 3, false }, { 1, true }, { 2, false } }, 3 },
	{ "e:desc", { { 4, true } }, 1 },
};

static void test_random(void **st)
{
	static const size_t sizes[] = { 0, 1, 2, 50, 65536, 65537, 140000 };
	size_t nsizes = tu_quick() ? 6 : sizeof(sizes) / sizeof(sizes[0]);
	unsigned seeds = tu_quick() ? 1 : 2;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};

	(void)st;
	for (size_t si = 0; si < nsizes; si++) {
		for (unsigned seed = 1; seed <= seeds; seed++) {
			struct gen g;
			size_t n = sizes[si];
			eau2_df *df = gen_df(db, seed, n, &g);
			for (size_t sp = 0; sp < sizeof(specs) / sizeof(specs[0]); sp++) {
				size_t *want = reference(&g, specs[sp].k, specs[sp].nk);
				const size_t limits[] = { SIZE_MAX, 0, 1, 7, 1000, n + 5 };
				for (size_t li = 0; li < 6; li++) {
					/* full sorts of big inputs only once per size */
					if (limits[li] == SIZE_MAX && n > 100000 && sp > 0)
						continue;
					char by[64], lim[64];
					snprintf(by, sizeof(by), "by=%s", specs[sp].by);
					snprintf(lim, sizeof(lim), "limit=%zu", limits[li]);
					const char *kv[] = { by, lim };
					struct rt_args ra;
					const struct eau2_args *args = rt_args(&ra, limits[li] == SIZE_MAX ? 1 : 2, kv);
					size_t nout = limits[li] < n ? limits[li] : n;
					for (unsigned t = 1; t <= 7; t += t == 1 ? 1 : 5) {
						eau2_df *res = NULL;
						tu_ok(rt_run(db, df, "sort", args, t, &res, &err), &err);
						check(res, &g, want, nout);
						eau2_df_release(res);
					}
					if (seed == 1 && n < 100000 && (li == 0 || li == 3))
						rt_check_roundtrip(db, df, "sort", args);
				}
				free(want);
			}
			gen_free(&g);
			eau2_df_release(df);
		}
	}
	tu_close_store(db, dir);
}

static void test_errors(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;
	struct gen g;
	eau2_df *df = gen_df(db, 1, 10, &g), *res = NULL;

	(void)st;
	assert_int_equal(rt_run(db, df, "sort", NULL, 1, &res, &err), -EINVAL);
	assert_int_equal(rt_run(db, df, "sort", rt_args(&ra, 1, (const char *[]){"by=zz:desc"}),
				1, &res, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "zz"));
	assert_int_equal(rt_run(db, df, "sort", rt_args(&ra, 2, (const char *[]){"by=a", "limit=x"}),
				1, &res, &err), -EINVAL);
	assert_int_equal(rt_run(db, df, "sort", rt_args(&ra, 2, (const char *[]){"by=a", "limit=-1"}),
				2, &res, &err), -EINVAL);
	assert_int_equal(rt_run(db, df, "sort", rt_args(&ra, 1, (const char *[]){"by=a,"}),
				2, &res, &err), -EINVAL);
	assert_null(res);
	gen_free(&g);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
