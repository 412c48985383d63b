/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rower_state.c - libFuzzer target for the decode of rower states
 * (bytes that arrive from other nodes): arbitrary bytes are decoded into a
 * fresh state of filter, map, join, groupby and sum, each initialised over
 * a tiny dataframe (every type, nulls, two row groups) in a store made on
 * first use under /dev/shm and removed at exit. A decode that succeeds is
 * finished into a dataframe (exercising the decoded rows); one that fails
 * must say why. Every state is destroyed.
 *
 * With EAU2_FUZZ_RS_GEN=DIR in the environment, the first call also writes
 * valid encodings of states over the tiny dataframe to DIR (seeds for
 * tests/fuzz/corpus/rower_state/).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_NAME "fuzz_rower_state"
#include "eau2.h"
#include "fuzz_scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_class {
	const char *name;
	size_t nargs;
	const char *names[3], *values[3];
};

static const struct fz_class classes[] = {
	{ "filter", 1, { "where" }, { "k > 0 or s = 'a'" } },
	{ "map", 2, { "name", "expr" }, { "x", "s" } },
	{ "join", 3, { "with", "on", "how" }, { "small", "k", "left" } },
	{ "groupby", 2, { "by", "agg" }, { "s", "count,sum:k,mean:d" } },
	{ "sum", 1, { "columns" }, { "k,d" } },
};
#define NCLASSES (sizeof(classes) / sizeof(classes[0]))

/* k:int, d:double, s:string, b:bool; rows 0-2 and 3-4 in two groups. */
static void setup(void)
{
	static const char *const strs[] = { "a", "", "bc", NULL, "a" };
	struct eau2_error err = {0};
	eau2_schema *schema;
	eau2_builder *root, *part;
	eau2_df *small;

	snprintf(dir, sizeof(dir), "/dev/shm/eau2-fuzz-rs-XXXXXX");
	if (!mkdtemp(dir)) {
		perror(dir);
		abort();
	}
	atexit(cleanup);
	check(eau2_open(&db, &(struct eau2_options){ .store = dir }, &err), &err);
	check(eau2_schema_parse("k:int,d:double,s:string,b:bool", &schema, &err),
	      &err);
	check(eau2_builder_new(db, schema, &root, &err), &err);
	for (int r = 0; r < 5; r++) {
		if (r == 0 || r == 3)
			check(eau2_builder_fork(root, &part, &err), &err);
		check(r == 2 ? eau2_builder_append_null(part, 0, &err)
			     : eau2_builder_append_int(part, 0, r - 1, &err), &err);
		check(r == 4 ? eau2_builder_append_null(part, 1, &err)
			     : eau2_builder_append_double(part, 1, r * 1.5, &err),
		      &err);
		check(strs[r] ? eau2_builder_append_string(part, 2, strs[r],
							   strlen(strs[r]), &err)
			      : eau2_builder_append_null(part, 2, &err), &err);
		check(eau2_builder_append_bool(part, 3, r & 1, &err), &err);
		if (r == 2 || r == 4)
			check(eau2_builder_join(root, part, &err), &err);
	}
	check(eau2_builder_finish(root, &df, &err), &err);
	eau2_schema_free(schema);
	check(eau2_schema_parse("k:int,name:string", &schema, &err), &err);
	check(eau2_builder_new(db, schema, &root, &err), &err);
	for (int r = 0; r < 4; r++) {
		check(eau2_builder_append_int(root, 0, r % 3, &err), &err);
		check(eau2_builder_append_string(root, 1, "nm", (size_t)r % 3,
						 &err), &err);
	}
	check(eau2_builder_finish(root, &small, &err), &err);
	check(eau2_put(db, "small", small, &err), &err);
	eau2_df_release(small);
	eau2_schema_free(schema);
}

/* Writes the encoding of a state over every row group of df, and of one
 * over the second group only, for each class. */
static void generate(const char *out)
{
	for (size_t k = 0; k < NCLASSES; k++) {
		const struct fz_class *fc = &classes[k];
		const struct eau2_rower_class *cls = eau2_rower_find(fc->name);
		struct eau2_args args = { fc->nargs, fc->names, fc->values };
		struct eau2_run_ctx ctx = { .db = db, .input = df, .args = &args,
					    .threads = 1 };
		for (size_t g0 = 0; g0 < eau2_df_ngroups(df); g0++) {
			struct eau2_error err = {0};
			struct eau2_chunk_view v[4];
			void *s = calloc(1, cls->state_size), *buf = NULL;
			size_t len = 0;
			char path[4096];
			FILE *f;

			check(cls->init(s, &ctx, &err), &err);
			for (size_t g = g0; g < eau2_df_ngroups(df); g++) {
				for (size_t c = 0; c < 4; c++)
					check(eau2_df_chunk(df, c, g, &v[c], &err), &err);
				struct eau2_group grp = {
					.df = df, .group = g, .cols = v,
					.first_row = eau2_df_group_first_row(df, g),
					.rows = eau2_df_group_rows(df, g),
				};
				if (cls->accept_chunk) {
					check(cls->accept_chunk(s, &grp, &err), &err);
				} else {
					struct eau2_row row = { .df = df, .cols = v };
					for (row.i = 0; row.i < grp.rows; row.i++) {
						row.row = grp.first_row + row.i;
						if (cls->accept(s, &row) < 0)
							abort();
					}
				}
			}
			check(cls->encode(s, &buf, &len, &err), &err);
			snprintf(path, sizeof(path), "%s/%s-from%zu", out, fc->name, g0);
			if (!(f = fopen(path, "wb")) || fwrite(buf, 1, len, f) != len ||
			    fclose(f))
				abort();
			free(buf);
			if (cls->destroy)
				cls->destroy(s);
			free(s);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!db) {
		setup();
		const char *gen = getenv("EAU2_FUZZ_RS_GEN");
		if (gen)
			generate(gen);
	}
	for (size_t k = 0; k < NCLASSES; k++) {
		const struct fz_class *fc = &classes[k];
		const struct eau2_rower_class *cls = eau2_rower_find(fc->name);
		struct eau2_args args = { fc->nargs, fc->names, fc->values };
		struct eau2_run_ctx ctx = { .db = db, .input = df, .args = &args,
					    .threads = 1 };
		struct eau2_error err = {0};
		eau2_df *res = NULL;
		void *s;
		int rc;

		if (!cls || !cls->decode || !(s = calloc(1, cls->state_size)))
			abort();
		check(cls->init(s, &ctx, &err), &err);
		rc = cls->decode(s, data, size, &err);
		if (rc < 0 && !err.msg[0]) {
			fprintf(stderr, "%s: decode failed (%d) without a message\n",
				fc->name, rc);
			abort();
		}
		if (rc == 0 && cls->finish(s, &ctx, &res, &err) == 0) {
			if (eau2_df_verify(res, &err) < 0) {
				fprintf(stderr, "%s: decoded result corrupt: %s\n",
					fc->name, err.msg);
				abort();
			}
			eau2_df_release(res);
		}
		if (cls->destroy)
			cls->destroy(s);
		free(s);
	}
	return 0;
}
