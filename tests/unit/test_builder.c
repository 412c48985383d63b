/* SPDX-License-Identifier: MIT */
/*
 * test_builder.c - the builder's sealed chunks are byte for byte what
 * eau2_chunk_write lays out from the same values (header, statistics,
 * checksum, padding), whether values come through the public appends or
 * the loaders' bulk path (eau2_builder_colbufs); min/max match a naive
 * scan; parts filled on two threads (each into segments of its own) join
 * into the right rows, also when they reuse the buffers of parts freed
 * before them; the statistics' AVX2 loops lay out the same bytes as the
 * scalar ones; a snapshot of a builder's groups reads their rows and is
 * refused by put, naming it a snapshot.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "df/df.h"

#define CR EAU2_CHUNK_ROWS

/* Row r's values: nulls in runs and patterns, NaN, -0.0, infinities,
 * strings of 0..40 bytes; column i is all null in the last group. */
static int is_null(int col, uint64_t r, uint64_t rows)
{
	if (col == 1 && r >= rows - rows % CR)
		return 1;
	if (r < CR)
		return (r % 7 == 3 && col != 0) || (col == 3 && r % 101 == 0);
	if (r < 2 * CR)
		return 0;
	return r % 13 == (uint64_t)col;
}

static int64_t ival(uint64_t r) { return (int64_t)((r * 2654435761u) % 100003) - 50000; }

static double dval(uint64_t r)
{
	switch (r % 61) {
	case 5: return NAN;
	case 6: return -0.0;
	case 7: return r % 2 ? INFINITY : -INFINITY;
	default: return (double)ival(r) / 7.0;
	}
}

static void sval(uint64_t r, char *buf, size_t *n)
{
	*n = r % 41;
	for (size_t i = 0; i < *n; i++)
		buf[i] = (char)('a' + (r + i) % 26);
}

static uint64_t test_rows(void)
{
	return tu_quick() ? 2 * CR + 777 : 3 * CR + 12345;
}

static void append_public(eau2_builder *b, uint64_t r, uint64_t rows)
{
	struct eau2_error err = {0};
	char s[64];
	size_t n;

	if (is_null(0, r, rows))
		tu_ok(eau2_builder_append_null(b, 0, &err), &err);
	else
		tu_ok(eau2_builder_append_bool(b, 0, r % 3 == 0, &err), &err);
	if (is_null(1, r, rows))
		tu_ok(eau2_builder_append_null(b, 1, &err), &err);
	else
		tu_ok(eau2_builder_append_int(b, 1, ival(r), &err), &err);
	if (is_null(2, r, rows))
		tu_ok(eau2_builder_append_null(b, 2, &err), &err);
	else
		tu_ok(eau2_builder_append_double(b, 2, dval(r), &err), &err);
	sval(r, s, &n);
	if (is_null(3, r, rows))
		tu_ok(eau2_builder_append_null(b, 3, &err), &err);
	else
		tu_ok(eau2_builder_append_string(b, 3, s, n, &err), &err);
}

/* The same row through the bulk path, as the CSV loader writes it. */
static void append_bulk(eau2_builder *b, uint64_t r, uint64_t rows)
{
	struct eau2_error err = {0};
	struct eau2_colbuf *c = eau2_builder_colbufs(b);
	char s[64];
	size_t n;

	if (c[0].n == CR)
		tu_ok(eau2_builder_seal_full(b, &err), &err);
	if (is_null(0, r, rows)) {
		eau2_builder_put_null(b, 0);
	} else {
		if (r % 3 == 0)
			c[0].v.bits[c[0].n >> 3] |= (uint8_t)(1u << (c[0].n & 7));
		c[0].n++;
	}
	if (is_null(1, r, rows))
		eau2_builder_put_null(b, 1);
	else
		c[1].v.i64[c[1].n++] = ival(r);
	if (is_null(2, r, rows))
		eau2_builder_put_null(b, 2);
	else
		c[2].v.f64[c[2].n++] = dval(r);
	if (is_null(3, r, rows)) {
		eau2_builder_put_null(b, 3);
	} else {
		sval(r, s, &n);
		tu_ok(eau2_builder_reserve_data(b, 3, n, &err), &err);
		memcpy(c[3].data + c[3].data_len, s, n);
		c[3].data_len += n;
		c[3].v.i64[++c[3].n] = (int64_t)c[3].data_len;
	}
}

static const uint8_t *chunk_at(const eau2_df *df, size_t g, size_t col)
{
	const struct eau2_chunk_ref *ref = &df->chunk_refs[g * eau2_df_ncols(df) + col];

	return df->segs[ref->seg].base + ref->off;
}

/* Every chunk equals eau2_chunk_write's layout of its own values, and
 * its min/max equal a naive scan. */
static void check_layout(const eau2_df *df)
{
	struct eau2_error err = {0};

	for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
		for (size_t col = 0; col < eau2_df_ncols(df); col++) {
			const uint8_t *chunk = chunk_at(df, g, col);
			const struct eau2_chunk_hdr *h = (const void *)chunk;
			struct eau2_chunk_view v;
			struct eau2_chunk_src src;
			uint8_t *want;
			uint64_t size;
			double dlo = INFINITY, dhi = -INFINITY;
			int64_t ilo = INT64_MAX, ihi = INT64_MIN;
			uint32_t seen = 0;

			tu_ok(eau2_df_chunk(df, col, g, &v, &err), &err);
			tu_ok(eau2_chunk_verify(chunk, &err), &err);
			/* Bits past the last row are zero. */
			if (v.validity && v.rows % 8)
				assert_int_equal(v.validity[v.rows / 8] >> (v.rows % 8), 0);
			src = (struct eau2_chunk_src){
				.type = v.type, .rows = v.rows, .null_count = v.null_count,
				.validity = v.validity, .values = v.values.bits,
				.data = v.data, .data_len = v.type == EAU2_STRING ?
					(uint64_t)v.values.i64[v.rows] : 0,
			};
			size = eau2_chunk_size(v.type, v.rows, v.null_count, src.data_len);
			assert_int_equal(size, h->total_len);
			want = aligned_alloc(64, (size + 63) & ~63ull);
			assert_non_null(want);
			memset(want, 0, size);
			eau2_chunk_write(want, &src);
			if (memcmp(want, chunk, size) != 0)
				fail_msg("group %zu column %zu differs from eau2_chunk_write", g, col);
			free(want);
			for (uint32_t i = 0; i < v.rows; i++) {
				if (v.validity && !(v.validity[i >> 3] >> (i & 7) & 1))
					continue;
				if (v.type == EAU2_INT) {
					ilo = v.values.i64[i] < ilo ? v.values.i64[i] : ilo;
					ihi = v.values.i64[i] > ihi ? v.values.i64[i] : ihi;
					seen++;
				} else if (v.type == EAU2_DOUBLE && !isnan(v.values.f64[i])) {
					dlo = fmin(dlo, v.values.f64[i]);
					dhi = fmax(dhi, v.values.f64[i]);
					seen++;
				}
			}
			if (v.type == EAU2_INT || v.type == EAU2_DOUBLE)
				assert_int_equal(h->has_minmax, seen > 0);
			if (seen && v.type == EAU2_INT) {
				assert_true(h->min.i == ilo && h->max.i == ihi);
			} else if (seen) {
				assert_true(h->min.d == dlo && h->max.d == dhi);
			}
		}
	}
}

/* df's groups from g0 on hold rows [first, end) of the table that
 * append_* makes of rows rows. */
static void check_rows(const eau2_df *df, size_t g0, uint64_t first, uint64_t end,
		       uint64_t rows)
{
	struct eau2_error err = {0};
	uint64_t r = first;

	assert_int_equal(eau2_df_rows(df) - eau2_df_group_first_row(df, g0), end - first);
	for (size_t g = g0; g < eau2_df_ngroups(df); g++) {
		struct eau2_chunk_view v[4];

		for (size_t col = 0; col < 4; col++)
			tu_ok(eau2_df_chunk(df, col, g, &v[col], &err), &err);
		for (uint32_t i = 0; i < v[0].rows; i++, r++) {
			char s[64];
			size_t n;

			for (int col = 0; col < 4; col++) {
				int valid = !v[col].validity ||
					    (v[col].validity[i >> 3] >> (i & 7) & 1);

				if (valid == is_null(col, r, rows))
					fail_msg("row %llu column %d: null is wrong",
						 (unsigned long long)r, col);
			}
			if (!is_null(0, r, rows))
				assert_int_equal(v[0].values.bits[i >> 3] >> (i & 7) & 1, r % 3 == 0);
			if (!is_null(1, r, rows))
				assert_int_equal(v[1].values.i64[i], ival(r));
			if (!is_null(2, r, rows)) {
				double d = dval(r);

				assert_true(isnan(d) ? isnan(v[2].values.f64[i]) :
					    !memcmp(&d, &v[2].values.f64[i], 8));
			}
			sval(r, s, &n);
			if (!is_null(3, r, rows)) {
				assert_int_equal(v[3].values.i64[i + 1] - v[3].values.i64[i], n);
				assert_memory_equal(v[3].data + v[3].values.i64[i], s, n);
			}
		}
	}
	assert_int_equal(r, end);
}

/* Row r of the dataframe holds row r's values. */
static void check_values(const eau2_df *df, uint64_t rows)
{
	check_rows(df, 0, 0, rows, rows);
}

static eau2_df *build(eau2 *db, int bulk, uint64_t rows)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;

	tu_ok(eau2_schema_parse("b:bool,i:int,d:double,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (uint64_t r = 0; r < rows; r++)
		(bulk ? append_bulk : append_public)(b, r, rows);
	for (size_t c = 0; c < 4; c++)
		assert_int_equal(eau2_builder_rows(b, c), rows);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(s);
	return df;
}

static void test_layout_public(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t rows = test_rows();
	eau2_df *df = build(db, 0, rows);

	(void)state;
	check_values(df, rows);
	check_layout(df);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

static void test_layout_bulk(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t rows = test_rows();
	eau2_df *a = build(db, 0, rows), *b = build(db, 1, rows);

	(void)state;
	check_values(b, rows);
	check_layout(b);
	/* Same values, same chunk bytes. */
	assert_int_equal(eau2_df_ngroups(a), eau2_df_ngroups(b));
	for (size_t g = 0; g < eau2_df_ngroups(a); g++)
		for (size_t c = 0; c < 4; c++) {
			const struct eau2_chunk_hdr *h = (const void *)chunk_at(a, g, c);

			assert_memory_equal(chunk_at(a, g, c), chunk_at(b, g, c), h->total_len);
		}
	eau2_df_release(a);
	eau2_df_release(b);
	tu_close_store(db, dir);
}

struct part_job {
	eau2_builder *part;
	uint64_t from, to, rows;
	bool seal;
};

static void *fill_part(void *p)
{
	struct part_job *j = p;
	struct eau2_error err = {0};

	for (uint64_t r = j->from; r < j->to; r++)
		append_public(j->part, r, j->rows);
	/* Parts 1 and 3 write their short row group on their own thread. */
	if (j->seal)
		tu_ok(eau2_builder_seal_pending(j->part, &err), &err);
	return NULL;
}

/* Four parts filled two at a time on two threads (each thread fills
 * segments of its own), two of them sealed before their join, joined in
 * row order. */
static void test_parts_threads(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t rows = test_rows() * 2;
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	struct part_job jobs[4];
	pthread_t t[2];

	(void)state;
	tu_ok(eau2_schema_parse("b:bool,i:int,d:double,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	/* Rows [0, CR) through the parent: parts start on group bounds. */
	for (uint64_t r = 0; r < CR; r++)
		append_public(b, r, rows);
	for (int k = 0; k < 4; k++) {
		jobs[k].rows = rows;
		jobs[k].seal = k % 2;
		jobs[k].from = CR + (rows - CR) * (uint64_t)k / 4 / CR * CR;
		jobs[k].to = k == 3 ? rows : CR + (rows - CR) * (uint64_t)(k + 1) / 4 / CR * CR;
		tu_ok(eau2_builder_fork(b, &jobs[k].part, &err), &err);
	}
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < 2; k++)
			assert_int_equal(pthread_create(&t[k], NULL, fill_part, &jobs[round * 2 + k]), 0);
		for (int k = 0; k < 2; k++)
			pthread_join(t[k], NULL);
	}
	for (int k = 0; k < 4; k++)
		tu_ok(eau2_builder_join(b, jobs[k].part, &err), &err);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	check_values(df, rows);
	check_layout(df);
	assert_true(df->nsegs >= 2);
	eau2_df_release(df);
	eau2_schema_free(s);
	tu_close_store(db, dir);
}

/* Parts forked one after another reuse the column buffers of parts
 * joined or aborted before them (the writer's pool): an aborted part
 * leaves values, nulls, set bits and string bytes behind, a joined one a
 * sealed count; none of it shows in the parts that follow. */
static void test_parts_reuse(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t rows = test_rows(), cut = CR + 1000;
	eau2_schema *s;
	eau2_builder *b, *p;
	eau2_df *df;

	(void)state;
	tu_ok(eau2_schema_parse("b:bool,i:int,d:double,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (int k = 0; k < 3; k++) {
		tu_ok(eau2_builder_fork(b, &p, &err), &err);
		for (uint64_t r = 0; r < 777; r++)
			append_public(p, r * 3, rows);
		eau2_builder_abort(p);
	}
	tu_ok(eau2_builder_fork(b, &p, &err), &err);
	for (uint64_t r = 0; r < cut; r++)
		append_public(p, r, rows);
	tu_ok(eau2_builder_join(b, p, &err), &err);
	tu_ok(eau2_builder_fork(b, &p, &err), &err);
	for (uint64_t r = 0; r < 500; r++)
		append_public(p, r * 7, rows);
	eau2_builder_abort(p);
	tu_ok(eau2_builder_fork(b, &p, &err), &err);
	assert_int_equal(eau2_builder_rows(p, 0), 0);
	for (uint64_t r = cut; r < rows; r++)
		append_public(p, r, rows);
	tu_ok(eau2_builder_join(b, p, &err), &err);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	check_values(df, rows);
	check_layout(df);
	eau2_df_release(df);
	eau2_schema_free(s);
	tu_close_store(db, dir);
}

/* A random value of a chunk's column: extremes, repeats, NaN, zeros of
 * both signs, infinities, or anything. */
static int64_t rand_i64(uint64_t *rs)
{
	switch (tu_rand(rs) % 8) {
	case 0: return INT64_MIN + (int64_t)(tu_rand(rs) % 3);
	case 1: return INT64_MAX - (int64_t)(tu_rand(rs) % 3);
	case 2: return (int64_t)(tu_rand(rs) % 5) - 2;
	default: return (int64_t)tu_rand(rs);
	}
}

static double rand_f64(uint64_t *rs, unsigned mix)
{
	switch (tu_rand(rs) % mix) {
	case 0: return NAN;
	case 1: return -0.0;
	case 2: return 0.0;
	case 3: return tu_rand(rs) % 2 ? INFINITY : -INFINITY;
	case 4: return (double)(tu_rand(rs) % 5) - 2;
	default: return ((double)(int64_t)tu_rand(rs)) / (double)(1 + tu_rand(rs) % 1000);
	}
}

/* String chunks of every length up to 40 and a full one: each offset
 * made to decrease in turn (in the AVX2 loop's steps and in its tail) is
 * found at its row with AVX2 and without; intact offsets pass both. */
static void test_offsets_simd(void **state)
{
	size_t size = eau2_chunk_size(EAU2_STRING, CR, 0, CR);
	int64_t *o = malloc((CR + 1) * 8);
	char *data = malloc(CR);
	uint8_t *c = aligned_alloc(64, size);
	struct eau2_error err = {0};
	char want[64];

	(void)state;
	assert_non_null(o);
	assert_non_null(data);
	assert_non_null(c);
	memset(data, 'x', CR);
	for (uint32_t rows = 1; rows <= CR; rows = rows < 40 ? rows + 1 : CR + (rows == CR)) {
		struct eau2_chunk_src src = { .type = EAU2_STRING, .rows = rows, .values = o,
					      .data = data, .data_len = rows };
		int64_t *co;

		for (uint32_t i = 0; i <= rows; i++)
			o[i] = i;
		eau2_chunk_write(c, &src);
		co = (int64_t *)(void *)(c + ((struct eau2_chunk_hdr *)(void *)c)->values_off);
		for (int simd = 0; simd < 2; simd++) {
			eau2_chunk_simd(simd);
			tu_ok(eau2_chunk_check_offsets(c, &err), &err);
		}
		for (uint32_t k = 0; k < rows; k++) {
			if (rows == CR && k > 20 && k < CR - 20 && k % 4093)
				continue;
			co[k + 1] = co[k] - 1;
			snprintf(want, sizeof(want), "decrease at row %u", k);
			for (int simd = 0; simd < 2; simd++) {
				eau2_chunk_simd(simd);
				assert_int_equal(eau2_chunk_check_offsets(c, &err), -EBADMSG);
				if (!strstr(err.msg, want))
					fail_msg("%u rows, row %u, %s: %s", rows, k,
						 simd ? "AVX2" : "scalar", err.msg);
			}
			co[k + 1] = k + 1;
		}
	}
	eau2_chunk_simd(-1);
	free(o);
	free(data);
	free(c);
}

/* Chunks of int and double values of every length up to 70 and a full
 * one, in sorted and reversed runs too: AVX2 statistics give the scalar
 * ones' bytes (min/max, their zero signs, NaN skipped). */
static void test_stats_simd(void **state)
{
	size_t cap = CR, size = eau2_chunk_size(EAU2_INT, CR, 0, 0);
	int64_t *iv = malloc(cap * 8);
	double *dv = malloc(cap * 8);
	uint8_t *a = aligned_alloc(64, size), *b = aligned_alloc(64, size);
	uint64_t rs = 42;

	(void)state;
	assert_non_null(iv);
	assert_non_null(dv);
	assert_non_null(a);
	assert_non_null(b);
	for (int round = 0; round < 2000; round++) {
		uint32_t rows = round < 1900 ? (uint32_t)(round % 71) :
			(uint32_t)(CR - tu_rand(&rs) % 9);
		unsigned mix = 5 + (unsigned)(tu_rand(&rs) % 40);
		struct eau2_chunk_src src = { .rows = rows };

		for (uint32_t i = 0; i < rows; i++) {
			iv[i] = rand_i64(&rs);
			dv[i] = rand_f64(&rs, mix);
		}
		if (round % 7 == 1)
			for (uint32_t i = 0; i < rows; i++) {
				iv[i] = (int64_t)i - (round % 2 ? 0 : (int64_t)rows);
				dv[i] = (double)rows - i;
			}
		if (round % 7 == 3) /* min or max a zero: which sign comes first */
			for (uint32_t i = 0; i < rows; i++)
				dv[i] = tu_rand(&rs) % 3 ? (tu_rand(&rs) % 2 ? -0.0 : 0.0) :
					(round % 2 ? 1.0 : -1.0) * (double)(1 + i);
		for (int t = 0; t < 2; t++) {
			src.type = t ? EAU2_DOUBLE : EAU2_INT;
			src.values = t ? (const void *)dv : (const void *)iv;
			size = eau2_chunk_size(src.type, rows, 0, 0);
			eau2_chunk_simd(0);
			eau2_chunk_write(a, &src);
			eau2_chunk_simd(1);
			eau2_chunk_write(b, &src);
			if (memcmp(a, b, size) != 0)
				fail_msg("round %d: %s chunk of %u rows differs with AVX2",
					 round, t ? "double" : "int", rows);
		}
	}
	eau2_chunk_simd(-1);
	free(iv);
	free(dv);
	free(a);
	free(b);
}

/* A snapshot of a builder's first group: its rows, and put refuses it
 * (it is in no store), naming it; the finished dataframe puts. */
static void test_snapshot_put(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t rows = 2 * CR + 5;
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *snap, *df, *got = NULL;

	(void)state;
	tu_ok(eau2_schema_parse("b:bool,i:int,d:double,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (uint64_t r = 0; r < rows; r++)
		append_public(b, r, rows);
	assert_true(eau2_builder_groups(b) >= 2);
	tu_ok(eau2_builder_snapshot(b, 0, 1, &snap, &err), &err);
	assert_int_equal(eau2_df_rows(snap), CR);
	assert_int_equal(eau2_put(db, "snap", snap, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'snap'"));
	assert_non_null(strstr(err.msg, "snapshot"));
	assert_int_equal(eau2_get(db, "snap", &got, &err), -ENOENT);
	assert_null(got);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	check_values(df, rows);
	tu_ok(eau2_put(db, "snap", df, &err), &err);
	eau2_df_release(snap);
	eau2_df_release(df);
	eau2_schema_free(s);
	tu_close_store(db, dir);
}

/* Discarded groups give their pages back; the others stay whole, in
 * the builder's snapshots and in the dataframe it finishes. */
static void test_discard(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t rows = 8 * CR + 5, total = rows + 4 * CR, before, after, group;
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *snap, *df;

	(void)state;
	tu_ok(eau2_schema_parse("b:bool,i:int,d:double,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (uint64_t r = 0; r < rows; r++)
		append_public(b, r, total);
	assert_int_equal(eau2_builder_groups(b), 8);
	assert_int_equal(eau2_builder_discard(b, 7, 9, &err), -EINVAL);
	group = eau2_builder_group_bytes(b, 0);
	tu_ok(eau2_builder_discard(b, 0, 6, &err), &err);
	/* Four groups more: they go where the six discarded were, over
	 * pages the store holds already (the segments that also hold
	 * groups 6 and 7 are not written again). Only the tails of those
	 * segments, never written before, take new pages: less than half
	 * of what four groups take anew. */
	before = tu_allocated(dir);
	for (uint64_t r = rows; r < total; r++)
		append_public(b, r, total);
	assert_int_equal(eau2_builder_groups(b), 12);
	after = tu_allocated(dir);
	if (after > before + 2 * group)
		fail_msg("%llu bytes allocated before four more groups of %llu, %llu after",
			 (unsigned long long)before, (unsigned long long)group,
			 (unsigned long long)after);
	tu_ok(eau2_builder_snapshot(b, 6, 12, &snap, &err), &err);
	check_rows(snap, 0, 6 * CR, 12 * CR, total);
	eau2_df_release(snap);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	check_rows(df, 6, 6 * CR, total, total);
	eau2_df_release(df);
	eau2_schema_free(s);
	tu_close_store(db, dir);
}

/* The largest segment of a dataframe of 80 MiB of ints, built with or
 * without eau2_builder_recycle first. */
static uint64_t largest_segment(eau2 *db, bool recycle)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	uint64_t most = 0;

	tu_ok(eau2_schema_parse("i:int", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	if (recycle)
		eau2_builder_recycle(b);
	for (uint64_t g = 0; g < (80ull << 20) / (CR * 8); g++) {
		struct eau2_colbuf *c = eau2_builder_colbufs(b);

		for (size_t k = 0; k < CR; k++)
			c[0].v.i64[k] = (int64_t)(g * CR + k);
		c[0].n = CR;
		tu_ok(eau2_builder_seal_full(b, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	assert_int_equal(eau2_df_rows(df), (80ull << 20) / 8);
	for (size_t i = 0; i < df->nsegs; i++)
		if (df->segs[i].size > most)
			most = df->segs[i].size;
	eau2_df_release(df);
	eau2_schema_free(s);
	return most;
}

/* After eau2_builder_recycle, a builder's segments stay small (8 MiB,
 * SEG_RECYCLE in builder.c) however much it holds; without it they grow
 * with what it holds. */
static void test_recycle(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	uint64_t small = largest_segment(db, true), grown = largest_segment(db, false);

	(void)state;
	if (small > (8u << 20) || grown <= (8u << 20))
		fail_msg("largest segment of 80 MiB: %llu bytes after recycle, %llu without",
			 (unsigned long long)small, (unsigned long long)grown);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_public),
		cmocka_unit_test(test_layout_bulk),
		cmocka_unit_test(test_parts_threads),
		cmocka_unit_test(test_parts_reuse),
		cmocka_unit_test(test_stats_simd),
		cmocka_unit_test(test_offsets_simd),
		cmocka_unit_test(test_snapshot_put),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_recycle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
