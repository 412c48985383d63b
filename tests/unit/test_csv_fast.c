/* SPDX-License-Identifier: MIT */
/*
 * test_csv_fast.c - the CSV loader's fast number paths (eight digits at a
 * time, doubles divided in a later pass) give exactly what strtoll and
 * strtod give, over numbers of every length and dot position, signs,
 * leading zeros, mantissas around 2^53, exponents, and fields close to the
 * end of the file (where the fast paths step aside); malformed numbers
 * still fail the load at their line and column. Bools: 0/1 (the loop's
 * own path) and true/false set the right bit of every row.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MAXROWS 40000

struct row {
	char i[32], d[40];
};

static void digits(uint64_t *rs, char *p, size_t n, int lead_zero_ok)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (char)('0' + tu_rand(rs) % 10);
	if (!lead_zero_ok && n > 1 && p[0] == '0')
		p[0] = '1';
	p[n] = 0;
}

static void make_int(uint64_t *rs, char *out)
{
	size_t n = 1 + tu_rand(rs) % 18; /* 1..18 digits: always fits */
	char *p = out;
	unsigned sign = (unsigned)(tu_rand(rs) % 4);

	if (sign == 1)
		*p++ = '-';
	else if (sign == 2)
		*p++ = '+';
	digits(rs, p, n, tu_rand(rs) % 8 == 0);
}

static void make_double(uint64_t *rs, char *out)
{
	static const char *special[] = {
		"9007199254740992", "9007199254740993", "900719925474099.3",
		"9007199254740992.5", "0.1", "-0.0", "0", "1e5", "-2.5E-3",
		"123456789012345678", "1234567890.123456789", "5.", ".5", "-.25",
		"0.000000000000001", "17976931348623157", "4.9406564584124654",
		"00001.5000", "1.7976931348623157e308", "2.2250738585072014e-308",
		/* mantissas past 2^53: rounding m first, then dividing, is off */
		"47.856959858438490", "586455046669598393.0", "4308656.462953460875",
		"3151395276551.096025",
	};
	size_t ip = 1 + tu_rand(rs) % 16, fp = tu_rand(rs) % 17;
	char *p = out;

	if (tu_rand(rs) % 8 == 0) {
		strcpy(out, special[tu_rand(rs) % (sizeof(special) / sizeof(*special))]);
		return;
	}
	if (tu_rand(rs) % 3 == 0)
		*p++ = '-';
	if (ip + fp > 19)
		fp = 19 - ip;
	digits(rs, p, ip, tu_rand(rs) % 4 == 0);
	p += ip;
	if (fp) {
		*p++ = '.';
		digits(rs, p, fp, 1);
	}
}

static void check_file(struct tu_fx *f, struct row *rows, size_t n, const char *schema_text)
{
	struct eau2_error err = {0};
	struct eau2_load_options opt = { .format = EAU2_FORMAT_CSV, .threads = 2 };
	eau2_schema *schema = NULL;
	size_t cap = 64 + n * 80, len = 0;
	char *csv = malloc(cap);
	const char *path;
	eau2_df *df;
	uint64_t r = 0;

	assert_non_null(csv);
	len += (size_t)snprintf(csv + len, cap - len, "i,d\n");
	for (size_t k = 0; k < n; k++)
		len += (size_t)snprintf(csv + len, cap - len, "%s,%s\n", rows[k].i, rows[k].d);
	path = tu_put_file(f, "fast.csv", csv, len - 1); /* no final newline */
	if (schema_text) {
		tu_ok(eau2_schema_parse(schema_text, &schema, &err), &err);
		opt.schema = schema;
	}
	tu_ok(eau2_load(f->db, path, &opt, &df, NULL, &err), &err);
	assert_int_equal(eau2_df_rows(df), n);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 1), EAU2_DOUBLE);
	for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
		struct eau2_chunk_view vi, vd;

		tu_ok(eau2_df_chunk(df, 0, g, &vi, &err), &err);
		tu_ok(eau2_df_chunk(df, 1, g, &vd, &err), &err);
		for (uint32_t k = 0; k < vi.rows; k++, r++) {
			double want = strtod(rows[r].d, NULL);
			long long wi = strtoll(rows[r].i, NULL, 10);

			if (memcmp(&want, &vd.values.f64[k], 8))
				fail_msg("row %llu: \"%s\" loaded as %.17g, strtod says %.17g",
					 (unsigned long long)r, rows[r].d, vd.values.f64[k], want);
			if (vi.type == EAU2_INT && vi.values.i64[k] != wi)
				fail_msg("row %llu: \"%s\" loaded as %lld",
					 (unsigned long long)r, rows[r].i,
					 (long long)vi.values.i64[k]);
		}
	}
	assert_int_equal(r, n);
	eau2_df_release(df);
	eau2_schema_free(schema);
	free(csv);
}

static void test_numbers_exact(void **state)
{
	struct tu_fx *f = *state;
	size_t n = tu_quick() ? 5000 : MAXROWS;
	struct row *rows = calloc(n, sizeof(*rows));
	uint64_t rs = 42;

	assert_non_null(rows);
	for (size_t k = 0; k < n; k++) {
		make_int(&rs, rows[k].i);
		make_double(&rs, rows[k].d);
	}
	check_file(f, rows, n, "i:int,d:double");
	check_file(f, rows, n, NULL); /* inferred: int and double */
	/* A few rows only: every field lies within the fast paths' slack of
	 * the end of the file. */
	check_file(f, rows, 3, "i:int,d:double");
	free(rows);
}

static void test_bad_number_located(void **state)
{
	struct tu_fx *f = *state;
	struct eau2_error err = {0};
	static const char text[] = "i,d\n1,2.5\n12345678,1.2.3\n";
	struct eau2_load_options opt = { .format = EAU2_FORMAT_CSV };
	eau2_schema *schema;
	eau2_df *df = NULL;
	const char *path = tu_put_file(f, "bad.csv", text, sizeof(text) - 1);
	char big[256];

	tu_ok(eau2_schema_parse("i:int,d:double", &schema, &err), &err);
	opt.schema = schema;
	assert_int_equal(eau2_load(f->db, path, &opt, &df, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, ":3:10:"));
	/* 17 digits with a junk byte in the second eight. */
	snprintf(big, sizeof(big), "i,d\n1234567890123x56,1.5\n%s", "");
	path = tu_put_file(f, "bad2.csv", big, strlen(big));
	assert_int_equal(eau2_load(f->db, path, &opt, &df, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, ":2:1:"));
	eau2_schema_free(schema);
}

/* Bool columns over more than a chunk: 0/1 only (the hot loop's own
 * path), and 0/1 with true/false and nulls mixed in; every bit in place. */
static void test_bools(void **state)
{
	static const char *text[] = { "0", "1", "true", "false", "TRUE", "" };
	struct tu_fx *f = *state;
	struct eau2_error err = {0};
	struct eau2_load_options opt = { .format = EAU2_FORMAT_CSV, .threads = 2 };
	size_t n = EAU2_CHUNK_ROWS + 4099, cap = 32 + n * 8;
	char *csv = malloc(cap);
	int *want = malloc(n * sizeof(*want));
	uint64_t rs = 7;

	assert_non_null(csv);
	assert_non_null(want);
	for (int mixed = 0; mixed < 2; mixed++) {
		size_t len = (size_t)snprintf(csv, cap, "b,x\n");
		const char *path;
		eau2_df *df;

		for (size_t k = 0; k < n; k++) {
			int t = (int)(tu_rand(&rs) % (mixed ? 6 : 2));

			want[k] = t == 5 ? -1 : t == 1 || t == 2 || t == 4;
			len += (size_t)snprintf(csv + len, cap - len, "%s,%zu\n", text[t], k % 10);
		}
		path = tu_put_file(f, "bool.csv", csv, len);
		tu_ok(eau2_load(f->db, path, &opt, &df, NULL, &err), &err);
		assert_int_equal(eau2_schema_type(eau2_df_schema(df), 0), EAU2_BOOL);
		assert_int_equal(eau2_df_rows(df), n);
		for (size_t k = 0; k < n; k++) {
			bool b = false;
			int rc = eau2_df_get_bool(df, 0, k, &b, NULL);

			if (want[k] < 0 ? rc != EAU2_NULL : rc != 0 || b != (want[k] == 1))
				fail_msg("row %zu: want %d, got rc %d value %d", k, want[k], rc, b);
		}
		eau2_df_release(df);
	}
	free(csv);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_numbers_exact, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_number_located, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_bools, tu_fx_setup, tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
