/* SPDX-License-Identifier: MIT */
/*
 * test_sor.c - the SoR loader: type inference over the first 500 lines,
 * padding of short rows, skipped rows with their file:line:column, byte
 * ranges, spacing and quoting rules.
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

static int load(struct tu_fx *f, const char *data, size_t n, const struct eau2_load_options *opt,
		eau2_df **df, struct eau2_load_stats *st, struct eau2_error *err)
{
	return eau2_load(f->db, tu_put_file(f, "t.sor", data, n), opt, df, st, err);
}

#define LOAD(f, lit, opt, df, st, err) load(f, lit, sizeof(lit) - 1, opt, df, st, err)

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
		fail_msg("row %llu col %zu: \"%.*s\", want \"%s\"", (unsigned long long)row,
			 col, (int)n, s, want);
}

static enum eau2_type type(eau2_df *df, size_t c)
{
	return eau2_schema_type(eau2_df_schema(df), c);
}

static void test_inference(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_stats st;
	eau2_df *df = NULL;
	int64_t i;
	double d;
	bool b;

	tu_ok(LOAD(f, "<1> <23> <1.5> <hello> <\"a b\"> <> <+1> <0x10>\n"
		   "  < 0 >< -5 >  <2>   <x> <> <> <0> <inf>\r\n"
		   "<1>\n", NULL, &df, &st, &err), &err);
	assert_int_equal(eau2_df_ncols(df), 8);
	assert_int_equal(eau2_df_rows(df), 3);
	assert_int_equal(st.rows, 3);
	assert_int_equal(st.skipped, 0);
	assert_string_equal(eau2_schema_name(eau2_df_schema(df), 7), "c7");
	assert_int_equal(type(df, 0), EAU2_BOOL);
	assert_int_equal(type(df, 1), EAU2_INT);
	assert_int_equal(type(df, 2), EAU2_DOUBLE);
	assert_int_equal(type(df, 3), EAU2_STRING);
	assert_int_equal(type(df, 4), EAU2_STRING);
	assert_int_equal(type(df, 5), EAU2_BOOL); /* all missing */
	assert_int_equal(type(df, 6), EAU2_INT);  /* +1 is an INT, 0 a BOOL */
	assert_int_equal(type(df, 7), EAU2_DOUBLE);
	assert_int_equal(eau2_df_get_bool(df, 0, 0, &b, NULL), 0);
	assert_true(b);
	assert_int_equal(eau2_df_get_bool(df, 0, 1, &b, NULL), 0);
	assert_false(b);
	assert_int_equal(eau2_df_get_int(df, 1, 1, &i, NULL), 0);
	assert_int_equal(i, -5);
	assert_int_equal(eau2_df_get_double(df, 2, 1, &d, NULL), 0);
	assert_true(d == 2.0);
	want_str(df, 3, 0, "hello");
	want_str(df, 4, 0, "a b");
	want_str(df, 4, 1, NULL);
	assert_int_equal(eau2_df_get_int(df, 6, 1, &i, NULL), 0);
	assert_int_equal(i, 0);
	assert_int_equal(eau2_df_get_double(df, 7, 0, &d, NULL), 0);
	assert_true(d == 16.0);
	assert_int_equal(eau2_df_get_double(df, 7, 1, &d, NULL), 0);
	assert_true(isinf(d));
	/* Padding: row 2 has one field. */
	assert_int_equal(eau2_df_get_int(df, 1, 2, &i, NULL), EAU2_NULL);
	want_str(df, 3, 2, NULL);
	eau2_df_release(df);

	/* A string column takes numbers as their text. */
	tu_ok(LOAD(f, "<1>\n<abc>\n<2.50>\n", NULL, &df, NULL, &err), &err);
	assert_int_equal(type(df, 0), EAU2_STRING);
	want_str(df, 0, 0, "1");
	want_str(df, 0, 2, "2.50");
	eau2_df_release(df);
}

static const struct eau2_load_options skip = { .on_error = EAU2_ON_ERROR_SKIP };

static void test_first_500(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_stats st;
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap);
	char want[4200];
	eau2_df *df = NULL;
	int64_t v;

	for (int i = 0; i < 500; i++)
		n += (size_t)snprintf(buf + n, cap - n, "<%d> <%d>\n", i & 1, i);
	/* After line 500: nothing widens or adds columns any more. */
	n += (size_t)snprintf(buf + n, cap - n, "<1> <2> <3>\n");       /* 501: too long */
	n += (size_t)snprintf(buf + n, cap - n, "<1> <hello>\n");       /* 502: no fit */
	n += (size_t)snprintf(buf + n, cap - n, "<1.5> <7>\n");         /* 503: no fit */
	n += (size_t)snprintf(buf + n, cap - n, "<0> <a b>\n");         /* 504: invalid */
	n += (size_t)snprintf(buf + n, cap - n, "<1> <8\n");            /* 505: invalid */
	n += (size_t)snprintf(buf + n, cap - n, "x <1> <8>\n");         /* 506: invalid */
	n += (size_t)snprintf(buf + n, cap - n, "<0> <9>\n");           /* fine */
	n += (size_t)snprintf(buf + n, cap - n, "\n");                  /* all missing */
	tu_ok(load(f, buf, n, &skip, &df, &st, &err), &err);
	assert_int_equal(eau2_df_ncols(df), 2);
	assert_int_equal(type(df, 0), EAU2_BOOL);
	assert_int_equal(type(df, 1), EAU2_INT);
	assert_int_equal(eau2_df_rows(df), 502);
	assert_int_equal(st.skipped, 6);
	assert_int_equal(eau2_df_get_int(df, 1, 500, &v, NULL), 0);
	assert_int_equal(v, 9);
	assert_int_equal(eau2_df_get_int(df, 1, 501, &v, NULL), EAU2_NULL);
	snprintf(want, sizeof(want), "%s:501:1: 3 fields, the schema has 2", f->path);
	assert_string_equal(st.where[0], want);
	snprintf(want, sizeof(want), "%s:502:6: column c1: \"hello\" does not fit int", f->path);
	assert_string_equal(st.where[1], want);
	snprintf(want, sizeof(want), "%s:503:2: column c0", f->path);
	assert_memory_equal(st.where[2], want, strlen(want));
	snprintf(want, sizeof(want), "%s:504:8: space inside", f->path);
	assert_memory_equal(st.where[3], want, strlen(want));
	snprintf(want, sizeof(want), "%s:505:7: missing '>'", f->path);
	assert_memory_equal(st.where[4], want, strlen(want));
	eau2_df_release(df);
	/* on_error fail (the default): the first bad row fails the load. */
	assert_int_equal(load(f, buf, n, NULL, &df, &st, &err), -EBADMSG);
	assert_null(df);
	snprintf(want, sizeof(want), "%s:501:1: 3 fields, the schema has 2", f->path);
	assert_string_equal(err.msg, want);
	free(buf);
}

static void test_range(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_stats st;
	struct eau2_load_options opt = { 0 };
	eau2_df *df = NULL;
	int64_t v;
	/* Lines start at offsets 0, 5, 10, 15, 20. */
	static const char data[] = "<10>\n<11>\n<12>\n<13>\n<14>";

	/* from inside line 0: starts at line 1; len cuts line 3 in half. */
	opt.from = 2;
	opt.len = 15;
	tu_ok(LOAD(f, data, &opt, &df, &st, &err), &err);
	assert_int_equal(eau2_df_rows(df), 2);
	assert_int_equal(eau2_df_get_int(df, 0, 0, &v, NULL), 0);
	assert_int_equal(v, 11);
	assert_int_equal(eau2_df_get_int(df, 0, 1, &v, NULL), 0);
	assert_int_equal(v, 12);
	eau2_df_release(df);

	/* from at a line start still skips that line; len 0 runs to the
	 * end, where a last line without newline counts. */
	opt.from = 10;
	opt.len = 0;
	tu_ok(LOAD(f, data, &opt, &df, &st, &err), &err);
	assert_int_equal(eau2_df_rows(df), 2);
	assert_int_equal(eau2_df_get_int(df, 0, 0, &v, NULL), 0);
	assert_int_equal(v, 13);
	assert_int_equal(eau2_df_get_int(df, 0, 1, &v, NULL), 0);
	assert_int_equal(v, 14);
	eau2_df_release(df);

	/* A range past the end is empty: no fields to infer from. */
	opt.from = 100;
	assert_int_equal(LOAD(f, data, &opt, &df, &st, &err), -EINVAL);
	assert_null(df);
	assert_non_null(strstr(err.msg, "t.sor"));
}

static void test_schema_and_empty(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_stats st;
	struct eau2_load_options opt = { 0 };
	eau2_schema *schema = NULL;
	eau2_df *df = NULL;
	double d;

	assert_int_equal(LOAD(f, "", NULL, &df, NULL, &err), -EINVAL);
	tu_ok(eau2_schema_parse("x:double,y:string,z:bool", &schema, &err), &err);
	opt.schema = schema;
	opt.on_error = EAU2_ON_ERROR_SKIP;
	tu_ok(LOAD(f, "", &opt, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), 0);
	eau2_df_release(df);
	tu_ok(LOAD(f, "<1> <2> <1>\n<7> <\"q\"> <2>\n<1e3>\n", &opt, &df, &st, &err), &err);
	assert_int_equal(eau2_df_rows(df), 2);
	assert_int_equal(st.skipped, 1); /* 2 is not a BOOL */
	assert_int_equal(eau2_df_get_double(df, 0, 0, &d, NULL), 0);
	assert_true(d == 1.0);
	assert_int_equal(eau2_df_get_double(df, 0, 1, &d, NULL), 0);
	assert_true(d == 1000.0);
	want_str(df, 1, 0, "2");
	eau2_df_release(df);
	eau2_schema_free(schema);

	/* NUL bytes make a row invalid, not a crash. */
	{
		static const char bin[] = "<1>\n<a\0b>\n<0>\n";

		tu_ok(load(f, bin, sizeof(bin) - 1, &skip, &df, &st, &err), &err);
		assert_int_equal(eau2_df_rows(df), 2);
		assert_int_equal(st.skipped, 1);
		eau2_df_release(df);
	}
}

/* Errors name file:line:column and what is wrong: a NUL, an unterminated
 * '<', a row of more than EAU2_COLS_MAX fields (also when no valid row is
 * left to infer from), and a --from past the end. */
static void test_errors(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	struct eau2_load_options opt = { 0 };
	eau2_df *df = NULL;
	char want[4200], *wide;
	size_t n = 0;

	assert_int_equal(load(f, "<1>\n<a\0b>\n", 10, NULL, &df, NULL, &err), -EBADMSG);
	snprintf(want, sizeof(want), "%s:2:2: bad character in field", f->path);
	assert_string_equal(err.msg, want);
	/* Only bad rows: the first one is the error, not "no fields". */
	assert_int_equal(load(f, "<a\0b>\n", 6, NULL, &df, NULL, &err), -EBADMSG);
	snprintf(want, sizeof(want), "%s:1:2: bad character in field", f->path);
	assert_memory_equal(err.msg, want, strlen(want));
	assert_int_equal(LOAD(f, "<1> <2>\n<3> <4\n", NULL, &df, NULL, &err), -EBADMSG);
	snprintf(want, sizeof(want), "%s:2:7: missing '>'", f->path);
	assert_string_equal(err.msg, want);
	assert_int_equal(LOAD(f, "\n  <12\n", &skip, &df, NULL, &err), -EBADMSG);
	snprintf(want, sizeof(want), "%s:2:6: missing '>'", f->path);
	assert_memory_equal(err.msg, want, strlen(want));
	assert_non_null(strstr(err.msg, "no valid SoR row"));

	wide = malloc(4 * (EAU2_COLS_MAX + 1) + 16);
	assert_non_null(wide);
	for (int i = 0; i <= EAU2_COLS_MAX; i++)
		n += (size_t)sprintf(wide + n, "<1>");
	wide[n++] = '\n';
	assert_int_equal(load(f, wide, n, &skip, &df, NULL, &err), -EBADMSG);
	snprintf(want, sizeof(want), "%s:1:1: %d fields, more than %d", f->path,
		 EAU2_COLS_MAX + 1, EAU2_COLS_MAX);
	assert_memory_equal(err.msg, want, strlen(want));
	free(wide);

	opt.from = 24;
	assert_int_equal(LOAD(f, "<1>\n<2>\n", &opt, &df, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--from 24 is past the end of the file (8 bytes)"));
	assert_null(df);
}

static bool same(eau2_df *a, eau2_df *b, size_t c, uint64_t r)
{
	switch (type(a, c)) {
	case EAU2_BOOL: {
		bool x = 0, y = 0;

		return eau2_df_get_bool(a, c, r, &x, NULL) == eau2_df_get_bool(b, c, r, &y, NULL) &&
		       x == y;
	}
	case EAU2_INT: {
		int64_t x = 0, y = 0;

		return eau2_df_get_int(a, c, r, &x, NULL) == eau2_df_get_int(b, c, r, &y, NULL) &&
		       x == y;
	}
	case EAU2_DOUBLE: {
		double x = 0, y = 0;

		return eau2_df_get_double(a, c, r, &x, NULL) ==
		       eau2_df_get_double(b, c, r, &y, NULL) && !memcmp(&x, &y, sizeof(x));
	}
	default: {
		const char *x = NULL, *y = NULL;
		size_t nx = 0, ny = 0;
		int ra = eau2_df_get_string(a, c, r, &x, &nx, NULL);

		return ra == eau2_df_get_string(b, c, r, &y, &ny, NULL) &&
		       (ra || (nx == ny && !memcmp(x, y, nx)));
	}
	}
}

/* Tiny pieces on several threads give what one thread gives, with the
 * same skipped rows and messages, for whole files and byte ranges. */
static void test_parallel(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = { 0 };
	static const char *fields[] = { "<1>", "<0>", "<-7>", "<2.5>", "<word>", "<\"a b\">",
					"<>", "<a b>", "<1", "x" };
	uint64_t seed = 11;
	size_t lines = tu_quick() ? 150 : 700, cap = lines * 64, n = 0;
	char *buf = malloc(cap);

	for (size_t i = 0; i < lines; i++) {
		size_t k = tu_rand(&seed) % 4;

		for (size_t j = 0; j < k; j++) {
			/* Invalid fields are rare, so most rows load. */
			size_t pick = tu_rand(&seed) % 10;

			if (pick >= 7 && tu_rand(&seed) % 4)
				pick = 0;
			n += (size_t)snprintf(buf + n, cap - n, "%s ", fields[pick]);
		}
		buf[n++] = '\n';
	}
	for (int range = 0; range < 3; range++) {
		struct eau2_load_options o1 = { .threads = 1, .on_error = EAU2_ON_ERROR_SKIP },
					 o4 = { .threads = 4, .on_error = EAU2_ON_ERROR_SKIP };
		struct eau2_error e1 = { 0 }, e4 = { 0 };
		struct eau2_load_stats s1, s4;
		eau2_df *a = NULL;

		if (range) {
			o1.from = o4.from = n / 5 * (size_t)range;
			o1.len = o4.len = n / 3;
		}
		memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
		tu_ok(load(f, buf, n, &o1, &a, &s1, &err), &err);
		assert_true(s1.skipped > 0);
		for (size_t piece = 1; piece < n; piece = piece * 2 + 3) {
			eau2_df *b = NULL;

			eau2_load_tune.piece_bytes = piece;
			tu_ok(eau2_load(f->db, f->path, &o4, &b, &s4, &err), &err);
			assert_int_equal(s1.rows, s4.rows);
			assert_int_equal(s1.skipped, s4.skipped);
			assert_int_equal(s1.bytes, s4.bytes);
			for (int k = 0; k < EAU2_LOAD_WHERE_MAX; k++)
				assert_string_equal(s1.where[k], s4.where[k]);
			assert_int_equal(eau2_df_ncols(a), eau2_df_ncols(b));
			assert_int_equal(eau2_df_rows(a), eau2_df_rows(b));
			for (size_t c = 0; c < eau2_df_ncols(a); c++) {
				assert_int_equal(type(a, c), type(b, c));
				for (uint64_t r = 0; r < eau2_df_rows(a); r++)
					if (!same(a, b, c, r))
						fail_msg("piece %zu: row %llu col %zu differs", piece,
							 (unsigned long long)r, c);
			}
			eau2_df_release(b);
			/* Failing on the first bad row: the same one, in
			 * file order, whatever the pieces. */
			o1.on_error = o4.on_error = EAU2_ON_ERROR_FAIL;
			assert_int_equal(eau2_load(f->db, f->path, &o1, &b, NULL, &e1), -EBADMSG);
			assert_int_equal(eau2_load(f->db, f->path, &o4, &b, NULL, &e4), -EBADMSG);
			assert_string_equal(e1.msg, e4.msg);
			o1.on_error = o4.on_error = EAU2_ON_ERROR_SKIP;
		}
		eau2_df_release(a);
	}
	memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inference, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_first_500, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_range, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_schema_and_empty, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_errors, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_parallel, tu_fx_setup, tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
