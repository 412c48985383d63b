/* SPDX-License-Identifier: MIT */
/*
 * test_df.c - builders, dataframes and chunk views: round trips of every
 * type with nulls, empty and long strings, zero-row, one-row and exact
 * chunk-boundary sizes, parts joined in order, the fromArray / fromScalar
 * / fromVisitor helpers, and the errors of the typed getters.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df.h"
#include "testutil.h"

/* A reference copy of what was appended, to compare reads against. */
struct ref_col {
	enum eau2_type type;
	uint8_t *null;
	int64_t *i;
	double *d;
	char **s;
	size_t *len;
};

struct ref {
	size_t ncols;
	uint64_t rows;
	struct ref_col *cols;
};

static const enum eau2_type all_types[] = { EAU2_BOOL, EAU2_INT, EAU2_DOUBLE, EAU2_STRING };

static eau2_schema *make_schema(void)
{
	struct eau2_error err = {0};
	eau2_schema *s;

	tu_ok(eau2_schema_parse("b:bool,i:int,d:double,s:string", &s, &err), &err);
	return s;
}

/* Fills a random value (or null) for col at row r into ref and builder. */
static void gen_value(struct ref *ref, size_t c, uint64_t r, uint64_t *seed,
		      eau2_builder *b, int null_pct)
{
	struct eau2_error err = {0};
	struct ref_col *rc = &ref->cols[c];
	uint64_t x = tu_rand(seed);

	rc->null[r] = (int)(x % 100) < null_pct;
	if (rc->null[r]) {
		tu_ok(eau2_builder_append_null(b, c, &err), &err);
		return;
	}
	switch (rc->type) {
	case EAU2_BOOL:
		rc->i[r] = (x >> 8) & 1;
		tu_ok(eau2_builder_append_bool(b, c, rc->i[r], &err), &err);
		break;
	case EAU2_INT:
		rc->i[r] = (int64_t)(x >> 1) * ((x & 1) ? -1 : 1);
		tu_ok(eau2_builder_append_int(b, c, rc->i[r], &err), &err);
		break;
	case EAU2_DOUBLE:
		rc->d[r] = (double)(int64_t)x / 1e7;
		tu_ok(eau2_builder_append_double(b, c, rc->d[r], &err), &err);
		break;
	case EAU2_STRING: {
		/* Mostly short, some empty, a few long (> a page). */
		size_t len = (x >> 8) % 7 == 0 ? 0 : (x >> 8) % 97 == 1 ? 5000 : (x >> 16) % 24;
		size_t k;

		rc->s[r] = malloc(len + 1);
		for (k = 0; k < len; k++)
			rc->s[r][k] = (char)('a' + (tu_rand(seed) % 26));
		rc->s[r][len] = 0;
		rc->len[r] = len;
		tu_ok(eau2_builder_append_string(b, c, rc->s[r], len, &err), &err);
		break;
	}
	}
}

static void ref_init(struct ref *ref, uint64_t rows)
{
	size_t c;

	ref->ncols = 4;
	ref->rows = rows;
	ref->cols = calloc(4, sizeof(*ref->cols));
	for (c = 0; c < 4; c++) {
		ref->cols[c].type = all_types[c];
		ref->cols[c].null = calloc(rows + 1, 1);
		ref->cols[c].i = calloc(rows + 1, sizeof(int64_t));
		ref->cols[c].d = calloc(rows + 1, sizeof(double));
		ref->cols[c].s = calloc(rows + 1, sizeof(char *));
		ref->cols[c].len = calloc(rows + 1, sizeof(size_t));
	}
}

static void ref_free(struct ref *ref)
{
	size_t c;
	uint64_t r;

	for (c = 0; c < ref->ncols; c++) {
		for (r = 0; r < ref->rows; r++)
			free(ref->cols[c].s[r]);
		free(ref->cols[c].null);
		free(ref->cols[c].i);
		free(ref->cols[c].d);
		free(ref->cols[c].s);
		free(ref->cols[c].len);
	}
	free(ref->cols);
}

/* Every value through the typed getters and through chunk views. */
static void check_df(const eau2_df *df, const struct ref *ref)
{
	struct eau2_error err = {0};
	uint64_t r, seen = 0;
	size_t c, g;

	assert_int_equal(eau2_df_rows(df), ref->rows);
	assert_int_equal(eau2_df_ncols(df), ref->ncols);
	for (c = 0; c < ref->ncols; c++) {
		const struct ref_col *rc = &ref->cols[c];

		for (r = 0; r < ref->rows; r++) {
			int64_t i;
			double d;
			bool b;
			const char *s;
			size_t len;
			int rv = 0;

			switch (rc->type) {
			case EAU2_BOOL:
				rv = eau2_df_get_bool(df, c, r, &b, &err);
				if (rv == 0)
					assert_int_equal(b, rc->i[r]);
				break;
			case EAU2_INT:
				rv = eau2_df_get_int(df, c, r, &i, &err);
				if (rv == 0)
					assert_true(i == rc->i[r]);
				break;
			case EAU2_DOUBLE:
				rv = eau2_df_get_double(df, c, r, &d, &err);
				if (rv == 0)
					assert_true(d == rc->d[r]);
				break;
			case EAU2_STRING:
				rv = eau2_df_get_string(df, c, r, &s, &len, &err);
				if (rv == 0) {
					assert_int_equal(len, rc->len[r]);
					assert_memory_equal(s, rc->s[r], len);
				}
				break;
			}
			assert_int_equal(rv, rc->null[r] ? EAU2_NULL : 0);
		}
	}
	/* Views: rows add up, nulls counted, first_row consistent. */
	for (g = 0; g < eau2_df_ngroups(df); g++) {
		struct eau2_chunk_view v;
		uint32_t k, nulls = 0;

		tu_ok(eau2_df_chunk(df, 1, g, &v, &err), &err);
		assert_int_equal(v.first_row, seen);
		assert_true(v.rows <= EAU2_CHUNK_ROWS && v.rows > 0);
		for (k = 0; k < v.rows; k++) {
			nulls += !eau2_view_valid(&v, k);
			assert_int_equal(!eau2_view_valid(&v, k), ref->cols[1].null[seen + k]);
			if (eau2_view_valid(&v, k))
				assert_true(v.values.i64[k] == ref->cols[1].i[seen + k]);
		}
		assert_int_equal(nulls, v.null_count);
		assert_int_equal((uintptr_t)v.values.i64 % 64, 0);
		if (v.rows > v.null_count) {
			assert_true(v.has_minmax);
		}
		seen += v.rows;
	}
	assert_int_equal(seen, ref->rows);
	tu_ok(eau2_df_verify(df, &err), &err);
}

static void round_trip(uint64_t rows, int null_pct, uint64_t seed)
{
	struct eau2_error err = {0};
	eau2_schema *s = make_schema();
	eau2_builder *b;
	eau2_df *df, *got;
	struct ref ref;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t r;
	size_t c;

	ref_init(&ref, rows);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (r = 0; r < rows; r++)
		for (c = 0; c < 4; c++)
			gen_value(&ref, c, r, &seed, b, null_pct);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	check_df(df, &ref);
	tu_ok(eau2_put(db, "t", df, &err), &err);
	eau2_df_release(df);
	tu_ok(eau2_get(db, "t", &got, &err), &err);
	check_df(got, &ref);
	eau2_df_release(got);
	ref_free(&ref);
	eau2_schema_free(s);
	tu_close_store(db, dir);
}

static void test_round_trips(void **state)
{
	static const uint64_t sizes[] = {
		0, 1, 2, 7, 8, 9, 1000, EAU2_CHUNK_ROWS - 1, EAU2_CHUNK_ROWS,
		EAU2_CHUNK_ROWS + 1, 2 * EAU2_CHUNK_ROWS, 3 * EAU2_CHUNK_ROWS + 17,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		round_trip(sizes[i], 0, 1 + i);
		round_trip(sizes[i], 10, 100 + i);
		if (sizes[i] < 10000)
			round_trip(sizes[i], 100, 200 + i);
	}
}

/* Column-at-a-time appends give the same row groups as row-at-a-time. */
static void test_column_at_a_time(void **state)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t n = 2 * EAU2_CHUNK_ROWS + 5, r;
	int64_t v;
	double d;

	(void)state;
	tu_ok(eau2_schema_parse("a:int,b:double", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (r = 0; r < n; r++)
		tu_ok(eau2_builder_append_int(b, 0, (int64_t)r, &err), &err);
	for (r = 0; r < n; r++) /* ints convert into a double column */
		tu_ok(eau2_builder_append_int(b, 1, (int64_t)r * 2, &err), &err);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	assert_int_equal(eau2_df_ngroups(df), 3);
	for (r = 0; r < n; r += 777) {
		tu_ok(eau2_df_get_int(df, 0, r, &v, &err), &err);
		assert_int_equal(v, r);
		tu_ok(eau2_df_get_double(df, 1, r, &d, &err), &err);
		assert_true(d == (double)r * 2);
		tu_ok(eau2_df_get_double(df, 0, r, &d, &err), &err); /* int as double */
		assert_true(d == (double)r);
	}
	eau2_df_release(df);
	eau2_schema_free(s);
	tu_close_store(db, dir);
}

/* Parts filled "in parallel" and joined in order keep row order. */
static void test_fork_join(void **state)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *b, *parts[3];
	eau2_df *df;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	static const uint64_t counts[3] = { 5, EAU2_CHUNK_ROWS + 3, 0 };
	uint64_t r, next = 0, base;
	int p;
	int64_t v;

	(void)state;
	tu_ok(eau2_schema_parse("a:int,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (r = 0; r < 10; r++) {
		tu_ok(eau2_builder_append_int(b, 0, (int64_t)next++, &err), &err);
		tu_ok(eau2_builder_append_string(b, 1, "x", 1, &err), &err);
	}
	for (p = 0; p < 3; p++)
		tu_ok(eau2_builder_fork(b, &parts[p], &err), &err);
	/* Fill in reverse order: only join order matters. */
	for (p = 2; p >= 0; p--) {
		base = 10;
		for (int q = 0; q < p; q++)
			base += counts[q];
		for (r = 0; r < counts[p]; r++) {
			tu_ok(eau2_builder_append_int(parts[p], 0, (int64_t)(base + r), &err), &err);
			tu_ok(eau2_builder_append_string(parts[p], 1, "y", 1, &err), &err);
		}
	}
	for (p = 0; p < 3; p++)
		tu_ok(eau2_builder_join(b, parts[p], &err), &err);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	assert_int_equal(eau2_df_rows(df), 10 + counts[0] + counts[1]);
	for (r = 0; r < eau2_df_rows(df); r++) {
		tu_ok(eau2_df_get_int(df, 0, r, &v, &err), &err);
		assert_int_equal(v, r);
	}
	eau2_df_release(df);
	eau2_schema_free(s);
	tu_close_store(db, dir);
}

static int fill_squares(void *ctx, eau2_builder *b, struct eau2_error *err)
{
	int64_t *i = ctx;
	int rc;

	if (*i == 1000)
		return 0;
	rc = eau2_builder_append_int(b, 0, *i * *i, err);
	if (!rc)
		rc = eau2_builder_append_bool(b, 1, *i % 2, err);
	(*i)++;
	return rc ? rc : 1;
}

static int fill_fails(void *ctx, eau2_builder *b, struct eau2_error *err)
{
	(void)ctx;
	(void)b;
	return eau2_error_set(err, -EIO, "visitor gave up");
}

static void test_helpers(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df;
	eau2_schema *s;
	const double dv[] = { 1.5, -2.25, 1e300 };
	const char *sv[] = { "a", NULL, "" };
	int64_t i = 0, v;
	double d;
	const char *str;
	size_t len;
	bool b;
	char **keys;

	(void)state;
	tu_ok(eau2_df_from_array(db, "x", EAU2_DOUBLE, dv, 3, &df, &err), &err);
	assert_int_equal(eau2_df_rows(df), 3);
	tu_ok(eau2_df_get_double(df, 0, 2, &d, &err), &err);
	assert_true(d == 1e300);
	eau2_df_release(df);

	tu_ok(eau2_df_from_array(db, "s", EAU2_STRING, sv, 3, &df, &err), &err);
	assert_int_equal(eau2_df_get_string(df, 0, 1, &str, &len, &err), EAU2_NULL);
	tu_ok(eau2_df_get_string(df, 0, 2, &str, &len, &err), &err);
	assert_int_equal(len, 0);
	eau2_df_release(df);

	v = 42;
	tu_ok(eau2_df_from_scalar(db, "answer", EAU2_INT, &v, &df, &err), &err);
	assert_int_equal(eau2_df_rows(df), 1);
	tu_ok(eau2_df_get_int(df, 0, 0, &v, &err), &err);
	assert_int_equal(v, 42);
	eau2_df_release(df);

	tu_ok(eau2_schema_parse("sq:int,odd:bool", &s, &err), &err);
	tu_ok(eau2_df_from_visitor(db, s, fill_squares, &i, &df, &err), &err);
	assert_int_equal(eau2_df_rows(df), 1000);
	tu_ok(eau2_df_get_int(df, 0, 999, &v, &err), &err);
	assert_int_equal(v, 999 * 999);
	tu_ok(eau2_df_get_bool(df, 1, 999, &b, &err), &err);
	assert_true(b);
	eau2_df_release(df);

	/* A failing visitor leaves nothing behind. */
	assert_int_equal(eau2_df_from_visitor(db, s, fill_fails, NULL, &df, &err), -EIO);
	assert_null(df);
	assert_non_null(strstr(err.msg, "visitor gave up"));
	eau2_schema_free(s);
	tu_ok(eau2_list(db, &keys, NULL, &err), &err);
	assert_null(keys[0]);
	eau2_list_free(keys);
	tu_close_store(db, dir);
}

static void test_errors(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	int64_t v = 1;
	bool bv;
	struct eau2_chunk_view view;

	(void)state;
	/* Schemas. */
	assert_int_equal(eau2_schema_parse("a:int,a:bool", &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "duplicate column name 'a'"));
	assert_int_equal(eau2_schema_parse("a:int,:bool", &s, &err), -EINVAL);
	assert_int_equal(eau2_schema_parse("a:integer", &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown type 'integer'"));
	assert_int_equal(eau2_schema_parse("a", &s, &err), -EINVAL);

	/* Builders: bad column, type mismatch, unequal columns. */
	tu_ok(eau2_schema_parse("a:int,b:bool", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	assert_int_equal(eau2_builder_append_int(b, 5, 1, &err), -ERANGE);
	assert_int_equal(eau2_builder_append_string(b, 0, "x", 1, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "column 'a' is int, cannot append string"));
	assert_int_equal(eau2_builder_append_double(b, 0, 1.0, &err), -EINVAL);
	tu_ok(eau2_builder_append_int(b, 0, 1, &err), &err);
	assert_int_equal(eau2_builder_finish(b, &df, &err), -EINVAL);
	assert_null(df);
	assert_non_null(strstr(err.msg, "has 1 values"));

	/* Getters: out of range, wrong type. */
	tu_ok(eau2_df_from_scalar(db, "a", EAU2_INT, &v, &df, &err), &err);
	assert_int_equal(eau2_df_get_int(df, 0, 1, &v, &err), -ERANGE);
	assert_int_equal(eau2_df_get_int(df, 1, 0, &v, &err), -ERANGE);
	assert_int_equal(eau2_df_get_bool(df, 0, 0, &bv, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "column 'a' is int, not bool"));
	assert_int_equal(eau2_df_chunk(df, 0, 1, &view, &err), -ERANGE);

	/* Keys. */
	assert_int_equal(eau2_put(db, "", df, &err), -EINVAL);
	assert_int_equal(eau2_put(db, "tab\there", df, &err), -EINVAL);
	{
		char long_key[EAU2_KEY_MAX + 2];

		memset(long_key, 'k', sizeof(long_key) - 1);
		long_key[sizeof(long_key) - 1] = 0;
		assert_int_equal(eau2_put(db, long_key, df, &err), -EINVAL);
	}
	tu_ok(eau2_put(db, "odd/key with spaces%", df, &err), &err);
	eau2_df_release(df);
	tu_ok(eau2_get(db, "odd/key with spaces%", &df, &err), &err);
	eau2_df_release(df);
	assert_int_equal(eau2_get(db, "missing", &df, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no key 'missing'"));
	assert_int_equal(eau2_delete(db, "missing", &err), -ENOENT);
	eau2_schema_free(s);
	tu_close_store(db, dir);
}

/* A header checked on its own (as one read off the network is): each
 * inconsistency is refused before anything would be allocated for it. */
static void test_chunk_hdr_check(void **state)
{
	struct eau2_error err = {0};
	int64_t v[3] = {1, 2, 3};
	uint8_t validity = 5;
	struct eau2_chunk_src src = { .type = EAU2_INT, .rows = 3, .null_count = 1,
				      .validity = &validity, .values = v };
	uint64_t len = eau2_chunk_size(EAU2_INT, 3, 1, 0);
	uint8_t *c = aligned_alloc(64, len);
	struct eau2_chunk_hdr h;

	(void)state;
	eau2_chunk_write(c, &src);
	memcpy(&h, c, sizeof(h));
	tu_ok(eau2_chunk_hdr_check(&h, len, &err), &err);
	assert_int_equal(eau2_chunk_hdr_check(&h, len - 1, &err), -EMSGSIZE);
	assert_non_null(strstr(err.msg, "more than the"));
#define BAD(field, value, text) do { \
		memcpy(&h, c, sizeof(h)); \
		h.field = value; \
		assert_int_equal(eau2_chunk_hdr_check(&h, 1u << 30, &err), -EBADMSG); \
		assert_non_null(strstr(err.msg, text)); \
	} while (0)
	BAD(magic, 0, "bad magic");
	BAD(type, 9, "unknown type 9");
	BAD(rows, EAU2_CHUNK_ROWS + 1, "at most");
	BAD(null_count, 4, "4 nulls");
	BAD(values_len, 16, "buffers lie outside");
	BAD(values_off, len - 8, "buffers lie outside");
	BAD(validity_len, 2, "buffers lie outside");
	BAD(total_len, 64, "buffers lie outside");
	BAD(values_off, 129, "buffers lie outside");
#undef BAD
	tu_ok(eau2_chunk_check(c, len, 0, EAU2_INT, 3, &err), &err);
	tu_ok(eau2_chunk_verify(c, &err), &err);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_column_at_a_time),
		cmocka_unit_test(test_fork_join),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_chunk_hdr_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
