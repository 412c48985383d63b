/* SPDX-License-Identifier: MIT */
/*
 * test_wordcount.c - the wordcount rower against a naive reference (split
 * on the six ASCII whitespace bytes, sort every word, count runs, order by
 * count desc then word) on random text: all whitespace kinds, empty and
 * null rows, non-ASCII bytes, words of 1 to 40 bytes (the table's short
 * and long paths), several seeds and sizes across row group boundaries;
 * 1, 2 and 7 threads; encode/decode round trips; errors. Null-free
 * text (scanned a chunk at a time) with words of up to 3000 bytes. A
 * vocabulary of ~10^5 words, merged by hash ranges on 1 to 8 threads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

struct word {
	const char *p;
	size_t len;
	uint64_t count;
};

static int word_bytes_cmp(const void *a_, const void *b_)
{
	const struct word *a = a_, *b = b_;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->p, b->p, n);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int word_result_cmp(const void *a_, const void *b_)
{
	const struct word *a = a_, *b = b_;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return word_bytes_cmp(a, b);
}

static bool naive_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Random rows into *rows (malloc'd strings, NULL = null row). */
static char **gen_rows(uint64_t seed, size_t n, size_t *total)
{
	static const char *const vocab[] = {
		"the", "a", "of", "to", "eau2", "Eau2", "THE", "x", "dataframe",
		"columnar", "extraordinarily-long-word-over-16", "\xc3\xa9t\xc3\xa9",
		"12345678", "123456789", "abcdefgh", "abcdefghi", "\x80\xff", "q",
	};
	static const char ws[] = " \t\n\v\f\r";
	char **rows = malloc((n ? n : 1) * sizeof(*rows));
	uint64_t st = seed * 1000003 + n;

	*total = 0;
	for (size_t r = 0; r < n; r++) {
		uint64_t x = tu_rand(&st);
		if (x % 17 == 0) {
			rows[r] = NULL;
			continue;
		}
		size_t nw = (x >> 8) % 12, cap = 16 + nw * 48, len = 0;
		char *s = malloc(cap);
		if ((x >> 16) % 3 == 0)
			s[len++] = ws[(x >> 20) % 6];
		for (size_t w = 0; w < nw; w++) {
			uint64_t y = tu_rand(&st);
			if (y % 4 == 0) { /* random word, 1..40 bytes, non-space */
				size_t wl = 1 + (y >> 8) % 40;
				for (size_t i = 0; i < wl; i++) {
					unsigned char c;
					do
						c = (unsigned char)(tu_rand(&st) % 6 ? 'a' + tu_rand(&st) % 3
										     : tu_rand(&st) % 256);
					while (naive_space(c) || c == 0);
					s[len++] = (char)c;
				}
			} else {
				const char *v = vocab[(y >> 8) % (sizeof(vocab) / sizeof(vocab[0]))];
				memcpy(s + len, v, strlen(v));
				len += strlen(v);
			}
			size_t nsp = 1 + (y >> 20) % 3;
			for (size_t i = 0; i < nsp && (w + 1 < nw || (y >> 30) % 2); i++)
				s[len++] = ws[(y >> (32 + 3 * i)) % 6];
		}
		s[len] = 0;
		rows[r] = s;
		*total += len;
	}
	return rows;
}

static eau2_df *rows_df(eau2 *db, char **rows, size_t n)
{
	struct eau2_error err = {0};
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;

	tu_ok(eau2_schema_parse("id:int,text:string", &schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (size_t r = 0; r < n; r++) {
		tu_ok(eau2_builder_append_int(b, 0, (int64_t)r, &err), &err);
		if (rows[r])
			tu_ok(eau2_builder_append_string(b, 1, rows[r], strlen(rows[r]), &err), &err);
		else
			tu_ok(eau2_builder_append_null(b, 1, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

/* The reference: every word, sorted, runs counted, then result order. */
static struct word *reference(char **rows, size_t n, size_t *nwords)
{
	size_t cap = 1024, k = 0;
	struct word *w = malloc(cap * sizeof(*w));

	for (size_t r = 0; r < n; r++) {
		if (!rows[r])
			continue;
		const char *s = rows[r];
		size_t len = strlen(s), i = 0;
		while (i < len) {
			while (i < len && naive_space((unsigned char)s[i]))
				i++;
			size_t j = i;
			while (j < len && !naive_space((unsigned char)s[j]))
				j++;
			if (j > i) {
				if (k == cap)
					w = realloc(w, (cap *= 2) * sizeof(*w));
				w[k++] = (struct word){ s + i, j - i, 1 };
			}
			i = j;
		}
	}
	qsort(w, k, sizeof(*w), word_bytes_cmp);
	size_t u = 0;
	for (size_t i = 0; i < k; i++) {
		if (u > 0 && word_bytes_cmp(&w[u - 1], &w[i]) == 0)
			w[u - 1].count++;
		else
			w[u++] = w[i];
	}
	qsort(w, u, sizeof(*w), word_result_cmp);
	*nwords = u;
	return w;
}

static void free_rows(char **rows, size_t n)
{
	for (size_t r = 0; r < n; r++)
		free(rows[r]);
	free(rows);
}

static void check_result(const eau2_df *res, const struct word *w, size_t nw)
{
	struct eau2_error err = {0};

	assert_int_equal(eau2_df_ncols(res), 2);
	assert_string_equal(eau2_schema_name(eau2_df_schema(res), 0), "word");
	assert_string_equal(eau2_schema_name(eau2_df_schema(res), 1), "count");
	assert_int_equal(eau2_df_rows(res), nw);
	for (size_t i = 0; i < nw; i++) {
		const char *s;
		size_t len;
		int64_t c;
		tu_ok(eau2_df_get_string(res, 0, i, &s, &len, &err), &err);
		tu_ok(eau2_df_get_int(res, 1, i, &c, &err), &err);
		if (len != w[i].len || memcmp(s, w[i].p, len) != 0 || (uint64_t)c != w[i].count)
			fail_msg("row %zu: got '%.*s' x%lld, want '%.*s' x%llu", i,
				 (int)len, s, (long long)c, (int)w[i].len, w[i].p,
				 (unsigned long long)w[i].count);
	}
}

static void test_random(void **st)
{
	static const size_t sizes[] = { 0, 1, 2, 100, 65535, 65536, 65537, 140000 };
	size_t nsizes = tu_quick() ? 6 : sizeof(sizes) / sizeof(sizes[0]);
	unsigned seeds = tu_quick() ? 2 : 4;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;

	(void)st;
	for (size_t si = 0; si < nsizes; si++) {
		for (unsigned seed = 1; seed <= seeds; seed++) {
			size_t n = sizes[si], total, nw;
			char **rows = gen_rows(seed, n, &total);
			eau2_df *df = rows_df(db, rows, n);
			struct word *w = reference(rows, n, &nw);
			for (unsigned t = 1; t <= 7; t += t == 1 ? 1 : 5) {
				eau2_df *res = NULL;
				/* default column: the first string column */
				tu_ok(rt_run(db, df, "wordcount", t == 2 ? NULL :
					     rt_args(&ra, 1, (const char *[]){"column=text"}),
					     t, &res, &err), &err);
				check_result(res, w, nw);
				eau2_df_release(res);
			}
			if (seed == 1)
				rt_check_roundtrip(db, df, "wordcount", NULL);
			free(w);
			free_rows(rows, n);
			eau2_df_release(df);
		}
	}
	tu_close_store(db, dir);
}

/* Many distinct words: the table grows many times. */
static void test_many_words(void **st)
{
	size_t n = tu_quick() ? 20000 : 200000;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	char **rows = malloc(n * sizeof(*rows));
	eau2_df *df, *res = NULL;
	size_t nw;

	(void)st;
	for (size_t r = 0; r < n; r++) {
		rows[r] = malloc(64);
		snprintf(rows[r], 64, "w%zu w%zu longer-word-%zu", r, r / 2, r % 1000);
	}
	df = rows_df(db, rows, n);
	struct word *w = reference(rows, n, &nw);
	tu_ok(rt_run(db, df, "wordcount", NULL, 2, &res, &err), &err);
	check_result(res, w, nw);
	eau2_df_release(res);
	free(w);
	free_rows(rows, n);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

/* The result over rows[0..n) (freed here) equals the reference with
 * each scan the CPU has: the best (1 thread), SSE2 (2 threads) and AVX2
 * (3 threads). */
static void check_scans(eau2 *db, char **rows, size_t n)
{
	struct eau2_error err = {0};
	eau2_df *df = rows_df(db, rows, n);
	size_t nw;
	struct word *w = reference(rows, n, &nw);

	for (unsigned t = 1; t <= 3; t++) {
		eau2_df *res = NULL;
		if (t == 2)
			setenv("EAU2_WC_NO_AVX2", "1", 1);
		if (t == 3)
			setenv("EAU2_WC_NO_AVX512", "1", 1);
		tu_ok(rt_run(db, df, "wordcount", NULL, t, &res, &err), &err);
		unsetenv("EAU2_WC_NO_AVX2");
		unsetenv("EAU2_WC_NO_AVX512");
		check_result(res, w, nw);
		eau2_df_release(res);
	}
	free(w);
	free_rows(rows, n);
	eau2_df_release(df);
}

/* Rows with no nulls are scanned as one byte range per chunk, row starts
 * acting as separators: one-byte rows, empty rows, words that run to a
 * row's end next to one starting the next row, and words of 1 to 3000
 * bytes across 64-byte blocks and 1 KiB scan windows. */
static void test_long_words(void **st)
{
	static const size_t lens[] = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65,
				       127, 128, 129, 1023, 1024, 1025, 3000 };
	size_t n = tu_quick() ? 3000 : 20000;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t st2 = 7;

	(void)st;
	for (int with_nulls = 0; with_nulls <= 1; with_nulls++) {
		char **rows = malloc(n * sizeof(*rows));
		for (size_t r = 0; r < n; r++) {
			uint64_t x = tu_rand(&st2);
			if (with_nulls && x % 13 == 0) {
				rows[r] = NULL;
				continue;
			}
			size_t cap = 8000, len = 0;
			char *s = malloc(cap);
			switch (x % 5) {
			case 0: /* empty row */
				break;
			case 1: /* one byte, often not a space */
				s[len++] = "ab \tc"[(x >> 8) % 5];
				break;
			default: /* words of the lengths above, few letters */
				for (unsigned w = 0; w < 1 + (x >> 8) % 4; w++) {
					size_t wl = lens[tu_rand(&st2) % (sizeof(lens) / sizeof(lens[0]))];
					if (len + wl + 2 >= cap)
						break;
					for (size_t i = 0; i < wl; i++)
						s[len++] = (char)('a' + tu_rand(&st2) % 2);
					if ((x >> 20) % 2)
						s[len++] = ' ';
				}
			}
			s[len] = 0;
			rows[r] = s;
		}
		check_scans(db, rows, n);
	}
	tu_close_store(db, dir);
}

/* Words of 1 to 3 bytes, up to 32 in a 64-byte block (its positions are
 * flattened 16 at a time, then one by one): rows of such words apart by
 * one whitespace byte, and runs of rows of one byte each (row starts
 * separate them), on each scan. */
static void test_dense_words(void **st)
{
	size_t n = 6000;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	char **rows = malloc(n * sizeof(*rows));
	uint64_t rs = 23;

	(void)st;
	for (size_t r = 0; r < n; r++) {
		uint64_t x = tu_rand(&rs);
		char *s = malloc(400);
		size_t len = 0;
		if ((r / 200) % 2) { /* a run of 200 one-byte rows */
			s[len++] = "ab c\xe9"[x % 5];
		} else {
			for (size_t k = 0; k < 1 + x % 120; k++) {
				uint64_t y = tu_rand(&rs);
				for (size_t i = 0; i < 1 + y % 3; i++)
					s[len++] = (char)('a' + (y >> (8 + 2 * i)) % 3);
				s[len++] = " \t\n\v\f\r"[(y >> 20) % 6];
			}
		}
		s[len] = 0;
		rows[r] = s;
	}
	check_scans(db, rows, n);
	tu_close_store(db, dir);
}

/* A vocabulary large enough that the finish splits the words into hash
 * ranges merged on several threads: ~10^5 distinct words of 1 to 40 bytes, many sharing 8- and 16-byte prefixes and counts, in
 * several row groups. Every thread count gives the reference result,
 * in the row groups of a serial write (the result is written in parts on
 * several threads);
 * so does a state that joined two others (its tables adopted, not
 * merged), encoded with repeated words, decoded and finished on 3
 * threads. */
static void test_large_vocab(void **st)
{
	static const unsigned threads[] = { 1, 2, 3, 5, 8 };
	size_t n = 140000, nw; /* 3 row groups */
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	char **rows = malloc(n * sizeof(*rows));
	uint64_t rs = 11;

	(void)st;
	for (size_t r = 0; r < n; r++) {
		size_t cap = 200, len = 0;
		char *s = malloc(cap);
		for (int k = 0; k < 3; k++) {
			uint64_t x = tu_rand(&rs);
			/* ranks skewed to the small ones: repeats and ties */
			uint64_t rank = (x % (n * 4)) >> ((x >> 40) % 8);
			static const char *const pre[] = { "", "abcdefgh", "abcdefghijklmnop",
							   "q", "abcdefghijklmnopqrstuvwx" };
			len += (size_t)snprintf(s + len, cap - len, "%s%llx ", pre[rank % 5],
						(unsigned long long)rank);
		}
		s[len - 1] = 0;
		rows[r] = s;
	}
	eau2_df *df = rows_df(db, rows, n);
	struct word *w = reference(rows, n, &nw);
	assert_true(nw > 100000);
	for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
		eau2_df *res = NULL;
		tu_ok(rt_run(db, df, "wordcount", NULL, threads[i], &res, &err), &err);
		check_result(res, w, nw);
		/* written in parts on several threads, in full row groups */
		assert_int_equal(eau2_df_ngroups(res), (nw + EAU2_CHUNK_ROWS - 1) / EAU2_CHUNK_ROWS);
		eau2_df_release(res);
	}

	const struct eau2_rower_class *cls = eau2_rower_find("wordcount");
	struct eau2_args none = {0};
	struct eau2_run_ctx ctx = { .db = db, .input = df, .args = &none, .threads = 3 };
	size_t ng = eau2_df_ngroups(df);
	assert_true(ng >= 3);
	void *a = rt_state_over(cls, &ctx, 0, ng / 3);
	void *b = rt_state_over(cls, &ctx, ng / 3, 2 * ng / 3);
	void *c = rt_state_over(cls, &ctx, 2 * ng / 3, ng);
	void *buf, *d;
	size_t len;
	eau2_df *res = NULL;
	tu_ok(cls->join(b, c, &err), &err);
	rt_state_free(cls, c);
	tu_ok(cls->join(a, b, &err), &err);
	rt_state_free(cls, b);
	tu_ok(cls->encode(a, &buf, &len, &err), &err);
	rt_state_free(cls, a);
	d = rt_state_over(cls, &ctx, 0, 0);
	tu_ok(cls->decode(d, buf, len, &err), &err);
	free(buf);
	tu_ok(cls->finish(d, &ctx, &res, &err), &err);
	rt_state_free(cls, d);
	check_result(res, w, nw);
	eau2_df_release(res);

	free(w);
	free_rows(rows, n);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

static void test_errors(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;
	int64_t v[] = { 1, 2 };
	eau2_df *df = NULL, *res = NULL;
	int rc;

	(void)st;
	tu_ok(eau2_df_from_array(db, "n", EAU2_INT, v, 2, &df, &err), &err);
	rc = rt_run(db, df, "wordcount", NULL, 1, &res, &err);
	assert_int_equal(rc, -EINVAL);
	rc = rt_run(db, df, "wordcount", rt_args(&ra, 1, (const char *[]){"column=n"}), 1, &res, &err);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err.msg, "'n'"));
	rc = rt_run(db, df, "wordcount", rt_args(&ra, 1, (const char *[]){"column=zz"}), 1, &res, &err);
	assert_int_equal(rc, -ENOENT);
	assert_null(res);
	eau2_df_release(df);

	/* a corrupt encoding is refused */
	const char *s[] = { "a b a" };
	tu_ok(eau2_df_from_array(db, "t", EAU2_STRING, s, 1, &df, &err), &err);
	const struct eau2_rower_class *cls = eau2_rower_find("wordcount");
	struct eau2_args none = {0};
	struct eau2_run_ctx ctx = { .db = db, .input = df, .args = &none, .threads = 1 };
	void *a = rt_state_over(cls, &ctx, 0, 1);
	void *buf;
	size_t len;
	tu_ok(cls->encode(a, &buf, &len, &err), &err);
	((char *)buf)[len - 1] = ' '; /* a word with a space */
	void *c = rt_state_over(cls, &ctx, 0, 0);
	assert_int_equal(cls->decode(c, buf, len, &err), -EBADMSG);
	free(buf);
	rt_state_free(cls, a);
	rt_state_free(cls, c);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_many_words),
		cmocka_unit_test(test_long_words),
		cmocka_unit_test(test_dense_words),
		cmocka_unit_test(test_large_vocab),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
