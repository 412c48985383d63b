/* SPDX-License-Identifier: MIT */
/*
 * test_csv_batch.c - the CSV loader's batches (csv_batch: field ends of
 * up to 16 KiB listed first, then each column converted in a loop of its
 * own) give what the careful record-at-a-time path gives, cell for cell:
 * the same file is loaded as usual and with on_error=skip (which never
 * takes the fast paths), over files with nulls in every column, signs,
 * leading zeros, ints past four digits, CRLF line ends, strings longer
 * than the 32-byte moves or than a batch, fields across 64-byte blocks
 * and chunk ends,
 * and, mixed in, what cuts a batch: quoted fields (doubled quotes,
 * delimiters and newlines inside), blank lines, true/false, an int that
 * widens its column to double. Bad rows after clean batches still fail at
 * their own line and column.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

struct gen {
	char *buf;
	size_t len, cap;
	uint64_t rs;
	bool mixed; /* also what cuts batches */
};

static void put(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!g->buf) {
		g->cap = 1 << 16;
		g->buf = malloc(g->cap);
		assert_non_null(g->buf);
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(g->buf + g->len, g->cap - g->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < g->cap - g->len)
			break;
		g->cap = g->cap * 2 + (size_t)n;
		g->buf = realloc(g->buf, g->cap);
		assert_non_null(g->buf);
	}
	g->len += (size_t)n;
}

static unsigned pick(struct gen *g, unsigned n)
{
	return (unsigned)(tu_rand(&g->rs) % n);
}

static void put_string(struct gen *g)
{
	unsigned k = pick(g, 100);

	if (k < 3)
		return; /* null */
	if (k < 6) { /* past the two 16-byte moves, or a whole batch */
		unsigned n = g->mixed && pick(g, 200) == 0 ? 20000 : 33 + pick(g, 90);

		for (unsigned i = 0; i < n; i++)
			put(g, "%c", 'a' + pick(g, 26));
		return;
	}
	if (g->mixed && k == 6 && pick(g, 4) == 0) { /* one string in 400 */
		static const char *q[] = {
			"\"a,b\"", "\"say \"\"hi\"\"\"", "\"two\nlines\"", "\"\"",
			"\"x\r\ny\"",
		};
		put(g, "%s", q[pick(g, 5)]);
		return;
	}
	put(g, "id%0*u", (int)(1 + pick(g, 4)), pick(g, 1000));
}

static void put_int(struct gen *g, bool wide)
{
	unsigned k = pick(g, 100);

	if (k < 3)
		return;
	if (k < 6) {
		put(g, "%c%u", "+-"[pick(g, 2)], pick(g, 100000));
		return;
	}
	if (k < 9) {
		put(g, "%0*u", (int)(2 + pick(g, 3)), pick(g, 100)); /* leading zeros */
		return;
	}
	if (k < 13) {
		put(g, "%llu", (unsigned long long)(tu_rand(&g->rs) % 1000000000000000000ull));
		return;
	}
	if (wide && k < 14) {
		put(g, "99999999999999999999"); /* past int64: the column widens */
		return;
	}
	put(g, "%u", k < 60 ? pick(g, 100) : pick(g, 10000));
}

static void put_double(struct gen *g)
{
	unsigned k = pick(g, 100);

	if (k < 3)
		return;
	if (k < 6) {
		put(g, "%d", (int)pick(g, 200) - 100);
		return;
	}
	if (k < 8) {
		put(g, "%ue%d", pick(g, 100), (int)pick(g, 20) - 10);
		return;
	}
	if (k < 11) {
		put(g, "-%u.%06u", pick(g, 1000000), pick(g, 1000000));
		return;
	}
	if (k < 15) {
		put(g, "%u.", pick(g, 100)); /* a dot at the end */
		return;
	}
	if (k < 50) { /* up to 8 bytes: 7 digits */
		put(g, "%u.%03u", pick(g, 10000), pick(g, 1000));
		return;
	}
	put(g, "%u.%02u", pick(g, 100), pick(g, 100));
}

static void put_bool(struct gen *g)
{
	unsigned k = pick(g, 100);

	if (k < 3)
		return;
	if (g->mixed && k == 3 && pick(g, 2) == 0) {
		static const char *t[] = { "true", "false", "TRUE", "False" };
		put(g, "%s", t[pick(g, 4)]);
		return;
	}
	put(g, "%u", k & 1);
}

/* n records of s,i,d,b,t after a header; with wide, some ints of the
 * second half do not fit an int64. */
static void gen_file(struct gen *g, size_t n, bool wide)
{
	g->len = 0;
	put(g, "s,i,d,b,t\n");
	for (size_t r = 0; r < n; r++) {
		if (g->mixed && pick(g, 300) == 0)
			put(g, "%s", pick(g, 2) ? "\n" : "\r\n"); /* blank line */
		put_string(g);
		put(g, ",");
		put_int(g, wide && r > n / 2);
		put(g, ",");
		put_double(g);
		put(g, ",");
		put_bool(g);
		put(g, ",");
		put_string(g);
		put(g, "%s", pick(g, 10) == 0 ? "\r\n" : "\n");
	}
}

/* Loads g's file as usual and with on_error=skip (no fast path) on 1 and
 * 2 threads; all four must agree. Returns the usual 2-thread load. */
static eau2_df *check(struct tu_fx *f, struct gen *g, const char *schema_text)
{
	struct eau2_error err = {0};
	eau2_schema *schema = NULL;
	const char *path = tu_put_file(f, "batch.csv", g->buf, g->len);
	eau2_df *ref = NULL, *out = NULL;

	if (schema_text)
		tu_ok(eau2_schema_parse(schema_text, &schema, &err), &err);
	for (unsigned th = 1; th <= 2; th++) {
		struct eau2_load_options opt = {
			.format = EAU2_FORMAT_CSV, .threads = th, .schema = schema,
		};
		struct eau2_load_stats st = {0};
		eau2_df *df;

		tu_ok(eau2_load(f->db, path, &opt, &df, &st, &err), &err);
		opt.on_error = EAU2_ON_ERROR_SKIP;
		if (!ref) {
			tu_ok(eau2_load(f->db, path, &opt, &ref, &st, &err), &err);
			assert_int_equal(st.skipped, 0);
		}
		rt_assert_df_equal(df, ref);
		if (out)
			eau2_df_release(out);
		out = df;
	}
	eau2_df_release(ref);
	eau2_schema_free(schema);
	return out;
}

static size_t rows_for_test(void)
{
	/* Past two chunks, so batches meet chunk ends and piece ends. */
	return tu_quick() ? EAU2_CHUNK_ROWS + 3000 : 2 * EAU2_CHUNK_ROWS + 12345;
}

static void test_plain(void **state)
{
	struct tu_fx *f = *state;
	struct gen g = { .rs = 11 };
	eau2_df *df;

	gen_file(&g, rows_for_test(), false);
	df = check(f, &g, "s:string,i:int,d:double,b:bool,t:string");
	eau2_df_release(df);
	df = check(f, &g, NULL);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 1), EAU2_INT);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 2), EAU2_DOUBLE);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 3), EAU2_BOOL);
	assert_int_equal(eau2_df_rows(df), rows_for_test());
	eau2_df_release(df);
	free(g.buf);
}

static void test_mixed(void **state)
{
	struct tu_fx *f = *state;
	struct gen g = { .rs = 12, .mixed = true };
	eau2_df *df;

	gen_file(&g, rows_for_test(), false);
	df = check(f, &g, "s:string,i:int,d:double,b:bool,t:string");
	assert_int_equal(eau2_df_rows(df), rows_for_test());
	eau2_df_release(df);
	df = check(f, &g, NULL);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 1), EAU2_INT);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 3), EAU2_BOOL);
	eau2_df_release(df);
	free(g.buf);
}

/* An int past int64 in the second half: the inferred column restarts as
 * double, in both paths alike. */
static void test_widen(void **state)
{
	struct tu_fx *f = *state;
	struct gen g = { .rs = 13 };
	eau2_df *df;

	gen_file(&g, rows_for_test(), true);
	df = check(f, &g, NULL);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 1), EAU2_DOUBLE);
	eau2_df_release(df);
	free(g.buf);
}

/* One column: a blank line is a null there, in a batch as elsewhere. */
static void test_one_column(void **state)
{
	struct tu_fx *f = *state;
	struct gen g = { .rs = 14 };
	eau2_df *df;
	uint64_t nulls = 0;

	put(&g, "x\n");
	for (size_t r = 0; r < 50000; r++)
		if (r % 7 == 3)
			put(&g, "\n");
		else
			put(&g, "%u\n", (unsigned)(r % 1000));
	df = check(f, &g, "x:int");
	assert_int_equal(eau2_df_rows(df), 50000);
	for (uint64_t r = 0; r < 50000; r++) {
		int64_t v = -1;

		if (eau2_df_get_int(df, 0, r, &v, NULL) == EAU2_NULL)
			nulls++;
		else
			assert_int_equal(v, r % 1000);
	}
	assert_int_equal(nulls, 50000 / 7 + (50000 % 7 > 3));
	eau2_df_release(df);
	free(g.buf);
}

/* After thousands of clean records, a short record, a long one and bad
 * numbers fail the load at their own line and column. */
static void test_bad_rows_located(void **state)
{
	static const struct {
		const char *row, *where;
	} bad[] = {
		{ "id1,5,2.5,1\n", ":5002:1: expected 5 fields, got 4" },
		{ "id1,5,2.5,1,x,y\n", ":5002:1: expected 5 fields, got 6" },
		{ "id1,12a,2.5,1,x\n", ":5002:5: column i" },
		{ "id1,-,2.5,1,x\n", ":5002:5: column i" },
		{ "id1,7,2.5.1,1,x\n", ":5002:7: column d" },
		{ "id1,7,2.5,2,x\n", ":5002:11: column b" },
	};
	struct tu_fx *f = *state;
	struct eau2_error err = {0};
	eau2_schema *schema;

	tu_ok(eau2_schema_parse("s:string,i:int,d:double,b:bool,t:string", &schema, &err),
	      &err);
	for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
		struct gen g = { .rs = 15 };
		struct eau2_load_options opt = {
			.format = EAU2_FORMAT_CSV, .threads = 1, .schema = schema,
		};
		eau2_df *df = NULL;
		const char *path;

		put(&g, "s,i,d,b,t\n");
		for (size_t r = 0; r < 5000; r++)
			put(&g, "id%zu,%zu,%zu.5,%zu,text%zu\n", r % 97, r % 100, r % 10,
			    r & 1, r);
		put(&g, "%s", bad[k].row);
		for (size_t r = 0; r < 3000; r++)
			put(&g, "id%zu,%zu,1.5,0,x\n", r, r % 100);
		path = tu_put_file(f, "bad.csv", g.buf, g.len);
		assert_int_equal(eau2_load(f->db, path, &opt, &df, NULL, &err), -EBADMSG);
		if (!strstr(err.msg, bad[k].where))
			fail_msg("%s: want \"%s\" in \"%s\"", bad[k].row, bad[k].where, err.msg);
		free(g.buf);
	}
	eau2_schema_free(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_mixed, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_widen, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_one_column, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_rows_located, tu_fx_setup,
						tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
