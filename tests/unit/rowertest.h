/* SPDX-License-Identifier: MIT */
/*
 * rowertest.h - helpers shared by the rower tests (test_executor.c,
 * test_aggregates.c, test_wordcount.c, test_sort.c, test_plugin.c,
 * test_join2.c, test_map_zip.c, test_csv_batch.c): the store's bytes on disk (shared
 * chunks counted once), running a class by name, comparing dataframes
 * cell by cell, and the
 * encode -> decode -> join -> finish round trip of a rower state driven by
 * hand (no executor), checked against eau2_run. Static functions only:
 * each test includes it once.
 */
#ifndef EAU2_ROWERTEST_H
#define EAU2_ROWERTEST_H

#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#define RT_UNUSED __attribute__((unused))

/* Bytes the store's files hold on disk, each inode once (a zip result's
 * segments are hard links to its inputs', so it adds only what it built).
 * nftw has no context argument: the walk fills these. */
static uint64_t rt_walk_bytes;
static ino_t rt_walk_inodes[4096];
static size_t rt_walk_n;

RT_UNUSED static int rt_walk_one(const char *path, const struct stat *st, int flag,
				 struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag != FTW_F)
		return 0;
	for (size_t i = 0; i < rt_walk_n; i++)
		if (rt_walk_inodes[i] == st->st_ino)
			return 0;
	assert_true(rt_walk_n < sizeof(rt_walk_inodes) / sizeof(rt_walk_inodes[0]));
	rt_walk_inodes[rt_walk_n++] = st->st_ino;
	rt_walk_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

RT_UNUSED static uint64_t rt_store_bytes(eau2 *db)
{
	rt_walk_bytes = 0;
	rt_walk_n = 0;
	assert_int_equal(nftw(eau2_dir(db), rt_walk_one, 16, FTW_PHYS), 0);
	return rt_walk_bytes;
}

/* args from "k=v" strings (at most 8). */
struct rt_args {
	struct eau2_args a;
	const char *names[8], *values[8];
	char buf[8][256];
};

RT_UNUSED static const struct eau2_args *rt_args(struct rt_args *ra, size_t n,
						 const char *const *kv)
{
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		snprintf(ra->buf[i], sizeof(ra->buf[i]), "%s", kv[i]);
		char *eq = strchr(ra->buf[i], '=');
		assert_non_null(eq);
		*eq = 0;
		ra->names[i] = ra->buf[i];
		ra->values[i] = eq + 1;
	}
	ra->a.n = n;
	ra->a.names = ra->names;
	ra->a.values = ra->values;
	return &ra->a;
}

/* Runs class `name` with args on `threads` threads; returns rc. */
RT_UNUSED static int rt_run(eau2 *db, const eau2_df *df, const char *name,
			    const struct eau2_args *args, unsigned threads,
			    eau2_df **out, struct eau2_error *err)
{
	const struct eau2_rower_class *cls = eau2_rower_find(name);
	struct eau2_run_options opt = { .threads = threads };

	assert_non_null(cls);
	return eau2_run(db, df, cls, args, &opt, out, err);
}

/* Asserts that a and b have the same schema and the same cells (doubles
 * bitwise, except that any NaN equals any NaN). */
RT_UNUSED static void rt_assert_df_equal(const eau2_df *a, const eau2_df *b)
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
			int ra, rb;
			switch (eau2_schema_type(sa, c)) {
			case EAU2_BOOL: {
				bool x = 0, y = 0;
				ra = eau2_df_get_bool(a, c, r, &x, &err);
				rb = eau2_df_get_bool(b, c, r, &y, &err);
				assert_int_equal(ra, rb);
				assert_int_equal(x, y);
				break;
			}
			case EAU2_INT: {
				int64_t x = 0, y = 0;
				ra = eau2_df_get_int(a, c, r, &x, &err);
				rb = eau2_df_get_int(b, c, r, &y, &err);
				assert_int_equal(ra, rb);
				if (x != y)
					fail_msg("col %zu row %llu: %lld != %lld", c,
						 (unsigned long long)r, (long long)x, (long long)y);
				break;
			}
			case EAU2_DOUBLE: {
				double x = 0, y = 0;
				ra = eau2_df_get_double(a, c, r, &x, &err);
				rb = eau2_df_get_double(b, c, r, &y, &err);
				assert_int_equal(ra, rb);
				if (!(isnan(x) && isnan(y)) && memcmp(&x, &y, 8) != 0)
					fail_msg("col %zu row %llu: %.17g != %.17g", c,
						 (unsigned long long)r, x, y);
				break;
			}
			case EAU2_STRING: {
				const char *x = "", *y = "";
				size_t lx = 0, ly = 0;
				ra = eau2_df_get_string(a, c, r, &x, &lx, &err);
				rb = eau2_df_get_string(b, c, r, &y, &ly, &err);
				assert_int_equal(ra, rb);
				assert_int_equal(lx, ly);
				assert_memory_equal(x, y, lx);
				break;
			}
			}
		}
	}
}

/* Feeds row groups [g0, g1) of df to a fresh state of cls. */
RT_UNUSED static void *rt_state_over(const struct eau2_rower_class *cls,
				     const struct eau2_run_ctx *ctx, size_t g0,
				     size_t g1)
{
	struct eau2_error err = {0};
	size_t ncols = eau2_df_ncols(ctx->input);
	struct eau2_chunk_view *views = calloc(ncols + 1, sizeof(*views));
	void *s = calloc(1, cls->state_size + 1);

	assert_non_null(views);
	assert_non_null(s);
	tu_ok(cls->init(s, ctx, &err), &err);
	for (size_t g = g0; g < g1; g++) {
		for (size_t c = 0; c < ncols; c++)
			tu_ok(eau2_df_chunk(ctx->input, c, g, &views[c], &err), &err);
		struct eau2_group grp = {
			.df = ctx->input, .group = g,
			.first_row = eau2_df_group_first_row(ctx->input, g),
			.rows = eau2_df_group_rows(ctx->input, g), .cols = views,
		};
		if (cls->accept_chunk) {
			tu_ok(cls->accept_chunk(s, &grp, &err), &err);
		} else {
			struct eau2_row row = { .df = ctx->input, .cols = views };
			for (uint32_t i = 0; i < grp.rows; i++) {
				row.i = i;
				row.row = grp.first_row + i;
				assert_true(cls->accept(s, &row) >= 0);
			}
		}
	}
	free(views);
	return s;
}

RT_UNUSED static void rt_state_free(const struct eau2_rower_class *cls, void *s)
{
	if (cls->destroy)
		cls->destroy(s);
	free(s);
}

/* States over the two halves of ctx's row groups, joined in place (the
 * joined state keeps a's storage: its dictionaries merged, say); both the
 * joined state and a copy decoded from its encoding finish to want. */
RT_UNUSED static void rt_check_joined(const struct eau2_rower_class *cls,
				      const struct eau2_run_ctx *ctx,
				      const eau2_df *want)
{
	struct eau2_error err = {0};
	size_t ng = eau2_df_ngroups(ctx->input), len = 0;
	void *a = rt_state_over(cls, ctx, 0, ng / 2);
	void *b = rt_state_over(cls, ctx, ng / 2, ng);
	void *c = rt_state_over(cls, ctx, 0, 0), *buf = NULL;
	eau2_df *got;

	tu_ok(cls->join(a, b, &err), &err);
	tu_ok(cls->encode(a, &buf, &len, &err), &err);
	tu_ok(cls->decode(c, buf, len, &err), &err);
	tu_ok(cls->finish(c, ctx, &got, &err), &err);
	rt_assert_df_equal(want, got);
	eau2_df_release(got);
	tu_ok(cls->finish(a, ctx, &got, &err), &err);
	rt_assert_df_equal(want, got);
	eau2_df_release(got);
	free(buf);
	rt_state_free(cls, a);
	rt_state_free(cls, b);
	rt_state_free(cls, c);
}

/* State over the first half of the row groups, joined with the decoded
 * encoding of a state over the second half; finished, it must equal the
 * result of eau2_run. Also checks that a state decoded from the encoding
 * of a state over everything finishes to the same result, and that a
 * truncated encoding is refused. */
RT_UNUSED static void rt_check_roundtrip(eau2 *db, const eau2_df *df,
					 const char *name,
					 const struct eau2_args *args)
{
	static const struct eau2_args none = {0};
	const struct eau2_rower_class *cls = eau2_rower_find(name);
	struct eau2_run_ctx ctx = { .db = db, .input = df,
				    .args = args ? args : &none, .threads = 1 };
	struct eau2_error err = {0};
	size_t ng = eau2_df_ngroups(df);
	eau2_df *want = NULL, *got = NULL;
	void *buf = NULL;
	size_t len = 0;

	assert_non_null(cls);
	assert_non_null(cls->encode);
	assert_non_null(cls->decode);
	tu_ok(rt_run(db, df, name, args, 1, &want, &err), &err);

	/* split + encode/decode + join */
	void *a = rt_state_over(cls, &ctx, 0, ng / 2);
	void *b = rt_state_over(cls, &ctx, ng / 2, ng);
	tu_ok(cls->encode(b, &buf, &len, &err), &err);
	rt_state_free(cls, b);
	void *c = rt_state_over(cls, &ctx, 0, 0);
	tu_ok(cls->decode(c, buf, len, &err), &err);
	free(buf);
	buf = NULL;
	tu_ok(cls->join(a, c, &err), &err);
	rt_state_free(cls, c);
	tu_ok(cls->finish(a, &ctx, &got, &err), &err);
	rt_state_free(cls, a);
	rt_assert_df_equal(want, got);
	eau2_df_release(got);
	got = NULL;

	/* whole state through encode/decode; truncation refused */
	a = rt_state_over(cls, &ctx, 0, ng);
	tu_ok(cls->encode(a, &buf, &len, &err), &err);
	rt_state_free(cls, a);
	c = rt_state_over(cls, &ctx, 0, 0);
	if (len > 0)
		assert_true(cls->decode(c, buf, len - 1, &err) < 0);
	rt_state_free(cls, c);
	c = rt_state_over(cls, &ctx, 0, 0);
	tu_ok(cls->decode(c, buf, len, &err), &err);
	free(buf);
	tu_ok(cls->finish(c, &ctx, &got, &err), &err);
	rt_state_free(cls, c);
	rt_assert_df_equal(want, got);
	eau2_df_release(got);
	eau2_df_release(want);
}

#endif
