/* SPDX-License-Identifier: MIT */
/*
 * test_map_zip.c - map builds only its new column and zips it with the
 * input (src/rowers/map.c): over random inputs with nulls and irregular
 * row groups (builder parts of uneven sizes, a full 64Ki group among
 * short ones), the result equals a naive row-by-row reference written
 * in plain C, is identical for 1, 2 and 7 threads, has the input's row
 * groups, and adds to the store only about the new column's bytes (the
 * input's chunks are shared: counted on the store's files, each inode
 * once). Also: the copying paths still give the same
 * rows (an input from another store; a state finished over some row
 * groups only, as encode/decode tests do), an empty input, and decode
 * refusing a block for a row group the input does not have.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

enum { I, D, S, B, NC };
static const char *const strs[] = { "", "a", "bc", "def", "\xff\x01", "zz" };

struct row {
	bool in, dn, sn, bn;
	int64_t i;
	double d;
	const char *s;
	bool b;
};

/* i:int, d:double, s:string, b:bool in parts of the given sizes (each a
 * row group of its own when < 64Ki), ~1/8 nulls per column. */
static eau2_df *make_input(eau2 *db, const uint64_t *parts, size_t nparts,
			   uint64_t seed, struct row **out, uint64_t *nrows)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *root, *b;
	eau2_df *df;
	uint64_t rows = 0, k = 0;

	for (size_t p = 0; p < nparts; p++)
		rows += parts[p];
	struct row *r = calloc(rows + 1, sizeof(*r));
	assert_non_null(r);
	tu_ok(eau2_schema_parse("i:int,d:double,s:string,b:bool", &schema, &err),
	      &err);
	tu_ok(eau2_builder_new(db, schema, &root, &err), &err);
	for (size_t p = 0; p < nparts; p++) {
		tu_ok(eau2_builder_fork(root, &b, &err), &err);
		for (uint64_t n = 0; n < parts[p]; n++, k++) {
			uint64_t x = tu_rand(&seed);
			struct row *w = &r[k];
			w->in = x % 8 == 0;
			w->dn = (x >> 3) % 8 == 0;
			w->sn = (x >> 6) % 8 == 0;
			w->bn = (x >> 9) % 8 == 0;
			w->i = (int64_t)((x >> 12) % 1001) - 500;
			w->d = (double)((int64_t)((x >> 22) % 4001) - 2000) / 8.0;
			w->s = strs[(x >> 34) % 6];
			w->b = (x >> 40) & 1;
			tu_ok(w->in ? eau2_builder_append_null(b, I, &err)
				    : eau2_builder_append_int(b, I, w->i, &err), &err);
			tu_ok(w->dn ? eau2_builder_append_null(b, D, &err)
				    : eau2_builder_append_double(b, D, w->d, &err),
			      &err);
			tu_ok(w->sn ? eau2_builder_append_null(b, S, &err)
				    : eau2_builder_append_string(b, S, w->s,
								 strlen(w->s), &err),
			      &err);
			tu_ok(w->bn ? eau2_builder_append_null(b, B, &err)
				    : eau2_builder_append_bool(b, B, w->b, &err),
			      &err);
		}
		tu_ok(eau2_builder_join(root, b, &err), &err);
	}
	tu_ok(eau2_builder_finish(root, &df, &err), &err);
	eau2_schema_free(schema);
	*out = r;
	*nrows = rows;
	return df;
}

/* The maps under test and their naive values. */
enum { M_INT, M_DOUBLE, M_BOOL, M_STRING, M_CONST, NM };
static const char *const names[NM] = { "x", "y", "c", "t", "k" };
static const char *const exprs[NM] = { "i * 3 - 7", "d / 2 + i",
				       "i > 0 and b", "s", "'konst'" };

/* Checks row r of the new column (column NC of got) against w. */
static void check_new(const eau2_df *got, int m, uint64_t r, const struct row *w)
{
	struct eau2_error err = {0};
	int rc;

	switch (m) {
	case M_INT: {
		int64_t v = 0;
		rc = eau2_df_get_int(got, NC, r, &v, &err);
		assert_int_equal(rc, w->in ? EAU2_NULL : 0);
		if (!w->in)
			assert_int_equal(v, w->i * 3 - 7);
		break;
	}
	case M_DOUBLE: {
		double v = 0;
		rc = eau2_df_get_double(got, NC, r, &v, &err);
		assert_int_equal(rc, w->in || w->dn ? EAU2_NULL : 0);
		if (rc == 0 && v != w->d / 2 + (double)w->i)
			fail_msg("row %llu: %.17g", (unsigned long long)r, v);
		break;
	}
	case M_BOOL: {
		/* SQL and: false wins over null */
		bool v = false, f = (!w->in && w->i <= 0) || (!w->bn && !w->b);
		bool null = !f && (w->in || w->bn);
		rc = eau2_df_get_bool(got, NC, r, &v, &err);
		assert_int_equal(rc, null ? EAU2_NULL : 0);
		if (!null)
			assert_int_equal(v, !f);
		break;
	}
	default: {
		const char *s = NULL, *want = m == M_CONST ? "konst" : w->s;
		size_t len = 0;
		rc = eau2_df_get_string(got, NC, r, &s, &len, &err);
		assert_int_equal(rc, m == M_STRING && w->sn ? EAU2_NULL : 0);
		if (rc == 0) {
			assert_int_equal(len, strlen(want));
			assert_memory_equal(s, want, len);
		}
		break;
	}
	}
}

/* got = input columns (cell for cell) then the new column of map m. */
static void check_result(const eau2_df *in, const eau2_df *got, int m,
			 const struct row *r, uint64_t rows)
{
	const eau2_schema *s = eau2_df_schema(got);

	assert_int_equal(eau2_schema_ncols(s), NC + 1);
	assert_string_equal(eau2_schema_name(s, NC), names[m]);
	for (size_t c = 0; c < NC; c++) {
		assert_string_equal(eau2_schema_name(s, c),
				    eau2_schema_name(eau2_df_schema(in), c));
		assert_int_equal(eau2_schema_type(s, c),
				 eau2_schema_type(eau2_df_schema(in), c));
	}
	assert_int_equal(eau2_df_rows(got), rows);
	for (uint64_t k = 0; k < rows; k++) {
		struct eau2_error err = {0};
		int64_t i = 0;
		double d = 0;
		const char *sv = NULL;
		size_t len = 0;
		bool b = false;
		const struct row *w = &r[k];
		assert_int_equal(eau2_df_get_int(got, I, k, &i, &err),
				 w->in ? EAU2_NULL : 0);
		assert_true(w->in || i == w->i);
		assert_int_equal(eau2_df_get_double(got, D, k, &d, &err),
				 w->dn ? EAU2_NULL : 0);
		assert_true(w->dn || d == w->d);
		assert_int_equal(eau2_df_get_string(got, S, k, &sv, &len, &err),
				 w->sn ? EAU2_NULL : 0);
		assert_true(w->sn || (len == strlen(w->s) && !memcmp(sv, w->s, len)));
		assert_int_equal(eau2_df_get_bool(got, B, k, &b, &err),
				 w->bn ? EAU2_NULL : 0);
		assert_true(w->bn || b == w->b);
		check_new(got, m, k, w);
	}
}

static const struct eau2_args *map_args(struct rt_args *ra, int m)
{
	char a0[64], a1[64];

	snprintf(a0, sizeof(a0), "name=%s", names[m]);
	snprintf(a1, sizeof(a1), "expr=%s", exprs[m]);
	const char *kv[] = { a0, a1 };
	return rt_args(ra, 2, kv);
}

/* Upper bound of the store bytes of a one-column dataframe of `rows`
 * values of map m in `groups` chunks: values (or offsets and the longest
 * string), a validity bitmap, per chunk a header and 64-byte alignment of
 * each buffer, the descriptor, and pages rounding each segment file (a
 * first segment of EAU2_SEG_MIN that later ones double). Copying the
 * input's columns too (about 26 bytes a row more) exceeds it for inputs
 * of more than a few thousand rows. */
static uint64_t col_bound(int m, uint64_t rows, size_t groups)
{
	uint64_t per_row = m == M_BOOL ? 1 : m >= M_STRING ? 8 + 5 : 8;

	return rows * per_row + rows / 8 + (uint64_t)groups * 1024 + 64 * 4096;
}

static void run_sizes(const uint64_t *parts, size_t nparts, uint64_t seed)
{
	static const unsigned threads[] = { 1, 2, 7 };
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct row *r;
	uint64_t rows;
	eau2_df *in = make_input(db, parts, nparts, seed, &r, &rows);
	size_t ng = eau2_df_ngroups(in);

	for (int m = 0; m < NM; m++) {
		struct rt_args ra;
		const struct eau2_args *args = map_args(&ra, m);
		eau2_df *first = NULL;
		for (size_t t = 0; t < 3; t++) {
			eau2_df *got = NULL;
			uint64_t before = rt_store_bytes(db);
			tu_ok(rt_run(db, in, "map", args, threads[t], &got, &err), &err);
			/* the input's row groups, its chunks shared: the store
			 * grew by the new column only */
			assert_int_equal(eau2_df_ngroups(got), ng);
			for (size_t g = 0; g < ng; g++)
				assert_int_equal(eau2_df_group_rows(got, g),
						 eau2_df_group_rows(in, g));
			uint64_t extra = rt_store_bytes(db) - before;
			if (extra > col_bound(m, rows, ng))
				fail_msg("map %s: result adds %llu bytes for %llu rows",
					 names[m], (unsigned long long)extra,
					 (unsigned long long)rows);
			tu_ok(eau2_df_verify(got, &err), &err);
			if (t == 0) {
				check_result(in, got, m, r, rows);
				first = got;
				continue;
			}
			rt_assert_df_equal(first, got);
			eau2_df_release(got);
		}
		/* the result outlives its input's key and handle */
		tu_ok(eau2_put(db, "zipped", first, &err), &err);
		eau2_df_release(first);
		tu_ok(eau2_get(db, "zipped", &first, &err), &err);
		check_result(in, first, m, r, rows);
		tu_ok(eau2_delete(db, "zipped", &err), &err);
		eau2_df_release(first);
	}
	eau2_df_release(in);
	free(r);
	tu_close_store(db, dir);
}

static void test_irregular_groups(void **unused)
{
	(void)unused;
	static const uint64_t a[] = { 1, 700, 3, 4096, 65535, 17 };
	static const uint64_t q[] = { 1, 700, 3, 4096, 5000, 17 };
	run_sizes(tu_quick() ? q : a, 6, 1);
	static const uint64_t one[] = { 1 };
	run_sizes(one, 1, 2);
}

static void test_full_groups(void **unused)
{
	(void)unused;
	/* 2 full groups then a short one (a single part seals full groups) */
	uint64_t p[] = { 2 * EAU2_CHUNK_ROWS + 999 };
	if (tu_quick())
		p[0] = EAU2_CHUNK_ROWS + 5;
	run_sizes(p, 1, 3);
	/* full groups from separate parts, with short ones between */
	static const uint64_t q[] = { EAU2_CHUNK_ROWS, 10, EAU2_CHUNK_ROWS, 1 };
	if (!tu_quick())
		run_sizes(q, 4, 4);
}

/* An input in another store cannot be zipped: the result is copied, with
 * the same rows. */
static void test_other_store(void **unused)
{
	struct eau2_error err = {0};
	char *d1, *d2;
	eau2 *db1 = tu_open_store(&d1), *db2 = tu_open_store(&d2);
	static const uint64_t parts[] = { 100, 3, 250 };
	struct row *r;
	uint64_t rows;
	eau2_df *in = make_input(db1, parts, 3, 5, &r, &rows);
	(void)unused;

	for (int m = 0; m < NM; m++) {
		struct rt_args ra;
		eau2_df *got = NULL;
		tu_ok(rt_run(db2, in, "map", map_args(&ra, m), 2, &got, &err), &err);
		check_result(in, got, m, r, rows);
		eau2_df_release(got);
	}
	eau2_df_release(in);
	free(r);
	tu_close_store(db1, d1);
	tu_close_store(db2, d2);
}

/* An input whose key was deleted while a client still maps it: its files
 * are gone, so the result cannot link them; map copies instead. */
static void test_input_deleted(void **unused)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	static const uint64_t parts[] = { 70000, 9 };
	struct row *r;
	uint64_t rows;
	eau2_df *in = make_input(db, parts, 2, 6, &r, &rows), *got = NULL;
	struct rt_args ra;
	(void)unused;

	tu_ok(eau2_put(db, "in", in, &err), &err);
	tu_ok(eau2_delete(db, "in", &err), &err);
	tu_ok(rt_run(db, in, "map", map_args(&ra, 0), 2, &got, &err), &err);
	check_result(in, got, 0, r, rows);
	eau2_df_release(got);
	eau2_df_release(in);
	free(r);
	tu_close_store(db, dir);
}

/* A state over row groups [1, 3) finishes (copying) to those rows; an
 * empty input gives an empty result with the new column. */
static void test_partial_and_empty(void **unused)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	static const uint64_t parts[] = { 10, 20, 30, 40 };
	struct row *r;
	uint64_t rows;
	eau2_df *in = make_input(db, parts, 4, 6, &r, &rows);
	const struct eau2_rower_class *cls = eau2_rower_find("map");
	(void)unused;

	for (int m = 0; m < NM; m++) {
		struct rt_args ra;
		struct eau2_run_ctx ctx = { .db = db, .input = in, .threads = 1,
					    .args = map_args(&ra, m) };
		void *s = rt_state_over(cls, &ctx, 1, 3);
		eau2_df *got = NULL;
		tu_ok(cls->finish(s, &ctx, &got, &err), &err);
		rt_state_free(cls, s);
		assert_int_equal(eau2_df_rows(got), 50);
		for (uint64_t k = 0; k < 50; k++)
			check_new(got, m, k, &r[10 + k]);
		eau2_df_release(got);
	}
	eau2_df_release(in);
	free(r);

	in = make_input(db, NULL, 0, 7, &r, &rows);
	assert_int_equal(eau2_df_rows(in), 0);
	for (int m = 0; m < NM; m++) {
		struct rt_args ra;
		eau2_df *got = NULL;
		tu_ok(rt_run(db, in, "map", map_args(&ra, m), 2, &got, &err), &err);
		assert_int_equal(eau2_df_rows(got), 0);
		assert_int_equal(eau2_df_ncols(got), NC + 1);
		eau2_df_release(got);
	}
	eau2_df_release(in);
	free(r);
	tu_close_store(db, dir);
}

/* A block naming a row group the decoding side's input lacks, or with
 * another row count than that group's, is refused. */
static void test_decode_groups(void **unused)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	static const uint64_t parts[] = { 10, 20, 30 };
	static const uint64_t other[] = { 10, 21, 30 };
	struct row *r, *r2, *r3;
	uint64_t rows;
	eau2_df *in = make_input(db, parts, 3, 8, &r, &rows);
	eau2_df *in2 = make_input(db, other, 3, 8, &r2, &rows);
	eau2_df *in3 = make_input(db, parts, 2, 8, &r3, &rows);
	const struct eau2_rower_class *cls = eau2_rower_find("map");
	struct rt_args ra;
	struct eau2_run_ctx ctx = { .db = db, .input = in, .threads = 1,
				    .args = map_args(&ra, M_INT) };
	void *buf = NULL;
	size_t len = 0;
	(void)unused;

	free(r2);
	free(r3);
	void *s = rt_state_over(cls, &ctx, 0, 3);
	tu_ok(cls->encode(s, &buf, &len, &err), &err);
	rt_state_free(cls, s);
	/* same groups: decodes and zips to eau2_run's result */
	eau2_df *want = NULL, *got = NULL;
	tu_ok(rt_run(db, in, "map", ctx.args, 1, &want, &err), &err);
	s = rt_state_over(cls, &ctx, 0, 0);
	tu_ok(cls->decode(s, buf, len, &err), &err);
	tu_ok(cls->finish(s, &ctx, &got, &err), &err);
	rt_state_free(cls, s);
	rt_assert_df_equal(want, got);
	assert_int_equal(eau2_df_ngroups(got), 3);
	eau2_df_release(want);
	eau2_df_release(got);
	/* group 1 has 21 rows over there; group 2 does not exist */
	struct eau2_run_ctx c2 = ctx;
	c2.input = in2;
	s = rt_state_over(cls, &c2, 0, 0);
	assert_int_equal(cls->decode(s, buf, len, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "block 1: bad row count"));
	rt_state_free(cls, s);
	c2.input = in3;
	s = rt_state_over(cls, &c2, 0, 0);
	assert_int_equal(cls->decode(s, buf, len, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "block 2: bad row group"));
	rt_state_free(cls, s);
	free(buf);
	eau2_df_release(in);
	eau2_df_release(in2);
	eau2_df_release(in3);
	free(r);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_irregular_groups),
		cmocka_unit_test(test_full_groups),
		cmocka_unit_test(test_other_store),
		cmocka_unit_test(test_input_deleted),
		cmocka_unit_test(test_partial_and_empty),
		cmocka_unit_test(test_decode_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
