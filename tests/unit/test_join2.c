/* SPDX-License-Identifier: MIT */
/*
 * test_join2.c - the probe paths of the join rower (src/rowers/join.c)
 * against a naive nested-loop reference read cell by cell: int keys in a
 * small range (the direct array) with unique keys (the one-load fast path,
 * with and without nulls on the big side) and with duplicates; sparse and
 * extreme int keys (the hash table; a range that overflows int64); bool
 * keys; unique string keys; negative key ranges; a small side in several
 * row groups with nulls in every result column; inner and left; on 1, 2
 * and 7 threads (results must be identical). And the one-to-one joins
 * (every input row matches exactly once) whose result shares the input's
 * chunks instead of copying them, through encode/decode too. A skewed
 * many-to-many group larger than one match batch, and a join whose output
 * explodes, which must stream into the store in bounded memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "rowertest.h"

static const char *const names[] = { "", "n1", "name-2", "x", "\xff\xfe", "nm" };

/* The big side: k (key, of ktype), a:int (the row number). Keys come from
 * keyf(seed value); nulls with probability 1/null_every (0: none). */
typedef int64_t (*key_fn)(uint64_t x);

static void append_key(eau2_builder *b, enum eau2_type kt, int64_t k)
{
	struct eau2_error err = {0};
	char buf[32];

	switch (kt) {
	case EAU2_BOOL:
		tu_ok(eau2_builder_append_bool(b, 0, k & 1, &err), &err);
		break;
	case EAU2_STRING: {
		int len = snprintf(buf, sizeof(buf), "key%lld", (long long)k);
		tu_ok(eau2_builder_append_string(b, 0, buf, (size_t)len, &err), &err);
		break;
	}
	default:
		tu_ok(eau2_builder_append_int(b, 0, k, &err), &err);
		break;
	}
}

static eau2_df *make_big(eau2 *db, enum eau2_type kt, uint64_t rows,
			 key_fn keyf, unsigned null_every, uint64_t seed)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;

	tu_ok(eau2_schema_new(&schema, &err), &err);
	tu_ok(eau2_schema_add(schema, "k", kt, &err), &err);
	tu_ok(eau2_schema_add(schema, "a", EAU2_INT, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (uint64_t i = 0; i < rows; i++) {
		uint64_t x = tu_rand(&seed);
		if (null_every && x % null_every == 0)
			tu_ok(eau2_builder_append_null(b, 0, &err), &err);
		else
			append_key(b, kt, keyf(x >> 8));
		tu_ok(eau2_builder_append_int(b, 1, (int64_t)i, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

/* The small side: sk (key: keys[i], or null where key_null[i]), name
 * (string), w (double), f (bool), n (int), in row groups of `part` rows;
 * every result column has nulls. */
static eau2_df *make_small(eau2 *db, enum eau2_type kt, const int64_t *keys,
			   const bool *key_null, size_t rows, size_t part)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *root, *b = NULL;
	eau2_df *df;

	tu_ok(eau2_schema_new(&schema, &err), &err);
	tu_ok(eau2_schema_add(schema, "sk", kt, &err), &err);
	tu_ok(eau2_schema_add(schema, "name", EAU2_STRING, &err), &err);
	tu_ok(eau2_schema_add(schema, "w", EAU2_DOUBLE, &err), &err);
	tu_ok(eau2_schema_add(schema, "f", EAU2_BOOL, &err), &err);
	tu_ok(eau2_schema_add(schema, "n", EAU2_INT, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &root, &err), &err);
	for (size_t i = 0; i < rows; i++) {
		if (i % part == 0)
			tu_ok(eau2_builder_fork(root, &b, &err), &err);
		if (key_null && key_null[i])
			tu_ok(eau2_builder_append_null(b, 0, &err), &err);
		else
			append_key(b, kt, keys[i]);
		const char *nm = names[i % 6];
		tu_ok(i % 7 == 3 ? eau2_builder_append_null(b, 1, &err)
		      : eau2_builder_append_string(b, 1, nm, strlen(nm), &err), &err);
		tu_ok(i % 5 == 1 ? eau2_builder_append_null(b, 2, &err)
		      : eau2_builder_append_double(b, 2, (double)i / 4, &err), &err);
		tu_ok(i % 3 == 2 ? eau2_builder_append_null(b, 3, &err)
		      : eau2_builder_append_bool(b, 3, i & 1, &err), &err);
		tu_ok(i % 11 == 4 ? eau2_builder_append_null(b, 4, &err)
		      : eau2_builder_append_int(b, 4, (int64_t)i * 3 - 100, &err),
		      &err);
		if (i % part == part - 1 || i == rows - 1)
			tu_ok(eau2_builder_join(root, b, &err), &err);
	}
	tu_ok(eau2_builder_finish(root, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

/* Appends cell (col, row) of df (null allowed) to column out of b. */
static void copy_cell(eau2_builder *b, size_t out, const eau2_df *df,
		      size_t col, uint64_t row)
{
	struct eau2_error err = {0};
	int rc = 0;

	switch (eau2_schema_type(eau2_df_schema(df), col)) {
	case EAU2_BOOL: {
		bool v;
		if ((rc = eau2_df_get_bool(df, col, row, &v, &err)) == 0)
			tu_ok(eau2_builder_append_bool(b, out, v, &err), &err);
		break;
	}
	case EAU2_INT: {
		int64_t v;
		if ((rc = eau2_df_get_int(df, col, row, &v, &err)) == 0)
			tu_ok(eau2_builder_append_int(b, out, v, &err), &err);
		break;
	}
	case EAU2_DOUBLE: {
		double v;
		if ((rc = eau2_df_get_double(df, col, row, &v, &err)) == 0)
			tu_ok(eau2_builder_append_double(b, out, v, &err), &err);
		break;
	}
	default: {
		const char *s;
		size_t len;
		if ((rc = eau2_df_get_string(df, col, row, &s, &len, &err)) == 0)
			tu_ok(eau2_builder_append_string(b, out, s, len, &err), &err);
		break;
	}
	}
	assert_true(rc == 0 || rc == EAU2_NULL);
	if (rc == EAU2_NULL)
		tu_ok(eau2_builder_append_null(b, out, &err), &err);
}

/* Whether the key cells (big, i) and (small, j) are equal and not null. */
static bool same_key(const eau2_df *big, uint64_t i, const eau2_df *small,
		     uint64_t j)
{
	struct eau2_error err = {0};

	switch (eau2_schema_type(eau2_df_schema(big), 0)) {
	case EAU2_BOOL: {
		bool x, y;
		return eau2_df_get_bool(big, 0, i, &x, &err) == 0 &&
		       eau2_df_get_bool(small, 0, j, &y, &err) == 0 && x == y;
	}
	case EAU2_STRING: {
		const char *x, *y;
		size_t lx, ly;
		return eau2_df_get_string(big, 0, i, &x, &lx, &err) == 0 &&
		       eau2_df_get_string(small, 0, j, &y, &ly, &err) == 0 &&
		       lx == ly && !memcmp(x, y, lx);
	}
	default: {
		int64_t x, y;
		return eau2_df_get_int(big, 0, i, &x, &err) == 0 &&
		       eau2_df_get_int(small, 0, j, &y, &err) == 0 && x == y;
	}
	}
}

/* Nested loops: every big row in order, with every small row in order of
 * equal key (left: one row of nulls when none). */
static eau2_df *reference(eau2 *db, const eau2_df *big, const eau2_df *small,
			  bool left)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;
	uint64_t nb = eau2_df_rows(big), ns = eau2_df_rows(small);

	tu_ok(eau2_schema_copy(eau2_df_schema(big), &schema, &err), &err);
	for (size_t c = 1; c < 5; c++)
		tu_ok(eau2_schema_add(schema, eau2_schema_name(eau2_df_schema(small), c),
				      eau2_schema_type(eau2_df_schema(small), c),
				      &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (uint64_t i = 0; i < nb; i++) {
		bool hit = false;
		for (uint64_t j = 0; j < ns; j++) {
			if (!same_key(big, i, small, j))
				continue;
			hit = true;
			copy_cell(b, 0, big, 0, i);
			copy_cell(b, 1, big, 1, i);
			for (size_t c = 1; c < 5; c++)
				copy_cell(b, 1 + c, small, c, j);
		}
		if (!hit && left) {
			copy_cell(b, 0, big, 0, i);
			copy_cell(b, 1, big, 1, i);
			for (size_t c = 1; c < 5; c++)
				tu_ok(eau2_builder_append_null(b, 1 + c, &err), &err);
		}
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

static void check(eau2 *db, const eau2_df *big, const eau2_df *small)
{
	struct eau2_error err = {0};

	tu_ok(eau2_put(db, "small", (eau2_df *)(uintptr_t)small, &err), &err);
	for (int left = 0; left < 2; left++) {
		const char *kv[] = { "with=small", "on=k:sk",
				     left ? "how=left" : "how=inner" };
		struct rt_args ra;
		const struct eau2_args *args = rt_args(&ra, 3, kv);
		eau2_df *want = reference(db, big, small, left);
		static const unsigned threads[] = { 1, 2, 7 };
		for (size_t t = 0; t < 3; t++) {
			eau2_df *got = NULL;
			tu_ok(rt_run(db, big, "join", args, threads[t], &got, &err),
			      &err);
			rt_assert_df_equal(want, got);
			eau2_df_release(got);
		}
		eau2_df_release(want);
	}
}

static uint64_t big_rows(void)
{
	return tu_quick() ? 3000 : EAU2_CHUNK_ROWS + 4000;
}

static int64_t k_dense(uint64_t x) { return (int64_t)(x % 140) - 10; }
static int64_t k_neg(uint64_t x) { return -(int64_t)(x % 90) - 3; }
static int64_t k_bool(uint64_t x) { return (int64_t)(x & 1); }
static int64_t k_extreme(uint64_t x)
{
	static const int64_t v[] = { INT64_MIN, INT64_MAX, 0, -1, 1,
				     INT64_MIN + 1, 1000003 };
	return v[x % 7];
}
static int64_t k_sparse(uint64_t x) { return (int64_t)(x % 60) * 1000003 - 7; }

/* Unique keys 0..119 (shuffled; the big side also has misses -10..-1 and
 * 120..129): the direct array, one load per row when the big key column
 * has no nulls; then with nulls on both sides. */
static void test_dense_unique(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	int64_t keys[120];
	bool knull[120] = { false };
	uint64_t seed = 9;
	(void)unused;

	for (int i = 0; i < 120; i++)
		keys[i] = i;
	for (int i = 119; i > 0; i--) {
		int j = (int)(tu_rand(&seed) % (uint64_t)(i + 1));
		int64_t t = keys[i];
		keys[i] = keys[j];
		keys[j] = t;
	}
	eau2_df *small = make_small(db, EAU2_INT, keys, NULL, 120, 50);
	eau2_df *big = make_big(db, EAU2_INT, big_rows(), k_dense, 0, 1);
	check(db, big, small);
	eau2_df_release(big);
	big = make_big(db, EAU2_INT, big_rows(), k_dense, 9, 2);
	check(db, big, small);
	eau2_df_release(small);
	knull[5] = knull[77] = true;
	small = make_small(db, EAU2_INT, keys, knull, 120, 1000);
	check(db, big, small);
	eau2_df_release(big);
	eau2_df_release(small);
	tu_close_store(db, dir);
}

/* Duplicate keys in a small range (chains), negative keys. */
static void test_dense_duplicates(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	int64_t keys[200];
	uint64_t seed = 10;
	(void)unused;

	for (int i = 0; i < 200; i++)
		keys[i] = -(int64_t)(tu_rand(&seed) % 80) - 5;
	eau2_df *small = make_small(db, EAU2_INT, keys, NULL, 200, 64);
	eau2_df *big = make_big(db, EAU2_INT, big_rows() / 4, k_neg, 0, 3);
	check(db, big, small);
	eau2_df_release(big);
	eau2_df_release(small);
	tu_close_store(db, dir);
}

/* Keys too sparse for the direct array, and a range that overflows
 * int64 (INT64_MIN .. INT64_MAX): the hash table, unique and not. */
static void test_sparse_and_extreme(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	int64_t keys[60];
	static const int64_t ext[] = { INT64_MIN, INT64_MAX, 0, 1000003, -1,
				       INT64_MAX };
	(void)unused;

	for (int i = 0; i < 60; i++)
		keys[i] = (int64_t)((i * 37) % 60) * 1000003 - 7;
	eau2_df *small = make_small(db, EAU2_INT, keys, NULL, 60, 25);
	eau2_df *big = make_big(db, EAU2_INT, big_rows(), k_sparse, 10, 4);
	check(db, big, small);
	eau2_df_release(big);
	eau2_df_release(small);
	small = make_small(db, EAU2_INT, ext, NULL, 6, 4);
	big = make_big(db, EAU2_INT, big_rows() / 4, k_extreme, 0, 5);
	check(db, big, small);
	eau2_df_release(big);
	eau2_df_release(small);
	/* a dense small side probed with extreme keys: (k - min) wraps */
	int64_t d[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	small = make_small(db, EAU2_INT, d, NULL, 10, 10);
	big = make_big(db, EAU2_INT, big_rows() / 4, k_extreme, 0, 6);
	check(db, big, small);
	eau2_df_release(big);
	eau2_df_release(small);
	tu_close_store(db, dir);
}

/* Bool keys, unique then duplicated; unique string keys. */
static void test_bool_and_string(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	int64_t keys[40];
	(void)unused;

	for (int i = 0; i < 40; i++)
		keys[i] = (i * 13) % 40;
	static const int64_t tf[] = { 1, 0 }, tff[] = { 0, 1, 0, 0 };
	eau2_df *small = make_small(db, EAU2_BOOL, tf, NULL, 2, 2);
	eau2_df *big = make_big(db, EAU2_BOOL, big_rows() / 4, k_bool, 5, 7);
	check(db, big, small);
	eau2_df_release(small);
	small = make_small(db, EAU2_BOOL, tff, NULL, 4, 3);
	check(db, big, small);
	eau2_df_release(big);
	eau2_df_release(small);
	small = make_small(db, EAU2_STRING, keys, NULL, 40, 16);
	big = make_big(db, EAU2_STRING, big_rows() / 4, k_dense, 6, 8);
	check(db, big, small);
	eau2_df_release(big);
	eau2_df_release(small);
	tu_close_store(db, dir);
}

static int64_t k_hit(uint64_t x) { return (int64_t)(x % 120); }

/* Every big row matches once (inner join, all keys found; left join,
 * unique keys): the result shares the big side's chunks (zip) and adds
 * about the small side's columns only; the state crosses encode/decode. */
static void test_one_to_one(void **unused)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	int64_t keys[120];
	(void)unused;

	for (int i = 0; i < 120; i++)
		keys[i] = (i * 7) % 120;
	eau2_df *small = make_small(db, EAU2_INT, keys, NULL, 120, 50);
	for (int b = 0; b < 3; b++) {
		/* all keys found; with null keys (left only); with misses */
		eau2_df *big = make_big(db, EAU2_INT, big_rows(),
					b == 2 ? k_dense : k_hit, b == 1 ? 9 : 0,
					20 + (uint64_t)b);
		check(db, big, small);
		for (int left = 0; left < 2; left++) {
			const char *kv[] = { "with=small", "on=k:sk",
					     left ? "how=left" : "how=inner" };
			struct rt_args ra;
			const struct eau2_args *args = rt_args(&ra, 3, kv);
			eau2_df *want = reference(db, big, small, left), *got = NULL;
			uint64_t before = rt_store_bytes(db);
			tu_ok(rt_run(db, big, "join", args, 2, &got, &err), &err);
			uint64_t extra = rt_store_bytes(db) - before;
			/* zipped (every big row kept, once): the store grows
			 * by the small side's columns only (name <= 6 bytes +
			 * offset, w, n, f, bitmaps, chunk headers, page and
			 * segment rounding); a copy adds k and a too, 16 bytes
			 * a row more, past the bound */
			uint64_t rows = eau2_df_rows(big);
			uint64_t bound = rows * 31 + eau2_df_ngroups(big) * 4096 +
					 64 * 4096;
			if ((left || b == 0) && extra > bound)
				fail_msg("big %d left %d: the store grew by %llu "
					 "bytes, bound %llu", b, left,
					 (unsigned long long)extra,
					 (unsigned long long)bound);
			if (left || b == 0)
				assert_int_equal(eau2_df_ngroups(got),
						 eau2_df_ngroups(big));
			tu_ok(eau2_df_verify(got, &err), &err);
			eau2_df_release(got);
			eau2_df_release(want);
			rt_check_roundtrip(db, big, "join", args);
		}
		eau2_df_release(big);
	}
	eau2_df_release(small);
	tu_close_store(db, dir);
}

static int64_t k_skew(uint64_t x) { return x % 3 ? 2 : 1; }
static int64_t k_one(uint64_t x) { (void)x; return 1; }

/* A many-to-many group whose matches exceed one batch (JOIN_BATCH pairs):
 * 400 input rows of key 1 times 200 small rows of key 1 in one row group,
 * the 800 others missing (left rows at the batch edges too). */
static void test_skewed_batches(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	int64_t keys[200];
	(void)unused;

	for (int i = 0; i < 200; i++)
		keys[i] = 1;
	eau2_df *small = make_small(db, EAU2_INT, keys, NULL, 200, 64);
	eau2_df *big = make_big(db, EAU2_INT, tu_quick() ? 600 : 1200, k_skew, 0, 3);
	check(db, big, small);
	eau2_df_release(big);
	eau2_df_release(small);
	tu_close_store(db, dir);
}

/* A join whose output explodes (65536 x 4096 rows of one key: 268M rows)
 * streams into the store in bounded memory: on a 32 MiB store it stops
 * with "store is full", having grown the process by far less than the
 * 2 GB its matches would take held in memory. Runs in a child, on a tmpfs
 * in a private mount namespace (skipped where that is not allowed). */
static int exploding_join(const char *dir)
{
	static int64_t keys[4096];
	struct eau2_error err = {0};
	const char *kv[] = { "with=small", "on=k:sk", "how=inner" };
	struct rt_args ra;
	struct rusage ru0, ru1;
	eau2_df *small, *big, *got = NULL;
	eau2 *db;
	int rc;

	if (eau2_open(&db, TU_STORE(dir), &err))
		return 10;
	for (int i = 0; i < 4096; i++)
		keys[i] = 1;
	small = make_small(db, EAU2_INT, keys, NULL, 4096, 4096);
	big = make_big(db, EAU2_INT, EAU2_CHUNK_ROWS, k_one, 0, 4);
	if (eau2_put(db, "small", small, &err))
		return 11;
	getrusage(RUSAGE_SELF, &ru0);
	rc = rt_run(db, big, "join", rt_args(&ra, 3, kv), 1, &got, &err);
	getrusage(RUSAGE_SELF, &ru1);
	if (rc != -ENOSPC || !strstr(err.msg, "store is full")) {
		fprintf(stderr, "join: %d %s\n", rc, err.msg);
		return 12;
	}
	if (ru1.ru_maxrss - ru0.ru_maxrss > 256 * 1024) {
		fprintf(stderr, "join grew the process by %ld KiB\n",
			ru1.ru_maxrss - ru0.ru_maxrss);
		return 13;
	}
	eau2_df_release(big);
	eau2_df_release(small);
	eau2_close(db);
	return 0;
}

static void test_exploding_join_memory(void **unused)
{
	(void)unused;
	tu_on_tmpfs(tu_tmpdir("join-explode"), "size=32m", exploding_join);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dense_unique),
		cmocka_unit_test(test_dense_duplicates),
		cmocka_unit_test(test_sparse_and_extreme),
		cmocka_unit_test(test_bool_and_string),
		cmocka_unit_test(test_one_to_one),
		cmocka_unit_test(test_skewed_batches),
		cmocka_unit_test(test_exploding_join_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
