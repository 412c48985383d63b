/* SPDX-License-Identifier: MIT */
/*
 * test_filter_map.c - the filter and map rowers against naive row-by-row
 * references written in plain C (SQL three-valued logic by hand), over
 * random dataframes with nulls whose sizes straddle row-group boundaries,
 * on 1, 2 and 7 threads (results must be identical); and their error
 * paths: unknown column, type mismatch, malformed expression (with the
 * position), missing arguments, overflow at run time.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

/* Columns of the random input. */
enum { I, D, S, B, NC };
static const char *const strs[] = { "", "a", "ab", "b", "abc", "zz" };

struct row {
	bool in, dn, sn, bn;   /* nulls */
	int64_t i;
	double d;
	const char *s;
	bool b;
};

static eau2_df *make_input(eau2 *db, uint64_t rows, uint64_t seed,
			   struct row **out)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;
	struct row *r = calloc(rows + 1, sizeof(*r));

	tu_ok(eau2_schema_parse("i:int,d:double,s:string,b:bool", &schema, &err),
	      &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (uint64_t k = 0; k < rows; k++) {
		uint64_t x = tu_rand(&seed);
		struct row *w = &r[k];
		w->in = x % 7 == 0;
		w->dn = (x >> 3) % 9 == 0;
		w->sn = (x >> 6) % 11 == 0;
		w->bn = (x >> 9) % 13 == 0;
		w->i = (int64_t)((x >> 12) % 101) - 50;
		w->d = (double)((int64_t)((x >> 20) % 4001) - 2000) / 16.0;
		w->s = strs[(x >> 32) % 6];
		w->b = (x >> 40) & 1;
		tu_ok(w->in ? eau2_builder_append_null(b, I, &err)
			    : eau2_builder_append_int(b, I, w->i, &err), &err);
		tu_ok(w->dn ? eau2_builder_append_null(b, D, &err)
			    : eau2_builder_append_double(b, D, w->d, &err), &err);
		tu_ok(w->sn ? eau2_builder_append_null(b, S, &err)
			    : eau2_builder_append_string(b, S, w->s, strlen(w->s),
							 &err), &err);
		tu_ok(w->bn ? eau2_builder_append_null(b, B, &err)
			    : eau2_builder_append_bool(b, B, w->b, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	*out = r;
	return df;
}

static void append_row(eau2_builder *b, const struct row *w)
{
	struct eau2_error err = {0};

	tu_ok(w->in ? eau2_builder_append_null(b, I, &err)
		    : eau2_builder_append_int(b, I, w->i, &err), &err);
	tu_ok(w->dn ? eau2_builder_append_null(b, D, &err)
		    : eau2_builder_append_double(b, D, w->d, &err), &err);
	tu_ok(w->sn ? eau2_builder_append_null(b, S, &err)
		    : eau2_builder_append_string(b, S, w->s, strlen(w->s), &err),
	      &err);
	tu_ok(w->bn ? eau2_builder_append_null(b, B, &err)
		    : eau2_builder_append_bool(b, B, w->b, &err), &err);
}

/* Three-valued logic: -1 null, 0 false, 1 true. */
static int t_and(int a, int b)
{
	if (a == 0 || b == 0)
		return 0;
	return a < 0 || b < 0 ? -1 : 1;
}
static int t_or(int a, int b)
{
	if (a == 1 || b == 1)
		return 1;
	return a < 0 || b < 0 ? -1 : 0;
}
static int t_not(int a)
{
	return a < 0 ? -1 : !a;
}

struct pred {
	const char *where;
	int (*ref)(const struct row *w);
};

static int p0(const struct row *w)
{
	/* i > 10 and s != 'ab' */
	int a = w->in ? -1 : w->i > 10;
	int b = w->sn ? -1 : strcmp(w->s, "ab") != 0;
	return t_and(a, b);
}
static int p1(const struct row *w)
{
	/* d * 2 < i or b */
	int a = w->dn || w->in ? -1 : w->d * 2 < (double)w->i;
	int b = w->bn ? -1 : w->b;
	return t_or(a, b);
}
static int p2(const struct row *w)
{
	/* i is null or d is not null and not b */
	return t_or(w->in, t_and(!w->dn, t_not(w->bn ? -1 : w->b)));
}
static int p3(const struct row *w)
{
	/* i / 3 = 2 (int division; null i gives null) */
	return w->in ? -1 : w->i / 3 == 2;
}
static int p4(const struct row *w)
{
	/* not (s >= 'b') -- nulls never pass either way */
	return t_not(w->sn ? -1 : strcmp(w->s, "b") >= 0);
}
static int p5(const struct row *w)
{
	(void)w;
	return 1; /* true */
}

static const struct pred preds[] = {
	{ "i > 10 and s != 'ab'", p0 },
	{ "d * 2 < i or b", p1 },
	{ "i is null or d is not null and not b", p2 },
	{ "i / 3 = 2", p3 },
	{ "not (s >= 'b')", p4 },
	{ "true", p5 },
};

static eau2_df *expected_filter(eau2 *db, const eau2_df *in,
				const struct row *r, uint64_t rows,
				int (*ref)(const struct row *))
{
	struct eau2_error err = {0};
	eau2_builder *b;
	eau2_df *df;

	tu_ok(eau2_builder_new(db, eau2_df_schema(in), &b, &err), &err);
	for (uint64_t k = 0; k < rows; k++)
		if (ref(&r[k]) == 1)
			append_row(b, &r[k]);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	return df;
}

static const uint64_t sizes[] = { 0, 1, 100, 65536, 65537, 200000 };

static void test_filter(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	size_t nsizes = tu_quick() ? 4 : 6;

	(void)unused;
	for (size_t z = 0; z < nsizes; z++) {
		struct row *r;
		eau2_df *in = make_input(db, sizes[z], 17 + z, &r);
		for (size_t p = 0; p < sizeof(preds) / sizeof(preds[0]); p++) {
			eau2_df *want = expected_filter(db, in, r, sizes[z], preds[p].ref);
			char arg[200];
			snprintf(arg, sizeof(arg), "where=%s", preds[p].where);
			const char *kv[] = { arg };
			struct rt_args ra;
			const struct eau2_args *args = rt_args(&ra, 1, kv);
			static const unsigned threads[] = { 1, 2, 7 };
			for (size_t t = 0; t < 3; t++) {
				struct eau2_error err = {0};
				eau2_df *got = NULL;
				tu_ok(rt_run(db, in, "filter", args, threads[t], &got,
					     &err), &err);
				rt_assert_df_equal(want, got);
				eau2_df_release(got);
			}
			eau2_df_release(want);
		}
		eau2_df_release(in);
		free(r);
	}
	tu_close_store(db, dir);
}

static void test_map(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	size_t nsizes = tu_quick() ? 4 : 6;

	(void)unused;
	for (size_t z = 0; z < nsizes; z++) {
		struct row *r;
		uint64_t rows = sizes[z];
		eau2_df *in = make_input(db, rows, 99 + z, &r);
		struct eau2_error err = {0};
		/* x = i * 2 + 1 (int); y = d / 2 + i (double); c = i >= 0 */
		static const char *const names[] = { "x", "y", "c" };
		static const char *const exprs[] = { "i * 2 + 1", "d / 2 + i",
						     "i >= 0" };
		static const enum eau2_type types[] = { EAU2_INT, EAU2_DOUBLE,
							EAU2_BOOL };
		for (int m = 0; m < 3; m++) {
			eau2_schema *schema;
			eau2_builder *b;
			eau2_df *want;
			tu_ok(eau2_schema_copy(eau2_df_schema(in), &schema, &err), &err);
			tu_ok(eau2_schema_add(schema, names[m], types[m], &err), &err);
			tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
			for (uint64_t k = 0; k < rows; k++) {
				const struct row *w = &r[k];
				append_row(b, w);
				if (w->in || (m == 1 && w->dn))
					tu_ok(eau2_builder_append_null(b, NC, &err), &err);
				else if (m == 0)
					tu_ok(eau2_builder_append_int(b, NC, w->i * 2 + 1,
								      &err), &err);
				else if (m == 1)
					tu_ok(eau2_builder_append_double(b, NC,
						w->d / 2 + (double)w->i, &err), &err);
				else
					tu_ok(eau2_builder_append_bool(b, NC, w->i >= 0,
								       &err), &err);
			}
			tu_ok(eau2_builder_finish(b, &want, &err), &err);
			eau2_schema_free(schema);
			char a0[64], a1[64];
			snprintf(a0, sizeof(a0), "name=%s", names[m]);
			snprintf(a1, sizeof(a1), "expr=%s", exprs[m]);
			const char *kv[] = { a0, a1 };
			struct rt_args ra;
			const struct eau2_args *args = rt_args(&ra, 2, kv);
			static const unsigned threads[] = { 1, 2, 7 };
			for (size_t t = 0; t < 3; t++) {
				eau2_df *got = NULL;
				tu_ok(rt_run(db, in, "map", args, threads[t], &got, &err),
				      &err);
				rt_assert_df_equal(want, got);
				eau2_df_release(got);
			}
			eau2_df_release(want);
		}
		eau2_df_release(in);
		free(r);
	}
	tu_close_store(db, dir);
}

static void expect_fail(eau2 *db, const eau2_df *in, const char *rower,
			size_t n, const char *const *kv, int code, const char *msg)
{
	struct rt_args ra;
	const struct eau2_args *args = rt_args(&ra, n, kv);
	struct eau2_error err = {0};
	eau2_df *got = NULL;
	int rc = rt_run(db, in, rower, args, 2, &got, &err);

	if (rc != code || !strstr(err.msg, msg))
		fail_msg("%s %s: rc %d (want %d), msg '%s' (want '%s')", rower,
			 n ? kv[n - 1] : "", rc, code, err.msg, msg);
	assert_null(got);
}

static void test_errors(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct row *r;
	eau2_df *in = make_input(db, 70000, 5, &r);

	(void)unused;
	{
		const char *kv[] = { "where=i > 3 and pricee < 2" };
		expect_fail(db, in, "filter", 1, kv, -ENOENT,
			    "where: position 11: unknown column 'pricee'");
	}
	{
		const char *kv[] = { "where=s > 3" };
		expect_fail(db, in, "filter", 1, kv, -EINVAL,
			    "where: position 3: type mismatch");
	}
	{
		const char *kv[] = { "where=(i > 3" };
		expect_fail(db, in, "filter", 1, kv, -EINVAL,
			    "where: position 7: expected ')'");
	}
	{
		const char *kv[] = { "where=i + 1" };
		expect_fail(db, in, "filter", 1, kv, -EINVAL, "not a condition");
	}
	expect_fail(db, in, "filter", 0, NULL, -EINVAL, "missing argument where");
	{
		const char *kv[] = { "name=i", "expr=1" };
		expect_fail(db, in, "map", 2, kv, -EINVAL, "already exists");
	}
	{
		const char *kv[] = { "name=z" };
		expect_fail(db, in, "map", 1, kv, -EINVAL, "missing argument expr");
	}
	{
		const char *kv[] = { "name=z", "expr=i * 9223372036854775807" };
		expect_fail(db, in, "map", 2, kv, -ERANGE,
			    "expr: position 3: integer overflow in '*' at row");
	}
	{
		const char *kv[] = { "where=i * 0 - 9223372036854775807 - 100 < 0" };
		expect_fail(db, in, "filter", 1, kv, -ERANGE, "position 29: integer "
			    "overflow in '-'");
	}
	eau2_df_release(in);
	free(r);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
