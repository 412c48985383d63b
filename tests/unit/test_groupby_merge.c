/* SPDX-License-Identifier: MIT */
/*
 * test_groupby_merge.c - the groupby rower's parallel merge: with many
 * groups, joined states (int hash and dictionary alike) are merged by
 * finish in key ranges on the run's threads. Results on 1, 2, 3 and 7
 * threads must be identical cell for cell, and equal to a reference
 * counted while the input was made, for:
 *  - one string key of 8 bytes, one of 40 bytes (equal 16-byte
 *    prefixes: comparisons must look at the values), nulls in both;
 *  - two keys (string, int) and one int key spread over int64;
 *  - 100 groups (joined at once) and 10^6 groups (2 * 10^5 quick);
 * and a joined dictionary state that is encoded, decoded and finished.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

/* Group g: s = "g%07u" (8 bytes), l = the long form (40 bytes), ki = g
 * spread over int64; a row's key is null when i % 97 == 3. v is an int,
 * d = v / 4 (sums of quarters are exact: means equal bitwise). */
#define LONG_FMT "a long key whose first 16 bytes agree%03u"

struct ref {
	uint64_t groups;
	int64_t *count, *sum;    /* by group, then [groups]: the null key */
};

static eau2_df *make_input(eau2 *db, uint64_t rows, uint64_t groups,
			   struct ref *ref)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;
	uint64_t seed = groups;
	char s[16], l[64];

	ref->groups = groups;
	ref->count = calloc(groups + 1, sizeof(*ref->count));
	ref->sum = calloc(groups + 1, sizeof(*ref->sum));
	assert_non_null(ref->count);
	assert_non_null(ref->sum);
	tu_ok(eau2_schema_parse("s:string,l:string,ki:int,v:int,d:double",
				&schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (uint64_t i = 0; i < rows; i++) {
		uint64_t x = tu_rand(&seed);
		uint32_t g = (uint32_t)(x % groups);
		int64_t v = (int64_t)((x >> 40) % 1001) - 500;
		bool null = i % 97 == 3;
		int ns = snprintf(s, sizeof(s), "g%07u", g);
		int nl = snprintf(l, sizeof(l), LONG_FMT "%07u", g % 1000, g);
		if (null) {
			tu_ok(eau2_builder_append_null(b, 0, &err), &err);
			tu_ok(eau2_builder_append_null(b, 1, &err), &err);
			tu_ok(eau2_builder_append_null(b, 2, &err), &err);
		} else {
			tu_ok(eau2_builder_append_string(b, 0, s, (size_t)ns, &err), &err);
			tu_ok(eau2_builder_append_string(b, 1, l, (size_t)nl, &err), &err);
			tu_ok(eau2_builder_append_int(b, 2, (int64_t)((uint64_t)g *
						      0x9E3779B97F4A7C15ull), &err), &err);
		}
		tu_ok(eau2_builder_append_int(b, 3, v, &err), &err);
		tu_ok(eau2_builder_append_double(b, 4, (double)v / 4, &err), &err);
		ref->count[null ? groups : g]++;
		ref->sum[null ? groups : g] += v;
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

/* got: key column(s), count, sum_v, mean_d: as many groups and rows as
 * the reference. A string key (each checks) is checked group by group:
 * in key order the groups are in g order, except for the long keys,
 * ordered by g % 1000, then g. */
static void check(const eau2_df *got, const struct ref *ref, bool lng,
		  size_t nkeys, bool each)
{
	struct eau2_error err = {0};
	uint64_t n = 0, rows = 0, out = 0;

	for (uint64_t g = 0; g <= ref->groups; g++) {
		n += ref->count[g] != 0;
		rows += (uint64_t)ref->count[g];
	}
	assert_int_equal(eau2_df_rows(got), n);
	for (uint64_t r = 0; r < n; r++) {
		int64_t c = 0;
		tu_ok(eau2_df_get_int(got, nkeys, r, &c, &err), &err);
		rows -= (uint64_t)c;
	}
	assert_int_equal(rows, 0);
	if (!each)
		return;
	for (uint64_t q = 0; q <= ref->groups; q++) {
		/* the q-th group in key order */
		uint64_t g = q;
		if (lng && q < ref->groups) {
			uint64_t per = ref->groups / 1000, rem = ref->groups % 1000;
			uint64_t k = 0, left = q;
			if (ref->groups < 1000) {
				k = q;
				left = 0;
			} else {
				for (;; k++) {
					uint64_t m = per + (k < rem);
					if (left < m)
						break;
					left -= m;
				}
			}
			g = k + 1000 * left;
		}
		if (!ref->count[g])
			continue;
		const char *p = NULL;
		size_t len = 0;
		int64_t c = 0, sum = 0;
		double mean = 0;
		int rc = eau2_df_get_string(got, 0, out, &p, &len, &err);
		if (g == ref->groups) {
			assert_int_equal(rc, EAU2_NULL);
		} else {
			char want[64];
			int nw = lng ? snprintf(want, sizeof(want), LONG_FMT "%07u",
						(unsigned)(g % 1000), (unsigned)g)
				     : snprintf(want, sizeof(want), "g%07u", (unsigned)g);
			assert_int_equal(rc, 0);
			assert_int_equal(len, (size_t)nw);
			assert_memory_equal(p, want, len);
		}
		tu_ok(eau2_df_get_int(got, 1, out, &c, &err), &err);
		tu_ok(eau2_df_get_int(got, 2, out, &sum, &err), &err);
		tu_ok(eau2_df_get_double(got, 3, out, &mean, &err), &err);
		assert_int_equal(c, ref->count[g]);
		assert_int_equal(sum, ref->sum[g]);
		assert_true(mean == (double)ref->sum[g] / 4 / (double)c);
		out++;
	}
	assert_int_equal(out, n);
}

static void run_case(uint64_t rows, uint64_t groups)
{
	static const struct {
		const char *by;
		size_t nkeys;
		bool lng, each;
	} q[] = {
		{ "by=s", 1, false, true }, { "by=l", 1, true, true },
		{ "by=l,ki", 2, true, false }, { "by=ki", 1, false, false },
	};
	static const unsigned threads[] = { 1, 2, 3, 7 };
	struct ref ref;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *in = make_input(db, rows, groups, &ref);

	for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
		const char *kv[] = { q[k].by, "agg=count,sum:v,mean:d" };
		eau2_df *first = NULL;
		struct rt_args ra;
		for (size_t t = 0; t < 4; t++) {
			struct eau2_error err = {0};
			eau2_df *got = NULL;
			tu_ok(rt_run(db, in, "groupby", rt_args(&ra, 2, kv), threads[t],
				     &got, &err), &err);
			if (first) {
				rt_assert_df_equal(first, got);
			} else {
				check(got, &ref, q[k].lng, q[k].nkeys, q[k].each);
				first = eau2_df_retain(got);
			}
			eau2_df_release(got);
		}
		eau2_df_release(first);
	}
	eau2_df_release(in);
	free(ref.count);
	free(ref.sum);
	tu_close_store(db, dir);
}

static void test_few_groups(void **unused)
{
	(void)unused;
	run_case(20000, 100);
}

static void test_many_groups(void **unused)
{
	(void)unused;
	if (tu_quick())
		run_case(400000, 200000);
	else
		run_case(1500000, 1000000);
}

/* Two dictionary states with many groups: join defers the merge; the
 * joined state encodes (a key once per state), decodes and finishes to
 * eau2_run's result. */
static void test_lazy_dict_join(void **unused)
{
	const struct eau2_rower_class *cls = eau2_rower_find("groupby");
	const char *kv[] = { "by=l", "agg=count,sum:v,mean:d" };
	struct eau2_error err = {0};
	struct rt_args ra;
	struct ref ref;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *in = make_input(db, 300000, 150000, &ref), *want;

	(void)unused;
	tu_ok(rt_run(db, in, "groupby", rt_args(&ra, 2, kv), 1, &want, &err),
	      &err);
	check(want, &ref, true, 1, true);
	struct eau2_run_ctx ctx = { .db = db, .input = in,
				    .args = rt_args(&ra, 2, kv), .threads = 3 };
	rt_check_joined(cls, &ctx, want);
	eau2_df_release(want);
	eau2_df_release(in);
	free(ref.count);
	free(ref.sum);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_few_groups),
		cmocka_unit_test(test_many_groups),
		cmocka_unit_test(test_lazy_dict_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
