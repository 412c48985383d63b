/* SPDX-License-Identifier: MIT */
/*
 * test_csv.c - the CSV reader: RFC 4180 edge cases, type inference and
 * widening, errors with file:line:column, skip mode, and parallel splits
 * (tiny pieces on 7 threads against one thread and against a naive
 * character-by-character reference parser); split points guessed inside
 * quoted newlines, whose wrong pieces leave no trace in the result; and a
 * load of each format stopped by its joined hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dirent.h>

#include "testutil.h"
#include "api/api.h"
#include "df/load.h"

static int load_str(struct tu_fx *f, const char *data, const struct eau2_load_options *opt,
		    eau2_df **df, struct eau2_load_stats *st, struct eau2_error *err)
{
	const char *p = tu_put_file(f, "t.csv", data, strlen(data));

	return eau2_load(f->db, p, opt, df, st, err);
}

static void want_str(eau2_df *df, size_t col, uint64_t row, const char *want)
{
	const char *s;
	size_t n;
	int rc = eau2_df_get_string(df, col, row, &s, &n, NULL);

	if (!want) {
		assert_int_equal(rc, EAU2_NULL);
		return;
	}
	assert_int_equal(rc, 0);
	if (n != strlen(want) || memcmp(s, want, n))
		fail_msg("row %llu col %zu: got \"%.*s\", want \"%s\"",
			 (unsigned long long)row, col, (int)n, s, want);
}

static void want_int(eau2_df *df, size_t col, uint64_t row, int64_t want)
{
	int64_t v;

	assert_int_equal(eau2_df_get_int(df, col, row, &v, NULL), 0);
	assert_int_equal(v, want);
}

static void want_null(eau2_df *df, size_t col, uint64_t row)
{
	double d;
	bool b;
	const char *s;
	size_t n;
	int64_t i;
	int rc;

	switch (eau2_schema_type(eau2_df_schema(df), col)) {
	case EAU2_BOOL: rc = eau2_df_get_bool(df, col, row, &b, NULL); break;
	case EAU2_INT: rc = eau2_df_get_int(df, col, row, &i, NULL); break;
	case EAU2_DOUBLE: rc = eau2_df_get_double(df, col, row, &d, NULL); break;
	default: rc = eau2_df_get_string(df, col, row, &s, &n, NULL); break;
	}
	assert_int_equal(rc, EAU2_NULL);
}

/* ---------------------------------------------------------------- basics */

static void test_types(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_stats st;
	eau2_df *df = NULL;
	const eau2_schema *s;
	double d;
	bool b;

	tu_ok(load_str(f, "b,i,d,s,z,m\n"
		       "true,1,1.5,x,,0\n"
		       "false,-20,2,y,,1\n"
		       ",,,,,\n"
		       "TRUE,9223372036854775807,1e10,\"\",,true\n", NULL, &df, &st, &err), &err);
	s = eau2_df_schema(df);
	assert_int_equal(eau2_df_rows(df), 4);
	assert_int_equal(st.rows, 4);
	assert_int_equal(eau2_schema_type(s, 0), EAU2_BOOL);
	assert_int_equal(eau2_schema_type(s, 1), EAU2_INT);
	assert_int_equal(eau2_schema_type(s, 2), EAU2_DOUBLE);
	assert_int_equal(eau2_schema_type(s, 3), EAU2_STRING);
	assert_int_equal(eau2_schema_type(s, 4), EAU2_STRING); /* all null */
	assert_int_equal(eau2_schema_type(s, 5), EAU2_BOOL);   /* 0/1/true */
	assert_string_equal(eau2_schema_name(s, 3), "s");
	assert_int_equal(eau2_df_get_bool(df, 0, 0, &b, NULL), 0);
	assert_true(b);
	assert_int_equal(eau2_df_get_bool(df, 0, 3, &b, NULL), 0);
	assert_true(b);
	want_int(df, 1, 1, -20);
	want_int(df, 1, 3, INT64_MAX);
	assert_int_equal(eau2_df_get_double(df, 2, 1, &d, NULL), 0);
	assert_true(d == 2.0);
	assert_int_equal(eau2_df_get_double(df, 2, 3, &d, NULL), 0);
	assert_true(d == 1e10);
	for (size_t c = 0; c < 6; c++)
		want_null(df, c, 2);
	want_str(df, 3, 3, "");   /* "" is an empty string, not null */
	want_null(df, 4, 0);
	assert_int_equal(eau2_df_get_bool(df, 5, 3, &b, NULL), 0);
	assert_true(b);
	eau2_df_release(df);

	/* 0/1 next to other ints is int; true next to numbers is string. */
	tu_ok(load_str(f, "a,b,c\n0,true,1\n1,5,2.5\n7,false,0\n", NULL, &df, NULL, &err), &err);
	s = eau2_df_schema(df);
	assert_int_equal(eau2_schema_type(s, 0), EAU2_INT);
	assert_int_equal(eau2_schema_type(s, 1), EAU2_STRING);
	assert_int_equal(eau2_schema_type(s, 2), EAU2_DOUBLE);
	want_str(df, 1, 1, "5");
	eau2_df_release(df);

	/* Out-of-range ints are doubles; hex, padded numbers stay strings. */
	tu_ok(load_str(f, "a,b,c\n99999999999999999999,0x1f, 5\n", NULL, &df, NULL, &err), &err);
	s = eau2_df_schema(df);
	assert_int_equal(eau2_schema_type(s, 0), EAU2_DOUBLE);
	assert_int_equal(eau2_schema_type(s, 1), EAU2_STRING);
	assert_int_equal(eau2_schema_type(s, 2), EAU2_STRING);
	want_str(df, 2, 0, " 5");
	eau2_df_release(df);
}

static void test_quoting(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	eau2_df *df = NULL;

	tu_ok(load_str(f, "\"a,1\",\"b\"\"q\",c\r\n"
		       "\"x,y\",\"he said \"\"hi\"\"\",\"line1\nline2\"\r\n"
		       "plain,\"\",\"\r\n\"\r\n"
		       "\"\"\"\",\",\",last", NULL, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), 3);
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 0), "a,1");
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 1), "b\"q");
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 2), "c");
	want_str(df, 0, 0, "x,y");
	want_str(df, 1, 0, "he said \"hi\"");
	want_str(df, 2, 0, "line1\nline2");
	want_str(df, 0, 1, "plain");
	want_str(df, 1, 1, "");
	want_str(df, 2, 1, "\r\n");
	want_str(df, 0, 2, "\"");
	want_str(df, 1, 2, ",");
	want_str(df, 2, 2, "last"); /* no final newline */
	eau2_df_release(df);

	/* A quoted number is a string. */
	tu_ok(load_str(f, "a\n\"1\"\n\"2\"\n", NULL, &df, NULL, &err), &err);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 0), EAU2_STRING);
	want_str(df, 0, 1, "2");
	eau2_df_release(df);

	/* BOM, blank lines (skipped with 2+ columns), CRLF everywhere. */
	tu_ok(load_str(f, "\xef\xbb\xbfk,v\r\n1,2\r\n\r\n3,4\r\n\n", NULL, &df, NULL, &err), &err);
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 0), "k");
	assert_int_equal(eau2_df_rows(df), 2);
	want_int(df, 0, 1, 3);
	want_int(df, 1, 1, 4);
	eau2_df_release(df);

	/* One column: a blank line is a null. */
	tu_ok(load_str(f, "v\n1\n\n3\n", NULL, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), 3);
	want_null(df, 0, 1);
	want_int(df, 0, 2, 3);
	eau2_df_release(df);
}

static void test_delim_noheader(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_options opt = { .delim = ';', .no_header = true };
	eau2_df *df = NULL;

	tu_ok(load_str(f, "1;a,b;\"x;y\"\n2;c;d\n", &opt, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), 2);
	assert_int_equal(eau2_df_ncols(df), 3);
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 0), "c0");
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 2), "c2");
	want_int(df, 0, 0, 1);
	want_str(df, 1, 0, "a,b");
	want_str(df, 2, 0, "x;y");
	eau2_df_release(df);

	opt.delim = '\t';
	tu_ok(load_str(f, "a\tb\n1\t2.5\n", &opt, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), 2);
	want_str(df, 0, 0, "a");
	eau2_df_release(df);

	/* Duplicate and empty header names get distinct names. */
	tu_ok(load_str(f, "a,,a\n1,2,3\n", NULL, &df, NULL, &err), &err);
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 0), "a");
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 1), "c1");
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 2), "a_2");
	eau2_df_release(df);
}

static void test_empty_and_header_only(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_options opt = { 0 };
	eau2_schema *schema = NULL;
	eau2_df *df = NULL;

	assert_int_equal(load_str(f, "", NULL, &df, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "t.csv"));
	assert_non_null(strstr(err.msg, "empty"));
	assert_null(df);

	tu_ok(load_str(f, "x,y\n", NULL, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), 0);
	assert_int_equal(eau2_df_ncols(df), 2);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 1), EAU2_STRING);
	eau2_df_release(df);

	tu_ok(eau2_schema_parse("a:int,b:double", &schema, &err), &err);
	opt.schema = schema;
	tu_ok(load_str(f, "", &opt, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), 0);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 1), EAU2_DOUBLE);
	eau2_df_release(df);
	eau2_schema_free(schema);
}

/* ---------------------------------------------------------------- errors */

#define expect_error(f, lit, opt, where, what) \
	expect_error_n(f, lit, sizeof(lit) - 1, opt, where, what)

static void expect_error_n(struct tu_fx *f, const char *data, size_t n,
			   const struct eau2_load_options *opt, const char *where,
			   const char *what)
{
	struct eau2_error err = { 0 };
	eau2_df *df = NULL;
	char want[4200];
	int rc;

	tu_put_file(f, "bad.csv", data, n);
	rc = eau2_load(f->db, f->path, opt, &df, NULL, &err);
	assert_true(rc < 0);
	assert_null(df);
	snprintf(want, sizeof(want), "%s:%s: ", f->path, where);
	if (strncmp(err.msg, want, strlen(want)) || !strstr(err.msg, what))
		fail_msg("got \"%s\", want \"%s%s\"", err.msg, want, what);
}

static void test_errors(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_load_options opt = { .threads = 3 };
	struct eau2_error err = { 0 };
	eau2_df *df = NULL;
	char **keys;
	size_t nkeys;

	expect_error(f, "a,b,c\n1,2,3\n4,5\n", NULL, "3:1", "expected 3 fields, got 2");
	expect_error(f, "a,b\n1,2\n3,4,5\n", NULL, "3:1", "expected 2 fields, got 3");
	expect_error(f, "a,b\n1,2\n3,\"abc\n", NULL, "3:3", "unterminated quoted field");
	expect_error(f, "a,b\n1,2\n3,ab\"c\"\n", NULL, "3:5", "quote in unquoted field");
	expect_error(f, "a,b\n1,\"x\"y\n", NULL, "2:6", "unexpected character after closing quote");
	expect_error(f, "a,b\n1,2\n\"multi\nline\",x\n7,8\0,9\n", NULL, "5:4", "NUL byte");
	expect_error(f, "a\0b\n", NULL, "1:2", "NUL byte");
	/* The same with tiny pieces on several threads: still the first error. */
	eau2_load_tune.piece_bytes = 3;
	expect_error(f, "a,b\n1,2\n3,4\n\"x\ny\",5,6\n7,8\n9\n", &opt, "4:1",
		     "expected 2 fields, got 3");
	eau2_load_tune.piece_bytes = 0;

	{
		eau2_schema *schema = NULL;

		tu_ok(eau2_schema_parse("a:int,b:bool", &schema, &err), &err);
		opt.schema = schema;
		expect_error(f, "a,b\n1,true\n2,x\n", &opt, "3:3", "is not a valid bool");
		expect_error(f, "a,b\n1,true\n2.5,0\n", &opt, "3:1", "is not a valid int");
		expect_error(f, "a,b,c\n", &opt, "1:1", "header has 3 fields");
		opt.schema = NULL;
		eau2_schema_free(schema);
	}

	/* Missing file, unknown extension. */
	assert_int_equal(eau2_load(f->db, "/nonexistent/x.csv", NULL, &df, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/x.csv"));
	tu_put_file(f, "data.bin", "a\n", 2);
	assert_int_equal(eau2_load(f->db, f->path, NULL, &df, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "data.bin"));

	/* A failed load leaves nothing in the store. */
	tu_ok(eau2_gc(f->db, &err), &err);
	tu_ok(eau2_list(f->db, &keys, &nkeys, &err), &err);
	assert_int_equal(nkeys, 0);
	eau2_list_free(keys);
}

static void test_skip(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_stats st;
	struct eau2_load_options opt = { .on_error = EAU2_ON_ERROR_SKIP, .threads = 2 };
	eau2_schema *schema = NULL;
	eau2_df *df = NULL;
	char want[4200];

	tu_ok(eau2_schema_parse("a:int,b:string", &schema, &err), &err);
	opt.schema = schema;
	{
		static const char data[] =
			"a,b\n1,x\n2\nz,y\n3,\"q\"r\n4,o\0k\n5,\"fine\"\n6,a,b\n7,\"open";

		tu_put_file(f, "t.csv", data, sizeof(data) - 1);
		tu_ok(eau2_load(f->db, f->path, &opt, &df, &st, &err), &err);
	}
	assert_int_equal(eau2_df_rows(df), 2);
	assert_int_equal(st.rows, 2);
	assert_int_equal(st.skipped, 6);
	want_int(df, 0, 0, 1);
	want_int(df, 0, 1, 5);
	want_str(df, 1, 1, "fine");
	snprintf(want, sizeof(want), "%s:3:1: expected 2 fields, got 1", f->path);
	assert_string_equal(st.where[0], want);
	snprintf(want, sizeof(want), "%s:4:1: column a: \"z\" is not a valid int", f->path);
	assert_string_equal(st.where[1], want);
	snprintf(want, sizeof(want), "%s:5:6: unexpected character", f->path);
	assert_memory_equal(st.where[2], want, strlen(want));
	snprintf(want, sizeof(want), "%s:6:4: NUL byte", f->path);
	assert_memory_equal(st.where[3], want, strlen(want));
	snprintf(want, sizeof(want), "%s:8:1: expected 2 fields, got 3", f->path);
	assert_memory_equal(st.where[4], want, strlen(want));
	eau2_df_release(df);
	eau2_schema_free(schema);
}

/* --------------------------------------------------------------- widening */

static void test_widening(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_options opt = { .threads = 3 };
	size_t rows = tu_quick() ? 3000 : 20000, cap = rows * 40, n = 0;
	char *buf = malloc(cap);
	eau2_df *df = NULL;
	double d;

	/* Only the first and the last rows hold the surprises; the sample is
	 * one small window, so every column must widen during the parse. */
	n += (size_t)snprintf(buf + n, cap - n, "i,b,t,k\n");
	for (size_t r = 0; r < rows; r++) {
		const char *i = r == rows - 1 ? "1.5" : "7";
		const char *b = r == rows - 2 ? "5" : (r & 1) ? "true" : "false";
		const char *t = r == rows - 3 ? "word" : "3";
		const char *k = r == rows - 1 ? "2" : "1";

		n += (size_t)snprintf(buf + n, cap - n, "%s,%s,%s,%s\n", i, b, t, k);
	}
	eau2_load_tune.sample_bytes = 64;
	eau2_load_tune.samples = 1;
	eau2_load_tune.piece_bytes = 4096;
	tu_put_file(f, "w.csv", buf, n);
	tu_ok(eau2_load(f->db, f->path, &opt, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), rows);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 0), EAU2_DOUBLE);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 1), EAU2_STRING);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 2), EAU2_STRING);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 3), EAU2_INT);
	assert_int_equal(eau2_df_get_double(df, 0, rows - 1, &d, NULL), 0);
	assert_true(d == 1.5);
	assert_int_equal(eau2_df_get_double(df, 0, 0, &d, NULL), 0);
	assert_true(d == 7);
	want_str(df, 1, 1, "true");
	want_str(df, 1, rows - 2, "5");
	want_str(df, 2, 0, "3");
	want_int(df, 3, rows - 1, 2);
	eau2_df_release(df);
	free(buf);
}

/* ----------------------------------------------------- parallel splitting */

/* A naive RFC 4180 reader, one character at a time: fields as strings,
 * NULL for an empty unquoted field. */
struct naive {
	char ***rows;
	size_t nrows, ncols;
};

static void naive_parse(const char *s, size_t n, struct naive *out)
{
	size_t cap = 16, i = 0;
	char **row = NULL;
	size_t nf = 0;

	out->rows = malloc(cap * sizeof(*out->rows));
	out->nrows = 0;
	while (i < n) {
		char *field = malloc(n + 1);
		size_t k = 0;
		bool quoted = false;

		if (s[i] == '"') {
			quoted = true;
			for (i++; i < n; i++) {
				if (s[i] == '"') {
					if (i + 1 < n && s[i + 1] == '"') {
						field[k++] = '"';
						i++;
						continue;
					}
					i++;
					break;
				}
				field[k++] = s[i];
			}
		} else {
			while (i < n && s[i] != ',' && s[i] != '\n')
				field[k++] = s[i++];
			if (k && field[k - 1] == '\r' && (i == n || s[i] == '\n'))
				k--;
		}
		if (i < n && s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			i++;
		field[k] = 0;
		if (!quoted && k == 0) {
			free(field);
			field = NULL;
		}
		row = realloc(row, (nf + 1) * sizeof(*row));
		row[nf++] = field;
		if (i >= n || s[i] == '\n') {
			if (out->nrows == cap)
				out->rows = realloc(out->rows, (cap *= 2) * sizeof(*out->rows));
			out->rows[out->nrows++] = row;
			out->ncols = nf;
			row = NULL;
			nf = 0;
		}
		i++;
	}
}

static void naive_free(struct naive *nv)
{
	for (size_t r = 0; r < nv->nrows; r++) {
		for (size_t c = 0; c < nv->ncols; c++)
			free(nv->rows[r][c]);
		free(nv->rows[r]);
	}
	free(nv->rows);
}

static char *random_csv(uint64_t *seed, size_t rows, size_t ncols, size_t *len)
{
	static const char *frag[] = { "a", "bc", ",", "\"", "\n", "\r\n", " ", "x\ny", "1", "" };
	size_t cap = rows * ncols * 64 + 64, n = 0;
	char *buf = malloc(cap);

	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			uint64_t k = tu_rand(seed) % 4;

			if (c)
				buf[n++] = ',';
			if (k == 0)
				continue; /* null */
			if (k == 1) {
				n += (size_t)snprintf(buf + n, cap - n, "v%llu",
						      (unsigned long long)(tu_rand(seed) % 1000));
				continue;
			}
			buf[n++] = '"';
			for (uint64_t j = tu_rand(seed) % 6; j > 0; j--) {
				const char *p = frag[tu_rand(seed) % 10];

				for (; *p; p++) {
					if (*p == '"')
						buf[n++] = '"';
					buf[n++] = *p;
				}
			}
			buf[n++] = '"';
		}
		if (tu_rand(seed) % 3 == 0)
			buf[n++] = '\r';
		buf[n++] = '\n';
	}
	*len = n;
	return buf;
}

static void test_split_points(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	uint64_t seed = 42;
	size_t ncols = 3, rounds = tu_quick() ? 4 : 12;
	eau2_schema *schema = NULL;

	tu_ok(eau2_schema_parse("c0:string,c1:string,c2:string", &schema, &err), &err);
	for (size_t round = 0; round < rounds; round++) {
		size_t len, rows = 20 + round * 7;
		char *data = random_csv(&seed, rows, ncols, &len);
		struct naive nv;
		eau2_df *one = NULL;

		naive_parse(data, len, &nv);
		assert_int_equal(nv.nrows, rows);
		tu_put_file(f, "split.csv", data, len);
		/* Every piece size from 1 byte up: split points fall on every
		 * byte, quoted newlines and CRLFs included. */
		for (size_t piece = 1; piece <= len + 1; piece += 1 + piece / 8) {
			struct eau2_load_options opt = { .no_header = true, .schema = schema,
							 .threads = piece == 1 ? 1 : 7 };
			eau2_df *df = NULL;

			eau2_load_tune.piece_bytes = piece;
			tu_ok(eau2_load(f->db, f->path, &opt, &df, NULL, &err), &err);
			assert_int_equal(eau2_df_rows(df), rows);
			for (size_t r = 0; r < rows; r++)
				for (size_t c = 0; c < ncols; c++)
					want_str(df, c, r, nv.rows[r][c]);
			if (!one)
				one = df;
			else
				eau2_df_release(df);
		}
		/* Inferred types on 7 threads match one thread. */
		{
			struct eau2_load_options o1 = { .no_header = true, .threads = 1 };
			struct eau2_load_options o7 = { .no_header = true, .threads = 7 };
			eau2_df *a = NULL, *b = NULL;

			eau2_load_tune.piece_bytes = 0;
			tu_ok(eau2_load(f->db, f->path, &o1, &a, NULL, &err), &err);
			eau2_load_tune.piece_bytes = 5;
			tu_ok(eau2_load(f->db, f->path, &o7, &b, NULL, &err), &err);
			assert_int_equal(eau2_df_rows(a), eau2_df_rows(b));
			for (size_t c = 0; c < ncols; c++) {
				assert_int_equal(eau2_schema_type(eau2_df_schema(a), c),
						 eau2_schema_type(eau2_df_schema(b), c));
				for (size_t r = 0; r < rows; r++) {
					const char *s1, *s2;
					size_t n1, n2;
					int r1 = eau2_df_get_string(a, c, r, &s1, &n1, NULL);
					int r2 = eau2_df_get_string(b, c, r, &s2, &n2, NULL);

					assert_int_equal(r1, r2);
					if (r1 == 0) {
						assert_int_equal(n1, n2);
						assert_memory_equal(s1, s2, n1);
					}
				}
			}
			eau2_df_release(a);
			eau2_df_release(b);
		}
		eau2_df_release(one);
		naive_free(&nv);
		free(data);
	}
	eau2_schema_free(schema);
}

/* Columns the sample sees only nulls of take the type of the values
 * after it, as a whole-file sample would give them (1 thread, default
 * sample), however the windows fall; an all-null column stays a string
 * column, quoted values make strings, and ints that all read 0/1 bools. */
static void test_unseen_in_sample(void **state)
{
	static const char want_types[] = "isbdss";
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	size_t rows = tu_quick() ? 3000 : 20000, cap = rows * 48, n = 0;
	char *buf = malloc(cap), last[32];

	snprintf(last, sizeof(last), "%zu", rows - 1);
	n += (size_t)snprintf(buf + n, cap - n, "i,s,b,d,q,z\n");
	for (size_t r = 0; r < rows; r++) {
		bool head = r < rows - rows / 20; /* all the sample windows see */

		if (head)
			n += (size_t)snprintf(buf + n, cap - n, ",,,,,\n");
		else
			n += (size_t)snprintf(buf + n, cap - n, "%zu,%s,%s,%zu.5,\"%zu\",\n",
					      r, r % 5 ? "x" : "", r % 2 ? "1" : "true", r, r);
	}
	tu_put_file(f, "u.csv", buf, n);
	for (int way = 0; way < 3; way++) {
		struct eau2_load_options opt = { .threads = way ? 3 : 1 };
		const eau2_schema *sc;
		eau2_df *df = NULL;

		eau2_load_tune.sample_bytes = way ? 64 : 0;
		eau2_load_tune.samples = way ? 2 : 0;
		eau2_load_tune.piece_bytes = way == 2 ? 997 : 0;
		tu_ok(eau2_load(f->db, f->path, &opt, &df, NULL, &err), &err);
		sc = eau2_df_schema(df);
		assert_int_equal(eau2_df_rows(df), rows);
		for (size_t c = 0; c < 6; c++) {
			enum eau2_type t = eau2_schema_type(sc, c);
			char got = t == EAU2_INT ? 'i' : t == EAU2_BOOL ? 'b' :
				t == EAU2_DOUBLE ? 'd' : 's';

			if (got != want_types[c])
				fail_msg("way %d: column %zu is %s", way, c, eau2_type_name(t));
		}
		want_null(df, 0, 0);
		want_int(df, 0, rows - 1, (int64_t)rows - 1);
		want_str(df, 4, rows - 1, last);
		want_null(df, 5, rows - 1);
		eau2_df_release(df);
	}
	eau2_load_tune.sample_bytes = 0;
	eau2_load_tune.samples = 0;
	eau2_load_tune.piece_bytes = 0;
	free(buf);
}

/* ------------------------------------------------------- guessed splits */

/* Rows 0..n-1 of a, b, c: a clean head (the first sample window), then
 * every third row's c a quoted field over several lines that read like
 * records of other shapes and kinds from inside (a wrong piece start
 * sees a record of 4 fields, text in column a, an unclosed quote). With
 * widen, the last row's a is written "r.0": a widens to double. */
static char *multiline_csv(size_t n, size_t head, bool widen, size_t *len)
{
	size_t cap = 64 + n * 96, k = 0;
	char *buf = malloc(cap);

	k += (size_t)snprintf(buf + k, cap - k, "a,b,c\n");
	for (size_t r = 0; r < n; r++) {
		if (r >= head && r % 3 == 0)
			k += (size_t)snprintf(buf + k, cap - k,
					      "%zu,%zu.5,\"l1\nx,y,z,w\ntext,1.5,\"\"q\n%zu\"\n",
					      r, r, r);
		else if (widen && r == n - 1)
			k += (size_t)snprintf(buf + k, cap - k, "%zu.0,%zu.5,s%zu\n", r, r, r);
		else
			k += (size_t)snprintf(buf + k, cap - k, "%zu,%zu.5,s%zu\n", r, r, r);
	}
	*len = k;
	return buf;
}

static void check_multiline(eau2_df *df, size_t n, size_t head, bool widen)
{
	const eau2_schema *sc = eau2_df_schema(df);
	char want[64];

	assert_int_equal(eau2_df_rows(df), n);
	assert_int_equal(eau2_schema_type(sc, 0), widen ? EAU2_DOUBLE : EAU2_INT);
	assert_int_equal(eau2_schema_type(sc, 1), EAU2_DOUBLE);
	assert_int_equal(eau2_schema_type(sc, 2), EAU2_STRING);
	for (size_t r = 0; r < n; r++) {
		double d;

		if (widen) {
			assert_int_equal(eau2_df_get_double(df, 0, r, &d, NULL), 0);
			assert_true(d == (double)r);
		} else {
			want_int(df, 0, r, (int64_t)r);
		}
		assert_int_equal(eau2_df_get_double(df, 1, r, &d, NULL), 0);
		assert_true(d == (double)r + 0.5);
		if (r >= head && r % 3 == 0)
			snprintf(want, sizeof(want), "l1\nx,y,z,w\ntext,1.5,\"q\n%zu", r);
		else
			snprintf(want, sizeof(want), "s%zu", r);
		want_str(df, 2, r, want);
	}
}

/* multiline_csv(n, head) loads right in pieces of `piece` bytes on 4
 * threads with no pass dropped for a missplit. */
static void load_no_missplit(struct tu_fx *f, size_t n, size_t head, size_t piece)
{
	struct eau2_load_options opt = { .threads = 4 };
	struct eau2_error err = { 0 };
	size_t len;
	char *text = multiline_csv(n, head, false, &len);
	eau2_df *df = NULL;
	unsigned before = atomic_load(&eau2_load_tune.csv_missplits);

	tu_put_file(f, "ml0.csv", text, len);
	eau2_load_tune.piece_bytes = piece;
	tu_ok(eau2_load(f->db, f->path, &opt, &df, NULL, &err), &err);
	assert_int_equal(atomic_load(&eau2_load_tune.csv_missplits), before);
	check_multiline(df, n, head, false);
	eau2_df_release(df);
	free(text);
}

static void test_split_guess(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	size_t n = tu_quick() ? 300 : 1200, head = 40, len;
	char *data = multiline_csv(n, head, false, &len);
	char *wide = multiline_csv(n, head, true, &len);
	unsigned before;

	eau2_load_tune.sample_bytes = 200;
	eau2_load_tune.samples = 3;
	/* Pieces of every size around a record: many guesses land inside a
	 * quoted newline; the load is the one-thread load all the same. */
	for (size_t piece = 13; piece < 400; piece += 29) {
		struct eau2_load_options opt = { .threads = 4 };
		bool w = piece % 2; /* a genuine widening after the missplit */
		eau2_df *df = NULL;

		len = strlen(w ? wide : data);
		tu_put_file(f, "ml.csv", w ? wide : data, len);
		eau2_load_tune.piece_bytes = piece;
		before = atomic_load(&eau2_load_tune.csv_missplits);
		tu_ok(eau2_load(f->db, f->path, &opt, &df, NULL, &err), &err);
		assert_int_equal(atomic_load(&eau2_load_tune.csv_missplits), before + 1);
		check_multiline(df, n, head, w);
		eau2_df_release(df);
	}
	/* A quoted newline in the first window: split exactly at once. No
	 * quote at all: every guess is right. */
	load_no_missplit(f, n, 0, 61);
	load_no_missplit(f, n, n, 50);
	/* Errors past wrong guesses are the file's own, at their place: a
	 * short record, an unclosed quote in a middle piece, with a schema
	 * (no sample) and without. */
	{
		struct eau2_load_options opt = { .threads = 3 };
		eau2_schema *schema = NULL;

		eau2_load_tune.piece_bytes = 7;
		expect_error(f, "a,b\n1,2\n3,\"x\ny,z\n\"\n5,\"p\nq\"\n6\n7,8\n", &opt, "8:1",
			     "expected 2 fields, got 1");
		expect_error(f, "a,b\n1,2\n3,\"x\ny\"\n4,\"abc\n5,6\n7,8\n9,10\n", &opt, "5:3",
			     "unterminated quoted field");
		tu_ok(eau2_schema_parse("a:int,b:string", &schema, &err), &err);
		opt.schema = schema;
		expect_error(f, "a,b\n1,2\n3,\"x\ny,z\n\"\n5,\"p\nq\"\n6\n7,8\n", &opt, "8:1",
			     "expected 2 fields, got 1");
		expect_error(f, "a,b\n1,2\n3,\"x\ny\"\n4,\"abc\n5,6\n7,8\n9,10\n", &opt, "5:3",
			     "unterminated quoted field");
		opt.schema = NULL;
		eau2_schema_free(schema);
	}
	eau2_load_tune.piece_bytes = 0;
	eau2_load_tune.sample_bytes = 0;
	eau2_load_tune.samples = 0;
	free(data);
	free(wide);
}

/* --------------------------------------------------------- numbers, misc */

static void test_double_parse(void **state)
{
	uint64_t seed = 7;
	char buf[64];
	size_t n = tu_quick() ? 20000 : 200000;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		double want, got;
		int len;

		switch (tu_rand(&seed) % 4) {
		case 0:
			len = snprintf(buf, sizeof(buf), "%llu.%llu",
				       (unsigned long long)(tu_rand(&seed) % 100000000),
				       (unsigned long long)(tu_rand(&seed) % 10000000));
			break;
		case 1:
			len = snprintf(buf, sizeof(buf), "-%llue%d",
				       (unsigned long long)(tu_rand(&seed) >> (tu_rand(&seed) % 64)),
				       (int)(tu_rand(&seed) % 80) - 40);
			break;
		case 2: {
			double d;
			uint64_t bits = tu_rand(&seed);

			memcpy(&d, &bits, 8);
			if (!isfinite(d))
				d = 1.0 / 3;
			len = snprintf(buf, sizeof(buf), "%.*g", (int)(tu_rand(&seed) % 17) + 1, d);
			break;
		}
		default:
			len = snprintf(buf, sizeof(buf), "0.%019llu",
				       (unsigned long long)(tu_rand(&seed) % 10000000000000000000ull));
			break;
		}
		want = strtod(buf, NULL);
		assert_true(eau2_load_parse_f64(buf, (size_t)len, &got));
		if (memcmp(&want, &got, sizeof(got)))
			fail_msg("%s: got %.17g want %.17g", buf, got, want);
		{
			int64_t a;
			int64_t x = (int64_t)tu_rand(&seed) >> (tu_rand(&seed) % 64);

			len = snprintf(buf, sizeof(buf), "%lld", (long long)x);
			assert_true(eau2_load_parse_i64(buf, (size_t)len, &a));
			assert_int_equal(a, x);
		}
	}
	{
		double d;
		int64_t v;

		assert_false(eau2_load_parse_f64(" 1", 2, &d));
		assert_false(eau2_load_parse_f64("1e", 2, &d));
		assert_false(eau2_load_parse_f64(".", 1, &d));
		assert_false(eau2_csv_parse_f64("0x10", 4, &d));
		assert_true(eau2_load_parse_f64("0x10", 4, &d) && d == 16);
		assert_true(eau2_load_parse_f64("-inf", 4, &d) && isinf(d) && d < 0);
		assert_true(eau2_load_parse_f64("nan", 3, &d) && isnan(d));
		assert_true(eau2_load_parse_i64("-9223372036854775808", 20, &v) && v == INT64_MIN);
		assert_false(eau2_load_parse_i64("9223372036854775808", 19, &v));
		assert_false(eau2_load_parse_i64("-", 1, &v));
	}
}

struct prog {
	int calls;
	uint64_t last, total;
	bool monotone;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct prog *p = ctx;

	p->monotone = p->monotone && done >= p->last && done <= total;
	p->last = done;
	p->total = total;
	p->calls++;
}

static void test_progress(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct prog p = { .monotone = true };
	struct eau2_load_options opt = { .progress = on_progress, .progress_ctx = &p,
					 .threads = 2 };
	eau2_df *df = NULL;

	tu_ok(load_str(f, "a\n1\n2\n", &opt, &df, NULL, &err), &err);
	assert_true(p.calls >= 1);
	assert_true(p.monotone);
	assert_int_equal(p.last, 6);
	assert_int_equal(p.total, 6);
	eau2_df_release(df);
}

/* --from/--len: a byte range aligned to records as SoR aligns it to lines
 * (the record holding `from` is skipped; a record whose newline is not
 * inside the range is dropped), quote-aware (a newline inside quotes is
 * not a record end), the header read from the file's start. */
static void test_range(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	/* header [0,4), record 1 [4,13) with a quoted newline at 9, 2
	 * [13,18), 3 [18,23) */
	static const char data[] = "a,b\n10,\"x\ny\"\n20,z\n30,w\n";
	static const struct { uint64_t from, len, nrows; int64_t first; } c[] = {
		{ 6, 0, 2, 20 },   /* inside record 1: skipped */
		{ 9, 0, 2, 20 },   /* on record 1's quoted newline */
		{ 4, 0, 2, 20 },   /* at record 1's start: skipped too */
		{ 0, 16, 1, 10 },  /* record 2's newline is byte 17 */
		{ 0, 13, 1, 10 },  /* record 1's newline is byte 12 */
		{ 3, 15, 2, 10 },  /* records 1 and 2 */
		{ 13, 5, 0, 0 },   /* record 3 ends past 18 */
		{ 14, 0, 1, 30 },  /* to the end */
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct eau2_load_options opt = { .from = c[i].from, .len = c[i].len };
		eau2_df *df = NULL;

		tu_ok(load_str(f, data, &opt, &df, NULL, &err), &err);
		if (eau2_df_rows(df) != c[i].nrows)
			fail_msg("from %llu len %llu: %llu rows, want %llu",
				 (unsigned long long)c[i].from, (unsigned long long)c[i].len,
				 (unsigned long long)eau2_df_rows(df),
				 (unsigned long long)c[i].nrows);
		assert_int_equal(eau2_df_ncols(df), 2);
		assert_string_equal(eau2_schema_name(eau2_df_schema(df), 1), "b");
		if (c[i].nrows) {
			want_int(df, 0, 0, c[i].first);
			want_str(df, 1, 0, c[i].first == 10 ? "x\ny" :
				 c[i].first == 20 ? "z" : "w");
		}
		eau2_df_release(df);
	}
	/* A range cut into many pieces on several threads gives what one
	 * thread gives. */
	{
		size_t cap = 400000, n = 0;
		char *big = malloc(cap);
		eau2_df *a = NULL, *b = NULL;

		assert_non_null(big);
		n += (size_t)snprintf(big + n, cap - n, "id,s\n");
		for (int i = 0; i < 8000; i++)
			n += (size_t)snprintf(big + n, cap - n, i % 7 ? "%d,\"q\n%d\"\n" :
					      "%d,plain%d\n", i, i);
		for (int r = 0; r < 4; r++) {
			struct eau2_load_options o1 = { .threads = 1 }, o4 = { .threads = 4 };

			o1.from = o4.from = n / 7 * (size_t)r + 3;
			o1.len = o4.len = r == 3 ? 0 : n / 3;
			memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
			tu_ok(load_str(f, big, &o1, &a, NULL, &err), &err);
			eau2_load_tune.piece_bytes = 997;
			tu_ok(eau2_load(f->db, f->path, &o4, &b, NULL, &err), &err);
			assert_true(eau2_df_rows(a) > 1000);
			assert_int_equal(eau2_df_rows(a), eau2_df_rows(b));
			for (uint64_t k = 0; k < eau2_df_rows(a); k += 97) {
				int64_t x, y;

				assert_int_equal(eau2_df_get_int(a, 0, k, &x, NULL), 0);
				assert_int_equal(eau2_df_get_int(b, 0, k, &y, NULL), 0);
				assert_int_equal(x, y);
			}
			eau2_df_release(a);
			eau2_df_release(b);
		}
		memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
		free(big);
	}
	{
		struct eau2_load_options opt = { .from = 23 };
		eau2_df *df = NULL;

		assert_int_equal(load_str(f, data, &opt, &df, NULL, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "--from 23 is past the end of the file (23 bytes)"));
	}
}

/* What the progress callback does to the file under load, once. */
struct tamper {
	const char *path;
	int mode; /* 0: truncate to 100 kB; 1: overwrite in place, same size */
	int done;
};

static void on_progress_tamper(void *ctx, uint64_t done, uint64_t total)
{
	struct tamper *t = ctx;
	int fd;

	(void)total;
	if (t->done || done == 0 || done >= total)
		return;
	t->done = 1;
	fd = open(t->path, O_WRONLY);
	assert_true(fd >= 0);
	if (t->mode == 0) {
		assert_int_equal(ftruncate(fd, 100000), 0);
	} else {
		/* another file of the same size: every digit of the head
		 * changed */
		static const char head[] = "9999999,zzzzzzzz,9999\n";

		assert_int_equal(pwrite(fd, head, sizeof(head) - 1, 0),
				 (ssize_t)sizeof(head) - 1);
	}
	close(fd);
}

/* The input truncated, or overwritten at the same size, while it loads
 * (after its first piece, from the progress callback): never a SIGBUS,
 * never a dataframe of a mixed file, but -EIO naming the file; CSV, SoR
 * and lines alike. */
/* Fills buf (cap + 64 bytes) with at least cap bytes of rows (id, name,
 * qty) as CSV with a header (fmt 0), SoR (1) or lines (2); their length. */
static size_t fill_rows(char *buf, size_t cap, int fmt)
{
	size_t n = 0;

	if (fmt == 0)
		n += (size_t)snprintf(buf, cap, "id,name,qty\n");
	for (int i = 0; n < cap; i++)
		n += (size_t)snprintf(buf + n, cap + 64 - n,
				      fmt == 1 ? "<%d> <name%d> <%d>\n" : "%07d,name%04d,%04d\n",
				      i, i % 7919, i % 1000);
	return n;
}

static void test_changed_while_loading(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	static const char *const names[] = { "t.csv", "t.sor", "t.txt" };
	size_t cap = 2u << 20, n = 0;
	char *buf = malloc(cap + 64);

	assert_non_null(buf);
	for (int fmt = 0; fmt < 3; fmt++) {
		for (int mode = 0; mode < 2; mode++) {
			struct tamper t = { .mode = mode };
			struct eau2_load_options opt = { .threads = 1,
							 .progress = on_progress_tamper,
							 .progress_ctx = &t };
			eau2_df *df = NULL;
			int rc;

			n = fill_rows(buf, cap, fmt);
			t.path = tu_put_file(f, names[fmt], buf, n);
			eau2_load_tune.piece_bytes = 64u << 10;
			eau2_load_tune.progress_bytes = 64u << 10;
			rc = eau2_load(f->db, t.path, &opt, &df, NULL, &err);
			assert_true(t.done);
			if (rc != -EIO)
				fail_msg("%s, %s: %d (%s), want -EIO", names[fmt],
					 mode ? "overwritten" : "truncated", rc, err.msg);
			assert_null(df);
			assert_non_null(strstr(err.msg, names[fmt]));
			assert_non_null(strstr(err.msg, "truncated or written to while"));
		}
	}
	memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
	free(buf);
}

struct stopper {
	unsigned calls;
	uint64_t groups; /* the builder's when it said stop */
};

static bool stop_at_first(void *arg, eau2_builder *root)
{
	struct stopper *s = arg;

	s->calls++;
	s->groups = eau2_builder_groups(root);
	return false;
}

static size_t files_in(const char *dir, const char *sub)
{
	char path[4200];
	struct dirent *d;
	size_t n = 0;
	DIR *dp;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	assert_non_null(dp = opendir(path));
	while ((d = readdir(dp)))
		n += d->d_name[0] != '.';
	closedir(dp);
	return n;
}

/* A joined hook that says stop ends the load of every format at once:
 * no piece is parsed after it, the load fails with -ECANCELED, and
 * nothing is left in the store. */
static void test_stopped_by_hook(void **state)
{
	struct tu_fx *f = *state;
	static const char *const names[] = { "s.csv", "s.sor", "s.txt" };
	size_t cap = 1u << 20;
	char *buf = malloc(cap + 64);

	assert_non_null(buf);
	for (int fmt = 0; fmt < 3; fmt++) {
		struct eau2_load_options opt = { .threads = 1 };
		struct eau2_error err = { 0 };
		struct stopper st = { 0 };
		size_t n, before = files_in(f->dir, "data");
		eau2_df *df = NULL;
		const char *path;
		int rc;

		n = fill_rows(buf, cap, fmt);
		path = tu_put_file(f, names[fmt], buf, n);
		/* About 16 pieces: each join on the one thread calls the hook. */
		eau2_load_tune.piece_bytes = 64u << 10;
		rc = eau2_load_stream_in(f->db->store, path, &opt, stop_at_first, &st, &df, NULL,
					 &err);
		eau2_load_tune.piece_bytes = 0;
		if (rc != -ECANCELED)
			fail_msg("%s: %d (%s), want -ECANCELED", names[fmt], rc, err.msg);
		assert_null(df);
		assert_non_null(strstr(err.msg, names[fmt]));
		assert_non_null(strstr(err.msg, "load stopped by its caller"));
		assert_int_equal(st.calls, 1);
		assert_true(st.groups >= 1);
		assert_int_equal(files_in(f->dir, "data"), before);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_types, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_quoting, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_delim_noheader, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_header_only, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_errors, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_skip, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_widening, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_unseen_in_sample, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_split_points, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_split_guess, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_range, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_changed_while_loading, tu_fx_setup,
						tu_fx_teardown),
		cmocka_unit_test(test_double_parse),
		cmocka_unit_test_setup_teardown(test_progress, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stopped_by_hook, tu_fx_setup, tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
