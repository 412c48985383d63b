/* SPDX-License-Identifier: MIT */
/*
 * test_lines_export.c - the text (lines) loader, and eau2_export_csv:
 * CSV -> store -> CSV round trips of random dataframes with nulls, empty
 * strings, quotes, delimiters, newlines, numeric-looking strings and
 * integral doubles, read back on one and on several threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "df/load.h"

static void want_line(eau2_df *df, uint64_t row, const char *want, size_t n)
{
	const char *s;
	size_t len;

	assert_int_equal(eau2_df_get_string(df, 0, row, &s, &len, NULL), 0);
	if (len != n || memcmp(s, want, n))
		fail_msg("row %llu: got \"%.*s\", want \"%.*s\"", (unsigned long long)row,
			 (int)len, s, (int)n, want);
}

/* ----------------------------------------------------------------- lines */

static void test_lines(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_stats st;
	eau2_df *df = NULL;
	static const char data[] = "first\r\n\nthird line\r\r\nlast";

	tu_put_file(f, "a.txt", data, sizeof(data) - 1);
	tu_ok(eau2_load(f->db, f->path, NULL, &df, &st, &err), &err);
	assert_int_equal(eau2_df_rows(df), 4);
	assert_int_equal(st.rows, 4);
	assert_int_equal(st.bytes, sizeof(data) - 1);
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 0), "line");
	want_line(df, 0, "first", 5);
	want_line(df, 1, "", 0);
	want_line(df, 2, "third line\r", 11);
	want_line(df, 3, "last", 4);
	eau2_df_release(df);

	/* .log too; a final newline adds no row; empty file has no rows. */
	tu_put_file(f, "b.log", "x\ny\n", 4);
	tu_ok(eau2_load(f->db, f->path, NULL, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), 2);
	eau2_df_release(df);
	tu_put_file(f, "c.txt", "", 0);
	tu_ok(eau2_load(f->db, f->path, NULL, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), 0);
	eau2_df_release(df);

	/* NUL: an error naming line and column, or a skipped line. */
	{
		static const char bin[] = "ok\nb\0d\nfine\n";
		struct eau2_load_options opt = { .on_error = EAU2_ON_ERROR_SKIP };
		char want[4200];

		tu_put_file(f, "d.txt", bin, sizeof(bin) - 1);
		assert_int_equal(eau2_load(f->db, f->path, NULL, &df, NULL, &err), -EBADMSG);
		snprintf(want, sizeof(want), "%s:2:2: NUL byte", f->path);
		assert_memory_equal(err.msg, want, strlen(want));
		tu_ok(eau2_load(f->db, f->path, &opt, &df, &st, &err), &err);
		assert_int_equal(eau2_df_rows(df), 2);
		assert_int_equal(st.skipped, 1);
		assert_memory_equal(st.where[0], want, strlen(want));
		want_line(df, 1, "fine", 4);
		eau2_df_release(df);
	}
}

static void test_lines_parallel(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	uint64_t seed = 3;
	size_t nlines = tu_quick() ? 300 : 3000, cap = nlines * 40, n = 0;
	char *buf = malloc(cap);
	size_t *starts = malloc((nlines + 1) * sizeof(size_t));

	for (size_t i = 0; i < nlines; i++) {
		size_t len = tu_rand(&seed) % 30;

		starts[i] = n;
		for (size_t k = 0; k < len; k++)
			buf[n++] = (char)('a' + tu_rand(&seed) % 26);
		buf[n++] = '\n';
	}
	starts[nlines] = n;
	tu_put_file(f, "p.txt", buf, n);
	for (size_t piece = 1; piece < 200; piece = piece * 3 + 1) {
		struct eau2_load_options opt = { .threads = 5 };
		eau2_df *df = NULL;

		eau2_load_tune.piece_bytes = piece;
		tu_ok(eau2_load(f->db, f->path, &opt, &df, NULL, &err), &err);
		assert_int_equal(eau2_df_rows(df), nlines);
		for (size_t i = 0; i < nlines; i++)
			want_line(df, i, buf + starts[i], starts[i + 1] - starts[i] - 1);
		eau2_df_release(df);
	}
	free(buf);
	free(starts);
}

/* ------------------------------------------------------------ round trip */

static const char *pieces[] = { "a", "B", ",", "\"", "\n", "\r", " ", "1", "0", "-",
				".", "e", "true", "x y", "\xc3\xa9", ";" };

static eau2_df *random_df(eau2 *db, uint64_t *seed, size_t rows)
{
	struct eau2_error err = { 0 };
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	size_t ncols = 1 + tu_rand(seed) % 6;
	char name[32];
	char s[64];

	tu_ok(eau2_schema_new(&schema, &err), &err);
	for (size_t c = 0; c < ncols; c++) {
		snprintf(name, sizeof(name), "%s%zu", c % 2 ? "col \"q\"," : "c", c);
		tu_ok(eau2_schema_add(schema, name, (enum eau2_type)(1 + tu_rand(seed) % 4), &err),
		      &err);
	}
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			uint64_t k = tu_rand(seed);
			/* Row 0 is never null, so no column is all null (an all-null
			 * column cannot tell its type). Int columns of 0/1 only
			 * happen by chance with small ranges. */
			bool null = r > 0 && k % 5 == 0;
			int mode = (int)((k >> 8) % 4);

			if (null) {
				tu_ok(eau2_builder_append_null(b, c, &err), &err);
				continue;
			}
			switch (eau2_schema_type(schema, c)) {
			case EAU2_BOOL:
				tu_ok(eau2_builder_append_bool(b, c, (k >> 20) & 1, &err), &err);
				break;
			case EAU2_INT: {
				int64_t v = mode == 0 ? (int64_t)(k >> 62) % 2 :
					    mode == 1 ? (int64_t)tu_rand(seed) :
					    (int64_t)(k >> 40) - (1 << 23);

				if (c == 1 && mode != 1)
					v = (int64_t)((k >> 33) & 1); /* a 0/1 int column */
				tu_ok(eau2_builder_append_int(b, c, v, &err), &err);
				break;
			}
			case EAU2_DOUBLE: {
				double v;
				uint64_t bits = tu_rand(seed);

				if (mode == 0)
					v = (double)((int64_t)(k >> 44) - 100000); /* integral */
				else if (mode == 1)
					memcpy(&v, &bits, 8);
				else if (mode == 2)
					v = (double)(k >> 20) / 1000.0;
				else
					v = (k >> 9) % 3 == 0 ? -0.0 : (k >> 9) % 3 == 1 ? INFINITY : 1e300;
				if (isnan(v))
					v = 0.5;
				tu_ok(eau2_builder_append_double(b, c, v, &err), &err);
				break;
			}
			default: {
				size_t n = 0;

				if (mode == 0) {
					n = (size_t)snprintf(s, sizeof(s), "%lld",
							     (long long)(k >> 50)); /* numeric-looking */
				} else {
					for (uint64_t j = (k >> 12) % 5; j > 0; j--) {
						const char *p = pieces[tu_rand(seed) % 16];

						memcpy(s + n, p, strlen(p));
						n += strlen(p);
					}
				}
				tu_ok(eau2_builder_append_string(b, c, s, n, &err), &err);
				break;
			}
			}
		}
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

static void assert_df_equal(eau2_df *a, eau2_df *b)
{
	const eau2_schema *sa = eau2_df_schema(a), *sb = eau2_df_schema(b);
	size_t ncols = eau2_df_ncols(a);

	assert_int_equal(ncols, eau2_df_ncols(b));
	assert_int_equal(eau2_df_rows(a), eau2_df_rows(b));
	for (size_t c = 0; c < ncols; c++) {
		assert_string_equal(eau2_schema_name(sa, c), eau2_schema_name(sb, c));
		if (eau2_schema_type(sa, c) != eau2_schema_type(sb, c))
			fail_msg("column %zu: type %s read back as %s", c,
				 eau2_type_name(eau2_schema_type(sa, c)),
				 eau2_type_name(eau2_schema_type(sb, c)));
	}
	for (uint64_t r = 0; r < eau2_df_rows(a); r++) {
		for (size_t c = 0; c < ncols; c++) {
			int ra, rb;

			switch (eau2_schema_type(sa, c)) {
			case EAU2_BOOL: {
				bool x = 0, y = 0;

				ra = eau2_df_get_bool(a, c, r, &x, NULL);
				rb = eau2_df_get_bool(b, c, r, &y, NULL);
				assert_int_equal(ra, rb);
				assert_int_equal(x, y);
				break;
			}
			case EAU2_INT: {
				int64_t x = 0, y = 0;

				ra = eau2_df_get_int(a, c, r, &x, NULL);
				rb = eau2_df_get_int(b, c, r, &y, NULL);
				assert_int_equal(ra, rb);
				assert_int_equal(x, y);
				break;
			}
			case EAU2_DOUBLE: {
				double x = 0, y = 0;

				ra = eau2_df_get_double(a, c, r, &x, NULL);
				rb = eau2_df_get_double(b, c, r, &y, NULL);
				assert_int_equal(ra, rb);
				if (memcmp(&x, &y, sizeof(x)))
					fail_msg("row %llu col %zu: %.17g read back as %.17g",
						 (unsigned long long)r, c, x, y);
				break;
			}
			default: {
				const char *x = NULL, *y = NULL;
				size_t nx = 0, ny = 0;

				ra = eau2_df_get_string(a, c, r, &x, &nx, NULL);
				rb = eau2_df_get_string(b, c, r, &y, &ny, NULL);
				if (ra != rb)
					fail_msg("row %llu col %zu: null-ness differs (%d vs %d)",
						 (unsigned long long)r, c, ra, rb);
				if (ra == 0 && (nx != ny || memcmp(x, y, nx)))
					fail_msg("row %llu col %zu: \"%.*s\" read back as \"%.*s\"",
						 (unsigned long long)r, c, (int)nx, x, (int)ny, y);
				break;
			}
			}
		}
	}
}

static void test_round_trip(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	int seeds = tu_quick() ? 15 : 60;

	for (int i = 0; i < seeds; i++) {
		uint64_t seed = 1000 + (uint64_t)i;
		size_t rows = 1 + tu_rand(&seed) % (i % 10 == 9 ? 70000 : 300);
		eau2_df *df = random_df(f->db, &seed, rows), *back = NULL;
		int fd;

		snprintf(f->path, sizeof(f->path), "%s/rt.csv", f->tmp);
		fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		tu_ok(eau2_export_csv(df, fd, UINT64_MAX, &err), &err);
		close(fd);
		{
			struct eau2_load_options opt = { .threads = 1 };

			eau2_load_tune.piece_bytes = 0;
			tu_ok(eau2_load(f->db, f->path, &opt, &back, NULL, &err), &err);
			assert_df_equal(df, back);
			eau2_df_release(back);
		}
		{
			/* Small pieces and small samples: splits and widening. */
			struct eau2_load_options opt = { .threads = 4 };

			eau2_load_tune.piece_bytes = 97 + (size_t)i * 13;
			eau2_load_tune.sample_bytes = 100;
			eau2_load_tune.samples = 2;
			tu_ok(eau2_load(f->db, f->path, &opt, &back, NULL, &err), &err);
			assert_df_equal(df, back);
			eau2_df_release(back);
			memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
		}
		eau2_df_release(df);
	}
}

static void test_export_details(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	eau2_df *df = NULL;
	char buf[256];
	int fd;
	ssize_t n;
	static const char data[] = "d,s,i\n1.0,\"\",+1\n2.5,,+0\n1e+300,\"1\",\n";

	tu_put_file(f, "in.csv", data, sizeof(data) - 1);
	tu_ok(eau2_load(f->db, f->path, NULL, &df, NULL, &err), &err);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 2), EAU2_INT);
	snprintf(f->path, sizeof(f->path), "%s/out.csv", f->tmp);
	fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	tu_ok(eau2_export_csv(df, fd, 2, &err), &err);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = 0;
	/* Integral doubles keep a ".0", "" stays "", nulls are empty, a 0/1
	 * int column keeps its sign, max_rows is honoured. */
	assert_string_equal(buf, "d,s,i\n1.0,\"\",+1\n2.5,,+0\n");
	close(fd);
	fd = open(f->path, O_WRONLY | O_TRUNC);
	tu_ok(eau2_export_csv(df, fd, UINT64_MAX, &err), &err);
	close(fd);
	fd = open(f->path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n] = 0;
	close(fd);
	assert_string_equal(buf, "d,s,i\n1.0,\"\",+1\n2.5,,+0\n1e+300,\"1\",\n");
	/* A bad fd is an error, not a crash. */
	assert_true(eau2_export_csv(df, 12345, UINT64_MAX, &err) < 0);
	eau2_df_release(df);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_lines_parallel, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_export_details, tu_fx_setup, tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
