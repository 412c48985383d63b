/* SPDX-License-Identifier: MIT */
/*
 * fuzz_shuffle.c - libFuzzer target for what a shuffle reads from other
 * processes (eau2.h: sample, split, eau2_shuffle_splits): input byte 0
 * picks a count, the rest is a key list. It is handed to
 * eau2_shuffle_splits as a sample, and as split keys to groupby's split
 * of states over a tiny dataframe (by an int, a string and both keys);
 * a split that succeeds gives ranges that decode into fresh states and
 * finish, and one that fails says why. Every state is destroyed. The
 * store is made on first use under /dev/shm and removed at exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_shuffle"
#include "eau2.h"
#include "fuzz_scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const bys[] = { "k", "s", "s,k" };
#define NBYS (sizeof(bys) / sizeof(bys[0]))

/* k:int, s:string (nulls, a 0 byte), x:double: 6 rows, one row group. */
static void setup(void)
{
	static const char *const strs[] = { "a", "", "b\0c", NULL, "a", "zz" };
	static const size_t lens[] = { 1, 0, 3, 0, 1, 2 };
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *b;

	snprintf(dir, sizeof(dir), "/dev/shm/eau2-fuzz-sh-XXXXXX");
	if (!mkdtemp(dir)) {
		perror(dir);
		abort();
	}
	atexit(cleanup);
	check(eau2_open(&db, &(struct eau2_options){ .store = dir }, &err), &err);
	check(eau2_schema_parse("k:int,s:string,x:double", &schema, &err), &err);
	check(eau2_builder_new(db, schema, &b, &err), &err);
	for (int r = 0; r < 6; r++) {
		check(r == 2 ? eau2_builder_append_null(b, 0, &err)
			     : eau2_builder_append_int(b, 0, (r * 7) % 5 - 2, &err), &err);
		check(strs[r] ? eau2_builder_append_string(b, 1, strs[r], lens[r], &err)
			      : eau2_builder_append_null(b, 1, &err), &err);
		check(eau2_builder_append_double(b, 2, r * 0.5, &err), &err);
	}
	check(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
}

static void *state_new(const struct eau2_rower_class *cls, const struct eau2_run_ctx *ctx)
{
	struct eau2_error err = {0};
	void *s = calloc(1, cls->state_size);

	if (!s)
		abort();
	check(cls->init(s, ctx, &err), &err);
	return s;
}

static void state_free(const struct eau2_rower_class *cls, void *s)
{
	cls->destroy(s);
	free(s);
}

/* A state over every row of df. */
static void *state_over(const struct eau2_rower_class *cls, const struct eau2_run_ctx *ctx)
{
	struct eau2_error err = {0};
	struct eau2_chunk_view v[3];
	void *s = state_new(cls, ctx);

	for (size_t c = 0; c < 3; c++)
		check(eau2_df_chunk(df, c, 0, &v[c], &err), &err);
	struct eau2_group g = { .df = df, .group = 0, .first_row = 0,
				.rows = eau2_df_group_rows(df, 0), .cols = v };
	check(cls->accept_chunk(s, &g, &err), &err);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct eau2_rower_class *cls;
	struct eau2_error err = {0};
	void *splits = NULL, *bufs[8];
	size_t len = 0, slen = 0, lens[8], nsplit;
	const void *smp;
	int rc;

	if (!db)
		setup();
	if (size == 0)
		return 0;
	nsplit = data[0] % 8;
	smp = data + 1;
	len = size - 1;
	rc = eau2_shuffle_splits(&smp, &len, 1, 1 + nsplit, &splits, &slen, &err);
	if (rc == 0)
		free(splits);
	else if (!err.msg[0])
		abort();
	cls = eau2_rower_find("groupby");
	for (size_t q = 0; q < NBYS; q++) {
		const char *names[] = { "by", "agg" }, *values[] = { bys[q], "count,sum:x,min:k" };
		struct eau2_args args = { .n = 2, .names = names, .values = values };
		struct eau2_run_ctx ctx = { .db = db, .input = df, .args = &args, .threads = 1 };
		void *st = state_over(cls, &ctx);

		memset(&err, 0, sizeof(err));
		rc = cls->split(st, data + 1, size - 1, nsplit, bufs, lens, &err);
		if (rc && !err.msg[0])
			abort();
		for (size_t r = 0; rc == 0 && r <= nsplit; r++) {
			void *d = state_new(cls, &ctx);
			eau2_df *out = NULL;

			check(cls->decode(d, bufs[r], lens[r], &err), &err);
			check(cls->finish(d, &ctx, &out, &err), &err);
			eau2_df_release(out);
			state_free(cls, d);
			free(bufs[r]);
		}
		state_free(cls, st);
	}
	return 0;
}
