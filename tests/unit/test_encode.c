/* SPDX-License-Identifier: MIT */
/*
 * test_encode.c - encode/decode of the row-emitting rowers (filter, map,
 * join; src/rowers/relenc.c): a state over some row groups, encoded,
 * decoded into a fresh state and joined in order, finishes to the same
 * dataframe as eau2_run (rt_check_roundtrip, which also checks that a
 * truncated encoding is refused). The inputs have every type, nulls,
 * empty and binary strings, short row groups (made by joining builder
 * parts) and, outside quick mode, full 64Ki-row groups. Also: a state
 * split in three, decoded out of order positions, joined back in order; a
 * decoded state encoded again (relay); and decode refusing corrupt or
 * foreign encodings with -EBADMSG and a message, leaving the state usable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

static const char *const strs[] = { "", "a", "bb", "c\0d", "\xff\xfe", "zzz" };
static const size_t lens[] = { 0, 1, 2, 3, 2, 3 };

/* k:int, d:double, s:string, b:bool; rows in parts of `part` rows (each a
 * row group, the last one shorter), values from seed, ~1/8 nulls. */
static eau2_df *make_df(eau2 *db, uint64_t rows, uint64_t part, uint64_t seed,
			unsigned keys)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *root, *b;
	eau2_df *df;

	tu_ok(eau2_schema_parse("k:int,d:double,s:string,b:bool", &schema, &err),
	      &err);
	tu_ok(eau2_builder_new(db, schema, &root, &err), &err);
	for (uint64_t from = 0; from < rows; from += part) {
		tu_ok(eau2_builder_fork(root, &b, &err), &err);
		for (uint64_t r = from; r < rows && r < from + part; r++) {
			uint64_t x = tu_rand(&seed);
			tu_ok(x % 8 == 0 ? eau2_builder_append_null(b, 0, &err)
			      : eau2_builder_append_int(b, 0, (int64_t)((x >> 8) % keys),
							&err), &err);
			tu_ok((x >> 3) % 8 == 0 ? eau2_builder_append_null(b, 1, &err)
			      : eau2_builder_append_double(b, 1,
							   (double)(x >> 40) / 3.0,
							   &err), &err);
			size_t si = (x >> 16) % 6;
			tu_ok((x >> 6) % 8 == 0 ? eau2_builder_append_null(b, 2, &err)
			      : eau2_builder_append_string(b, 2, strs[si], lens[si],
							   &err), &err);
			tu_ok((x >> 9) % 8 == 0 ? eau2_builder_append_null(b, 3, &err)
			      : eau2_builder_append_bool(b, 3, (x >> 30) & 1, &err),
			      &err);
		}
		tu_ok(eau2_builder_join(root, b, &err), &err);
	}
	tu_ok(eau2_builder_finish(root, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

/* small: k:int, s:string, name:string, w:double (k has duplicates and a
 * null; s repeats the big side's strings). */
static void put_small(eau2 *db, const char *key)
{
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;
	eau2_df *df;

	tu_ok(eau2_schema_parse("k:int,s:string,name:string,w:double", &schema,
				&err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (int r = 0; r < 12; r++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", r);
		tu_ok(r == 11 ? eau2_builder_append_null(b, 0, &err)
			      : eau2_builder_append_int(b, 0, r % 5, &err), &err);
		tu_ok(eau2_builder_append_string(b, 1, strs[r % 6], lens[r % 6],
						 &err), &err);
		tu_ok(r % 4 == 3 ? eau2_builder_append_null(b, 2, &err)
				 : eau2_builder_append_string(b, 2, name,
							      strlen(name), &err),
		      &err);
		tu_ok(eau2_builder_append_double(b, 3, r * 0.5, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	tu_ok(eau2_put(db, key, df, &err), &err);
	eau2_df_release(df);
	eau2_schema_free(schema);
}

#define ARGS(ra, ...) rt_args(ra, sizeof((const char *const[]){ __VA_ARGS__ }) \
			      / sizeof(const char *),                    \
			      (const char *const[]){ __VA_ARGS__ })

static void check_all(eau2 *db, eau2_df *df)
{
	struct rt_args ra;

	rt_check_roundtrip(db, df, "filter", ARGS(&ra, "where=k = 1 or k = 4 or s = 'a'"));
	/* k > 100 never holds: the encoding carries no block */
	rt_check_roundtrip(db, df, "filter", ARGS(&ra, "where=k > 100"));
	rt_check_roundtrip(db, df, "filter", ARGS(&ra, "where=b"));
	rt_check_roundtrip(db, df, "map", ARGS(&ra, "name=x", "expr=k * 2 + 1"));
	rt_check_roundtrip(db, df, "map", ARGS(&ra, "name=x", "expr=d / 2"));
	rt_check_roundtrip(db, df, "map", ARGS(&ra, "name=x", "expr=s"));
	rt_check_roundtrip(db, df, "map", ARGS(&ra, "name=x", "expr='const'"));
	rt_check_roundtrip(db, df, "map", ARGS(&ra, "name=x", "expr=k < 3"));
	rt_check_roundtrip(db, df, "join", ARGS(&ra, "with=small", "on=k"));
	rt_check_roundtrip(db, df, "join",
			   ARGS(&ra, "with=small", "on=k", "how=left"));
	rt_check_roundtrip(db, df, "join",
			   ARGS(&ra, "with=small", "on=s", "how=left"));
}

static void test_roundtrip_small_groups(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	(void)unused;

	put_small(db, "small");
	eau2_df *df = make_df(db, 5000, 700, 1, 9);
	assert_true(eau2_df_ngroups(df) >= 7);
	check_all(db, df);
	eau2_df_release(df);
	df = make_df(db, 1, 1, 2, 3); /* one row, one group */
	check_all(db, df);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

static void test_roundtrip_full_groups(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	(void)unused;

	put_small(db, "small");
	uint64_t rows = tu_quick() ? 70000 : 3 * EAU2_CHUNK_ROWS + 123;
	eau2_df *df = make_df(db, rows, rows, 3, 7);
	assert_true(eau2_df_ngroups(df) >= 2);
	check_all(db, df);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

/* Encodes a state over row groups [g0, g1) into *buf, *len. */
static void over(const struct eau2_rower_class *cls,
		 const struct eau2_run_ctx *ctx, size_t g0, size_t g1,
		 void **buf, size_t *len)
{
	struct eau2_error err = {0};
	void *s = rt_state_over(cls, ctx, g0, g1);

	tu_ok(cls->encode(s, buf, len, &err), &err);
	rt_state_free(cls, s);
}

static void *decoded(const struct eau2_rower_class *cls,
		     const struct eau2_run_ctx *ctx, void *buf, size_t len)
{
	struct eau2_error err = {0};
	void *s = rt_state_over(cls, ctx, 0, 0);

	tu_ok(cls->decode(s, buf, len, &err), &err);
	free(buf);
	return s;
}

/* Three parts encoded, decoded in reverse order of arrival, joined in task
 * order; and the joined state relayed (encoded again, decoded) finishes
 * to the same result. */
static void test_three_parts_and_relay(void **unused)
{
	static const char *const names[] = { "filter", "map", "join" };
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	(void)unused;

	put_small(db, "small");
	eau2_df *df = make_df(db, 4000, 500, 4, 6);
	size_t ng = eau2_df_ngroups(df);
	for (size_t n = 0; n < 3; n++) {
		struct rt_args ra;
		const struct eau2_args *args =
			n == 0 ? ARGS(&ra, "where=not b or k = 2")
			: n == 1 ? ARGS(&ra, "name=t", "expr=s")
				 : ARGS(&ra, "with=small", "on=k", "how=left");
		const struct eau2_rower_class *cls = eau2_rower_find(names[n]);
		struct eau2_run_ctx ctx = { .db = db, .input = df, .args = args,
					    .threads = 1 };
		eau2_df *want = NULL, *got = NULL;
		void *b[3];
		size_t l[3];

		tu_ok(rt_run(db, df, names[n], args, 3, &want, &err), &err);
		over(cls, &ctx, 2 * ng / 3, ng, &b[2], &l[2]);
		over(cls, &ctx, ng / 3, 2 * ng / 3, &b[1], &l[1]);
		over(cls, &ctx, 0, ng / 3, &b[0], &l[0]);
		void *s2 = decoded(cls, &ctx, b[2], l[2]);
		void *s1 = decoded(cls, &ctx, b[1], l[1]);
		void *s0 = decoded(cls, &ctx, b[0], l[0]);
		tu_ok(cls->join(s0, s1, &err), &err);
		tu_ok(cls->join(s0, s2, &err), &err);
		rt_state_free(cls, s1);
		rt_state_free(cls, s2);
		/* relay: the joined, decoded state crosses once more */
		void *buf;
		size_t len;
		tu_ok(cls->encode(s0, &buf, &len, &err), &err);
		rt_state_free(cls, s0);
		void *s = decoded(cls, &ctx, buf, len);
		tu_ok(cls->finish(s, &ctx, &got, &err), &err);
		rt_state_free(cls, s);
		rt_assert_df_equal(want, got);
		eau2_df_release(want);
		eau2_df_release(got);
	}
	eau2_df_release(df);
	tu_close_store(db, dir);
}

/* Offset of the first block of an encoding of a state with ncols columns. */
static size_t first_block(size_t ncols)
{
	return 8 * (3 + ncols);
}

static void expect_bad(const struct eau2_rower_class *cls,
		       const struct eau2_run_ctx *ctx, const void *buf,
		       size_t len, const char *msg_part)
{
	struct eau2_error err = {0};
	void *s = rt_state_over(cls, ctx, 0, 1);
	eau2_df *got = NULL, *want = NULL;

	assert_int_equal(cls->decode(s, buf, len, &err), -EBADMSG);
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
	/* the refused decode changed nothing: the state still finishes to
	 * the rows of its own group */
	tu_ok(cls->finish(s, ctx, &got, &err), &err);
	rt_state_free(cls, s);
	void *t = rt_state_over(cls, ctx, 0, 1);
	tu_ok(cls->finish(t, ctx, &want, &err), &err);
	rt_state_free(cls, t);
	rt_assert_df_equal(want, got);
	eau2_df_release(want);
	eau2_df_release(got);
}

static void test_corrupt(void **unused)
{
	struct rt_args ra, rb;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	(void)unused;

	eau2_df *df = make_df(db, 300, 100, 5, 4);
	const struct eau2_rower_class *map = eau2_rower_find("map");
	const struct eau2_rower_class *filter = eau2_rower_find("filter");
	struct eau2_run_ctx mctx = { .db = db, .input = df, .threads = 1,
				     .args = ARGS(&ra, "name=x", "expr=s") };
	struct eau2_run_ctx fctx = { .db = db, .input = df, .threads = 1,
				     .args = ARGS(&rb, "where=true") };
	uint8_t *buf;
	size_t len;

	/* map output (per_group, "EAU2REL2"): the new column x (string)
	 * alone; one block per row group, each [group][rows][x] */
	over(map, &mctx, 0, eau2_df_ngroups(df), (void **)&buf, &len);
	size_t b0 = first_block(1);
	assert_true(len > b0 + 16);
	uint8_t *c = malloc(len);

	expect_bad(map, &mctx, buf, 0, "bad magic");
	memcpy(c, buf, len);
	c[0] ^= 1;
	expect_bad(map, &mctx, c, len, "bad magic");
	memcpy(c, buf, len);
	c[8 + 8] = EAU2_INT; /* x: string -> int */
	expect_bad(map, &mctx, c, len, "column 'x' has type 2");
	memcpy(c, buf, len);
	c[b0 - 8] ^= 0x10; /* names hash */
	expect_bad(map, &mctx, c, len, "column names differ");
	memcpy(c, buf, len);
	c[b0] = 7; /* row group 7 of 3 */
	expect_bad(map, &mctx, c, len, "block 0: bad row group");
	memcpy(c, buf, len);
	c[b0] = 1; /* group 1 has 100 rows too: fine... */
	c[b0 + 8] = 99; /* ...but not 99 */
	expect_bad(map, &mctx, c, len, "bad row count");
	memcpy(c, buf, len);
	memset(c + b0 + 8, 0, 8); /* 0 rows */
	expect_bad(map, &mctx, c, len, "bad row count");
	memcpy(c, buf, len);
	c[b0 + 16] = 0xff; /* x: null count > rows */
	expect_bad(map, &mctx, c, len, "column 'x': bad null count");
	uint64_t xnulls;
	memcpy(&xnulls, buf + b0 + 16, 8);
	assert_true(xnulls > 0);
	memcpy(c, buf, len);
	c[b0 + 24] ^= 1; /* x's validity bitmap, first byte */
	expect_bad(map, &mctx, c, len, "does not match the null count");
	/* the last bytes are x's string bytes */
	expect_bad(map, &mctx, buf, len - 1, "column 'x': string bytes truncated");
	/* two valid encodings back to back are not one encoding: the
	 * second header reads as a block of a row group that does not exist */
	uint8_t *two = malloc(2 * len);
	memcpy(two, buf, len);
	memcpy(two + len, buf, len);
	expect_bad(map, &mctx, two, 2 * len, "block 3: bad row group");
	free(two);
	/* a map encoding is not a filter encoding */
	expect_bad(filter, &fctx, buf, len, "bad magic");
	/* nor a map encoding with another column name */
	struct rt_args rc;
	struct eau2_run_ctx octx = { .db = db, .input = df, .threads = 1,
				     .args = ARGS(&rc, "name=y", "expr=s") };
	expect_bad(map, &octx, buf, len, "column names differ");
	free(c);
	free(buf);

	/* string offsets: an encoding of a filter over 1 group; find the s
	 * column's offsets by walking the block */
	over(filter, &fctx, 0, 1, (void **)&buf, &len);
	uint64_t rows, nulls;
	size_t p = first_block(4);
	memcpy(&rows, buf + p, 8);
	assert_int_equal(rows, eau2_df_group_rows(df, 0));
	p += 8;
	for (int col = 0; col < 2; col++) { /* k, d */
		memcpy(&nulls, buf + p, 8);
		p += 8 + (nulls ? (rows + 7) / 8 : 0) + 8 * rows;
	}
	memcpy(&nulls, buf + p, 8);
	p += 8 + (nulls ? (rows + 7) / 8 : 0); /* s offsets start here */
	c = malloc(len);
	memcpy(c, buf, len);
	c[p] = 1;
	expect_bad(filter, &fctx, c, len, "do not start at 0");
	memcpy(c, buf, len);
	uint64_t big = UINT64_MAX - 3;
	memcpy(c + p + 8 * (rows / 2), &big, 8);
	expect_bad(filter, &fctx, c, len, "out of order or past the bytes");
	memcpy(c, buf, len);
	uint64_t dlen;
	memcpy(&dlen, c + p + 8 * (rows + 1), 8);
	dlen += 1000000;
	memcpy(c + p + 8 * (rows + 1), &dlen, 8);
	expect_bad(filter, &fctx, c, len, "string bytes truncated");
	free(c);
	free(buf);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_small_groups),
		cmocka_unit_test(test_roundtrip_full_groups),
		cmocka_unit_test(test_three_parts_and_relay),
		cmocka_unit_test(test_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
