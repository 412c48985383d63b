/* SPDX-License-Identifier: MIT */
/*
 * test_apps_urlfreq.c - the urlfreq application against a naive
 * reference: random access-log lines (valid Common and Combined Log
 * Format lines with Zipf-like URLs, and malformed ones of many kinds) are
 * built into a one-column dataframe; the reference parses each line with
 * sscanf-style field splitting, counts URLs with a linear table and sorts
 * them. Checked: rows, order (count desc, URL asc), top=K, the malformed
 * count written to stderr, thread-count independence, encode/decode, and
 * the errors for bad input.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rowertest.h"

/* ---------------------------------------------------------- reference */

struct ref_url {
	char url[64];
	long count;
};

/* A whole-line check written independently of the rower: split on the
 * known delimiters step by step. Returns 1 and the URL for a valid line. */
static int ref_parse(const char *line, char *url)
{
	char host[64], ident[64], user[64];
	const char *p = line, *q;
	size_t n = strlen(line);
	char buf[512];

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, line, n + 1);
	if (n && buf[n - 1] == '\r')
		buf[--n] = 0;
	p = buf;
	/* three space-terminated non-empty words */
	char *words[3] = { host, ident, user };
	for (int i = 0; i < 3; i++) {
		q = strchr(p, ' ');
		if (!q || q == p || (size_t)(q - p) >= 64)
			return 0;
		memcpy(words[i], p, (size_t)(q - p));
		words[i][q - p] = 0;
		p = q + 1;
	}
	if (*p != '[')
		return 0;
	q = strchr(p, ']');
	if (!q || q == p + 1)
		return 0;
	p = q + 1;
	if (strncmp(p, " \"", 2))
		return 0;
	p += 2;
	q = strchr(p, '"');
	if (!q)
		return 0;
	/* request: exactly three non-empty space-separated words */
	char req[256];
	if ((size_t)(q - p) >= sizeof(req))
		return 0;
	memcpy(req, p, (size_t)(q - p));
	req[q - p] = 0;
	char *sp1 = strchr(req, ' ');
	if (!sp1 || sp1 == req)
		return 0;
	char *sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || sp2 == sp1 + 1 || !sp2[1] || strchr(sp2 + 1, ' '))
		return 0;
	*sp2 = 0;
	if ((size_t)(sp2 - sp1 - 1) >= 64)
		return 0;
	strcpy(url, sp1 + 1);
	p = q + 1;
	if (*p != ' ')
		return 0;
	p++;
	if (strlen(p) < 4 || !isdigit((unsigned char)p[0]) ||
	    !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ' ')
		return 0;
	p += 4;
	size_t k = 0;
	if (*p == '-') {
		p++;
	} else {
		while (isdigit((unsigned char)*p)) {
			p++;
			k++;
		}
		if (k == 0)
			return 0;
	}
	return !*p || *p == ' ';
}

static int ref_cmp(const void *a_, const void *b_)
{
	const struct ref_url *a = a_, *b = b_;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return strcmp(a->url, b->url);
}

/* ------------------------------------------------------------- data */

static const char *const methods[] = { "GET", "POST", "HEAD" };

static void make_line(uint64_t *rng, char *out, size_t size, char *url_out,
		      int *valid)
{
	char url[64];
	uint64_t r = tu_rand(rng);
	/* skewed URL choice: rank = 2^(u * 8) - 1 */
	unsigned rank = (unsigned)(tu_rand(rng) % 200);
	rank = rank * rank / 400;

	snprintf(url, sizeof(url), "/p/%u%s", rank, rank % 3 ? ".html" : "");
	if (r % 100 < 12) {
		/* malformed in one of many ways */
		static const char *const bad[] = {
			"", "garbage", "1.2.3.4 - - [x] \"GET /a HTTP/1.1\" 20 5",
			"1.2.3.4 - - [x] \"GET /a HTTP/1.1\" 200 5x",
			"1.2.3.4 - - [x] \"GET /a\" 200 5",
			"1.2.3.4 - - [x] \"-\" 400 0",
			"1.2.3.4 - - x] \"GET /a HTTP/1.1\" 200 5",
			"1.2.3.4 - - [] \"GET /a HTTP/1.1\" 200 5",
			"1.2.3.4 - [x] \"GET /a HTTP/1.1\" 200 5",
			"1.2.3.4  - - [x] \"GET /a HTTP/1.1\" 200 5",
			"1.2.3.4 - - [x] \"GET /a HTTP/1.1\"200 5",
			"1.2.3.4 - - [x] \"GET  /a HTTP/1.1\" 200 5",
			"1.2.3.4 - - [x] \"GET /a HTTP/1.1 \" 200 5",
			"1.2.3.4 - - [x] \"GET /a HTTP/1.1\" 200 ",
			"1.2.3.4 - - [x] \"GET /a HTTP/1.1\" 200",
			"1.2.3.4 - - [x] \"GET /a HTTP/1.1\" 2000 5",
			"1.2.3.4 - - [x] \"GET /a HTTP/1.1\" 200 -5",
			"1.2.3.4 - - [x] \"GET /a HTTP/1.1",
		};
		snprintf(out, size, "%s", bad[tu_rand(rng) % (sizeof(bad) / sizeof(bad[0]))]);
		*valid = 0;
		return;
	}
	snprintf(out, size, "10.0.%u.%u - %s [10/Oct/2024:13:%02u:36 +0000] "
		 "\"%s %s HTTP/1.%u\" %u %s%s%s",
		 (unsigned)(r >> 8) % 256, (unsigned)(r >> 16) % 256,
		 (r >> 24) % 4 ? "-" : "frank", (unsigned)(r >> 30) % 60,
		 methods[(r >> 36) % 3], url, (unsigned)(r >> 40) % 2,
		 (r >> 42) % 5 ? 200u : 404u, (r >> 45) % 7 ? "1234" : "-",
		 (r >> 48) % 4 ? "" : " \"http://ref/\" \"Mozilla/5.0 (X11)\"",
		 (r >> 52) % 16 ? "" : "\r");
	strcpy(url_out, url);
	*valid = 1;
}

struct data {
	eau2_df *df;
	struct ref_url *ref;
	size_t nref;
	long malformed;
};

static void make_data(eau2 *db, size_t rows, struct data *d)
{
	struct eau2_error err = {0};
	eau2_schema *s = NULL;
	eau2_builder *b = NULL;
	uint64_t rng = 42;

	d->ref = calloc(4096, sizeof(*d->ref));
	d->nref = 0;
	d->malformed = 0;
	tu_ok(eau2_schema_parse("line:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (size_t i = 0; i < rows; i++) {
		char line[512], url[64], pu[512];
		int valid;

		make_line(&rng, line, sizeof(line), url, &valid);
		if (i % 997 == 5) {
			tu_ok(eau2_builder_append_null(b, 0, &err), &err);
			d->malformed++;
			continue;
		}
		tu_ok(eau2_builder_append_string(b, 0, line, strlen(line), &err), &err);
		/* the reference decides from the line alone */
		if (!ref_parse(line, pu)) {
			assert_false(valid);
			d->malformed++;
			continue;
		}
		assert_true(valid);
		assert_string_equal(pu, url);
		size_t k;
		for (k = 0; k < d->nref && strcmp(d->ref[k].url, pu); k++)
			;
		if (k == d->nref) {
			assert_true(k < 4096);
			strcpy(d->ref[d->nref++].url, pu);
		}
		d->ref[k].count++;
	}
	tu_ok(eau2_builder_finish(b, &d->df, &err), &err);
	eau2_schema_free(s);
	qsort(d->ref, d->nref, sizeof(*d->ref), ref_cmp);
}

static void check_result(const eau2_df *res, const struct data *d, size_t top)
{
	struct eau2_error err = {0};
	size_t want = top && top < d->nref ? top : d->nref;

	assert_int_equal(eau2_df_ncols(res), 2);
	assert_string_equal(eau2_schema_name(eau2_df_schema(res), 0), "url");
	assert_string_equal(eau2_schema_name(eau2_df_schema(res), 1), "count");
	assert_int_equal(eau2_df_rows(res), want);
	for (size_t i = 0; i < want; i++) {
		const char *u;
		size_t len;
		int64_t c;

		tu_ok(eau2_df_get_string(res, 0, i, &u, &len, &err), &err);
		tu_ok(eau2_df_get_int(res, 1, i, &c, &err), &err);
		if (len != strlen(d->ref[i].url) || memcmp(u, d->ref[i].url, len) ||
		    c != d->ref[i].count)
			fail_msg("row %zu: got %.*s,%lld want %s,%ld", i, (int)len, u,
				 (long long)c, d->ref[i].url, d->ref[i].count);
	}
}

/* Runs urlfreq with stderr redirected; returns the malformed count it
 * reported (0 when it said nothing). */
static long run_capture(eau2 *db, const eau2_df *df, const struct eau2_args *a,
			unsigned threads, eau2_df **out)
{
	struct eau2_error err = {0};
	FILE *tmp = tmpfile();
	char buf[256] = {0};
	long n = 0, total = 0;
	int saved;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	int rc = rt_run(db, df, "urlfreq", a, threads, out, &err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	tu_ok(rc, &err);
	rewind(tmp);
	if (fgets(buf, sizeof(buf), tmp))
		assert_int_equal(sscanf(buf, "urlfreq: %ld malformed lines skipped (of %ld)",
					&n, &total), 2);
	fclose(tmp);
	assert_int_equal(total ? (uint64_t)total : eau2_df_rows(df), eau2_df_rows(df));
	return n;
}

static void test_against_reference(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	size_t rows = tu_quick() ? 40000 : 300000;
	struct data d;
	struct rt_args ra;

	make_data(db, rows, &d);
	assert_true(d.malformed > 0);
	for (unsigned t = 1; t <= 3; t++) {
		eau2_df *res = NULL;
		long bad = run_capture(db, d.df, NULL, t, &res);
		assert_int_equal(bad, d.malformed);
		check_result(res, &d, 0);
		eau2_df_release(res);
	}
	const char *kv[] = { "top=7" };
	eau2_df *res = NULL;
	run_capture(db, d.df, rt_args(&ra, 1, kv), 2, &res);
	check_result(res, &d, 7);
	eau2_df_release(res);
	rt_check_roundtrip(db, d.df, "urlfreq", NULL);
	eau2_df_release(d.df);
	free(d.ref);
	tu_close_store(db, dir);
}

static void test_errors(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = NULL, *res = NULL, *empty = NULL;
	struct rt_args ra;
	int64_t v = 1;

	/* no string column */
	tu_ok(eau2_df_from_array(db, "n", EAU2_INT, &v, 1, &df, &err), &err);
	assert_int_equal(rt_run(db, df, "urlfreq", NULL, 1, &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "string column"));
	eau2_df_release(df);
	/* unknown column */
	const char *line = "x";
	tu_ok(eau2_df_from_array(db, "line", EAU2_STRING, &line, 1, &df, &err), &err);
	const char *kv[] = { "column=nope" };
	assert_int_equal(rt_run(db, df, "urlfreq", rt_args(&ra, 1, kv), 1, &res, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "nope"));
	const char *kv2[] = { "top=-3" };
	assert_int_equal(rt_run(db, df, "urlfreq", rt_args(&ra, 1, kv2), 1, &res, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "top"));
	eau2_df_release(df);
	/* empty input */
	tu_ok(eau2_df_from_array(db, "line", EAU2_STRING, &line, 0, &empty, &err), &err);
	assert_int_equal(rt_run(db, empty, "urlfreq", NULL, 1, &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no lines"));
	assert_null(res);
	eau2_df_release(empty);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
