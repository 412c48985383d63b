/* SPDX-License-Identifier: MIT */
/*
 * test_groupby_keys.c - the key paths of the groupby rower against a naive
 * reference (sort row indexes by key tuple, nulls last, then count and sum
 * each run), on 1, 2 and 7 threads:
 *  - string keys from a pool built to collide: empty, one NUL byte, "a"
 *    and "a\0" (same word, other length), strings of exactly 8 and 9
 *    bytes, long strings of equal length that differ only in their last
 *    byte, and nulls; one, two and three keys (string, int, bool);
 *  - int keys in direct mode (dense range, nulls, many groups straddling
 *    row groups) and in hash mode (values spread over all of int64);
 *  - a state in direct mode that receives keys outside its range, by
 *    decode and by join (it must leave direct mode and lose nothing);
 *  - int hash states with many groups, whose join is deferred to a
 *    parallel merge in finish (and whose encoding then lists a key once
 *    per state): results equal on 1, 2, 7 threads and after a round trip.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

/* Strings as (bytes, length): some contain NUL bytes. */
struct str {
	const char *p;
	size_t len;
};
static const struct str pool[] = {
	{ "", 0 }, { "\0", 1 }, { "a", 1 }, { "a\0", 2 }, { "ab", 2 },
	{ "abcdefgh", 8 }, { "abcdefgi", 8 }, { "abcdefgh\0", 9 },
	{ "abcdefghi", 9 }, { "abcdefghj", 9 },
	{ "a long key of 25 bytes: A", 25 }, { "a long key of 25 bytes: B", 25 },
	{ "a long key of 25 bytes: AB", 26 }, { "\xff\xfe", 2 }, { "zz", 2 },
};
#define NPOOL (sizeof(pool) / sizeof(pool[0]))

/* Column t: NT generated strings, many per length so that probes cross:
 * "t%05u" (6 bytes), the same with a NUL byte after it (7: equal word,
 * other length), and 20-byte strings that share their first 13 bytes. */
#define NT 3000
static char tbuf[NT][24];
static struct str tstr[NT];

static void make_tpool(void)
{
	for (unsigned i = 0; i < NT; i++) {
		int n = i % 3 == 2 ? snprintf(tbuf[i], sizeof(tbuf[i]), "long-t-%013u", i)
				   : snprintf(tbuf[i], sizeof(tbuf[i]), "t%05u", i / 3);
		tstr[i] = (struct str){ tbuf[i], (size_t)n + (i % 3 == 1) };
	}
}

enum { KI, S, T, KB, V, NC };

struct row {
	bool n[NC];
	int64_t ki, v;
	unsigned s, t; /* pool indexes */
	bool kb;
};

/* ki: dense in [0, groups) - 7 when spread is false, else spread over the
 * whole int64 range (hash mode); nulls in every column (~1/13). */
static eau2_df *make_input(eau2 *db, uint64_t rows, uint64_t seed,
			   uint64_t groups, bool spread, struct row **out)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;
	struct row *r = calloc(rows + 1, sizeof(*r));

	tu_ok(eau2_schema_parse("ki:int,s:string,t:string,kb:bool,v:int",
				&schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (uint64_t k = 0; k < rows; k++) {
		struct row *x = &r[k];
		uint64_t a = tu_rand(&seed), c = tu_rand(&seed);
		for (int j = 0; j < NC; j++)
			x->n[j] = (a >> (8 * j)) % 13 == 0;
		x->ki = (int64_t)(c % groups) - 7;
		if (spread)
			x->ki = (int64_t)((uint64_t)x->ki * 0x9E3779B97F4A7C15ull);
		x->s = (unsigned)((c >> 24) % NPOOL);
		x->t = (unsigned)((c >> 32) % NT);
		x->kb = (c >> 40) & 1;
		x->v = (int64_t)((c >> 44) % 1001) - 500;
		tu_ok(x->n[KI] ? eau2_builder_append_null(b, KI, &err)
			       : eau2_builder_append_int(b, KI, x->ki, &err), &err);
		tu_ok(x->n[S] ? eau2_builder_append_null(b, S, &err)
			      : eau2_builder_append_string(b, S, pool[x->s].p,
							   pool[x->s].len, &err), &err);
		tu_ok(x->n[T] ? eau2_builder_append_null(b, T, &err)
			      : eau2_builder_append_string(b, T, tstr[x->t].p,
							   tstr[x->t].len, &err),
		      &err);
		tu_ok(x->n[KB] ? eau2_builder_append_null(b, KB, &err)
			       : eau2_builder_append_bool(b, KB, x->kb, &err), &err);
		tu_ok(x->n[V] ? eau2_builder_append_null(b, V, &err)
			      : eau2_builder_append_int(b, V, x->v, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	*out = r;
	return df;
}

/* ------------------------------------------------------------ reference */

static const int *cur_keys;
static int cur_nkeys;
static const struct row *cur_rows;

static int cmp_str(const struct str *a, const struct str *b)
{
	int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);
	return c ? c : a->len < b->len ? -1 : a->len > b->len;
}

static int cmp_rows(const void *x, const void *y)
{
	const struct row *a = &cur_rows[*(const uint64_t *)x];
	const struct row *b = &cur_rows[*(const uint64_t *)y];

	for (int k = 0; k < cur_nkeys; k++) {
		int c = cur_keys[k];
		if (a->n[c] != b->n[c])
			return a->n[c] ? 1 : -1;
		if (a->n[c])
			continue;
		int d = c == KI ? (a->ki > b->ki) - (a->ki < b->ki) :
			c == KB ? (int)a->kb - (int)b->kb :
			c == S ? cmp_str(&pool[a->s], &pool[b->s]) :
			cmp_str(&tstr[a->t], &tstr[b->t]);
		if (d)
			return d;
	}
	return 0;
}

/* Checks got (columns: keys, count, sum_v) against the rows. */
static void check(const eau2_df *got, const struct row *r, uint64_t rows,
		  const int *keys, int nkeys)
{
	struct eau2_error err = {0};
	uint64_t *idx = malloc((rows + 1) * sizeof(*idx)), out = 0;

	for (uint64_t k = 0; k < rows; k++)
		idx[k] = k;
	cur_keys = keys;
	cur_nkeys = nkeys;
	cur_rows = r;
	qsort(idx, rows, sizeof(*idx), cmp_rows);
	for (uint64_t s = 0, e; s < rows; s = e, out++) {
		int64_t sum = 0, nn = 0, x;
		for (e = s + 1; e < rows && cmp_rows(&idx[s], &idx[e]) == 0; e++)
			;
		for (uint64_t j = s; j < e; j++)
			if (!r[idx[j]].n[V]) {
				sum += r[idx[j]].v;
				nn++;
			}
		assert_true(out < eau2_df_rows(got));
		const struct row *w = &r[idx[s]];
		for (int k = 0; k < nkeys; k++) {
			int c = keys[k], rc;
			if (c == KI || c == KB) {
				bool bv = false;
				x = 0;
				rc = c == KI ? eau2_df_get_int(got, (size_t)k, out, &x, &err)
					     : eau2_df_get_bool(got, (size_t)k, out, &bv, &err);
				assert_int_equal(rc, w->n[c] ? EAU2_NULL : 0);
				if (!w->n[c] && (c == KI ? x != w->ki : bv != w->kb))
					fail_msg("group %llu key %d differs",
						 (unsigned long long)out, k);
			} else {
				const char *p = NULL;
				size_t len = 0;
				const struct str *want = c == S ? &pool[w->s] : &tstr[w->t];
				rc = eau2_df_get_string(got, (size_t)k, out, &p, &len, &err);
				assert_int_equal(rc, w->n[c] ? EAU2_NULL : 0);
				if (!w->n[c]) {
					assert_int_equal(len, want->len);
					assert_memory_equal(p, want->p, len);
				}
			}
		}
		tu_ok(eau2_df_get_int(got, (size_t)nkeys, out, &x, &err), &err);
		assert_int_equal(x, (int64_t)(e - s));
		int rc = eau2_df_get_int(got, (size_t)nkeys + 1, out, &x, &err);
		assert_int_equal(rc, nn ? 0 : EAU2_NULL);
		if (nn)
			assert_int_equal(x, sum);
	}
	assert_int_equal(out, eau2_df_rows(got));
	free(idx);
}

struct query {
	const char *by;
	int nkeys;
	int keys[3];
};

static const struct query queries[] = {
	{ "s", 1, { S } },
	{ "s,t", 2, { S, T } },
	{ "t,ki,s", 3, { T, KI, S } },
	{ "kb,s", 2, { KB, S } },
	{ "ki", 1, { KI } },
	{ "ki,kb", 2, { KI, KB } },
};

static void run_all(eau2 *db, const eau2_df *in, const struct row *r,
		    uint64_t rows, size_t nq)
{
	for (size_t q = 0; q < nq; q++) {
		char a0[64];
		snprintf(a0, sizeof(a0), "by=%s", queries[q].by);
		const char *kv[] = { a0, "agg=count,sum:v" };
		struct rt_args ra;
		static const unsigned threads[] = { 1, 2, 7 };
		eau2_df *first = NULL;
		for (size_t t = 0; t < 3; t++) {
			struct eau2_error err = {0};
			eau2_df *got = NULL;
			tu_ok(rt_run(db, in, "groupby", rt_args(&ra, 2, kv), threads[t],
				     &got, &err), &err);
			check(got, r, rows, queries[q].keys, queries[q].nkeys);
			if (first)
				rt_assert_df_equal(first, got);
			else
				first = eau2_df_retain(got);
			eau2_df_release(got);
		}
		eau2_df_release(first);
	}
}

static void test_string_keys(void **unused)
{
	static const uint64_t sizes[] = { 0, 1, 999, 65537, 200000 };
	size_t n = tu_quick() ? 4 : 5;
	char *dir;
	eau2 *db = tu_open_store(&dir);

	(void)unused;
	make_tpool();
	for (size_t z = 0; z < n; z++) {
		struct row *r;
		eau2_df *in = make_input(db, sizes[z], 3 + z, 50, false, &r);
		run_all(db, in, r, sizes[z], 4);
		eau2_df_release(in);
		free(r);
	}
	tu_close_store(db, dir);
}

static void test_int_keys(void **unused)
{
	/* (rows, groups, spread): direct with few and with many groups
	 * (straddling row groups), then hash mode. */
	static const struct { uint64_t rows, groups; bool spread; } cases[] = {
		{ 1000, 10, false }, { 140000, 100000, false },
		{ 140000, 30000, true }, { 70000, 3, true },
		{ 300000, 200000, true },
	};
	char *dir;
	eau2 *db = tu_open_store(&dir);

	(void)unused;
	make_tpool();
	for (size_t z = 0; z < sizeof(cases) / sizeof(cases[0]); z++) {
		struct row *r;
		uint64_t rows = tu_quick() ? cases[z].rows / 2 : cases[z].rows;
		eau2_df *in = make_input(db, rows, 20 + z, cases[z].groups,
					 cases[z].spread, &r);
		run_all(db, in, r, rows, sizeof(queries) / sizeof(queries[0]));
		eau2_df_release(in);
		free(r);
	}
	tu_close_store(db, dir);
}

/* A (k:int, v:int) frame of rows k = base + i % 10 (null when i % 17 is
 * 5), v = i. */
static eau2_df *kv_frame(eau2 *db, int64_t base, int rows)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;

	tu_ok(eau2_schema_parse("k:int,v:int", &schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (int i = 0; i < rows; i++) {
		int64_t k = base + i % 10;
		tu_ok(i % 17 == 5 ? eau2_builder_append_null(b, 0, &err)
				  : eau2_builder_append_int(b, 0, k, &err), &err);
		tu_ok(eau2_builder_append_int(b, 1, i, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

/* State over b (direct mode over b's range) fed a's groups by decode or
 * by join: the result equals groupby over both inputs at once. */
static void test_demote(void **unused)
{
	const struct eau2_rower_class *cls = eau2_rower_find("groupby");
	const char *kv[] = { "by=k", "agg=count,sum:v,min:v" };
	struct eau2_error err = {0};
	struct rt_args ra;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	/* a: keys 0..9; b: keys 1000..1009; both: rows of a and of b */
	eau2_df *a = kv_frame(db, 0, 1000), *b = kv_frame(db, 1000, 1000);
	eau2_df *both = NULL, *want = NULL, *got = NULL;

	(void)unused;
	assert_non_null(cls);
	{
		/* a and b concatenated, the reference input */
		eau2_schema *schema;
		eau2_builder *bl;
		tu_ok(eau2_schema_parse("k:int,v:int", &schema, &err), &err);
		tu_ok(eau2_builder_new(db, schema, &bl, &err), &err);
		const eau2_df *parts[] = { a, b };
		for (int p = 0; p < 2; p++)
			for (uint64_t i = 0; i < eau2_df_rows(parts[p]); i++) {
				int64_t k = 0, v = 0;
				int rc = eau2_df_get_int(parts[p], 0, i, &k, &err);
				tu_ok(rc == EAU2_NULL ? eau2_builder_append_null(bl, 0, &err)
						      : eau2_builder_append_int(bl, 0, k,
										&err), &err);
				tu_ok(eau2_df_get_int(parts[p], 1, i, &v, &err), &err);
				tu_ok(eau2_builder_append_int(bl, 1, v, &err), &err);
			}
		tu_ok(eau2_builder_finish(bl, &both, &err), &err);
		eau2_schema_free(schema);
	}
	tu_ok(rt_run(db, both, "groupby", rt_args(&ra, 2, kv), 1, &want, &err),
	      &err);
	assert_int_equal(eau2_df_rows(want), 21);

	struct eau2_run_ctx ca = { .db = db, .input = a,
				   .args = rt_args(&ra, 2, kv), .threads = 1 };
	struct eau2_run_ctx cb = ca;
	cb.input = b;
	for (int how = 0; how < 2; how++) {
		void *sa = rt_state_over(cls, &ca, 0, eau2_df_ngroups(a));
		void *sb = rt_state_over(cls, &cb, 0, eau2_df_ngroups(b));
		if (how == 0) {
			void *buf = NULL;
			size_t len = 0;
			tu_ok(cls->encode(sa, &buf, &len, &err), &err);
			tu_ok(cls->decode(sb, buf, len, &err), &err);
			free(buf);
		} else {
			tu_ok(cls->join(sb, sa, &err), &err);
		}
		tu_ok(cls->finish(sb, &cb, &got, &err), &err);
		rt_assert_df_equal(want, got);
		eau2_df_release(got);
		rt_state_free(cls, sa);
		rt_state_free(cls, sb);
	}
	eau2_df_release(want);
	eau2_df_release(both);
	eau2_df_release(a);
	eau2_df_release(b);
	tu_close_store(db, dir);
}

/* join(a, b) of two int hash states with many groups defers the merge;
 * the joined state encodes, decodes and finishes to eau2_run's result. */
static void test_lazy_join(void **unused)
{
	const struct eau2_rower_class *cls = eau2_rower_find("groupby");
	const char *kv[] = { "by=ki", "agg=count,sum:v,mean:v,max:v" };
	struct eau2_error err = {0};
	struct rt_args ra;
	struct row *r;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *in = make_input(db, 300000, 99, 150000, true, &r), *want;

	(void)unused;
	tu_ok(rt_run(db, in, "groupby", rt_args(&ra, 2, kv), 1, &want, &err),
	      &err);
	struct eau2_run_ctx ctx = { .db = db, .input = in,
				    .args = rt_args(&ra, 2, kv), .threads = 2 };
	rt_check_joined(cls, &ctx, want);
	eau2_df_release(want);
	eau2_df_release(in);
	free(r);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string_keys),
		cmocka_unit_test(test_int_keys),
		cmocka_unit_test(test_demote),
		cmocka_unit_test(test_lazy_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
