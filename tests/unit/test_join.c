/* SPDX-License-Identifier: MIT */
/*
 * test_join.c - the join rower against a naive nested-loop reference: for
 * each input row in order, every small-side row in order with an equal
 * non-null key (left join: one all-null row when none), over random data
 * with null and duplicate keys, int and string keys, sizes straddling
 * row-group boundaries, on 1, 2 and 7 threads (results must be identical).
 * Also: the "_r" suffix for clashing names, and the error paths (missing
 * `with` key, unknown columns, key type mismatch, bad how).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

static const char *const strs[] = { "", "a", "bb", "ccc", "dd", "e", "ff",
				    "g", "hh", "iii" };

/* big: k:int, s:string, v:double, x:int; small: k:int, s:string, v:string,
 * v_r:int, y:bool */
struct big {
	bool kn, sn, vn;
	int64_t k, x;
	const char *s;
	double v;
};
struct small {
	bool kn, sn, vn, yn;
	int64_t k, vr;
	const char *s, *v;
	bool y;
};

static eau2_df *make_big(eau2 *db, uint64_t rows, uint64_t seed,
			 unsigned keys, struct big **out)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;
	struct big *r = calloc(rows + 1, sizeof(*r));

	tu_ok(eau2_schema_parse("k:int,s:string,v:double,x:int", &schema, &err),
	      &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (uint64_t i = 0; i < rows; i++) {
		uint64_t a = tu_rand(&seed);
		struct big *w = &r[i];
		w->kn = a % 13 == 0;
		w->sn = (a >> 4) % 11 == 0;
		w->vn = (a >> 8) % 7 == 0;
		w->k = (int64_t)((a >> 12) % keys);
		w->s = strs[(a >> 24) % 10];
		w->v = (double)((a >> 32) % 1000) / 8;
		w->x = (int64_t)i;
		tu_ok(w->kn ? eau2_builder_append_null(b, 0, &err)
			    : eau2_builder_append_int(b, 0, w->k, &err), &err);
		tu_ok(w->sn ? eau2_builder_append_null(b, 1, &err)
			    : eau2_builder_append_string(b, 1, w->s, strlen(w->s),
							 &err), &err);
		tu_ok(w->vn ? eau2_builder_append_null(b, 2, &err)
			    : eau2_builder_append_double(b, 2, w->v, &err), &err);
		tu_ok(eau2_builder_append_int(b, 3, w->x, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	*out = r;
	return df;
}

static eau2_df *make_small(eau2 *db, uint64_t rows, uint64_t seed,
			   unsigned keys, struct small **out)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;
	struct small *r = calloc(rows + 1, sizeof(*r));

	tu_ok(eau2_schema_parse("k:int,s:string,v:string,v_r:int,y:bool",
				&schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (uint64_t i = 0; i < rows; i++) {
		uint64_t a = tu_rand(&seed);
		struct small *w = &r[i];
		w->kn = a % 17 == 0;
		w->sn = (a >> 5) % 19 == 0;
		w->vn = (a >> 10) % 5 == 0;
		w->yn = (a >> 15) % 3 == 0;
		w->k = (int64_t)((a >> 20) % keys); /* duplicates when rows > keys */
		w->s = strs[(a >> 30) % 8];
		w->v = strs[(a >> 40) % 10];
		w->vr = (int64_t)i * 10;
		w->y = (a >> 50) & 1;
		tu_ok(w->kn ? eau2_builder_append_null(b, 0, &err)
			    : eau2_builder_append_int(b, 0, w->k, &err), &err);
		tu_ok(w->sn ? eau2_builder_append_null(b, 1, &err)
			    : eau2_builder_append_string(b, 1, w->s, strlen(w->s),
							 &err), &err);
		tu_ok(w->vn ? eau2_builder_append_null(b, 2, &err)
			    : eau2_builder_append_string(b, 2, w->v, strlen(w->v),
							 &err), &err);
		tu_ok(eau2_builder_append_int(b, 3, w->vr, &err), &err);
		tu_ok(w->yn ? eau2_builder_append_null(b, 4, &err)
			    : eau2_builder_append_bool(b, 4, w->y, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	*out = r;
	return df;
}

/* Row-by-row reader of one column through chunk views (the per-cell
 * eau2_df_get_* of rowertest.h is too slow under ASan for big results). */
struct cursor {
	const eau2_df *df;
	size_t col, group;
	uint32_t i;
	struct eau2_chunk_view v;
};

static void cursor_next(struct cursor *c)
{
	struct eau2_error err = {0};

	while (c->i >= c->v.rows) {
		tu_ok(eau2_df_chunk(c->df, c->col, c->group++, &c->v, &err), &err);
		c->i = 0;
	}
}

/* Same schema and cells as rt_assert_df_equal, in O(cells). */
static void assert_df_equal(const eau2_df *a, const eau2_df *b)
{
	const eau2_schema *sa = eau2_df_schema(a), *sb = eau2_df_schema(b);
	uint64_t rows = eau2_df_rows(a);

	assert_int_equal(eau2_schema_ncols(sa), eau2_schema_ncols(sb));
	for (size_t c = 0; c < eau2_schema_ncols(sa); c++) {
		assert_string_equal(eau2_schema_name(sa, c), eau2_schema_name(sb, c));
		assert_int_equal(eau2_schema_type(sa, c), eau2_schema_type(sb, c));
	}
	assert_int_equal(rows, eau2_df_rows(b));
	for (size_t c = 0; c < eau2_schema_ncols(sa); c++) {
		struct cursor x = { .df = a, .col = c }, y = { .df = b, .col = c };
		for (uint64_t r = 0; r < rows; r++, x.i++, y.i++) {
			cursor_next(&x);
			cursor_next(&y);
			bool vx = eau2_view_valid(&x.v, x.i), vy = eau2_view_valid(&y.v, y.i);
			if (vx != vy)
				fail_msg("col %zu row %llu: null %d vs %d", c,
					 (unsigned long long)r, !vx, !vy);
			if (!vx)
				continue;
			bool same;
			switch (x.v.type) {
			case EAU2_BOOL:
				same = eau2_view_bool(&x.v, x.i) == eau2_view_bool(&y.v, y.i);
				break;
			case EAU2_INT:
				same = x.v.values.i64[x.i] == y.v.values.i64[y.i];
				break;
			case EAU2_DOUBLE:
				same = !memcmp(&x.v.values.f64[x.i], &y.v.values.f64[y.i], 8);
				break;
			default: {
				size_t lx, ly;
				const char *px = eau2_view_string(&x.v, x.i, &lx);
				const char *py = eau2_view_string(&y.v, y.i, &ly);
				same = lx == ly && !memcmp(px, py, lx);
				break;
			}
			}
			if (!same)
				fail_msg("col %zu row %llu differs", c, (unsigned long long)r);
		}
	}
}

/* on_k: join on k:k (else s:s). */
static eau2_df *reference(eau2 *db, const struct big *br, uint64_t bn,
			  const struct small *sr, uint64_t sn, uint64_t nkeys,
			  bool on_k, bool left)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;

	/* big columns, then small's but its key; clashes get _r (v -> v_r
	 * clashes again with small's own v_r, which comes later: v_r -> v_r_r) */
	tu_ok(eau2_schema_parse(on_k ?
		"k:int,s:string,v:double,x:int,s_r:string,v_r:string,v_r_r:int,y:bool" :
		"k:int,s:string,v:double,x:int,k_r:int,v_r:string,v_r_r:int,y:bool",
		&schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	/* Small rows by key value, in row order: a bucket per int key (keys
	 * are < nkeys) or per string of strs[]. */
	uint64_t **bucket = calloc(nkeys + 1, sizeof(*bucket));
	uint64_t *blen = calloc(nkeys + 1, sizeof(*blen));
	for (uint64_t j = 0; j < sn; j++) {
		const struct small *y = &sr[j];
		uint64_t key;
		if (on_k ? y->kn : y->sn)
			continue;
		if (on_k) {
			key = (uint64_t)y->k;
		} else {
			for (key = 0; strcmp(strs[key], y->s); key++)
				;
		}
		bucket[key] = realloc(bucket[key], (blen[key] + 1) * sizeof(uint64_t));
		bucket[key][blen[key]++] = j;
	}
	for (uint64_t i = 0; i < bn; i++) {
		const struct big *x = &br[i];
		uint64_t key = 0, nmatch = 0;
		if (on_k ? !x->kn : !x->sn) {
			if (on_k) {
				key = (uint64_t)x->k;
			} else {
				for (key = 0; strcmp(strs[key], x->s); key++)
					;
			}
			nmatch = blen[key];
		}
		for (uint64_t m = 0; m < nmatch || (m == 0 && left); m++) {
			const struct small *y = m < nmatch ? &sr[bucket[key][m]] : NULL;
			tu_ok(x->kn ? eau2_builder_append_null(b, 0, &err)
				    : eau2_builder_append_int(b, 0, x->k, &err), &err);
			tu_ok(x->sn ? eau2_builder_append_null(b, 1, &err)
				    : eau2_builder_append_string(b, 1, x->s,
								 strlen(x->s), &err), &err);
			tu_ok(x->vn ? eau2_builder_append_null(b, 2, &err)
				    : eau2_builder_append_double(b, 2, x->v, &err), &err);
			tu_ok(eau2_builder_append_int(b, 3, x->x, &err), &err);
			if (!y) {
				for (size_t c = 4; c < 8; c++)
					tu_ok(eau2_builder_append_null(b, c, &err), &err);
				continue;
			}
			if (on_k)
				tu_ok(y->sn ? eau2_builder_append_null(b, 4, &err)
					    : eau2_builder_append_string(b, 4, y->s,
									 strlen(y->s), &err),
				      &err);
			else
				tu_ok(y->kn ? eau2_builder_append_null(b, 4, &err)
					    : eau2_builder_append_int(b, 4, y->k, &err),
				      &err);
			tu_ok(y->vn ? eau2_builder_append_null(b, 5, &err)
				    : eau2_builder_append_string(b, 5, y->v,
								 strlen(y->v), &err), &err);
			tu_ok(eau2_builder_append_int(b, 6, y->vr, &err), &err);
			tu_ok(y->yn ? eau2_builder_append_null(b, 7, &err)
				    : eau2_builder_append_bool(b, 7, y->y, &err), &err);
		}
	}
	for (uint64_t k = 0; k <= nkeys; k++)
		free(bucket[k]);
	free(bucket);
	free(blen);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

static void check(eau2 *db, uint64_t bn, uint64_t sn, unsigned keys,
		  uint64_t seed)
{
	struct eau2_error err = {0};
	struct big *br;
	struct small *sr;
	eau2_df *big = make_big(db, bn, seed, keys, &br);
	eau2_df *small = make_small(db, sn, seed + 1000, keys, &sr);

	tu_ok(eau2_put(db, "dim", small, &err), &err);
	for (int mode = 0; mode < 4; mode++) {
		bool on_k = mode < 2, left = mode & 1;
		if (!on_k && sn > 300)
			continue; /* ten distinct strings: the result would explode */
		eau2_df *want = reference(db, br, bn, sr, sn, keys > 10 ? keys : 10,
					  on_k, left);
		const char *kv[] = { "with=dim", on_k ? "on=k:k" : "on=s",
				     left ? "how=left" : "how=inner" };
		struct rt_args ra;
		const struct eau2_args *args = rt_args(&ra, 3, kv);
		static const unsigned threads[] = { 1, 2, 7 };
		for (size_t t = 0; t < 3; t++) {
			eau2_df *got = NULL;
			tu_ok(rt_run(db, big, "join", args, threads[t], &got, &err),
			      &err);
			assert_df_equal(want, got);
			eau2_df_release(got);
		}
		eau2_df_release(want);
	}
	eau2_df_release(big);
	eau2_df_release(small);
	free(br);
	free(sr);
}

static void test_random(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	bool quick = tu_quick();

	(void)unused;
	check(db, 0, 10, 5, 1);
	check(db, 10, 0, 5, 2);
	check(db, 1, 1, 1, 3);
	check(db, 1000, 50, 20, 4);       /* duplicates on the small side */
	check(db, 65537, 300, 400, 5);    /* unmatched keys */
	if (!quick) {
		check(db, 200000, 70000, 100000, 6); /* small side > 1 group */
		check(db, 140000, 20, 10, 7);        /* many matches per row */
	}
	tu_close_store(db, dir);
}

static void expect_fail(eau2 *db, const eau2_df *in, size_t n,
			const char *const *kv, int code, const char *msg)
{
	struct rt_args ra;
	struct eau2_error err = {0};
	eau2_df *got = NULL;
	int rc = rt_run(db, in, "join", rt_args(&ra, n, kv), 2, &got, &err);

	if (rc != code || !strstr(err.msg, msg))
		fail_msg("join %s: rc %d (want %d), msg '%s' (want '%s')",
			 n ? kv[n - 1] : "", rc, code, err.msg, msg);
	assert_null(got);
}

static void test_errors(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct big *br;
	struct small *sr;
	eau2_df *big = make_big(db, 70000, 1, 10, &br);
	eau2_df *small = make_small(db, 10, 2, 10, &sr);

	(void)unused;
	tu_ok(eau2_put(db, "dim", small, &err), &err);
	{
		const char *kv[] = { "with=nokey", "on=k" };
		expect_fail(db, big, 2, kv, -ENOENT, "join: with:");
	}
	{
		const char *kv[] = { "on=k" };
		expect_fail(db, big, 1, kv, -EINVAL, "missing argument with");
	}
	{
		const char *kv[] = { "with=dim" };
		expect_fail(db, big, 1, kv, -EINVAL, "missing argument on");
	}
	{
		const char *kv[] = { "with=dim", "on=kk:k" };
		expect_fail(db, big, 2, kv, -ENOENT, "unknown column 'kk'");
	}
	{
		const char *kv[] = { "with=dim", "on=k:kk" };
		expect_fail(db, big, 2, kv, -ENOENT, "unknown column 'kk' in 'dim'");
	}
	{
		const char *kv[] = { "with=dim", "on=k:s" };
		expect_fail(db, big, 2, kv, -EINVAL, "key types differ");
	}
	{
		const char *kv[] = { "with=dim", "on=k", "how=outer" };
		expect_fail(db, big, 3, kv, -EINVAL, "'outer' is not inner or left");
	}
	eau2_df_release(big);
	eau2_df_release(small);
	free(br);
	free(sr);
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
